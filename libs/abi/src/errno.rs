//! Linux error numbers, the [`Errno`] newtype and name lookups.
//!
//! System calls return `-errno` in `rax` on failure; [`Errno::as_neg`] makes that
//! value and [`Errno::from_ret`] recognises it on the user side. Values are the
//! Linux (asm-generic) ones, 1..=133, plus the kernel-internal restart codes
//! 512..=516 that never reach user space.

use core::fmt;

/// An error number (always positive; the system call returns its negation).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Errno(pub i32);

/// The largest value a system call may return as `-errno` (Linux: 4095).
pub const MAX_ERRNO: i32 = 4095;

macro_rules! errnos {
    ($($name:ident = $val:literal, $desc:literal;)*) => {
        $(
            #[doc = concat!($desc, " (", stringify!($val), ").")]
            pub const $name: i32 = $val;
        )*

        #[allow(missing_docs)]
        impl Errno {
            $(pub const $name: Errno = Errno($val);)*
        }

        /// Symbolic name of error number `e` (`"EPERM"` for 1), if known. Aliases
        /// (`EWOULDBLOCK`, `EDEADLOCK`, `ENOTSUP`) resolve to the primary name.
        pub fn name(e: i32) -> Option<&'static str> {
            match e {
                $($val => Some(stringify!($name)),)*
                _ => None,
            }
        }

        /// Short English description of error number `e`, if known.
        pub fn description(e: i32) -> Option<&'static str> {
            match e {
                $($val => Some($desc),)*
                _ => None,
            }
        }

        /// Looks an error number up by its symbolic name (`"EAGAIN"` -> 11).
        pub fn from_name(s: &str) -> Option<i32> {
            match s {
                $(stringify!($name) => Some($val),)*
                "EWOULDBLOCK" => Some(EAGAIN),
                "EDEADLOCK" => Some(EDEADLK),
                "ENOTSUP" => Some(EOPNOTSUPP),
                _ => None,
            }
        }

        /// Every known error number, ascending.
        pub const ALL: &[i32] = &[$($val),*];
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    ESRCH = 3, "No such process or thread";
    EINTR = 4, "Interrupted by a signal";
    EIO = 5, "Input/output error";
    ENXIO = 6, "No such device or address";
    E2BIG = 7, "Argument list too long";
    ENOEXEC = 8, "Not an executable format";
    EBADF = 9, "Bad file descriptor";
    ECHILD = 10, "No child processes";
    EAGAIN = 11, "Resource temporarily unavailable, try again";
    ENOMEM = 12, "Out of memory";
    EACCES = 13, "Permission denied";
    EFAULT = 14, "Bad address";
    ENOTBLK = 15, "Block device required";
    EBUSY = 16, "Device or resource busy";
    EEXIST = 17, "File exists";
    EXDEV = 18, "Cross-device link";
    ENODEV = 19, "No such device";
    ENOTDIR = 20, "Not a directory";
    EISDIR = 21, "Is a directory";
    EINVAL = 22, "Invalid argument";
    ENFILE = 23, "Too many open files in the system";
    EMFILE = 24, "Too many open files";
    ENOTTY = 25, "Inappropriate ioctl for device";
    ETXTBSY = 26, "Text file busy";
    EFBIG = 27, "File too large";
    ENOSPC = 28, "No space left on device";
    ESPIPE = 29, "Illegal seek";
    EROFS = 30, "Read-only file system";
    EMLINK = 31, "Too many links";
    EPIPE = 32, "Broken pipe";
    EDOM = 33, "Argument out of domain";
    ERANGE = 34, "Result out of range";
    EDEADLK = 35, "Resource deadlock would occur";
    ENAMETOOLONG = 36, "File name too long";
    ENOLCK = 37, "No locks available";
    ENOSYS = 38, "Function not implemented";
    ENOTEMPTY = 39, "Directory not empty";
    ELOOP = 40, "Too many levels of symbolic links";
    ENOMSG = 42, "No message of the desired type";
    EIDRM = 43, "Identifier removed";
    ECHRNG = 44, "Channel number out of range";
    EL2NSYNC = 45, "Level 2 not synchronized";
    EL3HLT = 46, "Level 3 halted";
    EL3RST = 47, "Level 3 reset";
    ELNRNG = 48, "Link number out of range";
    EUNATCH = 49, "Protocol driver not attached";
    ENOCSI = 50, "No CSI structure available";
    EL2HLT = 51, "Level 2 halted";
    EBADE = 52, "Invalid exchange";
    EBADR = 53, "Invalid request descriptor";
    EXFULL = 54, "Exchange full";
    ENOANO = 55, "No anode";
    EBADRQC = 56, "Invalid request code";
    EBADSLT = 57, "Invalid slot";
    EBFONT = 59, "Bad font file format";
    ENOSTR = 60, "Device not a stream";
    ENODATA = 61, "No data available";
    ETIME = 62, "Timer expired";
    ENOSR = 63, "Out of streams resources";
    ENONET = 64, "Machine is not on the network";
    ENOPKG = 65, "Package not installed";
    EREMOTE = 66, "Object is remote";
    ENOLINK = 67, "Link has been severed";
    EADV = 68, "Advertise error";
    ESRMNT = 69, "Srmount error";
    ECOMM = 70, "Communication error on send";
    EPROTO = 71, "Protocol error";
    EMULTIHOP = 72, "Multihop attempted";
    EDOTDOT = 73, "RFS specific error";
    EBADMSG = 74, "Bad message";
    EOVERFLOW = 75, "Value too large for defined data type";
    ENOTUNIQ = 76, "Name not unique on network";
    EBADFD = 77, "File descriptor in bad state";
    EREMCHG = 78, "Remote address changed";
    ELIBACC = 79, "Cannot access a needed shared library";
    ELIBBAD = 80, "Accessing a corrupted shared library";
    ELIBSCN = 81, ".lib section in a.out corrupted";
    ELIBMAX = 82, "Attempting to link in too many shared libraries";
    ELIBEXEC = 83, "Cannot exec a shared library directly";
    EILSEQ = 84, "Invalid or incomplete multibyte or wide character";
    ERESTART = 85, "Interrupted system call should be restarted";
    ESTRPIPE = 86, "Streams pipe error";
    EUSERS = 87, "Too many users";
    ENOTSOCK = 88, "Socket operation on non-socket";
    EDESTADDRREQ = 89, "Destination address required";
    EMSGSIZE = 90, "Message too long";
    EPROTOTYPE = 91, "Protocol wrong type for socket";
    ENOPROTOOPT = 92, "Protocol not available";
    EPROTONOSUPPORT = 93, "Protocol not supported";
    ESOCKTNOSUPPORT = 94, "Socket type not supported";
    EOPNOTSUPP = 95, "Operation not supported";
    EPFNOSUPPORT = 96, "Protocol family not supported";
    EAFNOSUPPORT = 97, "Address family not supported by protocol";
    EADDRINUSE = 98, "Address already in use";
    EADDRNOTAVAIL = 99, "Cannot assign requested address";
    ENETDOWN = 100, "Network is down";
    ENETUNREACH = 101, "Network is unreachable";
    ENETRESET = 102, "Network dropped connection on reset";
    ECONNABORTED = 103, "Software caused connection abort";
    ECONNRESET = 104, "Connection reset by peer";
    ENOBUFS = 105, "No buffer space available";
    EISCONN = 106, "Transport endpoint is already connected";
    ENOTCONN = 107, "Transport endpoint is not connected";
    ESHUTDOWN = 108, "Cannot send after transport endpoint shutdown";
    ETOOMANYREFS = 109, "Too many references";
    ETIMEDOUT = 110, "Timed out";
    ECONNREFUSED = 111, "Connection refused";
    EHOSTDOWN = 112, "Host is down";
    EHOSTUNREACH = 113, "No route to host";
    EALREADY = 114, "Operation already in progress";
    EINPROGRESS = 115, "Operation now in progress";
    ESTALE = 116, "Stale file handle";
    EUCLEAN = 117, "Structure needs cleaning";
    ENOTNAM = 118, "Not a XENIX named type file";
    ENAVAIL = 119, "No XENIX semaphores available";
    EISNAM = 120, "Is a named type file";
    EREMOTEIO = 121, "Remote I/O error";
    EDQUOT = 122, "Disk quota exceeded";
    ENOMEDIUM = 123, "No medium found";
    EMEDIUMTYPE = 124, "Wrong medium type";
    ECANCELED = 125, "Operation canceled";
    ENOKEY = 126, "Required key not available";
    EKEYEXPIRED = 127, "Key has expired";
    EKEYREVOKED = 128, "Key has been revoked";
    EKEYREJECTED = 129, "Key was rejected by service";
    EOWNERDEAD = 130, "Owner died";
    ENOTRECOVERABLE = 131, "State not recoverable";
    ERFKILL = 132, "Operation not possible due to RF-kill";
    EHWPOISON = 133, "Memory page has hardware error";
    ERESTARTSYS = 512, "Kernel-internal: restart the call if the handler allows it";
    ERESTARTNOINTR = 513, "Kernel-internal: always restart the call";
    ERESTARTNOHAND = 514, "Kernel-internal: restart the call if no handler ran";
    ENOIOCTLCMD = 515, "Kernel-internal: ioctl command not handled";
    ERESTART_RESTARTBLOCK = 516, "Kernel-internal: restart through restart_syscall";
}

