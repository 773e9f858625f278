//! `SecurityDescriptor`, a safe reader of Windows security descriptors in
//! self-relative form, and `untrusted_instance_creator`, the rule that tells whether a
//! pipe's descriptor lets anyone untrusted add server instances to its name.
//!
//! Layout ([MS-DTYP] 2.4.6): revision (1), a reserved byte, 16-bit control flags, then
//! four 32-bit offsets from the descriptor's start (owner, group, SACL, DACL; 0 means
//! absent). An ACL ([MS-DTYP] 2.4.5) is an 8-byte header (revision, reserved, size,
//! ACE count, reserved) and its ACEs ([MS-DTYP] 2.4.4), each a 4-byte header (type,
//! flags, size) and a body. All integers are little-endian.

use crate::Sid;
use std::io::{self, ErrorKind};

/// Bytes before the owner, group, SACL and DACL: revision, reserved, control, offsets.
const HEADER_LEN: usize = 20;
/// Control flags: the offsets are relative (the only form read here), and which ACLs
/// the descriptor carries.
const SE_SELF_RELATIVE: u16 = 0x8000;
const SE_DACL_PRESENT: u16 = 0x0004;
const SE_SACL_PRESENT: u16 = 0x0010;
/// An ACE flag: the ACE is only inherited by children, it does not apply to the object.
const INHERIT_ONLY_ACE: u8 = 0x08;
/// The identifier authority of integrity-level SIDs (`S-1-16-…`).
const MANDATORY_LABEL_AUTHORITY: u64 = 16;

/// Rights that let a caller create instances of a pipe: FILE_CREATE_PIPE_INSTANCE
/// and the generic rights that map to it (GENERIC_WRITE, GENERIC_ALL, MAXIMUM_ALLOWED).
const CREATE_RIGHTS: u32 = 0x4 | 0x4000_0000 | 0x1000_0000 | 0x0200_0000;
/// Rights that let a caller grant itself anything: WRITE_DAC and WRITE_OWNER.
const CONTROL_RIGHTS: u32 = 0x4_0000 | 0x8_0000;
/// ACE types that can only take rights away: denied, and its object and callback forms.
const DENIED_TYPES: [u8; 4] = [1, 6, 10, 12];

/// A descriptor as far as winpipe needs it: who owns the object, who may do what
/// (the DACL) and its integrity label (from the SACL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SecurityDescriptor {
    pub owner: Option<Sid>,
    pub group: Option<Sid>,
    pub dacl: Dacl,
    pub label: Option<Label>,
}

/// The discretionary ACL. `Absent` and `Null` both mean "no access control".
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Dacl {
    /// SE_DACL_PRESENT is clear.
    Absent,
    /// SE_DACL_PRESENT is set with no ACL: everyone may do everything.
    Null,
    /// The entries, in order.
    List(Vec<Ace>),
}

/// One access control entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ace {
    /// One of the four types made of an access mask and a SID.
    Decoded {
        kind: AceKind,
        flags: u8,
        mask: u32,
        sid: Sid,
    },
    /// Any other type, kept undecoded (its body may be anything).
    Other { kind: u8, flags: u8 },
}

/// The ACE types that `parse` decodes, with their type codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AceKind {
    Allowed = 0,
    Denied = 1,
    Audit = 2,
    MandatoryLabel = 0x11,
}

/// A mandatory integrity label: the level (the RID of `S-1-16-RID`, 0x2000 for
/// Medium) and the policy (NO_WRITE_UP 1, NO_READ_UP 2, NO_EXECUTE_UP 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Label {
    pub level: u32,
    pub policy: u32,
}

impl Sid {
    /// BUILTIN\Administrators, `S-1-5-32-544`.
    pub(crate) fn administrators() -> Sid {
        well_known(5, &[32, 544])
    }

    /// Everyone, `S-1-1-0`.
    #[cfg(test)]
    pub(crate) fn everyone() -> Sid {
        well_known(1, &[0])
    }

    /// OWNER RIGHTS, `S-1-3-4`: an ACE for it applies to the object's owner.
    pub(crate) fn owner_rights() -> Sid {
        well_known(3, &[4])
    }

    /// CREATOR OWNER, `S-1-3-0`: a placeholder for inheritance, never in a token.
    pub(crate) fn creator_owner() -> Sid {
        well_known(3, &[0])
    }

