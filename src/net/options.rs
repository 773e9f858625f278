//! Options for creating listeners and connecting clients, in the style of std's
//! `OpenOptions`: set what differs from the defaults, then `bind` or `connect`.

use super::addr::WinPipeSocketAddr;
use super::listener::WinListener;
use super::stream::{WinStream, DEFAULT_CONNECT_TIMEOUT, PIPE_BUFFER};
use crate::ffi::{
    DWORD, PIPE_UNLIMITED_INSTANCES, SECURITY_ANONYMOUS, SECURITY_DELEGATION,
    SECURITY_EFFECTIVE_ONLY, SECURITY_IDENTIFICATION, SECURITY_IMPERSONATION,
};
use crate::Sid;
use std::io::{self, ErrorKind};
use std::path::Path;
use std::time::Duration;

/// How many instances a listener keeps waiting for clients unless told otherwise.
///
/// Chosen by measurement (`examples/backlog.rs`, under Wine): with 64 clients
/// connecting at the same moment to a server that accepts slowly, clients that find a
/// free instance connect at once, while the others wait in `WaitNamedPipe` and race
/// for each new instance. Median connect time was 470 ms with a backlog of 1, 435 ms
/// with 4, 155 ms with 16 and 11 ms with 32; an idle instance costs one handle and a
/// little kernel memory. See the user guide (`docs/guide.md`), "Backlog".
///
/// ```
/// use winpipe::{ListenerOptions, DEFAULT_BACKLOG};
/// assert_eq!(*ListenerOptions::new().backlog(DEFAULT_BACKLOG), ListenerOptions::new());
/// ```
pub const DEFAULT_BACKLOG: usize = 32;

/// The most instances a pipe can be limited to; more means "unlimited" to Windows.
const MAX_LIMITED_INSTANCES: usize = 254;
/// The largest `max_instances`: the listener's instance that holds the name counts
/// against the pipe's limit too.
const MAX_INSTANCES_OPTION: usize = MAX_LIMITED_INSTANCES - 1;

/// Options for [`WinListener`]: how many instances wait for clients, their buffers, who
/// may connect. [`WinListener::bind`] uses the defaults.
///
/// ```no_run
/// let listener = winpipe::ListenerOptions::new()
///     .backlog(16)
///     .owner_only(true)
///     .bind(r"\\.\pipe\my-service")?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerOptions {
    pub(crate) backlog: usize,
    pub(crate) in_buffer_size: u32,
    pub(crate) out_buffer_size: u32,
    pub(crate) reject_remote: bool,
    pub(crate) first_instance: bool,
    pub(crate) max_instances: Option<usize>,
    pub(crate) owner_only: bool,
    pub(crate) security_descriptor: Option<String>,
    pub(crate) same_session: bool,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        ListenerOptions {
            backlog: DEFAULT_BACKLOG,
            in_buffer_size: PIPE_BUFFER as u32,
            out_buffer_size: PIPE_BUFFER as u32,
            reject_remote: true,
            first_instance: true,
            max_instances: None,
            owner_only: false,
            security_descriptor: None,
            same_session: false,
        }
    }
}

impl ListenerOptions {
    /// The defaults: a backlog of [`DEFAULT_BACKLOG`], 64 KiB buffers, remote clients
    /// rejected, the name must be new, no instance limit, a descriptor private to
    /// LocalSystem, administrators and the owner.
    ///
    /// ```
    /// let name = format!(r"\\.\pipe\doc-{}-ListenerOptions-new", std::process::id());
    /// // The same listener as `WinListener::bind(&name)`.
    /// let listener = winpipe::ListenerOptions::new().bind(&name)?;
    /// assert!(!listener.local_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// How many pipe instances wait for clients (1 to 254; default
    /// [`DEFAULT_BACKLOG`]). Each client that connects takes one; the listener makes a
    /// new one at each accept, so up to `backlog` clients can connect at the same
    /// moment without waiting, however slowly the server accepts. A client that finds
    /// none free waits (up to its connect timeout) for the next one.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use winpipe::ListenerOptions;
    /// let name = format!(r"\\.\pipe\doc-{}-backlog", std::process::id());
    /// let _listener = ListenerOptions::new().backlog(4).bind(&name)?;
    /// let err = ListenerOptions::new().backlog(0).bind(&name).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput); // 1 to 254
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn backlog(&mut self, backlog: usize) -> &mut Self {
        self.backlog = backlog;
        self
    }

