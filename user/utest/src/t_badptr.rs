//! The bad-pointer sweep: every implemented system call that takes a pointer, called
//! with each kind of bad address in that argument (NULL, unmapped, kernel half, HHDM,
//! kernel image, non-canonical, a range past the end of the user half, a range that
//! runs from mapped into unmapped memory, and a read-only page where the call writes)
//! must fail with EFAULT (or what Linux returns: the exceptions are listed per call and
//! were taken from running this test natively on Linux), never crash, and never write
//! to the read-only page.
//!
//! One line per call in [`CASES`]: the arguments, with [`A::Bad`] in the pointer's slot,
//! the size of the object behind it (0 for a NUL-terminated string), and whether the
//! call writes through it. Calls that take addresses without dereferencing them (mmap,
//! munmap, mprotect, madvise, brk, set_tid_address, set_robust_list, arch_prctl's SET)
//! are not listed; clone's tid pointers are in t_defects.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use weft_rt::abi::nr;
use weft_rt::syscall::{ret, syscall6};
use weft_rt::{Errno, sys};

use crate::harness::{Ctx, Label};
use crate::util::*;

/// A raw system call.
fn sc(n: usize, a: &[usize; 6]) -> Result<usize, Errno> {
    // SAFETY: the arguments are valid for the call except the deliberately bad
    // pointer, which the kernel must refuse without touching our memory.
    ret(unsafe { syscall6(n, a[0], a[1], a[2], a[3], a[4], a[5]) })
}

/// One argument of a case.
#[derive(Clone, Copy, Debug)]
enum A {
    /// A plain value.
    V(usize),
    /// The bad pointer under test.
    Bad,
    /// A zeroed writable 4 KiB buffer (also a zero timespec, an empty signal set).
    Buf,
    /// A NUL-terminated path.
    Path(&'static str),
    /// This program's path.
    SelfExe,
    /// The read end of a pipe holding data; the write end of a pipe with room.
    RFd,
    WFd,
    /// A regular file open for reading and writing (holding data); `/` as a directory.
    File,
    Dir,
    /// A child that has exited and not been reaped yet (fresh for each call).
    Zombie,
    /// A POSIX timer of this process.
    Timer,
    /// One `struct iovec` `{Bad, 4}`.
    IovBad,
    /// `argv` = `{"utest", Bad, NULL}`; a valid `{"utest", "--exit", "77", NULL}`.
    ArgvBad,
    Argv,
    /// One `struct pollfd` for [`A::RFd`].
    Fds1,
    /// A futex word holding 1.
    Word1,
    /// A signal set holding SIGUSR2 (raised before each call: a pending signal).
    SetUsr2,
    /// A joinable seed thread that has exited (fresh for each call; Weft only).
    Joinable,
}

use A::*;

/// What a call must return for one kind of bad pointer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Exp {
    Fault,
    Ok,
    Err(Errno),
    /// A range running into the hole: the part before it may be used (Linux writes
    /// what fits and returns a short count, or copies only what it needs); EFAULT is
    /// accepted too.
    Either,
    /// Not tried (the call would block, exec or be valid in a way the test cannot
    /// follow).
    Skip,
}

/// The kinds of bad address.
#[derive(Clone, Copy, Debug, PartialEq)]
enum K {
    Null,
    Unmapped,
    KernelHalf,
    Hhdm,
    KernelImage,
    NonCanonLow,
    NonCanonHigh,
    PastUserEnd,
    Crossing,
    ReadOnly,
}

const KINDS: [K; 10] = [
    K::Null,
    K::Unmapped,
    K::KernelHalf,
    K::Hhdm,
    K::KernelImage,
    K::NonCanonLow,
    K::NonCanonHigh,
    K::PastUserEnd,
    K::Crossing,
    K::ReadOnly,
];

struct Case {
    name: &'static str,
    nr: usize,
    args: &'static [A],
    /// Size of the object behind the pointer; 0: a NUL-terminated string.
    len: usize,
    /// The call writes through the pointer (the read-only page applies).
    writes: bool,
    weft_only: bool,
    /// Results other than EFAULT, per kind.
    except: &'static [(K, Exp)],
}

