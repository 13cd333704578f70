//! The Weft extension thread API (`thread_create` & co., numbers in
//! [`weft_abi::nr`] from `WEFT_BASE` = 0x1000), thin wrappers plus [`spawn`].
//!
//! These calls exist only on Weft; on Linux every one of them fails with
//! `ENOSYS`. Threads made here and threads made by [`crate::thread`] (Linux
//! `clone`) are the same kind of kernel thread; only `thread_create` threads are
//! joinable with [`join`].

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::marker::PhantomData;

use weft_abi::signal::SigSet;
use weft_abi::thread::{NAME_BUF, THREAD_DETACHED, THREAD_SETTLS};
use weft_abi::{Errno, nr};

use crate::sys::{Pid, Result};
use crate::syscall::*;
use crate::thread::Tcb;

/// Thread entry point: gets `arg` in `rdi`, must not return (end with [`exit`]).
pub type Entry = extern "C" fn(arg: u64) -> !;

/// `thread_create(entry, arg, stack, stack_size, flags, tls)`: the new tid.
///
/// `stack == 0` lets the kernel map a stack of `stack_size` bytes (0: its default)
/// with a guard page.
///
/// # Safety
/// A caller-provided stack must be writable and stay unused by anyone else until
/// the thread has been reaped; `tls` (with `THREAD_SETTLS`) must point to a TLS
/// block that lives as long as the thread.
pub unsafe fn create(
    entry: Entry,
    arg: u64,
    stack: usize,
    stack_size: usize,
    flags: u64,
    tls: usize,
) -> Result<Pid> {
    // SAFETY: the caller vouches for stack and tls.
    let r = unsafe {
        syscall6(
            nr::THREAD_CREATE,
            entry as usize,
            arg as usize,
            stack,
            stack_size,
            flags as usize,
            tls,
        )
    };
    ret(r).map(|t| t as Pid)
}

/// `thread_exit(value)`: ends the calling thread; `value` goes to [`join`].
pub fn exit(value: u64) -> ! {
    // SAFETY: ends the thread.
    unsafe { syscall1(nr::THREAD_EXIT, value as usize) };
    // Not on Weft (ENOSYS): end the thread the Linux way.
    crate::sys::exit(0)
}

/// `thread_join(tid, &value)`: waits for thread `tid` and returns its exit value.
pub fn join(tid: Pid) -> Result<u64> {
    let mut v = 0u64;
    // SAFETY: v is a writable u64.
    ret(unsafe { syscall2(nr::THREAD_JOIN, tid as usize, &mut v as *mut u64 as usize) })?;
    Ok(v)
}

/// `thread_join(tid, NULL)`: waits for and reaps `tid`, ignoring its value.
pub fn join_discard(tid: Pid) -> Result<()> {
    // SAFETY: a null value pointer is allowed.
    ret(unsafe { syscall2(nr::THREAD_JOIN, tid as usize, 0) }).map(|_| ())
}

/// `thread_detach(tid)`.
pub fn detach(tid: Pid) -> Result<()> {
    // SAFETY: no memory is involved.
    ret(unsafe { syscall1(nr::THREAD_DETACH, tid as usize) }).map(|_| ())
}

/// `thread_self()`: the caller's tid.
pub fn current() -> Result<Pid> {
    // SAFETY: no memory is involved.
    ret(unsafe { syscall0(nr::THREAD_SELF) }).map(|t| t as Pid)
}

/// `thread_yield()`.
pub fn yield_now() -> Result<()> {
    // SAFETY: no memory is involved.
    ret(unsafe { syscall0(nr::THREAD_YIELD) }).map(|_| ())
}

/// `thread_kill(tid, sig)`.
pub fn kill(tid: Pid, sig: u32) -> Result<()> {
    // SAFETY: no memory is involved.
    ret(unsafe { syscall2(nr::THREAD_KILL, tid as usize, sig as usize) }).map(|_| ())
}

/// `thread_sigmask(how, set, oldset)`.
pub fn sigmask(how: u32, set: Option<&SigSet>, old: Option<&mut SigSet>) -> Result<()> {
    let s = set.map_or(0, |s| s as *const SigSet as usize);
    let o = old.map_or(0, |o| o as *mut SigSet as usize);
    // SAFETY: set is null or readable, old null or writable.
    ret(unsafe { syscall3(nr::THREAD_SIGMASK, how as usize, s, o) }).map(|_| ())
}

