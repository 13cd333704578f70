//! System call numbers.
//!
//! # Linux calls
//! Every Linux x86_64 system call number (0..=336 and 424..=470), named after the
//! Linux call in upper case (`_sysctl` is [`SYSCTL`]). Numbers Linux reserves but
//! never implemented (`afs_syscall`, `tuxcall`, `security`, ...) are listed too, so
//! that a trace names them; the kernel answers them with `ENOSYS`. x32 numbers
//! (bit 30 set) are not part of Weft's ABI.
//!
//! # Weft extension calls: the seed thread API
//! The thread API of the seed spec lives at [`WEFT_BASE`] + n (0x1000.. = 4096..),
//! above anything Linux uses on x86_64 (Linux ends below 512; x32 calls have bit 30
//! set). Arguments use the normal registers (`rdi`, `rsi`, `rdx`, `r10`, `r8`, `r9`);
//! the result is a non-negative value or a negated errno, exactly like a Linux call.
//!
//! All of them act on threads of the *calling process* (thread group) only: a `tid`
//! naming a thread of another process, or no thread at all, is `ESRCH`. Thread ids are
//! the same system-wide unique ids `gettid` and `clone` return; `tid == 0` means the
//! calling thread where the call says so.
//!
//! | number | call | arguments | returns |
//! |---|---|---|---|
//! | 0x1000 | [`THREAD_CREATE`] | entry, arg, stack, stack_size, flags, tls | new tid |
//! | 0x1001 | [`THREAD_EXIT`] | value | never returns |
//! | 0x1002 | [`THREAD_JOIN`] | tid, `*mut u64` value (may be null) | joined tid |
//! | 0x1003 | [`THREAD_DETACH`] | tid | 0 |
//! | 0x1004 | [`THREAD_SELF`] | - | caller's tid |
//! | 0x1005 | [`THREAD_YIELD`] | - | 0 |
//! | 0x1006 | [`THREAD_KILL`] | tid, sig | 0 |
//! | 0x1007 | [`THREAD_SIGMASK`] | how, `*const u64` set, `*mut u64` oldset | 0 |
//! | 0x1008 | [`THREAD_SETNAME`] | tid, `*const u8` NUL-terminated name | 0 |
//! | 0x1009 | [`THREAD_GETNAME`] | tid, `*mut u8` buf, len | name length |
//! | 0x100a | [`TSUSPEND`] | - | 0 |
//! | 0x100b | [`TRESUME`] | tid | 0 |
//!
//! The per-call documentation below is the specification the kernel implements.
//! Threads made by Linux `clone(CLONE_THREAD)` and by [`THREAD_CREATE`] are the same
//! kind of thread; the only difference is that a `clone` thread is never *joinable*
//! (Linux reaps it at exit; waiting for it is `CLONE_CHILD_CLEARTID` + futex), so
//! [`THREAD_JOIN`] on it is `EINVAL`, as for a detached thread.

/// First number of the Weft extension range.
pub const WEFT_BASE: usize = 0x1000;

/// Highest Linux system call number this table knows.
pub const LINUX_MAX: usize = 470;

macro_rules! linux_calls {
    ($($name:ident = $num:literal => $s:literal;)*) => {
        $(
            #[doc = concat!("Linux `", $s, "` (", stringify!($num), ").")]
            pub const $name: usize = $num;
        )*

        fn linux_name(nr: usize) -> Option<&'static str> {
            match nr {
                $($num => Some($s),)*
                _ => None,
            }
        }
    };
}

