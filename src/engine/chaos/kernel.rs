//! The simulated kernel under one connected pipe end: the peer, the two pipe buffers,
//! the operation in flight, a setter racing the engine, and virtual time.

use super::message::{Inbox, Log};
use super::npfs::{Arith, Issue, Outbound};
use super::space::Space;
use super::{stream_byte, Source, CANCEL_RTT, CHAOS_PER_CALL};
pub(crate) use crate::engine::Settings;
use crate::engine::{decide, Code, Completion, Peeked, Policy, Stop, Wake};
use crate::ffi::*;
use std::collections::VecDeque;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Peer {
    Alive,
    /// Closed its handle: buffered bytes stay readable, then ERROR_BROKEN_PIPE.
    Closed,
    /// Disconnected the instance (or died as a server): unread bytes are discarded,
    /// then ERROR_PIPE_NOT_CONNECTED.
    Killed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
    /// A listener's accept: it obeys the read fields of the settings.
    Accept,
}

/// The policy a call in direction `dir` obeys (an accept obeys the read half).
pub(crate) fn policy(settings: &Settings, dir: Dir) -> Policy {
    match dir {
        Dir::Read | Dir::Accept => settings.read_policy(),
        Dir::Write => settings.write_policy(),
    }
}

/// What happened during the current engine call, for the checks after it.
#[derive(Default)]
pub(crate) struct CallLog {
    /// Absolute virtual time the call began.
    pub start: Duration,
    /// Bytes the kernel copied into read buffers, in order.
    pub transferred: Vec<u8>,
    /// Bytes owed to the peer (read by it or queued for it) when the call began.
    pub owed_at_start: u64,
    /// The end-of-stream marker headed our message-mode queue when the call began.
    pub marker_heads_at_start: bool,
    /// What the last `PeekNamedPipe` copied out.
    pub peeked: Vec<u8>,
    /// A read took the peer's end-of-stream marker, or a zero-length read completed
    /// at it.
    pub marker_seen: bool,
    /// A nonblocking peek looked for the marker (see `port::submit`).
    pub probed: bool,
    /// The engine reported the end of stream (`end_of_stream`) in this call.
    pub ended_here: bool,
    /// Error codes the kernel delivered (issue, completion or peek).
    pub codes: Vec<Code>,
    /// An end-of-stream code was delivered.
    pub eof: bool,
    /// Setter calls during the call, and the time of the last one.
    pub setters: usize,
    pub last_change: Option<Duration>,
    /// Waits on an operation the engine had not cancelled itself.
    pub free_waits: usize,
    /// Operations issued.
    pub issued: usize,
    /// One of them was a write only a shutdown stops: it obeys no deadline.
    pub exact: bool,
    /// The last policy the engine read, and when (since the call began).
    pub observed: Option<(Duration, Policy)>,
    /// The first policy it read.
    pub first_policy: Option<Policy>,
    /// Whether the last policy it read let it go on (`decide` said wait, not stop).
    pub go: Option<bool>,
    /// What the pipe's buffer size query answered, in order.
    pub quota_answers: Vec<Option<crate::engine::Quota>>,
    /// The length of each write issued.
    pub write_lens: Vec<usize>,
    /// The last wait asked for no time at all.
    pub last_wait_zero: bool,
    /// The length of each write issued in the nonblocking completion mode.
    pub at_once_lens: Vec<usize>,
    /// When a peek's zero-byte read last completed with no data to show, if nothing
    /// (another read, a pause) came after it.
    pub peek_woke_at: Option<Duration>,
    /// Pending writes of the peer's withdrawn so far (message target): a peek's wait
    /// that one of them woke may find nothing to show, and wait again at once.
    pub withdrawals: u32,
    /// Non-empty writes that pended, by what may stop them.
    pub pended: Vec<Stop>,
    /// A write completed with fewer bytes than it was given.
    pub short_write: bool,
    /// Other code put our end in PIPE_NOWAIT during the call.
    pub foreign_nowait: bool,
}

