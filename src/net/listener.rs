//! `WinListener`: a pipe name that accepts clients.

use super::addr::WinPipeSocketAddr;
use super::options::ListenerOptions;
use super::shared::Shared;
use super::stream::WinStream;
use crate::engine::{self, Backlog, Code, Issued, Listen, Policy, Port, Request, Since, Wake};
use crate::ffi::{ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_PIPE_BUSY, ERROR_SEM_TIMEOUT};
use crate::sys::{self, lock, Descriptor, Handle, InstanceSpec, Pipe};
use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, ErrorKind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
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
///
/// # No handle traits
/// Unlike std's `UnixListener`, whose socket is one file descriptor, a listener is a
/// set of pipe instances that changes with every accept: each instance it hands out
/// becomes an accepted stream's handle, to be closed (and its value reused) when that
/// stream is dropped. No handle stands for the listener for as long as it lives, so it
/// implements none of `AsRawHandle`, `AsHandle`, `IntoRawHandle` or `FromRawHandle`
/// (winpipe 0.1 had none either). Accepted streams have all of them.
///
/// ```compile_fail
/// use std::os::windows::io::AsRawHandle;
/// let listener = winpipe::WinListener::bind(r"\\.\pipe\no-handle")?;
/// let _ = listener.as_raw_handle(); // no such method: there is no stable handle
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct WinListener {
    inner: Arc<Inner>,
}

struct Inner {
    addr: WinPipeSocketAddr,
    shared: Arc<Shared>,
    /// The instances waiting for clients, oldest first.
    backlog: Mutex<Backlog<Instance>>,
    in_buffer: u32,
    out_buffer: u32,
    max_instances: u32,
    security: Descriptor,
    reject_remote: bool,
    /// This process's session, when accept admits only clients of it.
    own_session: Option<u32>,
    /// Clients `same_session` turned away.
    refused: AtomicU64,
    /// A failure to make an instance not reported yet (`take_error`, or the next
    /// accept that finds no instance). Apart from `backlog` so that `take_error` never
    /// waits for an accept.
    error: Mutex<Option<io::Error>>,
    /// The name's first instance, which never listens: it keeps the name (and the
    /// descriptor it fixes) in existence for the listener's whole life, so that no
    /// other process can create the name when every other instance has closed and
    /// receive the clients of the listener's next instance. `None` when the listener
    /// joined a pipe someone else created (`first_instance(false)`).
    _holder: Option<Handle>,
}

/// How many clients `bind` lets connect to the instance meant to hold the name (each
/// keeps its connection) before it gives up.
const MAX_EARLY_CLIENTS: usize = 64;

/// A server instance waiting for (or holding) a client.
pub(crate) struct Instance {
    handle: Handle,
    /// The listener's settings, whose setters wake its ConnectNamedPipe.
    shared: Arc<Shared>,
}

impl Instance {
    fn pipe(&self) -> Pipe<'_> {
        Pipe {
            file: &self.handle,
            shared: &self.shared,
        }
    }
}

impl Port for Instance {
    fn submit<R>(
        &mut self,
        request: Request<'_>,
        wake: Wake,
        drive: impl FnOnce(Issued<'_>) -> R,
    ) -> R {
        self.pipe().submit(request, wake, drive)
    }

    fn peek(&mut self, buf: &mut [u8]) -> Result<usize, Code> {
        self.pipe().peek(buf)
    }

    /// An instance only connects; its reads belong to the stream it becomes.
    fn end_of_stream(&mut self) {}
}

/// The listener as one accept uses it: `seen` is the settings generation its policy
/// last read, so that a pause at the instance limit ends at the next setter.
struct Acceptor<'a> {
    inner: &'a Inner,
    seen: &'a Cell<u64>,
}

impl Listen for Acceptor<'_> {
    type Instance = Instance;

    fn create(&mut self) -> Result<Instance, Code> {
        self.inner.create_instance(false)
    }

    fn sleep(&mut self, pause: Duration) {
        self.inner.shared.pause(pause, self.seen.get());
    }

    fn keep_failure(&mut self, err: io::Error) {
        lock(&self.inner.error).get_or_insert(err);
    }

    fn take_failure(&mut self) -> Option<io::Error> {
        lock(&self.inner.error).take()
    }
}

