//! Hand-written Kernel32, Advapi32 and Ntdll declarations: only what winpipe calls.
//!
//! Types and constants compile on every host so the portable logic and the layout
//! checks can use them; the functions exist only on Windows. Layouts follow
//! Microsoft's documentation (minwinbase.h, minwindef.h, winbase.h, winerror.h,
//! winnt.h, sddl.h) and are pointer-size aware, so they hold on 32- and 64-bit Windows
//! alike. The one new struct security needs, `TOKEN_USER`/`TOKEN_OWNER`, is read only
//! through its first field, a SID pointer, at offset 0 in every layout.
#![allow(
    non_camel_case_types,
    non_snake_case,
    dead_code,
    clippy::upper_case_acronyms
)]

use std::ffi::c_void;

pub type HANDLE = *mut c_void;
pub type BOOL = i32;
pub type DWORD = u32;

pub const FALSE: BOOL = 0;
pub const TRUE: BOOL = 1;
pub const INVALID_HANDLE_VALUE: HANDLE = -1isize as HANDLE;

/// `OVERLAPPED` from minwinbase.h. The `Offset`/`OffsetHigh` pair shares a union with
/// a `Pointer`; pipes ignore both, so the two DWORDs stand for the union.
#[repr(C)]
pub struct OVERLAPPED {
    pub Internal: usize,
    pub InternalHigh: usize,
    pub Offset: DWORD,
    pub OffsetHigh: DWORD,
    pub hEvent: HANDLE,
}

/// `SECURITY_ATTRIBUTES` from minwinbase.h.
#[repr(C)]
pub struct SECURITY_ATTRIBUTES {
    pub nLength: DWORD,
    pub lpSecurityDescriptor: *mut c_void,
    pub bInheritHandle: BOOL,
}

// Compile-time layout checks against Microsoft's documented sizes; they run for every
// target `cargo check` builds (i686, x86_64, aarch64).
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(std::mem::size_of::<OVERLAPPED>() == 32);
    assert!(std::mem::size_of::<SECURITY_ATTRIBUTES>() == 24);
};
#[cfg(target_pointer_width = "32")]
const _: () = {
    assert!(std::mem::size_of::<OVERLAPPED>() == 20);
    assert!(std::mem::size_of::<SECURITY_ATTRIBUTES>() == 12);
};

// Access rights, creation and flag values (winnt.h, fileapi.h, winbase.h).
pub const FILE_GENERIC_READ: DWORD = 0x0012_0089;
pub const FILE_WRITE_DATA: DWORD = 0x0002;
pub const FILE_WRITE_ATTRIBUTES: DWORD = 0x0100;
pub const OPEN_EXISTING: DWORD = 3;
pub const FILE_FLAG_OVERLAPPED: DWORD = 0x4000_0000;
pub const FILE_FLAG_FIRST_PIPE_INSTANCE: DWORD = 0x0008_0000;
pub const PIPE_ACCESS_DUPLEX: DWORD = 0x0000_0003;
pub const PIPE_TYPE_MESSAGE: DWORD = 0x0000_0004;
pub const PIPE_READMODE_MESSAGE: DWORD = 0x0000_0002;
pub const PIPE_WAIT: DWORD = 0x0000_0000;
pub const PIPE_NOWAIT: DWORD = 0x0000_0001;
pub const PIPE_REJECT_REMOTE_CLIENTS: DWORD = 0x0000_0008;
pub const PIPE_UNLIMITED_INSTANCES: DWORD = 255;
pub const PIPE_SERVER_END: DWORD = 0x0000_0001;
/// `GetFileType`'s answer for pipes (named or anonymous) and sockets.
pub const FILE_TYPE_PIPE: DWORD = 3;
/// `SECURITY_SQOS_PRESENT`: the flags carry a quality-of-service level for the server.
pub const SECURITY_SQOS_PRESENT: DWORD = 0x0010_0000;
/// `SECURITY_IDENTIFICATION` (`SecurityIdentification << 16`): the server may identify
/// the client but not impersonate it.
pub const SECURITY_IDENTIFICATION: DWORD = 0x0001_0000;
/// The other impersonation levels a client may grant (`SecurityX << 16`, winbase.h).
pub const SECURITY_ANONYMOUS: DWORD = 0x0000_0000;
pub const SECURITY_IMPERSONATION: DWORD = 0x0002_0000;
pub const SECURITY_DELEGATION: DWORD = 0x0003_0000;
pub const DUPLICATE_SAME_ACCESS: DWORD = 0x0000_0002;
/// `SECURITY_EFFECTIVE_ONLY`: a server impersonating the client gets only the
/// privileges and groups enabled when the client connected.
pub const SECURITY_EFFECTIVE_ONLY: DWORD = 0x0008_0000;

