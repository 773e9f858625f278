//! `WinListener`: a pipe name that accepts clients.

use super::addr::WinPipeSocketAddr;
use super::shared::{lock, Registration, Shared};
use super::stream::{WinStream, PIPE_BUFFER};
use crate::engine::{self, Code, Issued, Listen, Policy, Port, Request, Since};
use crate::ffi::{ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_PIPE_BUSY};
use crate::sys::{self, Handle, Overlapped};
use std::fmt;
use std::io::{self, ErrorKind};
use std::os::windows::io::{AsRawHandle, RawHandle};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A named pipe server: the `UnixListener` of winpipe.
///
/// [`bind`](Self::bind) creates the first pipe instance at once, so clients can connect
/// before [`accept`](Self::accept) is called, and the listener always keeps one instance
/// waiting: each accept replaces the instance it hands out before returning. A client
/// that arrives while the waiting instance is being replaced is not refused: its connect
/// waits for the next instance.
///
/// Clones share the waiting instance and the nonblocking setting; the last one dropped
/// closes the instance. Unlike a Unix socket path, the name stays in use (a new `bind`
/// gives `AddrInUse`) until every accepted stream is dropped too: each is an instance of
/// the pipe.
#[derive(Clone)]
pub struct WinListener {
    inner: Arc<Inner>,
}

struct Inner {
    addr: WinPipeSocketAddr,
    shared: Arc<Shared>,
    listening: Mutex<Option<Instance>>,
    reject_remote: AtomicBool,
    /// Raw value of the newest instance, for `as_raw_handle`.
    newest: AtomicUsize,
    /// Why the last accept could not make the next instance.
    error: Mutex<Option<io::Error>>,
}

/// A server instance waiting for (or holding) a client.
pub(crate) struct Instance {
    // Declared first: deregistered before the handle closes.
    registration: Registration,
    handle: Handle,
    slot: Overlapped,
}

impl Port for Instance {
    fn submit<R>(&mut self, request: Request<'_>, drive: impl FnOnce(Issued<'_>) -> R) -> R {
        self.slot.on(&self.handle).submit(request, drive)
    }

    fn peek(&mut self, buf: &mut [u8]) -> Result<usize, Code> {
        self.slot.on(&self.handle).peek(buf)
    }
}

impl Listen for &Inner {
    type Instance = Instance;

    fn create(&mut self) -> Result<Instance, Code> {
        let name = self.addr.name().unwrap_or_default();
        let reject_remote = self.reject_remote.load(Ordering::Relaxed);
        let handle = sys::create_instance(name, false, reject_remote, PIPE_BUFFER as u32)?;
        Ok(self.adopt(handle))
    }
}

impl Inner {
    fn adopt(&self, handle: Handle) -> Instance {
        self.newest.store(handle.raw() as usize, Ordering::Relaxed);
        Instance {
            registration: self.shared.register(&handle),
            handle,
            slot: Overlapped::new(),
        }
    }
}

impl WinListener {
    /// Binds to the pipe name `path` (`\\.\pipe\NAME`) and creates its first instance.
    /// Remote clients are rejected.
    ///
    /// # Errors
    /// `InvalidInput` for an invalid name; `AddrInUse` if the name already has
    /// instances (another listener, in this process or another); other OS errors as
    /// they come.
    ///
    /// ```no_run
    /// use std::io::Write;
    /// let listener = winpipe::WinListener::bind(r"\\.\pipe\my-service")?;
    /// for stream in &listener {
    ///     stream?.write_all(b"hello")?;
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<WinListener> {
        Self::bind_addr(&WinPipeSocketAddr::from_pathname(path)?)
    }

    /// Binds to `addr`, as [`bind`](Self::bind).
    pub fn bind_addr(addr: &WinPipeSocketAddr) -> io::Result<WinListener> {
        let name = addr.name().ok_or_else(|| {
            io::Error::new(ErrorKind::InvalidInput, "cannot bind an unnamed address")
        })?;
        // FILE_FLAG_FIRST_PIPE_INSTANCE below makes Windows refuse a name in use, but
        // Wine ignores that flag: look for an existing instance first as well.
        match sys::wait_for_instance(name, Duration::from_millis(1)) {
            Err(ERROR_FILE_NOT_FOUND) => {}
            _ => return Err(in_use(name)),
        }
        let handle = match sys::create_instance(name, true, true, PIPE_BUFFER as u32) {
            Ok(handle) => handle,
            Err(ERROR_ACCESS_DENIED | ERROR_PIPE_BUSY) => return Err(in_use(name)),
            Err(code) => return Err(engine::os_error(code)),
        };
        let inner = Arc::new(Inner {
            addr: addr.clone(),
            shared: Shared::new(),
            listening: Mutex::new(None),
            reject_remote: AtomicBool::new(true),
            newest: AtomicUsize::new(0),
            error: Mutex::new(None),
        });
        *lock(&inner.listening) = Some(inner.adopt(handle));
        Ok(WinListener { inner })
    }

