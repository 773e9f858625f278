//! Reads, writes and peeks on a connected pipe.
//!
//! Writes and cancellation. When a pending write is cancelled, Windows' named pipe
//! file system reports 0 bytes even if the reader already took part of it (NPFS's
//! `NpCancelDataQueueIrp`; Wine's test_blocking_rw runs that case on Windows), and a
//! pending write the reader took more of than it was charged stays pending, partly
//! read, because NPFS's quota counters are unsigned and wrap (`NpReadDataQueue`,
//! `NpCompleteStalledWrites`). So a write is only ever issued in a form whose result
//! is exact:
//! - nothing but a shutdown can stop it (blocking mode, no timeout): it is issued
//!   whole (up to `MAX_WRITE`) and waited for until it completes;
//! - it may be stopped (a timeout, nonblocking mode): it is at most the pipe's free
//!   write quota (`WriteQuotaAvailable`), which NPFS charges in full and so
//!   completes at once (`NpAddDataQueueEntry`). With no free quota it first goes in
//!   the pipe's nonblocking completion mode, which moves exactly what the reads the
//!   peer has waiting take and never pends (`into_waiting_reads`); if none waits (or
//!   the quota is not known) it is one byte, which the reader takes whole or not at
//!   all.
//!
//! So a cancel only ever meets a write the reader has not touched, and
//! such a write can be issued again. Under Wine the cap is the pipe's buffer size:
//! Wine reports no free quota, and completes a pending write as soon as its unread
//! rest fits the buffer, so the same holds there.

use super::{
    clamp_len, clamped, decide, decide_for, drive, os_error, Clock, Code, Completion, Dir, Policy,
    Port, Request, Stop, Wake, Why,
};
use crate::ffi::{
    ERROR_BROKEN_PIPE, ERROR_MORE_DATA, ERROR_NO_DATA, ERROR_OPERATION_ABORTED,
    ERROR_PIPE_NOT_CONNECTED,
};
use std::io::{self, ErrorKind, IoSlice, IoSliceMut};
use std::time::Duration;

/// The most one write hands to the kernel (which copies a pending write into its own
/// memory), and the most a vectored call gathers.
pub(crate) const MAX_WRITE: usize = 64 * 1024;

pub(super) const READ: Wake = Wake {
    dir: Dir::Read,
    stop: Stop::ByPolicy,
};

/// On a read, these codes mean the peer is gone and every byte was delivered (109:
/// the peer closed; 233: the server disconnected the pipe).
pub(super) fn is_eof(code: Code) -> bool {
    code == ERROR_BROKEN_PIPE || code == ERROR_PIPE_NOT_CONNECTED
}

pub(super) fn read_stopped(why: Why) -> io::Result<usize> {
    match why {
        Why::TimedOut => Err(ErrorKind::TimedOut.into()),
        Why::WouldBlock => Err(ErrorKind::WouldBlock.into()),
        Why::Shutdown => Ok(0),
    }
}

pub(super) fn write_stopped(why: Why) -> io::Result<usize> {
    match why {
        Why::TimedOut => Err(ErrorKind::TimedOut.into()),
        Why::WouldBlock => Err(ErrorKind::WouldBlock.into()),
        Why::Shutdown => Err(shut_for_writing()),
    }
}

/// What a write waiting for its turn (one write at a time per stream, clones
/// included) does under `policy` at `now`: wait, at most the time returned (`None`:
/// without limit), or stop with the error the write returns.
pub(crate) fn wait_for_write_turn(policy: Policy, now: Duration) -> io::Result<Option<Duration>> {
    decide(policy, now).or_else(|why| write_stopped(why).map(|_| None))
}

/// What a receive waiting for its turn (one reader at a time per message stream)
/// does under `policy` at `now`: wait, at most the time returned (`None`: without
/// limit), or stop: `Err(None)` after a read shutdown, else the receive's error.
pub(crate) fn wait_for_read_turn(
    policy: Policy,
    now: Duration,
) -> Result<Option<Duration>, Option<io::Error>> {
    decide(policy, now).map_err(|why| read_stopped(why).err())
}

pub(super) fn shut_for_writing() -> io::Error {
    io::Error::new(
        ErrorKind::BrokenPipe,
        "the stream was shut down for writing",
    )
}

