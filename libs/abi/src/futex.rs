//! futex(2): operations, flags, the `FUTEX_WAKE_OP` encoding, and robust-list layouts.

use crate::errno::Errno;

/// Wait while `*uaddr == val` (relative timeout).
pub const FUTEX_WAIT: u32 = 0;
/// Wake up to `val` waiters.
pub const FUTEX_WAKE: u32 = 1;
/// Removed from Linux (2.6.26); always `ENOSYS`.
pub const FUTEX_FD: u32 = 2;
/// Wake `val` waiters, move up to `val2` others to `uaddr2`.
pub const FUTEX_REQUEUE: u32 = 3;
/// [`FUTEX_REQUEUE`] after checking `*uaddr == val3` (else `EAGAIN`).
pub const FUTEX_CMP_REQUEUE: u32 = 4;
/// Atomically modify `*uaddr2`, wake on `uaddr`, conditionally wake on `uaddr2`.
pub const FUTEX_WAKE_OP: u32 = 5;
/// Priority-inheritance lock.
pub const FUTEX_LOCK_PI: u32 = 6;
/// Priority-inheritance unlock.
pub const FUTEX_UNLOCK_PI: u32 = 7;
/// Priority-inheritance try-lock.
pub const FUTEX_TRYLOCK_PI: u32 = 8;
/// Wait with a wake-up bitset (`val3`) and an absolute timeout.
pub const FUTEX_WAIT_BITSET: u32 = 9;
/// Wake waiters whose bitset intersects `val3`.
pub const FUTEX_WAKE_BITSET: u32 = 10;
/// Wait on a non-PI futex, to be requeued to a PI futex.
pub const FUTEX_WAIT_REQUEUE_PI: u32 = 11;
/// Requeue from a non-PI to a PI futex.
pub const FUTEX_CMP_REQUEUE_PI: u32 = 12;
/// [`FUTEX_LOCK_PI`] with a selectable clock.
pub const FUTEX_LOCK_PI2: u32 = 13;

/// Op flag: the futex is private to the address space (no shared-mapping lookup).
pub const FUTEX_PRIVATE_FLAG: u32 = 128;
/// Op flag: the absolute timeout is on `CLOCK_REALTIME` (else `CLOCK_MONOTONIC`).
pub const FUTEX_CLOCK_REALTIME: u32 = 256;
/// Mask that extracts the command from the op word.
pub const FUTEX_CMD_MASK: u32 = !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);

/// [`FUTEX_WAIT`] | [`FUTEX_PRIVATE_FLAG`].
pub const FUTEX_WAIT_PRIVATE: u32 = FUTEX_WAIT | FUTEX_PRIVATE_FLAG;
/// [`FUTEX_WAKE`] | [`FUTEX_PRIVATE_FLAG`].
pub const FUTEX_WAKE_PRIVATE: u32 = FUTEX_WAKE | FUTEX_PRIVATE_FLAG;
/// [`FUTEX_REQUEUE`] | [`FUTEX_PRIVATE_FLAG`].
pub const FUTEX_REQUEUE_PRIVATE: u32 = FUTEX_REQUEUE | FUTEX_PRIVATE_FLAG;
/// [`FUTEX_CMP_REQUEUE`] | [`FUTEX_PRIVATE_FLAG`].
pub const FUTEX_CMP_REQUEUE_PRIVATE: u32 = FUTEX_CMP_REQUEUE | FUTEX_PRIVATE_FLAG;
/// [`FUTEX_WAKE_OP`] | [`FUTEX_PRIVATE_FLAG`].
pub const FUTEX_WAKE_OP_PRIVATE: u32 = FUTEX_WAKE_OP | FUTEX_PRIVATE_FLAG;
/// [`FUTEX_WAIT_BITSET`] | [`FUTEX_PRIVATE_FLAG`].
pub const FUTEX_WAIT_BITSET_PRIVATE: u32 = FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG;
/// [`FUTEX_WAKE_BITSET`] | [`FUTEX_PRIVATE_FLAG`].
pub const FUTEX_WAKE_BITSET_PRIVATE: u32 = FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG;

