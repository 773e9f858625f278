#![cfg(windows)]
//! Reading and writing on a connected `WinStream`: round trips, large transfers, end of
//! stream, broken pipes, timeouts, nonblocking mode, setters that wake blocked calls,
//! shutdown, clones, peek, vectored I/O, handle conversions, drop, Debug and addresses.
//!
//! Timing bounds are deliberately loose: under Wine every pipe call is a round trip to
//! wineserver and the test threads compete for the CPU. Lower bounds (a wait that must
//! happen) are close to the configured value, because the crate measures its deadlines
//! with a monotonic clock from the start of each call; upper bounds leave about a second
//! of slack. Sleeps are used only to let another thread block in a call first.

mod common;

use common::{pipe_name, within, LIMIT};
use std::io::{self, ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::windows::io::{AsHandle, AsRawHandle, FromRawHandle, IntoRawHandle, OwnedHandle};
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use winpipe::{WinListener, WinStream};

/// The most one `write` hands to the kernel, as `WinStream`'s documentation says.
const WRITE_CAP: usize = 64 * 1024;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Byte `i` of the test pattern. 251 is prime, so the pattern does not line up with
/// any power-of-two chunk size and a lost, duplicated or reordered chunk shows.
fn pattern_byte(i: usize) -> u8 {
    (i % 251) as u8
}

fn pattern(start: usize, len: usize) -> Vec<u8> {
    (start..start + len).map(pattern_byte).collect()
}

/// Asserts that `data` is the pattern from offset 0, naming the first difference.
fn assert_pattern(data: &[u8], expected_len: usize) {
    assert_eq!(data.len(), expected_len, "wrong number of bytes received");
    if let Some(i) = (0..data.len()).find(|&i| data[i] != pattern_byte(i)) {
        panic!(
            "byte {i} is {} instead of {} (data corrupted or out of order)",
            data[i],
            pattern_byte(i)
        );
    }
}

/// A small deterministic generator for "random-ish" sizes.
struct Lcg(u64);

impl Lcg {
    fn next_in(&mut self, low: usize, high: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        low + (self.0 >> 33) as usize % (high - low + 1)
    }
}

fn pair() -> (WinStream, WinStream) {
    WinStream::pair().expect("WinStream::pair")
}

/// A listener on `name`, a client connected to it and the accepted server end.
fn bound(name: &str) -> (WinListener, WinStream, WinStream) {
    let listener = WinListener::bind(name).unwrap_or_else(|e| panic!("bind {name}: {e:?}"));
    let client = WinStream::connect_with_timeout(name, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect to {name}: {e:?}"));
    let (server, _) = listener.accept().expect("accept");
    (listener, client, server)
}

/// Reads exactly `n` bytes (blocking; the caller's `within` bounds it).
fn read_n(mut stream: &WinStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).expect("read_exact");
    buf
}

fn assert_kind<T: std::fmt::Debug>(what: &str, result: io::Result<T>, kind: ErrorKind) {
    match result {
        Ok(value) => panic!("{what}: expected {kind:?}, got Ok({value:?})"),
        Err(e) => assert_eq!(e.kind(), kind, "{what}: expected {kind:?}, got {e:?}"),
    }
}

/// Asserts that a wait lasted at least `min` and at most `max`.
fn assert_took(what: &str, elapsed: Duration, min: Duration, max: Duration) {
    assert!(
        elapsed >= min && elapsed <= max,
        "{what} took {elapsed:?}, expected between {min:?} and {max:?}"
    );
}

/// Writes the pattern with the stream's current (timeout or nonblocking) settings, in
/// writes of 1 to `max_chunk` bytes, until a write fails with `stop`; returns the sum of
/// the `Ok(n)` the writes reported.
fn fill(mut stream: &WinStream, max_chunk: usize, stop: ErrorKind) -> usize {
    let mut sizes = Lcg(max_chunk as u64);
    let mut total = 0;
    loop {
        let chunk = sizes.next_in(1, max_chunk);
        assert!(
            total < 64 * 1024 * 1024,
            "wrote {total} bytes to a peer that never reads without ever getting {stop:?}"
        );
        match stream.write(&pattern(total, chunk)) {
            Ok(0) => panic!("write returned Ok(0) for a {chunk}-byte buffer"),
            Ok(n) => {
                assert!(
                    n <= chunk.min(WRITE_CAP),
                    "write reported {n} bytes of {chunk} (cap {WRITE_CAP})"
                );
                total += n;
            }
            Err(e) if e.kind() == stop => return total,
            Err(e) => panic!("write after {total} bytes: expected {stop:?}, got {e:?}"),
        }
    }
}

/// Runs `f` on a thread and returns a receiver for its result, so the test can check
/// whether a blocked call has returned yet.
fn spawn_call<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

/// Time given to a thread to enter a blocking call before another thread acts on it.
const LET_IT_BLOCK: Duration = Duration::from_millis(200);
/// How long a woken call may take to return: generous, for a slow Wine.
const WAKE_LIMIT: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------------------
// 1. Round trips

#[test]
fn pair_roundtrip_both_directions() {
    within(LIMIT, || {
        let (mut a, mut b) = pair();
        a.write_all(b"ping").unwrap();
        assert_eq!(read_n(&b, 4), b"ping");
        b.write_all(b"pong").unwrap();
        assert_eq!(read_n(&a, 4), b"pong");
        // Once more each way, so that the second operation on each slot works too.
        a.write_all(b"second from a").unwrap();
        assert_eq!(read_n(&b, 13), b"second from a");
        b.write_all(b"second from b").unwrap();
        assert_eq!(read_n(&a, 13), b"second from b");
    });
}

#[test]
fn bind_accept_connect_roundtrip_both_directions() {
    let name = pipe_name("roundtrip");
    within(LIMIT, move || {
        let (_listener, mut client, mut server) = bound(&name);
        client.write_all(b"hello server").unwrap();
        assert_eq!(read_n(&server, 12), b"hello server");
        server.write_all(b"hello client").unwrap();
        assert_eq!(read_n(&client, 12), b"hello client");
    });
}

#[test]
fn read_and_write_through_shared_refs_on_the_same_stream_concurrently() {
    within(LIMIT, || {
        let (a, mut b) = pair();
        let a = Arc::new(a);
        // A blocks in a read through `&WinStream` ...
        let reader = {
            let a = Arc::clone(&a);
            spawn_call(move || {
                let mut buf = [0; 4];
                (&*a).read_exact(&mut buf).map(|()| buf)
            })
        };
        thread::sleep(LET_IT_BLOCK);
        // ... while another thread writes through `&WinStream` on the same stream: the
        // write must not wait for the read (overlapped handles do not serialise).
        let writer = {
            let a = Arc::clone(&a);
            spawn_call(move || (&*a).write_all(b"from a"))
        };
        writer
            .recv_timeout(WAKE_LIMIT)
            .expect("write through &WinStream stayed blocked behind a read on the same stream")
            .unwrap();
        assert_eq!(read_n(&b, 6), b"from a");
        assert!(
            reader.try_recv().is_err(),
            "the read returned before anything was written to it"
        );
        b.write_all(b"to a").unwrap();
        let got = reader
            .recv_timeout(WAKE_LIMIT)
            .expect("read never returned");
        assert_eq!(&got.unwrap(), b"to a");
    });
}

// ---------------------------------------------------------------------------------------
// 2. Large transfers and the write cap

#[test]
fn large_transfer_of_8_mib_arrives_intact_and_in_order() {
    const TOTAL: usize = 8 * 1024 * 1024;
    within(LIMIT * 3, || {
        let (mut a, mut b) = pair();
        let writer = thread::spawn(move || {
            let data = pattern(0, TOTAL);
            let mut sizes = Lcg(7);
            let mut sent = 0;
            while sent < TOTAL {
                let size = sizes.next_in(1, 100_000).min(TOTAL - sent);
                a.write_all(&data[sent..sent + size]).unwrap();
                sent += size;
            }
            // Dropping `a` ends the stream for the reader.
        });
        let mut received = Vec::with_capacity(TOTAL);
        let mut sizes = Lcg(11);
        let mut buf = vec![0; 100_000];
        loop {
            let size = sizes.next_in(1, buf.len());
            match b.read(&mut buf[..size]).unwrap() {
                0 => break,
                n => received.extend_from_slice(&buf[..n]),
            }
        }
        writer.join().unwrap();
        assert_pattern(&received, TOTAL);
    });
}

#[test]
fn single_write_of_1_mib_returns_at_most_64_kib_and_write_all_sends_everything() {
    const TOTAL: usize = 1024 * 1024;
    within(LIMIT, || {
        let (mut a, mut b) = pair();
        // The peer drains concurrently, so neither write can wait for room forever.
        let reader = thread::spawn(move || {
            let mut all = Vec::new();
            b.read_to_end(&mut all).unwrap();
            all
        });
        let data = pattern(0, TOTAL);
        let n = a.write(&data).unwrap();
        assert!(
            n > 0 && n <= WRITE_CAP,
            "one write of 1 MiB returned {n}, expected 1..={WRITE_CAP}"
        );
        a.write_all(&data[n..]).unwrap();
        drop(a);
        assert_pattern(&reader.join().unwrap(), TOTAL);
    });
}

// ---------------------------------------------------------------------------------------
// 3. End of stream

/// `writer` sends a message and drops; `reader` must get every byte, then `Ok(0)` again
/// and again.
fn assert_eof_after_peer_drop(writer: WinStream, mut reader: WinStream) {
    let mut w = writer;
    w.write_all(b"first ").unwrap();
    w.write_all(b"second ").unwrap();
    w.write_all(b"third").unwrap();
    drop(w);
    // Part with small reads, the rest with read_to_end.
    let mut head = [0; 3];
    reader.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"fir");
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"st second third");
    for attempt in 0..3 {
        let mut buf = [0; 16];
        assert_eq!(
            reader.read(&mut buf).unwrap(),
            0,
            "read {attempt} after end of stream"
        );
    }
    let mut more = Vec::new();
    assert_eq!(reader.read_to_end(&mut more).unwrap(), 0);
}

