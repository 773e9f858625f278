//! Every CI run checks the invariants without nightly: the committed seed corpus is
//! replayed, then long seeded pseudo-random runs.

use super::{dial, message, name, splitmix, stream, Source};

/// Replays every file under `fuzz/corpus/<target>`; returns how many there were.
fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    files.sort();
    for file in &files {
        let data = std::fs::read(file).expect("corpus file");
        eprintln!("replaying {}", file.display());
        run(&data);
    }
    files.len()
}

#[test]
fn corpus_stream_io() {
    assert!(replay("stream_io", super::stream_io) > 0);
}

#[test]
fn corpus_message_io() {
    assert!(replay("message_io", super::message_io) > 0);
}

#[test]
fn corpus_connect_accept() {
    assert!(replay("connect_accept", super::connect_accept) > 0);
}

#[test]
fn corpus_pipe_name() {
    assert!(replay("pipe_name", super::pipe_name) > 0);
}

/// Seeds for the long runs; a failure names its seed.
const SEEDS: u64 = 20;
const STEPS_PER_SEED: usize = 5_000;

#[test]
fn random_stream_io() {
    for seed in 0..SEEDS {
        eprintln!("stream_io seed {seed}");
        stream::run(Source::Rng(seed), STEPS_PER_SEED);
    }
}

/// The message target's sweep: many short runs, each on its own connections.
const MESSAGE_SEEDS: u64 = 400;
const MESSAGE_STEPS: usize = 300;

#[test]
fn random_message_io() {
    for seed in 0..MESSAGE_SEEDS {
        eprintln!("message_io seed {seed}");
        message::run(Source::Rng(seed), MESSAGE_STEPS);
    }
}

#[test]
fn random_connect_accept() {
    for seed in 0..SEEDS {
        eprintln!("connect_accept seed {seed}");
        dial::run(Source::Rng(seed), STEPS_PER_SEED);
    }
}

#[test]
fn random_pipe_name() {
    let mut state = 7;
    let mut data = Vec::new();
    for _ in 0..SEEDS as usize * STEPS_PER_SEED {
        let len = (splitmix(&mut state) % 300) as usize;
        data.clear();
        data.extend((0..len).map(|_| {
            // Mostly printable ASCII, some backslashes, NULs and non-ASCII bytes.
            let r = splitmix(&mut state);
            match r % 16 {
                0 => b'\\',
                1 => 0,
                2 => 0xC3,
                _ => b' ' + (r >> 8) as u8 % 95,
            }
        }));
        name::run(&data);
    }
}

#[test]
fn the_reference_checker_follows_the_documented_rules() {
    assert!(name::reference(r"\\.\pipe\a"));
    assert!(name::reference(r"\\.\pipe\LOCAL\a"));
    assert!(name::reference(r"\\.\pipe\local\a"));
    assert!(!name::reference(r"\\.\pipe\LOCAL\"));
    assert!(!name::reference(r"\\.\pipe\LOCAL\a\b"));
    assert!(name::reference(r"\\.\PIPE\with space and .dot"));
    assert!(name::reference(&format!(r"\\.\pipe\{}", "x".repeat(247))));
    assert!(!name::reference(&format!(r"\\.\pipe\{}", "x".repeat(248))));
    for bad in [
        "",
        r"\\.\pipe\",
        r"\\.\pipe\a\b",
        r"\\server\pipe\a",
        "\\\\.\\pipe\\a\0",
        r"\\.\pipe\a/b",
        r"\\.\pipe\a.",
        r"\\.\pipe\a ",
    ] {
        assert!(!name::reference(bad), "{bad:?}");
    }
    assert!(!name::reference(r"\\.\pipe\é"));
}

/// Turns a failing seeded run into the shortest failing byte input (`SEED`, `OUT`).
#[test]
#[ignore]
fn message_seed_to_bytes() {
    let mut state: u64 = std::env::var("SEED").unwrap().parse().unwrap();
    let bytes: Vec<u8> = (0..1 << 20)
        .map(|_| (splitmix(&mut state) >> 56) as u8)
        .collect();
    let fails = |n: usize| {
        std::panic::catch_unwind(|| message::run(Source::Bytes(&bytes[..n]), MESSAGE_STEPS))
            .is_err()
    };
    assert!(fails(bytes.len()));
    let (mut lo, mut hi) = (0, bytes.len());
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if fails(mid) {
            hi = mid
        } else {
            lo = mid
        }
    }
    std::fs::write(std::env::var("OUT").unwrap(), &bytes[..hi]).unwrap();
    eprintln!("{hi} bytes");
}
