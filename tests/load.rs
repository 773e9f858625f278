//! Load: 64 concurrent clients, each sending request messages of random sizes (1 byte
//! to 256 KiB, log-uniform, and both extremes in every client) through one listener;
//! the server checks each request's checksum and sends it back with its own checksum;
//! the client checks the echo byte for byte. Nothing may be lost, changed or fail, and
//! the whole run must finish within a bound.
//!
//! `WINPIPE_LOAD_MESSAGES` sets the messages per client (default 1,000: the full size,
//! which CI runs); `WINPIPE_LOAD_SEED` changes the sizes and contents.
#![cfg(windows)]

mod common;

use std::io::{BufReader, Read, Write};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use winpipe::{WinListener, WinStream};

const CLIENTS: usize = 64;
const MAX_MESSAGE: usize = 256 * 1024;
/// Read timeouts: a lost byte fails the run with `TimedOut` instead of hanging it.
const STALL: Duration = Duration::from_secs(60);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// splitmix64: a small, good enough generator for sizes and contents.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A size from 1 to MAX_MESSAGE, log-uniform: small and large messages alike.
    fn size(&mut self) -> usize {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let size = (MAX_MESSAGE as f64).powf(unit) as usize;
        size.clamp(1, MAX_MESSAGE)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        let mut words = buf.chunks_exact_mut(8);
        for word in &mut words {
            word.copy_from_slice(&self.next().to_le_bytes());
        }
        let rest = words.into_remainder();
        let last = self.next().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

/// A checksum of every byte (word-wise, so it is quick in debug builds too).
fn checksum(data: &[u8]) -> u64 {
    let mut h = 0xCBF2_9CE4_8422_2325u64 ^ data.len() as u64;
    let mut words = data.chunks_exact(8);
    for word in &mut words {
        let w = u64::from_le_bytes(word.try_into().unwrap());
        h = (h ^ w).wrapping_mul(0x0000_0100_0000_01B3).rotate_left(29);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// One client: `messages` requests, each `[len u32][payload][checksum u64]`, each
/// answered by `[payload][server's checksum u64]`. Returns the payload bytes sent.
fn client(name: &str, index: usize, messages: usize, seed: u64) -> usize {
    let mut stream = WinStream::connect_with_timeout(name, STALL)
        .unwrap_or_else(|e| panic!("client {index}: connect: {e}"));
    stream.set_read_timeout(Some(STALL)).unwrap();
    let mut rng = Rng(seed ^ (index as u64).wrapping_mul(0xA076_1D64_78BD_642F));
    let mut request = Vec::with_capacity(MAX_MESSAGE + 12);
    let mut answer = vec![0; MAX_MESSAGE + 8];
    let mut total = 0;
    for m in 0..messages {
        let len = match m {
            0 => 1,
            1 => MAX_MESSAGE,
            _ => rng.size(),
        };
        request.clear();
        request.extend_from_slice(&(len as u32).to_le_bytes());
        request.resize(4 + len, 0);
        rng.fill(&mut request[4..]);
        let sum = checksum(&request[4..]);
        request.extend_from_slice(&sum.to_le_bytes());
        stream
            .write_all(&request)
            .unwrap_or_else(|e| panic!("client {index} message {m}: write: {e}"));
        let answer = &mut answer[..len + 8];
        stream
            .read_exact(answer)
            .unwrap_or_else(|e| panic!("client {index} message {m}: read: {e}"));
        assert!(
            answer[..len] == request[4..4 + len],
            "client {index} message {m} ({len} bytes): the echo differs"
        );
        let server_sum = u64::from_le_bytes(answer[len..].try_into().unwrap());
        assert_eq!(
            server_sum, sum,
            "client {index} message {m}: the server's checksum differs"
        );
        total += len;
    }
    total
}

/// Serves one client until it closes: checks each request's checksum and echoes it.
/// Returns the number of messages.
fn serve(stream: WinStream) -> usize {
    stream.set_read_timeout(Some(STALL)).unwrap();
    let mut input = BufReader::with_capacity(64 * 1024, &stream);
    let mut payload = vec![0; MAX_MESSAGE + 8];
    let mut count = 0;
    loop {
        let mut header = [0; 4];
        match input.read(&mut header[..1]).expect("server: read a header") {
            0 => return count,
            _ => input.read_exact(&mut header[1..]).expect("server: header"),
        }
        let len = u32::from_le_bytes(header) as usize;
        assert!((1..=MAX_MESSAGE).contains(&len), "server: length {len}");
        let message = &mut payload[..len + 8];
        input.read_exact(message).expect("server: read a message");
        let sent = u64::from_le_bytes(message[len..].try_into().unwrap());
        let sum = checksum(&message[..len]);
        assert_eq!(
            sum, sent,
            "server: message {count} ({len} bytes) arrived changed"
        );
        message[len..].copy_from_slice(&sum.to_le_bytes());
        (&stream).write_all(message).expect("server: answer");
        count += 1;
    }
}

#[test]
fn sixty_four_clients_exchange_checksummed_messages_of_1_byte_to_256_kib() {
    let messages = env_or("WINPIPE_LOAD_MESSAGES", 1_000) as usize;
    let seed = env_or("WINPIPE_LOAD_SEED", 6);
    // The bound on the whole run: 300 s at the full size, proportionally less for a
    // smaller run. The full size took about 62 s under Wine 8 on the 2-core CI machine
    // (1.27 GiB of payload each way); the slack is for a machine busy with other jobs.
    let bound = Duration::from_secs(30 + 270 * messages as u64 / 1_000);
    let report = common::within(bound + Duration::from_secs(30), move || {
        let name = common::pipe_name("load");
        let listener = WinListener::bind(&name).unwrap();
        let start = Instant::now();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let name = name.clone();
                thread::spawn(move || client(&name, i, messages, seed))
            })
            .collect();
        let (done_tx, done_rx) = mpsc::channel();
        for _ in 0..CLIENTS {
            let (stream, _) = listener.accept().expect("accept");
            let done = done_tx.clone();
            thread::spawn(move || done.send(serve(stream)));
        }
        let bytes: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
        drop(done_tx);
        let served: Vec<usize> = done_rx.iter().collect();
        assert_eq!(served.len(), CLIENTS, "a server thread failed");
        assert!(served.iter().all(|&n| n == messages), "served {served:?}");
        (bytes, start.elapsed())
    });
    let (bytes, took) = report;
    eprintln!(
        "load: {CLIENTS} clients x {messages} messages, {:.1} MiB of payload each way, in {took:.2?}",
        bytes as f64 / (1 << 20) as f64
    );
    assert!(took <= bound, "the run took {took:?}, over {bound:?}");
}
