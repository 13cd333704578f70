//! Address-space scenarios on fake physical memory. They need the global frame allocator
//! and kernel page table, so [`crate::tests::global_lifecycle`] runs them after `init`
//! (see [`run_all`]). A tiny software MMU ([`sim`]) walks the page tables the way the CPU
//! would and calls `handle_fault` with the error code the CPU would push.

use super::*;
use crate::frame::FrameError;
use crate::paging::{PageTables, pte};
use crate::sync::hw;
use crate::{FRAMES, heap_run_stats, hhdm_offset, phys_to_virt, stats};
use alloc::sync::Arc;
use std::sync::Mutex;
use weft_abi::errno::Errno;
use weft_abi::mman::*;

const P: u64 = crate::layout::PAGE_SIZE;
const RW: u32 = PROT_READ | PROT_WRITE;
const ANON: u32 = MAP_PRIVATE | MAP_ANONYMOUS;
const SHARED: u32 = MAP_SHARED | MAP_ANONYMOUS;

static SHOOTDOWNS: Mutex<Vec<(u64, u64, u64, u64)>> = Mutex::new(Vec::new());

fn hook(mask: u64, root: u64, start: u64, end: u64) {
    SHOOTDOWNS.lock().unwrap().push((mask, root, start, end));
}

fn shootdowns() -> Vec<(u64, u64, u64, u64)> {
    core::mem::take(&mut *SHOOTDOWNS.lock().unwrap())
}

fn tables(a: &AddressSpace) -> PageTables {
    // SAFETY: the address space's root in fake memory; only read here.
    unsafe { PageTables::new(a.root_phys(), hhdm_offset()) }
}

/// The software MMU: returns a pointer to the byte at `addr` once the access is allowed,
/// faulting like the CPU would.
fn sim(a: &AddressSpace, addr: u64, access: Access) -> Result<*mut u8, FaultError> {
    for _ in 0..4 {
        let e = tables(a).leaf_entry(addr & !(P - 1)).unwrap_or(0);
        let ok = e & pte::PRESENT != 0
            && e & pte::USER != 0
            && match access {
                Access::Read => true,
                Access::Write => e & pte::WRITABLE != 0,
                Access::Exec => e & pte::NO_EXECUTE == 0,
            };
        if ok {
            return Ok(phys_to_virt((e & pte::ADDR) + addr % P));
        }
        let mut code = pf::USER | (e & pte::PRESENT);
        match access {
            Access::Write => code |= pf::WRITE,
            Access::Exec => code |= pf::INSTR,
            Access::Read => {}
        }
        a.handle_fault(addr, code)?;
    }
    panic!("fault at {addr:#x} keeps repeating");
}

fn rd(a: &AddressSpace, addr: u64) -> Result<u8, FaultError> {
    // SAFETY: `sim` returned a pointer into a frame mapped by `a` (fake memory).
    sim(a, addr, Access::Read).map(|p| unsafe { p.read_volatile() })
}

fn wr(a: &AddressSpace, addr: u64, v: u8) -> Result<(), FaultError> {
    // SAFETY: as in `rd`, and the entry allows writing.
    sim(a, addr, Access::Write).map(|p| unsafe { p.write_volatile(v) })
}

fn frame_of(a: &AddressSpace, addr: u64) -> u64 {
    tables(a).translate(addr).unwrap_or(0) & !(P - 1)
}

/// Free frames plus the frames the heap holds (the heap may grow during the tests).
fn free_and_heap() -> u64 {
    stats().free_frames + heap_run_stats().pages
}

/// Runs every scenario in order (the globals are initialised by the caller).
pub(crate) fn run_all() {
    set_shootdown_hook(hook);
    hw::set_this_cpu(0);
    let start = free_and_heap();
    assert_eq!((user_frames(), user_tables()), (0, 0));
    mmap_arguments();
    demand_zero_and_protection();
    munmap_and_tables();
    fork_copy_on_write();
    shared_memory();
    brk_semantics();
    elf_helpers();
    map_limit();
    atomic_mode();
    switching();
    concurrent_faults();
    assert_eq!((user_frames(), user_tables()), (0, 0), "user memory leaked");
    assert_eq!(free_and_heap(), start, "frames did not come back");
}

