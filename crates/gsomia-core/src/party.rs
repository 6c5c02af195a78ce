//! Party codes: who is bound by an agreement.
//!
//! A party code is upper-case (`KOR`, `JPN`, `USA`: ISO 3166-1 alpha-3 by convention, but any
//! organisation code of 2 to 15 letters and digits is accepted). It is checked once where it
//! enters and is a small `Copy` value after that, so decisions compare and hash it cheaply.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const MAX: usize = 15;

/// A checked party code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartyCode {
    // Field order matters: the derived `Ord` compares the zero-padded bytes first, which is
    // alphabetical order.
    bytes: [u8; MAX],
    len: u8,
}

/// Why a string is not a party code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a party code (2 to 15 upper-case letters or digits, starting with a letter)")]
pub struct BadPartyCode(pub String);

impl PartyCode {
    /// The code as text.
    pub fn as_str(&self) -> &str {
        // INVARIANT: `from_str` admits only ASCII, so the bytes are valid UTF-8.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or_default()
    }
}

impl FromStr for PartyCode {
    type Err = BadPartyCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        let ok = (2..=MAX).contains(&b.len())
            && b[0].is_ascii_uppercase()
            && b.iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !ok {
            return Err(BadPartyCode(s.to_owned()));
        }
        let mut bytes = [0u8; MAX];
        bytes[..b.len()].copy_from_slice(b);
        Ok(PartyCode {
            bytes,
            len: b.len() as u8,
        })
    }
}

impl fmt::Display for PartyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PartyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for PartyCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PartyCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