/// Alias of [`EAGAIN`].
pub const EWOULDBLOCK: i32 = EAGAIN;
/// Alias of [`EDEADLK`].
pub const EDEADLOCK: i32 = EDEADLK;
/// Alias of [`EOPNOTSUPP`].
pub const ENOTSUP: i32 = EOPNOTSUPP;

impl Errno {
    /// Alias of [`Errno::EAGAIN`].
    pub const EWOULDBLOCK: Errno = Errno(EAGAIN);

    /// The error number (positive).
    pub const fn code(self) -> i32 {
        self.0
    }

    /// The system call return value for this error: `-errno`.
    pub const fn as_neg(self) -> isize {
        -(self.0 as isize)
    }

    /// The system call return value as the raw `rax` bits.
    pub const fn as_ret(self) -> usize {
        self.as_neg() as usize
    }

    /// Decodes a raw system call return: `Some(errno)` for `-4095..=-1`, else `None`.
    pub const fn from_ret(ret: usize) -> Option<Errno> {
        let r = ret as isize;
        if r < 0 && r >= -(MAX_ERRNO as isize) {
            Some(Errno(-r as i32))
        } else {
            None
        }
    }

    /// Turns a raw system call return into a `Result`.
    pub const fn result(ret: usize) -> Result<usize, Errno> {
        match Errno::from_ret(ret) {
            Some(e) => Err(e),
            None => Ok(ret),
        }
    }

