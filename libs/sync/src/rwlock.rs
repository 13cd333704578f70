//! [`RwLock`]: a writer-preferring futex reader-writer lock.
//!
//! One 32-bit state word holds the number of readers (bits 0..30, all ones meaning
//! write-locked) and two flags: `READERS_WAITING` (bit 30) and `WRITERS_WAITING`
//! (bit 31). Readers sleep on the state word; writers sleep on a separate counter
//! word (`writer_notify`) so that a writer can be woken alone.
//!
//! **Policy: writer-preferring.** A reader may only join while no writer waits, so a
//! stream of readers cannot starve a writer; when the lock is released and both
//! kinds wait, one writer is woken first and the readers after it. (Readers can be
//! starved by a continuous stream of writers.) A thread must not take a read lock it
//! already holds again while a writer may wait: that deadlocks, as with any
//! writer-preferring lock.
//!
//! Uncontended `read`/`write` and their unlocks are one atomic operation each, with
//! no system call.

use core::cell::UnsafeCell;
use core::fmt;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU32, Ordering::*};

use crate::futex;

const READ_LOCKED: u32 = 1;
const MASK: u32 = (1 << 30) - 1;
const WRITE_LOCKED: u32 = MASK;
const MAX_READERS: u32 = MASK - 1;
const READERS_WAITING: u32 = 1 << 30;
const WRITERS_WAITING: u32 = 1 << 31;

const SPIN: u32 = 100;

#[inline]
fn is_unlocked(s: u32) -> bool {
    s & MASK == 0
}

#[inline]
fn is_write_locked(s: u32) -> bool {
    s & MASK == WRITE_LOCKED
}

#[inline]
fn readers_waiting(s: u32) -> bool {
    s & READERS_WAITING != 0
}

#[inline]
fn writers_waiting(s: u32) -> bool {
    s & WRITERS_WAITING != 0
}

/// A reader may join: not write-locked, room for one more, and nobody waiting
/// (waiting writers have priority; waiting readers mean a writer is about to go).
#[inline]
fn read_lockable(s: u32) -> bool {
    s & MASK < MAX_READERS && !readers_waiting(s) && !writers_waiting(s)
}

/// A reader-writer lock without data.
pub struct RawRwLock {
    state: AtomicU32,
    writer_notify: AtomicU32,
}

impl RawRwLock {
    /// An unlocked lock.
    pub const fn new() -> Self {
        RawRwLock {
            state: AtomicU32::new(0),
            writer_notify: AtomicU32::new(0),
        }
    }

    /// Takes a read lock if that needs no waiting.
    #[inline]
    pub fn try_read(&self) -> bool {
        self.state
            .fetch_update(Acquire, Relaxed, |s| {
                read_lockable(s).then(|| s + READ_LOCKED)
            })
            .is_ok()
    }

    /// Takes a read lock, sleeping while a writer holds the lock or waits for it.
    #[inline]
    pub fn read(&self) {
        let s = self.state.load(Relaxed);
        if !read_lockable(s)
            || self
                .state
                .compare_exchange_weak(s, s + READ_LOCKED, Acquire, Relaxed)
                .is_err()
        {
            self.read_contended();
        }
    }

    #[cold]
    fn read_contended(&self) {
        let mut s = self.spin_read();
        loop {
            if read_lockable(s) {
                match self
                    .state
                    .compare_exchange_weak(s, s + READ_LOCKED, Acquire, Relaxed)
                {
                    Ok(_) => return,
                    Err(e) => {
                        s = e;
                        continue;
                    }
                }
            }
            assert!(s & MASK != MAX_READERS, "RwLock: too many readers");
            // Say that a reader sleeps, then sleep while the word stays so.
            if !readers_waiting(s)
                && let Err(e) =
                    self.state
                        .compare_exchange(s, s | READERS_WAITING, Relaxed, Relaxed)
            {
                s = e;
                continue;
            }
            let _ = futex::wait(&self.state, s | READERS_WAITING, None);
            s = self.spin_read();
        }
    }

