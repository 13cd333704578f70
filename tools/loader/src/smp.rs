//! Application processor start-up (INIT-SIPI-SIPI) and parking.
//!
//! An AP wakes in real mode at the trampoline page (below 1 MiB, SIPI vector = page
//! number), goes straight to long mode on the hand-off page tables (CR3 must therefore
//! be below 4 GiB) and jumps to `ap_park` through its HHDM alias. From then on it never
//! touches identity-mapped memory, so the BSP can drop the identity map at hand-off
//! while APs wait. Parked, an AP spins on its `goto_address` and, once the kernel
//! writes it, jumps there with the Limine entry state: rdi = its `limine_mp_info`, a
//! fresh stack with a 0 return address, other registers zero.
//!
//! APs are started one at a time; per-AP values travel through trampoline slots and an
//! AP reports in by incrementing [`AP_ALIVE`] from HHDM code.

use crate::arch::{self, rdmsr, wrmsr};
use crate::phys::{self, hhdm};
use crate::timer::delay_us;
use core::sync::atomic::{AtomicU32, Ordering, fence};
use weft_bootproto::paging::PAGE_SIZE;

/// Number of APs that reached `ap_park`.
pub static AP_ALIVE: AtomicU32 = AtomicU32::new(0);

/// `limine_mp_info` (x86-64 layout).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MpInfo {
    pub processor_id: u32,
    pub lapic_id: u32,
    pub reserved: u64,
    /// Written atomically by the kernel; the parked AP jumps there.
    pub goto_address: u64,
    pub extra_argument: u64,
}

const _: () = {
    use weft_bootproto::limine::layout;
    assert!(core::mem::size_of::<MpInfo>() == layout::MP_INFO_SIZE);
    assert!(core::mem::offset_of!(MpInfo, goto_address) == layout::MP_INFO_GOTO);
    assert!(core::mem::offset_of!(MpInfo, extra_argument) == layout::MP_INFO_EXTRA);
};

/// PAT layout real Limine programs: WB, WT, UC-, UC, WP, WC, UC, UC.
pub const PAT_VALUE: u64 = 0x0000_0105_0007_0406;
const IA32_PAT: u32 = 0x277;
const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;

/// Trampoline flag: enable x2APIC on the AP.
const FLAG_X2APIC: u64 = 1;

