//! A logger that panics: winpipe traces every system call through `log`, so a user's
//! logger runs between issuing an overlapped operation and waiting for it. If it
//! panics there, the operation must still be cancelled and awaited before its buffer
//! and OVERLAPPED are released: the kernel must not write into freed memory, and the
//! bytes it would have read must stay in the pipe for the next read.
#![cfg(all(windows, feature = "log"))]

mod common;

use std::io::{Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use winpipe::WinStream;

/// Panics on the first `ReadFile` record, then logs nothing.
struct PanicOnFirstRead(AtomicBool);

impl log::Log for PanicOnFirstRead {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "winpipe"
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = record.args().to_string();
        if line.starts_with("ReadFile(") && !self.0.swap(true, Ordering::SeqCst) {
            panic!("the logger panics on {line}");
        }
    }
    fn flush(&self) {}
}

static LOGGER: PanicOnFirstRead = PanicOnFirstRead(AtomicBool::new(false));

// One test in this file: the logger is process-wide.
#[test]
fn a_read_whose_trace_panics_is_settled_and_loses_no_byte() {
    common::within(common::LIMIT, || {
        log::set_logger(&LOGGER).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
        let (a, b) = WinStream::pair().unwrap();
        // No data yet: the ReadFile pends, then its trace line panics.
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut buf = [0u8; 64];
            (&a).read(&mut buf)
        }));
        assert!(caught.is_err(), "the logger did not panic: {caught:?}");
        assert!(LOGGER.0.load(Ordering::SeqCst));

        // The next bytes go to the next read, not to the abandoned one.
        (&b).write_all(b"after the panic").unwrap();
        a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        let n = (&a)
            .read(&mut buf)
            .expect("the next read gets the peer's bytes");
        assert_eq!(&buf[..n], b"after the panic");
        // And the stream goes on working both ways.
        (&a).write_all(b"ok").unwrap();
        let mut two = [0u8; 2];
        (&b).read_exact(&mut two).unwrap();
        assert_eq!(&two, b"ok");
    });
}
