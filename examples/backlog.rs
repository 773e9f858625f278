//! Measures what the listener backlog changes: 64 clients connect at the same moment to
//! a server that accepts slowly, for backlogs of 1, 4 and 16. Prints, per backlog, the
//! connect errors, how long clients took to connect and how long each accept took,
//! as a table and as one JSON line per backlog.
//!
//! `cargo run --release --example backlog [ROUNDS [BACKLOG…]]` (under Wine here:
//! `cargo run --release --target x86_64-pc-windows-gnu --example backlog`).

#[cfg(not(windows))]
fn main() {
    eprintln!("this example measures Windows named pipes: run it on Windows or under Wine");
}

#[cfg(windows)]
fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("ROUNDS and BACKLOG are numbers"))
        .collect();
    let rounds = args.first().copied().unwrap_or(5);
    let backlogs = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        vec![1, 4, 16]
    };
    println!("64 simultaneous clients (1 s connect timeout), server sleeps 2 ms per accept");
    println!(
        "{:>7} {:>6} {:>14} {:>14} {:>14} {:>14}",
        "backlog", "errors", "connect p50", "connect max", "accept p50", "accept max"
    );
    for backlog in backlogs {
        let mut all = measure::Figures::default();
        for round in 0..rounds {
            all.extend(measure::round(backlog, round));
        }
        all.print(backlog);
    }
}

#[cfg(windows)]
mod measure {
    use std::io::{Read, Write};
    use std::sync::{Arc, Barrier};
    use std::thread;
    use std::time::{Duration, Instant};
    use winpipe::{ListenerOptions, WinStream};

    const CLIENTS: usize = 64;

    #[derive(Default)]
    pub struct Figures {
        errors: usize,
        connects: Vec<Duration>,
        accepts: Vec<Duration>,
    }

    impl Figures {
        pub fn extend(&mut self, other: Figures) {
            self.errors += other.errors;
            self.connects.extend(other.connects);
            self.accepts.extend(other.accepts);
        }

        pub fn print(mut self, backlog: usize) {
            self.connects.sort();
            self.accepts.sort();
            let p50 = |v: &[Duration]| v.get(v.len() / 2).copied().unwrap_or_default();
            let max = |v: &[Duration]| v.last().copied().unwrap_or_default();
            let us = |d: Duration| d.as_micros();
            println!(
                "{:>7} {:>6} {:>12}us {:>12}us {:>12}us {:>12}us",
                backlog,
                self.errors,
                us(p50(&self.connects)),
                us(max(&self.connects)),
                us(p50(&self.accepts)),
                us(max(&self.accepts)),
            );
            println!(
                "{{\"backlog\":{},\"clients\":{},\"connect_errors\":{},\"connect_p50_us\":{},\"connect_max_us\":{},\"accept_p50_us\":{},\"accept_max_us\":{}}}",
                backlog,
                self.connects.len() + self.errors,
                self.errors,
                us(p50(&self.connects)),
                us(max(&self.connects)),
                us(p50(&self.accepts)),
                us(max(&self.accepts)),
            );
        }
    }

    /// One round: bind, release 64 clients at once, accept them slowly.
    pub fn round(backlog: usize, round: usize) -> Figures {
        let name = format!(
            r"\\.\pipe\winpipe-backlog-{}-{backlog}-{round}",
            std::process::id()
        );
        let listener = ListenerOptions::new().backlog(backlog).bind(&name).unwrap();
        let start = Arc::new(Barrier::new(CLIENTS + 1));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (name, start) = (name.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    let began = Instant::now();
                    let mut stream =
                        WinStream::connect_with_timeout(&name, Duration::from_secs(1)).ok()?;
                    let took = began.elapsed();
                    stream.write_all(b"x").ok()?;
                    stream.read_exact(&mut [0]).ok()?;
                    Some(took)
                })
            })
            .collect();
        start.wait();
        let mut figures = Figures::default();
        let acceptor = {
            let listener = listener.try_clone().unwrap();
            thread::spawn(move || {
                let mut accepts = Vec::new();
                loop {
                    thread::sleep(Duration::from_millis(2)); // a slow server
                    let began = Instant::now();
                    let (mut s, _) = match listener.accept() {
                        Ok(accepted) => accepted,
                        // Every client is done: the main thread woke us.
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return accepts,
                        Err(e) => panic!("accept failed: {e}"),
                    };
                    accepts.push(began.elapsed());
                    let mut b = [0];
                    if s.read_exact(&mut b).is_ok() {
                        let _ = s.write_all(&b);
                    }
                }
            })
        };
        // A client finishes once served or given up; then wake the blocked accept.
        let results: Vec<Option<Duration>> =
            clients.into_iter().map(|c| c.join().unwrap()).collect();
        listener.set_nonblocking(true).unwrap();
        figures.accepts = acceptor.join().unwrap();
        for result in results {
            match result {
                Some(took) => figures.connects.push(took),
                None => figures.errors += 1,
            }
        }
        figures
    }
}
