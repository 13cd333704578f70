//! Multiboot1 structures as QEMU's `-kernel`/`-initrd` path provides them.
//!
//! The loader reads the information structure and the tables it points to into byte
//! slices (they live in low memory that later becomes usable RAM, so everything needed
//! is copied out first) and decodes them here.

use crate::limine::MemType;
use crate::{read_u32, read_u64};

/// Header magic in the loader image.
pub const HEADER_MAGIC: u32 = 0x1bad_b002;
/// Header flags: page-align modules (bit 0), memory information (bit 1), and the
/// a.out kludge (bit 16) so QEMU loads our 64-bit ELF as flat bytes.
pub const HEADER_FLAGS: u32 = 0x0001_0003;
/// `eax` at entry when loaded by a Multiboot1 loader.
pub const BOOTLOADER_MAGIC: u32 = 0x2bad_b002;

/// Size of the information structure fields the loader reads.
pub const INFO_SIZE: usize = 88;

/// Info flag: `mem_lower`/`mem_upper` are valid.
pub const INFO_MEMORY: u32 = 1 << 0;
/// Info flag: `cmdline` is valid.
pub const INFO_CMDLINE: u32 = 1 << 2;
/// Info flag: `mods_count`/`mods_addr` are valid.
pub const INFO_MODS: u32 = 1 << 3;
/// Info flag: `mmap_length`/`mmap_addr` are valid.
pub const INFO_MMAP: u32 = 1 << 6;

/// The fields of the information structure the loader uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Info {
    pub flags: u32,
    pub mem_lower_kib: u32,
    pub mem_upper_kib: u32,
    pub cmdline: u32,
    pub mods_count: u32,
    pub mods_addr: u32,
    pub mmap_length: u32,
    pub mmap_addr: u32,
}

impl Info {
    /// Decodes the first [`INFO_SIZE`] bytes of the information structure.
    pub fn parse(b: &[u8]) -> Option<Info> {
        Some(Info {
            flags: read_u32(b, 0)?,
            mem_lower_kib: read_u32(b, 4)?,
            mem_upper_kib: read_u32(b, 8)?,
            cmdline: read_u32(b, 16)?,
            mods_count: read_u32(b, 20)?,
            mods_addr: read_u32(b, 24)?,
            mmap_length: read_u32(b, 44)?,
            mmap_addr: read_u32(b, 48)?,
        })
    }

    /// Whether all `flags` bits are set.
    pub fn has(&self, flags: u32) -> bool {
        self.flags & flags == flags
    }
}

/// Size of one module list entry.
pub const MODULE_ENTRY_SIZE: usize = 16;

/// One module list entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Module {
    pub start: u32,
    /// Exclusive end.
    pub end: u32,
    /// Physical address of the NUL-terminated command line ("path args...").
    pub string: u32,
}

impl Module {
    /// Decodes a module list entry.
    pub fn parse(b: &[u8]) -> Option<Module> {
        Some(Module {
            start: read_u32(b, 0)?,
            end: read_u32(b, 4)?,
            string: read_u32(b, 8)?,
        })
    }
}

/// Converts an e820 type to the Limine type. Unknown types (including the type 0 that
/// qboot reports for empty slots) are treated as reserved.
pub fn e820_type(t: u32) -> MemType {
    match t {
        1 => MemType::Usable,
        3 => MemType::AcpiReclaimable,
        4 => MemType::AcpiNvs,
        5 => MemType::BadMemory,
        _ => MemType::Reserved,
    }
}

/// One memory map entry as the firmware reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmapEntry {
    pub base: u64,
    pub length: u64,
    pub kind: u32,
}