/// The operation in flight.
pub(crate) struct OpState {
    /// Which setter changes wake it.
    pub wake: Wake,
    /// CancelIoEx was called on it (by a setter or by the engine).
    pub cancel: bool,
    pub engine_cancelled: bool,
    /// A cancelled operation has had its round trip: it completes at the next poll.
    pub force: bool,
    /// How a write ended, once the kernel has ended it (its length with success, or
    /// the failure): collected at the next poll.
    pub ended: Option<Completion>,
}

impl OpState {
    pub(crate) fn new(wake: Wake) -> Self {
        OpState {
            wake,
            cancel: false,
            engine_cancelled: false,
            force: false,
            ended: None,
        }
    }
}

/// A buffer lent with a request.
pub(crate) enum Buf<'b> {
    Read(&'b mut [u8]),
    Write(&'b [u8]),
    /// ConnectNamedPipe on our instance with this id.
    Connect(usize),
}

pub(crate) struct World<'s> {
    pub src: Source<'s>,
    /// Chaotic decisions left in this call.
    pub budget: u32,
    pub now: Duration,
    pub salt: u64,
    pub inbound: VecDeque<u8>,
    /// In message mode, the lengths of the messages in `inbound` (the first one's
    /// unread rest first).
    pub messages: VecDeque<usize>,
    /// Our end reads in message mode (as winpipe's own ends do).
    pub message_mode: bool,
    /// A read of ours took the peer's end-of-stream marker on this connection.
    pub marker_taken: bool,
    pub peer_sent: u64,
    /// What our writes go into, as NPFS keeps it.
    pub out: Outbound,
    /// The peer read part of a write that then failed because the peer went away:
    /// how much of it the peer had is unknowable, so the byte accounting stops (the
    /// peer reads nothing more either).
    pub truth_lost: bool,
    pub peer: Peer,
    pub settings: Settings,
    /// The ownership token: the kernel holds a buffer and an OVERLAPPED.
    pub held: bool,
    pub op: Option<OpState>,
    pub dir: Dir,
    pub call: CallLog,
    /// The pipe namespace, for connect and accept.
    pub space: Space,
    /// Our end is in the nonblocking completion mode (PIPE_NOWAIT).
    pub nowait: bool,
    /// The message target's inbound queue (`message_io`); `None` for `stream_io`.
    pub inbox: Option<Inbox>,
    /// Other code set PIPE_NOWAIT on our end (the message target's chaos); our own
    /// `set_nowait` sets the mode over it.
    pub foreign_nowait: bool,
    /// Hand-written scenarios: the peer does nothing it is not told to, and waits
    /// run to their timeout.
    pub quiet: bool,
}

pub(crate) const READ_ERRORS: [Code; 6] = [
    ERROR_ACCESS_DENIED,
    ERROR_NO_DATA,
    ERROR_PIPE_LISTENING,
    ERROR_FILE_NOT_FOUND,
    ERROR_PIPE_BUSY,
    ERROR_PIPE_CONNECTED,
];
const WRITE_ERRORS: [Code; 6] = [
    ERROR_ACCESS_DENIED,
    ERROR_BROKEN_PIPE,
    ERROR_PIPE_LISTENING,
    ERROR_FILE_NOT_FOUND,
    ERROR_PIPE_BUSY,
    ERROR_PIPE_CONNECTED,
];
const INBOUND_LIMIT: usize = 512;

/// The byte at position `i` of what we write.
pub(crate) fn out_byte(salt: u64, i: u64) -> u8 {
    stream_byte(!salt, i)
}

