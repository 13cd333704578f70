//! Validation of static x86_64 ELF executables.
//!
//! The header and the program headers are decoded with goblin's plain parsers
//! (`Elf::parse_header`, `ProgramHeader::parse`); goblin's full `Elf::parse` is not
//! used on purpose: it also walks section headers, symbol and dynamic tables, all
//! of which are irrelevant for loading and would only widen the attack surface.
//! Every size and offset is bounds-checked here before goblin sees it.

use alloc::vec::Vec;

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::Elf;
use goblin::elf::header::{
    EI_CLASS, EI_DATA, EI_VERSION, ELFCLASS64, ELFDATA2LSB, EM_X86_64, ET_DYN, ET_EXEC, EV_CURRENT,
};
use goblin::elf::program_header::{
    PF_R, PF_W, PF_X, PT_GNU_STACK, PT_INTERP, PT_LOAD, PT_PHDR, PT_TLS, ProgramHeader,
};
use weft_abi::Errno;
use weft_abi::mman::{PROT_EXEC, PROT_READ, PROT_WRITE};

/// Page size the segments are checked against.
pub const PAGE_SIZE: u64 = 4096;

/// End (exclusive) of the user half Weft gives programs: the last page below the
/// canonical hole is kept unmapped, as Linux's `TASK_SIZE` does.
pub const USER_END: u64 = 0x0000_7fff_ffff_f000;

/// Most program headers accepted. Real programs have about ten; Linux's own limit
/// is 64 KiB of headers (1170), anything near it is nonsense for a static program.
pub const MAX_PHNUM: usize = 256;

/// A reasonable load bias for a static PIE: two thirds of the user half, page
/// aligned (what Linux uses without address-space randomisation). The caller may
/// add a page-aligned random offset.
pub const PIE_BASE: u64 = 0x0000_5555_5555_4000;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;

/// Memory protection of a segment, in `PROT_*` bits (`weft_abi::mman`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Prot(u32);

impl Prot {
    /// Readable.
    pub const READ: Prot = Prot(PROT_READ);
    /// Writable.
    pub const WRITE: Prot = Prot(PROT_WRITE);
    /// Executable.
    pub const EXEC: Prot = Prot(PROT_EXEC);

    /// From `PROT_*` bits (other bits are dropped).
    pub const fn from_bits(bits: u32) -> Prot {
        Prot(bits & (PROT_READ | PROT_WRITE | PROT_EXEC))
    }

    /// From ELF `PF_*` flags.
    pub const fn from_pf(flags: u32) -> Prot {
        let mut p = 0;
        if flags & PF_R != 0 {
            p |= PROT_READ;
        }
        if flags & PF_W != 0 {
            p |= PROT_WRITE;
        }
        if flags & PF_X != 0 {
            p |= PROT_EXEC;
        }
        Prot(p)
    }

    /// The `PROT_*` bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Readable?
    pub const fn read(self) -> bool {
        self.0 & PROT_READ != 0
    }

    /// Writable?
    pub const fn write(self) -> bool {
        self.0 & PROT_WRITE != 0
    }

    /// Executable?
    pub const fn exec(self) -> bool {
        self.0 & PROT_EXEC != 0
    }

    /// Union of two protections (for a page two segments share).
    pub const fn union(self, other: Prot) -> Prot {
        Prot(self.0 | other.0)
    }
}

/// One `PT_LOAD` segment, validated.
///
/// Invariants: `filesz <= memsz`, `memsz > 0`, `offset + filesz` lies inside the
/// file, `vaddr + memsz <= USER_END`, `vaddr % PAGE_SIZE == offset % PAGE_SIZE`
/// when the segment has file bytes, and `align` is 0, 1 or a power of two.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address of the first byte (bias applied).
    pub vaddr: u64,
    /// Size in memory (bytes past `filesz` are zero).
    pub memsz: u64,
    /// Bytes taken from the file.
    pub filesz: u64,
    /// File offset of the first byte.
    pub offset: u64,
    /// Protection.
    pub prot: Prot,
    /// `p_align` as found in the file (0 or 1: none).
    pub align: u64,
}

impl Segment {
    /// One past the last byte in memory.
    pub const fn end(&self) -> u64 {
        self.vaddr + self.memsz
    }

    /// First page-aligned address covering the segment.
    pub const fn page_start(&self) -> u64 {
        self.vaddr & !(PAGE_SIZE - 1)
    }

    /// End of the last page covering the segment (page-aligned, exclusive).
    pub const fn page_end(&self) -> u64 {
        page_up(self.end())
    }

    /// The file bytes of the segment as a range into the ELF image.
    pub fn file_range(&self) -> core::ops::Range<usize> {
        // Both fit in usize: parse() checked them against the slice length.
        self.offset as usize..(self.offset + self.filesz) as usize
    }
}

