//! Consents: the originator's written approval of a release it did not make itself (R4, P2).
//!
//! A consent names one item, its originator, the holder that may release it, to whom (a third
//! party, or the holder's contractors), for which purpose and for which days. In a world folder
//! consents are trusted as the officer's record; a node accepts only consents whose signature it
//! has verified (`gsomia-crypto`), so the decision code sees only consents that stand.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::date::Date;
use crate::input::{Invalid, Problem};
use crate::label::Tag;
use crate::party::PartyCode;

/// Whom a consent allows release to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grantee {
    /// A third party (R4).
    Party(PartyCode),
    /// The holder's contractors (P2). Written `"contractors"`.
    Contractors,
}

impl fmt::Display for Grantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grantee::Party(p) => write!(f, "{p}"),
            Grantee::Contractors => f.write_str("contractors"),
        }
    }
}

impl Serialize for Grantee {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Grantee {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "contractors" {
            return Ok(Grantee::Contractors);
        }
        s.parse().map(Grantee::Party).map_err(|_| {
            serde::de::Error::custom(format!("`{s}` is neither a party code nor `contractors`"))
        })
    }
}

/// A holder's request for the originator's consent to release one of its items onward (R4):
/// the holder sends it, the originator keeps it until an authority answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// The item (every version of it).
    pub item: crate::ItemId,
    /// Its originator, who is asked.
    pub originator: PartyCode,
    /// The holder that would release it.
    pub holder: PartyCode,
    /// To whom.
    pub to: PartyCode,
    /// The item's purpose, which a consent must carry.
    pub purpose: Tag,
    /// The last day asked for.
    pub until: Date,
    /// The holder's user who asked.
    pub asked_by: String,
    /// When (RFC 3339).
    pub asked: String,
}

/// A consent as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// The consent's id.
    pub id: String,
    /// The originator who consents.
    pub originator: PartyCode,
    /// The STIX id of the item (every version of it).
    pub item: crate::ItemId,
    /// The holder that may release.
    pub holder: PartyCode,
    /// To whom.
    pub to: Grantee,
    /// For which purpose; it must be the item's purpose.
    pub purpose: Tag,
    /// The first day it stands.
    pub given: Date,
    /// The last day it stands.
    pub until: Date,
    /// The originator's signature (base64), checked by a node before it trusts the consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Consent {
    /// Checks a consent: its days in order, a holder other than the originator, a grantee other
    /// than the originator and the holder.
    pub fn check(self) -> Result<Consent, Invalid> {
        if self.given > self.until {
            let problem = Problem::DatesOutOfOrder {
                first: self.given,
                second: self.until,
            };
            return Err(Invalid::at("until", problem));
        }
        if self.holder == self.originator {
            let msg = "an originator needs no consent of its own".into();
            return Err(Invalid::at("holder", Problem::Inconsistent(msg)));
        }
        if self.to == Grantee::Party(self.originator) || self.to == Grantee::Party(self.holder) {
            let msg = "a consent is for release to a third party or to contractors".into();
            return Err(Invalid::at("to", Problem::Inconsistent(msg)));
        }
        Ok(self)
    }

    /// Parses and checks a consent from JSON text.
    pub fn from_json(text: &str) -> Result<Consent, Invalid> {
        crate::input::parse::<Consent>(text)?.check()
    }

    /// Whether this consent allows `holder` to release `item` of `originator`, whose purpose is
    /// `purpose`, to `to` on `day`.
    pub fn covers(
        &self,
        originator: PartyCode,
        item: &str,
        holder: PartyCode,
        to: Grantee,
        purpose: &Tag,
        day: Date,
    ) -> bool {
        self.originator == originator
            && self.holder == holder
            && self.to == to
            && self.item == item
            && &self.purpose == purpose
            && self.given <= day
            && day <= self.until
    }
}
