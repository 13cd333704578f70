//! Wait queues and completions: the protocol step by step, then real races between
//! std threads that block (on a doorbell standing in for `hlt` + IPI).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use super::{S, running_on, same, sched_on};
use crate::scheduler::{Intent, Scheduler, WakeResult};
use crate::testing::{DoorbellPlatform, Ent, HostPlatform, set_current_cpu};
use crate::thread::{Schedulable, ThreadSched, ThreadState};
use crate::waitqueue::{Completion, WaitQueue};

type Wq = WaitQueue<Ent, HostPlatform>;

#[test]
fn wake_between_prepare_and_sleep_cancels_the_sleep() {
    let s = S::new(2);
    let wq = Wq::new();
    let e = running_on(&s, 0);
    wq.prepare_to_wait(&e);
    assert_eq!((wq.len(), e.sched().state()), (1, ThreadState::Blocking));
    assert!(wq.wake_one(&s, 1));
    assert_eq!((wq.len(), e.sched().state()), (0, ThreadState::Runnable));
    // The condition check missed the wakeup, but schedule(Sleep) does not sleep.
    let d = sched_on(&s, 0, 0, Intent::Sleep);
    assert!(!d.is_switch() && same(&d.next, &e));
    wq.finish_wait(&e);
    assert_eq!(e.sched().state(), ThreadState::Runnable);
}

#[test]
fn committed_sleep_is_ended_by_wake_one() {
    let s = S::new(1);
    let wq = Wq::new();
    let e = running_on(&s, 0);
    wq.prepare_to_wait(&e);
    let d = sched_on(&s, 0, 0, Intent::Sleep);
    assert!(d.next.is_none());
    assert_eq!(e.sched().state(), ThreadState::Blocked);
    assert!(wq.wake_one(&s, 0));
    assert!(!wq.wake_one(&s, 0), "nobody left");
    let d = sched_on(&s, 0, 0, Intent::Preempt);
    assert!(same(&d.next, &e));
    wq.finish_wait(&e);
    // Condition already true: prepare + finish without sleeping leaves no trace.
    wq.prepare_to_wait(&e);
    wq.prepare_to_wait(&e); // a second prepare in the same wait does not link twice
    assert_eq!(wq.len(), 1);
    wq.finish_wait(&e);
    assert!(wq.is_empty());
    assert_eq!(e.sched().state(), ThreadState::Runnable);
}

#[test]
fn wake_one_skips_waiters_that_are_already_awake() {
    let s = S::new(2);
    let wq = Wq::new();
    let e = running_on(&s, 0);
    let f = Ent::new();
    s.add_new(f.clone(), 0);
    // f announced a wait on wq, then was woken by something else (a signal).
    wq.prepare_to_wait(&f);
    assert_eq!(s.wake(&f, 1), WakeResult::Interrupted);
    // e sleeps on wq behind f.
    wq.prepare_to_wait(&e);
    let d = sched_on(&s, 0, 0, Intent::Sleep);
    assert!(same(&d.prev, &e) && same(&d.next, &f));
    assert_eq!(wq.len(), 2);
    // One wakeup: f cannot use it, so it must reach e.
    assert!(wq.wake_one(&s, 1));
    assert_eq!(e.sched().state(), ThreadState::Runnable);
    assert!(wq.is_empty());
    wq.finish_wait(&f); // f unlinked by the waker already: nothing to do
}

#[test]
fn wake_all_counts_real_wakeups() {
    let s = S::new(1);
    let wq = Wq::new();
    let sleepers: Vec<_> = (0..3).map(|_| Ent::new()).collect();
    for e in &sleepers {
        s.add_new(e.clone(), 0);
        let d = sched_on(&s, 0, 0, Intent::Preempt);
        assert!(same(&d.next, e));
        wq.prepare_to_wait(e);
        let d = sched_on(&s, 0, 0, Intent::Sleep);
        assert!(same(&d.prev, e));
    }
    let awake = running_on(&s, 0);
    wq.prepare_to_wait(&awake);
    awake.sched().cancel_sleep();
    assert_eq!(wq.len(), 4);
    assert_eq!(wq.wake_all(&s, 0), 3);
    assert!(wq.is_empty());
    assert_eq!(s.nr_running(0), 4);
}

