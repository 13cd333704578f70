//! weft-sync tests: futex_mutex_exact, futex_condvar_broadcast, semaphore_pingpong,
//! rwlock_readers_writers, barrier_rounds, sync_once, sync_spinlock, sync_try_lock,
//! sync_thread_local, sync_uncontended_no_syscall.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::Cell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use core::time::Duration;

use weft_rt::{sys, thread, wthread};
use weft_sync::tls::Key;
use weft_sync::{
    Barrier, Condvar, Mutex, Once, OnceLock, RwLock, Semaphore, SpinLock, ThreadLocal, futex,
};

use crate::harness::{Ctx, Label};
use crate::t_futex::{queued, wait_queued};
use crate::util::*;

/// CPUs in the affinity mask (`sched_getaffinity`), at least 1.
fn ncpus() -> usize {
    sys::sched_getaffinity(0)
        .map(|s| s.count() as usize)
        .unwrap_or(1)
        .max(1)
}

fn spawn<F, T>(f: F) -> Result<thread::JoinHandle<T>, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    thread::Builder::new()
        .stack_size(128 * 1024)
        .spawn(f)
        .label("spawn")
}

pub fn futex_mutex_exact(ctx: &mut Ctx) -> Result<(), String> {
    const ITERS: u64 = 100_000;
    let threads = ncpus() * 2;
    // The counter is incremented by a separate read and write: any two holders at
    // once lose increments. `inside` catches overlap directly.
    let shared = Arc::new((Mutex::new(0u64), AtomicU32::new(0), AtomicU64::new(0)));
    let calls0 = futex::syscall_count();
    let hs: Vec<_> = (0..threads)
        .map(|_| {
            let s = shared.clone();
            spawn(move || {
                let (m, inside, overlaps) = &*s;
                for _ in 0..ITERS {
                    let mut g = m.lock();
                    if inside.swap(1, Relaxed) != 0 {
                        overlaps.fetch_add(1, Relaxed);
                    }
                    // SAFETY: plain accesses to the locked value.
                    unsafe {
                        let v = core::ptr::read_volatile(&*g);
                        core::ptr::write_volatile(&mut *g, v + 1);
                    }
                    inside.store(0, Relaxed);
                    drop(g);
                }
            })
        })
        .collect::<Result<_, _>>()?;
    for h in hs {
        h.join();
    }
    let (m, _, overlaps) = &*shared;
    let total = *m.lock();
    let want = threads as u64 * ITERS;
    ctx.check(total == want, || {
        format!("{threads} threads x {ITERS}: total {total}, expected {want}")
    });
    ctx.check(overlaps.load(Relaxed) == 0, || {
        format!(
            "{} times two threads held the mutex",
            overlaps.load(Relaxed)
        )
    });
    ctx.note(&format!(
        "{threads} threads, {} futex calls",
        futex::syscall_count() - calls0
    ));

    // Contended lockers sleep in the kernel, queued on the lock word, and the
    // unlocks hand the lock on to every one of them.
    let m2 = Arc::new(Mutex::new(0u64));
    let g = m2.lock();
    let word = m2.raw().futex_word_addr() as usize;
    let hs: Vec<_> = (0..threads)
        .map(|_| {
            let m = m2.clone();
            spawn(move || *m.lock() += 1)
        })
        .collect::<Result<_, _>>()?;
    let q = wait_queued(word, threads, true);
    drop(g);
    for h in hs {
        h.join();
    }
    if let Err(e) = q {
        ctx.fail(format!(
            "contended lockers not asleep on the mutex word: {e}"
        ));
    }
    ctx.check(*m2.lock() == threads as u64, || {
        format!("{} of {threads} sleeping lockers got the lock", *m2.lock())
    });
    Ok(())
}

struct Bcast {
    generation: u32,
    waiting: u32,
}