/// A failed write: the pipe's end (233 after the server's DisconnectNamedPipe, which
/// std files under no kind) is `BrokenPipe` like 109 and 232, its code kept inside.
pub(super) fn write_error(code: Code) -> io::Error {
    if code == ERROR_PIPE_NOT_CONNECTED {
        return io::Error::new(ErrorKind::BrokenPipe, os_error(code));
    }
    os_error(code)
}

/// What one settled operation means for the caller: `None` asks to issue it again
/// (it was cancelled by a setter or moved nothing, and nothing says to stop).
/// Bytes that moved are always returned, whatever error came with them (a message
/// longer than the buffer comes with ERROR_MORE_DATA).
fn outcome(
    done: Completion,
    why: Option<Why>,
    eof_ok: bool,
    stopped: fn(Why) -> io::Result<usize>,
    error: fn(Code) -> io::Error,
) -> Option<io::Result<usize>> {
    if done.bytes > 0 {
        return Some(Ok(done.bytes));
    }
    match done.error {
        Some(code) if eof_ok && is_eof(code) => Some(Ok(0)),
        None | Some(ERROR_OPERATION_ABORTED | ERROR_MORE_DATA) => why.map(stopped),
        Some(code) => Some(Err(error(code))),
    }
}

/// Whether a read of a non-empty buffer took the peer's end-of-stream marker: it
/// completed, successfully, with no byte. Only a zero-length message does that: a
/// zero-length write on a byte-type pipe moves nothing and completes no read (NPFS
/// `NpWriteDataQueue`; Wine's `test_blocking_rw` on Windows), and a read that found
/// nothing fails (ERROR_NO_DATA in PIPE_NOWAIT) or pends. A read the engine was
/// cancelling may still have taken it.
fn is_marker(done: Completion) -> bool {
    done.bytes == 0 && done.error.is_none()
}