/// A validated static executable: what `execve` needs to map it and start it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecImage {
    entry: u64,
    segments: Vec<Segment>,
    phdr: Option<u64>,
    phnum: u16,
    phentsize: u16,
    pie: bool,
    bias: u64,
    exec_stack: bool,
}

const fn page_up(x: u64) -> u64 {
    // Callers only pass values <= USER_END, so this cannot overflow.
    (x + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

fn noexec<T>() -> Result<T, Errno> {
    Err(Errno::ENOEXEC)
}

/// Validates `elf` as a static x86_64 executable (`ET_EXEC`, or `ET_DYN` without
/// `PT_INTERP`: a static PIE) and describes how to load it.
///
/// Every defect gives `ENOEXEC`: a truncated file, wrong class/endianness/machine/
/// version/type, `e_phentsize != 56`, no or too many (`> MAX_PHNUM`) program
/// headers, a header table or segment past the end of the file, `filesz > memsz`,
/// addresses past [`USER_END`] or wrapping, a non-power-of-two alignment, a file
/// offset not congruent to the address modulo the page size, overlapping or
/// misordered `PT_LOAD`s, no loadable segment, an entry point outside every
/// segment, page 0 in a non-PIE image, a `PT_PHDR` that is not inside a segment's
/// file bytes, a malformed `PT_TLS`, or a `PT_INTERP` (dynamically linked programs
/// are not supported yet).
pub fn parse(elf: &[u8]) -> Result<ExecImage, Errno> {
    if elf.len() < EHDR_SIZE {
        return noexec();
    }
    // Identification bytes first: goblin would happily parse big-endian or 32-bit.
    if &elf[..4] != b"\x7fELF"
        || elf[EI_CLASS] != ELFCLASS64
        || elf[EI_DATA] != ELFDATA2LSB
        || elf[EI_VERSION] != EV_CURRENT
    {
        return noexec();
    }
    let hdr = Elf::parse_header(elf).map_err(|_| Errno::ENOEXEC)?;
    if hdr.e_machine != EM_X86_64 || hdr.e_version != u32::from(EV_CURRENT) {
        return noexec();
    }
    let pie = match hdr.e_type {
        ET_EXEC => false,
        ET_DYN => true,
        _ => return noexec(),
    };
    if usize::from(hdr.e_phentsize) != PHDR_SIZE {
        return noexec();
    }
    let phnum = usize::from(hdr.e_phnum);
    if phnum == 0 || phnum > MAX_PHNUM {
        return noexec();
    }
    let phoff = usize::try_from(hdr.e_phoff).map_err(|_| Errno::ENOEXEC)?;
    let table_len = phnum * PHDR_SIZE;
    let table_end = phoff.checked_add(table_len).ok_or(Errno::ENOEXEC)?;
    if table_end > elf.len() {
        return noexec();
    }
    let ctx = Ctx::new(Container::Big, Endian::Little);
    let phdrs = ProgramHeader::parse(elf, phoff, phnum, ctx).map_err(|_| Errno::ENOEXEC)?;
    if phdrs.len() != phnum {
        return noexec();
    }

    let file_len = elf.len() as u64;
    let mut segments: Vec<Segment> = Vec::new();
    let mut pt_phdr = None;
    let mut exec_stack = false;
    for ph in &phdrs {
        match ph.p_type {
            PT_INTERP => return noexec(),
            PT_LOAD => {
                if ph.p_filesz > ph.p_memsz {
                    return noexec();
                }
                let file_end = ph.p_offset.checked_add(ph.p_filesz).ok_or(Errno::ENOEXEC)?;
                if file_end > file_len {
                    return noexec();
                }
                let end = ph.p_vaddr.checked_add(ph.p_memsz).ok_or(Errno::ENOEXEC)?;
                if end > USER_END {
                    return noexec();
                }
                if ph.p_align > 1 && !ph.p_align.is_power_of_two() {
                    return noexec();
                }
                if ph.p_filesz > 0 && ph.p_vaddr % PAGE_SIZE != ph.p_offset % PAGE_SIZE {
                    return noexec();
                }
                if ph.p_memsz == 0 {
                    // Nothing to map; Linux skips these too.
                    continue;
                }
                if let Some(prev) = segments.last()
                    && ph.p_vaddr < prev.end()
                {
                    // Overlapping, or not in ascending order as the ELF spec demands.
                    return noexec();
                }
                segments.push(Segment {
                    vaddr: ph.p_vaddr,
                    memsz: ph.p_memsz,
                    filesz: ph.p_filesz,
                    offset: ph.p_offset,
                    prot: Prot::from_pf(ph.p_flags),
                    align: ph.p_align,
                });
            }
            PT_PHDR => {
                if pt_phdr.is_some() {
                    return noexec();
                }
                pt_phdr = Some(ph.p_vaddr);
            }
            PT_GNU_STACK => exec_stack = ph.p_flags & PF_X != 0,
            PT_TLS => {
                // The C library reads the TLS template through AT_PHDR; a broken
                // one would only fault later in user space, so refuse it here.
                let file_end = ph.p_offset.checked_add(ph.p_filesz).ok_or(Errno::ENOEXEC)?;
                if ph.p_filesz > ph.p_memsz
                    || file_end > file_len
                    || (ph.p_align > 1 && !ph.p_align.is_power_of_two())
                {
                    return noexec();
                }
            }
            _ => {}
        }
    }
    let Some(first) = segments.first() else {
        return noexec();
    };
    if !pie && first.page_start() < PAGE_SIZE {
        return noexec();
    }

    let entry = hdr.e_entry;
    if !segments.iter().any(|s| entry >= s.vaddr && entry < s.end()) {
        return noexec();
    }

    // Where the program headers are in memory: PT_PHDR if given (and then it must
    // be backed by file bytes of a segment), otherwise the segment whose file
    // bytes contain e_phoff. None if no segment loads them.
    let table_len = table_len as u64;
    let phdr = match pt_phdr {
        Some(va) => {
            let end = va.checked_add(table_len).ok_or(Errno::ENOEXEC)?;
            if !segments
                .iter()
                .any(|s| va >= s.vaddr && end <= s.vaddr + s.filesz)
            {
                return noexec();
            }
            Some(va)
        }
        None => {
            let off = phoff as u64;
            segments
                .iter()
                .find(|s| off >= s.offset && off + table_len <= s.offset + s.filesz)
                .map(|s| s.vaddr + (off - s.offset))
        }
    };

    Ok(ExecImage {
        entry,
        segments,
        phdr,
        phnum: phnum as u16,
        phentsize: PHDR_SIZE as u16,
        pie,
        bias: 0,
        exec_stack,
    })
}

impl ExecImage {
    /// The same image moved by `bias` bytes (a static PIE's load bias).
    ///
    /// `EINVAL` if the bias is not page-aligned, is non-zero for a non-PIE image,
    /// would put page 0 in use, or would move any byte past [`USER_END`]. The bias
    /// adds to the current one, so `img.with_bias(a)?.with_bias(b)` = `a + b`.
    pub fn with_bias(&self, bias: u64) -> Result<ExecImage, Errno> {
        if !bias.is_multiple_of(PAGE_SIZE) || (!self.pie && bias != 0) {
            return Err(Errno::EINVAL);
        }
        let end = self.end().checked_add(bias).ok_or(Errno::EINVAL)?;
        if end > USER_END || self.segments[0].page_start() + bias < PAGE_SIZE {
            return Err(Errno::EINVAL);
        }
        let mut img = self.clone();
        for s in &mut img.segments {
            s.vaddr += bias;
        }
        img.entry += bias;
        img.phdr = img.phdr.map(|p| p + bias);
        img.bias += bias;
        Ok(img)
    }

    /// Entry point (bias applied).
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// The loadable segments, ascending and disjoint, never empty.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Address of the program-header table in the loaded image (`AT_PHDR`), if a
    /// segment loads it.
    pub fn phdr(&self) -> Option<u64> {
        self.phdr
    }

    /// Number of program headers (`AT_PHNUM`).
    pub fn phnum(&self) -> u16 {
        self.phnum
    }

    /// Size of one program header (`AT_PHENT`, always 56).
    pub fn phentsize(&self) -> u16 {
        self.phentsize
    }

    /// True for a static PIE (`ET_DYN`), which must be given a bias.
    pub fn is_pie(&self) -> bool {
        self.pie
    }

    /// The bias applied so far.
    pub fn bias(&self) -> u64 {
        self.bias
    }

    /// True if `PT_GNU_STACK` asks for an executable stack.
    pub fn exec_stack(&self) -> bool {
        self.exec_stack
    }

    /// Lowest address of the image (first segment's start).
    pub fn start(&self) -> u64 {
        self.segments[0].vaddr
    }

    /// Highest address of the image, exclusive (end of the last segment).
    pub fn end(&self) -> u64 {
        self.segments[self.segments.len() - 1].end()
    }

    /// Where the program break starts: the end of the image rounded up to a page.
    pub fn brk_start(&self) -> u64 {
        page_up(self.end())
    }

    /// Page-aligned size of the whole image (for choosing a PIE bias).
    pub fn span(&self) -> u64 {
        page_up(self.end()) - self.segments[0].page_start()
    }
}
