//! Raw futex tests: futex_requeue, futex_cmp_requeue, futex_wake_op, futex_bitset,
//! futex_timeout, futex_shared_across_fork, futex_efault_einval,
//! futex_robust_owner_died, futex_cleartid_join.
//!
//! Waiter threads call `futex` themselves and record what it returned. Before a
//! test acts on queued waiters it waits until the kernel really has them queued:
//! [`queued`] counts the waiters of a word without waking any (`FUTEX_REQUEUE` of
//! everything onto the same word returns woken + moved = the number queued).

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering::*};
use core::time::Duration;

use weft_rt::abi::futex::*;
use weft_rt::abi::mman::*;
use weft_rt::abi::time::{CLOCK_MONOTONIC, CLOCK_REALTIME, Timespec};
use weft_rt::process::WaitStatus;
use weft_rt::sys;
use weft_rt::thread::{self, JoinHandle};
use weft_rt::time::Instant;
use weft_rt::{Errno, time};
use weft_sync::thread::{spawn_raw, wait_tid};

use crate::harness::{Ctx, Label, fork_child, run_child, wait_child};
use crate::util::*;

/// How long a test waiter sleeps at most (so a kernel that never wakes it fails
/// the test instead of hanging it).
const WAITER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for waiters to be queued or woken.
const SETTLE: Duration = Duration::from_secs(10);

/// Raw `futex(word, op, val, arg4, word2, val3)` on addresses.
pub fn fx(
    word: usize,
    op: u32,
    val: u32,
    arg4: usize,
    word2: usize,
    val3: u32,
) -> Result<usize, Errno> {
    // SAFETY: the tests pass live words or deliberately bad addresses, which the
    // kernel must refuse without touching anything else.
    unsafe { sys::futex(word as *const u32, op, val, arg4, word2 as *const u32, val3) }
}

pub fn addr(w: &AtomicU32) -> usize {
    w.as_ptr() as usize
}

fn ts_ptr(ts: &Timespec) -> usize {
    ts as *const Timespec as usize
}

fn priv_flag(private: bool) -> u32 {
    if private { FUTEX_PRIVATE_FLAG } else { 0 }
}

/// Number of waiters queued on `word`, waking none: everything is requeued onto
/// the word itself.
pub fn queued(word: usize, private: bool) -> Result<usize, Errno> {
    fx(
        word,
        FUTEX_REQUEUE | priv_flag(private),
        0,
        i32::MAX as usize,
        word,
        0,
    )
}

/// Waits until exactly `n` waiters are queued on `word`.
pub fn wait_queued(word: usize, n: usize, private: bool) -> Result<(), String> {
    let mut last = Ok(0);
    if wait_until(SETTLE, || {
        last = queued(word, private);
        last == Ok(n)
    }) {
        Ok(())
    } else {
        Err(format!("{word:#x}: {last:?} waiters queued, expected {n}"))
    }
}

/// `CLOCK_MONOTONIC` (or another clock) now plus `d`, as an absolute timespec.
fn abs_time(clock: u32, d: Duration) -> Timespec {
    let now = sys::clock_gettime(clock).unwrap_or_default();
    let t = time::duration(&now) + d;
    time::timespec(t)
}

fn clock_now(clock: u32) -> Duration {
    time::duration(&sys::clock_gettime(clock).unwrap_or_default())
}

/// Threads each sleeping in one `futex` wait call, recording what it returned.
struct Waiters {
    list: Vec<(Arc<WaiterState>, Option<JoinHandle<()>>)>,
}

struct WaiterState {
    done: AtomicU32,
    result: AtomicI64,
}

impl WaiterState {
    fn done(&self) -> bool {
        self.done.load(SeqCst) == 1
    }
    fn result(&self) -> Result<usize, Errno> {
        let r = self.result.load(SeqCst);
        if r >= 0 {
            Ok(r as usize)
        } else {
            Err(Errno((-r) as i32))
        }
    }
}

impl Waiters {
    fn new() -> Waiters {
        Waiters { list: Vec::new() }
    }

    /// Starts a waiter calling `futex(word, op, val, timeout, 0, bitset)`: a
    /// relative timeout of [`WAITER_TIMEOUT`] for `FUTEX_WAIT`, the same as an
    /// absolute `CLOCK_MONOTONIC` time for `FUTEX_WAIT_BITSET`. Its index.
    fn spawn(&mut self, word: usize, op: u32, val: u32, bitset: u32) -> Result<usize, String> {
        let st = Arc::new(WaiterState {
            done: AtomicU32::new(0),
            result: AtomicI64::new(i64::MIN),
        });
        let theirs = st.clone();
        let h = thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let ts = if op & FUTEX_CMD_MASK == FUTEX_WAIT_BITSET {
                    abs_time(CLOCK_MONOTONIC, WAITER_TIMEOUT)
                } else {
                    time::timespec(WAITER_TIMEOUT)
                };
                let r = fx(word, op, val, ts_ptr(&ts), 0, bitset);
                theirs.result.store(
                    match r {
                        Ok(v) => v as i64,
                        Err(e) => -(e.0 as i64),
                    },
                    SeqCst,
                );
                theirs.done.store(1, SeqCst);
            })
            .label("spawn waiter")?;
        self.list.push((st, Some(h)));
        Ok(self.list.len() - 1)
    }

    fn done(&self, i: usize) -> bool {
        self.list[i].0.done()
    }

    fn done_count(&self) -> usize {
        self.list.iter().filter(|(s, _)| s.done()).count()
    }

    /// Waits until `n` waiters have returned; true if they did.
    fn wait_done(&self, n: usize) -> bool {
        wait_until(SETTLE, || self.done_count() >= n) && self.done_count() == n
    }

    /// Checks that every finished waiter's call returned `Ok(0)` (woken).
    fn check_woken_ok(&self, ctx: &mut Ctx, what: &str) {
        for (i, (s, _)) in self.list.iter().enumerate() {
            if s.done() {
                let r = s.result();
                ctx.check(r == Ok(0), || {
                    format!("{what}: waiter {i} returned {r:?}, expected Ok(0) (woken)")
                });
            }
        }
    }

    /// Joins every waiter (after they have been woken).
    fn join(&mut self) {
        for (_, h) in self.list.iter_mut() {
            if let Some(h) = h.take() {
                h.join();
            }
        }
    }
}

