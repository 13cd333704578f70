//! Scheduling, time and system-information calls.

use weft_abi::Errno;
use weft_abi::time::*;
use weft_sched::CpuSet;

use super::{SysResult, copy_in, copy_out, put_u32, put_u64};
use crate::proc::uthread::me;
use crate::task;

pub fn sched_yield() -> SysResult {
    task::yield_now();
    Ok(0)
}

/// The thread `pid` names (0: the caller), in any process; ESRCH if none.
fn target_thread(pid: u64) -> Result<alloc::sync::Arc<crate::task::Thread>, Errno> {
    let (t, p) = me();
    if pid == 0 || pid == t.tid() {
        return Ok(t);
    }
    // Look in the caller's process first, releasing its `threads` lock before
    // the global search: `find_thread_owner` locks every process's `threads`,
    // the caller's included (holding it there deadlocked).
    let local = p.threads.lock().iter().find(|x| x.tid() == pid).cloned();
    if let Some(found) = local {
        return Ok(found);
    }
    let tid = u32::try_from(pid).map_err(|_| Errno::ESRCH)?;
    let owner = crate::proc::find_thread_owner(tid).ok_or(Errno::ESRCH)?;
    let found = owner
        .threads
        .lock()
        .iter()
        .find(|x| x.tid() == pid)
        .cloned();
    found.ok_or(Errno::ESRCH)
}

pub fn sched_setaffinity(pid: u64, len: u64, mask: u64) -> SysResult {
    let t = target_thread(pid)?;
    let n = (len as usize).min(8);
    if n == 0 {
        return Err(Errno::EINVAL);
    }
    let bytes = copy_in(mask, n)?;
    let mut b = [0u8; 8];
    b[..n].copy_from_slice(&bytes);
    let set = CpuSet::from_bits(
        u64::from_le_bytes(b) & CpuSet::first_n(weft_arch::percpu::cpu_count()).bits(),
    );
    if set.is_empty() {
        return Err(Errno::EINVAL);
    }
    task::sched()
        .set_affinity(&t, set, weft_arch::percpu::cpu_id())
        .map_err(|_| Errno::EINVAL)?;
    if task::current().is_some_and(|c| alloc::sync::Arc::ptr_eq(&c, &t)) {
        task::set_current_affinity(set).map_err(|_| Errno::EINVAL)?;
    }
    Ok(0)
}

pub fn sched_getaffinity(pid: u64, len: u64, mask: u64) -> SysResult {
    let t = target_thread(pid)?;
    // Linux wants room for its whole mask (nr_cpu_ids bits, in longs).
    if len < 8 || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let bits = weft_sched::Schedulable::sched(&*t).affinity().bits()
        & CpuSet::first_n(weft_arch::percpu::cpu_count()).bits();
    copy_out(mask, &bits.to_le_bytes())?;
    Ok(8)
}

pub fn getcpu(cpu: u64, node: u64) -> SysResult {
    let c = weft_arch::percpu::cpu_id() as u32;
    if cpu != 0 {
        put_u32(cpu, c)?;
    }
    if node != 0 {
        put_u32(node, 0)?;
    }
    Ok(0)
}

fn read_ts(addr: u64) -> Result<Timespec, Errno> {
    let b = copy_in(addr, 16)?;
    let ts = Timespec {
        tv_sec: i64::from_le_bytes(b[0..8].try_into().unwrap()),
        tv_nsec: i64::from_le_bytes(b[8..16].try_into().unwrap()),
    };
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(ts)
}

fn write_ts(addr: u64, ns: u64) -> Result<(), Errno> {
    let ts = crate::time::to_timespec(ns);
    let mut b = [0u8; 16];
    b[0..8].copy_from_slice(&ts.tv_sec.to_le_bytes());
    b[8..16].copy_from_slice(&ts.tv_nsec.to_le_bytes());
    copy_out(addr, &b)
}

