//! Hand-written message scenarios on the simulated kernel: every call is checked as
//! in the fuzz runs, and each test states the outcome its case must have. The peer
//! is quiet (it does only what the test says) and every other decision is 0.

use super::super::npfs::Arith;
use super::super::Source;
use super::Harness;
use crate::engine::message::Received;
use std::io::ErrorKind;
use std::time::Duration;

/// A connection on the given system with `quota` bytes of outbound buffer.
fn harness(wine: bool, quota: usize) -> Harness<'static> {
    let mut h = Harness::new(Source::Bytes(&[]));
    h.connect(wine, quota, Arith::Wrapping);
    let mut w = h.cell.borrow_mut();
    w.quiet = true;
    // Nothing will come but what the test sends: no call may wait for ever.
    w.settings.read_timeout = Some(Duration::from_millis(20));
    drop(w);
    h
}

/// The peer sends a `len`-byte message; `pending` if its write has not completed.
fn peer_sends(h: &Harness<'_>, len: usize, pending: bool) {
    let mut w = h.cell.borrow_mut();
    w.inbox.as_mut().expect("an inbox").send(len, pending);
}

fn owed(h: &Harness<'_>) -> bool {
    h.cell.borrow().inbox.as_ref().is_some_and(|i| i.owed)
}

fn got(len: usize, truncated: bool) -> Option<Received> {
    Some(Received { len, truncated })
}

#[test]
fn a_long_message_into_small_buffers_is_one_truncated_receive_each() {
    let mut h = harness(false, 64);
    peer_sends(&h, 10_000, false);
    peer_sends(&h, 3, false);
    peer_sends(&h, 9_000, false);
    // The rest of the 10 000 bytes is discarded, not returned as more messages.
    assert_eq!(h.recv(7), got(7, true));
    assert_eq!(h.recv(100), got(3, false));
    // recv_message grows past its first read for the whole message.
    assert_eq!(h.recv_message(2, 0).unwrap(), Some(9_000));
    assert!(h.recv(1).is_none(), "nothing left: it times out");
}

#[test]
fn an_empty_buffer_receives_a_message_as_truncated_and_an_empty_one_whole() {
    let mut h = harness(false, 64);
    peer_sends(&h, 5, false);
    peer_sends(&h, 0, false);
    assert_eq!(h.recv(0), got(0, true));
    assert_eq!(h.recv(0), got(0, false));
}

#[test]
fn a_peek_at_a_lone_empty_message_leaves_it_on_windows() {
    let mut h = harness(false, 64);
    peer_sends(&h, 0, false);
    // FSCTL_PIPE_PEEK counts it: no read, nothing owed.
    assert_eq!(h.peek(8).unwrap(), 0);
    assert!(!owed(&h));
    assert_eq!(h.peek(8).unwrap(), 0, "peeking again sees it again");
    assert_eq!(h.recv(8), got(0, false));
    assert!(h.recv(8).is_none(), "taken once, by the receive");
}

#[test]
fn a_peek_at_a_lone_empty_message_takes_and_owes_it_on_wine() {
    let mut h = harness(true, 64);
    peer_sends(&h, 0, false);
    // Wine counts no messages: the zero-byte read takes the empty message...
    assert_eq!(h.peek(8).unwrap(), 0);
    assert!(owed(&h));
    assert!(h.cell.borrow().inbox.as_ref().unwrap().is_empty());
    // ...so the peek, and then the receive, stand for it, and the data comes next.
    peer_sends(&h, 4, false);
    assert_eq!(h.peek(8).unwrap(), 0);
    assert_eq!(h.recv_message(0, 0).unwrap(), Some(0));
    assert!(!owed(&h));
    assert_eq!(h.peek(8).unwrap(), 4);
    assert_eq!(h.recv(8), got(4, false));
}

#[test]
fn an_empty_message_with_data_behind_it_peeks_as_empty() {
    for wine in [false, true] {
        let mut h = harness(wine, 64);
        peer_sends(&h, 0, false);
        peer_sends(&h, 6, false);
        // PeekNamedPipe: bytes queued, none copied.
        assert_eq!(h.peek(8).unwrap(), 0);
        assert!(!owed(&h), "no read was needed");
        assert_eq!(h.recv(8), got(0, false));
        assert_eq!(h.peek(8).unwrap(), 6);
        assert_eq!(h.recv(3), got(3, true));
    }
}

#[test]
fn a_timed_send_the_free_quota_cannot_hold_times_out_having_sent_nothing() {
    for wine in [false, true] {
        let mut h = harness(wine, 16);
        h.cell.borrow_mut().settings.write_timeout = Some(Duration::from_millis(10));
        let err = h.send(40).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        let w = h.cell.borrow();
        assert_eq!(w.owed(), 0, "the peer holds none of it");
        assert!(w.call.write_lens.is_empty(), "no write that could pend");
        drop(w);
        // One that fits goes at once, whole.
        assert_eq!(h.send(16).unwrap(), 16);
        assert_eq!(h.cell.borrow().owed(), 16);
    }
}

#[test]
fn a_nonblocking_send_behind_a_full_buffer_would_block_but_an_empty_one_goes() {
    let mut h = harness(false, 8);
    h.cell.borrow_mut().settings.nonblocking = true;
    assert_eq!(h.send(8).unwrap(), 8);
    assert_eq!(h.send(1).unwrap_err().kind(), ErrorKind::WouldBlock);
    // Charged nothing, an empty message completes even behind a full buffer.
    assert_eq!(h.send(0).unwrap(), 0);
    assert_eq!(h.cell.borrow().out.empties, 1);
}

#[test]
fn a_message_cut_while_read_is_invalid_data_and_nothing_is_appended() {
    let mut h = harness(false, 64);
    // Longer than recv_message's first read, and the peer's write still pends.
    peer_sends(&h, 6_000, true);
    h.cell.borrow_mut().inbox.as_mut().unwrap().cut_next = true;
    let err = h.recv_message(3, 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    // The next message is the next one the peer sends.
    peer_sends(&h, 5, false);
    assert_eq!(h.recv(8), got(5, false));
}

#[test]
fn a_cut_message_with_one_behind_it_is_glued_as_npfs_does() {
    let mut h = harness(false, 64);
    peer_sends(&h, 6_000, true);
    peer_sends(&h, 10, false);
    h.cell.borrow_mut().inbox.as_mut().unwrap().cut_next = true;
    // NPFS reads the next entry as the rest: the reader cannot tell (documented).
    assert_eq!(h.recv_message(0, 0).unwrap(), Some(4096 + 10));
    // A receive into a small buffer is truncated either way, and the stream goes on.
    peer_sends(&h, 6_000, true);
    peer_sends(&h, 7, false);
    h.cell.borrow_mut().inbox.as_mut().unwrap().cut_next = true;
    assert_eq!(h.recv(100), got(100, true));
    assert!(
        h.recv(8).is_none(),
        "the 7 bytes went as the cut message's rest"
    );
}
