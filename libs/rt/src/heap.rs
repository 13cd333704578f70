//! The global allocator: size classes over `mmap`.
//!
//! Requests of up to [`MAX_SMALL`] bytes (after rounding up to their alignment)
//! come from eight power-of-two size classes, 16 to 2048 bytes. Each class keeps an
//! intrusive free list and refills it by mapping a 64 KiB chunk and cutting it into
//! blocks, so every block is aligned to its own size. Freed small blocks go back to
//! their list (memory is not returned to the kernel). Larger requests get their own
//! anonymous mapping (page-rounded, over-mapped and trimmed when the alignment is
//! above a page) and are unmapped on free.
//!
//! One futex [`RawMutex`] protects the lists. [`crate::process::fork`] holds it
//! across the `fork` so that the child never inherits it locked by a thread that
//! does not exist there.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::null_mut;

use weft_abi::mman::PAGE_SIZE;

use crate::sync::RawMutex;
use crate::sys;

const PAGE: usize = PAGE_SIZE as usize;
const MIN_SHIFT: usize = 4;
const CLASSES: usize = 8;
/// Largest request served from a size class.
pub const MAX_SMALL: usize = 1 << (MIN_SHIFT + CLASSES - 1);
const CHUNK: usize = 64 * 1024;

struct FreeBlock {
    next: *mut FreeBlock,
}

struct Lists {
    heads: [*mut FreeBlock; CLASSES],
}

/// The allocator (installed as `#[global_allocator]` by this crate).
pub struct Heap {
    lock: RawMutex,
    lists: UnsafeCell<Lists>,
}

// SAFETY: the lists are only touched with the lock held.
unsafe impl Sync for Heap {}

#[global_allocator]
static HEAP: Heap = Heap {
    lock: RawMutex::new(),
    lists: UnsafeCell::new(Lists {
        heads: [null_mut(); CLASSES],
    }),
};

/// The class of a small request, `None` for a large one.
fn class_of(layout: &Layout) -> Option<usize> {
    let size = layout.size().max(layout.align()).max(1 << MIN_SHIFT);
    if size > MAX_SMALL {
        return None;
    }
    let bits = usize::BITS - (size - 1).leading_zeros();
    Some(bits as usize - MIN_SHIFT)
}

fn round_up(n: usize, a: usize) -> Option<usize> {
    Some(n.checked_add(a - 1)? & !(a - 1))
}

impl Heap {
    /// # Safety
    /// The lock must be held.
    unsafe fn refill(&self, class: usize) -> bool {
        let size = 1usize << (class + MIN_SHIFT);
        let Ok(chunk) = sys::mmap_anon(CHUNK) else {
            return false;
        };
        // SAFETY: the lock is held; the chunk is fresh, writable and CHUNK bytes.
        unsafe {
            let lists = &mut *self.lists.get();
            let mut off = CHUNK;
            while off >= size {
                off -= size;
                let b = chunk.add(off) as *mut FreeBlock;
                (*b).next = lists.heads[class];
                lists.heads[class] = b;
            }
        }
        true
    }

    unsafe fn alloc_large(&self, layout: Layout) -> *mut u8 {
        let Some(len) = round_up(layout.size().max(1), PAGE) else {
            return null_mut();
        };
        if layout.align() <= PAGE {
            return sys::mmap_anon(len).unwrap_or(null_mut());
        }
        let Some(total) = len.checked_add(layout.align()) else {
            return null_mut();
        };
        let Ok(p) = sys::mmap_anon(total) else {
            return null_mut();
        };
        let start = p as usize;
        let aligned = (start + layout.align() - 1) & !(layout.align() - 1);
        // SAFETY: both trimmed ranges are parts of the fresh mapping that are never
        // handed out.
        unsafe {
            if aligned > start {
                let _ = sys::munmap(p, aligned - start);
            }
            let end = aligned + len;
            if start + total > end {
                let _ = sys::munmap(end as *mut u8, start + total - end);
            }
        }
        aligned as *mut u8
    }

    /// Takes the lock for `fork` (see the module docs).
    pub(crate) fn lock_for_fork() {
        HEAP.lock.lock();
    }

    /// Releases the lock after `fork`, in parent and child alike.
    pub(crate) fn unlock_after_fork() {
        // SAFETY: lock_for_fork took it in this thread (the child's copy is held by
        // its only thread, the one that forked).
        unsafe { HEAP.lock.unlock() };
    }
}

// SAFETY: blocks are handed out once until freed; class blocks are aligned to their
// size, which is at least the requested alignment; large blocks are page-aligned
// (or aligned explicitly).
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(&layout) else {
            // SAFETY: a fresh mapping.
            return unsafe { self.alloc_large(layout) };
        };
        self.lock.lock();
        // SAFETY: the lock is held.
        let p = unsafe {
            let lists = &mut *self.lists.get();
            if lists.heads[class].is_null() && !self.refill(class) {
                null_mut()
            } else {
                let b = lists.heads[class];
                lists.heads[class] = (*b).next;
                b as *mut u8
            }
        };
        // SAFETY: taken above.
        unsafe { self.lock.unlock() };
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match class_of(&layout) {
            None => {
                let len = round_up(layout.size().max(1), PAGE).unwrap_or(0);
                // SAFETY: a large block is exactly its own mapping of len bytes.
                let _ = unsafe { sys::munmap(ptr, len) };
            }
            Some(class) => {
                self.lock.lock();
                // SAFETY: the lock is held; ptr is a block of this class.
                unsafe {
                    let lists = &mut *self.lists.get();
                    let b = ptr as *mut FreeBlock;
                    (*b).next = lists.heads[class];
                    lists.heads[class] = b;
                    self.lock.unlock();
                }
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's layout is valid; new_size keeps its alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let same = match (class_of(&layout), class_of(&new_layout)) {
            (Some(a), Some(b)) => a == b,
            (None, None) => round_up(layout.size().max(1), PAGE) == round_up(new_size.max(1), PAGE),
            _ => false,
        };
        if same {
            return ptr;
        }
        // SAFETY: GlobalAlloc contract.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}