#[test]
fn eof_after_client_closes_returns_every_byte_then_zero_repeatedly() {
    let name = pipe_name("eof-client-closes");
    within(LIMIT, move || {
        let (_listener, client, server) = bound(&name);
        assert_eof_after_peer_drop(client, server);
    });
}

#[test]
fn eof_after_server_closes_returns_every_byte_then_zero_repeatedly() {
    let name = pipe_name("eof-server-closes");
    within(LIMIT, move || {
        let (_listener, client, server) = bound(&name);
        assert_eof_after_peer_drop(server, client);
    });
}

#[test]
fn eof_on_pair_in_both_directions() {
    within(LIMIT, || {
        let (a, b) = pair();
        assert_eof_after_peer_drop(a, b);
        let (a, b) = pair();
        assert_eof_after_peer_drop(b, a);
    });
}

// ---------------------------------------------------------------------------------------
// 4. Broken pipe

#[test]
fn write_to_dropped_peer_fails_with_broken_pipe_and_keeps_the_os_error() {
    let name = pipe_name("broken-pipe");
    within(LIMIT, move || {
        let (_listener, client, server) = bound(&name);
        let (a, b) = pair();
        for (what, mut survivor, dropped) in [
            ("client writes after server dropped", client, server),
            ("pair server end writes after client dropped", b, a),
        ] {
            drop(dropped);
            let err = survivor
                .write(b"anyone there?")
                .expect_err(&format!("{what}: write succeeded"));
            assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{what}: {err:?}");
            // 232 ERROR_NO_DATA is what Windows and Wine give; 109 ERROR_BROKEN_PIPE is
            // also a closed pipe.
            assert!(
                matches!(err.raw_os_error(), Some(232) | Some(109)),
                "{what}: raw_os_error is {:?}, expected 232 or 109 ({err:?})",
                err.raw_os_error()
            );
            // It stays broken.
            let again = survivor.write_all(b"x").unwrap_err();
            assert_eq!(again.kind(), ErrorKind::BrokenPipe, "{what}: {again:?}");
        }
    });
}

