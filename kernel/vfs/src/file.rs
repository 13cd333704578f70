//! Open file descriptions.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, Ordering};

use spin::Mutex;
use weft_abi::Errno;
use weft_abi::fcntl::{
    O_ACCMODE, O_APPEND, O_ASYNC, O_CREAT, O_DIRECT, O_DIRECTORY, O_DSYNC, O_LARGEFILE, O_NOATIME,
    O_NOFOLLOW, O_NONBLOCK, O_PATH, O_RDONLY, O_RDWR, O_SYNC, O_TRUNC, O_WRONLY, S_IFCHR, SEEK_CUR,
    SEEK_DATA, SEEK_END, SEEK_HOLE, SEEK_SET,
};
use weft_abi::poll::{POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLRDNORM, POLLWRNORM};
use weft_abi::stat::{DIRENT64_NAME_OFFSET, Stat, dirent64_reclen};

use crate::device::{CharDevice, WOULD_BLOCK, WaitQueue};
use crate::dir::FIRST_COOKIE;
use crate::inode::{FileType, Inode, MAX_OFFSET};
use crate::path::parent_of;
use crate::pipe::PipeEnd;

/// Status flags an open file keeps (`F_GETFL` shows them with the access mode).
const KEPT_FLAGS: u32 = O_APPEND
    | O_NONBLOCK
    | O_DSYNC
    | O_SYNC
    | O_ASYNC
    | O_DIRECT
    | O_LARGEFILE
    | O_DIRECTORY
    | O_NOFOLLOW
    | O_NOATIME
    | O_PATH;

/// Status flags `F_SETFL` may change.
const SETFL_FLAGS: u32 = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;

/// Poll mask of files that are always ready (Linux's `DEFAULT_POLLMASK`).
const ALWAYS_READY: i16 = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

enum Obj {
    Regular(Arc<Inode>),
    Dir(Arc<Inode>),
    /// A device, with its inode unless it was opened without one.
    Device(Option<Arc<Inode>>, Arc<dyn CharDevice>),
    /// `O_PATH`: only a handle on the inode.
    Path(Arc<Inode>),
    Pipe(PipeEnd),
}

/// An open file description: what `open`, `pipe` and friends create, shared by
/// every descriptor `dup`ed from it (and across `fork`), so that those share the
/// offset and the status flags.
///
/// All byte buffers are kernel memory: the kernel copies from/to user memory
/// around these calls. No call holds a lock while blocking.
pub struct File {
    obj: Obj,
    flags: AtomicU32,
    /// File offset (regular files: bytes; directories: the next entry's cookie).
    pos: Mutex<u64>,
}

impl core::fmt::Debug for File {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("File")
            .field("type", &self.file_type())
            .field("flags", &format_args!("{:#o}", self.status_flags()))
            .finish()
    }
}

/// The 144 bytes of a `struct stat`, as `fstat` copies them to user memory.
pub fn stat_bytes(st: &Stat) -> [u8; 144] {
    let mut b = [0u8; 144];
    let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
    put(0, &st.st_dev.to_le_bytes());
    put(8, &st.st_ino.to_le_bytes());
    put(16, &st.st_nlink.to_le_bytes());
    put(24, &st.st_mode.to_le_bytes());
    put(28, &st.st_uid.to_le_bytes());
    put(32, &st.st_gid.to_le_bytes());
    put(40, &st.st_rdev.to_le_bytes());
    put(48, &st.st_size.to_le_bytes());
    put(56, &st.st_blksize.to_le_bytes());
    put(64, &st.st_blocks.to_le_bytes());
    put(72, &st.st_atime.to_le_bytes());
    put(80, &st.st_atime_nsec.to_le_bytes());
    put(88, &st.st_mtime.to_le_bytes());
    put(96, &st.st_mtime_nsec.to_le_bytes());
    put(104, &st.st_ctime.to_le_bytes());
    put(112, &st.st_ctime_nsec.to_le_bytes());
    b
}

