//! A deterministic simulated kernel for the engine's host tests: one pipe direction with
//! virtual time, scheduled arrivals, a bounded buffer and cancellation.
//!
//! The kernel "holds" a lent buffer from issue until completion is polled; `submit`
//! asserts that the engine always settled the operation before returning.

use super::{Clock, Code, Completion, Issued, Pending, Port, Request, Wake};
use crate::ffi::{ERROR_BROKEN_PIPE, ERROR_NO_DATA, ERROR_OPERATION_ABORTED};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

/// Virtual time shared by the clock and the kernel.
#[derive(Clone, Default)]
pub(crate) struct SimClock(Rc<Cell<Duration>>);

impl SimClock {
    pub(crate) fn advance_to(&self, t: Duration) {
        if t > self.0.get() {
            self.0.set(t);
        }
    }
}

impl Clock for SimClock {
    fn now(&self) -> Duration {
        self.0.get()
    }
}

/// Something that happens at a virtual time.
#[derive(Clone, Debug)]
pub(crate) enum Event {
    /// The peer writes these bytes to us.
    Arrive(Vec<u8>),
    /// The peer reads up to this many bytes of what we wrote.
    Drain(usize),
    /// The peer closes its end.
    Close,
}

/// The simulated pipe, seen from our end.
pub(crate) struct SimPipe {
    pub clock: SimClock,
    /// Bytes the peer wrote that we have not read yet.
    pub inbound: VecDeque<u8>,
    /// Bytes we wrote that the peer has not read yet, and the buffer's capacity.
    pub outbound: VecDeque<u8>,
    pub capacity: usize,
    /// Bytes the peer has read from us, in order.
    pub delivered: Vec<u8>,
    pub peer_closed: bool,
    /// Future events, in time order.
    pub schedule: VecDeque<(Duration, Event)>,
    /// Count of operations issued (ReadFile/WriteFile/ConnectNamedPipe).
    pub issued: usize,
    /// Set from issue until the completion is collected: the kernel owns the buffer.
    pub kernel_holds_buffer: bool,
    /// Every wait, with the timeout asked for.
    pub waits: Vec<Option<Duration>>,
}

impl SimPipe {
    pub(crate) fn new(capacity: usize) -> Self {
        SimPipe {
            clock: SimClock::default(),
            inbound: VecDeque::new(),
            outbound: VecDeque::new(),
            capacity,
            delivered: Vec::new(),
            peer_closed: false,
            schedule: VecDeque::new(),
            issued: 0,
            kernel_holds_buffer: false,
            waits: Vec::new(),
        }
    }

    pub(crate) fn at(&mut self, ms: u64, event: Event) -> &mut Self {
        let t = Duration::from_millis(ms);
        let pos = self.schedule.iter().position(|(when, _)| *when > t);
        let pos = pos.unwrap_or(self.schedule.len());
        self.schedule.insert(pos, (t, event));
        self
    }

    /// Applies every event due by now.
    fn run_due(&mut self) {
        while let Some((when, _)) = self.schedule.front() {
            if *when > self.clock.now() {
                break;
            }
            let (_, event) = self.schedule.pop_front().expect("front exists");
            match event {
                Event::Arrive(bytes) => self.inbound.extend(bytes),
                Event::Drain(n) => {
                    let n = n.min(self.outbound.len());
                    self.delivered.extend(self.outbound.drain(..n));
                }
                Event::Close => self.peer_closed = true,
            }
        }
    }

    fn next_event_time(&self) -> Option<Duration> {
        self.schedule.front().map(|(when, _)| *when)
    }
}

/// A port over a shared simulated pipe.
#[derive(Clone)]
pub(crate) struct SimPort(pub Rc<RefCell<SimPipe>>);

impl SimPort {
    pub(crate) fn new(capacity: usize) -> Self {
        SimPort(Rc::new(RefCell::new(SimPipe::new(capacity))))
    }

    pub(crate) fn clock(&self) -> SimClock {
        self.0.borrow().clock.clone()
    }
}

enum Op<'a> {
    Read(&'a mut [u8]),
    Write(&'a [u8]),
}

struct SimPending<'a> {
    pipe: Rc<RefCell<SimPipe>>,
    op: Op<'a>,
    cancelled: bool,
    done: Option<Completion>,
}

