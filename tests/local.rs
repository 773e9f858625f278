//! `winpipe::local`: the same test source binds, connects and exchanges bytes through the
//! aliases natively on Unix (Unix sockets) and on Windows or under Wine (named pipes).

mod common;

use common::{within, LIMIT};
use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::time::Duration;
use winpipe::local::{self, Listener, SocketAddr, Stream};

/// A service name no other test or test process uses.
fn service(test: &str) -> String {
    format!("winpipe-test-{}-{}", std::process::id(), test)
}

/// Removes the service's socket file when the test ends (Unix sockets outlive their
/// listener); nothing to do on Windows.
struct Cleanup(PathBuf);

impl Cleanup {
    fn new(name: &str) -> Self {
        Cleanup(local::service_path(name).unwrap())
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if cfg!(unix) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// Sets a read timeout, so a missing byte fails the test instead of hanging it.
fn timed(stream: Stream) -> Stream {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

/// Sends `message` each way between a connected client and server.
fn exchange(client: &mut Stream, server: &mut Stream, message: &[u8]) {
    let mut buf = vec![0; message.len()];
    client.write_all(message).unwrap();
    server.read_exact(&mut buf).unwrap();
    assert_eq!(buf, message);
    server.write_all(message).unwrap();
    client.read_exact(&mut buf).unwrap();
    assert_eq!(buf, message);
}

#[test]
fn bind_connect_and_exchange_by_service_name() {
    within(LIMIT, || {
        let name = service("exchange");
        let _cleanup = Cleanup::new(&name);
        let listener: Listener = local::bind(&name).unwrap();
        let bound: SocketAddr = listener.local_addr().unwrap();
        let path = local::service_path(&name).unwrap();
        assert_eq!(bound.as_pathname(), Some(path.as_path()));

        let mut client = timed(local::connect(&name).unwrap());
        let (server, peer) = listener.accept().unwrap();
        let mut server = timed(server);
        assert!(peer.is_unnamed(), "{peer:?}");
        exchange(&mut client, &mut server, b"hello over the local service");

        drop(client);
        let mut buf = [0; 1];
        assert_eq!(server.read(&mut buf).unwrap(), 0, "end of stream");
    });
}

#[test]
fn the_aliases_bind_and_connect_the_service_path() {
    within(LIMIT, || {
        let name = service("aliases");
        let _cleanup = Cleanup::new(&name);
        let path = local::service_path(&name).unwrap();
        let listener = Listener::bind(&path).unwrap();
        let mut client = timed(Stream::connect(&path).unwrap());
        let mut server = timed(listener.accept().unwrap().0);
        exchange(&mut client, &mut server, b"through the type aliases");
    });
}

#[test]
fn bind_again_after_the_listener_is_dropped() {
    within(LIMIT, || {
        let name = service("rebind");
        let _cleanup = Cleanup::new(&name);
        for round in 0..3 {
            // On Unix each round finds the socket file the last one left behind.
            let listener = local::bind(&name).unwrap_or_else(|e| panic!("round {round}: {e}"));
            let mut client = timed(local::connect(&name).unwrap());
            let mut server = timed(listener.accept().unwrap().0);
            exchange(
                &mut client,
                &mut server,
                format!("round {round}").as_bytes(),
            );
        }
    });
}

#[test]
fn bind_while_someone_listens_is_addr_in_use_and_keeps_the_listener() {
    within(LIMIT, || {
        let name = service("in-use");
        let _cleanup = Cleanup::new(&name);
        let listener = local::bind(&name).unwrap();
        let err = local::bind(&name).map(drop).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");

        // The first listener still serves. On Unix the second bind's check connected
        // and closed at once: skip that client.
        let mut client = timed(local::connect(&name).unwrap());
        client.write_all(b"still here").unwrap();
        let mut buf = [0; 10];
        loop {
            let mut server = timed(listener.accept().unwrap().0);
            match server.read_exact(&mut buf) {
                Ok(()) => break,
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => continue,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(&buf, b"still here");
    });
}

#[test]
fn connect_without_a_listener_is_refused() {
    // Windows waits 10 s for a listener before giving up.
    within(LIMIT, || {
        let err = local::connect(&service("nobody")).map(drop).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::NotFound | ErrorKind::ConnectionRefused
            ),
            "{err:?}"
        );
    });
}

#[test]
fn invalid_service_names_are_invalid_input_everywhere() {
    for (name, problem) in [
        ("", "empty"),
        ("a/b", "separator"),
        (r"a\b", "separator"),
        ("a\0b", "NUL"),
        (&"x".repeat(65), "64 bytes"),
        ("a.", "period"),
    ] {
        for err in [
            local::service_path(name).unwrap_err(),
            local::bind(name).map(drop).unwrap_err(),
            local::connect(name).map(drop).unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name:?}: {err}");
            assert!(err.to_string().contains(problem), "{name:?}: {err}");
        }
    }
}

/// On Unix `bind` removes a stale socket file, but never a file that is not a socket
/// (connecting to one is refused too).
#[cfg(unix)]
#[test]
fn bind_leaves_a_file_that_is_not_a_socket_alone() {
    let name = service("not-a-socket");
    let cleanup = Cleanup::new(&name);
    std::fs::write(&cleanup.0, b"precious").unwrap();
    let err = local::bind(&name).map(drop).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    assert_eq!(std::fs::read(&cleanup.0).unwrap(), b"precious");
}