impl File {
    fn new(obj: Obj, flags: u32) -> Arc<File> {
        Arc::new(File {
            obj,
            flags: AtomicU32::new((flags & (O_ACCMODE | KEPT_FLAGS)) | O_LARGEFILE),
            pos: Mutex::new(0),
        })
    }

    /// Opens an inode found by [`crate::Vfs::open`]: type checks, `O_TRUNC`, the
    /// device's `open` hook.
    pub(crate) fn open_inode(inode: Arc<Inode>, flags: u32) -> Result<Arc<File>, Errno> {
        let is_dir = inode.is_dir();
        if flags & O_DIRECTORY != 0 && !is_dir {
            return Err(Errno::ENOTDIR);
        }
        if flags & O_PATH != 0 {
            return Ok(File::new(
                Obj::Path(inode),
                O_PATH | (flags & (O_DIRECTORY | O_NOFOLLOW)),
            ));
        }
        let acc = flags & O_ACCMODE;
        let obj = match inode.file_type() {
            FileType::Symlink => return Err(Errno::ELOOP),
            FileType::Directory => {
                if acc != O_RDONLY || flags & (O_CREAT | O_TRUNC) != 0 {
                    return Err(Errno::EISDIR);
                }
                Obj::Dir(inode)
            }
            FileType::Regular => {
                if flags & O_TRUNC != 0 {
                    inode.truncate(0)?;
                }
                Obj::Regular(inode)
            }
            FileType::CharDevice => {
                let dev = inode.device().ok_or(Errno::ENXIO)?;
                dev.open(flags)?;
                Obj::Device(Some(inode), dev)
            }
            FileType::Fifo => return Err(Errno::ENXIO),
        };
        Ok(File::new(obj, flags))
    }

    /// An open file on a device without an inode (e.g. the kernel console as the
    /// first process's stdio before `/dev` exists). `flags`: access mode and
    /// status flags.
    pub fn from_device(dev: Arc<dyn CharDevice>, flags: u32) -> Arc<File> {
        File::new(Obj::Device(None, dev), flags)
    }

    pub(crate) fn from_pipe_end(end: PipeEnd, flags: u32) -> Arc<File> {
        File::new(Obj::Pipe(end), flags)
    }

