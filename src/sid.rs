//! `Sid`, a Windows security identifier as a plain value: parsed, formatted and
//! compared in safe code on every host. Only `sys` moves it to and from the kernel.
//!
//! Layout (Microsoft's `SID` structure, [MS-DTYP] 2.4.2.2): a revision byte (always 1),
//! a sub-authority count (at most 15), a 48-bit identifier authority in big-endian
//! order, then the sub-authorities as little-endian 32-bit values. String form
//! ([MS-DTYP] 2.4.2.1): `S-1-`, the authority in decimal (or `0x` and twelve hex
//! digits when it does not fit in 32 bits), then `-` and each sub-authority in decimal.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::io::{self, ErrorKind};
use std::str::FromStr;

/// The only SID revision there is.
const REVISION: u8 = 1;
/// The most sub-authorities a SID can have (`SID_MAX_SUB_AUTHORITIES`).
const MAX_SUB_AUTHORITIES: usize = 15;
/// Revision, count and authority: the bytes before the sub-authorities.
const HEADER: usize = 8;
/// The longest binary SID.
const MAX_LEN: usize = HEADER + 4 * MAX_SUB_AUTHORITIES;

/// A Windows security identifier: who a user, group or service is.
///
/// It is what `WinStream::peer_user` returns and what
/// `ConnectOptions::expect_server_user` compares (both on Windows). Two `Sid`s are equal when they name the same identity. It converts to and
/// from its string form (`S-1-5-18`) and its binary form (Microsoft's `SID`
/// structure), on every platform.
///
/// ```
/// use winpipe::Sid;
///
/// let system: Sid = "S-1-5-18".parse()?;
/// assert_eq!(system, Sid::local_system());
/// assert_eq!(system.to_string(), "S-1-5-18");
/// assert_eq!(system.as_bytes(), [1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]);
/// assert!("S-1-5-18-".parse::<Sid>().is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Sid {
    bytes: [u8; MAX_LEN],
}

impl Sid {
    /// The LocalSystem account (`S-1-5-18`), which most Windows services run as.
    ///
    /// ```
    /// let system = winpipe::Sid::local_system();
    /// assert_eq!(system.to_string(), "S-1-5-18");
    /// ```
    pub fn local_system() -> Sid {
        Sid::new(5, &[18]).expect("one sub-authority fits")
    }

    /// The user this process runs as (the user of its access token).
    ///
    /// On platforms other than Windows this is an `Unsupported` error.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// match winpipe::Sid::current_user() {
    ///     Ok(me) => println!("this process runs as {me}"),
    ///     Err(e) => assert_eq!(e.kind(), ErrorKind::Unsupported), // not Windows
    /// }
    /// ```
    pub fn current_user() -> io::Result<Sid> {
        #[cfg(windows)]
        {
            crate::sys::current_user()
        }
        #[cfg(not(windows))]
        {
            Err(io::Error::new(
                ErrorKind::Unsupported,
                "Windows security identifiers have no meaning on this platform",
            ))
        }
    }

    /// A SID from its identifier authority (below 2^48) and sub-authorities (at
    /// most 15). `Sid::new(5, &[18])` is `S-1-5-18`.
    ///
    /// ```
    /// use winpipe::Sid;
    /// let administrators = Sid::new(5, &[32, 544])?;
    /// assert_eq!(administrators.to_string(), "S-1-5-32-544");
    /// assert!(Sid::new(5, &[0; 16]).is_err()); // at most 15 sub-authorities
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(authority: u64, sub_authorities: &[u32]) -> io::Result<Sid> {
        if authority >> 48 != 0 {
            return Err(invalid(format!(
                "identifier authority {authority} does not fit in 48 bits"
            )));
        }
        if sub_authorities.len() > MAX_SUB_AUTHORITIES {
            return Err(invalid(format!(
                "{} sub-authorities given, a SID has at most {MAX_SUB_AUTHORITIES}",
                sub_authorities.len()
            )));
        }
        let mut bytes = [0; MAX_LEN];
        bytes[0] = REVISION;
        bytes[1] = sub_authorities.len() as u8;
        bytes[2..HEADER].copy_from_slice(&authority.to_be_bytes()[2..]);
        for (slot, sub) in bytes[HEADER..].chunks_exact_mut(4).zip(sub_authorities) {
            slot.copy_from_slice(&sub.to_le_bytes());
        }
        Ok(Sid { bytes })
    }

