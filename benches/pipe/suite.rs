//! The rows of the table, each run `reps` times with winpipe and raw interleaved.

use crate::imp::{Imp, Raw, Winpipe};
use crate::report::{median, percentile, Goal, Row};
use crate::rows;
use std::io;

/// A pipe name unique to this process, row, repetition and implementation.
fn name(row: &str, rep: usize, imp: &str) -> String {
    format!(
        r"\\.\pipe\winpipe-bench-{}-{row}-{rep}-{imp}",
        std::process::id()
    )
}

/// Runs `f` for winpipe then raw, `reps` times, and prints progress.
fn interleave(
    label: &str,
    reps: usize,
    mut f: impl FnMut(usize, bool) -> io::Result<()>,
) -> io::Result<()> {
    eprint!("{label}:");
    for rep in 0..reps {
        f(rep, true)?;
        f(rep, false)?;
        eprint!(" {}", rep + 1);
    }
    eprintln!();
    Ok(())
}

fn both<T>(
    rep: usize,
    winpipe: bool,
    row: &str,
    w: impl FnOnce(&str) -> io::Result<T>,
    r: impl FnOnce(&str) -> io::Result<T>,
) -> io::Result<T> {
    if winpipe {
        w(&name(row, rep, Winpipe::NAME))
    } else {
        r(&name(row, rep, Raw::NAME))
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

pub fn run(reps: usize) -> io::Result<Vec<Row>> {
    let mut rows = Vec::new();
    rows.push(throughput(
        reps,
        64 * 1024,
        64 << 20,
        "throughput, 64 KiB writes",
    )?);
    rows.push(throughput(reps, 1024, 2 << 20, "throughput, 1 KiB writes")?);
    rows.extend(ping_pong(reps)?);
    rows.extend(connections(reps, 1, 200, "1 client")?);
    rows.extend(connections(reps, 16, 13, "16 clients")?);
    rows.push(timeout(reps)?);
    rows.extend(vectored(reps)?);
    rows.extend(idle(reps)?);
    Ok(rows)
}

fn throughput(reps: usize, chunk: usize, total: usize, label: &'static str) -> io::Result<Row> {
    let mut row = Row::new(label, "MB/s", Goal::AtLeast(0.95));
    let tag = format!("tp{chunk}");
    interleave(label, reps, |rep, w| {
        let mbs = both(
            rep,
            w,
            &tag,
            |n| rows::throughput::<Winpipe>(n, chunk, total),
            |n| rows::throughput::<Raw>(n, chunk, total),
        )?;
        push(&mut row, w, mbs);
        Ok(())
    })?;
    Ok(row)
}

fn ping_pong(reps: usize) -> io::Result<[Row; 3]> {
    const TRIPS: usize = 1000;
    let mut med = Row::new("ping-pong 1 byte, median", "µs/trip", Goal::AtMost(1.05));
    let mut p99 = Row::new("ping-pong 1 byte, p99", "µs/trip", Goal::Info);
    let mut calls = Row::new("ping-pong: Kernel32 calls per trip", "calls", Goal::Info);
    interleave("ping-pong", reps, |rep, w| {
        let (times, per_trip) = both(
            rep,
            w,
            "pp",
            |n| rows::ping_pong::<Winpipe>(n, TRIPS),
            |n| rows::ping_pong::<Raw>(n, TRIPS),
        )?;
        push(&mut med, w, median(&times));
        push(&mut p99, w, percentile(&times, 0.99));
        push(&mut calls, w, per_trip);
        Ok(())
    })?;
    Ok([med, p99, calls])
}

fn connections(
    reps: usize,
    clients: usize,
    per_client: usize,
    label: &'static str,
) -> io::Result<[Row; 2]> {
    let rate_name = if clients == 1 {
        "connect+accept+1 byte+close, 1 client"
    } else {
        "connect+accept+1 byte+close, 16 clients"
    };
    let mut rate = Row::new(rate_name, "conn/s", Goal::AtLeast(0.90));
    let mut errors = Row::new(
        if clients == 1 {
            "connect errors, 1 client"
        } else {
            "connect errors, 16 clients"
        },
        "errors",
        Goal::Info,
    );
    let tag = format!("conn{clients}");
    interleave(label, reps, |rep, w| {
        let seen = both(
            rep,
            w,
            &tag,
            |n| rows::connections::<Winpipe>(n, clients, per_client),
            |n| rows::connections::<Raw>(n, clients, per_client),
        )?;
        push(&mut rate, w, seen.per_second);
        push(&mut errors, w, seen.errors as f64);
        Ok(())
    })?;
    let winpipe_errors: f64 = errors.winpipe.iter().sum();
    errors.check = Some(("0 for winpipe".into(), winpipe_errors == 0.0));
    rate.check = Some(("0 connect errors".into(), winpipe_errors == 0.0));
    Ok([rate, errors])
}

fn timeout(reps: usize) -> io::Result<Row> {
    const SAMPLES: usize = 3;
    let mut row = Row::new("read timeout 50 ms fires after", "ms", Goal::Info);
    let mut usable = true;
    interleave("read timeout", reps, |rep, w| {
        let seen = both(
            rep,
            w,
            "to",
            |n| rows::timeout_winpipe(n, SAMPLES),
            |n| rows::timeout_raw(n, SAMPLES),
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
    const CALLS: usize = 1000;
    let mut time = Row::new("vectored write 16 × 64 B", "µs/call", Goal::Info);
    let mut calls = Row::new("vectored write: Kernel32 calls", "calls", Goal::Info);
    let mut one_write = true;
    interleave("vectored", reps, |rep, w| {
        let (us, counted) = both(
            rep,
            w,
            "vec",
            |n| rows::vectored::<Winpipe>(n, CALLS),
            |n| rows::vectored::<Raw>(n, CALLS),
        )?;
        if w {
            one_write &= counted.write_file == 1;
        }
        push(&mut time, w, us);
        push(&mut calls, w, counted.total as f64);
        Ok(())
    })?;
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
    interleave("idle connections", reps, |rep, w| {
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