/// A call that reads `len` bytes through the bad pointer.
const fn r(name: &'static str, nr: usize, args: &'static [A], len: usize) -> Case {
    Case {
        name,
        nr,
        args,
        len,
        writes: false,
        weft_only: false,
        except: &[],
    }
}

/// A call that writes `len` bytes through the bad pointer.
const fn w(name: &'static str, nr: usize, args: &'static [A], len: usize) -> Case {
    Case {
        writes: true,
        ..r(name, nr, args, len)
    }
}

impl Case {
    const fn except(self, except: &'static [(K, Exp)]) -> Case {
        Case { except, ..self }
    }
    const fn weft(self) -> Case {
        Case {
            weft_only: true,
            ..self
        }
    }
}

const NULL_OK: &[(K, Exp)] = &[(K::Null, Exp::Ok)];
const NULL_SKIP: &[(K, Exp)] = &[(K::Null, Exp::Skip)];
const CROSS_EITHER: &[(K, Exp)] = &[(K::Crossing, Exp::Either)];
const SIGUSR1: usize = 10;
const SIGUSR2: usize = 12;
const AT_FDCWD: usize = -100isize as usize;
const CLOCK_MONOTONIC: usize = 1;
const NOFILE: usize = 7;

const CASES: &[Case] = &[
    // Files.
    w("read", nr::READ, &[RFd, Bad, V(4)], 4),
    r("write", nr::WRITE, &[WFd, Bad, V(4)], 4),
    w("pread64", nr::PREAD64, &[File, Bad, V(4), V(0)], 4),
    r("pwrite64", nr::PWRITE64, &[File, Bad, V(4), V(0)], 4),
    r("readv iov", nr::READV, &[RFd, Bad, V(1)], 16),
    w("readv base", nr::READV, &[RFd, IovBad, V(1)], 4),
    r("writev iov", nr::WRITEV, &[WFd, Bad, V(1)], 16),
    r("writev base", nr::WRITEV, &[WFd, IovBad, V(1)], 4),
    r("open", nr::OPEN, &[Bad, V(0)], 0),
    r("openat", nr::OPENAT, &[V(AT_FDCWD), Bad, V(0)], 0),
    w("fstat", nr::FSTAT, &[File, Bad], 144),
    r("stat path", nr::STAT, &[Bad, Buf], 0),
    w("stat buf", nr::STAT, &[Path("/"), Bad], 144),
    r("lstat path", nr::LSTAT, &[Bad, Buf], 0),
    w("lstat buf", nr::LSTAT, &[Path("/"), Bad], 144),
    r(
        "newfstatat path",
        nr::NEWFSTATAT,
        &[V(AT_FDCWD), Bad, Buf, V(0)],
        0,
    ),
    w(
        "newfstatat buf",
        nr::NEWFSTATAT,
        &[V(AT_FDCWD), Path("/"), Bad, V(0)],
        144,
    ),
    w("getdents64", nr::GETDENTS64, &[Dir, Bad, V(4096)], 4096).except(CROSS_EITHER),
    w("pipe", nr::PIPE, &[Bad], 8),
    w("pipe2", nr::PIPE2, &[Bad, V(0)], 8),
    w("poll", nr::POLL, &[Bad, V(1), V(0)], 8),
    w("ppoll fds", nr::PPOLL, &[Bad, V(1), Buf, V(0), V(8)], 8),
    r(
        "ppoll timeout",
        nr::PPOLL,
        &[Fds1, V(1), Bad, V(0), V(8)],
        16,
    )
    .except(NULL_OK),
    r("ppoll sigmask", nr::PPOLL, &[Fds1, V(1), Buf, Bad, V(8)], 8).except(NULL_OK),
    w("getcwd", nr::GETCWD, &[Bad, V(256)], 256).except(CROSS_EITHER),
    r("mkdir", nr::MKDIR, &[Bad, V(0o755)], 0),
    r("unlink", nr::UNLINK, &[Bad], 0),
    r("rmdir", nr::RMDIR, &[Bad], 0),
    r("rename old", nr::RENAME, &[Bad, Path("/badptr-x")], 0),
    r("rename new", nr::RENAME, &[Path("/badptr-y"), Bad], 0),
    r("chdir", nr::CHDIR, &[Bad], 0),
    // Processes.
    r("execve path", nr::EXECVE, &[Bad, Argv, Buf], 0),
    r("execve argv", nr::EXECVE, &[SelfExe, Bad, Buf], 8).except(NULL_SKIP),
    r("execve argv[1]", nr::EXECVE, &[SelfExe, ArgvBad, Buf], 0).except(NULL_SKIP),
    r("execve envp", nr::EXECVE, &[SelfExe, Argv, Bad], 8).except(NULL_SKIP),
    w("wait4 status", nr::WAIT4, &[Zombie, Bad, V(0), V(0)], 4).except(NULL_OK),
    w("wait4 rusage", nr::WAIT4, &[Zombie, V(0), V(0), Bad], 144).except(NULL_OK),
    w(
        "waitid infop",
        nr::WAITID,
        &[V(1), Zombie, Bad, V(4), V(0)],
        128,
    )
    .except(&[(K::Null, Exp::Ok), (K::Crossing, Exp::Either)]),
    w(
        "waitid rusage",
        nr::WAITID,
        &[V(1), Zombie, Buf, V(4), Bad],
        144,
    )
    .except(NULL_OK),
    w(
        "get_robust_list head",
        nr::GET_ROBUST_LIST,
        &[V(0), Bad, Buf],
        8,
    ),
    w(
        "get_robust_list len",
        nr::GET_ROBUST_LIST,
        &[V(0), Buf, Bad],
        8,
    ),
    w("arch_prctl GET_FS", nr::ARCH_PRCTL, &[V(0x1003), Bad], 8),
    // Futexes (word-sized: never crossing).
    r("futex WAIT", nr::FUTEX, &[Bad, V(128), V(1)], 4),
    r(
        "futex WAIT timeout",
        nr::FUTEX,
        &[Word1, V(128), V(1), Bad],
        16,
    )
    .except(&[(K::Null, Exp::Skip)]),
    w(
        "futex WAKE_OP uaddr2",
        nr::FUTEX,
        &[Word1, V(128 | 5), V(1), V(1), Bad, V(0)],
        4,
    ),
    w(
        "futex LOCK_PI",
        nr::FUTEX,
        &[Bad, V(128 | 6), V(0), V(0)],
        4,
    ),
    // Signals.
    r(
        "rt_sigprocmask set",
        nr::RT_SIGPROCMASK,
        &[V(0), Bad, V(0), V(8)],
        8,
    )
    .except(NULL_OK),
    w(
        "rt_sigprocmask old",
        nr::RT_SIGPROCMASK,
        &[V(0), V(0), Bad, V(8)],
        8,
    )
    .except(NULL_OK),
    r(
        "rt_sigaction act",
        nr::RT_SIGACTION,
        &[V(SIGUSR1), Bad, V(0), V(8)],
        32,
    )
    .except(NULL_OK),
    w(
        "rt_sigaction old",
        nr::RT_SIGACTION,
        &[V(SIGUSR1), V(0), Bad, V(8)],
        32,
    )
    .except(NULL_OK),
    w("rt_sigpending", nr::RT_SIGPENDING, &[Bad, V(8)], 8),
    r("rt_sigsuspend", nr::RT_SIGSUSPEND, &[Bad, V(8)], 8),
    r(
        "rt_sigtimedwait set",
        nr::RT_SIGTIMEDWAIT,
        &[Bad, V(0), Buf, V(8)],
        8,
    ),
    r(
        "rt_sigtimedwait timeout",
        nr::RT_SIGTIMEDWAIT,
        &[Buf, V(0), Bad, V(8)],
        16,
    )
    .except(NULL_SKIP),
    w(
        "rt_sigtimedwait info",
        nr::RT_SIGTIMEDWAIT,
        &[SetUsr2, Bad, Buf, V(8)],
        128,
    )
    .except(NULL_OK),
    // Linux reads the 48 bytes of its kernel siginfo.
    r(
        "rt_sigqueueinfo",
        nr::RT_SIGQUEUEINFO,
        &[V(0), V(SIGUSR1), Bad],
        48,
    ),
    r("sigaltstack ss", nr::SIGALTSTACK, &[Bad, V(0)], 24).except(NULL_OK),
    w("sigaltstack old", nr::SIGALTSTACK, &[V(0), Bad], 24).except(NULL_OK),
    // Linux: a NULL new value disarms (an old ABI quirk); timer_settime says EINVAL.
    r("setitimer new", nr::SETITIMER, &[V(0), Bad, V(0)], 32).except(NULL_OK),
    w("setitimer old", nr::SETITIMER, &[V(0), Buf, Bad], 32).except(NULL_OK),
    w("getitimer", nr::GETITIMER, &[V(0), Bad], 32),
    r(
        "timer_create sevp",
        nr::TIMER_CREATE,
        &[V(CLOCK_MONOTONIC), Bad, Buf],
        64,
    )
    .except(NULL_OK),
    w(
        "timer_create id",
        nr::TIMER_CREATE,
        &[V(CLOCK_MONOTONIC), V(0), Bad],
        4,
    ),
    r(
        "timer_settime new",
        nr::TIMER_SETTIME,
        &[Timer, V(0), Bad, V(0)],
        32,
    )
    .except(&[(K::Null, Exp::Err(Errno::EINVAL))]),
    w(
        "timer_settime old",
        nr::TIMER_SETTIME,
        &[Timer, V(0), Buf, Bad],
        32,
    )
    .except(NULL_OK),
    w("timer_gettime", nr::TIMER_GETTIME, &[Timer, Bad], 32),
    // Scheduling, time, system.
    r(
        "sched_setaffinity",
        nr::SCHED_SETAFFINITY,
        &[V(0), V(8), Bad],
        8,
    ),
    w(
        "sched_getaffinity",
        nr::SCHED_GETAFFINITY,
        &[V(0), V(8), Bad],
        8,
    ),
    w("getcpu cpu", nr::GETCPU, &[Bad, V(0), V(0)], 4).except(NULL_OK),
    w("getcpu node", nr::GETCPU, &[V(0), Bad, V(0)], 4).except(NULL_OK),
    r("nanosleep", nr::NANOSLEEP, &[Bad, V(0)], 16),
    r(
        "clock_nanosleep",
        nr::CLOCK_NANOSLEEP,
        &[V(CLOCK_MONOTONIC), V(0), Bad, V(0)],
        16,
    ),
    w(
        "clock_gettime",
        nr::CLOCK_GETTIME,
        &[V(CLOCK_MONOTONIC), Bad],
        16,
    ),
    w(
        "clock_getres",
        nr::CLOCK_GETRES,
        &[V(CLOCK_MONOTONIC), Bad],
        16,
    )
    .except(NULL_OK),
    w("gettimeofday tv", nr::GETTIMEOFDAY, &[Bad, V(0)], 16).except(NULL_OK),
    w("gettimeofday tz", nr::GETTIMEOFDAY, &[V(0), Bad], 8).except(NULL_OK),
    w("time", nr::TIME, &[Bad], 8).except(NULL_OK),
    w("uname", nr::UNAME, &[Bad], 390),
    r("prctl SET_NAME", nr::PRCTL, &[V(15), Bad], 0),
    w("prctl GET_NAME", nr::PRCTL, &[V(16), Bad], 16),
    w("getrandom", nr::GETRANDOM, &[Bad, V(16), V(0)], 16).except(CROSS_EITHER),
    w("sysinfo", nr::SYSINFO, &[Bad], 112),
    r(
        "prlimit64 new",
        nr::PRLIMIT64,
        &[V(0), V(NOFILE), Bad, V(0)],
        16,
    )
    .except(NULL_OK),
    w(
        "prlimit64 old",
        nr::PRLIMIT64,
        &[V(0), V(NOFILE), V(0), Bad],
        16,
    )
    .except(NULL_OK),
    w("getrlimit", nr::GETRLIMIT, &[V(NOFILE), Bad], 16),
    // The seed thread API.
    w("thread_join value", nr::THREAD_JOIN, &[Joinable, Bad], 8)
        .weft()
        .except(NULL_OK),
    r("thread_setname", nr::THREAD_SETNAME, &[V(0), Bad], 0).weft(),
    w(
        "thread_getname",
        nr::THREAD_GETNAME,
        &[V(0), Bad, V(16)],
        16,
    )
    .weft()
    .except(CROSS_EITHER),
    r(
        "thread_sigmask set",
        nr::THREAD_SIGMASK,
        &[V(0), Bad, V(0)],
        8,
    )
    .weft()
    .except(NULL_OK),
    w(
        "thread_sigmask old",
        nr::THREAD_SIGMASK,
        &[V(0), V(0), Bad],
        8,
    )
    .weft()
    .except(NULL_OK),
];

