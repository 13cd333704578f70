//! ACPI: finding the RSDP in BIOS memory and reading the CPU list from the MADT.
//!
//! Multiboot1 does not pass the RSDP, so the loader searches for it the way the ACPI
//! specification describes for legacy BIOS systems: the first KiB of the EBDA, then
//! 0xE0000..0xFFFFF, on 16-byte boundaries, with a valid checksum.

use crate::{read_u32, read_u64};

/// RSDP signature.
pub const RSDP_SIGNATURE: &[u8; 8] = b"RSD PTR ";
/// Size of the ACPI 1.0 RSDP (covered by the first checksum).
pub const RSDP_V1_SIZE: usize = 20;
/// Size of the ACPI 2.0+ RSDP.
pub const RSDP_V2_SIZE: usize = 36;
/// Size of the common system description table header.
pub const SDT_HEADER_SIZE: usize = 36;

/// Whether the bytes sum to zero modulo 256.
pub fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b)) == 0
}

/// The fields of an RSDP the loader needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rsdp {
    pub revision: u8,
    pub rsdt: u32,
    /// Zero for ACPI 1.0.
    pub xsdt: u64,
}

/// Validates an RSDP at the start of `bytes`: signature, the 20-byte checksum and, for
/// revision 2 and later, the extended checksum over its full length.
pub fn parse_rsdp(bytes: &[u8]) -> Option<Rsdp> {
    let v1 = bytes.get(..RSDP_V1_SIZE)?;
    if &v1[..8] != RSDP_SIGNATURE || !checksum_ok(v1) {
        return None;
    }
    let revision = v1[15];
    let rsdt = read_u32(v1, 16)?;
    let mut xsdt = 0;
    if revision >= 2 {
        let len = read_u32(bytes, 20)? as usize;
        if len < RSDP_V2_SIZE || !checksum_ok(bytes.get(..len)?) {
            return None;
        }
        xsdt = read_u64(bytes, 24)?;
    }
    Some(Rsdp {
        revision,
        rsdt,
        xsdt,
    })
}

/// Offset of the first valid RSDP in `area` (searched on 16-byte boundaries; `area`
/// must start 16-byte aligned).
pub fn find_rsdp(area: &[u8]) -> Option<usize> {
    (0..area.len())
        .step_by(16)
        .find(|&off| parse_rsdp(&area[off..]).is_some())
}

/// A system description table header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdtHeader {
    pub signature: [u8; 4],
    pub length: u32,
}

/// Reads the header at the start of `bytes`.
pub fn sdt_header(bytes: &[u8]) -> Option<SdtHeader> {
    let h = bytes.get(..SDT_HEADER_SIZE)?;
    Some(SdtHeader {
        signature: [h[0], h[1], h[2], h[3]],
        length: read_u32(h, 4)?,
    })
}

/// The table addresses listed in an RSDT (`wide == false`, 32-bit entries) or XSDT
/// (`wide == true`, 64-bit entries). `table` is the whole table, header included.
pub fn root_entries(table: &[u8], wide: bool) -> impl Iterator<Item = u64> + '_ {
    let len = sdt_header(table)
        .map_or(0, |h| h.length as usize)
        .min(table.len());
    let step = if wide { 8 } else { 4 };
    (SDT_HEADER_SIZE..len)
        .step_by(step)
        .filter(move |off| off + step <= len)
        .filter_map(move |off| {
            if wide {
                read_u64(table, off)
            } else {
                read_u32(table, off).map(u64::from)
            }
        })
}

/// One enabled processor from the MADT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MadtCpu {
    /// ACPI processor UID (Limine's `processor_id`).
    pub uid: u32,
    /// Local APIC id (8-bit for LAPIC entries, 32-bit for x2APIC entries).
    pub apic_id: u32,
}

/// One I/O APIC from the MADT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MadtIoApic {
    pub id: u8,
    pub address: u32,
    pub gsi_base: u32,
}

/// Most CPUs the loader tracks.
pub const MAX_CPUS: usize = 256;
/// Most I/O APICs the loader tracks.
pub const MAX_IOAPICS: usize = 16;

/// What the loader needs from the MADT.
#[derive(Clone, Debug)]
pub struct Madt {
    /// Local APIC physical address (the 64-bit override if present).
    pub lapic_address: u64,
    cpus: [MadtCpu; MAX_CPUS],
    ncpus: usize,
    ioapics: [MadtIoApic; MAX_IOAPICS],
    nioapics: usize,
    /// Enabled processors that did not fit [`MAX_CPUS`].
    pub dropped_cpus: usize,
}

impl Madt {
    /// Enabled processors, in MADT order, without duplicate APIC ids.
    pub fn cpus(&self) -> &[MadtCpu] {
        &self.cpus[..self.ncpus]
    }

