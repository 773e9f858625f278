//! Host tests of the blocking logic against the simulated kernel in `sim`.

use super::sim::{Event, SimClock, SimPort};
use super::*;
use crate::ffi::*;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, ErrorKind, IoSlice, IoSliceMut};

/// The pipe's free write quota, of a quota of the same size.
fn free(n: usize) -> Option<Quota> {
    Some(Quota { free: n, size: n })
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn blocking() -> impl Fn() -> Policy {
    || Policy::default()
}

fn nonblocking() -> impl Fn() -> Policy {
    || Policy {
        nonblocking: true,
        ..Policy::default()
    }
}

fn timeout(t: u64) -> impl Fn() -> Policy {
    move || Policy {
        timeout: Some(ms(t)),
        ..Policy::default()
    }
}

#[test]
fn read_returns_buffered_bytes_at_once() {
    let mut port = SimPort::new(64);
    port.0.borrow_mut().inbound.extend(b"hello");
    let clock = port.clock();
    let mut buf = [0; 16];
    assert_eq!(read(&mut port, &mut buf, &blocking(), &clock).unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(clock.now(), Duration::ZERO);
}

#[test]
fn blocking_read_waits_for_data() {
    let mut port = SimPort::new(64);
    port.0.borrow_mut().at(30, Event::Arrive(b"late".to_vec()));
    let clock = port.clock();
    let mut buf = [0; 16];
    assert_eq!(read(&mut port, &mut buf, &blocking(), &clock).unwrap(), 4);
    assert_eq!(&buf[..4], b"late");
    assert_eq!(clock.now(), ms(30));
}

#[test]
fn timed_out_read_loses_nothing_that_arrives_later() {
    let mut port = SimPort::new(64);
    port.0.borrow_mut().at(80, Event::Arrive(b"after".to_vec()));
    let clock = port.clock();
    let mut buf = [0; 16];
    let err = read(&mut port, &mut buf, &timeout(50), &clock).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(clock.now(), ms(50), "gave up exactly at the deadline");
    assert_eq!(read(&mut port, &mut buf, &blocking(), &clock).unwrap(), 5);
    assert_eq!(&buf[..5], b"after");
}

#[test]
fn data_arriving_at_the_deadline_is_returned_not_dropped() {
    let mut port = SimPort::new(64);
    port.0.borrow_mut().at(50, Event::Arrive(b"edge".to_vec()));
    let clock = port.clock();
    let mut buf = [0; 16];
    assert_eq!(read(&mut port, &mut buf, &timeout(50), &clock).unwrap(), 4);
}

#[test]
fn nonblocking_read_never_waits() {
    let mut port = SimPort::new(64);
    port.0.borrow_mut().at(1, Event::Arrive(b"x".to_vec()));
    let clock = port.clock();
    let nonblocking = || Policy {
        nonblocking: true,
        ..Policy::default()
    };
    let err = read(&mut port, &mut [0; 4], &nonblocking, &clock).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    assert_eq!(clock.now(), Duration::ZERO);
    assert!(port.0.borrow().waits.is_empty());
}

#[test]
fn eof_after_every_buffered_byte() {
    let mut port = SimPort::new(64);
    port.0.borrow_mut().inbound.extend(b"tail");
    port.0.borrow_mut().peer_closed = true;
    let clock = port.clock();
    let mut buf = [0; 2];
    assert_eq!(read(&mut port, &mut buf, &blocking(), &clock).unwrap(), 2);
    assert_eq!(read(&mut port, &mut buf, &blocking(), &clock).unwrap(), 2);
    assert_eq!(read(&mut port, &mut buf, &blocking(), &clock).unwrap(), 0);
    assert_eq!(read(&mut port, &mut buf, &blocking(), &clock).unwrap(), 0);
}

#[test]
fn a_peer_closing_during_a_blocked_read_gives_eof() {
    let mut port = SimPort::new(64);
    port.0.borrow_mut().at(40, Event::Close);
    let clock = port.clock();
    assert_eq!(
        read(&mut port, &mut [0; 4], &blocking(), &clock).unwrap(),
        0
    );
    assert_eq!(clock.now(), ms(40));
}

#[test]
fn a_timeout_set_while_blocked_is_obeyed() {
    let mut port = SimPort::new(64);
    // Nothing ever arrives; at 20 ms another thread sets a 40 ms timeout.
    port.0.borrow_mut().at(20, Event::Drain(0));
    let clock = port.clock();
    let policy_clock = clock.clone();
    let policy = move || Policy {
        timeout: (policy_clock.now() >= ms(20)).then(|| ms(40)),
        ..Policy::default()
    };
    let err = read(&mut port, &mut [0; 4], &policy, &clock).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(clock.now(), ms(40));
}

#[test]
fn shutdown_while_blocked_ends_the_read_with_eof() {
    let mut port = SimPort::new(64);
    port.0.borrow_mut().at(10, Event::Drain(0));
    let clock = port.clock();
    let policy_clock = clock.clone();
    let policy = move || Policy {
        shut: policy_clock.now() >= ms(10),
        ..Policy::default()
    };
    assert_eq!(read(&mut port, &mut [0; 4], &policy, &clock).unwrap(), 0);
    assert_eq!(clock.now(), ms(10));
}

#[test]
fn a_setter_cancelling_the_read_does_not_fail_it() {
    // A setter wakes blocked calls with CancelIoEx. When nothing that matters to the read
    // changed, it is issued again and still gets its data.
    let port = SimPort::new(64);
    port.0.borrow_mut().at(30, Event::Arrive(b"ok".to_vec()));
    let clock = port.clock();
    let mut aborted_once = AbortOnce {
        inner: port.clone(),
        aborted: false,
    };
    let mut buf = [0; 4];
    assert_eq!(
        read(&mut aborted_once, &mut buf, &blocking(), &clock).unwrap(),
        2
    );
    assert_eq!(&buf[..2], b"ok");
    assert_eq!(port.0.borrow().issued, 2);
}

#[test]
fn a_setter_that_says_stop_costs_no_second_operation() {
    // The setter's cancel arrives with nonblocking already set: the read returns
    // WouldBlock without issuing (and cancelling) another ReadFile.
    let port = SimPort::new(64);
    let clock = port.clock();
    let mut aborted_once = AbortOnce {
        inner: port.clone(),
        aborted: false,
    };
    let nonblocking = || Policy {
        nonblocking: true,
        ..Policy::default()
    };
    let err = read(&mut aborted_once, &mut [0; 4], &nonblocking, &clock).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    assert_eq!(port.0.borrow().issued, 1);
}

#[test]
fn a_blocking_write_other_code_cancelled_invites_no_retry() {
    // Issued with no timeout, the write is cancelled by CancelIoEx from other code:
    // the peer may have part of it, so the error must not say `TimedOut` (std's kind
    // for 995, "nothing moved"), and the write is not issued again.
    let port = SimPort::new(64);
    let clock = port.clock();
    let mut aborted_once = AbortOnce {
        inner: port.clone(),
        aborted: false,
    };
    let err = write(&mut aborted_once, b"abc", &mut unasked, &blocking(), &clock).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<io::Error>());
    assert_eq!(inner.and_then(io::Error::raw_os_error), Some(995));
    assert_eq!(port.0.borrow().issued, 1);
}

/// A port whose first operation is aborted, as when a setter calls CancelIoEx.
struct AbortOnce {
    inner: SimPort,
    aborted: bool,
}

impl Port for AbortOnce {
    fn submit<R>(
        &mut self,
        request: Request<'_>,
        wake: Wake,
        drive: impl FnOnce(Issued<'_>) -> R,
    ) -> R {
        if self.aborted {
            return self.inner.submit(request, wake, drive);
        }
        self.aborted = true;
        self.inner.0.borrow_mut().issued += 1;
        drive(Issued::Done(Completion::failed(ERROR_OPERATION_ABORTED)))
    }

    fn peek(&mut self, buf: &mut [u8]) -> Result<usize, Code> {
        self.inner.peek(buf)
    }

    fn end_of_stream(&mut self) {
        self.inner.end_of_stream();
    }
}

/// A port with a 4-byte buffer that holds 4 unread bytes: a write must wait.
fn full_port() -> SimPort {
    let port = SimPort::new(4);
    port.0.borrow_mut().outbound.extend(b"full");
    port
}

/// The pipe's buffer size must never be asked for a write nothing but a shutdown
/// stops.
fn unasked() -> Option<Quota> {
    panic!("the pipe's buffer size was asked")
}

#[test]
fn a_write_that_may_time_out_is_capped_at_the_pipe_buffer() {
    let mut port = SimPort::new(8);
    let clock = port.clock();
    let n = write(
        &mut port,
        b"0123456789",
        &mut || free(8),
        &timeout(50),
        &clock,
    )
    .unwrap();
    assert_eq!(n, 8);
    assert_eq!(port.0.borrow().outbound.len(), 8);
}

#[test]
fn a_write_that_may_be_stopped_on_a_zero_or_unknown_buffer_moves_one_byte() {
    for quota in [Some(0), None] {
        let mut port = SimPort::new(64);
        let clock = port.clock();
        let nonblocking = || Policy {
            nonblocking: true,
            ..Policy::default()
        };
        assert_eq!(
            write(
                &mut port,
                b"abc",
                &mut || quota.map(|n| Quota { free: n, size: n }),
                &nonblocking,
                &clock
            )
            .unwrap(),
            1
        );
        assert_eq!(
            write(
                &mut port,
                b"abc",
                &mut || quota.map(|n| Quota { free: n, size: n }),
                &timeout(9),
                &clock
            )
            .unwrap(),
            1
        );
    }
}

#[test]
fn a_blocking_write_with_no_timeout_is_whole_and_asks_nothing() {
    let mut port = SimPort::new(64);
    let clock = port.clock();
    let n = write(&mut port, &[7; 40], &mut unasked, &blocking(), &clock).unwrap();
    assert_eq!(n, 40);
    assert_eq!(port.0.borrow().issued, 1);
}

#[test]
fn timed_out_write_reports_no_phantom_bytes() {
    let mut port = full_port();
    let clock = port.clock();
    let err = write(&mut port, b"more", &mut || free(0), &timeout(20), &clock).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(port.0.borrow().outbound.len(), 4, "nothing was queued");
    assert_eq!(port.0.borrow().issued, 1);
    assert_eq!(clock.now(), ms(20));
}

#[test]
fn blocked_write_completes_when_the_peer_drains() {
    let mut port = full_port();
    port.0.borrow_mut().at(15, Event::Drain(4));
    let clock = port.clock();
    assert_eq!(
        write(&mut port, b"next", &mut unasked, &blocking(), &clock).unwrap(),
        4
    );
    assert_eq!(port.0.borrow().delivered, b"full");
    assert_eq!(clock.now(), ms(15));
}

#[test]
fn a_blocking_write_ignores_a_later_timeout_but_not_a_shutdown() {
    // Issued with no timeout, the write waits past a timeout set meanwhile...
    let mut port = full_port();
    port.0.borrow_mut().at(30, Event::Drain(4));
    let clock = port.clock();
    let later = clock.clone();
    let policy = move || Policy {
        timeout: (later.now() >= ms(10)).then_some(ms(5)),
        ..Policy::default()
    };
    assert_eq!(
        write(&mut port, b"next", &mut unasked, &policy, &clock).unwrap(),
        4
    );
    assert_eq!(clock.now(), ms(30));
    // ...but a shutdown stops it.
    let mut port = full_port();
    let clock = port.clock();
    let later = clock.clone();
    port.0.borrow_mut().at(10, Event::Arrive(Vec::new()));
    let policy = move || Policy {
        shut: later.now() >= ms(10),
        ..Policy::default()
    };
    let err = write(&mut port, b"next", &mut unasked, &policy, &clock).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
}

#[test]
fn write_to_a_closed_peer_is_an_os_error() {
    let mut port = SimPort::new(4);
    port.0.borrow_mut().peer_closed = true;
    let clock = port.clock();
    let err = write(&mut port, b"x", &mut unasked, &blocking(), &clock).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(ERROR_NO_DATA as i32));
}

#[test]
fn write_after_shutdown_is_broken_pipe() {
    let mut port = SimPort::new(4);
    let clock = port.clock();
    let shut = || Policy {
        shut: true,
        ..Policy::default()
    };
    let err = write(&mut port, b"x", &mut unasked, &shut, &clock).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    assert_eq!(port.0.borrow().issued, 0);
}

#[test]
fn empty_buffers_make_no_call() {
    let mut port = SimPort::new(4);
    let clock = port.clock();
    assert_eq!(read(&mut port, &mut [], &blocking(), &clock).unwrap(), 0);
    assert_eq!(
        write(&mut port, &[], &mut unasked, &blocking(), &clock).unwrap(),
        0
    );
    assert_eq!(port.0.borrow().issued, 0);
}

#[test]
fn vectored_write_gathers_slices_into_one_call() {
    let mut port = SimPort::new(64);
    let clock = port.clock();
    let parts: Vec<Vec<u8>> = (0..16u8).map(|i| vec![i; 3]).collect();
    let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let mut scratch = Vec::new();
    let n = write_vectored(
        &mut port,
        &slices,
        &mut scratch,
        &mut unasked,
        &blocking(),
        &clock,
    )
    .unwrap();
    assert_eq!(n, 48);
    assert_eq!(port.0.borrow().issued, 1);
    let sent: Vec<u8> = port.0.borrow().outbound.iter().copied().collect();
    assert_eq!(sent, parts.concat());
}

#[test]
fn vectored_write_stops_at_the_cap() {
    let mut port = SimPort::new(64);
    let clock = port.clock();
    let slices = [IoSlice::new(b"abcd"), IoSlice::new(b"efgh")];
    let mut scratch = Vec::new();
    let quota = &mut || free(6);
    let n = write_vectored(
        &mut port,
        &slices,
        &mut scratch,
        quota,
        &timeout(50),
        &clock,
    )
    .unwrap();
    assert_eq!(n, 6);
    let sent: Vec<u8> = port.0.borrow().outbound.iter().copied().collect();
    assert_eq!(sent, b"abcdef");
}

#[test]
fn a_vectored_write_gathers_only_what_it_writes() {
    // No free quota: the timed write is one byte, so one byte is copied, not 64 KiB.
    let mut port = SimPort::new(64);
    let clock = port.clock();
    let (a, b) = (vec![1u8; 40_000], vec![2u8; 40_000]);
    let slices = [IoSlice::new(&a), IoSlice::new(&b)];
    let mut scratch = Vec::new();
    let none_free = &mut || free(0);
    let n = write_vectored(
        &mut port,
        &slices,
        &mut scratch,
        none_free,
        &timeout(50),
        &clock,
    )
    .unwrap();
    assert_eq!(n, 1);
    assert_eq!(scratch, [1]);
}

#[test]
fn vectored_read_scatters_one_read() {
    let mut port = SimPort::new(64);
    port.0.borrow_mut().inbound.extend(b"abcdefg");
    let clock = port.clock();
    let (mut a, mut b) = ([0; 3], [0; 8]);
    let mut slices = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
    let mut scratch = Vec::new();
    let n = read_vectored(
        &mut port,
        &mut slices,
        &mut scratch,
        64,
        &blocking(),
        &clock,
    )
    .unwrap();
    assert_eq!(n, 7);
    assert_eq!(&a, b"abc");
    assert_eq!(&b[..4], b"defg");
    assert_eq!(port.0.borrow().issued, 1);
}

#[test]
fn peek_leaves_data_for_the_next_read() {
    let mut port = SimPort::new(64);
    port.0.borrow_mut().at(25, Event::Arrive(b"look".to_vec()));
    let clock = port.clock();
    let mut buf = [0; 8];
    assert_eq!(peek(&mut port, &mut buf, &blocking(), &clock).unwrap(), 4);
    assert_eq!(clock.now(), ms(25));
    assert_eq!(read(&mut port, &mut buf, &blocking(), &clock).unwrap(), 4);
    assert_eq!(&buf[..4], b"look");
}

#[test]
fn peek_times_out_and_sees_eof() {
    let mut port = SimPort::new(64);
    let clock = port.clock();
    let err = peek(&mut port, &mut [0; 4], &timeout(30), &clock).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    port.0.borrow_mut().peer_closed = true;
    assert_eq!(
        peek(&mut port, &mut [0; 4], &blocking(), &clock).unwrap(),
        0
    );
}

/// A dialer that answers from a script of results, one per attempt.
struct ScriptedDial {
    answers: Vec<Result<u32, Code>>,
    /// WaitNamedPipe fails at once with this code.
    wait_fails: Option<Code>,
    opens: usize,
    clock: SimClock,
    waits: Vec<Duration>,
    sleeps: Vec<Duration>,
}

impl Dial for ScriptedDial {
    type Handle = u32;
    fn open(&mut self) -> Result<u32, Code> {
        self.opens += 1;
        if self.answers.is_empty() {
            return Err(ERROR_FILE_NOT_FOUND);
        }
        self.answers.remove(0)
    }
    fn wait_for_instance(&mut self, timeout: Duration) -> Result<(), Code> {
        self.waits.push(timeout);
        if let Some(code) = self.wait_fails {
            return Err(code);
        }
        let step = timeout.min(ms(10));
        self.clock.advance_to(self.clock.now() + step);
        Ok(())
    }
    fn sleep(&mut self, pause: Duration) {
        self.sleeps.push(pause);
        self.clock.advance_to(self.clock.now() + pause);
    }
}

fn dialer(answers: Vec<Result<u32, Code>>) -> ScriptedDial {
    ScriptedDial {
        answers,
        wait_fails: None,
        opens: 0,
        clock: SimClock::default(),
        waits: Vec::new(),
        sleeps: Vec::new(),
    }
}

#[test]
fn connect_retries_busy_and_missing_pipes() {
    let mut d = dialer(vec![
        Err(ERROR_FILE_NOT_FOUND),
        Err(ERROR_PIPE_BUSY),
        Err(ERROR_FILE_NOT_FOUND),
        Ok(7),
    ]);
    let clock = d.clock.clone();
    assert_eq!(connect(&mut d, "p", ms(1000), &clock).unwrap(), 7);
    assert_eq!(d.waits.len(), 1);
    assert_eq!(d.sleeps, vec![ms(1), ms(2)]);
}

#[test]
fn connect_gives_up_at_the_deadline_with_documented_kinds() {
    let mut d = dialer(Vec::new());
    let clock = d.clock.clone();
    let err = connect(&mut d, "p", ms(100), &clock).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(clock.now(), ms(100));
    assert!(d.sleeps.iter().all(|s| *s <= ms(50)));

    let mut d = dialer(vec![Err(ERROR_PIPE_BUSY); 100]);
    let clock = d.clock.clone();
    let err = connect(&mut d, "p", ms(35), &clock).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(clock.now(), ms(35));
}

#[test]
fn connect_to_nobody_for_a_second_pauses_at_most_50_ms_at_a_time() {
    // Nobody listens: 1, 2, 4 … then 50 ms pauses until the deadline, so a listener
    // that appears is found within 50 ms, however long the connect has tried.
    let mut d = dialer(Vec::new());
    let clock = d.clock.clone();
    let err = connect(&mut d, "p", ms(1000), &clock).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(clock.now(), ms(1000));
    assert!(d.sleeps.iter().all(|s| *s <= ms(50)), "{:?}", d.sleeps);
    assert!(d.sleeps.iter().filter(|s| **s == ms(50)).count() >= 15);
}

#[test]
fn connect_waits_for_a_busy_pipe_in_bounded_slices() {
    let mut d = dialer(vec![Err(ERROR_PIPE_BUSY); 1000]);
    let clock = d.clock.clone();
    let err = connect(&mut d, "p", ms(1000), &clock).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(
        d.waits.iter().all(|w| *w <= connect::WAIT_SLICE),
        "{:?}",
        d.waits
    );
    assert!(d.waits.len() > 1);
}

#[test]
fn connect_backs_off_when_waiting_for_an_instance_fails_at_once() {
    let mut d = dialer(vec![Err(ERROR_PIPE_BUSY); 100_000]);
    d.wait_fails = Some(ERROR_ACCESS_DENIED);
    let clock = d.clock.clone();
    let err = connect(&mut d, "p", ms(1000), &clock).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(clock.now(), ms(1000));
    // 1, 2, 4 … 50 ms pauses: about 25 attempts in a second, not a spin.
    assert!(d.opens < 40, "{} attempts", d.opens);
    assert!(d.sleeps.iter().all(|s| *s <= ms(50)));
}

#[test]
fn connect_makes_one_attempt_even_with_no_time() {
    let mut d = dialer(vec![Ok(1)]);
    let clock = d.clock.clone();
    clock.advance_to(ms(5));
    assert_eq!(connect(&mut d, "p", ms(1), &clock).unwrap(), 1);
}

#[test]
fn connect_returns_other_errors_at_once() {
    let mut d = dialer(vec![Err(ERROR_ACCESS_DENIED)]);
    let clock = d.clock.clone();
    let err = connect(&mut d, "p", ms(100), &clock).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(ERROR_ACCESS_DENIED as i32));
}

