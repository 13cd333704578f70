//! Memory map sanitising.
//!
//! Firmware memory maps are messy: qboot hands QEMU's multiboot code an unsorted e820
//! list with zero-length type-0 entries, SeaBIOS has unaligned reserved entries, and
//! entries may overlap. The Limine memory map must instead be sorted by base, usable and
//! bootloader-reclaimable entries must be 4 KiB aligned and must not overlap anything,
//! and the loader has to mark the memory it used (its own image, page tables, stacks:
//! bootloader-reclaimable; the kernel and modules: executable-and-modules, one entry per
//! file as real Limine does).
//!
//! [`Builder`] collects firmware ("raw") entries and loader "carves" and produces a
//! [`MemoryMap`] by sweeping over every boundary: each elementary interval gets the
//! highest-priority raw type covering it (see [`MemType::priority`]); if that is usable,
//! the highest-priority carve covering it replaces it. Carves never create memory that
//! the firmware did not report. Adjacent intervals of equal type are merged, except that
//! executable-and-modules intervals of different carves stay separate. Finally usable and
//! bootloader-reclaimable entries are shrunk inward to page boundaries.
//!
//! Everything is in fixed-capacity arrays: the loader has no heap.

use crate::limine::MemType;
use crate::paging::{PAGE_SIZE, align_down, align_up};

/// One memory map entry (the Limine `{base, length, type}` triple).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub base: u64,
    pub length: u64,
    pub kind: MemType,
}

impl Region {
    /// An empty placeholder used to initialise arrays.
    pub const EMPTY: Region = Region {
        base: 0,
        length: 0,
        kind: MemType::Reserved,
    };

    /// Creates a region.
    pub const fn new(base: u64, length: u64, kind: MemType) -> Region {
        Region { base, length, kind }
    }

    /// Exclusive end; saturates at `u64::MAX` for entries that would wrap.
    pub const fn end(&self) -> u64 {
        self.base.saturating_add(self.length)
    }

    fn covers(&self, a: u64, b: u64) -> bool {
        self.base <= a && self.end() >= b
    }
}

/// A capacity was exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemMapError {
    /// More firmware entries than the builder can hold.
    RawFull,
    /// More carves than the builder can hold.
    CarvesFull,
    /// The sanitised map does not fit the output.
    OutputFull,
}

/// Collects firmware entries and carves; see the module documentation.
#[derive(Clone, Debug)]
pub struct Builder<const RAW: usize, const CARVES: usize> {
    raw: [Region; RAW],
    raw_len: usize,
    carves: [Region; CARVES],
    carve_len: usize,
}

impl<const RAW: usize, const CARVES: usize> Default for Builder<RAW, CARVES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const RAW: usize, const CARVES: usize> Builder<RAW, CARVES> {
    /// An empty builder.
    pub const fn new() -> Self {
        Builder {
            raw: [Region::EMPTY; RAW],
            raw_len: 0,
            carves: [Region::EMPTY; CARVES],
            carve_len: 0,
        }
    }

    /// Adds a firmware entry. Zero-length entries are dropped here.
    pub fn add_raw(&mut self, base: u64, length: u64, kind: MemType) -> Result<(), MemMapError> {
        if length == 0 {
            return Ok(());
        }
        let slot = self.raw.get_mut(self.raw_len).ok_or(MemMapError::RawFull)?;
        *slot = Region::new(base, length, kind);
        self.raw_len += 1;
        Ok(())
    }

    /// Marks `[base, base + length)` as `kind` wherever the firmware reported usable RAM.
    pub fn carve(&mut self, base: u64, length: u64, kind: MemType) -> Result<(), MemMapError> {
        if length == 0 {
            return Ok(());
        }
        let slot = self
            .carves
            .get_mut(self.carve_len)
            .ok_or(MemMapError::CarvesFull)?;
        *slot = Region::new(base, length, kind);
        self.carve_len += 1;
        Ok(())
    }

    /// Firmware entries added so far (zero-length ones already dropped).
    pub fn raw(&self) -> &[Region] {
        &self.raw[..self.raw_len]
    }

    /// Carves added so far.
    pub fn carves(&self) -> &[Region] {
        &self.carves[..self.carve_len]
    }

    /// The smallest boundary (entry start or end) strictly above `pos`.
    fn next_boundary(&self, pos: u64) -> Option<u64> {
        self.raw()
            .iter()
            .chain(self.carves())
            .flat_map(|r| [r.base, r.end()])
            .filter(|&x| x > pos)
            .min()
    }

