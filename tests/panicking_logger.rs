//! A logger that panics: winpipe traces every system call through `log`, so a user's
//! logger runs between issuing an overlapped operation and waiting for it. If it
//! panics there, the operation must still be cancelled and awaited before its buffer
//! and OVERLAPPED are released: the kernel must not write into freed memory, and the
//! bytes it would have read must stay in the pipe for the next read. Likewise a panic
//! while a pipe client is impersonated (`peer_user`) must not leave the caller's
//! thread impersonating it.
#![cfg(all(windows, feature = "log"))]

mod common;

use common::win32::thread_impersonates;

use std::io::{Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use winpipe::WinStream;

/// Panics on the first `ReadFile` record and on the first `ImpersonateNamedPipeClient`
/// record, then logs nothing.
struct PanicOnFirstRead(AtomicBool, AtomicBool);

impl log::Log for PanicOnFirstRead {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "winpipe"
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = record.args().to_string();
        if line.starts_with("ReadFile(") && !self.0.swap(true, Ordering::SeqCst) {
            panic!("the logger panics on {line}");
        }
        if line.starts_with("ImpersonateNamedPipeClient(") && !self.1.swap(true, Ordering::SeqCst) {
            panic!("the logger panics on {line}");
        }
    }
    fn flush(&self) {}
}

static LOGGER: PanicOnFirstRead = PanicOnFirstRead(AtomicBool::new(false), AtomicBool::new(false));

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

        // `b` is the server end: its peer_user impersonates the client.
        let caught = panic::catch_unwind(AssertUnwindSafe(|| b.peer_user()));
        assert!(caught.is_err(), "the logger did not panic: {caught:?}");
        assert!(LOGGER.1.load(Ordering::SeqCst));
        assert!(
            !thread_impersonates(),
            "the panic left this thread impersonating"
        );
        let me = winpipe::Sid::current_user().unwrap();
        assert_eq!(b.peer_user().unwrap(), me);
        assert!(!thread_impersonates());
    });
}
