//! The security descriptors winpipe gives the pipes it creates, as SDDL built from this
//! process's token, and what a caller's own descriptor must not do. Plain string and
//! rule functions, tested on every host; `listener_descriptor` applies them on Windows.

use super::identity::TokenFacts;
use crate::secdesc::{Dacl, SecurityDescriptor};
use crate::{IntegrityLevel, Sid};
use std::io::{self, ErrorKind};

/// The default descriptor: full access (`FA`, the file rights themselves: Wine keeps
/// generic rights unmapped) for LocalSystem, administrators and the owner
/// (`OW`, OWNER RIGHTS: whoever owns the pipe, which is this process's default owner),
/// and for the app container this process runs in, if any, as Windows' own default
/// grants it; nobody else anything. The label keeps processes below Medium (or below
/// this process, if it runs lower) from reading or writing even where the DACL would
/// let them, as Low-integrity processes of the same user.
pub(crate) fn private_sddl(me: &TokenFacts) -> io::Result<String> {
    let label = me.level()?.min(IntegrityLevel::MEDIUM);
    Ok(format!(
        "O:{}D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;OW){}S:(ML;;NWNR;;;{})",
        owner(me),
        package_ace(me, "FA"),
        Sid::integrity_level(label.rid()),
    ))
}

/// `owner_only`: full access for this process's user (and its app container), nobody
/// else; labelled at this process's own level, so that an elevated server's pipe is
/// out of reach of the same user's medium-integrity processes, which would otherwise
/// match the user entry, add instances and receive elevated clients.
pub(crate) fn owner_only_sddl(me: &TokenFacts) -> io::Result<String> {
    let label = me.level()?;
    Ok(format!(
        "O:{}D:P(A;;FA;;;{}){}S:(ML;;NWNR;;;{})",
        owner(me),
        me.user,
        package_ace(me, "FA"),
        Sid::integrity_level(label.rid()),
    ))
}

/// An ACE granting `rights` to this process's app container, or nothing outside one:
/// inside an app container every access check also needs the package SID, so without
/// it the listener's own later instances and same-package clients would be refused.
fn package_ace(me: &TokenFacts, rights: &str) -> String {
    me.app_container.as_ref().map_or(String::new(), |package| {
        format!("(A;;{rights};;;{package})")
    })
}

/// `sddl` with this process's default owner written out if it names none. Windows
/// would set that owner anyway; written out, the owner is there under Wine too (which
/// leaves pipes without one), so a client can check it everywhere.
pub(crate) fn with_owner(sddl: &str, me: &TokenFacts) -> String {
    if has_owner(sddl) {
        sddl.to_owned()
    } else {
        format!("O:{}{sddl}", owner(me))
    }
}

/// The owner winpipe writes out: this process's default owner, except that LocalSystem
/// owns its own pipes. A LocalSystem process the service manager did not start has
/// BUILTIN\Administrators as its default owner, which a client that cannot read its
/// token must refuse (a group names no server).
fn owner(me: &TokenFacts) -> &Sid {
    match me.user == Sid::local_system() {
        true => &me.user,
        false => &me.owner,
    }
}

/// Whether `sddl` has an owner section (`O:` outside any ACE).
fn has_owner(sddl: &str) -> bool {
    let mut depth = 0usize;
    let bytes = sddl.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        match b {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        depth == 0 && b.eq_ignore_ascii_case(&b'O') && bytes.get(i + 1) == Some(&b':')
    })
}

