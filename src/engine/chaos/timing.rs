//! The timing promise every blocking call keeps, checked in virtual time.

use super::kernel::{self, World};
use super::CANCEL_RTT;
use crate::engine::Policy;
use std::time::Duration;

/// When a call returned and what could have moved its deadline.
pub(crate) struct Timing {
    pub elapsed: Duration,
    pub setters: usize,
    last_change: Option<Duration>,
    free_waits: usize,
    issued: usize,
    exact: bool,
    pub before: Policy,
    after: Policy,
}

impl Timing {
    pub(crate) fn of(w: &World<'_>, before: Policy) -> Self {
        // A call that ended the stream itself was not stopped by that.
        let mut settings = w.settings;
        settings.ended &= !w.call.ended_here;
        Timing {
            elapsed: w.elapsed(),
            setters: w.call.setters,
            last_change: w.call.last_change,
            free_waits: w.call.free_waits,
            issued: w.call.issued,
            exact: w.call.exact,
            before,
            after: kernel::policy(&settings, w.dir),
        }
    }

    /// A blocking call returns by its deadline plus one cancel round trip (a setter
    /// moves the deadline to when its own cancel landed); a nonblocking call, or one
    /// on a shut direction, never waits. A write issued with no timeout in blocking
    /// mode obeys only a shutdown.
    pub(crate) fn check(&self) {
        self.check_with(0);
    }

    /// `check`, allowing `more` cancel round trips past the one every call may take.
    pub(crate) fn check_with(&self, more: u32) {
        let rtt = CANCEL_RTT * (1 + more);
        let p = self.after;
        let since = self.last_change.map_or(Duration::ZERO, |t| t + CANCEL_RTT);
        let deadline = if p.shut || (p.nonblocking && !self.exact) {
            Some(since)
        } else if self.exact {
            None
        } else {
            p.timeout.map(|limit| limit.max(since))
        };
        if let Some(deadline) = deadline {
            assert!(
                self.elapsed <= deadline + rtt,
                "invariant: returned after {:?}, past the deadline {:?} plus {} cancel round trip(s)",
                self.elapsed,
                deadline,
                1 + more
            );
        }
        if self.setters == 0 && (self.before.nonblocking || self.before.shut) {
            assert_eq!(self.free_waits, 0, "invariant: a nonblocking call waited");
            assert!(
                self.elapsed <= rtt,
                "invariant: a nonblocking call took {:?}",
                self.elapsed
            );
        }
    }

    /// Whether any operation reached the kernel.
    pub(crate) fn issued(&self) -> usize {
        self.issued
    }
}
