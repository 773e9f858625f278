//! Counters: Kernel32 calls (winpipe's trace log, the baseline's own counter) and live
//! bytes on the Rust heap (a counting global allocator).

use crate::imp::Imp;
use crate::raw;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::{self, ThreadId};

/// The system allocator, keeping count of live bytes.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's promises about `layout` are passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Bytes currently allocated on the Rust heap.
pub fn heap_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Counts winpipe's trace records (one per system call) while enabled, on every thread
/// or on one.
struct TraceCounter;

static TRACING: AtomicBool = AtomicBool::new(false);
static ONLY_THREAD: Mutex<Option<ThreadId>> = Mutex::new(None);
static TRACED: AtomicUsize = AtomicUsize::new(0);
static TRACED_WRITES: AtomicUsize = AtomicUsize::new(0);
static LOGGER: TraceCounter = TraceCounter;

impl log::Log for TraceCounter {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "winpipe" && TRACING.load(Ordering::Relaxed)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let only = *ONLY_THREAD.lock().unwrap();
        if only.is_some_and(|id| id != thread::current().id()) {
            return;
        }
        TRACED.fetch_add(1, Ordering::Relaxed);
        let text = record.args().to_string();
        if text.starts_with("WriteFile(") {
            TRACED_WRITES.fetch_add(1, Ordering::Relaxed);
        }
        if SHOW.load(Ordering::Relaxed) {
            eprintln!("trace: {text}");
        }
    }

    fn flush(&self) {}
}

/// Print every counted record (`WINPIPE_BENCH_TRACE` set).
static SHOW: AtomicBool = AtomicBool::new(false);

/// Installs the trace counter (tracing stays off until `calls` turns it on).
pub fn install() {
    SHOW.store(
        std::env::var_os("WINPIPE_BENCH_TRACE").is_some(),
        Ordering::Relaxed,
    );
    log::set_logger(&LOGGER).expect("no other logger");
    log::set_max_level(log::LevelFilter::Off);
}

/// Kernel32 calls made during one measurement.
#[derive(Clone, Copy, Debug)]
pub struct Calls {
    pub total: usize,
    pub write_file: usize,
}

/// Runs `f` and counts the Kernel32 calls `I` made meanwhile, on every thread.
pub fn calls<I: Imp, R>(f: impl FnOnce() -> R) -> (R, Calls) {
    count::<I, R>(true, f)
}

/// Runs `f` and counts the Kernel32 calls `I` made by this thread meanwhile.
pub fn calls_here<I: Imp, R>(f: impl FnOnce() -> R) -> (R, Calls) {
    count::<I, R>(false, f)
}

fn count<I: Imp, R>(all_threads: bool, f: impl FnOnce() -> R) -> (R, Calls) {
    if I::NAME != "winpipe" {
        let before = raw::calls(all_threads);
        let result = f();
        let after = raw::calls(all_threads);
        let calls = Calls {
            total: after.0 - before.0,
            write_file: after.1 - before.1,
        };
        return (result, calls);
    }
    *ONLY_THREAD.lock().unwrap() = (!all_threads).then(|| thread::current().id());
    let before = (
        TRACED.load(Ordering::Relaxed),
        TRACED_WRITES.load(Ordering::Relaxed),
    );
    TRACING.store(true, Ordering::Relaxed);
    log::set_max_level(log::LevelFilter::Trace);
    let result = f();
    log::set_max_level(log::LevelFilter::Off);
    TRACING.store(false, Ordering::Relaxed);
    let calls = Calls {
        total: TRACED.load(Ordering::Relaxed) - before.0,
        write_file: TRACED_WRITES.load(Ordering::Relaxed) - before.1,
    };
    (result, calls)
}
