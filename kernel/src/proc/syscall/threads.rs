//! The seed thread API (extension calls; documented in weft-abi's `nr` module).

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use weft_abi::Errno;
use weft_abi::mman::{MAP_ANONYMOUS, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE};
use weft_abi::thread::{
    DEFAULT_STACK_SIZE, MAX_STACK_SIZE, NAME_MAX, THREAD_DETACHED, THREAD_FLAGS_ALL, THREAD_SETTLS,
    initial_rsp,
};
use weft_arch::trap::TrapFrame;
use weft_sched::{Intent, Schedulable};

use super::{SysResult, copy_out, put_u64};
use crate::proc::uthread::{self, ThreadInit, me};
use crate::task::{self, Thread};

fn find(tid: u64) -> Result<Arc<Thread>, Errno> {
    let (t, p) = me();
    if tid == 0 || tid == t.tid() {
        return Ok(t);
    }
    p.threads
        .lock()
        .iter()
        .find(|x| x.tid() == tid)
        .cloned()
        .ok_or(Errno::ESRCH)
}

pub fn create(
    entry: u64,
    arg: u64,
    stack: u64,
    stack_size: u64,
    flags: u64,
    tls: u64,
) -> SysResult {
    if flags & !THREAD_FLAGS_ALL != 0 || entry == 0 || entry >= weft_mm::user::USER_LIMIT {
        return Err(Errno::EINVAL);
    }
    let (me_t, p) = me();
    let aspace = p.aspace().ok_or(Errno::EFAULT)?;
    let mut auto = (0, 0);
    let top = if stack == 0 {
        let size = if stack_size == 0 {
            DEFAULT_STACK_SIZE
        } else {
            stack_size.div_ceil(4096) * 4096
        };
        if size > MAX_STACK_SIZE {
            return Err(Errno::EINVAL);
        }
        let base = aspace.mmap(
            0,
            size + 4096,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
        )?;
        aspace.mprotect(base, 4096, PROT_NONE)?; // guard page below the stack
        auto = (base, size + 4096);
        base + size + 4096
    } else {
        stack
    };
    let rsp = initial_rsp(top);
    // The zero return address the thread "was called" with: a user write (EFAULT on a
    // stack the program may not write, e.g. PROT_READ, PROT_NONE or its text).
    if let Err(e) = copy_out(rsp, &0u64.to_le_bytes()) {
        if auto.1 != 0 {
            let _ = aspace.munmap(auto.0, auto.1);
        }
        return Err(e);
    }
    let frame = TrapFrame {
        rip: entry,
        rsp,
        rdi: arg,
        rflags: weft_abi::thread::INITIAL_RFLAGS,
        ..TrapFrame::default()
    };
    let ut = me_t.user.as_ref().unwrap();
    let init = ThreadInit {
        fs_base: if flags & THREAD_SETTLS != 0 {
            tls
        } else {
            me_t.ctx.fs_base.load(Ordering::Relaxed)
        },
        gs_base: me_t.ctx.gs_base.load(Ordering::Relaxed),
        sigmask: ut.sigmask.load(Ordering::Relaxed),
        joinable: flags & THREAD_DETACHED == 0,
        clear_child_tid: 0,
        altstack: weft_signal::AltStack::disabled(),
        auto_stack: auto,
    };
    let tid = uthread::new_tid();
    match uthread::spawn(&p, tid, frame, init) {
        Ok(t) => {
            if init.joinable {
                p.joinable.lock().insert(tid, t);
            }
            Ok(tid as u64)
        }
        Err(e) => {
            if auto.1 != 0 {
                let _ = aspace.munmap(auto.0, auto.1);
            }
            Err(e)
        }
    }
}

pub fn exit(value: u64) -> SysResult {
    uthread::exit_thread(value, 0)
}

pub fn join(tid: u64, value_ptr: u64) -> SysResult {
    let (me_t, p) = me();
    if tid == me_t.tid() {
        return Err(Errno::EDEADLK);
    }
    if tid == p.pid as u64 {
        return Err(Errno::EPERM);
    }
    let joined = p.joinable.lock().remove(&(tid as u32));
    let t = match joined {
        Some(t) => t,
        None => {
            let exists = p.threads.lock().iter().any(|x| x.tid() == tid);
            return Err(if exists { Errno::EINVAL } else { Errno::ESRCH });
        }
    };
    let ut = t.user.as_ref().unwrap();
    // Not interruptible: the thread is no longer joinable by anyone else.
    while !ut.done.prepare_to_wait(&me_t) {
        task::schedule(Intent::Sleep);
    }
    let v = ut.exit_value.load(Ordering::Acquire);
    if value_ptr != 0 {
        put_u64(value_ptr, v)?;
    }
    Ok(tid)
}

pub fn detach(tid: u64) -> SysResult {
    let (_, p) = me();
    if p.joinable.lock().remove(&(tid as u32)).is_some() {
        return Ok(0);
    }
    let exists = p.threads.lock().iter().any(|x| x.tid() == tid);
    Err(if exists { Errno::EINVAL } else { Errno::ESRCH })
}

pub fn setname(tid: u64, name: u64) -> SysResult {
    let t = find(tid)?;
    let s = super::read_cstr_prefix(name, NAME_MAX + 1)?;
    if s.len() > NAME_MAX {
        return Err(Errno::ERANGE);
    }
    t.set_name(&alloc::string::String::from_utf8_lossy(&s));
    Ok(0)
}

pub fn getname(tid: u64, buf: u64, len: u64) -> SysResult {
    let t = find(tid)?;
    let name = t.name();
    if (len as usize) < name.len() + 1 {
        return Err(Errno::ERANGE);
    }
    let mut b = alloc::vec::Vec::from(name.as_bytes());
    b.push(0);
    copy_out(buf, &b)?;
    Ok(name.len() as u64)
}

pub fn tsuspend() -> SysResult {
    let (me_t, _) = me();
    let ut = me_t.user.as_ref().unwrap();
    loop {
        if ut.resume_permit.swap(false, Ordering::AcqRel) {
            return Ok(0);
        }
        me_t.sched().prepare_sleep();
        ut.suspended.store(true, Ordering::Release);
        if ut.resume_permit.load(Ordering::Acquire) {
            me_t.sched().cancel_sleep();
            ut.suspended.store(false, Ordering::Release);
            continue;
        }
        if crate::fs::interrupted() {
            me_t.sched().cancel_sleep();
            ut.suspended.store(false, Ordering::Release);
            return Err(Errno::EINTR);
        }
        task::schedule(Intent::Sleep);
        ut.suspended.store(false, Ordering::Release);
    }
}

pub fn tresume(tid: u64) -> SysResult {
    let t = find(tid)?;
    let ut = t.user.as_ref().unwrap();
    ut.resume_permit.store(true, Ordering::Release);
    task::wake(&t);
    Ok(0)
}
