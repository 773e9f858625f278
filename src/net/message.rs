//! `WinMessageStream` and `WinMessageListener`: a pipe whose messages keep their
//! boundaries, with the connected-socket methods of std's `UnixDatagram`.

use super::addr::WinPipeSocketAddr;
use super::options::{ConnectOptions, ListenerOptions};
use super::stream::{free_quota_is_kept, with_scratch, WinStream, DEFAULT_CONNECT_TIMEOUT};
use super::WinListener;
use crate::engine::message::{self, Received};
use crate::engine::{Clock, Since};
use crate::sid::Sid;
use crate::IntegrityLevel;
use std::fmt;
use std::io::{self, ErrorKind, IoSlice, IoSliceMut};
use std::net::Shutdown;
use std::os::windows::io::{
    AsHandle, AsRawHandle, BorrowedHandle, IntoRawHandle, OwnedHandle, RawHandle,
};
use std::path::Path;
use std::time::Duration;

/// A connected named pipe that carries messages: each [`send`](Self::send) arrives as
/// one [`recv`](Self::recv), whole, in order, never glued to another or split. The
/// `UnixSeqpacket` of winpipe, with the method names of std's connected `UnixDatagram`.
///
/// Messages may be of any length up to 4 GiB − 1, longer than the pipe's buffer
/// included, and may be empty. Timeouts, nonblocking mode and shutdown work as for
/// [`WinStream`] and are shared with clones; one receive (or peek) of a stream and
/// its clones runs at a time, and so does one send.
///
/// A `WinMessageStream` and a [`WinStream`] can be the two ends of one connection
/// (winpipe's pipes are all message-type pipes): the `WinStream` reads the messages'
/// bytes as a stream, and takes an empty message as the end of the stream (see the
/// user guide, `docs/guide.md`, "Half-close").
///
/// ```no_run
/// let stream = winpipe::WinMessageStream::connect(r"\\.\pipe\my-service")?;
/// stream.send(b"request")?;
/// let mut reply = Vec::new();
/// if stream.recv_message(&mut reply)?.is_none() {
///     println!("the server hung up");
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct WinMessageStream {
    stream: WinStream,
}

impl WinMessageStream {
    /// A message stream on a connected `stream`: its pipe must be a message-type pipe,
    /// and a client end is put in message read mode now.
    fn on(stream: WinStream) -> io::Result<WinMessageStream> {
        let stream = WinMessageStream { stream };
        stream.check()?;
        Ok(stream)
    }