core::arch::global_asm!(
    r#"
    .pushsection .text.ap_trampoline, "ax"
    .balign 16
    .global ap_tramp_start
ap_tramp_start:
    .code16
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    lgdtl (ap_tramp_gdtr - ap_tramp_start)
    mov $0x20, %eax                     /* CR4 = PAE */
    mov %eax, %cr4
    movl (ap_tramp_cr3 - ap_tramp_start), %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx               /* EFER |= LME (| NXE) */
    rdmsr
    orl (ap_tramp_efer - ap_tramp_start), %eax
    wrmsr
    mov $0x80010011, %eax               /* CR0 = PG | WP | ET | PE: real -> long mode */
    mov %eax, %cr0
    ljmpl *(ap_tramp_farptr - ap_tramp_start)

    .code64
    .global ap_tramp_long
ap_tramp_long:
    mov $0x30, %eax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    mov ap_tramp_stack(%rip), %rsp
    mov ap_tramp_cpu(%rip), %rdi
    mov ap_tramp_flags(%rip), %rsi
    jmp *ap_tramp_entry(%rip)

    .balign 8
    .global ap_tramp_gdt
ap_tramp_gdt:
    .quad 0
    .quad 0x00009b000000ffff
    .quad 0x000093000000ffff
    .quad 0x00cf9b000000ffff
    .quad 0x00cf93000000ffff
    .quad 0x00209b0000000000
    .quad 0x0000930000000000
ap_tramp_gdt_end:
    .balign 8
    .global ap_tramp_gdtr
ap_tramp_gdtr:
    .word ap_tramp_gdt_end - ap_tramp_gdt - 1
    .long 0                             /* patched: linear address of ap_tramp_gdt */
    .balign 8
    .global ap_tramp_farptr
ap_tramp_farptr:
    .long 0                             /* patched: linear address of ap_tramp_long */
    .word 0x28
    .balign 8
    .global ap_tramp_cr3
ap_tramp_cr3:
    .long 0
    .global ap_tramp_efer
ap_tramp_efer:
    .long 0
    .global ap_tramp_stack
ap_tramp_stack:
    .quad 0
    .global ap_tramp_cpu
ap_tramp_cpu:
    .quad 0
    .global ap_tramp_flags
ap_tramp_flags:
    .quad 0
    .global ap_tramp_entry
ap_tramp_entry:
    .quad 0
    .global ap_tramp_end
ap_tramp_end:
    .popsection

    /* Runs at its HHDM alias: rdi = limine_mp_info (HHDM), rsi = flags, rsp = stack
       top (HHDM). Only RIP-relative references. */
    .pushsection .text.ap_park, "ax"
    .global ap_park
ap_park:
    mov %rsp, %r12
    lgdt {gdtr}(%rip)
    lea 1f(%rip), %rax
    pushq $0x28
    push %rax
    lretq
1:  mov $0x30, %eax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    mov $0x277, %ecx
    mov ${pat_lo}, %eax
    mov ${pat_hi}, %edx
    wrmsr
    test $1, %esi
    jz 2f
    mov $0x1b, %ecx
    rdmsr
    or $0xc00, %eax
    wrmsr
2:  lock incl {alive}(%rip)
3:  mov 16(%rdi), %rax
    test %rax, %rax
    jnz 4f
    pause
    jmp 3b
4:  mov %cr3, %rcx                      /* drop any cached identity translations */
    mov %rcx, %cr3
    mov %r12, %rsp
    pushq $0
    push %rax
    xor %eax, %eax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %edx, %edx
    xor %esi, %esi
    xor %ebp, %ebp
    xor %r8d, %r8d
    xor %r9d, %r9d
    xor %r10d, %r10d
    xor %r11d, %r11d
    xor %r12d, %r12d
    xor %r13d, %r13d
    xor %r14d, %r14d
    xor %r15d, %r15d
    ret
    .popsection
"#,
    gdtr = sym crate::handoff::GDTR_HHDM,
    alive = sym AP_ALIVE,
    pat_lo = const PAT_VALUE as u32,
    pat_hi = const (PAT_VALUE >> 32) as u32,
    options(att_syntax)
);

unsafe extern "C" {
    static ap_tramp_start: u8;
    static ap_tramp_end: u8;
    static ap_tramp_long: u8;
    static ap_tramp_gdt: u8;
    static ap_tramp_gdtr: u8;
    static ap_tramp_farptr: u8;
    static ap_tramp_cr3: u8;
    static ap_tramp_efer: u8;
    static ap_tramp_stack: u8;
    static ap_tramp_cpu: u8;
    static ap_tramp_flags: u8;
    static ap_tramp_entry: u8;
    static ap_park: u8;
}

/// The local APIC of the BSP, in xAPIC (MMIO through the identity map) or x2APIC mode.
pub struct Lapic {
    x2apic: bool,
    base: u64,
}