/// A listener whose instances answer ConnectNamedPipe from a shared script.
struct ScriptedListen {
    made: usize,
    /// What every create fails with, if anything.
    fail_create: Option<Code>,
    /// How many creates fail with ERROR_PIPE_BUSY first (the instance limit).
    busy: usize,
    slept: Vec<Duration>,
    /// The failure kept for `take_error`.
    kept: Option<io::Error>,
}

/// How the next ConnectNamedPipe ends: at once (with an optional error), or pending
/// until cancelled.
#[derive(Clone, Copy)]
enum Answer {
    Done(Option<Code>),
    Pend,
}

#[derive(Debug)]
struct Instance {
    id: usize,
}

/// A connect that no client ever completes: it ends only when cancelled.
struct NoClient {
    cancelled: bool,
}

impl Pending for NoClient {
    fn poll(&mut self) -> Option<Completion> {
        self.cancelled
            .then(|| Completion::failed(ERROR_OPERATION_ABORTED))
    }
    fn wait(&mut self, timeout: Option<Duration>) {
        assert!(
            timeout.is_some(),
            "waits forever for a client that never comes"
        );
    }
    fn cancel(&mut self) {
        self.cancelled = true;
    }
}

thread_local! {
    static ANSWERS: RefCell<Vec<Answer>> = const { RefCell::new(Vec::new()) };
}