    /// `InvalidInput` unless the handle is a message-type pipe (its end then reads in
    /// message mode).
    fn check(&self) -> io::Result<()> {
        self.stream.check_pipe()?;
        if !self.stream.message_type() {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                "the pipe is not a message-type pipe, so it keeps no message boundaries \
                 (use WinStream for a byte-type pipe)",
            ));
        }
        Ok(())
    }

    /// Connects to the message-type pipe `path` (`\\.\pipe\NAME`), waiting up to
    /// [`DEFAULT_CONNECT_TIMEOUT`] for a listener or a free instance.
    ///
    /// # Errors
    /// As [`WinStream::connect`]; `InvalidInput` if the pipe is of byte type.
    ///
    /// ```no_run
    /// let stream = winpipe::WinMessageStream::connect(r"\\.\pipe\my-service")?;
    /// stream.send(b"hello")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<WinMessageStream> {
        Self::connect_addr(&WinPipeSocketAddr::from_pathname(path)?)
    }

    /// Connects to `addr`, as [`connect`](Self::connect).
    ///
    /// ```
    /// use winpipe::{WinMessageListener, WinMessageStream, WinPipeSocketAddr};
    /// let name = format!(r"\\.\pipe\doc-{}-msg-connect_addr", std::process::id());
    /// let addr = WinPipeSocketAddr::from_pathname(name)?;
    /// let _listener = WinMessageListener::bind_addr(&addr)?;
    /// let stream = WinMessageStream::connect_addr(&addr)?;
    /// assert_eq!(stream.peer_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_addr(addr: &WinPipeSocketAddr) -> io::Result<WinMessageStream> {
        Self::connect_addr_with_timeout(addr, DEFAULT_CONNECT_TIMEOUT)
    }

    /// Connects to `path`, trying for at most `timeout`, as
    /// [`WinStream::connect_with_timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use winpipe::{WinMessageListener, WinMessageStream};
    /// let name = format!(r"\\.\pipe\doc-{}-msg-connect_with_timeout", std::process::id());
    /// let listener = WinMessageListener::bind(&name)?;
    /// let client = WinMessageStream::connect_with_timeout(&name, Duration::from_secs(1))?;
    /// let (server, _) = listener.accept()?;
    /// client.send(b"hi")?;
    /// assert_eq!(server.recv(&mut [0; 8])?, 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_with_timeout<P: AsRef<Path>>(
        path: P,
        timeout: Duration,
    ) -> io::Result<WinMessageStream> {
        Self::connect_addr_with_timeout(&WinPipeSocketAddr::from_pathname(path)?, timeout)
    }

    /// Connects to `addr`, trying for at most `timeout`.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use std::time::Duration;
    /// use winpipe::{WinMessageStream, WinPipeSocketAddr};
    /// // Nobody listens here: the connect is refused once 50 ms have passed.
    /// let name = format!(r"\\.\pipe\doc-{}-msg-connect_addr_with_timeout", std::process::id());
    /// let addr = WinPipeSocketAddr::from_pathname(name)?;
    /// let err = WinMessageStream::connect_addr_with_timeout(&addr, Duration::from_millis(50))
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_addr_with_timeout(
        addr: &WinPipeSocketAddr,
        timeout: Duration,
    ) -> io::Result<WinMessageStream> {
        ConnectOptions::new()
            .timeout(timeout)
            .connect_messages_addr(addr)
    }

    /// Two connected message streams on a private pipe, as [`WinStream::pair`]:
    /// `(client, server)`.
    ///
    /// ```
    /// let (a, b) = winpipe::WinMessageStream::pair()?;
    /// a.send(b"one")?;
    /// a.send(b"two")?;
    /// let mut buf = [0; 16];
    /// assert_eq!(b.recv(&mut buf)?, 3);
    /// assert_eq!(&buf[..3], b"one");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pair() -> io::Result<(WinMessageStream, WinMessageStream)> {
        let (client, server) = WinStream::pair()?;
        Ok((Self::on(client)?, Self::on(server)?))
    }

    /// Sends `msg` as one message: `Ok(msg.len())`, or an error, and then the peer
    /// receives none of it.
    ///
    /// With no timeout in blocking mode it waits until the pipe has taken the whole
    /// message (the peer reads what does not fit its buffer). With a timeout or in
    /// nonblocking mode a message goes only when it can go whole at once: it fits the
    /// pipe's free buffer, or, with the peer's waiting receive, the buffer and that
    /// receive hold it; until then the send waits for room, and at its deadline it
    /// returns `TimedOut` (`WouldBlock` in nonblocking mode) having sent nothing. So a
    /// message longer than the pipe's buffer, sent with a timeout, needs a peer that
    /// is receiving with a large enough buffer ([`recv_message`](Self::recv_message)
    /// receives into 4 KiB first, or the `Vec`'s spare capacity up to 64 KiB).
    ///
    /// Windows withdraws a cancelled message even if the peer has read part of it.
    /// Only [`shutdown`](Self::shutdown)`(Write)` (or other code cancelling this
    /// handle's I/O) can cancel a send issued with no timeout in blocking mode: then
    /// the send fails (`BrokenPipe`), and a peer that had begun reading the message
    /// sees it cut short (its [`recv_message`](Self::recv_message) fails with
    /// `InvalidData`). Nothing else ever cancels a message the peer may have begun.
    ///
    /// # Errors
    /// `BrokenPipe` after a write shutdown or when the peer is gone; `InvalidInput`
    /// for a message of 4 GiB or more; `TimedOut`, `WouldBlock` as above.
    ///
    /// ```
    /// let (a, b) = winpipe::WinMessageStream::pair()?;
    /// assert_eq!(a.send(b"hello")?, 5);
    /// assert_eq!(a.send(b"")?, 0); // an empty message is a message too
    /// let mut msg = Vec::new();
    /// assert_eq!(b.recv_message(&mut msg)?, Some(5));
    /// assert_eq!(b.recv_message(&mut msg)?, Some(0));
    /// assert_eq!(msg, b"hello");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send(&self, msg: &[u8]) -> io::Result<usize> {
        let clock = Since::start();
        self.check()?;
        let _turn = self.stream.shared.write_turn(&clock)?;
        let policy = self.stream.write_policy();
        let free = &mut || self.stream.free_quota();
        let pipe = &mut self.stream.pipe();
        message::send(pipe, msg, free, free_quota_is_kept(), &policy, &clock)
    }

    /// Sends the slices as one message, with one `WriteFile`, as
    /// [`send`](Self::send) sends their concatenation.
    ///
    /// ```
    /// use std::io::IoSlice;
    /// let (a, b) = winpipe::WinMessageStream::pair()?;
    /// a.send_vectored(&[IoSlice::new(b"head:"), IoSlice::new(b"body")])?;
    /// let mut buf = [0; 16];
    /// let len = b.recv(&mut buf)?;
    /// assert_eq!(&buf[..len], b"head:body"); // one message
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let clock = Since::start();
        self.check()?;
        let _turn = self.stream.shared.write_turn(&clock)?;
        let policy = self.stream.write_policy();
        let free = &mut || self.stream.free_quota();
        let kept = free_quota_is_kept();
        with_scratch(&self.stream.write_scratch, |scratch| {
            let pipe = &mut self.stream.pipe();
            message::send_vectored(pipe, bufs, scratch, free, kept, &policy, &clock)
        })
    }

    /// Receives one message into `buf` and returns its length; the rest of a message
    /// longer than `buf` is discarded, as `UnixDatagram::recv` does. `Ok(0)` is an
    /// empty message, or the end of the stream (the peer closed, or this end was shut
    /// down for reading), as in std: [`recv_message`](Self::recv_message) tells them
    /// apart.
    ///
    /// # Errors
    /// `TimedOut` after the read timeout, `WouldBlock` in nonblocking mode with no
    /// message: nothing is taken.
    ///
    /// ```
    /// let (a, b) = winpipe::WinMessageStream::pair()?;
    /// a.send(b"hello world")?;
    /// a.send(b"next")?;
    /// let mut buf = [0; 5];
    /// assert_eq!(b.recv(&mut buf)?, 5);
    /// assert_eq!(&buf, b"hello"); // " world" was discarded
    /// assert_eq!(b.recv(&mut buf)?, 4);
    /// assert_eq!(&buf[..4], b"next");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.receive(buf)?.map_or(0, |got| got.len))
    }

    /// Receives one message into the slices, filled in order: the bytes received, and
    /// whether the message was longer than the slices (its rest is discarded).
    ///
    /// ```
    /// use std::io::IoSliceMut;
    /// let (a, b) = winpipe::WinMessageStream::pair()?;
    /// a.send(b"headbody")?;
    /// let (mut head, mut body) = ([0; 4], [0; 8]);
    /// let bufs = &mut [IoSliceMut::new(&mut head), IoSliceMut::new(&mut body)];
    /// assert_eq!(b.recv_vectored(bufs)?, (8, false));
    /// assert_eq!(&head, b"head");
    /// assert_eq!(&body[..4], b"body");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<(usize, bool)> {
        let mut filled = bufs.iter_mut().filter(|b| !b.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next()) {
            let got = self.receive(only)?;
            return Ok(got.map_or((0, false), |got| (got.len, got.truncated)));
        }
        // Gathered in the stream's kept buffer; the rest of a longer message is read
        // into a buffer of its own, made only then.
        let total = bufs.iter().map(|b| b.len()).fold(0, usize::saturating_add);
        with_scratch(&self.stream.read_scratch, |gathered| {
            if gathered.len() < total {
                gathered.resize(total, 0);
            }
            let Some(got) = self.receive_with(&mut gathered[..total], &mut Vec::new())? else {
                return Ok((0, false));
            };
            let mut rest = &gathered[..got.len];
            for buf in bufs.iter_mut() {
                let take = buf.len().min(rest.len());
                buf[..take].copy_from_slice(&rest[..take]);
                rest = &rest[take..];
            }
            Ok((got.len, got.truncated))
        })
    }

    fn receive(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        with_scratch(&self.stream.read_scratch, |scratch| {
            self.receive_with(buf, scratch)
        })
    }

    /// One message into `buf`; `scratch` takes the rest of a longer one.
    fn receive_with(&self, buf: &mut [u8], scratch: &mut Vec<u8>) -> io::Result<Option<Received>> {
        let clock = Since::start();
        self.check()?;
        let Some(_turn) = self.read_turn(&clock)? else {
            return Ok(None);
        };
        let policy = self.stream.read_policy();
        message::recv(&mut self.stream.pipe(), buf, scratch, &policy, &clock)
    }

    /// Appends one whole message to `buf`, however long: `Some(len)`, `Some(0)` for
    /// an empty message, `None` at the end of the stream (the peer closed, or this end
    /// was shut down for reading).
    ///
    /// The peer decides how much this allocates (up to 4 GiB − 1). A server that
    /// accepts clients it does not trust receives with [`recv`](Self::recv) into a
    /// buffer of its own limit instead (the rest of a longer message is discarded, and
    /// `recv_vectored` says so), or [`peek`](Self::peek)s a length header first.
    ///
    /// # Errors
    /// As [`recv`](Self::recv), and nothing is appended; `InvalidData` if the peer's
    /// send was cancelled while this end was reading its message (see
    /// [`send`](Self::send)): the part read is dropped.
    ///
    /// ```no_run
    /// let listener = winpipe::WinMessageListener::bind(r"\\.\pipe\my-service")?;
    /// let (stream, _) = listener.accept()?;
    /// let mut msg = Vec::new();
    /// while let Some(_) = stream.recv_message(&mut msg)? {
    ///     stream.send(&msg)?; // echo it
    ///     msg.clear();
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_message(&self, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
        let clock = Since::start();
        self.check()?;
        let Some(_turn) = self.read_turn(&clock)? else {
            return Ok(None);
        };
        let policy = self.stream.read_policy();
        message::recv_message(&mut self.stream.pipe(), buf, &policy, &clock)
    }

    /// Copies the next message's first bytes into `buf` without taking the message,
    /// waiting for one as [`recv`](Self::recv) would: the next receive returns the
    /// same message. `Ok(0)` for an empty message and at the end of the stream.
    ///
    /// ```
    /// let (a, b) = winpipe::WinMessageStream::pair()?;
    /// a.send(b"hello")?;
    /// let mut buf = [0; 2];
    /// assert_eq!(b.peek(&mut buf)?, 2);
    /// assert_eq!(&buf, b"he");
    /// let mut msg = Vec::new();
    /// assert_eq!(b.recv_message(&mut msg)?, Some(5)); // the whole message is still there
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let clock = Since::start();
        self.check()?;
        let Some(_turn) = self.read_turn(&clock)? else {
            return Ok(0);
        };
        let policy = self.stream.read_policy();
        message::peek(&mut self.stream.pipe(), buf, &policy, &clock)
    }

    /// The turn to receive or peek; `None` after a read shutdown.
    fn read_turn(&self, clock: &impl Clock) -> io::Result<Option<super::shared::ReadTurn<'_>>> {
        match self.stream.shared.read_turn(clock) {
            Ok(turn) => Ok(Some(turn)),
            Err(None) => Ok(None),
            Err(Some(e)) => Err(e),
        }
    }

    /// Shuts down receiving, sending or both, for this stream and its clones.
    ///
    /// - `Read`: later receives and peeks return `Ok(0)` (`None`); one blocked in
    ///   another thread returns so at once. Unread messages stay in the pipe.
    /// - `Write`: later sends fail with `BrokenPipe`; a blocked send fails so (see
    ///   [`send`](Self::send) for what the peer may then see).
    ///
    /// Unlike [`WinStream::shutdown`], it sends the peer nothing: an empty message is
    /// a message here, not an end of stream. The peer sees the end when every handle
    /// to this end is closed.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use std::net::Shutdown;
    /// let (a, b) = winpipe::WinMessageStream::pair()?;
    /// a.shutdown(Shutdown::Write)?;
    /// assert_eq!(a.send(b"late").unwrap_err().kind(), ErrorKind::BrokenPipe);
    /// b.shutdown(Shutdown::Read)?;
    /// assert_eq!(b.recv_message(&mut Vec::new())?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.stream.shut(how);
        Ok(())
    }

    /// A second stream on the same pipe (a duplicated handle), sharing settings.
    ///
    /// ```
    /// let (a, b) = winpipe::WinMessageStream::pair()?;
    /// let sender = a.try_clone()?;
    /// std::thread::spawn(move || sender.send(b"from a thread")).join().unwrap()?;
    /// let mut msg = Vec::new();
    /// b.recv_message(&mut msg)?;
    /// assert_eq!(msg, b"from a thread");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<WinMessageStream> {
        Ok(WinMessageStream {
            stream: self.stream.try_clone()?,
        })
    }

    /// This end's address, as [`WinStream::local_addr`].
    ///
    /// ```
    /// use std::path::Path;
    /// use winpipe::{WinMessageListener, WinMessageStream};
    /// let name = format!(r"\\.\pipe\doc-{}-msg-local_addr", std::process::id());
    /// let listener = WinMessageListener::bind(&name)?;
    /// let client = WinMessageStream::connect(&name)?;
    /// let (server, _) = listener.accept()?;
    /// assert!(client.local_addr()?.is_unnamed());
    /// assert_eq!(server.local_addr()?.as_pathname(), Some(Path::new(&name)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<WinPipeSocketAddr> {
        self.stream.local_addr()
    }

    /// The other end's address, as [`WinStream::peer_addr`].
    ///
    /// ```
    /// let (a, b) = winpipe::WinMessageStream::pair()?;
    /// assert!(a.peer_addr()?.is_unnamed()); // a pair has no name
    /// assert!(b.peer_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<WinPipeSocketAddr> {
        self.stream.peer_addr()
    }

    /// Sets the timeout of receives and peeks, as [`WinStream::set_read_timeout`].
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use std::time::Duration;
    /// let (a, _b) = winpipe::WinMessageStream::pair()?;
    /// a.set_read_timeout(Some(Duration::from_millis(10)))?;
    /// let err = a.recv(&mut [0; 16]).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::TimedOut);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    /// Sets the timeout of sends; see [`send`](Self::send) for what it lets through.
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`, as std.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use std::time::Duration;
    /// let (a, _b) = winpipe::WinMessageStream::pair()?;
    /// a.set_write_timeout(Some(Duration::from_secs(1)))?;
    /// assert_eq!(a.send(b"fits the pipe's buffer")?, 22);
    /// let err = a.set_write_timeout(Some(Duration::ZERO)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_write_timeout(timeout)
    }

    /// The receive timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (a, _b) = winpipe::WinMessageStream::pair()?;
    /// a.set_read_timeout(Some(Duration::from_secs(3)))?;
    /// assert_eq!(a.read_timeout()?, Some(Duration::from_secs(3)));
    /// a.set_read_timeout(None)?;
    /// assert_eq!(a.read_timeout()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.stream.read_timeout()
    }

    /// The send timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (a, _b) = winpipe::WinMessageStream::pair()?;
    /// assert_eq!(a.write_timeout()?, None);
    /// a.set_write_timeout(Some(Duration::from_millis(500)))?;
    /// assert_eq!(a.write_timeout()?, Some(Duration::from_millis(500)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.stream.write_timeout()
    }

    /// Moves the stream (and its clones) into or out of nonblocking mode: a receive
    /// or peek with no message, and a send that cannot go whole at once, return
    /// `WouldBlock`.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// let (a, b) = winpipe::WinMessageStream::pair()?;
    /// b.set_nonblocking(true)?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    /// a.send(b"ready")?;
    /// assert_eq!(b.recv(&mut buf)?, 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.stream.set_nonblocking(nonblocking)
    }

    /// Always `Ok(None)`: pipes have no pending socket error.
    ///
    /// ```
    /// let (a, _b) = winpipe::WinMessageStream::pair()?;
    /// assert!(a.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.stream.take_error()
    }

    /// The id of the process at the other end, as [`WinStream::peer_process_id`].
    ///
    /// ```
    /// let (a, _b) = winpipe::WinMessageStream::pair()?;
    /// assert_eq!(a.peer_process_id()?, std::process::id());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_process_id(&self) -> io::Result<u32> {
        self.stream.peer_process_id()
    }

    /// The user at the other end, as [`WinStream::peer_user`].
    ///
    /// ```
    /// let (_client, server) = winpipe::WinMessageStream::pair()?;
    /// assert_eq!(server.peer_user()?, winpipe::Sid::current_user()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_user(&self) -> io::Result<Sid> {
        self.stream.peer_user()
    }

    /// The integrity level at the other end, as [`WinStream::peer_integrity_level`].
    ///
    /// ```
    /// let (client, server) = winpipe::WinMessageStream::pair()?;
    /// // Both ends are this process, so both see its level.
    /// assert_eq!(client.peer_integrity_level()?, server.peer_integrity_level()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_integrity_level(&self) -> io::Result<IntegrityLevel> {
        self.stream.peer_integrity_level()
    }

    /// Whether the other end is this process's user with its trust, as
    /// [`WinStream::peer_is_same_user`].
    ///
    /// ```
    /// let (_client, server) = winpipe::WinMessageStream::pair()?;
    /// assert!(server.peer_is_same_user()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_is_same_user(&self) -> io::Result<bool> {
        self.stream.peer_is_same_user()
    }

    /// The Windows session at the other end, as [`WinStream::peer_session_id`].
    ///
    /// ```
    /// let (client, server) = winpipe::WinMessageStream::pair()?;
    /// assert_eq!(client.peer_session_id()?, server.peer_session_id()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_session_id(&self) -> io::Result<u32> {
        self.stream.peer_session_id()
    }
}

