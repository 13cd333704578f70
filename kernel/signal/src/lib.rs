//! The Weft signal model: the logic of Linux signals, free of threads, stacks and
//! locks, so that every rule is tested on the host.
//!
//! - [`Actions`]: the per-process disposition table (`rt_sigaction`), what fork keeps
//!   and exec resets, and [`Disposition`], what a signal does when it is taken.
//! - [`Pending`]: a pending set with its queue of `siginfo` (one entry per standard
//!   signal: they coalesce; every real-time signal queued, in order, up to a limit).
//!   Each thread has one, and the process has a shared one for process-directed
//!   signals.
//! - [`route::pick_thread`]: which thread of a process takes a process-directed
//!   signal (one that does not block it; only that one is woken).
//! - [`AltStack`]: `sigaltstack` state and checks.
//! - [`frame`]: the Linux x86_64 `rt_sigframe` a handler runs on, built and parsed
//!   as bytes, and the register rules of `rt_sigreturn`.
//! - [`restart`]: what an interrupted system call returns or restarts.
//!
//! The kernel binary keeps one [`Actions`] + shared [`Pending`] per process and one
//! mask + [`Pending`] + [`AltStack`] per thread, under the process's signal lock
//! (docs/signals.md), and glues these rules to its threads, frames and waits.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod actions;
mod altstack;
pub mod frame;
mod pending;
pub mod restart;
pub mod route;

pub use actions::{Actions, Disposition};
pub use altstack::AltStack;
pub use pending::{Pending, QueueFull};
pub use weft_abi::signal::{SigAction, SigInfo, SigSet};

use weft_abi::signal::{
    SIGBUS, SIGCONT, SIGFPE, SIGILL, SIGSEGV, SIGSTOP, SIGSYS, SIGTRAP, SIGTSTP, SIGTTIN, SIGTTOU,
    UNBLOCKABLE, sigmask,
};

/// Signals a thread can never block: masks are always stored through this.
pub const fn sanitize_mask(mask: SigSet) -> SigSet {
    mask & !UNBLOCKABLE
}

/// The stop signals (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU).
pub const STOP_SIGNALS: SigSet =
    sigmask(SIGSTOP) | sigmask(SIGTSTP) | sigmask(SIGTTIN) | sigmask(SIGTTOU);

/// SIGCONT's bit.
pub const CONT_SIGNALS: SigSet = sigmask(SIGCONT);

/// Signals raised synchronously by a faulting instruction: dequeued before others.
pub const SYNCHRONOUS: SigSet = sigmask(SIGSEGV)
    | sigmask(SIGBUS)
    | sigmask(SIGILL)
    | sigmask(SIGTRAP)
    | sigmask(SIGFPE)
    | sigmask(SIGSYS);
