//! Scatter/gather I/O.

/// `struct iovec` (16 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct IoVec {
    /// Buffer address.
    pub iov_base: u64,
    /// Buffer length.
    pub iov_len: u64,
}

/// Most `iovec`s one call accepts (`EINVAL` above).
pub const IOV_MAX: usize = 1024;

const _: () = assert!(core::mem::size_of::<IoVec>() == 16);
