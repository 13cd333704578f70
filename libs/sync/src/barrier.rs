//! [`Barrier`]: a generation-based futex barrier for a fixed number of threads.
//!
//! Each arriving thread increments the arrival count. The last of the `n` resets
//! the count, increments the generation word and wakes every sleeper; the others
//! sleep with `FUTEX_WAIT(generation == the one they arrived in)` until it changes.
//! Because a thread compares against the generation it arrived in, the barrier can
//! be reused at once for the next round: a fast thread arriving for round `r + 1`
//! can never release (or be confused with) the sleepers of round `r`.

use core::sync::atomic::{AtomicU32, Ordering::*};

use crate::futex;

/// What [`Barrier::wait`] returns: exactly one thread per round is the leader.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// True for the one thread of the round that arrived last.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

/// A reusable barrier for `n` threads.
///
/// ```ignore
/// use weft_sync::Barrier;
/// static B: Barrier = Barrier::new(4);
/// // in each of 4 threads, every round:
/// compute_my_part();
/// B.wait(); // nobody goes on until all 4 got here
/// ```
pub struct Barrier {
    n: u32,
    arrived: AtomicU32,
    generation: AtomicU32,
    sleepers: AtomicU32,
}

impl Barrier {
    /// A barrier for `n` threads (0 behaves like 1: `wait` returns at once).
    pub const fn new(n: u32) -> Self {
        Barrier {
            n: if n == 0 { 1 } else { n },
            arrived: AtomicU32::new(0),
            generation: AtomicU32::new(0),
            sleepers: AtomicU32::new(0),
        }
    }

    /// Blocks until `n` threads have called `wait` in this round.
    pub fn wait(&self) -> BarrierWaitResult {
        let generation = self.generation.load(Acquire);
        if self.arrived.fetch_add(1, AcqRel) + 1 == self.n {
            // Last one in: reset for the next round, then open this one.
            self.arrived.store(0, Relaxed);
            self.generation.fetch_add(1, SeqCst);
            if self.sleepers.load(SeqCst) != 0 {
                futex::wake_all(&self.generation);
            }
            return BarrierWaitResult(true);
        }
        self.sleepers.fetch_add(1, SeqCst);
        while self.generation.load(Acquire) == generation {
            let _ = futex::wait(&self.generation, generation, None);
        }
        self.sleepers.fetch_sub(1, Relaxed);
        BarrierWaitResult(false)
    }

    /// The address of the futex word threads sleep on until their round is complete (for diagnostics and tests, e.g.
    /// counting the sleepers with a `FUTEX_REQUEUE` of the word onto itself).
    pub fn futex_word_addr(&self) -> *const u32 {
        self.generation.as_ptr()
    }

    /// The number of threads per round.
    pub fn parties(&self) -> u32 {
        self.n
    }
}
