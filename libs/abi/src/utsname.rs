//! `uname`.

/// Length of each `utsname` field including its NUL.
pub const UTS_LEN: usize = 65;

/// `struct utsname` (6 x 65 = 390 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct UtsName {
    /// Operating system name.
    pub sysname: [u8; UTS_LEN],
    /// Host name.
    pub nodename: [u8; UTS_LEN],
    /// Release.
    pub release: [u8; UTS_LEN],
    /// Version.
    pub version: [u8; UTS_LEN],
    /// Hardware.
    pub machine: [u8; UTS_LEN],
    /// NIS domain name.
    pub domainname: [u8; UTS_LEN],
}

impl Default for UtsName {
    fn default() -> Self {
        UtsName {
            sysname: [0; UTS_LEN],
            nodename: [0; UTS_LEN],
            release: [0; UTS_LEN],
            version: [0; UTS_LEN],
            machine: [0; UTS_LEN],
            domainname: [0; UTS_LEN],
        }
    }
}

/// Copies `s` into a field, truncated to 64 bytes, NUL-padded.
pub fn set_field(field: &mut [u8; UTS_LEN], s: &str) {
    *field = [0; UTS_LEN];
    let n = s.len().min(UTS_LEN - 1);
    field[..n].copy_from_slice(&s.as_bytes()[..n]);
}

const _: () = assert!(core::mem::size_of::<UtsName>() == 390);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let mut u = UtsName::default();
        set_field(&mut u.sysname, "Linux");
        assert_eq!(&u.sysname[..6], b"Linux\0");
        set_field(&mut u.nodename, &"x".repeat(100));
        assert_eq!(u.nodename[63], b'x');
        assert_eq!(u.nodename[64], 0);
    }
}
