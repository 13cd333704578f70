//! Joining threads through their clear-child-tid word: [`wait_tid`];
//! [`clone_thread`], a bare `clone` on a caller's stack; and [`spawn_raw`] /
//! [`RawJoinHandle`], closures on such threads, joined that way.
//!
//! With `CLONE_CHILD_CLEARTID` (or `set_tid_address`) the kernel writes 0 to a
//! word of the thread's choosing when the thread has exited and does a
//! `FUTEX_WAKE` on it. [`wait_tid`] sleeps on that word with plain `FUTEX_WAIT`s
//! (no timeout) until it reads 0: the join depends on the kernel's wake alone.
//! (weft-rt's `thread::JoinHandle` waits the same way but with a short timeout as a
//! safety net; its threads are the usual choice. `spawn_raw` is the minimal
//! version, on which the clear-child-tid protocol can be seen and tested.)
//!
//! A raw thread gets one anonymous mapping: a guard page, its stack, and a control
//! page at the top holding a zeroed weft-rt-layout TLS block (the thread's FS base,
//! so [`crate::tls`] keys work in it) and the tid word. `clone` gets
//! `CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
//! CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID`; the
//! kernel stores the tid in the word before `clone` returns and clears it at exit.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::arch::global_asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, Ordering::*};

use weft_rt::Errno;
use weft_rt::abi::clone::*;
use weft_rt::abi::mman::PROT_NONE;
use weft_rt::abi::nr;
use weft_rt::sys::{self, Pid, Result};
use weft_rt::thread::Tcb;

use crate::futex;

const PAGE: usize = 4096;

/// The clone flags of [`spawn_raw`].
pub const RAW_THREAD_FLAGS: u64 = CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID;

/// Default stack size of [`spawn_raw`] (pages are populated on demand).
pub const RAW_STACK_SIZE: usize = 64 * 1024;

/// Waits until the clear-child-tid word `word` reads 0, sleeping in `FUTEX_WAIT`
/// (shared: that is the kernel's exit wake) without a timeout.
pub fn wait_tid(word: &AtomicU32) {
    loop {
        let v = word.load(Acquire);
        if v == 0 {
            return;
        }
        let _ = futex::wait_shared(word, v, None);
    }
}

// clone on a new stack holding [entry, arg]: the child pops them and calls
// entry(arg) (it must not return into the parent's frames).
//   rdi = flags, rsi = stack, rdx = parent tid ptr, rcx = child tid ptr, r8 = tls.
global_asm!(
    ".pushsection .text.weft_sync_clone,\"ax\",@progbits",
    ".globl __weft_sync_clone",
    ".hidden __weft_sync_clone",
    ".type __weft_sync_clone,@function",
    "__weft_sync_clone:",
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
    ".size __weft_sync_clone, . - __weft_sync_clone",
    ".popsection",
    nr = const nr::CLONE,
);

unsafe extern "C" {
    fn __weft_sync_clone(
        flags: u64,
        stack: usize,
        ptid: *mut u32,
        ctid: *mut u32,
        tls: usize,
    ) -> isize;
}

/// Starts a thread with a bare `clone` ([`RAW_THREAD_FLAGS`], without
/// `CLONE_SETTLS` when `tls` is 0) running `entry(arg)` on the stack that ends at
/// `stack_top` (16-byte aligned). The kernel stores the new tid in `tid` before this
/// returns, and at the thread's exit writes 0 there and wakes it: [`wait_tid`]
/// joins. The lowest-level form, for benchmarks and tests; [`spawn_raw`] does the
/// bookkeeping.
///
/// # Safety
/// The stack (at least a few hundred bytes below `stack_top`) and `tid` must stay
/// valid and unused by anything else until the tid word reads 0; `entry` must end
/// the thread with `exit` (it cannot return); with `tls == 0` the thread shares the
/// caller's TLS block, so it must not use thread-local state; a non-zero `tls` must
/// point to a TLS block laid out as [`weft_rt::thread::Tcb`].
pub unsafe fn clone_thread(
    stack_top: usize,
    entry: extern "C" fn(usize) -> !,
    arg: usize,
    tid: &AtomicU32,
    tls: usize,
) -> Result<Pid> {
    let flags = if tls == 0 {
        RAW_THREAD_FLAGS & !CLONE_SETTLS
    } else {
        RAW_THREAD_FLAGS
    };
    let sp = (stack_top & !15) - 16;
    let t = tid.as_ptr();
    // SAFETY: the caller vouches for the stack, the tid word and the TLS block; the
    // child pops entry and arg from the new stack and calls entry.
    let r = unsafe {
        let slots = sp as *mut usize;
        slots.write(entry as usize);
        slots.add(1).write(arg);
        __weft_sync_clone(flags, sp, t, t, tls)
    };
    if r < 0 {
        Err(Errno((-r) as i32))
    } else {
        Ok(r as Pid)
    }
}

