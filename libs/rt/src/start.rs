//! Process entry: `_start`, the initial stack, and the call into the program's
//! `main` (named by [`crate::entry!`]).
//!
//! At `_start` the kernel leaves (SysV x86_64 ABI, Linux layout), from `rsp` up:
//! `argc`, `argv[0..argc]`, NULL, `envp[..]`, NULL, then the auxiliary vector as
//! `(type, value)` pairs ending with `AT_NULL`. `rsp` is 16-byte aligned and `rbp`
//! is meant to be 0 (the outermost frame). `_start` hands `rsp` to [`rt_start`] on
//! an aligned stack; `rt_start` records the vectors (see [`crate::env`]), gives the
//! main thread its TLS block, runs `main` and ends the process with `exit_group`.

use core::arch::global_asm;

use crate::env;

global_asm!(
    ".globl _start",
    ".type _start,@function",
    "_start:",
    // The outermost frame: a zero frame pointer ends frame-pointer walks.
    "xor ebp, ebp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {start}",
    "ud2",
    ".size _start, . - _start",
    start = sym rt_start,
);

unsafe extern "Rust" {
    /// Defined by [`crate::entry!`] in the program.
    fn __weft_rt_main(args: env::Args) -> i32;
}

/// Rust side of `_start`. `sp` is the kernel's initial stack pointer.
extern "C" fn rt_start(sp: *const usize) -> ! {
    // SAFETY: sp is the initial stack the kernel built (see the module docs).
    unsafe { env::init(sp) };
    crate::thread::init_main_thread();
    // SAFETY: the program defines __weft_rt_main through entry!.
    let code = unsafe { __weft_rt_main(env::args()) };
    crate::sys::exit_group(code)
}

/// Names the program's `main` function: `weft_rt::entry!(main);` with
/// `fn main(args: weft_rt::env::Args) -> i32`. The return value is the exit status.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[doc(hidden)]
        #[unsafe(no_mangle)]
        pub fn __weft_rt_main(args: $crate::env::Args) -> i32 {
            let f: fn($crate::env::Args) -> i32 = $main;
            f(args)
        }
    };
}
