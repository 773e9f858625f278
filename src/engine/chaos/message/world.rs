//! The simulated kernel's reads, peeks and peer events when our end reads the
//! peer's messages (`World::inbox`): what `message_io` adds to the `stream_io` kernel.

use super::super::kernel::{Peer, World, READ_ERRORS};
use super::inbox::Inbox;
use crate::engine::{Code, Completion, Peeked};
use crate::ffi::{
    ERROR_BROKEN_PIPE, ERROR_MORE_DATA, ERROR_NO_DATA, ERROR_OPERATION_ABORTED,
    ERROR_PIPE_NOT_CONNECTED,
};

/// The most the peer keeps queued for us.
const INBOX_LIMIT: usize = 64 * 1024;

impl World<'_> {
    fn inbox(&mut self) -> &mut Inbox {
        self.inbox.as_mut().expect("the message target's inbox")
    }

    /// What a read finds queued, `at_issue` or after waiting.
    fn take(&mut self, buf: &mut [u8], at_issue: bool) -> Option<Completion> {
        let inbox = self.inbox();
        let done = match buf.is_empty() {
            true => inbox.zero_read(at_issue),
            false => inbox.read(buf),
        }?;
        self.call.transferred.extend_from_slice(&buf[..done.bytes]);
        Some(done)
    }

    /// A read the kernel completed: logged, and handed out.
    fn read_done(&mut self, done: Completion) -> Completion {
        if done.error == Some(ERROR_MORE_DATA) && done.bytes > 0 {
            let waits = self.call.free_waits;
            self.inbox().part(waits);
        }
        if let Some(code) = done.error {
            self.deliver(code);
        }
        done
    }

    /// ReadFile on our end. NPFS completes a read at issue when anything is queued
    /// (`NpCommonRead`), and fails it at once on a broken pipe or, in PIPE_NOWAIT, on
    /// an empty queue (STATUS_PIPE_EMPTY: ERROR_NO_DATA); otherwise it waits.
    pub(crate) fn issue_message_read(&mut self, buf: &mut [u8]) -> Option<Completion> {
        // Between two reads of one message its sender may cancel, or go.
        if self.inbox().head_cuttable() {
            let scripted = std::mem::take(&mut self.inbox().cut_next);
            match self.pick() % 16 {
                _ if scripted => self.inbox().cut_head(),
                1..=4 => self.inbox().cut_head(),
                5 => self.peer_goes(false),
                6 => self.peer_goes(true),
                _ => {}
            }
        }
        if let Some(done) = self.take(buf, true) {
            // The completion may be seen a little later (but the engine must know a
            // zero-byte read that found an empty message queued on Windows: it
            // completes at issue there, where it leaves the message).
            let wine = self.inbox().wine;
            let late = (!buf.is_empty() || wine) && self.pick() % 16 == 11;
            if late {
                let op = self.op.as_mut().expect("an operation is in flight");
                op.ended = Some(done);
                return None;
            }
            return Some(self.read_done(done));
        }
        let code = match self.peer {
            Peer::Closed => Some(ERROR_BROKEN_PIPE),
            Peer::Killed => Some(ERROR_PIPE_NOT_CONNECTED),
            Peer::Alive if self.nowait => Some(ERROR_NO_DATA),
            Peer::Alive => None,
        };
        if let Some(code) = code {
            return Some(self.read_failed(code));
        }
        let choice = self.pick();
        match choice % 16 {
            13 => Some(self.read_failed(READ_ERRORS[usize::from(choice / 16) % 6])),
            // A setter ran just before: the read pends already cancelled.
            14 => {
                self.setter();
                None
            }
            // Other code's CancelIoEx, right after the call.
            12 => {
                let op = self.op.as_mut().expect("an operation is in flight");
                op.cancel = true;
                None
            }
            _ => None,
        }
    }

    fn read_failed(&mut self, code: Code) -> Completion {
        if code == ERROR_NO_DATA {
            self.inbox().no_data();
        }
        self.deliver(code);
        Completion::failed(code)
    }

    /// A read that was waiting: a message that came meanwhile fills it (an empty one
    /// it takes), and else a close, a cancel or a stray failure ends it.
    pub(crate) fn complete_message_read(
        &mut self,
        buf: &mut [u8],
        cancel: bool,
        choice: u8,
    ) -> Option<Completion> {
        let late = self.op.as_ref().and_then(|op| op.ended);
        if let Some(done) = late {
            if choice % 16 == 15 && !cancel {
                return None;
            }
            return Some(self.read_done(done));
        }
        if let Some(done) = self.take(buf, false) {
            return Some(self.read_done(done));
        }
        let code = match self.peer {
            Peer::Closed => ERROR_BROKEN_PIPE,
            Peer::Killed => ERROR_PIPE_NOT_CONNECTED,
            Peer::Alive if cancel => ERROR_OPERATION_ABORTED,
            Peer::Alive if choice % 16 == 13 => READ_ERRORS[usize::from(choice / 16) % 6],
            Peer::Alive => return None,
        };
        Some(self.read_failed(code))
    }

    /// PeekNamedPipe on our end (the engine asks `empty_message_first` apart).
    pub(crate) fn peek_message(&mut self, buf: &mut [u8]) -> Result<Peeked, Code> {
        let choice = self.pick();
        let empty = self.inbox().is_empty();
        let code = match self.peer {
            Peer::Closed if empty => ERROR_BROKEN_PIPE,
            Peer::Killed => ERROR_PIPE_NOT_CONNECTED,
            _ if choice % 16 == 13 => READ_ERRORS[usize::from(choice / 16) % 6],
            _ => {
                let seen = self.inbox().peek(buf);
                self.call.peeked = buf[..seen.copied].to_vec();
                let junk = self.junk(seen.copied, buf.len(), choice);
                return Ok(Peeked {
                    copied: seen.copied + junk,
                    ..seen
                });
            }
        };
        self.deliver(code);
        Err(code)
    }

    /// The peer writes one message: empty now and then, sometimes long, and its
    /// write sometimes pends (the peer may cancel it later).
    pub(crate) fn peer_sends_message(&mut self) {
        if self.peer != Peer::Alive || self.inbox().bytes() >= INBOX_LIMIT {
            return;
        }
        let pick = self.src.byte();
        let len = match pick % 16 {
            0 | 1 => 0,
            2 => 100 + self.src.below(9000),
            3 => 1 + usize::from(self.src.byte() % 8),
            _ => 1 + usize::from(self.src.byte() % 120),
        };
        let pending = (pick / 16).is_multiple_of(3);
        self.inbox().send(len, pending);
    }

    /// What only the message target's peer and system do: cancel or complete a
    /// pending write, or other code switching our end's PIPE_NOWAIT.
    pub(crate) fn inbox_event(&mut self) {
        let pick = usize::from(self.src.byte());
        match pick % 8 {
            0..=2 => {
                self.inbox().withdraw(pick / 8);
                // What a peek's wait woke for may be gone: it may wait, or look, again.
                self.call.peek_woke_at = None;
                self.call.withdrawals += 1;
                self.call.probed = false;
            }
            3 | 4 => self.inbox().complete(pick / 8),
            5 => {
                self.nowait = true;
                self.foreign_nowait = true;
                self.call.foreign_nowait = true;
            }
            6 if self.foreign_nowait => {
                self.nowait = false;
                self.foreign_nowait = false;
            }
            _ => {}
        }
    }
}

/// Bytes `from..from + n` of message `id`, as the inbox made them.
pub(crate) fn msg_bytes(inbox: &Inbox, id: u64, from: usize, n: usize) -> Vec<u8> {
    (from..from + n)
        .map(|i| super::inbox::msg_byte(inbox.salt(), id, i))
        .collect()
}