/// The control page at the top of a raw thread's mapping.
#[repr(C)]
struct Control {
    /// The thread's TLS block (FS base): weft-rt's layout, zeroed but for its
    /// self pointer.
    tls: [usize; TLS_WORDS],
    /// The clear-child-tid word.
    tid: AtomicU32,
    start: *mut (dyn FnOnce() + Send),
}

const TLS_WORDS: usize = core::mem::size_of::<Tcb>().div_ceil(8);
const _: () = assert!(core::mem::size_of::<Control>() <= PAGE);

extern "C" fn raw_start(ctl: usize) -> ! {
    let ctl = ctl as *mut Control;
    // SAFETY: spawn_raw left the boxed closure for this thread alone.
    let f = unsafe { Box::from_raw((*ctl).start) };
    f();
    crate::tls::run_thread_exit();
    sys::exit(0)
}

struct Packet<T>(UnsafeCell<Option<T>>);

// SAFETY: written by the thread before it exits, read by the joiner after the tid
// word is 0.
unsafe impl<T: Send> Sync for Packet<T> {}

/// A thread started by [`spawn_raw`]. [`RawJoinHandle::join`] waits with
/// [`wait_tid`]; dropping the handle joins too (the thread's memory is only freed
/// once it has exited).
pub struct RawJoinHandle<T> {
    ctl: *mut Control,
    base: *mut u8,
    len: usize,
    tid: Pid,
    packet: Arc<Packet<T>>,
    joined: bool,
}

// SAFETY: the handle only reads the tid word (atomic) and unmaps after the exit.
unsafe impl<T: Send> Send for RawJoinHandle<T> {}

impl<T> RawJoinHandle<T> {
    /// The thread's id (what `clone` returned).
    pub fn tid(&self) -> Pid {
        self.tid
    }

    /// The clear-child-tid word: the tid while the thread lives, 0 once it exited.
    pub fn tid_word(&self) -> &AtomicU32 {
        // SAFETY: the control page is mapped until the handle is joined.
        unsafe { &(*self.ctl).tid }
    }

    fn reap(&mut self) {
        if !self.joined {
            wait_tid(self.tid_word());
            // SAFETY: the thread has exited: nothing uses its mapping any more.
            let _ = unsafe { sys::munmap(self.base, self.len) };
            self.joined = true;
        }
    }

    /// Waits for the thread to exit (futex on the clear-child-tid word) and returns
    /// what its closure returned.
    pub fn join(mut self) -> T {
        self.reap();
        // SAFETY: the thread has exited; it wrote the packet before.
        unsafe { (*self.packet.0.get()).take() }.expect("raw thread ended without a result")
    }
}

impl<T> Drop for RawJoinHandle<T> {
    fn drop(&mut self) {
        self.reap();
    }
}

/// Starts `f` on a thread made by a bare `clone` (see the module docs) with a
/// `stack_size`-byte stack (rounded up to pages; 0: [`RAW_STACK_SIZE`]). Fails with
/// the error of `mmap` or `clone` (`EAGAIN` at the thread limit).
pub fn spawn_raw<F, T>(stack_size: usize, f: F) -> Result<RawJoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let stack = if stack_size == 0 {
        RAW_STACK_SIZE
    } else {
        stack_size.max(2 * PAGE).div_ceil(PAGE) * PAGE
    };
    let len = PAGE + stack + PAGE;
    let base = sys::mmap_anon(len)?;
    // SAFETY: the guard page is part of the fresh mapping.
    if let Err(e) = unsafe { sys::mprotect(base, PAGE, PROT_NONE) } {
        // SAFETY: unused fresh mapping.
        let _ = unsafe { sys::munmap(base, len) };
        return Err(e);
    }
    let packet = Arc::new(Packet(UnsafeCell::new(None)));
    let theirs = packet.clone();
    let main: Box<dyn FnOnce() + Send> = Box::new(move || {
        let r = f();
        // SAFETY: only this thread writes the packet, before it exits.
        unsafe { *theirs.0.get() = Some(r) };
    });
    let start = Box::into_raw(main);
    // SAFETY: base + PAGE + stack is the (zeroed, writable) control page.
    let ctl = unsafe { base.add(PAGE + stack) } as *mut Control;
    // SAFETY: all in the fresh mapping; the thread does not exist yet; the stack
    // below the control page and the control page stay mapped until it is reaped.
    let r = unsafe {
        (*ctl).tls[0] = ctl as usize;
        (*ctl).start = start;
        clone_thread(
            ctl as usize,
            raw_start,
            ctl as usize,
            &(*ctl).tid,
            ctl as usize,
        )
    };
    let tid = match r {
        Ok(tid) => tid,
        Err(e) => {
            // SAFETY: no thread was made: the closure and the mapping are still ours.
            unsafe {
                drop(Box::from_raw(start));
                let _ = sys::munmap(base, len);
            }
            return Err(e);
        }
    };
    Ok(RawJoinHandle {
        ctl,
        base,
        len,
        tid,
        packet,
        joined: false,
    })
}
