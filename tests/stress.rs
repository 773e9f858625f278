#![cfg(windows)]
//! Seeded randomized stress test of real pipe pairs (issue 3, "the real backend too").
//!
//! Each run connects two streams (`WinStream::pair()` or bind/connect/accept), then one
//! thread writes and the other reads, each through a random sequence of operations
//! drawn from a seeded generator: `write`, `write_all`, `write_vectored`, `read`,
//! `read_vectored`, `peek` with sizes from 0 to 200 KiB and 0 to 8 slices, read and
//! write timeouts (none, under a millisecond, 1 to 50 ms), nonblocking toggles and
//! pauses. Optionally a setter thread on either end holds a `try_clone()` and keeps
//! changing timeouts and nonblocking mode while the I/O runs. The writer closes after
//! its operations; sometimes the reader closes first.
//!
//! Checked invariants:
//! - the reader receives exactly the bytes the writer reported written (sum of `Ok(n)`,
//!   `write_all` successes), in order, each once; the stream is a position-dependent
//!   pattern, so a lost, duplicated or reordered chunk shows at the byte it starts;
//! - no byte arrives beyond what the writer had handed to a write call;
//! - an `Err` is only `TimedOut` (a timeout was set), `WouldBlock` (nonblocking mode) or,
//!   for writes, `BrokenPipe` after the reader began to close; with a setter racing on
//!   that end `TimedOut` and `WouldBlock` may come at any time;
//! - a peek returns bytes of the stream at the read position, and the next read returns
//!   at least those of them the writer had reported written before the peek began (a
//!   peek can also show bytes of a write still pending, which may then time out and
//!   report nothing: see the peek test at the end);
//! - after the writer closed and everything was read, reads and peeks return `Ok(0)`
//!   every time; after the reader closed, every write fails with `BrokenPipe`;
//! - a call with a timeout (or in nonblocking mode) returns within its timeout plus a
//!   few seconds; on an end with a setter racing, which always has a timeout, within
//!   the longest timeout plus a few seconds; every run finishes within `RUN_LIMIT`.
//!
//! A second test puts two reader threads on one direction: every 8-byte word of the
//! stream reaches exactly one of them, each in order.
//!
//! The seed of each run is printed when it fails. Environment:
//! `WINPIPE_STRESS_SEED` (decimal or `0x` hex) fixes the first run's seed (runs use
//! seed, seed + 1, ...), otherwise it comes from the clock; `WINPIPE_STRESS_ROUNDS`
//! sets the number of runs (default `DEFAULT_ROUNDS`). Replay one failing run with
//! `WINPIPE_STRESS_SEED=<seed> WINPIPE_STRESS_ROUNDS=1`. The operation sequence of a
//! seed is fixed; the interleaving of the threads is not, so a timing-dependent failure
//! may need a few repetitions.

mod common;

