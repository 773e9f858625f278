//! The `stream_io` target: random sequences of read / write / peek / vectored calls on
//! one pipe end, with timeouts, nonblocking mode, shutdown and setter races, and a
//! peer that writes, drains, closes or is killed at any step.

pub(super) mod check;

use super::kernel::{out_byte, Dir, World};
use super::port::{Cell, KClock, KPort};
use super::Source;
use crate::engine::{self, Policy, Quota};
use check::Expect;
use std::cell::RefCell;
use std::io::{IoSlice, IoSliceMut};
use std::time::Duration;

/// Runs at most `steps` engine calls chosen by `src`, or until a byte input runs out.
pub(crate) fn run(src: Source<'_>, steps: usize) {
    let cell = RefCell::new(World::new(src));
    let mut scratch = Vec::new();
    let mut eof_seen = false;
    let mut reported: u64 = 0;
    let mut marker_sent = false;
    for _ in 0..steps {
        let (op, len) = {
            let mut w = cell.borrow_mut();
            if w.src.exhausted() {
                break;
            }
            if w.truth_lost {
                // The peer holds part of a write that failed: the byte stream can no
                // longer be checked, so the run goes on with a fresh connection.
                w.reconnect();
                eof_seen = false;
                reported = 0;
                marker_sent = false;
            }
            let op = w.src.byte();
            let len = usize::from(w.src.byte() % 100);
            (op, len)
        };
        match op % 12 {
            0..=1 => eof_seen = one_read(&cell, len, eof_seen),
            2..=3 => reported += one_write(&cell, len, reported),
            4 => eof_seen = one_peek(&cell, len, eof_seen),
            5 => eof_seen = one_read_vectored(&cell, len, eof_seen, &mut scratch),
            6 => reported += one_write_vectored(&cell, len, reported, &mut scratch),
            7 if len % 4 == 0 => one_shutdown(&cell, &mut marker_sent),
            7 => cell.borrow_mut().setter(),
            8 | 9 => {
                let mut w = cell.borrow_mut();
                let event = w.src.byte();
                w.peer_event(12 + event % 20);
            }
            10 => cell.borrow_mut().now += Duration::from_millis(len as u64),
            _ => {
                let mut w = cell.borrow_mut();
                if w.peer != super::kernel::Peer::Alive || len % 8 == 0 {
                    w.reconnect();
                    eof_seen = false;
                    reported = 0;
                    marker_sent = false;
                }
            }
        }
        let w = cell.borrow();
        assert!(
            w.owed() == reported || w.truth_lost,
            "invariant: writes reported {reported} bytes in all; the peer received {}",
            w.owed()
        );
        assert!(
            !w.marker_taken || eof_seen,
            "invariant: a read took the end-of-stream marker, but no call returned the end"
        );
        if let Some(at) = w.out.marker_at {
            assert!(
                at == reported || w.truth_lost,
                "invariant: the end-of-stream marker went after {at} bytes, not after all \
                 {reported} the writes reported"
            );
        }
    }
}

/// `shutdown(Write)` as `WinStream` does it: the write direction is shut (waking
/// what it concerns), then, once per connection and only on a message-type pipe, the
/// end-of-stream marker is sent.
fn one_shutdown(cell: &Cell<'_>, marker_sent: &mut bool) {
    {
        let mut w = cell.borrow_mut();
        w.settings.shut_write = true;
        if *marker_sent || !w.out.message_type() {
            return;
        }
    }
    *marker_sent = true;
    let (result, _) = call(cell, Dir::Write, |port, _, clock| {
        engine::end_writes(port, clock)
    });
    let w = cell.borrow();
    match result {
        Ok(()) => assert!(
            w.out.marker_at.is_some() || w.peer != super::kernel::Peer::Alive,
            "invariant: shutdown said the end of stream was sent; the pipe got none"
        ),
        Err(err) => assert!(
            w.out.marker_at.is_none(),
            "invariant: shutdown failed ({err}) after sending the end of stream"
        ),
    }
}

/// What NtQueryInformationFile tells winpipe of the pipe's free write quota
/// (`WriteQuotaAvailable`, at most the quota, as `WinStream` takes it) and of the
/// quota, or nothing when the call fails (as after a disconnect).
pub(super) fn quota_of(cell: &Cell<'_>) -> Option<Quota> {
    let mut w = cell.borrow_mut();
    let size = w.out.quota();
    let free = w.out.write_quota_available().min(size);
    let answer = (w.pick() % 16 != 9).then_some(Quota { free, size });
    w.call.quota_answers.push(answer);
    answer
}