pub fn futex_requeue(ctx: &mut Ctx) -> Result<(), String> {
    let words: &'static [AtomicU32; 2] = alloc::boxed::Box::leak(alloc::boxed::Box::new([
        AtomicU32::new(0),
        AtomicU32::new(0),
    ]));
    let (a, b) = (addr(&words[0]), addr(&words[1]));
    let mut ws = Waiters::new();
    for _ in 0..6 {
        ws.spawn(a, FUTEX_WAIT_PRIVATE, 0, 0)?;
    }
    wait_queued(a, 6, true)?;
    ctx.check(ws.done_count() == 0, || {
        format!("{} waiters returned before any wake", ws.done_count())
    });

    // Wake 2, move 3: returns woken + moved.
    let r = fx(a, FUTEX_REQUEUE_PRIVATE, 2, 3, b, 0);
    ctx.check(r == Ok(5), || {
        format!("REQUEUE(wake 2, move 3) of 6: {r:?}, expected Ok(5)")
    });
    ctx.check(ws.wait_done(2), || {
        format!("{} waiters returned after waking 2", ws.done_count())
    });
    let (qa, qb) = (queued(a, true), queued(b, true));
    ctx.check(qa == Ok(1) && qb == Ok(3), || {
        format!("after REQUEUE: {qa:?} on uaddr, {qb:?} on uaddr2; expected 1 and 3")
    });
    // The moved ones sleep on b: a wake of a cannot reach them, nor can waking 0.
    let r = fx(a, FUTEX_REQUEUE_PRIVATE, 0, 0, b, 0);
    ctx.check(r == Ok(0), || {
        format!("REQUEUE(0, 0): {r:?}, expected Ok(0)")
    });
    thread::sleep(Duration::from_millis(30));
    ctx.check(ws.done_count() == 2, || {
        format!("{} waiters returned, expected still 2", ws.done_count())
    });

    // Bad counts.
    let r = fx(a, FUTEX_REQUEUE_PRIVATE, u32::MAX, 1, b, 0);
    ctx.check(r == Err(Errno::EINVAL), || {
        format!("REQUEUE with val -1: {r:?}, expected EINVAL")
    });
    let r = fx(a, FUTEX_REQUEUE_PRIVATE, 1, u32::MAX as usize, b, 0);
    ctx.check(r == Err(Errno::EINVAL), || {
        format!("REQUEUE with val2 -1: {r:?}, expected EINVAL")
    });

    // The moved waiters are woken through uaddr2.
    let r = fx(b, FUTEX_WAKE_PRIVATE, 3, 0, 0, 0);
    ctx.check(r == Ok(3), || {
        format!("WAKE(uaddr2, 3): {r:?}, expected Ok(3)")
    });
    ctx.check(ws.wait_done(5), || {
        format!(
            "{} waiters returned after waking the 3 moved",
            ws.done_count()
        )
    });
    // A requeue that asks for more than there are moves what there is.
    let r = fx(a, FUTEX_REQUEUE_PRIVATE, 0, 10, b, 0);
    ctx.check(r == Ok(1), || {
        format!("REQUEUE(0, 10) of 1: {r:?}, expected Ok(1)")
    });
    let r = fx(b, FUTEX_WAKE_PRIVATE, 10, 0, 0, 0);
    ctx.check(r == Ok(1), || {
        format!("WAKE(uaddr2, 10) of 1: {r:?}, expected Ok(1)")
    });
    ctx.check(ws.wait_done(6), || {
        format!("{} of 6 waiters returned at the end", ws.done_count())
    });
    ws.check_woken_ok(ctx, "REQUEUE");
    ws.join();
    Ok(())
}

