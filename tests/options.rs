//! `ListenerOptions` and `ConnectOptions`: the backlog, accept order, buffer sizes, the
//! instance limit, the first-instance check, owner-only access, connect options, and
//! peer process ids within one process (tests/processes.rs covers two processes).
#![cfg(windows)]

mod common;

use common::{pipe_name, within, LIMIT};
use std::io::{ErrorKind, Read, Write};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};
use winpipe::{ConnectOptions, ImpersonationLevel, ListenerOptions, WinListener, WinStream};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn read_byte(stream: &mut WinStream) -> u8 {
    let mut b = [0];
    stream.read_exact(&mut b).unwrap();
    b[0]
}

/// Connects with a short timeout, so that a busy pipe shows as `TimedOut` quickly.
fn try_connect(name: &str) -> std::io::Result<WinStream> {
    WinStream::connect_with_timeout(name, ms(300))
}

#[test]
fn backlog_lets_that_many_clients_connect_before_any_accept() {
    within(LIMIT, || {
        for backlog in [1, 4, 9] {
            let name = pipe_name(&format!("backlog_{backlog}"));
            let _listener = ListenerOptions::new().backlog(backlog).bind(&name).unwrap();
            let clients: Vec<WinStream> = (0..backlog)
                .map(|i| try_connect(&name).unwrap_or_else(|e| panic!("client {i}: {e}")))
                .collect();
            let err = try_connect(&name).expect_err("one client more than the backlog");
            assert_eq!(err.kind(), ErrorKind::TimedOut, "backlog {backlog}: {err}");
            drop(clients);
        }
    });
}

#[test]
fn default_backlog_is_the_documented_constant() {
    within(LIMIT, || {
        let name = pipe_name("default_backlog");
        let _listener = WinListener::bind(&name).unwrap();
        let clients: Vec<WinStream> = (0..winpipe::DEFAULT_BACKLOG)
            .map(|_| try_connect(&name).unwrap())
            .collect();
        assert!(try_connect(&name).is_err());
        drop(clients);
    });
}

/// The issue's proof of the backlog: 64 clients start at the same moment; the server
/// accepts slowly; every client is served, with no connect error and within its
/// connect timeout.
#[test]
fn sixty_four_simultaneous_clients_are_all_served_by_a_slow_acceptor() {
    within(LIMIT * 3, || {
        const CLIENTS: usize = 64;
        let name = pipe_name("sixty_four_simultaneous_clients");
        let listener = WinListener::bind(&name).unwrap();
        let start = Arc::new(Barrier::new(CLIENTS + 1));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let (name, start) = (name.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    let began = Instant::now();
                    let mut stream = WinStream::connect(&name)?;
                    let took = began.elapsed();
                    stream.write_all(&[i as u8])?;
                    let mut echo = [0];
                    stream.read_exact(&mut echo)?;
                    assert_eq!(echo[0], i as u8, "client {i} got another client's echo");
                    Ok::<Duration, std::io::Error>(took)
                })
            })
            .collect();
        start.wait();
        for _ in 0..CLIENTS {
            thread::sleep(ms(5)); // a slow server
            let (mut stream, _) = listener.accept().unwrap();
            let id = read_byte(&mut stream);
            stream.write_all(&[id]).unwrap();
        }
        for (i, client) in clients.into_iter().enumerate() {
            let took = client
                .join()
                .unwrap()
                .unwrap_or_else(|e| panic!("client {i} failed: {e}"));
            assert!(
                took < winpipe::DEFAULT_CONNECT_TIMEOUT,
                "client {i}: {took:?}"
            );
        }
        assert!(listener.take_error().unwrap().is_none());
    });
}

