//! CPU identification, control-register setup, MSRs and interrupt-flag helpers.

use core::arch::asm;
use core::arch::x86_64::{__cpuid, __cpuid_count};
use core::sync::atomic::{AtomicBool, Ordering};

/// Model-specific register numbers used by Weft.
pub mod msr {
    pub const APIC_BASE: u32 = 0x1b;
    pub const TSC_DEADLINE: u32 = 0x6e0;
    pub const PAT: u32 = 0x277;
    pub const EFER: u32 = 0xc000_0080;
    pub const STAR: u32 = 0xc000_0081;
    pub const LSTAR: u32 = 0xc000_0082;
    pub const FMASK: u32 = 0xc000_0084;
    pub const FS_BASE: u32 = 0xc000_0100;
    pub const GS_BASE: u32 = 0xc000_0101;
    pub const KERNEL_GS_BASE: u32 = 0xc000_0102;
    pub const TSC_AUX: u32 = 0xc000_0103;
}

/// Reads a model-specific register.
pub fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: the MSR numbers used by Weft are architectural on every x86_64 CPU it
    // runs on (callers check CPUID for optional ones); reading has no side effects.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    ((hi as u64) << 32) | lo as u64
}

/// Writes a model-specific register.
///
/// # Safety
/// The caller must know what the MSR controls; a wrong value can break paging,
/// segmentation or system call entry.
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: forwarded to the caller's contract.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack, preserves_flags))
    };
}

/// Reads the time-stamp counter.
#[inline(always)]
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: rdtsc only reads the counter (CR4.TSD is never set by Weft).
    unsafe {
        asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    ((hi as u64) << 32) | lo as u64
}

/// CPU features Weft cares about, read once through CPUID.
#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    pub x2apic: bool,
    pub tsc_deadline: bool,
    pub invariant_tsc: bool,
    pub xsave: bool,
    pub avx: bool,
    pub smep: bool,
    pub smap: bool,
    pub pge: bool,
    pub nx: bool,
    pub rdtscp: bool,
    pub hypervisor: bool,
    pub kvm: bool,
    /// Size of the XSAVE area for the features Weft enables (x87, SSE, AVX).
    pub xsave_size: u32,
}

impl Features {
    /// Queries CPUID.
    pub fn detect() -> Features {
        let l1 = __cpuid(1);
        let max_basic = __cpuid(0).eax;
        let l7 = if max_basic >= 7 {
            __cpuid_count(7, 0)
        } else {
            __cpuid(0)
        };
        let max_ext = __cpuid(0x8000_0000).eax;
        let e1 = if max_ext >= 0x8000_0001 {
            __cpuid(0x8000_0001)
        } else {
            __cpuid(0)
        };
        let e7 = if max_ext >= 0x8000_0007 {
            __cpuid(0x8000_0007)
        } else {
            __cpuid(0)
        };
        let hypervisor = l1.ecx & (1 << 31) != 0;
        let kvm = hypervisor && {
            let h = __cpuid(0x4000_0000);
            h.ebx == 0x4b4d_564b && h.ecx == 0x564b_4d56 && h.edx == 0x4d
        };
        let xsave = l1.ecx & (1 << 26) != 0;
        let avx = xsave && l1.ecx & (1 << 28) != 0;
        Features {
            x2apic: l1.ecx & (1 << 21) != 0,
            tsc_deadline: l1.ecx & (1 << 24) != 0,
            invariant_tsc: e7.edx & (1 << 8) != 0,
            xsave,
            avx,
            smep: max_basic >= 7 && l7.ebx & (1 << 7) != 0,
            smap: max_basic >= 7 && l7.ebx & (1 << 20) != 0,
            pge: l1.edx & (1 << 13) != 0,
            nx: e1.edx & (1 << 20) != 0,
            rdtscp: e1.edx & (1 << 27) != 0,
            hypervisor,
            kvm,
            xsave_size: 0,
        }
    }
}

static FEATURES: spin::Once<Features> = spin::Once::new();