    /// A SID from its binary form, which must be exactly one well-formed `SID`
    /// structure: revision 1, at most 15 sub-authorities, no bytes after them.
    ///
    /// ```
    /// use winpipe::Sid;
    /// let sid = Sid::from_bytes(&[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0])?;
    /// assert_eq!(sid, Sid::local_system());
    /// let err = Sid::from_bytes(&[1, 1, 0, 0, 0, 0, 0, 5]).unwrap_err(); // one missing
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> io::Result<Sid> {
        if bytes.len() < HEADER {
            return Err(invalid(format!(
                "a binary SID has at least {HEADER} bytes, {} given",
                bytes.len()
            )));
        }
        if bytes[0] != REVISION {
            return Err(invalid(format!("SID revision {} is not 1", bytes[0])));
        }
        let count = usize::from(bytes[1]);
        if count > MAX_SUB_AUTHORITIES {
            return Err(invalid(format!(
                "{count} sub-authorities, a SID has at most {MAX_SUB_AUTHORITIES}"
            )));
        }
        if bytes.len() != HEADER + 4 * count {
            return Err(invalid(format!(
                "a SID with {count} sub-authorities has {} bytes, {} given",
                HEADER + 4 * count,
                bytes.len()
            )));
        }
        let mut sid = Sid {
            bytes: [0; MAX_LEN],
        };
        sid.bytes[..bytes.len()].copy_from_slice(bytes);
        Ok(sid)
    }

    /// The binary form: Microsoft's `SID` structure, as Windows stores it.
    ///
    /// ```
    /// use winpipe::Sid;
    /// let users: Sid = "S-1-5-32-545".parse()?;
    /// assert_eq!(users.as_bytes().len(), 8 + 4 * 2); // header and two sub-authorities
    /// assert_eq!(Sid::from_bytes(users.as_bytes())?, users);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..HEADER + 4 * usize::from(self.bytes[1])]
    }

    /// The identifier authority: 5 (`SECURITY_NT_AUTHORITY`) for users and services.
    ///
    /// ```
    /// let everyone: winpipe::Sid = "S-1-1-0".parse()?;
    /// assert_eq!(everyone.identifier_authority(), 1); // SECURITY_WORLD_SID_AUTHORITY
    /// assert_eq!(winpipe::Sid::local_system().identifier_authority(), 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn identifier_authority(&self) -> u64 {
        let mut wide = [0; 8];
        wide[2..].copy_from_slice(&self.bytes[2..HEADER]);
        u64::from_be_bytes(wide)
    }

    /// The sub-authorities, in order; the last of a user's is its relative id.
    ///
    /// ```
    /// let user: winpipe::Sid = "S-1-5-21-1004336348-1177238915-682003330-1001".parse()?;
    /// let subs: Vec<u32> = user.sub_authorities().collect();
    /// assert_eq!(subs, [21, 1004336348, 1177238915, 682003330, 1001]);
    /// assert_eq!(user.sub_authorities().last(), Some(1001)); // the relative id
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn sub_authorities(&self) -> impl Iterator<Item = u32> + '_ {
        self.as_bytes()[HEADER..]
            .chunks_exact(4)
            .map(|four| u32::from_le_bytes([four[0], four[1], four[2], four[3]]))
    }
}

impl PartialEq for Sid {
    fn eq(&self, other: &Sid) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Sid {}

impl Hash for Sid {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Display for Sid {
    /// The string form, `S-1-5-21-…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let authority = self.identifier_authority();
        if authority >> 32 == 0 {
            write!(f, "S-1-{authority}")?;
        } else {
            write!(f, "S-1-0x{authority:012X}")?;
        }
        for sub in self.sub_authorities() {
            write!(f, "-{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({self})")
    }
}

impl FromStr for Sid {
    type Err = io::Error;

    /// Parses the string form strictly: `S-1-`, an authority (decimal below 2^32, or
    /// `0x` and up to twelve hex digits), then up to 15 `-` and decimal 32-bit
    /// sub-authorities. Nothing else: no spaces, signs, empty parts or trailing `-`.
    fn from_str(text: &str) -> io::Result<Sid> {
        let bad = |why: &str| invalid(format!("invalid SID string {text:?}: {why}"));
        let rest = match text.get(..4) {
            Some(prefix) if prefix.eq_ignore_ascii_case("S-1-") => &text[4..],
            _ => return Err(bad("it does not start with \"S-1-\"")),
        };
        let mut parts = rest.split('-');
        let authority = parse_authority(parts.next().unwrap_or("")).map_err(bad)?;
        let mut subs = Vec::new();
        for part in parts {
            if subs.len() == MAX_SUB_AUTHORITIES {
                return Err(bad("a SID has at most 15 sub-authorities"));
            }
            let sub = parse_decimal(part)
                .and_then(|value| u32::try_from(value).ok())
                .ok_or_else(|| bad("a sub-authority is not a decimal 32-bit number"))?;
            subs.push(sub);
        }
        Sid::new(authority, &subs)
    }
}

/// The identifier authority of a string SID, decimal or `0x` hexadecimal.
fn parse_authority(part: &str) -> Result<u64, &'static str> {
    if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
        let digits_ok = (1..=12).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if !digits_ok {
            return Err("a hexadecimal authority has 1 to 12 hex digits after \"0x\"");
        }
        return u64::from_str_radix(hex, 16).map_err(|_| "the authority is not a number");
    }
    parse_decimal(part)
        .filter(|value| value >> 32 == 0)
        .ok_or("the authority is not a decimal 32-bit number or \"0x\" and hex digits")
}

