//! `ubench`: user-space benchmarks of system calls, futexes, threads and
//! weft-sync, the same static binary on Weft and natively on Linux.
//!
//! ```text
//! ubench            run every benchmark
//! ubench FILTER     run the benchmarks whose name contains FILTER
//! ```
//!
//! Output: one `bench <name> <value> ns/op` line per benchmark, the median of
//! [`BATCHES`] batches timed with `CLOCK_MONOTONIC`; then two information lines
//! comparing the measured values with the seed's goals (never asserted):
//! `goal futex_uncontended < 500 ns: ...` (from `futex_wake_nowaiter`) and
//! `goal thread_create < 50000 ns: ...` (from `thread_create_join`). Other lines
//! start with `ubench:` (header, notes, skips).
//!
//! Iteration counts adapt: a batch is sized to take about [`BATCH_TIME`] on the
//! clock, so the whole run takes a few seconds wherever it runs (natively, or under
//! QEMU TCG, 10-50 times slower). Exit status 0 (the figures are information).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::hint::black_box;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::*};
use core::time::Duration;

use weft_rt::abi::sched::CpuSet;
use weft_rt::env::Args;
use weft_rt::time::Instant;
use weft_rt::{println, sys, thread, wthread};
use weft_sync::thread::{clone_thread, wait_tid};
use weft_sync::{Barrier, Mutex, Semaphore};

weft_rt::entry!(main);

/// Batches per benchmark (the median is reported).
const BATCHES: usize = 7;
/// Target duration of one batch.
const BATCH_TIME: Duration = Duration::from_millis(30);
/// Most iterations in one batch.
const MAX_ITERS: u64 = 1 << 26;

/// Sizes a batch to about [`BATCH_TIME`], then runs [`BATCHES`] batches;
/// `batch(n)` runs `n` iterations and returns how long they took. The median
/// time per iteration in ns.
fn measure(mut batch: impl FnMut(u64) -> Duration) -> f64 {
    let mut n = 1u64;
    loop {
        let d = batch(n);
        if d >= BATCH_TIME / 2 || n >= MAX_ITERS {
            break;
        }
        let scale = if d.is_zero() {
            16
        } else {
            (BATCH_TIME.as_nanos() / d.as_nanos()).clamp(2, 16) as u64
        };
        n = (n * scale).min(MAX_ITERS);
    }
    let mut samples: Vec<f64> = (0..BATCHES)
        .map(|_| batch(n).as_nanos() as f64 / n as f64)
        .collect();
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap_or(core::cmp::Ordering::Equal));
    samples[samples.len() / 2]
}

/// Times `n` calls of `f`.
fn timed(n: u64, mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed()
}

struct Runner<'a> {
    filter: Option<&'a str>,
    results: Vec<(&'static str, f64)>,
}

impl Runner<'_> {
    fn wants(&self, name: &str) -> bool {
        self.filter.is_none_or(|f| name.contains(f))
    }

    fn run(&mut self, name: &'static str, f: impl FnOnce() -> f64) {
        if self.wants(name) {
            let v = f();
            println!("bench {name} {v:.1} ns/op");
            self.results.push((name, v));
        }
    }

    fn get(&self, name: &str) -> Option<f64> {
        self.results.iter().find(|(n, _)| *n == name).map(|r| r.1)
    }
}

