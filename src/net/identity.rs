//! Who is at the other end: the rules that turn what Windows reports (a pipe's security
//! descriptor, a process's token, session ids) into an answer, and whether that answer
//! is trusted. The rules are plain functions, tested on every host; the `WinStream`
//! methods that apply them are at the end.

use crate::secdesc::{level_of, untrusted_instance_creator, SecurityDescriptor};
use crate::{IntegrityLevel, Sid};
use std::io::{self, ErrorKind};

/// What an access token says of the process or client that holds it (read by `sys`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TokenFacts {
    /// The user it runs as (`TokenUser`).
    pub user: Sid,
    /// The owner its new objects get (`TokenOwner`): the user, or a group such as
    /// BUILTIN\Administrators for an elevated administrator.
    pub owner: Sid,
    /// The SID of its integrity level (`TokenIntegrityLevel`, `S-1-16-RID`).
    pub integrity: Sid,
    /// Its app container's package SID, if it runs in one (`TokenAppContainerSid`).
    pub app_container: Option<Sid>,
    /// Whether it has restricting SIDs (`TokenRestrictedSids`).
    pub restricted: bool,
}

impl TokenFacts {
    /// The integrity level its SID names; a SID of another form is refused.
    pub(crate) fn level(&self) -> io::Result<IntegrityLevel> {
        level_of(&self.integrity)
            .map(IntegrityLevel::from_rid)
            .ok_or_else(|| {
                io::Error::new(
                    ErrorKind::InvalidData,
                    format!("{} is not an integrity level SID", self.integrity),
                )
            })
    }
}

/// Who is at the other end of a pipe, as far as Windows vouches for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Peer {
    pub user: Sid,
    pub integrity: IntegrityLevel,
    /// Runs in an app container (false when its token could not be read).
    pub app_container: bool,
    /// Runs with a restricted token (false when its token could not be read).
    pub restricted: bool,
}

impl Peer {
    /// The client of a server end, from its token.
    pub(crate) fn from_token(token: &TokenFacts) -> io::Result<Peer> {
        Ok(Peer {
            user: token.user.clone(),
            integrity: token.level()?,
            app_container: token.app_container.is_some(),
            restricted: token.restricted,
        })
    }
}

fn denied(why: String) -> io::Error {
    io::Error::new(ErrorKind::PermissionDenied, why)
}

/// The client asking who its server is: its user, and whether the server runs in
/// its Windows session.
pub(crate) struct Caller {
    pub user: Sid,
    pub same_session: bool,
}

/// The server of a pipe, from the pipe's security descriptor (`pipe`: its name's
/// owner, DACL and label, which Windows sets from the creator's token when the name's
/// first instance is made) and the token of the process Windows names as the server
/// (`process`; this process may be unable to read it).
///
/// - The pipe must have an owner: only Wine makes pipes without one, and an answer
///   that rests on a process id alone cannot be vouched for (ids are reused).
/// - The token, when it can be read, names the user exactly (an elevated
///   administrator's pipe is owned by BUILTIN\Administrators, not by the user). It is
///   trusted only if the owner is the token's user or default owner: a process id can
///   be reused once the server exits.
/// - Otherwise the owner (`from_owner`).
/// - Whoever else the DACL lets create instances (or change the DACL), and whoever
///   the label lets write below Medium, could have made the instance this client
///   reached, so then nothing can be vouched for.
pub(crate) fn server_from(
    pipe: &SecurityDescriptor,
    process: io::Result<TokenFacts>,
    caller: &Caller,
) -> io::Result<Peer> {
    let owner = pipe.owner.clone().ok_or_else(|| {
        denied("the pipe names no owner, so its server cannot be identified".into())
    })?;
    let peer = match process {
        Ok(token) if owner == token.user || owner == token.owner => Peer::from_token(&token)?,
        Ok(token) => {
            return Err(denied(format!(
                "the pipe's owner {owner} is neither the user ({}) nor the default owner ({}) \
                 of the process Windows names as its server; that process id may have been \
                 reused, so the server's user cannot be known",
                token.user, token.owner
            )))
        }
        Err(err) => from_owner(pipe, &owner, caller, err)?,
    };
    vouch(pipe, &owner, peer)
}

