//! Kernel access to user memory with fault recovery.
//!
//! Every access to user memory from the kernel goes through a small assembly routine
//! below. Each instruction in them that may fault is listed in an *exception table*
//! (section `.rodata.weft_uaccess_extable`: for each entry the faulting instruction, the
//! fixup address, both as 32-bit offsets relative to the entry field, and a flag word).
//! When such an instruction faults, the kernel's #PF (or #GP) handler asks
//! [`uaccess_fixup`] and:
//! 1. if the entry allows resolving ([`UaccessFixup::may_resolve`]) and the address is a
//!    user address, calls [`AddressSpace::handle_fault`](super::AddressSpace::handle_fault)
//!    of the current address space; on success it returns to the faulting instruction,
//!    which now succeeds (a demand-zero page or a copy-on-write break);
//! 2. otherwise it sets the saved `rip` to [`UaccessFixup::resume`] and returns: the
//!    routine then returns an error to its Rust wrapper, which reports [`Efault`].
//!
//! The routines come in two flavours. The ordinary ones (`copy_from_user`,
//! `read_user_u32`, ...) may resolve faults, so they must be called with no mm lock and no
//! spin lock held that the fault path could need (they may spin on the address space's VMA
//! lock and allocate frames); call them with interrupts enabled where possible (with
//! interrupts disabled, the fault path only does what needs no waiting, else it fails,
//! see [`FaultError::WouldBlock`](super::FaultError::WouldBlock)). The [`nofault`] ones
//! never resolve a fault: a page that is not present or not writable yet is an immediate
//! `Efault`. They are for use under spin locks (the futex bucket locks): the caller drops
//! its locks, calls [`AddressSpace::fault_in`](super::AddressSpace::fault_in), and retries.
//!
//! Every wrapper first checks that the whole range lies in the user half
//! (`addr + len <= USER_LIMIT`, no wrap-around): a kernel address is an `Efault` without
//! any access. With SMAP on ([`weft_arch::cpu::smap_enabled`]) the call is bracketed by
//! `stac`/`clac`. The atomic word operations need a 4-byte-aligned address (a misaligned
//! one is an `Efault`; the futex code checks alignment first and reports `EINVAL`).

use alloc::vec::Vec;

use weft_abi::errno::Errno;
use weft_abi::futex::FutexAtomicOp;

use super::USER_LIMIT;
use crate::layout::PAGE_SIZE;
use crate::sync::hw;

/// A user memory access failed: a kernel address, an unmapped page, or a page without
/// the needed permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Efault;

impl From<Efault> for Errno {
    fn from(_: Efault) -> Errno {
        Errno::EFAULT
    }
}

// Exception-table flag: the fault may be resolved by the page-fault handler.
const UA_RESOLVE: u32 = 1;

