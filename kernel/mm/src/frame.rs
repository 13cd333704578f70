//! Physical frame allocator: a binary buddy allocator over zones of RAM.
//!
//! # Data structures
//! - A *zone* is one contiguous range of managed RAM (a sanitised `Usable` entry, or a
//!   reclaimed bootloader range). Its first frames hold the zone's metadata: a state
//!   array of one byte per frame (reserved, allocated, free block head with its order, or
//!   interior of a free block), then a `u32` per frame counting the *extra* references
//!   to an allocated frame (see "Reference counts"); 5 bytes per frame in all, about
//!   `ceil(frames * 5 / 4096)` frames. Zones never merge; buddies never cross a zone.
//! - Free blocks of `2^k` frames (k <= [`MAX_ORDER`], aligned to `2^k` frames
//!   *physically*) sit on one doubly-linked list per order. The links live in the first 16
//!   bytes of the free block itself, reached through the HHDM, so the allocator needs no
//!   memory besides the state bytes.
//! - A bit mask of non-empty orders makes finding a block O(1); splitting and merging are
//!   O(MAX_ORDER). State bytes of a whole block are rewritten on alloc and free (O(2^k),
//!   dwarfed by zeroing the block).
//!
//! # Reference counts
//! User pages shared copy-on-write after `fork` are mapped by several address spaces. An
//! allocated frame has `1 + extra` references; `extra` starts at 0 (free frames always
//! have 0), [`FrameAllocator::share_batch`] adds one, and
//! [`FrameAllocator::release_batch`] drops one, freeing the frame when the last goes.
//! A plain free of a frame with extra references is refused
//! ([`FrameError::StillShared`]).
//!
//! # Guarantees
//! - A frame is never handed out twice: every frame's state is checked on free, and
//!   freeing a frame that is not allocated (double free, or a frame that was never
//!   handed out) is reported as [`FrameError::NotAllocated`] *before* anything changes.
//!   The public wrappers panic with the address after dropping the lock.
//! - `total` and `free` are exact at every lock release.
//! - All state is behind one [`IrqMutex`] (interrupts off while held), so it is SMP- and
//!   interrupt-safe. Zeroing happens after the lock is dropped.
//!
//! # Later: per-CPU caches
//! A per-CPU magazine of order-0 frames (say 32..64 frames, refilled and drained in
//! batches of half a magazine through [`FrameAllocator::alloc_batch`] /
//! [`FrameAllocator::free_batch`]) would sit in front of `alloc`/`free` and take the lock
//! once per batch. Frames in a magazine keep the `Allocated` state here, so double-free
//! detection of the magazine itself would need its own check; `stats()` would then add the
//! cached frames to `free_frames`. Nothing in this module needs to change for that.

use core::fmt;

use crate::layout::{PAGE_SHIFT, PAGE_SIZE};
use crate::sync::IrqMutex;

/// Largest block order: 2^20 frames = 4 GiB.
pub const MAX_ORDER: usize = 20;
/// Maximum number of zones.
pub const MAX_ZONES: usize = 128;

const NIL: u64 = u64::MAX;
const ST_RESERVED: u8 = 0xff;
const ST_ALLOCATED: u8 = 0xfe;
const ST_FREE_TAIL: u8 = 0xfd;
const ST_FREE_HEAD: u8 = 0x80; // | order

/// Errors from the frame allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The address is not page-aligned.
    Misaligned(u64),
    /// The frame does not belong to any zone (or the run leaves its zone).
    NotManaged(u64),
    /// The frame is not currently allocated (double free or never handed out).
    NotAllocated(u64),
    /// A new zone overlaps an existing one.
    Overlap(u64),
    /// No room for another zone.
    TooManyZones,
    /// A plain free of a frame that still has extra references.
    StillShared(u64),
    /// A frame's reference count would overflow.
    RefOverflow(u64),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::Misaligned(p) => write!(f, "frame address {p:#x} is not page-aligned"),
            FrameError::NotManaged(p) => {
                write!(f, "frame {p:#x} is not managed by the frame allocator")
            }
            FrameError::NotAllocated(p) => {
                write!(f, "frame {p:#x} is not allocated (double free?)")
            }
            FrameError::Overlap(p) => write!(f, "zone at {p:#x} overlaps an existing zone"),
            FrameError::TooManyZones => write!(f, "too many memory zones (max {MAX_ZONES})"),
            FrameError::StillShared(p) => {
                write!(f, "frame {p:#x} is freed while still shared")
            }
            FrameError::RefOverflow(p) => write!(f, "frame {p:#x}: reference count overflow"),
        }
    }
}

#[derive(Clone, Copy)]
struct Zone {
    start_pfn: u64,
    end_pfn: u64,
    /// Virtual address of the state byte of `start_pfn`.
    meta: usize,
    /// Virtual address of the extra-reference count (`u32`) of `start_pfn`.
    refs: usize,
}

const EMPTY_ZONE: Zone = Zone {
    start_pfn: 0,
    end_pfn: 0,
    meta: 0,
    refs: 0,
};

