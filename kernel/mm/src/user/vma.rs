//! Virtual memory areas: the pure bookkeeping of an address space's mappings.
//!
//! A [`VmaSet`] is a `BTreeMap` of non-overlapping, page-aligned [`Vma`]s keyed by start
//! address. Everything here is integer and map arithmetic (host-tested); page tables and
//! frames are the address space's business ([`super::aspace`]).
//!
//! Neighbouring VMAs that could be one (same protection and flags, both private, or the
//! same shared object at consecutive page offsets) are merged after every change, so a
//! program that grows its heap page by page or flips protections back and forth keeps a
//! small map.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use weft_abi::mman::{PROT_EXEC, PROT_READ, PROT_WRITE};

use super::shared::SharedAnon;
use crate::layout::PAGE_SIZE;

/// The protection bits a VMA keeps.
pub const PROT_RWX: u32 = PROT_READ | PROT_WRITE | PROT_EXEC;

/// VMA flag: not copied into a `fork` child (`MADV_DONTFORK`).
pub const VMA_DONTFORK: u32 = 1 << 0;
/// VMA flag: a `fork` child gets fresh zero pages here (`MADV_WIPEONFORK`).
pub const VMA_WIPEONFORK: u32 = 1 << 1;

/// What kind of access a fault or a kernel access makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Exec,
}

/// What backs a VMA.
#[derive(Clone)]
pub enum Backing {
    /// Private anonymous memory: demand-zero, copy-on-write after `fork`.
    Private,
    /// Shared anonymous memory (`MAP_SHARED | MAP_ANONYMOUS`): page `i` of the VMA is page
    /// `pgoff + i` of `obj`, which every mapping of it (also across `fork`) shares.
    Shared {
        /// The shared object.
        obj: Arc<SharedAnon>,
        /// Page offset of the VMA's first page in `obj`.
        pgoff: u64,
    },
}

/// One mapping: `[start, end)`, page-aligned and non-empty.
#[derive(Clone)]
pub struct Vma {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// `PROT_READ | PROT_WRITE | PROT_EXEC` subset.
    pub prot: u32,
    /// `VMA_*` flags.
    pub flags: u32,
    /// Backing memory.
    pub backing: Backing,
}

impl fmt::Debug for Vma {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = |bit, c| if self.prot & bit != 0 { c } else { '-' };
        write!(
            f,
            "[{:#x}, {:#x}) {}{}{}",
            self.start,
            self.end,
            p(PROT_READ, 'r'),
            p(PROT_WRITE, 'w'),
            p(PROT_EXEC, 'x')
        )?;
        match &self.backing {
            Backing::Private => write!(f, " private")?,
            Backing::Shared { obj, pgoff } => {
                write!(f, " shared#{} +{pgoff}", obj.id())?;
            }
        }
        if self.flags != 0 {
            write!(f, " flags {:#x}", self.flags)?;
        }
        Ok(())
    }
}

impl Vma {
    /// A private anonymous VMA.
    pub fn private(start: u64, end: u64, prot: u32) -> Vma {
        Vma {
            start,
            end,
            prot: prot & PROT_RWX,
            flags: 0,
            backing: Backing::Private,
        }
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Always false (VMAs are never empty); for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// True for shared anonymous memory.
    pub fn is_shared(&self) -> bool {
        matches!(self.backing, Backing::Shared { .. })
    }

    /// Whether the VMA's protection allows `access` (x86: write and exec imply read).
    pub fn allows(&self, access: Access) -> bool {
        match access {
            Access::Read => self.prot & PROT_RWX != 0,
            Access::Write => self.prot & PROT_WRITE != 0,
            Access::Exec => self.prot & PROT_EXEC != 0,
        }
    }

    /// The shared object and page index behind `va`, for shared VMAs.
    pub fn shared_page(&self, va: u64) -> Option<(&Arc<SharedAnon>, u64)> {
        match &self.backing {
            Backing::Shared { obj, pgoff } => Some((obj, pgoff + (va - self.start) / PAGE_SIZE)),
            Backing::Private => None,
        }
    }

    /// Cuts `self` at `at` (strictly inside): `self` keeps `[start, at)`, the result is
    /// `[at, end)`.
    fn split_off(&mut self, at: u64) -> Vma {
        debug_assert!(self.start < at && at < self.end && at.is_multiple_of(PAGE_SIZE));
        let mut upper = self.clone();
        upper.start = at;
        if let Backing::Shared { pgoff, .. } = &mut upper.backing {
            *pgoff += (at - self.start) / PAGE_SIZE;
        }
        self.end = at;
        upper
    }

    /// True if `next` directly follows `self` and both could be one VMA.
    pub fn can_merge(&self, next: &Vma) -> bool {
        if self.end != next.start || self.prot != next.prot || self.flags != next.flags {
            return false;
        }
        match (&self.backing, &next.backing) {
            (Backing::Private, Backing::Private) => true,
            (Backing::Shared { obj: a, pgoff: pa }, Backing::Shared { obj: b, pgoff: pb }) => {
                Arc::ptr_eq(a, b) && pa + self.len() / PAGE_SIZE == *pb
            }
            _ => false,
        }
    }
}

/// The VMAs of one address space.
#[derive(Default)]
pub struct VmaSet {
    map: BTreeMap<u64, Vma>,
}

impl VmaSet {
    /// An empty set.
    pub const fn new() -> Self {
        VmaSet {
            map: BTreeMap::new(),
        }
    }