pub fn futex_condvar_broadcast(ctx: &mut Ctx) -> Result<(), String> {
    const WAITERS: usize = 16;
    const ROUNDS: u32 = 25;
    let shared = Arc::new((
        Mutex::new(Bcast {
            generation: 0,
            waiting: 0,
        }),
        Condvar::new(),
        Condvar::new(),
    ));
    let hs: Vec<_> = (0..WAITERS)
        .map(|_| {
            let s = shared.clone();
            spawn(move || -> Result<u32, String> {
                let (m, cv, all_in) = &*s;
                let mut g = m.lock();
                let mut returns = 0;
                for round in 1..=ROUNDS {
                    g.waiting += 1;
                    if g.waiting as usize == WAITERS {
                        all_in.notify_one();
                    }
                    let mine = g.generation;
                    loop {
                        g = cv.wait(g);
                        returns += 1;
                        if g.generation != mine {
                            break;
                        }
                    }
                    if g.generation != round {
                        return Err(format!(
                            "woke in generation {} for round {round}",
                            g.generation
                        ));
                    }
                }
                Ok(returns)
            })
        })
        .collect::<Result<_, _>>()?;
    let (m, cv, all_in) = &*shared;
    let calls0 = futex::syscall_count();
    for _ in 0..ROUNDS {
        let mut g = m.lock();
        while (g.waiting as usize) < WAITERS {
            let (g2, to) = all_in.wait_timeout(g, Duration::from_secs(20));
            g = g2;
            if to.timed_out() && (g.waiting as usize) < WAITERS {
                let w = g.waiting;
                g.generation = ROUNDS + 1000;
                drop(g);
                cv.notify_all();
                return Err(format!("only {w} of {WAITERS} waiters came back"));
            }
        }
        g.waiting = 0;
        g.generation += 1;
        cv.notify_all();
        if g.generation == 1 {
            // notify_all woke one waiter and requeued the others onto the mutex
            // word; the woken one sleeps there too while this thread holds the
            // mutex. None is left on the condition variable's word.
            let mw = m.raw().futex_word_addr() as usize;
            let q = wait_queued(mw, WAITERS, true);
            let left = queued(cv.futex_word_addr() as usize, true);
            ctx.check(q.is_ok() && left == Ok(0), || {
                format!("after notify_all: {q:?} on the mutex word, {left:?} on the condvar word (expected {WAITERS} and 0)")
            });
        }
        drop(g);
    }
    for (i, h) in hs.into_iter().enumerate() {
        match h.join() {
            // One return from wait per broadcast: no lost and no extra wake-ups.
            Ok(r) => ctx.check(r == ROUNDS, || {
                format!("waiter {i} returned from wait {r} times for {ROUNDS} broadcasts")
            }),
            Err(e) => ctx.check(false, || format!("waiter {i}: {e}")),
        };
    }
    ctx.note(&format!(
        "{WAITERS} waiters x {ROUNDS} broadcasts, {} futex calls",
        futex::syscall_count() - calls0
    ));
    Ok(())
}

pub fn semaphore_pingpong(ctx: &mut Ctx) -> Result<(), String> {
    const N: u32 = 5000;
    // ping: main -> thread, pong: thread -> main. `turn` counts the steps; each side
    // checks that it is its turn when its semaphore lets it go.
    let shared = Arc::new((Semaphore::new(0), Semaphore::new(0), AtomicU32::new(0)));
    let s = shared.clone();
    let h = spawn(move || -> Result<(), String> {
        let (ping, pong, turn) = &*s;
        for i in 0..N {
            ping.acquire();
            let t = turn.load(SeqCst);
            if t != 2 * i + 1 {
                return Err(format!(
                    "thread: step {t} at its turn {i}, expected {}",
                    2 * i + 1
                ));
            }
            turn.store(t + 1, SeqCst);
            pong.release();
        }
        Ok(())
    })?;
    let (ping, pong, turn) = &*shared;
    // The thread sleeps in the kernel on the empty semaphore.
    if let Err(e) = wait_queued(ping.futex_word_addr() as usize, 1, true) {
        ctx.fail(format!("acquire of an empty semaphore does not sleep: {e}"));
    }
    for i in 0..N {
        let t = turn.load(SeqCst);
        if t != 2 * i {
            ctx.fail(format!(
                "main: step {t} at its turn {i}, expected {}",
                2 * i
            ));
            break;
        }
        turn.store(t + 1, SeqCst);
        ping.release();
        if !pong.acquire_timeout(Duration::from_secs(20)) {
            ctx.fail(format!("no pong for ping {i} within 20 s"));
            break;
        }
    }
    if let Err(e) = h.join() {
        ctx.fail(e);
    }
    ctx.check(turn.load(SeqCst) == 2 * N, || {
        format!("{} steps, expected {}", turn.load(SeqCst), 2 * N)
    });
    ctx.check(ping.available() == 0 && pong.available() == 0, || {
        String::from("permits left over")
    });
    ctx.check(!ping.try_acquire(), || {
        String::from("try_acquire of an empty semaphore succeeded")
    });
    ctx.check(!ping.acquire_timeout(Duration::from_millis(20)), || {
        String::from("acquire_timeout of an empty semaphore succeeded")
    });

    // Counting: never more than 3 holders of a 3-permit semaphore.
    let sem = Arc::new((Semaphore::new(3), AtomicU32::new(0), AtomicU32::new(0)));
    let hs: Vec<_> = (0..8)
        .map(|_| {
            let s = sem.clone();
            spawn(move || {
                let (sem, holders, max) = &*s;
                for _ in 0..300 {
                    sem.acquire();
                    let n = holders.fetch_add(1, SeqCst) + 1;
                    max.fetch_max(n, SeqCst);
                    core::hint::spin_loop();
                    holders.fetch_sub(1, SeqCst);
                    sem.release();
                }
            })
        })
        .collect::<Result<_, _>>()?;
    for h in hs {
        h.join();
    }
    let (sem, _, max) = &*sem;
    ctx.check(max.load(SeqCst) <= 3, || {
        format!(
            "{} holders at once of a 3-permit semaphore",
            max.load(SeqCst)
        )
    });
    ctx.check(sem.available() == 3, || {
        format!("{} permits at the end, expected 3", sem.available())
    });
    Ok(())
}

