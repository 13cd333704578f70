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

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};
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

/// A writer-preferring reader-writer spin lock that leaves the interrupt flag alone.
///
/// Used for the VMA set of an address space: page faults (readers) run with interrupts
/// enabled, and writers wait for TLB-shootdown acknowledgements while holding it, so it
/// must not disable interrupts (a CPU spinning here with interrupts off could never
/// acknowledge the shootdown its lock holder waits for). A waiting writer stops new
/// readers from entering, so a stream of page faults cannot starve `mmap`; the price is
/// that a thread must never take the read side twice (a writer arriving in between
/// would deadlock it).
///
/// While spinning, the lock calls the relax hook (see [`set_relax_hook`]) every
/// [`RELAX_SPINS`] iterations when interrupts are enabled, so a kernel can yield there.
pub struct RwSpin<T> {
    state: AtomicU32,
    data: UnsafeCell<T>,
}

const RW_WRITER: u32 = 1 << 31;
const RW_WAITING: u32 = 1 << 30;

/// Spin iterations between calls of the relax hook.
pub const RELAX_SPINS: u32 = 1024;

static RELAX_HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Sets a function that long spins on mm's reader-writer locks call (with interrupts
/// enabled, no mm spin lock held), e.g. a scheduler yield. Optional.
pub fn set_relax_hook(f: fn()) {
    RELAX_HOOK.store(f as *mut (), Ordering::Release);
}

fn relax(spins: &mut u32) {
    core::hint::spin_loop();
    *spins += 1;
    if (*spins).is_multiple_of(RELAX_SPINS) && hw::irqs_enabled() {
        let p = RELAX_HOOK.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: RELAX_HOOK only ever holds null or a `fn()` stored by
            // `set_relax_hook`; function and data pointers share a representation here.
            let f = unsafe { core::mem::transmute::<*mut (), fn()>(p) };
            f();
        }
    }
}

// SAFETY: the lock hands out `&T` to several readers only when `T: Sync` allows it, and
// `&mut T` to one writer at a time; moving the lock moves the `T` (`T: Send`).
unsafe impl<T: Send + Sync> Sync for RwSpin<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for RwSpin<T> {}

impl<T> RwSpin<T> {
    /// A new unlocked lock.
    pub const fn new(v: T) -> Self {
        RwSpin {
            state: AtomicU32::new(0),
            data: UnsafeCell::new(v),
        }
    }

    /// Takes the read side, spinning while a writer holds or waits for the lock.
    pub fn read(&self) -> RwReadGuard<'_, T> {
        let mut spins = 0;
        loop {
            if let Some(g) = self.try_read() {
                return g;
            }
            relax(&mut spins);
        }
    }

    /// Takes the read side if no writer holds or waits for the lock.
    pub fn try_read(&self) -> Option<RwReadGuard<'_, T>> {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (RW_WRITER | RW_WAITING) != 0 {
                return None;
            }
            match self
                .state
                .compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Some(RwReadGuard { lock: self }),
                Err(now) => s = now,
            }
        }
    }

    /// Takes the write side.
    pub fn write(&self) -> RwWriteGuard<'_, T> {
        let mut spins = 0;
        loop {
            let s = self.state.load(Ordering::Relaxed);
            if s & !RW_WAITING == 0 {
                if self
                    .state
                    .compare_exchange_weak(s, RW_WRITER, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return RwWriteGuard { lock: self };
                }
                continue;
            }
            if s & RW_WAITING == 0 {
                self.state.fetch_or(RW_WAITING, Ordering::Relaxed);
            }
            relax(&mut spins);
        }
    }

    /// Exclusive access through `&mut self` (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// Read guard of a [`RwSpin`].
pub struct RwReadGuard<'a, T> {
    lock: &'a RwSpin<T>,
}

impl<T> core::ops::Deref for RwReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read guard exists only while the reader count is non-zero, during
        // which no writer can hold the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> Drop for RwReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.state.fetch_sub(1, Ordering::Release);
    }
}

/// Write guard of a [`RwSpin`].
pub struct RwWriteGuard<'a, T> {
    lock: &'a RwSpin<T>,
}

