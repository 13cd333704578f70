//! Signals: numbers, names, `sigaction` flags and layouts, `siginfo_t`, `stack_t`.

macro_rules! signals {
    ($($name:ident = $val:literal, $desc:literal;)*) => {
        $(
            #[doc = concat!($desc, " (", stringify!($val), ").")]
            pub const $name: u32 = $val;
        )*

        /// Name of standard signal `sig` (`"SIGSEGV"`), `"SIGRTMIN+n"`-style names
        /// are not produced: real-time signals give `None`.
        pub fn name(sig: u32) -> Option<&'static str> {
            match sig {
                $($val => Some(stringify!($name)),)*
                _ => None,
            }
        }
    };
}

signals! {
    SIGHUP = 1, "Hangup";
    SIGINT = 2, "Interrupt from keyboard";
    SIGQUIT = 3, "Quit from keyboard";
    SIGILL = 4, "Illegal instruction";
    SIGTRAP = 5, "Trace or breakpoint trap";
    SIGABRT = 6, "Abort";
    SIGBUS = 7, "Bus error (bad memory access)";
    SIGFPE = 8, "Arithmetic exception";
    SIGKILL = 9, "Kill (cannot be caught or blocked)";
    SIGUSR1 = 10, "User-defined signal 1";
    SIGSEGV = 11, "Invalid memory reference";
    SIGUSR2 = 12, "User-defined signal 2";
    SIGPIPE = 13, "Write to a pipe with no readers";
    SIGALRM = 14, "Timer signal from alarm";
    SIGTERM = 15, "Termination";
    SIGSTKFLT = 16, "Coprocessor stack fault (unused)";
    SIGCHLD = 17, "Child stopped, continued or terminated";
    SIGCONT = 18, "Continue if stopped";
    SIGSTOP = 19, "Stop (cannot be caught or blocked)";
    SIGTSTP = 20, "Stop typed at terminal";
    SIGTTIN = 21, "Terminal input for background process";
    SIGTTOU = 22, "Terminal output for background process";
    SIGURG = 23, "Urgent condition on socket";
    SIGXCPU = 24, "CPU time limit exceeded";
    SIGXFSZ = 25, "File size limit exceeded";
    SIGVTALRM = 26, "Virtual alarm clock";
    SIGPROF = 27, "Profiling timer expired";
    SIGWINCH = 28, "Window resize";
    SIGIO = 29, "I/O now possible";
    SIGPWR = 30, "Power failure";
    SIGSYS = 31, "Bad system call";
}

/// Alias of [`SIGIO`].
pub const SIGPOLL: u32 = SIGIO;
/// Alias of [`SIGABRT`].
pub const SIGIOT: u32 = SIGABRT;
/// First real-time signal (the kernel's; musl keeps 32..=34 for itself).
pub const SIGRTMIN: u32 = 32;
/// Last real-time signal.
pub const SIGRTMAX: u32 = 64;
/// Number of signals (valid signals are `1..=NSIG`).
pub const NSIG: u32 = 64;

/// True for a valid signal number (1..=64).
pub const fn is_valid(sig: u32) -> bool {
    sig >= 1 && sig <= NSIG
}

/// True for a real-time (queued) signal.
pub const fn is_realtime(sig: u32) -> bool {
    sig >= SIGRTMIN && sig <= SIGRTMAX
}

/// A 64-bit kernel signal set: bit `sig - 1` stands for signal `sig`.
pub type SigSet = u64;
/// Size of the kernel signal set in bytes (the `sigsetsize` argument must be this).
pub const SIGSET_SIZE: usize = 8;

/// The set bit for signal `sig` (0 for an invalid signal).
pub const fn sigmask(sig: u32) -> SigSet {
    if is_valid(sig) { 1u64 << (sig - 1) } else { 0 }
}

/// Signals that can never be blocked, caught or ignored.
pub const UNBLOCKABLE: SigSet = sigmask(SIGKILL) | sigmask(SIGSTOP);

/// The default action of a signal.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    /// End the process.
    Terminate,
    /// End the process and dump core.
    CoreDump,
    /// Do nothing.
    Ignore,
    /// Stop the process.
    Stop,
    /// Continue a stopped process.
    Continue,
}

