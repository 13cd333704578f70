//! Turns a parsed serial log plus the way QEMU ended into a verdict.

use crate::serial::{SerialLog, message_part};
use std::fmt;
use std::time::Duration;

/// QEMU exit status when the guest writes 0x10 to isa-debug-exit.
pub const EXIT_SUCCESS: i32 = 33;
/// QEMU exit status when the guest writes 0x11 to isa-debug-exit.
pub const EXIT_FAILURE: i32 = 35;

/// How the QEMU process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QemuEnd {
    /// Normal exit with a status code.
    Exited(i32),
    /// Killed by a signal we did not send.
    Signaled(i32),
    /// We killed it after the timeout.
    TimedOut(Duration),
}

impl fmt::Display for QemuEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QemuEnd::Exited(c) => write!(f, "exit status {c}"),
            QemuEnd::Signaled(s) => write!(f, "killed by signal {s}"),
            QemuEnd::TimedOut(d) => write!(f, "timed out after {} s", d.as_secs()),
        }
    }
}

/// One reason a run failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    FailedTests(usize),
    /// The kernel's lockup watchdog fired (the `WATCHDOG: ` line).
    Watchdog(String),
    /// A run that must end in a particular way (`--expect-watchdog`) did not.
    Expectation(String),
    Fatal(String),
    TripleFault,
    GuestFailureExit,
    Timeout(Duration),
    QemuStatus(i32),
    QemuSignal(i32),
    MissingSummary,
    SummaryMismatch {
        guest_passed: u64,
        guest_failed: u64,
        counted_passed: usize,
        counted_failed: usize,
    },
}

impl Problem {
    /// Short tag used in result records and the matrix summary.
    pub fn tag(&self) -> &'static str {
        match self {
            Problem::FailedTests(_) => "failed-tests",
            Problem::Watchdog(_) => "watchdog",
            Problem::Expectation(_) => "expectation",
            Problem::Fatal(_) => "panic",
            Problem::TripleFault => "triple-fault",
            Problem::GuestFailureExit => "exit-35",
            Problem::Timeout(_) => "timeout",
            Problem::QemuStatus(_) => "qemu-status",
            Problem::QemuSignal(_) => "qemu-signal",
            Problem::MissingSummary => "no-summary",
            Problem::SummaryMismatch { .. } => "summary-mismatch",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::FailedTests(n) => write!(f, "{n} test(s) FAILED"),
            Problem::Watchdog(line) => write!(
                f,
                "the kernel's lockup watchdog fired: {line} (every CPU's registers and \
                 backtrace follow it in the log)"
            ),
            Problem::Expectation(what) => write!(f, "{what}"),
            Problem::Fatal(line) => write!(f, "the guest crashed: {line}"),
            Problem::TripleFault => write!(
                f,
                "QEMU exited with status 0 without isa-debug-exit: the guest reset \
                 (triple fault?) and -no-reboot ended QEMU"
            ),
            Problem::GuestFailureExit => write!(
                f,
                "the guest reported failure through isa-debug-exit (QEMU exit status {EXIT_FAILURE})"
            ),
            Problem::Timeout(d) => write!(
                f,
                "timeout: no isa-debug-exit within {} s, QEMU was killed",
                d.as_secs()
            ),
            Problem::QemuStatus(c) => write!(
                f,
                "QEMU exited with unexpected status {c} (not {EXIT_SUCCESS}/{EXIT_FAILURE}; \
                 see its stderr above)"
            ),
            Problem::QemuSignal(s) => write!(f, "QEMU was killed by signal {s}"),
            Problem::MissingSummary => write!(
                f,
                "no `<N> passed, <M> failed` summary line in the serial output"
            ),
            Problem::SummaryMismatch {
                guest_passed,
                guest_failed,
                counted_passed,
                counted_failed,
            } => write!(
                f,
                "the guest summary says {guest_passed} passed, {guest_failed} failed, but the \
                 runner counted {counted_passed} passed, {counted_failed} failed"
            ),
        }
    }
}

/// Outcome of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub passed: usize,
    pub failed: usize,
    pub problems: Vec<Problem>,
    /// Things worth saying that do not fail the run.
    pub notes: Vec<String>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Problems that come from how QEMU ended and from fatal lines; shared by the
