//! The raw baseline: the simplest correct Kernel32 code for each protocol, on
//! synchronous handles (the practical limit winpipe is measured against).
//!
//! The only unsafe code of the benchmark is here, each block with its `SAFETY` note.
//! Every Kernel32 call made by the baseline bumps [`CALLS`], the baseline's syscall
//! counter.
#![allow(clippy::upper_case_acronyms)]

use std::cell::Cell;
use std::ffi::c_void;
use std::io::{self, IoSlice, Read, Write};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

type HANDLE = *mut c_void;
type BOOL = i32;
type DWORD = u32;

const GENERIC_READ: DWORD = 0x8000_0000;
const GENERIC_WRITE: DWORD = 0x4000_0000;
const OPEN_EXISTING: DWORD = 3;
const FILE_FLAG_OVERLAPPED: DWORD = 0x4000_0000;
const FILE_FLAG_FIRST_PIPE_INSTANCE: DWORD = 0x0008_0000;
const PIPE_ACCESS_DUPLEX: DWORD = 3;
const PIPE_TYPE_MESSAGE: DWORD = 4;
const PIPE_READMODE_MESSAGE: DWORD = 2;
const ERROR_MORE_DATA: DWORD = 234;
const PIPE_REJECT_REMOTE_CLIENTS: DWORD = 8;
const PIPE_UNLIMITED_INSTANCES: DWORD = 255;
const SECURITY_SQOS_PRESENT: DWORD = 0x0010_0000;
const SECURITY_IDENTIFICATION: DWORD = 0x0001_0000;
const WAIT_TIMEOUT: DWORD = 0x102;
const ERROR_FILE_NOT_FOUND: DWORD = 2;
const ERROR_BROKEN_PIPE: DWORD = 109;
const ERROR_PIPE_BUSY: DWORD = 231;
const ERROR_NO_DATA: DWORD = 232;
const ERROR_PIPE_CONNECTED: DWORD = 535;
const ERROR_IO_PENDING: DWORD = 997;
const INVALID_HANDLE_VALUE: HANDLE = -1isize as HANDLE;

/// Pipe buffer size each way, as winpipe's.
const BUFFER: DWORD = 64 * 1024;

#[repr(C)]
struct OVERLAPPED {
    internal: usize,
    internal_high: usize,
    offset: DWORD,
    offset_high: DWORD,
    event: HANDLE,
}

/// `PROCESS_MEMORY_COUNTERS` (psapi.h).
#[repr(C)]
#[derive(Default)]
struct ProcessMemoryCounters {
    cb: DWORD,
    page_fault_count: DWORD,
    peak_working_set_size: usize,
    working_set_size: usize,
    quota_peak_paged_pool_usage: usize,
    quota_paged_pool_usage: usize,
    quota_peak_non_paged_pool_usage: usize,
    quota_non_paged_pool_usage: usize,
    pagefile_usage: usize,
    peak_pagefile_usage: usize,
}