fn set_answers(answers: Vec<Answer>) {
    ANSWERS.with(|a| *a.borrow_mut() = answers);
}

impl Port for Instance {
    fn submit<R>(
        &mut self,
        request: Request<'_>,
        _wake: Wake,
        drive: impl FnOnce(Issued<'_>) -> R,
    ) -> R {
        assert!(matches!(request, Request::Connect));
        let answer = ANSWERS.with(|a| {
            let mut a = a.borrow_mut();
            if a.is_empty() {
                Answer::Pend
            } else {
                a.remove(0)
            }
        });
        match answer {
            Answer::Done(None) => drive(Issued::Done(Completion {
                bytes: 0,
                error: None,
            })),
            Answer::Done(Some(code)) => drive(Issued::Done(Completion::failed(code))),
            Answer::Pend => {
                let mut op = NoClient { cancelled: false };
                let result = drive(Issued::Pending(&mut op));
                assert!(op.cancelled, "returned with the connect still pending");
                result
            }
        }
    }
    fn peek(&mut self, _: &mut [u8]) -> Result<usize, Code> {
        unreachable!("peek on a listening instance")
    }

    fn end_of_stream(&mut self) {
        unreachable!("an instance only connects")
    }
}

impl Listen for ScriptedListen {
    type Instance = Instance;
    fn create(&mut self) -> Result<Instance, Code> {
        if let Some(code) = self.fail_create {
            return Err(code);
        }
        if self.busy > 0 {
            self.busy -= 1;
            return Err(ERROR_PIPE_BUSY);
        }
        self.made += 1;
        Ok(Instance { id: self.made })
    }
    fn sleep(&mut self, pause: Duration) {
        self.slept.push(pause);
    }
    fn keep_failure(&mut self, err: io::Error) {
        self.kept.get_or_insert(err);
    }
    fn take_failure(&mut self) -> Option<io::Error> {
        self.kept.take()
    }
}

fn listener() -> ScriptedListen {
    ScriptedListen {
        made: 0,
        fail_create: None,
        busy: 0,
        slept: Vec::new(),
        kept: None,
    }
}

/// A backlog of one, empty or with one instance made by `listener`.
fn backlog(listener: Option<&mut ScriptedListen>) -> Backlog<Instance> {
    let waiting = listener.map(|l| l.create().unwrap()).into_iter().collect();
    Backlog::new(1, waiting)
}

fn oldest(backlog: &Backlog<Instance>) -> Option<usize> {
    backlog.oldest().map(|i| i.id)
}

#[test]
fn accept_counts_early_and_departed_clients_as_connected() {
    for code in [None, Some(ERROR_PIPE_CONNECTED), Some(ERROR_NO_DATA)] {
        set_answers(vec![Answer::Done(code)]);
        let mut listener = listener();
        let mut backlog = backlog(None);
        let clock = SimClock::default();
        let accepted = backlog.accept(&mut listener, &blocking(), &clock).unwrap();
        assert_eq!(accepted.id, 1);
        assert!(listener.kept.is_none());
        assert_eq!(oldest(&backlog), Some(2), "a fresh instance listens");
    }
}

#[test]
fn nonblocking_accept_keeps_the_listening_instance() {
    set_answers(vec![Answer::Pend, Answer::Done(Some(ERROR_PIPE_CONNECTED))]);
    let mut listener = listener();
    let mut backlog = backlog(None);
    let clock = SimClock::default();
    let nonblocking = || Policy {
        nonblocking: true,
        ..Policy::default()
    };
    let err = backlog
        .accept(&mut listener, &nonblocking, &clock)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    assert_eq!(oldest(&backlog), Some(1), "instance kept, still the oldest");
    // The client that arrives later is accepted on the same instance.
    let accepted = backlog.accept(&mut listener, &nonblocking, &clock).unwrap();
    assert_eq!(accepted.id, 1);
}

#[test]
fn a_cancel_from_a_setter_does_not_fail_accept() {
    set_answers(vec![
        Answer::Done(Some(ERROR_OPERATION_ABORTED)),
        Answer::Done(None),
    ]);
    let mut listener = listener();
    let mut backlog = backlog(None);
    let clock = SimClock::default();
    let accepted = backlog.accept(&mut listener, &blocking(), &clock).unwrap();
    assert_eq!(accepted.id, 1);
}

/// A failure to make the next instance is kept for `take_error`, and reported once:
/// the accept after it, finding no instance, returns it instead of failing twice.
#[test]
fn a_failed_refill_is_reported_once_and_loses_no_client() {
    set_answers(vec![Answer::Done(None)]);
    let mut listener = listener();
    let mut backlog = backlog(Some(&mut listener));
    listener.fail_create = Some(ERROR_ACCESS_DENIED);
    let clock = SimClock::default();
    let accepted = backlog.accept(&mut listener, &blocking(), &clock).unwrap();
    assert_eq!(accepted.id, 1);
    let kept = listener.kept.as_ref().and_then(io::Error::raw_os_error);
    assert_eq!(kept, Some(ERROR_ACCESS_DENIED as i32));
    assert_eq!(backlog.len(), 0);
    // No instance: the accept says why, taking the kept failure.
    let err = backlog
        .accept(&mut listener, &blocking(), &clock)
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(ERROR_ACCESS_DENIED as i32));
    assert!(listener.kept.is_none(), "reported twice");
}

