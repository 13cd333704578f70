//! Regression tests of reliability defects (issue 14): kernel writes that ignored
//! the VMA's protection, a `CLONE_FILES` child's exit (or exec) closing its parent's
//! descriptors, `CLONE_FS` not sharing the working directory, and processes that
//! stayed in the process table when they exited with an unjoined thread.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use weft_rt::abi::clone::{CLONE_CHILD_SETTID, CLONE_FILES, CLONE_FS, CLONE_PARENT_SETTID};
use weft_rt::abi::fcntl::{F_GETFD, FD_CLOEXEC, O_CLOEXEC, O_RDONLY};
use weft_rt::abi::mman::{PROT_NONE, PROT_READ};
use weft_rt::abi::nr;
use weft_rt::abi::signal::SIGCHLD;
use weft_rt::process::WaitStatus;
use weft_rt::syscall::{ret, syscall6};
use weft_rt::{Errno, sys, thread};

use crate::harness::{Ctx, Label, wait_child};
use crate::util::*;

/// A raw system call with up to six arguments.
fn sc(n: usize, a: &[usize]) -> Result<usize, Errno> {
    let mut v = [0usize; 6];
    v[..a.len()].copy_from_slice(a);
    // SAFETY: every caller passes pointers that are either valid for the call or
    // deliberately bad (the kernel must refuse them without touching memory).
    ret(unsafe { syscall6(n, v[0], v[1], v[2], v[3], v[4], v[5]) })
}

/// `n` pages filled with `fill`, then made `PROT_READ` (leaked).
fn ro_pages(n: usize, fill: u8) -> Result<usize, String> {
    let p = sys::mmap_anon(n * PAGE).label("mmap")? as usize;
    // SAFETY: our own fresh writable mapping of `n` pages.
    unsafe { core::ptr::write_bytes(p as *mut u8, fill, n * PAGE) };
    // SAFETY: as above.
    unsafe { sys::mprotect(p as *mut u8, n * PAGE, PROT_READ) }.label("mprotect")?;
    Ok(p)
}

/// The first byte in `[p, p + len)` that is not `fill`, if any.
fn changed(p: usize, len: usize, fill: u8) -> Option<usize> {
    // SAFETY: the caller's readable range.
    let s = unsafe { core::slice::from_raw_parts(p as *const u8, len) };
    s.iter().position(|&b| b != fill).map(|i| p + i)
}

/// A fork-like raw clone (no new stack, no `CLONE_VM`) with extra `flags`. The child
/// must only make raw system calls (the heap lock is not prepared as `fork` does)
/// and end with `exit_group`; it gets `Ok(0)`.
fn raw_fork(flags: usize, ptid: usize, ctid: usize) -> Result<usize, Errno> {
    sc(nr::CLONE, &[flags | SIGCHLD as usize, 0, ptid, ctid, 0])
}

fn exit_now(code: i32) -> ! {
    sys::exit_group(code)
}

/// Runs only if `thread_create` wrongly succeeds: ends the thread.
extern "C" fn never_entry(_: u64) -> ! {
    weft_rt::wthread::exit(0)
}

fn fd_ok(fd: i32) -> bool {
    sc(nr::FCNTL, &[fd as usize, F_GETFD as usize]).is_ok()
}

