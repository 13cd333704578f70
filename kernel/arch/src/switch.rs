//! Kernel context switch and user FPU state.
//!
//! A switched-out thread's kernel stack holds its callee-saved registers and the
//! return address into `switch_stacks`; its saved stack pointer is all the scheduler
//! keeps. A new thread's stack is prepared by [`init_stack`] so that the first switch
//! to it "returns" into [`weft_thread_start`], which calls the entry function.

core::arch::global_asm!(
    r#"
    .section .text.weft_switch, "ax"
    .global weft_switch_stacks
    .p2align 4
weft_switch_stacks:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov [rdi], rsp
    mov rsp, rsi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret

    .global weft_thread_start
    .p2align 4
weft_thread_start:
    call weft_context_started
    mov rdi, r12
    mov rsi, r13
    xor ebp, ebp
    call r14
    ud2
"#
);

unsafe extern "C" {
    fn weft_switch_stacks(save_rsp: *mut u64, load_rsp: u64);
    fn weft_thread_start();
}

/// Saves the current context's stack pointer into `*save_rsp` and resumes the
/// context whose stack pointer is `load_rsp`. Returns when something switches back.
///
/// # Safety
/// `load_rsp` must come from an earlier switch-out of a context that has not been
/// resumed since, or from [`init_stack`]; the stacks must stay mapped; interrupts
/// must be disabled across the call (the scheduler's invariant).
pub unsafe fn switch_stacks(save_rsp: *mut u64, load_rsp: u64) {
    // SAFETY: forwarded to the caller's contract.
    unsafe { weft_switch_stacks(save_rsp, load_rsp) };
}

/// Prepares a fresh kernel stack whose top is `top` so that switching to the
/// returned stack pointer calls `entry(a, b)` on it. `entry` must not return.
///
/// # Safety
/// `top` must be the 16-byte-aligned top of a mapped, writable, otherwise unused stack.
pub unsafe fn init_stack(
    top: u64,
    entry: extern "C" fn(usize, usize) -> !,
    a: usize,
    b: usize,
) -> u64 {
    // Layout from the initial rsp upwards: r15 r14 r13 r12 rbx rbp, return address.
    // After the `ret`, rsp == top (16-byte aligned), so the `call` in
    // `weft_thread_start` enters `entry` with rsp % 16 == 8, as the ABI expects.
    let frame: [u64; 7] = [
        0,
        entry as usize as u64,
        b as u64,
        a as u64,
        0,
        0,
        weft_thread_start as *const () as u64,
    ];
    let rsp = top - (frame.len() as u64) * 8;
    // SAFETY: the caller guarantees [top - 56, top) is writable stack memory.
    unsafe { core::ptr::copy_nonoverlapping(frame.as_ptr(), rsp as *mut u64, frame.len()) };
    rsp
}

/// Saves this CPU's user FPU/SSE/AVX state into `area` (64-byte aligned, at least
/// `cpu::fpu_state_size()` bytes).
///
/// # Safety
/// `area` must be valid for writes of that size and 64-byte aligned.
pub unsafe fn fpu_save(area: *mut u8) {
    if crate::cpu::features().xsave {
        // SAFETY: XSAVE is enabled (CR4.OSXSAVE) and `area` meets the contract.
        unsafe {
            core::arch::asm!("xsave64 [{}]", in(reg) area, in("eax") u32::MAX, in("edx") u32::MAX, options(nostack, preserves_flags))
        };
    } else {
        // SAFETY: FXSR is enabled (CR4.OSFXSR); `area` is 16-byte aligned and 512 bytes.
        unsafe {
            core::arch::asm!("fxsave64 [{}]", in(reg) area, options(nostack, preserves_flags))
        };
    }
}

/// Restores user FPU state saved by [`fpu_save`] (or prepared by [`fpu_init_area`]).
///
/// # Safety
/// `area` must hold a valid saved image.
pub unsafe fn fpu_restore(area: *const u8) {
    if crate::cpu::features().xsave {
        // SAFETY: `area` holds a valid XSAVE image.
        unsafe {
            core::arch::asm!("xrstor64 [{}]", in(reg) area, in("eax") u32::MAX, in("edx") u32::MAX, options(nostack, preserves_flags))
        };
    } else {
        // SAFETY: `area` holds a valid FXSAVE image.
        unsafe {
            core::arch::asm!("fxrstor64 [{}]", in(reg) area, options(nostack, preserves_flags))
        };
    }
}

/// Writes the initial (reset) FPU state into a zeroed save area: x87 control word
/// 0x37f and MXCSR 0x1f80, as Linux gives a new program.
pub fn fpu_init_area(area: &mut [u8]) {
    area.fill(0);
    area[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
    area[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
    area[28..32].copy_from_slice(&0xffffu32.to_le_bytes()); // MXCSR mask
}
