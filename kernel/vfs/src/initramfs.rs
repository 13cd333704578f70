//! Unpacking a ustar archive (the initramfs Limine module) into the tree.
//!
//! Understood: POSIX ustar headers (with the 155-byte name prefix), old-style
//! headers without magic, GNU long names and link names (`L`, `K`), pax extended
//! headers (`x`: `path`, `linkpath`, `size`, `mtime`, `uid`, `gid`), global pax
//! headers (`g`, ignored), base-256 numbers. Entries: regular files (`0`, `\0`,
//! `7`), directories (`5`, or a regular entry whose name ends with `/`), symbolic
//! links (`2`), hard links (`1`). Device nodes and FIFOs are skipped (devfs
//! provides the devices), as are unknown types. Missing parent directories are
//! created with mode 0755; later entries replace earlier ones of the same name
//! (a directory is only ever merged, never replaced). Mode, owner and mtime come
//! from the header.
//!
//! File bytes are copied into the inodes. Mapping the module's pages directly
//! (and letting `mmap` share them) is a later optimisation.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use weft_abi::Errno;
use weft_abi::time::Timespec;

use crate::inode::{FileType, Inode};
use crate::path::PATH_MAX;
use crate::vfs::Vfs;

const BLOCK: usize = 512;

/// What an unpack created.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Regular files written.
    pub files: usize,
    /// Directory entries (created or merged).
    pub dirs: usize,
    /// Symbolic links.
    pub symlinks: usize,
    /// Hard links.
    pub hardlinks: usize,
    /// Entries skipped (devices, FIFOs, unknown types).
    pub skipped: usize,
    /// File bytes copied.
    pub bytes: u64,
}

/// Why an archive could not be unpacked. Entries before the bad one have been
/// unpacked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitramfsError {
    /// Name of the entry (lossy UTF-8), or `<header at N>` when the header itself
    /// is unreadable or the name is empty.
    pub entry: String,
    /// Byte offset of the entry's header in the archive.
    pub offset: usize,
    /// What is wrong.
    pub reason: &'static str,
    /// The VFS error, when a tree operation failed.
    pub errno: Option<Errno>,
}

impl fmt::Display for InitramfsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "initramfs entry '{}' (header at byte {}): {}",
            self.entry, self.offset, self.reason
        )?;
        if let Some(e) = self.errno {
            write!(f, " ({e})")?;
        }
        Ok(())
    }
}

/// Bytes of a NUL-terminated (or full-width) header field.
fn field(h: &[u8], off: usize, len: usize) -> &[u8] {
    let f = &h[off..off + len];
    match f.iter().position(|&b| b == 0) {
        Some(n) => &f[..n],
        None => f,
    }
}

/// A numeric header field: octal digits (leading spaces, then a space or NUL
/// ends it; empty = 0) or GNU base-256 (high bit of the first byte set).
fn number(f: &[u8]) -> Option<u64> {
    if let Some(&first) = f.first()
        && first & 0x80 != 0
    {
        if first & 0x40 != 0 {
            return None; // negative
        }
        let mut v = u64::from(first & 0x3f);
        for &b in &f[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let mut i = 0;
    while i < f.len() && f[i] == b' ' {
        i += 1;
    }
    let mut v: u64 = 0;
    while i < f.len() && (b'0'..=b'7').contains(&f[i]) {
        v = v.checked_mul(8)?.checked_add(u64::from(f[i] - b'0'))?;
        i += 1;
    }
    // Only a terminator may follow the digits.
    if f[i..].iter().all(|&b| b == b' ' || b == 0) {
        Some(v)
    } else {
        None
    }
}

fn checksum_ok(h: &[u8]) -> bool {
    let Some(stored) = number(&h[148..156]) else {
        return false;
    };
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || stored as i64 == signed
}

/// Strips leading slashes and "./" so that names are relative to the root;
/// "" is the root itself.
fn normalize(mut name: &[u8]) -> &[u8] {
    loop {
        if let Some(rest) = name.strip_prefix(b"/") {
            name = rest;
        } else if let Some(rest) = name.strip_prefix(b"./") {
            name = rest;
        } else if name == b"." {
            name = b"";
        } else {
            return name;
        }
    }
}

/// Decimal number of a pax value (the integer part for times).
fn decimal(v: &[u8]) -> Option<u64> {
    let int = v.split(|&b| b == b'.').next()?;
    if int.is_empty() {
        return None;
    }
    int.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Overrides for the next entry (GNU long names, pax headers).
#[derive(Default)]
struct Pending {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
    mtime: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
}

/// Parses pax records (`"<len> <key>=<value>\n"`) into `p`.
fn parse_pax(mut data: &[u8], p: &mut Pending) -> Result<(), &'static str> {
    while !data.is_empty() {
        if data.iter().all(|&b| b == 0) {
            break;
        }
        let sp = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or("malformed pax record")?;
        let len = core::str::from_utf8(&data[..sp])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or("malformed pax record length")?;
        if len <= sp + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err("malformed pax record length");
        }
        let rec = &data[sp + 1..len - 1];
        let eq = rec
            .iter()
            .position(|&b| b == b'=')
            .ok_or("malformed pax record")?;
        if eq == 0 {
            return Err("malformed pax record");
        }
        let (key, val) = (&rec[..eq], &rec[eq + 1..]);
        let num = || decimal(val).ok_or("bad pax number");
        match key {
            b"path" => p.path = Some(val.to_vec()),
            b"linkpath" => p.linkpath = Some(val.to_vec()),
            b"size" => p.size = Some(num()?),
            b"mtime" => p.mtime = Some(num()?),
            b"uid" => p.uid = Some(num()?),
            b"gid" => p.gid = Some(num()?),
            _ => {}
        }
        data = &data[len..];
    }
    Ok(())
}

/// GNU long-name data: the name, up to the first NUL.
fn long_name(data: &[u8]) -> Result<Vec<u8>, &'static str> {
    let n = field(data, 0, data.len());
    if n.len() >= PATH_MAX {
        return Err("long name too long");
    }
    Ok(n.to_vec())
}