fn ts_ns(ts: &Timespec) -> u64 {
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Sleeps until monotonic `deadline`. Interrupted by a signal, it leaves the time
/// left in `rem` (if non-zero) and a restart block, so that without a handler the
/// sleep goes on through `restart_syscall`, and with one the caller sees EINTR.
pub fn sleep_to(deadline: u64, rem: u64) -> SysResult {
    use crate::task::WaitResult;
    if crate::proc::signal::wait_event(None, Some(deadline), || false) != WaitResult::Interrupted {
        return Ok(0);
    }
    let now = crate::time::monotonic_ns();
    if now >= deadline {
        return Ok(0);
    }
    if rem != 0 {
        write_ts(rem, deadline - now)?;
    }
    let (t, _) = me();
    t.user.as_ref().unwrap().sig.lock().restart =
        Some(crate::proc::signal::RestartBlock::Sleep { deadline, rem });
    Err(Errno::ERESTART_RESTARTBLOCK)
}

pub fn nanosleep(req: u64, rem: u64) -> SysResult {
    let ts = read_ts(req)?;
    let deadline = crate::time::monotonic_ns().saturating_add(ts_ns(&ts));
    sleep_to(deadline, rem)
}

fn clock_now(clock: u32) -> Result<u64, Errno> {
    match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => Ok(crate::time::realtime_ns()),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME => {
            Ok(crate::time::monotonic_ns())
        }
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => {
            let (t, _) = me();
            Ok(weft_sched::Schedulable::sched(&*t).stats().runtime_ns)
        }
        _ => Err(Errno::EINVAL),
    }
}

pub fn clock_nanosleep(clock: u64, flags: u64, req: u64, rem: u64) -> SysResult {
    let clock = clock as u32;
    if !matches!(clock, CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME) {
        return Err(Errno::EINVAL);
    }
    let ts = read_ts(req)?;
    let now = clock_now(clock)?;
    let abs = flags as u32 & TIMER_ABSTIME != 0;
    let dur = if abs {
        ts_ns(&ts).saturating_sub(now)
    } else {
        ts_ns(&ts)
    };
    let deadline = crate::time::monotonic_ns().saturating_add(dur);
    if abs {
        // An absolute sleep is simply called again (same end time).
        use crate::task::WaitResult;
        return match crate::proc::signal::wait_event(None, Some(deadline), || false) {
            WaitResult::Interrupted => Err(Errno::ERESTARTNOHAND),
            _ => Ok(0),
        };
    }
    sleep_to(deadline, rem)
}

pub fn clock_gettime(clock: u64, tp: u64) -> SysResult {
    let ns = clock_now(clock as u32)?;
    write_ts(tp, ns).map(|_| 0)
}

pub fn clock_getres(clock: u64, tp: u64) -> SysResult {
    clock_now(clock as u32)?;
    if tp != 0 {
        write_ts(tp, 1)?;
    }
    Ok(0)
}

pub fn gettimeofday(tv: u64, tz: u64) -> SysResult {
    let ns = crate::time::realtime_ns();
    if tv != 0 {
        let mut b = [0u8; 16];
        b[0..8].copy_from_slice(&((ns / 1_000_000_000) as i64).to_le_bytes());
        b[8..16].copy_from_slice(&(((ns / 1000) % 1_000_000) as i64).to_le_bytes());
        copy_out(tv, &b)?;
    }
    if tz != 0 {
        copy_out(tz, &[0u8; 8])?;
    }
    Ok(0)
}

pub fn time(t: u64) -> SysResult {
    let s = crate::time::realtime_ns() / 1_000_000_000;
    if t != 0 {
        put_u64(t, s)?;
    }
    Ok(s)
}

pub fn uname(buf: u64) -> SysResult {
    let fields: [&str; 6] = [
        "Weft",
        "weft",
        env!("CARGO_PKG_VERSION"),
        "#1 SMP",
        "x86_64",
        "(none)",
    ];
    let mut out = alloc::vec![0u8; 65 * 6];
    for (i, f) in fields.iter().enumerate() {
        let n = f.len().min(64);
        out[i * 65..i * 65 + n].copy_from_slice(&f.as_bytes()[..n]);
    }
    copy_out(buf, &out).map(|_| 0)
}

pub fn prctl(option: u64, arg2: u64) -> SysResult {
    use weft_abi::prctl::{PR_GET_NAME, PR_SET_NAME};
    let (t, _) = me();
    match option as u32 {
        PR_SET_NAME => {
            let mut name = super::read_cstr_prefix(arg2, 16)?;
            name.truncate(15);
            t.set_name(&alloc::string::String::from_utf8_lossy(&name));
            Ok(0)
        }
        PR_GET_NAME => {
            let mut b = [0u8; 16];
            let name = t.name();
            let n = name.len().min(15);
            b[..n].copy_from_slice(&name.as_bytes()[..n]);
            copy_out(arg2, &b).map(|_| 0)
        }
        _ => Err(Errno::EINVAL),
    }
}