// ---------------------------------------------------------------------------------------
// 5–6. Read timeouts and their validation

#[test]
fn read_timeout_fires_after_about_the_timeout_and_loses_nothing() {
    within(LIMIT, || {
        let (mut a, mut b) = pair();
        a.set_read_timeout(Some(ms(50))).unwrap();
        let mut buf = [0; 16];
        for round in 0..2 {
            let start = Instant::now();
            assert_kind("read with no data", a.read(&mut buf), ErrorKind::TimedOut);
            // Not before the timeout (45 ms allows for clock granularity); well under a
            // second even on a loaded Wine.
            assert_took(
                &format!("timed-out read {round}"),
                start.elapsed(),
                ms(45),
                ms(1000),
            );
        }
        b.write_all(b"late data").unwrap();
        // The cancelled reads took nothing: the next read gets every byte.
        let n = a.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"late data");
    });
}

#[test]
fn sub_millisecond_read_timeout_still_times_out_and_is_reported_back() {
    within(LIMIT, || {
        let (mut a, _b) = pair();
        let tiny = Duration::from_micros(1);
        a.set_read_timeout(Some(tiny)).unwrap();
        assert_eq!(a.read_timeout().unwrap(), Some(tiny));
        let start = Instant::now();
        // Rounded to 0 it would be "no wait" (or, for Win32 timeouts, "infinite"): it
        // must be a real, short timeout.
        assert_kind(
            "read with a 1 µs timeout",
            a.read(&mut [0; 8]),
            ErrorKind::TimedOut,
        );
        assert_took("1 µs timed-out read", start.elapsed(), ms(0), ms(1000));
    });
}

#[test]
fn zero_timeouts_are_invalid_input_and_leave_the_setting_unchanged() {
    within(LIMIT, || {
        let (a, _b) = pair();
        assert_kind(
            "set_read_timeout(ZERO)",
            a.set_read_timeout(Some(Duration::ZERO)),
            ErrorKind::InvalidInput,
        );
        assert_kind(
            "set_write_timeout(ZERO)",
            a.set_write_timeout(Some(Duration::ZERO)),
            ErrorKind::InvalidInput,
        );
        assert_eq!(a.read_timeout().unwrap(), None);
        assert_eq!(a.write_timeout().unwrap(), None);
        a.set_read_timeout(Some(ms(30))).unwrap();
        assert_kind(
            "set_read_timeout(ZERO) after 30 ms",
            a.set_read_timeout(Some(Duration::ZERO)),
            ErrorKind::InvalidInput,
        );
        assert_eq!(a.read_timeout().unwrap(), Some(ms(30)));
    });
}

#[test]
fn timeouts_default_to_none_and_return_what_was_set() {
    within(LIMIT, || {
        let (a, b) = pair();
        for s in [&a, &b] {
            assert_eq!(s.read_timeout().unwrap(), None);
            assert_eq!(s.write_timeout().unwrap(), None);
        }
        a.set_read_timeout(Some(ms(250))).unwrap();
        a.set_write_timeout(Some(Duration::from_micros(1500)))
            .unwrap();
        assert_eq!(a.read_timeout().unwrap(), Some(ms(250)));
        assert_eq!(
            a.write_timeout().unwrap(),
            Some(Duration::from_micros(1500))
        );
        // The other end has its own settings.
        assert_eq!(b.read_timeout().unwrap(), None);
        a.set_read_timeout(None).unwrap();
        a.set_write_timeout(Some(Duration::MAX)).unwrap();
        assert_eq!(a.read_timeout().unwrap(), None);
        assert_eq!(a.write_timeout().unwrap(), Some(Duration::MAX));
    });
}

#[test]
fn duration_max_read_timeout_is_accepted_and_waits_for_data() {
    within(LIMIT, || {
        let (mut a, b) = pair();
        a.set_read_timeout(Some(Duration::MAX)).unwrap();
        assert_eq!(a.read_timeout().unwrap(), Some(Duration::MAX));
        let start = Instant::now();
        let writer = thread::spawn(move || {
            thread::sleep(LET_IT_BLOCK);
            (&b).write_all(b"worth the wait").unwrap();
            b
        });
        // A clamping bug (Duration::MAX overflowing to 0 ms) would return at once.
        let mut buf = [0; 32];
        let n = a
            .read(&mut buf)
            .expect("read with Duration::MAX timeout failed");
        assert_eq!(&buf[..n], b"worth the wait");
        assert!(start.elapsed() >= ms(150), "read returned before the write");
        writer.join().unwrap();
    });
}

