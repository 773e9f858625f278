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

/// std's half-close pattern, the same source on every platform: the client writes
/// its request and shuts down writing; the server reads the request to its end
/// (the client still open), replies, and the client reads the reply to its end.
#[test]
fn write_shutdown_then_read_to_end_works_everywhere() {
    within(LIMIT, || {
        let name = service("half_close");
        let _cleanup = Cleanup::new(&name);
        let listener = local::bind(&name).unwrap();
        let mut client = timed(local::connect(&name).unwrap());
        let (server, _) = listener.accept().unwrap();
        let mut server = timed(server);
        client.write_all(b"the request").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut request = Vec::new();
        server.read_to_end(&mut request).unwrap();
        assert_eq!(request, b"the request");
        server.write_all(b"the reply").unwrap();
        drop(server);
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, b"the reply");
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

        // The first listener still serves, and the second bind's check left no client
        // in its queue: the first one it accepts is ours.
        let mut client = timed(local::connect(&name).unwrap());
        client.write_all(b"still here").unwrap();
        let mut buf = [0; 10];
        let mut server = timed(listener.accept().unwrap().0);
        server.read_exact(&mut buf).unwrap();
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

/// A Unix socket server made by another program (Python's `socket` module), which can
/// do what std cannot: listen with a backlog of 0, or bind without listening.
#[cfg(unix)]
mod foreign {
    use std::io::{BufRead, BufReader};
    use std::path::Path;
    use std::process::{Child, Command, Stdio};

    /// A running Python server on `path`, killed on drop.
    pub struct Server(Child);

    /// `listen(0)` and one client queued: the accept queue is full, so a blocking
    /// connect from anyone else waits until the server accepts (Linux) or is refused
    /// (macOS, the BSDs).
    pub const FULL_QUEUE: &str = "s.listen(0)\nc = socket.socket(socket.AF_UNIX)\n\
        c.setblocking(False)\ntry:\n    c.connect(p)\nexcept BlockingIOError:\n    pass\n";
    /// Bound, not listening yet (the moment between bind() and listen()).
    pub const BOUND_ONLY: &str = "";

    impl Server {
        pub fn start(path: &Path, then: &str) -> Server {
            let script = format!(
                "import socket, sys, time\np = sys.argv[1]\n\
                 s = socket.socket(socket.AF_UNIX)\ns.bind(p)\n{then}\
                 print('ready', flush=True)\ntime.sleep(60)\n"
            );
            let mut child = Command::new("python3")
                .arg("-c")
                .arg(script)
                .arg(path)
                .stdout(Stdio::piped())
                .spawn()
                .expect("python3 runs the foreign server (install Debian's python3)");
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line.trim(), "ready", "the foreign server did not start");
            Server(child)
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A live server whose accept queue is full is in use: `bind` says `AddrInUse` at once
/// instead of blocking in a connect (Linux) or taking the name (macOS, the BSDs).
#[cfg(unix)]
#[test]
fn bind_over_a_live_server_with_a_full_queue_is_addr_in_use_at_once() {
    let name = service("full-queue");
    let cleanup = Cleanup::new(&name);
    let _server = foreign::Server::start(&cleanup.0, foreign::FULL_QUEUE);
    let err = within(Duration::from_secs(3), move || local::bind(&name).map(drop))
        .expect_err("bound over a live server");
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
}

/// A socket bound but not yet listening belongs to a server starting up: `bind` must
/// not take it for a stale file and remove it.
#[cfg(unix)]
#[test]
fn bind_over_a_server_between_bind_and_listen_is_addr_in_use() {
    use std::os::unix::fs::MetadataExt;
    let name = service("bound-only");
    let cleanup = Cleanup::new(&name);
    let _server = foreign::Server::start(&cleanup.0, foreign::BOUND_ONLY);
    let inode = std::fs::metadata(&cleanup.0).unwrap().ino();
    let err = within(Duration::from_secs(3), move || local::bind(&name).map(drop))
        .expect_err("bound over a starting server");
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    let after = std::fs::metadata(&cleanup.0).unwrap().ino();
    assert_eq!(inode, after, "the server's socket file was replaced");
}

/// Processes that bind one name over a stale socket file at the same moment: exactly
/// one gets it, the others `AddrInUse`, and clients reach the one that got it.
#[cfg(unix)]
#[test]
fn simultaneous_binds_over_a_stale_socket_give_the_name_to_one() {
    use std::sync::{Arc, Barrier};
    within(LIMIT, || {
        let name = service("stale-race");
        let _cleanup = Cleanup::new(&name);
        for round in 0..40 {
            drop(local::bind(&name).unwrap()); // leaves a stale socket file
            let start = Arc::new(Barrier::new(4));
            let binders: Vec<_> = (0..4)
                .map(|_| {
                    let (name, start) = (name.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        local::bind(&name)
                    })
                })
                .collect();
            let results: Vec<_> = binders.into_iter().map(|t| t.join().unwrap()).collect();
            let winners: Vec<&Listener> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
            assert_eq!(winners.len(), 1, "round {round}: {results:?}");
            for r in &results {
                if let Err(e) = r {
                    assert_eq!(e.kind(), ErrorKind::AddrInUse, "round {round}: {e}");
                }
            }
            let mut client = timed(local::connect(&name).unwrap());
            client.set_nonblocking(false).unwrap();
            client.write_all(b"!").unwrap();
            let mut server = timed(winners[0].accept().unwrap().0);
            let mut one = [0u8; 1];
            server.read_exact(&mut one).unwrap();
        }
    });
}

/// Windows looks pipe names up without regard to case; service names do the same on
/// every platform, so "Svc" and "svc" are one service everywhere.
#[test]
fn service_names_ignore_case_on_every_platform() {
    within(LIMIT, || {
        let lower = service("case");
        let upper = lower.to_ascii_uppercase();
        let _cleanup = Cleanup::new(&lower);
        assert_eq!(
            local::service_path(&upper).unwrap(),
            local::service_path(&lower).unwrap()
        );
        let listener = local::bind(&upper).unwrap();
        let err = local::bind(&lower).map(drop).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        let mut client = timed(local::connect(&lower).unwrap());
        let mut server = timed(listener.accept().unwrap().0);
        exchange(&mut client, &mut server, b"one service");
    });
}

/// The socket is its owner's alone (0600), whatever the umask.
#[cfg(unix)]
#[test]
fn the_socket_is_readable_and_writable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let name = service("mode");
    let cleanup = Cleanup::new(&name);
    let _listener = local::bind(&name).unwrap();
    let mode = std::fs::metadata(&cleanup.0).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
}
