//! Multi-threaded stress tests with real (std) threads: futex-based mutexes and
//! semaphores that would hang on a lost wake-up, and wake/timeout/requeue races
//! whose wake-ups must add up exactly.
//!
//! A "thread" here is a std thread with a `WaitState` and a condvar; sleeping
//! follows the crate's protocol: check `is_woken()` under the condvar's mutex, and
//! the wake callback takes that mutex before notifying. A sleep that outlasts the
//! watchdog is reported as a lost wake-up.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use weft_abi::Errno;
use weft_abi::futex::FUTEX_BITSET_MATCH_ANY;
use weft_futex::{Fault, FutexKey, FutexTable, FutexThread, UserMem, WaitOutcome, WaitState};

const WATCHDOG: Duration = Duration::from_secs(20);
const BASE: u64 = 0x4000;

/// User memory: a few words, all atomic.
struct Words(Vec<AtomicU32>);

impl Words {
    fn new(n: usize) -> Self {
        Words((0..n).map(|_| AtomicU32::new(0)).collect())
    }
    fn at(&self, addr: u64) -> &AtomicU32 {
        &self.0[((addr - BASE) / 4) as usize]
    }
}

fn addr(i: usize) -> u64 {
    BASE + 4 * i as u64
}

impl UserMem for Words {
    fn load_u32(&self, a: u64) -> Result<u32, Fault> {
        Ok(self.at(a).load(Ordering::SeqCst))
    }
    fn load_u64(&self, _a: u64) -> Result<u64, Fault> {
        Err(Fault)
    }
    fn cmpxchg_u32(&self, a: u64, e: u32, n: u32) -> Result<u32, Fault> {
        Ok(
            match self
                .at(a)
                .compare_exchange(e, n, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(v) | Err(v) => v,
            },
        )
    }
}

struct Th {
    st: WaitState,
    m: Mutex<()>,
    cv: Condvar,
}

impl FutexThread for Th {
    fn futex_wait_state(&self) -> &WaitState {
        &self.st
    }
}

fn new_thread() -> Arc<Th> {
    Arc::new(Th {
        st: WaitState::new(),
        m: Mutex::new(()),
        cv: Condvar::new(),
    })
}

type Table = FutexTable<Arc<Th>>;

struct World {
    table: Table,
    mem: Words,
    claims: AtomicUsize,
}

impl World {
    fn new(words: usize, buckets: usize) -> Arc<World> {
        Arc::new(World {
            table: FutexTable::with_buckets(buckets),
            mem: Words::new(words),
            claims: AtomicUsize::new(0),
        })
    }

    fn word(&self, i: usize) -> &AtomicU32 {
        self.mem.at(addr(i))
    }

    /// The kernel's wake-up: make the thread runnable.
    fn wake_thread(&self, t: Arc<Th>) {
        self.claims.fetch_add(1, Ordering::SeqCst);
        let _g = t.m.lock().unwrap();
        t.cv.notify_one();
    }

    /// FUTEX_WAIT on word `i`, with an optional timeout.
    fn wait(
        &self,
        me: &Arc<Th>,
        i: usize,
        expected: u32,
        timeout: Option<Duration>,
    ) -> Result<WaitOutcome, Errno> {
        let k = FutexKey::private(1, addr(i));
        let tok = self.table.wait_prepare(
            &self.mem,
            k,
            addr(i),
            expected,
            FUTEX_BITSET_MATCH_ANY,
            me.clone(),
        )?;
        let start = Instant::now();
        let reason = {
            let mut g = me.m.lock().unwrap();
            loop {
                if tok.is_woken() {
                    break WaitOutcome::Woken;
                }
                let left = match timeout {
                    Some(t) => match t.checked_sub(start.elapsed()) {
                        Some(l) if !l.is_zero() => l,
                        _ => break WaitOutcome::TimedOut,
                    },
                    None => WATCHDOG.saturating_sub(start.elapsed()),
                };
                if timeout.is_none() && left.is_zero() {
                    panic!("lost wake-up: waited {WATCHDOG:?} on word {i}");
                }
                g = me.cv.wait_timeout(g, left).unwrap().0;
            }
        };
        Ok(tok.finish(reason))
    }

    /// FUTEX_WAKE on word `i`.
    fn wake(&self, i: usize, n: u32) -> usize {
        let k = FutexKey::private(1, addr(i));
        let mut got = 0;
        let r = self
            .table
            .wake(&k, n, FUTEX_BITSET_MATCH_ANY, |t| {
                got += 1;
                self.wake_thread(t)
            })
            .unwrap();
        assert_eq!(r, got);
        r
    }
}

