//! winpipe against pipe ends made directly with Kernel32, as other programs make them:
//! servers that are synchronous or overlapped, byte or message type, with buffers of
//! 0, 512 and 64 KiB (.NET's `NamedPipeServerStream` passes 0), closing the way
//! Microsoft documents (`FlushFileBuffers`, `DisconnectNamedPipe`, `CloseHandle`);
//! and raw clients of a winpipe listener. Data goes both ways in small pieces with
//! pauses, so winpipe's read and write timeouts fire mid-transfer; every byte is
//! checked: nothing lost, duplicated or misreported.
#![cfg(windows)]

mod common;

use common::win32::{Io, RawEnd, Shape};
use common::{pipe_name, within};
use std::io::{ErrorKind, Read, Write};
use std::thread;
use std::time::Duration;
use winpipe::{WinListener, WinStream};

/// Generous: a 0-byte buffer moves a timed write one byte per call.
const LIMIT: Duration = Duration::from_secs(60);
/// winpipe's timeouts, shorter than the raw peer's pauses so they fire.
const TIMEOUT: Duration = Duration::from_millis(20);
const PAUSE: Duration = Duration::from_millis(35);

/// Byte `i` of the stream with seed `seed`.
fn byte(seed: u8, i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8) ^ usize::from(seed)) as u8
}

fn pattern(seed: u8, from: usize, len: usize) -> Vec<u8> {
    (from..from + len).map(|i| byte(seed, i)).collect()
}

/// Checks `got` is the stream `seed` from offset `from`; names the first bad offset.
fn check(seed: u8, from: usize, got: &[u8], what: &str) {
    if let Some(i) = (0..got.len()).find(|&i| got[i] != byte(seed, from + i)) {
        panic!(
            "{what}: byte {} differs (lost, duplicated or reordered data)",
            from + i
        );
    }
}

/// Writes `total` bytes of stream `seed` with `stream`, whose write timeout is set:
/// timeouts are retried. Returns how many writes timed out. Panics if the reported
/// counts ever exceed what was asked (a write must report exactly what moved).
fn write_all_timed(stream: &WinStream, seed: u8, total: usize, piece: usize) -> usize {
    let mut sent = 0;
    let mut timeouts = 0;
    while sent < total {
        let len = piece.min(total - sent);
        match (&*stream).write(&pattern(seed, sent, len)) {
            Ok(n) => {
                assert!(n > 0 && n <= len, "write of {len} reported {n}");
                sent += n;
            }
            Err(e) if e.kind() == ErrorKind::TimedOut => timeouts += 1,
            Err(e) => panic!("write at {sent}: {e:?}"),
        }
    }
    timeouts
}

/// Reads `total` bytes of stream `seed` with `stream`, whose read timeout is set:
/// timeouts are retried. Returns how many reads timed out.
fn read_exact_timed(stream: &WinStream, seed: u8, total: usize, piece: usize) -> usize {
    let mut got = 0;
    let mut timeouts = 0;
    let mut buf = vec![0u8; piece];
    while got < total {
        let len = piece.min(total - got);
        match (&*stream).read(&mut buf[..len]) {
            Ok(0) => panic!("end of stream after {got} of {total} bytes"),
            Ok(n) => {
                check(seed, got, &buf[..n], "winpipe read");
                got += n;
            }
            Err(e) if e.kind() == ErrorKind::TimedOut => timeouts += 1,
            Err(e) => panic!("read at {got}: {e:?}"),
        }
    }
    timeouts
}

/// The raw side reads exactly `total` bytes of stream `seed` in `piece`s, pausing
/// every `every` reads.
fn raw_read(end: &RawEnd, seed: u8, total: usize, piece: usize, every: usize) {
    raw_read_pausing(end, seed, total, piece, every, PAUSE);
}

fn raw_read_pausing(
    end: &RawEnd,
    seed: u8,
    total: usize,
    piece: usize,
    every: usize,
    pause: Duration,
) {
    let mut got = 0;
    let mut buf = vec![0u8; piece];
    let mut reads = 0;
    while got < total {
        let len = piece.min(total - got);
        let n = end.read(&mut buf[..len]).expect("raw read");
        check(seed, got, &buf[..n], "raw read");
        got += n;
        reads += 1;
        if reads % every == 0 {
            thread::sleep(pause);
        }
    }
}

