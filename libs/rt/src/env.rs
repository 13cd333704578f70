//! The process's arguments, environment and auxiliary vector, as the kernel left
//! them on the initial stack (recorded by [`crate::start`]).

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use weft_abi::auxv::AT_NULL;

static INITIAL_SP: AtomicUsize = AtomicUsize::new(0);
static ARGC: AtomicUsize = AtomicUsize::new(0);
static ARGV: AtomicUsize = AtomicUsize::new(0);
static ENVP: AtomicUsize = AtomicUsize::new(0);
static AUXV: AtomicUsize = AtomicUsize::new(0);

/// Records the vectors from the initial stack pointer `sp`.
///
/// # Safety
/// `sp` must be the process's initial stack pointer.
pub(crate) unsafe fn init(sp: *const usize) {
    // SAFETY: the kernel's initial stack layout (see crate::start).
    unsafe {
        let argc = *sp;
        let argv = sp.add(1);
        let envp = argv.add(argc + 1);
        let mut p = envp;
        while *p != 0 {
            p = p.add(1);
        }
        INITIAL_SP.store(sp as usize, Relaxed);
        ARGC.store(argc, Relaxed);
        ARGV.store(argv as usize, Relaxed);
        ENVP.store(envp as usize, Relaxed);
        AUXV.store(p.add(1) as usize, Relaxed);
    }
}

/// The NUL-terminated string at `p`, with a `'static` lifetime (the initial stack
/// lives as long as the process).
///
/// # Safety
/// `p` must point to a NUL-terminated string that is never freed.
unsafe fn c_str(p: *const u8) -> &'static [u8] {
    let mut n = 0;
    // SAFETY: the caller promises a NUL terminator.
    unsafe {
        while *p.add(n) != 0 {
            n += 1;
        }
        core::slice::from_raw_parts(p, n)
    }
}

/// The command-line arguments (`argv`), `argv[0]` first.
#[derive(Copy, Clone, Debug)]
pub struct Args {
    argc: usize,
    argv: *const *const u8,
}

// SAFETY: the argument strings are immutable for the life of the process.
unsafe impl Send for Args {}
// SAFETY: as above.
unsafe impl Sync for Args {}

impl Args {
    /// Number of arguments (`argc`).
    pub fn len(&self) -> usize {
        self.argc
    }

    /// True if there are no arguments at all (not even `argv[0]`).
    pub fn is_empty(&self) -> bool {
        self.argc == 0
    }

    /// Argument `i` as bytes.
    pub fn get_bytes(&self, i: usize) -> Option<&'static [u8]> {
        if i >= self.argc {
            return None;
        }
        // SAFETY: i < argc, and argv[i] is a NUL-terminated string on the initial
        // stack.
        unsafe {
            let p = *self.argv.add(i);
            if p.is_null() { None } else { Some(c_str(p)) }
        }
    }

    /// Argument `i` as UTF-8 (`None` past the end or when it is not UTF-8).
    pub fn get(&self, i: usize) -> Option<&'static str> {
        self.get_bytes(i).and_then(|b| core::str::from_utf8(b).ok())
    }

    /// The arguments as UTF-8 strings (a non-UTF-8 argument reads as `"?"`).
    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        (0..self.argc).map(|i| self.get(i).unwrap_or("?"))
    }

    /// The raw `argv` pointer (null-terminated array).
    pub fn as_ptr(&self) -> *const *const u8 {
        self.argv
    }
}

/// The process's arguments.
pub fn args() -> Args {
    Args {
        argc: ARGC.load(Relaxed),
        argv: ARGV.load(Relaxed) as *const *const u8,
    }
}

/// The raw `envp` pointer (null-terminated array of `NAME=value` strings).
pub fn envp() -> *const *const u8 {
    ENVP.load(Relaxed) as *const *const u8
}

/// The environment strings (`NAME=value`).
pub fn vars() -> impl Iterator<Item = &'static [u8]> {
    let mut p = envp();
    core::iter::from_fn(move || {
        if p.is_null() {
            return None;
        }
        // SAFETY: envp is a null-terminated array of strings on the initial stack.
        unsafe {
            let s = *p;
            if s.is_null() {
                return None;
            }
            p = p.add(1);
            Some(c_str(s))
        }
    })
}

/// The value of environment variable `name`, if set and UTF-8.
pub fn var(name: &str) -> Option<&'static str> {
    vars().find_map(|v| {
        let rest = v.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        core::str::from_utf8(rest).ok()
    })
}

/// The auxiliary vector entries `(type, value)`, without the closing `AT_NULL`.
pub fn auxv() -> impl Iterator<Item = (u64, u64)> {
    let mut p = AUXV.load(Relaxed) as *const u64;
    core::iter::from_fn(move || {
        if p.is_null() {
            return None;
        }
        // SAFETY: the vector ends with AT_NULL, on the initial stack.
        unsafe {
            let (t, v) = (*p, *p.add(1));
            if t == AT_NULL {
                return None;
            }
            p = p.add(2);
            Some((t, v))
        }
    })
}

/// The value of auxiliary vector entry `ty` (`AT_PAGESZ`, ...), if present.
pub fn getauxval(ty: u64) -> Option<u64> {
    auxv().find(|&(t, _)| t == ty).map(|(_, v)| v)
}

/// The stack pointer the kernel started the process with.
pub fn initial_sp() -> usize {
    INITIAL_SP.load(Relaxed)
}

/// The path this program was started as: `argv[0]`, else `AT_EXECFN`.
pub fn exe_path() -> Option<&'static str> {
    args().get(0).filter(|s| !s.is_empty()).or_else(|| {
        let p = getauxval(weft_abi::auxv::AT_EXECFN)?;
        // SAFETY: AT_EXECFN names a NUL-terminated string on the initial stack.
        core::str::from_utf8(unsafe { c_str(p as *const u8) }).ok()
    })
}
