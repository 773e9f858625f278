//! The rows of the table, each run `reps` times with winpipe and raw interleaved in
//! short blocks.

use crate::imp::{Imp, Raw, Winpipe};
use crate::report::{median, percentile, Goal, Row};
use crate::rows;
use std::io;
use std::time::Duration;

/// A pipe name unique to this process, row, run and implementation.
fn name(row: &str, run: usize, imp: &str) -> String {
    format!(
        r"\\.\pipe\winpipe-bench-{}-{row}-{run}-{imp}",
        std::process::id()
    )
}

/// Runs `f(rep, block, winpipe)` for winpipe then raw, `blocks` times per repetition,
/// `reps` times: each repetition is a fine-grained A B A B … sequence, so that both
/// implementations see the same machine load. Prints progress.
fn interleave(
    label: &str,
    reps: usize,
    blocks: usize,
    mut f: impl FnMut(usize, usize, bool) -> io::Result<()>,
) -> io::Result<()> {
    eprint!("{label}:");
    for rep in 0..reps {
        for block in 0..blocks {
            f(rep, block, true)?;
            f(rep, block, false)?;
        }
        eprint!(" {}", rep + 1);
    }
    eprintln!();
    Ok(())
}

/// Runs `w` (winpipe) or `r` (raw) with a fresh pipe name.
fn both<T>(
    run: usize,
    winpipe: bool,
    row: &str,
    w: impl FnOnce(&str) -> io::Result<T>,
    r: impl FnOnce(&str) -> io::Result<T>,
) -> io::Result<T> {
    if winpipe {
        w(&name(row, run, Winpipe::NAME))
    } else {
        r(&name(row, run, Raw::NAME))
    }
}

/// Adds a figure to `row`'s winpipe or raw side.
fn push(row: &mut Row, winpipe: bool, value: f64) {
    if winpipe {
        row.winpipe.push(value);
    } else {
        row.raw.push(value);
    }
}

/// Per repetition and side, a sum over its blocks.
struct Sums(Vec<[(f64, f64); 2]>);

impl Sums {
    fn new(reps: usize) -> Sums {
        Sums(vec![[(0.0, 0.0); 2]; reps])
    }

    fn add(&mut self, rep: usize, winpipe: bool, a: f64, b: f64) {
        let slot = &mut self.0[rep][usize::from(!winpipe)];
        slot.0 += a;
        slot.1 += b;
    }

    /// Pushes `a / b` of each repetition into `row`, times `scale`.
    fn into_row(self, row: &mut Row, scale: f64) {
        for [w, r] in self.0 {
            push(row, true, scale * w.0 / w.1);
            push(row, false, scale * r.0 / r.1);
        }
    }
}

/// Runs every group of rows, or only those whose name contains `WINPIPE_BENCH_ONLY`
/// (`throughput`, `ping-pong`, `connections`, `timeout`, `vectored`, `messages`, `idle`).
pub fn run(reps: usize) -> io::Result<Vec<Row>> {
    let only = std::env::var("WINPIPE_BENCH_ONLY").unwrap_or_default();
    let wanted = |group: &str| group.contains(only.as_str());
    let mut rows = Vec::new();
    if wanted("throughput") {
        let label = "throughput, 64 KiB writes";
        rows.push(throughput(reps, 64 * 1024, 1 << 20, label)?);
        let label = "throughput, 1 KiB writes";
        rows.push(throughput(reps, 1024, 32 << 10, label)?);
        rows.extend(throughput_to_zero_buffer(reps)?);
    }
    if wanted("ping-pong") {
        rows.extend(ping_pong(reps)?);
    }
    if wanted("connections") {
        rows.extend(connections(reps, 1, 25)?);
        rows.extend(connections(reps, 16, 2)?);
        rows.push(sequential(reps)?);
        rows.push(listener(reps)?);
    }
    if wanted("timeout") {
        rows.push(timeout(reps)?);
    }
    if wanted("vectored") {
        rows.extend(vectored(reps)?);
    }
    if wanted("messages") {
        rows.extend(message_ping_pong(reps)?);
    }
    if wanted("idle") {
        rows.extend(idle(reps)?);
    }
    Ok(rows)
}

/// Blocks per repetition for the timed rows.
const BLOCKS: usize = 4;
/// Blocks per repetition where each fresh pair or listener settles into its own
/// scheduling pattern (ping-pong, connections): more of them, shorter.
const MANY_BLOCKS: usize = 8;