    /// Number of VMAs.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if there are no VMAs.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// All VMAs in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Vma> {
        self.map.values()
    }

    /// The VMA containing `addr`.
    pub fn find(&self, addr: u64) -> Option<&Vma> {
        self.map
            .range(..=addr)
            .next_back()
            .map(|(_, v)| v)
            .filter(|v| addr < v.end)
    }

    /// The VMAs overlapping `[start, end)`, in address order.
    pub fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = &Vma> {
        let first = self
            .map
            .range(..start)
            .next_back()
            .filter(|(_, v)| v.end > start)
            .map(|(&s, _)| s)
            .unwrap_or(start);
        self.map
            .range(first..end.max(first))
            .map(|(_, v)| v)
            .filter(move |v| v.end > start && v.start < end)
    }

    /// True if some VMA overlaps `[start, end)`.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.overlapping(start, end).next().is_some()
    }

    /// True if `[start, end)` is completely covered by VMAs (no hole).
    pub fn covered(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        for v in self.overlapping(start, end) {
            if v.start > at {
                return false;
            }
            at = v.end;
        }
        at >= end
    }

    /// Number of VMAs after removing `[start, end)` (straddling VMAs leave pieces).
    pub fn count_after_unmap(&self, start: u64, end: u64) -> usize {
        let mut n = self.len();
        for v in self.overlapping(start, end) {
            n -= 1;
            n += (v.start < start) as usize + (v.end > end) as usize;
        }
        n
    }

    /// Number of VMAs after cutting at `start` and `end` (no merging counted).
    pub fn count_after_split(&self, start: u64, end: u64) -> usize {
        let mut n = self.len();
        for v in self.overlapping(start, end) {
            n += (v.start < start) as usize + (v.end > end) as usize;
        }
        n
    }

    /// Number of VMAs after mapping `new` over whatever is there (merges counted).
    pub fn count_after_map(&self, new: &Vma) -> usize {
        let mut n = self.count_after_unmap(new.start, new.end) + 1;
        // The pieces left of and right of `new` after the unmap, as they would be.
        let left = self
            .map
            .range(..new.start)
            .next_back()
            .map(|(_, v)| v)
            .filter(|v| v.end >= new.start);
        if let Some(l) = left {
            let mut l = l.clone();
            if l.end > new.start {
                l.split_off(new.start);
            }
            n -= l.can_merge(new) as usize;
        }
        let right = self
            .map
            .range(..=new.end)
            .next_back()
            .map(|(_, v)| v)
            .filter(|v| v.end > new.end);
        if let Some(r) = right {
            let mut r = r.clone();
            let piece = if r.start < new.end {
                r.split_off(new.end)
            } else {
                r
            };
            n -= new.can_merge(&piece) as usize;
        }
        n
    }

    /// Makes `addr` a VMA boundary if it lies strictly inside a VMA.
    pub fn split_at(&mut self, addr: u64) {
        let Some((_, v)) = self.map.range_mut(..addr).next_back() else {
            return;
        };
        if v.end > addr {
            let upper = v.split_off(addr);
            self.map.insert(addr, upper);
        }
    }

    /// Removes `[start, end)` from the set, splitting straddling VMAs; returns the removed
    /// pieces in address order.
    pub fn remove_range(&mut self, start: u64, end: u64) -> Vec<Vma> {
        self.split_at(start);
        self.split_at(end);
        let keys: Vec<u64> = self.map.range(start..end).map(|(&k, _)| k).collect();
        keys.iter().filter_map(|k| self.map.remove(k)).collect()
    }

    /// Inserts `vma` (which must not overlap anything) and merges it with neighbours.
    pub fn insert(&mut self, vma: Vma) {
        debug_assert!(vma.start < vma.end && !self.overlaps(vma.start, vma.end));
        let (s, e) = (vma.start, vma.end);
        self.map.insert(s, vma);
        self.merge_at(e);
        self.merge_at(s);
    }

    /// Merges the VMA ending at `addr` with the one starting there, if they are
    /// compatible.
    pub fn merge_at(&mut self, addr: u64) {
        let Some(next) = self.map.get(&addr) else {
            return;
        };
        let Some((&pk, prev)) = self.map.range(..addr).next_back() else {
            return;
        };
        if prev.can_merge(next) {
            let end = next.end;
            self.map.remove(&addr);
            if let Some(p) = self.map.get_mut(&pk) {
                p.end = end;
            }
        }
    }

    /// Applies `f` to every VMA piece inside `[start, end)` (splitting at the ends), then
    /// merges what became compatible.
    pub fn update_range(&mut self, start: u64, end: u64, mut f: impl FnMut(&mut Vma)) {
        self.split_at(start);
        self.split_at(end);
        let mut bounds = Vec::new();
        for (_, v) in self.map.range_mut(start..end) {
            f(v);
            bounds.push(v.start);
        }
        bounds.push(end);
        for b in bounds.into_iter().rev() {
            self.merge_at(b);
        }
    }

    /// The free gap around the free range `[start, end)`: from the end of the VMA below
    /// (or 0) to the start of the VMA above (or `limit`).
    pub fn gap_around(&self, start: u64, end: u64, limit: u64) -> (u64, u64) {
        let lo = self
            .map
            .range(..start)
            .next_back()
            .map_or(0, |(_, v)| v.end);
        let hi = self.map.range(end..).next().map_or(limit, |(&s, _)| s);
        (lo.min(start), hi.max(end))
    }

    /// Highest `len`-byte free range inside `[low, high)`; returns its start.
    pub fn find_free_topdown(&self, len: u64, low: u64, high: u64) -> Option<u64> {
        if len == 0 || high < low || high - low < len {
            return None;
        }
        let mut hi = high;
        for v in self.map.range(..high).rev().map(|(_, v)| v) {
            if v.end < hi {
                let gap_lo = v.end.max(low);
                if hi >= gap_lo && hi - gap_lo >= len {
                    return Some(hi - len);
                }
            }
            hi = hi.min(v.start);
            if hi <= low {
                return None;
            }
        }
        (hi - low >= len).then(|| hi - len)
    }

    /// Lowest `len`-byte free range inside `[low, high)`; returns its start.
    pub fn find_free_bottomup(&self, len: u64, low: u64, high: u64) -> Option<u64> {
        if len == 0 || high < low || high - low < len {
            return None;
        }
        let mut lo = low;
        if let Some((_, v)) = self.map.range(..low).next_back() {
            lo = lo.max(v.end);
        }
        for v in self.map.range(low..).map(|(_, v)| v) {
            if lo > high || high - lo < len {
                return None;
            }
            if v.start >= lo && v.start - lo >= len {
                return Some(lo);
            }
            lo = lo.max(v.end);
        }
        (lo <= high && high - lo >= len).then_some(lo)
    }

    /// Checks the set's invariants (tests and debug assertions).
    pub fn check(&self) -> Result<(), alloc::string::String> {
        let mut prev: Option<&Vma> = None;
        for (&k, v) in &self.map {
            if k != v.start
                || v.start >= v.end
                || !v.start.is_multiple_of(PAGE_SIZE)
                || !v.end.is_multiple_of(PAGE_SIZE)
            {
                return Err(alloc::format!("malformed VMA {v:?} under key {k:#x}"));
            }
            if let Some(p) = prev {
                if p.end > v.start {
                    return Err(alloc::format!("{p:?} overlaps {v:?}"));
                }
                if p.can_merge(v) {
                    return Err(alloc::format!("{p:?} and {v:?} should have merged"));
                }
            }
            prev = Some(v);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_abi::mman::PROT_NONE;

    const P: u64 = PAGE_SIZE;
    const RW: u32 = PROT_READ | PROT_WRITE;

    fn set(list: &[(u64, u64, u32)]) -> VmaSet {
        let mut s = VmaSet::new();
        for &(a, b, p) in list {
            s.insert(Vma::private(a * P, b * P, p));
        }
        s.check().unwrap();
        s
    }

    fn shape(s: &VmaSet) -> Vec<(u64, u64, u32)> {
        s.iter().map(|v| (v.start / P, v.end / P, v.prot)).collect()
    }

    #[test]
    fn insert_merges_neighbours() {
        let s = set(&[(10, 20, RW), (20, 30, RW), (40, 50, RW), (30, 40, RW)]);
        assert_eq!(shape(&s), [(10, 50, RW)]);
        let s = set(&[(10, 20, RW), (20, 30, PROT_READ), (30, 40, RW)]);
        assert_eq!(s.len(), 3);
        assert_eq!(s.find(25 * P).unwrap().prot, PROT_READ);
        assert!(s.find(40 * P).is_none() && s.find(9 * P).is_none());
        assert_eq!(s.find(39 * P + 4095).unwrap().start, 30 * P);
    }

    #[test]
    fn remove_range_splits() {
        let mut s = set(&[(10, 50, RW), (60, 70, PROT_READ)]);
        assert_eq!(s.count_after_unmap(20 * P, 30 * P), 3);
        let removed = s.remove_range(20 * P, 30 * P);
        assert_eq!(removed.len(), 1);
        assert_eq!((removed[0].start, removed[0].end), (20 * P, 30 * P));
        assert_eq!(shape(&s), [(10, 20, RW), (30, 50, RW), (60, 70, PROT_READ)]);
        // Across a hole and two VMAs.
        assert_eq!(s.count_after_unmap(40 * P, 65 * P), 3);
        let removed = s.remove_range(40 * P, 65 * P);
        assert_eq!(removed.len(), 2);
        assert_eq!(shape(&s), [(10, 20, RW), (30, 40, RW), (65, 70, PROT_READ)]);
        // Nothing there.
        assert!(s.remove_range(0, 5 * P).is_empty());
        s.check().unwrap();
    }

    #[test]
    fn update_range_splits_and_remerges() {
        let mut s = set(&[(10, 50, RW)]);
        assert_eq!(s.count_after_split(20 * P, 30 * P), 3);
        s.update_range(20 * P, 30 * P, |v| v.prot = PROT_NONE);
        assert_eq!(shape(&s), [(10, 20, RW), (20, 30, PROT_NONE), (30, 50, RW)]);
        s.check().unwrap();
        s.update_range(15 * P, 35 * P, |v| v.prot = RW);
        assert_eq!(shape(&s), [(10, 50, RW)]);
        assert!(s.covered(10 * P, 50 * P));
        assert!(!s.covered(9 * P, 50 * P));
        s.insert(Vma::private(60 * P, 70 * P, RW));
        assert!(!s.covered(10 * P, 70 * P));
        assert!(s.covered(60 * P, 61 * P));
    }

    #[test]
    fn shared_pieces_merge_only_when_contiguous() {
        let obj = SharedAnon::new(100).unwrap();
        let other = SharedAnon::new(100).unwrap();
        let sh = |a: u64, b: u64, o: &Arc<SharedAnon>, off: u64| Vma {
            start: a * P,
            end: b * P,
            prot: RW,
            flags: 0,
            backing: Backing::Shared {
                obj: o.clone(),
                pgoff: off,
            },
        };
        let mut s = VmaSet::new();
        s.insert(sh(10, 20, &obj, 0));
        s.insert(sh(20, 30, &obj, 10));
        assert_eq!(s.len(), 1);
        s.insert(sh(30, 40, &obj, 50)); // not contiguous in the object
        s.insert(sh(40, 50, &other, 30));
        s.insert(Vma::private(50 * P, 60 * P, RW));
        assert_eq!(s.len(), 4);
        // Splitting keeps page offsets right.
        s.update_range(15 * P, 16 * P, |v| v.prot = PROT_READ);
        let v = s.find(16 * P).unwrap();
        let (o, idx) = v.shared_page(17 * P).unwrap();
        assert!(Arc::ptr_eq(o, &obj));
        assert_eq!(idx, 7);
        assert_eq!(v.shared_page(16 * P).unwrap().1, 6);
        s.update_range(15 * P, 16 * P, |v| v.prot = RW);
        assert_eq!(s.len(), 4);
        s.check().unwrap();
    }

    #[test]
    fn count_after_map_counts_merges() {
        let s = set(&[(10, 20, RW), (30, 40, RW)]);
        assert_eq!(s.count_after_map(&Vma::private(20 * P, 30 * P, RW)), 1);
        assert_eq!(s.count_after_map(&Vma::private(20 * P, 25 * P, RW)), 2);
        assert_eq!(
            s.count_after_map(&Vma::private(20 * P, 25 * P, PROT_READ)),
            3
        );
        // Over the middle of one: left and right pieces stay, both merge.
        assert_eq!(s.count_after_map(&Vma::private(12 * P, 14 * P, RW)), 2);
        assert_eq!(
            s.count_after_map(&Vma::private(12 * P, 14 * P, PROT_READ)),
            4
        );
        assert_eq!(s.count_after_map(&Vma::private(50 * P, 60 * P, RW)), 3);
        assert_eq!(s.count_after_map(&Vma::private(15 * P, 35 * P, RW)), 1);
    }

    #[test]
    fn free_area_search() {
        let s = set(&[(10, 20, RW), (30, 40, RW), (45, 100, RW)]);
        // Top-down below 100: the gap [40, 45) fits 5 pages, [20, 30) 10.
        assert_eq!(s.find_free_topdown(5 * P, 0, 100 * P), Some(40 * P));
        assert_eq!(s.find_free_topdown(6 * P, 0, 100 * P), Some(24 * P));
        assert_eq!(s.find_free_topdown(11 * P, 0, 100 * P), None);
        assert_eq!(s.find_free_topdown(10 * P, 0, 100 * P), Some(20 * P));
        assert_eq!(s.find_free_topdown(10 * P, 5 * P, 15 * P), None);
        assert_eq!(s.find_free_topdown(5 * P, 5 * P, 15 * P), Some(5 * P));
        assert_eq!(s.find_free_topdown(P, 0, 200 * P), Some(199 * P));
        assert_eq!(s.find_free_topdown(100 * P, 0, 200 * P), Some(100 * P));
        // A high limit inside a VMA.
        assert_eq!(s.find_free_topdown(3 * P, 0, 35 * P), Some(27 * P));
        // Bottom-up.
        assert_eq!(s.find_free_bottomup(5 * P, 0, 200 * P), Some(0));
        assert_eq!(s.find_free_bottomup(5 * P, 12 * P, 200 * P), Some(20 * P));
        assert_eq!(s.find_free_bottomup(11 * P, 12 * P, 200 * P), Some(100 * P));
        assert_eq!(s.find_free_bottomup(5 * P, 41 * P, 200 * P), Some(100 * P));
        assert_eq!(s.find_free_bottomup(5 * P, 40 * P, 200 * P), Some(40 * P));
        assert_eq!(s.find_free_bottomup(101 * P, 0, 200 * P), None);
        assert_eq!(s.find_free_bottomup(P, 101 * P, 101 * P), None);
        // Gaps.
        assert_eq!(s.gap_around(21 * P, 22 * P, 1000 * P), (20 * P, 30 * P));
        assert_eq!(s.gap_around(0, P, 1000 * P), (0, 10 * P));
        assert_eq!(
            s.gap_around(100 * P, 101 * P, 1000 * P),
            (100 * P, 1000 * P)
        );
    }

    #[test]
    fn random_against_page_model() {
        // A page-granular model: prot per page (None = unmapped), over 64 pages.
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut model: [Option<u32>; 64] = [None; 64];
        let mut s = VmaSet::new();
        for _ in 0..5000 {
            let a = next() % 64;
            let b = (a + 1 + next() % 16).min(64);
            let prot = [PROT_NONE, PROT_READ, RW][(next() % 3) as usize];
            match next() % 3 {
                0 => {
                    s.remove_range(a * P, b * P);
                    s.insert(Vma::private(a * P, b * P, prot));
                    model[a as usize..b as usize].fill(Some(prot));
                }
                1 => {
                    s.remove_range(a * P, b * P);
                    model[a as usize..b as usize].fill(None);
                }
                _ => {
                    s.update_range(a * P, b * P, |v| v.prot = prot);
                    for m in &mut model[a as usize..b as usize] {
                        if m.is_some() {
                            *m = Some(prot);
                        }
                    }
                }
            }
            s.check().unwrap();
            for (i, m) in model.iter().enumerate() {
                assert_eq!(s.find(i as u64 * P).map(|v| v.prot), *m, "page {i}");
            }
            // The number of VMAs equals the number of runs in the model.
            let runs = (0..64)
                .filter(|&i| model[i].is_some() && (i == 0 || model[i - 1] != model[i]))
                .count();
            assert_eq!(s.len(), runs);
        }
    }
}