// ---------------------------------------------------------------------------------------
// 7. Write timeout

#[test]
fn write_timeout_on_a_full_pipe_times_out_and_reports_exactly_the_bytes_sent() {
    within(LIMIT, || {
        let (a, mut b) = pair();
        a.set_write_timeout(Some(ms(100))).unwrap();
        // b never reads while a fills the pipe. Sizes up to 200,000 bytes: some writes
        // are larger than the pipe buffer (and capped), some smaller.
        let total = fill(&a, 200_000, ErrorKind::TimedOut);
        assert!(total > 0, "no write succeeded on an empty pipe");
        // Once more, timing it: the write waited for the timeout, at least.
        let start = Instant::now();
        assert_kind(
            "write to a full pipe",
            (&a).write(&pattern(total, 16 * 1024)),
            ErrorKind::TimedOut,
        );
        assert_took("timed-out write", start.elapsed(), ms(95), ms(2000));
        drop(a);
        // No phantom bytes: the peer gets exactly what the writes reported, in order.
        let mut received = Vec::new();
        b.read_to_end(&mut received).unwrap();
        assert_pattern(&received, total);
    });
}

// ---------------------------------------------------------------------------------------
// 8. Nonblocking mode

#[test]
fn nonblocking_read_and_peek_without_data_would_block_at_once() {
    within(LIMIT, || {
        let (mut a, mut b) = pair();
        a.set_nonblocking(true).unwrap();
        let mut buf = [0; 32];
        let start = Instant::now();
        assert_kind("nonblocking read", a.read(&mut buf), ErrorKind::WouldBlock);
        assert_kind("nonblocking peek", a.peek(&mut buf), ErrorKind::WouldBlock);
        assert_took("nonblocking read + peek", start.elapsed(), ms(0), ms(1000));
        b.write_all(b"now there is data").unwrap();
        let n = a
            .read(&mut buf)
            .expect("nonblocking read with data buffered");
        assert_eq!(&buf[..n], b"now there is data");
        assert_kind(
            "nonblocking read after draining",
            a.read(&mut buf),
            ErrorKind::WouldBlock,
        );
    });
}

#[test]
fn nonblocking_write_until_full_would_block_and_reports_exactly_the_bytes_sent() {
    within(LIMIT, || {
        let (a, mut b) = pair();
        a.set_nonblocking(true).unwrap();
        let start = Instant::now();
        let total = fill(&a, 8 * 1024, ErrorKind::WouldBlock);
        assert!(total > 0, "no nonblocking write succeeded on an empty pipe");
        assert_took("filling the pipe", start.elapsed(), ms(0), ms(5000));
        drop(a);
        let mut received = Vec::new();
        b.read_to_end(&mut received).unwrap();
        assert_pattern(&received, total);
    });
}

// ---------------------------------------------------------------------------------------
// 9. Setters wake blocked calls

/// Starts a read (no timeout) on `stream` in a thread, lets it block, applies `setter`
/// to a clone from this thread, and returns what the read returned.
fn blocked_read_after(stream: WinStream, setter: impl FnOnce(&WinStream)) -> io::Result<usize> {
    let clone = stream.try_clone().unwrap();
    let read = spawn_call(move || {
        let mut buf = [0; 16];
        (&stream).read(&mut buf)
    });
    thread::sleep(LET_IT_BLOCK);
    assert!(read.try_recv().is_err(), "the read did not block");
    setter(&clone);
    read.recv_timeout(WAKE_LIMIT)
        .expect("the blocked read was not woken by the setter")
}

#[test]
fn set_read_timeout_from_another_thread_wakes_a_blocked_read_with_timed_out() {
    within(LIMIT, || {
        let (a, _b) = pair();
        let result = blocked_read_after(a, |clone| {
            // The read has been blocked for LET_IT_BLOCK > 100 ms already.
            clone.set_read_timeout(Some(ms(100))).unwrap();
        });
        assert_kind("woken read", result, ErrorKind::TimedOut);
    });
}

#[test]
fn set_nonblocking_from_another_thread_wakes_a_blocked_read_with_would_block() {
    within(LIMIT, || {
        let (a, _b) = pair();
        let result = blocked_read_after(a, |clone| clone.set_nonblocking(true).unwrap());
        assert_kind("woken read", result, ErrorKind::WouldBlock);
    });
}

#[test]
fn shutdown_read_from_another_thread_wakes_a_blocked_read_with_eof() {
    within(LIMIT, || {
        let (a, _b) = pair();
        let result = blocked_read_after(a, |clone| clone.shutdown(Shutdown::Read).unwrap());
        assert_eq!(result.expect("woken read"), 0);
    });
}

#[test]
fn unrelated_setters_do_not_disturb_a_blocked_read() {
    within(LIMIT, || {
        let (a, mut b) = pair();
        let clone = a.try_clone().unwrap();
        let read = spawn_call(move || {
            let mut buf = [0; 16];
            (&a).read(&mut buf).map(|n| buf[..n].to_vec())
        });
        thread::sleep(LET_IT_BLOCK);
        // Each of these cancels the read internally; it must go back to waiting.
        clone.set_write_timeout(Some(ms(100))).unwrap();
        clone.set_nonblocking(false).unwrap();
        clone.set_read_timeout(None).unwrap();
        clone.shutdown(Shutdown::Write).unwrap();
        // Give a wrongly failed read time to come back.
        thread::sleep(LET_IT_BLOCK);
        if let Ok(early) = read.try_recv() {
            panic!("a read-unrelated setter ended the blocked read: {early:?}");
        }
        b.write_all(b"still here").unwrap();
        let got = read
            .recv_timeout(WAKE_LIMIT)
            .expect("the read did not return the data written later");
        assert_eq!(got.unwrap(), b"still here");
    });
}