#[link(name = "kernel32")]
extern "system" {
    fn CreateNamedPipeA(
        name: *const u8,
        open_mode: DWORD,
        pipe_mode: DWORD,
        max_instances: DWORD,
        out_size: DWORD,
        in_size: DWORD,
        default_timeout: DWORD,
        security: *mut c_void,
    ) -> HANDLE;
    fn ConnectNamedPipe(pipe: HANDLE, ov: *mut OVERLAPPED) -> BOOL;
    fn CreateFileA(
        name: *const u8,
        access: DWORD,
        share: DWORD,
        security: *mut c_void,
        disposition: DWORD,
        flags: DWORD,
        template: HANDLE,
    ) -> HANDLE;
    fn WaitNamedPipeA(name: *const u8, timeout: DWORD) -> BOOL;
    fn ReadFile(
        h: HANDLE,
        buf: *mut c_void,
        len: DWORD,
        read: *mut DWORD,
        ov: *mut OVERLAPPED,
    ) -> BOOL;
    fn WriteFile(
        h: HANDLE,
        buf: *const c_void,
        len: DWORD,
        written: *mut DWORD,
        ov: *mut OVERLAPPED,
    ) -> BOOL;
    fn GetOverlappedResult(h: HANDLE, ov: *mut OVERLAPPED, bytes: *mut DWORD, wait: BOOL) -> BOOL;
    fn CancelIoEx(h: HANDLE, ov: *mut OVERLAPPED) -> BOOL;
    fn CreateEventA(security: *mut c_void, manual: BOOL, initial: BOOL, name: *const u8) -> HANDLE;
    fn WaitForSingleObject(h: HANDLE, ms: DWORD) -> DWORD;
    fn CloseHandle(h: HANDLE) -> BOOL;
    fn GetLastError() -> DWORD;
    fn SetNamedPipeHandleState(
        h: HANDLE,
        mode: *mut DWORD,
        max_collection: *mut DWORD,
        timeout: *mut DWORD,
    ) -> BOOL;
    fn GetCurrentProcess() -> HANDLE;
    fn GetHandleInformation(h: HANDLE, flags: *mut DWORD) -> BOOL;
    fn GetModuleHandleA(name: *const u8) -> HANDLE;
    fn GetProcAddress(module: HANDLE, name: *const u8) -> *const c_void;
    fn K32GetProcessMemoryInfo(
        process: HANDLE,
        counters: *mut ProcessMemoryCounters,
        cb: DWORD,
    ) -> BOOL;
}

/// Kernel32 calls made by the baseline so far, and WriteFile calls among them: on all
/// threads, and on this thread.
static CALLS: AtomicUsize = AtomicUsize::new(0);
static WRITE_FILES: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static CALLS_HERE: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

fn counted() {
    CALLS.fetch_add(1, Ordering::Relaxed);
    CALLS_HERE.with(|c| c.set((c.get().0 + 1, c.get().1)));
}

fn counted_write() {
    WRITE_FILES.fetch_add(1, Ordering::Relaxed);
    CALLS_HERE.with(|c| c.set((c.get().0, c.get().1 + 1)));
}

/// (Kernel32 calls, WriteFile calls) made so far by the baseline, on every thread or
/// on the calling thread only.
pub fn calls(all_threads: bool) -> (usize, usize) {
    if all_threads {
        (
            CALLS.load(Ordering::Relaxed),
            WRITE_FILES.load(Ordering::Relaxed),
        )
    } else {
        CALLS_HERE.with(Cell::get)
    }
}

fn last_error() -> DWORD {
    // SAFETY: no preconditions.
    unsafe { GetLastError() }
}

fn os_error(code: DWORD) -> io::Error {
    io::Error::from_raw_os_error(code as i32)
}

fn c_name(name: &str) -> Vec<u8> {
    let mut c = name.as_bytes().to_vec();
    c.push(0);
    c
}

/// An owned handle, closed on drop.
struct Owned(HANDLE);

// SAFETY: kernel handles may be used from any thread.
unsafe impl Send for Owned {}

impl Owned {
    fn new(raw: HANDLE) -> io::Result<Owned> {
        if raw.is_null() || raw == INVALID_HANDLE_VALUE {
            Err(os_error(last_error()))
        } else {
            Ok(Owned(raw))
        }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        counted();
        // SAFETY: we own the handle and nothing uses it after this.
        unsafe { CloseHandle(self.0) };
    }
}

/// One end of a pipe on a synchronous handle: ReadFile/WriteFile block in the kernel.
pub struct RawStream {
    handle: Owned,
    /// Where a vectored write gathers its slices, allocated once.
    scratch: Vec<u8>,
}

impl RawStream {
    fn new(handle: Owned) -> RawStream {
        RawStream {
            handle,
            scratch: Vec::new(),
        }
    }
}

impl Read for RawStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n: DWORD = 0;
        let len = buf.len().min(u32::MAX as usize) as DWORD;
        counted();
        // SAFETY: the buffer is valid for `len` bytes; synchronous handle, no OVERLAPPED.
        let ok = unsafe {
            ReadFile(
                self.handle.0,
                buf.as_mut_ptr().cast(),
                len,
                &mut n,
                null_mut(),
            )
        };
        match ok {
            0 if last_error() == ERROR_BROKEN_PIPE => Ok(0),
            0 => Err(os_error(last_error())),
            _ => Ok(n as usize),
        }
    }
}

