//! A peer process killed (`TerminateProcess`) in the middle of a transfer, once as the
//! client and once as the server: the survivor's blocked read returns end of stream and
//! its blocked write `BrokenPipe`, each within 1 s of the kill (the bound of issue 6);
//! every byte read is one the peer wrote, in order; the listener keeps serving.
//!
//! The peer is this test executable started again as a child role. It exchanges a
//! known amount with the test, says it is ready, then either keeps writing (`writing`:
//! killed inside a write blocked on a full pipe) or waits on its stdin (`idle`: the
//! survivor's read has nothing to return until the kill).
#![cfg_attr(not(windows), allow(dead_code, unused_imports))]

mod common;
#[cfg(windows)]
#[path = "common/peer.rs"]
mod peer;

#[cfg(not(windows))]
fn main() {}

#[cfg(windows)]
fn main() {
    common::process::main(
        &[
            ("killed_client_while_writing", || killed_client("writing")),
            ("killed_client_while_idle", || killed_client("idle")),
            ("killed_server_while_writing", || killed_server("writing")),
            ("killed_server_while_idle", || killed_server("idle")),
        ],
        &[("client", client_role), ("server", server_role)],
    );
}

use std::io::{ErrorKind, Read, Write};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
#[cfg(windows)]
use winpipe::{WinListener, WinStream};

/// The known amount each side sends before the peer is ready: several pipe buffers.
const KNOWN: usize = 1 << 20;
/// The bound between the kill and the survivor's blocked calls returning.
const AFTER_KILL: Duration = Duration::from_secs(1);
/// How long the survivor's calls are left blocked before the kill.
const LET_IT_BLOCK: Duration = Duration::from_millis(300);
/// Chunk of the survivor's writes.
const CHUNK: usize = 16 * 1024;

/// The byte at offset `i` of what each side writes.
fn pattern_byte(i: usize) -> u8 {
    (i % 251) as u8
}

fn pattern(start: usize, len: usize) -> Vec<u8> {
    (start..start + len).map(pattern_byte).collect()
}

/// Reads exactly `len` bytes and checks they are the pattern from `start`.
#[cfg(windows)]
fn read_pattern(mut stream: &WinStream, start: usize, len: usize) {
    let mut buf = vec![0; len];
    stream.read_exact(&mut buf).expect("read the known amount");
    assert!(
        buf == pattern(start, len),
        "the known amount arrived changed"
    );
}

/// What a child does once connected: the known exchange, then `writing` or `idle`.
#[cfg(windows)]
fn peer_part(stream: WinStream, mode: &str) {
    (&stream).write_all(&pattern(0, KNOWN)).unwrap();
    read_pattern(&stream, 0, KNOWN);
    peer::ready();
    match mode {
        "writing" => {
            // Goes on with the pattern until killed: the test stops reading at times,
            // so this blocks in writes on a full pipe.
            let mut offset = KNOWN;
            loop {
                (&stream).write_all(&pattern(offset, CHUNK)).unwrap();
                offset += CHUNK;
            }
        }
        _ => peer::idle(),
    }
}

#[cfg(windows)]
fn client_role(args: &[String]) {
    peer_part(WinStream::connect(&args[0]).unwrap(), &args[1]);
}

#[cfg(windows)]
fn server_role(args: &[String]) {
    let listener = WinListener::bind(&args[0]).unwrap();
    let (stream, _) = listener.accept().unwrap();
    peer_part(stream, &args[1]);
}

/// How a survivor's call ended and when.
#[cfg(windows)]
struct Ended<T> {
    result: std::io::Result<T>,
    at: Instant,
}

