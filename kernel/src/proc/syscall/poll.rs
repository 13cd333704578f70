//! `poll` and `ppoll`: waiting for readiness on several descriptors at once.
//!
//! # Sleeping on several queues
//! A scheduler wait queue links a thread on at most one queue, so `poll` does not
//! use them directly. Readiness sources whose queue is a [`PollQueue`] (pipes and
//! the console) keep a list of registered [`PollWaker`]s that their `wake_all`
//! wakes, besides the threads blocked in `read`/`write`. One pass:
//!
//! ```text
//! register a waker for this thread on every queue (once, before the first sleep)
//! wait_event(deadline, check every descriptor)   // the one sleep primitive:
//!     // announce the sleep, check (after registering: no lost wakeup), check
//!     // for signals and the deadline, sleep; a wake in between ends it at once
//! unregister everywhere               // after this no queue wakes the thread
//! interrupted: ERESTARTNOHAND (EINTR after a handler, restarted otherwise)
//! ```
//!
//! A state change is made before its `wake_all`, so either the check sees it or
//! the wake finds the thread `Blocking`/`Blocked` and makes it runnable. A waker
//! is called with the queue's registration lock held, so once `poll_unregister`
//! returns no late wake can reach the thread's next, unrelated sleep. Queues that
//! cannot register (none today) are re-checked every [`FALLBACK_RECHECK_NS`].
//!
//! Regular files, directories, `/dev/null` and `/dev/zero` are always ready
//! (`POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM`); `O_PATH` descriptors and
//! descriptors that are not open give `POLLNVAL`; negative descriptors are
//! skipped (`revents` 0). `revents` is what the file reports masked with
//! `events | POLLERR | POLLHUP`, as on Linux.

use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;
use weft_abi::Errno;
use weft_abi::poll::{POLLERR, POLLHUP, POLLNVAL};
use weft_arch::cpu;
use weft_vfs::{File, PollWaker, WaitQueue};

use super::{SysResult, copy_in, copy_out};
use crate::proc::uthread::me;
use crate::task::{self, Thread, WaitResult};

/// Re-check period for readiness sources whose queue cannot register a poller.
const FALLBACK_RECHECK_NS: u64 = 10_000_000;

/// A VFS wait queue that `poll` can sleep on together with others: `inner` for
/// blocking reads and writes, plus the registered pollers.
pub struct PollQueue {
    inner: Arc<dyn WaitQueue>,
    /// Taken with interrupts off (the console wakes from its interrupt handler);
    /// pollers are woken under it. Lock order: after any VFS lock, before the
    /// scheduler's (docs/lock-order.md).
    pollers: Mutex<Vec<Arc<dyn PollWaker>>>,
}

impl PollQueue {
    pub fn new(inner: Arc<dyn WaitQueue>) -> Arc<PollQueue> {
        Arc::new(PollQueue {
            inner,
            pollers: Mutex::new(Vec::new()),
        })
    }
}