fn mmap_arguments() {
    let a = AddressSpace::new().unwrap();
    // Argument validation.
    assert_eq!(a.mmap(0, 0, RW, ANON), Err(Errno::EINVAL));
    assert_eq!(a.mmap(0, P, RW, MAP_PRIVATE), Err(Errno::ENODEV));
    assert_eq!(
        a.mmap(0, P, RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS),
        Err(Errno::EINVAL)
    );
    assert_eq!(a.mmap(0, P, RW, MAP_ANONYMOUS), Err(Errno::EINVAL));
    assert_eq!(a.mmap(0, P, RW, SHARED | MAP_GROWSDOWN), Err(Errno::EINVAL));
    assert_eq!(a.mmap(0, u64::MAX - 5, RW, ANON), Err(Errno::ENOMEM));
    assert_eq!(a.mmap(0, USER_END + P, RW, ANON), Err(Errno::ENOMEM));
    assert_eq!(
        a.mmap(0x40_0001, P, RW, ANON | MAP_FIXED),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        a.mmap(USER_END - P, 2 * P, RW, ANON | MAP_FIXED),
        Err(Errno::ENOMEM)
    );
    assert_eq!(a.mmap(0x1000, P, RW, ANON | MAP_FIXED), Err(Errno::EPERM));
    // Placement: top-down below the mmap base, pages rounded up.
    let x = a.mmap(0, 5000, RW, ANON).unwrap();
    assert_eq!(x, DEFAULT_MMAP_BASE - 2 * P);
    let y = a.mmap(0, P, PROT_READ, ANON).unwrap();
    assert_eq!(y, x - P);
    // A free hint is honoured (rounded down); an occupied one is not.
    assert_eq!(a.mmap(0x1234_5678, P, RW, ANON), Ok(0x1234_5000));
    assert_eq!(a.mmap(x, P, RW, ANON), Ok(y - P));
    // A hint below mmap_min_addr is raised to it.
    assert_eq!(a.mmap(0x2010, P, RW, ANON), Ok(MMAP_MIN_ADDR));
    // MAP_FIXED_NOREPLACE refuses to replace; MAP_FIXED replaces.
    assert_eq!(
        a.mmap(x, P, RW, ANON | MAP_FIXED_NOREPLACE),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        a.mmap(0x5000_0000, P, RW, ANON | MAP_FIXED_NOREPLACE),
        Ok(0x5000_0000)
    );
    wr(&a, x, 42).unwrap();
    assert_eq!(a.mmap(x, P, PROT_READ, ANON | MAP_FIXED), Ok(x));
    assert_eq!(rd(&a, x), Ok(0), "MAP_FIXED gives fresh zero pages");
    assert_eq!(wr(&a, x, 1), Err(FaultError::AccessDenied));
    // MAP_32BIT.
    let low = a.mmap(0, P, RW, ANON | MAP_32BIT).unwrap();
    assert!((0x4000_0000..0x8000_0000).contains(&low));
    // Exec permission.
    let code = a.mmap(0, P, PROT_READ | PROT_EXEC, ANON).unwrap();
    assert!(sim(&a, code, Access::Exec).is_ok());
    assert_eq!(sim(&a, x + P, Access::Exec), Err(FaultError::AccessDenied));
    assert!(a.stats().vmas >= 7);
    drop(a);
    assert_eq!((user_frames(), user_tables()), (0, 0));
}

