//! `struct stat` (x86_64) and the `linux_dirent64` record header.

/// x86_64 `struct stat` as filled by `stat`/`fstat`/`newfstatat` (144 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// Device.
    pub st_dev: u64,
    /// Inode number.
    pub st_ino: u64,
    /// Hard link count (before `st_mode` on x86_64!).
    pub st_nlink: u64,
    /// Type and permission bits.
    pub st_mode: u32,
    /// Owner.
    pub st_uid: u32,
    /// Group.
    pub st_gid: u32,
    /// Explicit padding.
    pub __pad0: u32,
    /// Device number of a device file.
    pub st_rdev: u64,
    /// Size in bytes.
    pub st_size: i64,
    /// Preferred I/O block size.
    pub st_blksize: i64,
    /// Allocated 512-byte blocks.
    pub st_blocks: i64,
    /// Access time, seconds.
    pub st_atime: i64,
    /// Access time, nanoseconds.
    pub st_atime_nsec: i64,
    /// Modification time, seconds.
    pub st_mtime: i64,
    /// Modification time, nanoseconds.
    pub st_mtime_nsec: i64,
    /// Status change time, seconds.
    pub st_ctime: i64,
    /// Status change time, nanoseconds.
    pub st_ctime_nsec: i64,
    /// Reserved.
    pub __unused: [i64; 3],
}

const _: () = assert!(core::mem::size_of::<Stat>() == 144);
const _: () = assert!(core::mem::offset_of!(Stat, st_mode) == 24);
const _: () = assert!(core::mem::offset_of!(Stat, st_rdev) == 40);
const _: () = assert!(core::mem::offset_of!(Stat, st_size) == 48);
const _: () = assert!(core::mem::offset_of!(Stat, st_atime) == 72);

/// Fixed part of a `linux_dirent64` record as `getdents64` writes it. The
/// NUL-terminated name starts at byte [`DIRENT64_NAME_OFFSET`] (19), and each record
/// is padded to a multiple of 8 bytes (`d_reclen`). `size_of::<Dirent64>()` is 24
/// because of trailing padding; use [`dirent64_reclen`] for record sizes.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Dirent64 {
    /// Inode number.
    pub d_ino: u64,
    /// Opaque offset of the next record.
    pub d_off: i64,
    /// Length of this record.
    pub d_reclen: u16,
    /// `DT_*` type.
    pub d_type: u8,
}

/// Offset of `d_name` in a `linux_dirent64` record.
pub const DIRENT64_NAME_OFFSET: usize = 19;

/// Record length for a name of `name_len` bytes (plus NUL), rounded up to 8.
pub const fn dirent64_reclen(name_len: usize) -> usize {
    (DIRENT64_NAME_OFFSET + name_len + 1 + 7) & !7
}

const _: () = assert!(core::mem::offset_of!(Dirent64, d_reclen) == 16);
const _: () = assert!(core::mem::offset_of!(Dirent64, d_type) == 18);
const _: () = assert!(core::mem::size_of::<Dirent64>() == 24);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reclen() {
        assert_eq!(dirent64_reclen(1), 24);
        assert_eq!(dirent64_reclen(4), 24);
        assert_eq!(dirent64_reclen(5), 32);
    }
}
