//! File and descriptor calls, on the VFS (weft-vfs).

use alloc::sync::Arc;
use alloc::vec::Vec;

use weft_abi::Errno;
use weft_abi::fcntl::{AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, O_CLOEXEC};
use weft_vfs::{File, Inode};

use super::{SysResult, copy_in, copy_out, read_cstr};
use crate::fs::vfs;
use crate::proc::uthread::me;

/// Largest single read/write moved in one go (bounded kernel buffer).
const IO_CHUNK: usize = 64 * 1024;
const PATH_MAX: usize = 4096;

fn file(fd: u64) -> Result<Arc<File>, Errno> {
    let (_, p) = me();
    p.files().get(fd as i32)
}

fn base_dir(dirfd: u64) -> Result<Arc<Inode>, Errno> {
    if dirfd as i32 == AT_FDCWD {
        return Ok(me().1.cwd());
    }
    let f = file(dirfd)?;
    let ino = f.inode().cloned().ok_or(Errno::ENOTDIR)?;
    if !ino.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    Ok(ino)
}

pub fn read(fd: u64, buf: u64, len: u64) -> SysResult {
    let f = file(fd)?;
    let len = (len as usize).min(IO_CHUNK);
    if !weft_mm::user::user_range_ok(buf, len as u64) {
        return Err(Errno::EFAULT);
    }
    let mut kbuf = alloc::vec![0u8; len];
    // A failed copy-out undoes the read (the data stays for the next read).
    let n = f.read_with(&mut kbuf, &mut |b| copy_out(buf, b))?;
    Ok(n as u64)
}

/// Linux's `MAX_RW_COUNT`: the most one read or write transfers.
const MAX_RW_COUNT: usize = 0x7fff_f000;

/// A write of `len` bytes from user `buf`, moved in [`IO_CHUNK`] pieces by
/// `put(chunk, bytes done so far)`: stops at the first short or failed piece,
/// and returns the bytes written (the error only if none were). A blocking
/// write of 1 MiB to a regular file or a pipe thus writes all of it (a pipe
/// waits for readers between pieces); only writes of at most `PIPE_BUF` bytes
/// are atomic with respect to other writers, as on Linux, and an `O_APPEND`
/// write is atomic per piece.
fn write_chunks(
    buf: u64,
    len: u64,
    mut put: impl FnMut(&[u8], usize) -> Result<usize, Errno>,
) -> SysResult {
    let len = (len as usize).min(MAX_RW_COUNT);
    let partial = |done: usize, e: Errno| if done > 0 { Ok(done as u64) } else { Err(e) };
    let mut done = 0usize;
    loop {
        let n = (len - done).min(IO_CHUNK);
        let data = match copy_in(buf.wrapping_add(done as u64), n) {
            Ok(d) => d,
            Err(e) => return partial(done, e),
        };
        match put(&data, done) {
            Ok(w) => {
                done += w;
                if w < n || done >= len {
                    return Ok(done as u64);
                }
            }
            Err(e) => return partial(done, e),
        }
    }
}

pub fn write(fd: u64, buf: u64, len: u64) -> SysResult {
    let f = file(fd)?;
    write_chunks(buf, len, |data, _| f.write(data))
}

pub fn pread(fd: u64, buf: u64, len: u64, off: u64) -> SysResult {
    let f = file(fd)?;
    let len = (len as usize).min(IO_CHUNK);
    if !weft_mm::user::user_range_ok(buf, len as u64) {
        return Err(Errno::EFAULT);
    }
    let mut kbuf = alloc::vec![0u8; len];
    let n = f.pread(&mut kbuf, off as i64)?;
    copy_out(buf, &kbuf[..n])?;
    Ok(n as u64)
}

pub fn pwrite(fd: u64, buf: u64, len: u64, off: u64) -> SysResult {
    let f = file(fd)?;
    let off = off as i64;
    write_chunks(buf, len, |data, done| {
        // A negative start is EINVAL from pwrite itself; later pieces stay
        // below i64::MAX (pwrite's EFBIG ends the loop first).
        f.pwrite(data, off.saturating_add(done as i64))
    })
}