fn same_waker(a: &Arc<dyn PollWaker>, b: &Arc<dyn PollWaker>) -> bool {
    core::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

impl WaitQueue for PollQueue {
    fn wait_until(&self, ready: &mut dyn FnMut() -> bool) -> Result<(), Errno> {
        self.inner.wait_until(ready)
    }

    fn wake_all(&self) {
        self.inner.wake_all();
        let _irq = cpu::IrqGuard::new();
        for w in self.pollers.lock().iter() {
            w.wake();
        }
    }

    fn poll_register(&self, w: &Arc<dyn PollWaker>) -> bool {
        let _irq = cpu::IrqGuard::new();
        self.pollers.lock().push(w.clone());
        true
    }

    fn poll_unregister(&self, w: &Arc<dyn PollWaker>) {
        let _irq = cpu::IrqGuard::new();
        self.pollers.lock().retain(|x| !same_waker(x, w));
    }
}

/// Wakes the polling thread.
struct ThreadWaker(Arc<Thread>);

impl PollWaker for ThreadWaker {
    fn wake(&self) {
        task::wake(&self.0);
    }
}

/// The registrations of one `poll` call, undone on drop (every way out).
struct Registrations {
    waker: Arc<dyn PollWaker>,
    queues: Vec<Arc<dyn WaitQueue>>,
}

impl Drop for Registrations {
    fn drop(&mut self) {
        for q in &self.queues {
            q.poll_unregister(&self.waker);
        }
    }
}

struct Entry {
    fd: i32,
    events: i16,
    revents: i16,
    file: Option<Arc<File>>,
}

impl Entry {
    fn check(&mut self) -> bool {
        self.revents = if self.fd < 0 {
            0
        } else {
            match &self.file {
                None => POLLNVAL,
                Some(f) => {
                    let m = f.poll();
                    if m & POLLNVAL != 0 {
                        POLLNVAL
                    } else {
                        m & (self.events | POLLERR | POLLHUP)
                    }
                }
            }
        };
        self.revents != 0
    }
}

/// One readiness pass: the number of entries with events.
fn check_all(entries: &mut [Entry]) -> usize {
    entries.iter_mut().map(|e| e.check()).filter(|&r| r).count()
}

enum Outcome {
    Ready(usize),
    TimedOut,
    Interrupted,
}

/// Polls `nfds` entries at user `fds` until one is ready, the monotonic
/// `deadline` passes (`None`: no deadline) or the thread is interrupted; writes
/// every `revents` back (also on EINTR, as Linux).
fn do_poll(fds: u64, nfds: u64, deadline: Option<u64>) -> SysResult {
    let (t, p) = me();
    let table = p.files();
    if nfds > table.limit() as u64 {
        return Err(Errno::EINVAL);
    }
    let n = nfds as usize;
    let raw = copy_in(fds, n * 8)?;
    let mut entries: Vec<Entry> = raw
        .chunks_exact(8)
        .map(|c| {
            let fd = i32::from_le_bytes(c[0..4].try_into().unwrap());
            Entry {
                fd,
                events: i16::from_le_bytes(c[4..6].try_into().unwrap()),
                revents: 0,
                file: if fd >= 0 { table.get(fd).ok() } else { None },
            }
        })
        .collect();
    drop(table);

    let outcome = poll_loop(&t, &mut entries, deadline);
    let mut out = Vec::with_capacity(n * 8);
    for (c, e) in raw.chunks_exact(8).zip(&entries) {
        out.extend_from_slice(&c[0..6]);
        out.extend_from_slice(&e.revents.to_le_bytes());
    }
    copy_out(fds, &out)?;
    match outcome {
        Outcome::Ready(k) => Ok(k as u64),
        Outcome::TimedOut => Ok(0),
        // EINTR after a handler, restarted otherwise (Linux's ERESTARTNOHAND).
        Outcome::Interrupted => Err(Errno::ERESTARTNOHAND),
    }
}

fn poll_loop(t: &Arc<Thread>, entries: &mut [Entry], deadline: Option<u64>) -> Outcome {
    // Fast path (and the whole of a zero timeout): no registration.
    let k = check_all(entries);
    if k > 0 {
        return Outcome::Ready(k);
    }
    if deadline.is_some_and(|d| crate::time::monotonic_ns() >= d) {
        return Outcome::TimedOut;
    }
    let waker: Arc<dyn PollWaker> = Arc::new(ThreadWaker(t.clone()));
    let mut regs = Registrations {
        waker,
        queues: Vec::new(),
    };
    let mut recheck = false;
    for e in entries.iter() {
        if let Some(q) = e.file.as_ref().and_then(|f| f.wait_queue()) {
            if q.poll_register(&regs.waker) {
                regs.queues.push(q);
            } else {
                recheck = true;
            }
        }
    }
    // One sleep primitive: the registered wakers wake this thread directly; a
    // queue that cannot register is re-checked every FALLBACK_RECHECK_NS.
    loop {
        let now = crate::time::monotonic_ns();
        let wake_at = match (deadline, recheck) {
            (Some(d), true) => Some(d.min(now + FALLBACK_RECHECK_NS)),
            (Some(d), false) => Some(d),
            (None, true) => Some(now + FALLBACK_RECHECK_NS),
            (None, false) => None,
        };
        let mut ready = 0;
        let r = crate::proc::signal::wait_event(None, wake_at, || {
            ready = check_all(entries);
            ready > 0
        });
        match r {
            WaitResult::Woken => return Outcome::Ready(ready),
            WaitResult::Interrupted => return Outcome::Interrupted,
            WaitResult::TimedOut if deadline.is_some_and(|d| crate::time::monotonic_ns() >= d) => {
                return Outcome::TimedOut;
            }
            WaitResult::TimedOut => {}
        }
    }
}

/// `poll(fds, nfds, timeout_ms)`: a negative timeout waits for ever, 0 not at all.
pub fn poll(fds: u64, nfds: u64, timeout_ms: u64) -> SysResult {
    let ms = timeout_ms as i32;
    let deadline =
        (ms >= 0).then(|| crate::time::monotonic_ns().saturating_add(ms as u64 * 1_000_000));
    do_poll(fds, nfds, deadline)
}

/// `ppoll(fds, nfds, tsp, sigmask, sigsetsize)`: `tsp` NULL waits for ever; a
/// bad `tsp` is EFAULT, an invalid one EINVAL. A non-NULL `sigmask` needs
/// `sigsetsize` 8 (else EINVAL) and replaces the thread's signal mask for the
/// call. The time left is written back to `tsp` (errors ignored), as Linux.
pub fn ppoll(fds: u64, nfds: u64, tsp: u64, sigmask: u64, sigsetsize: u64) -> SysResult {
    let deadline = if tsp != 0 {
        let b = copy_in(tsp, 16)?;
        let sec = i64::from_le_bytes(b[0..8].try_into().unwrap());
        let nsec = i64::from_le_bytes(b[8..16].try_into().unwrap());
        if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
            return Err(Errno::EINVAL);
        }
        let ns = (sec as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(nsec as u64);
        Some((ns, crate::time::monotonic_ns().saturating_add(ns)))
    } else {
        None
    };
    let mask = if sigmask != 0 {
        if sigsetsize != 8 {
            return Err(Errno::EINVAL);
        }
        Some(weft_mm::user::read_user_u64(sigmask).map_err(|_| Errno::EFAULT)?)
    } else {
        None
    };
    let (t, p) = me();
    let saved = mask.map(|m| crate::proc::signal::set_mask(&t, &p, m));
    let r = do_poll(fds, nfds, deadline.map(|(_, d)| d));
    if let Some(old) = saved {
        if r == Err(Errno::ERESTARTNOHAND) {
            // A handler interrupted the call: it runs with the ppoll mask and
            // returns to the old one (as for sigsuspend).
            t.user.as_ref().unwrap().sig.lock().saved_mask = Some(old);
        } else {
            crate::proc::signal::set_mask(&t, &p, old);
        }
    }
    if let Some((ns, d)) = deadline
        && ns != 0
    {
        let left = d.saturating_sub(crate::time::monotonic_ns());
        let mut b = [0u8; 16];
        b[0..8].copy_from_slice(&((left / 1_000_000_000) as i64).to_le_bytes());
        b[8..16].copy_from_slice(&((left % 1_000_000_000) as i64).to_le_bytes());
        let _ = copy_out(tsp, &b);
    }
    r
}
