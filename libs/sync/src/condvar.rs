//! [`Condvar`]: a sequence-counter condition variable for [`Mutex`].
//!
//! The futex word is a sequence number that every notify increments. A waiter reads
//! it while it still holds the mutex, unlocks, and sleeps with `FUTEX_WAIT(seq)`: a
//! notify that comes after the unlock changes the word, so the waiter either sleeps
//! and is woken or does not sleep at all; it cannot miss it. A count of waiters lets
//! a notify with nobody waiting skip the system call.
//!
//! [`Condvar::notify_all`] does not wake every waiter at once only to have them all
//! fight for the mutex (the thundering herd): it wakes one and moves the others
//! onto the mutex's own futex word with `FUTEX_CMP_REQUEUE`, where each is woken in
//! turn by an unlock. Every waiter takes the mutex back with
//! [`RawMutex::lock_contended`] (word = 2), so an unlock always wakes the next one.
//! The condition variable remembers the mutex of its first waiter for this; if it
//! is ever used with another mutex it stops requeueing and `notify_all` wakes every
//! waiter instead (correct, only slower).

use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering::*};
use core::time::Duration;

use weft_rt::Errno;

use crate::futex;
use crate::mutex::{MutexGuard, RawMutex};

/// `mutex` once waiters have used two different mutexes: no more requeueing.
const MIXED: *mut RawMutex = core::ptr::dangling_mut::<RawMutex>();

/// Whether a timed wait ended because its time ran out.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait timed out (rather than being notified).
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// A condition variable: threads wait (releasing a [`crate::Mutex`]) until another
/// thread notifies. Waits may wake spuriously: wait in a loop on the condition (or
/// use [`Condvar::wait_while`]).
///
/// ```ignore
/// use weft_sync::{Condvar, Mutex};
/// static READY: Mutex<bool> = Mutex::new(false);
/// static CV: Condvar = Condvar::new();
/// // waiter
/// let mut r = READY.lock();
/// while !*r { r = CV.wait(r); }
/// // notifier
/// *READY.lock() = true;
/// CV.notify_all();
/// ```
pub struct Condvar {
    seq: AtomicU32,
    waiters: AtomicU32,
    mutex: AtomicPtr<RawMutex>,
}

impl Condvar {
    /// A new condition variable.
    pub const fn new() -> Self {
        Condvar {
            seq: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
            mutex: AtomicPtr::new(null_mut()),
        }
    }

    fn bind(&self, m: &RawMutex) {
        let p = m as *const RawMutex as *mut RawMutex;
        match self.mutex.compare_exchange(null_mut(), p, Relaxed, Relaxed) {
            Ok(_) => {}
            Err(other) if other == p || other == MIXED => {}
            Err(_) => self.mutex.store(MIXED, Relaxed),
        }
    }

    fn wait_inner(&self, m: &RawMutex, timeout: Option<Duration>) -> bool {
        self.bind(m);
        self.waiters.fetch_add(1, SeqCst);
        let seq = self.seq.load(SeqCst);
        // SAFETY: the caller's guard holds the lock; it is taken back below before
        // the guard is handed back.
        unsafe { m.unlock() };
        let r = futex::wait(&self.seq, seq, timeout);
        self.waiters.fetch_sub(1, Relaxed);
        m.lock_contended();
        r == Err(Errno::ETIMEDOUT)
    }

    /// Releases the guard's mutex, sleeps until notified (or spuriously woken) and
    /// locks the mutex again.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait_inner(guard.mutex().raw(), None);
        guard
    }

    /// Waits while `cond` holds of the protected value.
    pub fn wait_while<'a, T: ?Sized, F: FnMut(&mut T) -> bool>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut cond: F,
    ) -> MutexGuard<'a, T> {
        while cond(&mut *guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// [`Condvar::wait`] for at most `timeout`.
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        let t = self.wait_inner(guard.mutex().raw(), Some(timeout));
        (guard, WaitTimeoutResult(t))
    }

    /// The address of the futex word waiters sleep on until notified (requeued waiters sleep on the
    /// mutex's) (for diagnostics and tests, e.g.
    /// counting the sleepers with a `FUTEX_REQUEUE` of the word onto itself).
    pub fn futex_word_addr(&self) -> *const u32 {
        self.seq.as_ptr()
    }

    /// Wakes one waiting thread (no system call if nobody waits).
    pub fn notify_one(&self) {
        self.seq.fetch_add(1, SeqCst);
        if self.waiters.load(SeqCst) != 0 {
            futex::wake(&self.seq, 1);
        }
    }

    /// Wakes all waiting threads: one is woken, the others are requeued onto the
    /// mutex and woken one by one as it is unlocked (no system call if nobody
    /// waits).
    pub fn notify_all(&self) {
        let seq = self.seq.fetch_add(1, SeqCst).wrapping_add(1);
        if self.waiters.load(SeqCst) == 0 {
            return;
        }
        let m = self.mutex.load(Relaxed);
        // The mutex's futex word is the RawMutex itself (repr(transparent)): only its
        // address is passed, the kernel never dereferences it for a requeue.
        if (m.is_null() || m == MIXED)
            || futex::cmp_requeue(&self.seq, 1, i32::MAX as u32, m.cast::<u32>(), seq).is_err()
        {
            // No mutex to requeue to, or EAGAIN (another notify changed the word
            // since): wake everyone, which is always correct.
            futex::wake_all(&self.seq);
        }
    }
}

impl Default for Condvar {
    fn default() -> Self {
        Self::new()
    }
}