linux_calls! {
    READ = 0 => "read";
    WRITE = 1 => "write";
    OPEN = 2 => "open";
    CLOSE = 3 => "close";
    STAT = 4 => "stat";
    FSTAT = 5 => "fstat";
    LSTAT = 6 => "lstat";
    POLL = 7 => "poll";
    LSEEK = 8 => "lseek";
    MMAP = 9 => "mmap";
    MPROTECT = 10 => "mprotect";
    MUNMAP = 11 => "munmap";
    BRK = 12 => "brk";
    RT_SIGACTION = 13 => "rt_sigaction";
    RT_SIGPROCMASK = 14 => "rt_sigprocmask";
    RT_SIGRETURN = 15 => "rt_sigreturn";
    IOCTL = 16 => "ioctl";
    PREAD64 = 17 => "pread64";
    PWRITE64 = 18 => "pwrite64";
    READV = 19 => "readv";
    WRITEV = 20 => "writev";
    ACCESS = 21 => "access";
    PIPE = 22 => "pipe";
    SELECT = 23 => "select";
    SCHED_YIELD = 24 => "sched_yield";
    MREMAP = 25 => "mremap";
    MSYNC = 26 => "msync";
    MINCORE = 27 => "mincore";
    MADVISE = 28 => "madvise";
    SHMGET = 29 => "shmget";
    SHMAT = 30 => "shmat";
    SHMCTL = 31 => "shmctl";
    DUP = 32 => "dup";
    DUP2 = 33 => "dup2";
    PAUSE = 34 => "pause";
    NANOSLEEP = 35 => "nanosleep";
    GETITIMER = 36 => "getitimer";
    ALARM = 37 => "alarm";
    SETITIMER = 38 => "setitimer";
    GETPID = 39 => "getpid";
    SENDFILE = 40 => "sendfile";
    SOCKET = 41 => "socket";
    CONNECT = 42 => "connect";
    ACCEPT = 43 => "accept";
    SENDTO = 44 => "sendto";
    RECVFROM = 45 => "recvfrom";
    SENDMSG = 46 => "sendmsg";
    RECVMSG = 47 => "recvmsg";
    SHUTDOWN = 48 => "shutdown";
    BIND = 49 => "bind";
    LISTEN = 50 => "listen";
    GETSOCKNAME = 51 => "getsockname";
    GETPEERNAME = 52 => "getpeername";
    SOCKETPAIR = 53 => "socketpair";
    SETSOCKOPT = 54 => "setsockopt";
    GETSOCKOPT = 55 => "getsockopt";
    CLONE = 56 => "clone";
    FORK = 57 => "fork";
    VFORK = 58 => "vfork";
    EXECVE = 59 => "execve";
    EXIT = 60 => "exit";
    WAIT4 = 61 => "wait4";
    KILL = 62 => "kill";
    UNAME = 63 => "uname";
    SEMGET = 64 => "semget";
    SEMOP = 65 => "semop";
    SEMCTL = 66 => "semctl";
    SHMDT = 67 => "shmdt";
    MSGGET = 68 => "msgget";
    MSGSND = 69 => "msgsnd";
    MSGRCV = 70 => "msgrcv";
    MSGCTL = 71 => "msgctl";
    FCNTL = 72 => "fcntl";
    FLOCK = 73 => "flock";
    FSYNC = 74 => "fsync";
    FDATASYNC = 75 => "fdatasync";
    TRUNCATE = 76 => "truncate";
    FTRUNCATE = 77 => "ftruncate";
    GETDENTS = 78 => "getdents";
    GETCWD = 79 => "getcwd";
    CHDIR = 80 => "chdir";
    FCHDIR = 81 => "fchdir";
    RENAME = 82 => "rename";
    MKDIR = 83 => "mkdir";
    RMDIR = 84 => "rmdir";
    CREAT = 85 => "creat";
    LINK = 86 => "link";
    UNLINK = 87 => "unlink";
    SYMLINK = 88 => "symlink";
    READLINK = 89 => "readlink";
    CHMOD = 90 => "chmod";
    FCHMOD = 91 => "fchmod";
    CHOWN = 92 => "chown";
    FCHOWN = 93 => "fchown";
    LCHOWN = 94 => "lchown";
    UMASK = 95 => "umask";
    GETTIMEOFDAY = 96 => "gettimeofday";
    GETRLIMIT = 97 => "getrlimit";
    GETRUSAGE = 98 => "getrusage";
    SYSINFO = 99 => "sysinfo";
    TIMES = 100 => "times";
    PTRACE = 101 => "ptrace";
    GETUID = 102 => "getuid";
    SYSLOG = 103 => "syslog";
    GETGID = 104 => "getgid";
    SETUID = 105 => "setuid";
    SETGID = 106 => "setgid";
    GETEUID = 107 => "geteuid";
    GETEGID = 108 => "getegid";
    SETPGID = 109 => "setpgid";
    GETPPID = 110 => "getppid";
    GETPGRP = 111 => "getpgrp";
    SETSID = 112 => "setsid";
    SETREUID = 113 => "setreuid";
    SETREGID = 114 => "setregid";
    GETGROUPS = 115 => "getgroups";
    SETGROUPS = 116 => "setgroups";
    SETRESUID = 117 => "setresuid";
    GETRESUID = 118 => "getresuid";
    SETRESGID = 119 => "setresgid";
    GETRESGID = 120 => "getresgid";
    GETPGID = 121 => "getpgid";
    SETFSUID = 122 => "setfsuid";
    SETFSGID = 123 => "setfsgid";
    GETSID = 124 => "getsid";
    CAPGET = 125 => "capget";
    CAPSET = 126 => "capset";
    RT_SIGPENDING = 127 => "rt_sigpending";
    RT_SIGTIMEDWAIT = 128 => "rt_sigtimedwait";
    RT_SIGQUEUEINFO = 129 => "rt_sigqueueinfo";
    RT_SIGSUSPEND = 130 => "rt_sigsuspend";
    SIGALTSTACK = 131 => "sigaltstack";
    UTIME = 132 => "utime";
    MKNOD = 133 => "mknod";
    USELIB = 134 => "uselib";
    PERSONALITY = 135 => "personality";
    USTAT = 136 => "ustat";
    STATFS = 137 => "statfs";
    FSTATFS = 138 => "fstatfs";
    SYSFS = 139 => "sysfs";
    GETPRIORITY = 140 => "getpriority";
    SETPRIORITY = 141 => "setpriority";
    SCHED_SETPARAM = 142 => "sched_setparam";
    SCHED_GETPARAM = 143 => "sched_getparam";
    SCHED_SETSCHEDULER = 144 => "sched_setscheduler";
    SCHED_GETSCHEDULER = 145 => "sched_getscheduler";
    SCHED_GET_PRIORITY_MAX = 146 => "sched_get_priority_max";
    SCHED_GET_PRIORITY_MIN = 147 => "sched_get_priority_min";
    SCHED_RR_GET_INTERVAL = 148 => "sched_rr_get_interval";
    MLOCK = 149 => "mlock";
    MUNLOCK = 150 => "munlock";
    MLOCKALL = 151 => "mlockall";
    MUNLOCKALL = 152 => "munlockall";
    VHANGUP = 153 => "vhangup";
    MODIFY_LDT = 154 => "modify_ldt";
    PIVOT_ROOT = 155 => "pivot_root";
    SYSCTL = 156 => "_sysctl";
    PRCTL = 157 => "prctl";
    ARCH_PRCTL = 158 => "arch_prctl";
    ADJTIMEX = 159 => "adjtimex";
    SETRLIMIT = 160 => "setrlimit";
    CHROOT = 161 => "chroot";
    SYNC = 162 => "sync";
    ACCT = 163 => "acct";
    SETTIMEOFDAY = 164 => "settimeofday";
    MOUNT = 165 => "mount";
    UMOUNT2 = 166 => "umount2";
    SWAPON = 167 => "swapon";
    SWAPOFF = 168 => "swapoff";
    REBOOT = 169 => "reboot";
    SETHOSTNAME = 170 => "sethostname";
    SETDOMAINNAME = 171 => "setdomainname";
    IOPL = 172 => "iopl";
    IOPERM = 173 => "ioperm";
    CREATE_MODULE = 174 => "create_module";
    INIT_MODULE = 175 => "init_module";
    DELETE_MODULE = 176 => "delete_module";
    GET_KERNEL_SYMS = 177 => "get_kernel_syms";
    QUERY_MODULE = 178 => "query_module";
    QUOTACTL = 179 => "quotactl";
    NFSSERVCTL = 180 => "nfsservctl";
    GETPMSG = 181 => "getpmsg";
    PUTPMSG = 182 => "putpmsg";
    AFS_SYSCALL = 183 => "afs_syscall";
    TUXCALL = 184 => "tuxcall";
    SECURITY = 185 => "security";
    GETTID = 186 => "gettid";
    READAHEAD = 187 => "readahead";
    SETXATTR = 188 => "setxattr";
    LSETXATTR = 189 => "lsetxattr";
    FSETXATTR = 190 => "fsetxattr";
    GETXATTR = 191 => "getxattr";
    LGETXATTR = 192 => "lgetxattr";
    FGETXATTR = 193 => "fgetxattr";
    LISTXATTR = 194 => "listxattr";
    LLISTXATTR = 195 => "llistxattr";
    FLISTXATTR = 196 => "flistxattr";
    REMOVEXATTR = 197 => "removexattr";
    LREMOVEXATTR = 198 => "lremovexattr";
    FREMOVEXATTR = 199 => "fremovexattr";
    TKILL = 200 => "tkill";
    TIME = 201 => "time";
    FUTEX = 202 => "futex";
    SCHED_SETAFFINITY = 203 => "sched_setaffinity";
    SCHED_GETAFFINITY = 204 => "sched_getaffinity";
    SET_THREAD_AREA = 205 => "set_thread_area";
    IO_SETUP = 206 => "io_setup";
    IO_DESTROY = 207 => "io_destroy";
    IO_GETEVENTS = 208 => "io_getevents";
    IO_SUBMIT = 209 => "io_submit";
    IO_CANCEL = 210 => "io_cancel";
    GET_THREAD_AREA = 211 => "get_thread_area";
    LOOKUP_DCOOKIE = 212 => "lookup_dcookie";
    EPOLL_CREATE = 213 => "epoll_create";
    EPOLL_CTL_OLD = 214 => "epoll_ctl_old";
    EPOLL_WAIT_OLD = 215 => "epoll_wait_old";
    REMAP_FILE_PAGES = 216 => "remap_file_pages";
    GETDENTS64 = 217 => "getdents64";
    SET_TID_ADDRESS = 218 => "set_tid_address";
    RESTART_SYSCALL = 219 => "restart_syscall";
    SEMTIMEDOP = 220 => "semtimedop";
    FADVISE64 = 221 => "fadvise64";
    TIMER_CREATE = 222 => "timer_create";
    TIMER_SETTIME = 223 => "timer_settime";
    TIMER_GETTIME = 224 => "timer_gettime";
    TIMER_GETOVERRUN = 225 => "timer_getoverrun";
    TIMER_DELETE = 226 => "timer_delete";
    CLOCK_SETTIME = 227 => "clock_settime";
    CLOCK_GETTIME = 228 => "clock_gettime";
    CLOCK_GETRES = 229 => "clock_getres";
    CLOCK_NANOSLEEP = 230 => "clock_nanosleep";
    EXIT_GROUP = 231 => "exit_group";
    EPOLL_WAIT = 232 => "epoll_wait";
    EPOLL_CTL = 233 => "epoll_ctl";
    TGKILL = 234 => "tgkill";
    UTIMES = 235 => "utimes";
    VSERVER = 236 => "vserver";
    MBIND = 237 => "mbind";
    SET_MEMPOLICY = 238 => "set_mempolicy";
    GET_MEMPOLICY = 239 => "get_mempolicy";
    MQ_OPEN = 240 => "mq_open";
    MQ_UNLINK = 241 => "mq_unlink";
    MQ_TIMEDSEND = 242 => "mq_timedsend";
    MQ_TIMEDRECEIVE = 243 => "mq_timedreceive";
    MQ_NOTIFY = 244 => "mq_notify";
    MQ_GETSETATTR = 245 => "mq_getsetattr";
    KEXEC_LOAD = 246 => "kexec_load";
    WAITID = 247 => "waitid";
    ADD_KEY = 248 => "add_key";
    REQUEST_KEY = 249 => "request_key";
    KEYCTL = 250 => "keyctl";
    IOPRIO_SET = 251 => "ioprio_set";
    IOPRIO_GET = 252 => "ioprio_get";
    INOTIFY_INIT = 253 => "inotify_init";
    INOTIFY_ADD_WATCH = 254 => "inotify_add_watch";
    INOTIFY_RM_WATCH = 255 => "inotify_rm_watch";
    MIGRATE_PAGES = 256 => "migrate_pages";
    OPENAT = 257 => "openat";
    MKDIRAT = 258 => "mkdirat";
    MKNODAT = 259 => "mknodat";
    FCHOWNAT = 260 => "fchownat";
    FUTIMESAT = 261 => "futimesat";
    NEWFSTATAT = 262 => "newfstatat";
    UNLINKAT = 263 => "unlinkat";
    RENAMEAT = 264 => "renameat";
    LINKAT = 265 => "linkat";
    SYMLINKAT = 266 => "symlinkat";
    READLINKAT = 267 => "readlinkat";
    FCHMODAT = 268 => "fchmodat";
    FACCESSAT = 269 => "faccessat";
    PSELECT6 = 270 => "pselect6";
    PPOLL = 271 => "ppoll";
    UNSHARE = 272 => "unshare";
    SET_ROBUST_LIST = 273 => "set_robust_list";
    GET_ROBUST_LIST = 274 => "get_robust_list";
    SPLICE = 275 => "splice";
    TEE = 276 => "tee";
    SYNC_FILE_RANGE = 277 => "sync_file_range";
    VMSPLICE = 278 => "vmsplice";
    MOVE_PAGES = 279 => "move_pages";
    UTIMENSAT = 280 => "utimensat";
    EPOLL_PWAIT = 281 => "epoll_pwait";
    SIGNALFD = 282 => "signalfd";
    TIMERFD_CREATE = 283 => "timerfd_create";
    EVENTFD = 284 => "eventfd";
    FALLOCATE = 285 => "fallocate";
    TIMERFD_SETTIME = 286 => "timerfd_settime";
    TIMERFD_GETTIME = 287 => "timerfd_gettime";
    ACCEPT4 = 288 => "accept4";
    SIGNALFD4 = 289 => "signalfd4";
    EVENTFD2 = 290 => "eventfd2";
    EPOLL_CREATE1 = 291 => "epoll_create1";
    DUP3 = 292 => "dup3";
    PIPE2 = 293 => "pipe2";
    INOTIFY_INIT1 = 294 => "inotify_init1";
    PREADV = 295 => "preadv";
    PWRITEV = 296 => "pwritev";
    RT_TGSIGQUEUEINFO = 297 => "rt_tgsigqueueinfo";
    PERF_EVENT_OPEN = 298 => "perf_event_open";
    RECVMMSG = 299 => "recvmmsg";
    FANOTIFY_INIT = 300 => "fanotify_init";
    FANOTIFY_MARK = 301 => "fanotify_mark";
    PRLIMIT64 = 302 => "prlimit64";
    NAME_TO_HANDLE_AT = 303 => "name_to_handle_at";
    OPEN_BY_HANDLE_AT = 304 => "open_by_handle_at";
    CLOCK_ADJTIME = 305 => "clock_adjtime";
    SYNCFS = 306 => "syncfs";
    SENDMMSG = 307 => "sendmmsg";
    SETNS = 308 => "setns";
    GETCPU = 309 => "getcpu";
    PROCESS_VM_READV = 310 => "process_vm_readv";
    PROCESS_VM_WRITEV = 311 => "process_vm_writev";
    KCMP = 312 => "kcmp";
    FINIT_MODULE = 313 => "finit_module";
    SCHED_SETATTR = 314 => "sched_setattr";
    SCHED_GETATTR = 315 => "sched_getattr";
    RENAMEAT2 = 316 => "renameat2";
    SECCOMP = 317 => "seccomp";
    GETRANDOM = 318 => "getrandom";
    MEMFD_CREATE = 319 => "memfd_create";
    KEXEC_FILE_LOAD = 320 => "kexec_file_load";
    BPF = 321 => "bpf";
    EXECVEAT = 322 => "execveat";
    USERFAULTFD = 323 => "userfaultfd";
    MEMBARRIER = 324 => "membarrier";
    MLOCK2 = 325 => "mlock2";
    COPY_FILE_RANGE = 326 => "copy_file_range";
    PREADV2 = 327 => "preadv2";
    PWRITEV2 = 328 => "pwritev2";
    PKEY_MPROTECT = 329 => "pkey_mprotect";
    PKEY_ALLOC = 330 => "pkey_alloc";
    PKEY_FREE = 331 => "pkey_free";
    STATX = 332 => "statx";
    IO_PGETEVENTS = 333 => "io_pgetevents";
    RSEQ = 334 => "rseq";
    URETPROBE = 335 => "uretprobe";
    UPROBE = 336 => "uprobe";
    PIDFD_SEND_SIGNAL = 424 => "pidfd_send_signal";
    IO_URING_SETUP = 425 => "io_uring_setup";
    IO_URING_ENTER = 426 => "io_uring_enter";
    IO_URING_REGISTER = 427 => "io_uring_register";
    OPEN_TREE = 428 => "open_tree";
    MOVE_MOUNT = 429 => "move_mount";
    FSOPEN = 430 => "fsopen";
    FSCONFIG = 431 => "fsconfig";
    FSMOUNT = 432 => "fsmount";
    FSPICK = 433 => "fspick";
    PIDFD_OPEN = 434 => "pidfd_open";
    CLONE3 = 435 => "clone3";
    CLOSE_RANGE = 436 => "close_range";
    OPENAT2 = 437 => "openat2";
    PIDFD_GETFD = 438 => "pidfd_getfd";
    FACCESSAT2 = 439 => "faccessat2";
    PROCESS_MADVISE = 440 => "process_madvise";
    EPOLL_PWAIT2 = 441 => "epoll_pwait2";
    MOUNT_SETATTR = 442 => "mount_setattr";
    QUOTACTL_FD = 443 => "quotactl_fd";
    LANDLOCK_CREATE_RULESET = 444 => "landlock_create_ruleset";
    LANDLOCK_ADD_RULE = 445 => "landlock_add_rule";
    LANDLOCK_RESTRICT_SELF = 446 => "landlock_restrict_self";
    MEMFD_SECRET = 447 => "memfd_secret";
    PROCESS_MRELEASE = 448 => "process_mrelease";
    FUTEX_WAITV = 449 => "futex_waitv";
    SET_MEMPOLICY_HOME_NODE = 450 => "set_mempolicy_home_node";
    CACHESTAT = 451 => "cachestat";
    FCHMODAT2 = 452 => "fchmodat2";
    MAP_SHADOW_STACK = 453 => "map_shadow_stack";
    FUTEX_WAKE = 454 => "futex_wake";
    FUTEX_WAIT = 455 => "futex_wait";
    FUTEX_REQUEUE = 456 => "futex_requeue";
    STATMOUNT = 457 => "statmount";
    LISTMOUNT = 458 => "listmount";
    LSM_GET_SELF_ATTR = 459 => "lsm_get_self_attr";
    LSM_SET_SELF_ATTR = 460 => "lsm_set_self_attr";
    LSM_LIST_MODULES = 461 => "lsm_list_modules";
    MSEAL = 462 => "mseal";
    SETXATTRAT = 463 => "setxattrat";
    GETXATTRAT = 464 => "getxattrat";
    LISTXATTRAT = 465 => "listxattrat";
    REMOVEXATTRAT = 466 => "removexattrat";
    OPEN_TREE_ATTR = 467 => "open_tree_attr";
    FILE_GETATTR = 468 => "file_getattr";
    FILE_SETATTR = 469 => "file_setattr";
    LISTNS = 470 => "listns";
}