/// The raw side writes `total` bytes of stream `seed` in `piece`s, pausing every
/// `every` writes.
fn raw_write(end: &RawEnd, seed: u8, total: usize, piece: usize, every: usize) {
    let mut sent = 0;
    let mut writes = 0;
    while sent < total {
        let len = piece.min(total - sent);
        let n = end.write(&pattern(seed, sent, len)).expect("raw write");
        assert_eq!(n, len, "a blocking raw write moves everything");
        sent += n;
        writes += 1;
        if writes % every == 0 {
            thread::sleep(PAUSE);
        }
    }
}

/// After the peer ended the connection: reads give end of stream, writes give
/// `BrokenPipe` with the system's code kept, reads still give end of stream.
fn assert_ended(stream: &WinStream) {
    let mut buf = [0u8; 16];
    assert_eq!((&*stream).read(&mut buf).unwrap(), 0);
    assert_eq!(stream.peek(&mut buf).unwrap(), 0);
    let err = (&*stream).write(b"late").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err:?}");
    let code = err.raw_os_error().or_else(|| {
        err.get_ref()?
            .downcast_ref::<std::io::Error>()?
            .raw_os_error()
    });
    assert!(
        matches!(code, Some(109 | 232 | 233)),
        "the system's code is kept: {err:?}"
    );
    assert_eq!((&*stream).read(&mut buf).unwrap(), 0, "still end of stream");
}

/// A winpipe client against a raw server of `shape`: the client writes with a write
/// timeout while the server reads slowly, then reads with a read timeout while the
/// server writes with pauses; the server ends the connection the documented way.
fn client_against_raw_server(test: &'static str, shape: Shape) {
    within(LIMIT, move || {
        let name = pipe_name(test);
        let server = RawEnd::server(&name, shape);
        // A 0-byte buffer makes a timed write move one byte per call: keep it short,
        // and read in pieces smaller than a write, pausing after every second one, so
        // that a write the reader took part of would time out.
        let (up, piece, every, pause) = if shape.buffer == 0 {
            (300, 100, 2, TIMEOUT + Duration::from_millis(5))
        } else {
            (200_000, 700, 24, PAUSE)
        };
        let down = 150_000;
        let raw = thread::spawn(move || {
            server.accept();
            raw_read_pausing(&server, 1, up, piece, every, pause);
            raw_write(&server, 2, down, 3_000, 8);
            server.flush().expect("FlushFileBuffers");
            assert_eq!(server.available(), Ok(0), "bytes beyond what was reported");
            server.disconnect().expect("DisconnectNamedPipe");
        });
        let client = WinStream::connect(&name).unwrap();
        client.set_write_timeout(Some(TIMEOUT)).unwrap();
        client.set_read_timeout(Some(TIMEOUT)).unwrap();
        let write_timeouts = write_all_timed(&client, 1, up, 8 * 1024);
        let read_timeouts = read_exact_timed(&client, 2, down, 1_000);
        raw.join().expect("the raw server");
        eprintln!("{test}: {write_timeouts} write and {read_timeouts} read timeouts");
        assert_ended(&client);
    });
}

macro_rules! against_raw_servers {
    ($($name:ident: $io:ident, $message:expr, $buffer:expr;)*) => {$(
        #[test]
        fn $name() {
            let shape = Shape { io: Io::$io, message: $message, buffer: $buffer };
            client_against_raw_server(stringify!($name), shape);
        }
    )*};
}

against_raw_servers! {
    sync_byte_server_buffer_0: Sync, false, 0;
    sync_byte_server_buffer_512: Sync, false, 512;
    sync_byte_server_buffer_64k: Sync, false, 65536;
    sync_message_server_buffer_0: Sync, true, 0;
    sync_message_server_buffer_512: Sync, true, 512;
    sync_message_server_buffer_64k: Sync, true, 65536;
    overlapped_byte_server_buffer_0: Overlapped, false, 0;
    overlapped_byte_server_buffer_512: Overlapped, false, 512;
    overlapped_byte_server_buffer_64k: Overlapped, false, 65536;
    overlapped_message_server_buffer_0: Overlapped, true, 0;
    overlapped_message_server_buffer_512: Overlapped, true, 512;
    overlapped_message_server_buffer_64k: Overlapped, true, 65536;
}

