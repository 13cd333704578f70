//! [`Semaphore`]: a counting semaphore on a futex (the seed's xv6-style semaphore:
//! `acquire` is P / down / wait, `release` is V / up / post).
//!
//! The futex word is the count itself. `acquire` decrements it with a
//! compare-and-swap while it is positive, and otherwise sleeps with
//! `FUTEX_WAIT(count == 0)`; `release` increments it and wakes one sleeper, but only
//! if the sleeper count says there may be one, so that neither side enters the
//! kernel when no thread has to wait.

use core::sync::atomic::{AtomicU32, Ordering::*};
use core::time::Duration;

use weft_rt::Errno;
use weft_rt::time::Instant;

use crate::futex;

/// A counting semaphore.
///
/// ```ignore
/// use weft_sync::Semaphore;
/// static SLOTS: Semaphore = Semaphore::new(3); // at most 3 at a time
/// SLOTS.acquire();
/// // ... use one of the 3 slots ...
/// SLOTS.release();
/// ```
pub struct Semaphore {
    count: AtomicU32,
    sleepers: AtomicU32,
}

impl Semaphore {
    /// A semaphore with `count` permits.
    pub const fn new(count: u32) -> Self {
        Semaphore {
            count: AtomicU32::new(count),
            sleepers: AtomicU32::new(0),
        }
    }

    /// Takes a permit if one is available (never sleeps).
    #[inline]
    pub fn try_acquire(&self) -> bool {
        self.count
            .fetch_update(Acquire, Relaxed, |c| c.checked_sub(1))
            .is_ok()
    }

    /// Takes a permit, sleeping until one is available (P).
    #[inline]
    pub fn acquire(&self) {
        if !self.try_acquire() {
            self.acquire_slow(None);
        }
    }

    /// Takes a permit, waiting at most `timeout`; false if none came in time.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.try_acquire() || self.acquire_slow(Some(Instant::now().add(timeout)))
    }

    #[cold]
    fn acquire_slow(&self, deadline: Option<Instant>) -> bool {
        loop {
            if self.try_acquire() {
                return true;
            }
            let left = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    Some(d.duration_since(now))
                }
            };
            self.sleepers.fetch_add(1, SeqCst);
            let r = futex::wait(&self.count, 0, left);
            self.sleepers.fetch_sub(1, Relaxed);
            if r == Err(Errno::ETIMEDOUT) {
                return self.try_acquire();
            }
        }
    }

    /// Returns a permit, waking one sleeper if there may be one (V).
    #[inline]
    pub fn release(&self) {
        self.count.fetch_add(1, SeqCst);
        if self.sleepers.load(SeqCst) != 0 {
            futex::wake(&self.count, 1);
        }
    }

    /// The address of the futex word threads without a permit sleep on (for diagnostics and tests, e.g.
    /// counting the sleepers with a `FUTEX_REQUEUE` of the word onto itself).
    pub fn futex_word_addr(&self) -> *const u32 {
        self.count.as_ptr()
    }

    /// The number of permits available now (a snapshot).
    pub fn available(&self) -> u32 {
        self.count.load(Relaxed)
    }
}
