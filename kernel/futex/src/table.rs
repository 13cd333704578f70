//! The hashed futex table and its operations.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::ptr;

use crossbeam_utils::CachePadded;
use weft_abi::Errno;
use weft_abi::futex::{FUTEX_BITSET_MATCH_ANY, WakeOp};

use crate::key::FutexKey;
use crate::mem::{Fault, UserMem};
use crate::sync::{AtomicUsize, Mutex, MutexGuard, Ordering};
use crate::waiter::{WaitOutcome, WaitState, Waiter};

/// Buckets per CPU (the table has at least this many times the CPU count, rounded
/// up to a power of two).
pub const BUCKETS_PER_CPU: usize = 256;

/// How many times one operation drops its locks to fault a page in before it gives
/// up with `EFAULT` (a page that keeps disappearing is treated as bad).
const MAX_FAULT_RETRIES: u32 = 16;

/// Waiters a wake collects without allocating.
const WAKE_INLINE: usize = 8;

/// One queued waiter.
struct Entry<W> {
    key: FutexKey,
    bitset: u32,
    waiter: W,
}

type Queue<W> = VecDeque<Entry<W>>;
type Guard<'a, W> = MutexGuard<'a, Queue<W>>;

/// A hash bucket. The lock, the waiter count and the queue header share one
/// cache line (the whole bucket is cache-line padded, so buckets never share one);
/// the queued entries live in the queue's heap buffer, on other lines.
struct Bucket<W> {
    /// Waiters that are queued here or about to be (incremented before the futex
    /// word is read in `wait_prepare`). A waker that finds 0 skips the lock.
    waiters: AtomicUsize,
    queue: Mutex<Queue<W>>,
}

impl<W> Bucket<W> {
    fn new() -> Self {
        Bucket {
            waiters: AtomicUsize::new(0),
            queue: Mutex::new(VecDeque::new()),
        }
    }

    /// The waker's check. An RMW (not a plain load): all accesses to `waiters` are
    /// RMWs, so this one is totally ordered with every waiter's increment; see the
    /// crate documentation ("Why no wakeup is lost").
    fn has_waiters(&self) -> bool {
        self.waiters.fetch_add(0, Ordering::AcqRel) != 0
    }

    fn inc(&self) {
        self.waiters.fetch_add(1, Ordering::AcqRel);
    }