/// What the cases' arguments refer to.
struct Res {
    buf: Vec<u8>,
    rfd: i32,
    wfd: i32,
    file: i32,
    dir: i32,
    timer: i32,
    iov: [usize; 2],
    argv_bad: [usize; 3],
    argv: [usize; 4],
    strs: Vec<Vec<u8>>,
    /// The paths of [`A::Path`] arguments (made before the sweep: no allocation during it).
    paths: Vec<(&'static str, Vec<u8>)>,
    self_exe: Vec<u8>,
    fds1: [u64; 1],
    word1: u32,
    set_usr2: u64,
    /// The first byte after a mapped page: the page before is writable.
    hole: usize,
    ro: usize,
    ro_zero: usize,
}

const FILL: u8 = 0x5a;

extern "C" fn joinable_entry(_: u64) -> ! {
    weft_rt::wthread::exit(5)
}

impl Res {
    fn new(file_path: &str) -> Result<Res, String> {
        let mut fds = [0i32; 2];
        sc(nr::PIPE2, &[fds.as_mut_ptr() as usize, 0, 0, 0, 0, 0]).label("pipe2")?;
        let (rfd, wfd) = (fds[0], fds[1]);
        sys::write(wfd, &[7u8; 1024]).label("fill pipe")?;
        let fp = cstr(file_path);
        let file = sc(
            nr::OPENAT,
            &[AT_FDCWD, fp.as_ptr() as usize, 0o102 | 0o1000, 0o600, 0, 0],
        )
        .label("open scratch file")? as i32;
        sys::write(file, b"0123456789").label("write file")?;
        let dir = open_ro("/").label("open /")?;
        let mut timer = 0i32;
        sc(
            nr::TIMER_CREATE,
            &[CLOCK_MONOTONIC, 0, &mut timer as *mut i32 as usize, 0, 0, 0],
        )
        .label("timer_create")?;
        let hole = fixed_hole()?;
        let ro = ro_page(FILL)?;
        let ro_zero = ro_page(0)?;
        let strs: Vec<Vec<u8>> = ["utest", "--exit", "77"].iter().map(|s| cstr(s)).collect();
        let mut r = Res {
            buf: alloc::vec![0u8; PAGE],
            rfd,
            wfd,
            file,
            dir,
            timer,
            iov: [0, 4],
            argv_bad: [0; 3],
            argv: [0; 4],
            strs,
            paths: CASES
                .iter()
                .flat_map(|c| c.args.iter())
                .filter_map(|a| match a {
                    Path(p) => Some((*p, cstr(p))),
                    _ => None,
                })
                .collect(),
            self_exe: cstr(self_exe()),
            fds1: [rfd as u32 as u64 | (1u64 << 32)],
            word1: 1,
            set_usr2: 1 << (SIGUSR2 - 1),
            hole,
            ro,
            ro_zero,
        };
        r.argv = [
            r.strs[0].as_ptr() as usize,
            r.strs[1].as_ptr() as usize,
            r.strs[2].as_ptr() as usize,
            0,
        ];
        r.argv_bad = [r.strs[0].as_ptr() as usize, 0, 0];
        Ok(r)
    }

