//! Threads on Linux `clone`: [`spawn`], [`Builder`], [`JoinHandle`].
//!
//! A thread gets one anonymous mapping, from low to high addresses:
//!
//! ```text
//! [ guard page (PROT_NONE) | stack ... | TCB page ]
//!                                      ^ stack top = TCB address (FS base)
//! ```
//!
//! It is created with `clone(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
//! CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |
//! CLONE_CHILD_CLEARTID)`: the FS base is the thread's [`Tcb`] (whose first word
//! points to itself, as the x86_64 TLS ABI wants), and the kernel stores the new
//! tid in the TCB's `tid` word before `clone` returns and, when the thread has
//! exited, writes 0 there and futex-wakes it. [`JoinHandle::join`] waits for that 0
//! with `FUTEX_WAIT` in a loop with a short timeout that re-checks the word, so a
//! kernel that clears the word but misses the wake only slows the join down. Then
//! it unmaps the thread's memory and returns the closure's result.
//!
//! Dropping a `JoinHandle` detaches the thread: it unmaps its own memory when it
//! ends (after `set_tid_address(NULL)`, so the kernel does not write into the
//! freed TCB).
//!
//! A panic in a thread aborts the whole process (the runtime is `panic = "abort"`).
//!
//! A library of thread-specific data (weft-sync's thread-local keys) gets one word
//! per thread, [`Tcb::specific`] (0 when the thread starts), and one process-wide
//! [`set_exit_hook`] that every thread made by [`spawn`] or [`crate::wthread::spawn`]
//! runs on itself when its closure has returned, before it exits. The main thread
//! does not run it (returning from `main` ends the process).

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::arch::{asm, global_asm};
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering::*};
use core::time::Duration;

use weft_abi::clone::*;
use weft_abi::mman::{PAGE_SIZE, PROT_NONE};
use weft_abi::sched::CpuSet;
use weft_abi::time::Timespec;
use weft_abi::{Errno, nr};

use crate::sys::{self, Pid};

const PAGE: usize = PAGE_SIZE as usize;
/// Size of the guard page below every thread stack.
pub const GUARD_SIZE: usize = PAGE;
/// Stack size of [`spawn`] (virtual; pages are populated on demand).
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// Smallest stack [`Builder::stack_size`] accepts (smaller values are raised).
pub const MIN_STACK_SIZE: usize = 2 * PAGE;

/// The clone flags of [`spawn`].
pub const THREAD_FLAGS: u64 = CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID;

const RUNNING: u32 = 0;
const EXITED: u32 = 1;
const DETACHED: u32 = 2;

/// The thread control block the FS base points to.
#[repr(C)]
pub struct Tcb {
    /// Address of this TCB (`fs:[0]`), per the x86_64 TLS ABI.
    pub self_ptr: *mut Tcb,
    /// The thread id: set by the kernel (`CLONE_PARENT_SETTID`), cleared to 0 and
    /// futex-woken at exit (`CLONE_CHILD_CLEARTID`).
    pub tid: AtomicU32,
    state: AtomicU32,
    map_base: usize,
    map_len: usize,
    start: *mut Box<dyn FnOnce() + Send>,
    /// One word for a thread-specific-data library (see [`set_exit_hook`]): 0 when
    /// the thread starts; the runtime never touches it otherwise.
    pub specific: AtomicUsize,
}

impl Tcb {
    /// A blank TCB (no thread yet).
    pub(crate) const fn empty() -> Tcb {
        Tcb {
            self_ptr: null_mut(),
            tid: AtomicU32::new(0),
            state: AtomicU32::new(RUNNING),
            map_base: 0,
            map_len: 0,
            start: null_mut(),
            specific: AtomicUsize::new(0),
        }
    }
}

static EXIT_HOOK: AtomicPtr<()> = AtomicPtr::new(null_mut());

/// Installs `hook`, run by every thread made by [`spawn`] or
/// [`crate::wthread::spawn`] on itself after its closure returned, just before it
/// exits (thread-local destructors). One hook per process; returns the previous one.
pub fn set_exit_hook(hook: fn()) -> Option<fn()> {
    let old = EXIT_HOOK.swap(hook as *mut (), AcqRel);
    // SAFETY: only fn() pointers are ever stored.
    (!old.is_null()).then(|| unsafe { core::mem::transmute::<*mut (), fn()>(old) })
}

