//! Parser for the guest's serial output (see docs/conventions.md, "Serial output
//! contract").
//!
//! The parser is fed one line at a time, without the line terminator. It never
//! fails: lines it does not recognise are kept for the "last lines" report and
//! otherwise ignored.

/// One `test <name> ... ok|FAILED` line, with the indented detail lines that
/// followed a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    pub name: String,
    pub passed: bool,
    /// Indented lines printed right after a `FAILED` line.
    pub details: Vec<String>,
    /// 1-based line number in the serial output.
    pub line_no: usize,
}

/// One `bench <name> <value> <unit>` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Bench {
    pub name: String,
    /// The value exactly as the guest printed it (keeps its formatting).
    pub value_text: String,
    pub value: f64,
    pub unit: String,
}

/// One `<N> passed, <M> failed` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub passed: u64,
    pub failed: u64,
    pub line_no: usize,
    /// How many test lines had been seen when this summary was printed.
    pub tests_before: usize,
}

/// A `KERNEL PANIC` or `EXCEPTION` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fatal {
    pub line: String,
    pub line_no: usize,
}

/// What a single line turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Test,
    Detail,
    Summary,
    Bench,
    Fatal,
    /// A `WATCHDOG: ` line: the kernel's lockup watchdog fired.
    Watchdog,
    /// The first line that contains `cpus online`.
    CpusOnline,
    Other,
}

/// Marker the kernel prints once all CPUs are up (used for boot timing).
pub const CPUS_ONLINE_MARKER: &str = "cpus online";

/// Accumulated parse state of one guest run.
#[derive(Debug, Default, Clone)]
pub struct SerialLog {
    pub lines: Vec<String>,
    pub tests: Vec<TestResult>,
    pub summaries: Vec<Summary>,
    pub benches: Vec<Bench>,
    pub fatals: Vec<Fatal>,
    /// `WATCHDOG: ` lines (lockups the kernel's watchdog reported).
    pub watchdogs: Vec<Fatal>,
    /// Line number of the first line containing [`CPUS_ONLINE_MARKER`].
    pub cpus_online_line: Option<usize>,
    /// Index into `tests` of a failed test that may still receive detail lines.
    open_failure: Option<usize>,
}

impl SerialLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a whole captured output (used by tests and for log files).
    pub fn parse_all(text: &str) -> Self {
        let mut log = Self::new();
        for line in text.lines() {
            log.push_line(line);
        }
        log
    }

    /// Feeds one line (terminator already removed; a trailing `\r` is fine).
    pub fn push_line(&mut self, raw: &str) -> LineKind {
        let line = clean_line(raw);
        self.lines.push(line.clone());
        let line_no = self.lines.len();

        // Detail lines: indented lines right after a FAILED test line.
        if let Some(idx) = self.open_failure {
            if !line.is_empty() && line.starts_with([' ', '\t']) {
                self.tests[idx].details.push(line.trim_end().to_string());
                return LineKind::Detail;
            }
            self.open_failure = None;
        }

        if is_watchdog(&line) {
            self.watchdogs.push(Fatal {
                line: line.clone(),
                line_no,
            });
            return LineKind::Watchdog;
        }
        if is_fatal(&line) {
            self.fatals.push(Fatal {
                line: line.clone(),
                line_no,
            });
            return LineKind::Fatal;
        }
        if let Some((name, passed)) = parse_test_line(&line) {
            self.tests.push(TestResult {
                name,
                passed,
                details: Vec::new(),
                line_no,
            });
            if !passed {
                self.open_failure = Some(self.tests.len() - 1);
            }
            return LineKind::Test;
        }
        if let Some((passed, failed)) = parse_summary_line(&line) {
            self.summaries.push(Summary {
                passed,
                failed,
                line_no,
                tests_before: self.tests.len(),
            });
            return LineKind::Summary;
        }
        if let Some(bench) = parse_bench_line(&line) {
            self.benches.push(bench);
            return LineKind::Bench;
        }
        if self.cpus_online_line.is_none() && line.contains(CPUS_ONLINE_MARKER) {
            self.cpus_online_line = Some(line_no);
            return LineKind::CpusOnline;
        }
        LineKind::Other
    }

    pub fn passed(&self) -> usize {
        self.tests.iter().filter(|t| t.passed).count()
    }

    pub fn failed(&self) -> usize {
        self.tests.iter().filter(|t| !t.passed).count()
    }

    pub fn failures(&self) -> impl Iterator<Item = &TestResult> {
        self.tests.iter().filter(|t| !t.passed)
    }

    /// The last `n` lines of output.
    pub fn tail(&self, n: usize) -> &[String] {
        let start = self.lines.len().saturating_sub(n);
        &self.lines[start..]
    }
}

