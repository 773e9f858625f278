//! The `connect_accept` target: our `connect` and our listener's `accept` against a
//! namespace where instances appear, get busy, get recycled, and clients arrive and
//! leave at any step (busy, not found, late listener, PIPE_CONNECTED, NO_DATA, client
//! gone before accept).

use super::kernel::{self, Buf, Dir, World};
use super::port::{submit, Cell, KClock};
use super::{Source, CHAOS_PER_CALL};
use crate::engine::connect::WAIT_SLICE;
use crate::engine::{self, Backlog, Code, Dial, Issued, Listen, Port, Request, Wake};
use crate::ffi::*;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::time::Duration;

/// One of our server instances.
struct Inst<'w, 's> {
    cell: &'w Cell<'s>,
    id: usize,
}

impl Port for Inst<'_, '_> {
    fn submit<R>(
        &mut self,
        request: Request<'_>,
        wake: Wake,
        drive: impl FnOnce(Issued<'_>) -> R,
    ) -> R {
        assert!(
            matches!(request, Request::Connect),
            "invariant: accept read or wrote"
        );
        submit(self.cell, Buf::Connect(self.id), wake, drive)
    }

    fn peek(&mut self, _: &mut [u8]) -> Result<usize, Code> {
        panic!("invariant: accept peeked")
    }

    fn end_of_stream(&mut self) {
        panic!("invariant: accept read")
    }
}

impl Drop for Inst<'_, '_> {
    fn drop(&mut self) {
        self.cell.borrow_mut().space.close(self.id);
    }
}

/// How creating an instance fails here, other than at the instance limit: codes no
/// ConnectNamedPipe fails with here, so that the checks can tell them apart.
const CREATE_FAILURES: [Code; 2] = [ERROR_INVALID_PARAMETER, ERROR_NOT_ENOUGH_MEMORY];

/// Our listener as the kernel sees it: instance creation refused at the pipe's
/// instance limit (its open instances counted against `max`, as CreateNamedPipe does)
/// and failing otherwise at any step, and the failure kept for `take_error`.
struct Listener<'w, 's> {
    cell: &'w Cell<'s>,
    kept: Option<io::Error>,
    /// Every failure to create an instance (other than the limit) so far.
    failures: Vec<Code>,
    /// The limit was met in the current call.
    limited: bool,
    /// The pipe's maximum number of instances, if any.
    max: Option<usize>,
}

impl<'w, 's> Listen for Listener<'w, 's> {
    type Instance = Inst<'w, 's>;

    fn create(&mut self) -> Result<Inst<'w, 's>, Code> {
        let mut w = self.cell.borrow_mut();
        if self.max.is_some_and(|max| w.space.open_instances() >= max) {
            w.call.codes.push(ERROR_PIPE_BUSY);
            self.limited = true;
            return Err(ERROR_PIPE_BUSY);
        }
        let choice = w.pick();
        if choice % 16 == 13 {
            let code = CREATE_FAILURES[usize::from(choice / 16) % CREATE_FAILURES.len()];
            w.call.codes.push(code);
            self.failures.push(code);
            return Err(code);
        }
        let id = w.space.create();
        Ok(Inst {
            cell: self.cell,
            id,
        })
    }

    fn sleep(&mut self, pause: Duration) {
        assert!(!pause.is_zero(), "invariant: slept for nothing");
        self.cell.borrow_mut().now += pause;
    }

    fn keep_failure(&mut self, err: io::Error) {
        self.kept.get_or_insert(err);
    }

