//! Who is at the other end: the rules that turn what Windows reports (a pipe's owner,
//! a process's token, session ids) into an answer. The rules are plain functions,
//! tested on every host; the `WinStream` methods that apply them are at the end.

use crate::Sid;
use std::io::{self, ErrorKind};

/// What the token of the process that created a pipe's server end says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProcessIdentity {
    /// The user the process runs as (`TokenUser`).
    pub user: Sid,
    /// The owner its new objects get (`TokenOwner`): the user, or a group such as
    /// BUILTIN\Administrators for an elevated administrator.
    pub owner: Sid,
}

/// BUILTIN\Administrators, the owner of what an elevated administrator creates.
fn administrators() -> Sid {
    Sid::new(5, &[32, 544]).expect("two sub-authorities fit")
}

/// The user of a pipe's server, from the pipe's `owner` (set by Windows from the
/// creator's token when the name's first instance was made; `None` under Wine by
/// default) and the token of the process Windows names as the server (`process`;
/// this process may be unable to read it).
///
/// - The token, when it can be read, names the user exactly (an elevated
///   administrator's pipe is owned by BUILTIN\Administrators, not by the user). It is
///   trusted only if the pipe's owner agrees: the token's user or its default owner.
///   A process id can be reused once the server exits; a pipe's owner cannot change
///   hands without privileges.
/// - Otherwise the owner, unless it is BUILTIN\Administrators (a group, not a user):
///   a standard user cannot read the token of another account's process, such as a
///   LocalSystem service, whose pipes are owned by LocalSystem.
pub(crate) fn server_user_from(
    owner: Option<Sid>,
    process: io::Result<ProcessIdentity>,
) -> io::Result<Sid> {
    match (owner, process) {
        (None, Ok(process)) => Ok(process.user),
        (Some(owner), Ok(process)) if owner == process.user || owner == process.owner => {
            Ok(process.user)
        }
        (Some(owner), Ok(process)) => Err(io::Error::other(format!(
            "the pipe's owner {owner} is neither the user ({}) nor the default owner ({}) \
             of the process Windows names as its server; that process id may have been \
             reused, so the server's user cannot be known",
            process.user, process.owner
        ))),
        (Some(owner), Err(_)) if owner != administrators() => Ok(owner),
        (Some(owner), Err(err)) => Err(io::Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "the pipe is owned by {owner} (BUILTIN\\Administrators: its server runs \
                 elevated), and this process may not read the server process's token \
                 to learn its user: {err}"
            ),
        )),
        (None, Err(err)) => Err(io::Error::new(
            err.kind(),
            format!("the pipe names no owner and the server process's token cannot be read: {err}"),
        )),
    }
}

/// Whether a listener limited to its own session (`own`) accepts a client whose
/// session is `client`: only the same session, and not a client whose session cannot
/// be read.
pub(crate) fn same_session_admits(own: u32, client: io::Result<u32>) -> bool {
    matches!(client, Ok(session) if session == own)
}

/// Checks the SIDs written out in an SDDL string (`O:`, `G:` and each ACE's trustee)
/// with `Sid`'s parser, which is strict where some SDDL parsers are not (Wine's takes
/// `S-1-5-18-`). Everything else is left to Windows' parser.
pub(crate) fn check_sddl_sids(sddl: &str) -> io::Result<()> {
    let mut trustees = Vec::new();
    // An owner or group runs from after its "O:"/"G:" to the next section's letter.
    for section in ["O:", "G:"] {
        if let Some(start) = sddl.find(section).map(|at| at + 2) {
            let rest = &sddl[start..];
            let end = rest
                .find(':')
                .map_or(rest.len(), |colon| colon.saturating_sub(1));
            trustees.push(&rest[..end]);
        }
    }
    // An ACE is "(type;flags;rights;object;inherited object;trustee[;…])".
    for ace in sddl.split('(').skip(1) {
        let ace = ace.split(')').next().unwrap_or("");
        trustees.extend(ace.split(';').nth(5));
    }
    for trustee in trustees {
        if trustee.len() > 2 && trustee[..2].eq_ignore_ascii_case("S-") {
            trustee.parse::<Sid>().map_err(|err| {
                io::Error::new(
                    ErrorKind::InvalidInput,
                    format!("invalid security descriptor {sddl:?}: {err}"),
                )
            })?;
        }
    }
    Ok(())
}

#[cfg(windows)]
mod stream {
    use super::*;
    use crate::net::options::ServerUser;
    use crate::net::stream::Side;
    use crate::sys;
    use crate::WinStream;

    impl WinStream {
        /// The user at the other end: the client's user on a stream from
        /// [`WinListener::accept`](crate::WinListener::accept), the server's user on a
        /// connected client.
        ///
        /// - Server end: the client's access token, which the server may read at the
        ///   `Identification` level a winpipe client grants by default
        ///   ([`ConnectOptions::impersonation`](crate::ConnectOptions::impersonation)).
        ///   A client that granted only `Anonymous` gives `PermissionDenied`. A client
        ///   made by other code without a security quality of service is known only
        ///   once the server has read from it (OS error 1368 before that). The
        ///   impersonation this takes runs on a short-lived thread of its own, so the
        ///   calling thread never changes identity.
        /// - Client end: the user of the server's process when this process may read
        ///   its token and the pipe's owner agrees; otherwise the pipe's owner (a
        ///   LocalSystem service's pipe is owned by LocalSystem). A pipe owned by
        ///   BUILTIN\Administrators whose server's token this process may not read
        ///   gives `PermissionDenied`. See the README's "Security" section.
        ///
        /// ```no_run
        /// let listener = winpipe::WinListener::bind(r"\\.\pipe\my-service")?;
        /// let (stream, _) = listener.accept()?;
        /// println!("client user: {}", stream.peer_user()?);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn peer_user(&self) -> io::Result<Sid> {
            match self.side {
                Side::Server => sys::client_user(&self.handle),
                Side::Client => server_user_from(
                    sys::pipe_owner(&self.handle)?,
                    sys::server_process_identity(&self.handle),
                ),
            }
        }

