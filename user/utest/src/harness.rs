//! The test harness: every test runs in a forked child process, so a test that
//! crashes or hangs cannot take the suite down. The child reports failures and
//! notes through a shared anonymous page; the parent prints one contract line per
//! test (`test <name> ... ok [(note)]` / `test <name> ... FAILED` plus indented
//! detail lines) and the closing `<N> passed, <M> failed`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering::*};
use core::time::Duration;

use weft_rt::abi::mman::*;
use weft_rt::abi::signal::SIGKILL;
use weft_rt::abi::wait::WNOHANG;
use weft_rt::process::{self, Fork, WaitStatus};
use weft_rt::sys::{self, Pid};
use weft_rt::time::Instant;
use weft_rt::{Errno, println, thread};

/// What a test records.
pub struct Ctx {
    fails: Vec<String>,
    notes: Vec<String>,
}

impl Ctx {
    /// Records a failure (the test goes on).
    pub fn fail(&mut self, msg: String) {
        self.fails.push(msg);
    }

    /// Records a note, shown after `ok`.
    pub fn note(&mut self, msg: &str) {
        self.notes.push(String::from(msg));
    }

    /// Records a failure unless `cond`; returns `cond`.
    pub fn check(&mut self, cond: bool, msg: impl FnOnce() -> String) -> bool {
        if !cond {
            self.fail(msg());
        }
        cond
    }
}

/// A test: `Err` ends it with one more failure line.
pub type TestFn = fn(&mut Ctx) -> Result<(), String>;

/// A named test with its time limit.
#[derive(Clone, Copy)]
pub struct Test {
    pub name: &'static str,
    pub f: TestFn,
    pub timeout_s: u64,
}

/// `Result<T, Errno>` → `Result<T, String>` with a label, for `?` in tests.
pub trait Label<T> {
    fn label(self, what: &str) -> Result<T, String>;
}

impl<T> Label<T> for Result<T, Errno> {
    fn label(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e:?}"))
    }
}

// Report page layout: [u32 length][bytes]: lines "F<text>" / "N<text>".
const REPORT_LEN: usize = 64 * 1024;

struct Report {
    base: *mut u8,
}

impl Report {
    fn new() -> Report {
        // SAFETY: a fresh shared anonymous mapping, never unmapped.
        let base = unsafe {
            sys::mmap(
                0,
                REPORT_LEN,
                PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS,
                -1,
                0,
            )
        }
        .unwrap_or(core::ptr::null_mut());
        Report { base }
    }

    fn len_word(&self) -> &AtomicU32 {
        // SAFETY: the first 4 bytes of the live mapping.
        unsafe { &*(self.base as *const AtomicU32) }
    }

    fn clear(&self) {
        if !self.base.is_null() {
            self.len_word().store(0, SeqCst);
        }
    }

    fn append(&self, kind: u8, text: &str) {
        if self.base.is_null() {
            return;
        }
        let len = self.len_word().load(SeqCst) as usize;
        let room = REPORT_LEN - 4 - len;
        let bytes = text.as_bytes();
        let n = bytes.len().min(room.saturating_sub(2));
        if n == 0 && !bytes.is_empty() {
            return;
        }
        // SAFETY: within the mapping; only this (child) process writes it now.
        unsafe {
            let p = self.base.add(4 + len);
            *p = kind;
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), p.add(1), n);
            *p.add(1 + n) = b'\n';
        }
        self.len_word().store((len + n + 2) as u32, SeqCst);
    }

    fn lines(&self) -> Vec<(u8, String)> {
        if self.base.is_null() {
            return Vec::new();
        }
        let len = (self.len_word().load(SeqCst) as usize).min(REPORT_LEN - 4);
        // SAFETY: the child has exited; the bytes are stable.
        let bytes = unsafe { core::slice::from_raw_parts(self.base.add(4), len) };
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| (l[0], String::from_utf8_lossy(&l[1..]).into_owned()))
            .collect()
    }
}

