//! The client side of connecting: open the pipe, retrying until a deadline.

use super::{os_error, Clock, Code};
use crate::ffi::{ERROR_FILE_NOT_FOUND, ERROR_PIPE_BUSY, ERROR_SEM_TIMEOUT};
use std::io::{self, ErrorKind};
use std::time::Duration;

/// The longest pause between two attempts while nobody listens.
const MAX_BACKOFF: Duration = Duration::from_millis(50);

/// The longest one `WaitNamedPipeA` is asked to wait. Under load it can return well
/// past its timeout (microsoft/vs-servicehub#507), so connect waits in slices and
/// checks its own deadline between them.
pub(crate) const WAIT_SLICE: Duration = Duration::from_millis(50);

/// What connecting needs of the kernel.
pub(crate) trait Dial {
    type Handle;
    /// One attempt to open the pipe (`CreateFileA`).
    fn open(&mut self) -> Result<Self::Handle, Code>;
    /// Waits until an instance may be free, at most `timeout` (`WaitNamedPipeA`):
    /// `Ok` or ERROR_SEM_TIMEOUT, or another error if it could not wait at all. The
    /// next `open` tells whether an instance is free.
    fn wait_for_instance(&mut self, timeout: Duration) -> Result<(), Code>;
    /// Pauses while there is nothing to wait on.
    fn sleep(&mut self, pause: Duration);
}

/// Opens `name`, retrying ERROR_PIPE_BUSY (waiting for a free instance in slices of
/// at most `WAIT_SLICE`) and ERROR_FILE_NOT_FOUND (backing off from 1 ms to 50 ms)
/// until `timeout` has passed. If waiting for an instance fails at once (as
/// `WaitNamedPipeA` does when it cannot open the pipe root), it backs off instead of
/// retrying at full speed. Always makes at least one attempt.
///
/// After the deadline: `ConnectionRefused` if nobody listened, `TimedOut` if every
/// instance stayed busy. Any other error is returned at once with its OS code.
pub(crate) fn connect<D: Dial>(
    dialer: &mut D,
    name: &str,
    timeout: Duration,
    clock: &impl Clock,
) -> io::Result<D::Handle> {
    let mut backoff = Duration::from_millis(1);
    loop {
        let code = match dialer.open() {
            Ok(handle) => return Ok(handle),
            Err(code) => code,
        };
        let remaining = timeout.checked_sub(clock.now()).unwrap_or_default();
        match code {
            ERROR_PIPE_BUSY if remaining.is_zero() => {
                return Err(io::Error::new(
                    ErrorKind::TimedOut,
                    format!("every instance of {name} stayed busy until the connect timeout"),
                ))
            }
            ERROR_PIPE_BUSY => match dialer.wait_for_instance(remaining.min(WAIT_SLICE)) {
                Ok(()) | Err(ERROR_SEM_TIMEOUT) => {}
                Err(_) => {
                    dialer.sleep(backoff.min(remaining));
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            },
            ERROR_FILE_NOT_FOUND if remaining.is_zero() => {
                return Err(io::Error::new(
                    ErrorKind::ConnectionRefused,
                    format!("no listener on {name} before the connect timeout"),
                ))
            }
            ERROR_FILE_NOT_FOUND => {
                dialer.sleep(backoff.min(remaining));
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            other => return Err(os_error(other)),
        }
    }
}
