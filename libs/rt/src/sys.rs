//! Typed system call wrappers: Linux x86_64 numbers and layouts (from `weft-abi`),
//! `Result<_, Errno>` results.
//!
//! Calls that only read user memory or write into memory the caller lends them as
//! a Rust reference are safe functions. Calls that take raw addresses the kernel
//! writes to, or that change the address space (`mmap`, `munmap`, `mprotect`,
//! `madvise`, `brk`, `clone`, `execve`, ...), are `unsafe fn`. The raw
//! [`crate::syscall`] functions stay available for anything else (tests call them
//! with deliberately bad pointers).

use core::ffi::CStr;
use core::sync::atomic::AtomicU32;

use weft_abi::nr;
use weft_abi::resource::{Rlimit, Rusage, Sysinfo};
use weft_abi::sched::CpuSet;
use weft_abi::signal::{SIGSET_SIZE, SigSet};
use weft_abi::time::{Timespec, Timeval};
use weft_abi::uio::IoVec;
use weft_abi::utsname::UtsName;
use weft_abi::{Errno, futex as fx, prctl};

use crate::syscall::*;

/// Result of a system call wrapper.
pub type Result<T> = core::result::Result<T, Errno>;

/// A process or thread id (Linux `pid_t`).
pub type Pid = i32;

#[inline]
fn unit(raw: usize) -> Result<()> {
    ret(raw).map(|_| ())
}

// ---- files -------------------------------------------------------------------

/// `read(fd, buf, len)`: bytes read (0 at end of file).
pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    ret(unsafe { syscall3(nr::READ, fd as usize, buf.as_mut_ptr() as usize, buf.len()) })
}

/// `write(fd, buf, len)`: bytes written.
pub fn write(fd: i32, buf: &[u8]) -> Result<usize> {
    // SAFETY: the kernel only reads buf.
    ret(unsafe { syscall3(nr::WRITE, fd as usize, buf.as_ptr() as usize, buf.len()) })
}

