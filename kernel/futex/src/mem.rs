//! User memory access, implemented by the kernel.

use weft_abi::futex::FutexAtomicOp;

/// A user memory access failed (unmapped, wrong permissions, or simply "would need
/// to fault" in the no-fault mode used under bucket locks).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Fault;

/// How the futex code reads and modifies user memory.
///
/// Addresses are user virtual addresses of the *current* address space; the kernel
/// checks the range (above the user limit is a [`Fault`]).
///
/// # Two access modes
/// The word accessors ([`load_u32`](UserMem::load_u32),
/// [`cmpxchg_u32`](UserMem::cmpxchg_u32), [`atomic_op_u32`](UserMem::atomic_op_u32))
/// are called **with one or two bucket spin locks held**. They must not sleep, take a
/// sleeping lock or wait for I/O. The intended implementation is the kernel's
/// fault-recovering access with page-fault *handling* disabled: if the page is not
/// present or not writable yet, the access returns [`Fault`] at once instead of
/// servicing the fault. The table then drops its locks, calls
/// [`fault_in`](UserMem::fault_in) — which runs with no futex lock held and may do
/// everything a page fault does (demand-zero, copy-on-write, take the address-space
/// lock, sleep) — and retries. `fault_in` returning `Err` makes the operation fail
/// with `EFAULT`.
///
/// A kernel whose page-fault handler is safe to run under a spin lock may instead
/// resolve faults inside the accessors and keep the default `fault_in`, which
/// reports `Err` (so a `Fault` is final).
///
/// The robust-list walker calls all methods with no locks held.
pub trait UserMem {
    /// Atomically reads the aligned 32-bit word at `addr`.
    fn load_u32(&self, addr: u64) -> Result<u32, Fault>;

    /// Reads the 64-bit value at `addr` (8-byte aligned; robust-list pointers). Only
    /// called with no locks held.
    fn load_u64(&self, addr: u64) -> Result<u64, Fault>;

    /// Atomically compares the word at `addr` with `expected` and, if equal, stores
    /// `new`. Returns the value found (equal to `expected` on success).
    fn cmpxchg_u32(&self, addr: u64, expected: u32, new: u32) -> Result<u32, Fault>;

    /// Atomically applies `op` with (already shifted) `oparg` to the word at `addr`,
    /// returning the old value. The default is a compare-and-swap loop over
    /// [`load_u32`](UserMem::load_u32) and [`cmpxchg_u32`](UserMem::cmpxchg_u32);
    /// a kernel may override it with single instructions (`lock xadd`, ...).
    fn atomic_op_u32(&self, addr: u64, op: FutexAtomicOp, oparg: u32) -> Result<u32, Fault> {
        let mut old = self.load_u32(addr)?;
        loop {
            let found = self.cmpxchg_u32(addr, old, op.apply(old, oparg))?;
            if found == old {
                return Ok(old);
            }
            old = found;
        }
    }

    /// Makes the page holding `addr` present (and writable if `write`), with no futex
    /// lock held; may sleep. `Err` means the address is really bad (`EFAULT`). The
    /// default says it cannot help.
    fn fault_in(&self, addr: u64, write: bool) -> Result<(), Fault> {
        let _ = (addr, write);
        Err(Fault)
    }
}

impl<M: UserMem + ?Sized> UserMem for &M {
    fn load_u32(&self, addr: u64) -> Result<u32, Fault> {
        (**self).load_u32(addr)
    }
    fn load_u64(&self, addr: u64) -> Result<u64, Fault> {
        (**self).load_u64(addr)
    }
    fn cmpxchg_u32(&self, addr: u64, expected: u32, new: u32) -> Result<u32, Fault> {
        (**self).cmpxchg_u32(addr, expected, new)
    }
    fn atomic_op_u32(&self, addr: u64, op: FutexAtomicOp, oparg: u32) -> Result<u32, Fault> {
        (**self).atomic_op_u32(addr, op, oparg)
    }
    fn fault_in(&self, addr: u64, write: bool) -> Result<(), Fault> {
        (**self).fault_in(addr, write)
    }
}
