//! ELF64 executable parsing: just enough to load a statically linked higher-half kernel.
//!
//! Only `ET_EXEC` x86-64 little-endian files are accepted. Position-independent
//! (`ET_DYN`) kernels would need relocation processing, which this loader does not do.

use crate::limine::MIN_KERNEL_VADDR;
use crate::paging::{PAGE_SIZE, align_down, align_up};
use crate::{read_u16, read_u32, read_u64};

/// Segment is executable.
pub const PF_X: u32 = 1;
/// Segment is writable.
pub const PF_W: u32 = 2;
/// Segment is readable.
pub const PF_R: u32 = 4;

const PT_LOAD: u32 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;

/// Most PT_LOAD segments an executable may have.
pub const MAX_SEGMENTS: usize = 16;

/// One PT_LOAD segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Segment {
    pub vaddr: u64,
    pub offset: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub flags: u32,
}

/// Why an ELF file was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    TooSmall,
    BadMagic,
    NotElf64LittleEndian,
    NotX86_64,
    /// `ET_DYN`: relocatable executables are not supported.
    PositionIndependent,
    NotExecutable,
    BadProgramHeaders,
    TooManySegments,
    /// A segment's file bytes lie outside the file, or filesz > memsz.
    BadSegment,
    /// A segment lies below `0xffffffff80000000` or wraps.
    NotHigherHalf,
    NoLoadSegments,
}

impl ElfError {
    /// Human-readable reason for the loader's error message.
    pub const fn reason(self) -> &'static str {
        match self {
            ElfError::TooSmall => "file too small for an ELF header",
            ElfError::BadMagic => "not an ELF file",
            ElfError::NotElf64LittleEndian => "not a little-endian ELF64 file",
            ElfError::NotX86_64 => "not an x86-64 executable",
            ElfError::PositionIndependent => "ET_DYN (PIE) executables are not supported",
            ElfError::NotExecutable => "not an ET_EXEC executable",
            ElfError::BadProgramHeaders => "program headers out of bounds",
            ElfError::TooManySegments => "too many PT_LOAD segments",
            ElfError::BadSegment => "PT_LOAD segment out of file bounds",
            ElfError::NotHigherHalf => "PT_LOAD segment below 0xffffffff80000000",
            ElfError::NoLoadSegments => "no PT_LOAD segments",
        }
    }
}

/// The parsed executable.
#[derive(Clone, Debug)]
pub struct Executable {
    pub entry: u64,
    segments: [Segment; MAX_SEGMENTS],
    count: usize,
}

impl Executable {
    /// The PT_LOAD segments in file order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments[..self.count]
    }

    /// Page-aligned virtual span `(base, size)` covering every PT_LOAD segment. The
    /// kernel is loaded physically contiguous over this span.
    pub fn span(&self) -> (u64, u64) {
        let lo = self.segments().iter().map(|s| s.vaddr).min().unwrap_or(0);
        let hi = self
            .segments()
            .iter()
            .map(|s| s.vaddr + s.memsz)
            .max()
            .unwrap_or(0);
        let base = align_down(lo, PAGE_SIZE);
        (base, align_up(hi, PAGE_SIZE) - base)
    }
}

