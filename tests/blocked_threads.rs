//! Threads blocked in a call are woken by another thread: `shutdown` wakes blocked
//! reads and writes, and a blocked `accept` is stopped the ways `WinListener::accept`'s docs recommend
//! (std's `UnixListener` has no `shutdown`, and the accepting thread holds a clone, so
//! "all clones dropped" cannot happen while it waits).
//!
//! Already in `stream_io.rs`: `shutdown(Read)`, `set_read_timeout` and
//! `set_nonblocking` waking a blocked read; in `listener_connect.rs`:
//! `set_nonblocking(true)` on a clone waking a blocked accept with `WouldBlock`.
#![cfg(windows)]

mod common;

use common::{pipe_name, within, LIMIT};
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};
use winpipe::{WinListener, WinStream};

/// How long a call is left blocked before it is woken.
const LET_IT_BLOCK: Duration = Duration::from_millis(300);
/// The bound for a woken call to return.
const WAKE: Duration = Duration::from_secs(1);

/// Runs `f` on a thread; the receiver gets its result and the moment it returned.
fn spawn_timed<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> mpsc::Receiver<(T, Instant)> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let value = f();
        let _ = tx.send((value, Instant::now()));
    });
    rx
}

/// Waits for a woken call and checks it returned within `WAKE` of `woken_at`.
fn woken<T>(rx: &mpsc::Receiver<(T, Instant)>, woken_at: Instant, what: &str) -> T {
    let (value, at) = rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what} was not woken"));
    let took = at.saturating_duration_since(woken_at);
    assert!(took <= WAKE, "{what} returned {took:?} after it was woken");
    value
}

/// `shutdown(Both)` from a third thread wakes a read blocked with no data and a write
/// blocked on a full pipe, on two clones of the stream: end of stream and
/// `BrokenPipe`.
#[test]
fn shutdown_wakes_a_blocked_read_and_a_blocked_write() {
    within(LIMIT, || {
        let (a, _b) = WinStream::pair().unwrap();
        let reader = a.try_clone().unwrap();
        let writer = a.try_clone().unwrap();
        let read = spawn_timed(move || (&reader).read(&mut [0; 64]));
        let write = spawn_timed(move || {
            let chunk = [5u8; 16 * 1024];
            loop {
                if let Err(e) = (&writer).write(&chunk) {
                    return e;
                }
            }
        });
        thread::sleep(LET_IT_BLOCK);
        assert!(read.try_recv().is_err(), "the read did not block");
        assert!(write.try_recv().is_err(), "the write did not block");
        let at = Instant::now();
        a.shutdown(Shutdown::Both).unwrap();
        assert_eq!(woken(&read, at, "the read").unwrap(), 0);
        let err = woken(&write, at, "the write");
        assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err:?}");
    });
}

/// A server loop stopped the winpipe way: another thread calls `set_nonblocking(true)`
/// on a clone, the blocked accept returns `WouldBlock`, the loop ends and drops its
/// clone; once every clone is dropped the name is free.
#[test]
fn accept_loop_stops_when_a_clone_turns_nonblocking() {
    within(LIMIT, || {
        let name = pipe_name("accept_loop_stops_nonblocking");
        let listener = WinListener::bind(&name).unwrap();
        let server = listener.try_clone().unwrap();
        let served = spawn_timed(move || {
            let mut served = 0;
            for stream in server.incoming() {
                match stream {
                    Ok(mut stream) => {
                        stream.write_all(b"hi").unwrap();
                        served += 1;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return served,
                    Err(e) => panic!("accept: {e:?}"),
                }
            }
            unreachable!("incoming never ends")
        });
        let mut client = WinStream::connect(&name).unwrap();
        let mut buf = [0; 2];
        client.read_exact(&mut buf).unwrap();
        thread::sleep(LET_IT_BLOCK);
        assert!(
            served.try_recv().is_err(),
            "the loop did not block in accept"
        );
        let at = Instant::now();
        listener.set_nonblocking(true).unwrap();
        assert_eq!(woken(&served, at, "the accept loop"), 1);
        drop(listener);
        WinListener::bind(&name).expect("the name is free once every clone is dropped");
    });
}

/// The portable way (it works with std's `UnixListener` too): set a stop flag, then
/// connect once so that the blocked accept returns; the loop sees the flag and ends.
#[test]
fn accept_loop_stops_on_a_flag_and_a_wake_up_connection() {
    within(LIMIT, || {
        let name = pipe_name("accept_loop_stops_flag");
        let listener = WinListener::bind(&name).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let served = spawn_timed(move || {
            let mut served = 0;
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                stream.unwrap().write_all(b"hi").unwrap();
                served += 1;
            }
            served
        });
        let mut client = WinStream::connect(&name).unwrap();
        client.read_exact(&mut [0; 2]).unwrap();
        thread::sleep(LET_IT_BLOCK);
        assert!(
            served.try_recv().is_err(),
            "the loop did not block in accept"
        );
        let at = Instant::now();
        stop.store(true, Ordering::SeqCst);
        let _wake = WinStream::connect(&name).unwrap();
        assert_eq!(woken(&served, at, "the accept loop"), 1);
        WinListener::bind(&name).expect("the name is free once the loop dropped it");
    });
}
