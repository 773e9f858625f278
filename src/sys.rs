//! The only `unsafe` code in winpipe: Win32 calls through `ffi`, wrapped in safe types.
//!
//! - `Handle`: an owned kernel handle, closed on drop.
//! - `Pipe`: the engine's `Port`. Each operation gets its own OVERLAPPED on the stack
//!   of `submit` and is settled before `submit` returns: the engine settles it, and if
//!   it did not (or something panicked), a guard armed right after the call cancels it
//!   and waits for completion. The kernel therefore never writes into a buffer, an
//!   OVERLAPPED or an event that has been released.
//! - The event an operation signals is the calling thread's, made on its first
//!   operation and lent to each later one, with its low-order bit set in the
//!   OVERLAPPED so that no completion ever reaches a completion port.
//! - `Wakeups`: the pending operations a setter may cancel, one by one.
//! - The pipe calls: create an instance, open as a client, wait for an instance.
//!
//! Every call is traced with its arguments and result.

use crate::engine::{clamp_len, Code, Completion, Dial, Issued, Pending, Port, Request, Wake};
use crate::ffi::*;
use std::cell::Cell;
use std::ffi::c_void;
use std::io;
use std::os::windows::io::{
    AsRawHandle, BorrowedHandle, FromRawHandle, IntoRawHandle, OwnedHandle, RawHandle,
};
use std::ptr::{self, null_mut};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The longest pipe name plus its NUL, with room to spare.
const NAME_CAPACITY: usize = 260;
/// `ERROR_INVALID_NAME`, for a name the A functions cannot take.
const ERROR_INVALID_NAME: Code = 123;

fn last_error() -> Code {
    // SAFETY: GetLastError has no preconditions.
    unsafe { GetLastError() }
}

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
fn c_name(name: &str) -> Result<[u8; NAME_CAPACITY], Code> {
    let bytes = name.as_bytes();
    if bytes.len() >= NAME_CAPACITY || bytes.contains(&0) {
        return Err(ERROR_INVALID_NAME);
    }
    let mut buf = [0u8; NAME_CAPACITY];
    buf[..bytes.len()].copy_from_slice(bytes);
    Ok(buf)
}

/// An owned kernel handle, closed on drop.
#[derive(Debug)]
pub(crate) struct Handle(HANDLE);

// SAFETY: a kernel handle is a process-wide value that any thread may use.
unsafe impl Send for Handle {}
// SAFETY: as above; the calls made through `&Handle` are thread-safe in the kernel.
unsafe impl Sync for Handle {}

impl Handle {
    /// Takes ownership of what a creating call returned, or its error.
    fn from_created(raw: HANDLE) -> Result<Handle, Code> {
        if raw.is_null() || raw == INVALID_HANDLE_VALUE {
            Err(last_error())
        } else {
            Ok(Handle(raw))
        }
    }

    pub(crate) fn raw(&self) -> HANDLE {
        self.0
    }

    /// A second handle to the same pipe (`DuplicateHandle`, same access).
    pub(crate) fn duplicate(&self) -> io::Result<Handle> {
        let mut out: HANDLE = null_mut();
        // SAFETY: both process handles are the current-process pseudo handle, the
        // source is our open handle and `out` is a valid place for the result.
        let ok = unsafe {
            let me = GetCurrentProcess();
            DuplicateHandle(me, self.0, me, &mut out, 0, FALSE, DUPLICATE_SAME_ACCESS)
        };
        let err = if ok == FALSE { last_error() } else { 0 };
        trace!(
            "DuplicateHandle({:?}) = {} {:?} err={}",
            self.0,
            ok,
            out,
            err
        );
        if ok == FALSE {
            return Err(crate::engine::os_error(err));
        }
        Ok(Handle(out))
    }

