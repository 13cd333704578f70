//! Per-CPU GDT and TSS.
//!
//! Layout (fixed, shared with the system call code): 0x08 kernel code, 0x10 kernel
//! data, 0x18 user data (selector 0x1b), 0x20 user code (0x23), 0x28 TSS. That order
//! is what `sysret` needs: STAR[63:48] = 0x10 gives SS = 0x1b and CS = 0x23.

use x86_64::PrivilegeLevel;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, SegmentSelector};

use crate::percpu::PerCpu;

pub const KERNEL_CS: u16 = 0x08;
pub const KERNEL_DS: u16 = 0x10;
pub const USER_DS: u16 = 0x1b;
pub const USER_CS: u16 = 0x23;
pub const TSS_SEL: u16 = 0x28;

/// IST slot (1-based, as the IDT encodes it) for double faults.
pub const IST_DOUBLE_FAULT: u8 = 1;
/// IST slot for NMIs.
pub const IST_NMI: u8 = 2;
/// IST slot for machine checks.
pub const IST_MACHINE_CHECK: u8 = 3;

/// Builds and loads this CPU's GDT and TSS. `ist_tops` are the tops of the stacks
/// for double fault, NMI and machine check (separate, guarded stacks).
pub fn init_cpu(pc: &'static PerCpu, ist_tops: [u64; 3]) {
    // SAFETY: only the owning CPU touches its own TSS/GDT, here during bring-up with
    // interrupts disabled, before the GDT is loaded.
    let (gdt, tss) = unsafe { (&mut *pc.gdt.get(), &mut *pc.tss.get()) };
    for (i, top) in ist_tops.iter().enumerate() {
        tss.interrupt_stack_table[i] = VirtAddr::new(*top);
    }
    let kcode = gdt.append(Descriptor::kernel_code_segment());
    let kdata = gdt.append(Descriptor::kernel_data_segment());
    let udata = gdt.append(Descriptor::user_data_segment());
    let ucode = gdt.append(Descriptor::user_code_segment());
    // SAFETY: the TSS lives in a static per-CPU slot, so the 'static borrow is valid.
    let tss_ref: &'static x86_64::structures::tss::TaskStateSegment = unsafe { &*pc.tss.get() };
    let tss_sel = gdt.append(Descriptor::tss_segment(tss_ref));
    debug_assert_eq!(kcode.0, KERNEL_CS);
    debug_assert_eq!(kdata.0, KERNEL_DS);
    debug_assert_eq!(udata.0, USER_DS);
    debug_assert_eq!(ucode.0, USER_CS);
    debug_assert_eq!(tss_sel.0, TSS_SEL);
    // SAFETY: the GDT lives in a static slot; the selectors loaded below index valid
    // descriptors of it, and the TSS descriptor is fresh (not busy).
    unsafe {
        let gdt_ref: &'static x86_64::structures::gdt::GlobalDescriptorTable<8> = &*pc.gdt.get();
        gdt_ref.load();
        CS::set_reg(SegmentSelector::new(1, PrivilegeLevel::Ring0));
        SS::set_reg(SegmentSelector::new(2, PrivilegeLevel::Ring0));
        DS::set_reg(SegmentSelector(0));
        ES::set_reg(SegmentSelector(0));
        load_tss(SegmentSelector::new(5, PrivilegeLevel::Ring0));
    }
}

/// Sets the stack the CPU switches to on an interrupt from user mode (TSS.RSP0).
pub fn set_rsp0(pc: &'static PerCpu, top: u64) {
    // SAFETY: RSP0 is read by the CPU only on a privilege change; the owning CPU
    // updates it with interrupts disabled during a context switch.
    unsafe { (*pc.tss.get()).privilege_stack_table[0] = VirtAddr::new(top) };
}
