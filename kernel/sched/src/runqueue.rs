//! One CPU's run queue: the fair (virtual-runtime) policy as a plain data structure.
//!
//! Waiting threads sit in a B-tree ordered by `(vruntime, seq)`; `seq` is a per-queue
//! insertion counter, so equal vruntimes are served first-in first-out and a key is
//! never reused. The running thread (`curr`) is kept outside the tree, as in most
//! vruntime schedulers, and charged as it runs.
//!
//! Fairness in brief:
//! - a thread's vruntime advances by `ran_ns * NICE_0_WEIGHT / weight`, so heavier
//!   (lower nice) threads age more slowly and get proportionally more CPU;
//! - the leftmost (smallest vruntime) thread runs next;
//! - `min_vruntime` is a monotonic floor that follows the smallest vruntime of the
//!   queue (tree and current) as time is charged and threads are queued (not when one
//!   is removed: that one is usually about to become current); a thread entering the
//!   queue is placed relative to it:
//!   a new thread at `max(own, min_vruntime)`, a woken sleeper at
//!   `max(own, min_vruntime - SLEEPER_BONUS_NS)`, so a sleeper gets a bounded head
//!   start but can never claim the CPU for longer than that bonus;
//! - the current thread's slice is a share of a scheduling period proportional to its
//!   weight: `period * weight / total_weight`, with `period = TARGET_LATENCY_NS`, or
//!   `nr_running * MIN_GRANULARITY_NS` when that is longer, and never less than
//!   `MIN_GRANULARITY_NS`.
//!
//! `RunQueue` holds no lock itself: the scheduler keeps each CPU's queue inside that
//! CPU's run-queue lock.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use crate::thread::{NICE_0_WEIGHT, Schedulable};

/// Length of a scheduling period when few threads compete: every runnable thread
/// should get the CPU once within this time.
pub const TARGET_LATENCY_NS: u64 = 6_000_000;
/// Shortest slice the current thread is given before a tick may preempt it.
pub const MIN_GRANULARITY_NS: u64 = 750_000;
/// A woken thread preempts the current one only if it is ahead by more than this
/// (in vruntime), which limits switch storms from frequent wakeups.
pub const WAKEUP_GRANULARITY_NS: u64 = 1_000_000;
/// Largest head start a woken sleeper gets below `min_vruntime`.
pub const SLEEPER_BONUS_NS: u64 = TARGET_LATENCY_NS / 2;

/// How a thread enters a queue; decides its vruntime placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A new thread: `max(own, min_vruntime)`.
    New,
    /// A woken sleeper: `max(own, min_vruntime - SLEEPER_BONUS_NS)`.
    Wakeup,
    /// Moved from another queue with its lag already applied (see [`apply_lag`]):
    /// unchanged.
    Migrate,
}