/// Threads reading through one `&WinStream` each get the timeout counted from their
/// own call: four readers with a 300 ms timeout all return after about 300 ms, not one
/// after the other (300, 600, 900, 1,200 ms).
#[test]
fn threads_sharing_a_stream_each_get_their_own_read_timeout() {
    within(LIMIT, || {
        let (a, _b) = pair();
        a.set_read_timeout(Some(ms(300))).unwrap();
        let a = Arc::new(a);
        let start = Arc::new(std::sync::Barrier::new(4));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (a, start) = (a.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    let began = Instant::now();
                    let result = (&*a).read(&mut [0; 8]);
                    (result.map_err(|e| e.kind()), began.elapsed())
                })
            })
            .collect();
        for reader in readers {
            let (result, took) = reader.join().unwrap();
            assert_eq!(result, Err(ErrorKind::TimedOut));
            assert_took("a shared-stream read timeout", took, ms(295), ms(550));
        }
    });
}

/// A setter cancels only winpipe's own operations, by their OVERLAPPED: a read that
/// other code issued on a duplicate of the handle (the same file object) goes on.
#[test]
fn setters_leave_other_code_io_on_a_duplicate_handle_alone() {
    use common::win32::{duplicate, Io, RawEnd};
    within(LIMIT, || {
        let (a, mut b) = pair();
        let dup = duplicate(a.as_raw_handle());
        let foreign = RawEnd {
            handle: dup.as_raw_handle() as _,
            io: Io::Overlapped,
        };
        let read = spawn_call(move || {
            let mut buf = [0; 16];
            let result = foreign.read(&mut buf).map(|n| buf[..n].to_vec());
            std::mem::forget(foreign); // `dup` owns the handle
            drop(dup);
            result
        });
        thread::sleep(LET_IT_BLOCK);
        a.set_read_timeout(Some(ms(50))).unwrap();
        a.set_nonblocking(true).unwrap();
        a.shutdown(Shutdown::Read).unwrap();
        thread::sleep(LET_IT_BLOCK);
        if let Ok(early) = read.try_recv() {
            panic!("a setter ended other code's read: {early:?}");
        }
        b.write_all(b"for the other").unwrap();
        let got = read
            .recv_timeout(WAKE_LIMIT)
            .expect("the other read returns");
        assert_eq!(got, Ok(b"for the other".to_vec()));
    });
}

/// A write issued with no timeout in blocking mode is whole, and only a shutdown
/// stops it: a timeout or nonblocking mode set meanwhile applies from the next write.
#[test]
fn a_blocking_write_waits_through_later_timeouts_until_the_peer_reads() {
    within(LIMIT, || {
        let (a, mut b) = pair();
        let clone = a.try_clone().unwrap();
        // The pipe holds 64 KiB: fill it, so that the next write waits for the reader.
        let data = pattern(0, 1 << 20);
        assert_eq!((&a).write(&data[..WRITE_CAP]).unwrap(), WRITE_CAP);
        let write = spawn_call(move || (&a).write(&data[WRITE_CAP..]));
        thread::sleep(LET_IT_BLOCK);
        clone.set_write_timeout(Some(ms(50))).unwrap();
        clone.set_nonblocking(true).unwrap();
        thread::sleep(LET_IT_BLOCK);
        assert!(write.try_recv().is_err(), "the blocking write was stopped");
        let mut received = vec![0; 2 * WRITE_CAP];
        b.read_exact(&mut received).unwrap();
        assert_pattern(&received, 2 * WRITE_CAP);
        let n = write
            .recv_timeout(WAKE_LIMIT)
            .expect("the write completes")
            .unwrap();
        assert_eq!(n, WRITE_CAP, "one write hands over at most 64 KiB");
    });
}

// ---------------------------------------------------------------------------------------
// 10. Shutdown

#[test]
fn shutdown_read_makes_reads_and_peeks_return_zero_even_with_data_buffered() {
    within(LIMIT, || {
        let (mut a, mut b) = pair();
        b.write_all(b"buffered").unwrap();
        let mut buf = [0; 16];
        // The data is really there before the shutdown.
        assert_eq!(a.peek(&mut buf).unwrap(), 8);
        a.shutdown(Shutdown::Read).unwrap();
        for _ in 0..2 {
            assert_eq!(a.read(&mut buf).unwrap(), 0, "read after Shutdown::Read");
            assert_eq!(a.peek(&mut buf).unwrap(), 0, "peek after Shutdown::Read");
        }
        // Writing still works.
        a.write_all(b"reply").unwrap();
        assert_eq!(read_n(&b, 5), b"reply");
    });
}

