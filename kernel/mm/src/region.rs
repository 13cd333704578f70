//! The bootloader memory map and its sanitising.
//!
//! Firmware and bootloaders hand over maps that may be unsorted, contain zero-length or
//! unaligned entries, or overlap. [`select`] turns such a map into sorted, disjoint,
//! page-aligned physical ranges of one kind:
//! - entries of the wanted kind are rounded *inward* to page boundaries;
//! - every other entry is rounded *outward* and cut out of them (reserved wins);
//! - page 0 is never returned;
//! - entries with a zero length, an overflowing end or an address beyond 2^52 are
//!   skipped; every anomaly is reported through the `log` callback.
//!
//! The result lives in a fixed-size [`RangeList`]: this runs before the heap exists.

use core::fmt;

use crate::layout::{MAX_PHYS, PAGE_SIZE, align_down, align_up};

/// Memory map entry types (the Limine set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegionKind {
    /// Free RAM.
    Usable,
    /// Not usable.
    Reserved,
    /// ACPI tables; reusable once they have been parsed (not mapped by the HHDM).
    AcpiReclaimable,
    /// ACPI non-volatile storage; never usable.
    AcpiNvs,
    /// Defective RAM.
    BadMemory,
    /// Bootloader data (page tables, stacks, responses); free once no longer needed.
    BootloaderReclaimable,
    /// The kernel image and modules.
    ExecutableAndModules,
    /// A framebuffer.
    Framebuffer,
}

impl RegionKind {
    /// True for the kinds real Limine maps in the HHDM (base revision 3).
    pub const fn in_hhdm(self) -> bool {
        matches!(
            self,
            RegionKind::Usable
                | RegionKind::BootloaderReclaimable
                | RegionKind::ExecutableAndModules
                | RegionKind::Framebuffer
        )
    }
}

/// One memory map entry: `[base, base + len)` of type `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Physical start address.
    pub base: u64,
    /// Length in bytes.
    pub len: u64,
    /// Entry type.
    pub kind: RegionKind,
}

impl Region {
    /// Exclusive end, or `None` if it overflows or lies beyond the physical address space.
    pub fn end(&self) -> Option<u64> {
        self.base.checked_add(self.len).filter(|&e| e <= MAX_PHYS)
    }
}

/// A physical range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Range {
    /// Inclusive start.
    pub start: u64,
    /// Exclusive end.
    pub end: u64,
}

impl Range {
    /// Length in bytes.
    pub const fn len(&self) -> u64 {
        self.end - self.start
    }
    /// True if the range holds no byte.
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }
    /// Number of whole pages (ranges from [`select`] are page-aligned).
    pub const fn pages(&self) -> u64 {
        self.len() / PAGE_SIZE
    }
}

/// Maximum number of ranges a [`RangeList`] holds.
pub const MAX_RANGES: usize = 256;

/// Sorted, disjoint ranges in a fixed array (no allocation).
#[derive(Clone)]
pub struct RangeList {
    ranges: [Range; MAX_RANGES],
    len: usize,
    /// Set when a range had to be dropped because the list was full.
    pub overflowed: bool,
}

impl Default for RangeList {
    fn default() -> Self {
        Self::new()
    }
}

impl RangeList {
    /// An empty list.
    pub const fn new() -> Self {
        RangeList {
            ranges: [Range { start: 0, end: 0 }; MAX_RANGES],
            len: 0,
            overflowed: false,
        }
    }

