//! Output to file descriptors: [`print!`](crate::print), [`println!`](crate::println),
//! [`eprint!`](crate::eprint), [`eprintln!`](crate::eprintln).
//!
//! Each macro call formats into a buffer on the caller's stack and hands it to the
//! kernel with as few `write`s as possible: one for output up to [`LINE_BUF`]
//! bytes. So a line printed by one thread is never split by another thread's output
//! (unless it is longer than the buffer). Nothing is buffered across calls, and no
//! lock is taken, so printing is safe in a child right after `fork` and from any
//! thread.

use core::fmt;

use crate::sys;

/// Size of the per-call output buffer.
pub const LINE_BUF: usize = 1024;

/// Standard input.
pub const STDIN: i32 = 0;
/// Standard output.
pub const STDOUT: i32 = 1;
/// Standard error.
pub const STDERR: i32 = 2;

/// A `fmt::Write` that collects output in a fixed buffer and writes it to a file
/// descriptor when full and on [`FdWriter::flush`] (or drop).
pub struct FdWriter<const N: usize> {
    fd: i32,
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> FdWriter<N> {
    /// A writer for `fd`.
    pub const fn new(fd: i32) -> Self {
        FdWriter {
            fd,
            buf: [0; N],
            len: 0,
        }
    }

    /// Writes out what is buffered. Errors are ignored (there is nowhere to report
    /// them).
    pub fn flush(&mut self) {
        if self.len > 0 {
            let _ = sys::write_all(self.fd, &self.buf[..self.len]);
            self.len = 0;
        }
    }

    /// Appends bytes, flushing as needed.
    pub fn push(&mut self, mut s: &[u8]) {
        while !s.is_empty() {
            if self.len == N {
                self.flush();
            }
            let n = s.len().min(N - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
            self.len += n;
            s = &s[n..];
        }
    }
}

impl<const N: usize> fmt::Write for FdWriter<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

impl<const N: usize> Drop for FdWriter<N> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Formats `args` (plus a newline if `nl`) and writes it to `fd`. Used by the
/// printing macros.
#[doc(hidden)]
pub fn _print(fd: i32, args: fmt::Arguments<'_>, nl: bool) {
    let mut w = FdWriter::<LINE_BUF>::new(fd);
    let _ = fmt::write(&mut w, args);
    if nl {
        w.push(b"\n");
    }
    w.flush();
}

/// Prints to standard output.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::io::_print($crate::io::STDOUT, format_args!($($arg)*), false) };
}

/// Prints to standard output, with a newline.
#[macro_export]
macro_rules! println {
    () => { $crate::io::_print($crate::io::STDOUT, format_args!(""), true) };
    ($($arg:tt)*) => { $crate::io::_print($crate::io::STDOUT, format_args!($($arg)*), true) };
}

/// Prints to standard error.
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::io::_print($crate::io::STDERR, format_args!($($arg)*), false) };
}

/// Prints to standard error, with a newline.
#[macro_export]
macro_rules! eprintln {
    () => { $crate::io::_print($crate::io::STDERR, format_args!(""), true) };
    ($($arg:tt)*) => { $crate::io::_print($crate::io::STDERR, format_args!($($arg)*), true) };
}
