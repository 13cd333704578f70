//! The wall clock used for inode timestamps.

use spin::Once;
use weft_abi::time::Timespec;

static CLOCK: Once<fn() -> Timespec> = Once::new();

/// Installs the wall clock (`CLOCK_REALTIME`) the VFS stamps inodes with. Only the
/// first call has an effect; until then every timestamp is 0 (the epoch).
pub fn set_clock(now: fn() -> Timespec) {
    CLOCK.call_once(|| now);
}

/// The current time, or 0 without a clock.
pub(crate) fn now() -> Timespec {
    match CLOCK.get() {
        Some(f) => f(),
        None => Timespec::default(),
    }
}