impl Inner {
    fn create_instance(&self, first: bool) -> Result<Instance, Code> {
        let name = self.addr.name().unwrap_or_default();
        let spec = InstanceSpec {
            first,
            reject_remote: self.reject_remote,
            in_buffer: self.in_buffer,
            out_buffer: self.out_buffer,
            max_instances: self.max_instances,
            security: Some(&self.security),
        };
        let handle = sys::create_instance(name, &spec)?;
        Ok(Instance {
            handle,
            shared: self.shared.clone(),
        })
    }

    /// Creates the name's first instance (`FILE_FLAG_FIRST_PIPE_INSTANCE`) and takes an
    /// instance out of listening to hold the name for as long as it is open. A client
    /// can connect to a new instance before it is taken out (one that was waiting for
    /// the name, say): such an instance is that client's connection, returned with the
    /// others that came first, oldest first, and the next instance is tried.
    fn hold_name(&self, name: &str) -> io::Result<(Handle, VecDeque<Instance>)> {
        let mut early = VecDeque::new();
        let mut instance = self
            .create_instance(true)
            .map_err(|code| first_create_error(name, code))?;
        loop {
            match sys::stop_listening(name, &instance.handle) {
                Ok(()) => return Ok((instance.handle, early)),
                Err(ERROR_PIPE_BUSY) if early.len() < MAX_EARLY_CLIENTS => {
                    early.push_back(instance);
                    instance = self.create_instance(false).map_err(engine::os_error)?;
                }
                Err(code) => {
                    let err = engine::os_error(code);
                    let why = format!("cannot take an instance of {name} out of listening: {err}");
                    return Err(io::Error::new(err.kind(), why));
                }
            }
        }
    }

    /// Whether accept may hand out the client connected to `instance`.
    fn admits(&self, instance: &Instance) -> bool {
        self.own_session.is_none_or(|own| {
            let client = sys::peer_session_id(&instance.handle, true);
            crate::net::same_session_admits(own, client)
        })
    }

    /// The buffer size our writes meet: the outbound one, as created (a server end
    /// writes to the queue `out_buffer` sizes).
    fn quota(&self) -> usize {
        self.out_buffer as usize
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
    ///
    /// ```
    /// use winpipe::{WinListener, WinPipeSocketAddr};
    /// let name = format!(r"\\.\pipe\doc-{}-bind_addr", std::process::id());
    /// let addr = WinPipeSocketAddr::from_pathname(name)?;
    /// let listener = WinListener::bind_addr(&addr)?;
    /// assert_eq!(listener.local_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_addr(addr: &WinPipeSocketAddr) -> io::Result<WinListener> {
        ListenerOptions::new().bind_addr(addr)
    }

