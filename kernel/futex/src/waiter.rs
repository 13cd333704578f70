//! Waiters: the per-thread wait state, the waiter handle trait, wait tokens and
//! outcomes.

use crate::sync::{AtomicU32, AtomicUsize, Ordering};

/// Not waiting on a futex.
const IDLE: u32 = 0;
/// Queued in the bucket recorded in `WaitState::bucket`.
const QUEUED: u32 = 1;
/// Removed from its queue by a waker; the wake belongs to this waiter.
const WOKEN: u32 = 2;

/// The futex wait state of one thread. The kernel embeds one in each thread (a
/// thread waits on at most one futex at a time) and exposes it through [`Waiter`] or
/// [`FutexThread`].
///
/// `state` moves `IDLE -> QUEUED` in `wait_prepare` (under the bucket lock),
/// `QUEUED -> WOKEN` when a waker takes the entry off its queue (under the bucket
/// lock), and back to `IDLE` in `wait_finish` (by the thread itself). `bucket` is the
/// index of the bucket the entry is queued in; it changes only under the locks of
/// both buckets (requeue), so `wait_finish` can find the entry again.
#[derive(Debug)]
pub struct WaitState {
    state: AtomicU32,
    bucket: AtomicUsize,
}

impl Default for WaitState {
    fn default() -> Self {
        WaitState::new()
    }
}

impl WaitState {
    /// An idle wait state.
    #[cfg(not(loom))]
    pub const fn new() -> WaitState {
        WaitState {
            state: AtomicU32::new(IDLE),
            bucket: AtomicUsize::new(0),
        }
    }

    /// An idle wait state.
    #[cfg(loom)]
    pub fn new() -> WaitState {
        WaitState {
            state: AtomicU32::new(IDLE),
            bucket: AtomicUsize::new(0),
        }
    }

    /// True once a waker has claimed this thread's current wait. `SeqCst`, so that
    /// it pairs with a `SeqCst` "announce sleep" store in the scheduler (see the
    /// crate documentation, step 3 of the wait protocol).
    pub fn is_woken(&self) -> bool {
        self.state.load(Ordering::SeqCst) == WOKEN
    }

    /// True if the thread is not in a futex wait (between `wait_finish` and the next
    /// `wait_prepare`).
    pub fn is_idle(&self) -> bool {
        self.state.load(Ordering::SeqCst) == IDLE
    }

    /// Under the lock of bucket `idx`: the entry is being queued there.
    pub(crate) fn enqueue(&self, idx: usize) {
        self.bucket.store(idx, Ordering::Relaxed);
        self.state.store(QUEUED, Ordering::Relaxed);
    }

    /// Under the lock of the bucket the entry was just removed from.
    pub(crate) fn mark_woken(&self) {
        self.state.store(WOKEN, Ordering::SeqCst);
    }

    /// Under the locks of both buckets: the entry moved to bucket `idx`.
    pub(crate) fn moved_to(&self, idx: usize) {
        self.bucket.store(idx, Ordering::Relaxed);
    }

    /// The bucket the entry is (or was last) queued in. Read once without the lock
    /// to pick the lock, then again under it to confirm.
    pub(crate) fn bucket(&self) -> usize {
        self.bucket.load(Ordering::Relaxed)
    }

    /// By the thread itself once its entry is off every queue.
    pub(crate) fn reset(&self) {
        self.state.store(IDLE, Ordering::Relaxed);
    }
}

/// A handle to a waiting thread, as the table stores it in a bucket and hands it
/// back to the kernel for the actual wake-up.
///
/// Implemented for `Arc<T>` where `T: FutexThread`, which is what the kernel uses.
/// Cloning must be cheap and every clone must return the *same* [`WaitState`].
pub trait Waiter: Clone {
    /// The thread's wait state.
    fn wait_state(&self) -> &WaitState;
}

/// The kernel's thread type implements this to be usable as `Arc<Thread>` waiters.
pub trait FutexThread {
    /// This thread's futex wait state.
    fn futex_wait_state(&self) -> &WaitState;
}

impl<T: FutexThread + ?Sized> Waiter for alloc::sync::Arc<T> {
    fn wait_state(&self) -> &WaitState {
        self.futex_wait_state()
    }
}

/// How a futex wait ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    /// A waker claimed this waiter (`FUTEX_WAIT` returns 0).
    Woken,
    /// The timeout expired first (`ETIMEDOUT`).
    TimedOut,
    /// A signal (or thread exit) ended the wait first (`EINTR` / restart).
    Interrupted,
}

impl WaitOutcome {
    /// The `futex` system call result for this outcome.
    ///
    /// `Interrupted` becomes a kernel-internal restart code, as on Linux:
    /// `ERESTARTSYS` without a timeout (restarted after a handler with `SA_RESTART`,
    /// `EINTR` otherwise), `ERESTART_RESTARTBLOCK` with one (restarted through
    /// `restart_syscall` with the original absolute deadline if no handler ran,
    /// `EINTR` if one did). A kernel without restart blocks should turn
    /// `ERESTART_RESTARTBLOCK` into `EINTR`.
    pub fn syscall_result(self, has_timeout: bool) -> Result<usize, weft_abi::Errno> {
        use weft_abi::Errno;
        match self {
            WaitOutcome::Woken => Ok(0),
            WaitOutcome::TimedOut => Err(Errno::ETIMEDOUT),
            WaitOutcome::Interrupted if has_timeout => Err(Errno::ERESTART_RESTARTBLOCK),
            WaitOutcome::Interrupted => Err(Errno::ERESTARTSYS),
        }
    }
}
