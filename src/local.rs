//! Local IPC with one source for Unix and Windows.
//!
//! [`Listener`], [`Stream`] and [`SocketAddr`] are std's Unix socket types on Unix and
//! winpipe's named pipe types on Windows, which have the same methods. [`service_path`]
//! turns a short service name into the platform's address, and [`bind`] and [`connect`]
//! use it, so a program written against this module needs no `cfg`:
//!
//! ```
//! use std::io::{Read, Write};
//! use winpipe::local;
//!
//! let service = format!("winpipe-doc-{}", std::process::id());
//! let listener = local::bind(&service)?;
//! let mut client = local::connect(&service)?;
//! let (mut server, _addr) = listener.accept()?;
//! client.write_all(b"ping")?;
//! let mut buf = [0; 4];
//! server.read_exact(&mut buf)?;
//! assert_eq!(&buf, b"ping");
//! # #[cfg(unix)] // the socket file outlives the listener
//! # std::fs::remove_file(local::service_path(&service)?)?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Where a service lives
//!
//! | platform | address of service `NAME` | who shares the name |
//! |---|---|---|
//! | Windows | `\\.\pipe\NAME` | every user of the machine (the pipe itself lets in only this user, LocalSystem and administrators) |
//! | Unix, `XDG_RUNTIME_DIR` names a directory of this user's with mode `0700` | `$XDG_RUNTIME_DIR/NAME.sock` | the user (the directory is theirs alone) |
//! | Unix otherwise | `TEMP/NAME-UID.sock`, TEMP from `std::env::temp_dir()` (`$TMPDIR` or `/tmp`), UID the user id | the user, but any user can create the file first |
//!
//! A server and its clients find each other only if they see the same
//! `XDG_RUNTIME_DIR` and `TMPDIR`. Where other users share the namespace (Windows, a
//! shared `/tmp`), a name can be taken by someone else first: a client that must know
//! who it talks to has to check the server.
//!
//! # What still differs
//!
//! - On Unix the socket file stays after the listener is dropped (as with std); [`bind`]
//!   replaces it the next time if no socket is bound to it. On Windows the name is free
//!   again once the listener and every accepted stream are dropped.
//! - Service names ignore case on both (Windows pipe names do): they are turned to
//!   lower case.
//! - [`connect`] when nobody listens: on Unix it fails at once with `NotFound` (no
//!   socket file) or `ConnectionRefused` (a file nobody listens on); on Windows it
//!   waits up to `winpipe::DEFAULT_CONNECT_TIMEOUT` (10 s) for a listener, then gives
//!   `ConnectionRefused`.
//! - `shutdown(Write)` is a half-close on both: the peer reads the rest, then `Ok(0)`,
//!   and this end can still read. On Windows it is a zero-length message, so a peer
//!   that reads winpipe's pipe in byte mode (not through `local`) may miss it; see the
//!   user guide (`docs/guide.md`), "Half-close".
//! - A read or write past its timeout: `TimedOut` on Windows, `WouldBlock` on Unix
//!   (std passes on the socket's `EAGAIN`). Match both, as std's own docs advise.
//! - `set_nonblocking(true)` on a listener wakes an `accept` already blocked in another
//!   thread on Windows (it returns `WouldBlock`); on Unix the blocked accept goes on
//!   waiting.
//! - A read returns at most what one write of the peer sent on Windows (winpipe's
//!   pipes keep each write as a message), and `peek` shows that write's bytes only; on
//!   Unix a read or peek may gather several writes. Both are stream semantics: read in
//!   a loop (`read_exact`, a `BufReader`) and it makes no difference.
//! - A zero-length write ends the stream on Windows when the peer is a program that
//!   sends one (`File::write(&[])` does; winpipe's own `write(&[])` sends nothing); on
//!   Unix it is nothing.
//! - Messages: `winpipe::WinMessageStream` has no counterpart here (std has no
//!   `SOCK_SEQPACKET` socket).
//! - Code that calls a method only one platform's type has (such as winpipe's
//!   `connect_with_timeout` or `ListenerOptions`) needs `cfg` again.
//! - Who is at the other end: on Windows `Stream::peer_user` and
//!   `ConnectOptions::expect_server_user` answer it (`docs/security.md`). On Unix std
//!   has no stable way to read a socket peer's credentials (`UnixStream::peer_cred` is
//!   unstable) and winpipe adds no `unsafe` outside its Windows file, so `local` offers
//!   none; there the socket's mode `0600` already keeps other users out (connecting
//!   needs write permission on it).

