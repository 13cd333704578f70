//! COM1 output for progress and error messages (`loader: ...` lines).

use crate::arch::{inb, outb};
use core::fmt;

const COM1: u16 = 0x3f8;

/// Programs COM1 for 115200 baud, 8N1, FIFO on, interrupts off.
pub fn init() {
    outb(COM1 + 1, 0x00); // no interrupts
    outb(COM1 + 3, 0x80); // DLAB on
    outb(COM1, 0x01); // divisor 1 = 115200 baud
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); // 8N1, DLAB off
    outb(COM1 + 2, 0xc7); // FIFO on, cleared, 14-byte threshold
    outb(COM1 + 4, 0x03); // DTR, RTS
}

fn put(b: u8) {
    // Wait for the transmit holding register; bounded so a missing UART cannot hang us.
    for _ in 0..100_000 {
        if inb(COM1 + 5) & 0x20 != 0 {
            break;
        }
    }
    outb(COM1, b);
}

/// `fmt::Write` sink for COM1.
pub struct Serial;

impl fmt::Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                put(b'\r');
            }
            put(b);
        }
        Ok(())
    }
}

/// Prints to COM1.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut $crate::serial::Serial, format_args!($($arg)*));
    }};
}

/// Prints a `loader: `-prefixed line to COM1.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {{
        $crate::print!("loader: ");
        $crate::print!($($arg)*);
        $crate::print!("\n");
    }};
}

/// Prints the reason, ends the QEMU run with failure status and halts.
#[macro_export]
macro_rules! fatal {
    ($($arg:tt)*) => {{
        $crate::print!("loader: error: ");
        $crate::print!($($arg)*);
        $crate::print!("\n");
        $crate::arch::exit_qemu(0x11)
    }};
}

/// Displays a byte string, replacing non-printable bytes.
pub struct Bytes<'a>(pub &'a [u8]);

impl fmt::Display for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            let c = if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            };
            fmt::Write::write_char(f, c)?;
        }
        Ok(())
    }
}
