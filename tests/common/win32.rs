//! Pipe ends made directly with Kernel32, the way other programs make them: servers
//! and clients, synchronous or overlapped, byte or message type, any buffer size. The
//! interop tests talk to winpipe through these, so what they check is winpipe against
//! Windows' own calls, not winpipe against itself.
//!
//! Test code, not the crate: each `unsafe` block calls Kernel32 with values it owns.
#![allow(dead_code, clippy::upper_case_acronyms)]

use std::ffi::{c_void, CString};
use std::os::windows::io::{FromRawHandle, IntoRawHandle, OwnedHandle, RawHandle};
use std::ptr::null_mut;
use std::time::Duration;

pub type HANDLE = *mut c_void;

#[repr(C)]
pub struct OVERLAPPED {
    pub internal: usize,
    pub internal_high: usize,
    pub offset: u32,
    pub offset_high: u32,
    pub event: HANDLE,
}

pub const INVALID_HANDLE_VALUE: HANDLE = -1isize as HANDLE;
pub const PIPE_ACCESS_DUPLEX: u32 = 0x3;
pub const FILE_FLAG_OVERLAPPED: u32 = 0x4000_0000;
pub const PIPE_TYPE_MESSAGE: u32 = 0x4;
pub const PIPE_READMODE_MESSAGE: u32 = 0x2;
pub const GENERIC_READ: u32 = 0x8000_0000;
pub const GENERIC_WRITE: u32 = 0x4000_0000;
pub const OPEN_EXISTING: u32 = 3;
pub const ERROR_IO_PENDING: u32 = 997;
pub const ERROR_PIPE_CONNECTED: u32 = 535;
pub const ERROR_MORE_DATA: u32 = 234;
pub const WAIT_TIMEOUT: u32 = 0x102;
pub const DUPLICATE_SAME_ACCESS: u32 = 2;
pub const FILE_FLAG_FIRST_PIPE_INSTANCE: u32 = 0x0008_0000;
pub const ERROR_FILE_NOT_FOUND: u32 = 2;

#[link(name = "kernel32")]
extern "system" {
    pub fn CreateNamedPipeA(
        name: *const u8,
        open_mode: u32,
        pipe_mode: u32,
        max_instances: u32,
        out_buffer: u32,
        in_buffer: u32,
        default_timeout: u32,
        security: *mut c_void,
    ) -> HANDLE;
    pub fn CreateFileA(
        name: *const u8,
        access: u32,
        share: u32,
        security: *mut c_void,
        disposition: u32,
        flags: u32,
        template: HANDLE,
    ) -> HANDLE;
    pub fn ConnectNamedPipe(pipe: HANDLE, overlapped: *mut OVERLAPPED) -> i32;
    pub fn DisconnectNamedPipe(pipe: HANDLE) -> i32;
    pub fn WaitNamedPipeA(name: *const u8, timeout_ms: u32) -> i32;
    pub fn FlushFileBuffers(file: HANDLE) -> i32;
    pub fn ReadFile(
        file: HANDLE,
        buf: *mut c_void,
        len: u32,
        read: *mut u32,
        overlapped: *mut OVERLAPPED,
    ) -> i32;
    pub fn WriteFile(
        file: HANDLE,
        buf: *const c_void,
        len: u32,
        written: *mut u32,
        overlapped: *mut OVERLAPPED,
    ) -> i32;
    pub fn GetOverlappedResult(
        file: HANDLE,
        overlapped: *mut OVERLAPPED,
        bytes: *mut u32,
        wait: i32,
    ) -> i32;
    pub fn CreateEventA(
        security: *mut c_void,
        manual: i32,
        initial: i32,
        name: *const u8,
    ) -> HANDLE;
    pub fn CloseHandle(handle: HANDLE) -> i32;
    pub fn GetLastError() -> u32;
    pub fn CreateIoCompletionPort(
        file: HANDLE,
        existing: HANDLE,
        key: usize,
        threads: u32,
    ) -> HANDLE;
    pub fn GetQueuedCompletionStatus(
        port: HANDLE,
        bytes: *mut u32,
        key: *mut usize,
        overlapped: *mut *mut OVERLAPPED,
        millis: u32,
    ) -> i32;
    pub fn DuplicateHandle(
        source_process: HANDLE,
        source: HANDLE,
        target_process: HANDLE,
        target: *mut HANDLE,
        access: u32,
        inherit: i32,
        options: u32,
    ) -> i32;
    pub fn GetCurrentProcess() -> HANDLE;
    pub fn GetCurrentThread() -> HANDLE;
    pub fn GetHandleInformation(handle: HANDLE, flags: *mut u32) -> i32;
    pub fn GetModuleHandleA(name: *const u8) -> HANDLE;
    pub fn GetProcAddress(module: HANDLE, name: *const u8) -> *mut c_void;
    pub fn PeekNamedPipe(
        pipe: HANDLE,
        buf: *mut c_void,
        len: u32,
        read: *mut u32,
        available: *mut u32,
        left_in_message: *mut u32,
    ) -> i32;
}