fn demand_zero_and_protection() {
    let a = AddressSpace::new().unwrap();
    let base = a.mmap(0, 4 * P, RW, ANON).unwrap();
    assert_eq!(a.stats().resident_pages, 0);
    assert_eq!(rd(&a, base + 10), Ok(0));
    wr(&a, base + P + 5, 7).unwrap();
    assert_eq!(rd(&a, base + P + 5), Ok(7));
    assert_eq!(a.stats().resident_pages, 2);
    assert_eq!(user_frames(), 2);
    // Intermediate tables are user-accessible, leaves are NX without PROT_EXEC.
    let pt = tables(&a);
    assert_ne!(
        pt.root_entry(crate::layout::pml4_index(base)) & pte::USER,
        0
    );
    assert_ne!(pt.leaf_entry(base).unwrap() & pte::NO_EXECUTE, 0);
    // PROT_NONE guard page in the middle keeps its data.
    shootdowns();
    a.activate(0);
    a.mprotect(base + P, P, PROT_NONE).unwrap();
    assert_eq!(a.stats().vmas, 3);
    assert_eq!(rd(&a, base + P), Err(FaultError::AccessDenied));
    assert_eq!(wr(&a, base + P, 1), Err(FaultError::AccessDenied));
    assert_eq!(rd(&a, base), Ok(0));
    assert!(
        shootdowns().is_empty(),
        "only this CPU uses it: no remote shootdown"
    );
    a.mprotect(base, 4 * P, RW).unwrap();
    assert_eq!(a.stats().vmas, 1, "VMAs merge back");
    assert_eq!(rd(&a, base + P + 5), Ok(7));
    // Read-only.
    a.mprotect(base, 2 * P, PROT_READ).unwrap();
    assert_eq!(wr(&a, base + P, 1), Err(FaultError::AccessDenied));
    assert_eq!(rd(&a, base + P + 5), Ok(7));
    a.mprotect(base, 2 * P, RW).unwrap();
    wr(&a, base + P, 9).unwrap();
    // mprotect errors.
    assert_eq!(a.mprotect(base + 1, P, RW), Err(Errno::EINVAL));
    assert_eq!(a.mprotect(base, P, 0x40), Err(Errno::EINVAL));
    assert_eq!(
        a.mprotect(base, P, RW | PROT_GROWSDOWN | PROT_GROWSUP),
        Err(Errno::EINVAL)
    );
    assert_eq!(a.mprotect(base, P, RW | PROT_GROWSDOWN), Err(Errno::EINVAL));
    assert_eq!(a.mprotect(base, 5 * P, PROT_READ), Err(Errno::ENOMEM));
    assert_eq!(
        a.prot_at(base),
        Some(RW),
        "a failed mprotect changes nothing"
    );
    assert_eq!(a.mprotect(base, 0, PROT_READ), Ok(()));
    assert_eq!(a.mprotect(base, u64::MAX, PROT_READ), Err(Errno::ENOMEM));
    // A second "CPU" using the address space gets the shootdowns.
    let a2 = a.clone();
    std::thread::spawn(move || {
        hw::set_this_cpu(3);
        a2.activate(3);
    })
    .join()
    .unwrap();
    assert_eq!(a.cpu_mask(), 0b1001);
    // (base was write-protected and made writable again: lazily, the entry is still
    // read-only until the next write fault makes it writable.)
    assert_eq!(tables(&a).leaf_entry(base).unwrap() & pte::WRITABLE, 0);
    wr(&a, base, 1).unwrap();
    assert!(shootdowns().is_empty(), "an upgrade needs no shootdown");
    a.mprotect(base, P, PROT_READ).unwrap();
    assert_eq!(shootdowns(), [(0b1000, a.root_phys(), base, base + P)]);
    // Upgrades need none.
    a.mprotect(base, P, RW).unwrap();
    assert!(shootdowns().is_empty());
    a.munmap(base, 4 * P).unwrap();
    assert_eq!(shootdowns(), [(0b1000, a.root_phys(), base, base + 4 * P)]);
    let a2 = a.clone();
    std::thread::spawn(move || {
        hw::set_this_cpu(3);
        a2.deactivate(3);
    })
    .join()
    .unwrap();
    a.deactivate(0);
    assert_eq!(a.cpu_mask(), 0);
    assert_eq!(user_frames(), 0);
}

fn munmap_and_tables() {
    let a = AddressSpace::new().unwrap();
    let t0 = a.stats().page_tables;
    assert_eq!(t0, 1);
    let base = a.mmap(0x1000_0000, 8 * P, RW, ANON).unwrap();
    for i in 0..8 {
        wr(&a, base + i * P, i as u8 + 1).unwrap();
    }
    assert_eq!(a.stats().page_tables, 4);
    // Errors.
    assert_eq!(a.munmap(base + 1, P), Err(Errno::EINVAL));
    assert_eq!(a.munmap(base, 0), Err(Errno::EINVAL));
    assert_eq!(a.munmap(USER_END, P), Err(Errno::EINVAL));
    assert_eq!(
        a.munmap(0x7000_0000, P),
        Ok(()),
        "unmapping nothing is fine"
    );
    // A hole in the middle.
    a.munmap(base + 2 * P, 3 * P).unwrap();
    assert_eq!(a.stats().vmas, 2);
    assert_eq!(rd(&a, base + 3 * P), Err(FaultError::NotMapped));
    assert_eq!(rd(&a, base + P), Ok(2));
    assert_eq!(rd(&a, base + 5 * P), Ok(6));
    assert_eq!(a.stats().resident_pages, 5);
    assert_eq!(user_frames(), 5);
    assert_eq!(a.stats().page_tables, 4, "tables still used by neighbours");
    // Unmap the rest (an unaligned length is rounded up): the tables go too.
    a.munmap(base, 8 * P - 100).unwrap();
    assert_eq!(
        a.stats(),
        AsStats {
            vmas: 0,
            resident_pages: 0,
            page_tables: 1
        }
    );
    assert_eq!(user_frames(), 0);
    // Two mappings far apart: pruning one keeps the other's tables.
    let far = a.mmap(0x7f00_0000_0000, P, RW, ANON | MAP_FIXED).unwrap();
    let near = a.mmap(0x20_0000_0000, P, RW, ANON | MAP_FIXED).unwrap();
    wr(&a, far, 1).unwrap();
    wr(&a, near, 2).unwrap();
    assert_eq!(a.stats().page_tables, 1 + 3 + 3);
    a.munmap(far, P).unwrap();
    assert_eq!(a.stats().page_tables, 4);
    assert_eq!(rd(&a, near), Ok(2));
    drop(a);
    assert_eq!((user_frames(), user_tables()), (0, 0));
}