/// Metadata bytes for a zone of `frames` frames: states, padding to 4, counts.
const fn meta_bytes(frames: u64) -> u64 {
    frames.next_multiple_of(4) + 4 * frames
}

/// The allocator state; see the module documentation.
pub struct Buddy {
    hhdm: u64,
    zones: [Zone; MAX_ZONES],
    nzones: usize,
    heads: [u64; MAX_ORDER + 1],
    counts: [u64; MAX_ORDER + 1],
    nonempty: u32,
    total: u64,
    free: u64,
}

// SAFETY: the raw addresses in `Buddy` point into HHDM memory that the allocator owns
// exclusively (state arrays and free blocks); moving the struct between CPUs is fine.
unsafe impl Send for Buddy {}

fn ceil_log2(n: u64) -> u32 {
    if n <= 1 {
        0
    } else {
        64 - (n - 1).leading_zeros()
    }
}

impl Buddy {
    const fn new() -> Self {
        Buddy {
            hhdm: 0,
            zones: [EMPTY_ZONE; MAX_ZONES],
            nzones: 0,
            heads: [NIL; MAX_ORDER + 1],
            counts: [0; MAX_ORDER + 1],
            nonempty: 0,
            total: 0,
            free: 0,
        }
    }

    fn zone_of(&self, pfn: u64) -> Option<usize> {
        let zones = &self.zones[..self.nzones];
        let i = zones.partition_point(|z| z.end_pfn <= pfn);
        (i < zones.len() && zones[i].start_pfn <= pfn).then_some(i)
    }

    fn state_ptr(&self, z: usize, pfn: u64) -> *mut u8 {
        let zone = &self.zones[z];
        debug_assert!(zone.start_pfn <= pfn && pfn < zone.end_pfn);
        (zone.meta + (pfn - zone.start_pfn) as usize) as *mut u8
    }

    fn state(&self, z: usize, pfn: u64) -> u8 {
        // SAFETY: `pfn` lies in zone `z` (callers check), so the byte is inside the zone's
        // state array, which the allocator owns and which is mapped through the HHDM.
        unsafe { *self.state_ptr(z, pfn) }
    }

    fn set_state(&mut self, z: usize, pfn: u64, s: u8) {
        // SAFETY: as in `state`; `&mut self` makes this the only writer.
        unsafe { *self.state_ptr(z, pfn) = s }
    }

    fn refs_ptr(&self, z: usize, pfn: u64) -> *mut u32 {
        let zone = &self.zones[z];
        debug_assert!(zone.start_pfn <= pfn && pfn < zone.end_pfn);
        (zone.refs + 4 * (pfn - zone.start_pfn) as usize) as *mut u32
    }

    fn extra_refs(&self, z: usize, pfn: u64) -> u32 {
        // SAFETY: `pfn` lies in zone `z` (callers check), so the count is inside the zone's
        // metadata, which the allocator owns; the lock serialises all accesses.
        unsafe { *self.refs_ptr(z, pfn) }
    }

    fn set_extra_refs(&mut self, z: usize, pfn: u64, n: u32) {
        // SAFETY: as in `extra_refs`; `&mut self` makes this the only writer.
        unsafe { *self.refs_ptr(z, pfn) = n }
    }

    /// The zone of an allocated frame `phys`.
    fn allocated_zone(&self, phys: u64) -> Result<usize, FrameError> {
        if !phys.is_multiple_of(PAGE_SIZE) {
            return Err(FrameError::Misaligned(phys));
        }
        let pfn = phys >> PAGE_SHIFT;
        let z = self.zone_of(pfn).ok_or(FrameError::NotManaged(phys))?;
        if self.state(z, pfn) != ST_ALLOCATED {
            return Err(FrameError::NotAllocated(phys));
        }
        Ok(z)
    }

    /// Adds a reference to the allocated frame `phys`.
    fn share(&mut self, phys: u64) -> Result<(), FrameError> {
        let z = self.allocated_zone(phys)?;
        let pfn = phys >> PAGE_SHIFT;
        let n = self.extra_refs(z, pfn);
        let n = n.checked_add(1).ok_or(FrameError::RefOverflow(phys))?;
        self.set_extra_refs(z, pfn, n);
        Ok(())
    }

    /// Drops a reference to the allocated frame `phys`; frees it (true) with the last.
    fn release(&mut self, phys: u64) -> Result<bool, FrameError> {
        let z = self.allocated_zone(phys)?;
        let pfn = phys >> PAGE_SHIFT;
        match self.extra_refs(z, pfn) {
            0 => {
                self.free_run_checked(z, pfn, 1);
                Ok(true)
            }
            n => {
                self.set_extra_refs(z, pfn, n - 1);
                Ok(false)
            }
        }
    }

    /// References to `phys`: 0 if it is not an allocated frame.
    fn ref_count(&self, phys: u64) -> u32 {
        match self.allocated_zone(phys) {
            Ok(z) => self.extra_refs(z, phys >> PAGE_SHIFT) + 1,
            Err(_) => 0,
        }
    }