impl<'s> World<'s> {
    pub(crate) fn new(src: Source<'s>) -> Self {
        let mut world = World {
            src,
            budget: CHAOS_PER_CALL,
            now: Duration::ZERO,
            salt: 0,
            inbound: VecDeque::new(),
            messages: VecDeque::new(),
            message_mode: false,
            marker_taken: false,
            peer_sent: 0,
            out: Outbound::new(0, 0, Arith::Wrapping, false),
            truth_lost: false,
            peer: Peer::Alive,
            settings: Settings::default(),
            held: false,
            op: None,
            dir: Dir::Read,
            call: CallLog::default(),
            space: Space::default(),
            nowait: false,
            inbox: None,
            foreign_nowait: false,
            quiet: false,
        };
        world.reconnect();
        world
    }

    /// A fresh connection: new buffers, default settings, a live peer.
    pub(crate) fn reconnect(&mut self) {
        self.salt = u64::from(self.src.byte()) << 8 | u64::from(self.src.byte());
        self.inbound.clear();
        self.messages.clear();
        self.peer_sent = 0;
        // Quotas as other programs pick them: 0 (.NET's default), tiny, or small.
        let shape = self.src.byte();
        let quota = match shape % 4 {
            0 => 0,
            1 => 1 + usize::from(shape / 4 % 4),
            _ => 1 + usize::from(self.src.byte() % 96),
        };
        self.message_mode = shape & 0x80 != 0;
        // winpipe's pipes are message type; a foreign one read in byte mode may be
        // of either type.
        let message_type = self.message_mode || shape & 0x10 != 0;
        self.marker_taken = false;
        // NPFS's own wrapping arithmetic, and now and then the tidied one.
        let arith = if shape & 0x60 == 0x60 {
            Arith::Saturating
        } else {
            Arith::Wrapping
        };
        self.out = Outbound::new(quota, self.salt, arith, message_type);
        self.truth_lost = false;
        self.peer = Peer::Alive;
        self.settings = Settings::default();
    }

    /// A chaotic decision: 0 (make progress) once the call's budget is spent.
    pub(crate) fn pick(&mut self) -> u8 {
        if self.budget == 0 {
            return 0;
        }
        self.budget -= 1;
        self.src.byte()
    }

    pub(crate) fn begin_call(&mut self, dir: Dir) {
        self.dir = dir;
        self.budget = CHAOS_PER_CALL;
        self.call = CallLog {
            start: self.now,
            owed_at_start: self.owed(),
            marker_heads_at_start: self.message_mode && self.messages.front() == Some(&0),
            ..CallLog::default()
        };
        if let Some(inbox) = &mut self.inbox {
            inbox.log = Log::default();
        }
    }

    /// Bytes of ours the peer has read or will read: what our writes must have
    /// reported.
    pub(crate) fn owed(&self) -> u64 {
        self.out.delivered + self.out.queued()
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.call.start
    }

    /// The engine reads its policy: a setter may have run just before.
    pub(crate) fn observe(&mut self) -> Policy {
        if self.pick() % 8 == 7 {
            self.setter();
        }
        let policy = policy(&self.settings, self.dir);
        let elapsed = self.elapsed();
        self.call.observed = Some((elapsed, policy));
        self.call.first_policy.get_or_insert(policy);
        self.call.go = Some(decide(policy, elapsed).is_ok());
        policy
    }

    /// A setter on another thread: changes one setting (or none) and cancels the
    /// operation in flight if the change concerns it, as `Shared::update` does.
    pub(crate) fn setter(&mut self) {
        let before = self.settings;
        let value = self.src.byte();
        let timeout = (value != 0).then(|| Duration::from_millis(u64::from(value)));
        match self.src.byte() % 8 {
            0 | 1 => {}
            2 => self.settings.read_timeout = timeout,
            3 => self.settings.write_timeout = timeout,
            4 | 5 => self.settings.nonblocking = value % 2 == 1,
            6 => self.settings.shut_read |= value.is_multiple_of(4),
            _ => self.settings.shut_write |= value.is_multiple_of(4),
        }
        self.call.setters += 1;
        self.call.last_change = Some(self.elapsed());
        // What the engine read before this is stale: it must read again to go on
        // (and a nonblocking peek may look once more for what it cannot see).
        self.call.go = None;
        self.call.probed = false;
        if let Some(op) = &mut self.op {
            if before.wakes(&self.settings, op.wake) {
                op.cancel = true;
            }
        }
    }

