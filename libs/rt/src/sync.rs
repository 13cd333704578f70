//! The runtime's own synchronisation: a futex-based [`Mutex`], [`Once`] and
//! [`OnceLock`]. (A full user sync library is not part of this crate.)

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU32, Ordering::*};

use weft_abi::Errno;

use crate::sys;

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

/// Sleeps on `word` while it holds `val` (private futex). Falls back to yielding
/// if the kernel has no futex.
fn wait(word: &AtomicU32, val: u32) {
    if let Err(Errno::ENOSYS) = sys::futex_wait(word, val, None, true) {
        sys::sched_yield();
    }
}

/// A lock without data: 0 = unlocked, 1 = locked, 2 = locked with (possible)
/// sleepers in `FUTEX_WAIT`.
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

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> bool {
        self.state
            .compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed)
            .is_ok()
    }

    /// Takes the lock, sleeping while another thread holds it.
    pub fn lock(&self) {
        if self.try_lock() {
            return;
        }
        for _ in 0..100 {
            core::hint::spin_loop();
            if self.state.load(Relaxed) == UNLOCKED && self.try_lock() {
                return;
            }
        }
        while self.state.swap(CONTENDED, Acquire) != UNLOCKED {
            wait(&self.state, CONTENDED);
        }
    }

    /// Releases the lock.
    ///
    /// # Safety
    /// The caller must hold the lock.
    pub unsafe fn unlock(&self) {
        if self.state.swap(UNLOCKED, Release) == CONTENDED {
            let _ = sys::futex_wake(&self.state, 1, true);
        }
    }
}

impl Default for RawMutex {
    fn default() -> Self {
        Self::new()
    }
}

/// A mutual-exclusion lock protecting a `T`.
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to one thread at a time.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// A new unlocked mutex.
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
    /// Locks, sleeping until the lock is free.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.lock();
        MutexGuard { m: self }
    }

    /// Locks if free.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        // `then`, not `then_some`: a guard built eagerly would unlock (on drop) a lock
        // another thread holds.
        self.raw.try_lock().then(|| MutexGuard { m: self })
    }
}

/// Access to a locked [`Mutex`]; unlocks on drop.
pub struct MutexGuard<'a, T: ?Sized> {
    m: &'a Mutex<T>,
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
    fn drop(&mut self) {
        // SAFETY: the guard holds the lock.
        unsafe { self.m.raw.unlock() }
    }
}

const INCOMPLETE: u32 = 0;
const RUNNING: u32 = 1;
const RUNNING_WAITERS: u32 = 2;
const COMPLETE: u32 = 3;

/// Runs a function exactly once; concurrent callers wait for it to finish.
pub struct Once {
    state: AtomicU32,
}

impl Once {
    /// A `Once` that has not run.
    pub const fn new() -> Self {
        Once {
            state: AtomicU32::new(INCOMPLETE),
        }
    }

    /// True once the function has completed.
    pub fn is_completed(&self) -> bool {
        self.state.load(Acquire) == COMPLETE
    }

    /// Runs `f` if no call has yet; otherwise waits for the first call to finish.
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if self.is_completed() {
            return;
        }
        match self
            .state
            .compare_exchange(INCOMPLETE, RUNNING, Acquire, Acquire)
        {
            Ok(_) => {
                f();
                if self.state.swap(COMPLETE, Release) == RUNNING_WAITERS {
                    let _ = sys::futex_wake(&self.state, u32::MAX, true);
                }
            }
            Err(_) => loop {
                let s = self.state.load(Acquire);
                match s {
                    COMPLETE => return,
                    RUNNING => {
                        let _ =
                            self.state
                                .compare_exchange(RUNNING, RUNNING_WAITERS, Relaxed, Relaxed);
                    }
                    RUNNING_WAITERS => wait(&self.state, RUNNING_WAITERS),
                    _ => core::hint::spin_loop(),
                }
            },
        }
    }
}

impl Default for Once {
    fn default() -> Self {
        Self::new()
    }
}

/// A value initialised once, on first use.
pub struct OnceLock<T> {
    once: Once,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once, before `once` completes, and only read after.
unsafe impl<T: Send + Sync> Sync for OnceLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for OnceLock<T> {}

impl<T> OnceLock<T> {
    /// An empty cell.
    pub const fn new() -> Self {
        OnceLock {
            once: Once::new(),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// The value, if initialised.
    pub fn get(&self) -> Option<&T> {
        if self.once.is_completed() {
            // SAFETY: completed means written.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// The value, initialising it with `f` on first use.
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        self.once.call_once(|| {
            // SAFETY: only the one call_once closure writes the value.
            unsafe { (*self.value.get()).write(f()) };
        });
        // SAFETY: call_once has completed.
        unsafe { (*self.value.get()).assume_init_ref() }
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
