//! The engine's `Pending` and `Clock` over the simulated kernel, and the one way
//! requests are issued to it.

use super::kernel::{Buf, OpState, Peer, World};
use crate::engine::{Clock, Code, Completion, Issued, Peeked, Pending, Port, Request, Stop, Wake};
use crate::ffi::{ERROR_MORE_DATA, ERROR_NO_DATA, ERROR_PIPE_NOT_CONNECTED};
use std::cell::RefCell;
use std::time::Duration;

pub(crate) type Cell<'s> = RefCell<World<'s>>;

pub(crate) struct KPending<'w, 's, 'b> {
    world: &'w Cell<'s>,
    buf: Buf<'b>,
    result: Option<Completion>,
}

impl Pending for KPending<'_, '_, '_> {
    fn poll(&mut self) -> Option<Completion> {
        let mut w = self.world.borrow_mut();
        if self.result.is_none() {
            if w.pick() % 16 == 15 {
                let event = w.src.byte();
                w.peer_event(event);
            }
            self.result = w.try_complete(&mut self.buf);
        }
        if self.result.is_some() {
            // GetOverlappedResult said done: the buffer and OVERLAPPED are ours again.
            w.held = false;
        }
        self.result
    }

    fn wait(&mut self, timeout: Option<Duration>) {
        let mut w = self.world.borrow_mut();
        assert!(
            w.held,
            "invariant: waiting on an operation already collected"
        );
        w.wait(timeout, self.result.is_some());
    }

    fn cancel(&mut self) {
        let mut w = self.world.borrow_mut();
        assert!(
            w.held,
            "invariant: cancelling an operation already collected"
        );
        w.cancel();
    }
}

pub(crate) struct KClock<'w, 's>(pub &'w Cell<'s>);

impl Clock for KClock<'_, '_> {
    fn now(&self) -> Duration {
        self.0.borrow().elapsed()
    }
}