/// The default action of signal `sig` (real-time signals terminate).
pub const fn default_action(sig: u32) -> DefaultAction {
    match sig {
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ
        | SIGSYS => DefaultAction::CoreDump,
        SIGCHLD | SIGURG | SIGWINCH => DefaultAction::Ignore,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
        SIGCONT => DefaultAction::Continue,
        _ => DefaultAction::Terminate,
    }
}

/// `sa_handler` value: default action.
pub const SIG_DFL: u64 = 0;
/// `sa_handler` value: ignore.
pub const SIG_IGN: u64 = 1;
/// The C `SIG_ERR` value.
pub const SIG_ERR: u64 = u64::MAX;

/// Do not send `SIGCHLD` when children stop or continue.
pub const SA_NOCLDSTOP: u64 = 0x0000_0001;
/// Do not make zombies of children.
pub const SA_NOCLDWAIT: u64 = 0x0000_0002;
/// The handler takes `(sig, siginfo *, ucontext *)`.
pub const SA_SIGINFO: u64 = 0x0000_0004;
/// Bit the kernel never supports; used to probe flag support.
pub const SA_UNSUPPORTED: u64 = 0x0000_0400;
/// Keep tag bits in `si_addr` (arm64; ignored elsewhere).
pub const SA_EXPOSE_TAGBITS: u64 = 0x0000_0800;
/// `sa_restorer` is valid (x86_64 user space must always set it).
pub const SA_RESTORER: u64 = 0x0400_0000;
/// Run the handler on the alternate signal stack.
pub const SA_ONSTACK: u64 = 0x0800_0000;
/// Restart interruptible system calls after the handler.
pub const SA_RESTART: u64 = 0x1000_0000;
/// Do not block the signal while its handler runs.
pub const SA_NODEFER: u64 = 0x4000_0000;
/// Reset the action to default when the handler is entered.
pub const SA_RESETHAND: u64 = 0x8000_0000;
/// Alias of [`SA_NODEFER`].
pub const SA_NOMASK: u64 = SA_NODEFER;
/// Alias of [`SA_RESETHAND`].
pub const SA_ONESHOT: u64 = SA_RESETHAND;

/// `rt_sigprocmask`: add `set` to the mask.
pub const SIG_BLOCK: u32 = 0;
/// `rt_sigprocmask`: remove `set` from the mask.
pub const SIG_UNBLOCK: u32 = 1;
/// `rt_sigprocmask`: replace the mask with `set`.
pub const SIG_SETMASK: u32 = 2;

/// `ss_flags`: the thread is running on the alternate stack.
pub const SS_ONSTACK: i32 = 1;
/// `ss_flags`: the alternate stack is disabled.
pub const SS_DISABLE: i32 = 2;
/// `ss_flags`: disarm the alternate stack while a handler runs on it.
pub const SS_AUTODISARM: i32 = 1 << 31;
/// Smallest alternate stack the kernel accepts.
pub const MINSIGSTKSZ: u64 = 2048;
/// Suggested alternate stack size.
pub const SIGSTKSZ: u64 = 8192;

/// `si_code`: sent by `kill`/`raise`.
pub const SI_USER: i32 = 0;
/// `si_code`: sent by the kernel.
pub const SI_KERNEL: i32 = 0x80;
/// `si_code`: sent by `sigqueue`.
pub const SI_QUEUE: i32 = -1;
/// `si_code`: POSIX timer expired.
pub const SI_TIMER: i32 = -2;
/// `si_code`: message queue state changed.
pub const SI_MESGQ: i32 = -3;
/// `si_code`: AIO completed.
pub const SI_ASYNCIO: i32 = -4;
/// `si_code`: queued SIGIO.
pub const SI_SIGIO: i32 = -5;
/// `si_code`: sent by `tkill`/`tgkill`.
pub const SI_TKILL: i32 = -6;