/// Runs the hook of [`set_exit_hook`], if any, on the calling (exiting) thread.
pub(crate) fn run_exit_hook() {
    let h = EXIT_HOOK.load(Acquire);
    if !h.is_null() {
        // SAFETY: only fn() pointers are ever stored.
        unsafe { core::mem::transmute::<*mut (), fn()>(h)() };
    }
}

struct MainTcb(UnsafeCell<Tcb>);
// SAFETY: written once by init_main_thread before any other thread exists.
unsafe impl Sync for MainTcb {}

static MAIN_TCB: MainTcb = MainTcb(UnsafeCell::new(Tcb::empty()));

/// Gives the main thread its TCB (FS base). Called once by the start-up code.
pub(crate) fn init_main_thread() {
    let tcb = MAIN_TCB.0.get();
    // SAFETY: single-threaded start-up; the TCB is a static.
    unsafe {
        (*tcb).self_ptr = tcb;
        (*tcb).tid.store(sys::gettid() as u32, Relaxed);
        let _ = sys::set_fs_base(tcb as usize);
    }
}

/// The address of the main thread's TCB.
pub fn main_tcb() -> usize {
    MAIN_TCB.0.get() as usize
}

/// `fs:[0]`: the calling thread's TCB address as its TLS block says (0 if the FS
/// base is not set).
pub fn tls_self_pointer() -> usize {
    match sys::fs_base() {
        Ok(0) | Err(_) => 0,
        Ok(_) => {
            let v: usize;
            // SAFETY: a non-zero FS base set by this runtime points to a Tcb.
            unsafe { asm!("mov {}, fs:[0]", out(reg) v, options(nostack, readonly)) };
            v
        }
    }
}

// clone with a new stack: the child must not return into the parent's frames, so
// it pops its entry function and argument from the new stack and calls it.
//   rdi = flags, rsi = new stack (holding [entry, arg]), rdx = parent tid pointer,
//   rcx = child tid pointer, r8 = tls. Returns the tid or -errno in the parent.
global_asm!(
    ".pushsection .text.weft_rt_clone,\"ax\",@progbits",
    ".globl __weft_rt_clone",
    ".hidden __weft_rt_clone",
    ".type __weft_rt_clone,@function",
    "__weft_rt_clone:",
    "mov r10, rcx",
    "mov eax, {nr}",
    "syscall",
    "test rax, rax",
    "jnz 2f",
    "xor ebp, ebp",
    "pop rax",
    "pop rdi",
    "call rax",
    "ud2",
    "2:",
    "ret",
    ".size __weft_rt_clone, . - __weft_rt_clone",
    ".popsection",
    nr = const nr::CLONE,
);

unsafe extern "C" {
    fn __weft_rt_clone(
        flags: u64,
        stack: usize,
        ptid: *mut u32,
        ctid: *mut u32,
        tls: usize,
    ) -> isize;
}

/// Thread entry (called on the new stack by `__weft_rt_clone`).
extern "C" fn thread_start(tcb: *mut Tcb) -> ! {
    // SAFETY: spawn wrote the TCB and the boxed closure before clone.
    let start = unsafe { Box::from_raw((*tcb).start) };
    start();
    run_exit_hook();
    // SAFETY: the TCB stays mapped until this thread is done (see finish).
    unsafe { finish(tcb) }
}

/// Ends the calling spawned thread.
///
/// # Safety
/// `tcb` is the calling thread's own TCB.
unsafe fn finish(tcb: *mut Tcb) -> ! {
    // SAFETY: the TCB is mapped until the joiner (or this thread) unmaps it.
    let t = unsafe { &*tcb };
    if t.state
        .compare_exchange(RUNNING, EXITED, AcqRel, Acquire)
        .is_ok()
    {
        // Joinable: the kernel clears tid and wakes the joiner, who unmaps.
        sys::exit(0);
    }
    // Detached: nobody will unmap our memory. Stop the kernel from clearing the
    // tid word (it is about to go away), then unmap the stack we are running on and
    // exit without touching memory again.
    let (base, len) = (t.map_base, t.map_len);
    // SAFETY: a null clear-child-tid address turns the exit write off.
    unsafe { sys::set_tid_address(null_mut()) };
    // SAFETY: after munmap only registers are used until exit.
    unsafe {
        asm!(
            "syscall",
            "mov eax, {exit}",
            "xor edi, edi",
            "syscall",
            "ud2",
            exit = const nr::EXIT,
            in("rax") nr::MUNMAP,
            in("rdi") base,
            in("rsi") len,
            options(noreturn, nostack),
        )
    }
}

