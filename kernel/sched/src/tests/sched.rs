//! Single-threaded scheduler tests: the calling std thread plays whichever CPU a call
//! names, which makes every outcome deterministic.

use std::sync::Arc;

use crate::cpuset::CpuSet;
use crate::runqueue::TARGET_LATENCY_NS;
use crate::scheduler::{AffinityError, Intent, WakeResult};
use crate::testing::{Ent, irqs_enabled, set_current_cpu};
use crate::thread::{Schedulable, ThreadSched, ThreadState};

use super::{S, go_idle, running_on, same, sched_on, sleep_on};

// ---------------------------------------------------------------------------------
// Placement
// ---------------------------------------------------------------------------------

#[test]
fn placement_prefers_idle_previous_cpu() {
    let s = S::new(4);
    let e = running_on(&s, 1);
    sleep_on(&s, 1, &e); // cpu1 is now idle
    go_idle(&s, 3);
    assert_eq!(
        s.wake(&e, 0),
        WakeResult::Queued {
            cpu: 1,
            remote: true,
            ipi: true,
            resched: false
        }
    );
    assert!(!s.idle_cpus().contains(1), "the waker claims the idle CPU");
    assert!(s.has_work(1));
    assert!(
        s.handle_ipi(1),
        "an idle CPU that received a thread must reschedule"
    );
    let d = sched_on(&s, 1, 0, Intent::Preempt);
    assert!(same(&d.next, &e));
    assert_eq!(e.sched().stats().migrations, 0);
}

#[test]
fn placement_falls_back_to_another_idle_cpu() {
    let s = S::new(4);
    let e = running_on(&s, 1);
    sleep_on(&s, 1, &e);
    let _busy = running_on(&s, 1); // previous CPU busy again
    go_idle(&s, 3);
    assert!(matches!(
        s.wake(&e, 0),
        WakeResult::Queued {
            cpu: 3,
            remote: true,
            ipi: true,
            ..
        }
    ));
    let d = sched_on(&s, 3, 0, Intent::Preempt);
    assert!(same(&d.next, &e));
    assert_eq!(e.sched().cpu(), Some(3));
    assert_eq!(e.sched().stats().migrations, 1);
    assert_eq!(s.stats(3).migrations, 1);
}

#[test]
fn placement_spreads_a_burst_over_idle_cpus() {
    let s = S::new(4);
    for cpu in 1..4 {
        go_idle(&s, cpu);
    }
    let targets: Vec<usize> = (0..3)
        .map(|_| match s.add_new(Ent::new(), 0) {
            WakeResult::Queued { cpu, .. } => cpu,
            r => panic!("{r:?}"),
        })
        .collect();
    let mut sorted = targets.clone();
    sorted.sort();
    assert_eq!(sorted, [1, 2, 3], "each idle CPU is claimed once");
    // No idle CPU left: the waker's CPU.
    assert!(matches!(
        s.add_new(Ent::new(), 0),
        WakeResult::Queued {
            cpu: 0,
            remote: false,
            ..
        }
    ));
}

#[test]
fn placement_uses_waker_cpu_when_none_idle() {
    let s = S::new(4);
    let e = running_on(&s, 1);
    sleep_on(&s, 1, &e);
    let _b1 = running_on(&s, 1);
    let _b0 = running_on(&s, 0);
    let r = s.wake(&e, 0);
    assert!(
        matches!(
            r,
            WakeResult::Queued {
                cpu: 0,
                remote: false,
                ipi: false,
                ..
            }
        ),
        "{r:?}"
    );
    assert_eq!(s.nr_running(0), 2);
}

