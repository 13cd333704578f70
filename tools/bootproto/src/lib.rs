//! Pure, host-testable pieces of the Weft direct-boot loader.
//!
//! The loader (`tools/loader`) runs on bare metal and does the memory and port accesses;
//! everything that can be expressed over byte slices and plain numbers lives here so that
//! `cargo test -p weft-bootproto` can check it on the host:
//!
//! - [`limine`]: Limine protocol constants (ids, markers, memory types, struct layouts).
//! - [`scan`]: finding requests and the base revision tag in a loaded executable image.
//! - [`memmap`]: turning a firmware (e820) memory map plus the loader's own allocations
//!   into a sorted, non-overlapping Limine memory map.
//! - [`alloc`]: the top-down physical allocator that places the kernel high in RAM.
//! - [`elf`]: ELF64 executable header and program header parsing.
//! - [`acpi`]: RSDP search and MADT parsing.
//! - [`multiboot`]: Multiboot1 information structures as QEMU hands them over.
//! - [`paging`]: page-size arithmetic and x86-64 page table entry bits.
//! - [`time`]: CMOS RTC decoding to UNIX seconds.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod acpi;
pub mod alloc;
pub mod elf;
pub mod limine;
pub mod memmap;
pub mod multiboot;
pub mod paging;
pub mod scan;
pub mod time;

/// Reads a little-endian `u16` at `off`, or `None` past the end of `bytes`.
pub fn read_u16(bytes: &[u8], off: usize) -> Option<u16> {
    let b = bytes.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// Reads a little-endian `u32` at `off`, or `None` past the end of `bytes`.
pub fn read_u32(bytes: &[u8], off: usize) -> Option<u32> {
    let b = bytes.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a little-endian `u64` at `off`, or `None` past the end of `bytes`.
pub fn read_u64(bytes: &[u8], off: usize) -> Option<u64> {
    let b = bytes.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_little_endian_and_bounded() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(read_u16(&b, 0), Some(0x0201));
        assert_eq!(read_u32(&b, 1), Some(0x0504_0302));
        assert_eq!(read_u64(&b, 1), Some(0x0908_0706_0504_0302));
        assert_eq!(read_u64(&b, 2), None);
        assert_eq!(read_u32(&b, usize::MAX), None);
    }
}