    /// The peer does something: 0 makes the operation in flight progress.
    pub(crate) fn peer_event(&mut self, choice: u8) {
        if self.quiet {
            return;
        }
        if self.dir == Dir::Accept {
            return self.space_event(choice);
        }
        match choice % 32 {
            0..=11 => self.progress(),
            12..=17 => self.peer_writes(),
            18..=23 => self.peer_drains(),
            24..=27 => self.setter(),
            28 => self.peer_goes(false),
            29 if self.peer != Peer::Killed => self.peer_goes(true),
            30 | 31 if self.inbox.is_some() => self.inbox_event(),
            _ => {}
        }
    }

    /// What unblocks the kind of operation in flight.
    pub(crate) fn progress(&mut self) {
        match self.dir {
            Dir::Read => self.peer_writes(),
            Dir::Write => self.peer_drains(),
            Dir::Accept => self.space.client_arrives(),
        }
    }

    /// Something happens in the namespace: 0 brings a client.
    pub(crate) fn space_event(&mut self, choice: u8) {
        match choice % 16 {
            0..=5 => self.space.client_arrives(),
            6..=8 => self.space.client_leaves(),
            9 | 10 => self.setter(),
            11 => self.space.foreign_free += 1,
            12 => self.space.foreign_busy += 1,
            13 => self.space.foreign_busy = self.space.foreign_busy.saturating_sub(1),
            _ => {}
        }
    }

    /// The peer writes (in message mode: one message).
    fn peer_writes(&mut self) {
        if self.inbox.is_some() {
            return self.peer_sends_message();
        }
        if self.peer != Peer::Alive || self.inbound.len() >= INBOUND_LIMIT {
            return;
        }
        let pick = self.src.byte();
        // Now and then an empty message: the end-of-stream marker (winpipe's
        // `shutdown(Write)`, go-winio's `CloseWrite`). A raw peer may write on after
        // it; the engine must never return those bytes.
        let count = if self.message_mode && pick >= 244 {
            0
        } else {
            1 + u64::from(pick % 96)
        };
        for i in self.peer_sent..self.peer_sent + count {
            self.inbound.push_back(stream_byte(self.salt, i));
        }
        self.peer_sent += count;
        if self.message_mode {
            self.messages.push_back(count as usize);
        }
    }

    /// The peer reads what we wrote; this may complete our pending write.
    fn peer_drains(&mut self) {
        if self.peer != Peer::Alive {
            return;
        }
        let want = 1 + usize::from(self.src.byte());
        if let Some(len) = self.out.peer_reads(want) {
            if let Some(op) = &mut self.op {
                op.ended = Some(ok(len));
            }
        }
    }

    /// The peer closes its handle, or (`killed`) the server disconnects the pipe:
    /// NPFS's NpSetClosingPipeState / NpSetDisconnectedPipeState.
    pub(crate) fn peer_goes(&mut self, killed: bool) {
        if killed {
            self.peer = Peer::Killed;
            self.inbound.clear();
            self.messages.clear();
            if let Some(inbox) = &mut self.inbox {
                inbox.discard();
            }
        } else if self.peer == Peer::Alive {
            self.peer = Peer::Closed;
            if let Some(inbox) = &mut self.inbox {
                inbox.close();
            }
        } else {
            return;
        }
        // A write of ours still in the queue fails with 0 bytes (109 or 233), whatever
        // the peer took of it; the rest of the queue will never be read.
        let code = if killed {
            ERROR_PIPE_NOT_CONNECTED
        } else {
            ERROR_BROKEN_PIPE
        };
        if self.out.has_pending() {
            if self.out.withdraw() > 0 {
                self.truth_lost = true;
            }
            if let Some(op) = &mut self.op {
                op.ended = Some(Completion::failed(code));
            }
        }
        self.out.peer_gone();
    }

