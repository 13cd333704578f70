//! The kernel heap: talc over physically contiguous runs reached through the HHDM.
//!
//! The heap has no virtual range of its own. [`HeapSource`] is talc's memory source:
//! - when talc runs out ([`Source::acquire`]) it takes a contiguous run of frames from
//!   the buddy allocator and `claim`s it (through the HHDM) as a new talc heap. Runs are
//!   powers of two, at least [`MIN_GROW_PAGES`], about half the current capacity (so the
//!   number of heaps grows logarithmically), and never smaller than the request; if
//!   physical memory is too fragmented for the preferred size the run is halved down to
//!   what the request needs;
//! - when a whole heap becomes free again ([`Source::resize`] with `is_heap_base`), its
//!   run goes back to the frame allocator. The first (bootstrap) heap holds talc's
//!   metadata and is kept.
//!
//! Because the heap lives in the HHDM, growing and shrinking never edits page tables and
//! never needs a TLB shootdown, and heap memory is mapped with the bootloader's large
//! pages. The cost is that one allocation must fit in one physically contiguous run (at
//! most 2^[`MAX_ORDER`] frames); very large buffers should use `alloc_frames` directly.
//!
//! A fully freed heap is released at once (no hysteresis), so allocating and freeing most
//! of memory returns the frame counters to their starting values. A workload that empties
//! and refills one small heap in a loop pays a buddy alloc/free per cycle; if that shows
//! up in profiles, keep one spare heap here.
//!
//! Locking: talc's lock is an [`IrqSpin`](crate::sync::IrqSpin) (interrupts off), and the
//! source takes the frame allocator's lock inside it. Nothing in the frame allocator
//! allocates, so the order heap -> frames is never reversed.

use core::alloc::Layout;
use core::fmt;

use talc::base::Talc;
use talc::base::binning::Binning;
use talc::source::Source;

use crate::frame::{FrameAllocator, MAX_ORDER};
use crate::layout::{PAGE_SHIFT, PAGE_SIZE};

/// Smallest run the heap grows by: 64 frames (256 KiB).
pub const MIN_GROW_PAGES: u64 = 64;
/// Preferred growth is capped at 2^14 frames (64 MiB) unless a request needs more.
pub const MAX_PREFERRED_GROW_PAGES: u64 = 1 << 14;
/// Maximum number of heaps (runs) tracked at once.
pub const MAX_HEAPS: usize = 256;

#[derive(Clone, Copy, Debug, Default)]
struct HeapRun {
    phys: u64,
    pages: u64,
    /// End pointer talc returned from `claim` (identifies the heap in `resize`).
    end: usize,
    permanent: bool,
}

/// talc [`Source`] that grows the heap from a [`FrameAllocator`].
pub struct HeapSource {
    frames: &'static FrameAllocator,
    runs: [HeapRun; MAX_HEAPS],
    nruns: usize,
    /// Frames currently backing the heap.
    pages: u64,
    /// Heaps acquired and released over the lifetime (diagnostics).
    grows: u64,
    releases: u64,
}

impl fmt::Debug for HeapSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapSource")
            .field("runs", &self.nruns)
            .field("pages", &self.pages)
            .finish()
    }
}

/// Heap-source counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapRunStats {
    /// Runs currently backing the heap.
    pub runs: usize,
    /// Frames currently backing the heap.
    pub pages: u64,
    /// Runs acquired so far.
    pub grows: u64,
    /// Runs released so far.
    pub releases: u64,
}

impl HeapSource {
    /// A source drawing from `frames`.
    pub const fn new(frames: &'static FrameAllocator) -> Self {
        HeapSource {
            frames,
            runs: [HeapRun {
                phys: 0,
                pages: 0,
                end: 0,
                permanent: false,
            }; MAX_HEAPS],
            nruns: 0,
            pages: 0,
            grows: 0,
            releases: 0,
        }
    }

    /// Counters of this source.
    pub fn run_stats(&self) -> HeapRunStats {
        HeapRunStats {
            runs: self.nruns,
            pages: self.pages,
            grows: self.grows,
            releases: self.releases,
        }
    }