/// Whether this runs under Wine (its ntdll exports `wine_get_version`): where a test
/// must accept Wine's behaviour as well as Windows'.
pub fn under_wine() -> bool {
    // SAFETY: NUL-terminated names; the results are only compared with null.
    unsafe {
        let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr().cast());
        !ntdll.is_null() && !GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()).is_null()
    }
}

pub fn last_error() -> u32 {
    // SAFETY: no preconditions.
    unsafe { GetLastError() }
}

/// How a raw end does its I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Io {
    /// Handle opened without FILE_FLAG_OVERLAPPED, calls with no OVERLAPPED.
    Sync,
    /// FILE_FLAG_OVERLAPPED, each call with its own OVERLAPPED and event, awaited.
    Overlapped,
}

/// The shape of a raw server's pipe.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub io: Io,
    pub message: bool,
    /// Both buffer sizes given to CreateNamedPipeA.
    pub buffer: u32,
}

/// One end of a pipe made with Kernel32, closed on drop.
pub struct RawEnd {
    pub handle: HANDLE,
    pub io: Io,
}

// SAFETY: a kernel handle may be used from any thread.
unsafe impl Send for RawEnd {}

impl RawEnd {
    /// `CreateNamedPipeA(name, …)` with `shape`, one instance allowed more.
    pub fn server(name: &str, shape: Shape) -> RawEnd {
        let mode = if shape.message {
            PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE
        } else {
            0
        };
        RawEnd::server_with_mode(name, shape, mode)
    }

    /// A message-type server that reads in byte mode, as go-winio makes them with
    /// `MessageMode` (Docker's engine pipe): its `CloseWrite` is a zero-length write,
    /// and a read of 0 bytes is its end of stream.
    pub fn go_winio_server(name: &str, buffer: u32) -> RawEnd {
        let shape = Shape {
            io: Io::Overlapped,
            message: true,
            buffer,
        };
        RawEnd::server_with_mode(name, shape, PIPE_TYPE_MESSAGE)
    }

    fn server_with_mode(name: &str, shape: Shape, mode: u32) -> RawEnd {
        let c = CString::new(name).unwrap();
        let open = PIPE_ACCESS_DUPLEX
            | match shape.io {
                Io::Sync => 0,
                Io::Overlapped => FILE_FLAG_OVERLAPPED,
            };
        // SAFETY: NUL-terminated name, default security, plain values.
        let handle = unsafe {
            CreateNamedPipeA(
                c.as_ptr().cast(),
                open,
                mode,
                255,
                shape.buffer,
                shape.buffer,
                0,
                null_mut(),
            )
        };
        assert!(
            handle != INVALID_HANDLE_VALUE,
            "CreateNamedPipeA: {}",
            last_error()
        );
        RawEnd {
            handle,
            io: shape.io,
        }
    }

    /// `CreateFileA(name)` for reading and writing, synchronous or overlapped.
    pub fn client(name: &str, io: Io) -> Result<RawEnd, u32> {
        let c = CString::new(name).unwrap();
        let flags = match io {
            Io::Sync => 0,
            Io::Overlapped => FILE_FLAG_OVERLAPPED,
        };
        // SAFETY: NUL-terminated name, no security attributes, no template.
        let handle = unsafe {
            CreateFileA(
                c.as_ptr().cast(),
                GENERIC_READ | GENERIC_WRITE,
                0,
                null_mut(),
                OPEN_EXISTING,
                flags,
                null_mut(),
            )
        };
        if handle == INVALID_HANDLE_VALUE {
            return Err(last_error());
        }
        Ok(RawEnd { handle, io })
    }

