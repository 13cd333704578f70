//! Top-down physical memory allocator for the loader.
//!
//! Real Limine places the kernel and its own allocations near the top of RAM below 4 GiB,
//! not at 1 MiB; a kernel that silently assumes low physical addresses would break there,
//! so the loader does the same. The allocator hands out page-granular blocks from the
//! highest usable range that fits (below a caller-given limit) and remembers what it gave
//! out as memory map carves: consecutive bootloader-reclaimable blocks are coalesced,
//! executable-and-modules blocks stay separate entries.

use crate::limine::MemType;
use crate::memmap::{MemoryMap, Region};
use crate::paging::{PAGE_SIZE, align_down, align_up};

/// Out of memory or out of bookkeeping space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// No usable range below the limit has room.
    OutOfMemory,
    /// Too many usable ranges or non-adjacent allocations to track.
    TooManyRanges,
}

#[derive(Clone, Copy, Debug)]
struct Range {
    base: u64,
    /// Everything in `[top, original end)` has been handed out or given up.
    top: u64,
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct TopDown<const RANGES: usize, const CARVES: usize> {
    ranges: [Range; RANGES],
    nranges: usize,
    carves: [Region; CARVES],
    ncarves: usize,
}

impl<const RANGES: usize, const CARVES: usize> Default for TopDown<RANGES, CARVES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const RANGES: usize, const CARVES: usize> TopDown<RANGES, CARVES> {
    /// An allocator with no memory.
    pub const fn new() -> Self {
        TopDown {
            ranges: [Range { base: 0, top: 0 }; RANGES],
            nranges: 0,
            carves: [Region::EMPTY; CARVES],
            ncarves: 0,
        }
    }

    /// An allocator over the usable entries of `map`.
    pub fn from_map<const N: usize>(map: &MemoryMap<N>) -> Result<Self, AllocError> {
        let mut a = Self::new();
        for r in map.usable() {
            a.add_range(r.base, r.end())?;
        }
        Ok(a)
    }

    /// Adds free memory `[base, end)` (shrunk to whole pages). Ranges must be added in
    /// ascending order and must not overlap.
    pub fn add_range(&mut self, base: u64, end: u64) -> Result<(), AllocError> {
        let base = align_up(base, PAGE_SIZE);
        let end = align_down(end, PAGE_SIZE);
        if end <= base {
            return Ok(());
        }
        let slot = self
            .ranges
            .get_mut(self.nranges)
            .ok_or(AllocError::TooManyRanges)?;
        *slot = Range { base, top: end };
        self.nranges += 1;
        Ok(())
    }

    /// Allocates `size` bytes (rounded up to whole pages) aligned to `align` (a power of
    /// two, at least one page is used), ending at or below `limit`, as high as possible.
    /// The block is recorded as a carve of type `kind`.
    pub fn alloc(
        &mut self,
        size: u64,
        align: u64,
        limit: u64,
        kind: MemType,
    ) -> Result<u64, AllocError> {
        let size = align_up(size.max(1), PAGE_SIZE);
        let align = align.max(PAGE_SIZE);
        for i in (0..self.nranges).rev() {
            let r = self.ranges[i];
            let top = r.top.min(limit);
            if top < r.base || top - r.base < size {
                continue;
            }
            let addr = align_down(top - size, align);
            if addr < r.base {
                continue;
            }
            self.record(addr, size, kind)?;
            self.ranges[i].top = addr;
            return Ok(addr);
        }
        Err(AllocError::OutOfMemory)
    }

    fn record(&mut self, addr: u64, size: u64, kind: MemType) -> Result<(), AllocError> {
        if kind != MemType::ExecutableAndModules
            && let Some(last) = self.carves[..self.ncarves].last_mut()
            && last.kind == kind
            && last.base == addr + size
        {
            last.base = addr;
            last.length += size;
            return Ok(());
        }
        let slot = self
            .carves
            .get_mut(self.ncarves)
            .ok_or(AllocError::TooManyRanges)?;
        *slot = Region::new(addr, size, kind);
        self.ncarves += 1;
        Ok(())
    }