/// Windows gives a client the oldest free instance and accept takes the oldest, so
/// clients come out of accept in the order they connected, across refills too.
#[test]
fn accept_order_follows_connect_order() {
    within(LIMIT, || {
        let name = pipe_name("accept_order");
        let listener = ListenerOptions::new().backlog(6).bind(&name).unwrap();
        let mut clients = Vec::new();
        let mut connect = |id: u8| {
            let mut c = try_connect(&name).unwrap();
            c.write_all(&[id]).unwrap();
            clients.push(c);
        };
        let mut order = Vec::new();
        let accept = || {
            let (mut s, _) = listener.accept().unwrap();
            read_byte(&mut s)
        };
        for id in 0..5 {
            connect(id);
        }
        order.push(accept());
        order.push(accept());
        // Three connected and three fresh instances wait now (the backlog counts
        // connections not yet accepted, as a Unix listen backlog does).
        for id in 5..8 {
            connect(id);
        }
        for _ in 2..8 {
            order.push(accept());
        }
        assert_eq!(order, (0..8).collect::<Vec<u8>>());
    });
}

#[test]
fn buffer_sizes_bound_what_one_write_hands_over() {
    within(LIMIT, || {
        let name = pipe_name("buffer_sizes");
        let listener = ListenerOptions::new()
            .in_buffer_size(4096)
            .out_buffer_size(4096)
            .bind(&name)
            .unwrap();
        let mut client = try_connect(&name).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let big = vec![7u8; 64 * 1024];
        // A write that may time out hands over at most the buffer, on both ends (the
        // client asks the system for the size, the server knows it).
        server
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let sent = server.write(&big).unwrap();
        assert!(sent > 0 && sent <= 4096, "server write took {sent}");
        let sent_back = client.write(&big).unwrap();
        assert!(
            sent_back > 0 && sent_back <= 4096,
            "client write took {sent_back}"
        );
        let mut got = vec![0; sent];
        client.read_exact(&mut got).unwrap();
        assert!(got.iter().all(|&b| b == 7));
        let mut got = vec![0; sent_back];
        server.read_exact(&mut got).unwrap();
        // A write with no timeout is handed over whole, and completes once the peer
        // has read it.
        client.set_write_timeout(None).unwrap();
        let reader = std::thread::spawn(move || {
            let mut all = vec![0u8; big.len()];
            server.read_exact(&mut all).unwrap();
            all
        });
        assert_eq!(client.write(&vec![9u8; 64 * 1024]).unwrap(), 64 * 1024);
        assert!(reader.join().unwrap().iter().all(|&b| b == 9));
    });
}

#[test]
fn max_instances_caps_connections_and_accept_waits_for_one_to_close() {
    within(LIMIT, || {
        let name = pipe_name("max_instances");
        let listener = ListenerOptions::new()
            .backlog(1)
            .max_instances(2)
            .bind(&name)
            .unwrap();
        let _a = try_connect(&name).unwrap();
        let (a_server, _) = listener.accept().unwrap();
        let _b = try_connect(&name).unwrap();
        let (_b_server, _) = listener.accept().unwrap();
        // Both instances are connections now: the limit is not an error…
        assert!(listener.take_error().unwrap().is_none());
        // …but a third client finds no instance.
        let err = try_connect(&name).expect_err("a third instance exists");
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        // An accept waits until a connection closes, then serves the next client.
        let acceptor = {
            let listener = listener.try_clone().unwrap();
            thread::spawn(move || listener.accept().map(|(mut s, _)| read_byte(&mut s)))
        };
        thread::sleep(ms(100));
        assert!(!acceptor.is_finished(), "accept returned at the limit");
        drop(a_server);
        let mut c = WinStream::connect_with_timeout(&name, Duration::from_secs(5)).unwrap();
        c.write_all(b"c").unwrap();
        assert_eq!(acceptor.join().unwrap().unwrap(), b'c');
    });
}

#[test]
fn nonblocking_accept_at_the_instance_limit_would_block() {
    within(LIMIT, || {
        let name = pipe_name("nonblocking_at_limit");
        let listener = ListenerOptions::new()
            .backlog(1)
            .max_instances(1)
            .bind(&name)
            .unwrap();
        let _a = try_connect(&name).unwrap();
        let (_a_server, _) = listener.accept().unwrap();
        listener.set_nonblocking(true).unwrap();
        let started = Instant::now();
        let err = listener.accept().expect_err("accepted past the limit");
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        assert!(started.elapsed() < Duration::from_secs(1));
    });
}