    fn path(&self, p: &str) -> usize {
        self.paths
            .iter()
            .find(|x| x.0 == p)
            .map_or(0, |x| x.1.as_ptr() as usize)
    }

    /// The bad pointer of kind `k` for `case` (None: the kind does not apply).
    fn bad(&self, k: K, case: &Case) -> Option<usize> {
        Some(match k {
            K::Null => 0,
            K::Unmapped => self.hole,
            K::KernelHalf => KERNEL_ADDR,
            K::Hhdm => 0xffff_8000_0100_0000,
            K::KernelImage => 0xffff_ffff_8000_0000,
            K::NonCanonLow => 0x0000_8000_0000_0000,
            K::NonCanonHigh => NONCANONICAL_ADDR,
            K::PastUserEnd if case.len == 0 || case.len > 4 => 0x7fff_ffff_fffc,
            K::Crossing if case.len == 0 => {
                // A string with no NUL before the hole.
                let p = self.hole - 4;
                // SAFETY: the last 4 bytes of our own writable page.
                unsafe { core::ptr::write_bytes(p as *mut u8, b'a', 4) };
                p
            }
            K::Crossing if case.len >= 8 => {
                let p = self.hole - ((case.len / 2) & !7).max(4);
                // SAFETY: the bytes from p to the hole are in our own writable page.
                unsafe { core::ptr::write_bytes(p as *mut u8, 0, self.hole - p) };
                p
            }
            K::ReadOnly if case.writes => {
                if case.nr == nr::FUTEX {
                    self.ro_zero
                } else {
                    self.ro
                }
            }
            _ => return None,
        })
    }
}

/// The end of a writable page mapped far from everything else, with nothing mapped
/// after it (no later mapping of this program lands there, unlike a hole among its
/// other mappings, which the allocator may fill).
fn fixed_hole() -> Result<usize, String> {
    use weft_rt::abi::mman::*;
    const AT: usize = 0x3a00_0000_0000;
    // SAFETY: a fresh mapping at an address nothing else uses (NOREPLACE checks).
    let p = unsafe {
        sys::mmap(
            AT,
            PAGE,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    }
    .label("mmap the page before the hole")? as usize;
    if p != AT {
        return Err(format!("mmap NOREPLACE at {AT:#x} returned {p:#x}"));
    }
    Ok(AT + PAGE)
}

/// A page filled with `fill`, then made read-only (leaked).
fn ro_page(fill: u8) -> Result<usize, String> {
    let p = sys::mmap_anon(PAGE).label("mmap")? as usize;
    // SAFETY: our own fresh page.
    unsafe { core::ptr::write_bytes(p as *mut u8, fill, PAGE) };
    // SAFETY: as above.
    unsafe { sys::mprotect(p as *mut u8, PAGE, weft_rt::abi::mman::PROT_READ) }
        .label("mprotect")?;
    Ok(p)
}

fn page_is(p: usize, fill: u8) -> bool {
    // SAFETY: a readable page of ours.
    unsafe { core::slice::from_raw_parts(p as *const u8, PAGE) }
        .iter()
        .all(|&b| b == fill)
}

/// A child that has exited, not reaped (waited for with WNOWAIT).
fn zombie() -> Result<i32, String> {
    let pid = crate::harness::fork_child(|| 0)?;
    let mut info = [0u8; 128];
    sc(
        nr::WAITID,
        &[
            1,
            pid as usize,
            info.as_mut_ptr() as usize,
            4 | 0x0100_0000,
            0,
            0,
        ],
    )
    .label("waitid WNOWAIT")?;
    Ok(pid)
}

pub fn badptr_sweep(ctx: &mut Ctx) -> Result<(), String> {
    let weft = is_weft();
    // SIGUSR1/SIGUSR2 are raised or queued by some cases: keep them pending.
    let block: u64 = (1 << (SIGUSR1 - 1)) | (1 << (SIGUSR2 - 1));
    sc(
        nr::RT_SIGPROCMASK,
        &[0, &block as *const u64 as usize, 0, 8, 0, 0],
    )
    .label("block SIGUSR1/2")?;
    let path = format!("/tmp/utest-badptr-{}", sys::getpid());
    let _ = sc(nr::MKDIR, &[c"/tmp".as_ptr() as usize, 0o777, 0, 0, 0, 0]);
    let mut res = Res::new(&path)?;
    let (mut calls, mut skipped) = (0usize, 0usize);
    for case in CASES {
        if case.weft_only && !weft {
            continue;
        }
        for k in KINDS {
            let Some(bad) = res.bad(k, case) else {
                continue;
            };
            let want = case
                .except
                .iter()
                .find(|e| e.0 == k)
                .map_or(Exp::Fault, |e| e.1);
            if want == Exp::Skip {
                skipped += 1;
                continue;
            }
            let mut zombie_pid = None;
            let mut joinable = None;
            let mut args = [0usize; 6];
            for (i, a) in case.args.iter().enumerate() {
                res.buf.fill(0);
                args[i] = match *a {
                    V(v) => v,
                    Bad => bad,
                    Buf => res.buf.as_mut_ptr() as usize,
                    Path(p) => res.path(p),
                    SelfExe => res.self_exe.as_ptr() as usize,
                    RFd => res.rfd as usize,
                    WFd => res.wfd as usize,
                    File => res.file as usize,
                    Dir => {
                        sc(nr::LSEEK, &[res.dir as usize, 0, 0, 0, 0, 0]).label("rewind /")?;
                        res.dir as usize
                    }
                    Zombie => {
                        let pid = zombie()?;
                        zombie_pid = Some(pid);
                        pid as usize
                    }
                    Timer => res.timer as usize,
                    IovBad => {
                        res.iov[0] = bad;
                        res.iov.as_ptr() as usize
                    }
                    ArgvBad => {
                        res.argv_bad[1] = bad;
                        res.argv_bad.as_ptr() as usize
                    }
                    Argv => res.argv.as_ptr() as usize,
                    Fds1 => res.fds1.as_mut_ptr() as usize,
                    Word1 => &mut res.word1 as *mut u32 as usize,
                    SetUsr2 => {
                        sys::kill(sys::getpid(), SIGUSR2 as u32).label("raise SIGUSR2")?;
                        &res.set_usr2 as *const u64 as usize
                    }
                    Joinable => {
                        // SAFETY: a kernel-mapped stack; the entry only exits.
                        let t = unsafe { weft_rt::wthread::create(joinable_entry, 0, 0, 0, 0, 0) }
                            .label("thread_create")?;
                        joinable = Some(t);
                        t as usize
                    }
                };
            }
            calls += 1;
            let r = sc(case.nr, &args);
            let ok = match want {
                Exp::Fault => r == Err(Errno::EFAULT),
                Exp::Ok => r.is_ok(),
                Exp::Err(e) => r == Err(e),
                Exp::Either => r.is_ok() || r == Err(Errno::EFAULT),
                Exp::Skip => true,
            };
            ctx.check(ok, || {
                format!(
                    "{} with {k:?} pointer {bad:#x}: {r:?}, expected {want:?}",
                    case.name
                )
            });
            if k == K::ReadOnly && !(page_is(res.ro, FILL) && page_is(res.ro_zero, 0)) {
                return Err(format!(
                    "{}: the kernel wrote to a read-only page",
                    case.name
                ));
            }
            // Clean up what the call may have made or left.
            if let Some(pid) = zombie_pid {
                let _ = sc(nr::WAIT4, &[pid as usize, 0, 0, 0, 0, 0]);
            }
            if let Some(t) = joinable {
                let _ = weft_rt::wthread::join_discard(t);
            }
            if matches!(case.nr, nr::PIPE | nr::PIPE2) && r.is_ok() {
                ctx.note("pipe fds leaked");
            }
        }
    }
    // The pipe still works and the process is whole.
    sys::write(res.wfd, b"z").label("write after the sweep")?;
    ctx.note(&format!("{calls} calls, {skipped} skipped"));
    for fd in [res.rfd, res.wfd, res.file, res.dir] {
        let _ = sys::close(fd);
    }
    let p = cstr(&path);
    let _ = sc(nr::UNLINK, &[p.as_ptr() as usize, 0, 0, 0, 0, 0]);
    Ok(())
}