    pub(crate) fn borrow(&self) -> BorrowedHandle<'_> {
        // SAFETY: the handle is open for as long as `self` is borrowed.
        unsafe { BorrowedHandle::borrow_raw(self.0) }
    }

    pub(crate) fn into_owned(self) -> OwnedHandle {
        let raw = self.0;
        std::mem::forget(self);
        // SAFETY: we owned `raw` and gave up closing it by forgetting `self`.
        unsafe { OwnedHandle::from_raw_handle(raw) }
    }

    pub(crate) fn from_owned(owned: OwnedHandle) -> Handle {
        Handle(owned.into_raw_handle())
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: we own the handle and nothing uses it after this.
        let ok = unsafe { CloseHandle(self.0) };
        trace!("CloseHandle({:?}) = {}", self.0, ok);
    }
}

/// Takes ownership of a pipe handle, as `FromRawHandle` documents for `WinStream`.
///
/// # Safety
/// `raw` must be an open handle that the caller owns and gives up (std's contract);
/// nothing else is needed for soundness. What a handle that is not an overlapped
/// read-write named pipe does is documented on `From<OwnedHandle> for WinStream`:
/// errors or blocking calls, never undefined behaviour.
impl FromRawHandle for crate::WinStream {
    unsafe fn from_raw_handle(raw: RawHandle) -> Self {
        // SAFETY: the caller promises `raw` is an open handle it owns and gives to us.
        let owned = unsafe { OwnedHandle::from_raw_handle(raw) };
        crate::WinStream::from(owned)
    }
}

/// A manual-reset event for the OVERLAPPED of one operation at a time.
#[derive(Debug)]
struct Event(Handle);

thread_local! {
    /// The event this thread's next operation uses. An operation takes it out for its
    /// whole life, so a nested operation (a logger that writes to a pipe, say) finds
    /// none and makes its own: no two operations in flight ever share an event.
    static THREAD_EVENT: Cell<Option<Event>> = const { Cell::new(None) };
}

impl Event {
    fn new() -> Result<Event, Code> {
        // SAFETY: no security attributes and no name: plain arguments only.
        let raw = unsafe { CreateEventA(null_mut(), TRUE, FALSE, ptr::null()) };
        trace!("CreateEventA(manual reset) = {:?}", raw);
        Handle::from_created(raw).map(Event)
    }

    /// The calling thread's event, or a new one if it has none (first use, a nested
    /// operation, or a thread that is exiting). Issuing an operation resets it.
    fn take() -> Result<Event, Code> {
        match THREAD_EVENT.try_with(Cell::take) {
            Ok(Some(event)) => Ok(event),
            _ => Event::new(),
        }
    }

    /// Keeps the event for the thread's next operation. Only call once the operation
    /// that used it has settled. Closed instead if the thread has one already or is
    /// exiting.
    fn give_back(self) {
        let _ = THREAD_EVENT.try_with(move |slot| drop(slot.replace(Some(self))));
    }

    /// The value for `OVERLAPPED::hEvent`: the event with its low-order bit set, so
    /// that the completion is never queued to an I/O completion port that other code
    /// associated with the file (Microsoft's GetQueuedCompletionStatus page). The
    /// system ignores a handle's two low bits, so the event is still signalled.
    fn tagged(&self) -> HANDLE {
        (self.0.raw() as usize | 1) as HANDLE
    }
}

/// The operations in flight on a stream and its clones (or a listener's instances),
/// so that a setter can cancel exactly those its change concerns (`CancelIoEx` with
/// their OVERLAPPED, never the whole handle: other code's I/O on a duplicate handle is
/// left alone).
#[derive(Default)]
pub(crate) struct Wakeups {
    ops: Mutex<Vec<Registered>>,
}

/// A pending operation: its handle, its OVERLAPPED, and what wakes it.
struct Registered {
    file: HANDLE,
    ov: *mut OVERLAPPED,
    wake: Wake,
}

// SAFETY: the pointers are only used by `Wakeups::wake`, under the lock, while the
// operation that registered them is alive (it unregisters before releasing them).
unsafe impl Send for Registered {}

impl Wakeups {
    fn register(&self, file: HANDLE, ov: *mut OVERLAPPED, wake: Wake) {
        lock(&self.ops).push(Registered { file, ov, wake });
    }

