//! Message round trips: a message out, its echo back, on a winpipe message pair and a
//! raw message-mode pair open side by side, alternating trip by trip.

use crate::raw::{self, RawMessages};
use std::io;
use std::thread::{self, JoinHandle};
use std::time::Instant;
use winpipe::WinMessageStream;

/// Both implementations' message ends, behind one trait so both run the same code.
trait Messages: Send + 'static {
    fn send(&mut self, msg: &[u8]) -> io::Result<()>;
    /// Replaces `buf` with the next message; `false` at the end of the stream.
    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<bool>;
}

impl Messages for WinMessageStream {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        WinMessageStream::send(self, msg).map(drop)
    }

    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        buf.clear();
        Ok(self.recv_message(buf)?.is_some())
    }
}

impl Messages for RawMessages {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        RawMessages::send(self, msg)
    }

    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        RawMessages::recv(self, buf)
    }
}

/// The server end echoes every message on its own thread until the client is gone.
fn echo<M: Messages>(mut server: M) -> JoinHandle<io::Result<()>> {
    thread::spawn(move || {
        let mut buf = Vec::with_capacity(64 * 1024);
        while server.recv(&mut buf)? {
            server.send(&buf)?;
        }
        Ok(())
    })
}

/// One round trip of `msg`, in microseconds; the echo must be the message.
fn trip<M: Messages>(client: &mut M, msg: &[u8], buf: &mut Vec<u8>) -> io::Result<f64> {
    let start = Instant::now();
    client.send(msg)?;
    if !client.recv(buf)? || buf.as_slice() != msg {
        return Err(io::Error::other("the echo is not the message"));
    }
    Ok(start.elapsed().as_secs_f64() * 1e6)
}

/// `trips` round trips of a `size`-byte message on each side: winpipe's then raw's
/// microseconds per trip.
pub fn ping_pong(names: [&str; 2], size: usize, trips: usize) -> io::Result<[Vec<f64>; 2]> {
    let (mut w, w_server) = WinMessageStream::pair_named(names[0])?;
    let (mut r, r_server) = raw::message_pair(names[1])?;
    let (w_echo, r_echo) = (echo(w_server), echo(r_server));
    let msg: Vec<u8> = (0..size).map(|i| i as u8).collect();
    let mut buf = Vec::with_capacity(64 * 1024);
    for _ in 0..trips / 10 {
        trip(&mut w, &msg, &mut buf)?;
        trip(&mut r, &msg, &mut buf)?;
    }
    let mut times = [Vec::with_capacity(trips), Vec::with_capacity(trips)];
    for _ in 0..trips {
        times[0].push(trip(&mut w, &msg, &mut buf)?);
        times[1].push(trip(&mut r, &msg, &mut buf)?);
    }
    drop((w, r));
    w_echo.join().expect("echo panicked")?;
    r_echo.join().expect("echo panicked")?;
    Ok(times)
}

/// A winpipe message pair: a listener on `name`, one client, the accepted end.
trait PairNamed: Sized {
    fn pair_named(name: &str) -> io::Result<(Self, Self)>;
}

impl PairNamed for WinMessageStream {
    fn pair_named(name: &str) -> io::Result<(Self, Self)> {
        let listener = winpipe::WinMessageListener::bind(name)?;
        let client = WinMessageStream::connect(name)?;
        let (server, _) = listener.accept()?;
        Ok((client, server))
    }
}