fn fork_copy_on_write() {
    let parent = AddressSpace::new().unwrap();
    parent.activate(0);
    let base = parent.mmap(0, 4 * P, RW, ANON).unwrap();
    wr(&parent, base, 11).unwrap();
    wr(&parent, base + P, 22).unwrap();
    let f0 = frame_of(&parent, base);
    shootdowns();
    let child = parent.fork_cow().unwrap();
    assert!(shootdowns().is_empty(), "no other CPU: local flush only");
    assert_eq!(FRAMES.ref_count(f0), 2);
    assert_eq!(user_frames(), 2, "fork copies no page");
    assert_eq!(child.stats().resident_pages, 2);
    assert_ne!(child.id(), parent.id());
    // Both read the same frame; the entries are read-only now.
    assert_eq!(rd(&child, base), Ok(11));
    assert_eq!(frame_of(&child, base), f0);
    assert_eq!(tables(&parent).leaf_entry(base).unwrap() & pte::WRITABLE, 0);
    // The child writes: it gets a copy; the parent keeps the original.
    wr(&child, base, 99).unwrap();
    assert_ne!(frame_of(&child, base), f0);
    assert_eq!(rd(&parent, base), Ok(11));
    assert_eq!(FRAMES.ref_count(f0), 1);
    assert_eq!(user_frames(), 3);
    // The parent writes: it is the only user left, so it keeps its frame.
    wr(&parent, base, 12).unwrap();
    assert_eq!(frame_of(&parent, base), f0);
    assert_eq!(rd(&child, base), Ok(99));
    // The untouched page is still shared; demand-zero pages are independent.
    assert_eq!(rd(&child, base + P), Ok(22));
    wr(&child, base + 2 * P, 5).unwrap();
    assert_eq!(rd(&parent, base + 2 * P), Ok(0));
    // A grandchild shares with the child.
    let grand = child.fork_cow().unwrap();
    let g1 = frame_of(&grand, base + P);
    assert_eq!(FRAMES.ref_count(g1), 3);
    drop(child);
    assert_eq!(FRAMES.ref_count(g1), 2);
    assert_eq!(rd(&grand, base), Ok(99));
    assert_eq!(rd(&grand, base + 2 * P), Ok(5));
    // A forking parent used by another CPU shoots that CPU down once.
    let p2 = parent.clone();
    std::thread::spawn(move || {
        hw::set_this_cpu(1);
        p2.activate(1);
    })
    .join()
    .unwrap();
    shootdowns();
    let c2 = parent.fork_cow().unwrap();
    let s = shootdowns();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0, 0b10);
    assert!(s[0].2 <= base && s[0].3 > base);
    // COW break in the parent now needs a shootdown of the old entry.
    wr(&parent, base, 13).unwrap();
    assert_eq!(shootdowns(), [(0b10, parent.root_phys(), base, base + P)]);
    assert_eq!(rd(&c2, base), Ok(12));
    // madvise(DONTFORK / WIPEONFORK).
    let keep = parent.mmap(0, 2 * P, RW, ANON).unwrap();
    let skip = parent.mmap(0, P, RW, ANON).unwrap();
    wr(&parent, keep, 1).unwrap();
    wr(&parent, skip, 1).unwrap();
    parent.madvise(skip, P, MADV_DONTFORK).unwrap();
    parent.madvise(keep + P, P, MADV_WIPEONFORK).unwrap();
    wr(&parent, keep + P, 3).unwrap();
    let c3 = parent.fork_cow().unwrap();
    assert_eq!(rd(&c3, skip), Err(FaultError::NotMapped));
    assert_eq!(rd(&c3, keep), Ok(1));
    assert_eq!(rd(&c3, keep + P), Ok(0));
    assert_eq!(rd(&parent, keep + P), Ok(3));
    shootdowns();
    let p2 = parent.clone();
    std::thread::spawn(move || {
        hw::set_this_cpu(1);
        p2.deactivate(1);
    })
    .join()
    .unwrap();
    parent.deactivate(0);
    drop((parent, grand, c2, c3));
    assert_eq!((user_frames(), user_tables()), (0, 0));
}

