//! Human-readable reports: bench tables, the per-run result line, result
//! records for `make test`, and the matrix summary.

use crate::serial::Bench;
use crate::verdict::Verdict;
use std::fmt::Write as _;
use std::time::Duration;

/// Renders benchmarks as an aligned table: name, value (right-aligned, as the
/// guest printed it), unit.
pub fn bench_table(benches: &[Bench]) -> String {
    let name_w = benches
        .iter()
        .map(|b| b.name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let value_w = benches
        .iter()
        .map(|b| b.value_text.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out = String::new();
    let _ = writeln!(out, "  {:<name_w$}  {:>value_w$}  unit", "name", "value");
    for b in benches {
        let _ = writeln!(
            out,
            "  {:<name_w$}  {:>value_w$}  {}",
            b.name, b.value_text, b.unit
        );
    }
    out
}

/// `1.23 s`
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// The one-line result of a test run, e.g.
/// `runner: smp=4 mem=256M: 12 passed, 0 failed (1.23 s, cpus online after 0.09 s)`.
pub fn result_line(
    label: &str,
    verdict: &Verdict,
    elapsed: Duration,
    cpus_online: Option<Duration>,
) -> String {
    let mut s = format!(
        "runner: {label}: {} passed, {} failed ({}",
        verdict.passed,
        verdict.failed,
        secs(elapsed)
    );
    match cpus_online {
        Some(t) => {
            let _ = write!(s, ", cpus online after {}", secs(t));
        }
        None => s.push_str(", no `cpus online` line"),
    }
    s.push(')');
    if !verdict.ok() {
        let tags: Vec<&str> = verdict.problems.iter().map(|p| p.tag()).collect();
        let _ = write!(s, " FAILED: {}", tags.join(", "));
    }
    s
}

/// One record per guest run, written with `--result FILE` and read back by
/// `weft-runner summarize`. Tab-separated:
/// `ok|FAIL <TAB> passed <TAB> failed <TAB> label <TAB> reasons`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRecord {
    pub ok: bool,
    pub passed: u64,
    pub failed: u64,
    pub label: String,
    pub reasons: String,
}

impl ResultRecord {
    pub fn from_verdict(label: &str, v: &Verdict) -> Self {
        let tags: Vec<&str> = v.problems.iter().map(|p| p.tag()).collect();
        ResultRecord {
            ok: v.ok(),
            passed: v.passed as u64,
            failed: v.failed as u64,
            label: label.to_string(),
            reasons: tags.join(","),
        }
    }

    pub fn to_line(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}",
            if self.ok { "ok" } else { "FAIL" },
            self.passed,
            self.failed,
            self.label.replace('\t', " "),
            self.reasons.replace('\t', " ")
        )
    }

    pub fn parse(line: &str) -> Option<Self> {
        let mut f = line.split('\t');
        let ok = match f.next()? {
            "ok" => true,
            "FAIL" => false,
            _ => return None,
        };
        let passed = f.next()?.parse().ok()?;
        let failed = f.next()?.parse().ok()?;
        let label = f.next()?.to_string();
        let reasons = f.next().unwrap_or("").to_string();
        Some(ResultRecord {
            ok,
            passed,
            failed,
            label,
            reasons,
        })
    }
}

/// The outcome of `weft-runner summarize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixSummary {
    pub text: String,
    pub passed: u64,
    pub failed: u64,
    pub ok: bool,
}

/// One input to [`summarize`]: the file name and its content (None if the
/// file could not be read, i.e. the run never wrote its result).
pub type ResultSource = (String, Option<String>);

