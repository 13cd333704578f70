//! The lockup watchdog's detector: pure timing logic, no hardware (the kernel's
//! timer interrupt feeds it, kernel/src/watchdog.rs reports what it finds).
//!
//! Each CPU has a *progress* counter that the kernel bumps whenever the CPU
//! schedules (enters the scheduler, runs its idle loop, returns to user mode), and
//! a *heartbeat*: the time of its last timer interrupt. On every timer interrupt
//! the CPU calls [`Watchdog::tick`], which
//! - records its heartbeat;
//! - **soft lockup**: if its own progress counter has not moved for the threshold,
//!   it has been running kernel code without scheduling while its ticks kept
//!   arriving;
//! - **hard lockup**: if another CPU's heartbeat is older than the threshold, that
//!   CPU has taken no timer interrupt (it runs with interrupts off).
//!
//! A CPU whose own ticks stopped for more than half the threshold (the whole
//! machine was paused, or this CPU was itself stuck) measures nothing across the
//! gap: it starts its soft-lockup interval afresh and skips the hard check once.
//! A CPU that never ticked is not checked. Only the first lockup is reported.
//! A hard lockup needs a second CPU to see it (at SMP=1 only soft lockups exist).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

use crate::cpuset::MAX_CPUS;

/// What kind of lockup was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockupKind {
    /// Timer interrupts arrive, but the CPU has not scheduled.
    Soft,
    /// The CPU has taken no timer interrupt.
    Hard,
}

impl LockupKind {
    /// `"soft"` or `"hard"`.
    pub fn name(self) -> &'static str {
        match self {
            LockupKind::Soft => "soft",
            LockupKind::Hard => "hard",
        }
    }
}

/// A lockup found by [`Watchdog::tick`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lockup {
    /// The CPU that is stuck.
    pub cpu: usize,
    /// How it is stuck.
    pub kind: LockupKind,
    /// For how long (nanoseconds).
    pub stuck_ns: u64,
}

#[derive(Default)]
struct CpuWatch {
    /// Bumped by the CPU itself whenever it schedules.
    progress: AtomicU64,
    /// The progress value the last tick saw, and since when (tick-private).
    seen: AtomicU64,
    since_ns: AtomicU64,
    /// Time of the last tick; 0 = never ticked (read by the other CPUs).
    heartbeat_ns: AtomicU64,
}

impl CpuWatch {
    const fn new() -> CpuWatch {
        CpuWatch {
            progress: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            since_ns: AtomicU64::new(0),
            heartbeat_ns: AtomicU64::new(0),
        }
    }
}

/// Per-CPU lockup detector (see the module documentation).
pub struct Watchdog {
    threshold_ns: AtomicU64,
    fired: AtomicBool,
    cpus: [CachePadded<CpuWatch>; MAX_CPUS],
}

impl Default for Watchdog {
    fn default() -> Self {
        Self::new()
    }
}

impl Watchdog {
    /// A disabled watchdog (threshold 0).
    pub const fn new() -> Watchdog {
        Watchdog {
            threshold_ns: AtomicU64::new(0),
            fired: AtomicBool::new(false),
            cpus: [const { CachePadded::new(CpuWatch::new()) }; MAX_CPUS],
        }
    }

    /// Sets the lockup threshold; 0 disables the watchdog.
    pub fn set_threshold_ns(&self, ns: u64) {
        self.threshold_ns.store(ns, Ordering::Relaxed);
    }

    /// The lockup threshold (0 = disabled).
    pub fn threshold_ns(&self) -> u64 {
        self.threshold_ns.load(Ordering::Relaxed)
    }