fn shared_memory() {
    let a = AddressSpace::new().unwrap();
    {
        // Without shared mappings the futex key lookup does not touch the VMA lock: it
        // answers while a writer holds it (it would wait forever otherwise).
        let pv = a.mmap(0, P, RW, ANON).unwrap();
        let g = a.lock_vmas_for_test();
        let (tx, rx) = std::sync::mpsc::channel();
        // A scoped thread borrowing `a`: the address space is still dropped on the
        // test's own thread (its accounting is checked at the end).
        let r = std::thread::scope(|sc| {
            sc.spawn(|| tx.send(a.is_shared_mapping(pv)).unwrap());
            let r = rx.recv_timeout(std::time::Duration::from_secs(10));
            drop(g);
            r
        });
        assert_eq!(
            r,
            Ok(Some(false)),
            "is_shared_mapping waited for the VMA lock"
        );
        a.munmap(pv, P).unwrap();
    }
    let sh = a.mmap(0, 3 * P, RW, SHARED).unwrap();
    let pv = a.mmap(0, P, RW, ANON).unwrap();
    assert_eq!(a.is_shared_mapping(sh + P), Some(true));
    assert_eq!(a.is_shared_mapping(pv), Some(false));
    assert_eq!(a.is_shared_mapping(0x1_0000), None);
    wr(&a, sh, 1).unwrap();
    wr(&a, pv, 1).unwrap();
    let b = a.fork_cow().unwrap();
    // Writes through either side are seen by the other.
    wr(&b, sh, 2).unwrap();
    wr(&b, sh + 2 * P, 3).unwrap();
    assert_eq!(rd(&a, sh), Ok(2));
    assert_eq!(rd(&a, sh + 2 * P), Ok(3));
    wr(&b, pv, 2).unwrap();
    assert_eq!(rd(&a, pv), Ok(1));
    // The futex key of a shared page is the same frame in both.
    let (fa, off) = a.translate_user(sh + 2 * P + 8).unwrap();
    assert_eq!(b.translate_user(sh + 2 * P + 8), Some((fa, off)));
    assert_eq!(off, 8);
    assert_eq!(a.translate_user(0x1_0000), None);
    // DONTNEED: the shared data stays, private data reads back as zero.
    a.madvise(sh, 3 * P, MADV_DONTNEED).unwrap();
    a.madvise(pv, P, MADV_DONTNEED).unwrap();
    assert_eq!(rd(&a, sh), Ok(2));
    assert_eq!(rd(&a, pv), Ok(0));
    assert_eq!(rd(&b, pv), Ok(2));
    // Partial munmap and mprotect split the shared VMA with the right page offsets.
    a.mprotect(sh + P, P, PROT_READ).unwrap();
    assert_eq!(rd(&a, sh + 2 * P), Ok(3));
    assert_eq!(wr(&a, sh + P, 1), Err(FaultError::AccessDenied));
    a.munmap(sh, P).unwrap();
    assert_eq!(rd(&a, sh + 2 * P), Ok(3));
    wr(&a, sh + 2 * P, 4).unwrap();
    assert_eq!(rd(&b, sh + 2 * P), Ok(4));
    // madvise errors.
    assert_eq!(a.madvise(sh + 1, P, MADV_DONTNEED), Err(Errno::EINVAL));
    assert_eq!(a.madvise(sh, P, 77), Err(Errno::EINVAL));
    assert_eq!(a.madvise(sh, P, MADV_DONTNEED), Err(Errno::ENOMEM));
    assert_eq!(a.madvise(sh, 0, MADV_DONTNEED), Ok(()));
    assert_eq!(a.madvise(sh + P, P, MADV_WIPEONFORK), Err(Errno::EINVAL));
    assert_eq!(a.madvise(pv, P, MADV_REMOVE), Err(Errno::EINVAL));
    assert_eq!(a.madvise(pv, P, MADV_WILLNEED), Ok(()));
    assert_eq!(a.madvise(pv, 2 * P, MADV_WILLNEED), Err(Errno::ENOMEM));
    assert_eq!(a.madvise(pv, u64::MAX, MADV_NORMAL), Err(Errno::EINVAL));
    a.madvise(pv, P, MADV_POPULATE_WRITE).unwrap();
    assert_eq!(a.stats().resident_pages, 2);
    drop(a);
    assert!(user_frames() > 0, "the child still holds the shared object");
    assert_eq!(rd(&b, sh), Ok(2));
    drop(b);
    assert_eq!((user_frames(), user_tables()), (0, 0));
    // MAP_POPULATE.
    let c = AddressSpace::new().unwrap();
    c.mmap(0, 3 * P, RW, ANON | MAP_POPULATE).unwrap();
    assert_eq!(c.stats().resident_pages, 3);
}