#[test]
fn completion_single_cpu() {
    let s = S::new(1);
    let c: Completion<Ent, HostPlatform> = Completion::new();
    let e = running_on(&s, 0);
    assert!(!c.prepare_to_wait(&e));
    let d = sched_on(&s, 0, 0, Intent::Sleep);
    assert!(d.next.is_none());
    assert_eq!(c.complete(&s, 0), 1);
    assert!(c.is_complete());
    let d = sched_on(&s, 0, 0, Intent::Preempt);
    assert!(same(&d.next, &e));
    assert!(c.prepare_to_wait(&e), "done: returns at once");
    assert!(c.prepare_to_wait(&e), "stays done");
    assert_eq!(e.sched().state(), ThreadState::Runnable);
    // Abandoning a wait.
    let c2: Completion<Ent, HostPlatform> = Completion::new();
    assert!(!c2.prepare_to_wait(&e));
    c2.cancel_wait(&e);
    assert_eq!(e.sched().state(), ThreadState::Runnable);
    assert_eq!(c2.complete(&s, 0), 0);
}

// ---------------------------------------------------------------------------------
// Blocking races
// ---------------------------------------------------------------------------------

/// A "CPU" std thread running one thread pinned to it. `block` puts the thread to
/// sleep with `schedule(Sleep)` and, if the CPU went idle, halts on the doorbell
/// until the thread is runnable again, exactly like the kernel's idle loop.
struct PinnedCpu<'a, const SLOT: usize> {
    sched: &'a Scheduler<Ent, DoorbellPlatform<SLOT>>,
    cpu: usize,
    me: Arc<Ent>,
    now: u64,
}

impl<'a, const SLOT: usize> PinnedCpu<'a, SLOT> {
    fn start(sched: &'a Scheduler<Ent, DoorbellPlatform<SLOT>>, cpu: usize) -> Self {
        set_current_cpu(cpu);
        let me = Ent::with_sched(ThreadSched::new_pinned(cpu));
        assert!(matches!(
            sched.add_new(me.clone(), cpu),
            WakeResult::Queued { remote: false, .. }
        ));
        let d = sched.schedule(cpu, 0, Intent::Preempt);
        assert!(d.prev.is_none() && d.next.as_ref().is_some_and(|n| Arc::ptr_eq(n, &me)));
        sched.finish_switch(cpu, None);
        PinnedCpu {
            sched,
            cpu,
            me,
            now: 0,
        }
    }

    /// `schedule(Sleep)` for the current thread; returns once it runs again.
    fn block(&mut self) {
        self.now += 1_000;
        let d = self.sched.schedule(self.cpu, self.now, Intent::Sleep);
        if !d.is_switch() {
            return; // woken before the sleep committed
        }
        assert!(d.next.is_none(), "only this thread may run here");
        self.sched.finish_switch(self.cpu, d.prev.as_ref());
        // The idle loop: with "interrupts off", check for work, else halt.
        loop {
            if self.sched.has_work(self.cpu) {
                self.now += 1_000;
                let d = self.sched.schedule(self.cpu, self.now, Intent::Preempt);
                if let Some(n) = &d.next {
                    assert!(Arc::ptr_eq(n, &self.me));
                    self.sched.finish_switch(self.cpu, None);
                    return;
                }
            } else {
                DoorbellPlatform::<SLOT>::doorbell(self.cpu).wait("lost wakeup");
            }
        }
    }
}

fn take_token(tokens: &AtomicUsize) -> bool {
    tokens
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| t.checked_sub(1))
        .is_ok()
}

