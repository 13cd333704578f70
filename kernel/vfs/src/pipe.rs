//! Anonymous pipes: a bounded ring buffer shared by a read end and a write end.
//!
//! Semantics (Linux): a read returns what is buffered (at most the request), waits
//! while the pipe is empty and a writer exists, and returns 0 (EOF) when it is
//! empty and no writer is left. A write with no reader left fails with `EPIPE`
//! (the kernel then sends `SIGPIPE`); a blocking write returns only when all bytes
//! are in; writes of at most [`PIPE_BUF`] bytes are never interleaved with other
//! writes. Non-blocking ends return [`crate::WOULD_BLOCK`] instead of waiting (and
//! a non-blocking write of at most `PIPE_BUF` bytes is all or nothing).
//!
//! Reader and writer counts are per open file description: `dup` and `fork` share
//! the [`File`], and the count drops when its last reference goes.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;
use weft_abi::Errno;
use weft_abi::fcntl::{O_CLOEXEC, O_NONBLOCK, O_RDONLY, O_WRONLY, S_IFIFO};
use weft_abi::poll::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use weft_abi::stat::Stat;
use weft_abi::time::Timespec;

use crate::device::{WOULD_BLOCK, WaitQueue, makedev};
use crate::file::File;
use crate::time::now;

/// Writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;

/// Capacity of a new pipe (16 pages, as Linux).
pub const PIPE_DEFAULT_CAPACITY: usize = 65536;

/// Largest capacity `F_SETPIPE_SZ` accepts (Linux's default `pipe-max-size`).
pub const PIPE_MAX_CAPACITY: usize = 1 << 20;

/// `st_dev` of pipes (an anonymous pseudo file system).
const PIPEFS_DEV: u64 = makedev(0, 12);

static NEXT_PIPE_INO: AtomicU64 = AtomicU64::new(1);

struct Ring {
    /// Storage; allocated on the first write.
    buf: Vec<u8>,
    cap: usize,
    head: usize,
    len: usize,
    readers: usize,
    writers: usize,
}

impl Ring {
    fn space(&self) -> usize {
        self.cap - self.len
    }

    fn push(&mut self, data: &[u8]) -> Result<usize, Errno> {
        if self.buf.len() < self.cap {
            debug_assert_eq!(self.len, 0);
            let mut v = Vec::new();
            v.try_reserve_exact(self.cap).map_err(|_| Errno::ENOMEM)?;
            v.resize(self.cap, 0);
            self.buf = v;
            self.head = 0;
        }
        let n = data.len().min(self.space());
        let tail = (self.head + self.len) % self.cap;
        let first = n.min(self.cap - tail);
        self.buf[tail..tail + first].copy_from_slice(&data[..first]);
        self.buf[..n - first].copy_from_slice(&data[first..n]);
        self.len += n;
        Ok(n)
    }

    fn pop(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        let first = n.min(self.cap - self.head);
        out[..first].copy_from_slice(&self.buf[self.head..self.head + first]);
        out[first..n].copy_from_slice(&self.buf[..n - first]);
        self.head = (self.head + n) % self.cap;
        self.len -= n;
        if self.len == 0 {
            self.head = 0;
        }
        n
    }
}

/// The shared part of a pipe.
pub(crate) struct Pipe {
    ring: Mutex<Ring>,
    wq: Arc<dyn WaitQueue>,
    ino: u64,
    ctime: Timespec,
}

/// One end of a pipe, owned by its [`File`]; dropping it drops the reader or
/// writer count and wakes the other side.
pub(crate) struct PipeEnd {
    pub(crate) pipe: Arc<Pipe>,
    pub(crate) writer: bool,
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut r = self.pipe.ring.lock();
        if self.writer {
            r.writers -= 1;
        } else {
            r.readers -= 1;
        }
        drop(r);
        self.pipe.wq.wake_all();
    }
}

