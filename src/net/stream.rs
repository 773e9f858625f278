//! `WinStream`: one connected end of a named pipe.

use super::addr::WinPipeSocketAddr;
use super::options::ConnectOptions;
use super::shared::Shared;
use crate::engine::Code;
use crate::engine::{self, Policy, Quota, Since, MAX_WRITE};
use crate::ffi::{
    ERROR_INVALID_PARAMETER, ERROR_NO_DATA, ERROR_PIPE_NOT_CONNECTED, FILE_PIPE_CLOSING_STATE,
    FILE_PIPE_DISCONNECTED_STATE, FILE_PIPE_LOCAL_INFORMATION, FILE_PIPE_SERVER_END,
    STATUS_PIPE_DISCONNECTED,
};
use crate::sys::{self, Handle, Pipe};
use std::fmt;
use std::io::{self, ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::windows::io::{
    AsHandle, AsRawHandle, BorrowedHandle, IntoRawHandle, OwnedHandle, RawHandle,
};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Size of each direction's pipe buffer in the pipes winpipe creates.
pub(crate) const PIPE_BUFFER: usize = 64 * 1024;

/// `quota` while the pipe's buffer size is not known.
const UNKNOWN: usize = usize::MAX;

/// How long [`WinStream::connect`] keeps trying (as winpipe 0.1 did).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(winpipe::DEFAULT_CONNECT_TIMEOUT, Duration::from_secs(10));
/// ```
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether this system keeps a pipe's free write quota, asked once per process of a
/// pipe nobody has written to (a `pair`): its `WriteQuotaAvailable` must be its whole
/// buffer. NPFS keeps it (`Quota - QuotaUsed`: ReactOS `fileinfo.c`
/// `NpQueryPipeLocalInfo`; Wine's `test_pipe_local_info` on Windows); Wine 8 reports
/// 0 whatever the pipe holds. Where it is not kept a write may fill the quota, as it
/// did before winpipe asked; if the answer cannot be had, Windows' behaviour is
/// assumed.
pub(super) fn free_quota_is_kept() -> bool {
    static KEPT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *KEPT.get_or_init(|| match WinStream::pair() {
        Ok((client, _server)) => match write_quota(&client.handle) {
            Ok((free, quota)) => free == quota,
            Err(_) => true,
        },
        Err(_) => true,
    })
}

/// The quota of the direction `handle` writes and what of it is free
/// (`OutboundQuota`/`InboundQuota` and `WriteQuotaAvailable`): `(free, quota)`. NPFS
/// reports `Quota - QuotaUsed`, which a read past a pending write's charge can wrap
/// past the quota; the caller decides what to make of it.
fn write_quota(handle: &Handle) -> Result<(usize, usize), u32> {
    let info = sys::local_info(handle)?;
    let quota = match info.NamedPipeEnd {
        FILE_PIPE_SERVER_END => info.OutboundQuota,
        _ => info.InboundQuota,
    };
    Ok((info.WriteQuotaAvailable as usize, quota as usize))
}

/// The error a write would get if the peer is gone, from the pipe end's state: 232
/// once the peer closed (`FILE_PIPE_CLOSING_STATE`), 233 once the server disconnected
/// it (the query then fails: NPFS's `NpCommonQueryInformation`); `None` otherwise.
pub(crate) fn peer_gone(info: Result<FILE_PIPE_LOCAL_INFORMATION, u32>) -> Option<Code> {
    match info {
        Err(STATUS_PIPE_DISCONNECTED) => Some(ERROR_PIPE_NOT_CONNECTED),
        Ok(info) if info.NamedPipeState == FILE_PIPE_CLOSING_STATE => Some(ERROR_NO_DATA),
        Ok(info) if info.NamedPipeState == FILE_PIPE_DISCONNECTED_STATE => {
            Some(ERROR_PIPE_NOT_CONNECTED)
        }
        _ => None,
    }
}

/// Which end of the pipe a stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Side {
    Server,
    Client,
}

