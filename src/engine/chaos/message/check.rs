//! The promises of the message calls, checked against what the kernel logged: which
//! message each read took, and where in it.

use super::super::kernel::World;
use super::super::stream::check::{read_error, Expect};
use super::inbox::{Inbox, Seg};
use super::world::msg_bytes;
use crate::engine::message::Received;
use crate::engine::Stop;
use std::io::{self, ErrorKind};

/// Where the caller is in the peer's messages.
#[derive(Default)]
pub(super) struct Reader {
    /// The id of the next message a receive must return.
    next: u64,
}

impl Reader {
    /// The next message, past those that left the queue before a byte was read.
    fn next(&mut self, inbox: &Inbox) -> u64 {
        while inbox.vanished.get(self.next as usize) == Some(&true) {
            self.next += 1;
        }
        self.next
    }

    /// What every receive and peek keeps: no wait and nothing read past the first
    /// sign that a message's rest is gone, and the owed flag as the reads justify.
    fn common<'w>(w: &'w World<'_>, expect: &Expect) -> &'w Inbox {
        let inbox = w.inbox.as_ref().expect("an inbox");
        let log = &inbox.log;
        // A rest the peer withdrew is known only from a read that pends: it is
        // cancelled at once, one more round trip.
        expect.timing_with(u32::from(!log.cuts.is_empty()));
        assert_eq!(expect.accepted, 0, "invariant: a receive wrote");
        assert!(
            !log.read_after_no_data,
            "invariant: a receive read on after ERROR_NO_DATA said its message's rest was gone"
        );
        if let Some(waits) = log.waits_at_part {
            assert_eq!(
                w.call.free_waits, waits,
                "invariant: a receive waited for the rest of a message (it is queued whole)"
            );
        }
        inbox
    }

    /// A receive's reads, from the start of message `m`: each goes on where the last
    /// stopped, and only a cut lets one go on into another message (the next one
    /// queued: NPFS glues them). Returns the last message read into and whether the
    /// reads reached its end.
    fn follow(&self, inbox: &Inbox, m: u64) -> (u64, bool) {
        let segs = &inbox.log.segs;
        let first = segs.first().expect("a read");
        assert!(
            first.id == m && first.from == 0,
            "invariant: a receive began in message {} at {}, not at the start of message {m}",
            first.id,
            first.from
        );
        let (mut cur, mut pos, mut ended) = (first.id, first.n, first.end);
        for seg in &segs[1..] {
            let cut = inbox.log.cuts.contains(&(cur, pos));
            if cut && !ended {
                let skipped = (cur + 1..seg.id).all(|id| inbox.vanished[id as usize]);
                assert!(
                    seg.id > cur && seg.from == 0 && skipped,
                    "invariant: after message {cur} was cut, a read took message {} at {}",
                    seg.id,
                    seg.from
                );
            } else {
                assert!(
                    !ended,
                    "invariant: a receive read on into message {} after message {cur} ended",
                    seg.id
                );
                assert!(
                    seg.id == cur && seg.from == pos,
                    "invariant: a receive's read took message {} at {}; message {cur} went \
                     on at {pos}",
                    seg.id,
                    seg.from
                );
            }
            if seg.id != cur {
                (cur, pos) = (seg.id, 0);
            }
            pos += seg.n;
            ended = seg.end;
        }
        assert!(
            ended || inbox.log.cuts.contains(&(cur, pos)),
            "invariant: a receive left message {cur} half read at {pos}"
        );
        (cur, ended)
    }

    /// The next message to deliver after a receive whose reads ended in message
    /// `last`, having started at `m`: the one after `last`, unless the read of a cut
    /// message's rest took `last`, an empty message, which the receive then owes.
    fn after(&mut self, inbox: &Inbox, m: u64, last: u64) {
        if last != m && inbox.lens[last as usize] == 0 {
            assert!(
                inbox.owed,
                "invariant: the read of a cut message's rest took empty message {last} and \
                 nothing owes it"
            );
            self.next = last;
        } else {
            self.next = last + 1;
        }
    }

    /// A receive that returned no message: it took none.
    fn nothing_taken(&self, inbox: &Inbox, what: &str) {
        assert!(
            inbox.log.segs.is_empty(),
            "invariant: a receive that returned {what} took {:?}",
            inbox.log.segs
        );
    }