    /// Records that `cpu` scheduled (called on that CPU; cheap).
    #[inline]
    pub fn touch(&self, cpu: usize) {
        self.cpus[cpu].progress.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether a lockup has been reported.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::Relaxed)
    }

    /// The timer interrupt of `cpu` at time `now_ns`; `nr_cpus` CPUs are checked
    /// for hard lockups. Returns the first lockup found, once per watchdog.
    pub fn tick(&self, cpu: usize, now_ns: u64, nr_cpus: usize) -> Option<Lockup> {
        let me = &self.cpus[cpu];
        let prev = me.heartbeat_ns.swap(now_ns.max(1), Ordering::Relaxed);
        let threshold = self.threshold_ns();
        if threshold == 0 || self.fired() {
            return None;
        }
        let progress = me.progress.load(Ordering::Relaxed);
        if prev == 0 || now_ns.saturating_sub(prev) > threshold / 2 {
            // First tick, or this CPU's ticks stopped for a while: nothing it
            // measured across the gap can be trusted.
            me.seen.store(progress, Ordering::Relaxed);
            me.since_ns.store(now_ns, Ordering::Relaxed);
            return None;
        }
        if progress != me.seen.load(Ordering::Relaxed) {
            me.seen.store(progress, Ordering::Relaxed);
            me.since_ns.store(now_ns, Ordering::Relaxed);
        } else {
            let stuck = now_ns.saturating_sub(me.since_ns.load(Ordering::Relaxed));
            if stuck >= threshold {
                return self.fire(Lockup {
                    cpu,
                    kind: LockupKind::Soft,
                    stuck_ns: stuck,
                });
            }
        }
        for other in (0..nr_cpus.min(MAX_CPUS)).filter(|&c| c != cpu) {
            let hb = self.cpus[other].heartbeat_ns.load(Ordering::Relaxed);
            let stuck = now_ns.saturating_sub(hb);
            if hb != 0 && stuck >= threshold {
                return self.fire(Lockup {
                    cpu: other,
                    kind: LockupKind::Hard,
                    stuck_ns: stuck,
                });
            }
        }
        None
    }

    fn fire(&self, l: Lockup) -> Option<Lockup> {
        (!self.fired.swap(true, Ordering::AcqRel)).then_some(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const TICK: u64 = 4 * MS;
    const N: u64 = 1000 * MS;

    fn wd() -> Watchdog {
        let w = Watchdog::new();
        w.set_threshold_ns(N);
        w
    }

    /// Ticks every CPU in `cpus` every 4 ms from `from` to `to`, touching the
    /// CPUs in `touched` before each tick; returns the first lockup.
    fn run(
        w: &Watchdog,
        cpus: &[usize],
        touched: &[usize],
        from: u64,
        to: u64,
        nr: usize,
    ) -> Option<(u64, Lockup)> {
        let mut t = from;
        while t <= to {
            for &c in cpus {
                if touched.contains(&c) {
                    w.touch(c);
                }
                if let Some(l) = w.tick(c, t, nr) {
                    return Some((t, l));
                }
            }
            t += TICK;
        }
        None
    }

    #[test]
    fn a_cpu_that_schedules_is_never_reported() {
        let w = wd();
        assert_eq!(run(&w, &[0, 1], &[0, 1], TICK, 60 * N, 2), None);
    }

    #[test]
    fn soft_lockup_after_the_threshold() {
        let w = wd();
        run(&w, &[0, 1], &[0, 1], TICK, 10 * N, 2);
        // cpu1 stops scheduling at 10 N; its ticks keep arriving.
        let (t, l) = run(&w, &[0, 1], &[0], 10 * N + TICK, 20 * N, 2).unwrap();
        assert_eq!(l.cpu, 1);
        assert_eq!(l.kind, LockupKind::Soft);
        assert!(l.stuck_ns >= N && l.stuck_ns <= N + 2 * TICK, "{l:?}");
        assert!((11 * N..=11 * N + 2 * TICK).contains(&t), "at {t}");
    }

    #[test]
    fn hard_lockup_is_seen_by_another_cpu() {
        let w = wd();
        run(&w, &[0, 1, 2], &[0, 1, 2], TICK, 5 * N, 3);
        // cpu2 takes no more ticks.
        let (t, l) = run(&w, &[0, 1], &[0, 1], 5 * N + TICK, 20 * N, 3).unwrap();
        assert_eq!(l.cpu, 2);
        assert_eq!(l.kind, LockupKind::Hard);
        assert!(l.stuck_ns >= N && t <= 6 * N + 2 * TICK, "{l:?} at {t}");
    }

    #[test]
    fn only_the_first_lockup_is_reported() {
        let w = wd();
        run(&w, &[0, 1, 2], &[0, 1, 2], TICK, N, 3);
        assert!(run(&w, &[0], &[], N + TICK, 10 * N, 3).is_some());
        assert_eq!(run(&w, &[0], &[], 10 * N, 30 * N, 3), None);
        assert!(w.fired());
    }

    #[test]
    fn disabled_watchdog_reports_nothing() {
        let w = Watchdog::new();
        assert_eq!(run(&w, &[0, 1], &[], TICK, 100 * N, 2), None);
        w.set_threshold_ns(N);
        assert!(run(&w, &[0, 1], &[], 100 * N, 200 * N, 2).is_some());
    }

    #[test]
    fn cpus_that_never_ticked_are_not_checked() {
        let w = wd();
        // Four CPUs exist, only cpu0 ticks (the others are not up yet).
        assert_eq!(run(&w, &[0], &[0], TICK, 20 * N, 4), None);
    }

    #[test]
    fn a_pause_of_the_whole_machine_is_not_a_lockup() {
        let w = wd();
        run(&w, &[0, 1], &[0, 1], TICK, N, 2);
        // Nobody ticks for 5 N (QEMU stopped), then everything goes on normally:
        // the first CPU to tick again sees the other's stale heartbeat, but its own
        // ticks stopped too, so it does not trust the gap.
        assert_eq!(run(&w, &[0, 1], &[0, 1], 6 * N, 20 * N, 2), None);
    }

    #[test]
    fn a_pause_does_not_shorten_the_soft_interval() {
        let w = wd();
        run(&w, &[0], &[0], TICK, N, 1);
        // Not scheduling from N on, but the ticks pause from 1.2 N to 1.9 N: the
        // interval restarts after the gap.
        assert_eq!(run(&w, &[0], &[], N + TICK, N + N / 5, 1), None);
        let (t, l) = run(&w, &[0], &[], 2 * N - N / 10, 10 * N, 1).unwrap();
        assert_eq!(l.kind, LockupKind::Soft);
        assert!(t >= 2 * N - N / 10 + N, "reported at {t}");
    }

    #[test]
    fn touch_from_another_thread_counts() {
        use std::sync::Arc;
        let w = Arc::new(wd());
        assert_eq!(run(&w, &[0], &[], TICK, N - TICK, 1), None);
        let w2 = w.clone();
        std::thread::spawn(move || w2.touch(0)).join().unwrap();
        assert_eq!(run(&w, &[0], &[], N, N + N / 2, 1), None);
    }
}
