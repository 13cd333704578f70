//! `poll` and `ppoll`.
//!
//! Readiness comes from each open file (`weft_vfs::File::poll`). A polling thread
//! sleeps on one kernel-wide queue, [`crate::fs::POLL_WQ`], which every file wait
//! queue also wakes when it wakes its own sleepers: after any readiness change the
//! pollers re-check their descriptors. The check runs after the thread is queued,
//! so no change between the check and the sleep is missed (wait_event's protocol).

use alloc::vec::Vec;

use weft_abi::Errno;
use weft_abi::poll::{POLLERR, POLLHUP, POLLNVAL};

use super::{SysResult, copy_in, copy_out};
use crate::proc::signal as sig;
use crate::proc::uthread::me;
use crate::task::WaitResult;

/// Most descriptors one call may poll (Linux: RLIMIT_NOFILE, 1024 by default).
const MAX_NFDS: u64 = 1024;

struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

/// Fills in `revents` for every entry; returns how many have some.
fn scan(fds: &mut [PollFd], table: &weft_vfs::FdTable) -> usize {
    let mut n = 0;
    for p in fds.iter_mut() {
        p.revents = if p.fd < 0 {
            0
        } else {
            match table.get(p.fd) {
                Ok(f) => f.poll() & (p.events | POLLERR | POLLHUP | POLLNVAL),
                Err(_) => POLLNVAL,
            }
        };
        if p.revents != 0 {
            n += 1;
        }
    }
    n
}

/// The shared body: `deadline` None waits forever, Some(now) does not wait.
fn do_poll(ufds: u64, nfds: u64, deadline: Option<u64>) -> SysResult {
    if nfds > MAX_NFDS {
        return Err(Errno::EINVAL);
    }
    let raw = copy_in(ufds, nfds as usize * 8)?;
    let mut fds: Vec<PollFd> = raw
        .chunks_exact(8)
        .map(|c| PollFd {
            fd: i32::from_le_bytes(c[0..4].try_into().unwrap()),
            events: i16::from_le_bytes(c[4..6].try_into().unwrap()),
            revents: 0,
        })
        .collect();
    let table = me().1.files();
    let mut ready = 0;
    let r = sig::wait_event(Some(&crate::fs::POLL_WQ), deadline, || {
        ready = scan(&mut fds, &table);
        ready > 0
    });
    if r == WaitResult::Interrupted {
        return Err(Errno::ERESTARTNOHAND);
    }
    let mut out = raw;
    for (c, p) in out.chunks_exact_mut(8).zip(&fds) {
        c[6..8].copy_from_slice(&p.revents.to_le_bytes());
    }
    copy_out(ufds, &out)?;
    Ok(ready as u64)
}

pub fn poll(ufds: u64, nfds: u64, timeout_ms: u64) -> SysResult {
    let t = timeout_ms as i32;
    let deadline =
        (t >= 0).then(|| crate::time::monotonic_ns().saturating_add(t as u64 * 1_000_000));
    do_poll(ufds, nfds, deadline)
}

pub fn ppoll(ufds: u64, nfds: u64, tsp: u64, sigmask: u64, sigsetsize: u64) -> SysResult {
    let deadline = if tsp == 0 {
        None
    } else {
        let b = copy_in(tsp, 16)?;
        let s = i64::from_le_bytes(b[0..8].try_into().unwrap());
        let ns = i64::from_le_bytes(b[8..16].try_into().unwrap());
        if s < 0 || !(0..1_000_000_000).contains(&ns) {
            return Err(Errno::EINVAL);
        }
        Some(
            crate::time::monotonic_ns()
                .saturating_add((s as u64).saturating_mul(1_000_000_000))
                .saturating_add(ns as u64),
        )
    };
    if sigmask == 0 {
        return do_poll(ufds, nfds, deadline);
    }
    if sigsetsize as usize != weft_abi::signal::SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let mask = weft_mm::user::read_user_u64(sigmask).map_err(|_| Errno::EFAULT)?;
    // The mask holds for the call; a handler that interrupts it returns to the old
    // one (saved as for sigsuspend).
    let (t, p) = me();
    let old = sig::set_mask(&t, &p, mask);
    let r = do_poll(ufds, nfds, deadline);
    if r == Err(Errno::ERESTARTNOHAND) {
        t.user.as_ref().unwrap().sig.lock().saved_mask = Some(old);
    } else {
        sig::set_mask(&t, &p, old);
    }
    r
}
