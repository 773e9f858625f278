//! Echo client: sends one line to the echo server and checks that it comes back.
//!
//! `cargo run --example echo_client [PIPE_NAME [WORDS...]]`

#[cfg(windows)]
fn main() -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Error, ErrorKind, Write};
    use std::time::Duration;
    use winpipe::WinStream;

    let mut args = std::env::args().skip(1);
    let name = args
        .next()
        .unwrap_or_else(|| r"\\.\pipe\winpipe-demo".to_string());
    let words: Vec<String> = args.collect();
    let message = if words.is_empty() {
        "hello from winpipe".to_string()
    } else {
        words.join(" ")
    };

    // Waits up to 10 s for the server to come up.
    let mut stream = WinStream::connect(&name)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    writeln!(stream, "{message}")?;
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply)?;
    println!("sent:     {message}\nreceived: {}", reply.trim_end());
    if reply.trim_end() != message {
        return Err(Error::new(ErrorKind::InvalidData, "the echo differs"));
    }
    Ok(())
}

#[cfg(not(windows))]
fn main() {
    eprintln!("echo_client uses Windows named pipes: build it for a Windows target");
}
