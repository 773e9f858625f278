//! Squatting: another process created the pipe name first. `bind` must fail with
//! `AddrInUse` — on Windows, where FILE_FLAG_FIRST_PIPE_INSTANCE refuses the name, and
//! under Wine, which ignores that flag — whatever the squatter's instance is doing.
#![cfg_attr(not(windows), allow(dead_code))]

mod common;
#[cfg(windows)]
#[path = "common/peer.rs"]
mod peer;

#[cfg(not(windows))]
fn main() {}

#[cfg(windows)]
fn main() {
    common::process::main(
        &[
            ("raw_squatter_idle_instance", raw_squatter_idle_instance),
            ("raw_squatter_busy_instance", raw_squatter_busy_instance),
            (
                "raw_squatter_spelling_the_name_in_other_case",
                raw_squatter_spelling_the_name_in_other_case,
            ),
            ("winpipe_squatter", winpipe_squatter),
            (
                "a_listener_whose_instances_all_closed_keeps_its_name",
                a_listener_whose_instances_all_closed_keeps_its_name,
            ),
        ],
        &[
            ("squat_raw", squat_raw),
            ("squat_winpipe", squat_winpipe),
            ("squat_when_free", squat_when_free),
        ],
    );
}

#[cfg(windows)]
use common::win32 as raw;

/// Child role: creates `name` with a raw CreateNamedPipeA (blocking mode, byte pipe,
/// `max` instances, no FILE_FLAG_FIRST_PIPE_INSTANCE), and with `busy` also opens it
/// as a client so that its only instance is taken; then idles until killed.
#[cfg(windows)]
fn squat_raw(args: &[String]) {
    let (name, max, busy) = (&args[0], args[1].parse().unwrap(), args[2] == "busy");
    let c_name = std::ffi::CString::new(name.as_str()).unwrap();
    // SAFETY: a NUL-terminated name, default security, plain values; the handle is
    // checked and then left open until the process ends.
    let server = unsafe {
        raw::CreateNamedPipeA(
            c_name.as_ptr().cast(),
            raw::PIPE_ACCESS_DUPLEX,
            0,
            max,
            4096,
            4096,
            0,
            std::ptr::null_mut(),
        )
    };
    assert!(
        server != raw::INVALID_HANDLE_VALUE,
        "CreateNamedPipeA: {}",
        {
            // SAFETY: no preconditions.
            unsafe { raw::GetLastError() }
        }
    );
    if busy {
        // SAFETY: as above; no template, no security attributes.
        let client = unsafe {
            raw::CreateFileA(
                c_name.as_ptr().cast(),
                raw::GENERIC_READ | raw::GENERIC_WRITE,
                0,
                std::ptr::null_mut(),
                raw::OPEN_EXISTING,
                0,
                std::ptr::null_mut(),
            )
        };
        assert!(client != raw::INVALID_HANDLE_VALUE, "CreateFileA: {}", {
            // SAFETY: no preconditions.
            unsafe { raw::GetLastError() }
        });
    }
    peer::ready();
    peer::idle();
}

/// Child role: binds `name` with winpipe and idles.
#[cfg(windows)]
fn squat_winpipe(args: &[String]) {
    let _listener = winpipe::WinListener::bind(&args[0]).unwrap();
    peer::ready();
    peer::idle();
}

/// Starts the squatter, checks that our `bind` is `AddrInUse` while it lives, and that
/// the name binds once it is gone (so the refusal was about the squatter).
#[cfg(windows)]
fn assert_squatted(test: &str, role: &str, squatter_name: &str, args: &[&str], ours: &str) {
    let mut all = vec![squatter_name];
    all.extend_from_slice(args);
    let mut squatter = peer::Peer::start(role, &all);
    squatter.wait_ready();
    let err = winpipe::WinListener::bind(ours).expect_err("bind succeeded on a squatted name");
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::AddrInUse,
        "{test}: bind gave {err:?}"
    );
    // Twice: the failed bind left nothing behind that changes the answer.
    let err = winpipe::WinListener::bind(ours).expect_err("second bind succeeded");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err:?}");
    squatter.kill();
    squatter.wait();
    // The squatter's handles are closed by the system once it is gone.
    winpipe::WinListener::bind(ours).expect("bind after the squatter was killed");
}

#[cfg(windows)]
fn raw_squatter_idle_instance() {
    let name = common::pipe_name("raw_squatter_idle_instance");
    assert_squatted("idle", "squat_raw", &name, &["255", "idle"], &name);
}