/// Drops carriage returns and other control characters that a serial console
/// may emit (ANSI escape sequences are left alone; they never start a
/// contract line).
fn clean_line(raw: &str) -> String {
    raw.chars()
        .filter(|&c| c == '\t' || c == '\x1b' || !c.is_control())
        .collect()
}

/// The message part of a log line `[<secs> cpu<N>] <message>`, or the whole
/// line if it has no such prefix.
pub fn message_part(line: &str) -> &str {
    if line.starts_with('[')
        && let Some(end) = line.find("] ")
    {
        return &line[end + 2..];
    }
    line
}

/// `KERNEL PANIC` / `EXCEPTION` at the start of the line, either raw or after
/// a log prefix (a panic handler may well go through the logger).
pub fn is_fatal(line: &str) -> bool {
    let starts = |s: &str| s.starts_with("KERNEL PANIC") || s.starts_with("EXCEPTION");
    starts(line) || starts(message_part(line))
}

/// `WATCHDOG: ` at the start of the line (raw or after a log prefix): the
/// kernel's lockup watchdog fired; every CPU's registers follow.
pub fn is_watchdog(line: &str) -> bool {
    line.starts_with("WATCHDOG: ") || message_part(line).starts_with("WATCHDOG: ")
}

/// `test <name> ... ok` / `test <name> ... FAILED`. Anything after the status
/// word (e.g. a duration) is ignored.
pub fn parse_test_line(line: &str) -> Option<(String, bool)> {
    let rest = line.strip_prefix("test ")?;
    let sep = rest.rfind(" ... ")?;
    let name = rest[..sep].trim();
    let status = rest[sep + 5..].split_whitespace().next()?;
    if name.is_empty() {
        return None;
    }
    let passed = match status {
        "ok" => true,
        "FAILED" => false,
        _ => return None,
    };
    Some((name.to_string(), passed))
}

/// `<N> passed, <M> failed`, optionally followed by `, ...` (for example
/// `, 2 skipped`) and optionally preceded by one `word:`.
pub fn parse_summary_line(line: &str) -> Option<(u64, u64)> {
    let mut s = line.trim_end();
    if let Some((head, tail)) = s.split_once(": ")
        && !head.is_empty()
        && !head.contains(char::is_whitespace)
    {
        s = tail;
    }
    let (passed, rest) = s.split_once(" passed, ")?;
    let passed: u64 = parse_count(passed)?;
    let (failed, tail) = rest.split_once(" failed")?;
    if !tail.is_empty() && !tail.starts_with(", ") {
        return None;
    }
    let failed: u64 = parse_count(failed)?;
    Some((passed, failed))
}

