//! The peer's messages as NPFS queues them for our end, which reads in message mode
//! (ReactOS `npfs/readsup.c`, `datasup.c`, `writesup.c`):
//!
//! - each peer write is one entry, queued whole when it is issued; it may pend (the
//!   peer's quota is short), and then the peer can cancel it: `NpCancelDataQueueIrp`
//!   removes the entry even if we read part of it and resets `ByteOffset`, so our next
//!   read goes on in the *next* entry (a "cut", which glues the two);
//! - a read stops at the end of the entry it starts in: `NpReadDataQueue` in message
//!   mode, STATUS_BUFFER_OVERFLOW (ERROR_MORE_DATA) with the bytes if it did not reach
//!   it. An empty entry is an empty message: a read takes it with 0 bytes, success;
//! - a zero-byte read completes with ERROR_MORE_DATA at data without taking any, and
//!   with success at an empty message, which it takes if it was waiting when the
//!   message came (`NpWriteDataQueue` fills it). One issued with the empty message
//!   queued leaves it on Windows and takes it on Wine (Wine's `test_blocking_rw`);
//! - PeekNamedPipe copies from the first entry only; `lpTotalBytesAvail` counts all
//!   (`NpPeek`'s `ReadDataAvailable`). `FSCTL_PIPE_PEEK`'s message count shows an
//!   empty first entry on Windows; Wine counts no messages.
//!
//! Every byte is a function of its message and offset, so the checker can tell which
//! message and where any byte the engine returns came from.

use super::super::stream_byte;
use crate::engine::{Completion, Peeked};
use crate::ffi::ERROR_MORE_DATA;
use std::collections::VecDeque;

/// One peer write in the queue.
struct Entry {
    id: u64,
    len: usize,
    /// The peer's write has not completed: the peer may still cancel it.
    pending: bool,
}

/// What one read took: bytes `from..from + n` of message `id` (`n` 0 for an empty
/// message), and whether that was the message's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seg {
    pub id: u64,
    pub from: usize,
    pub n: usize,
    pub end: bool,
}

/// What happened to our reads during one engine call.
#[derive(Default)]
pub(crate) struct Log {
    pub segs: Vec<Seg>,
    /// Messages that left the queue partly read (the peer cancelled its write, closed
    /// or was killed): the message, and how much of it we had.
    pub cuts: Vec<(u64, usize)>,
    /// After a read that left a message's rest queued: a read that found the queue
    /// empty with ERROR_NO_DATA (the rest is not there: it was withdrawn).
    pub no_data_after_part: bool,
    /// Free waits when the first read that left a message's rest queued completed.
    pub waits_at_part: Option<usize>,
    /// A segment came after `no_data_after_part`.
    pub read_after_no_data: bool,
}

pub(crate) struct Inbox {
    queue: VecDeque<Entry>,
    /// `ByteOffset`: what we have read of the first entry.
    offset: usize,
    /// The length of every message the peer sent on this connection, by id.
    pub lens: Vec<usize>,
    /// Messages that left the queue before we read a byte of them.
    pub vanished: Vec<bool>,
    salt: u64,
    /// The system is Wine: a zero-byte read takes a queued empty message, and no
    /// message is counted.
    pub wine: bool,
    /// The `Shared` flag: a peek's wait took an empty message, owed to the next receive.
    pub owed: bool,
    /// Scenarios: the peer cancels its partly read write before our next read.
    pub cut_next: bool,
    pub log: Log,
}

/// Byte `i` of message `id`.
pub(crate) fn msg_byte(salt: u64, id: u64, i: usize) -> u8 {
    stream_byte(salt ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15), i as u64)
}

impl Inbox {
    pub(crate) fn new(salt: u64, wine: bool) -> Self {
        Inbox {
            queue: VecDeque::new(),
            offset: 0,
            lens: Vec::new(),
            vanished: Vec::new(),
            salt,
            wine,
            owed: false,
            cut_next: false,
            log: Log::default(),
        }
    }

    pub(crate) fn salt(&self) -> u64 {
        self.salt
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Unread bytes in all messages.
    pub(crate) fn bytes(&self) -> usize {
        self.queue.iter().map(|e| e.len).sum::<usize>() - self.offset
    }

    /// Whether the next read starts a message (no message is left half read).
    pub(crate) fn at_boundary(&self) -> bool {
        self.offset == 0
    }

    /// The peer's WriteFile of a `len`-byte message; `pending` if it does not complete.
    pub(crate) fn send(&mut self, len: usize, pending: bool) {
        let id = self.lens.len() as u64;
        self.lens.push(len);
        self.vanished.push(false);
        // An empty message is charged nothing and completes at once.
        let pending = pending && len > 0;
        self.queue.push_back(Entry { id, len, pending });
    }

    /// ReadFile into a non-empty `buf`, in message mode; `None` if nothing is queued.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> Option<Completion> {
        let head = self.queue.front()?;
        let (id, len) = (head.id, head.len);
        let n = buf.len().min(len - self.offset);
        for (i, dst) in buf[..n].iter_mut().enumerate() {
            *dst = msg_byte(self.salt, id, self.offset + i);
        }
        let from = self.offset;
        self.offset += n;
        let end = self.offset == len;
        self.took(Seg { id, from, n, end });
        if end {
            // NpRemoveDataQueueEntry: a pending peer write read to the end completes.
            self.queue.pop_front();
            self.offset = 0;
            return Some(Completion {
                bytes: n,
                error: None,
            });
        }
        Some(Completion {
            bytes: n,
            error: Some(ERROR_MORE_DATA),
        })
    }

