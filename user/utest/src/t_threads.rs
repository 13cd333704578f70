//! user_fpu_isolation, user_threads_many, user_exec_kills_threads (+ its helper),
//! user_fork_from_thread, user_stack_guard, user_thread_limit,
//! user_tsuspend_tresume.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::*};
use core::time::Duration;

use weft_rt::abi::resource::RLIMIT_NPROC;
use weft_rt::abi::signal::SIGSEGV;
use weft_rt::abi::time::Timespec;
use weft_rt::process::{self, Fork, WaitStatus};
use weft_rt::sys::{self, Pid};
use weft_rt::time::Instant;
use weft_rt::{Errno, env, thread, wthread};

use crate::fpu;
use crate::harness::{Ctx, Label, wait_child};
use crate::util::*;

pub fn user_fpu_isolation(ctx: &mut Ctx) -> Result<(), String> {
    const THREADS: u64 = 4;
    const ROUNDS: usize = 20;
    const YIELDS: usize = 50;
    let cpu = thread::allowed_cpus().first().copied().unwrap_or(0);
    let avx = fpu::has_avx();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            thread::spawn(move || -> Result<(), String> {
                thread::pin_to_cpu(cpu).label("sched_setaffinity")?;
                // Rounding control (MXCSR bits 13-14) differs per thread.
                let mxcsr = 0x1f80 | ((t as u32 & 3) << 13);
                for round in 0..ROUNDS {
                    let mut input = [0u64; 32];
                    for (k, v) in input.iter_mut().enumerate() {
                        *v = (t << 48) ^ ((round as u64) << 32) ^ (k as u64 * 0x0101_0101) ^ 0x5a5a_0000;
                    }
                    let mut out = [0u64; 32];
                    let mut mx = 0u32;
                    fpu::sse_round(&input, &mut out, mxcsr, &mut mx, YIELDS);
                    if out != input {
                        let k = (0..32).find(|&k| out[k] != input[k]).unwrap_or(0);
                        return Err(format!(
                            "thread {t} round {round}: xmm{} half {} is {:#x}, expected {:#x}",
                            k / 2,
                            k % 2,
                            out[k],
                            input[k]
                        ));
                    }
                    if mx & !0x3f != mxcsr & !0x3f {
                        return Err(format!("thread {t} round {round}: MXCSR {mx:#x}, expected {mxcsr:#x}"));
                    }
                    if avx {
                        let mut input = [0u64; 64];
                        for (k, v) in input.iter_mut().enumerate() {
                            *v = !((t << 52) ^ ((round as u64) << 36) ^ (k as u64 * 0x1234_5678));
                        }
                        let mut out = [0u64; 64];
                        // SAFETY: has_avx() said yes.
                        unsafe { fpu::avx_round(&input, &mut out, YIELDS) };
                        if out != input {
                            let k = (0..64).find(|&k| out[k] != input[k]).unwrap_or(0);
                            return Err(format!(
                                "thread {t} round {round}: ymm{} quarter {} is {:#x}, expected {:#x}",
                                k / 4,
                                k % 4,
                                out[k],
                                input[k]
                            ));
                        }
                    }
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        if let Err(e) = h.join() {
            ctx.fail(e);
        }
    }
    if !avx {
        ctx.note("no AVX: xmm and MXCSR only");
    }
    Ok(())
}

static MANY_COUNT: AtomicU64 = AtomicU64::new(0);

extern "C" fn raw_entry(arg: u64) -> ! {
    MANY_COUNT.fetch_add(1, SeqCst);
    let me = wthread::current().unwrap_or(-1);
    if me != sys::gettid() {
        wthread::exit(u64::MAX);
    }
    wthread::exit(arg * 3 + 1)
}

pub fn user_threads_many(ctx: &mut Ctx) -> Result<(), String> {
    const N: usize = 1000;
    let main_tid = sys::gettid();
    let main_tls = thread::main_tcb();
    MANY_COUNT.store(0, SeqCst);
    let mut handles = Vec::with_capacity(N);
    for i in 0..N {
        let h = thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                MANY_COUNT.fetch_add(1, SeqCst);
                (i, sys::gettid(), thread::tls_self_pointer())
            })
            .map_err(|e| format!("clone thread {i}: {e:?}"))?;
        handles.push(h);
    }
    let mut tids = Vec::with_capacity(N);
    let mut tls = Vec::with_capacity(N);
    for (i, h) in handles.into_iter().enumerate() {
        let spawned_tid = h.tid();
        let (j, tid, t) = h.join();
        ctx.check(i == j, || format!("thread {i} returned {j}"));
        ctx.check(tid == spawned_tid, || {
            format!("thread {i}: gettid {tid}, clone said {spawned_tid}")
        });
        tids.push(tid);
        tls.push(t);
    }
    ctx.check(MANY_COUNT.load(SeqCst) == N as u64, || {
        format!("{} of {N} threads ran", MANY_COUNT.load(SeqCst))
    });
    tids.sort_unstable();
    tids.dedup();
    ctx.check(tids.len() == N && !tids.contains(&main_tid), || {
        format!("thread ids not unique: {} distinct of {N}", tids.len())
    });
    ctx.check(tls.iter().all(|&t| t != 0 && t != main_tls), || {
        String::from("a clone thread's fs:[0] is not its own TCB (CLONE_SETTLS)")
    });
    tls.sort_unstable();
    tls.dedup();
    ctx.check(tls.len() == N, || {
        format!("only {} distinct TLS blocks", tls.len())
    });

    // Detached threads (handles dropped) run and free themselves.
    static DETACHED_RAN: AtomicU64 = AtomicU64::new(0);
    for _ in 0..100 {
        drop(thread::Builder::new().stack_size(64 * 1024).spawn(|| {
            DETACHED_RAN.fetch_add(1, SeqCst);
        }));
    }
    ctx.check(
        wait_until(Duration::from_secs(30), || DETACHED_RAN.load(SeqCst) == 100),
        || format!("{} of 100 detached threads ran", DETACHED_RAN.load(SeqCst)),
    );

    if !is_weft() {
        ctx.note("Linux: thread_create part not run");
        return Ok(());
    }
    // thread_create with kernel stacks: values through thread_exit / thread_join.
    MANY_COUNT.store(0, SeqCst);
    let mut wtids = Vec::with_capacity(N);
    for i in 0..N {
        // SAFETY: kernel-mapped stack, no TLS change.
        let tid = unsafe { wthread::create(raw_entry, i as u64, 0, 64 * 1024, 0, 0) }
            .map_err(|e| format!("thread_create {i}: {e:?}"))?;
        wtids.push(tid);
    }
    for (i, tid) in wtids.iter().enumerate() {
        match wthread::join(*tid) {
            Ok(v) => ctx.check(v == i as u64 * 3 + 1, || {
                format!("thread_join({tid}) value {v:#x}, expected {}", i * 3 + 1)
            }),
            Err(e) => ctx.check(false, || format!("thread_join({tid}): {e:?}")),
        };
    }
    ctx.check(MANY_COUNT.load(SeqCst) == N as u64, || {
        format!(
            "{} of {N} thread_create threads ran",
            MANY_COUNT.load(SeqCst)
        )
    });
    // A joined thread is gone.
    if let Some(&t) = wtids.first() {
        let r = wthread::join(t);
        ctx.check(r == Err(Errno::ESRCH), || {
            format!("second thread_join of {t}: {r:?}, expected ESRCH")
        });
    }
    // Names: thread_setname / thread_getname agree with PR_GET_NAME.
    wthread::setname(0, "utest-many").label("thread_setname")?;
    let mut name: wthread::NameBuf = [0; 16];
    let n = wthread::getname(0, &mut name).label("thread_getname")?;
    ctx.check(&name[..n] == b"utest-many", || {
        format!("thread_getname: {:?}", &name[..n])
    });
    let pr = sys::thread_name().label("PR_GET_NAME")?;
    ctx.check(sys::c_field(&pr) == b"utest-many", || {
        format!("PR_GET_NAME after thread_setname: {pr:?}")
    });
    let r = wthread::setname(0, "sixteen-chars-xx");
    ctx.check(r == Err(Errno::ERANGE), || {
        format!("thread_setname(16 bytes): {r:?}, expected ERANGE")
    });
    // Detached thread_create threads (handle dropped: thread_detach) run.
    static WDETACHED: AtomicU64 = AtomicU64::new(0);
    for _ in 0..20 {
        drop(wthread::spawn(|| WDETACHED.fetch_add(1, SeqCst)).label("wthread::spawn")?);
    }
    ctx.check(
        wait_until(Duration::from_secs(30), || WDETACHED.load(SeqCst) == 20),
        || {
            format!(
                "{} of 20 detached thread_create threads ran",
                WDETACHED.load(SeqCst)
            )
        },
    );
    // wthread::spawn: closures, own TLS blocks (THREAD_SETTLS).
    let hs: Vec<_> = (0..50)
        .map(|i| wthread::spawn(move || (i, thread::tls_self_pointer())))
        .collect::<Result<_, _>>()
        .label("wthread::spawn")?;
    let mut seen = Vec::new();
    for (i, h) in hs.into_iter().enumerate() {
        let (j, t) = h.join().label("wthread join")?;
        ctx.check(i == j && t != 0 && t != main_tls, || {
            format!("wthread {i}: ({j}, tls {t:#x})")
        });
        seen.push(t);
    }
    Ok(())
}