use std::io::{self, ErrorKind};
use std::path::PathBuf;

/// A listener for local clients: a Unix socket listener on Unix, winpipe's
/// [`WinListener`](crate::WinListener) on Windows.
///
/// ```
/// use winpipe::local::{self, Listener};
/// let service = format!("winpipe-doc-{}-listener", std::process::id());
/// let listener: Listener = local::bind(&service)?;
/// let _client = local::connect(&service)?;
/// let (_server, addr) = listener.accept()?;
/// assert!(addr.is_unnamed()); // a client's address has no name
/// # #[cfg(unix)]
/// # std::fs::remove_file(local::service_path(&service)?)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(windows)]
pub type Listener = crate::WinListener;
/// A listener for local clients: std's
/// [`UnixListener`](std::os::unix::net::UnixListener) on Unix, winpipe's `WinListener`
/// on Windows.
///
/// ```
/// use winpipe::local::{self, Listener};
/// let service = format!("winpipe-doc-{}-listener", std::process::id());
/// let listener: Listener = local::bind(&service)?;
/// let _client = local::connect(&service)?;
/// let (_server, addr) = listener.accept()?;
/// assert!(addr.is_unnamed()); // a client's address has no name
/// # #[cfg(unix)]
/// # std::fs::remove_file(local::service_path(&service)?)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(unix)]
pub type Listener = std::os::unix::net::UnixListener;

/// A connection between local processes: a Unix stream socket on Unix, winpipe's
/// [`WinStream`](crate::WinStream) on Windows.
///
/// ```
/// use std::io::{Read, Write};
/// use winpipe::local::Stream;
/// fn greet(stream: &mut Stream) -> std::io::Result<()> {
///     stream.write_all(b"hello")
/// }
/// let (mut a, mut b) = Stream::pair()?;
/// greet(&mut a)?;
/// let mut buf = [0; 5];
/// b.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"hello");
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(windows)]
pub type Stream = crate::WinStream;
/// A connection between local processes: std's
/// [`UnixStream`](std::os::unix::net::UnixStream) on Unix, winpipe's `WinStream` on
/// Windows.
///
/// ```
/// use std::io::{Read, Write};
/// use winpipe::local::Stream;
/// fn greet(stream: &mut Stream) -> std::io::Result<()> {
///     stream.write_all(b"hello")
/// }
/// let (mut a, mut b) = Stream::pair()?;
/// greet(&mut a)?;
/// let mut buf = [0; 5];
/// b.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"hello");
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(unix)]
pub type Stream = std::os::unix::net::UnixStream;

/// The address of a [`Listener`] or [`Stream`]: a Unix socket address on Unix,
/// winpipe's [`WinPipeSocketAddr`](crate::WinPipeSocketAddr) on Windows.
///
/// ```
/// use winpipe::local::{self, SocketAddr};
/// let service = format!("winpipe-doc-{}-socketaddr", std::process::id());
/// let listener = local::bind(&service)?;
/// let addr: SocketAddr = listener.local_addr()?;
/// let path = local::service_path(&service)?;
/// assert_eq!(addr.as_pathname(), Some(path.as_path()));
/// # #[cfg(unix)]
/// # std::fs::remove_file(path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(windows)]
pub type SocketAddr = crate::WinPipeSocketAddr;
/// The address of a [`Listener`] or [`Stream`]: std's
/// [`SocketAddr`](std::os::unix::net::SocketAddr) on Unix, winpipe's
/// `WinPipeSocketAddr` on Windows.
///
/// ```
/// use winpipe::local::{self, SocketAddr};
/// let service = format!("winpipe-doc-{}-socketaddr", std::process::id());
/// let listener = local::bind(&service)?;
/// let addr: SocketAddr = listener.local_addr()?;
/// let path = local::service_path(&service)?;
/// assert_eq!(addr.as_pathname(), Some(path.as_path()));
/// # #[cfg(unix)]
/// # std::fs::remove_file(path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(unix)]
pub type SocketAddr = std::os::unix::net::SocketAddr;