/// Waits for child `pid` for at most `timeout`; kills and reaps it on timeout.
pub fn wait_child(pid: Pid, timeout: Duration) -> Result<WaitStatus, String> {
    let start = Instant::now();
    let mut nap = Duration::from_micros(200);
    loop {
        match process::wait(pid, WNOHANG) {
            Ok((0, _)) => {}
            Ok((_, st)) => return Ok(st),
            Err(e) => return Err(format!("wait4({pid}): {e:?}")),
        }
        if start.elapsed() > timeout {
            let _ = sys::kill(pid, SIGKILL);
            let _ = process::wait(pid, 0);
            return Err(format!(
                "child {pid} still running after {timeout:?}: killed"
            ));
        }
        thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

/// Forks a child that runs `f` and exits with its return value.
pub fn fork_child<F: FnOnce() -> i32>(f: F) -> Result<Pid, String> {
    match process::fork().label("fork")? {
        Fork::Child => {
            let code = f();
            sys::exit_group(code)
        }
        Fork::Parent(pid) => Ok(pid),
    }
}

/// Runs `f` in a forked child and returns how the child ended.
pub fn run_child<F: FnOnce() -> i32>(f: F, timeout: Duration) -> Result<WaitStatus, String> {
    let pid = fork_child(f)?;
    wait_child(pid, timeout)
}

/// Runs the tests whose name contains `filter` and prints the results; the number
/// of failures.
pub fn run(tests: &[Test], filter: Option<&str>) -> usize {
    let report = Report::new();
    let selected: Vec<&Test> = tests
        .iter()
        .filter(|t| filter.is_none_or(|f| t.name.contains(f)))
        .collect();
    println!(
        "utest: {} test(s) on {} with {} CPU(s)",
        selected.len(),
        if weft_rt::is_weft() { "Weft" } else { "Linux" },
        thread::available_parallelism()
    );
    let (mut passed, mut failed) = (0usize, 0usize);
    for t in selected {
        report.clear();
        let started = Instant::now();
        let outcome = run_child(
            || {
                let mut ctx = Ctx {
                    fails: Vec::new(),
                    notes: Vec::new(),
                };
                if let Err(e) = (t.f)(&mut ctx) {
                    ctx.fails.push(e);
                }
                for n in &ctx.notes {
                    report.append(b'N', n);
                }
                for f in &ctx.fails {
                    report.append(b'F', f);
                }
                if ctx.fails.is_empty() { 0 } else { 1 }
            },
            Duration::from_secs(t.timeout_s),
        );
        let lines = report.lines();
        let notes: Vec<&str> = lines
            .iter()
            .filter(|(k, _)| *k == b'N')
            .map(|(_, s)| s.as_str())
            .collect();
        let mut details: Vec<String> = lines
            .iter()
            .filter(|(k, _)| *k == b'F')
            .map(|(_, s)| s.clone())
            .collect();
        let ok = match outcome {
            Ok(WaitStatus::Exited(0)) if details.is_empty() => true,
            Ok(WaitStatus::Exited(_)) => false,
            Ok(WaitStatus::Signaled(s)) => {
                details.push(format!(
                    "test process killed by signal {s} ({})",
                    weft_rt::abi::signal::name(s).unwrap_or("?")
                ));
                false
            }
            Ok(other) => {
                details.push(format!("test process ended oddly: {other:?}"));
                false
            }
            Err(e) => {
                details.push(e);
                false
            }
        };
        let ms = started.elapsed().as_millis();
        if ok {
            passed += 1;
            if notes.is_empty() {
                println!("test {} ... ok ({ms} ms)", t.name);
            } else {
                println!("test {} ... ok ({ms} ms; {})", t.name, notes.join("; "));
            }
        } else {
            failed += 1;
            let mut out = format!("test {} ... FAILED ({ms} ms)\n", t.name);
            for d in details
                .iter()
                .map(String::as_str)
                .chain(notes.iter().copied())
            {
                out.push_str("    ");
                out.push_str(d);
                out.push('\n');
            }
            weft_rt::print!("{out}");
        }
    }
    println!("{passed} passed, {failed} failed");
    failed
}