    fn unregister(&self, ov: *mut OVERLAPPED) {
        let mut ops = lock(&self.ops);
        if let Some(i) = ops.iter().position(|op| op.ov == ov) {
            ops.swap_remove(i);
        }
    }

    /// Cancels every pending operation that `wakes` says the change concerns. The
    /// calls are traced once the lock is released: a logger may itself do I/O.
    pub(crate) fn wake(&self, wakes: impl Fn(Wake) -> bool) {
        let cancelled: Vec<(HANDLE, *mut OVERLAPPED, BOOL)> = lock(&self.ops)
            .iter()
            .filter(|op| wakes(op.wake))
            .map(|op| {
                // SAFETY: the handle and the OVERLAPPED are alive while registered
                // (see `Registered`); CancelIoEx only asks the kernel to cancel that one.
                let ok = unsafe { CancelIoEx(op.file, op.ov) };
                (op.file, op.ov, ok)
            })
            .collect();
        for (file, ov, ok) in cancelled {
            trace!("CancelIoEx({:?}, {:?}) = {}", file, ov, ok);
        }
    }
}

/// Locks a mutex, ignoring poisoning: the data it guards stays consistent whatever
/// panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A pipe handle as the engine uses it: each operation gets its own OVERLAPPED, on
/// the stack of `submit`, and is registered with `wakeups` while it is pending.
pub(crate) struct Pipe<'a> {
    pub file: &'a Handle,
    pub wakeups: &'a Wakeups,
}

/// Hands `request` to the kernel with `ov`; returns the call's result and name.
///
/// # Safety
/// The buffer in `request` and `*ov` must stay valid and unmoved until the operation
/// has settled.
unsafe fn issue(file: HANDLE, request: Request<'_>, ov: *mut OVERLAPPED) -> (BOOL, &'static str) {
    match request {
        // SAFETY: the caller keeps the buffer and OVERLAPPED alive; the byte count is
        // NULL as documented for overlapped calls; the length is at most the slice's.
        Request::Read(buf) => unsafe {
            let len = clamp_len(buf.len()) as DWORD;
            (
                ReadFile(file, buf.as_mut_ptr().cast(), len, null_mut(), ov),
                "ReadFile",
            )
        },
        // SAFETY: as for ReadFile; the kernel only reads the buffer.
        Request::Write(buf) => unsafe {
            let len = clamp_len(buf.len()) as DWORD;
            (
                WriteFile(file, buf.as_ptr().cast::<c_void>(), len, null_mut(), ov),
                "WriteFile",
            )
        },
        // SAFETY: as for ReadFile, with no buffer.
        Request::Connect => unsafe { (ConnectNamedPipe(file, ov), "ConnectNamedPipe") },
    }
}

impl Port for Pipe<'_> {
    fn submit<R>(
        &mut self,
        request: Request<'_>,
        wake: Wake,
        drive: impl FnOnce(Issued<'_>) -> R,
    ) -> R {
        // Declared before `op`, so that both outlive the operation even on unwinding.
        let event = match Event::take() {
            Ok(event) => event,
            Err(code) => return drive(Issued::Done(Completion::failed(code))),
        };
        let mut ov = blank_overlapped(event.tagged());
        let file = self.file.raw();
        let len = request.len();
        // SAFETY: `ov` and the buffer outlive `op`, whose drop settles the operation if
        // nothing else did (even when a panic unwinds through here).
        let (ok, what) = unsafe { issue(file, request, &mut ov) };
        let err = if ok == FALSE { last_error() } else { 0 };
        // Armed before anything that can panic: tracing runs the user's logger.
        let mut op = InFlight {
            file,
            ov: &mut ov,
            event: event.0.raw(),
            // A failure other than these returned at once: nothing is in flight.
            settled: ok == FALSE && err != ERROR_IO_PENDING && err != ERROR_MORE_DATA,
            wakeups: None,
        };
        trace!("{}({:?}, len={}) = {} err={}", what, file, len, ok, err);
        let result = if op.settled {
            drive(Issued::Done(Completion::failed(err)))
        } else {
            match op.poll() {
                Some(done) => drive(Issued::Done(done)),
                None => {
                    // Pending: setters may cancel it from now on. One that ran since the
                    // call is seen by the engine, which reads the settings next.
                    self.wakeups.register(file, op.ov, wake);
                    op.wakeups = Some(self.wakeups);
                    drive(Issued::Pending(&mut op))
                }
            }
        };
        // If the engine left the operation unsettled, it is cancelled and awaited here;
        // after that the kernel no longer signals the event, and the thread may reuse it.
        drop(op);
        event.give_back();
        result
    }

    fn peek(&mut self, buf: &mut [u8]) -> Result<usize, Code> {
        let len = clamp_len(buf.len()) as DWORD;
        let mut read: DWORD = 0;
        let file = self.file.raw();
        // SAFETY: the buffer is valid for `len` bytes; the count pointer is ours; the
        // unused out-parameters are NULL, which PeekNamedPipe allows.
        let ok = unsafe {
            PeekNamedPipe(
                file,
                buf.as_mut_ptr().cast(),
                len,
                &mut read,
                null_mut(),
                null_mut(),
            )
        };
        let err = if ok == FALSE { last_error() } else { 0 };
        trace!(
            "PeekNamedPipe({:?}, len={}) = {} read={} err={}",
            file,
            len,
            ok,
            read,
            err
        );
        if ok == FALSE {
            return Err(err);
        }
        Ok(read as usize)
    }
}

