//! Per-CPU scheduler statistics.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of one CPU's scheduler counters.
///
/// `Display` prints the line the kernel logs:
/// `sched: cpu<N> switches=<n> steals=<n> migrations=<n> idle=<pct>%`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuStats {
    /// The CPU these counters belong to.
    pub cpu: usize,
    /// Context switches: the running context changed (thread to thread, thread to
    /// idle, or idle to thread).
    pub switches: u64,
    /// Threads this CPU pulled from other CPUs' queues (idle steals and balancing).
    pub steals: u64,
    /// Threads queued on this CPU that last ran or were queued on another CPU
    /// (steals, wakeup placement elsewhere, affinity moves).
    pub migrations: u64,
    /// Threads that arrived on this CPU's queue through `add_new` or `wake`.
    pub wakeups: u64,
    /// Reschedule IPIs this CPU sent.
    pub ipis_sent: u64,
    /// Time with no current thread, as accounted at ticks and schedules (ns).
    pub idle_ns: u64,
    /// Time with a current thread (ns).
    pub busy_ns: u64,
}

impl CpuStats {
    /// Idle share in whole percent (0 when no time has been accounted).
    pub fn idle_percent(&self) -> u64 {
        let total = u128::from(self.idle_ns) + u128::from(self.busy_ns);
        (u128::from(self.idle_ns) * 100)
            .checked_div(total)
            .map_or(0, |pct| pct as u64)
    }
}

impl fmt::Display for CpuStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sched: cpu{} switches={} steals={} migrations={} idle={}%",
            self.cpu,
            self.switches,
            self.steals,
            self.migrations,
            self.idle_percent()
        )
    }
}

/// The live counters behind [`CpuStats`] (relaxed atomics; written by the owning CPU
/// or under its queue lock, read by anyone).
#[derive(Default)]
pub(crate) struct Counters {
    pub switches: AtomicU64,
    pub steals: AtomicU64,
    pub migrations: AtomicU64,
    pub wakeups: AtomicU64,
    pub ipis_sent: AtomicU64,
    pub idle_ns: AtomicU64,
    pub busy_ns: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self, cpu: usize) -> CpuStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CpuStats {
            cpu,
            switches: get(&self.switches),
            steals: get(&self.steals),
            migrations: get(&self.migrations),
            wakeups: get(&self.wakeups),
            ipis_sent: get(&self.ipis_sent),
            idle_ns: get(&self.idle_ns),
            busy_ns: get(&self.busy_ns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        let s = CpuStats {
            cpu: 3,
            switches: 10,
            steals: 2,
            migrations: 5,
            idle_ns: 250,
            busy_ns: 750,
            ..CpuStats::default()
        };
        assert_eq!(
            alloc::format!("{s}"),
            "sched: cpu3 switches=10 steals=2 migrations=5 idle=25%"
        );
        assert_eq!(CpuStats::default().idle_percent(), 0);
        let all_idle = CpuStats {
            idle_ns: u64::MAX,
            ..CpuStats::default()
        };
        assert_eq!(all_idle.idle_percent(), 100);
    }
}
