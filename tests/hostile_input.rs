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
use std::io::{self, ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::windows::io::{FromRawHandle, IntoRawHandle, OwnedHandle};
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

/// Asserts `result` is the error for a handle that is not a pipe.
fn assert_not_a_pipe<T: std::fmt::Debug>(what: &str, result: io::Result<T>) {
    let err = result.expect_err(what);
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{what}: {err:?}");
    assert!(
        err.to_string().contains("not a named pipe"),
        "{what}: {err}"
    );
}

/// Every I/O call on `stream` fails as documented; the rest works.
fn assert_refuses_io(stream: &WinStream) {
    let mut s = stream;
    let mut buf = [0u8; 16];
    assert_not_a_pipe("read", s.read(&mut buf));
    assert_not_a_pipe(
        "read_vectored",
        s.read_vectored(&mut [IoSliceMut::new(&mut buf)]),
    );
    assert_not_a_pipe("peek", stream.peek(&mut buf));
    assert_not_a_pipe("write", s.write(b"XY"));
    assert_not_a_pipe(
        "write_vectored",
        s.write_vectored(&[IoSlice::new(b"X"), IoSlice::new(b"Y")]),
    );
    let mut all = Vec::new();
    assert_not_a_pipe("read_to_end", s.read_to_end(&mut all));
    stream.set_read_timeout(Some(ms(10))).unwrap();
    stream.set_write_timeout(Some(Duration::MAX)).unwrap();
    stream.set_nonblocking(true).unwrap();
    assert_not_a_pipe("nonblocking read", s.read(&mut buf));
    stream.shutdown(Shutdown::Both).unwrap();
    assert!(stream.local_addr().unwrap().is_unnamed());
    assert!(stream.peer_addr().unwrap().is_unnamed());
    assert!(stream.take_error().unwrap().is_none());
    let _ = format!("{stream:?}");
}

/// A raw handle that is not a pipe, through `FromRawHandle` and `From<OwnedHandle>`:
/// I/O fails with `InvalidInput` instead of acting on the object. (Before, a file
/// handle read its first bytes again on every read, at offset 0, so `read_to_end`
/// never ended, and writes overwrote the file's start.)
#[test]
fn a_raw_handle_that_is_not_a_pipe_refuses_io() {
    within(LIMIT, || {
        let path = std::env::temp_dir().join(format!("winpipe-not-a-pipe-{}", std::process::id()));
        std::fs::write(&path, b"file contents").unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        // SAFETY: the handle is open and ours; the stream takes it over.
        let stream = unsafe { WinStream::from_raw_handle(file.into_raw_handle()) };
        assert_refuses_io(&stream);
        let clone = stream.try_clone().expect("try_clone of a file handle");
        assert_refuses_io(&clone);
        drop((stream, clone));
        assert_eq!(std::fs::read(&path).unwrap(), b"file contents");
        std::fs::remove_file(&path).unwrap();

        // A thread handle, through OwnedHandle.
        let thread = std::thread::spawn(|| ());
        // SAFETY: into_raw_handle gives up the JoinHandle's ownership of the handle.
        let owned = unsafe { OwnedHandle::from_raw_handle(thread.into_raw_handle()) };
        assert_refuses_io(&WinStream::from(owned));
    });
}

/// A pipe opened without FILE_FLAG_OVERLAPPED (std's pipe to a child's stdout) is a
/// pipe: reads work, blocking in the system as std's do (documented).
#[test]
fn a_synchronous_pipe_handle_reads_like_std() {
    within(LIMIT, || {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("--list")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // SAFETY: the handle is open and ours; the stream takes it over.
        let mut stream = unsafe { WinStream::from_raw_handle(stdout.into_raw_handle()) };
        let mut listing = String::new();
        stream.read_to_string(&mut listing).unwrap();
        assert!(
            listing.contains("a_synchronous_pipe_handle_reads_like_std"),
            "{listing}"
        );
        assert!(child.wait().unwrap().success());
    });
}

// ---------------------------------------------------------------------------------------
// Zero lengths and huge lengths

/// Zero-length calls not covered by `stream_io.rs`: peek, vectored calls with no slice
/// or only empty ones, and each of them after the peer closed or in nonblocking mode
/// on a full pipe. They return `Ok(0)` at once and move nothing; a zero-length write
/// after `shutdown(Write)` is `BrokenPipe`, as any write.
#[test]
fn zero_length_calls_return_zero_at_once_whatever_the_state() {
    within(LIMIT, || {
        let (a, b) = WinStream::pair().unwrap();
        let mut s = &a;
        let check = |when: &str| {
            let mut s = &a;
            let started = Instant::now();
            assert_eq!(a.peek(&mut []).unwrap(), 0, "peek {when}");
            assert_eq!(s.read(&mut []).unwrap(), 0, "read {when}");
            assert_eq!(s.read_vectored(&mut []).unwrap(), 0, "read_vectored {when}");
            let (mut e1, mut e2) = ([0u8; 0], [0u8; 0]);
            let mut empties = [IoSliceMut::new(&mut e1), IoSliceMut::new(&mut e2)];
            assert_eq!(s.read_vectored(&mut empties).unwrap(), 0, "{when}");
            assert_eq!(s.write(&[]).unwrap(), 0, "write {when}");
            assert_eq!(s.write_vectored(&[]).unwrap(), 0, "write_vectored {when}");
            let empties = [IoSlice::new(&[]), IoSlice::new(&[])];
            assert_eq!(s.write_vectored(&empties).unwrap(), 0, "{when}");
            assert!(started.elapsed() < Duration::from_secs(2), "{when}");
        };
        check("with no data and no timeout");
        // A full pipe, nonblocking.
        a.set_nonblocking(true).unwrap();
        while s.write(&[7; 4096]).is_ok() {}
        check("on a full pipe in nonblocking mode");
        a.set_nonblocking(false).unwrap();
        drop(b);
        check("after the peer closed");
        a.shutdown(Shutdown::Write).unwrap();
        let err = s.write(&[]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    });
}

/// A vectored write whose slices add up to more than 4 GiB (the same 64 KiB slice
/// 65,537 times: nothing large is allocated) sends at most 64 KiB in one call, and the
/// peer receives exactly those bytes, in order. Overflow or a truncated DWORD would
/// show as a wrong count or wrong bytes.
#[test]
fn vectored_write_of_more_than_4_gib_in_total_sends_one_pipe_buffer() {
    within(LIMIT, || {
        let (a, b) = WinStream::pair().unwrap();
        let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        let slices = vec![IoSlice::new(&chunk); u32::MAX as usize / chunk.len() + 2];
        let n = (&a).write_vectored(&slices).unwrap();
        assert!(n > 0 && n <= chunk.len(), "wrote {n}");
        let mut got = vec![0; n];
        (&b).read_exact(&mut got).unwrap();
        assert!(got == chunk[..n], "the bytes differ");
        b.set_read_timeout(Some(ms(100))).unwrap();
        assert_eq!(
            (&b).read(&mut [0; 1]).unwrap_err().kind(),
            ErrorKind::TimedOut,
            "more than reported arrived"
        );
    });
}

// ---------------------------------------------------------------------------------------
// Extreme timeouts

/// Fills `stream`'s outgoing direction (nonblocking writes until `WouldBlock`).
fn fill(stream: &WinStream) -> usize {
    stream.set_nonblocking(true).unwrap();
    let mut sent = 0;
    loop {
        match (&*stream).write(&[1; 8192]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling: {e:?}"),
        }
    }
    stream.set_nonblocking(false).unwrap();
    sent
}

/// `Duration::MAX` as a write timeout and as a connect timeout: they mean "a very long
/// time", never overflow into "no wait" (the read side is in `stream_io.rs`).
#[test]
fn duration_max_write_and_connect_timeouts_wait() {
    within(LIMIT, || {
        let (a, b) = WinStream::pair().unwrap();
        let sent = fill(&a);
        a.set_write_timeout(Some(Duration::MAX)).unwrap();
        let drain = std::thread::spawn(move || {
            std::thread::sleep(ms(300));
            let mut got = vec![0; sent];
            (&b).read_exact(&mut got).unwrap();
            b
        });
        let started = Instant::now();
        assert_eq!((&a).write(b"after").unwrap(), 5);
        assert!(started.elapsed() >= ms(200), "the write did not wait");
        let b = drain.join().unwrap();
        let mut got = [0; 5];
        (&b).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"after");

        // peek waits for data with a Duration::MAX read timeout.
        b.set_read_timeout(Some(Duration::MAX)).unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(ms(200));
            (&a).write_all(b"p").unwrap();
            a
        });
        assert_eq!(b.peek(&mut [0; 4]).unwrap(), 1);
        writer.join().unwrap();

        // connect with Duration::MAX waits for a listener that binds later.
        let name = pipe_name("duration_max_connect");
        let late = name.clone();
        let binder = std::thread::spawn(move || {
            std::thread::sleep(ms(300));
            let listener = WinListener::bind(&late).unwrap();
            listener.accept().unwrap();
        });
        WinStream::connect_with_timeout(&name, Duration::MAX).expect("connect with MAX");
        binder.join().unwrap();
    });
}