use common::{pipe_name, within};
use std::io::{self, ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use winpipe::{WinListener, WinStream};

/// The most one `write` (or a vectored call with several slices) moves, as documented.
const WRITE_CAP: usize = 64 * 1024;
/// The largest buffer (or sum of slices) an operation uses.
const MAX_LEN: usize = 200 * 1024;
/// Runs per `cargo test` unless `WINPIPE_STRESS_ROUNDS` says otherwise.
const DEFAULT_ROUNDS: u64 = 100;
/// Time limit of one run (the whole file should stay well under a minute).
const RUN_LIMIT: Duration = Duration::from_secs(30);
/// Slack over a call's timeout before it counts as hung: Wine can be slow.
const CALL_SLACK: Duration = Duration::from_secs(3);
/// The longest timeout a run sets. An end with a setter thread always has a timeout
/// (the setter never clears it), so each of its calls is bounded by this plus the
/// slack, whatever the setter does meanwhile.
const MAX_TIMEOUT: Duration = Duration::from_millis(50);
/// A reader that needs this many operations to reach end of stream is stuck.
const MAX_READER_OPS: usize = 200_000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------------------------------------------------------------------------------
// Generator and pattern

/// SplitMix64's output function: a good 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A tiny seeded generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        Rng(mix(seed ^ mix(stream)))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `low..=high`.
    fn range(&mut self, low: usize, high: usize) -> usize {
        low + self.below((high - low) as u64 + 1) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A buffer length from 0 to `MAX_LEN`, mostly small, sometimes over the write cap.
    fn size(&mut self) -> usize {
        match self.below(100) {
            0..=4 => 0,
            5..=29 => self.range(1, 16),
            30..=64 => self.range(17, 4096),
            65..=89 => self.range(4097, WRITE_CAP),
            _ => self.range(WRITE_CAP + 1, MAX_LEN),
        }
    }

    /// 0 to 8 slice lengths (empty slices included) summing to at most `MAX_LEN`.
    fn slices(&mut self) -> Vec<usize> {
        let count = self.range(0, 8);
        let mut total = 0;
        let mut sizes = Vec::with_capacity(count);
        for _ in 0..count {
            let size = if self.chance(15) { 0 } else { self.size() };
            let size = size.min(MAX_LEN - total);
            total += size;
            sizes.push(size);
        }
        sizes
    }

    /// None, under a millisecond, or 1 to 50 ms.
    fn timeout(&mut self) -> Option<Duration> {
        match self.below(10) {
            0..=3 => None,
            _ => Some(self.some_timeout()),
        }
    }

    /// Under a millisecond, or 1 to `MAX_TIMEOUT`.
    fn some_timeout(&mut self) -> Duration {
        match self.below(6) {
            0..=1 => Duration::from_micros(self.range(1, 999) as u64),
            _ => ms(self.range(1, MAX_TIMEOUT.as_millis() as usize) as u64),
        }
    }
}

/// Byte `i` of the stream of a run: every 8-byte word is a hash of its index and the
/// run's salt, so a chunk lost, repeated or moved by any amount shows at once.
fn pattern_byte(salt: u64, i: u64) -> u8 {
    mix(salt ^ (i / 8)).to_le_bytes()[(i % 8) as usize]
}

fn fill_pattern(salt: u64, start: u64, buf: &mut [u8]) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = pattern_byte(salt, start + k as u64);
    }
}

/// Checks `data` against the pattern at stream offset `start`; describes the first
/// difference, and where in the stream the bytes found there come from if it can tell.
fn check_pattern(salt: u64, start: u64, data: &[u8]) -> Result<(), String> {
    let bad = match (0..data.len()).find(|&k| data[k] != pattern_byte(salt, start + k as u64)) {
        None => return Ok(()),
        Some(k) => k,
    };
    let at = start + bad as u64;
    let probe = &data[bad..data.len().min(bad + 32)];
    let window = 4 * MAX_LEN as u64;
    let origin = (at.saturating_sub(window)..at + window)
        .find(|&o| (0..probe.len()).all(|k| probe[k] == pattern_byte(salt, o + k as u64)))
        .map_or_else(
            || "matching no nearby stream offset".to_string(),
            |o| {
                format!(
                    "which are the stream's bytes at offset {o} ({:+})",
                    o as i64 - at as i64
                )
            },
        );
    Err(format!(
        "stream byte {at} is {:#04x}, expected {:#04x}: {} bytes from there are {probe:02x?}, {origin}",
        data[bad],
        pattern_byte(salt, at),
        probe.len(),
    ))
}

// ---------------------------------------------------------------------------------------
// State shared by the threads of one run

struct Run {
    seed: u64,
    salt: u64,
    /// The first failure seen by any thread of the run.
    failure: Arc<Mutex<Option<String>>>,
    /// Set on the first failure: every thread stops.
    abort: AtomicBool,
    /// The highest stream offset the writer has handed to a write call.
    issued_upto: AtomicU64,
    /// The bytes the writer's calls have reported written so far.
    reported: AtomicU64,
    /// The writer's final count: (sure, possible) — `write_all` that failed may have
    /// moved part of its buffer.
    writer_total: Mutex<Option<(u64, u64)>>,
    /// Set before the writer starts to close (its setter stops, then it drops).
    writer_closing: AtomicBool,
    /// Set before the reader starts to close early.
    reader_closing: AtomicBool,
    /// Set after every handle of the reader's end is closed.
    reader_gone: AtomicBool,
}

impl Run {
    fn fail(&self, who: &str, op: usize, msg: String) -> ! {
        let text = format!("seed {:#x}: {who} op {op}: {msg}", self.seed);
        {
            let mut first = self.failure.lock().unwrap_or_else(|p| p.into_inner());
            if first.is_none() {
                *first = Some(text.clone());
            }
        }
        self.abort.store(true, SeqCst);
        panic!("{text}");
    }