/// The server whose token this process may not read, from the pipe alone: its owner,
/// and its label for the level (none means Medium). Windows labels the objects of a
/// creator below Medium (a sandboxed or app container process) at the creator's level,
/// and such a creator cannot label above itself, so a label of at least Medium also
/// says the creator was no sandbox. Refused: an owner that is BUILTIN\Administrators
/// (a group: the server runs elevated), a label below Medium (a sandboxed server
/// cannot be told from a sandboxed squatter of the same user), and the caller's own
/// user from another session (a service that impersonates the caller could have made
/// a pipe owned by it; such services run in session 0).
fn from_owner(
    pipe: &SecurityDescriptor,
    owner: &Sid,
    caller: &Caller,
    err: io::Error,
) -> io::Result<Peer> {
    let level = pipe.label.map_or(IntegrityLevel::MEDIUM, |l| {
        IntegrityLevel::from_rid(l.level)
    });
    let why = if *owner == Sid::administrators() {
        format!("is owned by {owner} (BUILTIN\\Administrators: its server runs elevated)")
    } else if level < IntegrityLevel::MEDIUM {
        format!("is labelled {level} integrity, as a sandboxed process's pipe is")
    } else if *owner == caller.user && !caller.same_session {
        format!("is owned by this process's user {owner} but served from another session")
    } else {
        return Ok(Peer {
            user: owner.clone(),
            integrity: level,
            app_container: false,
            restricted: false,
        });
    };
    Err(denied(format!(
        "the pipe {why}, and this process may not read the server process's token to \
         learn who it is: {err}"
    )))
}

/// `peer`, unless the pipe lets someone it does not vouch for add instances: anyone
/// its DACL grants the right beyond the peer's user, the owner, LocalSystem and
/// administrators, or (through a label below Medium that allows writing up) sandboxed
/// processes of those users.
fn vouch(pipe: &SecurityDescriptor, owner: &Sid, peer: Peer) -> io::Result<Peer> {
    let trusted = [
        peer.user.clone(),
        owner.clone(),
        Sid::local_system(),
        Sid::administrators(),
    ];
    let why = untrusted_instance_creator(pipe, &trusted).or_else(|| {
        let floor = write_floor(pipe);
        (floor < IntegrityLevel::MEDIUM)
            .then(|| format!("its label lets processes at {floor} integrity add instances"))
    });
    match why {
        None => Ok(peer),
        Some(why) => Err(denied(format!(
            "the server cannot be vouched for: {why}, so the instance reached may be \
             someone else's"
        ))),
    }
}

/// The lowest integrity level that may write to the pipe (and so add instances): its
/// label's level when the label forbids writing up, any level when it does not,
/// Medium when there is no label (Windows' default for an unlabelled object).
fn write_floor(pipe: &SecurityDescriptor) -> IntegrityLevel {
    const NO_WRITE_UP: u32 = 0x1;
    match pipe.label {
        None => IntegrityLevel::MEDIUM,
        Some(label) if label.policy & NO_WRITE_UP != 0 => IntegrityLevel::from_rid(label.level),
        Some(_) => IntegrityLevel::UNTRUSTED,
    }
}

/// Why `peer` is not to be trusted as `expected` by a process at level `own`, or `None`
/// when it is: the same user is not the same trust when it runs sandboxed (an app
/// container, a restricted token) or below the caller's integrity level.
pub(crate) fn distrust(peer: &Peer, expected: &Sid, own: IntegrityLevel) -> Option<String> {
    if peer.user != *expected {
        Some(format!("runs as {}", peer.user))
    } else if peer.app_container {
        Some(format!("runs as {} but in an app container", peer.user))
    } else if peer.restricted {
        Some(format!("runs as {} but with a restricted token", peer.user))
    } else if peer.integrity < own {
        Some(format!(
            "runs as {} but at {} integrity, below this process's {own}",
            peer.user, peer.integrity
        ))
    } else {
        None
    }
}

/// Whether a listener limited to its own session (`own`) accepts a client whose
/// session is `client`: only the same session, and not a client whose session cannot
/// be read.
pub(crate) fn same_session_admits(own: u32, client: io::Result<u32>) -> bool {
    matches!(client, Ok(session) if session == own)
}

#[cfg(windows)]
mod stream {
    use super::*;
    use crate::net::options::ServerUser;
    use crate::net::stream::Side;
    use crate::sys;
    use crate::WinStream;

    impl WinStream {
        /// Who is at the other end, as far as Windows vouches for it: the client of a
        /// server end (its token, read while impersonating it), or the server of a
        /// client (`server_from`: the pipe's descriptor and the server's token). `me`
        /// is this process's token if the caller has read it already.
        fn peer(&self, me: Option<&TokenFacts>) -> io::Result<Peer> {
            match self.side {
                Side::Server => Peer::from_token(&sys::client_token(&self.handle)?),
                Side::Client => {
                    let pipe = SecurityDescriptor::parse(&sys::pipe_security(&self.handle)?)?;
                    let user = match me {
                        Some(me) => me.user.clone(),
                        None => sys::own_token()?.user,
                    };
                    let caller = self.caller(user);
                    server_from(&pipe, sys::server_process_token(&self.handle), &caller)
                }
            }
        }