/// Turns per block of the throughput rows.
const TURNS: usize = 16;

/// Both pairs open at once, taking turns of `turn` bytes (see `rows::throughput`).
fn throughput(reps: usize, chunk: usize, turn: usize, label: &'static str) -> io::Result<Row> {
    let mut row = Row::new(label, "MB/s", Goal::AtLeast(0.95));
    let mut sums = Sums::new(reps);
    let tag = format!("tp{chunk}");
    eprint!("{label}:");
    for rep in 0..reps {
        for block in 0..BLOCKS {
            let run = rep * BLOCKS + block;
            let names = [name(&tag, run, Winpipe::NAME), name(&tag, run, Raw::NAME)];
            let [w, r] = rows::throughput([&names[0], &names[1]], chunk, turn, TURNS)?;
            let bytes = (turn * TURNS) as f64;
            sums.add(rep, true, bytes, w.as_secs_f64());
            sums.add(rep, false, bytes, r.as_secs_f64());
        }
        eprint!(" {}", rep + 1);
    }
    eprintln!();
    sums.into_row(&mut row, 1e-6);
    Ok(row)
}

/// A client streaming to a server whose buffers are 0 and whose reader keeps a read
/// waiting: blocking writes, and winpipe with a 50 ms write timeout (its writes then go
/// in the pipe's nonblocking completion mode into the waiting read; the target is
/// half the raw blocking loop's rate, which winpipe's blocking writes match).
fn throughput_to_zero_buffer(reps: usize) -> io::Result<[Row; 2]> {
    let label = "throughput to a 0-byte-buffer server, 64 KiB writes";
    let mut blocking = Row::new(label, "MB/s", Goal::AtLeast(0.95));
    let label = "same, winpipe with a 50 ms write timeout";
    let mut timed = Row::new(label, "MB/s", Goal::AtLeast(0.5));
    for (row, timeout, turn, turns) in [
        (&mut blocking, None, 1 << 20, TURNS),
        (&mut timed, Some(Duration::from_millis(50)), 1 << 20, TURNS),
    ] {
        let mut sums = Sums::new(reps);
        let tag = if timeout.is_some() { "tz" } else { "z" };
        eprint!("{}:", row.name);
        for rep in 0..reps {
            for block in 0..BLOCKS {
                let run = rep * BLOCKS + block;
                let names = [name(tag, run, Winpipe::NAME), name(tag, run, Raw::NAME)];
                let names = [names[0].as_str(), names[1].as_str()];
                let [w, r] =
                    rows::throughput_to_zero_buffer(names, 64 * 1024, turn, turns, timeout)?;
                let bytes = (turn * turns) as f64;
                sums.add(rep, true, bytes, w.as_secs_f64());
                sums.add(rep, false, bytes, r.as_secs_f64());
            }
            eprint!(" {}", rep + 1);
        }
        eprintln!();
        sums.into_row(row, 1e-6);
    }
    Ok([blocking, timed])
}

fn ping_pong(reps: usize) -> io::Result<[Row; 3]> {
    const TRIPS: usize = 75;
    let mut med = Row::new("ping-pong 1 byte, median", "µs/trip", Goal::AtMost(1.05));
    let mut p99 = Row::new("ping-pong 1 byte, p99", "µs/trip", Goal::Info);
    let mut calls = Row::new("ping-pong: Kernel32 calls per trip", "calls", Goal::Info);
    // Both pairs are open at once and the trips alternate one by one.
    eprint!("ping-pong:");
    for rep in 0..reps {
        let mut times = [Vec::new(), Vec::new()];
        for block in 0..MANY_BLOCKS {
            let run = rep * MANY_BLOCKS + block;
            let names = [name("pp", run, Winpipe::NAME), name("pp", run, Raw::NAME)];
            // The calls are counted in the first block only (tracing is slow).
            let counted = if block == 0 { 20 } else { 0 };
            let seen = rows::ping_pong([&names[0], &names[1]], TRIPS, counted)?;
            for (side, (trips, per_trip)) in seen.into_iter().enumerate() {
                times[side].extend(trips);
                if counted > 0 {
                    push(&mut calls, side == 0, per_trip);
                }
            }
        }
        for (side, trips) in times.iter().enumerate() {
            push(&mut med, side == 0, median(trips));
            push(&mut p99, side == 0, percentile(trips, 0.99));
        }
        eprint!(" {}", rep + 1);
    }
    eprintln!();
    Ok([med, p99, calls])
}

