//! Resource usage and limits: `rusage`, `rlimit`, `sysinfo`.

use crate::time::Timeval;

/// `getrusage`: the calling process.
pub const RUSAGE_SELF: i32 = 0;
/// `getrusage`: waited-for children.
pub const RUSAGE_CHILDREN: i32 = -1;
/// `getrusage`: the calling thread.
pub const RUSAGE_THREAD: i32 = 1;

/// `struct rusage` (144 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Rusage {
    /// User CPU time.
    pub ru_utime: Timeval,
    /// System CPU time.
    pub ru_stime: Timeval,
    /// Maximum resident set size (KiB).
    pub ru_maxrss: i64,
    /// Integral shared memory size (unused).
    pub ru_ixrss: i64,
    /// Integral unshared data size (unused).
    pub ru_idrss: i64,
    /// Integral unshared stack size (unused).
    pub ru_isrss: i64,
    /// Minor page faults.
    pub ru_minflt: i64,
    /// Major page faults.
    pub ru_majflt: i64,
    /// Swaps (unused).
    pub ru_nswap: i64,
    /// Block input operations.
    pub ru_inblock: i64,
    /// Block output operations.
    pub ru_oublock: i64,
    /// IPC messages sent (unused).
    pub ru_msgsnd: i64,
    /// IPC messages received (unused).
    pub ru_msgrcv: i64,
    /// Signals received (unused).
    pub ru_nsignals: i64,
    /// Voluntary context switches.
    pub ru_nvcsw: i64,
    /// Involuntary context switches.
    pub ru_nivcsw: i64,
}

const _: () = assert!(core::mem::size_of::<Rusage>() == 144);
const _: () = assert!(core::mem::offset_of!(Rusage, ru_maxrss) == 32);

/// CPU time (seconds).
pub const RLIMIT_CPU: u32 = 0;
/// Largest file size.
pub const RLIMIT_FSIZE: u32 = 1;
/// Data segment size.
pub const RLIMIT_DATA: u32 = 2;
/// Stack size.
pub const RLIMIT_STACK: u32 = 3;
/// Core file size.
pub const RLIMIT_CORE: u32 = 4;
/// Resident set size.
pub const RLIMIT_RSS: u32 = 5;
/// Number of processes/threads of the user.
pub const RLIMIT_NPROC: u32 = 6;
/// Number of open files.
pub const RLIMIT_NOFILE: u32 = 7;
/// Locked memory.
pub const RLIMIT_MEMLOCK: u32 = 8;
/// Address space size.
pub const RLIMIT_AS: u32 = 9;
/// File locks.
pub const RLIMIT_LOCKS: u32 = 10;
/// Pending signals.
pub const RLIMIT_SIGPENDING: u32 = 11;
/// POSIX message queue bytes.
pub const RLIMIT_MSGQUEUE: u32 = 12;
/// Nice ceiling.
pub const RLIMIT_NICE: u32 = 13;
/// Real-time priority ceiling.
pub const RLIMIT_RTPRIO: u32 = 14;
/// Real-time CPU time (microseconds).
pub const RLIMIT_RTTIME: u32 = 15;
/// Number of limits.
pub const RLIM_NLIMITS: u32 = 16;
/// No limit.
pub const RLIM_INFINITY: u64 = u64::MAX;

/// `struct rlimit` (16 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Rlimit {
    /// Soft limit.
    pub rlim_cur: u64,
    /// Hard limit.
    pub rlim_max: u64,
}

const _: () = assert!(core::mem::size_of::<Rlimit>() == 16);

/// `struct sysinfo` (112 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Sysinfo {
    /// Seconds since boot.
    pub uptime: i64,
    /// 1, 5 and 15 minute load averages (fixed point, 16 fraction bits).
    pub loads: [u64; 3],
    /// Total usable RAM (in `mem_unit`s).
    pub totalram: u64,
    /// Free RAM.
    pub freeram: u64,
    /// Shared RAM.
    pub sharedram: u64,
    /// Buffer RAM.
    pub bufferram: u64,
    /// Total swap.
    pub totalswap: u64,
    /// Free swap.
    pub freeswap: u64,
    /// Number of processes.
    pub procs: u16,
    /// Explicit padding.
    pub pad: u16,
    /// Explicit padding.
    pub _pad2: u32,
    /// Total high memory.
    pub totalhigh: u64,
    /// Free high memory.
    pub freehigh: u64,
    /// Unit of the memory fields in bytes.
    pub mem_unit: u32,
    /// Explicit padding to the C size.
    pub _f: u32,
}

const _: () = assert!(core::mem::size_of::<Sysinfo>() == 112);
const _: () = assert!(core::mem::offset_of!(Sysinfo, procs) == 80);
const _: () = assert!(core::mem::offset_of!(Sysinfo, totalhigh) == 88);
const _: () = assert!(core::mem::offset_of!(Sysinfo, mem_unit) == 104);
