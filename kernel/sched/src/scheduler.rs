//! The SMP scheduler: per-CPU run queues, wakeup placement, work stealing,
//! preemption bookkeeping and statistics.
//!
//! See the crate documentation for the protocol the kernel follows (blocking, waking,
//! switching, preemption) and for the lock order. This module implements it.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

use crate::cpuset::{CpuSet, MAX_CPUS};
use crate::platform::{IrqGuard, IrqSpinLock, Platform};
use crate::runqueue::{Placement, RunQueue, apply_lag, lag_of};
use crate::stats::{Counters, CpuStats};
use crate::thread::{Schedulable, ThreadSched, ThreadState};

/// How often a busy CPU looks for an imbalance from its tick (an idle CPU tries to
/// steal on every tick).
pub const BALANCE_INTERVAL_NS: u64 = 4_000_000;

/// Why the current thread is calling [`Scheduler::schedule`]; decides what happens
/// to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// Involuntary (tick, wakeup preemption, IPI) or a plain reschedule: the current
    /// thread stays runnable and is requeued. Also used by the idle context.
    Preempt,
    /// `sched_yield`: requeued behind the leftmost waiting thread.
    Yield,
    /// Sleep if the thread is still `Blocking` (commits `Blocking -> Blocked`);
    /// if a wake got there first it is requeued like `Preempt`.
    Sleep,
    /// The thread is finished: it becomes `Dead` and is never queued again. The kernel
    /// may free it once `finish_switch` has released it.
    Exit,
}

/// What [`Scheduler::schedule`] decided.
pub struct SwitchDecision<T> {
    /// The thread that was current when `schedule` was called (`None`: the idle
    /// context called it).
    pub prev: Option<Arc<T>>,
    /// The thread to run; `None` means the CPU's idle context.
    pub next: Option<Arc<T>>,
}

impl<T> SwitchDecision<T> {
    /// Whether the running context changes (so the kernel must switch and then call
    /// [`Scheduler::finish_switch`]).
    pub fn is_switch(&self) -> bool {
        match (&self.prev, &self.next) {
            (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
            (None, None) => false,
            _ => true,
        }
    }
}

/// Outcome of [`Scheduler::wake`] / [`Scheduler::add_new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeResult {
    /// Nothing to do: the thread was awake (`Runnable`), `New` (for `wake`), or `Dead`.
    NotBlocked,
    /// The thread was `Blocking` (about to sleep, still running or queued): it is now
    /// `Runnable` and its `schedule(Sleep)` will not sleep. Nothing was queued.
    Interrupted,
    /// The thread was queued for `cpu`.
    Queued {
        /// The CPU chosen by the placement policy.
        cpu: usize,
        /// It went to `cpu`'s wake list (the waker is on another CPU) instead of
        /// straight into the local queue.
        remote: bool,
        /// A reschedule IPI was sent to `cpu`.
        ipi: bool,
        /// Local wake only: the woken thread should preempt the waker's CPU
        /// (`need_resched` was set on it).
        resched: bool,
    },
}

/// Why [`Scheduler::set_affinity`] refused a mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AffinityError {
    /// The thread was created with `ThreadSched::new_pinned`.
    Pinned,
    /// The mask contains no online CPU (`EINVAL` for `sched_setaffinity`).
    NoOnlineCpu,
}

impl fmt::Display for AffinityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AffinityError::Pinned => f.write_str("thread is pinned to its CPU"),
            AffinityError::NoOnlineCpu => f.write_str("affinity mask has no online CPU"),
        }
    }
}

/// One CPU's queue state as seen by [`Scheduler::snapshot_all`].
pub struct CpuSnapshot<T> {
    /// The CPU.
    pub cpu: usize,
    /// Its current thread.
    pub current: Option<Arc<T>>,
    /// Its queued threads, next to run first.
    pub queued: Vec<Arc<T>>,
    /// Threads in its wake list (woken remotely, not yet queued).
    pub wake_list: Vec<Arc<T>>,
}

impl<T> Clone for CpuSnapshot<T> {
    fn clone(&self) -> Self {
        CpuSnapshot {
            cpu: self.cpu,
            current: self.current.clone(),
            queued: self.queued.clone(),
            wake_list: self.wake_list.clone(),
        }
    }
}

/// How a thread arrives on a queue: decides its vruntime there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arrival {
    /// `add_new`: at the target's floor.
    New,
    /// A woken sleeper: its vruntime is taken relative to the current floor of the
    /// CPU it last ran on (long sleepers are far behind it), then clamped to at most
    /// `SLEEPER_BONUS_NS` below the target's floor.
    Wakeup,
    /// A runnable thread moved between queues: keeps the lag (`vruntime - floor`) it
    /// had when it left its queue. It is recorded at departure because the source
    /// floor keeps moving while the thread is in transit.
    Migrate { lag: i64 },
}

