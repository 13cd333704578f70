//! The final switch to the kernel.
//!
//! `weft_handoff` jumps to its own HHDM alias, loads the Limine-layout GDT through its
//! HHDM address, reloads CS (0x28) and the data segments (0x30), clears PML4[0] (the
//! identity map the loader ran on) and reloads CR3, then enters the kernel with
//! rsp = stack top - 8 holding a 0 return address and every other GPR zero.

use crate::arch::{self, inb, outb};
use crate::boot;
use crate::phys::{self, Global, hhdm};
use weft_bootproto::acpi::MadtIoApic;
use weft_bootproto::limine::HHDM_OFFSET;

/// GDTR image (limit, base) as `lgdt` reads it.
#[repr(C, packed)]
pub struct Gdtr {
    limit: u16,
    base: u64,
}

/// GDTR with the HHDM address of the loader GDT, used by `weft_handoff` and `ap_park`.
pub static GDTR_HHDM: Global<Gdtr> = Global::new(Gdtr { limit: 0, base: 0 });

core::arch::global_asm!(
    r#"
    .pushsection .text.handoff, "ax"
    .global weft_handoff
weft_handoff:
    /* rdi = entry, rsi = stack top (HHDM), rdx = HHDM offset */
    lea 1f(%rip), %rax
    add %rdx, %rax
    jmp *%rax
1:  lgdt {gdtr}(%rip)
    lea 2f(%rip), %rax
    pushq $0x28
    push %rax
    lretq
2:  mov $0x30, %eax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    mov %cr3, %rcx
    lea (%rcx, %rdx), %rax
    movq $0, (%rax)                     /* PML4[0]: no identity map for the kernel */
    mov %rcx, %cr3
    mov %rsi, %rsp
    pushq $0
    push %rdi
    xor %eax, %eax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %edx, %edx
    xor %esi, %esi
    xor %edi, %edi
    xor %ebp, %ebp
    xor %r8d, %r8d
    xor %r9d, %r9d
    xor %r10d, %r10d
    xor %r11d, %r11d
    xor %r12d, %r12d
    xor %r13d, %r13d
    xor %r14d, %r14d
    xor %r15d, %r15d
    cld
    ret
    .popsection
"#,
    gdtr = sym GDTR_HHDM,
    options(att_syntax)
);

unsafe extern "C" {
    fn weft_handoff(entry: u64, stack_top: u64, hhdm_offset: u64) -> !;
}

/// Points [`GDTR_HHDM`] at the HHDM alias of the loader GDT. Must run before any AP
/// is started (parked APs load it).
pub fn prepare_gdtr() {
    // SAFETY: BSP-only, before APs run.
    let g = unsafe { GDTR_HHDM.get() };
    *g = Gdtr {
        limit: boot::GDT_SIZE - 1,
        base: hhdm(boot::gdt_addr()),
    };
}

/// Masks both legacy PICs.
pub fn mask_pic() {
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
    let _ = inb(0x80); // tiny I/O delay
}

/// Masks every I/O APIC redirection entry with fixed or lowest-priority delivery, as the
/// protocol requires.
pub fn mask_ioapics(ioapics: &[MadtIoApic]) {
    for io in ioapics {
        let base = u64::from(io.address);
        let read = |reg: u32| {
            // SAFETY: IOREGSEL/IOWIN of an I/O APIC listed in the MADT, identity-mapped
            // below 4 GiB.
            unsafe {
                phys::write_u32(base, reg);
                phys::read_u32(base + 0x10)
            }
        };
        let write = |reg: u32, v: u32| {
            // SAFETY: as above.
            unsafe {
                phys::write_u32(base, reg);
                phys::write_u32(base + 0x10, v);
            }
        };
        let max = (read(1) >> 16) & 0xff;
        for i in 0..=max {
            let reg = 0x10 + 2 * i;
            let low = read(reg);
            let mode = (low >> 8) & 7;
            if mode <= 1 {
                write(reg, low | (1 << 16));
            }
        }
    }
}

/// Sets the final control register state and jumps to the kernel. Never returns.
pub fn enter_kernel(entry: u64, stack_top: u64) -> ! {
    // SAFETY: CR4 = PAE only and CR0 = PE | ET | WP | PG keep long mode with the
    // current tables (Limine hands over exactly these); the hand-off stub runs from the
    // HHDM alias of the loader, which the current tables map, and the kernel entry and
    // stack were mapped by the loader.
    unsafe {
        arch::write_cr4(0x20);
        arch::write_cr0(0x8001_0011);
        weft_handoff(entry, stack_top, HHDM_OFFSET)
    }
}
