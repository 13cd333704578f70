//! Timers that signal: `alarm`/`setitimer(ITIMER_REAL)` (one per process) and POSIX
//! timers (`timer_create` with SIGEV_SIGNAL, SIGEV_THREAD_ID or SIGEV_NONE on
//! CLOCK_REALTIME / CLOCK_MONOTONIC).
//!
//! Every armed timer is one entry in a global list, ordered by nothing (short in
//! practice); a kernel thread, `sigtimer`, sleeps until the earliest deadline,
//! sends the signals that are due and re-arms periodic timers. Arming a timer that
//! becomes the earliest wakes it. The list lock is a leaf taken with interrupts off.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::{Mutex, Once};
use weft_abi::Errno;
use weft_abi::signal::{SI_TIMER, SIGALRM, SigInfo};
use weft_arch::cpu::IrqGuard;

use super::Process;
use crate::task::{self, KernelPlatform, Thread};

/// Where a timer's expiry goes.
#[derive(Clone)]
enum Target {
    Process,
    Thread(Weak<Thread>),
    /// SIGEV_NONE: nothing is sent; the timer only counts.
    None,
}

struct Timer {
    owner: Weak<Process>,
    pid: u32,
    /// 0: the process's ITIMER_REAL; otherwise a POSIX timer id.
    id: u32,
    signo: u32,
    value: u64,
    target: Target,
    /// Monotonic deadline, 0 when disarmed.
    deadline: u64,
    interval: u64,
    /// Expirations not yet delivered (timer_getoverrun reports them).
    overrun: u32,
    /// The timer counts CLOCK_REALTIME (only matters for absolute settings).
    realtime: bool,
}

static TIMERS: Mutex<Vec<Timer>> = Mutex::new(Vec::new());
static WQ: weft_sched::WaitQueue<Thread, KernelPlatform> = weft_sched::WaitQueue::new();
static KICK: AtomicBool = AtomicBool::new(false);
static STARTED: Once<()> = Once::new();

fn with<R>(f: impl FnOnce(&mut Vec<Timer>) -> R) -> R {
    let _irq = IrqGuard::new();
    f(&mut TIMERS.lock())
}

fn kick() {
    STARTED.call_once(|| {
        task::kthread::spawn("sigtimer", run).detach();
    });
    KICK.store(true, Ordering::Release);
    task::wake_all(&WQ);
}

fn now() -> u64 {
    crate::time::monotonic_ns()
}

fn run() -> u64 {
    loop {
        let next = with(|l| {
            l.iter()
                .filter(|t| t.deadline != 0)
                .map(|t| t.deadline)
                .min()
        });
        task::wait_event(
            Some(&WQ),
            next,
            || KICK.swap(false, Ordering::AcqRel),
            || false,
        );
        fire_due();
    }
}

fn fire_due() {
    let t = now();
    let mut due: Vec<(Weak<Process>, Target, SigInfo)> = Vec::new();
    with(|l| {
        l.retain(|x| x.owner.strong_count() > 0);
        for x in l.iter_mut().filter(|x| x.deadline != 0 && x.deadline <= t) {
            let mut info = SigInfo::new(x.signo, SI_TIMER);
            if x.id == 0 {
                info = SigInfo::new(SIGALRM, weft_abi::signal::SI_KERNEL);
            } else {
                info.set_u32(16, x.id - 1); // si_timerid
                info.set_u32(20, x.overrun); // si_overrun
                info.set_u64(24, x.value); // si_value
            }
            if let Some(missed) = (t - x.deadline).checked_div(x.interval) {
                x.overrun = x.overrun.saturating_add(missed as u32);
                x.deadline += (missed + 1) * x.interval;
            } else {
                x.deadline = 0;
            }
            due.push((x.owner.clone(), x.target.clone(), info));
        }
    });
    for (owner, target, info) in due {
        let Some(p) = owner.upgrade() else { continue };
        let sent = match target {
            Target::Process => super::signal::send_process(&p, info, None),
            Target::Thread(w) => match w.upgrade() {
                Some(th) => super::signal::send_thread(&p, &th, info),
                None => Ok(()),
            },
            Target::None => Ok(()),
        };
        if sent.is_ok() && info.code == SI_TIMER {
            let id = info.get_u32(16) + 1;
            with(|l| {
                if let Some(x) = l.iter_mut().find(|x| x.pid == p.pid && x.id == id) {
                    x.overrun = 0;
                }
            });
        }
    }
}

fn remaining(x: &Timer) -> u64 {
    if x.deadline == 0 {
        0
    } else {
        x.deadline.saturating_sub(now()).max(1)
    }
}