impl fmt::Debug for WinMessageStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let handle = self.stream.as_raw_handle();
        f.debug_struct("WinMessageStream")
            .field("name", &self.stream.peer_addr().ok())
            .field("handle", &handle)
            .finish()
    }
}

impl AsRawHandle for WinMessageStream {
    fn as_raw_handle(&self) -> RawHandle {
        self.stream.as_raw_handle()
    }
}

impl AsHandle for WinMessageStream {
    fn as_handle(&self) -> BorrowedHandle<'_> {
        self.stream.as_handle()
    }
}

impl IntoRawHandle for WinMessageStream {
    fn into_raw_handle(self) -> RawHandle {
        self.stream.into_raw_handle()
    }
}

/// Gives up the pipe handle (see `From<WinStream> for OwnedHandle`).
impl From<WinMessageStream> for OwnedHandle {
    fn from(stream: WinMessageStream) -> OwnedHandle {
        OwnedHandle::from(stream.stream)
    }
}

/// Wraps a pipe handle the caller owns, as `From<OwnedHandle> for WinStream` does.
/// It must be an end of a connected message-type pipe: it is put in message read
/// mode at its first receive, peek or send, and if it is not a message-type pipe
/// every one of those fails with `InvalidInput`.
impl From<OwnedHandle> for WinMessageStream {
    fn from(owned: OwnedHandle) -> WinMessageStream {
        WinMessageStream {
            stream: WinStream::from(owned),
        }
    }
}

