//! `weft-sync`: user-space synchronisation for Weft programs, on futexes.
//!
//! A `#![no_std]` library on [`weft_rt`]'s system-call wrappers. It uses only the
//! Linux `futex(2)` ABI (which Weft implements), so programs using it run the same
//! on Weft and natively on Linux.
//!
//! | type | what | waits with |
//! |---|---|---|
//! | [`Mutex`] / [`RawMutex`] | three-state futex mutex (0 free, 1 locked, 2 contended) | `FUTEX_WAIT` on the lock word |
//! | [`Condvar`] | sequence-counter condition variable; `notify_all` requeues | `FUTEX_WAIT`, `FUTEX_CMP_REQUEUE` onto the mutex |
//! | [`RwLock`] / [`RawRwLock`] | reader-writer lock, **writer-preferring** | state word (readers), notify word (writers) |
//! | [`Semaphore`] | counting semaphore (P = [`Semaphore::acquire`], V = [`Semaphore::release`]) | `FUTEX_WAIT` on the count |
//! | [`Barrier`] | reusable barrier, generation-based | `FUTEX_WAIT` on the generation |
//! | [`Once`], [`OnceLock`] | one-time initialisation | `FUTEX_WAIT` on the state |
//! | [`tls::Key`], [`ThreadLocal`] | thread-local values with destructors at thread exit | (no waiting) |
//! | [`SpinLock`] | test-and-test-and-set spin lock | spins, `sched_yield` now and then |
//! | [`thread::wait_tid`], [`thread::spawn_raw`], [`thread::clone_thread`] | threads on a bare `clone`, joined on their clear-child-tid word | `FUTEX_WAIT` on the tid word |
//!
//! **Uncontended paths never enter the kernel**: taking a free lock and releasing
//! a lock nobody waits for, a semaphore with permits, a notify with no waiter, a
//! completed `Once`, a thread-local access are plain atomic operations;
//! [`futex::syscall_count`] counts every futex call this crate makes, so tests can
//! check it. Contended lockers spin briefly before they sleep. Private futexes
//! (`FUTEX_PRIVATE_FLAG`) are used throughout, so these primitives are for the
//! threads of one process (not for memory shared between processes).
//!
//! The runtime aborts on panic, so nothing here is poisoned by a panicking holder.
//!
//! # Example
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! extern crate alloc;
//!
//! use alloc::sync::Arc;
//! use alloc::vec::Vec;
//! use weft_rt::{env::Args, println, thread};
//! use weft_sync::{Barrier, Condvar, Mutex};
//!
//! weft_rt::entry!(main);
//!
//! fn main(_: Args) -> i32 {
//!     let state = Arc::new((Mutex::new(0u64), Condvar::new(), Barrier::new(4)));
//!     let workers: Vec<_> = (0..4)
//!         .map(|_| {
//!             let s = state.clone();
//!             thread::spawn(move || {
//!                 let (count, cv, barrier) = &*s;
//!                 *count.lock() += 1;
//!                 barrier.wait(); // all four have counted
//!                 cv.notify_all();
//!             })
//!         })
//!         .collect();
//!     let (count, cv, _) = &*state;
//!     let mut n = count.lock();
//!     while *n < 4 {
//!         n = cv.wait(n);
//!     }
//!     drop(n);
//!     workers.into_iter().for_each(|h| h.join());
//!     println!("all {} counted", *count.lock());
//!     0
//! }
//! ```
//!
//! with `weft-sync = { path = "../../libs/sync" }` next to `weft-rt` in the
//! program's `Cargo.toml`. The crate builds like any weft-rt program (target
//! `x86_64-unknown-linux-musl`, see weft-rt's docs); it is tested by `user/utest`
//! (on Weft, and natively with `make user-host-test`) and measured by
//! `user/ubench`.
//!
//! # Thread-local destructors and weft-rt
//!
//! [`tls`] keeps each thread's table in weft-rt's per-thread word
//! ([`weft_rt::thread::Tcb::specific`]) and runs destructors from weft-rt's
//! thread-exit hook ([`weft_rt::thread::set_exit_hook`]), which it installs when the
//! first key is created.
#![no_std]
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod barrier;
mod condvar;
pub mod futex;
mod mutex;
mod once;
mod rwlock;
mod semaphore;
mod spin;
pub mod thread;
pub mod tls;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard, RawMutex};
pub use once::{Once, OnceLock};
pub use rwlock::{RawRwLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::Semaphore;
pub use spin::{SpinLock, SpinLockGuard, YIELD_AFTER};
pub use tls::ThreadLocal;
