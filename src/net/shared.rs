//! Settings shared by a stream (or listener) and its clones, and the wake-up of calls
//! blocked on them when a setting changes.

use crate::engine::{self, Clock, Policy, Settings};
use crate::sys::{self, Wakeups};
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Settings plus the operations in flight that obey them.
#[derive(Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Signalled by every change, for calls that pause rather than wait on the kernel.
    changed: Condvar,
    wakeups: Wakeups,
    /// The pipe is of message type, so it carries the end-of-stream marker (its end
    /// in message read mode: see `WinStream::message_type`).
    message_type: OnceLock<bool>,
}

#[derive(Default)]
struct State {
    settings: Settings,
    /// Counts changes, so that a pause can tell whether one came since it looked.
    generation: u64,
    /// A write of this stream or a clone is in flight (see `write_turn`).
    writing: bool,
    /// The end-of-stream marker was sent (or is being sent): it goes once.
    marker_sent: bool,
    /// A read of this end or a clone is in flight (see `read_turn`).
    reading: bool,
    /// A message peek took an empty message, which the next receive returns.
    owed_empty: bool,
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

    /// Whether the pipe is of message type, found once by `find` (which may change
    /// the end's read mode: other threads wait until it is done).
    pub(crate) fn message_type(&self, find: impl FnOnce() -> bool) -> bool {
        *self.message_type.get_or_init(find)
    }

    /// Says whether the pipe is of message type, when that is known at creation.
    pub(crate) fn know_message_type(&self, message_type: bool) {
        let _ = self.message_type.set(message_type);
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

    /// Waits until no other write of this stream or its clones is in flight, for as long
    /// as the write policy lets a write wait (timed from `clock`), and takes the turn
    /// until the returned guard is dropped. A write asks for the pipe's free quota and
    /// then hands over at most that, which must still be free when it is issued:
    /// another writer in between could make it pend, and a pending write that the
    /// peer read part of reports 0 bytes when cancelled (NPFS), which would then be
    /// sent again or reported as not sent. Setters wake the waiters, which read the
    /// new settings; the error is the one the write itself would return.
    pub(crate) fn write_turn(&self, clock: &impl Clock) -> io::Result<WriteTurn<'_>> {
        let mut state = sys::lock(&self.state);
        while state.writing {
            let wait = engine::wait_for_write_turn(state.settings.write_policy(), clock.now())?;
            state = wait_on(&self.changed, state, wait);
        }
        state.writing = true;
        Ok(WriteTurn(self))
    }

    /// Waits until no other receive or peek of this message stream or its clones is in
    /// flight, as the read policy lets it wait, and takes the turn until the guard is
    /// dropped. One reader at a time keeps messages whole and in order: a peek that
    /// takes an empty message owes it to the next receive, which must not be racing
    /// it for the message after. `Err(None)`: the stream was shut down for reading.
    pub(crate) fn read_turn(&self, clock: &impl Clock) -> Result<ReadTurn<'_>, Option<io::Error>> {
        let mut state = sys::lock(&self.state);
        while state.reading {
            let wait = engine::wait_for_read_turn(state.settings.read_policy(), clock.now())?;
            state = wait_on(&self.changed, state, wait);
        }
        state.reading = true;
        Ok(ReadTurn(self))
    }

    /// Records that an empty message is owed (`true`) or settles it.
    pub(crate) fn owe_empty_message(&self, owed: bool) {
        sys::lock(&self.state).owed_empty = owed;
    }

    /// Whether an empty message is owed; `take` settles it.
    pub(crate) fn owed_empty_message(&self, take: bool) -> bool {
        let mut state = sys::lock(&self.state);
        let owed = state.owed_empty;
        state.owed_empty &= !take;
        owed
    }

    /// The turn to send the end-of-stream marker after a write shutdown: `None` if it
    /// was sent already. It waits for the write in flight, which the shutdown stops.
    pub(crate) fn marker_turn(&self) -> Option<WriteTurn<'_>> {
        let mut state = sys::lock(&self.state);
        while state.writing {
            state = wait_on(&self.changed, state, None);
        }
        if std::mem::replace(&mut state.marker_sent, true) {
            return None;
        }
        state.writing = true;
        Some(WriteTurn(self))
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

/// A write's turn (`Shared::write_turn`); dropping it lets the next write go.
pub(crate) struct WriteTurn<'a>(&'a Shared);

impl Drop for WriteTurn<'_> {
    fn drop(&mut self) {
        sys::lock(&self.0.state).writing = false;
        self.0.changed.notify_all();
    }
}

/// A receive's or peek's turn (`Shared::read_turn`); dropping it lets the next go.
pub(crate) struct ReadTurn<'a>(&'a Shared);

impl Drop for ReadTurn<'_> {
    fn drop(&mut self) {
        sys::lock(&self.0.state).reading = false;
        self.0.changed.notify_all();
    }
}

/// Waits on `changed`, at most `limit` (`None`: until signalled), ignoring poisoning.
fn wait_on<'a>(
    changed: &Condvar,
    state: MutexGuard<'a, State>,
    limit: Option<Duration>,
) -> MutexGuard<'a, State> {
    match limit {
        None => changed.wait(state).unwrap_or_else(|p| p.into_inner()),
        Some(limit) => changed
            .wait_timeout(state, limit)
            .map_or_else(|p| p.into_inner().0, |(state, _)| state),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Since;
    use std::io::ErrorKind;
    use std::thread;

    /// A write waits for another write's turn no longer than its policy allows, is
    /// woken by a setter, and gets the turn once the other write is done.
    #[test]
    fn writes_take_turns_within_their_policy() {
        let shared = Shared::new();
        let turn = shared.write_turn(&Since::start()).unwrap();
        shared.update(|s| s.nonblocking = true);
        let err = shared.write_turn(&Since::start()).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        shared.update(|s| {
            s.nonblocking = false;
            s.write_timeout = Some(Duration::from_millis(100));
        });
        let start = Instant::now();
        let err = shared.write_turn(&Since::start()).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(
            start.elapsed() >= Duration::from_millis(90),
            "{:?}",
            start.elapsed()
        );
        // No timeout: it waits until a shutdown wakes it, with the write's error.
        shared.update(|s| s.write_timeout = None);
        let waiter = {
            let shared = shared.clone();
            thread::spawn(move || shared.write_turn(&Since::start()).map(drop))
        };
        thread::sleep(Duration::from_millis(50));
        assert!(
            !waiter.is_finished(),
            "a write took a turn that was not free"
        );
        shared.update(|s| s.shut_write = true);
        let err = waiter.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
        // Once the turn is given back, the next write gets it at once.
        shared.update(|s| s.shut_write = false);
        let waiter = {
            let shared = shared.clone();
            thread::spawn(move || shared.write_turn(&Since::start()).map(drop))
        };
        thread::sleep(Duration::from_millis(20));
        drop(turn);
        waiter.join().unwrap().unwrap();
    }
}