/// `thread_setname(tid, name)` (tid 0: the caller). Names longer than
/// `NAME_MAX` bytes are passed as they are, for the kernel to refuse (`ERANGE`);
/// names of 64 bytes or more are refused here with `ERANGE`.
pub fn setname(tid: Pid, name: &str) -> Result<()> {
    let mut buf = [0u8; 64];
    if name.len() >= buf.len() {
        return Err(Errno::ERANGE);
    }
    buf[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: buf is NUL-terminated and only read.
    ret(unsafe { syscall2(nr::THREAD_SETNAME, tid as usize, buf.as_ptr() as usize) }).map(|_| ())
}

/// `thread_getname(tid, buf, len)`: the name's length; `buf` gets it NUL-terminated.
pub fn getname(tid: Pid, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: the kernel writes at most buf.len() bytes.
    ret(unsafe {
        syscall3(
            nr::THREAD_GETNAME,
            tid as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
        )
    })
}

/// A thread name buffer for [`getname`].
pub type NameBuf = [u8; NAME_BUF];

/// `tsuspend()`: sleeps until another thread calls [`tresume`] on the caller (or
/// consumes a pending resume permit at once).
pub fn tsuspend() -> Result<()> {
    // SAFETY: no memory is involved.
    ret(unsafe { syscall0(nr::TSUSPEND) }).map(|_| ())
}

/// `tresume(tid)`.
pub fn tresume(tid: Pid) -> Result<()> {
    // SAFETY: no memory is involved.
    ret(unsafe { syscall1(nr::TRESUME, tid as usize) }).map(|_| ())
}

// ---- spawn -------------------------------------------------------------------------

struct Start {
    /// The new thread's TLS block (FS base; first word points to itself).
    tcb: Tcb,
    f: Option<Box<dyn FnOnce() + Send>>,
}

struct Packet<T> {
    result: UnsafeCell<Option<T>>,
}

// SAFETY: written by the thread before it exits, read after thread_join.
unsafe impl<T: Send> Sync for Packet<T> {}

extern "C" fn start(arg: u64) -> ! {
    let st = arg as *mut Start;
    // SAFETY: spawn leaked the Start box for this thread alone.
    let f = unsafe { (*st).f.take() };
    if let Some(f) = f {
        f();
    }
    crate::thread::run_exit_hook();
    // SAFETY: nothing reads the TLS block after this point.
    drop(unsafe { Box::from_raw(st) });
    exit(0)
}

/// A thread made by [`spawn`]; dropping it detaches the thread.
pub struct WJoinHandle<T> {
    tid: Pid,
    packet: Arc<Packet<T>>,
    joined: bool,
    _not_sync: PhantomData<*const ()>,
}

// SAFETY: the packet is only read after the thread has been joined.
unsafe impl<T: Send> Send for WJoinHandle<T> {}

impl<T> WJoinHandle<T> {
    /// The thread's id.
    pub fn tid(&self) -> Pid {
        self.tid
    }

    /// `thread_join`: waits for the thread and returns its closure's result.
    pub fn join(mut self) -> Result<T> {
        join_discard(self.tid)?;
        self.joined = true;
        // SAFETY: the thread has been reaped.
        unsafe { (*self.packet.result.get()).take() }.ok_or(Errno::ESRCH)
    }
}

impl<T> Drop for WJoinHandle<T> {
    fn drop(&mut self) {
        if !self.joined {
            let _ = detach(self.tid);
        }
    }
}

/// Starts a thread with `thread_create`: a kernel-mapped stack of `stack_size`
/// bytes (0: the kernel default) and its own TLS block (`THREAD_SETTLS`).
pub fn spawn_with<F, T>(stack_size: usize, detached: bool, f: F) -> Result<WJoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let packet = Arc::new(Packet {
        result: UnsafeCell::new(None),
    });
    let theirs = packet.clone();
    let st = Box::into_raw(Box::new(Start {
        tcb: Tcb::empty(),
        f: Some(Box::new(move || {
            let r = f();
            // SAFETY: only this thread writes the packet, before it exits.
            unsafe { *theirs.result.get() = Some(r) };
        })),
    }));
    // SAFETY: st is a live box; its TCB gets its own address.
    let tls = unsafe {
        let t = &raw mut (*st).tcb;
        (*t).self_ptr = t;
        t as usize
    };
    let flags = THREAD_SETTLS | if detached { THREAD_DETACHED } else { 0 };
    // SAFETY: kernel stack (0); the TLS block lives until the thread frees it.
    match unsafe { create(start, st as u64, 0, stack_size, flags, tls) } {
        Ok(tid) => Ok(WJoinHandle {
            tid,
            packet,
            joined: detached,
            _not_sync: PhantomData,
        }),
        Err(e) => {
            // SAFETY: no thread was created; the box is still ours.
            drop(unsafe { Box::from_raw(st) });
            Err(e)
        }
    }
}

/// Starts a joinable thread with `thread_create` and the kernel's default stack.
pub fn spawn<F, T>(f: F) -> Result<WJoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn_with(0, false, f)
}
