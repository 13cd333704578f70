//! The MMIO / firmware window: device registers and ACPI tables mapped outside the HHDM.
//!
//! Real Limine's HHDM does not map reserved, ACPI or MMIO ranges, so the kernel maps them
//! itself, here, with the right memory type:
//! - device registers: writable, uncached (PCD|PWT = PAT entry 3, UC with Limine's and
//!   the power-on PAT), no-execute, global;
//! - firmware tables: read-only, write-back, no-execute, global.
//!
//! Mappings are permanent and cached: a request whose pages are already mapped with the
//! same kind returns the existing virtual address. Each new mapping is followed by one
//! unmapped page, so running off the end of a device window faults instead of reaching
//! the next device. Space is handed out by a bump pointer (mappings are never removed).

use alloc::vec::Vec;

use crate::layout::{PAGE_SIZE, align_down, align_up};
use crate::paging::{MapError, pte};

/// What a window mapping is for (selects the page attributes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    /// Device registers: RW, uncached, NX.
    Mmio,
    /// Firmware tables: RO, cacheable, NX.
    Firmware,
}

impl MapKind {
    /// Leaf flags for this kind (PRESENT is added by the mapper).
    pub const fn flags(self) -> u64 {
        match self {
            MapKind::Mmio => {
                pte::WRITABLE | pte::NO_CACHE | pte::WRITE_THROUGH | pte::NO_EXECUTE | pte::GLOBAL
            }
            MapKind::Firmware => pte::NO_EXECUTE | pte::GLOBAL,
        }
    }
}

/// Errors from [`Window::map`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowError {
    /// `phys + size` overflows or exceeds the physical address space.
    BadRange,
    /// The window is full.
    Exhausted,
    /// Mapping a page failed.
    Map(MapError),
}

#[derive(Clone, Copy, Debug)]
struct Mapping {
    phys: u64,
    phys_end: u64,
    virt: u64,
    kind: MapKind,
}

/// Bookkeeping of the window; the page-table edits are done by a callback.
#[derive(Debug)]
pub struct Window {
    next: u64,
    end: u64,
    maps: Vec<Mapping>,
}

impl Window {
    /// A window over `[base, end)`.
    pub const fn new(base: u64, end: u64) -> Self {
        Window {
            next: base,
            end,
            maps: Vec::new(),
        }
    }

    /// Number of distinct mappings made.
    pub fn mappings(&self) -> usize {
        self.maps.len()
    }

    /// Returns the virtual address of `phys` in the window, mapping `[phys, phys + size)`
    /// (whole pages) with `map_page(virt, phys)` if no existing mapping of the same kind
    /// covers it. On a failed `map_page`, the pages mapped so far stay mapped but unused
    /// (the window space is not reused).
    pub fn map(
        &mut self,
        phys: u64,
        size: u64,
        kind: MapKind,
        map_page: &mut dyn FnMut(u64, u64) -> Result<(), MapError>,
    ) -> Result<u64, WindowError> {
        let end = phys.checked_add(size.max(1)).ok_or(WindowError::BadRange)?;
        if end > crate::layout::MAX_PHYS {
            return Err(WindowError::BadRange);
        }
        let start = align_down(phys, PAGE_SIZE);
        let end = align_up(end, PAGE_SIZE).ok_or(WindowError::BadRange)?;
        if let Some(m) = self
            .maps
            .iter()
            .find(|m| m.kind == kind && m.phys <= start && end <= m.phys_end)
        {
            return Ok(m.virt + (phys - m.phys));
        }
        let len = end - start;
        // One unmapped page after the mapping.
        if self.end - self.next < len + PAGE_SIZE {
            return Err(WindowError::Exhausted);
        }
        let virt = self.next;
        self.next += len + PAGE_SIZE;
        for off in (0..len).step_by(PAGE_SIZE as usize) {
            map_page(virt + off, start + off).map_err(WindowError::Map)?;
        }
        self.maps.push(Mapping {
            phys: start,
            phys_end: end,
            virt,
            kind,
        });
        Ok(virt + (phys - start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_pages_and_caches() {
        let mut w = Window::new(0x1000_0000, 0x1010_0000);
        let mut pages = Vec::new();
        let mut mapper = |v: u64, p: u64| {
            pages.push((v, p));
            Ok(())
        };
        // Unaligned, crossing a page boundary: two pages.
        let a = w
            .map(0xfee0_0ff0, 0x20, MapKind::Mmio, &mut mapper)
            .unwrap();
        assert_eq!(a, 0x1000_0ff0);
        // Inside the existing mapping: cached.
        let b = w.map(0xfee0_1000, 4, MapKind::Mmio, &mut mapper).unwrap();
        assert_eq!(b, 0x1000_1000);
        // Same pages, other kind: a separate mapping after the guard gap.
        let c = w
            .map(0xfee0_0000, 0, MapKind::Firmware, &mut mapper)
            .unwrap();
        assert_eq!(c, 0x1000_3000);
        // Larger than the cached one: a new mapping.
        let d = w
            .map(0xfee0_0000, 0x3000, MapKind::Mmio, &mut mapper)
            .unwrap();
        assert_eq!(d, 0x1000_5000);
        assert_eq!(w.mappings(), 3);
        assert_eq!(
            pages,
            vec![
                (0x1000_0000, 0xfee0_0000),
                (0x1000_1000, 0xfee0_1000),
                (0x1000_3000, 0xfee0_0000),
                (0x1000_5000, 0xfee0_0000),
                (0x1000_6000, 0xfee0_1000),
                (0x1000_7000, 0xfee0_2000),
            ]
        );
    }

    #[test]
    fn errors() {
        let mut w = Window::new(0x1000_0000, 0x1000_6000);
        let mut ok = |_: u64, _: u64| Ok(());
        assert_eq!(
            w.map(u64::MAX - 5, 10, MapKind::Mmio, &mut ok),
            Err(WindowError::BadRange)
        );
        assert_eq!(
            w.map(1 << 52, 1, MapKind::Mmio, &mut ok),
            Err(WindowError::BadRange)
        );
        assert_eq!(
            w.map(0, 0x6000, MapKind::Mmio, &mut ok),
            Err(WindowError::Exhausted)
        );
        let mut fail = |_: u64, _: u64| Err(MapError::OutOfFrames);
        assert_eq!(
            w.map(0, 1, MapKind::Mmio, &mut fail),
            Err(WindowError::Map(MapError::OutOfFrames))
        );
        assert_eq!(w.mappings(), 0);
        // The failed attempt's space (page + gap) is abandoned, not reused.
        assert_eq!(
            w.map(0x5000, 0x2000, MapKind::Mmio, &mut ok),
            Ok(0x1000_2000)
        );
        assert_eq!(
            w.map(0x9000, 1, MapKind::Mmio, &mut ok),
            Err(WindowError::Exhausted)
        );
    }
}
