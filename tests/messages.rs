//! `WinMessageStream` and `WinMessageListener`: every send arrives as one receive,
//! whole and in order, between winpipe ends and against message-mode peers other code
//! made; timeouts, nonblocking mode, shutdown and clones take nothing and split nothing.
#![cfg(windows)]

mod common;

use common::win32::{under_wine, Io, RawEnd, Shape};
use common::{pipe_name, within, LIMIT};
use std::io::{ErrorKind, IoSlice, IoSliceMut, Read};
use std::net::Shutdown;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use winpipe::{ListenerOptions, WinMessageListener, WinMessageStream, WinStream};

/// A listener on `name`, a client connected to it and the accepted server end.
fn bound(name: &str) -> (WinMessageListener, WinMessageStream, WinMessageStream) {
    bound_with(name, &ListenerOptions::new())
}

fn bound_with(
    name: &str,
    options: &ListenerOptions,
) -> (WinMessageListener, WinMessageStream, WinMessageStream) {
    let listener = options
        .bind_messages(name)
        .unwrap_or_else(|e| panic!("bind {name}: {e:?}"));
    let client = WinMessageStream::connect_with_timeout(name, Duration::from_secs(5)).unwrap();
    let (server, _) = listener.accept().expect("accept");
    (listener, client, server)
}

/// A message of `len` bytes that says which message it is at every byte.
fn message(index: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (index * 31 + i * 7) as u8).collect()
}

/// Receives every message until the end of the stream.
fn all_messages(stream: &WinMessageStream) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    loop {
        let mut msg = Vec::new();
        match stream.recv_message(&mut msg).expect("recv_message") {
            Some(len) => {
                assert_eq!(len, msg.len());
                got.push(msg);
            }
            None => return got,
        }
    }
}

#[test]
fn messages_of_every_size_arrive_whole_and_in_order() {
    within(LIMIT, || {
        let name = pipe_name("messages-every-size");
        let (_listener, client, server) = bound(&name);
        // Empty, tiny, the buffer's size and past it, and far past it.
        let sizes = [0, 1, 100, 4096, 65_536, 65_537, 300_000, 0, 3];
        let sent: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| message(i, n))
            .collect();
        let to_send = sent.clone();
        let sender = thread::spawn(move || {
            for msg in &to_send {
                assert_eq!(client.send(msg).unwrap(), msg.len());
            }
        });
        let mut got = Vec::new();
        for _ in 0..sent.len() {
            let mut msg = Vec::new();
            let len = server.recv_message(&mut msg).unwrap().expect("a message");
            assert_eq!(len, msg.len());
            got.push(msg);
        }
        sender.join().unwrap();
        assert_eq!(got.len(), sent.len());
        for (i, (got, sent)) in got.iter().zip(&sent).enumerate() {
            assert!(
                got == sent,
                "message {i}: {} bytes, sent {}",
                got.len(),
                sent.len()
            );
        }
        // The client is gone: the end of the stream, for good.
        assert_eq!(server.recv_message(&mut Vec::new()).unwrap(), None);
        assert_eq!(server.recv(&mut [0; 8]).unwrap(), 0);
    });
}

