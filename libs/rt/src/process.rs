//! Processes: [`fork`], [`exec`], [`vfork_exec`], [`spawn`], [`wait`] and
//! [`WaitStatus`].

use alloc::vec::Vec;
use core::arch::asm;

use weft_abi::signal::SIGCHLD;
use weft_abi::wait as w;
use weft_abi::{Errno, nr};

use crate::heap::Heap;
use crate::sys::{self, Pid, Result};

/// Which side of a [`fork`] this is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Fork {
    /// In the new process.
    Child,
    /// In the parent; the child's pid.
    Parent(Pid),
}

/// `fork` as `clone(SIGCHLD, 0, NULL, NULL, 0)`. Only the calling thread goes on
/// in the child. The allocator lock is held across the call, so the child can
/// allocate even if another thread was allocating at the time.
pub fn fork() -> Result<Fork> {
    Heap::lock_for_fork();
    // SAFETY: a plain fork: no shared memory, no new stack.
    let r = unsafe {
        sys::clone(
            SIGCHLD as u64,
            0,
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            0,
        )
    };
    Heap::unlock_after_fork();
    match r? {
        0 => Ok(Fork::Child),
        pid => Ok(Fork::Parent(pid)),
    }
}

/// NUL-terminated copies of some strings and a null-terminated pointer array over
/// them: an `argv` or `envp` for `execve`.
pub struct CStrArray {
    bytes: Vec<Vec<u8>>,
    ptrs: Vec<*const u8>,
}

impl CStrArray {
    /// Copies `items`.
    pub fn new<S: AsRef<[u8]>>(items: &[S]) -> CStrArray {
        let bytes: Vec<Vec<u8>> = items
            .iter()
            .map(|s| {
                let mut v = Vec::with_capacity(s.as_ref().len() + 1);
                v.extend_from_slice(s.as_ref());
                v.push(0);
                v
            })
            .collect();
        let mut ptrs: Vec<*const u8> = bytes.iter().map(|v| v.as_ptr()).collect();
        ptrs.push(core::ptr::null());
        CStrArray { bytes, ptrs }
    }

    /// The null-terminated pointer array.
    pub fn as_ptr(&self) -> *const *const u8 {
        self.ptrs.as_ptr()
    }

    /// Entry `i` (NUL-terminated).
    pub fn entry(&self, i: usize) -> *const u8 {
        self.bytes[i].as_ptr()
    }
}

/// `execve(path, args, env)`: only returns on failure, with the error.
pub fn exec<S: AsRef<[u8]>, E: AsRef<[u8]>>(path: &str, args: &[S], env: &[E]) -> Errno {
    let p = CStrArray::new(&[path]);
    let a = CStrArray::new(args);
    let e = CStrArray::new(env);
    // SAFETY: all three are well-formed NUL-terminated strings / arrays.
    unsafe { sys::execve(p.entry(0), a.as_ptr(), e.as_ptr()) }
}

/// `fork` + `execve`: the child's pid. If the `execve` fails the child exits with
/// status 127 (the error is not reported; see [`vfork_exec`] for that).
pub fn spawn<S: AsRef<[u8]>, E: AsRef<[u8]>>(path: &str, args: &[S], env: &[E]) -> Result<Pid> {
    let p = CStrArray::new(&[path]);
    let a = CStrArray::new(args);
    let e = CStrArray::new(env);
    match fork()? {
        Fork::Child => {
            // SAFETY: well-formed arrays (built before the fork).
            unsafe { sys::execve(p.entry(0), a.as_ptr(), e.as_ptr()) };
            sys::exit_group(127)
        }
        Fork::Parent(pid) => Ok(pid),
    }
}

/// `vfork` + `execve`: the child's pid, or the `execve` error (the child then has
/// been reaped already). The parent is suspended until the child has exec'd or
/// exited; the child runs on the parent's stack, so everything it does between the
/// two calls is in one assembly block that touches no memory but the error word.
pub fn vfork_exec<S: AsRef<[u8]>, E: AsRef<[u8]>>(
    path: &str,
    args: &[S],
    env: &[E],
) -> Result<Pid> {
    let p = CStrArray::new(&[path]);
    let a = CStrArray::new(args);
    let e = CStrArray::new(env);
    let mut err: u64 = 0;
    let r: usize;
    // SAFETY: the child only issues execve, stores to `err` (shared with the parent
    // through CLONE_VM) and exits; it never returns to Rust code. The parent resumes
    // after the child is done with the shared stack.
    unsafe {
        asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rdi, r12",
            "mov rsi, r13",
            "mov rdx, r14",
            "mov eax, {execve}",
            "syscall",
            "neg rax",
            "mov [r15], rax",
            "mov edi, 127",
            "mov eax, {exit}",
            "syscall",
            "ud2",
            "2:",
            execve = const nr::EXECVE,
            exit = const nr::EXIT,
            inlateout("rax") nr::VFORK => r,
            in("r12") p.entry(0),
            in("r13") a.as_ptr(),
            in("r14") e.as_ptr(),
            in("r15") &mut err as *mut u64,
            lateout("rdi") _,
            lateout("rsi") _,
            lateout("rdx") _,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    let pid = crate::syscall::ret(r)? as Pid;
    // SAFETY: the child has exec'd or exited; it wrote err before that if at all.
    let err = unsafe { core::ptr::read_volatile(&err) };
    if err != 0 {
        let _ = wait(pid, 0);
        return Err(Errno(err as i32));
    }
    Ok(pid)
}

/// How a child changed state (a decoded `wait4` status).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WaitStatus {
    /// Exited with this status (`WIFEXITED`, `WEXITSTATUS`).
    Exited(u32),
    /// Killed by this signal (`WIFSIGNALED`, `WTERMSIG`).
    Signaled(u32),
    /// Stopped by this signal.
    Stopped(u32),
    /// Continued.
    Continued,
    /// Anything else (the raw status).
    Other(i32),
}

impl WaitStatus {
    /// Decodes a raw status.
    pub fn from_raw(s: i32) -> WaitStatus {
        if w::if_exited(s) {
            WaitStatus::Exited(w::exit_status(s))
        } else if w::if_signaled(s) {
            WaitStatus::Signaled(w::term_sig(s))
        } else if w::if_stopped(s) {
            WaitStatus::Stopped(w::stop_sig(s))
        } else if s == w::CONTINUED {
            WaitStatus::Continued
        } else {
            WaitStatus::Other(s)
        }
    }

    /// A shell-style exit code: the status, or 128 + the signal.
    pub fn code(&self) -> i32 {
        match *self {
            WaitStatus::Exited(c) => c as i32,
            WaitStatus::Signaled(s) | WaitStatus::Stopped(s) => 128 + s as i32,
            WaitStatus::Continued | WaitStatus::Other(_) => 255,
        }
    }
}

/// `wait4(pid, &status, options, NULL)`, retried on `EINTR`: the pid and its
/// status (`(0, Other(0))` with `WNOHANG` when nothing changed).
pub fn wait(pid: Pid, options: u32) -> Result<(Pid, WaitStatus)> {
    loop {
        let mut st = 0i32;
        match sys::wait4(pid, Some(&mut st), options, None) {
            Ok(0) => return Ok((0, WaitStatus::Other(0))),
            Ok(p) => return Ok((p, WaitStatus::from_raw(st))),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Ends the process (`exit_group`).
pub fn exit(code: i32) -> ! {
    sys::exit_group(code)
}
