//! `WinStream`: one connected end of a named pipe.

use super::addr::WinPipeSocketAddr;
use super::options::ConnectOptions;
use super::shared::{lock, Registration, Shared};
use crate::engine::{self, Policy, Port, Request, Since};
use crate::ffi::{ERROR_PIPE_CONNECTED, PIPE_UNLIMITED_INSTANCES, SECURITY_IDENTIFICATION};
use crate::sys::{self, Handle, InstanceSpec, Overlapped};
use std::fmt;
use std::io::{self, ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::windows::io::{
    AsHandle, AsRawHandle, BorrowedHandle, IntoRawHandle, OwnedHandle, RawHandle,
};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Size of each direction's pipe buffer, and the most one write hands to the kernel.
pub(crate) const PIPE_BUFFER: usize = 64 * 1024;

/// `pipe_info` of a pipe whose buffer size was not asked yet.
const UNASKED: usize = 0;
/// `pipe_info` of a handle that is not a pipe.
const NOT_A_PIPE: usize = usize::MAX;

/// How long [`WinStream::connect`] keeps trying (as winpipe 0.1 did).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which end of the pipe a stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Server,
    Client,
}

/// One direction's OVERLAPPED and the scratch buffer of its vectored calls.
struct Direction {
    slot: Overlapped,
    scratch: Vec<u8>,
}

impl Direction {
    fn new(slot: Overlapped) -> Mutex<Direction> {
        Mutex::new(Direction {
            slot,
            scratch: Vec::new(),
        })
    }
}

/// A connected named-pipe stream: the `UnixStream` of winpipe.
///
/// Reads and writes block by default. Timeouts, nonblocking mode and shutdown are
/// shared with every clone (as std's socket options are), and take effect on calls
/// already blocked in another thread. `Read` and `Write` are implemented for `&WinStream`
/// too, so one thread can read while another writes.
///
/// Errors: a read that times out gives `TimedOut`; in nonblocking mode a read or write
/// that would wait gives `WouldBlock`; a write to a closed peer gives `BrokenPipe`
/// (OS error 232 or 109). OS errors keep their `raw_os_error`.
pub struct WinStream {
    // Declared first so that it drops first: a setter must stop seeing the handle
    // before it is closed.
    registration: Registration,
    handle: Handle,
    reader: Mutex<Direction>,
    writer: Mutex<Direction>,
    /// The most one write hands to the kernel, from `GetNamedPipeInfo`: `UNASKED`
    /// until the first write asks, or `NOT_A_PIPE` if a handle given to
    /// `from_raw_handle` is not a pipe (a file, say: every read, write and peek then
    /// fails instead of acting on it).
    pipe_info: AtomicUsize,
    side: Side,
    name: WinPipeSocketAddr,
}

impl WinStream {
    fn new(
        handle: Handle,
        side: Side,
        name: WinPipeSocketAddr,
        read_slot: Option<Overlapped>,
    ) -> Self {
        let shared = Shared::new();
        Self::with_shared(handle, side, name, read_slot, &shared, UNASKED)
    }

    fn with_shared(
        handle: Handle,
        side: Side,
        name: WinPipeSocketAddr,
        read_slot: Option<Overlapped>,
        shared: &Arc<Shared>,
        pipe_info: usize,
    ) -> Self {
        WinStream {
            registration: shared.register(&handle),
            pipe_info: AtomicUsize::new(pipe_info),
            reader: Direction::new(read_slot.unwrap_or_else(Overlapped::new)),
            writer: Direction::new(Overlapped::new()),
            handle,
            side,
            name,
        }
    }

    /// The server end of a connection `WinListener::accept` made.
    pub(crate) fn accepted(handle: Handle, name: WinPipeSocketAddr, slot: Overlapped) -> Self {
        Self::new(handle, Side::Server, name, Some(slot))
    }

    fn shared(&self) -> &Arc<Shared> {
        self.registration.shared()
    }

