//! Signals in the kernel: the rules of `weft-signal` glued to processes, threads,
//! register frames and sleeps (docs/signals.md).
//!
//! State: each process has a [`ProcSignals`] (actions, shared pending set, group
//! stop) under `Process::sig`; each user thread a [`ThreadSignals`] (own pending
//! set, alternate stack, the mask to restore after sigsuspend, a restart block)
//! under `UserThread::sig`, plus its mask and a "signal work pending" hint as
//! atomics so that the return-to-user check and `sigprocmask` reads cost a load.
//! Lock order: `Process::sig` before `UserThread::sig`; both are taken with
//! interrupts off (no preemption while held) and never across a sleep.
//!
//! Generation ([`send_thread`], [`send_process`]) queues the signal, picks the
//! thread that takes it and wakes only that one; delivery ([`on_return_to_user`])
//! runs on the way back to user mode, where the thread dequeues, stops, dies or
//! gets a handler frame, and where an interrupted system call is turned into
//! EINTR or restarted.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use weft_abi::Errno;
use weft_abi::signal::{
    SA_NOCLDSTOP, SA_NOCLDWAIT, SA_NODEFER, SA_RESTART, SIG_IGN, SIGCHLD, SIGCONT, SIGKILL,
    SIGSEGV, SigInfo, SigSet, is_valid, sigmask,
};
use weft_arch::syscall::{IRET_VECTOR, SYSCALL_VECTOR};
use weft_arch::trap::TrapFrame;
use weft_signal::frame::{self, Regs};
use weft_signal::restart::{self, Restart};
use weft_signal::{Actions, AltStack, Disposition, Pending, route};

use super::{Process, uthread};
use crate::task::{self, Thread, WaitResult};

/// Most real-time signals queued per process (RLIMIT_SIGPENDING's role).
pub const RT_QUEUE_LIMIT: usize = 1024;

/// Number of `restart_syscall`.
const NR_RESTART_SYSCALL: u64 = 219;

/// Per-process signal state.
pub struct ProcSignals {
    pub actions: Actions,
    pub shared: Pending,
    rotor: usize,
    /// The group is stopped (or stopping) by this signal.
    pub stopped: Option<u32>,
}

impl ProcSignals {
    pub fn new(actions: Actions) -> ProcSignals {
        ProcSignals {
            actions,
            shared: Pending::new(),
            rotor: 0,
            stopped: None,
        }
    }
}

/// What `restart_syscall` continues.
#[derive(Clone, Copy, Debug)]
pub enum RestartBlock {
    /// A relative sleep: until this monotonic deadline; `rem` gets the time left
    /// if interrupted again.
    Sleep { deadline: u64, rem: u64 },
    /// A futex wait with a timeout, now absolute (monotonic).
    Futex {
        uaddr: u64,
        op: u32,
        val: u32,
        deadline: u64,
        bitset: u32,
    },
}

/// Per-thread signal state.
#[derive(Default)]
pub struct ThreadSignals {
    pub pending: Pending,
    pub altstack: AltStack,
    /// sigsuspend/ppoll: the mask to put back once the call returns (or to save in
    /// the frame of the handler that interrupted it).
    pub saved_mask: Option<SigSet>,
    pub restart: Option<RestartBlock>,
}

fn recalc(ps: &ProcSignals, t: &Thread, ts: &ThreadSignals) {
    let ut = t.user.as_ref().unwrap();
    let mask = ut.sigmask.load(Ordering::Relaxed);
    let work = (ps.shared.set() | ts.pending.set()) & !mask != 0 || ps.stopped.is_some();
    ut.sig_hint.store(work, Ordering::Release);
}

/// Makes `t` notice its signal work: a sleep ends, a running thread is kicked into
/// the kernel.
fn signal_wake(t: &Arc<Thread>) {
    if let Some(ut) = t.user.as_ref() {
        ut.sig_hint.store(true, Ordering::Release);
    }
    task::wake(t);
    if let Some(c) = weft_sched::Schedulable::sched(&**t).cpu() {
        task::kick(c);
    }
}

/// Whether the current thread's sleep must end: it has signal work, or it must exit.
pub fn interrupted() -> bool {
    task::current().is_some_and(|t| {
        t.user.as_ref().is_some_and(|u| {
            u.sig_hint.load(Ordering::Acquire)
                || u.kill.load(Ordering::Acquire)
                || u.process.exiting.load(Ordering::Acquire)
        })
    })
}