#[test]
fn shutdown_write_makes_writes_fail_with_broken_pipe_and_sends_only_the_end() {
    within(LIMIT, || {
        let (mut a, mut b) = pair();
        a.shutdown(Shutdown::Write).unwrap();
        assert_kind("write", a.write(b"nope"), ErrorKind::BrokenPipe);
        assert_kind(
            "write_vectored",
            a.write_vectored(&[IoSlice::new(b"no"), IoSlice::new(b"pe")]),
            ErrorKind::BrokenPipe,
        );
        assert_kind("write_all", a.write_all(b"nope"), ErrorKind::BrokenPipe);
        // Nothing reached the peer but the end of the stream.
        b.set_read_timeout(Some(ms(100))).unwrap();
        assert_eq!(
            b.read(&mut [0; 16]).unwrap(),
            0,
            "peer read after refused writes"
        );
        // Reading still works.
        b.write_all(b"still readable").unwrap();
        assert_eq!(read_n(&a, 14), b"still readable");
    });
}

#[test]
fn shutdown_both_stops_reads_and_writes() {
    within(LIMIT, || {
        let (mut a, mut b) = pair();
        b.write_all(b"buffered").unwrap();
        a.shutdown(Shutdown::Both).unwrap();
        let mut buf = [0; 16];
        assert_eq!(a.read(&mut buf).unwrap(), 0);
        assert_eq!(a.peek(&mut buf).unwrap(), 0);
        assert_kind("write", a.write(b"x"), ErrorKind::BrokenPipe);
    });
}

#[test]
fn shutdown_is_shared_with_clones() {
    within(LIMIT, || {
        let (a, mut b) = pair();
        let clone = a.try_clone().unwrap();
        b.write_all(b"buffered").unwrap();
        a.shutdown(Shutdown::Read).unwrap();
        assert_eq!((&clone).read(&mut [0; 16]).unwrap(), 0, "clone read");
        clone.shutdown(Shutdown::Write).unwrap();
        assert_kind("original write", (&a).write(b"x"), ErrorKind::BrokenPipe);
        // A clone made afterwards is shut down too.
        let late = a.try_clone().unwrap();
        assert_eq!((&late).read(&mut [0; 16]).unwrap(), 0, "late clone read");
        assert_kind(
            "late clone write",
            (&late).write(b"x"),
            ErrorKind::BrokenPipe,
        );
    });
}

// ---------------------------------------------------------------------------------------
// 11. try_clone

#[test]
fn clone_reads_and_writes_the_same_pipe() {
    within(LIMIT, || {
        let (a, mut b) = pair();
        let mut clone = a.try_clone().unwrap();
        clone.write_all(b"from clone").unwrap();
        assert_eq!(read_n(&b, 10), b"from clone");
        b.write_all(b"to clone").unwrap();
        assert_eq!(read_n(&clone, 8), b"to clone");
        b.write_all(b"to original").unwrap();
        assert_eq!(read_n(&a, 11), b"to original");
        // The clone is its own handle: it outlives the original.
        drop(a);
        b.write_all(b"after drop").unwrap();
        assert_eq!(read_n(&clone, 10), b"after drop");
        // The peer sees end of stream once every handle is closed.
        drop(clone);
        assert_eq!(b.read(&mut [0; 8]).unwrap(), 0);
    });
}

#[test]
fn clone_shares_timeouts_and_nonblocking_mode() {
    within(LIMIT, || {
        let (a, _b) = pair();
        let clone = a.try_clone().unwrap();
        a.set_read_timeout(Some(ms(75))).unwrap();
        assert_eq!(clone.read_timeout().unwrap(), Some(ms(75)));
        let start = Instant::now();
        assert_kind(
            "clone read with the original's timeout",
            (&clone).read(&mut [0; 8]),
            ErrorKind::TimedOut,
        );
        assert_took("clone timed-out read", start.elapsed(), ms(70), ms(1000));
        clone.set_write_timeout(Some(ms(120))).unwrap();
        assert_eq!(a.write_timeout().unwrap(), Some(ms(120)));
        // Nonblocking set on the clone applies to the original's reads: WouldBlock well
        // before the 75 ms timeout could fire.
        clone.set_nonblocking(true).unwrap();
        let start = Instant::now();
        assert_kind(
            "original read after clone set nonblocking",
            (&a).read(&mut [0; 8]),
            ErrorKind::WouldBlock,
        );
        assert_took("nonblocking read", start.elapsed(), ms(0), ms(1000));
    });
}

// ---------------------------------------------------------------------------------------
// 12. Peek

#[test]
fn peek_returns_buffered_bytes_without_consuming() {
    within(LIMIT, || {
        let (mut a, mut b) = pair();
        b.write_all(b"hello").unwrap();
        let mut buf = [0; 16];
        for _ in 0..2 {
            let n = a.peek(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"hello");
        }
        let mut small = [0; 2];
        assert_eq!(a.peek(&mut small).unwrap(), 2);
        assert_eq!(&small, b"he");
        let n = a.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello", "read after peeks");
    });
}

#[test]
fn blocking_peek_waits_for_data_written_later() {
    within(LIMIT, || {
        let (a, b) = pair();
        let start = Instant::now();
        let writer = thread::spawn(move || {
            thread::sleep(LET_IT_BLOCK);
            (&b).write_all(b"later").unwrap();
            b
        });
        let mut buf = [0; 16];
        let n = a.peek(&mut buf).unwrap();
        assert!(n > 0, "blocking peek returned 0 with the peer alive");
        assert_eq!(&buf[..n], &b"later"[..n]);
        assert!(
            start.elapsed() >= ms(150),
            "peek returned before the write: {:?}",
            start.elapsed()
        );
        // Peek took nothing.
        let _b = writer.join().unwrap();
        assert_eq!(read_n(&a, 5), b"later");
    });
}

