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
//! - Identity: `Descriptor` (a security descriptor parsed from SDDL), the current
//!   user, a pipe's owner, the server process's token, the client's token (read while
//!   impersonating it on a thread of its own), session ids. SIDs leave as `Sid`
//!   values; the rules that combine them are safe code in `net/identity.rs`.
//!
//! Every call is traced with its arguments and result.

use crate::engine::{
    clamp_len, os_error, Code, Completion, Dial, Issued, Peeked, Pending, Port, Request, Wake,
};
use crate::ffi::*;
use crate::net::{Shared, TokenFacts};
use crate::Sid;
use std::cell::Cell;
use std::ffi::c_void;
use std::io;
use std::os::windows::io::{
    AsRawHandle, BorrowedHandle, FromRawHandle, IntoRawHandle, OwnedHandle, RawHandle,
};
use std::ptr::{self, null_mut};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

mod args;
pub(crate) use args::CLIENT_ACCESS;
use args::{c_name, client_flags, create_flags, wait_millis};
#[cfg(test)]
use args::{ERROR_INVALID_NAME, NAME_CAPACITY};

fn last_error() -> Code {
    // SAFETY: GetLastError has no preconditions.
    unsafe { GetLastError() }
}

/// What a call returning `BOOL` did: its last error if it failed. Call it on the
/// call's result at once, before anything (a trace) can change the last error.
fn outcome(ok: BOOL) -> Result<(), Code> {
    match ok {
        FALSE => Err(last_error()),
        _ => Ok(()),
    }
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
        // Owned before the trace: a logger that panics leaks nothing.
        let result = outcome(ok).map(|()| Handle(out));
        trace!("DuplicateHandle({:?}) = {:?}", self.0, result);
        result.map_err(os_error)
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

/// As for `WinStream`; see `From<OwnedHandle> for WinMessageStream`.
impl FromRawHandle for crate::WinMessageStream {
    unsafe fn from_raw_handle(raw: RawHandle) -> Self {
        // SAFETY: the caller promises `raw` is an open handle it owns and gives to us.
        let owned = unsafe { OwnedHandle::from_raw_handle(raw) };
        crate::WinMessageStream::from(owned)
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
        // Owned (or its error read) before the trace, which runs the user's logger.
        let event = Handle::from_created(raw).map(Event);
        trace!("CreateEventA(manual reset) = {:?}", event);
        event
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
/// the stack of `submit`, and is registered with the shared wake-ups while it is
/// pending.
pub(crate) struct Pipe<'a> {
    pub file: &'a Handle,
    /// The settings of the stream (or listener) and its clones, with their wake-ups.
    pub shared: &'a Shared,
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
        let result = op.hand_over(err, self.shared.wakeups(), wake, drive);
        // If the engine left the operation unsettled, it is cancelled and awaited here;
        // after that the kernel no longer signals the event, and the thread may reuse it.
        drop(op);
        event.give_back();
        result
    }

    fn peek(&mut self, buf: &mut [u8]) -> Result<usize, Code> {
        self.peek_counts(buf).map(|seen| seen.copied)
    }

    fn peek_counts(&mut self, buf: &mut [u8]) -> Result<Peeked, Code> {
        let len = clamp_len(buf.len()) as DWORD;
        let (mut read, mut queued): (DWORD, DWORD) = (0, 0);
        let file = self.file.raw();
        // SAFETY: the buffer is valid for `len` bytes; the count pointers are ours; the
        // unused out-parameter is NULL, which PeekNamedPipe allows.
        let ok = unsafe {
            PeekNamedPipe(
                file,
                buf.as_mut_ptr().cast(),
                len,
                &mut read,
                &mut queued,
                null_mut(),
            )
        };
        let err = if ok == FALSE { last_error() } else { 0 };
        trace!("PeekNamedPipe({file:?}, len={len}) = {ok} read={read} queued={queued} err={err}");
        if ok == FALSE {
            return Err(err);
        }
        let (copied, queued) = (read as usize, queued as usize);
        Ok(Peeked { copied, queued })
    }

    fn reads_messages(&mut self) -> bool {
        handle_state(self.file.raw()).is_some_and(|state| state & PIPE_READMODE_MESSAGE != 0)
    }

    fn end_of_stream(&mut self) {
        self.shared.update(|s| s.ended = true);
    }

    /// A nap that a change of the settings cuts short, so a setter's new policy (or
    /// a shutdown) reaches a call that waits for room or data at once.
    fn nap(&mut self, pause: Duration) {
        let (_, seen) = self.shared.snapshot();
        self.shared.pause(pause, seen);
    }

    fn peer_gone(&mut self) -> Option<Code> {
        crate::net::peer_gone(local_info(self.file))
    }

    fn empty_message_first(&mut self) -> bool {
        peek_header(self.file.raw()).is_some_and(|h| h.NumberOfMessages > 0 && h.MessageLength == 0)
    }

    fn owe_empty_message(&mut self) {
        self.shared.owe_empty_message(true);
    }

    fn owed_empty_message(&mut self, take: bool) -> bool {
        self.shared.owed_empty_message(take)
    }

    fn set_nowait(&mut self, nowait: bool, messages: bool) -> bool {
        let file = self.file.raw();
        // Only from blocking mode: a handle other code put in PIPE_NOWAIT stays so (its
        // mode would not be restored), and one whose mode cannot be read is left alone.
        if nowait && !completion_mode_is_wait(file) {
            return false;
        }
        let read_mode = if messages { PIPE_READMODE_MESSAGE } else { 0 };
        let mut mode = read_mode | if nowait { PIPE_NOWAIT } else { PIPE_WAIT };
        // SAFETY: the mode is ours; NULL leaves the collection settings alone.
        let ok = unsafe { SetNamedPipeHandleState(file, &mut mode, null_mut(), null_mut()) };
        trace!("SetNamedPipeHandleState({file:?}, {mode:#x}) = {ok}");
        ok != FALSE
    }
}

/// What `FSCTL_PIPE_PEEK` says of the queue `file` reads, with no room for data;
/// `None` if it fails. NPFS completes it at once (`NpPeek`), but the handle is
/// overlapped, so another file system (a redirector, for a remote pipe other code
/// wrapped) may pend it: then it is cancelled and waited for, so that nothing writes
/// into `header` or the status block once this returns.
fn peek_header(file: HANDLE) -> Option<FILE_PIPE_PEEK_HEADER> {
    let event = Event::take().ok()?;
    let mut header = FILE_PIPE_PEEK_HEADER::default();
    let mut ov = blank_overlapped(event.tagged());
    let io = (&mut ov as *mut OVERLAPPED).cast::<IO_STATUS_BLOCK>();
    let out = (&mut header as *mut FILE_PIPE_PEEK_HEADER).cast();
    let size = size_of::<FILE_PIPE_PEEK_HEADER>() as u32;
    let none = null_mut();
    // SAFETY: `ov` (whose first two fields are the IO_STATUS_BLOCK) and `header` are
    // ours and outlive the call and, if it pends, the wait below; `size` is
    // `header`'s size; no input; no APC and no APC context, so no completion packet.
    let status = unsafe {
        NtFsControlFile(
            file,
            event.0.raw(),
            none,
            none,
            io,
            FSCTL_PIPE_PEEK,
            none,
            0,
            out,
            size,
        )
    } as u32;
    if status == STATUS_PENDING {
        let op = InFlight {
            file,
            ov: &mut ov,
            event: event.0.raw(),
            settled: false,
            wakeups: None,
        };
        drop(op); // cancels and waits
    }
    event.give_back();
    let (count, len) = (header.NumberOfMessages, header.MessageLength);
    trace!("NtFsControlFile({file:?}, FSCTL_PIPE_PEEK) = {status:#x} messages={count} first={len}");
    matches!(status, 0 | STATUS_BUFFER_OVERFLOW).then_some(header)
}

/// The pipe handle's read and completion modes (`GetNamedPipeHandleStateA`).
fn handle_state(file: HANDLE) -> Option<DWORD> {
    let (mut state, none): (DWORD, *mut DWORD) = (0, null_mut());
    // SAFETY: the state pointer is ours; the other out-parameters are NULL, which
    // GetNamedPipeHandleStateA allows.
    let ok = unsafe { GetNamedPipeHandleStateA(file, &mut state, none, none, none, null_mut(), 0) };
    (ok != FALSE).then_some(state)
}

/// Whether the handle is in blocking completion mode (`PIPE_WAIT`), as winpipe keeps it.
fn completion_mode_is_wait(file: HANDLE) -> bool {
    handle_state(file).is_some_and(|state| state & PIPE_NOWAIT == 0)
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

impl<'a> InFlight<'a> {
    /// Gives the operation to the engine's `drive`: done if it completed or failed as
    /// it was issued (`err`), else pending and registered with `wakeups`, so that
    /// setters may cancel it from now on (one that ran since the call is seen by the
    /// engine, which reads the settings next).
    fn hand_over<R>(
        &mut self,
        err: Code,
        wakeups: &'a Wakeups,
        wake: Wake,
        drive: impl FnOnce(Issued<'_>) -> R,
    ) -> R {
        if self.settled {
            return drive(Issued::Done(Completion::failed(err)));
        }
        if err != ERROR_IO_PENDING {
            // Completed as it was issued: the result is there to collect.
            if let Some(done) = self.poll() {
                return drive(Issued::Done(done));
            }
        }
        // Pending, even if it has completed since: `Done` means it never pended.
        wakeups.register(self.file, self.ov, wake);
        self.wakeups = Some(wakeups);
        drive(Issued::Pending(self))
    }

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
    pub security: Option<&'a Descriptor>,
}

/// Creates one server instance of `name` (`CreateNamedPipeA`) as `spec` says.
pub(crate) fn create_instance(name: &str, spec: &InstanceSpec<'_>) -> Result<Handle, Code> {
    let c = c_name(name)?;
    let (open_mode, pipe_mode) = create_flags(spec.first, spec.reject_remote);
    let mut attributes = spec.security.map(Descriptor::attributes);
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
        "CreateNamedPipeA({:?}, {:#x}, {:#x}, max={}, out={}, in={}, descriptor={}) = {:?}",
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

/// Opens `name` as a client (`CreateFileA`) with `CLIENT_ACCESS`, overlapped,
/// granting the server the impersonation `level` (`SECURITY_IDENTIFICATION` by
/// default).
pub(crate) fn open_client(name: &str, level: DWORD) -> Result<Handle, Code> {
    open(name, CLIENT_ACCESS, client_flags(level))
}

/// `CreateFileA(name)` for an existing pipe with `access` and `flags`.
fn open(name: &str, access: DWORD, flags: DWORD) -> Result<Handle, Code> {
    let c = c_name(name)?;
    // SAFETY: `c` is NUL-terminated; no security attributes, no template.
    let raw = unsafe {
        CreateFileA(
            c.as_ptr(),
            access,
            0,
            null_mut(),
            OPEN_EXISTING,
            flags,
            null_mut(),
        )
    };
    let result = Handle::from_created(raw);
    trace!(
        "CreateFileA({:?}, {:#x}, {:#x}) = {:?}",
        name,
        access,
        flags,
        result
    );
    result
}

/// Takes `instance`, the only instance of `name` that listens, out of listening for
/// good, so that it just holds the name: a client end opened on it (no access,
/// anonymous) and closed at once leaves it closing, which no client can connect to.
/// ERROR_PIPE_BUSY if another client took it first (it is then a connection like any
/// other); if the descriptor refuses this process, a disconnect does the same.
pub(crate) fn stop_listening(name: &str, instance: &Handle) -> Result<(), Code> {
    match open(name, 0, SECURITY_SQOS_PRESENT | SECURITY_ANONYMOUS) {
        Ok(_client) => Ok(()),
        Err(ERROR_PIPE_BUSY) => Err(ERROR_PIPE_BUSY),
        Err(_) => {
            // SAFETY: an open server handle; the call only changes the pipe's state.
            let result = outcome(unsafe { DisconnectNamedPipe(instance.raw()) });
            trace!("DisconnectNamedPipe({:?}) = {:?}", instance.raw(), result);
            result
        }
    }
}

/// Asks one of the `GetNamedPipe{Client,Server}{ProcessId,SessionId}` calls, `name`d
/// for the trace, about the other end of `file`.
fn peer_query(
    file: &Handle,
    query: unsafe extern "system" fn(HANDLE, *mut DWORD) -> BOOL,
    name: &str,
) -> io::Result<u32> {
    let mut value: DWORD = 0;
    // SAFETY: `query` is one of the calls above, which take an open pipe handle and
    // write one DWORD; `value` is ours to write.
    let result = outcome(unsafe { query(file.raw(), &mut value) });
    trace!("{}({:?}) = {:?} value={}", name, file.raw(), result, value);
    result.map_err(os_error)?;
    Ok(value)
}

/// The process id at the other end of a pipe: the client's for a server end
/// (`GetNamedPipeClientProcessId`), the server's for a client end.
pub(crate) fn peer_process_id(file: &Handle, server_end: bool) -> io::Result<u32> {
    match server_end {
        true => peer_query(
            file,
            GetNamedPipeClientProcessId,
            "GetNamedPipeClientProcessId",
        ),
        false => peer_query(
            file,
            GetNamedPipeServerProcessId,
            "GetNamedPipeServerProcessId",
        ),
    }
}

/// The Terminal Services session of the other end of a pipe.
pub(crate) fn peer_session_id(file: &Handle, server_end: bool) -> io::Result<u32> {
    match server_end {
        true => peer_query(
            file,
            GetNamedPipeClientSessionId,
            "GetNamedPipeClientSessionId",
        ),
        false => peer_query(
            file,
            GetNamedPipeServerSessionId,
            "GetNamedPipeServerSessionId",
        ),
    }
}

/// The session this process runs in.
pub(crate) fn own_session_id() -> io::Result<u32> {
    let mut session: DWORD = 0;
    // SAFETY: plain values in, one DWORD of ours out.
    let result = outcome(unsafe { ProcessIdToSessionId(GetCurrentProcessId(), &mut session) });
    trace!(
        "ProcessIdToSessionId(self) = {:?} session={}",
        result,
        session
    );
    result.map_err(os_error)?;
    Ok(session)
}

/// A security descriptor parsed from SDDL by
/// `ConvertStringSecurityDescriptorToSecurityDescriptorA`, in the self-relative form
/// that call allocates with `LocalAlloc`; freed on drop.
pub(crate) struct Descriptor(*mut c_void);

// SAFETY: the descriptor is plain memory owned by this value, only read after `parse`.
unsafe impl Send for Descriptor {}
// SAFETY: as above.
unsafe impl Sync for Descriptor {}

impl Descriptor {
    /// Parses `sddl` (`ConvertStringSecurityDescriptorToSecurityDescriptorA`). A string
    /// Windows cannot parse is `InvalidInput` naming it and the system's error; what the
    /// descriptor grants is checked by the caller, from `bytes`.
    pub(crate) fn parse(sddl: &str) -> io::Result<Descriptor> {
        let refuse = |why: String| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid security descriptor {sddl:?}: {why}"),
            )
        };
        let c = std::ffi::CString::new(sddl).map_err(|_| refuse("it contains NUL".into()))?;
        let mut raw: *mut c_void = null_mut();
        // SAFETY: `c` is NUL-terminated; on success `raw` receives a LocalAlloc'd
        // descriptor that the `Descriptor` made right after owns.
        let result = outcome(unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorA(
                c.as_ptr().cast(),
                SDDL_REVISION_1,
                &mut raw,
                null_mut(),
            )
        });
        let descriptor = Descriptor(if result.is_ok() { raw } else { null_mut() });
        trace!(
            "ConvertStringSecurityDescriptorToSecurityDescriptorA({:?}) = {:?}",
            sddl,
            result
        );
        match result {
            Ok(()) => Ok(descriptor),
            Err(code) => Err(refuse(os_error(code).to_string())),
        }
    }

    /// The descriptor's bytes (self-relative, as the conversion made it).
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `self.0` is a valid self-relative descriptor owned by `self`, whose
        // length GetSecurityDescriptorLength reads from its header and parts.
        unsafe {
            let len = GetSecurityDescriptorLength(self.0) as usize;
            std::slice::from_raw_parts(self.0.cast::<u8>(), len)
        }
    }

    fn attributes(&self) -> SECURITY_ATTRIBUTES {
        SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as DWORD,
            lpSecurityDescriptor: self.0,
            bInheritHandle: FALSE,
        }
    }
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the memory came from LocalAlloc and is freed once, here.
            unsafe { LocalFree(self.0) };
        }
    }
}

