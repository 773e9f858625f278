//! Binding, accepting and connecting: name validation, the listener's waiting instance,
//! busy and missing pipes, connect timeouts, nonblocking accept and the small API
//! surface of `WinListener`.
//!
//! Timing bounds are deliberately loose: under Wine every pipe call is a round trip to
//! wineserver and test threads compete for the CPU, so only lower bounds (a wait that
//! must happen) are tight and upper bounds leave seconds of slack.
#![cfg(windows)]

mod common;

use common::{pipe_name, within, LIMIT};
use std::io::{self, ErrorKind, Read, Write};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};
use winpipe::{WinListener, WinPipeSocketAddr, WinPipeSocketAddress, WinStream};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Connects with a timeout long enough for a slow Wine, short enough not to stall.
fn connect(name: &str) -> WinStream {
    WinStream::connect_with_timeout(name, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect to {name}: {e:?}"))
}

/// Reads exactly `n` bytes, failing rather than hanging (2 s read timeout).
fn read_n(stream: &mut WinStream, n: usize) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).expect("read_exact");
    buf
}

/// Asserts that a wait lasted at least `min` (minus a little for clock granularity)
/// and at most `max`, a generous bound because Wine is slow.
fn assert_took(what: &str, elapsed: Duration, min: Duration, max: Duration) {
    assert!(
        elapsed >= min && elapsed <= max,
        "{what} took {elapsed:?}, expected between {min:?} and {max:?}"
    );
}

/// Asserts that `result` is an `InvalidInput` error whose message contains `word`.
fn assert_invalid<T: std::fmt::Debug>(what: &str, name: &str, result: io::Result<T>, word: &str) {
    match result {
        Ok(value) => panic!("{what}({name:?}) succeeded: {value:?}"),
        Err(e) => {
            assert_eq!(
                e.kind(),
                ErrorKind::InvalidInput,
                "{what}({name:?}) gave {e:?}"
            );
            assert!(
                e.to_string().contains(word),
                "{what}({name:?}): message {:?} does not mention {word:?}",
                e.to_string()
            );
        }
    }
}

// 1. Name validation.

#[test]
fn invalid_names_are_invalid_input_naming_the_problem() {
    within(LIMIT, || {
        let prefix = r"\\.\pipe\";
        let too_long = format!("{prefix}{}", "x".repeat(257 - prefix.len()));
        assert_eq!(too_long.len(), 257);
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "empty"),
            (prefix.to_string(), "nothing after"),
            ("foo".to_string(), "must start"),
            (format!("{prefix}a\0b"), "NUL"),
            (too_long, "256"),
            (format!("{prefix}caf\u{e9}"), "non-ASCII"),
            (r"\\server\pipe\x".to_string(), "remote"),
        ];
        for (name, word) in &cases {
            let started = Instant::now();
            assert_invalid("bind", name, WinListener::bind(name), word);
            assert_invalid("connect", name, WinStream::connect(name), word);
            assert_invalid(
                "connect_with_timeout",
                name,
                WinStream::connect_with_timeout(name, ms(200)),
                word,
            );
            assert_invalid(
                "from_pathname",
                name,
                WinPipeSocketAddr::from_pathname(name),
                word,
            );
            // Rejected by validation, not after connect's 10 s of retries.
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{name:?} took {:?} to reject",
                started.elapsed()
            );
        }
    });
}

#[test]
fn a_256_character_name_binds_and_connects() {
    within(LIMIT, || {
        let base = pipe_name("a_256_character_name_binds_and_connects");
        let name = format!("{base}-{}", "x".repeat(256 - base.len() - 1));
        assert_eq!(name.len(), 256);
        let listener = WinListener::bind(&name).expect("bind a 256-character name");
        let mut client = connect(&name);
        client.write_all(b"ok").unwrap();
        let (mut server, _) = listener.accept().unwrap();
        assert_eq!(read_n(&mut server, 2), b"ok");
    });
}

// 2. The first instance exists as soon as `bind` returns.

