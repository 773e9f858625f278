//! Settings shared by a stream (or listener) and its clones, and the wake-up of calls
//! blocked on them when a setting changes.

use crate::engine::{Policy, Settings};
use crate::sys::{self, Handle};
use std::sync::{Arc, Mutex, MutexGuard};

/// Locks a mutex, ignoring poisoning: nothing in winpipe panics while holding one, and a
/// user's panic elsewhere must not make the stream unusable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
struct State {
    settings: Settings,
    /// Raw values of the open handles whose blocked calls a change must wake.
    handles: Vec<usize>,
}

/// Settings plus the handles they govern.
#[derive(Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    pub(crate) fn new() -> Arc<Shared> {
        Arc::default()
    }

    pub(crate) fn settings(&self) -> Settings {
        lock(&self.state).settings
    }

    pub(crate) fn read_policy(&self) -> Policy {
        self.settings().read_policy()
    }

    pub(crate) fn write_policy(&self) -> Policy {
        self.settings().write_policy()
    }

    /// Changes the settings and wakes every blocked call on every clone: each call is
    /// cancelled (`CancelIoEx`), reads the new settings, and either goes on waiting or
    /// stops as they say. Nothing is lost: a cancelled call still collects its bytes.
    pub(crate) fn update(&self, change: impl FnOnce(&mut Settings)) {
        let mut state = lock(&self.state);
        change(&mut state.settings);
        for &raw in &state.handles {
            sys::cancel_all(raw as sys::RawPipe);
        }
    }

    /// Records `handle` as one to wake, until the registration drops.
    pub(crate) fn register(self: &Arc<Self>, handle: &Handle) -> Registration {
        let raw = handle.raw() as usize;
        lock(&self.state).handles.push(raw);
        Registration {
            shared: self.clone(),
            raw,
        }
    }
}

/// A handle's place in its `Shared`. Dropped before the handle is closed, so a setter
/// never touches a closed (or reused) handle value.
pub(crate) struct Registration {
    shared: Arc<Shared>,
    raw: usize,
}

impl Registration {
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut state = lock(&self.shared.state);
        if let Some(i) = state.handles.iter().position(|&h| h == self.raw) {
            state.handles.swap_remove(i);
        }
    }
}
