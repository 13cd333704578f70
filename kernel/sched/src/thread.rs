//! Per-thread scheduling state, embedded by the kernel in its thread structure.
//!
//! The kernel's thread type implements [`Schedulable`] by returning a reference to
//! its [`ThreadSched`]; the scheduler handles threads as `Arc<T>` and never owns raw
//! pointers. Every field is atomic because a thread's scheduling state is read and
//! written from several CPUs; which lock (if any) protects which field is written next
//! to it.
//!
//! # Sleep states
//!
//! [`ThreadState`] is the sleep protocol only. Where a runnable thread *is* (running
//! on a CPU, queued, in transit to a CPU's wake list) is tracked by `on_cpu`, `on_rq`
//! and `cpu`. The transitions are:
//!
//! ```text
//!   New --add_new--> Runnable --prepare_sleep--> Blocking --schedule(Sleep)--> Blocked
//!                       ^  ^                        |                            |
//!                       |  +--- wake / cancel_sleep-+                            |
//!                       +--------------------- wake (re-queues it) --------------+
//!   any --schedule(Exit)--> Dead
//! ```
//!
//! `Blocking` means "this thread has announced that it wants to sleep but is still
//! running (or was preempted and is queued)". A wake that finds `Blocking` only flips
//! the state back to `Runnable`, and the thread's own `schedule(Sleep)` then sees that
//! and does not sleep. A wake that finds `Blocked` (the sleep was committed by
//! `schedule`) re-queues the thread. Both transitions are compare-and-swaps, so
//! exactly one party decides, and no wakeup can fall between them.

use core::sync::atomic::{
    AtomicBool, AtomicI8, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};

use crate::cpuset::CpuSet;

/// The kernel's thread type: anything that carries a [`ThreadSched`].
pub trait Schedulable: Send + Sync + 'static {
    /// This thread's scheduling state.
    fn sched(&self) -> &ThreadSched;
}

/// The sleep-protocol state of a thread (see the module documentation).
///
/// There is no separate "Running" state: a `Runnable` (or `Blocking`) thread is
/// running exactly when [`ThreadSched::on_cpu`] is true.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ThreadState {
    /// Created, not yet handed to `Scheduler::add_new`.
    New = 0,
    /// Awake: running, queued, or on its way to a queue.
    Runnable = 1,
    /// Announced a sleep (`prepare_sleep`), still running or queued.
    Blocking = 2,
    /// Asleep: committed by `schedule(Sleep)`; on no queue. Only a wake revives it.
    Blocked = 3,
    /// Exited through `schedule(Exit)`; never runs again.
    Dead = 4,
}

impl ThreadState {
    fn from_u8(v: u8) -> ThreadState {
        match v {
            0 => ThreadState::New,
            1 => ThreadState::Runnable,
            2 => ThreadState::Blocking,
            3 => ThreadState::Blocked,
            _ => ThreadState::Dead,
        }
    }
}

/// Weight of a nice-0 thread: vruntime advances at wall-clock speed for it.
pub const NICE_0_WEIGHT: u32 = 1024;

/// Weights for nice -20..=19: `round(1024 * 1.25^-nice)`, so each nice step changes
/// the CPU share of two competing threads by about 25%.
const NICE_WEIGHTS: [u32; 40] = [
    88818, 71054, 56843, 45475, 36380, 29104, 23283, 18626, 14901, 11921, //
    9537, 7629, 6104, 4883, 3906, 3125, 2500, 2000, 1600, 1280, //
    1024, 819, 655, 524, 419, 336, 268, 215, 172, 137, //
    110, 88, 70, 56, 45, 36, 29, 23, 18, 15,
];

/// The load weight for a nice value (clamped to -20..=19).
pub const fn nice_to_weight(nice: i8) -> u32 {
    let n = if nice < -20 {
        -20
    } else if nice > 19 {
        19
    } else {
        nice
    };
    NICE_WEIGHTS[(n + 20) as usize]
}

const NO_CPU: usize = usize::MAX;

/// Per-thread counters (a snapshot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadStats {
    /// Times this thread was switched in.
    pub switches: u64,
    /// Times it was queued on a CPU other than the one it last ran or was queued on.
    pub migrations: u64,
    /// CPU time consumed, in nanoseconds (as charged by the scheduler's clock).
    pub runtime_ns: u64,
}