    /// The ranges, sorted by address.
    pub fn as_slice(&self) -> &[Range] {
        &self.ranges[..self.len]
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there is no range.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Total bytes covered.
    pub fn total_bytes(&self) -> u64 {
        self.as_slice().iter().map(Range::len).sum()
    }

    fn insert_at(&mut self, i: usize, r: Range) {
        if self.len == MAX_RANGES {
            self.overflowed = true;
            return;
        }
        self.ranges.copy_within(i..self.len, i + 1);
        self.ranges[i] = r;
        self.len += 1;
    }

    fn remove_at(&mut self, i: usize) {
        self.ranges.copy_within(i + 1..self.len, i);
        self.len -= 1;
    }

    /// Adds `[start, end)`, merging with overlapping or touching ranges.
    pub fn add(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let mut new = Range { start, end };
        // First range that ends at or after `start` (can merge or comes after).
        let mut i = 0;
        while i < self.len && self.ranges[i].end < new.start {
            i += 1;
        }
        while i < self.len && self.ranges[i].start <= new.end {
            new.start = new.start.min(self.ranges[i].start);
            new.end = new.end.max(self.ranges[i].end);
            self.remove_at(i);
        }
        self.insert_at(i, new);
    }

    /// Removes `[start, end)` from every range (splitting where needed).
    pub fn subtract(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let mut i = 0;
        while i < self.len {
            let r = self.ranges[i];
            if r.end <= start || end <= r.start {
                i += 1;
                continue;
            }
            let left = Range {
                start: r.start,
                end: start.max(r.start),
            };
            let right = Range {
                start: end.min(r.end),
                end: r.end,
            };
            self.remove_at(i);
            if !right.is_empty() {
                self.insert_at(i, right);
            }
            if !left.is_empty() {
                self.insert_at(i, left);
                i += 1;
            }
            if !right.is_empty() {
                i += 1;
            }
        }
    }
}

/// Sorted, disjoint, page-aligned ranges of kind `want` from `regions`, with every other
/// kind cut out and page 0 excluded. Anomalies are reported through `log`.
pub fn select(
    regions: &[Region],
    want: RegionKind,
    log: &mut dyn FnMut(fmt::Arguments<'_>),
) -> RangeList {
    let mut out = RangeList::new();
    let mut unsorted_reported = false;
    let mut prev_base = 0u64;

    for (i, r) in regions.iter().enumerate() {
        if r.base < prev_base && !unsorted_reported {
            log(format_args!(
                "mm: memory map is not sorted (entry {i} at {:#x}); sorting",
                r.base
            ));
            unsorted_reported = true;
        }
        prev_base = prev_base.max(r.base);
        let Some(end) = valid_end(i, r, log) else {
            continue;
        };
        if r.kind != want {
            continue;
        }
        let start = align_up(r.base, PAGE_SIZE).unwrap_or(end).max(PAGE_SIZE);
        let aligned_end = align_down(end, PAGE_SIZE);
        if !r.base.is_multiple_of(PAGE_SIZE) || !r.len.is_multiple_of(PAGE_SIZE) {
            log(format_args!(
                "mm: memory map entry {i} [{:#x}, {end:#x}) {:?} is not page-aligned; using [{start:#x}, {aligned_end:#x})",
                r.base, r.kind
            ));
        }
        out.add(start, aligned_end);
    }

    for (i, r) in regions.iter().enumerate() {
        if r.kind == want {
            continue;
        }
        let Some(end) = r.end() else { continue };
        if r.len == 0 {
            continue;
        }
        let start = align_down(r.base, PAGE_SIZE);
        let end = align_up(end, PAGE_SIZE).unwrap_or(MAX_PHYS);
        let before = out.total_bytes();
        out.subtract(start, end);
        let lost = before - out.total_bytes();
        if lost != 0 {
            log(format_args!(
                "mm: memory map entry {i} [{:#x}, {:#x}) {:?} overlaps {want:?} memory; {lost:#x} bytes excluded",
                r.base,
                r.base + r.len,
                r.kind
            ));
        }
    }

    if out.overflowed {
        log(format_args!(
            "mm: more than {MAX_RANGES} {want:?} ranges; some memory is ignored"
        ));
    }
    out
}

/// Checks one entry; returns its exclusive end if it is usable at all.
fn valid_end(i: usize, r: &Region, log: &mut dyn FnMut(fmt::Arguments<'_>)) -> Option<u64> {
    if r.len == 0 {
        log(format_args!(
            "mm: memory map entry {i} at {:#x} {:?} has length 0; skipped",
            r.base, r.kind
        ));
        return None;
    }
    match r.end() {
        Some(e) => Some(e),
        None => {
            log(format_args!(
                "mm: memory map entry {i} base {:#x} len {:#x} {:?} exceeds the physical address space; skipped",
                r.base, r.len, r.kind
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RegionKind::*;
    use super::*;

    fn reg(base: u64, len: u64, kind: RegionKind) -> Region {
        Region { base, len, kind }
    }

    fn run(regions: &[Region], want: RegionKind) -> (Vec<(u64, u64)>, Vec<String>) {
        let mut logs = Vec::new();
        let l = select(regions, want, &mut |a| logs.push(a.to_string()));
        (
            l.as_slice().iter().map(|r| (r.start, r.end)).collect(),
            logs,
        )
    }

    #[test]
    fn clean_map() {
        let map = [
            reg(0x1000, 0x9e000, Usable),
            reg(0x9fc00, 0x400, Reserved),
            reg(0x100000, 0x1ff00000, Usable),
            reg(0x20000000, 0x100000, BootloaderReclaimable),
        ];
        let (r, logs) = run(&map, Usable);
        assert_eq!(r, vec![(0x1000, 0x9f000), (0x100000, 0x20000000)]);
        assert!(logs.is_empty(), "{logs:?}");
        let (r, _) = run(&map, BootloaderReclaimable);
        assert_eq!(r, vec![(0x20000000, 0x20100000)]);
    }

    #[test]
    fn unaligned_usable_is_clipped_inward_and_page0_dropped() {
        let map = [reg(0, 0x9fc00, Usable), reg(0x100800, 0x2000, Usable)];
        let (r, logs) = run(&map, Usable);
        assert_eq!(r, vec![(0x1000, 0x9f000), (0x101000, 0x102000)]);
        assert_eq!(logs.len(), 2);
    }

    #[test]
    fn reserved_overlap_is_cut_out_outward() {
        // A reserved byte range in the middle of usable memory removes whole pages.
        let map = [
            reg(0x100000, 0x100000, Usable),
            reg(0x150010, 0x20, AcpiNvs),
        ];
        let (r, logs) = run(&map, Usable);
        assert_eq!(r, vec![(0x100000, 0x150000), (0x151000, 0x200000)]);
        assert_eq!(logs.len(), 1);
        assert!(logs[0].contains("overlaps"));
    }

    #[test]
    fn unsorted_overlapping_usable_merges() {
        let map = [
            reg(0x300000, 0x100000, Usable),
            reg(0x100000, 0x100000, Usable),
            reg(0x180000, 0x100000, Usable), // overlaps the previous one
            reg(0x500000, 0, Usable),        // zero length
            reg(u64::MAX - 0xfff, 0x2000, Usable),
        ];
        let (r, logs) = run(&map, Usable);
        assert_eq!(r, vec![(0x100000, 0x280000), (0x300000, 0x400000)]);
        assert!(logs.iter().any(|l| l.contains("not sorted")));
        assert!(logs.iter().any(|l| l.contains("length 0")));
        assert!(logs.iter().any(|l| l.contains("exceeds")));
    }

    #[test]
    fn range_list_subtract_splits() {
        let mut l = RangeList::new();
        l.add(0x1000, 0x10000);
        l.add(0x20000, 0x30000);
        l.add(0x10000, 0x11000); // touches: merges
        assert_eq!(l.len(), 2);
        l.subtract(0x2000, 0x3000);
        l.subtract(0x0, 0x1000); // nothing
        l.subtract(0x28000, 0x40000);
        let v: Vec<_> = l.as_slice().iter().map(|r| (r.start, r.end)).collect();
        assert_eq!(
            v,
            vec![(0x1000, 0x2000), (0x3000, 0x11000), (0x20000, 0x28000)]
        );
        l.subtract(0, u64::MAX);
        assert!(l.is_empty());
    }

    #[test]
    fn range_list_capacity() {
        let mut l = RangeList::new();
        for i in 0..(MAX_RANGES as u64 + 5) {
            l.add(i * 0x2000, i * 0x2000 + 0x1000);
        }
        assert_eq!(l.len(), MAX_RANGES);
        assert!(l.overflowed);
        let s = l.as_slice();
        assert!(s.windows(2).all(|w| w[0].end < w[1].start));
    }
}