/// Sets the process's ITIMER_REAL to fire in `value` ns (0 disarms), then every
/// `interval` ns. Returns the previous (time left, interval).
pub fn set_real(p: &Arc<Process>, value: u64, interval: u64) -> (u64, u64) {
    let old = with(|l| {
        let i = match l.iter().position(|x| x.pid == p.pid && x.id == 0) {
            Some(i) => i,
            None => {
                l.push(Timer {
                    owner: Arc::downgrade(p),
                    pid: p.pid,
                    id: 0,
                    signo: SIGALRM,
                    value: 0,
                    target: Target::Process,
                    deadline: 0,
                    interval: 0,
                    overrun: 0,
                    realtime: false,
                });
                l.len() - 1
            }
        };
        let x = &mut l[i];
        let old = (remaining(x), x.interval);
        x.deadline = if value == 0 {
            0
        } else {
            now().saturating_add(value)
        };
        x.interval = if value == 0 { 0 } else { interval };
        old
    });
    if value != 0 {
        kick();
    }
    old
}

/// The process's ITIMER_REAL: (time left, interval).
pub fn get_real(p: &Process) -> (u64, u64) {
    with(|l| {
        l.iter()
            .find(|x| x.pid == p.pid && x.id == 0)
            .map_or((0, 0), |x| (remaining(x), x.interval))
    })
}

/// Most POSIX timers per process.
const MAX_TIMERS: usize = 256;

/// `timer_create`: a new disarmed timer; returns its id.
pub fn create(
    p: &Arc<Process>,
    realtime: bool,
    signo: u32,
    value: u64,
    thread: Option<&Arc<Thread>>,
    none: bool,
) -> Result<u32, Errno> {
    let id = with(|l| {
        let mine: Vec<u32> = l.iter().filter(|x| x.pid == p.pid).map(|x| x.id).collect();
        if mine.len() >= MAX_TIMERS {
            return Err(Errno::EAGAIN);
        }
        let id = (1..).find(|i| !mine.contains(i)).unwrap_or(1);
        l.push(Timer {
            owner: Arc::downgrade(p),
            pid: p.pid,
            id,
            signo,
            value,
            target: if none {
                Target::None
            } else {
                thread.map_or(Target::Process, |t| Target::Thread(Arc::downgrade(t)))
            },
            deadline: 0,
            interval: 0,
            overrun: 0,
            realtime,
        });
        Ok(id)
    })?;
    Ok(id - 1)
}

fn with_timer<R>(p: &Process, user_id: u64, f: impl FnOnce(&mut Timer) -> R) -> Result<R, Errno> {
    let id = u32::try_from(user_id)
        .map_err(|_| Errno::EINVAL)?
        .wrapping_add(1);
    with(|l| {
        l.iter_mut()
            .find(|x| x.pid == p.pid && x.id == id && id != 0)
            .map(f)
            .ok_or(Errno::EINVAL)
    })
}

/// `timer_settime`: `value` ns (absolute on the timer's clock if `abs`), then
/// every `interval`. Returns the previous (left, interval).
pub fn settime(
    p: &Process,
    id: u64,
    abs: bool,
    value: u64,
    interval: u64,
) -> Result<(u64, u64), Errno> {
    let old = with_timer(p, id, |x| {
        let old = (remaining(x), x.interval);
        x.deadline = if value == 0 {
            0
        } else if abs {
            let clock_now = if x.realtime {
                crate::time::realtime_ns()
            } else {
                now()
            };
            now() + value.saturating_sub(clock_now).max(1)
        } else {
            now().saturating_add(value)
        };
        x.interval = if value == 0 { 0 } else { interval };
        x.overrun = 0;
        old
    })?;
    if value != 0 {
        kick();
    }
    Ok(old)
}

/// Sets the `si_value` a timer's signals carry.
pub fn set_value(p: &Process, id: u64, value: u64) -> Result<(), Errno> {
    with_timer(p, id, |x| x.value = value)
}

/// `timer_gettime`: (left, interval).
pub fn gettime(p: &Process, id: u64) -> Result<(u64, u64), Errno> {
    with_timer(p, id, |x| (remaining(x), x.interval))
}

/// `timer_getoverrun`.
pub fn getoverrun(p: &Process, id: u64) -> Result<u32, Errno> {
    with_timer(p, id, |x| x.overrun)
}

/// `timer_delete`.
pub fn delete(p: &Process, id: u64) -> Result<(), Errno> {
    let want = u32::try_from(id)
        .map_err(|_| Errno::EINVAL)?
        .wrapping_add(1);
    with(|l| {
        let before = l.len();
        l.retain(|x| !(x.pid == p.pid && x.id == want && want != 0));
        if l.len() == before {
            Err(Errno::EINVAL)
        } else {
            Ok(())
        }
    })
}

/// exec and exit: the process's timers go (alarm survives exec on Linux: kept).
pub fn drop_posix(p: &Process) {
    with(|l| l.retain(|x| !(x.pid == p.pid && x.id != 0)));
}

/// Exit: every timer of the process goes.
pub fn drop_all(p: &Process) {
    with(|l| l.retain(|x| x.pid != p.pid));
}