/// Data behind a CPU's run-queue lock.
struct Local<T: Schedulable> {
    rq: RunQueue<T>,
    /// Swapped with the wake list when draining it, so both vectors keep their
    /// capacity and wakers are never blocked while the drained threads are queued.
    spare: Vec<(Arc<T>, Arrival)>,
}

struct PerCpu<T: Schedulable, P: Platform> {
    /// The run-queue lock: queue, current thread, clock.
    local: IrqSpinLock<Local<T>, P>,
    /// Threads woken by other CPUs, waiting to be queued by this CPU. A leaf lock.
    wake_list: IrqSpinLock<Vec<(Arc<T>, Arrival)>, P>,
    /// Mirrors of `rq.nr_running()` and `rq.min_vruntime()`, published under the
    /// lock, read without it (victim choice, vruntime rebasing).
    nr_running: AtomicUsize,
    min_vruntime: AtomicU64,
    need_resched: AtomicBool,
    /// A thread may sit in this CPU's queue although its affinity excludes this CPU
    /// (its mask changed while it was on its way here); the next pick sweeps them out.
    strays: AtomicBool,
    preempt_count: AtomicUsize,
    next_balance: AtomicU64,
    counters: Counters,
}

impl<T: Schedulable, P: Platform> PerCpu<T, P> {
    fn new() -> Self {
        PerCpu {
            local: IrqSpinLock::new(Local {
                rq: RunQueue::new(),
                spare: Vec::new(),
            }),
            wake_list: IrqSpinLock::new(Vec::new()),
            nr_running: AtomicUsize::new(0),
            min_vruntime: AtomicU64::new(0),
            need_resched: AtomicBool::new(false),
            strays: AtomicBool::new(false),
            preempt_count: AtomicUsize::new(0),
            next_balance: AtomicU64::new(0),
            counters: Counters::default(),
        }
    }
}

/// The scheduler: one instance for the whole machine, created with the CPU count.
///
/// `T` is the kernel's thread type, `P` its [`Platform`]. Every method that takes a
/// `cpu` must be called *on* that CPU (with the exception of `wake`, `add_new` and
/// `set_affinity`, whose CPU argument is the caller's own CPU, and of the read-only
/// accessors).
pub struct Scheduler<T: Schedulable, P: Platform> {
    cpus: Box<[CachePadded<PerCpu<T, P>>]>,
    online: CpuSet,
    /// CPUs that found nothing to run; a waker that picks one clears its bit.
    idle: AtomicU64,
}

impl<T: Schedulable, P: Platform> Scheduler<T, P> {
    /// A scheduler for CPUs `0..nr_cpus`. No CPU is marked idle until it first
    /// calls [`Scheduler::schedule`] and finds nothing to run.
    ///
    /// # Panics
    /// If `nr_cpus` is 0 or larger than [`MAX_CPUS`].
    pub fn new(nr_cpus: usize) -> Self {
        assert!(
            (1..=MAX_CPUS).contains(&nr_cpus),
            "weft-sched supports 1..={MAX_CPUS} CPUs"
        );
        Scheduler {
            cpus: (0..nr_cpus)
                .map(|_| CachePadded::new(PerCpu::new()))
                .collect(),
            online: CpuSet::first_n(nr_cpus),
            idle: AtomicU64::new(0),
        }
    }

    /// Number of CPUs.
    pub fn nr_cpus(&self) -> usize {
        self.cpus.len()
    }

    /// The CPUs this scheduler manages (`0..nr_cpus`).
    pub fn online(&self) -> CpuSet {
        self.online
    }

    fn pc(&self, cpu: usize) -> &PerCpu<T, P> {
        &self.cpus[cpu]
    }

    // ----------------------------------------------------------------------------
    // Waking and placement
    // ----------------------------------------------------------------------------

    /// Makes a `New` thread runnable and places it (as a wakeup, with the new-thread
    /// vruntime rule). Returns [`WakeResult::NotBlocked`] if it is not `New`.
    pub fn add_new(&self, thread: Arc<T>, waker_cpu: usize) -> WakeResult {
        if !thread
            .sched()
            .cas_state(ThreadState::New, ThreadState::Runnable)
        {
            return WakeResult::NotBlocked;
        }
        self.place(thread, waker_cpu, Arrival::New)
    }

