//! User threads: creation (first thread, clone, the seed API), the return-to-user
//! checks, and exit.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use spin::Mutex;
use weft_abi::Errno;
use weft_arch::context::{self, Context};
use weft_arch::trap::TrapFrame;
use weft_arch::{cpu, percpu};
use weft_sched::{Completion, Intent, Schedulable, ThreadSched};

use super::{Process, process_exited};
use crate::task::{self, KernelPlatform, Thread, after_switch, current, sched, schedule};

/// Kernel stack of a user thread, in pages.
pub const USER_KSTACK_PAGES: usize = 8;

/// The user part of a thread.
pub struct UserThread {
    pub process: Arc<Process>,
    /// Register state the thread starts with (taken by its first run).
    initial: Mutex<Option<TrapFrame>>,
    /// `set_tid_address` / CLONE_CHILD_CLEARTID: zeroed and futex-woken at exit.
    pub clear_child_tid: AtomicU64,
    /// `set_robust_list` head and length.
    pub robust_head: AtomicU64,
    pub robust_len: AtomicU64,
    /// Blocked signals (written under the process's signal lock; read freely).
    pub sigmask: AtomicU64,
    /// Signal work waits: a deliverable signal is pending or the group stops.
    pub sig_hint: AtomicBool,
    /// Pending signals, alternate stack, sigsuspend mask, restart block.
    pub sig: weft_sched::IrqSpinLock<super::signal::ThreadSignals, KernelPlatform>,
    /// This thread must exit at its next return to user mode.
    pub kill: AtomicBool,
    /// Seed thread API: exit value and completion (joinability: `Process::joinable`).
    pub exit_value: AtomicU64,
    pub done: Completion<Thread, KernelPlatform>,
    /// tsuspend/tresume: a resume permit (a resume before the suspend is not lost).
    pub resume_permit: AtomicBool,
    pub suspended: AtomicBool,
    /// A stack the kernel mapped for thread_create (unmapped at exit).
    pub auto_stack: AtomicU64,
    pub auto_stack_len: AtomicU64,
}

impl UserThread {
    fn new(process: Arc<Process>, frame: TrapFrame) -> UserThread {
        UserThread {
            process,
            initial: Mutex::new(Some(frame)),
            clear_child_tid: AtomicU64::new(0),
            robust_head: AtomicU64::new(0),
            robust_len: AtomicU64::new(0),
            sigmask: AtomicU64::new(0),
            sig_hint: AtomicBool::new(false),
            sig: weft_sched::IrqSpinLock::new(super::signal::ThreadSignals::default()),
            kill: AtomicBool::new(false),
            exit_value: AtomicU64::new(0),
            done: Completion::new(),
            resume_permit: AtomicBool::new(false),
            suspended: AtomicBool::new(false),
            auto_stack: AtomicU64::new(0),
            auto_stack_len: AtomicU64::new(0),
        }
    }
}

/// Per-thread state a new thread starts with.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadInit {
    pub fs_base: u64,
    pub gs_base: u64,
    pub sigmask: u64,
    pub joinable: bool,
    pub clear_child_tid: u64,
    /// The alternate signal stack the thread starts with.
    pub altstack: weft_signal::AltStack,
    /// A stack the kernel mapped for the thread (address, length): unmapped at its
    /// exit. Set before the thread can run, so that an immediate exit frees it.
    pub auto_stack: (u64, u64),
}

/// Creates a user thread of `p` that starts with register state `frame` and queues
/// it. `tid` must be fresh (`task::alloc_tid`). Errors: EAGAIN past the thread limit
/// or when the process is exiting, ENOMEM without memory for a kernel stack.
pub fn spawn(
    p: &Arc<Process>,
    tid: u32,
    frame: TrapFrame,
    init: ThreadInit,
) -> Result<Arc<Thread>, Errno> {
    {
        let mut threads = p.threads.lock();
        if p.exiting.load(Ordering::Acquire)
            || threads.len() >= p.thread_limit.load(Ordering::Relaxed)
        {
            return Err(Errno::EAGAIN);
        }
        // Reserve the slot now so concurrent clones cannot overshoot the limit.
        threads.reserve(1);
    }
    // Free threads that died on any CPU first: a create/exit loop must not run out
    // of memory while dead threads wait for an idle moment to be freed.
    task::reap_zombies();
    let stack = weft_mm::alloc_kernel_stack(USER_KSTACK_PAGES).ok_or(Errno::ENOMEM)?;
    let ctx = Context::new_user(Box::new(stack), user_thread_entry, 0, 0);
    ctx.fs_base.store(init.fs_base, Ordering::Relaxed);
    ctx.gs_base.store(init.gs_base, Ordering::Relaxed);
    let ut = UserThread::new(p.clone(), frame);
    ut.sigmask.store(init.sigmask, Ordering::Relaxed);
    ut.sig.lock().altstack = init.altstack;
    ut.auto_stack.store(init.auto_stack.0, Ordering::Relaxed);
    ut.auto_stack_len
        .store(init.auto_stack.1, Ordering::Relaxed);
    ut.clear_child_tid
        .store(init.clear_child_tid, Ordering::Relaxed);
    let name = p.name.lock().clone();
    let t = Arc::new(Thread::new_user(
        tid as u64,
        &name,
        ThreadSched::new(),
        ctx,
        ut,
    ));
    {
        let mut threads = p.threads.lock();
        if p.exiting.load(Ordering::Acquire)
            || threads.len() >= p.thread_limit.load(Ordering::Relaxed)
        {
            return Err(Errno::EAGAIN);
        }
        threads.push(t.clone());
        p.nr_threads.fetch_add(1, Ordering::AcqRel);
    }
    sched().add_new(t.clone(), percpu::cpu_id());
    Ok(t)
}

