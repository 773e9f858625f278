//! Messages on a message-type pipe: one send is one `WriteFile`, one receive takes one
//! message, and nothing glues two messages together or splits one.
//!
//! How NPFS keeps messages (ReactOS `npfs/datasup.c`, `read.c`, `writesup.c`): each
//! write is one queue entry, copied whole into the driver's memory when it is issued,
//! charged against the write quota as far as the quota goes; the write completes when
//! its unread rest is charged in full (`NpCompleteStalledWrites`). A read in message
//! read mode stops at the end of the entry it starts in and says ERROR_MORE_DATA if it
//! did not reach it; the next read goes on in the same entry. When a pending write is
//! cancelled its entry leaves the queue, read or not (`NpCancelDataQueueIrp`), so a
//! reader that had taken part of it goes on into the *next* message as if it were the
//! rest. Hence:
//! - a send that may be stopped (a timeout, nonblocking mode) is only issued when it
//!   cannot pend: it fits the free write quota, or, in the pipe's nonblocking completion
//!   mode (`PIPE_NOWAIT`), where NPFS moves a message whole or not at all
//!   (`NpCommonWrite`), the peer's waiting reads and the quota hold it. Until then it
//!   waits for room, and at its deadline it fails having sent nothing. Only a shutdown
//!   can stop a send issued with no timeout in blocking mode.
//! - a receive that took part of a message reads its rest at once (it is queued
//!   whole), without waiting; a rest that is not there was withdrawn by the sender.

use super::io::{
    at_once, back_off, into_waiting_reads, is_eof, nothing_yet, read_stopped, shut_for_writing,
    write_error, write_once, write_stopped, AtOnce, READ,
};
use super::{
    clamp_len, clamped, decide, drive, os_error, Clock, Completion, Issued, Policy, Port, Quota,
    Request, Stop, Why, MAX_WRITE,
};
use crate::ffi::{ERROR_MORE_DATA, ERROR_NO_DATA, ERROR_OPERATION_ABORTED};
use std::io::{self, ErrorKind, IoSlice};
use std::time::Duration;

/// What one receive took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Received {
    /// Bytes copied into the caller's buffer.
    pub len: usize,
    /// The message was longer than the buffer: its rest was discarded.
    pub truncated: bool,
}

/// The first read of a receive into a growing buffer, and the least each later read
/// of the same message adds.
const FIRST_READ: usize = 4096;

/// Sends `msg` as one message with one WriteFile: `Ok(msg.len())`, or an error and the
/// peer receives none of it (one exception, as for `write`: a send issued with no
/// timeout in blocking mode that a shutdown, or other code's `CancelIoEx`, stops after
/// the peer began reading it). `free` gives the pipe's write quota; `whole_at_once`
/// says the system moves a message whole or not at all in `PIPE_NOWAIT` (NPFS does;
/// Wine moves part of it), which lets a message the free quota cannot hold go
/// straight into the peer's waiting reads.
pub(crate) fn send(
    port: &mut impl Port,
    msg: &[u8],
    free: &mut impl FnMut() -> Option<Quota>,
    whole_at_once: bool,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<usize> {
    let len = msg.len();
    if len > clamp_len(len) {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "a message cannot be longer than 4 GiB - 1 bytes (one WriteFile)",
        ));
    }
    let mut again = false;
    let mut pause = Duration::from_millis(1);
    loop {
        let now = policy();
        if now.shut {
            return Err(shut_for_writing());
        }
        // After a setter's cancel, or a wait for room: the settings may say stop.
        if again {
            if let Err(why) = decide(now, clock.now()) {
                return write_stopped(why);
            }
        }
        again = true;
        if len == 0 {
            return send_empty(port, clock);
        }
        if now.timeout.is_none() && !now.nonblocking {
            match write_once(port, msg, Stop::ByShutdown, &mut pause, policy, clock) {
                Some(result) => return whole(result, len),
                None => continue,
            }
        }
        if free().is_some_and(|quota| len <= quota.free) {
            // Charged in full, it completes at once: nothing can cut it.
            match write_once(port, msg, Stop::ByPolicy, &mut pause, policy, clock) {
                Some(result) => return whole(result, len),
                None => continue,
            }
        }
        if whole_at_once {
            if let AtOnce::Moved(result) = into_waiting_reads(port, msg, clock) {
                return whole(result, len);
            }
        }
        // Only a write would say the peer is gone; the pipe's state says it without one.
        if let Some(code) = port.peer_gone() {
            return Err(write_error(code));
        }
        match decide(policy(), clock.now()) {
            Ok(wait) => back_off(port, &mut pause, wait),
            Err(why) => return write_stopped(why),
        }
    }
}

