//! Decoding and validating `futex(2)` arguments, the way Linux does.

use weft_abi::Errno;
use weft_abi::futex::*;
use weft_abi::time::Timespec;

/// Which clock an absolute timeout is on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Clock {
    /// `CLOCK_MONOTONIC` (the default).
    Monotonic,
    /// `CLOCK_REALTIME` (`FUTEX_CLOCK_REALTIME`).
    Realtime,
}

/// How to read the timeout of a wait.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// `FUTEX_WAIT`: a `struct timespec` at `uaddr` holding a duration, measured on
    /// `CLOCK_MONOTONIC` from the start of the call.
    Relative {
        /// User address of the `timespec`.
        uaddr: u64,
    },
    /// `FUTEX_WAIT_BITSET`: a `struct timespec` at `uaddr` holding an absolute time
    /// on `clock`.
    Absolute {
        /// User address of the `timespec`.
        uaddr: u64,
        /// The clock.
        clock: Clock,
    },
}

/// A decoded futex command.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FutexCmd {
    /// `FUTEX_WAIT` / `FUTEX_WAIT_BITSET`: [`crate::FutexTable::wait_prepare`].
    Wait {
        /// Value `*uaddr` must hold.
        expected: u32,
        /// Wake-up bitset (non-zero).
        bitset: u32,
        /// Timeout to read, if any (`None`: wait forever).
        timeout: Option<Timeout>,
    },
    /// `FUTEX_WAKE` / `FUTEX_WAKE_BITSET`: [`crate::FutexTable::wake`].
    Wake {
        /// Most waiters to wake (at least 1, see [`decode`]).
        nr: u32,
        /// Bitset (non-zero).
        bitset: u32,
    },
    /// `FUTEX_REQUEUE` / `FUTEX_CMP_REQUEUE`: [`crate::FutexTable::requeue`] from
    /// `uaddr` to `uaddr2`.
    Requeue {
        /// Most waiters to wake.
        nr_wake: u32,
        /// Most waiters to move.
        nr_requeue: u32,
        /// `CMP_REQUEUE`'s `val3`.
        expected: Option<u32>,
    },
    /// `FUTEX_WAKE_OP`: [`crate::FutexTable::wake_op`] (`uaddr` = key1, `uaddr2` =
    /// key2 and the word modified).
    WakeOp {
        /// Most waiters to wake on `uaddr` (at least 1).
        nr_wake: u32,
        /// Most waiters to wake on `uaddr2` if the comparison holds (at least 1).
        nr_wake2: u32,
        /// The decoded operation.
        op: WakeOp,
    },
}

impl FutexCmd {
    /// True if the command uses `uaddr2` (the kernel must resolve its key too).
    pub fn uses_uaddr2(&self) -> bool {
        matches!(self, FutexCmd::Requeue { .. } | FutexCmd::WakeOp { .. })
    }
}

/// A decoded `futex(uaddr, op, val, timeout_or_val2, uaddr2, val3)` call.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FutexRequest {
    /// What to do.
    pub cmd: FutexCmd,
    /// `FUTEX_PRIVATE_FLAG` was given: resolve the address(es) to private keys
    /// without looking for a shared mapping.
    pub private: bool,
}

/// Linux's wake-count rule for `FUTEX_WAKE` and `FUTEX_WAKE_OP`: it wakes until
/// `++count >= val`, so any `val <= 0` (as a signed int) still wakes one waiter.
const fn wake_count(val: u32) -> u32 {
    if (val as i32) <= 0 { 1 } else { val }
}

