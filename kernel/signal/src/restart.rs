//! What an interrupted system call returns, or whether it restarts (Linux's rules).
//!
//! A blocking call that a signal interrupts returns one of the kernel-internal
//! codes; on the way back to user mode the code becomes EINTR or the call is
//! restarted, depending on whether a handler runs and its SA_RESTART flag:
//!
//! | returned                | handler, SA_RESTART | handler, no SA_RESTART | no handler |
//! |-------------------------|---------------------|------------------------|------------|
//! | ERESTARTSYS             | restart             | EINTR                  | restart    |
//! | ERESTARTNOINTR          | restart             | restart                | restart    |
//! | ERESTARTNOHAND          | EINTR               | EINTR                  | restart    |
//! | ERESTART_RESTARTBLOCK   | EINTR               | EINTR                  | restart_syscall |

use weft_abi::Errno;

/// What to do with an interrupted call.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Leave the result as it is (not an internal restart code).
    Keep,
    /// Return EINTR.
    Eintr,
    /// Re-execute the same system call (rip back over `syscall`, rax = number).
    Again,
    /// Re-execute as `restart_syscall`, which continues from the saved state.
    RestartBlock,
}

/// The rule for result `ret` (the negated errno in rax). `handler` is Some(the
/// handler's SA_RESTART flag) when a handler is about to run.
pub fn decide(ret: i64, handler: Option<bool>) -> Restart {
    if !(-(Errno::ERESTART_RESTARTBLOCK.0 as i64)..=-(Errno::ERESTARTSYS.0 as i64)).contains(&ret) {
        return Restart::Keep;
    }
    let e = Errno((-ret) as i32);
    match (e, handler) {
        (Errno::ERESTART_RESTARTBLOCK, None) => Restart::RestartBlock,
        (_, None) => Restart::Again,
        (Errno::ERESTARTNOINTR, Some(_)) => Restart::Again,
        (Errno::ERESTARTSYS, Some(true)) => Restart::Again,
        (Errno::ERESTARTSYS | Errno::ERESTARTNOHAND | Errno::ERESTART_RESTARTBLOCK, Some(_)) => {
            Restart::Eintr
        }
        // 515 is unused by Linux: never leak it.
        _ => Restart::Eintr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(e: Errno) -> i64 {
        -(e.0 as i64)
    }

    #[test]
    fn table() {
        use Restart::*;
        assert_eq!(decide(r(Errno::ERESTARTSYS), Some(true)), Again);
        assert_eq!(decide(r(Errno::ERESTARTSYS), Some(false)), Eintr);
        assert_eq!(decide(r(Errno::ERESTARTSYS), None), Again);
        assert_eq!(decide(r(Errno::ERESTARTNOINTR), Some(false)), Again);
        assert_eq!(decide(r(Errno::ERESTARTNOHAND), Some(true)), Eintr);
        assert_eq!(decide(r(Errno::ERESTARTNOHAND), None), Again);
        assert_eq!(decide(r(Errno::ERESTART_RESTARTBLOCK), Some(true)), Eintr);
        assert_eq!(decide(r(Errno::ERESTART_RESTARTBLOCK), None), RestartBlock);
        assert_eq!(decide(r(Errno::EINTR), Some(true)), Keep);
        assert_eq!(decide(0, None), Keep);
        assert_eq!(decide(-515, None), Again);
        assert_eq!(decide(-515, Some(true)), Eintr);
    }
}