/// Scheduling state of one thread. Embed it in the kernel's thread structure.
pub struct ThreadSched {
    /// [`ThreadState`] as `u8`. Changed by compare-and-swap (see module docs).
    state: AtomicU8,
    /// In some CPU's run-queue tree. Written under that queue's lock.
    on_rq: AtomicBool,
    /// Its register context is live on (or being switched away from) a CPU. Set by
    /// `schedule` when picked; cleared by `finish_switch` after the switch saved it.
    on_cpu: AtomicBool,
    /// The CPU whose queue holds it, that runs it, or that it last ran on; `NO_CPU`
    /// before its first placement. Written under that CPU's queue lock. Its vruntime
    /// is relative to this CPU's queue.
    cpu: AtomicUsize,
    /// Allowed CPUs (`CpuSet` bits).
    affinity: AtomicU64,
    /// Affinity may not be changed through `Scheduler::set_affinity`.
    pinned: bool,
    /// Virtual runtime in weighted nanoseconds. Written under the queue lock of `cpu`.
    vruntime: AtomicU64,
    nice: AtomicI8,
    weight: AtomicU32,
    /// Run-queue key sequence number and the weight counted in the queue's load;
    /// meaningful while `on_rq`, protected by that queue's lock.
    rq_seq: AtomicU64,
    rq_key: AtomicU64,
    rq_weight: AtomicU32,
    /// Whether it is linked on a wait queue (protected by that wait queue's lock;
    /// only the thread itself sets it).
    on_wq: AtomicBool,
    switches: AtomicU64,
    migrations: AtomicU64,
    runtime_ns: AtomicU64,
}

impl Default for ThreadSched {
    fn default() -> Self {
        ThreadSched::new()
    }
}

impl ThreadSched {
    /// A new thread: state `New`, nice 0, allowed on every CPU.
    pub const fn new() -> ThreadSched {
        ThreadSched::build(CpuSet::FULL, false)
    }

    /// A thread that may only run on `cpu` and whose affinity can never change
    /// (per-CPU kernel threads).
    pub const fn new_pinned(cpu: usize) -> ThreadSched {
        ThreadSched::build(CpuSet::single(cpu), true)
    }

    const fn build(affinity: CpuSet, pinned: bool) -> ThreadSched {
        ThreadSched {
            state: AtomicU8::new(ThreadState::New as u8),
            on_rq: AtomicBool::new(false),
            on_cpu: AtomicBool::new(false),
            cpu: AtomicUsize::new(NO_CPU),
            affinity: AtomicU64::new(affinity.bits()),
            pinned,
            vruntime: AtomicU64::new(0),
            nice: AtomicI8::new(0),
            weight: AtomicU32::new(NICE_0_WEIGHT),
            rq_seq: AtomicU64::new(0),
            rq_key: AtomicU64::new(0),
            rq_weight: AtomicU32::new(0),
            on_wq: AtomicBool::new(false),
            switches: AtomicU64::new(0),
            migrations: AtomicU64::new(0),
            runtime_ns: AtomicU64::new(0),
        }
    }

    /// The sleep-protocol state.
    pub fn state(&self) -> ThreadState {
        ThreadState::from_u8(self.state.load(Ordering::SeqCst))
    }

