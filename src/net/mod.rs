//! Named-pipe networking: the listener, the stream, their options and the address,
//! in the shape of std's `std::os::unix::net` (`winpipe::net::WinStream` mirrors
//! `std::os::unix::net::UnixStream`). The same items are re-exported at the crate
//! root.
//!
//! Safe code only; the system calls are in the crate's one `sys` file. On platforms
//! other than Windows only the address type exists here.
//!
//! ```
//! use winpipe::net::WinPipeSocketAddr;
//! let addr = WinPipeSocketAddr::from_pathname(r"\\.\pipe\my-service")?;
//! assert_eq!(addr, winpipe::WinPipeSocketAddr::from_pathname(r"\\.\pipe\my-service")?);
//! # Ok::<(), std::io::Error>(())
//! ```

mod addr;
mod identity;
#[cfg(windows)]
mod listener;
#[cfg(windows)]
mod message;
#[cfg(windows)]
mod options;
#[cfg(windows)]
mod pair;
mod pipe_security;
#[cfg(windows)]
mod shared;
#[cfg(windows)]
mod stream;

pub use addr::{WinPipeSocketAddr, WinPipeSocketAddress};
#[cfg(windows)]
pub(crate) use identity::{same_session_admits, TokenFacts};
#[cfg(windows)]
pub use listener::{Incoming, WinListener};
#[cfg(windows)]
pub use message::{IncomingMessageStreams, WinMessageListener, WinMessageStream};
#[cfg(windows)]
pub use options::{ConnectOptions, ImpersonationLevel, ListenerOptions, DEFAULT_BACKLOG};
#[cfg(windows)]
pub(crate) use pipe_security::{listener_descriptor, private_descriptor};
#[cfg(windows)]
pub(crate) use shared::Shared;
#[cfg(windows)]
pub(crate) use stream::peer_gone;
#[cfg(windows)]
pub use stream::{WinStream, DEFAULT_CONNECT_TIMEOUT};
