//! Connecting, talking and closing leaves no handle or thread behind.
//!
//! `WINPIPE_LEAK_CYCLES` sets the number of connection cycles (default 10,000, what CI
//! runs); a smaller number makes a quick local run.
#![cfg(windows)]

mod common;

use std::ffi::c_void;
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};
use winpipe::{WinListener, WinStream};

/// Handles the runtime (or Wine) may open lazily during a run without any leak: a leak
/// of one handle per cycle would show as thousands.
const HANDLE_SLACK: usize = 5;
/// Threads: winpipe starts none, and the test's own threads have all been joined; Wine
/// or the runtime may still start a helper thread of its own.
const THREAD_SLACK: usize = 1;

#[repr(C)]
struct ThreadEntry32 {
    size: u32,
    usage: u32,
    thread_id: u32,
    owner_process_id: u32,
    base_priority: i32,
    delta_priority: i32,
    flags: u32,
}

const TH32CS_SNAPTHREAD: u32 = 0x4;
const INVALID_HANDLE_VALUE: *mut c_void = -1isize as *mut c_void;

#[link(name = "kernel32")]
extern "system" {
    fn GetProcessHandleCount(process: *mut c_void, count: *mut u32) -> i32;
    fn GetCurrentProcess() -> *mut c_void;
    fn GetCurrentProcessId() -> u32;
    fn CreateToolhelp32Snapshot(flags: u32, process_id: u32) -> *mut c_void;
    fn Thread32First(snapshot: *mut c_void, entry: *mut ThreadEntry32) -> i32;
    fn Thread32Next(snapshot: *mut c_void, entry: *mut ThreadEntry32) -> i32;
    fn CloseHandle(handle: *mut c_void) -> i32;
}

/// Open handles in this process. Windows counts them (GetProcessHandleCount); Wine 8's
/// GetProcessHandleCount is a stub that reports 0, so there they are counted by asking
/// about every possible handle value up to a bound (GetHandleInformation).
fn handle_count() -> usize {
    let mut count = 0;
    // SAFETY: the pseudo handle of this process and a valid out-pointer.
    let ok = unsafe { GetProcessHandleCount(GetCurrentProcess(), &mut count) };
    if ok != 0 && count > 0 {
        return count as usize;
    }
    common::win32::open_handles()
}

/// Threads of this process, from a toolhelp snapshot of every thread in the system
/// (Windows and Wine both implement it).
fn thread_count() -> usize {
    // SAFETY: plain flag arguments; the result is checked before use.
    let snapshot = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0) };
    assert!(
        !snapshot.is_null() && snapshot != INVALID_HANDLE_VALUE,
        "CreateToolhelp32Snapshot failed"
    );
    // SAFETY: a process id query has no preconditions.
    let me = unsafe { GetCurrentProcessId() };
    let mut entry = ThreadEntry32 {
        size: std::mem::size_of::<ThreadEntry32>() as u32,
        usage: 0,
        thread_id: 0,
        owner_process_id: 0,
        base_priority: 0,
        delta_priority: 0,
        flags: 0,
    };
    let mut count = 0;
    // SAFETY: `snapshot` is open and `entry` is a THREADENTRY32 with dwSize set.
    let mut more = unsafe { Thread32First(snapshot, &mut entry) } != 0;
    while more {
        if entry.owner_process_id == me {
            count += 1;
        }
        // SAFETY: as above.
        more = unsafe { Thread32Next(snapshot, &mut entry) } != 0;
    }
    // SAFETY: we own the snapshot handle and do not use it again.
    unsafe { CloseHandle(snapshot) };
    count
}