fn brk_semantics() {
    let a = AddressSpace::new().unwrap();
    assert_eq!(a.brk(0x60_0000), 0, "no break before the loader sets one");
    a.set_brk_base(0x60_0123);
    let b0 = 0x60_1000;
    assert_eq!(a.brk(0), b0);
    assert_eq!(a.brk(b0 + 10), b0 + 10);
    wr(&a, b0 + 9, 1).unwrap();
    assert_eq!(a.brk(b0 + 3 * P), b0 + 3 * P);
    wr(&a, b0 + 2 * P, 2).unwrap();
    assert_eq!(a.stats().vmas, 1);
    assert_eq!(a.brk(b0 - 1), b0 + 3 * P, "below the start: refused");
    // Shrink: the pages above go away.
    assert_eq!(a.brk(b0 + P), b0 + P);
    assert_eq!(rd(&a, b0 + 2 * P), Err(FaultError::NotMapped));
    assert_eq!(rd(&a, b0 + 9), Ok(1));
    // A mapping in the way (one free page must remain).
    a.mmap(b0 + 4 * P, P, RW, ANON | MAP_FIXED).unwrap();
    assert_eq!(a.brk(b0 + 3 * P + 1), b0 + P);
    assert_eq!(a.brk(b0 + 3 * P - 1), b0 + 3 * P - 1);
    assert_eq!(a.brk(USER_END), b0 + 3 * P - 1);
    assert_eq!(a.brk_range(), (b0, b0 + 3 * P - 1));
    assert_eq!(a.brk(b0), b0);
    assert_eq!(a.stats().vmas, 1);
}

