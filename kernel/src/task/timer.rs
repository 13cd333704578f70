//! The per-CPU timer interrupt: scheduler tick, timed sleeps, one-shot re-arming.
//!
//! The LAPIC timer runs in one-shot mode. After every timer interrupt the CPU arms
//! it again for the earlier of "one tick from now" and its earliest sleeper
//! deadline, so a 1 ms sleep does not wait for a 4 ms tick.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Once;
use weft_arch::trap::TrapFrame;
use weft_arch::{MAX_CPUS, apic, cpu, percpu, time};
use weft_sched::{CpuTimers, Intent};

use super::{KernelPlatform, Thread, current, sched, schedule};

/// Scheduler tick period.
pub const TICK_NS: u64 = 4_000_000;
/// Never arm the timer closer than this (the interrupt would be late anyway).
const MIN_ARM_NS: u64 = 20_000;

static TIMERS: Once<CpuTimers<Arc<Thread>, KernelPlatform>> = Once::new();
static ARMED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(u64::MAX) }; MAX_CPUS];

fn timers() -> &'static CpuTimers<Arc<Thread>, KernelPlatform> {
    TIMERS.call_once(|| CpuTimers::new(percpu::cpu_count()))
}

/// Arms this CPU's timer for its next event.
pub fn arm(cpu: usize) {
    let now = time::now_ns();
    let mut at = now + TICK_NS;
    if let Some(d) = timers().next_deadline(cpu) {
        at = at.min(d.max(now + MIN_ARM_NS));
    }
    ARMED[cpu].store(at, Ordering::Relaxed);
    apic::timer_oneshot_at(at);
}

/// The LAPIC timer interrupt.
pub fn on_timer(f: &mut TrapFrame) {
    crate::watchdog::on_tick(f);
    let cpu = percpu::cpu_id();
    percpu::this().timer_ticks.fetch_add(1, Ordering::Relaxed);
    let now = time::now_ns();
    for t in timers().expire(cpu, now) {
        sched().wake(&t, cpu);
    }
    sched().tick(cpu, now);
    arm(cpu);
}

/// Sleeps the current thread until the monotonic clock reaches `deadline_ns`.
/// Never returns early.
pub fn sleep_until(deadline_ns: u64) {
    let me = current().expect("sleep_until called outside a thread");
    while time::now_ns() < deadline_ns {
        let irq = cpu::irq_save();
        let cpu = percpu::cpu_id();
        me.sched().prepare_sleep();
        let id = timers().arm(cpu, deadline_ns, me.clone());
        if deadline_ns < ARMED[cpu].load(Ordering::Relaxed) {
            arm(cpu);
        }
        schedule(Intent::Sleep);
        // Woken by the timer (the entry is gone) or by someone else (remove it).
        timers().cancel(id);
        cpu::irq_restore(irq);
    }
}

/// For a thread that has already announced a sleep (`prepare_sleep`): sleeps until
/// woken or until `deadline_ns`, whichever comes first.
pub fn sleep_prepared_until(deadline_ns: u64) {
    let me = current().expect("sleep_prepared_until called outside a thread");
    let irq = cpu::irq_save();
    let cpu = percpu::cpu_id();
    let id = timers().arm(cpu, deadline_ns, me);
    if deadline_ns < ARMED[cpu].load(Ordering::Relaxed) {
        arm(cpu);
    }
    schedule(Intent::Sleep);
    timers().cancel(id);
    cpu::irq_restore(irq);
}

/// Sleeps for at least `ns` nanoseconds.
pub fn sleep_ns(ns: u64) {
    sleep_until(time::now_ns() + ns);
}

use weft_sched::Schedulable as _;
