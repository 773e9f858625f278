//! The simulated kernel under one connected pipe end: the peer, the two pipe buffers,
//! the operation in flight, a setter racing the engine, and virtual time.

use super::space::Space;
use super::{stream_byte, Source, CANCEL_RTT, CHAOS_PER_CALL};
pub(crate) use crate::engine::Settings;
use crate::engine::{Code, Completion, Policy};
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
    /// Bytes the kernel took from write buffers.
    pub accepted: usize,
    /// What the last `PeekNamedPipe` copied out.
    pub peeked: Vec<u8>,
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
    /// The last policy the engine read, and when (since the call began).
    pub observed: Option<(Duration, Policy)>,
}

/// The operation in flight.
#[derive(Default)]
pub(crate) struct OpState {
    /// CancelIoEx was called on it (by a setter or by the engine).
    pub cancel: bool,
    pub engine_cancelled: bool,
    /// A cancelled operation has had its round trip: it completes at the next poll.
    pub force: bool,
    /// Write progress: bytes already in the pipe.
    pub moved: usize,
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
    pub peer_sent: u64,
    /// Bytes we wrote that the peer has not read, and the pipe buffer's size.
    pub outbound: usize,
    pub capacity: usize,
    /// Bytes the kernel ever took from our writes (the peer sees exactly these).
    pub accepted_total: u64,
    pub peer: Peer,
    pub settings: Settings,
    /// The ownership token: the kernel holds a buffer and an OVERLAPPED.
    pub held: bool,
    pub op: Option<OpState>,
    pub dir: Dir,
    pub call: CallLog,
    /// The pipe namespace, for connect and accept.
    pub space: Space,
}