    /// The integrity-level SID `S-1-16-level` (0x1000 Low … 0x4000 System).
    pub(crate) fn integrity_level(level: u32) -> Sid {
        well_known(MANDATORY_LABEL_AUTHORITY, &[level])
    }
}

/// A SID from constants known to be well formed.
fn well_known(authority: u64, sub_authorities: &[u32]) -> Sid {
    Sid::new(authority, sub_authorities).expect("a well-known SID is well formed")
}

impl Ace {
    /// The ACE's type code (`AceType`).
    pub(crate) fn type_code(&self) -> u8 {
        match self {
            Ace::Decoded { kind, .. } => *kind as u8,
            Ace::Other { kind, .. } => *kind,
        }
    }

    /// The ACE's flags (`AceFlags`).
    pub(crate) fn flags(&self) -> u8 {
        match self {
            Ace::Decoded { flags, .. } | Ace::Other { flags, .. } => *flags,
        }
    }
}

impl SecurityDescriptor {
    /// Reads a self-relative descriptor. Anything malformed is `InvalidData` saying
    /// what is wrong and where; no input makes it panic.
    pub(crate) fn parse(bytes: &[u8]) -> io::Result<SecurityDescriptor> {
        let Some(header) = bytes.get(..HEADER_LEN) else {
            return Err(invalid(format!(
                "its header has {HEADER_LEN} bytes, {} given",
                bytes.len()
            )));
        };
        if header[0] != 1 {
            return Err(invalid(format!("revision {} is not 1", header[0])));
        }
        let control = u16_at(header, 2).unwrap_or(0);
        if control & SE_SELF_RELATIVE == 0 {
            return Err(invalid(format!(
                "it is not in self-relative form (control {control:#06x})"
            )));
        }
        let offset = |field: usize| u32_at(header, 4 + 4 * field).map_or(0, to_usize);
        let (owner, group, sacl, dacl) = (offset(0), offset(1), offset(2), offset(3));
        let read_owner_or_group = |at: usize, name: &str| match at {
            0 => Ok(None),
            _ => read_sid(bytes, at, &format!("the {name} SID"), "the descriptor").map(Some),
        };
        let dacl = match (control & SE_DACL_PRESENT != 0, dacl) {
            (false, _) => Dacl::Absent,
            (true, 0) => Dacl::Null,
            (true, at) => Dacl::List(read_acl(bytes, at, "DACL")?),
        };
        let label = match (control & SE_SACL_PRESENT != 0, sacl) {
            (false, _) | (true, 0) => None,
            (true, at) => find_label(&read_acl(bytes, at, "SACL")?)?,
        };
        Ok(SecurityDescriptor {
            owner: read_owner_or_group(owner, "owner")?,
            group: read_owner_or_group(group, "group")?,
            dacl,
            label,
        })
    }

    /// The self-relative form: header, owner, group, SACL (the label alone), DACL.
    /// `Ace::Other` entries are written as a bare 4-byte header.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0; HEADER_LEN];
        let mut control = SE_SELF_RELATIVE;
        let mut offsets = [0; 4];
        if let Some(owner) = &self.owner {
            offsets[0] = append(&mut out, owner.as_bytes());
        }
        if let Some(group) = &self.group {
            offsets[1] = append(&mut out, group.as_bytes());
        }
        if let Some(label) = self.label {
            control |= SE_SACL_PRESENT;
            let ace = Ace::Decoded {
                kind: AceKind::MandatoryLabel,
                flags: 0,
                mask: label.policy,
                sid: Sid::integrity_level(label.level),
            };
            offsets[2] = append(&mut out, &encode_acl(&[ace]));
        }
        if self.dacl != Dacl::Absent {
            control |= SE_DACL_PRESENT;
        }
        if let Dacl::List(aces) = &self.dacl {
            offsets[3] = append(&mut out, &encode_acl(aces));
        }
        out[0] = 1;
        out[2..4].copy_from_slice(&control.to_le_bytes());
        for (slot, offset) in out[4..HEADER_LEN].chunks_exact_mut(4).zip(offsets) {
            slot.copy_from_slice(&offset.to_le_bytes());
        }
        out
    }
}