fn blank_overlapped(event: HANDLE) -> OVERLAPPED {
    OVERLAPPED {
        Internal: 0,
        InternalHigh: 0,
        Offset: 0,
        OffsetHigh: 0,
        hEvent: event,
    }
}

/// An operation the kernel may still be working on. Its buffer and OVERLAPPED stay
/// borrowed by `submit` until it is settled; dropping it unsettled cancels it and
/// waits, and it leaves `wakeups` before the OVERLAPPED can be released.
struct InFlight<'a> {
    file: HANDLE,
    ov: *mut OVERLAPPED,
    /// The event without its tag bit, for our own waits.
    event: HANDLE,
    settled: bool,
    /// Where it is registered while pending, for setters to cancel.
    wakeups: Option<&'a Wakeups>,
}

impl InFlight<'_> {
    /// `GetOverlappedResult` without waiting: the completion, or `None` while pending.
    fn result(&mut self) -> Option<Completion> {
        let mut bytes: DWORD = 0;
        // SAFETY: `ov` points to this operation's OVERLAPPED, alive while `self` is.
        let ok = unsafe { GetOverlappedResult(self.file, self.ov, &mut bytes, FALSE) };
        let err = if ok == FALSE { last_error() } else { 0 };
        if ok == FALSE && err == ERROR_IO_INCOMPLETE {
            return None;
        }
        self.settled = true;
        Some(Completion {
            bytes: bytes as usize,
            error: (ok == FALSE).then_some(err),
        })
    }

    /// Blocks on the event, at most `ms` milliseconds.
    fn block(&self, ms: DWORD) -> DWORD {
        // SAFETY: the event is open until `submit` gives it back, after we are dropped.
        unsafe { WaitForSingleObject(self.event, ms) }
    }

    /// `CancelIoEx` for exactly this operation.
    fn request_cancel(&self) -> BOOL {
        // SAFETY: handle and OVERLAPPED are alive; only this operation is cancelled.
        unsafe { CancelIoEx(self.file, self.ov) }
    }
}

impl Pending for InFlight<'_> {
    fn poll(&mut self) -> Option<Completion> {
        let done = self.result();
        trace!("GetOverlappedResult({:?}) = {:?}", self.file, done);
        done
    }

    fn wait(&mut self, timeout: Option<Duration>) {
        let ms = wait_millis(timeout);
        let status = self.block(ms);
        trace!(
            "WaitForSingleObject({:?}, {}) = {:#x}",
            self.event,
            ms,
            status
        );
    }

    fn cancel(&mut self) {
        let ok = self.request_cancel();
        trace!("CancelIoEx({:?}, {:?}) = {}", self.file, self.ov, ok);
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.settled {
            // Untraced: this may run while a panic unwinds, and the logger may be what
            // panicked.
            self.request_cancel();
            while self.result().is_none() {
                if self.block(INFINITE) == WAIT_FAILED {
                    // The kernel may still write into memory we are about to release,
                    // and we cannot wait for it: stopping is the only sound choice.
                    std::process::abort();
                }
            }
        }
        if let Some(wakeups) = self.wakeups {
            wakeups.unregister(self.ov);
        }
    }
}

