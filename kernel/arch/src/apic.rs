//! Local APIC access (through the x2apic crate) and the LAPIC timer.
//!
//! Each CPU keeps its `LocalApic` in its per-CPU slot and touches it only with
//! interrupts disabled, so interrupt handlers (EOI) and normal code (IPIs, timer
//! programming) never interleave register sequences such as the two xAPIC ICR writes.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use x2apic::lapic::{LocalApic, LocalApicBuilder, TimerDivide, TimerMode};

use crate::cpu::IrqGuard;
use crate::percpu;
use crate::vectors;

static X2APIC: AtomicBool = AtomicBool::new(false);
static READY: AtomicBool = AtomicBool::new(false);
/// LAPIC timer ticks per millisecond at divide-by-16 (same on every CPU).
static TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);
static DEADLINE_MODE: AtomicBool = AtomicBool::new(false);

/// Physical base of the xAPIC registers (from IA32_APIC_BASE).
pub fn xapic_phys_base() -> u64 {
    crate::cpu::rdmsr(crate::cpu::msr::APIC_BASE) & 0x000f_ffff_ffff_f000
}

fn with_lapic<R>(f: impl FnOnce(&mut LocalApic) -> R) -> R {
    let _irq = IrqGuard::new();
    let pc = percpu::this();
    // SAFETY: only the owning CPU reaches its slot's LocalApic, with interrupts off,
    // so no other reference exists while `f` runs.
    let lapic = unsafe { &mut *pc.lapic.get() };
    f(lapic
        .as_mut()
        .expect("local APIC used before apic::init_cpu"))
}

/// Whether the boot CPU has enabled its local APIC.
pub fn is_initialised() -> bool {
    READY.load(Ordering::Acquire)
}

/// Whether the local APICs run in x2APIC mode.
pub fn is_x2apic() -> bool {
    X2APIC.load(Ordering::Relaxed)
}

/// Enables this CPU's local APIC. `xapic_virt` is an uncached mapping of the xAPIC
/// registers (used only when the CPU has no x2APIC). The timer starts stopped.
pub fn init_cpu(xapic_virt: u64) {
    let x2 = crate::cpu::features().x2apic;
    let mut lapic = LocalApicBuilder::new()
        .timer_vector(vectors::TIMER as usize)
        .error_vector(vectors::APIC_ERROR as usize)
        .spurious_vector(vectors::SPURIOUS as usize)
        .timer_mode(TimerMode::OneShot)
        .timer_divide(TimerDivide::Div16)
        .timer_initial(0)
        .set_xapic_base(xapic_virt)
        .build()
        .expect("local APIC builder");
    // SAFETY: the IDT has handlers (or the spurious/ignore path) for the timer, error
    // and spurious vectors; the timer initial count is 0 so it does not fire.
    unsafe { lapic.enable() };
    let _irq = IrqGuard::new();
    let pc = percpu::this();
    // SAFETY: bring-up of the owning CPU with interrupts off; no other reference.
    unsafe { *pc.lapic.get() = Some(lapic) };
    X2APIC.store(x2, Ordering::Relaxed);
    READY.store(true, Ordering::Release);
}

/// This CPU's APIC id, normalised (xAPIC ids are reported in bits 24..31).
pub fn id() -> u32 {
    // SAFETY: reading the id register has no side effects.
    let raw = with_lapic(|l| unsafe { l.id() });
    if is_x2apic() { raw } else { raw >> 24 }
}

/// Signals end of interrupt.
#[inline]
pub fn eoi() {
    // SAFETY: writing EOI acknowledges the in-service interrupt on this CPU.
    with_lapic(|l| unsafe { l.end_of_interrupt() });
}

fn wait_icr_idle(l: &LocalApic) {
    if is_x2apic() {
        return;
    }
    for _ in 0..1_000_000 {
        // SAFETY: reading the ICR delivery status has no side effects.
        if !unsafe { l.get_ipi_delivery_status() } {
            return;
        }
        core::hint::spin_loop();
    }
}

fn dest_field(apic_id: u32) -> u32 {
    if is_x2apic() { apic_id } else { apic_id << 24 }
}

/// Sends a fixed IPI with `vector` to CPU index `cpu`.
pub fn send_ipi(cpu: usize, vector: u8) {
    let dest = dest_field(percpu::get(cpu).lapic_id());
    with_lapic(|l| {
        wait_icr_idle(l);
        // SAFETY: the vector has an IDT entry; dest is a present CPU's APIC id.
        unsafe { l.send_ipi(vector, dest) };
    });
}