fn parse_count(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `bench <name> <value> <unit>`; the unit may contain spaces.
pub fn parse_bench_line(line: &str) -> Option<Bench> {
    let rest = line.strip_prefix("bench ")?;
    let mut words = rest.split_whitespace();
    let name = words.next()?;
    let value_text = words.next()?;
    let unit: Vec<&str> = words.collect();
    if unit.is_empty() {
        return None;
    }
    let value: f64 = value_text.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    Some(Bench {
        name: name.to_string(),
        value_text: value_text.to_string(),
        value,
        unit: unit.join(" "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn test_lines() {
        assert_eq!(
            parse_test_line("test mm::frame_alloc ... ok"),
            Some(("mm::frame_alloc".into(), true))
        );
        assert_eq!(
            parse_test_line("test futex wake order ... FAILED"),
            Some(("futex wake order".into(), false))
        );
        assert_eq!(
            parse_test_line("test sched::steal ... ok (12 ms)"),
            Some(("sched::steal".into(), true))
        );
        assert_eq!(parse_test_line("test a ... ignored"), None);
        assert_eq!(parse_test_line("test  ... ok"), None);
        assert_eq!(parse_test_line("testing things ... ok"), None);
        assert_eq!(parse_test_line("[0.000100 cpu0] test x ... ok"), None);
    }

    #[test]
    fn summary_lines() {
        assert_eq!(parse_summary_line("12 passed, 0 failed"), Some((12, 0)));
        assert_eq!(parse_summary_line("3 passed, 2 failed\r"), Some((3, 2)));
        assert_eq!(
            parse_summary_line("3 passed, 2 failed, 1 skipped"),
            Some((3, 2))
        );
        assert_eq!(
            parse_summary_line("ktest: 3 passed, 0 failed"),
            Some((3, 0))
        );
        assert_eq!(parse_summary_line("x 3 passed, 0 failed"), None);
        assert_eq!(parse_summary_line("3 passed, 0 failedx"), None);
        assert_eq!(parse_summary_line("-1 passed, 0 failed"), None);
        assert_eq!(parse_summary_line("passed, failed"), None);
    }

    #[test]
    fn bench_lines() {
        let b = parse_bench_line("bench futex_wake 123.5 ns").unwrap();
        assert_eq!(b.name, "futex_wake");
        assert_eq!(b.value_text, "123.5");
        assert_eq!(b.unit, "ns");
        let b = parse_bench_line("bench spawn_join 4 us per thread").unwrap();
        assert_eq!(b.unit, "us per thread");
        assert!(parse_bench_line("bench x fast ns").is_none());
        assert!(parse_bench_line("bench x 12").is_none());
        assert!(parse_bench_line("benchmarks start").is_none());
    }

    #[test]
    fn watchdog_lines() {
        assert!(is_watchdog(
            "WATCHDOG: hard lockup on cpu0: no timer interrupt for 1.0 s"
        ));
        assert!(is_watchdog(
            "[   12.000100 cpu1] WATCHDOG: soft lockup on cpu1"
        ));
        assert!(!is_watchdog(
            "watchdog: cpu1 idle context, NMI in kernel mode:"
        ));
        assert!(!is_watchdog(
            "[    0.028091 cpu0] watchdog: soft and hard lockups after 1 s"
        ));
        let log = SerialLog::parse_all(fixtures::WATCHDOG_HARD);
        assert_eq!(log.watchdogs.len(), 1);
        assert!(
            log.watchdogs[0]
                .line
                .starts_with("WATCHDOG: hard lockup on cpu0")
        );
    }

    #[test]
    fn fatal_lines() {
        assert!(is_fatal("KERNEL PANIC at kernel/src/main.rs:10: oops"));
        assert!(is_fatal("EXCEPTION #PF (page fault) on cpu2"));
        assert!(is_fatal("[1.000000 cpu1] KERNEL PANIC: boom"));
        assert!(!is_fatal("test exception_handlers ... ok"));
        assert!(!is_fatal("no EXCEPTION here"));
    }

    #[test]
    fn log_prefix() {
        assert_eq!(message_part("[0.001234 cpu3] hello"), "hello");
        assert_eq!(message_part("hello [x] y"), "hello [x] y");
    }

    #[test]
    fn passing_fixture() {
        let log = SerialLog::parse_all(fixtures::PASS);
        assert_eq!(log.passed(), 6);
        assert_eq!(log.failed(), 0);
        assert_eq!(log.summaries.len(), 1);
        assert_eq!((log.summaries[0].passed, log.summaries[0].failed), (6, 0));
        assert!(log.fatals.is_empty());
        assert!(log.cpus_online_line.is_some());
    }

    #[test]
    fn failure_details_attach_to_the_failed_test() {
        let log = SerialLog::parse_all(fixtures::FAILED_TEST);
        let failed: Vec<_> = log.failures().collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].name, "futex::requeue_two_waiters");
        assert_eq!(failed[0].details.len(), 2);
        assert!(failed[0].details[0].contains("assertion failed"));
        // The detail lines stop at the next unindented line.
        assert_eq!(log.passed(), 5);
    }

    #[test]
    fn crlf_and_control_characters() {
        let mut log = SerialLog::new();
        log.push_line("test a ... ok\r");
        log.push_line("\0test b ... FAILED\r");
        log.push_line("1 passed, 1 failed\r");
        assert_eq!(log.passed(), 1);
        assert_eq!(log.failed(), 1);
        assert_eq!(log.summaries.len(), 1);
    }

    #[test]
    fn bench_fixture() {
        let log = SerialLog::parse_all(fixtures::BENCH);
        assert_eq!(log.benches.len(), 4);
        assert_eq!(log.benches[0].name, "null_syscall");
        assert!(log.tests.is_empty());
    }

    #[test]
    fn tail_is_bounded() {
        let mut log = SerialLog::new();
        for i in 0..100 {
            log.push_line(&format!("line {i}"));
        }
        assert_eq!(log.tail(40).len(), 40);
        assert_eq!(log.tail(40)[0], "line 60");
        assert_eq!(log.tail(1000).len(), 100);
    }
}
