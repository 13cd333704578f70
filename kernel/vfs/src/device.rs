//! What the kernel plugs in: wait queues and character devices.

use alloc::sync::Arc;

use weft_abi::Errno;
use weft_abi::poll::{POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};

/// The error a non-blocking attempt returns when it would have to wait (`EAGAIN`).
pub const WOULD_BLOCK: Errno = Errno::EAGAIN;

/// A queue threads sleep on until a condition holds; implemented by the kernel on
/// top of its scheduler's wait queues.
///
/// The VFS uses one per pipe (and devices may offer one). A blocking operation
/// that cannot proceed calls [`WaitQueue::wait_until`] with a readiness check and
/// retries when it returns `Ok`; whoever changes the state calls
/// [`WaitQueue::wake_all`] afterwards. Neither is called with a VFS lock held.
///
/// A kernel implementation follows its no-lost-wakeup protocol:
///
/// ```text
/// fn wait_until(&self, ready) {
///     loop {
///         self.queue.prepare_to_wait(current);   // visible to wakers first
///         if ready() { break Ok(()) }              // then re-check
///         if signal_pending() { break Err(ERESTARTSYS or EINTR) }
///         schedule(Sleep);
///     }
///     self.queue.finish_wait(current);
/// }
/// ```
///
/// `ready` takes short spin locks of the VFS (never sleeps); it may be called any
/// number of times.
pub trait WaitQueue: Send + Sync {
    /// Blocks the calling thread until `ready()` returns true (checked before the
    /// first sleep and after every wakeup). `Err` (typically `EINTR` or
    /// `ERESTARTSYS`) when the wait is interrupted; the VFS passes it on.
    fn wait_until(&self, ready: &mut dyn FnMut() -> bool) -> Result<(), Errno>;

    /// Wakes every thread sleeping in [`WaitQueue::wait_until`] so that it
    /// re-checks its condition, and every [`PollWaker`] registered on the queue.
    fn wake_all(&self);

    /// Registers `w` (the kernel's `poll`, sleeping on several queues at once):
    /// every later [`WaitQueue::wake_all`] calls [`PollWaker::wake`] until
    /// [`WaitQueue::poll_unregister`]. Returns false if this queue cannot do it
    /// (the default); the poller then has to re-check on its own.
    fn poll_register(&self, w: &Arc<dyn PollWaker>) -> bool {
        let _ = w;
        false
    }

    /// Undoes [`WaitQueue::poll_register`]; once it returns, `w` is not called by
    /// this queue any more.
    fn poll_unregister(&self, w: &Arc<dyn PollWaker>) {
        let _ = w;
    }
}

/// A sleeper registered on wait queues through [`WaitQueue::poll_register`].
pub trait PollWaker: Send + Sync {
    /// Called by `wake_all` of a queue `self` is registered on (also from
    /// interrupt context, with the queue's registration lock held): must not
    /// block or take VFS locks.
    fn wake(&self);
}

/// A character device, implemented by the kernel (console) or by this crate
/// ([`NullDevice`], [`ZeroDevice`]).
///
/// `read` and `write` never sleep: when they would have to, they return
/// [`WOULD_BLOCK`]. For a blocking file the VFS then waits on
/// [`CharDevice::wait_queue`] until [`CharDevice::poll`] reports readiness and
/// retries; without a wait queue the caller gets `EAGAIN`. The device must call
/// `wake_all` on its queue when it becomes readable or writable (for the console:
/// from the input path, after releasing its own locks).
pub trait CharDevice: Send + Sync {
    /// Called when the device is opened (`flags` are the `open` flags). An error
    /// fails the `open`.
    fn open(&self, flags: u32) -> Result<(), Errno> {
        let _ = flags;
        Ok(())
    }

    /// Reads up to `buf.len()` bytes; `Ok(0)` is end of file.
    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno>;

    /// Writes up to `buf.len()` bytes, returning how many were taken.
    fn write(&self, buf: &[u8]) -> Result<usize, Errno>;

    /// Current readiness as `POLL*` bits (`weft_abi::poll`).
    fn poll(&self) -> i16 {
        POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM
    }

    /// A device-specific `ioctl`. The device does its own user-memory copies for
    /// `arg`. Default: `ENOTTY`.
    fn ioctl(&self, cmd: u32, arg: u64) -> Result<u64, Errno> {
        let _ = (cmd, arg);
        Err(Errno::ENOTTY)
    }

    /// The queue to sleep on when `read`/`write` return [`WOULD_BLOCK`].
    fn wait_queue(&self) -> Option<Arc<dyn WaitQueue>> {
        None
    }

    /// True if `lseek` succeeds (always at offset 0, as Linux's `/dev/null` and
    /// `/dev/zero`); false gives `ESPIPE` for `lseek`, `pread` and `pwrite`.
    fn seekable(&self) -> bool {
        false
    }
}

/// `/dev/null`: reads give end of file, writes swallow everything.
#[derive(Debug, Default)]
pub struct NullDevice;

impl CharDevice for NullDevice {
    fn read(&self, _buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(0)
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        Ok(buf.len())
    }

    fn seekable(&self) -> bool {
        true
    }
}

/// `/dev/zero`: reads give zeros, writes swallow everything.
#[derive(Debug, Default)]
pub struct ZeroDevice;

impl CharDevice for ZeroDevice {
    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        buf.fill(0);
        Ok(buf.len())
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        Ok(buf.len())
    }

    fn seekable(&self) -> bool {
        true
    }
}

/// Linux's `dev_t` encoding of (major, minor), as `st_rdev` carries it.
pub const fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (major as u64, minor as u64);
    (mi & 0xff) | ((ma & 0xfff) << 8) | ((mi & !0xff) << 12) | ((ma & !0xfff) << 32)
}

/// Major number of a `dev_t`.
pub const fn dev_major(dev: u64) -> u32 {
    (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)) as u32
}

/// Minor number of a `dev_t`.
pub const fn dev_minor(dev: u64) -> u32 {
    ((dev & 0xff) | ((dev >> 12) & !0xff)) as u32
}
