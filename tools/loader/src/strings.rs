//! Append-only pool for the NUL-terminated strings the kernel receives (module paths and
//! command lines). It lives in loader .bss, i.e. bootloader-reclaimable memory, so the
//! strings survive until the kernel reclaims that memory, unlike QEMU's copies in low
//! memory that the memory map hands out as usable.

use crate::phys::Global;

const POOL_SIZE: usize = 16 * 1024;

struct Pool {
    buf: [u8; POOL_SIZE],
    used: usize,
}

static POOL: Global<Pool> = Global::new(Pool {
    buf: [0; POOL_SIZE],
    used: 0,
});

/// Copies `s` plus a terminating NUL into the pool; the returned slice excludes the NUL.
pub fn intern(s: &[u8]) -> &'static [u8] {
    // SAFETY: only the BSP calls this, before hand-off; handed-out ranges never overlap
    // the unused tail, so the mutable borrow does not alias earlier results.
    let pool = unsafe { &mut *POOL.as_ptr() };
    let start = pool.used;
    let end = start + s.len();
    if end >= POOL_SIZE {
        crate::fatal!("string pool exhausted (module command lines too long)");
    }
    pool.buf[start..end].copy_from_slice(s);
    pool.buf[end] = 0;
    pool.used = end + 1;
    // SAFETY: the range was just written and is never written again.
    unsafe { core::slice::from_raw_parts(pool.buf.as_ptr().add(start), s.len()) }
}

/// HHDM pointer to an interned string (its NUL follows the slice).
pub fn hhdm_ptr(s: &'static [u8]) -> u64 {
    crate::phys::hhdm(s.as_ptr() as u64)
}
