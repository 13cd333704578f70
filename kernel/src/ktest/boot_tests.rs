//! Tests of what the bootloader handed over and how the kernel took it.

use alloc::string::String;
use weft_mm::RegionKind;

use super::Ctx;
use crate::{boot_info, check};

pub fn base_revision(_: &Ctx) -> Result<(), String> {
    let info = boot_info();
    check!(
        info.revision_supported,
        "base revision 3 not supported by the bootloader"
    );
    check!(
        !info.bootloader.is_empty() && info.bootloader != "unknown",
        "no bootloader info response"
    );
    check!(
        info.paging_mode_4level,
        "paging mode response missing or not 4-level"
    );
    check!(info.stack_size_acked, "stack size request not answered");
    check!(
        info.hhdm_offset >= 0xffff_8000_0000_0000,
        "HHDM offset {:#x} is not in the upper half",
        info.hhdm_offset
    );
    check!(
        info.hhdm_offset.is_multiple_of(1 << 30),
        "HHDM offset {:#x} is not 1 GiB aligned",
        info.hhdm_offset
    );
    Ok(())
}

pub fn memory_map(_: &Ctx) -> Result<(), String> {
    let info = boot_info();
    let r = &info.regions;
    check!(!r.is_empty(), "empty memory map");
    let mut usable = 0u64;
    for w in r.windows(2) {
        check!(
            w[0].base < w[1].base,
            "memory map not sorted: {:#x} before {:#x}",
            w[0].base,
            w[1].base
        );
        check!(
            w[0].base + w[0].len <= w[1].base,
            "memory map entries overlap at {:#x}",
            w[1].base
        );
    }
    for e in r {
        check!(e.len > 0, "zero-length entry at {:#x}", e.base);
        if matches!(
            e.kind,
            RegionKind::Usable | RegionKind::BootloaderReclaimable
        ) {
            check!(
                e.base % 4096 == 0 && e.len % 4096 == 0,
                "usable entry {:#x}+{:#x} not page aligned",
                e.base,
                e.len
            );
        }
        if e.kind == RegionKind::Usable {
            usable += e.len;
        }
    }
    check!(usable >= 16 << 20, "only {} KiB usable", usable / 1024);
    let kernel_in_exec = r.iter().any(|e| {
        e.kind == RegionKind::ExecutableAndModules
            && e.base <= info.kernel_phys
            && info.kernel_phys < e.base + e.len
    });
    check!(
        kernel_in_exec,
        "kernel physical base {:#x} not inside an executable-and-modules entry",
        info.kernel_phys
    );
    check!(
        r.iter()
            .all(|e| e.base != 0 || e.kind != RegionKind::Usable),
        "page 0 is reported usable"
    );
    Ok(())
}

pub fn kernel_address(_: &Ctx) -> Result<(), String> {
    let info = boot_info();
    check!(
        info.kernel_virt == 0xffff_ffff_8000_0000,
        "kernel virtual base {:#x}",
        info.kernel_virt
    );
    check!(
        info.kernel_phys.is_multiple_of(4096),
        "kernel physical base {:#x} not page aligned",
        info.kernel_phys
    );
    let f = crate::kmain as *const () as u64;
    let expect = info.kernel_phys + (f - info.kernel_virt);
    let got = weft_mm::virt_to_phys(f);
    check!(
        got == Some(expect),
        "kmain at {f:#x} translates to {got:?}, expected {expect:#x}"
    );
    check!(
        info.kernel_file.starts_with(b"\x7fELF"),
        "executable file response is not an ELF image"
    );
    Ok(())
}

pub fn cpu_count(ctx: &Ctx) -> Result<(), String> {
    // Not `boot::mp_response()`: its memory has been reclaimed by now.
    let mp = crate::boot_info().mp_cpus;
    let online = crate::smp::online_count();
    let madt = crate::ACPI
        .get()
        .map(|m| m.processors.iter().filter(|p| p.enabled).count())
        .unwrap_or(0);
    check!(
        mp == online,
        "{mp} CPUs in the MP response but {online} online"
    );
    check!(
        madt == online,
        "{madt} enabled CPUs in the MADT but {online} online"
    );
    check!(
        weft_arch::percpu::cpu_count() == online,
        "per-CPU count {} != {online}",
        weft_arch::percpu::cpu_count()
    );
    if let Some(n) = ctx.expect_cpus {
        check!(online == n, "{online} CPUs online, the runner started {n}");
    }
    let mut ids: alloc::vec::Vec<u32> = (0..online)
        .map(|c| weft_arch::percpu::get(c).lapic_id())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    check!(ids.len() == online, "duplicate local APIC ids among CPUs");
    Ok(())
}

