//! Processes and user threads.
//!
//! A process is a thread group: one address space, one descriptor table, one
//! parent/children relationship and exit status. A user thread is a scheduler
//! [`Thread`] with a [`UserThread`] part naming its process and holding its
//! per-thread state (clear-child-tid address, robust list, signal mask, name).
//!
//! Lifetimes: a process holds its live threads (`threads`) and its joinable seed
//! threads until they are joined (`joinable`), a thread holds its process
//! (`UserThread::process`); the cycles are broken when the thread exits and, for
//! threads nobody joined, when the process exits. A dead process (zombie) stays in
//! its parent's `children` until `wait4` reaps it. The descriptor table and the
//! working directory may be shared with other processes (`CLONE_FILES`,
//! `CLONE_FS`): a shared table is closed by its last user.
//!
//! Lock order (outermost first): `PROCESSES` → a process's `children` → its
//! `threads` → its `state`. None of them is held while sleeping or while calling into
//! the scheduler's blocking paths.

pub mod exec;
pub mod signal;
pub mod syscall;
pub mod timers;
pub mod uthread;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use spin::{Mutex, RwLock};

use weft_abi::Errno;
use weft_mm::user::AddressSpace;
use weft_sched::WaitQueue;
use weft_vfs::FdTable;

use crate::task::{KernelPlatform, Thread};

pub use uthread::UserThread;

/// Most threads one process may have (EAGAIN past it). Each costs a 32 KiB kernel
/// stack plus its user stack; 1024 keeps a 128 MiB machine safe.
pub const THREAD_LIMIT: usize = 1024;

/// Lifecycle of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcState {
    Running,
    /// All threads are gone; `wstatus` is the Linux wait status word.
    Zombie {
        wstatus: i32,
    },
}

/// A process (thread group).
pub struct Process {
    pub pid: u32,
    pub parent: Mutex<Weak<Process>>,
    pub children: Mutex<Vec<Arc<Process>>>,
    pub threads: Mutex<Vec<Arc<Thread>>>,
    /// Joinable threads made by thread_create, until joined or detached.
    pub joinable: Mutex<BTreeMap<u32, Arc<Thread>>>,
    /// Only locked with interrupts disabled (the context switch reads it).
    aspace: Mutex<Option<Arc<AddressSpace>>>,
    pub files: RwLock<Arc<FdTable>>,
    /// Current working directory: shared by the threads of the process and by
    /// processes cloned with `CLONE_FS`; fork copies it.
    pub cwd: Arc<Mutex<Arc<weft_vfs::Inode>>>,
    pub state: Mutex<ProcState>,
    /// Set once the group is going away (exit_group, fatal signal, exec of another
    /// thread); every thread exits at its next return to user mode.
    pub exiting: AtomicBool,
    pub exit_status: AtomicU32,
    /// Woken when a child changes state (for `wait4`).
    pub child_wq: WaitQueue<Thread, KernelPlatform>,
    /// Woken when this process's thread count drops (for exec waiting on its peers).
    pub threads_wq: WaitQueue<Thread, KernelPlatform>,
    pub nr_threads: AtomicUsize,
    pub name: Mutex<String>,
    /// Completed when a vfork child execs or exits.
    pub vfork_done: AtomicBool,
    pub vfork_wq: WaitQueue<Thread, KernelPlatform>,
    pub thread_limit: AtomicUsize,
    /// Signal actions, shared pending set, group stop (lock order: before any
    /// thread's `UserThread::sig`).
    pub sig: weft_sched::IrqSpinLock<signal::ProcSignals, KernelPlatform>,
    /// Threads of a stopped group wait here for SIGCONT.
    pub stop_wq: WaitQueue<Thread, KernelPlatform>,
    /// A stop or continue not yet reported to the parent's wait.
    pub wait_report: Mutex<Option<signal::WaitReport>>,
    /// Process group and session ids.
    pub pgid: AtomicU32,
    pub sid: AtomicU32,
    /// Signal sent to the parent when this process ends (clone's low byte; SIGCHLD).
    pub exit_signal: AtomicU32,
}

static PROCESSES: Mutex<BTreeMap<u32, Weak<Process>>> = Mutex::new(BTreeMap::new());
static INIT: spin::Once<Arc<Process>> = spin::Once::new();