pub fn futex_cmp_requeue(ctx: &mut Ctx) -> Result<(), String> {
    let words: &'static [AtomicU32; 2] = alloc::boxed::Box::leak(alloc::boxed::Box::new([
        AtomicU32::new(7),
        AtomicU32::new(0),
    ]));
    let (a, b) = (addr(&words[0]), addr(&words[1]));
    let mut ws = Waiters::new();
    for _ in 0..5 {
        ws.spawn(a, FUTEX_WAIT_PRIVATE, 7, 0)?;
    }
    wait_queued(a, 5, true)?;

    // val3 mismatch: EAGAIN, nothing woken or moved.
    let r = fx(a, FUTEX_CMP_REQUEUE_PRIVATE, 1, 2, b, 8);
    ctx.check(r == Err(Errno::EAGAIN), || {
        format!("CMP_REQUEUE with *uaddr 7, val3 8: {r:?}, expected EAGAIN")
    });
    let (qa, qb) = (queued(a, true), queued(b, true));
    ctx.check(qa == Ok(5) && qb == Ok(0), || {
        format!("after the EAGAIN: {qa:?} and {qb:?} queued, expected 5 and 0")
    });
    ctx.check(ws.done_count() == 0, || {
        format!("{} waiters returned after an EAGAIN", ws.done_count())
    });

    // Wake 1, move 2.
    let r = fx(a, FUTEX_CMP_REQUEUE_PRIVATE, 1, 2, b, 7);
    ctx.check(r == Ok(3), || {
        format!("CMP_REQUEUE(wake 1, move 2) of 5: {r:?}, expected Ok(3)")
    });
    ctx.check(ws.wait_done(1), || {
        format!("{} waiters returned after waking 1", ws.done_count())
    });
    let (qa, qb) = (queued(a, true), queued(b, true));
    ctx.check(qa == Ok(2) && qb == Ok(2), || {
        format!("after CMP_REQUEUE: {qa:?} and {qb:?} queued, expected 2 and 2")
    });

    // Move only.
    let r = fx(a, FUTEX_CMP_REQUEUE_PRIVATE, 0, 1, b, 7);
    ctx.check(r == Ok(1), || {
        format!("CMP_REQUEUE(wake 0, move 1): {r:?}, expected Ok(1)")
    });
    let (qa, qb) = (queued(a, true), queued(b, true));
    ctx.check(qa == Ok(1) && qb == Ok(3), || {
        format!("after moving 1: {qa:?} and {qb:?} queued, expected 1 and 3")
    });
    thread::sleep(Duration::from_millis(30));
    ctx.check(ws.done_count() == 1, || {
        format!(
            "{} waiters returned after a move-only CMP_REQUEUE, expected 1",
            ws.done_count()
        )
    });

    // Asking for more than there are.
    let r = fx(a, FUTEX_CMP_REQUEUE_PRIVATE, 5, 5, b, 7);
    ctx.check(r == Ok(1), || {
        format!("CMP_REQUEUE(5, 5) of 1: {r:?}, expected Ok(1)")
    });
    ctx.check(ws.wait_done(2), || {
        format!("{} waiters returned, expected 2", ws.done_count())
    });
    // The word is compared even with nobody queued.
    let r = fx(a, FUTEX_CMP_REQUEUE_PRIVATE, 1, 1, b, 6);
    ctx.check(r == Err(Errno::EAGAIN), || {
        format!("CMP_REQUEUE with no waiters and a wrong val3: {r:?}, expected EAGAIN")
    });
    let r = fx(a, FUTEX_CMP_REQUEUE_PRIVATE, 1, 1, b, 7);
    ctx.check(r == Ok(0), || {
        format!("CMP_REQUEUE with no waiters: {r:?}, expected Ok(0)")
    });

    let r = fx(b, FUTEX_WAKE_PRIVATE, i32::MAX as u32, 0, 0, 0);
    ctx.check(r == Ok(3), || {
        format!("WAKE(uaddr2, all): {r:?}, expected Ok(3)")
    });
    ctx.check(ws.wait_done(5), || {
        format!("{} of 5 waiters returned at the end", ws.done_count())
    });
    ws.check_woken_ok(ctx, "CMP_REQUEUE");
    ws.join();
    Ok(())
}

struct WakeOpCase {
    init: u32,
    op: u32,
    oparg: u32,
    cmp: u32,
    cmparg: u32,
    new: u32,
    cond: bool,
}

pub fn futex_wake_op(ctx: &mut Ctx) -> Result<(), String> {
    let c = |init, op, oparg, cmp, cmparg, new, cond| WakeOpCase {
        init,
        op,
        oparg,
        cmp,
        cmparg,
        new,
        cond,
    };
    let cases = [
        c(3, FUTEX_OP_SET, 5, FUTEX_OP_CMP_EQ, 3, 5, true),
        c(3, FUTEX_OP_ADD, 10, FUTEX_OP_CMP_NE, 3, 13, false),
        c(0x0f, FUTEX_OP_OR, 0x30, FUTEX_OP_CMP_LT, 0x10, 0x3f, true),
        c(0x0f, FUTEX_OP_ANDN, 0x3, FUTEX_OP_CMP_LE, 0xe, 0xc, false),
        c(0xf0, FUTEX_OP_XOR, 0xff, FUTEX_OP_CMP_GT, 0xef, 0x0f, true),
        c(
            1,
            FUTEX_OP_ADD | FUTEX_OP_OPARG_SHIFT,
            4,
            FUTEX_OP_CMP_GE,
            1,
            17,
            true,
        ),
        c(
            0,
            FUTEX_OP_SET | FUTEX_OP_OPARG_SHIFT,
            31,
            FUTEX_OP_CMP_GE,
            1,
            0x8000_0000,
            false,
        ),
        // Signed comparison of the old value: -5 < 0.
        c(
            -5i32 as u32,
            FUTEX_OP_ADD,
            1,
            FUTEX_OP_CMP_LT,
            0,
            -4i32 as u32,
            true,
        ),
        // Sign-extended 12-bit operands: oparg 0xfff = -1, cmparg 0xfff = -1.
        c(10, FUTEX_OP_ADD, 0xfff, FUTEX_OP_CMP_EQ, 10, 9, true),
        c(0, FUTEX_OP_SET, 0, FUTEX_OP_CMP_GT, 0xfff, 0, true),
        c(7, FUTEX_OP_XOR, 7, FUTEX_OP_CMP_GE, 8, 0, false),
    ];
    let words: &'static [AtomicU32; 2] = alloc::boxed::Box::leak(alloc::boxed::Box::new([
        AtomicU32::new(0),
        AtomicU32::new(0),
    ]));
    let (w1, w2) = (addr(&words[0]), addr(&words[1]));
    for (i, k) in cases.iter().enumerate() {
        words[1].store(k.init, SeqCst);
        let mut ws = Waiters::new();
        ws.spawn(w1, FUTEX_WAIT_PRIVATE, 0, 0)?;
        ws.spawn(w2, FUTEX_WAIT_PRIVATE, k.init, 0)?;
        ws.spawn(w2, FUTEX_WAIT_PRIVATE, k.init, 0)?;
        wait_queued(w1, 1, true)?;
        wait_queued(w2, 2, true)?;
        let val3 = futex_op(k.op, k.oparg, k.cmp, k.cmparg);
        // nr_wake 1 on uaddr, nr_wake2 1 on uaddr2.
        let r = fx(w1, FUTEX_WAKE_OP_PRIVATE, 1, 1, w2, val3);
        let expect = 1 + k.cond as usize;
        ctx.check(r == Ok(expect), || {
            format!("case {i} (val3 {val3:#010x}, old {:#x}): WAKE_OP returned {r:?}, expected Ok({expect})", k.init)
        });
        let now = words[1].load(SeqCst);
        ctx.check(now == k.new, || {
            format!(
                "case {i} (val3 {val3:#010x}): *uaddr2 is {now:#x}, expected {:#x}",
                k.new
            )
        });
        ctx.check(ws.wait_done(expect), || {
            format!(
                "case {i}: {} waiters returned, expected {expect}",
                ws.done_count()
            )
        });
        ctx.check(ws.done(0), || {
            format!("case {i}: the uaddr waiter was not woken")
        });
        let (q1, q2) = (queued(w1, true), queued(w2, true));
        ctx.check(q1 == Ok(0) && q2 == Ok(2 - k.cond as usize), || {
            format!(
                "case {i}: {q1:?} and {q2:?} still queued, expected 0 and {}",
                2 - k.cond as usize
            )
        });
        let _ = fx(w2, FUTEX_WAKE_PRIVATE, 2, 0, 0, 0);
        ctx.check(ws.wait_done(3), || {
            format!("case {i}: cleanup wake left waiters")
        });
        ws.check_woken_ok(ctx, &format!("case {i}"));
        ws.join();
    }

    // nr_wake2 = 2 wakes both, and with no waiter on uaddr only uaddr2's count.
    words[1].store(1, SeqCst);
    let mut ws = Waiters::new();
    ws.spawn(w2, FUTEX_WAIT_PRIVATE, 1, 0)?;
    ws.spawn(w2, FUTEX_WAIT_PRIVATE, 1, 0)?;
    wait_queued(w2, 2, true)?;
    let r = fx(
        w1,
        FUTEX_WAKE_OP_PRIVATE,
        1,
        2,
        w2,
        futex_op(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_EQ, 1),
    );
    ctx.check(r == Ok(2), || {
        format!("WAKE_OP with nr_wake2 2, no uaddr waiter: {r:?}, expected Ok(2)")
    });
    ctx.check(words[1].load(SeqCst) == 2, || {
        String::from("ADD 1 not applied")
    });
    ctx.check(ws.wait_done(2), || {
        format!("{} of 2 uaddr2 waiters woken", ws.done_count())
    });
    ws.check_woken_ok(ctx, "nr_wake2 2");
    ws.join();

    // No waiters at all: the operation still happens; 0 woken.
    let r = fx(
        w1,
        FUTEX_WAKE_OP_PRIVATE,
        1,
        1,
        w2,
        futex_op(FUTEX_OP_SET, 0x123, FUTEX_OP_CMP_EQ, 2),
    );
    ctx.check(r == Ok(0), || {
        format!("WAKE_OP without waiters: {r:?}, expected Ok(0)")
    });
    ctx.check(words[1].load(SeqCst) == 0x123, || {
        format!(
            "WAKE_OP without waiters left {:#x}, expected 0x123",
            words[1].load(SeqCst)
        )
    });
    // Unknown operation / comparison codes.
    for (what, val3) in [
        ("op 6", 6u32 << 28),
        ("cmp 6", 6u32 << 24),
        ("cmp 15", 15u32 << 24),
    ] {
        let r = fx(w1, FUTEX_WAKE_OP_PRIVATE, 1, 1, w2, val3);
        ctx.check(r == Err(Errno::ENOSYS), || {
            format!("WAKE_OP with {what}: {r:?}, expected ENOSYS")
        });
    }
    Ok(())
}