    /// Options for a listener (backlog, buffers, security), as `File::options`.
    ///
    /// ```
    /// use winpipe::{WinListener, WinStream};
    /// let name = format!(r"\\.\pipe\doc-{}-WinListener-options", std::process::id());
    /// let listener = WinListener::options().owner_only(true).bind(&name)?;
    /// let _client = WinStream::connect(&name)?; // this process's user may connect
    /// let (server, _) = listener.accept()?;
    /// assert!(server.peer_is_same_user()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
        if options.first_instance && name_exists(name)? {
            return Err(in_use(name));
        }
        let security = crate::net::listener_descriptor(options)?;
        let mut inner = Inner {
            addr: addr.clone(),
            shared: Shared::new(),
            backlog: Mutex::new(Backlog::new(options.backlog, VecDeque::new())),
            in_buffer: options.in_buffer_size,
            out_buffer: options.out_buffer_size,
            max_instances: options.instance_limit(),
            security,
            reject_remote: options.reject_remote,
            own_session: match options.same_session {
                true => Some(sys::own_session_id()?),
                false => None,
            },
            refused: AtomicU64::new(0),
            error: Mutex::new(None),
            _holder: None,
        };
        let mut listening = VecDeque::new();
        if options.first_instance {
            let (holder, early) = inner.hold_name(name)?;
            inner._holder = Some(holder);
            listening = early;
        }
        let inner = Arc::new(inner);
        while listening.len() < options.backlog {
            let instance = inner.create_instance(false).map_err(engine::os_error)?;
            listening.push_back(instance);
        }
        *lock(&inner.backlog) = Backlog::new(options.backlog, listening);
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
        let seen = Cell::new(0);
        let policy = || {
            let (settings, generation) = inner.shared.snapshot();
            seen.set(generation);
            Policy {
                nonblocking: settings.nonblocking,
                ..Policy::default()
            }
        };
        let mut acceptor = Acceptor { inner, seen: &seen };
        loop {
            let instance = lock(&inner.backlog).accept(&mut acceptor, &policy, &Since::start())?;
            if inner.admits(&instance) {
                let stream =
                    WinStream::accepted(instance.handle, inner.addr.clone(), inner.quota());
                return Ok((stream, WinPipeSocketAddr::unnamed()));
            }
            // Dropping the instance closes it, which disconnects the client.
            inner.refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many clients [`ListenerOptions::same_session`](crate::ListenerOptions::same_session)
    /// turned away: connected from another session, they were disconnected before
    /// anything was read or written. Counts for the listener and all its clones.
    ///
    /// ```
    /// let name = format!(r"\\.\pipe\doc-{}-refused_clients", std::process::id());
    /// let listener = winpipe::ListenerOptions::new().same_session(true).bind(&name)?;
    /// if listener.refused_clients() > 0 {
    ///     eprintln!("{} clients from other sessions turned away", listener.refused_clients());
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn refused_clients(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }

    /// An endless iterator over accepted streams, as `UnixListener::incoming`.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use winpipe::{WinListener, WinStream};
    /// let name = format!(r"\\.\pipe\doc-{}-incoming", std::process::id());
    /// let listener = WinListener::bind(&name)?;
    /// let mut client = WinStream::connect(&name)?;
    /// for stream in listener.incoming().take(1) {
    ///     stream?.write_all(b"served")?;
    /// }
    /// let mut buf = [0; 6];
    /// client.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"served");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// Another handle to this listener, sharing its waiting instance and settings.
    ///
    /// ```
    /// use winpipe::{WinListener, WinStream};
    /// let name = format!(r"\\.\pipe\doc-{}-WinListener-try_clone", std::process::id());
    /// let listener = WinListener::bind(&name)?;
    /// let server = listener.try_clone()?;
    /// let thread = std::thread::spawn(move || server.accept());
    /// let _client = WinStream::connect(&name)?;
    /// let (stream, _) = thread.join().unwrap()?;
    /// assert_eq!(stream.local_addr()?, listener.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<WinListener> {
        Ok(self.clone())
    }

    /// The pipe name the listener is bound to.
    ///
    /// ```
    /// use std::path::Path;
    /// let name = format!(r"\\.\pipe\doc-{}-WinListener-local_addr", std::process::id());
    /// let listener = winpipe::WinListener::bind(&name)?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(Path::new(&name)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<WinPipeSocketAddr> {
        Ok(self.inner.addr.clone())
    }

    /// In nonblocking mode `accept` returns `WouldBlock` when no client is waiting; an
    /// accept blocked in another thread returns at once. Accepted streams stay blocking.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// let name = format!(r"\\.\pipe\doc-{}-WinListener-set_nonblocking", std::process::id());
    /// let listener = winpipe::WinListener::bind(&name)?;
    /// listener.set_nonblocking(true)?;
    /// let err = listener.accept().unwrap_err(); // no client is waiting
    /// assert_eq!(err.kind(), ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.shared.update(|s| s.nonblocking = nonblocking);
        Ok(())
    }

    /// A failure to create the next waiting instance that nothing has reported yet
    /// (the listener tries again at the next accept), once; `Ok(None)` otherwise. Each
    /// failure reaches the caller once: here, or as the error of an accept that finds
    /// no instance waiting because of it. Failures that come while one is waiting to be
    /// reported are counted as that one.
    ///
    /// ```
    /// let name = format!(r"\\.\pipe\doc-{}-WinListener-take_error", std::process::id());
    /// let listener = winpipe::WinListener::bind(&name)?;
    /// assert!(listener.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        Ok(lock(&self.inner.error).take())
    }

    /// Does nothing: kept so that winpipe 0.1 code builds. Set the rule with
    /// [`ListenerOptions::reject_remote`](crate::ListenerOptions::reject_remote) before
    /// `bind` instead (remote clients are rejected by default).
    ///
    /// Changing it after `bind` cannot work reliably: the instances already waiting
    /// (the whole backlog) keep the rule they were created with, and whether Windows
    /// applies the rule per instance (as CreateNamedPipe's documentation says) or per
    /// pipe name from its first instance (NPFS keeps the pipe type, which carries the
    /// rule at the NT level, from the first instance) is not documented consistently.
    ///
    /// ```
    /// // Instead of `listener.reject_remote(true)` after bind, set it before:
    /// let name = format!(r"\\.\pipe\doc-{}-WinListener-reject_remote", std::process::id());
    /// let listener = winpipe::ListenerOptions::new()
    ///     .reject_remote(true)
    ///     .bind(&name)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[deprecated(
        since = "0.2.0",
        note = "does nothing: set ListenerOptions::reject_remote before bind"
    )]
    pub fn reject_remote(&self, reject_remote: bool) {
        trace!(
            "reject_remote({}) after bind ignored (kept: {})",
            reject_remote,
            self.inner.reject_remote
        );
    }

    /// The security descriptor of the pipe, read back from the instance the next
    /// accept takes, for the tests that check what bind gave it.
    #[cfg(test)]
    pub(crate) fn waiting_security(&self) -> io::Result<crate::secdesc::SecurityDescriptor> {
        let backlog = lock(&self.inner.backlog);
        let instance = backlog.oldest().expect("a waiting instance");
        crate::secdesc::SecurityDescriptor::parse(&sys::pipe_security(&instance.handle)?)
    }
}

