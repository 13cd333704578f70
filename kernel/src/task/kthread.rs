//! Kernel threads: spawn (with a name and optional affinity), exit with a value,
//! join, detach.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use spin::Mutex;
use weft_arch::context::{self, Context};
use weft_arch::{cpu, percpu};
use weft_sched::{Completion, CpuSet, Intent, ThreadSched};

use super::{KernelPlatform, Thread, after_switch, current, reap_zombies, sched, schedule};

/// Kernel stack size of a kernel thread, in pages.
pub const KTHREAD_STACK_PAGES: usize = 8;

/// Exit value reported for a kernel thread killed by a kernel stack overflow.
pub const EXIT_STACK_OVERFLOW: u64 = u64::MAX - 1;

type Entry = Box<dyn FnOnce() -> u64 + Send>;

/// The kernel-thread part of a [`Thread`].
pub struct KernelThread {
    entry: Mutex<Option<Entry>>,
    exit_value: AtomicU64,
    done: Completion<Thread, KernelPlatform>,
    detached: AtomicBool,
}

/// Owning handle of a spawned kernel thread; dropping it detaches the thread.
pub struct JoinHandle {
    thread: Option<Arc<Thread>>,
}

impl JoinHandle {
    /// The thread.
    pub fn thread(&self) -> &Arc<Thread> {
        self.thread.as_ref().expect("handle already consumed")
    }

    /// Waits for the thread to exit and returns its exit value.
    pub fn join(mut self) -> u64 {
        let t = self.thread.take().expect("handle already consumed");
        let kt = t.kernel.as_ref().expect("not a kernel thread");
        let me = current().expect("join called outside a thread");
        while !kt.done.prepare_to_wait(&me) {
            schedule(Intent::Sleep);
        }
        kt.exit_value.load(Ordering::Acquire)
    }

    /// Lets the thread run on its own; its resources are freed when it exits.
    pub fn detach(mut self) {
        if let Some(t) = self.thread.take()
            && let Some(kt) = t.kernel.as_ref()
        {
            kt.detached.store(true, Ordering::Release);
        }
    }
}

impl Drop for JoinHandle {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take()
            && let Some(kt) = t.kernel.as_ref()
        {
            kt.detached.store(true, Ordering::Release);
        }
    }
}

/// Builder-style options for [`spawn_with`].
pub struct Options<'a> {
    pub name: &'a str,
    pub affinity: Option<CpuSet>,
    pub pinned: Option<usize>,
}

/// Spawns a kernel thread running `f`; its return value is the exit value.
pub fn spawn(name: &str, f: impl FnOnce() -> u64 + Send + 'static) -> JoinHandle {
    spawn_with(
        Options {
            name,
            affinity: None,
            pinned: None,
        },
        f,
    )
    .expect("out of memory spawning a kernel thread")
}

/// Spawns a kernel thread with options. `None` if there is no memory for its stack.
pub fn spawn_with(opts: Options, f: impl FnOnce() -> u64 + Send + 'static) -> Option<JoinHandle> {
    // Free this CPU's dead threads first: a thread that spawns and joins in a loop
    // on a busy CPU may never let the idle loop run.
    reap_zombies();
    let stack = weft_mm::alloc_kernel_stack(KTHREAD_STACK_PAGES)?;
    let sched_info = match opts.pinned {
        Some(c) => ThreadSched::new_pinned(c),
        None => ThreadSched::new(),
    };
    let t = Arc::new(Thread::new(
        opts.name,
        sched_info,
        Context::new(Box::new(stack), kthread_entry, 0, 0),
        Some(KernelThread {
            entry: Mutex::new(Some(Box::new(f))),
            exit_value: AtomicU64::new(0),
            done: Completion::new(),
            detached: AtomicBool::new(false),
        }),
    ));
    if let Some(mask) = opts.affinity {
        sched().set_affinity(&t, mask, percpu::cpu_id()).ok()?;
    }
    sched().add_new(t.clone(), percpu::cpu_id());
    Some(JoinHandle { thread: Some(t) })
}

extern "C" fn kthread_entry(_: usize, _: usize) -> ! {
    after_switch(context::take_last::<Thread>());
    cpu::enable_interrupts();
    let entry = {
        let me = current().expect("new kernel thread is not current");
        let kt = me.kernel.as_ref().expect("kernel thread without its entry");
        kt.entry
            .lock()
            .take()
            .expect("kernel thread entry already taken")
    };
    let value = entry();
    exit(value)
}

/// Ends the current kernel thread with `value`.
pub fn exit(value: u64) -> ! {
    {
        let me = current().expect("exit called outside a thread");
        let kt = me.kernel.as_ref().expect("not a kernel thread");
        kt.exit_value.store(value, Ordering::Release);
        super::complete(&kt.done);
        // `me` is dropped here: a frame that never resumes must not hold references.
    }
    schedule(Intent::Exit);
    unreachable!("a dead kernel thread was scheduled again")
}

/// Ends the current kernel thread after a fatal fault in it (called from the
/// fault handler, on its IST stack). Returns false if the fault did not happen in a
/// kernel thread (the caller then stops the machine).
pub fn die_from_fault(value: u64) -> bool {
    let is_kthread = current().is_some_and(|t| t.kernel.is_some());
    if !is_kthread {
        return false;
    }
    exit(value)
}