    /// Waits for a client and returns its stream and address (unnamed, as a Unix
    /// client's). The stream is blocking, whatever the listener's mode.
    ///
    /// A client that connected and already closed is accepted too: its stream returns
    /// what it wrote, then end of stream.
    ///
    /// # Errors
    /// `WouldBlock` in nonblocking mode when no client is waiting; OS errors as they come.
    ///
    /// # Stopping a blocked accept
    /// As std's `UnixListener`, a listener has no `shutdown`, and dropping the other
    /// clones cannot wake an accept: the accepting thread holds a clone itself. Two ways
    /// work instead:
    /// - call [`set_nonblocking(true)`](Self::set_nonblocking) on a clone from another
    ///   thread: the blocked accept returns `WouldBlock` at once, which the accept loop
    ///   takes as its signal to end (a winpipe extension: on Unix `set_nonblocking`
    ///   does not wake a blocked accept);
    /// - portable: set a stop flag the loop checks after each accept, then connect to
    ///   the name once so that the blocked accept returns.
    ///
    /// ```no_run
    /// use std::io::ErrorKind;
    /// let listener = winpipe::WinListener::bind(r"\\.\pipe\my-service")?;
    /// let server = listener.try_clone()?;
    /// let thread = std::thread::spawn(move || {
    ///     for stream in &server {
    ///         match stream {
    ///             Ok(_stream) => { /* serve it */ }
    ///             Err(e) if e.kind() == ErrorKind::WouldBlock => break, // stopped
    ///             Err(e) => eprintln!("accept: {e}"),
    ///         }
    ///     }
    /// });
    /// // Later, to stop the server:
    /// listener.set_nonblocking(true)?;
    /// thread.join().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn accept(&self) -> io::Result<(WinStream, WinPipeSocketAddr)> {
        let inner: &Inner = &self.inner;
        let (instance, refill_error) = {
            let mut listening = lock(&inner.listening);
            let policy = || Policy {
                nonblocking: inner.shared.settings().nonblocking,
                ..Policy::default()
            };
            engine::accept(&mut &*inner, &mut listening, &policy, &Since::start())?
        };
        if let Some(err) = refill_error {
            *lock(&inner.error) = Some(err);
        }
        let Instance {
            registration,
            handle,
            slot,
        } = instance;
        drop(registration);
        let stream = WinStream::accepted(handle, inner.addr.clone(), slot);
        Ok((stream, WinPipeSocketAddr::unnamed()))
    }

    /// An endless iterator over accepted streams, as `UnixListener::incoming`.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// Another handle to this listener, sharing its waiting instance and settings.
    pub fn try_clone(&self) -> io::Result<WinListener> {
        Ok(self.clone())
    }

    /// The pipe name the listener is bound to.
    pub fn local_addr(&self) -> io::Result<WinPipeSocketAddr> {
        Ok(self.inner.addr.clone())
    }

    /// In nonblocking mode `accept` returns `WouldBlock` when no client is waiting; an
    /// accept blocked in another thread returns at once. Accepted streams stay blocking.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.shared.update(|s| s.nonblocking = nonblocking);
        Ok(())
    }

    /// The error met when an accept could not create the next instance (the next
    /// accept tries again), once; `Ok(None)` otherwise.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        Ok(lock(&self.inner.error).take())
    }

    /// Whether clients on other machines are refused (`PIPE_REJECT_REMOTE_CLIENTS`);
    /// `true` by default. As in winpipe 0.1 it applies to instances created after the
    /// call: the instance already waiting keeps its setting until it is accepted.
    pub fn reject_remote(&self, reject_remote: bool) {
        self.inner
            .reject_remote
            .store(reject_remote, Ordering::Relaxed);
    }
}

fn in_use(name: &str) -> io::Error {
    io::Error::new(
        ErrorKind::AddrInUse,
        format!("{name} is already in use by another listener"),
    )
}

/// The handle of the newest pipe instance: the one waiting for the next client. It
/// changes with every accept and stays owned by winpipe (or by the accepted stream).
impl AsRawHandle for WinListener {
    fn as_raw_handle(&self) -> RawHandle {
        self.inner.newest.load(Ordering::Relaxed) as RawHandle
    }
}

impl fmt::Debug for WinListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WinListener")
            .field("name", &self.inner.addr)
            .finish()
    }
}

/// The iterator of [`WinListener::incoming`]: each item is one [`WinListener::accept`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a WinListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<WinStream>;

    fn next(&mut self) -> Option<io::Result<WinStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

impl<'a> IntoIterator for &'a WinListener {
    type Item = io::Result<WinStream>;
    type IntoIter = Incoming<'a>;

    fn into_iter(self) -> Incoming<'a> {
        self.incoming()
    }
}
