//! 4-level page tables, reached through the HHDM.
//!
//! [`PageTables`] edits and walks a hierarchy given its root's physical address. Every
//! entry is read and written as an `AtomicU64` (relaxed), so a lock-free walk (the
//! page-fault handler's [`PageTables::leaf_entry`], `virt_to_phys`) racing with an
//! update sees either the old or the new entry, never a torn one. Writers serialise on
//! the owner's lock (the kernel page table lives in an `IrqMutex` in the crate root).
//!
//! Invariant for the kernel half: intermediate tables are never freed, so a lock-free
//! walk never reads a recycled frame.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::frame::FrameAllocator;
use crate::layout::{PAGE_SIZE, is_canonical, table_index};

/// Page table entry bits.
pub mod pte {
    /// The entry maps something.
    pub const PRESENT: u64 = 1 << 0;
    /// Writes allowed.
    pub const WRITABLE: u64 = 1 << 1;
    /// User-mode access allowed.
    pub const USER: u64 = 1 << 2;
    /// Write-through (PAT index bit 0).
    pub const WRITE_THROUGH: u64 = 1 << 3;
    /// Cache disable (PAT index bit 1).
    pub const NO_CACHE: u64 = 1 << 4;
    /// Set by the CPU on access.
    pub const ACCESSED: u64 = 1 << 5;
    /// Set by the CPU on write.
    pub const DIRTY: u64 = 1 << 6;
    /// Large page (in a PDPT or PD entry).
    pub const HUGE: u64 = 1 << 7;
    /// Global translation (survives CR3 reloads once CR4.PGE is on).
    pub const GLOBAL: u64 = 1 << 8;
    /// No instruction fetch (needs EFER.NXE).
    pub const NO_EXECUTE: u64 = 1 << 63;
    /// Physical address bits of a table or 4 KiB page.
    pub const ADDR: u64 = 0x000f_ffff_ffff_f000;
    /// Flags for kernel intermediate tables: writable, supervisor, executable (leaves decide).
    pub const KERNEL_TABLE: u64 = PRESENT | WRITABLE;
    /// Flags for user intermediate tables: writable, user, executable (leaves decide).
    pub const USER_TABLE: u64 = PRESENT | WRITABLE | USER;
    /// Software bit (ignored by the CPU) in user leaves: the frame belongs to a shared
    /// anonymous object, not to this mapping (it is not reference counted per mapping).
    pub const SW_SHARED: u64 = 1 << 9;
    /// Software bit in non-present user leaves: the page has a frame (kept in the address
    /// bits) but is inaccessible (`PROT_NONE`).
    pub const SW_PROTNONE: u64 = 1 << 10;
}

/// A non-present level-1 entry that marks a kernel stack guard page. The CPU ignores every
/// bit of a non-present entry; this pattern lets the page-fault handler recognise a guard
/// page without taking any lock (see [`crate::is_guard_page`]).
pub const GUARD_PTE: u64 = 0x0006_7561_7264_0200;
const _: () = assert!(GUARD_PTE & pte::PRESENT == 0);

/// Page-table errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// No frame for an intermediate table.
    OutOfFrames,
    /// The level-1 entry for this address is not empty.
    AlreadyMapped(u64),
    /// A large page covers this address.
    HugePage(u64),
    /// The address is not canonical or not page-aligned.
    BadAddress(u64),
}

/// Errors while copying the bootloader's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloneError {
    /// No frame for a table copy.
    OutOfFrames,
    /// A table lies in memory the HHDM does not map.
    Unreadable(u64),
    /// A PML4 entry has the large-page bit set (invalid).
    Malformed(u64),
}

/// A page-table hierarchy accessed through the HHDM at `hhdm`.
#[derive(Clone, Copy, Debug)]
pub struct PageTables {
    root: u64,
    hhdm: u64,
}

impl PageTables {
    /// A placeholder with no root (walks return nothing).
    pub const fn empty() -> Self {
        PageTables { root: 0, hhdm: 0 }
    }

    /// Wraps the hierarchy rooted at physical `root`.
    ///
    /// # Safety
    /// `root` must be a PML4 whose tables are all reachable at `phys + hhdm`, and all
    /// writers of the hierarchy must go through wrappers that are serialised.
    pub const unsafe fn new(root: u64, hhdm: u64) -> Self {
        PageTables { root, hhdm }
    }

    /// Physical address of the PML4.
    pub const fn root(&self) -> u64 {
        self.root
    }

