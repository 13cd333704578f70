//! Flags and limits of the Weft extension thread calls (see [`crate::nr`] for the
//! calls themselves: [`crate::nr::THREAD_CREATE`] and friends).

/// `THREAD_CREATE` flag: the thread starts detached (reaped at exit, not joinable).
pub const THREAD_DETACHED: u64 = 1 << 0;
/// `THREAD_CREATE` flag: set the new thread's FS base (TLS pointer) from argument 6.
pub const THREAD_SETTLS: u64 = 1 << 1;
/// Every `THREAD_CREATE` flag bit; any other bit is `EINVAL`.
pub const THREAD_FLAGS_ALL: u64 = THREAD_DETACHED | THREAD_SETTLS;

/// Stack size the kernel maps for `THREAD_CREATE` with `stack == 0` and
/// `stack_size == 0`.
pub const DEFAULT_STACK_SIZE: u64 = 256 * 1024;
/// Largest stack the kernel maps for `THREAD_CREATE` with `stack == 0`.
pub const MAX_STACK_SIZE: u64 = 1 << 30;

/// Longest thread name in bytes, not counting the NUL (Linux `TASK_COMM_LEN - 1`).
pub const NAME_MAX: usize = 15;
/// Size of a thread name buffer including its NUL (Linux `TASK_COMM_LEN`).
pub const NAME_BUF: usize = NAME_MAX + 1;

/// Initial `rsp` of a thread created with stack top `stack`: aligned down to 16 and
/// minus the 8-byte (zero) return address slot, as if `entry` had been `call`ed.
pub const fn initial_rsp(stack: u64) -> u64 {
    (stack & !15) - 8
}

/// Initial `rflags` of a new user thread: interrupts enabled (bit 9) plus the
/// always-one bit 1.
pub const INITIAL_RFLAGS: u64 = 0x202;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsp() {
        assert_eq!(initial_rsp(0x7000_0000), 0x6fff_fff8);
        assert_eq!(initial_rsp(0x7000_0007), 0x6fff_fff8);
        assert_eq!((initial_rsp(0x1234_5678) + 8) % 16, 0);
    }
}
