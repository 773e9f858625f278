//! The blocking logic, written against small traits for the kernel so it compiles and is
//! tested on every host: issue an overlapped operation, wait with a deadline, cancel,
//! collect the result, map errors.
//!
//! The Windows implementation of the traits lives in `sys`; the tests (and the fuzzer)
//! implement them with a simulated kernel. The invariants every function here keeps:
//! - an operation handed to the kernel is always settled before a function returns,
//!   so no byte that moved is lost or reported twice;
//! - an `Err` is returned only when zero bytes moved (one documented exception: a
//!   write issued with no timeout and stopped by `shutdown(Write)`, see `write`);
//! - a blocking call gives up at its deadline plus one cancel round trip (two for a
//!   message receive whose rest the peer withdrew: only a read that pends says it is
//!   gone), and a nonblocking call never waits;
//! - byte counts the kernel reports are clamped to the request's length.

mod accept;
pub(crate) mod connect;
pub(crate) mod io;
pub(crate) mod message;

pub(crate) use accept::{Backlog, Listen};
pub(crate) use connect::{connect, Dial};
pub(crate) use io::{
    end_writes, peek, read, read_vectored, wait_for_read_turn, wait_for_write_turn, write,
    write_vectored, Quota, MAX_WRITE,
};

use std::time::Duration;

/// A Win32 error code, as `GetLastError` returns it.
pub(crate) type Code = u32;

/// How an overlapped operation ended, as `GetOverlappedResult` reports it: the bytes
/// that moved and, if it failed, why. A cancelled operation may report bytes too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Completion {
    pub bytes: usize,
    pub error: Option<Code>,
}

impl Completion {
    /// A failure with no byte moved.
    pub(crate) fn failed(code: Code) -> Self {
        Completion {
            bytes: 0,
            error: Some(code),
        }
    }
}

/// An operation to hand to the kernel. The buffer is lent until the operation settles.
pub(crate) enum Request<'a> {
    /// `ReadFile`; an empty buffer waits for data without taking any.
    Read(&'a mut [u8]),
    /// `WriteFile`.
    Write(&'a [u8]),
    /// `ConnectNamedPipe` on a server instance.
    Connect,
}

impl Request<'_> {
    /// The buffer's length (0 for a connect).
    pub(crate) fn len(&self) -> usize {
        match self {
            Request::Read(buf) => buf.len(),
            Request::Write(buf) => buf.len(),
            Request::Connect => 0,
        }
    }
}

/// What the kernel said when a request was issued.
pub(crate) enum Issued<'p> {
    /// Finished when it was issued (successfully or not): it never pended.
    Done(Completion),
    /// In flight: the kernel owns the buffer and the OVERLAPPED until it completes.
    Pending(&'p mut dyn Pending),
}

/// Which direction of a pipe end an operation uses; an accept counts as a read (it
/// obeys the read half of the settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
}

/// When an operation in flight may be stopped (cancelled) before it completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Whenever its direction's policy says so: timeout, nonblocking, shutdown.
    ByPolicy,
    /// Only by a shutdown of its direction: a write issued with no timeout in
    /// blocking mode, whose cancellation could hide bytes the peer already read.
    ByShutdown,
}

/// What a setter must wake: operations of `dir` that `stop` lets it stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Wake {
    pub dir: Dir,
    pub stop: Stop,
}

/// An operation in flight.
pub(crate) trait Pending {
    /// The result if the operation has completed (`GetOverlappedResult` without waiting).
    fn poll(&mut self) -> Option<Completion>;
    /// Blocks until the operation may have completed or `timeout` passed; `None` waits
    /// without limit. May return early: callers poll again.
    fn wait(&mut self, timeout: Option<Duration>);
    /// Asks the kernel to cancel (`CancelIoEx`). The operation still has to be polled
    /// until it completes, and may complete with data.
    fn cancel(&mut self);
}

