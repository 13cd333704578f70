//! `sigaltstack` state of one thread.

use weft_abi::Errno;
use weft_abi::signal::{MINSIGSTKSZ, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, StackT};

/// A thread's alternate signal stack (disabled by default; new threads start
/// without one, fork keeps the caller's, exec clears it).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct AltStack {
    pub sp: u64,
    pub size: u64,
    /// SS_AUTODISARM as given, or SS_DISABLE.
    pub flags: i32,
}

impl Default for AltStack {
    fn default() -> Self {
        AltStack::disabled()
    }
}

impl AltStack {
    /// No alternate stack.
    pub const fn disabled() -> AltStack {
        AltStack {
            sp: 0,
            size: 0,
            flags: SS_DISABLE,
        }
    }

    /// Whether an alternate stack is set up.
    pub fn is_enabled(&self) -> bool {
        self.flags & SS_DISABLE == 0 && self.size != 0
    }

    /// Whether `rsp` lies on the alternate stack.
    pub fn on_stack(&self, rsp: u64) -> bool {
        self.is_enabled() && rsp > self.sp && rsp - self.sp <= self.size
    }

    /// The `stack_t` that `sigaltstack` reports for a thread at `rsp`.
    pub fn report(&self, rsp: u64) -> StackT {
        let flags = if !self.is_enabled() {
            SS_DISABLE
        } else if self.on_stack(rsp) {
            SS_ONSTACK
        } else {
            self.flags & SS_AUTODISARM
        };
        StackT {
            sp: self.sp,
            flags,
            _pad: 0,
            size: self.size,
        }
    }

    /// `sigaltstack(new)` for a thread at `rsp`: EPERM while running on the current
    /// one, EINVAL for unknown flags, ENOMEM below MINSIGSTKSZ.
    pub fn change(&mut self, new: &StackT, rsp: u64) -> Result<(), Errno> {
        if self.on_stack(rsp) {
            return Err(Errno::EPERM);
        }
        let mode = new.flags & !SS_AUTODISARM;
        if mode != 0 && mode != SS_ONSTACK && mode != SS_DISABLE {
            return Err(Errno::EINVAL);
        }
        if mode == SS_DISABLE {
            *self = AltStack::disabled();
            return Ok(());
        }
        if new.size < MINSIGSTKSZ {
            return Err(Errno::ENOMEM);
        }
        *self = AltStack {
            sp: new.sp,
            size: new.size,
            flags: new.flags & SS_AUTODISARM,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(sp: u64, size: u64, flags: i32) -> StackT {
        StackT {
            sp,
            flags,
            _pad: 0,
            size,
        }
    }

    #[test]
    fn set_report_disable() {
        let mut a = AltStack::default();
        assert_eq!(a.report(0x9000).flags, SS_DISABLE);
        assert_eq!(a.change(&st(0x10000, 1024, 0), 0x9000), Err(Errno::ENOMEM));
        a.change(&st(0x10000, 0x4000, 0), 0x9000).unwrap();
        assert_eq!(a.report(0x9000), st(0x10000, 0x4000, 0));
        assert_eq!(a.report(0x12000).flags, SS_ONSTACK);
        assert!(a.on_stack(0x14000) && !a.on_stack(0x10000) && !a.on_stack(0x14001));
        assert_eq!(a.change(&st(0, 0, SS_DISABLE), 0x12000), Err(Errno::EPERM));
        assert_eq!(a.change(&st(0, 0, 7), 0x9000), Err(Errno::EINVAL));
        a.change(&st(0, 0, SS_DISABLE), 0x9000).unwrap();
        assert!(!a.is_enabled());
    }
}
