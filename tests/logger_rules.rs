//! What winpipe owes a user's logger, which runs on every traced system call:
//! - it never runs while a winpipe thread impersonates a pipe client (at the
//!   Identification level a logger that opens a file would fail; at Impersonation it
//!   would act as the client);
//! - a logger that panics right after a call that made a handle leaks nothing: the
//!   handle is owned before the trace.
#![cfg(all(windows, feature = "log"))]

mod common;

use common::win32::{open_handles, thread_impersonates};

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use winpipe::WinStream;

/// Counts records logged while the logging thread impersonated someone, and panics on
/// `DuplicateHandle` records while `panic_on_duplicate` is set.
struct Watcher {
    impersonating: AtomicUsize,
    records: AtomicUsize,
    panic_on_duplicate: AtomicBool,
}

impl log::Log for Watcher {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "winpipe"
    }
    fn log(&self, record: &log::Record<'_>) {
        self.records.fetch_add(1, Ordering::SeqCst);
        if thread_impersonates() {
            self.impersonating.fetch_add(1, Ordering::SeqCst);
        }
        let line = record.args().to_string();
        if line.starts_with("DuplicateHandle(") && self.panic_on_duplicate.load(Ordering::SeqCst) {
            panic!("the logger panics on {line}");
        }
    }
    fn flush(&self) {}
}

static WATCHER: Watcher = Watcher {
    impersonating: AtomicUsize::new(0),
    records: AtomicUsize::new(0),
    panic_on_duplicate: AtomicBool::new(false),
};

// One test in this file: the logger is process-wide.
#[test]
fn the_logger_never_runs_impersonating_and_a_panic_in_it_leaks_no_handle() {
    common::within(common::LIMIT, || {
        log::set_logger(&WATCHER).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
        let (client, server) = WinStream::pair().unwrap();

        // The server end's peer_user impersonates the client on a thread of its own.
        let before = WATCHER.records.load(Ordering::SeqCst);
        server.peer_user().unwrap();
        assert!(
            WATCHER.records.load(Ordering::SeqCst) > before,
            "peer_user traced nothing"
        );
        assert_eq!(
            WATCHER.impersonating.load(Ordering::SeqCst),
            0,
            "the logger ran while a thread impersonated the client"
        );

        // try_clone duplicates the handle, then traces: a panic there must not leak it.
        let handles = open_handles();
        WATCHER.panic_on_duplicate.store(true, Ordering::SeqCst);
        for _ in 0..10 {
            let caught = panic::catch_unwind(AssertUnwindSafe(|| client.try_clone()));
            assert!(caught.is_err(), "the logger did not panic");
        }
        WATCHER.panic_on_duplicate.store(false, Ordering::SeqCst);
        let leaked = open_handles().saturating_sub(handles);
        assert!(
            leaked < 10,
            "{leaked} handles leaked by 10 panicking clones"
        );
    });
}