/// How to create a server instance.
pub(crate) struct InstanceSpec<'a> {
    /// Fail if the name exists already (`FILE_FLAG_FIRST_PIPE_INSTANCE`).
    pub first: bool,
    pub reject_remote: bool,
    /// Buffer sizes, from the server's side: `in_buffer` holds what clients write.
    pub in_buffer: u32,
    pub out_buffer: u32,
    /// 1 to 254, or `PIPE_UNLIMITED_INSTANCES`.
    pub max_instances: u32,
    /// Who may connect; `None` keeps the default security descriptor.
    pub security: Option<&'a OwnerOnly>,
}

/// Pipe mode and access for every server instance: byte stream, blocking mode (the
/// overlapped flag gives asynchrony), remote clients rejected unless asked.
fn create_flags(first: bool, reject_remote: bool) -> (DWORD, DWORD) {
    let mut open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
    if first {
        open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
    }
    let mut pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT;
    if reject_remote {
        pipe_mode |= PIPE_REJECT_REMOTE_CLIENTS;
    }
    (open_mode, pipe_mode)
}

/// Creates one server instance of `name` (`CreateNamedPipeA`) as `spec` says.
pub(crate) fn create_instance(name: &str, spec: &InstanceSpec<'_>) -> Result<Handle, Code> {
    let c = c_name(name)?;
    let (open_mode, pipe_mode) = create_flags(spec.first, spec.reject_remote);
    let mut attributes = spec.security.map(OwnerOnly::attributes);
    let attributes_ptr = attributes
        .as_mut()
        .map_or(null_mut(), |a| a as *mut SECURITY_ATTRIBUTES);
    // SAFETY: `c` is NUL-terminated; the security attributes (if any) point to a
    // descriptor that `spec.security` keeps alive during the call; the rest are values.
    let raw = unsafe {
        CreateNamedPipeA(
            c.as_ptr(),
            open_mode,
            pipe_mode,
            spec.max_instances,
            spec.out_buffer,
            spec.in_buffer,
            0,
            attributes_ptr,
        )
    };
    let result = Handle::from_created(raw);
    trace!(
        "CreateNamedPipeA({:?}, {:#x}, {:#x}, max={}, out={}, in={}, owner_only={}) = {:?}",
        name,
        open_mode,
        pipe_mode,
        spec.max_instances,
        spec.out_buffer,
        spec.in_buffer,
        spec.security.is_some(),
        result
    );
    result
}

/// Client open flags: overlapped, and the quality of service the client grants the
/// server: `level` is one of the `SECURITY_*` impersonation levels.
fn client_flags(level: DWORD) -> DWORD {
    FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | level
}

/// Opens `name` as a client (`CreateFileA`), read and write, overlapped, granting the
/// server the impersonation `level` (`SECURITY_IDENTIFICATION` by default).
pub(crate) fn open_client(name: &str, level: DWORD) -> Result<Handle, Code> {
    let c = c_name(name)?;
    let flags = client_flags(level);
    // SAFETY: `c` is NUL-terminated; no security attributes, no template.
    let raw = unsafe {
        CreateFileA(
            c.as_ptr(),
            GENERIC_READ | GENERIC_WRITE,
            0,
            null_mut(),
            OPEN_EXISTING,
            flags,
            null_mut(),
        )
    };
    let result = Handle::from_created(raw);
    trace!("CreateFileA({:?}, {:#x}) = {:?}", name, flags, result);
    result
}

