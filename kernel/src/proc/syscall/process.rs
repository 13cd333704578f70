//! Process and thread lifecycle calls: clone/fork/vfork, execve, exit, wait4, kill,
//! ids, clear-child-tid, robust lists, FS/GS base, signal masks.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use weft_abi::Errno;
use weft_abi::clone::*;
use weft_abi::signal::{SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK, UNBLOCKABLE};
use weft_abi::wait::{__WALL, __WCLONE, __WNOTHREAD, WCONTINUED, WEXITED, WNOHANG, WUNTRACED};
use weft_arch::trap::TrapFrame;
use weft_sched::Intent;

use super::{SysResult, copy_out, put_u32, put_u64, read_cstr, read_str_array};
use crate::proc::uthread::{self, ThreadInit, me};
use crate::proc::{ProcState, Process, exec, wstatus_exited, wstatus_signaled};
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
    };
    if flags & CLONE_PARENT_SETTID != 0 {
        put_u32(ptid, tid)?;
    }
    if flags & CLONE_THREAD != 0 {
        if flags & CLONE_CHILD_SETTID != 0 {
            put_u32(ctid, tid)?;
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
    let child = Process::new(tid, Some(&parent), aspace.clone(), files, &name);
    if flags & CLONE_CHILD_SETTID != 0 {
        aspace.write_bytes(ctid, &tid.to_le_bytes())?;
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

/// Sleeps on `wq` until `cond` holds (or the caller is told to exit).
fn wait_on(
    wq: &weft_sched::WaitQueue<crate::task::Thread, crate::task::KernelPlatform>,
    cond: impl Fn() -> bool,
) -> bool {
    let me = task::current().expect("thread");
    loop {
        wq.prepare_to_wait(&me);
        if cond() {
            wq.finish_wait(&me);
            return true;
        }
        if crate::fs::interrupted() {
            wq.finish_wait(&me);
            return false;
        }
        task::schedule(Intent::Sleep);
    }
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

pub fn wait4(pid: u64, status: u64, options: u64, rusage: u64) -> SysResult {
    let pid = pid as i32;
    let options = options as u32;
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WEXITED | __WNOTHREAD | __WALL | __WCLONE)
        != 0
    {
        return Err(Errno::EINVAL);
    }
    let (_, p) = me();
    let me_thread = task::current().unwrap();
    loop {
        p.child_wq.prepare_to_wait(&me_thread);
        let found = {
            let mut children = p.children.lock();
            let matching: alloc::vec::Vec<usize> = (0..children.len())
                .filter(|&i| pid <= 0 || children[i].pid as i32 == pid)
                .collect();
            if matching.is_empty() {
                drop(children);
                p.child_wq.finish_wait(&me_thread);
                return Err(Errno::ECHILD);
            }
            let z = matching.into_iter().find(|&i| children[i].is_zombie());
            z.map(|i| children.remove(i))
        };
        if let Some(child) = found {
            p.child_wq.finish_wait(&me_thread);
            task::reap_zombies();
            let ws = match *child.state.lock() {
                ProcState::Zombie { wstatus } => wstatus,
                ProcState::Running => 0,
            };
            if status != 0 {
                put_u32(status, ws as u32)?;
            }
            if rusage != 0 {
                copy_out(rusage, &[0u8; 144])?;
            }
            return Ok(child.pid as u64);
        }
        if options & WNOHANG != 0 {
            p.child_wq.finish_wait(&me_thread);
            return Ok(0);
        }
        if crate::fs::interrupted() {
            p.child_wq.finish_wait(&me_thread);
            return Err(Errno::EINTR);
        }
        task::schedule(Intent::Sleep);
    }
}

/// Signals whose default action is to ignore them.
fn ignored_by_default(sig: u32) -> bool {
    use weft_abi::signal::*;
    matches!(sig, SIGCHLD | SIGURG | SIGWINCH | SIGCONT)
}

/// Delivers `sig` to process `p` with its default action. Signal handlers and
/// stop/continue are the signals issue's work; until then every signal that is not
/// ignored by default terminates the process, as its default action says (stop
/// signals are ignored; documented in docs/syscalls.md).
pub fn send_signal(p: &Arc<Process>, sig: u32) {
    use weft_abi::signal::*;
    if sig == 0 || ignored_by_default(sig) || matches!(sig, SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU) {
        return;
    }
    if !p.exiting.swap(true, Ordering::AcqRel) {
        p.exit_status
            .store(wstatus_signaled(sig as i32) as u32, Ordering::Release);
    }
    let threads: alloc::vec::Vec<_> = p.threads.lock().clone();
    for t in threads {
        if let Some(ut) = t.user.as_ref() {
            ut.kill.store(true, Ordering::Release);
            ut.resume_permit.store(true, Ordering::Release);
        }
        task::wake(&t);
        if let Some(c) = weft_sched::Schedulable::sched(&*t).cpu() {
            task::kick(c);
        }
    }
}

fn check_sig(sig: u64) -> Result<u32, Errno> {
    if sig > 64 {
        Err(Errno::EINVAL)
    } else {
        Ok(sig as u32)
    }
}

pub fn kill(pid: u64, sig: u64) -> SysResult {
    let sig = check_sig(sig)?;
    let pid = pid as i32;
    if pid <= 0 {
        // Process groups and "every process" are not implemented (docs/syscalls.md).
        return Err(Errno::ENOSYS);
    }
    let target = crate::proc::find(pid as u32)
        .filter(|p| !p.is_zombie())
        .ok_or(Errno::ESRCH)?;
    send_signal(&target, sig);
    Ok(0)
}

fn find_thread(p: &Arc<Process>, tid: u32) -> Option<Arc<crate::task::Thread>> {
    p.threads
        .lock()
        .iter()
        .find(|t| t.tid() as u32 == tid)
        .cloned()
}

pub fn tgkill(tgid: u64, tid: u64, sig: u64) -> SysResult {
    let sig = check_sig(sig)?;
    if tgid as i32 <= 0 || tid as i32 <= 0 {
        return Err(Errno::EINVAL);
    }
    let p = crate::proc::find(tgid as u32).ok_or(Errno::ESRCH)?;
    find_thread(&p, tid as u32).ok_or(Errno::ESRCH)?;
    send_signal(&p, sig);
    Ok(0)
}

pub fn tkill(tid: u64, sig: u64) -> SysResult {
    let sig = check_sig(sig)?;
    if tid as i32 <= 0 {
        return Err(Errno::EINVAL);
    }
    let (_, p) = me();
    if find_thread(&p, tid as u32).is_some() {
        send_signal(&p, sig);
        return Ok(0);
    }
    // A thread of another process.
    let owner = crate::proc::find_thread_owner(tid as u32).ok_or(Errno::ESRCH)?;
    send_signal(&owner, sig);
    Ok(0)
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

pub fn rt_sigprocmask(how: u64, set: u64, oldset: u64, size: u64) -> SysResult {
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let (t, _) = me();
    let ut = t.user.as_ref().unwrap();
    let old = ut.sigmask.load(Ordering::Acquire);
    if set != 0 {
        let s = weft_mm::user::read_user_u64(set).map_err(|_| Errno::EFAULT)?;
        let new = match how as u32 {
            SIG_BLOCK => old | s,
            SIG_UNBLOCK => old & !s,
            SIG_SETMASK => s,
            _ => return Err(Errno::EINVAL),
        };
        ut.sigmask.store(new & !UNBLOCKABLE, Ordering::Release);
    }
    if oldset != 0 {
        put_u64(oldset, old)?;
    }
    Ok(0)
}

pub fn rt_sigaction(sig: u64, _act: u64, _old: u64, size: u64) -> SysResult {
    if size != 8 || sig == 0 || sig > 64 {
        return Err(Errno::EINVAL);
    }
    // Handlers arrive with the signals issue; until then the call is not
    // implemented rather than silently ignored (docs/syscalls.md).
    Err(Errno::ENOSYS)
}