    fn aborted(&self) -> bool {
        self.abort.load(SeqCst)
    }
}

/// What an I/O thread knows of its end's settings.
#[derive(Clone, Copy, Debug)]
struct Mode {
    timeout: Option<Duration>,
    nonblocking: bool,
    /// A setter thread changes this end's settings at any time.
    raced: bool,
}

impl Mode {
    /// A new stream's settings: blocking, no timeout (a raced end: `MAX_TIMEOUT`,
    /// set by `Setter::spawn`).
    fn blocking(raced: bool) -> Mode {
        Mode {
            timeout: raced.then_some(MAX_TIMEOUT),
            nonblocking: false,
            raced,
        }
    }

    /// Whether `e` is an error the documentation allows for a call in this mode.
    fn allows(&self, e: &io::Error, broken_pipe: bool) -> bool {
        match e.kind() {
            ErrorKind::TimedOut => self.raced || (self.timeout.is_some() && !self.nonblocking),
            ErrorKind::WouldBlock => self.raced || self.nonblocking,
            ErrorKind::BrokenPipe => broken_pipe,
            _ => false,
        }
    }

    /// Sets a random timeout (`timeout`) or nonblocking mode on the I/O thread's stream:
    /// the read timeout for the reader, the write timeout for the writer.
    fn change(
        &mut self,
        run: &Run,
        (who, op): (&str, usize),
        stream: &WinStream,
        rng: &mut Rng,
        timeout: bool,
    ) {
        let reads = who == "reader";
        let result = if timeout {
            // A raced end always keeps a timeout: see `MAX_TIMEOUT`.
            self.timeout = if self.raced {
                Some(rng.some_timeout())
            } else {
                rng.timeout()
            };
            if reads {
                stream.set_read_timeout(self.timeout)
            } else {
                stream.set_write_timeout(self.timeout)
            }
        } else {
            self.nonblocking = rng.chance(40);
            stream.set_nonblocking(self.nonblocking)
        };
        if let Err(e) = result {
            run.fail(who, op, format!("setting {self:?} failed: {e:?}"));
        }
        let now = if reads {
            stream.read_timeout()
        } else {
            stream.write_timeout()
        };
        if timeout && !self.raced && now.as_ref().ok() != Some(&self.timeout) {
            run.fail(
                who,
                op,
                format!("the timeout is {now:?} after setting {self:?}"),
            );
        }
    }

    /// The longest a call in this mode may take, if the mode bounds it.
    fn bound(&self) -> Option<Duration> {
        if self.raced {
            Some(MAX_TIMEOUT + CALL_SLACK)
        } else if self.nonblocking {
            Some(CALL_SLACK)
        } else {
            self.timeout.map(|t| t + CALL_SLACK)
        }
    }
}

/// A thread that keeps changing the settings of `stream` (a clone of one end) until
/// told to stop; its clone is dropped when it returns.
struct Setter {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<u64>,
}

