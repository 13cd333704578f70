//! A virtual address range allocator (used for the kernel stack region).
//!
//! Space is handed out first-fit from a map of free holes, and from a bump pointer once
//! no hole fits. Freed ranges coalesce with neighbouring holes; a hole that reaches the
//! bump pointer is folded back into it, so the hole map stays small. Frees are checked:
//! a range outside the allocated space or overlapping a hole (a double free) is refused.
//!
//! The hole map is a `BTreeMap`, so allocation uses the heap; callers hold their own lock
//! (lock order: range lock, then heap, then frames).

use alloc::collections::BTreeMap;

/// Errors from [`VRangeAllocator::free`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VRangeError {
    /// The range is empty, misaligned, or not inside the allocated part of the region.
    OutOfBounds(u64),
    /// The range overlaps space that is already free.
    DoubleFree(u64),
}

/// First-fit range allocator over `[start, end)` with a fixed granularity.
#[derive(Debug)]
pub struct VRangeAllocator {
    start: u64,
    end: u64,
    granule: u64,
    /// Everything in `[bump, end)` is free.
    bump: u64,
    /// Free holes below `bump`: start -> end.
    holes: BTreeMap<u64, u64>,
    /// Bytes currently allocated.
    used: u64,
}

impl VRangeAllocator {
    /// An allocator for `[start, end)`; sizes and addresses are multiples of `granule`
    /// (a power of two; `start` and `end` must be multiples of it).
    pub const fn new(start: u64, end: u64, granule: u64) -> Self {
        VRangeAllocator {
            start,
            end,
            granule,
            bump: start,
            holes: BTreeMap::new(),
            used: 0,
        }
    }

    /// Bytes currently allocated.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Number of holes below the bump pointer (for diagnostics).
    pub fn holes(&self) -> usize {
        self.holes.len()
    }

    /// True if `addr` lies in the region.
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// Allocates `size` bytes (rounded up to the granule); returns the start address.
    pub fn alloc(&mut self, size: u64) -> Option<u64> {
        let size = size.checked_add(self.granule - 1)? & !(self.granule - 1);
        if size == 0 {
            return None;
        }
        let hole = self
            .holes
            .iter()
            .find(|&(&s, &e)| e - s >= size)
            .map(|(&s, &e)| (s, e));
        let addr = if let Some((s, e)) = hole {
            self.holes.remove(&s);
            if e - s > size {
                self.holes.insert(s + size, e);
            }
            s
        } else {
            if self.end - self.bump < size {
                return None;
            }
            let a = self.bump;
            self.bump += size;
            a
        };
        self.used += size;
        Some(addr)
    }