/// Virtual time for `delta_ns` of CPU time at `weight`.
pub fn weighted_delta(delta_ns: u64, weight: u32) -> u64 {
    let w = u128::from(weight.max(1));
    let v = u128::from(delta_ns) * u128::from(NICE_0_WEIGHT) / w;
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// Lag of vruntime `v` behind (negative) or ahead of (positive) a queue floor.
pub fn lag_of(v: u64, floor: u64) -> i64 {
    let lag = i128::from(v) - i128::from(floor);
    lag.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// The vruntime with lag `lag` against a queue floor `floor` (saturating at 0 and
/// `u64::MAX`). `apply_lag(to, lag_of(v, from))` moves a vruntime between queues
/// while keeping its position relative to the floor.
pub fn apply_lag(floor: u64, lag: i64) -> u64 {
    let v = i128::from(floor) + i128::from(lag);
    v.clamp(0, i128::from(u64::MAX)) as u64
}

/// A CPU's run queue (see the module documentation).
pub struct RunQueue<T: Schedulable> {
    tree: BTreeMap<(u64, u64), Arc<T>>,
    next_seq: u64,
    min_vruntime: u64,
    /// Sum of the weights of the queued (not current) threads.
    load: u64,
    curr: Option<Arc<T>>,
    /// CPU time the current thread has had since it was picked.
    curr_ran_ns: u64,
    /// Last time passed to `advance`; `None` before the first call.
    clock_ns: Option<u64>,
}

impl<T: Schedulable> Default for RunQueue<T> {
    fn default() -> Self {
        RunQueue::new()
    }
}

impl<T: Schedulable> RunQueue<T> {
    /// An empty queue with no current thread.
    pub const fn new() -> Self {
        RunQueue {
            tree: BTreeMap::new(),
            next_seq: 0,
            min_vruntime: 0,
            load: 0,
            curr: None,
            curr_ran_ns: 0,
            clock_ns: None,
        }
    }

    /// Queued threads (not counting the current one).
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Whether no thread is queued (there may still be a current one).
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Queued threads plus the current one.
    pub fn nr_running(&self) -> usize {
        self.tree.len() + usize::from(self.curr.is_some())
    }

    /// The monotonic vruntime floor of this queue.
    pub fn min_vruntime(&self) -> u64 {
        self.min_vruntime
    }

    /// Sum of the weights of the queued threads.
    pub fn load(&self) -> u64 {
        self.load
    }

    /// The thread running on this CPU, if any.
    pub fn curr(&self) -> Option<&Arc<T>> {
        self.curr.as_ref()
    }

    /// Removes and returns the current thread (it is then neither current nor queued).
    pub fn take_curr(&mut self) -> Option<Arc<T>> {
        self.curr.take()
    }

    /// Makes `next` the current thread. Its CPU-time-in-slice counter restarts.
    pub fn set_curr(&mut self, next: Option<Arc<T>>) {
        if let Some(n) = &next {
            assert!(!n.sched().on_rq(), "current thread is also queued");
        }
        self.curr = next;
        self.curr_ran_ns = 0;
        self.update_min();
    }

    /// CPU time the current thread has had since it was made current.
    pub fn curr_ran_ns(&self) -> u64 {
        self.curr_ran_ns
    }

    /// Inserts `t` with its current vruntime as key (place it with
    /// [`RunQueue::place`] first). Panics if it is already queued: a thread in two
    /// queues (or twice in one) is the one bug a scheduler must never tolerate. Debug
    /// builds also check the placement invariant: no key more than
    /// `SLEEPER_BONUS_NS` below the floor.
    pub fn enqueue(&mut self, t: Arc<T>) {
        let s = t.sched();
        assert!(!s.set_on_rq(true), "thread enqueued twice");
        let key = s.vruntime();
        // Every placement keeps a thread at most the sleeper bonus behind the floor,
        // and the floor never passes the leftmost thread.
        debug_assert!(
            key.saturating_add(SLEEPER_BONUS_NS) >= self.min_vruntime,
            "enqueue far below the floor: {key} vs min {}",
            self.min_vruntime
        );
        let seq = self.next_seq;
        self.next_seq += 1;
        let weight = s.weight();
        s.set_rq_slot(key, seq, weight);
        self.load += u64::from(weight);
        self.tree.insert((key, seq), t);
        self.update_min();
    }

    /// Whether `t` is queued here (by identity).
    pub fn contains(&self, t: &Arc<T>) -> bool {
        let s = t.sched();
        s.on_rq()
            && self
                .tree
                .get(&s.rq_slot())
                .is_some_and(|x| Arc::ptr_eq(x, t))
    }

    /// Removes `t` if it is queued here; returns whether it was.
    pub fn dequeue(&mut self, t: &Arc<T>) -> bool {
        if !self.contains(t) {
            return false;
        }
        self.remove_key(t.sched().rq_slot());
        true
    }

    fn remove_key(&mut self, key: (u64, u64)) -> Arc<T> {
        let t = self.tree.remove(&key).expect("run-queue key vanished");
        let s = t.sched();
        self.load -= u64::from(s.rq_weight());
        s.set_on_rq(false);
        // No floor update here: the thread being removed is often the one about to
        // become current, and raising the floor past it now would leave the current
        // thread far below the floor. The floor catches up on the next charge,
        // enqueue or `set_curr`.
        t
    }

    /// The leftmost queued thread.
    pub fn first(&self) -> Option<&Arc<T>> {
        self.tree.values().next()
    }

    /// Removes and returns the leftmost queued thread for which `ok` holds.
    pub fn pick_first(&mut self, mut ok: impl FnMut(&Arc<T>) -> bool) -> Option<Arc<T>> {
        let key = self.tree.iter().find(|(_, t)| ok(t)).map(|(k, _)| *k)?;
        Some(self.remove_key(key))
    }

    /// Queued threads from left (next to run) to right.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Arc<T>> + '_ {
        self.tree.values()
    }

    /// The vruntime a thread with vruntime `v` gets when it enters this queue.
    pub fn place(&self, v: u64, how: Placement) -> u64 {
        match how {
            Placement::New => v.max(self.min_vruntime),
            Placement::Wakeup => v.max(self.min_vruntime.saturating_sub(SLEEPER_BONUS_NS)),
            Placement::Migrate => v,
        }
    }

    /// Slice of a thread of `weight` that is part of this queue (queued or current).
    pub fn slice_ns(&self, weight: u32) -> u64 {
        let nr = (self.nr_running() as u64).max(1);
        let period = if nr > TARGET_LATENCY_NS / MIN_GRANULARITY_NS {
            nr * MIN_GRANULARITY_NS
        } else {
            TARGET_LATENCY_NS
        };
        let curr_w = self
            .curr
            .as_ref()
            .map_or(0, |c| u64::from(c.sched().weight()));
        let total = (self.load + curr_w).max(u64::from(weight)).max(1);
        let share = u128::from(period) * u128::from(weight) / u128::from(total);
        u64::try_from(share)
            .unwrap_or(u64::MAX)
            .max(MIN_GRANULARITY_NS)
    }

    /// Charges `delta_ns` of CPU time to the current thread (if any) and advances
    /// `min_vruntime`.
    pub fn charge(&mut self, delta_ns: u64) {
        if let Some(c) = &self.curr {
            let s = c.sched();
            s.set_vruntime(
                s.vruntime()
                    .saturating_add(weighted_delta(delta_ns, s.weight())),
            );
            s.add_runtime(delta_ns);
            self.curr_ran_ns = self.curr_ran_ns.saturating_add(delta_ns);
        }
        self.update_min();
    }

    /// Moves this queue's clock to `now_ns` and charges the elapsed time to the
    /// current thread. Returns the elapsed time (0 on the first call, and if the
    /// clock would go backwards).
    pub fn advance(&mut self, now_ns: u64) -> u64 {
        let delta = match self.clock_ns {
            Some(c) => now_ns.saturating_sub(c),
            None => 0,
        };
        self.clock_ns = Some(self.clock_ns.map_or(now_ns, |c| c.max(now_ns)));
        self.charge(delta);
        delta
    }

    /// Charges `delta_ns` and reports whether the current thread should be preempted.
    pub fn tick(&mut self, delta_ns: u64) -> bool {
        self.charge(delta_ns);
        self.need_resched()
    }

    /// Whether the CPU should reschedule now: it is idle with work queued, or the
    /// current thread has used up its slice while others wait.
    pub fn need_resched(&self) -> bool {
        match &self.curr {
            None => !self.tree.is_empty(),
            Some(c) => {
                !self.tree.is_empty() && self.curr_ran_ns >= self.slice_ns(c.sched().weight())
            }
        }
    }

    /// Whether a thread just queued here should preempt the current one: the CPU is
    /// idle, or it is ahead of the current thread by more than the wakeup granularity.
    pub fn should_preempt(&self, woken: &T) -> bool {
        match &self.curr {
            None => true,
            Some(c) => {
                c.sched().vruntime()
                    > woken
                        .sched()
                        .vruntime()
                        .saturating_add(WAKEUP_GRANULARITY_NS)
            }
        }
    }

    fn update_min(&mut self) {
        let curr = self.curr.as_ref().map(|c| c.sched().vruntime());
        let left = self.tree.keys().next().map(|k| k.0);
        let floor = match (curr, left) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return,
        };
        self.min_vruntime = self.min_vruntime.max(floor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Ent;
    use alloc::vec::Vec;

    fn ent(v: u64) -> Arc<Ent> {
        let e = Ent::new();
        e.sched().set_vruntime(v);
        e
    }

    #[test]
    fn orders_by_vruntime_then_fifo() {
        let mut rq = RunQueue::new();
        let (a, b, c, d) = (ent(300), ent(100), ent(200), ent(100));
        for t in [&a, &b, &c, &d] {
            rq.enqueue(t.clone());
        }
        assert_eq!(rq.len(), 4);
        let order: Vec<u64> = core::iter::from_fn(|| rq.pick_first(|_| true))
            .map(|t| t.id as u64)
            .collect();
        assert_eq!(order, [b.id as u64, d.id as u64, c.id as u64, a.id as u64]);
        assert!(rq.is_empty());
        assert_eq!(rq.load(), 0);
        assert!(!a.sched().on_rq());
    }

    #[test]
    fn thread_that_ran_longer_is_picked_later() {
        let mut rq = RunQueue::new();
        let (a, b) = (ent(0), ent(0));
        rq.enqueue(b.clone());
        rq.set_curr(Some(a.clone()));
        rq.charge(2_000_000);
        // a ran 2 ms: requeued behind b.
        let a = rq.take_curr().unwrap();
        rq.enqueue(a.clone());
        let next = rq.pick_first(|_| true).unwrap();
        assert!(Arc::ptr_eq(&next, &b));
        rq.set_curr(Some(next));
        rq.charge(1_000_000);
        // b ran 1 ms, a 2 ms: b again.
        let b2 = rq.take_curr().unwrap();
        rq.enqueue(b2);
        assert!(Arc::ptr_eq(rq.first().unwrap(), &b));
    }

    #[test]
    fn weight_scales_vruntime() {
        let mut rq = RunQueue::new();
        let heavy = ent(0);
        heavy.sched().set_nice(-5);
        rq.set_curr(Some(heavy.clone()));
        rq.charge(3_000_000);
        assert_eq!(
            heavy.sched().vruntime(),
            weighted_delta(3_000_000, heavy.sched().weight())
        );
        assert!(heavy.sched().vruntime() < 3_000_000);
        assert_eq!(heavy.sched().stats().runtime_ns, 3_000_000);
        assert_eq!(weighted_delta(1000, NICE_0_WEIGHT), 1000);
    }

    #[test]
    fn min_vruntime_is_monotonic_floor() {
        let mut rq = RunQueue::new();
        let a = ent(5_000);
        rq.enqueue(a.clone());
        assert_eq!(rq.min_vruntime(), 5_000);
        let a = rq.pick_first(|_| true).unwrap();
        rq.set_curr(Some(a));
        rq.charge(1_000);
        assert_eq!(rq.min_vruntime(), 6_000);
        // A queued thread behind it (within the sleeper bonus) does not pull the
        // floor back.
        rq.enqueue(ent(5_500));
        assert_eq!(rq.min_vruntime(), 6_000);
    }

    #[test]
    fn sleeper_bonus_is_bounded() {
        let mut rq: RunQueue<Ent> = RunQueue::new();
        let a = ent(100_000_000);
        rq.enqueue(a);
        let min = rq.min_vruntime();
        assert_eq!(min, 100_000_000);
        // Long sleeper: clamped to min - bonus, never lower.
        assert_eq!(rq.place(0, Placement::Wakeup), min - SLEEPER_BONUS_NS);
        // Short sleeper keeps its own (later) vruntime.
        assert_eq!(rq.place(min + 7, Placement::Wakeup), min + 7);
        // New threads get no bonus.
        assert_eq!(rq.place(0, Placement::New), min);
        assert_eq!(rq.place(3, Placement::Migrate), 3);
        // With an empty floor there is nothing to go below.
        let empty: RunQueue<Ent> = RunQueue::new();
        assert_eq!(empty.place(0, Placement::Wakeup), 0);
    }

    #[test]
    fn slices() {
        let mut rq = RunQueue::new();
        let a = ent(0);
        rq.set_curr(Some(a.clone()));
        assert_eq!(rq.slice_ns(NICE_0_WEIGHT), TARGET_LATENCY_NS);
        rq.enqueue(ent(0));
        assert_eq!(rq.slice_ns(NICE_0_WEIGHT), TARGET_LATENCY_NS / 2);
        for _ in 0..30 {
            rq.enqueue(ent(0));
        }
        // 32 threads: the period stretches, each keeps the minimum granularity.
        assert_eq!(rq.slice_ns(NICE_0_WEIGHT), MIN_GRANULARITY_NS);
        // A heavier thread gets a longer slice.
        let mut rq2 = RunQueue::new();
        let h = ent(0);
        h.sched().set_nice(-5);
        rq2.enqueue(ent(0));
        rq2.set_curr(Some(h.clone()));
        assert!(rq2.slice_ns(h.sched().weight()) > TARGET_LATENCY_NS / 2);
    }

    #[test]
    fn tick_requests_resched_after_slice_only_with_competition() {
        let mut rq = RunQueue::new();
        rq.set_curr(Some(ent(0)));
        assert!(!rq.tick(100 * TARGET_LATENCY_NS), "alone: never preempted");
        let mut rq = RunQueue::new();
        rq.enqueue(ent(0));
        rq.set_curr(Some(ent(0)));
        assert!(!rq.tick(TARGET_LATENCY_NS / 4));
        assert!(rq.tick(TARGET_LATENCY_NS / 4));
        assert_eq!(rq.advance(1_000), 0, "first advance only sets the clock");
        assert_eq!(rq.advance(3_000), 2_000);
        assert_eq!(rq.advance(2_000), 0, "clock never goes back");
        assert_eq!(rq.advance(3_500), 500);
    }

    #[test]
    fn wakeup_preemption() {
        let mut rq: RunQueue<Ent> = RunQueue::new();
        let woken = ent(0);
        assert!(rq.should_preempt(&woken), "idle CPU");
        rq.set_curr(Some(ent(WAKEUP_GRANULARITY_NS)));
        assert!(!rq.should_preempt(&woken));
        let mut rq: RunQueue<Ent> = RunQueue::new();
        rq.set_curr(Some(ent(WAKEUP_GRANULARITY_NS + 1)));
        assert!(rq.should_preempt(&woken));
    }

    #[test]
    fn dequeue_by_identity() {
        let mut rq = RunQueue::new();
        let (a, b) = (ent(1), ent(1));
        rq.enqueue(a.clone());
        assert!(!rq.dequeue(&b));
        assert!(rq.contains(&a));
        assert!(rq.dequeue(&a));
        assert!(!rq.dequeue(&a));
        assert!(rq.is_empty());
    }

    #[test]
    #[should_panic(expected = "enqueued twice")]
    fn double_enqueue_panics() {
        let mut rq = RunQueue::new();
        let a = ent(1);
        rq.enqueue(a.clone());
        rq.enqueue(a);
    }

    #[test]
    fn lag_moves_between_floors() {
        assert_eq!(apply_lag(1_000, lag_of(150, 100)), 1_050);
        assert_eq!(apply_lag(1_000, lag_of(90, 100)), 990);
        assert_eq!(apply_lag(50, lag_of(0, 100)), 0);
        assert_eq!(lag_of(u64::MAX, 0), i64::MAX);
        assert_eq!(apply_lag(u64::MAX, 5), u64::MAX);
    }
}
