//! Tests across two processes: the test executable starts itself again as a child
//! (see `common::process`). Peer process ids in both directions, and a connection
//! served by a child process through relayed stdin and stdout.
#![cfg_attr(not(windows), allow(dead_code))]

mod common;

#[cfg(not(windows))]
fn main() {}

#[cfg(windows)]
fn main() {
    common::process::main(
        &[
            (
                "harness_child_runs_its_role",
                tests::harness_child_runs_its_role,
            ),
            (
                "server_sees_the_client_process_id",
                tests::server_sees_the_client_process_id,
            ),
            (
                "client_sees_the_server_process_id",
                tests::client_sees_the_server_process_id,
            ),
            (
                "a_child_serves_a_connection_through_relayed_stdio",
                tests::a_child_serves_a_connection_through_relayed_stdio,
            ),
        ],
        &[
            ("print_pid", roles::print_pid),
            ("client", roles::client),
            ("server", roles::server),
            ("duplex", roles::duplex),
        ],
    );
}

/// What the child process does, by role.
#[cfg(windows)]
mod roles {
    use std::io::{Read, Write};
    use winpipe::{WinListener, WinStream};

    pub fn print_pid(_: &[String]) {
        println!("{}", std::process::id());
    }

    /// Connects to `args[0]` and writes its process id, then waits for the parent's
    /// byte so that the connection outlives the parent's checks.
    pub fn client(args: &[String]) {
        let mut stream = WinStream::connect(&args[0]).unwrap();
        stream.write_all(&std::process::id().to_le_bytes()).unwrap();
        let _ = stream.read(&mut [0]);
    }

    /// Binds `args[0]`, says "ready" on stdout, serves one client: sends its process
    /// id, then waits for the client's byte.
    pub fn server(args: &[String]) {
        let listener = WinListener::bind(&args[0]).unwrap();
        println!("ready");
        std::io::stdout().flush().unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(&std::process::id().to_le_bytes()).unwrap();
        let _ = stream.read(&mut [0]);
    }

    /// Byte `i` of the stream `seed` the duplex role reads or writes.
    pub fn byte(seed: u8, i: usize) -> u8 {
        (i.wrapping_mul(13) ^ (i >> 9) ^ usize::from(seed)) as u8
    }

    /// std's synchronous I/O from two threads at once: one reads `args[0]` bytes of
    /// stream 1 from stdin, the other writes `args[1]` bytes of stream 2 to stdout,
    /// both in small pieces with pauses. Exits non-zero if anything is off.
    pub fn duplex(args: &[String]) {
        let (inbound, outbound): (usize, usize) =
            (args[0].parse().unwrap(), args[1].parse().unwrap());
        let reader = std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 1000];
            let mut got = 0;
            let mut reads = 0;
            while got < inbound {
                let n = stdin.read(&mut buf).expect("stdin read");
                assert!(n > 0, "stdin ended after {got} bytes");
                for (k, b) in buf[..n].iter().enumerate() {
                    assert_eq!(*b, byte(1, got + k), "stdin byte {}", got + k);
                }
                got += n;
                reads += 1;
                if reads % 16 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(3));
                }
            }
        });
        let mut stdout = std::io::stdout().lock();
        let mut sent = 0;
        let mut writes = 0;
        while sent < outbound {
            let len = 700.min(outbound - sent);
            let piece: Vec<u8> = (sent..sent + len).map(|i| byte(2, i)).collect();
            stdout.write_all(&piece).expect("stdout write");
            stdout.flush().expect("stdout flush");
            sent += len;
            writes += 1;
            if writes % 16 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(3));
            }
        }
        reader.join().expect("the stdin thread");
    }
}

#[cfg(windows)]
mod tests {
    use super::common::{pipe_name, process::child};
    use std::io::{self, BufRead, BufReader, Read, Write};
    use std::net::Shutdown;
    use std::process::{Command, ExitStatus, Stdio};
    use std::thread;
    use std::time::Duration;
    use winpipe::{WinListener, WinStream};

