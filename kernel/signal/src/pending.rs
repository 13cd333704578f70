//! Pending signals with their `siginfo`.

use alloc::collections::VecDeque;

use weft_abi::signal::{SigInfo, SigSet, is_realtime, is_valid, sigmask};

/// A real-time signal could not be queued: the queue is at its limit (EAGAIN for
/// `sigqueue`; a kernel-generated one is dropped).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct QueueFull;

/// A pending set and its queue. Standard signals (1-31) are pending at most once
/// (a second one while pending is merged into the first); real-time signals
/// (32-64) queue every instance with its own siginfo, in the order sent.
#[derive(Clone, Debug, Default)]
pub struct Pending {
    set: SigSet,
    queue: VecDeque<SigInfo>,
}

impl Pending {
    /// Nothing pending.
    pub const fn new() -> Pending {
        Pending {
            set: 0,
            queue: VecDeque::new(),
        }
    }

    /// The set of pending signals.
    pub fn set(&self) -> SigSet {
        self.set
    }

    /// Number of queued entries (each pending standard signal counts once).
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.set == 0
    }

    /// Makes `info.signo` pending. Returns whether a new entry was queued (false
    /// when a standard signal was already pending). `rt_limit`: most entries this
    /// queue may hold for real-time signals (RLIMIT_SIGPENDING-like).
    pub fn enqueue(&mut self, info: SigInfo, rt_limit: usize) -> Result<bool, QueueFull> {
        let sig = info.signo as u32;
        if !is_valid(sig) {
            return Ok(false);
        }
        if !is_realtime(sig) && self.set & sigmask(sig) != 0 {
            return Ok(false);
        }
        if is_realtime(sig) && self.queue.len() >= rt_limit {
            return Err(QueueFull);
        }
        self.queue.push_back(info);
        self.set |= sigmask(sig);
        Ok(true)
    }

    /// The signal that would be dequeued among `allowed`: synchronous faults first,
    /// then the lowest-numbered.
    pub fn next_signal(&self, allowed: SigSet) -> Option<u32> {
        let ready = self.set & allowed;
        if ready == 0 {
            return None;
        }
        let sync = ready & crate::SYNCHRONOUS;
        let pick = if sync != 0 { sync } else { ready };
        Some(pick.trailing_zeros() + 1)
    }

    /// Takes the next signal among `allowed` with its siginfo (the oldest of its
    /// number).
    pub fn dequeue(&mut self, allowed: SigSet) -> Option<SigInfo> {
        let sig = self.next_signal(allowed)?;
        Some(self.take(sig))
    }

    /// Takes the oldest instance of `sig` (which must be pending).
    fn take(&mut self, sig: u32) -> SigInfo {
        let i = self
            .queue
            .iter()
            .position(|s| s.signo as u32 == sig)
            .expect("pending bit without a queue entry");
        let info = self.queue.remove(i).unwrap_or_default();
        if !self.queue.iter().any(|s| s.signo as u32 == sig) {
            self.set &= !sigmask(sig);
        }
        info
    }

    /// Discards every pending signal in `mask` (SIGCONT discards stop signals and
    /// the reverse; ignoring a signal discards it).
    pub fn discard(&mut self, mask: SigSet) {
        if self.set & mask == 0 {
            return;
        }
        self.queue.retain(|s| sigmask(s.signo as u32) & mask == 0);
        self.set &= !mask;
    }

    /// Discards everything (fork's child starts with nothing pending).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.set = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_abi::signal::*;

    fn kill(sig: u32, pid: i32) -> SigInfo {
        SigInfo::kill(sig, SI_USER, pid, 0)
    }

    #[test]
    fn standard_signals_coalesce() {
        let mut p = Pending::new();
        assert_eq!(p.enqueue(kill(SIGUSR1, 1), 8), Ok(true));
        assert_eq!(p.enqueue(kill(SIGUSR1, 2), 8), Ok(false));
        assert_eq!(p.len(), 1);
        let got = p.dequeue(!0).unwrap();
        assert_eq!(got.pid(), 1, "the first sender's info is kept");
        assert!(p.is_empty());
        assert!(p.dequeue(!0).is_none());
    }

    #[test]
    fn realtime_queue_in_order_with_values_and_limit() {
        let mut p = Pending::new();
        for v in 0..4 {
            p.enqueue(SigInfo::queue(SIGRTMIN + 2, SI_QUEUE, 1, 0, v), 4)
                .unwrap();
        }
        assert_eq!(
            p.enqueue(SigInfo::queue(SIGRTMIN, SI_QUEUE, 1, 0, 9), 4),
            Err(QueueFull)
        );
        // A standard signal is not limited by the real-time queue.
        assert_eq!(p.enqueue(kill(SIGTERM, 1), 4), Ok(true));
        assert_eq!(
            p.dequeue(!0).unwrap().signo,
            SIGTERM as i32,
            "lowest number first"
        );
        for v in 0..4 {
            let s = p.dequeue(!0).unwrap();
            assert_eq!((s.signo as u32, s.value()), (SIGRTMIN + 2, v));
        }
        assert!(p.is_empty());
    }

    #[test]
    fn lowest_first_but_faults_before_all() {
        let mut p = Pending::new();
        p.enqueue(kill(SIGRTMIN + 5, 0), 8).unwrap();
        p.enqueue(kill(SIGTERM, 0), 8).unwrap();
        p.enqueue(kill(SIGHUP, 0), 8).unwrap();
        p.enqueue(SigInfo::fault(SIGSEGV, SEGV_MAPERR, 0), 8)
            .unwrap();
        let order: Vec<u32> = core::iter::from_fn(|| p.dequeue(!0))
            .map(|s| s.signo as u32)
            .collect();
        assert_eq!(order, [SIGSEGV, SIGHUP, SIGTERM, SIGRTMIN + 5]);
    }

    #[test]
    fn allowed_mask_respected() {
        let mut p = Pending::new();
        p.enqueue(kill(SIGUSR1, 0), 8).unwrap();
        p.enqueue(kill(SIGUSR2, 0), 8).unwrap();
        assert_eq!(p.dequeue(!sigmask(SIGUSR1)).unwrap().signo as u32, SIGUSR2);
        assert!(p.dequeue(!sigmask(SIGUSR1)).is_none());
        assert_eq!(p.set(), sigmask(SIGUSR1));
    }

    #[test]
    fn discard_and_clear() {
        let mut p = Pending::new();
        p.enqueue(kill(SIGTSTP, 0), 8).unwrap();
        p.enqueue(kill(SIGRTMIN, 0), 8).unwrap();
        p.enqueue(kill(SIGRTMIN, 0), 8).unwrap();
        p.discard(crate::STOP_SIGNALS);
        assert_eq!(p.set(), sigmask(SIGRTMIN));
        p.discard(sigmask(SIGRTMIN));
        assert!(p.is_empty());
        assert_eq!(p.len(), 0);
        p.enqueue(kill(SIGINT, 0), 8).unwrap();
        p.clear();
        assert!(p.is_empty());
        assert_eq!(p.enqueue(kill(0, 0), 8), Ok(false));
    }
}