pub fn modules(_: &Ctx) -> Result<(), String> {
    let info = boot_info();
    check!(
        !info.modules.is_empty(),
        "no modules (the runner always passes the initramfs)"
    );
    for m in &info.modules {
        check!(
            m.path.starts_with('/'),
            "module path {:?} is not absolute",
            m.path
        );
        check!(!m.data.is_empty(), "module {} is empty", m.path);
        check!(
            (m.data.as_ptr() as u64).is_multiple_of(4096),
            "module {} not page aligned",
            m.path
        );
    }
    let initramfs = info
        .modules
        .iter()
        .find(|m| m.path.ends_with("initramfs.tar"));
    check!(initramfs.is_some(), "no initramfs.tar module");
    let m = initramfs.unwrap();
    check!(
        m.cmdline == "initramfs",
        "initramfs module command line is {:?}, expected \"initramfs\"",
        m.cmdline
    );
    check!(
        m.data.len() >= 512 && &m.data[257..262] == b"ustar",
        "initramfs is not a ustar archive"
    );
    Ok(())
}

pub fn rsdp_checksum(_: &Ctx) -> Result<(), String> {
    let phys = boot_info().rsdp_phys;
    check!(
        phys != 0 && phys < 1 << 32,
        "RSDP physical address {phys:#x} implausible"
    );
    let bytes = firmware_bytes(phys, 36);
    check!(
        &bytes[0..8] == b"RSD PTR ",
        "no RSDP signature at {phys:#x}"
    );
    let sum20 = bytes[..20].iter().fold(0u8, |a, b| a.wrapping_add(*b));
    check!(
        sum20 == 0,
        "RSDP checksum (first 20 bytes) is {sum20:#x}, expected 0"
    );
    if bytes[15] >= 2 {
        let len = u32::from_le_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]) as usize;
        check!((36..=4096).contains(&len), "RSDP length {len}");
        let ext = firmware_bytes(phys, len as u64);
        let sum = ext.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        check!(sum == 0, "RSDP extended checksum is {sum:#x}");
    }
    Ok(())
}

fn firmware_bytes(phys: u64, len: u64) -> &'static [u8] {
    weft_mm::firmware_slice(phys, len)
}

pub fn hhdm_excludes_mmio(_: &Ctx) -> Result<(), String> {
    let hhdm = boot_info().hhdm_offset;
    let lapic = hhdm + 0xfee0_0000;
    check!(
        !weft_arch::backtrace::is_mapped(lapic),
        "the HHDM maps the LAPIC window ({lapic:#x}); real Limine does not"
    );
    let ioapic = hhdm + 0xfec0_0000;
    check!(
        !weft_arch::backtrace::is_mapped(ioapic),
        "the HHDM maps the IOAPIC window; real Limine does not"
    );
    let rsdp = hhdm + boot_info().rsdp_phys;
    check!(
        !weft_arch::backtrace::is_mapped(rsdp),
        "the HHDM maps the BIOS area holding the RSDP; real Limine does not"
    );
    check!(
        !weft_arch::backtrace::is_mapped(0x1000),
        "low memory is identity mapped; real Limine does not"
    );
    Ok(())
}

pub fn symbols_lookup(_: &Ctx) -> Result<(), String> {
    let f = crate::kmain as *const () as u64;
    let sym = crate::symbols::lookup(f + 1);
    check!(
        matches!(sym, Some((name, 1)) if name.ends_with("kmain")),
        "lookup(kmain+1) = {sym:?}"
    );
    let g = crate::shutdown as *const () as u64;
    let sym = crate::symbols::lookup(g);
    check!(
        matches!(sym, Some((name, 0)) if name == "weft_kernel::shutdown"),
        "lookup(shutdown) = {sym:?}"
    );
    Ok(())
}
