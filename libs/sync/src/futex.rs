//! The futex calls the primitives are built on (Linux `futex(2)` ABI, which Weft
//! implements), plus a process-wide count of them ([`syscall_count`]).
//!
//! The primitives only call these on their slow paths (a lock that is taken, a
//! notify with sleepers): [`syscall_count`] lets tests check that an uncontended
//! path never entered the kernel. All words here are process-private
//! (`FUTEX_PRIVATE_FLAG`) except in [`wait_shared`] / [`wake_shared`] (words in
//! `MAP_SHARED` memory, and the clear-child-tid word the kernel wakes at thread
//! exit).
//!
//! If the kernel has no futex (`ENOSYS`), a wait yields the CPU and returns: every
//! caller re-checks its condition in a loop, so that only costs speed.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use core::time::Duration;

use weft_rt::abi::futex::*;
use weft_rt::abi::time::Timespec;
use weft_rt::{Errno, sys};

static SYSCALLS: AtomicU64 = AtomicU64::new(0);

/// Number of futex system calls this crate has made so far (all threads of the
/// process). Uncontended operations never add to it.
pub fn syscall_count() -> u64 {
    SYSCALLS.load(Relaxed)
}

#[inline]
fn count() {
    SYSCALLS.fetch_add(1, Relaxed);
}

/// `timespec` for a duration, saturating at `i64::MAX` seconds.
pub fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: d.subsec_nanos() as i64,
    }
}

fn raw(
    word: &AtomicU32,
    op: u32,
    val: u32,
    arg4: usize,
    word2: *const u32,
    val3: u32,
) -> Result<usize, Errno> {
    count();
    // SAFETY: `word` is a live u32; `arg4` is a timespec pointer or a count as the op
    // wants, `word2` null or a live u32 (callers below).
    unsafe { sys::futex(word.as_ptr(), op, val, arg4, word2, val3) }
}

fn wait_op(
    word: &AtomicU32,
    op: u32,
    expected: u32,
    timeout: Option<Duration>,
) -> Result<(), Errno> {
    let ts = timeout.map(timespec);
    let t = ts.as_ref().map_or(0, |t| t as *const Timespec as usize);
    match raw(word, op, expected, t, core::ptr::null(), 0) {
        Ok(_) => Ok(()),
        Err(Errno::ENOSYS) => {
            sys::sched_yield();
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// `FUTEX_WAIT_PRIVATE`: sleeps while `*word == expected`, for at most `timeout`
/// (relative). `Ok` when woken (possibly spuriously), `Err(EAGAIN)` if the word did
/// not hold `expected`, `Err(ETIMEDOUT)`, `Err(EINTR)`.
pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Result<(), Errno> {
    wait_op(word, FUTEX_WAIT_PRIVATE, expected, timeout)
}

/// `FUTEX_WAIT` without the private flag: for words in `MAP_SHARED` memory and for
/// clear-child-tid words (the kernel's exit wake is not private).
pub fn wait_shared(
    word: &AtomicU32,
    expected: u32,
    timeout: Option<Duration>,
) -> Result<(), Errno> {
    wait_op(word, FUTEX_WAIT, expected, timeout)
}

/// `FUTEX_WAKE_PRIVATE`: wakes up to `n` sleepers on `word`; how many it woke.
pub fn wake(word: &AtomicU32, n: u32) -> usize {
    raw(word, FUTEX_WAKE_PRIVATE, n, 0, core::ptr::null(), 0).unwrap_or(0)
}

/// `FUTEX_WAKE` without the private flag (see [`wait_shared`]).
pub fn wake_shared(word: &AtomicU32, n: u32) -> usize {
    raw(word, FUTEX_WAKE, n, 0, core::ptr::null(), 0).unwrap_or(0)
}

/// Wakes every sleeper on `word` (private).
pub fn wake_all(word: &AtomicU32) -> usize {
    wake(word, i32::MAX as u32)
}

/// `FUTEX_CMP_REQUEUE_PRIVATE`: if `*word == expected`, wakes up to `n_wake`
/// sleepers on `word` and moves up to `n_move` more onto the futex at `target` (they
/// then sleep there as if they had called `FUTEX_WAIT` on it; the kernel only uses
/// its address). Woken + moved, or `Err(EAGAIN)` when `*word != expected`.
pub fn cmp_requeue(
    word: &AtomicU32,
    n_wake: u32,
    n_move: u32,
    target: *const u32,
    expected: u32,
) -> Result<usize, Errno> {
    raw(
        word,
        FUTEX_CMP_REQUEUE_PRIVATE,
        n_wake,
        n_move as usize,
        target,
        expected,
    )
}