/// SIGILL: illegal opcode.
pub const ILL_ILLOPC: i32 = 1;
/// SIGILL: illegal operand.
pub const ILL_ILLOPN: i32 = 2;
/// SIGILL: illegal addressing mode.
pub const ILL_ILLADR: i32 = 3;
/// SIGILL: illegal trap.
pub const ILL_ILLTRP: i32 = 4;
/// SIGILL: privileged opcode.
pub const ILL_PRVOPC: i32 = 5;
/// SIGILL: privileged register.
pub const ILL_PRVREG: i32 = 6;
/// SIGILL: coprocessor error.
pub const ILL_COPROC: i32 = 7;
/// SIGILL: internal stack error.
pub const ILL_BADSTK: i32 = 8;
/// SIGFPE: integer divide by zero.
pub const FPE_INTDIV: i32 = 1;
/// SIGFPE: integer overflow.
pub const FPE_INTOVF: i32 = 2;
/// SIGFPE: floating-point divide by zero.
pub const FPE_FLTDIV: i32 = 3;
/// SIGFPE: floating-point overflow.
pub const FPE_FLTOVF: i32 = 4;
/// SIGFPE: floating-point underflow.
pub const FPE_FLTUND: i32 = 5;
/// SIGFPE: floating-point inexact result.
pub const FPE_FLTRES: i32 = 6;
/// SIGFPE: floating-point invalid operation.
pub const FPE_FLTINV: i32 = 7;
/// SIGFPE: subscript out of range.
pub const FPE_FLTSUB: i32 = 8;
/// SIGSEGV: address not mapped.
pub const SEGV_MAPERR: i32 = 1;
/// SIGSEGV: no permission for the mapping.
pub const SEGV_ACCERR: i32 = 2;
/// SIGSEGV: bounds check failed.
pub const SEGV_BNDERR: i32 = 3;
/// SIGSEGV: protection key check failed.
pub const SEGV_PKUERR: i32 = 4;
/// SIGBUS: invalid address alignment.
pub const BUS_ADRALN: i32 = 1;
/// SIGBUS: non-existent physical address.
pub const BUS_ADRERR: i32 = 2;
/// SIGBUS: object-specific hardware error.
pub const BUS_OBJERR: i32 = 3;
/// SIGTRAP: breakpoint.
pub const TRAP_BRKPT: i32 = 1;
/// SIGTRAP: trace trap.
pub const TRAP_TRACE: i32 = 2;
/// SIGCHLD: child exited.
pub const CLD_EXITED: i32 = 1;
/// SIGCHLD: child killed.
pub const CLD_KILLED: i32 = 2;
/// SIGCHLD: child killed and dumped core.
pub const CLD_DUMPED: i32 = 3;
/// SIGCHLD: traced child trapped.
pub const CLD_TRAPPED: i32 = 4;
/// SIGCHLD: child stopped.
pub const CLD_STOPPED: i32 = 5;
/// SIGCHLD: stopped child continued.
pub const CLD_CONTINUED: i32 = 6;
/// SIGIO/SIGPOLL: input available.
pub const POLL_IN: i32 = 1;
/// SIGIO/SIGPOLL: output possible.
pub const POLL_OUT: i32 = 2;
/// SIGIO/SIGPOLL: message available.
pub const POLL_MSG: i32 = 3;
/// SIGIO/SIGPOLL: I/O error.
pub const POLL_ERR: i32 = 4;
/// SIGIO/SIGPOLL: high-priority input.
pub const POLL_PRI: i32 = 5;
/// SIGIO/SIGPOLL: device disconnected.
pub const POLL_HUP: i32 = 6;
/// SIGSYS: seccomp.
pub const SYS_SECCOMP: i32 = 1;

/// The kernel's `struct sigaction` for `rt_sigaction` on x86_64 (32 bytes; note
/// the order differs from the C library's `struct sigaction`).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    /// Handler address, [`SIG_DFL`] or [`SIG_IGN`].
    pub handler: u64,
    /// `SA_*` flags.
    pub flags: u64,
    /// Return trampoline that calls `rt_sigreturn` (with [`SA_RESTORER`]).
    pub restorer: u64,
    /// Signals blocked while the handler runs.
    pub mask: SigSet,
}

const _: () = assert!(core::mem::size_of::<SigAction>() == 32);
const _: () = assert!(core::mem::offset_of!(SigAction, restorer) == 16);

/// `stack_t` (alternate signal stack, 24 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct StackT {
    /// Lowest address of the stack.
    pub sp: u64,
    /// `SS_*` flags.
    pub flags: i32,
    /// Explicit padding (the C layout has it implicitly).
    pub _pad: i32,
    /// Size in bytes.
    pub size: u64,
}

const _: () = assert!(core::mem::size_of::<StackT>() == 24);
const _: () = assert!(core::mem::offset_of!(StackT, size) == 16);

