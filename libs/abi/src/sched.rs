//! Scheduling policies, `sched_param` and CPU affinity sets.

/// Default time-sharing policy.
pub const SCHED_OTHER: u32 = 0;
/// Real-time FIFO.
pub const SCHED_FIFO: u32 = 1;
/// Real-time round robin.
pub const SCHED_RR: u32 = 2;
/// Batch (CPU-bound).
pub const SCHED_BATCH: u32 = 3;
/// Very low priority.
pub const SCHED_IDLE: u32 = 5;
/// Deadline.
pub const SCHED_DEADLINE: u32 = 6;
/// Flag: children reset to the default policy.
pub const SCHED_RESET_ON_FORK: u32 = 0x4000_0000;

/// `struct sched_param` (4 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SchedParam {
    /// Static priority (0 for `SCHED_OTHER`).
    pub sched_priority: i32,
}

const _: () = assert!(core::mem::size_of::<SchedParam>() == 4);

/// CPUs in a C `cpu_set_t`.
pub const CPU_SETSIZE: usize = 1024;

/// A CPU set as `sched_{set,get}affinity` pass it (the C `cpu_set_t`, 128 bytes):
/// bit `n % 64` of word `n / 64` is CPU `n`. The calls take a byte length, which
/// may be shorter or longer than this; the kernel reads/writes whole `u64` words.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CpuSet {
    /// The bit words.
    pub bits: [u64; CPU_SETSIZE / 64],
}

impl Default for CpuSet {
    fn default() -> Self {
        CpuSet {
            bits: [0; CPU_SETSIZE / 64],
        }
    }
}

impl CpuSet {
    /// Adds CPU `cpu` (ignored past [`CPU_SETSIZE`]).
    pub fn set(&mut self, cpu: usize) {
        if cpu < CPU_SETSIZE {
            self.bits[cpu / 64] |= 1 << (cpu % 64);
        }
    }
    /// Removes CPU `cpu`.
    pub fn clear(&mut self, cpu: usize) {
        if cpu < CPU_SETSIZE {
            self.bits[cpu / 64] &= !(1 << (cpu % 64));
        }
    }
    /// Is CPU `cpu` in the set?
    pub fn is_set(&self, cpu: usize) -> bool {
        cpu < CPU_SETSIZE && self.bits[cpu / 64] & (1 << (cpu % 64)) != 0
    }
    /// Number of CPUs in the set.
    pub fn count(&self) -> u32 {
        self.bits.iter().map(|w| w.count_ones()).sum()
    }
}

const _: () = assert!(core::mem::size_of::<CpuSet>() == 128);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuset() {
        let mut s = CpuSet::default();
        s.set(0);
        s.set(65);
        s.set(5000);
        assert!(s.is_set(0) && s.is_set(65) && !s.is_set(1));
        assert_eq!(s.count(), 2);
        assert_eq!(s.bits[1], 2);
        s.clear(0);
        assert_eq!(s.count(), 1);
    }
}
