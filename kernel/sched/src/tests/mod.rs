//! Scheduler tests that need more than one module: placement, stealing, affinity,
//! preemption, wait queues, and the multi-threaded stress runs.

use std::sync::Arc;

use crate::scheduler::{Intent, Scheduler, SwitchDecision, WakeResult};
use crate::testing::{Ent, HostPlatform, irqs_enabled};
use crate::thread::{Schedulable, ThreadState};

mod sched;
mod stress;
mod wait;

pub(super) type S = Scheduler<Ent, HostPlatform>;

pub(super) fn same(a: &Option<Arc<Ent>>, b: &Arc<Ent>) -> bool {
    a.as_ref().is_some_and(|a| Arc::ptr_eq(a, b))
}

/// Runs `schedule` on `cpu` and completes the switch like the kernel would.
pub(super) fn sched_on(s: &S, cpu: usize, now: u64, intent: Intent) -> SwitchDecision<Ent> {
    let d = s.schedule(cpu, now, intent);
    if d.is_switch() {
        s.finish_switch(cpu, d.prev.as_ref());
    }
    assert!(irqs_enabled());
    d
}

/// Makes `cpu` idle (nothing to run: it marks itself idle).
pub(super) fn go_idle(s: &S, cpu: usize) {
    let d = sched_on(s, cpu, 0, Intent::Preempt);
    assert!(d.next.is_none(), "cpu{cpu} still has work");
    assert!(s.idle_cpus().contains(cpu));
}

/// A new thread that `cpu` is running.
pub(super) fn running_on(s: &S, cpu: usize) -> Arc<Ent> {
    let e = Ent::new();
    assert!(
        matches!(s.add_new(e.clone(), cpu), WakeResult::Queued { cpu: c, remote: false, .. } if c == cpu)
    );
    let d = sched_on(s, cpu, 0, Intent::Preempt);
    assert!(same(&d.next, &e));
    e
}

/// Puts the thread running on `cpu` to sleep (a committed sleep, switch finished).
pub(super) fn sleep_on(s: &S, cpu: usize, e: &Arc<Ent>) {
    e.sched().prepare_sleep();
    let d = sched_on(s, cpu, 0, Intent::Sleep);
    assert!(same(&d.prev, e));
    assert_eq!(e.sched().state(), ThreadState::Blocked);
    assert!(!e.sched().on_cpu() && !e.sched().on_rq());
}