/// Marker words shared between the test process and the process that execs.
const EXEC_COUNTER: usize = 0;
const EXEC_PHASE: usize = 1;
const EXEC_ERR: usize = 2;

pub fn user_exec_kills_threads(ctx: &mut Ctx) -> Result<(), String> {
    let w = shared_words(3)?;
    let pid = crate::harness::fork_child(move || {
        let stop = AtomicBool::new(false);
        let stop: &'static AtomicBool = alloc::boxed::Box::leak(alloc::boxed::Box::new(stop));
        let mut workers = Vec::new();
        for _ in 0..3 {
            workers.push(thread::spawn(move || {
                let tid = sys::gettid();
                while !stop.load(Relaxed) {
                    w[EXEC_COUNTER].fetch_add(1, SeqCst);
                    thread::yield_now();
                }
                tid
            }));
        }
        if !wait_until(Duration::from_secs(10), || {
            w[EXEC_COUNTER].load(SeqCst) > 300
        }) {
            return 20;
        }
        let mut args: Vec<String> = Vec::new();
        args.push(String::from("utest"));
        args.push(String::from("--exec-helper"));
        args.push(sys::getpid().to_string());
        for h in &workers {
            args.push(h.tid().to_string());
        }
        // exec from a thread that is not the leader; its old tid must go too.
        let execer = thread::spawn(move || {
            args.push(sys::gettid().to_string());
            w[EXEC_PHASE].store(1, SeqCst);
            let e = process::exec(self_exe(), &args, &[] as &[&str]);
            w[EXEC_ERR].store(e.0 as u64, SeqCst);
            weft_rt::process::exit(21)
        });
        execer.join();
        for h in workers {
            h.join();
        }
        22
    })?;
    let phase = wait_until(Duration::from_secs(20), || w[EXEC_PHASE].load(SeqCst) == 1);
    ctx.check(phase, || String::from("the exec'ing thread never started"));
    // The counter must stop while the helper (the new image) is still running.
    let start = Instant::now();
    let mut last = w[EXEC_COUNTER].load(SeqCst);
    let mut stable = false;
    let mut status = None;
    while start.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(100));
        let now = w[EXEC_COUNTER].load(SeqCst);
        let (done, st) = process::wait(pid, weft_rt::abi::wait::WNOHANG).label("wait4(WNOHANG)")?;
        if done != 0 {
            status = Some(st);
            break;
        }
        if now == last {
            stable = true;
            break;
        }
        last = now;
    }
    let st = match status {
        Some(st) => st,
        None => wait_child(pid, Duration::from_secs(30))?,
    };
    match st {
        WaitStatus::Exited(0) => {
            ctx.check(stable, || {
                String::from("the old threads' counter did not stop while the new image ran")
            });
        }
        WaitStatus::Exited(10) => ctx.fail(String::from("new image: getpid() is not the old pid")),
        WaitStatus::Exited(11) => ctx.fail(String::from("new image: gettid() != getpid()")),
        WaitStatus::Exited(12) => ctx.fail(String::from("new image: an old thread id still exists in the group (tgkill(pid, old tid, 0) succeeded)")),
        WaitStatus::Exited(13) => ctx.fail(String::from("new image: bad helper arguments")),
        WaitStatus::Exited(20) => ctx.fail(String::from("worker threads never ran")),
        WaitStatus::Exited(21) => ctx.fail(format!("execve failed: {:?}", Errno(w[EXEC_ERR].load(SeqCst) as i32))),
        other => ctx.fail(format!("process ended with {other:?}")),
    }
    Ok(())
}