fn main(args: Args) -> i32 {
    let started = Instant::now();
    let weft = weft_rt::is_weft();
    let saved = sys::sched_getaffinity(0).unwrap_or_default();
    let cpus: Vec<usize> = thread::allowed_cpus();
    let ncpu = cpus.len().max(1);
    println!(
        "ubench: {} with {ncpu} CPU(s); median of {BATCHES} batches of ~{} ms",
        if weft { "Weft" } else { "Linux" },
        BATCH_TIME.as_millis()
    );
    let mut r = Runner {
        filter: args.get(1),
        results: Vec::new(),
    };
    let word = AtomicU32::new(0);

    r.run("null_syscall", || {
        measure(|n| {
            timed(n, || {
                black_box(sys::getppid());
            })
        })
    });
    r.run("futex_wake_nowaiter", || {
        measure(|n| {
            timed(n, || {
                let _ = black_box(sys::futex_wake(&word, 1, true));
            })
        })
    });
    r.run("futex_wait_eagain", || {
        measure(|n| {
            timed(n, || {
                let _ = black_box(sys::futex_wait(&word, 1, None, true));
            })
        })
    });
    let first = cpus.first().copied().unwrap_or(0);
    r.run("futex_pingpong_same_cpu", || pingpong(first, first, &saved));
    if cpus.len() >= 2 {
        r.run("futex_pingpong_cross_cpu", || {
            pingpong(cpus[0], cpus[1], &saved)
        });
    } else if r.wants("futex_pingpong_cross_cpu") {
        println!("ubench: futex_pingpong_cross_cpu skipped: only 1 CPU");
    }
    r.run("sched_yield", || measure(|n| timed(n, sys::sched_yield)));
    if weft {
        r.run("thread_create_join", thread_create_join);
    } else if r.wants("thread_create_join") {
        println!(
            "ubench: note: Linux has no thread_create: thread_create_join is clone + join \
             (weft_rt::thread::spawn, with its stack mapping) there"
        );
        r.run("thread_create_join", || {
            measure(|n| {
                timed(n, || {
                    thread::Builder::new()
                        .stack_size(16 * 1024)
                        .spawn(|| ())
                        .expect("clone")
                        .join()
                })
            })
        });
    }
    r.run("clone_exit_wait", clone_exit_wait);
    r.run("mutex_uncontended", || {
        let m = Mutex::new(0u64);
        measure(|n| {
            timed(n, || {
                *black_box(&m).lock() += 1;
            })
        })
    });
    r.run("mutex_contended", || mutex_contended(ncpu));
    r.run("semaphore_pingpong", semaphore_pingpong);

    let show = |v: Option<f64>, from: &str| match v {
        Some(v) => alloc::format!("{v:.1} ns ({from})"),
        None => alloc::format!("not measured ({from} filtered out)"),
    };
    println!(
        "goal futex_uncontended < 500 ns: {}",
        show(r.get("futex_wake_nowaiter"), "futex_wake_nowaiter")
    );
    println!(
        "goal thread_create < 50000 ns: {}",
        show(r.get("thread_create_join"), "thread_create_join")
    );
    run_sigbench(&args, r.filter);
    println!("ubench: done in {} ms", started.elapsed().as_millis());
    0
}

/// The signal benchmarks are a plain POSIX C program (`sigbench`, next to this
/// one): run it with the same filter; its `bench` lines join ours.
fn run_sigbench(args: &Args, filter: Option<&str>) {
    let me = args.get(0).unwrap_or("/bin/ubench");
    let dir = me.rsplit_once('/').map_or(".", |(d, _)| d);
    let path = alloc::format!("{dir}/sigbench");
    let mut argv = Vec::from([path.as_str()]);
    if let Some(f) = filter {
        argv.push(f);
    }
    let a = weft_rt::process::CStrArray::new(&argv);
    let e = weft_rt::process::CStrArray::new(&["PATH=/bin"]);
    match weft_rt::process::fork() {
        Ok(weft_rt::process::Fork::Child) => {
            // SAFETY: well-formed, NUL-terminated arrays built before the fork.
            unsafe { sys::execve(a.entry(0), a.as_ptr(), e.as_ptr()) };
            println!("ubench: {path} not found: no signal benchmarks");
            sys::exit_group(0)
        }
        Ok(weft_rt::process::Fork::Parent(pid)) => {
            let _ = weft_rt::process::wait(pid, 0);
        }
        Err(e) => println!("ubench: fork for sigbench failed: {e:?}"),
    }
}

struct PingPong {
    ping: AtomicU32,
    pong: AtomicU32,
}

const STOP: u32 = u32::MAX;