pub fn futex_bitset(ctx: &mut Ctx) -> Result<(), String> {
    let word: &'static AtomicU32 =
        alloc::boxed::Box::leak(alloc::boxed::Box::new(AtomicU32::new(0)));
    let w = addr(word);
    let mut ws = Waiters::new();
    let t1 = ws.spawn(w, FUTEX_WAIT_BITSET_PRIVATE, 0, 0b001)?;
    let t2 = ws.spawn(w, FUTEX_WAIT_BITSET_PRIVATE, 0, 0b010)?;
    let t3 = ws.spawn(w, FUTEX_WAIT_BITSET_PRIVATE, 0, 0b110)?;
    wait_queued(w, 3, true)?;

    let r = fx(w, FUTEX_WAKE_BITSET_PRIVATE, i32::MAX as u32, 0, 0, 0b1000);
    ctx.check(r == Ok(0), || {
        format!("WAKE_BITSET 0b1000 (no match): {r:?}, expected Ok(0)")
    });
    let q = queued(w, true);
    ctx.check(q == Ok(3), || {
        format!("after a non-matching wake {q:?} queued, expected 3")
    });

    let r = fx(w, FUTEX_WAKE_BITSET_PRIVATE, i32::MAX as u32, 0, 0, 0b010);
    ctx.check(r == Ok(2), || {
        format!("WAKE_BITSET 0b010: {r:?}, expected Ok(2)")
    });
    ctx.check(ws.wait_done(2), || {
        format!("{} waiters returned, expected 2", ws.done_count())
    });
    ctx.check(ws.done(t2) && ws.done(t3) && !ws.done(t1), || {
        format!(
            "WAKE_BITSET 0b010 woke the wrong ones: 0b001 {}, 0b010 {}, 0b110 {}",
            ws.done(t1),
            ws.done(t2),
            ws.done(t3)
        )
    });
    let r = fx(w, FUTEX_WAKE_BITSET_PRIVATE, i32::MAX as u32, 0, 0, 0b100);
    ctx.check(r == Ok(0), || {
        format!("WAKE_BITSET 0b100 after 0b110 left: {r:?}, expected Ok(0)")
    });

    // A plain FUTEX_WAIT has the match-any bitset; nr limits the count.
    let t4 = ws.spawn(w, FUTEX_WAIT_PRIVATE, 0, 0)?;
    let t5 = ws.spawn(w, FUTEX_WAIT_BITSET_PRIVATE, 0, 0b1000)?;
    wait_queued(w, 3, true)?;
    let r = fx(w, FUTEX_WAKE_BITSET_PRIVATE, i32::MAX as u32, 0, 0, 0b001);
    ctx.check(r == Ok(2), || {
        format!("WAKE_BITSET 0b001 with a plain waiter: {r:?}, expected Ok(2)")
    });
    ctx.check(ws.wait_done(4), || {
        format!("{} waiters returned, expected 4", ws.done_count())
    });
    ctx.check(ws.done(t1) && ws.done(t4) && !ws.done(t5), || {
        String::from("WAKE_BITSET 0b001 did not wake exactly the 0b001 and the plain waiter")
    });
    // A plain FUTEX_WAKE wakes any bitset.
    let r = fx(w, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
    ctx.check(r == Ok(1), || {
        format!("FUTEX_WAKE of a 0b1000 waiter: {r:?}, expected Ok(1)")
    });
    ctx.check(ws.wait_done(5), || {
        format!("{} of 5 waiters returned", ws.done_count())
    });
    ws.check_woken_ok(ctx, "bitset");
    ws.join();

    // Bitset 0 is invalid for both; a mismatched value is EAGAIN.
    let ts = abs_time(CLOCK_MONOTONIC, Duration::from_secs(5));
    let r = fx(w, FUTEX_WAIT_BITSET_PRIVATE, 0, ts_ptr(&ts), 0, 0);
    ctx.check(r == Err(Errno::EINVAL), || {
        format!("WAIT_BITSET bitset 0: {r:?}, expected EINVAL")
    });
    let r = fx(w, FUTEX_WAKE_BITSET_PRIVATE, 1, 0, 0, 0);
    ctx.check(r == Err(Errno::EINVAL), || {
        format!("WAKE_BITSET bitset 0: {r:?}, expected EINVAL")
    });
    let r = fx(w, FUTEX_WAIT_BITSET_PRIVATE, 1, ts_ptr(&ts), 0, 0b1);
    ctx.check(r == Err(Errno::EAGAIN), || {
        format!("WAIT_BITSET with *uaddr != val: {r:?}, expected EAGAIN")
    });
    Ok(())
}

pub fn futex_timeout(ctx: &mut Ctx) -> Result<(), String> {
    let word = AtomicU32::new(0);
    let w = addr(&word);
    // Relative FUTEX_WAIT: never early, ETIMEDOUT.
    for ms in [1u64, 10, 50, 120] {
        let d = Duration::from_millis(ms);
        let ts = time::timespec(d);
        for op in [FUTEX_WAIT_PRIVATE, FUTEX_WAIT] {
            let t0 = Instant::now();
            let r = fx(w, op, 0, ts_ptr(&ts), 0, 0);
            let el = t0.elapsed();
            ctx.check(r == Err(Errno::ETIMEDOUT), || {
                format!("FUTEX_WAIT op {op} {ms} ms: {r:?}, expected ETIMEDOUT")
            });
            ctx.check(el >= d, || {
                format!("FUTEX_WAIT op {op} {ms} ms returned early, after {el:?}")
            });
        }
    }
    let zero = Timespec::default();
    let r = fx(w, FUTEX_WAIT_PRIVATE, 0, ts_ptr(&zero), 0, 0);
    ctx.check(r == Err(Errno::ETIMEDOUT), || {
        format!("FUTEX_WAIT with a zero timeout: {r:?}, expected ETIMEDOUT")
    });
    let long = time::timespec(Duration::from_secs(10));
    let t0 = Instant::now();
    let r = fx(w, FUTEX_WAIT_PRIVATE, 1, ts_ptr(&long), 0, 0);
    ctx.check(r == Err(Errno::EAGAIN), || {
        format!("FUTEX_WAIT with *uaddr != val: {r:?}, expected EAGAIN")
    });
    ctx.check(t0.elapsed() < Duration::from_secs(5), || {
        String::from("EAGAIN took seconds")
    });

    // Absolute WAIT_BITSET on CLOCK_MONOTONIC and, with FUTEX_CLOCK_REALTIME, on
    // CLOCK_REALTIME: returns ETIMEDOUT no earlier than the deadline on that clock.
    for (clock, flag, name) in [
        (CLOCK_MONOTONIC, 0, "CLOCK_MONOTONIC"),
        (CLOCK_REALTIME, FUTEX_CLOCK_REALTIME, "FUTEX_CLOCK_REALTIME"),
    ] {
        for ms in [5u64, 60] {
            let deadline = abs_time(clock, Duration::from_millis(ms));
            let t0 = Instant::now();
            let r = fx(
                w,
                FUTEX_WAIT_BITSET_PRIVATE | flag,
                0,
                ts_ptr(&deadline),
                0,
                FUTEX_BITSET_MATCH_ANY,
            );
            let after = clock_now(clock);
            let el = t0.elapsed();
            ctx.check(r == Err(Errno::ETIMEDOUT), || {
                format!("WAIT_BITSET {name} +{ms} ms: {r:?}, expected ETIMEDOUT")
            });
            ctx.check(after >= time::duration(&deadline), || {
                format!("WAIT_BITSET {name} +{ms} ms returned before its deadline (after {el:?})")
            });
            ctx.check(el < Duration::from_secs(20), || {
                format!("WAIT_BITSET {name} +{ms} ms took {el:?} (wrong clock?)")
            });
        }
        // A deadline in the past (1 ns after the clock's zero) times out at once.
        let past = Timespec {
            tv_sec: 0,
            tv_nsec: 1,
        };
        let r = fx(
            w,
            FUTEX_WAIT_BITSET_PRIVATE | flag,
            0,
            ts_ptr(&past),
            0,
            FUTEX_BITSET_MATCH_ANY,
        );
        ctx.check(r == Err(Errno::ETIMEDOUT), || {
            format!("WAIT_BITSET {name} with a past deadline: {r:?}, expected ETIMEDOUT")
        });
    }
    Ok(())
}

/// `n` zeroed u32 futex words in `MAP_SHARED | MAP_ANONYMOUS` memory (leaked).
fn shared_u32(n: usize) -> Result<&'static [AtomicU32], String> {
    let len = (n * 4).div_ceil(PAGE) * PAGE;
    // SAFETY: a fresh shared mapping, never unmapped.
    let p = unsafe {
        sys::mmap(
            0,
            len,
            PROT_READ | PROT_WRITE,
            MAP_SHARED | MAP_ANONYMOUS,
            -1,
            0,
        )
    }
    .label("mmap MAP_SHARED")?;
    // SAFETY: zeroed, aligned, live forever.
    Ok(unsafe { core::slice::from_raw_parts(p as *const AtomicU32, n) })
}

