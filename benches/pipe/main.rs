//! winpipe against a raw Kernel32 loop on synchronous handles (the practical limit),
//! in one process, interleaved (winpipe, raw, winpipe, raw …), with medians and ranges.
//!
//! `scripts/bench.sh` runs it under Wine; on Windows `cargo bench --bench pipe`.
//! `WINPIPE_BENCH_REPS` sets the repetitions (default 11; the issue asks for at least 5).
//! `WINPIPE_BENCH_ONLY=ping-pong` (or another group name) runs only that group.
//! `WINPIPE_BENCH_TRACE=1` prints the winpipe calls each count saw.

#[cfg(not(windows))]
fn main() {
    eprintln!("the pipe benchmark needs Windows (or Wine: scripts/bench.sh)");
}

#[cfg(windows)]
mod counters;
#[cfg(windows)]
mod imp;
#[cfg(windows)]
mod messages;
#[cfg(windows)]
mod raw;
#[cfg(windows)]
mod report;
#[cfg(windows)]
mod rows;

#[cfg(windows)]
#[global_allocator]
static ALLOCATOR: counters::Counting = counters::Counting;

#[cfg(windows)]
fn main() -> std::io::Result<()> {
    counters::install();

    let reps = std::env::var("WINPIPE_BENCH_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(11usize)
        .max(1);
    let rows = suite::run(reps)?;
    report::table(&rows, reps);
    println!();
    report::json(&rows);
    let missed: Vec<&str> = rows
        .iter()
        .filter(|r| r.met() == Some(false))
        .map(|r| r.name)
        .collect();
    if missed.is_empty() {
        println!("\nall targets met");
    } else {
        println!("\ntargets missed: {}", missed.join("; "));
    }
    Ok(())
}

#[cfg(windows)]
mod suite;