/// The ACL at `at`: its header checked, then each ACE read within its size.
fn read_acl(bytes: &[u8], at: usize, name: &str) -> io::Result<Vec<Ace>> {
    let past_end = || invalid(format!("the {name} at offset {at} runs past the end"));
    let header = slice_at(bytes, at, 8).ok_or_else(past_end)?;
    if header[0] != 2 && header[0] != 4 {
        return Err(invalid(format!(
            "the {name} has revision {}, not 2 or 4",
            header[0]
        )));
    }
    let size = u16_at(header, 2).map_or(0, usize::from);
    if size < 8 {
        return Err(invalid(format!(
            "the {name} says it has {size} bytes, less than its 8-byte header"
        )));
    }
    let acl = slice_at(bytes, at, size).ok_or_else(past_end)?;
    let mut aces = Vec::new();
    let mut cursor = 8;
    for index in 0..u16_at(header, 4).unwrap_or(0) {
        let (ace, size) = read_ace(acl, cursor, &format!("ACE {index} of the {name}"))?;
        aces.push(ace);
        cursor += size;
    }
    Ok(aces)
}

/// The ACE at `at` in `acl` (described as `what` in errors) and its size.
fn read_ace(acl: &[u8], at: usize, what: &str) -> io::Result<(Ace, usize)> {
    let past_end = || invalid(format!("{what} runs past the end of its ACL"));
    let header = slice_at(acl, at, 4).ok_or_else(past_end)?;
    let size = u16_at(header, 2).map_or(0, usize::from);
    if size < 4 {
        return Err(invalid(format!(
            "{what} says it has {size} bytes, less than its 4-byte header"
        )));
    }
    let ace = slice_at(acl, at, size).ok_or_else(past_end)?;
    let (code, flags) = (ace[0], ace[1]);
    let kind = match code {
        0 => AceKind::Allowed,
        1 => AceKind::Denied,
        2 => AceKind::Audit,
        0x11 => AceKind::MandatoryLabel,
        _ => return Ok((Ace::Other { kind: code, flags }, size)),
    };
    let mask =
        u32_at(ace, 4).ok_or_else(|| invalid(format!("{what} has no room for its access mask")))?;
    let sid = read_sid(ace, 8, &format!("the SID of {what}"), "its ACE")?;
    let ace = Ace::Decoded {
        kind,
        flags,
        mask,
        sid,
    };
    Ok((ace, size))
}

/// The SID at `at` in `region`, read to exactly its own length (8 + 4 × its count).
fn read_sid(region: &[u8], at: usize, what: &str, within: &str) -> io::Result<Sid> {
    let past_end = || {
        invalid(format!(
            "{what} at offset {at} runs past the end of {within}"
        ))
    };
    let count = *region.get(at.saturating_add(1)).ok_or_else(past_end)?;
    let bytes = slice_at(region, at, 8 + 4 * usize::from(count)).ok_or_else(past_end)?;
    Sid::from_bytes(bytes).map_err(|err| invalid(format!("{what} at offset {at}: {err}")))
}

/// The label that applies to the object: the first mandatory-label ACE that is not
/// inherit-only. Every label ACE must name an integrity level.
fn find_label(sacl: &[Ace]) -> io::Result<Option<Label>> {
    let mut label = None;
    for ace in sacl {
        let Ace::Decoded {
            kind: AceKind::MandatoryLabel,
            flags,
            mask,
            sid,
        } = ace
        else {
            continue;
        };
        let level = level_of(sid).ok_or_else(|| {
            invalid(format!(
                "the mandatory label names {sid}, not an integrity level S-1-16-N"
            ))
        })?;
        if label.is_none() && flags & INHERIT_ONLY_ACE == 0 {
            let policy = *mask;
            label = Some(Label { level, policy });
        }
    }
    Ok(label)
}

/// The level of an integrity-level SID `S-1-16-level`; `None` for any other SID.
pub(crate) fn level_of(sid: &Sid) -> Option<u32> {
    let mut subs = sid.sub_authorities();
    match (subs.next(), subs.next()) {
        (Some(level), None) if sid.identifier_authority() == MANDATORY_LABEL_AUTHORITY => {
            Some(level)
        }
        _ => None,
    }
}