    fn slot(&self, table: u64, idx: usize) -> &AtomicU64 {
        debug_assert!(idx < 512 && table.is_multiple_of(PAGE_SIZE) && table != 0);
        let p = table.wrapping_add(self.hhdm).wrapping_add(idx as u64 * 8) as *mut u64;
        // SAFETY: `table` is a page table of this hierarchy (the constructor's contract),
        // mapped through the HHDM; entries are 8-byte aligned u64s, and every access to them
        // in this crate is atomic.
        unsafe { AtomicU64::from_ptr(p) }
    }

    fn read(&self, table: u64, idx: usize) -> u64 {
        self.slot(table, idx).load(Ordering::Relaxed)
    }

    fn write(&self, table: u64, idx: usize, v: u64) {
        self.slot(table, idx).store(v, Ordering::Relaxed)
    }

    /// Raw PML4 entry `idx`.
    pub fn root_entry(&self, idx: usize) -> u64 {
        self.read(self.root, idx)
    }

    /// Physical address `v` maps to (4 KiB, 2 MiB and 1 GiB pages), if any.
    pub fn translate(&self, v: u64) -> Option<u64> {
        if self.root == 0 || !is_canonical(v) {
            return None;
        }
        let mut table = self.root;
        for level in (1..=4u32).rev() {
            let e = self.read(table, table_index(v, level));
            if e & pte::PRESENT == 0 {
                return None;
            }
            let huge = e & pte::HUGE != 0 && (level == 2 || level == 3);
            if level == 1 || huge {
                let size = 1u64 << (12 + 9 * (level - 1));
                return Some((e & pte::ADDR & !(size - 1)) | (v & (size - 1)));
            }
            table = e & pte::ADDR;
        }
        None
    }

    /// The raw level-1 entry for `v` (present or not), or `None` if no page table exists
    /// for it (a level above is empty or a large page).
    pub fn leaf_entry(&self, v: u64) -> Option<u64> {
        if self.root == 0 || !is_canonical(v) {
            return None;
        }
        let mut table = self.root;
        for level in (2..=4u32).rev() {
            let e = self.read(table, table_index(v, level));
            if e & pte::PRESENT == 0 || e & pte::HUGE != 0 {
                return None;
            }
            table = e & pte::ADDR;
        }
        Some(self.read(table, table_index(v, 1)))
    }