/// A named pipe server whose connections carry messages: the [`WinListener`] of
/// [`WinMessageStream`]s, with the same options, backlog, security and accept rules.
/// Like `WinListener`, it has no handle traits.
///
/// ```no_run
/// let listener = winpipe::WinMessageListener::bind(r"\\.\pipe\my-service")?;
/// for stream in &listener {
///     let stream = stream?;
///     let mut buf = [0; 512];
///     let len = stream.recv(&mut buf)?;
///     stream.send(&buf[..len])?;
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct WinMessageListener {
    listener: WinListener,
}

impl WinMessageListener {
    pub(super) fn on(listener: WinListener) -> WinMessageListener {
        WinMessageListener { listener }
    }

    /// Binds to the pipe name `path` with the default [`ListenerOptions`], as
    /// [`WinListener::bind`].
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use winpipe::WinMessageListener;
    /// let name = format!(r"\\.\pipe\doc-{}-msg-bind", std::process::id());
    /// let _listener = WinMessageListener::bind(&name)?;
    /// let err = WinMessageListener::bind(&name).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::AddrInUse); // the name is taken
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<WinMessageListener> {
        ListenerOptions::new().bind_messages(path)
    }

    /// Binds to `addr`, as [`bind`](Self::bind).
    ///
    /// ```
    /// use winpipe::{WinMessageListener, WinPipeSocketAddr};
    /// let name = format!(r"\\.\pipe\doc-{}-msg-bind_addr", std::process::id());
    /// let addr = WinPipeSocketAddr::from_pathname(name)?;
    /// let listener = WinMessageListener::bind_addr(&addr)?;
    /// assert_eq!(listener.local_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_addr(addr: &WinPipeSocketAddr) -> io::Result<WinMessageListener> {
        ListenerOptions::new().bind_messages_addr(addr)
    }

    /// Waits for a client, as [`WinListener::accept`].
    ///
    /// ```
    /// use winpipe::{WinMessageListener, WinMessageStream};
    /// let name = format!(r"\\.\pipe\doc-{}-msg-accept", std::process::id());
    /// let listener = WinMessageListener::bind(&name)?;
    /// let client = WinMessageStream::connect(&name)?;
    /// let (server, addr) = listener.accept()?;
    /// assert!(addr.is_unnamed());
    /// server.send(b"welcome")?;
    /// assert_eq!(client.recv(&mut [0; 16])?, 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn accept(&self) -> io::Result<(WinMessageStream, WinPipeSocketAddr)> {
        let (stream, addr) = self.listener.accept()?;
        Ok((WinMessageStream { stream }, addr))
    }

    /// An endless iterator over accepted streams.
    ///
    /// ```
    /// use winpipe::{WinMessageListener, WinMessageStream};
    /// let name = format!(r"\\.\pipe\doc-{}-msg-incoming", std::process::id());
    /// let listener = WinMessageListener::bind(&name)?;
    /// let client = WinMessageStream::connect(&name)?;
    /// for stream in listener.incoming().take(1) {
    ///     stream?.send(b"one client served")?;
    /// }
    /// assert_eq!(client.recv(&mut [0; 32])?, 17);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn incoming(&self) -> IncomingMessageStreams<'_> {
        IncomingMessageStreams { listener: self }
    }

    /// Another handle to this listener, sharing its waiting instances and settings.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// let name = format!(r"\\.\pipe\doc-{}-msg-listener-try_clone", std::process::id());
    /// let listener = winpipe::WinMessageListener::bind(&name)?;
    /// let clone = listener.try_clone()?;
    /// clone.set_nonblocking(true)?; // the setting is shared
    /// assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<WinMessageListener> {
        Ok(self.clone())
    }

    /// The pipe name the listener is bound to.
    ///
    /// ```
    /// use std::path::Path;
    /// let name = format!(r"\\.\pipe\doc-{}-msg-listener-local_addr", std::process::id());
    /// let listener = winpipe::WinMessageListener::bind(&name)?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(Path::new(&name)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<WinPipeSocketAddr> {
        self.listener.local_addr()
    }

    /// Nonblocking accepts, as [`WinListener::set_nonblocking`].
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// let name = format!(r"\\.\pipe\doc-{}-msg-listener-set_nonblocking", std::process::id());
    /// let listener = winpipe::WinMessageListener::bind(&name)?;
    /// listener.set_nonblocking(true)?;
    /// match listener.accept() {
    ///     Ok((stream, _)) => {
    ///         stream.send(b"hello")?;
    ///     }
    ///     Err(e) if e.kind() == ErrorKind::WouldBlock => {} // nobody yet: do other work
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.listener.set_nonblocking(nonblocking)
    }

    /// A failure to create the next waiting instance, as [`WinListener::take_error`].
    ///
    /// ```
    /// let name = format!(r"\\.\pipe\doc-{}-msg-listener-take_error", std::process::id());
    /// let listener = winpipe::WinMessageListener::bind(&name)?;
    /// if let Some(err) = listener.take_error()? {
    ///     eprintln!("the listener could not make an instance: {err}");
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.listener.take_error()
    }

    /// Clients turned away, as [`WinListener::refused_clients`].
    ///
    /// ```
    /// let name = format!(r"\\.\pipe\doc-{}-msg-refused_clients", std::process::id());
    /// let listener = winpipe::ListenerOptions::new()
    ///     .same_session(true)
    ///     .bind_messages(&name)?;
    /// assert_eq!(listener.refused_clients(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn refused_clients(&self) -> u64 {
        self.listener.refused_clients()
    }
}

