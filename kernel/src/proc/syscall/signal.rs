//! Signal system calls: actions, masks, waiting for signals, the alternate stack,
//! sending (kill, tkill, tgkill, sigqueue), process groups and sessions, alarms.
//! The machinery is in `proc::signal`; the rules in `weft-signal`.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use weft_abi::Errno;
use weft_abi::signal::{
    SI_TKILL, SI_USER, SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK, SIGALRM, SigAction, SigInfo, StackT,
    is_valid,
};
use weft_arch::trap::TrapFrame;

use super::{SysResult, copy_in, copy_out, put_u64};
use crate::proc::signal::{self as sig, RestartBlock};
use crate::proc::uthread::me;
use crate::proc::{self, Process};
use crate::task::{Thread, WaitResult};

fn check_setsize(size: u64) -> Result<(), Errno> {
    if size as usize != weft_abi::signal::SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn read_u64(addr: u64) -> Result<u64, Errno> {
    weft_mm::user::read_user_u64(addr).map_err(|_| Errno::EFAULT)
}

fn read_action(addr: u64) -> Result<SigAction, Errno> {
    let b = copy_in(addr, 32)?;
    let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
    Ok(SigAction {
        handler: w(0),
        flags: w(1),
        restorer: w(2),
        mask: w(3),
    })
}

fn write_action(addr: u64, a: &SigAction) -> Result<(), Errno> {
    let mut b = [0u8; 32];
    for (i, v) in [a.handler, a.flags, a.restorer, a.mask].iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    copy_out(addr, &b)
}

/// Discards pending instances of `signo` everywhere in `p` (it became ignored).
fn discard_everywhere(p: &Arc<Process>, signo: u32) {
    let threads: Vec<Arc<Thread>> = p.threads.lock().clone();
    let mut ps = p.sig.lock();
    let m = weft_abi::signal::sigmask(signo);
    ps.shared.discard(m);
    for t in &threads {
        t.user.as_ref().unwrap().sig.lock().pending.discard(m);
    }
}

pub fn rt_sigaction(signo: u64, act: u64, old: u64, size: u64) -> SysResult {
    check_setsize(size)?;
    let signo = signo as u32;
    if !is_valid(signo) {
        return Err(Errno::EINVAL);
    }
    let new = if act != 0 {
        Some(read_action(act)?)
    } else {
        None
    };
    let (_, p) = me();
    let (prev, ignored) = {
        let mut ps = p.sig.lock();
        match new {
            Some(a) => {
                let prev = ps.actions.set(signo, a)?;
                (prev, ps.actions.is_ignored(signo))
            }
            // Reading SIGKILL's and SIGSTOP's action is allowed (always SIG_DFL).
            None => (ps.actions.get(signo), false),
        }
    };
    if ignored {
        discard_everywhere(&p, signo);
    }
    if old != 0 {
        write_action(old, &prev)?;
    }
    Ok(0)
}

pub fn rt_sigprocmask(how: u64, set: u64, oldset: u64, size: u64) -> SysResult {
    check_setsize(size)?;
    let (t, p) = me();
    let ut = t.user.as_ref().unwrap();
    let old = ut.sigmask.load(Ordering::Acquire);
    if set != 0 {
        let s = read_u64(set)?;
        let new = match how as u32 {
            SIG_BLOCK => old | s,
            SIG_UNBLOCK => old & !s,
            SIG_SETMASK => s,
            _ => return Err(Errno::EINVAL),
        };
        if new != old {
            sig::set_mask(&t, &p, new);
        }
    }
    if oldset != 0 {
        put_u64(oldset, old)?;
    }
    Ok(0)
}

pub fn rt_sigpending(set: u64, size: u64) -> SysResult {
    // Linux accepts any size up to the kernel set's.
    if size as usize > weft_abi::signal::SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let (t, p) = me();
    let s = sig::pending_set(&t, &p) & t.user.as_ref().unwrap().sigmask.load(Ordering::Acquire);
    copy_out(set, &s.to_le_bytes()[..size as usize])?;
    Ok(0)
}

/// Waits with mask `mask` until a signal is taken (the handler frame saves the old
/// mask; with no handler the old mask comes back on return). Never restarts.
fn suspend_with(mask: u64) -> SysResult {
    let (t, p) = me();
    let ut = t.user.as_ref().unwrap();
    let old = sig::set_mask(&t, &p, mask);
    {
        ut.sig.lock().saved_mask = Some(old);
    }
    while sig::wait_event(None, None, || false) != WaitResult::Interrupted {}
    Err(Errno::ERESTARTNOHAND)
}

pub fn rt_sigsuspend(set: u64, size: u64) -> SysResult {
    check_setsize(size)?;
    let mask = read_u64(set)?;
    suspend_with(mask)
}

pub fn pause() -> SysResult {
    while sig::wait_event(None, None, || false) != WaitResult::Interrupted {}
    Err(Errno::ERESTARTNOHAND)
}

fn read_timeout_ns(addr: u64) -> Result<u64, Errno> {
    let b = copy_in(addr, 16)?;
    let s = i64::from_le_bytes(b[0..8].try_into().unwrap());
    let ns = i64::from_le_bytes(b[8..16].try_into().unwrap());
    if s < 0 || !(0..1_000_000_000).contains(&ns) {
        return Err(Errno::EINVAL);
    }
    Ok((s as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ns as u64))
}

pub fn rt_sigtimedwait(set: u64, info: u64, timeout: u64, size: u64) -> SysResult {
    check_setsize(size)?;
    let want = weft_signal::sanitize_mask(read_u64(set)?);
    let deadline = if timeout != 0 {
        Some(crate::time::monotonic_ns().saturating_add(read_timeout_ns(timeout)?))
    } else {
        None
    };
    let (t, p) = me();
    let ut = t.user.as_ref().unwrap();
    // The awaited signals are unblocked for the wait (so that their arrival wakes
    // this thread) but only taken here, never by a handler.
    let old = ut.sigmask.load(Ordering::Acquire);
    let mut got = None;
    loop {
        if let Some(i) = sig::dequeue(&t, &p, want) {
            got = Some(i);
            break;
        }
        sig::set_mask(&t, &p, old & !want);
        let r = sig::wait_event(None, deadline, || sig::pending_set(&t, &p) & want != 0);
        sig::set_mask(&t, &p, old);
        match r {
            WaitResult::Woken => continue,
            WaitResult::TimedOut => break,
            WaitResult::Interrupted => {
                if sig::pending_set(&t, &p) & want != 0 {
                    continue;
                }
                return Err(Errno::EINTR);
            }
        }
    }
    let Some(i) = got else {
        return Err(Errno::EAGAIN);
    };
    if info != 0 {
        copy_out(info, &i.to_bytes())?;
    }
    Ok(i.signo as u64)
}

pub fn sigaltstack(new: u64, old: u64, f: &TrapFrame) -> SysResult {
    let (t, _) = me();
    let ut = t.user.as_ref().unwrap();
    let cur = ut.sig.lock().altstack;
    if new != 0 {
        let b = copy_in(new, 24)?;
        let st = StackT {
            sp: u64::from_le_bytes(b[0..8].try_into().unwrap()),
            flags: i32::from_le_bytes(b[8..12].try_into().unwrap()),
            _pad: 0,
            size: u64::from_le_bytes(b[16..24].try_into().unwrap()),
        };
        let mut a = cur;
        a.change(&st, f.rsp)?;
        ut.sig.lock().altstack = a;
    }
    if old != 0 {
        let r = cur.report(f.rsp);
        let mut b = [0u8; 24];
        b[0..8].copy_from_slice(&r.sp.to_le_bytes());
        b[8..12].copy_from_slice(&r.flags.to_le_bytes());
        b[16..24].copy_from_slice(&r.size.to_le_bytes());
        copy_out(old, &b)?;
    }
    Ok(0)
}

pub fn rt_sigreturn(f: &mut TrapFrame) -> SysResult {
    sig::sigreturn(f)
}

fn check_sig(s: u64) -> Result<u32, Errno> {
    if s > 64 {
        Err(Errno::EINVAL)
    } else {
        Ok(s as u32)
    }
}

fn sender_info(signo: u32, code: i32) -> SigInfo {
    let (_, p) = me();
    SigInfo::kill(signo, code, p.pid as i32, 0)
}

fn all_processes() -> Vec<Arc<Process>> {
    proc::all()
}

pub fn kill(pid: u64, signo: u64) -> SysResult {
    let signo = check_sig(signo)?;
    let pid = pid as i32;
    let (t, me_p) = me();
    let send = |p: &Arc<Process>| -> Result<(), Errno> {
        if signo == 0 {
            return Ok(());
        }
        let prefer = Arc::ptr_eq(p, &me_p).then_some(&t);
        sig::send_process(p, sender_info(signo, SI_USER), prefer)
    };
    if pid > 0 {
        let target = proc::find(pid as u32)
            .filter(|p| !p.is_zombie())
            .ok_or(Errno::ESRCH)?;
        send(&target)?;
        return Ok(0);
    }
    if pid == i32::MIN {
        return Err(Errno::ESRCH);
    }
    let group = match pid {
        0 => Some(me_p.pgid.load(Ordering::Relaxed)),
        -1 => None,
        g => Some((-g) as u32),
    };
    let mut found = 0;
    for p in all_processes() {
        if p.is_zombie() {
            continue;
        }
        let hit = match group {
            Some(g) => p.pgid.load(Ordering::Relaxed) == g,
            // -1: every process but init and the caller's own.
            None => p.pid != 1 && !Arc::ptr_eq(&p, &me_p),
        };
        if hit {
            found += 1;
            send(&p)?;
        }
    }
    if found == 0 {
        return Err(Errno::ESRCH);
    }
    Ok(0)
}

/// The thread with id `tid` and its process.
fn find_thread(tid: u32) -> Option<(Arc<Thread>, Arc<Process>)> {
    let (me_t, me_p) = me();
    if me_t.tid() as u32 == tid {
        return Some((me_t, me_p));
    }
    let local = me_p
        .threads
        .lock()
        .iter()
        .find(|t| t.tid() as u32 == tid)
        .cloned();
    if let Some(t) = local {
        return Some((t, me_p));
    }
    let owner = proc::find_thread_owner(tid)?;
    let t = owner
        .threads
        .lock()
        .iter()
        .find(|t| t.tid() as u32 == tid)
        .cloned()?;
    Some((t, owner))
}

fn thread_signal(tgid: Option<u32>, tid: u64, signo: u32, info: SigInfo) -> SysResult {
    if tid as i32 <= 0 {
        return Err(Errno::EINVAL);
    }
    let (t, p) = find_thread(tid as u32).ok_or(Errno::ESRCH)?;
    if tgid.is_some_and(|g| g != p.pid) {
        return Err(Errno::ESRCH);
    }
    if signo != 0 {
        sig::send_thread(&p, &t, info)?;
    }
    Ok(0)
}

pub fn tkill(tid: u64, signo: u64) -> SysResult {
    let signo = check_sig(signo)?;
    thread_signal(None, tid, signo, sender_info(signo, SI_TKILL))
}

pub fn tgkill(tgid: u64, tid: u64, signo: u64) -> SysResult {
    let signo = check_sig(signo)?;
    if tgid as i32 <= 0 {
        return Err(Errno::EINVAL);
    }
    thread_signal(Some(tgid as u32), tid, signo, sender_info(signo, SI_TKILL))
}

/// A siginfo from user space for sigqueue: a process may not pretend to be the
/// kernel or kill (si_code >= 0) when signalling another process.
/// Reads a caller's siginfo as Linux does: the 48 bytes of its kernel siginfo (the rest
/// of the 128-byte structure is padding for the fields the kernel knows).
fn copy_user_info(uinfo: u64) -> Result<SigInfo, Errno> {
    let mut b = [0u8; 128];
    weft_mm::user::copy_from_user(&mut b[..48], uinfo)?;
    Ok(SigInfo::from_bytes(&b))
}

/// Checks a caller-built siginfo for `target` (EPERM to forge kernel codes for
/// another process) and sets its signal number.
fn user_info(signo: u32, mut info: SigInfo, target: &Process) -> Result<SigInfo, Errno> {
    let (_, me_p) = me();
    if (info.code >= 0 || info.code == SI_TKILL) && target.pid != me_p.pid {
        return Err(Errno::EPERM);
    }
    info.signo = signo as i32;
    Ok(info)
}

pub fn rt_sigqueueinfo(pid: u64, signo: u64, uinfo: u64) -> SysResult {
    // Linux's order: the copy first (EFAULT), then the signal and the target.
    let info = copy_user_info(uinfo)?;
    let signo = check_sig(signo)?;
    let p = proc::find(pid as u32)
        .filter(|p| !p.is_zombie())
        .ok_or(Errno::ESRCH)?;
    let info = user_info(signo, info, &p)?;
    if signo != 0 {
        sig::send_process(&p, info, None)?;
    }
    Ok(0)
}

pub fn rt_tgsigqueueinfo(tgid: u64, tid: u64, signo: u64, uinfo: u64) -> SysResult {
    let info = copy_user_info(uinfo)?;
    let signo = check_sig(signo)?;
    if tgid as i32 <= 0 {
        return Err(Errno::EINVAL);
    }
    let p = proc::find(tgid as u32).ok_or(Errno::ESRCH)?;
    let info = user_info(signo, info, &p)?;
    thread_signal(Some(tgid as u32), tid, signo, info)
}

/// Seed API `thread_kill(tid, sig)`: tkill restricted to the caller's process.
pub fn thread_kill(tid: u64, signo: u64) -> SysResult {
    let signo = check_sig(signo)?;
    let (_, p) = me();
    thread_signal(Some(p.pid), tid, signo, sender_info(signo, SI_TKILL))
}

/// `restart_syscall`: continues what an interrupted timed call saved.
pub fn restart_syscall() -> SysResult {
    let (t, _) = me();
    let block = { t.user.as_ref().unwrap().sig.lock().restart.take() };
    match block {
        Some(RestartBlock::Sleep { deadline, rem }) => super::misc::sleep_to(deadline, rem),
        Some(RestartBlock::Futex {
            uaddr,
            op,
            val,
            deadline,
            bitset,
        }) => crate::futex::wait_restart(uaddr, op, val, deadline, bitset),
        None => Err(Errno::EINTR),
    }
}

// ---- process groups and sessions ----------------------------------------------------

pub fn setpgid(pid: u64, pgid: u64) -> SysResult {
    let (_, me_p) = me();
    if (pgid as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let target = if pid == 0 || pid as u32 == me_p.pid {
        me_p.clone()
    } else {
        let c = proc::find(pid as u32).ok_or(Errno::ESRCH)?;
        if c.ppid() != me_p.pid {
            return Err(Errno::ESRCH);
        }
        c
    };
    let pgid = if pgid == 0 { target.pid } else { pgid as u32 };
    let sid = target.sid.load(Ordering::Relaxed);
    if target.pid == sid {
        return Err(Errno::EPERM); // a session leader cannot move
    }
    if sid != me_p.sid.load(Ordering::Relaxed) {
        return Err(Errno::EPERM);
    }
    if pgid != target.pid
        && !all_processes()
            .iter()
            .any(|p| p.pgid.load(Ordering::Relaxed) == pgid && p.sid.load(Ordering::Relaxed) == sid)
    {
        return Err(Errno::EPERM);
    }
    target.pgid.store(pgid, Ordering::Relaxed);
    Ok(0)
}

fn proc_or_me(pid: u64) -> Result<Arc<Process>, Errno> {
    if pid == 0 {
        return Ok(me().1);
    }
    proc::find(pid as u32).ok_or(Errno::ESRCH)
}

pub fn getpgid(pid: u64) -> SysResult {
    Ok(proc_or_me(pid)?.pgid.load(Ordering::Relaxed) as u64)
}

pub fn getsid(pid: u64) -> SysResult {
    Ok(proc_or_me(pid)?.sid.load(Ordering::Relaxed) as u64)
}

pub fn setsid() -> SysResult {
    let (_, p) = me();
    let pid = p.pid;
    if all_processes()
        .iter()
        .any(|q| q.pgid.load(Ordering::Relaxed) == pid)
    {
        return Err(Errno::EPERM);
    }
    p.sid.store(pid, Ordering::Relaxed);
    p.pgid.store(pid, Ordering::Relaxed);
    Ok(pid as u64)
}

// ---- alarms ---------------------------------------------------------------------------

pub fn alarm(secs: u64) -> SysResult {
    let (_, p) = me();
    let ns = (secs as u32 as u64).saturating_mul(1_000_000_000);
    let left = crate::proc::timers::set_real(&p, ns, 0).0;
    // Linux rounds the remaining time to the nearest second, never 0 for a live alarm.
    Ok(if left == 0 {
        0
    } else {
        left.div_ceil(1_000_000_000).max(1)
    })
}

/// `struct itimerval` = two timevals.
fn read_itimerval(addr: u64) -> Result<(u64, u64), Errno> {
    let b = copy_in(addr, 32)?;
    let w = |i: usize| i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
    let tv = |s: i64, us: i64| -> Result<u64, Errno> {
        if s < 0 || !(0..1_000_000).contains(&us) {
            return Err(Errno::EINVAL);
        }
        Ok((s as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(us as u64 * 1000))
    };
    Ok((tv(w(0), w(1))?, tv(w(2), w(3))?))
}

fn write_itimerval(addr: u64, value: u64, interval: u64) -> Result<(), Errno> {
    let mut b = [0u8; 32];
    for (i, ns) in [interval, value].iter().enumerate() {
        b[i * 16..i * 16 + 8].copy_from_slice(&((ns / 1_000_000_000) as i64).to_le_bytes());
        b[i * 16 + 8..i * 16 + 16]
            .copy_from_slice(&(((ns % 1_000_000_000) / 1000) as i64).to_le_bytes());
    }
    copy_out(addr, &b)
}

const ITIMER_REAL: u64 = 0;

pub fn setitimer(which: u64, new: u64, old: u64) -> SysResult {
    if which != ITIMER_REAL {
        return Err(Errno::EINVAL);
    }
    let (interval, value) = if new != 0 {
        read_itimerval(new)?
    } else {
        (0, 0)
    };
    let (_, p) = me();
    let (left, ivl) = crate::proc::timers::set_real(&p, value, interval);
    if old != 0 {
        write_itimerval(old, left, ivl)?;
    }
    Ok(0)
}

pub fn getitimer(which: u64, cur: u64) -> SysResult {
    if which != ITIMER_REAL {
        return Err(Errno::EINVAL);
    }
    let (_, p) = me();
    let (left, ivl) = crate::proc::timers::get_real(&p);
    write_itimerval(cur, left, ivl)?;
    Ok(0)
}

// ---- POSIX timers ----------------------------------------------------------------------

const SIGEV_SIGNAL: u32 = 0;
const SIGEV_NONE: u32 = 1;
const SIGEV_THREAD_ID: u32 = 4;

pub fn timer_create(clock: u64, sevp: u64, idp: u64) -> SysResult {
    use weft_abi::time::{CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_REALTIME};
    let realtime = match clock as u32 {
        CLOCK_REALTIME => true,
        CLOCK_MONOTONIC | CLOCK_BOOTTIME => false,
        _ => return Err(Errno::EINVAL),
    };
    let (_, p) = me();
    let (signo, value, notify, tid) = if sevp == 0 {
        (SIGALRM, u64::MAX, SIGEV_SIGNAL, 0)
    } else {
        // The whole struct sigevent, as Linux reads it.
        let b = copy_in(sevp, 64)?;
        (
            u32::from_le_bytes(b[8..12].try_into().unwrap()),
            u64::from_le_bytes(b[0..8].try_into().unwrap()),
            u32::from_le_bytes(b[12..16].try_into().unwrap()),
            u32::from_le_bytes(b[16..20].try_into().unwrap()),
        )
    };
    let thread = match notify {
        SIGEV_NONE => None,
        SIGEV_SIGNAL => None,
        SIGEV_THREAD_ID => {
            let t = p
                .threads
                .lock()
                .iter()
                .find(|t| t.tid() as u32 == tid)
                .cloned()
                .ok_or(Errno::EINVAL)?;
            Some(t)
        }
        _ => return Err(Errno::EINVAL),
    };
    if notify != SIGEV_NONE && !is_valid(signo) {
        return Err(Errno::EINVAL);
    }
    let id = crate::proc::timers::create(
        &p,
        realtime,
        signo,
        value,
        thread.as_ref(),
        notify == SIGEV_NONE,
    )?;
    // Without a sigevent, si_value is the timer id.
    if sevp == 0 {
        let _ = crate::proc::timers::set_value(&p, id as u64, id as u64);
    }
    if let Err(e) = super::put_u32(idp, id) {
        let _ = crate::proc::timers::delete(&p, id as u64);
        return Err(e);
    }
    Ok(0)
}

fn read_itimerspec(addr: u64) -> Result<(u64, u64), Errno> {
    Ok((read_timeout_ns(addr)?, read_timeout_ns(addr + 16)?))
}

fn write_itimerspec(addr: u64, value: u64, interval: u64) -> Result<(), Errno> {
    let mut b = [0u8; 32];
    for (i, ns) in [interval, value].iter().enumerate() {
        b[i * 16..i * 16 + 8].copy_from_slice(&((ns / 1_000_000_000) as i64).to_le_bytes());
        b[i * 16 + 8..i * 16 + 16].copy_from_slice(&((ns % 1_000_000_000) as i64).to_le_bytes());
    }
    copy_out(addr, &b)
}

pub fn timer_settime(id: u64, flags: u64, new: u64, old: u64) -> SysResult {
    if new == 0 {
        return Err(Errno::EINVAL); // as Linux
    }
    let (interval, value) = read_itimerspec(new)?;
    let (_, p) = me();
    let abs = flags as u32 & weft_abi::time::TIMER_ABSTIME != 0;
    let (left, ivl) = crate::proc::timers::settime(&p, id, abs, value, interval)?;
    if old != 0 {
        write_itimerspec(old, left, ivl)?;
    }
    Ok(0)
}

pub fn timer_gettime(id: u64, cur: u64) -> SysResult {
    let (_, p) = me();
    let (left, ivl) = crate::proc::timers::gettime(&p, id)?;
    write_itimerspec(cur, left, ivl)?;
    Ok(0)
}

pub fn timer_getoverrun(id: u64) -> SysResult {
    let (_, p) = me();
    Ok(crate::proc::timers::getoverrun(&p, id)? as u64)
}

pub fn timer_delete(id: u64) -> SysResult {
    let (_, p) = me();
    crate::proc::timers::delete(&p, id)?;
    Ok(0)
}
