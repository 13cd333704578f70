//! Multiboot header and the 32-bit entry path into long mode.
//!
//! QEMU jumps to `loader_start32` in 32-bit protected mode, paging off, with the
//! Multiboot magic in eax and the information structure address in ebx. We zero .bss,
//! check for long mode, build an identity map of the low 4 GiB with 2 MiB pages, enable
//! PAE, LME (and NXE when present), paging and WP, load a GDT with the Limine layout
//! and far-jump to 64-bit code that calls `loader_main(magic, info)`.

use weft_bootproto::multiboot::{HEADER_FLAGS, HEADER_MAGIC};

const HEADER_CHECKSUM: u32 = 0u32.wrapping_sub(HEADER_MAGIC.wrapping_add(HEADER_FLAGS));

/// Size of the loader's own stack (used by the BSP until hand-off).
pub const BOOT_STACK_SIZE: usize = 128 * 1024;

core::arch::global_asm!(
    r#"
    .pushsection .multiboot, "a"
    .balign 4
multiboot_header:
    .long {magic}
    .long {flags}
    .long {checksum}
    .long multiboot_header
    .long __loader_start
    .long __load_end
    .long __bss_end
    .long loader_start32
    .popsection

    /* Limine's GDT layout: null, 16-bit code/data, 32-bit code/data, 64-bit code
       (0x28) and data (0x30). Accessed bits are preset so the CPU never writes it. */
    .pushsection .data.loader_gdt, "aw"
    .balign 16
    .global loader_gdt
loader_gdt:
    .quad 0
    .quad 0x00009b000000ffff
    .quad 0x000093000000ffff
    .quad 0x00cf9b000000ffff
    .quad 0x00cf93000000ffff
    .quad 0x00209b0000000000
    .quad 0x0000930000000000
loader_gdt_end:
    .balign 8
    .word 0, 0, 0
boot_gdtr:
    .word loader_gdt_end - loader_gdt - 1
    .long loader_gdt
    .balign 4
saved_magic:
    .long 0
saved_info:
    .long 0
    .popsection

    .pushsection .bss.boot, "aw", @nobits
    .balign 4096
    .global boot_pml4
boot_pml4:
    .skip 4096
    .global boot_pdpt
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4 * 4096
boot_stack:
    .skip {stack_size}
boot_stack_top:
    .popsection

    .pushsection .text.entry, "ax"
    .code32
    .global loader_start32
loader_start32:
    cli
    cld
    mov %eax, saved_magic
    mov %ebx, saved_info

    /* Zero .bss (Multiboot loaders should, but do not rely on it). */
    mov $__load_end, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb

    mov $boot_stack_top, %esp

    /* Long mode present? */
    mov $0x80000000, %eax
    cpuid
    cmp $0x80000001, %eax
    jb 90f
    mov $0x80000001, %eax
    cpuid
    test $(1 << 29), %edx
    jz 90f
    mov %edx, %ebp

    /* PML4[0] -> PDPT, PDPT[0..4] -> PD0..PD3, PDs map 0..4 GiB with 2 MiB pages. */
    mov $boot_pdpt, %eax
    or $0x3, %eax
    mov %eax, boot_pml4
    mov $boot_pd, %eax
    or $0x3, %eax
    xor %ecx, %ecx
1:  mov %eax, boot_pdpt(,%ecx,8)
    add $0x1000, %eax
    inc %ecx
    cmp $4, %ecx
    jb 1b
    mov $0x83, %eax
    xor %ecx, %ecx
2:  mov %eax, boot_pd(,%ecx,8)
    add $0x200000, %eax
    inc %ecx
    cmp $2048, %ecx
    jb 2b

    mov $0x20, %eax              /* CR4.PAE only, as real Limine hands over */
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx        /* EFER: LME, and NXE if supported */
    rdmsr
    or $0x100, %eax
    test $(1 << 20), %ebp
    jz 3f
    or $0x800, %eax
3:  wrmsr
    mov $0x80010011, %eax        /* CR0 = PG | WP | ET | PE */
    mov %eax, %cr0
    lgdt boot_gdtr
    ljmp $0x28, $4f

    .code64
4:  mov $0x30, %eax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    mov $boot_stack_top, %rsp
    xor %ebp, %ebp
    mov saved_magic(%rip), %edi
    mov saved_info(%rip), %esi
    call loader_main
    ud2

    .code32
90: mov $91f, %esi
92: lodsb
    test %al, %al
    jz 93f
    mov $0x3f8, %dx
    out %al, %dx
    jmp 92b
93: mov $0x11, %al
    mov $0xf4, %dx
    out %al, %dx
94: hlt
    jmp 94b
91: .asciz "loader: error: this CPU has no long mode\r\n"
    .code64
    .popsection
"#,
    magic = const HEADER_MAGIC,
    flags = const HEADER_FLAGS,
    checksum = const HEADER_CHECKSUM,
    stack_size = const BOOT_STACK_SIZE,
    options(att_syntax)
);

unsafe extern "C" {
    static loader_gdt: [u64; 7];
    static boot_pdpt: [u64; 512];
    static __loader_start: u8;
    static __bss_end: u8;
}

/// Physical address of the Limine-layout GDT in the loader image.
pub fn gdt_addr() -> u64 {
    (&raw const loader_gdt) as u64
}

/// Size of the GDT in bytes.
pub const GDT_SIZE: u16 = 7 * 8;

/// Physical address of the boot identity PDPT (maps 0..4 GiB).
pub fn identity_pdpt() -> u64 {
    (&raw const boot_pdpt) as u64
}

/// `[start, end)` of the loader image in memory, .bss included.
pub fn image_range() -> (u64, u64) {
    (
        (&raw const __loader_start) as u64,
        (&raw const __bss_end) as u64,
    )
}
