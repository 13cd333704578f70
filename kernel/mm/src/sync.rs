//! An interrupt-safe spin lock, the sleeping address-space lock, and the few
//! instructions mm needs.
//!
//! [`IrqSpin`] is a `lock_api::RawMutex` that disables interrupts on the local CPU while
//! it is held, so a lock that an interrupt handler may also take (the heap, the frame
//! allocator) can never deadlock against its own CPU. The previous interrupt state is
//! restored on unlock, which makes nesting work as long as guards are dropped in LIFO
//! order (they are: every mm lock is scoped).
//!
//! On the host (unit tests) the interrupt flag is not touched and the instruction shims
//! are no-ops, so all the bookkeeping above them runs unchanged.

use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
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

/// What a sleeping mm lock needs from the scheduler (the kernel registers one with
/// [`set_parker`]; without one, or where the caller cannot sleep, waiters spin).
pub trait Parker: Sync {
    /// A handle that wakes the calling thread, or `None` if it cannot sleep here
    /// (no scheduler yet, no current thread, interrupts disabled).
    fn current(&self) -> Option<Arc<dyn Unpark>>;
    /// Sleeps until `granted` is true. A wake ([`Unpark::unpark`]) issued after
    /// `granted` was set must not be lost, and spurious wakes must re-check `granted`.
    fn park(&self, granted: &AtomicBool);
}

/// The waking half of a [`Parker`] handle.
pub trait Unpark: Send + Sync {
    /// Makes the parked thread re-check its flag.
    fn unpark(self: Arc<Self>);
}

static PARKER: spin::Once<&'static dyn Parker> = spin::Once::new();

/// Registers the scheduler's parker (once, at boot).
pub fn set_parker(p: &'static dyn Parker) {
    PARKER.call_once(|| p);
}

/// A fair reader-writer semaphore: waiters sleep in one FIFO queue and the lock is
/// handed off to them in order, never taken past them.
///
/// Used for the VMA set of an address space. Holders may be preempted and may wait
/// for TLB-shootdown acknowledgements; waiters sleep instead of spinning, so neither
/// holds up a CPU. Uncontended `read`/`write` and their releases are one atomic
/// operation each. Once anyone waits (`QUEUED`), newcomers queue behind them; a release
/// that finds waiters passes ownership to the head of the queue: one writer, or every
/// reader up to the next writer. Hence a thread must never take the read side twice
/// (a writer queued in between would deadlock it).
///
/// Waiters that cannot sleep ([`Parker::current`] is `None`) queue the same way and
/// spin on their own flag.
pub struct RwSem<T> {
    /// `WRITER`, `QUEUED` and the reader count in the low bits.
    state: AtomicU32,
    queue: IrqMutex<WaitList>,
    data: UnsafeCell<T>,
}

const RW_WRITER: u32 = 1 << 31;
const RW_QUEUED: u32 = 1 << 30;

/// A waiter, on its own stack while it waits; linked into [`WaitList`].
struct Waiter {
    next: core::cell::Cell<*const Waiter>,
    write: bool,
    granted: AtomicBool,
    thread: Option<Arc<dyn Unpark>>,
}

/// The FIFO of waiters (singly linked through `Waiter::next`). Invariant, under the
/// queue lock: `head` is non-null exactly when the state has `RW_QUEUED`.
struct WaitList {
    head: *const Waiter,
    tail: *const Waiter,
}

// SAFETY: the pointers are only dereferenced under the queue lock (or, for a detached
// run being granted, by the one releaser that detached it), and every node stays alive
// until its `granted` flag is set, which its owner waits for.
unsafe impl Send for WaitList {}

// SAFETY: the lock hands out `&T` to several readers only when `T: Sync` allows it, and
// `&mut T` to one writer at a time; moving the lock moves the `T` (`T: Send`).
unsafe impl<T: Send + Sync> Sync for RwSem<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for RwSem<T> {}

impl<T> RwSem<T> {
    /// A new unlocked lock.
    pub const fn new(v: T) -> Self {
        RwSem {
            state: AtomicU32::new(0),
            queue: IrqMutex::new(WaitList {
                head: core::ptr::null(),
                tail: core::ptr::null(),
            }),
            data: UnsafeCell::new(v),
        }
    }