/// What this process's own access token says.
pub(crate) fn own_token() -> io::Result<TokenFacts> {
    let mut token: HANDLE = null_mut();
    // SAFETY: the current-process pseudo handle and a place for the token handle.
    let result = outcome(unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) });
    let token = owned_or_error(result, token, "OpenProcessToken(self)").map_err(os_error)?;
    traced_facts(&token)
}

/// The user this process runs as (its token's `TokenUser`).
pub(crate) fn current_user() -> io::Result<Sid> {
    own_token().map(|facts| facts.user)
}

/// Owns the handle an `Open*` call returned if it succeeded (`result`), and traces it.
fn owned_or_error(result: Result<(), Code>, raw: HANDLE, call: &str) -> Result<Handle, Code> {
    let handle = result.map(|()| Handle(raw));
    trace!("{} = {:?}", call, handle);
    handle
}

/// `token_facts`, traced.
fn traced_facts(token: &Handle) -> io::Result<TokenFacts> {
    let facts = token_facts(token);
    trace!("GetTokenInformation({:?}, …) = {:?}", token.raw(), facts);
    facts.map_err(|(name, code)| {
        let err = os_error(code);
        io::Error::new(err.kind(), format!("reading the token's {name}: {err}"))
    })
}

/// Reads what winpipe checks of an access token: user, default owner, integrity level,
/// app container and restricting SIDs. Untraced, so that it can run while impersonating;
/// a failure names the information class that failed.
fn token_facts(token: &Handle) -> Result<TokenFacts, (&'static str, Code)> {
    let sid = |class, name| {
        let mut info = TokenInfo::default();
        token_information(token, class, &mut info).map_err(|code| (name, code))?;
        // SAFETY: these classes start with a pointer to a SID inside `info` (or NULL),
        // which is alive here.
        match unsafe { sid_at(info.0[0] as *mut c_void) } {
            Some(Ok(sid)) => Ok(Some(sid)),
            Some(Err(_)) => Err((name, ERROR_INVALID_PARAMETER)),
            None => Ok(None),
        }
    };
    let missing = |name| (name, ERROR_INVALID_PARAMETER);
    let mut info = TokenInfo::default();
    let restricted = match token_information(token, TOKEN_RESTRICTED_SIDS_CLASS, &mut info) {
        // TOKEN_GROUPS starts with its DWORD count, the low bytes of the first word.
        Ok(()) => info.0[0] as u32 != 0,
        Err(ERROR_INSUFFICIENT_BUFFER) => true,
        // A system that does not implement the class (STATUS_NOT_IMPLEMENTED: Wine)
        // has no restricting SIDs to put in a token; Windows has it since NT 4.
        Err(ERROR_INVALID_FUNCTION) => false,
        Err(code) => return Err(("TokenRestrictedSids", code)),
    };
    Ok(TokenFacts {
        user: sid(TOKEN_USER_CLASS, "TokenUser")?.ok_or(missing("TokenUser"))?,
        owner: sid(TOKEN_OWNER_CLASS, "TokenOwner")?.ok_or(missing("TokenOwner"))?,
        integrity: sid(TOKEN_INTEGRITY_LEVEL_CLASS, "TokenIntegrityLevel")?
            .ok_or(missing("TokenIntegrityLevel"))?,
        app_container: sid(TOKEN_APP_CONTAINER_SID_CLASS, "TokenAppContainerSid")?,
        restricted,
    })
}

