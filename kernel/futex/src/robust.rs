//! Robust futex lists: what the kernel does with a dying thread's held locks.
//!
//! A thread registers a [`RobustListHead`] with
//! `set_robust_list` (check the length with [`check_robust_list_len`]). The list is
//! circular and lives in user memory: `head.list.next` points at the first entry's
//! link, each link points at the next, and the last points back at the head. The
//! futex word of an entry is at `entry + head.futex_offset`. The low bit of a link
//! marks a PI futex. `list_op_pending` names the lock the thread was acquiring or
//! releasing when it died (it may or may not be on the list yet).
//!
//! At thread exit the kernel calls [`exit_robust_list`] with no locks held. For
//! every entry whose futex word's owner (the [`FUTEX_TID_MASK`] bits) is the dying
//! thread, the word becomes `FUTEX_OWNER_DIED | (old & FUTEX_WAITERS)` (so the next
//! locker sees `EOWNERDEAD`), and if waiters were flagged, the callback is asked to
//! wake one waiter on that address. The callback resolves the address to a key
//! (shared or private, as for any futex op: robust mutexes are often
//! process-shared) and calls [`crate::FutexTable::wake`] with `nr = 1`.

use weft_abi::Errno;
use weft_abi::futex::{
    FUTEX_OWNER_DIED, FUTEX_TID_MASK, FUTEX_WAITERS, ROBUST_HEAD_FUTEX_OFFSET,
    ROBUST_HEAD_LIST_OP_PENDING, ROBUST_LIST_LIMIT, RobustListHead,
};

use crate::mem::{Fault, UserMem};

/// Compare-and-swap attempts on one futex word before the walker gives up on it
/// (user space racing the dying thread's cleanup forever).
const MAX_CAS_RETRIES: u32 = 64;

/// `set_robust_list(head, len)`: `EINVAL` unless `len` is the size of the head (24).
pub fn check_robust_list_len(len: usize) -> Result<(), Errno> {
    if len == core::mem::size_of::<RobustListHead>() {
        Ok(())
    } else {
        Err(Errno::EINVAL)
    }
}

/// Why a robust-list walk stopped.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RobustEnd {
    /// Back at the head (or no list registered).
    Complete,
    /// A link or the head could not be read (or was null).
    Fault,
    /// [`ROBUST_LIST_LIMIT`] entries were visited.
    Limit,
    /// The links form a cycle that does not pass through the head.
    Cycle,
}

/// Summary of [`exit_robust_list`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RobustWalk {
    /// List entries visited (not counting `list_op_pending`).
    pub entries: usize,
    /// Wake requests made through the callback.
    pub wakes: usize,
    /// How the walk ended.
    pub end: RobustEnd,
}

/// Reads a link: the entry address and its PI bit.
fn fetch_link<M: UserMem + ?Sized>(mem: &M, addr: u64) -> Result<(u64, bool), Fault> {
    let v = mem.load_u64(addr).or_else(|_| {
        mem.fault_in(addr, false)?;
        mem.load_u64(addr)
    })?;
    Ok((v & !1, v & 1 != 0))
}