    /// Completes the operation if the pipe's state allows; chaos may delay a data
    /// completion or make it partial, never an end-of-stream one.
    pub(crate) fn try_complete(&mut self, buf: &mut Buf<'_>) -> Option<Completion> {
        let (cancel, force) = {
            let op = self.op.as_ref().expect("an operation is in flight");
            (op.cancel, op.force)
        };
        let choice = if force { 0 } else { self.pick() };
        if cancel && choice % 16 == 11 {
            return None; // the cancel has not landed yet: one round trip to go
        }
        let done = match buf {
            Buf::Read(b) if self.inbox.is_some() => self.complete_message_read(b, cancel, choice),
            Buf::Read(b) => self.complete_read(b, cancel, choice),
            Buf::Write(b) => self.complete_write(b.len(), cancel, choice),
            Buf::Connect(id) => self.space.complete_connect(*id, cancel, choice),
        };
        if let Some(Completion {
            error: Some(code), ..
        }) = done
        {
            self.deliver(code);
        }
        done
    }

    /// Logs an error code handed to the engine.
    pub(crate) fn deliver(&mut self, code: Code) {
        self.call.codes.push(code);
        if matches!(code, ERROR_BROKEN_PIPE | ERROR_PIPE_NOT_CONNECTED) && self.dir == Dir::Read {
            self.call.eof = true;
        }
    }

    /// PeekNamedPipe: copies what is buffered (in message mode, of the first message),
    /// or says why nothing will come.
    /// `lpTotalBytesAvail` is every byte queued, past an empty first message too
    /// (NpPeek's `ReadDataAvailable`).
    pub(crate) fn peek(&mut self, buf: &mut [u8]) -> Result<Peeked, Code> {
        if self.pick() % 16 == 15 {
            let event = self.src.byte();
            self.peer_event(event);
        }
        if self.inbox.is_some() {
            return self.peek_message(buf);
        }
        let choice = self.pick();
        let code = match self.peer {
            Peer::Closed if self.inbound.is_empty() && self.messages.is_empty() => {
                ERROR_BROKEN_PIPE
            }
            Peer::Killed => ERROR_PIPE_NOT_CONNECTED,
            _ if choice % 16 == 13 => READ_ERRORS[usize::from(choice / 16) % READ_ERRORS.len()],
            _ => {
                let n = buf.len().min(self.readable());
                for (dst, src) in buf.iter_mut().zip(self.inbound.iter()) {
                    *dst = *src;
                }
                self.call.peeked = buf[..n].to_vec();
                let junk = self.junk(n, buf.len(), choice);
                return Ok(Peeked {
                    copied: n + junk,
                    queued: self.inbound.len(),
                });
            }
        };
        self.deliver(code);
        Err(code)
    }

    /// What one read can take: everything buffered, or in message mode the rest of the
    /// first message.
    fn readable(&self) -> usize {
        match self.messages.front() {
            Some(&rest) if self.message_mode => rest,
            _ => self.inbound.len(),
        }
    }

    /// Extra bytes a kernel sometimes adds to a count that filled the whole buffer
    /// (seen on aborted writes, dotnet/runtime#57229); 0 most of the time.
    pub(crate) fn junk(&mut self, n: usize, len: usize, choice: u8) -> usize {
        if n == len && choice % 16 == 10 {
            1 + usize::from(self.src.byte())
        } else {
            0
        }
    }