    /// Walks to the page table for `v`, creating missing tables with `table_flags`;
    /// returns the page table's physical address. `created` counts new tables.
    fn walk_create(
        &mut self,
        v: u64,
        table_flags: u64,
        frames: &FrameAllocator,
        created: &mut u64,
    ) -> Result<u64, MapError> {
        if !is_canonical(v) || !v.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::BadAddress(v));
        }
        let mut table = self.root;
        for level in (2..=4u32).rev() {
            let idx = table_index(v, level);
            let e = self.read(table, idx);
            if e & pte::PRESENT == 0 {
                let t = frames.alloc().ok_or(MapError::OutOfFrames)?;
                *created += 1;
                self.write(table, idx, t | table_flags);
                table = t;
            } else if e & pte::HUGE != 0 {
                return Err(MapError::HugePage(v));
            } else {
                table = e & pte::ADDR;
            }
        }
        Ok(table)
    }

    /// Makes sure the page table (level 1) covering `v` exists, creating missing tables
    /// with `table_flags`.
    pub fn ensure_table(
        &mut self,
        v: u64,
        table_flags: u64,
        frames: &FrameAllocator,
        created: &mut u64,
    ) -> Result<(), MapError> {
        self.walk_create(v & !(PAGE_SIZE - 1), table_flags, frames, created)
            .map(|_| ())
    }

    /// Maps the 4 KiB page at `v` to `phys` with `flags` (PRESENT is added). The level-1
    /// entry must be empty (zero). Missing tables are created with `table_flags`.
    /// The caller flushes the TLB if it matters (a previously empty entry needs no flush).
    pub fn map(
        &mut self,
        v: u64,
        phys: u64,
        flags: u64,
        table_flags: u64,
        frames: &FrameAllocator,
        created: &mut u64,
    ) -> Result<(), MapError> {
        if phys & !pte::ADDR != 0 {
            return Err(MapError::BadAddress(phys));
        }
        let pt = self.walk_create(v, table_flags, frames, created)?;
        let idx = table_index(v, 1);
        if self.read(pt, idx) != 0 {
            return Err(MapError::AlreadyMapped(v));
        }
        self.write(pt, idx, phys | flags | pte::PRESENT);
        Ok(())
    }

    /// Writes a raw level-1 entry for `v` (creating tables); returns the old entry.
    pub fn set_leaf(
        &mut self,
        v: u64,
        value: u64,
        table_flags: u64,
        frames: &FrameAllocator,
        created: &mut u64,
    ) -> Result<u64, MapError> {
        let pt = self.walk_create(v, table_flags, frames, created)?;
        let idx = table_index(v, 1);
        let old = self.read(pt, idx);
        self.write(pt, idx, value);
        Ok(old)
    }

    /// The level-1 entry slot for `v` if its page table exists (no large page above it).
    /// Reads and writes through the slot must follow the hierarchy's locking rules.
    pub fn leaf_slot(&self, v: u64) -> Option<&AtomicU64> {
        if self.root == 0 || !is_canonical(v) {
            return None;
        }
        let pt = self.table_of(v)?;
        Some(self.slot(pt, table_index(v, 1)))
    }

    /// The level-1 entry slot for the page-aligned `v`, creating missing tables with
    /// `table_flags` (`created` counts them).
    pub fn leaf_slot_create(
        &mut self,
        v: u64,
        table_flags: u64,
        frames: &FrameAllocator,
        created: &mut u64,
    ) -> Result<&AtomicU64, MapError> {
        let pt = self.walk_create(v, table_flags, frames, created)?;
        Ok(self.slot(pt, table_index(v, 1)))
    }

    /// The first non-zero level-1 entry for a page in `[from, to)` (page-aligned, lower
    /// half), skipping missing tables a whole table span at a time.
    pub fn next_leaf(&self, from: u64, to: u64) -> Option<(u64, &AtomicU64)> {
        let mut v = from & !(PAGE_SIZE - 1);
        'outer: while v < to {
            let mut table = self.root;
            for level in (2..=4u32).rev() {
                let e = self.read(table, table_index(v, level));
                if e & pte::PRESENT == 0 || e & pte::HUGE != 0 {
                    let span = 1u64 << (12 + 9 * (level - 1));
                    v = (v & !(span - 1)).checked_add(span)?;
                    continue 'outer;
                }
                table = e & pte::ADDR;
            }
            let table_end = (v | ((1 << 21) - 1)) + 1;
            while v < to.min(table_end) {
                let slot = self.slot(table, table_index(v, 1));
                if slot.load(Ordering::Relaxed) != 0 {
                    return Some((v, slot));
                }
                v += PAGE_SIZE;
            }
        }
        None
    }

    /// Detaches every lower-half table whose whole span lies in `[gap_lo, gap_hi)` and
    /// that covers part of `[lo, hi)` (which lies inside the gap), pushing each detached
    /// subtree as `(table, level)` on `out`. The caller frees the subtrees (see
    /// [`PageTables::free_subtree`]) only after a TLB shootdown, since other CPUs'
    /// paging-structure caches may still point at them. Leaves in the gap must be empty.
    pub fn prune(&mut self, gap_lo: u64, gap_hi: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u32)>) {
        if self.root != 0 && lo < hi {
            self.prune_level(self.root, 4, gap_lo, gap_hi, lo, hi, out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn prune_level(
        &self,
        table: u64,
        level: u32,
        gap_lo: u64,
        gap_hi: u64,
        lo: u64,
        hi: u64,
        out: &mut Vec<(u64, u32)>,
    ) {
        let span = 1u64 << (12 + 9 * (level - 1));
        let mut v = lo & !(span - 1);
        while v < hi && v < (1 << 47) {
            let idx = table_index(v, level);
            let e = self.read(table, idx);
            if e & pte::PRESENT != 0 && e & pte::HUGE == 0 {
                let child = e & pte::ADDR;
                if gap_lo <= v && v.checked_add(span).is_some_and(|end| end <= gap_hi) {
                    self.write(table, idx, 0);
                    out.push((child, level - 1));
                } else if level > 2 {
                    self.prune_level(
                        child,
                        level - 1,
                        gap_lo,
                        gap_hi,
                        lo.max(v),
                        hi.min(v + span),
                        out,
                    );
                }
            }
            v += span;
        }
    }

    /// Visits a detached (or dying) subtree rooted at `table` of `level` (3 = PDPT .. 1 =
    /// PT): `leaf` gets every non-zero level-1 entry, then `free` every table frame,
    /// children before parents. The entries are not changed.
    pub fn free_subtree(
        &self,
        table: u64,
        level: u32,
        leaf: &mut dyn FnMut(u64),
        free: &mut dyn FnMut(u64),
    ) {
        for idx in 0..512 {
            let e = self.read(table, idx);
            if level == 1 {
                if e != 0 {
                    leaf(e);
                }
            } else if e & pte::PRESENT != 0 && e & pte::HUGE == 0 {
                self.free_subtree(e & pte::ADDR, level - 1, leaf, free);
            }
        }
        free(table);
    }

    /// Clears the lower half of the root, visiting every detached subtree with
    /// [`PageTables::free_subtree`] (the root itself is not freed).
    pub fn clear_lower_half(&mut self, leaf: &mut dyn FnMut(u64), free: &mut dyn FnMut(u64)) {
        if self.root == 0 {
            return;
        }
        for idx in 0..256 {
            let e = self.read(self.root, idx);
            if e & pte::PRESENT != 0 {
                self.write(self.root, idx, 0);
                self.free_subtree(e & pte::ADDR, 3, leaf, free);
            }
        }
    }

    /// Clears the present 4 KiB mapping at `v`; returns the physical page it mapped.
    /// Non-present entries (including guard markers) are left alone. No TLB flush.
    pub fn unmap(&mut self, v: u64) -> Option<u64> {
        let e = self.leaf_entry(v)?;
        if e & pte::PRESENT == 0 {
            return None;
        }
        let pt = self.table_of(v)?;
        self.write(pt, table_index(v, 1), 0);
        Some(e & pte::ADDR)
    }

    fn table_of(&self, v: u64) -> Option<u64> {
        let mut table = self.root;
        for level in (2..=4u32).rev() {
            let e = self.read(table, table_index(v, level));
            if e & pte::PRESENT == 0 || e & pte::HUGE != 0 {
                return None;
            }
            table = e & pte::ADDR;
        }
        Some(table)
    }

    /// Copies the upper half (PML4 256..511) of the hierarchy at `src_root` into fresh
    /// tables: every table is duplicated, leaf entries keep their flags plus
    /// [`pte::GLOBAL`], and empty PML4 slots get an empty PDPT so the kernel half can later
    /// be shared by reference. The lower half of the copy is empty. `readable(phys)` says
    /// whether a table frame can be read through the HHDM.
    /// Returns the new hierarchy and the number of tables allocated.
    ///
    /// # Safety
    /// `src_root` must be a valid hierarchy readable through `hhdm` (as far as
    /// `readable` allows), not modified during the copy; `frames` must hand out memory
    /// mapped at `hhdm`.
    pub unsafe fn clone_kernel_half(
        src_root: u64,
        hhdm: u64,
        frames: &FrameAllocator,
        readable: &dyn Fn(u64) -> bool,
    ) -> Result<(PageTables, u64), CloneError> {
        // SAFETY: the caller vouches for the source hierarchy.
        let src = unsafe { PageTables::new(src_root, hhdm) };
        if !readable(src_root) {
            return Err(CloneError::Unreadable(src_root));
        }
        let mut count = 0;
        let root = frames.alloc().ok_or(CloneError::OutOfFrames)?;
        count += 1;
        // SAFETY: `root` is a fresh zeroed frame from `frames`, mapped at `hhdm`.
        let dst = unsafe { PageTables::new(root, hhdm) };
        for i in 256..512 {
            let e = src.read(src_root, i);
            let out = if e & pte::PRESENT == 0 {
                let t = frames.alloc().ok_or(CloneError::OutOfFrames)?;
                count += 1;
                t | pte::KERNEL_TABLE
            } else if e & pte::HUGE != 0 {
                return Err(CloneError::Malformed(e));
            } else {
                (e & !pte::ADDR) | src.copy_table(e & pte::ADDR, 3, frames, &mut count, readable)?
            };
            dst.write(root, i, out);
        }
        Ok((dst, count))
    }

    fn copy_table(
        &self,
        src: u64,
        level: u32,
        frames: &FrameAllocator,
        count: &mut u64,
        readable: &dyn Fn(u64) -> bool,
    ) -> Result<u64, CloneError> {
        if !readable(src) {
            return Err(CloneError::Unreadable(src));
        }
        let dst = frames.alloc().ok_or(CloneError::OutOfFrames)?;
        *count += 1;
        for i in 0..512 {
            let e = self.read(src, i);
            if e & pte::PRESENT == 0 {
                continue;
            }
            let out = if level == 1 || e & pte::HUGE != 0 {
                e | pte::GLOBAL
            } else {
                (e & !pte::ADDR)
                    | self.copy_table(e & pte::ADDR, level - 1, frames, count, readable)?
            };
            self.write(dst, i, out);
        }
        Ok(dst)
    }

    /// A new PML4 whose upper half points at this hierarchy's kernel tables (shared, not
    /// copied) and whose lower half is empty: the root of a future user address space.
    pub fn new_sharing_kernel_half(&self, frames: &FrameAllocator) -> Option<u64> {
        let root = frames.alloc()?;
        for i in 256..512 {
            self.write(root, i, self.read(self.root, i));
        }
        Some(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::fake::FakeMem;
    use crate::layout::*;

    fn setup() -> (FakeMem, FrameAllocator) {
        let mem = FakeMem::new(0x100000, 0x800000);
        let fa = FrameAllocator::new();
        // SAFETY: fake memory used only by this allocator.
        unsafe {
            fa.set_hhdm(mem.hhdm());
            fa.add_range(0x100000, 0x900000).unwrap();
        }
        (mem, fa)
    }

    #[test]
    fn map_translate_unmap() {
        let (m, fa) = setup();
        let start = fa.free_frames();
        let root = fa.alloc().unwrap();
        // SAFETY: fresh root in fake memory.
        let mut pt = unsafe { PageTables::new(root, m.hhdm()) };
        let mut created = 0;
        let v = STACK_BASE + 0x5000;
        pt.map(
            v,
            0x7000,
            pte::WRITABLE | pte::NO_EXECUTE,
            pte::KERNEL_TABLE,
            &fa,
            &mut created,
        )
        .unwrap();
        assert_eq!(created, 3);
        assert_eq!(pt.translate(v + 0x123), Some(0x7123));
        assert_eq!(pt.translate(v + 0x1000), None);
        assert_eq!(pt.leaf_entry(v + 0x1000), Some(0));
        assert_eq!(pt.leaf_entry(MMIO_BASE), None);
        // Same page table: no new tables.
        pt.map(
            v + 0x1000,
            0x8000,
            pte::WRITABLE,
            pte::KERNEL_TABLE,
            &fa,
            &mut created,
        )
        .unwrap();
        assert_eq!(created, 3);
        assert_eq!(
            pt.map(
                v,
                0x9000,
                pte::WRITABLE,
                pte::KERNEL_TABLE,
                &fa,
                &mut created
            ),
            Err(MapError::AlreadyMapped(v))
        );
        assert_eq!(
            pt.map(v + 1, 0x9000, 0, pte::KERNEL_TABLE, &fa, &mut created),
            Err(MapError::BadAddress(v + 1))
        );
        assert_eq!(
            pt.map(
                0x0000_8000_0000_0000,
                0x9000,
                0,
                pte::KERNEL_TABLE,
                &fa,
                &mut created
            ),
            Err(MapError::BadAddress(0x0000_8000_0000_0000))
        );
        // Guard marker: not present, visible through leaf_entry, untouched by unmap.
        pt.set_leaf(v - 0x1000, GUARD_PTE, pte::KERNEL_TABLE, &fa, &mut created)
            .unwrap();
        assert_eq!(pt.leaf_entry(v - 0x1000), Some(GUARD_PTE));
        assert_eq!(pt.translate(v - 0x1000), None);
        assert_eq!(pt.unmap(v - 0x1000), None);
        assert_eq!(pt.unmap(v), Some(0x7000));
        assert_eq!(pt.unmap(v), None);
        assert_eq!(pt.translate(v), None);
        assert_eq!(fa.free_frames(), start - 1 - created);
    }

    #[test]
    fn huge_pages_translate_and_block_mapping() {
        let (m, fa) = setup();
        let root = fa.alloc().unwrap();
        let pdpt = fa.alloc().unwrap();
        let pd = fa.alloc().unwrap();
        // SAFETY: fresh tables in fake memory.
        let mut pt = unsafe { PageTables::new(root, m.hhdm()) };
        let base = HHDM_EXPECTED;
        pt.write(root, pml4_index(base), pdpt | pte::KERNEL_TABLE);
        // 1 GiB page for the second GiB, a PD of 2 MiB pages (with PAT bit 12 set) for the first.
        pt.write(pdpt, 1, 0x4000_0000 | pte::PRESENT | pte::HUGE);
        pt.write(pdpt, 0, pd | pte::KERNEL_TABLE);
        pt.write(pd, 3, 0x60_0000 | (1 << 12) | pte::PRESENT | pte::HUGE);
        assert_eq!(pt.translate(base + 0x4123_4567), Some(0x4123_4567));
        assert_eq!(pt.translate(base + 0x67_8901), Some(0x67_8901));
        assert_eq!(pt.translate(base + 0x87_8901), None);
        let mut c = 0;
        assert_eq!(
            pt.map(base + 0x60_1000, 0x1000, 0, pte::KERNEL_TABLE, &fa, &mut c),
            Err(MapError::HugePage(base + 0x60_1000))
        );
        assert_eq!(pt.leaf_entry(base + 0x60_1000), None);
    }

    #[test]
    fn clone_kernel_half_copies_upper_and_drops_lower() {
        let (m, fa) = setup();
        let hhdm = m.hhdm();
        // A "bootloader" hierarchy: identity 2 MiB page, HHDM 2 MiB pages, kernel 4 KiB pages.
        let root = fa.alloc().unwrap();
        // SAFETY: fresh tables in fake memory.
        let mut boot = unsafe { PageTables::new(root, hhdm) };
        let mut c = 0;
        for (v, p, f) in [
            (0x20_0000u64, 0x20_0000u64, pte::WRITABLE),
            (KERNEL_IMAGE_BASE, 0x30_0000, 0),
            (
                KERNEL_IMAGE_BASE + 0x1000,
                0x30_1000,
                pte::WRITABLE | pte::NO_EXECUTE,
            ),
        ] {
            boot.map(v, p, f, pte::KERNEL_TABLE, &fa, &mut c).unwrap();
        }
        let pdpt = fa.alloc().unwrap();
        let pd = fa.alloc().unwrap();
        boot.write(root, 256, pdpt | pte::KERNEL_TABLE);
        boot.write(pdpt, 0, pd | pte::KERNEL_TABLE);
        for i in 0..8 {
            boot.write(
                pd,
                i,
                (i as u64) << 21 | pte::PRESENT | pte::WRITABLE | pte::HUGE,
            );
        }
        let before = fa.free_frames();
        // SAFETY: the hierarchy above is complete and in fake memory.
        let (k, n) = unsafe { PageTables::clone_kernel_half(root, hhdm, &fa, &|_| true) }.unwrap();
        assert_eq!(before - fa.free_frames(), n);
        // root + (256 - 2 empty PDPTs... ) : 254 fresh PDPTs + HHDM (pdpt, pd) + kernel (pdpt, pd, pt).
        assert_eq!(n, 1 + 254 + 2 + 3);
        assert_ne!(k.root(), root);
        for v in [
            HHDM_EXPECTED + 0x12_3456,
            HHDM_EXPECTED + 0xff_ffff,
            KERNEL_IMAGE_BASE + 0x1abc,
        ] {
            assert_eq!(k.translate(v), boot.translate(v), "{v:#x}");
        }
        assert_eq!(k.translate(0x20_0000), None);
        assert_eq!(k.root_entry(0), 0);
        assert!((256..512).all(|i| k.root_entry(i) & pte::PRESENT != 0));
        // Leaves gained GLOBAL and kept their other flags; the source is untouched.
        let leaf = k.leaf_entry(KERNEL_IMAGE_BASE + 0x1000).unwrap();
        assert_eq!(
            leaf,
            0x30_1000 | pte::PRESENT | pte::WRITABLE | pte::NO_EXECUTE | pte::GLOBAL
        );
        assert_eq!(
            boot.leaf_entry(KERNEL_IMAGE_BASE + 0x1000).unwrap() & pte::GLOBAL,
            0
        );
        // Tables are copies: changing the copy does not change the source.
        let mut k2 = k;
        k2.unmap(KERNEL_IMAGE_BASE).unwrap();
        assert!(boot.translate(KERNEL_IMAGE_BASE).is_some());
        // A root sharing the kernel half sees the same upper mappings.
        let user = k.new_sharing_kernel_half(&fa).unwrap();
        // SAFETY: fresh root in fake memory.
        let u = unsafe { PageTables::new(user, hhdm) };
        assert_eq!(u.translate(HHDM_EXPECTED + 0x1000), Some(0x1000));
        assert_eq!(u.root_entry(0), 0);
        // Unreadable tables are reported, not followed.
        // SAFETY: as above.
        let r = unsafe { PageTables::clone_kernel_half(root, hhdm, &fa, &|p| p != pd) };
        assert_eq!(r.err(), Some(CloneError::Unreadable(pd)));
    }
}