    /// The most one write hands to the kernel: the pipe's smaller buffer, at most
    /// 64 KiB. Asked of the system (`GetNamedPipeInfo`) by the first write, not when
    /// the stream is made, so connecting costs no extra call.
    fn write_cap(&self) -> io::Result<usize> {
        let cap = match self.pipe_info.load(Ordering::Relaxed) {
            UNASKED => {
                let cap = write_cap_of(sys::pipe_info(&self.handle));
                self.pipe_info.store(cap, Ordering::Relaxed);
                cap
            }
            cap => cap,
        };
        self.check_pipe()?;
        Ok(cap)
    }

    /// Refuses I/O on a handle that is not a pipe: ReadFile and WriteFile would work on
    /// a file, at offset 0 every time, so `read_to_end` would never end.
    fn check_pipe(&self) -> io::Result<()> {
        if self.pipe_info.load(Ordering::Relaxed) == NOT_A_PIPE {
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
    pub fn connect_addr(addr: &WinPipeSocketAddr) -> io::Result<WinStream> {
        Self::connect_addr_with_timeout(addr, DEFAULT_CONNECT_TIMEOUT)
    }

    /// Connects to `path`, trying for at most `timeout` (at least one attempt is made).
    ///
    /// # Errors
    /// As [`connect`](Self::connect); a zero `timeout` is `InvalidInput`.
    pub fn connect_with_timeout<P: AsRef<Path>>(
        path: P,
        timeout: Duration,
    ) -> io::Result<WinStream> {
        Self::connect_addr_with_timeout(&WinPipeSocketAddr::from_pathname(path)?, timeout)
    }

    /// Connects to `addr`, trying for at most `timeout`.
    ///
    /// While nobody listens it tries again after 1, 2, 4 … up to 50 ms; while every
    /// instance is busy it waits for one with `WaitNamedPipeA`. The server may identify
    /// the client but not impersonate it (`SECURITY_IDENTIFICATION`); see
    /// [`ConnectOptions`] to change that.
    pub fn connect_addr_with_timeout(
        addr: &WinPipeSocketAddr,
        timeout: Duration,
    ) -> io::Result<WinStream> {
        ConnectOptions::new().timeout(timeout).connect_addr(addr)
    }

    /// Options for connecting (timeout, impersonation level), as `File::options`.
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
        Ok(WinStream::new(handle, Side::Client, addr.clone(), None))
    }

    /// Two connected streams, like `UnixStream::pair`: a pipe with a unique name, its
    /// server end and a client. Both addresses are unnamed. Returns `(client, server)`
    /// as winpipe 0.1 did; the two ends behave the same.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let (mut a, mut b) = winpipe::WinStream::pair()?;
    /// a.write_all(b"ping")?;
    /// let mut buf = [0; 4];
    /// b.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"ping");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pair() -> io::Result<(WinStream, WinStream)> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            r"\\.\pipe\winpipe-pair-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            nanos
        );
        let spec = InstanceSpec {
            first: true,
            reject_remote: true,
            in_buffer: PIPE_BUFFER as u32,
            out_buffer: PIPE_BUFFER as u32,
            max_instances: PIPE_UNLIMITED_INSTANCES,
            security: None,
        };
        let server = sys::create_instance(&name, &spec).map_err(engine::os_error)?;
        let client = sys::open_client(&name, SECURITY_IDENTIFICATION).map_err(engine::os_error)?;
        // The client is already there: ConnectNamedPipe says ERROR_PIPE_CONNECTED.
        let mut slot = Overlapped::new();
        let (done, _) = slot.on(&server).submit(Request::Connect, |issued| {
            engine::drive(issued, &Policy::default, &Since::start())
        });
        match done.error {
            None | Some(ERROR_PIPE_CONNECTED) => {}
            Some(code) => return Err(engine::os_error(code)),
        }
        let unnamed = WinPipeSocketAddr::unnamed();
        Ok((
            WinStream::new(client, Side::Client, unnamed.clone(), None),
            WinStream::new(server, Side::Server, unnamed, Some(slot)),
        ))
    }

    /// A second stream on the same pipe (a duplicated handle).
    /// Timeouts, nonblocking mode and shutdown are shared with the original.
    pub fn try_clone(&self) -> io::Result<WinStream> {
        let handle = self.handle.duplicate()?;
        Ok(WinStream::with_shared(
            handle,
            self.side,
            self.name.clone(),
            None,
            self.shared(),
            self.pipe_info.load(Ordering::Relaxed),
        ))
    }

    /// This end's address: the pipe name on the server side, unnamed on the client side
    /// and for [`pair`](Self::pair), as with Unix sockets.
    pub fn local_addr(&self) -> io::Result<WinPipeSocketAddr> {
        Ok(match self.side {
            Side::Server => self.name.clone(),
            Side::Client => WinPipeSocketAddr::unnamed(),
        })
    }

    /// The other end's address: the pipe name on the client side, unnamed on the
    /// server side and for [`pair`](Self::pair).
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
    pub fn peer_process_id(&self) -> io::Result<u32> {
        sys::peer_process_id(&self.handle, self.side == Side::Server)
    }

    /// Sets the read timeout; `None` (the default) blocks without limit.
    ///
    /// A read that times out returns `TimedOut` and loses nothing: bytes arriving later
    /// are returned by the next read. The timeout counts from the start of each call;
    /// a read already blocked in another thread obeys the new value at once.
    /// Durations under a millisecond round up to one.
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`, as std.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        self.shared().update(|s| s.read_timeout = timeout);
        Ok(())
    }

    /// Sets the write timeout; `None` (the default) blocks without limit.
    ///
    /// A write that times out returns `Ok(n)` for the bytes that moved, or `TimedOut` if
    /// none did: never an error for bytes the peer can read. Applies at once to a write
    /// blocked in another thread.
    ///
    /// # Errors
    /// `InvalidInput` for `Some(Duration::ZERO)`, as std.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        self.shared().update(|s| s.write_timeout = timeout);
        Ok(())
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.shared().settings().read_timeout)
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.shared().settings().write_timeout)
    }

    /// Moves the stream (and its clones) into or out of nonblocking mode: a read with no
    /// data, a write the pipe cannot take now, and a peek with nothing to see return
    /// `WouldBlock`. Calls blocked in other threads return `WouldBlock` (or what they
    /// got) at once.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.shared().update(|s| s.nonblocking = nonblocking);
        Ok(())
    }

    /// Always `Ok(None)`: pipes have no pending socket error.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        Ok(None)
    }

    /// Shuts down reading, writing or both, for this stream and its clones.
    ///
    /// - `Read`: later reads and peeks return `Ok(0)`; a read blocked in another thread
    ///   wakes and returns what it already got, or `Ok(0)`. Unread bytes stay in the pipe.
    /// - `Write`: later writes fail with `BrokenPipe`; a blocked write returns the bytes
    ///   it moved, or `BrokenPipe`.
    ///
    /// Named pipes have no half-close: the peer sees end of stream only when every
    /// handle to this end is closed (all clones dropped).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.shared().update(|s| {
            s.shut_read |= matches!(how, Shutdown::Read | Shutdown::Both);
            s.shut_write |= matches!(how, Shutdown::Write | Shutdown::Both);
        });
        Ok(())
    }

    /// Reads without removing: returns what is buffered (at most `buf.len()` bytes),
    /// waiting for data as [`read`](Read::read) would (same timeout, nonblocking mode
    /// and end-of-stream results).
    ///
    /// The bytes shown may include a peer write still in progress (`PeekNamedPipe`
    /// shows them). If that write then times out or is cancelled, it reports them as
    /// not written and they are withdrawn: the next read returns what the peer's writes
    /// reported, which may differ from what the peek showed past the completed writes.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.check_pipe()?;
        let mut reader = lock(&self.reader);
        let mut port = reader.slot.on(&self.handle);
        engine::peek(
            &mut port,
            buf,
            &|| self.shared().read_policy(),
            &Since::start(),
        )
    }
}

/// The write cap `GetNamedPipeInfo`'s answer gives, or `NOT_A_PIPE`.
fn write_cap_of(info: Option<sys::PipeInfo>) -> usize {
    match info {
        None => NOT_A_PIPE,
        Some(info) => info.buffer.unwrap_or(PIPE_BUFFER).min(PIPE_BUFFER),
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

impl Read for &WinStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.check_pipe()?;
        let mut reader = lock(&self.reader);
        let mut port = reader.slot.on(&self.handle);
        engine::read(
            &mut port,
            buf,
            &|| self.shared().read_policy(),
            &Since::start(),
        )
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.check_pipe()?;
        let mut reader = lock(&self.reader);
        let Direction { slot, scratch } = &mut *reader;
        let policy = || self.shared().read_policy();
        let mut port = slot.on(&self.handle);
        engine::read_vectored(
            &mut port,
            bufs,
            scratch,
            PIPE_BUFFER,
            &policy,
            &Since::start(),
        )
    }
}

/// Writes go straight to the pipe: at most 64 KiB (the pipe buffer) per call, and a
/// vectored write sends its slices with one `WriteFile`. `flush` has nothing to do.
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

impl Write for &WinStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let clock = Since::start();
        let cap = self.write_cap()?;
        let mut writer = lock(&self.writer);
        let mut port = writer.slot.on(&self.handle);
        let policy = || self.shared().write_policy();
        engine::write(&mut port, buf, cap, &policy, &clock)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let clock = Since::start();
        let cap = self.write_cap()?;
        let mut writer = lock(&self.writer);
        let Direction { slot, scratch } = &mut *writer;
        let policy = || self.shared().write_policy();
        let mut port = slot.on(&self.handle);
        engine::write_vectored(&mut port, bufs, scratch, cap, &policy, &clock)
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

impl From<WinStream> for OwnedHandle {
    fn from(stream: WinStream) -> OwnedHandle {
        let WinStream {
            registration,
            handle,
            ..
        } = stream;
        drop(registration);
        handle.into_owned()
    }
}

/// Hands the connection to a child process as its stdin, stdout or stderr, as
/// `Stdio::from(OwnedHandle::from(stream))` does.
///
/// The child inherits a handle opened for overlapped I/O. Programs that read and write
/// their standard handles synchronously (Rust's std, the C runtime) still work: for
/// each call Windows signals the handle when the operation completes, and they wait
/// on it. That only holds while the child is the one process doing I/O on this end,
/// which is why the stream is consumed: drop every clone of it in the parent as well.
///
/// ```no_run
/// use std::process::{Command, Stdio};
/// let listener = winpipe::WinListener::bind(r"\\.\pipe\my-service")?;
/// let (stream, _) = listener.accept()?;
/// let reply = stream.try_clone()?;
/// let child = Command::new("worker.exe")
///     .stdin(Stdio::from(stream))
///     .stdout(Stdio::from(reply))
///     .spawn()?;
/// # Ok::<(), std::io::Error>(())
/// ```
impl From<WinStream> for Stdio {
    fn from(stream: WinStream) -> Stdio {
        Stdio::from(OwnedHandle::from(stream))
    }
}

