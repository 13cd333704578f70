//! The panic handler: prints the message and the thread id to standard error and
//! ends the process with status 101 (the runtime is built with `panic = "abort"`).

use core::fmt::Write;
use core::panic::PanicInfo;

use crate::io::{FdWriter, LINE_BUF, STDERR};
use crate::sys;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let mut w = FdWriter::<LINE_BUF>::new(STDERR);
    let _ = write!(w, "panic in thread {}: {}", sys::gettid(), info.message());
    if let Some(l) = info.location() {
        let _ = write!(w, " at {}:{}", l.file(), l.line());
    }
    w.push(b"\n");
    w.flush();
    sys::exit_group(101)
}
