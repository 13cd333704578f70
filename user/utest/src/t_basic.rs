//! user_hello, user_efault, user_bad_elf.

use alloc::format;
use alloc::string::String;
use core::time::Duration;

use weft_rt::abi::auxv::*;
use weft_rt::abi::fcntl::{AT_FDCWD, O_RDONLY};
use weft_rt::abi::futex::{FUTEX_WAIT, FUTEX_WAIT_PRIVATE};
use weft_rt::abi::nr;
use weft_rt::abi::prctl::{ARCH_GET_FS, PR_GET_NAME, PR_SET_NAME};
use weft_rt::abi::signal::SIG_BLOCK;
use weft_rt::abi::time::CLOCK_MONOTONIC;
use weft_rt::abi::uio::IoVec;
use weft_rt::process::{self, CStrArray, WaitStatus};
use weft_rt::syscall::*;
use weft_rt::{Errno, env, sys};

use crate::harness::{Ctx, Label, fork_child, run_child, wait_child};
use crate::util::*;

unsafe extern "C" {
    /// The ELF header, as mapped with the first segment (defined by the linker).
    static __ehdr_start: u8;
    /// The entry point.
    fn _start();
}

pub fn user_hello(ctx: &mut Ctx) -> Result<(), String> {
    let msg = b"hello from user space (user_hello)\n";
    let n = sys::write(1, msg).label("write(1)")?;
    ctx.check(n == msg.len(), || {
        format!("write(1) wrote {n} of {}", msg.len())
    });

    // The initial stack: 16-byte aligned, argc first, argv NULL-terminated.
    let sp = env::initial_sp();
    ctx.check(sp.is_multiple_of(16), || {
        format!("initial rsp {sp:#x} not 16-byte aligned")
    });
    let args = env::args();
    // SAFETY: sp is the initial stack pointer, argc is its first word.
    let argc = unsafe { *(sp as *const usize) };
    ctx.check(argc == args.len() && argc >= 1, || {
        format!("argc {argc}, parsed {}", args.len())
    });
    // SAFETY: argv has argc + 1 entries.
    let last = unsafe { *args.as_ptr().add(argc) };
    ctx.check(last.is_null(), || String::from("argv[argc] is not NULL"));
    ctx.check(args.get(0).is_some_and(|a| !a.is_empty()), || {
        String::from("argv[0] empty")
    });
    ctx.check(env::vars().all(|v| v.contains(&b'=')), || {
        String::from("an environment string has no '='")
    });

    // The auxiliary vector.
    let aux = |t| env::getauxval(t);
    ctx.check(aux(AT_PAGESZ) == Some(4096), || {
        format!("AT_PAGESZ = {:?}", aux(AT_PAGESZ))
    });
    match aux(AT_RANDOM) {
        Some(p) if p != 0 => {
            // SAFETY: AT_RANDOM points to 16 bytes the kernel placed on the stack.
            let bytes = unsafe { core::slice::from_raw_parts(p as *const u8, 16) };
            ctx.check(bytes.iter().any(|&b| b != 0), || {
                String::from("AT_RANDOM bytes are all zero")
            });
        }
        other => ctx.fail(format!("AT_RANDOM = {other:?}")),
    }
    // SAFETY: the linker places the ELF header at __ehdr_start (first PT_LOAD).
    let ehdr = &raw const __ehdr_start as usize;
    // SAFETY: reading fields of the mapped ELF header.
    let (e_entry, e_phoff, e_phnum) = unsafe {
        (
            *((ehdr + 24) as *const u64),
            *((ehdr + 32) as *const u64),
            *((ehdr + 56) as *const u16),
        )
    };
    let phdr = ehdr as u64 + e_phoff;
    ctx.check(aux(AT_PHDR) == Some(phdr), || {
        format!(
            "AT_PHDR = {:x?}, program headers are at {phdr:#x}",
            aux(AT_PHDR)
        )
    });
    ctx.check(aux(AT_PHNUM) == Some(e_phnum as u64), || {
        format!("AT_PHNUM = {:?}, e_phnum = {e_phnum}", aux(AT_PHNUM))
    });
    ctx.check(aux(AT_PHENT) == Some(56), || {
        format!("AT_PHENT = {:?}", aux(AT_PHENT))
    });
    let start = _start as *const () as u64;
    ctx.check(aux(AT_ENTRY) == Some(e_entry) && e_entry == start, || {
        format!(
            "AT_ENTRY = {:x?}, e_entry = {e_entry:#x}, _start = {start:#x}",
            aux(AT_ENTRY)
        )
    });
    // The main thread's TLS block (arch_prctl(ARCH_SET_FS) at start-up).
    let tls = weft_rt::thread::tls_self_pointer();
    ctx.check(tls == weft_rt::thread::main_tcb(), || {
        format!(
            "fs:[0] = {tls:#x}, main TCB at {:#x}",
            weft_rt::thread::main_tcb()
        )
    });
    Ok(())
}