    /// Bytes the pipe holds of what clients write before a client's write waits (at
    /// least 1; default 64 KiB). Windows treats the size as advice and may round it.
    ///
    /// ```
    /// use std::io::Write;
    /// use winpipe::{ListenerOptions, WinStream};
    /// let name = format!(r"\\.\pipe\doc-{}-in_buffer_size", std::process::id());
    /// let _listener = ListenerOptions::new().in_buffer_size(4096).bind(&name)?;
    /// let mut client = WinStream::connect(&name)?;
    /// client.write_all(b"the server reads this from its 4 KiB buffer")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn in_buffer_size(&mut self, bytes: u32) -> &mut Self {
        self.in_buffer_size = bytes;
        self
    }

    /// Bytes the pipe holds of what the server writes before its write waits (at least
    /// 1; default 64 KiB). Windows treats the size as advice and may round it.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use winpipe::ListenerOptions;
    /// let name = format!(r"\\.\pipe\doc-{}-out_buffer_size", std::process::id());
    /// let err = ListenerOptions::new().out_buffer_size(0).bind(&name).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput); // at least 1 byte
    /// let _listener = ListenerOptions::new().out_buffer_size(1 << 20).bind(&name)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn out_buffer_size(&mut self, bytes: u32) -> &mut Self {
        self.out_buffer_size = bytes;
        self
    }

    /// Whether clients on other machines are refused (`PIPE_REJECT_REMOTE_CLIENTS`);
    /// default `true`. Only turn it off for a service meant to be reached over the
    /// network, and check who connects.
    ///
    /// Every instance the listener creates gets this rule. With
    /// [`first_instance(false)`](Self::first_instance), joining a pipe another
    /// program created, the rule that holds may be that program's (see there).
    ///
    /// ```no_run
    /// // A service meant to be reached from other machines: it must check who connects.
    /// let listener = winpipe::ListenerOptions::new()
    ///     .reject_remote(false)
    ///     .bind(r"\\.\pipe\my-network-service")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn reject_remote(&mut self, reject: bool) -> &mut Self {
        self.reject_remote = reject;
        self
    }

    /// Whether `bind` fails with `AddrInUse` when the name already has instances, in
    /// this process or another (default `true`). This stops another process that
    /// created the name first from receiving your clients. With `false`, the listener
    /// adds its instances to an existing pipe of that name, if its creator allows.
    ///
    /// Windows keeps some settings per pipe name, from the name's first instance:
    /// its security descriptor (who may connect; NPFS checks clients against it, and
    /// a later instance's own descriptor is ignored), its pipe type and its instance
    /// limit. A listener that joins an existing pipe gets that pipe's, so
    /// [`owner_only`](Self::owner_only) cannot be combined with `false` (`bind` says
    /// `InvalidInput`), and `max_instances` and `reject_remote` may not hold.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use winpipe::ListenerOptions;
    /// let name = format!(r"\\.\pipe\doc-{}-first_instance", std::process::id());
    /// let _first = ListenerOptions::new().bind(&name)?;
    /// let err = ListenerOptions::new().bind(&name).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::AddrInUse);
    /// // Adds its instances to the pipe `_first` created.
    /// let _joined = ListenerOptions::new().first_instance(false).bind(&name)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn first_instance(&mut self, first: bool) -> &mut Self {
        self.first_instance = first;
        self
    }

    /// The most instances the pipe may have at once (1 to 253), counting accepted
    /// connections still open and instances waiting; default unlimited. At the limit
    /// the listener keeps fewer instances waiting, and an accept with none waiting
    /// waits until a connection closes. Must not be less than the backlog.
    ///
    /// Windows' limit for the name is one more: a listener that creates the name
    /// (`first_instance(true)`) keeps one instance that never listens, so that the
    /// name cannot lapse and be taken by another process while every other instance
    /// is closed.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use winpipe::ListenerOptions;
    /// let name = format!(r"\\.\pipe\doc-{}-max_instances", std::process::id());
    /// let _listener = ListenerOptions::new().backlog(2).max_instances(8).bind(&name)?;
    /// let err = ListenerOptions::new().backlog(4).max_instances(2).bind(&name).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput); // less than the backlog
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn max_instances(&mut self, max: usize) -> &mut Self {
        self.max_instances = Some(max);
        self
    }

    /// Whether only the user this process runs as, at this process's integrity level,
    /// may connect (default `false`). When set, the pipe's descriptor grants that user
    /// (and this process's app container, if it runs in one) full access and nobody
    /// else anything, and its label forbids lower integrity levels to read or write:
    /// an elevated server's pipe stays out of reach of the same user's medium
    /// processes. Without it the pipe is already private to LocalSystem,
    /// administrators and the owner (`docs/security.md`).
    ///
    /// Windows checks clients against the descriptor of the pipe name's first
    /// instance, so this needs [`first_instance(true)`](Self::first_instance) (the
    /// default): the listener's own first instance then carries it.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use winpipe::ListenerOptions;
    /// let name = format!(r"\\.\pipe\doc-{}-owner_only", std::process::id());
    /// let _listener = ListenerOptions::new().owner_only(true).bind(&name)?;
    /// // It sets the descriptor, so it cannot join another's pipe:
    /// let mut joining = ListenerOptions::new();
    /// joining.owner_only(true).first_instance(false);
    /// assert_eq!(joining.bind(&name).unwrap_err().kind(), ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn owner_only(&mut self, owner_only: bool) -> &mut Self {
        self.owner_only = owner_only;
        self
    }

    /// The pipe's security descriptor, in Microsoft's SDDL string form: who may
    /// connect, and with which rights. Use it to open a service's pipe to other users,
    /// which the default descriptor does not (it grants LocalSystem, administrators and
    /// the owner only). A descriptor that names no owner (`O:`) gets this process's
    /// default owner, as Windows would give it.
    ///
    /// `bind` checks the string: one Windows cannot parse, one without a DACL, or with
    /// `D:NO_ACCESS_CONTROL` (either lets anyone connect, add instances of the pipe and
    /// change its descriptor), is `InvalidInput` naming it, and so is combining it with
    /// [`owner_only`](Self::owner_only). As with `owner_only`, Windows enforces the
    /// descriptor of the name's first instance, so it needs
    /// [`first_instance(true)`](Self::first_instance) (the default).
    ///
    /// A winpipe client asks for exactly `0x12018b`: `FILE_GENERIC_READ`,
    /// `FILE_WRITE_DATA` and `FILE_WRITE_ATTRIBUTES`; grant clients that mask rather
    /// than `GW` or `GA`. `FILE_GENERIC_WRITE` (`GW`) includes `FILE_APPEND_DATA`,
    /// which on a pipe is `FILE_CREATE_PIPE_INSTANCE`: whoever holds it may add
    /// instances to your pipe and receive your clients, and a client's
    /// [`expect_server_user`](crate::ConnectOptions::expect_server_user) check then
    /// refuses the pipe. The listener itself needs it for every instance after the
    /// first, so grant this process's user (or `OW`, the owner) full access: `bind`
    /// fails on Windows otherwise.
    ///
    /// ```no_run
    /// // A service (LocalSystem) whose clients are the machine's signed-in users:
    /// // full access for SYSTEM and administrators, a client's rights for
    /// // Authenticated Users.
    /// let listener = winpipe::ListenerOptions::new()
    ///     .security_descriptor("D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;0x12018b;;;AU)")
    ///     .bind(r"\\.\pipe\my-service")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn security_descriptor(&mut self, sddl: &str) -> &mut Self {
        self.security_descriptor = Some(sddl.to_owned());
        self
    }

    /// Whether `accept` hands out only clients of this process's Windows session
    /// (default `false`). A client from another session (another signed-in user's
    /// desktop, or a service's session 0) is disconnected as soon as it connects,
    /// before anything is read or written, and `accept` goes on waiting; how many were
    /// turned away is [`WinListener::refused_clients`]. A client whose session cannot
    /// be read is turned away too. It filters by session, not by user: check the
    /// user with [`WinStream::peer_user`](crate::WinStream::peer_user).
    ///
    /// ```
    /// use winpipe::{ListenerOptions, WinStream};
    /// let name = format!(r"\\.\pipe\doc-{}-same_session", std::process::id());
    /// let listener = ListenerOptions::new().same_session(true).bind(&name)?;
    /// let _client = WinStream::connect(&name)?; // this process's session: admitted
    /// let (_server, _) = listener.accept()?;
    /// assert_eq!(listener.refused_clients(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn same_session(&mut self, same_session: bool) -> &mut Self {
        self.same_session = same_session;
        self
    }

    /// Binds to the pipe name `path` with these options.
    ///
    /// # Errors
    /// As [`WinListener::bind`]; `InvalidInput` for an option out of range.
    ///
    /// ```
    /// use winpipe::ListenerOptions;
    /// let pid = std::process::id();
    /// let mut options = ListenerOptions::new();
    /// options.backlog(2);
    /// // One set of options can bind several names.
    /// let a = options.bind(format!(r"\\.\pipe\doc-{pid}-ListenerOptions-bind-a"))?;
    /// let b = options.bind(format!(r"\\.\pipe\doc-{pid}-ListenerOptions-bind-b"))?;
    /// assert_ne!(a.local_addr()?, b.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind<P: AsRef<Path>>(&self, path: P) -> io::Result<WinListener> {
        self.bind_addr(&WinPipeSocketAddr::from_pathname(path)?)
    }

    /// Binds to `addr` with these options.
    ///
    /// ```
    /// use winpipe::{ListenerOptions, WinPipeSocketAddr};
    /// let name = format!(r"\\.\pipe\doc-{}-ListenerOptions-bind_addr", std::process::id());
    /// let addr = WinPipeSocketAddr::from_pathname(name)?;
    /// let listener = ListenerOptions::new().max_instances(40).bind_addr(&addr)?;
    /// assert_eq!(listener.local_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_addr(&self, addr: &WinPipeSocketAddr) -> io::Result<WinListener> {
        self.check()?;
        WinListener::bind_with(addr, self)
    }

    /// `max_instances` as CreateNamedPipe takes it: one more for the instance that
    /// holds the name when the listener creates it (`first_instance(true)`).
    pub(crate) fn instance_limit(&self) -> DWORD {
        let holder = usize::from(self.first_instance);
        self.max_instances
            .map_or(PIPE_UNLIMITED_INSTANCES, |max| (max + holder) as DWORD)
    }

    fn check(&self) -> io::Result<()> {
        let bad = |what: String| Err(io::Error::new(ErrorKind::InvalidInput, what));
        if self.backlog == 0 || self.backlog > MAX_LIMITED_INSTANCES {
            return bad(format!(
                "backlog {} is out of range: 1 to {MAX_LIMITED_INSTANCES}",
                self.backlog
            ));
        }
        if self.in_buffer_size == 0 || self.out_buffer_size == 0 {
            return bad("a pipe buffer size must be at least 1 byte".into());
        }
        if self.owner_only && self.security_descriptor.is_some() {
            return bad(
                "owner_only and security_descriptor both set the pipe's security \
                 descriptor: choose one"
                    .into(),
            );
        }
        let descriptor = match (self.owner_only, &self.security_descriptor) {
            (true, _) => Some("owner_only"),
            (false, Some(_)) => Some("security_descriptor"),
            (false, None) => None,
        };
        if let (Some(option), false) = (descriptor, self.first_instance) {
            return bad(format!(
                "{option} needs first_instance(true): Windows checks clients against \
                 the security descriptor of the name's first instance, and a listener \
                 that joins an existing pipe does not create it"
            ));
        }
        if let Some(max) = self.max_instances {
            if max == 0 || max > MAX_INSTANCES_OPTION {
                return bad(format!(
                    "max_instances {max} is out of range: 1 to {MAX_INSTANCES_OPTION} (the \
                     pipe keeps one instance more, which holds its name)"
                ));
            }
            if max < self.backlog {
                return bad(format!(
                    "max_instances {max} is less than the backlog {}",
                    self.backlog
                ));
            }
        }
        Ok(())
    }
}