/// Sums the guest tests over all runs. A run that failed without any FAILED
/// test line (panic, triple fault, timeout, missing summary...) adds one
/// failure, so the closing `<N> passed, <M> failed` line never shows
/// `0 failed` for a failed matrix.
pub fn summarize(sources: &[ResultSource]) -> MatrixSummary {
    let mut text = String::from("runner: test matrix:\n");
    let (mut passed, mut failed, mut all_ok) = (0u64, 0u64, true);
    let mut extra_failures = 0u64;
    let mut runs = 0usize;
    for (name, content) in sources {
        let records: Vec<ResultRecord> = content
            .as_deref()
            .unwrap_or("")
            .lines()
            .filter_map(ResultRecord::parse)
            .collect();
        if records.is_empty() {
            all_ok = false;
            extra_failures += 1;
            failed += 1;
            let _ = writeln!(
                text,
                "  FAIL  {name}: no result recorded (the runner did not finish)"
            );
            continue;
        }
        for r in records {
            runs += 1;
            passed += r.passed;
            failed += r.failed;
            if r.ok {
                let _ = writeln!(
                    text,
                    "  ok    {:<24} {} passed, {} failed",
                    r.label, r.passed, r.failed
                );
            } else {
                all_ok = false;
                if r.failed == 0 {
                    failed += 1;
                    extra_failures += 1;
                }
                let _ = writeln!(
                    text,
                    "  FAIL  {:<24} {} passed, {} failed  ({})",
                    r.label, r.passed, r.failed, r.reasons
                );
            }
        }
    }
    if sources.is_empty() {
        all_ok = false;
        let _ = writeln!(text, "  no result files given");
    }
    if extra_failures > 0 {
        let _ = writeln!(
            text,
            "  ({extra_failures} run(s) failed without a FAILED test line; each counts as one failure)"
        );
    }
    let _ = writeln!(
        text,
        "runner: {} run(s), {}",
        runs,
        if all_ok { "all passed" } else { "FAILED" }
    );
    let _ = writeln!(text, "{passed} passed, {failed} failed");
    MatrixSummary {
        text,
        passed,
        failed,
        ok: all_ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::serial::SerialLog;
    use crate::verdict::{QemuEnd, judge_bench, judge_test};

    #[test]
    fn table_is_aligned() {
        let log = SerialLog::parse_all(fixtures::BENCH);
        let t = bench_table(&log.benches);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0].contains("name") && lines[0].contains("value"));
        // Values are right-aligned: the unit column starts at the same place.
        let unit_col: Vec<usize> = lines[1..]
            .iter()
            .map(|l| l.find(" ns").or(l.find(" us")).unwrap())
            .collect();
        assert!(unit_col.windows(2).all(|w| w[0] == w[1]), "{t}");
        assert!(lines[4].ends_with("us per round trip"));
        let v = judge_bench(&log, QemuEnd::Exited(33));
        assert!(v.ok());
    }

    #[test]
    fn result_line_format() {
        let log = SerialLog::parse_all(fixtures::PASS);
        let v = judge_test(&log, QemuEnd::Exited(33));
        let l = result_line(
            "smp=4 mem=256M",
            &v,
            Duration::from_millis(1234),
            Some(Duration::from_millis(90)),
        );
        assert_eq!(
            l,
            "runner: smp=4 mem=256M: 6 passed, 0 failed (1.23 s, cpus online after 0.09 s)"
        );
        let log = SerialLog::parse_all(fixtures::PANIC);
        let v = judge_test(&log, QemuEnd::Exited(35));
        let l = result_line("smp=2 mem=256M", &v, Duration::from_secs(2), None);
        assert!(l.ends_with("FAILED: panic, exit-35, no-summary"), "{l}");
    }

    #[test]
    fn record_round_trip() {
        let log = SerialLog::parse_all(fixtures::FAILED_TEST);
        let v = judge_test(&log, QemuEnd::Exited(35));
        let r = ResultRecord::from_verdict("smp=1 mem=256M", &v);
        let back = ResultRecord::parse(&r.to_line()).unwrap();
        assert_eq!(back, r);
        assert!(!back.ok);
        assert_eq!((back.passed, back.failed), (5, 1));
        assert_eq!(back.reasons, "failed-tests,exit-35");
        assert!(ResultRecord::parse("garbage").is_none());
    }

    fn rec(ok: bool, p: u64, f: u64, label: &str, reasons: &str) -> String {
        ResultRecord {
            ok,
            passed: p,
            failed: f,
            label: label.into(),
            reasons: reasons.into(),
        }
        .to_line()
    }

    #[test]
    fn matrix_all_pass() {
        let sources = vec![
            ("a".to_string(), Some(rec(true, 6, 0, "smp=1 mem=256M", ""))),
            ("b".to_string(), Some(rec(true, 6, 0, "smp=4 mem=4G", ""))),
        ];
        let s = summarize(&sources);
        assert!(s.ok);
        assert_eq!((s.passed, s.failed), (12, 0));
        assert!(s.text.ends_with("12 passed, 0 failed\n"), "{}", s.text);
    }

    #[test]
    fn matrix_counts_crashes_and_missing_results() {
        let sources = vec![
            ("a".to_string(), Some(rec(true, 6, 0, "smp=1 mem=256M", ""))),
            (
                "b".to_string(),
                Some(rec(false, 5, 1, "smp=2 mem=256M", "failed-tests")),
            ),
            (
                "c".to_string(),
                Some(rec(false, 2, 0, "smp=4 mem=256M", "panic")),
            ),
            ("d".to_string(), None),
        ];
        let s = summarize(&sources);
        assert!(!s.ok);
        assert_eq!((s.passed, s.failed), (13, 3));
        assert!(s.text.ends_with("13 passed, 3 failed\n"), "{}", s.text);
        assert!(s.text.contains("no result recorded"));
    }

    #[test]
    fn matrix_with_nothing_fails() {
        assert!(!summarize(&[]).ok);
    }
}