#[test]
fn recv_discards_the_rest_of_a_longer_message() {
    within(LIMIT, || {
        let (a, b) = WinMessageStream::pair().unwrap();
        // Longer than the pipe's buffer: the last send waits for the receives.
        let sender = thread::spawn(move || {
            a.send(b"hello world").unwrap();
            a.send(&message(1, 100_000)).unwrap();
            a.send(b"next").unwrap();
        });
        let mut five = [0; 5];
        assert_eq!(b.recv(&mut five).unwrap(), 5);
        assert_eq!(&five, b"hello");
        // A buffer of 0 bytes takes a whole message too.
        assert_eq!(b.recv(&mut []).unwrap(), 0);
        let mut buf = [0; 16];
        assert_eq!(b.recv(&mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"next");
        sender.join().unwrap();
    });
}

#[test]
fn recv_vectored_fills_the_slices_and_says_whether_the_message_was_cut() {
    within(LIMIT, || {
        let (a, b) = WinMessageStream::pair().unwrap();
        let parts = [IoSlice::new(b"ab"), IoSlice::new(b""), IoSlice::new(b"cde")];
        assert_eq!(a.send_vectored(&parts).unwrap(), 5);
        a.send(b"0123456789").unwrap();
        let (mut x, mut y) = ([0; 3], [0; 3]);
        let got = b
            .recv_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
            .unwrap();
        assert_eq!(got, (5, false), "one message of five bytes, whole");
        assert_eq!((&x, &y[..2]), (b"abc", &b"de"[..]));
        let got = b
            .recv_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
            .unwrap();
        assert_eq!(got, (6, true), "ten bytes into six: truncated");
        assert_eq!((&x, &y), (b"012", b"345"));
    });
}

#[test]
fn an_empty_message_is_a_message_and_the_close_is_the_end() {
    within(LIMIT, || {
        let (a, b) = WinMessageStream::pair().unwrap();
        a.send(b"").unwrap();
        a.send(b"").unwrap();
        a.send(b"x").unwrap();
        assert_eq!(b.recv_message(&mut Vec::new()).unwrap(), Some(0));
        assert_eq!(b.recv(&mut [0; 4]).unwrap(), 0, "the second empty message");
        let mut x = Vec::new();
        assert_eq!(b.recv_message(&mut x).unwrap(), Some(1));
        assert_eq!(x, b"x");
        drop(a);
        assert_eq!(b.recv_message(&mut Vec::new()).unwrap(), None);
        assert_eq!(b.peek(&mut [0; 4]).unwrap(), 0);
    });
}

#[test]
fn peek_shows_the_next_message_without_taking_it() {
    within(LIMIT, || {
        let (a, b) = WinMessageStream::pair().unwrap();
        a.send(b"first message").unwrap();
        a.send(b"second").unwrap();
        let mut five = [0; 5];
        assert_eq!(b.peek(&mut five).unwrap(), 5);
        assert_eq!(&five, b"first");
        let mut big = [0; 64];
        assert_eq!(b.peek(&mut big).unwrap(), 13, "the first message only");
        assert_eq!(b.recv(&mut big).unwrap(), 13);
        assert_eq!(&big[..13], b"first message");
        assert_eq!(b.recv(&mut big).unwrap(), 6);
        // A peek waits for a message, as a receive does.
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            a.send(b"late").unwrap();
            a
        });
        assert_eq!(b.peek(&mut big).unwrap(), 4);
        assert_eq!(b.recv(&mut big).unwrap(), 4);
        assert_eq!(&big[..4], b"late");
        sender.join().unwrap();
    });
}

/// An empty message alone in the queue: Windows counts it (FSCTL_PIPE_PEEK), Wine
/// does not and the peek's zero-byte read takes it; either way the peek says `Ok(0)`
/// and the next receive returns it once, before what follows.
#[test]
fn a_peek_at_an_empty_message_leaves_it_to_the_next_receive() {
    within(LIMIT, || {
        let (a, b) = WinMessageStream::pair().unwrap();
        a.send(b"").unwrap();
        assert_eq!(b.peek(&mut [0; 8]).unwrap(), 0);
        assert_eq!(b.peek(&mut [0; 8]).unwrap(), 0, "peeked again: still there");
        a.send(b"after").unwrap();
        assert_eq!(b.recv_message(&mut Vec::new()).unwrap(), Some(0));
        let mut after = Vec::new();
        assert_eq!(b.recv_message(&mut after).unwrap(), Some(5));
        assert_eq!(after, b"after");
        // An empty message that comes while the peek waits.
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            a.send(b"").unwrap();
            a.send(b"then").unwrap();
            a
        });
        assert_eq!(b.peek(&mut [0; 8]).unwrap(), 0);
        let a = sender.join().unwrap();
        assert_eq!(b.recv(&mut [0; 8]).unwrap(), 0, "the empty message");
        let mut then = [0; 8];
        assert_eq!(b.recv(&mut then).unwrap(), 4);
        assert_eq!(&then[..4], b"then");
        drop(a);
    });
}

