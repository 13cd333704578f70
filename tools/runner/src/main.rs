//! weft-runner binary: spawns QEMU, streams its serial output to the terminal
//! and a log file, and judges the run. See `weft-runner --help`.

#![forbid(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use weft_runner::cli::{self, RunOptions, USAGE};
use weft_runner::qemu::{Boot, Mode, QemuConfig};
use weft_runner::report::{self, ResultRecord};
use weft_runner::serial::{LineKind, SerialLog};
use weft_runner::verdict::{self, QemuEnd, Verdict};

/// Lines of serial output shown in a failure report.
const TAIL_LINES: usize = 40;
/// Firmware files tried, in order, for `--uefi`.
const OVMF_CANDIDATES: &[&str] = &[
    "/usr/share/qemu/OVMF.fd",
    "/usr/share/ovmf/OVMF.fd",
    "/usr/share/OVMF/OVMF.fd",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match cli::parse(&args) {
        Ok(cli::Command::Help) => {
            out(USAGE);
            0
        }
        Ok(cli::Command::Summarize(files)) => summarize(&files),
        Ok(cli::Command::Run(opts)) => run(&opts),
        Err(e) => {
            eprintln!("weft-runner: {e}\n(see weft-runner --help)");
            2
        }
    };
    std::process::exit(code);
}

/// Writes to stdout, ignoring errors (a closed pipe must not abort a run).
fn out(s: &str) {
    let mut o = io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

fn summarize(files: &[String]) -> i32 {
    let sources: Vec<report::ResultSource> = files
        .iter()
        .map(|f| (f.clone(), std::fs::read_to_string(f).ok()))
        .collect();
    let s = report::summarize(&sources);
    out(&s.text);
    if s.ok { 0 } else { 1 }
}

/// Writes runner messages to stdout and, when there is one, the log file.
struct Reporter {
    log: Option<File>,
}

impl Reporter {
    fn line(&mut self, s: &str) {
        out(&format!("{s}\n"));
        if let Some(f) = &mut self.log {
            let _ = writeln!(f, "{s}");
        }
    }
}

fn setup_error(opts: &RunOptions, label: &str, msg: &str) -> i32 {
    eprintln!("weft-runner: {msg}");
    if let Some(path) = &opts.result {
        let rec = ResultRecord {
            ok: false,
            passed: 0,
            failed: 0,
            label: label.to_string(),
            reasons: "setup-error".into(),
        };
        append_record(path, &rec);
    }
    2
}

fn append_record(path: &str, rec: &ResultRecord) {
    let res = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| writeln!(f, "{}", rec.to_line()));
    if let Err(e) = res {
        eprintln!("weft-runner: cannot write result record to {path}: {e}");
    }
}

fn build_config(opts: &RunOptions) -> Result<QemuConfig, String> {
    let boot = match &opts.image {
        Some(path) => {
            let bios = if opts.uefi {
                let found = OVMF_CANDIDATES.iter().find(|p| Path::new(p).exists());
                Some(
                    found
                        .ok_or("--uefi: no OVMF.fd found (apt-get install ovmf)")?
                        .to_string(),
                )
            } else {
                None
            };
            Boot::Image {
                path: path.clone(),
                bios,
            }
        }
        None => Boot::Direct {
            bios: opts.bios.clone(),
            loader: opts.loader.clone(),
            kernel: opts.kernel.clone(),
            cmdline: opts.effective_cmdline(),
            initramfs: opts.initramfs.clone(),
            module_cmdline: opts.module_cmdline.clone(),
        },
    };
    Ok(QemuConfig {
        qemu: opts.qemu.clone(),
        boot,
        smp: opts.smp,
        mem: opts.mem.clone(),
        icount: opts.icount,
        mode: opts.mode,
        gdb: opts.gdb,
        extra: opts.qemu_args.clone(),
    })
}

/// Input files that must exist before QEMU starts, with a hint for each.
fn missing_inputs(cfg: &QemuConfig) -> Vec<String> {
    let mut need: Vec<(&str, &str)> = Vec::new();
    match &cfg.boot {
        Boot::Direct {
            bios,
            loader,
            kernel,
            initramfs,
            ..
        } => {
            need.push((
                bios,
                "firmware (apt-get install qemu-system-data, or `make deps`)",
            ));
            need.push((loader, "loader (`make loader`)"));
            need.push((kernel, "kernel (`make kernel`)"));
            need.push((initramfs, "initramfs (`make initramfs`)"));
        }
        Boot::Image { path, bios } => {
            need.push((path, "image (`make iso` or `make usb`)"));
            if let Some(b) = bios {
                need.push((b, "firmware"));
            }
        }
    }
    need.into_iter()
        .filter(|(p, _)| !Path::new(p).is_file())
        .map(|(p, what)| format!("missing {what}: {p}"))
        .collect()
}

