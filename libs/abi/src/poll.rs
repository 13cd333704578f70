//! poll / ppoll and epoll.

/// Data to read.
pub const POLLIN: i16 = 0x001;
/// Urgent data to read.
pub const POLLPRI: i16 = 0x002;
/// Writing will not block.
pub const POLLOUT: i16 = 0x004;
/// Error condition (output only).
pub const POLLERR: i16 = 0x008;
/// Hang up (output only).
pub const POLLHUP: i16 = 0x010;
/// Invalid fd (output only).
pub const POLLNVAL: i16 = 0x020;
/// Normal data to read.
pub const POLLRDNORM: i16 = 0x040;
/// Priority band data to read.
pub const POLLRDBAND: i16 = 0x080;
/// Normal data may be written.
pub const POLLWRNORM: i16 = 0x100;
/// Priority data may be written.
pub const POLLWRBAND: i16 = 0x200;
/// Message available.
pub const POLLMSG: i16 = 0x400;
/// Peer closed its writing side.
pub const POLLRDHUP: i16 = 0x2000;

/// `struct pollfd` (8 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PollFd {
    /// File descriptor (negative: ignored).
    pub fd: i32,
    /// Requested events.
    pub events: i16,
    /// Returned events.
    pub revents: i16,
}

const _: () = assert!(core::mem::size_of::<PollFd>() == 8);

/// `epoll_ctl`: add.
pub const EPOLL_CTL_ADD: u32 = 1;
/// `epoll_ctl`: delete.
pub const EPOLL_CTL_DEL: u32 = 2;
/// `epoll_ctl`: modify.
pub const EPOLL_CTL_MOD: u32 = 3;
/// `epoll_create1`: close on exec.
pub const EPOLL_CLOEXEC: u32 = 0o2000000;
/// epoll event: readable.
pub const EPOLLIN: u32 = 0x001;
/// epoll event: writable.
pub const EPOLLOUT: u32 = 0x004;
/// epoll event: error.
pub const EPOLLERR: u32 = 0x008;
/// epoll event: hang up.
pub const EPOLLHUP: u32 = 0x010;
/// epoll event: peer closed its writing side.
pub const EPOLLRDHUP: u32 = 0x2000;
/// epoll flag: exclusive wakeup.
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
/// epoll flag: one event, then disable.
pub const EPOLLONESHOT: u32 = 1 << 30;
/// epoll flag: edge-triggered.
pub const EPOLLET: u32 = 1 << 31;

/// `struct epoll_event`: packed on x86_64 (12 bytes).
#[repr(C, packed)]
#[derive(Copy, Clone, Default)]
pub struct EpollEvent {
    /// `EPOLL*` events.
    pub events: u32,
    /// User data.
    pub data: u64,
}

const _: () = assert!(core::mem::size_of::<EpollEvent>() == 12);
