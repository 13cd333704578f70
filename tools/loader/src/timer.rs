//! Busy-wait delays on PIT channel 2 (the speaker channel, polled through port 0x61).
//!
//! INIT-SIPI-SIPI needs real delays on hardware (10 ms after INIT, about 200 us between
//! SIPIs); the PIT needs no calibration and exists on every PC and in QEMU.

use crate::arch::{inb, outb};

const PIT_HZ: u64 = 1_193_182;
const MAX_TICKS: u64 = 0xffff;

fn wait_ticks(ticks: u16) {
    let p61 = inb(0x61);
    // Gate low, speaker off, then channel 2, lobyte/hibyte, mode 0 (one-shot), binary.
    outb(0x61, p61 & !0x03);
    outb(0x43, 0xb0);
    outb(0x42, ticks as u8);
    outb(0x42, (ticks >> 8) as u8);
    // Raising the gate starts the count; OUT2 (bit 5 of 0x61) goes high at zero.
    outb(0x61, (p61 & !0x02) | 0x01);
    for _ in 0..10_000_000u32 {
        if inb(0x61) & 0x20 != 0 {
            break;
        }
    }
    outb(0x61, p61 & !0x03);
}

/// Waits at least `us` microseconds.
pub fn delay_us(us: u64) {
    let mut ticks = (us * PIT_HZ).div_ceil(1_000_000).max(1);
    while ticks > 0 {
        let now = ticks.min(MAX_TICKS);
        wait_ticks(now as u16);
        ticks -= now;
    }
}