impl SimPending<'_> {
    /// Tries to complete the operation from the pipe's state.
    fn progress(&mut self) {
        if self.done.is_some() {
            return;
        }
        let mut pipe = self.pipe.borrow_mut();
        pipe.run_due();
        self.done = match &mut self.op {
            Op::Read(buf) => try_read(&mut pipe, buf),
            Op::Write(buf) => try_write(&mut pipe, buf),
        };
        if self.done.is_none() && self.cancelled {
            self.done = Some(Completion::failed(ERROR_OPERATION_ABORTED));
        }
    }
}

fn try_read(pipe: &mut SimPipe, buf: &mut [u8]) -> Option<Completion> {
    if !pipe.inbound.is_empty() {
        let n = buf.len().min(pipe.inbound.len());
        for (dst, src) in buf.iter_mut().zip(pipe.inbound.drain(..n)) {
            *dst = src;
        }
        return Some(Completion {
            bytes: n,
            error: None,
        });
    }
    if pipe.peer_closed {
        return Some(Completion::failed(ERROR_BROKEN_PIPE));
    }
    None
}

fn try_write(pipe: &mut SimPipe, buf: &[u8]) -> Option<Completion> {
    if pipe.peer_closed {
        return Some(Completion::failed(ERROR_NO_DATA));
    }
    if pipe.outbound.len() + buf.len() <= pipe.capacity {
        pipe.outbound.extend(buf.iter().copied());
        return Some(Completion {
            bytes: buf.len(),
            error: None,
        });
    }
    None
}

impl Pending for SimPending<'_> {
    fn poll(&mut self) -> Option<Completion> {
        self.progress();
        if self.done.is_some() {
            self.pipe.borrow_mut().kernel_holds_buffer = false;
        }
        self.done
    }

    fn wait(&mut self, timeout: Option<Duration>) {
        let mut pipe = self.pipe.borrow_mut();
        pipe.waits.push(timeout);
        let now = pipe.clock.now();
        let limit = timeout.map(|t| now + t);
        let target = match (pipe.next_event_time(), limit) {
            (Some(event), Some(limit)) => event.min(limit),
            (Some(event), None) => event,
            (None, Some(limit)) => limit,
            (None, None) if self.cancelled => now,
            (None, None) => panic!("the engine waits forever on an operation that never completes"),
        };
        pipe.clock.advance_to(target);
    }

    fn cancel(&mut self) {
        self.cancelled = true;
    }
}

impl Port for SimPort {
    fn submit<R>(
        &mut self,
        request: Request<'_>,
        _wake: Wake,
        drive: impl FnOnce(Issued<'_>) -> R,
    ) -> R {
        {
            let mut pipe = self.0.borrow_mut();
            assert!(!pipe.kernel_holds_buffer, "a second operation on one port");
            pipe.issued += 1;
            pipe.kernel_holds_buffer = true;
        }
        let op = match request {
            Request::Read(buf) => Op::Read(buf),
            Request::Write(buf) => Op::Write(buf),
            Request::Connect => panic!("connect on a stream port"),
        };
        let mut pending = SimPending {
            pipe: self.0.clone(),
            op,
            cancelled: false,
            done: None,
        };
        pending.progress();
        let result = match pending.done {
            Some(done) => {
                self.0.borrow_mut().kernel_holds_buffer = false;
                drive(Issued::Done(done))
            }
            None => drive(Issued::Pending(&mut pending)),
        };
        assert!(
            !self.0.borrow().kernel_holds_buffer,
            "the engine returned while the kernel still held the buffer"
        );
        result
    }

    fn peek(&mut self, buf: &mut [u8]) -> Result<usize, Code> {
        let mut pipe = self.0.borrow_mut();
        pipe.run_due();
        if pipe.inbound.is_empty() && pipe.peer_closed {
            return Err(ERROR_BROKEN_PIPE);
        }
        let n = buf.len().min(pipe.inbound.len());
        for (dst, src) in buf.iter_mut().zip(pipe.inbound.iter()) {
            *dst = *src;
        }
        Ok(n)
    }

    /// A pause in virtual time, never a real sleep.
    fn nap(&mut self, pause: Duration) {
        let pipe = self.0.borrow();
        pipe.clock.advance_to(pipe.clock.now() + pause);
    }

    fn end_of_stream(&mut self) {
        panic!("a read of the simulated byte-type pipe completed with no byte")
    }
}
