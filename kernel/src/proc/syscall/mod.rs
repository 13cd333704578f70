//! System call dispatch: one table from number to handler, in one place.
//!
//! Numbers, errno values and struct layouts are Linux x86_64 (`weft-abi`); the seed
//! thread API lives at `nr::WEFT_BASE` + n. Unknown numbers return ENOSYS. Every
//! user pointer goes through `weft_mm::user` copies, so a bad pointer is EFAULT.

mod files;
mod memory;
mod misc;
pub mod poll;
mod process;
mod signal;
mod threads;

use alloc::vec::Vec;

use weft_abi::Errno;
use weft_abi::nr;
use weft_arch::trap::TrapFrame;

/// Result of a handler: the value for rax, or an errno.
pub type SysResult = Result<u64, Errno>;

/// Copies `len` bytes in from user memory.
pub fn copy_in(addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
    let mut v = alloc::vec![0u8; len];
    weft_mm::user::copy_from_user(&mut v, addr).map_err(|_| Errno::EFAULT)?;
    Ok(v)
}

/// Copies bytes out to user memory.
pub fn copy_out(addr: u64, bytes: &[u8]) -> Result<(), Errno> {
    weft_mm::user::copy_to_user(addr, bytes).map_err(|_| Errno::EFAULT)
}

/// Reads a NUL-terminated string (paths: at most 4096 bytes).
pub fn read_cstr(addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
    weft_mm::user::read_user_cstr(addr, max)
}

/// Reads a NULL-terminated array of string pointers (argv, envp).
pub fn read_str_array(addr: u64, max_count: usize) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    for i in 0..max_count {
        let p = weft_mm::user::read_user_u64(addr + 8 * i as u64).map_err(|_| Errno::EFAULT)?;
        if p == 0 {
            return Ok(out);
        }
        out.push(read_cstr(p, 128 * 1024)?);
    }
    Err(Errno::E2BIG)
}

/// Writes a plain-old-data value as bytes.
pub fn put_u64(addr: u64, v: u64) -> Result<(), Errno> {
    weft_mm::user::write_user_u64(addr, v).map_err(|_| Errno::EFAULT)
}

/// Writes a 32-bit value.
pub fn put_u32(addr: u64, v: u32) -> Result<(), Errno> {
    weft_mm::user::write_user_u32(addr, v).map_err(|_| Errno::EFAULT)
}

/// The kernel's system call handler (installed in arch::syscall).
pub fn handle(f: &mut TrapFrame) {
    let nr = f.rax as usize;
    let a = [f.rdi, f.rsi, f.rdx, f.r10, f.r8, f.r9];
    let r = dispatch(nr, a, f);
    if r == Err(Errno::EPIPE) && matches!(nr, nr::WRITE | nr::WRITEV | nr::PWRITE64) {
        // Writing a pipe nobody reads: SIGPIPE to the writer, as well as EPIPE.
        let (t, p) = crate::proc::uthread::me();
        let info = weft_abi::signal::SigInfo::kill(
            weft_abi::signal::SIGPIPE,
            weft_abi::signal::SI_USER,
            p.pid as i32,
            0,
        );
        let _ = crate::proc::signal::send_thread(&p, &t, info);
    }
    f.rax = match r {
        Ok(v) => v,
        Err(e) => e.as_neg() as u64,
    };
}