core::arch::global_asm!(
    r#"
    .pushsection .rodata.weft_uaccess_extable, "a"
    .p2align 2
    .global weft_uaccess_extable_start
weft_uaccess_extable_start:
    .popsection

    .macro WEFT_UA_EXTABLE insn, fixup, flags
    .pushsection .rodata.weft_uaccess_extable, "a"
    .p2align 2
    .long \insn - .
    .long \fixup - .
    .long \flags
    .popsection
    .endm

    .macro WEFT_UA_ROUTINES sfx, flags
    .p2align 4
    .global weft_ua_copy_\sfx
weft_ua_copy_\sfx:
    mov rcx, rdx
    shr rcx, 3
1:  rep movsq
    mov rcx, rdx
    and rcx, 7
2:  rep movsb
    xor eax, eax
    ret
3:  shl rcx, 3
    and rdx, 7
    lea rax, [rcx + rdx]
    ret
4:  mov rax, rcx
    ret
    WEFT_UA_EXTABLE 1b, 3b, \flags
    WEFT_UA_EXTABLE 2b, 4b, \flags

    .p2align 4
    .global weft_ua_clear_\sfx
weft_ua_clear_\sfx:
    mov rcx, rsi
    shr rcx, 3
    xor eax, eax
1:  rep stosq
    mov rcx, rsi
    and rcx, 7
2:  rep stosb
    ret
3:  shl rcx, 3
    and rsi, 7
    lea rax, [rcx + rsi]
    ret
4:  mov rax, rcx
    ret
    WEFT_UA_EXTABLE 1b, 3b, \flags
    WEFT_UA_EXTABLE 2b, 4b, \flags

    .p2align 4
    .global weft_ua_read_u32_\sfx
weft_ua_read_u32_\sfx:
    xor edx, edx
1:  mov eax, dword ptr [rdi]
    ret
2:  mov edx, 1
    ret
    WEFT_UA_EXTABLE 1b, 2b, \flags

    .p2align 4
    .global weft_ua_read_u64_\sfx
weft_ua_read_u64_\sfx:
    xor edx, edx
1:  mov rax, qword ptr [rdi]
    ret
2:  mov edx, 1
    ret
    WEFT_UA_EXTABLE 1b, 2b, \flags

    .p2align 4
    .global weft_ua_write_u32_\sfx
weft_ua_write_u32_\sfx:
    xor edx, edx
1:  mov dword ptr [rdi], esi
    ret
2:  mov edx, 1
    ret
    WEFT_UA_EXTABLE 1b, 2b, \flags

    .p2align 4
    .global weft_ua_write_u64_\sfx
weft_ua_write_u64_\sfx:
    xor edx, edx
1:  mov qword ptr [rdi], rsi
    ret
2:  mov edx, 1
    ret
    WEFT_UA_EXTABLE 1b, 2b, \flags

    .p2align 4
    .global weft_ua_cmpxchg_u32_\sfx
weft_ua_cmpxchg_u32_\sfx:
    mov eax, esi
    mov ecx, edx
    xor edx, edx
1:  lock cmpxchg dword ptr [rdi], ecx
    ret
2:  mov edx, 1
    ret
    WEFT_UA_EXTABLE 1b, 2b, \flags

    .p2align 4
    .global weft_ua_xchg_u32_\sfx
weft_ua_xchg_u32_\sfx:
    mov eax, esi
    xor edx, edx
1:  xchg dword ptr [rdi], eax
    ret
2:  mov edx, 1
    ret
    WEFT_UA_EXTABLE 1b, 2b, \flags

    .p2align 4
    .global weft_ua_xadd_u32_\sfx
weft_ua_xadd_u32_\sfx:
    mov eax, esi
    xor edx, edx
1:  lock xadd dword ptr [rdi], eax
    ret
2:  mov edx, 1
    ret
    WEFT_UA_EXTABLE 1b, 2b, \flags
    .endm

    .pushsection .text.weft_uaccess, "ax"
    WEFT_UA_ROUTINES r, 1
    WEFT_UA_ROUTINES nf, 0
    .popsection

    .pushsection .rodata.weft_uaccess_extable, "a"
    .global weft_uaccess_extable_end
weft_uaccess_extable_end:
    .popsection
"#
);

/// Two registers back from a routine: a value (`rax`) and an error flag (`rdx`).
#[repr(C)]
struct Ret {
    value: u64,
    err: u64,
}