/// Message round trips, 64 B and 16 KiB: `WinMessageStream` (`send`, `recv_message`)
/// against ReadFile/WriteFile on a synchronous message-mode pair.
fn message_ping_pong(reps: usize) -> io::Result<[Row; 2]> {
    const TRIPS: usize = 50;
    let mut small = Row::new(
        "message ping-pong 64 B, median",
        "µs/trip",
        Goal::AtMost(1.05),
    );
    let mut large = Row::new(
        "message ping-pong 16 KiB, median",
        "µs/trip",
        Goal::AtMost(1.05),
    );
    eprint!("message ping-pong:");
    for rep in 0..reps {
        for (row, size, tag) in [(&mut small, 64, "mpp64"), (&mut large, 16 * 1024, "mpp16k")] {
            let mut times = [Vec::new(), Vec::new()];
            for block in 0..MANY_BLOCKS {
                let run = rep * MANY_BLOCKS + block;
                let names = [name(tag, run, Winpipe::NAME), name(tag, run, Raw::NAME)];
                let seen = crate::messages::ping_pong([&names[0], &names[1]], size, TRIPS)?;
                for (side, trips) in seen.into_iter().enumerate() {
                    times[side].extend(trips);
                }
            }
            for (side, trips) in times.iter().enumerate() {
                push(row, side == 0, median(trips));
            }
        }
        eprint!(" {}", rep + 1);
    }
    eprintln!();
    Ok([small, large])
}

fn connections(reps: usize, clients: usize, per_client: usize) -> io::Result<[Row; 2]> {
    let (rate_name, errors_name, label) = if clients == 1 {
        let rate = "connect+accept+1 byte+close, 1 client";
        (rate, "connect errors, 1 client", "1 client")
    } else {
        let rate = "connect+accept+1 byte+close, 16 clients";
        (rate, "connect errors, 16 clients", "16 clients")
    };
    let mut rate = Row::new(rate_name, "conn/s", Goal::AtLeast(0.95));
    let mut errors = Row::new(errors_name, "errors", Goal::Info);
    let mut sums = Sums::new(reps);
    let mut errs = vec![[0.0; 2]; reps];
    let tag = format!("conn{clients}");
    interleave(label, reps, MANY_BLOCKS, |rep, block, w| {
        let run = rep * MANY_BLOCKS + block;
        let seen = both(
            run,
            w,
            &tag,
            |n| rows::connections::<Winpipe>(n, clients, per_client),
            |n| rows::connections::<Raw>(n, clients, per_client),
        )?;
        sums.add(rep, w, seen.count as f64, seen.elapsed.as_secs_f64());
        errs[rep][usize::from(!w)] += seen.errors as f64;
        Ok(())
    })?;
    sums.into_row(&mut rate, 1.0);
    for [w, r] in errs {
        push(&mut errors, true, w);
        push(&mut errors, false, r);
    }
    let winpipe_errors: f64 = errors.winpipe.iter().sum();
    errors.check = Some(("0 for winpipe".into(), winpipe_errors == 0.0));
    rate.check = Some(("0 connect errors".into(), winpipe_errors == 0.0));
    Ok([rate, errors])
}

/// Connections made strictly one after the other on one thread (connect, write,
/// accept, read, close): no waiting instances to help winpipe, every call counted.
fn sequential(reps: usize) -> io::Result<Row> {
    const N: usize = 50;
    let label = "connect+write+accept+read+close, one thread";
    let mut row = Row::new(label, "conn/s", Goal::AtLeast(0.95));
    let mut sums = Sums::new(reps);
    interleave("sequential", reps, MANY_BLOCKS, |rep, block, w| {
        let elapsed = both(
            rep * MANY_BLOCKS + block,
            w,
            "seq",
            |n| rows::sequential_connections::<Winpipe>(n, N),
            |n| rows::sequential_connections::<Raw>(n, N),
        )?;
        sums.add(rep, w, N as f64, elapsed.as_secs_f64());
        Ok(())
    })?;
    sums.into_row(&mut row, 1.0);
    Ok(row)
}