    /// Adds a run with room for at least `min_bytes` to `talc` (the bootstrap heap when
    /// `permanent`, which is never released). Returns false if no memory could be added.
    pub fn grow<B: Binning>(talc: &mut Talc<Self, B>, min_bytes: usize, permanent: bool) -> bool {
        Self::try_grow(talc, min_bytes, permanent).is_some()
    }

    fn try_grow<B: Binning>(
        talc: &mut Talc<Self, B>,
        min_bytes: usize,
        permanent: bool,
    ) -> Option<()> {
        let src = &talc.source;
        if src.nruns == MAX_HEAPS {
            return None;
        }
        let mut extra = 4 * talc::base::CHUNK_UNIT + 64;
        if !talc.is_metadata_established() {
            extra += talc::min_first_heap_size::<B>();
        }
        let need_bytes = (min_bytes as u64).checked_add(extra as u64)?;
        let need = need_bytes.div_ceil(PAGE_SIZE);
        if need > 1 << MAX_ORDER {
            return None;
        }
        let preferred = (src.pages / 2).clamp(MIN_GROW_PAGES, MAX_PREFERRED_GROW_PAGES);
        let mut want = need.max(preferred).next_power_of_two().min(1 << MAX_ORDER);
        let frames = src.frames;
        let phys = loop {
            if let Some(p) = frames.alloc_contig_uninit(want as usize) {
                break p;
            }
            if want <= need {
                return None;
            }
            want = (want / 2).max(need);
        };
        let hhdm = frames.hhdm();
        let base = phys.wrapping_add(hhdm) as *mut u8;
        // SAFETY: the run was just allocated from the frame allocator, so nothing else uses
        // it until we give it back in `resize`; it is RAM mapped through the HHDM.
        let end = unsafe { talc.claim(base, (want << PAGE_SHIFT) as usize) };
        let Some(end) = end else {
            frames.free(phys, want as usize);
            return None;
        };
        let src = &mut talc.source;
        src.runs[src.nruns] = HeapRun {
            phys,
            pages: want,
            end: end.as_ptr() as usize,
            permanent,
        };
        src.nruns += 1;
        src.pages += want;
        src.grows += 1;
        Some(())
    }
}

// SAFETY: `acquire` and `resize` only use the frame allocator (its own lock, no heap use)
// and `talc.claim`; they never touch the TalcLock that wraps this source.
unsafe impl Source for HeapSource {
    fn acquire<B: Binning>(talc: &mut Talc<Self, B>, layout: Layout) -> Result<(), ()> {
        let bytes = layout.size().checked_add(layout.align()).ok_or(())?;
        if HeapSource::grow(talc, bytes, false) {
            Ok(())
        } else {
            Err(())
        }
    }

    const TRACK_HEAP_END: bool = true;