#[test]
fn client_connects_and_writes_before_accept_is_called() {
    within(LIMIT, || {
        let name = pipe_name("client_connects_and_writes_before_accept_is_called");
        let listener = WinListener::bind(&name).unwrap();
        // No accept has been called yet: this only works because bind made an instance.
        let mut client = connect(&name);
        client.write_all(b"early bird").unwrap();
        // ConnectNamedPipe now reports ERROR_PIPE_CONNECTED, which must count as success.
        let (mut server, _) = listener.accept().expect("accept a client that came first");
        assert_eq!(read_n(&mut server, 10), b"early bird");
        server.write_all(b"reply").unwrap();
        assert_eq!(read_n(&mut client, 5), b"reply");
    });
}

// 3. A client that came and went before accept.

#[test]
fn client_gone_before_accept_is_accepted_with_its_data_and_the_next_client_too() {
    within(LIMIT, || {
        let name = pipe_name("client_gone_before_accept");
        let listener = WinListener::bind(&name).unwrap();
        {
            let mut client = connect(&name);
            client.write_all(b"bye").unwrap();
        }
        // ConnectNamedPipe reports ERROR_NO_DATA here (Windows and Wine alike): the
        // client is accepted and what it wrote, which closing does not discard, is read.
        let (mut server, _) = listener
            .accept()
            .expect("accept must not fail for a client that already left");
        server
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).expect("read to end of stream");
        assert_eq!(got, b"bye");
        assert_eq!(server.read(&mut [0; 8]).unwrap(), 0, "end of stream stays");

        // The listener still has an instance for the next client.
        let mut next = connect(&name);
        next.write_all(b"next").unwrap();
        let (mut server, _) = listener.accept().expect("accept the next client");
        assert_eq!(read_n(&mut server, 4), b"next");
    });
}

// 4. Clients are not refused between accepts.

#[test]
fn client_arriving_between_accepts_connects_without_waiting_for_accept() {
    within(LIMIT, || {
        let name = pipe_name("client_arriving_between_accepts");
        let listener = WinListener::bind(&name).unwrap();
        let mut first = connect(&name);
        let (mut first_server, _) = listener.accept().unwrap();
        // No accept is running now; accept left a fresh instance behind for this one.
        let mut second = WinStream::connect_with_timeout(&name, Duration::from_secs(2))
            .expect("a client between accepts must find an instance");
        second.write_all(b"2").unwrap();
        let (mut second_server, _) = listener.accept().unwrap();
        assert_eq!(read_n(&mut second_server, 1), b"2");
        // And the first connection is still its own.
        first.write_all(b"1").unwrap();
        assert_eq!(read_n(&mut first_server, 1), b"1");
    });
}

#[test]
fn five_concurrent_clients_are_all_served() {
    within(LIMIT, || {
        const CLIENTS: u8 = 5;
        let name = pipe_name("five_concurrent_clients_are_all_served");
        let listener = WinListener::bind(&name).unwrap();
        let server = thread::spawn(move || {
            for _ in 0..CLIENTS {
                let (mut stream, _) = listener.accept().expect("accept");
                let id = read_n(&mut stream, 1);
                stream.write_all(&[id[0] + 100]).unwrap();
            }
        });
        let start = Arc::new(Barrier::new(usize::from(CLIENTS)));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| {
                let (name, start) = (name.clone(), start.clone());
                thread::spawn(move || -> io::Result<u8> {
                    start.wait();
                    let mut stream = WinStream::connect_with_timeout(&name, ms(8000))?;
                    stream.write_all(&[id])?;
                    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
                    let mut reply = [0];
                    stream.read_exact(&mut reply)?;
                    Ok(reply[0])
                })
            })
            .collect();
        let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        server.join().unwrap();
        for (id, result) in results.into_iter().enumerate() {
            match result {
                Ok(reply) => assert_eq!(usize::from(reply), id + 100),
                Err(e) => panic!("client {id} failed: {e:?}"),
            }
        }
    });
}

// 5. One listener per name.