    /// Every block handed out so far, as memory map carves.
    pub fn carves(&self) -> &[Region] {
        &self.carves[..self.ncarves]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memmap::Builder;
    use MemType::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    fn alloc_over(ranges: &[(u64, u64)]) -> TopDown<8, 8> {
        let mut a = TopDown::new();
        for &(b, e) in ranges {
            a.add_range(b, e).unwrap();
        }
        a
    }

    #[test]
    fn kernel_goes_high_and_reclaimable_blocks_coalesce_below_it() {
        let mut a = alloc_over(&[(0x1000, 0x9f000), (MIB, 128 * MIB - 0x20000)]);
        let top = 128 * MIB - 0x20000;
        let k = a
            .alloc(0x23456, PAGE_SIZE, 4 * GIB, ExecutableAndModules)
            .unwrap();
        assert_eq!(k, top - 0x24000);
        let t1 = a
            .alloc(0x1000, PAGE_SIZE, 4 * GIB, BootloaderReclaimable)
            .unwrap();
        let t2 = a
            .alloc(0x10000, PAGE_SIZE, 4 * GIB, BootloaderReclaimable)
            .unwrap();
        assert_eq!(t1, k - 0x1000);
        assert_eq!(t2, t1 - 0x10000);
        assert_eq!(
            a.carves(),
            &[
                Region::new(k, 0x24000, ExecutableAndModules),
                Region::new(t2, 0x11000, BootloaderReclaimable),
            ]
        );
    }

    #[test]
    fn limit_selects_low_memory_for_the_trampoline() {
        let mut a = alloc_over(&[(0x1000, 0x9f000), (MIB, 64 * MIB)]);
        let t = a
            .alloc(0x1000, PAGE_SIZE, MIB, BootloaderReclaimable)
            .unwrap();
        assert_eq!(t, 0x9e000);
        let hi = a
            .alloc(0x1000, PAGE_SIZE, 4 * GIB, BootloaderReclaimable)
            .unwrap();
        assert_eq!(hi, 64 * MIB - 0x1000);
        assert_eq!(a.carves().len(), 2);
    }

    #[test]
    fn falls_back_to_lower_ranges_and_respects_alignment() {
        let mut a = alloc_over(&[(MIB, 2 * MIB), (4 * MIB, 5 * MIB)]);
        assert_eq!(
            a.alloc(0x80000, 2 * MIB, 4 * GIB, BootloaderReclaimable),
            Ok(4 * MIB)
        );
        // The rest of [4 MiB, 5 MiB) lies above `top` now; the next block comes from below.
        assert_eq!(
            a.alloc(0x100000, PAGE_SIZE, 4 * GIB, BootloaderReclaimable),
            Ok(MIB)
        );
        assert_eq!(
            a.alloc(0x1000, PAGE_SIZE, 4 * GIB, BootloaderReclaimable),
            Err(AllocError::OutOfMemory)
        );
    }

    #[test]
    fn memory_above_the_limit_is_not_used() {
        let mut a = alloc_over(&[(MIB, 3 * GIB), (4 * GIB, 9 * GIB)]);
        let k = a
            .alloc(MIB, PAGE_SIZE, 4 * GIB, ExecutableAndModules)
            .unwrap();
        assert_eq!(k, 3 * GIB - MIB);
    }

    #[test]
    fn carves_feed_the_memory_map() {
        let mut b = Builder::<8, 8>::new();
        b.add_raw(0, 0x9fc00, Usable).unwrap();
        b.add_raw(MIB, 31 * MIB, Usable).unwrap();
        b.carve(0, 0x1000, Reserved).unwrap();
        let mut m = MemoryMap::<16>::new();
        b.build(&mut m).unwrap();
        let mut a: TopDown<8, 8> = TopDown::from_map(&m).unwrap();
        let k = a
            .alloc(0x3000, PAGE_SIZE, 4 * GIB, ExecutableAndModules)
            .unwrap();
        let s = a
            .alloc(0x4000, PAGE_SIZE, 4 * GIB, BootloaderReclaimable)
            .unwrap();
        for c in a.carves() {
            b.carve(c.base, c.length, c.kind).unwrap();
        }
        b.build(&mut m).unwrap();
        let e: Vec<_> = m
            .entries()
            .iter()
            .map(|r| (r.base, r.end(), r.kind))
            .collect();
        assert_eq!(
            e,
            vec![
                (0, 0x1000, Reserved),
                (0x1000, 0x9f000, Usable),
                (MIB, s, Usable),
                (s, k, BootloaderReclaimable),
                (k, 32 * MIB, ExecutableAndModules),
            ]
        );
    }

    #[test]
    fn bookkeeping_limits() {
        let mut a = TopDown::<1, 1>::new();
        a.add_range(0x1000, 0x10000).unwrap();
        a.add_range(0x1800, 0x1900).unwrap(); // empty after alignment: no slot needed
        assert_eq!(a.add_range(MIB, 2 * MIB), Err(AllocError::TooManyRanges));
        a.alloc(0x1000, PAGE_SIZE, 4 * GIB, ExecutableAndModules)
            .unwrap();
        assert_eq!(
            a.alloc(0x1000, PAGE_SIZE, 4 * GIB, ExecutableAndModules),
            Err(AllocError::TooManyRanges)
        );
    }
}
