//! The kernel services the scheduler needs, and the interrupt-safe spin lock built on
//! them.
//!
//! The scheduler never touches hardware. Everything it needs from the machine goes
//! through [`Platform`], a trait of associated functions (no instance) that the kernel
//! implements once, e.g. with `weft_arch::cpu::irq_save`, the LAPIC IPI sender and the
//! per-CPU base. Host tests implement it with thread-locals.
//!
//! Every lock in this crate is an [`IrqSpinLock`]: acquiring it first saves and
//! disables interrupts on this CPU, and the guard restores them after the lock is
//! released. That is what lets the timer interrupt (`Scheduler::tick`), the reschedule
//! IPI (`Scheduler::handle_ipi`) and timer expiry (`Scheduler::wake`) take the same
//! locks as thread context without deadlocking against themselves.

use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use spin::mutex::{SpinMutex, SpinMutexGuard};

/// What the scheduler needs from the kernel. All functions are associated functions:
/// there is exactly one platform per kernel, chosen as a type parameter.
pub trait Platform: 'static {
    /// Disables interrupts on this CPU and returns whether they were enabled before.
    fn irq_save() -> bool;

    /// Re-enables interrupts if `was_enabled` (the value [`Platform::irq_save`]
    /// returned); leaves them disabled otherwise.
    fn irq_restore(was_enabled: bool);

    /// Sends the reschedule IPI to `cpu`. Its handler must call
    /// `Scheduler::handle_ipi(cpu)` and reschedule when that returns `true`. The
    /// scheduler never asks a CPU to send this IPI to itself.
    fn send_resched_ipi(cpu: usize);

    /// Index of the CPU executing the caller (`0..nr_cpus`). Only called with
    /// interrupts disabled or with preemption disabled, so the answer stays valid.
    fn current_cpu() -> usize;
}

#[cfg(not(test))]
type Relax = spin::relax::Spin;

/// Host tests run more "CPUs" (std threads) than the machine has cores; a lock holder
/// may be descheduled by the host OS, so waiters yield instead of burning their slice.
#[cfg(test)]
pub(crate) struct Relax;

#[cfg(test)]
impl spin::relax::RelaxStrategy for Relax {
    fn relax() {
        std::thread::yield_now();
    }
}

/// A spin lock that keeps interrupts disabled on the holding CPU while it is held.
///
/// `lock` saves the interrupt state and disables interrupts before spinning, so an
/// interrupt handler on this CPU can never spin on a lock its own CPU holds. The
/// guard releases the lock first and restores the saved interrupt state second.
pub struct IrqSpinLock<T, P: Platform> {
    inner: SpinMutex<T, Relax>,
    _platform: PhantomData<fn() -> P>,
}

impl<T, P: Platform> IrqSpinLock<T, P> {
    /// A new unlocked lock holding `value`.
    pub const fn new(value: T) -> Self {
        IrqSpinLock {
            inner: SpinMutex::new(value),
            _platform: PhantomData,
        }
    }

    /// Disables interrupts, then spins until the lock is acquired.
    pub fn lock(&self) -> IrqSpinGuard<'_, T, P> {
        let irq = IrqGuard::<P>::new();
        let guard = self.inner.lock();
        IrqSpinGuard { guard, _irq: irq }
    }

    /// Disables interrupts and takes the lock if it is free; otherwise restores the
    /// interrupt state and returns `None` without waiting.
    pub fn try_lock(&self) -> Option<IrqSpinGuard<'_, T, P>> {
        let irq = IrqGuard::<P>::new();
        // `irq` is dropped (restoring interrupts) on the `None` path.
        let guard = self.inner.try_lock()?;
        Some(IrqSpinGuard { guard, _irq: irq })
    }

    /// Whether the lock is currently held by someone (a racy hint).
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Mutable access without locking (the `&mut` proves exclusivity).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }
}

impl<T: Default, P: Platform> Default for IrqSpinLock<T, P> {
    fn default() -> Self {
        IrqSpinLock::new(T::default())
    }
}

/// Interrupts disabled on this CPU for the guard's lifetime: `new` saves the state
/// and disables them, `drop` restores the saved state. Guards must be dropped in the
/// reverse order of creation (as lock guards are).
///
/// Hold one around a section that takes several [`IrqSpinLock`]s whose guards are
/// not released in reverse order; the inner guards then only ever restore
/// "disabled", and this one re-enables interrupts last.
pub struct IrqGuard<P: Platform> {
    was_enabled: bool,
    _platform: PhantomData<fn() -> P>,
}

impl<P: Platform> IrqGuard<P> {
    /// Saves the interrupt state and disables interrupts.
    #[must_use = "interrupts are restored when the guard is dropped"]
    pub fn new() -> Self {
        IrqGuard {
            was_enabled: P::irq_save(),
            _platform: PhantomData,
        }
    }
}

impl<P: Platform> Default for IrqGuard<P> {
    fn default() -> Self {
        IrqGuard::new()
    }
}

impl<P: Platform> Drop for IrqGuard<P> {
    fn drop(&mut self) {
        P::irq_restore(self.was_enabled);
    }
}

/// Guard of an [`IrqSpinLock`].
///
/// Fields drop in declaration order: the spin lock is released before interrupts
/// are restored, so no interrupt can arrive while the lock is still held.
pub struct IrqSpinGuard<'a, T, P: Platform> {
    guard: SpinMutexGuard<'a, T, Relax>,
    _irq: IrqGuard<P>,
}

impl<T, P: Platform> Deref for IrqSpinGuard<'_, T, P> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T, P: Platform> DerefMut for IrqSpinGuard<'_, T, P> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{HostPlatform, irqs_enabled};

    #[test]
    fn guard_disables_and_restores_interrupts() {
        let lock: IrqSpinLock<u32, HostPlatform> = IrqSpinLock::new(1);
        assert!(irqs_enabled());
        {
            let mut g = lock.lock();
            assert!(!irqs_enabled());
            *g += 1;
            // Nested: the inner guard must leave interrupts disabled.
            let other: IrqSpinLock<(), HostPlatform> = IrqSpinLock::new(());
            drop(other.lock());
            assert!(!irqs_enabled());
            assert!(lock.try_lock().is_none());
            assert!(!irqs_enabled());
        }
        assert!(irqs_enabled());
        assert!(!lock.is_locked());
        assert_eq!(*lock.try_lock().unwrap(), 2);
        assert!(irqs_enabled());
    }
}