/// A connected named-pipe stream: the `UnixStream` of winpipe.
///
/// Reads and writes block by default. Timeouts, nonblocking mode and shutdown are
/// shared with every clone (as std's socket options are), and take effect on calls
/// already blocked in another thread (see each setter for what it wakes). `Read` and
/// `Write` are implemented for `&WinStream` too, so threads can read and write at the
/// same time; each call's timeout counts from that call.
///
/// Errors: a read that times out gives `TimedOut`; in nonblocking mode a read or write
/// that would wait gives `WouldBlock`; a write to a closed or disconnected peer gives
/// `BrokenPipe` (OS error 232 or 109; 233 kept inside the error). OS errors keep their
/// `raw_os_error`.
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::Shutdown;
/// use winpipe::{WinListener, WinStream};
/// let name = format!(r"\\.\pipe\doc-{}-WinStream", std::process::id());
/// let listener = WinListener::bind(&name)?;
/// let mut client = WinStream::connect(&name)?;
/// let (mut server, _addr) = listener.accept()?;
/// client.write_all(b"hello")?;
/// client.shutdown(Shutdown::Write)?;
/// let mut text = String::new();
/// server.read_to_string(&mut text)?;
/// assert_eq!(text, "hello");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct WinStream {
    pub(super) handle: Handle,
    pub(super) shared: Arc<Shared>,
    /// The pipe's buffer size if known (`UNKNOWN` if not): when it is 0, a write that
    /// may be stopped needs not ask the free quota.
    quota: AtomicUsize,
    /// `false` for a handle given to `from_raw_handle` that is not a pipe (a file,
    /// say: every read, write and peek then fails instead of acting on it).
    is_pipe: bool,
    pub(super) side: Side,
    name: WinPipeSocketAddr,
    /// Where vectored reads and writes gather their slices: allocated by the first
    /// one and kept (see `with_scratch`).
    pub(super) read_scratch: Mutex<Vec<u8>>,
    pub(super) write_scratch: Mutex<Vec<u8>>,
}

impl WinStream {
    fn new(handle: Handle, side: Side, name: WinPipeSocketAddr) -> Self {
        Self::with_shared(handle, side, name, Shared::new(), UNKNOWN)
    }

    /// Says the pipe is (winpipe's own are) or is not of message type.
    pub(super) fn of_message_type(self, message_type: bool) -> Self {
        self.shared.know_message_type(message_type);
        self
    }

    /// Whether the pipe is of message type, and so carries the end-of-stream marker
    /// (a byte-type pipe cannot). A client end of a pipe other code made is put in
    /// message read mode the first time this is asked, by its first read, peek or
    /// shutdown (not at connect: a client that only writes pays no system call).
    pub(super) fn message_type(&self) -> bool {
        self.shared
            .message_type(|| read_messages_if_possible(&self.handle))
    }

    pub(super) fn with_shared(
        handle: Handle,
        side: Side,
        name: WinPipeSocketAddr,
        shared: Arc<Shared>,
        quota: usize,
    ) -> Self {
        WinStream {
            handle,
            shared,
            quota: AtomicUsize::new(quota),
            is_pipe: true,
            side,
            name,
            read_scratch: Mutex::default(),
            write_scratch: Mutex::default(),
        }
    }

    /// The server end of a connection `WinListener::accept` made; `quota` is the
    /// buffer size the instance was created with (Windows keeps it as given, 0
    /// included: Wine's test_GetNamedPipeInfo on Windows).
    pub(crate) fn accepted(handle: Handle, name: WinPipeSocketAddr, quota: usize) -> Self {
        Self::with_shared(handle, Side::Server, name, Shared::new(), quota).of_message_type(true)
    }

