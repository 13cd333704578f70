//! User address spaces: per-process page tables with VMAs, demand-zero and
//! copy-on-write memory, shared anonymous memory, the `mmap` family, TLB shootdown, and
//! kernel access to user memory with fault recovery.
//!
//! # Pieces
//! - [`AddressSpace`] ([`aspace`]): a PML4 sharing the kernel half, a [`VmaSet`] behind a
//!   reader-writer lock, a page-table lock, the mask of CPUs that have it loaded, and the
//!   operations (`mmap`, `munmap`, `mprotect`, `brk`, `madvise`, `fork_cow`, the page-fault
//!   handler, ELF-loading helpers). Threads share one through an `Arc`.
//! - [`vma`]: the VMA set (pure, host-tested).
//! - [`SharedAnon`] ([`shared`]): the frames of a `MAP_SHARED | MAP_ANONYMOUS` mapping,
//!   shared by every mapping of it, also across `fork`.
//! - [`uaccess`]: `copy_from_user` and friends, the exception table and [`fixup_for`].
//! - [`tlb`]: the shootdown hook.
//! - Frame reference counts live in the frame allocator ([`crate::frame`]).
//!
//! # User layout
//! Mappings live in `[MMAP_MIN_ADDR, USER_END)`; `USER_END` is one page below the end of
//! the canonical lower half (as on Linux, so `sysret` never returns to a non-canonical
//! address). `mmap` without a usable hint searches top-down below the mmap base
//! ([`DEFAULT_MMAP_BASE`], settable), then bottom-up. The kernel chooses the stack
//! ([`AddressSpace::setup_stack`], e.g. at [`STACK_TOP`]) and the break start
//! ([`AddressSpace::set_brk_base`]).
//!
//! # The kernel's protocol
//! **Context switch.** With interrupts disabled, switching from thread A (address space
//! `a`, or none) to thread B (`b`, or none) on CPU `c`:
//! if `a` and `b` are the same, nothing; otherwise `b.activate(c)` (sets `c`'s bit in
//! `b`'s CPU mask, then loads CR3), or load the kernel page table if B has none, and then
//! `a.deactivate(c)` (clears the bit; CR3 has already changed). [`switch_address_space`]
//! does exactly this. The kernel must keep an `Arc` of the address space each CPU has
//! loaded until it deactivates it (dropping an address space still loaded somewhere
//! panics). A kernel that keeps the old address space loaded while running kernel
//! threads ("lazy TLB") simply does not deactivate: the CPU then keeps receiving its
//! shootdowns, which is correct.
//!
//! **Shootdown hook.** [`set_shootdown_hook`]`(f)` with `f(cpu_mask, root, start, end)`
//! that flushes `[start, end)` on every CPU in the mask (whose CR3 still holds `root`)
//! and returns when all acknowledged; it is called with interrupts enabled and the VMA
//! lock held, and must keep serving requests for its own CPU while waiting. mm flushes
//! the local CPU itself and never includes it in the mask (see [`tlb`] for the
//! preemption corner). One shootdown per operation (per [`GATHER_FRAMES`] pages for
//! huge unmaps); frames and page tables are freed only after it returns. The kernel's
//! IPI handler flushes with `invlpg` per page, or reloads CR3 above [`FULL_FLUSH_PAGES`].
//!
//! **Page faults** (#PF handler):
//! 1. Read CR2 first (before anything can fault or interrupts are enabled).
//! 2. User mode (`cs & 3 == 3`): enable interrupts, call
//!    `current.handle_fault(cr2, error_code)`; `Ok` → return (retry the instruction);
//!    `Err(e)` → SIGSEGV with `si_code = e.si_code()`, `si_addr = cr2`
//!    (`OutOfMemory`: the kernel's choice, e.g. SIGKILL). Disable interrupts again before
//!    returning.
//! 3. Kernel mode: `uaccess_fixup(rip)`. `None` → a kernel bug (guard-page check, panic).
//!    `Some(fx)`: if `fx.may_resolve` and `cr2 < USER_LIMIT` and there is a current address
//!    space, enable interrupts if the interrupted context had them enabled (`rflags.IF`),
//!    call `handle_fault(cr2, error_code)`, disable interrupts again, and return on `Ok`
//!    (the access is retried). Otherwise (or on `Err`) set `rip = fx.resume` and return;
//!    the routine reports `EFAULT`. A #GP inside a routine (not expected: ranges are
//!    checked before the access) can use [`fixup_for`] the same way.
//!
//! **Futexes**: private keys are `(AddressSpace::id(), addr)`; for a shared key (no
//! `FUTEX_PRIVATE_FLAG` and [`AddressSpace::is_shared_mapping`]) use
//! [`AddressSpace::translate_user`] → `(frame, offset)`. The futex `UserMem` word
//! accessors map to [`uaccess::nofault`], `fault_in` to [`AddressSpace::fault_in`].
//!
//! **Kernel writes honour protection.** A write on a program's behalf uses the
//! user-access routines (current address space) or
//! [`AddressSpace::write_user_bytes`] (any address space): both fail with `EFAULT`
//! where a user-mode write would fault, and never break copy-on-write sharing of a
//! read-only VMA. [`AddressSpace::write_bytes`] / `zero_bytes` / `map_bytes` ignore
//! the protection and are only for filling a fresh address space (the ELF loader,
//! `execve`'s stack).
//!
//! **SMAP**: the user-access wrappers bracket each routine with `stac`/`clac` when
//! `weft_arch::cpu::smap_enabled()`. An interrupt taken inside keeps `EFLAGS.AC`; `iretq`
//! restores it, so correctness does not depend on it, but for hardening the trap entry
//! should `clac` (SMAP CPUs only) so handlers, and threads switched to from them, do not
//! run with AC set.
//!
//! # Lock order
//! VMA lock ([`RwSem`](crate::sync::RwSem): waiters sleep, interrupts untouched; read
//! side for faults, `fault_in`, `translate_user`, kernel byte access and the futex key
//! of address spaces with shared mappings; write side for everything that changes VMAs,
//! `madvise(DONTNEED)` and `fork`) → shared-object slots (lock-free) → page-table lock
//! (`IrqMutex`, interrupts off, never held across a shootdown or a frame copy) → frame
//! allocator / heap. The shootdown hook is called with the VMA lock held and no spin
//! lock held, with interrupts as the caller had them (enabled, except in the
//! interrupts-off fault path, which never needs a remote shootdown). `fork` takes the
//! parent's then the child's locks (the child is not visible to anyone yet). Never call
//! a user-access routine while holding an mm lock; never take the VMA lock twice on one
//! thread.
//!
//! # Accounting
//! [`user_frames`] counts frames holding user data (private and shared), [`user_tables`]
//! user page-table frames (PML4s included) and shared-object directory frames. Both are
//! exact and return to zero when every address space and shared object is gone; the frame
//! allocator's free count then returns to its starting value too.

