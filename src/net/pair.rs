//! `WinStream::pair`: two connected streams on a pipe nobody else can reach.

use super::addr::WinPipeSocketAddr;
use super::shared::Shared;
use super::stream::{Side, WinStream, PIPE_BUFFER};
use crate::engine::{self, Dir, Policy, Port, Request, Since, Stop, Wake};
use crate::ffi::{ERROR_PIPE_CONNECTED, SECURITY_IDENTIFICATION};
use crate::sys::{self, Handle, InstanceSpec, Pipe};
use std::io::{self, ErrorKind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

impl WinStream {
    /// Two connected streams, like `UnixStream::pair`. Returns `(client, server)` as
    /// winpipe 0.1 did; the two ends behave the same, and both addresses are unnamed.
    ///
    /// Windows has no unnamed duplex pipe, so this is a named pipe with a unique name,
    /// made as private as std's anonymous pipes: one instance only, the private
    /// descriptor ([`ListenerOptions`](crate::ListenerOptions)' default), remote clients
    /// rejected, and both ends checked to belong to this process
    /// (`GetNamedPipeClientProcessId`, `GetNamedPipeServerProcessId`). If another
    /// process connected first, `pair` fails with `PermissionDenied` (or the busy
    /// error it caused) rather than hand out its connection.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let (mut a, mut b) = winpipe::WinStream::pair()?;
    /// a.write_all(b"ping")?;
    /// let mut buf = [0; 4];
    /// b.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"ping");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pair() -> io::Result<(WinStream, WinStream)> {
        let name = unique_name();
        let security = crate::net::private_descriptor()?;
        let spec = InstanceSpec {
            first: true,
            reject_remote: true,
            in_buffer: PIPE_BUFFER as u32,
            out_buffer: PIPE_BUFFER as u32,
            max_instances: 1,
            security: Some(&security),
        };
        let server = sys::create_instance(&name, &spec).map_err(engine::os_error)?;
        let client = sys::open_client(&name, SECURITY_IDENTIFICATION).map_err(engine::os_error)?;
        sys::read_messages(&client).map_err(engine::os_error)?;
        connect(&server)?;
        both_ends_are_ours(&server, &client)?;
        let unnamed = WinPipeSocketAddr::unnamed();
        let size = PIPE_BUFFER;
        let end = |handle, side, name| {
            WinStream::with_shared(handle, side, name, Shared::new(), size).of_message_type(true)
        };
        Ok((
            end(client, Side::Client, unnamed.clone()),
            end(server, Side::Server, unnamed),
        ))
    }
}

/// `\\.\pipe\winpipe-pair-PID-N-NANOS`: no other pair of this process has it, and a
/// process that guessed it could not take it (the name's creator decides its
/// descriptor, and `FILE_FLAG_FIRST_PIPE_INSTANCE` refuses an existing name).
fn unique_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        r"\\.\pipe\winpipe-pair-{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// ConnectNamedPipe on the server end, whose client is already there
/// (ERROR_PIPE_CONNECTED).
fn connect(server: &Handle) -> io::Result<()> {
    let nobody = Shared::default();
    let mut pipe = Pipe {
        file: server,
        shared: &nobody,
    };
    let wake = Wake {
        dir: Dir::Read,
        stop: Stop::ByPolicy,
    };
    let (done, _) = pipe.submit(Request::Connect, wake, |issued| {
        engine::drive(issued, Stop::ByPolicy, &Policy::default, &Since::start())
    });
    match done.error {
        None | Some(ERROR_PIPE_CONNECTED) => Ok(()),
        Some(code) => Err(engine::os_error(code)),
    }
}

/// `PermissionDenied` unless this process is at both ends: the name could be seen
/// between its creation and our open, so another process's client could have taken
/// the instance, or (where `FILE_FLAG_FIRST_PIPE_INSTANCE` is not enforced) another
/// process's server could be the one our client reached.
fn both_ends_are_ours(server: &Handle, client: &Handle) -> io::Result<()> {
    let me = std::process::id();
    let client_process = sys::peer_process_id(server, true)?;
    let server_process = sys::peer_process_id(client, false)?;
    if client_process == me && server_process == me {
        return Ok(());
    }
    Err(io::Error::new(
        ErrorKind::PermissionDenied,
        format!(
            "another process took part in the pair's pipe (client process \
             {client_process}, server process {server_process}, this process {me})"
        ),
    ))
}