impl Write for RawStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut n: DWORD = 0;
        let len = buf.len().min(BUFFER as usize) as DWORD;
        counted();
        counted_write();
        // SAFETY: the buffer is valid for `len` bytes; synchronous handle, no OVERLAPPED.
        let ok = unsafe { WriteFile(self.handle.0, buf.as_ptr().cast(), len, &mut n, null_mut()) };
        if ok == 0 {
            return Err(os_error(last_error()));
        }
        Ok(n as usize)
    }

    /// Gathers the slices and writes them with one WriteFile.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        for buf in bufs {
            scratch.extend_from_slice(buf);
        }
        let result = self.write(&scratch);
        self.scratch = scratch;
        result
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn create_instance(name: &[u8], first: bool) -> io::Result<Owned> {
    create_sized(name, first, BUFFER)
}

/// A synchronous server instance with buffers of `buffer` bytes each way.
fn create_sized(name: &[u8], first: bool, buffer: DWORD) -> io::Result<Owned> {
    create_typed(name, first, buffer, 0)
}

/// A synchronous server instance with `pipe_type` (byte or message, and read mode).
fn create_typed(name: &[u8], first: bool, buffer: DWORD, pipe_type: DWORD) -> io::Result<Owned> {
    let mut open_mode = PIPE_ACCESS_DUPLEX;
    if first {
        open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
    }
    counted();
    // SAFETY: `name` is NUL-terminated; default security; plain values otherwise.
    let raw = unsafe {
        CreateNamedPipeA(
            name.as_ptr(),
            open_mode,
            PIPE_REJECT_REMOTE_CLIENTS | pipe_type,
            PIPE_UNLIMITED_INSTANCES,
            buffer,
            buffer,
            0,
            null_mut(),
        )
    };
    Owned::new(raw)
}

fn open_client(name: &[u8], extra_flags: DWORD) -> Result<Owned, DWORD> {
    counted();
    // SAFETY: `name` is NUL-terminated; no security attributes, no template.
    let raw = unsafe {
        CreateFileA(
            name.as_ptr(),
            GENERIC_READ | GENERIC_WRITE,
            0,
            null_mut(),
            OPEN_EXISTING,
            SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION | extra_flags,
            null_mut(),
        )
    };
    Owned::new(raw).map_err(|e| e.raw_os_error().unwrap_or(0) as DWORD)
}

/// Waits for a client on a synchronous server instance. ERROR_PIPE_CONNECTED and
/// ERROR_NO_DATA (the client came, and maybe already left) both mean connected.
fn wait_for_client(server: &Owned) -> io::Result<()> {
    counted();
    // SAFETY: synchronous handle: no OVERLAPPED.
    let ok = unsafe { ConnectNamedPipe(server.0, null_mut()) };
    match (ok, last_error()) {
        (0, ERROR_PIPE_CONNECTED | ERROR_NO_DATA) => Ok(()),
        (0, code) => Err(os_error(code)),
        _ => Ok(()),
    }
}

/// A connected pair on synchronous handles: (client, server).
pub fn pair(name: &str) -> io::Result<(RawStream, RawStream)> {
    let (client, server) = pair_handles(name, 0)?;
    Ok((RawStream::new(client), RawStream::new(server)))
}

fn pair_handles(name: &str, client_flags: DWORD) -> io::Result<(Owned, Owned)> {
    let c = c_name(name);
    let server = create_instance(&c, true)?;
    let client = open_client(&c, client_flags).map_err(os_error)?;
    wait_for_client(&server)?;
    Ok((client, server))
}

/// One end of a message-type pipe in message read mode, on a synchronous handle.
pub struct RawMessages(Owned);

/// A connected message-type pair on synchronous handles, both ends in message read
/// mode: (client, server).
pub fn message_pair(name: &str) -> io::Result<(RawMessages, RawMessages)> {
    let c = c_name(name);
    let server = create_typed(&c, true, BUFFER, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE)?;
    let client = open_client(&c, 0).map_err(os_error)?;
    let mut mode = PIPE_READMODE_MESSAGE;
    counted();
    // SAFETY: our handle and mode; NULL leaves the collection settings alone.
    if unsafe { SetNamedPipeHandleState(client.0, &mut mode, null_mut(), null_mut()) } == 0 {
        return Err(os_error(last_error()));
    }
    wait_for_client(&server)?;
    Ok((RawMessages(client), RawMessages(server)))
}