/// Bitset matching every waiter (what plain `WAIT`/`WAKE` use).
pub const FUTEX_BITSET_MATCH_ANY: u32 = 0xffff_ffff;

/// Futex word bit: there are (or may be) waiters in the kernel.
pub const FUTEX_WAITERS: u32 = 0x8000_0000;
/// Futex word bit: the owner died holding the lock (robust futexes).
pub const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
/// Futex word bits holding the owner's tid.
pub const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// Most robust-list entries the kernel walks at thread exit.
pub const ROBUST_LIST_LIMIT: usize = 2048;

/// Largest number of futexes in one `futex_waitv` call.
pub const FUTEX_WAITV_MAX: usize = 128;
/// futex2 flag: 32-bit futex word.
pub const FUTEX2_SIZE_U32: u32 = 0x02;
/// futex2 flag: private futex.
pub const FUTEX2_PRIVATE: u32 = FUTEX_PRIVATE_FLAG;

/// `FUTEX_WAKE_OP` operation: `*uaddr2 = oparg`.
pub const FUTEX_OP_SET: u32 = 0;
/// `FUTEX_WAKE_OP` operation: `*uaddr2 += oparg`.
pub const FUTEX_OP_ADD: u32 = 1;
/// `FUTEX_WAKE_OP` operation: `*uaddr2 |= oparg`.
pub const FUTEX_OP_OR: u32 = 2;
/// `FUTEX_WAKE_OP` operation: `*uaddr2 &= !oparg`.
pub const FUTEX_OP_ANDN: u32 = 3;
/// `FUTEX_WAKE_OP` operation: `*uaddr2 ^= oparg`.
pub const FUTEX_OP_XOR: u32 = 4;
/// `FUTEX_WAKE_OP` operation flag: use `1 << oparg` as the operand.
pub const FUTEX_OP_OPARG_SHIFT: u32 = 8;

/// `FUTEX_WAKE_OP` comparison: `old == cmparg`.
pub const FUTEX_OP_CMP_EQ: u32 = 0;
/// `FUTEX_WAKE_OP` comparison: `old != cmparg`.
pub const FUTEX_OP_CMP_NE: u32 = 1;
/// `FUTEX_WAKE_OP` comparison: `old < cmparg` (signed).
pub const FUTEX_OP_CMP_LT: u32 = 2;
/// `FUTEX_WAKE_OP` comparison: `old <= cmparg` (signed).
pub const FUTEX_OP_CMP_LE: u32 = 3;
/// `FUTEX_WAKE_OP` comparison: `old > cmparg` (signed).
pub const FUTEX_OP_CMP_GT: u32 = 4;
/// `FUTEX_WAKE_OP` comparison: `old >= cmparg` (signed).
pub const FUTEX_OP_CMP_GE: u32 = 5;

/// Builds a `FUTEX_WAKE_OP` `val3` word, like the C `FUTEX_OP()` macro:
/// `op` (with [`FUTEX_OP_OPARG_SHIFT`] or-ed in if wanted) in bits 28..32, `cmp` in
/// 24..28, `oparg` in 12..24 and `cmparg` in 0..12 (each truncated to its field).
pub const fn futex_op(op: u32, oparg: u32, cmp: u32, cmparg: u32) -> u32 {
    ((op & 0xf) << 28) | ((cmp & 0xf) << 24) | ((oparg & 0xfff) << 12) | (cmparg & 0xfff)
}

/// The read-modify-write a `FUTEX_WAKE_OP` applies to `*uaddr2`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FutexAtomicOp {
    /// `new = oparg`
    Set,
    /// `new = old + oparg` (wrapping)
    Add,
    /// `new = old | oparg`
    Or,
    /// `new = old & !oparg`
    AndN,
    /// `new = old ^ oparg`
    Xor,
}

impl FutexAtomicOp {
    /// The new word value for `old` and (already shifted) `oparg`.
    pub const fn apply(self, old: u32, oparg: u32) -> u32 {
        match self {
            FutexAtomicOp::Set => oparg,
            FutexAtomicOp::Add => old.wrapping_add(oparg),
            FutexAtomicOp::Or => old | oparg,
            FutexAtomicOp::AndN => old & !oparg,
            FutexAtomicOp::Xor => old ^ oparg,
        }
    }

