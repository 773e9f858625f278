//! Tests across two processes: the test executable starts itself again as a child
//! (see `common::process`). Peer process ids in both directions, and a connected
//! stream handed to a child as its stdin and stdout.
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
                "stream_serves_as_a_child_stdin_and_stdout",
                tests::stream_serves_as_a_child_stdin_and_stdout,
            ),
        ],
        &[
            ("print_pid", roles::print_pid),
            ("client", roles::client),
            ("server", roles::server),
            ("upper", roles::upper),
        ],
    );
}

/// What the child process does, by role.
#[cfg(windows)]
mod roles {
    use std::io::{BufRead, Read, Write};
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

    /// Reads one line from stdin and writes it back upper-cased to stdout: plain std
    /// I/O on whatever handles it was given.
    pub fn upper(_: &[String]) {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).unwrap();
        let mut out = std::io::stdout().lock();
        out.write_all(line.to_uppercase().as_bytes()).unwrap();
        out.flush().unwrap();
    }
}

#[cfg(windows)]
mod tests {
    use super::common::{pipe_name, process::child};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::Stdio;
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

    /// The server end of a connection becomes the child's stdin and stdout (through
    /// `Stdio::from`); the parent talks to the child through the client end.
    pub fn stream_serves_as_a_child_stdin_and_stdout() {
        let name = pipe_name("stdio_handoff");
        let listener = WinListener::bind(&name).unwrap();
        let mut ours = WinStream::connect(&name).unwrap();
        let (theirs, _) = listener.accept().unwrap();
        let theirs_out = theirs.try_clone().unwrap();
        let mut process = child("upper", &[])
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::from(theirs_out))
            .spawn()
            .unwrap();
        // The Command owned the Stdio handles and was dropped with that statement, so
        // this process keeps no handle to the child's end.
        ours.write_all(b"hello through a pipe\n").unwrap();
        let mut reply = Vec::new();
        // The child exits after answering: its handles close and we read to the end.
        ours.read_to_end(&mut reply).unwrap();
        assert_eq!(String::from_utf8(reply).unwrap(), "HELLO THROUGH A PIPE\n");
        assert!(process.wait().unwrap().success());
    }
}
