//! The futex system call: the hashed table of weft-futex driven with this kernel's
//! user-memory access, scheduler and timers.
//!
//! Table operations run with interrupts disabled: the bucket locks are plain spin
//! locks, and a holder must not be preempted (thousands of waiters on one word
//! would otherwise spin away their time slices behind it).
//!
//! Keys: private futexes (and every word in private memory) are (address-space id,
//! address); words in MAP_SHARED memory are (physical frame, offset), so they match
//! across processes.

use alloc::sync::Arc;

use spin::Once;
use weft_abi::Errno;
use weft_abi::time::Timespec;
use weft_arch::cpu::IrqGuard;
use weft_futex::syscall::{FutexCmd, Timeout, check_timespec, check_uaddr, decode};
use weft_futex::{Fault, FutexKey, FutexTable, UserMem, WaitOutcome};
use weft_mm::user::{AddressSpace, USER_LIMIT, nofault};

use crate::proc::Process;
use crate::task::{self, Thread};

static TABLE: Once<FutexTable<Arc<Thread>>> = Once::new();

fn table() -> &'static FutexTable<Arc<Thread>> {
    TABLE.call_once(|| FutexTable::new(weft_arch::percpu::cpu_count()))
}

/// User memory of the current address space, without resolving faults (the table
/// calls these under bucket locks; it retries through `fault_in` on `Fault`).
struct Mem<'a> {
    aspace: &'a AddressSpace,
}

impl UserMem for Mem<'_> {
    fn load_u32(&self, addr: u64) -> Result<u32, Fault> {
        nofault::read_user_u32(addr).map_err(|_| Fault)
    }
    fn load_u64(&self, addr: u64) -> Result<u64, Fault> {
        nofault::read_user_u64(addr).map_err(|_| Fault)
    }
    fn cmpxchg_u32(&self, addr: u64, expected: u32, new: u32) -> Result<u32, Fault> {
        nofault::cmpxchg_user_u32(addr, expected, new).map_err(|_| Fault)
    }
    fn atomic_op_u32(
        &self,
        addr: u64,
        op: weft_abi::futex::FutexAtomicOp,
        oparg: u32,
    ) -> Result<u32, Fault> {
        nofault::atomic_user_u32(addr, op, oparg).map_err(|_| Fault)
    }
    fn fault_in(&self, addr: u64, write: bool) -> Result<(), Fault> {
        // The table holds no lock here; let the fault path run with interrupts on
        // (it may have to wait for the address-space lock or a TLB shootdown).
        let was_on = weft_arch::cpu::interrupts_enabled();
        weft_arch::cpu::enable_interrupts();
        let r = self.aspace.fault_in(addr, write).map_err(|_| Fault);
        if !was_on {
            weft_arch::cpu::disable_interrupts();
        }
        r
    }
}

fn key_for(aspace: &AddressSpace, addr: u64, private: bool) -> Result<FutexKey, Errno> {
    if !private && aspace.is_shared_mapping(addr) == Some(true) {
        aspace.fault_in(addr, false).map_err(|_| Errno::EFAULT)?;
        let (frame, off) = aspace.translate_user(addr).ok_or(Errno::EFAULT)?;
        return Ok(FutexKey::Shared {
            frame,
            offset: off as u32,
        });
    }
    Ok(FutexKey::Private {
        mm: aspace.id(),
        addr,
    })
}

fn wake_thread(t: Arc<Thread>) {
    task::wake(&t);
}

fn read_timespec(uaddr: u64) -> Result<Timespec, Errno> {
    let mut b = [0u8; 16];
    weft_mm::user::copy_from_user(&mut b, uaddr).map_err(|_| Errno::EFAULT)?;
    let ts = Timespec {
        tv_sec: i64::from_le_bytes(b[0..8].try_into().unwrap()),
        tv_nsec: i64::from_le_bytes(b[8..16].try_into().unwrap()),
    };
    check_timespec(&ts)?;
    Ok(ts)
}

