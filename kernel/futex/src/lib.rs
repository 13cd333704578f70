//! The Weft futex table: hashed wait queues with Linux `futex(2)` semantics.
//!
//! This crate is the *logic* of futexes. It never touches page tables, never sleeps
//! and never wakes a thread itself: user memory goes through the [`UserMem`] trait,
//! sleeping is the kernel's (between [`FutexTable::wait_prepare`] and
//! [`WaitToken::finish`]), and wake-ups are handed back through a callback that
//! runs after every lock is dropped. That keeps it host-testable (`cargo test`) and
//! model-checkable (loom, see below).
//!
//! - [`FutexTable`]: `2^k` buckets (at least 256 per CPU), each cache-line padded
//!   (128 bytes on x86_64, so 32 KiB per CPU): a spin lock, an atomic waiter count
//!   and a FIFO queue whose entries live in a separately allocated ring buffer.
//!   Operations: [`wait_prepare`](FutexTable::wait_prepare) /
//!   [`WaitToken::finish`] (`WAIT`, `WAIT_BITSET`), [`wake`](FutexTable::wake)
//!   (`WAKE`, `WAKE_BITSET`), [`requeue`](FutexTable::requeue) (`REQUEUE`,
//!   `CMP_REQUEUE`), [`wake_op`](FutexTable::wake_op) (`WAKE_OP`).
//! - [`FutexKey`]: what a futex word is (private: address space + address; shared:
//!   physical frame + offset). The kernel resolves addresses to keys.
//! - [`syscall`]: decoding and validating the raw `futex` arguments like Linux.
//! - [`robust`]: the robust-list walk at thread exit.
//!
//! # The system call, step by step
//! What the kernel's `futex(uaddr, op, val, arg4, uaddr2, val3)` handler does:
//!
//! 1. `let req = syscall::decode(op, val, arg4, val3)?;` (`ENOSYS`, `EINVAL`).
//! 2. [`syscall::check_uaddr`] on `uaddr`, and on `uaddr2` if
//!    `req.cmd.uses_uaddr2()` (`EINVAL` misaligned, `EFAULT` outside user space).
//! 3. Resolve the address(es) to [`FutexKey`]s: private if `req.private` or the
//!    mapping is private, else shared (frame + offset; keep the frame alive while
//!    waiting on it).
//! 4. Dispatch:
//!    - `Wait { expected, bitset, timeout }`:
//!      1. If `timeout` is given, copy the `Timespec` in (`EFAULT`), check it with
//!         [`syscall::check_timespec`] (`EINVAL`), and turn it into a deadline
//!         *now* (relative: monotonic now + value; absolute: on its clock).
//!      2. `let token = table.wait_prepare(&mem, key, uaddr, expected, bitset,
//!         current.clone())?;` — `EAGAIN` if the word changed. From here on the
//!         thread is queued and any wake will find it.
//!      3. Sleep until claimed, timed out or signalled. The check-then-sleep must
//!         follow the scheduler's sleep protocol, with the announcement *before* the
//!         check:
//!         ```text
//!         let reason = loop {
//!             sched.prepare_sleep(current);        // SeqCst: "about to sleep"
//!             if token.is_woken()      { sched.cancel_sleep(current); break Woken; }
//!             if deadline_passed()     { sched.cancel_sleep(current); break TimedOut; }
//!             if signal_pending()      { sched.cancel_sleep(current); break Interrupted; }
//!             sched.schedule_sleep(deadline);     // returns on any wake-up
//!         };
//!         ```
//!         A scheduler wake-up can be spurious (a waker of an *earlier* wait of this
//!         thread may call `sched.wake` late), which is why it loops on
//!         `is_woken()` instead of trusting the wake-up. Such a late wake can even
//!         reach a thread that has exited since (the handle keeps it allocated), so
//!         waking a dead thread must be harmless.
//!      4. `let outcome = token.finish(reason);` — `Woken` if any waker claimed
//!         the waiter, even if the timeout or signal came first; otherwise the entry
//!         is removed (from wherever requeues took it) and `reason` comes back.
//!      5. Return `outcome.syscall_result(timeout.is_some())` (0, `ETIMEDOUT`, or a
//!         restart code; see [`WaitOutcome::syscall_result`]).
//!    - `Wake { nr, bitset }`: `table.wake(&key, nr, bitset, |w| sched.wake(&w))`.
//!    - `Requeue { nr_wake, nr_requeue, expected }`: `table.requeue(&mem, &key1,
//!      &key2, nr_wake, nr_requeue, expected.map(|v| (uaddr, v)), wake)`.
//!    - `WakeOp { nr_wake, nr_wake2, op }`: `table.wake_op(&mem, &key1, &key2,
//!      uaddr2, nr_wake, nr_wake2, op, wake)`.
//!
//!    The callback runs after the bucket locks are dropped, once per claimed
//!    waiter; it must make the thread runnable (`Scheduler::wake`). Dropping the
//!    handle instead would leave the thread asleep until its timeout or a signal.
//!
//! # Why no wakeup is lost
//! 1. **Value check against a waker.** The waiter increments its bucket's waiter
//!    count *before* it reads the futex word (under the bucket lock). A waker first
//!    changes the word (in user space), then checks the count, and skips the lock
//!    only if it is 0. Every access to the count is a read-modify-write (the waker's
//!    check is `fetch_add(0)`), so all of them are totally ordered, and each
//!    acquire-RMW synchronises with the release-RMWs before it. If the waker's check
//!    comes after the waiter's increment, it sees a non-zero count and takes the lock
//!    (which orders it after the waiter's enqueue, or before the waiter's read — in
//!    which case the waiter sees the new value). If the check comes first, the
//!    waiter's increment synchronises with it, so the waiter's read of the word
//!    happens after the waker's write and sees the new value: `EAGAIN`. Either the
//!    waiter does not sleep or the waker finds it. (Linux gets the same guarantee
//!    from a full barrier on both sides.)
//! 2. **Claim under the lock, wake after it.** A waker removes the entry and sets
//!    the waiter's state to *woken* under the bucket lock (a `SeqCst` store), and
//!    calls the scheduler after unlocking. The sleeper announces its sleep (`SeqCst`)
//!    and then checks [`WaitToken::is_woken`] (`SeqCst`): either it sees the claim
//!    and does not sleep, or the scheduler wake comes after its announcement and
//!    wakes it.
//! 3. **Wake against timeout or signal.** Who wins is decided under the bucket
//!    lock in [`WaitToken::finish`]: if a waker claimed the entry first, the wait
//!    reports `Woken` (the waker has counted it in its return value); otherwise the
//!    waiter removes itself and no waker can count it any more.
//! 4. **Requeue against finish.** A requeue changes an entry's bucket (and the
//!    waiter's recorded bucket index) with both bucket locks held. `finish` locks
//!    the recorded bucket and re-reads the index under the lock; if it changed, it
//!    retries with the new bucket. So it always finds the entry, or the claim.
//!
//! # Lock order
//! 1. At most two bucket locks at a time, in ascending bucket index (the buckets
//!    are one array, so that is address order). `requeue` and `wake_op` lock both;
//!    every other operation locks one.
//! 2. Under bucket locks the table calls only the [`UserMem`] word accessors (which
//!    must not sleep or fault pages in, see [`UserMem`]) and the heap allocator
//!    (fallible `try_reserve` to grow a queue or a wake list; failure is `ENOMEM`
//!    before anything changed). The heap lock therefore ranks below bucket locks,
//!    and the allocator must never call into futex code.
//! 3. Never under a bucket lock: scheduler / run-queue locks (wake-ups go through
//!    the callback after unlocking), the address-space lock, page-fault handling
//!    ([`UserMem::fault_in`] runs unlocked, then the operation retries), sleeping.
//! 4. Bucket locks are plain spin locks: they do not disable interrupts, so the
//!    table must not be used from interrupt context (timeouts wake the *thread*,
//!    which then calls `finish`). With a preemptible kernel, disable preemption
//!    around each call so a lock holder is not preempted.
//!
//! # Thread exit
//! Linux (and Weft should, too) does the futex work of a dying thread in this order:
//! 1. Robust list: [`robust::exit_robust_list`] with the thread's registered head;
//!    for each address it reports, resolve the key and `wake(&key, 1,
//!    FUTEX_BITSET_MATCH_ANY, ..)`.
//! 2. Clear-child-tid (`CLONE_CHILD_CLEARTID` / `set_tid_address`): if the address
//!    is set (and the address space has other users), store 0 to it (ignore a
//!    fault), then `wake(&key, 1, FUTEX_BITSET_MATCH_ANY, ..)` on it — in that
//!    order, so the joiner that wakes sees 0.
//!
//! The robust list goes first because a joiner woken by step 2 may free the dead
//! thread's stack and TLS, where C libraries keep the robust list head.
//!
//! # Model checking (loom)
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p weft-futex --release --test loom
//! ```
//! (use a separate `CARGO_TARGET_DIR`, e.g. `target/loom`, so the `--cfg` does not
//! rebuild the normal artifacts). Under `--cfg loom` the table's atomics and bucket
//! locks become loom's; the normal unit and stress tests are compiled out.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod key;
mod mem;
pub mod robust;
mod sync;
pub mod syscall;
mod table;
mod waiter;

#[cfg(all(test, not(loom)))]
mod tests;

pub use key::FutexKey;
pub use mem::{Fault, UserMem};
pub use table::{BUCKETS_PER_CPU, FutexTable, WaitToken};
pub use waiter::{FutexThread, WaitOutcome, WaitState, Waiter};
