//! Completion ports: code in the same process may associate a duplicate of a stream's
//! handle (the same file object) with an I/O completion port, as mio and tokio do.
//! A completion of winpipe's own calls must never be queued there: the packet would
//! carry a pointer into winpipe's OVERLAPPED, which such code casts to its own types.
#![cfg(windows)]

mod common;

use common::win32::{duplicate, Port, RawEnd, SETTLE};
use common::{within, LIMIT};
use std::io::{ErrorKind, Read, Write};
use std::os::windows::io::AsRawHandle;
use std::thread;
use std::time::Duration;
use winpipe::WinStream;

/// Blocking, timed-out, nonblocking and peeking calls on both ends of a pair whose
/// handles are associated (through duplicates) with completion ports: no packet.
#[test]
fn no_completion_of_winpipe_calls_reaches_a_port_on_a_duplicate_handle() {
    within(LIMIT, || {
        let (a, b) = WinStream::pair().unwrap();
        let dup_a = duplicate(a.as_raw_handle());
        let dup_b = duplicate(b.as_raw_handle());
        let port_a = Port::on(&dup_a);
        let port_b = Port::on(&dup_b);

        // Blocking I/O both ways, a read that has to wait for its data.
        let reader = thread::spawn(move || {
            let mut buf = [0; 5];
            (&b).read_exact(&mut buf).unwrap();
            (&b).write_all(b"pong!").unwrap();
            b
        });
        thread::sleep(SETTLE);
        (&a).write_all(b"ping!").unwrap();
        let mut buf = [0; 5];
        (&a).read_exact(&mut buf).unwrap();
        let b = reader.join().unwrap();

        // A read that times out (the engine cancels it) and a peek that times out.
        a.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        assert_eq!((&a).read(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut);
        assert_eq!(a.peek(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut);
        // Writes that time out on a full pipe.
        b.set_write_timeout(Some(Duration::from_millis(30)))
            .unwrap();
        let chunk = vec![1u8; 16 * 1024];
        let mut timed_out = false;
        for _ in 0..64 {
            match (&b).write(&chunk) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::TimedOut => {
                    timed_out = true;
                    break;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(timed_out, "the pipe never filled");
        // Nonblocking calls that would block.
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        assert_eq!(
            (&b).write(&chunk).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        let mut drained = vec![0u8; 1 << 20];
        while let Ok(n) = (&a).read(&mut drained) {
            assert!(n > 0);
        }

        thread::sleep(SETTLE);
        assert_eq!(port_a.drain(), vec![], "packets from a's calls");
        assert_eq!(port_b.drain(), vec![], "packets from b's calls");
    });
}

/// The ports above do receive packets: an overlapped read issued through the
/// duplicate with a plain event is queued when it completes. (Without this the test
/// above could pass on a system that queues nothing.)
#[test]
fn a_port_on_a_duplicate_handle_receives_other_code_completions() {
    within(LIMIT, || {
        let (a, b) = WinStream::pair().unwrap();
        let dup = duplicate(a.as_raw_handle());
        let port = Port::on(&dup);
        let foreign = RawEnd {
            handle: dup.as_raw_handle() as _,
            io: common::win32::Io::Overlapped,
        };
        (&b).write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        assert_eq!(foreign.read(&mut one), Ok(1));
        std::mem::forget(foreign); // `dup` owns the handle
        thread::sleep(SETTLE);
        let packets = port.drain();
        assert_eq!(packets.len(), 1, "{packets:?}");
        assert_eq!(packets[0].0, 1);
        assert_eq!(packets[0].1, 7);
    });
}