        /// Whether the user at the other end is the user this process runs as
        /// ([`peer_user`](Self::peer_user) compared with [`Sid::current_user`]).
        ///
        /// ```no_run
        /// let listener = winpipe::WinListener::bind(r"\\.\pipe\my-service")?;
        /// let (stream, _) = listener.accept()?;
        /// if !stream.peer_is_same_user()? {
        ///     return Ok(()); // drop the connection
        /// }
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn peer_is_same_user(&self) -> io::Result<bool> {
            Ok(self.peer_user()? == Sid::current_user()?)
        }

        /// The Windows session of the process at the other end
        /// (`GetNamedPipeClientSessionId` on a server end,
        /// `GetNamedPipeServerSessionId` on a client): 0 for services, one per
        /// signed-in desktop otherwise.
        ///
        /// ```no_run
        /// let stream = winpipe::WinStream::connect(r"\\.\pipe\my-service")?;
        /// println!("server session: {}", stream.peer_session_id()?);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn peer_session_id(&self) -> io::Result<u32> {
            sys::peer_session_id(&self.handle, self.side == Side::Server)
        }

        /// For `ConnectOptions::expect_server_user`: `PermissionDenied` unless the
        /// server of `name` is known to run as the `expected` user.
        pub(crate) fn check_server_user(
            &self,
            name: &str,
            expected: &ServerUser,
        ) -> io::Result<()> {
            let expected = match expected {
                ServerUser::Is(user) => user.clone(),
                ServerUser::Current => Sid::current_user()?,
            };
            let denied = |why: String| {
                let message = format!("the server of {name} {why}, not the expected {expected}");
                Err(io::Error::new(ErrorKind::PermissionDenied, message))
            };
            match self.peer_user() {
                Ok(user) if user == expected => Ok(()),
                Ok(user) => denied(format!("runs as {user}")),
                Err(err) => denied(format!("cannot be identified ({err})")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(text: &str) -> Sid {
        text.parse().unwrap()
    }

    const USER: &str = "S-1-5-21-1-2-3-1001";
    const OTHER: &str = "S-1-5-21-1-2-3-1002";
    const ADMINS: &str = "S-1-5-32-544";
    const SYSTEM: &str = "S-1-5-18";

    fn process(user: &str, owner: &str) -> io::Result<ProcessIdentity> {
        Ok(ProcessIdentity {
            user: sid(user),
            owner: sid(owner),
        })
    }

    fn unreadable() -> io::Result<ProcessIdentity> {
        Err(io::Error::from(ErrorKind::PermissionDenied))
    }

    #[test]
    fn a_readable_token_names_the_user_when_the_owner_agrees() {
        // Standard user: owner = user.
        let user = server_user_from(Some(sid(USER)), process(USER, USER)).unwrap();
        assert_eq!(user, sid(USER));
        // Elevated administrator: the pipe and the token's default owner are the group.
        let user = server_user_from(Some(sid(ADMINS)), process(USER, ADMINS)).unwrap();
        assert_eq!(user, sid(USER));
        // Wine: no owner on a default pipe.
        assert_eq!(
            server_user_from(None, process(USER, OTHER)).unwrap(),
            sid(USER)
        );
    }

    #[test]
    fn a_token_the_owner_contradicts_is_not_trusted() {
        // The creator (OTHER) exited and its process id now names USER's process.
        let err = server_user_from(Some(sid(OTHER)), process(USER, USER)).unwrap_err();
        assert!(err.to_string().contains("reused"), "{err}");
    }

    #[test]
    fn without_the_token_the_owner_names_the_user_unless_it_is_a_group() {
        // A LocalSystem service seen by a standard user.
        let user = server_user_from(Some(sid(SYSTEM)), unreadable()).unwrap();
        assert_eq!(user, sid(SYSTEM));
        let err = server_user_from(Some(sid(ADMINS)), unreadable()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("elevated"), "{err}");
        let err = server_user_from(None, unreadable()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("no owner"), "{err}");
    }

    #[test]
    fn only_clients_of_the_same_session_are_admitted() {
        assert!(same_session_admits(1, Ok(1)));
        assert!(!same_session_admits(1, Ok(0)));
        assert!(!same_session_admits(
            1,
            Err(io::Error::from_raw_os_error(5))
        ));
    }

    #[test]
    fn sddl_sids_are_checked_strictly() {
        for good in [
            "D:(A;;FA;;;S-1-5-18)",
            "O:S-1-5-21-1-2-3-1001D:(A;;FA;;;WD)",
            "O:BAG:SYD:P(A;;GA;;;SY)(A;;0x12018b;;;AU)",
            "D:(A;;FA;;;s-1-5-18)S:(ML;;NW;;;LW)",
            "D:NO_ACCESS_CONTROL",
        ] {
            check_sddl_sids(good).unwrap();
        }
        for bad in [
            "D:(A;;FA;;;S-1-5-18-)",
            "D:(A;;FA;;;WD)(A;;FA;;;S-1-5-)",
            "O:S-1-5-18-D:(A;;FA;;;WD)",
            "G:S-1-x",
            "D:(A;;FA;;;S-1-5-4294967296)",
        ] {
            let err = check_sddl_sids(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