/// 128 pointer-aligned bytes for `GetTokenInformation`: enough for the classes winpipe
/// reads that start with a SID pointer (the pointer, attributes and a SID of at most
/// 68 bytes, which the pointer points to inside the buffer) and for the count of
/// `TokenRestrictedSids` when it is 0.
#[derive(Default)]
struct TokenInfo([usize; 128 / std::mem::size_of::<usize>()]);

/// `GetTokenInformation(token, class)` into `info`.
fn token_information(token: &Handle, class: DWORD, info: &mut TokenInfo) -> Result<(), Code> {
    let mut needed: DWORD = 0;
    // SAFETY: `info` is ours, pointer-aligned, and its size is passed.
    outcome(unsafe {
        GetTokenInformation(
            token.raw(),
            class,
            info.0.as_mut_ptr().cast(),
            std::mem::size_of_val(&info.0) as DWORD,
            &mut needed,
        )
    })
}

/// What the token of the client at the other end of a server instance says: the token
/// the client's security context gives when the server impersonates it
/// (`ImpersonateNamedPipeClient`, `OpenThreadToken`, `RevertToSelf`).
///
/// Impersonation changes the identity of the calling thread, so it runs on a thread of
/// its own that ends right after: the caller's thread never impersonates, whatever
/// fails or panics, and a caller that is itself impersonating someone keeps that.
pub(crate) fn client_token(file: &Handle) -> io::Result<TokenFacts> {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("winpipe-peer-user".into())
            .spawn_scoped(scope, || {
                let facts = impersonated_facts(file);
                // Traced once reverted: the logger never runs as the client.
                trace!(
                    "ImpersonateNamedPipeClient({:?}), OpenThreadToken, GetTokenInformation, \
                     RevertToSelf = {:?}",
                    file.raw(),
                    facts
                );
                facts.map_err(|(_, code)| impersonation_error(code))
            })?;
        worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Impersonates the client of `file` on this thread, reads its token and reverts,
/// untraced. Only for `client_token`'s own thread.
fn impersonated_facts(file: &Handle) -> Result<TokenFacts, (&'static str, Code)> {
    // Declared first so that it is closed (and traced) after the revert below.
    let token: Handle;
    // SAFETY: an open pipe handle; the call only changes this thread's token.
    outcome(unsafe { ImpersonateNamedPipeClient(file.raw()) })
        .map_err(|code| ("ImpersonateNamedPipeClient", code))?;
    // Armed at once: reverts when this function returns or unwinds.
    let _revert = Impersonating;
    let mut raw: HANDLE = null_mut();
    // SAFETY: this thread's pseudo handle and a place for the token handle. OpenAsSelf
    // checks the access against the process, not the client being impersonated.
    outcome(unsafe { OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, TRUE, &mut raw) })
        .map_err(|code| ("OpenThreadToken", code))?;
    token = Handle(raw);
    token_facts(&token)
}