/// `utest --exec-helper <pid> <old tid>...`: runs as the new image of
/// user_exec_kills_threads. Checks and exits with a code (0 = fine).
pub fn exec_helper(args: &env::Args) -> i32 {
    let Some(pid) = args.get(2).and_then(|s| s.parse::<Pid>().ok()) else {
        return 13;
    };
    if sys::getpid() != pid {
        return 10;
    }
    if sys::gettid() != pid {
        return 11;
    }
    for i in 3..args.len() {
        let Some(tid) = args.get(i).and_then(|s| s.parse::<Pid>().ok()) else {
            return 13;
        };
        if tid != pid && sys::tgkill(pid, tid, 0) != Err(Errno::ESRCH) {
            return 12;
        }
    }
    // Stay a while so that the test can watch the old threads' counter.
    thread::sleep(Duration::from_millis(1500));
    0
}

static SPIN: AtomicU64 = AtomicU64::new(0);
static SPIN_STOP: AtomicBool = AtomicBool::new(false);

pub fn user_fork_from_thread(ctx: &mut Ctx) -> Result<(), String> {
    let main_tid = sys::gettid();
    let parent_pid = sys::getpid();
    let spinner = thread::spawn(|| {
        let tid = sys::gettid();
        while !SPIN_STOP.load(Relaxed) {
            SPIN.fetch_add(1, Relaxed);
            core::hint::spin_loop();
        }
        tid
    });
    let spinner_tid = spinner.tid();
    let forker = thread::spawn(move || -> Result<WaitStatus, String> {
        let my_tid = sys::gettid();
        match process::fork().label("fork from a thread")? {
            Fork::Child => {
                let mut bad = 0;
                if sys::gettid() != sys::getpid() || sys::getpid() == parent_pid {
                    bad |= 1;
                }
                if sys::getppid() != parent_pid {
                    bad |= 2;
                }
                for t in [main_tid, spinner_tid, my_tid] {
                    if sys::tgkill(sys::getpid(), t, 0) != Err(Errno::ESRCH) {
                        bad |= 4;
                    }
                }
                let a = SPIN.load(Relaxed);
                thread::sleep(Duration::from_millis(50));
                if SPIN.load(Relaxed) != a {
                    bad |= 8;
                }
                // The new process can allocate and make threads of its own.
                let v: Vec<u64> = (0..10_000).collect();
                let h = thread::spawn(move || v.iter().sum::<u64>());
                if h.join() != 10_000 * 9_999 / 2 {
                    bad |= 16;
                }
                weft_rt::process::exit(bad)
            }
            Fork::Parent(pid) => wait_child(pid, Duration::from_secs(30)),
        }
    });
    let st = forker.join();
    SPIN_STOP.store(true, Relaxed);
    spinner.join();
    match st? {
        WaitStatus::Exited(0) => {}
        WaitStatus::Exited(bad) => {
            ctx.check(bad & 1 == 0, || {
                String::from("child: gettid() != getpid() or pid not new")
            });
            ctx.check(bad & 2 == 0, || {
                String::from("child: getppid() is not the forking process")
            });
            ctx.check(bad & 4 == 0, || {
                String::from("child: a thread of the parent exists in the child")
            });
            ctx.check(bad & 8 == 0, || {
                String::from("child: the parent's spinning thread runs in the child")
            });
            ctx.check(bad & 16 == 0, || {
                String::from("child: thread spawn/join failed")
            });
        }
        other => ctx.fail(format!("child ended with {other:?}")),
    }
    Ok(())
}

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let frame = core::hint::black_box([depth; 24]);
    recurse(depth + 1).wrapping_add(frame[(depth % 24) as usize])
}

