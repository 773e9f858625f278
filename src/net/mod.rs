//! The public, safe types.

mod addr;
#[cfg(windows)]
mod listener;
#[cfg(windows)]
mod options;
#[cfg(windows)]
mod shared;
#[cfg(windows)]
mod stream;

pub use addr::{WinPipeSocketAddr, WinPipeSocketAddress};
#[cfg(windows)]
pub use listener::{Incoming, WinListener};
#[cfg(windows)]
pub use options::{ConnectOptions, ImpersonationLevel, ListenerOptions, DEFAULT_BACKLOG};
#[cfg(windows)]
pub use stream::{WinStream, DEFAULT_CONNECT_TIMEOUT};
