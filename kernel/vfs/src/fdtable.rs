//! The per-process file descriptor table.

use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::RwLock;
use weft_abi::Errno;
use weft_abi::fcntl::{
    F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_GETFL, F_GETPIPE_SZ, F_SETFD, F_SETFL, F_SETPIPE_SZ,
    FD_CLOEXEC, O_CLOEXEC,
};

use crate::file::File;

/// Default descriptor limit (`RLIMIT_NOFILE` soft limit).
pub const DEFAULT_NOFILE: usize = 1024;

/// Largest limit [`FdTable::set_limit`] accepts (Linux's `nr_open`).
pub const NR_OPEN: usize = 1 << 20;

#[derive(Clone)]
struct Slot {
    file: Arc<File>,
    cloexec: bool,
}

#[derive(Clone)]
struct Table {
    slots: Vec<Option<Slot>>,
    /// No free slot below this index.
    free_hint: usize,
    open: usize,
    limit: usize,
}

impl Table {
    /// Lowest free descriptor >= `min` below the limit.
    fn find_free(&self, min: usize) -> Result<usize, Errno> {
        let start = min.max(self.free_hint);
        let fd = (start..self.slots.len())
            .find(|&i| self.slots[i].is_none())
            .unwrap_or(self.slots.len().max(start));
        if fd >= self.limit {
            Err(Errno::EMFILE)
        } else {
            Ok(fd)
        }
    }

    /// Puts `slot` at `fd` (which must be below the limit) and returns what was
    /// there.
    fn install(&mut self, fd: usize, slot: Slot) -> Option<Slot> {
        if fd >= self.slots.len() {
            self.slots.resize(fd + 1, None);
        }
        let old = self.slots[fd].replace(slot);
        if old.is_none() {
            self.open += 1;
        }
        if fd == self.free_hint {
            self.free_hint = fd + 1;
        }
        old
    }

    fn remove(&mut self, fd: usize) -> Option<Slot> {
        let old = self.slots.get_mut(fd)?.take()?;
        self.open -= 1;
        self.free_hint = self.free_hint.min(fd);
        Some(old)
    }

    fn get(&self, fd: i32) -> Result<&Slot, Errno> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get(i))
            .and_then(Option::as_ref)
            .ok_or(Errno::EBADF)
    }

    fn get_mut(&mut self, fd: i32) -> Result<&mut Slot, Errno> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get_mut(i))
            .and_then(Option::as_mut)
            .ok_or(Errno::EBADF)
    }
}

/// A process's descriptors: small integers -> open files, each with its
/// close-on-exec flag, behind a reader-writer spin lock.
///
/// Threads of a process share one table through an `Arc<FdTable>`
/// (`CLONE_FILES`); `fork` gives the child [`FdTable::fork`], a copy that shares
/// the open files. New descriptors are always the lowest free number. Lookups
/// ([`FdTable::get`]) take the lock for reading only. No file operation runs under
/// the lock, and files removed from the table are dropped after it is released.
pub struct FdTable {
    inner: RwLock<Table>,
}

impl Default for FdTable {
    fn default() -> Self {
        FdTable::new()
    }
}

impl core::fmt::Debug for FdTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let t = self.inner.read();
        f.debug_struct("FdTable")
            .field("open", &t.open)
            .field("limit", &t.limit)
            .finish()
    }
}

fn fd_index(fd: i32) -> Result<usize, Errno> {
    usize::try_from(fd).map_err(|_| Errno::EBADF)
}

impl FdTable {
    /// An empty table with the default limit.
    pub fn new() -> FdTable {
        FdTable::with_limit(DEFAULT_NOFILE)
    }

    /// An empty table with descriptors below `limit` (at most [`NR_OPEN`]).
    pub fn with_limit(limit: usize) -> FdTable {
        FdTable {
            inner: RwLock::new(Table {
                slots: Vec::new(),
                free_hint: 0,
                open: 0,
                limit: limit.min(NR_OPEN),
            }),
        }
    }

    /// The copy `fork` gives the child: same descriptors, same flags, same open
    /// files (shared offsets), same limit.
    pub fn fork(&self) -> FdTable {
        FdTable {
            inner: RwLock::new(self.inner.read().clone()),
        }
    }