macro_rules! weft_calls {
    ($($(#[$m:meta])* $name:ident = $num:expr => $s:literal;)*) => {
        $($(#[$m])* pub const $name: usize = $num;)*

        fn weft_name(nr: usize) -> Option<&'static str> {
            $(if nr == $name { return Some($s); })*
            None
        }

        /// Every extension call number, in order.
        pub const WEFT_CALLS: &[usize] = &[$($name),*];
    };
}

weft_calls! {
    /// `thread_create(entry, arg, stack, stack_size, flags, tls) -> tid`
    ///
    /// Starts a new thread in the calling process. It shares the address space, file
    /// table, working directory and signal handlers (the equivalent of `clone` with
    /// `CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
    /// CLONE_SYSVSEM`), inherits the caller's signal mask, has no pending signals and
    /// gets the default name of its process.
    ///
    /// - `entry` (`rdi`): user address where the thread starts; must be non-zero.
    /// - `arg` (`rsi`): passed to the thread in `rdi`.
    /// - `stack` (`rdx`): the initial stack top (one past the highest usable byte).
    ///   If it is 0 the kernel maps a stack of `stack_size` bytes (rounded up to
    ///   pages; 0 means [`crate::thread::DEFAULT_STACK_SIZE`]) with a guard page below
    ///   it, and unmaps it when the thread is reaped.
    /// - `stack_size` (`r10`): size of the stack region below `stack`. With a caller
    ///   stack it is only recorded (for diagnostics); with a kernel stack it must be at
    ///   most [`crate::thread::MAX_STACK_SIZE`].
    /// - `flags` (`r8`): [`crate::thread::THREAD_DETACHED`] (start detached),
    ///   [`crate::thread::THREAD_SETTLS`] (set the FS base to `tls`).
    /// - `tls` (`r9`): the new FS base when `THREAD_SETTLS` is given; otherwise ignored
    ///   and the thread inherits the caller's FS base.
    ///
    /// Initial state: `rip = entry`, `rdi = arg`, `rsp = (stack & !15) - 8` holding a
    /// zero return address (the layout right after a `call`), every other
    /// general-purpose register 0, `rflags = 0x202`, a clean FPU/SSE state. `entry` must
    /// not return (returning jumps to address 0 and the thread dies of `SIGSEGV`);
    /// the user runtime wraps it so that its return value goes to [`THREAD_EXIT`].
    ///
    /// Returns the new thread id. Errors: `EINVAL` (unknown flag bit, `entry == 0`,
    /// kernel stack larger than `MAX_STACK_SIZE`), `EAGAIN` (the per-process thread
    /// limit is reached), `ENOMEM` (no memory for the thread or its stack).
    THREAD_CREATE = WEFT_BASE => "thread_create";
    /// `thread_exit(value) -> !`
    ///
    /// Ends the calling thread. `value` (`rdi`, any 64-bit value, usually a pointer) is
    /// kept for [`THREAD_JOIN`]. The usual thread-exit steps run (robust list, then
    /// clear-child-tid + futex wake, as for Linux `exit`). If this was the last thread
    /// of the process, the process exits with status 0. Never returns.
    THREAD_EXIT = WEFT_BASE + 1 => "thread_exit";
    /// `thread_join(tid, value_ptr) -> tid`
    ///
    /// Waits until thread `tid` (`rdi`) has exited, reaps it, and stores its exit
    /// value into `*value_ptr` (`rsi`, a `*mut u64`) unless `value_ptr` is null.
    /// Returns `tid`. A handled signal does not end the wait: the call restarts after
    /// the handler (it never fails with `EINTR`).
    ///
    /// Errors: `ESRCH` (no such thread in this process), `EDEADLK` (`tid` is the
    /// caller), `EPERM` (`tid` is the thread-group leader, which cannot be joined),
    /// `EINVAL` (the thread is detached, is not joinable because it was made by
    /// `clone`, or another thread is already joining it), `EFAULT` (`value_ptr` is not
    /// writable; the thread is still reaped).
    THREAD_JOIN = WEFT_BASE + 2 => "thread_join";
    /// `thread_detach(tid) -> 0`
    ///
    /// Marks thread `tid` (`rdi`) detached: it is reaped as soon as it exits (at once
    /// if it already has), and can no longer be joined.
    ///
    /// Errors: `ESRCH` (no such thread in this process), `EINVAL` (already detached,
    /// or not joinable, or being joined).
    THREAD_DETACH = WEFT_BASE + 3 => "thread_detach";
    /// `thread_self() -> tid`
    ///
    /// Returns the calling thread's id (the same value as `gettid`). Never fails.
    THREAD_SELF = WEFT_BASE + 4 => "thread_self";
    /// `thread_yield() -> 0`
    ///
    /// Gives up the CPU to another runnable thread, if any (same as `sched_yield`).
    /// Never fails.
    THREAD_YIELD = WEFT_BASE + 5 => "thread_yield";
    /// `thread_kill(tid, sig) -> 0`
    ///
    /// Sends signal `sig` (`rsi`) to thread `tid` (`rdi`) of the calling process, like
    /// `tgkill(getpid(), tid, sig)` (`si_code = SI_TKILL`). `sig == 0` only checks that
    /// the thread exists.
    ///
    /// Errors: `EINVAL` (`sig` outside `0..=64`), `ESRCH` (no such thread in this
    /// process, or it has exited).
    THREAD_KILL = WEFT_BASE + 6 => "thread_kill";
    /// `thread_sigmask(how, set, oldset) -> 0`
    ///
    /// Examines and changes the calling thread's signal mask, like
    /// `rt_sigprocmask(how, set, oldset, 8)`. `set` (`rsi`) and `oldset` (`rdx`) point
    /// to 64-bit masks (bit `n - 1` for signal `n`); either may be null. `how` (`rdi`)
    /// is [`crate::signal::SIG_BLOCK`], [`crate::signal::SIG_UNBLOCK`] or
    /// [`crate::signal::SIG_SETMASK`] and is only looked at when `set` is not null.
    /// `SIGKILL` and `SIGSTOP` are silently never blocked.
    ///
    /// Errors: `EINVAL` (bad `how` with a non-null `set`), `EFAULT` (bad pointer).
    THREAD_SIGMASK = WEFT_BASE + 7 => "thread_sigmask";
    /// `thread_setname(tid, name) -> 0`
    ///
    /// Sets the name of thread `tid` (`rdi`, 0 = the caller) to the NUL-terminated
    /// string at `name` (`rsi`): at most [`crate::thread::NAME_MAX`] bytes before the
    /// NUL (the same 16-byte name `prctl(PR_SET_NAME)` and `/proc/.../comm` use).
    ///
    /// Errors: `ESRCH` (no such thread in this process), `ERANGE` (no NUL within the
    /// first `NAME_MAX + 1` bytes), `EFAULT` (unreadable `name`).
    THREAD_SETNAME = WEFT_BASE + 8 => "thread_setname";
    /// `thread_getname(tid, buf, len) -> length`
    ///
    /// Copies the name of thread `tid` (`rdi`, 0 = the caller), NUL-terminated, into
    /// `buf` (`rsi`) of `len` (`rdx`) bytes, and returns its length without the NUL.
    ///
    /// Errors: `ESRCH` (no such thread in this process), `ERANGE` (`len` is smaller
    /// than the name plus its NUL), `EFAULT` (unwritable `buf`).
    THREAD_GETNAME = WEFT_BASE + 9 => "thread_getname";
    /// `tsuspend() -> 0`
    ///
    /// Suspends the calling thread until another thread resumes it with [`TRESUME`].
    /// Each thread has one *resume permit*: a `TRESUME` that arrives while the thread
    /// is not suspended sets the permit, and the next `tsuspend` consumes it and
    /// returns at once, so a resume is never lost to a race (several resumes before a
    /// suspend still count as one). Returns 0 when resumed.
    ///
    /// Errors: `EINTR` (a signal handler ran while suspended; the permit is untouched).
    TSUSPEND = WEFT_BASE + 10 => "tsuspend";
    /// `tresume(tid) -> 0`
    ///
    /// Resumes thread `tid` (`rdi`) if it is suspended in [`TSUSPEND`]; otherwise sets
    /// its resume permit. Resuming the caller itself only sets its permit.
    ///
    /// Errors: `ESRCH` (no such thread in this process, or it has exited).
    TRESUME = WEFT_BASE + 11 => "tresume";
}

/// Returns the name of system call `nr` (Linux or Weft extension), for tracing.
pub fn name(nr: usize) -> Option<&'static str> {
    linux_name(nr).or_else(|| weft_name(nr))
}

/// True if `nr` is a Weft extension call.
pub fn is_weft(nr: usize) -> bool {
    weft_name(nr).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_numbers() {
        assert_eq!(READ, 0);
        assert_eq!(RT_SIGRETURN, 15);
        assert_eq!(CLONE, 56);
        assert_eq!(EXIT, 60);
        assert_eq!(SYSCTL, 156);
        assert_eq!(ARCH_PRCTL, 158);
        assert_eq!(GETTID, 186);
        assert_eq!(FUTEX, 202);
        assert_eq!(SET_TID_ADDRESS, 218);
        assert_eq!(EXIT_GROUP, 231);
        assert_eq!(TGKILL, 234);
        assert_eq!(SET_ROBUST_LIST, 273);
        assert_eq!(GETRANDOM, 318);
        assert_eq!(RSEQ, 334);
        assert_eq!(CLONE3, 435);
        assert_eq!(FUTEX_WAITV, 449);
        assert_eq!(FUTEX_REQUEUE, 456);
        assert_eq!(MSEAL, 462);
        assert_eq!(LINUX_MAX, LISTNS);
    }

    #[test]
    fn names() {
        assert_eq!(name(0), Some("read"));
        assert_eq!(name(156), Some("_sysctl"));
        assert_eq!(name(202), Some("futex"));
        assert_eq!(name(435), Some("clone3"));
        assert_eq!(name(337), None);
        assert_eq!(name(423), None);
        assert_eq!(name(LINUX_MAX + 1), None);
        assert_eq!(name(THREAD_CREATE), Some("thread_create"));
        assert_eq!(name(TRESUME), Some("tresume"));
        assert_eq!(name(WEFT_BASE + 12), None);
    }

    #[test]
    fn table_is_dense_where_linux_is() {
        for n in 0..=336 {
            assert!(name(n).is_some(), "missing {n}");
        }
        for n in 424..=LINUX_MAX {
            assert!(name(n).is_some(), "missing {n}");
        }
        for n in 337..424 {
            assert!(name(n).is_none(), "unexpected {n}");
        }
    }

    #[test]
    fn weft_range() {
        assert_eq!(WEFT_CALLS.len(), 12);
        for (i, &n) in WEFT_CALLS.iter().enumerate() {
            assert_eq!(n, WEFT_BASE + i);
            assert!(is_weft(n));
            assert!(linux_name(n).is_none());
        }
        assert!(!is_weft(FUTEX));
    }
}