fn cycles() -> usize {
    std::env::var("WINPIPE_LEAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// One full connection: connect, accept, one exchange each way (including a read that
/// times out, a clone and a peek, so every kind of event is made), then close. Every
/// 16th cycle also has a client that leaves before it is accepted and a nonblocking
/// accept that finds nobody.
fn cycle(listener: &WinListener, name: &str, i: usize) {
    let mut client = WinStream::connect(name).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    client.write_all(b"ping").unwrap();
    let mut buf = [0; 4];
    server.peek(&mut buf).unwrap();
    server.read_exact(&mut buf).unwrap();
    server.try_clone().unwrap().write_all(b"pong").unwrap();
    client.read_exact(&mut buf).unwrap();
    client
        .set_read_timeout(Some(std::time::Duration::from_millis(1)))
        .unwrap();
    assert!(client.read(&mut buf).is_err());
    if i.is_multiple_of(16) {
        drop(client);
        drop(server);
        let mut gone = WinStream::connect(name).unwrap();
        gone.write_all(b"bye").unwrap();
        drop(gone);
        let (mut server, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"bye");
        listener.set_nonblocking(true).unwrap();
        let err = listener.accept().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        listener.set_nonblocking(false).unwrap();
    }
}

/// The counters themselves work: a leak would be seen. (Part of the one test of this
/// file: a second test running in parallel would disturb the counts.)
fn counters_see_a_new_pipe_and_thread() {
    let (handles, threads) = (handle_count(), thread_count());
    assert!(threads >= 1, "no thread counted");
    let (a, b) = WinStream::pair().unwrap();
    let (stop, parked) = std::sync::mpsc::channel::<()>();
    let extra = std::thread::spawn(move || parked.recv());
    assert!(handle_count() >= handles + 2, "the new pipe is not counted");
    assert!(thread_count() > threads, "the new thread is not counted");
    drop((a, b, stop));
    extra.join().unwrap().unwrap_err();
}

#[test]
fn connection_cycles_leak_no_handles_or_threads() {
    // Ten minutes at the most, for the full 10,000 cycles on a loaded machine.
    common::within(Duration::from_secs(600), || {
        let name = common::pipe_name("connection_cycles_leak_no_handles_or_threads");
        counters_see_a_new_pipe_and_thread();
        let listener = WinListener::bind(&name).unwrap();
        // Warm up: let the runtime and Wine make what they make once.
        for i in 0..20 {
            cycle(&listener, &name, i);
        }
        let (handles_before, threads_before) = (handle_count(), thread_count());
        let n = cycles();
        let start = Instant::now();
        for i in 0..n {
            cycle(&listener, &name, i);
        }
        let took = start.elapsed();
        let (handles_after, threads_after) = (handle_count(), thread_count());
        eprintln!(
            "{n} cycles in {took:.2?}: handles {handles_before} -> {handles_after}, \
             threads {threads_before} -> {threads_after}"
        );
        assert!(
            handles_after <= handles_before + HANDLE_SLACK,
            "handles before {handles_before}, after {handles_after} ({n} cycles)"
        );
        assert!(
            threads_after <= threads_before + THREAD_SLACK,
            "threads before {threads_before}, after {threads_after} ({n} cycles)"
        );
        drop(listener);
        let pairs_before = handle_count();
        for _ in 0..200 {
            let (a, b) = WinStream::pair().unwrap();
            drop((a, b));
        }
        assert!(handle_count() <= pairs_before + HANDLE_SLACK);
        peer_user_calls_leak_nothing(&name);
    });
}

/// 1,000 `peer_user` calls on each end: every token handle is closed, every
/// impersonation thread ended (and on the client end every process handle closed and
/// every owner descriptor read into our own memory).
fn peer_user_calls_leak_nothing(name: &str) {
    let listener = WinListener::bind(name).unwrap();
    let client = WinStream::connect(name).unwrap();
    let (server, _) = listener.accept().unwrap();
    let me = winpipe::Sid::current_user().unwrap();
    for _ in 0..10 {
        assert_eq!(server.peer_user().unwrap(), me);
        assert_eq!(client.peer_user().unwrap(), me);
    }
    let (handles_before, threads_before) = (handle_count(), thread_count());
    for _ in 0..1_000 {
        assert_eq!(server.peer_user().unwrap(), me);
        assert_eq!(client.peer_user().unwrap(), me);
        assert!(server.peer_is_same_user().unwrap());
    }
    let (handles_after, threads_after) = (handle_count(), thread_count());
    eprintln!(
        "1,000 peer_user calls per end: handles {handles_before} -> {handles_after}, \
         threads {threads_before} -> {threads_after}"
    );
    assert!(
        handles_after <= handles_before + HANDLE_SLACK,
        "handles before {handles_before}, after {handles_after} (1,000 peer_user calls)"
    );
    assert!(
        threads_after <= threads_before + THREAD_SLACK,
        "threads before {threads_before}, after {threads_after} (1,000 peer_user calls)"
    );
}
