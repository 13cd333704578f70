//! The few synchronisation primitives the table uses, switchable to loom's.
//!
//! Normal builds (kernel and host tests) use `core` atomics and `spin::Mutex`; a
//! `--cfg loom` build uses loom's atomics and mutex, so the very same table code is
//! what the loom models in `tests/loom.rs` explore.

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// The bucket lock: a spin lock in the kernel.
#[cfg(not(loom))]
pub(crate) type Mutex<T> = spin::Mutex<T>;
/// Guard of [`Mutex`].
#[cfg(not(loom))]
pub(crate) type MutexGuard<'a, T> = spin::MutexGuard<'a, T>;

/// The bucket lock: loom's mutex, so loom sees every acquisition.
#[cfg(loom)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
/// Guard of [`Mutex`].
#[cfg(loom)]
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

#[cfg(loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(v: T) -> Self {
        Mutex(loom::sync::Mutex::new(v))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap()
    }
}