#[test]
fn second_bind_is_addr_in_use_until_the_listener_and_its_clones_are_dropped() {
    within(LIMIT, || {
        let name = pipe_name("second_bind_is_addr_in_use");
        let listener = WinListener::bind(&name).unwrap();
        let clone = listener.try_clone().unwrap();
        let err = WinListener::bind(&name).expect_err("second bind succeeded");
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err:?}");
        drop(listener);
        // The clone still holds the waiting instance.
        let err = WinListener::bind(&name).expect_err("bind succeeded while a clone lives");
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err:?}");
        drop(clone);
        let again = WinListener::bind(&name).expect("bind after every clone was dropped");
        // And the new listener works.
        let mut client = connect(&name);
        client.write_all(b"x").unwrap();
        let (mut server, _) = again.accept().unwrap();
        assert_eq!(read_n(&mut server, 1), b"x");
    });
}

#[test]
fn second_bind_is_addr_in_use_while_the_waiting_instance_is_occupied() {
    within(LIMIT, || {
        let name = pipe_name("second_bind_while_occupied");
        let _listener = WinListener::bind(&name).unwrap();
        // The only instance is taken by a client (not accepted): no instance is free,
        // but the name is still in use.
        let _client = connect(&name);
        let err = WinListener::bind(&name).expect_err("second bind succeeded");
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err:?}");
    });
}

// 6. Nobody listening.

#[test]
fn connect_with_nobody_listening_is_refused_after_the_timeout() {
    within(LIMIT, || {
        let name = pipe_name("connect_with_nobody_listening");
        let started = Instant::now();
        let err = WinStream::connect_with_timeout(&name, ms(300))
            .expect_err("connected to a name nobody listens on");
        let elapsed = started.elapsed();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err:?}");
        // It keeps retrying until the timeout (250 ms allows for timer granularity);
        // the upper bound only catches waiting far too long.
        assert_took("refused connect", elapsed, ms(250), ms(3000));
    });
}

#[test]
fn connect_with_zero_timeout_is_invalid_input() {
    within(LIMIT, || {
        let name = pipe_name("connect_with_zero_timeout");
        let err = WinStream::connect_with_timeout(&name, Duration::ZERO)
            .expect_err("a zero timeout was accepted");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
        // Also with a listener there: the timeout is checked, not the name.
        let _listener = WinListener::bind(&name).unwrap();
        let err = WinStream::connect_with_timeout(&name, Duration::ZERO)
            .expect_err("a zero timeout was accepted");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
    });
}

// 7. Listener that comes late.

#[test]
fn connect_waits_for_a_listener_that_binds_later() {
    within(LIMIT, || {
        let name = pipe_name("connect_waits_for_a_late_listener");
        let client = {
            let name = name.clone();
            thread::spawn(move || -> io::Result<(WinStream, Duration)> {
                let started = Instant::now();
                let stream = WinStream::connect_with_timeout(&name, Duration::from_secs(5))?;
                Ok((stream, started.elapsed()))
            })
        };
        thread::sleep(ms(300));
        let listener = WinListener::bind(&name).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let (mut client, elapsed) = client
            .join()
            .unwrap()
            .expect("connect must retry until the listener exists");
        // It really waited for the bind (lower bound), and did not need its whole 5 s.
        assert_took("late connect", elapsed, ms(250), ms(4500));
        client.write_all(b"late").unwrap();
        assert_eq!(read_n(&mut server, 4), b"late");
    });
}

// 8. Every instance busy.

/// A listener that keeps a single instance waiting, so one client makes it busy.
fn one_instance(name: &str) -> WinListener {
    winpipe::ListenerOptions::new()
        .backlog(1)
        .bind(name)
        .unwrap()
}

#[test]
fn connect_times_out_while_the_only_instance_is_busy() {
    within(LIMIT, || {
        let name = pipe_name("connect_times_out_while_busy");
        let _listener = one_instance(&name);
        // A takes the only instance; nobody accepts, so no other instance appears.
        let _a = connect(&name);
        let started = Instant::now();
        let err = WinStream::connect_with_timeout(&name, ms(300))
            .expect_err("B connected although every instance was busy");
        let elapsed = started.elapsed();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err:?}");
        assert_took("busy connect", elapsed, ms(250), ms(3000));
    });
}