/// `siginfo_t` (128 bytes). The union that follows the three header words is kept
/// as raw words; use the accessors, which place each field at its Linux x86_64
/// offset:
///
/// | fields | offsets |
/// |---|---|
/// | kill / rt / chld: `si_pid`, `si_uid` | 16, 20 |
/// | rt / timer: `si_value` (`sigval`, 8 bytes) | 24 |
/// | timer: `si_tid`, `si_overrun` | 16, 20 |
/// | chld: `si_status`, `si_utime`, `si_stime` | 24, 32, 40 |
/// | fault: `si_addr`, `si_addr_lsb` | 16, 24 |
/// | poll: `si_band`, `si_fd` | 16, 24 |
/// | sys: `si_call_addr`, `si_syscall`, `si_arch` | 16, 24, 28 |
#[repr(C)]
#[derive(Copy, Clone, PartialEq, Eq)]
pub struct SigInfo {
    /// Signal number.
    pub signo: i32,
    /// Error number (usually 0).
    pub errno: i32,
    /// `SI_*` / per-signal code.
    pub code: i32,
    /// Explicit padding before the 8-aligned union.
    pub _pad: i32,
    /// The union, as 14 little-endian words.
    pub fields: [u64; 14],
}

const _: () = assert!(core::mem::size_of::<SigInfo>() == 128);
const _: () = assert!(core::mem::offset_of!(SigInfo, fields) == 16);

impl Default for SigInfo {
    fn default() -> Self {
        SigInfo::new(0, 0)
    }
}

impl core::fmt::Debug for SigInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SigInfo")
            .field("signo", &self.signo)
            .field("errno", &self.errno)
            .field("code", &self.code)
            .field("w0", &format_args!("{:#x}", self.fields[0]))
            .field("w1", &format_args!("{:#x}", self.fields[1]))
            .finish()
    }
}

impl SigInfo {
    /// A siginfo with the header set and the union zeroed.
    pub const fn new(signo: u32, code: i32) -> SigInfo {
        SigInfo {
            signo: signo as i32,
            errno: 0,
            code,
            _pad: 0,
            fields: [0; 14],
        }
    }

    /// Reads the 32-bit field at byte offset `off` (16..128, 4-aligned).
    pub const fn get_u32(&self, off: usize) -> u32 {
        let w = self.fields[(off - 16) / 8];
        (w >> (((off - 16) % 8) * 8)) as u32
    }

    /// Writes the 32-bit field at byte offset `off` (16..128, 4-aligned).
    pub const fn set_u32(&mut self, off: usize, v: u32) {
        let i = (off - 16) / 8;
        let shift = ((off - 16) % 8) * 8;
        self.fields[i] = (self.fields[i] & !(0xffff_ffffu64 << shift)) | ((v as u64) << shift);
    }

    /// Reads the 64-bit field at byte offset `off` (16..128, 8-aligned).
    pub const fn get_u64(&self, off: usize) -> u64 {
        self.fields[(off - 16) / 8]
    }

    /// Writes the 64-bit field at byte offset `off` (16..128, 8-aligned).
    pub const fn set_u64(&mut self, off: usize, v: u64) {
        self.fields[(off - 16) / 8] = v;
    }

    /// `kill`/`tgkill`-style info: sender pid and uid.
    pub const fn kill(signo: u32, code: i32, pid: i32, uid: u32) -> SigInfo {
        let mut s = SigInfo::new(signo, code);
        s.set_u32(16, pid as u32);
        s.set_u32(20, uid);
        s
    }

    /// `sigqueue`-style info: sender and a `sigval`.
    pub const fn queue(signo: u32, code: i32, pid: i32, uid: u32, value: u64) -> SigInfo {
        let mut s = SigInfo::kill(signo, code, pid, uid);
        s.set_u64(24, value);
        s
    }

    /// `SIGCHLD` info.
    pub const fn chld(
        code: i32,
        pid: i32,
        uid: u32,
        status: i32,
        utime: i64,
        stime: i64,
    ) -> SigInfo {
        let mut s = SigInfo::kill(SIGCHLD, code, pid, uid);
        s.set_u32(24, status as u32);
        s.set_u64(32, utime as u64);
        s.set_u64(40, stime as u64);
        s
    }

    /// Fault info (`SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`, `SIGTRAP`): the address.
    pub const fn fault(signo: u32, code: i32, addr: u64) -> SigInfo {
        let mut s = SigInfo::new(signo, code);
        s.set_u64(16, addr);
        s
    }