/// Decodes the register arguments of `futex`: `op`, `val`, the fourth argument
/// (`timeout` pointer or `val2`) and `val3`. `uaddr`/`uaddr2` are checked separately
/// ([`check_uaddr`]) because the kernel resolves them to keys.
///
/// Errors, as on Linux:
/// - `ENOSYS`: unknown command; `FUTEX_FD`; the PI commands (`LOCK_PI`, `UNLOCK_PI`,
///   `TRYLOCK_PI`, `LOCK_PI2` are handled by the kernel before this decoder, in
///   kernel/src/futex.rs; `WAIT_REQUEUE_PI`, `CMP_REQUEUE_PI` are not implemented); `FUTEX_CLOCK_REALTIME` with anything but `FUTEX_WAIT_BITSET`;
///   a `FUTEX_WAKE_OP` `val3` with an unknown operation or comparison.
/// - `EINVAL`: a zero bitset for `WAIT_BITSET`/`WAKE_BITSET`; a negative (as `int`)
///   `val` or `val2` for `REQUEUE`/`CMP_REQUEUE`.
pub fn decode(op: u32, val: u32, arg4: u64, val3: u32) -> Result<FutexRequest, Errno> {
    let cmd = op & FUTEX_CMD_MASK;
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    if realtime && cmd != FUTEX_WAIT_BITSET {
        // Linux also allows it with WAIT_REQUEUE_PI and LOCK_PI2, both ENOSYS here.
        return Err(Errno::ENOSYS);
    }
    let val2 = arg4 as u32;
    let cmd = match cmd {
        FUTEX_WAIT => FutexCmd::Wait {
            expected: val,
            bitset: FUTEX_BITSET_MATCH_ANY,
            timeout: (arg4 != 0).then_some(Timeout::Relative { uaddr: arg4 }),
        },
        FUTEX_WAIT_BITSET => {
            if val3 == 0 {
                return Err(Errno::EINVAL);
            }
            let clock = if realtime {
                Clock::Realtime
            } else {
                Clock::Monotonic
            };
            FutexCmd::Wait {
                expected: val,
                bitset: val3,
                timeout: (arg4 != 0).then_some(Timeout::Absolute { uaddr: arg4, clock }),
            }
        }
        FUTEX_WAKE => FutexCmd::Wake {
            nr: wake_count(val),
            bitset: FUTEX_BITSET_MATCH_ANY,
        },
        FUTEX_WAKE_BITSET => {
            if val3 == 0 {
                return Err(Errno::EINVAL);
            }
            FutexCmd::Wake {
                nr: wake_count(val),
                bitset: val3,
            }
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            if (val as i32) < 0 || (val2 as i32) < 0 {
                return Err(Errno::EINVAL);
            }
            FutexCmd::Requeue {
                nr_wake: val,
                nr_requeue: val2,
                expected: (cmd == FUTEX_CMP_REQUEUE).then_some(val3),
            }
        }
        FUTEX_WAKE_OP => FutexCmd::WakeOp {
            nr_wake: wake_count(val),
            nr_wake2: wake_count(val2),
            op: WakeOp::decode(val3)?,
        },
        _ => return Err(Errno::ENOSYS),
    };
    Ok(FutexRequest { cmd, private })
}

