//! TLB shootdown for user address spaces: the kernel's IPI hook and the local flush.
//!
//! mm changes page tables, then shoots down once per operation (or per batch of
//! [`GATHER_FRAMES`](super::GATHER_FRAMES) pages of a big `munmap`), never per page: it
//! flushes the local CPU itself (if it has the address space loaded) and hands the other
//! CPUs of the address space's CPU mask to the hook set with [`set_shootdown_hook`].

use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::layout::PAGE_SIZE;
use crate::sync::hw;

/// Above this many pages a flush reloads CR3 instead of `invlpg`-ing each page.
pub const FULL_FLUSH_PAGES: u64 = 32;

static HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
static LOCAL: AtomicU64 = AtomicU64::new(0);
static REMOTE: AtomicU64 = AtomicU64::new(0);

/// Sets the remote shootdown: `hook(cpu_mask, root, start, end)` must make every CPU in
/// `cpu_mask` whose CR3 holds `root` drop its TLB entries for `[start, end)` (user pages,
/// never global: `invlpg` per page, or a CR3 reload above [`FULL_FLUSH_PAGES`]), and
/// return only when all have done so. A CPU whose CR3 is no longer `root` may just
/// acknowledge (its CR3 switch flushed everything). The mask never contains the calling
/// CPU, unless the caller was migrated between reading the mask and the call (possible
/// only with a preemptible kernel): then the hook flushes locally for that bit.
///
/// It is called with the address space's VMA lock held (read or write side) and no mm
/// spin lock held, normally with interrupts enabled; while waiting for acknowledgements
/// it must keep serving shootdown requests aimed at its own CPU (or wait with interrupts
/// enabled), because two CPUs may shoot at each other at the same time.
pub fn set_shootdown_hook(f: fn(u64, u64, u64, u64)) {
    HOOK.store(f as *mut (), Ordering::Release);
}

/// Flushes `[start, end)` (non-global entries) on this CPU.
pub(crate) fn flush_local(start: u64, end: u64) {
    LOCAL.fetch_add(1, Ordering::Relaxed);
    if end.saturating_sub(start) / PAGE_SIZE > FULL_FLUSH_PAGES {
        hw::flush_tlb_nonglobal();
    } else {
        let mut a = start & !(PAGE_SIZE - 1);
        while a < end {
            hw::invlpg(a);
            a += PAGE_SIZE;
        }
    }
}

/// Asks the hook to flush `[start, end)` of `root` on the CPUs in `mask`.
pub(crate) fn flush_remote(mask: u64, root: u64, start: u64, end: u64) {
    REMOTE.fetch_add(1, Ordering::Relaxed);
    let p = HOOK.load(Ordering::Acquire);
    if p.is_null() {
        panic!("mm: TLB shootdown to CPUs {mask:#x} needed, but no shootdown hook is set");
    }
    // SAFETY: HOOK only ever holds null or a `fn(u64, u64, u64, u64)` stored by
    // `set_shootdown_hook`; function and data pointers share a representation here.
    let f = unsafe { core::mem::transmute::<*mut (), fn(u64, u64, u64, u64)>(p) };
    f(mask, root, start, end);
}

/// Counters: (local flushes, remote shootdowns handed to the hook) so far.
pub fn shootdown_counts() -> (u64, u64) {
    (
        LOCAL.load(Ordering::Relaxed),
        REMOTE.load(Ordering::Relaxed),
    )
}
