//! Clocks and time structures.

/// Wall-clock time.
pub const CLOCK_REALTIME: u32 = 0;
/// Time since boot, not counting suspend; never jumps.
pub const CLOCK_MONOTONIC: u32 = 1;
/// CPU time of the process.
pub const CLOCK_PROCESS_CPUTIME_ID: u32 = 2;
/// CPU time of the thread.
pub const CLOCK_THREAD_CPUTIME_ID: u32 = 3;
/// Monotonic time without NTP slewing.
pub const CLOCK_MONOTONIC_RAW: u32 = 4;
/// Fast, coarse [`CLOCK_REALTIME`].
pub const CLOCK_REALTIME_COARSE: u32 = 5;
/// Fast, coarse [`CLOCK_MONOTONIC`].
pub const CLOCK_MONOTONIC_COARSE: u32 = 6;
/// Monotonic time including suspend.
pub const CLOCK_BOOTTIME: u32 = 7;
/// [`CLOCK_REALTIME`] that wakes the system.
pub const CLOCK_REALTIME_ALARM: u32 = 8;
/// [`CLOCK_BOOTTIME`] that wakes the system.
pub const CLOCK_BOOTTIME_ALARM: u32 = 9;
/// International Atomic Time.
pub const CLOCK_TAI: u32 = 11;

/// `clock_nanosleep` / `timer_settime`: the time is absolute.
pub const TIMER_ABSTIME: u32 = 1;

/// `setitimer`: real time, delivers SIGALRM.
pub const ITIMER_REAL: u32 = 0;
/// `setitimer`: user CPU time, delivers SIGVTALRM.
pub const ITIMER_VIRTUAL: u32 = 1;
/// `setitimer`: total CPU time, delivers SIGPROF.
pub const ITIMER_PROF: u32 = 2;

/// Nanoseconds per second.
pub const NSEC_PER_SEC: i64 = 1_000_000_000;

/// `struct timespec` (16 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timespec {
    /// Seconds.
    pub tv_sec: i64,
    /// Nanoseconds, `0..1_000_000_000` when valid.
    pub tv_nsec: i64,
}

impl Timespec {
    /// Linux's validity rule for a timeout/time value: `tv_sec >= 0` and
    /// `0 <= tv_nsec < 1e9`.
    pub const fn is_valid(&self) -> bool {
        self.tv_sec >= 0 && self.tv_nsec >= 0 && self.tv_nsec < NSEC_PER_SEC
    }

    /// Total nanoseconds, saturating at `i64::MAX` (and at 0 below), for a valid
    /// value.
    pub const fn as_nanos(&self) -> i64 {
        match self.tv_sec.checked_mul(NSEC_PER_SEC) {
            Some(n) => match n.checked_add(self.tv_nsec) {
                Some(t) => t,
                None => i64::MAX,
            },
            None if self.tv_sec < 0 => 0,
            None => i64::MAX,
        }
    }

    /// From nanoseconds (non-negative).
    pub const fn from_nanos(ns: i64) -> Timespec {
        Timespec {
            tv_sec: ns / NSEC_PER_SEC,
            tv_nsec: ns % NSEC_PER_SEC,
        }
    }
}

/// `struct timeval` (16 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeval {
    /// Seconds.
    pub tv_sec: i64,
    /// Microseconds.
    pub tv_usec: i64,
}

/// `struct timezone` (8 bytes; obsolete, usually zero).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Timezone {
    /// Minutes west of Greenwich.
    pub tz_minuteswest: i32,
    /// DST correction type.
    pub tz_dsttime: i32,
}

/// `struct itimerspec` (32 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Itimerspec {
    /// Period.
    pub it_interval: Timespec,
    /// First expiry.
    pub it_value: Timespec,
}

/// `struct itimerval` (32 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Itimerval {
    /// Period.
    pub it_interval: Timeval,
    /// First expiry.
    pub it_value: Timeval,
}

/// `struct tms` for `times` (32 bytes, in clock ticks).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Tms {
    /// User CPU time.
    pub tms_utime: i64,
    /// System CPU time.
    pub tms_stime: i64,
    /// User CPU time of waited-for children.
    pub tms_cutime: i64,
    /// System CPU time of waited-for children.
    pub tms_cstime: i64,
}

/// Clock ticks per second reported in `AT_CLKTCK` and used by `times`.
pub const CLK_TCK: u64 = 100;

const _: () = assert!(core::mem::size_of::<Timespec>() == 16);
const _: () = assert!(core::mem::size_of::<Timeval>() == 16);
const _: () = assert!(core::mem::size_of::<Timezone>() == 8);
const _: () = assert!(core::mem::size_of::<Itimerspec>() == 32);
const _: () = assert!(core::mem::size_of::<Itimerval>() == 32);
const _: () = assert!(core::mem::size_of::<Tms>() == 32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity() {
        assert!(
            Timespec {
                tv_sec: 0,
                tv_nsec: 0
            }
            .is_valid()
        );
        assert!(
            Timespec {
                tv_sec: 5,
                tv_nsec: 999_999_999
            }
            .is_valid()
        );
        assert!(
            !Timespec {
                tv_sec: -1,
                tv_nsec: 0
            }
            .is_valid()
        );
        assert!(
            !Timespec {
                tv_sec: 0,
                tv_nsec: -1
            }
            .is_valid()
        );
        assert!(
            !Timespec {
                tv_sec: 0,
                tv_nsec: NSEC_PER_SEC
            }
            .is_valid()
        );
    }

    #[test]
    fn nanos() {
        let t = Timespec {
            tv_sec: 2,
            tv_nsec: 5,
        };
        assert_eq!(t.as_nanos(), 2_000_000_005);
        assert_eq!(Timespec::from_nanos(2_000_000_005), t);
        assert_eq!(
            Timespec {
                tv_sec: i64::MAX,
                tv_nsec: 0
            }
            .as_nanos(),
            i64::MAX
        );
    }
}