    /// Takes the read side, sleeping while a writer holds the lock or anyone waits.
    pub fn read(&self) -> RwReadGuard<'_, T> {
        match self.try_read() {
            Some(g) => g,
            None => {
                self.lock_slow(false);
                RwReadGuard { lock: self }
            }
        }
    }

    /// Takes the read side if no writer holds the lock and nobody waits.
    pub fn try_read(&self) -> Option<RwReadGuard<'_, T>> {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (RW_WRITER | RW_QUEUED) != 0 {
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

    /// Takes the write side, sleeping while anyone holds the lock or waits for it.
    pub fn write(&self) -> RwWriteGuard<'_, T> {
        if self
            .state
            .compare_exchange(0, RW_WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow(true);
        }
        RwWriteGuard { lock: self }
    }

    /// Exclusive access through `&mut self` (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Acquires under the queue lock if the lock is free for this kind of access and
    /// nobody waits; otherwise queues and waits until a release hands the lock over.
    #[cold]
    fn lock_slow(&self, write: bool) {
        let node = Waiter {
            next: core::cell::Cell::new(core::ptr::null()),
            write,
            granted: AtomicBool::new(false),
            thread: PARKER.get().and_then(|p| p.current()),
        };
        {
            let mut q = self.queue.lock();
            let mut s = self.state.load(Ordering::Relaxed);
            loop {
                let free = if write {
                    s == 0
                } else {
                    s & (RW_WRITER | RW_QUEUED) == 0
                };
                let want = if free {
                    s + if write { RW_WRITER } else { 1 }
                } else {
                    s | RW_QUEUED
                };
                match self.state.compare_exchange_weak(
                    s,
                    want,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) if free => return,
                    Ok(_) => break,
                    Err(now) => s = now,
                }
            }
            let me: *const Waiter = &node;
            if q.head.is_null() {
                q.head = me;
            } else {
                // SAFETY: `tail` is a live queued node (see `WaitList`), we hold the lock.
                unsafe { (*q.tail).next.set(me) };
            }
            q.tail = me;
        }
        match (&node.thread, PARKER.get()) {
            (Some(_), Some(p)) => p.park(&node.granted),
            _ => {
                while !node.granted.load(Ordering::Acquire) {
                    core::hint::spin_loop();
                }
            }
        }
        // The releaser set `granted` after its last access to `node` (Acquire pairs
        // with its Release): the node may go out of scope now.
        debug_assert!(node.granted.load(Ordering::Acquire));
    }

    /// Called by a release that found `RW_QUEUED`, when the lock is free (no reader
    /// left and no writer, or the releasing writer): hands it to the head of the queue
    /// (a writer, or the run of readers up to the next writer) and wakes them.
    #[cold]
    fn hand_off(&self) {
        let first;
        let mut last: *const Waiter;
        {
            let mut q = self.queue.lock();
            debug_assert!(!q.head.is_null(), "RW_QUEUED with an empty queue");
            first = q.head;
            // SAFETY: queued nodes are alive until granted; we hold the queue lock.
            let head = unsafe { &*first };
            let mut state = if head.write { RW_WRITER } else { 1 };
            last = first;
            if !head.write {
                loop {
                    // SAFETY: as above.
                    let next = unsafe { (*last).next.get() };
                    // SAFETY: as above (non-null nodes are queued ones).
                    if next.is_null() || unsafe { (*next).write } {
                        break;
                    }
                    last = next;
                    state += 1;
                }
            }
            // SAFETY: as above.
            q.head = unsafe { (*last).next.get() };
            if q.head.is_null() {
                q.tail = core::ptr::null();
            } else {
                state |= RW_QUEUED;
            }
            self.state.store(state, Ordering::Release);
        }
        // Grant the detached run `first..=last`: read what is needed from each node
        // before setting its flag, after which its owner may return and free it.
        let mut n = first;
        loop {
            // SAFETY: `n` is in the detached run: alive until its flag is set below,
            // and nobody else touches it.
            let node = unsafe { &*n };
            let next = node.next.get();
            let thread = node.thread.clone();
            let done = n == last;
            node.granted.store(true, Ordering::Release);
            if let Some(t) = thread {
                t.unpark();
            }
            if done {
                break;
            }
            n = next;
        }
    }

    fn read_unlock(&self) {
        let old = self.state.fetch_sub(1, Ordering::Release);
        debug_assert!(old & !(RW_QUEUED | RW_WRITER) != 0 && old & RW_WRITER == 0);
        if old == RW_QUEUED | 1 {
            // The last reader left with waiters queued; nobody can take the lock past
            // them (RW_QUEUED), so the hand-off is ours alone.
            core::sync::atomic::fence(Ordering::Acquire);
            self.hand_off();
        }
    }

    fn write_unlock(&self) {
        if self
            .state
            .compare_exchange(RW_WRITER, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            // RW_WRITER | RW_QUEUED: hand the lock to the waiters.
            self.hand_off();
        }
    }

    /// How many waiters are queued (tests).
    #[cfg(test)]
    fn queued(&self) -> usize {
        let q = self.queue.lock();
        let (mut n, mut p) = (0, q.head);
        while !p.is_null() {
            n += 1;
            // SAFETY: queued nodes are alive until granted; we hold the queue lock.
            p = unsafe { (*p).next.get() };
        }
        n
    }

    /// Whether anyone holds or waits for the lock (diagnostics, tests).
    pub fn is_busy(&self) -> bool {
        self.state.load(Ordering::Relaxed) != 0
    }
}