struct Packet<T> {
    result: UnsafeCell<Option<T>>,
}

// SAFETY: the result is written by the thread before it exits and read by the
// joiner only after the exit (tid word cleared).
unsafe impl<T: Send> Sync for Packet<T> {}

/// Owns a spawned thread; [`JoinHandle::join`] waits for it and returns its result.
pub struct JoinHandle<T> {
    tcb: *mut Tcb,
    tid: Pid,
    packet: Arc<Packet<T>>,
    done: bool,
}

// SAFETY: the handle only touches the TCB through atomics and its own unmapping.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: as above; shared access only reads atomics.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// The thread's id.
    pub fn tid(&self) -> Pid {
        self.tid
    }

    /// True once the thread has exited (its tid word is 0).
    pub fn is_finished(&self) -> bool {
        self.tid_word().load(Acquire) == 0
    }

    fn tid_word(&self) -> &AtomicU32 {
        // SAFETY: the TCB is mapped while the handle lives and is not done.
        unsafe { &(*self.tcb).tid }
    }

    fn wait_exit(&self) {
        let word = self.tid_word();
        let slice = Timespec {
            tv_sec: 0,
            tv_nsec: 10_000_000,
        };
        loop {
            let v = word.load(Acquire);
            if v == 0 {
                return;
            }
            // Shared (not private) wait: that is what the kernel's exit wake uses.
            if let Err(Errno::ENOSYS) = sys::futex_wait(word, v, Some(&slice), false) {
                sys::sched_yield();
            }
        }
    }

    fn release(&mut self) {
        // SAFETY: the thread has exited; nothing uses its mapping any more.
        unsafe {
            let (base, len) = ((*self.tcb).map_base, (*self.tcb).map_len);
            let _ = sys::munmap(base as *mut u8, len);
        }
        self.done = true;
    }

    /// Waits for the thread to end and returns what its closure returned.
    pub fn join(mut self) -> T {
        self.wait_exit();
        self.release();
        // SAFETY: the thread has exited, so it no longer touches the packet.
        unsafe { (*self.packet.result.get()).take() }.expect("thread ended without a result")
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // SAFETY: the TCB is mapped until the thread or this handle unmaps it.
        let state = unsafe { &(*self.tcb).state };
        if state
            .compare_exchange(RUNNING, DETACHED, AcqRel, Acquire)
            .is_ok()
        {
            // The thread frees itself.
            self.done = true;
            return;
        }
        // It has finished (or is finishing) as a joinable thread: reap it.
        self.wait_exit();
        self.release();
    }
}

/// Thread options: stack size and name.
#[derive(Clone, Debug)]
pub struct Builder {
    stack_size: usize,
    name: Option<[u8; 16]>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// Default options ([`DEFAULT_STACK_SIZE`], no name).
    pub fn new() -> Self {
        Builder {
            stack_size: DEFAULT_STACK_SIZE,
            name: None,
        }
    }

    /// Stack size in bytes (rounded up to pages, at least [`MIN_STACK_SIZE`]).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// Thread name (set with `PR_SET_NAME` in the new thread; 15 bytes kept).
    pub fn name(mut self, name: &str) -> Self {
        let mut b = [0u8; 16];
        let n = name.len().min(15);
        b[..n].copy_from_slice(&name.as_bytes()[..n]);
        self.name = Some(b);
        self
    }

