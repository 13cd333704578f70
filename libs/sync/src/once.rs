//! [`Once`] and [`OnceLock`]: one-time initialisation.
//!
//! The futex word moves INCOMPLETE → RUNNING (the one thread that runs the
//! function) → COMPLETE. A thread that finds it RUNNING marks it RUNNING_WAITERS and
//! sleeps on it; the runner wakes everyone only if that mark is there. Once
//! complete, `call_once` is a single load.
//!
//! The runtime aborts on panic, so there is no poisoning.

use core::cell::UnsafeCell;
use core::fmt;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU32, Ordering::*};

use crate::futex;

const INCOMPLETE: u32 = 0;
const RUNNING: u32 = 1;
const RUNNING_WAITERS: u32 = 2;
const COMPLETE: u32 = 3;

/// Runs a function exactly once; concurrent callers wait until it has finished.
///
/// ```ignore
/// use weft_sync::Once;
/// static INIT: Once = Once::new();
/// INIT.call_once(|| set_up_tables());
/// ```
pub struct Once {
    state: AtomicU32,
}

impl Once {
    /// A `Once` that has not run yet.
    pub const fn new() -> Self {
        Once {
            state: AtomicU32::new(INCOMPLETE),
        }
    }

    /// True once the function has completed.
    #[inline]
    pub fn is_completed(&self) -> bool {
        self.state.load(Acquire) == COMPLETE
    }

    /// Runs `f` if no `call_once` has run it yet; otherwise waits until the call that
    /// runs it has finished. Every caller returns after `f` has completed.
    #[inline]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if !self.is_completed() {
            self.call_slow(f);
        }
    }

    #[cold]
    fn call_slow<F: FnOnce()>(&self, f: F) {
        let mut s = self.state.load(Acquire);
        loop {
            match s {
                COMPLETE => return,
                INCOMPLETE => {
                    match self
                        .state
                        .compare_exchange(INCOMPLETE, RUNNING, Acquire, Acquire)
                    {
                        Ok(_) => {
                            f();
                            if self.state.swap(COMPLETE, Release) == RUNNING_WAITERS {
                                futex::wake_all(&self.state);
                            }
                            return;
                        }
                        Err(now) => s = now,
                    }
                }
                RUNNING => {
                    match self
                        .state
                        .compare_exchange(RUNNING, RUNNING_WAITERS, Acquire, Acquire)
                    {
                        Ok(_) => s = RUNNING_WAITERS,
                        Err(now) => s = now,
                    }
                }
                _ => {
                    let _ = futex::wait(&self.state, RUNNING_WAITERS, None);
                    s = self.state.load(Acquire);
                }
            }
        }
    }
}

impl Default for Once {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("completed", &self.is_completed())
            .finish()
    }
}

/// A value written once, on first use, then shared read-only.
///
/// ```ignore
/// use weft_sync::OnceLock;
/// static CONFIG: OnceLock<u64> = OnceLock::new();
/// let v = *CONFIG.get_or_init(|| expensive());
/// ```
pub struct OnceLock<T> {
    once: Once,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once, before `once` completes (Release), and read
// only afterwards (Acquire); readers on many threads share `&T`.
unsafe impl<T: Send + Sync> Sync for OnceLock<T> {}
// SAFETY: moving the cell moves the value.
unsafe impl<T: Send> Send for OnceLock<T> {}

impl<T> OnceLock<T> {
    /// An empty cell.
    pub const fn new() -> Self {
        OnceLock {
            once: Once::new(),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// The value, if it has been set.
    pub fn get(&self) -> Option<&T> {
        // SAFETY: completed means written.
        self.once
            .is_completed()
            .then(|| unsafe { (*self.value.get()).assume_init_ref() })
    }

    /// The value, set by `f` on first use (concurrent callers wait for it).
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        self.once.call_once(|| {
            // SAFETY: only the one running call_once closure writes the value.
            unsafe { (*self.value.get()).write(f()) };
        });
        // SAFETY: call_once has completed, so the value is written.
        unsafe { (*self.value.get()).assume_init_ref() }
    }

    /// Sets the value if it is unset; otherwise gives `value` back.
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut v = Some(value);
        self.get_or_init(|| v.take().unwrap());
        match v {
            None => Ok(()),
            Some(v) => Err(v),
        }
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for OnceLock<T> {
    fn drop(&mut self) {
        if self.once.is_completed() {
            // SAFETY: completed means written; dropped once.
            unsafe { (*self.value.get()).assume_init_drop() };
        }
    }
}
