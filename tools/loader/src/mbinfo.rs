//! Reads what QEMU's Multiboot1 loader hands over, copying it out of low memory.

use crate::phys;
use crate::strings::intern;
use weft_bootproto::multiboot::{
    INFO_MEMORY, INFO_MMAP, INFO_MODS, INFO_SIZE, Info, MODULE_ENTRY_SIZE, MmapEntry, Module,
    limine_path, mmap_entries, split_cmdline,
};

/// Most firmware memory map entries kept.
pub const MAX_RAW: usize = 128;
/// Most `-initrd` files (the kernel plus modules).
pub const MAX_FILES: usize = 32;

/// One `-initrd` file: the kernel ELF (first) or a module.
#[derive(Clone, Copy)]
pub struct BootFile {
    /// Physical address (page-aligned by QEMU).
    pub start: u64,
    pub size: u64,
    /// The path as given on the QEMU command line.
    pub given_path: &'static [u8],
    /// "/boot/<basename>", as real Limine reports it.
    pub limine_path: &'static [u8],
    /// Text after the path.
    pub args: &'static [u8],
}

const EMPTY_FILE: BootFile = BootFile {
    start: 0,
    size: 0,
    given_path: &[],
    limine_path: &[],
    args: &[],
};

/// Everything the loader uses from the Multiboot information.
pub struct BootInfo {
    raw: [MmapEntry; MAX_RAW],
    nraw: usize,
    files: [BootFile; MAX_FILES],
    nfiles: usize,
}

impl BootInfo {
    /// Firmware memory map entries, unsorted, as reported.
    pub fn raw_map(&self) -> &[MmapEntry] {
        &self.raw[..self.nraw]
    }

    /// The `-initrd` files in command line order.
    pub fn files(&self) -> &[BootFile] {
        &self.files[..self.nfiles]
    }
}

/// Copies the memory map, module list and module command lines out of the Multiboot
/// information at physical address `info_addr`.
pub fn read(info_addr: u32) -> BootInfo {
    let mut bi = BootInfo {
        raw: [MmapEntry {
            base: 0,
            length: 0,
            kind: 0,
        }; MAX_RAW],
        nraw: 0,
        files: [EMPTY_FILE; MAX_FILES],
        nfiles: 0,
    };
    // SAFETY: the Multiboot loader placed the structure there; nothing else runs.
    let info = Info::parse(unsafe { phys::bytes(u64::from(info_addr), INFO_SIZE as u64) })
        .unwrap_or_else(|| crate::fatal!("unreadable Multiboot information"));

    if info.has(INFO_MMAP) {
        // SAFETY: as above, for the memory map buffer it points to.
        let buf = unsafe { phys::bytes(u64::from(info.mmap_addr), u64::from(info.mmap_length)) };
        for e in mmap_entries(buf) {
            if bi.nraw == MAX_RAW {
                crate::fatal!("firmware memory map has more than {MAX_RAW} entries");
            }
            bi.raw[bi.nraw] = e;
            bi.nraw += 1;
        }
    } else if info.has(INFO_MEMORY) {
        // No e820 list: fall back to the two classic ranges.
        bi.raw[0] = MmapEntry {
            base: 0,
            length: u64::from(info.mem_lower_kib) * 1024,
            kind: 1,
        };
        bi.raw[1] = MmapEntry {
            base: 0x10_0000,
            length: u64::from(info.mem_upper_kib) * 1024,
            kind: 1,
        };
        bi.nraw = 2;
    } else {
        crate::fatal!("no memory information from the Multiboot loader");
    }

    if info.has(INFO_MODS) {
        for i in 0..info.mods_count as u64 {
            let at = u64::from(info.mods_addr) + i * MODULE_ENTRY_SIZE as u64;
            // SAFETY: module list entry written by the Multiboot loader.
            let m = Module::parse(unsafe { phys::bytes(at, MODULE_ENTRY_SIZE as u64) })
                .unwrap_or_else(|| crate::fatal!("unreadable module entry"));
            if bi.nfiles == MAX_FILES {
                crate::fatal!("more than {MAX_FILES} -initrd files");
            }
            let cmdline = if m.string == 0 {
                &[][..]
            } else {
                // SAFETY: NUL-terminated command line written by the Multiboot loader.
                unsafe { phys::cstr(u64::from(m.string), 4096) }
            };
            let (path, args) = split_cmdline(cmdline);
            let mut buf = [0u8; 512];
            let n = limine_path(path, &mut buf)
                .unwrap_or_else(|| crate::fatal!("module path too long"));
            bi.files[bi.nfiles] = BootFile {
                start: u64::from(m.start),
                size: u64::from(m.end.saturating_sub(m.start)),
                given_path: intern(path),
                limine_path: intern(&buf[..n]),
                args: intern(args),
            };
            bi.nfiles += 1;
        }
    }
    bi
}