    /// `F_GETFL`: access mode and status flags.
    pub fn status_flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// `F_SETFL`: changes `O_APPEND`, `O_NONBLOCK`, `O_ASYNC`, `O_DIRECT` and
    /// `O_NOATIME`; other bits of `flags` are ignored.
    pub fn set_status_flags(&self, flags: u32) {
        let _ = self
            .flags
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some((old & !SETFL_FLAGS) | (flags & SETFL_FLAGS))
            });
    }

    fn is_path(&self) -> bool {
        matches!(self.obj, Obj::Path(_))
    }

    /// Opened for reading (`O_RDONLY` or `O_RDWR`, not `O_PATH`).
    pub fn readable(&self) -> bool {
        let acc = self.status_flags() & O_ACCMODE;
        !self.is_path() && (acc == O_RDONLY || acc == O_RDWR)
    }

    /// Opened for writing (`O_WRONLY` or `O_RDWR`, not `O_PATH`).
    pub fn writable(&self) -> bool {
        let acc = self.status_flags() & O_ACCMODE;
        !self.is_path() && (acc == O_WRONLY || acc == O_RDWR)
    }

    /// `O_NONBLOCK` is set.
    pub fn nonblocking(&self) -> bool {
        self.status_flags() & O_NONBLOCK != 0
    }

    /// The inode (none for pipes and inode-less devices).
    pub fn inode(&self) -> Option<&Arc<Inode>> {
        match &self.obj {
            Obj::Regular(i) | Obj::Dir(i) | Obj::Path(i) => Some(i),
            Obj::Device(i, _) => i.as_ref(),
            Obj::Pipe(_) => None,
        }
    }

    /// What kind of file this is.
    pub fn file_type(&self) -> FileType {
        match &self.obj {
            Obj::Regular(_) => FileType::Regular,
            Obj::Dir(_) => FileType::Directory,
            Obj::Device(..) => FileType::CharDevice,
            Obj::Path(i) => i.file_type(),
            Obj::Pipe(_) => FileType::Fifo,
        }
    }

    /// The current offset.
    pub fn offset(&self) -> u64 {
        *self.pos.lock()
    }

    /// The queue a blocked operation on this file sleeps on (pipes, devices that
    /// have one), for the kernel's `poll`/`select`.
    pub fn wait_queue(&self) -> Option<Arc<dyn WaitQueue>> {
        match &self.obj {
            Obj::Pipe(p) => Some(p.pipe.wait_queue()),
            Obj::Device(_, d) => d.wait_queue(),
            _ => None,
        }
    }

    /// Runs a non-blocking device operation, waiting on the device's queue while
    /// it would block (blocking files only).
    fn device_io(
        &self,
        dev: &Arc<dyn CharDevice>,
        ready_mask: i16,
        mut op: impl FnMut() -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        loop {
            match op() {
                Err(e) if e == WOULD_BLOCK && !self.nonblocking() => {
                    let Some(q) = dev.wait_queue() else {
                        return Err(e);
                    };
                    q.wait_until(&mut || dev.poll() & (ready_mask | POLLERR | POLLHUP) != 0)?;
                }
                r => return r,
            }
        }
    }

    /// `read`: from the offset (regular files), or from the device or pipe.
    /// `EBADF` if not open for reading, `EISDIR` for a directory. A blocking
    /// pipe or device read waits for data (and may return the wait's error, e.g.
    /// `EINTR`); a non-blocking one returns `EAGAIN`.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        if !self.readable() {
            return Err(Errno::EBADF);
        }
        match &self.obj {
            Obj::Regular(i) => {
                let mut pos = self.pos.lock();
                let n = i.read_at(*pos, buf)?;
                *pos += n as u64;
                Ok(n)
            }
            Obj::Dir(_) => Err(Errno::EISDIR),
            Obj::Device(_, d) => self.device_io(d, POLLIN, || d.read(buf)),
            Obj::Pipe(p) => p.pipe.read(buf, self.nonblocking()),
            Obj::Path(_) => Err(Errno::EBADF),
        }
    }

    /// [`File::read`] with the copy to user memory inside: `copy` gets the
    /// bytes read; if it fails, the read is undone as far as it can be
    /// (regular files: the offset goes back unless another read or seek moved
    /// it meanwhile; pipes: the bytes go back to the front of the pipe) and
    /// `copy`'s error is returned. This is Linux's behaviour for a read into a
    /// bad buffer: `EFAULT`, and the data is still there for the next read.
    pub fn read_with(
        &self,
        buf: &mut [u8],
        copy: &mut dyn FnMut(&[u8]) -> Result<(), Errno>,
    ) -> Result<usize, Errno> {
        if !self.readable() {
            return Err(Errno::EBADF);
        }
        match &self.obj {
            Obj::Regular(i) => {
                let mut pos = self.pos.lock();
                let start = *pos;
                let n = i.read_at(start, buf)?;
                *pos += n as u64;
                drop(pos);
                if let Err(e) = copy(&buf[..n]) {
                    let mut pos = self.pos.lock();
                    if *pos == start + n as u64 {
                        *pos = start;
                    }
                    return Err(e);
                }
                Ok(n)
            }
            Obj::Pipe(p) => {
                let n = p.pipe.read(buf, self.nonblocking())?;
                if let Err(e) = copy(&buf[..n]) {
                    p.pipe.unread(&buf[..n]);
                    return Err(e);
                }
                Ok(n)
            }
            _ => {
                let n = self.read(buf)?;
                copy(&buf[..n])?;
                Ok(n)
            }
        }
    }

    /// `write`: at the offset, or at the end with `O_APPEND` (atomically);
    /// devices and pipes as their semantics say. `EBADF` if not open for
    /// writing, `EPIPE` on a pipe without readers (the kernel sends `SIGPIPE`).
    pub fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        if !self.writable() {
            return Err(Errno::EBADF);
        }
        match &self.obj {
            Obj::Regular(i) => {
                let mut pos = self.pos.lock();
                if self.status_flags() & O_APPEND != 0 {
                    let (at, n) = i.append(buf)?;
                    *pos = at + n as u64;
                    Ok(n)
                } else {
                    let n = i.write_at(*pos, buf)?;
                    *pos += n as u64;
                    Ok(n)
                }
            }
            Obj::Dir(_) | Obj::Path(_) => Err(Errno::EBADF),
            Obj::Device(_, d) => self.device_write_all(d, buf),
            Obj::Pipe(p) => p.pipe.write(buf, self.nonblocking()),
        }
    }

    /// Device writes: blocking files keep going until everything is taken.
    fn device_write_all(&self, d: &Arc<dyn CharDevice>, buf: &[u8]) -> Result<usize, Errno> {
        if buf.is_empty() {
            return d.write(buf);
        }
        let mut done = 0;
        while done < buf.len() {
            match self.device_io(d, POLLOUT, || d.write(&buf[done..])) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(done)
    }

    fn check_positional(&self, off: i64) -> Result<(), Errno> {
        if off < 0 {
            return Err(Errno::EINVAL);
        }
        match &self.obj {
            Obj::Pipe(_) => Err(Errno::ESPIPE),
            Obj::Device(_, d) if !d.seekable() => Err(Errno::ESPIPE),
            _ => Ok(()),
        }
    }

    /// `pread64`: at `off`, without moving the offset. `EINVAL` for a negative
    /// offset, `ESPIPE` on pipes and non-seekable devices.
    pub fn pread(&self, buf: &mut [u8], off: i64) -> Result<usize, Errno> {
        self.check_positional(off)?;
        if !self.readable() {
            return Err(Errno::EBADF);
        }
        match &self.obj {
            Obj::Regular(i) => i.read_at(off as u64, buf),
            Obj::Dir(_) => Err(Errno::EISDIR),
            Obj::Device(_, d) => self.device_io(d, POLLIN, || d.read(buf)),
            Obj::Path(_) | Obj::Pipe(_) => Err(Errno::EBADF),
        }
    }

    /// `pwrite64`: at `off`, without moving the offset (with `O_APPEND` it
    /// appends, as Linux does).
    pub fn pwrite(&self, buf: &[u8], off: i64) -> Result<usize, Errno> {
        self.check_positional(off)?;
        if !self.writable() {
            return Err(Errno::EBADF);
        }
        match &self.obj {
            Obj::Regular(i) => {
                if self.status_flags() & O_APPEND != 0 {
                    i.append(buf).map(|(_, n)| n)
                } else {
                    i.write_at(off as u64, buf)
                }
            }
            Obj::Device(_, d) => self.device_write_all(d, buf),
            _ => Err(Errno::EBADF),
        }
    }

    /// `lseek`. Regular files: `SEEK_SET`/`CUR`/`END`/`DATA`/`HOLE` (one data
    /// extent, `ENXIO` at or past the end for the last two); directories:
    /// `SEEK_SET`/`CUR` (offsets are entry cookies); seekable devices: always 0.
    /// `ESPIPE` on pipes and other devices, `EINVAL` for a bad `whence` or a
    /// negative result, `EBADF` for `O_PATH`.
    pub fn lseek(&self, off: i64, whence: u32) -> Result<u64, Errno> {
        let size = match &self.obj {
            Obj::Path(_) => return Err(Errno::EBADF),
            Obj::Pipe(_) => return Err(Errno::ESPIPE),
            Obj::Device(_, d) => {
                if !d.seekable() {
                    return Err(Errno::ESPIPE);
                }
                if whence > SEEK_END {
                    return Err(Errno::EINVAL);
                }
                *self.pos.lock() = 0;
                return Ok(0);
            }
            Obj::Regular(i) => Some(i.size()),
            Obj::Dir(_) => None,
        };
        let mut pos = self.pos.lock();
        let new = match (whence, size) {
            (SEEK_SET, _) => Some(off),
            (SEEK_CUR, _) => (*pos as i64).checked_add(off),
            (SEEK_END, Some(size)) => (size as i64).checked_add(off),
            (SEEK_DATA, Some(size)) => {
                if off < 0 || off as u64 >= size {
                    return Err(Errno::ENXIO);
                }
                Some(off)
            }
            (SEEK_HOLE, Some(size)) => {
                if off < 0 || off as u64 >= size {
                    return Err(Errno::ENXIO);
                }
                Some(size as i64)
            }
            _ => return Err(Errno::EINVAL),
        };
        match new {
            Some(n) if n >= 0 && n as u64 <= MAX_OFFSET => {
                *pos = n as u64;
                Ok(n as u64)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// `getdents64`: fills `buf` with `linux_dirent64` records from the offset
    /// on ("." and ".." first) and returns the bytes used, 0 at the end.
    /// `EINVAL` if not even one record fits, `ENOTDIR` for a non-directory,
    /// `ENOENT` for a removed directory, `EBADF` for `O_PATH`.
    pub fn getdents64(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.getdents64_with(buf, &mut |_| Ok(()))
    }

    /// [`File::getdents64`] with the copy to user memory inside: if `copy`
    /// fails, the offset goes back (unless something else moved it meanwhile),
    /// so no entry is lost, and `copy`'s error is returned.
    pub fn getdents64_with(
        &self,
        buf: &mut [u8],
        copy: &mut dyn FnMut(&[u8]) -> Result<(), Errno>,
    ) -> Result<usize, Errno> {
        let (start, end, n) = self.getdents64_inner(buf)?;
        if let Err(e) = copy(&buf[..n]) {
            let mut pos = self.pos.lock();
            if *pos == end {
                *pos = start;
            }
            return Err(e);
        }
        Ok(n)
    }

    /// Fills `buf`; returns (old offset, new offset, bytes used).
    fn getdents64_inner(&self, buf: &mut [u8]) -> Result<(u64, u64, usize), Errno> {
        let inode = match &self.obj {
            Obj::Dir(i) => i,
            Obj::Path(_) => return Err(Errno::EBADF),
            _ => return Err(Errno::ENOTDIR),
        };
        let dir = inode.dir().ok_or(Errno::ENOTDIR)?;
        let mut pos = self.pos.lock();
        // ".." needs the parent, whose lookup takes a leaf lock: do it first.
        let parent_ino = parent_of(inode).map(|p| p.ino()).unwrap_or(inode.ino());
        let entries = dir.entries.read();
        if entries.dead {
            return Err(Errno::ENOENT);
        }
        let mut w = DirentWriter { buf, used: 0 };
        let mut cookie = *pos;
        let mut full = false;
        let dt_dir = FileType::Directory.dirent_type();
        if cookie == 0 {
            if w.push(inode.ino(), 1, dt_dir, b".") {
                cookie = 1;
            } else {
                full = true;
            }
        }
        if !full && cookie == 1 {
            if w.push(parent_ino, FIRST_COOKIE, dt_dir, b"..") {
                cookie = FIRST_COOKIE;
            } else {
                full = true;
            }
        }
        if !full {
            for (c, name, child) in entries.starting_at(cookie) {
                if !w.push(child.ino(), c + 1, child.file_type().dirent_type(), name) {
                    full = true;
                    break;
                }
                cookie = c + 1;
            }
        }
        drop(entries);
        if full && w.used == 0 {
            return Err(Errno::EINVAL);
        }
        let start = *pos;
        *pos = cookie;
        Ok((start, cookie, w.used))
    }

    /// `fstat`.
    pub fn stat(&self) -> Stat {
        match &self.obj {
            Obj::Regular(i) | Obj::Dir(i) | Obj::Path(i) | Obj::Device(Some(i), _) => i.stat(),
            Obj::Device(None, _) => Stat {
                st_mode: S_IFCHR | 0o600,
                st_nlink: 1,
                st_blksize: 4096,
                ..Stat::default()
            },
            Obj::Pipe(p) => p.pipe.stat(),
        }
    }

    /// `ftruncate`: `EINVAL` for a negative length, a file not open for writing
    /// or a non-regular file; `EBADF` for `O_PATH`.
    pub fn truncate(&self, len: i64) -> Result<(), Errno> {
        if len < 0 {
            return Err(Errno::EINVAL);
        }
        match &self.obj {
            Obj::Path(_) => Err(Errno::EBADF),
            Obj::Regular(i) if self.writable() => i.truncate(len as u64),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Readiness as `POLL*` bits. Regular files and directories are always
    /// ready; `O_PATH` files give `POLLNVAL`.
    pub fn poll(&self) -> i16 {
        match &self.obj {
            Obj::Regular(_) | Obj::Dir(_) => ALWAYS_READY,
            Obj::Path(_) => POLLNVAL,
            Obj::Device(_, d) => d.poll(),
            Obj::Pipe(p) => p.pipe.poll(p.writer),
        }
    }

    /// `ioctl`: passed to devices; `ENOTTY` for other files, `EBADF` for
    /// `O_PATH`. (The generic requests — `FIONBIO`, `FIOCLEX`, `FIONREAD` — are
    /// the kernel's: see [`File::bytes_available`].)
    pub fn ioctl(&self, cmd: u32, arg: u64) -> Result<u64, Errno> {
        match &self.obj {
            Obj::Device(_, d) => d.ioctl(cmd, arg),
            Obj::Path(_) => Err(Errno::EBADF),
            _ => Err(Errno::ENOTTY),
        }
    }

    /// Bytes that a read could return now (`FIONREAD`): buffered pipe bytes, or
    /// what is left after the offset of a regular file. `None` for others.
    pub fn bytes_available(&self) -> Option<usize> {
        match &self.obj {
            Obj::Pipe(p) if !p.writer => Some(p.pipe.available()),
            Obj::Regular(i) => Some(i.size().saturating_sub(self.offset()) as usize),
            _ => None,
        }
    }

    /// `F_GETPIPE_SZ` (`EBADF` for a non-pipe).
    pub fn pipe_capacity(&self) -> Result<usize, Errno> {
        match &self.obj {
            Obj::Pipe(p) => Ok(p.pipe.capacity()),
            _ => Err(Errno::EBADF),
        }
    }

    /// `F_SETPIPE_SZ`: returns the capacity set (`EBADF` for a non-pipe).
    pub fn set_pipe_capacity(&self, size: u64) -> Result<usize, Errno> {
        match &self.obj {
            Obj::Pipe(p) => p.pipe.set_capacity(size),
            _ => Err(Errno::EBADF),
        }
    }
}

/// Appends `linux_dirent64` records to a buffer.
struct DirentWriter<'a> {
    buf: &'a mut [u8],
    used: usize,
}

impl DirentWriter<'_> {
    /// Adds a record (`next`: the cookie to resume after it); false if it does
    /// not fit.
    fn push(&mut self, ino: u64, next: u64, dtype: u8, name: &[u8]) -> bool {
        let reclen = dirent64_reclen(name.len());
        if self.buf.len() - self.used < reclen {
            return false;
        }
        let rec = &mut self.buf[self.used..self.used + reclen];
        rec[0..8].copy_from_slice(&ino.to_le_bytes());
        rec[8..16].copy_from_slice(&(next as i64).to_le_bytes());
        rec[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
        rec[18] = dtype;
        rec[DIRENT64_NAME_OFFSET..DIRENT64_NAME_OFFSET + name.len()].copy_from_slice(name);
        rec[DIRENT64_NAME_OFFSET + name.len()..].fill(0);
        self.used += reclen;
        true
    }
}
