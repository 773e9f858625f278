//! Helpers shared by the integration tests: unique pipe names and time limits.
#![allow(dead_code)]

pub mod process;
#[cfg(windows)]
pub mod win32;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// A pipe name no other test or test process uses: `\\.\pipe\winpipe-test-PID-TEST`.
pub fn pipe_name(test: &str) -> String {
    format!(r"\\.\pipe\winpipe-test-{}-{}", std::process::id(), test)
}

/// Runs `f` on its own thread and fails the test if it takes longer than `limit`, so a
/// hang fails instead of stalling the run.
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => {
            worker.join().expect("test thread panicked");
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the worker sent nothing but did not panic"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test did not finish within {limit:?}"),
    }
}

/// The usual limit for one pipe test.
pub const LIMIT: Duration = Duration::from_secs(20);
