//! Half-close: `shutdown(Write)` ends the peer's stream while this end stays open
//! and readable, between winpipe ends and against peers other code made the way
//! go-winio (Docker's engine pipe) makes them: message type, read in byte mode, a
//! zero-length write as `CloseWrite` and a 0-byte read as the end.
#![cfg(windows)]

mod common;

use common::win32::{Io, RawEnd, Shape, SETTLE};
use common::{pipe_name, within, LIMIT};
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use winpipe::{WinListener, WinStream};

const ERROR_BROKEN_PIPE: u32 = 109;

/// A listener on `name`, a client connected to it and the accepted server end.
fn bound(name: &str) -> (WinListener, WinStream, WinStream) {
    let listener = WinListener::bind(name).unwrap_or_else(|e| panic!("bind {name}: {e:?}"));
    let client = WinStream::connect_with_timeout(name, Duration::from_secs(5)).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (listener, client, server)
}

/// An overlapped server made with Kernel32, message or byte type, 4 KiB buffers.
fn raw_server(name: &str, message: bool) -> RawEnd {
    let shape = Shape {
        io: Io::Overlapped,
        message,
        buffer: 4096,
    };
    RawEnd::server(name, shape)
}

/// std's request/response pattern: write the request, `shutdown(Write)`,
/// `read_to_end` the reply; the server reads the request to its end first.
fn request_and_reply(mut client: WinStream, mut server: WinStream) {
    let request = vec![7u8; 200_000];
    let expected = request.clone();
    let serving = thread::spawn(move || {
        let mut got = Vec::new();
        server.read_to_end(&mut got).expect("server read_to_end");
        assert_eq!(got.len(), expected.len(), "the request, to its end");
        assert!(got == expected);
        server.write_all(b"reply to the request").unwrap();
        // Dropped: the client's read_to_end ends at the close.
    });
    client.write_all(&request).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).expect("client read_to_end");
    assert_eq!(reply, b"reply to the request");
    serving.join().unwrap();
}

#[test]
fn write_shutdown_read_to_end_works_between_a_client_and_a_listener() {
    within(LIMIT, || {
        let (_listener, client, server) = bound(&pipe_name("request_reply"));
        request_and_reply(client, server);
    });
}

#[test]
fn write_shutdown_read_to_end_works_on_a_pair() {
    within(LIMIT, || {
        let (a, b) = WinStream::pair().unwrap();
        request_and_reply(a, b);
        let (a, b) = WinStream::pair().unwrap();
        request_and_reply(b, a);
    });
}

/// The end reaches a read already waiting, the peer's end stays open for writing,
/// and the end is for good: every later read (and peek) returns `Ok(0)` at once,
/// blocking or not.
#[test]
fn a_blocked_read_returns_at_the_peers_shutdown_and_the_end_stays() {
    within(LIMIT, || {
        let (_listener, client, mut server) = bound(&pipe_name("blocked_read_ends"));
        let reader = thread::spawn(move || {
            let mut buf = [0u8; 64];
            let n = server.read(&mut buf).unwrap();
            let at = Instant::now();
            (server, n, at)
        });
        thread::sleep(SETTLE);
        let shut_at = Instant::now();
        client.shutdown(Shutdown::Write).unwrap();
        let (mut server, n, returned_at) = reader.join().unwrap();
        assert_eq!(n, 0);
        assert!(
            returned_at >= shut_at,
            "the read returned before the shutdown"
        );
        let mut buf = [0u8; 8];
        assert_eq!(server.read(&mut buf).unwrap(), 0);
        assert_eq!(server.peek(&mut buf).unwrap(), 0);
        server.set_nonblocking(true).unwrap();
        assert_eq!(server.read(&mut buf).unwrap(), 0);
        // This end can still write to the half-closed peer, which still reads.
        server.write_all(b"after").unwrap();
        let mut client = client;
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = [0u8; 5];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"after");
    });
}