/// [`task::wait_event`], interrupted by signals: the one sleeping primitive of
/// every interruptible system call.
pub fn wait_event(
    wq: Option<&weft_sched::WaitQueue<Thread, crate::task::KernelPlatform>>,
    deadline: Option<u64>,
    cond: impl FnMut() -> bool,
) -> WaitResult {
    task::wait_event(wq, deadline, cond, interrupted)
}

/// Side effects of generating `sig` for `p`, before it is queued: SIGCONT resumes a
/// stopped group and discards pending stop signals; a stop signal discards pending
/// SIGCONT. Returns whether the group was continued.
fn prepare_signal(threads: &[Arc<Thread>], ps: &mut ProcSignals, sig: u32) -> bool {
    let discard = |ps: &mut ProcSignals, set: SigSet| {
        ps.shared.discard(set);
        for t in threads {
            t.user.as_ref().unwrap().sig.lock().pending.discard(set);
        }
    };
    if sig == SIGCONT {
        discard(ps, weft_signal::STOP_SIGNALS);
        return ps.stopped.take().is_some();
    }
    if weft_signal::STOP_SIGNALS & sigmask(sig) != 0 {
        discard(ps, weft_signal::CONT_SIGNALS);
    }
    false
}

/// After a SIGCONT resumed `p`: wake its threads and tell the parent.
fn continued(p: &Arc<Process>) {
    task::wake_all(&p.stop_wq);
    *p.wait_report.lock() = Some(WaitReport::Continued);
    notify_parent(p, weft_abi::signal::CLD_CONTINUED, SIGCONT as i32);
}

/// Sends `info` to thread `t` of `p` (tkill, tgkill, faults, timers aimed at a thread).
pub fn send_thread(p: &Arc<Process>, t: &Arc<Thread>, info: SigInfo) -> Result<(), Errno> {
    let sig = info.signo as u32;
    if !is_valid(sig) {
        return Ok(());
    }
    if sig == SIGKILL {
        kill_group(p, SIGKILL);
        return Ok(());
    }
    let ut = t.user.as_ref().ok_or(Errno::ESRCH)?;
    // Only SIGCONT and stop signals touch the other threads' queues. The thread
    // list is a lock taken with interrupts on: snapshot it before the signal lock.
    let threads: Vec<Arc<Thread>> =
        if sig == SIGCONT || weft_signal::STOP_SIGNALS & sigmask(sig) != 0 {
            p.threads.lock().clone()
        } else {
            Vec::new()
        };
    let (wake, cont) = {
        let mut ps = p.sig.lock();
        let cont = prepare_signal(&threads, &mut ps, sig);
        let blocked = ut.sigmask.load(Ordering::Relaxed) & sigmask(sig) != 0;
        if ps.actions.is_ignored(sig) && !blocked {
            return Ok(()).inspect(|_| {
                if cont {
                    drop(ps);
                    continued(p);
                }
            });
        }
        let mut ts = ut.sig.lock();
        if ts.pending.enqueue(info, RT_QUEUE_LIMIT).is_err() {
            return Err(Errno::EAGAIN);
        }
        (!blocked, cont)
    };
    if cont {
        continued(p);
    }
    if wake {
        signal_wake(t);
    }
    Ok(())
}