fn ts_ns(ts: &Timespec) -> u64 {
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// `futex(uaddr, op, val, timeout/val2, uaddr2, val3)`.
pub fn sys_futex(
    uaddr: u64,
    op: u32,
    val: u32,
    arg4: u64,
    uaddr2: u64,
    val3: u32,
) -> Result<u64, Errno> {
    use weft_abi::futex::{
        FUTEX_CMD_MASK, FUTEX_LOCK_PI, FUTEX_LOCK_PI2, FUTEX_TRYLOCK_PI, FUTEX_UNLOCK_PI,
    };
    if matches!(
        op & FUTEX_CMD_MASK,
        FUTEX_LOCK_PI | FUTEX_LOCK_PI2 | FUTEX_TRYLOCK_PI | FUTEX_UNLOCK_PI
    ) {
        return pi(uaddr, op, arg4);
    }
    let req = decode(op, val, arg4, val3)?;
    check_uaddr(uaddr, USER_LIMIT)?;
    let (me, p) = crate::proc::uthread::me();
    let aspace = p.aspace().ok_or(Errno::EFAULT)?;
    let mem = Mem { aspace: &aspace };
    let key1 = key_for(&aspace, uaddr, req.private)?;
    let key2 = if req.cmd.uses_uaddr2() {
        check_uaddr(uaddr2, USER_LIMIT)?;
        Some(key_for(&aspace, uaddr2, req.private)?)
    } else {
        None
    };
    match req.cmd {
        FutexCmd::Wait {
            expected,
            bitset,
            timeout,
        } => {
            let deadline = match timeout {
                None => None,
                Some(Timeout::Relative { uaddr }) => {
                    Some(crate::time::monotonic_ns().saturating_add(ts_ns(&read_timespec(uaddr)?)))
                }
                Some(Timeout::Absolute { uaddr, clock }) => {
                    let abs = ts_ns(&read_timespec(uaddr)?);
                    Some(match clock {
                        weft_futex::syscall::Clock::Realtime => {
                            let now_rt = crate::time::realtime_ns();
                            crate::time::monotonic_ns() + abs.saturating_sub(now_rt)
                        }
                        _ => abs,
                    })
                }
            };
            wait(&me, &mem, key1, uaddr, expected, bitset, deadline).inspect_err(|&e| {
                if e == Errno::ERESTART_RESTARTBLOCK {
                    save_restart(&me, uaddr, op, expected, deadline.unwrap_or(0), bitset);
                }
            })
        }
        FutexCmd::Wake { nr, bitset } => {
            let _irq = IrqGuard::new();
            table()
                .wake(&key1, nr, bitset, wake_thread)
                .map(|n| n as u64)
        }
        FutexCmd::Requeue {
            nr_wake,
            nr_requeue,
            expected,
        } => {
            let _irq = IrqGuard::new();
            table()
                .requeue(
                    &mem,
                    &key1,
                    key2.as_ref().unwrap(),
                    nr_wake,
                    nr_requeue,
                    expected.map(|v| (uaddr, v)),
                    wake_thread,
                )
                .map(|n| n as u64)
        }
        FutexCmd::WakeOp {
            nr_wake,
            nr_wake2,
            op,
        } => {
            let _irq = IrqGuard::new();
            table()
                .wake_op(
                    &mem,
                    &key1,
                    key2.as_ref().unwrap(),
                    uaddr2,
                    nr_wake,
                    nr_wake2,
                    op,
                    wake_thread,
                )
                .map(|n| n as u64)
        }
    }
}

/// Reads the futex word, resolving a fault once (EFAULT if it stays bad).
fn load_word(mem: &Mem<'_>, uaddr: u64) -> Result<u32, Errno> {
    match mem.load_u32(uaddr) {
        Ok(v) => Ok(v),
        Err(_) => {
            mem.fault_in(uaddr, true).map_err(|_| Errno::EFAULT)?;
            mem.load_u32(uaddr).map_err(|_| Errno::EFAULT)
        }
    }
}

fn cas_word(mem: &Mem<'_>, uaddr: u64, old: u32, new: u32) -> Result<bool, Errno> {
    let r = match mem.cmpxchg_u32(uaddr, old, new) {
        Ok(v) => v,
        Err(_) => {
            mem.fault_in(uaddr, true).map_err(|_| Errno::EFAULT)?;
            mem.cmpxchg_u32(uaddr, old, new)
                .map_err(|_| Errno::EFAULT)?
        }
    };
    Ok(r == old)
}

/// The PI futex commands: LOCK_PI, LOCK_PI2, TRYLOCK_PI, UNLOCK_PI, with the
/// word protocol of Linux (owner tid, FUTEX_WAITERS, FUTEX_OWNER_DIED) so that
/// musl's priority-inheritance mutexes, robust or not, work. Waiters sleep on the
/// futex table like FUTEX_WAIT on the word's current value, so a change of owner
/// is never missed. Not (yet) done: boosting the owner's priority, and a direct
/// hand-off to the first waiter; an unlock leaves FUTEX_WAITERS set (owner 0), so
/// that every later locker goes through the kernel and nobody is left asleep.
#[cold]
#[inline(never)]
fn pi(uaddr: u64, op: u32, arg4: u64) -> Result<u64, Errno> {
    use weft_abi::futex::*;
    check_uaddr(uaddr, USER_LIMIT)?;
    let cmd = op & FUTEX_CMD_MASK;
    let (me, p) = crate::proc::uthread::me();
    let aspace = p.aspace().ok_or(Errno::EFAULT)?;
    let mem = Mem { aspace: &aspace };
    let key = key_for(&aspace, uaddr, op & FUTEX_PRIVATE_FLAG != 0)?;
    let tid = me.tid() as u32;
    if cmd == FUTEX_UNLOCK_PI {
        loop {
            let v = load_word(&mem, uaddr)?;
            if v & FUTEX_TID_MASK != tid {
                return Err(Errno::EPERM);
            }
            if cas_word(&mem, uaddr, v, v & FUTEX_WAITERS)? {
                if v & FUTEX_WAITERS != 0 {
                    let _irq = IrqGuard::new();
                    let _ = table().wake(&key, 1, FUTEX_BITSET_MATCH_ANY, wake_thread);
                }
                return Ok(0);
            }
        }
    }
    let deadline = if cmd == FUTEX_TRYLOCK_PI || arg4 == 0 {
        None
    } else {
        let abs = ts_ns(&read_timespec(arg4)?);
        let realtime = cmd == FUTEX_LOCK_PI || op & FUTEX_CLOCK_REALTIME != 0;
        Some(if realtime {
            crate::time::monotonic_ns() + abs.saturating_sub(crate::time::realtime_ns())
        } else {
            abs
        })
    };
    loop {
        let v = load_word(&mem, uaddr)?;
        let owner = v & FUTEX_TID_MASK;
        if owner == 0 {
            // Free (perhaps after its owner died): take it, keeping both flags.
            if cas_word(
                &mem,
                uaddr,
                v,
                tid | (v & (FUTEX_WAITERS | FUTEX_OWNER_DIED)),
            )? {
                return Ok(0);
            }
            continue;
        }
        if owner == tid {
            return Err(Errno::EDEADLK);
        }
        if cmd == FUTEX_TRYLOCK_PI {
            return Err(Errno::EAGAIN);
        }
        if v & FUTEX_WAITERS == 0 && !cas_word(&mem, uaddr, v, v | FUTEX_WAITERS)? {
            continue;
        }
        match wait(
            &me,
            &mem,
            key,
            uaddr,
            v | FUTEX_WAITERS,
            FUTEX_BITSET_MATCH_ANY,
            deadline,
        ) {
            Ok(_) | Err(Errno::EAGAIN) => continue,
            // A lock attempt is always restarted after a handler (the deadline
            // is absolute).
            Err(e) if e.is_restart() => return Err(Errno::ERESTARTNOINTR),
            Err(e) => return Err(e),
        }
    }
}

/// Queues the current thread on `key` (if the word still holds `expected`) and
/// sleeps until woken, interrupted (a restart code) or past `deadline`.
fn wait(
    me: &Arc<Thread>,
    mem: &Mem<'_>,
    key: FutexKey,
    uaddr: u64,
    expected: u32,
    bitset: u32,
    deadline: Option<u64>,
) -> Result<u64, Errno> {
    let token = {
        let _irq = IrqGuard::new();
        table().wait_prepare(mem, key, uaddr, expected, bitset, me.clone())?
    };
    let outcome = match crate::proc::signal::wait_event(None, deadline, || token.is_woken()) {
        crate::task::WaitResult::Woken => WaitOutcome::Woken,
        crate::task::WaitResult::Interrupted => WaitOutcome::Interrupted,
        crate::task::WaitResult::TimedOut => WaitOutcome::TimedOut,
    };
    let result = {
        let _irq = IrqGuard::new();
        token.finish(outcome)
    };
    result.syscall_result(deadline.is_some()).map(|v| v as u64)
}

fn save_restart(me: &Arc<Thread>, uaddr: u64, op: u32, val: u32, deadline: u64, bitset: u32) {
    let _irq = IrqGuard::new();
    me.user.as_ref().unwrap().sig.lock().restart = Some(crate::proc::signal::RestartBlock::Futex {
        uaddr,
        op,
        val,
        deadline,
        bitset,
    });
}

/// `restart_syscall` for a timed futex wait: the same wait, to the same deadline.
pub fn wait_restart(
    uaddr: u64,
    op: u32,
    val: u32,
    deadline: u64,
    bitset: u32,
) -> Result<u64, Errno> {
    let (me, p) = crate::proc::uthread::me();
    let aspace = p.aspace().ok_or(Errno::EFAULT)?;
    let mem = Mem { aspace: &aspace };
    let private = op & weft_abi::futex::FUTEX_PRIVATE_FLAG != 0;
    let key = key_for(&aspace, uaddr, private)?;
    wait(&me, &mem, key, uaddr, val, bitset, Some(deadline)).inspect_err(|&e| {
        if e == Errno::ERESTART_RESTARTBLOCK {
            save_restart(&me, uaddr, op, val, deadline, bitset);
        }
    })
}

/// Wakes up to `n` waiters on `addr` in `p` (clear-child-tid at thread exit).
pub fn wake_address(p: &Arc<Process>, addr: u64, n: u32) {
    let Some(aspace) = p.aspace() else { return };
    if let Ok(key) = key_for(&aspace, addr, false) {
        let _irq = IrqGuard::new();
        let _ = table().wake(
            &key,
            n,
            weft_abi::futex::FUTEX_BITSET_MATCH_ANY,
            wake_thread,
        );
    }
}

/// Thread exit: walk the robust list, marking held locks FUTEX_OWNER_DIED and waking
/// one waiter each.
pub fn thread_exit(t: &Arc<Thread>, p: &Arc<Process>) {
    let Some(ut) = t.user.as_ref() else { return };
    let head = ut.robust_head.load(core::sync::atomic::Ordering::Acquire);
    if head == 0 {
        return;
    }
    let Some(aspace) = p.aspace() else { return };
    let mem = Mem { aspace: &aspace };
    let tid = t.tid() as u32;
    weft_futex::robust::exit_robust_list(&mem, head, tid, |addr| {
        if let Ok(key) = key_for(&aspace, addr, false) {
            let _irq = IrqGuard::new();
            let _ = table().wake(
                &key,
                1,
                weft_abi::futex::FUTEX_BITSET_MATCH_ANY,
                wake_thread,
            );
        }
    });
}

impl weft_futex::FutexThread for Thread {
    fn futex_wait_state(&self) -> &weft_futex::WaitState {
        &self.futex
    }
}