impl Process {
    /// A new, empty process (no threads yet) with working directory `cwd` (see
    /// [`Process::cwd`] and [`new_cwd`]).
    pub fn new(
        pid: u32,
        parent: Option<&Arc<Process>>,
        aspace: Arc<AddressSpace>,
        files: Arc<FdTable>,
        cwd: Arc<Mutex<Arc<weft_vfs::Inode>>>,
        name: &str,
    ) -> Arc<Process> {
        let p = Arc::new(Process {
            pid,
            parent: Mutex::new(parent.map(Arc::downgrade).unwrap_or_default()),
            children: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
            joinable: Mutex::new(BTreeMap::new()),
            aspace: Mutex::new(Some(aspace)),
            files: RwLock::new(files),
            cwd,
            state: Mutex::new(ProcState::Running),
            exiting: AtomicBool::new(false),
            exit_status: AtomicU32::new(0),
            child_wq: WaitQueue::new(),
            threads_wq: WaitQueue::new(),
            nr_threads: AtomicUsize::new(0),
            name: Mutex::new(String::from(name)),
            vfork_done: AtomicBool::new(false),
            vfork_wq: WaitQueue::new(),
            thread_limit: AtomicUsize::new(THREAD_LIMIT),
            sig: weft_sched::IrqSpinLock::new(signal::ProcSignals::new(
                parent.map_or_else(weft_signal::Actions::new, |p| signal::fork_actions(p)),
            )),
            stop_wq: WaitQueue::new(),
            wait_report: Mutex::new(None),
            pgid: AtomicU32::new(parent.map_or(pid, |p| p.pgid.load(Ordering::Relaxed))),
            sid: AtomicU32::new(parent.map_or(pid, |p| p.sid.load(Ordering::Relaxed))),
            exit_signal: AtomicU32::new(weft_abi::signal::SIGCHLD),
        });
        PROCESSES.lock().insert(pid, Arc::downgrade(&p));
        if let Some(parent) = parent {
            parent.children.lock().push(p.clone());
        }
        p
    }

    /// The address space (None only after the process has exited).
    pub fn aspace(&self) -> Option<Arc<AddressSpace>> {
        let _irq = weft_arch::cpu::IrqGuard::new();
        self.aspace.lock().clone()
    }

    /// Replaces the address space (exec, exit); returns the old one, to be dropped
    /// by the caller with interrupts enabled.
    pub fn set_aspace(&self, new: Option<Arc<AddressSpace>>) -> Option<Arc<AddressSpace>> {
        let _irq = weft_arch::cpu::IrqGuard::new();
        core::mem::replace(&mut *self.aspace.lock(), new)
    }

    /// The current working directory.
    pub fn cwd(&self) -> Arc<weft_vfs::Inode> {
        self.cwd.lock().clone()
    }

    /// The descriptor table.
    pub fn files(&self) -> Arc<FdTable> {
        self.files.read().clone()
    }

    /// The parent's pid (0 for init or an orphan whose parent is gone).
    pub fn ppid(&self) -> u32 {
        self.parent.lock().upgrade().map_or(0, |p| p.pid)
    }

    /// Whether the process has exited.
    pub fn is_zombie(&self) -> bool {
        matches!(*self.state.lock(), ProcState::Zombie { .. })
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        PROCESSES.lock().remove(&self.pid);
    }
}

/// A working directory of its own (not shared), starting at `dir`.
pub fn new_cwd(dir: Arc<weft_vfs::Inode>) -> Arc<Mutex<Arc<weft_vfs::Inode>>> {
    Arc::new(Mutex::new(dir))
}

/// Finds a live process by pid.
pub fn find(pid: u32) -> Option<Arc<Process>> {
    PROCESSES.lock().get(&pid)?.upgrade()
}

/// Every live process (zombies included).
pub fn all() -> Vec<Arc<Process>> {
    PROCESSES
        .lock()
        .values()
        .filter_map(Weak::upgrade)
        .collect()
}

/// The process that has a thread with id `tid`.
pub fn find_thread_owner(tid: u32) -> Option<Arc<Process>> {
    let procs: Vec<Arc<Process>> = PROCESSES
        .lock()
        .values()
        .filter_map(Weak::upgrade)
        .collect();
    procs
        .into_iter()
        .find(|p| p.threads.lock().iter().any(|t| t.tid() as u32 == tid))
}

/// The init process, once started.
pub fn init_process() -> Option<Arc<Process>> {
    INIT.get().cloned()
}

