//! Time: [`now`] (`CLOCK_MONOTONIC`), [`Instant`], [`sleep`].

use core::time::Duration;

use weft_abi::Errno;
use weft_abi::time::{CLOCK_MONOTONIC, Timespec};

use crate::sys;

/// `timespec` for a duration (saturating at `i64::MAX` seconds).
pub fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: d.subsec_nanos() as i64,
    }
}

/// Duration for a (valid, non-negative) `timespec`.
pub fn duration(t: &Timespec) -> Duration {
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Time on `CLOCK_MONOTONIC` (zero if the clock cannot be read).
pub fn now() -> Duration {
    sys::clock_gettime(CLOCK_MONOTONIC)
        .map(|t| duration(&t))
        .unwrap_or(Duration::ZERO)
}

/// A point on the monotonic clock.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(Duration);

impl Instant {
    /// Now.
    pub fn now() -> Instant {
        Instant(now())
    }

    /// Time since `self`.
    pub fn elapsed(&self) -> Duration {
        now().saturating_sub(self.0)
    }

    /// Time from `earlier` to `self` (zero if `earlier` is later).
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// `self + d`.
    pub fn add(&self, d: Duration) -> Instant {
        Instant(self.0 + d)
    }
}

/// Sleeps for `d` (`nanosleep`, resumed after `EINTR`).
pub fn sleep(d: Duration) {
    let mut req = timespec(d);
    loop {
        let mut rem = Timespec::default();
        match sys::nanosleep(&req, Some(&mut rem)) {
            Err(Errno::EINTR) => req = rem,
            _ => return,
        }
    }
}
