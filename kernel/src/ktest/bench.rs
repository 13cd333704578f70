//! In-guest benchmarks (`bench` on the command line): numbers only, never asserted.
//! Each prints `bench <name> <value> ns/op`, the median of several batches, timed
//! with the guest's own TSC clock (under `-icount shift=0` guest time counts
//! instructions, which makes the figures deterministic).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use weft_arch::{percpu, rawprintln, time};
use weft_sched::{CpuSet, Intent, WaitQueue};

use crate::task::kthread::{self, Options};
use crate::task::{self, KernelPlatform, Thread, sched};

const BATCHES: usize = 7;

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn report(name: &str, ns: u64) {
    rawprintln!("bench {name} {ns} ns/op");
}

/// Runs every benchmark.
pub fn run() {
    task::set_current_affinity(CpuSet::single(0)).ok();
    kthread_spawn_join();
    kswitch_same_cpu();
    kwakeup_cross_cpu();
    task::set_current_affinity(CpuSet::first_n(crate::smp::online_count())).ok();
}

fn kthread_spawn_join() {
    const N: u64 = 100;
    let mut samples = Vec::new();
    for _ in 0..BATCHES {
        let start = time::now_ns();
        for _ in 0..N {
            kthread::spawn("bench", || 0).join();
        }
        samples.push((time::now_ns() - start) / N);
        task::reap_all();
    }
    report("kthread_spawn_join", median(samples));
}

fn kswitch_same_cpu() {
    const N: u64 = 2000;
    let mut samples = Vec::new();
    for _ in 0..BATCHES {
        let go = Arc::new(AtomicBool::new(false));
        let mk = |go: Arc<AtomicBool>| {
            kthread::spawn_with(
                Options {
                    name: "pingpong",
                    affinity: Some(CpuSet::single(0)),
                    pinned: None,
                },
                move || {
                    while !go.load(Ordering::Acquire) {
                        task::yield_now();
                    }
                    for _ in 0..N {
                        task::yield_now();
                    }
                    0
                },
            )
            .unwrap()
        };
        let a = mk(go.clone());
        let b = mk(go.clone());
        // Let both reach their loop, then time the yields from this (other) CPU's view.
        task::set_current_affinity(CpuSet::single(percpu::cpu_count() - 1)).ok();
        let start = time::now_ns();
        go.store(true, Ordering::Release);
        a.join();
        b.join();
        samples.push((time::now_ns() - start) / (2 * N));
        task::set_current_affinity(CpuSet::single(0)).ok();
    }
    report("kswitch_same_cpu", median(samples));
}

struct Ping {
    flag: AtomicU64,
    woke_at: AtomicU64,
    wq: WaitQueue<Thread, KernelPlatform>,
}

fn kwakeup_cross_cpu() {
    let n = crate::smp::online_count();
    let target = if n >= 2 { 1 } else { 0 };
    const N: u64 = 200;
    let mut samples = Vec::new();
    for _ in 0..BATCHES {
        let p = Arc::new(Ping {
            flag: AtomicU64::new(0),
            woke_at: AtomicU64::new(0),
            wq: WaitQueue::new(),
        });
        let q = p.clone();
        let sleeper = kthread::spawn_with(
            Options {
                name: "sleeper",
                affinity: Some(CpuSet::single(target)),
                pinned: None,
            },
            move || {
                let me = task::current().unwrap();
                for i in 1..=N {
                    loop {
                        q.wq.prepare_to_wait(&me);
                        if q.flag.load(Ordering::Acquire) >= i {
                            break;
                        }
                        task::schedule(Intent::Sleep);
                    }
                    q.wq.finish_wait(&me);
                    q.woke_at.store(time::now_ns(), Ordering::Release);
                }
                0
            },
        )
        .unwrap();
        let mut lat = Vec::new();
        for i in 1..=N {
            // Wait until the sleeper is asleep on the queue again.
            while p.wq.is_empty() {
                core::hint::spin_loop();
            }
            let t0 = time::now_ns();
            p.woke_at.store(0, Ordering::Release);
            p.flag.store(i, Ordering::Release);
            p.wq.wake_one(sched(), percpu::cpu_id());
            let mut t1;
            loop {
                t1 = p.woke_at.load(Ordering::Acquire);
                if t1 != 0 {
                    break;
                }
                core::hint::spin_loop();
            }
            lat.push(t1.saturating_sub(t0));
        }
        sleeper.join();
        samples.push(median(lat));
    }
    report("kwakeup_cross_cpu", median(samples));
}
