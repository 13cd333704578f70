//! Host test support: platforms built on thread-locals and std synchronisation, and a
//! test thread type.
//!
//! Each std thread plays one CPU: it records its CPU index and its simulated
//! interrupt flag in thread-locals.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::platform::Platform;
use crate::thread::{Schedulable, ThreadSched};
use crate::timer::CpuTimerId;

thread_local! {
    static IRQ_ON: Cell<bool> = const { Cell::new(true) };
    static CPU: Cell<usize> = const { Cell::new(0) };
}

/// Whether the calling std thread's simulated interrupts are enabled.
pub(crate) fn irqs_enabled() -> bool {
    IRQ_ON.with(Cell::get)
}

/// Declares which CPU the calling std thread plays.
pub(crate) fn set_current_cpu(cpu: usize) {
    CPU.with(|c| c.set(cpu));
}

fn irq_save() -> bool {
    IRQ_ON.with(|c| c.replace(false))
}

fn irq_restore(was_enabled: bool) {
    IRQ_ON.with(|c| c.set(was_enabled));
}

fn current_cpu() -> usize {
    CPU.with(Cell::get)
}

/// A platform whose IPIs go nowhere: for tests in which every "CPU" polls.
pub(crate) struct HostPlatform;

impl Platform for HostPlatform {
    fn irq_save() -> bool {
        irq_save()
    }
    fn irq_restore(was_enabled: bool) {
        irq_restore(was_enabled)
    }
    fn send_resched_ipi(_cpu: usize) {}
    fn current_cpu() -> usize {
        current_cpu()
    }
}

/// A latched interrupt line: `ring` sets it, `wait` blocks until it is set and
/// clears it, like `sti; hlt` with an IPI that may already be pending.
pub(crate) struct Doorbell {
    rung: Mutex<bool>,
    cv: Condvar,
}

impl Doorbell {
    const fn new() -> Self {
        Doorbell {
            rung: Mutex::new(false),
            cv: Condvar::new(),
        }
    }

    fn ring(&self) {
        *self.rung.lock().unwrap() = true;
        self.cv.notify_all();
    }

    /// Blocks until rung. The timeout is only a hang guard for a broken protocol (a
    /// lost wakeup would otherwise hang the test run); correct runs never get near it.
    pub(crate) fn wait(&self, what: &str) {
        const HANG_GUARD: Duration = Duration::from_secs(60);
        let mut rung = self.rung.lock().unwrap();
        while !*rung {
            let (g, timeout) = self.cv.wait_timeout(rung, HANG_GUARD).unwrap();
            rung = g;
            assert!(!timeout.timed_out() || *rung, "no IPI arrived: {what}");
        }
        *rung = false;
    }
}

const DOORBELL_SLOTS: usize = 4;
const DOORBELL_CPUS: usize = 8;
static DOORBELLS: [[Doorbell; DOORBELL_CPUS]; DOORBELL_SLOTS] =
    [const { [const { Doorbell::new() }; DOORBELL_CPUS] }; DOORBELL_SLOTS];
static DOORBELL_IPIS: [AtomicU64; DOORBELL_SLOTS] = [const { AtomicU64::new(0) }; DOORBELL_SLOTS];

/// A platform whose reschedule IPI rings the target CPU's doorbell, so a "CPU"
/// thread can halt. Each test that uses it takes its own `SLOT`.
pub(crate) struct DoorbellPlatform<const SLOT: usize>;

impl<const SLOT: usize> DoorbellPlatform<SLOT> {
    pub(crate) fn doorbell(cpu: usize) -> &'static Doorbell {
        &DOORBELLS[SLOT][cpu]
    }

    pub(crate) fn ipis() -> u64 {
        DOORBELL_IPIS[SLOT].load(Ordering::SeqCst)
    }
}

impl<const SLOT: usize> Platform for DoorbellPlatform<SLOT> {
    fn irq_save() -> bool {
        irq_save()
    }
    fn irq_restore(was_enabled: bool) {
        irq_restore(was_enabled)
    }
    fn send_resched_ipi(cpu: usize) {
        assert_ne!(cpu, current_cpu(), "self-IPI");
        DOORBELL_IPIS[SLOT].fetch_add(1, Ordering::SeqCst);
        Self::doorbell(cpu).ring();
    }
    fn current_cpu() -> usize {
        current_cpu()
    }
}

pub(crate) const NOT_RUNNING: usize = usize::MAX;

/// A test thread.
pub(crate) struct Ent {
    pub id: usize,
    sched: ThreadSched,
    /// Times a simulated CPU switched to it.
    pub picks: AtomicU64,
    /// The simulated CPU whose context it occupies, or `NOT_RUNNING`.
    pub running_on: AtomicUsize,
    /// Wait queue it must `finish_wait` on when it next runs (`NOT_RUNNING`: none).
    pub pending_wq: AtomicUsize,
    /// Timeout armed for its current sleep, to cancel when it next runs.
    pub timer: Mutex<Option<CpuTimerId>>,
}

impl Schedulable for Ent {
    fn sched(&self) -> &ThreadSched {
        &self.sched
    }
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

impl Ent {
    /// A thread with a fresh id and default scheduling state.
    pub fn new() -> Arc<Ent> {
        Ent::with_sched(ThreadSched::new())
    }

    /// A thread with a fresh id.
    pub fn with_sched(sched: ThreadSched) -> Arc<Ent> {
        Ent::numbered(NEXT_ID.fetch_add(1, Ordering::Relaxed), sched)
    }

    /// A thread with the given id (an index into the test's own tables).
    pub fn numbered(id: usize, sched: ThreadSched) -> Arc<Ent> {
        Arc::new(Ent {
            id,
            sched,
            picks: AtomicU64::new(0),
            running_on: AtomicUsize::new(NOT_RUNNING),
            pending_wq: AtomicUsize::new(NOT_RUNNING),
            timer: Mutex::new(None),
        })
    }
}

/// Deterministic xorshift generator for the stress tests.
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
