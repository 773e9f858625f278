//! Pipe addresses: `\\.\pipe\NAME`, validated once.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::io::{self, ErrorKind};
use std::path::Path;
use std::sync::Arc;

/// The prefix every local pipe name starts with (the `pipe` part in any case).
const PREFIX: &str = r"\\.\pipe\";
/// Microsoft's limit for a whole pipe name, prefix included.
const MAX_LEN: usize = 256;

/// The address of a named pipe: `\\.\pipe\NAME`, or unnamed.
///
/// As with std's `std::os::unix::net::SocketAddr`, the side that connects has an
/// unnamed local address, the listening side a named one, and `WinStream::pair`
/// gives two unnamed ends.
///
/// A valid name is `\\.\pipe\` (the word `pipe` in any case) followed by at least one
/// character, at most 256 characters in all, ASCII only (winpipe uses the ANSI Win32
/// functions), with no NUL, no backslash after the prefix (as Microsoft documents) and
/// no forward slash either, and not ending with a dot or a space. The one backslash
/// allowed is in `\\.\pipe\LOCAL\NAME` (`LOCAL` in any case), the form Microsoft
/// requires for pipes used inside an app container. Windows rewrites such
/// names before it looks for the pipe (`/` is a path separator to it, `..` climbs out of
/// `\\.\pipe\`, trailing dots and spaces are dropped), so they would not name the pipe
/// they seem to: `\\.\pipe\../C:/x` opens the file `C:\x`.
/// Remote names (`\\server\pipe\NAME`) are not accepted: winpipe is for local IPC.
///
/// Equality and hashing follow Windows, which looks pipe names up without regard to
/// case: `\\.\PIPE\Svc` and `\\.\pipe\svc` are equal addresses (one pipe), while
/// `as_pathname` keeps the spelling given.
///
/// ```
/// use std::path::Path;
/// use winpipe::WinPipeSocketAddr;
/// let a = WinPipeSocketAddr::from_pathname(r"\\.\PIPE\Svc")?;
/// let b = WinPipeSocketAddr::from_pathname(r"\\.\pipe\svc")?;
/// assert_eq!(a, b); // one pipe: Windows ignores case
/// assert_eq!(a.as_pathname(), Some(Path::new(r"\\.\PIPE\Svc"))); // as spelled
/// assert!(WinPipeSocketAddr::from_pathname(r"\\.\pipe\a/b").is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct WinPipeSocketAddr {
    name: Option<Arc<str>>,
}

impl PartialEq for WinPipeSocketAddr {
    fn eq(&self, other: &Self) -> bool {
        match (&self.name, &other.name) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for WinPipeSocketAddr {}

impl Hash for WinPipeSocketAddr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.name {
            Some(name) => {
                state.write_u8(1);
                for b in name.bytes() {
                    state.write_u8(b.to_ascii_lowercase());
                }
            }
            None => state.write_u8(0),
        }
    }
}

/// winpipe 0.1's other name for [`WinPipeSocketAddr`], kept as an alias.
///
/// ```
/// use winpipe::{WinPipeSocketAddr, WinPipeSocketAddress};
/// let addr: WinPipeSocketAddress = WinPipeSocketAddr::from_pathname(r"\\.\pipe\legacy")?;
/// assert!(!addr.is_unnamed());
/// # Ok::<(), std::io::Error>(())
/// ```
pub type WinPipeSocketAddress = WinPipeSocketAddr;