    fn set_states(&mut self, z: usize, pfn: u64, n: u64, s: u8) {
        // SAFETY: `[pfn, pfn + n)` lies in zone `z` (callers check), so the bytes are in the
        // zone's state array.
        unsafe { core::ptr::write_bytes(self.state_ptr(z, pfn), s, n as usize) }
    }

    /// Pointer to the `[next, prev]` links stored in free block `pfn`.
    fn links(&self, pfn: u64) -> *mut [u64; 2] {
        ((pfn << PAGE_SHIFT).wrapping_add(self.hhdm)) as *mut [u64; 2]
    }

    fn read_links(&self, pfn: u64) -> [u64; 2] {
        // SAFETY: only called on free block heads, which the allocator owns; they are RAM
        // mapped through the HHDM.
        unsafe { *self.links(pfn) }
    }

    fn write_next(&mut self, pfn: u64, next: u64) {
        // SAFETY: as in `read_links`.
        unsafe { (*self.links(pfn))[0] = next }
    }

    fn write_prev(&mut self, pfn: u64, prev: u64) {
        // SAFETY: as in `read_links`.
        unsafe { (*self.links(pfn))[1] = prev }
    }

    fn push(&mut self, order: usize, pfn: u64) {
        let next = self.heads[order];
        // SAFETY: `pfn` is a free block head owned by the allocator (see `read_links`).
        unsafe { *self.links(pfn) = [next, NIL] };
        if next != NIL {
            self.write_prev(next, pfn);
        }
        self.heads[order] = pfn;
        self.counts[order] += 1;
        self.nonempty |= 1 << order;
    }

    fn unlink(&mut self, order: usize, pfn: u64) {
        let [next, prev] = self.read_links(pfn);
        if prev == NIL {
            self.heads[order] = next;
        } else {
            self.write_next(prev, next);
        }
        if next != NIL {
            self.write_prev(next, prev);
        }
        self.counts[order] -= 1;
        if self.heads[order] == NIL {
            self.nonempty &= !(1 << order);
        }
    }

    /// Adds the page-aligned range `[start, end)` as a new zone.
    fn add_zone(&mut self, start: u64, end: u64) -> Result<u64, FrameError> {
        if !start.is_multiple_of(PAGE_SIZE) || !end.is_multiple_of(PAGE_SIZE) {
            return Err(FrameError::Misaligned(
                if !start.is_multiple_of(PAGE_SIZE) {
                    start
                } else {
                    end
                },
            ));
        }
        let (spfn, epfn) = (start >> PAGE_SHIFT, end >> PAGE_SHIFT);
        if spfn >= epfn {
            return Ok(0);
        }
        let frames = epfn - spfn;
        let meta_frames = meta_bytes(frames).div_ceil(PAGE_SIZE);
        if frames <= meta_frames {
            return Ok(0);
        }
        let pos = self.zones[..self.nzones].partition_point(|z| z.end_pfn <= spfn);
        if pos < self.nzones && self.zones[pos].start_pfn < epfn {
            return Err(FrameError::Overlap(start));
        }
        if self.nzones == MAX_ZONES {
            return Err(FrameError::TooManyZones);
        }
        self.zones.copy_within(pos..self.nzones, pos + 1);
        self.zones[pos] = Zone {
            start_pfn: spfn,
            end_pfn: epfn,
            meta: start.wrapping_add(self.hhdm) as usize,
            refs: start
                .wrapping_add(self.hhdm)
                .wrapping_add(frames.next_multiple_of(4)) as usize,
        };
        self.nzones += 1;
        // SAFETY: the counts lie in the zone's own metadata frames (`meta_bytes`), RAM the
        // caller handed over and the HHDM maps; nothing else uses it.
        unsafe { core::ptr::write_bytes(self.refs_ptr(pos, spfn), 0, frames as usize) };
        self.set_states(pos, spfn, meta_frames, ST_RESERVED);
        let usable = frames - meta_frames;
        self.set_states(pos, spfn + meta_frames, usable, ST_ALLOCATED);
        self.total += usable;
        self.free_run_checked(pos, spfn + meta_frames, usable);
        Ok(usable)
    }

    /// Takes a free block of exactly `2^order` frames; marks it allocated.
    fn alloc_block(&mut self, order: usize) -> Option<u64> {
        let avail = self.nonempty >> order;
        if avail == 0 {
            return None;
        }
        let mut k = order + avail.trailing_zeros() as usize;
        let pfn = self.heads[k];
        self.unlink(k, pfn);
        let z = self.zone_of(pfn).expect("free block outside every zone");
        while k > order {
            k -= 1;
            let upper = pfn + (1 << k);
            self.set_state(z, upper, ST_FREE_HEAD | k as u8);
            self.push(k, upper);
        }
        self.set_states(z, pfn, 1 << order, ST_ALLOCATED);
        self.free -= 1 << order;
        Some(pfn)
    }