/// One pipe handle, as the engine uses it.
pub(crate) trait Port {
    /// Issues `request` and lets `drive` see it through. While it is in flight, a
    /// setter whose change concerns `wake` cancels it (so that `drive` reads the new
    /// settings). The implementation guarantees that the kernel no longer uses the
    /// buffer when this returns, even if `drive` returned without settling the
    /// operation (or panicked).
    fn submit<R>(
        &mut self,
        request: Request<'_>,
        wake: Wake,
        drive: impl FnOnce(Issued<'_>) -> R,
    ) -> R;

    /// Copies what is buffered into `buf` without taking it (`PeekNamedPipe`); returns
    /// the count, 0 when nothing is buffered.
    fn peek(&mut self, buf: &mut [u8]) -> Result<usize, Code>;

    /// `peek`, with the count of bytes queued in all (`lpTotalBytesAvail`).
    fn peek_counts(&mut self, buf: &mut [u8]) -> Result<Peeked, Code> {
        self.peek(buf).map(|copied| Peeked {
            copied,
            queued: copied,
        })
    }

    /// Whether the handle reads in message mode (`GetNamedPipeHandleState`): then a
    /// read never takes bytes past the end of the message it starts in.
    fn reads_messages(&mut self) -> bool {
        false
    }

    /// Puts the handle in the pipe's nonblocking completion mode (`PIPE_NOWAIT`) or back
    /// in its usual one (`SetNamedPipeHandleState`), in message read mode if
    /// `messages`; `false` if the system refused.
    fn set_nowait(&mut self, nowait: bool, messages: bool) -> bool {
        let _ = (nowait, messages);
        false
    }

    /// Pauses the calling thread (virtual time in the simulations).
    fn nap(&mut self, pause: Duration) {
        std::thread::sleep(pause);
    }

    /// Whether the peer is gone, as the pipe's state says without moving data: the
    /// error a write would get (232 once it closed, 233 after a disconnect), or `None`
    /// while it is there (or the state cannot be had). A send that waits for room asks
    /// it, since only a write would otherwise tell.
    fn peer_gone(&mut self) -> Option<Code> {
        None
    }

    /// Whether an empty message heads the queue this end reads, as
    /// `FSCTL_PIPE_PEEK` counts messages (`NumberOfMessages`, `MessageLength`: NPFS
    /// `NpPeek`); `false` where the system does not count them (Wine reports none),
    /// so an empty message alone in the queue cannot be seen without a read.
    fn empty_message_first(&mut self) -> bool {
        false
    }

    /// A message peek's wait took an empty message: the next receive of this end (or
    /// a clone) returns it before anything else (`owed_empty_message`).
    fn owe_empty_message(&mut self) {}

    /// Whether an empty message is owed (see `owe_empty_message`); `take` settles it.
    fn owed_empty_message(&mut self, take: bool) -> bool {
        let _ = take;
        false
    }

    /// A read took the peer's end-of-stream marker (a zero-length message, which
    /// the peer's `shutdown(Write)` sends): from now on reads and peeks of this end
    /// and its clones return `Ok(0)` (`Settings::ended`).
    fn end_of_stream(&mut self);
}

/// What `PeekNamedPipe` saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Peeked {
    /// Bytes copied: of the first message only, on a message-type pipe.
    pub copied: usize,
    /// Bytes queued in all messages.
    pub queued: usize,
}

/// Time elapsed since the call began: real on Windows, virtual in the simulation.
pub(crate) trait Clock {
    fn now(&self) -> Duration;
}

/// The real clock, started when a call begins.
pub(crate) struct Since(std::time::Instant);

impl Since {
    pub(crate) fn start() -> Self {
        Since(std::time::Instant::now())
    }
}

impl Clock for Since {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// The settings an operation obeys, read again after every wake-up so that a setter
/// called from another thread takes effect on a blocked call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Give up this long after the call began; `None` waits forever.
    pub timeout: Option<Duration>,
    /// Never wait.
    pub nonblocking: bool,
    /// This direction was shut down.
    pub shut: bool,
}