#[test]
fn placement_honours_affinity() {
    let s = S::new(4);
    let e = running_on(&s, 1);
    sleep_on(&s, 1, &e); // cpu1 idle, but not allowed
    go_idle(&s, 3); // idle, not allowed
    assert_eq!(s.set_affinity(&e, CpuSet::single(2), 0), Ok(None));
    assert!(matches!(
        s.wake(&e, 0),
        WakeResult::Queued {
            cpu: 2,
            remote: true,
            ..
        }
    ));
    let d = sched_on(&s, 2, 0, Intent::Preempt);
    assert!(same(&d.next, &e));

    // Allowed {2, 3}: the idle one of the two.
    let s = S::new(4);
    let e = running_on(&s, 1);
    sleep_on(&s, 1, &e);
    go_idle(&s, 3);
    s.set_affinity(&e, [2, 3].into_iter().collect(), 0).unwrap();
    assert!(matches!(s.wake(&e, 0), WakeResult::Queued { cpu: 3, .. }));

    // Waker not allowed, none idle: stays on its (busy, allowed) previous CPU.
    let s = S::new(4);
    let e = running_on(&s, 2);
    sleep_on(&s, 2, &e);
    let _b = running_on(&s, 2);
    s.set_affinity(&e, [1, 2].into_iter().collect(), 0).unwrap();
    assert!(matches!(
        s.wake(&e, 0),
        WakeResult::Queued {
            cpu: 2,
            remote: true,
            ..
        }
    ));
}

#[test]
fn remote_ipi_only_when_wake_list_was_empty() {
    let s = S::new(2);
    let _b = running_on(&s, 1);
    let ents: Vec<_> = (0..3)
        .map(|_| Ent::with_sched(ThreadSched::new_pinned(1)))
        .collect();
    let ipis: Vec<bool> = ents
        .iter()
        .map(|e| match s.add_new(e.clone(), 0) {
            WakeResult::Queued {
                cpu: 1,
                remote: true,
                ipi,
                ..
            } => ipi,
            r => panic!("{r:?}"),
        })
        .collect();
    assert_eq!(ipis, [true, false, false]);
    assert_eq!(s.stats(0).ipis_sent, 1);
    s.handle_ipi(1);
    assert_eq!(s.nr_running(1), 4);
    assert!(matches!(
        s.add_new(Ent::with_sched(ThreadSched::new_pinned(1)), 0),
        WakeResult::Queued { ipi: true, .. }
    ));
}

// ---------------------------------------------------------------------------------
// Wake protocol
// ---------------------------------------------------------------------------------

#[test]
fn wake_of_a_thread_that_is_not_blocked_is_a_no_op() {
    let s = S::new(2);
    let e = Ent::new();
    assert_eq!(s.wake(&e, 0), WakeResult::NotBlocked, "New");
    s.add_new(e.clone(), 0);
    assert_eq!(
        s.add_new(e.clone(), 0),
        WakeResult::NotBlocked,
        "added twice"
    );
    assert_eq!(s.wake(&e, 0), WakeResult::NotBlocked, "queued");
    let d = sched_on(&s, 0, 0, Intent::Preempt);
    assert!(same(&d.next, &e));
    assert_eq!(s.wake(&e, 1), WakeResult::NotBlocked, "running");
    let d = sched_on(&s, 0, 0, Intent::Exit);
    assert!(same(&d.prev, &e) && d.next.is_none());
    assert_eq!(e.sched().state(), ThreadState::Dead);
    assert_eq!(s.wake(&e, 0), WakeResult::NotBlocked, "dead");
    assert_eq!(s.nr_running(0), 0);
}

#[test]
fn wake_before_sleep_commits_cancels_the_sleep() {
    let s = S::new(2);
    let e = running_on(&s, 0);
    let other = Ent::new();
    s.add_new(other.clone(), 0);
    e.sched().prepare_sleep();
    assert_eq!(s.wake(&e, 1), WakeResult::Interrupted);
    assert_eq!(e.sched().state(), ThreadState::Runnable);
    // Its schedule(Sleep) does not sleep: it is requeued and stays runnable.
    let d = sched_on(&s, 0, 0, Intent::Sleep);
    assert!(same(&d.prev, &e));
    assert_eq!(e.sched().state(), ThreadState::Runnable);
    assert!(e.sched().on_rq() || same(&d.next, &e));
    assert_eq!(s.nr_running(0), 2);
}