#[test]
fn receives_that_time_out_or_would_block_take_nothing() {
    within(LIMIT, || {
        let (a, b) = WinMessageStream::pair().unwrap();
        b.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let start = Instant::now();
        let err = b.recv(&mut [0; 8]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(90));
        let err = b.recv_message(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert_eq!(b.peek(&mut [0; 8]).unwrap_err().kind(), ErrorKind::TimedOut);
        b.set_nonblocking(true).unwrap();
        assert_eq!(
            b.recv(&mut [0; 8]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        assert_eq!(
            b.peek(&mut [0; 8]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        let mut kept = b"kept".to_vec();
        let err = b.recv_message(&mut kept).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        assert_eq!(kept, b"kept", "nothing appended on an error");
        a.send(&message(7, 10_000)).unwrap();
        b.set_nonblocking(false).unwrap();
        assert_eq!(b.recv_message(&mut kept).unwrap(), Some(10_000));
        assert!(kept[4..] == message(7, 10_000)[..], "appended whole");
    });
}

/// With a send timeout and a peer that does not read, every send either goes whole
/// or fails and sends nothing: the peer then receives exactly the sends that said
/// `Ok`, each whole.
#[test]
fn timed_sends_into_a_full_pipe_go_whole_or_not_at_all() {
    within(LIMIT, || {
        let name = pipe_name("messages-timed-full");
        let mut options = ListenerOptions::new();
        options.in_buffer_size(4096).out_buffer_size(4096);
        let (_listener, client, server) = bound_with(&name, &options);
        client
            .set_write_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut sent = Vec::new();
        let mut timed_out = 0;
        for i in 0..40 {
            let msg = message(i, 700 + i * 97);
            match client.send(&msg) {
                Ok(n) => {
                    assert_eq!(n, msg.len());
                    sent.push(msg);
                }
                Err(e) if e.kind() == ErrorKind::TimedOut => timed_out += 1,
                Err(e) => panic!("send {i}: {e:?}"),
            }
        }
        // Longer than the pipe's buffer, to a peer that is not receiving.
        let err = client.send(&message(99, 20_000)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(
            timed_out > 0,
            "a 4 KiB pipe took all of {} bytes",
            40 * 2600
        );
        drop(client);
        let got = all_messages(&server);
        assert_eq!(got.len(), sent.len(), "{timed_out} sends timed out");
        for (i, (got, sent)) in got.iter().zip(&sent).enumerate() {
            assert!(
                got == sent,
                "message {i}: {} bytes, sent {}",
                got.len(),
                sent.len()
            );
        }
    });
}

/// A message longer than the pipe's buffer, sent with a timeout, to a peer whose
/// receive is waiting: Windows moves it whole into the receive (PIPE_NOWAIT), so there
/// it must arrive; Wine would split it there, so winpipe does not try it and the send
/// times out. Either way it is never cut.
#[test]
fn a_timed_send_longer_than_the_buffer_to_a_waiting_receive_is_whole_or_nothing() {
    within(LIMIT, || {
        let name = pipe_name("messages-timed-long");
        let mut options = ListenerOptions::new();
        options.in_buffer_size(4096).out_buffer_size(4096);
        let (_listener, client, server) = bound_with(&name, &options);
        let receiver = thread::spawn(move || {
            let mut buf = vec![0; 16_384];
            server
                .set_read_timeout(Some(Duration::from_secs(3)))
                .unwrap();
            let got = server.recv_vectored(&mut [IoSliceMut::new(&mut buf)]);
            (got.map(|(n, cut)| (buf[..n].to_vec(), cut)), server)
        });
        thread::sleep(Duration::from_millis(200));
        client
            .set_write_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let msg = message(3, 10_000);
        match client.send(&msg) {
            Ok(n) => {
                assert_eq!(n, msg.len());
                let (got, _) = receiver.join().unwrap();
                assert_eq!(got.unwrap(), (msg, false));
            }
            Err(e) => {
                assert!(
                    under_wine(),
                    "Windows moves it into the waiting receive: {e:?}"
                );
                assert_eq!(e.kind(), ErrorKind::TimedOut, "{e:?}");
                let (got, _server) = receiver.join().unwrap();
                let err = got.expect_err("nothing of a send that timed out");
                assert_eq!(err.kind(), ErrorKind::TimedOut);
            }
        }
    });
}

#[test]
fn a_nonblocking_send_that_fits_goes_and_one_that_does_not_would_block() {
    within(LIMIT, || {
        let name = pipe_name("messages-nonblocking-send");
        let mut options = ListenerOptions::new();
        options.in_buffer_size(4096).out_buffer_size(4096);
        let (_listener, client, server) = bound_with(&name, &options);
        client.set_nonblocking(true).unwrap();
        assert_eq!(client.send(b"fits").unwrap(), 4);
        assert_eq!(client.send(b"").unwrap(), 0);
        let err = client.send(&message(1, 50_000)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        drop(client);
        assert_eq!(all_messages(&server), vec![b"fits".to_vec(), Vec::new()]);
    });
}

#[test]
fn shutdown_write_stops_sends_and_sends_the_peer_nothing() {
    within(LIMIT, || {
        let (a, b) = WinMessageStream::pair().unwrap();
        a.send(b"before").unwrap();
        a.shutdown(Shutdown::Write).unwrap();
        let err = a.send(b"after").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
        let mut got = Vec::new();
        assert_eq!(b.recv_message(&mut got).unwrap(), Some(6));
        b.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let err = b.recv_message(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "no end-of-stream message");
        // The shut end still receives.
        b.send(b"reply").unwrap();
        assert_eq!(a.recv(&mut [0; 8]).unwrap(), 5);
    });
}

#[test]
fn shutdown_read_wakes_a_blocked_receive_with_the_end() {
    within(LIMIT, || {
        let (a, b) = WinMessageStream::pair().unwrap();
        let clone = b.try_clone().unwrap();
        let blocked = thread::spawn(move || clone.recv_message(&mut Vec::new()));
        thread::sleep(Duration::from_millis(100));
        b.shutdown(Shutdown::Read).unwrap();
        assert_eq!(blocked.join().unwrap().unwrap(), None);
        a.send(b"unread").unwrap();
        assert_eq!(b.recv(&mut [0; 8]).unwrap(), 0);
        assert_eq!(b.peek(&mut [0; 8]).unwrap(), 0);
    });
}

/// Clones receiving at once (each receive takes its turn): every message reaches
/// exactly one of them, whole.
#[test]
fn clones_receiving_at_once_get_each_message_once_and_whole() {
    within(LIMIT, || {
        let (a, b) = WinMessageStream::pair().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let stream = b.try_clone().unwrap();
                let got = got.clone();
                thread::spawn(move || {
                    let mut msg = Vec::new();
                    while stream.recv_message(&mut msg).unwrap().is_some() {
                        got.lock().unwrap().push(std::mem::take(&mut msg));
                    }
                })
            })
            .collect();
        let sent: Vec<Vec<u8>> = (0..300).map(|i| message(i, 1 + (i * 389) % 9000)).collect();
        for msg in &sent {
            a.send(msg).unwrap();
        }
        drop(a);
        for reader in readers {
            reader.join().unwrap();
        }
        let mut got = got.lock().unwrap().clone();
        let mut sent = sent;
        got.sort();
        sent.sort();
        assert!(
            got == sent,
            "{} messages received of {}",
            got.len(),
            sent.len()
        );
    });
}

#[test]
fn a_win_stream_reads_the_bytes_of_a_message_stream() {
    within(LIMIT, || {
        let name = pipe_name("messages-byte-reader");
        let listener = WinMessageListener::bind(&name).unwrap();
        let mut client = WinStream::connect_with_timeout(&name, Duration::from_secs(5)).unwrap();
        let (server, _) = listener.accept().unwrap();
        // Longer than the pipe's buffer: the send waits for the reads.
        let sender = thread::spawn(move || {
            server.send(b"ab").unwrap();
            server.send(&message(2, 70_000)).unwrap();
            server.send(b"cd").unwrap();
        });
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        sender.join().unwrap();
        let mut expected = b"ab".to_vec();
        expected.extend(message(2, 70_000));
        expected.extend(b"cd");
        assert!(
            got == expected,
            "{} bytes, expected {}",
            got.len(),
            expected.len()
        );
    });
}

#[test]
fn a_message_stream_cannot_connect_to_a_byte_type_pipe() {
    within(LIMIT, || {
        let name = pipe_name("messages-byte-server");
        let shape = Shape {
            io: Io::Overlapped,
            message: false,
            buffer: 4096,
        };
        let _server = RawEnd::server(&name, shape);
        let err = WinMessageStream::connect_with_timeout(&name, Duration::from_secs(5))
            .expect_err("a byte-type pipe keeps no messages");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("message-type"), "{err}");
    });
}

/// A message server made with Kernel32 (512-byte buffers, overlapped): it reads our
/// messages one per read, and its writes longer than its buffer arrive whole.
#[test]
fn a_raw_win32_message_server_and_a_message_client() {
    within(LIMIT, || {
        let name = pipe_name("messages-raw-server");
        let shape = Shape {
            io: Io::Overlapped,
            message: true,
            buffer: 512,
        };
        let server = RawEnd::server(&name, shape);
        let connecting = {
            let name = name.clone();
            thread::spawn(move || WinMessageStream::connect_with_timeout(&name, LIMIT).unwrap())
        };
        server.accept();
        let client = connecting.join().unwrap();
        let sent = [message(1, 10), message(2, 0), message(3, 3000)];
        let sending = {
            let client = client.try_clone().unwrap();
            let sent = sent.clone();
            thread::spawn(move || {
                sent.iter()
                    .for_each(|m| assert_eq!(client.send(m).unwrap(), m.len()))
            })
        };
        for msg in &sent {
            let mut buf = vec![0; 8192];
            let n = server.read(&mut buf).unwrap();
            assert!(buf[..n] == msg[..], "{n} bytes, sent {}", msg.len());
        }
        sending.join().unwrap();
        let reply = message(4, 5000);
        let writing = {
            let reply = reply.clone();
            thread::spawn(move || {
                assert_eq!(server.write(&reply).unwrap(), reply.len());
                assert_eq!(server.write(b"").unwrap(), 0);
                server
            })
        };
        let mut got = Vec::new();
        assert_eq!(client.recv_message(&mut got).unwrap(), Some(5000));
        assert!(got == reply);
        assert_eq!(client.recv_message(&mut Vec::new()).unwrap(), Some(0));
        drop(writing.join().unwrap());
        assert_eq!(client.recv_message(&mut Vec::new()).unwrap(), None);
    });
}

/// A client end made with Kernel32 and handed over as an `OwnedHandle`: it is put in
/// message read mode at its first receive.
#[test]
fn a_wrapped_raw_client_end_receives_messages() {
    within(LIMIT, || {
        let name = pipe_name("messages-wrapped-client");
        let listener = WinMessageListener::bind(&name).unwrap();
        let raw = RawEnd::client(&name, Io::Overlapped).unwrap();
        let (server, _) = listener.accept().unwrap();
        let client = WinMessageStream::from(raw.into_owned());
        server.send(b"one").unwrap();
        server.send(b"two!").unwrap();
        let mut buf = [0; 2];
        assert_eq!(client.recv(&mut buf).unwrap(), 2);
        let mut rest = Vec::new();
        assert_eq!(client.recv_message(&mut rest).unwrap(), Some(4));
        assert_eq!(rest, b"two!");
        client.send(b"back").unwrap();
        assert_eq!(server.recv(&mut buf).unwrap(), 2);
        assert!(format!("{client:?}").contains("WinMessageStream"));
    });
}

#[test]
fn incoming_accepts_message_streams() {
    within(LIMIT, || {
        let name = pipe_name("messages-incoming");
        let listener = WinMessageListener::bind(&name).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(std::path::Path::new(&name))
        );
        let clients: Vec<_> = (0..3)
            .map(|i| {
                let name = name.clone();
                thread::spawn(move || {
                    let c = WinMessageStream::connect_with_timeout(&name, LIMIT).unwrap();
                    c.send(&[i as u8; 3]).unwrap();
                    c.recv(&mut [0; 1]).unwrap()
                })
            })
            .collect();
        let mut seen = Vec::new();
        for stream in listener.incoming().take(3) {
            let stream = stream.unwrap();
            let mut buf = [0; 8];
            assert_eq!(stream.recv(&mut buf).unwrap(), 3);
            seen.push(buf[0]);
            stream.send(b"k").unwrap();
        }
        for client in clients {
            assert_eq!(client.join().unwrap(), 1);
        }
        seen.sort();
        assert_eq!(seen, [0, 1, 2]);
    });
}

/// tokio's message-mode server (`PipeMode::Message`, as other Rust programs make
/// them): each of its reads gets one of our messages, and each of its writes arrives
/// as one of our receives.
#[test]
fn a_tokio_message_mode_server_and_a_message_client() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::windows::named_pipe::{PipeMode, ServerOptions};
    within(LIMIT, || {
        let name = pipe_name("messages-tokio-server");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        let mut server = {
            let _entered = runtime.enter();
            ServerOptions::new()
                .pipe_mode(PipeMode::Message)
                .first_pipe_instance(true)
                .create(&name)
                .unwrap()
        };
        let client = {
            let name = name.clone();
            thread::spawn(move || {
                let client = WinMessageStream::connect_with_timeout(&name, LIMIT).unwrap();
                client.send(b"first").unwrap();
                client.send(b"").unwrap();
                client.send(&message(5, 3000)).unwrap();
                let mut replies = Vec::new();
                for _ in 0..2 {
                    let mut reply = Vec::new();
                    client.recv_message(&mut reply).unwrap().expect("a reply");
                    replies.push(reply);
                }
                replies
            })
        };
        runtime.block_on(async {
            server.connect().await.unwrap();
            let mut buf = vec![0; 8192];
            for expected in [b"first".to_vec(), Vec::new(), message(5, 3000)] {
                let n = server.read(&mut buf).await.unwrap();
                assert!(
                    buf[..n] == expected[..],
                    "{n} bytes, sent {}",
                    expected.len()
                );
            }
            server.write_all(b"one reply").await.unwrap();
            server.write_all(&message(6, 20_000)).await.unwrap();
        });
        let replies = client.join().unwrap();
        assert_eq!(replies[0], b"one reply");
        assert!(replies[1] == message(6, 20_000));
    });
}

#[test]
fn message_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<WinMessageStream>();
    send_sync::<WinMessageListener>();
}

#[test]
fn a_send_to_a_peer_that_is_gone_is_a_broken_pipe() {
    within(LIMIT, || {
        let (a, b) = WinMessageStream::pair().unwrap();
        drop(b);
        assert_eq!(a.send(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
        assert_eq!(a.send(b"").unwrap_err().kind(), ErrorKind::BrokenPipe);
        assert_eq!(a.recv_message(&mut Vec::new()).unwrap(), None);
    });
}

#[test]
fn a_message_listener_keeps_the_listener_rules_for_names_and_timeouts() {
    within(LIMIT, || {
        let name = pipe_name("messages-in-use");
        let _first = winpipe::WinListener::bind(&name).unwrap();
        let err = WinMessageListener::bind(&name).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
        let (a, _b) = WinMessageStream::pair().unwrap();
        let zero = Some(Duration::ZERO);
        assert_eq!(
            a.set_read_timeout(zero).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            a.set_write_timeout(zero).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        let err = WinMessageStream::connect_with_timeout(&name, Duration::ZERO).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        // Settings are shared with clones.
        let clone = a.try_clone().unwrap();
        a.set_read_timeout(Some(Duration::from_millis(40))).unwrap();
        assert_eq!(
            clone.read_timeout().unwrap(),
            Some(Duration::from_millis(40))
        );
    });
}

/// Setters called from another thread reach a receive and a peek already blocked:
/// a timeout makes them time out, nonblocking mode makes them return `WouldBlock`,
/// and the message sent afterwards is received whole.
#[test]
fn setters_wake_blocked_receives_and_nothing_is_lost() {
    within(LIMIT, || {
        let (a, b) = WinMessageStream::pair().unwrap();
        let b = Arc::new(b);
        let blocked = {
            let b = b.clone();
            thread::spawn(move || b.recv_message(&mut Vec::new()))
        };
        thread::sleep(Duration::from_millis(100));
        b.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let err = blocked.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        b.set_read_timeout(None).unwrap();
        let blocked = {
            let b = b.clone();
            thread::spawn(move || b.peek(&mut [0; 4]))
        };
        thread::sleep(Duration::from_millis(100));
        b.set_nonblocking(true).unwrap();
        assert_eq!(
            blocked.join().unwrap().unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        b.set_nonblocking(false).unwrap();
        a.send(b"whole").unwrap();
        let mut got = Vec::new();
        assert_eq!(b.recv_message(&mut got).unwrap(), Some(5));
        assert_eq!(got, b"whole");
    });
}

/// A send with no timeout waits while the peer does not read; `shutdown(Write)` from
/// another thread stops it with `BrokenPipe`, and the peer, which had not begun the
/// message, never receives any of it.
#[test]
fn shutdown_write_stops_a_blocked_send_that_the_peer_had_not_begun() {
    within(LIMIT, || {
        let name = pipe_name("messages-shutdown-blocked-send");
        let mut options = ListenerOptions::new();
        options.in_buffer_size(4096).out_buffer_size(4096);
        let (_listener, client, server) = bound_with(&name, &options);
        client.send(&message(1, 3000)).unwrap();
        let client = Arc::new(client);
        let blocked = {
            let client = client.clone();
            thread::spawn(move || client.send(&message(2, 50_000)))
        };
        thread::sleep(Duration::from_millis(200));
        assert!(
            !blocked.is_finished(),
            "a 50 KB send into a full 4 KiB pipe"
        );
        client.shutdown(Shutdown::Write).unwrap();
        let err = blocked.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
        drop(client);
        let got = all_messages(&server);
        assert_eq!(got.len(), 1, "only the first message");
        assert!(got[0] == message(1, 3000));
    });
}

#[test]
fn a_wrapped_byte_type_pipe_refuses_message_calls() {
    within(LIMIT, || {
        let name = pipe_name("messages-wrapped-byte");
        let shape = Shape {
            io: Io::Overlapped,
            message: false,
            buffer: 4096,
        };
        let _server = RawEnd::server(&name, shape);
        let raw = RawEnd::client(&name, Io::Overlapped).unwrap();
        let stream = WinMessageStream::from(raw.into_owned());
        for err in [
            stream.send(b"x").unwrap_err(),
            stream.recv(&mut [0; 4]).unwrap_err(),
            stream.peek(&mut [0; 4]).unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
    });
}

/// An empty message at the head with bytes behind it: PeekNamedPipe copies nothing
/// but counts the bytes, and the peek says `Ok(0)` without taking it.
#[test]
fn a_peek_at_an_empty_message_with_data_behind_it() {
    within(LIMIT, || {
        let (a, b) = WinMessageStream::pair().unwrap();
        a.send(b"").unwrap();
        a.send(b"data").unwrap();
        b.set_nonblocking(true).unwrap();
        assert_eq!(b.peek(&mut [0; 8]).unwrap(), 0);
        assert_eq!(b.recv_message(&mut Vec::new()).unwrap(), Some(0));
        let mut buf = [0; 8];
        assert_eq!(b.peek(&mut buf).unwrap(), 4);
        assert_eq!(b.recv(&mut buf).unwrap(), 4);
        assert_eq!(b.peek(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    });
}

/// A send with a timeout or in nonblocking mode to a peer that closed or whose server
/// disconnected the pipe: `BrokenPipe` at once, whether or not the message fits the
/// free buffer (a message that does not fit is never written, so only the pipe's
/// state can say the peer is gone).
#[test]
fn timed_and_nonblocking_sends_to_a_gone_peer_are_a_broken_pipe() {
    within(LIMIT, || {
        for (i, disconnect) in [false, true].into_iter().enumerate() {
            for nonblocking in [false, true] {
                let name = pipe_name(&format!("messages-gone-{i}-{nonblocking}"));
                let shape = Shape {
                    io: Io::Overlapped,
                    message: true,
                    buffer: 1024,
                };
                let server = RawEnd::server(&name, shape);
                let connecting = {
                    let name = name.clone();
                    thread::spawn(move || WinMessageStream::connect_with_timeout(&name, LIMIT))
                };
                server.accept();
                let client = connecting.join().unwrap().unwrap();
                match disconnect {
                    true => server.disconnect().unwrap(),
                    false => drop(server),
                }
                if nonblocking {
                    client.set_nonblocking(true).unwrap();
                } else {
                    client
                        .set_write_timeout(Some(Duration::from_secs(5)))
                        .unwrap();
                }
                for len in [10, 5000] {
                    let start = Instant::now();
                    let err = client.send(&message(1, len)).unwrap_err();
                    let case =
                        format!("disconnect {disconnect}, nonblocking {nonblocking}, {len} B");
                    assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{case}: {err:?}");
                    assert!(start.elapsed() < Duration::from_secs(2), "{case}: waited");
                }
            }
        }
    });
}

/// Every way to bind and connect, the addresses, the listener's settings and the
/// handle traits of the message types.
#[test]
fn every_bind_connect_address_and_handle_call_of_the_message_types() {
    use std::os::windows::io::{AsHandle, AsRawHandle, FromRawHandle, IntoRawHandle};
    use winpipe::{ConnectOptions, WinPipeSocketAddr};
    within(LIMIT, || {
        let name = pipe_name("messages-every-call");
        let addr = WinPipeSocketAddr::from_pathname(&name).unwrap();
        let listener = ListenerOptions::new().bind_messages_addr(&addr).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            addr.as_pathname()
        );
        assert!(listener.take_error().unwrap().is_none());
        assert!(format!("{listener:?}").contains("WinMessageListener"));
        // Endless iterators, as std's `Incoming`.
        assert_eq!(listener.incoming().size_hint(), (usize::MAX, None));
        let bytes = winpipe::WinListener::bind(pipe_name("messages-every-call-bytes")).unwrap();
        assert_eq!(bytes.incoming().size_hint(), (usize::MAX, None));
        // Nonblocking accept with nobody there, from a clone.
        let clone = listener.try_clone().unwrap();
        clone.set_nonblocking(true).unwrap();
        assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
        clone.set_nonblocking(false).unwrap();
        let connectors: [fn(&str, &WinPipeSocketAddr) -> std::io::Result<WinMessageStream>; 5] = [
            |name, _| WinMessageStream::connect(name),
            |_, addr| WinMessageStream::connect_addr(addr),
            |_, addr| WinMessageStream::connect_addr_with_timeout(addr, LIMIT),
            |name, _| ConnectOptions::new().connect_messages(name),
            |_, addr| ConnectOptions::new().connect_messages_addr(addr),
        ];
        for (i, connect) in connectors.into_iter().enumerate() {
            let client = connect(&name, &addr).unwrap_or_else(|e| panic!("connector {i}: {e:?}"));
            let (server, peer) = listener.accept().unwrap();
            assert!(peer.is_unnamed());
            assert_eq!(
                client.peer_addr().unwrap().as_pathname(),
                addr.as_pathname()
            );
            assert!(client.local_addr().unwrap().is_unnamed());
            assert_eq!(
                server.local_addr().unwrap().as_pathname(),
                addr.as_pathname()
            );
            assert!(server.take_error().unwrap().is_none());
            assert_eq!(server.peer_process_id().unwrap(), std::process::id());
            assert_eq!(client.peer_process_id().unwrap(), std::process::id());
            client.send(&[i as u8]).unwrap();
            let mut one = [0; 1];
            assert_eq!(server.recv(&mut one).unwrap(), 1);
            assert_eq!(one[0], i as u8);
            // The handle traits: borrowed, then given up and taken back.
            assert_eq!(client.as_handle().as_raw_handle(), client.as_raw_handle());
            let raw = client.into_raw_handle();
            // SAFETY: `raw` came from `into_raw_handle` just now and is given back once.
            let client = unsafe { WinMessageStream::from_raw_handle(raw) };
            server.send(b"back").unwrap();
            assert_eq!(client.recv(&mut [0; 8]).unwrap(), 4);
        }
    });
}
