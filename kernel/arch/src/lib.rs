//! x86_64-specific code for Weft: everything that touches the CPU directly.
//!
//! This crate owns the instruction-level details (descriptor tables, interrupt entry,
//! the local APIC and IOAPIC, the TSC clock, per-CPU storage through GS, context
//! switching). It knows nothing about threads, memory allocation policy or
//! processes: the kernel binary passes in what it needs (virtual addresses of MMIO
//! windows, stack tops, handler functions).
//!
//! Interrupt vectors are fixed here (see [`vectors`]), so every CPU agrees on them.
#![no_std]

extern crate alloc;

pub mod acpi;
pub mod apic;
pub mod backtrace;
pub mod context;
pub mod cpu;
pub mod gdt;
pub mod ioapic;
pub mod log;
pub mod percpu;
pub mod qemu;
pub mod serial;
pub mod switch;
pub mod syscall;
pub mod time;
pub mod trap;

/// Fixed interrupt vectors.
pub mod vectors {
    /// First vector used for IOAPIC (legacy ISA) interrupts: IRQ n arrives at `IRQ_BASE + n`.
    pub const IRQ_BASE: u8 = 0x30;
    /// The local APIC timer.
    pub const TIMER: u8 = 0x40;
    /// Reschedule request: the receiving CPU re-runs its scheduler.
    pub const RESCHEDULE: u8 = 0xf0;
    /// TLB shootdown request.
    pub const TLB_SHOOTDOWN: u8 = 0xf1;
    /// Run a function on another CPU (cross call).
    pub const CALL_FUNCTION: u8 = 0xf2;
    /// Stop this CPU (panic on another CPU).
    pub const STOP: u8 = 0xf3;
    /// Local APIC error interrupt.
    pub const APIC_ERROR: u8 = 0xfe;
    /// Local APIC spurious interrupt.
    pub const SPURIOUS: u8 = 0xff;
}

/// The most CPUs Weft supports (bounded by the 64-bit CPU masks used by the scheduler).
pub const MAX_CPUS: usize = 64;