pub fn user_stack_guard(ctx: &mut Ctx) -> Result<(), String> {
    expect_signal(ctx, "thread overflowing its stack", SIGSEGV, || {
        let h = thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(|| recurse(0))
            .expect("spawn");
        h.join() as i32
    });
    Ok(())
}

static LIMIT_RELEASE: AtomicU32 = AtomicU32::new(0);

pub fn user_thread_limit(ctx: &mut Ctx) -> Result<(), String> {
    const CAP: usize = 100_000;
    if !is_weft() {
        let rl = sys::getrlimit(RLIMIT_NPROC).label("getrlimit(RLIMIT_NPROC)")?;
        if sys::geteuid() == 0 || rl.rlim_cur > 4096 {
            ctx.note(&format!(
                "Linux: RLIMIT_NPROC = {} (euid {}) is not a low enforced limit, not run",
                rl.rlim_cur as i64,
                sys::geteuid()
            ));
            return Ok(());
        }
    }
    LIMIT_RELEASE.store(0, SeqCst);
    let mut handles = Vec::new();
    let outcome = loop {
        if handles.len() >= CAP {
            break Err(format!("no limit: {CAP} threads created"));
        }
        let r = thread::Builder::new()
            .stack_size(thread::MIN_STACK_SIZE)
            .spawn(|| {
                let slice = Timespec {
                    tv_sec: 0,
                    tv_nsec: 100_000_000,
                };
                while LIMIT_RELEASE.load(SeqCst) == 0 {
                    let _ = sys::futex_wait(&LIMIT_RELEASE, 0, Some(&slice), true);
                }
            });
        match r {
            Ok(h) => handles.push(h),
            Err(Errno::EAGAIN) => break Ok(handles.len()),
            Err(e) => {
                break Err(format!(
                    "thread {}: {e:?} (expected EAGAIN at the limit)",
                    handles.len()
                ));
            }
        }
    };
    LIMIT_RELEASE.store(1, SeqCst);
    let _ = sys::futex_wake(&LIMIT_RELEASE, u32::MAX, true);
    let n = handles.len();
    for h in handles {
        h.join();
    }
    match outcome {
        Ok(count) => {
            // After the joins there is room again.
            let again = thread::Builder::new()
                .stack_size(thread::MIN_STACK_SIZE)
                .spawn(|| 5);
            ctx.check(again.is_ok(), || {
                format!(
                    "no thread after joining all {n}: {:?}",
                    again.as_ref().err()
                )
            });
            if let Ok(h) = again {
                h.join();
            }
            ctx.note(&format!("EAGAIN after {count} threads (+ the main thread)"));
        }
        Err(e) => ctx.fail(e),
    }
    Ok(())
}

