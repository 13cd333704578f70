//! An in-guest check of the parts host tests cannot reach: the user-access routines on
//! real page tables, the kernel's #PF handler resolving faults inside them and taking
//! the fixup path, SMAP bracketing, and copy-on-write seen through the real MMU.
//!
//! The kernel calls [`selftest`] from its test suite with a fresh address space that it
//! has made current on this CPU (through its own context-switch bookkeeping), after
//! wiring the page-fault handler as described in the [module documentation](super).

use alloc::format;
use alloc::string::{String, ToString};

use weft_abi::futex::FutexAtomicOp;
use weft_abi::mman::*;

use super::uaccess::{self, Efault, nofault};
use super::{AddressSpace, FaultError};
use crate::layout::PAGE_SIZE;

const P: u64 = PAGE_SIZE;

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(format!($($arg)*));
        }
    };
}

/// Runs the checks in `asp`, which must be the address space loaded on this CPU, with
/// interrupts enabled. Leaves `asp` without mappings. `Err` describes the first failure.
pub fn selftest(asp: &AddressSpace) -> Result<(), String> {
    let rw = PROT_READ | PROT_WRITE;
    let anon = MAP_PRIVATE | MAP_ANONYMOUS;
    let base = asp
        .mmap(0, 4 * P, rw, anon)
        .map_err(|e| format!("mmap: {e:?}"))?;

    // Demand-zero through a kernel-mode fault inside copy_to_user.
    let msg = b"hello from the kernel\0";
    uaccess::copy_to_user(base + P - 5, msg)
        .map_err(|_| "copy_to_user across a page".to_string())?;
    let mut back = [0u8; 22];
    uaccess::copy_from_user(&mut back, base + P - 5).map_err(|_| "copy_from_user".to_string())?;
    ensure!(&back == msg, "read back {back:?}");
    let s =
        uaccess::read_user_cstr(base + P - 5, 64).map_err(|e| format!("read_user_cstr: {e:?}"))?;
    ensure!(s == msg[..21], "cstr {s:?}");
    ensure!(
        asp.stats().resident_pages == 2,
        "{} resident pages after touching two",
        asp.stats().resident_pages
    );
    let mut z = [1u8; 16];
    uaccess::copy_from_user(&mut z, base + 3 * P)
        .map_err(|_| "reading a fresh page".to_string())?;
    ensure!(z == [0; 16], "a fresh page is not zero: {z:?}");

    // Bad addresses: unmapped, kernel, wrapping, read-only, PROT_NONE.
    ensure!(
        uaccess::read_user_u64(base + 4 * P) == Err(Efault),
        "unmapped read did not fail"
    );
    ensure!(
        uaccess::copy_from_user(&mut z, crate::layout::KERNEL_IMAGE_BASE) == Err(Efault),
        "a kernel address was readable"
    );
    ensure!(
        uaccess::copy_to_user(u64::MAX - 3, &[0; 8]) == Err(Efault),
        "a wrapping range was accepted"
    );
    asp.mprotect(base + 2 * P, P, PROT_READ)
        .map_err(|e| format!("mprotect: {e:?}"))?;
    ensure!(
        uaccess::write_user_u32(base + 2 * P, 1) == Err(Efault),
        "wrote to a read-only page"
    );
    ensure!(
        uaccess::read_user_u32(base + 2 * P) == Ok(0),
        "reading a read-only page failed"
    );
    asp.mprotect(base + 2 * P, P, PROT_NONE)
        .map_err(|e| format!("mprotect: {e:?}"))?;
    ensure!(
        uaccess::read_user_u32(base + 2 * P) == Err(Efault),
        "read a PROT_NONE page"
    );
    // A copy that runs into a bad page fails as a whole.
    ensure!(
        uaccess::copy_to_user(base + 2 * P - 8, &[7; 16]) == Err(Efault),
        "copy into PROT_NONE succeeded"
    );

    // Word operations.
    let w = base + 16;
    uaccess::write_user_u32(w, 5).map_err(|_| "write_user_u32".to_string())?;
    ensure!(uaccess::cmpxchg_user_u32(w, 5, 6) == Ok(5), "cmpxchg");
    ensure!(
        uaccess::cmpxchg_user_u32(w, 5, 7) == Ok(6),
        "failing cmpxchg"
    );
    ensure!(
        uaccess::atomic_user_u32(w, FutexAtomicOp::Add, 4) == Ok(6),
        "atomic add"
    );
    ensure!(
        uaccess::atomic_user_u32(w, FutexAtomicOp::Or, 0x100) == Ok(10),
        "atomic or"
    );
    ensure!(uaccess::read_user_u32(w) == Ok(0x10a), "atomic result");

    // The no-fault flavour fails on a page that is not present yet; fault_in fixes it.
    let page = asp
        .mmap(0, P, rw, anon)
        .map_err(|e| format!("mmap: {e:?}"))?;
    ensure!(
        nofault::read_user_u32(page) == Err(Efault),
        "nofault read of a missing page succeeded"
    );
    asp.fault_in(page, true)
        .map_err(|e| format!("fault_in: {e:?}"))?;
    ensure!(
        nofault::cmpxchg_user_u32(page, 0, 3) == Ok(0),
        "nofault cmpxchg"
    );
    ensure!(
        asp.fault_in(base + 2 * P, false) == Err(FaultError::AccessDenied),
        "fault_in of PROT_NONE"
    );

    // Copy-on-write through the real MMU: the child (not loaded) keeps the old value.
    let child = asp.fork_cow().map_err(|e| format!("fork_cow: {e:?}"))?;
    uaccess::write_user_u32(w, 0xabcd).map_err(|_| "write after fork".to_string())?;
    let mut cw = [0u8; 4];
    child
        .read_bytes(w, &mut cw)
        .map_err(|e| format!("child read: {e:?}"))?;
    ensure!(
        u32::from_le_bytes(cw) == 0x10a,
        "the child sees {:#x}",
        u32::from_le_bytes(cw)
    );
    child
        .write_bytes(w, &[1, 0, 0, 0])
        .map_err(|e| format!("child write: {e:?}"))?;
    ensure!(
        uaccess::read_user_u32(w) == Ok(0xabcd),
        "the parent saw the child's write"
    );
    drop(child);

    // Shared memory and DONTNEED.
    let sh = asp
        .mmap(0, P, rw, MAP_SHARED | MAP_ANONYMOUS)
        .map_err(|e| format!("mmap shared: {e:?}"))?;
    uaccess::write_user_u64(sh, 77).map_err(|_| "shared write".to_string())?;
    asp.madvise(sh, P, MADV_DONTNEED)
        .map_err(|e| format!("madvise: {e:?}"))?;
    ensure!(
        uaccess::read_user_u64(sh) == Ok(77),
        "shared data lost by DONTNEED"
    );
    asp.madvise(base, P, MADV_DONTNEED)
        .map_err(|e| format!("madvise: {e:?}"))?;
    ensure!(
        uaccess::read_user_u32(w) == Ok(0),
        "DONTNEED kept private data"
    );

    // Unmapped again: EFAULT, and nothing left.
    for (a, l) in [(base, 4 * P), (page, P), (sh, P)] {
        asp.munmap(a, l).map_err(|e| format!("munmap: {e:?}"))?;
    }
    ensure!(
        uaccess::read_user_u32(w) == Err(Efault),
        "read after munmap"
    );
    let st = asp.stats();
    ensure!(
        st.vmas == 0 && st.resident_pages == 0 && st.page_tables == 1,
        "left over: {st:?}"
    );
    Ok(())
}