pub fn defect_write_protection(ctx: &mut Ctx) -> Result<(), String> {
    const FILL: u8 = 0x5a;
    let ro = ro_pages(2, FILL)?;
    let expect = |ctx: &mut Ctx, what: &str, r: Result<usize, Errno>| {
        ctx.check(r == Err(Errno::EFAULT), || {
            format!("{what} into a PROT_READ page: {r:?}, expected EFAULT")
        });
    };
    // Ordinary system calls that write through a user pointer.
    expect(ctx, "clock_gettime", sc(nr::CLOCK_GETTIME, &[1, ro]));
    expect(ctx, "gettimeofday", sc(nr::GETTIMEOFDAY, &[ro, 0]));
    expect(ctx, "pipe2", sc(nr::PIPE2, &[ro, 0]));
    expect(ctx, "uname", sc(nr::UNAME, &[ro]));
    let (r, w) = {
        let mut fds = [0i32; 2];
        sc(nr::PIPE2, &[fds.as_mut_ptr() as usize, 0]).label("pipe2")?;
        (fds[0], fds[1])
    };
    sys::write(w, b"data").label("write")?;
    expect(ctx, "read", sc(nr::READ, &[r as usize, ro + PAGE - 2, 4]));
    let _ = sys::close(r);
    let _ = sys::close(w);

    // clone's tid stores: as on Linux, the child is made and the store is skipped.
    match raw_fork(CLONE_PARENT_SETTID as usize, ro + 8, 0) {
        Ok(0) => exit_now(0),
        Ok(pid) => {
            wait_child(pid as i32, Duration::from_secs(30))?;
        }
        Err(e) => ctx.fail(format!("clone(CLONE_PARENT_SETTID, ptid read-only): {e:?}")),
    }
    match raw_fork(CLONE_CHILD_SETTID as usize, 0, ro + 16) {
        // The child's copy of the page must be unchanged.
        Ok(0) => exit_now(changed(ro, 2 * PAGE, FILL).is_some() as i32),
        Ok(pid) => {
            let st = wait_child(pid as i32, Duration::from_secs(30))?;
            ctx.check(st == WaitStatus::Exited(0), || {
                format!("clone(CLONE_CHILD_SETTID, ctid read-only): the child saw its page changed ({st:?})")
            });
        }
        Err(e) => ctx.fail(format!("clone(CLONE_CHILD_SETTID, ctid read-only): {e:?}")),
    }
    if let Some(a) = changed(ro, 2 * PAGE, FILL) {
        ctx.fail(format!("the PROT_READ page was written at {a:#x}"));
    }
    if skip_on_linux(ctx) {
        return Ok(());
    }

    // thread_create writes the zero return address at the top of the given stack.
    let create = |stack: usize| {
        // SAFETY: the stack is deliberately not writable: the call must fail.
        unsafe { weft_rt::wthread::create(never_entry, 0, stack, 0, 0, 0) }
    };
    let r = create(ro + 2 * PAGE);
    ctx.check(r == Err(Errno::EFAULT), || {
        format!("thread_create with a PROT_READ stack: {r:?}")
    });
    // SAFETY: our own mapping.
    unsafe { sys::mprotect(ro as *mut u8, 2 * PAGE, PROT_NONE) }.label("mprotect NONE")?;
    let r = create(ro + 2 * PAGE);
    ctx.check(r == Err(Errno::EFAULT), || {
        format!("thread_create with a PROT_NONE stack: {r:?}")
    });
    // SAFETY: our own mapping.
    unsafe { sys::mprotect(ro as *mut u8, 2 * PAGE, PROT_READ) }.label("mprotect READ")?;
    if let Some(a) = changed(ro, 2 * PAGE, FILL) {
        ctx.fail(format!("thread_create wrote the read-only stack at {a:#x}"));
    }
    // The program's own text: the slot lands inside never_entry.
    let text = (never_entry as *const () as usize & !15) + 16;
    let slot = text - 8;
    // SAFETY: text is readable.
    let before = unsafe { core::ptr::read_volatile(slot as *const u64) };
    let r = create(text);
    // SAFETY: as above.
    let after = unsafe { core::ptr::read_volatile(slot as *const u64) };
    ctx.check(r == Err(Errno::EFAULT) && before == after, || {
        format!("thread_create with the stack in text: {r:?}, slot {before:#x} -> {after:#x}")
    });
    Ok(())
}