// Tokens, SIDs and security descriptors (winnt.h, securitybaseapi.h, sddl.h).
pub const TOKEN_QUERY: DWORD = 0x0008;
/// `TokenUser` of TOKEN_INFORMATION_CLASS.
pub const TOKEN_USER_CLASS: DWORD = 1;
/// `TokenOwner` of TOKEN_INFORMATION_CLASS.
pub const TOKEN_OWNER_CLASS: DWORD = 4;
/// `TokenRestrictedSids`: a `TOKEN_GROUPS`, empty unless the token is restricted.
pub const TOKEN_RESTRICTED_SIDS_CLASS: DWORD = 11;
/// `TokenIntegrityLevel`: a `TOKEN_MANDATORY_LABEL`, whose first field points to the
/// level's SID (`S-1-16-RID`).
pub const TOKEN_INTEGRITY_LEVEL_CLASS: DWORD = 25;
/// `TokenAppContainerSid`: a pointer to the package SID, NULL outside an app container.
pub const TOKEN_APP_CONTAINER_SID_CLASS: DWORD = 31;
/// `PROCESS_QUERY_LIMITED_INFORMATION`: enough to open a process's token.
pub const PROCESS_QUERY_LIMITED_INFORMATION: DWORD = 0x1000;
/// `SDDL_REVISION_1`, the only revision of the SDDL string format.
pub const SDDL_REVISION_1: DWORD = 1;
/// `FILE_ALL_ACCESS`: everything on a pipe, including creating more instances.
pub const FILE_ALL_ACCESS: DWORD = 0x001F_01FF;
pub const OWNER_SECURITY_INFORMATION: DWORD = 0x0000_0001;
pub const DACL_SECURITY_INFORMATION: DWORD = 0x0000_0004;
pub const LABEL_SECURITY_INFORMATION: DWORD = 0x0000_0010;

// Waits (synchapi.h, winbase.h).
pub const INFINITE: DWORD = 0xFFFF_FFFF;
pub const WAIT_FAILED: DWORD = 0xFFFF_FFFF;

// System error codes (winerror.h) that change what winpipe does.
pub const ERROR_INVALID_FUNCTION: DWORD = 1;
pub const ERROR_FILE_NOT_FOUND: DWORD = 2;
pub const ERROR_PATH_NOT_FOUND: DWORD = 3;
pub const ERROR_ACCESS_DENIED: DWORD = 5;
pub const ERROR_INVALID_HANDLE: DWORD = 6;
pub const ERROR_NOT_ENOUGH_MEMORY: DWORD = 8;
pub const ERROR_INVALID_PARAMETER: DWORD = 87;
pub const ERROR_BROKEN_PIPE: DWORD = 109;
pub const ERROR_SEM_TIMEOUT: DWORD = 121;
pub const ERROR_INSUFFICIENT_BUFFER: DWORD = 122;
pub const ERROR_PIPE_BUSY: DWORD = 231;
pub const ERROR_NO_DATA: DWORD = 232;
pub const ERROR_PIPE_NOT_CONNECTED: DWORD = 233;
pub const ERROR_MORE_DATA: DWORD = 234;
pub const ERROR_PIPE_CONNECTED: DWORD = 535;
pub const ERROR_PIPE_LISTENING: DWORD = 536;
pub const ERROR_OPERATION_ABORTED: DWORD = 995;
pub const ERROR_IO_INCOMPLETE: DWORD = 996;
pub const ERROR_IO_PENDING: DWORD = 997;
/// `ERROR_CANT_OPEN_ANONYMOUS`: the token is anonymous and cannot be opened.
pub const ERROR_CANT_OPEN_ANONYMOUS: DWORD = 1347;