fn elf_helpers() {
    let a = AddressSpace::new().unwrap();
    // A text segment and a data segment sharing the page at 0x401000.
    let text: Vec<u8> = (0..0x1234u32).map(|i| i as u8).collect();
    a.map_bytes(0x40_0000, 0x1234, &text, PROT_READ | PROT_EXEC)
        .unwrap();
    let data = [7u8; 100];
    a.map_bytes(0x40_1300, 0x3000, &data, RW).unwrap();
    let mut buf = vec![0u8; 0x1234];
    a.read_bytes(0x40_0000, &mut buf).unwrap();
    assert_eq!(buf, text, "the shared page keeps the first segment's bytes");
    let mut d = [0u8; 101];
    a.read_bytes(0x40_1300, &mut d).unwrap();
    assert_eq!(&d[..100], &data[..]);
    assert_eq!(d[100], 0, ".bss is zero");
    assert_eq!(a.prot_at(0x40_0000), Some(PROT_READ | PROT_EXEC));
    assert_eq!(
        a.prot_at(0x40_1000),
        Some(PROT_READ | PROT_WRITE | PROT_EXEC)
    );
    assert_eq!(a.prot_at(0x40_4000), Some(RW));
    assert_eq!(a.prot_at(0x40_5000), None);
    assert_eq!(wr(&a, 0x40_0000, 1), Err(FaultError::AccessDenied));
    assert_eq!(rd(&a, 0x40_4200), Ok(0));
    let b = a.fork_cow().unwrap();
    // User writes honour the protection: read-only text is EFAULT without a
    // copy-on-write break; a range crossing into it changes nothing; a writable
    // copy-on-write page is copied first.
    let text_frame = frame_of(&b, 0x40_0020);
    assert_eq!(frame_of(&a, 0x40_0020), text_frame);
    assert_eq!(b.write_user_bytes(0x40_0020, &[1]), Err(Errno::EFAULT));
    assert_eq!(frame_of(&b, 0x40_0020), text_frame);
    assert_eq!(rd(&b, 0x40_0020), Ok(0x20));
    assert_eq!(
        b.write_user_bytes(0x40_0ffe, &[1, 2, 3]),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        b.write_user_bytes(0x40_4ffe, &[5, 5, 5, 5]),
        Err(Errno::EFAULT)
    );
    assert_eq!(rd(&b, 0x40_4ffe), Ok(0), "nothing written before the hole");
    assert_eq!(b.write_user_bytes(0x50_0000, &[1]), Err(Errno::EFAULT));
    let data_frame = frame_of(&a, 0x40_1300);
    assert_eq!(frame_of(&b, 0x40_1300), data_frame);
    b.write_user_bytes(0x40_1300, &[9, 9]).unwrap();
    assert_ne!(frame_of(&b, 0x40_1300), data_frame);
    assert_eq!((rd(&b, 0x40_1301), rd(&a, 0x40_1301)), (Ok(9), Ok(7)));
    // The loader's writes ignore protection but break copy-on-write sharing.
    b.write_bytes(0x40_0010, &[0xee]).unwrap();
    assert_eq!(rd(&b, 0x40_0010), Ok(0xee));
    assert_eq!(rd(&a, 0x40_0010), Ok(0x10));
    assert_eq!(a.write_bytes(0x50_0000, &[1]), Err(Errno::EFAULT));
    assert_eq!(a.map_bytes(0x40_0000, 1, &[1, 2], RW), Err(Errno::EINVAL));
    assert_eq!(a.map_bytes(0x1000, 1, &[1], RW), Err(Errno::EPERM));
    // The stack with its guard gap.
    a.setup_stack(STACK_TOP, 8 * P).unwrap();
    assert_eq!(a.prot_at(STACK_TOP - 1), Some(RW));
    assert_eq!(a.prot_at(STACK_TOP - 8 * P - 1), Some(PROT_NONE));
    assert_eq!(wr(&a, STACK_TOP - 9 * P, 1), Err(FaultError::AccessDenied));
    wr(&a, STACK_TOP - 8, 1).unwrap();
    assert_eq!(a.setup_stack(STACK_TOP, P), Err(Errno::EEXIST));
    assert_eq!(a.setup_stack(STACK_TOP + 1, P), Err(Errno::EINVAL));
    // mmap's search stays below the stack and its guard.
    let m = a.mmap(0, P, RW, ANON).unwrap();
    assert!(m < DEFAULT_MMAP_BASE);
}

fn map_limit() {
    let a = AddressSpace::new().unwrap();
    a.set_map_limit(3);
    let x = a.mmap(0, 4 * P, RW, ANON).unwrap();
    a.mmap(0, P, PROT_READ, ANON).unwrap();
    // Merging with a neighbour is allowed at the limit.
    a.mmap(x + 4 * P, P, RW, ANON | MAP_FIXED).unwrap();
    assert_eq!(a.stats().vmas, 2);
    a.mmap(0x2000_0000, P, RW, ANON).unwrap();
    assert_eq!(a.mmap(0x3000_0000, P, RW, ANON), Err(Errno::ENOMEM));
    assert_eq!(
        a.munmap(x + P, P),
        Err(Errno::ENOMEM),
        "a split would pass the limit"
    );
    assert_eq!(a.mprotect(x + P, P, PROT_READ), Err(Errno::ENOMEM));
    a.munmap(x, P).unwrap();
    a.set_map_limit(MAX_MAP_COUNT);
}

