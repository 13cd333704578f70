//! Inodes of the ramfs: directories, regular files, symbolic links and character
//! devices.

use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::{Mutex, RwLock};
use weft_abi::Errno;
use weft_abi::fcntl::{S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG};
use weft_abi::stat::Stat;
use weft_abi::time::Timespec;

use crate::device::CharDevice;
use crate::dir::Dir;
use crate::time::now;

/// Size `st_size` gives per directory entry (as tmpfs does).
const DIRENT_BOGO_SIZE: i64 = 20;

/// Largest file offset `lseek` accepts: offsets are `off_t` (i64). Reads past
/// the end of a file return 0, so a far offset needs no memory.
pub(crate) const MAX_OFFSET: u64 = i64::MAX as u64;

/// Largest regular file of the ramfs (its `s_maxbytes`): 32 MiB. File data is
/// one contiguous kernel allocation, so a size is bounded here before it ever
/// reaches the allocator. A write or `pwrite` starting at or past the limit
/// fails with `EFBIG`; one that crosses it is cut short at the limit (as Linux
/// does at a file system's maximum size); `truncate` past it is `EFBIG`.
pub const MAX_FILE_SIZE: u64 = 32 << 20;

/// The kind of an inode (the `S_IFMT` part of its mode).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    /// Directory.
    Directory,
    /// Regular file.
    Regular,
    /// Symbolic link.
    Symlink,
    /// Character device.
    CharDevice,
    /// FIFO (anonymous pipes report this in `fstat`).
    Fifo,
}

impl FileType {
    /// The `S_IF*` bits.
    pub const fn mode_bits(self) -> u32 {
        match self {
            FileType::Directory => S_IFDIR,
            FileType::Regular => S_IFREG,
            FileType::Symlink => S_IFLNK,
            FileType::CharDevice => S_IFCHR,
            FileType::Fifo => S_IFIFO,
        }
    }

    /// The `DT_*` value of `linux_dirent64`.
    pub const fn dirent_type(self) -> u8 {
        weft_abi::fcntl::dt_from_mode(self.mode_bits())
    }

    /// The type of an `st_mode`, if it is one of these.
    pub const fn from_mode(mode: u32) -> Option<FileType> {
        match mode & S_IFMT {
            S_IFDIR => Some(FileType::Directory),
            S_IFREG => Some(FileType::Regular),
            S_IFLNK => Some(FileType::Symlink),
            S_IFCHR => Some(FileType::CharDevice),
            S_IFIFO => Some(FileType::Fifo),
            _ => None,
        }
    }
}

#[derive(Copy, Clone, Debug)]
pub(crate) struct Meta {
    /// Permission bits only (`0o7777`).
    pub(crate) perm: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) nlink: u64,
    pub(crate) atime: Timespec,
    pub(crate) mtime: Timespec,
    pub(crate) ctime: Timespec,
}

pub(crate) enum Body {
    Dir(Dir),
    Regular(RwLock<Vec<u8>>),
    Symlink(Vec<u8>),
    CharDevice { rdev: u64, dev: Arc<dyn CharDevice> },
}

/// An inode of the ramfs.
pub struct Inode {
    ino: u64,
    dev: u64,
    meta: Mutex<Meta>,
    pub(crate) body: Body,
}

impl core::fmt::Debug for Inode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Inode")
            .field("ino", &self.ino)
            .field("type", &self.file_type())
            .field("mode", &format_args!("{:o}", self.mode()))
            .finish()
    }
}

impl Inode {
    pub(crate) fn new(ino: u64, dev: u64, perm: u32, body: Body) -> Arc<Inode> {
        let t = now();
        let nlink = match body {
            Body::Dir(_) => 2,
            _ => 1,
        };
        Arc::new(Inode {
            ino,
            dev,
            meta: Mutex::new(Meta {
                perm: perm & 0o7777,
                uid: 0,
                gid: 0,
                nlink,
                atime: t,
                mtime: t,
                ctime: t,
            }),
            body,
        })
    }