/// An empty message: charged no quota, it completes at once, even behind a full
/// buffer (NPFS `NpWriteDataQueue`; Wine's `test_blocking_rw` on Windows), so it is
/// issued not to wait.
fn send_empty(port: &mut impl Port, clock: &impl Clock) -> io::Result<usize> {
    let wake = super::Wake {
        dir: super::Dir::Write,
        stop: Stop::ByPolicy,
    };
    let (done, _) = port.submit(Request::Write(&[]), wake, |issued| {
        drive(issued, Stop::ByPolicy, &at_once, clock)
    });
    match done.error {
        None => Ok(0),
        Some(ERROR_OPERATION_ABORTED) => Err(io::Error::new(
            ErrorKind::WouldBlock,
            "the pipe did not take an empty message at once",
        )),
        Some(code) => Err(write_error(code)),
    }
}

/// A send's result: the whole message, or an error. A count short of the message
/// means the system split it, which NPFS never does; it is not passed off as sent.
fn whole(result: io::Result<usize>, len: usize) -> io::Result<usize> {
    match result {
        Ok(n) if n == len => Ok(len),
        Ok(n) => Err(io::Error::other(format!(
            "the system sent {n} bytes of a {len}-byte message: the peer receives it cut"
        ))),
        Err(e) => Err(e),
    }
}