        /// This client, of `user`, as `server_from` weighs it: whether the server runs
        /// in its session (a session that cannot be read counts as another).
        fn caller(&self, user: Sid) -> Caller {
            let server = sys::peer_session_id(&self.handle, false);
            let same_session = matches!((server, sys::own_session_id()), (Ok(a), Ok(b)) if a == b);
            Caller { user, same_session }
        }

        /// The user at the other end: the client's user on a stream from
        /// [`WinListener::accept`](crate::WinListener::accept), the server's user on a
        /// connected client.
        ///
        /// - Server end: the client's access token, which the server may read at the
        ///   `Identification` level a winpipe client grants by default
        ///   ([`ConnectOptions::impersonation`](crate::ConnectOptions::impersonation)).
        ///   A client that granted only `Anonymous` gives `PermissionDenied`. A client
        ///   made by other code without a security quality of service is known only
        ///   once the server has read from it (OS error 1368 before that), and may
        ///   change from one message to the next (Windows then takes its identity
        ///   anew at each read). The impersonation this takes runs on a short-lived
        ///   thread of its own, so the calling thread never changes identity, and
        ///   nothing is logged until it has reverted.
        /// - Client end: the user of the server's process when this process may read
        ///   its token and the pipe's owner agrees; otherwise the pipe's owner (a
        ///   LocalSystem service's pipe is owned by LocalSystem). `PermissionDenied`
        ///   when that cannot be vouched for: the pipe names no owner, is owned by
        ///   BUILTIN\Administrators while the server's token cannot be read, or lets
        ///   anyone besides that user, its owner, LocalSystem and administrators add
        ///   instances of the pipe (then the instance reached may be someone else's).
        ///   See the security guide (`docs/security.md`).
        ///
        /// ```no_run
        /// let listener = winpipe::WinListener::bind(r"\\.\pipe\my-service")?;
        /// let (stream, _) = listener.accept()?;
        /// println!("client user: {}", stream.peer_user()?);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn peer_user(&self) -> io::Result<Sid> {
            self.peer(None).map(|peer| peer.user)
        }

        /// The integrity level of the process at the other end, from its token (or,
        /// for a server whose token this process may not read, the pipe's label; none
        /// means `MEDIUM`). A service can refuse clients below a level:
        ///
        /// ```no_run
        /// use winpipe::IntegrityLevel;
        /// let listener = winpipe::WinListener::bind(r"\\.\pipe\my-service")?;
        /// let (stream, _) = listener.accept()?;
        /// if stream.peer_integrity_level()? < IntegrityLevel::MEDIUM {
        ///     return Ok(()); // a sandboxed client: drop the connection
        /// }
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn peer_integrity_level(&self) -> io::Result<IntegrityLevel> {
            self.peer(None).map(|peer| peer.integrity)
        }