struct Pair {
    a: u64,
    b: u64,
}

pub fn rwlock_readers_writers(ctx: &mut Ctx) -> Result<(), String> {
    // 1. Readers hold the lock together: each waits, holding it, until all are in.
    let nr = (ncpus() * 2).max(4);
    let phase1 = Arc::new((RwLock::new(0u32), AtomicUsize::new(0)));
    let hs: Vec<_> = (0..nr)
        .map(|_| {
            let s = phase1.clone();
            spawn(move || {
                let (l, inside) = &*s;
                let _g = l.read();
                inside.fetch_add(1, SeqCst);
                let all = wait_until(Duration::from_secs(20), || inside.load(SeqCst) == nr);
                // Stay until everyone has seen everyone.
                thread::sleep(Duration::from_millis(20));
                all
            })
        })
        .collect::<Result<_, _>>()?;
    let joined: Vec<bool> = hs.into_iter().map(|h| h.join()).collect();
    let together = joined.iter().all(|&b| b);
    ctx.check(together, || {
        format!("{nr} readers never held the read lock at the same time")
    });

    // 2. A writer waits for the reader; while it waits, new readers are refused
    //    (writer preference); it gets in when the reader leaves.
    let l = Arc::new((RwLock::new(0u32), AtomicBool::new(false)));
    let rg = l.0.read();
    let s = l.clone();
    let w = spawn(move || {
        let mut g = s.0.write();
        *g += 1;
        s.1.store(true, SeqCst);
    })?;
    ctx.check(
        wait_until(Duration::from_secs(10), || l.0.try_read().is_none()),
        || String::from("a waiting writer did not block new readers (not writer-preferring)"),
    );
    ctx.check(!l.1.load(SeqCst), || {
        String::from("the writer got in while a reader held the lock")
    });
    ctx.check(l.0.try_write().is_none(), || {
        String::from("try_write succeeded under a reader")
    });
    // The writer sleeps in the kernel; a new reader queues behind it and sleeps too.
    let (rword, wword) = l.0.raw().futex_word_addrs();
    if let Err(e) = wait_queued(wword as usize, 1, true) {
        ctx.fail(format!("waiting writer not asleep: {e}"));
    }
    let s = l.clone();
    let late_reader = spawn(move || *s.0.read())?;
    if let Err(e) = wait_queued(rword as usize, 1, true) {
        ctx.fail(format!("reader behind a waiting writer not asleep: {e}"));
    }
    drop(rg);
    w.join();
    let seen = late_reader.join();
    ctx.check(l.1.load(SeqCst) && *l.0.read() == 1, || {
        String::from("the writer never got in")
    });
    ctx.check(seen == 1, || {
        String::from("the reader that came after the waiting writer got in before it")
    });

    // 3. Mixed load: writers exclusive, readers never see a half-done update.
    const ITERS: u64 = 3000;
    let writers = ncpus().max(2);
    let readers = ncpus() * 2;
    let st = Arc::new((
        RwLock::new(Pair { a: 0, b: 0 }),
        AtomicU32::new(0), // readers inside
        AtomicU32::new(0), // writers inside
        AtomicU64::new(0), // violations
        AtomicU32::new(0), // most readers inside at once
    ));
    let mut hs = Vec::new();
    for _ in 0..writers {
        let s = st.clone();
        hs.push(spawn(move || {
            let (l, rin, win, bad, _) = &*s;
            for _ in 0..ITERS {
                let mut g = l.write();
                if win.fetch_add(1, SeqCst) != 0 || rin.load(SeqCst) != 0 {
                    bad.fetch_add(1, SeqCst);
                }
                g.a += 1;
                core::hint::spin_loop();
                g.b += 1;
                win.fetch_sub(1, SeqCst);
            }
        })?);
    }
    for _ in 0..readers {
        let s = st.clone();
        hs.push(spawn(move || {
            let (l, rin, win, bad, most) = &*s;
            for _ in 0..ITERS {
                let g = l.read();
                let n = rin.fetch_add(1, SeqCst) + 1;
                most.fetch_max(n, SeqCst);
                if win.load(SeqCst) != 0 || g.a != g.b {
                    bad.fetch_add(1, SeqCst);
                }
                rin.fetch_sub(1, SeqCst);
            }
        })?);
    }
    for h in hs {
        h.join();
    }
    let (l, _, _, bad, most) = &*st;
    let g = l.read();
    ctx.check(bad.load(SeqCst) == 0, || {
        format!("{} exclusion violations", bad.load(SeqCst))
    });
    ctx.check(g.a == writers as u64 * ITERS && g.b == g.a, || {
        format!(
            "writes lost: a {} b {}, expected {}",
            g.a,
            g.b,
            writers as u64 * ITERS
        )
    });
    ctx.note(&format!(
        "{writers} writers, {readers} readers, up to {} readers at once",
        most.load(SeqCst)
    ));
    Ok(())
}

