//! The `pipe_name` target: `WinPipeSocketAddr::from_pathname` (and through it the
//! crate's `check_name`, private to `net`) never panics and accepts exactly the names
//! an independent reading of the rules accepts.

use crate::WinPipeSocketAddr;
use std::io::ErrorKind;
use std::path::Path;

/// The documented rules, written again from the type's documentation: `\\.\pipe\`
/// (`pipe` in any case), optionally `LOCAL\` (any case) for app containers, then at
/// least one character, 256 characters at most in all, ASCII only, no NUL, no
/// backslash or forward slash after that, and no dot or space at the end.
pub(crate) fn reference(name: &str) -> bool {
    let b = name.as_bytes();
    if !(b.len() > 9
        && b.len() <= 256
        && b.iter().all(|&c| c != 0 && c.is_ascii())
        && &b[..4] == br"\\.\"
        && b[4..8].eq_ignore_ascii_case(b"pipe")
        && b[8] == b'\\')
    {
        return false;
    }
    let mut rest = &b[9..];
    if rest.len() >= 6 && rest[..6].eq_ignore_ascii_case(br"local\") {
        rest = &rest[6..];
    }
    !rest.is_empty()
        && !rest.contains(&b'\\')
        && !rest.contains(&b'/')
        && !matches!(rest.last(), Some(b'.' | b' '))
}

/// Prefixes near the valid one, so that inputs reach the interesting cases.
const PREFIXES: [&str; 9] = [
    r"\\.\pipe\",
    r"\\.\PiPe\",
    r"\\.\pipe\LoCaL\",
    r"\\server\pipe\",
    r"\\.\pip\",
    r"\\?\pipe\",
    r"\\.\pipe",
    "",
    r"\\.\pipe\\",
];

/// Builds names from `data` and checks each one.
pub(crate) fn run(data: &[u8]) {
    if let Ok(raw) = std::str::from_utf8(data) {
        check(raw);
    }
    let (first, rest) = match data.split_first() {
        Some((&first, rest)) => (first, rest),
        None => return,
    };
    let mut name = String::from(PREFIXES[usize::from(first) % PREFIXES.len()]);
    name.push_str(&String::from_utf8_lossy(rest));
    if first & 0x80 != 0 {
        // Pad towards the length limit.
        let pad = usize::from(first & 0x7f) + 180;
        name.push_str(&"x".repeat(pad.saturating_sub(name.len())));
    }
    check(&name);
}

fn check(name: &str) {
    let valid = reference(name);
    match WinPipeSocketAddr::from_pathname(name) {
        Ok(addr) => {
            assert!(valid, "invariant: from_pathname accepted {name:?}");
            assert_eq!(addr.as_pathname(), Some(Path::new(name)));
            assert!(!addr.is_unnamed());
        }
        Err(err) => {
            assert!(!valid, "invariant: from_pathname refused {name:?}: {err}");
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
    }
}