#[test]
fn a_broken_instance_is_replaced() {
    set_answers(vec![Answer::Done(Some(ERROR_INVALID_HANDLE))]);
    let mut listener = listener();
    let mut backlog = backlog(None);
    let clock = SimClock::default();
    let err = backlog
        .accept(&mut listener, &blocking(), &clock)
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(ERROR_INVALID_HANDLE as i32));
    assert_eq!(oldest(&backlog), Some(2));
}

/// A broken instance whose replacement cannot be made: the accept reports the broken
/// instance, `take_error` the replacement's failure.
#[test]
fn a_failed_replacement_is_kept_for_take_error() {
    set_answers(vec![Answer::Done(Some(ERROR_INVALID_HANDLE))]);
    let mut listener = listener();
    let mut backlog = backlog(Some(&mut listener));
    listener.fail_create = Some(ERROR_ACCESS_DENIED);
    let err = backlog
        .accept(&mut listener, &blocking(), &SimClock::default())
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(ERROR_INVALID_HANDLE as i32));
    let kept = listener.take_failure().and_then(|e| e.raw_os_error());
    assert_eq!(kept, Some(ERROR_ACCESS_DENIED as i32));
}

#[test]
fn accept_waits_while_the_pipe_has_its_maximum_of_instances() {
    set_answers(vec![Answer::Done(Some(ERROR_PIPE_CONNECTED))]);
    let mut listener = listener();
    // The first refusal is the backlog's fill; seven more while accept waits.
    listener.busy = 8;
    let mut backlog = backlog(None);
    let clock = SimClock::default();
    let accepted = backlog.accept(&mut listener, &blocking(), &clock).unwrap();
    assert_eq!(accepted.id, 1);
    assert!(listener.kept.is_none());
    let ms = Duration::from_millis;
    assert_eq!(
        listener.slept,
        [ms(1), ms(2), ms(4), ms(8), ms(16), ms(32), ms(50)]
    );
}