/// Number of processes that exist (including zombies not yet reaped).
pub fn process_count() -> usize {
    PROCESSES.lock().len()
}

/// Runs `f` with the process table locked (a kernel test: an interrupt that
/// arrives while its CPU holds the table).
pub fn with_table_locked<R>(f: impl FnOnce() -> R) -> R {
    let _table = PROCESSES.lock();
    f()
}

/// Wait status for a normal exit with `code`.
pub fn wstatus_exited(code: i32) -> i32 {
    (code & 0xff) << 8
}

/// Wait status for death by signal `sig`.
pub fn wstatus_signaled(sig: i32) -> i32 {
    sig & 0x7f
}

/// The SIGCHLD `si_code` and `si_status` for a final wait status.
pub fn cld_code(wstatus: i32) -> (i32, i32) {
    use weft_abi::signal::{CLD_DUMPED, CLD_EXITED, CLD_KILLED};
    if wstatus & 0x7f == 0 {
        (CLD_EXITED, (wstatus >> 8) & 0xff)
    } else if wstatus & 0x80 != 0 {
        (CLD_DUMPED, wstatus & 0x7f)
    } else {
        (CLD_KILLED, wstatus & 0x7f)
    }
}

/// Called by the last thread of `p` as it exits: the process becomes a zombie,
/// its children go to init, its resources are released and its parent is told.
pub fn process_exited(p: &Arc<Process>) {
    let wstatus = p.exit_status.load(Ordering::Acquire) as i32;
    // Release memory and files now, as Linux does; the zombie keeps only its status.
    // A table shared with other processes (CLONE_FILES) is closed by its last user.
    let files = core::mem::replace(&mut *p.files.write(), Arc::new(FdTable::new()));
    if let Some(files) = Arc::into_inner(files) {
        files.close_all();
    }
    // Threads nobody joined: they hold the process (`UserThread::process`), so
    // keeping them would keep the process forever. Dropped after the lock.
    let unjoined = core::mem::take(&mut *p.joinable.lock());
    drop(unjoined);
    let aspace = p.set_aspace(None);
    drop(aspace); // no CPU has it loaded: this thread switched to the kernel tables
    // Orphans go to init.
    let orphans = core::mem::take(&mut *p.children.lock());
    let init = init_process();
    if !orphans.is_empty()
        && let Some(init) = init.as_ref().filter(|i| !Arc::ptr_eq(i, p))
    {
        for c in &orphans {
            *c.parent.lock() = Arc::downgrade(init);
        }
        init.children.lock().extend(orphans);
        crate::task::wake_all(&init.child_wq);
    }
    p.vfork_done.store(true, Ordering::Release);
    crate::task::wake_all(&p.vfork_wq);
    timers::drop_all(p);
    let parent = p.parent.lock().upgrade();
    // A parent that ignores SIGCHLD (or set SA_NOCLDWAIT) gets no zombie: the child
    // leaves its list before it could be seen as one.
    if let Some(parent) = parent.as_ref()
        && signal::auto_reap(parent)
        && p.exit_signal.load(Ordering::Relaxed) == weft_abi::signal::SIGCHLD
    {
        parent.children.lock().retain(|c| !Arc::ptr_eq(c, p));
    }
    *p.state.lock() = ProcState::Zombie { wstatus };
    match parent {
        Some(_) => {
            let (code, status) = cld_code(wstatus);
            signal::notify_parent(p, code, status);
        }
        None => {
            if init.as_ref().is_some_and(|i| Arc::ptr_eq(i, p)) {
                crate::init_exited(wstatus);
            }
        }
    }
}

/// Sets up process 1 from `/bin/init` (or the path given) with `argv`, and starts it.
pub fn start_init(path: &str, argv: &[&str]) -> Result<Arc<Process>, Errno> {
    let files = Arc::new(FdTable::new());
    crate::fs::open_console_fds(&files)?;
    let aspace = AddressSpace::new()?;
    let tid = crate::task::alloc_tid() as u32;
    let cwd = new_cwd(crate::fs::vfs().root());
    let p = Process::new(tid, None, aspace, files, cwd, "init");
    INIT.call_once(|| p.clone());
    let envp = ["HOME=/", "PATH=/bin", "TERM=dumb"];
    let image = exec::load(&p, path, argv, &envp)?;
    uthread::spawn_initial(&p, tid, image)?;
    Ok(p)
}