static TS_STATE: AtomicU32 = AtomicU32::new(0);
static TS_COUNTER: AtomicU64 = AtomicU64::new(0);
static TS_GO: AtomicBool = AtomicBool::new(false);

pub fn user_tsuspend_tresume(ctx: &mut Ctx) -> Result<(), String> {
    if skip_on_linux(ctx) {
        return Ok(());
    }
    // 1. A thread suspends itself; it stays suspended until resumed.
    let h = wthread::spawn(|| {
        for _ in 0..1000 {
            TS_COUNTER.fetch_add(1, SeqCst);
        }
        TS_STATE.store(1, SeqCst);
        let r = wthread::tsuspend();
        TS_STATE.store(2, SeqCst);
        TS_COUNTER.fetch_add(1, SeqCst);
        r
    })
    .label("wthread::spawn")?;
    let tid = h.tid();
    ctx.check(
        wait_until(Duration::from_secs(10), || TS_STATE.load(SeqCst) == 1),
        || String::from("thread never got to tsuspend"),
    );
    thread::sleep(Duration::from_millis(20));
    let c1 = TS_COUNTER.load(SeqCst);
    thread::sleep(Duration::from_millis(300));
    ctx.check(
        TS_STATE.load(SeqCst) == 1 && TS_COUNTER.load(SeqCst) == c1,
        || String::from("suspended thread ran on without tresume"),
    );
    wthread::tresume(tid).label("tresume")?;
    ctx.check(
        wait_until(Duration::from_secs(10), || TS_STATE.load(SeqCst) == 2),
        || String::from("thread did not run after tresume"),
    );
    match h.join() {
        Ok(Ok(())) => {}
        other => ctx.fail(format!("join / tsuspend result: {other:?}")),
    }

    // 2. A resume that comes first is kept as a permit.
    TS_STATE.store(0, SeqCst);
    let h = wthread::spawn(|| {
        while !TS_GO.load(SeqCst) {
            thread::yield_now();
        }
        let r = wthread::tsuspend();
        TS_STATE.store(3, SeqCst);
        r
    })
    .label("wthread::spawn")?;
    wthread::tresume(h.tid()).label("early tresume")?;
    TS_GO.store(true, SeqCst);
    ctx.check(
        wait_until(Duration::from_secs(10), || TS_STATE.load(SeqCst) == 3),
        || String::from("tsuspend after an earlier tresume did not return (permit lost)"),
    );
    match h.join() {
        Ok(Ok(())) => {}
        other => ctx.fail(format!("join / tsuspend result (permit): {other:?}")),
    }

    // 3. Resuming oneself sets the permit; resuming nobody is ESRCH.
    wthread::tresume(sys::gettid()).label("tresume(self)")?;
    let t = Instant::now();
    wthread::tsuspend().label("tsuspend with a permit")?;
    ctx.check(t.elapsed() < Duration::from_secs(5), || {
        String::from("tsuspend with a permit blocked")
    });
    let r = wthread::tresume(0x3fff_fff0);
    ctx.check(r == Err(Errno::ESRCH), || {
        format!("tresume(no such thread): {r:?}, expected ESRCH")
    });
    Ok(())
}