    /// I/O APICs in MADT order.
    pub fn ioapics(&self) -> &[MadtIoApic] {
        &self.ioapics[..self.nioapics]
    }
}

const MADT_LOCAL_APIC: u8 = 0;
const MADT_IO_APIC: u8 = 1;
const MADT_LAPIC_ADDRESS_OVERRIDE: u8 = 5;
const MADT_LOCAL_X2APIC: u8 = 9;
const MADT_ENABLED: u32 = 1;

/// Parses a MADT (`table` = whole table including the header, checksum verified by the
/// caller). Only enabled processors are listed; "online capable" ones stay off, as in
/// Limine. Returns `None` if the table is not an APIC table or is truncated.
pub fn parse_madt(table: &[u8]) -> Option<Madt> {
    let h = sdt_header(table)?;
    if &h.signature != b"APIC" {
        return None;
    }
    let len = (h.length as usize).min(table.len());
    let mut madt = Madt {
        lapic_address: u64::from(read_u32(table, 36)?),
        cpus: [MadtCpu::default(); MAX_CPUS],
        ncpus: 0,
        ioapics: [MadtIoApic::default(); MAX_IOAPICS],
        nioapics: 0,
        dropped_cpus: 0,
    };
    let mut off = 44;
    while off + 2 <= len {
        let kind = table[off];
        let elen = table[off + 1] as usize;
        if elen < 2 || off + elen > len {
            break;
        }
        let e = &table[off..off + elen];
        match kind {
            MADT_LOCAL_APIC if elen >= 8 && read_u32(e, 4)? & MADT_ENABLED != 0 => {
                madt.add_cpu(u32::from(e[2]), u32::from(e[3]));
            }
            MADT_LOCAL_X2APIC if elen >= 16 && read_u32(e, 8)? & MADT_ENABLED != 0 => {
                madt.add_cpu(read_u32(e, 12)?, read_u32(e, 4)?);
            }
            MADT_IO_APIC if elen >= 12 && madt.nioapics < MAX_IOAPICS => {
                madt.ioapics[madt.nioapics] = MadtIoApic {
                    id: e[2],
                    address: read_u32(e, 4)?,
                    gsi_base: read_u32(e, 8)?,
                };
                madt.nioapics += 1;
            }
            MADT_LAPIC_ADDRESS_OVERRIDE if elen >= 12 => {
                madt.lapic_address = read_u64(e, 4)?;
            }
            _ => {}
        }
        off += elen;
    }
    Some(madt)
}