    fn end(&self, inbox: &Inbox, expect: &Expect) {
        self.nothing_taken(inbox, "the end");
        assert!(
            expect.eof || expect.observed_shut() || expect.before.shut,
            "invariant: a receive returned the end with the peer there and no shutdown"
        );
    }

    fn failed(&self, inbox: &Inbox, expect: &Expect, err: &io::Error) {
        self.nothing_taken(inbox, "an error");
        read_error(err);
        expect.error(err);
    }

    /// An owed empty message, returned by a receive: no read, and it was the next.
    fn owed(&mut self, inbox: &Inbox) {
        assert!(
            inbox.log.segs.is_empty(),
            "invariant: a receive that returned the owed empty message read too"
        );
        assert!(
            !inbox.owed,
            "invariant: the owed empty message is owed still"
        );
        self.next += 1;
    }

    pub(super) fn recv(
        &mut self,
        w: &World<'_>,
        expect: &Expect,
        result: &io::Result<Option<Received>>,
        buf: &[u8],
        owed_before: bool,
    ) {
        let inbox = Self::common(w, expect);
        let got = match result {
            Ok(Some(got)) => *got,
            Ok(None) => return self.end(inbox, expect),
            Err(err) => return self.failed(inbox, expect, err),
        };
        if owed_before {
            assert_eq!(
                got,
                Received {
                    len: 0,
                    truncated: false
                },
                "invariant: the owed empty message came out as {got:?}"
            );
            return self.owed(inbox);
        }
        let m = self.next(inbox);
        let whole = inbox.lens[m as usize];
        let len = buf.len();
        assert_eq!(
            (got.len, got.truncated),
            (len.min(whole), whole > len),
            "invariant: a receive into {len} bytes of a {whole}-byte message returned {got:?}"
        );
        assert!(
            buf[..got.len] == msg_bytes(inbox, m, 0, got.len)[..],
            "invariant: a receive returned bytes that are not message {m}'s"
        );
        assert!(
            !inbox.log.segs.is_empty(),
            "invariant: a receive returned a message no read took"
        );
        let (last, _) = self.follow(inbox, m);
        self.after(inbox, m, last);
    }

    pub(super) fn recv_message(
        &mut self,
        w: &World<'_>,
        expect: &Expect,
        result: &io::Result<Option<usize>>,
        out: &[u8],
        start: usize,
        owed_before: bool,
    ) {
        let inbox = Self::common(w, expect);
        assert!(
            out[..start].iter().all(|&b| b == 0xA5),
            "invariant: recv_message changed what the buffer held"
        );
        let appended = out.len() - start;
        let got = match result {
            Ok(Some(n)) => *n,
            Err(err) if err.kind() == ErrorKind::InvalidData => {
                assert_eq!(appended, 0, "invariant: recv_message failed and appended");
                let m = self.next(inbox);
                let (last, ended) = self.follow(inbox, m);
                // Cut, or glued to an empty message (which goes with the cut one).
                let empty_glued = last != m && inbox.lens[last as usize] == 0;
                assert!(
                    !ended || empty_glued,
                    "invariant: recv_message said InvalidData, but took message {last} whole"
                );
                return self.after(inbox, m, last);
            }
            other => {
                assert_eq!(
                    appended, 0,
                    "invariant: recv_message returned {other:?} and appended"
                );
                return match other {
                    Ok(_) => self.end(inbox, expect),
                    Err(err) => self.failed(inbox, expect, err),
                };
            }
        };
        assert_eq!(
            got, appended,
            "invariant: recv_message's count is not what it added"
        );
        if owed_before {
            assert_eq!(
                got, 0,
                "invariant: the owed empty message came out with bytes"
            );
            return self.owed(inbox);
        }
        let m = self.next(inbox);
        let (last, ended) = self.follow(inbox, m);
        assert!(
            ended,
            "invariant: recv_message returned part of message {last}, whose rest was withdrawn"
        );
        let taken: Vec<u8> = inbox
            .log
            .segs
            .iter()
            .flat_map(|s: &Seg| msg_bytes(inbox, s.id, s.from, s.n))
            .collect();
        assert!(
            out[start..] == taken[..],
            "invariant: recv_message returned other bytes than its reads took"
        );
        if inbox.log.cuts.is_empty() {
            assert_eq!(
                got, inbox.lens[m as usize],
                "invariant: recv_message returned {got} bytes of message {m}"
            );
        }
        self.after(inbox, m, last);
    }

