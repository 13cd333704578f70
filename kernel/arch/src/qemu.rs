//! Ending a QEMU run through the isa-debug-exit device (port 0xf4).
//!
//! Writing `v` makes QEMU exit with status `2 * v + 1`. On real hardware nothing
//! listens on that port and the write is harmless; callers halt afterwards.

use x86_64::instructions::port::Port;

/// Exit status the test runner treats as success (QEMU exits with 33).
pub const EXIT_SUCCESS: u32 = 0x10;
/// Exit status the test runner treats as failure (QEMU exits with 35).
pub const EXIT_FAILURE: u32 = 0x11;

/// Asks QEMU to exit with `code`; returns if no debug-exit device is present.
pub fn exit(code: u32) {
    let mut port: Port<u32> = Port::new(0xf4);
    // SAFETY: port 0xf4 is the isa-debug-exit device under QEMU and unused on the
    // PC platform otherwise; writing it has no effect on kernel memory.
    unsafe { port.write(code) };
}

/// Asks QEMU to exit so that the host sees `status` (0..=63; larger values are
/// reported as 63): 0 exits with 33 (success), `s` > 0 with `129 + 2 * s`
/// (tools/runner decodes both back into `s` in run mode).
pub fn exit_with_status(status: u32) {
    if status == 0 {
        exit(EXIT_SUCCESS);
    } else {
        exit(0x40 + status.min(63));
    }
}