    /// Releases a read lock.
    ///
    /// # Safety
    /// The calling thread must hold a read lock.
    #[inline]
    pub unsafe fn read_unlock(&self) {
        let s = self.state.fetch_sub(READ_LOCKED, Release) - READ_LOCKED;
        // Readers only wait on a read-locked lock if a writer waits too, and that
        // writer goes first: the last reader out wakes it.
        if is_unlocked(s) && writers_waiting(s) {
            self.wake_writer_or_readers(s);
        }
    }

    /// Takes the write lock if it is free.
    #[inline]
    pub fn try_write(&self) -> bool {
        self.state
            .fetch_update(Acquire, Relaxed, |s| {
                is_unlocked(s).then(|| s + WRITE_LOCKED)
            })
            .is_ok()
    }

    /// Takes the write lock, sleeping while anyone holds the lock.
    #[inline]
    pub fn write(&self) {
        if self
            .state
            .compare_exchange_weak(0, WRITE_LOCKED, Acquire, Relaxed)
            .is_err()
        {
            self.write_contended();
        }
    }

    #[cold]
    fn write_contended(&self) {
        let mut s = self.spin_write();
        // Once this writer has slept it cannot know whether other writers sleep
        // too, so it keeps WRITERS_WAITING set when it takes the lock: its unlock
        // then wakes the next one (at worst a wasted wake-up).
        let mut keep = 0;
        loop {
            if is_unlocked(s) {
                match self
                    .state
                    .compare_exchange_weak(s, s | WRITE_LOCKED | keep, Acquire, Relaxed)
                {
                    Ok(_) => return,
                    Err(e) => {
                        s = e;
                        continue;
                    }
                }
            }
            if !writers_waiting(s)
                && let Err(e) =
                    self.state
                        .compare_exchange(s, s | WRITERS_WAITING, Relaxed, Relaxed)
            {
                s = e;
                continue;
            }
            keep = WRITERS_WAITING;
            // Read the notify counter before re-checking the state: an unlock after
            // the check bumps the counter, so the wait below cannot miss it.
            let seq = self.writer_notify.load(Acquire);
            s = self.state.load(Relaxed);
            if is_unlocked(s) || !writers_waiting(s) {
                continue;
            }
            let _ = futex::wait(&self.writer_notify, seq, None);
            s = self.spin_write();
        }
    }

    /// Releases the write lock.
    ///
    /// # Safety
    /// The calling thread must hold the write lock.
    #[inline]
    pub unsafe fn write_unlock(&self) {
        let s = self.state.fetch_sub(WRITE_LOCKED, Release) - WRITE_LOCKED;
        if readers_waiting(s) || writers_waiting(s) {
            self.wake_writer_or_readers(s);
        }
    }

    /// The lock was just released (`s` is unlocked): wake a writer if one waits,
    /// else the readers.
    #[cold]
    fn wake_writer_or_readers(&self, mut s: u32) {
        if s == WRITERS_WAITING {
            // Only writers wait: clear the flag and wake one (it sets the flag again
            // when it takes the lock, for the others).
            match self.state.compare_exchange(s, 0, Relaxed, Relaxed) {
                Ok(_) => {
                    self.wake_writer();
                    return;
                }
                Err(e) => s = e,
            }
        }
        if s == READERS_WAITING | WRITERS_WAITING {
            // Both wait: leave the readers flagged, wake a writer.
            if self
                .state
                .compare_exchange(s, READERS_WAITING, Relaxed, Relaxed)
                .is_err()
            {
                // Someone locked it meanwhile; their unlock deals with the waiters.
                return;
            }
            if self.wake_writer() {
                return;
            }
            // No writer was actually asleep (it may be about to take the lock or
            // to sleep, and then re-checks the state): wake the readers.
            s = READERS_WAITING;
        }
        if s == READERS_WAITING && self.state.compare_exchange(s, 0, Relaxed, Relaxed).is_ok() {
            futex::wake_all(&self.state);
        }
    }

