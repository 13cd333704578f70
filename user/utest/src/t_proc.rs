//! user_wait_status, user_segv_kills, user_frames_return.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::arch::asm;
use core::sync::atomic::Ordering::*;
use core::time::Duration;

use weft_rt::abi::signal::*;
use weft_rt::abi::wait::WNOHANG;
use weft_rt::process::{self, WaitStatus};
use weft_rt::{Errno, sys, thread};

use crate::harness::{Ctx, Label, fork_child, run_child, wait_child};
use crate::util::*;

pub fn user_wait_status(ctx: &mut Ctx) -> Result<(), String> {
    let long = Duration::from_secs(30);
    // Exit codes.
    for code in [0, 1, 42, 255] {
        let pid = fork_child(move || code)?;
        match process::wait(pid, 0) {
            Ok((p, WaitStatus::Exited(c))) if p == pid && c == code as u32 => {}
            other => ctx.fail(format!("exit({code}): wait4 gave {other:?}")),
        }
    }
    // WNOHANG while the child runs, then its status.
    let pid = fork_child(|| {
        thread::sleep(Duration::from_millis(300));
        7
    })?;
    match process::wait(pid, WNOHANG) {
        Ok((0, _)) => {}
        other => ctx.fail(format!(
            "wait4(WNOHANG) on a running child: {other:?}, expected 0"
        )),
    }
    match wait_child(pid, long)? {
        WaitStatus::Exited(7) => {}
        other => ctx.fail(format!("sleeping child: {other:?}, expected exit 7")),
    }
    // Death by signal.
    for sig in [SIGKILL, SIGTERM, SIGUSR1] {
        let pid = fork_child(|| {
            thread::sleep(Duration::from_secs(20));
            99
        })?;
        sys::kill(pid, sig).label("kill")?;
        match wait_child(pid, long)? {
            WaitStatus::Signaled(s) if s == sig => {}
            other => ctx.fail(format!(
                "kill({sig}): {other:?}, expected WIFSIGNALED with {sig}"
            )),
        }
    }
    // A child that kills itself.
    let pid = fork_child(|| {
        let _ = sys::kill(sys::getpid(), SIGUSR2);
        thread::sleep(Duration::from_secs(20));
        98
    })?;
    match wait_child(pid, long)? {
        WaitStatus::Signaled(SIGUSR2) => {}
        other => ctx.fail(format!("self kill(SIGUSR2): {other:?}")),
    }
    // exit_group from a second thread sets the status for the whole process.
    let pid = fork_child(|| {
        let _h = thread::spawn(|| weft_rt::process::exit(33));
        thread::sleep(Duration::from_secs(20));
        97
    })?;
    match wait_child(pid, long)? {
        WaitStatus::Exited(33) => {}
        other => ctx.fail(format!("exit_group(33) from a thread: {other:?}")),
    }
    // wait4(-1) reaps any child.
    let mut pids: Vec<i32> = (3..6)
        .map(|c| fork_child(move || c))
        .collect::<Result<_, _>>()?;
    for _ in 0..3 {
        match process::wait(-1, 0) {
            Ok((p, WaitStatus::Exited(c))) => match pids.iter().position(|&x| x == p) {
                Some(i) => {
                    pids.remove(i);
                    ctx.check((3..6).contains(&c), || format!("wait4(-1): child exit {c}"));
                }
                None => ctx.fail(format!("wait4(-1) returned unknown pid {p}")),
            },
            other => ctx.fail(format!("wait4(-1): {other:?}")),
        }
    }
    // No children left: ECHILD, also for a pid that is not our child.
    let r = process::wait(-1, 0);
    ctx.check(r == Err(Errno::ECHILD), || {
        format!("wait4(-1) without children: {r:?}, expected ECHILD")
    });
    let r = process::wait(-1, WNOHANG);
    ctx.check(r == Err(Errno::ECHILD), || {
        format!("wait4(-1, WNOHANG) without children: {r:?}, expected ECHILD")
    });
    let r = process::wait(sys::getppid(), 0);
    ctx.check(r == Err(Errno::ECHILD), || {
        format!("wait4(parent pid): {r:?}, expected ECHILD")
    });
    // Exit status through execve (fork + exec, and vfork + exec).
    let pid = process::spawn(self_exe(), &["utest", "--exit", "42"], &[] as &[&str])
        .label("fork+exec")?;
    match wait_child(pid, long)? {
        WaitStatus::Exited(42) => {}
        other => ctx.fail(format!("fork+exec utest --exit 42: {other:?}")),
    }
    match process::vfork_exec(self_exe(), &["utest", "--exit", "43"], &[] as &[&str]) {
        Ok(pid) => match wait_child(pid, long)? {
            WaitStatus::Exited(43) => {}
            other => ctx.fail(format!("vfork+exec utest --exit 43: {other:?}")),
        },
        Err(e) => ctx.fail(format!("vfork+exec: {e:?}")),
    }
    let r = process::vfork_exec("/nonexistent/x", &["x"], &[] as &[&str]);
    ctx.check(r == Err(Errno::ENOENT), || {
        format!("vfork+exec of a missing file: {r:?}, expected ENOENT")
    });
    Ok(())
}