fn dispatch(nr: usize, a: [u64; 6], f: &mut TrapFrame) -> SysResult {
    match nr {
        // Files and descriptors.
        nr::READ => files::read(a[0], a[1], a[2]),
        nr::WRITE => files::write(a[0], a[1], a[2]),
        nr::READV => files::readv(a[0], a[1], a[2]),
        nr::WRITEV => files::writev(a[0], a[1], a[2]),
        nr::PREAD64 => files::pread(a[0], a[1], a[2], a[3]),
        nr::PWRITE64 => files::pwrite(a[0], a[1], a[2], a[3]),
        nr::OPEN => files::openat(weft_abi::fcntl::AT_FDCWD as u64, a[0], a[1], a[2]),
        nr::OPENAT => files::openat(a[0], a[1], a[2], a[3]),
        nr::CLOSE => files::close(a[0]),
        nr::LSEEK => files::lseek(a[0], a[1], a[2]),
        nr::FSTAT => files::fstat(a[0], a[1]),
        nr::STAT => files::stat(a[0], a[1], true),
        nr::LSTAT => files::stat(a[0], a[1], false),
        nr::NEWFSTATAT => files::newfstatat(a[0], a[1], a[2], a[3]),
        nr::GETDENTS64 => files::getdents64(a[0], a[1], a[2]),
        nr::DUP => files::dup(a[0]),
        nr::DUP2 => files::dup2(a[0], a[1]),
        nr::DUP3 => files::dup3(a[0], a[1], a[2]),
        nr::FCNTL => files::fcntl(a[0], a[1], a[2]),
        nr::PIPE => files::pipe2(a[0], 0),
        nr::PIPE2 => files::pipe2(a[0], a[1]),
        nr::IOCTL => files::ioctl(a[0], a[1], a[2]),
        nr::POLL => poll::poll(a[0], a[1], a[2]),
        nr::PPOLL => poll::ppoll(a[0], a[1], a[2], a[3], a[4]),
        nr::GETCWD => files::getcwd(a[0], a[1]),
        nr::MKDIR => files::mkdir(a[0], a[1]),
        nr::UNLINK => files::unlink(a[0]),
        nr::RMDIR => files::rmdir(a[0]),
        nr::RENAME => files::rename(a[0], a[1]),
        nr::CHDIR => files::chdir(a[0]),
        nr::FCHDIR => files::fchdir(a[0]),
        // Memory.
        nr::MMAP => memory::mmap(a[0], a[1], a[2], a[3], a[4], a[5]),
        nr::MUNMAP => memory::munmap(a[0], a[1]),
        nr::MPROTECT => memory::mprotect(a[0], a[1], a[2]),
        nr::BRK => memory::brk(a[0]),
        nr::MADVISE => memory::madvise(a[0], a[1], a[2]),
        // Processes and threads.
        nr::CLONE => process::clone(a[0], a[1], a[2], a[3], a[4], f),
        nr::FORK => process::clone(weft_abi::signal::SIGCHLD as u64, 0, 0, 0, 0, f),
        nr::VFORK => process::clone(
            weft_abi::clone::CLONE_VM
                | weft_abi::clone::CLONE_VFORK
                | weft_abi::signal::SIGCHLD as u64,
            0,
            0,
            0,
            0,
            f,
        ),
        nr::EXECVE => process::execve(a[0], a[1], a[2], f),
        nr::EXIT => process::exit(a[0]),
        nr::EXIT_GROUP => process::exit_group(a[0]),
        nr::WAIT4 => process::wait4(a[0], a[1], a[2], a[3]),
        nr::WAITID => process::waitid(a[0], a[1], a[2], a[3], a[4]),
        // Signals.
        nr::KILL => signal::kill(a[0], a[1]),
        nr::TGKILL => signal::tgkill(a[0], a[1], a[2]),
        nr::TKILL => signal::tkill(a[0], a[1]),
        nr::RT_SIGQUEUEINFO => signal::rt_sigqueueinfo(a[0], a[1], a[2]),
        nr::RT_TGSIGQUEUEINFO => signal::rt_tgsigqueueinfo(a[0], a[1], a[2], a[3]),
        nr::RT_SIGPROCMASK => signal::rt_sigprocmask(a[0], a[1], a[2], a[3]),
        nr::RT_SIGACTION => signal::rt_sigaction(a[0], a[1], a[2], a[3]),
        nr::RT_SIGRETURN => signal::rt_sigreturn(f),
        nr::RT_SIGPENDING => signal::rt_sigpending(a[0], a[1]),
        nr::RT_SIGSUSPEND => signal::rt_sigsuspend(a[0], a[1]),
        nr::RT_SIGTIMEDWAIT => signal::rt_sigtimedwait(a[0], a[1], a[2], a[3]),
        nr::SIGALTSTACK => signal::sigaltstack(a[0], a[1], f),
        nr::PAUSE => signal::pause(),
        nr::RESTART_SYSCALL => signal::restart_syscall(),
        nr::SETPGID => signal::setpgid(a[0], a[1]),
        nr::GETPGID => signal::getpgid(a[0]),
        nr::GETPGRP => signal::getpgid(0),
        nr::SETSID => signal::setsid(),
        nr::GETSID => signal::getsid(a[0]),
        nr::ALARM => signal::alarm(a[0]),
        nr::SETITIMER => signal::setitimer(a[0], a[1], a[2]),
        nr::GETITIMER => signal::getitimer(a[0], a[1]),
        nr::TIMER_CREATE => signal::timer_create(a[0], a[1], a[2]),
        nr::TIMER_SETTIME => signal::timer_settime(a[0], a[1], a[2], a[3]),
        nr::TIMER_GETTIME => signal::timer_gettime(a[0], a[1]),
        nr::TIMER_GETOVERRUN => signal::timer_getoverrun(a[0]),
        nr::TIMER_DELETE => signal::timer_delete(a[0]),
        nr::GETPID => process::getpid(),
        nr::GETTID => process::gettid(),
        nr::GETPPID => process::getppid(),
        nr::SET_TID_ADDRESS => process::set_tid_address(a[0]),
        nr::SET_ROBUST_LIST => process::set_robust_list(a[0], a[1]),
        nr::GET_ROBUST_LIST => process::get_robust_list(a[0], a[1], a[2]),
        nr::FUTEX => {
            crate::futex::sys_futex(a[0], a[1] as u32, a[2] as u32, a[3], a[4], a[5] as u32)
        }
        nr::ARCH_PRCTL => process::arch_prctl(a[0], a[1]),
        // Scheduling and time.
        nr::SCHED_YIELD => misc::sched_yield(),
        nr::SCHED_SETAFFINITY => misc::sched_setaffinity(a[0], a[1], a[2]),
        nr::SCHED_GETAFFINITY => misc::sched_getaffinity(a[0], a[1], a[2]),
        nr::GETCPU => misc::getcpu(a[0], a[1]),
        nr::NANOSLEEP => misc::nanosleep(a[0], a[1]),
        nr::CLOCK_NANOSLEEP => misc::clock_nanosleep(a[0], a[1], a[2], a[3]),
        nr::CLOCK_GETTIME => misc::clock_gettime(a[0], a[1]),
        nr::CLOCK_GETRES => misc::clock_getres(a[0], a[1]),
        nr::GETTIMEOFDAY => misc::gettimeofday(a[0], a[1]),
        nr::TIME => misc::time(a[0]),
        // Identity and system.
        nr::UNAME => misc::uname(a[0]),
        nr::PRCTL => misc::prctl(a[0], a[1]),
        nr::GETRANDOM => misc::getrandom(a[0], a[1], a[2]),
        nr::SYSINFO => misc::sysinfo(a[0]),
        nr::GETUID | nr::GETEUID | nr::GETGID | nr::GETEGID => Ok(0),
        nr::PRLIMIT64 => misc::prlimit64(a[0], a[1], a[2], a[3]),
        nr::GETRLIMIT => misc::getrlimit(a[0], a[1]),
        // The seed thread API.
        nr::THREAD_CREATE => threads::create(a[0], a[1], a[2], a[3], a[4], a[5]),
        nr::THREAD_EXIT => threads::exit(a[0]),
        nr::THREAD_JOIN => threads::join(a[0], a[1]),
        nr::THREAD_DETACH => threads::detach(a[0]),
        nr::THREAD_SELF => process::gettid(),
        nr::THREAD_YIELD => misc::sched_yield(),
        nr::THREAD_KILL => signal::thread_kill(a[0], a[1]),
        nr::THREAD_SIGMASK => signal::rt_sigprocmask(a[0], a[1], a[2], 8),
        nr::THREAD_SETNAME => threads::setname(a[0], a[1]),
        nr::THREAD_GETNAME => threads::getname(a[0], a[1], a[2]),
        nr::TSUSPEND => threads::tsuspend(),
        nr::TRESUME => threads::tresume(a[0]),
        _ => Err(Errno::ENOSYS),
    }
}

/// Reads up to `max` bytes of a string that may not be NUL-terminated within them
/// (prctl names): stops at the first NUL.
pub fn read_cstr_prefix(addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    for i in 0..max {
        let mut b = [0u8; 1];
        weft_mm::user::copy_from_user(&mut b, addr + i as u64).map_err(|_| Errno::EFAULT)?;
        if b[0] == 0 {
            break;
        }
        out.push(b[0]);
    }
    Ok(out)
}