/// The boot CPU's features (all CPUs are assumed to match, as on real systems).
pub fn features() -> &'static Features {
    FEATURES.call_once(Features::detect)
}

/// Whether SMAP is enabled (user-memory copies must then use stac/clac).
static SMAP_ON: AtomicBool = AtomicBool::new(false);

/// Whether supervisor-mode access prevention is active.
pub fn smap_enabled() -> bool {
    SMAP_ON.load(Ordering::Relaxed)
}

const CR0_MP: u64 = 1 << 1;
const CR0_EM: u64 = 1 << 2;
const CR0_TS: u64 = 1 << 3;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR4_PGE: u64 = 1 << 7;
const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
const CR4_OSXSAVE: u64 = 1 << 18;
const CR4_SMEP: u64 = 1 << 20;
const CR4_SMAP: u64 = 1 << 21;
const EFER_NXE: u64 = 1 << 11;

/// Turns on the CPU features Weft relies on, on the calling CPU: SSE (for user
/// programs; the kernel itself is soft-float), XSAVE with x87/SSE/AVX state, global
/// pages, write protection in ring 0, NX, SMEP and SMAP where present.
pub fn enable_features() {
    let f = *features();
    // SAFETY: every bit set here is supported per CPUID, and none of them changes
    // the meaning of the current mappings (PGE only makes global entries sticky,
    // WP/SMEP/SMAP only add checks the kernel honours).
    unsafe {
        let mut cr0: u64;
        asm!("mov {}, cr0", out(reg) cr0, options(nomem, nostack, preserves_flags));
        cr0 = (cr0 | CR0_MP | CR0_NE | CR0_WP) & !(CR0_EM | CR0_TS);
        asm!("mov cr0, {}", in(reg) cr0, options(nostack, preserves_flags));

        let mut cr4: u64;
        asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack, preserves_flags));
        cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT;
        if f.pge {
            cr4 |= CR4_PGE;
        }
        if f.xsave {
            cr4 |= CR4_OSXSAVE;
        }
        if f.smep {
            cr4 |= CR4_SMEP;
        }
        if f.smap {
            cr4 |= CR4_SMAP;
        }
        asm!("mov cr4, {}", in(reg) cr4, options(nostack, preserves_flags));

        if f.xsave {
            let xcr0: u64 = if f.avx { 0b111 } else { 0b011 };
            asm!("xsetbv", in("ecx") 0u32, in("eax") xcr0 as u32, in("edx") (xcr0 >> 32) as u32, options(nomem, nostack, preserves_flags));
        }
        if f.nx {
            wrmsr(msr::EFER, rdmsr(msr::EFER) | EFER_NXE);
        }
    }
    if f.smap {
        SMAP_ON.store(true, Ordering::Relaxed);
    }
    if f.xsave {
        // CPUID.(EAX=0DH,ECX=0):EBX is the XSAVE area size for the features in XCR0.
        let size = __cpuid_count(0xd, 0).ebx;
        FEATURE_XSAVE_SIZE.store(size as usize, Ordering::Relaxed);
    }
}

static FEATURE_XSAVE_SIZE: core::sync::atomic::AtomicUsize =
    core::sync::atomic::AtomicUsize::new(512);

/// Bytes needed to save one thread's user FPU/SSE/AVX state (fxsave: 512).
pub fn fpu_state_size() -> usize {
    FEATURE_XSAVE_SIZE.load(Ordering::Relaxed)
}

/// Whether interrupts are enabled on this CPU.
#[inline]
pub fn interrupts_enabled() -> bool {
    let flags: u64;
    // SAFETY: reading RFLAGS has no side effects.
    unsafe { asm!("pushfq; pop {}", out(reg) flags, options(nomem, preserves_flags)) };
    flags & (1 << 9) != 0
}

/// Disables interrupts and returns whether they were enabled.
#[inline]
pub fn irq_save() -> bool {
    let was = interrupts_enabled();
    // SAFETY: disabling interrupts cannot break memory safety.
    unsafe { asm!("cli", options(nomem, nostack)) };
    was
}

