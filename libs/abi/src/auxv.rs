//! ELF auxiliary vector (`AT_*`) entry types the kernel puts on a new process's stack.

/// End of the vector.
pub const AT_NULL: u64 = 0;
/// Entry to ignore.
pub const AT_IGNORE: u64 = 1;
/// File descriptor of the program.
pub const AT_EXECFD: u64 = 2;
/// Address of the program headers.
pub const AT_PHDR: u64 = 3;
/// Size of one program header.
pub const AT_PHENT: u64 = 4;
/// Number of program headers.
pub const AT_PHNUM: u64 = 5;
/// Page size.
pub const AT_PAGESZ: u64 = 6;
/// Base address of the interpreter.
pub const AT_BASE: u64 = 7;
/// Flags (0).
pub const AT_FLAGS: u64 = 8;
/// Program entry point.
pub const AT_ENTRY: u64 = 9;
/// Program is not ELF.
pub const AT_NOTELF: u64 = 10;
/// Real uid.
pub const AT_UID: u64 = 11;
/// Effective uid.
pub const AT_EUID: u64 = 12;
/// Real gid.
pub const AT_GID: u64 = 13;
/// Effective gid.
pub const AT_EGID: u64 = 14;
/// Address of the platform string ("x86_64").
pub const AT_PLATFORM: u64 = 15;
/// CPU capability bits (CPUID.1:EDX on x86).
pub const AT_HWCAP: u64 = 16;
/// Clock ticks per second for `times`.
pub const AT_CLKTCK: u64 = 17;
/// Secure mode (setuid).
pub const AT_SECURE: u64 = 23;
/// Address of the base platform string.
pub const AT_BASE_PLATFORM: u64 = 24;
/// Address of 16 random bytes.
pub const AT_RANDOM: u64 = 25;
/// More capability bits.
pub const AT_HWCAP2: u64 = 26;
/// rseq feature size.
pub const AT_RSEQ_FEATURE_SIZE: u64 = 27;
/// rseq area alignment.
pub const AT_RSEQ_ALIGN: u64 = 28;
/// More capability bits.
pub const AT_HWCAP3: u64 = 29;
/// More capability bits.
pub const AT_HWCAP4: u64 = 30;
/// Address of the executable's file name.
pub const AT_EXECFN: u64 = 31;
/// Address of the vDSO ELF header.
pub const AT_SYSINFO_EHDR: u64 = 33;
/// Smallest signal stack the kernel needs for its frames.
pub const AT_MINSIGSTKSZ: u64 = 51;