    fn read_pid(stream: &mut WinStream) -> u32 {
        let mut bytes = [0; 4];
        stream.read_exact(&mut bytes).unwrap();
        u32::from_le_bytes(bytes)
    }

    /// The harness itself: a child started with a role runs that role, not the tests.
    pub fn harness_child_runs_its_role() {
        let child = child("print_pid", &[]).output().unwrap();
        assert!(child.status.success());
        let out = String::from_utf8(child.stdout).unwrap();
        let pid: u32 = out
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("child printed {out:?}"));
        assert_ne!(pid, std::process::id());
    }

    pub fn server_sees_the_client_process_id() {
        let name = pipe_name("server_sees_client_pid");
        let listener = WinListener::bind(&name).unwrap();
        let mut process = child("client", &[&name]).spawn().unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        let told = read_pid(&mut stream);
        assert_eq!(told, process.id());
        assert_eq!(stream.peer_process_id().unwrap(), process.id());
        assert_ne!(stream.peer_process_id().unwrap(), std::process::id());
        stream.write_all(b"x").unwrap();
        assert!(process.wait().unwrap().success());
    }

    pub fn client_sees_the_server_process_id() {
        let name = pipe_name("client_sees_server_pid");
        let mut process = child("server", &[&name])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        BufReader::new(process.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready.trim(), "ready");
        let mut stream = WinStream::connect_with_timeout(&name, Duration::from_secs(10)).unwrap();
        let told = read_pid(&mut stream);
        assert_eq!(told, process.id());
        assert_eq!(stream.peer_process_id().unwrap(), process.id());
        stream.write_all(b"x").unwrap();
        assert!(process.wait().unwrap().success());
    }

    /// The user guide's way (docs/guide.md) to let a child process serve a connection: the child gets
    /// std's own pipes as stdin and stdout, and two threads relay between them and
    /// the stream. (A stream's handle is overlapped; a child doing std's synchronous
    /// I/O on it from two threads aborts, rust-lang/rust#81357.)
    fn relay(stream: WinStream, mut command: Command) -> io::Result<ExitStatus> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut child_in = child.stdin.take().expect("piped stdin");
        let mut child_out = child.stdout.take().expect("piped stdout");
        let from_client = stream.try_clone()?;
        let feeder = thread::spawn(move || io::copy(&mut &from_client, &mut child_in));
        io::copy(&mut child_out, &mut &stream)?;
        let status = child.wait()?;
        // The child is done: stop feeding it (the blocked read returns end of stream).
        // What the feeder met does not matter now: the child may have stopped reading.
        stream.shutdown(Shutdown::Read)?;
        let _ = feeder.join();
        Ok(status)
    }

    /// A child that reads its stdin on one thread while it writes its stdout on
    /// another, a few hundred KiB each way in small pieces with pauses, serves a
    /// connection through `relay`: every byte arrives, both ways, and it exits cleanly.
    pub fn a_child_serves_a_connection_through_relayed_stdio() {
        let name = pipe_name("relayed_stdio");
        let listener = WinListener::bind(&name).unwrap();
        let ours = WinStream::connect(&name).unwrap();
        let (theirs, _) = listener.accept().unwrap();
        let total = 300_000;
        let command = child("duplex", &[&total.to_string(), &total.to_string()]);
        let server = thread::spawn(move || relay(theirs, command));
        let writer = ours.try_clone().unwrap();
        let feeder = thread::spawn(move || {
            let data: Vec<u8> = (0..total).map(|i| super::roles::byte(1, i)).collect();
            for piece in data.chunks(900) {
                (&writer).write_all(piece).unwrap();
                thread::sleep(Duration::from_millis(2));
            }
        });
        let mut got = 0;
        let mut buf = [0u8; 4096];
        loop {
            let n = (&ours).read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            for (k, b) in buf[..n].iter().enumerate() {
                assert_eq!(*b, super::roles::byte(2, got + k), "byte {}", got + k);
            }
            got += n;
        }
        assert_eq!(got, total, "the child's whole output, then end of stream");
        feeder.join().unwrap();
        let status = server.join().unwrap().expect("the relay");
        assert!(status.success(), "child: {status:?}");
    }
}
