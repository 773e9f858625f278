//! With the `log` feature every system call is traced, with its arguments and result:
//! the trace is also a syscall counter.
#![cfg(all(windows, feature = "log"))]

mod common;

use std::io::{IoSlice, Read, Write};
use std::sync::Mutex;
use winpipe::WinStream;

/// Keeps every winpipe record logged on this process.
struct Recorder(Mutex<Vec<String>>);

impl log::Log for Recorder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "winpipe"
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            self.0.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

static RECORDER: Recorder = Recorder(Mutex::new(Vec::new()));

fn take_records() -> Vec<String> {
    std::mem::take(&mut *RECORDER.0.lock().unwrap())
}

fn calls_to(records: &[String], call: &str) -> usize {
    let prefix = format!("{call}(");
    records.iter().filter(|r| r.starts_with(&prefix)).count()
}

// One test in this file: the logger is process-wide.
#[test]
fn every_system_call_is_traced_with_its_result() {
    common::within(common::LIMIT, || {
        log::set_logger(&RECORDER).unwrap();
        log::set_max_level(log::LevelFilter::Trace);

        let (mut a, mut b) = WinStream::pair().unwrap();
        let records = take_records();
        for call in ["CreateNamedPipeA", "CreateFileA", "ConnectNamedPipe"] {
            assert_eq!(calls_to(&records, call), 1, "{call} in {records:#?}");
        }
        assert!(records.iter().all(|r| r.contains(" = ")), "{records:#?}");
        // This thread's first operation (ConnectNamedPipe) made the thread's event.
        assert_eq!(calls_to(&records, "CreateEventA"), 1, "{records:#?}");

        a.write_all(b"traced").unwrap();
        let mut buf = [0; 6];
        b.read_exact(&mut buf).unwrap();
        let records = take_records();
        assert_eq!(calls_to(&records, "WriteFile"), 1, "{records:#?}");
        assert!(calls_to(&records, "ReadFile") >= 1, "{records:#?}");
        assert_eq!(calls_to(&records, "CreateEventA"), 0, "{records:#?}");
        // Events are made once per thread and reused after that.
        a.write_all(b"again!").unwrap();
        b.read_exact(&mut buf).unwrap();
        let records = take_records();
        assert_eq!(calls_to(&records, "CreateEventA"), 0, "{records:#?}");

        // A vectored write of 16 slices is one WriteFile.
        let parts = [[7u8; 64]; 16];
        let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        assert_eq!(a.write_vectored(&slices).unwrap(), 1024);
        assert_eq!(calls_to(&take_records(), "WriteFile"), 1);

        drop((a, b));
        let records = take_records();
        // Each stream closes its pipe handle only: the events belong to the thread.
        assert_eq!(calls_to(&records, "CloseHandle"), 2, "{records:#?}");
    });
}