/// The longest service name, in bytes: short enough that the socket path fits a Unix
/// socket address (107 bytes on Linux, 103 on macOS and the BSDs) in the usual runtime
/// and temporary directories.
const MAX_NAME_LEN: usize = 64;

/// The address of the service `name` on this platform: `\\.\pipe\NAME` on Windows;
/// on Unix `$XDG_RUNTIME_DIR/NAME.sock` if `XDG_RUNTIME_DIR` is an absolute path to a
/// directory that belongs to this user and that only this user may enter (mode
/// `0700`), else `NAME-UID.sock` in `std::env::temp_dir()`, UID being the user id (see
/// the [module documentation](self) for who shares which name).
///
/// A service name is 1 to 64 ASCII characters with no `/`, `\` or NUL, and does not end
/// with `.` or a space (Windows drops those from a name). The same names are valid on
/// every platform, and they ignore case on every platform: Windows looks pipe names up
/// without regard to case, so the name is turned to lower case everywhere (`"MyApp"`
/// is the service `myapp`, and its Unix socket `myapp.sock`). Nothing is created or
/// checked on disk, except the runtime directory's owner and mode.
///
/// # Errors
/// `InvalidInput`, with a message naming the problem, for an invalid name, or on Unix
/// if the path would be too long for a socket address (a long `$TMPDIR` or
/// `$XDG_RUNTIME_DIR`).
///
/// ```
/// let path = winpipe::local::service_path("my-service")?;
/// assert!(path.to_string_lossy().contains("my-service"));
/// let err = winpipe::local::service_path("a/b").unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn service_path(name: &str) -> io::Result<PathBuf> {
    check_name(name).map_err(|problem| io::Error::new(ErrorKind::InvalidInput, problem))?;
    platform::service_path(&name.to_ascii_lowercase())
}

/// Binds a [`Listener`] to the service `name` (see [`service_path`]).
///
/// On Windows this is `WinListener::bind`. On Unix, if the socket file exists but no
/// socket is bound to it (left by a listener that is gone), `bind` replaces it; a file
/// that is not a socket is never removed. As on Windows, the name is in use
/// (`AddrInUse`, at once) while any server holds it: listening, starting up (bound,
/// not yet listening), or with a full accept queue. The check connects a datagram
/// socket, which a stream server never sees. A stale file is replaced under an
/// exclusive lock on `NAME.sock.lock` beside it (an empty file that stays), so of
/// several processes binding the same name at once exactly one gets it. The socket is
/// made readable and writable by its owner only (`0600`) right after it is bound
/// (until then its mode follows the umask).
///
/// # Errors
/// As [`service_path`]; `AddrInUse` if a server holds the name, or on Unix if a file
/// that is not a socket is in the way; the error of removing a stale socket file (such
/// as `PermissionDenied` for another user's file); other errors of the platform's
/// `bind`.
///
/// ```
/// use std::io::ErrorKind;
/// use winpipe::local;
/// let service = format!("winpipe-doc-{}-bind", std::process::id());
/// let _listener = local::bind(&service)?;
/// let err = local::bind(&service).unwrap_err(); // `_listener` holds the name
/// assert_eq!(err.kind(), ErrorKind::AddrInUse);
/// # #[cfg(unix)]
/// # std::fs::remove_file(local::service_path(&service)?)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn bind(name: &str) -> io::Result<Listener> {
    platform::bind(service_path(name)?)
}

/// Connects a [`Stream`] to the service `name` (see [`service_path`]).
///
/// # Errors
/// As [`service_path`]; when nobody listens, `NotFound` or `ConnectionRefused` at once
/// on Unix, `ConnectionRefused` after 10 s on Windows; other errors of the platform's
/// `connect`.
///
/// ```
/// use winpipe::local;
/// let service = format!("winpipe-doc-{}-connect", std::process::id());
/// let _listener = local::bind(&service)?;
/// let client = local::connect(&service)?;
/// let path = local::service_path(&service)?;
/// assert_eq!(client.peer_addr()?.as_pathname(), Some(path.as_path()));
/// # #[cfg(unix)]
/// # std::fs::remove_file(path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn connect(name: &str) -> io::Result<Stream> {
    Stream::connect(service_path(name)?)
}

