//! Vector register load/yield/store rounds for user_fpu_isolation.

use core::arch::asm;

/// Loads xmm0..xmm15 from `input` and MXCSR from `mxcsr_in`, calls `sched_yield`
/// `yields` times, then stores the registers to `out` and MXCSR to `mxcsr_out`.
/// Everything happens in one asm block, so the compiler cannot touch the registers
/// in between: any change is the kernel's doing.
pub fn sse_round(
    input: &[u64; 32],
    out: &mut [u64; 32],
    mxcsr_in: u32,
    mxcsr_out: &mut u32,
    yields: usize,
) {
    let n = yields.max(1);
    // SAFETY: reads `input`/`mxcsr_in`, writes `out`/`mxcsr_out` (all live), clobbers
    // exactly the registers it declares; sched_yield touches no memory.
    unsafe {
        asm!(
            "ldmxcsr [{mi}]",
            "movdqu xmm0, [{i}]",
            "movdqu xmm1, [{i} + 16]",
            "movdqu xmm2, [{i} + 32]",
            "movdqu xmm3, [{i} + 48]",
            "movdqu xmm4, [{i} + 64]",
            "movdqu xmm5, [{i} + 80]",
            "movdqu xmm6, [{i} + 96]",
            "movdqu xmm7, [{i} + 112]",
            "movdqu xmm8, [{i} + 128]",
            "movdqu xmm9, [{i} + 144]",
            "movdqu xmm10, [{i} + 160]",
            "movdqu xmm11, [{i} + 176]",
            "movdqu xmm12, [{i} + 192]",
            "movdqu xmm13, [{i} + 208]",
            "movdqu xmm14, [{i} + 224]",
            "movdqu xmm15, [{i} + 240]",
            "2:",
            "mov eax, 24",
            "syscall",
            "dec {n}",
            "jnz 2b",
            "movdqu [{o}], xmm0",
            "movdqu [{o} + 16], xmm1",
            "movdqu [{o} + 32], xmm2",
            "movdqu [{o} + 48], xmm3",
            "movdqu [{o} + 64], xmm4",
            "movdqu [{o} + 80], xmm5",
            "movdqu [{o} + 96], xmm6",
            "movdqu [{o} + 112], xmm7",
            "movdqu [{o} + 128], xmm8",
            "movdqu [{o} + 144], xmm9",
            "movdqu [{o} + 160], xmm10",
            "movdqu [{o} + 176], xmm11",
            "movdqu [{o} + 192], xmm12",
            "movdqu [{o} + 208], xmm13",
            "movdqu [{o} + 224], xmm14",
            "movdqu [{o} + 240], xmm15",
            "stmxcsr [{mo}]",
            "ldmxcsr [{def}]",
            i = in(reg) input.as_ptr(),
            o = in(reg) out.as_mut_ptr(),
            mi = in(reg) &mxcsr_in,
            mo = in(reg) mxcsr_out as *mut u32,
            def = in(reg) &0x1f80u32,
            n = inout(reg) n => _,
            out("rax") _, out("rcx") _, out("r11") _,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
        );
    }
}

/// The same with the full 256-bit ymm0..ymm15 (the caller checks for AVX).
///
/// # Safety
/// The CPU and the kernel must support AVX (CPUID and XCR0), see [`has_avx`].
#[target_feature(enable = "avx")]
pub unsafe fn avx_round(input: &[u64; 64], out: &mut [u64; 64], yields: usize) {
    let n = yields.max(1);
    // SAFETY: as in sse_round; AVX is available (caller).
    unsafe {
        asm!(
            "vmovdqu ymm0, [{i}]",
            "vmovdqu ymm1, [{i} + 32]",
            "vmovdqu ymm2, [{i} + 64]",
            "vmovdqu ymm3, [{i} + 96]",
            "vmovdqu ymm4, [{i} + 128]",
            "vmovdqu ymm5, [{i} + 160]",
            "vmovdqu ymm6, [{i} + 192]",
            "vmovdqu ymm7, [{i} + 224]",
            "vmovdqu ymm8, [{i} + 256]",
            "vmovdqu ymm9, [{i} + 288]",
            "vmovdqu ymm10, [{i} + 320]",
            "vmovdqu ymm11, [{i} + 352]",
            "vmovdqu ymm12, [{i} + 384]",
            "vmovdqu ymm13, [{i} + 416]",
            "vmovdqu ymm14, [{i} + 448]",
            "vmovdqu ymm15, [{i} + 480]",
            "2:",
            "mov eax, 24",
            "syscall",
            "dec {n}",
            "jnz 2b",
            "vmovdqu [{o}], ymm0",
            "vmovdqu [{o} + 32], ymm1",
            "vmovdqu [{o} + 64], ymm2",
            "vmovdqu [{o} + 96], ymm3",
            "vmovdqu [{o} + 128], ymm4",
            "vmovdqu [{o} + 160], ymm5",
            "vmovdqu [{o} + 192], ymm6",
            "vmovdqu [{o} + 224], ymm7",
            "vmovdqu [{o} + 256], ymm8",
            "vmovdqu [{o} + 288], ymm9",
            "vmovdqu [{o} + 320], ymm10",
            "vmovdqu [{o} + 352], ymm11",
            "vmovdqu [{o} + 384], ymm12",
            "vmovdqu [{o} + 416], ymm13",
            "vmovdqu [{o} + 448], ymm14",
            "vmovdqu [{o} + 480], ymm15",
            "vzeroupper",
            i = in(reg) input.as_ptr(),
            o = in(reg) out.as_mut_ptr(),
            n = inout(reg) n => _,
            out("rax") _, out("rcx") _, out("r11") _,
            out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
            out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
            out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
            out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
        );
    }
}

/// True if the CPU has AVX and the kernel enabled the AVX state in XCR0.
pub fn has_avx() -> bool {
    let ecx = core::arch::x86_64::__cpuid(1).ecx;
    let osxsave = ecx & (1 << 27) != 0;
    let avx = ecx & (1 << 28) != 0;
    if !(osxsave && avx) {
        return false;
    }
    let (lo, _hi): (u32, u32);
    // SAFETY: XGETBV is allowed when CR4.OSXSAVE is set (CPUID.1:ECX.OSXSAVE).
    unsafe { asm!("xgetbv", in("ecx") 0, out("eax") lo, out("edx") _hi, options(nomem, nostack)) };
    lo & 0b110 == 0b110
}
