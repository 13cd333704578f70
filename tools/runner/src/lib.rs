//! weft-runner: the host-side QEMU runner for Weft.
//!
//! The library holds everything that can be tested without QEMU: the serial
//! output parser ([`serial`]), the verdict rules ([`verdict`]), the QEMU
//! command line ([`qemu`]), argument parsing ([`cli`]) and the reports
//! ([`report`]). `main.rs` only spawns QEMU and moves bytes around.

#![forbid(unsafe_code)]

pub mod cli;
pub mod qemu;
pub mod report;
pub mod serial;
pub mod verdict;

/// Captured serial outputs used by the unit tests (tests/fixtures/).
#[cfg(test)]
pub(crate) mod fixtures {
    pub const PASS: &str = include_str!("../tests/fixtures/pass.txt");
    pub const FAILED_TEST: &str = include_str!("../tests/fixtures/failed_test.txt");
    pub const PANIC: &str = include_str!("../tests/fixtures/panic.txt");
    pub const EXCEPTION: &str = include_str!("../tests/fixtures/exception.txt");
    pub const TRIPLE_FAULT: &str = include_str!("../tests/fixtures/triple_fault.txt");
    pub const TIMEOUT: &str = include_str!("../tests/fixtures/timeout.txt");
    pub const MISMATCH: &str = include_str!("../tests/fixtures/mismatch.txt");
    pub const NO_SUMMARY: &str = include_str!("../tests/fixtures/no_summary.txt");
    pub const BENCH: &str = include_str!("../tests/fixtures/bench.txt");
    pub const WATCHDOG_HARD: &str = include_str!("../tests/fixtures/watchdog_hard.txt");
    pub const WATCHDOG_SOFT: &str = include_str!("../tests/fixtures/watchdog_soft.txt");
}
