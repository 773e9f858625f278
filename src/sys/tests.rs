//! Unit tests of `sys`'s pure parts: flags, waits, names.

use super::*;

/// Remote clients cannot be tested here (no second machine, and Wine does not
/// enforce the flag), so the flags themselves are checked.
#[test]
fn server_instances_reject_remote_clients_unless_asked() {
    let (open_mode, pipe_mode) = create_flags(true, true);
    assert_ne!(pipe_mode & PIPE_REJECT_REMOTE_CLIENTS, 0);
    assert_ne!(open_mode & FILE_FLAG_FIRST_PIPE_INSTANCE, 0);
    assert_ne!(open_mode & FILE_FLAG_OVERLAPPED, 0);
    let (open_mode, pipe_mode) = create_flags(false, false);
    assert_eq!(pipe_mode & PIPE_REJECT_REMOTE_CLIENTS, 0);
    assert_eq!(open_mode & FILE_FLAG_FIRST_PIPE_INSTANCE, 0);
    assert_eq!(
        pipe_mode,
        PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT
    );
}

#[test]
fn clients_grant_the_impersonation_level_asked() {
    for level in [
        SECURITY_ANONYMOUS,
        SECURITY_IDENTIFICATION,
        SECURITY_IMPERSONATION,
        SECURITY_DELEGATION,
    ] {
        let flags = client_flags(level);
        assert_ne!(flags & SECURITY_SQOS_PRESENT, 0);
        assert_eq!(flags & 0x0003_0000, level);
        assert_ne!(flags & FILE_FLAG_OVERLAPPED, 0);
    }
}

#[test]
fn waits_round_up_and_stay_below_infinite() {
    assert_eq!(wait_millis(None), INFINITE);
    assert_eq!(wait_millis(Some(Duration::from_nanos(1))), 1);
    assert_eq!(wait_millis(Some(Duration::from_micros(1500))), 2);
    assert_eq!(wait_millis(Some(Duration::from_millis(7))), 7);
    assert_eq!(wait_millis(Some(Duration::MAX)), INFINITE - 1);
}

#[test]
fn names_the_ansi_calls_cannot_take_are_refused() {
    assert_eq!(c_name("a\u{0}b").err(), Some(ERROR_INVALID_NAME));
    assert_eq!(
        c_name(&"x".repeat(NAME_CAPACITY)).err(),
        Some(ERROR_INVALID_NAME)
    );
    let c = c_name("abc").unwrap();
    assert_eq!(&c[..4], b"abc\0");
}