/// Bind + drop of a listener, outside the connection rates: winpipe makes its backlog
/// of instances (32) where raw makes one.
fn listener(reps: usize) -> io::Result<Row> {
    let mut row = Row::new("listener bind + drop", "µs", Goal::Info);
    let mut sums = Sums::new(reps);
    interleave("listener", reps, BLOCKS, |rep, block, w| {
        let elapsed = both(
            rep * BLOCKS + block,
            w,
            "bind",
            rows::listener_lifetime::<Winpipe>,
            rows::listener_lifetime::<Raw>,
        )?;
        sums.add(rep, w, elapsed.as_secs_f64(), 1.0);
        Ok(())
    })?;
    sums.into_row(&mut row, 1e6);
    Ok(row)
}

fn timeout(reps: usize) -> io::Result<Row> {
    const SAMPLES: usize = 3;
    let mut row = Row::new("read timeout 50 ms fires after", "ms", Goal::Info);
    let mut usable = true;
    interleave("read timeout", reps, SAMPLES, |rep, block, w| {
        let seen = both(
            rep * SAMPLES + block,
            w,
            "to",
            |n| rows::timeout_winpipe(n, 1),
            |n| rows::timeout_raw(n, 1),
        )?;
        usable &= seen.usable || !w;
        for ms in seen.fired_ms {
            push(&mut row, w, ms);
        }
        Ok(())
    })?;
    // The target: fires at 50 ± 2 ms (the median), never early, and the stream still
    // works. Late outliers are counted for both sides: the scheduler makes them.
    let late = |v: &[f64]| v.iter().filter(|&&ms| ms > 52.0).count();
    let on_time = (48.0..=52.0).contains(&median(&row.winpipe));
    let never_early = row.winpipe.iter().all(|&ms| ms >= 48.0);
    row.check = Some((
        format!(
            "median in 50 ± 2 ms, none early, stream {}usable after (late > 52 ms: {} of {}, raw {})",
            if usable { "" } else { "NOT " },
            late(&row.winpipe),
            row.winpipe.len(),
            late(&row.raw)
        ),
        on_time && never_early && usable,
    ));
    Ok(row)
}

fn vectored(reps: usize) -> io::Result<[Row; 2]> {
    const CALLS: usize = 250;
    let mut time = Row::new("vectored write 16 × 64 B", "µs/call", Goal::Info);
    let mut calls = Row::new("vectored write: Kernel32 calls", "calls", Goal::Info);
    let mut sums = Sums::new(reps);
    let mut one_write = true;
    interleave("vectored", reps, BLOCKS, |rep, block, w| {
        let run = rep * BLOCKS + block;
        let (elapsed, counted) = both(
            run,
            w,
            "vec",
            |n| rows::vectored::<Winpipe>(n, CALLS),
            |n| rows::vectored::<Raw>(n, CALLS),
        )?;
        if w {
            one_write &= counted.write_file == 1;
        }
        sums.add(rep, w, elapsed.as_secs_f64(), CALLS as f64);
        if block == 0 {
            push(&mut calls, w, counted.total as f64);
        }
        Ok(())
    })?;
    sums.into_row(&mut time, 1e6);
    calls.check = Some(("one WriteFile".into(), one_write));
    Ok([time, calls])
}

fn idle(reps: usize) -> io::Result<[Row; 4]> {
    const CONNECTIONS: usize = 100;
    let mut handles = Row::new(
        "idle connection: handles (both ends)",
        "handles",
        Goal::Info,
    );
    let mut heap = Row::new(
        "idle connection: Rust heap (both ends)",
        "bytes",
        Goal::Info,
    );
    let mut private = Row::new(
        "idle connection: commit (private) bytes (both ends)",
        "bytes",
        Goal::Info,
    );
    let mut per_conn = Row::new("Kernel32 calls per connection", "calls", Goal::Info);
    interleave("idle connections", reps, 1, |rep, _, w| {
        let figures = both(
            rep,
            w,
            "idle",
            |n| rows::idle::<Winpipe>(n, CONNECTIONS),
            |n| rows::idle::<Raw>(n, CONNECTIONS),
        )?;
        push(&mut handles, w, figures[0]);
        push(&mut heap, w, figures[1]);
        push(&mut private, w, figures[2]);
        let calls = both(
            rep,
            w,
            "calls",
            rows::calls_per_connection::<Winpipe>,
            rows::calls_per_connection::<Raw>,
        )?;
        push(&mut per_conn, w, calls);
        Ok(())
    })?;
    Ok([handles, heap, private, per_conn])
}