struct Entry<'a> {
    name: Vec<u8>,
    link: Vec<u8>,
    kind: u8,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    data: &'a [u8],
}

pub(crate) fn unpack(vfs: &Vfs, ar: &[u8]) -> Result<UnpackStats, InitramfsError> {
    let mut stats = UnpackStats::default();
    let mut pending = Pending::default();
    let mut off = 0;
    while off < ar.len() {
        let err_at = |entry: String, reason| InitramfsError {
            entry,
            offset: off,
            reason,
            errno: None,
        };
        let header_name = || alloc::format!("<header at {off}>");
        if ar.len() - off < BLOCK {
            return Err(err_at(header_name(), "truncated header"));
        }
        let h = &ar[off..off + BLOCK];
        if h.iter().all(|&b| b == 0) {
            break; // end-of-archive marker
        }
        let raw_name = field(h, 0, 100);
        let shown = |n: &[u8]| {
            if n.is_empty() {
                header_name()
            } else {
                String::from_utf8_lossy(n).into_owned()
            }
        };
        if !checksum_ok(h) {
            return Err(err_at(shown(raw_name), "bad header checksum"));
        }
        let ustar = &h[257..263] == b"ustar\0";
        let mut name = Vec::new();
        let prefix = if ustar { field(h, 345, 155) } else { b"" };
        if !prefix.is_empty() {
            name.extend_from_slice(prefix);
            name.push(b'/');
        }
        name.extend_from_slice(raw_name);
        let kind = h[156];
        let size = if matches!(kind, b'x' | b'g' | b'L' | b'K') {
            number(&h[124..136])
        } else {
            pending.size.take().or_else(|| number(&h[124..136]))
        };
        let Some(size) = size else {
            return Err(err_at(shown(&name), "bad size field"));
        };
        let start = off + BLOCK;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| start.checked_add(s))
            .filter(|&e| e <= ar.len());
        let Some(end) = end else {
            return Err(err_at(shown(&name), "data past the end of the archive"));
        };
        let data = &ar[start..end];
        let next = (end - start).div_ceil(BLOCK) * BLOCK + start;
        let next = next.min(ar.len());

        match kind {
            b'L' => {
                pending.path = Some(long_name(data).map_err(|r| err_at(shown(&name), r))?);
            }
            b'K' => {
                pending.linkpath = Some(long_name(data).map_err(|r| err_at(shown(&name), r))?);
            }
            b'x' => parse_pax(data, &mut pending).map_err(|r| err_at(shown(&name), r))?,
            b'g' => {}
            _ => {
                if let Some(p) = pending.path.take() {
                    name = p;
                }
                let link = match pending.linkpath.take() {
                    Some(l) => l,
                    None => field(h, 157, 100).to_vec(),
                };
                let num = |r: core::ops::Range<usize>| number(&h[r]).unwrap_or(0);
                let e = Entry {
                    mode: (num(100..108) & 0o7777) as u32,
                    uid: pending.uid.take().unwrap_or(num(108..116)) as u32,
                    gid: pending.gid.take().unwrap_or(num(116..124)) as u32,
                    mtime: pending
                        .mtime
                        .take()
                        .unwrap_or(num(136..148))
                        .min(i64::MAX as u64) as i64,
                    kind,
                    link,
                    data,
                    name,
                };
                add_entry(vfs, &e, &mut stats).map_err(|(reason, errno)| InitramfsError {
                    entry: shown(&e.name),
                    offset: off,
                    reason,
                    errno,
                })?;
                pending = Pending::default();
            }
        }
        off = next;
    }
    Ok(stats)
}