    /// The handle as the engine uses it.
    pub(super) fn pipe(&self) -> Pipe<'_> {
        Pipe {
            file: &self.handle,
            shared: &self.shared,
        }
    }

    pub(super) fn read_policy(&self) -> impl Fn() -> Policy + '_ {
        || self.shared.read_policy()
    }

    pub(super) fn write_policy(&self) -> impl Fn() -> Policy + '_ {
        || self.shared.write_policy()
    }

    /// What a write that may be stopped may hand over now without pending: the
    /// pipe's free write quota, asked of the system for each such write
    /// (`NtQueryInformationFile`), at most the quota itself. A pipe whose buffer is
    /// known to be 0 has none, so nothing is asked. `None` if the system does not say
    /// (a pipe the server has disconnected): the write then moves one byte. On a
    /// system that does not keep the free quota (`free_quota_is_kept`) it is the quota.
    pub(super) fn free_quota(&self) -> Option<Quota> {
        if self.quota.load(Ordering::Relaxed) == 0 {
            return Some(Quota { free: 0, size: 0 });
        }
        let (free, size) = write_quota(&self.handle).ok()?;
        let free = match free_quota_is_kept() {
            true => free.min(size),
            false => size,
        };
        Some(Quota { free, size })
    }

    /// Refuses I/O on a handle that is not a pipe: ReadFile and WriteFile would work on
    /// a file, at offset 0 every time, so `read_to_end` would never end.
    pub(super) fn check_pipe(&self) -> io::Result<()> {
        if !self.is_pipe {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                "the handle is not a named pipe",
            ));
        }
        Ok(())
    }

    /// Connects to the pipe `path` (`\\.\pipe\NAME`), waiting up to
    /// [`DEFAULT_CONNECT_TIMEOUT`] for a listener or a free instance.
    ///
    /// # Errors
    /// `InvalidInput` for an invalid name; after the timeout `ConnectionRefused` if
    /// nobody listened, `TimedOut` if every instance stayed busy; other OS errors as
    /// they come.
    ///
    /// ```no_run
    /// use std::io::Write;
    /// let mut stream = winpipe::WinStream::connect(r"\\.\pipe\my-service")?;
    /// stream.write_all(b"hello")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<WinStream> {
        Self::connect_addr(&WinPipeSocketAddr::from_pathname(path)?)
    }

    /// Connects to `addr`, as [`connect`](Self::connect).
    ///
    /// ```
    /// use winpipe::{WinListener, WinPipeSocketAddr, WinStream};
    /// let name = format!(r"\\.\pipe\doc-{}-connect_addr", std::process::id());
    /// let addr = WinPipeSocketAddr::from_pathname(name)?;
    /// let _listener = WinListener::bind_addr(&addr)?;
    /// let stream = WinStream::connect_addr(&addr)?;
    /// assert_eq!(stream.peer_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_addr(addr: &WinPipeSocketAddr) -> io::Result<WinStream> {
        Self::connect_addr_with_timeout(addr, DEFAULT_CONNECT_TIMEOUT)
    }

    /// Connects to `path`, trying for at most `timeout` (at least one attempt is made).
    ///
    /// # Errors
    /// As [`connect`](Self::connect); a zero `timeout` is `InvalidInput`.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use std::time::Duration;
    /// use winpipe::WinStream;
    /// // Nobody listens on this name: the connect gives up after 50 ms.
    /// let name = format!(r"\\.\pipe\doc-{}-connect_with_timeout", std::process::id());
    /// let err = WinStream::connect_with_timeout(&name, Duration::from_millis(50)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    /// let err = WinStream::connect_with_timeout(&name, Duration::ZERO).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
    /// ```
    pub fn connect_with_timeout<P: AsRef<Path>>(
        path: P,
        timeout: Duration,
    ) -> io::Result<WinStream> {
        Self::connect_addr_with_timeout(&WinPipeSocketAddr::from_pathname(path)?, timeout)
    }

    /// Connects to `addr`, trying for at most `timeout`.
    ///
    /// While nobody listens it tries again after 1, 2, 4 … up to 50 ms; while every
    /// instance is busy it waits for one with `WaitNamedPipeA`, at most 50 ms per call
    /// (the system can stretch one call past its timeout under load, so the deadline
    /// holds within one such call). The server may identify the client but not
    /// impersonate it (`SECURITY_IDENTIFICATION`); see [`ConnectOptions`] to change
    /// that.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winpipe::{WinListener, WinPipeSocketAddr, WinStream};
    /// let name = format!(r"\\.\pipe\doc-{}-connect_addr_with_timeout", std::process::id());
    /// let addr = WinPipeSocketAddr::from_pathname(name)?;
    /// let listener = WinListener::bind_addr(&addr)?;
    /// let _client = WinStream::connect_addr_with_timeout(&addr, Duration::from_secs(1))?;
    /// let (server, _) = listener.accept()?;
    /// assert_eq!(server.local_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_addr_with_timeout(
        addr: &WinPipeSocketAddr,
        timeout: Duration,
    ) -> io::Result<WinStream> {
        ConnectOptions::new().timeout(timeout).connect_addr(addr)
    }

    /// Options for connecting (timeout, impersonation level), as `File::options`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winpipe::{WinListener, WinStream};
    /// let name = format!(r"\\.\pipe\doc-{}-WinStream-options", std::process::id());
    /// let _listener = WinListener::bind(&name)?;
    /// let stream = WinStream::options()
    ///     .timeout(Duration::from_secs(1))
    ///     .connect(&name)?;
    /// assert!(stream.local_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn options() -> ConnectOptions {
        ConnectOptions::new()
    }

    pub(crate) fn connect_with(
        addr: &WinPipeSocketAddr,
        options: &ConnectOptions,
    ) -> io::Result<WinStream> {
        if options.timeout.is_zero() {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                "cannot connect with a zero timeout",
            ));
        }
        let name = addr.name().ok_or_else(|| {
            io::Error::new(
                ErrorKind::InvalidInput,
                "cannot connect to an unnamed address",
            )
        })?;
        let mut dialer = sys::Dialer {
            name,
            level: options.impersonation.flags(),
        };
        let handle = engine::connect(&mut dialer, name, options.timeout, &Since::start())?;
        let stream = WinStream::new(handle, Side::Client, addr.clone());
        if let Some(expected) = &options.server_user {
            // On failure the stream is dropped: closed before anything is written.
            stream.check_server_user(name, expected)?;
        }
        Ok(stream)
    }

    /// A second stream on the same pipe (a duplicated handle).
    /// Timeouts, nonblocking mode and shutdown are shared with the original.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::time::Duration;
    /// let (a, mut b) = winpipe::WinStream::pair()?;
    /// let mut writer = a.try_clone()?;
    /// writer.write_all(b"from the clone")?;
    /// let mut buf = [0; 14];
    /// b.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"from the clone");
    /// a.set_read_timeout(Some(Duration::from_secs(1)))?;
    /// assert_eq!(writer.read_timeout()?, Some(Duration::from_secs(1))); // shared
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<WinStream> {
        let handle = self.handle.duplicate()?;
        let mut clone = WinStream::with_shared(
            handle,
            self.side,
            self.name.clone(),
            self.shared.clone(),
            self.quota.load(Ordering::Relaxed),
        );
        clone.is_pipe = self.is_pipe;
        Ok(clone)
    }

    /// This end's address: the pipe name on the server side, unnamed on the client side
    /// and for [`pair`](Self::pair), as with Unix sockets.
    ///
    /// ```
    /// use std::path::Path;
    /// use winpipe::{WinListener, WinStream};
    /// let name = format!(r"\\.\pipe\doc-{}-local_addr", std::process::id());
    /// let listener = WinListener::bind(&name)?;
    /// let client = WinStream::connect(&name)?;
    /// let (server, _) = listener.accept()?;
    /// assert!(client.local_addr()?.is_unnamed());
    /// assert_eq!(server.local_addr()?.as_pathname(), Some(Path::new(&name)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<WinPipeSocketAddr> {
        Ok(match self.side {
            Side::Server => self.name.clone(),
            Side::Client => WinPipeSocketAddr::unnamed(),
        })
    }

    /// The other end's address: the pipe name on the client side, unnamed on the
    /// server side and for [`pair`](Self::pair).
    ///
    /// ```
    /// use std::path::Path;
    /// use winpipe::{WinListener, WinStream};
    /// let name = format!(r"\\.\pipe\doc-{}-peer_addr", std::process::id());
    /// let listener = WinListener::bind(&name)?;
    /// let client = WinStream::connect(&name)?;
    /// let (server, _) = listener.accept()?;
    /// assert_eq!(client.peer_addr()?.as_pathname(), Some(Path::new(&name)));
    /// assert!(server.peer_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<WinPipeSocketAddr> {
        Ok(match self.side {
            Side::Client => self.name.clone(),
            Side::Server => WinPipeSocketAddr::unnamed(),
        })
    }

    /// The id of the process at the other end: the client's for a stream from
    /// [`WinListener::accept`](crate::WinListener::accept)
    /// (`GetNamedPipeClientProcessId`), the server's for a connected client
    /// (`GetNamedPipeServerProcessId`). For [`pair`](Self::pair) it is this process.
    ///
    /// A process id names a process only while it runs: once the peer has exited the
    /// id may be reused. Use it for logging or to look the process up while the
    /// connection is open, not as proof of identity.
    ///
    /// ```
    /// let (client, server) = winpipe::WinStream::pair()?;
    /// // Both ends of a pair are in this process.
    /// assert_eq!(client.peer_process_id()?, std::process::id());
    /// assert_eq!(server.peer_process_id()?, std::process::id());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_process_id(&self) -> io::Result<u32> {
        sys::peer_process_id(&self.handle, self.side == Side::Server)
    }

    /// Sets the read timeout; `None` (the default) blocks without limit.
    ///
    /// A read that times out returns `TimedOut` and loses nothing: bytes arriving later
    /// are returned by the next read. The timeout counts from the start of each call;
    /// reads and peeks already blocked in other threads obey the new value at once.
    /// Writes are not disturbed. Durations under a millisecond round up to one.
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`, as std.
    ///
    /// ```
    /// use std::io::{ErrorKind, Read};
    /// use std::time::Duration;
    /// let (mut a, _b) = winpipe::WinStream::pair()?;
    /// a.set_read_timeout(Some(Duration::from_millis(10)))?;
    /// let err = a.read(&mut [0; 16]).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::TimedOut);
    /// let err = a.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        self.shared.update(|s| s.read_timeout = timeout);
        Ok(())
    }

    /// Sets the write timeout; `None` (the default) blocks without limit.
    ///
    /// A write that times out returns `Ok(n)` for the bytes that moved, or `TimedOut` if
    /// none did: never an error for bytes the peer can read. To keep that promise on
    /// every pipe, a write that may time out hands the system only what it takes at
    /// once: at most the pipe's free buffer, or, when none is free, what the peer's
    /// waiting reads take (one byte if that cannot be done): see `docs/design.md`,
    /// "Writes and cancellation".
    ///
    /// A write already blocked in another thread with a timeout obeys the new value at
    /// once; one issued with no timeout keeps waiting for the peer (only
    /// [`shutdown`](Self::shutdown) stops it). Reads are not disturbed.
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`, as std.
    ///
    /// ```
    /// use std::io::{ErrorKind, Write};
    /// use std::time::Duration;
    /// let (mut a, _b) = winpipe::WinStream::pair()?;
    /// a.set_write_timeout(Some(Duration::from_secs(1)))?;
    /// assert_eq!(a.write(b"fits the buffer")?, 15);
    /// let err = a.set_write_timeout(Some(Duration::ZERO)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        self.shared.update(|s| s.write_timeout = timeout);
        Ok(())
    }

    /// The read timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (a, _b) = winpipe::WinStream::pair()?;
    /// assert_eq!(a.read_timeout()?, None);
    /// a.set_read_timeout(Some(Duration::from_secs(5)))?;
    /// assert_eq!(a.read_timeout()?, Some(Duration::from_secs(5)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.shared.settings().read_timeout)
    }

    /// The write timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (a, _b) = winpipe::WinStream::pair()?;
    /// assert_eq!(a.write_timeout()?, None);
    /// a.set_write_timeout(Some(Duration::from_millis(250)))?;
    /// assert_eq!(a.write_timeout()?, Some(Duration::from_millis(250)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.shared.settings().write_timeout)
    }

    /// Moves the stream (and its clones) into or out of nonblocking mode: a read with no
    /// data, a write the pipe cannot take now, and a peek with nothing to see return
    /// `WouldBlock`. A nonblocking write hands the system only what the pipe takes at
    /// once, as a write with a timeout does.
    ///
    /// Reads, peeks and writes with a timeout blocked in other threads return
    /// `WouldBlock` (or what they got) at once; a write issued with no timeout keeps
    /// waiting for the peer (only [`shutdown`](Self::shutdown) stops it).
    ///
    /// ```
    /// use std::io::{ErrorKind, Read, Write};
    /// let (mut a, mut b) = winpipe::WinStream::pair()?;
    /// b.set_nonblocking(true)?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    /// a.write_all(b"now")?;
    /// assert_eq!(b.read(&mut buf)?, 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.shared.update(|s| s.nonblocking = nonblocking);
        Ok(())
    }

    /// Always `Ok(None)`: pipes have no pending socket error.
    ///
    /// ```
    /// let (a, _b) = winpipe::WinStream::pair()?;
    /// assert!(a.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        Ok(None)
    }

    /// Shuts down reading, writing or both, for this stream and its clones.
    ///
    /// - `Read`: later reads and peeks return `Ok(0)`; a read blocked in another thread
    ///   wakes and returns what it already got, or `Ok(0)`. Unread bytes stay in the pipe.
    /// - `Write`: later writes fail with `BrokenPipe`; a blocked write returns the bytes
    ///   it moved, or `BrokenPipe`. One exception: a write issued with no timeout in
    ///   blocking mode is whole, and if it is stopped before the peer has read all of
    ///   it, it reports `BrokenPipe` although the peer may have read part of it
    ///   (Windows reports 0 bytes for a cancelled write). The stream writes no more
    ///   after a shutdown, so nothing is sent twice.
    ///
    /// Half-close: after `Write` (or `Both`) the peer's reads return `Ok(0)` once it
    /// has read everything written before, while this end can still read. winpipe
    /// sends the end of stream as one zero-length message (go-winio's `CloseWrite`
    /// convention), without waiting for the peer: winpipe's pipes are message-type
    /// pipes, winpipe's own ends always see it, and byte-mode readers (go-winio
    /// clients, `File`, .NET) see it if their read waits when it comes or it comes
    /// alone. A byte-type pipe (a server another program made in byte mode) cannot
    /// carry it: there the peer sees the end only when every handle to this end is
    /// closed. See the user guide (`docs/guide.md`), "Half-close".
    ///
    /// # Errors
    /// The system's error if the end-of-stream message could not be sent (a handle
    /// without write access, say); a peer that is gone needs none (`Ok`).
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::net::Shutdown;
    /// let (mut a, mut b) = winpipe::WinStream::pair()?;
    /// a.write_all(b"last words")?;
    /// a.shutdown(Shutdown::Write)?;
    /// let mut got = Vec::new();
    /// b.read_to_end(&mut got)?; // ends after what `a` wrote
    /// assert_eq!(got, b"last words");
    /// b.write_all(b"ok")?; // `a` can still read
    /// let mut buf = [0; 2];
    /// a.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"ok");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.shut(how);
        if how == Shutdown::Read || !self.is_pipe || !self.message_type() {
            return Ok(());
        }
        match self.shared.marker_turn() {
            Some(_turn) => engine::end_writes(&mut self.pipe(), &Since::start()),
            None => Ok(()),
        }
    }

    /// Reads without removing: returns what is buffered (at most `buf.len()` bytes),
    /// waiting for data as [`read`](Read::read) would (same timeout, nonblocking mode
    /// and end-of-stream results).
    ///
    /// On a message-type pipe (winpipe's own are) it shows the first message only:
    /// what one write of the peer sent, or its rest. A loop that peeks until a header
    /// of several bytes is complete never ends if the peer wrote the header in
    /// pieces; read the header instead (a `BufReader`, or `read_exact`).
    ///
    /// The bytes shown may include a peer write still in progress (`PeekNamedPipe`
    /// shows them). If that write is then cancelled, Windows withdraws its unread
    /// part: the next read returns what follows it, which may differ from what the
    /// peek showed past the completed writes.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let (mut a, mut b) = winpipe::WinStream::pair()?;
    /// a.write_all(b"hello")?;
    /// let mut buf = [0; 5];
    /// assert_eq!(b.peek(&mut buf)?, 5);
    /// assert_eq!(&buf, b"hello");
    /// buf = [0; 5];
    /// assert_eq!(b.read(&mut buf)?, 5); // the peek left the bytes in the pipe
    /// assert_eq!(&buf, b"hello");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.check_pipe()?;
        self.message_type();
        let policy = self.read_policy();
        engine::peek(&mut self.pipe(), buf, &policy, &Since::start())
    }
}