/// Timeouts under a millisecond round up to one, never down to 0 (which Win32 would
/// read as "do not wait" or, for WaitNamedPipe, "the default"): a write, a peek and a
/// connect still make their attempt and then stop with the documented error.
#[test]
fn sub_millisecond_timeouts_round_up_and_stop() {
    within(LIMIT, || {
        let (a, b) = WinStream::pair().unwrap();
        fill(&a);
        a.set_write_timeout(Some(Duration::from_nanos(1))).unwrap();
        let started = Instant::now();
        assert_eq!((&a).write(b"x").unwrap_err().kind(), ErrorKind::TimedOut);
        b.set_read_timeout(Some(Duration::from_micros(999)))
            .unwrap();
        let (c, _d) = WinStream::pair().unwrap();
        c.set_read_timeout(Some(Duration::from_nanos(1))).unwrap();
        assert_eq!(c.peek(&mut [0; 4]).unwrap_err().kind(), ErrorKind::TimedOut);
        // A write with room succeeds despite its 1 ns timeout: the attempt is made.
        c.set_write_timeout(Some(Duration::from_nanos(1))).unwrap();
        assert_eq!((&c).write(b"ok").unwrap(), 2);
        assert!(started.elapsed() < Duration::from_secs(2));

        let name = pipe_name("sub_millisecond_connect");
        let started = Instant::now();
        let err = WinStream::connect_with_timeout(&name, Duration::from_nanos(1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        let listener = WinListener::bind(&name).unwrap();
        WinStream::connect_with_timeout(&name, Duration::from_nanos(1))
            .expect("one attempt is made even with a 1 ns timeout");
        listener.accept().unwrap();
    });
}