    /// Wakes `thread` if it is sleeping or about to sleep. `waker_cpu` is the CPU the
    /// caller runs on (thread or interrupt context). Safe to call from interrupt
    /// handlers and with any kernel lock held that precedes the scheduler locks.
    ///
    /// - `Blocking` (announced a sleep but has not slept): becomes `Runnable`; its own
    ///   `schedule(Sleep)` will then not sleep. Nothing is queued.
    /// - `Blocked`: becomes `Runnable` and is placed: its previous CPU if that is
    ///   idle, else an idle CPU, else the waker's CPU, else its previous CPU, else
    ///   the first allowed CPU, always within its affinity. A local target is queued
    ///   directly; a remote one gets it on its wake list plus a reschedule IPI.
    /// - anything else: no-op.
    pub fn wake(&self, thread: &Arc<T>, waker_cpu: usize) -> WakeResult {
        let s = thread.sched();
        loop {
            match s.state() {
                ThreadState::Blocking => {
                    if s.cas_state(ThreadState::Blocking, ThreadState::Runnable) {
                        return WakeResult::Interrupted;
                    }
                }
                ThreadState::Blocked => {
                    if s.cas_state(ThreadState::Blocked, ThreadState::Runnable) {
                        return self.place(thread.clone(), waker_cpu, Arrival::Wakeup);
                    }
                }
                _ => return WakeResult::NotBlocked,
            }
        }
    }

    /// Queues a thread that just became runnable (we own that transition).
    fn place(&self, t: Arc<T>, waker_cpu: usize, how: Arrival) -> WakeResult {
        let s = t.sched();
        // A thread still being switched out by its CPU may only be queued there: a
        // thread whose context is live must never become visible to another CPU's
        // picker. `on_cpu` only goes from true to false here (nobody can pick the
        // thread until we queue it), so reading false is final.
        let target = match s.cpu() {
            Some(c) if s.on_cpu() => c,
            _ => self.select_cpu(s, waker_cpu),
        };
        if target == waker_cpu {
            let mut l = self.pc(target).local.lock();
            let resched = self.arrive(target, &mut l.rq, t, how);
            self.publish(target, &l.rq);
            WakeResult::Queued {
                cpu: target,
                remote: false,
                ipi: false,
                resched,
            }
        } else {
            let ipi = self.push_wake_list(target, t, how, waker_cpu);
            WakeResult::Queued {
                cpu: target,
                remote: true,
                ipi,
                resched: false,
            }
        }
    }

    /// The placement policy (see [`Scheduler::wake`]). Claims (clears the idle bit
    /// of) an idle CPU it chooses, so a burst of wakeups spreads over idle CPUs.
    fn select_cpu(&self, s: &ThreadSched, waker_cpu: usize) -> usize {
        let allowed = match s.affinity().intersection(self.online) {
            a if a.is_empty() => self.online,
            a => a,
        };
        let prev = s.cpu().filter(|&c| allowed.contains(c));
        if let Some(p) = prev
            && self.claim_idle(p)
        {
            return p;
        }
        let mut idle = CpuSet::from_bits(self.idle.load(Ordering::SeqCst)).intersection(allowed);
        let start = prev.map_or(waker_cpu, |p| p + 1);
        while let Some(c) = idle.first_from(start) {
            if self.claim_idle(c) {
                return c;
            }
            idle.remove(c);
        }
        if allowed.contains(waker_cpu) {
            return waker_cpu;
        }
        prev.or(allowed.first()).unwrap_or(0)
    }

    fn claim_idle(&self, cpu: usize) -> bool {
        let bit = CpuSet::single(cpu).bits();
        self.idle.fetch_and(!bit, Ordering::SeqCst) & bit != 0
    }

    fn set_idle(&self, cpu: usize, idle: bool) {
        let bit = CpuSet::single(cpu).bits();
        if idle {
            self.idle.fetch_or(bit, Ordering::SeqCst);
        } else {
            self.idle.fetch_and(!bit, Ordering::SeqCst);
        }
    }

    /// Puts `t` on `target`'s wake list. Sends the IPI only when the list was empty:
    /// a non-empty list already has an IPI (or a drain) on its way. `self_cpu` is the
    /// CPU executing this; it never IPIs itself but sets its own `need_resched`.
    fn push_wake_list(&self, target: usize, t: Arc<T>, how: Arrival, self_cpu: usize) -> bool {
        let was_empty = {
            let mut wl = self.pc(target).wake_list.lock();
            let was_empty = wl.is_empty();
            wl.push((t, how));
            was_empty
        };
        if target == self_cpu {
            self.pc(target).need_resched.store(true, Ordering::SeqCst);
            false
        } else if was_empty {
            P::send_resched_ipi(target);
            Counters::add(&self.pc(self_cpu).counters.ipis_sent, 1);
            true
        } else {
            false
        }
    }

