//! Guarded kernel stacks.
//!
//! Stacks live in the stack region ([`STACK_BASE`], 512 GiB). Each takes `pages + 1`
//! pages of address space from a [`VRangeAllocator`]: the lowest page is the guard, left
//! unmapped but marked with [`GUARD_PTE`] so the page-fault handler can recognise it
//! without a lock ([`is_guard_page`]); the stack pages above it are mapped RW, NX,
//! global, backed by individually allocated zeroed frames. Ranges are packed, so the page
//! above a stack's top is the next stack's guard or unmapped space: overruns in either
//! direction fault.
//!
//! Dropping a [`KernelStack`] unmaps it in chunks; after each chunk the local TLB is
//! flushed and the TLB hook is called (for the SMP shootdown), and only then are the
//! chunk's frames freed. The address range is returned last.

use crate::layout::{PAGE_SIZE, STACK_BASE, STACK_SIZE};
use crate::paging::{GUARD_PTE, MapError, pte};
use crate::sync::IrqMutex;
use crate::vrange::VRangeAllocator;
use crate::{FRAMES, KERNEL, flush_kernel_range, kernel_tables_lockfree};

/// Largest stack [`alloc_kernel_stack`] hands out, in pages (4 MiB).
pub const MAX_STACK_PAGES: usize = 1024;
/// Bytes at the start of the stack region whose page tables `init` creates up front
/// (about 60 16-page stacks), so early stack allocations do not consume table frames.
pub(crate) const STACK_PREMAPPED_TABLES: u64 = 4 << 20;
/// Pages unmapped per TLB flush when a stack is freed.
const RELEASE_CHUNK: usize = 32;

static STACKS: IrqMutex<VRangeAllocator> = IrqMutex::new(VRangeAllocator::new(
    STACK_BASE,
    STACK_BASE + STACK_SIZE,
    PAGE_SIZE,
));

/// A mapped kernel stack with an unmapped guard page below it. Dropping it unmaps the
/// pages and frees the frames.
#[derive(Debug)]
pub struct KernelStack {
    bottom: u64,
    pages: usize,
}

impl KernelStack {
    /// One past the highest stack byte (16-byte aligned): the initial stack pointer.
    pub fn top(&self) -> u64 {
        self.bottom + self.pages as u64 * PAGE_SIZE
    }

    /// Lowest mapped stack address.
    pub fn bottom(&self) -> u64 {
        self.bottom
    }

    /// The guard page `[start, end)` directly below [`KernelStack::bottom`].
    pub fn guard_range(&self) -> (u64, u64) {
        (self.bottom - PAGE_SIZE, self.bottom)
    }

    /// Number of mapped pages.
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// Mapped size in bytes.
    pub fn size(&self) -> u64 {
        self.pages as u64 * PAGE_SIZE
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        if self.pages == CACHED_STACK_PAGES {
            let mut cache = CACHE.lock();
            if cache.len() < CACHE_CAP {
                // Keep the mapping: the next stack of this size reuses it without
                // mapping, zeroing, unmapping or a TLB shootdown.
                cache.push(self.bottom);
                return;
            }
        }
        release(self.bottom - PAGE_SIZE, self.pages, self.pages);
    }
}

/// Stacks of this many pages (thread kernel stacks) are recycled through a cache.
pub const CACHED_STACK_PAGES: usize = 8;
/// Most stacks kept mapped in the cache.
const CACHE_CAP: usize = 256;

/// Bottoms of mapped, unused stacks of `CACHED_STACK_PAGES` pages.
static CACHE: IrqMutex<alloc::vec::Vec<u64>> = IrqMutex::new(alloc::vec::Vec::new());

/// Number of stacks kept in the cache (their frames count as used).
pub fn cached_stacks() -> usize {
    CACHE.lock().len()
}

