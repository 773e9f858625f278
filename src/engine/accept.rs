//! The server side of connecting: wait for a client on the listening instance and keep
//! another instance listening.

use super::{decide, drive, os_error, Clock, Code, Dir, Policy, Port, Request, Stop, Wake, Why};
use crate::ffi::{ERROR_NO_DATA, ERROR_OPERATION_ABORTED, ERROR_PIPE_BUSY, ERROR_PIPE_CONNECTED};
use std::io::{self, ErrorKind};
use std::time::Duration;

/// The longest pause between two attempts to create an instance while the pipe has its
/// maximum number of instances.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// What accepting needs of the kernel.
pub(crate) trait Listen {
    /// A server instance of the pipe; its port issues `ConnectNamedPipe`.
    type Instance: Port;
    /// Creates one more instance (`CreateNamedPipeA`); ERROR_PIPE_BUSY when the pipe
    /// has its maximum number of instances.
    fn create(&mut self) -> Result<Self::Instance, Code>;
    /// Pauses before trying to create an instance again.
    fn sleep(&mut self, pause: Duration);
}

/// Waits until a client is connected to the listening instance in `listening` (made
/// first if there is none), then puts a fresh instance there so that clients arriving
/// before the next accept find one. Returns the connected instance and, if the fresh
/// instance could not be made, that error (the next accept tries again).
///
/// ERROR_PIPE_CONNECTED (the client came before the wait) and ERROR_NO_DATA (the client
/// came and already closed; what it wrote is still readable) both count as connected.
///
/// While the pipe has its maximum number of instances, no fresh instance is made (that
/// is not an error), and an accept with none listening waits until one can be made.
pub(crate) fn accept<L: Listen>(
    listener: &mut L,
    listening: &mut Option<L::Instance>,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<(L::Instance, Option<io::Error>)> {
    let mut instance = match listening.take() {
        Some(instance) => instance,
        None => create_when_allowed(listener, policy, clock)?,
    };
    loop {
        let wake = Wake {
            dir: Dir::Read,
            stop: Stop::ByPolicy,
        };
        let (done, why) = instance.submit(Request::Connect, wake, |issued| {
            drive(issued, Stop::ByPolicy, policy, clock)
        });
        match done.error {
            None | Some(ERROR_PIPE_CONNECTED) | Some(ERROR_NO_DATA) => break,
            Some(ERROR_OPERATION_ABORTED) => {
                // Stopped by the engine, or cancelled by a setter whose new settings
                // say stop: either way the instance keeps listening.
                if let Some(why) = why.or_else(|| decide(policy(), clock.now()).err()) {
                    *listening = Some(instance);
                    return Err(accept_stopped(why));
                }
            }
            Some(code) => {
                // This instance is unusable: replace it so that one keeps listening.
                *listening = listener.create().ok();
                return Err(os_error(code));
            }
        }
    }
    let refill_error = match listener.create() {
        Ok(next) => {
            *listening = Some(next);
            None
        }
        Err(ERROR_PIPE_BUSY) => None,
        Err(code) => Some(os_error(code)),
    };
    Ok((instance, refill_error))
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
