//! Weft's scheduler logic: per-CPU run queues with a virtual-runtime (fair) policy,
//! wakeup placement, work stealing, wait queues, timers for timed sleeps, a
//! preemption counter and per-CPU statistics.
//!
//! This crate decides; the kernel acts. Context switching, the LAPIC timer, IPIs and
//! the idle loop live in the kernel, which reaches this crate through [`Scheduler`]
//! and gives it interrupt masking and IPIs through [`Platform`]. The crate is
//! `no_std` + `alloc`, free of `unsafe`, and tested on the host with std threads
//! playing the CPUs.
//!
//! # Pieces
//!
//! - [`ThreadSched`]: the per-thread state the kernel embeds in its thread struct
//!   (exposed through [`Schedulable`]); threads are handled as `Arc<T>`.
//! - [`RunQueue`]: one CPU's queue, ordered by `(vruntime, seq)`.
//! - [`Scheduler`]: all CPUs; `add_new`, `wake`, `schedule`, `finish_switch`,
//!   `tick`, `handle_ipi`, `steal`, `balance`, `set_affinity`, preempt counter, stats.
//! - [`WaitQueue`], [`Completion`]: sleeping on a condition.
//! - [`TimerQueue`], [`CpuTimers`]: deadlines for timed sleeps.
//! - [`CpuSet`]: affinity and idle masks; [`IrqSpinLock`]: the lock everything uses.
//!
//! # What the kernel must do
//!
//! ## Threads
//! Create a thread with `ThreadSched::new()` (state `New`) inside the kernel's thread
//! struct (`ThreadSched::new_pinned(cpu)` for per-CPU kernel threads), optionally
//! `sched.set_affinity` / `set_nice`, then `sched.add_new(thread, cpu)`. A thread
//! ends with `schedule(cpu, now, Intent::Exit)`: it becomes `Dead`, is never queued
//! again, and comes back in `d.prev`; free it after `finish_switch`. Thread ids are
//! the kernel's; this crate identifies threads by `Arc` identity.
//!
//! Every `cpu` argument is the CPU executing the call (`P::current_cpu()`), read with
//! interrupts or preemption disabled: `schedule`, `finish_switch`, `tick`,
//! `handle_ipi`, `steal`, `balance` act on that CPU's own queue, and `wake`,
//! `add_new`, `set_affinity` use it as "the waker's CPU" (a local target is queued
//! directly, and no CPU ever sends an IPI to itself).
//!
//! ## Switching (`on_cpu`)
//! With interrupts disabled:
//!
//! ```text
//! let d = sched.schedule(cpu, now_ns, intent);
//! if d.is_switch() {
//!     switch_stacks(prev context or idle context, next context or idle context);
//!     // now on the next context's stack:
//!     sched.finish_switch(cpu, d.prev.as_ref());
//! }
//! // restore interrupts
//! ```
//!
//! `schedule` marks the thread it picks `on_cpu`. The previous thread stays `on_cpu`
//! until `finish_switch`, which must run right after the switch has saved its
//! registers, before interrupts are enabled and before any other scheduler call on
//! that CPU. While a thread is `on_cpu` its kernel stack is in use, so:
//! - nothing but its own CPU ever picks it: `steal` skips `on_cpu` threads, and a
//!   wake of a thread that is still `on_cpu` queues it on that CPU (its wake list)
//!   whatever the placement policy says. `schedule` asserts this, so **a CPU never
//!   has to spin waiting for `on_cpu` to clear** before switching to the thread it
//!   picked;
//! - a `Dead` thread may be freed only after `finish_switch` released it (the kernel
//!   gets it back in `d.prev`).
//!
//! A new thread's first run does not return from the switch but starts at its entry
//! function, so the entry must make the same `finish_switch` call first (keep
//! `d.prev` somewhere it can find it, e.g. per CPU).
//!
//! When `d.next` is `None` the CPU runs its idle context (see below). When `d.prev`
//! and `d.next` are the same thread, nothing is switched and `finish_switch` is not
//! called.
//!
//! ## Blocking
//! ```text
//! loop {
//!     wq.prepare_to_wait(&me);             // Runnable -> Blocking, linked on wq
//!     if condition() { break; }
//!     schedule(cpu, now, Intent::Sleep)     // Blocking -> Blocked, unless woken
//!     + switch + finish_switch;             // returns when woken
//! }
//! wq.finish_wait(&me);
//! ```
//! Without a wait queue use `me.sched().prepare_sleep()` / `cancel_sleep()` and a
//! waker that calls `sched.wake`. The condition must be re-checked after
//! `prepare_to_wait`: that is what makes the protocol immune to lost wakeups (see
//! [`waitqueue`]). If the thread is preempted between `prepare_to_wait` and its
//! `schedule(Sleep)`, the preemption (`Intent::Preempt`) requeues it as usual and it
//! does not sleep until it calls `schedule(Sleep)` itself.
//!
//! ## Waking
//! Make the condition true, then `wq.wake_one(&sched, cpu)` / `wake_all`, or
//! `sched.wake(&thread, cpu)` where `cpu` is the caller's CPU (thread or interrupt
//! context). The scheduler picks the target CPU (previous CPU if idle, else an idle
//! CPU, else the waker's CPU, within the affinity mask), queues the thread directly
//! if the target is the waker's CPU (and sets `need_resched` when it should preempt),
//! and otherwise pushes it on the target's wake list and sends
//! `Platform::send_resched_ipi(target)` when that list was empty.
//!
//! ## Affinity
//! `sched.set_affinity(&thread, mask, cpu)` (returns `Err` for a pinned thread or a
//! mask without online CPUs). A queued thread is moved at once; a sleeping one is
//! placed within the new mask when woken; if the thread is running on a CPU the mask
//! excludes, that CPU gets `need_resched` (and an IPI if remote) and
//! `Ok(Some(that_cpu))` is returned; the thread moves when that CPU switches away
//! from it (`finish_switch`). A thread that was on its way to a CPU when its mask
//! changed is caught by that CPU (flagged as a stray, forwarded at its next pick).
//! Stealing and balancing only move threads to CPUs their mask allows.
//!
//! ## Fairness across CPUs
//! Each queue's vruntimes are relative to its own floor (`min_vruntime`). A thread
//! moved between queues (steal, affinity) keeps its lag behind or ahead of the floor;
//! a woken sleeper is measured against the current floor of the CPU it last ran on
//! and gets at most `SLEEPER_BONUS_NS` of head start on its new queue. See
//! [`runqueue`] for the policy itself.
//!
//! ## IPI handler, tick, preemption
//! - Reschedule IPI: `if sched.handle_ipi(cpu) { reschedule on interrupt return }`.
//! - Timer interrupt: `for t in timers.expire(cpu, now) { sched.wake(&t, cpu); }`,
//!   then `if sched.tick(cpu, now) { reschedule on interrupt return }`. Keep the
//!   tick running on idle CPUs too: an idle CPU retries stealing on every tick.
//! - "Reschedule on interrupt return" means: if the interrupted context was a thread,
//!   `sched.preemptible(cpu)` holds, then `schedule(cpu, now, Intent::Preempt)` +
//!   switch. Otherwise leave `need_resched` set.
//! - Preemption counter: `sched.preempt_disable()` / `sched.preempt_enable()` around
//!   any region that must not be switched away (the kernel's spin-lock wrapper does
//!   it). When `preempt_enable` returns true, call `schedule(.., Intent::Preempt)`.
//!   Never call `schedule` while holding a spin lock.
//!
//! ## Idle loop
//! ```text
//! loop {                                    // per CPU, on its idle context
//!     disable interrupts;
//!     if sched.has_work(cpu) { schedule + switch + finish_switch; }
//!     else { enable interrupts and halt atomically (sti; hlt) }
//! }
//! ```
//! A CPU that finds nothing to run is marked idle; the next wakeup that chooses it
//! clears the mark and sends the IPI that ends the `hlt`.
//!
//! # Lock order
//!
//! All scheduler locks are [`IrqSpinLock`]s (interrupts disabled while held).
//! Outermost first:
//!
//! 1. Kernel locks held while calling into the scheduler (e.g. a futex bucket lock
//!    around `wake`). No scheduler path takes any kernel lock, so these always come
//!    first.
//! 2. `WaitQueue` lock. Never held while calling into the scheduler: wakers unlink
//!    under it, release it, then call `Scheduler::wake`.
//! 3. Run-queue locks, one per CPU (`queue`, `current`, clock). When two or more are
//!    held, they are acquired in **ascending CPU index** order. `steal` needs two
//!    (thief and victim): it takes them in that order and takes the victim's only with
//!    `try_lock`, giving up if it is busy. No other path holds two run-queue locks,
//!    except `Scheduler::snapshot_all` (all of them, ascending).
//! 4. Wake-list locks, one per CPU: leaves. Taken with or without a run-queue lock
//!    held (a CPU drains its own list, or forwards a thread to another CPU's list,
//!    under its run-queue lock); nothing is acquired while one is held.
//! 5. `CpuTimers` locks: leaves; `expire` returns the handles, and the wakes happen
//!    after the lock is released.
//! 6. The kernel heap lock: the scheduler allocates (B-tree nodes, vector growth)
//!    while holding its locks with interrupts disabled, and the timer and IPI
//!    handlers call into it. The heap lock must therefore be taken with interrupts
//!    disabled and be innermost.
//!
//! `Platform::send_resched_ipi` may be called with run-queue locks held; it must not
//! call back into the scheduler.
//!
//! Atomics without locks: a thread's `state` (changed only by compare-and-swap),
//! `on_cpu`, affinity mask, the idle mask, the per-CPU `need_resched`, stray and
//! preempt-count words, and the published per-CPU mirrors (`nr_running`,
//! `min_vruntime`) used to choose victims and rebase vruntimes. Two pairs of them
//! are ordered with `SeqCst` so that neither side can miss the other: `set_affinity`
//! (stores the mask, then reads `cpu` / `on_cpu`) against a thread arriving on a
//! queue (stores `cpu`, then reads the mask) and against `finish_switch` (stores
//! `on_cpu = false`, then reads the mask).

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod cpuset;
pub mod platform;
pub mod runqueue;
pub mod scheduler;
pub mod stats;
pub mod thread;
pub mod timer;
pub mod waitqueue;
pub mod watchdog;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use cpuset::{CpuSet, CpuSetIter, MAX_CPUS};
pub use platform::{IrqGuard, IrqSpinGuard, IrqSpinLock, Platform};
pub use runqueue::{
    MIN_GRANULARITY_NS, Placement, RunQueue, SLEEPER_BONUS_NS, TARGET_LATENCY_NS,
    WAKEUP_GRANULARITY_NS,
};
pub use scheduler::{
    AffinityError, BALANCE_INTERVAL_NS, CpuSnapshot, Intent, Scheduler, SwitchDecision, WakeResult,
};
pub use stats::CpuStats;
pub use thread::{
    NICE_0_WEIGHT, Schedulable, ThreadSched, ThreadState, ThreadStats, nice_to_weight,
};
pub use timer::{CpuTimerId, CpuTimers, TimerId, TimerQueue};
pub use waitqueue::{Completion, WaitQueue};
pub use watchdog::{Lockup, LockupKind, Watchdog};
