//! One function per measurement, generic over the implementation where the protocol
//! is the same. Each returns the figures of one run; `main` interleaves the runs.

use crate::imp::{Imp, Raw, Winpipe};
use crate::{counters, raw};
use std::io::{self, IoSlice, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// One pair's writer thread: each number it is sent, it writes that many bytes in
/// `chunk`-byte writes; it ends when the sender is dropped.
fn streamer<S: Write + Send + 'static>(
    mut tx: S,
    chunk: usize,
) -> (mpsc::Sender<usize>, JoinHandle<io::Result<()>>) {
    let (order, orders) = mpsc::channel::<usize>();
    let writer = thread::spawn(move || -> io::Result<()> {
        let buf = vec![0x5a; chunk];
        for mut left in orders {
            while left > 0 {
                let n = chunk.min(left);
                tx.write_all(&buf[..n])?;
                left -= n;
            }
        }
        Ok(())
    });
    (order, writer)
}

/// Reads exactly `n` bytes with a 64 KiB buffer.
fn drain<S: Read>(rx: &mut S, buf: &mut [u8], n: usize) -> io::Result<()> {
    let mut got = 0;
    while got < n {
        match rx.read(buf)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            k => got += k,
        }
    }
    Ok(())
}

/// Streaming on a winpipe pair and a raw pair open side by side, in turns (winpipe,
/// raw, winpipe, raw …) so that both see the same load: in each turn one thread writes
/// `turn` bytes in `chunk`-byte writes and this thread reads them with a 64 KiB
/// buffer. Returns each side's total time over `turns` turns, from the order to write
/// to the last byte read; winpipe first, raw second.
pub fn throughput(
    names: [&str; 2],
    chunk: usize,
    turn: usize,
    turns: usize,
) -> io::Result<[Duration; 2]> {
    let w = Winpipe::pair(names[0])?;
    let r = Raw::pair(names[1])?;
    in_turns(w, r, chunk, turn, turns)
}

/// As `throughput`, but each client writes to a raw server whose buffers are 0 (as
/// .NET makes them by default); with `timeout`, winpipe's client has that write
/// timeout (see docs/design.md, "Writes and cancellation").
pub fn throughput_to_zero_buffer(
    names: [&str; 2],
    chunk: usize,
    turn: usize,
    turns: usize,
    timeout: Option<Duration>,
) -> io::Result<[Duration; 2]> {
    let server = raw::ZeroServer::create(names[0])?;
    let client = Winpipe::connect(names[0])?;
    client.set_write_timeout(timeout)?;
    let w = (client, server.accept()?);
    let server = raw::ZeroServer::create(names[1])?;
    let client = Raw::connect(names[1])?;
    let r = (client, server.accept()?);
    in_turns(w, r, chunk, turn, turns)
}

/// Streams on two pairs (each a writer end and a reader end) in turns, as
/// `throughput` describes.
fn in_turns<W, R>(
    (w_tx, mut w_rx): (W, impl Read),
    (r_tx, mut r_rx): (R, impl Read),
    chunk: usize,
    turn: usize,
    turns: usize,
) -> io::Result<[Duration; 2]>
where
    W: Write + Send + 'static,
    R: Write + Send + 'static,
{
    let (w_order, w_writer) = streamer(w_tx, chunk);
    let (r_order, r_writer) = streamer(r_tx, chunk);
    let mut buf = vec![0; 64 * 1024];
    let mut times = [Duration::ZERO; 2];
    let gone = || io::Error::from(io::ErrorKind::BrokenPipe);
    for _ in 0..turns {
        let start = Instant::now();
        w_order.send(turn).map_err(|_| gone())?;
        drain(&mut w_rx, &mut buf, turn)?;
        times[0] += start.elapsed();
        let start = Instant::now();
        r_order.send(turn).map_err(|_| gone())?;
        drain(&mut r_rx, &mut buf, turn)?;
        times[1] += start.elapsed();
    }
    drop((w_order, r_order));
    w_writer.join().expect("writer panicked")?;
    r_writer.join().expect("writer panicked")?;
    Ok(times)
}

/// A connected pair whose server end echoes every byte on its own thread: the client
/// end and the echo thread (which ends when the client end is dropped).
fn echo_pair<I: Imp>(name: &str) -> io::Result<(I::Stream, JoinHandle<io::Result<()>>)> {
    let (client, mut server) = I::pair(name)?;
    let echo = thread::spawn(move || -> io::Result<()> {
        let mut b = [0u8; 1];
        while server.read(&mut b)? == 1 {
            server.write_all(&b)?;
        }
        Ok(())
    });
    Ok((client, echo))
}

/// One round trip: a byte out, its echo back.
fn trip<S: Read + Write>(client: &mut S) -> io::Result<()> {
    let mut b = [7u8; 1];
    client.write_all(&b)?;
    client.read_exact(&mut b)
}