/// Read guard of a [`RwSem`].
pub struct RwReadGuard<'a, T> {
    lock: &'a RwSem<T>,
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
        self.lock.read_unlock();
    }
}

/// Write guard of a [`RwSem`].
pub struct RwWriteGuard<'a, T> {
    lock: &'a RwSem<T>,
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
        self.lock.write_unlock();
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

    struct StdThread(std::thread::Thread);
    impl Unpark for StdThread {
        fn unpark(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    struct StdParker;
    impl Parker for StdParker {
        fn current(&self) -> Option<Arc<dyn Unpark>> {
            Some(Arc::new(StdThread(std::thread::current())))
        }
        fn park(&self, granted: &AtomicBool) {
            while !granted.load(Ordering::Acquire) {
                std::thread::park();
            }
        }
    }
    static STD_PARKER: StdParker = StdParker;

    fn wait_queued(l: &RwSem<impl Sized>, want: usize) {
        while l.queued() != want {
            std::thread::yield_now();
        }
    }

    #[test]
    fn rwsem_excludes() {
        set_parker(&STD_PARKER);
        let l = Arc::new(RwSem::new((0u64, 0u64)));
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        if (i + t) % 4 == 0 {
                            let mut g = l.write();
                            g.0 += 1;
                            std::hint::spin_loop();
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
        assert_eq!(l.read().0, 30_000);
        assert!(
            !l.is_busy(),
            "state left {:#x}",
            l.state.load(Ordering::Relaxed)
        );
    }

    /// Waiters are served in arrival order, and newcomers queue behind them: a reader
    /// arriving while a writer waits does not get in before that writer.
    #[test]
    fn rwsem_hands_off_in_order() {
        set_parker(&STD_PARKER);
        let l = Arc::new(RwSem::new(Vec::<u32>::new()));
        let r = l.read();
        let l2 = l.clone();
        let w = std::thread::spawn(move || l2.write().push(1));
        wait_queued(&l, 1);
        assert_eq!(l.state.load(Ordering::Relaxed), 1 | RW_QUEUED);
        assert!(l.try_read().is_none(), "a reader got past a queued writer");
        let l3 = l.clone();
        let r2 = std::thread::spawn(move || {
            let g = l3.read();
            assert_eq!(*g, [1], "the queued reader ran before the writer");
        });
        wait_queued(&l, 2);
        let l4 = l.clone();
        let w2 = std::thread::spawn(move || l4.write().push(2));
        wait_queued(&l, 3);
        drop(r);
        w.join().unwrap();
        r2.join().unwrap();
        w2.join().unwrap();
        let v = l.read().clone();
        assert!(v == [1, 2], "writes out of order: {v:?}");
        assert!(!l.is_busy());
    }

    /// A run of queued readers is admitted together when a writer releases.
    #[test]
    fn rwsem_admits_reader_run() {
        set_parker(&STD_PARKER);
        let l = Arc::new(RwSem::new(0u32));
        let w = l.write();
        let inside = Arc::new(core::sync::atomic::AtomicUsize::new(0));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (l, inside) = (l.clone(), inside.clone());
                std::thread::spawn(move || {
                    let g = l.read();
                    // Every reader holds the lock at once before any lets go.
                    inside.fetch_add(1, Ordering::SeqCst);
                    while inside.load(Ordering::SeqCst) < 4 {
                        std::thread::yield_now();
                    }
                    *g
                })
            })
            .collect();
        wait_queued(&l, 4);
        assert_eq!(l.state.load(Ordering::Relaxed), RW_WRITER | RW_QUEUED);
        drop(w);
        for r in readers {
            assert_eq!(r.join().unwrap(), 0);
        }
        assert!(!l.is_busy());
    }
}