/// Clones share the end: a clone blocked in a read when another takes the marker
/// wakes with `Ok(0)`, and later reads of every clone return `Ok(0)`.
#[test]
fn clones_of_the_reading_end_all_see_the_end() {
    within(LIMIT, || {
        let (_listener, client, server) = bound(&pipe_name("clones_end"));
        let clones: Vec<WinStream> = (0..3).map(|_| server.try_clone().unwrap()).collect();
        let readers: Vec<_> = clones
            .into_iter()
            .map(|clone| {
                thread::spawn(move || {
                    let mut buf = [0u8; 16];
                    (&clone).read(&mut buf).map(|n| (clone, n))
                })
            })
            .collect();
        thread::sleep(SETTLE);
        client.shutdown(Shutdown::Write).unwrap();
        for reader in readers {
            let (clone, n) = reader.join().unwrap().expect("read of a clone");
            assert_eq!(n, 0, "a clone got bytes at the end");
            assert_eq!((&clone).read(&mut [0u8; 4]).unwrap(), 0);
        }
        assert_eq!((&server).read(&mut [0u8; 4]).unwrap(), 0);
    });
}

/// The marker goes once, after every byte written before: shutting down twice,
/// then both ways, from a clone too, sends one empty message, which a raw reader in
/// message mode sees after the data and before the close.
#[test]
fn the_end_is_sent_once_after_everything_written() {
    within(LIMIT, || {
        let name = pipe_name("end_once");
        let raw = raw_server(&name, true);
        let client = WinStream::connect_with_timeout(&name, Duration::from_secs(5)).unwrap();
        raw.accept();
        (&client).write_all(b"data").unwrap();
        let clone = client.try_clone().unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        clone.shutdown(Shutdown::Both).unwrap();
        assert_eq!(
            (&client).write(b"more").unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
        drop((client, clone));
        let mut buf = [0u8; 16];
        assert_eq!(raw.read(&mut buf), Ok(4));
        assert_eq!(&buf[..4], b"data");
        assert_eq!(raw.read(&mut buf), Ok(0), "the end-of-stream message");
        assert_eq!(
            raw.read(&mut buf),
            Err(ERROR_BROKEN_PIPE),
            "a second one came"
        );
    });
}

/// Against a go-winio-style server (message type, byte read mode, buffers of 0 as
/// go-winio's defaults, or 4096): it reads winpipe's request until a 0-byte read,
/// replies and `CloseWrite`s with a zero-length write while its handle stays open;
/// winpipe's `read_to_end` ends there.
#[test]
fn a_go_winio_style_peer_sees_our_end_and_we_see_its_close_write() {
    for buffer in [0, 4096] {
        within(LIMIT, move || {
            let name = pipe_name(&format!("go_winio_{buffer}"));
            let raw = RawEnd::go_winio_server(&name, buffer);
            let (read_request, request_read) = mpsc::channel();
            let (done, finished) = mpsc::channel::<()>();
            let peer = thread::spawn(move || {
                raw.accept();
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    match raw.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            request.extend_from_slice(&buf[..n]);
                            if request.len() == 7 {
                                read_request.send(()).unwrap();
                            }
                        }
                        Err(e) => panic!("go-winio-style read: {e}"),
                    }
                }
                assert_eq!(request, b"request");
                assert_eq!(raw.write(b"reply"), Ok(5));
                assert_eq!(raw.write(b""), Ok(0), "CloseWrite");
                // The handle stays open until winpipe has read to the end.
                finished.recv().unwrap();
            });
            let mut client = WinStream::connect_with_timeout(&name, Duration::from_secs(5))
                .expect("connect to the go-winio-style server");
            client.write_all(b"request").unwrap();
            // A byte-mode reader sees the end if it comes alone (see docs/guide.md, "Half-close").
            request_read.recv().unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            let mut reply = Vec::new();
            client.read_to_end(&mut reply).unwrap();
            assert_eq!(reply, b"reply");
            done.send(()).unwrap();
            peer.join().unwrap();
        });
    }
}

/// A byte-type server (made by other code) cannot carry the end: `shutdown(Write)`
/// succeeds and refuses later writes, the peer reads what came and sees the end only
/// when the stream is closed.
#[test]
fn a_byte_type_peer_sees_the_end_only_at_the_close() {
    within(LIMIT, || {
        let name = pipe_name("byte_type_end");
        let raw = raw_server(&name, false);
        let client = WinStream::connect_with_timeout(&name, Duration::from_secs(5)).unwrap();
        raw.accept();
        (&client).write_all(b"bytes").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(raw.available(), Ok(5));
        let mut buf = [0u8; 16];
        assert_eq!(raw.read(&mut buf), Ok(5));
        assert_eq!(raw.available(), Ok(0), "nothing came after the bytes");
        drop(client);
        assert_eq!(raw.read(&mut buf), Err(ERROR_BROKEN_PIPE));
    });
}

