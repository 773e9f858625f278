//! The `message_io` target: random sequences of `send`, `send_vectored`, `recv`,
//! `recv_message` and `peek` (src/engine/message.rs) on one end of a message-type
//! pipe read in message mode, against a peer whose messages may be empty, long,
//! withdrawn while partly read, or cut by its close or death; with timeouts,
//! nonblocking mode, shutdowns and setters racing every call, other code's
//! PIPE_NOWAIT, and a system that behaves as Windows or as Wine (input bits).

mod check;
mod inbox;
#[cfg(test)]
mod scenarios;
mod world;

pub(crate) use inbox::{Inbox, Log};

use super::kernel::{out_byte, Dir, World};
use super::npfs::{Arith, Outbound};
use super::port::Cell;
use super::stream::{call, cuts, quota_of};
use super::Source;
use crate::engine::message;
use check::Reader;
use std::cell::RefCell;
use std::io::IoSlice;
use std::time::Duration;

/// One pipe end under test, and what the checks remember between calls.
pub(crate) struct Harness<'s> {
    pub cell: Cell<'s>,
    /// What our sends reported (the next message's bytes start there).
    reported: u64,
    /// Empty messages our sends reported.
    empties: u64,
    reader: Reader,
    scratch: Vec<u8>,
}

impl<'s> Harness<'s> {
    pub(crate) fn new(src: Source<'s>) -> Self {
        let mut h = Harness {
            cell: RefCell::new(World::new(src)),
            reported: 0,
            empties: 0,
            reader: Reader::default(),
            scratch: Vec::new(),
        };
        h.reconnect();
        h
    }

    /// A fresh connection of a message-type pipe, as Windows or as Wine.
    pub(crate) fn reconnect(&mut self) {
        let mut w = self.cell.borrow_mut();
        w.reconnect();
        let shape = w.src.byte();
        let wine = shape & 1 == 1;
        let quota = match shape / 2 % 4 {
            0 => 0,
            1 => 1 + usize::from(shape / 8 % 8),
            _ => 1 + usize::from(w.src.byte() % 200),
        };
        let arith = match shape & 0xC0 {
            0xC0 => Arith::Saturating,
            _ => Arith::Wrapping,
        };
        drop(w);
        self.connect(wine, quota, arith);
    }

    /// The new connection's system and outbound quota.
    pub(crate) fn connect(&mut self, wine: bool, quota: usize, arith: Arith) {
        let mut w = self.cell.borrow_mut();
        let mut out = Outbound::new(quota, w.salt, arith, true);
        out.markers = false;
        out.split_nowait = wine;
        w.out = out;
        w.message_mode = true;
        w.nowait = false;
        w.foreign_nowait = false;
        w.inbox = Some(Inbox::new(!w.salt.rotate_left(17), wine));
        drop(w);
        self.reported = 0;
        self.empties = 0;
        self.reader = Reader::default();
    }

    fn wine(&self) -> bool {
        let w = self.cell.borrow();
        w.inbox.as_ref().is_some_and(|inbox| inbox.wine)
    }

    /// `recv` into a buffer of `len` bytes.
    pub(crate) fn recv(&mut self, len: usize) -> Option<message::Received> {
        let mut buf = vec![0u8; len];
        let owed = self.owed();
        let (result, expect) = call(&self.cell, Dir::Read, |port, policy, clock| {
            message::recv(port, &mut buf, &mut self.scratch, &policy, clock)
        });
        let w = self.cell.borrow();
        self.reader.recv(&w, &expect, &result, &buf, owed);
        result.ok().flatten()
    }

    /// `recv_message` appending to a buffer that holds `prefix` bytes and has room
    /// for `room` more.
    pub(crate) fn recv_message(
        &mut self,
        prefix: usize,
        room: usize,
    ) -> std::io::Result<Option<usize>> {
        let mut out = vec![0xA5u8; prefix];
        out.reserve_exact(room);
        let owed = self.owed();
        let (result, expect) = call(&self.cell, Dir::Read, |port, policy, clock| {
            message::recv_message(port, &mut out, &policy, clock)
        });
        let w = self.cell.borrow();
        self.reader
            .recv_message(&w, &expect, &result, &out, prefix, owed);
        result
    }

    /// `peek` into a buffer of `len` bytes.
    pub(crate) fn peek(&mut self, len: usize) -> std::io::Result<usize> {
        let mut buf = vec![0u8; len];
        let owed = self.owed();
        let (result, expect) = call(&self.cell, Dir::Read, |port, policy, clock| {
            message::peek(port, &mut buf, &policy, clock)
        });
        let w = self.cell.borrow();
        self.reader.peek(&w, &expect, &result, &buf, owed);
        result
    }

    /// The next message of our stream, `len` bytes.
    fn message(&self, len: usize) -> Vec<u8> {
        let salt = self.cell.borrow().salt;
        (0..len as u64)
            .map(|i| out_byte(salt, self.reported + i))
            .collect()
    }