impl WinStream {
    /// Shuts `how` down for this stream and its clones, waking the calls it stops.
    pub(super) fn shut(&self, how: Shutdown) {
        self.shared.update(|s| {
            s.shut_read |= matches!(how, Shutdown::Read | Shutdown::Both);
            s.shut_write |= matches!(how, Shutdown::Write | Shutdown::Both);
        });
    }
}

/// Whether a client end's pipe is of message type, after putting it in message read
/// mode so that its reads see the end-of-stream marker. A byte-type pipe refuses
/// that mode (87); if the mode cannot be set otherwise, the end reads in byte mode,
/// where the marker may go unseen, and reading works all the same.
fn read_messages_if_possible(handle: &Handle) -> bool {
    match sys::read_messages(handle) {
        Ok(()) => true,
        Err(ERROR_INVALID_PARAMETER) => false,
        Err(_) => sys::pipe_info(handle).is_ok_and(|info| info.message_type),
    }
}

fn check_timeout(timeout: Option<Duration>) -> io::Result<()> {
    if timeout == Some(Duration::ZERO) {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(())
}

impl Read for WinStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

/// Lends `f` the buffer kept in `slot`, taken out for the call so that no lock is held
/// across I/O: a vectored call running at the same time in another thread gets an
/// empty buffer of its own, and whichever call ends last keeps its buffer.
pub(super) fn with_scratch<R>(slot: &Mutex<Vec<u8>>, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut scratch = std::mem::take(&mut *sys::lock(slot));
    let result = f(&mut scratch);
    *sys::lock(slot) = scratch;
    result
}

/// Threads may read through one `&WinStream` at once: each call has its own
/// operation and its own timeout, and each byte goes to one of them.
impl Read for &WinStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.check_pipe()?;
        self.message_type();
        let policy = self.read_policy();
        engine::read(&mut self.pipe(), buf, &policy, &Since::start())
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.check_pipe()?;
        self.message_type();
        let policy = self.read_policy();
        let clock = Since::start();
        with_scratch(&self.read_scratch, |scratch| {
            engine::read_vectored(&mut self.pipe(), bufs, scratch, MAX_WRITE, &policy, &clock)
        })
    }
}