fn iovecs(iov: u64, cnt: u64) -> Result<Vec<(u64, u64)>, Errno> {
    if cnt > 1024 {
        return Err(Errno::EINVAL);
    }
    let raw = copy_in(iov, cnt as usize * 16)?;
    let v: Vec<(u64, u64)> = raw
        .chunks_exact(16)
        .map(|c| {
            (
                u64::from_le_bytes(c[0..8].try_into().unwrap()),
                u64::from_le_bytes(c[8..16].try_into().unwrap()),
            )
        })
        .collect();
    let mut total: u64 = 0;
    for &(_, len) in &v {
        total = total
            .checked_add(len)
            .filter(|t| *t <= isize::MAX as u64)
            .ok_or(Errno::EINVAL)?;
    }
    Ok(v)
}

pub fn writev(fd: u64, iov: u64, cnt: u64) -> SysResult {
    let f = file(fd)?;
    let v = iovecs(iov, cnt)?;
    // Gather first so one writev is one write (lines from threads do not interleave).
    let mut data = Vec::new();
    for (base, len) in v {
        if data.len() + len as usize > IO_CHUNK * 4 {
            break;
        }
        data.extend_from_slice(&copy_in(base, len as usize)?);
    }
    Ok(f.write(&data)? as u64)
}

pub fn readv(fd: u64, iov: u64, cnt: u64) -> SysResult {
    let f = file(fd)?;
    let v = iovecs(iov, cnt)?;
    let mut total = 0u64;
    for (base, len) in v {
        let len = (len as usize).min(IO_CHUNK);
        if len == 0 {
            continue;
        }
        if !weft_mm::user::user_range_ok(base, len as u64) {
            return if total > 0 {
                Ok(total)
            } else {
                Err(Errno::EFAULT)
            };
        }
        let mut kbuf = alloc::vec![0u8; len];
        let n = match f.read_with(&mut kbuf, &mut |b| copy_out(base, b)) {
            Ok(n) => n,
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        };
        total += n as u64;
        if n < len {
            break;
        }
    }
    Ok(total)
}

pub fn openat(dirfd: u64, path: u64, flags: u64, mode: u64) -> SysResult {
    let path = read_cstr(path, PATH_MAX)?;
    let base = base_dir(dirfd)?;
    let flags = flags as u32;
    let f = vfs().open(&base, &path, flags, mode as u32)?;
    let (_, p) = me();
    Ok(p.files().alloc(f, flags & O_CLOEXEC != 0)? as u64)
}

pub fn close(fd: u64) -> SysResult {
    let (_, p) = me();
    p.files().close(fd as i32).map(|_| 0)
}

pub fn lseek(fd: u64, off: u64, whence: u64) -> SysResult {
    file(fd)?.lseek(off as i64, whence as u32)
}

fn put_stat(addr: u64, st: &weft_abi::stat::Stat) -> Result<(), Errno> {
    copy_out(addr, &weft_vfs::stat_bytes(st))
}

pub fn fstat(fd: u64, buf: u64) -> SysResult {
    let st = file(fd)?.stat();
    put_stat(buf, &st).map(|_| 0)
}

pub fn stat(path: u64, buf: u64, follow: bool) -> SysResult {
    let path = read_cstr(path, PATH_MAX)?;
    let st = vfs().stat(&me().1.cwd(), &path, follow)?;
    put_stat(buf, &st).map(|_| 0)
}

pub fn newfstatat(dirfd: u64, path: u64, buf: u64, flags: u64) -> SysResult {
    let flags = flags as u32;
    let path = read_cstr(path, PATH_MAX)?;
    if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        return fstat(dirfd, buf);
    }
    let base = base_dir(dirfd)?;
    let st = vfs().stat(&base, &path, flags & AT_SYMLINK_NOFOLLOW == 0)?;
    put_stat(buf, &st).map(|_| 0)
}

