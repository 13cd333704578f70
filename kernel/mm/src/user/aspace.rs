//! [`AddressSpace`]: a user page table plus its VMAs, and every operation on them.
//!
//! See the [module documentation](super) for the protocol the kernel follows (context
//! switch, page faults, shootdown hook) and the lock order.
//!
//! # Page-table entries
//! User leaves are 4 KiB and mean, by their bits:
//! - 0: no page (yet). The next access faults and is served by the VMA (demand-zero
//!   private memory, or the shared object's page).
//! - `PRESENT`: a page. `USER`, `ACCESSED` always; `WRITABLE | DIRTY` when the VMA is
//!   writable and the frame is exclusively ours (private) or shared-anonymous;
//!   `NO_EXECUTE` unless the VMA is executable; [`pte::SW_SHARED`] for shared-anonymous
//!   frames (owned by the [`SharedAnon`], not reference-counted per mapping).
//! - not present with [`pte::SW_PROTNONE`]: the page keeps its frame but the VMA is
//!   `PROT_NONE` (so `mprotect(PROT_NONE)` and back keeps the data).
//!
//! A private frame is mapped by `ref_count` address spaces (see the frame allocator's
//! reference counts). Present-but-read-only in a writable private VMA means
//! copy-on-write: a write fault copies the frame unless we are the only user left, in
//! which case it just sets `WRITABLE`. Permission *upgrades* never need a TLB
//! shootdown (a stale, stricter entry only causes a spurious fault that the fault handler
//! recognises and returns from); downgrades and unmaps always do, and the frames (and
//! page tables) they release are freed only after it.
//!
//! Invariant: non-zero leaves exist only inside VMAs, so an unmapped range has none and
//! its page tables can be freed once no VMA overlaps them.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};

use weft_abi::errno::Errno;
use weft_abi::mman::*;
use weft_abi::signal::{SEGV_ACCERR, SEGV_MAPERR};

use super::shared::SharedAnon;
use super::tlb;
use super::uaccess::user_range_ok;
use super::vma::{Access, Backing, PROT_RWX, VMA_DONTFORK, VMA_WIPEONFORK, Vma, VmaSet};
use super::{
    DEFAULT_MMAP_BASE, MAX_MAP_COUNT, MMAP_MIN_ADDR, STACK_GUARD_GAP, USER_END, USER_FRAMES,
    USER_LIMIT, USER_TABLES,
};
use crate::layout::{PAGE_SIZE, align_down, align_up};
use crate::paging::{PageTables, pte};
use crate::sync::{IrqMutex, RwSem, hw};
use crate::{FRAMES, hhdm_offset, phys_to_virt};

/// `PROT_SEM`: accepted by `mprotect` on x86 and ignored.
const PROT_SEM: u32 = 0x8;

/// Pages an unmapping operation collects before it flushes (one shootdown per batch).
pub const GATHER_FRAMES: usize = 256;
/// Leaves visited per page-table lock hold in long loops (bounds interrupt latency).
const PT_CHUNK: usize = 512;

/// x86 page-fault error code bits (the CPU pushes them; the #PF handler passes them on).
pub mod pf {
    /// The page was present (a protection violation).
    pub const PRESENT: u64 = 1 << 0;
    /// The access was a write.
    pub const WRITE: u64 = 1 << 1;
    /// The access came from user mode.
    pub const USER: u64 = 1 << 2;
    /// A reserved bit was set in a paging entry.
    pub const RSVD: u64 = 1 << 3;
    /// The access was an instruction fetch.
    pub const INSTR: u64 = 1 << 4;
}

/// Why a fault could not be resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// No VMA covers the address (SIGSEGV, `SEGV_MAPERR`).
    NotMapped,
    /// The VMA does not allow the access: `PROT_NONE`, a write to a read-only mapping, an
    /// instruction fetch from a non-executable one (SIGSEGV, `SEGV_ACCERR`).
    AccessDenied,
    /// No frame (or page-table frame) was available. Linux would run the OOM killer; the
    /// kernel may send SIGKILL (or SIGBUS).
    OutOfMemory,
    /// Interrupts are disabled and resolving would need to wait (the VMA lock is taken,
    /// or a remote TLB shootdown is needed). A user-access routine then fails with
    /// `Efault`; retry with interrupts enabled ([`AddressSpace::fault_in`]).
    WouldBlock,
    /// The CPU reported a reserved bit in a paging entry: a kernel bug.
    Reserved,
}

impl FaultError {
    /// The `si_code` for the SIGSEGV the kernel sends.
    pub fn si_code(self) -> i32 {
        match self {
            FaultError::NotMapped => SEGV_MAPERR,
            _ => SEGV_ACCERR,
        }
    }

    fn errno(self) -> Errno {
        match self {
            FaultError::OutOfMemory => Errno::ENOMEM,
            _ => Errno::EFAULT,
        }
    }
}

/// Per-address-space counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsStats {
    /// Number of VMAs.
    pub vmas: usize,
    /// Leaves that hold a frame (private or shared).
    pub resident_pages: u64,
    /// Page-table frames, the PML4 included.
    pub page_tables: u64,
}

struct MmState {
    vmas: VmaSet,
    brk_start: u64,
    brk: u64,
    mmap_base: u64,
    map_limit: usize,
}

struct PtState {
    pt: PageTables,
    /// Lower-half table frames (not counting the PML4).
    tables: u64,
    /// Non-zero leaves.
    pages: u64,
}