#[test]
fn first_instance_false_joins_an_existing_pipe() {
    within(LIMIT, || {
        let name = pipe_name("first_instance_false");
        let first = ListenerOptions::new().backlog(1).bind(&name).unwrap();
        let err = WinListener::bind(&name).expect_err("the default checks the name is new");
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
        let second = ListenerOptions::new()
            .backlog(1)
            .first_instance(false)
            .bind(&name)
            .expect("joining an existing pipe");
        // Two instances now wait: two clients connect without any accept, the oldest
        // instance (the first listener's) taking the first client.
        let mut one = try_connect(&name).unwrap();
        let mut two = try_connect(&name).unwrap();
        one.write_all(b"1").unwrap();
        two.write_all(b"2").unwrap();
        assert_eq!(read_byte(&mut first.accept().unwrap().0), b'1');
        assert_eq!(read_byte(&mut second.accept().unwrap().0), b'2');
    });
}

#[test]
fn reject_remote_off_still_serves_local_clients() {
    within(LIMIT, || {
        let name = pipe_name("reject_remote_off");
        let listener = ListenerOptions::new()
            .reject_remote(false)
            .bind(&name)
            .unwrap();
        let mut client = try_connect(&name).unwrap();
        client.write_all(b"r").unwrap();
        assert_eq!(read_byte(&mut listener.accept().unwrap().0), b'r');
    });
}

#[test]
fn owner_only_listener_serves_its_own_user() {
    within(LIMIT, || {
        let name = pipe_name("owner_only");
        let listener = ListenerOptions::new().owner_only(true).bind(&name).unwrap();
        // Instances made after bind (by accept) carry the same descriptor: connect twice.
        for byte in [b'o', b'p'] {
            let mut client = try_connect(&name).unwrap();
            client.write_all(&[byte]).unwrap();
            assert_eq!(read_byte(&mut listener.accept().unwrap().0), byte);
        }
    });
}

#[test]
fn invalid_listener_options_are_invalid_input_and_bind_nothing() {
    within(LIMIT, || {
        let name = pipe_name("invalid_listener_options");
        let attempts = [
            ListenerOptions::new().backlog(0).clone(),
            ListenerOptions::new().backlog(300).clone(),
            ListenerOptions::new().in_buffer_size(0).clone(),
            ListenerOptions::new().out_buffer_size(0).clone(),
            ListenerOptions::new().max_instances(0).clone(),
            ListenerOptions::new().max_instances(255).clone(),
            ListenerOptions::new().backlog(5).max_instances(2).clone(),
            // Windows checks clients against the first instance's descriptor only.
            ListenerOptions::new()
                .owner_only(true)
                .first_instance(false)
                .clone(),
        ];
        for options in &attempts {
            let err = options.bind(&name).expect_err("bad options bound");
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{options:?}: {err}");
        }
        // Nothing was created: the name is still free.
        WinListener::bind(&name).unwrap();
    });
}

/// `bind`'s errors: `AddrInUse` only when the name exists. Joining a pipe whose first
/// instance has another access mode fails in CreateNamedPipeA with error 5 (on
/// Windows and Wine), and that error comes back as it is, with its code.
#[test]
fn bind_returns_the_system_error_when_joining_fails() {
    within(LIMIT, || {
        let name = pipe_name("bind_join_fails");
        let c = std::ffi::CString::new(name.clone()).unwrap();
        // SAFETY: a NUL-terminated name, default security, plain values; the handle is
        // closed below.
        let inbound = unsafe {
            common::win32::CreateNamedPipeA(
                c.as_ptr().cast(),
                0x1,
                0,
                255,
                512,
                512,
                0,
                std::ptr::null_mut(),
            )
        };
        assert_ne!(inbound, common::win32::INVALID_HANDLE_VALUE);
        let err = ListenerOptions::new()
            .first_instance(false)
            .bind(&name)
            .expect_err("another access mode");
        assert_eq!(err.raw_os_error(), Some(5), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
        // The default (first instance) says the name is taken.
        let err = WinListener::bind(&name).expect_err("the name exists");
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err:?}");
        // SAFETY: our handle, closed once.
        unsafe { common::win32::CloseHandle(inbound) };
        WinListener::bind(&name).expect("free again");
    });
}