    /// Runs one call the way this end does I/O; returns the byte count or the error.
    /// For an overlapped end the call gets a fresh OVERLAPPED and event and is awaited.
    fn call(&self, f: impl FnOnce(*mut u32, *mut OVERLAPPED) -> i32) -> Result<usize, u32> {
        match self.io {
            Io::Sync => {
                let mut n = 0u32;
                // A message longer than the buffer: the bytes that fit were read.
                if f(&mut n, null_mut()) == 0 && last_error() != ERROR_MORE_DATA {
                    return Err(last_error());
                }
                Ok(n as usize)
            }
            Io::Overlapped => {
                // SAFETY: a manual-reset event with default security and no name.
                let event = unsafe { CreateEventA(null_mut(), 1, 0, std::ptr::null()) };
                assert!(!event.is_null());
                let mut ov = OVERLAPPED {
                    internal: 0,
                    internal_high: 0,
                    offset: 0,
                    offset_high: 0,
                    event,
                };
                let ok = f(null_mut(), &mut ov);
                let err = if ok == 0 { last_error() } else { 0 };
                let mut n = 0u32;
                let result = if ok == 0 && err != ERROR_IO_PENDING && err != ERROR_MORE_DATA {
                    Err(err)
                } else {
                    // SAFETY: the OVERLAPPED is ours and alive until the wait returns.
                    let done = unsafe { GetOverlappedResult(self.handle, &mut ov, &mut n, 1) };
                    if done == 0 && last_error() != ERROR_MORE_DATA {
                        Err(last_error())
                    } else {
                        Ok(n as usize)
                    }
                };
                // SAFETY: the event is ours; the operation has completed.
                unsafe { CloseHandle(event) };
                result
            }
        }
    }

    /// `ConnectNamedPipe`, waiting for a client; a client already there is success.
    pub fn accept(&self) {
        let handle = self.handle;
        // SAFETY: our handle; the OVERLAPPED (if any) lives through `call`.
        let result = self.call(|_, ov| unsafe { ConnectNamedPipe(handle, ov) });
        match result {
            Ok(_) | Err(ERROR_PIPE_CONNECTED) => {}
            Err(e) => panic!("ConnectNamedPipe: {e}"),
        }
    }

    pub fn read(&self, buf: &mut [u8]) -> Result<usize, u32> {
        let handle = self.handle;
        let len = buf.len() as u32;
        let ptr = buf.as_mut_ptr().cast();
        // SAFETY: `buf` is valid for `len` bytes for the whole call (awaited in `call`).
        self.call(|n, ov| unsafe { ReadFile(handle, ptr, len, n, ov) })
    }

    pub fn write(&self, buf: &[u8]) -> Result<usize, u32> {
        let handle = self.handle;
        let len = buf.len() as u32;
        let ptr = buf.as_ptr().cast();
        // SAFETY: `buf` is valid for `len` bytes for the whole call (awaited in `call`).
        self.call(|n, ov| unsafe { WriteFile(handle, ptr, len, n, ov) })
    }

    /// Bytes waiting to be read (`PeekNamedPipe`'s total).
    pub fn available(&self) -> Result<usize, u32> {
        let mut total = 0u32;
        // SAFETY: our handle; no buffer, only the total is asked.
        let ok = unsafe {
            PeekNamedPipe(
                self.handle,
                null_mut(),
                0,
                null_mut(),
                &mut total,
                null_mut(),
            )
        };
        if ok == 0 {
            return Err(last_error());
        }
        Ok(total as usize)
    }

    /// `FlushFileBuffers`: waits until the peer has read everything written.
    pub fn flush(&self) -> Result<(), u32> {
        // SAFETY: our open handle.
        if unsafe { FlushFileBuffers(self.handle) } == 0 {
            return Err(last_error());
        }
        Ok(())
    }

    /// `DisconnectNamedPipe`: ends the client's connection to this instance.
    pub fn disconnect(&self) -> Result<(), u32> {
        // SAFETY: our open handle.
        if unsafe { DisconnectNamedPipe(self.handle) } == 0 {
            return Err(last_error());
        }
        Ok(())
    }