    fn dec(&self) {
        self.waiters.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Waiters claimed under a bucket lock, woken after it is dropped.
struct WakeList<W> {
    inline: [Option<W>; WAKE_INLINE],
    len: usize,
    spill: Vec<W>,
}

impl<W> WakeList<W> {
    fn new() -> Self {
        WakeList {
            inline: [const { None }; WAKE_INLINE],
            len: 0,
            spill: Vec::new(),
        }
    }

    /// Makes room for `n` waiters in total, so that `push` never allocates.
    fn try_reserve(&mut self, n: usize) -> Result<(), Errno> {
        let extra = n
            .saturating_sub(WAKE_INLINE)
            .saturating_sub(self.spill.len());
        self.spill.try_reserve(extra).map_err(|_| Errno::ENOMEM)
    }

    fn push(&mut self, w: W) {
        if self.len < WAKE_INLINE {
            self.inline[self.len] = Some(w);
        } else {
            self.spill.push(w);
        }
        self.len += 1;
    }

    fn len(&self) -> usize {
        self.len
    }

    /// Hands every waiter to `f` (call with no lock held).
    fn run(mut self, mut f: impl FnMut(W)) -> usize {
        let n = self.len;
        for slot in self.inline.iter_mut() {
            if let Some(w) = slot.take() {
                f(w);
            }
        }
        for w in self.spill.drain(..) {
            f(w);
        }
        n
    }
}

/// What [`sweep`] does with the entry at the front.
enum Verdict<T> {
    /// Leave it in the queue.
    Keep,
    /// Remove it and hand it to the `take` closure with this tag.
    Take(T),
    /// Leave it and everything after it alone.
    Stop,
}

/// One pass over `q` in queue order: `decide` looks at each entry (and may modify
/// it), `take` receives the removed ones. Kept entries keep their relative order.
/// Costs O(entries visited); no allocation.
fn sweep<W, T>(
    q: &mut Queue<W>,
    mut decide: impl FnMut(&mut Entry<W>) -> Verdict<T>,
    mut take: impl FnMut(Entry<W>, T),
) {
    let n = q.len();
    for i in 0..n {
        let Some(front) = q.front_mut() else { break };
        match decide(front) {
            Verdict::Keep => {
                let e = q.pop_front().expect("front exists");
                q.push_back(e);
            }
            Verdict::Take(tag) => {
                let e = q.pop_front().expect("front exists");
                take(e, tag);
            }
            Verdict::Stop => {
                // The queue is [unvisited (n - i)][kept]; restore the order.
                q.rotate_left(n - i);
                return;
            }
        }
    }
}

/// Under `b`'s lock: `e` was just removed from `b`'s queue by a waker.
fn claim<W: Waiter>(b: &Bucket<W>, e: Entry<W>, list: &mut WakeList<W>) {
    b.dec();
    e.waiter.wait_state().mark_woken();
    list.push(e.waiter);
}

/// Under `b`'s lock: wakes up to `nr` waiters on `key` whose bitset intersects
/// `bitset`, oldest first. `list` must have room.
fn wake_locked<W: Waiter>(
    b: &Bucket<W>,
    q: &mut Queue<W>,
    key: &FutexKey,
    nr: u32,
    bitset: u32,
    list: &mut WakeList<W>,
) -> usize {
    let mut woken = 0u32;
    if nr == 0 {
        return 0;
    }
    sweep(
        q,
        |e| {
            if woken >= nr {
                Verdict::Stop
            } else if e.key == *key && e.bitset & bitset != 0 {
                woken += 1;
                Verdict::Take(())
            } else {
                Verdict::Keep
            }
        },
        |e, ()| claim(b, e, list),
    );
    woken as usize
}

/// The futex table: `2^k` cache-line-aligned buckets, each a spin lock, a waiter
/// count and a FIFO wait queue. `W` is the kernel's waiter handle (`Arc<Thread>`).
///
/// See the crate documentation for the protocol the kernel follows and the lock
/// order.
pub struct FutexTable<W> {
    buckets: Box<[CachePadded<Bucket<W>>]>,
    mask: usize,
}

impl<W: Waiter> FutexTable<W> {
    /// A table for a machine with `cpus` CPUs: `256 * cpus` buckets rounded up to a
    /// power of two (at least 256).
    pub fn new(cpus: usize) -> Self {
        Self::with_buckets(BUCKETS_PER_CPU.saturating_mul(cpus.max(1)))
    }

    /// A table with `n` buckets, rounded up to a power of two (at least 1). Small
    /// tables are for tests: they force unrelated keys to share buckets.
    pub fn with_buckets(n: usize) -> Self {
        let n = n.max(1).next_power_of_two();
        let buckets = (0..n).map(|_| CachePadded::new(Bucket::new())).collect();
        FutexTable {
            buckets,
            mask: n - 1,
        }
    }

    /// Number of buckets.
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// The bucket index of `key`.
    pub fn bucket_of(&self, key: &FutexKey) -> usize {
        key.hash64() as usize & self.mask
    }

    /// Locks the buckets of two indices in ascending index (= address) order. The
    /// second guard is `None` when both are the same bucket.
    fn lock2(&self, i1: usize, i2: usize) -> (Guard<'_, W>, Option<Guard<'_, W>>) {
        if i1 == i2 {
            (self.buckets[i1].queue.lock(), None)
        } else if i1 < i2 {
            let g1 = self.buckets[i1].queue.lock();
            let g2 = self.buckets[i2].queue.lock();
            (g1, Some(g2))
        } else {
            let g2 = self.buckets[i2].queue.lock();
            let g1 = self.buckets[i1].queue.lock();
            (g1, Some(g2))
        }
    }

    /// `FUTEX_WAIT` / `FUTEX_WAIT_BITSET`, first half: queue `waiter` on `key` if
    /// the word at `uaddr` still holds `expected`.
    ///
    /// Increments the bucket's waiter count, takes the bucket lock, reads `*uaddr`,
    /// and either queues the waiter (returning a [`WaitToken`]) or backs out. The
    /// lock is dropped before returning; the caller then sleeps (see the crate
    /// documentation) and ends the wait with [`WaitToken::finish`].
    ///
    /// Errors: `EINVAL` (`bitset == 0`, or `uaddr` not 4-byte aligned), `EAGAIN`
    /// (`*uaddr != expected`), `EFAULT` (`*uaddr` unreadable), `ENOMEM` (no memory to
    /// grow the queue).
    ///
    /// `waiter` must be idle (not in another wait); its clone goes into the queue.
    pub fn wait_prepare<M: UserMem + ?Sized>(
        &self,
        mem: &M,
        key: FutexKey,
        uaddr: u64,
        expected: u32,
        bitset: u32,
        waiter: W,
    ) -> Result<WaitToken<'_, W>, Errno> {
        if bitset == 0 || !uaddr.is_multiple_of(4) {
            return Err(Errno::EINVAL);
        }
        debug_assert!(waiter.wait_state().is_idle(), "waiter already waiting");
        let idx = self.bucket_of(&key);
        let b = &self.buckets[idx];
        let mine = waiter.clone();
        let mut faults = 0;
        loop {
            // Count ourselves in before reading the word: a waker that changed the
            // word and then finds the count at 0 cannot have raced with us.
            b.inc();
            let mut q = b.queue.lock();
            match mem.load_u32(uaddr) {
                Ok(v) if v == expected => {
                    if q.try_reserve(1).is_err() {
                        drop(q);
                        b.dec();
                        return Err(Errno::ENOMEM);
                    }
                    waiter.wait_state().enqueue(idx);
                    q.push_back(Entry {
                        key,
                        bitset,
                        waiter,
                    });
                    drop(q);
                    return Ok(WaitToken {
                        table: self,
                        waiter: Some(mine),
                    });
                }
                Ok(_) => {
                    drop(q);
                    b.dec();
                    return Err(Errno::EAGAIN);
                }
                Err(Fault) => {
                    drop(q);
                    b.dec();
                    faults += 1;
                    if faults > MAX_FAULT_RETRIES || mem.fault_in(uaddr, false).is_err() {
                        return Err(Errno::EFAULT);
                    }
                }
            }
        }
    }

    /// Second half of a wait (see [`WaitToken::finish`]).
    fn finish(&self, w: &W, reason: WaitOutcome) -> WaitOutcome {
        let st: &WaitState = w.wait_state();
        // Fast path: a waker already took the entry off its queue. It set WOKEN as
        // its last touch of our state, under its bucket lock.
        if st.is_woken() {
            st.reset();
            return WaitOutcome::Woken;
        }
        loop {
            let idx = st.bucket();
            let b = &self.buckets[idx];
            let mut q = b.queue.lock();
            if st.bucket() != idx {
                // Requeued to another bucket while we were getting the lock.
                continue;
            }
            if st.is_woken() {
                drop(q);
                st.reset();
                return WaitOutcome::Woken;
            }
            // Still queued here: nobody claimed us, so we leave on our own terms.
            let pos = q.iter().position(|e| ptr::eq(e.waiter.wait_state(), st));
            let entry = pos.and_then(|p| q.remove(p));
            debug_assert!(entry.is_some(), "queued waiter not in its bucket");
            if entry.is_some() {
                b.dec();
            }
            drop(q);
            drop(entry);
            st.reset();
            // `Woken` without a claim is a spurious wake-up; futex users must
            // tolerate those, and reporting it as a wake loses nothing.
            return reason;
        }
    }

    /// `FUTEX_WAKE` / `FUTEX_WAKE_BITSET`: wakes up to `nr` waiters queued on `key`
    /// whose bitset intersects `bitset`, oldest first. `on_wake` is called for each
    /// after the bucket lock is dropped; it must make the thread runnable. Returns
    /// the number woken.
    ///
    /// `nr` is the exact maximum (0 wakes nobody); Linux's "`val <= 0` wakes one"
    /// quirk is applied by [`crate::syscall::decode`].
    ///
    /// Errors: `EINVAL` (`bitset == 0`), `ENOMEM` (more than a few waiters to wake
    /// and no memory for the list).
    pub fn wake(
        &self,
        key: &FutexKey,
        nr: u32,
        bitset: u32,
        on_wake: impl FnMut(W),
    ) -> Result<usize, Errno> {
        if bitset == 0 {
            return Err(Errno::EINVAL);
        }
        let b = &self.buckets[self.bucket_of(key)];
        if nr == 0 || !b.has_waiters() {
            return Ok(0);
        }
        let mut list = WakeList::new();
        {
            let mut q = b.queue.lock();
            list.try_reserve(q.len().min(nr as usize))?;
            wake_locked(b, &mut q, key, nr, bitset, &mut list);
        }
        Ok(list.run(on_wake))
    }

    /// `FUTEX_REQUEUE` (`cmp == None`) / `FUTEX_CMP_REQUEUE` (`cmp == Some((uaddr1,
    /// val3))`): with both bucket locks held (ascending order), optionally checks
    /// `*uaddr1 == val3`, wakes up to `nr_wake` waiters on `key1` (any bitset), and
    /// moves up to `nr_requeue` more to `key2`, keeping their order and bitsets.
    /// Returns woken + requeued. Requeued waiters go to the tail of `key2`'s queue
    /// when `key2` lives in another bucket; in the same bucket they keep their
    /// place and only change key.
    ///
    /// Errors: `EAGAIN` (`*uaddr1 != val3`), `EFAULT` (`*uaddr1` unreadable),
    /// `EINVAL` (`uaddr1` misaligned), `ENOMEM`.
    #[allow(clippy::too_many_arguments)]
    pub fn requeue<M: UserMem + ?Sized>(
        &self,
        mem: &M,
        key1: &FutexKey,
        key2: &FutexKey,
        nr_wake: u32,
        nr_requeue: u32,
        cmp: Option<(u64, u32)>,
        on_wake: impl FnMut(W),
    ) -> Result<usize, Errno> {
        if cmp.is_some_and(|(uaddr, _)| !uaddr.is_multiple_of(4)) {
            return Err(Errno::EINVAL);
        }
        let i1 = self.bucket_of(key1);
        let i2 = self.bucket_of(key2);
        let b1 = &self.buckets[i1];
        let b2 = &self.buckets[i2];
        if cmp.is_none() && !b1.has_waiters() {
            return Ok(0);
        }
        let mut list = WakeList::new();
        let mut faults = 0;
        let total = loop {
            let (mut g1, mut g2) = self.lock2(i1, i2);
            if let Some((uaddr, val)) = cmp {
                match mem.load_u32(uaddr) {
                    Ok(v) if v == val => {}
                    Ok(_) => return Err(Errno::EAGAIN),
                    Err(Fault) => {
                        drop(g2);
                        drop(g1);
                        faults += 1;
                        if faults > MAX_FAULT_RETRIES || mem.fault_in(uaddr, false).is_err() {
                            return Err(Errno::EFAULT);
                        }
                        continue;
                    }
                }
            }
            list.try_reserve(g1.len().min(nr_wake as usize))?;
            let mut woken = 0u32;
            let mut moved = 0u32;
            match g2.as_mut() {
                None => sweep(
                    &mut g1,
                    |e| {
                        if e.key != *key1 {
                            Verdict::Keep
                        } else if woken < nr_wake {
                            woken += 1;
                            Verdict::Take(())
                        } else if moved < nr_requeue {
                            moved += 1;
                            e.key = *key2;
                            Verdict::Keep
                        } else {
                            Verdict::Stop
                        }
                    },
                    |e, ()| claim(b1, e, &mut list),
                ),
                Some(q2) => {
                    // Room for every entry that will move, before anything changes.
                    let matching = g1.iter().filter(|e| e.key == *key1).count();
                    let to_move = matching
                        .saturating_sub(nr_wake as usize)
                        .min(nr_requeue as usize);
                    q2.try_reserve(to_move).map_err(|_| Errno::ENOMEM)?;
                    sweep(
                        &mut g1,
                        |e| {
                            if e.key != *key1 {
                                Verdict::Keep
                            } else if woken < nr_wake {
                                woken += 1;
                                Verdict::Take(true)
                            } else if moved < nr_requeue {
                                moved += 1;
                                Verdict::Take(false)
                            } else {
                                Verdict::Stop
                            }
                        },
                        |mut e, wake| {
                            if wake {
                                claim(b1, e, &mut list);
                            } else {
                                // Count it in at the destination before it leaves
                                // the source, so it is never uncounted.
                                b2.inc();
                                b1.dec();
                                e.key = *key2;
                                e.waiter.wait_state().moved_to(i2);
                                q2.push_back(e);
                            }
                        },
                    );
                }
            }
            break woken as usize + moved as usize;
        };
        list.run(on_wake);
        Ok(total)
    }

    /// `FUTEX_WAKE_OP`: with both bucket locks held (ascending order), atomically
    /// applies `op` to the word at `uaddr2` (whose key is `key2`), wakes up to
    /// `nr_wake` waiters on `key1`, and, if `op`'s comparison holds for the word's
    /// old value, up to `nr_wake2` waiters on `key2` (bitsets are ignored, as on
    /// Linux). Returns the total woken.
    ///
    /// Errors: `EFAULT` (`*uaddr2` not writable), `EINVAL` (`uaddr2` misaligned),
    /// `ENOMEM`. Nothing is modified on error.
    #[allow(clippy::too_many_arguments)]
    pub fn wake_op<M: UserMem + ?Sized>(
        &self,
        mem: &M,
        key1: &FutexKey,
        key2: &FutexKey,
        uaddr2: u64,
        nr_wake: u32,
        nr_wake2: u32,
        op: WakeOp,
        on_wake: impl FnMut(W),
    ) -> Result<usize, Errno> {
        if !uaddr2.is_multiple_of(4) {
            return Err(Errno::EINVAL);
        }
        let i1 = self.bucket_of(key1);
        let i2 = self.bucket_of(key2);
        let b1 = &self.buckets[i1];
        let b2 = &self.buckets[i2];
        let mut list = WakeList::new();
        let mut faults = 0;
        loop {
            let (mut g1, mut g2) = self.lock2(i1, i2);
            // Reserve before the word changes, so that ENOMEM has no side effect.
            let len2 = g2.as_ref().map_or(g1.len(), |q| q.len());
            let bound = g1.len().min(nr_wake as usize) + len2.min(nr_wake2 as usize);
            list.try_reserve(bound)?;
            let old = match mem.atomic_op_u32(uaddr2, op.op, op.oparg) {
                Ok(old) => old,
                Err(Fault) => {
                    drop(g2);
                    drop(g1);
                    faults += 1;
                    if faults > MAX_FAULT_RETRIES || mem.fault_in(uaddr2, true).is_err() {
                        return Err(Errno::EFAULT);
                    }
                    continue;
                }
            };
            wake_locked(
                b1,
                &mut g1,
                key1,
                nr_wake,
                FUTEX_BITSET_MATCH_ANY,
                &mut list,
            );
            if op.test(old) {
                let q2 = match g2.as_mut() {
                    Some(q2) => q2,
                    None => &mut g1,
                };
                wake_locked(b2, q2, key2, nr_wake2, FUTEX_BITSET_MATCH_ANY, &mut list);
            }
            break;
        }
        let n = list.len();
        list.run(on_wake);
        Ok(n)
    }

    /// Ends a wait: the same as [`WaitToken::finish`] (`token` must come from this
    /// table).
    pub fn wait_finish(&self, token: WaitToken<'_, W>, reason: WaitOutcome) -> WaitOutcome {
        debug_assert!(ptr::eq(token.table, self), "token of another table");
        token.finish(reason)
    }

    /// Entries queued on `key` right now (takes the bucket lock). For tests and
    /// diagnostics.
    pub fn queued(&self, key: &FutexKey) -> usize {
        let q = self.buckets[self.bucket_of(key)].queue.lock();
        q.iter().filter(|e| e.key == *key).count()
    }

    /// True if no waiter is queued or counted anywhere (takes every bucket lock in
    /// turn). For tests and diagnostics.
    pub fn is_idle(&self) -> bool {
        self.buckets.iter().all(|b| {
            let q = b.queue.lock();
            q.is_empty() && b.waiters.load(Ordering::SeqCst) == 0
        })
    }
}

/// An ongoing futex wait, returned by [`FutexTable::wait_prepare`].
///
/// The waiter's entry stays queued until [`finish`](WaitToken::finish) (or drop,
/// which finishes as [`WaitOutcome::Interrupted`]).
#[must_use = "a wait must be finished, or its entry stays queued"]
pub struct WaitToken<'t, W: Waiter> {
    table: &'t FutexTable<W>,
    waiter: Option<W>,
}

impl<W: Waiter> WaitToken<'_, W> {
    /// True once a waker has claimed this wait: the thread should stop sleeping and
    /// call [`finish`](WaitToken::finish). Lock-free (`SeqCst` load).
    pub fn is_woken(&self) -> bool {
        self.waiter
            .as_ref()
            .is_some_and(|w| w.wait_state().is_woken())
    }

    /// Ends the wait. `reason` is why the thread stopped sleeping. If a waker claimed
    /// this waiter — before or concurrently with the timeout or signal — the result
    /// is [`WaitOutcome::Woken`] whatever `reason` says, so the wake is never lost.
    /// Otherwise the entry is taken off its queue (wherever requeues moved it) and
    /// `reason` is returned.
    pub fn finish(mut self, reason: WaitOutcome) -> WaitOutcome {
        let w = self.waiter.take().expect("token finished twice");
        self.table.finish(&w, reason)
    }
}

impl<W: Waiter> Drop for WaitToken<'_, W> {
    fn drop(&mut self) {
        if let Some(w) = self.waiter.take() {
            self.table.finish(&w, WaitOutcome::Interrupted);
        }
    }
}