impl WinPipeSocketAddr {
    /// Makes an address from a pipe name such as `\\.\pipe\my-service`.
    ///
    /// # Errors
    /// `InvalidInput`, with a message naming the problem, if the name is not valid (see
    /// the type's documentation).
    ///
    /// ```
    /// use winpipe::WinPipeSocketAddr;
    /// let addr = WinPipeSocketAddr::from_pathname(r"\\.\pipe\demo").unwrap();
    /// assert_eq!(addr.as_pathname().unwrap().to_str(), Some(r"\\.\pipe\demo"));
    /// let err = WinPipeSocketAddr::from_pathname("demo").unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn from_pathname<P: AsRef<Path>>(path: P) -> io::Result<Self> {
        let name = path.as_ref().to_str().ok_or_else(|| {
            io::Error::new(ErrorKind::InvalidInput, "pipe name is not valid Unicode")
        })?;
        check_name(name).map_err(|problem| io::Error::new(ErrorKind::InvalidInput, problem))?;
        Ok(WinPipeSocketAddr {
            name: Some(name.into()),
        })
    }

    /// The pipe name, or `None` if the address is unnamed.
    ///
    /// ```
    /// use std::path::Path;
    /// let addr = winpipe::WinPipeSocketAddr::from_pathname(r"\\.\pipe\demo")?;
    /// assert_eq!(addr.as_pathname(), Some(Path::new(r"\\.\pipe\demo")));
    /// # #[cfg(windows)]
    /// # {
    /// // On Windows: the ends of a pair have no name.
    /// let (client, _server) = winpipe::WinStream::pair()?;
    /// assert_eq!(client.local_addr()?.as_pathname(), None);
    /// # }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn as_pathname(&self) -> Option<&Path> {
        self.name.as_deref().map(Path::new)
    }

    /// Whether the address has no name: the local address of a client, or either end
    /// of `WinStream::pair`.
    ///
    /// ```
    /// let addr = winpipe::WinPipeSocketAddr::from_pathname(r"\\.\pipe\demo")?;
    /// assert!(!addr.is_unnamed());
    /// # #[cfg(windows)]
    /// # {
    /// // On Windows: the connecting side's own address.
    /// let name = format!(r"\\.\pipe\doc-{}-is_unnamed", std::process::id());
    /// let _listener = winpipe::WinListener::bind(&name)?;
    /// let client = winpipe::WinStream::connect(&name)?;
    /// assert!(client.local_addr()?.is_unnamed());
    /// # }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn is_unnamed(&self) -> bool {
        self.name.is_none()
    }

    pub(crate) fn unnamed() -> Self {
        WinPipeSocketAddr { name: None }
    }

    /// The validated name, for the system calls.
    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl fmt::Debug for WinPipeSocketAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name:?} (pathname)"),
            None => f.write_str("(unnamed)"),
        }
    }
}

/// Checks a pipe name; the error says what is wrong with it.
pub(crate) fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("pipe name is empty");
    }
    if name.contains('\0') {
        return Err("pipe name contains a NUL character");
    }
    if !name.is_ascii() {
        return Err(
            "pipe name contains non-ASCII characters, which the ANSI Win32 calls cannot carry",
        );
    }
    if name.len() > MAX_LEN {
        return Err("pipe name is longer than 256 characters");
    }
    let has_prefix = name.len() >= PREFIX.len()
        && name[..4] == PREFIX[..4]
        && name[4..PREFIX.len()].eq_ignore_ascii_case(&PREFIX[4..]);
    if !has_prefix {
        if name.starts_with(r"\\") && !name.starts_with(r"\\.\") {
            return Err(
                r"remote pipe names (\\server\pipe\NAME) are not supported: use \\.\pipe\NAME",
            );
        }
        return Err(r"pipe name must start with \\.\pipe\");
    }
    let rest = without_local(&name[PREFIX.len()..]);
    if rest.is_empty() {
        return Err(r"pipe name has nothing after \\.\pipe\ (or \\.\pipe\LOCAL\)");
    }
    if rest.contains('\\') {
        return Err(
            r"pipe name contains a backslash after \\.\pipe\ (only \\.\pipe\LOCAL\NAME has one)",
        );
    }
    // Win32 normalizes `\\.\` paths before they reach the pipe file system: `/` becomes
    // `\`, `.` and `..` segments are resolved (`\\.\pipe\../C:/x` is the file C:\x)
    // and trailing dots and spaces are removed. Names it would rewrite are refused.
    if rest.contains('/') {
        return Err(
            r"pipe name contains a forward slash after \\.\pipe\, which Windows turns into a backslash",
        );
    }
    if rest.ends_with(['.', ' ']) {
        return Err("pipe name ends with a dot or a space, which Windows removes");
    }
    Ok(())
}

