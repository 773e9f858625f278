//! A child process that talks over a pipe with the test and says on its stdout when it
//! has done its part, so the test can act (kill it, bind after it) at that moment.
//!
//! Included with `#[path = "common/peer.rs"] mod peer;` by test files that use
//! `common::process` (`harness = false`).
#![allow(dead_code)]

use crate::common::process;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::Instant;

/// The line a child role prints when it is ready.
const READY: &str = "ready";

/// A running child role. Dropping it kills the child, so a failed test leaves no
/// process behind.
pub struct Peer {
    child: Child,
    stdout: BufReader<ChildStdout>,
    // Kept open: a child waiting in `idle` waits until it closes.
    _stdin: ChildStdin,
}

impl Peer {
    /// Starts this test executable as `role` with `args`.
    pub fn start(role: &str, args: &[&str]) -> Peer {
        let mut child = process::child(role, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start child role {role}: {e}"));
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let stdin = child.stdin.take().expect("piped stdin");
        Peer {
            child,
            stdout,
            _stdin: stdin,
        }
    }

    /// Waits until the child says it is ready; fails if it exits first.
    pub fn wait_ready(&mut self) {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self
                .stdout
                .read_line(&mut line)
                .expect("read the child's stdout");
            assert!(n > 0, "the child exited before it was ready");
            if line.trim_end() == READY {
                return;
            }
        }
    }

    /// Kills the child (`TerminateProcess`) and returns the moment just before.
    pub fn kill(&mut self) -> Instant {
        let at = Instant::now();
        self.child.kill().expect("kill the child");
        at
    }

    /// Waits until the child has exited.
    pub fn wait(&mut self) {
        self.child.wait().expect("wait for the child");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// In a child role: tells the test it is ready.
pub fn ready() {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{READY}")
        .and_then(|()| out.flush())
        .expect("write to the test");
}

/// In a child role: does nothing until the test closes the child's stdin or kills it.
pub fn idle() {
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}