#[test]
fn no_lost_wakeup_when_wake_races_prepare_to_wait() {
    // Consumers sleep on a wait queue until a token is available; producers add a
    // token and wake one consumer. Every consumer runs on its own CPU and really
    // blocks; a lost wakeup leaves tokens unconsumed and a consumer halted forever.
    const WAITERS: usize = 3;
    const WAKERS: usize = 2;
    const TOKENS_PER_WAKER: usize = 4_000;
    type P = DoorbellPlatform<0>;
    let sched: Scheduler<Ent, P> = Scheduler::new(WAITERS + WAKERS);
    let wq: WaitQueue<Ent, P> = WaitQueue::new();
    let tokens = AtomicUsize::new(0);
    let consumed = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let total = WAKERS * TOKENS_PER_WAKER;

    thread::scope(|sc| {
        let waiters: Vec<_> = (0..WAITERS)
            .map(|cpu| {
                let (sched, wq, tokens, consumed, done) = (&sched, &wq, &tokens, &consumed, &done);
                sc.spawn(move || {
                    let mut c = PinnedCpu::start(sched, cpu);
                    loop {
                        let got = loop {
                            wq.prepare_to_wait(&c.me);
                            if take_token(tokens) {
                                break true;
                            }
                            if done.load(Ordering::SeqCst) {
                                break false;
                            }
                            c.block();
                        };
                        wq.finish_wait(&c.me);
                        if !got {
                            return;
                        }
                        consumed.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        let wakers: Vec<_> = (0..WAKERS)
            .map(|i| {
                let (sched, wq, tokens) = (&sched, &wq, &tokens);
                sc.spawn(move || {
                    let cpu = WAITERS + i;
                    set_current_cpu(cpu);
                    for k in 0..TOKENS_PER_WAKER {
                        tokens.fetch_add(1, Ordering::SeqCst);
                        wq.wake_one(sched, cpu);
                        if k % 64 == 0 {
                            thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for w in wakers {
            w.join().unwrap();
        }
        // Consumers drain the tokens on their own; a consumer that died stops this.
        while consumed.load(Ordering::SeqCst) < total && !waiters.iter().any(|w| w.is_finished()) {
            thread::yield_now();
        }
        set_current_cpu(WAITERS);
        done.store(true, Ordering::SeqCst);
        wq.wake_all(&sched, WAITERS);
        for w in waiters {
            w.join().unwrap();
        }
    });
    assert_eq!(consumed.load(Ordering::SeqCst), total);
    assert_eq!(tokens.load(Ordering::SeqCst), 0);
    assert!(wq.is_empty());
    assert!(
        P::ipis() > 0,
        "consumers really blocked and were woken by IPI"
    );
}

#[test]
fn completion_releases_every_waiter() {
    // Rounds of completions: waiters on their own CPUs wait for each in turn while a
    // completer fires them, so complete() races prepare_to_wait at every point.
    const WAITERS: usize = 3;
    const ROUNDS: usize = 1_500;
    type P = DoorbellPlatform<1>;
    let sched: Scheduler<Ent, P> = Scheduler::new(WAITERS + 1);
    let events: Vec<Completion<Ent, P>> = (0..ROUNDS).map(|_| Completion::new()).collect();
    let passed = AtomicUsize::new(0);
    thread::scope(|sc| {
        for cpu in 0..WAITERS {
            let (sched, events, passed) = (&sched, &events, &passed);
            sc.spawn(move || {
                let mut c = PinnedCpu::start(sched, cpu);
                for ev in events {
                    while !ev.prepare_to_wait(&c.me) {
                        c.block();
                    }
                    passed.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        let (sched, events) = (&sched, &events);
        sc.spawn(move || {
            set_current_cpu(WAITERS);
            for (i, ev) in events.iter().enumerate() {
                ev.complete(sched, WAITERS);
                if i % 8 == 0 {
                    thread::yield_now();
                }
            }
        });
    });
    assert_eq!(passed.load(Ordering::SeqCst), WAITERS * ROUNDS);
}
