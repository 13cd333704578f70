//! The I/O APIC: routes legacy (ISA) interrupts to CPUs.

use spin::Mutex;
use x2apic::ioapic::{IoApic, IrqFlags, IrqMode, RedirectionTableEntry};

struct Chip {
    regs: IoApic,
    gsi_base: u32,
    entries: u32,
}

static IOAPIC: Mutex<Option<Chip>> = Mutex::new(None);

/// Takes over the I/O APIC whose registers are mapped (uncached) at `virt`, with all
/// its inputs masked.
pub fn init(virt: u64, gsi_base: u32) -> u32 {
    // SAFETY: `virt` maps the I/O APIC's two registers uncached (the caller mapped
    // them); `init` masks every redirection entry and points them at IRQ_BASE+n.
    let mut regs = unsafe { IoApic::new(virt) };
    // SAFETY: see above.
    let entries = unsafe {
        regs.init(crate::vectors::IRQ_BASE);
        regs.max_table_entry() as u32 + 1
    };
    *IOAPIC.lock() = Some(Chip {
        regs,
        gsi_base,
        entries,
    });
    entries
}

/// Routes global system interrupt `gsi` to `vector` on the CPU with APIC id
/// `dest_apic` (physical destination), with the given polarity/trigger.
pub fn route(gsi: u32, vector: u8, dest_apic: u8, active_low: bool, level: bool) -> bool {
    let mut g = IOAPIC.lock();
    let Some(chip) = g.as_mut() else { return false };
    if gsi < chip.gsi_base || gsi >= chip.gsi_base + chip.entries {
        return false;
    }
    let irq = (gsi - chip.gsi_base) as u8;
    let mut e = RedirectionTableEntry::default();
    e.set_mode(IrqMode::Fixed);
    let mut flags = IrqFlags::empty();
    if active_low {
        flags |= IrqFlags::LOW_ACTIVE;
    }
    if level {
        flags |= IrqFlags::LEVEL_TRIGGERED;
    }
    e.set_flags(flags);
    e.set_vector(vector);
    e.set_dest(dest_apic);
    // SAFETY: the entry index is in range (checked above) and the vector has a handler.
    unsafe {
        chip.regs.set_table_entry(irq, e);
        chip.regs.enable_irq(irq);
    }
    true
}
