//! Weft's VFS core: a ramfs tree with Linux path resolution, an initramfs (ustar)
//! unpacker, character devices, pipes, open file descriptions and the per-process
//! descriptor table. Pure logic: no `unsafe`, no sleeping; it builds and is tested
//! on the host.
//!
//! # Pieces
//! - [`Vfs`]: the one tree (no mount table yet). Paths are byte strings, resolved
//!   from the root (absolute) or from a base directory inode (the cwd, or the
//!   directory of an `*at` dirfd), with `.`/`..`, repeated slashes, symbolic links
//!   (at most [`MAX_SYMLINKS`]) and Linux's errors. Operations: [`Vfs::open`],
//!   [`Vfs::mkdir`], [`Vfs::create`], [`Vfs::mknod_char`], [`Vfs::symlink`],
//!   [`Vfs::link`], [`Vfs::unlink`], [`Vfs::rmdir`], [`Vfs::rename`],
//!   [`Vfs::lookup`], [`Vfs::stat`], [`Vfs::readlink`], [`Vfs::getcwd`],
//!   [`Vfs::populate_dev`] (`/dev/null`, `/dev/zero`, `/dev/console`) and
//!   [`Vfs::unpack_initramfs`].
//! - [`Inode`]: directory, regular file (bytes in memory), symbolic link or
//!   character device. Inode numbers are unique per [`Vfs`].
//! - [`File`]: an open file description (`Arc`-shared by `dup`, `fork` and
//!   `SCM_RIGHTS` later): status flags, the offset under its own lock, and the
//!   object (inode, device or pipe end). read/write/pread/pwrite/lseek/getdents64/
//!   fstat/ftruncate/poll/ioctl with Linux errors.
//! - [`FdTable`]: descriptors -> (`Arc<File>`, close-on-exec), behind a
//!   `spin::RwLock`; shared by `Arc` for `CLONE_FILES`, copied by [`FdTable::fork`].
//! - [`pipe()`]: anonymous pipes, a bounded ring buffer with Linux semantics
//!   (EOF without writers, `EPIPE` without readers, `PIPE_BUF` atomicity).
//!
//! # What the kernel provides
//! - [`WaitQueue`]: how a thread sleeps until a condition holds. Blocking reads and
//!   writes (pipes, devices) call [`WaitQueue::wait_until`] with a readiness check;
//!   the kernel runs its no-lost-wakeup protocol (link on its wait queue, re-check,
//!   sleep) and returns `EINTR`/`ERESTARTSYS` on a signal. The crate calls
//!   [`WaitQueue::wake_all`] after every state change, with no VFS lock held. The
//!   crate itself never sleeps; a non-blocking caller gets `EAGAIN`
//!   ([`WOULD_BLOCK`]). A queue may also accept [`PollWaker`]s
//!   ([`WaitQueue::poll_register`]) that its `wake_all` wakes: how the kernel's
//!   `poll` sleeps on several files at once.
//! - [`CharDevice`]: the console (and later other devices). `read`/`write` are
//!   non-blocking attempts (`EAGAIN` = would block); the device offers a wait
//!   queue and a `poll` mask so that [`File`] can block on it. [`NullDevice`] and
//!   [`ZeroDevice`] are provided here.
//! - Optionally [`set_clock`]: the wall clock for timestamps (0 until set).
//!
//! # Lock order (outermost first)
//! 1. [`FdTable`] lock. Only ever held to look up, insert or remove `Arc<File>`s:
//!    no file operation runs under it, and files removed from the table are
//!    dropped after it is released (a pipe end's drop wakes its wait queue).
//! 2. Either `Vfs::tree` (a spin mutex serialising the operations that lock two
//!    directories or walk up the tree: `rename`, `rmdir`, `link`, `getcwd`) or a
//!    [`File`]'s offset lock (held across a regular-file read/write, so that a
//!    shared offset or an `O_APPEND` write is atomic, and across
//!    `getdents64`). The two are never held together.
//! 3. Directory entry locks (`RwLock`). Path walks take one at a time (look up,
//!    clone the child `Arc`, release). Several are held only under `tree`: the
//!    two parents of a rename in ascending inode-number order, then the replaced
//!    directory (a child) after them; rmdir's parent, then the removed child.
//! 4. A regular file's data lock (`RwLock<Vec<u8>>`), never held with a
//!    directory entry lock.
//! 5. Leaf locks, taken last and alone: inode metadata (nlink, mode, times), a
//!    directory's parent pointer, a pipe's ring.
//!
//! No lock is held while calling [`CharDevice`] methods, [`WaitQueue::wait_until`]
//! or [`WaitQueue::wake_all`]. These are spin locks: the kernel must not sleep
//! under any of them, and none is taken from interrupt context (an interrupt
//! handler that wants to feed the console does it through the console device's
//! own lock).
//!
//! # Not yet
//! Mount table, permissions (everything runs as root: no `EACCES`), `atime`
//! updates, named FIFOs, block devices, sockets. File data is copied out of the
//! initramfs module into the inodes; mapping the module's pages directly (and
//! sharing them with `mmap`) is a later optimisation.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod device;
mod dir;
mod fdtable;
mod file;
mod initramfs;
mod inode;
mod path;
mod pipe;
mod time;
mod vfs;

#[cfg(test)]
mod tests;

pub use device::{
    CharDevice, NullDevice, PollWaker, WOULD_BLOCK, WaitQueue, ZeroDevice, dev_major, dev_minor,
    makedev,
};
pub use fdtable::{DEFAULT_NOFILE, FdTable, NR_OPEN};
pub use file::{File, stat_bytes};
pub use initramfs::{InitramfsError, UnpackStats};
pub use inode::{FileType, Inode, MAX_FILE_SIZE};
pub use path::{MAX_SYMLINKS, NAME_MAX, PATH_MAX};
pub use pipe::{PIPE_BUF, PIPE_DEFAULT_CAPACITY, PIPE_MAX_CAPACITY, pipe};
pub use time::set_clock;
pub use vfs::Vfs;
pub use weft_abi::Errno;
