//! In-guest tests: run at boot when the command line says `test` (or
//! `test=<substring>`), one line per test, then a summary line, then QEMU exits.
//!
//! Output contract (read by tools/runner): `test <name> ... ok` or
//! `test <name> ... FAILED` followed by indented detail lines, and finally
//! `<N> passed, <M> failed`.

use alloc::string::String;
use weft_arch::{kprintln, rawprintln};

pub mod bench;
mod boot_tests;
mod cpu_tests;
mod mm_tests;
mod sched_tests;
mod watchdog_tests;

/// A test returns Err(description) on failure.
pub type TestFn = fn(&Ctx) -> Result<(), String>;

/// What a test may want to know about the run.
pub struct Ctx {
    /// `cpus=N` from the command line: the CPU count the runner started QEMU with.
    pub expect_cpus: Option<usize>,
}

/// Fails the test with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(alloc::format!($($msg)+));
        }
    };
}

/// Every test, in the order they run.
const TESTS: &[(&str, TestFn)] = &[
    ("boot_base_revision", boot_tests::base_revision),
    ("boot_memory_map", boot_tests::memory_map),
    ("boot_kernel_address", boot_tests::kernel_address),
    ("boot_cpu_count", boot_tests::cpu_count),
    ("boot_modules", boot_tests::modules),
    ("boot_rsdp_checksum", boot_tests::rsdp_checksum),
    ("boot_hhdm_excludes_mmio", boot_tests::hhdm_excludes_mmio),
    ("symbols_lookup", boot_tests::symbols_lookup),
    ("mm_frames_all", mm_tests::frames_all),
    ("mm_frames_contiguous", mm_tests::frames_contiguous),
    ("mm_heap_roundtrip", mm_tests::heap_roundtrip),
    (
        "mm_kernel_stack_guard_unmapped",
        mm_tests::kernel_stack_guard_unmapped,
    ),
    ("trap_breakpoint_resumes", cpu_tests::breakpoint_resumes),
    (
        "clock_monotonic_every_cpu",
        cpu_tests::clock_monotonic_every_cpu,
    ),
    ("clock_cross_cpu_order", cpu_tests::clock_cross_cpu_order),
    ("timer_every_cpu", cpu_tests::timer_every_cpu),
    ("ipi_all_pairs", cpu_tests::ipi_all_pairs),
    ("cpu_features_enabled", cpu_tests::features_enabled),
    (
        "debug_key_while_table_locked",
        cpu_tests::debug_key_while_table_locked,
    ),
    ("sched_spread", sched_tests::spread),
    ("sched_steal", sched_tests::steal),
    ("sched_preempt", sched_tests::preempt),
    ("waitqueue_stress", sched_tests::waitqueue_stress),
    ("sleep_timeout", sched_tests::sleep_timeout),
    ("kthread_churn", sched_tests::kthread_churn),
    ("kstack_guard", sched_tests::kstack_guard),
    ("affinity", sched_tests::affinity),
];

/// Tests that end the run on purpose: run only when the filter is their exact name.
const FATAL_TESTS: &[(&str, TestFn)] = &[
    ("watchdog_selftest_soft", watchdog_tests::soft),
    ("watchdog_selftest_hard", watchdog_tests::hard),
];

/// Whether the command line asks for the benchmarks.
pub fn bench_requested(cmdline: &str) -> bool {
    cmdline.split_whitespace().any(|w| w == "bench")
}

/// Parses the command line: `Some(filter)` if tests were asked for.
pub fn requested(cmdline: &str) -> Option<&str> {
    cmdline.split_whitespace().find_map(|w| {
        if w == "test" {
            Some("")
        } else {
            w.strip_prefix("test=")
        }
    })
}

fn param<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// Runs the tests whose names contain `filter`; returns whether all passed.
pub fn run(filter: &str, cmdline: &str) -> bool {
    let ctx = Ctx {
        expect_cpus: param(cmdline, "cpus").and_then(|v| v.parse().ok()),
    };
    kprintln!("ktest: running tests (filter {:?})", filter);
    let (mut passed, mut failed) = (0, 0);
    let fatal = FATAL_TESTS.iter().filter(|(n, _)| *n == filter);
    for (name, f) in TESTS
        .iter()
        .filter(|(n, _)| n.contains(filter))
        .chain(fatal)
    {
        match f(&ctx) {
            Ok(()) => {
                rawprintln!("test {name} ... ok");
                passed += 1;
            }
            Err(msg) => {
                rawprintln!("test {name} ... FAILED");
                for line in msg.lines() {
                    rawprintln!("    {line}");
                }
                failed += 1;
            }
        }
    }
    rawprintln!("{passed} passed, {failed} failed");
    failed == 0
}