    /// Symbolic name (`"EINVAL"`), if known.
    pub fn name(self) -> Option<&'static str> {
        name(self.0)
    }

    /// Short English description, if known.
    pub fn description(self) -> Option<&'static str> {
        description(self.0)
    }

    /// True for the kernel-internal restart codes (512..=516), which the system call
    /// exit path must turn into `EINTR` or a restart and never hand to user space.
    pub const fn is_restart(self) -> bool {
        matches!(
            self.0,
            ERESTARTSYS | ERESTARTNOINTR | ERESTARTNOHAND | ERESTART_RESTARTBLOCK
        )
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name(), self.description()) {
            (Some(n), Some(d)) => write!(f, "{n}: {d}"),
            _ => write!(f, "unknown error {}", self.0),
        }
    }
}

/// Result of a kernel operation that fails with an [`Errno`].
pub type SysResult<T> = Result<T, Errno>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(EPERM, 1);
        assert_eq!(EAGAIN, 11);
        assert_eq!(EFAULT, 14);
        assert_eq!(EINVAL, 22);
        assert_eq!(EDEADLK, 35);
        assert_eq!(ENOSYS, 38);
        assert_eq!(ETIMEDOUT, 110);
        assert_eq!(EOWNERDEAD, 130);
        assert_eq!(EHWPOISON, 133);
        assert_eq!(Errno::ESRCH, Errno(3));
    }

    #[test]
    fn names_and_lookup() {
        assert_eq!(name(1), Some("EPERM"));
        assert_eq!(name(11), Some("EAGAIN"));
        assert_eq!(name(41), None);
        assert_eq!(name(58), None);
        assert_eq!(name(134), None);
        assert_eq!(Errno::EINTR.name(), Some("EINTR"));
        assert_eq!(from_name("EWOULDBLOCK"), Some(11));
        assert_eq!(from_name("ENOTSUP"), Some(95));
        assert_eq!(from_name("EHWPOISON"), Some(133));
        assert_eq!(from_name("nope"), None);
        for &e in ALL {
            let n = name(e).unwrap();
            assert_eq!(from_name(n), Some(e));
            assert!(description(e).is_some());
        }
        // 1..=133 without the two holes (41, 58), plus 5 internal codes.
        assert_eq!(ALL.len(), 133 - 2 + 5);
        assert!(ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn return_encoding() {
        assert_eq!(Errno::EINVAL.as_neg(), -22);
        assert_eq!(Errno::EINVAL.as_ret(), (-22isize) as usize);
        assert_eq!(Errno::from_ret((-22isize) as usize), Some(Errno::EINVAL));
        assert_eq!(Errno::from_ret((-4095isize) as usize), Some(Errno(4095)));
        assert_eq!(Errno::from_ret((-4096isize) as usize), None);
        assert_eq!(Errno::from_ret(0), None);
        assert_eq!(Errno::from_ret(usize::MAX / 2), None);
        assert_eq!(Errno::result(5), Ok(5));
        assert_eq!(Errno::result(Errno::ENOMEM.as_ret()), Err(Errno::ENOMEM));
        assert!(Errno(ERESTARTSYS).is_restart());
        assert!(!Errno::EINTR.is_restart());
    }

    #[test]
    fn formatting() {
        assert_eq!(format!("{:?}", Errno::EAGAIN), "EAGAIN");
        assert_eq!(format!("{:?}", Errno(999)), "Errno(999)");
        assert!(format!("{}", Errno::ENOENT).starts_with("ENOENT: "));
    }
}