    fn take_failure(&mut self) -> Option<io::Error> {
        self.kept.take()
    }
}

/// A client end our `connect` opened: `slot` is our instance it took, if it was ours.
struct Client<'w, 's> {
    cell: &'w Cell<'s>,
    slot: Option<usize>,
}

impl Drop for Client<'_, '_> {
    fn drop(&mut self) {
        let mut w = self.cell.borrow_mut();
        if let Some(i) = self.slot {
            if w.space.slots[i].client == Some(false) {
                w.space.slots[i].client = Some(true);
            }
        }
    }
}

struct Dialer<'w, 's> {
    cell: &'w Cell<'s>,
    opened: usize,
    attempts: usize,
    last: Option<Code>,
}

impl<'w, 's> Dial for Dialer<'w, 's> {
    type Handle = Client<'w, 's>;

    fn open(&mut self) -> Result<Client<'w, 's>, Code> {
        self.attempts += 1;
        let mut w = self.cell.borrow_mut();
        let choice = w.pick();
        let result = match choice % 16 {
            13 => Err(
                [ERROR_ACCESS_DENIED, ERROR_PIPE_NOT_CONNECTED, ERROR_NO_DATA]
                    [usize::from(choice / 16) % 3],
            ),
            // Another client won the instance WaitNamedPipe announced.
            14 if w.space.steal() => Err(ERROR_PIPE_BUSY),
            // The server recycled its instance between two calls.
            15 => Err(ERROR_FILE_NOT_FOUND),
            _ => w.space.open(),
        };
        match result {
            Ok(slot) => {
                self.opened += 1;
                Ok(Client {
                    cell: self.cell,
                    slot,
                })
            }
            Err(code) => {
                self.last = Some(code);
                Err(code)
            }
        }
    }

    fn wait_for_instance(&mut self, timeout: Duration) -> Result<(), Code> {
        assert!(
            !timeout.is_zero(),
            "invariant: waited for an instance with no time left"
        );
        assert!(
            timeout <= WAIT_SLICE,
            "invariant: one WaitNamedPipe for {timeout:?}, longer than a slice"
        );
        let mut w = self.cell.borrow_mut();
        let choice = w.pick();
        let d = w.src.millis().min(timeout);
        match choice % 8 {
            // WaitNamedPipe times out (ERROR_SEM_TIMEOUT).
            1 => w.now += timeout,
            // Under load it returns up to its timeout late (vs-servicehub#507).
            2 => w.now += timeout + d,
            // It fails at once: it could not open the pipe root (a restricted token,
            // low memory), so there is nothing to wait on.
            3 => {
                let code = [
                    ERROR_ACCESS_DENIED,
                    ERROR_PATH_NOT_FOUND,
                    ERROR_NOT_ENOUGH_MEMORY,
                ][usize::from(choice / 8) % 3];
                w.call.codes.push(code);
                return Err(code);
            }
            4 => {
                w.now += d;
                return Ok(());
            }
            _ => {
                w.now += d;
                w.space.foreign_free += 1;
                let event = w.src.byte();
                w.space_event(event);
                return Ok(());
            }
        }
        Err(ERROR_SEM_TIMEOUT)
    }