/// test and bench verdicts.
fn crash_problems(log: &SerialLog, end: QemuEnd, problems: &mut Vec<Problem>) {
    if let Some(w) = log.watchdogs.first() {
        problems.push(Problem::Watchdog(w.line.clone()));
    }
    if let Some(f) = log.fatals.first() {
        problems.push(Problem::Fatal(f.line.clone()));
    }
    match end {
        QemuEnd::Exited(EXIT_SUCCESS) => {}
        QemuEnd::Exited(EXIT_FAILURE) => problems.push(Problem::GuestFailureExit),
        QemuEnd::Exited(0) => problems.push(Problem::TripleFault),
        QemuEnd::Exited(c) => problems.push(Problem::QemuStatus(c)),
        QemuEnd::Signaled(s) => problems.push(Problem::QemuSignal(s)),
        QemuEnd::TimedOut(d) => problems.push(Problem::Timeout(d)),
    }
}

/// Whether the guest's summary lines agree with the counted test lines.
///
/// The contract is one final summary covering every test. The check also
/// accepts per-suite summaries (each one covering the tests printed since the
/// previous summary), so that a guest that prints a summary per suite is not
/// reported as inconsistent when its numbers are right.
fn summary_problem(log: &SerialLog) -> Option<Problem> {
    let last = log.summaries.last()?;
    let counted_passed = log.passed();
    let counted_failed = log.failed();
    if last.passed == counted_passed as u64 && last.failed == counted_failed as u64 {
        return None;
    }
    if log.summaries.len() > 1 && per_suite_summaries_agree(log) {
        return None;
    }
    Some(Problem::SummaryMismatch {
        guest_passed: last.passed,
        guest_failed: last.failed,
        counted_passed,
        counted_failed,
    })
}

fn per_suite_summaries_agree(log: &SerialLog) -> bool {
    let mut start = 0;
    for s in &log.summaries {
        let segment = &log.tests[start..s.tests_before];
        let p = segment.iter().filter(|t| t.passed).count() as u64;
        let f = segment.len() as u64 - p;
        if (p, f) != (s.passed, s.failed) {
            return false;
        }
        start = s.tests_before;
    }
    // Test lines after the last summary are not covered by any summary.
    start == log.tests.len()
}

/// Verdict for `--mode test`.
pub fn judge_test(log: &SerialLog, end: QemuEnd) -> Verdict {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let failed = log.failed();
    if failed > 0 {
        problems.push(Problem::FailedTests(failed));
    }
    crash_problems(log, end, &mut problems);
    if log.summaries.is_empty() {
        problems.push(Problem::MissingSummary);
    } else if let Some(p) = summary_problem(log) {
        problems.push(p);
    }
    if log.tests.is_empty() && problems.is_empty() {
        notes.push("no tests ran (does the filter match any test name?)".to_string());
    }
    Verdict {
        passed: log.passed(),
        failed,
        problems,
        notes,
    }
}

/// The function the watchdog self-tests spin in (kernel/src/ktest/watchdog_tests.rs);
/// the stuck CPU's report must name it.
pub const SELFTEST_SPIN_SYMBOL: &str = "watchdog_selftest_spin";