pub fn defect_clone_files(ctx: &mut Ctx) -> Result<(), String> {
    let mut fds = [0i32; 2];
    sc(nr::PIPE2, &[fds.as_mut_ptr() as usize, 0]).label("pipe2")?;
    let (r, w) = (fds[0], fds[1]);
    let victim = sc(nr::DUP, &[w as usize]).label("dup")? as i32;
    // Shared table: the child's dup and close are the parent's; its exit is not.
    let made = match raw_fork(CLONE_FILES as usize, 0, 0) {
        Ok(0) => {
            let made = sc(nr::DUP, &[r as usize]);
            match sc(nr::CLOSE, &[victim as usize]) {
                Ok(_) => exit_now(made.map_or(255, |fd| fd as i32)),
                Err(_) => exit_now(255),
            }
        }
        Ok(pid) => match wait_child(pid as i32, Duration::from_secs(30))? {
            WaitStatus::Exited(fd) if fd != 255 => fd as i32,
            st => return Err(format!("CLONE_FILES child: {st:?}")),
        },
        Err(e) => return Err(format!("clone(CLONE_FILES): {e:?}")),
    };
    ctx.check(!fd_ok(victim), || {
        format!("the child's close of fd {victim} did not reach the parent")
    });
    ctx.check(fd_ok(made), || {
        format!("fd {made} the child made is not in the parent's table")
    });
    ctx.check(fd_ok(0) && fd_ok(r) && fd_ok(w), || {
        String::from("the CLONE_FILES child's exit closed the parent's descriptors")
    });
    let ok = sys::write(w, b"ab").is_ok() && {
        let mut b = [0u8; 2];
        sys::read(made, &mut b) == Ok(2) && &b == b"ab"
    };
    ctx.check(ok, || {
        String::from("the pipe does not work after the child's exit")
    });

    // execve unshares the table first: close-on-exec closes the child's copy only.
    let c = cstr(self_exe());
    let cx = sc(
        nr::OPENAT,
        &[
            weft_rt::abi::fcntl::AT_FDCWD as usize,
            c.as_ptr() as usize,
            (O_RDONLY | O_CLOEXEC) as usize,
        ],
    )
    .label("open O_CLOEXEC")? as i32;
    let a0 = cstr("utest");
    let a1 = cstr("--exit");
    let a2 = cstr("7");
    let argv = [a0.as_ptr(), a1.as_ptr(), a2.as_ptr(), core::ptr::null()];
    let envp = [core::ptr::null::<u8>()];
    match raw_fork(CLONE_FILES as usize, 0, 0) {
        Ok(0) => {
            let _ = sc(
                nr::EXECVE,
                &[
                    c.as_ptr() as usize,
                    argv.as_ptr() as usize,
                    envp.as_ptr() as usize,
                ],
            );
            exit_now(99)
        }
        Ok(pid) => {
            let st = wait_child(pid as i32, Duration::from_secs(30))?;
            ctx.check(st == WaitStatus::Exited(7), || {
                format!("CLONE_FILES child exec: {st:?}")
            });
        }
        Err(e) => return Err(format!("clone(CLONE_FILES): {e:?}")),
    }
    let fl = sc(nr::FCNTL, &[cx as usize, F_GETFD as usize]);
    ctx.check(fl == Ok(FD_CLOEXEC as usize), || {
        format!("the CLONE_FILES child's exec closed the parent's O_CLOEXEC fd: F_GETFD {fl:?}")
    });
    ctx.check(fd_ok(r) && fd_ok(w) && fd_ok(made), || {
        String::from("the exec'd CLONE_FILES child's exit closed the parent's descriptors")
    });
    for fd in [r, w, made, cx] {
        let _ = sys::close(fd);
    }
    Ok(())
}

fn getcwd() -> Result<Vec<u8>, String> {
    let mut b = [0u8; 256];
    let n = sc(nr::GETCWD, &[b.as_mut_ptr() as usize, b.len()]).label("getcwd")?;
    let len = b[..n].iter().position(|&c| c == 0).unwrap_or(n);
    Ok(b[..len].to_vec())
}