unsafe extern "C" {
    static weft_uaccess_extable_start: [u32; 0];
    static weft_uaccess_extable_end: [u32; 0];
    fn weft_ua_copy_r(dst: u64, src: u64, len: u64) -> u64;
    fn weft_ua_clear_r(dst: u64, len: u64) -> u64;
    fn weft_ua_read_u32_r(addr: u64) -> Ret;
    fn weft_ua_read_u64_r(addr: u64) -> Ret;
    fn weft_ua_write_u32_r(addr: u64, v: u32) -> Ret;
    fn weft_ua_write_u64_r(addr: u64, v: u64) -> Ret;
    fn weft_ua_cmpxchg_u32_r(addr: u64, expected: u32, new: u32) -> Ret;
    fn weft_ua_xchg_u32_r(addr: u64, v: u32) -> Ret;
    fn weft_ua_xadd_u32_r(addr: u64, v: u32) -> Ret;
    fn weft_ua_copy_nf(dst: u64, src: u64, len: u64) -> u64;
    fn weft_ua_clear_nf(dst: u64, len: u64) -> u64;
    fn weft_ua_read_u32_nf(addr: u64) -> Ret;
    fn weft_ua_read_u64_nf(addr: u64) -> Ret;
    fn weft_ua_write_u32_nf(addr: u64, v: u32) -> Ret;
    fn weft_ua_write_u64_nf(addr: u64, v: u64) -> Ret;
    fn weft_ua_cmpxchg_u32_nf(addr: u64, expected: u32, new: u32) -> Ret;
    fn weft_ua_xchg_u32_nf(addr: u64, v: u32) -> Ret;
    fn weft_ua_xadd_u32_nf(addr: u64, v: u32) -> Ret;
}

/// What to do about a kernel-mode fault inside a user-access routine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UaccessFixup {
    /// Where to resume (set the trap frame's `rip`) if the fault is not resolved.
    pub resume: u64,
    /// True if the page-fault handler may first try to resolve the fault
    /// ([`AddressSpace::handle_fault`](super::AddressSpace::handle_fault)); false for the
    /// [`nofault`] routines.
    pub may_resolve: bool,
}

fn extable() -> &'static [[u32; 3]] {
    // SAFETY: both symbols are defined in the assembly above, in one section, around the
    // entries (three 4-byte words each, 4-byte aligned), which are read-only data.
    unsafe {
        let start = (&raw const weft_uaccess_extable_start).cast::<[u32; 3]>();
        let end = (&raw const weft_uaccess_extable_end).cast::<[u32; 3]>();
        core::slice::from_raw_parts(start, end.offset_from(start) as usize)
    }
}

fn rel(field: &u32) -> u64 {
    (field as *const u32 as u64).wrapping_add(*field as i32 as i64 as u64)
}

/// The fixup for a fault at kernel `rip`, if `rip` is a faulting instruction of a
/// user-access routine.
pub fn uaccess_fixup(rip: u64) -> Option<UaccessFixup> {
    extable()
        .iter()
        .find(|e| rel(&e[0]) == rip)
        .map(|e| UaccessFixup {
            resume: rel(&e[1]),
            may_resolve: e[2] & UA_RESOLVE != 0,
        })
}

/// The resume address for a fault at kernel `rip` inside a user-access routine (see
/// [`uaccess_fixup`], which also says whether the fault may be resolved first).
pub fn fixup_for(rip: u64) -> Option<u64> {
    uaccess_fixup(rip).map(|f| f.resume)
}

/// Number of exception-table entries (tests).
pub fn extable_len() -> usize {
    extable().len()
}

/// True if `[addr, addr + len)` lies in the user half (and does not wrap).
#[inline]
pub fn user_range_ok(addr: u64, len: u64) -> bool {
    addr.checked_add(len).is_some_and(|end| end <= USER_LIMIT)
}

#[inline]
fn bracket<R>(f: impl FnOnce() -> R) -> R {
    let smap = hw::smap_enabled();
    if smap {
        hw::stac();
    }
    let r = f();
    if smap {
        hw::clac();
    }
    r
}

