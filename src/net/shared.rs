//! Settings shared by a stream (or listener) and its clones, and the wake-up of calls
//! blocked on them when a setting changes.

use crate::engine::{Policy, Settings};
use crate::sys::{self, Wakeups};
use std::sync::{Arc, Mutex};

/// Settings plus the operations in flight that obey them.
#[derive(Default)]
pub(crate) struct Shared {
    settings: Mutex<Settings>,
    wakeups: Wakeups,
}

impl Shared {
    pub(crate) fn new() -> Arc<Shared> {
        Arc::default()
    }

    pub(crate) fn settings(&self) -> Settings {
        *sys::lock(&self.settings)
    }

    pub(crate) fn read_policy(&self) -> Policy {
        self.settings().read_policy()
    }

    pub(crate) fn write_policy(&self) -> Policy {
        self.settings().write_policy()
    }

    pub(crate) fn wakeups(&self) -> &Wakeups {
        &self.wakeups
    }

    /// Changes the settings and wakes the calls blocked on any clone whose direction
    /// the change concerns: each is cancelled, reads the new settings, and either goes
    /// on waiting or stops as they say. Nothing is lost: a cancelled call still
    /// collects its bytes. Calls of the other direction are left alone, and so is a
    /// write issued with no timeout in blocking mode, which only a shutdown stops.
    ///
    /// The wake-up comes after the settings lock is released (a woken call reads the
    /// settings); a call that starts in between reads the new settings itself.
    pub(crate) fn update(&self, change: impl FnOnce(&mut Settings)) {
        let (old, new) = {
            let mut settings = sys::lock(&self.settings);
            let old = *settings;
            change(&mut settings);
            (old, *settings)
        };
        self.wakeups.wake(|wake| old.wakes(&new, wake));
    }
}
