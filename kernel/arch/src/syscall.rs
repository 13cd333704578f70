//! The `syscall` instruction entry and the way into user mode.
//!
//! Entry builds the same [`TrapFrame`] an interrupt from user mode would (vector
//! [`SYSCALL_VECTOR`]), so fork, signals and exec work on one frame layout. The
//! return path uses `sysret` after re-checking, in Rust, that the frame is one
//! `sysret` can restore safely (canonical user RIP, user segments, sane RFLAGS);
//! anything the kernel edited into an unusual state goes back through `iretq`.

use core::sync::atomic::{AtomicPtr, Ordering};

use crate::cpu::{msr, wrmsr};
use crate::gdt::{KERNEL_CS, USER_CS, USER_DS};
use crate::trap::TrapFrame;

/// `TrapFrame::vector` value for frames built by the system call entry. For them,
/// `TrapFrame::error_code` holds the system call number as it came in (rax is the
/// result by the time the call returns; a restarted call needs the number).
pub const SYSCALL_VECTOR: u64 = 0x100;

/// A system call handler sets `TrapFrame::vector` to this when the frame must be
/// restored exactly, rcx and r11 included (`rt_sigreturn`): the return goes
/// through `iretq` instead of `sysret`, which overwrites those two.
pub const IRET_VECTOR: u64 = 0x101;

/// `TrapFrame::vector` of a system call frame once the call is over (set just
/// before the return to user mode), so that a crash report can tell whether the
/// thread is inside a system call ([`current_syscall`]).
pub const SYSCALL_DONE_VECTOR: u64 = 0x102;

/// RFLAGS bits user mode may control (CF PF AF ZF SF TF DF OF AC ID and bit 1).
const USER_RFLAGS: u64 = 0x0004_0dd5 | (1 << 21);
const RFLAGS_IF: u64 = 1 << 9;
const RFLAGS_FIXED: u64 = 1 << 1;

core::arch::global_asm!(
    concat!(
    r#"
    .section .text.weft_syscall, "ax"
    .global weft_syscall_entry
    .p2align 4
weft_syscall_entry:
    swapgs
    mov gs:[{user_rsp}], rsp
    mov rsp, gs:[{kstack}]
    push {user_ds}
    push qword ptr gs:[{user_rsp}]
    push r11
    push {user_cs}
    push rcx
    push 0
    push {vector}
"#,
    crate::push_gprs!(),
    r#"    mov rdi, rsp
    cld
    call weft_syscall_dispatch
    cli
    test al, al
    jz 1f
"#,
    crate::pop_gprs!(),
    r#"    add rsp, 16
    mov rcx, [rsp]
    mov r11, [rsp + 16]
    mov rsp, [rsp + 24]
    swapgs
    sysretq
1:
    jmp weft_trap_return

    .global weft_enter_user
    .p2align 4
weft_enter_user:
    cli
    mov rsp, rdi
    jmp weft_trap_return
"#
    ),
    user_rsp = const crate::percpu::OFF_USER_RSP,
    kstack = const crate::percpu::OFF_KERNEL_STACK_TOP,
    user_ds = const USER_DS as u64,
    user_cs = const USER_CS as u64,
    vector = const SYSCALL_VECTOR,
);

unsafe extern "C" {
    fn weft_syscall_entry();
    fn weft_enter_user(frame: *const TrapFrame) -> !;
}

/// The kernel's system call handler: gets the frame (number in rax, arguments in
/// rdi rsi rdx r10 r8 r9), leaves the result in rax. Runs with interrupts enabled.
pub type SyscallHandler = fn(&mut TrapFrame);

static HANDLER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Installs the system call handler.
pub fn set_handler(h: SyscallHandler) {
    HANDLER.store(h as *mut (), Ordering::Release);
}

/// Enables `syscall` on this CPU (EFER.SCE, STAR, LSTAR, FMASK).
pub fn init_cpu() {
    // SAFETY: STAR holds the selectors of this kernel's GDT layout (see gdt.rs),
    // LSTAR the entry point above, FMASK clears IF/DF/TF/AC/NT on entry so the entry
    // code starts with interrupts off, and SCE enables the instruction.
    unsafe {
        wrmsr(
            msr::STAR,
            ((KERNEL_CS as u64) << 32) | (((USER_DS as u64 & !3) - 8) << 48),
        );
        wrmsr(msr::LSTAR, weft_syscall_entry as *const () as u64);
        wrmsr(msr::FMASK, 0x4_7700);
        wrmsr(msr::EFER, crate::cpu::rdmsr(msr::EFER) | 1);
    }
}

fn is_canonical_user(addr: u64) -> bool {
    addr < 0x0000_8000_0000_0000
}