impl Madt {
    fn add_cpu(&mut self, uid: u32, apic_id: u32) {
        if self.cpus().iter().any(|c| c.apic_id == apic_id) {
            return;
        }
        if self.ncpus == MAX_CPUS {
            self.dropped_cpus += 1;
            return;
        }
        self.cpus[self.ncpus] = MadtCpu { uid, apic_id };
        self.ncpus += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fix_checksum(bytes: &mut [u8], at: usize) {
        bytes[at] = 0;
        let s = bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b));
        bytes[at] = 0u8.wrapping_sub(s);
    }

    fn rsdp_v1(rsdt: u32) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend(RSDP_SIGNATURE);
        r.push(0);
        r.extend(b"WEFTOS");
        r.push(0);
        r.extend(rsdt.to_le_bytes());
        fix_checksum(&mut r, 8);
        r
    }

    fn rsdp_v2(rsdt: u32, xsdt: u64) -> Vec<u8> {
        let mut r = rsdp_v1(rsdt);
        r[15] = 2;
        fix_checksum(&mut r, 8);
        r.extend(36u32.to_le_bytes());
        r.extend(xsdt.to_le_bytes());
        r.extend([0, 0, 0, 0]);
        fix_checksum(&mut r, 32);
        r
    }

    #[test]
    fn finds_rsdp_on_16_byte_boundary_with_valid_checksum() {
        let mut area = vec![0u8; 0x200];
        // A signature with a bad checksum first, then a misaligned good one, then the
        // real one.
        let mut bad = rsdp_v1(0x1234);
        bad[9] ^= 1;
        area[0x20..0x20 + 20].copy_from_slice(&bad);
        area[0x48..0x48 + 20].copy_from_slice(&rsdp_v1(0x5678));
        area[0x100..0x100 + 20].copy_from_slice(&rsdp_v1(0x7fe_1234));
        let off = find_rsdp(&area).unwrap();
        assert_eq!(off, 0x100);
        let r = parse_rsdp(&area[off..]).unwrap();
        assert_eq!(
            r,
            Rsdp {
                revision: 0,
                rsdt: 0x7fe_1234,
                xsdt: 0
            }
        );
        assert_eq!(find_rsdp(&[0u8; 64]), None);
    }

    #[test]
    fn rsdp_v2_extended_checksum() {
        let r = rsdp_v2(0x1000, 0x1_0000_2000);
        assert_eq!(parse_rsdp(&r).unwrap().xsdt, 0x1_0000_2000);
        let mut bad = r.clone();
        bad[30] ^= 0x40;
        assert_eq!(parse_rsdp(&bad), None);
        assert_eq!(parse_rsdp(&r[..30]), None, "truncated v2");
    }

    fn sdt(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend(sig);
        t.extend(((36 + body.len()) as u32).to_le_bytes());
        t.extend([1, 0]);
        t.extend(b"WEFTOS");
        t.extend(b"WEFTTABL");
        t.extend([0u8; 12]);
        t.extend(body);
        fix_checksum(&mut t, 9);
        t
    }

    #[test]
    fn root_table_entries() {
        let mut body = Vec::new();
        body.extend(0x1000u32.to_le_bytes());
        body.extend(0x2000u32.to_le_bytes());
        let rsdt = sdt(b"RSDT", &body);
        assert!(checksum_ok(&rsdt));
        assert_eq!(
            root_entries(&rsdt, false).collect::<Vec<_>>(),
            vec![0x1000, 0x2000]
        );
        let mut body = Vec::new();
        body.extend(0x1_0000_0000u64.to_le_bytes());
        let xsdt = sdt(b"XSDT", &body);
        assert_eq!(
            root_entries(&xsdt, true).collect::<Vec<_>>(),
            vec![0x1_0000_0000]
        );
        assert_eq!(root_entries(&xsdt[..10], true).count(), 0);
    }

    fn lapic(uid: u8, id: u8, flags: u32) -> Vec<u8> {
        let mut e = vec![0, 8, uid, id];
        e.extend(flags.to_le_bytes());
        e
    }

    fn x2apic(uid: u32, id: u32, flags: u32) -> Vec<u8> {
        let mut e = vec![9, 16, 0, 0];
        e.extend(id.to_le_bytes());
        e.extend(flags.to_le_bytes());
        e.extend(uid.to_le_bytes());
        e
    }

    #[test]
    fn madt_cpus_ioapics_and_overrides() {
        let mut body = Vec::new();
        body.extend(0xfee0_0000u32.to_le_bytes());
        body.extend(1u32.to_le_bytes()); // PCAT_COMPAT
        body.extend(lapic(0, 0, 1));
        body.extend(lapic(1, 1, 1));
        body.extend(lapic(2, 2, 0)); // disabled
        body.extend(lapic(3, 3, 2)); // online capable only
        body.extend([1, 12, 7, 0]);
        body.extend(0xfec0_0000u32.to_le_bytes());
        body.extend(0u32.to_le_bytes());
        body.extend([2, 10, 0, 0, 2, 0, 0, 0, 0, 0]); // ISO, ignored
        body.extend(x2apic(5, 300, 1));
        body.extend(x2apic(1, 1, 1)); // duplicate of a LAPIC entry
        let t = sdt(b"APIC", &body);
        let m = parse_madt(&t).unwrap();
        assert_eq!(m.lapic_address, 0xfee0_0000);
        assert_eq!(
            m.cpus(),
            &[
                MadtCpu { uid: 0, apic_id: 0 },
                MadtCpu { uid: 1, apic_id: 1 },
                MadtCpu {
                    uid: 5,
                    apic_id: 300
                },
            ]
        );
        assert_eq!(
            m.ioapics(),
            &[MadtIoApic {
                id: 7,
                address: 0xfec0_0000,
                gsi_base: 0
            }]
        );

        let mut body2 = body.clone();
        body2.extend([5, 12, 0, 0]);
        body2.extend(0x1_fee0_0000u64.to_le_bytes());
        assert_eq!(
            parse_madt(&sdt(b"APIC", &body2)).unwrap().lapic_address,
            0x1_fee0_0000
        );
    }

    #[test]
    fn madt_rejects_wrong_signature_and_stops_on_bad_entries() {
        let mut body = vec![0u8; 8];
        body.extend(lapic(0, 0, 1));
        body.extend([0, 0]); // zero-length entry: stop here
        body.extend(lapic(1, 1, 1));
        assert_eq!(parse_madt(&sdt(b"APIC", &body)).unwrap().cpus().len(), 1);
        assert!(parse_madt(&sdt(b"FACP", &body)).is_none());
        assert!(parse_madt(&[0u8; 10]).is_none());
    }

    #[test]
    fn many_cpus() {
        let mut body = vec![0u8; 8];
        for i in 0..300u32 {
            body.extend(x2apic(i, i, 1));
        }
        let m = parse_madt(&sdt(b"APIC", &body)).unwrap();
        assert_eq!(m.cpus().len(), MAX_CPUS);
        assert_eq!(m.dropped_cpus, 300 - MAX_CPUS);
    }
}
