//! End-to-end tests of the runner binary against a fake QEMU (a shell script
//! that prints a fixture and exits with a chosen status). They check process
//! handling: exit statuses, the timeout kill, log and result files.

#![cfg(unix)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const RUNNER: &str = env!("CARGO_BIN_EXE_weft-runner");

/// A scratch directory with dummy boot files and a fake QEMU.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("weft-runner-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        for f in ["loader", "kernel", "initramfs.tar", "bios.rom"] {
            fs::write(dir.join(f), b"dummy").unwrap();
        }
        Scratch { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }

    /// Writes a fake QEMU that prints `fixture` and then runs `tail` (shell).
    fn fake_qemu(&self, fixture: &str, tail: &str) -> String {
        let fixture_path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(fixture);
        let script = format!(
            "#!/bin/sh\necho \"$@\" > '{args}'\ncat '{fx}'\n{tail}\n",
            args = self.path("args.txt"),
            fx = fixture_path.display(),
        );
        let p = self.dir.join("fake-qemu");
        fs::write(&p, script).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p.to_str().unwrap().to_string()
    }

    fn run(&self, qemu: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "--qemu".to_string(),
            qemu.to_string(),
            "--bios".into(),
            self.path("bios.rom"),
            "--loader".into(),
            self.path("loader"),
            "--kernel".into(),
            self.path("kernel"),
            "--initramfs".into(),
            self.path("initramfs.tar"),
            "--log".into(),
            self.path("serial.log"),
            "--result".into(),
            self.path("result.txt"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Command::new(RUNNER).args(&args).output().unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn passing_run_exits_zero_and_records_the_result() {
    let s = Scratch::new("pass");
    let q = s.fake_qemu("pass.txt", "exit 33");
    let o = s.run(&q, &["--smp", "4"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("runner: smp=4 mem=256M: 6 passed, 0 failed ("),
        "{out}"
    );
    assert!(out.contains("cpus online after"), "{out}");
    let log = fs::read_to_string(s.path("serial.log")).unwrap();
    assert!(log.contains("test futex::wake_before_wait ... ok"));
    let rec = fs::read_to_string(s.path("result.txt")).unwrap();
    assert!(rec.starts_with("ok\t6\t0\tsmp=4 mem=256M"), "{rec}");
    // The conventions' command line reached QEMU.
    let args = fs::read_to_string(s.path("args.txt")).unwrap();
    assert!(args.contains("-serial stdio -no-reboot"), "{args}");
    assert!(args.contains("kernel test,"), "{args}");
}

#[test]
fn failed_test_is_reported_with_details_and_tail() {
    let s = Scratch::new("fail");
    let q = s.fake_qemu("failed_test.txt", "exit 35");
    let o = s.run(&q, &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(out.contains("runner: failed tests:"), "{out}");
    assert!(out.contains("      assertion failed: woken == 2"), "{out}");
    assert!(out.contains("last 13 line(s) of serial output"), "{out}");
    assert!(out.contains("FAILED: failed-tests, exit-35"), "{out}");
}

#[test]
fn triple_fault_is_status_zero() {
    let s = Scratch::new("triple");
    let q = s.fake_qemu("triple_fault.txt", "exit 0");
    let o = s.run(&q, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("triple fault"));
}

#[test]
fn timeout_kills_qemu() {
    let s = Scratch::new("timeout");
    let q = s.fake_qemu("timeout.txt", "exec sleep 30");
    let t0 = Instant::now();
    let o = s.run(&q, &["--timeout", "1"]);
    assert!(t0.elapsed() < Duration::from_secs(10));
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out.contains("timeout: no isa-debug-exit within 1 s"),
        "{out}"
    );
    // The partial last line was still captured.
    assert!(
        out.contains("  | test futex::wake_before_wait ..."),
        "{out}"
    );
}

#[test]
fn reader_does_not_hang_on_an_inherited_pipe() {
    // The fake QEMU leaves a child behind that keeps stdout open.
    let s = Scratch::new("orphan");
    let q = s.fake_qemu("pass.txt", "sleep 30 &\nexit 33");
    let t0 = Instant::now();
    let o = s.run(&q, &[]);
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn bench_mode_prints_a_table() {
    let s = Scratch::new("bench");
    let q = s.fake_qemu("bench.txt", "exit 33");
    let o = s.run(&q, &["--mode", "bench"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("runner: benchmarks (smp=1 mem=256M):"),
        "{out}"
    );
    assert!(out.contains("thread_create_join"), "{out}");
    let args = fs::read_to_string(s.path("args.txt")).unwrap();
    assert!(args.contains("kernel bench,"), "{args}");
}

#[test]
fn missing_files_are_a_setup_error() {
    let s = Scratch::new("missing");
    let q = s.fake_qemu("pass.txt", "exit 33");
    let o = s.run(&q, &["--kernel", "/nonexistent/kernel"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing kernel"));
    let rec = fs::read_to_string(s.path("result.txt")).unwrap();
    assert!(rec.starts_with("FAIL\t0\t0\t"), "{rec}");
}

#[test]
fn summarize_sums_the_matrix() {
    let s = Scratch::new("summarize");
    let a = s.path("a.txt");
    let b = s.path("b.txt");
    fs::write(&a, "ok\t6\t0\tsmp=1 mem=256M\t\n").unwrap();
    fs::write(&b, "FAIL\t2\t0\tsmp=4 mem=4G\tpanic\n").unwrap();
    let o = Command::new(RUNNER)
        .args(["summarize", &a, &b])
        .output()
        .unwrap();
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(out.ends_with("\n8 passed, 1 failed\n"), "{out}");
}