/// Why `sd` lets someone outside `trusted` create instances of the pipe or change who
/// may, or `None` when it does not. `trusted` must hold the owner for the owner to
/// pass; OWNER RIGHTS (the owner) and CREATOR OWNER (never in a token) always pass.
/// What the check cannot read is refused, and deny entries are ignored: they could
/// only take rights away.
pub(crate) fn untrusted_instance_creator(
    sd: &SecurityDescriptor,
    trusted: &[Sid],
) -> Option<String> {
    let Dacl::List(aces) = &sd.dacl else {
        return Some("the pipe has no access control list: anyone may create instances".into());
    };
    let vouched = |sid: &Sid| {
        trusted.contains(sid) || *sid == Sid::owner_rights() || *sid == Sid::creator_owner()
    };
    if let Some(reason) = aces.iter().find_map(|ace| untrusted_grant(ace, &vouched)) {
        return Some(reason);
    }
    // The owner may always rewrite the DACL (implicit WRITE_DAC).
    match &sd.owner {
        Some(owner) if trusted.contains(owner) => None,
        Some(owner) => Some(format!(
            "its owner {owner} is not trusted and may change its DACL"
        )),
        None => Some("it names no owner, so whoever owns it may change its DACL".into()),
    }
}

/// What one DACL entry lets a SID that is not `vouched` for do to the pipe, if
/// anything that matters: create instances, or take the rights to.
fn untrusted_grant(ace: &Ace, vouched: &dyn Fn(&Sid) -> bool) -> Option<String> {
    let code = ace.type_code();
    let (mask, sid) = match ace {
        _ if ace.flags() & INHERIT_ONLY_ACE != 0 => return None,
        Ace::Decoded {
            kind: AceKind::Allowed,
            mask,
            sid,
            ..
        } => (*mask, sid),
        _ if DENIED_TYPES.contains(&code) => return None,
        _ => {
            return Some(format!(
                "its DACL has an entry of type {code} that winpipe cannot read"
            ))
        }
    };
    let what = if mask & CREATE_RIGHTS != 0 {
        "create instances"
    } else if mask & CONTROL_RIGHTS != 0 {
        "change its DACL or owner"
    } else {
        return None;
    };
    (!vouched(sid)).then(|| format!("its DACL lets {sid} {what} (access mask {mask:#x})"))
}

/// `len` bytes of `bytes` from `at`, or `None` when they are not all there.
fn slice_at(bytes: &[u8], at: usize, len: usize) -> Option<&[u8]> {
    bytes.get(at..at.checked_add(len)?)
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    slice_at(bytes, at, 2).map(|two| u16::from_le_bytes([two[0], two[1]]))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    slice_at(bytes, at, 4).map(|four| u32::from_le_bytes([four[0], four[1], four[2], four[3]]))
}

/// An offset as an index; one that does not fit is past the end of any input.
fn to_usize(offset: u32) -> usize {
    usize::try_from(offset).unwrap_or(usize::MAX)
}

fn invalid(why: String) -> io::Error {
    io::Error::new(
        ErrorKind::InvalidData,
        format!("invalid security descriptor: {why}"),
    )
}

/// Appends `bytes` to the descriptor being built; returns the offset they start at.
#[cfg(any(test, feature = "fuzzing"))]
fn append(out: &mut Vec<u8>, bytes: &[u8]) -> u32 {
    let at = u32::try_from(out.len()).expect("a descriptor fits in 4 GiB");
    out.extend_from_slice(bytes);
    at
}

/// An ACL (revision 2) holding `aces`.
#[cfg(any(test, feature = "fuzzing"))]
fn encode_acl(aces: &[Ace]) -> Vec<u8> {
    let mut body = Vec::new();
    for ace in aces {
        let start = body.len();
        body.extend_from_slice(&[ace.type_code(), ace.flags(), 0, 0]);
        if let Ace::Decoded { mask, sid, .. } = ace {
            body.extend_from_slice(&mask.to_le_bytes());
            body.extend_from_slice(sid.as_bytes());
        }
        let size = u16::try_from(body.len() - start).expect("an ACE fits in 64 KiB");
        body[start + 2..start + 4].copy_from_slice(&size.to_le_bytes());
    }
    let size = u16::try_from(8 + body.len()).expect("an ACL fits in 64 KiB");
    let count = u16::try_from(aces.len()).expect("at most 65535 ACEs");
    let mut acl = vec![2, 0];
    acl.extend_from_slice(&size.to_le_bytes());
    acl.extend_from_slice(&count.to_le_bytes());
    acl.extend_from_slice(&[0, 0]);
    acl.extend_from_slice(&body);
    acl
}