/// Checks a service name; the error says what is wrong with it.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("service name is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return Err("service name is longer than 64 bytes");
    }
    if name.contains('\0') {
        return Err("service name contains a NUL character");
    }
    if name.contains(['/', '\\']) {
        return Err(r"service name contains a path separator (/ or \)");
    }
    if !name.is_ascii() {
        return Err("service name contains non-ASCII characters, which Windows pipe names in winpipe cannot carry");
    }
    if name.ends_with(['.', ' ']) {
        return Err("service name ends with a period or a space, which Windows drops");
    }
    Ok(())
}

#[cfg(windows)]
mod platform {
    use super::Listener;
    use std::io;
    use std::path::PathBuf;

    pub(super) fn service_path(name: &str) -> io::Result<PathBuf> {
        Ok(PathBuf::from(format!(r"\\.\pipe\{name}")))
    }

    pub(super) fn bind(path: PathBuf) -> io::Result<Listener> {
        Listener::bind(path)
    }
}

#[cfg(unix)]
mod platform {
    use super::Listener;
    use std::ffi::OsString;
    use std::fs::{self, File, TryLockError};
    use std::io::{self, ErrorKind};
    use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
    use std::os::unix::io::OwnedFd;
    use std::os::unix::net::UnixDatagram;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    /// The longest path a socket address holds: `sun_path` less its terminating NUL.
    pub(super) const MAX_SOCKET_PATH: usize =
        if cfg!(any(target_os = "linux", target_os = "android")) {
            107
        } else {
            103
        };

    pub(super) fn service_path(name: &str) -> io::Result<PathBuf> {
        socket_path(name, std::env::var_os("XDG_RUNTIME_DIR"), user_id()?)
    }