impl RawMessages {
    /// One WriteFile of the whole message.
    pub fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        let mut n: DWORD = 0;
        counted();
        counted_write();
        // SAFETY: the buffer is valid for its length; synchronous handle.
        let ok = unsafe {
            WriteFile(
                self.0 .0,
                msg.as_ptr().cast(),
                msg.len() as DWORD,
                &mut n,
                null_mut(),
            )
        };
        match ok {
            0 => Err(os_error(last_error())),
            _ => Ok(()),
        }
    }

    /// Replaces `buf` with the next message, reading on while ReadFile says
    /// ERROR_MORE_DATA; `false` at the end of the stream.
    pub fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        buf.clear();
        loop {
            let start = buf.len();
            buf.resize(start + 64 * 1024, 0);
            let mut n: DWORD = 0;
            let len = (buf.len() - start) as DWORD;
            counted();
            // SAFETY: the buffer is valid for `len` bytes from `start`; synchronous handle.
            let ok = unsafe {
                ReadFile(
                    self.0 .0,
                    buf[start..].as_mut_ptr().cast(),
                    len,
                    &mut n,
                    null_mut(),
                )
            };
            let err = if ok == 0 { last_error() } else { 0 };
            buf.truncate(start + n as usize);
            match (ok, err) {
                (0, ERROR_MORE_DATA) => continue,
                (0, ERROR_BROKEN_PIPE) => return Ok(false),
                (0, code) => return Err(os_error(code)),
                _ => return Ok(true),
            }
        }
    }
}

/// A server instance with buffers of 0, as .NET's `NamedPipeServerStream` makes by
/// default: every write to it waits until the reader has read all of it.
pub struct ZeroServer(Owned);

impl ZeroServer {
    pub fn create(name: &str) -> io::Result<ZeroServer> {
        Ok(ZeroServer(create_sized(&c_name(name), true, 0)?))
    }

    /// Waits for the client (already connected, normally) and gives the server end.
    pub fn accept(self) -> io::Result<RawStream> {
        wait_for_client(&self.0)?;
        Ok(RawStream::new(self.0))
    }
}

/// A server with winpipe's listening strategy: one instance always waiting, the next
/// created right after each client connects.
pub struct RawListener {
    name: Vec<u8>,
    waiting: Owned,
}

impl RawListener {
    pub fn bind(name: &str) -> io::Result<RawListener> {
        let name = c_name(name);
        let waiting = create_instance(&name, true)?;
        Ok(RawListener { name, waiting })
    }

    pub fn accept(&mut self) -> io::Result<RawStream> {
        wait_for_client(&self.waiting)?;
        let next = create_instance(&self.name, false)?;
        Ok(RawStream::new(std::mem::replace(&mut self.waiting, next)))
    }
}