    fn wake_writer(&self) -> bool {
        self.writer_notify.fetch_add(1, Release);
        futex::wake(&self.writer_notify, 1) > 0
    }

    fn spin_until(&self, stop: impl Fn(u32) -> bool) -> u32 {
        let mut s = self.state.load(Relaxed);
        for _ in 0..SPIN {
            if stop(s) {
                break;
            }
            core::hint::spin_loop();
            s = self.state.load(Relaxed);
        }
        s
    }

    fn spin_read(&self) -> u32 {
        // Stop when unlocked for readers, or when anyone sleeps (no point spinning).
        self.spin_until(|s| !is_write_locked(s) || readers_waiting(s) || writers_waiting(s))
    }

    fn spin_write(&self) -> u32 {
        self.spin_until(|s| is_unlocked(s) || writers_waiting(s))
    }

    /// The addresses of the futex words waiting readers and waiting writers sleep on
    /// (for diagnostics and tests, e.g. counting the sleepers with a
    /// `FUTEX_REQUEUE` of a word onto itself).
    pub fn futex_word_addrs(&self) -> (*const u32, *const u32) {
        (self.state.as_ptr(), self.writer_notify.as_ptr())
    }

    /// Number of readers holding the lock now (0 if write-locked; a snapshot).
    pub fn readers(&self) -> u32 {
        let s = self.state.load(Relaxed) & MASK;
        if s == WRITE_LOCKED { 0 } else { s }
    }

    /// True if a writer holds the lock now (a snapshot).
    pub fn is_write_locked(&self) -> bool {
        is_write_locked(self.state.load(Relaxed))
    }
}

impl Default for RawRwLock {
    fn default() -> Self {
        Self::new()
    }
}

/// A reader-writer lock protecting a `T`: many readers or one writer. Writer
/// preferring (see the module docs).
///
/// ```ignore
/// use weft_sync::RwLock;
/// static TABLE: RwLock<[u32; 4]> = RwLock::new([0; 4]);
/// let sum: u32 = TABLE.read().iter().sum(); // shared
/// TABLE.write()[0] = 7;                     // exclusive
/// ```
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    data: UnsafeCell<T>,
}

// SAFETY: writers get exclusive access; readers share `&T`, hence `T: Sync`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// A new unlocked lock holding `value`.
    pub const fn new(value: T) -> Self {
        RwLock {
            raw: RawRwLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// The protected value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Shared access, sleeping while a writer holds or waits for the lock.
    #[inline]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.raw.read();
        RwLockReadGuard { l: self }
    }

    /// Shared access if it needs no waiting.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.raw.try_read().then(|| RwLockReadGuard { l: self })
    }

    /// Exclusive access, sleeping while anyone holds the lock.
    #[inline]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.raw.write();
        RwLockWriteGuard { l: self }
    }

    /// Exclusive access if the lock is free.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.raw.try_write().then(|| RwLockWriteGuard { l: self })
    }

    /// The protected value through `&mut self`.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The underlying lock.
    pub fn raw(&self) -> &RawRwLock {
        &self.raw
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock")
            .field("readers", &self.raw.readers())
            .field("write_locked", &self.raw.is_write_locked())
            .finish_non_exhaustive()
    }
}

/// Shared access to a read-locked [`RwLock`]; unlocks when dropped.
pub struct RwLockReadGuard<'a, T: ?Sized> {
    l: &'a RwLock<T>,
}

// SAFETY: the guard only gives out `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read lock is held.
        unsafe { &*self.l.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this guard holds a read lock.
        unsafe { self.l.raw.read_unlock() }
    }
}

/// Exclusive access to a write-locked [`RwLock`]; unlocks when dropped.
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    l: &'a RwLock<T>,
}

// SAFETY: sharing the guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the write lock is held.
        unsafe { &*self.l.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write lock is held.
        unsafe { &mut *self.l.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this guard holds the write lock.
        unsafe { self.l.raw.write_unlock() }
    }
}
