//! Timers for timed sleeps: a deadline-ordered queue per CPU.
//!
//! [`TimerQueue`] is an ordered map keyed by `(deadline_ns, seq)`; `seq` makes keys
//! unique and keeps timers with equal deadlines in arming order. The key *is* the
//! [`TimerId`], so cancelling is a single O(log n) removal with no lazy tombstones (a
//! binary heap would need either an index or tombstones for cancel).
//!
//! [`CpuTimers`] puts one queue per CPU behind an [`IrqSpinLock`], for the timer
//! interrupt to expire. A timed sleep in the kernel:
//!
//! ```text
//! me.sched().prepare_sleep();                    // or wq.prepare_to_wait(&me)
//! let id = timers.arm(cpu, deadline, me.clone());
//! if !condition() { schedule(cpu, now, Intent::Sleep) ... }
//! timers.cancel(id);                             // None if it already fired
//! me.sched().cancel_sleep();                     // or wq.finish_wait(&me)
//! ```
//!
//! and in the timer interrupt on `cpu`:
//! `for t in timers.expire(cpu, now) { sched.wake(&t, cpu); }`. `expire` returns the
//! handles after releasing the timer lock, so the wakes run without it. Cancel and
//! expiry race safely: exactly one of them gets the handle.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crossbeam_utils::CachePadded;

use crate::platform::{IrqSpinLock, Platform};

/// Identifies an armed timer of a [`TimerQueue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId {
    deadline_ns: u64,
    seq: u64,
}

impl TimerId {
    /// The deadline the timer was armed with.
    pub fn deadline_ns(&self) -> u64 {
        self.deadline_ns
    }
}

/// Timers ordered by deadline, each carrying a handle `H` (typically `Arc<Thread>`).
pub struct TimerQueue<H> {
    timers: BTreeMap<(u64, u64), H>,
    next_seq: u64,
}

impl<H> Default for TimerQueue<H> {
    fn default() -> Self {
        TimerQueue::new()
    }
}

impl<H> TimerQueue<H> {
    /// An empty queue.
    pub const fn new() -> Self {
        TimerQueue {
            timers: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Arms a timer firing at `deadline_ns`.
    pub fn insert(&mut self, deadline_ns: u64, handle: H) -> TimerId {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.timers.insert((deadline_ns, seq), handle);
        TimerId { deadline_ns, seq }
    }

    /// Disarms a timer; returns its handle, or `None` if it already expired or was
    /// cancelled.
    pub fn cancel(&mut self, id: TimerId) -> Option<H> {
        self.timers.remove(&(id.deadline_ns, id.seq))
    }

    /// The earliest deadline (to program a one-shot or TSC-deadline timer).
    pub fn next_deadline(&self) -> Option<u64> {
        self.timers.keys().next().map(|k| k.0)
    }

    /// Removes every timer with `deadline <= now_ns` and returns their handles,
    /// earliest first (arming order among equal deadlines).
    pub fn expire(&mut self, now_ns: u64) -> Vec<H> {
        let mut out = Vec::new();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now_ns {
                break;
            }
            out.push(entry.remove());
        }
        out
    }

    /// Number of armed timers.
    pub fn len(&self) -> usize {
        self.timers.len()
    }

    /// Whether no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.timers.is_empty()
    }
}

/// A timer armed on a given CPU's queue of [`CpuTimers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CpuTimerId {
    /// The CPU whose queue holds the timer.
    pub cpu: usize,
    /// The timer within that queue.
    pub id: TimerId,
}

/// One [`TimerQueue`] per CPU, each behind its own interrupt-safe lock (a leaf lock:
/// nothing else is taken while it is held).
pub struct CpuTimers<H, P: Platform> {
    queues: Box<[LockedQueue<H, P>]>,
}

type LockedQueue<H, P> = CachePadded<IrqSpinLock<TimerQueue<H>, P>>;

impl<H, P: Platform> CpuTimers<H, P> {
    /// Empty queues for CPUs `0..nr_cpus`.
    pub fn new(nr_cpus: usize) -> Self {
        CpuTimers {
            queues: (0..nr_cpus)
                .map(|_| CachePadded::new(IrqSpinLock::new(TimerQueue::new())))
                .collect(),
        }
    }