    unsafe fn resize(
        &mut self,
        chunk_base: *mut u8,
        heap_end: *mut u8,
        is_heap_base: bool,
    ) -> *mut u8 {
        if !is_heap_base {
            return heap_end;
        }
        let end = heap_end as usize;
        let Some(i) = self.runs[..self.nruns].iter().position(|r| r.end == end) else {
            return heap_end;
        };
        let run = self.runs[i];
        if run.permanent {
            return heap_end;
        }
        self.runs[i] = self.runs[self.nruns - 1];
        self.nruns -= 1;
        self.pages -= run.pages;
        self.releases += 1;
        // Returning `chunk_base` deletes the heap: talc will not touch the run again.
        self.frames.free(run.phys, run.pages as usize);
        chunk_base
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::fake::FakeMem;
    use crate::sync::IrqSpin;
    use core::ptr::NonNull;
    use talc::TalcLock;

    type Heap = TalcLock<IrqSpin, HeapSource>;

    fn setup(size: u64) -> (&'static FakeMem, &'static FrameAllocator, Heap) {
        let mem: &'static FakeMem = Box::leak(Box::new(FakeMem::new(0x100000, size)));
        let fa: &'static FrameAllocator = Box::leak(Box::new(FrameAllocator::new()));
        // SAFETY: fake memory used only by this allocator.
        unsafe {
            fa.set_hhdm(mem.hhdm());
            fa.add_range(mem.phys_base, mem.end()).unwrap();
        }
        let heap = Heap::new(HeapSource::new(fa));
        assert!(HeapSource::grow(&mut heap.lock(), 64 * 1024, true));
        (mem, fa, heap)
    }

    fn alloc(h: &Heap, size: usize, align: usize) -> Option<NonNull<u8>> {
        let l = Layout::from_size_align(size, align).unwrap();
        // SAFETY: non-zero size.
        unsafe { h.lock().allocate(l) }
    }

    fn free(h: &Heap, p: NonNull<u8>, size: usize, align: usize) {
        let l = Layout::from_size_align(size, align).unwrap();
        // SAFETY: `p` came from `alloc` with the same layout.
        unsafe { h.lock().deallocate(p.as_ptr(), l) }
    }

    #[test]
    fn grows_and_shrinks_back_to_start() {
        let (_m, fa, heap) = setup(64 << 20);
        let start_free = fa.free_frames();
        let start_claimed = heap.lock().counters().claimed_bytes;
        let start_runs = heap.lock().source.run_stats().runs;
        // Allocate most of memory in small and large pieces.
        let mut live = Vec::new();
        let mut i = 0usize;
        loop {
            let size = if i % 10 == 9 {
                300_000
            } else {
                64 + (i * 37) % 4000
            };
            match alloc(&heap, size, 8) {
                Some(p) => {
                    // SAFETY: `p` points to `size` writable bytes.
                    unsafe { core::ptr::write_bytes(p.as_ptr(), 0x5a, size) };
                    live.push((p, size));
                }
                None => break,
            }
            i += 1;
        }
        let st = heap.lock().source.run_stats();
        assert!(st.runs > 3, "heap did not grow: {st:?}");
        // Most of memory went to the heap.
        assert!(
            fa.free_frames() < start_free / 8,
            "free {} of {}",
            fa.free_frames(),
            start_free
        );
        let used = heap.lock().counters().allocated_bytes;
        assert_eq!(used, live.iter().map(|l| l.1).sum::<usize>());
        // Free in an interleaved order.
        for (j, &(p, s)) in live.iter().enumerate() {
            if j.is_multiple_of(2) {
                free(&heap, p, s, 8);
            }
        }
        for (j, &(p, s)) in live.iter().enumerate() {
            if j % 2 == 1 {
                free(&heap, p, s, 8);
            }
        }
        let h = heap.lock();
        assert_eq!(h.counters().allocated_bytes, 0);
        assert_eq!(h.counters().claimed_bytes, start_claimed);
        assert_eq!(h.source.run_stats().runs, start_runs);
        drop(h);
        assert_eq!(fa.free_frames(), start_free);
    }

    #[test]
    fn large_and_aligned_requests() {
        let (_m, fa, heap) = setup(32 << 20);
        let start_free = fa.free_frames();
        let p = alloc(&heap, 8 << 20, 4096).unwrap();
        assert_eq!(p.as_ptr() as usize % 4096, 0);
        let q = alloc(&heap, 100, 1 << 16).unwrap();
        assert_eq!(q.as_ptr() as usize % (1 << 16), 0);
        // Bigger than all of memory fails cleanly.
        assert!(alloc(&heap, 64 << 20, 8).is_none());
        assert!(alloc(&heap, 1 << 62, 8).is_none());
        free(&heap, p, 8 << 20, 4096);
        free(&heap, q, 100, 1 << 16);
        assert_eq!(fa.free_frames(), start_free);
    }

    #[test]
    fn bootstrap_heap_is_kept() {
        let (_m, fa, heap) = setup(8 << 20);
        let runs = heap.lock().source.run_stats();
        assert_eq!(runs.runs, 1);
        let p = alloc(&heap, 1000, 8).unwrap();
        free(&heap, p, 1000, 8);
        assert_eq!(heap.lock().source.run_stats().runs, 1);
        assert!(fa.free_frames() < fa.total_frames());
    }
}