/// Sends `info` to process `p` (kill, sigqueue, SIGCHLD, timers): it is queued for
/// the process and taken by one thread that does not block it (`prefer` first),
/// which alone is woken.
pub fn send_process(
    p: &Arc<Process>,
    info: SigInfo,
    prefer: Option<&Arc<Thread>>,
) -> Result<(), Errno> {
    let sig = info.signo as u32;
    if !is_valid(sig) || p.is_zombie() {
        return Ok(());
    }
    if sig == SIGKILL {
        kill_group(p, SIGKILL);
        return Ok(());
    }
    // The thread list is a lock taken with interrupts on: snapshot it first.
    let threads: Vec<Arc<Thread>> = p.threads.lock().clone();
    let (target, cont) = {
        let mut ps = p.sig.lock();
        let cont = prepare_signal(&threads, &mut ps, sig);
        let cands: Vec<route::Candidate> = threads
            .iter()
            .map(|t| {
                let ut = t.user.as_ref().unwrap();
                route::Candidate {
                    blocked: ut.sigmask.load(Ordering::Relaxed),
                    exiting: ut.kill.load(Ordering::Relaxed),
                }
            })
            .collect();
        let preferred = prefer
            .and_then(|pt| threads.iter().position(|t| Arc::ptr_eq(t, pt)))
            .or(Some(0));
        let pick = route::pick_thread(&cands, sig, preferred, ps.rotor);
        let all_block = cands.iter().all(|c| c.blocked & sigmask(sig) != 0);
        if ps.actions.is_ignored(sig) && !all_block {
            drop(ps);
            if cont {
                continued(p);
            }
            return Ok(());
        }
        if ps.shared.enqueue(info, RT_QUEUE_LIMIT).is_err() {
            return Err(Errno::EAGAIN);
        }
        if let Some(i) = pick {
            ps.rotor = i + 1;
        }
        (pick.map(|i| threads[i].clone()), cont)
    };
    if cont {
        continued(p);
    }
    if let Some(t) = target {
        signal_wake(&t);
    }
    Ok(())
}

/// SIGKILL: the whole group ends now (also out of a stop).
pub fn kill_group(p: &Arc<Process>, sig: u32) {
    if !p.exiting.swap(true, Ordering::AcqRel) {
        p.exit_status.store(
            super::wstatus_signaled(sig as i32) as u32,
            Ordering::Release,
        );
    }
    let threads: Vec<_> = p.threads.lock().clone();
    for t in threads {
        if let Some(ut) = t.user.as_ref() {
            ut.kill.store(true, Ordering::Release);
            ut.resume_permit.store(true, Ordering::Release);
        }
        signal_wake(&t);
    }
    task::wake_all(&p.stop_wq);
}

/// A synchronous fault in the current thread: the signal is forced (a blocked or
/// ignored fault signal kills, as on Linux).
pub fn force_fault(info: SigInfo) {
    let (t, p) = uthread::me();
    let sig = info.signo as u32;
    let ut = t.user.as_ref().unwrap();
    {
        let mut ps = p.sig.lock();
        let blocked = ut.sigmask.load(Ordering::Relaxed) & sigmask(sig) != 0;
        if blocked || ps.actions.is_ignored(sig) {
            ps.actions.force_default(sig);
            ut.sigmask.fetch_and(!sigmask(sig), Ordering::AcqRel);
        }
        let mut ts = ut.sig.lock();
        let _ = ts.pending.enqueue(info, usize::MAX);
        recalc(&ps, &t, &ts);
    }
}

/// Changes the current thread's mask to `new` (sanitised), with the hint
/// recomputed; signals now blocked here that wait for the process go to another
/// thread.
pub fn set_mask(t: &Arc<Thread>, p: &Arc<Process>, new: SigSet) -> SigSet {
    let ut = t.user.as_ref().unwrap();
    let new = weft_signal::sanitize_mask(new);
    let (old, retarget) = {
        let ps = p.sig.lock();
        let ts = ut.sig.lock();
        let old = ut.sigmask.swap(new, Ordering::AcqRel);
        recalc(&ps, t, &ts);
        let newly_blocked = new & !old & ps.shared.set();
        (old, newly_blocked)
    };
    if retarget != 0 {
        let sig = retarget.trailing_zeros() + 1;
        let others: Vec<_> = p.threads.lock().clone();
        if let Some(o) = others.iter().find(|o| {
            !Arc::ptr_eq(o, t)
                && o.user.as_ref().unwrap().sigmask.load(Ordering::Relaxed) & sigmask(sig) == 0
        }) {
            signal_wake(o);
        }
    }
    old
}

/// The signals pending for the current thread (its own and its process's).
pub fn pending_set(t: &Arc<Thread>, p: &Arc<Process>) -> SigSet {
    let ps = p.sig.lock();
    let ts = t.user.as_ref().unwrap().sig.lock();
    ps.shared.set() | ts.pending.set()
}

/// Takes a pending signal among `allowed` for the current thread (its own first).
pub fn dequeue(t: &Arc<Thread>, p: &Arc<Process>, allowed: SigSet) -> Option<SigInfo> {
    let mut ps = p.sig.lock();
    let mut ts = t.user.as_ref().unwrap().sig.lock();
    let info = ts
        .pending
        .dequeue(allowed)
        .or_else(|| ps.shared.dequeue(allowed));
    recalc(&ps, t, &ts);
    info
}