/// What a client lets the server do with its identity: the impersonation level of the
/// security quality of service sent when connecting.
///
/// ```
/// use winpipe::{ConnectOptions, ImpersonationLevel};
/// assert_eq!(ImpersonationLevel::default(), ImpersonationLevel::Identification);
/// // A client that tells the server nothing about itself:
/// let mut options = ConnectOptions::new();
/// options.impersonation(ImpersonationLevel::Anonymous);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ImpersonationLevel {
    /// The server can neither identify nor impersonate the client.
    Anonymous,
    /// The server can identify the client and check its rights, but not act as it
    /// (the default).
    #[default]
    Identification,
    /// The server can act as the client on this machine.
    Impersonation,
    /// The server can act as the client on this machine and on others.
    Delegation,
}

impl ImpersonationLevel {
    /// The `CreateFile` flags for this level. Levels that let the server act as the
    /// client add `SECURITY_EFFECTIVE_ONLY`: the server then gets only the groups and
    /// privileges enabled when the client connected, not ones it could enable later.
    pub(crate) fn flags(self) -> DWORD {
        match self {
            ImpersonationLevel::Anonymous => SECURITY_ANONYMOUS,
            ImpersonationLevel::Identification => SECURITY_IDENTIFICATION,
            ImpersonationLevel::Impersonation => SECURITY_IMPERSONATION | SECURITY_EFFECTIVE_ONLY,
            ImpersonationLevel::Delegation => SECURITY_DELEGATION | SECURITY_EFFECTIVE_ONLY,
        }
    }

