//! CMOS real-time clock, for the date-at-boot response.

use crate::arch::{inb, outb};
use weft_bootproto::time::RtcRaw;

fn cmos(reg: u8) -> u8 {
    outb(0x70, 0x80 | reg); // bit 7 keeps NMIs disabled while we poke the RTC
    inb(0x71)
}

fn update_in_progress() -> bool {
    cmos(0x0a) & 0x80 != 0
}

fn snapshot() -> RtcRaw {
    for _ in 0..1_000_000 {
        if !update_in_progress() {
            break;
        }
    }
    RtcRaw {
        seconds: cmos(0x00),
        minutes: cmos(0x02),
        hours: cmos(0x04),
        day: cmos(0x07),
        month: cmos(0x08),
        year: cmos(0x09),
        century: cmos(0x32),
        status_b: cmos(0x0b),
    }
}

/// Current UTC time in UNIX seconds. Two identical consecutive reads guard against an
/// update happening mid-read.
pub fn unix_seconds() -> i64 {
    let mut last = snapshot();
    for _ in 0..8 {
        let now = snapshot();
        if now == last {
            break;
        }
        last = now;
    }
    last.unix_seconds()
}