fn atomic_mode() {
    let a = AddressSpace::new().unwrap();
    a.activate(0);
    let x = a.mmap(0, 2 * P, RW, ANON).unwrap();
    wr(&a, x, 1).unwrap();
    let b = a.fork_cow().unwrap();
    // Another CPU uses `a`: with interrupts off, a COW break would need to wait for it.
    let a2 = a.clone();
    std::thread::spawn(move || {
        hw::set_this_cpu(2);
        a2.activate(2);
    })
    .join()
    .unwrap();
    hw::set_irqs_enabled(false);
    assert_eq!(wr(&a, x, 2), Err(FaultError::WouldBlock));
    // Demand-zero needs no shootdown.
    assert_eq!(wr(&a, x + P, 2), Ok(()));
    hw::set_irqs_enabled(true);
    shootdowns();
    wr(&a, x, 2).unwrap();
    assert_eq!(shootdowns().len(), 1);
    assert_eq!(rd(&b, x), Ok(1));
    // With a writer holding the VMA lock, the interrupts-off path does not spin.
    let st = a.lock_vmas_for_test();
    hw::set_irqs_enabled(false);
    assert_eq!(a.handle_fault(x + P, pf::USER), Err(FaultError::WouldBlock));
    hw::set_irqs_enabled(true);
    drop(st);
    assert_eq!(a.handle_fault(x + P, pf::USER), Ok(()));
    assert_eq!(
        a.handle_fault(x + P, pf::USER | pf::RSVD),
        Err(FaultError::Reserved)
    );
    assert_eq!(
        a.handle_fault(USER_END, pf::USER),
        Err(FaultError::NotMapped)
    );
    assert_eq!(
        FaultError::NotMapped.si_code(),
        weft_abi::signal::SEGV_MAPERR
    );
    assert_eq!(
        FaultError::AccessDenied.si_code(),
        weft_abi::signal::SEGV_ACCERR
    );
    let a2 = a.clone();
    std::thread::spawn(move || {
        hw::set_this_cpu(2);
        a2.deactivate(2);
    })
    .join()
    .unwrap();
    a.deactivate(0);
    shootdowns();
    // A plain free of a frame still shared by fork is refused.
    let f = frame_of(&b, x + P);
    if f != 0 {
        assert!(matches!(
            FRAMES.try_free(f, 1),
            Err(FrameError::StillShared(_)) | Ok(())
        ));
    }
}

fn switching() {
    let a = AddressSpace::new().unwrap();
    let b = AddressSpace::new().unwrap();
    switch_address_space(None, Some(&a), 0);
    assert_eq!(a.cpu_mask(), 1);
    switch_address_space(Some(&a), Some(&a), 0);
    assert_eq!(a.cpu_mask(), 1);
    switch_address_space(Some(&a), Some(&b), 0);
    assert_eq!((a.cpu_mask(), b.cpu_mask()), (0, 1));
    switch_address_space(Some(&b), None, 0);
    assert_eq!(b.cpu_mask(), 0);
    let s = stats();
    assert_eq!((s.user_frames, s.user_tables), (0, 2));
}

/// Several threads ("CPUs") fault, break copy-on-write and map/unmap concurrently. The
/// software MMU has no TLB and no shootdown, so no thread may hold a pointer into a frame
/// another thread of the same address space could release: copy-on-write races are
/// between the two address spaces (one writer thread each), demand-zero races and
/// map/unmap churn within one.
fn concurrent_faults() {
    let a = AddressSpace::new().unwrap();
    let region = a.mmap(0, 64 * P, RW, ANON).unwrap();
    for i in 0..64 {
        wr(&a, region + i * P, 1).unwrap();
    }
    let b = a.fork_cow().unwrap();
    let fresh = a.mmap(0, 64 * P, RW, ANON).unwrap();
    let threads: Vec<_> = (0..5u64)
        .map(|t| {
            let asp: Arc<AddressSpace> = if t % 2 == 0 { a.clone() } else { b.clone() };
            std::thread::spawn(move || {
                hw::set_this_cpu(10 + t as usize);
                let mut rng = 0x1234_5678u64 ^ (t << 32);
                for n in 0..3000u64 {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let page = rng % 64;
                    let v = (n % 250) as u8 + 2;
                    match t {
                        0 | 1 => {
                            let addr = region + page * P + 16;
                            wr(&asp, addr, v).unwrap();
                            assert_eq!(rd(&asp, addr), Ok(v));
                        }
                        2 | 4 => {
                            // Both write their own byte of the same demand-zero pages.
                            let addr = fresh + page * P + t;
                            wr(&asp, addr, v).unwrap();
                            assert_eq!(rd(&asp, addr), Ok(v));
                        }
                        _ => {
                            let m = asp.mmap(0, 3 * P, RW, ANON).unwrap();
                            wr(&asp, m + P, 1).unwrap();
                            asp.mprotect(m, P, PROT_READ).unwrap();
                            asp.munmap(m, 3 * P).unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // The fork-time value is still there where nobody wrote.
    assert_eq!(rd(&a, region), Ok(1));
    assert_eq!(rd(&b, region + 8), Ok(0));
    drop((a, b));
    assert_eq!((user_frames(), user_tables()), (0, 0));
}
