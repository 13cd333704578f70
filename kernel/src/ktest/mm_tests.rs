//! Frame allocator, heap and kernel stack tests.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use weft_mm::RegionKind;

use super::Ctx;
use crate::{boot_info, check};

fn in_allocatable_region(frame: u64) -> bool {
    boot_info().regions.iter().any(|r| {
        matches!(
            r.kind,
            RegionKind::Usable | RegionKind::BootloaderReclaimable
        ) && r.base <= frame
            && frame + 4096 <= r.base + r.len
    })
}

/// Allocates every free frame, checks they are distinct and inside usable memory,
/// frees them all and checks the counters are back where they started.
pub fn frames_all(_: &Ctx) -> Result<(), String> {
    let guess = weft_mm::stats().free_frames as usize;
    let mut frames: Vec<u64> = Vec::with_capacity(guess + 64);
    let start = weft_mm::stats();
    while let Some(f) = weft_mm::alloc_frame() {
        frames.push(f);
        if frames.len() == frames.capacity() {
            break; // never grow the Vec (that would take frames from under us)
        }
    }
    let during = weft_mm::stats();
    let n = frames.len() as u64;
    frames.sort_unstable();
    let distinct = frames.windows(2).all(|w| w[0] != w[1]);
    let all_ok = frames
        .iter()
        .all(|&f| f % 4096 == 0 && in_allocatable_region(f));
    for &f in &frames {
        weft_mm::free_frame(f);
    }
    let end = weft_mm::stats();
    check!(
        n == start.free_frames,
        "allocated {n} frames but {} were free",
        start.free_frames
    );
    check!(
        during.free_frames == 0,
        "{} frames still free after exhausting the allocator",
        during.free_frames
    );
    check!(distinct, "a frame was handed out twice");
    check!(
        all_ok,
        "a frame outside usable memory (or unaligned) was handed out"
    );
    check!(
        end.free_frames == start.free_frames,
        "free frames {} after freeing all, started at {}",
        end.free_frames,
        start.free_frames
    );
    Ok(())
}

pub fn frames_contiguous(_: &Ctx) -> Result<(), String> {
    let start = weft_mm::stats().free_frames;
    let a = weft_mm::alloc_frames(16);
    check!(a.is_some(), "no 16-frame contiguous run available");
    let a = a.unwrap();
    check!(
        a.is_multiple_of(4096) && in_allocatable_region(a) && in_allocatable_region(a + 15 * 4096),
        "run at {a:#x} outside usable memory"
    );
    check!(
        weft_mm::stats().free_frames == start - 16,
        "free count did not drop by 16"
    );
    let b = weft_mm::alloc_frame().unwrap();
    check!(
        b < a || b >= a + 16 * 4096,
        "single frame {b:#x} inside the contiguous run at {a:#x}"
    );
    weft_mm::free_frame(b);
    weft_mm::free_frames(a, 16);
    check!(
        weft_mm::stats().free_frames == start,
        "free count not restored"
    );
    Ok(())
}

pub fn heap_roundtrip(_: &Ctx) -> Result<(), String> {
    let start = weft_mm::stats();
    {
        let mut boxes: Vec<Box<[u8]>> = Vec::new();
        let mut total = 0usize;
        let mut size = 8usize;
        while total < 24 << 20 {
            let mut b = alloc::vec![0u8; size].into_boxed_slice();
            b[size - 1] = size as u8;
            total += size;
            boxes.push(b);
            size = if size >= 1 << 22 { 8 } else { size * 3 };
        }
        for b in &boxes {
            let n = b.len();
            check!(b[n - 1] == n as u8, "heap block of {n} bytes corrupted");
        }
        // Allocate until the heap (and the frames behind it) say no, in 1 MiB steps,
        // bounded to keep the test quick on big machines.
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        for _ in 0..64 {
            let mut v: Vec<u8> = Vec::new();
            if v.try_reserve_exact(1 << 20).is_err() {
                break;
            }
            v.push(1);
            chunks.push(v);
        }
        check!(
            !chunks.is_empty(),
            "could not allocate a single 1 MiB heap block"
        );
    }
    let end = weft_mm::stats();
    check!(
        end.heap_used == start.heap_used,
        "heap used {} bytes after freeing everything, started at {}",
        end.heap_used,
        start.heap_used
    );
    Ok(())
}

pub fn kernel_stack_guard_unmapped(_: &Ctx) -> Result<(), String> {
    let start = weft_mm::stats().free_frames;
    let s = weft_mm::alloc_kernel_stack(4);
    check!(s.is_some(), "could not allocate a kernel stack");
    let s = s.unwrap();
    let (g0, g1) = s.guard_range();
    check!(
        g1 <= s.top() - 4 * 4096,
        "guard page above the stack bottom"
    );
    check!(
        weft_arch::backtrace::is_mapped(s.top() - 8),
        "top of a new stack is not mapped"
    );
    check!(
        weft_arch::backtrace::is_mapped(s.top() - 4 * 4096),
        "bottom page of a new stack is not mapped"
    );
    check!(
        !weft_arch::backtrace::is_mapped(g0),
        "guard page {g0:#x} is mapped"
    );
    check!(
        weft_mm::is_guard_page(g0) && weft_mm::is_guard_page(g1 - 1),
        "is_guard_page does not recognise the guard page"
    );
    check!(
        !weft_mm::is_guard_page(s.top() - 8),
        "is_guard_page claims a live stack page"
    );
    drop(s);
    check!(
        weft_mm::stats().free_frames == start,
        "frames not returned after dropping a kernel stack"
    );
    Ok(())
}