    fn sleep(&mut self, pause: Duration) {
        // A listener that appears is found within one slice, however long connect
        // has been trying.
        assert!(
            !pause.is_zero() && pause <= WAIT_SLICE,
            "invariant: connect paused {pause:?} (more than {WAIT_SLICE:?}, or nothing)"
        );
        let mut w = self.cell.borrow_mut();
        w.now += pause;
        if w.pick().is_multiple_of(4) {
            // A listener appears.
            w.space.foreign_free += 1;
        }
    }
}

/// Runs at most `steps` connects, accepts, `take_error`s and namespace events chosen
/// by `src`, with a listener whose backlog holds 1 to 4 instances.
pub(crate) fn run(src: Source<'_>, steps: usize) {
    let cell = RefCell::new(World::new(src));
    let (size, max) = {
        let mut w = cell.borrow_mut();
        w.dir = Dir::Accept;
        let size = 1 + usize::from(w.src.byte() % 4);
        // An instance limit of the backlog's size, one more, or none.
        let max = [Some(size), Some(size + 1), None][usize::from(w.src.byte() % 3)];
        (size, max)
    };
    let mut listener = Listener {
        cell: &cell,
        kept: None,
        failures: Vec::new(),
        limited: false,
        max,
    };
    let mut backlog = Backlog::new(size, VecDeque::new());
    let mut clients: Vec<Client<'_, '_>> = Vec::new();
    for _ in 0..steps {
        let (op, arg) = {
            let mut w = cell.borrow_mut();
            if w.src.exhausted() {
                break;
            }
            (w.src.byte(), w.src.byte())
        };
        match op % 9 {
            0 | 1 => {
                if let Some(client) = one_connect(&cell, Duration::from_millis(u64::from(arg))) {
                    clients.push(client);
                }
            }
            2 | 3 => one_accept(&cell, &mut listener, &mut backlog, size),
            4 => cell.borrow_mut().setter(),
            5 => cell.borrow_mut().space_event(arg),
            6 => {
                if !clients.is_empty() {
                    let i = usize::from(arg) % clients.len();
                    drop(clients.swap_remove(i));
                }
            }
            7 => {
                // take_error: a kept failure comes out once.
                let kept = listener.take_failure();
                assert!(
                    listener.take_failure().is_none(),
                    "invariant: a failure reported twice"
                );
                drop(kept);
            }
            _ => cell.borrow_mut().now += Duration::from_millis(u64::from(arg)),
        }
    }
    cell.borrow_mut().space.teardown = true;
}

fn one_connect<'w, 's>(cell: &'w Cell<'s>, timeout: Duration) -> Option<Client<'w, 's>> {
    cell.borrow_mut().begin_call(Dir::Accept);
    let mut dialer = Dialer {
        cell,
        opened: 0,
        attempts: 0,
        last: None,
    };
    let result = engine::connect(&mut dialer, r"\\.\pipe\chaos", timeout, &KClock(cell));
    let w = cell.borrow();
    let elapsed = w.elapsed();
    assert!(dialer.attempts >= 1, "invariant: connect made no attempt");
    // One wait may overrun by up to its own length, and waits are sliced.
    assert!(
        elapsed <= timeout + WAIT_SLICE,
        "invariant: connect took {elapsed:?}, past its timeout {timeout:?} plus one slice"
    );
    // Retries pause or wait; only chaotic answers (each costs a decision) come free.
    let bound = 2 + u64::from(CHAOS_PER_CALL) + 2 * timeout.as_millis() as u64;
    assert!(
        dialer.attempts as u64 <= bound,
        "invariant: connect made {} attempts in {timeout:?} (a spin)",
        dialer.attempts
    );
    match result {
        Ok(client) => {
            assert_eq!(dialer.opened, 1, "invariant: connect opened twice");
            if let Some(i) = client.slot {
                let slot = &w.space.slots[i];
                assert!(
                    slot.client == Some(false) && !slot.closed,
                    "invariant: connect returned a stream that is not connected"
                );
            }
            Some(client)
        }
        Err(err) => {
            assert_eq!(
                dialer.opened, 0,
                "invariant: connect dropped an open handle"
            );
            let last = dialer.last.expect("an attempt failed");
            match err.kind() {
                ErrorKind::TimedOut if err.raw_os_error().is_none() => {
                    assert_eq!(last, ERROR_PIPE_BUSY, "invariant: TimedOut but not busy");
                    assert!(elapsed >= timeout, "invariant: connect gave up early");
                }
                ErrorKind::ConnectionRefused if err.raw_os_error().is_none() => {
                    assert_eq!(last, ERROR_FILE_NOT_FOUND, "invariant: refused but found");
                    assert!(elapsed >= timeout, "invariant: connect gave up early");
                }
                _ => {
                    let code = err.raw_os_error().map(|c| c as Code);
                    assert_eq!(code, Some(last), "invariant: connect lost its error");
                    assert!(
                        last != ERROR_PIPE_BUSY && last != ERROR_FILE_NOT_FOUND,
                        "invariant: connect gave up on a retryable error"
                    );
                }
            }
            None
        }
    }
}

fn one_accept<'w, 's>(
    cell: &'w Cell<'s>,
    listener: &mut Listener<'w, 's>,
    backlog: &mut Backlog<Inst<'w, 's>>,
    size: usize,
) {
    let before = backlog.oldest().map(|i| i.id);
    let failures_before = listener.failures.len();
    let policy_before = {
        let mut w = cell.borrow_mut();
        w.begin_call(Dir::Accept);
        kernel::policy(&w.settings, Dir::Accept)
    };
    listener.limited = false;
    let policy = || cell.borrow_mut().observe();
    let result = backlog.accept(listener, &policy, &KClock(cell));
    let mut w = cell.borrow_mut();
    super::timing::Timing::of(&w, policy_before).check();
    let now = backlog.oldest().map(|i| i.id);
    // An instance listens after every accept, unless the pipe is at its instance limit
    // or a failure to make one is kept for take_error (or is this accept's error).
    let reported_failure = matches!(&result, Err(e) if e.raw_os_error().is_some_and(|c| CREATE_FAILURES.contains(&(c as Code))));
    assert!(
        now.is_some() || listener.limited || listener.kept.is_some() || reported_failure,
        "invariant: no instance listens after accept, and nothing says why"
    );
    if reported_failure {
        assert!(
            listener.kept.is_none(),
            "invariant: a failure to make an instance was returned and is still kept (reported twice)"
        );
    }
    // The backlog is full after every accept, unless a refusal in this call, the
    // instance limit as it stands (the accepted instance still counts) or a kept
    // failure says why; and never above its size.
    let waiting = backlog.len();
    assert!(
        waiting <= size,
        "invariant: {waiting} instances wait, more than the backlog of {size}"
    );
    let at_limit = listener
        .max
        .is_some_and(|max| w.space.open_instances() >= max);
    let refused = listener.failures.len() > failures_before;
    assert!(
        waiting == size || at_limit || refused || listener.kept.is_some(),
        "invariant: {waiting} of {size} instances wait after accept, and nothing says why"
    );
    match result {
        Ok(inst) => {
            let slot = &mut w.space.slots[inst.id];
            assert!(
                slot.client.is_some(),
                "invariant: accept returned an instance with no client"
            );
            assert!(!slot.accepted, "invariant: accepted twice");
            slot.accepted = true;
            if let Some(oldest) = before {
                assert_eq!(
                    oldest, inst.id,
                    "invariant: accept took other than the oldest instance"
                );
            }
            assert_ne!(
                now,
                Some(inst.id),
                "invariant: accepted instance still listens"
            );
            drop(w);
            drop(inst);
        }
        Err(err) => {
            if let Some(code) = err.raw_os_error() {
                // A create failure may have been kept by an earlier call.
                let given = if CREATE_FAILURES.contains(&(code as Code)) {
                    listener.failures.contains(&(code as Code))
                } else {
                    w.call.codes.contains(&(code as Code))
                };
                assert!(
                    given,
                    "invariant: accept error {code} the kernel never gave"
                );
                assert_ne!(code as Code, ERROR_OPERATION_ABORTED);
                return;
            }
            let (at, p) = w.call.observed.expect("a stop comes from a policy read");
            match err.kind() {
                ErrorKind::TimedOut => assert!(p.timeout.is_some_and(|l| at >= l)),
                ErrorKind::WouldBlock => assert!(p.nonblocking),
                ErrorKind::ConnectionAborted => assert!(p.shut),
                _ => panic!("invariant: unexpected accept error {err:?}"),
            }
            // A stopped accept keeps its instance, the oldest still.
            if before.is_some() {
                assert_eq!(
                    before, now,
                    "invariant: a stopped accept moved its instance"
                );
            }
        }
    }
}