#[test]
fn busy_connect_succeeds_when_accept_makes_a_new_instance() {
    within(LIMIT, || {
        let name = pipe_name("busy_connect_succeeds_after_accept");
        let listener = one_instance(&name);
        let mut a = connect(&name);
        let acceptor = {
            let listener = listener.try_clone().unwrap();
            thread::spawn(move || {
                thread::sleep(ms(200));
                listener.accept().expect("accept A").0
            })
        };
        let started = Instant::now();
        let mut b = WinStream::connect_with_timeout(&name, Duration::from_secs(5))
            .expect("B must get the instance accept creates");
        let elapsed = started.elapsed();
        // B had to wait for the accept (200 ms in). It must not have needed its whole
        // timeout: the loose upper bound is for Wine.
        assert_took("busy-then-free connect", elapsed, ms(150), ms(4500));
        let mut a_server = acceptor.join().unwrap();
        a.write_all(b"A").unwrap();
        assert_eq!(read_n(&mut a_server, 1), b"A");
        b.write_all(b"B").unwrap();
        let (mut b_server, _) = listener.accept().unwrap();
        assert_eq!(read_n(&mut b_server, 1), b"B");
    });
}

// 9, 10. Nonblocking accept.

#[test]
fn nonblocking_accept_would_block_then_returns_a_blocking_stream() {
    within(LIMIT, || {
        let name = pipe_name("nonblocking_accept");
        let listener = WinListener::bind(&name).unwrap();
        listener.set_nonblocking(true).unwrap();
        let started = Instant::now();
        let err = listener.accept().expect_err("accepted with no client");
        assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err:?}");
        // Must not wait for a client; 1 s is far above a Wine round trip.
        assert!(started.elapsed() < ms(1000), "took {:?}", started.elapsed());

        let mut client = connect(&name);
        client.write_all(b"hi").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut server = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    thread::sleep(ms(10))
                }
                Err(e) => panic!("nonblocking accept of a waiting client: {e:?}"),
            }
        };
        assert_eq!(read_n(&mut server, 2), b"hi");
        // The accepted stream blocks: with no data, a read waits out its timeout.
        server.set_read_timeout(Some(ms(100))).unwrap();
        let err = server
            .read(&mut [0; 4])
            .expect_err("read with no data returned");
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err:?}");
    });
}

#[test]
fn blocked_accept_wakes_with_would_block_when_a_clone_turns_nonblocking() {
    within(LIMIT, || {
        let name = pipe_name("blocked_accept_wakes");
        let listener = WinListener::bind(&name).unwrap();
        let clone = listener.try_clone().unwrap();
        let (tx, rx) = mpsc::channel();
        let acceptor = thread::spawn(move || {
            let _ = tx.send(listener.accept().map(|_| ()));
        });
        // Give the accept time to block; it must really be waiting.
        thread::sleep(ms(300));
        assert!(
            rx.try_recv().is_err(),
            "accept returned with no client and blocking mode"
        );
        clone.set_nonblocking(true).unwrap();
        let result = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("blocked accept did not wake");
        let err = result.expect_err("accept succeeded with no client");
        assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err:?}");
        acceptor.join().unwrap();
        // The instance was put back: a client can still be accepted.
        clone.set_nonblocking(false).unwrap();
        let mut client = connect(&name);
        client.write_all(b"k").unwrap();
        let (mut server, _) = clone.accept().unwrap();
        assert_eq!(read_n(&mut server, 1), b"k");
    });
}

// 11. Iterators.

/// Connects three clients, each writing its number.
fn spawn_three_clients(name: &str) -> thread::JoinHandle<()> {
    let name = name.to_string();
    thread::spawn(move || {
        for i in 0..3u8 {
            let mut client = connect(&name);
            client.write_all(&[i]).unwrap();
            // Wait for the server's echo so the next client finds a fresh instance.
            assert_eq!(read_n(&mut client, 1), [i]);
        }
    })
}