/// The error for a client whose token cannot be read: `PermissionDenied` for a client
/// that granted only `Anonymous` (its token cannot be opened); otherwise the system's
/// error, such as 1368 for a client with no security quality of service that the
/// server has not read from yet.
fn impersonation_error(code: Code) -> io::Error {
    match code {
        ERROR_CANT_OPEN_ANONYMOUS => io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the client connected at the Anonymous impersonation level, so its user \
                 cannot be known (Windows error {code})"
            ),
        ),
        _ => os_error(code),
    }
}

/// While alive, this thread impersonates a pipe client; dropping it reverts. Untraced.
struct Impersonating;

impl Drop for Impersonating {
    fn drop(&mut self) {
        // SAFETY: no arguments; it ends this thread's impersonation.
        if unsafe { RevertToSelf() } == FALSE {
            // The thread would go on as the client, and the logger run as it when the
            // token handle is closed: stopping is the only sound choice.
            std::process::abort();
        }
    }
}

/// The owner, DACL and mandatory label of the pipe `file` belongs to
/// (`GetKernelObjectSecurity`), as a self-relative security descriptor for
/// `SecurityDescriptor::parse`. NPFS answers with the descriptor of the pipe name (its
/// first instance), not of the instance `file` reached.
pub(crate) fn pipe_security(file: &Handle) -> io::Result<Vec<u8>> {
    let what = OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION | LABEL_SECURITY_INFORMATION;
    let mut buf = vec![0u8; 1024];
    loop {
        let mut needed: DWORD = 0;
        // SAFETY: `buf` is ours and its length is passed; the kernel writes at most that.
        let result = outcome(unsafe {
            GetKernelObjectSecurity(
                file.raw(),
                what,
                buf.as_mut_ptr().cast(),
                clamp_len(buf.len()) as DWORD,
                &mut needed,
            )
        });
        trace!(
            "GetKernelObjectSecurity({:?}, OWNER|DACL|LABEL) = {:?} needed={}",
            file.raw(),
            result,
            needed
        );
        match result {
            Ok(()) => return Ok(buf),
            Err(ERROR_INSUFFICIENT_BUFFER) if needed as usize > buf.len() => {
                buf.resize(needed as usize, 0)
            }
            Err(code) => return Err(os_error(code)),
        }
    }
}

