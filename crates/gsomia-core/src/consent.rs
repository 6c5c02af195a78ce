//! Consents: the originator's written approval of a release it did not make itself (R4, P2).
//!
//! A consent names one item, its originator, the holder that may release it, to whom (a third
//! party, or the holder's contractors), for which purpose and for which days. A **standing
//! consent** (R4b) names a topic instead of an item: it covers every item of the originator's
//! whose topics include it, given in advance, so that a holder (a hub) passes each one on
//! without asking for it; the originator may revoke it from a day on, by a second signed
//! statement carried in the consent ([`Revocation`]). In a world folder consents are trusted as
//! the officer's record; a node accepts only consents whose signatures it has verified
//! (`gsomia-crypto`), so the decision code sees only consents that stand.

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
    /// The STIX id of the item (every version of it); absent on a standing consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<crate::ItemId>,
    /// The topic of a standing consent (R4b): every item of the originator's whose topics
    /// include it; absent on a consent for one item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Tag>,
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
    /// The originator's revocation, signed on its own (it is not part of what the consent's
    /// signature covers); once known, it is never dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revocation>,
}

/// An originator's revocation of its consent: from this day on, the consent covers nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// The first day the consent no longer stands.
    pub from: Date,
    /// The originator's signature (base64) over the consent's id and `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Consent {
    /// Checks a consent: an item or a topic (one of them), its days in order (a revocation on
    /// or after the first day), a holder other than the originator, a grantee other than the
    /// originator and the holder.
    pub fn check(self) -> Result<Consent, Invalid> {
        if self.item.is_some() == self.topic.is_some() {
            let msg = "a consent names one item, or (standing, R4b) one topic: exactly one".into();
            return Err(Invalid::at("item", Problem::Inconsistent(msg)));
        }
        if let Some(r) = &self.revoked
            && r.from < self.given
        {
            let problem = Problem::DatesOutOfOrder {
                first: self.given,
                second: r.from,
            };
            return Err(Invalid::at("revoked.from", problem));
        }
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

    /// Whether it is a standing consent (R4b).
    pub fn is_standing(&self) -> bool {
        self.topic.is_some()
    }

    /// What it is about, for messages and audit entries: the item's id, or `topic:<topic>`.
    pub fn subject(&self) -> String {
        match (&self.item, &self.topic) {
            (Some(item), _) => item.to_string(),
            (None, Some(topic)) => format!("topic:{topic}"),
            (None, None) => "-".to_owned(),
        }
    }

    /// Whether it is about `item`: that item, or (standing) one of its topics.
    pub fn is_about(&self, item: Covered<'_>) -> bool {
        match (&self.item, &self.topic) {
            (Some(id), _) => id == item.id,
            (None, Some(topic)) => item.topics.contains(topic),
            (None, None) => false,
        }
    }

    /// Whether this consent allows the release `release` (by a holder, to a grantee, on a day)
    /// of `item`, of `originator`: a consent for that item, or a standing one for one of its
    /// topics (R4b), for the item's purpose, in its days and not revoked by then.
    pub fn covers(&self, originator: PartyCode, item: Covered<'_>, release: Onward) -> bool {
        let day = release.day;
        self.originator == originator
            && self.holder == release.holder
            && self.to == release.to
            && self.is_about(item)
            && &self.purpose == item.purpose
            && self.given <= day
            && day <= self.until
            && self.revoked.as_ref().is_none_or(|r| day < r.from)
    }
}

/// The item a consent is asked to cover: its id, topics and purpose.
#[derive(Debug, Clone, Copy)]
pub struct Covered<'a> {
    /// The STIX id.
    pub id: &'a str,
    /// The label's topics.
    pub topics: &'a [Tag],
    /// The label's purpose.
    pub purpose: &'a Tag,
}

/// The release a consent is asked to cover: by whom, to whom, on which day.
#[derive(Debug, Clone, Copy)]
pub struct Onward {
    /// The holder that releases.
    pub holder: PartyCode,
    /// To whom.
    pub to: Grantee,
    /// The day.
    pub day: Date,
}