    /// The socket path of a valid service name, given the value of `XDG_RUNTIME_DIR`
    /// and the user id.
    pub(super) fn socket_path(
        name: &str,
        runtime_dir: Option<OsString>,
        uid: u32,
    ) -> io::Result<PathBuf> {
        let runtime_dir = runtime_dir
            .map(PathBuf::from)
            .filter(|dir| is_private_dir(dir, uid));
        let path = match runtime_dir {
            Some(dir) => dir.join(format!("{name}.sock")),
            None => std::env::temp_dir().join(format!("{name}-{uid}.sock")),
        };
        if path.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "socket path {} is longer than the {MAX_SOCKET_PATH} bytes a Unix socket \
                     address holds: use a shorter service name or directory",
                    path.display()
                ),
            ));
        }
        Ok(path)
    }

    /// Whether `dir` is a runtime directory as the XDG spec describes it: an absolute
    /// path to a directory owned by the user `uid` that only that user may enter
    /// (mode `0700`). After `su` without `-`, `XDG_RUNTIME_DIR` still names the other
    /// user's directory; a directory anyone may enter would expose the sockets.
    pub(super) fn is_private_dir(dir: &Path, uid: u32) -> bool {
        dir.is_absolute()
            && fs::metadata(dir)
                .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o077 == 0)
    }

    /// The effective user id, without libc or `unsafe`: a new socket belongs to the
    /// user who creates it, and `fstat` reports that owner.
    pub(super) fn user_id() -> io::Result<u32> {
        let socket = File::from(OwnedFd::from(UnixDatagram::unbound()?));
        Ok(socket.metadata()?.uid())
    }

    /// Binds `path`; over a stale socket file (left by a listener that is gone), the
    /// file is replaced, but only under the name's lock and only if it is still stale
    /// once the lock is held, so that of several processes doing this at once exactly
    /// one gets the name. The socket is then made `0600`.
    pub(super) fn bind(path: PathBuf) -> io::Result<Listener> {
        let listener = match Listener::bind(&path) {
            Err(err) if err.kind() == ErrorKind::AddrInUse => replace_stale(&path, err)?,
            result => result?,
        };
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        Ok(listener)
    }

    fn replace_stale(path: &Path, in_use: io::Error) -> io::Result<Listener> {
        if !is_stale_socket(path) {
            return Err(in_use);
        }
        let _lock = NameLock::take(path)?;
        if !is_stale_socket(path) {
            return Err(in_use);
        }
        fs::remove_file(path).map_err(|e| {
            let message = format!("cannot remove stale socket {}: {e}", path.display());
            io::Error::new(e.kind(), message)
        })?;
        Listener::bind(path)
    }

    /// Whether `path` is a socket file no socket is bound to. The check connects a
    /// datagram socket, which never waits and never reaches a stream server's accept
    /// queue: the system refuses it (ECONNREFUSED) only if no socket is bound there,
    /// and a bound stream socket, listening or not, full queue or not, gives another
    /// error (EPROTOTYPE: Linux `unix_find_bsd`, FreeBSD and macOS `unp_connect`).
    fn is_stale_socket(path: &Path) -> bool {
        let is_socket = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
        is_socket
            && matches!(
                UnixDatagram::unbound().and_then(|probe| probe.connect(path)),
                Err(e) if e.kind() == ErrorKind::ConnectionRefused
            )
    }

    /// An exclusive lock on `NAME.sock.lock` beside the socket, held while a stale
    /// socket is replaced. The system drops it if the process dies; the empty file
    /// stays (removing it would let two processes lock two different files).
    struct NameLock {
        _held: File,
    }

    impl NameLock {
        /// How long to wait for another process that is replacing the same socket.
        const PATIENCE: Duration = Duration::from_secs(2);

        fn take(socket: &Path) -> io::Result<NameLock> {
            let mut name = socket.as_os_str().to_owned();
            name.push(".lock");
            let file = fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(PathBuf::from(name))?;
            let start = Instant::now();
            loop {
                match file.try_lock() {
                    Ok(()) => return Ok(NameLock { _held: file }),
                    Err(TryLockError::WouldBlock) if start.elapsed() < Self::PATIENCE => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(TryLockError::WouldBlock) => {
                        return Err(io::Error::new(
                            ErrorKind::AddrInUse,
                            format!("{} is being bound by another process", socket.display()),
                        ))
                    }
                    Err(TryLockError::Error(e)) => return Err(e),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(name: &str) -> &'static str {
        check_name(name).unwrap_err()
    }

    #[test]
    fn valid_names() {
        for name in ["a", "my-service_1.0", "with space", "..x", &"x".repeat(64)] {
            assert_eq!(check_name(name), Ok(()), "{name:?}");
        }
    }

    #[test]
    fn each_invalid_name_names_its_problem() {
        assert!(problem("").contains("empty"));
        assert!(problem(&"x".repeat(65)).contains("64 bytes"));
        assert!(problem("a\0b").contains("NUL"));
        assert!(problem("a/b").contains("separator"));
        assert!(problem(r"a\b").contains("separator"));
        assert!(problem("/").contains("separator"));
        assert!(problem("é").contains("non-ASCII"));
        assert!(problem(".").contains("period"));
        assert!(problem("..").contains("period"));
        assert!(problem("name.").contains("period"));
        assert!(problem("name ").contains("space"));
    }

    #[test]
    fn service_path_rejects_invalid_names_with_invalid_input() {
        for name in ["", "a/b", r"a\b", "a\0b", &"x".repeat(65), "é", "a."] {
            let err = service_path(name).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name:?}");
            assert!(err.to_string().starts_with("service name"), "{err}");
            assert_eq!(bind(name).unwrap_err().kind(), ErrorKind::InvalidInput);
            assert_eq!(connect(name).unwrap_err().kind(), ErrorKind::InvalidInput);
        }
    }

    #[cfg(windows)]
    #[test]
    fn windows_service_path_is_a_local_pipe_name() {
        use crate::WinPipeSocketAddr;
        let path = service_path("my-service").unwrap();
        assert_eq!(path.to_str(), Some(r"\\.\pipe\my-service"));
        // Every valid service name makes a valid pipe name.
        for name in ["a", "with space", &"x".repeat(64)] {
            let path = service_path(name).unwrap();
            let addr = WinPipeSocketAddr::from_pathname(&path).unwrap();
            assert_eq!(addr.as_pathname(), Some(path.as_path()));
        }
    }

    #[cfg(unix)]
    mod unix {
        use super::super::platform::{socket_path, user_id, MAX_SOCKET_PATH};
        use super::*;
        use std::ffi::OsString;
        use std::os::unix::fs::{MetadataExt, PermissionsExt};

        fn temp_path(name: &str) -> PathBuf {
            std::env::temp_dir().join(format!("{name}-{}.sock", user_id().unwrap()))
        }

        /// A new directory of ours with `mode`, removed on drop.
        struct Dir(PathBuf);

        impl Dir {
            fn new(test: &str, mode: u32) -> Dir {
                let dir =
                    std::env::temp_dir().join(format!("winpipe-{test}-{}", std::process::id()));
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
                Dir(dir)
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }

        fn path(name: &str, runtime_dir: Option<OsString>) -> io::Result<PathBuf> {
            socket_path(name, runtime_dir, user_id().unwrap())
        }

        #[test]
        fn runtime_dir_is_used_when_it_is_a_private_directory_of_ours() {
            let dir = Dir::new("rt-private", 0o700);
            let got = path("svc", Some(dir.0.clone().into())).unwrap();
            assert_eq!(got, dir.0.join("svc.sock"));
        }

        /// After `su` without `-` the variable names another user's directory; and a
        /// directory others may enter would expose the sockets.
        #[test]
        fn runtime_dir_of_another_user_or_open_to_others_is_not_used() {
            let open = Dir::new("rt-open", 0o755);
            let got = path("svc", Some(open.0.clone().into())).unwrap();
            assert_eq!(got, temp_path("svc"));
            let private = Dir::new("rt-theirs", 0o700);
            let someone_else = user_id().unwrap() + 1;
            let got = socket_path("svc", Some(private.0.clone().into()), someone_else).unwrap();
            assert_eq!(
                got,
                std::env::temp_dir().join(format!("svc-{someone_else}.sock"))
            );
        }

        #[test]
        fn temp_dir_with_user_id_otherwise() {
            let file = std::env::temp_dir().join(format!("winpipe-local-{}", std::process::id()));
            std::fs::write(&file, b"").unwrap();
            let unusable: [Option<OsString>; 5] = [
                None,
                Some("".into()),
                Some("relative/dir".into()),
                Some("/nonexistent/winpipe-local".into()),
                Some(file.clone().into()), // a file, not a directory
            ];
            for runtime_dir in unusable {
                let got = path("svc", runtime_dir.clone()).unwrap();
                assert_eq!(got, temp_path("svc"), "{runtime_dir:?}");
            }
            std::fs::remove_file(file).unwrap();
        }

        #[test]
        fn user_id_is_the_owner_of_new_files() {
            let file = std::env::temp_dir().join(format!("winpipe-uid-{}", std::process::id()));
            std::fs::write(&file, b"").unwrap();
            let owner = std::fs::metadata(&file).unwrap().uid();
            std::fs::remove_file(&file).unwrap();
            assert_eq!(user_id().unwrap(), owner);
        }

        #[test]
        fn service_path_follows_the_environment() {
            let got = service_path("svc").unwrap();
            assert_eq!(
                got,
                path("svc", std::env::var_os("XDG_RUNTIME_DIR")).unwrap()
            );
            assert!(got.is_absolute(), "{got:?}");
        }

        #[test]
        fn too_long_a_socket_path_is_invalid_input() {
            // A real directory whose path is long enough that a 64-byte name overflows.
            let parent = Dir::new("long", 0o700);
            let dir = parent.0.join("d".repeat(60));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
            let short = path("a", Some(dir.clone().into()));
            let long = path(&"x".repeat(64), Some(dir.clone().into()));
            assert_eq!(short.unwrap(), dir.join("a.sock"));
            let err = long.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(
                err.to_string()
                    .contains("bytes a Unix socket address holds"),
                "{err}"
            );
        }

        #[test]
        fn the_path_limit_is_the_one_std_enforces() {
            let dir = std::env::temp_dir().join(format!("winpipe-max-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path_of_len = |len: usize| {
                let base = dir.as_os_str().len() + 1;
                dir.join("s".repeat(len - base))
            };
            let longest = path_of_len(MAX_SOCKET_PATH);
            let too_long = path_of_len(MAX_SOCKET_PATH + 1);
            let fits = Listener::bind(&longest).map(drop);
            let overflows = Listener::bind(&too_long).map(drop);
            std::fs::remove_dir_all(&dir).unwrap();
            fits.unwrap();
            assert_eq!(overflows.unwrap_err().kind(), ErrorKind::InvalidInput);
        }
    }
}