#[test]
fn wake_racing_with_the_switch_targets_the_switching_cpu() {
    let s = S::new(4);
    let e = running_on(&s, 1);
    go_idle(&s, 3);
    // Sleep committed on cpu1, but the switch has not finished: e is still on_cpu.
    e.sched().prepare_sleep();
    let d = s.schedule(1, 0, Intent::Sleep);
    assert!(d.is_switch() && d.next.is_none());
    assert!(e.sched().on_cpu());
    // cpu3 is idle, yet only cpu1 may queue e now.
    assert!(matches!(
        s.wake(&e, 0),
        WakeResult::Queued {
            cpu: 1,
            remote: true,
            ..
        }
    ));
    assert!(s.idle_cpus().contains(3));
    s.finish_switch(1, d.prev.as_ref());
    let d = sched_on(&s, 1, 0, Intent::Preempt);
    assert!(same(&d.next, &e));
}

#[test]
fn sleeping_thread_that_is_woken_locally_preempts_an_idle_cpu() {
    let s = S::new(1);
    let e = running_on(&s, 0);
    sleep_on(&s, 0, &e);
    assert!(s.idle_cpus().contains(0));
    // Wake from "interrupt context" on the idle CPU itself.
    assert_eq!(
        s.wake(&e, 0),
        WakeResult::Queued {
            cpu: 0,
            remote: false,
            ipi: false,
            resched: true
        }
    );
    assert!(s.need_resched(0) && s.has_work(0));
    let d = sched_on(&s, 0, 0, Intent::Preempt);
    assert!(same(&d.next, &e));
    assert!(!s.need_resched(0));
}

// ---------------------------------------------------------------------------------
// schedule / tick / yield
// ---------------------------------------------------------------------------------

#[test]
fn schedule_round_robins_by_vruntime() {
    let s = S::new(1);
    let ents: Vec<_> = (0..3).map(|_| Ent::new()).collect();
    for e in &ents {
        s.add_new(e.clone(), 0);
    }
    let mut now = 0;
    let mut order = Vec::new();
    for _ in 0..6 {
        now += 1_000_000;
        let d = sched_on(&s, 0, now, Intent::Preempt);
        order.push(d.next.unwrap().id);
    }
    let ids: Vec<usize> = ents.iter().map(|e| e.id).collect();
    assert_eq!(order, [ids[0], ids[1], ids[2], ids[0], ids[1], ids[2]]);
    assert_eq!(s.stats(0).switches, 6);
    for e in &ents {
        assert_eq!(e.sched().stats().switches, 2);
    }
}

#[test]
fn tick_preempts_after_the_slice_only_when_others_wait() {
    let s = S::new(1);
    let _a = running_on(&s, 0);
    assert!(
        !s.tick(0, 100 * TARGET_LATENCY_NS),
        "alone: never preempted"
    );

    let s = S::new(1);
    let (a, b) = (Ent::new(), Ent::new());
    s.add_new(a.clone(), 0);
    s.add_new(b.clone(), 0);
    let d = sched_on(&s, 0, 0, Intent::Preempt);
    assert!(same(&d.next, &a));
    assert!(!s.tick(0, 1));
    assert!(!s.need_resched(0));
    // Two equal threads: the slice is half the target latency.
    assert!(s.tick(0, TARGET_LATENCY_NS / 2 + 1));
    assert!(s.need_resched(0));
    let d = sched_on(&s, 0, TARGET_LATENCY_NS / 2 + 2, Intent::Preempt);
    assert!(same(&d.prev, &a) && same(&d.next, &b));
}

#[test]
fn yield_lets_the_next_thread_run() {
    let s = S::new(1);
    let a = running_on(&s, 0);
    let b = Ent::new();
    s.add_new(b.clone(), 0);
    // a has run less than b's placement, yet yield hands over.
    let d = sched_on(&s, 0, 0, Intent::Yield);
    assert!(same(&d.prev, &a) && same(&d.next, &b));
    let d = s.yield_current(0, 0);
    assert!(same(&d.next, &a));
    s.finish_switch(0, d.prev.as_ref());
    // Alone, yield keeps running.
    let s = S::new(1);
    let a = running_on(&s, 0);
    let d = sched_on(&s, 0, 0, Intent::Yield);
    assert!(!d.is_switch() && same(&d.next, &a));
}

