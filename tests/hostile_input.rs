//! Hostile input: every one gives a clear error or documented behaviour, never a panic
//! or a hang (each test runs under a time limit).
//!
//! Already covered elsewhere, not repeated here: empty, prefix-only, unprefixed, NUL,
//! 257-character, non-ASCII and remote names (`listener_connect.rs`,
//! `invalid_names_are_invalid_input_naming_the_problem`; the rules themselves in the
//! unit tests of `src/net/addr.rs` and the `pipe_name` fuzz target); zero-length read,
//! write and vectored write, sub-millisecond and `Duration::MAX` read timeouts, zero
//! timeouts (`stream_io.rs`); the DWORD clamp of lengths (unit tests in `src/engine`).
#![cfg(windows)]

mod common;

use common::{pipe_name, within, LIMIT};
use std::io::{self, ErrorKind};
use std::time::{Duration, Instant};
use winpipe::{WinListener, WinPipeSocketAddr, WinStream};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Asserts an `InvalidInput` error whose message contains `word`, returned quickly.
fn assert_invalid<T: std::fmt::Debug>(
    what: &str,
    started: Instant,
    result: io::Result<T>,
    word: &str,
) {
    let err = result.expect_err(what);
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{what}: {err:?}");
    assert!(err.to_string().contains(word), "{what}: {err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{what} took {:?}",
        started.elapsed()
    );
}

/// Every way a name can be refused: bind, connect (which would otherwise retry for
/// 10 s) and the address itself.
fn assert_name_refused(name: &str, word: &str) {
    let started = Instant::now();
    assert_invalid(
        &format!("bind {name:?}"),
        started,
        WinListener::bind(name),
        word,
    );
    assert_invalid(
        &format!("connect {name:?}"),
        started,
        WinStream::connect(name),
        word,
    );
    assert_invalid(
        &format!("from_pathname {name:?}"),
        started,
        WinPipeSocketAddr::from_pathname(name),
        word,
    );
}

/// Windows normalizes `\\.\` paths: `/` becomes `\`, `..` climbs out of `\\.\pipe\`
/// (under Wine `\\.\pipe\../C:/windows/win.ini` opened that file as a "pipe" before
/// these names were refused), and trailing dots and spaces disappear (`x.` was the
/// pipe `x`). Such names are refused rather than silently meaning another object.
#[test]
fn names_windows_would_rewrite_are_refused() {
    within(LIMIT, || {
        let base = pipe_name("rewrite");
        for name in [
            format!("{base}/a/b"),
            format!("{base}-x/../victim"),
            r"\\.\pipe\../C:/windows/win.ini".to_string(),
            r"\\.\pipe\/".to_string(),
        ] {
            assert_name_refused(&name, "forward slash");
        }
        for name in [
            format!("{base}."),
            format!("{base} "),
            format!("{base}. . "),
            r"\\.\pipe\..".to_string(),
        ] {
            assert_name_refused(&name, "dot or a space");
        }
        // A forward-slash prefix is not the pipe prefix either.
        assert_name_refused("//./pipe/x", r"must start with \\.\pipe\");
        // Dots and spaces inside the name are ordinary characters.
        let inner = format!("{base} with .dots. and spaces");
        let listener = WinListener::bind(&inner).unwrap();
        let _client = WinStream::connect_with_timeout(&inner, Duration::from_secs(5)).unwrap();
        listener.accept().unwrap();
        assert_eq!(
            listener
                .local_addr()
                .unwrap()
                .as_pathname()
                .unwrap()
                .to_str(),
            Some(inner.as_str())
        );
    });
}

/// A name that is not valid Unicode (an unpaired surrogate, possible in an `OsString`
/// on Windows), and a name far over the limit.
#[test]
fn names_that_are_not_unicode_or_huge_are_refused() {
    use std::os::windows::ffi::OsStringExt;
    within(LIMIT, || {
        let mut wide: Vec<u16> = r"\\.\pipe\x".encode_utf16().collect();
        wide.push(0xD800);
        let name = std::ffi::OsString::from_wide(&wide);
        let started = Instant::now();
        assert_invalid("bind", started, WinListener::bind(&name), "Unicode");
        assert_invalid("connect", started, WinStream::connect(&name), "Unicode");
        let huge = format!(r"\\.\pipe\{}", "x".repeat(1 << 20));
        assert_name_refused(&huge, "256");
    });
}