/// A three-state futex mutex (0 free, 1 locked, 2 locked with waiters).
fn lock(w: &World, me: &Arc<Th>, i: usize) {
    let word = w.word(i);
    if word
        .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        return;
    }
    while word.swap(2, Ordering::Acquire) != 0 {
        let _ = w.wait(me, i, 2, None);
    }
}

fn unlock(w: &World, i: usize) {
    if w.word(i).swap(0, Ordering::Release) == 2 {
        w.wake(i, 1);
    }
}

/// Two futex mutexes whose words share one bucket (so their waiters share a
/// queue), each guarding its own counter with a non-atomic read-modify-write:
/// a lost wake-up hangs, a broken exclusion loses increments.
#[test]
fn futex_mutexes_sharing_a_bucket() {
    const THREADS: usize = 4;
    const ITERS: usize = 10_000;
    let w = World::new(2, 1);
    let counters: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let hs: Vec<_> = (0..THREADS)
        .map(|n| {
            let w = w.clone();
            let counters = counters.clone();
            thread::spawn(move || {
                let me = new_thread();
                for it in 0..ITERS {
                    let m = (n + it) % 2;
                    lock(&w, &me, m);
                    let v = counters[m].load(Ordering::Relaxed);
                    if it.is_multiple_of(64) {
                        thread::yield_now();
                    }
                    counters[m].store(v + 1, Ordering::Relaxed);
                    unlock(&w, m);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let total: usize = counters.iter().map(|c| c.load(Ordering::SeqCst)).sum();
    assert_eq!(total, THREADS * ITERS);
    assert!(w.table.is_idle());
}

#[test]
fn futex_mutex_counts_exactly() {
    const THREADS: usize = 4;
    const ITERS: usize = 20_000;
    let w = World::new(1, 256);
    let counter = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..THREADS)
        .map(|_| {
            let w = w.clone();
            let counter = counter.clone();
            thread::spawn(move || {
                let me = new_thread();
                for it in 0..ITERS {
                    lock(&w, &me, 0);
                    let v = counter.load(Ordering::Relaxed);
                    if it.is_multiple_of(32) {
                        thread::yield_now();
                    }
                    counter.store(v + 1, Ordering::Relaxed);
                    unlock(&w, 0);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(counter.load(Ordering::SeqCst), THREADS * ITERS);
    assert!(w.table.is_idle());
}

#[test]
fn futex_semaphore_never_loses_a_post() {
    const PAIRS: usize = 3;
    const ITERS: usize = 20_000;
    let w = World::new(1, 4);
    let consumed = Arc::new(AtomicUsize::new(0));
    let mut hs = Vec::new();
    for _ in 0..PAIRS {
        let wp = w.clone();
        hs.push(thread::spawn(move || {
            for it in 0..ITERS {
                wp.word(0).fetch_add(1, Ordering::SeqCst);
                wp.wake(0, 1);
                if it.is_multiple_of(128) {
                    thread::yield_now();
                }
            }
        }));
        let wc = w.clone();
        let consumed = consumed.clone();
        hs.push(thread::spawn(move || {
            let me = new_thread();
            for _ in 0..ITERS {
                loop {
                    let c = wc.word(0).load(Ordering::SeqCst);
                    if c > 0 {
                        if wc
                            .word(0)
                            .compare_exchange(c, c - 1, Ordering::SeqCst, Ordering::SeqCst)
                            .is_ok()
                        {
                            break;
                        }
                    } else {
                        let _ = wc.wait(&me, 0, 0, None);
                    }
                }
                consumed.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(consumed.load(Ordering::SeqCst), PAIRS * ITERS);
    assert_eq!(w.word(0).load(Ordering::SeqCst), 0);
    assert!(w.table.is_idle());
}

/// Tiny deterministic generator for timeouts.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn short_timeout(seed: &mut u64) -> Duration {
    match next(seed) % 8 {
        0 => Duration::ZERO,
        1..=5 => Duration::from_micros(next(seed) % 100),
        _ => Duration::from_millis(2),
    }
}

/// Waiters time out all the time while wakers keep waking: every wake a waker
/// counts must be reported by exactly one waiter as `Woken`.
#[test]
fn wake_racing_timeouts_is_conserved() {
    const WAITERS: usize = 4;
    const ITERS: usize = 10_000;
    let w = World::new(1, 2);
    let done = Arc::new(AtomicUsize::new(0));
    let woken = Arc::new(AtomicUsize::new(0));
    let mut hs = Vec::new();
    for n in 0..WAITERS {
        let w = w.clone();
        let (done, woken) = (done.clone(), woken.clone());
        hs.push(thread::spawn(move || {
            let me = new_thread();
            let mut seed = 0x9e37_79b9_7f4a_7c15 ^ n as u64;
            for _ in 0..ITERS {
                match w.wait(&me, 0, 0, Some(short_timeout(&mut seed))) {
                    Ok(WaitOutcome::Woken) => {
                        woken.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) => {}
                    Err(e) => panic!("{e:?}"),
                }
            }
            done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    let total_waked = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let w = w.clone();
        let (done, total) = (done.clone(), total_waked.clone());
        hs.push(thread::spawn(move || {
            let mut i = 0u32;
            while done.load(Ordering::SeqCst) < WAITERS {
                i = i.wrapping_add(1);
                let n = w.wake(0, 1 + i % 3);
                total.fetch_add(n, Ordering::SeqCst);
                if i.is_multiple_of(16) {
                    thread::yield_now();
                }
            }
        }));
    }
    for h in hs {
        h.join().unwrap();
    }
    let woken = woken.load(Ordering::SeqCst);
    assert_eq!(total_waked.load(Ordering::SeqCst), woken);
    assert_eq!(w.claims.load(Ordering::SeqCst), woken);
    assert!(
        woken > 0,
        "no wake ever won; the test is not testing anything"
    );
    assert!(w.table.is_idle());
}

/// Waiters on word 0 get requeued to word 1 (in another bucket, or the same one)
/// while they time out, and woken on either word: every claim ends in exactly one
/// `Woken`, and no entry is left behind.
fn requeue_stress(buckets: usize) {
    const WAITERS: usize = 4;
    const ITERS: usize = 5000;
    let w = World::new(2, buckets);
    let moved = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicUsize::new(0));
    let woken = Arc::new(AtomicUsize::new(0));
    let mut hs = Vec::new();
    for n in 0..WAITERS {
        let w = w.clone();
        let (finished, woken) = (finished.clone(), woken.clone());
        hs.push(thread::spawn(move || {
            let me = new_thread();
            let mut seed = 0x2545_f491_4f6c_dd1d ^ (n as u64 + 1);
            for _ in 0..ITERS {
                if let Ok(WaitOutcome::Woken) = w.wait(&me, 0, 0, Some(short_timeout(&mut seed))) {
                    woken.fetch_add(1, Ordering::SeqCst);
                }
            }
            finished.fetch_add(1, Ordering::SeqCst);
        }));
    }
    {
        let w = w.clone();
        let done = done.clone();
        let moved = moved.clone();
        hs.push(thread::spawn(move || {
            let k0 = FutexKey::private(1, addr(0));
            let k1 = FutexKey::private(1, addr(1));
            let mut i = 0u32;
            while !done.load(Ordering::SeqCst) {
                i = i.wrapping_add(1);
                let cmp = i.is_multiple_of(2).then_some((addr(0), 0));
                let mut got = 0;
                let r = w
                    .table
                    .requeue(&w.mem, &k0, &k1, i % 2, u32::MAX, cmp, |t| {
                        got += 1;
                        w.wake_thread(t)
                    })
                    .unwrap();
                assert!(r >= got);
                moved.fetch_add(r - got, Ordering::SeqCst);
                if i.is_multiple_of(8) {
                    thread::yield_now();
                }
            }
        }));
    }
    {
        let w = w.clone();
        let done = done.clone();
        hs.push(thread::spawn(move || {
            let mut i = 0u32;
            while !done.load(Ordering::SeqCst) {
                i = i.wrapping_add(1);
                w.wake(1, 1 + i % 2);
                if i.is_multiple_of(8) {
                    thread::yield_now();
                }
            }
        }));
    }
    let deadline = Instant::now() + WATCHDOG;
    while finished.load(Ordering::SeqCst) < WAITERS {
        assert!(Instant::now() < deadline, "requeue stress hung");
        thread::sleep(Duration::from_millis(1));
    }
    done.store(true, Ordering::SeqCst);
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(
        w.claims.load(Ordering::SeqCst),
        woken.load(Ordering::SeqCst)
    );
    assert!(
        moved.load(Ordering::SeqCst) > 0,
        "nothing was ever requeued"
    );
    assert!(w.table.is_idle());
}

#[test]
fn requeue_racing_timeouts_and_wakes_across_buckets() {
    requeue_stress(1 << 12);
}

#[test]
fn requeue_racing_timeouts_and_wakes_in_one_bucket() {
    requeue_stress(1);
}
