//! The disposition table.

use weft_abi::Errno;
use weft_abi::signal::{
    DefaultAction, NSIG, SA_RESETHAND, SA_SIGINFO, SIG_DFL, SIG_IGN, SIGKILL, SIGSTOP, SigAction,
    default_action, is_valid,
};

/// What taking a signal does, given the process's table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Nothing (SIG_IGN, or a default action of "ignore").
    Ignore,
    /// End the process; `core` sets the WCOREDUMP bit of the wait status.
    Terminate { core: bool },
    /// Stop the whole thread group.
    Stop,
    /// Continue a stopped group (the continuing itself happens when it is sent).
    Continue,
    /// Run a handler.
    Handler(SigAction),
}

/// One process's `sigaction` table (shared by its threads).
#[derive(Clone, Debug)]
pub struct Actions {
    table: [SigAction; NSIG as usize],
}

impl Default for Actions {
    fn default() -> Self {
        Actions::new()
    }
}

impl Actions {
    /// Every signal at SIG_DFL.
    pub fn new() -> Actions {
        Actions {
            table: [SigAction::default(); NSIG as usize],
        }
    }

    /// The action of `sig` (a valid signal).
    pub fn get(&self, sig: u32) -> SigAction {
        self.table[sig as usize - 1]
    }

    /// `rt_sigaction`: installs `act` for `sig` and returns the old action. SIGKILL
    /// and SIGSTOP cannot be changed (EINVAL), nor can invalid signals. The mask is
    /// stored without SIGKILL and SIGSTOP.
    pub fn set(&mut self, sig: u32, act: SigAction) -> Result<SigAction, Errno> {
        if !is_valid(sig) || sig == SIGKILL || sig == SIGSTOP {
            return Err(Errno::EINVAL);
        }
        let old = self.table[sig as usize - 1];
        self.table[sig as usize - 1] = SigAction {
            mask: crate::sanitize_mask(act.mask),
            ..act
        };
        Ok(old)
    }

    /// Whether `sig` is ignored: explicitly, or by a default action of "ignore".
    /// (Pending instances of an ignored signal are discarded; an ignored signal is
    /// not even queued.)
    pub fn is_ignored(&self, sig: u32) -> bool {
        matches!(self.disposition(sig), Disposition::Ignore)
    }

    /// What taking `sig` does.
    pub fn disposition(&self, sig: u32) -> Disposition {
        if !is_valid(sig) {
            return Disposition::Ignore;
        }
        let a = self.get(sig);
        if sig == SIGKILL || sig == SIGSTOP || a.handler == SIG_DFL {
            return match default_action(sig) {
                DefaultAction::Terminate => Disposition::Terminate { core: false },
                DefaultAction::CoreDump => Disposition::Terminate { core: true },
                DefaultAction::Ignore => Disposition::Ignore,
                DefaultAction::Stop => Disposition::Stop,
                DefaultAction::Continue => Disposition::Continue,
            };
        }
        if a.handler == SIG_IGN {
            return Disposition::Ignore;
        }
        Disposition::Handler(a)
    }

    /// Called as a handler is entered: SA_RESETHAND puts the action back to default
    /// (and clears SA_SIGINFO, as Linux does).
    pub fn handler_entered(&mut self, sig: u32) {
        let a = &mut self.table[sig as usize - 1];
        if a.flags & SA_RESETHAND != 0 {
            *a = SigAction {
                handler: SIG_DFL,
                flags: a.flags & !(SA_RESETHAND | SA_SIGINFO),
                ..*a
            };
        }
    }

    /// A fault the program cannot handle (its signal blocked, or ignored): the
    /// action goes back to default so that taking the signal ends the process.
    pub fn force_default(&mut self, sig: u32) {
        self.table[sig as usize - 1] = SigAction::default();
    }

