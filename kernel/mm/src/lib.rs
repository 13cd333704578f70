//! Weft memory management: physical frames, the kernel page table, the kernel heap, the
//! MMIO/firmware window, guarded kernel stacks, and user address spaces ([`user`]: VMAs,
//! demand-zero and copy-on-write memory, the `mmap` family, TLB shootdown, user-memory
//! access with fault recovery).
//!
//! # Kernel virtual layout (4-level paging, upper half)
//!
//! | range (start) | PML4 slot | size | what |
//! |---|---|---|---|
//! | `0xffff_8000_0000_0000` | 256.. | RAM size | HHDM from the bootloader (usable, bootloader-reclaimable, executable/modules, framebuffer only); the kernel heap lives here |
//! | `0xffff_c000_0000_0000` | 384 | 512 GiB | MMIO + firmware window ([`map_mmio`], [`map_firmware`]) |
//! | `0xffff_c800_0000_0000` | 400 | 512 GiB | guarded kernel stacks ([`alloc_kernel_stack`]) |
//! | `0xffff_ffff_8000_0000` | 511 | 2 GiB | kernel image (mapped by the bootloader, kept as is) |
//!
//! Every other upper-half slot is free for later use (e.g. a vmalloc area or per-CPU
//! areas). The lower half (PML4 0..255) belongs to user address spaces; the kernel page
//! table has nothing there (the bootloader's identity map, if any, is dropped).
//!
//! At [`init`] all 256 upper-half PML4 entries are made present, so a user address space
//! can share the kernel half by copying those 256 entries once
//! ([`new_address_space_root`]); later kernel mappings appear in every address space.
//!
//! # Start-up sequence (the kernel's side)
//! 1. BSP, interrupts off, bootloader page tables: [`init`]. This copies the bootloader's
//!    upper-half tables into frames mm owns (so the bootloader's tables can later be
//!    reclaimed), loads them on the BSP, and sets up the frame allocator and the heap.
//! 2. Every AP, as early as possible: [`load_kernel_page_table`] (EFER.NXE must already
//!    be set, as Limine does).
//! 3. Once every CPU runs on the kernel page table and on a kernel-allocated stack, and
//!    boot information has been copied: [`reclaim_bootloader_memory`].
//!
//! # Lock order
//! A total order (not every pair is ever nested): stack-range lock -> MMIO-window lock ->
//! kernel page-table lock -> heap lock -> frame-allocator lock. Nesting that does occur:
//! stack range -> heap (hole map); MMIO window -> page table -> frames; MMIO window ->
//! heap (mapping cache); page table -> frames (new tables); heap -> frames (growth). All
//! are [`sync::IrqSpin`] locks (interrupts off while held), so they may be taken from
//! interrupt handlers. The TLB hook is always called with no mm lock held. User address
//! spaces have their own locks, all above these (see [`user`]).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod frame;
pub mod heap;
pub mod layout;
pub mod mmio;
pub mod paging;
pub mod region;
mod stack;
pub mod sync;
pub mod user;
pub mod vrange;

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use frame::FrameAllocator;
use heap::HeapSource;
use layout::{
    KERNEL_HALF_START, MMIO_BASE, MMIO_SIZE, PAGE_SIZE, STACK_BASE, STACK_SIZE, pml4_index,
};
use mmio::{MapKind, Window};
use paging::{PageTables, pte};
use sync::{IrqMutex, IrqSpin, hw};

pub use region::{Region, RegionKind};
pub use stack::{
    CACHED_STACK_PAGES, KernelStack, MAX_STACK_PAGES, alloc_kernel_stack, cached_stacks,
    is_guard_page, stack_space_used,
};
pub use user::{AddressSpace, Efault, FaultError, fixup_for, set_shootdown_hook, uaccess_fixup};

/// The kernel page table and the number of table frames mm allocated for it.
pub(crate) struct KernelSpace {
    pub(crate) pt: PageTables,
    pub(crate) tables: u64,
}

static INITIALIZED: AtomicBool = AtomicBool::new(false);
static HHDM: AtomicU64 = AtomicU64::new(0);
/// Root of the kernel page table, for lock-free walks and CR3 loads.
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);
static LOG_FN: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
static TLB_HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