/// Verdict for `--expect-watchdog KIND` (a watchdog self-test): the run passes
/// (as one test) only if it ended in the watchdog's report of a `kind` lockup:
/// the `WATCHDOG: <kind> lockup on cpuK` line, a register report from each of the
/// `smp` CPUs, the stuck CPU's naming [`SELFTEST_SPIN_SYMBOL`] with a backtrace,
/// then the panic and its failure exit.
pub fn judge_watchdog(log: &SerialLog, end: QemuEnd, kind: &str, smp: u32) -> Verdict {
    let mut problems = Vec::new();
    let want = format!("WATCHDOG: {kind} lockup on cpu");
    let fired = log.watchdogs.first().map(|w| message_part_owned(&w.line));
    let stuck = match &fired {
        None => {
            problems.push(Problem::Expectation(format!(
                "expected the watchdog to report a {kind} lockup; no `WATCHDOG:` line was printed"
            )));
            None
        }
        Some(line) if !line.starts_with(&want) => {
            problems.push(Problem::Expectation(format!(
                "expected a {kind} lockup, the watchdog said: {line}"
            )));
            None
        }
        Some(line) => line[want.len()..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse::<u32>().ok()),
    };
    let start = log.watchdogs.first().map_or(usize::MAX, |w| w.line_no);
    let after: Vec<(usize, &str)> = log
        .lines
        .iter()
        .enumerate()
        .skip(start)
        .map(|(i, l)| (i + 1, message_part(l)))
        .collect();
    let header = |cpu: u32| format!("watchdog: cpu{cpu} ");
    for cpu in 0..smp {
        if !after.iter().any(|(_, l)| l.starts_with(&header(cpu))) {
            problems.push(Problem::Expectation(format!(
                "cpu{cpu} printed no register report after the WATCHDOG line"
            )));
        }
    }
    if let Some(k) = stuck {
        let section: Vec<&str> = after
            .iter()
            .map(|(_, l)| *l)
            .skip_while(|l| !l.starts_with(&header(k)))
            .skip(1)
            .take_while(|l| !l.starts_with("watchdog: cpu") && !l.starts_with("KERNEL PANIC"))
            .collect();
        let named = section.iter().any(|l| l.contains(SELFTEST_SPIN_SYMBOL));
        let backtrace = section.iter().any(|l| l.trim() == "backtrace:");
        if !named || !backtrace {
            problems.push(Problem::Expectation(format!(
                "the stuck cpu{k}'s report does not show it in `{SELFTEST_SPIN_SYMBOL}` with a \
                 backtrace"
            )));
        }
    }
    if !log.fatals.iter().any(|f| f.line_no > start) {
        problems.push(Problem::Expectation(
            "no KERNEL PANIC followed the watchdog's report".into(),
        ));
    }
    if end != QemuEnd::Exited(EXIT_FAILURE) {
        problems.push(Problem::Expectation(format!(
            "QEMU ended with {end}, not the panic's exit status {EXIT_FAILURE}"
        )));
    }
    let ok = problems.is_empty();
    Verdict {
        passed: ok as usize,
        failed: !ok as usize,
        problems,
        notes: Vec::new(),
    }
}

fn message_part_owned(line: &str) -> String {
    message_part(line).to_string()
}

/// Verdict for `--mode bench`: values never fail a run, crashes do.
pub fn judge_bench(log: &SerialLog, end: QemuEnd) -> Verdict {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    crash_problems(log, end, &mut problems);
    if log.benches.is_empty() {
        notes.push("the guest printed no `bench <name> <value> <unit>` lines".to_string());
    }
    Verdict {
        passed: log.passed(),
        failed: log.failed(),
        problems,
        notes,
    }
}