pub fn user_segv_kills(ctx: &mut Ctx) -> Result<(), String> {
    // SAFETY: faults on purpose, in a forked child.
    expect_signal(ctx, "NULL read", SIGSEGV, || unsafe { peek(0) as i32 });
    expect_signal(ctx, "NULL write", SIGSEGV, || {
        // SAFETY: faults on purpose, in a forked child.
        unsafe { poke(0, 1) };
        0
    });
    // SAFETY: faults on purpose, in a forked child.
    expect_signal(ctx, "kernel address read", SIGSEGV, || unsafe {
        peek(KERNEL_ADDR) as i32
    });
    // SAFETY: faults on purpose, in a forked child.
    expect_signal(ctx, "non-canonical address read", SIGSEGV, || unsafe {
        peek(NONCANONICAL_ADDR) as i32
    });
    expect_signal(ctx, "write to program text", SIGSEGV, || {
        // SAFETY: faults on purpose, in a forked child.
        unsafe { poke(user_segv_kills as *const () as usize, 0xcc) };
        0
    });
    expect_signal(ctx, "ud2", SIGILL, || {
        // SAFETY: faults on purpose, in a forked child.
        unsafe { asm!("ud2", options(nomem, nostack)) };
        0
    });
    expect_signal(ctx, "divide by zero", SIGFPE, || {
        let q: u32;
        // SAFETY: faults on purpose, in a forked child.
        unsafe {
            asm!("xor edx, edx", "div ecx", inout("eax") 1u32 => q, in("ecx") 0u32,
                out("edx") _, options(nomem, nostack))
        };
        q as i32
    });
    expect_signal(ctx, "hlt (privileged)", SIGSEGV, || {
        // SAFETY: faults on purpose, in a forked child.
        unsafe { asm!("hlt", options(nomem, nostack)) };
        0
    });
    expect_signal(ctx, "int3", SIGTRAP, || {
        // SAFETY: faults on purpose, in a forked child.
        unsafe { asm!("int3", options(nomem, nostack)) };
        0
    });
    // Executing a non-executable (NX) data page.
    let page = sys::mmap_anon(PAGE).label("mmap")? as usize;
    // SAFETY: our page; 0xc3 is `ret`.
    unsafe { poke(page, 0xc3) };
    expect_signal(ctx, "jump to a non-executable page", SIGSEGV, move || {
        let f: extern "C" fn() = unsafe { core::mem::transmute(page) };
        f();
        0
    });
    // And the parent is still fine.
    ctx.check(
        run_child(|| 5, Duration::from_secs(10))? == WaitStatus::Exited(5),
        || String::from("a normal child after the crashes"),
    );
    Ok(())
}

fn free_bytes() -> Result<u64, String> {
    let s = sys::sysinfo().label("sysinfo")?;
    Ok(s.freeram * (s.mem_unit.max(1) as u64))
}

/// Free memory once it has stopped moving (memory of processes that just exited
/// may still be on its way back): two readings 20 ms apart within 64 KiB, or the
/// last reading after about 2 s.
fn settled_free_bytes() -> Result<u64, String> {
    let mut last = free_bytes()?;
    for _ in 0..100 {
        weft_rt::time::sleep(Duration::from_millis(20));
        let now = free_bytes()?;
        if now.abs_diff(last) < 64 * 1024 {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}

pub fn user_frames_return(ctx: &mut Ctx) -> Result<(), String> {
    if skip_on_linux(ctx) {
        return Ok(());
    }
    const CHILDREN: usize = 100;
    const TOUCH: usize = 2 * 1024 * 1024;
    const TOLERANCE: u64 = 1024 * 1024;
    let child = || {
        let Ok(p) = sys::mmap_anon(TOUCH) else {
            return 1;
        };
        // SAFETY: our fresh mapping.
        unsafe { core::ptr::write_bytes(p, 0x77, TOUCH) };
        let v: Vec<u8> = alloc::vec![1; 64 * 1024];
        let h = thread::spawn(move || v.len());
        if h.join() != 64 * 1024 {
            return 2;
        }
        0
    };
    // Warm up (caches, page tables of the parent), then measure.
    for _ in 0..5 {
        run_child(child, Duration::from_secs(30))?;
    }
    let before = settled_free_bytes()?;
    // The counter is real: a child holding 8 MiB lowers it.
    let w = shared_words(2)?;
    let pid = fork_child(move || {
        let Ok(p) = sys::mmap_anon(8 << 20) else {
            return 1;
        };
        // SAFETY: our fresh mapping.
        unsafe { core::ptr::write_bytes(p, 0x55, 8 << 20) };
        w[0].store(1, SeqCst);
        wait_until(Duration::from_secs(20), || w[1].load(SeqCst) == 1);
        0
    })?;
    if wait_until(Duration::from_secs(20), || w[0].load(SeqCst) == 1) {
        let during = free_bytes()?;
        ctx.check(during + (6 << 20) <= before, || {
            format!("freeram did not drop while a child held 8 MiB: {before} -> {during}")
        });
    } else {
        ctx.fail(String::from("memory-holding child never got ready"));
    }
    w[1].store(1, SeqCst);
    wait_child(pid, Duration::from_secs(30))?;
    for i in 0..CHILDREN {
        match run_child(child, Duration::from_secs(30))? {
            WaitStatus::Exited(0) => {}
            other => return Err(format!("child {i}: {other:?}")),
        }
    }
    // Freed frames may come back a little later (deferred reaping).
    let mut after = free_bytes()?;
    let ok = wait_until(Duration::from_secs(3), || {
        after = free_bytes().unwrap_or(0);
        after + TOLERANCE >= before
    });
    ctx.check(ok, || {
        format!(
            "free memory {before} bytes before {CHILDREN} fork+exit children, {after} after: {} KiB lost",
            before.saturating_sub(after) / 1024
        )
    });
    ctx.note(&format!(
        "free {} KiB -> {} KiB",
        before / 1024,
        after / 1024
    ));
    Ok(())
}