/// Restores the interrupt flag saved by [`irq_save`].
#[inline]
pub fn irq_restore(was_enabled: bool) {
    if was_enabled {
        enable_interrupts();
    }
}

/// Enables interrupts.
#[inline]
pub fn enable_interrupts() {
    // SAFETY: the IDT is loaded before any CPU enables interrupts.
    unsafe { asm!("sti", options(nomem, nostack)) };
}

/// Disables interrupts.
#[inline]
pub fn disable_interrupts() {
    // SAFETY: disabling interrupts cannot break memory safety.
    unsafe { asm!("cli", options(nomem, nostack)) };
}

/// Enables interrupts and halts until the next one, atomically (no lost wakeup
/// between the check and the halt: `sti` takes effect after the next instruction).
#[inline]
pub fn enable_and_halt() {
    // SAFETY: see above; the IDT is loaded.
    unsafe { asm!("sti; hlt", options(nomem, nostack)) };
}

/// Halts this CPU forever with interrupts off.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: halting with interrupts off only stops this CPU (NMIs still arrive).
        unsafe { asm!("cli; hlt", options(nomem, nostack)) };
    }
}

/// An RAII guard that keeps interrupts off until dropped.
pub struct IrqGuard(bool);

impl IrqGuard {
    /// Disables interrupts until the guard is dropped.
    pub fn new() -> IrqGuard {
        IrqGuard(irq_save())
    }
}

impl Default for IrqGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for IrqGuard {
    fn drop(&mut self) {
        irq_restore(self.0);
    }
}

/// Reads CR2 (the faulting address of the last page fault).
pub fn cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Reads CR3 (the physical address of the active top-level page table plus flags).
pub fn cr3() -> u64 {
    let v: u64;
    // SAFETY: reading CR3 has no side effects.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Reads CR0 and CR4 for reports.
pub fn cr0_cr4() -> (u64, u64) {
    let (a, b): (u64, u64);
    // SAFETY: reading control registers has no side effects.
    unsafe {
        asm!("mov {}, cr0", out(reg) a, options(nomem, nostack, preserves_flags));
        asm!("mov {}, cr4", out(reg) b, options(nomem, nostack, preserves_flags));
    }
    (a, b)
}

/// Invalidates the TLB entry for one page on this CPU.
pub fn invlpg(addr: u64) {
    // SAFETY: invlpg only drops a cached translation.
    unsafe { asm!("invlpg [{}]", in(reg) addr, options(nostack, preserves_flags)) };
}

/// Flushes the whole TLB (non-global entries) on this CPU by reloading CR3.
pub fn flush_tlb() {
    // SAFETY: writing back the same CR3 value keeps the address space and only
    // drops cached translations.
    unsafe { asm!("mov {0}, cr3", "mov cr3, {0}", out(reg) _, options(nostack, preserves_flags)) };
}

/// Reads the current frame pointer (RBP).
#[inline(always)]
pub fn frame_pointer() -> u64 {
    let v: u64;
    // SAFETY: reading rbp has no side effects.
    unsafe { asm!("mov {}, rbp", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// A spin-loop hint.
#[inline(always)]
pub fn pause() {
    core::hint::spin_loop();
}

/// Executes `int3` (for testing the trap path).
pub fn breakpoint() {
    // SAFETY: int3 raises #BP, whose handler returns to the next instruction.
    unsafe { asm!("int3", options(nomem, nostack)) };
}

/// A hardware random number (RDRAND), if the CPU has the instruction and it
/// delivers within a few tries.
pub fn rdrand() -> Option<u64> {
    if core::arch::x86_64::__cpuid(1).ecx & (1 << 30) == 0 {
        return None;
    }
    for _ in 0..10 {
        let v: u64;
        let ok: u8;
        // SAFETY: RDRAND is present (CPUID checked); it only writes its operands.
        unsafe {
            asm!("rdrand {}", "setc {}", out(reg) v, out(reg_byte) ok, options(nomem, nostack))
        };
        if ok != 0 {
            return Some(v);
        }
    }
    None
}