type EntryError = (&'static str, Option<Errno>);

fn vfs_err(reason: &'static str) -> impl Fn(Errno) -> EntryError {
    move |e| (reason, Some(e))
}

fn stamp(inode: &Inode, e: &Entry<'_>) {
    inode.set_mode(e.mode);
    inode.set_owner(Some(e.uid), Some(e.gid));
    inode.set_all_times(Timespec {
        tv_sec: e.mtime,
        tv_nsec: 0,
    });
}

/// Where a non-directory entry goes: its parent directory, its last name, and
/// what exists under that name now.
type Slot<'n> = (Arc<Inode>, &'n [u8], Option<Arc<Inode>>);

/// The [`Slot`] of a non-root entry, creating missing parent directories.
fn slot<'n>(vfs: &Vfs, root: &Arc<Inode>, rel: &'n [u8]) -> Result<Slot<'n>, EntryError> {
    let (dir_path, name) = match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&b""[..], rel),
    };
    if name.is_empty() || name == b"." || name == b".." {
        return Err(("bad entry name", Some(Errno::EINVAL)));
    }
    let dir = if dir_path.is_empty() {
        root.clone()
    } else {
        vfs.mkdir_all(root, dir_path, 0o755)
            .map_err(vfs_err("cannot create parent directory"))?
    };
    let existing = match vfs.lookup_child(&dir, name) {
        Ok(i) => Some(i),
        Err(Errno::ENOENT) => None,
        Err(e) => return Err(("cannot look up entry", Some(e))),
    };
    Ok((dir, name, existing))
}

/// Removes an existing non-directory so that a new node can take its name.
fn clear(
    vfs: &Vfs,
    dir: &Arc<Inode>,
    name: &[u8],
    existing: Option<Arc<Inode>>,
) -> Result<(), EntryError> {
    match existing {
        Some(i) if i.is_dir() => Err(("a directory is in the way", Some(Errno::EISDIR))),
        Some(_) => vfs
            .unlink(dir, name)
            .map_err(vfs_err("cannot replace entry")),
        None => Ok(()),
    }
}

fn add_entry(vfs: &Vfs, e: &Entry<'_>, stats: &mut UnpackStats) -> Result<(), EntryError> {
    let root = vfs.root();
    let is_dir = e.kind == b'5' || (matches!(e.kind, b'0' | 0) && e.name.ends_with(b"/"));
    let rel = normalize(&e.name);
    let mut trimmed = rel;
    while let Some(t) = trimmed.strip_suffix(b"/") {
        trimmed = t;
    }
    if is_dir {
        let d = if trimmed.is_empty() {
            root
        } else {
            vfs.mkdir_all(&root, trimmed, 0o755)
                .map_err(vfs_err("cannot create directory"))?
        };
        stamp(&d, e);
        stats.dirs += 1;
        return Ok(());
    }
    match e.kind {
        b'0' | 0 | b'7' => {
            let (dir, name, existing) = slot(vfs, &root, trimmed)?;
            let file = match existing {
                Some(i) if i.file_type() == FileType::Regular => i,
                other => {
                    clear(vfs, &dir, name, other)?;
                    vfs.create(&dir, name, e.mode)
                        .map_err(vfs_err("cannot create file"))?
                }
            };
            file.set_contents(e.data)
                .map_err(vfs_err("cannot store file data"))?;
            stamp(&file, e);
            stats.files += 1;
            stats.bytes += e.data.len() as u64;
        }
        b'2' => {
            let (dir, name, existing) = slot(vfs, &root, trimmed)?;
            clear(vfs, &dir, name, existing)?;
            let l = vfs
                .symlink(&e.link, &dir, name)
                .map_err(vfs_err("cannot create symbolic link"))?;
            l.set_owner(Some(e.uid), Some(e.gid));
            l.set_all_times(Timespec {
                tv_sec: e.mtime,
                tv_nsec: 0,
            });
            stats.symlinks += 1;
        }
        b'1' => {
            let target = normalize(&e.link);
            if target.is_empty() {
                return Err(("hard link to nothing", Some(Errno::ENOENT)));
            }
            let (dir, name, existing) = slot(vfs, &root, trimmed)?;
            if let Some(x) = &existing
                && vfs
                    .lookup(&root, target, false)
                    .is_ok_and(|t| Arc::ptr_eq(&t, x))
            {
                stats.hardlinks += 1;
                return Ok(());
            }
            clear(vfs, &dir, name, existing)?;
            vfs.link(&root, target, &dir, name, false)
                .map_err(vfs_err("cannot create hard link"))?;
            stats.hardlinks += 1;
        }
        _ => stats.skipped += 1,
    }
    Ok(())
}

impl InitramfsError {
    /// Shorthand used by tests and the kernel's log: `"<entry>: <reason>"`.
    pub fn summary(&self) -> String {
        let mut s = self.entry.to_owned();
        s.push_str(": ");
        s.push_str(self.reason);
        s
    }
}