pub fn barrier_rounds(ctx: &mut Ctx) -> Result<(), String> {
    const ROUNDS: usize = 200;
    let n = (ncpus() * 2).max(4);
    let st = Arc::new((
        Barrier::new(n as u32),
        (0..ROUNDS).map(|_| AtomicU32::new(0)).collect::<Vec<_>>(),
        (0..ROUNDS).map(|_| AtomicU32::new(0)).collect::<Vec<_>>(),
    ));
    let hs: Vec<_> = (0..n)
        .map(|t| {
            let s = st.clone();
            spawn(move || -> Result<(), String> {
                let (b, arrived, leaders) = &*s;
                // The others sleep in the kernel until the last one arrives.
                if t == 0 {
                    wait_queued(b.futex_word_addr() as usize, n - 1, true)
                        .map_err(|e| format!("threads waiting at the barrier not asleep: {e}"))?;
                }
                for r in 0..ROUNDS {
                    // Some threads dawdle so that the others really wait.
                    if (r + t) % 7 == 0 {
                        thread::yield_now();
                    }
                    arrived[r].fetch_add(1, SeqCst);
                    if b.wait().is_leader() {
                        leaders[r].fetch_add(1, SeqCst);
                    }
                    let a = arrived[r].load(SeqCst);
                    if a != n as u32 {
                        return Err(format!(
                            "thread {t} passed round {r} with {a} of {n} arrived"
                        ));
                    }
                }
                Ok(())
            })
        })
        .collect::<Result<_, _>>()?;
    for (t, h) in hs.into_iter().enumerate() {
        if let Err(e) = h.join() {
            ctx.fail(format!("thread {t}: {e}"));
        }
    }
    let (_, arrived, leaders) = &*st;
    for r in 0..ROUNDS {
        let (a, l) = (arrived[r].load(SeqCst), leaders[r].load(SeqCst));
        if a != n as u32 || l != 1 {
            ctx.fail(format!(
                "round {r}: {a} arrived, {l} leaders (expected {n}, 1)"
            ));
            break;
        }
    }
    ctx.note(&format!("{n} threads x {ROUNDS} rounds"));
    Ok(())
}

