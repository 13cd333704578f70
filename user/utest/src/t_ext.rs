//! The external test programs, one utest test per subtest: `sig_<name>` runs
//! `sigtest <name>` (user/c/sigtest.c), `stress_<name>` runs `stress <name>`
//! (user/c/stress.c), `std_<name>` runs `stdtest <name>`
//! (user/stdtest), `sh_signals` runs `busybox sh /etc/tests/signals.sh`
//! (user/sh/signals.sh). Each passes iff the program exits with status 0.
//!
//! The programs are found next to this one (`/bin` on Weft; the directory of utest
//! on the host, as `make user-host-test` lays it out), the script at
//! `/etc/tests/signals.sh` or else next to this program. Without busybox,
//! `sh_signals` reports ok with the note "busybox not installed".
//!
//! The child's stdout and stderr go to a pipe (when `pipe2` works) so that its
//! output does not mix with the test contract lines; on failure the last lines
//! of it are the failure details.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use weft_rt::abi::fcntl::{F_GETFL, F_SETFL, O_CLOEXEC, O_NONBLOCK};
use weft_rt::abi::nr;
use weft_rt::abi::signal::SIGKILL;
use weft_rt::abi::wait::WNOHANG;
use weft_rt::process::{self, CStrArray, Fork, WaitStatus};
use weft_rt::syscall::{ret, syscall2, syscall3};
use weft_rt::time::Instant;
use weft_rt::{Errno, sys, thread};

use crate::harness::{Ctx, Label};
use crate::util::{open_ro, sibling};

/// How long a program may run before it is killed (below the harness's limit).
const LIMIT: Duration = Duration::from_secs(240);
/// Lines of the child's output kept for the failure report.
const TAIL_LINES: usize = 12;

fn exists(path: &str) -> bool {
    match open_ro(path) {
        Ok(fd) => {
            let _ = sys::close(fd);
            true
        }
        Err(_) => false,
    }
}

fn pipe() -> Result<[i32; 2], Errno> {
    let mut fds = [0i32; 2];
    // SAFETY: the kernel writes two ints into fds.
    ret(unsafe { syscall2(nr::PIPE2, fds.as_mut_ptr() as usize, O_CLOEXEC as usize) })?;
    Ok(fds)
}

fn set_nonblocking(fd: i32) -> Result<(), Errno> {
    // SAFETY: fcntl on our own descriptor.
    let fl = ret(unsafe { syscall3(nr::FCNTL, fd as usize, F_GETFL as usize, 0) })?;
    // SAFETY: as above.
    ret(unsafe {
        syscall3(
            nr::FCNTL,
            fd as usize,
            F_SETFL as usize,
            fl | O_NONBLOCK as usize,
        )
    })?;
    Ok(())
}

/// Reads what is available on the non-blocking `fd` into `out`; true at end of file.
fn drain(fd: i32, out: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match sys::read(fd, &mut buf) {
            Ok(0) => return true,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() > 256 * 1024 {
                    out.drain(..128 * 1024);
                }
            }
            Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
}

fn tail(out: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(out);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let from = lines.len().saturating_sub(TAIL_LINES);
    lines[from..].iter().map(|l| format!("| {l}")).collect()
}

/// Runs `path args` with its output captured. Anything but exit status 0 is recorded
/// as a failure (the verdict, then the last lines of the output).
fn run_prog(ctx: &mut Ctx, path: &str, args: &[&str]) -> Result<(), String> {
    let prog = path.rsplit('/').next().unwrap_or(path);
    let what = format!("{prog} {}", args[1..].join(" "));
    let p = CStrArray::new(&[path]);
    let a = CStrArray::new(args);
    let e = CStrArray::new(&["PATH=/bin", "HOME=/"]);
    // Capture only with a non-blocking read end (drained while the child runs, so
    // a chatty child never blocks on a full pipe).
    let fds = match pipe() {
        Ok([r, w]) => match set_nonblocking(r) {
            Ok(()) => Some([r, w]),
            Err(err) => {
                let _ = sys::close(r);
                let _ = sys::close(w);
                ctx.note(&format!("fcntl(O_NONBLOCK): {err:?}: output not captured"));
                None
            }
        },
        Err(err) => {
            ctx.note(&format!("pipe2: {err:?}: output not captured"));
            None
        }
    };
    let pid = match process::fork().label("fork")? {
        Fork::Child => {
            if let Some([_, w]) = fds {
                // SAFETY: dup2 of our own descriptors onto stdout and stderr.
                unsafe {
                    syscall2(nr::DUP2, w as usize, 1);
                    syscall2(nr::DUP2, w as usize, 2);
                }
            }
            // SAFETY: well-formed arrays (built before the fork).
            unsafe { sys::execve(p.entry(0), a.as_ptr(), e.as_ptr()) };
            sys::exit_group(127)
        }
        Fork::Parent(pid) => pid,
    };
    let mut out = Vec::new();
    let rfd = fds.map(|[r, w]| {
        let _ = sys::close(w);
        r
    });
    let start = Instant::now();
    let mut nap = Duration::from_micros(500);
    let status = loop {
        if let Some(r) = rfd {
            drain(r, &mut out);
        }
        match process::wait(pid, WNOHANG) {
            Ok((0, _)) => {}
            Ok((_, st)) => break st,
            Err(err) => return Err(format!("wait4({pid}): {err:?}")),
        }
        if start.elapsed() > LIMIT {
            let _ = sys::kill(pid, SIGKILL);
            let _ = process::wait(pid, 0);
            if let Some(r) = rfd {
                drain(r, &mut out);
                let _ = sys::close(r);
            }
            ctx.fail(format!("{what}: still running after {LIMIT:?}: killed"));
            for l in tail(&out) {
                ctx.fail(l);
            }
            return Ok(());
        }
        thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    };
    if let Some(r) = rfd {
        // The program is gone; what is left in the pipe (a grandchild may still
        // hold the write end: bounded).
        let until = Instant::now();
        while !drain(r, &mut out) && until.elapsed() < Duration::from_millis(200) {
            thread::sleep(Duration::from_millis(5));
        }
        let _ = sys::close(r);
    }
    let verdict = match status {
        WaitStatus::Exited(0) => return Ok(()),
        WaitStatus::Exited(127) => {
            format!("{what}: exit status 127 ({path} missing or not executable?)")
        }
        WaitStatus::Exited(c) => format!("{what}: exit status {c}"),
        WaitStatus::Signaled(s) => format!(
            "{what}: killed by signal {s} ({})",
            weft_rt::abi::signal::name(s).unwrap_or("?")
        ),
        other => format!("{what}: ended oddly: {other:?}"),
    };
    ctx.fail(verdict);
    for l in tail(&out) {
        ctx.fail(l);
    }
    Ok(())
}