fn in_use(name: &str) -> io::Error {
    io::Error::new(
        ErrorKind::AddrInUse,
        format!("{name} is already in use by another listener"),
    )
}

/// Whether `name` has instances: `WaitNamedPipeA` finds one (free, or busy until its
/// short timeout). It fails at once with ERROR_FILE_NOT_FOUND when there is none;
/// any other failure is returned as it is.
fn name_exists(name: &str) -> io::Result<bool> {
    match sys::wait_for_instance(name, Duration::from_millis(1)) {
        Err(ERROR_FILE_NOT_FOUND) => Ok(false),
        Ok(()) | Err(ERROR_SEM_TIMEOUT) => Ok(true),
        Err(code) => Err(engine::os_error(code)),
    }
}

/// The error for a failed first instance created with FILE_FLAG_FIRST_PIPE_INSTANCE:
/// Windows refuses a name that exists with 5 (access denied), or with 231 (busy) if
/// the name is at its instance limit. Either is `AddrInUse` only if the name really
/// exists now; access can be denied for other reasons (an AppContainer outside
/// `LOCAL\`, say), and then the system's error is returned with its code.
fn first_create_error(name: &str, code: Code) -> io::Error {
    let refused = matches!(code, ERROR_ACCESS_DENIED | ERROR_PIPE_BUSY);
    if refused && matches!(name_exists(name), Ok(true)) {
        return in_use(name);
    }
    engine::os_error(code)
}

impl fmt::Debug for WinListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WinListener")
            .field("name", &self.inner.addr)
            .finish()
    }
}

/// The iterator of [`WinListener::incoming`]: each item is one [`WinListener::accept`].
///
/// ```
/// use winpipe::{WinListener, WinStream};
/// let name = format!(r"\\.\pipe\doc-{}-Incoming", std::process::id());
/// let listener = WinListener::bind(&name)?;
/// let _client = WinStream::connect(&name)?;
/// let mut incoming = listener.incoming();
/// assert_eq!(incoming.size_hint(), (usize::MAX, None)); // endless
/// let server = incoming.next().unwrap()?;
/// assert!(server.peer_addr()?.is_unnamed());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Incoming<'a> {
    listener: &'a WinListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<WinStream>;

    fn next(&mut self) -> Option<io::Result<WinStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }

    /// Endless, as std's: `(usize::MAX, None)`.
    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

impl<'a> IntoIterator for &'a WinListener {
    type Item = io::Result<WinStream>;
    type IntoIter = Incoming<'a>;

    fn into_iter(self) -> Incoming<'a> {
        self.incoming()
    }
}