    /// The `FUTEX_OP_*` code.
    pub const fn code(self) -> u32 {
        match self {
            FutexAtomicOp::Set => FUTEX_OP_SET,
            FutexAtomicOp::Add => FUTEX_OP_ADD,
            FutexAtomicOp::Or => FUTEX_OP_OR,
            FutexAtomicOp::AndN => FUTEX_OP_ANDN,
            FutexAtomicOp::Xor => FUTEX_OP_XOR,
        }
    }
}

/// The comparison a `FUTEX_WAKE_OP` makes between the old `*uaddr2` and `cmparg`.
/// Both sides are compared as signed 32-bit integers, as Linux does.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FutexCmp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl FutexCmp {
    /// Evaluates `old <cmp> cmparg` (signed).
    pub const fn eval(self, old: u32, cmparg: i32) -> bool {
        let old = old as i32;
        match self {
            FutexCmp::Eq => old == cmparg,
            FutexCmp::Ne => old != cmparg,
            FutexCmp::Lt => old < cmparg,
            FutexCmp::Le => old <= cmparg,
            FutexCmp::Gt => old > cmparg,
            FutexCmp::Ge => old >= cmparg,
        }
    }

    /// The `FUTEX_OP_CMP_*` code.
    pub const fn code(self) -> u32 {
        match self {
            FutexCmp::Eq => FUTEX_OP_CMP_EQ,
            FutexCmp::Ne => FUTEX_OP_CMP_NE,
            FutexCmp::Lt => FUTEX_OP_CMP_LT,
            FutexCmp::Le => FUTEX_OP_CMP_LE,
            FutexCmp::Gt => FUTEX_OP_CMP_GT,
            FutexCmp::Ge => FUTEX_OP_CMP_GE,
        }
    }
}

/// A decoded `FUTEX_WAKE_OP` `val3` word.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct WakeOp {
    /// Operation applied to `*uaddr2`.
    pub op: FutexAtomicOp,
    /// Operand, sign-extended from 12 bits, and already turned into `1 << (oparg &
    /// 31)` when the encoding had [`FUTEX_OP_OPARG_SHIFT`].
    pub oparg: u32,
    /// Comparison between the old value and `cmparg`.
    pub cmp: FutexCmp,
    /// Comparison operand, sign-extended from 12 bits.
    pub cmparg: i32,
}

/// Sign-extends the low 12 bits of `v`.
const fn sext12(v: u32) -> i32 {
    ((v << 20) as i32) >> 20
}

impl WakeOp {
    /// Decodes `val3`. Operation codes 5..=7 and comparison codes 6..=15 are `ENOSYS`
    /// (as on Linux). A shift operand outside 0..=31 is masked to 5 bits (Linux does
    /// the same, with a warning). Unlike Linux, a bad comparison is rejected before
    /// `*uaddr2` is modified.
    pub const fn decode(val3: u32) -> Result<WakeOp, Errno> {
        let op = match (val3 >> 28) & 7 {
            FUTEX_OP_SET => FutexAtomicOp::Set,
            FUTEX_OP_ADD => FutexAtomicOp::Add,
            FUTEX_OP_OR => FutexAtomicOp::Or,
            FUTEX_OP_ANDN => FutexAtomicOp::AndN,
            FUTEX_OP_XOR => FutexAtomicOp::Xor,
            _ => return Err(Errno::ENOSYS),
        };
        let cmp = match (val3 >> 24) & 0xf {
            FUTEX_OP_CMP_EQ => FutexCmp::Eq,
            FUTEX_OP_CMP_NE => FutexCmp::Ne,
            FUTEX_OP_CMP_LT => FutexCmp::Lt,
            FUTEX_OP_CMP_LE => FutexCmp::Le,
            FUTEX_OP_CMP_GT => FutexCmp::Gt,
            FUTEX_OP_CMP_GE => FutexCmp::Ge,
            _ => return Err(Errno::ENOSYS),
        };
        let mut oparg = sext12(val3 >> 12) as u32;
        if val3 & (FUTEX_OP_OPARG_SHIFT << 28) != 0 {
            oparg = 1u32 << (oparg & 31);
        }
        Ok(WakeOp {
            op,
            oparg,
            cmp,
            cmparg: sext12(val3),
        })
    }

