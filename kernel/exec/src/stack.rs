//! The initial user stack of a new program, laid out as Linux x86_64 does.
//!
//! From the stack top downwards:
//!
//! ```text
//! stack_top ->  8 zero bytes (end marker)
//!               execfn string                      (AT_EXECFN points here)
//!               envp strings, envp[0] lowest
//!               argv strings, argv[0] lowest
//!               platform string "x86_64"          (AT_PLATFORM)
//!               16 random bytes                    (AT_RANDOM)
//!               0..15 bytes: align down to 16
//!               0 or 8 bytes: so that rsp ends up 16-byte aligned
//!               auxv: (type, value) pairs, ending with (AT_NULL, 0)
//!               NULL
//!               envp[envc - 1] .. envp[0]          (pointers, envp[0] lowest)
//!               NULL
//!               argv[argc - 1] .. argv[0]
//! rsp ->        argc                                (rsp % 16 == 0)
//! ```
//!
//! All strings are NUL-terminated. [`InitialStack::build`] returns the bytes of
//! `[rsp, stack_top)` and `rsp`; the kernel copies the bytes to user memory and
//! enters the program with that stack pointer.

use alloc::vec;
use alloc::vec::Vec;

use weft_abi::Errno;
use weft_abi::auxv::*;

use crate::elf::{ExecImage, USER_END};

/// The platform string (`AT_PLATFORM`).
pub const PLATFORM: &[u8] = b"x86_64";

/// Default bound on the argument and environment strings together, counting each
/// string's bytes, its NUL and its pointer (the historic `ARG_MAX`).
pub const ARG_MAX: usize = 128 * 1024;

/// Default bound on the length of one argument or environment string, NUL included
/// (Linux's `MAX_ARG_STRLEN`, 32 pages).
pub const MAX_ARG_STRLEN: usize = 32 * 4096;

/// Default bound on the number of argument plus environment strings.
pub const MAX_ARG_STRINGS: usize = 32 * 1024;

/// Largest accepted execfn (`PATH_MAX`, NUL included).
const PATH_MAX: usize = 4096;

/// Largest accepted platform string.
const PLATFORM_MAX: usize = 64;

/// Limits on `argv` + `envp` (all give `E2BIG`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct StackLimits {
    /// Total bytes: every string's length + 1 (NUL) + 8 (its pointer).
    pub max_bytes: usize,
    /// Number of strings (argv and envp together).
    pub max_strings: usize,
    /// Length of one string, NUL included.
    pub max_string_len: usize,
}

impl Default for StackLimits {
    fn default() -> Self {
        StackLimits {
            max_bytes: ARG_MAX,
            max_strings: MAX_ARG_STRINGS,
            max_string_len: MAX_ARG_STRLEN,
        }
    }
}

/// Running total of `argv`/`envp` against [`StackLimits`], for the kernel to charge
/// each string as it copies it from user memory (so that an oversized list stops
/// early with `E2BIG`).
#[derive(Clone, Debug)]
pub struct ArgBudget {
    limits: StackLimits,
    bytes: usize,
    strings: usize,
}

impl ArgBudget {
    /// An empty budget under `limits`.
    pub fn new(limits: StackLimits) -> ArgBudget {
        ArgBudget {
            limits,
            bytes: 0,
            strings: 0,
        }
    }

    /// Charges one string of `len` bytes (without its NUL); `E2BIG` past a limit,
    /// in which case nothing is charged.
    pub fn charge(&mut self, len: usize) -> Result<(), Errno> {
        let with_nul = len.checked_add(1).ok_or(Errno::E2BIG)?;
        if with_nul > self.limits.max_string_len || self.strings >= self.limits.max_strings {
            return Err(Errno::E2BIG);
        }
        let bytes = self
            .bytes
            .checked_add(with_nul + 8)
            .filter(|&b| b <= self.limits.max_bytes)
            .ok_or(Errno::E2BIG)?;
        self.bytes = bytes;
        self.strings += 1;
        Ok(())
    }

    /// Bytes charged so far.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Strings charged so far.
    pub fn strings(&self) -> usize {
        self.strings
    }
}

