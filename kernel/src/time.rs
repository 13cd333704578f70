//! Wall-clock and monotonic time for system calls.

use weft_abi::time::Timespec;

/// Monotonic nanoseconds since boot.
pub fn monotonic_ns() -> u64 {
    weft_arch::time::now_ns()
}

/// Nanoseconds since the Unix epoch (boot date from the bootloader + monotonic).
pub fn realtime_ns() -> u64 {
    let boot = crate::BOOT_INFO.get().map_or(0, |b| b.boot_unix_time);
    boot * 1_000_000_000 + monotonic_ns()
}

/// Converts nanoseconds to a timespec.
pub fn to_timespec(ns: u64) -> Timespec {
    Timespec {
        tv_sec: (ns / 1_000_000_000) as i64,
        tv_nsec: (ns % 1_000_000_000) as i64,
    }
}

/// The wall clock as a timespec (VFS timestamps).
pub fn realtime_timespec() -> Timespec {
    to_timespec(realtime_ns())
}