#[test]
fn incoming_yields_accepted_streams() {
    within(LIMIT, || {
        let name = pipe_name("incoming_yields_accepted_streams");
        let listener = WinListener::bind(&name).unwrap();
        let clients = spawn_three_clients(&name);
        for (i, stream) in listener.incoming().take(3).enumerate() {
            let mut stream = stream.expect("incoming");
            assert_eq!(read_n(&mut stream, 1), [i as u8]);
            stream.write_all(&[i as u8]).unwrap();
        }
        clients.join().unwrap();
    });
}

#[test]
fn for_loop_over_listener_reference_yields_accepted_streams() {
    within(LIMIT, || {
        let name = pipe_name("for_loop_over_listener");
        let listener = WinListener::bind(&name).unwrap();
        let clients = spawn_three_clients(&name);
        let mut served = 0u8;
        for stream in &listener {
            let mut stream = stream.expect("accept in for loop");
            assert_eq!(read_n(&mut stream, 1), [served]);
            stream.write_all(&[served]).unwrap();
            served += 1;
            if served == 3 {
                break;
            }
        }
        clients.join().unwrap();
        assert_eq!(served, 3);
    });
}

// 12. The rest of the listener's API.

#[test]
fn local_addr_is_the_name_and_accepted_peer_addr_is_unnamed() {
    within(LIMIT, || {
        let name = pipe_name("local_addr_is_the_name");
        let listener = WinListener::bind(&name).unwrap();
        let local = listener.local_addr().unwrap();
        assert_eq!(local.as_pathname().and_then(|p| p.to_str()), Some(&*name));
        assert_eq!(local, WinPipeSocketAddr::from_pathname(&name).unwrap());
        let _client = connect(&name);
        let (server, peer) = listener.accept().unwrap();
        assert!(peer.is_unnamed(), "peer address {peer:?}");
        assert_eq!(peer.as_pathname(), None);
        assert!(server.peer_addr().unwrap().is_unnamed());
        assert_eq!(server.local_addr().unwrap(), local);
    });
}

#[test]
fn take_error_is_none_normally() {
    within(LIMIT, || {
        let name = pipe_name("take_error_is_none");
        let listener = WinListener::bind(&name).unwrap();
        assert!(listener.take_error().unwrap().is_none());
        let _client = connect(&name);
        let _accepted = listener.accept().unwrap();
        // The accept made its next instance without trouble.
        assert!(listener.take_error().unwrap().is_none());
    });
}

#[test]
fn accept_works_on_a_clone() {
    within(LIMIT, || {
        let name = pipe_name("accept_works_on_a_clone");
        let listener = WinListener::bind(&name).unwrap();
        let clone = listener.try_clone().unwrap();
        let mut client = connect(&name);
        client.write_all(b"c").unwrap();
        let (mut server, _) = clone.accept().expect("accept on the clone");
        assert_eq!(read_n(&mut server, 1), b"c");
        // The original sees the instance the clone's accept left behind.
        let mut client = connect(&name);
        client.write_all(b"o").unwrap();
        let (mut server, _) = listener.accept().expect("accept on the original");
        assert_eq!(read_n(&mut server, 1), b"o");
    });
}

/// winpipe 0.1 code that calls `reject_remote` after `bind` still builds and its
/// listener still serves local clients; the call changes nothing (deprecated).
#[test]
fn reject_remote_after_bind_builds_and_changes_nothing() {
    within(LIMIT, || {
        let name = pipe_name("reject_remote_after_bind");
        let listener = WinListener::bind(&name).unwrap();
        #[allow(deprecated)]
        listener.reject_remote(false);
        for byte in [b'1', b'2'] {
            let mut client = connect(&name);
            client.write_all(&[byte]).unwrap();
            let (mut server, _) = listener.accept().expect("accept a local client");
            assert_eq!(read_n(&mut server, 1), [byte]);
        }
    });
}

