//! Weft `execve` logic that needs no hardware: validating a static ELF executable
//! and building the initial user stack.
//!
//! The kernel's `execve` does, in order:
//!
//! 1. copy `argv`/`envp` from the old address space into kernel memory, charging
//!    every string to an [`ArgBudget`] so that an oversized list fails with `E2BIG`
//!    before much is copied;
//! 2. read the executable's bytes and [`parse`] them into an [`ExecImage`]; for a
//!    static PIE ([`ExecImage::is_pie`]) choose a load bias and apply it with
//!    [`ExecImage::with_bias`];
//! 3. end the other threads, drop the old address space, then map every
//!    [`Segment`] (file bytes `[offset, offset + filesz)` at `vaddr`, zeros up to
//!    `memsz`, protection [`Segment::prot`]); segments never overlap, but two may
//!    share a boundary page, whose protection is then the union of both;
//! 4. build the initial stack with [`InitialStack`] (auxv values from
//!    [`AuxvValues::for_image`]), map the stack, copy [`StackImage::bytes`] to
//!    [`StackImage::rsp`], set the program break at [`ExecImage::brk_start`] and
//!    enter user mode at [`ExecImage::entry`] with that `rsp` (all other registers
//!    zero, as Linux does).
//!
//! Everything here is pure: untrusted input gives an [`Errno`], never a panic.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod elf;
mod stack;

#[cfg(test)]
mod tests;

pub use elf::{ExecImage, MAX_PHNUM, PAGE_SIZE, PIE_BASE, Prot, Segment, USER_END, parse};
pub use stack::{
    ARG_MAX, ArgBudget, AuxvValues, InitialStack, MAX_ARG_STRINGS, MAX_ARG_STRLEN, PLATFORM,
    StackImage, StackLimits,
};
pub use weft_abi::Errno;
