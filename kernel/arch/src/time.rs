//! The monotonic clock: the TSC, calibrated against the PIT at boot.
//!
//! `now_ns()` = (TSC - TSC at calibration) scaled by a 32.32 fixed-point factor.
//! QEMU and modern hardware keep the TSC in step across CPUs, so one calibration
//! serves every CPU.

use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::instructions::port::Port;

use crate::cpu::rdtsc;

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per TSC tick in 32.32 fixed point.
static NS_PER_TICK: AtomicU64 = AtomicU64::new(0);
static TSC_BASE: AtomicU64 = AtomicU64::new(0);

const PIT_HZ: u64 = 1_193_182;

/// Counts TSC ticks across one PIT channel-2 countdown of `pit_ticks`.
fn pit_measure(pit_ticks: u16) -> u64 {
    let mut gate: Port<u8> = Port::new(0x61);
    let mut cmd: Port<u8> = Port::new(0x43);
    let mut ch2: Port<u8> = Port::new(0x42);
    // SAFETY: ports 0x61/0x42/0x43 are the PC speaker gate and PIT channel 2; the
    // speaker output stays off (bit 1 clear) and channel 2 is used by nobody else.
    unsafe {
        let g = gate.read() & !0x03;
        gate.write(g); // gate low: counter holds
        cmd.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0, binary
        ch2.write(pit_ticks as u8);
        ch2.write((pit_ticks >> 8) as u8);
        gate.write(g | 0x01); // rising gate edge starts the count
        let start = rdtsc();
        // OUT2 (bit 5) goes high when the count reaches zero. Bounded, in case there
        // is no PIT: about 100M polls is far longer than any real countdown.
        for _ in 0..100_000_000u64 {
            if gate.read() & 0x20 != 0 {
                break;
            }
        }
        let end = rdtsc();
        gate.write(g);
        end - start
    }
}

/// Calibrates the TSC against the PIT (three 10 ms windows, the shortest wins since
/// delays only ever lengthen a window) and starts the clock. Boot CPU only.
pub fn calibrate() -> u64 {
    let pit_ticks: u16 = (PIT_HZ / 100) as u16; // 10 ms
    let mut best = u64::MAX;
    for _ in 0..3 {
        best = best.min(pit_measure(pit_ticks));
    }
    let hz = best * PIT_HZ / pit_ticks as u64;
    set_frequency(hz);
    hz
}

fn set_frequency(hz: u64) {
    let hz = hz.max(1_000_000);
    TSC_HZ.store(hz, Ordering::Relaxed);
    NS_PER_TICK.store(
        ((1_000_000_000u128 << 32) / hz as u128) as u64,
        Ordering::Relaxed,
    );
    TSC_BASE.store(rdtsc(), Ordering::Relaxed);
}

/// TSC frequency in Hz (0 before calibration).
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Reads the TSC in program order (lfence keeps it from running ahead of loads).
#[inline]
pub fn rdtsc_ordered() -> u64 {
    // SAFETY: lfence only orders instruction execution.
    unsafe { core::arch::asm!("lfence", options(nostack, preserves_flags)) };
    rdtsc()
}

/// Converts TSC ticks to nanoseconds.
#[inline]
pub fn ticks_to_ns(ticks: u64) -> u64 {
    ((ticks as u128 * NS_PER_TICK.load(Ordering::Relaxed) as u128) >> 32) as u64
}

/// Converts nanoseconds to TSC ticks.
pub fn ns_to_ticks(ns: u64) -> u64 {
    (ns as u128 * tsc_hz() as u128 / 1_000_000_000) as u64
}

/// Nanoseconds since calibration (0 before).
#[inline]
pub fn now_ns() -> u64 {
    let base = TSC_BASE.load(Ordering::Relaxed);
    if base == 0 {
        return 0;
    }
    ticks_to_ns(rdtsc_ordered().saturating_sub(base))
}

/// The TSC value that corresponds to `ns` on the monotonic clock.
pub fn ns_to_tsc_deadline(ns: u64) -> u64 {
    TSC_BASE.load(Ordering::Relaxed) + ns_to_ticks(ns)
}

/// Busy-waits for `ns` nanoseconds.
pub fn spin_ns(ns: u64) {
    let end = now_ns() + ns;
    while now_ns() < end {
        core::hint::spin_loop();
    }
}