/// Issues `buf`'s request on the simulated kernel and lets `drive` see it through,
/// asserting that the kernel no longer holds the buffer when the engine returns.
pub(crate) fn submit<R>(
    cell: &Cell<'_>,
    mut buf: Buf<'_>,
    wake: Wake,
    drive: impl FnOnce(Issued<'_>) -> R,
) -> R {
    let withdrawals = cell.borrow().call.withdrawals;
    let at_once = {
        let mut w = cell.borrow_mut();
        assert!(
            !w.held,
            "invariant: an operation issued while the kernel holds another"
        );
        // A call's first read, write or connect is its attempt, made whatever the
        // policy says but shutdown (a nonblocking call tries once). Anything issued
        // after it, and a peek's wait for data, must follow a policy read that said
        // go on: after a setter says stop, nothing more is issued.
        let peek_wait = matches!(&buf, Buf::Read(b) if b.is_empty());
        // One exception: a nonblocking peek on a message-mode handle may look once,
        // not waiting, for an end-of-stream marker PeekNamedPipe cannot show.
        let stopped_by = w.call.observed.map(|(_, policy)| policy);
        let probe = peek_wait
            && w.message_mode
            && !w.call.probed
            && stopped_by.is_some_and(|p| p.nonblocking && !p.shut);
        w.call.probed |= probe;
        // A receive that took part of a message reads its rest whatever the policy.
        let rest_due = w
            .inbox
            .as_ref()
            .is_some_and(|i| i.log.waits_at_part.is_some());
        if (w.call.issued > 0 || peek_wait) && !probe && !rest_due {
            assert_eq!(
                w.call.go,
                Some(true),
                "invariant: an operation issued although the policy it last read said stop"
            );
        }
        match &buf {
            Buf::Write(b) if w.nowait => w.call.at_once_lens.push(b.len()),
            Buf::Write(b) => w.call.write_lens.push(b.len()),
            _ => {}
        }
        // A peek that found nothing after its last wait for data must get past what
        // stops it (an empty message) before it waits again at the same instant.
        if peek_wait {
            assert_ne!(
                w.call.peek_woke_at,
                Some(w.now),
                "invariant: a peek waited for data again at once (a spin)"
            );
        }
        w.call.peek_woke_at = None;
        w.held = true;
        w.call.issued += 1;
        w.call.exact |= wake.stop == Stop::ByShutdown;
        w.op = Some(OpState::new(wake));
        let done = w.issue(&mut buf);
        if done.is_some() {
            w.held = false;
        }
        done
    };
    let peek_wait = matches!(&buf, Buf::Read(b) if b.is_empty());
    let (result, done) = match at_once {
        Some(done) => (drive(Issued::Done(done)), Some(done)),
        None => {
            let mut pending = KPending {
                world: cell,
                buf,
                result: None,
            };
            let result = drive(Issued::Pending(&mut pending));
            (result, pending.result)
        }
    };
    let mut w = cell.borrow_mut();
    assert!(
        !w.held,
        "invariant: the engine returned while the kernel still held the buffer"
    );
    w.op = None;
    let woke = done.is_some_and(|d| matches!(d.error, None | Some(ERROR_MORE_DATA)));
    // A wait whose data the peer withdrew before the engine saw it woke for nothing.
    if peek_wait && woke && w.call.withdrawals == withdrawals {
        w.call.peek_woke_at = Some(w.now);
    }
    result
}

/// The engine's `Port` over the simulated kernel: one pipe end.
pub(crate) struct KPort<'w, 's>(pub &'w Cell<'s>);

impl Port for KPort<'_, '_> {
    fn submit<R>(
        &mut self,
        request: Request<'_>,
        wake: Wake,
        drive: impl FnOnce(Issued<'_>) -> R,
    ) -> R {
        let buf = match request {
            Request::Read(b) => Buf::Read(b),
            Request::Write(b) => Buf::Write(b),
            Request::Connect => panic!("invariant: ConnectNamedPipe issued on a stream"),
        };
        submit(self.0, buf, wake, drive)
    }

    fn peek(&mut self, buf: &mut [u8]) -> Result<usize, Code> {
        self.0.borrow_mut().peek(buf).map(|seen| seen.copied)
    }

    fn peek_counts(&mut self, buf: &mut [u8]) -> Result<Peeked, Code> {
        self.0.borrow_mut().peek(buf)
    }

    fn reads_messages(&mut self) -> bool {
        self.0.borrow().message_mode
    }

    fn nap(&mut self, pause: Duration) {
        self.0.borrow_mut().nap(pause);
    }

    fn set_nowait(&mut self, nowait: bool, _messages: bool) -> bool {
        self.0.borrow_mut().set_nowait(nowait)
    }

    /// As NPFS's `FilePipeLocalInformation` reports `NamedPipeState`.
    /// The state is the system's answer, so its code counts as one the kernel gave.
    fn peer_gone(&mut self) -> Option<Code> {
        let mut w = self.0.borrow_mut();
        let code = match w.peer {
            Peer::Alive => return None,
            Peer::Closed => ERROR_NO_DATA,
            Peer::Killed => ERROR_PIPE_NOT_CONNECTED,
        };
        w.deliver(code);
        Some(code)
    }

    fn empty_message_first(&mut self) -> bool {
        let w = self.0.borrow();
        w.inbox.as_ref().is_some_and(|inbox| inbox.empty_first())
    }

    /// The flag lives where `Shared` keeps it for the stream and its clones.
    fn owe_empty_message(&mut self) {
        let mut w = self.0.borrow_mut();
        let inbox = w
            .inbox
            .as_mut()
            .expect("invariant: owes an empty message on a stream");
        assert!(!inbox.owed, "invariant: owes a second empty message");
        inbox.owed = true;
    }

    fn owed_empty_message(&mut self, take: bool) -> bool {
        let mut w = self.0.borrow_mut();
        let Some(inbox) = w.inbox.as_mut() else {
            return false;
        };
        let owed = inbox.owed;
        inbox.owed &= !take;
        owed
    }

    fn end_of_stream(&mut self) {
        self.0.borrow_mut().end_of_stream();
    }
}