pub fn getdents64(fd: u64, buf: u64, len: u64) -> SysResult {
    let f = file(fd)?;
    let len = (len as usize).min(IO_CHUNK);
    let mut kbuf = alloc::vec![0u8; len];
    // A failed copy-out puts the offset back: no entry is lost.
    let n = f.getdents64_with(&mut kbuf, &mut |b| copy_out(buf, b))?;
    Ok(n as u64)
}

pub fn dup(fd: u64) -> SysResult {
    me().1.files().dup(fd as i32).map(|v| v as u64)
}

pub fn dup2(old: u64, new: u64) -> SysResult {
    me().1
        .files()
        .dup2(old as i32, new as i32)
        .map(|v| v as u64)
}

pub fn dup3(old: u64, new: u64, flags: u64) -> SysResult {
    me().1
        .files()
        .dup3(old as i32, new as i32, flags as u32)
        .map(|v| v as u64)
}

pub fn fcntl(fd: u64, cmd: u64, arg: u64) -> SysResult {
    me().1.files().fcntl(fd as i32, cmd as u32, arg)
}

pub fn pipe2(fds: u64, flags: u64) -> SysResult {
    let flags = flags as u32;
    // Both ends sleep on one queue that `poll` can register on too.
    let wq = super::poll::PollQueue::new(crate::fs::KWaitQueue::new());
    let (r, w) = weft_vfs::pipe(wq, flags)?;
    let (_, p) = me();
    let (a, b) = p.files().alloc_pair(r, w, flags & O_CLOEXEC != 0)?;
    let mut out = [0u8; 8];
    out[0..4].copy_from_slice(&a.to_le_bytes());
    out[4..8].copy_from_slice(&b.to_le_bytes());
    if let Err(e) = copy_out(fds, &out) {
        let _ = p.files().close(a);
        let _ = p.files().close(b);
        return Err(e);
    }
    Ok(0)
}

pub fn ioctl(fd: u64, cmd: u64, arg: u64) -> SysResult {
    file(fd)?.ioctl(cmd as u32, arg)
}

pub fn getcwd(buf: u64, size: u64) -> SysResult {
    let cwd = vfs().getcwd(&me().1.cwd())?;
    if (size as usize) < cwd.len() + 1 {
        return Err(Errno::ERANGE);
    }
    let mut v = cwd;
    v.push(0);
    copy_out(buf, &v)?;
    Ok(v.len() as u64)
}

pub fn mkdir(path: u64, mode: u64) -> SysResult {
    let path = read_cstr(path, PATH_MAX)?;
    vfs().mkdir(&me().1.cwd(), &path, mode as u32).map(|_| 0)
}

pub fn unlink(path: u64) -> SysResult {
    let path = read_cstr(path, PATH_MAX)?;
    vfs().unlink(&me().1.cwd(), &path).map(|_| 0)
}

pub fn rmdir(path: u64) -> SysResult {
    let path = read_cstr(path, PATH_MAX)?;
    vfs().rmdir(&me().1.cwd(), &path).map(|_| 0)
}

pub fn rename(old: u64, new: u64) -> SysResult {
    let old = read_cstr(old, PATH_MAX)?;
    let new = read_cstr(new, PATH_MAX)?;
    let cwd = me().1.cwd();
    vfs().rename(&cwd, &old, &cwd, &new).map(|_| 0)
}

pub fn chdir(path: u64) -> SysResult {
    let path = read_cstr(path, PATH_MAX)?;
    let (_, p) = me();
    let dir = vfs().lookup_dir(&p.cwd(), &path)?;
    *p.cwd.lock() = dir;
    Ok(0)
}

pub fn fchdir(fd: u64) -> SysResult {
    let f = file(fd)?;
    let dir = f.inode().cloned().ok_or(Errno::ENOTDIR)?;
    if !dir.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    *me().1.cwd.lock() = dir;
    Ok(0)
}