/// Refuses a caller's descriptor (`sddl`, as Windows parsed it: `parsed`) that lets
/// everyone do everything: without a DACL, or with a NULL one (`D:NO_ACCESS_CONTROL`),
/// anyone may connect, add instances of the pipe and receive its clients, and change
/// the descriptor.
pub(crate) fn check_grants(sddl: &str, parsed: &SecurityDescriptor) -> io::Result<()> {
    // The string is checked too: Wine turns NO_ACCESS_CONTROL into an empty DACL.
    let null_in_text = sddl.to_ascii_uppercase().contains("NO_ACCESS_CONTROL");
    let why = match parsed.dacl {
        _ if null_in_text => "its DACL is NO_ACCESS_CONTROL",
        Dacl::List(_) => return Ok(()),
        Dacl::Absent => "it has no DACL (\"D:\")",
        Dacl::Null => "its DACL is NO_ACCESS_CONTROL",
    };
    Err(io::Error::new(
        ErrorKind::InvalidInput,
        format!(
            "invalid security descriptor {sddl:?}: {why}, which lets anyone connect, add \
             instances of the pipe (and so receive its clients) and change its descriptor"
        ),
    ))
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
pub(crate) use windows::{listener_descriptor, private_descriptor};

#[cfg(windows)]
mod windows {
    use super::*;
    use crate::net::ListenerOptions;
    use crate::sys::{self, Descriptor};

    /// The private default descriptor (`private_sddl`), for this process.
    pub(crate) fn private_descriptor() -> io::Result<Descriptor> {
        Descriptor::parse(&private_sddl(&sys::own_token()?)?)
    }

    /// The descriptor a listener's instances get: the caller's
    /// (`security_descriptor`, checked, with this process's owner written out if it
    /// names none), `owner_only`'s, or the private default.
    pub(crate) fn listener_descriptor(options: &ListenerOptions) -> io::Result<Descriptor> {
        let me = sys::own_token()?;
        let sddl = match (&options.security_descriptor, options.owner_only) {
            (Some(sddl), _) => {
                check_sddl_sids(sddl)?;
                // Parsed as given first, so that an error names the caller's string.
                let parsed = Descriptor::parse(sddl)?;
                check_grants(sddl, &SecurityDescriptor::parse(parsed.bytes())?)?;
                with_owner(sddl, &me)
            }
            (None, true) => owner_only_sddl(&me)?,
            (None, false) => private_sddl(&me)?,
        };
        Descriptor::parse(&sddl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(level: IntegrityLevel, package: Option<&str>) -> TokenFacts {
        TokenFacts {
            user: "S-1-5-21-1-2-3-1001".parse().unwrap(),
            owner: "S-1-5-21-1-2-3-1001".parse().unwrap(),
            integrity: Sid::integrity_level(level.rid()),
            app_container: package.map(|p| p.parse().unwrap()),
            restricted: false,
        }
    }

    const PACKAGE: &str = "S-1-15-2-1-2-3-4-5-6-7";

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

    #[test]
    fn the_default_grants_system_administrators_and_the_owner_only() {
        let sddl = private_sddl(&me(IntegrityLevel::MEDIUM, None)).unwrap();
        assert_eq!(
            sddl,
            "O:S-1-5-21-1-2-3-1001D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;OW)\
             S:(ML;;NWNR;;;S-1-16-8192)"
        );
        // Never labelled above Medium (administrators keep access to a service's
        // pipe), never above this process (Windows would refuse the label).
        let high = private_sddl(&me(IntegrityLevel::SYSTEM, None)).unwrap();
        assert!(high.ends_with("S:(ML;;NWNR;;;S-1-16-8192)"), "{high}");
        let low = private_sddl(&me(IntegrityLevel::LOW, Some(PACKAGE))).unwrap();
        assert!(low.contains(&format!("(A;;FA;;;{PACKAGE})")), "{low}");
        assert!(low.ends_with("S:(ML;;NWNR;;;S-1-16-4096)"), "{low}");
    }

    #[test]
    fn owner_only_grants_the_user_and_its_package_at_its_own_level() {
        let elevated = owner_only_sddl(&me(IntegrityLevel::HIGH, None)).unwrap();
        assert_eq!(
            elevated,
            "O:S-1-5-21-1-2-3-1001D:P(A;;FA;;;S-1-5-21-1-2-3-1001)S:(ML;;NWNR;;;S-1-16-12288)"
        );
        let contained = owner_only_sddl(&me(IntegrityLevel::LOW, Some(PACKAGE))).unwrap();
        assert!(
            contained.contains(&format!(")(A;;FA;;;{PACKAGE})S:")),
            "{contained}"
        );
    }

    #[test]
    fn local_system_owns_its_pipes_whatever_its_default_owner() {
        let system = TokenFacts {
            user: Sid::local_system(),
            owner: Sid::administrators(),
            ..me(IntegrityLevel::SYSTEM, None)
        };
        assert!(private_sddl(&system).unwrap().starts_with("O:S-1-5-18D:"));
        assert!(owner_only_sddl(&system)
            .unwrap()
            .starts_with("O:S-1-5-18D:"));
        assert_eq!(with_owner("D:", &system), "O:S-1-5-18D:");
    }

    #[test]
    fn a_descriptor_without_an_owner_gets_this_process_owner() {
        let me = me(IntegrityLevel::MEDIUM, None);
        assert_eq!(
            with_owner("D:(A;;FA;;;WD)", &me),
            "O:S-1-5-21-1-2-3-1001D:(A;;FA;;;WD)"
        );
        for owned in ["O:BAD:(A;;FA;;;WD)", "G:SYo:SY", "D:(A;;FA;;;WD)O:SY"] {
            assert_eq!(with_owner(owned, &me), owned);
        }
        // An "O:" inside an ACE is not an owner section.
        assert!(!has_owner("D:(A;;FA;;;O:x)"));
    }

    #[test]
    fn descriptors_that_let_everyone_do_everything_are_refused() {
        let base = SecurityDescriptor {
            owner: None,
            group: None,
            dacl: Dacl::List(Vec::new()),
            label: None,
        };
        check_grants("D:", &base).unwrap();
        // Whatever a parser made of it (Wine: an empty DACL).
        let err = check_grants("D:no_access_control", &base).unwrap_err();
        assert!(err.to_string().contains("NO_ACCESS_CONTROL"), "{err}");
        let cases = [
            ("D:NO_ACCESS_CONTROL", Dacl::Null, "NO_ACCESS_CONTROL"),
            ("O:BA", Dacl::Absent, "no DACL"),
        ];
        for (sddl, dacl, words) in cases {
            let parsed = SecurityDescriptor {
                dacl,
                ..base.clone()
            };
            let err = check_grants(sddl, &parsed).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            let text = err.to_string();
            assert!(
                text.contains(words) && text.contains("add instances"),
                "{text}"
            );
            assert!(text.contains(&format!("{sddl:?}")), "{text}");
        }
    }
}

/// What `bind` gives a pipe, read back from its waiting instance under Wine or Windows.
#[cfg(all(test, windows))]
mod bound {
    use super::*;
    use crate::secdesc::{Ace, AceKind, Dacl};

    fn allow(mask: u32, sid: &Sid) -> Ace {
        Ace::Decoded {
            kind: AceKind::Allowed,
            flags: 0,
            mask,
            sid: sid.clone(),
        }
    }

    #[test]
    fn owner_only_instances_grant_the_current_user_and_nobody_else() {
        let me = crate::sys::own_token().unwrap();
        let name = format!(r"\\.\pipe\winpipe-unit-{}-owner-only", std::process::id());
        let listener = crate::ListenerOptions::new()
            .owner_only(true)
            .backlog(2)
            .bind(&name)
            .unwrap();
        let pipe = listener.waiting_security().unwrap();
        assert_eq!(
            pipe.dacl,
            Dacl::List(vec![allow(crate::ffi::FILE_ALL_ACCESS, &me.user)])
        );
        assert_eq!(pipe.owner, Some(me.owner.clone()));
        let label = pipe.label.expect("an owner-only pipe is labelled");
        assert_eq!(IntegrityLevel::from_rid(label.level), me.level().unwrap());
        assert_eq!(label.policy, 0b11, "no write up, no read up");
        // The owner itself can still connect.
        crate::WinStream::connect(&name).unwrap();
    }

    #[test]
    fn sddl_instances_carry_the_access_list_given_and_this_process_owner() {
        let me = crate::sys::own_token().unwrap();
        let name = format!(r"\\.\pipe\winpipe-unit-{}-sddl", std::process::id());
        let listener = crate::ListenerOptions::new()
            .security_descriptor(&format!("D:P(A;;FA;;;{})(A;;0x12018b;;;AU)", me.user))
            .backlog(2)
            .bind(&name)
            .unwrap();
        let authenticated_users = Sid::new(5, &[11]).unwrap();
        let pipe = listener.waiting_security().unwrap();
        let expected = vec![
            allow(crate::ffi::FILE_ALL_ACCESS, &me.user),
            allow(crate::sys::CLIENT_ACCESS, &authenticated_users),
        ];
        assert_eq!(pipe.dacl, Dacl::List(expected));
        assert_eq!(pipe.owner, Some(me.owner));
    }

    #[test]
    fn default_instances_are_private_to_system_administrators_and_the_owner() {
        let me = crate::sys::own_token().unwrap();
        let name = format!(r"\\.\pipe\winpipe-unit-{}-default-dacl", std::process::id());
        let listener = crate::WinListener::bind(&name).unwrap();
        let pipe = listener.waiting_security().unwrap();
        let mut expected = vec![
            allow(crate::ffi::FILE_ALL_ACCESS, &Sid::local_system()),
            allow(crate::ffi::FILE_ALL_ACCESS, &Sid::administrators()),
            allow(crate::ffi::FILE_ALL_ACCESS, &Sid::owner_rights()),
        ];
        expected.extend(
            me.app_container
                .as_ref()
                .map(|p| allow(crate::ffi::FILE_ALL_ACCESS, p)),
        );
        assert_eq!(pipe.dacl, Dacl::List(expected), "not Windows' default DACL");
        assert_eq!(pipe.owner, Some(me.owner.clone()));
        let label = pipe.label.expect("a default pipe is labelled");
        let level = me.level().unwrap().min(IntegrityLevel::MEDIUM);
        assert_eq!(IntegrityLevel::from_rid(label.level), level);
    }
}