    fn complete_read(&mut self, buf: &mut [u8], cancel: bool, choice: u8) -> Option<Completion> {
        // In message mode an empty message is something to read too.
        if !self.inbound.is_empty() || !self.messages.is_empty() {
            if choice % 16 == 15 && !cancel {
                return None; // the data is there but the kernel has not moved it yet
            }
            let marker = self.message_mode && self.messages.front() == Some(&0);
            if buf.is_empty() {
                return Some(self.zero_length_read(marker, choice));
            }
            if marker {
                // A read in message mode takes the end-of-stream marker whole.
                self.messages.pop_front();
                self.take_marker();
                return Some(ok(0));
            }
            let most = buf.len().min(self.readable());
            let n = if choice % 16 == 14 && !self.message_mode {
                1 + self.src.below(most)
            } else {
                most
            };
            for (dst, src) in buf.iter_mut().zip(self.inbound.drain(..n)) {
                *dst = src;
                self.call.transferred.push(src);
            }
            if self.message_mode {
                let rest = self.messages.front_mut().expect("a message");
                *rest -= n;
                if *rest > 0 {
                    // The message goes on: ReadFile says ERROR_MORE_DATA with the bytes.
                    return Some(with(n, ERROR_MORE_DATA));
                }
                self.messages.pop_front();
            }
            let junk = self.junk(n, buf.len(), choice);
            return Some(ok(n + junk));
        }
        match self.peer {
            Peer::Closed => return Some(Completion::failed(ERROR_BROKEN_PIPE)),
            Peer::Killed => return Some(Completion::failed(ERROR_PIPE_NOT_CONNECTED)),
            Peer::Alive => {}
        }
        if cancel {
            return Some(Completion::failed(ERROR_OPERATION_ABORTED));
        }
        match choice % 16 {
            13 => Some(Completion::failed(
                READ_ERRORS[usize::from(choice / 16) % READ_ERRORS.len()],
            )),
            _ => None,
        }
    }

    /// A zero-length read while something is queued: success in byte read mode; in
    /// message read mode ERROR_MORE_DATA at data (Windows 8 on: Wine's
    /// `test_CloseHandle`), success at the end-of-stream marker, which it takes if it
    /// was waiting when the marker came (Wine's `test_blocking_rw` on Windows), and
    /// which Wine also takes when it was queued already (NPFS would leave it).
    fn zero_length_read(&mut self, marker: bool, choice: u8) -> Completion {
        if !self.message_mode {
            return ok(0);
        }
        if !marker {
            return with(0, ERROR_MORE_DATA);
        }
        if choice.is_multiple_of(2) {
            self.messages.pop_front();
            self.take_marker();
        } else {
            self.call.marker_seen = true;
            self.call.eof = true;
        }
        ok(0)
    }

    /// A read of ours took the peer's end-of-stream marker.
    fn take_marker(&mut self) {
        self.marker_taken = true;
        self.call.marker_seen = true;
        self.call.eof = true;
    }

    /// The engine says a read took the end-of-stream marker: from now on the
    /// stream's reads end (`Settings::ended`, as `Shared::update` sets it).
    pub(crate) fn end_of_stream(&mut self) {
        assert!(
            self.call.marker_seen,
            "invariant: end of stream reported, but no read met a marker in this call"
        );
        assert!(
            self.op.is_none(),
            "invariant: end of stream reported mid-operation"
        );
        self.settings.ended = true;
        self.call.ended_here = true;
    }