impl<T> core::ops::Deref for RwWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the write guard is the only access path while it exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> core::ops::DerefMut for RwWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above; `&mut self` makes this the only reference.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for RwWriteGuard<'_, T> {
    fn drop(&mut self) {
        // Keeps RW_WAITING if another writer announced itself meanwhile.
        self.lock.state.fetch_and(!RW_WRITER, Ordering::Release);
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

        /// Drops every non-global TLB entry of this CPU (CR3 reload).
        #[inline]
        pub fn flush_tlb_nonglobal() {
            // SAFETY: writing back the current CR3 keeps the address space and only drops
            // cached translations.
            unsafe {
                core::arch::asm!("mov {0}, cr3", "mov cr3, {0}", out(reg) _, options(nostack, preserves_flags))
            };
        }

        /// Whether interrupts are enabled on this CPU.
        #[inline]
        pub fn irqs_enabled() -> bool {
            interrupts::are_enabled()
        }

        /// This CPU's dense index (the bit in address-space CPU masks).
        #[inline]
        pub fn this_cpu() -> usize {
            weft_arch::percpu::cpu_id()
        }

        /// Whether SMAP is on (user accesses must then be bracketed by stac/clac).
        #[inline]
        pub fn smap_enabled() -> bool {
            weft_arch::cpu::smap_enabled()
        }

        /// Sets EFLAGS.AC: supervisor accesses to user pages allowed (SMAP CPUs only).
        #[inline]
        pub fn stac() {
            // SAFETY: only called when SMAP is enabled, so the CPU has the instruction;
            // it changes nothing but EFLAGS.AC.
            unsafe { core::arch::asm!("stac", options(nostack)) };
        }

        /// Clears EFLAGS.AC again.
        #[inline]
        pub fn clac() {
            // SAFETY: as for `stac`.
            unsafe { core::arch::asm!("clac", options(nostack)) };
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
        #[inline]
        pub fn flush_tlb_nonglobal() {}

        #[cfg(test)]
        std::thread_local! {
            static CPU: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
            static IRQS: core::cell::Cell<bool> = const { core::cell::Cell::new(true) };
        }

        /// Host stand-in: interrupts count as enabled unless a test says otherwise.
        #[cfg(test)]
        pub fn irqs_enabled() -> bool {
            IRQS.with(|c| c.get())
        }
        #[cfg(not(test))]
        pub fn irqs_enabled() -> bool {
            true
        }
        /// Host tests: pretend this thread runs with interrupts on or off.
        #[cfg(test)]
        pub fn set_irqs_enabled(on: bool) {
            IRQS.with(|c| c.set(on))
        }
        /// Host stand-in: the "CPU" of the calling test thread.
        #[cfg(test)]
        pub fn this_cpu() -> usize {
            CPU.with(|c| c.get())
        }
        #[cfg(not(test))]
        pub fn this_cpu() -> usize {
            0
        }
        /// Host tests: make the calling thread pretend to be CPU `cpu`.
        #[cfg(test)]
        pub fn set_this_cpu(cpu: usize) {
            CPU.with(|c| c.set(cpu))
        }
        pub fn smap_enabled() -> bool {
            false
        }
        pub fn stac() {}
        pub fn clac() {}
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

    #[test]
    fn rwspin_excludes_and_prefers_writers() {
        let l = Arc::new(RwSpin::new((0u64, 0u64)));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000u64 {
                        if (i + t) % 4 == 0 {
                            let mut g = l.write();
                            g.0 += 1;
                            g.1 += 1;
                        } else {
                            let g = l.read();
                            assert_eq!(g.0, g.1, "a reader saw a half-done write");
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(l.read().0, 5_000);
        // A waiting writer blocks new readers (writer preference); try_read says so.
        let r = l.read();
        assert!(l.try_read().is_some());
        let l2 = l.clone();
        let w = std::thread::spawn(move || {
            l2.write().0 = 7;
        });
        while l.state.load(Ordering::Relaxed) & RW_WAITING == 0 {
            std::thread::yield_now();
        }
        assert!(l.try_read().is_none());
        drop(r);
        w.join().unwrap();
        assert_eq!(l.try_read().unwrap().0, 7);
    }
}