macro_rules! accessors {
    ($copy:ident, $clear:ident, $r32:ident, $r64:ident, $w32:ident, $w64:ident,
     $cas:ident, $xchg:ident, $xadd:ident) => {
        /// Copies `dst.len()` bytes from user address `src` into `dst`.
        pub fn copy_from_user(dst: &mut [u8], src: u64) -> Result<(), Efault> {
            let len = dst.len() as u64;
            if !user_range_ok(src, len) {
                return Err(Efault);
            }
            if len == 0 {
                return Ok(());
            }
            // SAFETY: the routine writes exactly `len` bytes to `dst` (valid kernel memory,
            // exclusively borrowed) and reads the user range, which was checked to be in
            // the user half; a fault there is caught by the exception table.
            let left = bracket(|| unsafe { $copy(dst.as_mut_ptr() as u64, src, len) });
            if left == 0 { Ok(()) } else { Err(Efault) }
        }

        /// Copies `src` to user address `dst`.
        pub fn copy_to_user(dst: u64, src: &[u8]) -> Result<(), Efault> {
            let len = src.len() as u64;
            if !user_range_ok(dst, len) {
                return Err(Efault);
            }
            if len == 0 {
                return Ok(());
            }
            // SAFETY: the routine reads `len` bytes of `src` (valid kernel memory) and
            // writes the checked user range; a fault there is caught.
            let left = bracket(|| unsafe { $copy(dst, src.as_ptr() as u64, len) });
            if left == 0 { Ok(()) } else { Err(Efault) }
        }

        /// Zeroes `len` bytes at user address `dst`.
        pub fn clear_user(dst: u64, len: u64) -> Result<(), Efault> {
            if !user_range_ok(dst, len) {
                return Err(Efault);
            }
            if len == 0 {
                return Ok(());
            }
            // SAFETY: the routine writes only the checked user range; faults are caught.
            let left = bracket(|| unsafe { $clear(dst, len) });
            if left == 0 { Ok(()) } else { Err(Efault) }
        }

        /// Reads the `u32` at user address `addr`.
        pub fn read_user_u32(addr: u64) -> Result<u32, Efault> {
            if !user_range_ok(addr, 4) {
                return Err(Efault);
            }
            // SAFETY: reads the checked user range only; faults are caught.
            let r = bracket(|| unsafe { $r32(addr) });
            if r.err == 0 {
                Ok(r.value as u32)
            } else {
                Err(Efault)
            }
        }

        /// Reads the `u64` at user address `addr`.
        pub fn read_user_u64(addr: u64) -> Result<u64, Efault> {
            if !user_range_ok(addr, 8) {
                return Err(Efault);
            }
            // SAFETY: reads the checked user range only; faults are caught.
            let r = bracket(|| unsafe { $r64(addr) });
            if r.err == 0 { Ok(r.value) } else { Err(Efault) }
        }

        /// Writes `v` to the `u32` at user address `addr`.
        pub fn write_user_u32(addr: u64, v: u32) -> Result<(), Efault> {
            if !user_range_ok(addr, 4) {
                return Err(Efault);
            }
            // SAFETY: writes the checked user range only; faults are caught.
            let r = bracket(|| unsafe { $w32(addr, v) });
            if r.err == 0 { Ok(()) } else { Err(Efault) }
        }

        /// Writes `v` to the `u64` at user address `addr`.
        pub fn write_user_u64(addr: u64, v: u64) -> Result<(), Efault> {
            if !user_range_ok(addr, 8) {
                return Err(Efault);
            }
            // SAFETY: writes the checked user range only; faults are caught.
            let r = bracket(|| unsafe { $w64(addr, v) });
            if r.err == 0 { Ok(()) } else { Err(Efault) }
        }

        /// Atomically replaces the aligned `u32` at `addr` with `new` if it equals
        /// `expected`; returns the value found (== `expected` on success).
        pub fn cmpxchg_user_u32(addr: u64, expected: u32, new: u32) -> Result<u32, Efault> {
            if !user_range_ok(addr, 4) || !addr.is_multiple_of(4) {
                return Err(Efault);
            }
            // SAFETY: a locked access to the checked, aligned user word; faults are caught.
            let r = bracket(|| unsafe { $cas(addr, expected, new) });
            if r.err == 0 {
                Ok(r.value as u32)
            } else {
                Err(Efault)
            }
        }

        /// Atomically applies `op` with `arg` to the aligned `u32` at `addr`; returns the
        /// old value (`Set` and `Add` are single instructions, the others a
        /// compare-and-swap loop).
        pub fn atomic_user_u32(addr: u64, op: FutexAtomicOp, arg: u32) -> Result<u32, Efault> {
            if !user_range_ok(addr, 4) || !addr.is_multiple_of(4) {
                return Err(Efault);
            }
            let r = match op {
                // SAFETY: a locked access to the checked, aligned user word; faults are
                // caught.
                FutexAtomicOp::Set => bracket(|| unsafe { $xchg(addr, arg) }),
                // SAFETY: as above.
                FutexAtomicOp::Add => bracket(|| unsafe { $xadd(addr, arg) }),
                _ => {
                    let mut old = read_user_u32(addr)?;
                    loop {
                        let found = cmpxchg_user_u32(addr, old, op.apply(old, arg))?;
                        if found == old {
                            return Ok(old);
                        }
                        old = found;
                    }
                }
            };
            if r.err == 0 {
                Ok(r.value as u32)
            } else {
                Err(Efault)
            }
        }
    };
}