    /// Queues `t` on `cpu` (its queue lock held): rebases its vruntime if it comes
    /// from another CPU, applies the placement rule, and sets `need_resched` if it
    /// should preempt. Returns that preemption verdict.
    fn arrive(&self, cpu: usize, rq: &mut RunQueue<T>, t: Arc<T>, how: Arrival) -> bool {
        let s = t.sched();
        let from = s.cpu();
        let migrated = from.is_some_and(|f| f != cpu);
        let v = match how {
            Arrival::Migrate { lag } => apply_lag(rq.min_vruntime(), lag),
            Arrival::New | Arrival::Wakeup => {
                let mut v = s.vruntime();
                if let Some(f) = from
                    && migrated
                {
                    let from_min = self.pc(f).min_vruntime.load(Ordering::Relaxed);
                    v = apply_lag(rq.min_vruntime(), lag_of(v, from_min));
                }
                let rule = if how == Arrival::New {
                    Placement::New
                } else {
                    Placement::Wakeup
                };
                Counters::add(&self.pc(cpu).counters.wakeups, 1);
                rq.place(v, rule)
            }
        };
        if migrated {
            s.count_migration();
            Counters::add(&self.pc(cpu).counters.migrations, 1);
        }
        s.set_vruntime(v);
        s.set_cpu(cpu);
        let resched = rq.should_preempt(&t);
        rq.enqueue(t.clone());
        self.check_stray(cpu, &t);
        if resched {
            self.pc(cpu).need_resched.store(true, Ordering::SeqCst);
        }
        resched
    }

    /// Called after `t` was queued on `cpu` and its `cpu` field set. `set_affinity`
    /// stores the mask and then reads `cpu`; we store `cpu` and then read the mask
    /// (both SeqCst), so either it finds the thread here (under our queue lock) and
    /// moves it, or we see the new mask here and flag the stray for our next pick.
    fn check_stray(&self, cpu: usize, t: &T) {
        let s = t.sched();
        if !s.allowed_on(cpu) && !s.on_cpu() {
            self.pc(cpu).strays.store(true, Ordering::SeqCst);
        }
    }

    /// The departure record of `t`, still queued on `rq` (taken before removing it,
    /// which may raise the floor).
    fn departing(rq: &RunQueue<T>, t: &T) -> Arrival {
        Arrival::Migrate {
            lag: lag_of(t.sched().vruntime(), rq.min_vruntime()),
        }
    }

    /// Sends `t` (taken off any queue, not on a CPU) to a CPU it is allowed on.
    /// Callable with `exec_cpu`'s queue lock held.
    fn forward(&self, exec_cpu: usize, t: Arc<T>, how: Arrival) {
        let target = self.select_cpu(t.sched(), exec_cpu);
        self.push_wake_list(target, t, how, exec_cpu);
    }

    /// Moves the wake list into the queue (queue lock held). Threads no longer
    /// allowed here are forwarded, unless their context is still live here.
    fn drain(&self, cpu: usize, local: &mut Local<T>) {
        {
            let mut wl = self.pc(cpu).wake_list.lock();
            if wl.is_empty() {
                return;
            }
            core::mem::swap(&mut *wl, &mut local.spare);
        }
        let Local { rq, spare } = local;
        for (t, how) in spare.drain(..) {
            let s = t.sched();
            if s.allowed_on(cpu) || s.on_cpu() {
                self.arrive(cpu, rq, t, how);
            } else {
                self.forward(cpu, t, how);
            }
        }
    }

    fn publish(&self, cpu: usize, rq: &RunQueue<T>) {
        let pc = self.pc(cpu);
        pc.nr_running.store(rq.nr_running(), Ordering::Relaxed);
        pc.min_vruntime.store(rq.min_vruntime(), Ordering::Relaxed);
    }

    fn account(&self, cpu: usize, rq: &mut RunQueue<T>, now_ns: u64) {
        let busy = rq.curr().is_some();
        let delta = rq.advance(now_ns);
        let c = &self.pc(cpu).counters;
        Counters::add(if busy { &c.busy_ns } else { &c.idle_ns }, delta);
    }

    // ----------------------------------------------------------------------------
    // Switching
    // ----------------------------------------------------------------------------