impl Setter {
    /// Starts the thread after giving the end timeouts (which it never clears).
    fn spawn(run: &Arc<Run>, stream: WinStream, mut rng: Rng) -> Setter {
        stream.set_read_timeout(Some(MAX_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(MAX_TIMEOUT)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (run, flag) = (run.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut calls = 0;
            while !flag.load(SeqCst) && !run.aborted() {
                let result = match rng.below(7) {
                    0 | 1 => stream.set_read_timeout(Some(rng.some_timeout())),
                    2 | 3 => stream.set_write_timeout(Some(rng.some_timeout())),
                    4 | 5 => stream.set_nonblocking(rng.chance(30)),
                    _ => stream
                        .read_timeout()
                        .and_then(|_| stream.write_timeout())
                        .map(drop),
                };
                if let Err(e) = result {
                    run.fail("setter", calls as usize, format!("a setter failed: {e:?}"));
                }
                calls += 1;
                match rng.below(4) {
                    0 => thread::yield_now(),
                    _ => thread::sleep(Duration::from_micros(rng.range(50, 2000) as u64)),
                }
            }
            calls
        });
        Setter { stop, thread }
    }

    /// Stops the thread and waits until its clone is closed; returns its call count.
    fn finish(self) -> u64 {
        self.stop.store(true, SeqCst);
        self.thread.join().unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------------------
// Writer

struct WriterReport {
    ops: usize,
    setter_calls: u64,
}

fn writer_thread(
    run: &Run,
    stream: WinStream,
    setter: Option<Setter>,
    mut rng: Rng,
    ops: usize,
) -> WriterReport {
    let who = "writer";
    let mut mode = Mode::blocking(setter.is_some());
    let mut written: u64 = 0;
    let mut maybe: u64 = 0;
    let mut buf = vec![0u8; MAX_LEN];
    let mut done = 0;
    for op in 0..ops {
        if run.aborted() {
            break;
        }
        done = op + 1;
        let safe = !mode.raced && !mode.nonblocking && mode.timeout.is_none();
        let choice = rng.below(100);
        if choice >= 70 {
            match choice {
                70..=89 => mode.change(run, (who, op), &stream, &mut rng, choice < 80),
                _ => thread::sleep(Duration::from_micros(rng.range(0, 3000) as u64)),
            }
            continue;
        }
        // Sampled before the call: the reader's end was already closed.
        let gone_before = run.reader_gone.load(SeqCst);
        let start = Instant::now();
        let write_all = choice >= 60;
        let (desc, len, result) = match choice {
            0..=39 => {
                let len = rng.size();
                fill_pattern(run.salt, written, &mut buf[..len]);
                run.issued_upto.fetch_max(written + len as u64, SeqCst);
                (format!("write({len})"), len, (&stream).write(&buf[..len]))
            }
            40..=59 => {
                let sizes = rng.slices();
                let total: usize = sizes.iter().sum();
                fill_pattern(run.salt, written, &mut buf[..total]);
                run.issued_upto.fetch_max(written + total as u64, SeqCst);
                let mut slices = Vec::with_capacity(sizes.len());
                let mut rest = &buf[..total];
                for &s in &sizes {
                    let (head, tail) = rest.split_at(s);
                    slices.push(IoSlice::new(head));
                    rest = tail;
                }
                let result = (&stream).write_vectored(&slices);
                (format!("write_vectored{sizes:?}"), total, result)
            }
            _ => {
                // An unsure write_all ends the stream: an error hides how much it moved.
                if !safe && !rng.chance(20) {
                    continue;
                }
                let len = rng.size();
                fill_pattern(run.salt, written, &mut buf[..len]);
                run.issued_upto.fetch_max(written + len as u64, SeqCst);
                let result = (&stream).write_all(&buf[..len]).map(|()| len);
                if result.is_err() {
                    maybe = len as u64;
                }
                (format!("write_all({len})"), len, result)
            }
        };
        let elapsed = start.elapsed();
        let desc = format!("{desc} in {mode:?}, {written} bytes written so far");
        match result {
            Ok(n) => {
                let cap = if write_all { len } else { WRITE_CAP };
                if n > len || n > cap || (n == 0) != (len == 0) {
                    run.fail(who, op, format!("{desc} returned Ok({n})"));
                }
                if n > 0 && gone_before {
                    run.fail(
                        who,
                        op,
                        format!("{desc} returned Ok({n}) after the reader closed"),
                    );
                }
                written += n as u64;
                run.reported.store(written, SeqCst);
            }
            Err(e) => {
                let broken_ok = run.reader_closing.load(SeqCst);
                if len == 0 || !mode.allows(&e, broken_ok) {
                    run.fail(
                        who,
                        op,
                        format!("{desc} failed: {e:?} (reader closing: {broken_ok})"),
                    );
                }
                if gone_before && e.kind() != ErrorKind::BrokenPipe {
                    run.fail(
                        who,
                        op,
                        format!("{desc} after the reader closed gave {e:?}"),
                    );
                }
                if maybe > 0 {
                    break;
                }
            }
        }
        if let Some(limit) = mode.bound() {
            if elapsed > limit {
                run.fail(who, op, format!("{desc} took {elapsed:?}"));
            }
        }
    }
    // Close: the setter's clone first, then the stream, so the reader sees the end.
    let setter_calls = setter.map_or(0, Setter::finish);
    *run.writer_total.lock().unwrap() = Some((written, written + maybe));
    run.writer_closing.store(true, SeqCst);
    drop(stream);
    WriterReport {
        ops: done,
        setter_calls,
    }
}

// ---------------------------------------------------------------------------------------
// Reader

struct ReaderReport {
    ops: usize,
    received: u64,
    eof: bool,
    closed_early: bool,
    setter_calls: u64,
}

fn reader_thread(
    run: &Run,
    stream: WinStream,
    setter: Option<Setter>,
    mut rng: Rng,
    ops: usize,
    close_at: Option<usize>,
) -> ReaderReport {
    let who = "reader";
    let mut mode = Mode::blocking(setter.is_some());
    let mut received: u64 = 0;
    let mut buf = vec![0u8; MAX_LEN];
    // Bytes the last peek saw, and how many of them the writer had reported written
    // before the peek began: those the next read must return. The others may belong to
    // a write still pending, which can time out and take them back (see
    // `peek_shows_bytes_of_a_write_that_then_times_out_and_reports_nothing`).
    let mut peeked: Vec<u8> = Vec::new();
    let mut peek_sure = 0;
    let mut eof = false;
    let mut after_eof = 0;
    let mut op = 0;
    let mut closed_early = false;
    loop {
        if run.aborted() {
            break;
        }
        if close_at == Some(op) {
            closed_early = true;
            break;
        }
        if eof {
            // A few more calls of every kind, in every mode: all must say Ok(0).
            after_eof += 1;
            if after_eof > 8 {
                break;
            }
        }
        if op >= MAX_READER_OPS {
            run.fail(who, op, format!("no end of stream after {op} operations"));
        }
        let draining = op >= ops;
        op += 1;
        let op = op - 1;
        let choice = rng.below(100);
        if choice >= 75 && peeked.is_empty() {
            match choice {
                75..=92 => mode.change(run, (who, op), &stream, &mut rng, choice < 85),
                _ if !draining => {
                    thread::sleep(Duration::from_micros(rng.range(0, 5000) as u64));
                }
                _ => {}
            }
            continue;
        }
        let start = Instant::now();
        let is_peek = choice < 20 && peeked.is_empty();
        let (desc, len, result, capped) = if is_peek {
            let len = rng.size();
            let reported = run.reported.load(SeqCst);
            peek_sure = reported.saturating_sub(received).min(MAX_LEN as u64) as usize;
            let result = stream.peek(&mut buf[..len]);
            (format!("peek({len})"), len, result, false)
        } else if !(50..75).contains(&choice) {
            let len = rng.size().max(peeked.len());
            let result = (&stream).read(&mut buf[..len]);
            (format!("read({len})"), len, result, false)
        } else {
            let mut sizes = rng.slices();
            let total: usize = sizes.iter().sum();
            if total < peeked.len() {
                sizes.push(peeked.len() - total);
            }
            let total: usize = sizes.iter().sum();
            let filled = sizes.iter().filter(|&&s| s > 0).count();
            let mut slices = Vec::with_capacity(sizes.len());
            let mut rest = &mut buf[..total];
            for &s in &sizes {
                let (head, tail) = rest.split_at_mut(s);
                slices.push(IoSliceMut::new(head));
                rest = tail;
            }
            let result = (&stream).read_vectored(&mut slices);
            (format!("read_vectored{sizes:?}"), total, result, filled > 1)
        };
        let elapsed = start.elapsed();
        let want = if capped { WRITE_CAP } else { MAX_LEN };
        let want = peeked.len().min(peek_sure).min(want);
        let desc = format!(
            "{desc} in {mode:?} at stream offset {received} (peeked {}, {want} of them \
             reported written, eof {eof})",
            peeked.len()
        );
        match result {
            Ok(0) if len > 0 => {
                if !run.writer_closing.load(SeqCst) {
                    run.fail(
                        who,
                        op,
                        format!("{desc} returned Ok(0) before the writer closed"),
                    );
                }
                if want > 0 {
                    run.fail(
                        who,
                        op,
                        format!("{desc} returned Ok(0) after a peek saw data"),
                    );
                }
                eof = true;
            }
            Ok(n) => {
                if n > len || (capped && n > WRITE_CAP) {
                    run.fail(who, op, format!("{desc} returned Ok({n})"));
                }
                if eof && n > 0 {
                    run.fail(
                        who,
                        op,
                        format!("{desc} returned Ok({n}) after end of stream"),
                    );
                }
                let data = &buf[..n];
                if let Err(why) = check_pattern(run.salt, received, data) {
                    run.fail(who, op, format!("{desc} returned Ok({n}): {why}"));
                }
                let issued = run.issued_upto.load(SeqCst);
                if received + n as u64 > issued {
                    run.fail(
                        who,
                        op,
                        format!("{desc} returned Ok({n}) but the writer only issued {issued}"),
                    );
                }
                if is_peek {
                    peeked = data.to_vec();
                } else {
                    let same = n.min(peeked.len());
                    if n < want || data[..same] != peeked[..same] {
                        run.fail(
                            who,
                            op,
                            format!("{desc} returned {n} bytes, not the {want} peeked ones first"),
                        );
                    }
                    peeked.clear();
                    received += n as u64;
                }
            }
            Err(e) => {
                if eof || want > 0 || len == 0 || !mode.allows(&e, false) {
                    run.fail(who, op, format!("{desc} failed: {e:?}"));
                }
            }
        }
        if let Some(limit) = mode.bound() {
            if elapsed > limit {
                run.fail(who, op, format!("{desc} took {elapsed:?}"));
            }
        }
    }
    let setter_calls = if closed_early {
        run.reader_closing.store(true, SeqCst);
        let calls = setter.map_or(0, Setter::finish);
        drop(stream);
        run.reader_gone.store(true, SeqCst);
        calls
    } else {
        let calls = setter.map_or(0, Setter::finish);
        drop(stream);
        calls
    };
    ReaderReport {
        ops: op,
        received,
        eof,
        closed_early,
        setter_calls,
    }
}

// ---------------------------------------------------------------------------------------
// One run

#[derive(Default)]
struct Totals {
    runs: u64,
    ops: u64,
    bytes: u64,
    setter_calls: u64,
    early_closes: u64,
    listener_runs: u64,
}

/// Two connected streams: `pair()` or a listener, a client and the accepted server.
fn connect(seed: u64, rng: &mut Rng) -> (WinStream, WinStream, bool) {
    if rng.chance(50) {
        let (a, b) = WinStream::pair().expect("WinStream::pair");
        return (a, b, false);
    }
    let name = pipe_name(&format!("stress-{seed:x}"));
    let listener = WinListener::bind(&name).unwrap_or_else(|e| panic!("bind {name}: {e:?}"));
    let client = WinStream::connect_with_timeout(&name, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {name}: {e:?}"));
    let (server, _) = listener.accept().expect("accept");
    (client, server, true)
}

fn run_one(seed: u64, failure: Arc<Mutex<Option<String>>>) -> Totals {
    let mut rng = Rng::new(seed, 0);
    let (a, b, listened) = connect(seed, &mut rng);
    let (writer, reader) = if rng.chance(50) { (a, b) } else { (b, a) };
    let run = Arc::new(Run {
        seed,
        salt: mix(seed ^ 0x5eed),
        failure,
        abort: AtomicBool::new(false),
        issued_upto: AtomicU64::new(0),
        reported: AtomicU64::new(0),
        writer_total: Mutex::new(None),
        writer_closing: AtomicBool::new(false),
        reader_closing: AtomicBool::new(false),
        reader_gone: AtomicBool::new(false),
    });
    let writer_ops = rng.range(10, 250);
    let reader_ops = rng.range(10, 250);
    let close_at = if rng.chance(20) {
        Some(rng.range(0, reader_ops))
    } else {
        None
    };
    let writer_setter = if rng.chance(40) {
        let clone = writer.try_clone().expect("try_clone");
        Some(Setter::spawn(&run, clone, Rng::new(seed, 3)))
    } else {
        None
    };
    let reader_setter = if rng.chance(40) {
        let clone = reader.try_clone().expect("try_clone");
        Some(Setter::spawn(&run, clone, Rng::new(seed, 4)))
    } else {
        None
    };
    let w = {
        let run = run.clone();
        thread::spawn(move || {
            writer_thread(&run, writer, writer_setter, Rng::new(seed, 1), writer_ops)
        })
    };
    let r = {
        let run = run.clone();
        thread::spawn(move || {
            reader_thread(
                &run,
                reader,
                reader_setter,
                Rng::new(seed, 2),
                reader_ops,
                close_at,
            )
        })
    };
    let (w, r) = (w.join(), r.join());
    let (w, r) = match (w, r) {
        (Ok(w), Ok(r)) => (w, r),
        (Err(p), _) | (_, Err(p)) => panic::resume_unwind(p),
    };
    let (sure, possible) = run.writer_total.lock().unwrap().expect("writer total");
    if r.closed_early {
        assert!(
            r.received <= possible,
            "seed {seed:#x}: the reader got {} bytes but the writer reported {sure}..={possible}",
            r.received
        );
    } else {
        assert!(
            r.eof,
            "seed {seed:#x}: the reader stopped before end of stream"
        );
        assert!(
            sure <= r.received && r.received <= possible,
            "seed {seed:#x}: the reader got {} bytes but the writer reported {sure}..={possible}",
            r.received
        );
    }
    Totals {
        runs: 1,
        ops: (w.ops + r.ops) as u64,
        bytes: r.received,
        setter_calls: w.setter_calls + r.setter_calls,
        early_closes: r.closed_early as u64,
        listener_runs: listened as u64,
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    Some(parsed.unwrap_or_else(|e| panic!("{name}={text:?}: {e}")))
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-text panic)".to_string()
    }
}

#[test]
fn random_op_sequences_deliver_every_reported_byte_exactly_once_in_order() {
    let base = env_u64("WINPIPE_STRESS_SEED").unwrap_or_else(|| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        mix(now.as_nanos() as u64 ^ u64::from(std::process::id()))
    });
    let rounds = env_u64("WINPIPE_STRESS_ROUNDS").unwrap_or(DEFAULT_ROUNDS);
    println!("winpipe stress: seeds {base:#x} + 0..{rounds}");
    let started = Instant::now();
    let mut totals = Totals::default();
    for round in 0..rounds {
        let seed = base.wrapping_add(round);
        let failure = Arc::new(Mutex::new(None));
        let slot = failure.clone();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            within(RUN_LIMIT, move || run_one(seed, slot))
        }));
        match outcome {
            Ok(t) => {
                totals.runs += t.runs;
                totals.ops += t.ops;
                totals.bytes += t.bytes;
                totals.setter_calls += t.setter_calls;
                totals.early_closes += t.early_closes;
                totals.listener_runs += t.listener_runs;
            }
            Err(payload) => {
                let first = failure.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let why = first.unwrap_or_else(|| panic_text(&*payload));
                panic!(
                    "stress run {round} failed; replay with WINPIPE_STRESS_SEED={seed:#x} \
                     WINPIPE_STRESS_ROUNDS=1\n{why}"
                );
            }
        }
    }
    println!(
        "winpipe stress: {} runs ({} via bind/accept, {} reader closed early), {} ops, \
         {} bytes, {} setter calls, {:?}",
        totals.runs,
        totals.listener_runs,
        totals.early_closes,
        totals.ops,
        totals.bytes,
        totals.setter_calls,
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// Peek and writes in progress (found by this stress test, seed 0xf964cafedab17e3a)

/// `PeekNamedPipe` shows the bytes of a peer write that is still in progress (Wine 8
/// does; NPFS on Windows keeps such data in the same queue). If that write then times
/// out, it reports nothing written and its bytes are withdrawn: they never reach a
/// read. `WinStream::peek` documents this. The test holds on both: the peek shows the
/// committed bytes and at most the in-progress write after them, and the stream holds
/// exactly what the writes reported.
#[test]
fn peek_may_show_a_write_in_progress_but_reads_get_only_what_writes_reported() {
    within(common::LIMIT, || {
        let (writer, reader) = WinStream::pair().expect("pair");
        // Fill the pipe buffer: this write completes.
        let full = vec![b'a'; WRITE_CAP];
        assert_eq!((&writer).write(&full).unwrap(), WRITE_CAP);
        // A write that does not fit pends until its timeout.
        writer.set_write_timeout(Some(ms(500))).unwrap();
        let pending = thread::spawn(move || {
            let result = (&writer).write(&[b'B'; 10]);
            (writer, result)
        });
        thread::sleep(ms(200));
        let mut seen = vec![0; 2 * WRITE_CAP];
        let peeked = reader.peek(&mut seen).unwrap();
        let (writer, result) = pending.join().unwrap();
        let drain = thread::spawn(move || {
            let mut got = Vec::new();
            (&reader).read_to_end(&mut got).unwrap();
            got
        });
        writer.set_write_timeout(None).unwrap();
        (&writer).write_all(b"CCCCCCCCCC").unwrap();
        drop(writer);
        let got = drain.join().unwrap();

        let committed_and_pending = [full.clone(), vec![b'B'; 10]].concat();
        assert!(peeked >= WRITE_CAP, "peek missed committed bytes: {peeked}");
        assert!(committed_and_pending.starts_with(&seen[..peeked]));
        let expected = match result {
            Ok(10) => [committed_and_pending, b"CCCCCCCCCC".to_vec()].concat(),
            Err(e) if e.kind() == ErrorKind::TimedOut => [full, b"CCCCCCCCCC".to_vec()].concat(),
            other => panic!("unexpected result of the pending write: {other:?}"),
        };
        assert!(
            got == expected,
            "the stream holds {} bytes, expected {}",
            got.len(),
            expected.len()
        );
    });
}

/// Word `i` of the two-reader stream: its index, so each word says where it belongs.
fn word(salt: u64, i: u64) -> [u8; 8] {
    (i ^ salt).to_le_bytes()
}

/// Two threads read one direction at once through `&WinStream`, with random
/// timeouts, nonblocking toggles and pauses, while one writer sends 8-byte words in
/// writes of whole words (with and without a write timeout) and reads take whole
/// words. Every word must reach exactly one reader, and each reader gets its words in
/// increasing order: no byte is lost, repeated or split between two readers.
#[test]
fn two_readers_on_one_direction_get_every_word_once_and_in_order() {
    const WORDS: u64 = 60_000;
    let seed = env_u64("WINPIPE_STRESS_SEED").unwrap_or(0x2ead);
    within(RUN_LIMIT * 2, move || {
        for round in 0..4u64 {
            let seed = seed + round;
            let salt = mix(seed);
            let (writer, reader) = WinStream::pair().expect("pair");
            let reader = Arc::new(reader);
            let readers: Vec<_> = (0..2u64)
                .map(|r| {
                    let stream = reader.clone();
                    thread::spawn(move || {
                        let mut rng = Rng::new(seed, 10 + r);
                        let mut got = Vec::new();
                        let mut buf = vec![0u8; 8 * 4096];
                        loop {
                            if rng.chance(5) {
                                stream.set_read_timeout(rng.timeout()).unwrap();
                            }
                            let len = 8 * rng.range(1, 4096);
                            match (&*stream).read(&mut buf[..len]) {
                                Ok(0) => return got,
                                Ok(n) => {
                                    assert_eq!(n % 8, 0, "seed {seed:#x}: a read split a word");
                                    for w in buf[..n].chunks(8) {
                                        let bytes: [u8; 8] = w.try_into().unwrap();
                                        got.push(u64::from_le_bytes(bytes) ^ salt);
                                    }
                                }
                                Err(e) if e.kind() == ErrorKind::TimedOut => {}
                                Err(e) => panic!("seed {seed:#x}: reader {r}: {e:?}"),
                            }
                            if rng.chance(3) {
                                thread::sleep(Duration::from_micros(rng.range(0, 2000) as u64));
                            }
                        }
                    })
                })
                .collect();
            let mut rng = Rng::new(seed, 20);
            let mut next = 0u64;
            let mut buf = Vec::new();
            while next < WORDS {
                let count = rng.range(1, 12_000).min((WORDS - next) as usize) as u64;
                buf.clear();
                for i in next..next + count {
                    buf.extend_from_slice(&word(salt, i));
                }
                if rng.chance(10) {
                    writer.set_write_timeout(rng.timeout()).unwrap();
                }
                match (&writer).write(&buf) {
                    Ok(n) => {
                        assert_eq!(n % 8, 0, "seed {seed:#x}: a write split a word");
                        next += (n / 8) as u64;
                    }
                    Err(e) if e.kind() == ErrorKind::TimedOut => {}
                    Err(e) => panic!("seed {seed:#x}: writer: {e:?}"),
                }
            }
            drop(writer);
            let mut all: Vec<u64> = Vec::new();
            for (r, t) in readers.into_iter().enumerate() {
                let got = t.join().expect("reader");
                assert!(
                    got.windows(2).all(|w| w[0] < w[1]),
                    "seed {seed:#x}: reader {r} got words out of order"
                );
                all.extend(got);
            }
            all.sort_unstable();
            let expected: Vec<u64> = (0..WORDS).collect();
            assert!(
                all == expected,
                "seed {seed:#x}: {} words arrived, {} distinct, {WORDS} sent",
                all.len(),
                {
                    let mut d = all.clone();
                    d.dedup();
                    d.len()
                }
            );
        }
    });
}
