//! Kernel console output: `kprintln!` (prefixed with a timestamp and the CPU) and
//! `rawprintln!` (unprefixed, for machine-read lines such as test results).
//!
//! Output is serialised by a console lock that remembers its owner CPU, so a CPU
//! that faults while printing can still print its report (re-entry on the same CPU
//! skips the lock), and a CPU that panics while another holds the lock takes it over
//! after a bounded wait (as does any CPU once the watchdog is dumping).

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::serial::SerialWriter;

const NO_OWNER: u32 = u32::MAX;
static OWNER: AtomicU32 = AtomicU32::new(NO_OWNER);
static PANICKING: AtomicBool = AtomicBool::new(false);
static BOUNDED: AtomicBool = AtomicBool::new(false);

/// Runs `f` with exclusive access to the console.
pub fn with_console<R>(f: impl FnOnce(&mut SerialWriter) -> R) -> R {
    let irq = crate::cpu::irq_save();
    let me = crate::percpu::cpu_id() as u32;
    let mut taken = false;
    let mut spins: u64 = 0;
    loop {
        match OWNER.compare_exchange_weak(NO_OWNER, me, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => {
                taken = true;
                break;
            }
            Err(owner) if owner == me => break, // nested use on this CPU (fault while printing)
            Err(_) => {
                spins += 1;
                if (PANICKING.load(Ordering::Relaxed) || BOUNDED.load(Ordering::Relaxed))
                    && spins > 10_000_000
                {
                    break; // the owner is probably stopped; print anyway
                }
                core::hint::spin_loop();
            }
        }
    }
    let r = f(&mut SerialWriter);
    if taken {
        OWNER.store(NO_OWNER, Ordering::Release);
    }
    crate::cpu::irq_restore(irq);
    r
}

/// Marks that the system is going down: console waits become bounded.
/// Returns true for the first caller only.
pub fn begin_panic() -> bool {
    !PANICKING.swap(true, Ordering::SeqCst)
}

/// Makes console waits bounded from now on without claiming the panic report
/// (the watchdog's dump: a stuck CPU may hold the console lock; the panic that
/// follows still calls [`begin_panic`]).
pub fn bound_waits() {
    BOUNDED.store(true, Ordering::SeqCst);
}

/// Whether a panic or fatal exception is being reported.
pub fn panicking() -> bool {
    PANICKING.load(Ordering::Relaxed)
}

#[doc(hidden)]
pub fn _log(args: fmt::Arguments) {
    let ns = crate::time::now_ns();
    let cpu = crate::percpu::cpu_id();
    with_console(|w| {
        let _ = write!(
            w,
            "[{:5}.{:06} cpu{}] ",
            ns / 1_000_000_000,
            (ns / 1000) % 1_000_000,
            cpu
        );
        let _ = w.write_fmt(args);
        let _ = w.write_str("\n");
    });
}

#[doc(hidden)]
pub fn _raw(args: fmt::Arguments) {
    with_console(|w| {
        let _ = w.write_fmt(args);
    });
}

/// Logs a line with timestamp and CPU prefix.
#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => { $crate::log::_log(format_args!($($arg)*)) };
}

/// Prints without prefix or newline.
#[macro_export]
macro_rules! rawprint {
    ($($arg:tt)*) => { $crate::log::_raw(format_args!($($arg)*)) };
}

/// Prints a line without prefix (machine-read output: test and bench lines).
#[macro_export]
macro_rules! rawprintln {
    () => { $crate::log::_raw(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::log::_raw(format_args!("{}\n", format_args!($($arg)*))) };
}