    /// Returns `[addr, addr + size)` (size rounded up to the granule).
    pub fn free(&mut self, addr: u64, size: u64) -> Result<(), VRangeError> {
        let size = size
            .checked_add(self.granule - 1)
            .ok_or(VRangeError::OutOfBounds(addr))?
            & !(self.granule - 1);
        let end = addr
            .checked_add(size)
            .ok_or(VRangeError::OutOfBounds(addr))?;
        if size == 0 || !addr.is_multiple_of(self.granule) || addr < self.start || end > self.bump {
            return Err(VRangeError::OutOfBounds(addr));
        }
        // The hole starting at or below `addr`, and the one just above.
        let below = self.holes.range(..=addr).next_back().map(|(&s, &e)| (s, e));
        let above = self.holes.range(addr..).next().map(|(&s, &e)| (s, e));
        if below.is_some_and(|(_, e)| e > addr) || above.is_some_and(|(s, _)| s < end) {
            return Err(VRangeError::DoubleFree(addr));
        }
        let mut new = (addr, end);
        if let Some((s, e)) = below
            && e == addr
        {
            self.holes.remove(&s);
            new.0 = s;
        }
        if let Some((s, e)) = above
            && s == end
        {
            self.holes.remove(&s);
            new.1 = e;
        }
        if new.1 == self.bump {
            self.bump = new.0;
        } else {
            self.holes.insert(new.0, new.1);
        }
        self.used -= size;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: u64 = 0x1000;

    #[test]
    fn bump_then_reuse() {
        let mut v = VRangeAllocator::new(0x10_0000, 0x20_0000, G);
        let a = v.alloc(5 * G).unwrap();
        let b = v.alloc(1).unwrap(); // rounded to one granule
        let c = v.alloc(5 * G).unwrap();
        assert_eq!((a, b, c), (0x10_0000, 0x10_5000, 0x10_6000));
        assert_eq!(v.used(), 11 * G);
        v.free(a, 5 * G).unwrap();
        assert_eq!(v.holes(), 1);
        // First fit takes the hole, splitting it.
        assert_eq!(v.alloc(2 * G), Some(a));
        assert_eq!(v.alloc(3 * G), Some(a + 2 * G));
        assert_eq!(v.holes(), 0);
        assert_eq!(v.alloc(0), None);
    }

    #[test]
    fn coalescing_and_bump_rollback() {
        let mut v = VRangeAllocator::new(0, 0x100 * G, G);
        let r: Vec<u64> = (0..8).map(|_| v.alloc(2 * G).unwrap()).collect();
        v.free(r[1], 2 * G).unwrap();
        v.free(r[3], 2 * G).unwrap();
        assert_eq!(v.holes(), 2);
        v.free(r[2], 2 * G).unwrap(); // joins both neighbours
        assert_eq!(v.holes(), 1);
        assert_eq!(v.alloc(6 * G), Some(r[1]));
        v.free(r[1], 6 * G).unwrap();
        // Freeing the top ones rolls the bump pointer back and absorbs holes.
        for &a in r.iter().rev().take(4) {
            v.free(a, 2 * G).unwrap();
        }
        assert_eq!(v.holes(), 0);
        v.free(r[0], 2 * G).unwrap();
        assert_eq!(v.used(), 0);
        assert_eq!(v.alloc(0x100 * G), Some(0));
        assert_eq!(v.alloc(G), None);
    }

    #[test]
    fn bad_frees_are_refused() {
        let mut v = VRangeAllocator::new(0x1000, 0x100000, G);
        let a = v.alloc(4 * G).unwrap();
        let _b = v.alloc(4 * G).unwrap();
        assert_eq!(v.free(a + 0x10, G), Err(VRangeError::OutOfBounds(a + 0x10)));
        assert_eq!(v.free(0x50000, G), Err(VRangeError::OutOfBounds(0x50000)));
        assert_eq!(v.free(0, G), Err(VRangeError::OutOfBounds(0)));
        v.free(a, 4 * G).unwrap();
        assert_eq!(v.free(a, 4 * G), Err(VRangeError::DoubleFree(a)));
        assert_eq!(v.free(a + G, G), Err(VRangeError::DoubleFree(a + G)));
        assert_eq!(v.used(), 4 * G);
    }

    #[test]
    fn random_against_model() {
        let mut v = VRangeAllocator::new(0x4000_0000, 0x4000_0000 + 4096 * G, G);
        let mut live: Vec<(u64, u64)> = Vec::new();
        let mut x = 99u64;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if (x >> 33).is_multiple_of(2) || live.is_empty() {
                let size = ((x >> 40) % 9 + 1) * G;
                if let Some(a) = v.alloc(size) {
                    for &(b, s) in &live {
                        assert!(a + size <= b || b + s <= a, "overlap");
                    }
                    live.push((a, size));
                }
            } else {
                let (a, s) = live.swap_remove((x >> 20) as usize % live.len());
                v.free(a, s).unwrap();
            }
            assert_eq!(v.used(), live.iter().map(|l| l.1).sum::<u64>());
        }
        for (a, s) in live {
            v.free(a, s).unwrap();
        }
        assert_eq!((v.used(), v.holes()), (0, 0));
    }
}