pub(crate) static FRAMES: FrameAllocator = FrameAllocator::new();
pub(crate) static KERNEL: IrqMutex<KernelSpace> = IrqMutex::new(KernelSpace {
    pt: PageTables::empty(),
    tables: 0,
});
static WINDOW: IrqMutex<Window> = IrqMutex::new(Window::new(MMIO_BASE, MMIO_BASE + MMIO_SIZE));

/// The kernel heap. On the kernel target it is the global allocator.
#[cfg_attr(target_os = "none", global_allocator)]
static HEAP: talc::TalcLock<IrqSpin, HeapSource> = talc::TalcLock::new(HeapSource::new(&FRAMES));

fn log(args: fmt::Arguments<'_>) {
    let p = LOG_FN.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: LOG_FN only ever holds null or a `fn(fmt::Arguments)` stored by `init`;
        // function and data pointers have the same size and representation on x86_64.
        let f = unsafe { core::mem::transmute::<*mut (), fn(fmt::Arguments<'_>)>(p) };
        f(args);
    }
}

/// Lock-free view of the kernel page table. Valid because kernel-half intermediate tables
/// are never freed (see [`paging`]).
pub(crate) fn kernel_tables_lockfree() -> PageTables {
    // SAFETY: KERNEL_ROOT is 0 (walks return nothing) or the kernel PML4 built by `init`,
    // whose tables are reachable through the HHDM and only edited under `KERNEL`; walks use
    // atomic entry reads.
    unsafe {
        PageTables::new(
            KERNEL_ROOT.load(Ordering::Acquire),
            HHDM.load(Ordering::Relaxed),
        )
    }
}

/// Sets the function called after kernel ranges are unmapped (and flushed locally), with
/// the unmapped `[start, end)`, so the kernel can shoot down other CPUs' TLBs. It is called
/// with no mm lock held, before the frames behind the range are reused. Entries may be
/// global, so remote CPUs must `invlpg` (a CR3 reload is not enough).
pub fn set_tlb_flush_hook(f: fn(u64, u64)) {
    TLB_HOOK.store(f as *mut (), Ordering::Release);
}

/// Invalidates `[start, end)` in the local TLB, then calls the TLB hook.
pub(crate) fn flush_kernel_range(start: u64, end: u64) {
    for page in (start..end).step_by(PAGE_SIZE as usize) {
        hw::invlpg(page);
    }
    let p = TLB_HOOK.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: TLB_HOOK only ever holds null or a `fn(u64, u64)` stored by
        // `set_tlb_flush_hook`; function and data pointers share a representation here.
        let f = unsafe { core::mem::transmute::<*mut (), fn(u64, u64)>(p) };
        f(start, end);
    }
}