/// What the token of the process that created the server end of `file` says
/// (`GetNamedPipeServerProcessId`, then that process's token), if this process may
/// open that token.
pub(crate) fn server_process_token(file: &Handle) -> io::Result<TokenFacts> {
    let pid = peer_process_id(file, false)?;
    // SAFETY: plain values; the handle returned is owned right after.
    let raw = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid) };
    let opened = outcome((!raw.is_null()) as BOOL);
    let process = owned_or_error(opened, raw, "OpenProcess(server)").map_err(os_error)?;
    let mut token: HANDLE = null_mut();
    // SAFETY: an open process handle and a place for the token handle.
    let result = outcome(unsafe { OpenProcessToken(process.raw(), TOKEN_QUERY, &mut token) });
    let token = owned_or_error(result, token, "OpenProcessToken(server)").map_err(os_error)?;
    traced_facts(&token)
}

/// Copies the valid SID at `sid` into a `Sid`; `None` for a NULL pointer.
///
/// # Safety
/// `sid` must be NULL or point to a valid SID that stays alive during the call.
unsafe fn sid_at(sid: *mut c_void) -> Option<io::Result<Sid>> {
    if sid.is_null() {
        return None;
    }
    // SAFETY: the caller promises a valid SID, whose length GetLengthSid reads.
    let bytes = unsafe {
        let len = GetLengthSid(sid) as usize;
        std::slice::from_raw_parts(sid.cast::<u8>(), len)
    };
    Some(Sid::from_bytes(bytes))
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
    /// A message-type pipe, which can carry the end-of-stream marker.
    pub message_type: bool,
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
        message_type: flags & PIPE_TYPE_MESSAGE != 0,
    })
}