pub fn futex_shared_across_fork(ctx: &mut Ctx) -> Result<(), String> {
    let words = shared_u32(2)?;
    let long = time::timespec(WAITER_TIMEOUT);

    // Parent waits, child wakes.
    let w = addr(&words[0]);
    let pid = fork_child(|| {
        if wait_queued(w, 1, false).is_err() {
            return 10;
        }
        // A private wake from another process names another futex.
        if fx(w, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0) != Ok(0) {
            return 11;
        }
        // SAFETY: the shared mapping is inherited.
        words[0].store(1, SeqCst);
        match fx(w, FUTEX_WAKE, 1, 0, 0, 0) {
            Ok(1) => 0,
            Ok(n) => 20 + n as i32,
            Err(_) => 12,
        }
    })?;
    let t0 = Instant::now();
    let r = fx(w, FUTEX_WAIT, 0, ts_ptr(&long), 0, 0);
    ctx.check(r == Ok(0) && words[0].load(SeqCst) == 1, || {
        format!(
            "parent FUTEX_WAIT: {r:?} after {:?}, word {} (child should have woken it)",
            t0.elapsed(),
            words[0].load(SeqCst)
        )
    });
    match wait_child(pid, Duration::from_secs(40))? {
        WaitStatus::Exited(0) => {}
        WaitStatus::Exited(10) => ctx.fail(String::from(
            "child never saw the parent queued (shared key)",
        )),
        WaitStatus::Exited(11) => ctx.fail(String::from(
            "a private wake from the child woke the parent",
        )),
        st => ctx.fail(format!("waking child ended with {st:?}")),
    }

    // Child waits, parent wakes.
    let w = addr(&words[1]);
    let pid = fork_child(|| match fx(w, FUTEX_WAIT, 0, ts_ptr(&long), 0, 0) {
        Ok(0) if words[1].load(SeqCst) == 1 => 0,
        Ok(_) => 31,
        Err(Errno::ETIMEDOUT) => 32,
        Err(_) => 33,
    })?;
    wait_queued(w, 1, false).map_err(|e| format!("child waiter: {e}"))?;
    let r = fx(w, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
    ctx.check(r == Ok(0), || {
        format!("private wake of the child's shared futex: {r:?}, expected Ok(0)")
    });
    words[1].store(1, SeqCst);
    let r = fx(w, FUTEX_WAKE, 1, 0, 0, 0);
    ctx.check(r == Ok(1), || {
        format!("FUTEX_WAKE of the child: {r:?}, expected Ok(1)")
    });
    match wait_child(pid, Duration::from_secs(40))? {
        WaitStatus::Exited(0) => {}
        st => ctx.fail(format!(
            "waiting child ended with {st:?} (31: bad word, 32: timed out)"
        )),
    }
    Ok(())
}

fn expect(ctx: &mut Ctx, what: &str, r: Result<usize, Errno>, e: Errno) {
    ctx.check(r == Err(e), || format!("{what}: {r:?}, expected {e:?}"));
}

pub fn futex_efault_einval(ctx: &mut Ctx) -> Result<(), String> {
    let good = AtomicU32::new(0);
    let g = addr(&good);
    let hole = unmapped_addr()?;
    let none = prot_none_page()?;
    // A read-only page holding 0.
    // SAFETY: a fresh mapping.
    let ro = unsafe { sys::mmap(0, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) }
        .label("mmap PROT_READ")? as usize;
    let ts = time::timespec(Duration::from_millis(10));
    let t = ts_ptr(&ts);

    // Bad words: EFAULT.
    for (name, bad) in [
        ("NULL", 0usize),
        ("unmapped", hole),
        ("PROT_NONE", none),
        ("kernel", KERNEL_ADDR),
        ("non-canonical", NONCANONICAL_ADDR),
    ] {
        expect(
            ctx,
            &format!("WAIT_PRIVATE {name}"),
            fx(bad, FUTEX_WAIT_PRIVATE, 0, t, 0, 0),
            Errno::EFAULT,
        );
        expect(
            ctx,
            &format!("WAIT {name}"),
            fx(bad, FUTEX_WAIT, 0, t, 0, 0),
            Errno::EFAULT,
        );
        expect(
            ctx,
            &format!("WAIT_BITSET {name}"),
            fx(
                bad,
                FUTEX_WAIT_BITSET_PRIVATE,
                0,
                0,
                0,
                FUTEX_BITSET_MATCH_ANY,
            ),
            Errno::EFAULT,
        );
        expect(
            ctx,
            &format!("CMP_REQUEUE uaddr {name}"),
            fx(bad, FUTEX_CMP_REQUEUE_PRIVATE, 1, 1, g, 0),
            Errno::EFAULT,
        );
        expect(
            ctx,
            &format!("WAKE_OP uaddr2 {name}"),
            fx(
                g,
                FUTEX_WAKE_OP_PRIVATE,
                1,
                1,
                bad,
                futex_op(FUTEX_OP_SET, 1, FUTEX_OP_CMP_EQ, 0),
            ),
            Errno::EFAULT,
        );
    }
    for (name, bad) in [
        ("kernel", KERNEL_ADDR),
        ("non-canonical", NONCANONICAL_ADDR),
    ] {
        expect(
            ctx,
            &format!("WAKE {name}"),
            fx(bad, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0),
            Errno::EFAULT,
        );
        expect(
            ctx,
            &format!("REQUEUE uaddr2 {name}"),
            fx(g, FUTEX_REQUEUE_PRIVATE, 1, 1, bad, 0),
            Errno::EFAULT,
        );
    }
    // WAKE_OP must write uaddr2: a read-only page is EFAULT and keeps its value.
    expect(
        ctx,
        "WAKE_OP uaddr2 read-only",
        fx(
            g,
            FUTEX_WAKE_OP_PRIVATE,
            1,
            1,
            ro,
            futex_op(FUTEX_OP_SET, 1, FUTEX_OP_CMP_EQ, 0),
        ),
        Errno::EFAULT,
    );
    // SAFETY: a readable page.
    ctx.check(unsafe { peek(ro) } == 0, || {
        String::from("WAKE_OP wrote into a read-only page")
    });
    // ...but a wait only reads: a read-only word compares normally.
    let r = fx(ro, FUTEX_WAIT_PRIVATE, 1, t, 0, 0);
    ctx.check(r == Err(Errno::EAGAIN), || {
        format!("WAIT on a read-only word holding 0, val 1: {r:?}, expected EAGAIN")
    });
    // Bad timeout pointers.
    for (name, bad) in [("unmapped", hole), ("kernel", KERNEL_ADDR)] {
        let r = fx(g, FUTEX_WAIT_PRIVATE, 0, bad, 0, 0);
        ctx.check(r == Err(Errno::EFAULT), || {
            format!("WAIT timeout {name}: {r:?}, expected EFAULT")
        });
    }

    // Misaligned words: EINVAL.
    for off in [1usize, 2, 3] {
        expect(
            ctx,
            &format!("WAIT +{off}"),
            fx(g + off, FUTEX_WAIT_PRIVATE, 0, t, 0, 0),
            Errno::EINVAL,
        );
        expect(
            ctx,
            &format!("WAKE +{off}"),
            fx(g + off, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0),
            Errno::EINVAL,
        );
        expect(
            ctx,
            &format!("REQUEUE uaddr2 +{off}"),
            fx(g, FUTEX_REQUEUE_PRIVATE, 1, 1, g + off, 0),
            Errno::EINVAL,
        );
        expect(
            ctx,
            &format!("WAKE_OP uaddr2 +{off}"),
            fx(
                g,
                FUTEX_WAKE_OP_PRIVATE,
                1,
                1,
                g + off,
                futex_op(FUTEX_OP_SET, 0, FUTEX_OP_CMP_EQ, 0),
            ),
            Errno::EINVAL,
        );
    }
    // Unknown operations: ENOSYS.
    for op in [
        FUTEX_FD,
        14,
        15,
        99,
        127,
        FUTEX_WAKE | FUTEX_CLOCK_REALTIME,
        FUTEX_REQUEUE | FUTEX_CLOCK_REALTIME,
    ] {
        expect(
            ctx,
            &format!("op {op}"),
            fx(g, op, 0, 0, g, 0),
            Errno::ENOSYS,
        );
    }
    // Invalid timeouts (the word matches, so only the timeout is wrong): EINVAL.
    for (name, bad) in [
        (
            "tv_sec -1",
            Timespec {
                tv_sec: -1,
                tv_nsec: 0,
            },
        ),
        (
            "tv_nsec -1",
            Timespec {
                tv_sec: 0,
                tv_nsec: -1,
            },
        ),
        (
            "tv_nsec 1e9",
            Timespec {
                tv_sec: 0,
                tv_nsec: 1_000_000_000,
            },
        ),
        (
            "both negative",
            Timespec {
                tv_sec: -5,
                tv_nsec: -5,
            },
        ),
    ] {
        expect(
            ctx,
            &format!("WAIT timeout {name}"),
            fx(g, FUTEX_WAIT_PRIVATE, 0, ts_ptr(&bad), 0, 0),
            Errno::EINVAL,
        );
        expect(
            ctx,
            &format!("WAIT_BITSET deadline {name}"),
            fx(
                g,
                FUTEX_WAIT_BITSET_PRIVATE,
                0,
                ts_ptr(&bad),
                0,
                FUTEX_BITSET_MATCH_ANY,
            ),
            Errno::EINVAL,
        );
    }
    // The process is fine afterwards.
    let r = fx(g, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
    ctx.check(r == Ok(0), || format!("WAKE after the bad calls: {r:?}"));
    Ok(())
}

/// A robust mutex entry: the list link, then the futex word.
#[repr(C)]
struct RobustEntry {
    next: AtomicU64,
    word: AtomicU32,
}

#[repr(C)]
struct RobustHead {
    next: AtomicU64,
    futex_offset: i64,
    list_op_pending: AtomicU64,
}

pub fn futex_robust_owner_died(ctx: &mut Ctx) -> Result<(), String> {
    // Leaked: the kernel walks them after the owner thread is gone.
    let head: &'static RobustHead = alloc::boxed::Box::leak(alloc::boxed::Box::new(RobustHead {
        next: AtomicU64::new(0),
        futex_offset: core::mem::offset_of!(RobustEntry, word) as i64,
        list_op_pending: AtomicU64::new(0),
    }));
    let e1: &'static RobustEntry = alloc::boxed::Box::leak(alloc::boxed::Box::new(RobustEntry {
        next: AtomicU64::new(0),
        word: AtomicU32::new(0),
    }));
    let e2: &'static RobustEntry = alloc::boxed::Box::leak(alloc::boxed::Box::new(RobustEntry {
        next: AtomicU64::new(0),
        word: AtomicU32::new(0),
    }));
    let owner_tid = Arc::new(AtomicU32::new(0));
    let release = Arc::new(AtomicU32::new(0));
    let (ot, rel) = (owner_tid.clone(), release.clone());
    let owner = thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || -> Result<(), String> {
            let tid = sys::gettid() as u32;
            // Lock both robust mutexes (word = owner tid) and list them.
            if e1.word.compare_exchange(0, tid, SeqCst, SeqCst).is_err()
                || e2.word.compare_exchange(0, tid, SeqCst, SeqCst).is_err()
            {
                return Err(String::from("owner could not lock"));
            }
            let h = head as *const RobustHead as u64;
            e2.next.store(h, SeqCst);
            e1.next.store(&e2.next as *const AtomicU64 as u64, SeqCst);
            head.next.store(&e1.next as *const AtomicU64 as u64, SeqCst);
            // SAFETY: the head and entries are leaked, valid until the process ends.
            unsafe { sys::set_robust_list(head as *const RobustHead as *const u8, 24) }
                .label("set_robust_list")?;
            ot.store(tid, SeqCst);
            // Exit holding both once the main thread sleeps on e1.
            while rel.load(SeqCst) == 0 {
                thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        })
        .label("spawn owner")?;
    if !wait_until(SETTLE, || owner_tid.load(SeqCst) != 0) {
        release.store(1, SeqCst);
        return Err(String::from("owner thread did not lock"));
    }
    let tid = owner_tid.load(SeqCst);
    // Contend on e1 like a robust mutex does: mark waiters, then sleep on the word.
    let w1 = tid | FUTEX_WAITERS;
    if e1.word.compare_exchange(tid, w1, SeqCst, SeqCst).is_err() {
        release.store(1, SeqCst);
        return Err(format!(
            "e1 word {:#x}, expected owner {tid}",
            e1.word.load(SeqCst)
        ));
    }
    let waker = release.clone();
    let e1w = addr(&e1.word);
    // A helper lets the owner go once this thread is queued on e1.
    let helper = thread::spawn(move || {
        let ok = wait_queued(e1w, 1, false).is_ok();
        waker.store(1, SeqCst);
        ok
    });
    let long = time::timespec(WAITER_TIMEOUT);
    let t0 = Instant::now();
    let r = fx(e1w, FUTEX_WAIT, w1, ts_ptr(&long), 0, 0);
    let el = t0.elapsed();
    let queued_ok = helper.join();
    if let Err(e) = owner.join() {
        ctx.fail(e);
    }
    ctx.check(queued_ok, || {
        String::from("the waiter was never seen queued on e1")
    });
    ctx.check(r == Ok(0), || format!("waiter on the dead owner's lock: {r:?} after {el:?}, expected Ok(0) (woken at owner exit)"));
    let v1 = e1.word.load(SeqCst);
    ctx.check(
        v1 & FUTEX_OWNER_DIED != 0 && v1 & FUTEX_TID_MASK == 0,
        || format!("e1 word after owner exit {v1:#x}: expected FUTEX_OWNER_DIED and no owner"),
    );
    ctx.check(v1 & FUTEX_WAITERS != 0, || {
        format!("e1 word {v1:#x} lost FUTEX_WAITERS")
    });
    // The waiter takes the lock over, keeping OWNER_DIED for it to see.
    let me = sys::gettid() as u32;
    ctx.check(
        e1.word
            .compare_exchange(v1, me | FUTEX_OWNER_DIED, SeqCst, SeqCst)
            .is_ok(),
        || String::from("could not take over e1"),
    );
    // e2 had no waiters: OWNER_DIED alone.
    let v2 = e2.word.load(SeqCst);
    ctx.check(v2 == FUTEX_OWNER_DIED, || {
        format!("e2 word after owner exit {v2:#x}, expected {FUTEX_OWNER_DIED:#x}")
    });
    Ok(())
}