impl PtState {
    fn slot_create(&mut self, va: u64) -> Result<&AtomicU64, FaultError> {
        let mut created = 0;
        let r = self
            .pt
            .leaf_slot_create(va, pte::USER_TABLE, &FRAMES, &mut created);
        self.tables += created;
        USER_TABLES.fetch_add(created, Ordering::Relaxed);
        r.map_err(|_| FaultError::OutOfMemory)
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A user address space. Threads of a process share one through an `Arc`.
pub struct AddressSpace {
    id: u64,
    root: u64,
    /// Bit `c` set: CPU `c` has `root` in CR3 (see [`AddressSpace::activate`]).
    cpus: AtomicU64,
    mm: RwSem<MmState>,
    pt: IrqMutex<PtState>,
    /// Set (before the VMA is visible) once this address space has had a shared
    /// mapping; never cleared. While false every futex key is private, found without
    /// the VMA lock (see [`AddressSpace::is_shared_mapping`]).
    had_shared: AtomicBool,
}

/// Leaf flags for a page of a VMA with `prot`; `writable` says whether the frame may be
/// written through this mapping (exclusive private, or shared).
fn leaf_flags(prot: u32, shared: bool, writable: bool) -> u64 {
    let sw = if shared { pte::SW_SHARED } else { 0 };
    if prot & PROT_RWX == 0 {
        return pte::SW_PROTNONE | sw;
    }
    let mut f = pte::PRESENT | pte::USER | pte::ACCESSED | sw;
    if prot & PROT_WRITE != 0 && writable {
        f |= pte::WRITABLE | pte::DIRTY;
    }
    if prot & PROT_EXEC == 0 {
        f |= pte::NO_EXECUTE;
    }
    f
}

/// True if the present entry `e` allows `access` as is.
fn entry_allows(e: u64, access: Access) -> bool {
    e & pte::PRESENT != 0
        && match access {
            Access::Read => true,
            Access::Write => e & pte::WRITABLE != 0,
            Access::Exec => e & pte::NO_EXECUTE == 0,
        }
}

fn cpu_bit(cpu: usize) -> u64 {
    assert!(cpu < 64, "mm: CPU index {cpu} does not fit the CPU mask");
    1 << cpu
}

fn alloc_user_frame(zero: bool) -> Option<u64> {
    let f = if zero {
        FRAMES.alloc()
    } else {
        FRAMES.alloc_contig_uninit(1)
    }?;
    USER_FRAMES.fetch_add(1, Ordering::Relaxed);
    Some(f)
}

fn free_user_frame(f: u64) {
    FRAMES.free(f, 1);
    USER_FRAMES.fetch_sub(1, Ordering::Relaxed);
}

/// Drops one reference to each private frame, freeing those that were the last.
fn release_user_frames(frames: &[u64]) {
    match FRAMES.release_batch(frames) {
        Ok(n) => {
            USER_FRAMES.fetch_sub(n, Ordering::Relaxed);
        }
        Err(e) => panic!("mm: releasing user frames: {e}"),
    }
}

fn copy_frame(dst: u64, src: u64) {
    // SAFETY: both are frames the caller holds a reference to (`src` is pinned by an
    // extra reference, `dst` is freshly allocated and not mapped yet), reached through
    // the HHDM; they are distinct frames.
    unsafe {
        core::ptr::copy_nonoverlapping(phys_to_virt(src), phys_to_virt(dst), PAGE_SIZE as usize)
    };
}

/// Collects what an operation unmaps: the range to shoot down, private frames to release
/// and page-table subtrees to free after the shootdown, and removed VMAs (holding shared
/// objects) to drop last. Flushes when its frame buffer is full and when dropped.
struct Gather<'a> {
    asp: &'a AddressSpace,
    start: u64,
    end: u64,
    dirty: bool,
    frames: Vec<u64>,
    subtrees: Vec<(u64, u32)>,
    keep: Vec<Vma>,
}

impl<'a> Gather<'a> {
    fn new(asp: &'a AddressSpace) -> Self {
        Gather {
            asp,
            start: u64::MAX,
            end: 0,
            dirty: false,
            frames: Vec::with_capacity(GATHER_FRAMES),
            subtrees: Vec::new(),
            keep: Vec::new(),
        }
    }

    fn note(&mut self, start: u64, end: u64) {
        self.start = self.start.min(start);
        self.end = self.end.max(end);
    }

    fn full(&self) -> bool {
        self.frames.len() >= GATHER_FRAMES
    }

    fn flush(&mut self) {
        if self.dirty && self.start < self.end {
            self.asp.shootdown(self.start, self.end);
        }
        self.dirty = false;
        if !self.frames.is_empty() {
            release_user_frames(&self.frames);
            self.frames.clear();
        }
        if !self.subtrees.is_empty() {
            let pt = self.asp.pt.lock().pt;
            let mut freed = 0;
            for (t, level) in self.subtrees.drain(..) {
                pt.free_subtree(
                    t,
                    level,
                    &mut |e| panic!("mm: pruned page table still maps {e:#x}"),
                    &mut |f| {
                        FRAMES.free(f, 1);
                        freed += 1;
                    },
                );
            }
            USER_TABLES.fetch_sub(freed, Ordering::Relaxed);
            self.asp.pt.lock().tables -= freed;
        }
    }
}

impl Drop for Gather<'_> {
    fn drop(&mut self) {
        self.flush();
        // `keep` (and the shared objects it holds) drops after this.
    }
}

impl AddressSpace {
    /// An empty address space: a fresh PML4 sharing the kernel half, no VMAs. `ENOMEM` if
    /// no frame is free (or mm is not initialised).
    pub fn new() -> Result<Arc<AddressSpace>, Errno> {
        let root = crate::new_address_space_root().ok_or(Errno::ENOMEM)?;
        USER_TABLES.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `root` is a fresh PML4 in HHDM-mapped RAM; its lower half is only
        // edited under `pt`, its upper half (shared kernel tables) never through it.
        let pt = unsafe { PageTables::new(root, hhdm_offset()) };
        Ok(Arc::new(AddressSpace {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            root,
            cpus: AtomicU64::new(0),
            had_shared: AtomicBool::new(false),
            mm: RwSem::new(MmState {
                vmas: VmaSet::new(),
                brk_start: 0,
                brk: 0,
                mmap_base: DEFAULT_MMAP_BASE,
                map_limit: MAX_MAP_COUNT,
            }),
            pt: IrqMutex::new(PtState {
                pt,
                tables: 0,
                pages: 0,
            }),
        }))
    }

    /// A unique, never reused id (the `mm` part of private futex keys).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Physical address of the PML4 (the CR3 value).
    pub fn root_phys(&self) -> u64 {
        self.root
    }

    /// CPUs that have this address space loaded right now.
    pub fn cpu_mask(&self) -> u64 {
        self.cpus.load(Ordering::SeqCst)
    }

    /// Counters of this address space.
    pub fn stats(&self) -> AsStats {
        let vmas = self.mm.read().vmas.len();
        let p = self.pt.lock();
        AsStats {
            vmas,
            resident_pages: p.pages,
            page_tables: p.tables + 1,
        }
    }

    /// A description of every VMA, one per line (debugging, `/proc/self/maps`-like).
    pub fn dump_vmas(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
        for v in self.mm.read().vmas.iter() {
            writeln!(out, "{v:?}")?;
        }
        Ok(())
    }

    /// Sets the top of the area that `mmap` searches downwards from (default
    /// [`DEFAULT_MMAP_BASE`]).
    pub fn set_mmap_base(&self, base: u64) {
        self.mm.write().mmap_base = align_down(base.min(USER_END), PAGE_SIZE);
    }

    /// Sets the VMA count limit (default [`MAX_MAP_COUNT`]).
    pub fn set_map_limit(&self, n: usize) {
        self.mm.write().map_limit = n;
    }

    // ---- context switch --------------------------------------------------------------

