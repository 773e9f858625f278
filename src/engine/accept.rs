//! The server side of connecting: a backlog of instances waiting for clients, oldest
//! first; an accept takes the oldest once a client is on it and tops the backlog up,
//! so that clients arriving before the next accept find an instance.

use super::{decide, drive, os_error, Clock, Code, Dir, Policy, Port, Request, Stop, Wake, Why};
use crate::ffi::{ERROR_NO_DATA, ERROR_OPERATION_ABORTED, ERROR_PIPE_BUSY, ERROR_PIPE_CONNECTED};
use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::time::Duration;

/// The longest pause between two attempts to create an instance while the pipe has its
/// maximum number of instances.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// What accepting needs of the kernel and of the listener.
pub(crate) trait Listen {
    /// A server instance of the pipe; its port issues `ConnectNamedPipe`.
    type Instance: Port;
    /// Creates one more instance (`CreateNamedPipeA`); ERROR_PIPE_BUSY when the pipe
    /// has its maximum number of instances.
    fn create(&mut self) -> Result<Self::Instance, Code>;
    /// Pauses before trying to create an instance again; a setter ends the pause.
    fn sleep(&mut self, pause: Duration);
    /// Keeps a failure to make an instance for `take_error`, unless one is kept
    /// already (then this one is a repeat, folded into it).
    fn keep_failure(&mut self, err: io::Error);
    /// The kept failure, taken: each failure reaches the caller once.
    fn take_failure(&mut self) -> Option<io::Error>;
}

/// The instances waiting for clients, oldest first (Windows gives a client the
/// instance that has listened longest: Wine's test_multiple_instances on Windows).
pub(crate) struct Backlog<I> {
    waiting: VecDeque<I>,
    size: usize,
}

/// How one ConnectNamedPipe on an instance ended.
enum Connect {
    /// A client is there (ERROR_PIPE_CONNECTED: it came first; ERROR_NO_DATA: it came
    /// and already closed, and what it wrote is still readable).
    Client,
    /// The policy says stop; the instance still listens.
    Stopped(Why),
    /// The instance is unusable.
    Broken(Code),
}

impl<I: Port> Backlog<I> {
    /// A backlog of `size` instances, starting with `waiting` (made by `bind`).
    pub(crate) fn new(size: usize, waiting: VecDeque<I>) -> Self {
        Backlog { waiting, size }
    }

    /// The instance the next accept takes.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn oldest(&self) -> Option<&I> {
        self.waiting.front()
    }

    /// How many instances wait.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Makes instances until `size` wait or the pipe has its maximum of instances (not
    /// an error). Another failure is kept for `take_error`; the next call tries again.
    pub(crate) fn fill<L: Listen<Instance = I>>(&mut self, listener: &mut L) {
        while self.waiting.len() < self.size {
            match listener.create() {
                Ok(instance) => self.waiting.push_back(instance),
                Err(ERROR_PIPE_BUSY) => break,
                Err(code) => {
                    listener.keep_failure(os_error(code));
                    break;
                }
            }
        }
    }

    /// Waits until a client is on the oldest instance and returns it, the backlog
    /// topped up behind it. With no instance waiting, a kept failure to make one is
    /// returned (once); at the pipe's instance limit it waits until one can be made.
    /// A stopped accept keeps its instance, the oldest still; a broken instance is
    /// dropped, replaced, and its error returned.
    pub(crate) fn accept<L: Listen<Instance = I>>(
        &mut self,
        listener: &mut L,
        policy: &impl Fn() -> Policy,
        clock: &impl Clock,
    ) -> io::Result<I> {
        self.fill(listener);
        let mut instance = match self.waiting.pop_front() {
            Some(instance) => instance,
            None => match listener.take_failure() {
                Some(err) => return Err(err),
                None => create_when_allowed(listener, policy, clock)?,
            },
        };
        match connect(&mut instance, policy, clock) {
            Connect::Client => {
                self.fill(listener);
                Ok(instance)
            }
            Connect::Stopped(why) => {
                self.waiting.push_front(instance);
                Err(accept_stopped(why))
            }
            Connect::Broken(code) => {
                drop(instance);
                self.fill(listener);
                Err(os_error(code))
            }
        }
    }
}

/// ConnectNamedPipe on `instance` until a client is there or the policy says stop; a
/// cancel by a setter whose new settings do not say stop is not an end.
fn connect(instance: &mut impl Port, policy: &impl Fn() -> Policy, clock: &impl Clock) -> Connect {
    let wake = Wake {
        dir: Dir::Read,
        stop: Stop::ByPolicy,
    };
    loop {
        let (done, why) = instance.submit(Request::Connect, wake, |issued| {
            drive(issued, Stop::ByPolicy, policy, clock)
        });
        match done.error {
            None | Some(ERROR_PIPE_CONNECTED) | Some(ERROR_NO_DATA) => return Connect::Client,
            Some(ERROR_OPERATION_ABORTED) => {
                if let Some(why) = why.or_else(|| decide(policy(), clock.now()).err()) {
                    return Connect::Stopped(why);
                }
            }
            Some(code) => return Connect::Broken(code),
        }
    }
}

/// Creates an instance; while the pipe has its maximum number of instances, tries again
/// after 1, 2, 4 … up to 50 ms for as long as the policy allows waiting.
fn create_when_allowed<L: Listen>(
    listener: &mut L,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<L::Instance> {
    let mut pause = Duration::from_millis(1);
    loop {
        match listener.create() {
            Ok(instance) => return Ok(instance),
            Err(ERROR_PIPE_BUSY) => match decide(policy(), clock.now()) {
                Ok(limit) => {
                    listener.sleep(limit.map_or(pause, |l| pause.min(l)));
                    pause = (pause * 2).min(MAX_PAUSE);
                }
                Err(why) => return Err(accept_stopped(why)),
            },
            Err(code) => return Err(os_error(code)),
        }
    }
}

fn accept_stopped(why: Why) -> io::Error {
    match why {
        Why::TimedOut => ErrorKind::TimedOut.into(),
        Why::WouldBlock => ErrorKind::WouldBlock.into(),
        Why::Shutdown => io::Error::new(ErrorKind::ConnectionAborted, "the listener was shut down"),
    }
}
