//! Loom models of the futex table's races. Run with
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p weft-futex --release --test loom
//! ```
//!
//! Under `--cfg loom` the table's atomics and bucket locks are loom's, so loom
//! explores the interleavings of the real table code. User memory is modelled with
//! *relaxed* atomics (the weakest a user program could use), and a thread's sleep is
//! a loom condvar wait that only a wake callback ends: a lost wake-up shows up as a
//! deadlock, which loom reports.
//!
//! Every model is explored exhaustively (no preemption bound); all eight together
//! take about 12 s on two cores in release mode (the largest, the two-bucket
//! requeue race, about 5 s), plus the first build of loom.
//!
//! Models:
//! - `prepare_vs_wake`: a waiter's value check against a waker that changes the
//!   value and wakes (no lost wake-up, through the lock-free empty-bucket check).
//! - `wake_vs_timeout`: a wake racing with the waiter's own timeout: the wake is
//!   reported by the waiter iff the waker counted it.
//! - `wake_vs_timeout_two_waiters`: the same with a second waiter queued behind:
//!   the wake goes to exactly one of them, never to neither.
//! - `requeue_vs_finish_vs_wake` (two buckets and one bucket): a requeue moving the
//!   waiter while it cancels its wait and a waker wakes the destination.
//! - `requeue_then_wake_sleeping`: a sleeping waiter requeued, then woken on the new
//!   key; no wake is lost and nothing is left queued.
//! - `wake_op_vs_waiter`: `WAKE_OP` changing and waking the second word against a
//!   waiter on it.
#![cfg(loom)]

use std::sync::Arc as StdArc;