/// Reads into `buf`; `Ok(0)` only at end of stream (the peer closed, or sent its
/// end-of-stream marker), after a read shutdown, or for an empty `buf`.
pub(crate) fn read(
    port: &mut impl Port,
    buf: &mut [u8],
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<usize> {
    let len = clamp_len(buf.len());
    let mut again = false;
    let mut pause = Duration::from_millis(1);
    loop {
        let now = policy();
        if now.shut || len == 0 {
            return Ok(0);
        }
        // Cancelled by a setter: obey the new settings before issuing again, so a
        // stop costs no second operation (the first attempt is made whatever they say).
        if again {
            if let Err(why) = decide(now, clock.now()) {
                return read_stopped(why);
            }
        }
        let (done, why) = port.submit(Request::Read(&mut buf[..len]), READ, |issued| {
            drive(issued, Stop::ByPolicy, policy, clock)
        });
        if is_marker(done) {
            port.end_of_stream();
            return Ok(0);
        }
        if done.bytes == 0 && done.error == Some(ERROR_NO_DATA) {
            if let Err(why) = nothing_yet(port, &mut pause, policy, clock) {
                return read_stopped(why);
            }
            again = true;
            continue;
        }
        if let Some(result) = outcome(clamped(done, len), why, true, read_stopped, os_error) {
            return result;
        }
        again = true;
    }
}

/// A read found ERROR_NO_DATA: the pipe end is in its nonblocking completion mode
/// (`PIPE_NOWAIT`, a handle other code set so, or a moment of `into_waiting_reads`)
/// and nothing is queued. It pauses (1 ms, doubling up to 50 ms, at most until the
/// deadline) before trying again, as a blocking read would have waited.
pub(super) fn nothing_yet(
    port: &mut impl Port,
    pause: &mut Duration,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> Result<(), Why> {
    let wait = decide(policy(), clock.now())?;
    back_off(port, pause, wait);
    Ok(())
}

/// Naps for `pause`, at most `wait` (`None`: no deadline), and doubles `pause` up to
/// 50 ms for the next time.
pub(super) fn back_off(port: &mut impl Port, pause: &mut Duration, wait: Option<Duration>) {
    port.nap(wait.map_or(*pause, |left| left.min(*pause)));
    *pause = (*pause * 2).min(Duration::from_millis(50));
}

/// The write quota of the direction a stream writes, as the system reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Quota {
    /// What is free (`WriteQuotaAvailable`, at most `size`).
    pub free: usize,
    /// The whole quota: the buffer size the pipe was created with.
    pub size: usize,
}

/// How much one write may hand over, and what may stop it, under `policy`, with the
/// quota `free` gives (asked only when it matters, `None` if the system does not
/// say); the answer is returned too.
pub(crate) fn write_shape(
    policy: Policy,
    free: &mut impl FnMut() -> Option<Quota>,
) -> (usize, Stop, Option<Quota>) {
    if policy.timeout.is_none() && !policy.nonblocking {
        return (MAX_WRITE, Stop::ByShutdown, None);
    }
    let quota = free();
    let cap = match quota {
        Some(Quota { free: 0, .. }) | None => 1,
        Some(Quota { free, .. }) => free.min(MAX_WRITE),
    };
    (cap, Stop::ByPolicy, quota)
}

/// The most a write in the nonblocking completion mode hands over when no quota is
/// free. Then either the peer's waiting reads are charged the whole quota, so they
/// hold at least its size, and twice the size goes whole (into the reads, the rest
/// into the quota they give back as they complete), on a message-type pipe too,
/// where NPFS moves all or nothing (`NpCommonWrite`); or data fills the quota, and
/// nothing moves whatever the size. With a quota of 0 it is what one write takes.
/// `None` when the quota is not known (the query failed): no such write is tried.
fn at_once_cap(total: usize, quota: Option<Quota>) -> Option<usize> {
    let most = clamp_len(total.min(MAX_WRITE));
    match quota? {
        Quota { size: 0, .. } => Some(most),
        Quota { size, .. } => Some(most.min(size.saturating_mul(2))),
    }
}

/// A write stopped only by a shutdown that other code cancelled (`CancelIoEx` on our
/// handle): the peer may have part of it, and Windows reports 0 bytes, so it is not
/// sent again. std gives 995 the kind `TimedOut`, which promises that nothing moved
/// and invites a retry that could repeat those bytes; this error's kind is `Other`,
/// with the system's error inside.
pub(super) fn cancelled_in_flight() -> io::Error {
    io::Error::other(os_error(ERROR_OPERATION_ABORTED))
}

/// Writes a prefix of `buf` with one WriteFile and returns its length (see the
/// module's notes for how long a prefix). `free` gives the pipe's free write quota
/// for the writes that may be stopped; `None` if it cannot be known.
///
/// A write issued with no timeout in blocking mode is not woken by later timeout or
/// nonblocking changes; `shutdown(Write)` stops it, and then it reports
/// `BrokenPipe` even if the peer read part of it (Windows does not say how much).
pub(crate) fn write(
    port: &mut impl Port,
    buf: &[u8],
    free: &mut impl FnMut() -> Option<Quota>,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<usize> {
    write_data(port, Data::Flat(buf), free, policy, clock)
}

/// What a write sends: one buffer, or slices gathered into a scratch buffer only as
/// far as the one WriteFile takes them.
enum Data<'a, 'b> {
    Flat(&'a [u8]),
    Gathered {
        bufs: &'a [IoSlice<'b>],
        scratch: &'a mut Vec<u8>,
    },
}

impl Data<'_, '_> {
    fn len(&self) -> usize {
        match self {
            Data::Flat(buf) => buf.len(),
            Data::Gathered { bufs, .. } => bufs
                .iter()
                .map(|b| b.len())
                .fold(0usize, usize::saturating_add),
        }
    }

    /// The first `len` bytes (`len` is at most `self.len()`).
    fn prefix(&mut self, len: usize) -> &[u8] {
        let (bufs, scratch) = match self {
            Data::Flat(buf) => return &buf[..len],
            Data::Gathered { bufs, scratch } => (bufs, scratch),
        };
        scratch.clear();
        for buf in bufs.iter() {
            let room = len - scratch.len();
            if room == 0 {
                break;
            }
            scratch.extend_from_slice(&buf[..buf.len().min(room)]);
        }
        scratch
    }
}

/// `write` of `data`.
fn write_data(
    port: &mut impl Port,
    mut data: Data<'_, '_>,
    free: &mut impl FnMut() -> Option<Quota>,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<usize> {
    let total = data.len();
    let mut again = false;
    let mut pause = Duration::from_millis(1);
    loop {
        let now = policy();
        if now.shut {
            return Err(shut_for_writing());
        }
        if total == 0 {
            return Ok(0);
        }
        // As in `read`: after a setter's cancel, the new settings may say stop.
        if again {
            if let Err(why) = decide(now, clock.now()) {
                return write_stopped(why);
            }
        }
        let (cap, stop, quota) = write_shape(now, free);
        if stop == Stop::ByPolicy && cap == 1 && total > 1 {
            let at_once = at_once_cap(total, quota);
            if let Some(result) =
                at_once.and_then(|most| try_waiting_reads(port, &mut data, most, policy, clock))
            {
                return result;
            }
        }
        let len = clamp_len(total.min(cap));
        if let Some(result) = write_once(port, data.prefix(len), stop, &mut pause, policy, clock) {
            return result;
        }
        again = true;
    }
}

/// One WriteFile of `buf` that `stop` says what may stop: its result, or `None` to
/// issue it again (a cancel met it untouched, and nothing says stop).
///
/// A write that completed having moved nothing (the pipe end is in the nonblocking
/// completion mode, which other code set, and the pipe is full) pauses before it is
/// issued again (`pause`: 1 ms, doubling up to 50 ms, at most until the deadline),
/// as a blocking write would have waited; nothing spins.
pub(super) fn write_once(
    port: &mut impl Port,
    buf: &[u8],
    stop: Stop,
    pause: &mut Duration,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> Option<io::Result<usize>> {
    let wake = Wake {
        dir: Dir::Write,
        stop,
    };
    let (done, why) = port.submit(Request::Write(buf), wake, |issued| {
        drive(issued, stop, policy, clock)
    });
    let done = clamped(done, buf.len());
    if done.bytes == 0 && done.error == Some(ERROR_OPERATION_ABORTED) {
        if let Some(result) = unknowable(stop, why, policy, clock) {
            return Some(result);
        }
    }
    if done.bytes == 0 && done.error.is_none() && why.is_none() && !buf.is_empty() {
        let wait = decide_for(stop, policy(), clock.now()).unwrap_or(Some(Duration::ZERO));
        back_off(port, pause, wait);
    }
    outcome(done, why, false, write_stopped, write_error)
}

/// A write of one byte is due (no free quota): first try `into_waiting_reads` with
/// `most` bytes (`at_once_cap`). `None` to go on with the one byte (nothing moved and
/// the policy still says wait, or the mode could not be set).
fn try_waiting_reads(
    port: &mut impl Port,
    data: &mut Data<'_, '_>,
    most: usize,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> Option<io::Result<usize>> {
    match into_waiting_reads(port, data.prefix(most), clock) {
        AtOnce::Moved(result) => Some(result),
        AtOnce::Nothing => decide(policy(), clock.now()).err().map(write_stopped),
        AtOnce::Refused => None,
    }
}

/// What a write in the pipe's nonblocking completion mode did.
pub(super) enum AtOnce {
    /// It moved bytes (all of them exactly reported), or failed.
    Moved(io::Result<usize>),
    /// No read was waiting: nothing moved.
    Nothing,
    /// The mode could not be set; nothing was written.
    Refused,
}

/// A write to a pipe with no free quota, issued in its nonblocking completion mode
/// (`PIPE_NOWAIT`): NPFS then fills the reads the peer has waiting and completes at
/// once with exactly what they took, queueing no rest it cannot charge in full
/// (`write.c` `NpCommonWrite`, `writesup.c` `NpWriteDataQueue`); on a message-type
/// pipe it moves all of it, if the reads and the quota hold it, or nothing. It never
/// pends, so its count is exact, and a reader that keeps a read waiting (the usual
/// server loop) takes a whole read's worth per write instead of one byte. The mode is the pipe
/// end's, so it is set back at once; a read issued meanwhile on the same end finds
/// ERROR_NO_DATA and tries again (see `read`).
pub(super) fn into_waiting_reads(port: &mut impl Port, buf: &[u8], clock: &impl Clock) -> AtOnce {
    let messages = port.reads_messages();
    if !port.set_nowait(true, messages) {
        return AtOnce::Refused;
    }
    let wake = Wake {
        dir: Dir::Write,
        stop: Stop::ByPolicy,
    };
    let (done, _) = port.submit(Request::Write(buf), wake, |issued| {
        drive(issued, Stop::ByPolicy, &at_once, clock)
    });
    // Set back however it went: a pipe end left in PIPE_NOWAIT fails blocking reads.
    if !port.set_nowait(false, messages) {
        port.set_nowait(false, messages);
    }
    match clamped(done, buf.len()) {
        Completion {
            bytes: 0,
            error: None,
        } => AtOnce::Nothing,
        // It pended after all (the mode was not what was set: other code changed it
        // meanwhile) and was cancelled: the peer may hold part of it, and NPFS reports
        // 0 bytes, so it must not be sent again.
        Completion {
            bytes: 0,
            error: Some(ERROR_OPERATION_ABORTED),
        } => AtOnce::Moved(Err(cancelled_in_flight())),
        Completion {
            bytes: 0,
            error: Some(code),
        } => AtOnce::Moved(Err(write_error(code))),
        done => AtOnce::Moved(Ok(done.bytes)),
    }
}

/// A write stopped only by a shutdown that was cancelled with 0 bytes reported:
/// either the shutdown came, or other code cancelled our I/O, and then the peer may
/// hold part of it, so it must not be issued again. `None` if the engine cancelled it
/// itself (its reason says what to return).
fn unknowable(
    stop: Stop,
    why: Option<Why>,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> Option<io::Result<usize>> {
    if stop != Stop::ByShutdown || why.is_some() {
        return None;
    }
    Some(match decide_for(stop, policy(), clock.now()) {
        Err(why) => write_stopped(why),
        Ok(_) => Err(cancelled_in_flight()),
    })
}

/// Sends the end-of-stream marker after a write shutdown: one zero-length WriteFile.
/// On a message-type pipe it queues an empty message, which is charged no quota and
/// so completes at once, even behind a full buffer (NPFS `NpWriteDataQueue`,
/// `NpAddDataQueueEntry`; Wine's `test_blocking_rw` on Windows: "empty write will not
/// block"). The caller sends it once, after the stream's last write. A peer already
/// gone needs none: `Ok`.
pub(crate) fn end_writes(port: &mut impl Port, clock: &impl Clock) -> io::Result<()> {
    let wake = Wake {
        dir: Dir::Write,
        stop: Stop::ByPolicy,
    };
    let (done, _) = port.submit(Request::Write(&[]), wake, |issued| {
        drive(issued, Stop::ByPolicy, &at_once, clock)
    });
    match done.error {
        None | Some(ERROR_NO_DATA | ERROR_BROKEN_PIPE | ERROR_PIPE_NOT_CONNECTED) => Ok(()),
        // It pended after all, and was cancelled: nothing was sent.
        Some(ERROR_OPERATION_ABORTED) => Err(io::Error::other(
            "the end of stream could not be sent: the pipe did not take an empty message",
        )),
        Some(code) => Err(write_error(code)),
    }
}

/// Copies into `buf` what is buffered without taking it, waiting for data as a read
/// would; `Ok(0)` at end of stream, after a read shutdown or for an empty `buf`.
///
/// An empty message at the head of a message-type pipe's queue stops PeekNamedPipe,
/// which copies nothing although bytes may follow; it is the peer's end-of-stream
/// marker. A handle in message read mode can find it: a zero-byte read completes
/// with success at such a message (and takes it, if it was waiting when the message
/// came), and with ERROR_MORE_DATA at data (from Windows 8 on); a one-byte read takes
/// it whole (NPFS `NpWriteDataQueue`, `NpReadDataQueue`; Wine's `test_blocking_rw` on
/// Windows). Either way the peek ends there, and so do later reads. In byte read
/// mode a zero-byte read completes at data and at the marker alike, and a read would
/// take the bytes after the marker, so the peek pauses until a read takes it.
pub(crate) fn peek(
    port: &mut impl Port,
    buf: &mut [u8],
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<usize> {
    let len = clamp_len(buf.len());
    // The read mode, asked once and only if it matters (nothing to copy).
    let mut mode = None;
    let mut stalled = false;
    let mut pause = Duration::from_millis(1);
    loop {
        if policy().shut || len == 0 {
            return Ok(0);
        }
        let seen = match port.peek_counts(&mut buf[..len]) {
            Ok(seen) => seen,
            Err(code) if is_eof(code) => return Ok(0),
            Err(code) => return Err(os_error(code)),
        };
        if seen.copied > 0 {
            return Ok(seen.copied.min(len));
        }
        let messages = *mode.get_or_insert_with(|| port.reads_messages());
        let wait = match decide(policy(), clock.now()) {
            Ok(wait) => wait,
            // Nonblocking: a marker PeekNamedPipe cannot show still ends the stream.
            Err(Why::WouldBlock) if messages => return look_for_the_end(port, clock),
            Err(why) => return read_stopped(why),
        };
        // Bytes queued but none copied, or a wait for data that ended with nothing
        // to copy: an empty message heads the queue.
        if seen.queued > 0 || stalled {
            match past_empty_message(port, messages, &mut buf[..1], &mut pause, wait, clock) {
                Past::Nothing => {}
                Past::Took(taken) => return Ok(taken),
                Past::Ended => {
                    port.end_of_stream();
                    return Ok(0);
                }
                Past::Failed(code) => return Err(os_error(code)),
            }
            stalled = false;
            continue;
        }
        match wait_for_data(port, messages, &mut pause, policy, clock) {
            Waited::Woke => stalled = true,
            Waited::Again => {}
            Waited::Ended => {
                port.end_of_stream();
                return Ok(0);
            }
            Waited::Done(result) => return result,
        }
    }
}

/// How a peek's wait for data ended.
enum Waited {
    /// It completed: something is queued.
    Woke,
    /// It was cancelled by a setter, or the pipe end was in PIPE_NOWAIT: peek again.
    Again,
    /// It met the peer's end-of-stream marker (message read mode).
    Ended,
    /// The peek's result: end of stream, a stop, an error.
    Done(io::Result<usize>),
}

/// A zero-byte read, which completes when data arrives without taking any: in
/// message read mode with ERROR_MORE_DATA (from Windows 8 on), and with success only
/// at the peer's end-of-stream marker, even if it was being cancelled.
fn wait_for_data(
    port: &mut impl Port,
    messages: bool,
    pause: &mut Duration,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> Waited {
    let (done, why) = port.submit(Request::Read(&mut []), READ, |issued| {
        drive(issued, Stop::ByPolicy, policy, clock)
    });
    match (done.error, why) {
        (None, _) if messages => Waited::Ended,
        (Some(code), _) if is_eof(code) => Waited::Done(Ok(0)),
        (None | Some(ERROR_OPERATION_ABORTED | ERROR_MORE_DATA), Some(why)) => {
            Waited::Done(read_stopped(why))
        }
        (Some(ERROR_OPERATION_ABORTED), None) => Waited::Again,
        (None | Some(ERROR_MORE_DATA), None) => Waited::Woke,
        (Some(ERROR_NO_DATA), _) => match nothing_yet(port, pause, policy, clock) {
            Ok(()) => Waited::Again,
            Err(why) => Waited::Done(read_stopped(why)),
        },
        (Some(code), _) => Waited::Done(Err(os_error(code))),
    }
}

/// A nonblocking peek that found nothing to copy on a handle in message read mode:
/// `Ok(0)` if the peer's end-of-stream marker heads the queue (a zero-byte read
/// issued not to wait completes with success there) or the peer is gone, else
/// `WouldBlock`.
fn look_for_the_end(port: &mut impl Port, clock: &impl Clock) -> io::Result<usize> {
    let (done, _) = port.submit(Request::Read(&mut []), READ, |issued| {
        drive(issued, Stop::ByPolicy, &at_once, clock)
    });
    match done.error {
        None => {
            port.end_of_stream();
            Ok(0)
        }
        Some(code) if is_eof(code) => Ok(0),
        Some(_) => read_stopped(Why::WouldBlock),
    }
}

/// The policy of an operation that must not wait.
pub(super) fn at_once() -> Policy {
    Policy {
        nonblocking: true,
        ..Policy::default()
    }
}

/// What getting past an empty message at the head of the queue did.
enum Past {
    /// Nothing yet: peek again.
    Nothing,
    /// Another thread's read raced it and left it a byte, which it returns.
    Took(usize),
    /// It took the peer's end-of-stream marker.
    Ended,
    Failed(Code),
}

/// Gets a peek past an empty message that heads the queue. A handle that reads in
/// message mode takes it with a one-byte read, which stops at the message's end and
/// so takes no byte: that is the end of the stream. The read is not let wait (if the
/// queue was empty after all, it is cancelled at once). Only another thread reading
/// the same direction at the same moment could leave a byte to it: that byte is
/// returned (a read will not return it again). A handle in byte read mode would read
/// on into the next message, so it pauses instead (1 ms, doubling up to 50 ms, at
/// most `wait`) until a read takes the message. Nothing spins.
fn past_empty_message(
    port: &mut impl Port,
    messages: bool,
    byte: &mut [u8],
    pause: &mut Duration,
    wait: Option<Duration>,
    clock: &impl Clock,
) -> Past {
    if !messages {
        back_off(port, pause, wait);
        return Past::Nothing;
    }
    let (done, _) = port.submit(Request::Read(byte), READ, |issued| {
        drive(issued, Stop::ByPolicy, &at_once, clock)
    });
    match done.error {
        _ if done.bytes > 0 => Past::Took(done.bytes.min(1)),
        None => Past::Ended,
        // The pipe end is in a writer's brief nonblocking mode: look again shortly.
        Some(ERROR_NO_DATA) => {
            back_off(port, pause, wait);
            Past::Nothing
        }
        Some(code) if !is_eof(code) && code != ERROR_OPERATION_ABORTED => Past::Failed(code),
        _ => Past::Nothing,
    }
}

/// Writes the slices with one WriteFile, as `write` would write their concatenation:
/// they are gathered into `scratch` only as far as that write takes them (at most
/// `MAX_WRITE`, one byte when no quota is free).
pub(crate) fn write_vectored(
    port: &mut impl Port,
    bufs: &[IoSlice<'_>],
    scratch: &mut Vec<u8>,
    free: &mut impl FnMut() -> Option<Quota>,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> io::Result<usize> {
    let mut filled = bufs.iter().filter(|b| !b.is_empty());
    match (filled.next(), filled.next()) {
        (None, _) => return write(port, &[], free, policy, clock),
        (Some(only), None) => return write(port, only, free, policy, clock),
        _ => {}
    }
    let data = Data::Gathered { bufs, scratch };
    write_data(port, data, free, policy, clock)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::ERROR_NO_DATA;

    #[test]
    fn writes_that_may_be_stopped_fit_the_pipe_buffer() {
        let blocking = Policy::default();
        let timed = Policy {
            timeout: Some(std::time::Duration::from_millis(5)),
            ..blocking
        };
        let nonblocking = Policy {
            nonblocking: true,
            ..blocking
        };
        // Nothing but a shutdown stops it: the whole write, and the pipe's buffer
        // size is not asked.
        let mut unasked = || -> Option<Quota> { panic!("the buffer size was asked") };
        assert_eq!(
            write_shape(blocking, &mut unasked),
            (MAX_WRITE, Stop::ByShutdown, None)
        );
        let free = |free| {
            Some(Quota {
                free,
                size: 1 << 20,
            })
        };
        for policy in [timed, nonblocking] {
            let shape = |quota: Option<Quota>| {
                let (cap, stop, _) = write_shape(policy, &mut || quota);
                (cap, stop)
            };
            assert_eq!(shape(free(512)), (512, Stop::ByPolicy));
            assert_eq!(shape(free(1 << 20)), (MAX_WRITE, Stop::ByPolicy));
            assert_eq!(shape(free(0)), (1, Stop::ByPolicy));
            assert_eq!(shape(None), (1, Stop::ByPolicy));
        }
    }

    #[test]
    fn a_nonblocking_mode_write_with_no_free_quota_fits_twice_the_quota() {
        let quota = |size| Some(Quota { free: 0, size });
        // The user guide's 16 KiB pipe: a waiting read of at least 16 KiB and the quota
        // it gives back hold 32 KiB, whole, on a message-type pipe too.
        assert_eq!(at_once_cap(1 << 20, quota(16 * 1024)), Some(32 * 1024));
        assert_eq!(at_once_cap(100, quota(16 * 1024)), Some(100));
        assert_eq!(at_once_cap(1 << 20, quota(64 * 1024)), Some(MAX_WRITE));
        // A quota of 0 (.NET's): what one write takes; unknown: not tried.
        assert_eq!(at_once_cap(1 << 20, quota(0)), Some(MAX_WRITE));
        assert_eq!(at_once_cap(1 << 20, None), None);
    }

    #[test]
    fn a_disconnected_pipe_is_a_broken_pipe_with_its_code() {
        let err = write_error(ERROR_PIPE_NOT_CONNECTED);
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<io::Error>());
        assert_eq!(inner.and_then(io::Error::raw_os_error), Some(233));
        assert_eq!(write_error(ERROR_NO_DATA).raw_os_error(), Some(232));
        // std gives 232 its kind on Windows only (on a host it is another errno).
        #[cfg(windows)]
        assert_eq!(write_error(ERROR_NO_DATA).kind(), ErrorKind::BrokenPipe);
    }
}