pub mod aspace;
pub mod selftest;
pub mod shared;
pub mod tlb;
pub mod uaccess;
pub mod vma;

use core::sync::atomic::{AtomicU64, Ordering};

pub use aspace::{AddressSpace, AsStats, FaultError, GATHER_FRAMES, pf};
pub use selftest::selftest;
pub use shared::SharedAnon;
pub use tlb::{FULL_FLUSH_PAGES, set_shootdown_hook, shootdown_counts};
pub use uaccess::{
    Efault, UaccessFixup, atomic_user_u32, clear_user, cmpxchg_user_u32, copy_from_user,
    copy_to_user, fixup_for, nofault, read_user_cstr, read_user_u32, read_user_u64, uaccess_fixup,
    user_range_ok, write_user_u32, write_user_u64,
};
pub use vma::{Access, Backing, Vma, VmaSet};

use crate::layout::PAGE_SIZE;
use crate::sync::RwSem;

/// End of the user half: user-access ranges must end at or below it.
pub const USER_LIMIT: u64 = 0x0000_8000_0000_0000;
/// End of the area mappings may use (one page below [`USER_LIMIT`]).
pub const USER_END: u64 = USER_LIMIT - PAGE_SIZE;
/// Lowest address a mapping may use (Linux's default `mmap_min_addr`).
pub const MMAP_MIN_ADDR: u64 = 0x1_0000;
/// Default top of the `mmap` search area.
pub const DEFAULT_MMAP_BASE: u64 = 0x7fff_0000_0000;
/// A conventional stack top for [`AddressSpace::setup_stack`].
pub const STACK_TOP: u64 = USER_END;
/// The `PROT_NONE` gap [`AddressSpace::setup_stack`] puts below a stack.
pub const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;
/// Default limit on the number of VMAs of an address space (Linux's `max_map_count`).
pub const MAX_MAP_COUNT: usize = 65530;

pub(crate) static USER_FRAMES: AtomicU64 = AtomicU64::new(0);
pub(crate) static USER_TABLES: AtomicU64 = AtomicU64::new(0);

/// Frames holding user data (private and shared anonymous pages).
pub fn user_frames() -> u64 {
    USER_FRAMES.load(Ordering::Relaxed)
}

/// Frames of user page tables (PML4s included) and shared-object directories.
pub fn user_tables() -> u64 {
    USER_TABLES.load(Ordering::Relaxed)
}

/// The context-switch step for address spaces on CPU `cpu` (the calling CPU, interrupts
/// disabled): nothing if `prev` and `next` are the same; else activate `next` (or load
/// the kernel page table for `None`), then deactivate `prev`.
pub fn switch_address_space(prev: Option<&AddressSpace>, next: Option<&AddressSpace>, cpu: usize) {
    if let (Some(p), Some(n)) = (prev, next)
        && core::ptr::eq(p, n)
    {
        return;
    }
    match next {
        Some(n) => n.activate(cpu),
        None => {
            let root = crate::kernel_page_table_phys();
            if root != 0 {
                // SAFETY: the kernel page table maps the whole kernel half, which is all
                // the kernel uses; mm is initialised (root != 0).
                unsafe { crate::sync::hw::write_cr3(root) };
            }
        }
    }
    if let Some(p) = prev {
        p.deactivate(cpu);
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn ok<T: Send + Sync>() {}
    ok::<AddressSpace>();
    ok::<RwSem<u64>>();
}

#[cfg(test)]
pub(crate) mod tests;
