//! Echo server: accepts clients on a named pipe and sends back every line they write.
//!
//! `cargo run --example echo_server [PIPE_NAME]` (default `\\.\pipe\winpipe-demo`).

#[cfg(windows)]
fn main() -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Write};
    use winpipe::WinListener;

    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| r"\\.\pipe\winpipe-demo".to_string());
    let listener = WinListener::bind(&name)?;
    println!("echo server listening on {name}");
    for stream in &listener {
        let stream = stream?;
        std::thread::spawn(move || {
            let mut lines = BufReader::new(&stream);
            let mut line = String::new();
            // One client: echo each line until it closes its end.
            while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
                print!("echo: {line}");
                if (&stream).write_all(line.as_bytes()).is_err() {
                    break;
                }
                line.clear();
            }
        });
    }
    Ok(())
}

#[cfg(not(windows))]
fn main() {
    eprintln!("echo_server uses Windows named pipes: build it for a Windows target");
}