    /// A write issued earlier: its end if the kernel has ended it, else what a cancel
    /// (or a stray failure) does to it. NPFS never completes a write partially.
    fn complete_write(&mut self, len: usize, cancel: bool, choice: u8) -> Option<Completion> {
        let ended = self.op.as_ref().and_then(|op| op.ended);
        if let Some(mut done) = ended {
            if choice % 16 == 15 && !cancel {
                return None; // completed, but the event is seen a little later
            }
            if done.error.is_none() {
                done.bytes += self.junk(done.bytes, len, choice);
            }
            return Some(done);
        }
        if cancel {
            // NpCancelDataQueueIrp: out of the queue, STATUS_CANCELLED, 0 bytes, even
            // if the peer took part of it. Only a whole write stopped by a shutdown
            // may end so (documented); anywhere else the checks catch it.
            let taken = self.out.withdraw();
            let op = self.op.as_ref().expect("an operation is in flight");
            if taken > 0 && op.wake.stop == Stop::ByShutdown {
                self.truth_lost = true;
            }
            return Some(Completion::failed(ERROR_OPERATION_ABORTED));
        }
        match choice % 16 {
            // Some other failure of a write nothing has read yet.
            13 if self.out.pending_taken() == Some(0) => {
                self.out.withdraw();
                Some(Completion::failed(
                    WRITE_ERRORS[usize::from(choice / 16) % WRITE_ERRORS.len()],
                ))
            }
            _ => None,
        }
    }

    /// WriteFile: NPFS queues the data at once; the write completes now if the quota
    /// covers it, else it pends.
    fn issue_write(&mut self, data: &[u8]) -> Result<(), Code> {
        match self.peer {
            Peer::Closed => return Err(ERROR_NO_DATA),
            Peer::Killed => return Err(ERROR_PIPE_NOT_CONNECTED),
            Peer::Alive => {}
        }
        if self.foreign_nowait && self.budget == 0 {
            // Other code's mode ends, so that a write it stalls still ends.
            self.nowait = false;
            self.foreign_nowait = false;
        }
        let op = self.op.as_mut().expect("an operation is in flight");
        if self.nowait {
            let read_holds = self.out.read_holds_the_quota();
            let moved = self.out.write_at_once(data);
            self.call.short_write |= moved > 0 && moved < data.len();
            // Twice the quota always goes into such a read (its charge comes back):
            // a write that moved nothing was too large for NPFS's all-or-nothing
            // message write, and the stream falls back to one byte per write. (A
            // message send hands over the whole message, whatever its size.)
            assert!(
                !read_holds || moved > 0 || data.is_empty() || self.inbox.is_some(),
                "invariant: a write of {} bytes in the nonblocking completion mode moved \
                 nothing into a waiting read that holds the whole quota of {}",
                data.len(),
                self.out.quota()
            );
            op.ended = Some(ok(moved));
        } else if let Issue::Done(_) = self.out.write(data) {
            op.ended = Some(ok(data.len()));
        } else {
            self.call.pended.push(op.wake.stop);
        }
        Ok(())
    }

    /// ReadFile/WriteFile/ConnectNamedPipe: the result if the call finishes at once,
    /// `None` if it pends.
    pub(crate) fn issue(&mut self, buf: &mut Buf<'_>) -> Option<Completion> {
        if self.pick() % 16 == 15 {
            let event = self.src.byte();
            self.peer_event(event);
        }
        if let Buf::Connect(id) = buf {
            if let Some(code) = self.space.connected_before(*id) {
                self.deliver(code);
                return Some(Completion::failed(code));
            }
        }
        if let (Some(_), Buf::Read(b)) = (&self.inbox, &mut *buf) {
            return self.issue_message_read(b);
        }
        if let Buf::Write(data) = buf {
            if let Err(code) = self.issue_write(data) {
                self.deliver(code);
                return Some(Completion::failed(code));
            }
        }
        // A read on a broken pipe fails at once.
        let eof_now = self.peer != Peer::Alive
            && match buf {
                Buf::Read(_) => self.inbound.is_empty() && self.messages.is_empty(),
                Buf::Write(_) | Buf::Connect(_) => false,
            };
        match self.pick() % 16 {
            // Pending even though it could complete; a failure is never delayed.
            11 | 12 if !eof_now => None,
            // A CancelIoEx landed right after the call: a setter's (for what setters
            // wake), or now and then other code's, on any operation.
            13 if !eof_now => {
                let foreign = self.src.byte().is_multiple_of(4);
                if let Some(op) = &mut self.op {
                    if foreign || op.wake.stop == Stop::ByPolicy {
                        op.cancel = true;
                        op.force = true;
                    }
                }
                self.try_complete(buf)
            }
            // A setter ran just before: the operation pends already cancelled.
            14 if !eof_now => {
                self.setter();
                self.try_complete(buf)
            }
            _ => self.try_complete(buf),
        }
    }