    /// Allocates `n` contiguous frames (a `2^ceil(log2 n)` block with the tail returned).
    fn alloc_run(&mut self, n: u64) -> Option<u64> {
        if n == 0 {
            return None;
        }
        let order = ceil_log2(n) as usize;
        if order > MAX_ORDER {
            return None;
        }
        let pfn = self.alloc_block(order)?;
        let extra = (1u64 << order) - n;
        if extra != 0 {
            let z = self
                .zone_of(pfn)
                .expect("allocated block outside every zone");
            self.free_run_checked(z, pfn + n, extra);
        }
        Some(pfn)
    }

    /// Checks that `[pfn, pfn + n)` is allocated and frees it.
    fn free_run(&mut self, pfn: u64, n: u64) -> Result<(), FrameError> {
        if n == 0 {
            return Ok(());
        }
        let z = self
            .zone_of(pfn)
            .ok_or(FrameError::NotManaged(pfn << PAGE_SHIFT))?;
        let zone = self.zones[z];
        if pfn.checked_add(n).is_none_or(|e| e > zone.end_pfn) {
            return Err(FrameError::NotManaged(zone.end_pfn << PAGE_SHIFT));
        }
        for p in pfn..pfn + n {
            if self.state(z, p) != ST_ALLOCATED {
                return Err(FrameError::NotAllocated(p << PAGE_SHIFT));
            }
            if self.extra_refs(z, p) != 0 {
                return Err(FrameError::StillShared(p << PAGE_SHIFT));
            }
        }
        self.free_run_checked(z, pfn, n);
        Ok(())
    }

    /// Frees `[pfn, pfn + n)` in zone `z`, known to be allocated.
    fn free_run_checked(&mut self, z: usize, mut pfn: u64, mut n: u64) {
        self.free += n;
        while n > 0 {
            let align = pfn.trailing_zeros().min(63);
            let fit = 63 - n.leading_zeros();
            let k = align.min(fit).min(MAX_ORDER as u32) as usize;
            self.free_block(z, pfn, k);
            pfn += 1 << k;
            n -= 1 << k;
        }
    }

    fn free_block(&mut self, z: usize, mut pfn: u64, mut k: usize) {
        let zone = self.zones[z];
        self.set_states(z, pfn, 1 << k, ST_FREE_TAIL);
        while k < MAX_ORDER {
            let buddy = pfn ^ (1 << k);
            if buddy < zone.start_pfn || buddy + (1 << k) > zone.end_pfn {
                break;
            }
            if self.state(z, buddy) != ST_FREE_HEAD | k as u8 {
                break;
            }
            self.unlink(k, buddy);
            self.set_state(z, buddy.max(pfn), ST_FREE_TAIL);
            pfn = pfn.min(buddy);
            k += 1;
        }
        self.set_state(z, pfn, ST_FREE_HEAD | k as u8);
        self.push(k, pfn);
    }

    /// Verifies every invariant; returns a description of the first violation.
    #[cfg(test)]
    fn check(&self) -> Result<(), String> {
        let mut free_seen = 0u64;
        for k in 0..=MAX_ORDER {
            let mut n = 0u64;
            let mut prev = NIL;
            let mut pfn = self.heads[k];
            while pfn != NIL {
                let z = self
                    .zone_of(pfn)
                    .ok_or(format!("block {pfn:#x} outside zones"))?;
                let zone = self.zones[z];
                if !pfn.is_multiple_of(1 << k) || pfn + (1 << k) > zone.end_pfn {
                    return Err(format!("block {pfn:#x} order {k} misplaced"));
                }
                if self.state(z, pfn) != ST_FREE_HEAD | k as u8 {
                    return Err(format!(
                        "block {pfn:#x} order {k} has state {:#x}",
                        self.state(z, pfn)
                    ));
                }
                for t in pfn + 1..pfn + (1 << k) {
                    if self.state(z, t) != ST_FREE_TAIL {
                        return Err(format!("tail {t:#x} of {pfn:#x} not FREE_TAIL"));
                    }
                }
                let [next, p] = self.read_links(pfn);
                if p != prev {
                    return Err(format!("bad prev link at {pfn:#x}"));
                }
                prev = pfn;
                pfn = next;
                n += 1;
            }
            if n != self.counts[k] || (n != 0) != (self.nonempty & (1 << k) != 0) {
                return Err(format!("order {k}: count {n} vs {} / mask", self.counts[k]));
            }
            free_seen += n << k;
        }
        if free_seen != self.free {
            return Err(format!(
                "free blocks hold {free_seen} frames, counter says {}",
                self.free
            ));
        }
        let mut allocated = 0;
        let mut free_states = 0;
        for (z, zone) in self.zones[..self.nzones].iter().enumerate() {
            for p in zone.start_pfn..zone.end_pfn {
                match self.state(z, p) {
                    ST_ALLOCATED => allocated += 1,
                    ST_RESERVED => {}
                    _ => {
                        free_states += 1;
                        if self.extra_refs(z, p) != 0 {
                            return Err(format!("free frame {p:#x} has extra references"));
                        }
                    }
                }
            }
        }
        if free_states != self.free || allocated + self.free != self.total {
            return Err(format!(
                "states: {allocated} allocated + {free_states} free vs total {} free {}",
                self.total, self.free
            ));
        }
        Ok(())
    }
}