/// Parses the ELF header and PT_LOAD program headers of `file`.
pub fn parse(file: &[u8]) -> Result<Executable, ElfError> {
    if file.len() < 64 {
        return Err(ElfError::TooSmall);
    }
    if file[..4] != *b"\x7fELF" {
        return Err(ElfError::BadMagic);
    }
    if file[4] != 2 || file[5] != 1 {
        return Err(ElfError::NotElf64LittleEndian);
    }
    match read_u16(file, 16) {
        Some(ET_EXEC) => {}
        Some(ET_DYN) => return Err(ElfError::PositionIndependent),
        _ => return Err(ElfError::NotExecutable),
    }
    if read_u16(file, 18) != Some(EM_X86_64) {
        return Err(ElfError::NotX86_64);
    }
    let entry = read_u64(file, 24).ok_or(ElfError::TooSmall)?;
    let phoff = read_u64(file, 32).ok_or(ElfError::TooSmall)?;
    let phentsize = read_u16(file, 54).ok_or(ElfError::TooSmall)? as u64;
    let phnum = read_u16(file, 56).ok_or(ElfError::TooSmall)? as u64;
    if phentsize < 56 {
        return Err(ElfError::BadProgramHeaders);
    }
    let table_end = phentsize
        .checked_mul(phnum)
        .and_then(|n| n.checked_add(phoff))
        .ok_or(ElfError::BadProgramHeaders)?;
    if table_end > file.len() as u64 {
        return Err(ElfError::BadProgramHeaders);
    }
    let mut exe = Executable {
        entry,
        segments: [Segment::default(); MAX_SEGMENTS],
        count: 0,
    };
    for i in 0..phnum {
        let ph = (phoff + i * phentsize) as usize;
        let field64 = |o: usize| read_u64(file, ph + o).ok_or(ElfError::BadProgramHeaders);
        if read_u32(file, ph) != Some(PT_LOAD) {
            continue;
        }
        let seg = Segment {
            flags: read_u32(file, ph + 4).ok_or(ElfError::BadProgramHeaders)?,
            offset: field64(8)?,
            vaddr: field64(16)?,
            filesz: field64(32)?,
            memsz: field64(40)?,
        };
        if seg.memsz == 0 {
            continue;
        }
        let file_end = seg.offset.checked_add(seg.filesz);
        if seg.filesz > seg.memsz || file_end.is_none_or(|e| e > file.len() as u64) {
            return Err(ElfError::BadSegment);
        }
        if seg.vaddr < MIN_KERNEL_VADDR || seg.vaddr.checked_add(seg.memsz).is_none() {
            return Err(ElfError::NotHigherHalf);
        }
        *exe.segments
            .get_mut(exe.count)
            .ok_or(ElfError::TooManySegments)? = seg;
        exe.count += 1;
    }
    if exe.count == 0 {
        return Err(ElfError::NoLoadSegments);
    }
    Ok(exe)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a minimal ELF64 file with the given PT_LOAD segments (vaddr, filesz, memsz,
    /// flags); segment file data follows the headers, filled with the segment index.
    pub(crate) fn make_elf(segs: &[(u64, u64, u64, u32)], etype: u16) -> Vec<u8> {
        let phoff = 64u64;
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&etype.to_le_bytes());
        f[18..20].copy_from_slice(&62u16.to_le_bytes());
        f[24..32].copy_from_slice(&0xffff_ffff_8000_1000u64.to_le_bytes());
        f[32..40].copy_from_slice(&phoff.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&(segs.len() as u16 + 1).to_le_bytes());
        let mut data_off = phoff + 56 * (segs.len() as u64 + 1);
        let mut data = Vec::new();
        for (i, &(vaddr, filesz, memsz, flags)) in segs.iter().enumerate() {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&1u32.to_le_bytes());
            ph[4..8].copy_from_slice(&flags.to_le_bytes());
            ph[8..16].copy_from_slice(&data_off.to_le_bytes());
            ph[16..24].copy_from_slice(&vaddr.to_le_bytes());
            ph[32..40].copy_from_slice(&filesz.to_le_bytes());
            ph[40..48].copy_from_slice(&memsz.to_le_bytes());
            f.extend(ph);
            data.extend(std::iter::repeat_n(i as u8 + 1, filesz as usize));
            data_off += filesz;
        }
        // A trailing PT_NOTE-like header that must be skipped.
        let mut note = vec![0u8; 56];
        note[..4].copy_from_slice(&4u32.to_le_bytes());
        f.extend(note);
        f.extend(data);
        f
    }

    const K: u64 = 0xffff_ffff_8000_0000;

    #[test]
    fn parses_segments_and_span() {
        let f = make_elf(
            &[
                (K, 0x1800, 0x1800, PF_R | PF_X),
                (K + 0x2000, 0x100, 0x100, PF_R),
                (K + 0x3000, 0x10, 0x5000, PF_R | PF_W),
            ],
            2,
        );
        let e = parse(&f).unwrap();
        assert_eq!(e.entry, K + 0x1000);
        assert_eq!(e.segments().len(), 3);
        assert_eq!(e.segments()[2].memsz, 0x5000);
        assert_eq!(e.segments()[2].flags, PF_R | PF_W);
        assert_eq!(e.span(), (K, 0x8000));
    }

    #[test]
    fn rejects_bad_files() {
        let good = make_elf(&[(K, 0x10, 0x10, PF_R)], 2);
        assert_eq!(parse(&good[..40]).unwrap_err(), ElfError::TooSmall);
        let mut f = good.clone();
        f[0] = 0;
        assert_eq!(parse(&f).unwrap_err(), ElfError::BadMagic);
        let mut f = good.clone();
        f[4] = 1;
        assert_eq!(parse(&f).unwrap_err(), ElfError::NotElf64LittleEndian);
        let mut f = good.clone();
        f[18] = 3;
        assert_eq!(parse(&f).unwrap_err(), ElfError::NotX86_64);
        assert_eq!(
            parse(&make_elf(&[(K, 0x10, 0x10, PF_R)], 3)).unwrap_err(),
            ElfError::PositionIndependent
        );
        assert_eq!(
            parse(&make_elf(&[(K, 0x10, 0x10, PF_R)], 1)).unwrap_err(),
            ElfError::NotExecutable
        );
        assert_eq!(
            parse(&make_elf(&[(0x100000, 0x10, 0x10, PF_R)], 2)).unwrap_err(),
            ElfError::NotHigherHalf
        );
        assert_eq!(
            parse(&make_elf(&[(K, 0x10, 0x8, PF_R)], 2)).unwrap_err(),
            ElfError::BadSegment
        );
        assert_eq!(
            parse(&make_elf(&[(u64::MAX - 8, 0x10, 0x10, PF_R)], 2)).unwrap_err(),
            ElfError::NotHigherHalf
        );
        assert_eq!(
            parse(&make_elf(&[], 2)).unwrap_err(),
            ElfError::NoLoadSegments
        );
        let mut f = good.clone();
        f.truncate(f.len() - 4); // segment data cut short
        assert_eq!(parse(&f).unwrap_err(), ElfError::BadSegment);
        let mut f = good;
        f[56] = 200; // phnum beyond the file
        assert_eq!(parse(&f).unwrap_err(), ElfError::BadProgramHeaders);
    }
}