/// Initialises mm on the BSP: validates the memory map, builds the frame allocator over
/// the usable memory, copies the bootloader's upper-half page tables into the kernel page
/// table and loads it (this CPU only), and sets up the kernel heap (so `alloc` works
/// afterwards). CR4 is not touched. Problems in the memory map are reported through
/// `log_fn` (which must not allocate; every message starts with "mm: ", and later mm
/// messages, e.g. from [`reclaim_bootloader_memory`], use it too); fatal problems panic
/// with a message starting with "mm:".
///
/// # Safety
/// Call once, on the BSP, with interrupts off, on the bootloader's page tables (which map
/// the running kernel, its stack and the HHDM at `hhdm_offset`). `regions` must describe
/// physical memory truthfully: memory listed as usable must really be free.
pub unsafe fn init(hhdm_offset: u64, regions: &[Region], log_fn: fn(fmt::Arguments<'_>)) {
    let boot_root = hw::read_cr3();
    // SAFETY: forwarded from the caller; `boot_root` is the active page table.
    unsafe { init_with_root(hhdm_offset, regions, log_fn, boot_root) }
}

/// [`init`] with an explicit bootloader page-table root (host tests use fake memory).
///
/// # Safety
/// As for [`init`]; `boot_root` is the hierarchy currently in use.
unsafe fn init_with_root(
    hhdm: u64,
    regions: &[Region],
    log_fn: fn(fmt::Arguments<'_>),
    boot_root: u64,
) {
    if INITIALIZED.swap(true, Ordering::AcqRel) {
        panic!("weft_mm::init called twice");
    }
    LOG_FN.store(log_fn as *mut (), Ordering::Release);
    if hw::five_level_paging() {
        panic!("mm: 5-level paging is active; Weft supports 4-level paging only");
    }
    HHDM.store(hhdm, Ordering::Release);

    // The HHDM must end below the windows mm uses.
    let hhdm_top = regions
        .iter()
        .filter(|r| r.kind.in_hhdm())
        .filter_map(|r| r.end())
        .max()
        .unwrap_or(0);
    if hhdm
        .checked_add(hhdm_top)
        .is_none_or(|end| layout::overlaps(hhdm, end, MMIO_BASE, STACK_BASE + STACK_SIZE))
    {
        panic!(
            "mm: HHDM at {hhdm:#x} covering {hhdm_top:#x} bytes collides with mm's windows at {MMIO_BASE:#x}"
        );
    }

    // Frames. The list is computed completely before any zone metadata is written.
    let usable = region::select(regions, RegionKind::Usable, &mut |a| log(a));
    // SAFETY: the HHDM maps all usable memory (the bootloader's contract).
    unsafe { FRAMES.set_hhdm(hhdm) };
    for r in usable.as_slice() {
        // SAFETY: sanitised usable RAM, page-aligned, disjoint, in the HHDM, unused.
        if let Err(e) = unsafe { FRAMES.add_range(r.start, r.end) } {
            log(format_args!(
                "mm: usable range [{:#x}, {:#x}) ignored: {e}",
                r.start, r.end
            ));
        }
    }
    if FRAMES.free_frames() == 0 {
        panic!("mm: the memory map has no usable memory");
    }

    // Kernel page table: a private copy of the bootloader's upper half.
    let readable = |p: u64| {
        regions
            .iter()
            .any(|r| r.kind.in_hhdm() && r.base <= p && r.end().is_some_and(|e| p + PAGE_SIZE <= e))
    };
    // SAFETY: `boot_root` is the active hierarchy; its tables are only read.
    let boot = unsafe { PageTables::new(boot_root, hhdm) };
    for slot in [pml4_index(MMIO_BASE), pml4_index(STACK_BASE)] {
        if readable(boot_root) && boot.root_entry(slot) & pte::PRESENT != 0 {
            panic!("mm: the bootloader maps PML4 slot {slot}, which mm reserves for its own use");
        }
    }
    // SAFETY: as above; FRAMES hands out HHDM-mapped memory.
    let (pt, tables) =
        match unsafe { PageTables::clone_kernel_half(boot_root, hhdm, &FRAMES, &readable) } {
            Ok(x) => x,
            Err(e) => panic!("mm: cannot copy the bootloader page tables at {boot_root:#x}: {e:?}"),
        };
    let (mut pt, mut tables) = (pt, tables);
    // Page tables for the start of the stack region, so the first stacks (boot, IST, AP
    // and early thread stacks) come and go without creating tables (kernel tables are
    // never freed, so a table created by a stack would outlive it).
    for off in (0..stack::STACK_PREMAPPED_TABLES).step_by(2 << 20) {
        if let Err(e) = pt.ensure_table(STACK_BASE + off, pte::KERNEL_TABLE, &FRAMES, &mut tables) {
            panic!("mm: cannot create the kernel stack page tables: {e:?}");
        }
    }
    *KERNEL.lock() = KernelSpace { pt, tables };
    KERNEL_ROOT.store(pt.root(), Ordering::Release);
    // SAFETY: the new hierarchy maps the whole upper half exactly as the bootloader's did
    // (the kernel, its stack, the HHDM); the lower half is unused by the kernel (Limine
    // guarantees nothing there).
    unsafe { hw::write_cr3(pt.root()) };

    // Heap: 1/64 of memory, between 256 KiB and 4 MiB, kept for good.
    let total = FRAMES.total_frames();
    let boot_heap = (total / 64).clamp(64, 1024).next_power_of_two() * PAGE_SIZE;
    if !HeapSource::grow(&mut HEAP.lock(), boot_heap as usize / 2, true) {
        panic!("mm: cannot allocate the initial {boot_heap:#x}-byte kernel heap");
    }

    let s = stats();
    log(format_args!(
        "mm: {} MiB usable in {} ranges, {} KiB heap, {} page-table frames, kernel PML4 at {:#x}",
        (s.total_frames * PAGE_SIZE) >> 20,
        usable.len(),
        s.heap_capacity >> 10,
        s.page_table_frames,
        pt.root()
    ));
}

/// Hands the bootloader-reclaimable memory of `regions` to the frame allocator; returns
/// the number of frames added. Ranges that overlap memory already managed are skipped
/// with a log line, so a second call adds nothing.
///
/// # Safety
/// Nothing may use bootloader memory any more: every CPU has run
/// [`load_kernel_page_table`] (the bootloader's page tables get recycled), no CPU runs on
/// a bootloader-provided stack, and every bootloader response still needed (memory map,
/// module list, command line, MP info) has been copied. `regions` itself may live in
/// reclaimable memory: it is read completely before anything is written.
pub unsafe fn reclaim_bootloader_memory(regions: &[Region]) -> u64 {
    let ranges = region::select(regions, RegionKind::BootloaderReclaimable, &mut |a| log(a));
    let mut added = 0;
    for r in ranges.as_slice() {
        // SAFETY: the caller guarantees the bootloader memory is unused; the HHDM maps it.
        match unsafe { FRAMES.add_range(r.start, r.end) } {
            Ok(n) => added += n,
            Err(e) => log(format_args!(
                "mm: reclaimable range [{:#x}, {:#x}) skipped: {e}",
                r.start, r.end
            )),
        }
    }
    log(format_args!(
        "mm: reclaimed {} KiB of bootloader memory",
        (added * PAGE_SIZE) >> 10
    ));
    added
}

/// Loads the kernel page table into CR3 on this CPU (for APs, which start on the
/// bootloader's tables).
///
/// # Safety
/// [`init`] has run; this CPU has EFER.NXE set and runs on code, stack and data in the
/// upper half.
pub unsafe fn load_kernel_page_table() {
    let root = KERNEL_ROOT.load(Ordering::Acquire);
    assert!(root != 0, "load_kernel_page_table before weft_mm::init");
    // SAFETY: `root` maps the whole upper half as the bootloader did (see `init`); the
    // caller guarantees nothing in the lower half is in use.
    unsafe { hw::write_cr3(root) };
}

/// Physical address of the kernel PML4 (a CR3 value), 0 before [`init`].
pub fn kernel_page_table_phys() -> u64 {
    KERNEL_ROOT.load(Ordering::Acquire)
}

/// A fresh PML4 for a user address space: empty lower half, upper half shared with the
/// kernel page table. Free it with [`free_frame`] once no CPU uses it.
pub fn new_address_space_root() -> Option<u64> {
    let k = KERNEL.lock();
    if k.pt.root() == 0 {
        return None;
    }
    k.pt.new_sharing_kernel_half(&FRAMES)
}

/// The HHDM offset (virtual = physical + offset for RAM).
pub fn hhdm_offset() -> u64 {
    HHDM.load(Ordering::Relaxed)
}

/// HHDM address of physical `p` (RAM only; MMIO and ACPI memory are not in the HHDM).
pub fn phys_to_virt(p: u64) -> *mut u8 {
    p.wrapping_add(hhdm_offset()) as *mut u8
}

/// Physical address of the kernel-half virtual address `v` (by a page-table walk, all
/// page sizes). `None` if unmapped or in the lower half.
pub fn virt_to_phys(v: u64) -> Option<u64> {
    if v < KERNEL_HALF_START {
        return None;
    }
    kernel_tables_lockfree().translate(v)
}

/// One zeroed 4 KiB frame (physical address).
pub fn alloc_frame() -> Option<u64> {
    FRAMES.alloc()
}

/// Frees a frame from [`alloc_frame`]. Panics on a double free or a foreign address.
pub fn free_frame(p: u64) {
    FRAMES.free(p, 1)
}

/// `n` physically contiguous zeroed frames; the run is aligned to the next power of two
/// of `n` frames (at most 2^[`frame::MAX_ORDER`] frames).
pub fn alloc_frames(n: usize) -> Option<u64> {
    FRAMES.alloc_contig(n)
}

/// Frees `n` frames starting at `p`; any allocated sub-run may be freed on its own.
/// Panics on a double free or a foreign address.
pub fn free_frames(p: u64, n: usize) {
    FRAMES.free(p, n)
}

/// Memory counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemStats {
    /// Frames managed by the frame allocator.
    pub total_frames: u64,
    /// Frames currently free.
    pub free_frames: u64,
    /// Bytes allocated from the kernel heap (sum of live allocation sizes).
    pub heap_used: u64,
    /// Bytes the heap has claimed from the frame allocator (talc's claimed bytes).
    pub heap_capacity: u64,
    /// Frames used by the kernel page table (tables mm allocated).
    pub page_table_frames: u64,
    /// Frames holding user pages (see [`user::user_frames`]).
    pub user_frames: u64,
    /// Frames of user page tables and shared-object directories (see
    /// [`user::user_tables`]).
    pub user_tables: u64,
}

/// Current memory counters (each exact; taken one after the other).
pub fn stats() -> MemStats {
    let f = FRAMES.counts();
    let (heap_used, heap_capacity) = {
        let h = HEAP.lock();
        let c = h.counters();
        (c.allocated_bytes as u64, c.claimed_bytes as u64)
    };
    let page_table_frames = KERNEL.lock().tables;
    MemStats {
        total_frames: f.total,
        free_frames: f.free,
        heap_used,
        heap_capacity,
        page_table_frames,
        user_frames: user::user_frames(),
        user_tables: user::user_tables(),
    }
}

/// Heap-run counters (how many physical runs back the heap, grows and releases so far).
pub fn heap_run_stats() -> heap::HeapRunStats {
    HEAP.lock().source.run_stats()
}

fn map_window(phys: u64, size: u64, kind: MapKind) -> u64 {
    let mut w = WINDOW.lock();
    let mut map_page = |v: u64, p: u64| {
        let mut k = KERNEL.lock();
        let k = &mut *k;
        if k.pt.root() == 0 {
            panic!("weft_mm: mapping device memory before init");
        }
        k.pt.map(
            v,
            p,
            kind.flags(),
            pte::KERNEL_TABLE,
            &FRAMES,
            &mut k.tables,
        )
    };
    match w.map(phys, size, kind, &mut map_page) {
        Ok(v) => v,
        Err(e) => panic!("mm: cannot map {kind:?} [{phys:#x}, +{size:#x}): {e:?}"),
    }
}

/// Maps device registers `[phys, phys + size)` (any alignment) uncached, writable,
/// no-execute and global in the MMIO window (not the HHDM); returns the virtual address
/// of `phys`. Mappings are permanent; a range inside an earlier MMIO mapping reuses it.
/// Panics if the window or memory for page tables runs out.
pub fn map_mmio(phys: u64, size: u64) -> *mut u8 {
    map_window(phys, size, MapKind::Mmio) as *mut u8
}

/// Maps firmware tables (ACPI) `[phys, phys + size)` read-only, cacheable, no-execute in
/// the MMIO window; returns the virtual address of `phys`. Permanent and cached like
/// [`map_mmio`].
pub fn map_firmware(phys: u64, size: u64) -> *const u8 {
    map_window(phys, size, MapKind::Firmware) as *const u8
}

/// The firmware bytes `[phys, phys + len)` as a slice, through [`map_firmware`].
/// Meant for tables nothing writes (ACPI tables, the RSDP); do not use it on memory that
/// is also mapped with [`map_mmio`] or handed out as RAM.
pub fn firmware_slice(phys: u64, len: u64) -> &'static [u8] {
    if len == 0 {
        return &[];
    }
    let p = map_firmware(phys, len);
    // SAFETY: `map_firmware` mapped `[phys, phys + len)` at `p` permanently (mappings in
    // the window are never removed) and read-only; firmware tables are not RAM the
    // allocators hand out, and the kernel does not write them, so the bytes stay valid and
    // unchanged for 'static.
    unsafe { core::slice::from_raw_parts(p, len as usize) }
}

#[cfg(test)]
mod tests;