    /// The core: decides what `cpu` runs next. Call on `cpu` with interrupts
    /// disabled and no spin lock held (the preempt count may be at most the
    /// kernel's own schedule-in-progress count).
    ///
    /// 1. drains the wake list into the queue;
    /// 2. charges the elapsed time (`now_ns`, a monotonic clock) to the current thread;
    /// 3. deals with the current thread (`prev`) according to `intent`: requeued
    ///    (`Preempt`, `Yield`, or `Sleep` that lost to a wake), left off all queues
    ///    (`Sleep` committed: `Blocking -> Blocked`), or `Dead` (`Exit`);
    /// 4. picks the leftmost queued thread allowed on `cpu`; if there is none, tries
    ///    to steal from the busiest CPU, and otherwise returns the idle context and
    ///    marks `cpu` idle.
    ///
    /// The picked thread is marked `on_cpu`. When the decision is a switch, the kernel
    /// switches contexts and then calls [`Scheduler::finish_switch`] with `prev`.
    pub fn schedule(&self, cpu: usize, now_ns: u64, intent: Intent) -> SwitchDecision<T> {
        let pc = self.pc(cpu);
        let mut l = pc.local.lock();
        self.drain(cpu, &mut l);
        self.account(cpu, &mut l.rq, now_ns);
        let prev = l.rq.take_curr();
        if let Some(p) = &prev {
            Self::put_prev(&mut l.rq, p, intent);
        }
        let mut next = self.pick(cpu, &mut l);
        if next.is_none() {
            // Nothing here: release our queue (stealing takes both queue locks in
            // CPU order), steal, and look again, including at wakeups that arrived.
            self.publish(cpu, &l.rq);
            drop(l);
            self.steal(cpu);
            l = pc.local.lock();
            self.drain(cpu, &mut l);
            next = self.pick(cpu, &mut l);
        }
        if let Some(n) = &next {
            let same = prev.as_ref().is_some_and(|p| Arc::ptr_eq(p, n));
            if !same {
                assert!(
                    !n.sched().on_cpu(),
                    "picked a thread whose context is live on a CPU"
                );
                n.sched().set_on_cpu(true);
                n.sched().count_switch();
            }
        }
        self.set_idle(cpu, next.is_none());
        let decision = SwitchDecision { prev, next };
        if decision.is_switch() {
            Counters::add(&pc.counters.switches, 1);
        }
        l.rq.set_curr(decision.next.clone());
        pc.need_resched.store(false, Ordering::SeqCst);
        self.publish(cpu, &l.rq);
        decision
    }

    /// `sched_yield` for the current thread of `cpu`: `schedule(cpu, now, Yield)`.
    pub fn yield_current(&self, cpu: usize, now_ns: u64) -> SwitchDecision<T> {
        self.schedule(cpu, now_ns, Intent::Yield)
    }

    fn put_prev(rq: &mut RunQueue<T>, p: &Arc<T>, intent: Intent) {
        let s = p.sched();
        let requeue = match intent {
            Intent::Preempt => true,
            Intent::Yield => {
                if let Some(first) = rq.first() {
                    let v = first.sched().vruntime();
                    if s.vruntime() < v {
                        // Same key as the leftmost, later sequence: queued behind it.
                        s.set_vruntime(v);
                    }
                }
                true
            }
            Intent::Sleep => !s.cas_state(ThreadState::Blocking, ThreadState::Blocked),
            Intent::Exit => {
                s.set_dead();
                false
            }
        };
        if requeue {
            // Its context is still live (`on_cpu`); it stays on this CPU, where it is
            // not picked by anyone else until `finish_switch` releases it.
            rq.enqueue(p.clone());
        }
    }

    /// Removes the next thread to run on `cpu`: the leftmost one allowed here. Queued
    /// threads no longer allowed here (flagged by `check_stray`) are forwarded first;
    /// one whose context is still live here is left to `finish_switch`.
    fn pick(&self, cpu: usize, l: &mut Local<T>) -> Option<Arc<T>> {
        if self.pc(cpu).strays.swap(false, Ordering::SeqCst) {
            let strays: Vec<Arc<T>> =
                l.rq.iter()
                    .filter(|t| !t.sched().allowed_on(cpu) && !t.sched().on_cpu())
                    .cloned()
                    .collect();
            for t in strays {
                let how = Self::departing(&l.rq, &t);
                l.rq.dequeue(&t);
                self.forward(cpu, t, how);
            }
        }
        l.rq.pick_first(|t| t.sched().allowed_on(cpu))
    }