/// Snapshot of the allocator's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameCounts {
    /// Frames under management (excluding the zones' own state arrays).
    pub total: u64,
    /// Frames currently free.
    pub free: u64,
    /// Number of zones.
    pub zones: usize,
    /// Number of free blocks per order.
    pub blocks: [u64; MAX_ORDER + 1],
}

/// The SMP-safe frame allocator (one global instance lives in the crate root; tests make
/// their own over fake memory).
pub struct FrameAllocator {
    inner: IrqMutex<Buddy>,
}

impl Default for FrameAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameAllocator {
    /// An allocator with no memory.
    pub const fn new() -> Self {
        FrameAllocator {
            inner: IrqMutex::new(Buddy::new()),
        }
    }

    /// Sets the offset at which all physical memory the allocator will manage is mapped.
    ///
    /// # Safety
    /// Must be called before [`FrameAllocator::add_range`], with the offset of a mapping
    /// that covers every range later added.
    pub unsafe fn set_hhdm(&self, hhdm: u64) {
        self.inner.lock().hhdm = hhdm;
    }

    /// The HHDM offset given to [`FrameAllocator::set_hhdm`].
    pub fn hhdm(&self) -> u64 {
        self.inner.lock().hhdm
    }

    /// Hands the page-aligned physical range `[start, end)` to the allocator as a new zone.
    /// Its first frames become the zone's state array. Returns the number of frames that
    /// became allocatable (0 for a range too small to be worth a zone).
    ///
    /// # Safety
    /// The range must be RAM that nothing else uses (now or later), mapped at the HHDM
    /// offset, and must not overlap a range added before.
    pub unsafe fn add_range(&self, start: u64, end: u64) -> Result<u64, FrameError> {
        self.inner.lock().add_zone(start, end)
    }

    fn virt(&self, phys: u64, hhdm: u64) -> *mut u8 {
        let _ = self;
        phys.wrapping_add(hhdm) as *mut u8
    }

    /// Allocates one zeroed frame; returns its physical address.
    pub fn alloc(&self) -> Option<u64> {
        self.alloc_contig(1)
    }

    /// Allocates `n` physically contiguous zeroed frames.
    pub fn alloc_contig(&self, n: usize) -> Option<u64> {
        let (pfn, hhdm) = {
            let mut b = self.inner.lock();
            (b.alloc_run(n as u64)?, b.hhdm)
        };
        let phys = pfn << PAGE_SHIFT;
        // SAFETY: the run was just allocated, so this caller owns it exclusively; it is RAM
        // mapped through the HHDM.
        unsafe { core::ptr::write_bytes(self.virt(phys, hhdm), 0, n * PAGE_SIZE as usize) };
        Some(phys)
    }

    /// Allocates `n` physically contiguous frames without zeroing them.
    pub fn alloc_contig_uninit(&self, n: usize) -> Option<u64> {
        self.inner
            .lock()
            .alloc_run(n as u64)
            .map(|pfn| pfn << PAGE_SHIFT)
    }

    /// Allocates up to `out.len()` single frames (not zeroed) under one lock acquisition;
    /// returns how many were filled in. Meant for per-CPU caches.
    pub fn alloc_batch(&self, out: &mut [u64]) -> usize {
        let mut b = self.inner.lock();
        for (i, slot) in out.iter_mut().enumerate() {
            match b.alloc_block(0) {
                Some(pfn) => *slot = pfn << PAGE_SHIFT,
                None => return i,
            }
        }
        out.len()
    }

    /// Frees `n` frames starting at `phys`, which must all be allocated (any sub-run of an
    /// earlier allocation may be freed independently).
    pub fn try_free(&self, phys: u64, n: usize) -> Result<(), FrameError> {
        if !phys.is_multiple_of(PAGE_SIZE) {
            return Err(FrameError::Misaligned(phys));
        }
        self.inner.lock().free_run(phys >> PAGE_SHIFT, n as u64)
    }

    /// Like [`FrameAllocator::try_free`], but panics (after dropping the lock) on error.
    pub fn free(&self, phys: u64, n: usize) {
        if let Err(e) = self.try_free(phys, n) {
            panic!("free_frames({phys:#x}, {n}): {e}");
        }
    }

    /// Frees single frames under one lock acquisition; stops at the first error.
    pub fn free_batch(&self, frames: &[u64]) -> Result<(), FrameError> {
        let mut b = self.inner.lock();
        for &p in frames {
            if !p.is_multiple_of(PAGE_SIZE) {
                return Err(FrameError::Misaligned(p));
            }
            b.free_run(p >> PAGE_SHIFT, 1)?;
        }
        Ok(())
    }

    /// Adds one reference to each of `frames` (allocated frames), under one lock
    /// acquisition. Stops at the first error; earlier frames keep their new reference.
    pub fn share_batch(&self, frames: &[u64]) -> Result<(), FrameError> {
        let mut b = self.inner.lock();
        for &p in frames {
            b.share(p)?;
        }
        Ok(())
    }

