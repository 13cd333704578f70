//! `weft-rt`: the user runtime for Weft programs.
//!
//! A `#![no_std]` runtime that lets ordinary-looking Rust programs run as static
//! x86_64 executables with no libc: on Weft (from its initramfs) and, because Weft
//! speaks the Linux system call ABI, natively on Linux too. It provides:
//!
//! - [`start`]: `_start` (SysV initial stack: argc, argv, envp, auxv), the main
//!   thread's TLS block, and [`entry!`] to name `main`; the process ends with
//!   `exit_group(main's return value)`.
//! - [`syscall`]: raw `syscall0..6`; [`sys`]: typed wrappers returning
//!   `Result<_, Errno>` (files, memory, processes, futex, scheduling, time, identity,
//!   signals, `arch_prctl`); [`wthread`]: the Weft extension thread calls.
//! - [`print!`], [`println!`], [`eprint!`], [`eprintln!`]: one `write` per call
//!   (lines from different threads do not interleave).
//! - A global allocator over `mmap` ([`heap`]), so `alloc::{vec, string, boxed,
//!   sync}` work.
//! - [`thread::spawn`] / [`thread::Builder`] / [`thread::JoinHandle`] on `clone`
//!   with an `mmap`'d stack, a guard page and a TLS block; [`wthread::spawn`] on
//!   `thread_create`.
//! - [`sync`]: futex [`sync::Mutex`], [`sync::Once`], [`sync::OnceLock`] (for the
//!   runtime's own needs).
//! - [`process`]: `fork`, `exec`, `vfork_exec`, `spawn`, `wait`; [`time`]: `now()`
//!   on `CLOCK_MONOTONIC`, `Instant`, `sleep`; [`getcpu`]; [`env`]: arguments,
//!   environment, auxiliary vector.
//!
//! # Example
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//!
//! extern crate alloc;
//!
//! use alloc::vec::Vec;
//! use weft_rt::{env::Args, println, thread};
//!
//! weft_rt::entry!(main);
//!
//! fn main(args: Args) -> i32 {
//!     println!("hello from {}", args.get(0).unwrap_or("?"));
//!     let handles: Vec<_> = (0..4u64)
//!         .map(|i| thread::spawn(move || i * i))
//!         .collect();
//!     let sum: u64 = handles.into_iter().map(|h| h.join()).sum();
//!     println!("sum of squares: {sum}, on cpu {}", weft_rt::getcpu());
//!     0
//! }
//! ```
//!
//! with, in the program's `Cargo.toml`, `weft-rt = { path = "../../libs/rt" }` and
//! `[[bin]] test = false`.
//!
//! # Building programs
//!
//! Programs are built for the stable target `x86_64-unknown-linux-musl`, but link
//! neither musl nor any C start-up file: this crate brings `_start`, `memcpy` & co.
//! The flags (see the Makefile's USER PROGRAMS block, which builds into its own
//! target directory `target/user` so that they never mix with the kernel's):
//!
//! ```text
//! RUSTFLAGS="-C relocation-model=static -C force-frame-pointers=yes \
//!            -C link-self-contained=no -C link-arg=-nostartfiles" \
//! CARGO_TARGET_DIR=target/user \
//! cargo build --release --target x86_64-unknown-linux-musl -p weft-init -p weft-utest ...
//! ```
//!
//! - `relocation-model=static` makes rustc link with `-static -no-pie`: a plain
//!   `ET_EXEC` at 0x400000 with no dynamic section, no interpreter and no
//!   relocations to apply, which any ELF loader can map as it is.
//! - `link-self-contained=no` keeps rustc from adding the musl `crt1.o`/`libc.a` it
//!   ships; `-nostartfiles` keeps the C compiler driver (`cc`, the linker driver of
//!   this target) from adding the host's; rustc already passes `-nodefaultlibs`.
//! - `force-frame-pointers=yes` keeps `rbp` chains for stack walks from the kernel.
//!
//! The result runs directly on Linux (`./target/user/x86_64-unknown-linux-musl/release/utest`)
//! and is what the initramfs installs as `/bin/<name>`.
//!
//! The profile must have `panic = "abort"` (the workspace's has): the panic handler
//! prints the message and ends the process with status 101.
//!
//! # Thread-local storage
//!
//! Every thread's FS base points to a [`thread::Tcb`] whose first word is its own
//! address (the x86_64 TLS ABI). The runtime has no `#[thread_local]` data (that is
//! unstable Rust); programs must not use ELF TLS (`PT_TLS`).
#![no_std]
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub mod env;
pub mod heap;
pub mod io;
mod mem;
mod panic;
pub mod process;
pub mod start;
pub mod sync;
pub mod sys;
pub mod syscall;
pub mod thread;
pub mod time;
pub mod wthread;

pub use weft_abi as abi;
pub use weft_abi::Errno;

/// The CPU the calling thread is running on (`getcpu`; 0 if the kernel cannot
/// say).
pub fn getcpu() -> u32 {
    thread::current_cpu()
}

/// True when running on Weft (`uname().sysname == "Weft"`), false on Linux.
pub fn is_weft() -> bool {
    sys::uname()
        .map(|u| sys::c_field(&u.sysname) == b"Weft")
        .unwrap_or(false)
}