#[test]
fn listener_debug_contains_the_name() {
    within(LIMIT, || {
        let name = pipe_name("listener_debug_contains_the_name");
        let listener = WinListener::bind(&name).unwrap();
        let debug = format!("{listener:?}");
        // Debug escapes backslashes; the part after the prefix appears as is.
        let tail = name.rsplit('\\').next().unwrap();
        assert!(debug.contains(tail), "{debug}");
        assert!(debug.contains("WinListener"), "{debug}");
    });
}

// 13. Addresses.

/// The app container form `\\.\pipe\LOCAL\NAME` (Microsoft requires it inside an app
/// container) binds and connects; any other backslash after the prefix is refused.
#[test]
fn local_names_for_app_containers_bind_and_connect() {
    within(LIMIT, || {
        let name = format!(
            r"\\.\pipe\LOCAL\winpipe-test-{}-app-container",
            std::process::id()
        );
        let listener = WinListener::bind(&name).unwrap();
        let mut client = connect(&name);
        client.write_all(b"L").unwrap();
        let (mut server, _) = listener.accept().unwrap();
        assert_eq!(read_n(&mut server, 1), b"L");
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(std::path::Path::new(&name))
        );
        for bad in [
            r"\\.\pipe\LOCAL\a\b",
            r"\\.\pipe\other\a",
            r"\\.\pipe\LOCAL\",
        ] {
            let err = WinListener::bind(bad).expect_err(bad);
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}");
        }
    });
}

/// `winpipe::net` is the std-shaped path (`std::os::unix::net`) to the same types as
/// the crate root.
#[test]
fn the_net_module_names_the_same_types() {
    use std::any::TypeId;
    assert_eq!(
        TypeId::of::<winpipe::net::WinStream>(),
        TypeId::of::<WinStream>()
    );
    assert_eq!(
        TypeId::of::<winpipe::net::WinListener>(),
        TypeId::of::<WinListener>()
    );
    assert_eq!(
        TypeId::of::<winpipe::net::WinPipeSocketAddr>(),
        TypeId::of::<WinPipeSocketAddr>()
    );
    assert_eq!(
        TypeId::of::<winpipe::net::ListenerOptions>(),
        TypeId::of::<winpipe::ListenerOptions>()
    );
    assert_eq!(
        TypeId::of::<winpipe::net::ConnectOptions>(),
        TypeId::of::<winpipe::ConnectOptions>()
    );
}

#[test]
fn address_alias_is_the_same_type() {
    let name = pipe_name("address_alias_is_the_same_type");
    let alias: WinPipeSocketAddress = WinPipeSocketAddress::from_pathname(&name).unwrap();
    let addr: WinPipeSocketAddr = alias.clone();
    assert_eq!(addr, WinPipeSocketAddr::from_pathname(&name).unwrap());
    assert_eq!(
        std::any::TypeId::of::<WinPipeSocketAddress>(),
        std::any::TypeId::of::<WinPipeSocketAddr>()
    );
}

#[test]
fn bind_addr_and_connect_addr_work_with_from_pathname() {
    within(LIMIT, || {
        let name = pipe_name("bind_addr_and_connect_addr");
        let addr = WinPipeSocketAddr::from_pathname(&name).unwrap();
        let listener = WinListener::bind_addr(&addr).expect("bind_addr");
        assert_eq!(listener.local_addr().unwrap(), addr);
        let mut client = WinStream::connect_addr(&addr).expect("connect_addr");
        assert_eq!(client.peer_addr().unwrap(), addr);
        client.write_all(b"addr").unwrap();
        let (mut server, _) = listener.accept().unwrap();
        assert_eq!(read_n(&mut server, 4), b"addr");
    });
}