/// Sends a non-maskable interrupt to CPU index `cpu` (the watchdog's "show me
/// where you are", which reaches a CPU even with its interrupts off).
pub fn send_nmi(cpu: usize) {
    let dest = dest_field(percpu::get(cpu).lapic_id());
    with_lapic(|l| {
        wait_icr_idle(l);
        // SAFETY: vector 2 (NMI) has an IDT entry on its own IST stack on every
        // CPU; dest is a present CPU's APIC id.
        unsafe { l.send_nmi(dest) };
    });
}

/// Sends a fixed IPI with `vector` to every CPU except this one.
pub fn send_ipi_all_others(vector: u8) {
    with_lapic(|l| {
        wait_icr_idle(l);
        // SAFETY: the vector has an IDT entry on every CPU.
        unsafe { l.send_ipi_all(vector, x2apic::lapic::IpiAllShorthand::AllExcludingSelf) };
    });
}

/// Sends `vector` to this CPU (for tests). Uses the self-directed destination rather
/// than the crate's `send_ipi_self`, which is broken in xAPIC mode.
pub fn send_ipi_self(vector: u8) {
    send_ipi(percpu::cpu_id(), vector);
}

/// Measures the LAPIC timer rate against the calibrated TSC clock (boot CPU, after
/// `time::calibrate`). Every CPU shares the bus clock, so one measurement serves all.
pub fn calibrate_timer() -> u64 {
    let ticks = with_lapic(|l| {
        // SAFETY: one-shot countdown with the timer vector masked out of the way by
        // interrupts being off; stopped again below.
        unsafe {
            l.set_timer_mode(TimerMode::OneShot);
            l.set_timer_divide(TimerDivide::Div16);
            l.set_timer_initial(u32::MAX);
        }
        crate::time::spin_ns(10_000_000);
        // SAFETY: reading the current count; then stop the timer.
        unsafe {
            let cur = l.timer_current();
            l.set_timer_initial(0);
            (u32::MAX - cur) as u64
        }
    });
    let per_ms = (ticks / 10).max(1);
    TICKS_PER_MS.store(per_ms, Ordering::Relaxed);
    DEADLINE_MODE.store(crate::cpu::features().tsc_deadline, Ordering::Relaxed);
    per_ms
}

/// LAPIC timer ticks per millisecond (divide by 16).
pub fn timer_ticks_per_ms() -> u64 {
    TICKS_PER_MS.load(Ordering::Relaxed)
}

/// Whether the timer uses TSC-deadline mode.
pub fn deadline_mode() -> bool {
    DEADLINE_MODE.load(Ordering::Relaxed)
}

fn ns_to_timer_count(ns: u64) -> u32 {
    let c = ns.saturating_mul(timer_ticks_per_ms()) / 1_000_000;
    c.clamp(1, u32::MAX as u64) as u32
}

/// Arms a single timer interrupt at monotonic time `deadline_ns` (TSC-deadline mode
/// where the CPU has it, a one-shot countdown otherwise).
pub fn timer_oneshot_at(deadline_ns: u64) {
    if deadline_mode() {
        let tsc = crate::time::ns_to_tsc_deadline(deadline_ns);
        // SAFETY: TSC-deadline mode is supported (CPUID checked); writing the
        // deadline MSR arms the timer.
        with_lapic(|l| unsafe {
            l.set_timer_mode(TimerMode::TscDeadline);
            crate::cpu::wrmsr(crate::cpu::msr::TSC_DEADLINE, tsc.max(1));
        });
    } else {
        let now = crate::time::now_ns();
        let count = ns_to_timer_count(deadline_ns.saturating_sub(now));
        // SAFETY: programs this CPU's one-shot countdown.
        with_lapic(|l| unsafe {
            l.set_timer_mode(TimerMode::OneShot);
            l.set_timer_divide(TimerDivide::Div16);
            l.set_timer_initial(count);
        });
    }
}

/// Stops this CPU's timer.
pub fn timer_stop() {
    // SAFETY: a zero initial count (or deadline) disarms the timer.
    with_lapic(|l| unsafe {
        if deadline_mode() {
            crate::cpu::wrmsr(crate::cpu::msr::TSC_DEADLINE, 0);
        }
        l.set_timer_initial(0);
    });
}