/// What a stopped or continued child reports to `wait4`/`waitid` once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitReport {
    Stopped(u32),
    Continued,
}

/// Sends SIGCHLD (code `code`, status `status`) to `p`'s parent, unless the parent
/// ignores it or (for stop/continue) asked for SA_NOCLDSTOP.
pub fn notify_parent(p: &Arc<Process>, code: i32, status: i32) {
    let Some(parent) = p.parent.lock().upgrade() else {
        return;
    };
    let exit_sig = if code == weft_abi::signal::CLD_EXITED
        || code == weft_abi::signal::CLD_KILLED
        || code == weft_abi::signal::CLD_DUMPED
    {
        p.exit_signal.load(Ordering::Relaxed)
    } else {
        SIGCHLD
    };
    if exit_sig == 0 {
        task::wake_all(&parent.child_wq);
        return;
    }
    let act = { parent.sig.lock().actions.get(SIGCHLD) };
    let stopcont = code == weft_abi::signal::CLD_STOPPED || code == weft_abi::signal::CLD_CONTINUED;
    if !(stopcont && exit_sig == SIGCHLD && act.flags & SA_NOCLDSTOP != 0) {
        let info = SigInfo::chld(code, p.pid as i32, 0, status, 0, 0);
        let mut info = info;
        info.signo = exit_sig as i32;
        let _ = send_process(&parent, info, None);
    }
    task::wake_all(&parent.child_wq);
}

/// Whether `parent` reaps its children itself (SIGCHLD ignored or SA_NOCLDWAIT):
/// then an exiting child leaves no zombie.
pub fn auto_reap(parent: &Process) -> bool {
    let a = parent.sig.lock().actions.get(SIGCHLD);
    a.handler == SIG_IGN || a.flags & SA_NOCLDWAIT != 0
}

/// The group stops: record it, tell the parent (once), and make every thread stop
/// at its next return to user mode.
fn begin_group_stop(p: &Arc<Process>, sig: u32) {
    let first = {
        let mut ps = p.sig.lock();
        if ps.stopped.is_some() || p.exiting.load(Ordering::Acquire) {
            false
        } else {
            ps.stopped = Some(sig);
            true
        }
    };
    if !first {
        return;
    }
    let threads: Vec<_> = p.threads.lock().clone();
    for t in &threads {
        signal_wake(t);
    }
    *p.wait_report.lock() = Some(WaitReport::Stopped(sig));
    notify_parent(p, weft_abi::signal::CLD_STOPPED, sig as i32);
}

/// A thread of a stopped group waits here until SIGCONT or SIGKILL.
fn stop_here(t: &Arc<Thread>, p: &Arc<Process>) {
    let ut = t.user.as_ref().unwrap();
    weft_arch::cpu::enable_interrupts();
    task::wait_event(
        Some(&p.stop_wq),
        None,
        || p.sig.lock().stopped.is_none(),
        || ut.kill.load(Ordering::Acquire) || p.exiting.load(Ordering::Acquire),
    );
    let ps = p.sig.lock();
    let ts = ut.sig.lock();
    recalc(&ps, t, &ts);
}

fn regs_of(f: &TrapFrame) -> Regs {
    Regs {
        r8: f.r8,
        r9: f.r9,
        r10: f.r10,
        r11: f.r11,
        r12: f.r12,
        r13: f.r13,
        r14: f.r14,
        r15: f.r15,
        rdi: f.rdi,
        rsi: f.rsi,
        rbp: f.rbp,
        rbx: f.rbx,
        rdx: f.rdx,
        rax: f.rax,
        rcx: f.rcx,
        rsp: f.rsp,
        rip: f.rip,
        rflags: f.rflags,
    }
}

fn set_regs(f: &mut TrapFrame, r: &Regs) {
    f.r8 = r.r8;
    f.r9 = r.r9;
    f.r10 = r.r10;
    f.r11 = r.r11;
    f.r12 = r.r12;
    f.r13 = r.r13;
    f.r14 = r.r14;
    f.r15 = r.r15;
    f.rdi = r.rdi;
    f.rsi = r.rsi;
    f.rbp = r.rbp;
    f.rbx = r.rbx;
    f.rdx = r.rdx;
    f.rax = r.rax;
    f.rcx = r.rcx;
    f.rsp = r.rsp;
    f.rip = r.rip;
    f.rflags = r.rflags;
}