    pub fn into_owned(self) -> OwnedHandle {
        let raw = self.handle;
        std::mem::forget(self);
        // SAFETY: we owned the handle and give it up.
        unsafe { OwnedHandle::from_raw_handle(raw as RawHandle) }
    }
}

impl Drop for RawEnd {
    fn drop(&mut self) {
        // SAFETY: our handle, closed once.
        unsafe { CloseHandle(self.handle) };
    }
}

/// A second handle to the same file object (`DuplicateHandle`, same access).
pub fn duplicate(handle: RawHandle) -> OwnedHandle {
    let mut out: HANDLE = null_mut();
    // SAFETY: the current-process pseudo handle on both sides, an open source handle.
    let ok = unsafe {
        let me = GetCurrentProcess();
        DuplicateHandle(
            me,
            handle as HANDLE,
            me,
            &mut out,
            0,
            0,
            DUPLICATE_SAME_ACCESS,
        )
    };
    assert_ne!(ok, 0, "DuplicateHandle: {}", last_error());
    // SAFETY: a new handle we own.
    unsafe { OwnedHandle::from_raw_handle(out as RawHandle) }
}

/// Whether `handle` is an open handle of this process.
pub fn is_open(handle: RawHandle) -> bool {
    let mut flags = 0;
    // SAFETY: GetHandleInformation only reads the handle table.
    unsafe { GetHandleInformation(handle as HANDLE, &mut flags) != 0 }
}

/// Open handles of this process, found by asking about every handle value up to a
/// bound (Wine 8's GetProcessHandleCount is a stub that reports 0).
pub fn open_handles() -> usize {
    (1..=20_000usize)
        .filter(|i| is_open((i * 4) as RawHandle))
        .count()
}

#[link(name = "advapi32")]
extern "system" {
    fn OpenThreadToken(thread: HANDLE, access: u32, as_self: i32, token: *mut HANDLE) -> i32;
}

/// Whether the calling thread impersonates anyone (has a thread token).
pub fn thread_impersonates() -> bool {
    const TOKEN_QUERY: u32 = 8;
    const ERROR_NO_TOKEN: u32 = 1008;
    let mut token = null_mut();
    // SAFETY: this thread's pseudo handle, TOKEN_QUERY and an out-pointer; a token
    // opened is closed at once.
    unsafe {
        if OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, 1, &mut token) != 0 {
            CloseHandle(token);
            return true;
        }
    }
    assert_eq!(
        last_error(),
        ERROR_NO_TOKEN,
        "OpenThreadToken failed otherwise"
    );
    false
}

/// A completion port with `file` associated to it (key 7).
pub struct Port(HANDLE);

impl Port {
    pub fn on(file: &OwnedHandle) -> Port {
        use std::os::windows::io::AsRawHandle;
        let raw = file.as_raw_handle() as HANDLE;
        // SAFETY: a new port for an open file handle.
        let port = unsafe { CreateIoCompletionPort(raw, null_mut(), 7, 0) };
        assert!(!port.is_null(), "CreateIoCompletionPort: {}", last_error());
        Port(port)
    }

    /// Takes every packet queued now, without waiting: (bytes, key, OVERLAPPED).
    pub fn drain(&self) -> Vec<(u32, usize, usize)> {
        let mut packets = Vec::new();
        loop {
            let (mut bytes, mut key, mut ov) = (0u32, 0usize, null_mut());
            // SAFETY: out-pointers are ours; a zero wait only looks at the queue.
            let ok = unsafe { GetQueuedCompletionStatus(self.0, &mut bytes, &mut key, &mut ov, 0) };
            if ok == 0 && ov.is_null() {
                return packets; // WAIT_TIMEOUT: the queue is empty
            }
            packets.push((bytes, key, ov as usize));
        }
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: our port handle.
        unsafe { CloseHandle(self.0) };
    }
}

/// Gives up the handle as a raw value (for `from_raw_handle` tests).
pub fn into_raw(owned: OwnedHandle) -> RawHandle {
    owned.into_raw_handle()
}

/// A pause long enough for another thread to block in a call.
pub const SETTLE: Duration = Duration::from_millis(100);
