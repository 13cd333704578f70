//! Access to physical memory.
//!
//! Until hand-off the loader runs with an identity map of the low 4 GiB (built by the
//! 32-bit entry code and kept as PML4[0] of the final tables), so a physical address
//! below 4 GiB is also a valid pointer. Every helper checks that bound.

use core::cell::UnsafeCell;

/// Highest physical address + 1 the loader may touch directly.
pub const IDENTITY_LIMIT: u64 = 1 << 32;

fn check(addr: u64, len: u64) {
    if addr.checked_add(len).is_none_or(|end| end > IDENTITY_LIMIT) {
        crate::fatal!("physical access {addr:#x}+{len:#x} is outside the identity map");
    }
}

/// Borrows physical memory as bytes.
///
/// # Safety
/// The range must be RAM or firmware memory that nothing writes while the slice lives.
pub unsafe fn bytes(addr: u64, len: u64) -> &'static [u8] {
    check(addr, len);
    // SAFETY: identity-mapped (checked above); the caller guarantees no concurrent writes.
    unsafe { core::slice::from_raw_parts(addr as *const u8, len as usize) }
}

/// Borrows physical memory mutably.
///
/// # Safety
/// The range must be memory the loader owns (allocated by it) and not otherwise borrowed.
pub unsafe fn bytes_mut(addr: u64, len: u64) -> &'static mut [u8] {
    check(addr, len);
    // SAFETY: identity-mapped (checked above); the caller guarantees exclusive ownership.
    unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, len as usize) }
}

/// Reads a `u64` with a volatile access.
///
/// # Safety
/// `addr` must be 8-byte aligned memory that is mapped (see module docs).
pub unsafe fn read_u64(addr: u64) -> u64 {
    check(addr, 8);
    // SAFETY: identity-mapped and aligned per the caller.
    unsafe { core::ptr::read_volatile(addr as *const u64) }
}

/// Writes a `u64` with a volatile access.
///
/// # Safety
/// `addr` must be 8-byte aligned memory the loader may modify.
pub unsafe fn write_u64(addr: u64, value: u64) {
    check(addr, 8);
    // SAFETY: identity-mapped and aligned per the caller.
    unsafe { core::ptr::write_volatile(addr as *mut u64, value) }
}

/// Reads a `u32` with a volatile access (MMIO or memory).
///
/// # Safety
/// `addr` must be 4-byte aligned and mapped.
pub unsafe fn read_u32(addr: u64) -> u32 {
    check(addr, 4);
    // SAFETY: identity-mapped and aligned per the caller.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

/// Writes a `u32` with a volatile access (MMIO or memory).
///
/// # Safety
/// `addr` must be 4-byte aligned and a register or memory the loader may write.
pub unsafe fn write_u32(addr: u64, value: u32) {
    check(addr, 4);
    // SAFETY: identity-mapped and aligned per the caller.
    unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
}

/// Reads a NUL-terminated string of at most `max` bytes (without the NUL).
///
/// # Safety
/// As for [`bytes`], for every byte up to the terminator.
pub unsafe fn cstr(addr: u64, max: usize) -> &'static [u8] {
    let mut len = 0;
    // SAFETY: each byte read is covered by the caller's guarantee.
    while len < max && unsafe { bytes(addr + len as u64, 1)[0] } != 0 {
        len += 1;
    }
    // SAFETY: as above, for the bytes just scanned.
    unsafe { bytes(addr, len as u64) }
}

/// The loader's physical address of a loader object is its link address (the image is
/// linked and loaded at 0x100000), so this is also its physical address.
pub fn addr_of<T: ?Sized>(x: &T) -> u64 {
    x as *const T as *const u8 as u64
}

/// HHDM alias of a loader object or physical address.
pub const fn hhdm(phys: u64) -> u64 {
    phys + weft_bootproto::limine::HHDM_OFFSET
}

/// A static the BSP mutates during boot.
///
/// The loader is single-threaded until the APs start, and the APs only touch the
/// objects the kernel owns after hand-off (their `limine_mp_info`) and one atomic
/// counter, so unsynchronised access from the BSP is sound.
#[repr(transparent)]
pub struct Global<T>(UnsafeCell<T>);

// SAFETY: see the type documentation: only the BSP accesses the contents.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    /// Wraps a value.
    pub const fn new(v: T) -> Self {
        Global(UnsafeCell::new(v))
    }

    /// Exclusive access for the BSP.
    ///
    /// # Safety
    /// No other reference to the contents may be alive.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get(&self) -> &mut T {
        // SAFETY: the caller guarantees exclusivity.
        unsafe { &mut *self.0.get() }
    }

    /// Raw pointer to the contents.
    pub const fn as_ptr(&self) -> *mut T {
        self.0.get()
    }
}