#[test]
fn bind_addr_and_connect_addr_reject_an_unnamed_address() {
    within(LIMIT, || {
        let name = pipe_name("unnamed_address_is_invalid");
        let listener = WinListener::bind(&name).unwrap();
        let _client = connect(&name);
        let (_server, unnamed) = listener.accept().unwrap();
        assert!(unnamed.is_unnamed());
        let err = WinListener::bind_addr(&unnamed).expect_err("bound an unnamed address");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
        let err = WinStream::connect_addr(&unnamed).expect_err("connected to unnamed");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
    });
}

// 14. Dropping the listener.

#[test]
fn dropping_the_listener_ends_an_unaccepted_client_and_frees_the_name() {
    within(LIMIT, || {
        let name = pipe_name("dropping_the_listener");
        let listener = WinListener::bind(&name).unwrap();
        let mut client = connect(&name);
        drop(listener);
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        // The server end is closed: end of stream or an error, but no hang.
        match client.read(&mut [0; 8]) {
            Ok(n) => assert_eq!(n, 0, "read data nobody wrote"),
            Err(e) => assert!(
                !matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock),
                "read still waiting after the listener was dropped: {e:?}"
            ),
        }
        // Close the client too: on Windows a pipe name lives until every handle to
        // every instance is closed, client ends included.
        drop(client);
        let again = WinListener::bind(&name).expect("bind after the listener was dropped");
        let mut client = connect(&name);
        client.write_all(b"n").unwrap();
        let (mut server, _) = again.accept().unwrap();
        assert_eq!(read_n(&mut server, 1), b"n");
    });
}

// 15. pair().

#[test]
fn pair_gives_two_connected_streams() {
    within(LIMIT, || {
        let (mut a, mut b) = WinStream::pair().unwrap();
        a.write_all(b"ping").unwrap();
        assert_eq!(read_n(&mut b, 4), b"ping");
        b.write_all(b"pong").unwrap();
        assert_eq!(read_n(&mut a, 4), b"pong");
    });
}

#[test]
fn fifty_pairs_in_a_row_all_work() {
    within(LIMIT, || {
        for i in 0..50u8 {
            let (mut a, mut b) = WinStream::pair().unwrap_or_else(|e| panic!("pair {i}: {e:?}"));
            a.write_all(&[i]).unwrap();
            assert_eq!(read_n(&mut b, 1), [i]);
            b.write_all(&[i]).unwrap();
            assert_eq!(read_n(&mut a, 1), [i]);
        }
    });
}

/// Clients already trying to connect when `bind` runs (a service restarting under its
/// clients) can reach the instance `bind` makes to hold the name before it is taken
/// out of listening. Each such client must get a real connection that `accept` hands
/// out, never one closed under it. The clients here open the name in a tight loop,
/// as raw `CreateFileA` callers do.
#[test]
fn clients_waiting_for_the_name_when_it_is_bound_are_all_served() {
    use common::win32::{Io, RawEnd};
    within(LIMIT, || {
        for round in 0..20 {
            let name = pipe_name(&format!("clients_waiting_for_the_name_{round}"));
            let clients: Vec<_> = (0..3)
                .map(|_| {
                    let name = name.clone();
                    thread::spawn(move || {
                        let start = Instant::now();
                        let end = loop {
                            match RawEnd::client(&name, Io::Sync) {
                                Ok(end) => break end,
                                Err(_) if start.elapsed() < Duration::from_secs(5) => {}
                                Err(e) => panic!("no connection in 5 s: {e}"),
                            }
                        };
                        end.write(b"ping").unwrap();
                        let mut buf = [0; 4];
                        let n = end.read(&mut buf);
                        (n, buf)
                    })
                })
                .collect();
            thread::sleep(ms(5));
            let listener = WinListener::bind(&name).unwrap();
            for _ in 0..3 {
                let (mut server, _) = listener.accept().unwrap();
                assert_eq!(read_n(&mut server, 4), b"ping", "round {round}");
                server.write_all(b"pong").unwrap();
            }
            for client in clients {
                let (n, buf) = client.join().unwrap();
                assert_eq!(n, Ok(4), "round {round}: a client's read");
                assert_eq!(&buf, b"pong", "round {round}");
            }
        }
    });
}