#[cfg(windows)]
#[link(name = "kernel32")]
extern "system" {
    pub fn CreateNamedPipeA(
        lpName: *const u8,
        dwOpenMode: DWORD,
        dwPipeMode: DWORD,
        nMaxInstances: DWORD,
        nOutBufferSize: DWORD,
        nInBufferSize: DWORD,
        nDefaultTimeOut: DWORD,
        lpSecurityAttributes: *mut SECURITY_ATTRIBUTES,
    ) -> HANDLE;
    pub fn ConnectNamedPipe(hNamedPipe: HANDLE, lpOverlapped: *mut OVERLAPPED) -> BOOL;
    pub fn DisconnectNamedPipe(hNamedPipe: HANDLE) -> BOOL;
    pub fn CreateFileA(
        lpFileName: *const u8,
        dwDesiredAccess: DWORD,
        dwShareMode: DWORD,
        lpSecurityAttributes: *mut SECURITY_ATTRIBUTES,
        dwCreationDisposition: DWORD,
        dwFlagsAndAttributes: DWORD,
        hTemplateFile: HANDLE,
    ) -> HANDLE;
    pub fn WaitNamedPipeA(lpNamedPipeName: *const u8, nTimeOut: DWORD) -> BOOL;
    pub fn GetNamedPipeInfo(
        hNamedPipe: HANDLE,
        lpFlags: *mut DWORD,
        lpOutBufferSize: *mut DWORD,
        lpInBufferSize: *mut DWORD,
        lpMaxInstances: *mut DWORD,
    ) -> BOOL;
    pub fn PeekNamedPipe(
        hNamedPipe: HANDLE,
        lpBuffer: *mut c_void,
        nBufferSize: DWORD,
        lpBytesRead: *mut DWORD,
        lpTotalBytesAvail: *mut DWORD,
        lpBytesLeftThisMessage: *mut DWORD,
    ) -> BOOL;
    pub fn ReadFile(
        hFile: HANDLE,
        lpBuffer: *mut c_void,
        nNumberOfBytesToRead: DWORD,
        lpNumberOfBytesRead: *mut DWORD,
        lpOverlapped: *mut OVERLAPPED,
    ) -> BOOL;
    pub fn WriteFile(
        hFile: HANDLE,
        lpBuffer: *const c_void,
        nNumberOfBytesToWrite: DWORD,
        lpNumberOfBytesWritten: *mut DWORD,
        lpOverlapped: *mut OVERLAPPED,
    ) -> BOOL;
    pub fn GetOverlappedResult(
        hFile: HANDLE,
        lpOverlapped: *mut OVERLAPPED,
        lpNumberOfBytesTransferred: *mut DWORD,
        bWait: BOOL,
    ) -> BOOL;
    pub fn CancelIoEx(hFile: HANDLE, lpOverlapped: *mut OVERLAPPED) -> BOOL;
    pub fn CreateEventA(
        lpEventAttributes: *mut SECURITY_ATTRIBUTES,
        bManualReset: BOOL,
        bInitialState: BOOL,
        lpName: *const u8,
    ) -> HANDLE;
    pub fn WaitForSingleObject(hHandle: HANDLE, dwMilliseconds: DWORD) -> DWORD;
    pub fn DuplicateHandle(
        hSourceProcessHandle: HANDLE,
        hSourceHandle: HANDLE,
        hTargetProcessHandle: HANDLE,
        lpTargetHandle: *mut HANDLE,
        dwDesiredAccess: DWORD,
        bInheritHandle: BOOL,
        dwOptions: DWORD,
    ) -> BOOL;
    pub fn GetCurrentProcess() -> HANDLE;
    pub fn CloseHandle(hObject: HANDLE) -> BOOL;
    pub fn GetLastError() -> DWORD;
    pub fn GetNamedPipeClientProcessId(Pipe: HANDLE, ClientProcessId: *mut DWORD) -> BOOL;
    pub fn GetFileType(hFile: HANDLE) -> DWORD;
    pub fn GetNamedPipeServerProcessId(Pipe: HANDLE, ServerProcessId: *mut DWORD) -> BOOL;
    pub fn GetNamedPipeClientSessionId(Pipe: HANDLE, ClientSessionId: *mut DWORD) -> BOOL;
    pub fn GetNamedPipeServerSessionId(Pipe: HANDLE, ServerSessionId: *mut DWORD) -> BOOL;
    pub fn GetCurrentProcessId() -> DWORD;
    pub fn ProcessIdToSessionId(dwProcessId: DWORD, pSessionId: *mut DWORD) -> BOOL;
    pub fn OpenProcess(dwDesiredAccess: DWORD, bInheritHandle: BOOL, dwProcessId: DWORD) -> HANDLE;
    pub fn GetCurrentThread() -> HANDLE;
    pub fn LocalFree(hMem: *mut c_void) -> *mut c_void;
}