/// A run of 1 to 10 ASCII digits as a number; anything else (sign, space, empty) is
/// `None`.
fn parse_decimal(part: &str) -> Option<u64> {
    let digits_ok = (1..=10).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit());
    if digits_ok {
        part.parse().ok()
    } else {
        None
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidInput, message)
}

/// The `sid` fuzz target: `data` as a string and as a binary SID. The parser must
/// agree with a second, independent reading of [MS-DTYP]'s grammar on what is a SID
/// string; what parses must print back to a string that parses to the same SID; what
/// is refused must be `InvalidInput` naming the input. Likewise for the binary form.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match text.parse::<Sid>() {
        Ok(sid) => {
            assert!(
                looks_like_a_sid(&text),
                "{text:?} parsed but is no SID string"
            );
            let printed = sid.to_string();
            assert_eq!(
                printed.parse::<Sid>().unwrap(),
                sid,
                "{text:?} -> {printed}"
            );
        }
        Err(err) => {
            assert!(!looks_like_a_sid(&text), "{text:?} refused: {err}");
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.to_string().contains(&format!("{text:?}")), "{err}");
        }
    }
    let well_formed = data.len() >= HEADER
        && data[0] == REVISION
        && usize::from(data[1]) <= MAX_SUB_AUTHORITIES
        && data.len() == HEADER + 4 * usize::from(data[1]);
    match Sid::from_bytes(data) {
        Ok(sid) => {
            assert!(well_formed, "{data:?} accepted");
            assert_eq!(sid.as_bytes(), data);
            assert_eq!(sid.to_string().parse::<Sid>().unwrap(), sid);
        }
        Err(err) => {
            assert!(!well_formed, "{data:?} refused: {err}");
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
    }
}