    /// Loads this address space on CPU `cpu`, which must be the calling CPU: sets `cpu`'s
    /// bit in the CPU mask, *then* loads CR3. Call it from the context switch with
    /// interrupts disabled (it also disables them itself around the two steps).
    ///
    /// Why a concurrent shootdown is never lost: a shootdown writes the page tables, then
    /// (after a full fence) reads the mask. If it saw our bit, we get the IPI (harmless if
    /// our CR3 load comes after it). If it did not, our bit was set after its read, so our
    /// CR3 load, which comes after the bit and flushes every non-global entry, also comes
    /// after the page-table writes: we cannot hold a stale entry. User entries are never
    /// global, and without PCIDs a CR3 load drops all of them.
    pub fn activate(&self, cpu: usize) {
        let was = hw::irq_save_disable();
        debug_assert_eq!(cpu, hw::this_cpu(), "activate: not the calling CPU");
        self.cpus.fetch_or(cpu_bit(cpu), Ordering::SeqCst);
        // SAFETY: the PML4 shares the kernel half with the kernel page table, so the
        // running code, stack and all kernel data stay mapped; the address space is alive
        // (`&self`) and its Drop refuses to run while a mask bit is set.
        unsafe { hw::write_cr3(self.root) };
        hw::irq_restore(was);
    }

    /// Notes that CPU `cpu` (the calling CPU) no longer has this address space loaded.
    /// Call it *after* CR3 was switched to another address space (or to the kernel page
    /// table), and before the last `Arc` could drop. A shootdown that still sees the bit
    /// only sends a needless IPI.
    pub fn deactivate(&self, cpu: usize) {
        debug_assert_eq!(cpu, hw::this_cpu(), "deactivate: not the calling CPU");
        self.cpus.fetch_and(!cpu_bit(cpu), Ordering::SeqCst);
    }

    /// Flushes `[start, end)` on every CPU that has this address space loaded: the local
    /// CPU directly, the others through the shootdown hook. Page-table changes must be
    /// written before; frames and tables they release must be freed only after.
    pub(crate) fn shootdown(&self, start: u64, end: u64) {
        // Order the page-table writes before reading the mask (see `activate`).
        fence(Ordering::SeqCst);
        let was = hw::irq_save_disable();
        let me = cpu_bit(hw::this_cpu());
        let mask = self.cpus.load(Ordering::SeqCst);
        if mask & me != 0 {
            tlb::flush_local(start, end);
        }
        hw::irq_restore(was);
        let others = mask & !me;
        if others != 0 {
            tlb::flush_remote(others, self.root, start, end);
        }
    }