/// Iterates the size-prefixed memory map entries in `buf` (the `mmap_length` bytes at
/// `mmap_addr`). Each entry is `size u32, base u64, length u64, type u32` and the next
/// entry starts `size + 4` bytes later.
pub fn mmap_entries(buf: &[u8]) -> impl Iterator<Item = MmapEntry> + '_ {
    let mut off = 0usize;
    core::iter::from_fn(move || {
        let size = read_u32(buf, off)? as usize;
        if size < 20 {
            return None;
        }
        let e = MmapEntry {
            base: read_u64(buf, off + 4)?,
            length: read_u64(buf, off + 12)?,
            kind: read_u32(buf, off + 20)?,
        };
        off = off.checked_add(size + 4)?;
        Some(e)
    })
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_space(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_space(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Splits a module command line "path args..." into the path and the argument text
/// (whitespace around both trimmed).
pub fn split_cmdline(s: &[u8]) -> (&[u8], &[u8]) {
    let s = trim(s);
    let cut = s.iter().position(|&b| is_space(b)).unwrap_or(s.len());
    (&s[..cut], trim(&s[cut..]))
}

/// The last path component.
pub fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Writes the path real Limine reports for a file configured as `boot():/boot/<name>`:
/// "/boot/" followed by the basename, NUL-terminated. Returns the length without the
/// NUL, or `None` if `out` is too small.
pub fn limine_path(path: &[u8], out: &mut [u8]) -> Option<usize> {
    const PREFIX: &[u8] = b"/boot/";
    let name = basename(path);
    let n = PREFIX.len() + name.len();
    let dst = out.get_mut(..n + 1)?;
    dst[..PREFIX.len()].copy_from_slice(PREFIX);
    dst[PREFIX.len()..n].copy_from_slice(name);
    dst[n] = 0;
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_and_module_decoding() {
        let mut b = vec![0u8; INFO_SIZE];
        b[0..4].copy_from_slice(&(INFO_MEMORY | INFO_MODS | INFO_MMAP).to_le_bytes());
        b[4..8].copy_from_slice(&639u32.to_le_bytes());
        b[8..12].copy_from_slice(&130_048u32.to_le_bytes());
        b[20..24].copy_from_slice(&2u32.to_le_bytes());
        b[24..28].copy_from_slice(&0x9500u32.to_le_bytes());
        b[44..48].copy_from_slice(&72u32.to_le_bytes());
        b[48..52].copy_from_slice(&0x9600u32.to_le_bytes());
        let i = Info::parse(&b).unwrap();
        assert!(i.has(INFO_MODS | INFO_MMAP));
        assert!(!i.has(INFO_CMDLINE));
        assert_eq!(i.mem_lower_kib, 639);
        assert_eq!((i.mods_count, i.mods_addr), (2, 0x9500));
        assert_eq!((i.mmap_length, i.mmap_addr), (72, 0x9600));
        assert!(Info::parse(&b[..40]).is_none());

        let mut m = Vec::new();
        for v in [0x20_0000u32, 0x20_3456, 0x1_2000, 0] {
            m.extend(v.to_le_bytes());
        }
        assert_eq!(
            Module::parse(&m).unwrap(),
            Module {
                start: 0x20_0000,
                end: 0x20_3456,
                string: 0x1_2000
            }
        );
    }

    fn entry(size: u32, base: u64, len: u64, t: u32) -> Vec<u8> {
        let mut e = Vec::new();
        e.extend(size.to_le_bytes());
        e.extend(base.to_le_bytes());
        e.extend(len.to_le_bytes());
        e.extend(t.to_le_bytes());
        e.resize(size as usize + 4, 0);
        e
    }

    #[test]
    fn mmap_iteration_honours_entry_size() {
        let mut buf = entry(20, 0, 0x9fc00, 1);
        buf.extend(entry(24, 0x100000, 0x7ee0000, 1)); // larger entry (ACPI 3 attrs)
        buf.extend(entry(20, 0, 0, 0));
        buf.extend(entry(20, 0xfffc0000, 0x40000, 2));
        buf.extend([1, 2, 3]); // trailing garbage shorter than an entry
        let v: Vec<_> = mmap_entries(&buf).collect();
        assert_eq!(v.len(), 4);
        assert_eq!(
            v[1],
            MmapEntry {
                base: 0x100000,
                length: 0x7ee0000,
                kind: 1
            }
        );
        assert_eq!(v[3].kind, 2);
        assert_eq!(mmap_entries(&entry(8, 0, 0, 0)).count(), 0);
    }

    #[test]
    fn e820_types() {
        assert_eq!(e820_type(1), MemType::Usable);
        assert_eq!(e820_type(2), MemType::Reserved);
        assert_eq!(e820_type(3), MemType::AcpiReclaimable);
        assert_eq!(e820_type(4), MemType::AcpiNvs);
        assert_eq!(e820_type(5), MemType::BadMemory);
        assert_eq!(e820_type(0), MemType::Reserved);
        assert_eq!(e820_type(12), MemType::Reserved);
    }

    #[test]
    fn command_lines_and_paths() {
        assert_eq!(
            split_cmdline(b"build/kernel.elf test=futex  bench "),
            (&b"build/kernel.elf"[..], &b"test=futex  bench"[..])
        );
        assert_eq!(
            split_cmdline(b"  initramfs.tar"),
            (&b"initramfs.tar"[..], &b""[..])
        );
        assert_eq!(split_cmdline(b""), (&b""[..], &b""[..]));
        assert_eq!(basename(b"/a/b/c.tar"), b"c.tar");
        assert_eq!(basename(b"c.tar"), b"c.tar");
        assert_eq!(basename(b"dir/"), b"");
        let mut out = [0xffu8; 32];
        let n = limine_path(b"target/x86_64-unknown-none/release/weft-kernel", &mut out).unwrap();
        assert_eq!(&out[..n + 1], b"/boot/weft-kernel\0");
        assert!(limine_path(b"kernel", &mut out[..12]).is_none());
        assert!(limine_path(b"kernel", &mut out[..13]).is_some());
    }
}