accessors!(
    weft_ua_copy_r,
    weft_ua_clear_r,
    weft_ua_read_u32_r,
    weft_ua_read_u64_r,
    weft_ua_write_u32_r,
    weft_ua_write_u64_r,
    weft_ua_cmpxchg_u32_r,
    weft_ua_xchg_u32_r,
    weft_ua_xadd_u32_r
);

/// The same accessors, but a fault is never resolved: a page that is not present (or not
/// writable, for a write) is an immediate [`Efault`]. For use under spin locks (futex
/// buckets); resolve with [`AddressSpace::fault_in`](super::AddressSpace::fault_in) after
/// dropping the locks, then retry.
pub mod nofault {
    use super::*;

    accessors!(
        weft_ua_copy_nf,
        weft_ua_clear_nf,
        weft_ua_read_u32_nf,
        weft_ua_read_u64_nf,
        weft_ua_write_u32_nf,
        weft_ua_write_u64_nf,
        weft_ua_cmpxchg_u32_nf,
        weft_ua_xchg_u32_nf,
        weft_ua_xadd_u32_nf
    );
}

/// Reads a NUL-terminated string of at most `max` bytes *including* the NUL from user
/// address `addr`; returns it without the NUL. `ENAMETOOLONG` if no NUL comes within
/// `max` bytes, `EFAULT` on a bad address, `ENOMEM` if the kernel heap cannot hold it.
/// Reads page by page, so a string that ends right before an unmapped page is fine.
pub fn read_user_cstr(addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
    let mut out: Vec<u8> = Vec::new();
    let mut buf = [0u8; 256];
    let mut at = addr;
    while out.len() < max {
        let in_page = PAGE_SIZE - at % PAGE_SIZE;
        let n = (in_page as usize).min(buf.len()).min(max - out.len());
        copy_from_user(&mut buf[..n], at)?;
        let chunk = &buf[..n];
        let (part, done) = match chunk.iter().position(|&b| b == 0) {
            Some(i) => (&chunk[..i], true),
            None => (chunk, false),
        };
        out.try_reserve(part.len()).map_err(|_| Errno::ENOMEM)?;
        out.extend_from_slice(part);
        if done {
            return Ok(out);
        }
        at = at.checked_add(n as u64).ok_or(Errno::EFAULT)?;
    }
    Err(Errno::ENAMETOOLONG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extable_points_into_the_routines() {
        // Nine routines in two flavours; copy and clear have two faulting
        // instructions each (the word loop and the byte tail), the others one.
        assert_eq!(extable_len(), 22);
        let mut resolving = 0;
        for e in extable() {
            let (insn, fix) = (rel(&e[0]), rel(&e[1]));
            assert!(fix > insn && fix - insn < 32, "{insn:#x} -> {fix:#x}");
            let f = uaccess_fixup(insn).unwrap();
            assert_eq!(f.resume, fix);
            resolving += f.may_resolve as usize;
            assert_eq!(fixup_for(insn), Some(fix));
            assert_eq!(fixup_for(insn + 1), None);
        }
        assert_eq!(resolving, 11);
        assert_eq!(fixup_for(weft_ua_copy_r as *const () as u64), None);
    }

    #[test]
    fn accessors_on_valid_memory() {
        // Host heap memory lies in the lower half, so the routines work on it directly.
        let src: Vec<u8> = (0..100u8).collect();
        let mut dst = [0u8; 100];
        copy_from_user(&mut dst, src.as_ptr() as u64).unwrap();
        assert_eq!(&dst[..], &src[..]);
        let mut out = vec![0xffu8; 64];
        copy_to_user(out.as_mut_ptr() as u64 + 8, &src[..16]).unwrap();
        assert_eq!(&out[8..24], &src[..16]);
        assert_eq!(out[7], 0xff);
        clear_user(out.as_mut_ptr() as u64, 8).unwrap();
        assert_eq!(&out[..9], &[0, 0, 0, 0, 0, 0, 0, 0, 0]);

        let mut words = vec![0u64; 4];
        let a = words.as_mut_ptr() as u64;
        write_user_u64(a, 0x1122_3344_5566_7788).unwrap();
        assert_eq!(read_user_u64(a).unwrap(), 0x1122_3344_5566_7788);
        assert_eq!(read_user_u32(a).unwrap(), 0x5566_7788);
        write_user_u32(a + 8, 7).unwrap();
        assert_eq!(cmpxchg_user_u32(a + 8, 7, 9).unwrap(), 7);
        assert_eq!(cmpxchg_user_u32(a + 8, 7, 11).unwrap(), 9);
        assert_eq!(nofault::read_user_u32(a + 8).unwrap(), 9);
        let ops = [
            (FutexAtomicOp::Set, 5, 9, 5),
            (FutexAtomicOp::Add, 3, 5, 8),
            (FutexAtomicOp::Or, 0x10, 8, 0x18),
            (FutexAtomicOp::AndN, 0x8, 0x18, 0x10),
            (FutexAtomicOp::Xor, 0x11, 0x10, 0x1),
        ];
        for (op, arg, old, new) in ops {
            assert_eq!(atomic_user_u32(a + 8, op, arg).unwrap(), old, "{op:?}");
            assert_eq!(read_user_u32(a + 8).unwrap(), new, "{op:?}");
        }
        assert_eq!(
            nofault::atomic_user_u32(a + 8, FutexAtomicOp::Add, 1).unwrap(),
            1
        );
        assert_eq!(words[1] as u32, 2);
        // Misaligned atomics and kernel/wrapping ranges are refused without an access.
        assert_eq!(cmpxchg_user_u32(a + 9, 0, 0), Err(Efault));
        assert_eq!(read_user_u32(USER_LIMIT - 3), Err(Efault));
        assert_eq!(read_user_u64(u64::MAX - 3), Err(Efault));
        assert_eq!(copy_to_user(0xffff_8000_0000_0000, &[1]), Err(Efault));
        assert_eq!(copy_from_user(&mut [], USER_LIMIT), Ok(()));
        assert_eq!(copy_from_user(&mut [0], USER_LIMIT), Err(Efault));
        assert!(user_range_ok(USER_LIMIT - 8, 8));
        assert!(!user_range_ok(USER_LIMIT - 8, 9));
    }

    #[test]
    fn cstr() {
        let s = b"hello\0world";
        let a = s.as_ptr() as u64;
        assert_eq!(read_user_cstr(a, 100).unwrap(), b"hello");
        assert_eq!(read_user_cstr(a, 6).unwrap(), b"hello");
        assert_eq!(read_user_cstr(a, 5), Err(Errno::ENAMETOOLONG));
        assert_eq!(read_user_cstr(a, 0), Err(Errno::ENAMETOOLONG));
        let long = vec![b'x'; 5000];
        let mut z = long.clone();
        z.push(0);
        assert_eq!(read_user_cstr(z.as_ptr() as u64, 6000).unwrap(), long);
        assert_eq!(
            read_user_cstr(z.as_ptr() as u64, 4096),
            Err(Errno::ENAMETOOLONG)
        );
        assert_eq!(read_user_cstr(USER_LIMIT, 10), Err(Errno::EFAULT));
    }
}