/// The survivor's side of the known exchange, then a reader and a writer thread
/// blocked on the pipe when the peer is killed. Checks what they return and how soon.
#[cfg(windows)]
fn survive(stream: WinStream, mut peer: peer::Peer, mode: &str) {
    read_pattern(&stream, 0, KNOWN);
    (&stream).write_all(&pattern(0, KNOWN)).unwrap();
    peer.wait_ready();

    let stream = std::sync::Arc::new(stream);
    // Reads to the end, checking every byte continues the peer's pattern.
    let (read_tx, read_rx) = mpsc::channel();
    let reader = stream.clone();
    thread::spawn(move || {
        let mut offset = KNOWN;
        let mut buf = vec![0; 64 * 1024];
        let result = loop {
            match (&*reader).read(&mut buf) {
                Ok(0) => break Ok(offset - KNOWN),
                Ok(n) => {
                    assert!(buf[..n] == pattern(offset, n), "bytes changed at {offset}");
                    offset += n;
                }
                Err(e) => break Err(e),
            }
        };
        let _ = read_tx.send(Ended {
            result,
            at: Instant::now(),
        });
    });
    // Writes until the pipe refuses: the peer never reads now, so this blocks once
    // the pipe is full.
    let (write_tx, write_rx) = mpsc::channel();
    let writer = stream.clone();
    thread::spawn(move || {
        let chunk = pattern(0, CHUNK);
        let result = loop {
            if let Err(e) = (&*writer).write(&chunk) {
                break Err::<(), _>(e);
            }
        };
        let _ = write_tx.send(Ended {
            result,
            at: Instant::now(),
        });
    });

    thread::sleep(LET_IT_BLOCK);
    assert!(
        read_rx.try_recv().is_err(),
        "the read ended before the kill"
    );
    assert!(
        write_rx.try_recv().is_err(),
        "the write ended before the kill"
    );
    let killed = peer.kill();

    let read = read_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the blocked read did not return after the kill");
    let write = write_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the blocked write did not return after the kill");
    let (read_took, write_took) = (read.at - killed, write.at - killed);
    eprintln!(
        "  {mode}: read returned {:?} {read_took:.2?} after the kill, write {:?} {write_took:.2?}",
        read.result, write.result
    );
    let tail = read.result.expect("the read after the kill failed");
    if mode == "idle" {
        assert_eq!(tail, 0, "an idle peer wrote after the known amount");
    }
    let err = write.result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe, "write: {err:?}");
    assert!(
        read_took <= AFTER_KILL,
        "read took {read_took:?} after the kill"
    );
    assert!(
        write_took <= AFTER_KILL,
        "write took {write_took:?} after the kill"
    );
    // And the stream stays at its end.
    assert_eq!((&*stream).read(&mut [0; 8]).unwrap(), 0);
    assert_eq!(
        (&*stream).write(b"x").unwrap_err().kind(),
        ErrorKind::BrokenPipe
    );
}

/// One request and answer with an in-process client, through `listener`.
#[cfg(windows)]
fn serves_a_new_client(listener: &WinListener, name: &str) {
    let mut client = WinStream::connect(name).expect("connect after the kill");
    let (mut server, _) = listener.accept().expect("accept after the kill");
    client.write_all(b"still there?").unwrap();
    let mut buf = [0; 12];
    server.read_exact(&mut buf).unwrap();
    server.write_all(b"yes").unwrap();
    client.read_exact(&mut buf[..3]).unwrap();
    assert_eq!(&buf[..3], b"yes");
}

#[cfg(windows)]
fn killed_client(mode: &str) {
    let name = common::pipe_name(&format!("killed_client_{mode}"));
    let listener = WinListener::bind(&name).unwrap();
    let peer = peer::Peer::start("client", &[&name, mode]);
    let (stream, _) = listener.accept().unwrap();
    survive(stream, peer, mode);
    assert!(listener.take_error().unwrap().is_none());
    // The listener goes on: a new client, then a new child client.
    serves_a_new_client(&listener, &name);
    let mut again = peer::Peer::start("client", &[&name, "idle"]);
    let (stream, _) = listener.accept().unwrap();
    read_pattern(&stream, 0, KNOWN);
    (&stream).write_all(&pattern(0, KNOWN)).unwrap();
    again.wait_ready();
}

#[cfg(windows)]
fn killed_server(mode: &str) {
    let name = common::pipe_name(&format!("killed_server_{mode}"));
    let peer = peer::Peer::start("server", &[&name, mode]);
    // connect waits for the child to bind.
    let stream = WinStream::connect(&name).unwrap();
    survive(stream, peer, mode);
    // The dead server's instances are gone with it: the name can be bound again.
    let listener = WinListener::bind(&name).expect("bind the dead server's name");
    serves_a_new_client(&listener, &name);
}
