//! Process and thread lifecycle calls: clone/fork/vfork, execve, exit, wait4, kill,
//! ids, clear-child-tid, robust lists, FS/GS base, signal masks.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use weft_abi::Errno;
use weft_abi::clone::*;
use weft_abi::wait::{__WALL, __WCLONE, __WNOTHREAD, WCONTINUED, WEXITED, WNOHANG, WUNTRACED};
use weft_arch::trap::TrapFrame;

use super::{SysResult, copy_out, put_u32, put_u64, read_cstr, read_str_array};
use crate::proc::signal::{self as sig, WaitReport};
use crate::proc::uthread::{self, ThreadInit, me};
use crate::proc::{ProcState, Process, exec, wstatus_exited};
use crate::task;

const NAMESPACE_FLAGS: u64 = CLONE_NEWNS
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET
    | CLONE_NEWCGROUP
    | CLONE_NEWTIME;

pub fn clone(flags: u64, stack: u64, ptid: u64, ctid: u64, tls: u64, f: &TrapFrame) -> SysResult {
    // Linux's consistency rules, in its order.
    if flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0 {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0 {
        return Err(Errno::EINVAL);
    }
    if flags & (CLONE_FS | CLONE_NEWNS) == (CLONE_FS | CLONE_NEWNS) {
        return Err(Errno::EINVAL);
    }
    if flags & NAMESPACE_FLAGS != 0 || flags & CLONE_PIDFD != 0 || flags & !0xffff_ffff != 0 {
        // Namespaces and pidfds are not implemented (docs/syscalls.md).
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_THREAD != 0 && flags & CLONE_PARENT != 0 {
        return Err(Errno::EINVAL);
    }
    let (me_t, p) = me();
    let mut frame = *f;
    frame.rax = 0;
    if stack != 0 {
        frame.rsp = stack;
    }
    let fs_base = if flags & CLONE_SETTLS != 0 {
        if tls >= weft_mm::user::USER_LIMIT {
            return Err(Errno::EPERM);
        }
        tls
    } else {
        me_t.ctx.fs_base.load(Ordering::Relaxed)
    };
    let ut = me_t.user.as_ref().unwrap();
    let tid = uthread::new_tid();
    let init = ThreadInit {
        fs_base,
        gs_base: me_t.ctx.gs_base.load(Ordering::Relaxed),
        sigmask: ut.sigmask.load(Ordering::Relaxed),
        joinable: false,
        clear_child_tid: if flags & CLONE_CHILD_CLEARTID != 0 {
            ctid
        } else {
            0
        },
        // fork keeps the alternate signal stack; a thread or CLONE_VM child starts
        // without one.
        altstack: if flags & CLONE_VM == 0 || flags & CLONE_VFORK != 0 {
            ut.sig.lock().altstack
        } else {
            weft_signal::AltStack::disabled()
        },
        auto_stack: (0, 0),
    };
    // As on Linux, a tid store that faults is skipped: the clone goes ahead.
    if flags & CLONE_PARENT_SETTID != 0 {
        let _ = put_u32(ptid, tid);
    }
    if flags & CLONE_THREAD != 0 {
        if flags & CLONE_CHILD_SETTID != 0 {
            let _ = put_u32(ctid, tid);
        }
        uthread::spawn(&p, tid, frame, init)?;
        return Ok(tid as u64);
    }
    // A new process.
    let aspace = if flags & CLONE_VM != 0 {
        p.aspace().ok_or(Errno::EFAULT)?
    } else {
        p.aspace().ok_or(Errno::EFAULT)?.fork_cow()?
    };
    let files = if flags & CLONE_FILES != 0 {
        p.files()
    } else {
        Arc::new(p.files().fork())
    };
    let parent = if flags & CLONE_PARENT != 0 {
        p.parent.lock().upgrade().unwrap_or_else(|| p.clone())
    } else {
        p.clone()
    };
    let name = p.name.lock().clone();
    // The caller's working directory (not the parent's, which differs with
    // CLONE_PARENT): shared with CLONE_FS, else copied.
    let cwd = if flags & CLONE_FS != 0 {
        p.cwd.clone()
    } else {
        crate::proc::new_cwd(p.cwd())
    };
    let child = Process::new(tid, Some(&parent), aspace.clone(), files, cwd, &name);
    child.sig.lock().actions = sig::fork_actions(&p);
    child
        .pgid
        .store(p.pgid.load(Ordering::Relaxed), Ordering::Relaxed);
    child
        .sid
        .store(p.sid.load(Ordering::Relaxed), Ordering::Relaxed);
    child
        .exit_signal
        .store((flags & 0xff) as u32, Ordering::Relaxed);
    if flags & CLONE_CHILD_SETTID != 0 {
        // A user write into the child's memory (honouring its protection); as on
        // Linux, a bad address only means the child's tid is not stored.
        let _ = aspace.write_user_bytes(ctid, &tid.to_le_bytes());
    }
    if let Err(e) = uthread::spawn(&child, tid, frame, init) {
        parent.children.lock().retain(|c| !Arc::ptr_eq(c, &child));
        return Err(e);
    }
    if flags & CLONE_VFORK != 0 {
        wait_on(&child.vfork_wq, || child.vfork_done.load(Ordering::Acquire));
    }
    Ok(tid as u64)
}

/// Sleeps on `wq` until `cond` holds; false if a signal (or exit) came first.
fn wait_on(
    wq: &weft_sched::WaitQueue<crate::task::Thread, crate::task::KernelPlatform>,
    cond: impl Fn() -> bool,
) -> bool {
    sig::wait_event(Some(wq), None, cond) == crate::task::WaitResult::Woken
}

pub fn execve(path: u64, argv: u64, envp: u64, f: &mut TrapFrame) -> SysResult {
    let path = read_cstr(path, 4096)?;
    let argv = read_str_array(argv, 4096)?;
    let envp = read_str_array(envp, 4096)?;
    let loaded = exec::prepare(&me().1.cwd(), &path, &argv, &envp)?;
    // Point of no return: the other threads go, then the new image comes in.
    let (me_t, p) = me();
    uthread::kill_others(&p, &me_t);
    if !wait_on(&p.threads_wq, || p.nr_threads.load(Ordering::Acquire) == 1) {
        return Err(Errno::EINTR);
    }
    me_t.set_tid(p.pid as u64);
    // As Linux: a descriptor table shared with another process (CLONE_FILES) is
    // unshared first, so close-on-exec closes only this process's copy.
    let files = p.files();
    if Arc::strong_count(&files) > 2 {
        *p.files.write() = Arc::new(files.fork());
    }
    drop(files);
    p.files().close_on_exec();
    let name = exec::basename(&path);
    *p.name.lock() = name.clone();
    me_t.set_name(&name);
    let old = p.set_aspace(Some(loaded.aspace.clone()));
    task::enter_address_space(loaded.aspace);
    drop(old);
    me_t.ctx.fs_base.store(0, Ordering::Relaxed);
    me_t.ctx.gs_base.store(0, Ordering::Relaxed);
    weft_arch::context::load_user_bases(&me_t.ctx);
    me_t.ctx.reset_user_fpu();
    sig::exec_reset(&me_t, &p);
    crate::proc::timers::drop_posix(&p);
    let ut = me_t.user.as_ref().unwrap();
    ut.robust_head.store(0, Ordering::Relaxed);
    ut.clear_child_tid.store(0, Ordering::Relaxed);
    p.vfork_done.store(true, Ordering::Release);
    task::wake_all(&p.vfork_wq);
    *f = TrapFrame {
        rip: loaded.entry,
        rsp: loaded.rsp,
        rflags: weft_abi::thread::INITIAL_RFLAGS,
        ..TrapFrame::default()
    };
    Ok(0)
}

pub fn exit(code: u64) -> SysResult {
    uthread::exit_thread(0, wstatus_exited(code as i32))
}

pub fn exit_group(code: u64) -> SysResult {
    uthread::exit_group(wstatus_exited(code as i32))
}

/// A child's state change that `wait4`/`waitid` can report.
struct Event {
    child: Arc<Process>,
    /// Linux wait status word.
    wstatus: i32,
    /// CLD_* code for waitid.
    code: i32,
    /// si_status for waitid.
    status: i32,
    exited: bool,
}

fn exit_event(child: &Arc<Process>) -> Option<Event> {
    let ProcState::Zombie { wstatus } = *child.state.lock() else {
        return None;
    };
    let (code, status) = crate::proc::cld_code(wstatus);
    Some(Event {
        child: child.clone(),
        wstatus,
        code,
        status,
        exited: true,
    })
}

/// Finds (and, unless `peek`, consumes) a reportable event among the children
/// `matches` selects. Err(ECHILD) when no child matches at all.
fn find_event(
    p: &Arc<Process>,
    matches: &dyn Fn(&Process) -> bool,
    options: u32,
    peek: bool,
) -> Result<Option<Event>, Errno> {
    let mut children = p.children.lock();
    let mut any = false;
    for i in 0..children.len() {
        let c = children[i].clone();
        if !matches(&c) {
            continue;
        }
        any = true;
        if options & WEXITED != 0
            && let Some(e) = exit_event(&c)
        {
            if !peek {
                children.remove(i);
            }
            return Ok(Some(e));
        }
        let mut rep = c.wait_report.lock();
        let ev = match *rep {
            Some(WaitReport::Stopped(s)) if options & WUNTRACED != 0 => Some(Event {
                child: c.clone(),
                wstatus: 0x7f | ((s as i32) << 8),
                code: weft_abi::signal::CLD_STOPPED,
                status: s as i32,
                exited: false,
            }),
            Some(WaitReport::Continued) if options & WCONTINUED != 0 => Some(Event {
                child: c.clone(),
                wstatus: 0xffff,
                code: weft_abi::signal::CLD_CONTINUED,
                status: weft_abi::signal::SIGCONT as i32,
                exited: false,
            }),
            _ => None,
        };
        if let Some(e) = ev {
            if !peek {
                *rep = None;
            }
            return Ok(Some(e));
        }
    }
    if any { Ok(None) } else { Err(Errno::ECHILD) }
}

/// Waits for a child event (the shared loop of wait4 and waitid).
fn wait_child(
    matches: &dyn Fn(&Process) -> bool,
    options: u32,
    peek: bool,
) -> Result<Option<Event>, Errno> {
    let (_, p) = me();
    let mut found = None;
    let mut err = None;
    let r = sig::wait_event(Some(&p.child_wq), None, || {
        match find_event(&p, matches, options, peek) {
            Ok(Some(e)) => found = Some(e),
            Ok(None) if options & WNOHANG != 0 => return true,
            Ok(None) => return false,
            Err(e) => err = Some(e),
        }
        true
    });
    if let Some(e) = err {
        return Err(e);
    }
    if found.as_ref().is_some_and(|e| e.exited && !peek) {
        task::reap_zombies();
    }
    match (found, r) {
        (Some(e), _) => Ok(Some(e)),
        (None, crate::task::WaitResult::Interrupted) => Err(Errno::ERESTARTSYS),
        (None, _) => Ok(None),
    }
}

fn pid_matcher(pid: i32, me_pgid: u32) -> impl Fn(&Process) -> bool {
    move |c: &Process| match pid {
        -1 => true,
        0 => c.pgid.load(Ordering::Relaxed) == me_pgid,
        p if p < -1 => c.pgid.load(Ordering::Relaxed) == (-p) as u32,
        p => c.pid as i32 == p,
    }
}

pub fn wait4(pid: u64, status: u64, options: u64, rusage: u64) -> SysResult {
    let pid = pid as i32;
    let options = options as u32;
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WALL | __WCLONE) != 0 {
        return Err(Errno::EINVAL);
    }
    if pid == i32::MIN {
        return Err(Errno::ESRCH);
    }
    let (_, p) = me();
    let m = pid_matcher(pid, p.pgid.load(Ordering::Relaxed));
    let Some(e) = wait_child(&m, options | WEXITED, false)? else {
        return Ok(0);
    };
    if status != 0 {
        put_u32(status, e.wstatus as u32)?;
    }
    if rusage != 0 {
        copy_out(rusage, &[0u8; 144])?;
    }
    Ok(e.child.pid as u64)
}

const P_ALL: u64 = 0;
const P_PID: u64 = 1;
const P_PGID: u64 = 2;
const WNOWAIT: u32 = 0x0100_0000;
const WSTOPPED: u32 = WUNTRACED;

pub fn waitid(idtype: u64, id: u64, infop: u64, options: u64, rusage: u64) -> SysResult {
    let options = options as u32;
    if options
        & !(WNOHANG | WSTOPPED | WCONTINUED | WEXITED | WNOWAIT | __WNOTHREAD | __WALL | __WCLONE)
        != 0
        || options & (WEXITED | WSTOPPED | WCONTINUED) == 0
    {
        return Err(Errno::EINVAL);
    }
    let (_, p) = me();
    let pid: i32 = match idtype {
        P_ALL => -1,
        P_PID if id as i32 > 0 => id as i32,
        P_PGID if id as i32 > 0 => -(id as i32),
        P_PGID if id == 0 => 0,
        _ => return Err(Errno::EINVAL),
    };
    let m = pid_matcher(pid, p.pgid.load(Ordering::Relaxed));
    let e = wait_child(&m, options, options & WNOWAIT != 0)?;
    if infop != 0 {
        let info = match &e {
            Some(e) => {
                weft_abi::signal::SigInfo::chld(e.code, e.child.pid as i32, 0, e.status, 0, 0)
            }
            None => weft_abi::signal::SigInfo::new(0, 0),
        };
        copy_out(infop, &info.to_bytes())?;
    }
    if rusage != 0 {
        copy_out(rusage, &[0u8; 144])?;
    }
    Ok(0)
}

fn find_thread(p: &Arc<Process>, tid: u32) -> Option<Arc<crate::task::Thread>> {
    p.threads
        .lock()
        .iter()
        .find(|t| t.tid() as u32 == tid)
        .cloned()
}

pub fn getpid() -> SysResult {
    Ok(me().1.pid as u64)
}

pub fn gettid() -> SysResult {
    Ok(me().0.tid())
}

pub fn getppid() -> SysResult {
    Ok(me().1.ppid() as u64)
}

pub fn set_tid_address(addr: u64) -> SysResult {
    let (t, _) = me();
    t.user
        .as_ref()
        .unwrap()
        .clear_child_tid
        .store(addr, Ordering::Release);
    Ok(t.tid())
}

/// `sizeof(struct robust_list_head)` on x86_64.
const ROBUST_HEAD_LEN: u64 = 24;

pub fn set_robust_list(head: u64, len: u64) -> SysResult {
    if len != ROBUST_HEAD_LEN {
        return Err(Errno::EINVAL);
    }
    let (t, _) = me();
    let ut = t.user.as_ref().unwrap();
    ut.robust_head.store(head, Ordering::Release);
    ut.robust_len.store(len, Ordering::Release);
    Ok(0)
}

pub fn get_robust_list(pid: u64, head_ptr: u64, len_ptr: u64) -> SysResult {
    let (me_t, p) = me();
    let t = if pid == 0 {
        me_t
    } else {
        find_thread(&p, pid as u32)
            .or_else(|| {
                crate::proc::find_thread_owner(pid as u32).and_then(|o| find_thread(&o, pid as u32))
            })
            .ok_or(Errno::ESRCH)?
    };
    let ut = t.user.as_ref().unwrap();
    put_u64(head_ptr, ut.robust_head.load(Ordering::Acquire))?;
    put_u64(len_ptr, ut.robust_len.load(Ordering::Acquire))?;
    Ok(0)
}

pub fn arch_prctl(code: u64, addr: u64) -> SysResult {
    use weft_abi::prctl::{ARCH_GET_FS, ARCH_GET_GS, ARCH_SET_FS, ARCH_SET_GS};
    let (t, _) = me();
    match code as u32 {
        ARCH_SET_FS | ARCH_SET_GS => {
            if addr >= weft_mm::user::USER_LIMIT {
                return Err(Errno::EPERM);
            }
            if code as u32 == ARCH_SET_FS {
                t.ctx.fs_base.store(addr, Ordering::Relaxed);
            } else {
                t.ctx.gs_base.store(addr, Ordering::Relaxed);
            }
            weft_arch::context::load_user_bases(&t.ctx);
            Ok(0)
        }
        ARCH_GET_FS => put_u64(addr, t.ctx.fs_base.load(Ordering::Relaxed)).map(|_| 0),
        ARCH_GET_GS => put_u64(addr, t.ctx.gs_base.load(Ordering::Relaxed)).map(|_| 0),
        _ => Err(Errno::EINVAL),
    }
}