    /// Whether a server granted this level may act as the client.
    fn lets_the_server_act(self) -> bool {
        matches!(
            self,
            ImpersonationLevel::Impersonation | ImpersonationLevel::Delegation
        )
    }
}

/// Options for connecting a [`WinStream`]. [`WinStream::connect`] uses the defaults.
///
/// ```no_run
/// use std::time::Duration;
/// let stream = winpipe::ConnectOptions::new()
///     .timeout(Duration::from_secs(2))
///     .connect(r"\\.\pipe\my-service")?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectOptions {
    pub(crate) timeout: Duration,
    pub(crate) impersonation: ImpersonationLevel,
    pub(crate) server_user: Option<ServerUser>,
}

/// The user a client requires of its server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ServerUser {
    /// This one.
    Is(Sid),
    /// The user the connecting process runs as, when it connects.
    Current,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            timeout: DEFAULT_CONNECT_TIMEOUT,
            impersonation: ImpersonationLevel::default(),
            server_user: None,
        }
    }
}

impl ConnectOptions {
    /// The defaults: [`DEFAULT_CONNECT_TIMEOUT`], [`ImpersonationLevel::Identification`].
    ///
    /// ```
    /// use winpipe::{ConnectOptions, WinListener};
    /// let name = format!(r"\\.\pipe\doc-{}-ConnectOptions-new", std::process::id());
    /// let _listener = WinListener::bind(&name)?;
    /// // The same as `WinStream::connect(&name)`.
    /// let stream = ConnectOptions::new().connect(&name)?;
    /// assert!(!stream.peer_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// How long to keep trying while nobody listens or every instance is busy (at least
    /// one attempt is made). Zero is invalid.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use std::time::Duration;
    /// use winpipe::{ConnectOptions, WinListener};
    /// let name = format!(r"\\.\pipe\doc-{}-ConnectOptions-timeout", std::process::id());
    /// let _listener = WinListener::bind(&name)?;
    /// ConnectOptions::new().timeout(Duration::from_secs(1)).connect(&name)?;
    /// let err = ConnectOptions::new().timeout(Duration::ZERO).connect(&name).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// What the server may do with the client's identity (default
    /// [`ImpersonationLevel::Identification`]). Windows hands the identity to
    /// whichever server the client reaches when it opens the pipe, before anything
    /// can be checked, so `Impersonation` and `Delegation` cannot be combined with
    /// [`expect_server_user`](Self::expect_server_user) (`connect` says
    /// `InvalidInput`): a squatter would act as the client before the check refused
    /// it. At those levels the server gets only the client's groups and privileges
    /// enabled at connect (`SECURITY_EFFECTIVE_ONLY`).
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use winpipe::{ConnectOptions, ImpersonationLevel};
    /// // Letting the server act as the client rules out checking the server first.
    /// let err = ConnectOptions::new()
    ///     .impersonation(ImpersonationLevel::Impersonation)
    ///     .same_user_server()
    ///     .connect(r"\\.\pipe\my-service")
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
    /// ```
    pub fn impersonation(&mut self, level: ImpersonationLevel) -> &mut Self {
        self.impersonation = level;
        self
    }