/// The auxiliary vector values that do not point into the stack image (those —
/// `AT_RANDOM`, `AT_PLATFORM`, `AT_EXECFN` — are filled in by the builder).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct AuxvValues {
    /// `AT_PHDR`.
    pub phdr: u64,
    /// `AT_PHENT`.
    pub phent: u64,
    /// `AT_PHNUM`.
    pub phnum: u64,
    /// `AT_PAGESZ` (4096).
    pub pagesz: u64,
    /// `AT_BASE` (0: no interpreter).
    pub base: u64,
    /// `AT_FLAGS` (0).
    pub flags: u64,
    /// `AT_ENTRY`.
    pub entry: u64,
    /// `AT_UID`.
    pub uid: u64,
    /// `AT_EUID`.
    pub euid: u64,
    /// `AT_GID`.
    pub gid: u64,
    /// `AT_EGID`.
    pub egid: u64,
    /// `AT_SECURE` (0).
    pub secure: u64,
    /// `AT_HWCAP` (CPUID.1:EDX on x86_64).
    pub hwcap: u64,
    /// `AT_HWCAP2`.
    pub hwcap2: u64,
    /// `AT_CLKTCK` (100).
    pub clktck: u64,
    /// `AT_MINSIGSTKSZ`: the signal frame size the kernel needs.
    pub minsigstksz: u64,
    /// `AT_SYSINFO_EHDR`: the vDSO, when there is one (omitted if `None`).
    pub sysinfo_ehdr: Option<u64>,
}

impl Default for AuxvValues {
    fn default() -> Self {
        AuxvValues {
            phdr: 0,
            phent: 56,
            phnum: 0,
            pagesz: 4096,
            base: 0,
            flags: 0,
            entry: 0,
            uid: 0,
            euid: 0,
            gid: 0,
            egid: 0,
            secure: 0,
            hwcap: 0,
            hwcap2: 0,
            clktck: 100,
            minsigstksz: weft_abi::signal::MINSIGSTKSZ,
            sysinfo_ehdr: None,
        }
    }
}

impl AuxvValues {
    /// Defaults with `AT_PHDR`, `AT_PHENT`, `AT_PHNUM` and `AT_ENTRY` taken from a
    /// (biased) image. `AT_PHDR` is 0 if no segment loads the header table.
    pub fn for_image(img: &ExecImage) -> AuxvValues {
        AuxvValues {
            phdr: img.phdr().unwrap_or(0),
            phent: u64::from(img.phentsize()),
            phnum: u64::from(img.phnum()),
            entry: img.entry(),
            ..AuxvValues::default()
        }
    }
}

/// The built stack: bytes for `[rsp, stack_top)` and where things are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackImage {
    /// Initial stack pointer (16-byte aligned); `argc` is stored here.
    pub rsp: u64,
    /// The bytes to copy to user memory at `rsp`.
    pub bytes: Vec<u8>,
    /// Number of arguments.
    pub argc: u64,
    /// Address of `argv[0]`'s pointer (`rsp + 8`).
    pub argv: u64,
    /// Address of `envp[0]`'s pointer.
    pub envp: u64,
    /// Address of the first auxv pair.
    pub auxv: u64,
    /// Address of the execfn string.
    pub execfn: u64,
    /// Address of the 16 random bytes.
    pub random: u64,
    /// Address of the platform string.
    pub platform: u64,
}

/// Builder of the initial stack.
///
/// ```
/// # use weft_exec::{InitialStack, AuxvValues};
/// let argv = ["/bin/init", "-v"];
/// let envp = ["HOME=/"];
/// let st = InitialStack::new(0x7fff_ffff_e000, AuxvValues::default())
///     .argv(&argv)
///     .envp(&envp)
///     .execfn(b"/bin/init")
///     .random([7; 16])
///     .build()
///     .unwrap();
/// assert_eq!(st.rsp % 16, 0);
/// assert_eq!(st.bytes.len() as u64, 0x7fff_ffff_e000 - st.rsp);
/// ```
#[derive(Clone, Debug)]
pub struct InitialStack<'a> {
    stack_top: u64,
    argv: Vec<&'a [u8]>,
    envp: Vec<&'a [u8]>,
    execfn: &'a [u8],
    random: [u8; 16],
    platform: &'a [u8],
    auxv: AuxvValues,
    limits: StackLimits,
}