#[test]
fn peek_after_peer_closed_without_data_returns_zero() {
    within(LIMIT, || {
        let (a, b) = pair();
        drop(b);
        assert_eq!(a.peek(&mut [0; 8]).unwrap(), 0);
        assert_eq!(a.peek(&mut [0; 8]).unwrap(), 0);
    });
}

#[test]
fn peek_with_read_timeout_times_out() {
    within(LIMIT, || {
        let (a, _b) = pair();
        a.set_read_timeout(Some(ms(50))).unwrap();
        let start = Instant::now();
        assert_kind("peek", a.peek(&mut [0; 8]), ErrorKind::TimedOut);
        assert_took("timed-out peek", start.elapsed(), ms(45), ms(1000));
    });
}

// ---------------------------------------------------------------------------------------
// 13. Vectored I/O

#[test]
fn write_vectored_of_16_slices_sends_all_1024_bytes_in_one_call() {
    within(LIMIT, || {
        let (mut a, b) = pair();
        let chunks: Vec<Vec<u8>> = (0..16).map(|i| pattern(i * 64, 64)).collect();
        let slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
        assert_eq!(a.write_vectored(&slices).unwrap(), 1024);
        assert_pattern(&read_n(&b, 1024), 1024);
    });
}

#[test]
fn read_vectored_fills_the_slices_in_order() {
    within(LIMIT, || {
        let (mut a, mut b) = pair();
        b.write_all(&pattern(0, 100)).unwrap();
        let (mut x, mut y, mut z) = ([0u8; 10], [0u8; 20], [0u8; 70]);
        let n = a
            .read_vectored(&mut [
                IoSliceMut::new(&mut x),
                IoSliceMut::new(&mut y),
                IoSliceMut::new(&mut z),
            ])
            .unwrap();
        assert_eq!(n, 100, "all 100 buffered bytes fit the slices");
        assert_eq!(&x[..], &pattern(0, 10)[..]);
        assert_eq!(&y[..], &pattern(10, 20)[..]);
        assert_eq!(&z[..], &pattern(30, 70)[..]);
    });
}

// ---------------------------------------------------------------------------------------
// 14. Zero-length calls

#[test]
fn zero_length_read_and_write_return_zero_immediately() {
    within(LIMIT, || {
        let (mut a, mut b) = pair();
        // No timeout and no data: a zero-length read that waited would hang.
        let start = Instant::now();
        assert_eq!(a.read(&mut []).unwrap(), 0);
        assert_eq!(a.write(&[]).unwrap(), 0);
        assert_eq!(a.write_vectored(&[IoSlice::new(&[])]).unwrap(), 0);
        assert_took("zero-length calls", start.elapsed(), ms(0), ms(1000));
        // They moved nothing: the next bytes the peer sees are the next real write.
        a.write_all(b"real").unwrap();
        assert_eq!(read_n(&b, 4), b"real");
        b.write_all(b"data").unwrap();
        assert_eq!(a.read(&mut []).unwrap(), 0);
        assert_eq!(read_n(&a, 4), b"data");
    });
}

// ---------------------------------------------------------------------------------------
// 15. Handle traits

/// Sends a message each way between `x` and `y`.
fn assert_talks(x: &WinStream, y: &WinStream) {
    (&*x).write_all(b"x to y").unwrap();
    assert_eq!(read_n(y, 6), b"x to y");
    (&*y).write_all(b"y to x").unwrap();
    assert_eq!(read_n(x, 6), b"y to x");
}

#[test]
fn as_raw_handle_is_non_null_and_matches_as_handle() {
    within(LIMIT, || {
        let (a, b) = pair();
        for s in [&a, &b] {
            let raw = s.as_raw_handle();
            assert!(!raw.is_null());
            assert_eq!(s.as_handle().as_raw_handle(), raw);
        }
        assert_ne!(a.as_raw_handle(), b.as_raw_handle());
    });
}

#[test]
fn owned_handle_roundtrip_keeps_working() {
    within(LIMIT, || {
        let (a, b) = pair();
        let raw = a.as_raw_handle();
        let owned = OwnedHandle::from(a);
        assert_eq!(owned.as_raw_handle(), raw);
        let a = WinStream::from(owned);
        assert_eq!(a.as_raw_handle(), raw);
        // The side is asked of the system: `a` is the client end of the pair.
        let debug = format!("{a:?}");
        assert!(debug.contains("Client"), "{debug}");
        assert_talks(&a, &b);
        // The rebuilt stream still honours timeouts (its handle is overlapped).
        a.set_read_timeout(Some(ms(50))).unwrap();
        assert_kind("read", (&a).read(&mut [0; 4]), ErrorKind::TimedOut);
    });
}

#[test]
fn raw_handle_roundtrip_keeps_working() {
    within(LIMIT, || {
        let (a, b) = pair();
        let raw = a.into_raw_handle();
        assert!(!raw.is_null());
        // SAFETY: `raw` came from into_raw_handle just above and is owned by nobody else.
        let a = unsafe { WinStream::from_raw_handle(raw) };
        assert_eq!(a.as_raw_handle(), raw);
        assert_talks(&a, &b);
    });
}

#[test]
fn accepted_server_stream_through_owned_handle_keeps_working() {
    let name = pipe_name("owned-server");
    within(LIMIT, move || {
        let (_listener, client, server) = bound(&name);
        let server = WinStream::from(OwnedHandle::from(server));
        assert_talks(&server, &client);
        // The side is asked of the system.
        let debug = format!("{server:?}");
        assert!(debug.contains("Server"), "{debug}");
        // Closing it still ends the client's stream.
        drop(server);
        assert_eq!((&client).read(&mut [0; 4]).unwrap(), 0);
    });
}