#[test]
fn nonblocking_accept_at_the_instance_limit_would_block_without_sleeping() {
    let mut listener = listener();
    listener.busy = 2;
    let mut backlog = backlog(None);
    let nonblocking = || Policy {
        nonblocking: true,
        ..Policy::default()
    };
    let err = backlog
        .accept(&mut listener, &nonblocking, &SimClock::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    assert!(listener.slept.is_empty());
    assert_eq!(backlog.len(), 0);
}

#[test]
fn reaching_the_instance_limit_on_refill_is_not_an_error() {
    set_answers(vec![Answer::Done(None)]);
    let mut listener = listener();
    let mut backlog = backlog(Some(&mut listener));
    listener.busy = 1;
    let clock = SimClock::default();
    let accepted = backlog.accept(&mut listener, &blocking(), &clock).unwrap();
    assert_eq!(accepted.id, 1);
    assert!(
        listener.kept.is_none(),
        "the limit is expected, not an error"
    );
    assert_eq!(backlog.len(), 0);
}

#[test]
fn other_create_errors_are_returned_once() {
    let mut listener = listener();
    listener.fail_create = Some(ERROR_ACCESS_DENIED);
    let mut backlog = backlog(None);
    let err = backlog
        .accept(&mut listener, &blocking(), &SimClock::default())
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(ERROR_ACCESS_DENIED as i32));
    assert!(listener.slept.is_empty());
    assert!(
        listener.kept.is_none(),
        "reported by accept, not again by take_error"
    );
}