    /// Call on `cpu` right after the context switch that `schedule` decided, on the
    /// new context's stack, before interrupts are enabled and before any other
    /// scheduler call on `cpu`. Releases `prev` (`on_cpu = false`): from here on
    /// another CPU may run it, and if it is `Dead` the kernel may free it. A `prev`
    /// that is queued here but no longer allowed here is moved away.
    pub fn finish_switch(&self, cpu: usize, prev: Option<&Arc<T>>) {
        let Some(p) = prev else { return };
        let s = p.sched();
        s.set_on_cpu(false);
        // Pairs with `set_affinity`, which stores the mask and then reads `on_cpu`:
        // at least one of us sees the other's store (both are SeqCst), and the queue
        // lock decides which one moves it.
        if !s.allowed_on(cpu) {
            let mut l = self.pc(cpu).local.lock();
            if l.rq.contains(p) {
                let how = Self::departing(&l.rq, p);
                l.rq.dequeue(p);
                self.publish(cpu, &l.rq);
                drop(l);
                self.forward(cpu, p.clone(), how);
            }
        }
    }

    // ----------------------------------------------------------------------------
    // Interrupt-side entry points
    // ----------------------------------------------------------------------------

    /// The timer tick on `cpu` (interrupt context). Charges the current thread,
    /// drains the wake list, steals when idle (every tick) or balances when busy
    /// (every [`BALANCE_INTERVAL_NS`]). Returns whether `cpu` should reschedule; the
    /// kernel does so on interrupt return if [`Scheduler::preemptible`] holds.
    pub fn tick(&self, cpu: usize, now_ns: u64) -> bool {
        let pc = self.pc(cpu);
        let idle = {
            let mut l = pc.local.lock();
            self.drain(cpu, &mut l);
            self.account(cpu, &mut l.rq, now_ns);
            if l.rq.need_resched() {
                pc.need_resched.store(true, Ordering::SeqCst);
            }
            self.publish(cpu, &l.rq);
            l.rq.curr().is_none()
        };
        let pulled = if idle {
            self.steal(cpu)
        } else {
            self.balance(cpu, now_ns)
        };
        if idle && pulled > 0 {
            pc.need_resched.store(true, Ordering::SeqCst);
        }
        pc.need_resched.load(Ordering::SeqCst)
    }

    /// The reschedule IPI handler on `cpu`: queues the threads on its wake list.
    /// Returns whether `cpu` should reschedule.
    pub fn handle_ipi(&self, cpu: usize) -> bool {
        let pc = self.pc(cpu);
        let mut l = pc.local.lock();
        self.drain(cpu, &mut l);
        self.publish(cpu, &l.rq);
        drop(l);
        pc.need_resched.load(Ordering::SeqCst)
    }

    /// For the idle loop, checked with interrupts disabled before halting: whether
    /// `cpu` has something to do (a reschedule request, queued threads or pending
    /// wakeups). If not, halt with interrupts enabled atomically (`sti; hlt`): any
    /// later wakeup targeting `cpu` sends an IPI.
    pub fn has_work(&self, cpu: usize) -> bool {
        let pc = self.pc(cpu);
        pc.need_resched.load(Ordering::SeqCst)
            || pc.nr_running.load(Ordering::Relaxed) > 0
            || !pc.wake_list.lock().is_empty()
    }

    /// Whether a reschedule was requested on `cpu` (cleared by `schedule`).
    pub fn need_resched(&self, cpu: usize) -> bool {
        self.pc(cpu).need_resched.load(Ordering::SeqCst)
    }

    /// Requests a reschedule of `cpu`; sends the IPI unless `cpu == from_cpu`.
    pub fn kick(&self, cpu: usize, from_cpu: usize) {
        self.pc(cpu).need_resched.store(true, Ordering::SeqCst);
        if cpu != from_cpu {
            P::send_resched_ipi(cpu);
            Counters::add(&self.pc(from_cpu).counters.ipis_sent, 1);
        }
    }

    // ----------------------------------------------------------------------------
    // Load balancing
    // ----------------------------------------------------------------------------

