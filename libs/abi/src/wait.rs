//! wait4 / waitid options and wait status encoding.

/// Return at once if no child has changed state.
pub const WNOHANG: u32 = 0x0000_0001;
/// Also report stopped children.
pub const WUNTRACED: u32 = 0x0000_0002;
/// `waitid`: report stopped children.
pub const WSTOPPED: u32 = WUNTRACED;
/// `waitid`: report exited children.
pub const WEXITED: u32 = 0x0000_0004;
/// Report continued children.
pub const WCONTINUED: u32 = 0x0000_0008;
/// `waitid`: leave the child waitable.
pub const WNOWAIT: u32 = 0x0100_0000;
/// Do not wait for children of other threads in the group.
pub const __WNOTHREAD: u32 = 0x2000_0000;
/// Wait for all children regardless of their exit signal.
pub const __WALL: u32 = 0x4000_0000;
/// Wait only for "clone" children (exit signal other than SIGCHLD).
pub const __WCLONE: u32 = 0x8000_0000;

/// `waitid` id type: any child.
pub const P_ALL: u32 = 0;
/// `waitid` id type: a pid.
pub const P_PID: u32 = 1;
/// `waitid` id type: a process group.
pub const P_PGID: u32 = 2;
/// `waitid` id type: a pidfd.
pub const P_PIDFD: u32 = 3;

/// Status of a child that exited with `code`.
pub const fn exited(code: u32) -> i32 {
    ((code & 0xff) << 8) as i32
}
/// Status of a child killed by `sig` (with `core` if it dumped core).
pub const fn signaled(sig: u32, core: bool) -> i32 {
    ((sig & 0x7f) | if core { 0x80 } else { 0 }) as i32
}
/// Status of a child stopped by `sig`.
pub const fn stopped(sig: u32) -> i32 {
    (((sig & 0xff) << 8) | 0x7f) as i32
}
/// Status of a continued child.
pub const CONTINUED: i32 = 0xffff;

/// `WIFEXITED`.
pub const fn if_exited(s: i32) -> bool {
    s & 0x7f == 0
}
/// `WEXITSTATUS`.
pub const fn exit_status(s: i32) -> u32 {
    ((s >> 8) & 0xff) as u32
}
/// `WIFSIGNALED`.
pub const fn if_signaled(s: i32) -> bool {
    let t = s & 0x7f;
    t != 0 && t != 0x7f
}
/// `WTERMSIG`.
pub const fn term_sig(s: i32) -> u32 {
    (s & 0x7f) as u32
}
/// `WIFSTOPPED`.
pub const fn if_stopped(s: i32) -> bool {
    s & 0xff == 0x7f
}
/// `WSTOPSIG`.
pub const fn stop_sig(s: i32) -> u32 {
    exit_status(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(exited(3), 0x300);
        assert!(if_exited(exited(3)) && exit_status(exited(3)) == 3);
        assert!(if_signaled(signaled(9, false)) && term_sig(signaled(9, false)) == 9);
        assert_eq!(signaled(11, true), 0x8b);
        assert!(if_stopped(stopped(19)) && stop_sig(stopped(19)) == 19);
        assert!(!if_exited(stopped(19)) && !if_signaled(stopped(19)));
    }
}
