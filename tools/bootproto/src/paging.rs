//! Page sizes, alignment helpers and x86-64 page table entry bits.

/// Base page size.
pub const PAGE_SIZE: u64 = 0x1000;
/// Large (PD-level) page size.
pub const LARGE_PAGE_SIZE: u64 = 0x20_0000;

/// Page table entry bits (4-level paging).
pub mod pte {
    pub const PRESENT: u64 = 1 << 0;
    pub const WRITABLE: u64 = 1 << 1;
    /// PS: a 2 MiB leaf at the PD level.
    pub const HUGE: u64 = 1 << 7;
    pub const NO_EXECUTE: u64 = 1 << 63;
    /// Physical address bits of an entry (bits 12..51).
    pub const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
}

/// Rounds `x` up to a multiple of `align` (a power of two); saturates near `u64::MAX`.
pub const fn align_up(x: u64, align: u64) -> u64 {
    match x.checked_add(align - 1) {
        Some(v) => v & !(align - 1),
        None => !(align - 1),
    }
}

/// Rounds `x` down to a multiple of `align` (a power of two).
pub const fn align_down(x: u64, align: u64) -> u64 {
    x & !(align - 1)
}

/// Table indices `[pml4, pdpt, pd, pt]` of a virtual address.
pub const fn indices(virt: u64) -> [usize; 4] {
    [
        ((virt >> 39) & 0x1ff) as usize,
        ((virt >> 30) & 0x1ff) as usize,
        ((virt >> 21) & 0x1ff) as usize,
        ((virt >> 12) & 0x1ff) as usize,
    ]
}

/// Splits a page-aligned range into the largest pages that fit: 4 KiB pages up to the
/// first 2 MiB boundary, 2 MiB pages while a whole one fits, 4 KiB pages for the tail.
/// Yields `(physical address, page size)`.
#[derive(Clone, Debug)]
pub struct Chunks {
    cur: u64,
    end: u64,
}

impl Chunks {
    /// Chunks of `[start, end)`; both are rounded to pages (start down, end up).
    pub const fn new(start: u64, end: u64) -> Chunks {
        Chunks {
            cur: align_down(start, PAGE_SIZE),
            end: align_up(end, PAGE_SIZE),
        }
    }
}

impl Iterator for Chunks {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        if self.cur >= self.end {
            return None;
        }
        let size =
            if self.cur.is_multiple_of(LARGE_PAGE_SIZE) && self.end - self.cur >= LARGE_PAGE_SIZE {
                LARGE_PAGE_SIZE
            } else {
                PAGE_SIZE
            };
        let at = self.cur;
        self.cur += size;
        Some((at, size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment() {
        assert_eq!(align_up(0, 0x1000), 0);
        assert_eq!(align_up(1, 0x1000), 0x1000);
        assert_eq!(align_up(0x1000, 0x1000), 0x1000);
        assert_eq!(align_down(0x1fff, 0x1000), 0x1000);
        assert_eq!(align_up(u64::MAX - 5, 0x1000), !0xfff);
    }

    #[test]
    fn indices_of_well_known_addresses() {
        assert_eq!(indices(0xffff_8000_0000_0000), [256, 0, 0, 0]);
        assert_eq!(indices(0xffff_ffff_8000_0000), [511, 510, 0, 0]);
        assert_eq!(indices(0x0000_0000_0020_1000), [0, 0, 1, 1]);
    }

    #[test]
    fn chunks_use_large_pages_inside_and_small_at_the_edges() {
        let c: Vec<_> = Chunks::new(0x1f_e000, 0x60_3000).collect();
        assert_eq!(c[0], (0x1f_e000, PAGE_SIZE));
        assert_eq!(c[1], (0x1f_f000, PAGE_SIZE));
        assert_eq!(c[2], (0x20_0000, LARGE_PAGE_SIZE));
        assert_eq!(c[3], (0x40_0000, LARGE_PAGE_SIZE));
        assert_eq!(c[4], (0x60_0000, PAGE_SIZE));
        assert_eq!(c.len(), 7);
        let total: u64 = c.iter().map(|x| x.1).sum();
        assert_eq!(total, 0x60_3000 - 0x1f_e000);
        assert_eq!(Chunks::new(0x1000, 0x1000).count(), 0);
        // Exactly one large page, and a range shorter than one.
        assert_eq!(Chunks::new(0x20_0000, 0x40_0000).count(), 1);
        assert!(Chunks::new(0x20_0000, 0x3f_f000).all(|(_, s)| s == PAGE_SIZE));
    }
}