    /// Applies the operation to `old`, returning the new value.
    pub const fn apply(&self, old: u32) -> u32 {
        self.op.apply(old, self.oparg)
    }

    /// Evaluates the comparison on the old value.
    pub const fn test(&self, old: u32) -> bool {
        self.cmp.eval(old, self.cmparg)
    }
}

/// `struct robust_list`: one link of a thread's robust-futex list (user memory).
/// The low bit of `next` flags a PI futex.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RobustList {
    /// Address of the next entry's `RobustList` (or of the head's `list`).
    pub next: u64,
}

/// `struct robust_list_head`, registered with `set_robust_list` (24 bytes; the
/// `len` argument must be exactly this size).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RobustListHead {
    /// The circular list; an empty list points at itself.
    pub list: RobustList,
    /// Offset from an entry's address to its 32-bit futex word (signed).
    pub futex_offset: i64,
    /// Entry being locked or unlocked right now (0 if none); low bit flags PI.
    pub list_op_pending: u64,
}

/// Byte offset of `futex_offset` in [`RobustListHead`].
pub const ROBUST_HEAD_FUTEX_OFFSET: u64 = 8;
/// Byte offset of `list_op_pending` in [`RobustListHead`].
pub const ROBUST_HEAD_LIST_OP_PENDING: u64 = 16;

const _: () = assert!(core::mem::size_of::<RobustList>() == 8);
const _: () = assert!(core::mem::size_of::<RobustListHead>() == 24);
const _: () = assert!(
    core::mem::offset_of!(RobustListHead, futex_offset) == ROBUST_HEAD_FUTEX_OFFSET as usize
);
const _: () = assert!(
    core::mem::offset_of!(RobustListHead, list_op_pending) == ROBUST_HEAD_LIST_OP_PENDING as usize
);

/// `struct futex_waitv` (one element of a `futex_waitv` array).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct FutexWaitv {
    /// Expected value.
    pub val: u64,
    /// Futex address.
    pub uaddr: u64,
    /// `FUTEX2_*` flags.
    pub flags: u32,
    /// Must be 0.
    pub reserved: u32,
}