    /// Drops one reference to each of `frames`, freeing those whose last reference this
    /// was; returns how many were freed. Stops at the first error.
    pub fn release_batch(&self, frames: &[u64]) -> Result<u64, FrameError> {
        let mut b = self.inner.lock();
        let mut freed = 0;
        for &p in frames {
            freed += b.release(p)? as u64;
        }
        Ok(freed)
    }

    /// Number of references to `phys` (1 + extra), or 0 if it is not allocated.
    pub fn ref_count(&self, phys: u64) -> u32 {
        self.inner.lock().ref_count(phys)
    }

    /// Exact counters.
    pub fn counts(&self) -> FrameCounts {
        let b = self.inner.lock();
        FrameCounts {
            total: b.total,
            free: b.free,
            zones: b.nzones,
            blocks: b.counts,
        }
    }

    /// Frames under management.
    pub fn total_frames(&self) -> u64 {
        self.inner.lock().total
    }

    /// Frames currently free.
    pub fn free_frames(&self) -> u64 {
        self.inner.lock().free
    }

    /// True if `phys` lies in a zone (managed RAM, allocated or not).
    pub fn is_managed(&self, phys: u64) -> bool {
        self.inner.lock().zone_of(phys >> PAGE_SHIFT).is_some()
    }

    #[cfg(test)]
    fn check(&self) -> Result<(), String> {
        self.inner.lock().check()
    }
}

/// Fake physical memory for host tests: a page-aligned heap buffer that pretends to live
/// at physical address `phys_base`, with `hhdm()` mapping physical to buffer addresses.
#[cfg(test)]
pub(crate) mod fake {
    use std::alloc::{Layout, alloc_zeroed, dealloc};

    pub struct FakeMem {
        pub phys_base: u64,
        pub size: u64,
        ptr: *mut u8,
        layout: Layout,
    }

    // SAFETY: the buffer is plain memory owned by this struct.
    unsafe impl Send for FakeMem {}
    // SAFETY: as above; users synchronise access themselves (through the allocators).
    unsafe impl Sync for FakeMem {}

    impl FakeMem {
        pub fn new(phys_base: u64, size: u64) -> Self {
            let layout = Layout::from_size_align(size as usize, 4096).unwrap();
            // SAFETY: the layout has a non-zero size.
            let ptr = unsafe { alloc_zeroed(layout) };
            assert!(!ptr.is_null());
            FakeMem {
                phys_base,
                size,
                ptr,
                layout,
            }
        }
        pub fn hhdm(&self) -> u64 {
            (self.ptr as u64).wrapping_sub(self.phys_base)
        }
        pub fn end(&self) -> u64 {
            self.phys_base + self.size
        }
    }