/// One `trip`, its microseconds added to `times`.
fn timed_trip<S: Read + Write>(client: &mut S, times: &mut Vec<f64>) -> io::Result<()> {
    let start = Instant::now();
    trip(client)?;
    times.push(micros(start.elapsed()));
    Ok(())
}

/// 1-byte ping-pong on a winpipe pair and a raw pair open side by side, alternating
/// trip by trip (winpipe, raw, winpipe, raw …) so that both see the same load: the
/// microseconds of each trip, and the Kernel32 calls (both ends) per trip, counted
/// over `counted` extra trips afterwards (0 if none). Winpipe first, raw second.
pub fn ping_pong(
    names: [&str; 2],
    trips: usize,
    counted: usize,
) -> io::Result<[(Vec<f64>, f64); 2]> {
    let (mut w, w_echo) = echo_pair::<Winpipe>(names[0])?;
    let (mut r, r_echo) = echo_pair::<Raw>(names[1])?;
    for _ in 0..trips / 10 {
        trip(&mut w)?;
        trip(&mut r)?;
    }
    let (mut w_times, mut r_times) = (Vec::with_capacity(trips), Vec::with_capacity(trips));
    for _ in 0..trips {
        timed_trip(&mut w, &mut w_times)?;
        timed_trip(&mut r, &mut r_times)?;
    }
    let per_trip = |calls: counters::Calls| calls.total as f64 / counted.max(1) as f64;
    let (result, w_calls) =
        counters::calls::<Winpipe, _>(|| (0..counted).try_for_each(|_| trip(&mut w)));
    result?;
    let (result, r_calls) =
        counters::calls::<Raw, _>(|| (0..counted).try_for_each(|_| trip(&mut r)));
    result?;
    drop((w, r));
    w_echo.join().expect("echo panicked")?;
    r_echo.join().expect("echo panicked")?;
    Ok([(w_times, per_trip(w_calls)), (r_times, per_trip(r_calls))])
}

/// What one connection-rate run saw.
pub struct Connections {
    pub count: usize,
    pub elapsed: Duration,
    pub errors: usize,
}

