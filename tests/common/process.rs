//! A small test harness for tests that need a second process.
//!
//! A test file using it sets `harness = false` in Cargo.toml and calls [`main`] with its
//! tests and its child roles. The same executable then serves as the child: [`child`]
//! starts it again with `--role NAME ARGS…`, and `main` runs that role instead of the
//! tests. (libtest's own output would mix with a child's stdout, which some tests hand
//! over to a pipe, so these files do without it.)

use std::process::Command;
use std::time::Instant;

/// A test: its name and body. A panic fails it; it also fails if it runs past
/// [`super::LIMIT`] × 3.
pub type Test = (&'static str, fn());

/// A child role: its name and body, given the arguments after `--role NAME`.
pub type Role = (&'static str, fn(&[String]));

/// Runs the role named on the command line, or else every test whose name contains each
/// non-flag argument (as libtest filters), and exits with the result.
pub fn main(tests: &[Test], roles: &[Role]) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--role") {
        let name = args.get(1).expect("--role needs a name");
        let (_, role) = roles
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no child role {name}"));
        role(&args[2..]);
        std::process::exit(0);
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let chosen: Vec<&Test> = tests
        .iter()
        .filter(|(name, _)| filters.iter().all(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", chosen.len());
    let mut failed = Vec::new();
    for (name, test) in chosen {
        let start = Instant::now();
        let test = *test;
        let outcome = std::panic::catch_unwind(|| super::within(super::LIMIT * 3, test));
        let verdict = if outcome.is_ok() { "ok" } else { "FAILED" };
        println!("test {name} ... {verdict} ({:.2?})", start.elapsed());
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    if failed.is_empty() {
        println!("\ntest result: ok\n");
    } else {
        println!("\nfailures: {failed:?}\ntest result: FAILED\n");
        std::process::exit(101);
    }
}

/// A command that starts this executable again as the child role `role` with `args`.
pub fn child(role: &str, args: &[&str]) -> Command {
    let exe = std::env::current_exe().expect("the test executable's path");
    let mut command = Command::new(exe);
    command.arg("--role").arg(role).args(args);
    command
}