impl Lapic {
    /// Sets up the BSP's local APIC: x2APIC mode if `want_x2apic` and the CPU has it
    /// (or if the firmware already switched to it, which cannot be undone without
    /// disabling the APIC), and software-enabled so it can send IPIs.
    pub fn init(want_x2apic: bool) -> Lapic {
        // SAFETY: IA32_APIC_BASE exists on every x86-64 CPU.
        let apic_base = unsafe { rdmsr(IA32_APIC_BASE) };
        let already = apic_base & APIC_BASE_X2APIC != 0;
        let x2apic = already || (want_x2apic && arch::has_x2apic());
        if x2apic && !already {
            // SAFETY: CPUID says x2APIC exists; switching xAPIC -> x2APIC is allowed
            // with the APIC globally enabled (both bits set together).
            unsafe {
                wrmsr(
                    IA32_APIC_BASE,
                    apic_base | APIC_BASE_ENABLE | APIC_BASE_X2APIC,
                )
            };
        }
        let lapic = Lapic {
            x2apic,
            base: apic_base & 0x000f_ffff_ffff_f000,
        };
        let svr = lapic.read(0xf0);
        if svr & 0x100 == 0 {
            lapic.write(0xf0, svr | 0x1ff);
        }
        lapic
    }

    /// Whether x2APIC mode is on.
    pub fn x2apic(&self) -> bool {
        self.x2apic
    }

    fn read(&self, reg: u32) -> u32 {
        if self.x2apic {
            // SAFETY: x2APIC MSRs 0x800 + reg/16 exist in x2APIC mode.
            unsafe { rdmsr(0x800 + (reg >> 4)) as u32 }
        } else {
            // SAFETY: the xAPIC page is identity-mapped below 4 GiB; `reg` is a valid
            // 16-byte aligned register offset.
            unsafe { phys::read_u32(self.base + u64::from(reg)) }
        }
    }

    fn write(&self, reg: u32, value: u32) {
        if self.x2apic {
            // SAFETY: as in `read`; the loader writes only SVR and ICR.
            unsafe { wrmsr(0x800 + (reg >> 4), u64::from(value)) }
        } else {
            // SAFETY: as in `read`.
            unsafe { phys::write_u32(self.base + u64::from(reg), value) }
        }
    }

    /// This CPU's APIC id (x2APIC id in x2APIC mode).
    pub fn id(&self) -> u32 {
        if self.x2apic {
            self.read(0x20)
        } else {
            self.read(0x20) >> 24
        }
    }

    fn send_ipi(&self, dest: u32, low: u32) {
        fence(Ordering::SeqCst);
        if self.x2apic {
            // SAFETY: ICR MSR write in x2APIC mode.
            unsafe { wrmsr(0x830, (u64::from(dest) << 32) | u64::from(low)) };
        } else {
            self.write(0x310, dest << 24);
            self.write(0x300, low);
            for _ in 0..1_000_000 {
                if self.read(0x300) & (1 << 12) == 0 {
                    break;
                }
                arch::pause();
            }
        }
    }

    /// Sends INIT (level assert) to `dest`.
    pub fn send_init(&self, dest: u32) {
        self.send_ipi(dest, 0x4500);
    }

    /// Sends a start-up IPI with the given vector (trampoline page number).
    pub fn send_sipi(&self, dest: u32, vector: u8) {
        self.send_ipi(dest, 0x4600 | u32::from(vector));
    }
}

/// The installed trampoline page.
pub struct Trampoline {
    page: u64,
}

impl Trampoline {
    /// Where the trampoline symbol `sym` ended up in the copied page.
    fn slot(&self, sym: *const u8) -> u64 {
        self.page + sym as u64 - (&raw const ap_tramp_start) as u64
    }