    /// Starts a thread running `f`. Fails with the mapping's or `clone`'s error
    /// (`EAGAIN` at the thread limit, `ENOMEM`).
    pub fn spawn<F, T>(self, f: F) -> Result<JoinHandle<T>, Errno>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let stack = self
            .stack_size
            .max(MIN_STACK_SIZE)
            .checked_add(PAGE - 1)
            .ok_or(Errno::EINVAL)?
            & !(PAGE - 1);
        let len = GUARD_SIZE + stack + PAGE;
        let base = sys::mmap_anon(len)?;
        // SAFETY: the guard page is part of the fresh mapping.
        if let Err(e) = unsafe { sys::mprotect(base, GUARD_SIZE, PROT_NONE) } {
            // SAFETY: the mapping is unused.
            let _ = unsafe { sys::munmap(base, len) };
            return Err(e);
        }

        let packet = Arc::new(Packet {
            result: UnsafeCell::new(None),
        });
        let their_packet = packet.clone();
        let name = self.name;
        let main: Box<dyn FnOnce() + Send> = Box::new(move || {
            if let Some(n) = name {
                // SAFETY: n is NUL-terminated and only read.
                let _ = unsafe {
                    sys::prctl(weft_abi::prctl::PR_SET_NAME, n.as_ptr() as usize, 0, 0, 0)
                };
            }
            let r = f();
            // SAFETY: only this thread writes the packet, before it exits.
            unsafe { *their_packet.result.get() = Some(r) };
        });
        let start = Box::into_raw(Box::new(main));

        let tcb = (base as usize + GUARD_SIZE + stack) as *mut Tcb;
        let sp = tcb as usize - 16;
        // SAFETY: tcb and sp lie in the fresh writable mapping; the thread does not
        // exist yet.
        let r = unsafe {
            tcb.write(Tcb {
                self_ptr: tcb,
                tid: AtomicU32::new(0),
                state: AtomicU32::new(RUNNING),
                map_base: base as usize,
                map_len: len,
                start,
                specific: AtomicUsize::new(0),
            });
            let slots = sp as *mut usize;
            slots.write(thread_start as *const () as usize);
            slots.add(1).write(tcb as usize);
            let tid = &raw mut (*tcb).tid as *mut u32;
            __weft_rt_clone(THREAD_FLAGS, sp, tid, tid, tcb as usize)
        };
        if r < 0 {
            // SAFETY: the thread was not created; the closure and mapping are ours.
            unsafe {
                drop(Box::from_raw(start));
                let _ = sys::munmap(base, len);
            }
            return Err(Errno((-r) as i32));
        }
        Ok(JoinHandle {
            tcb,
            tid: r as Pid,
            packet,
            done: false,
        })
    }
}

/// Starts a thread running `f` with default options. Panics if it cannot.
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match Builder::new().spawn(f) {
        Ok(h) => h,
        Err(e) => panic!("thread::spawn: {e:?}"),
    }
}

/// `gettid()`.
pub fn current_tid() -> Pid {
    sys::gettid()
}

/// `sched_yield()`.
pub fn yield_now() {
    sys::sched_yield()
}

/// Sleeps for `d`.
pub fn sleep(d: Duration) {
    crate::time::sleep(d)
}

/// The CPU the caller is running on (`getcpu`), or 0 if the kernel cannot say.
pub fn current_cpu() -> u32 {
    sys::getcpu().map(|(c, _)| c).unwrap_or(0)
}

/// The CPUs the calling thread may run on.
pub fn affinity() -> Result<CpuSet, Errno> {
    sys::sched_getaffinity(0)
}

/// The CPU numbers in the calling thread's affinity set, ascending.
pub fn allowed_cpus() -> alloc::vec::Vec<usize> {
    let set = affinity().unwrap_or_default();
    (0..weft_abi::sched::CPU_SETSIZE)
        .filter(|&c| set.is_set(c))
        .collect()
}

/// Number of CPUs the calling thread may run on (at least 1).
pub fn available_parallelism() -> usize {
    affinity().map(|s| s.count() as usize).unwrap_or(1).max(1)
}

/// Restricts the calling thread to CPU `cpu`.
pub fn pin_to_cpu(cpu: usize) -> Result<(), Errno> {
    let mut set = CpuSet::default();
    set.set(cpu);
    sys::sched_setaffinity(0, &set)
}
