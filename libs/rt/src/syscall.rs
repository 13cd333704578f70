//! Raw system calls: the `syscall` instruction with 0 to 6 arguments.
//!
//! The number goes in `rax`, the arguments in `rdi`, `rsi`, `rdx`, `r10`, `r8`,
//! `r9`; `rcx` and `r11` are clobbered; the result comes back in `rax`. A result in
//! `-4095..=-1` is a negated errno: [`ret`] turns the raw value into a `Result`.
//!
//! These are `unsafe`: a system call can unmap memory, end the thread or the
//! process, or write anywhere in the address space.

use core::arch::asm;

use weft_abi::Errno;

/// Turns a raw system call return value into `Ok(value)` or `Err(errno)`.
#[inline]
pub fn ret(raw: usize) -> Result<usize, Errno> {
    Errno::result(raw)
}

/// System call `nr` without arguments.
///
/// # Safety
/// The call must be sound for the program in its current state (see the module
/// documentation).
#[inline]
pub unsafe fn syscall0(nr: usize) -> usize {
    let r: usize;
    // SAFETY: the caller vouches for the call; only rax, rcx and r11 change.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, lateout("rcx") _, lateout("r11") _,
            options(nostack));
    }
    r
}

/// System call `nr` with one argument.
///
/// # Safety
/// See [`syscall0`].
#[inline]
pub unsafe fn syscall1(nr: usize, a1: usize) -> usize {
    let r: usize;
    // SAFETY: the caller vouches for the call; only rax, rcx and r11 change.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a1,
            lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    r
}

/// System call `nr` with two arguments.
///
/// # Safety
/// See [`syscall0`].
#[inline]
pub unsafe fn syscall2(nr: usize, a1: usize, a2: usize) -> usize {
    let r: usize;
    // SAFETY: the caller vouches for the call; only rax, rcx and r11 change.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a1, in("rsi") a2,
            lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    r
}

/// System call `nr` with three arguments.
///
/// # Safety
/// See [`syscall0`].
#[inline]
pub unsafe fn syscall3(nr: usize, a1: usize, a2: usize, a3: usize) -> usize {
    let r: usize;
    // SAFETY: the caller vouches for the call; only rax, rcx and r11 change.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a1, in("rsi") a2, in("rdx") a3,
            lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    r
}

/// System call `nr` with four arguments.
///
/// # Safety
/// See [`syscall0`].
#[inline]
pub unsafe fn syscall4(nr: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> usize {
    let r: usize;
    // SAFETY: the caller vouches for the call; only rax, rcx and r11 change.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a1, in("rsi") a2, in("rdx") a3,
            in("r10") a4, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    r
}

/// System call `nr` with five arguments.
///
/// # Safety
/// See [`syscall0`].
#[inline]
pub unsafe fn syscall5(nr: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> usize {
    let r: usize;
    // SAFETY: the caller vouches for the call; only rax, rcx and r11 change.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a1, in("rsi") a2, in("rdx") a3,
            in("r10") a4, in("r8") a5, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    r
}

/// System call `nr` with six arguments.
///
/// # Safety
/// See [`syscall0`].
#[inline]
pub unsafe fn syscall6(
    nr: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
    a6: usize,
) -> usize {
    let r: usize;
    // SAFETY: the caller vouches for the call; only rax, rcx and r11 change.
    unsafe {
        asm!("syscall", inlateout("rax") nr => r, in("rdi") a1, in("rsi") a2, in("rdx") a3,
            in("r10") a4, in("r8") a5, in("r9") a6, lateout("rcx") _, lateout("r11") _,
            options(nostack));
    }
    r
}