// Advapi32: tokens, impersonation and security descriptors.
#[cfg(windows)]
#[link(name = "advapi32")]
extern "system" {
    pub fn OpenProcessToken(
        ProcessHandle: HANDLE,
        DesiredAccess: DWORD,
        TokenHandle: *mut HANDLE,
    ) -> BOOL;
    pub fn OpenThreadToken(
        ThreadHandle: HANDLE,
        DesiredAccess: DWORD,
        OpenAsSelf: BOOL,
        TokenHandle: *mut HANDLE,
    ) -> BOOL;
    pub fn GetTokenInformation(
        TokenHandle: HANDLE,
        TokenInformationClass: DWORD,
        TokenInformation: *mut c_void,
        TokenInformationLength: DWORD,
        ReturnLength: *mut DWORD,
    ) -> BOOL;
    pub fn ImpersonateNamedPipeClient(hNamedPipe: HANDLE) -> BOOL;
    pub fn RevertToSelf() -> BOOL;
    pub fn GetLengthSid(pSid: *mut c_void) -> DWORD;
    pub fn ConvertStringSecurityDescriptorToSecurityDescriptorA(
        StringSecurityDescriptor: *const u8,
        StringSDRevision: DWORD,
        SecurityDescriptor: *mut *mut c_void,
        SecurityDescriptorSize: *mut DWORD,
    ) -> BOOL;
    pub fn GetKernelObjectSecurity(
        Handle: HANDLE,
        RequestedInformation: DWORD,
        pSecurityDescriptor: *mut c_void,
        nLength: DWORD,
        lpnLengthNeeded: *mut DWORD,
    ) -> BOOL;
    pub fn GetSecurityDescriptorLength(pSecurityDescriptor: *mut c_void) -> DWORD;
}

/// `IO_STATUS_BLOCK` (wdm.h): the status shares a union with a pointer, so the
/// first field is pointer-sized.
#[repr(C)]
#[derive(Default)]
pub struct IO_STATUS_BLOCK {
    pub Status: usize,
    pub Information: usize,
}

/// `FILE_PIPE_LOCAL_INFORMATION` (ntifs.h): ten ULONGs.
#[repr(C)]
#[derive(Default)]
pub struct FILE_PIPE_LOCAL_INFORMATION {
    pub NamedPipeType: u32,
    pub NamedPipeConfiguration: u32,
    pub MaximumInstances: u32,
    pub CurrentInstances: u32,
    pub InboundQuota: u32,
    pub ReadDataAvailable: u32,
    pub OutboundQuota: u32,
    pub WriteQuotaAvailable: u32,
    pub NamedPipeState: u32,
    pub NamedPipeEnd: u32,
}

/// `FilePipeLocalInformation` in `FILE_INFORMATION_CLASS` (wdm.h).
pub const FILE_PIPE_LOCAL_INFORMATION_CLASS: u32 = 24;
/// `FILE_PIPE_SERVER_END` in `NamedPipeEnd`.
pub const FILE_PIPE_SERVER_END: u32 = 1;
/// `NamedPipeState` values (ntifs.h): the server disconnected, or the peer closed.
pub const FILE_PIPE_DISCONNECTED_STATE: u32 = 1;
pub const FILE_PIPE_CLOSING_STATE: u32 = 4;
/// `STATUS_PIPE_DISCONNECTED`: a query on a pipe end its server disconnected.
pub const STATUS_PIPE_DISCONNECTED: u32 = 0xC000_00B0;

/// `FILE_PIPE_PEEK_BUFFER` (ntifs.h) without its data: what `FSCTL_PIPE_PEEK` says
/// of the queue a pipe end reads.
#[repr(C)]
#[derive(Default)]
pub struct FILE_PIPE_PEEK_HEADER {
    pub NamedPipeState: u32,
    pub ReadDataAvailable: u32,
    pub NumberOfMessages: u32,
    pub MessageLength: u32,
}