/// Writes go straight to the pipe, one `WriteFile` per call, and a vectored write
/// sends its slices with one `WriteFile`; `flush` has nothing to do. A write hands
/// over at most 64 KiB, and one that may be stopped (a timeout, nonblocking mode) only
/// what the pipe takes at once (`set_write_timeout`): `write_all` loops as usual.
impl Write for WinStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Threads may write through one `&WinStream` (or clones) at once: the writes take
/// turns, each handed to the system whole, so writes do not interleave within one
/// call's bytes, and a timed write waits for its turn no longer than its timeout.
impl Write for &WinStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let clock = Since::start();
        self.check_pipe()?;
        let policy = self.write_policy();
        let _turn = match buf.is_empty() {
            true => None,
            false => Some(self.shared.write_turn(&clock)?),
        };
        engine::write(
            &mut self.pipe(),
            buf,
            &mut || self.free_quota(),
            &policy,
            &clock,
        )
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let clock = Since::start();
        self.check_pipe()?;
        let policy = self.write_policy();
        let quota = &mut || self.free_quota();
        let _turn = match bufs.iter().all(|b| b.is_empty()) {
            true => None,
            false => Some(self.shared.write_turn(&clock)?),
        };
        with_scratch(&self.write_scratch, |scratch| {
            engine::write_vectored(&mut self.pipe(), bufs, scratch, quota, &policy, &clock)
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for WinStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WinStream")
            .field("name", &self.name)
            .field("side", &self.side)
            .field("handle", &self.handle.raw())
            .finish()
    }
}