    /// The type of the elementary interval `[a, b)` plus a tag that keeps separate
    /// executable-and-modules carves apart; `None` for a hole.
    fn classify(&self, a: u64, b: u64) -> Option<(MemType, usize)> {
        let raw = self
            .raw()
            .iter()
            .filter(|r| r.covers(a, b))
            .map(|r| r.kind)
            .max_by_key(|k| k.priority())?;
        if raw != MemType::Usable {
            return Some((raw, 0));
        }
        let mut best: Option<(MemType, usize)> = None;
        for (i, c) in self.carves().iter().enumerate() {
            if c.covers(a, b) && best.is_none_or(|(k, _)| c.kind.priority() > k.priority()) {
                best = Some((c.kind, i + 1));
            }
        }
        Some(match best {
            Some((MemType::ExecutableAndModules, tag)) => (MemType::ExecutableAndModules, tag),
            Some((kind, _)) => (kind, 0),
            None => (MemType::Usable, 0),
        })
    }

    /// Produces the sanitised map into `out` (replacing its contents).
    pub fn build<const OUT: usize>(&self, out: &mut MemoryMap<OUT>) -> Result<(), MemMapError> {
        out.len = 0;
        let Some(mut pos) = self.raw().iter().map(|r| r.base).min() else {
            return Ok(());
        };
        let mut prev_tag = usize::MAX;
        while let Some(next) = self.next_boundary(pos) {
            if let Some((kind, tag)) = self.classify(pos, next) {
                let merged = match out.entries[..out.len].last_mut() {
                    Some(last) if last.end() == pos && last.kind == kind && prev_tag == tag => {
                        last.length += next - pos;
                        true
                    }
                    _ => false,
                };
                if !merged {
                    out.push(Region::new(pos, next - pos, kind))?;
                    prev_tag = tag;
                }
            }
            pos = next;
        }
        out.align_inward();
        Ok(())
    }
}

/// A sanitised Limine memory map.
#[derive(Clone, Debug)]
pub struct MemoryMap<const N: usize> {
    entries: [Region; N],
    len: usize,
}

impl<const N: usize> Default for MemoryMap<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> MemoryMap<N> {
    /// An empty map.
    pub const fn new() -> Self {
        MemoryMap {
            entries: [Region::EMPTY; N],
            len: 0,
        }
    }

    /// The entries, sorted by base and disjoint.
    pub fn entries(&self) -> &[Region] {
        &self.entries[..self.len]
    }

    fn push(&mut self, r: Region) -> Result<(), MemMapError> {
        let slot = self
            .entries
            .get_mut(self.len)
            .ok_or(MemMapError::OutputFull)?;
        *slot = r;
        self.len += 1;
        Ok(())
    }

    /// Shrinks page-aligned types to whole pages and drops what becomes empty.
    fn align_inward(&mut self) {
        let mut w = 0;
        for i in 0..self.len {
            let mut r = self.entries[i];
            if r.kind.page_aligned() {
                let base = align_up(r.base, PAGE_SIZE);
                let end = align_down(r.end(), PAGE_SIZE);
                if end <= base {
                    continue;
                }
                r = Region::new(base, end - base, r.kind);
            }
            self.entries[w] = r;
            w += 1;
        }
        self.len = w;
    }

