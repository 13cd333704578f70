//! Scheduler tests: spreading, stealing, preemption, wait queues, sleeping,
//! thread churn, stack guards and affinity. They assert behaviour, never timings.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use weft_arch::{kprintln, percpu, time};
use weft_sched::{CpuSet, WaitQueue};

use super::Ctx;
use crate::check;
use crate::task::kthread::{self, JoinHandle, Options};
use crate::task::{self, KernelPlatform, Thread, sched};

fn ncpus() -> usize {
    crate::smp::online_count()
}

fn total_steals() -> u64 {
    (0..ncpus()).map(|c| sched().stats(c).steals).sum()
}

/// Spins for `ns` of wall time, recording every CPU it ran on into `seen`.
fn busy(ns: u64, seen: &AtomicU64) {
    let end = time::now_ns() + ns;
    while time::now_ns() < end {
        seen.fetch_or(1 << percpu::cpu_id(), Ordering::Relaxed);
        for _ in 0..200 {
            core::hint::spin_loop();
        }
    }
}

fn pin_self_to(cpu: usize) {
    task::set_current_affinity(CpuSet::single(cpu)).expect("pin to an online CPU");
}

fn unpin_self() {
    task::set_current_affinity(CpuSet::first_n(ncpus())).expect("unpin");
}

pub fn spread(_: &Ctx) -> Result<(), String> {
    let n = ncpus();
    pin_self_to(0);
    let seen = Arc::new(AtomicU64::new(0));
    let handles: Vec<JoinHandle> = (0..4 * n)
        .map(|_| {
            let s = seen.clone();
            kthread::spawn("spread", move || {
                busy(15_000_000, &s);
                0
            })
        })
        .collect();
    unpin_self();
    for h in handles {
        h.join();
    }
    let mask = seen.load(Ordering::Relaxed);
    let want = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
    check!(
        mask == want,
        "threads ran on CPU mask {mask:#x}, expected {want:#x}"
    );
    Ok(())
}

pub fn steal(_: &Ctx) -> Result<(), String> {
    let n = ncpus();
    if n < 2 {
        return Ok(()); // nothing to steal from with one CPU
    }
    let before = total_steals();
    pin_self_to(0);
    let seen = Arc::new(AtomicU64::new(0));
    // All of them are created on CPU 0; while its queue is long, the other CPUs
    // finish their own work, go idle, and must pull from it.
    let handles: Vec<JoinHandle> = (0..8 * n)
        .map(|_| {
            let s = seen.clone();
            kthread::spawn("steal", move || {
                busy(4_000_000, &s);
                0
            })
        })
        .collect();
    for h in handles {
        h.join();
    }
    unpin_self();
    let stolen = total_steals() - before;
    check!(
        stolen > 0,
        "no steals while {} threads queued on cpu0 and {} CPUs could help",
        8 * n,
        n - 1
    );
    kprintln!("sched_steal: {} steals", stolen);
    Ok(())
}