/// `write_all` of 1 MiB from a winpipe client to a raw server of `shape` whose reader
/// keeps a 64 KiB read waiting, with the write timeout `timeout`; every byte checked.
/// Returns how long the writes took.
fn megabyte_to_a_reading_server(test: &str, shape: Shape, timeout: Option<Duration>) -> Duration {
    const TOTAL: usize = 1 << 20;
    let name = pipe_name(test);
    let server = RawEnd::server(&name, shape);
    let raw = thread::spawn(move || {
        server.accept();
        raw_read_pausing(&server, 3, TOTAL, 64 * 1024, usize::MAX, Duration::ZERO);
    });
    let mut client = WinStream::connect(&name).unwrap();
    client.set_write_timeout(timeout).unwrap();
    let data = pattern(3, 0, TOTAL);
    let started = std::time::Instant::now();
    for chunk in data.chunks(64 * 1024) {
        client
            .write_all(chunk)
            .expect("a timed write_all to a 0-byte pipe");
    }
    let took = started.elapsed();
    raw.join().expect("the raw server");
    took
}

/// A 0-byte pipe (.NET's and go-winio's default) with the reader keeping a read
/// waiting: a timed write moves what that read takes (the pipe's nonblocking
/// completion mode, exact), not one byte per WriteFile. It took over 30 s before.
#[test]
fn a_timed_megabyte_to_a_0_byte_server_keeps_up_with_an_untimed_one() {
    within(Duration::from_secs(60), || {
        for (io, message) in [
            (Io::Sync, false),
            (Io::Overlapped, false),
            (Io::Overlapped, true),
        ] {
            let shape = Shape {
                io,
                message,
                buffer: 0,
            };
            let untimed = megabyte_to_a_reading_server("mib_untimed", shape, None);
            let timeout = Some(Duration::from_millis(50));
            let timed = megabyte_to_a_reading_server("mib_timed", shape, timeout);
            let ratio = untimed.as_secs_f64() / timed.as_secs_f64();
            eprintln!("{shape:?}: untimed {untimed:?}, timed {timed:?}: {ratio:.2}x");
            assert!(timed < Duration::from_secs(15), "{shape:?}: {timed:?}");
        }
    });
}

/// A raw client of `io` against a winpipe listener: the server stream reads with a
/// timeout while the client writes with pauses, then writes with a timeout while the
/// client reads slowly; the client closes and the server sees the end.
fn raw_client_against_listener(test: &'static str, io: Io, buffer: u32) {
    within(LIMIT, move || {
        let name = pipe_name(test);
        let listener = WinListener::options()
            .in_buffer_size(buffer)
            .out_buffer_size(buffer)
            .bind(&name)
            .unwrap();
        let (up, down) = (150_000, 200_000);
        let client_name = name.clone();
        let raw = thread::spawn(move || {
            let client = RawEnd::client(&client_name, io).expect("CreateFileA");
            raw_write(&client, 3, up, 2_500, 8);
            raw_read(&client, 4, down, 900, 24);
        });
        let (server, _) = listener.accept().unwrap();
        server.set_read_timeout(Some(TIMEOUT)).unwrap();
        server.set_write_timeout(Some(TIMEOUT)).unwrap();
        let read_timeouts = read_exact_timed(&server, 3, up, 1_500);
        let write_timeouts = write_all_timed(&server, 4, down, 8 * 1024);
        raw.join().expect("the raw client");
        // The client closed its handle: end of stream, then BrokenPipe.
        assert_ended(&server);
        eprintln!("{test}: {write_timeouts} write and {read_timeouts} read timeouts");
    });
}

#[test]
fn sync_raw_client_against_a_listener() {
    raw_client_against_listener("sync_raw_client", Io::Sync, 64 * 1024);
}

#[test]
fn overlapped_raw_client_against_a_listener() {
    raw_client_against_listener("overlapped_raw_client", Io::Overlapped, 64 * 1024);
}

#[test]
fn sync_raw_client_against_a_small_buffer_listener() {
    raw_client_against_listener("sync_raw_client_512", Io::Sync, 512);
}