/// Sends the slices as one message with one WriteFile (gathered into `scratch`).
pub(crate) fn send_vectored(
    port: &mut impl Port,
    bufs: &[IoSlice<'_>],
    scratch: &mut Vec<u8>,
    free: &mut impl FnMut() -> Option<Quota>,
    whole_at_once: bool,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<usize> {
    let mut filled = bufs.iter().filter(|b| !b.is_empty());
    if let (Some(only), None) = (filled.next(), filled.next()) {
        return send(port, only, free, whole_at_once, policy, clock);
    }
    scratch.clear();
    for buf in bufs {
        scratch.extend_from_slice(buf);
    }
    send(port, scratch, free, whole_at_once, policy, clock)
}

/// How one read of a receive settled.
enum Step {
    /// It took a whole message (or its rest), of this many bytes (0: an empty message).
    Whole(usize),
    /// It took this many bytes of a message that goes on (ERROR_MORE_DATA).
    Part(usize),
    /// The peer is gone and everything was read.
    End,
    /// Nothing moved: issue it again.
    Again,
    /// The receive's result: a stop, an error.
    Done(io::Error),
}

fn step(done: Completion, why: Option<Why>) -> Step {
    match done.error {
        Some(ERROR_MORE_DATA) if done.bytes > 0 => Step::Part(done.bytes),
        // A read that completed with data ended its message (NPFS completes a read
        // with success or ERROR_MORE_DATA, never as cancelled once it has data).
        _ if done.bytes > 0 => Step::Whole(done.bytes),
        None => Step::Whole(0),
        Some(code) if is_eof(code) => Step::End,
        Some(ERROR_OPERATION_ABORTED | ERROR_MORE_DATA | ERROR_NO_DATA) => match why {
            Some(why) => match read_stopped(why) {
                Err(e) => Step::Done(e),
                Ok(_) => Step::End,
            },
            None => Step::Again,
        },
        Some(code) => Step::Done(os_error(code)),
    }
}

/// Reads the start of the next message into `buf` (not empty), waiting as the policy
/// says: the bytes taken and whether the message goes on, or `Ok(None)` at end of
/// stream or after a read shutdown.
fn first_read(
    port: &mut impl Port,
    buf: &mut [u8],
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<Option<(usize, bool)>> {
    let mut again = false;
    let mut pause = Duration::from_millis(1);
    loop {
        let now = policy();
        if now.shut {
            return Ok(None);
        }
        if again {
            if let Err(why) = decide(now, clock.now()) {
                return read_stopped(why).map(|_| None);
            }
        }
        again = true;
        let (done, why) = port.submit(Request::Read(buf), READ, |issued| {
            drive(issued, Stop::ByPolicy, policy, clock)
        });
        let done = clamped(done, buf.len());
        if done.bytes == 0 && done.error == Some(ERROR_NO_DATA) {
            // The pipe end is in PIPE_NOWAIT for a moment (a send of ours, or other
            // code's): wait as a blocking read would have.
            if let Err(why) = nothing_yet(port, &mut pause, policy, clock) {
                return read_stopped(why).map(|_| None);
            }
            continue;
        }
        match step(done, why) {
            Step::Whole(n) => return Ok(Some((n, false))),
            Step::Part(n) => return Ok(Some((n, true))),
            Step::Again => continue,
            Step::End => return Ok(None),
            Step::Done(e) => return Err(e),
        }
    }
}

/// The rest of a message after a read that took part of it is queued whole, so it is
/// read without waiting. `None` if it is not there: the sender's write was cancelled
/// (its shutdown, or its own `CancelIoEx`) and NPFS withdrew it.
fn read_rest(port: &mut impl Port, buf: &mut [u8], clock: &impl Clock) -> Option<Step> {
    let (done, _) = port.submit(Request::Read(buf), READ, |issued| {
        drive(issued, Stop::ByPolicy, &at_once, clock)
    });
    let done = clamped(done, buf.len());
    match done.error {
        Some(ERROR_MORE_DATA) if done.bytes > 0 => Some(Step::Part(done.bytes)),
        _ if done.bytes > 0 => Some(Step::Whole(done.bytes)),
        // An empty message where the rest should be: the next message (the peer's
        // end-of-stream marker, if it shut down after cancelling the cut one). It is
        // owed to the next receive, as a peek's would be.
        None => {
            port.owe_empty_message();
            None
        }
        // The peer gone, or nothing queued: ERROR_NO_DATA too, which PIPE_NOWAIT (a
        // send of ours for a moment, or other code) gives only when no data is queued
        // at all (`NpCommonRead`), so not the rest either.
        _ => None,
    }
}

fn cut_short() -> io::Error {
    io::Error::new(
        ErrorKind::InvalidData,
        "the peer's message was cut short: its send was stopped while this end read it",
    )
}

/// Receives one message into `buf`: its first `buf.len()` bytes, the rest discarded
/// (`truncated`). `Ok(None)` at end of stream or after a read shutdown; an empty
/// message is `len` 0. `scratch` holds the discarded rest.
pub(crate) fn recv(
    port: &mut impl Port,
    buf: &mut [u8],
    scratch: &mut Vec<u8>,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<Option<Received>> {
    if port.owed_empty_message(true) {
        return Ok(Some(Received {
            len: 0,
            truncated: false,
        }));
    }
    let mut one = [0u8; 1];
    let len = clamp_len(buf.len());
    let target = match len {
        0 => &mut one[..],
        _ => &mut buf[..len],
    };
    let Some((taken, more)) = first_read(port, target, policy, clock)? else {
        return Ok(None);
    };
    if more {
        discard_rest(port, scratch, clock);
    }
    Ok(Some(Received {
        len: taken.min(len),
        truncated: more || (len == 0 && taken > 0),
    }))
}

/// Reads and drops the rest of a message (or finds it withdrawn).
fn discard_rest(port: &mut impl Port, scratch: &mut Vec<u8>, clock: &impl Clock) {
    let mut size = FIRST_READ;
    loop {
        if scratch.len() < size {
            scratch.resize(size, 0);
        }
        match read_rest(port, &mut scratch[..size], clock) {
            Some(Step::Part(_)) => size = (size * 2).min(MAX_WRITE),
            _ => return,
        }
    }
}

/// Appends one whole message to `out`, however long: `Some(len)` (0 for an empty
/// message), `None` at end of stream or after a read shutdown. On an error nothing
/// is appended.
pub(crate) fn recv_message(
    port: &mut impl Port,
    out: &mut Vec<u8>,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<Option<usize>> {
    if port.owed_empty_message(true) {
        return Ok(Some(0));
    }
    let start = out.len();
    let first = (out.capacity() - start).clamp(FIRST_READ, MAX_WRITE);
    out.resize(start + first, 0);
    let (mut got, mut more) = match first_read(port, &mut out[start..], policy, clock) {
        Ok(Some(taken)) => taken,
        other => {
            out.truncate(start);
            return other.map(|_| None);
        }
    };
    while more {
        let room = got.clamp(FIRST_READ, MAX_WRITE);
        out.resize(start + got + room, 0);
        match read_rest(port, &mut out[start + got..], clock) {
            Some(Step::Part(n)) => got += n,
            Some(Step::Whole(n)) => {
                got += n;
                more = false;
            }
            _ => {
                out.truncate(start);
                return Err(cut_short());
            }
        }
    }
    out.truncate(start + got);
    Ok(Some(got))
}

/// Copies the next message's first bytes into `buf` without taking it, waiting for
/// one as a receive would: `Ok(0)` for an empty message, at end of stream and after a
/// read shutdown.
///
/// PeekNamedPipe copies from the first message only, and shows nothing for an empty
/// one: an empty message with bytes behind it shows as bytes queued but none copied,
/// and one alone in the queue only as `FSCTL_PIPE_PEEK`'s message count (which Wine
/// does not keep). The wait is a zero-byte read, which completes at once at data
/// without taking any (ERROR_MORE_DATA), and with success at an empty message, which
/// it takes if it was waiting when the message came (Wine's `test_blocking_rw` on
/// Windows). One that finds it queued leaves it in ReactOS's NPFS (`NpReadDataQueue`
/// takes nothing for a zero-length read; Windows 8 and later are not documented) and
/// takes it on Wine: so a read that completed as it was issued took it unless
/// `FSCTL_PIPE_PEEK` still counts an empty message first. An empty message the wait
/// took is owed to the next receive (`owe_empty_message`).
pub(crate) fn peek(
    port: &mut impl Port,
    buf: &mut [u8],
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<usize> {
    let len = clamp_len(buf.len());
    let mut pause = Duration::from_millis(1);
    loop {
        if port.owed_empty_message(false) || policy().shut {
            return Ok(0);
        }
        let seen = match port.peek_counts(&mut buf[..len]) {
            Ok(seen) => seen,
            Err(code) if is_eof(code) => return Ok(0),
            Err(code) => return Err(os_error(code)),
        };
        if seen.copied > 0 || seen.queued > 0 || port.empty_message_first() {
            return Ok(seen.copied.min(len));
        }
        let wait = decide(policy(), clock.now());
        let policy_now: &dyn Fn() -> Policy = match wait {
            Ok(_) => policy,
            // Nonblocking: one look that does not wait, for an empty message alone.
            Err(Why::WouldBlock) => &at_once,
            Err(why) => return read_stopped(why),
        };
        let (done, why, at_issue) = port.submit(Request::Read(&mut []), READ, |issued| {
            let at_issue = matches!(issued, Issued::Done(_));
            let (done, why) = drive(issued, Stop::ByPolicy, &policy_now, clock);
            (done, why, at_issue)
        });
        match done.error {
            None => {
                // A wait that found the message queued took it only if the system
                // does not leave it (then it does not count messages either).
                if !(at_issue && port.empty_message_first()) {
                    port.owe_empty_message();
                }
                return Ok(0);
            }
            Some(code) if is_eof(code) => return Ok(0),
            Some(ERROR_MORE_DATA) => continue,
            Some(ERROR_NO_DATA) => {
                if let Err(why) = nothing_yet(port, &mut pause, policy, clock) {
                    return read_stopped(why);
                }
            }
            Some(ERROR_OPERATION_ABORTED) if wait.is_err() => return read_stopped(Why::WouldBlock),
            Some(ERROR_OPERATION_ABORTED) => {
                if let Some(why) = why {
                    return read_stopped(why);
                }
            }
            Some(code) => return Err(os_error(code)),
        }
    }
}
