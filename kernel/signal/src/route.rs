//! Which thread takes a process-directed signal.

use weft_abi::signal::{SIGKILL, SigSet, sigmask};

/// What routing needs to know of one thread.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub blocked: SigSet,
    /// The thread is on its way out (its signals would be lost).
    pub exiting: bool,
}

impl Candidate {
    fn wants(&self, sig: u32) -> bool {
        !self.exiting && (sig == SIGKILL || self.blocked & sigmask(sig) == 0)
    }
}

/// Picks the thread that takes process-directed `sig`: `preferred` (the sender
/// when it is a thread of the process, or the main thread) if it does not block
/// the signal, else the first thread after `rotor` that does not. None when every
/// thread blocks it: the signal stays pending for the process until one unblocks it.
pub fn pick_thread(
    threads: &[Candidate],
    sig: u32,
    preferred: Option<usize>,
    rotor: usize,
) -> Option<usize> {
    if let Some(p) = preferred.filter(|&p| p < threads.len() && threads[p].wants(sig)) {
        return Some(p);
    }
    let n = threads.len();
    (0..n)
        .map(|i| (rotor + i) % n)
        .find(|&i| threads[i].wants(sig))
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_abi::signal::*;

    fn c(blocked: SigSet) -> Candidate {
        Candidate {
            blocked,
            exiting: false,
        }
    }

    #[test]
    fn only_unblocked_thread_is_chosen() {
        let all = sigmask(SIGUSR1);
        let t = [c(all), c(all), c(0), c(all)];
        for rotor in 0..4 {
            assert_eq!(pick_thread(&t, SIGUSR1, Some(0), rotor), Some(2));
        }
        assert_eq!(pick_thread(&t, SIGUSR2, Some(1), 0), Some(1));
    }

    #[test]
    fn all_blocked_stays_pending_and_kill_always_routes() {
        let t = [c(!0), c(!0)];
        assert_eq!(pick_thread(&t, SIGTERM, Some(0), 0), None);
        assert_eq!(pick_thread(&t, SIGKILL, None, 1), Some(1));
        let ex = [
            Candidate {
                blocked: 0,
                exiting: true,
            },
            c(0),
        ];
        assert_eq!(pick_thread(&ex, SIGTERM, Some(0), 0), Some(1));
        assert_eq!(pick_thread(&[], SIGTERM, None, 0), None);
    }
}