#[test]
fn idle_accounting_and_stats_line() {
    let s = S::new(1);
    sched_on(&s, 0, 0, Intent::Preempt); // idle from t=0
    let e = Ent::new();
    s.add_new(e.clone(), 0);
    sched_on(&s, 0, 3_000, Intent::Preempt); // 3 us idle, then e runs
    e.sched().prepare_sleep();
    sched_on(&s, 0, 4_000, Intent::Sleep); // 1 us busy
    s.tick(0, 4_000);
    let st = s.stats(0);
    assert_eq!((st.idle_ns, st.busy_ns), (3_000, 1_000));
    assert_eq!(st.switches, 2);
    assert_eq!(
        st.to_string(),
        "sched: cpu0 switches=2 steals=0 migrations=0 idle=75%"
    );
    assert_eq!(e.sched().stats().runtime_ns, 1_000);
}

// ---------------------------------------------------------------------------------
// Stealing and balancing
// ---------------------------------------------------------------------------------

/// cpu0 runs one thread and has `n` queued with increasing vruntimes.
fn loaded_cpu0(s: &S, n: usize, pinned: impl Fn(usize) -> bool) -> (Arc<Ent>, Vec<Arc<Ent>>) {
    let curr = running_on(s, 0);
    let queued: Vec<_> = (0..n)
        .map(|i| {
            let sched = if pinned(i) {
                ThreadSched::new_pinned(0)
            } else {
                ThreadSched::new()
            };
            let e = Ent::with_sched(sched);
            e.sched().set_vruntime(1_000 * (i as u64 + 1));
            assert!(matches!(
                s.add_new(e.clone(), 0),
                WakeResult::Queued { cpu: 0, .. }
            ));
            e
        })
        .collect();
    (curr, queued)
}

#[test]
fn steal_takes_half_the_imbalance_from_the_queue_end() {
    let s = S::new(2);
    let (_curr, queued) = loaded_cpu0(&s, 8, |_| false);
    assert_eq!(s.nr_running(0), 9);
    assert_eq!(s.steal(1), 4, "imbalance 9 - 0: move 4");
    assert_eq!((s.nr_running(0), s.nr_running(1)), (5, 4));
    for (i, e) in queued.iter().enumerate() {
        assert_eq!(
            e.sched().cpu(),
            Some(if i >= 4 { 1 } else { 0 }),
            "thread {i}"
        );
    }
    assert_eq!(s.stats(1).steals, 4);
    assert_eq!(s.stats(1).migrations, 4);
    assert_eq!(queued[7].sched().stats().migrations, 1);
    // Balanced (5 vs 4): nothing more to take.
    assert_eq!(s.steal(1), 0);
    // An idle CPU steals when it schedules with an empty queue.
    let s = S::new(2);
    let (_curr, queued) = loaded_cpu0(&s, 1, |_| false);
    let d = sched_on(&s, 1, 0, Intent::Preempt);
    assert!(same(&d.next, &queued[0]));
    assert_eq!(s.stats(1).steals, 1);
}

#[test]
fn steal_respects_affinity() {
    let s = S::new(2);
    // 8 queued, only two (indices 1 and 5) allowed on cpu1.
    let (_curr, queued) = loaded_cpu0(&s, 8, |i| i != 1 && i != 5);
    assert_eq!(s.steal(1), 2);
    assert_eq!(queued[1].sched().cpu(), Some(1));
    assert_eq!(queued[5].sched().cpu(), Some(1));
    assert_eq!(s.steal(1), 0, "the rest may not move");
}

#[test]
fn steal_skips_a_thread_whose_context_is_live() {
    let s = S::new(2);
    let a = running_on(&s, 0);
    let b = Ent::new();
    s.add_new(b.clone(), 0);
    // a is preempted but the switch has not finished: queued and on_cpu.
    let d = s.schedule(0, 10 * TARGET_LATENCY_NS, Intent::Preempt);
    assert!(same(&d.prev, &a) && same(&d.next, &b));
    assert!(a.sched().on_rq() && a.sched().on_cpu());
    assert_eq!(s.steal(1), 0);
    s.finish_switch(0, d.prev.as_ref());
    assert_eq!(s.steal(1), 1);
    assert_eq!(a.sched().cpu(), Some(1));
}