        /// Whether the other end is this process's user *with this process's trust*:
        /// the same user ([`peer_user`](Self::peer_user)), not in an app container, not
        /// restricted, and at an integrity level at least this process's. A sandboxed
        /// or low-integrity process of the same user is `false`.
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
            let me = sys::own_token()?;
            Ok(distrust(&self.peer(Some(&me))?, &me.user, me.level()?).is_none())
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
        /// server of `name` is known to run as the `expected` user, not sandboxed and
        /// at least at this process's integrity level.
        pub(crate) fn check_server_user(
            &self,
            name: &str,
            expected: &ServerUser,
        ) -> io::Result<()> {
            let me = sys::own_token()?;
            let expected = match expected {
                ServerUser::Is(user) => user.clone(),
                ServerUser::Current => me.user.clone(),
            };
            let why = match self.peer(Some(&me)) {
                Ok(peer) => distrust(&peer, &expected, me.level()?),
                Err(err) => Some(format!("cannot be identified ({err})")),
            };
            match why {
                None => Ok(()),
                Some(why) => Err(denied(format!(
                    "the server of {name} {why}, not the expected {expected}"
                ))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secdesc::{Ace, AceKind, Dacl, Label};

    fn sid(text: &str) -> Sid {
        text.parse().unwrap()
    }

    const USER: &str = "S-1-5-21-1-2-3-1001";
    const OTHER: &str = "S-1-5-21-1-2-3-1002";
    const ADMINS: &str = "S-1-5-32-544";
    const SYSTEM: &str = "S-1-5-18";
    const EVERYONE: &str = "S-1-1-0";
    const FILE_ALL_ACCESS: u32 = 0x1f_01ff;
    const FILE_GENERIC_READ: u32 = 0x12_0089;
    const CLIENT_RIGHTS: u32 = 0x12_018b;
    const GENERIC_WRITE: u32 = 0x4000_0000;

    fn allow(who: &str, mask: u32) -> Ace {
        Ace::Decoded {
            kind: AceKind::Allowed,
            flags: 0,
            mask,
            sid: sid(who),
        }
    }

    /// A pipe owned by `owner` (if any) whose DACL is Windows' default for named pipes
    /// (full control for SYSTEM, administrators and the owner, read for Everyone).
    fn pipe(owner: Option<&str>) -> SecurityDescriptor {
        let mut aces = vec![
            allow(SYSTEM, FILE_ALL_ACCESS),
            allow(ADMINS, FILE_ALL_ACCESS),
        ];
        aces.extend(owner.map(|o| allow(o, FILE_ALL_ACCESS)));
        aces.push(allow(EVERYONE, FILE_GENERIC_READ));
        SecurityDescriptor {
            owner: owner.map(sid),
            group: None,
            dacl: Dacl::List(aces),
            label: None,
        }
    }

    fn token(user: &str, owner: &str, level: IntegrityLevel) -> TokenFacts {
        TokenFacts {
            user: sid(user),
            owner: sid(owner),
            integrity: Sid::integrity_level(level.rid()),
            app_container: None,
            restricted: false,
        }
    }

    fn process(user: &str, owner: &str) -> io::Result<TokenFacts> {
        Ok(token(user, owner, IntegrityLevel::MEDIUM))
    }

    fn unreadable() -> io::Result<TokenFacts> {
        Err(io::Error::from(ErrorKind::PermissionDenied))
    }

    /// A client of user USER in the server's session.
    fn caller() -> Caller {
        Caller {
            user: sid(USER),
            same_session: true,
        }
    }

    fn refusal(pipe: &SecurityDescriptor, process: io::Result<TokenFacts>) -> String {
        let err = server_from(pipe, process, &caller()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        err.to_string()
    }

    #[test]
    fn a_readable_token_names_the_server_when_the_owner_agrees() {
        // Standard user: owner = user.
        let peer = server_from(&pipe(Some(USER)), process(USER, USER), &caller()).unwrap();
        assert_eq!(peer.user, sid(USER));
        assert_eq!(peer.integrity, IntegrityLevel::MEDIUM);
        // Elevated administrator: the pipe and the token's default owner are the group.
        let elevated = Ok(token(USER, ADMINS, IntegrityLevel::HIGH));
        let peer = server_from(&pipe(Some(ADMINS)), elevated, &caller()).unwrap();
        assert_eq!(peer.user, sid(USER));
        assert_eq!(peer.integrity, IntegrityLevel::HIGH);
    }

    #[test]
    fn a_pipe_without_an_owner_is_refused_even_with_a_readable_token() {
        let why = refusal(&pipe(None), process(USER, USER));
        assert!(why.contains("no owner"), "{why}");
        let why = refusal(&pipe(None), unreadable());
        assert!(why.contains("no owner"), "{why}");
    }

    #[test]
    fn a_token_the_owner_contradicts_is_not_trusted() {
        // The creator (OTHER) exited and its process id now names USER's process.
        let why = refusal(&pipe(Some(OTHER)), process(USER, USER));
        assert!(why.contains("reused"), "{why}");
    }

    #[test]
    fn without_the_token_the_owner_and_label_name_the_server_unless_it_is_a_group() {
        // A LocalSystem service seen by a standard user.
        let peer = server_from(&pipe(Some(SYSTEM)), unreadable(), &caller()).unwrap();
        assert_eq!(peer.user, sid(SYSTEM));
        assert_eq!(peer.integrity, IntegrityLevel::MEDIUM, "no label: Medium");
        // A label at or above Medium is the level.
        let mut high = pipe(Some(OTHER));
        high.label = Some(label(IntegrityLevel::HIGH, 1));
        let peer = server_from(&high, unreadable(), &caller()).unwrap();
        assert_eq!(peer.integrity, IntegrityLevel::HIGH);
        let why = refusal(&pipe(Some(ADMINS)), unreadable());
        assert!(why.contains("elevated"), "{why}");
    }

    fn label(level: IntegrityLevel, policy: u32) -> Label {
        Label {
            level: level.rid(),
            policy,
        }
    }

    #[test]
    fn a_pipe_labelled_below_medium_is_not_vouched_for() {
        // Without the token: a sandboxed squatter of the same user (its objects are
        // labelled Low) looks just like a sandboxed server.
        let mut low = pipe(Some(USER));
        low.label = Some(label(IntegrityLevel::LOW, 1));
        let why = refusal(&low, unreadable());
        assert!(why.contains("Low integrity"), "{why}");
        // With it: Low processes of the user may add instances.
        let why = refusal(&low, process(USER, USER));
        assert!(why.contains("add instances"), "{why}");
        // A label that does not forbid writing up lets any level write.
        let mut read_only = pipe(Some(USER));
        read_only.label = Some(label(IntegrityLevel::HIGH, 2));
        let why = refusal(&read_only, process(USER, USER));
        assert!(why.contains("Untrusted integrity"), "{why}");
    }

    #[test]
    fn the_callers_own_user_from_another_session_needs_the_token() {
        // A service that impersonated the caller can make a pipe owned by it.
        let elsewhere = Caller {
            user: sid(USER),
            same_session: false,
        };
        let err = server_from(&pipe(Some(USER)), unreadable(), &elsewhere).unwrap_err();
        assert!(err.to_string().contains("another session"), "{err}");
        server_from(&pipe(Some(USER)), unreadable(), &caller()).unwrap();
        // With the token, or for another user (a service), sessions do not matter.
        server_from(&pipe(Some(USER)), process(USER, USER), &elsewhere).unwrap();
        server_from(&pipe(Some(SYSTEM)), unreadable(), &elsewhere).unwrap();
    }

    #[test]
    fn a_dacl_that_lets_others_create_instances_cannot_be_vouched_for() {
        // In the token branch and in the owner branch alike.
        for process in [process(USER, USER), unreadable()] {
            let process = || match &process {
                Ok(t) => Ok(t.clone()),
                Err(_) => unreadable(),
            };
            let mut open = pipe(Some(USER));
            let Dacl::List(aces) = &mut open.dacl else {
                unreachable!()
            };
            aces.push(allow(EVERYONE, GENERIC_WRITE));
            let why = refusal(&open, process());
            assert!(why.contains("vouched") && why.contains(EVERYONE), "{why}");
            let mut null = pipe(Some(USER));
            null.dacl = Dacl::Null;
            let why = refusal(&null, process());
            assert!(why.contains("vouched"), "{why}");
        }
        // Client rights for everyone add no instance creator.
        let mut service = pipe(Some(SYSTEM));
        let Dacl::List(aces) = &mut service.dacl else {
            unreachable!()
        };
        aces.push(allow(EVERYONE, CLIENT_RIGHTS));
        server_from(&service, unreadable(), &caller()).unwrap();
    }

    #[test]
    fn the_same_user_is_not_trusted_sandboxed_or_below_the_callers_level() {
        let me = sid(USER);
        let peer = |level| Peer {
            user: me.clone(),
            integrity: level,
            app_container: false,
            restricted: false,
        };
        let medium = IntegrityLevel::MEDIUM;
        assert_eq!(distrust(&peer(medium), &me, medium), None);
        assert_eq!(distrust(&peer(IntegrityLevel::HIGH), &me, medium), None);
        let why = distrust(&peer(IntegrityLevel::LOW), &me, medium).unwrap();
        assert!(why.contains("Low integrity"), "{why}");
        let why = distrust(&peer(medium), &me, IntegrityLevel::HIGH).unwrap();
        assert!(why.contains("below"), "{why}");
        let contained = Peer {
            app_container: true,
            ..peer(medium)
        };
        assert!(distrust(&contained, &me, medium)
            .unwrap()
            .contains("app container"));
        let restricted = Peer {
            restricted: true,
            ..peer(medium)
        };
        assert!(distrust(&restricted, &me, medium)
            .unwrap()
            .contains("restricted"));
        let why = distrust(&peer(medium), &sid(OTHER), medium).unwrap();
        assert!(why.contains(USER), "{why}");
    }

    #[test]
    fn integrity_levels_come_from_s_1_16_sids_only() {
        let facts = token(USER, USER, IntegrityLevel::SYSTEM);
        assert_eq!(facts.level().unwrap(), IntegrityLevel::SYSTEM);
        let odd = TokenFacts {
            integrity: sid(USER),
            ..facts
        };
        assert_eq!(odd.level().unwrap_err().kind(), ErrorKind::InvalidData);
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
}
