//! Labels: what the originator says about an item (SPEC §2), and derivation (P4).
//!
//! The originator's label travels unchanged with every copy and is covered by the binding
//! signature. A holder adds its own **marking** (its equivalent level and the originator's
//! name, M2) and the **custody** chain, which are not part of the label.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::agreement::AgreementId;
use crate::party::PartyCode;
use crate::scheme::LevelId;

/// A topic, purpose or duty: 1 to 128 characters, no whitespace or control characters.
/// Compared exactly.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(Box<str>);

/// Why a string is not a tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a topic or purpose (1 to 128 characters, no spaces)")]
pub struct BadTag(pub String);

impl Tag {
    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = BadTag;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=128).contains(&s.chars().count())
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Tag(s.into()))
        } else {
            Err(BadTag(s.to_owned()))
        }
    }
}

/// A caveat, kept verbatim. `ORCON` and `NOFORN` are understood; any other is preserved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caveat(Box<str>);

/// Why a string is not a caveat.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a caveat must be 1 to 256 characters without control characters, not `{0}`")]
pub struct BadCaveat(pub String);

impl Caveat {
    /// Originator controlled: further dissemination needs the originator's approval.
    pub const ORCON: &'static str = "ORCON";
    /// Not releasable to any foreign party (R5).
    pub const NOFORN: &'static str = "NOFORN";

    /// The caveat as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `NOFORN`.
    pub fn is_noforn(&self) -> bool {
        &*self.0 == Self::NOFORN
    }
}

impl FromStr for Caveat {
    type Err = BadCaveat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=256).contains(&s.chars().count()) && !s.chars().any(|c| c.is_control());
        if ok {
            Ok(Caveat(s.into()))
        } else {
            Err(BadCaveat(s.to_owned()))
        }
    }
}

/// A STANAG 2511 evaluation grade: source reliability `A`–`F` and information credibility
/// `1`–`6`, written together (`B2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Grading {
    /// Source reliability, `A` (completely reliable) to `E` (unreliable), `F` (cannot be judged).
    pub reliability: char,
    /// Information credibility, 1 (confirmed) to 5 (improbable), 6 (cannot be judged).
    pub credibility: u8,
}

/// Why a string is not a STANAG 2511 grade.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a STANAG 2511 grade (a letter A-F then a digit 1-6, as in `B2`)")]
pub struct BadGrading(pub String);

impl FromStr for Grading {
    type Err = BadGrading;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.as_bytes() {
            [r @ b'A'..=b'F', c @ b'1'..=b'6'] => Ok(Grading {
                reliability: *r as char,
                credibility: c - b'0',
            }),
            _ => Err(BadGrading(s.to_owned())),
        }
    }
}

impl fmt::Display for Grading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.reliability, self.credibility)
    }
}

/// An RFC 3339 timestamp, checked and kept exactly as written (it is signed as written).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(Box<str>);

/// Why a string is not a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an RFC 3339 timestamp (such as `2019-07-25T00:30:00Z`)")]
pub struct BadTimestamp(pub String);

impl Timestamp {
    /// The timestamp as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Timestamp {
    type Err = BadTimestamp;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rfc3339 = &time::format_description::well_known::Rfc3339;
        match time::OffsetDateTime::parse(s, rfc3339) {
            Ok(_) => Ok(Timestamp(s.into())),
            Err(_) => Err(BadTimestamp(s.to_owned())),
        }
    }
}

macro_rules! string_serde {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&format_args!("{}", self.as_str()))
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
string_serde!(Tag, Caveat, Timestamp);

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Grading {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Grading {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An item a derived item was made from, and who originated it (P4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The source's originator, whose rules (third-party consent, caveats) still apply.
    pub originator: PartyCode,
    /// The source's STIX id.
    pub item: crate::ItemId,
}

/// The originator's label (SPEC §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// The party that made the item and signs its binding.
    pub originator: PartyCode,
    /// The level in the originator's scheme.
    pub level: LevelId,
    /// What the item is about (`dprk-missile`); R3 and need-to-know (P1) use them.
    pub topics: Vec<Tag>,
    /// What it may be used for (`missile-warning`); need-to-know (P1) and consents use it.
    pub purpose: Tag,
    /// The parties it may be released to; absent means no restriction beyond the agreements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub releasable_to: Option<Vec<PartyCode>>,
    /// Caveats, verbatim.
    #[serde(default)]
    pub caveats: Vec<Caveat>,
    /// STANAG 2511 grade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grading: Option<Grading>,
    /// When the originator made it.
    pub created: Timestamp,
    /// For a derived item, the sources of other originators (P4).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived_from: Vec<Source>,
    /// How many times the originator changed this label (M4): 0 when published, one more with
    /// each reclassification. It is inside what the originator signs, so a holder applies only
    /// a notice newer than the label it holds, and an old label replayed is refused.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revision: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Label {
    /// Every party whose information the item holds: the originator, then the originators of
    /// its sources (P4), each once.
    pub fn originators(&self) -> impl Iterator<Item = PartyCode> + '_ {
        let sources = self.derived_from.iter().enumerate().filter_map(|(i, s)| {
            let seen = s.originator == self.originator
                || self.derived_from[..i]
                    .iter()
                    .any(|t| t.originator == s.originator);
            (!seen).then_some(s.originator)
        });
        std::iter::once(self.originator).chain(sources)
    }

    /// Whether `NOFORN` is among the caveats.
    pub fn noforn(&self) -> bool {
        self.caveats.iter().any(Caveat::is_noforn)
    }
}

/// A holder's marking of an item (M2): its own level and the originator's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Marking {
    /// The holder.
    pub party: PartyCode,
    /// The level in the holder's scheme.
    pub level: LevelId,
    /// The originator.
    pub originator: PartyCode,
}

/// One hop of the custody chain (SPEC §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hop {
    /// The sender.
    pub from: PartyCode,
    /// The receiver.
    pub to: PartyCode,
    /// The agreement it went under.
    pub agreement: AgreementId,
    /// The level in the receiver's scheme.
    pub level: LevelId,
    /// When it was received.
    pub at: Timestamp,
}