#[test]
fn steal_gives_up_when_the_victim_is_locked() {
    let s = S::new(2);
    let (_curr, _queued) = loaded_cpu0(&s, 4, |_| false);
    {
        let _held = s.hold_rq(0);
        assert_eq!(s.steal(1), 0, "try_lock on the victim fails: no waiting");
    }
    assert!(irqs_enabled());
    assert_eq!(s.steal(1), 2);
    // Same with the thief above the victim in the lock order.
    let s = S::new(3);
    let _c2 = running_on(&s, 2);
    for _ in 0..3 {
        s.add_new(Ent::new(), 2);
    }
    {
        let _held = s.hold_rq(2);
        assert_eq!(s.steal(0), 0);
    }
    assert_eq!(s.steal(0), 2);
}

#[test]
fn stolen_thread_keeps_its_lag() {
    let s = S::new(2);
    let (_curr, queued) = loaded_cpu0(&s, 2, |_| false);
    // cpu1 runs a thread for 300 ms: its floor is far above cpu0's (0).
    let f = running_on(&s, 1);
    sched_on(&s, 1, 50 * TARGET_LATENCY_NS, Intent::Preempt);
    let floor1 = f.sched().vruntime();
    assert_eq!(floor1, 50 * TARGET_LATENCY_NS);
    let last = &queued[1];
    let lag = last.sched().vruntime(); // relative to cpu0's floor of 0
    assert_eq!(s.steal(1), 1);
    assert_eq!(last.sched().cpu(), Some(1));
    assert_eq!(last.sched().vruntime(), floor1 + lag);
}

#[test]
fn balance_is_rate_limited() {
    let s = S::new(2);
    let (_curr, _queued) = loaded_cpu0(&s, 8, |_| false);
    let _b = running_on(&s, 1);
    assert_eq!(s.balance(1, 0), 4, "imbalance 9 - 1: move 4");
    for _ in 0..7 {
        s.add_new(Ent::new(), 0);
    }
    assert_eq!(s.balance(1, 1), 0, "interval not elapsed");
    assert!(s.balance(1, crate::scheduler::BALANCE_INTERVAL_NS) > 0);
}

// ---------------------------------------------------------------------------------
// Affinity
// ---------------------------------------------------------------------------------

#[test]
fn set_affinity_errors() {
    let s = S::new(2);
    let p = Ent::with_sched(ThreadSched::new_pinned(0));
    assert_eq!(
        s.set_affinity(&p, CpuSet::first_n(2), 0),
        Err(AffinityError::Pinned)
    );
    let e = Ent::new();
    assert_eq!(
        s.set_affinity(&e, CpuSet::single(5), 0),
        Err(AffinityError::NoOnlineCpu)
    );
    assert_eq!(
        s.set_affinity(&e, CpuSet::EMPTY, 0),
        Err(AffinityError::NoOnlineCpu)
    );
    assert_eq!(s.set_affinity(&e, CpuSet::single(1), 0), Ok(None));
    assert!(matches!(s.add_new(e, 0), WakeResult::Queued { cpu: 1, .. }));
}

#[test]
fn set_affinity_moves_a_queued_thread() {
    let s = S::new(2);
    let (_curr, queued) = loaded_cpu0(&s, 2, |_| false);
    let e = &queued[0];
    assert_eq!(s.set_affinity(e, CpuSet::single(1), 0), Ok(None));
    assert!(!e.sched().on_rq(), "taken off cpu0, on cpu1's wake list");
    assert!(s.has_work(1));
    let d = sched_on(&s, 1, 0, Intent::Preempt);
    assert!(same(&d.next, e));
    assert_eq!(e.sched().stats().migrations, 1);
}