    /// Connect only to a server that runs as `user`: after opening the pipe, `connect`
    /// asks who the server is ([`WinStream::peer_user`]) and, if it is someone else
    /// or cannot be known, closes the connection before a byte is written and fails
    /// with `PermissionDenied` naming both users. This defeats a squatter: a program
    /// of another user that created the pipe name before your server did.
    ///
    /// The server must also run with the trust of that user: not in an app container,
    /// not with a restricted token, and at an integrity level at least this process's
    /// (a Low-integrity or sandboxed process of the same user is refused). What it
    /// protects is the data: nothing is written to a server that fails the check. It
    /// cannot take back what Windows gives the server at open: the client's
    /// identity at the `Identification` level (who the client is, its groups), or
    /// nothing with [`ImpersonationLevel::Anonymous`].
    ///
    /// ```no_run
    /// // The client of a LocalSystem service.
    /// let stream = winpipe::ConnectOptions::new()
    ///     .expect_server_user(winpipe::Sid::local_system())
    ///     .connect(r"\\.\pipe\my-service")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn expect_server_user(&mut self, user: Sid) -> &mut Self {
        self.server_user = Some(ServerUser::Is(user));
        self
    }

    /// Connect only to a server that runs as the same user as this process:
    /// [`expect_server_user`](Self::expect_server_user) with [`Sid::current_user`].
    ///
    /// ```no_run
    /// let stream = winpipe::ConnectOptions::new()
    ///     .same_user_server()
    ///     .connect(r"\\.\pipe\my-app")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn same_user_server(&mut self) -> &mut Self {
        self.server_user = Some(ServerUser::Current);
        self
    }

    /// Connects to the pipe name `path` with these options.
    ///
    /// # Errors
    /// As [`WinStream::connect`]; `InvalidInput` for a zero timeout; `PermissionDenied`
    /// when the server is not the user [`expect_server_user`](Self::expect_server_user)
    /// asks for.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use winpipe::{ConnectOptions, WinListener};
    /// let name = format!(r"\\.\pipe\doc-{}-ConnectOptions-connect", std::process::id());
    /// let listener = WinListener::bind(&name)?;
    /// let mut client = ConnectOptions::new().same_user_server().connect(&name)?;
    /// let (mut server, _) = listener.accept()?;
    /// client.write_all(b"checked")?;
    /// let mut buf = [0; 7];
    /// server.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"checked");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<WinStream> {
        self.connect_addr(&WinPipeSocketAddr::from_pathname(path)?)
    }

    /// Connects to `addr` with these options.
    ///
    /// ```
    /// use winpipe::{ConnectOptions, ImpersonationLevel, WinListener, WinPipeSocketAddr};
    /// let name = format!(r"\\.\pipe\doc-{}-ConnectOptions-connect_addr", std::process::id());
    /// let addr = WinPipeSocketAddr::from_pathname(name)?;
    /// let _listener = WinListener::bind_addr(&addr)?;
    /// let stream = ConnectOptions::new()
    ///     .impersonation(ImpersonationLevel::Anonymous)
    ///     .connect_addr(&addr)?;
    /// assert_eq!(stream.peer_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_addr(&self, addr: &WinPipeSocketAddr) -> io::Result<WinStream> {
        self.check()?;
        WinStream::connect_with(addr, self)
    }

    fn check(&self) -> io::Result<()> {
        if self.server_user.is_some() && self.impersonation.lets_the_server_act() {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "impersonation({:?}) with a server check: Windows grants the server \
                     that level when the pipe is opened, before the check, so a squatter \
                     could act as this client; connect at Identification, or without \
                     the check",
                    self.impersonation
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(options: &ListenerOptions) -> Option<ErrorKind> {
        options.check().err().map(|e| e.kind())
    }

    #[test]
    fn listener_defaults_are_valid_and_documented() {
        let options = ListenerOptions::new();
        assert_eq!(kind(&options), None);
        assert_eq!(options.backlog, DEFAULT_BACKLOG);
        assert!(options.reject_remote && options.first_instance && !options.owner_only);
        assert_eq!(options.instance_limit(), PIPE_UNLIMITED_INSTANCES);
    }

    #[test]
    fn out_of_range_listener_options_are_invalid_input() {
        let invalid = Some(ErrorKind::InvalidInput);
        assert_eq!(kind(ListenerOptions::new().backlog(0)), invalid);
        assert_eq!(kind(ListenerOptions::new().backlog(255)), invalid);
        assert_eq!(kind(ListenerOptions::new().in_buffer_size(0)), invalid);
        assert_eq!(kind(ListenerOptions::new().out_buffer_size(0)), invalid);
        assert_eq!(kind(ListenerOptions::new().max_instances(0)), invalid);
        assert_eq!(kind(ListenerOptions::new().max_instances(254)), invalid);
        assert_eq!(kind(ListenerOptions::new().max_instances(253)), None);
        let err = ListenerOptions::new()
            .backlog(8)
            .max_instances(4)
            .check()
            .unwrap_err();
        assert!(err.to_string().contains("less than the backlog"), "{err}");
        assert_eq!(kind(ListenerOptions::new().backlog(254)), None);
        assert_eq!(
            kind(ListenerOptions::new().backlog(4).max_instances(4)),
            None
        );
        // One more for the instance that holds the name, unless the listener joins.
        assert_eq!(ListenerOptions::new().max_instances(7).instance_limit(), 8);
        let joining = ListenerOptions::new()
            .max_instances(7)
            .first_instance(false)
            .clone();
        assert_eq!(joining.instance_limit(), 7);
        let err = ListenerOptions::new()
            .owner_only(true)
            .first_instance(false)
            .check()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("first instance"), "{err}");
        assert_eq!(kind(ListenerOptions::new().first_instance(false)), None);
    }

    #[test]
    fn impersonation_levels_map_to_their_flags() {
        assert_eq!(
            ImpersonationLevel::default().flags(),
            SECURITY_IDENTIFICATION
        );
        assert_eq!(ImpersonationLevel::Anonymous.flags(), SECURITY_ANONYMOUS);
        assert_eq!(
            ImpersonationLevel::Impersonation.flags(),
            SECURITY_IMPERSONATION | SECURITY_EFFECTIVE_ONLY
        );
        assert_eq!(
            ImpersonationLevel::Delegation.flags(),
            SECURITY_DELEGATION | SECURITY_EFFECTIVE_ONLY
        );
    }

    #[test]
    fn a_server_check_refuses_levels_that_let_the_server_act_first() {
        for level in [
            ImpersonationLevel::Impersonation,
            ImpersonationLevel::Delegation,
        ] {
            let err = ConnectOptions::new()
                .impersonation(level)
                .same_user_server()
                .check()
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.to_string().contains("squatter"), "{err}");
            ConnectOptions::new().impersonation(level).check().unwrap();
        }
        for level in [
            ImpersonationLevel::Anonymous,
            ImpersonationLevel::Identification,
        ] {
            let mut options = ConnectOptions::new();
            options.impersonation(level);
            options
                .expect_server_user(Sid::local_system())
                .check()
                .unwrap();
        }
    }
}
