//! Shared anonymous memory objects (`MAP_SHARED | MAP_ANONYMOUS`).
//!
//! A [`SharedAnon`] owns the frames of one shared mapping, by page index. Every VMA that
//! maps it (the original, the pieces left by `munmap`/`mprotect` splits, and the copies
//! in `fork` children) holds an `Arc` to it; page-table entries that map its frames carry
//! [`pte::SW_SHARED`](crate::paging::pte::SW_SHARED) and take no per-mapping reference.
//! The frames are freed when the last `Arc` goes, which the address space arranges to
//! happen only after every entry mapping them is gone and shot down.
//!
//! Lookup is lock-free: a directory (one `AtomicU64` per 512 pages, heap-allocated when
//! the object is created) points at leaf frames of 512 `AtomicU64` page slots, both filled
//! in on first touch with a compare-and-swap; a loser of the race frees its frame. No heap
//! allocation happens on the fault path.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use weft_abi::errno::Errno;

use super::{USER_FRAMES, USER_TABLES};
use crate::layout::PAGE_SIZE;
use crate::{FRAMES, phys_to_virt};

const SLOTS: u64 = PAGE_SIZE / 8;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The frames of one shared anonymous mapping.
pub struct SharedAnon {
    id: u64,
    pages: u64,
    /// Physical address of the leaf frame for pages `[i * 512, (i + 1) * 512)`, or 0.
    dir: Vec<AtomicU64>,
}

impl SharedAnon {
    /// An object of `pages` pages, none of them allocated yet. `ENOMEM` if the directory
    /// cannot be allocated.
    pub fn new(pages: u64) -> Result<Arc<SharedAnon>, Errno> {
        let n = pages.div_ceil(SLOTS) as usize;
        let mut dir = Vec::new();
        dir.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
        dir.resize_with(n, || AtomicU64::new(0));
        Ok(Arc::new(SharedAnon {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            pages,
            dir,
        }))
    }

    /// A number identifying the object (for debugging output).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Size in pages.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    fn slot(leaf: u64, i: u64) -> &'static AtomicU64 {
        debug_assert!(i < SLOTS);
        // SAFETY: `leaf` is a leaf frame owned by a live object (it is freed only in `Drop`,
        // and callers hold `&self`), mapped through the HHDM; its slots are aligned u64s
        // only ever accessed atomically.
        unsafe { AtomicU64::from_ptr(phys_to_virt(leaf + 8 * i) as *mut u64) }
    }

    fn leaf(&self, idx: u64, create: bool) -> Option<u64> {
        let d = self.dir.get((idx / SLOTS) as usize)?;
        let leaf = d.load(Ordering::Acquire);
        if leaf != 0 || !create {
            return (leaf != 0).then_some(leaf);
        }
        let new = FRAMES.alloc()?;
        match d.compare_exchange(0, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                USER_TABLES.fetch_add(1, Ordering::Relaxed);
                Some(new)
            }
            Err(other) => {
                FRAMES.free(new, 1);
                Some(other)
            }
        }
    }

    /// The frame of page `idx`, if it has one.
    pub fn frame(&self, idx: u64) -> Option<u64> {
        let leaf = self.leaf(idx, false)?;
        let f = Self::slot(leaf, idx % SLOTS).load(Ordering::Acquire);
        (f != 0).then_some(f)
    }

    /// The frame of page `idx`, allocating a zeroed one on first use. `None` if `idx` is
    /// out of range or memory ran out.
    pub fn get_or_create(&self, idx: u64) -> Option<u64> {
        if idx >= self.pages {
            return None;
        }
        let slot = Self::slot(self.leaf(idx, true)?, idx % SLOTS);
        let f = slot.load(Ordering::Acquire);
        if f != 0 {
            return Some(f);
        }
        let new = FRAMES.alloc()?;
        match slot.compare_exchange(0, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                USER_FRAMES.fetch_add(1, Ordering::Relaxed);
                Some(new)
            }
            Err(other) => {
                FRAMES.free(new, 1);
                Some(other)
            }
        }
    }

    /// Number of pages that have a frame.
    pub fn resident(&self) -> u64 {
        (0..self.pages).filter(|&i| self.frame(i).is_some()).count() as u64
    }
}

impl Drop for SharedAnon {
    fn drop(&mut self) {
        let mut freed = 0;
        for d in &self.dir {
            let leaf = d.load(Ordering::Acquire);
            if leaf == 0 {
                continue;
            }
            for i in 0..SLOTS {
                let f = Self::slot(leaf, i).load(Ordering::Acquire);
                if f != 0 {
                    FRAMES.free(f, 1);
                    freed += 1;
                }
            }
            FRAMES.free(leaf, 1);
            USER_TABLES.fetch_sub(1, Ordering::Relaxed);
        }
        USER_FRAMES.fetch_sub(freed, Ordering::Relaxed);
    }
}