    /// Usable entries.
    pub fn usable(&self) -> impl Iterator<Item = Region> + '_ {
        self.entries()
            .iter()
            .copied()
            .filter(|r| r.kind == MemType::Usable)
    }

    /// Whether `[base, base + len)` lies entirely inside one usable entry.
    pub fn is_usable(&self, base: u64, len: u64) -> bool {
        let end = base.saturating_add(len);
        self.usable().any(|r| r.base <= base && r.end() >= end)
    }

    /// The entry containing `addr`, if any.
    pub fn find(&self, addr: u64) -> Option<Region> {
        self.entries()
            .iter()
            .copied()
            .find(|r| r.base <= addr && addr < r.end())
    }

    /// Writes the page-aligned ranges `(start, end)` the HHDM must map, i.e. the union of
    /// the entries real Limine maps (usable, bootloader-reclaimable,
    /// executable-and-modules, framebuffer), adjacent ones merged so that large pages can
    /// span them. Returns how many were written, or `None` if `out` is too small.
    pub fn hhdm_ranges(&self, out: &mut [(u64, u64)]) -> Option<usize> {
        let mut n = 0;
        for r in self.entries().iter().filter(|r| r.kind.in_hhdm()) {
            let start = align_down(r.base, PAGE_SIZE);
            let end = align_up(r.end(), PAGE_SIZE);
            if n > 0 && out[n - 1].1 >= start {
                out[n - 1].1 = out[n - 1].1.max(end);
            } else {
                *out.get_mut(n)? = (start, end);
                n += 1;
            }
        }
        Some(n)
    }

    /// Checks the invariants the Limine specification promises (used by tests and by the
    /// loader as a last sanity check).
    pub fn is_well_formed(&self) -> bool {
        let e = self.entries();
        e.iter().all(|r| r.length > 0)
            && e.windows(2).all(|w| w[0].end() <= w[1].base)
            && e.iter()
                .filter(|r| r.kind.page_aligned())
                .all(|r| r.base.is_multiple_of(PAGE_SIZE) && r.length.is_multiple_of(PAGE_SIZE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MemType::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    type B = Builder<32, 16>;

    fn build(b: &B) -> Vec<(u64, u64, MemType)> {
        let mut m = MemoryMap::<64>::new();
        b.build(&mut m).unwrap();
        assert!(m.is_well_formed(), "{:x?}", m.entries());
        m.entries()
            .iter()
            .map(|r| (r.base, r.end(), r.kind))
            .collect()
    }

    /// A qboot-style e820 list as seen through QEMU's multiboot info: unsorted, with
    /// zero-length type-0 entries mixed in.
    fn qboot_like(ram: u64) -> B {
        let mut b = B::new();
        b.add_raw(MIB, ram - MIB - 0x20000, Usable).unwrap();
        b.add_raw(0, 0, Usable).unwrap();
        b.add_raw(0xf0000, 0x10000, Reserved).unwrap();
        b.add_raw(0, 0x9fc00, Usable).unwrap();
        b.add_raw(0, 0, Usable).unwrap();
        b.add_raw(0x9fc00, 0x400, Reserved).unwrap();
        b.add_raw(ram - 0x20000, 0x20000, Reserved).unwrap();
        b.add_raw(0xfffc_0000, 0x40000, Reserved).unwrap();
        b
    }

    #[test]
    fn qboot_like_map_is_sorted_aligned_and_holes_kept() {
        let b = qboot_like(128 * MIB);
        assert_eq!(b.raw().len(), 6, "zero-length entries dropped");
        assert_eq!(
            build(&b),
            vec![
                (0, 0x9f000, Usable),
                (0x9fc00, 0xa0000, Reserved),
                (0xf0000, MIB, Reserved),
                (MIB, 128 * MIB - 0x20000, Usable),
                (128 * MIB - 0x20000, 128 * MIB, Reserved),
                (0xfffc_0000, 0x1_0000_0000, Reserved),
            ]
        );
    }

    /// The e820 list qboot actually reports for `-m 8G` (captured through QEMU's
    /// multiboot info): unsorted, memory above 4 GiB, a trailing zero-length type-0 slot.
    #[test]
    fn real_qboot_8g_list() {
        let raw: [(u64, u64, u32); 8] = [
            (0x0, 0x9fc00, 1),
            (0x9fc00, 0x400, 2),
            (0xd0000, 0x20000, 4),
            (0xf0000, 0x10000, 2),
            (0xfd_0000_0000, 0x3_0000_0000, 2),
            (0x100000, 0xbff0_0000, 1),
            (0x1_0000_0000, 0x1_4000_0000, 1),
            (0x0, 0x0, 0),
        ];
        let mut b = B::new();
        for (base, len, t) in raw {
            b.add_raw(base, len, crate::multiboot::e820_type(t))
                .unwrap();
        }
        b.carve(0, 0x1000, Reserved).unwrap();
        assert_eq!(
            build(&b),
            vec![
                (0, 0x1000, Reserved),
                (0x1000, 0x9f000, Usable),
                (0x9fc00, 0xa0000, Reserved),
                (0xd0000, 0xf0000, AcpiNvs),
                (0xf0000, MIB, Reserved),
                (MIB, 3 * GIB, Usable),
                (4 * GIB, 9 * GIB, Usable),
                (0xfd_0000_0000, 0x100_0000_0000, Reserved),
            ]
        );
    }

    #[test]
    fn carving_page0_loader_kernel_modules_trampoline() {
        let mut b = qboot_like(256 * MIB);
        b.carve(0, 0x1000, Reserved).unwrap();
        b.carve(0x8000, 0x1000, BootloaderReclaimable).unwrap();
        b.carve(MIB, 0x20000, BootloaderReclaimable).unwrap(); // loader image
        b.carve(MIB + 0x20000, 0x5000, ExecutableAndModules)
            .unwrap(); // kernel file
        b.carve(MIB + 0x25000, 0x3000, ExecutableAndModules)
            .unwrap(); // initramfs
        let k = 256 * MIB - 0x20000 - 0x40000;
        b.carve(k, 0x40000, ExecutableAndModules).unwrap(); // loaded kernel
        b.carve(k - 0x10000, 0x10000, BootloaderReclaimable)
            .unwrap(); // tables, stacks
        b.carve(k - 0x14000, 0x4000, BootloaderReclaimable).unwrap(); // adjacent: merges
        assert_eq!(
            build(&b),
            vec![
                (0, 0x1000, Reserved),
                (0x1000, 0x8000, Usable),
                (0x8000, 0x9000, BootloaderReclaimable),
                (0x9000, 0x9f000, Usable),
                (0x9fc00, 0xa0000, Reserved),
                (0xf0000, MIB, Reserved),
                (MIB, MIB + 0x20000, BootloaderReclaimable),
                (MIB + 0x20000, MIB + 0x25000, ExecutableAndModules),
                (MIB + 0x25000, MIB + 0x28000, ExecutableAndModules),
                (MIB + 0x28000, k - 0x14000, Usable),
                (k - 0x14000, k, BootloaderReclaimable),
                (k, k + 0x40000, ExecutableAndModules),
                (k + 0x40000, 256 * MIB, Reserved),
                (0xfffc_0000, 0x1_0000_0000, Reserved),
            ]
        );
    }

    #[test]
    fn overlaps_resolve_to_higher_priority() {
        let mut b = B::new();
        b.add_raw(0x10000, 0x10000, Usable).unwrap();
        b.add_raw(0x18000, 0x10000, AcpiReclaimable).unwrap();
        b.add_raw(0x1c000, 0x1000, AcpiNvs).unwrap();
        b.add_raw(0x20000, 0x20000, Usable).unwrap();
        b.add_raw(0x30000, 0x800, Reserved).unwrap();
        b.add_raw(0x3f000, 0x1000, BadMemory).unwrap();
        assert_eq!(
            build(&b),
            vec![
                (0x10000, 0x18000, Usable),
                (0x18000, 0x1c000, AcpiReclaimable),
                (0x1c000, 0x1d000, AcpiNvs),
                (0x1d000, 0x28000, AcpiReclaimable),
                (0x28000, 0x30000, Usable),
                (0x30000, 0x30800, Reserved),
                (0x31000, 0x3f000, Usable),
                (0x3f000, 0x40000, BadMemory),
            ]
        );
    }

    #[test]
    fn duplicate_and_overlapping_usable_entries_merge() {
        let mut b = B::new();
        b.add_raw(0x100000, 0x100000, Usable).unwrap();
        b.add_raw(0x100000, 0x100000, Usable).unwrap();
        b.add_raw(0x180000, 0x100000, Usable).unwrap();
        b.add_raw(0x280000, 0x1000, Usable).unwrap(); // adjacent
        assert_eq!(build(&b), vec![(0x100000, 0x281000, Usable)]);
    }

    #[test]
    fn unaligned_usable_shrinks_inward_and_tiny_ones_vanish() {
        let mut b = B::new();
        b.add_raw(0x1234, 0x3000, Usable).unwrap();
        b.add_raw(0x10010, 0xff0, Usable).unwrap(); // less than a page once aligned
        b.add_raw(0x20000, 0x10, Reserved).unwrap(); // reserved keeps its bytes
        assert_eq!(
            build(&b),
            vec![(0x2000, 0x4000, Usable), (0x20000, 0x20010, Reserved)]
        );
    }

    #[test]
    fn carves_do_not_invent_memory_or_override_firmware_types() {
        let mut b = B::new();
        b.add_raw(0x100000, 0x10000, Usable).unwrap();
        b.add_raw(0x110000, 0x1000, AcpiNvs).unwrap();
        // Extends past usable into ACPI NVS and then into a hole.
        b.carve(0x10e000, 0x10000, BootloaderReclaimable).unwrap();
        assert_eq!(
            build(&b),
            vec![
                (0x100000, 0x10e000, Usable),
                (0x10e000, 0x110000, BootloaderReclaimable),
                (0x110000, 0x111000, AcpiNvs),
            ]
        );
    }

    #[test]
    fn overlapping_carves_use_priority() {
        let mut b = B::new();
        b.add_raw(0, 0x10000, Usable).unwrap();
        b.carve(0, 0x1000, Reserved).unwrap();
        b.carve(0, 0x4000, BootloaderReclaimable).unwrap();
        b.carve(0x2000, 0x1000, ExecutableAndModules).unwrap();
        assert_eq!(
            build(&b),
            vec![
                (0, 0x1000, Reserved),
                (0x1000, 0x2000, BootloaderReclaimable),
                (0x2000, 0x3000, ExecutableAndModules),
                (0x3000, 0x4000, BootloaderReclaimable),
                (0x4000, 0x10000, Usable),
            ]
        );
    }

    #[test]
    fn unaligned_executable_entries_are_kept_as_is() {
        let mut b = B::new();
        b.add_raw(0, 0x10000, Usable).unwrap();
        b.carve(0x2000, 0x1234, ExecutableAndModules).unwrap();
        assert_eq!(
            build(&b),
            vec![
                (0, 0x2000, Usable),
                (0x2000, 0x3234, ExecutableAndModules),
                (0x4000, 0x10000, Usable),
            ]
        );
    }

    #[test]
    fn above_4gib_and_wrapping_entries() {
        let mut b = B::new();
        b.add_raw(0, 3 * GIB, Usable).unwrap();
        b.add_raw(4 * GIB, 5 * GIB, Usable).unwrap();
        b.add_raw(0xfd_0000_0000, 0x3_0000_0000, Reserved).unwrap();
        b.add_raw(u64::MAX - 0xfff, 0x10000, Reserved).unwrap(); // would wrap
        b.carve(0, 0x1000, Reserved).unwrap();
        assert_eq!(
            build(&b),
            vec![
                (0, 0x1000, Reserved),
                (0x1000, 3 * GIB, Usable),
                (4 * GIB, 9 * GIB, Usable),
                (0xfd_0000_0000, 0x100_0000_0000, Reserved),
                (u64::MAX - 0xfff, u64::MAX, Reserved),
            ]
        );
    }

    #[test]
    fn capacities_are_reported() {
        let mut b = Builder::<2, 1>::new();
        b.add_raw(0, 0x1000, Usable).unwrap();
        b.add_raw(0x2000, 0x1000, Usable).unwrap();
        b.add_raw(0x2000, 0, Usable).unwrap(); // zero length needs no slot
        assert_eq!(b.add_raw(0x4000, 0x1000, Usable), Err(MemMapError::RawFull));
        b.carve(0, 0x1000, Reserved).unwrap();
        assert_eq!(b.carve(0, 0x1000, Reserved), Err(MemMapError::CarvesFull));
        let mut small = MemoryMap::<1>::new();
        assert_eq!(b.build(&mut small), Err(MemMapError::OutputFull));
        let mut empty = MemoryMap::<4>::new();
        B::new().build(&mut empty).unwrap();
        assert!(empty.entries().is_empty());
    }

    #[test]
    fn hhdm_ranges_cover_only_ram_types_and_merge() {
        let mut b = qboot_like(128 * MIB);
        b.carve(0, 0x1000, Reserved).unwrap();
        b.carve(MIB, 0x20000, BootloaderReclaimable).unwrap();
        b.carve(MIB + 0x20000, 0x1234, ExecutableAndModules)
            .unwrap();
        let mut m = MemoryMap::<64>::new();
        b.build(&mut m).unwrap();
        let mut out = [(0, 0); 8];
        let n = m.hhdm_ranges(&mut out).unwrap();
        assert_eq!(&out[..n], &[(0x1000, 0x9f000), (MIB, 128 * MIB - 0x20000)]);
        assert!(m.hhdm_ranges(&mut out[..1]).is_none());
        assert!(m.is_usable(0x2000, 0x1000));
        assert!(!m.is_usable(0x9e000, 0x2000));
        assert_eq!(m.find(0x9fc00).unwrap().kind, Reserved);
        assert_eq!(m.find(0xa0000), None);
    }
}