/// The process id at the other end of a pipe: the client's for a server end
/// (`GetNamedPipeClientProcessId`), the server's for a client end.
pub(crate) fn peer_process_id(file: &Handle, server_end: bool) -> io::Result<u32> {
    let mut pid: DWORD = 0;
    // SAFETY: the handle is open and `pid` is ours to write.
    let ok = unsafe {
        if server_end {
            GetNamedPipeClientProcessId(file.raw(), &mut pid)
        } else {
            GetNamedPipeServerProcessId(file.raw(), &mut pid)
        }
    };
    let err = if ok == FALSE { last_error() } else { 0 };
    trace!(
        "GetNamedPipe{}ProcessId({:?}) = {} pid={} err={}",
        if server_end { "Client" } else { "Server" },
        file.raw(),
        ok,
        pid,
        err
    );
    if ok == FALSE {
        return Err(crate::engine::os_error(err));
    }
    Ok(pid)
}

/// A security descriptor whose DACL grants full access to the current user and to no
/// one else. The descriptor points into `acl`; both live on the heap and move with
/// the struct without their addresses changing.
pub(crate) struct OwnerOnly {
    descriptor: Box<SECURITY_DESCRIPTOR>,
    /// Never read here, but the descriptor points into it.
    _acl: Vec<u32>,
}

// SAFETY: the descriptor and ACL are plain memory that is only read after `new`.
unsafe impl Send for OwnerOnly {}
// SAFETY: as above.
unsafe impl Sync for OwnerOnly {}

impl OwnerOnly {
    /// Builds the descriptor for the user this process runs as.
    pub(crate) fn new() -> io::Result<OwnerOnly> {
        let sid = current_user_sid()?;
        let acl_len = ACL_HEADER_SIZE + ACE_HEADER_AND_MASK_SIZE + sid.len();
        let mut acl = vec![0u32; acl_len.div_ceil(4)];
        let mut descriptor = Box::new([0usize; 5]);
        let acl_ptr = acl.as_mut_ptr().cast::<c_void>();
        let sd_ptr = descriptor.as_mut_ptr().cast::<c_void>();
        // SAFETY: `acl` is DWORD-aligned and `acl_len` bytes long (rounded up); the SID
        // is a copy we own, valid for the call; the descriptor buffer has the size and
        // pointer alignment of SECURITY_DESCRIPTOR. The DACL pointer stored in it
        // stays valid because `acl`'s heap buffer lives and never grows with `self`.
        let ok = unsafe {
            InitializeAcl(acl_ptr, acl_len as DWORD, ACL_REVISION) != FALSE
                && AddAccessAllowedAce(
                    acl_ptr,
                    ACL_REVISION,
                    FILE_ALL_ACCESS,
                    sid.as_ptr() as *mut c_void,
                ) != FALSE
                && InitializeSecurityDescriptor(sd_ptr, SECURITY_DESCRIPTOR_REVISION) != FALSE
                && SetSecurityDescriptorDacl(sd_ptr, TRUE, acl_ptr, FALSE) != FALSE
        };
        let err = if ok { 0 } else { last_error() };
        trace!("owner-only security descriptor = {} err={}", ok, err);
        if !ok {
            return Err(crate::engine::os_error(err));
        }
        Ok(OwnerOnly {
            descriptor,
            _acl: acl,
        })
    }

    fn attributes(&self) -> SECURITY_ATTRIBUTES {
        SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as DWORD,
            lpSecurityDescriptor: self.descriptor.as_ptr() as *mut c_void,
            bInheritHandle: FALSE,
        }
    }
}

