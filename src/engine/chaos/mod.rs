//! An adversarial simulated kernel for fuzzing the engine: every decision the kernel,
//! the peer and a concurrent setter could make is read from a byte string (the fuzzer's
//! input) or from a seeded PRNG (the long host runs), and the engine's promises are
//! checked after every call. Time is virtual: nothing sleeps.
//!
//! - `stream`: read/write/peek/vectored calls on one connected pipe end;
//! - `message`: the message engine's sends, receives and peeks on one such end;
//! - `dial`: `connect` and `accept` against a simulated pipe namespace;
//! - `name`: pipe-name validation against an independent reference checker.
//!
//! A violated invariant panics with a message saying which; nothing else may panic.

mod dial;
mod kernel;
mod message;
pub(crate) mod name;
mod npfs;
mod port;
mod space;
mod stream;
mod timing;

#[cfg(test)]
mod tests;

use std::time::Duration;

/// Runs the `stream_io` target on one input: read / write / peek / vectored calls on
/// one pipe end, every kernel, peer and setter decision taken from `data`.
pub fn stream_io(data: &[u8]) {
    stream::run(Source::Bytes(data), usize::MAX);
}

/// Runs the `message_io` target on one input: send / receive / peek calls of the
/// message engine on one end of a message-type pipe, every decision from `data`.
pub fn message_io(data: &[u8]) {
    message::run(Source::Bytes(data), usize::MAX);
}

/// Runs the `connect_accept` target on one input: connects and accepts against a
/// namespace that `data` drives.
pub fn connect_accept(data: &[u8]) {
    dial::run(Source::Bytes(data), usize::MAX);
}

/// Runs the `pipe_name` target on one input: names built from `data` are validated.
pub fn pipe_name(data: &[u8]) {
    name::run(data);
}

/// The longest a cancelled operation takes to complete: one CancelIoEx round trip.
pub(crate) const CANCEL_RTT: Duration = Duration::from_millis(2);

/// How many chaotic decisions one engine call may see before the kernel only makes
/// progress (so that every call ends, whatever the input).
const CHAOS_PER_CALL: u32 = 48;

/// Where the kernel's decisions come from. Once the bytes run out every decision is
/// 0, which always means "make progress", so every run ends.
pub(crate) enum Source<'a> {
    Bytes(&'a [u8]),
    /// SplitMix64 state: the host tests' long runs.
    #[cfg_attr(not(test), allow(dead_code))]
    Rng(u64),
}

impl Source<'_> {
    pub(crate) fn byte(&mut self) -> u8 {
        match self {
            Source::Bytes(data) => match data.split_first() {
                Some((&b, rest)) => {
                    *data = rest;
                    b
                }
                None => 0,
            },
            Source::Rng(state) => (splitmix(state) >> 56) as u8,
        }
    }

    /// Whether a byte-driven run has used its whole input.
    pub(crate) fn exhausted(&self) -> bool {
        matches!(self, Source::Bytes(data) if data.is_empty())
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let wide = (usize::from(self.byte()) << 8) | usize::from(self.byte());
        wide % n
    }

    /// A duration of 0..=255 ms.
    pub(crate) fn millis(&mut self) -> Duration {
        Duration::from_millis(u64::from(self.byte()))
    }
}

/// One step of SplitMix64: a tiny, well-mixed PRNG, enough for test schedules.
pub(crate) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The byte at position `i` of a stream, distinct enough that a lost or repeated
/// stretch shows up.
pub(crate) fn stream_byte(salt: u64, i: u64) -> u8 {
    let mut s = salt ^ i.wrapping_mul(0x2545_F491_4F6C_DD1D);
    (splitmix(&mut s) >> 24) as u8
}