    pub(super) fn peek(
        &mut self,
        w: &World<'_>,
        expect: &Expect,
        result: &io::Result<usize>,
        buf: &[u8],
        owed_before: bool,
    ) {
        let inbox = Self::common(w, expect);
        let m = self.next(inbox);
        // The one read a peek may take: an empty message, which it then owes.
        let took = match inbox.log.segs[..] {
            [] => false,
            [Seg { id, n: 0, .. }] if id == m => true,
            ref segs => panic!("invariant: a peek took {segs:?}"),
        };
        assert_eq!(
            inbox.owed,
            owed_before || took,
            "invariant: after a peek that took an empty message: {took}, it owes one: {}",
            inbox.owed
        );
        let n = match result {
            Ok(n) => *n,
            Err(err) => return self.failed(inbox, expect, err),
        };
        assert!(
            n <= buf.len(),
            "invariant: peeked {n} bytes into {}",
            buf.len()
        );
        if owed_before || took {
            assert_eq!(
                n, 0,
                "invariant: a peek at an empty message returned {n} bytes"
            );
            return;
        }
        let whole = inbox.lens.get(m as usize).copied();
        if n > 0 {
            let whole = whole.expect("invariant: a peek returned bytes no message holds");
            assert_eq!(
                n,
                buf.len().min(whole),
                "invariant: a peek into {} bytes of a {whole}-byte message returned {n}",
                buf.len()
            );
            assert!(
                buf[..n] == msg_bytes(inbox, m, 0, n)[..],
                "invariant: a peek returned bytes that are not message {m}'s"
            );
            return;
        }
        let empty_next = whole == Some(0);
        assert!(
            buf.is_empty()
                || empty_next
                || expect.eof
                || expect.observed_shut()
                || expect.before.shut,
            "invariant: a peek returned 0 with message {m} ({whole:?} bytes) next and the \
             peer there"
        );
    }
}

/// Checks a send of a `len`-byte message; returns the bytes and empty messages the
/// peer now holds from it.
pub(super) fn send(
    w: &World<'_>,
    expect: &Expect,
    result: &io::Result<usize>,
    len: usize,
    empties_before: u64,
) -> (u64, bool) {
    expect.timing();
    assert!(
        w.inbox.as_ref().is_some_and(|i| i.log.segs.is_empty()),
        "invariant: a send read"
    );
    let c = &w.call;
    for &n in c.write_lens.iter().chain(&c.at_once_lens) {
        assert_eq!(
            n, len,
            "invariant: a send handed over {n} bytes of a {len}-byte message"
        );
    }
    assert!(
        !c.pended.contains(&Stop::ByPolicy),
        "invariant: a send that a timeout or nonblocking mode may stop issued a write that \
         pended (a cancel would cut it)"
    );
    let empties = w.out.empties - empties_before;
    match result {
        Ok(n) => {
            assert_eq!(*n, len, "invariant: a send of {len} bytes returned Ok({n})");
            assert!(
                expect.accepted == len as u64 || expect.truth_lost,
                "invariant: a send returned Ok({len}); the peer received {} bytes",
                expect.accepted
            );
            assert!(
                empties == u64::from(len == 0),
                "invariant: a send of {len} bytes made {empties} empty messages"
            );
            (len as u64, len == 0)
        }
        // NPFS never splits a message; a system that does (Wine in PIPE_NOWAIT) leaves
        // part of it with the peer, and the send says so.
        Err(err) if c.short_write && err.kind() == ErrorKind::Other && os_less(err) => {
            (expect.accepted, false)
        }
        Err(err) => {
            assert!(
                (expect.accepted == 0 && empties == 0) || expect.truth_lost,
                "invariant: a send returned {err:?}; the peer received {} bytes, {empties} \
                 empty messages",
                expect.accepted
            );
            expect.error(err);
            (0, false)
        }
    }
}

/// The error carries no system code.
fn os_less(err: &io::Error) -> bool {
    err.raw_os_error().is_none()
        && err
            .get_ref()
            .and_then(|e| e.downcast_ref::<io::Error>())
            .is_none()
}
