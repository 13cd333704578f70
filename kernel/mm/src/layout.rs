//! Address arithmetic and the fixed kernel virtual layout.
//!
//! Everything here is pure integer math (host-tested). The layout itself is described in
//! the crate documentation; the constants below are its single source of truth.

/// Size of a base page and of a physical frame.
pub const PAGE_SIZE: u64 = 4096;
/// log2(PAGE_SIZE).
pub const PAGE_SHIFT: u32 = 12;
/// Bytes mapped by one PML4 entry (512 GiB).
pub const PML4_SPAN: u64 = 1 << 39;

/// Where the bootloader is expected to put the HHDM (4-level paging, no KASLR). The real
/// offset comes from the bootloader; `init` only checks that it stays below [`MMIO_BASE`].
pub const HHDM_EXPECTED: u64 = 0xffff_8000_0000_0000;
/// First upper-half address (PML4 index 256).
pub const KERNEL_HALF_START: u64 = 0xffff_8000_0000_0000;

/// Device-register and firmware-table window (PML4 index 384, 512 GiB).
pub const MMIO_BASE: u64 = 0xffff_c000_0000_0000;
/// Size of the MMIO/firmware window.
pub const MMIO_SIZE: u64 = PML4_SPAN;

/// Guarded kernel stacks (PML4 index 400, 512 GiB).
pub const STACK_BASE: u64 = 0xffff_c800_0000_0000;
/// Size of the kernel stack region.
pub const STACK_SIZE: u64 = PML4_SPAN;

/// The kernel image is linked here (PML4 index 511, top 2 GiB).
pub const KERNEL_IMAGE_BASE: u64 = 0xffff_ffff_8000_0000;

/// Highest physical address bit width x86_64 allows (MAXPHYADDR <= 52).
pub const MAX_PHYS: u64 = 1 << 52;

// Layout invariants, checked at compile time: the windows are whole PML4 slots, canonical,
// and overlap neither each other, the HHDM slot nor the kernel image.
const _: () = {
    assert!(MMIO_BASE.is_multiple_of(PML4_SPAN) && STACK_BASE.is_multiple_of(PML4_SPAN));
    assert!(!overlaps(
        MMIO_BASE,
        MMIO_BASE + MMIO_SIZE,
        STACK_BASE,
        STACK_BASE + STACK_SIZE
    ));
    assert!(HHDM_EXPECTED < MMIO_BASE && STACK_BASE + STACK_SIZE <= KERNEL_IMAGE_BASE);
    assert!(is_canonical(MMIO_BASE) && is_canonical(STACK_BASE + STACK_SIZE - 1));
};

/// Rounds `v` down to a multiple of `align` (a power of two).
#[inline]
pub const fn align_down(v: u64, align: u64) -> u64 {
    v & !(align - 1)
}

/// Rounds `v` up to a multiple of `align` (a power of two); `None` on overflow.
#[inline]
pub const fn align_up(v: u64, align: u64) -> Option<u64> {
    match v.checked_add(align - 1) {
        Some(x) => Some(x & !(align - 1)),
        None => None,
    }
}

/// Number of pages needed to hold `bytes` bytes.
#[inline]
pub const fn pages_for(bytes: u64) -> u64 {
    bytes.div_ceil(PAGE_SIZE)
}

/// True if `v` is a canonical 48-bit virtual address.
#[inline]
pub const fn is_canonical(v: u64) -> bool {
    let top = v >> 47;
    top == 0 || top == 0x1_ffff
}

/// Makes a canonical address from a 48-bit value (sign-extends bit 47).
#[inline]
pub const fn canonicalize(v: u64) -> u64 {
    (((v << 16) as i64) >> 16) as u64
}

/// Index into the PML4 (level 4) for `v`.
#[inline]
pub const fn pml4_index(v: u64) -> usize {
    ((v >> 39) & 0x1ff) as usize
}

/// Index into the PDPT (level 3) for `v`.
#[inline]
pub const fn pdpt_index(v: u64) -> usize {
    ((v >> 30) & 0x1ff) as usize
}

/// Index into the page directory (level 2) for `v`.
#[inline]
pub const fn pd_index(v: u64) -> usize {
    ((v >> 21) & 0x1ff) as usize
}

/// Index into the page table (level 1) for `v`.
#[inline]
pub const fn pt_index(v: u64) -> usize {
    ((v >> 12) & 0x1ff) as usize
}

/// Index of `v` in the table at `level` (4 = PML4 .. 1 = PT).
#[inline]
pub const fn table_index(v: u64, level: u32) -> usize {
    ((v >> (12 + 9 * (level - 1))) & 0x1ff) as usize
}

/// Builds a canonical virtual address from its four table indices and page offset.
#[inline]
pub const fn virt_from_indices(l4: usize, l3: usize, l2: usize, l1: usize, off: u64) -> u64 {
    canonicalize(
        ((l4 as u64) << 39) | ((l3 as u64) << 30) | ((l2 as u64) << 21) | ((l1 as u64) << 12) | off,
    )
}

/// True if `[a, a_end)` and `[b, b_end)` overlap (empty ranges never overlap).
#[inline]
pub const fn overlaps(a: u64, a_end: u64, b: u64, b_end: u64) -> bool {
    a < a_end && b < b_end && a < b_end && b < a_end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_round_trip() {
        let v = 0xffff_c800_1234_5678u64;
        let (a, b, c, d) = (pml4_index(v), pdpt_index(v), pd_index(v), pt_index(v));
        assert_eq!(a, 400);
        assert_eq!(virt_from_indices(a, b, c, d, v & 0xfff), v);
        for level in 1..=4 {
            let expect = [d, c, b, a][level as usize - 1];
            assert_eq!(table_index(v, level), expect);
        }
    }

    #[test]
    fn layout_slots() {
        assert_eq!(pml4_index(HHDM_EXPECTED), 256);
        assert_eq!(pml4_index(KERNEL_HALF_START), 256);
        assert_eq!(pml4_index(MMIO_BASE), 384);
        assert_eq!(pml4_index(STACK_BASE), 400);
        assert_eq!(pml4_index(KERNEL_IMAGE_BASE), 511);
        assert_eq!(pdpt_index(KERNEL_IMAGE_BASE), 510);
    }

    #[test]
    fn canonical() {
        assert!(is_canonical(0));
        assert!(is_canonical(0x0000_7fff_ffff_ffff));
        assert!(!is_canonical(0x0000_8000_0000_0000));
        assert!(!is_canonical(0xffff_7fff_ffff_ffff));
        assert!(is_canonical(0xffff_8000_0000_0000));
        assert_eq!(canonicalize(0x0000_8000_0000_0000), 0xffff_8000_0000_0000);
        assert_eq!(canonicalize(0x1234), 0x1234);
    }

    #[test]
    fn alignment() {
        assert_eq!(align_down(0x1fff, PAGE_SIZE), 0x1000);
        assert_eq!(align_up(0x1001, PAGE_SIZE), Some(0x2000));
        assert_eq!(align_up(0x1000, PAGE_SIZE), Some(0x1000));
        assert_eq!(align_up(u64::MAX - 10, PAGE_SIZE), None);
        assert_eq!(pages_for(0), 0);
        assert_eq!(pages_for(1), 1);
        assert_eq!(pages_for(4097), 2);
        assert!(overlaps(0, 10, 9, 20));
        assert!(!overlaps(0, 10, 10, 20));
        assert!(!overlaps(5, 5, 0, 10));
    }
}