pub fn defect_clone_fs(ctx: &mut Ctx) -> Result<(), String> {
    let start = getcwd()?;
    let root = cstr("/");
    sc(nr::CHDIR, &[root.as_ptr() as usize]).label("chdir /")?;
    let dev = cstr("/dev");
    for (flags, shared) in [(CLONE_FS as usize, true), (0, false)] {
        match raw_fork(flags, 0, 0) {
            Ok(0) => exit_now(sc(nr::CHDIR, &[dev.as_ptr() as usize]).is_err() as i32),
            Ok(pid) => {
                let st = wait_child(pid as i32, Duration::from_secs(30))?;
                ctx.check(st == WaitStatus::Exited(0), || {
                    format!("chdir child: {st:?}")
                });
            }
            Err(e) => return Err(format!("clone({flags:#x}): {e:?}")),
        }
        let cwd = getcwd()?;
        let want: &[u8] = if shared { b"/dev" } else { b"/" };
        ctx.check(cwd == want, || {
            format!(
                "after a child's chdir(/dev) with flags {flags:#x} the parent's cwd is {:?}",
                String::from_utf8_lossy(&cwd)
            )
        });
        sc(nr::CHDIR, &[root.as_ptr() as usize]).label("chdir /")?;
    }
    let mut s = start;
    s.push(0);
    let _ = sc(nr::CHDIR, &[s.as_ptr() as usize]);
    Ok(())
}

/// Sleeps forever (raw calls only: it shares the creator's TLS).
extern "C" fn sleeper_entry(_: u64) -> ! {
    let ts = [1000i64, 0];
    loop {
        let _ = sc(nr::NANOSLEEP, &[ts.as_ptr() as usize, 0]);
    }
}

pub fn defect_exit_with_joinable_thread(ctx: &mut Ctx) -> Result<(), String> {
    const ROUNDS: usize = 50;
    let weft = is_weft();
    let procs = || sys::sysinfo().map(|s| s.procs as usize).unwrap_or(0);
    let free = || {
        sys::sysinfo()
            .map(|s| s.freeram * s.mem_unit as u64)
            .unwrap_or(0)
    };
    let run_round = |joinable_seed: bool| -> Result<(), String> {
        let pid = crate::harness::fork_child(|| {
            if joinable_seed {
                // SAFETY: a kernel-mapped stack (stack 0); the entry uses raw calls.
                if unsafe { weft_rt::wthread::create(sleeper_entry, 0, 0, 0, 0, 0) }.is_err() {
                    return 2;
                }
            } else {
                // A joinable pthread-style thread (clone CLONE_THREAD), never joined.
                let h = thread::spawn(|| {
                    loop {
                        thread::sleep(Duration::from_secs(1000));
                    }
                });
                core::mem::forget(h);
            }
            thread::sleep(Duration::from_millis(1));
            0
        })?;
        match wait_child(pid, Duration::from_secs(30))? {
            WaitStatus::Exited(0) => Ok(()),
            st => Err(format!("child with a joinable thread: {st:?}")),
        }
    };
    // Warm up (caches, heap), then count.
    run_round(false)?;
    if weft {
        run_round(true)?;
    }
    let (p0, f0) = (procs(), free());
    for i in 0..ROUNDS {
        // Only the pthread kind exists on Linux.
        run_round(weft && i % 2 == 0)?;
    }
    if !weft {
        ctx.note("Linux: the process count is system-wide: not compared");
        return Ok(());
    }
    // Dead threads are freed a moment after they last ran: poll, bounded.
    let back = wait_until(Duration::from_secs(10), || procs() <= p0);
    let (p1, f1) = (procs(), free());
    ctx.check(back, || {
        format!("{ROUNDS} exits with an unjoined thread: {p0} processes before, {p1} after")
    });
    let lost = f0.saturating_sub(f1);
    ctx.note(&format!(
        "free memory {} KiB before, {} KiB after (lost {} KiB)",
        f0 / 1024,
        f1 / 1024,
        lost / 1024
    ));
    // Each leaked process kept at least one 32 KiB kernel stack.
    ctx.check(lost < 256 * 1024, || {
        format!("{} KiB of memory gone after {ROUNDS} exits", lost / 1024)
    });
    Ok(())
}