    /// Pulls threads from the busiest CPU to `cpu` (called on `cpu`): the victim is
    /// the CPU with the most runnable threads, if it has at least two more than
    /// `cpu`; it is only `try_lock`ed (a busy victim is skipped, never waited for);
    /// half of the imbalance is moved, taken from the victim's queue end (the
    /// threads that would wait longest), skipping threads not allowed on `cpu` and
    /// threads whose context is live. Returns the number of threads moved.
    pub fn steal(&self, cpu: usize) -> usize {
        let mine = self.pc(cpu).nr_running.load(Ordering::Relaxed);
        let mut victim = None;
        let mut victim_load = mine + 1;
        for c in self.online.iter().filter(|&c| c != cpu) {
            let load = self.pc(c).nr_running.load(Ordering::Relaxed);
            if load > victim_load {
                victim = Some(c);
                victim_load = load;
            }
        }
        let Some(victim) = victim else { return 0 };

        // Both queue locks, in ascending CPU order; the victim's only by try_lock.
        // The outer guard keeps interrupts off until both guards are gone, whatever
        // order they drop in.
        let _irq = IrqGuard::<P>::new();
        let (mut own, mut vic) = if victim < cpu {
            let Some(v) = self.pc(victim).local.try_lock() else {
                return 0;
            };
            (self.pc(cpu).local.lock(), v)
        } else {
            let o = self.pc(cpu).local.lock();
            let Some(v) = self.pc(victim).local.try_lock() else {
                return 0;
            };
            (o, v)
        };
        let want = vic.rq.nr_running().saturating_sub(own.rq.nr_running()) / 2;
        if want == 0 {
            return 0;
        }
        let mut moving: Vec<Arc<T>> = vic
            .rq
            .iter()
            .rev()
            .filter(|t| t.sched().allowed_on(cpu) && !t.sched().on_cpu())
            .take(want)
            .cloned()
            .collect();
        // Insert in vruntime order so the thief's floor never jumps past a thread
        // still to be inserted.
        moving.reverse();
        let from_min = vic.rq.min_vruntime();
        for t in &moving {
            let s = t.sched();
            let lag = lag_of(s.vruntime(), from_min);
            let removed = vic.rq.dequeue(t);
            debug_assert!(removed);
            s.set_vruntime(apply_lag(own.rq.min_vruntime(), lag));
            s.set_cpu(cpu);
            s.count_migration();
            own.rq.enqueue(t.clone());
            self.check_stray(cpu, t);
        }
        let n = moving.len();
        let c = &self.pc(cpu).counters;
        Counters::add(&c.steals, n as u64);
        Counters::add(&c.migrations, n as u64);
        self.publish(victim, &vic.rq);
        self.publish(cpu, &own.rq);
        n
    }

    /// Periodic balancing for a busy `cpu` (called from its tick): a [`steal`] at
    /// most once per [`BALANCE_INTERVAL_NS`]. Returns the number of threads moved.
    ///
    /// [`steal`]: Scheduler::steal
    pub fn balance(&self, cpu: usize, now_ns: u64) -> usize {
        let pc = self.pc(cpu);
        if now_ns < pc.next_balance.load(Ordering::Relaxed) {
            return 0;
        }
        pc.next_balance.store(
            now_ns.saturating_add(BALANCE_INTERVAL_NS),
            Ordering::Relaxed,
        );
        self.steal(cpu)
    }

    // ----------------------------------------------------------------------------
    // Affinity
    // ----------------------------------------------------------------------------

    /// Sets the allowed CPUs of `thread` (`sched_setaffinity`). `caller_cpu` is the
    /// CPU the caller runs on.
    ///
    /// A sleeping or in-transit thread picks the mask up at its next placement. A
    /// thread queued on a CPU that is no longer allowed is moved at once (or, if its
    /// context is still being switched out there, by that CPU's `finish_switch`).
    /// If it is *running* on a CPU that is no longer allowed, that CPU is asked to
    /// reschedule (IPI unless it is `caller_cpu`) and `Ok(Some(cpu))` is returned;
    /// when `cpu == caller_cpu` the caller should reschedule itself (the thread is
    /// then moved by `finish_switch`).
    pub fn set_affinity(
        &self,
        thread: &Arc<T>,
        mask: CpuSet,
        caller_cpu: usize,
    ) -> Result<Option<usize>, AffinityError> {
        let s = thread.sched();
        if s.is_pinned() {
            return Err(AffinityError::Pinned);
        }
        if mask.intersection(self.online).is_empty() {
            return Err(AffinityError::NoOnlineCpu);
        }
        s.set_affinity_bits(mask);
        loop {
            let Some(c) = s.cpu() else { return Ok(None) };
            if mask.contains(c) {
                return Ok(None);
            }
            let mut l = self.pc(c).local.lock();
            if s.cpu() != Some(c) {
                continue; // moved meanwhile: look again
            }
            if l.rq.curr().is_some_and(|x| Arc::ptr_eq(x, thread)) {
                drop(l);
                self.kick(c, caller_cpu);
                return Ok(Some(c));
            }
            if !s.on_cpu() && l.rq.contains(thread) {
                let how = Self::departing(&l.rq, thread);
                l.rq.dequeue(thread);
                self.publish(c, &l.rq);
                drop(l);
                self.forward(caller_cpu, thread.clone(), how);
            }
            return Ok(None);
        }
    }