/// Starts the first thread of a freshly exec'd process at the image's entry.
pub fn spawn_initial(p: &Arc<Process>, tid: u32, image: super::exec::Loaded) -> Result<(), Errno> {
    let frame = TrapFrame {
        rip: image.entry,
        rsp: image.rsp,
        rflags: weft_abi::thread::INITIAL_RFLAGS,
        ..TrapFrame::default()
    };
    spawn(p, tid, frame, ThreadInit::default()).map(|_| ())
}

extern "C" fn user_thread_entry(_: usize, _: usize) -> ! {
    after_switch(context::take_last::<Thread>());
    cpu::enable_interrupts();
    let frame = {
        let me = current().expect("new user thread is not current");
        let ut = me.user.as_ref().expect("user thread without its user part");

        ut.initial.lock().take().expect("user thread started twice")
    };
    // The frame goes to the top of this thread's kernel stack; interrupts are
    // disabled there and re-enabled by iretq.
    weft_arch::syscall::enter_user_with(&frame)
}

/// The running user thread's parts, or None for kernel threads.
pub fn current_user() -> Option<(Arc<Thread>, Arc<Process>)> {
    let t = current()?;
    let p = t.user.as_ref()?.process.clone();
    Some((t, p))
}

/// On every return to user mode (syscall or interrupt): signal work (exit, stop,
/// handlers, system call restarts) when a flag says there is some.
pub fn check_return_to_user(f: &mut TrapFrame) {
    if !f.from_user() {
        return;
    }
    let Some(t) = current() else { return };
    let Some(ut) = t.user.as_ref() else { return };
    let restart_code =
        f.vector == weft_arch::syscall::SYSCALL_VECTOR && (-516..=-512).contains(&(f.rax as i64));
    if super::signal::has_work(ut) || restart_code {
        drop(t);
        super::signal::on_return_to_user(f);
    }
}

/// Tells every other thread of `p` to exit and kicks them out of sleeps.
pub fn kill_others(p: &Arc<Process>, me: &Arc<Thread>) {
    let others: alloc::vec::Vec<Arc<Thread>> = p
        .threads
        .lock()
        .iter()
        .filter(|t| !Arc::ptr_eq(t, me))
        .cloned()
        .collect();
    for t in others {
        if let Some(ut) = t.user.as_ref() {
            ut.kill.store(true, Ordering::Release);
            ut.resume_permit.store(true, Ordering::Release);
        }
        task::wake(&t);
        if let Some(c) = t.sched().cpu() {
            task::kick(c);
        }
    }
}

/// Ends the whole thread group with wait status `wstatus`.
pub fn exit_group(wstatus: i32) -> ! {
    let (me, p) = current_user().expect("exit_group from a kernel thread");
    if !p.exiting.swap(true, Ordering::AcqRel) {
        p.exit_status.store(wstatus as u32, Ordering::Release);
    }
    kill_others(&p, &me);
    drop((me, p));
    exit_thread(0, wstatus)
}

/// Ends the calling user thread with `value` (kept for thread_join). The last thread
/// of a process ends the process, with wait status `wstatus_if_last` unless the group
/// is already exiting with another status.
pub fn exit_thread(value: u64, wstatus_if_last: i32) -> ! {
    {
        let (me, p) = current_user().expect("exit_thread from a kernel thread");
        let ut = me.user.as_ref().unwrap();
        ut.exit_value.store(value, Ordering::Release);
        // Robust futexes first, then the clear-child-tid word (Linux's order: a
        // joiner woken by the tid wake may free the memory holding the list).
        crate::futex::thread_exit(&me, &p);
        let ctid = ut.clear_child_tid.swap(0, Ordering::AcqRel);
        if ctid != 0 && weft_mm::user::write_user_u32(ctid, 0).is_ok() {
            crate::futex::wake_address(&p, ctid, 1);
        }
        let stack_len = ut.auto_stack_len.swap(0, Ordering::AcqRel);
        if stack_len != 0
            && let Some(a) = p.aspace()
        {
            let _ = a.munmap(ut.auto_stack.load(Ordering::Relaxed), stack_len);
        }
        task::complete(&ut.done);
        let last = {
            let mut threads = p.threads.lock();
            threads.retain(|t| !Arc::ptr_eq(t, &me));
            p.nr_threads.fetch_sub(1, Ordering::AcqRel) == 1
        };
        task::wake_all(&p.threads_wq);
        if last {
            if !p.exiting.swap(true, Ordering::AcqRel) {
                p.exit_status
                    .store(wstatus_if_last as u32, Ordering::Release);
            }
            // Leave the address space before it is released.
            crate::task::leave_address_space();
            process_exited(&p);
        }
    }
    schedule(Intent::Exit);
    unreachable!("a dead user thread was scheduled again")
}

/// The running thread's user part (panics in kernel threads).
pub fn me() -> (Arc<Thread>, Arc<Process>) {
    current_user().expect("system call from a kernel thread")
}

/// Allocates a tid for a new thread.
pub fn new_tid() -> u32 {
    task::alloc_tid() as u32
}