pub fn futex_cleartid_join(ctx: &mut Ctx) -> Result<(), String> {
    // In a child, so that a kernel that never clears or never wakes the tid word
    // fails the test (the child is killed after its time limit) rather than hang.
    let report = shared_u32(4)?;
    let st = match run_child(
        || {
            let gate = Arc::new(AtomicU32::new(0));
            // A thread that stays blocked until told: its word must be its tid.
            let g = gate.clone();
            let blocked = match spawn_raw(0, move || {
                while g.load(SeqCst) == 0 {
                    let _ = weft_sync::futex::wait(&g, 0, None);
                }
                sys::gettid()
            }) {
                Ok(h) => h,
                Err(_) => return 2,
            };
            thread::sleep(Duration::from_millis(20));
            let word = blocked.tid_word().load(SeqCst);
            report[0].store(word, SeqCst);
            report[1].store(blocked.tid() as u32, SeqCst);
            if word != blocked.tid() as u32 {
                return 3;
            }
            gate.store(1, SeqCst);
            weft_sync::futex::wake_all(&gate);
            // Pure FUTEX_WAIT on the word, no timeout.
            wait_tid(blocked.tid_word());
            if blocked.tid_word().load(SeqCst) != 0 {
                return 4;
            }
            let tid = blocked.tid();
            if blocked.join() != tid {
                return 5;
            }
            // Many threads, some exiting before the join starts, some after.
            let finished = Arc::new(AtomicU32::new(0));
            let mut hs = Vec::new();
            for i in 0..24u32 {
                let f = finished.clone();
                match spawn_raw(0, move || {
                    thread::sleep(Duration::from_millis((i % 4) as u64 * 10));
                    f.fetch_add(1, SeqCst);
                    i * 7
                }) {
                    Ok(h) => hs.push(h),
                    Err(_) => return 6,
                }
            }
            for (i, h) in hs.into_iter().enumerate() {
                if h.join() != i as u32 * 7 {
                    return 7;
                }
            }
            report[2].store(finished.load(SeqCst), SeqCst);
            if finished.load(SeqCst) != 24 { 8 } else { 0 }
        },
        Duration::from_secs(60),
    ) {
        Ok(st) => st,
        Err(e) => {
            return Err(format!(
                "{e}: a join by FUTEX_WAIT on the tid word never returned (no clear or no wake at exit)"
            ));
        }
    };
    match st {
        WaitStatus::Exited(0) => {}
        WaitStatus::Exited(3) => ctx.fail(format!(
            "the live thread's clear-child-tid word is {}, clone returned {} (CLONE_PARENT_SETTID)",
            report[0].load(SeqCst),
            report[1].load(SeqCst)
        )),
        WaitStatus::Exited(c) => ctx.fail(format!("join child failed with code {c} (finished {})", report[2].load(SeqCst))),
        WaitStatus::Signaled(s) => ctx.fail(format!(
            "join child killed by signal {s}: a join by FUTEX_WAIT on the tid word never returned (no clear or no wake at exit)"
        )),
        other => ctx.fail(format!("join child ended with {other:?}")),
    }
    Ok(())
}
