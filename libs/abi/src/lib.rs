//! The Weft system call ABI, shared by the kernel and by user programs.
//!
//! Weft speaks the Linux x86_64 ABI: the same system call numbers, the same errno
//! values and the same structure layouts, so that unmodified static Linux (musl)
//! programs run, and so that the very same binary can be measured against Linux.
//! On top of that it has a small set of *extension calls* for the seed thread API
//! (`thread_create`, `thread_join`, `tsuspend`, ...) numbered from
//! [`nr::WEFT_BASE`] (0x1000), a range Linux does not use on x86_64.
//!
//! This crate holds only numbers, flags, `#[repr(C)]` layouts and small pure
//! encoders/decoders; it has no dependencies, no `unsafe`, and builds for both the
//! kernel (`x86_64-unknown-none`) and user space.
//!
//! # Calling convention (x86_64)
//! The number goes in `rax`, arguments in `rdi`, `rsi`, `rdx`, `r10`, `r8`, `r9`; the
//! `syscall` instruction clobbers `rcx` and `r11`. The result comes back in `rax`: a
//! value in `-4095..=-1` is a negated errno (see [`errno::Errno::from_ret`]), anything
//! else is success.
//!
//! # Modules
//! - [`nr`]: system call numbers (Linux and the Weft extension calls, with their
//!   documentation) and [`nr::name`] for tracing.
//! - [`errno`]: error numbers, the [`errno::Errno`] newtype and name lookups.
//! - [`thread`]: flags and limits of the extension thread calls.
//! - [`clone`], [`futex`], [`mman`], [`fcntl`], [`signal`], [`ucontext`], [`wait`],
//!   [`time`], [`auxv`], [`prctl`], [`sched`], [`random`], [`resource`], [`stat`],
//!   [`uio`], [`poll`], [`utsname`], [`ioctl`]: flags, constants and structures by topic.
//!
//! Every structure has a compile-time size check (and offset checks where a field's
//! place is not obvious), so a layout mistake fails the build.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auxv;
pub mod clone;
pub mod errno;
pub mod fcntl;
pub mod futex;
pub mod ioctl;
pub mod mman;
pub mod nr;
pub mod poll;
pub mod prctl;
pub mod random;
pub mod resource;
pub mod sched;
pub mod signal;
pub mod stat;
pub mod thread;
pub mod time;
pub mod ucontext;
pub mod uio;
pub mod utsname;
pub mod wait;

pub use errno::Errno;