    /// Arms a timer on `cpu`'s queue (normally the caller's CPU).
    pub fn arm(&self, cpu: usize, deadline_ns: u64, handle: H) -> CpuTimerId {
        let id = self.queues[cpu].lock().insert(deadline_ns, handle);
        CpuTimerId { cpu, id }
    }

    /// Disarms a timer from any CPU; `None` if it already fired or was cancelled.
    pub fn cancel(&self, id: CpuTimerId) -> Option<H> {
        self.queues[id.cpu].lock().cancel(id.id)
    }

    /// Expired handles of `cpu` (called from its timer interrupt), earliest first.
    pub fn expire(&self, cpu: usize, now_ns: u64) -> Vec<H> {
        self.queues[cpu].lock().expire(now_ns)
    }

    /// The earliest deadline armed on `cpu`.
    pub fn next_deadline(&self, cpu: usize) -> Option<u64> {
        self.queues[cpu].lock().next_deadline()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::HostPlatform;
    use alloc::sync::Arc;
    use core::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn expires_in_deadline_then_arming_order() {
        let mut q = TimerQueue::new();
        q.insert(30, "c");
        q.insert(10, "a1");
        q.insert(20, "b");
        q.insert(10, "a2");
        assert_eq!(q.len(), 4);
        assert_eq!(q.next_deadline(), Some(10));
        assert!(q.expire(9).is_empty());
        assert_eq!(q.expire(10), ["a1", "a2"]);
        assert_eq!(q.next_deadline(), Some(20));
        assert_eq!(q.expire(100), ["b", "c"]);
        assert!(q.is_empty());
        assert_eq!(q.next_deadline(), None);
    }

    #[test]
    fn cancel() {
        let mut q = TimerQueue::new();
        let a = q.insert(10, 'a');
        let b = q.insert(10, 'b');
        let c = q.insert(5, 'c');
        assert_eq!(b.deadline_ns(), 10);
        assert_eq!(q.cancel(b), Some('b'));
        assert_eq!(q.cancel(b), None, "second cancel");
        assert_eq!(q.next_deadline(), Some(5));
        assert_eq!(q.cancel(c), Some('c'));
        assert_eq!(q.next_deadline(), Some(10));
        assert_eq!(q.expire(10), ['a']);
        assert_eq!(q.cancel(a), None, "cancel after expiry");
    }

    #[test]
    fn cancel_races_expiry_exactly_one_wins() {
        // Threads arm timers on "CPU 0" and cancel them while a second thread keeps
        // expiring: every handle must come out exactly once, from one side or the other.
        const N: usize = 2_000;
        let timers: Arc<CpuTimers<usize, HostPlatform>> = Arc::new(CpuTimers::new(2));
        let seen: Arc<Vec<AtomicUsize>> = Arc::new((0..N).map(|_| AtomicUsize::new(0)).collect());
        let stop = Arc::new(core::sync::atomic::AtomicBool::new(false));
        let expirer = {
            let (timers, seen, stop) = (timers.clone(), seen.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut now = 0;
                loop {
                    let done = stop.load(Ordering::SeqCst);
                    for h in timers.expire(0, now) {
                        seen[h].fetch_add(1, Ordering::SeqCst);
                    }
                    if done {
                        break;
                    }
                    now += 1;
                    std::thread::yield_now();
                }
            })
        };
        for h in 0..N {
            let id = timers.arm(0, h as u64 / 4, h);
            if h % 2 == 0
                && let Some(got) = timers.cancel(id)
            {
                assert_eq!(got, h);
                seen[h].fetch_add(1, Ordering::SeqCst);
            }
        }
        // Whatever is left fires at the latest deadline.
        let last = timers.arm(0, u64::MAX, N);
        stop.store(true, Ordering::SeqCst);
        expirer.join().unwrap();
        for h in timers.expire(0, u64::MAX - 1) {
            seen[h].fetch_add(1, Ordering::SeqCst);
        }
        assert_eq!(timers.cancel(last), Some(N));
        for (h, n) in seen.iter().enumerate() {
            assert_eq!(n.load(Ordering::SeqCst), 1, "handle {h}");
        }
        assert_eq!(timers.next_deadline(0), None);
        assert_eq!(timers.next_deadline(1), None);
    }
}
