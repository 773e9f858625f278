//! `IntegrityLevel`: Windows' mandatory integrity level of a process, as a plain
//! value compared in safe code on every platform.

use std::fmt;

/// A Windows mandatory integrity level: how far a process is trusted, whoever its user.
///
/// The same user can run processes at several levels: a browser's sandboxed renderer at
/// `LOW`, an ordinary program at `MEDIUM`, an elevated one at `HIGH`, services at
/// `SYSTEM`. A process may not write to (or, where the object says so, read) an object
/// labelled above its own level. The level is the relative identifier of the SID
/// `S-1-16-RID`; levels compare by it.
///
/// It is what `WinStream::peer_integrity_level` returns (on Windows).
///
/// ```
/// use winpipe::IntegrityLevel;
///
/// assert!(IntegrityLevel::LOW < IntegrityLevel::MEDIUM);
/// assert_eq!(IntegrityLevel::from_rid(0x3000), IntegrityLevel::HIGH);
/// assert_eq!(IntegrityLevel::HIGH.to_string(), "High");
/// assert_eq!(IntegrityLevel::from_rid(0x2100).to_string(), "Medium Plus");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IntegrityLevel(u32);

impl IntegrityLevel {
    /// Untrusted (`S-1-16-0`): anonymous logons.
    pub const UNTRUSTED: IntegrityLevel = IntegrityLevel(0x0000);
    /// Low (`S-1-16-4096`): sandboxes, app containers, Protected Mode browsers.
    pub const LOW: IntegrityLevel = IntegrityLevel(0x1000);
    /// Medium (`S-1-16-8192`): a signed-in user's ordinary programs.
    pub const MEDIUM: IntegrityLevel = IntegrityLevel(0x2000);
    /// Medium Plus (`S-1-16-8448`).
    pub const MEDIUM_PLUS: IntegrityLevel = IntegrityLevel(0x2100);
    /// High (`S-1-16-12288`): elevated administrators.
    pub const HIGH: IntegrityLevel = IntegrityLevel(0x3000);
    /// System (`S-1-16-16384`): LocalSystem and other service accounts.
    pub const SYSTEM: IntegrityLevel = IntegrityLevel(0x4000);
    /// Protected process (`S-1-16-20480`).
    pub const PROTECTED_PROCESS: IntegrityLevel = IntegrityLevel(0x5000);

    /// The level whose SID is `S-1-16-rid`.
    ///
    /// ```
    /// use winpipe::IntegrityLevel;
    /// assert_eq!(IntegrityLevel::from_rid(8192), IntegrityLevel::MEDIUM);
    /// // A level Windows has no name for still orders by its rid.
    /// let between = IntegrityLevel::from_rid(0x2800);
    /// assert!(IntegrityLevel::MEDIUM_PLUS < between && between < IntegrityLevel::HIGH);
    /// assert_eq!(between.to_string(), "S-1-16-10240");
    /// ```
    pub const fn from_rid(rid: u32) -> IntegrityLevel {
        IntegrityLevel(rid)
    }

    /// The relative identifier of the level's SID (`S-1-16-RID`).
    ///
    /// ```
    /// use winpipe::IntegrityLevel;
    /// assert_eq!(IntegrityLevel::SYSTEM.rid(), 0x4000);
    /// assert_eq!(IntegrityLevel::from_rid(IntegrityLevel::LOW.rid()), IntegrityLevel::LOW);
    /// ```
    pub const fn rid(self) -> u32 {
        self.0
    }
}

impl fmt::Display for IntegrityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            IntegrityLevel::UNTRUSTED => "Untrusted",
            IntegrityLevel::LOW => "Low",
            IntegrityLevel::MEDIUM => "Medium",
            IntegrityLevel::MEDIUM_PLUS => "Medium Plus",
            IntegrityLevel::HIGH => "High",
            IntegrityLevel::SYSTEM => "System",
            IntegrityLevel::PROTECTED_PROCESS => "Protected Process",
            IntegrityLevel(rid) => return write!(f, "S-1-16-{rid}"),
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_order_by_their_rid_and_name_themselves() {
        let levels = [
            IntegrityLevel::UNTRUSTED,
            IntegrityLevel::LOW,
            IntegrityLevel::MEDIUM,
            IntegrityLevel::MEDIUM_PLUS,
            IntegrityLevel::HIGH,
            IntegrityLevel::SYSTEM,
            IntegrityLevel::PROTECTED_PROCESS,
        ];
        assert!(levels.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(IntegrityLevel::SYSTEM.rid(), 16384);
        assert_eq!(IntegrityLevel::from_rid(0x1500).to_string(), "S-1-16-5376");
        assert_eq!(IntegrityLevel::MEDIUM.to_string(), "Medium");
    }
}