/// A copy of the SID of the user this process runs as (its token's `TokenUser`).
fn current_user_sid() -> io::Result<Vec<u8>> {
    let mut token: HANDLE = null_mut();
    // SAFETY: the current-process pseudo handle and a place for the token handle.
    let ok = unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) };
    trace!("OpenProcessToken(TOKEN_QUERY) = {} {:?}", ok, token);
    if ok == FALSE {
        return Err(crate::engine::os_error(last_error()));
    }
    let token = Handle(token);
    let mut needed: DWORD = 0;
    // SAFETY: asks only for the size: a NULL buffer of length 0 is allowed.
    unsafe { GetTokenInformation(token.raw(), TOKEN_USER_CLASS, null_mut(), 0, &mut needed) };
    // TOKEN_USER starts with a pointer: allocate pointer-aligned words.
    let words = (needed as usize).div_ceil(8);
    let mut info = vec![0u64; words.max(1)];
    // SAFETY: `info` is `needed` bytes or more, suitably aligned, and ours to fill.
    let ok = unsafe {
        GetTokenInformation(
            token.raw(),
            TOKEN_USER_CLASS,
            info.as_mut_ptr().cast(),
            (info.len() * 8) as DWORD,
            &mut needed,
        )
    };
    let err = if ok == FALSE { last_error() } else { 0 };
    trace!("GetTokenInformation(TokenUser) = {} err={}", ok, err);
    if ok == FALSE {
        return Err(crate::engine::os_error(err));
    }
    // SAFETY: on success `info` holds a TOKEN_USER whose first field is the SID pointer,
    // pointing inside `info`; GetLengthSid reads a valid SID's length, and the copy
    // reads exactly that many bytes of it while `info` is alive.
    let sid = unsafe {
        let sid = *info.as_ptr().cast::<*mut c_void>();
        let len = GetLengthSid(sid) as usize;
        std::slice::from_raw_parts(sid.cast::<u8>(), len).to_vec()
    };
    Ok(sid)
}

/// Waits up to `timeout` for an instance of `name` to be free (`WaitNamedPipeA`).
/// ERROR_FILE_NOT_FOUND at once if no instance exists.
pub(crate) fn wait_for_instance(name: &str, timeout: Duration) -> Result<(), Code> {
    let c = c_name(name)?;
    // 0 would mean "the server's default", so wait at least 1 ms.
    let ms = wait_millis(Some(timeout)).max(1);
    // SAFETY: `c` is NUL-terminated.
    let ok = unsafe { WaitNamedPipeA(c.as_ptr(), ms) };
    let err = if ok == FALSE { last_error() } else { 0 };
    trace!("WaitNamedPipeA({:?}, {}) = {} err={}", name, ms, ok, err);
    if ok == FALSE {
        Err(err)
    } else {
        Ok(())
    }
}

/// What `GetNamedPipeInfo` says of a pipe handle.
pub(crate) struct PipeInfo {
    /// The handle is the server end.
    pub server_end: bool,
    /// The smaller of the two buffer sizes. 0 is a real size: a write then waits
    /// until the reader has read all of it.
    pub buffer: usize,
}

/// Asks `GetNamedPipeInfo`. It fails for a handle that is not a pipe, but also for a
/// pipe whose server disconnected it (233): the error says which.
pub(crate) fn pipe_info(file: &Handle) -> Result<PipeInfo, Code> {
    let (mut flags, mut out_size, mut in_size): (DWORD, DWORD, DWORD) = (0, 0, 0);
    // SAFETY: the out-pointers are ours; the unused one is NULL, which is allowed.
    let ok = unsafe {
        GetNamedPipeInfo(
            file.raw(),
            &mut flags,
            &mut out_size,
            &mut in_size,
            null_mut(),
        )
    };
    trace!(
        "GetNamedPipeInfo({:?}) = {} flags={:#x} out={} in={}",
        file.raw(),
        ok,
        flags,
        out_size,
        in_size
    );
    if ok == FALSE {
        return Err(last_error());
    }
    Ok(PipeInfo {
        server_end: flags & PIPE_SERVER_END != 0,
        buffer: out_size.min(in_size) as usize,
    })
}

/// Whether `file` is a pipe (`GetFileType`): a property of the handle's device, so it
/// holds whatever state the pipe is in, disconnected included.
pub(crate) fn is_pipe(file: &Handle) -> bool {
    // SAFETY: the handle is open; GetFileType only asks its device type.
    let kind = unsafe { GetFileType(file.raw()) };
    trace!("GetFileType({:?}) = {}", file.raw(), kind);
    kind == FILE_TYPE_PIPE
}

/// The Windows side of connecting: `CreateFileA`, `WaitNamedPipeA` and a sleep.
pub(crate) struct Dialer<'a> {
    pub name: &'a str,
    /// The `SECURITY_*` impersonation level granted to the server.
    pub level: DWORD,
}