/// The settings std keeps per socket, shared by a stream and its clones; each call
/// obeys the half for its direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    pub read_timeout: Option<Duration>,
    pub write_timeout: Option<Duration>,
    pub nonblocking: bool,
    pub shut_read: bool,
    pub shut_write: bool,
    /// The peer's end-of-stream marker was read: reads end as after a read shutdown.
    pub ended: bool,
}

impl Settings {
    /// Whether changing the settings from `self` to `new` must wake an operation in
    /// flight that `wake` describes: only the direction whose policy changed, and a
    /// write that only a shutdown stops only for that shutdown.
    pub(crate) fn wakes(&self, new: &Settings, wake: Wake) -> bool {
        match (wake.dir, wake.stop) {
            (Dir::Read, _) => self.read_policy() != new.read_policy(),
            (Dir::Write, Stop::ByPolicy) => self.write_policy() != new.write_policy(),
            (Dir::Write, Stop::ByShutdown) => !self.shut_write && new.shut_write,
        }
    }

    /// What a read or peek obeys.
    pub(crate) fn read_policy(&self) -> Policy {
        Policy {
            timeout: self.read_timeout,
            nonblocking: self.nonblocking,
            shut: self.shut_read || self.ended,
        }
    }

    /// What a write obeys.
    pub(crate) fn write_policy(&self) -> Policy {
        Policy {
            timeout: self.write_timeout,
            nonblocking: self.nonblocking,
            shut: self.shut_write,
        }
    }
}

/// Why the engine itself cancelled an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Why {
    TimedOut,
    WouldBlock,
    Shutdown,
}

/// Whether to keep waiting (and for how long at most) or stop now.
fn decide(policy: Policy, now: Duration) -> Result<Option<Duration>, Why> {
    if policy.shut {
        return Err(Why::Shutdown);
    }
    if policy.nonblocking {
        return Err(Why::WouldBlock);
    }
    match policy.timeout {
        None => Ok(None),
        Some(limit) if now >= limit => Err(Why::TimedOut),
        Some(limit) => Ok(Some(limit - now)),
    }
}

/// `decide` for an operation that `stop` lets only a shutdown stop.
fn decide_for(stop: Stop, policy: Policy, now: Duration) -> Result<Option<Duration>, Why> {
    match stop {
        Stop::ByPolicy => decide(policy, now),
        Stop::ByShutdown if policy.shut => Err(Why::Shutdown),
        Stop::ByShutdown => Ok(None),
    }
}

/// Sees an issued operation through: waits while the policy allows (as `stop` reads
/// it), cancels when it does not, and always returns the operation's final
/// completion, with the reason if the engine cancelled it.
pub(crate) fn drive(
    issued: Issued<'_>,
    stop: Stop,
    policy: &impl Fn() -> Policy,
    clock: &impl Clock,
) -> (Completion, Option<Why>) {
    let op = match issued {
        Issued::Done(done) => return (done, None),
        Issued::Pending(op) => op,
    };
    loop {
        if let Some(done) = op.poll() {
            return (done, None);
        }
        match decide_for(stop, policy(), clock.now()) {
            Ok(wait) => op.wait(wait),
            Err(why) => {
                op.cancel();
                return (settle(op), Some(why));
            }
        }
    }
}

/// Waits for a cancelled operation to complete: until then the kernel owns its buffer.
fn settle(op: &mut dyn Pending) -> Completion {
    loop {
        if let Some(done) = op.poll() {
            return done;
        }
        op.wait(None);
    }
}

/// The longest length one ReadFile/WriteFile takes: lengths are DWORDs.
pub(crate) fn clamp_len(len: usize) -> usize {
    len.min(u32::MAX as usize)
}

