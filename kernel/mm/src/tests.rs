//! End-to-end test of the global state on fake physical memory: `init` over a fake
//! bootloader page table, frames, heap growth, MMIO/firmware mappings, guarded stacks and
//! reclaiming bootloader memory. The globals exist once per process, so everything that
//! touches them is in this one test.

use super::*;
use crate::frame::fake::FakeMem;
use crate::layout::*;
use core::alloc::Layout;
use std::sync::Mutex;

static LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static FLUSHES: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());

fn test_log(a: fmt::Arguments<'_>) {
    LOGS.lock().unwrap().push(a.to_string());
}

fn test_hook(start: u64, end: u64) {
    FLUSHES.lock().unwrap().push((start, end));
}

const MIB: u64 = 1 << 20;
const BOOT: (u64, u64) = (0x300_0000 + 0x10000, 0x380_0000);
const IMAGE: u64 = 0x380_0000;
const ACPI: u64 = 0x3a0_0000;

fn regions() -> Vec<Region> {
    use RegionKind::*;
    let r = |base: u64, end: u64, kind| Region {
        base,
        len: end - base,
        kind,
    };
    vec![
        r(0x10_0000, 0x300_0000, Usable),
        r(0x300_0000, BOOT.0, Reserved),
        r(BOOT.0, BOOT.1, BootloaderReclaimable),
        r(IMAGE, IMAGE + 2 * MIB, ExecutableAndModules),
        r(ACPI, ACPI + 0x10000, AcpiReclaimable),
        r(ACPI + 0x10800, 0x410_0000, Usable), // unaligned start: clipped
        r(0x410_0000, 0x410_0000, Reserved),   // empty: skipped
    ]
}

/// Builds a Limine-like hierarchy in the bootloader-reclaimable range: HHDM with 2 MiB
/// pages, the kernel image with 4 KiB pages, and a low identity mapping.
fn boot_tables(mem: &FakeMem) -> u64 {
    let fa = Box::leak(Box::new(FrameAllocator::new()));
    // SAFETY: the range is fake memory that only this throwaway allocator uses until the
    // "kernel" reclaims it.
    unsafe {
        fa.set_hhdm(mem.hhdm());
        fa.add_range(BOOT.0, BOOT.1).unwrap();
    }
    let root = fa.alloc().unwrap();
    // SAFETY: fresh root in fake memory.
    let mut pt = unsafe { PageTables::new(root, mem.hhdm()) };
    let mut n = 0;
    pt.map(0x1000, 0x1000, pte::WRITABLE, pte::KERNEL_TABLE, fa, &mut n)
        .unwrap();
    for i in 0..16u64 {
        let f = if i < 8 {
            0
        } else {
            pte::WRITABLE | pte::NO_EXECUTE
        };
        pt.map(
            KERNEL_IMAGE_BASE + i * PAGE_SIZE,
            IMAGE + i * PAGE_SIZE,
            f,
            pte::KERNEL_TABLE,
            fa,
            &mut n,
        )
        .unwrap();
    }
    // HHDM: one PDPT, one PD with 2 MiB pages over [0, 66 MiB).
    let pdpt = fa.alloc().unwrap();
    let pd = fa.alloc().unwrap();
    let set = |t: u64, i: u64, v: u64| {
        let p = (t + i * 8).wrapping_add(mem.hhdm()) as *mut u64;
        // SAFETY: `t` is a table frame in fake memory; `i` < 512.
        unsafe { p.write(v) };
    };
    set(root, 256, pdpt | pte::KERNEL_TABLE);
    set(pdpt, 0, pd | pte::KERNEL_TABLE);
    for i in 0..33u64 {
        set(
            pd,
            i,
            (i << 21) | pte::PRESENT | pte::WRITABLE | pte::HUGE | pte::NO_EXECUTE,
        );
    }
    root
}

fn heap_alloc(size: usize) -> Option<*mut u8> {
    // SAFETY: non-zero size.
    unsafe {
        HEAP.lock()
            .allocate(Layout::from_size_align(size, 16).unwrap())
    }
    .map(|p| p.as_ptr())
}

fn heap_free(p: *mut u8, size: usize) {
    // SAFETY: `p` came from `heap_alloc(size)`.
    unsafe {
        HEAP.lock()
            .deallocate(p, Layout::from_size_align(size, 16).unwrap())
    }
}