pub fn sync_once(ctx: &mut Ctx) -> Result<(), String> {
    let st = Arc::new((
        Once::new(),
        AtomicU32::new(0),
        AtomicU32::new(0),
        OnceLock::<u64>::new(),
    ));
    let hs: Vec<_> = (0..8)
        .map(|i| {
            let s = st.clone();
            spawn(move || {
                let (once, runs, value, cell) = &*s;
                once.call_once(|| {
                    runs.fetch_add(1, SeqCst);
                    // Slow, so that the others wait for it.
                    thread::sleep(Duration::from_millis(30));
                    value.store(42, SeqCst);
                });
                let seen = value.load(SeqCst);
                let v = *cell.get_or_init(|| {
                    thread::sleep(Duration::from_millis(10));
                    100 + i
                });
                (seen, v)
            })
        })
        .collect::<Result<_, _>>()?;
    let results: Vec<_> = hs.into_iter().map(|h| h.join()).collect();
    let (once, runs, _, cell) = &*st;
    ctx.check(runs.load(SeqCst) == 1, || {
        format!("call_once ran {} times", runs.load(SeqCst))
    });
    ctx.check(once.is_completed(), || String::from("not completed"));
    ctx.check(results.iter().all(|&(s, _)| s == 42), || {
        String::from("a call_once returned before the function had finished")
    });
    let first = cell.get().copied();
    ctx.check(
        first.is_some() && results.iter().all(|&(_, v)| Some(v) == first),
        || format!("OnceLock handed out different values: {results:?}"),
    );
    ctx.check(cell.set(7) == Err(7), || {
        String::from("OnceLock::set on a full cell succeeded")
    });
    Ok(())
}

pub fn sync_spinlock(ctx: &mut Ctx) -> Result<(), String> {
    const ITERS: u64 = 20_000;
    let threads = ncpus() * 2;
    let l = Arc::new(SpinLock::new(0u64));
    let hs: Vec<_> = (0..threads)
        .map(|_| {
            let l = l.clone();
            spawn(move || {
                for _ in 0..ITERS {
                    let mut g = l.lock();
                    // SAFETY: plain accesses to the locked value.
                    unsafe {
                        let v = core::ptr::read_volatile(&*g);
                        core::ptr::write_volatile(&mut *g, v + 1);
                    }
                }
            })
        })
        .collect::<Result<_, _>>()?;
    for h in hs {
        h.join();
    }
    let total = *l.lock();
    ctx.check(total == threads as u64 * ITERS, || {
        format!("total {total}, expected {}", threads as u64 * ITERS)
    });
    ctx.check(l.try_lock().is_some(), || {
        String::from("try_lock of a free spin lock failed")
    });
    let g = l.lock();
    ctx.check(l.try_lock().is_none(), || {
        String::from("try_lock of a held spin lock succeeded")
    });
    drop(g);
    Ok(())
}

static DROPS: AtomicU32 = AtomicU32::new(0);
static KEY_DTOR_SUM: AtomicU64 = AtomicU64::new(0);
static RESET_CALLS: AtomicU32 = AtomicU32::new(0);