/// `FSCTL_PIPE_PEEK`: CTL_CODE(FILE_DEVICE_NAMED_PIPE, 3, METHOD_BUFFERED,
/// FILE_READ_DATA).
pub const FSCTL_PIPE_PEEK: u32 = 0x0011_400C;
/// `STATUS_BUFFER_OVERFLOW`: a peek with no room for data, when data is queued.
pub const STATUS_BUFFER_OVERFLOW: u32 = 0x8000_0005;
/// `STATUS_PENDING`: the operation goes on; its status block is written later.
pub const STATUS_PENDING: u32 = 0x103;

// Ntdll: the free write quota of a pipe end, and the message count of its queue,
// which no Kernel32 call reports.
#[cfg(windows)]
#[link(name = "ntdll")]
extern "system" {
    pub fn NtFsControlFile(
        FileHandle: HANDLE,
        Event: HANDLE,
        ApcRoutine: *mut c_void,
        ApcContext: *mut c_void,
        IoStatusBlock: *mut IO_STATUS_BLOCK,
        FsControlCode: u32,
        InputBuffer: *mut c_void,
        InputBufferLength: u32,
        OutputBuffer: *mut c_void,
        OutputBufferLength: u32,
    ) -> i32;
    pub fn NtQueryInformationFile(
        FileHandle: HANDLE,
        IoStatusBlock: *mut IO_STATUS_BLOCK,
        FileInformation: *mut c_void,
        Length: u32,
        FileInformationClass: u32,
    ) -> i32;
}

#[cfg(windows)]
#[link(name = "kernel32")]
extern "system" {
    pub fn GetModuleHandleA(lpModuleName: *const u8) -> HANDLE;
    pub fn SetNamedPipeHandleState(
        hNamedPipe: HANDLE,
        lpMode: *mut DWORD,
        lpMaxCollectionCount: *mut DWORD,
        lpCollectDataTimeout: *mut DWORD,
    ) -> BOOL;
    pub fn GetNamedPipeHandleStateA(
        hNamedPipe: HANDLE,
        lpState: *mut DWORD,
        lpCurInstances: *mut DWORD,
        lpMaxCollectionCount: *mut DWORD,
        lpCollectDataTimeout: *mut DWORD,
        lpUserName: *mut u8,
        nMaxUserNameSize: DWORD,
    ) -> BOOL;
    pub fn GetProcAddress(hModule: HANDLE, lpProcName: *const u8) -> *mut c_void;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, size_of};

    fn offset<T, F>(base: &T, field: &F) -> usize {
        field as *const F as usize - base as *const T as usize
    }

    /// Field offsets of OVERLAPPED and SECURITY_ATTRIBUTES as Microsoft documents them.
    #[test]
    fn struct_layouts_match_microsoft() {
        let word = size_of::<usize>();
        let ov = OVERLAPPED {
            Internal: 0,
            InternalHigh: 0,
            Offset: 0,
            OffsetHigh: 0,
            hEvent: std::ptr::null_mut(),
        };
        assert_eq!(offset(&ov, &ov.InternalHigh), word);
        assert_eq!(offset(&ov, &ov.Offset), 2 * word);
        assert_eq!(offset(&ov, &ov.OffsetHigh), 2 * word + 4);
        assert_eq!(offset(&ov, &ov.hEvent), 2 * word + 8);
        assert_eq!(size_of::<OVERLAPPED>(), 3 * word + 8);
        assert_eq!(align_of::<OVERLAPPED>(), word);

        let sa = SECURITY_ATTRIBUTES {
            nLength: 0,
            lpSecurityDescriptor: std::ptr::null_mut(),
            bInheritHandle: 0,
        };
        assert_eq!(offset(&sa, &sa.lpSecurityDescriptor), word);
        assert_eq!(offset(&sa, &sa.bInheritHandle), 2 * word);
        assert_eq!(size_of::<SECURITY_ATTRIBUTES>(), 3 * word);
        assert_eq!(size_of::<IO_STATUS_BLOCK>(), 2 * word);
        assert_eq!(size_of::<FILE_PIPE_LOCAL_INFORMATION>(), 40);
    }
}