/// Expects `Err(EFAULT)` from a raw call.
fn efault(ctx: &mut Ctx, what: &str, bad: usize, raw: usize) {
    match Errno::from_ret(raw) {
        Some(Errno::EFAULT) => {}
        Some(e) => ctx.fail(format!(
            "{what} with bad pointer {bad:#x}: {e:?}, expected EFAULT"
        )),
        None => ctx.fail(format!(
            "{what} with bad pointer {bad:#x}: returned {raw}, expected EFAULT"
        )),
    }
}

pub fn user_efault(ctx: &mut Ctx) -> Result<(), String> {
    // The PROT_NONE page first: a later mapping could fill the unmapped hole.
    let none = prot_none_page()?;
    let hole = unmapped_addr()?;
    let bads = [0x1usize, hole, none, KERNEL_ADDR, NONCANONICAL_ADDR];
    // Futex words must be 4-byte aligned (0x1 gives EINVAL on Linux).
    let aligned_bads = [
        0x1000usize,
        bads[1],
        bads[2],
        KERNEL_ADDR,
        NONCANONICAL_ADDR,
    ];
    let fd = open_ro(self_exe()).label("open self")?;
    let good = [0u8; 64];
    let mut word = 0u32;
    for &b in &bads {
        // SAFETY (all calls below): the kernel must refuse the bad pointer; none of
        // the good pointers is written beyond its object.
        unsafe {
            efault(ctx, "write(1)", b, syscall3(nr::WRITE, 1, b, 10));
            efault(ctx, "read(self)", b, syscall3(nr::READ, fd as usize, b, 10));
            efault(ctx, "writev(iov)", b, syscall3(nr::WRITEV, 1, b, 1));
            let iov = [IoVec {
                iov_base: b as u64,
                iov_len: 8,
            }];
            efault(
                ctx,
                "writev(iov_base)",
                b,
                syscall3(nr::WRITEV, 1, iov.as_ptr() as usize, 1),
            );
            efault(
                ctx,
                "openat(path)",
                b,
                syscall4(nr::OPENAT, AT_FDCWD as usize, b, O_RDONLY as usize, 0),
            );
            efault(
                ctx,
                "clock_gettime",
                b,
                syscall2(nr::CLOCK_GETTIME, CLOCK_MONOTONIC as usize, b),
            );
            efault(
                ctx,
                "clock_getres",
                b,
                syscall2(nr::CLOCK_GETRES, CLOCK_MONOTONIC as usize, b),
            );
            efault(ctx, "gettimeofday", b, syscall2(nr::GETTIMEOFDAY, b, 0));
            efault(ctx, "nanosleep(req)", b, syscall2(nr::NANOSLEEP, b, 0));
            efault(
                ctx,
                "clock_nanosleep(req)",
                b,
                syscall4(nr::CLOCK_NANOSLEEP, CLOCK_MONOTONIC as usize, 0, b, 0),
            );
            efault(ctx, "uname", b, syscall1(nr::UNAME, b));
            efault(ctx, "getrandom", b, syscall3(nr::GETRANDOM, b, 16, 0));
            efault(
                ctx,
                "rt_sigprocmask(set)",
                b,
                syscall4(nr::RT_SIGPROCMASK, SIG_BLOCK as usize, b, 0, 8),
            );
            efault(
                ctx,
                "rt_sigprocmask(oldset)",
                b,
                syscall4(nr::RT_SIGPROCMASK, SIG_BLOCK as usize, 0, b, 8),
            );
            efault(
                ctx,
                "sched_getaffinity",
                b,
                syscall3(nr::SCHED_GETAFFINITY, 0, 128, b),
            );
            efault(
                ctx,
                "sched_setaffinity",
                b,
                syscall3(nr::SCHED_SETAFFINITY, 0, 128, b),
            );
            efault(ctx, "getcpu(cpu)", b, syscall3(nr::GETCPU, b, 0, 0));
            efault(ctx, "getcpu(node)", b, syscall3(nr::GETCPU, 0, b, 0));
            efault(
                ctx,
                "prctl(PR_GET_NAME)",
                b,
                syscall2(nr::PRCTL, PR_GET_NAME as usize, b),
            );
            efault(
                ctx,
                "prctl(PR_SET_NAME)",
                b,
                syscall2(nr::PRCTL, PR_SET_NAME as usize, b),
            );
            efault(
                ctx,
                "arch_prctl(ARCH_GET_FS)",
                b,
                syscall2(nr::ARCH_PRCTL, ARCH_GET_FS as usize, b),
            );
            efault(ctx, "sysinfo", b, syscall1(nr::SYSINFO, b));
            efault(
                ctx,
                "futex(timeout)",
                b,
                syscall4(
                    nr::FUTEX,
                    &mut word as *mut u32 as usize,
                    FUTEX_WAIT_PRIVATE as usize,
                    0,
                    b,
                ),
            );
            efault(ctx, "execve(path)", b, syscall3(nr::EXECVE, b, 0, 0));
        }
    }
    // execve with bad argv / envp arrays or strings. The path is a file that is not
    // an executable, so that a kernel that wrongly skipped the arrays could not
    // start anything (it would say ENOEXEC).
    let garbage = sibling("bad-garbage");
    let target = match open_ro(&garbage) {
        Ok(fd) => {
            let _ = sys::close(fd);
            cstr(&garbage)
        }
        Err(_) => cstr(self_exe()),
    };
    let argv_ok = CStrArray::new(&["x"]);
    for &b in &bads {
        let bad_arr = [b as *const u8, core::ptr::null()];
        // SAFETY: the kernel must refuse every bad pointer before running anything.
        unsafe {
            let t = target.as_ptr() as usize;
            efault(
                ctx,
                "execve(argv)",
                b,
                syscall3(nr::EXECVE, t, b, argv_ok.as_ptr() as usize),
            );
            efault(
                ctx,
                "execve(envp)",
                b,
                syscall3(nr::EXECVE, t, argv_ok.as_ptr() as usize, b),
            );
            efault(
                ctx,
                "execve(argv[0])",
                b,
                syscall3(
                    nr::EXECVE,
                    t,
                    bad_arr.as_ptr() as usize,
                    argv_ok.as_ptr() as usize,
                ),
            );
        }
    }
    for &b in &aligned_bads {
        // SAFETY: the kernel must refuse the bad futex word.
        unsafe {
            efault(
                ctx,
                "futex(FUTEX_WAIT_PRIVATE)",
                b,
                syscall4(nr::FUTEX, b, FUTEX_WAIT_PRIVATE as usize, 0, 0),
            );
            efault(
                ctx,
                "futex(FUTEX_WAIT)",
                b,
                syscall4(nr::FUTEX, b, FUTEX_WAIT as usize, 0, 0),
            );
        }
    }
    // wait4 with a bad status pointer (one child per bad pointer).
    for &b in &bads {
        let pid = fork_child(|| 0)?;
        // SAFETY: the kernel must refuse the bad status pointer.
        let r = unsafe { syscall4(nr::WAIT4, pid as usize, b, 0, 0) };
        efault(ctx, "wait4(status)", b, r);
        // Linux reaps the child even so; a kernel that did not must let us now.
        match process::wait(pid, 0) {
            Ok(_) | Err(Errno::ECHILD) => {}
            Err(e) => ctx.fail(format!("wait4 after the EFAULT one: {e:?}")),
        }
    }
    // Weft extension calls that take pointers.
    if is_weft() {
        for &b in &bads {
            // SAFETY: the kernel must refuse the bad pointer.
            unsafe {
                efault(
                    ctx,
                    "thread_getname(buf)",
                    b,
                    syscall3(nr::THREAD_GETNAME, 0, b, 16),
                );
                efault(
                    ctx,
                    "thread_setname(name)",
                    b,
                    syscall2(nr::THREAD_SETNAME, 0, b),
                );
                efault(
                    ctx,
                    "thread_sigmask(set)",
                    b,
                    syscall3(nr::THREAD_SIGMASK, SIG_BLOCK as usize, b, 0),
                );
                efault(
                    ctx,
                    "thread_sigmask(oldset)",
                    b,
                    syscall3(nr::THREAD_SIGMASK, SIG_BLOCK as usize, 0, b),
                );
            }
        }
    } else {
        ctx.note("Linux: thread_* pointer checks not run");
    }
    let _ = sys::close(fd);
    // Still alive and well: a normal call works.
    let n = sys::write(1, &good[..0]).label("write after the EFAULTs")?;
    ctx.check(n == 0, || format!("write of 0 bytes returned {n}"));
    ctx.check(sys::getpid() > 0, || String::from("getpid"));
    Ok(())
}