/// `clients` threads each connect `per_client` times, write 1 byte and close; the
/// server accepts, reads the byte and closes.
pub fn connections<I: Imp>(
    name: &str,
    clients: usize,
    per_client: usize,
) -> io::Result<Connections> {
    let mut listener = I::bind(name)?;
    let total = clients * per_client;
    // Every thread starts when all exist, so that making threads is not timed.
    let ready = Arc::new(Barrier::new(clients + 2));
    let go = ready.clone();
    // The clock stops at the last byte read, before the listener is dropped: closing
    // its waiting instances (32 for winpipe, 1 for raw) is a cost of the listener, not
    // of each connection (the "listener bind + drop" row shows it).
    let server = thread::spawn(move || -> io::Result<(Instant, I::Listener)> {
        go.wait();
        for _ in 0..total {
            let mut stream = I::accept(&mut listener)?;
            let mut b = [0u8; 1];
            stream.read_exact(&mut b)?;
        }
        Ok((Instant::now(), listener))
    });
    let errors = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (name, errors, go) = (name.to_string(), errors.clone(), ready.clone());
            thread::spawn(move || {
                go.wait();
                for _ in 0..per_client {
                    match I::connect(&name).and_then(|mut c| c.write_all(&[1])) {
                        Ok(()) => {}
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    ready.wait();
    let start = Instant::now();
    for t in threads {
        t.join().expect("client panicked");
    }
    let errors = errors.load(Ordering::Relaxed);
    // Stand in for the clients that failed, so that the server finishes.
    for _ in 0..errors {
        I::connect(name)?.write_all(&[1])?;
    }
    let (end, listener) = server.join().expect("server panicked")?;
    drop(listener);
    Ok(Connections {
        count: total,
        elapsed: end - start,
        errors,
    })
}

/// Binds a listener and drops it at once: what a listener costs apart from its
/// connections (making and closing its waiting instances).
pub fn listener_lifetime<I: Imp>(name: &str) -> io::Result<Duration> {
    let start = Instant::now();
    drop(I::bind(name)?);
    Ok(start.elapsed())
}

/// `n` connections one after the other on this one thread: connect, write a byte,
/// accept, read it, close both ends. The time they took.
pub fn sequential_connections<I: Imp>(name: &str, n: usize) -> io::Result<Duration> {
    let mut listener = I::bind(name)?;
    let start = Instant::now();
    for _ in 0..n {
        let mut client = I::connect(name)?;
        client.write_all(&[1])?;
        let mut b = [0u8; 1];
        I::accept(&mut listener)?.read_exact(&mut b)?;
    }
    Ok(start.elapsed())
}

/// Kernel32 calls for one connection (both sides), counted over a few sequential ones.
pub fn calls_per_connection<I: Imp>(name: &str) -> io::Result<f64> {
    const N: usize = 20;
    let mut listener = I::bind(name)?;
    let (result, calls) = counters::calls::<I, _>(|| -> io::Result<()> {
        for _ in 0..N {
            I::connect(name)?.write_all(&[1])?;
            let mut b = [0u8; 1];
            I::accept(&mut listener)?.read_exact(&mut b)?;
        }
        Ok(())
    });
    result?;
    Ok(calls.total as f64 / N as f64)
}

/// Reads with a 50 ms timeout and no data: when each fired (ms), and whether every one
/// timed out and the stream then still delivered the peer's next byte.
pub struct Timeout {
    pub fired_ms: Vec<f64>,
    pub usable: bool,
}

const TIMEOUT: Duration = Duration::from_millis(50);

pub fn timeout_winpipe(name: &str, samples: usize) -> io::Result<Timeout> {
    use crate::imp::Winpipe;
    let (mut client, mut server) = Winpipe::pair(name)?;
    client.set_read_timeout(Some(TIMEOUT))?;
    timeouts(samples, |buf| client.read(buf), |b| server.write_all(b))
}

pub fn timeout_raw(name: &str, samples: usize) -> io::Result<Timeout> {
    let (mut client, mut server) = raw::timed_pair(name)?;
    let ms = TIMEOUT.as_millis() as u32;
    timeouts(samples, |buf| client.read(buf, ms), |b| server.write_all(b))
}

/// `samples` times: a read that must time out, then a byte from the peer that the next
/// read (same timeout) must return.
fn timeouts(
    samples: usize,
    mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
    mut peer_write: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<Timeout> {
    let mut fired_ms = Vec::with_capacity(samples);
    let mut usable = true;
    let mut buf = [0u8; 16];
    for k in 0..samples as u8 {
        let start = Instant::now();
        let result = read(&mut buf);
        fired_ms.push(start.elapsed().as_secs_f64() * 1e3);
        usable &= matches!(result, Err(ref e) if e.kind() == io::ErrorKind::TimedOut);
        peer_write(&[k])?;
        usable &= matches!(read(&mut buf), Ok(1)) && buf[0] == k;
    }
    Ok(Timeout { fired_ms, usable })
}

/// `calls` vectored writes of 16 slices of 64 bytes, while the peer drains: the time
/// they took, and the Kernel32 calls (and WriteFile calls) the writing thread made for
/// one more.
pub fn vectored<I: Imp>(name: &str, calls: usize) -> io::Result<(Duration, counters::Calls)> {
    let (mut tx, mut rx) = I::pair(name)?;
    let drain = thread::spawn(move || -> io::Result<usize> {
        let mut buf = vec![0; 64 * 1024];
        let mut got = 0;
        loop {
            match rx.read(&mut buf)? {
                0 => return Ok(got),
                n => got += n,
            }
        }
    });
    let parts = [[7u8; 64]; 16];
    let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let one = |tx: &mut I::Stream| -> io::Result<()> {
        match tx.write_vectored(&slices)? {
            1024 => Ok(()),
            n => Err(io::Error::other(format!("vectored write took {n} of 1024"))),
        }
    };
    for _ in 0..calls / 10 {
        one(&mut tx)?;
    }
    let start = Instant::now();
    for _ in 0..calls {
        one(&mut tx)?;
    }
    let elapsed = start.elapsed();
    let (result, calls) = counters::calls_here::<I, _>(|| one(&mut tx));
    result?;
    drop(tx);
    drain.join().expect("drain panicked")?;
    Ok((elapsed, calls))
}

/// Per idle connection (both ends, after one byte each way): handles, bytes on the
/// Rust heap, and process commit (private bytes).
pub fn idle<I: Imp>(name: &str, n: usize) -> io::Result<[f64; 3]> {
    let mut listener = I::bind(name)?;
    let mut conns = Vec::with_capacity(n);
    let handles = raw::handle_count();
    let heap = counters::heap_bytes();
    let private = raw::private_bytes();
    for _ in 0..n {
        let mut client = I::connect(name)?;
        let mut server = I::accept(&mut listener)?;
        let mut b = [1u8];
        client.write_all(&b)?;
        server.read_exact(&mut b)?;
        server.write_all(&b)?;
        client.read_exact(&mut b)?;
        conns.push((client, server));
    }
    let per = |after: usize, before: usize| (after as f64 - before as f64) / n as f64;
    let figures = [
        per(raw::handle_count(), handles),
        per(counters::heap_bytes(), heap),
        per(raw::private_bytes(), private),
    ];
    drop(conns);
    Ok(figures)
}
