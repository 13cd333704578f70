//! Builds the page tables handed to the kernel.
//!
//! Tables come from the top-down allocator as bootloader-reclaimable pages below 4 GiB,
//! so the loader can write them through its identity map and APs can load the PML4 from
//! 32-bit CR3.

use crate::phys;
use crate::{Alloc, fatal};
use weft_bootproto::limine::MemType;
use weft_bootproto::paging::{LARGE_PAGE_SIZE, PAGE_SIZE, indices, pte};

/// Page table builder over the loader allocator.
pub struct Mapper<'a> {
    pml4: u64,
    alloc: &'a mut Alloc,
    /// Page table pages allocated, for the log.
    pub tables: usize,
}

impl<'a> Mapper<'a> {
    /// Allocates an empty PML4.
    pub fn new(alloc: &'a mut Alloc) -> Self {
        let mut m = Mapper {
            pml4: 0,
            alloc,
            tables: 0,
        };
        m.pml4 = m.new_table();
        m
    }

    /// Physical address of the PML4 (below 4 GiB).
    pub fn pml4(&self) -> u64 {
        self.pml4
    }

    fn new_table(&mut self) -> u64 {
        let t = self
            .alloc
            .alloc(
                PAGE_SIZE,
                PAGE_SIZE,
                phys::IDENTITY_LIMIT,
                MemType::BootloaderReclaimable,
            )
            .unwrap_or_else(|e| fatal!("out of memory for page tables: {e:?}"));
        // SAFETY: freshly allocated page owned by the loader.
        unsafe { phys::bytes_mut(t, PAGE_SIZE) }.fill(0);
        self.tables += 1;
        t
    }

    fn entry_addr(table: u64, index: usize) -> u64 {
        table + index as u64 * 8
    }

    /// The next-level table behind `table[index]`, created if absent.
    fn descend(&mut self, table: u64, index: usize, virt: u64) -> u64 {
        let at = Self::entry_addr(table, index);
        // SAFETY: `table` is a page table page this builder allocated.
        let e = unsafe { phys::read_u64(at) };
        if e & pte::PRESENT != 0 {
            if e & pte::HUGE != 0 {
                fatal!("mapping {virt:#x} collides with a large page");
            }
            return e & pte::ADDR_MASK;
        }
        let t = self.new_table();
        // SAFETY: as above.
        unsafe { phys::write_u64(at, t | pte::PRESENT | pte::WRITABLE) };
        t
    }

    /// Sets a PML4 entry directly (used for the temporary identity map).
    pub fn set_pml4_entry(&mut self, index: usize, value: u64) {
        // SAFETY: the PML4 is a page this builder allocated.
        unsafe { phys::write_u64(Self::entry_addr(self.pml4, index), value) };
    }

    /// Maps one 4 KiB page. If the page is already mapped to the same frame (two ELF
    /// segments sharing a page), the permissions are combined: writable if either is,
    /// executable if either is.
    pub fn map_4k(&mut self, virt: u64, phys_addr: u64, flags: u64) {
        let [i4, i3, i2, i1] = indices(virt);
        let pdpt = self.descend(self.pml4, i4, virt);
        let pd = self.descend(pdpt, i3, virt);
        let pt = self.descend(pd, i2, virt);
        let at = Self::entry_addr(pt, i1);
        // SAFETY: `pt` is a page table page this builder allocated.
        let old = unsafe { phys::read_u64(at) };
        let mut new = phys_addr | flags | pte::PRESENT;
        if old & pte::PRESENT != 0 {
            if old & pte::ADDR_MASK != phys_addr {
                fatal!("{virt:#x} mapped twice to different frames");
            }
            new = phys_addr
                | pte::PRESENT
                | ((old | flags) & pte::WRITABLE)
                | (old & flags & pte::NO_EXECUTE);
        }
        // SAFETY: as above.
        unsafe { phys::write_u64(at, new) };
    }

    /// Maps one 2 MiB page.
    pub fn map_2m(&mut self, virt: u64, phys_addr: u64, flags: u64) {
        let [i4, i3, i2, _] = indices(virt);
        let pdpt = self.descend(self.pml4, i4, virt);
        let pd = self.descend(pdpt, i3, virt);
        let at = Self::entry_addr(pd, i2);
        // SAFETY: `pd` is a page table page this builder allocated.
        if unsafe { phys::read_u64(at) } & pte::PRESENT != 0 {
            fatal!("large page at {virt:#x} collides with an existing mapping");
        }
        // SAFETY: as above.
        unsafe { phys::write_u64(at, phys_addr | flags | pte::PRESENT | pte::HUGE) };
    }

    /// Maps `(addr, size)` chunks of 4 KiB or 2 MiB at `offset + addr`.
    pub fn map_chunk(&mut self, offset: u64, addr: u64, size: u64, flags: u64) {
        if size == LARGE_PAGE_SIZE {
            self.map_2m(offset + addr, addr, flags);
        } else {
            self.map_4k(offset + addr, addr, flags);
        }
    }
}