    /// Announces that the current thread is about to sleep: `Runnable -> Blocking`.
    ///
    /// Call it on the running thread *before* the final check of the wake-up
    /// condition; then call `Scheduler::schedule(cpu, now, Intent::Sleep)` if the
    /// condition is still false, or [`ThreadSched::cancel_sleep`] if it is true.
    /// Wait queues call this for you ([`crate::WaitQueue::prepare_to_wait`]).
    pub fn prepare_sleep(&self) {
        let _ = self.state.compare_exchange(
            ThreadState::Runnable as u8,
            ThreadState::Blocking as u8,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    /// Withdraws a sleep announced by [`ThreadSched::prepare_sleep`]:
    /// `Blocking -> Runnable` (a no-op if a wake already did it).
    pub fn cancel_sleep(&self) {
        let _ = self.state.compare_exchange(
            ThreadState::Blocking as u8,
            ThreadState::Runnable as u8,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    pub(crate) fn cas_state(&self, from: ThreadState, to: ThreadState) -> bool {
        self.state
            .compare_exchange(from as u8, to as u8, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    pub(crate) fn set_dead(&self) {
        self.state.store(ThreadState::Dead as u8, Ordering::SeqCst);
    }

    /// Whether its context is live on a CPU (running, or being switched away from and
    /// not yet released by `finish_switch`).
    pub fn on_cpu(&self) -> bool {
        self.on_cpu.load(Ordering::SeqCst)
    }

    pub(crate) fn set_on_cpu(&self, v: bool) {
        self.on_cpu.store(v, Ordering::SeqCst);
    }

    /// Whether it is in a run-queue tree (not counting being some CPU's current).
    pub fn on_rq(&self) -> bool {
        self.on_rq.load(Ordering::SeqCst)
    }

    pub(crate) fn set_on_rq(&self, v: bool) -> bool {
        self.on_rq.swap(v, Ordering::SeqCst)
    }

    /// The CPU it is queued on, runs on, or last ran on; `None` before its first
    /// placement.
    pub fn cpu(&self) -> Option<usize> {
        match self.cpu.load(Ordering::SeqCst) {
            NO_CPU => None,
            c => Some(c),
        }
    }

    pub(crate) fn set_cpu(&self, cpu: usize) {
        self.cpu.store(cpu, Ordering::SeqCst);
    }

    /// The allowed CPUs.
    pub fn affinity(&self) -> CpuSet {
        CpuSet::from_bits(self.affinity.load(Ordering::SeqCst))
    }

    pub(crate) fn set_affinity_bits(&self, set: CpuSet) {
        self.affinity.store(set.bits(), Ordering::SeqCst);
    }

    /// Whether it may run on `cpu`.
    pub fn allowed_on(&self, cpu: usize) -> bool {
        self.affinity().contains(cpu)
    }

    /// Whether the affinity is fixed (see [`ThreadSched::new_pinned`]).
    pub fn is_pinned(&self) -> bool {
        self.pinned
    }

    /// Virtual runtime (weighted ns, relative to the queue of [`ThreadSched::cpu`]).
    pub fn vruntime(&self) -> u64 {
        self.vruntime.load(Ordering::Relaxed)
    }

    pub(crate) fn set_vruntime(&self, v: u64) {
        self.vruntime.store(v, Ordering::Relaxed);
    }

    /// The nice value (-20..=19).
    pub fn nice(&self) -> i8 {
        self.nice.load(Ordering::Relaxed)
    }

    /// Sets the nice value (clamped to -20..=19). The new weight applies to CPU time
    /// charged from now on and to the queue load from its next enqueue.
    pub fn set_nice(&self, nice: i8) {
        let nice = nice.clamp(-20, 19);
        self.nice.store(nice, Ordering::Relaxed);
        self.weight.store(nice_to_weight(nice), Ordering::Relaxed);
    }

    /// The load weight derived from the nice value.
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    pub(crate) fn rq_slot(&self) -> (u64, u64) {
        (
            self.rq_key.load(Ordering::Relaxed),
            self.rq_seq.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn set_rq_slot(&self, key: u64, seq: u64, weight: u32) {
        self.rq_key.store(key, Ordering::Relaxed);
        self.rq_seq.store(seq, Ordering::Relaxed);
        self.rq_weight.store(weight, Ordering::Relaxed);
    }

    pub(crate) fn rq_weight(&self) -> u32 {
        self.rq_weight.load(Ordering::Relaxed)
    }

    pub(crate) fn on_wq(&self) -> bool {
        self.on_wq.load(Ordering::SeqCst)
    }

    pub(crate) fn set_on_wq(&self, v: bool) {
        self.on_wq.store(v, Ordering::SeqCst);
    }

    pub(crate) fn count_switch(&self) {
        self.switches.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_migration(&self) {
        self.migrations.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_runtime(&self, ns: u64) {
        self.runtime_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Per-thread counters.
    pub fn stats(&self) -> ThreadStats {
        ThreadStats {
            switches: self.switches.load(Ordering::Relaxed),
            migrations: self.migrations.load(Ordering::Relaxed),
            runtime_ns: self.runtime_ns.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_monotonic_and_nice0_is_1024() {
        assert_eq!(nice_to_weight(0), NICE_0_WEIGHT);
        assert_eq!(nice_to_weight(-100), nice_to_weight(-20));
        assert_eq!(nice_to_weight(100), nice_to_weight(19));
        for n in -20..19i8 {
            assert!(nice_to_weight(n) > nice_to_weight(n + 1));
        }
    }

    #[test]
    fn sleep_state_transitions() {
        let t = ThreadSched::new();
        assert_eq!(t.state(), ThreadState::New);
        t.prepare_sleep(); // not Runnable: no effect
        assert_eq!(t.state(), ThreadState::New);
        assert!(t.cas_state(ThreadState::New, ThreadState::Runnable));
        t.prepare_sleep();
        assert_eq!(t.state(), ThreadState::Blocking);
        t.cancel_sleep();
        assert_eq!(t.state(), ThreadState::Runnable);
        t.cancel_sleep();
        assert_eq!(t.state(), ThreadState::Runnable);
        t.set_nice(5);
        assert_eq!((t.nice(), t.weight()), (5, nice_to_weight(5)));
        assert!(ThreadSched::new_pinned(3).is_pinned());
        assert_eq!(ThreadSched::new_pinned(3).affinity(), CpuSet::single(3));
    }
}
