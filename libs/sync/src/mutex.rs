//! [`Mutex`] and [`RawMutex`]: the classic three-state futex mutex (Drepper,
//! "Futexes Are Tricky", mutex #3).
//!
//! The word is 0 (unlocked), 1 (locked, nobody sleeping) or 2 (locked, maybe
//! sleepers). Locking an unlocked mutex is one compare-and-swap 0 → 1; unlocking a
//! mutex in state 1 is one swap to 0: neither enters the kernel. A locker that finds
//! the mutex taken spins briefly, then swaps in 2 and sleeps with `FUTEX_WAIT(2)`
//! until its swap returns 0; an unlocker that swaps out a 2 wakes one sleeper.
//! Because a woken thread takes the lock with a swap to 2 (it cannot know whether
//! others still sleep), the state never falls back to 1 while sleepers remain.

use core::cell::UnsafeCell;
use core::fmt;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU32, Ordering::*};

use crate::futex;

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

/// Spin iterations before a contended locker goes to sleep.
const SPIN: u32 = 100;

/// A futex lock without data (the word alone: `repr(transparent)`, so its address
/// is the futex word's).
#[repr(transparent)]
pub struct RawMutex {
    state: AtomicU32,
}

impl RawMutex {
    /// An unlocked mutex.
    pub const fn new() -> Self {
        RawMutex {
            state: AtomicU32::new(UNLOCKED),
        }
    }

    /// Takes the lock if it is free (never sleeps, never enters the kernel).
    #[inline]
    pub fn try_lock(&self) -> bool {
        self.state
            .compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed)
            .is_ok()
    }

    /// Takes the lock, sleeping while another thread holds it.
    #[inline]
    pub fn lock(&self) {
        if !self.try_lock() {
            self.lock_slow();
        }
    }

    #[cold]
    fn lock_slow(&self) {
        // Spin while the holder runs and nobody sleeps yet: short critical sections
        // on another CPU end sooner than a sleep and wake-up would.
        for _ in 0..SPIN {
            match self.state.load(Relaxed) {
                UNLOCKED => {
                    if self.try_lock() {
                        return;
                    }
                }
                CONTENDED => break,
                _ => core::hint::spin_loop(),
            }
        }
        self.lock_contended();
    }

    /// Takes the lock leaving the word at 2 (contended), sleeping while it is held.
    /// For threads that may have company sleeping on the word without it being
    /// marked (condition-variable waiters requeued onto it by
    /// [`crate::Condvar::notify_all`]), so that their unlock wakes the next one.
    pub fn lock_contended(&self) {
        while self.state.swap(CONTENDED, Acquire) != UNLOCKED {
            let _ = futex::wait(&self.state, CONTENDED, None);
        }
    }

    /// Releases the lock, waking one sleeper if the word said there may be some.
    ///
    /// # Safety
    /// The calling thread must hold the lock.
    #[inline]
    pub unsafe fn unlock(&self) {
        if self.state.swap(UNLOCKED, Release) == CONTENDED {
            futex::wake(&self.state, 1);
        }
    }

    /// True while some thread holds the lock (a snapshot).
    pub fn is_locked(&self) -> bool {
        self.state.load(Relaxed) != UNLOCKED
    }

    /// The address of the futex word contended lockers sleep on (for diagnostics and tests, e.g.
    /// counting the sleepers with a `FUTEX_REQUEUE` of the word onto itself).
    pub fn futex_word_addr(&self) -> *const u32 {
        self.state.as_ptr()
    }
}

impl Default for RawMutex {
    fn default() -> Self {
        Self::new()
    }
}

/// A mutual-exclusion lock protecting a `T`.
///
/// ```ignore
/// use weft_sync::Mutex;
/// static COUNT: Mutex<u64> = Mutex::new(0);
/// *COUNT.lock() += 1; // unlocked when the guard is dropped
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands the data to one thread at a time.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Mutex {
            raw: RawMutex::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// The protected value (no locking: `self` is owned).
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, sleeping until the lock is free; unlocked when the guard drops.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.lock();
        MutexGuard { m: self }
    }

    /// Locks if the lock is free.
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.raw.try_lock().then(|| MutexGuard { m: self })
    }

    /// The protected value through `&mut self` (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The underlying lock.
    pub fn raw(&self) -> &RawMutex {
        &self.raw
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex")
            .field("locked", &self.raw.is_locked())
            .finish_non_exhaustive()
    }
}

/// Access to the data of a locked [`Mutex`]; unlocks when dropped.
pub struct MutexGuard<'a, T: ?Sized> {
    m: &'a Mutex<T>,
}

// SAFETY: sharing the guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The mutex this guard holds.
    pub fn mutex(&self) -> &'a Mutex<T> {
        self.m
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.m.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock.
        unsafe { &mut *self.m.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard holds the lock.
        unsafe { self.m.raw.unlock() }
    }
}