/// An accept waiting at the instance limit tries to make an instance again after
/// pauses of up to 50 ms; `set_nonblocking(true)` from another thread ends the pause
/// at once, not at its end.
#[test]
fn set_nonblocking_stops_an_accept_waiting_at_the_instance_limit_at_once() {
    within(LIMIT, || {
        let name = pipe_name("limit_nonblocking");
        let listener = ListenerOptions::new()
            .backlog(1)
            .max_instances(1)
            .bind(&name)
            .unwrap();
        let _client = try_connect(&name).unwrap();
        // The pipe's one instance is now a connection: the next accept waits.
        let (_server, _) = listener.accept().unwrap();
        let mut took = Vec::new();
        for _ in 0..5 {
            listener.set_nonblocking(false).unwrap();
            let clone = listener.try_clone().unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            let accept = thread::spawn(move || {
                let result = clone.accept().map(drop);
                tx.send(Instant::now()).unwrap();
                result
            });
            thread::sleep(ms(300)); // well into the 50 ms pauses
            let at = Instant::now();
            listener.set_nonblocking(true).unwrap();
            let returned = rx.recv_timeout(ms(2000)).expect("the accept returns");
            let err = accept.join().unwrap().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WouldBlock);
            took.push(returned.saturating_duration_since(at));
        }
        took.sort();
        assert!(took[2] < ms(10), "stopping took {took:?}");
    });
}

#[test]
fn connect_options_timeout_is_obeyed_and_zero_is_invalid() {
    within(LIMIT, || {
        let name = pipe_name("connect_options_timeout");
        let started = Instant::now();
        let err = ConnectOptions::new()
            .timeout(ms(200))
            .connect(&name)
            .expect_err("nobody listens");
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        let took = started.elapsed();
        assert!(took >= ms(190) && took < ms(3000), "took {took:?}");
        let err = ConnectOptions::new()
            .timeout(Duration::ZERO)
            .connect(&name)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

/// Wine accepts every level without enforcing it, and so does a same-user server on
/// Windows for the levels that allow connecting at all; what can be checked here is
/// that each level opens a working connection (the flags themselves are unit-tested).
#[test]
fn every_impersonation_level_connects() {
    within(LIMIT, || {
        let name = pipe_name("impersonation_levels");
        let listener = WinListener::bind(&name).unwrap();
        for (i, level) in [
            ImpersonationLevel::Anonymous,
            ImpersonationLevel::Identification,
            ImpersonationLevel::Impersonation,
            ImpersonationLevel::Delegation,
        ]
        .into_iter()
        .enumerate()
        {
            let mut client = ConnectOptions::new()
                .impersonation(level)
                .connect(&name)
                .unwrap_or_else(|e| panic!("{level:?}: {e}"));
            client.write_all(&[i as u8]).unwrap();
            assert_eq!(read_byte(&mut listener.accept().unwrap().0), i as u8);
        }
    });
}

#[test]
fn peer_process_id_within_one_process_is_this_process() {
    within(LIMIT, || {
        let me = std::process::id();
        let (a, b) = WinStream::pair().unwrap();
        assert_eq!(a.peer_process_id().unwrap(), me);
        assert_eq!(b.peer_process_id().unwrap(), me);
        let name = pipe_name("peer_pid_one_process");
        let listener = WinListener::bind(&name).unwrap();
        let client = try_connect(&name).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert_eq!(client.peer_process_id().unwrap(), me);
        assert_eq!(server.peer_process_id().unwrap(), me);
        assert_eq!(server.try_clone().unwrap().peer_process_id().unwrap(), me);
    });
}
