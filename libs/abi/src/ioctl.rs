//! The few terminal ioctls C libraries issue on their own (isatty, stdio buffering).

/// Get terminal attributes (`struct termios`); `ENOTTY` on a non-terminal is how
/// `isatty` answers.
pub const TCGETS: u32 = 0x5401;
/// Set terminal attributes now.
pub const TCSETS: u32 = 0x5402;
/// Set terminal attributes after draining output.
pub const TCSETSW: u32 = 0x5403;
/// Set terminal attributes after draining and flushing input.
pub const TCSETSF: u32 = 0x5404;
/// Get the foreground process group.
pub const TIOCGPGRP: u32 = 0x540f;
/// Set the foreground process group.
pub const TIOCSPGRP: u32 = 0x5410;
/// Get the window size (`struct winsize`).
pub const TIOCGWINSZ: u32 = 0x5413;
/// Set the window size.
pub const TIOCSWINSZ: u32 = 0x5414;
/// Bytes available to read.
pub const FIONREAD: u32 = 0x541b;
/// Set/clear non-blocking mode.
pub const FIONBIO: u32 = 0x5421;
/// Set close-on-exec.
pub const FIOCLEX: u32 = 0x5451;
/// Clear close-on-exec.
pub const FIONCLEX: u32 = 0x5450;

/// `struct winsize` (8 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Winsize {
    /// Rows.
    pub ws_row: u16,
    /// Columns.
    pub ws_col: u16,
    /// Width in pixels.
    pub ws_xpixel: u16,
    /// Height in pixels.
    pub ws_ypixel: u16,
}

const _: () = assert!(core::mem::size_of::<Winsize>() == 8);
