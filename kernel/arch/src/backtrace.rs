//! Frame-pointer backtraces with symbol names.
//!
//! The kernel is built with frame pointers, so each frame starts with the saved RBP
//! followed by the return address. Every frame address is checked against the live
//! page tables before it is read, so a corrupt chain ends the walk instead of
//! faulting inside a fault report.

use core::fmt::Write;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// Maps an address to `(symbol, offset)`.
pub type Symbolizer = fn(u64) -> Option<(&'static str, u64)>;

static SYMBOLIZER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
static HHDM: AtomicU64 = AtomicU64::new(0);

/// Installs the kernel's symbol lookup.
pub fn set_symbolizer(f: Symbolizer) {
    SYMBOLIZER.store(f as *mut (), Ordering::Release);
}

/// Tells the walker where physical memory is mapped, so it can check page tables.
pub fn set_hhdm_offset(offset: u64) {
    HHDM.store(offset, Ordering::Release);
}

/// Looks up the symbol containing `addr`.
pub fn symbolize(addr: u64) -> Option<(&'static str, u64)> {
    let p = SYMBOLIZER.load(Ordering::Acquire);
    if p.is_null() {
        return None;
    }
    // SAFETY: only `set_symbolizer` stores into SYMBOLIZER, always a `Symbolizer`.
    let f: Symbolizer = unsafe { core::mem::transmute::<*mut (), Symbolizer>(p) };
    f(addr)
}

/// Whether `virt` is mapped in the active page tables (checked by walking them
/// through the HHDM).
pub fn is_mapped(virt: u64) -> bool {
    let hhdm = HHDM.load(Ordering::Acquire);
    if hhdm == 0 {
        return false;
    }
    let canonical = (virt as i64) << 16 >> 16 == virt as i64;
    if !canonical {
        return false;
    }
    let mut table = crate::cpu::cr3() & 0x000f_ffff_ffff_f000;
    for level in (0..4).rev() {
        let idx = (virt >> (12 + 9 * level)) & 0x1ff;
        let entry_addr = hhdm + table + idx * 8;
        // SAFETY: `table` came from CR3 or from a present entry of a higher-level
        // table, so it is a page-table frame, and every page-table frame is covered by
        // the HHDM (they are allocated from usable or bootloader memory).
        let entry = unsafe { core::ptr::read_volatile(entry_addr as *const u64) };
        if entry & 1 == 0 {
            return false;
        }
        if level == 0 || (level <= 2 && entry & (1 << 7) != 0) {
            return true;
        }
        table = entry & 0x000f_ffff_ffff_f000;
    }
    true
}

/// Writes `addr <symbol+off>` to `w`.
pub fn write_addr(w: &mut dyn Write, addr: u64) {
    match symbolize(addr) {
        Some((name, off)) => {
            let _ = write!(w, "{addr:#018x} <{name}+{off:#x}>");
        }
        None => {
            let _ = write!(w, "{addr:#018x}");
        }
    }
}

/// Prints up to `max` frames starting at frame pointer `rbp`.
pub fn print_from(w: &mut dyn Write, mut rbp: u64, max: usize) {
    let _ = writeln!(w, "backtrace:");
    for i in 0..max {
        if rbp == 0 || !rbp.is_multiple_of(8) || rbp < 0xffff_8000_0000_0000 {
            break;
        }
        if !is_mapped(rbp) || !is_mapped(rbp + 8) {
            let _ = writeln!(w, "  (frame pointer {rbp:#x} not mapped)");
            break;
        }
        // SAFETY: both words were just checked to be mapped kernel memory.
        let (next, ret) = unsafe {
            (
                core::ptr::read_volatile(rbp as *const u64),
                core::ptr::read_volatile((rbp + 8) as *const u64),
            )
        };
        if ret == 0 {
            break;
        }
        let _ = write!(w, "  #{i:<2} ");
        write_addr(w, ret);
        let _ = writeln!(w);
        if next <= rbp {
            break; // stacks grow down: a caller's frame is always higher
        }
        rbp = next;
    }
}
