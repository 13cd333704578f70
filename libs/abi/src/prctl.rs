//! `arch_prctl` codes and `prctl` options.

/// Set the GS base.
pub const ARCH_SET_GS: u32 = 0x1001;
/// Set the FS base (the TLS pointer).
pub const ARCH_SET_FS: u32 = 0x1002;
/// Read the FS base into `*addr`.
pub const ARCH_GET_FS: u32 = 0x1003;
/// Read the GS base into `*addr`.
pub const ARCH_GET_GS: u32 = 0x1004;
/// Is CPUID enabled?
pub const ARCH_GET_CPUID: u32 = 0x1011;
/// Enable/disable CPUID.
pub const ARCH_SET_CPUID: u32 = 0x1012;

/// Signal on parent death.
pub const PR_SET_PDEATHSIG: u32 = 1;
/// Read the parent-death signal.
pub const PR_GET_PDEATHSIG: u32 = 2;
/// Read the dumpable flag.
pub const PR_GET_DUMPABLE: u32 = 3;
/// Set the dumpable flag.
pub const PR_SET_DUMPABLE: u32 = 4;
/// Set the calling thread's name (16 bytes with NUL, truncated).
pub const PR_SET_NAME: u32 = 15;
/// Read the calling thread's name into a 16-byte buffer.
pub const PR_GET_NAME: u32 = 16;
/// Set the timer slack.
pub const PR_SET_TIMERSLACK: u32 = 29;
/// Read the timer slack.
pub const PR_GET_TIMERSLACK: u32 = 30;
/// Become a child subreaper.
pub const PR_SET_CHILD_SUBREAPER: u32 = 36;
/// Read the subreaper flag.
pub const PR_GET_CHILD_SUBREAPER: u32 = 37;
/// Set no_new_privs.
pub const PR_SET_NO_NEW_PRIVS: u32 = 38;
/// Read no_new_privs.
pub const PR_GET_NO_NEW_PRIVS: u32 = 39;
/// Name a VMA (with [`PR_SET_VMA_ANON_NAME`]).
pub const PR_SET_VMA: u32 = 0x5356_4d41;
/// `PR_SET_VMA` sub-option: anonymous mapping name.
pub const PR_SET_VMA_ANON_NAME: u32 = 0;

/// Size of a task name buffer including its NUL.
pub const TASK_COMM_LEN: usize = 16;
