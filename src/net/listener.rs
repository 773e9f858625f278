//! `WinListener`: a pipe name that accepts clients.

use super::addr::WinPipeSocketAddr;
use super::options::ListenerOptions;
use super::shared::{lock, Registration, Shared};
use super::stream::WinStream;
use crate::engine::{self, Code, Issued, Listen, Policy, Port, Request, Since};
use crate::ffi::{ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_PIPE_BUSY};
use crate::sys::{self, Handle, InstanceSpec, Overlapped, OwnerOnly};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, ErrorKind};
use std::os::windows::io::{AsRawHandle, RawHandle};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A named pipe server: the `UnixListener` of winpipe.
///
/// [`bind`](Self::bind) creates the pipe's instances at once, so clients can connect
/// before [`accept`](Self::accept) is called. The listener keeps a backlog of instances
/// waiting ([`DEFAULT_BACKLOG`](crate::DEFAULT_BACKLOG), or as set with
/// [`ListenerOptions::backlog`](crate::ListenerOptions::backlog)): each accept replaces
/// the instance it hands out before returning. A client that finds no free instance is
/// not refused: its connect waits for the next one.
///
/// Accept order: Windows gives a connecting client the oldest waiting instance, and
/// accept always takes the oldest instance, so clients are accepted in the order their
/// connects succeeded. (Observed under Wine; Microsoft does not document which free
/// instance a client gets.)
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
    /// The instances waiting for clients, oldest first.
    listening: Mutex<VecDeque<Instance>>,
    backlog: usize,
    in_buffer: u32,
    out_buffer: u32,
    max_instances: u32,
    security: Option<OwnerOnly>,
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
        self.create_instance(false)
    }

    fn sleep(&mut self, pause: Duration) {
        std::thread::sleep(pause);
    }
}

impl Inner {
    fn create_instance(&self, first: bool) -> Result<Instance, Code> {
        let name = self.addr.name().unwrap_or_default();
        let spec = InstanceSpec {
            first,
            reject_remote: self.reject_remote.load(Ordering::Relaxed),
            in_buffer: self.in_buffer,
            out_buffer: self.out_buffer,
            max_instances: self.max_instances,
            security: self.security.as_ref(),
        };
        let handle = sys::create_instance(name, &spec)?;
        Ok(self.adopt(handle))
    }

    /// Makes instances until `backlog` wait, or the pipe's instance limit is reached.
    /// Another failure is kept for `take_error`; the next accept tries again.
    fn top_up(&self, listening: &mut VecDeque<Instance>) {
        while listening.len() < self.backlog {
            match self.create_instance(false) {
                Ok(instance) => listening.push_back(instance),
                Err(ERROR_PIPE_BUSY) => break,
                Err(code) => {
                    *lock(&self.error) = Some(engine::os_error(code));
                    break;
                }
            }
        }
    }

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
    /// Binds to the pipe name `path` (`\\.\pipe\NAME`) with the default
    /// [`ListenerOptions`]: a backlog of [`DEFAULT_BACKLOG`](crate::DEFAULT_BACKLOG)
    /// instances, created at once; remote clients rejected; the name must be new.
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
        ListenerOptions::new().bind(path)
    }

    /// Binds to `addr`, as [`bind`](Self::bind).
    pub fn bind_addr(addr: &WinPipeSocketAddr) -> io::Result<WinListener> {
        ListenerOptions::new().bind_addr(addr)
    }

    /// Options for a listener (backlog, buffers, security), as `File::options`.
    pub fn options() -> ListenerOptions {
        ListenerOptions::new()
    }

    /// Binds with checked `options`.
    pub(crate) fn bind_with(
        addr: &WinPipeSocketAddr,
        options: &ListenerOptions,
    ) -> io::Result<WinListener> {
        let name = addr.name().ok_or_else(|| {
            io::Error::new(ErrorKind::InvalidInput, "cannot bind an unnamed address")
        })?;
        // FILE_FLAG_FIRST_PIPE_INSTANCE below makes Windows refuse a name in use, but
        // Wine ignores that flag: look for an existing instance first as well.
        if options.first_instance {
            match sys::wait_for_instance(name, Duration::from_millis(1)) {
                Err(ERROR_FILE_NOT_FOUND) => {}
                _ => return Err(in_use(name)),
            }
        }
        let security = match options.owner_only {
            true => Some(OwnerOnly::new()?),
            false => None,
        };
        let inner = Arc::new(Inner {
            addr: addr.clone(),
            shared: Shared::new(),
            listening: Mutex::new(VecDeque::new()),
            backlog: options.backlog,
            in_buffer: options.in_buffer_size,
            out_buffer: options.out_buffer_size,
            max_instances: options.instance_limit(),
            security,
            reject_remote: AtomicBool::new(options.reject_remote),
            newest: AtomicUsize::new(0),
            error: Mutex::new(None),
        });
        let mut listening = VecDeque::new();
        for i in 0..options.backlog {
            match inner.create_instance(i == 0 && options.first_instance) {
                Ok(instance) => listening.push_back(instance),
                Err(ERROR_ACCESS_DENIED | ERROR_PIPE_BUSY) if i == 0 => return Err(in_use(name)),
                Err(code) => return Err(engine::os_error(code)),
            }
        }
        *lock(&inner.listening) = listening;
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
            inner.top_up(&mut listening);
            let policy = || Policy {
                nonblocking: inner.shared.settings().nonblocking,
                ..Policy::default()
            };
            // The oldest instance is the one the next client gets.
            let mut oldest = listening.pop_front();
            let before = oldest.as_ref().map(|i| i.handle.raw());
            let result = engine::accept(&mut &*inner, &mut oldest, &policy, &Since::start());
            if let Some(instance) = oldest {
                // The same instance (a stopped accept) stays the oldest; a new one is
                // the newest.
                if Some(instance.handle.raw()) == before {
                    listening.push_front(instance);
                } else {
                    listening.push_back(instance);
                }
            }
            let accepted = result?;
            inner.top_up(&mut listening);
            accepted
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
