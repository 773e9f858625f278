//! Connecting, talking and closing leaves no handle or thread behind.
#![cfg(windows)]

mod common;

use std::io::{Read, Write};
use winpipe::{WinListener, WinStream};

#[link(name = "kernel32")]
extern "system" {
    fn GetHandleInformation(handle: *mut std::ffi::c_void, flags: *mut u32) -> i32;
}

/// Open handles in this process, counted by asking about every possible handle value up
/// to a bound. (Wine 8's GetProcessHandleCount always reports 0, so it cannot be used.)
fn handle_count() -> usize {
    (1..=20_000usize)
        .filter(|i| {
            let mut flags = 0;
            // SAFETY: GetHandleInformation only looks the value up in the handle table.
            unsafe { GetHandleInformation((i * 4) as *mut std::ffi::c_void, &mut flags) != 0 }
        })
        .count()
}

/// One full connection: connect, accept, one exchange each way (including a read that
/// times out, a clone and a peek, so every kind of event is made), then close.
fn cycle(listener: &WinListener, name: &str) {
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
}

#[test]
fn connection_cycles_leak_no_handles() {
    common::within(common::LIMIT * 3, || {
        let name = common::pipe_name("connection_cycles_leak_no_handles");
        let listener = WinListener::bind(&name).unwrap();
        // Warm up: let the runtime and Wine make what they make once.
        for _ in 0..20 {
            cycle(&listener, &name);
        }
        let before = handle_count();
        for _ in 0..500 {
            cycle(&listener, &name);
        }
        let after = handle_count();
        // A little slack for handles the runtime creates lazily; a leak of one handle
        // per cycle would show as 500 or more.
        assert!(
            after <= before + 5,
            "handles before {before}, after {after}"
        );
        drop(listener);
        let pairs_before = handle_count();
        for _ in 0..200 {
            let (a, b) = WinStream::pair().unwrap();
            drop((a, b));
        }
        assert!(handle_count() <= pairs_before + 5);
    });
}