/// Makes `frame` safe to return to user mode with: user segments, RFLAGS limited to
/// user-controllable bits plus IF. Returns whether `sysret` may be used (canonical
/// RIP); otherwise the caller must use `iretq`, which faults in user mode.
pub fn sanitize_user_frame(frame: &mut TrapFrame) -> bool {
    frame.cs = USER_CS as u64;
    frame.ss = USER_DS as u64;
    frame.rflags = (frame.rflags & USER_RFLAGS) | RFLAGS_IF | RFLAGS_FIXED;
    is_canonical_user(frame.rip)
}

#[unsafe(no_mangle)]
extern "C" fn weft_syscall_dispatch(frame: &mut TrapFrame) -> bool {
    frame.error_code = frame.rax;
    crate::cpu::enable_interrupts();
    let p = HANDLER.load(Ordering::Acquire);
    if p.is_null() {
        frame.rax = (-38i64) as u64; // ENOSYS
    } else {
        // SAFETY: only `set_handler` stores into HANDLER, always a `SyscallHandler`.
        let h: SyscallHandler = unsafe { core::mem::transmute::<*mut (), SyscallHandler>(p) };
        h(frame);
    }
    crate::cpu::disable_interrupts();
    crate::trap::run_return_hook(frame);
    if !sanitize_user_frame(frame) {
        // Never iret/sysret to a non-canonical address (that faults in ring 0):
        // resume at address 0 instead, which faults in user mode (SIGSEGV).
        frame.rip = 0;
    }
    let sysret = frame.vector == SYSCALL_VECTOR;
    // Neither return path reads `vector` again: mark the call as over.
    frame.vector = SYSCALL_DONE_VECTOR;
    sysret
}

/// The system call the running thread is inside, as (number, six arguments), for
/// crash reports; `None` when it is not inside one.
///
/// Call it only while a *user* thread runs on this CPU (the kernel checks that
/// first): its user-mode frame is the [`TrapFrame`] at the top of its kernel
/// stack, where the syscall entry (and every trap from user mode) puts it. The
/// frame says "in a system call" from the entry until just before the return
/// ([`SYSCALL_DONE_VECTOR`]); a trap from user mode overwrites it with its own
/// vector. The number is the one the call was entered with (rax is the result by
/// the time it returns); the arguments are the registers as they are now.
pub fn current_syscall() -> Option<(u64, [u64; 6])> {
    let top = crate::percpu::this()
        .kernel_stack_top
        .load(Ordering::Relaxed);
    let size = core::mem::size_of::<TrapFrame>() as u64;
    if top < size || !top.is_multiple_of(16) {
        return None;
    }
    // SAFETY: `kernel_stack_top` is the top of the running thread's own kernel
    // stack (set at every switch to a thread with a stack; a user thread always
    // has one), mapped for as long as the thread runs; the slot below it is
    // reserved for the user frame and holds plain integers. A volatile read: the
    // frame may be anything if the caller broke the rule above, never UB beyond a
    // wrong answer as long as the stack is mapped.
    let f = unsafe { core::ptr::read_volatile((top - size) as *const TrapFrame) };
    if !matches!(f.vector, SYSCALL_VECTOR | IRET_VECTOR) || f.cs != USER_CS as u64 {
        return None;
    }
    Some((f.error_code, [f.rdi, f.rsi, f.rdx, f.r10, f.r8, f.r9]))
}

/// Enters user mode with the register state `frame`: copies it into the slot at the
/// top of the current thread's kernel stack (reserved by `Context::new_user`) and
/// returns through the trap path with `iretq`.
pub fn enter_user_with(frame: &TrapFrame) -> ! {
    crate::cpu::disable_interrupts();
    let mut f = *frame;
    sanitize_user_frame(&mut f);
    f.vector = SYSCALL_DONE_VECTOR; // not inside a system call from here on
    if !is_canonical_user(f.rip) {
        f.rip = 0; // faults in user mode at address 0: the process gets SIGSEGV
    }
    let top = crate::percpu::this()
        .kernel_stack_top
        .load(Ordering::Relaxed);
    assert!(
        top != 0,
        "enter_user_with on a context without a kernel stack"
    );
    let slot = (top - core::mem::size_of::<TrapFrame>() as u64) as *mut TrapFrame;
    // SAFETY: `kernel_stack_top` is the top of the running thread's own kernel stack
    // (set by the context switch), whose highest `size_of::<TrapFrame>()` bytes were
    // left unused for exactly this frame by `Context::new_user`; the current Rust
    // frames live below it. After the write, the trap return path pops the frame and
    // `iretq`s to ring 3, never coming back here.
    unsafe {
        slot.write(f);
        weft_enter_user(slot)
    }
}
