//! The promises of one stream call, checked against what the kernel logged.

use super::super::kernel::{policy, Settings, World};
use super::super::timing::Timing;
use crate::engine::io::write_shape;
use crate::engine::{Code, Policy, MAX_WRITE};
use crate::ffi::{
    ERROR_BROKEN_PIPE, ERROR_MORE_DATA, ERROR_OPERATION_ABORTED, ERROR_PIPE_NOT_CONNECTED,
};
use std::io::{self, ErrorKind};
use std::time::Duration;

/// A snapshot of the call's log, taken when the engine returned.
pub(crate) struct Expect {
    transferred: Vec<u8>,
    /// Bytes that became the peer's during the call.
    pub(crate) accepted: u64,
    /// The peer went away holding part of a write: the accounting stops.
    pub(crate) truth_lost: bool,
    peeked: Vec<u8>,
    codes: Vec<Code>,
    pub(crate) eof: bool,
    observed: Option<(Duration, Policy)>,
    pub(crate) before: Policy,
    timing: Timing,
    /// A write only a shutdown stops was in the call.
    exact: bool,
    /// The end-of-stream marker headed the queue when the call began.
    marker_ahead: bool,
}

impl Expect {
    pub(crate) fn after(w: &World<'_>, before: Settings) -> Self {
        let c = &w.call;
        Expect {
            transferred: c.transferred.clone(),
            accepted: w.owed().saturating_sub(c.owed_at_start),
            truth_lost: w.truth_lost,
            peeked: c.peeked.clone(),
            codes: c.codes.clone(),
            eof: c.eof,
            observed: c.observed,
            before: policy(&before, w.dir),
            timing: Timing::of(w, policy(&before, w.dir)),
            exact: c.exact,
            marker_ahead: c.marker_heads_at_start,
        }
    }

    /// A read or peek that would block while the end-of-stream marker heads the
    /// queue has missed the end (a peek cannot see it with PeekNamedPipe alone).
    fn no_block_at_the_end(&self, err: &io::Error) {
        assert!(
            !(self.marker_ahead && err.kind() == ErrorKind::WouldBlock),
            "invariant: WouldBlock with the end-of-stream marker at the head of the queue"
        );
    }

    pub(crate) fn observed_shut(&self) -> bool {
        self.observed.is_some_and(|(_, p)| p.shut)
    }

    pub(crate) fn timing(&self) {
        self.timing_with(0);
    }

    /// `timing`, allowing `more` cancel round trips.
    pub(crate) fn timing_with(&self, more: u32) {
        self.timing.check_with(more);
        if self.before.shut && self.timing.setters == 0 {
            assert_eq!(
                self.timing.issued(),
                0,
                "invariant: an operation issued after shutdown"
            );
        }
    }

    /// An error is a code the kernel gave, or a stop the last policy read justifies.
    pub(crate) fn error(&self, err: &io::Error) {
        if let Some(code) = os_code(err) {
            let code = code as Code;
            assert!(
                self.codes.contains(&code),
                "invariant: error {code} that the kernel never gave"
            );
            // A whole write that other code cancelled says so (it cannot be issued
            // again: the peer may have part of it). Any other cancel is not an error.
            assert!(
                code != ERROR_OPERATION_ABORTED || self.exact,
                "invariant: a cancellation surfaced as an error"
            );
            assert!(
                code != ERROR_OPERATION_ABORTED || err.kind() == ErrorKind::Other,
                "invariant: a write the peer may hold part of surfaced as {:?}, a kind that \
                 invites a retry",
                err.kind()
            );
            assert_ne!(
                code, ERROR_MORE_DATA,
                "invariant: ERROR_MORE_DATA (bytes moved, or a message waits) surfaced as an error"
            );
            return;
        }
        let (at, p) = self.observed.expect("a stop comes from a policy read");
        match err.kind() {
            ErrorKind::TimedOut => {
                let limit = p.timeout.expect("invariant: timed out with no timeout");
                assert!(
                    at >= limit && !p.nonblocking && !p.shut,
                    "invariant: timed out at {at:?} before the deadline {limit:?}"
                );
            }
            ErrorKind::WouldBlock => {
                assert!(
                    p.nonblocking && !p.shut,
                    "invariant: WouldBlock while blocking"
                )
            }
            ErrorKind::BrokenPipe => assert!(p.shut, "invariant: BrokenPipe without shutdown"),
            _ => panic!("invariant: unexpected error {err:?}"),
        }
    }

    /// Checks a read (or vectored read) that returned `result` into `buf`, asked for
    /// at most `most` bytes; returns whether end of stream has now been seen.
    pub(super) fn read(
        &self,
        result: &io::Result<usize>,
        buf: &[u8],
        most: usize,
        eof_seen: bool,
    ) -> bool {
        self.timing();
        assert_eq!(self.accepted, 0, "invariant: a read wrote");
        let shut = self.observed_shut() || self.before.shut;
        match result {
            Ok(n) => {
                let n = *n;
                assert!(n <= most, "invariant: read {n} bytes into {most}");
                assert_eq!(
                    n,
                    self.transferred.len(),
                    "invariant: bytes handed to the caller differ from bytes transferred"
                );
                assert_eq!(
                    &buf[..n],
                    &self.transferred[..],
                    "invariant: the caller got other bytes than the kernel transferred"
                );
                if n == 0 && most > 0 {
                    assert!(self.eof || shut, "invariant: Ok(0) without end of stream");
                }
                if eof_seen && most > 0 {
                    assert_eq!(n, 0, "invariant: data after end of stream");
                }
                eof_seen || (n == 0 && most > 0 && self.eof)
            }
            Err(err) => {
                assert!(
                    self.transferred.is_empty(),
                    "invariant: Err after bytes were read"
                );
                assert!(!eof_seen, "invariant: {err:?} after end of stream");
                self.no_block_at_the_end(err);
                read_error(err);
                self.error(err);
                eof_seen
            }
        }
    }

