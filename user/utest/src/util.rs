//! Helpers shared by the tests.

use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering::*};
use core::time::Duration;

use weft_rt::abi::mman::*;
use weft_rt::process::WaitStatus;
use weft_rt::time::Instant;
use weft_rt::{env, sys, thread};

use crate::harness::{Ctx, Label, run_child};

pub const PAGE: usize = 4096;

/// A canonical kernel-half address.
pub const KERNEL_ADDR: usize = 0xffff_8000_0000_0000;
/// A non-canonical address.
pub const NONCANONICAL_ADDR: usize = 0x8000_0000_0000_0000;

static WEFT: AtomicU8 = AtomicU8::new(0);

/// True on Weft (cached `uname` check).
pub fn is_weft() -> bool {
    match WEFT.load(Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let w = weft_rt::is_weft();
            WEFT.store(if w { 1 } else { 2 }, Relaxed);
            w
        }
    }
}

/// For Weft-only tests: on Linux records the note and returns true (skip).
pub fn skip_on_linux(ctx: &mut Ctx) -> bool {
    if is_weft() {
        return false;
    }
    ctx.note("Linux: Weft-only test, not run");
    true
}

/// An address with nothing mapped: the middle page of a three-page mapping,
/// unmapped again. The outer pages stay (leaked), so only a later one-page mapping
/// could fill the hole; callers make no such mapping while they use it.
pub fn unmapped_addr() -> Result<usize, String> {
    let p = sys::mmap_anon(3 * PAGE).label("mmap")? as usize;
    // SAFETY: our own fresh page.
    unsafe { sys::munmap((p + PAGE) as *mut u8, PAGE) }.label("munmap")?;
    Ok(p + PAGE)
}

/// A mapped `PROT_NONE` page (leaked).
pub fn prot_none_page() -> Result<usize, String> {
    // SAFETY: a fresh mapping.
    unsafe { sys::mmap(0, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) }
        .map(|p| p as usize)
        .label("mmap PROT_NONE")
}

/// Shared anonymous memory: `n` zeroed atomic words visible to forked children
/// (leaked).
pub fn shared_words(n: usize) -> Result<&'static [AtomicU64], String> {
    let len = (n * 8).max(1).div_ceil(PAGE) * PAGE;
    // SAFETY: a fresh shared mapping that is never unmapped.
    let p = unsafe {
        sys::mmap(
            0,
            len,
            PROT_READ | PROT_WRITE,
            MAP_SHARED | MAP_ANONYMOUS,
            -1,
            0,
        )
    }
    .label("mmap MAP_SHARED")?;
    // SAFETY: zeroed, aligned, live forever.
    Ok(unsafe { core::slice::from_raw_parts(p as *const AtomicU64, n) })
}

/// Polls `cond` until it holds or `timeout` passes; true if it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > timeout {
            return cond();
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// This program's path (`argv[0]`), for re-executing it.
pub fn self_exe() -> &'static str {
    env::exe_path().unwrap_or("/bin/utest")
}

/// A file next to this program (`/bin/<name>` on Weft).
pub fn sibling(name: &str) -> String {
    let exe = self_exe();
    match exe.rfind('/') {
        Some(i) => format!("{}/{}", &exe[..i], name),
        None => String::from(name),
    }
}

/// Runs `f` in a child and checks that it was killed by `sig`.
pub fn expect_signal<F: FnOnce() -> i32>(ctx: &mut Ctx, what: &str, sig: u32, f: F) {
    match run_child(f, Duration::from_secs(30)) {
        Ok(WaitStatus::Signaled(s)) if s == sig => {}
        Ok(st) => ctx.fail(format!(
            "{what}: child ended with {st:?}, expected death by signal {sig} ({})",
            weft_rt::abi::signal::name(sig).unwrap_or("?")
        )),
        Err(e) => ctx.fail(format!("{what}: {e}")),
    }
}

/// Volatile read of a byte at `addr`.
///
/// # Safety
/// May fault (that is the point in a child).
pub unsafe fn peek(addr: usize) -> u8 {
    // SAFETY: the caller expects a possible fault.
    unsafe { core::ptr::read_volatile(addr as *const u8) }
}

/// Volatile write of a byte at `addr`.
///
/// # Safety
/// May fault (that is the point in a child).
pub unsafe fn poke(addr: usize, v: u8) {
    // SAFETY: the caller expects a possible fault.
    unsafe { core::ptr::write_volatile(addr as *mut u8, v) }
}

/// Makes a NUL-terminated copy of `s` (for raw system calls).
pub fn cstr(s: &str) -> alloc::vec::Vec<u8> {
    let mut v = alloc::vec::Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    v
}

/// `openat(AT_FDCWD, path, O_RDONLY)`.
pub fn open_ro(path: &str) -> Result<i32, weft_rt::Errno> {
    let c = cstr(path);
    let c = core::ffi::CStr::from_bytes_with_nul(&c).map_err(|_| weft_rt::Errno::EINVAL)?;
    sys::openat(
        weft_rt::abi::fcntl::AT_FDCWD,
        c,
        weft_rt::abi::fcntl::O_RDONLY,
        0,
    )
}