/// The `secdesc` fuzz target: `parse` never panics and refuses with `InvalidData`;
/// what parses writes back to bytes that parse to the same descriptor, agrees with a
/// second, separately written reading of the owner and the DACL's ACE count, and goes
/// through `untrusted_instance_creator`, which trusting no one always refuses.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz(data: &[u8]) {
    let sd = match SecurityDescriptor::parse(data) {
        Ok(sd) => sd,
        Err(err) => return assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}"),
    };
    let again = SecurityDescriptor::parse(&sd.to_bytes());
    assert_eq!(again.as_ref().ok(), Some(&sd), "{again:?}");
    let (owner, ace_count) = owner_and_ace_count(data);
    assert_eq!(sd.owner.as_ref().map(Sid::as_bytes), owner);
    match &sd.dacl {
        Dacl::List(aces) => assert_eq!(Some(aces.len()), ace_count),
        Dacl::Absent | Dacl::Null => assert_eq!(ace_count, None),
    }
    assert!(untrusted_instance_creator(&sd, &[]).is_some());
    let owner: Vec<Sid> = sd.owner.iter().cloned().collect();
    let _ = untrusted_instance_creator(&sd, &owner);
}

/// The fuzz target's second reading of an input `parse` accepted, straight from the
/// header's fields: the owner's bytes, and the DACL's ACE count when it has a DACL.
#[cfg(any(test, feature = "fuzzing"))]
fn owner_and_ace_count(data: &[u8]) -> (Option<&[u8]>, Option<usize>) {
    let field = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
    let owner = match field(4) {
        0 => None,
        at => Some(&data[at..at + 8 + 4 * data[at + 1] as usize]),
    };
    let dacl_present = data[2] & 4 != 0;
    let ace_count = match field(16) {
        at if dacl_present && at != 0 => Some(data[at + 4] as usize | (data[at + 5] as usize) << 8),
        _ => None,
    };
    (owner, ace_count)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE_ALL_ACCESS: u32 = 0x1f_01ff;
    const GENERIC_ALL: u32 = 0x1000_0000;

    // Binary SIDs, written out by hand ([MS-DTYP] 2.4.2.2).
    const SY: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0];
    const BA: [u8; 16] = [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0];
    const OW: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 3, 4, 0, 0, 0];
    const WD: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    const AN: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 5, 7, 0, 0, 0];
    const ME: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 16, 0, 0x20, 0, 0];
    /// S-1-5-21-1-2-3-1001, a user; with -513 at the end, its primary group.
    const USER: [u8; 28] = [
        1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xe9, 3, 0, 0,
    ];
    const PRIMARY_GROUP: [u8; 28] = [
        1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 1, 2, 0, 0,
    ];

    /// "O:BAG:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;OW)S:(ML;;NWNR;;;ME)" laid out by
    /// hand from [MS-DTYP]: SACL and DACL first, then owner and group.
    fn sddl_example() -> Vec<u8> {
        [
            // Revision 1; control SELF_RELATIVE | DACL_PROTECTED | SACL_ and DACL_PRESENT.
            &[1, 0, 0x14, 0x90][..],
            // Offsets: owner 120, group 136, SACL 20, DACL 48.
            &[120, 0, 0, 0, 136, 0, 0, 0, 20, 0, 0, 0, 48, 0, 0, 0],
            // SACL: revision 2, 28 bytes, 1 ACE: label (0x11), 20 bytes, NW|NR, Medium.
            &[2, 0, 28, 0, 1, 0, 0, 0],
            &[0x11, 0, 20, 0, 3, 0, 0, 0],
            &ME,
            // DACL: revision 2, 72 bytes, 3 ACEs: allowed, GENERIC_ALL, to SY, BA, OW.
            &[2, 0, 72, 0, 3, 0, 0, 0],
            &[0, 0, 20, 0, 0, 0, 0, 0x10],
            &SY,
            &[0, 0, 24, 0, 0, 0, 0, 0x10],
            &BA,
            &[0, 0, 20, 0, 0, 0, 0, 0x10],
            &OW,
            // Owner and group.
            &BA,
            &SY,
        ]
        .concat()
    }

    /// What Windows gives a named pipe created without attributes: full access
    /// (0x1f01ff) for SY, BA and the creating user (its owner), read (0x120089) for
    /// Everyone and Anonymous; the group is the user's primary group.
    fn default_pipe() -> Vec<u8> {
        [
            // Revision 1; control SELF_RELATIVE | DACL_PRESENT.
            &[1, 0, 4, 0x80][..],
            // Offsets: owner 148, group 176, no SACL, DACL 20.
            &[148, 0, 0, 0, 176, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0],
            // DACL: revision 2, 128 bytes, 5 allowed ACEs.
            &[2, 0, 128, 0, 5, 0, 0, 0],
            &[0, 0, 20, 0, 0xff, 1, 0x1f, 0],
            &SY,
            &[0, 0, 24, 0, 0xff, 1, 0x1f, 0],
            &BA,
            &[0, 0, 36, 0, 0xff, 1, 0x1f, 0],
            &USER,
            &[0, 0, 20, 0, 0x89, 0, 0x12, 0],
            &WD,
            &[0, 0, 20, 0, 0x89, 0, 0x12, 0],
            &AN,
            // Owner and group.
            &USER,
            &PRIMARY_GROUP,
        ]
        .concat()
    }

    fn sid(bytes: &[u8]) -> Sid {
        Sid::from_bytes(bytes).unwrap()
    }

    fn ace(kind: AceKind, flags: u8, mask: u32, sid: Sid) -> Ace {
        Ace::Decoded {
            kind,
            flags,
            mask,
            sid,
        }
    }

    fn allow(mask: u32, sid: Sid) -> Ace {
        ace(AceKind::Allowed, 0, mask, sid)
    }

    /// A descriptor owned by BA whose DACL is `aces`.
    fn owned_by_admins(aces: Vec<Ace>) -> SecurityDescriptor {
        let owner = Some(Sid::administrators());
        let dacl = Dacl::List(aces);
        SecurityDescriptor {
            owner,
            group: None,
            dacl,
            label: None,
        }
    }

    /// The committed seeds of the `secdesc` fuzz target.
    fn corpus() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/secdesc")
    }

    #[test]
    fn the_fuzz_corpus_holds() {
        let dir = corpus();
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/secdesc") {
            fuzz(&std::fs::read(entry.unwrap().path()).unwrap());
            count += 1;
        }
        assert!(count > 0);
        let seed = |name| std::fs::read(dir.join(name)).unwrap();
        assert_eq!(seed("seed-sddl-example"), sddl_example());
        assert_eq!(seed("seed-default-pipe"), default_pipe());
    }

    #[test]
    fn the_sddl_example_reads_as_written() {
        let sd = SecurityDescriptor::parse(&sddl_example()).unwrap();
        assert_eq!(sd.owner, Some(Sid::administrators()));
        assert_eq!(sd.group, Some(Sid::local_system()));
        let ga = |bytes: &[u8]| allow(GENERIC_ALL, sid(bytes));
        assert_eq!(sd.dacl, Dacl::List(vec![ga(&SY), ga(&BA), ga(&OW)]));
        let medium_no_write_or_read_up = Label {
            level: 0x2000,
            policy: 3,
        };
        assert_eq!(sd.label, Some(medium_no_write_or_read_up));
        let trusted = [Sid::local_system(), Sid::administrators()];
        assert_eq!(untrusted_instance_creator(&sd, &trusted), None);
        assert_eq!(SecurityDescriptor::parse(&sd.to_bytes()).unwrap(), sd);
        // Wine's ConvertStringSecurityDescriptorToSecurityDescriptor lays out the
        // same descriptor in another order: owner, group, DACL, SACL.
        let wine = std::fs::read(corpus().join("seed-sddl-example-wine-order")).unwrap();
        assert_eq!(SecurityDescriptor::parse(&wine).unwrap(), sd);
    }

    #[test]
    fn the_default_pipe_descriptor_lets_only_its_creator_create_instances() {
        let sd = SecurityDescriptor::parse(&default_pipe()).unwrap();
        let user = sid(&USER);
        assert_eq!(sd.owner.as_ref(), Some(&user));
        assert_eq!(sd.group, Some(sid(&PRIMARY_GROUP)));
        let Dacl::List(aces) = &sd.dacl else {
            panic!("{sd:?}")
        };
        assert_eq!(aces[3], allow(0x12_0089, Sid::everyone()));
        assert_eq!(aces[4], allow(0x12_0089, sid(&AN)));
        let mut trusted = vec![Sid::local_system(), Sid::administrators()];
        let reason = untrusted_instance_creator(&sd, &trusted).unwrap();
        let expected = "its DACL lets S-1-5-21-1-2-3-1001 create instances (access mask 0x1f01ff)";
        assert_eq!(reason, expected);
        trusted.push(user);
        assert_eq!(untrusted_instance_creator(&sd, &trusted), None);
    }

    #[test]
    fn what_to_bytes_writes_parses_back() {
        let aces = vec![
            ace(AceKind::Denied, 0x03, GENERIC_ALL, Sid::everyone()),
            ace(AceKind::Allowed, 0x10, 1, Sid::creator_owner()),
            ace(AceKind::Audit, 0, 1, sid(&USER)),
            Ace::Other { kind: 9, flags: 8 },
        ];
        let empty = Dacl::List(vec![]);
        for dacl in [Dacl::Absent, Dacl::Null, empty, Dacl::List(aces)] {
            let label = Some(Label {
                level: 0x1000,
                policy: 1,
            });
            let group = Some(Sid::local_system());
            let sd = SecurityDescriptor {
                owner: None,
                group,
                dacl,
                label,
            };
            assert_eq!(SecurityDescriptor::parse(&sd.to_bytes()).unwrap(), sd);
        }
    }

    #[test]
    fn malformed_descriptors_are_invalid_data_naming_the_problem() {
        let edit = |at: usize, new: &[u8]| {
            let mut bytes = sddl_example();
            bytes[at..at + new.len()].copy_from_slice(new);
            bytes
        };
        for (bytes, why) in [
            (sddl_example()[..10].to_vec(), "20 bytes, 10 given"),
            (edit(0, &[2]), "revision 2 is not 1"),
            (edit(3, &[0x10]), "self-relative form (control 0x1014)"),
            (edit(4, &[146]), "owner SID at offset 146 runs past"),
            (edit(4, &[0xff; 4]), "owner SID at offset 4294967295 runs"),
            (edit(121, &[15]), "owner SID at offset 120 runs past"),
            (edit(136, &[2]), "group SID at offset 136: SID revision 2"),
            (edit(16, &[200]), "the DACL at offset 200 runs past"),
            (edit(48, &[3]), "the DACL has revision 3, not 2 or 4"),
            (edit(50, &[4]), "DACL says it has 4 bytes, less than"),
            (edit(50, &[200]), "the DACL at offset 48 runs past"),
            (edit(52, &[4]), "ACE 3 of the DACL runs past the end"),
            (edit(50, &[70]), "ACE 2 of the DACL runs past the end"),
            (edit(58, &[2]), "ACE 0 of the DACL says it has 2 bytes"),
            (edit(58, &[6]), "ACE 0 of the DACL has no room for"),
            (edit(65, &[2]), "SID of ACE 0 of the DACL at offset 8"),
            (edit(22, &[20]), "ACE 0 of the SACL runs past the end"),
            (edit(43, &[5]), "names S-1-5-8192, not an integrity"),
        ] {
            let err = SecurityDescriptor::parse(&bytes).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidData);
            assert!(err.to_string().contains(why), "{why:?}: {err}");
            fuzz(&bytes);
        }
    }

    #[test]
    fn what_parse_leaves_out_or_keeps_undecoded() {
        // DACL_PRESENT with no offset is a NULL DACL; SACL_PRESENT clear hides the label.
        let mut bytes = sddl_example();
        (bytes[2], bytes[16]) = (0x04, 0);
        let sd = SecurityDescriptor::parse(&bytes).unwrap();
        assert_eq!((sd.dacl, sd.label), (Dacl::Null, None));
        bytes[2] = 0;
        let sd = SecurityDescriptor::parse(&bytes).unwrap();
        assert_eq!(sd.dacl, Dacl::Absent);
        // Another ACE type is kept as it is, whatever its body; ACL revision 4 is read.
        let mut bytes = sddl_example();
        bytes[48] = 4;
        bytes[56..60].copy_from_slice(&[9, 2, 20, 0]);
        let sd = SecurityDescriptor::parse(&bytes).unwrap();
        let Dacl::List(aces) = sd.dacl else { panic!() };
        assert_eq!(aces[0], Ace::Other { kind: 9, flags: 2 });
        // An inherit-only label does not apply; the one after it does.
        let label = |flags, level| {
            let sid = Sid::integrity_level(level);
            ace(AceKind::MandatoryLabel, flags, 1, sid)
        };
        let sacl = [label(INHERIT_ONLY_ACE, 0x4000), label(0, 0x1000)];
        let found = find_label(&sacl).unwrap().unwrap();
        assert_eq!((found.level, found.policy), (0x1000, 1));
    }

    /// What the rule says of a BA-owned pipe whose DACL is `aces`, trusting BA.
    fn verdict(aces: Vec<Ace>) -> Option<String> {
        let sd = owned_by_admins(aces);
        untrusted_instance_creator(&sd, &[Sid::administrators()])
    }

    #[test]
    fn the_rule_passes_rights_the_untrusted_cannot_use_to_create_instances() {
        let (wd, co) = (Sid::everyone, Sid::creator_owner);
        assert_eq!(verdict(vec![allow(0x12_018b, wd())]), None);
        assert_eq!(verdict(vec![allow(FILE_ALL_ACCESS, sid(&BA))]), None);
        assert_eq!(verdict(vec![allow(GENERIC_ALL, sid(&OW))]), None);
        assert_eq!(verdict(vec![allow(GENERIC_ALL, co())]), None);
        let inherit_only = ace(AceKind::Allowed, INHERIT_ONLY_ACE, GENERIC_ALL, wd());
        assert_eq!(verdict(vec![inherit_only]), None);
        let denied = ace(AceKind::Denied, 0, GENERIC_ALL, wd());
        let denied_callback = Ace::Other { kind: 10, flags: 0 };
        assert_eq!(verdict(vec![denied, denied_callback]), None);
    }

    #[test]
    fn the_rule_refuses_what_lets_the_untrusted_create_instances() {
        let (wd, user) = (Sid::everyone, || sid(&USER));
        let other = |kind| Ace::Other { kind, flags: 0 };
        for (ace, why) in [
            (allow(FILE_ALL_ACCESS, wd()), "S-1-1-0 create instances"),
            (allow(0x4000_0000, wd()), "(access mask 0x40000000)"),
            (allow(0x4, user()), "create instances (access mask 0x4)"),
            (allow(0x0200_0000, user()), "(access mask 0x2000000)"),
            (allow(0x4_0000, user()), "1001 change its DACL or owner"),
            (allow(0x8_0000, user()), "or owner (access mask 0x80000)"),
            (other(9), "an entry of type 9 that winpipe cannot read"),
            (other(13), "an entry of type 13"),
            (ace(AceKind::Audit, 0, 0, user()), "an entry of type 2"),
        ] {
            let reason = verdict(vec![ace]).unwrap();
            assert!(reason.contains(why), "{why:?}: {reason}");
        }
    }

    #[test]
    fn the_rule_refuses_no_dacl_and_an_untrusted_or_missing_owner() {
        let mut sd = owned_by_admins(vec![]);
        let trusted = [Sid::administrators()];
        assert_eq!(untrusted_instance_creator(&sd, &trusted), None);
        let reason = untrusted_instance_creator(&sd, &[]).unwrap();
        let expected = "its owner S-1-5-32-544 is not trusted and may change its DACL";
        assert_eq!(reason, expected);
        sd.owner = None;
        let reason = untrusted_instance_creator(&sd, &trusted).unwrap();
        assert!(reason.contains("no owner"), "{reason}");
        for dacl in [Dacl::Null, Dacl::Absent] {
            sd.dacl = dacl;
            let reason = untrusted_instance_creator(&sd, &trusted).unwrap();
            assert!(reason.starts_with("the pipe has no access control list"));
        }
    }
}