/// Allocates a kernel stack of `pages` mapped pages (1..=[`MAX_STACK_PAGES`]) with a
/// guard page below. `None` if out of memory or address space.
pub fn alloc_kernel_stack(pages: usize) -> Option<KernelStack> {
    if pages == CACHED_STACK_PAGES
        && let Some(bottom) = CACHE.lock().pop()
    {
        return Some(KernelStack { bottom, pages });
    }
    if pages == 0 || pages > MAX_STACK_PAGES || kernel_tables_lockfree().root() == 0 {
        return None;
    }
    let base = STACKS.lock().alloc((pages as u64 + 1) * PAGE_SIZE)?;
    let bottom = base + PAGE_SIZE;
    let mut mapped = 0;
    let result = (|| -> Result<(), MapError> {
        {
            let mut k = KERNEL.lock();
            let k = &mut *k;
            k.pt.set_leaf(base, GUARD_PTE, pte::KERNEL_TABLE, &FRAMES, &mut k.tables)?;
        }
        for i in 0..pages {
            let frame = FRAMES.alloc().ok_or(MapError::OutOfFrames)?;
            let flags = pte::WRITABLE | pte::NO_EXECUTE | pte::GLOBAL;
            let v = bottom + i as u64 * PAGE_SIZE;
            let res = {
                let mut guard = KERNEL.lock();
                let k = &mut *guard;
                k.pt.map(v, frame, flags, pte::KERNEL_TABLE, &FRAMES, &mut k.tables)
            };
            if let Err(e) = res {
                FRAMES.free(frame, 1);
                return Err(e);
            }
            mapped += 1;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Some(KernelStack { bottom, pages }),
        Err(_) => {
            release(base, pages, mapped);
            None
        }
    }
}

/// Unmaps the first `mapped` of `pages` stack pages above the guard at `base`, flushes,
/// frees their frames, clears the guard marker and returns the address range.
fn release(base: u64, pages: usize, mapped: usize) {
    let bottom = base + PAGE_SIZE;
    let mut done = 0;
    while done < mapped {
        let n = (mapped - done).min(RELEASE_CHUNK);
        let start = bottom + done as u64 * PAGE_SIZE;
        let end = start + n as u64 * PAGE_SIZE;
        let mut frames = [0u64; RELEASE_CHUNK];
        let mut count = 0;
        {
            let mut k = KERNEL.lock();
            for v in (start..end).step_by(PAGE_SIZE as usize) {
                if let Some(p) = k.pt.unmap(v) {
                    frames[count] = p;
                    count += 1;
                }
            }
        }
        flush_kernel_range(start, end);
        if let Err(e) = FRAMES.free_batch(&frames[..count]) {
            panic!("kernel stack at {bottom:#x}: freeing its frames failed: {e}");
        }
        done += n;
    }
    {
        let mut k = KERNEL.lock();
        let k = &mut *k;
        // The guard's page table exists (the marker was written through it), so this
        // cannot allocate or fail; a non-present entry needs no TLB flush.
        let _ =
            k.pt.set_leaf(base, 0, pte::KERNEL_TABLE, &FRAMES, &mut k.tables);
    }
    if let Err(e) = STACKS.lock().free(base, (pages as u64 + 1) * PAGE_SIZE) {
        panic!("kernel stack at {bottom:#x}: returning its address range failed: {e:?}");
    }
}

/// True if `addr` lies in the guard page of a live kernel stack. Takes no lock and never
/// faults, so the page-fault handler can call it to report a kernel stack overflow.
pub fn is_guard_page(addr: u64) -> bool {
    if !(STACK_BASE..STACK_BASE + STACK_SIZE).contains(&addr) {
        return false;
    }
    kernel_tables_lockfree().leaf_entry(addr & !(PAGE_SIZE - 1)) == Some(GUARD_PTE)
}

/// Bytes of stack address space in use (stacks plus guards).
pub fn stack_space_used() -> u64 {
    STACKS.lock().used()
}

// SAFETY: `top()` is the 16-byte-aligned top of this stack's mapped, writable pages,
// which belong to this `KernelStack` alone until it is dropped (which unmaps them).
unsafe impl weft_arch::context::StackMemory for KernelStack {
    fn top(&self) -> u64 {
        KernelStack::top(self)
    }
}
