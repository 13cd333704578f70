//! [`SpinLock`]: a test-and-test-and-set lock that never sleeps in the kernel.
//!
//! For very short critical sections where sleeping would cost more than waiting.
//! A waiter spins on a plain load (the cache line stays shared until the holder
//! releases it) and yields its CPU with `sched_yield` after every [`YIELD_AFTER`]
//! fruitless spins, so that a holder preempted on the same CPU (or a single-CPU
//! machine) still gets to run. Locking and unlocking without contention are one
//! atomic operation each.

use core::cell::UnsafeCell;
use core::fmt;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering::*};

use weft_rt::sys;

/// Spins between two `sched_yield`s of a waiting [`SpinLock::lock`].
pub const YIELD_AFTER: u32 = 1000;

/// A spin lock protecting a `T`.
///
/// ```ignore
/// use weft_sync::SpinLock;
/// static HITS: SpinLock<u64> = SpinLock::new(0);
/// *HITS.lock() += 1;
/// ```
pub struct SpinLock<T: ?Sized> {
    locked: AtomicBool,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands the data to one thread at a time.
unsafe impl<T: ?Sized + Send> Send for SpinLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A new unlocked spin lock holding `value`.
    pub const fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            data: UnsafeCell::new(value),
        }
    }

    /// The protected value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> SpinLock<T> {
    /// Locks, spinning (and yielding now and then) until the lock is free.
    #[inline]
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        loop {
            if let Some(g) = self.try_lock() {
                return g;
            }
            let mut spins = 0;
            while self.locked.load(Relaxed) {
                core::hint::spin_loop();
                spins += 1;
                if spins == YIELD_AFTER {
                    sys::sched_yield();
                    spins = 0;
                }
            }
        }
    }

    /// Locks if the lock is free.
    #[inline]
    pub fn try_lock(&self) -> Option<SpinLockGuard<'_, T>> {
        self.locked
            .compare_exchange(false, true, Acquire, Relaxed)
            .is_ok()
            .then(|| SpinLockGuard { l: self })
    }

    /// True while some thread holds the lock (a snapshot).
    pub fn is_locked(&self) -> bool {
        self.locked.load(Relaxed)
    }

    /// The protected value through `&mut self`.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for SpinLock<T> {
    fn default() -> Self {
        SpinLock::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for SpinLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpinLock")
            .field("locked", &self.is_locked())
            .finish_non_exhaustive()
    }
}

/// Access to the data of a locked [`SpinLock`]; unlocks when dropped.
pub struct SpinLockGuard<'a, T: ?Sized> {
    l: &'a SpinLock<T>,
}

// SAFETY: sharing the guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for SpinLockGuard<'_, T> {}

impl<T: ?Sized> Deref for SpinLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.l.data.get() }
    }
}

impl<T: ?Sized> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock.
        unsafe { &mut *self.l.data.get() }
    }
}

impl<T: ?Sized> Drop for SpinLockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.l.locked.store(false, Release);
    }
}