    /// The file behind `fd` (`EBADF` if none).
    pub fn get(&self, fd: i32) -> Result<Arc<File>, Errno> {
        Ok(self.inner.read().get(fd)?.file.clone())
    }

    /// The file behind `fd` and its close-on-exec flag.
    pub fn get_with_cloexec(&self, fd: i32) -> Result<(Arc<File>, bool), Errno> {
        let t = self.inner.read();
        let s = t.get(fd)?;
        Ok((s.file.clone(), s.cloexec))
    }

    /// Installs `file` at the lowest free descriptor; `EMFILE` at the limit.
    pub fn alloc(&self, file: Arc<File>, cloexec: bool) -> Result<i32, Errno> {
        self.alloc_from(0, file, cloexec)
    }

    /// Installs `file` at the lowest free descriptor >= `min` (`F_DUPFD`).
    pub fn alloc_from(&self, min: usize, file: Arc<File>, cloexec: bool) -> Result<i32, Errno> {
        let mut t = self.inner.write();
        let fd = t.find_free(min)?;
        let old = t.install(fd, Slot { file, cloexec });
        debug_assert!(old.is_none());
        Ok(fd as i32)
    }

    /// Installs two files at the two lowest free descriptors, or neither
    /// (`pipe2`): `EMFILE` if both do not fit.
    pub fn alloc_pair(
        &self,
        a: Arc<File>,
        b: Arc<File>,
        cloexec: bool,
    ) -> Result<(i32, i32), Errno> {
        let mut t = self.inner.write();
        let fa = t.find_free(0)?;
        t.install(fa, Slot { file: a, cloexec });
        match t.find_free(0) {
            Ok(fb) => {
                t.install(fb, Slot { file: b, cloexec });
                Ok((fa as i32, fb as i32))
            }
            Err(e) => {
                let undo = t.remove(fa);
                drop(t);
                drop(undo);
                Err(e)
            }
        }
    }

    /// Removes `fd` and returns its file (`EBADF` if none). The caller drops it
    /// (after this returns, the table lock is released).
    pub fn take(&self, fd: i32) -> Result<Arc<File>, Errno> {
        let i = fd_index(fd)?;
        let slot = self.inner.write().remove(i).ok_or(Errno::EBADF)?;
        Ok(slot.file)
    }

    /// `close`.
    pub fn close(&self, fd: i32) -> Result<(), Errno> {
        self.take(fd).map(drop)
    }

    /// `dup`: lowest free descriptor, close-on-exec clear.
    pub fn dup(&self, fd: i32) -> Result<i32, Errno> {
        let mut t = self.inner.write();
        let file = t.get(fd)?.file.clone();
        let nfd = t.find_free(0)?;
        t.install(
            nfd,
            Slot {
                file,
                cloexec: false,
            },
        );
        Ok(nfd as i32)
    }

    /// `dup2`: makes `new` refer to `old`'s file (closing what `new` had),
    /// close-on-exec clear. `old == new` just checks `old`. `EBADF` for a bad
    /// `old` or a `new` outside `0..limit`.
    pub fn dup2(&self, old: i32, new: i32) -> Result<i32, Errno> {
        if old == new {
            self.get(old)?;
            return Ok(new);
        }
        self.dup_to(old, new, false)
    }

    /// `dup3`: like `dup2`, but `EINVAL` if `old == new` or `flags` has anything
    /// but `O_CLOEXEC`, which sets close-on-exec on `new`.
    pub fn dup3(&self, old: i32, new: i32, flags: u32) -> Result<i32, Errno> {
        if flags & !O_CLOEXEC != 0 || old == new {
            return Err(Errno::EINVAL);
        }
        self.dup_to(old, new, flags & O_CLOEXEC != 0)
    }

    fn dup_to(&self, old: i32, new: i32, cloexec: bool) -> Result<i32, Errno> {
        let replaced = {
            let mut t = self.inner.write();
            let file = t.get(old)?.file.clone();
            let n = fd_index(new)?;
            if n >= t.limit {
                return Err(Errno::EBADF);
            }
            t.install(n, Slot { file, cloexec })
        };
        drop(replaced);
        Ok(new)
    }