/// The name after `LOCAL\` if `rest` (what follows `\\.\pipe\`) is in the app
/// container form, else `rest`.
fn without_local(rest: &str) -> &str {
    const LOCAL: &str = "LOCAL\\";
    match rest.get(..LOCAL.len()) {
        Some(head) if head.eq_ignore_ascii_case(LOCAL) => &rest[LOCAL.len()..],
        _ => rest,
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
        for name in [
            r"\\.\pipe\a",
            r"\\.\PIPE\Service-1.0_x",
            r"\\.\Pipe\with space and .dot",
            r"\\.\pipe\LOCAL\app-pipe",
            r"\\.\pipe\local\x",
            r"\\.\pipe\LOCALx",
        ] {
            assert_eq!(check_name(name), Ok(()), "{name}");
        }
        let longest = format!(r"\\.\pipe\{}", "x".repeat(MAX_LEN - PREFIX.len()));
        assert_eq!(longest.len(), 256);
        assert_eq!(check_name(&longest), Ok(()));
    }

    #[test]
    fn each_invalid_name_names_its_problem() {
        assert!(problem("").contains("empty"));
        assert!(problem("pipe\\x").contains("must start"));
        assert!(problem(r"\\.\pip\x").contains("must start"));
        assert!(problem("\\\\.\\pipe\\a\0b").contains("NUL"));
        assert!(problem(r"\\.\pipe\é").contains("non-ASCII"));
        assert!(problem(r"\\.\pipe\").contains("nothing after"));
        assert!(problem(r"\\.\pipe\a\b").contains("backslash"));
        assert!(problem(r"\\.\pipe\LOCAL\a\b").contains("backslash"));
        assert!(problem(r"\\.\pipe\LOCAL\").contains("nothing after"));
        assert!(problem(r"\\.\pipe\LOCAL2\a").contains("backslash"));
        assert!(problem(r"\\.\pipe\\LOCAL\a").contains("backslash"));
        assert!(problem(r"\\server\pipe\x").contains("remote"));
        assert!(problem(r"\\.\pipe\a/b").contains("forward slash"));
        assert!(problem(r"\\.\pipe\../C:/windows/win.ini").contains("forward slash"));
        for trailing in [
            r"\\.\pipe\x.",
            r"\\.\pipe\x ",
            r"\\.\pipe\..",
            r"\\.\pipe\.",
        ] {
            assert!(problem(trailing).contains("dot or a space"), "{trailing:?}");
        }
        let long = format!(r"\\.\pipe\{}", "x".repeat(MAX_LEN));
        assert!(problem(&long).contains("256"));
    }

    #[test]
    fn from_pathname_gives_invalid_input() {
        let err = WinPipeSocketAddr::from_pathname("nope").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains(r"\\.\pipe\"));
    }

    #[test]
    fn unnamed_and_named_addresses() {
        let named = WinPipeSocketAddr::from_pathname(r"\\.\pipe\x").unwrap();
        assert!(!named.is_unnamed());
        assert_eq!(named.as_pathname(), Some(Path::new(r"\\.\pipe\x")));
        assert_eq!(named.clone(), named);
        assert_eq!(format!("{named:?}"), r#""\\\\.\\pipe\\x" (pathname)"#);
        let unnamed = WinPipeSocketAddr::unnamed();
        assert!(unnamed.is_unnamed());
        assert_eq!(unnamed.as_pathname(), None);
        assert_ne!(named, unnamed);
        assert_eq!(format!("{unnamed:?}"), "(unnamed)");
    }

    /// Windows finds `\\.\PIPE\Svc` and `\\.\pipe\svc` to be one pipe (NPFS looks
    /// names up without regard to case): so do equality and hashing.
    #[test]
    fn addresses_compare_and_hash_without_regard_to_case() {
        use std::collections::hash_map::DefaultHasher;
        let hash = |a: &WinPipeSocketAddr| {
            let mut h = DefaultHasher::new();
            a.hash(&mut h);
            h.finish()
        };
        let upper = WinPipeSocketAddr::from_pathname(r"\\.\PIPE\Svc").unwrap();
        let lower = WinPipeSocketAddr::from_pathname(r"\\.\pipe\svc").unwrap();
        assert_eq!(upper, lower);
        assert_eq!(hash(&upper), hash(&lower));
        assert_eq!(upper.as_pathname(), Some(Path::new(r"\\.\PIPE\Svc")));
        let other = WinPipeSocketAddr::from_pathname(r"\\.\pipe\svc2").unwrap();
        assert_ne!(upper, other);
        let unnamed = WinPipeSocketAddr::unnamed();
        assert_ne!(hash(&unnamed), hash(&lower));
    }
}
