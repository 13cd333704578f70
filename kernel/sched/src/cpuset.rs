//! CPU sets: a bitmask over at most [`MAX_CPUS`] CPUs.
//!
//! Used for thread affinity masks and for the scheduler's idle mask. A `CpuSet` is a
//! plain value (`Copy`); the scheduler stores it in an `AtomicU64` where it must be
//! shared.

use core::fmt;

/// The largest number of CPUs the scheduler supports (one bit each in a `u64`).
pub const MAX_CPUS: usize = 64;

/// A set of CPU indices in `0..MAX_CPUS`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CpuSet(u64);

impl CpuSet {
    /// The empty set.
    pub const EMPTY: CpuSet = CpuSet(0);

    /// Every CPU index representable (`0..MAX_CPUS`).
    pub const FULL: CpuSet = CpuSet(u64::MAX);

    /// The set `0..n` (all of `0..MAX_CPUS` when `n >= MAX_CPUS`).
    pub const fn first_n(n: usize) -> CpuSet {
        if n >= MAX_CPUS {
            CpuSet(u64::MAX)
        } else {
            CpuSet((1u64 << n) - 1)
        }
    }

    /// The set holding only `cpu` (empty when `cpu >= MAX_CPUS`).
    pub const fn single(cpu: usize) -> CpuSet {
        if cpu >= MAX_CPUS {
            CpuSet(0)
        } else {
            CpuSet(1u64 << cpu)
        }
    }

    /// Builds a set from its bitmask (bit `i` = CPU `i`).
    pub const fn from_bits(bits: u64) -> CpuSet {
        CpuSet(bits)
    }

    /// The bitmask (bit `i` = CPU `i`); the layout of Linux's `cpu_set_t` first word.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether `cpu` is in the set (false for `cpu >= MAX_CPUS`).
    pub const fn contains(self, cpu: usize) -> bool {
        cpu < MAX_CPUS && self.0 & (1u64 << cpu) != 0
    }

    /// Adds `cpu` (ignored when `cpu >= MAX_CPUS`).
    pub fn insert(&mut self, cpu: usize) {
        *self = self.union(CpuSet::single(cpu));
    }

    /// Removes `cpu`.
    pub fn remove(&mut self, cpu: usize) {
        self.0 &= !CpuSet::single(cpu).0;
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of CPUs in the set.
    pub const fn count(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The lowest CPU in the set.
    pub const fn first(self) -> Option<usize> {
        if self.0 == 0 {
            None
        } else {
            Some(self.0.trailing_zeros() as usize)
        }
    }

    /// The first CPU in the set at or after `start`, wrapping around to the lowest
    /// one: a cyclic search used to spread placements instead of always favouring
    /// CPU 0.
    pub const fn first_from(self, start: usize) -> Option<usize> {
        let start = start % MAX_CPUS;
        let high = self.0 & (u64::MAX << start);
        if high != 0 {
            Some(high.trailing_zeros() as usize)
        } else {
            self.first()
        }
    }

    /// Set intersection.
    pub const fn intersection(self, other: CpuSet) -> CpuSet {
        CpuSet(self.0 & other.0)
    }

    /// Set union.
    pub const fn union(self, other: CpuSet) -> CpuSet {
        CpuSet(self.0 | other.0)
    }

    /// Iterates over the CPUs in ascending order.
    pub const fn iter(self) -> CpuSetIter {
        CpuSetIter(self.0)
    }
}

impl fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Iterator over the CPUs of a [`CpuSet`], ascending.
#[derive(Clone, Debug)]
pub struct CpuSetIter(u64);

impl Iterator for CpuSetIter {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let cpu = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(cpu)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.0.count_ones() as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for CpuSetIter {}

impl IntoIterator for CpuSet {
    type Item = usize;
    type IntoIter = CpuSetIter;

    fn into_iter(self) -> CpuSetIter {
        self.iter()
    }
}

impl FromIterator<usize> for CpuSet {
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> CpuSet {
        let mut set = CpuSet::EMPTY;
        for cpu in iter {
            set.insert(cpu);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn basic_ops() {
        let mut s = CpuSet::EMPTY;
        assert!(s.is_empty());
        assert_eq!(s.first(), None);
        s.insert(3);
        s.insert(0);
        s.insert(63);
        s.insert(64); // ignored
        assert_eq!(s.count(), 3);
        assert!(s.contains(0) && s.contains(3) && s.contains(63));
        assert!(!s.contains(1) && !s.contains(64));
        assert_eq!(s.first(), Some(0));
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 3, 63]);
        s.remove(0);
        assert_eq!(s.first(), Some(3));
        assert_eq!(s.iter().len(), 2);
    }

    #[test]
    fn first_n_and_set_algebra() {
        assert_eq!(CpuSet::first_n(0), CpuSet::EMPTY);
        assert_eq!(CpuSet::first_n(4).bits(), 0b1111);
        assert_eq!(CpuSet::first_n(64), CpuSet::FULL);
        assert_eq!(CpuSet::first_n(100), CpuSet::FULL);
        let a: CpuSet = [1, 2, 5].into_iter().collect();
        let b: CpuSet = [2, 5, 7].into_iter().collect();
        assert_eq!(a.intersection(b).iter().collect::<Vec<_>>(), [2, 5]);
        assert_eq!(a.union(b).iter().collect::<Vec<_>>(), [1, 2, 5, 7]);
        assert_eq!(CpuSet::single(64), CpuSet::EMPTY);
        assert_eq!(alloc::format!("{a:?}"), "{1, 2, 5}");
    }

    #[test]
    fn cyclic_search() {
        let s: CpuSet = [1, 4, 6].into_iter().collect();
        assert_eq!(s.first_from(0), Some(1));
        assert_eq!(s.first_from(2), Some(4));
        assert_eq!(s.first_from(4), Some(4));
        assert_eq!(s.first_from(5), Some(6));
        assert_eq!(s.first_from(7), Some(1));
        assert_eq!(s.first_from(64), Some(1));
        assert_eq!(CpuSet::EMPTY.first_from(3), None);
    }
}
