//! Arguments for Win32 calls, built in safe code: C names and wait times.

use crate::engine::Code;
use crate::ffi::{DWORD, INFINITE};
use std::time::Duration;

/// The longest pipe name plus its NUL, with room to spare.
pub(super) const NAME_CAPACITY: usize = 260;
/// `ERROR_INVALID_NAME`, for a name the A functions cannot take.
pub(super) const ERROR_INVALID_NAME: Code = 123;

/// Milliseconds for a Win32 wait: rounded up (a sub-millisecond wait never becomes 0),
/// below INFINITE unless `None`.
pub(crate) fn wait_millis(timeout: Option<Duration>) -> DWORD {
    match timeout {
        None => INFINITE,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            ms.min(u128::from(INFINITE - 1)) as DWORD
        }
    }
}

/// A NUL-terminated copy of `name` for the A functions, on the stack.
pub(super) fn c_name(name: &str) -> Result<[u8; NAME_CAPACITY], Code> {
    let bytes = name.as_bytes();
    if bytes.len() >= NAME_CAPACITY || bytes.contains(&0) {
        return Err(ERROR_INVALID_NAME);
    }
    let mut buf = [0u8; NAME_CAPACITY];
    buf[..bytes.len()].copy_from_slice(bytes);
    Ok(buf)
}