impl fmt::Debug for WinMessageListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WinMessageListener")
            .field("name", &self.listener.local_addr().ok())
            .finish()
    }
}

/// The iterator of [`WinMessageListener::incoming`]: each item is one accept.
///
/// ```
/// use winpipe::{WinMessageListener, WinMessageStream};
/// let name = format!(r"\\.\pipe\doc-{}-IncomingMessageStreams", std::process::id());
/// let listener = WinMessageListener::bind(&name)?;
/// let _client = WinMessageStream::connect(&name)?;
/// let mut incoming = listener.incoming();
/// assert_eq!(incoming.size_hint(), (usize::MAX, None)); // endless
/// let server = incoming.next().unwrap()?;
/// assert!(server.peer_addr()?.is_unnamed());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct IncomingMessageStreams<'a> {
    listener: &'a WinMessageListener,
}

impl Iterator for IncomingMessageStreams<'_> {
    type Item = io::Result<WinMessageStream>;

    fn next(&mut self) -> Option<io::Result<WinMessageStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }

    /// Endless, as std's: `(usize::MAX, None)`.
    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

impl<'a> IntoIterator for &'a WinMessageListener {
    type Item = io::Result<WinMessageStream>;
    type IntoIter = IncomingMessageStreams<'a>;

    fn into_iter(self) -> IncomingMessageStreams<'a> {
        self.incoming()
    }
}