// argv[0] is the full path: the programs re-execute themselves through it.
fn run_sigtest(ctx: &mut Ctx, name: &str) -> Result<(), String> {
    let path = sibling("sigtest");
    run_prog(ctx, &path, &[&path, name])
}

fn run_stress(ctx: &mut Ctx, name: &str) -> Result<(), String> {
    let path = sibling("stress");
    run_prog(ctx, &path, &[&path, name])
}

fn run_stdtest(ctx: &mut Ctx, name: &str) -> Result<(), String> {
    let path = sibling("stdtest");
    run_prog(ctx, &path, &[&path, name])
}

macro_rules! ext_tests {
    ($runner:ident: $($fname:ident => $sub:literal),* $(,)?) => {
        $(
            pub fn $fname(ctx: &mut Ctx) -> Result<(), String> {
                $runner(ctx, $sub)
            }
        )*
    };
}

ext_tests!(run_sigtest:
    sig_handler_siginfo => "handler_siginfo",
    sig_thread_routing => "thread_routing",
    sig_pending_unblock => "pending_unblock",
    sig_sigwait => "sigwait",
    sig_eintr_pipe => "eintr_pipe",
    sig_eintr_futex => "eintr_futex",
    sig_eintr_nanosleep => "eintr_nanosleep",
    sig_sigaltstack => "sigaltstack",
    sig_nodefer => "nodefer",
    sig_resethand => "resethand",
    sig_fpu_preserved => "fpu_preserved",
    sig_mcontext_rip => "mcontext_rip",
    sig_forged_sigreturn => "forged_sigreturn",
    sig_segv_longjmp => "segv_longjmp",
    sig_rt_queue_order => "rt_queue_order",
    sig_stop_continue => "stop_continue",
    sig_sigchld => "sigchld",
    sig_sigpipe => "sigpipe",
    sig_alarm_pause => "alarm_pause",
    sig_timer_create => "timer_create",
    sig_cancel_condwait => "cancel_condwait",
    sig_cancel_sleep => "cancel_sleep",
    sig_fork_exec_semantics => "fork_exec_semantics",
    sig_signal_storm => "signal_storm",
    sig_kill_pgrp => "kill_pgrp",
    sig_sigsuspend => "sigsuspend",
    sig_pi_mutex => "pi_mutex",
);

ext_tests!(run_stress:
    stress_exit_storm => "exit_storm",
    stress_create_loop => "create_loop",
);

ext_tests!(run_stdtest:
    std_threads => "threads",
    std_mutex_condvar => "mutex_condvar",
    std_mpsc => "mpsc",
    std_barrier => "barrier",
    std_rwlock => "rwlock",
    std_scoped => "scoped",
    std_park_unpark => "park_unpark",
    std_tls_destructors => "tls_destructors",
    std_fs => "fs",
    std_panic_join => "panic_join",
    std_stack_overflow => "stack_overflow",
    std_command => "command",
);

pub fn sh_signals(ctx: &mut Ctx) -> Result<(), String> {
    let busybox = if exists("/bin/busybox") {
        String::from("/bin/busybox")
    } else {
        sibling("busybox")
    };
    if !exists(&busybox) {
        ctx.note("busybox not installed");
        return Ok(());
    }
    let script = if exists("/etc/tests/signals.sh") {
        String::from("/etc/tests/signals.sh")
    } else {
        sibling("signals.sh")
    };
    run_prog(ctx, &busybox, &[&busybox, "sh", &script])
}
