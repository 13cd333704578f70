//! `clone` / `clone3` flags and `struct clone_args`.

/// Mask of the exit signal sent to the parent (low byte of the `clone` flags).
pub const CSIGNAL: u64 = 0x0000_00ff;
/// New time namespace (`clone3`/`unshare` only).
pub const CLONE_NEWTIME: u64 = 0x0000_0080;
/// Share the address space.
pub const CLONE_VM: u64 = 0x0000_0100;
/// Share root, cwd and umask.
pub const CLONE_FS: u64 = 0x0000_0200;
/// Share the file descriptor table.
pub const CLONE_FILES: u64 = 0x0000_0400;
/// Share signal handlers (requires `CLONE_VM`).
pub const CLONE_SIGHAND: u64 = 0x0000_0800;
/// Return a pidfd for the child.
pub const CLONE_PIDFD: u64 = 0x0000_1000;
/// Let tracing continue on the child.
pub const CLONE_PTRACE: u64 = 0x0000_2000;
/// The parent sleeps until the child execs or exits.
pub const CLONE_VFORK: u64 = 0x0000_4000;
/// The child gets the caller's parent.
pub const CLONE_PARENT: u64 = 0x0000_8000;
/// Same thread group (a thread, not a process; requires `CLONE_SIGHAND`).
pub const CLONE_THREAD: u64 = 0x0001_0000;
/// New mount namespace.
pub const CLONE_NEWNS: u64 = 0x0002_0000;
/// Share System V semaphore undo state.
pub const CLONE_SYSVSEM: u64 = 0x0004_0000;
/// Set the child's TLS (FS base) from the `tls` argument.
pub const CLONE_SETTLS: u64 = 0x0008_0000;
/// Store the child's tid at `parent_tid` in the parent.
pub const CLONE_PARENT_SETTID: u64 = 0x0010_0000;
/// At child exit, write 0 to `child_tid` and futex-wake it.
pub const CLONE_CHILD_CLEARTID: u64 = 0x0020_0000;
/// Ignored (historic).
pub const CLONE_DETACHED: u64 = 0x0040_0000;
/// Tracer cannot force `CLONE_PTRACE`.
pub const CLONE_UNTRACED: u64 = 0x0080_0000;
/// Store the child's tid at `child_tid` in the child's memory.
pub const CLONE_CHILD_SETTID: u64 = 0x0100_0000;
/// New cgroup namespace.
pub const CLONE_NEWCGROUP: u64 = 0x0200_0000;
/// New UTS namespace.
pub const CLONE_NEWUTS: u64 = 0x0400_0000;
/// New IPC namespace.
pub const CLONE_NEWIPC: u64 = 0x0800_0000;
/// New user namespace.
pub const CLONE_NEWUSER: u64 = 0x1000_0000;
/// New pid namespace.
pub const CLONE_NEWPID: u64 = 0x2000_0000;
/// New network namespace.
pub const CLONE_NEWNET: u64 = 0x4000_0000;
/// Share the I/O context.
pub const CLONE_IO: u64 = 0x8000_0000;
/// `clone3` only: reset all signal handlers to default in the child.
pub const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
/// `clone3` only: put the child into the cgroup given by `cgroup`.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The flag set pthread implementations (musl, glibc) use to create a thread.
pub const PTHREAD_CLONE_FLAGS: u64 = CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_DETACHED;

/// `struct clone_args` for `clone3` (version 2, 88 bytes). All pointers are `u64`.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct CloneArgs {
    /// `CLONE_*` flags (without the exit signal).
    pub flags: u64,
    /// Where to store the pidfd (`CLONE_PIDFD`).
    pub pidfd: u64,
    /// Child tid address (`CLONE_CHILD_SETTID` / `CLONE_CHILD_CLEARTID`).
    pub child_tid: u64,
    /// Parent tid address (`CLONE_PARENT_SETTID`).
    pub parent_tid: u64,
    /// Signal sent to the parent when the child exits.
    pub exit_signal: u64,
    /// Lowest address of the child's stack (not the top, unlike `clone`).
    pub stack: u64,
    /// Size of the child's stack.
    pub stack_size: u64,
    /// TLS (FS base) for `CLONE_SETTLS`.
    pub tls: u64,
    /// Array of tids to use in each pid namespace (version 1).
    pub set_tid: u64,
    /// Number of entries in `set_tid`.
    pub set_tid_size: u64,
    /// cgroup fd for `CLONE_INTO_CGROUP` (version 2).
    pub cgroup: u64,
}

/// Size of the first published `clone_args` (up to and including `tls`).
pub const CLONE_ARGS_SIZE_VER0: usize = 64;
/// Size with `set_tid` / `set_tid_size`.
pub const CLONE_ARGS_SIZE_VER1: usize = 80;
/// Size with `cgroup`.
pub const CLONE_ARGS_SIZE_VER2: usize = 88;

const _: () = assert!(core::mem::size_of::<CloneArgs>() == CLONE_ARGS_SIZE_VER2);
const _: () = assert!(core::mem::offset_of!(CloneArgs, set_tid) == CLONE_ARGS_SIZE_VER0);
const _: () = assert!(core::mem::offset_of!(CloneArgs, cgroup) == CLONE_ARGS_SIZE_VER1);