/// Releases one robust futex of dying thread `tid` at `uaddr` (Linux's
/// `handle_futex_death`). `pi` is the entry's PI bit; `pending` says it came from
/// `list_op_pending`. Calls `wake(uaddr)` when one waiter must be woken.
///
/// - The word's owner bits are not `tid`: nothing to do (another thread owns it).
///   Except for a non-PI *pending* entry whose owner bits are 0: the thread died
///   between releasing the lock in user space and waking a waiter (or a woken waiter
///   died before taking it), so one waiter is woken without touching the word.
/// - Otherwise the word becomes `FUTEX_OWNER_DIED | (old & FUTEX_WAITERS)` by
///   compare-and-swap (retried if user space changes it meanwhile), and a non-PI
///   futex with `FUTEX_WAITERS` gets one waiter woken. (PI futexes are not
///   implemented by Weft, so they have no kernel waiters to hand over to.)
///
/// `Err` means the word could not be accessed (or is misaligned), or kept changing;
/// the walker ignores it and goes on, as Linux does.
pub fn handle_futex_death<M: UserMem + ?Sized>(
    mem: &M,
    uaddr: u64,
    tid: u32,
    pi: bool,
    pending: bool,
    wake: &mut impl FnMut(u64),
) -> Result<(), Fault> {
    if !uaddr.is_multiple_of(4) {
        return Err(Fault);
    }
    let mut uval = match mem.load_u32(uaddr) {
        Ok(v) => v,
        Err(Fault) => {
            mem.fault_in(uaddr, false)?;
            mem.load_u32(uaddr)?
        }
    };
    for _ in 0..MAX_CAS_RETRIES {
        let owner = uval & FUTEX_TID_MASK;
        if pending && !pi && owner == 0 {
            wake(uaddr);
            return Ok(());
        }
        if owner != tid & FUTEX_TID_MASK {
            return Ok(());
        }
        let new = (uval & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
        match mem.cmpxchg_u32(uaddr, uval, new) {
            Ok(found) if found == uval => {
                if !pi && uval & FUTEX_WAITERS != 0 {
                    wake(uaddr);
                }
                return Ok(());
            }
            Ok(found) => uval = found,
            Err(Fault) => {
                mem.fault_in(uaddr, true)?;
                uval = mem.load_u32(uaddr)?;
            }
        }
    }
    Err(Fault)
}

/// Walks the robust list at `head` of dying thread `tid` (Linux's
/// `exit_robust_list`), releasing every futex it still owns through
/// [`handle_futex_death`], then the `list_op_pending` entry. `wake(uaddr)` is called
/// for each futex that needs one waiter woken. `head == 0` (no list) does nothing.
///
/// Bounded: at most [`ROBUST_LIST_LIMIT`] entries, and a cycle that does not return
/// to the head is detected (Brent's algorithm) and ends the walk early. Each link is
/// read before its entry is released, because a woken waiter may unlink and free
/// the entry at once.
pub fn exit_robust_list<M: UserMem + ?Sized>(
    mem: &M,
    head: u64,
    tid: u32,
    mut wake: impl FnMut(u64),
) -> RobustWalk {
    let mut wakes = 0usize;
    let mut counted = |a: u64| {
        wakes += 1;
        wake(a);
    };
    let mut walk = RobustWalk {
        entries: 0,
        wakes: 0,
        end: RobustEnd::Complete,
    };
    if head == 0 {
        return walk;
    }
    let header = (|| {
        let first = fetch_link(mem, head)?;
        let off = mem.load_u64(head + ROBUST_HEAD_FUTEX_OFFSET)? as i64;
        let pending = fetch_link(mem, head + ROBUST_HEAD_LIST_OP_PENDING)?;
        Ok::<_, Fault>((first, off, pending))
    })();
    let Ok(((mut entry, mut pi), off, (pending, pending_pi))) = header else {
        walk.end = RobustEnd::Fault;
        return walk;
    };

    // Brent's cycle detection: `mark` is a remembered entry, replaced every time the
    // number of steps since it was taken reaches the next power of two.
    let mut mark = entry;
    let mut power = 1usize;
    let mut steps = 0usize;
    walk.end = loop {
        if entry == head {
            break RobustEnd::Complete;
        }
        if entry == 0 {
            break RobustEnd::Fault;
        }
        let next = fetch_link(mem, entry);
        if entry != pending {
            let _ = handle_futex_death(
                mem,
                entry.wrapping_add_signed(off),
                tid,
                pi,
                false,
                &mut counted,
            );
        }
        walk.entries += 1;
        let Ok((n, npi)) = next else {
            break RobustEnd::Fault;
        };
        (entry, pi) = (n, npi);
        if walk.entries >= ROBUST_LIST_LIMIT {
            break RobustEnd::Limit;
        }
        if entry == mark && entry != head {
            break RobustEnd::Cycle;
        }
        steps += 1;
        if steps == power {
            mark = entry;
            power *= 2;
            steps = 0;
        }
    };
    if pending != 0 {
        let _ = handle_futex_death(
            mem,
            pending.wrapping_add_signed(off),
            tid,
            pending_pi,
            true,
            &mut counted,
        );
    }
    walk.wakes = wakes;
    walk
}
