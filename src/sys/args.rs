//! Arguments for Win32 calls, built in safe code: C names, wait times, the flags
//! instances and clients are opened with.

use crate::engine::Code;
use crate::ffi::*;
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

/// Pipe mode and access for every server instance: message type, so that it can carry
/// the zero-length message that ends a stream, read in message mode (so that a read
/// sees that message: in byte mode it may be skipped), blocking mode (the overlapped
/// flag gives asynchrony), remote clients rejected unless asked.
pub(super) fn create_flags(first: bool, reject_remote: bool) -> (DWORD, DWORD) {
    let mut open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
    if first {
        open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
    }
    let mut pipe_mode = PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT;
    if reject_remote {
        pipe_mode |= PIPE_REJECT_REMOTE_CLIENTS;
    }
    (open_mode, pipe_mode)
}

/// Client open flags: overlapped, and the quality of service the client grants the
/// server: `level` is one of the `SECURITY_*` impersonation levels.
pub(super) fn client_flags(level: DWORD) -> DWORD {
    FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | level
}

/// What a client asks for: read, and write data and attributes, but not
/// `FILE_GENERIC_WRITE`, whose `FILE_APPEND_DATA` is also `FILE_CREATE_PIPE_INSTANCE`:
/// a pipe's descriptor can then let clients in without letting them serve the name.
pub(crate) const CLIENT_ACCESS: DWORD = FILE_GENERIC_READ | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES;
