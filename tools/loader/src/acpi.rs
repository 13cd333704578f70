//! Finds the RSDP and the MADT through the identity map.

use crate::phys;
use weft_bootproto::acpi::{
    Madt, RSDP_V2_SIZE, SDT_HEADER_SIZE, checksum_ok, find_rsdp, parse_madt, parse_rsdp,
    root_entries, sdt_header,
};

/// Physical address of the RSDP: first KiB of the EBDA, then 0xE0000..0xFFFFF.
pub fn find() -> Option<u64> {
    // SAFETY: the BIOS data area word at 0x40e holds the EBDA segment.
    let ebda_seg = unsafe { phys::bytes(0x40e, 2) };
    let ebda = u64::from(u16::from_le_bytes([ebda_seg[0], ebda_seg[1]])) << 4;
    let mut areas = [(0xe0000u64, 0x20000u64), (0, 0)];
    if (0x8_0000..0xa_0000).contains(&ebda) {
        areas = [(ebda, 1024.min(0xa_0000 - ebda)), (0xe0000, 0x20000)];
    }
    areas.iter().filter(|a| a.1 > 0).find_map(|&(base, len)| {
        // SAFETY: EBDA and BIOS ROM area are firmware memory nobody writes now.
        let area = unsafe { phys::bytes(base, len) };
        find_rsdp(area).map(|off| base + off as u64)
    })
}

/// Borrows a whole ACPI table after checking its length and checksum.
fn table(addr: u64) -> Option<&'static [u8]> {
    if addr.checked_add(SDT_HEADER_SIZE as u64)? > phys::IDENTITY_LIMIT {
        return None;
    }
    // SAFETY: firmware table memory below 4 GiB, read-only for us.
    let h = sdt_header(unsafe { phys::bytes(addr, SDT_HEADER_SIZE as u64) })?;
    let len = u64::from(h.length);
    if !(SDT_HEADER_SIZE as u64..=1 << 20).contains(&len) || addr + len > phys::IDENTITY_LIMIT {
        return None;
    }
    // SAFETY: as above, for the length the header declares.
    let t = unsafe { phys::bytes(addr, len) };
    checksum_ok(t).then_some(t)
}

/// Parses the MADT reachable from the RSDP at `rsdp`.
pub fn madt(rsdp: u64) -> Option<Madt> {
    // SAFETY: the RSDP was found and checksummed in BIOS memory.
    let r = parse_rsdp(unsafe { phys::bytes(rsdp, RSDP_V2_SIZE as u64) })?;
    let (root, wide) = if r.revision >= 2 && r.xsdt != 0 {
        (table(r.xsdt)?, true)
    } else {
        (table(u64::from(r.rsdt))?, false)
    };
    root_entries(root, wide)
        .filter_map(table)
        .find(|t| &t[..4] == b"APIC")
        .and_then(parse_madt)
}