fn fpu_format() -> frame::FpuFormat {
    let a = weft_arch::context::user_fpu_format();
    frame::FpuFormat {
        xsave: a.xsave,
        size: a.size,
        xfeatures: a.xfeatures,
        mxcsr_mask: a.mxcsr_mask,
    }
}

/// Applies the restart rules to an interrupted system call's result in `f`.
fn apply_restart(f: &mut TrapFrame, t: &Arc<Thread>, handler: Option<bool>) {
    match restart::decide(f.rax as i64, handler) {
        Restart::Keep => {}
        Restart::Eintr => {
            f.rax = Errno::EINTR.as_neg() as u64;
            t.user.as_ref().unwrap().sig.lock().restart = None;
        }
        Restart::Again => {
            f.rax = f.error_code;
            f.rip -= 2;
        }
        Restart::RestartBlock => {
            f.rax = NR_RESTART_SYSCALL;
            f.rip -= 2;
        }
    }
}

/// Builds a handler frame for `info` on the current thread's user stack and points
/// `f` at the handler. Returns false if the frame could not be written (the thread
/// then gets SIGSEGV).
fn setup_frame(
    f: &mut TrapFrame,
    t: &Arc<Thread>,
    p: &Arc<Process>,
    info: &SigInfo,
    act: &weft_abi::signal::SigAction,
) -> bool {
    let ut = t.user.as_ref().unwrap();
    let sig = info.signo as u32;
    let fmt = fpu_format();
    let mut image = alloc::vec![0u8; fmt.size];
    t.ctx.save_user_fpu(&mut image);
    let (altstack, saved) = {
        let mut ts = ut.sig.lock();
        (ts.altstack, ts.saved_mask.take())
    };
    // The frame keeps the mask to return to (the one before sigsuspend, if any);
    // the handler's mask is built on the mask in force now.
    let cur_mask = ut.sigmask.load(Ordering::Acquire);
    let old_mask = saved.unwrap_or(cur_mask);
    let fault = info.signo as u32 == SIGSEGV || matches!(f.vector, 0..=31);
    let d = frame::Delivery {
        regs: regs_of(f),
        sig,
        info: *info,
        action: *act,
        old_mask,
        altstack,
        fpu_image: &image,
        fpu: fmt,
        trapno: if fault && f.vector < 32 { f.vector } else { 0 },
        err: if fault && f.vector < 32 {
            f.error_code
        } else {
            0
        },
        cr2: if f.vector == 14 { info.addr() } else { 0 },
    };
    let Ok(built) = frame::build(&d) else {
        return false;
    };
    weft_arch::cpu::enable_interrupts();
    let ok = weft_mm::user::copy_to_user(built.base, &built.bytes).is_ok();
    if !ok {
        return false;
    }
    if built.disarm_altstack {
        ut.sig.lock().altstack = AltStack::disabled();
    }
    set_regs(f, &built.regs);
    // The handler runs with its mask added (and the signal itself unless NODEFER).
    let mut mask = cur_mask | act.mask;
    if act.flags & SA_NODEFER == 0 {
        mask |= sigmask(sig);
    }
    {
        p.sig.lock().actions.handler_entered(sig);
    }
    set_mask(t, p, mask);
    t.ctx.reset_user_fpu();
    true
}

