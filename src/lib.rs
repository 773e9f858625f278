#![cfg_attr(windows, doc = include_str!("crate.md"))]
#![cfg_attr(
    not(windows),
    doc = "Windows named pipes with the API of std's `UnixStream` and `UnixListener`.\n\n\
           On this platform the pipe types are not available: only the address type, `Sid`, \
           `IntegrityLevel` and, on Unix, the module `local` (std's Unix socket types under \
           the names winpipe's have on Windows). See the crate's README."
)]
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(rust_2018_idioms)]

#[macro_use]
#[cfg_attr(not(windows), allow(unused_macros))]
mod trace;

// Only the Windows backend and the host tests drive the engine; other hosts build it
// so that it is checked and fuzzed everywhere.
#[cfg_attr(not(windows), allow(dead_code, unused_imports))]
mod engine;
mod ffi;
mod integrity;
#[cfg_attr(not(windows), allow(dead_code))]
pub mod net;
#[cfg_attr(not(windows), allow(dead_code))]
mod secdesc;
mod sid;
#[cfg(windows)]
mod sys;

#[cfg(any(unix, windows))]
pub mod local;

// The README's and the guides' examples are doc tests too (on Windows: they need
// the pipe types).
#[cfg(all(doctest, windows))]
#[doc = include_str!("../README.md")]
mod readme {}
#[cfg(all(doctest, windows))]
#[doc = include_str!("../docs/guide.md")]
mod guide {}
#[cfg(all(doctest, windows))]
#[doc = include_str!("../docs/security.md")]
mod security_guide {}

#[doc(inline)]
pub use integrity::IntegrityLevel;
#[cfg(windows)]
#[doc(inline)]
pub use net::{
    ConnectOptions, ImpersonationLevel, Incoming, IncomingMessageStreams, ListenerOptions,
    WinListener, WinMessageListener, WinMessageStream, WinStream, DEFAULT_BACKLOG,
    DEFAULT_CONNECT_TIMEOUT,
};
#[doc(inline)]
pub use net::{WinPipeSocketAddr, WinPipeSocketAddress};
#[doc(inline)]
pub use sid::Sid;

/// Entry points for the cargo-fuzz targets in `fuzz/`: each runs the engine against an
/// adversarial simulated kernel driven by the input bytes and panics if an invariant
/// breaks. Not part of the public API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::engine::chaos::{connect_accept, message_io, pipe_name, stream_io};
    pub use crate::secdesc::fuzz as secdesc;
    pub use crate::sid::fuzz as sid;
}