/// A peer that is gone needs no end: `shutdown` still succeeds.
#[test]
fn shutdown_after_the_peer_left_succeeds() {
    within(LIMIT, || {
        let (_listener, client, server) = bound(&pipe_name("peer_left"));
        drop(server);
        client.shutdown(Shutdown::Write).unwrap();
        assert_eq!((&client).read(&mut [0u8; 4]).unwrap(), 0);
    });
}

/// A client another program made the plain way (`CreateFileA`, synchronous, byte
/// read mode: std's `File`, .NET's default) reads a winpipe server's reply and then
/// `Ok(0)` from its `shutdown(Write)`, while the server still reads what it sends.
#[test]
fn a_plain_synchronous_client_sees_the_servers_end() {
    within(LIMIT, || {
        let name = pipe_name("plain_client_end");
        let listener = WinListener::bind(&name).unwrap();
        let client = thread::spawn({
            let name = name.clone();
            move || {
                let raw = RawEnd::client(&name, Io::Sync).expect("CreateFileA");
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    match raw.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                        Err(e) => panic!("plain read: {e}"),
                    }
                }
                assert_eq!(raw.write(b"thanks"), Ok(6));
                got
            }
        });
        let (mut server, _) = listener.accept().unwrap();
        // The client's read waits when the reply comes, so the end comes alone.
        thread::sleep(SETTLE);
        server.write_all(b"reply").unwrap();
        server.shutdown(Shutdown::Write).unwrap();
        assert_eq!(client.join().unwrap(), b"reply");
        let mut thanks = [0u8; 6];
        server.read_exact(&mut thanks).unwrap();
        assert_eq!(&thanks, b"thanks");
    });
}

/// A client end other code opened (byte read mode, as `CreateFileA` leaves it),
/// wrapped with `From<OwnedHandle>`: winpipe puts it in message read mode, so a peek
/// waiting when the server shuts down sees the end instead of taking the
/// end-of-stream message silently with its zero-byte read (and then waiting forever).
#[test]
fn a_wrapped_foreign_client_end_sees_the_end_while_peeking() {
    within(LIMIT, || {
        let name = pipe_name("wrapped_peek_end");
        let listener = WinListener::bind(&name).unwrap();
        let raw = RawEnd::client(&name, Io::Overlapped).expect("CreateFileA");
        let (server, _) = listener.accept().unwrap();
        let client = WinStream::from(raw.into_owned());
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let peeker = thread::spawn(move || {
            let mut buf = [0u8; 8];
            let peeked = client.peek(&mut buf);
            (client, peeked)
        });
        thread::sleep(SETTLE);
        server.shutdown(Shutdown::Write).unwrap();
        let (client, peeked) = peeker.join().unwrap();
        assert_eq!(peeked.expect("peek at the end"), 0);
        assert_eq!((&client).read(&mut [0u8; 8]).unwrap(), 0);
    });
}

/// Writers racing a shutdown (`Write` or `Both`): every byte a write reported (timed
/// writes report exactly) reaches the reader before the end, and none after it; the
/// end comes once the write in flight has stopped, never before a write's bytes.
#[test]
fn writers_racing_a_shutdown_lose_nothing_before_the_end() {
    within(LIMIT, || {
        for round in 0..60u64 {
            let (a, mut b) = WinStream::pair().unwrap();
            a.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
            let writers: Vec<_> = (0..2)
                .map(|_| {
                    let a = a.try_clone().unwrap();
                    thread::spawn(move || {
                        let chunk = [7u8; 3000];
                        let mut reported = 0usize;
                        loop {
                            match (&a).write(&chunk) {
                                Ok(n) => reported += n,
                                Err(e) => {
                                    assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{e}");
                                    return reported;
                                }
                            }
                        }
                    })
                })
                .collect();
            let reader = thread::spawn(move || {
                let mut got = Vec::new();
                b.read_to_end(&mut got).unwrap();
                got.len()
            });
            thread::sleep(Duration::from_millis(5 + round % 7 * 5));
            let how = [Shutdown::Write, Shutdown::Both][round as usize % 2];
            a.shutdown(how).unwrap();
            let reported: usize = writers.into_iter().map(|w| w.join().unwrap()).sum();
            let read = reader.join().unwrap();
            assert_eq!(read, reported, "round {round}: bytes read before the end");
        }
    });
}
