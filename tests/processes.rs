//! Tests across two processes: the test executable starts itself again as a child
//! (see `common::process`).
#![cfg_attr(not(windows), allow(dead_code))]

mod common;

#[cfg(not(windows))]
fn main() {}

#[cfg(windows)]
fn main() {
    common::process::main(
        &[("harness_child_runs_its_role", harness_child_runs_its_role)],
        &[("print_pid", print_pid)],
    );
}

#[cfg(windows)]
fn print_pid(_: &[String]) {
    println!("{}", std::process::id());
}

/// The harness itself: a child started with a role runs that role, not the tests.
#[cfg(windows)]
fn harness_child_runs_its_role() {
    let child = common::process::child("print_pid", &[]).output().unwrap();
    assert!(child.status.success());
    let out = String::from_utf8(child.stdout).unwrap();
    let pid: u32 = out
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("child printed {out:?}"));
    assert_ne!(pid, std::process::id());
}