/// Checks a futex address: `EINVAL` if not 4-byte aligned, `EFAULT` if the word
/// does not lie entirely below `user_end` (the end of the user address range).
pub fn check_uaddr(uaddr: u64, user_end: u64) -> Result<(), Errno> {
    if !uaddr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    match uaddr.checked_add(4) {
        Some(end) if end <= user_end => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// Checks a timeout read from user memory: `EINVAL` unless `tv_sec >= 0` and
/// `0 <= tv_nsec < 1e9`.
pub fn check_timespec(ts: &Timespec) -> Result<(), Errno> {
    if ts.is_valid() {
        Ok(())
    } else {
        Err(Errno::EINVAL)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn wait_and_wake() {
        let r = decode(FUTEX_WAIT_PRIVATE, 5, 0, 0).unwrap();
        assert!(r.private);
        assert_eq!(
            r.cmd,
            FutexCmd::Wait {
                expected: 5,
                bitset: FUTEX_BITSET_MATCH_ANY,
                timeout: None
            }
        );
        let r = decode(FUTEX_WAIT, 5, 0x1000, 0).unwrap();
        assert!(!r.private);
        assert!(matches!(
            r.cmd,
            FutexCmd::Wait {
                timeout: Some(Timeout::Relative { uaddr: 0x1000 }),
                ..
            }
        ));
        let r = decode(FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME, 1, 0x2000, 6).unwrap();
        assert_eq!(
            r.cmd,
            FutexCmd::Wait {
                expected: 1,
                bitset: 6,
                timeout: Some(Timeout::Absolute {
                    uaddr: 0x2000,
                    clock: Clock::Realtime
                })
            }
        );
        let r = decode(FUTEX_WAIT_BITSET, 1, 0x2000, 6).unwrap();
        assert!(matches!(
            r.cmd,
            FutexCmd::Wait {
                timeout: Some(Timeout::Absolute {
                    clock: Clock::Monotonic,
                    ..
                }),
                ..
            }
        ));
        assert_eq!(
            decode(FUTEX_WAKE, 3, 0, 0).unwrap().cmd,
            FutexCmd::Wake {
                nr: 3,
                bitset: FUTEX_BITSET_MATCH_ANY
            }
        );
        assert_eq!(
            decode(FUTEX_WAKE_BITSET, i32::MAX as u32, 0, 2)
                .unwrap()
                .cmd,
            FutexCmd::Wake {
                nr: i32::MAX as u32,
                bitset: 2
            }
        );
    }

    #[test]
    fn linux_wake_count_quirk() {
        for val in [0u32, u32::MAX, 0x8000_0000] {
            assert_eq!(
                decode(FUTEX_WAKE, val, 0, 0).unwrap().cmd,
                FutexCmd::Wake {
                    nr: 1,
                    bitset: FUTEX_BITSET_MATCH_ANY
                }
            );
        }
        let r = decode(FUTEX_WAKE_OP, 0, 0, futex_op(0, 0, 0, 0)).unwrap();
        assert!(matches!(
            r.cmd,
            FutexCmd::WakeOp {
                nr_wake: 1,
                nr_wake2: 1,
                ..
            }
        ));
    }

    #[test]
    fn zero_bitset_is_einval() {
        assert_eq!(decode(FUTEX_WAIT_BITSET, 0, 0, 0), Err(Errno::EINVAL));
        assert_eq!(decode(FUTEX_WAKE_BITSET, 1, 0, 0), Err(Errno::EINVAL));
    }

    #[test]
    fn requeue_counts() {
        let r = decode(FUTEX_CMP_REQUEUE_PRIVATE, 1, i32::MAX as u64, 9).unwrap();
        assert_eq!(
            r.cmd,
            FutexCmd::Requeue {
                nr_wake: 1,
                nr_requeue: i32::MAX as u32,
                expected: Some(9)
            }
        );
        assert!(r.cmd.uses_uaddr2());
        let r = decode(FUTEX_REQUEUE, 0, 0, 9).unwrap();
        assert_eq!(
            r.cmd,
            FutexCmd::Requeue {
                nr_wake: 0,
                nr_requeue: 0,
                expected: None
            }
        );
        assert_eq!(decode(FUTEX_REQUEUE, u32::MAX, 1, 0), Err(Errno::EINVAL));
        assert_eq!(
            decode(FUTEX_CMP_REQUEUE, 1, 0xffff_ffff, 0),
            Err(Errno::EINVAL)
        );
        // Only the low 32 bits of the fourth argument are val2.
        let r = decode(FUTEX_REQUEUE, 1, 0x1_0000_0002, 0).unwrap();
        assert!(matches!(r.cmd, FutexCmd::Requeue { nr_requeue: 2, .. }));
    }

    #[test]
    fn unsupported_is_enosys() {
        for cmd in [
            FUTEX_FD,
            FUTEX_LOCK_PI,
            FUTEX_UNLOCK_PI,
            FUTEX_TRYLOCK_PI,
            FUTEX_WAIT_REQUEUE_PI,
            FUTEX_CMP_REQUEUE_PI,
            FUTEX_LOCK_PI2,
            14,
            0x7f,
            FUTEX_WAKE | 0x200,
        ] {
            assert_eq!(decode(cmd, 0, 0, 0), Err(Errno::ENOSYS), "cmd {cmd:#x}");
        }
        // CLOCK_REALTIME is only for WAIT_BITSET (not even plain WAIT on Linux 6.x).
        assert_eq!(
            decode(FUTEX_WAIT | FUTEX_CLOCK_REALTIME, 0, 0, 0),
            Err(Errno::ENOSYS)
        );
        assert_eq!(
            decode(FUTEX_WAKE | FUTEX_CLOCK_REALTIME, 0, 0, 0),
            Err(Errno::ENOSYS)
        );
        assert_eq!(
            decode(FUTEX_WAKE_OP, 1, 1, futex_op(6, 0, 0, 0)),
            Err(Errno::ENOSYS)
        );
        assert_eq!(
            decode(FUTEX_WAKE_OP, 1, 1, futex_op(0, 0, 7, 0)),
            Err(Errno::ENOSYS)
        );
    }

    #[test]
    fn addresses_and_timespecs() {
        let end = 0x0000_8000_0000_0000;
        assert_eq!(check_uaddr(0x1000, end), Ok(()));
        assert_eq!(check_uaddr(0x1002, end), Err(Errno::EINVAL));
        assert_eq!(check_uaddr(end - 4, end), Ok(()));
        assert_eq!(check_uaddr(end, end), Err(Errno::EFAULT));
        assert_eq!(check_uaddr(u64::MAX - 3, u64::MAX), Err(Errno::EFAULT));
        assert_eq!(
            check_timespec(&Timespec {
                tv_sec: 1,
                tv_nsec: 0
            }),
            Ok(())
        );
        assert_eq!(
            check_timespec(&Timespec {
                tv_sec: -1,
                tv_nsec: 0
            }),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            check_timespec(&Timespec {
                tv_sec: 0,
                tv_nsec: 1_000_000_000
            }),
            Err(Errno::EINVAL)
        );
    }
}
