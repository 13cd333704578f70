//! An interrupt-safe spin lock and the few instructions mm needs.
//!
//! [`IrqSpin`] is a `lock_api::RawMutex` that disables interrupts on the local CPU while
//! it is held, so a lock that an interrupt handler may also take (the heap, the frame
//! allocator) can never deadlock against its own CPU. The previous interrupt state is
//! restored on unlock, which makes nesting work as long as guards are dropped in LIFO
//! order (they are: every mm lock is scoped).
//!
//! On the host (unit tests) the interrupt flag is not touched and the instruction shims
//! are no-ops, so all the bookkeeping above them runs unchanged.

use core::sync::atomic::{AtomicBool, Ordering};
use talc::lock_api::{self, GuardNoSend, RawMutex};

/// Spin lock that keeps interrupts disabled on the local CPU while held.
pub struct IrqSpin {
    locked: AtomicBool,
    /// Interrupt flag of the owner at `lock` time; only the owner touches it.
    irq_was_enabled: AtomicBool,
}

/// A mutex built on [`IrqSpin`].
pub type IrqMutex<T> = lock_api::Mutex<IrqSpin, T>;
/// Guard of an [`IrqMutex`].
pub type IrqMutexGuard<'a, T> = lock_api::MutexGuard<'a, IrqSpin, T>;

// SAFETY: `lock` only returns once `locked` went from false to true by this caller (an
// acquire CAS), `try_lock` returns true only in that case, and `unlock` releases with a
// release store, so at most one owner exists and its accesses are ordered.
unsafe impl RawMutex for IrqSpin {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = IrqSpin {
        locked: AtomicBool::new(false),
        irq_was_enabled: AtomicBool::new(false),
    };
    // The guard restores this CPU's interrupt flag: it must not move to another thread.
    type GuardMarker = GuardNoSend;

    fn lock(&self) {
        let was = hw::irq_save_disable();
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.locked.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
        self.irq_was_enabled.store(was, Ordering::Relaxed);
    }

    fn try_lock(&self) -> bool {
        let was = hw::irq_save_disable();
        if self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            self.irq_was_enabled.store(was, Ordering::Relaxed);
            true
        } else {
            hw::irq_restore(was);
            false
        }
    }

    unsafe fn unlock(&self) {
        let was = self.irq_was_enabled.load(Ordering::Relaxed);
        self.locked.store(false, Ordering::Release);
        hw::irq_restore(was);
    }

    fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Relaxed)
    }
}

/// Thin wrappers over the privileged instructions mm uses.
pub(crate) mod hw {
    #[cfg(target_os = "none")]
    mod imp {
        use x86_64::instructions::interrupts;

        #[inline]
        pub fn irq_save_disable() -> bool {
            let was = interrupts::are_enabled();
            if was {
                interrupts::disable();
            }
            was
        }

        #[inline]
        pub fn irq_restore(was: bool) {
            if was {
                interrupts::enable();
            }
        }

        /// Physical address of the active top-level page table.
        pub fn read_cr3() -> u64 {
            let v: u64;
            // SAFETY: reading CR3 has no side effects; mm runs at CPL 0.
            unsafe {
                core::arch::asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags))
            };
            v & 0x000f_ffff_ffff_f000
        }

        /// Loads `root` into CR3.
        ///
        /// # Safety
        /// `root` must be a valid PML4 that maps the running code, stack and data.
        pub unsafe fn write_cr3(root: u64) {
            // SAFETY: the caller guarantees `root` maps everything currently in use.
            unsafe {
                core::arch::asm!("mov cr3, {}", in(reg) root, options(nostack, preserves_flags))
            };
        }

        /// True if CR4.LA57 (5-level paging) is on.
        pub fn five_level_paging() -> bool {
            let v: u64;
            // SAFETY: reading CR4 has no side effects; mm runs at CPL 0.
            unsafe {
                core::arch::asm!("mov {}, cr4", out(reg) v, options(nomem, nostack, preserves_flags))
            };
            v & (1 << 12) != 0
        }

        /// Invalidates the TLB entry (global or not) for the page containing `addr`.
        #[inline]
        pub fn invlpg(addr: u64) {
            // SAFETY: invlpg only drops a cached translation; it cannot fault.
            unsafe {
                core::arch::asm!("invlpg [{}]", in(reg) addr, options(nostack, preserves_flags))
            };
        }
    }

    #[cfg(not(target_os = "none"))]
    mod imp {
        #[inline]
        pub fn irq_save_disable() -> bool {
            false
        }
        #[inline]
        pub fn irq_restore(_was: bool) {}
        pub fn read_cr3() -> u64 {
            panic!("read_cr3: not running on the kernel target")
        }
        pub fn five_level_paging() -> bool {
            false
        }
        /// # Safety
        /// No-op on the host.
        pub unsafe fn write_cr3(_root: u64) {}
        #[inline]
        pub fn invlpg(_addr: u64) {}
    }

    pub use imp::*;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn mutual_exclusion() {
        let m = Arc::new(IrqMutex::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        *m.lock() += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.lock(), 40_000);
        let g = m.lock();
        assert!(m.try_lock().is_none());
        drop(g);
        assert!(m.try_lock().is_some());
    }
}
