//! Settings shared by a stream (or listener) and its clones, and the wake-up of calls
//! blocked on them when a setting changes.

use crate::engine::{Policy, Settings};
use crate::sys::{self, Wakeups};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Settings plus the operations in flight that obey them.
#[derive(Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Signalled by every change, for calls that pause rather than wait on the kernel.
    changed: Condvar,
    wakeups: Wakeups,
}

#[derive(Default)]
struct State {
    settings: Settings,
    /// Counts changes, so that a pause can tell whether one came since it looked.
    generation: u64,
}

impl Shared {
    pub(crate) fn new() -> Arc<Shared> {
        Arc::default()
    }

    pub(crate) fn settings(&self) -> Settings {
        sys::lock(&self.state).settings
    }

    /// The settings and how many changes came before them.
    pub(crate) fn snapshot(&self) -> (Settings, u64) {
        let state = sys::lock(&self.state);
        (state.settings, state.generation)
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
    /// Calls pausing in `pause` wake too.
    ///
    /// The wake-up comes after the settings lock is released (a woken call reads the
    /// settings); a call that starts in between reads the new settings itself.
    pub(crate) fn update(&self, change: impl FnOnce(&mut Settings)) {
        let (old, new) = {
            let mut state = sys::lock(&self.state);
            let old = state.settings;
            change(&mut state.settings);
            state.generation += 1;
            (old, state.settings)
        };
        self.changed.notify_all();
        self.wakeups.wake(|wake| old.wakes(&new, wake));
    }

    /// Sleeps for `pause`, or until a change after the one `seen` (a generation from
    /// `snapshot`) comes, whichever is first.
    pub(crate) fn pause(&self, pause: Duration, seen: u64) {
        let deadline = Instant::now() + pause;
        let mut state = sys::lock(&self.state);
        while state.generation == seen {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .map_or_else(|poisoned| poisoned.into_inner().0, |(state, _)| state);
        }
    }
}