/// A completion whose byte count is at most the `len` asked for: a count larger
/// than the buffer has been seen from aborted writes (dotnet/runtime#57229), and
/// nothing downstream may slice past the buffer.
fn clamped(done: Completion, len: usize) -> Completion {
    Completion {
        bytes: done.bytes.min(len),
        ..done
    }
}

/// An OS error that keeps its code in `raw_os_error`.
pub(crate) fn os_error(code: Code) -> std::io::Error {
    std::io::Error::from_raw_os_error(code as i32)
}

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod chaos;
#[cfg(test)]
pub(crate) mod sim;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn lengths_clamp_to_dword() {
        assert_eq!(clamp_len(0), 0);
        assert_eq!(clamp_len(65536), 65536);
        assert_eq!(clamp_len(u32::MAX as usize), u32::MAX as usize);
        #[cfg(target_pointer_width = "64")]
        {
            assert_eq!(clamp_len(u32::MAX as usize + 1), u32::MAX as usize);
            assert_eq!(clamp_len(usize::MAX), u32::MAX as usize);
        }
    }

    #[test]
    fn decide_follows_the_policy() {
        let ms = Duration::from_millis;
        let base = Policy::default();
        assert_eq!(decide(base, ms(5)), Ok(None));
        let timed = Policy {
            timeout: Some(ms(10)),
            ..base
        };
        assert_eq!(decide(timed, ms(4)), Ok(Some(ms(6))));
        assert_eq!(decide(timed, ms(10)), Err(Why::TimedOut));
        let nb = Policy {
            nonblocking: true,
            ..timed
        };
        assert_eq!(decide(nb, ms(0)), Err(Why::WouldBlock));
        let shut = Policy { shut: true, ..nb };
        assert_eq!(decide(shut, ms(0)), Err(Why::Shutdown));
        // A write only a shutdown stops ignores timeouts and nonblocking mode.
        assert_eq!(decide_for(Stop::ByShutdown, nb, ms(99)), Ok(None));
        assert_eq!(
            decide_for(Stop::ByShutdown, shut, ms(0)),
            Err(Why::Shutdown)
        );
    }

    #[test]
    fn setters_wake_only_what_their_change_concerns() {
        let read = Wake {
            dir: Dir::Read,
            stop: Stop::ByPolicy,
        };
        let write = Wake {
            dir: Dir::Write,
            stop: Stop::ByPolicy,
        };
        let exact_write = Wake {
            dir: Dir::Write,
            stop: Stop::ByShutdown,
        };
        let old = Settings::default();
        let with = |f: fn(&mut Settings)| {
            let mut new = old;
            f(&mut new);
            new
        };
        let read_timeout = with(|s| s.read_timeout = Some(Duration::from_millis(5)));
        assert!(old.wakes(&read_timeout, read));
        assert!(!old.wakes(&read_timeout, write));
        let write_timeout = with(|s| s.write_timeout = Some(Duration::from_millis(5)));
        assert!(!old.wakes(&write_timeout, read));
        assert!(old.wakes(&write_timeout, write));
        assert!(!old.wakes(&write_timeout, exact_write));
        let nonblocking = with(|s| s.nonblocking = true);
        assert!(old.wakes(&nonblocking, read) && old.wakes(&nonblocking, write));
        assert!(!old.wakes(&nonblocking, exact_write));
        let shut_write = with(|s| s.shut_write = true);
        assert!(!old.wakes(&shut_write, read));
        assert!(old.wakes(&shut_write, write) && old.wakes(&shut_write, exact_write));
        let shut_read = with(|s| s.shut_read = true);
        assert!(old.wakes(&shut_read, read) && !old.wakes(&shut_read, exact_write));
        // A clone that took the peer's end-of-stream marker wakes the reads only.
        let ended = with(|s| s.ended = true);
        assert!(old.wakes(&ended, read) && !old.wakes(&ended, write));
        assert!(ended.read_policy().shut && !ended.write_policy().shut);
        assert!(!old.wakes(&old, read), "no change wakes nothing");
    }
}