/// Writes all of `buf`, retrying short writes and `EINTR`.
pub fn write_all(fd: i32, mut buf: &[u8]) -> Result<()> {
    while !buf.is_empty() {
        match write(fd, buf) {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => buf = &buf[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Most buffers [`writev`] takes in one call.
pub const WRITEV_MAX: usize = 64;

/// `writev(fd, iov, n)` over up to [`WRITEV_MAX`] slices: bytes written.
pub fn writev(fd: i32, bufs: &[&[u8]]) -> Result<usize> {
    if bufs.len() > WRITEV_MAX {
        return Err(Errno::EINVAL);
    }
    let mut iov = [IoVec::default(); WRITEV_MAX];
    for (v, b) in iov.iter_mut().zip(bufs) {
        v.iov_base = b.as_ptr() as u64;
        v.iov_len = b.len() as u64;
    }
    // SAFETY: the kernel only reads the iovec array and the buffers it names.
    ret(unsafe { syscall3(nr::WRITEV, fd as usize, iov.as_ptr() as usize, bufs.len()) })
}

/// `openat(dirfd, path, flags, mode)`: the new file descriptor.
pub fn openat(dirfd: i32, path: &CStr, flags: u32, mode: u32) -> Result<i32> {
    // SAFETY: path is NUL-terminated and only read.
    let r = unsafe {
        syscall4(
            nr::OPENAT,
            dirfd as usize,
            path.as_ptr() as usize,
            flags as usize,
            mode as usize,
        )
    };
    ret(r).map(|fd| fd as i32)
}

/// `close(fd)`.
pub fn close(fd: i32) -> Result<()> {
    // SAFETY: closing a descriptor does not touch memory.
    unit(unsafe { syscall1(nr::CLOSE, fd as usize) })
}

// ---- memory ------------------------------------------------------------------

/// `mmap(addr, len, prot, flags, fd, offset)`: the mapping's address.
///
/// # Safety
/// With `MAP_FIXED` this replaces whatever is mapped at `addr`; the caller must own
/// that range.
pub unsafe fn mmap(
    addr: usize,
    len: usize,
    prot: u32,
    flags: u32,
    fd: i32,
    offset: u64,
) -> Result<*mut u8> {
    // SAFETY: the caller vouches for addr with MAP_FIXED; otherwise the kernel picks a
    // free range.
    let r = unsafe {
        syscall6(
            nr::MMAP,
            addr,
            len,
            prot as usize,
            flags as usize,
            fd as usize,
            offset as usize,
        )
    };
    ret(r).map(|a| a as *mut u8)
}

/// An anonymous private read/write mapping of `len` bytes (rounded up to pages).
pub fn mmap_anon(len: usize) -> Result<*mut u8> {
    use weft_abi::mman::*;
    // SAFETY: without MAP_FIXED the kernel picks a free range.
    unsafe {
        mmap(
            0,
            len,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1,
            0,
        )
    }
}

/// `munmap(addr, len)`.
///
/// # Safety
/// Nothing may use the range afterwards.
pub unsafe fn munmap(addr: *mut u8, len: usize) -> Result<()> {
    // SAFETY: the caller owns the range.
    unit(unsafe { syscall2(nr::MUNMAP, addr as usize, len) })
}

/// `mprotect(addr, len, prot)`.
///
/// # Safety
/// Removing access from memory still in use makes its next access fault.
pub unsafe fn mprotect(addr: *mut u8, len: usize, prot: u32) -> Result<()> {
    // SAFETY: the caller owns the range.
    unit(unsafe { syscall3(nr::MPROTECT, addr as usize, len, prot as usize) })
}

/// `madvise(addr, len, advice)`.
///
/// # Safety
/// `MADV_DONTNEED` and friends discard the contents of the range.
pub unsafe fn madvise(addr: *mut u8, len: usize, advice: u32) -> Result<()> {
    // SAFETY: the caller owns the range.
    unit(unsafe { syscall3(nr::MADVISE, addr as usize, len, advice as usize) })
}

/// `brk(addr)`: the new program break (Linux returns the old one when it cannot
/// move it; `brk(0)` queries it). Never fails with an errno.
///
/// # Safety
/// Shrinking the break unmaps memory above it.
pub unsafe fn brk(addr: usize) -> usize {
    // SAFETY: the caller owns the heap above the break.
    unsafe { syscall1(nr::BRK, addr) }
}

// ---- processes and threads -------------------------------------------------------

/// `exit(code)`: ends the calling thread only.
pub fn exit(code: i32) -> ! {
    // SAFETY: ending the thread; nothing runs after it.
    unsafe { syscall1(nr::EXIT, code as usize) };
    unreachable_exit()
}

/// `exit_group(code)`: ends the whole process.
pub fn exit_group(code: i32) -> ! {
    // SAFETY: ending the process; nothing runs after it.
    unsafe { syscall1(nr::EXIT_GROUP, code as usize) };
    unreachable_exit()
}

#[cold]
fn unreachable_exit() -> ! {
    loop {
        // SAFETY: a kernel whose exit returned: keep trying to end the process.
        unsafe { syscall1(nr::EXIT_GROUP, 127) };
    }
}

/// Raw `clone(flags, stack, parent_tid, child_tid, tls)` (x86_64 argument order).
///
/// Only usable without a new stack (`stack == 0`): with `CLONE_VM` and a new stack
/// the child would return into the parent's frames; [`crate::thread`] has its own
/// entry code for that.
///
/// # Safety
/// The flags must describe a child this program can run (see `clone(2)`).
pub unsafe fn clone(
    flags: u64,
    stack: usize,
    parent_tid: *mut i32,
    child_tid: *mut i32,
    tls: usize,
) -> Result<Pid> {
    // SAFETY: the caller vouches for the flags and pointers.
    let r = unsafe {
        syscall5(
            nr::CLONE,
            flags as usize,
            stack,
            parent_tid as usize,
            child_tid as usize,
            tls,
        )
    };
    ret(r).map(|p| p as Pid)
}

/// `execve(path, argv, envp)`: only returns on failure.
///
/// # Safety
/// `argv` and `envp` must be null-terminated arrays of NUL-terminated strings (or
/// deliberately bad pointers, in which case the kernel must say `EFAULT`).
pub unsafe fn execve(path: *const u8, argv: *const *const u8, envp: *const *const u8) -> Errno {
    // SAFETY: the caller vouches for the arrays.
    let r = unsafe { syscall3(nr::EXECVE, path as usize, argv as usize, envp as usize) };
    Errno::from_ret(r).unwrap_or(Errno::EINVAL)
}

/// `wait4(pid, &status, options, rusage)`: the pid reaped (0 with `WNOHANG` when no
/// child has changed state).
pub fn wait4(
    pid: Pid,
    status: Option<&mut i32>,
    options: u32,
    rusage: Option<&mut Rusage>,
) -> Result<Pid> {
    let st = status.map_or(0, |s| s as *mut i32 as usize);
    let ru = rusage.map_or(0, |r| r as *mut Rusage as usize);
    // SAFETY: both pointers are null or point to writable objects of the right type.
    let r = unsafe { syscall4(nr::WAIT4, pid as usize, st, options as usize, ru) };
    ret(r).map(|p| p as Pid)
}

/// `getpid()`.
pub fn getpid() -> Pid {
    // SAFETY: no memory is involved.
    unsafe { syscall0(nr::GETPID) as Pid }
}

/// `gettid()`.
pub fn gettid() -> Pid {
    // SAFETY: no memory is involved.
    unsafe { syscall0(nr::GETTID) as Pid }
}

/// `getppid()`.
pub fn getppid() -> Pid {
    // SAFETY: no memory is involved.
    unsafe { syscall0(nr::GETPPID) as Pid }
}

/// `set_tid_address(tidptr)`: the caller's tid.
///
/// # Safety
/// The kernel writes 0 to `tidptr` (and futex-wakes it) when the thread exits; it
/// must stay valid until then (or be null).
pub unsafe fn set_tid_address(tidptr: *mut i32) -> Pid {
    // SAFETY: the caller keeps tidptr valid.
    unsafe { syscall1(nr::SET_TID_ADDRESS, tidptr as usize) as Pid }
}

/// `set_robust_list(head, len)`.
///
/// # Safety
/// The kernel walks the list at thread exit; it must stay valid.
pub unsafe fn set_robust_list(head: *const u8, len: usize) -> Result<()> {
    // SAFETY: the caller keeps the list valid.
    unit(unsafe { syscall2(nr::SET_ROBUST_LIST, head as usize, len) })
}

/// Raw `futex(uaddr, op, val, timeout_or_val2, uaddr2, val3)`.
///
/// # Safety
/// The pointers must be valid for the operation (or deliberately bad).
pub unsafe fn futex(
    uaddr: *const u32,
    op: u32,
    val: u32,
    timeout_or_val2: usize,
    uaddr2: *const u32,
    val3: u32,
) -> Result<usize> {
    // SAFETY: the caller vouches for the pointers.
    ret(unsafe {
        syscall6(
            nr::FUTEX,
            uaddr as usize,
            op as usize,
            val as usize,
            timeout_or_val2,
            uaddr2 as usize,
            val3 as usize,
        )
    })
}

/// `FUTEX_WAIT`: sleeps while `*word == expected`, at most `timeout` (relative).
/// `Err(EAGAIN)` if the value differed, `Err(ETIMEDOUT)`, `Err(EINTR)`.
/// `private` selects `FUTEX_PRIVATE_FLAG`.
pub fn futex_wait(
    word: &AtomicU32,
    expected: u32,
    timeout: Option<&Timespec>,
    private: bool,
) -> Result<()> {
    let op = fx::FUTEX_WAIT | if private { fx::FUTEX_PRIVATE_FLAG } else { 0 };
    let t = timeout.map_or(0, |t| t as *const Timespec as usize);
    // SAFETY: word is a live u32; the timeout is null or a live timespec.
    unsafe { futex(word.as_ptr(), op, expected, t, core::ptr::null(), 0).map(|_| ()) }
}

/// `FUTEX_WAKE`: wakes up to `n` waiters of `word`; the number woken.
pub fn futex_wake(word: &AtomicU32, n: u32, private: bool) -> Result<usize> {
    let op = fx::FUTEX_WAKE | if private { fx::FUTEX_PRIVATE_FLAG } else { 0 };
    // SAFETY: FUTEX_WAKE does not dereference anything beyond the word's address.
    unsafe { futex(word.as_ptr(), op, n, 0, core::ptr::null(), 0) }
}

/// `sched_yield()`.
pub fn sched_yield() {
    // SAFETY: no memory is involved.
    unsafe { syscall0(nr::SCHED_YIELD) };
}

/// `sched_setaffinity(pid, sizeof(CpuSet), set)` (pid 0: the calling thread).
pub fn sched_setaffinity(pid: Pid, set: &CpuSet) -> Result<()> {
    let sz = core::mem::size_of::<CpuSet>();
    // SAFETY: the kernel reads sz bytes of set.
    unit(unsafe {
        syscall3(
            nr::SCHED_SETAFFINITY,
            pid as usize,
            sz,
            set as *const CpuSet as usize,
        )
    })
}

/// `sched_getaffinity(pid, sizeof(CpuSet), set)` (pid 0: the calling thread).
pub fn sched_getaffinity(pid: Pid) -> Result<CpuSet> {
    let mut set = CpuSet::default();
    let sz = core::mem::size_of::<CpuSet>();
    // SAFETY: the kernel writes at most sz bytes into set.
    ret(unsafe {
        syscall3(
            nr::SCHED_GETAFFINITY,
            pid as usize,
            sz,
            &mut set as *mut CpuSet as usize,
        )
    })?;
    Ok(set)
}

/// `getcpu(&cpu, &node, NULL)`: `(cpu, node)` the caller is running on.
pub fn getcpu() -> Result<(u32, u32)> {
    let mut cpu = 0u32;
    let mut node = 0u32;
    // SAFETY: both pointers name live u32s.
    ret(unsafe {
        syscall3(
            nr::GETCPU,
            &mut cpu as *mut u32 as usize,
            &mut node as *mut u32 as usize,
            0,
        )
    })?;
    Ok((cpu, node))
}

// ---- time --------------------------------------------------------------------------

/// `nanosleep(req, rem)`.
pub fn nanosleep(req: &Timespec, rem: Option<&mut Timespec>) -> Result<()> {
    let r = rem.map_or(0, |r| r as *mut Timespec as usize);
    // SAFETY: req is read, rem is null or writable.
    unit(unsafe { syscall2(nr::NANOSLEEP, req as *const Timespec as usize, r) })
}

/// `clock_nanosleep(clock, flags, req, rem)` (`flags`: 0 or `TIMER_ABSTIME`).
pub fn clock_nanosleep(
    clock: u32,
    flags: u32,
    req: &Timespec,
    rem: Option<&mut Timespec>,
) -> Result<()> {
    let r = rem.map_or(0, |r| r as *mut Timespec as usize);
    // SAFETY: req is read, rem is null or writable.
    unit(unsafe {
        syscall4(
            nr::CLOCK_NANOSLEEP,
            clock as usize,
            flags as usize,
            req as *const Timespec as usize,
            r,
        )
    })
}

/// `clock_gettime(clock, &ts)`.
pub fn clock_gettime(clock: u32) -> Result<Timespec> {
    let mut ts = Timespec::default();
    // SAFETY: ts is writable.
    ret(unsafe {
        syscall2(
            nr::CLOCK_GETTIME,
            clock as usize,
            &mut ts as *mut Timespec as usize,
        )
    })?;
    Ok(ts)
}

/// `clock_getres(clock, &ts)`.
pub fn clock_getres(clock: u32) -> Result<Timespec> {
    let mut ts = Timespec::default();
    // SAFETY: ts is writable.
    ret(unsafe {
        syscall2(
            nr::CLOCK_GETRES,
            clock as usize,
            &mut ts as *mut Timespec as usize,
        )
    })?;
    Ok(ts)
}

/// `gettimeofday(&tv, NULL)`.
pub fn gettimeofday() -> Result<Timeval> {
    let mut tv = Timeval::default();
    // SAFETY: tv is writable.
    ret(unsafe { syscall2(nr::GETTIMEOFDAY, &mut tv as *mut Timeval as usize, 0) })?;
    Ok(tv)
}

// ---- identity and misc ---------------------------------------------------------------

/// `uname(&buf)`.
pub fn uname() -> Result<UtsName> {
    let mut u = UtsName::default();
    // SAFETY: u is a writable utsname.
    ret(unsafe { syscall1(nr::UNAME, &mut u as *mut UtsName as usize) })?;
    Ok(u)
}

/// The NUL-terminated prefix of a fixed-size C string field.
pub fn c_field(field: &[u8]) -> &[u8] {
    let n = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..n]
}

/// Raw `prctl(option, a2, a3, a4, a5)`.
///
/// # Safety
/// Options that take pointers need valid ones.
pub unsafe fn prctl(option: u32, a2: usize, a3: usize, a4: usize, a5: usize) -> Result<usize> {
    // SAFETY: the caller vouches for the arguments.
    ret(unsafe { syscall5(nr::PRCTL, option as usize, a2, a3, a4, a5) })
}

/// `prctl(PR_SET_NAME, name)`: names the calling thread (the kernel keeps 15 bytes).
pub fn set_thread_name(name: &str) -> Result<()> {
    let mut buf = [0u8; prctl::TASK_COMM_LEN];
    let n = name.len().min(prctl::TASK_COMM_LEN - 1);
    buf[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: buf is NUL-terminated and only read.
    unsafe { prctl(prctl::PR_SET_NAME, buf.as_ptr() as usize, 0, 0, 0).map(|_| ()) }
}

/// `prctl(PR_GET_NAME, buf)`: the calling thread's name (NUL-padded).
pub fn thread_name() -> Result<[u8; prctl::TASK_COMM_LEN]> {
    let mut buf = [0u8; prctl::TASK_COMM_LEN];
    // SAFETY: the kernel writes 16 bytes into buf.
    unsafe { prctl(prctl::PR_GET_NAME, buf.as_mut_ptr() as usize, 0, 0, 0)? };
    Ok(buf)
}

/// `getrandom(buf, len, flags)`: bytes written.
pub fn getrandom(buf: &mut [u8], flags: u32) -> Result<usize> {
    // SAFETY: the kernel writes at most buf.len() bytes.
    ret(unsafe {
        syscall3(
            nr::GETRANDOM,
            buf.as_mut_ptr() as usize,
            buf.len(),
            flags as usize,
        )
    })
}

/// `getuid()`.
pub fn getuid() -> u32 {
    // SAFETY: no memory is involved.
    unsafe { syscall0(nr::GETUID) as u32 }
}

/// `geteuid()`.
pub fn geteuid() -> u32 {
    // SAFETY: no memory is involved.
    unsafe { syscall0(nr::GETEUID) as u32 }
}

/// `getgid()`.
pub fn getgid() -> u32 {
    // SAFETY: no memory is involved.
    unsafe { syscall0(nr::GETGID) as u32 }
}

/// `getegid()`.
pub fn getegid() -> u32 {
    // SAFETY: no memory is involved.
    unsafe { syscall0(nr::GETEGID) as u32 }
}

/// `sysinfo(&info)`.
pub fn sysinfo() -> Result<Sysinfo> {
    let mut s = Sysinfo::default();
    // SAFETY: s is writable.
    ret(unsafe { syscall1(nr::SYSINFO, &mut s as *mut Sysinfo as usize) })?;
    Ok(s)
}

/// `prlimit64(0, resource, NULL, &old)`: the calling process's limit.
pub fn getrlimit(resource: u32) -> Result<Rlimit> {
    let mut r = Rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is writable; no new limit is passed.
    ret(unsafe {
        syscall4(
            nr::PRLIMIT64,
            0,
            resource as usize,
            0,
            &mut r as *mut Rlimit as usize,
        )
    })?;
    Ok(r)
}

// ---- signals -----------------------------------------------------------------------

/// `rt_sigprocmask(how, set, oldset, 8)`.
pub fn rt_sigprocmask(how: u32, set: Option<&SigSet>, old: Option<&mut SigSet>) -> Result<()> {
    let s = set.map_or(0, |s| s as *const SigSet as usize);
    let o = old.map_or(0, |o| o as *mut SigSet as usize);
    // SAFETY: set is null or readable, old is null or writable.
    unit(unsafe { syscall4(nr::RT_SIGPROCMASK, how as usize, s, o, SIGSET_SIZE) })
}

/// `kill(pid, sig)`.
pub fn kill(pid: Pid, sig: u32) -> Result<()> {
    // SAFETY: no memory is involved.
    unit(unsafe { syscall2(nr::KILL, pid as usize, sig as usize) })
}

/// `tgkill(tgid, tid, sig)`.
pub fn tgkill(tgid: Pid, tid: Pid, sig: u32) -> Result<()> {
    // SAFETY: no memory is involved.
    unit(unsafe { syscall3(nr::TGKILL, tgid as usize, tid as usize, sig as usize) })
}

// ---- arch_prctl --------------------------------------------------------------------

/// `arch_prctl(ARCH_SET_FS, addr)`: sets the calling thread's FS base (TLS pointer).
///
/// # Safety
/// Code that reads `fs:` expects the TLS ABI layout at `addr`.
pub unsafe fn set_fs_base(addr: usize) -> Result<()> {
    // SAFETY: the caller vouches for the TLS block.
    unit(unsafe { syscall2(nr::ARCH_PRCTL, prctl::ARCH_SET_FS as usize, addr) })
}

/// `arch_prctl(ARCH_GET_FS, &addr)`: the calling thread's FS base.
pub fn fs_base() -> Result<usize> {
    let mut a = 0usize;
    // SAFETY: a is writable.
    ret(unsafe {
        syscall2(
            nr::ARCH_PRCTL,
            prctl::ARCH_GET_FS as usize,
            &mut a as *mut usize as usize,
        )
    })?;
    Ok(a)
}