/// Process exit code of the runner for `--mode run`: 0 when QEMU ended
/// normally (guest success, or the user quit QEMU with Ctrl-A X), 1 when the
/// guest reported failure, QEMU's own status otherwise.
pub fn run_mode_exit_code(end: QemuEnd) -> i32 {
    match end {
        QemuEnd::Exited(EXIT_SUCCESS) | QemuEnd::Exited(0) => 0,
        QemuEnd::Exited(EXIT_FAILURE) => 1,
        // The guest's `exit_with_status(s)` for s in 1..=63 (weft-arch qemu.rs).
        QemuEnd::Exited(c) if (129..=255).contains(&c) && c % 2 == 1 => (c - 129) / 2,
        QemuEnd::Exited(c) => c,
        QemuEnd::Signaled(_) | QemuEnd::TimedOut(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn tags(v: &Verdict) -> Vec<&'static str> {
        v.problems.iter().map(Problem::tag).collect()
    }

    #[test]
    fn passing_run() {
        let log = SerialLog::parse_all(fixtures::PASS);
        let v = judge_test(&log, QemuEnd::Exited(EXIT_SUCCESS));
        assert!(v.ok(), "{:?}", v.problems);
        assert_eq!((v.passed, v.failed), (6, 0));
    }

    #[test]
    fn failing_test() {
        let log = SerialLog::parse_all(fixtures::FAILED_TEST);
        let v = judge_test(&log, QemuEnd::Exited(EXIT_FAILURE));
        assert!(!v.ok());
        assert_eq!(tags(&v), ["failed-tests", "exit-35"]);
        assert_eq!((v.passed, v.failed), (5, 1));
    }

    #[test]
    fn failed_test_fails_even_with_success_exit() {
        let log = SerialLog::parse_all(fixtures::FAILED_TEST);
        let v = judge_test(&log, QemuEnd::Exited(EXIT_SUCCESS));
        assert_eq!(tags(&v), ["failed-tests"]);
    }

    #[test]
    fn panic() {
        let log = SerialLog::parse_all(fixtures::PANIC);
        let v = judge_test(&log, QemuEnd::Exited(EXIT_FAILURE));
        assert_eq!(tags(&v), ["panic", "exit-35", "no-summary"]);
        assert!(v.problems[0].to_string().contains("KERNEL PANIC on cpu2"));
    }

    #[test]
    fn exception() {
        let log = SerialLog::parse_all(fixtures::EXCEPTION);
        let v = judge_test(&log, QemuEnd::Exited(EXIT_FAILURE));
        assert_eq!(tags(&v), ["panic", "exit-35", "no-summary"]);
        assert!(v.problems[0].to_string().contains("#PF"));
    }

    #[test]
    fn triple_fault() {
        let log = SerialLog::parse_all(fixtures::TRIPLE_FAULT);
        let v = judge_test(&log, QemuEnd::Exited(0));
        assert_eq!(tags(&v), ["triple-fault", "no-summary"]);
    }

    #[test]
    fn triple_fault_after_a_complete_run_still_fails() {
        let log = SerialLog::parse_all(fixtures::PASS);
        let v = judge_test(&log, QemuEnd::Exited(0));
        assert_eq!(tags(&v), ["triple-fault"]);
    }

    #[test]
    fn timeout() {
        let log = SerialLog::parse_all(fixtures::TIMEOUT);
        let v = judge_test(&log, QemuEnd::TimedOut(Duration::from_secs(300)));
        assert_eq!(tags(&v), ["timeout", "no-summary"]);
        assert!(v.problems[0].to_string().contains("300 s"));
        assert_eq!(v.passed, 2);
    }

    #[test]
    fn summary_mismatch() {
        let log = SerialLog::parse_all(fixtures::MISMATCH);
        let v = judge_test(&log, QemuEnd::Exited(EXIT_SUCCESS));
        assert_eq!(tags(&v), ["summary-mismatch"]);
        let msg = v.problems[0].to_string();
        assert!(msg.contains("4 passed, 0 failed"), "{msg}");
        assert!(msg.contains("3 passed, 0 failed"), "{msg}");
    }

    #[test]
    fn missing_summary() {
        let log = SerialLog::parse_all(fixtures::NO_SUMMARY);
        let v = judge_test(&log, QemuEnd::Exited(EXIT_SUCCESS));
        assert_eq!(tags(&v), ["no-summary"]);
    }

    #[test]
    fn per_suite_summaries_are_accepted() {
        let text = "test a ... ok\ntest b ... ok\n2 passed, 0 failed\n\
                    test c ... ok\n1 passed, 0 failed\n";
        let log = SerialLog::parse_all(text);
        assert!(judge_test(&log, QemuEnd::Exited(EXIT_SUCCESS)).ok());
        // ...but not when tests follow the last summary.
        let text = "test a ... ok\n1 passed, 0 failed\ntest b ... ok\n1 passed, 0 failed\n\
                    test c ... ok\n";
        let log = SerialLog::parse_all(text);
        let v = judge_test(&log, QemuEnd::Exited(EXIT_SUCCESS));
        assert_eq!(tags(&v), ["summary-mismatch"]);
    }

    #[test]
    fn cumulative_summaries_are_accepted() {
        let text = "test a ... ok\n1 passed, 0 failed\ntest b ... ok\n2 passed, 0 failed\n";
        let log = SerialLog::parse_all(text);
        assert!(judge_test(&log, QemuEnd::Exited(EXIT_SUCCESS)).ok());
    }

    #[test]
    fn unexpected_qemu_status_and_signal() {
        let log = SerialLog::parse_all("");
        let v = judge_test(&log, QemuEnd::Exited(1));
        assert_eq!(tags(&v), ["qemu-status", "no-summary"]);
        let v = judge_test(&log, QemuEnd::Signaled(9));
        assert_eq!(tags(&v), ["qemu-signal", "no-summary"]);
    }

    #[test]
    fn empty_filter_is_a_note_not_a_failure() {
        let log = SerialLog::parse_all("0 passed, 0 failed\n");
        let v = judge_test(&log, QemuEnd::Exited(EXIT_SUCCESS));
        assert!(v.ok());
        assert_eq!(v.notes.len(), 1);
    }

    #[test]
    fn bench_never_fails_on_values() {
        let log = SerialLog::parse_all(fixtures::BENCH);
        let v = judge_bench(&log, QemuEnd::Exited(EXIT_SUCCESS));
        assert!(v.ok());
        let v = judge_bench(&log, QemuEnd::Exited(0));
        assert_eq!(tags(&v), ["triple-fault"]);
    }

    #[test]
    fn watchdog_line_fails_the_run_first() {
        let log = SerialLog::parse_all(fixtures::WATCHDOG_HARD);
        let v = judge_test(&log, QemuEnd::Exited(EXIT_FAILURE));
        assert_eq!(tags(&v), ["watchdog", "panic", "exit-35", "no-summary"]);
        let msg = v.problems[0].to_string();
        assert!(msg.contains("WATCHDOG: hard lockup on cpu0"), "{msg}");
        // A watchdog report fails a run even when everything else looks fine.
        let text =
            "test a ... ok\n[    1.0 cpu1] WATCHDOG: soft lockup on cpu1: x\n1 passed, 0 failed\n";
        let v = judge_test(&SerialLog::parse_all(text), QemuEnd::Exited(EXIT_SUCCESS));
        assert_eq!(tags(&v), ["watchdog"]);
    }

    #[test]
    fn expected_watchdog_reports_pass() {
        for (text, kind) in [
            (fixtures::WATCHDOG_HARD, "hard"),
            (fixtures::WATCHDOG_SOFT, "soft"),
        ] {
            let log = SerialLog::parse_all(text);
            let v = judge_watchdog(&log, QemuEnd::Exited(EXIT_FAILURE), kind, 2);
            assert!(v.ok(), "{kind}: {:?}", v.problems);
            assert_eq!((v.passed, v.failed), (1, 0));
        }
    }

    #[test]
    fn expected_watchdog_reports_that_fall_short_fail() {
        let exp = |v: &Verdict| -> Vec<String> {
            assert_eq!((v.passed, v.failed), (0, 1));
            v.problems.iter().map(|p| p.to_string()).collect()
        };
        // Wrong kind.
        let log = SerialLog::parse_all(fixtures::WATCHDOG_HARD);
        let v = judge_watchdog(&log, QemuEnd::Exited(EXIT_FAILURE), "soft", 2);
        assert!(
            exp(&v)[0].contains("expected a soft lockup"),
            "{:?}",
            v.problems
        );
        // A CPU that never answered its NMI.
        let v = judge_watchdog(&log, QemuEnd::Exited(EXIT_FAILURE), "hard", 3);
        assert!(
            exp(&v)
                .iter()
                .any(|p| p.contains("cpu2 printed no register report"))
        );
        // The stuck CPU's report lost its frames.
        let cut: String = fixtures::WATCHDOG_HARD
            .lines()
            .filter(|l| !l.contains(SELFTEST_SPIN_SYMBOL))
            .map(|l| format!("{l}\n"))
            .collect();
        let v = judge_watchdog(
            &SerialLog::parse_all(&cut),
            QemuEnd::Exited(EXIT_FAILURE),
            "hard",
            2,
        );
        assert!(
            exp(&v).iter().any(|p| p.contains("stuck cpu0")),
            "{:?}",
            v.problems
        );
        // No watchdog at all: the spin ran into the runner's timeout.
        let log = SerialLog::parse_all(fixtures::PASS);
        let v = judge_watchdog(&log, QemuEnd::TimedOut(Duration::from_secs(60)), "hard", 2);
        let e = exp(&v);
        assert!(e[0].contains("no `WATCHDOG:` line"), "{e:?}");
        assert!(e.iter().any(|p| p.contains("timed out")), "{e:?}");
    }

    #[test]
    fn run_mode_codes() {
        assert_eq!(run_mode_exit_code(QemuEnd::Exited(33)), 0);
        assert_eq!(run_mode_exit_code(QemuEnd::Exited(0)), 0);
        assert_eq!(run_mode_exit_code(QemuEnd::Exited(35)), 1);
        assert_eq!(run_mode_exit_code(QemuEnd::Exited(1)), 1);
        assert_eq!(run_mode_exit_code(QemuEnd::Exited(129 + 2 * 3)), 3);
        assert_eq!(run_mode_exit_code(QemuEnd::Exited(129 + 2 * 63)), 63);
    }
}
