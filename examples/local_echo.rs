//! One source for Linux and Windows: a server thread and a client exchange a line over
//! the platform's local IPC (a Unix socket on Unix, a named pipe on Windows) through
//! `winpipe::local`. Exits with status 0 only if the line came back unchanged.
//!
//! `cargo run --example local_echo [SERVICE]` (default `winpipe-local-echo`); for
//! Windows, `cargo run --target x86_64-pc-windows-gnu --example local_echo`.

use std::io::{self, BufRead, BufReader, Write};
use std::thread;
use std::time::Duration;
use winpipe::local;

/// How long either side waits for the other's line.
const TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let service = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "winpipe-local-echo".to_string());
    let listener = local::bind(&service)?;
    let path = local::service_path(&service)?;
    println!("server: listening on {}", path.display());

    // The server: one client, one line, echoed back.
    let server = thread::spawn(move || -> io::Result<String> {
        let (stream, _addr) = listener.accept()?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line)?;
        (&stream).write_all(line.as_bytes())?;
        Ok(line)
    });

    let message = format!("hello from process {}\n", std::process::id());
    let client = local::connect(&service)?;
    client.set_read_timeout(Some(TIMEOUT))?;
    (&client).write_all(message.as_bytes())?;
    let mut reply = String::new();
    BufReader::new(&client).read_line(&mut reply)?;

    let received = server.join().map_err(|_| "server thread panicked")??;
    println!("server: received {:?}", received.trim_end());
    println!("client: got back {:?}", reply.trim_end());
    if received != message || reply != message {
        return Err("the echo differs from the message".into());
    }
    println!("ok");
    Ok(())
}