pub fn getrandom(buf: u64, len: u64, flags: u64) -> SysResult {
    if flags as u32 & !weft_abi::random::GRND_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let len = (len as usize).min(256 * 1024);
    if !weft_mm::user::user_range_ok(buf, len as u64) {
        return Err(Errno::EFAULT);
    }
    let mut b = alloc::vec![0u8; len];
    crate::random::fill(&mut b);
    copy_out(buf, &b)?;
    Ok(len as u64)
}

pub fn sysinfo(buf: u64) -> SysResult {
    // Count memory of threads that have exited as free: free it now.
    task::reap_zombies();
    let st = weft_mm::stats();
    let mut b = [0u8; 112];
    let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
    put(
        0,
        &((crate::time::monotonic_ns() / 1_000_000_000) as i64).to_le_bytes(),
    );
    put(32, &st.total_frames.to_le_bytes());
    // Recycled thread stacks (kept mapped for reuse) and free space inside the
    // kernel heap are free memory too; counting them keeps freeram steady while the
    // heap grows and shrinks by whole runs.
    let cached = (weft_mm::cached_stacks() * weft_mm::CACHED_STACK_PAGES) as u64;
    let heap_free = st.heap_capacity.saturating_sub(st.heap_used) / 4096;
    put(40, &(st.free_frames + cached + heap_free).to_le_bytes());
    put(80, &(crate::proc::process_count() as u16).to_le_bytes());
    put(104, &4096u32.to_le_bytes());
    copy_out(buf, &b).map(|_| 0)
}

/// Number of resources (`RLIM_NLIMITS`): larger ones are EINVAL.
const RLIM_NLIMITS: u32 = 16;

/// The (soft, hard) limit of `resource` for the caller; EINVAL if unknown.
fn rlimit_of(resource: u64) -> Result<(u64, u64), Errno> {
    use weft_abi::resource::{RLIM_INFINITY, RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_STACK};
    Ok(match resource {
        r if r >= RLIM_NLIMITS as u64 => return Err(Errno::EINVAL),
        r if r == RLIMIT_STACK as u64 => (crate::proc::exec::STACK_SIZE, RLIM_INFINITY),
        r if r == RLIMIT_NOFILE as u64 => {
            let l = me().1.files().limit() as u64;
            (l, l)
        }
        r if r == RLIMIT_NPROC as u64 => {
            let l = crate::proc::THREAD_LIMIT as u64;
            (l, l)
        }
        _ => (RLIM_INFINITY, RLIM_INFINITY),
    })
}

fn put_rlimit(addr: u64, (cur, max): (u64, u64)) -> Result<(), Errno> {
    let mut b = [0u8; 16];
    b[0..8].copy_from_slice(&cur.to_le_bytes());
    b[8..16].copy_from_slice(&max.to_le_bytes());
    copy_out(addr, &b)
}

/// `getrlimit`: always copies out (EFAULT for NULL or a bad pointer, as Linux).
pub fn getrlimit(resource: u64, old: u64) -> SysResult {
    let lim = rlimit_of(resource)?;
    put_rlimit(old, lim).map(|_| 0)
}

/// `prlimit64`, Linux's order of checks: the new limit is read first (EFAULT),
/// then the pid (ESRCH: only the caller's process), the resource (EINVAL), the
/// new limit's sanity (EINVAL if soft > hard), and setting is refused (EPERM,
/// docs/syscalls.md); the old limit is written last (EFAULT).
pub fn prlimit64(pid: u64, resource: u64, new: u64, old: u64) -> SysResult {
    let new_lim = if new != 0 {
        let b = copy_in(new, 16)?;
        Some((
            u64::from_le_bytes(b[0..8].try_into().unwrap()),
            u64::from_le_bytes(b[8..16].try_into().unwrap()),
        ))
    } else {
        None
    };
    if pid != 0 && pid as u32 != me().1.pid {
        return Err(Errno::ESRCH);
    }
    let lim = rlimit_of(resource)?;
    if let Some((cur, max)) = new_lim {
        if cur > max {
            return Err(Errno::EINVAL);
        }
        // Changing limits is not supported yet (docs/syscalls.md).
        return Err(Errno::EPERM);
    }
    if old != 0 {
        put_rlimit(old, lim)?;
    }
    Ok(0)
}