#[test]
fn global_lifecycle() {
    let mem: &'static FakeMem = Box::leak(Box::new(FakeMem::new(0x10_0000, 64 * MIB)));
    let hhdm = mem.hhdm();
    let boot_root = boot_tables(mem);
    let map = regions();
    assert!(alloc_frame().is_none(), "no frames before init");
    assert!(alloc_kernel_stack(4).is_none(), "no stacks before init");

    // SAFETY: fake memory described truthfully by `map`; `boot_root` is the fake
    // bootloader hierarchy. CR3 writes are no-ops on the host.
    unsafe { init_with_root(hhdm, &map, test_log, boot_root) };
    set_tlb_flush_hook(test_hook);
    let logs = LOGS.lock().unwrap().clone();
    assert!(
        logs.iter().any(|l| l.contains("not page-aligned")),
        "{logs:?}"
    );
    assert!(logs.iter().any(|l| l.contains("length 0")), "{logs:?}");
    assert!(
        logs.iter()
            .any(|l| l.starts_with("mm: ") && l.contains("MiB usable in")),
        "{logs:?}"
    );

    // Frames: usable = [1 MiB, 48 MiB) + [ACPI+68 KiB, 65 MiB), minus each zone's
    // metadata (5 bytes per frame).
    let meta = |f: u64| (f.next_multiple_of(4) + 4 * f).div_ceil(4096);
    let s0 = stats();
    let z1 = (0x300_0000 - 0x10_0000) / PAGE_SIZE;
    let z2 = (0x410_0000 - (ACPI + 0x11000)) / PAGE_SIZE;
    assert_eq!(s0.total_frames, z1 - meta(z1) + z2 - meta(z2));
    // Copied tables (root, 254 empty PDPTs, HHDM PDPT+PD, kernel PDPT+PD+PT) plus the
    // stack region's pre-created PD and two PTs.
    assert_eq!(s0.page_table_frames, 1 + 254 + 2 + 3 + 3);
    assert!(s0.heap_capacity >= 256 * 1024);
    let heap_frames = heap_run_stats().pages;
    assert_eq!(
        s0.free_frames,
        s0.total_frames - s0.page_table_frames - heap_frames
    );

    // Page table: a private copy, upper half only, same translations.
    let root = kernel_page_table_phys();
    assert!(root != 0 && root != boot_root);
    assert!(FRAMES.is_managed(root));
    assert_eq!(
        virt_to_phys(KERNEL_IMAGE_BASE + 0x1234),
        Some(IMAGE + 0x1234)
    );
    assert_eq!(virt_to_phys(HHDM_EXPECTED + 0x12_3456), Some(0x12_3456));
    assert_eq!(virt_to_phys(0x1000), None);
    assert_eq!(phys_to_virt(0x5000) as u64, 0x5000u64.wrapping_add(hhdm));
    assert_eq!(hhdm_offset(), hhdm);

    // Frames through the public API.
    let f = alloc_frame().unwrap();
    let run = alloc_frames(5).unwrap();
    assert_eq!(stats().free_frames, s0.free_frames - 6);
    free_frames(run + PAGE_SIZE, 4);
    free_frames(run, 1);
    free_frame(f);
    assert_eq!(stats().free_frames, s0.free_frames);
    assert!(
        std::panic::catch_unwind(|| free_frame(f)).is_err(),
        "double free must panic"
    );

    // Heap: allocate most of memory, free it, and come back to the same counters.
    let mut live = Vec::new();
    let mut i = 0usize;
    while let Some(p) = heap_alloc(if i % 8 == 7 { 200_000 } else { 100 + i % 3000 }) {
        live.push((p, if i % 8 == 7 { 200_000 } else { 100 + i % 3000 }));
        i += 1;
    }
    let full = stats();
    assert!(full.free_frames < s0.free_frames / 10, "{full:?}");
    assert_eq!(full.heap_used, live.iter().map(|l| l.1 as u64).sum::<u64>());
    assert!(heap_run_stats().runs > 2);
    for (p, s) in live.drain(..).rev() {
        heap_free(p, s);
    }
    let back = stats();
    assert_eq!(
        (back.free_frames, back.heap_used, back.heap_capacity),
        (s0.free_frames, 0, s0.heap_capacity)
    );

    // MMIO and firmware mappings.
    let lapic = map_mmio(0xfee0_0000, 0x400) as u64;
    assert!((MMIO_BASE..MMIO_BASE + MMIO_SIZE).contains(&lapic));
    assert_eq!(virt_to_phys(lapic + 0x20), Some(0xfee0_0020));
    assert_eq!(map_mmio(0xfee0_0300, 4) as u64, lapic + 0x300);
    let leaf = kernel_tables_lockfree().leaf_entry(lapic).unwrap();
    let want = pte::PRESENT
        | pte::WRITABLE
        | pte::NO_CACHE
        | pte::WRITE_THROUGH
        | pte::NO_EXECUTE
        | pte::GLOBAL;
    assert_eq!(leaf & !pte::ADDR, want);
    let rsdp = map_firmware(ACPI + 0x10, 36) as u64;
    assert_eq!(virt_to_phys(rsdp), Some(ACPI + 0x10));
    let leaf = kernel_tables_lockfree().leaf_entry(rsdp).unwrap();
    assert_eq!(
        leaf & !pte::ADDR,
        pte::PRESENT | pte::NO_EXECUTE | pte::GLOBAL
    );
    // Crossing a page: both pages mapped, contiguous.
    let x = map_firmware(ACPI + 0xff0, 0x20) as u64;
    assert_eq!(virt_to_phys(x + 0x18), Some(ACPI + 0x1008));
    assert!(firmware_slice(ACPI, 0).is_empty());

    // Guarded stacks.
    let before = stats();
    let s = alloc_kernel_stack(4).unwrap();
    assert_eq!(s.top() - s.bottom(), 4 * PAGE_SIZE);
    assert_eq!(s.top() % 16, 0);
    let (g0, g1) = s.guard_range();
    assert_eq!((g1, g1 - g0), (s.bottom(), PAGE_SIZE));
    assert!(is_guard_page(g0) && is_guard_page(g1 - 1));
    assert!(!is_guard_page(s.bottom()) && !is_guard_page(s.top()));
    assert!(!is_guard_page(0x1000) && !is_guard_page(lapic));
    assert!(virt_to_phys(g0).is_none());
    assert!(virt_to_phys(s.top() - 8).is_some());
    let leaf = kernel_tables_lockfree().leaf_entry(s.bottom()).unwrap();
    assert_eq!(
        leaf & !pte::ADDR,
        pte::PRESENT | pte::WRITABLE | pte::NO_EXECUTE | pte::GLOBAL
    );
    let t = alloc_kernel_stack(2).unwrap();
    assert_eq!(
        t.guard_range().0,
        s.top(),
        "stacks are packed: the next guard sits above"
    );
    let tables_now = stats().page_table_frames;
    assert_eq!(
        tables_now, before.page_table_frames,
        "early stacks use pre-created tables"
    );
    assert_eq!(stats().free_frames, before.free_frames - 6);
    let (sb, st) = (s.bottom(), s.top());
    FLUSHES.lock().unwrap().clear();
    drop(s);
    assert_eq!(FLUSHES.lock().unwrap().as_slice(), &[(sb, st)]);
    assert!(!is_guard_page(g0));
    assert!(virt_to_phys(sb).is_none());
    drop(t);
    assert_eq!(
        stats().free_frames,
        before.free_frames,
        "stack frames returned exactly"
    );
    assert_eq!(stack_space_used(), 0);
    assert!(alloc_kernel_stack(0).is_none());
    assert!(alloc_kernel_stack(MAX_STACK_PAGES + 1).is_none());
    // A big stack crosses release chunks; its address range is reused afterwards.
    let big = alloc_kernel_stack(100).unwrap();
    let big_bottom = big.bottom();
    FLUSHES.lock().unwrap().clear();
    drop(big);
    assert_eq!(FLUSHES.lock().unwrap().len(), 4);
    assert_eq!(alloc_kernel_stack(100).unwrap().bottom(), big_bottom);

    // A user address-space root shares the kernel half.
    let user = new_address_space_root().unwrap();
    // SAFETY: fresh root in fake memory.
    let u = unsafe { PageTables::new(user, hhdm) };
    assert_eq!(u.translate(lapic), Some(0xfee0_0000));
    assert_eq!(u.root_entry(0), 0);
    free_frame(user);

    // Reclaim the bootloader memory (the fake boot tables live there), then use all of it:
    // the kernel page table must be unaffected.
    let total = stats().total_frames;
    // SAFETY: nothing uses the fake bootloader range any more.
    let added = unsafe { reclaim_bootloader_memory(&map) };
    let boot_frames = (BOOT.1 - BOOT.0) / PAGE_SIZE;
    assert_eq!(added, boot_frames - meta(boot_frames));
    assert_eq!(stats().total_frames, total + added);
    // SAFETY: as above; a second call only logs.
    assert_eq!(unsafe { reclaim_bootloader_memory(&map) }, 0);
    let mut all = Vec::new();
    while let Some(f) = alloc_frame() {
        all.push(f);
    }
    assert!(all.iter().any(|&f| (BOOT.0..BOOT.1).contains(&f)));
    assert_eq!(
        virt_to_phys(KERNEL_IMAGE_BASE + 0x8010),
        Some(IMAGE + 0x8010)
    );
    assert_eq!(virt_to_phys(lapic), Some(0xfee0_0000));
    for f in all {
        free_frame(f);
    }
    let end = stats();
    assert_eq!(
        end.free_frames,
        end.total_frames - end.page_table_frames - heap_frames
    );

    // User address spaces need the globals too.
    crate::user::tests::run_all();
}