#[test]
fn set_affinity_of_a_running_thread_kicks_its_cpu() {
    let s = S::new(2);
    let e = running_on(&s, 0);
    assert_eq!(s.set_affinity(&e, CpuSet::single(1), 1), Ok(Some(0)));
    assert!(s.need_resched(0));
    // cpu0 reschedules: e is not allowed there any more, and moves once switched out.
    let d = s.schedule(0, 0, Intent::Preempt);
    assert!(same(&d.prev, &e) && d.next.is_none());
    assert!(
        e.sched().on_rq(),
        "requeued locally while its context is live"
    );
    s.finish_switch(0, d.prev.as_ref());
    assert!(!e.sched().on_rq());
    let d = sched_on(&s, 1, 0, Intent::Preempt);
    assert!(same(&d.next, &e));
}

#[test]
fn affinity_change_racing_a_switch_is_not_lost() {
    // The thread is requeued on cpu0 with its context live, then its affinity
    // changes: set_affinity sees on_cpu and leaves it to finish_switch.
    let s = S::new(2);
    let a = running_on(&s, 0);
    let b = Ent::new();
    s.add_new(b.clone(), 0);
    let d = s.schedule(0, 10 * TARGET_LATENCY_NS, Intent::Preempt);
    assert!(same(&d.next, &b));
    assert_eq!(s.set_affinity(&a, CpuSet::single(1), 0), Ok(None));
    assert!(a.sched().on_rq());
    s.finish_switch(0, d.prev.as_ref());
    assert!(!a.sched().on_rq());
    assert!(s.has_work(1));
    let d = sched_on(&s, 1, 0, Intent::Preempt);
    assert!(same(&d.next, &a));
}

// ---------------------------------------------------------------------------------
// Preemption counter
// ---------------------------------------------------------------------------------

#[test]
fn preempt_counter_nests_and_reports_pending_resched() {
    let s = S::new(4);
    set_current_cpu(2);
    assert!(s.preemptible(2));
    s.preempt_disable();
    s.preempt_disable();
    assert_eq!(s.preempt_count(2), 2);
    assert!(!s.preemptible(2));
    assert_eq!(s.preempt_count(0), 0);
    s.kick(2, 2);
    assert!(s.need_resched(2));
    assert!(!s.preempt_enable(), "still disabled once");
    assert!(s.preempt_enable(), "dropped to zero with a resched pending");
    assert!(s.preemptible(2));
    assert!(irqs_enabled());
    s.preempt_disable();
    sched_on(&s, 2, 0, Intent::Preempt); // clears need_resched
    assert!(!s.preempt_enable());
    set_current_cpu(0);
}

#[test]
#[should_panic(expected = "preempt_enable without preempt_disable")]
fn unbalanced_preempt_enable_panics() {
    let s = S::new(1);
    set_current_cpu(0);
    s.preempt_enable();
}

#[test]
fn snapshot_shows_current_queue_and_wake_list() {
    let s = S::new(2);
    let a = running_on(&s, 0);
    let b = Ent::new();
    s.add_new(b.clone(), 0);
    let c = Ent::with_sched(ThreadSched::new_pinned(1));
    s.add_new(c.clone(), 0);
    let snap = s.snapshot_all();
    assert!(irqs_enabled());
    assert!(same(&snap[0].current, &a));
    assert!(snap[0].queued.len() == 1 && Arc::ptr_eq(&snap[0].queued[0], &b));
    assert!(snap[1].current.is_none() && snap[1].queued.is_empty());
    assert!(snap[1].wake_list.len() == 1 && Arc::ptr_eq(&snap[1].wake_list[0], &c));
    assert_eq!(s.current(0).map(|e| e.id), Some(a.id));
}

#[test]
fn tick_queues_remote_wakeups() {
    let s = S::new(3);
    let _a = running_on(&s, 0);
    let _b = running_on(&s, 2);
    let e = running_on(&s, 2);
    sleep_on(&s, 2, &e);
    s.set_affinity(&e, CpuSet::single(0), 1).unwrap();
    assert!(matches!(
        s.wake(&e, 1),
        WakeResult::Queued {
            cpu: 0,
            remote: true,
            ..
        }
    ));
    assert_eq!(s.snapshot_all()[0].wake_list.len(), 1);
    s.tick(0, 1000);
    assert_eq!(s.snapshot_all()[0].wake_list.len(), 0);
    assert_eq!(s.snapshot_all()[0].queued.len(), 1);
}