/// The case exactly: a client that has only read, then meets the server's
/// `FlushFileBuffers` + `DisconnectNamedPipe` + `CloseHandle`: end of stream, and its
/// first write is `BrokenPipe`, not "not a pipe".
#[test]
fn a_client_that_only_read_sees_the_documented_disconnect_as_an_end() {
    for io in [Io::Sync, Io::Overlapped] {
        within(LIMIT, move || {
            let name = pipe_name(&format!("disconnect_{io:?}"));
            let shape = Shape {
                io,
                message: false,
                buffer: 4096,
            };
            let server = RawEnd::server(&name, shape);
            let raw = thread::spawn(move || {
                server.accept();
                assert_eq!(server.write(b"bye"), Ok(3));
                server.flush().expect("FlushFileBuffers");
                server.disconnect().expect("DisconnectNamedPipe");
            });
            let client = WinStream::connect(&name).unwrap();
            let mut buf = [0u8; 3];
            (&client).read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"bye");
            raw.join().unwrap();
            assert_ended(&client);
        });
    }
}

/// A raw overlapped message-type server in message read mode, connected to a raw
/// synchronous client, the server end wrapped with `From<OwnedHandle>`.
fn message_mode_server(name: &str) -> (WinStream, RawEnd) {
    let shape = Shape {
        io: Io::Overlapped,
        message: true,
        buffer: 4096,
    };
    let server = RawEnd::server(name, shape);
    let client = RawEnd::client(name, Io::Sync).expect("CreateFileA");
    server.accept();
    (WinStream::from(server.into_owned()), client)
}

/// A peek on a message-mode handle whose next message is empty (go-winio's
/// `CloseWrite` sends one, and so does winpipe's `shutdown(Write)`): PeekNamedPipe
/// copies nothing, and a zero-byte ReadFile completes with success there (not with
/// ERROR_MORE_DATA as at data). Once the spin of a peek that waited again and again;
/// now it is the end of the stream: the peek and every later read return `Ok(0)`,
/// even though the peer wrote on.
#[test]
fn a_peek_at_an_empty_message_is_the_end_of_the_stream() {
    within(LIMIT, || {
        let (stream, client) = message_mode_server(&pipe_name("peek_empty_message"));
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        assert_eq!(client.write(b"first"), Ok(5));
        assert_eq!(client.write(b""), Ok(0));
        assert_eq!(client.write(b"hello"), Ok(5));
        let started = std::time::Instant::now();
        let mut buf = [0u8; 16];
        assert_eq!(stream.peek(&mut buf).unwrap(), 5);
        assert_eq!((&stream).read(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"first");
        assert_eq!(stream.peek(&mut buf).expect("peek at the end"), 0);
        assert_eq!((&stream).read(&mut buf).unwrap(), 0);
        stream.set_nonblocking(true).unwrap();
        assert_eq!((&stream).read(&mut buf).unwrap(), 0);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        drop(client);
    });
}

/// A server handle in message read mode, made by other code and wrapped with
/// `From<OwnedHandle>`: a message longer than the read buffer comes out in pieces
/// (ReadFile's ERROR_MORE_DATA carries bytes), whether it was already waiting when
/// the read was issued or arrived while the read was pending.
#[test]
fn message_mode_reads_return_every_byte_of_long_messages() {
    within(LIMIT, || {
        let (stream, client) = message_mode_server(&pipe_name("message_more_data"));

        // Already waiting: three messages of 100 bytes, read 10 at a time.
        for m in 0..3 {
            assert_eq!(client.write(&pattern(5, 100 * m, 100)), Ok(100));
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 10];
        while got.len() < 300 {
            let n = (&stream).read(&mut buf).expect("read of a long message");
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        check(5, 0, &got, "message reads");

        // Arriving while the read is pending.
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            assert_eq!(client.write(&pattern(6, 0, 50)), Ok(50));
            client
        });
        let mut first = [0u8; 8];
        assert_eq!((&stream).read(&mut first).unwrap(), 8);
        check(6, 0, &first, "pending message read");
        let _client = writer.join().unwrap();
        let mut rest = [0u8; 42];
        (&stream).read_exact(&mut rest).unwrap();
        check(6, 8, &rest, "rest of the message");
    });
}