    /// Whether the caller's probe says NPFS moves a message whole in PIPE_NOWAIT: true
    /// on Windows, false on Wine but now and then (a wrong probe).
    fn whole_at_once(&self) -> bool {
        !self.wine() || self.cell.borrow_mut().pick() % 8 == 7
    }

    /// `send` of a `len`-byte message.
    pub(crate) fn send(&mut self, len: usize) -> std::io::Result<usize> {
        let msg = self.message(len);
        let whole = self.whole_at_once();
        let before = self.cell.borrow().out.empties;
        let cell = &self.cell;
        let (result, expect) = call(cell, Dir::Write, |port, policy, clock| {
            message::send(port, &msg, &mut || quota_of(cell), whole, &policy, clock)
        });
        self.sent(&result, len, &expect, before);
        result
    }

    /// `send_vectored` of a `len`-byte message cut into slices.
    pub(crate) fn send_vectored(&mut self, len: usize) -> std::io::Result<usize> {
        let msg = self.message(len);
        let sizes = cuts(&self.cell, len);
        let whole = self.whole_at_once();
        let before = self.cell.borrow().out.empties;
        let mut rest = &msg[..];
        let parts: Vec<&[u8]> = sizes
            .iter()
            .map(|&n| {
                let (part, tail) = rest.split_at(n);
                rest = tail;
                part
            })
            .collect();
        let cell = &self.cell;
        let scratch = &mut self.scratch;
        let (result, expect) = call(cell, Dir::Write, |port, policy, clock| {
            let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
            message::send_vectored(
                port,
                &slices,
                scratch,
                &mut || quota_of(cell),
                whole,
                &policy,
                clock,
            )
        });
        self.sent(&result, len, &expect, before);
        result
    }

    fn sent(
        &mut self,
        result: &std::io::Result<usize>,
        len: usize,
        expect: &super::stream::check::Expect,
        empties_before: u64,
    ) {
        let w = self.cell.borrow();
        let (bytes, empty) = check::send(&w, expect, result, len, empties_before);
        self.reported += bytes;
        self.empties += u64::from(empty);
    }

    fn owed(&self) -> bool {
        let w = self.cell.borrow();
        w.inbox.as_ref().is_some_and(|inbox| inbox.owed)
    }

    /// What holds between calls.
    fn between_calls(&self) {
        let w = self.cell.borrow();
        assert!(
            w.owed() == self.reported || w.truth_lost,
            "invariant: sends reported {} bytes in all; the peer received {}",
            self.reported,
            w.owed()
        );
        assert!(
            w.out.empties == self.empties || w.truth_lost,
            "invariant: sends reported {} empty messages; the peer received {}",
            self.empties,
            w.out.empties
        );
        let inbox = w.inbox.as_ref().expect("an inbox");
        assert!(
            inbox.at_boundary(),
            "invariant: a call returned with a message half read"
        );
    }
}

/// Runs at most `steps` engine calls chosen by `src`, or until a byte input runs out.
pub(crate) fn run(src: Source<'_>, steps: usize) {
    let mut h = Harness::new(src);
    for _ in 0..steps {
        let (op, len) = {
            let mut w = h.cell.borrow_mut();
            if w.src.exhausted() {
                break;
            }
            let op = w.src.byte();
            let len = match w.src.byte() {
                b @ 0..=199 => usize::from(b % 100),
                b @ 200..=239 => usize::from(b % 8),
                b => 100 + usize::from(b) * 40,
            };
            (op, len)
        };
        let gone = {
            let w = h.cell.borrow();
            let drained = w.inbox.as_ref().is_some_and(Inbox::is_empty);
            w.peer != super::kernel::Peer::Alive && drained && op & 0x40 != 0
        };
        if h.cell.borrow().truth_lost || gone {
            // The peer holds part of a message whose send failed: start afresh.
            h.reconnect();
        }
        match op % 16 {
            0..=2 => {
                h.recv(len);
            }
            3 | 4 => {
                let (prefix, room) = (len % 7, len * 50);
                let _ = h.recv_message(prefix, room);
            }
            5 => {
                let _ = h.peek(len);
            }
            6 | 7 => {
                let _ = h.send(if op & 0x80 != 0 { 0 } else { len });
            }
            8 => {
                let _ = h.send_vectored(len);
            }
            9 => h.cell.borrow_mut().setter(),
            10 | 11 => {
                let mut w = h.cell.borrow_mut();
                let event = w.src.byte();
                w.peer_event(12 + event % 20);
            }
            12 => h.cell.borrow_mut().inbox_event(),
            13 => h.cell.borrow_mut().now += Duration::from_millis(len as u64),
            _ => {
                let w = h.cell.borrow();
                let shut = w.settings.shut_read || w.settings.shut_write;
                let done = shut || w.peer != super::kernel::Peer::Alive;
                drop(w);
                if done || len % 8 == 0 {
                    h.reconnect();
                }
            }
        }
        h.between_calls();
    }
}