impl AsRawHandle for WinStream {
    fn as_raw_handle(&self) -> RawHandle {
        self.handle.raw()
    }
}

impl AsHandle for WinStream {
    fn as_handle(&self) -> BorrowedHandle<'_> {
        self.handle.borrow()
    }
}

impl IntoRawHandle for WinStream {
    fn into_raw_handle(self) -> RawHandle {
        OwnedHandle::from(self).into_raw_handle()
    }
}

/// Gives up the pipe handle. It was opened for overlapped I/O: do not hand it to a
/// child process as its stdin or stdout (`Stdio::from`). Rust's std and the C runtime
/// use such handles synchronously, and a child that reads on one thread while it
/// writes on another aborts ("operation failed to complete synchronously"). The
/// user guide (`docs/guide.md`), "Handing a connection to a child process", shows what to do instead.
impl From<WinStream> for OwnedHandle {
    fn from(stream: WinStream) -> OwnedHandle {
        stream.handle.into_owned()
    }
}

/// Wraps a pipe handle the caller owns.
///
/// It must be a handle to either end of a connected named pipe, opened for overlapped
/// I/O (`FILE_FLAG_OVERLAPPED`) with read and write access, as winpipe's own handles
/// are. Any other handle is not undefined behaviour and never panics:
/// - a handle that is not a pipe at all (`GetFileType` says so: a file, an event,
///   …): every read, write, vectored call and peek fails with `InvalidInput` ("the
///   handle is not a named pipe"); setters, `try_clone`, the addresses and the handle
///   traits work as usual, and drop closes the handle;
/// - a pipe without the access a call needs: that call fails with the system's error
///   (`PermissionDenied`, OS error 5);
/// - a pipe opened without `FILE_FLAG_OVERLAPPED` (std's anonymous pipes, for one):
///   reads and writes work, but block in the system like std's, ignoring timeouts,
///   nonblocking mode and shutdown; `shutdown(Write)` on a message-type one waits
///   for the write in flight and, as the system serialises such a handle's calls, for
///   a read blocked on it;
/// - a message-type pipe: it is put in message read mode at its first read, peek or
///   shutdown (as winpipe's own ends are, so that no read takes an empty message
///   silently), a message longer than the read's buffer comes out over several reads
///   (nothing is dropped), message boundaries are not kept, and an empty message is
///   the end of the stream (`docs/guide.md`, "Half-close"); `shutdown(Write)` sends one.
///
/// The side (server or client) is asked of the system; both addresses are unnamed.
impl From<OwnedHandle> for WinStream {
    fn from(owned: OwnedHandle) -> WinStream {
        let handle = Handle::from_owned(owned);
        let is_pipe = sys::is_pipe(&handle);
        let info = if is_pipe {
            sys::pipe_info(&handle).ok()
        } else {
            None
        };
        let side = match &info {
            Some(info) if info.server_end => Side::Server,
            _ => Side::Client,
        };
        let quota = info.as_ref().map_or(UNKNOWN, |info| info.buffer);
        let unnamed = WinPipeSocketAddr::unnamed();
        let mut stream = WinStream::with_shared(handle, side, unnamed, Shared::new(), quota);
        stream.is_pipe = is_pipe;
        match info {
            // Put in message read mode at its first read, peek or shutdown.
            Some(info) if info.message_type => stream,
            _ => stream.of_message_type(false),
        }
    }
}