// ---------------------------------------------------------------------------------------
// 16. Drop

#[test]
fn bytes_written_right_before_drop_all_reach_the_peer() {
    const TOTAL: usize = 1024 * 1024;
    within(LIMIT, || {
        let (mut a, mut b) = pair();
        let writer = thread::spawn(move || {
            a.write_all(&pattern(0, TOTAL)).unwrap();
            // Up to a pipe buffer is still unread here: dropping must not discard it.
            drop(a);
        });
        // Read slowly, so that the writer waits for room and drops with the pipe full.
        let mut received = Vec::with_capacity(TOTAL);
        let mut buf = [0; 16 * 1024];
        loop {
            match b.read(&mut buf).unwrap() {
                0 => break,
                n => received.extend_from_slice(&buf[..n]),
            }
            if received.len() < TOTAL / 2 {
                thread::sleep(ms(2));
            }
        }
        writer.join().unwrap();
        assert_pattern(&received, TOTAL);
        assert_eq!(b.read(&mut buf).unwrap(), 0);
    });
}

#[test]
fn drop_returns_quickly_when_the_peer_never_reads() {
    within(LIMIT, || {
        let (a, b) = pair();
        a.set_write_timeout(Some(ms(50))).unwrap();
        let total = fill(&a, 16 * 1024, ErrorKind::TimedOut);
        assert!(total > 0);
        let start = Instant::now();
        drop(a);
        // Drop must not wait for the peer to read (no FlushFileBuffers).
        assert_took("drop with a full pipe", start.elapsed(), ms(0), ms(1000));
        drop(b);
    });
}

// ---------------------------------------------------------------------------------------
// 17. Debug and addresses

#[test]
fn debug_names_the_side_and_the_pipe() {
    let name = pipe_name("debug");
    within(LIMIT, move || {
        let (_listener, client, server) = bound(&name);
        // The name appears as `WinPipeSocketAddr`'s Debug shows it: quoted and escaped
        // (backslashes doubled), as std's `SocketAddr` shows a path.
        let quoted = format!("{name:?}");
        let client_debug = format!("{client:?}");
        assert!(client_debug.contains("Client"), "{client_debug}");
        assert!(client_debug.contains(&quoted), "{client_debug}");
        let server_debug = format!("{server:?}");
        assert!(server_debug.contains("Server"), "{server_debug}");
        assert!(!server_debug.contains("Client"), "{server_debug}");
        assert!(!client_debug.contains("Server"), "{client_debug}");
    });
}

#[test]
fn local_and_peer_addresses_follow_unix_socket_conventions() {
    let name = pipe_name("addrs");
    within(LIMIT, move || {
        let (_listener, client, server) = bound(&name);
        let pipe = Some(Path::new(&name));
        assert!(client.local_addr().unwrap().is_unnamed());
        assert_eq!(client.peer_addr().unwrap().as_pathname(), pipe);
        assert_eq!(server.local_addr().unwrap().as_pathname(), pipe);
        assert!(server.peer_addr().unwrap().is_unnamed());
        let (a, b) = pair();
        for s in [&a, &b] {
            assert!(s.local_addr().unwrap().is_unnamed());
            assert!(s.peer_addr().unwrap().is_unnamed());
        }
    });
}

// ---------------------------------------------------------------------------------------
// 18. take_error

/// A stream keeps no error of its own: a failed call's error comes back from that
/// call, and `take_error` does not report it a second time.
#[test]
fn a_failed_call_reports_its_error_once_and_take_error_stays_none() {
    within(LIMIT, || {
        let (mut a, b) = pair();
        assert!(a.take_error().unwrap().is_none());
        drop(b);
        let err = a.write(b"x").expect_err("the peer is gone");
        assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err:?}");
        assert!(a.take_error().unwrap().is_none(), "the write's error again");
    });
}

/// The phantom-byte case: while a write is blocked on a full pipe the peer reads a
/// little at a time, and writes keep timing out. Windows (and Wine) report 0 bytes for
/// a cancelled write the peer already read part of, so a write that may time out is
/// at most the pipe's buffer, which Windows completes in full before the reader can
/// take part of it. The peer must receive exactly the bytes the writes reported, in
/// order.
#[test]
fn timed_out_writes_while_the_peer_reads_slowly_report_exactly_what_arrived() {
    common::within(common::LIMIT, || {
        let (writer, reader) = pair();
        writer.set_write_timeout(Some(ms(30))).unwrap();
        let slow_reader = thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = vec![0; 1000];
            loop {
                // Small reads with pauses: each takes part of what is queued.
                match (&reader).read(&mut buf).unwrap() {
                    0 => return got,
                    n => got.extend_from_slice(&buf[..n]),
                }
                thread::sleep(ms(7));
            }
        });
        let mut sent = 0;
        let mut timeouts = 0;
        let mut sizes = Lcg(7);
        let start = Instant::now();
        while start.elapsed() < ms(1500) {
            let chunk = pattern(sent, sizes.next_in(1, 150_000));
            match (&writer).write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::TimedOut => timeouts += 1,
                Err(e) => panic!("write failed: {e}"),
            }
        }
        drop(writer);
        let got = slow_reader.join().unwrap();
        assert!(timeouts > 0, "the pipe never filled, so nothing was tested");
        assert_pattern(&got, sent);
    });
}