const READ_ERRORS: [Code; 6] = [
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
            peer_sent: 0,
            outbound: 0,
            capacity: 1,
            accepted_total: 0,
            peer: Peer::Alive,
            settings: Settings::default(),
            held: false,
            op: None,
            dir: Dir::Read,
            call: CallLog::default(),
            space: Space::default(),
        };
        world.reconnect();
        world
    }

    /// A fresh connection: new buffers, default settings, a live peer.
    pub(crate) fn reconnect(&mut self) {
        self.salt = u64::from(self.src.byte()) << 8 | u64::from(self.src.byte());
        self.inbound.clear();
        self.peer_sent = 0;
        self.outbound = 0;
        self.capacity = 1 + usize::from(self.src.byte() % 64);
        self.accepted_total = 0;
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
            ..CallLog::default()
        };
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
        self.call.observed = Some((self.elapsed(), policy));
        policy
    }

    /// A setter on another thread: changes one setting (or none) and cancels whatever
    /// is in flight, as `Shared::update` does.
    pub(crate) fn setter(&mut self) {
        let value = self.src.byte();
        let timeout = (value != 0).then(|| Duration::from_millis(u64::from(value)));
        match self.src.byte() % 8 {
            0 | 1 => {}
            2 => self.settings.read_timeout = timeout,
            3 => self.settings.write_timeout = timeout,
            4 | 5 => self.settings.nonblocking = value % 2 == 1,
            6 => self.settings.shut_read |= value % 4 == 0,
            _ => self.settings.shut_write |= value % 4 == 0,
        }
        self.call.setters += 1;
        self.call.last_change = Some(self.elapsed());
        if let Some(op) = &mut self.op {
            op.cancel = true;
        }
    }

    /// The peer does something: 0 makes the operation in flight progress.
    pub(crate) fn peer_event(&mut self, choice: u8) {
        if self.dir == Dir::Accept {
            return self.space_event(choice);
        }
        match choice % 32 {
            0..=11 => self.progress(),
            12..=17 => self.peer_writes(),
            18..=23 => self.peer_drains(),
            24..=27 => self.setter(),
            28 if self.peer == Peer::Alive => self.peer = Peer::Closed,
            29 if self.peer != Peer::Killed => {
                self.peer = Peer::Killed;
                self.inbound.clear();
            }
            _ => {}
        }
    }

    /// What unblocks the kind of operation in flight.
    fn progress(&mut self) {
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

    fn peer_writes(&mut self) {
        if self.peer != Peer::Alive || self.inbound.len() >= INBOUND_LIMIT {
            return;
        }
        let count = 1 + u64::from(self.src.byte() % 96);
        for i in self.peer_sent..self.peer_sent + count {
            self.inbound.push_back(stream_byte(self.salt, i));
        }
        self.peer_sent += count;
    }

    fn peer_drains(&mut self) {
        if self.peer != Peer::Alive {
            return;
        }
        let want = 1 + usize::from(self.src.byte());
        self.outbound -= want.min(self.outbound);
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
            Buf::Read(b) => self.complete_read(b, cancel, choice),
            Buf::Write(b) => self.complete_write(b, cancel, choice),
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
    fn deliver(&mut self, code: Code) {
        self.call.codes.push(code);
        if matches!(code, ERROR_BROKEN_PIPE | ERROR_PIPE_NOT_CONNECTED) && self.dir == Dir::Read {
            self.call.eof = true;
        }
    }

    /// PeekNamedPipe: copies what is buffered, or says why nothing will come.
    pub(crate) fn peek(&mut self, buf: &mut [u8]) -> Result<usize, Code> {
        if self.pick() % 16 == 15 {
            let event = self.src.byte();
            self.peer_event(event);
        }
        let choice = self.pick();
        let code = match self.peer {
            Peer::Closed if self.inbound.is_empty() => ERROR_BROKEN_PIPE,
            Peer::Killed => ERROR_PIPE_NOT_CONNECTED,
            _ if choice % 16 == 13 => READ_ERRORS[usize::from(choice / 16) % READ_ERRORS.len()],
            _ => {
                let n = buf.len().min(self.inbound.len());
                for (dst, src) in buf.iter_mut().zip(self.inbound.iter()) {
                    *dst = *src;
                }
                self.call.peeked = buf[..n].to_vec();
                return Ok(n);
            }
        };
        self.deliver(code);
        Err(code)
    }

    fn complete_read(&mut self, buf: &mut [u8], cancel: bool, choice: u8) -> Option<Completion> {
        if !self.inbound.is_empty() {
            if choice % 16 == 15 && !cancel {
                return None; // the data is there but the kernel has not moved it yet
            }
            if buf.is_empty() {
                return Some(ok(0));
            }
            let most = buf.len().min(self.inbound.len());
            let n = if choice % 16 == 14 {
                1 + self.src.below(most)
            } else {
                most
            };
            for (dst, src) in buf.iter_mut().zip(self.inbound.drain(..n)) {
                *dst = src;
                self.call.transferred.push(src);
            }
            return Some(ok(n));
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
            12 if !buf.is_empty() => Some(ok(0)), // completed having moved nothing
            _ => None,
        }
    }

    fn complete_write(&mut self, buf: &[u8], cancel: bool, choice: u8) -> Option<Completion> {
        let moved = self.op.as_ref().map_or(0, |op| op.moved);
        match self.peer {
            Peer::Closed => return Some(with(moved, ERROR_NO_DATA)),
            Peer::Killed => return Some(with(moved, ERROR_PIPE_NOT_CONNECTED)),
            Peer::Alive => {}
        }
        let room = self.capacity - self.outbound.min(self.capacity);
        let mut take = room.min(buf.len() - moved);
        if choice % 16 == 14 && take > 1 {
            take = 1 + self.src.below(take - 1);
        }
        for (i, &b) in buf[moved..moved + take].iter().enumerate() {
            let expected = out_byte(self.salt, self.accepted_total + i as u64);
            assert_eq!(
                b,
                expected,
                "invariant: the engine wrote a byte out of order (stream offset {})",
                self.accepted_total + i as u64
            );
        }
        self.accepted_total += take as u64;
        self.call.accepted += take;
        self.outbound += take;
        let moved = moved + take;
        if let Some(op) = &mut self.op {
            op.moved = moved;
        }
        if moved == buf.len() {
            return Some(ok(moved));
        }
        if cancel {
            // Windows reports the partial count of a cancelled write.
            return Some(with(moved, ERROR_OPERATION_ABORTED));
        }
        match choice % 16 {
            13 => Some(with(
                moved,
                WRITE_ERRORS[usize::from(choice / 16) % WRITE_ERRORS.len()],
            )),
            12 if moved > 0 => Some(ok(moved)),
            _ => None,
        }
    }

    /// ReadFile/WriteFile: the result if the call finishes at once, `None` if it pends.
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
        // A call on a broken pipe fails at once.
        let eof_now = self.peer != Peer::Alive
            && match buf {
                Buf::Read(_) => self.inbound.is_empty(),
                Buf::Write(_) => true,
                Buf::Connect(_) => false,
            };
        match self.pick() % 16 {
            // Pending even though it could complete; a failure is never delayed.
            11 | 12 if !eof_now => None,
            // A setter's CancelIoEx landed right after the call: 995, no stop.
            13 if !eof_now => {
                self.deliver(ERROR_OPERATION_ABORTED);
                Some(Completion::failed(ERROR_OPERATION_ABORTED))
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
        let op = self.op.as_mut().expect("an operation is in flight");
        if !op.engine_cancelled {
            self.call.free_waits += 1;
        }
        let cap = |d: Duration| timeout.map_or(d, |t| d.min(t));
        if op.cancel || completed {
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
        let event = if choice % 8 == 0 { 0 } else { self.src.byte() };
        self.peer_event(event);
    }

    /// The engine cancels; the completion may land just before the cancel does.
    pub(crate) fn cancel(&mut self) {
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

fn with(bytes: usize, code: Code) -> Completion {
    Completion {
        bytes,
        error: Some(code),
    }
}