/// Round trip of two threads pinned to `cpu_main` / `cpu_helper` handing a token
/// back and forth with `FUTEX_WAKE` / `FUTEX_WAIT` (private).
fn pingpong(cpu_main: usize, cpu_helper: usize, saved: &CpuSet) -> f64 {
    let pp = Arc::new(PingPong {
        ping: AtomicU32::new(0),
        pong: AtomicU32::new(0),
    });
    let theirs = pp.clone();
    let h = thread::spawn(move || {
        let _ = thread::pin_to_cpu(cpu_helper);
        let mut last = 0;
        loop {
            let v = theirs.ping.load(Acquire);
            if v == last {
                let _ = sys::futex_wait(&theirs.ping, v, None, true);
                continue;
            }
            if v == STOP {
                break;
            }
            last = v;
            theirs.pong.store(v, Release);
            let _ = sys::futex_wake(&theirs.pong, 1, true);
        }
    });
    let _ = thread::pin_to_cpu(cpu_main);
    let mut seq = 0u32;
    let v = measure(|n| {
        let t = Instant::now();
        for _ in 0..n {
            seq += 1;
            pp.ping.store(seq, Release);
            let _ = sys::futex_wake(&pp.ping, 1, true);
            loop {
                let v = pp.pong.load(Acquire);
                if v == seq {
                    break;
                }
                let _ = sys::futex_wait(&pp.pong, v, None, true);
            }
        }
        t.elapsed()
    });
    pp.ping.store(STOP, Release);
    let _ = sys::futex_wake(&pp.ping, 1, true);
    h.join();
    let _ = sys::sched_setaffinity(0, saved);
    v
}

extern "C" fn wthread_exit_now(_: u64) -> ! {
    wthread::exit(0)
}

/// `thread_create` (kernel-mapped default stack) + `thread_join` (Weft only).
fn thread_create_join() -> f64 {
    measure(|n| {
        timed(n, || {
            // SAFETY: a kernel stack; the entry only calls thread_exit.
            let tid =
                unsafe { wthread::create(wthread_exit_now, 0, 0, 0, 0, 0) }.expect("thread_create");
            wthread::join_discard(tid).expect("thread_join");
        })
    })
}

extern "C" fn exit_now(_: usize) -> ! {
    sys::exit(0)
}

/// A bare `clone` on a reused stack whose thread exits at once, joined by
/// `FUTEX_WAIT` on its clear-child-tid word.
fn clone_exit_wait() -> f64 {
    const STACK: usize = 64 * 1024;
    let stack = sys::mmap_anon(STACK).expect("mmap stack");
    let top = stack as usize + STACK;
    let tid = AtomicU32::new(0);
    let v = measure(|n| {
        timed(n, || {
            // SAFETY: the stack is ours and free again once the previous thread's
            // tid word read 0; the entry only calls exit and uses no TLS.
            unsafe { clone_thread(top, exit_now, 0, &tid, 0) }.expect("clone");
            wait_tid(&tid);
        })
    });
    // SAFETY: no thread uses the stack any more.
    let _ = unsafe { sys::munmap(stack, STACK) };
    v
}

struct Contended {
    m: Mutex<u64>,
    start: Barrier,
    end: Barrier,
    n: AtomicU64,
    stop: AtomicBool,
}

/// One thread per CPU (the main thread one of them) doing lock / increment /
/// unlock on one weft-sync `Mutex`; ns per lock-unlock pair over all threads.
fn mutex_contended(ncpu: usize) -> f64 {
    let s = Arc::new(Contended {
        m: Mutex::new(0),
        start: Barrier::new(ncpu as u32),
        end: Barrier::new(ncpu as u32),
        n: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let workers: Vec<_> = (1..ncpu)
        .map(|_| {
            let s = s.clone();
            thread::spawn(move || {
                loop {
                    s.start.wait();
                    if s.stop.load(Acquire) {
                        break;
                    }
                    for _ in 0..s.n.load(Acquire) {
                        *s.m.lock() += 1;
                    }
                    s.end.wait();
                }
            })
        })
        .collect();
    let per_thread = measure(|n| {
        s.n.store(n, Release);
        s.start.wait();
        let t = Instant::now();
        for _ in 0..n {
            *s.m.lock() += 1;
        }
        s.end.wait();
        t.elapsed()
    });
    s.stop.store(true, Release);
    s.start.wait();
    for w in workers {
        w.join();
    }
    per_thread / ncpu as f64
}

/// Round trip of two threads through two weft-sync semaphores.
fn semaphore_pingpong() -> f64 {
    let s = Arc::new((Semaphore::new(0), Semaphore::new(0), AtomicBool::new(false)));
    let theirs = s.clone();
    let h = thread::spawn(move || {
        let (ping, pong, stop) = &*theirs;
        loop {
            ping.acquire();
            if stop.load(Acquire) {
                break;
            }
            pong.release();
        }
    });
    let (ping, pong, stop) = &*s;
    let v = measure(|n| {
        timed(n, || {
            ping.release();
            pong.acquire();
        })
    });
    stop.store(true, Release);
    ping.release();
    h.join();
    v
}