/// The fuzz target's second reading of a SID string: `S-1-`, then dash-separated
/// fields of digits (the first may be `0x` and hex digits), at most 16 of them, each
/// in range. Written differently from `FromStr` on purpose.
#[cfg(any(test, feature = "fuzzing"))]
fn looks_like_a_sid(text: &str) -> bool {
    let Some(rest) = text
        .strip_prefix("S-1-")
        .or_else(|| text.strip_prefix("s-1-"))
    else {
        return false;
    };
    let fields: Vec<&str> = rest.split('-').collect();
    let decimal = |f: &str, max: u64| {
        !f.is_empty()
            && f.len() <= 10
            && f.chars().all(|c| c.is_ascii_digit())
            && f.parse::<u64>().is_ok_and(|v| v <= max)
    };
    let hex = |f: &str| {
        let digits = f.get(2..).unwrap_or("");
        matches!(f.get(..2), Some("0x" | "0X"))
            && (1..=12).contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_hexdigit())
    };
    fields.len() <= 16
        && (decimal(fields[0], u64::from(u32::MAX)) || hex(fields[0]))
        && fields[1..].iter().all(|f| decimal(f, u64::from(u32::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzz_corpus_holds() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/sid");
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/sid") {
            fuzz(&std::fs::read(entry.unwrap().path()).unwrap());
            count += 1;
        }
        assert!(count > 0);
        for text in [
            "S-1-5-18",
            "S-1-5-18-",
            "s-1-0X00000000000F-1",
            "S-1-5-99999999999",
        ] {
            fuzz(text.as_bytes());
        }
        fuzz(Sid::local_system().as_bytes());
    }

    fn parse(text: &str) -> io::Result<Sid> {
        text.parse()
    }

    #[test]
    fn strings_round_trip() {
        for text in [
            "S-1-5-18",
            "S-1-5-32-544",
            "S-1-5-21-3623811015-3361044348-30300820-1013",
            "S-1-0-0",
            "S-1-1-0",
            "S-1-5",
            "S-1-16-12288",
            "S-1-4294967295-4294967295",
            "S-1-0x0001FFFFFFFF-7",
            "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15",
        ] {
            let sid = parse(text).unwrap();
            assert_eq!(sid.to_string(), text);
            assert_eq!(Sid::from_bytes(sid.as_bytes()).unwrap(), sid);
        }
    }

    #[test]
    fn the_binary_form_is_microsofts_sid_structure() {
        let sid = parse("S-1-5-21-1-2-4294967295").unwrap();
        let expected = [
            1, 4, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 255, 255, 255, 255,
        ];
        assert_eq!(sid.as_bytes(), expected);
        assert_eq!(sid.identifier_authority(), 5);
        assert_eq!(
            sid.sub_authorities().collect::<Vec<_>>(),
            [21, 1, 2, u32::MAX]
        );
        let wide = parse("S-1-0x123456789ABC-1").unwrap();
        assert_eq!(&wide.as_bytes()[2..8], [0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC]);
    }

    #[test]
    fn the_other_spellings_the_grammar_allows_parse_to_the_same_sid() {
        let system = Sid::local_system();
        assert_eq!(parse("s-1-5-18").unwrap(), system);
        assert_eq!(parse("S-1-5-018").unwrap(), system);
        assert_eq!(parse("S-1-0x000000000005-18").unwrap(), system);
        assert_eq!(parse("S-1-0x5-18").unwrap(), system);
        assert_eq!(parse("S-1-5-18").unwrap().to_string(), "S-1-5-18");
    }

    #[test]
    fn malformed_strings_are_invalid_input_naming_the_problem() {
        for (text, why) in [
            ("", "does not start"),
            ("S-1", "does not start"),
            ("S-2-5-18", "does not start"),
            ("X-1-5-18", "does not start"),
            (" S-1-5-18", "does not start"),
            ("S-1-", "authority"),
            ("S-1--18", "authority"),
            ("S-1-x-18", "authority"),
            ("S-1-4294967296-1", "authority"),
            ("S-1-0x-1", "hex digits"),
            ("S-1-0x1234567890ABC-1", "hex digits"),
            ("S-1-0xG-1", "hex digits"),
            ("S-1-5-18-", "sub-authority"),
            ("S-1-5--18", "sub-authority"),
            ("S-1-5-+18", "sub-authority"),
            ("S-1-5- 18", "sub-authority"),
            ("S-1-5-18 ", "sub-authority"),
            ("S-1-5-4294967296", "sub-authority"),
            ("S-1-5-00000000018", "sub-authority"),
            ("S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16", "at most 15"),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{text:?}");
            let message = err.to_string();
            assert!(message.contains(why), "{text:?}: {message}");
            assert!(
                message.contains(&format!("{text:?}")),
                "{text:?}: {message}"
            );
        }
    }

    #[test]
    fn malformed_binary_sids_are_invalid_input() {
        let good = Sid::local_system().as_bytes().to_vec();
        let mut bad_revision = good.clone();
        bad_revision[0] = 2;
        let mut too_many = vec![1, 16, 0, 0, 0, 0, 0, 5];
        too_many.extend([0; 64]);
        for (bytes, why) in [
            (&good[..7], "at least 8 bytes"),
            (&bad_revision[..], "revision 2"),
            (&too_many[..], "at most 15"),
            (&good[..11], "has 12 bytes, 11 given"),
            (
                &[good.as_slice(), &[0]].concat()[..],
                "has 12 bytes, 13 given",
            ),
        ] {
            let err = Sid::from_bytes(bytes).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.to_string().contains(why), "{err}");
        }
    }

    #[test]
    fn new_refuses_what_a_sid_cannot_hold() {
        assert!(Sid::new(1 << 48, &[1]).is_err());
        assert!(Sid::new(5, &[0; 16]).is_err());
        assert_eq!(
            Sid::new((1 << 48) - 1, &[0; 15]).unwrap().as_bytes().len(),
            68
        );
    }

    #[test]
    fn equal_sids_hash_alike_and_debug_shows_the_string() {
        use std::collections::HashSet;
        let set: HashSet<Sid> = ["S-1-5-18", "s-1-5-018", "S-1-5-19"]
            .iter()
            .map(|text| parse(text).unwrap())
            .collect();
        assert_eq!(set.len(), 2);
        assert_eq!(format!("{:?}", Sid::local_system()), "Sid(S-1-5-18)");
        assert_ne!(parse("S-1-5-18").unwrap(), parse("S-1-5-18-0").unwrap());
    }

    #[cfg(not(windows))]
    #[test]
    fn the_current_user_is_unsupported_off_windows() {
        assert_eq!(
            Sid::current_user().unwrap_err().kind(),
            ErrorKind::Unsupported
        );
    }
}