    /// Inode number (unique within its [`crate::Vfs`]).
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// The kind of inode.
    pub fn file_type(&self) -> FileType {
        match self.body {
            Body::Dir(_) => FileType::Directory,
            Body::Regular(_) => FileType::Regular,
            Body::Symlink(_) => FileType::Symlink,
            Body::CharDevice { .. } => FileType::CharDevice,
        }
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir(_))
    }

    /// Full `st_mode`: type and permission bits.
    pub fn mode(&self) -> u32 {
        self.file_type().mode_bits() | self.meta.lock().perm
    }

    /// Changes the permission bits (`chmod`; the type bits of `mode` are ignored).
    pub fn set_mode(&self, mode: u32) {
        let mut m = self.meta.lock();
        m.perm = mode & 0o7777;
        m.ctime = now();
    }

    /// Owner and group.
    pub fn owner(&self) -> (u32, u32) {
        let m = self.meta.lock();
        (m.uid, m.gid)
    }

    /// Changes owner and/or group (`chown`; `None` keeps the value).
    pub fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) {
        let mut m = self.meta.lock();
        if let Some(u) = uid {
            m.uid = u;
        }
        if let Some(g) = gid {
            m.gid = g;
        }
        m.ctime = now();
    }

    /// Sets access and/or modification time (`utimensat`; `None` keeps it).
    pub fn set_times(&self, atime: Option<Timespec>, mtime: Option<Timespec>) {
        let mut m = self.meta.lock();
        if let Some(a) = atime {
            m.atime = a;
        }
        if let Some(t) = mtime {
            m.mtime = t;
        }
        m.ctime = now();
    }

    /// Sets all three timestamps (initramfs unpacking).
    pub(crate) fn set_all_times(&self, t: Timespec) {
        let mut m = self.meta.lock();
        m.atime = t;
        m.mtime = t;
        m.ctime = t;
    }

    /// Number of hard links (directories: 2 + subdirectories; 0 once removed).
    pub fn nlink(&self) -> u64 {
        self.meta.lock().nlink
    }

    pub(crate) fn nlink_add(&self, delta: i64) {
        let mut m = self.meta.lock();
        m.nlink = m.nlink.saturating_add_signed(delta);
        m.ctime = now();
    }

    pub(crate) fn set_nlink(&self, n: u64) {
        let mut m = self.meta.lock();
        m.nlink = n;
        m.ctime = now();
    }

    /// Marks a content change: mtime and ctime = now.
    pub(crate) fn touch(&self) {
        let t = now();
        let mut m = self.meta.lock();
        m.mtime = t;
        m.ctime = t;
    }

    /// Size in bytes (`st_size`): file length, link target length, or a nominal
    /// size for directories.
    pub fn size(&self) -> u64 {
        match &self.body {
            Body::Dir(d) => (d.entries.read().len() as u64 + 2) * DIRENT_BOGO_SIZE as u64,
            Body::Regular(data) => data.read().len() as u64,
            Body::Symlink(t) => t.len() as u64,
            Body::CharDevice { .. } => 0,
        }
    }

    /// Device number of a character device (`st_rdev`), else 0.
    pub fn rdev(&self) -> u64 {
        match &self.body {
            Body::CharDevice { rdev, .. } => *rdev,
            _ => 0,
        }
    }

    /// The device behind a character device inode.
    pub fn device(&self) -> Option<Arc<dyn CharDevice>> {
        match &self.body {
            Body::CharDevice { dev, .. } => Some(dev.clone()),
            _ => None,
        }
    }

    /// Target of a symbolic link.
    pub fn read_link(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Symlink(t) => Some(t),
            _ => None,
        }
    }

    pub(crate) fn dir(&self) -> Option<&Dir> {
        match &self.body {
            Body::Dir(d) => Some(d),
            _ => None,
        }
    }

    /// `struct stat` of this inode.
    pub fn stat(&self) -> Stat {
        let size = self.size();
        let m = *self.meta.lock();
        Stat {
            st_dev: self.dev,
            st_ino: self.ino,
            st_nlink: m.nlink,
            st_mode: self.file_type().mode_bits() | m.perm,
            st_uid: m.uid,
            st_gid: m.gid,
            st_rdev: self.rdev(),
            st_size: size as i64,
            st_blksize: 4096,
            st_blocks: match self.body {
                Body::Regular(_) => size.div_ceil(512) as i64,
                _ => 0,
            },
            st_atime: m.atime.tv_sec,
            st_atime_nsec: m.atime.tv_nsec,
            st_mtime: m.mtime.tv_sec,
            st_mtime_nsec: m.mtime.tv_nsec,
            st_ctime: m.ctime.tv_sec,
            st_ctime_nsec: m.ctime.tv_nsec,
            ..Stat::default()
        }
    }

    fn data(&self) -> Result<&RwLock<Vec<u8>>, Errno> {
        match &self.body {
            Body::Regular(d) => Ok(d),
            Body::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Reads file bytes at `off`; `Ok(0)` at or past the end. `EISDIR` for a
    /// directory, `EINVAL` for other non-regular inodes.
    pub fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let data = self.data()?.read();
        let len = data.len() as u64;
        if off >= len {
            return Ok(0);
        }
        let start = off as usize;
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    /// Writes file bytes at `off`, zero-filling any gap past the old end. `EFBIG`
    /// at or past [`MAX_FILE_SIZE`] (a write crossing it is cut short there),
    /// `ENOSPC` when memory runs out.
    pub fn write_at(&self, off: u64, buf: &[u8]) -> Result<usize, Errno> {
        let mut data = self.data()?.write();
        let n = write_locked(&mut data, off, buf)?;
        drop(data);
        if n > 0 {
            self.touch();
        }
        Ok(n)
    }

    /// Appends at the end of the file, atomically; returns (offset written at,
    /// bytes written).
    pub(crate) fn append(&self, buf: &[u8]) -> Result<(u64, usize), Errno> {
        let mut data = self.data()?.write();
        let off = data.len() as u64;
        let n = write_locked(&mut data, off, buf)?;
        drop(data);
        if n > 0 {
            self.touch();
        }
        Ok((off, n))
    }

    /// Sets the file length (`truncate`): cuts, or extends with zeros.
    pub fn truncate(&self, len: u64) -> Result<(), Errno> {
        if len > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let mut data = self.data()?.write();
        resize(&mut data, len as usize)?;
        if len < data.capacity() as u64 / 2 {
            data.shrink_to_fit();
        }
        drop(data);
        self.touch();
        Ok(())
    }

    /// Runs `f` on the file's bytes under the data read lock (for `execve`:
    /// parse and copy segments without duplicating the file). `f` must not block.
    pub fn with_contents<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R, Errno> {
        let data = self.data()?.read();
        Ok(f(&data))
    }

    /// A copy of the file's bytes.
    pub fn contents(&self) -> Result<Vec<u8>, Errno> {
        self.with_contents(|d| d.to_vec())
    }

    /// Replaces the file's bytes (initramfs unpacking; not bound by
    /// [`MAX_FILE_SIZE`]: the bytes are already in memory).
    pub(crate) fn set_contents(&self, bytes: &[u8]) -> Result<(), Errno> {
        let mut data = self.data()?.write();
        let mut v = Vec::new();
        v.try_reserve_exact(bytes.len())
            .map_err(|_| Errno::ENOSPC)?;
        v.extend_from_slice(bytes);
        *data = v;
        Ok(())
    }
}

fn resize(data: &mut Vec<u8>, len: usize) -> Result<(), Errno> {
    if len as u64 > MAX_FILE_SIZE {
        return Err(Errno::EFBIG);
    }
    if len > data.len() {
        data.try_reserve(len - data.len())
            .map_err(|_| Errno::ENOSPC)?;
    }
    data.resize(len, 0);
    Ok(())
}

fn write_locked(data: &mut Vec<u8>, off: u64, buf: &[u8]) -> Result<usize, Errno> {
    if buf.is_empty() {
        return Ok(0);
    }
    if off >= MAX_FILE_SIZE {
        return Err(Errno::EFBIG);
    }
    // Both below MAX_FILE_SIZE (32 MiB) now: no overflow, and usize holds them.
    let n = (buf.len() as u64).min(MAX_FILE_SIZE - off) as usize;
    let start = off as usize;
    let end = start + n;
    if end > data.len() {
        resize(data, end)?;
    }
    data[start..end].copy_from_slice(&buf[..n]);
    Ok(n)
}