/// Runs execve(path) in a child and returns the error it got, or how the child
/// ended if the execve succeeded.
fn exec_outcome(path: &str) -> Result<Result<Errno, WaitStatus>, String> {
    let word = shared_words(1)?;
    let p = String::from(path);
    let pid = fork_child(move || {
        let e = process::exec(&p, &[p.as_str()], &[] as &[&str]);
        word[0].store(e.0 as u64 | 1 << 32, core::sync::atomic::Ordering::SeqCst);
        0
    })?;
    let st = wait_child(pid, Duration::from_secs(20))?;
    let w = word[0].load(core::sync::atomic::Ordering::SeqCst);
    if w >> 32 == 1 {
        Ok(Ok(Errno((w & 0xffff_ffff) as i32)))
    } else {
        Ok(Err(st))
    }
}

pub fn user_bad_elf(ctx: &mut Ctx) -> Result<(), String> {
    let weft = is_weft();
    // (file, errors accepted on Weft, also accepted on Linux, exec success allowed on Linux)
    let cases: [(&str, &[Errno], &[Errno], bool); 5] = [
        ("bad-garbage", &[Errno::ENOEXEC], &[], false),
        ("bad-truncated", &[Errno::ENOEXEC], &[], false),
        // Linux reads the program header table with a short read: EIO.
        (
            "bad-truncated-phdrs",
            &[Errno::ENOEXEC],
            &[Errno::EIO],
            false,
        ),
        // Linux maps past the end of the file and the program dies when it touches
        // the missing part.
        ("bad-truncated-segment", &[Errno::ENOEXEC], &[], true),
        ("bad-arch", &[Errno::ENOEXEC], &[], false),
    ];
    for (name, want, linux_also, linux_may_run) in cases {
        let path = sibling(name);
        match exec_outcome(&path)? {
            Ok(e) if want.contains(&e) => {}
            Ok(e) if !weft && linux_also.contains(&e) => {}
            Ok(e) => ctx.fail(format!("execve({path}): {e:?}, expected {want:?}")),
            Err(st) if !weft && linux_may_run && matches!(st, WaitStatus::Signaled(_)) => {}
            Err(st) => ctx.fail(format!(
                "execve({path}) succeeded; the program ended with {st:?}"
            )),
        }
    }
    // Not found, and a directory.
    let e = process::exec("/nonexistent/utest-no-such-file", &["x"], &[] as &[&str]);
    ctx.check(e == Errno::ENOENT, || {
        format!("execve(nonexistent): {e:?}, expected ENOENT")
    });
    let dir = sibling("");
    let e = process::exec(dir.trim_end_matches('/'), &["x"], &[] as &[&str]);
    ctx.check(e == Errno::EACCES, || {
        format!("execve({dir}): {e:?}, expected EACCES")
    });
    // After all that, exec still works: the process is alive and a good program runs.
    let st = run_child(
        || {
            let e = process::exec(self_exe(), &["utest", "--exit", "42"], &[] as &[&str]);
            100 + e.0
        },
        Duration::from_secs(30),
    )?;
    ctx.check(st == WaitStatus::Exited(42), || {
        format!("execve(utest --exit 42) ended with {st:?}")
    });
    Ok(())
}