/// What the stdout thread has seen so far. Shared with the main thread so
/// that a reader stuck on a pipe that some other process keeps open cannot
/// hold up the verdict.
#[derive(Default)]
struct Captured {
    log: SerialLog,
    cpus_online: Option<Duration>,
    ended_with_newline: bool,
    done: bool,
}

type Shared = Arc<Mutex<Captured>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Captured> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// Copies QEMU's stdout to our stdout and the log file as bytes arrive (so
/// prompts without a newline show up), and parses complete lines.
fn pump_stdout(
    mut src: ChildStdout,
    mut log_file: Option<File>,
    quiet: bool,
    start: Instant,
    shared: Shared,
) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    let stdout = io::stdout();
    let push = |cap: &mut Captured, bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        if cap.log.push_line(&text) == LineKind::CpusOnline {
            cap.cpus_online = Some(start.elapsed());
        }
    };
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let chunk = &buf[..n];
        if !quiet {
            let mut out = stdout.lock();
            let _ = out.write_all(chunk);
            let _ = out.flush();
        }
        if let Some(f) = &mut log_file {
            let _ = f.write_all(chunk);
        }
        pending.extend_from_slice(chunk);
        let mut cap = lock(&shared);
        cap.ended_with_newline = chunk.last() == Some(&b'\n');
        while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            push(&mut cap, &line[..line.len() - 1]);
        }
    }
    let mut cap = lock(&shared);
    if !pending.is_empty() {
        push(&mut cap, &pending);
    }
    if let Some(f) = &mut log_file {
        if !pending.is_empty() {
            let _ = f.write_all(b"\n");
        }
        let _ = f.flush();
    }
    cap.done = true;
}

/// Waits (briefly) for the stdout thread to reach end of file after QEMU
/// has exited.
fn wait_for_reader(shared: &Shared, limit: Duration) {
    let t0 = Instant::now();
    while !lock(shared).done && t0.elapsed() < limit {
        thread::sleep(Duration::from_millis(5));
    }
}

/// Forwards QEMU's stderr and keeps it for the report.
fn pump_stderr(src: ChildStderr, kept: Arc<Mutex<Vec<String>>>) {
    for line in BufReader::new(src).lines() {
        let Ok(line) = line else { break };
        let _ = writeln!(io::stderr(), "{line}");
        kept.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }
}

fn exit_to_end(status: ExitStatus) -> QemuEnd {
    if let Some(code) = status.code() {
        return QemuEnd::Exited(code);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return QemuEnd::Signaled(sig);
        }
    }
    QemuEnd::Signaled(0)
}