impl ListenerOptions {
    /// Binds a [`WinMessageListener`] to the pipe name `path` with these options.
    ///
    /// # Errors
    /// As [`bind`](Self::bind).
    ///
    /// ```
    /// use winpipe::{ListenerOptions, WinMessageStream};
    /// let name = format!(r"\\.\pipe\doc-{}-bind_messages", std::process::id());
    /// let listener = ListenerOptions::new().backlog(4).bind_messages(&name)?;
    /// let client = WinMessageStream::connect(&name)?;
    /// let (server, _) = listener.accept()?;
    /// client.send(b"ping")?;
    /// assert_eq!(server.recv(&mut [0; 8])?, 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_messages<P: AsRef<Path>>(&self, path: P) -> io::Result<WinMessageListener> {
        self.bind(path).map(WinMessageListener::on)
    }

    /// Binds a [`WinMessageListener`] to `addr` with these options.
    ///
    /// ```
    /// use winpipe::{ListenerOptions, WinPipeSocketAddr};
    /// let name = format!(r"\\.\pipe\doc-{}-bind_messages_addr", std::process::id());
    /// let addr = WinPipeSocketAddr::from_pathname(name)?;
    /// let listener = ListenerOptions::new().owner_only(true).bind_messages_addr(&addr)?;
    /// assert_eq!(listener.local_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_messages_addr(&self, addr: &WinPipeSocketAddr) -> io::Result<WinMessageListener> {
        self.bind_addr(addr).map(WinMessageListener::on)
    }
}