    /// Copies the trampoline to `page` (4 KiB aligned, below 1 MiB, owned by the loader)
    /// and fills in everything that is the same for every AP.
    pub fn install(page: u64, cr3: u64, nx: bool, x2apic: bool) -> Trampoline {
        if !page.is_multiple_of(PAGE_SIZE) || page >= 0x10_0000 || cr3 >= 1 << 32 {
            crate::fatal!("bad trampoline page {page:#x} or CR3 {cr3:#x}");
        }
        let start = (&raw const ap_tramp_start) as u64;
        let end = (&raw const ap_tramp_end) as u64;
        // SAFETY: the blob between the two symbols is part of the loader image.
        let blob = unsafe { phys::bytes(start, end - start) };
        if blob.len() as u64 > PAGE_SIZE {
            crate::fatal!("AP trampoline larger than a page");
        }
        // SAFETY: the page was allocated for the trampoline.
        unsafe { phys::bytes_mut(page, blob.len() as u64) }.copy_from_slice(blob);
        let t = Trampoline { page };
        let efer = 0x100 | if nx { 0x800 } else { 0 };
        // SAFETY: every write goes to a slot inside the freshly copied trampoline page
        // (symbol offsets come from the blob itself). The GDTR base sits at +2 of the
        // GDTR and is written bytewise because it is not 4-byte aligned.
        unsafe {
            let gdt = t.slot(&raw const ap_tramp_gdt) as u32;
            let gdtr_base = t.slot(&raw const ap_tramp_gdtr) + 2;
            phys::bytes_mut(gdtr_base, 4).copy_from_slice(&gdt.to_le_bytes());
            phys::write_u32(
                t.slot(&raw const ap_tramp_farptr),
                t.slot(&raw const ap_tramp_long) as u32,
            );
            phys::write_u32(t.slot(&raw const ap_tramp_cr3), cr3 as u32);
            phys::write_u32(t.slot(&raw const ap_tramp_efer), efer);
            let flags = if x2apic { FLAG_X2APIC } else { 0 };
            phys::write_u64(t.slot(&raw const ap_tramp_flags), flags);
            phys::write_u64(
                t.slot(&raw const ap_tramp_entry),
                hhdm((&raw const ap_park) as u64),
            );
        }
        t
    }

    /// SIPI vector: the page number.
    pub fn vector(&self) -> u8 {
        (self.page >> 12) as u8
    }
}

/// One AP to start.
pub struct ApTarget {
    pub apic_id: u32,
    /// HHDM address of the top of its stack.
    pub stack_top: u64,
    /// HHDM address of its `limine_mp_info`.
    pub info: u64,
}

/// Sends INIT to every target, waits 10 ms once, then starts them one by one with up to
/// two SIPIs each. Sets `started[i]` when target `i` reached `ap_park`.
pub fn start_aps(lapic: &Lapic, tramp: &Trampoline, targets: &[ApTarget], started: &mut [bool]) {
    for t in targets {
        lapic.send_init(t.apic_id);
    }
    delay_us(10_000);
    for (t, ok) in targets.iter().zip(started.iter_mut()) {
        let before = AP_ALIVE.load(Ordering::Acquire);
        // SAFETY: slots inside the trampoline page; the previous AP already consumed
        // them, since it incremented AP_ALIVE after reading them.
        unsafe {
            phys::write_u64(tramp.slot(&raw const ap_tramp_stack), t.stack_top);
            phys::write_u64(tramp.slot(&raw const ap_tramp_cpu), t.info);
        }
        let arrived = || AP_ALIVE.load(Ordering::Acquire) != before;
        lapic.send_sipi(t.apic_id, tramp.vector());
        *ok = wait_for(arrived, 1_000) || {
            lapic.send_sipi(t.apic_id, tramp.vector());
            wait_for(arrived, 1_000_000)
        };
        if !*ok {
            // Put it back into wait-for-SIPI so it cannot wake up late and take the
            // slots meant for the next AP.
            lapic.send_init(t.apic_id);
        }
    }
}

/// Polls `cond` for up to `us` microseconds.
fn wait_for(cond: impl Fn() -> bool, us: u64) -> bool {
    const STEP: u64 = 20;
    for _ in 0..us / STEP {
        if cond() {
            return true;
        }
        delay_us(STEP);
    }
    cond()
}

/// Programs the PAT with the Limine layout on the calling CPU.
pub fn program_pat() {
    // SAFETY: IA32_PAT exists on every x86-64 CPU; the value only uses valid types and
    // keeps PAT0 = WB, which all loader mappings use.
    unsafe { wrmsr(IA32_PAT, PAT_VALUE) }
}