    /// The close-on-exec flag of `fd`.
    pub fn cloexec(&self, fd: i32) -> Result<bool, Errno> {
        Ok(self.inner.read().get(fd)?.cloexec)
    }

    /// Sets or clears the close-on-exec flag of `fd`.
    pub fn set_cloexec(&self, fd: i32, on: bool) -> Result<(), Errno> {
        self.inner.write().get_mut(fd)?.cloexec = on;
        Ok(())
    }

    /// `fcntl` for the descriptor-level commands and the status flags:
    /// `F_DUPFD`, `F_DUPFD_CLOEXEC` (`EINVAL` if `arg` is at or above the limit),
    /// `F_GETFD`, `F_SETFD`, `F_GETFL`, `F_SETFL`, `F_GETPIPE_SZ`,
    /// `F_SETPIPE_SZ`. Other commands give `EINVAL` (locks and owners are the
    /// kernel's to add).
    pub fn fcntl(&self, fd: i32, cmd: u32, arg: u64) -> Result<u64, Errno> {
        match cmd {
            F_DUPFD | F_DUPFD_CLOEXEC => {
                let mut t = self.inner.write();
                let file = t.get(fd)?.file.clone();
                // Linux reads the argument as an unsigned int: negative values
                // are huge and fail the limit check.
                let min = arg as u32 as usize;
                if min >= t.limit {
                    return Err(Errno::EINVAL);
                }
                let nfd = t.find_free(min)?;
                t.install(
                    nfd,
                    Slot {
                        file,
                        cloexec: cmd == F_DUPFD_CLOEXEC,
                    },
                );
                Ok(nfd as u64)
            }
            F_GETFD => Ok(if self.cloexec(fd)? {
                FD_CLOEXEC as u64
            } else {
                0
            }),
            F_SETFD => {
                self.set_cloexec(fd, arg & FD_CLOEXEC as u64 != 0)?;
                Ok(0)
            }
            F_GETFL => Ok(u64::from(self.get(fd)?.status_flags())),
            F_SETFL => {
                self.get(fd)?.set_status_flags(arg as u32);
                Ok(0)
            }
            F_GETPIPE_SZ => Ok(self.get(fd)?.pipe_capacity()? as u64),
            F_SETPIPE_SZ => Ok(self.get(fd)?.set_pipe_capacity(arg)? as u64),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Closes every close-on-exec descriptor (`execve`); returns how many.
    pub fn close_on_exec(&self) -> usize {
        let closed: Vec<Slot> = {
            let mut t = self.inner.write();
            let fds: Vec<usize> = (0..t.slots.len())
                .filter(|&i| t.slots[i].as_ref().is_some_and(|s| s.cloexec))
                .collect();
            fds.into_iter().filter_map(|i| t.remove(i)).collect()
        };
        closed.len()
    }

    /// Closes everything (process exit); returns how many were open.
    pub fn close_all(&self) -> usize {
        let slots = {
            let mut t = self.inner.write();
            t.open = 0;
            t.free_hint = 0;
            core::mem::take(&mut t.slots)
        };
        slots.into_iter().flatten().count()
    }

    /// The limit: descriptors are below it.
    pub fn limit(&self) -> usize {
        self.inner.read().limit
    }

    /// Changes the limit (`setrlimit(RLIMIT_NOFILE)`); `EPERM` above [`NR_OPEN`].
    /// Descriptors already at or above a lowered limit stay open.
    pub fn set_limit(&self, limit: usize) -> Result<(), Errno> {
        if limit > NR_OPEN {
            return Err(Errno::EPERM);
        }
        self.inner.write().limit = limit;
        Ok(())
    }

    /// Number of open descriptors.
    pub fn count(&self) -> usize {
        self.inner.read().open
    }

    /// The open descriptors, ascending.
    pub fn fds(&self) -> Vec<i32> {
        let t = self.inner.read();
        (0..t.slots.len())
            .filter(|&i| t.slots[i].is_some())
            .map(|i| i as i32)
            .collect()
    }
}