impl ConnectOptions {
    /// Connects a [`WinMessageStream`] to the pipe name `path` with these options.
    ///
    /// # Errors
    /// As [`connect`](Self::connect); `InvalidInput` if the pipe is of byte type.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winpipe::{ConnectOptions, WinMessageListener};
    /// let name = format!(r"\\.\pipe\doc-{}-connect_messages", std::process::id());
    /// let listener = WinMessageListener::bind(&name)?;
    /// let client = ConnectOptions::new()
    ///     .timeout(Duration::from_secs(1))
    ///     .connect_messages(&name)?;
    /// let (server, _) = listener.accept()?;
    /// client.send(b"")?;
    /// assert_eq!(server.recv_message(&mut Vec::new())?, Some(0));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_messages<P: AsRef<Path>>(&self, path: P) -> io::Result<WinMessageStream> {
        self.connect_messages_addr(&WinPipeSocketAddr::from_pathname(path)?)
    }

    /// Connects a [`WinMessageStream`] to `addr` with these options.
    ///
    /// ```
    /// use winpipe::{ConnectOptions, WinMessageListener, WinPipeSocketAddr};
    /// let name = format!(r"\\.\pipe\doc-{}-connect_messages_addr", std::process::id());
    /// let addr = WinPipeSocketAddr::from_pathname(name)?;
    /// let _listener = WinMessageListener::bind_addr(&addr)?;
    /// let client = ConnectOptions::new().same_user_server().connect_messages_addr(&addr)?;
    /// assert_eq!(client.peer_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_messages_addr(&self, addr: &WinPipeSocketAddr) -> io::Result<WinMessageStream> {
        WinMessageStream::on(self.connect_addr(addr)?)
    }
}