impl<'a> InitialStack<'a> {
    /// A builder for a stack ending at `stack_top` (exclusive), with no arguments,
    /// no environment, an empty execfn, zero random bytes and platform "x86_64".
    pub fn new(stack_top: u64, auxv: AuxvValues) -> InitialStack<'a> {
        InitialStack {
            stack_top,
            argv: Vec::new(),
            envp: Vec::new(),
            execfn: b"",
            random: [0; 16],
            platform: PLATFORM,
            auxv,
            limits: StackLimits::default(),
        }
    }

    /// The argument strings (without NULs).
    pub fn argv<S: AsRef<[u8]>>(mut self, argv: &'a [S]) -> Self {
        self.argv = argv.iter().map(|s| s.as_ref()).collect();
        self
    }

    /// The environment strings (without NULs).
    pub fn envp<S: AsRef<[u8]>>(mut self, envp: &'a [S]) -> Self {
        self.envp = envp.iter().map(|s| s.as_ref()).collect();
        self
    }

    /// The executable's path as given to `execve` (`AT_EXECFN`).
    pub fn execfn(mut self, path: &'a [u8]) -> Self {
        self.execfn = path;
        self
    }

    /// The 16 bytes `AT_RANDOM` points to (the C library's stack canary seed).
    pub fn random(mut self, bytes: [u8; 16]) -> Self {
        self.random = bytes;
        self
    }

    /// The platform string (`AT_PLATFORM`), "x86_64" unless changed.
    pub fn platform(mut self, platform: &'a [u8]) -> Self {
        self.platform = platform;
        self
    }

    /// Other limits than [`StackLimits::default`].
    pub fn limits(mut self, limits: StackLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Lays the stack out.
    ///
    /// An empty `argv` is replaced by one empty string, as Linux does since 5.18,
    /// so that `argv[0]` is never NULL. Errors: `E2BIG` when `argv`/`envp` break
    /// the limits; `EINVAL` when a string contains a NUL, the platform string is
    /// longer than 64 bytes, the stack top is above [`USER_END`] or too low to hold
    /// the image; `ENAMETOOLONG` for an execfn of 4096 bytes or more.
    pub fn build(&self) -> Result<StackImage, Errno> {
        let empty: &[u8] = b"";
        let argv: &[&[u8]] = if self.argv.is_empty() {
            core::slice::from_ref(&empty)
        } else {
            &self.argv
        };
        let envp: &[&[u8]] = &self.envp;

        let mut budget = ArgBudget::new(self.limits);
        for s in argv.iter().chain(envp) {
            if s.contains(&0) {
                return Err(Errno::EINVAL);
            }
            budget.charge(s.len())?;
        }
        if self.execfn.contains(&0) || self.platform.contains(&0) {
            return Err(Errno::EINVAL);
        }
        if self.execfn.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        if self.platform.len() > PLATFORM_MAX || self.stack_top > USER_END {
            return Err(Errno::EINVAL);
        }

        let aux = &self.auxv;
        // Pairs whose value is known now; the three stack addresses are patched
        // in once the strings are placed. Order follows Linux (x86_64).
        let mut pairs: Vec<(u64, u64)> = Vec::with_capacity(24);
        if let Some(ehdr) = aux.sysinfo_ehdr {
            pairs.push((AT_SYSINFO_EHDR, ehdr));
        }
        pairs.extend_from_slice(&[
            (AT_MINSIGSTKSZ, aux.minsigstksz),
            (AT_HWCAP, aux.hwcap),
            (AT_PAGESZ, aux.pagesz),
            (AT_CLKTCK, aux.clktck),
            (AT_PHDR, aux.phdr),
            (AT_PHENT, aux.phent),
            (AT_PHNUM, aux.phnum),
            (AT_BASE, aux.base),
            (AT_FLAGS, aux.flags),
            (AT_ENTRY, aux.entry),
            (AT_UID, aux.uid),
            (AT_EUID, aux.euid),
            (AT_GID, aux.gid),
            (AT_EGID, aux.egid),
            (AT_SECURE, aux.secure),
            (AT_RANDOM, 0),
            (AT_HWCAP2, aux.hwcap2),
            (AT_EXECFN, 0),
            (AT_PLATFORM, 0),
            (AT_NULL, 0),
        ]);

        // Sizes are small (bounded by the limits above), so plain arithmetic on
        // them is fine; only the subtraction from stack_top needs checking.
        let str_bytes = |list: &[&[u8]]| list.iter().map(|s| s.len() as u64 + 1).sum::<u64>();
        let strings = 8
            + self.execfn.len() as u64
            + 1
            + str_bytes(envp)
            + str_bytes(argv)
            + self.platform.len() as u64
            + 1
            + 16;
        let words = 1 + argv.len() as u64 + 1 + envp.len() as u64 + 1 + 2 * pairs.len() as u64;
        let low_strings = self.stack_top.checked_sub(strings).ok_or(Errno::EINVAL)?;
        let rsp = (low_strings & !15)
            .checked_sub(words * 8)
            .ok_or(Errno::EINVAL)?
            & !15;
        if rsp < crate::elf::PAGE_SIZE {
            return Err(Errno::EINVAL);
        }

        let mut img = Image {
            base: rsp,
            bytes: vec![0u8; (self.stack_top - rsp) as usize],
        };

        // Strings, top down.
        let mut p = self.stack_top - 8;
        p -= self.execfn.len() as u64 + 1;
        let execfn = p;
        img.put(p, self.execfn);
        let mut env_ptrs = vec![0u64; envp.len()];
        for (i, s) in envp.iter().enumerate().rev() {
            p -= s.len() as u64 + 1;
            env_ptrs[i] = p;
            img.put(p, s);
        }
        let mut arg_ptrs = vec![0u64; argv.len()];
        for (i, s) in argv.iter().enumerate().rev() {
            p -= s.len() as u64 + 1;
            arg_ptrs[i] = p;
            img.put(p, s);
        }
        p -= self.platform.len() as u64 + 1;
        let platform = p;
        img.put(p, self.platform);
        p -= 16;
        let random = p;
        img.put(p, &self.random);
        debug_assert_eq!(p, low_strings);

        for pair in &mut pairs {
            match pair.0 {
                AT_RANDOM => pair.1 = random,
                AT_EXECFN => pair.1 = execfn,
                AT_PLATFORM => pair.1 = platform,
                _ => {}
            }
        }

        // Words, bottom up from rsp.
        let mut w = rsp;
        let mut word = |img: &mut Image, v: u64| {
            img.put(w, &v.to_le_bytes());
            w += 8;
        };
        word(&mut img, argv.len() as u64);
        for &a in &arg_ptrs {
            word(&mut img, a);
        }
        word(&mut img, 0);
        for &e in &env_ptrs {
            word(&mut img, e);
        }
        word(&mut img, 0);
        for &(t, v) in &pairs {
            word(&mut img, t);
            word(&mut img, v);
        }
        debug_assert!(w <= random);

        let argv_at = rsp + 8;
        let envp_at = argv_at + 8 * (argv.len() as u64 + 1);
        let auxv_at = envp_at + 8 * (envp.len() as u64 + 1);
        Ok(StackImage {
            rsp,
            bytes: img.bytes,
            argc: argv.len() as u64,
            argv: argv_at,
            envp: envp_at,
            auxv: auxv_at,
            execfn,
            random,
            platform,
        })
    }
}

/// Byte image of `[base, base + bytes.len())`.
struct Image {
    base: u64,
    bytes: Vec<u8>,
}

impl Image {
    /// Writes `data` at user address `addr` (the NUL after strings is already
    /// there: the image starts zeroed).
    fn put(&mut self, addr: u64, data: &[u8]) {
        let off = (addr - self.base) as usize;
        self.bytes[off..off + data.len()].copy_from_slice(data);
    }
}
