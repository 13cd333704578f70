//! The COM1 16550 UART: the kernel console.

use core::fmt;
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;

/// Programs COM1 for 115200 baud, 8N1, FIFO on, interrupts off.
pub fn init() {
    let regs = [
        (1, 0x00), // interrupts off
        (3, 0x80), // DLAB on
        (0, 0x01), // divisor low: 115200 baud
        (1, 0x00), // divisor high
        (3, 0x03), // 8 bits, no parity, one stop bit, DLAB off
        (2, 0xc7), // FIFO on, cleared, 14-byte threshold
        (4, 0x03), // DTR + RTS
    ];
    for (off, val) in regs {
        let mut p: Port<u8> = Port::new(COM1 + off);
        // SAFETY: COM1 registers are standard PC I/O ports; programming them only
        // affects the UART.
        unsafe { p.write(val) };
    }
}

fn write_byte(b: u8) {
    let mut lsr: Port<u8> = Port::new(COM1 + 5);
    let mut data: Port<u8> = Port::new(COM1);
    // Bounded wait for the transmit holding register: a missing UART must not hang us.
    for _ in 0..100_000 {
        // SAFETY: reading the line status register has no side effects.
        if unsafe { lsr.read() } & 0x20 != 0 {
            break;
        }
        core::hint::spin_loop();
    }
    // SAFETY: writing the data register transmits one byte.
    unsafe { data.write(b) };
}

/// Reads one byte if one is waiting.
pub fn try_read_byte() -> Option<u8> {
    let mut lsr: Port<u8> = Port::new(COM1 + 5);
    let mut data: Port<u8> = Port::new(COM1);
    // SAFETY: reading the UART status and data registers only consumes input.
    unsafe {
        if lsr.read() & 1 != 0 {
            Some(data.read())
        } else {
            None
        }
    }
}

/// Writes bytes, turning `\n` into `\r\n`. Callers serialise through [`crate::log`].
pub fn write_bytes(bytes: &[u8]) {
    for &b in bytes {
        if b == b'\n' {
            write_byte(b'\r');
        }
        write_byte(b);
    }
}

/// A `fmt::Write` sink straight to COM1 (no locking; see [`crate::log`]).
pub struct SerialWriter;

impl fmt::Write for SerialWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Enables the "received data available" interrupt (the IOAPIC routes it).
pub fn enable_rx_interrupt() {
    let mut ier: Port<u8> = Port::new(COM1 + 1);
    let mut mcr: Port<u8> = Port::new(COM1 + 4);
    // SAFETY: IER bit 0 enables the receive interrupt; MCR OUT2 gates the UART's
    // interrupt line on PC hardware. Both only affect the UART.
    unsafe {
        ier.write(0x01);
        mcr.write(0x0b);
    }
}