/// Signal work on the way back to user mode (called with interrupts off, returns
/// with them off): exit if told to, take part in a group stop, take pending
/// signals (ignore, stop, terminate, or set up a handler frame), then turn an
/// interrupted system call's restart code into its final result.
#[cold]
#[inline(never)]
pub fn on_return_to_user(f: &mut TrapFrame) {
    let Some((t, p)) = uthread::current_user() else {
        return;
    };
    let ut = t.user.as_ref().unwrap();
    let mut in_syscall = f.vector == SYSCALL_VECTOR;
    let mut handled = false;
    loop {
        if ut.kill.load(Ordering::Acquire) || p.exiting.load(Ordering::Acquire) {
            drop(t);
            drop(p);
            weft_arch::cpu::enable_interrupts();
            uthread::exit_thread(0, 0);
        }
        if !ut.sig_hint.load(Ordering::Acquire) {
            break;
        }
        let stopped = { p.sig.lock().stopped.is_some() };
        if stopped {
            stop_here(&t, &p);
            weft_arch::cpu::disable_interrupts();
            continue;
        }
        let Some(info) = dequeue(&t, &p, !ut.sigmask.load(Ordering::Acquire)) else {
            continue;
        };
        let sig = info.signo as u32;
        let disp = { p.sig.lock().actions.disposition(sig) };
        match disp {
            Disposition::Ignore | Disposition::Continue => {}
            Disposition::Stop => {
                weft_arch::cpu::enable_interrupts();
                begin_group_stop(&p, sig);
                weft_arch::cpu::disable_interrupts();
            }
            Disposition::Terminate { core } => {
                let ws = super::wstatus_signaled(sig as i32) | if core { 0x80 } else { 0 };
                drop(t);
                drop(p);
                weft_arch::cpu::enable_interrupts();
                uthread::exit_group(ws);
            }
            Disposition::Handler(act) => {
                if in_syscall {
                    apply_restart(f, &t, Some(act.flags & SA_RESTART != 0));
                    in_syscall = false;
                }
                if !setup_frame(f, &t, &p, &info, &act) {
                    weft_arch::cpu::enable_interrupts();
                    force_fault(SigInfo::kill(SIGSEGV, weft_abi::signal::SI_KERNEL, 0, 0));
                }
                weft_arch::cpu::disable_interrupts();
                handled = true;
            }
        }
    }
    if in_syscall {
        apply_restart(f, &t, None);
    }
    if !handled {
        let saved = { ut.sig.lock().saved_mask.take() };
        if let Some(m) = saved {
            weft_arch::cpu::enable_interrupts();
            set_mask(&t, &p, m);
            weft_arch::cpu::disable_interrupts();
        }
    }
}

/// Whether the current thread has return-to-user work (one load each).
#[inline]
pub fn has_work(ut: &super::UserThread) -> bool {
    ut.sig_hint.load(Ordering::Relaxed)
        || ut.kill.load(Ordering::Relaxed)
        || ut.process.exiting.load(Ordering::Relaxed)
}

/// `rt_sigreturn`: restores what the handler's frame (at `rsp - 8`) saved. A frame
/// that cannot be read kills with SIGSEGV.
pub fn sigreturn(f: &mut TrapFrame) -> Result<u64, Errno> {
    let (t, p) = uthread::me();
    let ut = t.user.as_ref().unwrap();
    let addr = f.rsp.wrapping_sub(8);
    let mut raw = [0u8; frame::FRAME_SIZE];
    let bad = |f: &mut TrapFrame| {
        force_fault(SigInfo::kill(SIGSEGV, weft_abi::signal::SI_KERNEL, 0, 0));
        f.vector = IRET_VECTOR;
        Ok(f.rax)
    };
    if weft_mm::user::copy_from_user(&mut raw, addr).is_err() {
        return bad(f);
    }
    let r = frame::parse(&raw, f.rflags);
    if r.fpstate != 0 {
        let fmt = fpu_format();
        let mut user = alloc::vec![0u8; frame::fpu_read_size(&fmt)];
        if weft_mm::user::copy_from_user(&mut user, r.fpstate).is_err() {
            return bad(f);
        }
        let img = frame::sanitize_fpu_image(&user, &fmt);
        t.ctx.load_user_fpu(&img);
    } else {
        t.ctx.reset_user_fpu();
    }
    set_regs(f, &r.regs);
    {
        let mut ts = ut.sig.lock();
        let rsp = f.rsp;
        let _ = ts.altstack.change(&r.stack, rsp);
        ts.restart = None;
    }
    set_mask(&t, &p, r.mask);
    // Every register comes back, rcx and r11 included: return through iretq.
    f.vector = IRET_VECTOR;
    Ok(f.rax)
}

/// What fork gives the child: the same actions; nothing pending.
pub fn fork_actions(p: &Process) -> Actions {
    p.sig.lock().actions.clone()
}

/// execve: caught signals go back to default, the alternate stack goes; the mask and
/// pending signals stay.
pub fn exec_reset(t: &Arc<Thread>, p: &Arc<Process>) {
    p.sig.lock().actions.reset_for_exec();
    t.user.as_ref().unwrap().sig.lock().altstack = AltStack::disabled();
}
