//! open flags, `*at` flags, fcntl commands, seek modes, file type bits.

/// Open for reading.
pub const O_RDONLY: u32 = 0;
/// Open for writing.
pub const O_WRONLY: u32 = 0o1;
/// Open for reading and writing.
pub const O_RDWR: u32 = 0o2;
/// Mask of the access mode.
pub const O_ACCMODE: u32 = 0o3;
/// Create if missing.
pub const O_CREAT: u32 = 0o100;
/// With `O_CREAT`: fail if it exists.
pub const O_EXCL: u32 = 0o200;
/// Do not make it the controlling terminal.
pub const O_NOCTTY: u32 = 0o400;
/// Truncate to length 0.
pub const O_TRUNC: u32 = 0o1000;
/// Writes append.
pub const O_APPEND: u32 = 0o2000;
/// Non-blocking I/O.
pub const O_NONBLOCK: u32 = 0o4000;
/// Alias of [`O_NONBLOCK`].
pub const O_NDELAY: u32 = O_NONBLOCK;
/// Synchronous data writes.
pub const O_DSYNC: u32 = 0o10000;
/// Signal-driven I/O.
pub const O_ASYNC: u32 = 0o20000;
/// Bypass the page cache.
pub const O_DIRECT: u32 = 0o40000;
/// Large file (always on for 64-bit).
pub const O_LARGEFILE: u32 = 0o100000;
/// Must be a directory.
pub const O_DIRECTORY: u32 = 0o200000;
/// Do not follow a final symbolic link.
pub const O_NOFOLLOW: u32 = 0o400000;
/// Do not update the access time.
pub const O_NOATIME: u32 = 0o1000000;
/// Close on exec.
pub const O_CLOEXEC: u32 = 0o2000000;
/// Synchronous writes (data and metadata).
pub const O_SYNC: u32 = 0o4000000 | O_DSYNC;
/// Alias of [`O_SYNC`].
pub const O_RSYNC: u32 = O_SYNC;
/// Path-only descriptor.
pub const O_PATH: u32 = 0o10000000;
/// Unnamed temporary file in the given directory.
pub const O_TMPFILE: u32 = 0o20000000 | O_DIRECTORY;

/// `dirfd` meaning the current directory.
pub const AT_FDCWD: i32 = -100;
/// Do not follow a final symbolic link.
pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
/// `unlinkat`: remove a directory.
pub const AT_REMOVEDIR: u32 = 0x200;
/// `faccessat`: use the effective ids.
pub const AT_EACCESS: u32 = 0x200;
/// `linkat`: follow a final symbolic link.
pub const AT_SYMLINK_FOLLOW: u32 = 0x400;
/// Do not trigger automounts.
pub const AT_NO_AUTOMOUNT: u32 = 0x800;
/// An empty path means `dirfd` itself.
pub const AT_EMPTY_PATH: u32 = 0x1000;
/// Apply recursively (`mount_setattr`, `open_tree`).
pub const AT_RECURSIVE: u32 = 0x8000;

/// Duplicate to the lowest free fd >= arg.
pub const F_DUPFD: u32 = 0;
/// Get fd flags.
pub const F_GETFD: u32 = 1;
/// Set fd flags.
pub const F_SETFD: u32 = 2;
/// Get file status flags.
pub const F_GETFL: u32 = 3;
/// Set file status flags.
pub const F_SETFL: u32 = 4;
/// Test a record lock.
pub const F_GETLK: u32 = 5;
/// Set a record lock.
pub const F_SETLK: u32 = 6;
/// Set a record lock, waiting.
pub const F_SETLKW: u32 = 7;
/// Set the SIGIO owner.
pub const F_SETOWN: u32 = 8;
/// Get the SIGIO owner.
pub const F_GETOWN: u32 = 9;
/// Set the I/O signal.
pub const F_SETSIG: u32 = 10;
/// Get the I/O signal.
pub const F_GETSIG: u32 = 11;
/// [`F_DUPFD`] with close-on-exec.
pub const F_DUPFD_CLOEXEC: u32 = 1030;
/// Set pipe capacity.
pub const F_SETPIPE_SZ: u32 = 1031;
/// Get pipe capacity.
pub const F_GETPIPE_SZ: u32 = 1032;
/// fd flag: close on exec.
pub const FD_CLOEXEC: u32 = 1;

/// Seek from the start.
pub const SEEK_SET: u32 = 0;
/// Seek from the current offset.
pub const SEEK_CUR: u32 = 1;
/// Seek from the end.
pub const SEEK_END: u32 = 2;
/// Seek to the next data.
pub const SEEK_DATA: u32 = 3;
/// Seek to the next hole.
pub const SEEK_HOLE: u32 = 4;

/// File type mask of `st_mode`.
pub const S_IFMT: u32 = 0o170000;
/// Socket.
pub const S_IFSOCK: u32 = 0o140000;
/// Symbolic link.
pub const S_IFLNK: u32 = 0o120000;
/// Regular file.
pub const S_IFREG: u32 = 0o100000;
/// Block device.
pub const S_IFBLK: u32 = 0o060000;
/// Directory.
pub const S_IFDIR: u32 = 0o040000;
/// Character device.
pub const S_IFCHR: u32 = 0o020000;
/// FIFO.
pub const S_IFIFO: u32 = 0o010000;

/// Unknown type (`d_type`).
pub const DT_UNKNOWN: u8 = 0;
/// FIFO (`d_type`).
pub const DT_FIFO: u8 = 1;
/// Character device (`d_type`).
pub const DT_CHR: u8 = 2;
/// Directory (`d_type`).
pub const DT_DIR: u8 = 4;
/// Block device (`d_type`).
pub const DT_BLK: u8 = 6;
/// Regular file (`d_type`).
pub const DT_REG: u8 = 8;
/// Symbolic link (`d_type`).
pub const DT_LNK: u8 = 10;
/// Socket (`d_type`).
pub const DT_SOCK: u8 = 12;

/// `access` mode: existence.
pub const F_OK: u32 = 0;
/// `access` mode: execute.
pub const X_OK: u32 = 1;
/// `access` mode: write.
pub const W_OK: u32 = 2;
/// `access` mode: read.
pub const R_OK: u32 = 4;

/// `d_type` for an `st_mode`.
pub const fn dt_from_mode(mode: u32) -> u8 {
    ((mode & S_IFMT) >> 12) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dt_matches_mode() {
        assert_eq!(dt_from_mode(S_IFREG | 0o644), DT_REG);
        assert_eq!(dt_from_mode(S_IFDIR), DT_DIR);
        assert_eq!(dt_from_mode(S_IFLNK), DT_LNK);
        assert_eq!(dt_from_mode(S_IFCHR), DT_CHR);
        assert_eq!(dt_from_mode(S_IFSOCK), DT_SOCK);
    }
}