    // ----------------------------------------------------------------------------
    // Preemption counter
    // ----------------------------------------------------------------------------

    /// Disables preemption of the current thread (nests). The kernel calls this when
    /// taking a spin lock that is not interrupt-safe and wherever a thread must not be
    /// switched away; the timer tick does not preempt while the count is non-zero.
    ///
    /// The count is per CPU. That is sound because the CPU is read and the count
    /// raised with interrupts disabled, and while the count is non-zero the thread
    /// cannot be preempted, so it cannot migrate before the matching enable.
    pub fn preempt_disable(&self) {
        let _irq = IrqGuard::<P>::new();
        let cpu = P::current_cpu();
        self.pc(cpu).preempt_count.fetch_add(1, Ordering::Relaxed);
    }

    /// Re-enables preemption. Returns true when the count dropped to zero while a
    /// reschedule is pending: the kernel should then call `schedule(cpu, now,
    /// Intent::Preempt)`.
    ///
    /// # Panics
    /// If the count was already zero.
    pub fn preempt_enable(&self) -> bool {
        let _irq = IrqGuard::<P>::new();
        let cpu = P::current_cpu();
        let pc = self.pc(cpu);
        let old = pc.preempt_count.fetch_sub(1, Ordering::Relaxed);
        assert!(old > 0, "preempt_enable without preempt_disable");
        old == 1 && pc.need_resched.load(Ordering::SeqCst)
    }

    /// The preemption-disable depth of `cpu`.
    pub fn preempt_count(&self, cpu: usize) -> usize {
        self.pc(cpu).preempt_count.load(Ordering::Relaxed)
    }

    /// Whether the current thread of `cpu` may be preempted (count is zero).
    pub fn preemptible(&self, cpu: usize) -> bool {
        self.preempt_count(cpu) == 0
    }

    // ----------------------------------------------------------------------------
    // Observation
    // ----------------------------------------------------------------------------

    /// Counters of `cpu`.
    pub fn stats(&self, cpu: usize) -> CpuStats {
        self.pc(cpu).counters.snapshot(cpu)
    }

    /// The current thread of `cpu`.
    pub fn current(&self, cpu: usize) -> Option<Arc<T>> {
        self.pc(cpu).local.lock().rq.curr().cloned()
    }

    /// Runnable threads on `cpu` (queued plus current), as last published.
    pub fn nr_running(&self, cpu: usize) -> usize {
        self.pc(cpu).nr_running.load(Ordering::Relaxed)
    }

    /// CPUs currently marked idle.
    pub fn idle_cpus(&self) -> CpuSet {
        CpuSet::from_bits(self.idle.load(Ordering::SeqCst))
    }

    /// Whether `cpu` has flagged possible strays in its queue.
    #[cfg(test)]
    pub(crate) fn strays_flagged(&self, cpu: usize) -> bool {
        self.pc(cpu).strays.load(Ordering::SeqCst)
    }

    /// Holds `cpu`'s run-queue lock until the returned guard is dropped.
    #[cfg(test)]
    pub(crate) fn hold_rq(&self, cpu: usize) -> impl Sized + '_ {
        self.pc(cpu).local.lock()
    }

    /// A consistent picture of every CPU's current thread, queue and wake list, for
    /// debugging. Takes every run-queue lock in ascending CPU order (then each wake
    /// list), so it stops all scheduling while it runs. A thread in the middle of a
    /// wake or a migration can be missing from it; none can appear twice.
    pub fn snapshot_all(&self) -> Vec<CpuSnapshot<T>> {
        self.inspect_all(|snap| snap.to_vec())
    }

    /// Runs `f` on the snapshot while every run-queue lock is still held, so that
    /// per-thread flags guarded by those locks can be checked against it.
    pub(crate) fn inspect_all<R>(&self, f: impl FnOnce(&[CpuSnapshot<T>]) -> R) -> R {
        let _irq = IrqGuard::<P>::new();
        let guards: Vec<_> = self.cpus.iter().map(|pc| pc.local.lock()).collect();
        let snap: Vec<CpuSnapshot<T>> = guards
            .iter()
            .enumerate()
            .map(|(cpu, l)| CpuSnapshot {
                cpu,
                current: l.rq.curr().cloned(),
                queued: l.rq.iter().cloned().collect(),
                wake_list: self
                    .pc(cpu)
                    .wake_list
                    .lock()
                    .iter()
                    .map(|(t, _)| t.clone())
                    .collect(),
            })
            .collect();
        f(&snap)
    }
}