/// Raw path call returning the kernel's result (`path` must end with a NUL).
fn path_call(nr: usize, path: &[u8]) -> Result<usize, weft_rt::Errno> {
    // SAFETY: `path` is a NUL-terminated buffer that outlives the call.
    weft_rt::syscall::ret(unsafe { weft_rt::syscall::syscall2(nr, path.as_ptr() as usize, 0o755) })
}

/// The current directory as the kernel reports it.
fn cwd() -> Result<alloc::vec::Vec<u8>, String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length.
    let n = weft_rt::syscall::ret(unsafe {
        weft_rt::syscall::syscall2(
            weft_rt::abi::nr::GETCWD,
            buf.as_mut_ptr() as usize,
            buf.len(),
        )
    })
    .label("getcwd")?;
    Ok(buf[..n.saturating_sub(1)].to_vec())
}

/// chdir/fchdir, getcwd, relative opens, rename, rmdir and unlink against the
/// working directory.
pub fn user_cwd_paths(ctx: &mut Ctx) -> Result<(), String> {
    let dir = alloc::format!("/utest-cwd-{}\0", sys::getpid());
    let dir_b = dir.as_bytes();
    path_call(nr::MKDIR, dir_b).label("mkdir")?;
    let start = cwd()?;
    path_call(nr::CHDIR, dir_b).label("chdir")?;
    let here = cwd()?;
    ctx.check(here == dir_b[..dir_b.len() - 1], || {
        alloc::format!("getcwd after chdir: {:?}", String::from_utf8_lossy(&here))
    });
    // A relative create lands in the new working directory.
    let fd = sys::openat(
        AT_FDCWD,
        c"f",
        weft_rt::abi::fcntl::O_CREAT | weft_rt::abi::fcntl::O_WRONLY,
        0o644,
    )
    .label("openat(relative, O_CREAT)")?;
    sys::close(fd).label("close")?;
    let abs = alloc::format!("{}/f\0", &dir[..dir.len() - 1]);
    let abs_g = alloc::format!("{}/g\0", &dir[..dir.len() - 1]);
    // `p` ends with its NUL.
    let exists = |p: &str| -> bool {
        match core::ffi::CStr::from_bytes_with_nul(p.as_bytes()) {
            Ok(c) => sys::openat(AT_FDCWD, c, O_RDONLY, 0)
                .map(sys::close)
                .is_ok(),
            Err(_) => false,
        }
    };
    ctx.check(exists(&abs), || {
        String::from("relative create did not make <dir>/f")
    });
    // SAFETY: both names are NUL-terminated literals.
    let r = weft_rt::syscall::ret(unsafe {
        weft_rt::syscall::syscall2(nr::RENAME, c"f".as_ptr() as usize, c"g".as_ptr() as usize)
    });
    ctx.check(r.is_ok(), || alloc::format!("rename(f, g): {r:?}"));
    ctx.check(exists(&abs_g) && !exists(&abs), || {
        String::from("rename did not move f to g")
    });
    let r = path_call(nr::RMDIR, dir_b);
    ctx.check(r == Err(weft_rt::Errno::ENOTEMPTY), || {
        alloc::format!("rmdir of a non-empty dir: {r:?}")
    });
    path_call(nr::UNLINK, b"g\0").label("unlink(g)")?;
    path_call(nr::CHDIR, b"..\0").label("chdir(..)")?;
    let back = cwd()?;
    ctx.check(back == start || back == b"/", || {
        alloc::format!(
            "getcwd after chdir(..): {:?}",
            String::from_utf8_lossy(&back)
        )
    });
    path_call(nr::RMDIR, dir_b).label("rmdir")?;
    let r = path_call(nr::CHDIR, dir_b);
    ctx.check(r == Err(weft_rt::Errno::ENOENT), || {
        alloc::format!("chdir into a removed dir: {r:?}")
    });
    let file = alloc::format!("/utest-cwd-file-{}\0", sys::getpid());
    let c =
        core::ffi::CStr::from_bytes_with_nul(file.as_bytes()).map_err(|_| String::from("path"))?;
    let fd = sys::openat(
        AT_FDCWD,
        c,
        weft_rt::abi::fcntl::O_CREAT | weft_rt::abi::fcntl::O_WRONLY,
        0o644,
    )
    .label("create a file")?;
    sys::close(fd).label("close")?;
    let r = path_call(nr::CHDIR, file.as_bytes());
    ctx.check(r == Err(weft_rt::Errno::ENOTDIR), || {
        alloc::format!("chdir to a file: {r:?}")
    });
    path_call(nr::UNLINK, file.as_bytes()).label("unlink the file")?;
    Ok(())
}