    /// Checks a peek: it copies what the next read would return and takes nothing.
    pub(super) fn peek(
        &self,
        result: &io::Result<usize>,
        buf: &[u8],
        most: usize,
        eof_seen: bool,
    ) -> bool {
        self.timing();
        assert!(
            self.transferred.is_empty() && self.accepted == 0,
            "invariant: peek moved bytes"
        );
        match result {
            Ok(0) => {
                let shut = self.observed_shut() || self.before.shut;
                assert!(
                    most == 0 || self.eof || shut,
                    "invariant: peek gave Ok(0) without end of stream"
                );
                eof_seen || (most > 0 && self.eof)
            }
            Ok(n) => {
                assert!(*n <= most && !eof_seen, "invariant: peek gave {n} bytes");
                assert_eq!(
                    &buf[..*n],
                    &self.peeked[..],
                    "invariant: peek returned other bytes than buffered"
                );
                eof_seen
            }
            Err(err) => {
                assert!(!eof_seen, "invariant: peek {err:?} after end of stream");
                self.no_block_at_the_end(err);
                read_error(err);
                self.error(err);
                eof_seen
            }
        }
    }

    /// Checks a write of `len` bytes, at most `cap` per call; returns the count.
    pub(super) fn write(&self, result: &io::Result<usize>, len: usize, cap: usize) -> u64 {
        self.timing();
        assert!(self.transferred.is_empty(), "invariant: a write read");
        if self.before.shut {
            // A shutdown is never undone: whatever its length, the write is refused.
            assert!(
                matches!(result, Err(e) if e.kind() == ErrorKind::BrokenPipe),
                "invariant: a write of {len} bytes on a shut direction returned {result:?}"
            );
        }
        match result {
            Ok(n) => {
                assert!(
                    *n as u64 == self.accepted || self.truth_lost,
                    "invariant: write returned Ok({n}); the peer received {} bytes",
                    self.accepted
                );
                assert!(
                    *n <= len.min(cap),
                    "invariant: wrote {n} of {len} (cap {cap})"
                );
                assert!(*n > 0 || len == 0, "invariant: Ok(0) for a non-empty write");
                *n as u64
            }
            Err(err) => {
                assert!(
                    self.accepted == 0 || self.truth_lost,
                    "invariant: write returned {err:?}; the peer received {} bytes",
                    self.accepted
                );
                self.error(err);
                0
            }
        }
    }
}

/// What no read or peek may fail with: an end-of-stream code (109, 233) is `Ok(0)`,
/// and `BrokenPipe` without an OS code is a write's stop (a read shutdown is the end
/// of stream too).
pub(crate) fn read_error(err: &io::Error) {
    if let Some(code) = os_code(err) {
        assert!(
            code as Code != ERROR_BROKEN_PIPE && code as Code != ERROR_PIPE_NOT_CONNECTED,
            "invariant: end of stream surfaced as an error"
        );
    }
    assert!(
        err.kind() != ErrorKind::BrokenPipe || os_code(err).is_some(),
        "invariant: a read or peek failed with {err:?}, a write's stop"
    );
}

/// The system's code an error carries, directly or (for a disconnected pipe's
/// `BrokenPipe`) inside.
fn os_code(err: &io::Error) -> Option<i32> {
    err.raw_os_error()
        .or_else(|| err.get_ref()?.downcast_ref::<io::Error>()?.raw_os_error())
}

/// The first write of a call of `len` bytes (plain or vectored) hands over as much as
/// the engine's own rule allows for the policy it read and the buffer size it was
/// told: a write that gathers or sends less than that loses nothing, but is a bug.
pub(super) fn whole_first_write(w: &World<'_>, len: usize) {
    let c = &w.call;
    let (Some(&first), Some(policy)) = (c.write_lens.first(), c.first_policy) else {
        return;
    };
    let mut answers = c.quota_answers.iter().copied();
    let (cap, _, _) = write_shape(policy, &mut || answers.next().flatten());
    let expected = len.min(MAX_WRITE).min(cap);
    assert_eq!(
        first, expected,
        "invariant: the first write of {len} bytes handed over {first}, not {expected}"
    );
}

/// A vectored write copies into its scratch buffer only what one write hands over:
/// gathering 64 KiB for a one-byte write loses nothing, but costs a copy per byte.
pub(super) fn gathered_only_what_was_written(w: &World<'_>, scratch: &[u8]) {
    let lens = w.call.write_lens.iter().chain(&w.call.at_once_lens);
    let most = lens.copied().max().unwrap_or(0);
    assert!(
        scratch.len() <= most,
        "invariant: a vectored write gathered {} bytes to write at most {most}",
        scratch.len()
    );
}