/// The squatter's only instance is connected: WaitNamedPipe finds no free instance
/// (it times out instead of saying "no such pipe"), and CreateNamedPipe says "busy"
/// when the squatter allowed one instance but succeeds under Wine when it allowed
/// more — none of that may pass for a free name.
#[cfg(windows)]
fn raw_squatter_busy_instance() {
    for max in ["1", "255"] {
        let name = common::pipe_name(&format!("raw_squatter_busy_instance_{max}"));
        assert_squatted("busy", "squat_raw", &name, &[max, "busy"], &name);
    }
}

/// Pipe names are case-insensitive: `\\.\PIPE\NAME` squats `\\.\pipe\name`.
#[cfg(windows)]
fn raw_squatter_spelling_the_name_in_other_case() {
    let name = common::pipe_name("raw_squatter_other_case");
    let upper = name.to_uppercase();
    assert_squatted("other case", "squat_raw", &upper, &["255", "idle"], &name);
}

#[cfg(windows)]
fn winpipe_squatter() {
    let name = common::pipe_name("winpipe_squatter");
    assert_squatted("winpipe", "squat_winpipe", &name, &[], &name);
}

/// Child role: waits for `name` to stop existing (`WaitNamedPipeA` says
/// ERROR_FILE_NOT_FOUND), then creates it with FILE_FLAG_FIRST_PIPE_INSTANCE — what
/// Windows allows anyone once a name has lapsed, and all a squatter under Wine may do
/// here — and greets every client with "squatter". Gives up after 10 s.
#[cfg(windows)]
fn squat_when_free(args: &[String]) {
    use std::time::{Duration, Instant};
    let c_name = std::ffi::CString::new(args[0].as_str()).unwrap();
    peer::ready();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        // SAFETY: a NUL-terminated name.
        let free = unsafe { raw::WaitNamedPipeA(c_name.as_ptr().cast(), 1) } == 0
            && raw::last_error() == raw::ERROR_FILE_NOT_FOUND;
        if !free {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        // SAFETY: a NUL-terminated name, default security, plain values.
        let server = unsafe {
            raw::CreateNamedPipeA(
                c_name.as_ptr().cast(),
                raw::PIPE_ACCESS_DUPLEX | raw::FILE_FLAG_FIRST_PIPE_INSTANCE,
                0,
                255,
                4096,
                4096,
                0,
                std::ptr::null_mut(),
            )
        };
        if server == raw::INVALID_HANDLE_VALUE {
            continue;
        }
        println!("squatted");
        let end = raw::RawEnd {
            handle: server,
            io: raw::Io::Sync,
        };
        loop {
            // SAFETY: our synchronous server handle, no OVERLAPPED. Whatever it
            // reports (a client came, or came and left), greet and start over.
            unsafe { raw::ConnectNamedPipe(end.handle, std::ptr::null_mut()) };
            let _ = end.write(b"squatter");
            let _ = end.flush();
            let _ = end.disconnect();
        }
    }
}

/// A listener limited to one instance hands it out and its stream closes: the name has
/// no open instance of the listener's left. The name must not lapse for the listener's
/// whole life, so a process waiting to create it (with FILE_FLAG_FIRST_PIPE_INSTANCE,
/// as Windows allows once a name is free) never can, and the next client reaches the
/// listener, not the squatter.
#[cfg(windows)]
fn a_listener_whose_instances_all_closed_keeps_its_name() {
    use std::io::{Read, Write};
    use std::time::Duration;
    let name = common::pipe_name("a_listener_whose_instances_all_closed");
    let listener = winpipe::ListenerOptions::new()
        .backlog(1)
        .max_instances(1)
        .bind(&name)
        .unwrap();
    let mut squatter = peer::Peer::start("squat_when_free", &[&name]);
    squatter.wait_ready();
    for round in 0..3 {
        let server = {
            let listener = listener.clone();
            std::thread::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                stream.write_all(b"listener").unwrap();
                stream
            })
        };
        let mut client = winpipe::WinStream::connect_with_timeout(&name, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("round {round}: connect: {e}"));
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut greeting = [0; 8];
        client.read_exact(&mut greeting).unwrap();
        assert_eq!(
            &greeting,
            b"listener",
            "round {round}: the client reached {:?}",
            String::from_utf8_lossy(&greeting)
        );
        // Every instance of the listener's closes: the stream, then its client.
        drop(server.join().unwrap());
        drop(client);
        // Time for the squatter to see a free name.
        std::thread::sleep(Duration::from_millis(200));
    }
}