/// A port that records the length of every request and completes it at once with as
/// many bytes as asked for, without touching the buffer.
#[derive(Default)]
struct LengthPort {
    lengths: Vec<usize>,
}

impl Port for LengthPort {
    fn submit<R>(
        &mut self,
        request: Request<'_>,
        _wake: Wake,
        drive: impl FnOnce(Issued<'_>) -> R,
    ) -> R {
        let len = match request {
            Request::Read(buf) => buf.len(),
            Request::Write(buf) => buf.len(),
            Request::Connect => 0,
        };
        self.lengths.push(len);
        drive(Issued::Done(Completion {
            bytes: len,
            error: None,
        }))
    }

    fn peek(&mut self, buf: &mut [u8]) -> Result<usize, Code> {
        self.lengths.push(buf.len());
        Ok(buf.len())
    }

    fn end_of_stream(&mut self) {
        unreachable!("a byte-type pipe carries no end-of-stream marker")
    }
}

/// Buffers over 4 GiB: one ReadFile or PeekNamedPipe asks for u32::MAX bytes, and a
/// read reports what that call moved. Only where a zeroed allocation is lazy (Linux
/// maps it page by page; none of it is touched here).
#[cfg(all(target_pointer_width = "64", target_os = "linux"))]
#[test]
fn reads_and_peeks_of_more_than_4_gib_ask_for_u32_max() {
    let dword = u32::MAX as usize;
    let mut huge = vec![0u8; dword + 4096];
    let mut port = LengthPort::default();
    let clock = SimClock::default();
    assert_eq!(
        read(&mut port, &mut huge, &blocking(), &clock).unwrap(),
        dword
    );
    assert_eq!(
        peek(&mut port, &mut huge, &blocking(), &clock).unwrap(),
        dword
    );
    assert_eq!(port.lengths, [dword, dword]);
    // Two slices of more than 2 GiB each: their total does not overflow, and the one
    // read goes through the scratch buffer, at most `cap` bytes.
    let (a, b) = huge.split_at_mut(dword / 2 + 4096);
    let mut slices = [IoSliceMut::new(a), IoSliceMut::new(b)];
    let mut scratch = Vec::new();
    let n = read_vectored(
        &mut port,
        &mut slices,
        &mut scratch,
        64,
        &blocking(),
        &clock,
    );
    assert_eq!(n.unwrap(), 64);
    assert_eq!(port.lengths[2], 64);
}

/// A vectored write whose slices add up to more than 4 GiB (the same 64 KiB, over and
/// over, so nothing large is allocated) makes one write of `MAX_WRITE` bytes.
#[test]
fn vectored_write_of_more_than_4_gib_in_total_writes_one_cap() {
    let chunk: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
    let count = (u32::MAX as usize / chunk.len()) + 2;
    let slices = vec![IoSlice::new(&chunk); count];
    let total = slices.iter().map(|s| s.len() as u64).sum::<u64>();
    assert!(total > u64::from(u32::MAX));
    let mut port = LengthPort::default();
    let mut scratch = Vec::new();
    let clock = SimClock::default();
    let n = write_vectored(
        &mut port,
        &slices,
        &mut scratch,
        &mut unasked,
        &blocking(),
        &clock,
    );
    assert_eq!(n.unwrap(), MAX_WRITE);
    assert_eq!(port.lengths, [MAX_WRITE]);
    assert_eq!(&scratch[..], &chunk[..MAX_WRITE]);
}

/// A message-type pipe as NPFS keeps it: PeekNamedPipe copies the first message only;
/// a zero-byte read completes at once while anything is queued and takes nothing; a
/// read in message mode stops at the end of its message, one in byte mode reads on.
struct Messages {
    queue: VecDeque<Vec<u8>>,
    message_mode: bool,
    clock: SimClock,
    naps: Vec<Duration>,
    reads: usize,
    /// The engine said it took the end-of-stream marker.
    ended: bool,
}

impl Messages {
    fn new(messages: &[&[u8]], message_mode: bool) -> Self {
        Messages {
            queue: messages.iter().map(|m| m.to_vec()).collect(),
            message_mode,
            clock: SimClock::default(),
            naps: Vec::new(),
            reads: 0,
            ended: false,
        }
    }
}

impl Port for Messages {
    fn submit<R>(
        &mut self,
        request: Request<'_>,
        _: Wake,
        drive: impl FnOnce(Issued<'_>) -> R,
    ) -> R {
        let Request::Read(buf) = request else {
            unreachable!("only reads")
        };
        self.reads += 1;
        assert!(
            !self.queue.is_empty(),
            "a read that would wait: not modelled"
        );
        // A zero-byte read takes nothing, not even an empty message; in message mode
        // it says ERROR_MORE_DATA at data (Windows 8 on).
        let data_waits = self.queue.front().is_some_and(|m| !m.is_empty());
        if buf.is_empty() && self.message_mode && data_waits {
            return drive(Issued::Done(Completion::failed(ERROR_MORE_DATA)));
        }
        let mut n = 0;
        while let Some(head) = self.queue.front_mut() {
            if buf.is_empty() {
                break;
            }
            let take = head.len().min(buf.len() - n);
            buf[n..n + take].copy_from_slice(&head[..take]);
            head.drain(..take);
            n += take;
            if head.is_empty() {
                self.queue.pop_front();
            }
            if self.message_mode || n == buf.len() {
                break;
            }
        }
        drive(Issued::Done(Completion {
            bytes: n,
            error: None,
        }))
    }

    fn peek(&mut self, buf: &mut [u8]) -> Result<usize, Code> {
        self.peek_counts(buf).map(|seen| seen.copied)
    }

    fn peek_counts(&mut self, buf: &mut [u8]) -> Result<Peeked, Code> {
        let head = self.queue.front().map_or(&[][..], |m| &m[..]);
        let copied = head.len().min(buf.len());
        buf[..copied].copy_from_slice(&head[..copied]);
        let queued = self.queue.iter().map(Vec::len).sum();
        Ok(Peeked { copied, queued })
    }

    fn reads_messages(&mut self) -> bool {
        self.message_mode
    }

    fn nap(&mut self, pause: Duration) {
        self.naps.push(pause);
        self.clock.advance_to(self.clock.now() + pause);
    }

    fn end_of_stream(&mut self) {
        self.ended = true;
    }
}

#[test]
fn a_peek_at_an_empty_first_message_in_message_read_mode_is_the_end() {
    // The zero-byte read completes with success at the marker (ERROR_MORE_DATA at
    // data), and PeekNamedPipe copies nothing: the peek takes the marker and ends.
    let mut port = Messages::new(&[b"", b"next"], true);
    let clock = port.clock.clone();
    let mut buf = [0; 8];
    assert_eq!(peek(&mut port, &mut buf, &blocking(), &clock).unwrap(), 0);
    assert!(port.ended, "the end of stream was not reported");
    assert_eq!(port.queue, [b"next".to_vec()], "only the marker was taken");
    // Nonblocking, the peek still finds the marker (PeekNamedPipe shows nothing).
    let mut port = Messages::new(&[b""], true);
    let clock = port.clock.clone();
    assert_eq!(
        peek(&mut port, &mut buf, &nonblocking(), &clock).unwrap(),
        0
    );
    assert!(port.ended);
    // Data first: the peek shows it and takes nothing.
    let mut port = Messages::new(&[b"data", b""], true);
    let clock = port.clock.clone();
    assert_eq!(peek(&mut port, &mut buf, &blocking(), &clock).unwrap(), 4);
    assert!(!port.ended && port.reads == 0 && port.queue.len() == 2);
}

#[test]
fn a_read_that_takes_an_empty_message_is_the_end() {
    // Message read mode: the data, then the marker as Ok(0), reported once.
    let mut port = Messages::new(&[b"abc", b"", b"late"], true);
    let clock = port.clock.clone();
    let mut buf = [0; 8];
    assert_eq!(read(&mut port, &mut buf, &blocking(), &clock).unwrap(), 3);
    assert!(!port.ended);
    assert_eq!(read(&mut port, &mut buf, &blocking(), &clock).unwrap(), 0);
    assert!(port.ended, "the end of stream was not reported");
    // Byte read mode reads on past a marker that data follows (NPFS's
    // NpReadDataQueue): why winpipe's own ends read in message mode.
    let mut port = Messages::new(&[b"abc", b"", b"late"], false);
    let clock = port.clock.clone();
    assert_eq!(read(&mut port, &mut buf, &blocking(), &clock).unwrap(), 7);
    assert!(!port.ended);
    // ... but a marker alone in the queue is the end there too.
    let mut port = Messages::new(&[b""], false);
    let clock = port.clock.clone();
    assert_eq!(read(&mut port, &mut buf, &blocking(), &clock).unwrap(), 0);
    assert!(port.ended);
}

#[test]
fn peek_pauses_at_an_empty_first_message_in_byte_read_mode() {
    // A read would take the bytes after the empty message, so peek must not: it
    // pauses, never spinning, until the deadline.
    let mut port = Messages::new(&[b"", b"data"], false);
    let clock = port.clock.clone();
    let err = peek(&mut port, &mut [0; 8], &timeout(30), &clock).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(port.reads, 0, "nothing read");
    assert_eq!(clock.now(), ms(30));
    assert!(port.naps.len() < 10, "{:?}", port.naps);
    assert!(port.naps.iter().all(|&p| p <= ms(50)));
}

/// A pipe end in PIPE_NOWAIT: the first `empty` reads find nothing queued and fail
/// with ERROR_NO_DATA at once; then a byte has arrived.
struct NoWait {
    empty: usize,
    reads: usize,
    clock: SimClock,
    naps: Vec<Duration>,
}

impl Port for NoWait {
    fn submit<R>(
        &mut self,
        request: Request<'_>,
        _: Wake,
        drive: impl FnOnce(Issued<'_>) -> R,
    ) -> R {
        let Request::Read(buf) = request else {
            unreachable!("only reads")
        };
        self.reads += 1;
        if self.reads <= self.empty {
            return drive(Issued::Done(Completion::failed(ERROR_NO_DATA)));
        }
        buf[0] = b'x';
        drive(Issued::Done(Completion {
            bytes: 1,
            error: None,
        }))
    }

    fn peek(&mut self, _: &mut [u8]) -> Result<usize, Code> {
        unreachable!("no peeks")
    }

    fn nap(&mut self, pause: Duration) {
        self.naps.push(pause);
        self.clock.advance_to(self.clock.now() + pause);
    }

    fn end_of_stream(&mut self) {
        unreachable!("no empty message comes")
    }
}

#[test]
fn a_read_that_finds_no_data_in_nowait_mode_pauses_and_tries_again() {
    // Another thread's write had the pipe end in PIPE_NOWAIT for a moment (or other
    // code left it so): the read must not fail with 232, nor spin.
    let mut port = NoWait {
        empty: 3,
        reads: 0,
        clock: SimClock::default(),
        naps: Vec::new(),
    };
    let clock = port.clock.clone();
    let mut buf = [0; 4];
    assert_eq!(read(&mut port, &mut buf, &blocking(), &clock).unwrap(), 1);
    assert_eq!(port.naps, [ms(1), ms(2), ms(4)]);
    // With a timeout, it gives up at the deadline, pausing at most 50 ms at a time.
    let mut port = NoWait {
        empty: usize::MAX,
        reads: 0,
        clock: SimClock::default(),
        naps: Vec::new(),
    };
    let clock = port.clock.clone();
    let err = read(&mut port, &mut buf, &timeout(300), &clock).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(clock.now(), ms(300));
    assert!(port.naps.iter().all(|&p| p <= ms(50)) && port.naps.len() < 15);
}