const _: () = assert!(core::mem::size_of::<FutexWaitv>() == 24);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_words() {
        assert_eq!(FUTEX_WAIT_PRIVATE, 128);
        assert_eq!(FUTEX_WAKE_PRIVATE, 129);
        assert_eq!(
            FUTEX_CMD_MASK & FUTEX_WAIT_BITSET_PRIVATE,
            FUTEX_WAIT_BITSET
        );
        assert_eq!(
            FUTEX_CMD_MASK & (FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME),
            9
        );
    }

    #[test]
    fn encode_matches_c_macro() {
        // glibc's classic condvar wake: FUTEX_OP(FUTEX_OP_CLEAR_WAKE_IF_GT_ONE)
        // = FUTEX_OP(SET, 0, CMP_GT, 1).
        assert_eq!(futex_op(FUTEX_OP_SET, 0, FUTEX_OP_CMP_GT, 1), 0x0400_0001);
        assert_eq!(
            futex_op(
                FUTEX_OP_ADD | FUTEX_OP_OPARG_SHIFT,
                3,
                FUTEX_OP_CMP_GE,
                0xfff
            ),
            0x9500_3fff
        );
    }

    #[test]
    fn decode_basic() {
        let w = WakeOp::decode(futex_op(FUTEX_OP_SET, 0, FUTEX_OP_CMP_GT, 1)).unwrap();
        assert_eq!(w.op, FutexAtomicOp::Set);
        assert_eq!(w.oparg, 0);
        assert_eq!(w.cmp, FutexCmp::Gt);
        assert_eq!(w.cmparg, 1);
        assert_eq!(w.apply(7), 0);
        assert!(w.test(2));
        assert!(!w.test(1));
    }

    #[test]
    fn decode_sign_extension() {
        // oparg 0xfff = -1, cmparg 0x800 = -2048.
        let w = WakeOp::decode(futex_op(FUTEX_OP_ADD, 0xfff, FUTEX_OP_CMP_LT, 0x800)).unwrap();
        assert_eq!(w.oparg, u32::MAX);
        assert_eq!(w.apply(5), 4);
        assert_eq!(w.cmparg, -2048);
        assert!(w.test((-3000i32) as u32));
        assert!(!w.test(0));
        // Largest positive 12-bit value.
        let w = WakeOp::decode(futex_op(FUTEX_OP_SET, 0x7ff, FUTEX_OP_CMP_EQ, 0x7ff)).unwrap();
        assert_eq!(w.oparg, 2047);
        assert_eq!(w.cmparg, 2047);
    }

    #[test]
    fn decode_shift() {
        let w = WakeOp::decode(futex_op(FUTEX_OP_OR | FUTEX_OP_OPARG_SHIFT, 4, 0, 0)).unwrap();
        assert_eq!(w.op, FutexAtomicOp::Or);
        assert_eq!(w.oparg, 16);
        let w = WakeOp::decode(futex_op(FUTEX_OP_SET | FUTEX_OP_OPARG_SHIFT, 31, 0, 0)).unwrap();
        assert_eq!(w.oparg, 0x8000_0000);
        // Out-of-range shifts are masked to 5 bits: 32 -> 0, -1 -> 31.
        let w = WakeOp::decode(futex_op(FUTEX_OP_SET | FUTEX_OP_OPARG_SHIFT, 32, 0, 0)).unwrap();
        assert_eq!(w.oparg, 1);
        let w = WakeOp::decode(futex_op(FUTEX_OP_SET | FUTEX_OP_OPARG_SHIFT, 0xfff, 0, 0)).unwrap();
        assert_eq!(w.oparg, 0x8000_0000);
    }

    #[test]
    fn decode_all_ops_and_cmps() {
        let ops = [
            (FUTEX_OP_SET, 0b0110),
            (FUTEX_OP_ADD, 0b1100 + 0b0110),
            (FUTEX_OP_OR, 0b1110),
            (FUTEX_OP_ANDN, 0b1000),
            (FUTEX_OP_XOR, 0b1010),
        ];
        for (code, expect) in ops {
            let w = WakeOp::decode(futex_op(code, 0b0110, FUTEX_OP_CMP_EQ, 0)).unwrap();
            assert_eq!(w.op.code(), code);
            assert_eq!(w.apply(0b1100), expect, "op {code}");
        }
        let cmps: [(u32, [bool; 3]); 6] = [
            (FUTEX_OP_CMP_EQ, [false, true, false]),
            (FUTEX_OP_CMP_NE, [true, false, true]),
            (FUTEX_OP_CMP_LT, [true, false, false]),
            (FUTEX_OP_CMP_LE, [true, true, false]),
            (FUTEX_OP_CMP_GT, [false, false, true]),
            (FUTEX_OP_CMP_GE, [false, true, true]),
        ];
        for (code, expect) in cmps {
            let w = WakeOp::decode(futex_op(FUTEX_OP_SET, 0, code, 0)).unwrap();
            assert_eq!(w.cmp.code(), code);
            // old = -1 (signed!), 0, 1 against cmparg 0.
            let got = [w.test(u32::MAX), w.test(0), w.test(1)];
            assert_eq!(got, expect, "cmp {code}");
        }
    }

    #[test]
    fn decode_rejects_unknown() {
        for op in 5..8 {
            assert_eq!(WakeOp::decode(futex_op(op, 0, 0, 0)), Err(Errno::ENOSYS));
        }
        for cmp in 6..16 {
            assert_eq!(WakeOp::decode(futex_op(0, 0, cmp, 0)), Err(Errno::ENOSYS));
        }
    }

    #[test]
    fn roundtrip() {
        for op in 0..5 {
            for cmp in 0..6 {
                for (oparg, cmparg) in [(0u32, 0u32), (1, 0xfff), (0x7ff, 0x800), (0x800, 5)] {
                    let w = WakeOp::decode(futex_op(op, oparg, cmp, cmparg)).unwrap();
                    let again = futex_op(w.op.code(), w.oparg, w.cmp.code(), w.cmparg as u32);
                    assert_eq!(WakeOp::decode(again), Ok(w));
                }
            }
        }
    }
}