/// Puts a client end of a message-type pipe in message read mode
/// (`SetNamedPipeHandleState`, which needs the `FILE_WRITE_ATTRIBUTES` winpipe's
/// clients ask for), so that its reads see the end-of-stream marker.
pub(crate) fn read_messages(file: &Handle) -> Result<(), Code> {
    let mut mode = PIPE_READMODE_MESSAGE | PIPE_WAIT;
    // SAFETY: the mode is ours; NULL leaves the collection settings alone.
    let ok = unsafe { SetNamedPipeHandleState(file.raw(), &mut mode, null_mut(), null_mut()) };
    let result = outcome(ok);
    trace!(
        "SetNamedPipeHandleState({:?}, {mode:#x}) = {result:?}",
        file.raw()
    );
    result
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

/// `FilePipeLocalInformation` of `file` (`NtQueryInformationFile`, which waits for
/// the driver itself on any handle), or the NTSTATUS it failed with.
pub(crate) fn local_info(file: &Handle) -> Result<FILE_PIPE_LOCAL_INFORMATION, u32> {
    let mut info = FILE_PIPE_LOCAL_INFORMATION::default();
    let mut io = IO_STATUS_BLOCK::default();
    let size = size_of::<FILE_PIPE_LOCAL_INFORMATION>() as u32;
    let info_ptr = (&mut info as *mut FILE_PIPE_LOCAL_INFORMATION).cast();
    let class = FILE_PIPE_LOCAL_INFORMATION_CLASS;
    // SAFETY: `io` and `info` are ours, and `size` is `info`'s size.
    let status = unsafe { NtQueryInformationFile(file.raw(), &mut io, info_ptr, size, class) };
    let (file, state, free) = (file.raw(), info.NamedPipeState, info.WriteQuotaAvailable);
    trace!("NtQueryInformationFile({file:?}) = {status:#x} state={state} free={free}");
    // Anything but success is an error, and `info` is read only then.
    match status {
        0 => Ok(info),
        _ => Err(status as u32),
    }
}

impl AsRawHandle for Handle {
    fn as_raw_handle(&self) -> RawHandle {
        self.0
    }
}

#[cfg(test)]
mod tests;