/// Runs one call with the policy and clock of direction `dir`.
pub(super) fn call<T>(
    cell: &Cell<'_>,
    dir: Dir,
    body: impl FnOnce(&mut KPort<'_, '_>, &dyn Fn() -> Policy, &KClock<'_, '_>) -> T,
) -> (T, Expect) {
    let before = {
        let mut w = cell.borrow_mut();
        w.begin_call(dir);
        w.settings
    };
    let policy = || cell.borrow_mut().observe();
    let result = body(&mut KPort(cell), &policy, &KClock(cell));
    let w = cell.borrow();
    assert!(
        !w.nowait || w.foreign_nowait,
        "invariant: a call left the pipe end in its nonblocking completion mode"
    );
    drop(w);
    let expect = Expect::after(&cell.borrow(), before);
    (result, expect)
}

fn one_read(cell: &Cell<'_>, len: usize, eof_seen: bool) -> bool {
    let mut buf = vec![0u8; len];
    let (result, expect) = call(cell, Dir::Read, |port, policy, clock| {
        engine::read(port, &mut buf, &policy, clock)
    });
    expect.read(&result, &buf, len, eof_seen)
}

fn one_peek(cell: &Cell<'_>, len: usize, eof_seen: bool) -> bool {
    let mut buf = vec![0u8; len];
    let (result, expect) = call(cell, Dir::Read, |port, policy, clock| {
        engine::peek(port, &mut buf, &policy, clock)
    });
    expect.peek(&result, &buf, len, eof_seen)
}

/// Cuts `total` bytes into up to four slices (some empty) at points `src` picks.
pub(super) fn cuts(cell: &Cell<'_>, total: usize) -> Vec<usize> {
    let mut w = cell.borrow_mut();
    let count = 1 + usize::from(w.src.byte() % 4);
    let mut left = total;
    let mut sizes = Vec::new();
    for i in 0..count {
        let size = if i + 1 == count {
            left
        } else {
            w.src.below(left + 1)
        };
        sizes.push(size);
        left -= size;
    }
    sizes
}

fn one_read_vectored(cell: &Cell<'_>, len: usize, eof_seen: bool, scratch: &mut Vec<u8>) -> bool {
    let sizes = cuts(cell, len);
    let cap = {
        let mut w = cell.borrow_mut();
        1 + usize::from(w.src.byte() % 128)
    };
    let mut store: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![0u8; n]).collect();
    let (result, expect) = call(cell, Dir::Read, |port, policy, clock| {
        let mut slices: Vec<IoSliceMut<'_>> =
            store.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        engine::read_vectored(port, &mut slices, scratch, cap, &policy, clock)
    });
    // One non-empty slice is read into directly; several share one read of `cap`.
    let most = if sizes.iter().filter(|&&n| n > 0).count() <= 1 {
        len
    } else {
        len.min(cap)
    };
    expect.read(&result, &store.concat(), most, eof_seen)
}

fn one_write(cell: &Cell<'_>, len: usize, reported: u64) -> u64 {
    let salt = cell.borrow().salt;
    let buf: Vec<u8> = (0..len as u64)
        .map(|i| out_byte(salt, reported + i))
        .collect();
    let (result, expect) = call(cell, Dir::Write, |port, policy, clock| {
        engine::write(port, &buf, &mut || quota_of(cell), &policy, clock)
    });
    check::whole_first_write(&cell.borrow(), len);
    expect.write(&result, len, engine::MAX_WRITE)
}

fn one_write_vectored(cell: &Cell<'_>, len: usize, reported: u64, scratch: &mut Vec<u8>) -> u64 {
    let salt = cell.borrow().salt;
    let sizes = cuts(cell, len);
    let mut next = reported;
    let store: Vec<Vec<u8>> = sizes
        .iter()
        .map(|&n| {
            let part = (next..next + n as u64).map(|i| out_byte(salt, i)).collect();
            next += n as u64;
            part
        })
        .collect();
    scratch.clear();
    let (result, expect) = call(cell, Dir::Write, |port, policy, clock| {
        let slices: Vec<IoSlice<'_>> = store.iter().map(|b| IoSlice::new(b)).collect();
        engine::write_vectored(
            port,
            &slices,
            scratch,
            &mut || quota_of(cell),
            &policy,
            clock,
        )
    });
    check::whole_first_write(&cell.borrow(), len);
    check::gathered_only_what_was_written(&cell.borrow(), scratch);
    expect.write(&result, len, engine::MAX_WRITE)
}
