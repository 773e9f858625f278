//! Reads, writes and peeks on a connected pipe.

use super::{
    clamp_len, decide, drive, os_error, Clock, Code, Completion, Policy, Port, Request, Stop,
};
use crate::ffi::{ERROR_BROKEN_PIPE, ERROR_OPERATION_ABORTED, ERROR_PIPE_NOT_CONNECTED};
use std::io::{self, ErrorKind, IoSlice, IoSliceMut};

/// On a read, these codes mean the peer is gone and every byte was delivered.
fn is_eof(code: Code) -> bool {
    code == ERROR_BROKEN_PIPE || code == ERROR_PIPE_NOT_CONNECTED
}

fn read_stopped(stop: Stop) -> io::Result<usize> {
    match stop {
        Stop::TimedOut => Err(ErrorKind::TimedOut.into()),
        Stop::WouldBlock => Err(ErrorKind::WouldBlock.into()),
        Stop::Shutdown => Ok(0),
    }
}

fn write_stopped(stop: Stop) -> io::Result<usize> {
    match stop {
        Stop::TimedOut => Err(ErrorKind::TimedOut.into()),
        Stop::WouldBlock => Err(ErrorKind::WouldBlock.into()),
        Stop::Shutdown => Err(shut_for_writing()),
    }
}

fn shut_for_writing() -> io::Error {
    io::Error::new(
        ErrorKind::BrokenPipe,
        "the stream was shut down for writing",
    )
}

/// What one settled operation means for the caller: `None` asks to issue it again
/// (it was cancelled by a setter or moved nothing, and nothing says to stop).
fn outcome(
    done: Completion,
    stop: Option<Stop>,
    eof_ok: bool,
    stopped: fn(Stop) -> io::Result<usize>,
) -> Option<io::Result<usize>> {
    if done.bytes > 0 {
        return Some(Ok(done.bytes));
    }
    match done.error {
        Some(code) if eof_ok && is_eof(code) => Some(Ok(0)),
        None | Some(ERROR_OPERATION_ABORTED) => stop.map(stopped),
        Some(code) => Some(Err(os_error(code))),
    }
}

/// Reads into `buf`; `Ok(0)` only at end of stream, after a read shutdown, or for an
/// empty `buf`.
pub(crate) fn read(
    port: &mut impl Port,
    buf: &mut [u8],
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<usize> {
    let len = clamp_len(buf.len());
    loop {
        if policy().shut || len == 0 {
            return Ok(0);
        }
        let (done, stop) = port.submit(Request::Read(&mut buf[..len]), |issued| {
            drive(issued, policy, clock)
        });
        if let Some(result) = outcome(done, stop, true, read_stopped) {
            return result;
        }
        // Cancelled by a setter: obey the new settings before issuing again, so a
        // stop costs no second cancel round trip.
        if let Err(stop) = decide(policy(), clock.now()) {
            return read_stopped(stop);
        }
    }
}

/// Writes at most `cap` bytes of `buf` with one WriteFile. `cap` is at most the pipe's
/// buffer size, so a cancelled write never has bytes in the peer's hands that it
/// reports as unwritten (Wine reports 0 for a cancelled partial write).
pub(crate) fn write(
    port: &mut impl Port,
    buf: &[u8],
    cap: usize,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<usize> {
    let len = clamp_len(buf.len().min(cap.max(1)));
    loop {
        if policy().shut {
            return Err(shut_for_writing());
        }
        if len == 0 {
            return Ok(0);
        }
        let (done, stop) = port.submit(Request::Write(&buf[..len]), |issued| {
            drive(issued, policy, clock)
        });
        if let Some(result) = outcome(done, stop, false, write_stopped) {
            return result;
        }
        // Cancelled by a setter: as in `read`.
        if let Err(stop) = decide(policy(), clock.now()) {
            return write_stopped(stop);
        }
    }
}

/// Copies into `buf` what is buffered without taking it, waiting for data as a read
/// would; `Ok(0)` at end of stream, after a read shutdown or for an empty `buf`.
pub(crate) fn peek(
    port: &mut impl Port,
    buf: &mut [u8],
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<usize> {
    let len = clamp_len(buf.len());
    loop {
        if policy().shut || len == 0 {
            return Ok(0);
        }
        match port.peek(&mut buf[..len]) {
            Ok(0) => {}
            Ok(n) => return Ok(n),
            Err(code) if is_eof(code) => return Ok(0),
            Err(code) => return Err(os_error(code)),
        }
        if let Err(stop) = decide(policy(), clock.now()) {
            return read_stopped(stop);
        }
        // A zero-byte read completes when data arrives, without taking any.
        let (done, stop) = port.submit(Request::Read(&mut []), |issued| {
            drive(issued, policy, clock)
        });
        match done.error {
            Some(code) if is_eof(code) => return Ok(0),
            None | Some(ERROR_OPERATION_ABORTED) => {
                if let Some(stop) = stop {
                    return read_stopped(stop);
                }
            }
            Some(code) => return Err(os_error(code)),
        }
    }
}

/// Writes the slices with one WriteFile: they are gathered into `scratch` (kept by the
/// caller, so it is allocated once) up to `cap` bytes.
pub(crate) fn write_vectored(
    port: &mut impl Port,
    bufs: &[IoSlice<'_>],
    scratch: &mut Vec<u8>,
    cap: usize,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<usize> {
    let mut filled = bufs.iter().filter(|b| !b.is_empty());
    match (filled.next(), filled.next()) {
        (None, _) => return write(port, &[], cap, policy, clock),
        (Some(only), None) => return write(port, only, cap, policy, clock),
        _ => {}
    }
    scratch.clear();
    for buf in bufs {
        let room = cap - scratch.len();
        scratch.extend_from_slice(&buf[..buf.len().min(room)]);
        if scratch.len() == cap {
            break;
        }
    }
    write(port, scratch, cap, policy, clock)
}

/// Reads once into the slices: straight into a single non-empty slice, otherwise into
/// `scratch` (at most `cap` bytes) and then scattered.
pub(crate) fn read_vectored(
    port: &mut impl Port,
    bufs: &mut [IoSliceMut<'_>],
    scratch: &mut Vec<u8>,
    cap: usize,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<usize> {
    let filled = bufs.iter().filter(|b| !b.is_empty()).count();
    if filled <= 1 {
        let only = bufs.iter_mut().find(|b| !b.is_empty());
        return match only {
            Some(buf) => read(port, buf, policy, clock),
            None => read(port, &mut [], policy, clock),
        };
    }
    let total = bufs
        .iter()
        .map(|b| b.len())
        .fold(0usize, usize::saturating_add);
    let len = total.min(cap);
    if scratch.len() < len {
        scratch.resize(len, 0);
    }
    let n = read(port, &mut scratch[..len], policy, clock)?;
    let mut rest = &scratch[..n];
    for buf in bufs.iter_mut() {
        let take = buf.len().min(rest.len());
        buf[..take].copy_from_slice(&rest[..take]);
        rest = &rest[take..];
    }
    Ok(n)
}
