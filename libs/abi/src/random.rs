//! `getrandom` flags.

/// Do not block if the pool is not initialised (`EAGAIN` instead).
pub const GRND_NONBLOCK: u32 = 0x0001;
/// Use the blocking pool (historic).
pub const GRND_RANDOM: u32 = 0x0002;
/// Return bytes even if the pool is not initialised.
pub const GRND_INSECURE: u32 = 0x0004;
/// Every valid flag.
pub const GRND_ALL: u32 = GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE;