    /// The engine waits on the operation's event.
    pub(crate) fn wait(&mut self, timeout: Option<Duration>, completed: bool) {
        let zero = timeout == Some(Duration::ZERO);
        assert!(
            !(zero && self.call.last_wait_zero),
            "invariant: two waits of no time in a row (a spin)"
        );
        self.call.last_wait_zero = zero;
        if self.quiet {
            // Nothing else happens: the cancel lands, or the timer runs out.
            let op = self.op.as_mut().expect("an operation is in flight");
            op.force |= op.cancel || completed;
            let d = if op.force {
                CANCEL_RTT
            } else {
                timeout.unwrap_or(CANCEL_RTT)
            };
            self.now += timeout.map_or(d, |t| d.min(t));
            return;
        }
        let spurious = self.pick() % 4 == 3;
        let op = self.op.as_mut().expect("an operation is in flight");
        if !op.engine_cancelled {
            self.call.free_waits += 1;
        }
        let cap = |d: Duration| timeout.map_or(d, |t| d.min(t));
        if op.cancel || completed {
            if spurious {
                // The wait ends at once, before the cancel has landed: the engine
                // must wait again rather than take the operation for settled.
                return;
            }
            // The cancel round trip (or a completion signalled a little late).
            op.force = true;
            let d = Duration::from_millis(u64::from(self.pick() % 3));
            self.now += cap(d.min(CANCEL_RTT));
            return;
        }
        let choice = self.pick();
        let d = match (choice % 8, timeout) {
            // The timer expires with nothing happening.
            (1 | 2, Some(t)) => {
                self.now += t;
                return;
            }
            // A spurious wake: some time passes, nothing happens.
            (3, _) => {
                self.now += cap(self.src.millis());
                return;
            }
            _ => self.src.millis(),
        };
        self.now += cap(d);
        let event = if choice.is_multiple_of(8) {
            0
        } else {
            self.src.byte()
        };
        self.peer_event(event);
    }

    /// The engine cancels; the completion may land just before the cancel does.
    pub(crate) fn cancel(&mut self) {
        let shut = self.settings.shut_write;
        if let Some(op) = &self.op {
            assert!(
                op.wake.stop == Stop::ByPolicy || shut,
                "invariant: a write that only a shutdown may stop was cancelled"
            );
        }
        if self.pick() % 4 == 3 {
            self.progress();
        }
        if let Some(op) = &mut self.op {
            op.cancel = true;
            op.engine_cancelled = true;
        }
    }
}

pub(crate) fn ok(bytes: usize) -> Completion {
    Completion { bytes, error: None }
}

pub(crate) fn with(bytes: usize, code: Code) -> Completion {
    Completion {
        bytes,
        error: Some(code),
    }
}

impl World<'_> {
    /// A peek pauses: time passes, and the peer may act.
    pub(crate) fn nap(&mut self, pause: Duration) {
        self.call.peek_woke_at = None;
        self.now += pause;
        let event = self.pick();
        self.peer_event(event);
    }
}

impl World<'_> {
    /// SetNamedPipeHandleState: the system may refuse (NPFS's NpSetPipeInfo answers
    /// STATUS_PIPE_BUSY in some queue states).
    /// Setting the usual mode back is never refused (NpSetPipeInfo).
    pub(crate) fn set_nowait(&mut self, nowait: bool) -> bool {
        if nowait && self.pick() % 16 == 12 {
            return false;
        }
        self.nowait = nowait;
        self.foreign_nowait = false;
        true
    }
}