struct Tracked(#[allow(dead_code)] u64);

impl Drop for Tracked {
    fn drop(&mut self) {
        DROPS.fetch_add(1, SeqCst);
    }
}

static COUNTER: ThreadLocal<Cell<u64>> = ThreadLocal::new(|| Cell::new(0));
static TRACKED: ThreadLocal<Tracked> = ThreadLocal::new(|| Tracked(1));

/// Destructor: adds the value (a plain integer, not a pointer) to a sum.
unsafe fn sum_dtor(p: *mut u8) {
    KEY_DTOR_SUM.fetch_add(p as u64, SeqCst);
}

static RESET_KEY: OnceLock<Key> = OnceLock::new();

/// Destructor that sets a value again each time: called once per pass.
unsafe fn reset_dtor(p: *mut u8) {
    RESET_CALLS.fetch_add(1, SeqCst);
    if let Some(k) = RESET_KEY.get() {
        k.set(p);
    }
}

fn count_to(n: u64) -> u64 {
    for _ in 0..n {
        COUNTER.with(|c| c.set(c.get() + 1));
    }
    TRACKED.with(|_| {});
    COUNTER.with(|c| c.get())
}

pub fn sync_thread_local(ctx: &mut Ctx) -> Result<(), String> {
    // Each thread has its own value; destructors run at thread exit.
    COUNTER.with(|c| c.set(1_000_000));
    DROPS.store(0, SeqCst);
    let hs: Vec<_> = (0..8u64)
        .map(|i| spawn(move || count_to(100 * (i + 1))))
        .collect::<Result<_, _>>()?;
    for (i, h) in hs.into_iter().enumerate() {
        let v = h.join();
        ctx.check(v == 100 * (i as u64 + 1), || {
            format!("clone thread {i} counted {v}, expected {}", 100 * (i + 1))
        });
    }
    ctx.check(COUNTER.with(|c| c.get()) == 1_000_000, || {
        String::from("the main thread's value changed")
    });
    // Joined threads have run their destructors (before the tid word was cleared).
    ctx.check(DROPS.load(SeqCst) == 8, || {
        format!(
            "{} of 8 clone threads dropped their value",
            DROPS.load(SeqCst)
        )
    });

    // Raw clone threads (weft-sync's spawn_raw) run them too.
    DROPS.store(0, SeqCst);
    for i in 0..4u64 {
        let h = weft_sync::thread::spawn_raw(0, move || count_to(10 + i)).label("spawn_raw")?;
        let v = h.join();
        ctx.check(v == 10 + i, || format!("raw thread {i} counted {v}"));
    }
    ctx.check(DROPS.load(SeqCst) == 4, || {
        format!(
            "{} of 4 raw threads dropped their value",
            DROPS.load(SeqCst)
        )
    });

    // thread_create threads (Weft only).
    if is_weft() {
        DROPS.store(0, SeqCst);
        for i in 0..4u64 {
            let h = wthread::spawn(move || count_to(20 + i)).label("wthread::spawn")?;
            let v = h.join().label("thread_join")?;
            ctx.check(v == 20 + i, || {
                format!("thread_create thread {i} counted {v}")
            });
        }
        ctx.check(DROPS.load(SeqCst) == 4, || {
            format!(
                "{} of 4 thread_create threads dropped their value",
                DROPS.load(SeqCst)
            )
        });
    } else {
        ctx.note("Linux: thread_create part not run");
    }

    // Keys: destructor gets the value; null values and deleted keys get none.
    let k = Key::create(Some(sum_dtor)).label("Key::create")?;
    let unset = Key::create(Some(sum_dtor)).label("Key::create")?;
    let gone = Key::create(Some(sum_dtor)).label("Key::create")?;
    KEY_DTOR_SUM.store(0, SeqCst);
    let hs: Vec<_> = (1..=5u64)
        .map(|i| {
            spawn(move || {
                let before = k.get();
                k.set(i as *mut u8);
                gone.set(1000 as *mut u8);
                (before.is_null(), k.get() == i as *mut u8)
            })
        })
        .collect::<Result<_, _>>()?;
    for h in hs {
        let (was_null, kept) = h.join();
        ctx.check(was_null && kept, || {
            String::from("a key's value was not per-thread")
        });
    }
    let sum = KEY_DTOR_SUM.load(SeqCst);
    ctx.check(sum == 15 + 5 * 1000, || {
        format!(
            "destructor sum {sum}, expected {} (1..=5 and 5 x 1000)",
            15 + 5 * 1000
        )
    });
    // After delete a key's destructor no longer runs for values left under it.
    gone.delete();
    KEY_DTOR_SUM.store(0, SeqCst);
    let h = spawn(move || {
        gone.set(1000 as *mut u8);
        k.set(3 as *mut u8);
    })?;
    h.join();
    ctx.check(KEY_DTOR_SUM.load(SeqCst) == 3, || {
        format!(
            "after delete: destructor sum {}, expected 3 (the deleted key's destructor ran)",
            KEY_DTOR_SUM.load(SeqCst)
        )
    });
    ctx.check(unset.get().is_null(), || {
        String::from("an unset key has a value")
    });
    // New keys at freed indices do not see the deleted keys' values.
    k.set(77 as *mut u8);
    gone.set(78 as *mut u8);
    k.delete();
    let k2 = Key::create(None).label("Key::create")?;
    let k3 = Key::create(None).label("Key::create")?;
    ctx.check(k2.get().is_null() && k3.get().is_null(), || {
        String::from("a new key showed a deleted key's value")
    });

    // A destructor that sets its value again is called again, a bounded number of
    // times.
    let rk = *RESET_KEY.get_or_init(|| Key::create(Some(reset_dtor)).expect("key"));
    RESET_CALLS.store(0, SeqCst);
    let h = spawn(move || rk.set(5 as *mut u8))?;
    h.join();
    let calls = RESET_CALLS.load(SeqCst);
    ctx.check(
        calls == weft_sync::tls::DESTRUCTOR_ITERATIONS as u32,
        || {
            format!(
                "re-setting destructor called {calls} times, expected {}",
                weft_sync::tls::DESTRUCTOR_ITERATIONS
            )
        },
    );
    Ok(())
}

pub fn sync_uncontended_no_syscall(ctx: &mut Ctx) -> Result<(), String> {
    let m = Mutex::new(0u32);
    let cv = Condvar::new();
    let rw = RwLock::new(0u32);
    let sem = Semaphore::new(1);
    let once = Once::new();
    let bar = Barrier::new(1);
    let spin = SpinLock::new(0u32);
    once.call_once(|| {});
    // Bind the condvar to the mutex with one timed wait (that one may enter the
    // kernel).
    let (g, _) = cv.wait_timeout(m.lock(), Duration::from_millis(1));
    drop(g);
    let before = futex::syscall_count();
    for _ in 0..1000 {
        *m.lock() += 1;
        drop(m.try_lock());
        cv.notify_one();
        cv.notify_all();
        let _ = *rw.read();
        *rw.write() += 1;
        sem.acquire();
        sem.release();
        ctx.check(sem.try_acquire(), || {
            String::from("semaphore try_acquire failed")
        });
        sem.release();
        once.call_once(|| {});
        bar.wait();
        *spin.lock() += 1;
        COUNTER.with(|c| c.set(c.get() + 1));
    }
    let after = futex::syscall_count();
    ctx.check(after == before, || {
        format!(
            "{} futex calls on uncontended paths, expected 0",
            after - before
        )
    });
    ctx.check(
        *m.lock() == 1000 && *rw.read() == 1000 && *spin.lock() == 1000,
        || String::from("counts wrong"),
    );
    Ok(())
}

pub fn sync_try_lock(ctx: &mut Ctx) -> Result<(), String> {
    // A failed try must leave the holder's lock alone.
    let m = Mutex::new(0u32);
    let g = m.lock();
    ctx.check(m.try_lock().is_none(), || {
        String::from("Mutex::try_lock of a held mutex succeeded")
    });
    ctx.check(m.try_lock().is_none() && m.raw().is_locked(), || {
        String::from("a failed Mutex::try_lock released the holder's lock")
    });
    drop(g);
    ctx.check(m.try_lock().is_some() && !m.raw().is_locked(), || {
        String::from("Mutex::try_lock of a free mutex failed or kept it locked")
    });

    let s = SpinLock::new(0u32);
    let g = s.lock();
    ctx.check(
        s.try_lock().is_none() && s.try_lock().is_none() && s.is_locked(),
        || String::from("a failed SpinLock::try_lock released the holder's lock"),
    );
    drop(g);

    let rw = RwLock::new(0u32);
    let w = rw.write();
    ctx.check(rw.try_read().is_none() && rw.try_write().is_none(), || {
        String::from("try_read/try_write of a write-locked RwLock succeeded")
    });
    ctx.check(
        rw.raw().is_write_locked() && rw.try_read().is_none(),
        || String::from("a failed try released the writer's lock"),
    );
    drop(w);
    let r1 = rw.read();
    let r2 = rw.try_read();
    ctx.check(r2.is_some() && rw.try_write().is_none(), || {
        String::from("RwLock: second reader refused or writer admitted")
    });
    ctx.check(rw.raw().readers() == 2, || {
        format!(
            "{} readers after a failed try_write, expected 2",
            rw.raw().readers()
        )
    });
    drop(r2);
    drop(r1);
    ctx.check(rw.try_write().is_some() && rw.raw().readers() == 0, || {
        String::from("RwLock not free after the readers left")
    });
    Ok(())
}