    /// Holds the VMA lock's write side (tests of the interrupts-off fault path).
    #[cfg(test)]
    pub(crate) fn lock_vmas_for_test(&self) -> impl Drop + '_ {
        self.mm.write()
    }

    fn remote_cpus(&self) -> u64 {
        self.cpus.load(Ordering::SeqCst) & !cpu_bit(hw::this_cpu())
    }

    // ---- page faults -----------------------------------------------------------------

    /// Resolves a page fault at `addr` with the CPU's `error_code` (see [`pf`]): demand-zero
    /// or shared-object pages, copy-on-write breaks, permission upgrades, spurious faults
    /// from stale TLB entries. `Err` means the access is not allowed (the kernel sends
    /// SIGSEGV for user-mode faults, or lets a user-access routine fail with `EFAULT`).
    ///
    /// Takes the read side of the VMA lock. With interrupts enabled it may spin and send a
    /// shootdown; with interrupts disabled it only tries the lock and never waits for
    /// other CPUs ([`FaultError::WouldBlock`] instead).
    pub fn handle_fault(&self, addr: u64, error_code: u64) -> Result<(), FaultError> {
        if error_code & pf::RSVD != 0 {
            return Err(FaultError::Reserved);
        }
        let access = if error_code & pf::INSTR != 0 {
            Access::Exec
        } else if error_code & pf::WRITE != 0 {
            Access::Write
        } else {
            Access::Read
        };
        self.fault(addr, access, !hw::irqs_enabled(), false)
            .map(|_| ())
    }

    /// Makes the page at `addr` present (and writable, if `write`) as an access would,
    /// with interrupts enabled and no lock held: what futex code calls after a
    /// [`nofault`](super::uaccess::nofault) access failed, before retrying.
    pub fn fault_in(&self, addr: u64, write: bool) -> Result<(), FaultError> {
        let access = if write { Access::Write } else { Access::Read };
        self.fault(addr, access, false, false).map(|_| ())
    }

    fn fault(
        &self,
        addr: u64,
        access: Access,
        atomic: bool,
        force: bool,
    ) -> Result<u64, FaultError> {
        if addr >= USER_END {
            return Err(FaultError::NotMapped);
        }
        let st = if atomic {
            self.mm.try_read().ok_or(FaultError::WouldBlock)?
        } else {
            self.mm.read()
        };
        self.fault_locked(&st, addr, access, atomic, force)
    }

    /// The fault path under the VMA read lock. Returns the frame now mapped at `addr`.
    /// `force` (kernel access to another address space, the ELF loader) ignores the VMA's
    /// protection; a forced write makes the private frame exclusive without making the
    /// entry writable unless the VMA is.
    fn fault_locked(
        &self,
        st: &MmState,
        addr: u64,
        access: Access,
        atomic: bool,
        force: bool,
    ) -> Result<u64, FaultError> {
        let vma = st.vmas.find(addr).ok_or(FaultError::NotMapped)?;
        if !force && !vma.allows(access) {
            return Err(FaultError::AccessDenied);
        }
        let page = align_down(addr, PAGE_SIZE);
        if let Some((obj, idx)) = vma.shared_page(page) {
            let frame = obj.get_or_create(idx).ok_or(FaultError::OutOfMemory)?;
            let mut g = self.pt.lock();
            let p = &mut *g;
            let slot = p.slot_create(page)?;
            let e = slot.load(Ordering::Relaxed);
            debug_assert!(
                e == 0 || e & pte::ADDR == frame,
                "shared leaf {e:#x} vs {frame:#x}"
            );
            let ok = if force {
                e != 0
            } else {
                entry_allows(e, access)
            };
            if !ok {
                slot.store(frame | leaf_flags(vma.prot, true, true), Ordering::Relaxed);
                p.pages += (e == 0) as u64;
            }
            return Ok(frame);
        }
        self.fault_private(vma, page, access, atomic, force)
    }

    fn fault_private(
        &self,
        vma: &Vma,
        page: u64,
        access: Access,
        atomic: bool,
        force: bool,
    ) -> Result<u64, FaultError> {
        enum Prep {
            None,
            /// A zeroed frame for an empty entry.
            Zero(u64),
            /// `new` holds a copy of `old`, on which we hold an extra reference.
            Copy {
                old: u64,
                new: u64,
            },
        }
        enum Next {
            Done(u64),
            NeedZero,
            NeedCopy(u64),
            Installed { old: u64, new: u64, flush: bool },
        }
        let drop_prep = |p: Prep| match p {
            Prep::None => {}
            Prep::Zero(f) => free_user_frame(f),
            Prep::Copy { old, new } => {
                free_user_frame(new);
                release_user_frames(&[old]);
            }
        };
        let mut prep = Prep::None;
        loop {
            let next = {
                let mut g = self.pt.lock();
                let p = &mut *g;
                let slot = match p.slot_create(page) {
                    Ok(s) => s,
                    Err(e) => {
                        drop(g);
                        drop_prep(prep);
                        return Err(e);
                    }
                };
                let e = slot.load(Ordering::Relaxed);
                let frame = e & pte::ADDR;
                if e == 0 {
                    if let Prep::Zero(f) = prep {
                        slot.store(f | leaf_flags(vma.prot, false, true), Ordering::Relaxed);
                        p.pages += 1;
                        prep = Prep::None;
                        Next::Done(f)
                    } else {
                        Next::NeedZero
                    }
                } else if access != Access::Write {
                    // Reads and fetches never need a new frame: fix the flags if the
                    // VMA allows more than the entry (restored PROT_NONE, cleared NX).
                    let ok = if force { true } else { entry_allows(e, access) };
                    if !ok {
                        let w = e & pte::WRITABLE != 0;
                        slot.store(frame | leaf_flags(vma.prot, false, w), Ordering::Relaxed);
                    }
                    Next::Done(frame)
                } else if e & pte::WRITABLE != 0 {
                    Next::Done(frame) // spurious: a stale read-only TLB entry
                } else if let Prep::Copy { old, new } = prep
                    && old == frame
                {
                    let flush = e & pte::PRESENT != 0;
                    if flush && atomic && self.remote_cpus() != 0 {
                        drop(g);
                        drop_prep(prep);
                        return Err(FaultError::WouldBlock);
                    }
                    slot.store(new | leaf_flags(vma.prot, false, true), Ordering::Relaxed);
                    prep = Prep::None;
                    Next::Installed { old, new, flush }
                } else if FRAMES.ref_count(frame) == 1 {
                    // Copy-on-write, but every other sharer is gone: take it over.
                    slot.store(frame | leaf_flags(vma.prot, false, true), Ordering::Relaxed);
                    Next::Done(frame)
                } else {
                    // Pin the frame so it outlives the unlocked copy.
                    if let Err(err) = FRAMES.share_batch(&[frame]) {
                        panic!("mm: pinning a copy-on-write frame: {err}");
                    }
                    Next::NeedCopy(frame)
                }
            };
            match next {
                Next::Done(f) => {
                    drop_prep(prep);
                    return Ok(f);
                }
                Next::Installed { old, new, flush } => {
                    if flush {
                        self.shootdown(page, page + PAGE_SIZE);
                    }
                    // Our mapping's reference and the pin.
                    release_user_frames(&[old, old]);
                    return Ok(new);
                }
                Next::NeedZero => {
                    drop_prep(core::mem::replace(&mut prep, Prep::None));
                    match alloc_user_frame(true) {
                        Some(f) => prep = Prep::Zero(f),
                        None => return Err(FaultError::OutOfMemory),
                    }
                }
                Next::NeedCopy(old) => {
                    drop_prep(core::mem::replace(&mut prep, Prep::None));
                    match alloc_user_frame(false) {
                        Some(new) => {
                            copy_frame(new, old);
                            prep = Prep::Copy { old, new };
                        }
                        None => {
                            release_user_frames(&[old]);
                            return Err(FaultError::OutOfMemory);
                        }
                    }
                }
            }
        }
    }

    /// The frame and offset `addr` maps to, faulting the page in for reading first (the
    /// `(frame, offset)` key of a futex in shared memory). `None` if it cannot be read.
    pub fn translate_user(&self, addr: u64) -> Option<(u64, u64)> {
        let frame = self.fault(addr, Access::Read, false, false).ok()?;
        Some((frame, addr % PAGE_SIZE))
    }

    /// `Some(true)` if `addr` lies in a shared mapping, `Some(false)` for a private one,
    /// `None` if unmapped. An address space that never had a shared mapping answers
    /// `Some(false)` without taking the VMA lock, mapped or not: the futex key of a
    /// thread's exit wake (and of every futex of a program without shared memory) must
    /// not queue behind `mmap`/`munmap` of other threads.
    pub fn is_shared_mapping(&self, addr: u64) -> Option<bool> {
        if !self.had_shared.load(Ordering::Acquire) {
            return Some(false);
        }
        self.mm.read().vmas.find(addr).map(|v| v.is_shared())
    }

    fn note_shared(&self) {
        self.had_shared.store(true, Ordering::Release);
    }

    /// The protection (`PROT_*`) of the VMA containing `addr`, if any.
    pub fn prot_at(&self, addr: u64) -> Option<u32> {
        self.mm.read().vmas.find(addr).map(|v| v.prot)
    }

    // ---- kernel access to (possibly inactive) address spaces ---------------------------

    /// Calls `f(kernel pointer, offset, n)` for each page piece of `[addr, addr + len)`
    /// after faulting it in for `write`. `force` ignores the VMA protection (see
    /// [`AddressSpace::write_bytes`]); without it an access the VMA does not allow is
    /// `EFAULT` before anything changes (no copy-on-write break of a read-only VMA).
    fn access_bytes(
        &self,
        addr: u64,
        len: u64,
        write: bool,
        force: bool,
        mut f: impl FnMut(*mut u8, usize, usize),
    ) -> Result<(), Errno> {
        if !user_range_ok(addr, len) {
            return Err(Errno::EFAULT);
        }
        let st = self.mm.read();
        let access = if write { Access::Write } else { Access::Read };
        let mut done = 0u64;
        while done < len {
            let va = addr + done;
            let n = (PAGE_SIZE - va % PAGE_SIZE).min(len - done);
            let frame = self
                .fault_locked(&st, va, access, false, force)
                .map_err(FaultError::errno)?;
            f(
                phys_to_virt(frame + va % PAGE_SIZE),
                done as usize,
                n as usize,
            );
            done += n;
        }
        Ok(())
    }

    /// Writes `src` at `addr` of this address space through the kernel's own mapping,
    /// ignoring the VMA protection (like a debugger's poke). Only for the ELF loader and
    /// `execve` filling a fresh address space that no program runs in yet (read-only
    /// segments included); every write on behalf of a program goes through the
    /// user-access routines or [`AddressSpace::write_user_bytes`], which honour the
    /// protection. Breaks copy-on-write sharing. `EFAULT` outside VMAs, `ENOMEM`
    /// without memory.
    pub fn write_bytes(&self, addr: u64, src: &[u8]) -> Result<(), Errno> {
        self.access_bytes(addr, src.len() as u64, true, true, |p, off, n| {
            // SAFETY: `p` points at `n` bytes inside a frame this address space maps
            // exclusively (forced write fault), kept alive by the VMA read lock held
            // across the call; `src[off..off + n]` is in bounds.
            unsafe { core::ptr::copy_nonoverlapping(src.as_ptr().add(off), p, n) }
        })
    }

    /// Writes `src` at `addr` as a user-mode write would: `EFAULT` (and nothing
    /// written) unless every page lies in a VMA with `PROT_WRITE`; a copy-on-write page
    /// is copied first, as for a user write. For writes on a program's behalf into an
    /// address space that need not be the active one (clone's `CLONE_CHILD_SETTID`
    /// into the child); in the active one, `copy_to_user` does the same.
    pub fn write_user_bytes(&self, addr: u64, src: &[u8]) -> Result<(), Errno> {
        // Check the whole range first, so a write that would fail half-way changes
        // nothing.
        self.check_user_range(addr, src.len() as u64, Access::Write)?;
        self.access_bytes(addr, src.len() as u64, true, false, |p, off, n| {
            // SAFETY: as in `write_bytes` (a non-forced write fault: the VMA is
            // writable and the frame now exclusive or shared-writable).
            unsafe { core::ptr::copy_nonoverlapping(src.as_ptr().add(off), p, n) }
        })
    }

    /// `EFAULT` unless every page of `[addr, addr + len)` lies in a VMA allowing
    /// `access`.
    fn check_user_range(&self, addr: u64, len: u64, access: Access) -> Result<(), Errno> {
        if !user_range_ok(addr, len) {
            return Err(Errno::EFAULT);
        }
        let st = self.mm.read();
        let mut va = align_down(addr, PAGE_SIZE);
        while va < addr + len {
            match st.vmas.find(va) {
                Some(v) if v.allows(access) => {}
                _ => return Err(Errno::EFAULT),
            }
            va += PAGE_SIZE;
        }
        Ok(())
    }

    /// Zeroes `len` bytes at `addr`, like [`AddressSpace::write_bytes`].
    pub fn zero_bytes(&self, addr: u64, len: u64) -> Result<(), Errno> {
        self.access_bytes(addr, len, true, true, |p, _, n| {
            // SAFETY: as in `write_bytes`.
            unsafe { core::ptr::write_bytes(p, 0, n) }
        })
    }

    /// Reads `dst.len()` bytes at `addr`, ignoring the VMA protection (like
    /// [`AddressSpace::write_bytes`]).
    pub fn read_bytes(&self, addr: u64, dst: &mut [u8]) -> Result<(), Errno> {
        let d = dst.as_mut_ptr();
        self.access_bytes(addr, dst.len() as u64, false, true, |p, off, n| {
            // SAFETY: `p` points at `n` readable bytes of a frame this address space maps
            // (kept alive by the VMA read lock); `d[off..off + n]` is in bounds of `dst`.
            unsafe { core::ptr::copy_nonoverlapping(p, d.add(off), n) }
        })
    }

    // ---- unmapping helpers ---------------------------------------------------------------

    /// Clears every leaf in `[start, end)` into `g` (private frames to release after the
    /// shootdown; shared frames stay with their object).
    fn zap(&self, start: u64, end: u64, g: &mut Gather<'_>) {
        g.note(start, end);
        let mut v = start;
        while v < end {
            {
                let mut guard = self.pt.lock();
                let p = &mut *guard;
                let mut n = 0;
                loop {
                    let Some((va, slot)) = p.pt.next_leaf(v, end) else {
                        v = end;
                        break;
                    };
                    let e = slot.swap(0, Ordering::Relaxed);
                    p.pages -= 1;
                    g.dirty |= e & pte::PRESENT != 0;
                    if e & pte::SW_SHARED == 0 {
                        g.frames.push(e & pte::ADDR);
                    }
                    v = va + PAGE_SIZE;
                    n += 1;
                    if g.full() || n >= PT_CHUNK {
                        break;
                    }
                }
            }
            if g.full() {
                g.flush();
            }
        }
    }

    /// Removes the VMAs in `[start, end)` and their pages; with `prune`, also the page
    /// tables of the free gap this leaves.
    fn unmap_locked(
        &self,
        st: &mut MmState,
        start: u64,
        end: u64,
        prune: bool,
        g: &mut Gather<'_>,
    ) {
        let removed = st.vmas.remove_range(start, end);
        if removed.is_empty() {
            return;
        }
        for v in &removed {
            self.zap(v.start, v.end, g);
        }
        g.keep.extend(removed);
        if prune {
            let (lo, hi) = st.vmas.gap_around(start, end, USER_LIMIT);
            let before = g.subtrees.len();
            self.pt.lock().pt.prune(lo, hi, start, end, &mut g.subtrees);
            if g.subtrees.len() != before {
                g.dirty = true;
                g.note(start, end);
            }
        }
    }

    /// Rewrites the leaves in `[start, end)` for `prot`; returns whether any entry lost a
    /// right (so a shootdown is needed).
    fn reprotect(&self, start: u64, end: u64, prot: u32) -> bool {
        let mut lost = false;
        let mut v = start;
        while v < end {
            let g = self.pt.lock();
            let mut n = 0;
            loop {
                let Some((va, slot)) = g.pt.next_leaf(v, end) else {
                    v = end;
                    break;
                };
                let e = slot.load(Ordering::Relaxed);
                let shared = e & pte::SW_SHARED != 0;
                let w = shared || e & pte::WRITABLE != 0;
                let new = (e & pte::ADDR) | leaf_flags(prot, shared, w);
                if new != e {
                    let was_present = e & pte::PRESENT != 0;
                    lost |= was_present
                        && (new & pte::PRESENT == 0
                            || (e & pte::WRITABLE != 0 && new & pte::WRITABLE == 0)
                            || (e & pte::NO_EXECUTE == 0 && new & pte::NO_EXECUTE != 0));
                    slot.store(new, Ordering::Relaxed);
                }
                v = va + PAGE_SIZE;
                n += 1;
                if n >= PT_CHUNK {
                    break;
                }
            }
        }
        lost
    }

    // ---- system calls --------------------------------------------------------------------

    /// `mmap` of anonymous memory with Linux semantics; returns the address.
    ///
    /// `ENODEV` without `MAP_ANONYMOUS` (file mappings are not supported by mm; the
    /// kernel checks the fd first). `EINVAL`: `len == 0`, a mapping type other than
    /// exactly `MAP_PRIVATE` or `MAP_SHARED`, `MAP_SHARED | MAP_GROWSDOWN`, an unaligned
    /// fixed address. `ENOMEM`: `len` too big, no free range, a fixed range beyond the
    /// user area, or more than the VMA limit. `EEXIST`: `MAP_FIXED_NOREPLACE` over an
    /// existing mapping. `EPERM`: a fixed address below [`MMAP_MIN_ADDR`]. `MAP_FIXED`
    /// replaces what was there. A hint is used when the range is free, else the search
    /// goes top-down below the mmap base (then bottom-up). `MAP_32BIT` searches
    /// `[1 GiB, 2 GiB)`. `MAP_POPULATE` faults the pages in. Other flags are ignored.
    /// The caller checks the file offset (page-aligned, `EINVAL`).
    pub fn mmap(&self, addr: u64, len: u64, prot: u32, flags: u32) -> Result<u64, Errno> {
        if flags & MAP_ANONYMOUS == 0 {
            return Err(Errno::ENODEV);
        }
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let noreplace = flags & MAP_FIXED_NOREPLACE != 0;
        let fixed = noreplace || flags & MAP_FIXED != 0;
        let hint = if fixed {
            addr
        } else {
            let h = align_down(addr, PAGE_SIZE);
            if h != 0 && h < MMAP_MIN_ADDR {
                MMAP_MIN_ADDR
            } else {
                h
            }
        };
        let len = align_up(len, PAGE_SIZE).ok_or(Errno::ENOMEM)?;
        if len > USER_END {
            return Err(Errno::ENOMEM);
        }
        let mut st = self.mm.write();
        if st.vmas.len() > st.map_limit {
            return Err(Errno::ENOMEM);
        }
        let start = if fixed {
            if addr > USER_END - len {
                return Err(Errno::ENOMEM);
            }
            if !addr.is_multiple_of(PAGE_SIZE) {
                return Err(Errno::EINVAL);
            }
            if addr < MMAP_MIN_ADDR {
                return Err(Errno::EPERM);
            }
            addr
        } else {
            Self::pick_area(&st, hint, len, flags).ok_or(Errno::ENOMEM)?
        };
        let end = start + len;
        if noreplace && st.vmas.overlaps(start, end) {
            return Err(Errno::EEXIST);
        }
        let backing = match flags & MAP_TYPE {
            MAP_SHARED if flags & MAP_GROWSDOWN != 0 => return Err(Errno::EINVAL),
            MAP_SHARED => {
                self.note_shared();
                Backing::Shared {
                    obj: SharedAnon::new(len / PAGE_SIZE)?,
                    pgoff: 0,
                }
            }
            MAP_PRIVATE => Backing::Private,
            _ => return Err(Errno::EINVAL),
        };
        let vma = Vma {
            start,
            end,
            prot: prot & PROT_RWX,
            flags: 0,
            backing,
        };
        if st.vmas.count_after_map(&vma) > st.map_limit {
            return Err(Errno::ENOMEM);
        }
        {
            let mut g = Gather::new(self);
            self.unmap_locked(&mut st, start, end, false, &mut g);
            st.vmas.insert(vma);
            // `g` flushes here, before the lock is dropped: no thread can see the new
            // mapping while another CPU still caches the old one.
        }
        drop(st);
        if flags & MAP_POPULATE != 0 && prot & PROT_RWX != 0 {
            let write = prot & PROT_WRITE != 0;
            for va in (start..end).step_by(PAGE_SIZE as usize) {
                if self.fault_in(va, write).is_err() {
                    break;
                }
            }
        }
        Ok(start)
    }

    fn pick_area(st: &MmState, hint: u64, len: u64, flags: u32) -> Option<u64> {
        if flags & MAP_32BIT != 0 {
            let (lo, hi) = (0x4000_0000, 0x8000_0000);
            if hint >= lo
                && hint.checked_add(len).is_some_and(|e| e <= hi)
                && !st.vmas.overlaps(hint, hint + len)
            {
                return Some(hint);
            }
            return st.vmas.find_free_bottomup(len, lo, hi);
        }
        if hint != 0 && hint <= USER_END - len && !st.vmas.overlaps(hint, hint + len) {
            return Some(hint);
        }
        st.vmas
            .find_free_topdown(len, MMAP_MIN_ADDR, st.mmap_base.max(MMAP_MIN_ADDR))
            .or_else(|| st.vmas.find_free_bottomup(len, MMAP_MIN_ADDR, USER_END))
    }

    /// `munmap` with Linux semantics: `EINVAL` for an unaligned address, a zero length or
    /// a range beyond the user area; `ENOMEM` if splitting a VMA would pass the VMA
    /// limit. Unmapping nothing is fine. Frees the page tables of the gap it leaves.
    pub fn munmap(&self, addr: u64, len: u64) -> Result<(), Errno> {
        if !addr.is_multiple_of(PAGE_SIZE) || addr > USER_END || len > USER_END - addr {
            return Err(Errno::EINVAL);
        }
        let len = align_up(len, PAGE_SIZE).ok_or(Errno::EINVAL)?;
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let end = addr + len;
        let mut st = self.mm.write();
        if st.vmas.count_after_unmap(addr, end) > st.map_limit {
            return Err(Errno::ENOMEM);
        }
        let mut g = Gather::new(self);
        self.unmap_locked(&mut st, addr, end, true, &mut g);
        drop(g);
        Ok(())
    }

    /// `mprotect` with Linux semantics: `EINVAL` for an unaligned address, unknown `prot`
    /// bits or `PROT_GROWSDOWN`/`PROT_GROWSUP` (no grows-down mappings here); `ENOMEM` if
    /// part of the range is unmapped (then nothing changes; Linux changes the part before
    /// the hole) or the VMA limit would be passed. A zero length does nothing. `EACCES`
    /// never happens for anonymous memory.
    pub fn mprotect(&self, addr: u64, len: u64, prot: u32) -> Result<(), Errno> {
        let grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
        if grows == PROT_GROWSDOWN | PROT_GROWSUP || !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let len = align_up(len, PAGE_SIZE).ok_or(Errno::ENOMEM)?;
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        if prot & !(PROT_RWX | PROT_SEM | grows) != 0 {
            return Err(Errno::EINVAL);
        }
        let mut st = self.mm.write();
        if !st.vmas.covered(addr, end) {
            return Err(Errno::ENOMEM);
        }
        if grows != 0 {
            return Err(Errno::EINVAL);
        }
        if st.vmas.count_after_split(addr, end) > st.map_limit {
            return Err(Errno::ENOMEM);
        }
        let prot = prot & PROT_RWX;
        st.vmas.update_range(addr, end, |v| v.prot = prot);
        if self.reprotect(addr, end, prot) {
            self.shootdown(addr, end);
        }
        Ok(())
    }

    /// Sets the program break's start (and the break) to `base` rounded up to a page: the
    /// ELF loader calls it with the end of the highest segment.
    pub fn set_brk_base(&self, base: u64) {
        let b = align_up(base, PAGE_SIZE).unwrap_or(USER_END).min(USER_END);
        let mut st = self.mm.write();
        st.brk_start = b;
        st.brk = b;
    }

    /// `brk` with Linux semantics: returns the new break, or the old one if the request
    /// is refused (below the start, colliding with a mapping — one free page must remain
    /// before the next one — beyond the user area, or out of VMAs). `brk(0)` returns the
    /// current break. Shrinking unmaps the pages above the new break.
    pub fn brk(&self, new: u64) -> u64 {
        let mut st = self.mm.write();
        let old = st.brk;
        if st.brk_start == 0 || new < st.brk_start || new > USER_END - PAGE_SIZE {
            return old;
        }
        let (Some(newp), Some(oldp)) = (align_up(new, PAGE_SIZE), align_up(old, PAGE_SIZE)) else {
            return old;
        };
        if newp == oldp {
            st.brk = new;
            return new;
        }
        if newp < oldp {
            if st.vmas.count_after_unmap(newp, oldp) > st.map_limit {
                return old;
            }
            let mut g = Gather::new(self);
            self.unmap_locked(&mut st, newp, oldp, true, &mut g);
            drop(g);
            st.brk = new;
            return new;
        }
        if st.vmas.overlaps(oldp, newp + PAGE_SIZE) {
            return old;
        }
        let vma = Vma::private(oldp, newp, PROT_READ | PROT_WRITE);
        if st.vmas.count_after_map(&vma) > st.map_limit {
            return old;
        }
        st.vmas.insert(vma);
        st.brk = new;
        new
    }

    /// The current break (what `brk(0)` returns) and its start.
    pub fn brk_range(&self) -> (u64, u64) {
        let st = self.mm.read();
        (st.brk_start, st.brk)
    }

    /// `madvise` with Linux semantics. `MADV_DONTNEED` (and `_LOCKED`, and `MADV_FREE`,
    /// which may behave the same): private pages read back as zeroes, shared pages keep
    /// their data (only this mapping's entries go). `MADV_DONTFORK`/`DOFORK`,
    /// `MADV_WIPEONFORK` (private only, else `EINVAL`)/`KEEPONFORK` change what `fork`
    /// does. `MADV_POPULATE_READ`/`WRITE` fault pages in (`EINVAL` where not allowed).
    /// Hints (`NORMAL`, `RANDOM`, `WILLNEED`, `HUGEPAGE`, `DONTDUMP`, `COLD`, ...) are
    /// accepted and ignored. `MADV_REMOVE` is not supported (`EINVAL`), `HWPOISON` and
    /// `SOFT_OFFLINE` need privileges (`EPERM`), unknown advice is `EINVAL`. `EINVAL` for
    /// an unaligned start or a wrapping range; `ENOMEM` if part of the range is unmapped
    /// (after applying the advice to the mapped part, as Linux does).
    pub fn madvise(&self, addr: u64, len: u64, advice: u32) -> Result<(), Errno> {
        let known = matches!(
            advice,
            MADV_NORMAL
                | MADV_RANDOM
                | MADV_SEQUENTIAL
                | MADV_WILLNEED
                | MADV_DONTNEED
                | MADV_FREE
                | MADV_REMOVE
                | MADV_DONTFORK
                | MADV_DOFORK
                | MADV_MERGEABLE
                | MADV_UNMERGEABLE
                | MADV_HUGEPAGE
                | MADV_NOHUGEPAGE
                | MADV_DONTDUMP
                | MADV_DODUMP
                | MADV_WIPEONFORK
                | MADV_KEEPONFORK
                | MADV_COLD
                | MADV_PAGEOUT
                | MADV_POPULATE_READ
                | MADV_POPULATE_WRITE
                | MADV_DONTNEED_LOCKED
                | MADV_COLLAPSE
                | MADV_HWPOISON
                | MADV_SOFT_OFFLINE
        );
        if !known || !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let len = align_up(len, PAGE_SIZE).ok_or(Errno::EINVAL)?;
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if end == addr {
            return Ok(());
        }
        let hole = |st: &MmState| !st.vmas.covered(addr, end);
        match advice {
            MADV_HWPOISON | MADV_SOFT_OFFLINE => Err(Errno::EPERM),
            MADV_REMOVE => Err(Errno::EINVAL),
            MADV_DONTNEED | MADV_DONTNEED_LOCKED | MADV_FREE => {
                let st = self.mm.write();
                let mut g = Gather::new(self);
                for v in st.vmas.overlapping(addr, end) {
                    self.zap(v.start.max(addr), v.end.min(end), &mut g);
                }
                drop(g);
                if hole(&st) {
                    Err(Errno::ENOMEM)
                } else {
                    Ok(())
                }
            }
            MADV_DONTFORK | MADV_DOFORK | MADV_WIPEONFORK | MADV_KEEPONFORK => {
                let mut st = self.mm.write();
                if advice == MADV_WIPEONFORK
                    && st.vmas.overlapping(addr, end).any(|v| v.is_shared())
                {
                    return Err(Errno::EINVAL);
                }
                if st.vmas.count_after_split(addr, end) > st.map_limit {
                    return Err(Errno::ENOMEM);
                }
                let (set, clear) = match advice {
                    MADV_DONTFORK => (VMA_DONTFORK, 0),
                    MADV_DOFORK => (0, VMA_DONTFORK),
                    MADV_WIPEONFORK => (VMA_WIPEONFORK, 0),
                    _ => (0, VMA_WIPEONFORK),
                };
                st.vmas
                    .update_range(addr, end, |v| v.flags = (v.flags | set) & !clear);
                if hole(&st) {
                    Err(Errno::ENOMEM)
                } else {
                    Ok(())
                }
            }
            MADV_POPULATE_READ | MADV_POPULATE_WRITE => {
                let access = if advice == MADV_POPULATE_WRITE {
                    Access::Write
                } else {
                    Access::Read
                };
                let st = self.mm.read();
                for va in (addr..end).step_by(PAGE_SIZE as usize) {
                    match self.fault_locked(&st, va, access, false, false) {
                        Ok(_) => {}
                        Err(FaultError::NotMapped) => return Err(Errno::ENOMEM),
                        Err(FaultError::OutOfMemory) => return Err(Errno::ENOMEM),
                        Err(_) => return Err(Errno::EINVAL),
                    }
                }
                Ok(())
            }
            _ => {
                if hole(&self.mm.read()) {
                    Err(Errno::ENOMEM)
                } else {
                    Ok(())
                }
            }
        }
    }

    // ---- building an address space (exec) -------------------------------------------------

    /// Maps an ELF segment: `[addr, addr + mem_len)` (any alignment; whole pages are
    /// mapped) as private anonymous memory with `prot`, filled with `bytes` at `addr`
    /// and zeroes after them (the `.bss` tail). Pages already mapped by an earlier
    /// segment (segments sharing a page) keep their contents and get the union of both
    /// protections. `EINVAL` for more bytes than `mem_len`, a range beyond the user area
    /// or overlapping a shared mapping; `EPERM` below [`MMAP_MIN_ADDR`]; `ENOMEM`.
    pub fn map_bytes(&self, addr: u64, mem_len: u64, bytes: &[u8], prot: u32) -> Result<(), Errno> {
        if bytes.len() as u64 > mem_len {
            return Err(Errno::EINVAL);
        }
        if mem_len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(mem_len).ok_or(Errno::EINVAL)?;
        let ps = align_down(addr, PAGE_SIZE);
        let pe = align_up(end, PAGE_SIZE).ok_or(Errno::EINVAL)?;
        if pe > USER_END {
            return Err(Errno::EINVAL);
        }
        if ps < MMAP_MIN_ADDR {
            return Err(Errno::EPERM);
        }
        let prot = prot & PROT_RWX;
        {
            let mut st = self.mm.write();
            let old: Vec<(u64, u64, u32, bool)> = st
                .vmas
                .overlapping(ps, pe)
                .map(|v| (v.start.max(ps), v.end.min(pe), v.prot, v.is_shared()))
                .collect();
            if old.iter().any(|o| o.3) {
                return Err(Errno::EINVAL);
            }
            let mut gaps = Vec::new();
            let mut at = ps;
            for &(s, e, _, _) in &old {
                if s > at {
                    gaps.push((at, s));
                }
                at = e;
            }
            if at < pe {
                gaps.push((at, pe));
            }
            if st.vmas.count_after_split(ps, pe) + gaps.len() > st.map_limit {
                return Err(Errno::ENOMEM);
            }
            for &(s, e, p, _) in &old {
                st.vmas.update_range(s, e, |v| v.prot |= prot);
                self.reprotect(s, e, p | prot);
            }
            for (s, e) in gaps {
                st.vmas.insert(Vma::private(s, e, prot));
            }
        }
        self.write_bytes(addr, bytes)?;
        let z0 = addr + bytes.len() as u64;
        let z1 = end.min(align_up(z0, PAGE_SIZE).unwrap_or(end));
        if z1 > z0 {
            self.zero_bytes(z0, z1 - z0)?;
        }
        Ok(())
    }

    /// Maps a stack `[top - size, top)` (read-write, demand-zero) with a `PROT_NONE` guard
    /// gap of [`STACK_GUARD_GAP`] below it (clipped at [`MMAP_MIN_ADDR`]). `size` is
    /// rounded up to pages. `EINVAL` for an unaligned `top`, a zero size or a range
    /// outside the user area; `EEXIST` if something is mapped there.
    pub fn setup_stack(&self, top: u64, size: u64) -> Result<(), Errno> {
        let size = align_up(size, PAGE_SIZE).ok_or(Errno::EINVAL)?;
        if size == 0 || !top.is_multiple_of(PAGE_SIZE) || top > USER_END {
            return Err(Errno::EINVAL);
        }
        let start = top
            .checked_sub(size)
            .filter(|&s| s >= MMAP_MIN_ADDR)
            .ok_or(Errno::EINVAL)?;
        let guard = start.saturating_sub(STACK_GUARD_GAP).max(MMAP_MIN_ADDR);
        let mut st = self.mm.write();
        if st.vmas.overlaps(guard, top) {
            return Err(Errno::EEXIST);
        }
        if st.vmas.len() + 2 > st.map_limit {
            return Err(Errno::ENOMEM);
        }
        if guard < start {
            st.vmas.insert(Vma::private(guard, start, PROT_NONE));
        }
        st.vmas
            .insert(Vma::private(start, top, PROT_READ | PROT_WRITE));
        Ok(())
    }

    // ---- fork ------------------------------------------------------------------------------

    /// A copy-on-write copy of this address space for `fork`: VMAs are copied (except
    /// `MADV_DONTFORK` ones; `MADV_WIPEONFORK` ones come without pages), private pages
    /// become read-only and shared by both (their frames gain a reference), shared
    /// anonymous mappings stay shared, page tables are copied. The parent's TLBs are shot
    /// down once at the end. `ENOMEM` if memory runs out (the partial child is dropped;
    /// the parent stays intact).
    pub fn fork_cow(&self) -> Result<Arc<AddressSpace>, Errno> {
        let child = AddressSpace::new()?;
        let st = self.mm.write();
        let mut lo = u64::MAX;
        let mut hi = 0;
        let result = (|| {
            let mut cst = child.mm.write();
            cst.brk_start = st.brk_start;
            cst.brk = st.brk;
            cst.mmap_base = st.mmap_base;
            cst.map_limit = st.map_limit;
            for v in st.vmas.iter() {
                if v.flags & VMA_DONTFORK != 0 {
                    continue;
                }
                if v.is_shared() {
                    child.note_shared();
                }
                cst.vmas.insert(v.clone());
                if v.flags & VMA_WIPEONFORK != 0 && !v.is_shared() {
                    continue;
                }
                self.copy_pages(&child, v.start, v.end, &mut lo, &mut hi)?;
            }
            Ok::<(), Errno>(())
        })();
        if lo < hi {
            self.shootdown(lo, hi);
        }
        drop(st);
        result.map(|()| child)
    }

    /// Copies the leaves of `[start, end)` into `child`, write-protecting private ones.
    fn copy_pages(
        &self,
        child: &AddressSpace,
        start: u64,
        end: u64,
        lo: &mut u64,
        hi: &mut u64,
    ) -> Result<(), Errno> {
        let mut v = start;
        let mut batch: Vec<(u64, u64)> = Vec::with_capacity(64);
        let mut private: Vec<u64> = Vec::with_capacity(64);
        while v < end {
            batch.clear();
            {
                let g = self.pt.lock();
                while batch.len() < 64 {
                    let Some((va, slot)) = g.pt.next_leaf(v, end) else {
                        v = end;
                        break;
                    };
                    let mut e = slot.load(Ordering::Relaxed);
                    if e & pte::SW_SHARED == 0 && e & pte::WRITABLE != 0 {
                        e = slot.fetch_and(!pte::WRITABLE, Ordering::Relaxed) & !pte::WRITABLE;
                        *lo = (*lo).min(va);
                        *hi = (*hi).max(va + PAGE_SIZE);
                    }
                    batch.push((va, e));
                    v = va + PAGE_SIZE;
                }
            }
            private.clear();
            let mut res = Ok(());
            {
                let mut g = child.pt.lock();
                for &(va, e) in &batch {
                    match g.slot_create(va) {
                        Ok(slot) => slot.store(e, Ordering::Relaxed),
                        Err(_) => {
                            res = Err(Errno::ENOMEM);
                            break;
                        }
                    }
                    g.pages += 1;
                    if e & pte::SW_SHARED == 0 {
                        private.push(e & pte::ADDR);
                    }
                }
            }
            if let Err(e) = FRAMES.share_batch(&private) {
                panic!("mm: fork: sharing frames: {e}");
            }
            res?;
        }
        Ok(())
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        let mask = *self.cpus.get_mut();
        assert!(
            mask == 0,
            "mm: address space {} dropped while loaded on CPUs {mask:#x}",
            self.id
        );
        // No CPU has this root loaded, and every CPU that had it reloaded CR3 since
        // (flushing all its non-global entries), so nothing needs a shootdown.
        let p = self.pt.get_mut();
        let mut batch: Vec<u64> = Vec::with_capacity(GATHER_FRAMES);
        let mut tables = 0u64;
        p.pt.clear_lower_half(
            &mut |e| {
                if e & pte::SW_SHARED == 0 {
                    batch.push(e & pte::ADDR);
                    if batch.len() == GATHER_FRAMES {
                        release_user_frames(&batch);
                        batch.clear();
                    }
                }
            },
            &mut |t| {
                FRAMES.free(t, 1);
                tables += 1;
            },
        );
        release_user_frames(&batch);
        debug_assert_eq!(
            tables, p.tables,
            "page-table count of address space {}",
            self.id
        );
        FRAMES.free(self.root, 1);
        USER_TABLES.fetch_sub(tables + 1, Ordering::Relaxed);
        // The VMAs (and the shared objects they hold) drop after this.
    }
}