pub fn preempt(_: &Ctx) -> Result<(), String> {
    // The spinner never yields or sleeps; on the same CPU the workers (and at SMP=1
    // this test thread itself) only get to run through timer preemption.
    let cpu = ncpus() - 1;
    let stop = Arc::new(AtomicBool::new(false));
    let spinning = Arc::new(AtomicBool::new(false));
    let (st, sp) = (stop.clone(), spinning.clone());
    let spinner = kthread::spawn_with(
        Options {
            name: "spinner",
            affinity: Some(CpuSet::single(cpu)),
            pinned: None,
        },
        move || {
            sp.store(true, Ordering::Release);
            while !st.load(Ordering::Acquire) {
                core::hint::spin_loop();
            }
            0
        },
    )
    .unwrap();
    while !spinning.load(Ordering::Acquire) {
        task::yield_now();
    }
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<JoinHandle> = (0..3)
        .map(|i| {
            let d = done.clone();
            kthread::spawn_with(
                Options {
                    name: "worker",
                    affinity: Some(CpuSet::single(cpu)),
                    pinned: None,
                },
                move || {
                    let mut x = i as u64;
                    for _ in 0..200_000 {
                        x = core::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                    d.fetch_add(1, Ordering::AcqRel);
                    x & 1
                },
            )
            .unwrap()
        })
        .collect();
    for w in workers {
        w.join();
    }
    let finished = done.load(Ordering::Acquire);
    stop.store(true, Ordering::Release);
    spinner.join();
    check!(
        finished == 3,
        "only {finished} of 3 workers finished next to a spinning thread"
    );
    Ok(())
}

/// A one-slot channel between two threads built on wait queues.
struct Slot {
    value: AtomicU64, // 0 = empty
    not_empty: WaitQueue<Thread, KernelPlatform>,
    not_full: WaitQueue<Thread, KernelPlatform>,
    progress: AtomicU64,
}

fn wait_until(wq: &WaitQueue<Thread, KernelPlatform>, cond: impl Fn() -> bool) {
    let me = task::current().expect("thread");
    loop {
        wq.prepare_to_wait(&me);
        if cond() {
            break;
        }
        task::schedule(weft_sched::Intent::Sleep);
    }
    wq.finish_wait(&me);
}

pub fn waitqueue_stress(_: &Ctx) -> Result<(), String> {
    const N: u64 = 100_000;
    let n = ncpus();
    let (pc, cc) = if n >= 2 { (0, 1) } else { (0, 0) };
    let slot = Arc::new(Slot {
        value: AtomicU64::new(0),
        not_empty: WaitQueue::new(),
        not_full: WaitQueue::new(),
        progress: AtomicU64::new(0),
    });
    let s = slot.clone();
    let producer = kthread::spawn_with(
        Options {
            name: "producer",
            affinity: Some(CpuSet::single(pc)),
            pinned: None,
        },
        move || {
            for i in 1..=N {
                wait_until(&s.not_full, || s.value.load(Ordering::Acquire) == 0);
                s.value.store(i, Ordering::Release);
                s.not_empty.wake_one(sched(), percpu::cpu_id());
            }
            0
        },
    )
    .unwrap();
    let s = slot.clone();
    let errors = Arc::new(AtomicU64::new(0));
    let e = errors.clone();
    let consumer = kthread::spawn_with(
        Options {
            name: "consumer",
            affinity: Some(CpuSet::single(cc)),
            pinned: None,
        },
        move || {
            for i in 1..=N {
                wait_until(&s.not_empty, || s.value.load(Ordering::Acquire) != 0);
                if s.value.load(Ordering::Acquire) != i {
                    e.fetch_add(1, Ordering::Relaxed);
                }
                s.value.store(0, Ordering::Release);
                s.progress.store(i, Ordering::Release);
                s.not_full.wake_one(sched(), percpu::cpu_id());
            }
            0
        },
    )
    .unwrap();
    // Watchdog: a lost wakeup shows up as no progress at all for seconds.
    let mut last = 0;
    let mut stalled_ms = 0;
    while slot.progress.load(Ordering::Acquire) < N {
        task::sleep_ns(50_000_000);
        let p = slot.progress.load(Ordering::Acquire);
        if p == last {
            stalled_ms += 50;
            if stalled_ms >= 10_000 {
                return Err(alloc::format!(
                    "no progress for 10 s at handoff {p} of {N}: lost wakeup"
                ));
            }
        } else {
            stalled_ms = 0;
            last = p;
        }
    }
    producer.join();
    consumer.join();
    let errs = errors.load(Ordering::Relaxed);
    check!(errs == 0, "{errs} handoffs delivered out of order");
    Ok(())
}

pub fn sleep_timeout(_: &Ctx) -> Result<(), String> {
    let mut report = String::new();
    for ms in [1u64, 5, 20] {
        for _ in 0..3 {
            let start = time::now_ns();
            task::sleep_ns(ms * 1_000_000);
            let took = time::now_ns() - start;
            check!(
                took >= ms * 1_000_000,
                "sleep of {ms} ms returned after {took} ns"
            );
            report += &alloc::format!(" {}ms:+{}us", ms, (took - ms * 1_000_000) / 1000);
        }
    }
    kprintln!("sleep_timeout: lateness{}", report);
    Ok(())
}

/// Free frames (counting page tables and the frames of recycled thread stacks,
/// which are kept mapped for reuse) and heap bytes.
fn mem_snapshot() -> (u64, u64) {
    let s = weft_mm::stats();
    let cached = (weft_mm::cached_stacks() * weft_mm::CACHED_STACK_PAGES) as u64;
    (s.free_frames + s.page_table_frames + cached, s.heap_used)
}

pub fn kthread_churn(_: &Ctx) -> Result<(), String> {
    const TOTAL: usize = 10_000;
    const BATCH: usize = 64;
    const HEAP_SLACK: u64 = 2048;
    let run = |count: usize| {
        let counter = Arc::new(AtomicUsize::new(0));
        let mut left = count;
        while left > 0 {
            let k = left.min(BATCH);
            let hs: Vec<JoinHandle> = (0..k)
                .map(|_| {
                    let c = counter.clone();
                    kthread::spawn("churn", move || {
                        c.fetch_add(1, Ordering::Relaxed);
                        7
                    })
                })
                .collect();
            for h in hs {
                assert_eq!(h.join(), 7);
            }
            left -= k;
        }
        task::reap_all();
        counter.load(Ordering::Relaxed)
    };
    // Warm up with the same batch shape: run-queue, wake-list and timer buffers keep
    // the capacity they grew to (by design), so they must reach it before counting.
    let baseline = task::live_threads();
    for cpu in 0..ncpus() {
        let hs: Vec<JoinHandle> = (0..BATCH)
            .map(|_| {
                kthread::spawn_with(
                    Options {
                        name: "warm",
                        affinity: Some(CpuSet::single(cpu)),
                        pinned: None,
                    },
                    || 0,
                )
                .unwrap()
            })
            .collect();
        hs.into_iter().for_each(|h| {
            h.join();
        });
    }
    run(BATCH * 16);
    task::reap_until(baseline);
    let before = mem_snapshot();
    let ran = run(TOTAL);
    // A joined thread may still be finishing its last instructions: wait until every
    // thread object is gone before counting.
    task::reap_until(baseline);
    let after = mem_snapshot();
    check!(ran == TOTAL, "{ran} of {TOTAL} threads ran");
    check!(
        after.0 == before.0,
        "frames: {} before, {} after {TOTAL} threads",
        before.0,
        after.0
    );
    // Per-CPU scheduler buffers (wake lists, queue nodes) keep the capacity they grew
    // to, so the heap may end a few dozen bytes higher after a burst larger than any
    // before it. A leak of anything per thread would show up as at least TOTAL bytes.
    let grown = after.1.saturating_sub(before.1);
    check!(
        after.1 <= before.1 + HEAP_SLACK,
        "heap bytes: {} before, {} after {TOTAL} threads ({grown} more; a per-thread leak)",
        before.1,
        after.1
    );
    Ok(())
}

#[inline(never)]
#[allow(unconditional_recursion)] // the point: run into the guard page
fn recurse(depth: u64) -> u64 {
    let mut buf = [0u8; 256];
    buf[(depth % 256) as usize] = depth as u8;
    let buf = core::hint::black_box(buf);
    recurse(depth + 1).wrapping_add(buf[(depth % 7) as usize] as u64)
}

pub fn kstack_guard(_: &Ctx) -> Result<(), String> {
    let h = kthread::spawn("overflow", || recurse(0));
    let v = h.join();
    check!(
        v == kthread::EXIT_STACK_OVERFLOW,
        "overflowing thread ended with {v:#x}, not the stack-overflow status"
    );
    // The machine is fine afterwards: another thread runs and exits normally.
    let v = kthread::spawn("after", || 42).join();
    check!(v == 42, "thread after the overflow returned {v}");
    Ok(())
}

pub fn affinity(_: &Ctx) -> Result<(), String> {
    let n = ncpus();
    for target in [n - 1, 0] {
        let seen = Arc::new(AtomicU64::new(0));
        let s = seen.clone();
        let h = kthread::spawn_with(
            Options {
                name: "pinned",
                affinity: Some(CpuSet::single(target)),
                pinned: None,
            },
            move || {
                for _ in 0..20 {
                    busy(500_000, &s);
                    task::yield_now();
                }
                0
            },
        )
        .unwrap();
        h.join();
        let mask = seen.load(Ordering::Relaxed);
        check!(
            mask == 1 << target,
            "thread pinned to cpu{target} ran on mask {mask:#x}"
        );
    }
    // Moving a running thread: it must end up on the new CPU and stay there.
    if n >= 2 {
        let moved = Arc::new(AtomicBool::new(false));
        let seen_after = Arc::new(AtomicU64::new(0));
        let (m, s) = (moved.clone(), seen_after.clone());
        let h = kthread::spawn_with(
            Options {
                name: "mover",
                affinity: Some(CpuSet::single(0)),
                pinned: None,
            },
            move || {
                while !m.load(Ordering::Acquire) {
                    task::yield_now();
                }
                task::yield_now();
                busy(2_000_000, &s);
                0
            },
        )
        .unwrap();
        sched()
            .set_affinity(h.thread(), CpuSet::single(1), percpu::cpu_id())
            .map_err(|e| alloc::format!("set_affinity: {e}"))?;
        moved.store(true, Ordering::Release);
        h.join();
        let mask = seen_after.load(Ordering::Relaxed);
        check!(
            mask == 1 << 1,
            "thread moved to cpu1 ran on mask {mask:#x} afterwards"
        );
    }
    Ok(())
}