    /// execve: caught signals go back to default; ignored ones stay ignored; flags,
    /// masks and restorers are cleared.
    pub fn reset_for_exec(&mut self) {
        for a in self.table.iter_mut() {
            let ignored = a.handler == SIG_IGN;
            *a = SigAction::default();
            if ignored {
                a.handler = SIG_IGN;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_abi::signal::*;

    fn handler(addr: u64, flags: u64) -> SigAction {
        SigAction {
            handler: addr,
            flags: flags | SA_RESTORER,
            restorer: 0x5000,
            mask: sigmask(SIGKILL) | sigmask(SIGUSR2),
        }
    }

    #[test]
    fn kill_and_stop_cannot_change() {
        let mut a = Actions::new();
        assert_eq!(a.set(SIGKILL, handler(0x1000, 0)), Err(Errno::EINVAL));
        assert_eq!(
            a.set(
                SIGSTOP,
                SigAction {
                    handler: SIG_IGN,
                    ..Default::default()
                }
            ),
            Err(Errno::EINVAL)
        );
        assert_eq!(a.set(0, handler(0x1000, 0)), Err(Errno::EINVAL));
        assert_eq!(a.set(65, handler(0x1000, 0)), Err(Errno::EINVAL));
        assert_eq!(
            a.disposition(SIGKILL),
            Disposition::Terminate { core: false }
        );
        assert_eq!(a.disposition(SIGSTOP), Disposition::Stop);
    }

    #[test]
    fn set_returns_old_and_strips_unblockable_from_mask() {
        let mut a = Actions::new();
        assert_eq!(
            a.set(SIGUSR1, handler(0x1000, SA_SIGINFO)),
            Ok(SigAction::default())
        );
        let got = a.get(SIGUSR1);
        assert_eq!(got.mask, sigmask(SIGUSR2));
        let old = a.set(SIGUSR1, SigAction::default()).unwrap();
        assert_eq!(old.handler, 0x1000);
    }

    #[test]
    fn dispositions() {
        let mut a = Actions::new();
        assert_eq!(
            a.disposition(SIGSEGV),
            Disposition::Terminate { core: true }
        );
        assert_eq!(
            a.disposition(SIGTERM),
            Disposition::Terminate { core: false }
        );
        assert_eq!(a.disposition(SIGCHLD), Disposition::Ignore);
        assert_eq!(a.disposition(SIGCONT), Disposition::Continue);
        assert_eq!(a.disposition(SIGTSTP), Disposition::Stop);
        assert_eq!(
            a.disposition(SIGRTMIN + 1),
            Disposition::Terminate { core: false }
        );
        a.set(
            SIGTERM,
            SigAction {
                handler: SIG_IGN,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(a.is_ignored(SIGTERM));
        let h = handler(0x1000, 0);
        a.set(SIGCHLD, h).unwrap();
        assert!(matches!(a.disposition(SIGCHLD), Disposition::Handler(x) if x.handler == 0x1000));
    }

    #[test]
    fn resethand_resets_on_entry() {
        let mut a = Actions::new();
        a.set(SIGUSR1, handler(0x1000, SA_RESETHAND | SA_SIGINFO))
            .unwrap();
        a.set(SIGUSR2, handler(0x2000, 0)).unwrap();
        a.handler_entered(SIGUSR1);
        a.handler_entered(SIGUSR2);
        assert_eq!(
            a.disposition(SIGUSR1),
            Disposition::Terminate { core: false }
        );
        assert!(matches!(a.disposition(SIGUSR2), Disposition::Handler(_)));
    }

    #[test]
    fn exec_keeps_ignored_only() {
        let mut a = Actions::new();
        a.set(SIGUSR1, handler(0x1000, SA_RESTART)).unwrap();
        a.set(
            SIGINT,
            SigAction {
                handler: SIG_IGN,
                flags: SA_RESTART,
                ..Default::default()
            },
        )
        .unwrap();
        a.reset_for_exec();
        assert_eq!(a.get(SIGUSR1), SigAction::default());
        assert_eq!(a.get(SIGINT).handler, SIG_IGN);
        assert_eq!(a.get(SIGINT).flags, 0);
    }

    #[test]
    fn fork_copies_table() {
        let mut a = Actions::new();
        a.set(SIGUSR1, handler(0x1000, 0)).unwrap();
        let b = a.clone();
        assert_eq!(b.get(SIGUSR1).handler, 0x1000);
    }

    #[test]
    fn force_default_makes_fault_fatal() {
        let mut a = Actions::new();
        a.set(SIGSEGV, handler(0x1000, 0)).unwrap();
        a.force_default(SIGSEGV);
        assert_eq!(
            a.disposition(SIGSEGV),
            Disposition::Terminate { core: true }
        );
    }
}
