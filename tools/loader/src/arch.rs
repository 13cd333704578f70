//! Thin wrappers around x86-64 instructions the loader needs.

use core::arch::asm;

/// Writes a byte to an I/O port.
pub fn outb(port: u16, value: u8) {
    // SAFETY: port I/O has no memory effects; the loader owns the machine and only
    // touches legacy devices it programs on purpose (COM1, PIC, PIT, CMOS, debug exit).
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    }
}

/// Reads a byte from an I/O port.
pub fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: as for `outb`.
    unsafe {
        asm!("in al, dx", out("al") value, in("dx") port, options(nomem, nostack, preserves_flags))
    }
    value
}

/// Reads a model-specific register.
///
/// # Safety
/// `msr` must exist on this CPU (otherwise #GP).
pub unsafe fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: the caller guarantees the MSR exists.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Writes a model-specific register.
///
/// # Safety
/// `msr` must exist and `value` must be valid for it; the write may change how the CPU
/// behaves (paging, APIC mode, memory types).
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: the caller guarantees MSR and value are valid.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack, preserves_flags))
    }
}

/// CPUID leaf `leaf`, subleaf 0: `[eax, ebx, ecx, edx]`.
pub fn cpuid(leaf: u32) -> [u32; 4] {
    let r = core::arch::x86_64::__cpuid_count(leaf, 0);
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// Whether the CPU supports the NX bit (CPUID 0x8000_0001 EDX bit 20).
pub fn has_nx() -> bool {
    cpuid(0x8000_0000)[0] >= 0x8000_0001 && cpuid(0x8000_0001)[3] & (1 << 20) != 0
}

/// Whether the CPU supports x2APIC mode (CPUID 1 ECX bit 21).
pub fn has_x2apic() -> bool {
    cpuid(1)[2] & (1 << 21) != 0
}

/// Loads CR3.
///
/// # Safety
/// `pml4` must be a valid PML4 that maps the running code, its stack and data.
pub unsafe fn write_cr3(pml4: u64) {
    // SAFETY: the caller guarantees the new address space maps everything in use.
    unsafe { asm!("mov cr3, {}", in(reg) pml4, options(nostack, preserves_flags)) }
}

/// Writes CR0.
///
/// # Safety
/// Must keep paging and protected mode enabled with the current tables.
pub unsafe fn write_cr0(v: u64) {
    // SAFETY: the caller guarantees the value keeps the current mode valid.
    unsafe { asm!("mov cr0, {}", in(reg) v, options(nostack, preserves_flags)) }
}

/// Writes CR4.
///
/// # Safety
/// Must keep PAE set (required in long mode).
pub unsafe fn write_cr4(v: u64) {
    // SAFETY: the caller guarantees the value keeps long mode valid.
    unsafe { asm!("mov cr4, {}", in(reg) v, options(nostack, preserves_flags)) }
}

/// Spin-loop hint.
pub fn pause() {
    core::hint::spin_loop();
}

/// Halts forever with interrupts off.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: cli/hlt only stop this CPU.
        unsafe { asm!("cli; hlt", options(nomem, nostack)) }
    }
}

/// Ends the QEMU run through isa-debug-exit with `code` (exit status 2*code+1); on
/// machines without the device this is a harmless port write, and we halt.
pub fn exit_qemu(code: u8) -> ! {
    outb(0xf4, code);
    halt_forever()
}