/// Wraps a pipe handle the caller owns.
///
/// It must be a handle to either end of a connected named pipe, opened for overlapped
/// I/O (`FILE_FLAG_OVERLAPPED`) with read and write access, as winpipe's own handles
/// are. Any other handle is not undefined behaviour and never panics:
/// - a handle that is not a pipe at all (`GetNamedPipeInfo` refuses it: a file, an
///   event, …): every read, write, vectored call and peek fails with `InvalidInput`
///   ("the handle is not a named pipe"); setters, `try_clone`, the addresses and the
///   handle traits work as usual, and drop closes the handle;
/// - a pipe without the access a call needs: that call fails with the system's error
///   (`PermissionDenied`, OS error 5);
/// - a pipe opened without `FILE_FLAG_OVERLAPPED` (std's anonymous pipes, for one):
///   reads and writes work, but block in the system like std's, ignoring timeouts,
///   nonblocking mode and shutdown.
///
/// The side (server or client) is asked of the system; both addresses are unnamed.
impl From<OwnedHandle> for WinStream {
    fn from(owned: OwnedHandle) -> WinStream {
        let handle = Handle::from_owned(owned);
        let info = sys::pipe_info(&handle);
        let side = match &info {
            Some(info) if info.server_end => Side::Server,
            _ => Side::Client,
        };
        let cap = write_cap_of(info);
        let unnamed = WinPipeSocketAddr::unnamed();
        WinStream::with_shared(handle, side, unnamed, None, &Shared::new(), cap)
    }
}
