//! Wait queues and completions: sleeping until a condition holds, without lost
//! wakeups.
//!
//! # The protocol
//!
//! The waiting thread (`me`, running on `cpu`):
//!
//! ```text
//! loop {
//!     wq.prepare_to_wait(&me);        // 1. linked on wq, state Runnable -> Blocking
//!     if condition() { break; }        // 2. re-check AFTER being visible to wakers
//!     let d = sched.schedule(cpu, now, Intent::Sleep); // 3. sleeps unless woken
//!     /* switch if d.is_switch(), then finish_switch on the new context */
//! }
//! wq.finish_wait(&me);                 // 4. state Runnable, unlinked
//! ```
//!
//! The waker makes the condition true first, then calls [`WaitQueue::wake_one`] or
//! [`WaitQueue::wake_all`].
//!
//! Why no wakeup is lost: the waker's condition store and the waiter's step 1 are
//! ordered by the queue lock. If the waker took the lock first, the waiter's step 2
//! sees the condition. Otherwise the waker finds the waiter linked and calls
//! `Scheduler::wake`, which either finds it `Blocking` (step 3 has not committed:
//! it flips it to `Runnable`, and `schedule(Sleep)` then does not sleep) or
//! `Blocked` (step 3 committed: it re-queues it). Both are compare-and-swaps on the
//! one state word, so exactly one of the waker and `schedule` decides.
//!
//! A thread is linked on at most one wait queue at a time, and every
//! `prepare_to_wait` is eventually followed by `finish_wait` on the same queue (also
//! when leaving the loop through a timeout or a signal).
//!
//! The wait-queue lock is never held while calling into the scheduler: wakers unlink
//! a waiter under the lock, drop it, then wake the waiter.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::platform::{IrqSpinLock, Platform};
use crate::scheduler::{Scheduler, WakeResult};
use crate::thread::Schedulable;

/// A FIFO of threads waiting for a condition.
pub struct WaitQueue<T: Schedulable, P: Platform> {
    waiters: IrqSpinLock<VecDeque<Arc<T>>, P>,
}

impl<T: Schedulable, P: Platform> Default for WaitQueue<T, P> {
    fn default() -> Self {
        WaitQueue::new()
    }
}

impl<T: Schedulable, P: Platform> WaitQueue<T, P> {
    /// An empty wait queue.
    pub const fn new() -> Self {
        WaitQueue {
            waiters: IrqSpinLock::new(VecDeque::new()),
        }
    }

    /// Step 1 of the protocol: links `current` (the running thread) at the tail if it
    /// is not linked yet, and marks it `Blocking`, both under the queue lock.
    pub fn prepare_to_wait(&self, current: &Arc<T>) {
        let s = current.sched();
        let mut w = self.waiters.lock();
        if !s.on_wq() {
            s.set_on_wq(true);
            w.push_back(current.clone());
        }
        s.prepare_sleep();
    }

    /// Step 4: marks `current` `Runnable` again (if no wake did) and unlinks it if a
    /// waker has not already done so.
    pub fn finish_wait(&self, current: &Arc<T>) {
        let s = current.sched();
        s.cancel_sleep();
        // Only `current` itself sets `on_wq`, so reading false here is final.
        if s.on_wq() {
            let mut w = self.waiters.lock();
            if let Some(i) = w.iter().position(|x| Arc::ptr_eq(x, current)) {
                w.remove(i);
            }
            s.set_on_wq(false);
        }
    }

    fn pop(&self) -> Option<Arc<T>> {
        let mut w = self.waiters.lock();
        let t = w.pop_front()?;
        t.sched().set_on_wq(false);
        Some(t)
    }

    /// Wakes the first waiter that was actually waiting. Waiters found already awake
    /// (woken by a timeout or a signal, or cancelling their wait) are unlinked and
    /// skipped, so the wakeup is not absorbed by a thread that will not consume it.
    /// Returns whether a thread was woken.
    pub fn wake_one(&self, sched: &Scheduler<T, P>, waker_cpu: usize) -> bool {
        while let Some(t) = self.pop() {
            if sched.wake(&t, waker_cpu) != WakeResult::NotBlocked {
                return true;
            }
        }
        false
    }

    /// Wakes every waiter; returns how many were actually woken.
    pub fn wake_all(&self, sched: &Scheduler<T, P>, waker_cpu: usize) -> usize {
        let all = {
            let mut w = self.waiters.lock();
            for t in w.iter() {
                t.sched().set_on_wq(false);
            }
            core::mem::take(&mut *w)
        };
        all.iter()
            .filter(|t| sched.wake(t, waker_cpu) != WakeResult::NotBlocked)
            .count()
    }

    /// Number of linked waiters.
    pub fn len(&self) -> usize {
        self.waiters.lock().len()
    }

    /// Whether no thread is linked.
    pub fn is_empty(&self) -> bool {
        self.waiters.lock().is_empty()
    }
}

/// A one-shot event (thread join, "initialisation done"): once completed it stays
/// completed and every waiter, present or future, proceeds.
///
/// ```text
/// while !done.prepare_to_wait(&me) {
///     let d = sched.schedule(cpu, now, Intent::Sleep); /* switch, finish_switch */
/// }
/// ```
pub struct Completion<T: Schedulable, P: Platform> {
    done: AtomicBool,
    wq: WaitQueue<T, P>,
}

impl<T: Schedulable, P: Platform> Default for Completion<T, P> {
    fn default() -> Self {
        Completion::new()
    }
}

impl<T: Schedulable, P: Platform> Completion<T, P> {
    /// A completion that has not happened yet.
    pub const fn new() -> Self {
        Completion {
            done: AtomicBool::new(false),
            wq: WaitQueue::new(),
        }
    }

    /// Marks the event as happened and wakes every waiter; returns how many were
    /// woken.
    pub fn complete(&self, sched: &Scheduler<T, P>, waker_cpu: usize) -> usize {
        self.done.store(true, Ordering::SeqCst);
        self.wq.wake_all(sched, waker_cpu)
    }

    /// Whether the event has happened.
    pub fn is_complete(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }

    /// Prepares `current` to wait. Returns true if the event has happened (the wait
    /// is then already finished: do not sleep); false means: call
    /// `schedule(Sleep)`, then call this again.
    pub fn prepare_to_wait(&self, current: &Arc<T>) -> bool {
        self.wq.prepare_to_wait(current);
        if self.is_complete() {
            self.wq.finish_wait(current);
            true
        } else {
            false
        }
    }

    /// Abandons a wait (timeout, signal) after a `prepare_to_wait` that returned
    /// false.
    pub fn cancel_wait(&self, current: &Arc<T>) {
        self.wq.finish_wait(current);
    }
}