    fn took(&mut self, seg: Seg) {
        if self.log.no_data_after_part {
            self.log.read_after_no_data = true;
        }
        self.log.segs.push(seg);
    }

    /// A zero-byte ReadFile; `at_issue` if it finds the queue as it is issued (else it
    /// was waiting). `None` if nothing is queued.
    pub(crate) fn zero_read(&mut self, at_issue: bool) -> Option<Completion> {
        let head = self.queue.front()?;
        if head.len > 0 {
            return Some(Completion {
                bytes: 0,
                error: Some(ERROR_MORE_DATA),
            });
        }
        if !at_issue || self.wine {
            let id = head.id;
            self.queue.pop_front();
            self.took(Seg {
                id,
                from: 0,
                n: 0,
                end: true,
            });
        }
        Some(Completion {
            bytes: 0,
            error: None,
        })
    }

    /// PeekNamedPipe: copies from the first message only.
    pub(crate) fn peek(&self, buf: &mut [u8]) -> Peeked {
        let copied = match self.queue.front() {
            Some(head) => {
                let n = buf.len().min(head.len - self.offset);
                for (i, dst) in buf[..n].iter_mut().enumerate() {
                    *dst = msg_byte(self.salt, head.id, self.offset + i);
                }
                n
            }
            None => 0,
        };
        Peeked {
            copied,
            queued: self.bytes(),
        }
    }

    /// `FSCTL_PIPE_PEEK`: an empty message heads the queue (never seen on Wine).
    pub(crate) fn empty_first(&self) -> bool {
        !self.wine && self.queue.front().is_some_and(|e| e.len == 0)
    }

    /// NpCancelDataQueueIrp on the peer's pending write number `pick` (of those
    /// pending): its entry leaves the queue, read or not.
    pub(crate) fn withdraw(&mut self, pick: usize) {
        let pending: Vec<usize> = (0..self.queue.len())
            .filter(|&i| self.queue[i].pending)
            .collect();
        if pending.is_empty() {
            return;
        }
        let i = pending[pick % pending.len()];
        self.remove(i);
    }

    /// Entry `i` leaves the queue: a cut if we had part of it.
    fn remove(&mut self, i: usize) {
        let entry = self.queue.remove(i).expect("an entry");
        if i == 0 && self.offset > 0 {
            self.log.cuts.push((entry.id, self.offset));
            self.offset = 0;
        } else {
            self.vanished[entry.id as usize] = true;
        }
    }

    /// Whether the head is a pending write we have read part of: the moment a cancel
    /// by the peer cuts a message.
    pub(crate) fn head_cuttable(&self) -> bool {
        self.offset > 0 && self.queue.front().is_some_and(|e| e.pending)
    }

    /// The peer cancels its pending write at the head.
    pub(crate) fn cut_head(&mut self) {
        self.remove(0);
    }

    /// The peer's pending write number `pick` completes (its quota came free).
    pub(crate) fn complete(&mut self, pick: usize) {
        let count = self.queue.iter().filter(|e| e.pending).count();
        if count > 0 {
            let mut pending = self.queue.iter_mut().filter(|e| e.pending);
            if let Some(e) = pending.nth(pick % count) {
                e.pending = false;
            }
        }
    }

    /// The peer closed its handle: its pending writes are cancelled (the rest stays
    /// readable).
    pub(crate) fn close(&mut self) {
        while let Some(i) = self.queue.iter().position(|e| e.pending) {
            self.remove(i);
        }
    }

    /// The server disconnected the instance: everything unread is discarded
    /// (NpSetDisconnectedPipeState).
    pub(crate) fn discard(&mut self) {
        while !self.queue.is_empty() {
            self.remove(0);
        }
    }

    /// A read found nothing queued with ERROR_NO_DATA.
    pub(crate) fn no_data(&mut self) {
        if self.log.waits_at_part.is_some() {
            self.log.no_data_after_part = true;
        }
    }

    /// A read that left a message's rest queued completed, after `free_waits` waits.
    pub(crate) fn part(&mut self, free_waits: usize) {
        self.log.waits_at_part.get_or_insert(free_waits);
    }
}