    impl Drop for FakeMem {
        fn drop(&mut self) {
            // SAFETY: allocated in `new` with the same layout.
            unsafe { dealloc(self.ptr, self.layout) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeMem;
    use super::*;
    use std::collections::HashSet;

    fn setup(ranges: &[(u64, u64)], phys_base: u64, size: u64) -> (FakeMem, FrameAllocator) {
        let mem = FakeMem::new(phys_base, size);
        let fa = FrameAllocator::new();
        // SAFETY: the ranges lie in the fake memory, which nothing else uses.
        unsafe {
            fa.set_hhdm(mem.hhdm());
            for &(s, e) in ranges {
                fa.add_range(s, e).unwrap();
            }
        }
        fa.check().unwrap();
        (mem, fa)
    }

    #[test]
    fn zone_metadata_and_counts() {
        // 0x100000..0x500000 = 1024 frames -> 5120 metadata bytes = 2 frames; an odd-sized
        // zone: 37 frames -> 1 metadata frame.
        let (_m, fa) = setup(
            &[(0x100000, 0x500000), (0x600000, 0x625000)],
            0x100000,
            0x600000,
        );
        let c = fa.counts();
        assert_eq!(c.total, 1022 + 36);
        assert_eq!(c.free, c.total);
        assert_eq!(c.zones, 2);
        // A one-frame range is too small to be a zone.
        // SAFETY: fake memory, unused range.
        assert_eq!(unsafe { fa.add_range(0x5ff000, 0x600000) }, Ok(0));
        // SAFETY: an overlapping range is rejected before anything is touched.
        let overlap = unsafe { fa.add_range(0x400000, 0x700000) };
        assert_eq!(overlap, Err(FrameError::Overlap(0x400000)));
    }

    #[test]
    fn alloc_all_free_all_returns_to_start() {
        let (_m, fa) = setup(
            &[(0x101000, 0x4ff000), (0x500000, 0x800000)],
            0x100000,
            0x700000,
        );
        let start = fa.counts();
        let mut seen = HashSet::new();
        let mut frames = Vec::new();
        while let Some(p) = fa.alloc() {
            assert_eq!(p % PAGE_SIZE, 0);
            assert!(seen.insert(p), "frame {p:#x} handed out twice");
            frames.push(p);
        }
        assert_eq!(frames.len() as u64, start.free);
        assert_eq!(fa.free_frames(), 0);
        fa.check().unwrap();
        // Free in a scrambled order.
        let n = frames.len();
        for i in 0..n {
            let j = (i * 7919) % n;
            frames.swap(i, j);
        }
        for &p in &frames {
            fa.free(p, 1);
        }
        fa.check().unwrap();
        // Exactly the starting state: counters *and* the same fully merged blocks.
        assert_eq!(fa.counts(), start);
    }

    #[test]
    fn allocated_frames_are_zeroed() {
        let (m, fa) = setup(&[(0x100000, 0x200000)], 0x100000, 0x100000);
        let p = fa.alloc().unwrap();
        let v = (p.wrapping_add(m.hhdm())) as *mut u8;
        // SAFETY: `p` is ours, mapped in the fake memory.
        unsafe { core::ptr::write_bytes(v, 0xaa, 4096) };
        fa.free(p, 1);
        // LIFO: the same frame comes back, and must be zero again (links included).
        let q = fa.alloc().unwrap();
        assert_eq!(p, q);
        // SAFETY: as above.
        let s = unsafe { core::slice::from_raw_parts(v, 4096) };
        assert!(s.iter().all(|&b| b == 0));
    }

    #[test]
    fn contiguous_runs() {
        let (_m, fa) = setup(&[(0x100000, 0x900000)], 0x100000, 0x800000);
        let start = fa.counts();
        let mut runs = Vec::new();
        let mut used = HashSet::new();
        for n in [1usize, 3, 5, 8, 13, 64, 100, 1, 2, 511] {
            let p = fa.alloc_contig(n).unwrap();
            for i in 0..n as u64 {
                assert!(
                    used.insert(p + i * PAGE_SIZE),
                    "overlap at {:#x}",
                    p + i * PAGE_SIZE
                );
            }
            // Runs come from a 2^ceil(log2 n) block, so they are aligned to it.
            assert_eq!((p >> PAGE_SHIFT) % (1 << ceil_log2(n as u64)), 0);
            runs.push((p, n));
        }
        let used_frames: u64 = runs.iter().map(|r| r.1 as u64).sum();
        assert_eq!(fa.free_frames(), start.free - used_frames);
        fa.check().unwrap();
        // Free a run in two pieces (a middle split), the rest whole.
        let (p, n) = runs[5];
        fa.free(p + 10 * PAGE_SIZE, n - 10);
        fa.free(p, 10);
        for &(p, n) in runs.iter().filter(|r| r.0 != p) {
            fa.free(p, n);
        }
        fa.check().unwrap();
        assert_eq!(fa.counts(), start);
        // A run larger than any free block fails; exactly the largest succeeds.
        let top = start.blocks.iter().rposition(|&c| c != 0).unwrap();
        assert_eq!(top, 10);
        assert!(fa.alloc_contig((1 << top) + 1).is_none());
        assert!(fa.alloc_contig(1 << top).is_some());
        assert!(fa.alloc_contig(0).is_none());
        assert!(fa.alloc_contig(1 << (MAX_ORDER + 1)).is_none());
    }

    #[test]
    fn double_free_and_foreign_frees_are_detected() {
        let (_m, fa) = setup(&[(0x100000, 0x200000)], 0x100000, 0x100000);
        let before = fa.counts();
        let p = fa.alloc().unwrap();
        fa.free(p, 1);
        assert_eq!(fa.try_free(p, 1), Err(FrameError::NotAllocated(p)));
        // Interior of a free block, the zone's state frame, outside every zone, misaligned.
        assert_eq!(
            fa.try_free(0x150000, 1),
            Err(FrameError::NotAllocated(0x150000))
        );
        assert_eq!(
            fa.try_free(0x100000, 1),
            Err(FrameError::NotAllocated(0x100000))
        );
        assert_eq!(
            fa.try_free(0x300000, 1),
            Err(FrameError::NotManaged(0x300000))
        );
        assert_eq!(
            fa.try_free(0x100010, 1),
            Err(FrameError::Misaligned(0x100010))
        );
        // A run that is only partly allocated is rejected as a whole, nothing changes.
        let q = fa.alloc_contig(4).unwrap();
        fa.free(q + PAGE_SIZE, 1);
        assert_eq!(
            fa.try_free(q, 4),
            Err(FrameError::NotAllocated(q + PAGE_SIZE))
        );
        // Running past the zone end.
        let last = 0x1ff000;
        assert_eq!(fa.try_free(last, 2), Err(FrameError::NotManaged(0x200000)));
        fa.free(q, 1);
        fa.free(q + 2 * PAGE_SIZE, 2);
        fa.check().unwrap();
        assert_eq!(fa.counts(), before);
    }

    #[test]
    #[should_panic(expected = "double free")]
    fn double_free_panics() {
        let (_m, fa) = setup(&[(0x100000, 0x200000)], 0x100000, 0x100000);
        let p = fa.alloc().unwrap();
        fa.free(p, 1);
        fa.free(p, 1);
    }

    #[test]
    fn buddies_never_cross_zones() {
        // Two adjacent zones: a free block must never span both.
        let (_m, fa) = setup(
            &[(0x100000, 0x180000), (0x180000, 0x200000)],
            0x100000,
            0x100000,
        );
        let c = fa.counts();
        assert_eq!(c.zones, 2);
        // 128 frames each, minus 1 state frame each: no order-7 block can exist.
        assert_eq!(c.blocks[7], 0);
        assert!(fa.alloc_contig(128).is_none());
        assert!(fa.alloc_contig(64).is_some());
    }

    #[test]
    fn random_stress_keeps_invariants() {
        let (_m, fa) = setup(
            &[(0x101000, 0x37d000), (0x400000, 0x900000)],
            0x100000,
            0x800000,
        );
        let start = fa.counts();
        let mut live: Vec<(u64, usize)> = Vec::new();
        let mut rng = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut owner = std::collections::HashMap::new();
        for step in 0..20_000u64 {
            if !next().is_multiple_of(3) || live.is_empty() {
                let n = match next() % 10 {
                    0 => (next() % 200 + 1) as usize,
                    1..=3 => (next() % 8 + 1) as usize,
                    _ => 1,
                };
                if let Some(p) = fa.alloc_contig_uninit(n) {
                    for i in 0..n as u64 {
                        assert!(owner.insert(p + i * PAGE_SIZE, step).is_none());
                    }
                    live.push((p, n));
                }
            } else {
                let i = (next() as usize) % live.len();
                let (p, n) = live.swap_remove(i);
                for i in 0..n as u64 {
                    owner.remove(&(p + i * PAGE_SIZE));
                }
                fa.free(p, n);
            }
            let c = fa.counts();
            assert_eq!(c.free + owner.len() as u64, c.total);
            if step.is_multiple_of(2000) {
                fa.check().unwrap();
            }
        }
        for (p, n) in live {
            fa.free(p, n);
        }
        fa.check().unwrap();
        assert_eq!(fa.counts(), start);
    }

    #[test]
    fn concurrent_alloc_free() {
        let (m, fa) = setup(&[(0x100000, 0x900000)], 0x100000, 0x800000);
        let fa = std::sync::Arc::new(fa);
        let start = fa.counts();
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let fa = fa.clone();
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..5000u64 {
                        if i % 3 == 2 {
                            if let Some(p) = mine.pop() {
                                fa.free(p, 1);
                            }
                        } else if let Some(p) = fa.alloc_contig_uninit(1) {
                            mine.push(p);
                        }
                    }
                    let mut batch = [0u64; 16];
                    let got = fa.alloc_batch(&mut batch);
                    mine.extend_from_slice(&batch[..got]);
                    (t, mine)
                })
            })
            .collect();
        let mut all = HashSet::new();
        let mut lists = Vec::new();
        for th in threads {
            let (_, mine) = th.join().unwrap();
            for &p in &mine {
                assert!(all.insert(p), "frame {p:#x} given to two threads");
            }
            lists.push(mine);
        }
        assert_eq!(fa.free_frames() + all.len() as u64, start.total);
        for l in lists {
            fa.free_batch(&l).unwrap();
        }
        fa.check().unwrap();
        assert_eq!(fa.counts(), start);
        drop(m);
    }

    #[test]
    fn reference_counts() {
        let (_m, fa) = setup(&[(0x100000, 0x200000)], 0x100000, 0x100000);
        let start = fa.counts();
        let p = fa.alloc().unwrap();
        let q = fa.alloc().unwrap();
        assert_eq!(fa.ref_count(p), 1);
        fa.share_batch(&[p, p, q]).unwrap();
        assert_eq!((fa.ref_count(p), fa.ref_count(q)), (3, 2));
        // A plain free of a shared frame is refused and changes nothing.
        assert_eq!(fa.try_free(p, 1), Err(FrameError::StillShared(p)));
        assert_eq!(fa.release_batch(&[p, q]).unwrap(), 0);
        assert_eq!(fa.release_batch(&[p, q]).unwrap(), 1);
        assert_eq!((fa.ref_count(p), fa.ref_count(q)), (1, 0));
        assert_eq!(fa.share_batch(&[q]), Err(FrameError::NotAllocated(q)));
        assert_eq!(fa.release_batch(&[q]), Err(FrameError::NotAllocated(q)));
        assert_eq!(fa.release_batch(&[p]).unwrap(), 1);
        fa.check().unwrap();
        assert_eq!(fa.counts(), start);
        // A frame reallocated after its last release starts at one reference again.
        let r = fa.alloc().unwrap();
        assert_eq!(fa.ref_count(r), 1);
        fa.free(r, 1);
    }

    #[test]
    fn log2() {
        assert_eq!(ceil_log2(1), 0);
        assert_eq!(ceil_log2(2), 1);
        assert_eq!(ceil_log2(3), 2);
        assert_eq!(ceil_log2(4), 2);
        assert_eq!(ceil_log2(5), 3);
        assert_eq!(ceil_log2(1 << 20), 20);
    }
}