impl Dial for Dialer<'_> {
    type Handle = Handle;

    fn open(&mut self) -> Result<Handle, Code> {
        open_client(self.name, self.level)
    }

    fn wait_for_instance(&mut self, timeout: Duration) -> Result<(), Code> {
        wait_for_instance(self.name, timeout)
    }

    fn sleep(&mut self, pause: Duration) {
        std::thread::sleep(pause);
    }
}

impl AsRawHandle for Handle {
    fn as_raw_handle(&self) -> RawHandle {
        self.0
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(pipe_mode, PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT);
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

    /// The access list on `file`: (ACE type, access mask, SID) for each entry, or
    /// `None` if it has no DACL (everyone may do anything).
    fn dacl_of(file: HANDLE) -> Option<Vec<(u8, u32, Vec<u8>)>> {
        let mut buf = vec![0u64; 512];
        let mut needed = 0;
        let mut present = FALSE;
        let mut defaulted = FALSE;
        let mut acl: *mut c_void = null_mut();
        // SAFETY: the buffer is 4 KiB of ours, aligned; on success it holds a
        // self-relative descriptor whose DACL pointer points inside it; each ACE is
        // read within the ACL's AceCount and AceSize.
        unsafe {
            let sd = buf.as_mut_ptr().cast::<c_void>();
            let len = (buf.len() * 8) as DWORD;
            let ok = GetKernelObjectSecurity(file, DACL_SECURITY_INFORMATION, sd, len, &mut needed);
            assert_ne!(
                ok,
                FALSE,
                "GetKernelObjectSecurity failed: {}",
                last_error()
            );
            let ok = GetSecurityDescriptorDacl(sd, &mut present, &mut acl, &mut defaulted);
            assert_ne!(ok, FALSE);
            if present == FALSE || acl.is_null() {
                return None;
            }
            let count = ptr::read_unaligned(acl.cast::<u8>().add(4).cast::<u16>());
            let mut ace = acl.cast::<u8>().add(ACL_HEADER_SIZE);
            let mut entries = Vec::new();
            for _ in 0..count {
                let kind = *ace;
                let size = ptr::read_unaligned(ace.add(2).cast::<u16>()) as usize;
                let mask = ptr::read_unaligned(ace.add(4).cast::<u32>());
                let sid = ace.add(ACE_HEADER_AND_MASK_SIZE);
                let sid_len = GetLengthSid(sid.cast()) as usize;
                entries.push((
                    kind,
                    mask,
                    std::slice::from_raw_parts(sid, sid_len).to_vec(),
                ));
                ace = ace.add(size);
            }
            Some(entries)
        }
    }

    #[test]
    fn owner_only_instances_grant_the_current_user_and_nobody_else() {
        let user = current_user_sid().unwrap();
        assert!(user.len() >= 8, "a SID has a header and an authority");
        let name = format!(r"\\.\pipe\winpipe-unit-{}-owner-only", std::process::id());
        let listener = crate::ListenerOptions::new()
            .owner_only(true)
            .backlog(2)
            .bind(&name)
            .unwrap();
        let waiting = listener.waiting_handle().expect("a waiting instance");
        let dacl = dacl_of(waiting).expect("an owner-only pipe has a DACL");
        assert_eq!(dacl, vec![(ACCESS_ALLOWED_ACE_TYPE, FILE_ALL_ACCESS, user)]);
        // The owner itself can still connect.
        crate::WinStream::connect(&name).unwrap();
    }

    #[test]
    fn default_instances_keep_the_default_descriptor() {
        let user = current_user_sid().unwrap();
        let name = format!(r"\\.\pipe\winpipe-unit-{}-default-dacl", std::process::id());
        let listener = crate::WinListener::bind(&name).unwrap();
        let ours = vec![(ACCESS_ALLOWED_ACE_TYPE, FILE_ALL_ACCESS, user)];
        let waiting = listener.waiting_handle().expect("a waiting instance");
        assert_ne!(dacl_of(waiting), Some(ours));
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
}