/// Opens `name`, waiting for a free instance while all are busy, until `timeout`.
pub fn connect(name: &str, timeout: Duration) -> io::Result<RawStream> {
    let c = c_name(name);
    let start = Instant::now();
    loop {
        let code = match open_client(&c, 0) {
            Ok(handle) => return Ok(RawStream::new(handle)),
            Err(code) => code,
        };
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() || !matches!(code, ERROR_PIPE_BUSY | ERROR_FILE_NOT_FOUND) {
            return Err(os_error(code));
        }
        if code == ERROR_FILE_NOT_FOUND {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let ms = (left.as_millis() as DWORD).max(1);
        counted();
        // SAFETY: `c` is NUL-terminated. The result does not matter: CreateFile tells.
        unsafe { WaitNamedPipeA(c.as_ptr(), ms) };
    }
}

/// A client end opened for overlapped I/O, with its event: the simplest code that can
/// time a read out (synchronous pipe reads cannot).
pub struct TimedReader {
    handle: Owned,
    event: Owned,
}

/// A pair for the read-timeout row: (overlapped client, synchronous server).
pub fn timed_pair(name: &str) -> io::Result<(TimedReader, RawStream)> {
    let (client, server) = pair_handles(name, FILE_FLAG_OVERLAPPED)?;
    counted();
    // SAFETY: no security attributes and no name.
    let event = Owned::new(unsafe { CreateEventA(null_mut(), 1, 0, null()) })?;
    Ok((
        TimedReader {
            handle: client,
            event,
        },
        RawStream::new(server),
    ))
}

impl TimedReader {
    /// One read that gives up after `ms`: ReadFile, WaitForSingleObject, and on timeout
    /// CancelIoEx and a waiting GetOverlappedResult. `TimedOut` if nothing came.
    pub fn read(&mut self, buf: &mut [u8], ms: DWORD) -> io::Result<usize> {
        let mut ov = OVERLAPPED {
            internal: 0,
            internal_high: 0,
            offset: 0,
            offset_high: 0,
            event: self.event.0,
        };
        let len = buf.len().min(u32::MAX as usize) as DWORD;
        let h = self.handle.0;
        counted();
        // SAFETY: buffer and OVERLAPPED outlive the operation: this function settles it
        // with a waiting GetOverlappedResult before returning.
        let ok = unsafe { ReadFile(h, buf.as_mut_ptr().cast(), len, null_mut(), &mut ov) };
        if ok == 0 && last_error() != ERROR_IO_PENDING {
            return Err(os_error(last_error()));
        }
        counted();
        // SAFETY: our event handle, open.
        if unsafe { WaitForSingleObject(self.event.0, ms) } == WAIT_TIMEOUT {
            counted();
            // SAFETY: cancels exactly this operation; handle and OVERLAPPED alive.
            unsafe { CancelIoEx(h, &mut ov) };
        }
        let mut n: DWORD = 0;
        counted();
        // SAFETY: the OVERLAPPED of the operation above; waits until it settled.
        let ok = unsafe { GetOverlappedResult(h, &mut ov, &mut n, 1) };
        if ok != 0 || n > 0 {
            return Ok(n as usize);
        }
        match last_error() {
            995 => Err(io::ErrorKind::TimedOut.into()),
            code => Err(os_error(code)),
        }
    }
}

/// Open handles in this process, counted by probing every handle value up to 80,000
/// (Wine 8's GetProcessHandleCount always reports 0).
pub fn handle_count() -> usize {
    (1..=20_000usize)
        .filter(|i| {
            let mut flags = 0;
            // SAFETY: GetHandleInformation only looks the value up in the handle table.
            unsafe { GetHandleInformation((i * 4) as HANDLE, &mut flags) != 0 }
        })
        .count()
}

/// The process's commit charge in bytes (`PagefileUsage`: private memory committed;
/// Wine 8 leaves `PrivateUsage` at 0 but fills this), 0 if the system does not say.
pub fn private_bytes() -> usize {
    let mut counters = ProcessMemoryCounters {
        cb: std::mem::size_of::<ProcessMemoryCounters>() as DWORD,
        ..Default::default()
    };
    // SAFETY: `counters` is ours and `cb` is its size.
    let ok = unsafe { K32GetProcessMemoryInfo(GetCurrentProcess(), &mut counters, counters.cb) };
    if ok == 0 {
        0
    } else {
        counters.pagefile_usage
    }
}

/// The Wine version if the process runs under Wine (ntdll's `wine_get_version`).
pub fn wine_version() -> Option<String> {
    // SAFETY: both names are NUL-terminated; ntdll is loaded in every process.
    let get = unsafe {
        GetProcAddress(
            GetModuleHandleA(c"ntdll.dll".as_ptr().cast()),
            c"wine_get_version".as_ptr().cast(),
        )
    };
    if get.is_null() {
        return None;
    }
    // SAFETY: `wine_get_version` takes nothing and returns a static NUL-terminated string.
    let version = unsafe {
        let get: extern "C" fn() -> *const std::os::raw::c_char = std::mem::transmute(get);
        std::ffi::CStr::from_ptr(get())
    };
    Some(version.to_string_lossy().into_owned())
}