/// `pipe2`: a new pipe as (read end, write end). `wq` is the wait queue both ends
/// sleep on. `flags` may hold `O_NONBLOCK` (given to both ends) and `O_CLOEXEC`
/// (which the caller applies to the descriptors); anything else (`O_DIRECT`
/// packet mode included) gives `EINVAL`.
pub fn pipe(wq: Arc<dyn WaitQueue>, flags: u32) -> Result<(Arc<File>, Arc<File>), Errno> {
    if flags & !(O_NONBLOCK | O_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let p = Arc::new(Pipe {
        ring: Mutex::new(Ring {
            buf: Vec::new(),
            cap: PIPE_DEFAULT_CAPACITY,
            head: 0,
            len: 0,
            readers: 1,
            writers: 1,
        }),
        wq,
        ino: NEXT_PIPE_INO.fetch_add(1, Ordering::Relaxed),
        ctime: now(),
    });
    let nb = flags & O_NONBLOCK;
    let r = File::from_pipe_end(
        PipeEnd {
            pipe: p.clone(),
            writer: false,
        },
        O_RDONLY | nb,
    );
    let w = File::from_pipe_end(
        PipeEnd {
            pipe: p,
            writer: true,
        },
        O_WRONLY | nb,
    );
    Ok((r, w))
}

impl Pipe {
    pub(crate) fn wait_queue(&self) -> Arc<dyn WaitQueue> {
        self.wq.clone()
    }

    pub(crate) fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let mut r = self.ring.lock();
            if r.len > 0 {
                let n = r.pop(buf);
                drop(r);
                self.wq.wake_all();
                return Ok(n);
            }
            if r.writers == 0 {
                return Ok(0);
            }
            drop(r);
            if nonblock {
                return Err(WOULD_BLOCK);
            }
            self.wq.wait_until(&mut || {
                let r = self.ring.lock();
                r.len > 0 || r.writers == 0
            })?;
        }
    }

    pub(crate) fn write(&self, buf: &[u8], nonblock: bool) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        let atomic = buf.len() <= PIPE_BUF;
        let mut done = 0;
        let partial = |done: usize, e: Errno| if done > 0 { Ok(done) } else { Err(e) };
        loop {
            let mut r = self.ring.lock();
            if r.readers == 0 {
                return partial(done, Errno::EPIPE);
            }
            let rest = &buf[done..];
            let space = r.space();
            if space > 0 && (!atomic || space >= rest.len()) {
                let pushed = r.push(rest);
                drop(r);
                let n = match pushed {
                    Ok(n) => n,
                    Err(e) => return partial(done, e),
                };
                self.wq.wake_all();
                done += n;
                if done == buf.len() {
                    return Ok(done);
                }
                continue;
            }
            drop(r);
            if nonblock {
                return partial(done, WOULD_BLOCK);
            }
            let need = if atomic { rest.len() } else { 1 };
            if let Err(e) = self.wq.wait_until(&mut || {
                let r = self.ring.lock();
                r.readers == 0 || r.space() >= need
            }) {
                return partial(done, e);
            }
        }
    }

    /// Puts bytes a read took back at the front (the read's copy to user memory
    /// failed: Linux leaves such bytes in the pipe). False if a writer has
    /// filled the room meanwhile (the bytes are then lost).
    pub(crate) fn unread(&self, data: &[u8]) -> bool {
        if data.is_empty() {
            return true;
        }
        let mut r = self.ring.lock();
        if r.space() < data.len() {
            return false;
        }
        if r.buf.len() < r.cap {
            // Storage dropped by F_SETPIPE_SZ on an empty pipe.
            let mut v = Vec::new();
            if r.len != 0 || v.try_reserve_exact(r.cap).is_err() {
                return false;
            }
            v.resize(r.cap, 0);
            r.buf = v;
            r.head = 0;
        }
        let n = data.len();
        let cap = r.cap;
        let head = (r.head + cap - n) % cap;
        let first = n.min(cap - head);
        r.buf[head..head + first].copy_from_slice(&data[..first]);
        r.buf[..n - first].copy_from_slice(&data[first..]);
        r.head = head;
        r.len += n;
        drop(r);
        self.wq.wake_all();
        true
    }

    pub(crate) fn poll(&self, writer: bool) -> i16 {
        let r = self.ring.lock();
        let mut ev = 0;
        if writer {
            if r.space() > 0 {
                ev |= POLLOUT | POLLWRNORM;
            }
            if r.readers == 0 {
                ev |= POLLERR;
            }
        } else {
            if r.len > 0 {
                ev |= POLLIN | POLLRDNORM;
            }
            if r.writers == 0 {
                ev |= POLLHUP;
            }
        }
        ev
    }

    /// Bytes buffered (`FIONREAD`).
    pub(crate) fn available(&self) -> usize {
        self.ring.lock().len
    }

    pub(crate) fn capacity(&self) -> usize {
        self.ring.lock().cap
    }

    /// `F_SETPIPE_SZ`: rounds up to a power-of-two number of pages (at least
    /// one); `EPERM` above [`PIPE_MAX_CAPACITY`], `EBUSY` if the buffered bytes
    /// would not fit. Returns the new capacity.
    pub(crate) fn set_capacity(&self, want: u64) -> Result<usize, Errno> {
        if want > PIPE_MAX_CAPACITY as u64 {
            return Err(Errno::EPERM);
        }
        let cap = (want as usize).max(4096).next_power_of_two();
        let mut r = self.ring.lock();
        if r.len > cap {
            return Err(Errno::EBUSY);
        }
        if cap != r.cap {
            let mut data = Vec::new();
            if r.len > 0 {
                data.try_reserve_exact(cap).map_err(|_| Errno::ENOMEM)?;
                data.resize(cap, 0);
                let len = r.len;
                r.pop(&mut data[..len]);
                r.len = len;
            }
            r.buf = data;
            r.head = 0;
            r.cap = cap;
        }
        let cap = r.cap;
        drop(r);
        // More room may unblock writers.
        self.wq.wake_all();
        Ok(cap)
    }

    pub(crate) fn stat(&self) -> Stat {
        Stat {
            st_dev: PIPEFS_DEV,
            st_ino: self.ino,
            st_nlink: 1,
            st_mode: S_IFIFO | 0o600,
            st_blksize: 4096,
            st_atime: self.ctime.tv_sec,
            st_atime_nsec: self.ctime.tv_nsec,
            st_mtime: self.ctime.tv_sec,
            st_mtime_nsec: self.ctime.tv_nsec,
            st_ctime: self.ctime.tv_sec,
            st_ctime_nsec: self.ctime.tv_nsec,
            ..Stat::default()
        }
    }
}