    /// `si_pid`.
    pub const fn pid(&self) -> i32 {
        self.get_u32(16) as i32
    }
    /// `si_uid`.
    pub const fn uid(&self) -> u32 {
        self.get_u32(20)
    }
    /// `si_value` (as a pointer-sized integer).
    pub const fn value(&self) -> u64 {
        self.get_u64(24)
    }
    /// `si_status` (SIGCHLD).
    pub const fn status(&self) -> i32 {
        self.get_u32(24) as i32
    }
    /// `si_utime` (SIGCHLD).
    pub const fn utime(&self) -> i64 {
        self.get_u64(32) as i64
    }
    /// `si_stime` (SIGCHLD).
    pub const fn stime(&self) -> i64 {
        self.get_u64(40) as i64
    }
    /// `si_addr` (faults).
    pub const fn addr(&self) -> u64 {
        self.get_u64(16)
    }

    /// The 128 bytes as they appear in user memory.
    pub fn to_bytes(&self) -> [u8; 128] {
        let mut b = [0u8; 128];
        b[0..4].copy_from_slice(&self.signo.to_le_bytes());
        b[4..8].copy_from_slice(&self.errno.to_le_bytes());
        b[8..12].copy_from_slice(&self.code.to_le_bytes());
        b[12..16].copy_from_slice(&self._pad.to_le_bytes());
        for (i, w) in self.fields.iter().enumerate() {
            b[16 + i * 8..24 + i * 8].copy_from_slice(&w.to_le_bytes());
        }
        b
    }

    /// Parses 128 bytes of user memory.
    pub fn from_bytes(b: &[u8; 128]) -> SigInfo {
        let word = |o: usize| i32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let mut s = SigInfo::new(0, 0);
        s.signo = word(0);
        s.errno = word(4);
        s.code = word(8);
        s._pad = word(12);
        for i in 0..14 {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[16 + i * 8..24 + i * 8]);
            s.fields[i] = u64::from_le_bytes(w);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names() {
        assert_eq!(SIGKILL, 9);
        assert_eq!(SIGCHLD, 17);
        assert_eq!(SIGSYS, 31);
        assert_eq!(name(11), Some("SIGSEGV"));
        assert_eq!(name(29), Some("SIGIO"));
        assert_eq!(name(32), None);
        assert_eq!(sigmask(1), 1);
        assert_eq!(sigmask(64), 1 << 63);
        assert_eq!(sigmask(0), 0);
        assert_eq!(sigmask(65), 0);
        assert_eq!(UNBLOCKABLE, (1 << 8) | (1 << 18));
        assert!(is_realtime(SIGRTMIN) && is_realtime(64) && !is_realtime(31));
    }

    #[test]
    fn defaults() {
        assert_eq!(default_action(SIGSEGV), DefaultAction::CoreDump);
        assert_eq!(default_action(SIGCHLD), DefaultAction::Ignore);
        assert_eq!(default_action(SIGTSTP), DefaultAction::Stop);
        assert_eq!(default_action(SIGCONT), DefaultAction::Continue);
        assert_eq!(default_action(SIGTERM), DefaultAction::Terminate);
        assert_eq!(default_action(40), DefaultAction::Terminate);
    }

    #[test]
    fn siginfo_fields() {
        let s = SigInfo::queue(SIGRTMIN + 3, SI_QUEUE, 42, 1000, 0xdead_beef_0000_0001);
        assert_eq!(s.pid(), 42);
        assert_eq!(s.uid(), 1000);
        assert_eq!(s.value(), 0xdead_beef_0000_0001);
        let b = s.to_bytes();
        assert_eq!(&b[0..4], &35i32.to_le_bytes());
        assert_eq!(&b[8..12], &(-1i32).to_le_bytes());
        assert_eq!(&b[16..20], &42i32.to_le_bytes());
        assert_eq!(&b[20..24], &1000u32.to_le_bytes());
        assert_eq!(SigInfo::from_bytes(&b), s);

        let c = SigInfo::chld(CLD_EXITED, 7, 0, 3, -1, 9);
        assert_eq!(c.signo, SIGCHLD as i32);
        assert_eq!((c.pid(), c.status(), c.utime(), c.stime()), (7, 3, -1, 9));
        let f = SigInfo::fault(SIGSEGV, SEGV_MAPERR, 0x1000);
        assert_eq!(f.addr(), 0x1000);
        assert_eq!(&f.to_bytes()[16..24], &0x1000u64.to_le_bytes());
    }
}