/// Waits for QEMU, killing it when the timeout expires.
fn wait_with_timeout(child: &mut Child, timeout: Option<Duration>, start: Instant) -> QemuEnd {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return exit_to_end(status),
            Ok(None) => {}
            Err(e) => {
                eprintln!("weft-runner: waiting for QEMU failed: {e}");
                let _ = child.kill();
                return child
                    .wait()
                    .map(exit_to_end)
                    .unwrap_or(QemuEnd::Signaled(0));
            }
        }
        if let Some(t) = timeout
            && start.elapsed() >= t
        {
            let _ = child.kill();
            let _ = child.wait();
            return QemuEnd::TimedOut(t);
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn run(opts: &RunOptions) -> i32 {
    let cfg = match build_config(opts) {
        Ok(c) => c,
        Err(e) => {
            let label = opts
                .label
                .clone()
                .unwrap_or_else(|| format!("smp={} mem={}", opts.smp, opts.mem));
            return setup_error(opts, &label, &e);
        }
    };
    let label = opts.label.clone().unwrap_or_else(|| cfg.label());
    let (args, command_line) = match (cfg.args(), cfg.command_line()) {
        (Ok(a), Ok(c)) => (a, c),
        (Err(e), _) | (_, Err(e)) => return setup_error(opts, &label, &e.to_string()),
    };
    if opts.dry_run {
        out(&format!("{command_line}\n"));
        return 0;
    }
    let missing = missing_inputs(&cfg);
    if !missing.is_empty() {
        return setup_error(opts, &label, &missing.join("\n             "));
    }

    let mut log_file = None;
    if let Some(path) = &opts.log {
        if let Some(dir) = Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            let _ = std::fs::create_dir_all(dir);
        }
        match File::create(path) {
            Ok(f) => log_file = Some(f),
            Err(e) => return setup_error(opts, &label, &format!("cannot create log {path}: {e}")),
        }
    }

    let mut rep = Reporter { log: log_file };
    rep.line(&format!("runner: {command_line}"));
    if opts.mode == Mode::Run {
        rep.line("runner: Ctrl-A X quits QEMU, Ctrl-A H lists the other keys");
    }
    if opts.gdb {
        rep.line("runner: QEMU waits for gdb on :1234 (-s -S)");
    }

    let start = Instant::now();
    let stdin = if opts.mode == Mode::Run {
        Stdio::inherit()
    } else {
        Stdio::null()
    };
    let mut child = match Command::new(&cfg.qemu)
        .args(&args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return setup_error(
                opts,
                &label,
                &format!(
                    "cannot start {}: {e} (is QEMU installed? `make deps`)",
                    cfg.qemu
                ),
            );
        }
    };
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let quiet = opts.quiet;
    let shared: Shared = Arc::new(Mutex::new(Captured {
        ended_with_newline: true,
        ..Captured::default()
    }));
    let file = rep.log.as_ref().and_then(|f| f.try_clone().ok());
    let reader_state = Arc::clone(&shared);
    thread::spawn(move || pump_stdout(stdout, file, quiet, start, reader_state));
    let stderr_lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let stderr_keep = Arc::clone(&stderr_lines);
    let err_thread = thread::spawn(move || pump_stderr(stderr, stderr_keep));

    let end = wait_with_timeout(&mut child, opts.timeout, start);
    let elapsed = start.elapsed();
    // QEMU is gone; its pipes reach end of file at once unless a process it
    // started still holds them.
    wait_for_reader(&shared, Duration::from_secs(2));
    let t0 = Instant::now();
    while !err_thread.is_finished() && t0.elapsed() < Duration::from_secs(1) {
        thread::sleep(Duration::from_millis(5));
    }
    let captured = std::mem::take(&mut *lock(&shared));
    let stderr_lines = std::mem::take(&mut *stderr_lines.lock().unwrap_or_else(|e| e.into_inner()));
    if !captured.ended_with_newline && !opts.quiet {
        out("\n");
    }
    if let Some(f) = &mut rep.log {
        for l in &stderr_lines {
            let _ = writeln!(f, "qemu stderr: {l}");
        }
    }
    let log = &captured.log;

    match opts.mode {
        Mode::Run => {
            let boot = captured
                .cpus_online
                .map(|t| format!(", cpus online after {}", report::secs(t)))
                .unwrap_or_default();
            rep.line(&format!(
                "runner: QEMU ended ({end}) after {}{boot}",
                report::secs(elapsed)
            ));
            verdict::run_mode_exit_code(end)
        }
        Mode::Test => {
            let v = match &opts.expect_watchdog {
                Some(kind) => verdict::judge_watchdog(log, end, kind, opts.smp),
                None => verdict::judge_test(log, end),
            };
            if !v.ok() {
                failure_report(&mut rep, &label, log, &v, &stderr_lines, opts);
            }
            for n in &v.notes {
                rep.line(&format!("runner: note: {n}"));
            }
            rep.line(&report::result_line(
                &label,
                &v,
                elapsed,
                captured.cpus_online,
            ));
            if let Some(path) = &opts.result {
                append_record(path, &ResultRecord::from_verdict(&label, &v));
            }
            if v.ok() { 0 } else { 1 }
        }
        Mode::Bench => {
            let v = verdict::judge_bench(log, end);
            if !v.ok() {
                failure_report(&mut rep, &label, log, &v, &stderr_lines, opts);
            }
            rep.line(&format!("runner: benchmarks ({label}):"));
            for l in report::bench_table(&log.benches).lines() {
                rep.line(l);
            }
            for n in &v.notes {
                rep.line(&format!("runner: note: {n}"));
            }
            let boot = captured
                .cpus_online
                .map(|t| format!(", cpus online after {}", report::secs(t)))
                .unwrap_or_default();
            let status = if v.ok() {
                String::new()
            } else {
                let tags: Vec<&str> = v.problems.iter().map(|p| p.tag()).collect();
                format!(" FAILED: {}", tags.join(", "))
            };
            rep.line(&format!(
                "runner: {label}: {} benchmark result(s) ({}{boot}){status}",
                log.benches.len(),
                report::secs(elapsed)
            ));
            if let Some(path) = &opts.result {
                append_record(path, &ResultRecord::from_verdict(&label, &v));
            }
            if v.ok() { 0 } else { 1 }
        }
    }
}

fn failure_report(
    rep: &mut Reporter,
    label: &str,
    log: &SerialLog,
    v: &Verdict,
    stderr_lines: &[String],
    opts: &RunOptions,
) {
    rep.line(&format!("runner: ==== {label}: FAILED ===="));
    for p in &v.problems {
        rep.line(&format!("runner: - {p}"));
    }
    let failures: Vec<_> = log.failures().collect();
    if !failures.is_empty() {
        rep.line("runner: failed tests:");
        for t in failures {
            rep.line(&format!("  test {} ... FAILED", t.name));
            for d in &t.details {
                rep.line(&format!("  {d}"));
            }
        }
    }
    if !stderr_lines.is_empty() {
        rep.line("runner: QEMU stderr:");
        for l in stderr_lines.iter().rev().take(TAIL_LINES).rev() {
            rep.line(&format!("  {l}"));
        }
    }
    let tail = log.tail(TAIL_LINES);
    rep.line(&format!(
        "runner: last {} line(s) of serial output:",
        tail.len()
    ));
    for l in tail {
        rep.line(&format!("  | {l}"));
    }
    if let Some(path) = &opts.log {
        rep.line(&format!("runner: full log: {path}"));
    }
}
