//! ACPI table discovery: the MADT (CPUs, I/O APICs, interrupt source overrides).
//!
//! Firmware tables are not covered by the bootloader's HHDM (real Limine maps
//! only usable/bootloader/kernel memory there), so the kernel hands in a function
//! that maps physical ranges read-only; mappings are kept, never torn down.

use alloc::vec::Vec;
use core::ptr::NonNull;

use acpi::madt::{Madt, MadtEntry};
use acpi::{AcpiHandler, AcpiTables, PhysicalMapping};

/// Maps `size` bytes of firmware memory at physical `phys`; returns its virtual address.
pub type MapFn = fn(phys: u64, size: u64) -> *const u8;

#[derive(Clone)]
struct Handler(MapFn);

impl AcpiHandler for Handler {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let virt = (self.0)(physical_address as u64, size as u64);
        let ptr = NonNull::new(virt as *mut T).expect("firmware mapping returned null");
        // SAFETY: `virt` maps `size` bytes at `physical_address` (the MapFn contract),
        // and the acpi crate asked for exactly that region.
        unsafe { PhysicalMapping::new(physical_address, ptr, size, size, self.clone()) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {
        // Firmware mappings are permanent and shared; nothing to undo.
    }
}

/// A processor from the MADT.
#[derive(Clone, Copy, Debug)]
pub struct Processor {
    pub acpi_uid: u32,
    pub apic_id: u32,
    pub enabled: bool,
}

/// An I/O APIC from the MADT.
#[derive(Clone, Copy, Debug)]
pub struct IoApicInfo {
    pub id: u8,
    pub phys: u64,
    pub gsi_base: u32,
}

/// An ISA interrupt source override.
#[derive(Clone, Copy, Debug)]
pub struct Override {
    pub irq: u8,
    pub gsi: u32,
    pub active_low: bool,
    pub level: bool,
}

/// What Weft needs from the MADT.
#[derive(Clone, Debug, Default)]
pub struct MadtInfo {
    pub lapic_phys: u64,
    pub processors: Vec<Processor>,
    pub ioapics: Vec<IoApicInfo>,
    pub overrides: Vec<Override>,
    pub has_8259: bool,
}

impl MadtInfo {
    /// The GSI and flags for ISA IRQ `irq` after overrides.
    pub fn isa_irq(&self, irq: u8) -> Override {
        self.overrides
            .iter()
            .copied()
            .find(|o| o.irq == irq)
            .unwrap_or(Override {
                irq,
                gsi: irq as u32,
                active_low: false,
                level: false,
            })
    }
}

/// Parses the MADT reached from the RSDP at physical `rsdp`.
pub fn parse_madt(rsdp: u64, map: MapFn) -> Result<MadtInfo, &'static str> {
    // SAFETY: `rsdp` is the physical RSDP address the bootloader reported; the
    // handler maps what the crate reads, and the crate validates checksums.
    let tables = unsafe { AcpiTables::from_rsdp(Handler(map), rsdp as usize) }
        .map_err(|_| "invalid RSDP/RSDT")?;
    let madt = tables.find_table::<Madt>().map_err(|_| "no MADT")?;
    let madt = madt.get();
    let mut info = MadtInfo {
        lapic_phys: madt.local_apic_address as u64,
        has_8259: madt.flags & 1 != 0,
        ..Default::default()
    };
    for entry in madt.entries() {
        match entry {
            MadtEntry::LocalApic(e) => {
                let flags = { e.flags };
                info.processors.push(Processor {
                    acpi_uid: e.processor_id as u32,
                    apic_id: e.apic_id as u32,
                    enabled: flags & 3 != 0,
                });
            }
            MadtEntry::LocalX2Apic(e) => {
                let flags = { e.flags };
                info.processors.push(Processor {
                    acpi_uid: { e.processor_uid },
                    apic_id: { e.x2apic_id },
                    enabled: flags & 3 != 0,
                });
            }
            MadtEntry::IoApic(e) => info.ioapics.push(IoApicInfo {
                id: e.io_apic_id,
                phys: { e.io_apic_address } as u64,
                gsi_base: { e.global_system_interrupt_base },
            }),
            MadtEntry::InterruptSourceOverride(e) => {
                let flags = { e.flags };
                // MPS INTI flags: polarity bits 0-1 (3 = active low), trigger bits 2-3 (3 = level).
                info.overrides.push(Override {
                    irq: e.irq,
                    gsi: { e.global_system_interrupt },
                    active_low: flags & 3 == 3,
                    level: (flags >> 2) & 3 == 3,
                });
            }
            MadtEntry::LocalApicAddressOverride(e) => {
                let a = e.local_apic_address;
                info.lapic_phys = a;
            }
            _ => {}
        }
    }
    Ok(info)
}