use loom::sync::atomic::{AtomicU32, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

use weft_abi::Errno;
use weft_abi::futex::{FUTEX_BITSET_MATCH_ANY, FUTEX_OP_CMP_EQ, FUTEX_OP_SET, WakeOp, futex_op};
use weft_futex::{
    Fault, FutexKey, FutexTable, FutexThread, UserMem, WaitOutcome, WaitState, WaitToken,
};

const BASE: u64 = 0x1000;

struct Words(Vec<AtomicU32>);

impl Words {
    fn at(&self, a: u64) -> &AtomicU32 {
        &self.0[((a - BASE) / 4) as usize]
    }
}

impl UserMem for Words {
    fn load_u32(&self, a: u64) -> Result<u32, Fault> {
        Ok(self.at(a).load(Ordering::Relaxed))
    }
    fn load_u64(&self, _a: u64) -> Result<u64, Fault> {
        Err(Fault)
    }
    fn cmpxchg_u32(&self, a: u64, e: u32, n: u32) -> Result<u32, Fault> {
        Ok(
            match self
                .at(a)
                .compare_exchange(e, n, Ordering::Relaxed, Ordering::Relaxed)
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

type W = StdArc<Th>;

fn new_thread() -> W {
    StdArc::new(Th {
        st: WaitState::new(),
        m: Mutex::new(()),
        cv: Condvar::new(),
    })
}

struct World {
    table: FutexTable<W>,
    mem: Words,
}

/// Word `i`'s address.
fn addr(i: u64) -> u64 {
    BASE + 4 * i
}

fn key(a: u64) -> FutexKey {
    FutexKey::private(1, a)
}

impl World {
    fn new(words: usize, buckets: usize) -> Arc<World> {
        Arc::new(World {
            table: FutexTable::with_buckets(buckets),
            mem: Words((0..words).map(|_| AtomicU32::new(0)).collect()),
        })
    }

    /// Two word addresses that hash to different buckets (or the same one).
    fn pair(&self, same: bool) -> (u64, u64) {
        let b0 = self.table.bucket_of(&key(addr(0)));
        (1..64)
            .map(addr)
            .find(|&a| (self.table.bucket_of(&key(a)) == b0) == same)
            .map(|a| (addr(0), a))
            .expect("no suitable address")
    }

    fn wake(&self, a: u64, n: u32) -> usize {
        self.table
            .wake(&key(a), n, FUTEX_BITSET_MATCH_ANY, wake_thread)
            .unwrap()
    }
}

/// The kernel's wake-up: make the thread runnable.
fn wake_thread(t: W) {
    let _g = t.m.lock().unwrap();
    t.cv.notify_one();
}

/// The kernel's sleep: until a waker claims the wait.
fn sleep_until_woken(tok: &WaitToken<'_, W>, me: &W) {
    let mut g = me.m.lock().unwrap();
    while !tok.is_woken() {
        g = me.cv.wait(g).unwrap();
    }
}

/// Runs a model exhaustively (no preemption bound unless `LOOM_MAX_PREEMPTIONS`
/// sets one).
fn model(f: impl Fn() + Sync + Send + 'static) {
    loom::model::Builder::new().check(f);
}

#[test]
fn prepare_vs_wake() {
    model(|| {
        let w = World::new(1, 1);
        let w2 = w.clone();
        let waker = thread::spawn(move || {
            w2.mem.at(addr(0)).store(1, Ordering::Relaxed);
            w2.wake(addr(0), 1)
        });
        let me = new_thread();
        let waited = match w.table.wait_prepare(
            &w.mem,
            key(addr(0)),
            addr(0),
            0,
            FUTEX_BITSET_MATCH_ANY,
            me.clone(),
        ) {
            Err(Errno::EAGAIN) => false,
            Ok(tok) => {
                sleep_until_woken(&tok, &me);
                assert_eq!(tok.finish(WaitOutcome::Woken), WaitOutcome::Woken);
                true
            }
            Err(e) => panic!("{e:?}"),
        };
        let n = waker.join().unwrap();
        assert_eq!(n, waited as usize);
        assert!(w.table.is_idle());
    });
}

#[test]
fn wake_vs_timeout() {
    model(|| {
        let w = World::new(1, 1);
        let w2 = w.clone();
        let waker = thread::spawn(move || w2.wake(addr(0), 1));
        let me = new_thread();
        let tok = w
            .table
            .wait_prepare(&w.mem, key(addr(0)), addr(0), 0, 1, me.clone())
            .unwrap();
        // The timeout fires at some point of the waker's run.
        let out = tok.finish(WaitOutcome::TimedOut);
        let n = waker.join().unwrap();
        assert_eq!(out == WaitOutcome::Woken, n == 1, "{out:?} {n}");
        assert!(w.table.is_idle());
        assert!(me.st.is_idle());
    });
}

#[test]
fn wake_vs_timeout_two_waiters() {
    model(|| {
        let w = World::new(1, 1);
        let (a, b) = (new_thread(), new_thread());
        // Both queued before the race: A first (it is the one a wake would take).
        let ta = w
            .table
            .wait_prepare(&w.mem, key(addr(0)), addr(0), 0, 1, a.clone())
            .unwrap();
        let tb = w
            .table
            .wait_prepare(&w.mem, key(addr(0)), addr(0), 0, 1, b.clone())
            .unwrap();
        let w2 = w.clone();
        let waker = thread::spawn(move || w2.wake(addr(0), 1));
        // A's timeout fires while the waker runs; B is interrupted afterwards.
        let out_a = ta.finish(WaitOutcome::TimedOut);
        let n = waker.join().unwrap();
        let out_b = tb.finish(WaitOutcome::Interrupted);
        // The wake always finds a waiter, and exactly one of them reports it.
        assert_eq!(n, 1);
        let reported =
            (out_a == WaitOutcome::Woken) as usize + (out_b == WaitOutcome::Woken) as usize;
        assert_eq!(reported, 1, "a={out_a:?} b={out_b:?}");
        assert!(w.table.is_idle());
    });
}

fn requeue_vs_finish_vs_wake(same_bucket: bool, cmp: bool) {
    model(move || {
        let w = World::new(64, 2);
        let (a0, a1) = w.pair(same_bucket);
        let me = new_thread();
        let tok = w
            .table
            .wait_prepare(&w.mem, key(a0), a0, 0, 1, me.clone())
            .unwrap();
        let wr = w.clone();
        let requeuer = thread::spawn(move || {
            let c = cmp.then_some((a0, 0));
            wr.table
                .requeue(&wr.mem, &key(a0), &key(a1), 0, 1, c, wake_thread)
                .unwrap()
        });
        let wk = w.clone();
        let waker = thread::spawn(move || wk.wake(a1, 1));
        // The wait is interrupted while the requeue and the wake run.
        let out = tok.finish(WaitOutcome::Interrupted);
        let moved = requeuer.join().unwrap();
        let n = waker.join().unwrap();
        assert_eq!(
            out == WaitOutcome::Woken,
            n == 1,
            "{out:?} moved={moved} n={n}"
        );
        assert!(moved <= 1);
        if n == 1 {
            assert_eq!(moved, 1);
        }
        assert!(w.table.is_idle());
        assert!(me.st.is_idle());
    });
}

#[test]
fn requeue_vs_finish_vs_wake_two_buckets() {
    requeue_vs_finish_vs_wake(false, false);
}

#[test]
fn requeue_vs_finish_vs_wake_one_bucket() {
    requeue_vs_finish_vs_wake(true, false);
}

#[test]
fn cmp_requeue_vs_finish_vs_wake_two_buckets() {
    requeue_vs_finish_vs_wake(false, true);
}

#[test]
fn requeue_then_wake_sleeping() {
    model(|| {
        let w = World::new(64, 2);
        let (a0, a1) = w.pair(false);
        let me = new_thread();
        let ws = w.clone();
        let m2 = me.clone();
        let sleeper = thread::spawn(move || {
            match ws
                .table
                .wait_prepare(&ws.mem, key(a0), a0, 0, 1, m2.clone())
            {
                Ok(tok) => {
                    sleep_until_woken(&tok, &m2);
                    tok.finish(WaitOutcome::Woken)
                }
                Err(e) => panic!("{e:?}"),
            }
        });
        let wr = w.clone();
        let mover = thread::spawn(move || {
            let moved = wr
                .table
                .requeue(&wr.mem, &key(a0), &key(a1), 0, 1, None, wake_thread)
                .unwrap();
            // Wake on the new key (whoever is there).
            (moved, wr.wake(a1, 1))
        });
        let (moved, n1) = mover.join().unwrap();
        // Release the sleeper wherever it is, if the mover did not.
        let mut n2 = 0;
        while n1 + n2 == 0 {
            n2 += w.wake(a0, 1) + w.wake(a1, 1);
            if n1 + n2 == 0 {
                thread::yield_now();
            }
        }
        assert_eq!(sleeper.join().unwrap(), WaitOutcome::Woken);
        assert_eq!(n1 + n2, 1);
        if n1 == 1 {
            assert_eq!(moved, 1);
        }
        assert!(w.table.is_idle());
    });
}

#[test]
fn wake_op_vs_waiter() {
    model(|| {
        let w = World::new(64, 2);
        let (a1, a2) = w.pair(false);
        let me = new_thread();
        let wo = w.clone();
        let waker = thread::spawn(move || {
            // *a2 = 1; wake 1 on a1 and, since the old value was 0, 1 on a2.
            let op = WakeOp::decode(futex_op(FUTEX_OP_SET, 1, FUTEX_OP_CMP_EQ, 0)).unwrap();
            wo.table
                .wake_op(&wo.mem, &key(a1), &key(a2), a2, 1, 1, op, wake_thread)
                .unwrap()
        });
        let waited = match w.table.wait_prepare(&w.mem, key(a2), a2, 0, 1, me.clone()) {
            Err(Errno::EAGAIN) => false,
            Ok(tok) => {
                sleep_until_woken(&tok, &me);
                assert_eq!(tok.finish(WaitOutcome::Woken), WaitOutcome::Woken);
                true
            }
            Err(e) => panic!("{e:?}"),
        };
        let n = waker.join().unwrap();
        assert_eq!(n, waited as usize);
        assert_eq!(w.mem.at(a2).load(Ordering::Relaxed), 1);
        assert!(w.table.is_idle());
    });
}
