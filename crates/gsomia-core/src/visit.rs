//! Visits (V1, Art. 8) and security representatives' inspection visits (V2, Art. 18).
//!
//! A visit is asked for, authorised or refused, and reported on in letters between the parties'
//! authorities ([`crate::correspondence`]): the request (from the visitor's party) and the
//! authorisation (from the host) carry a [`Visit`]. An authorisation allows at most what was
//! asked ([`Visit::within`]); the host's node keeps it in the world, and an authorised visitor
//! reads there only what it allows ([`crate::read`] refuses naming V1): the host's own items, at
//! a level at most the authorised one, on one of its topics, within its days.

use serde::{Deserialize, Serialize};

use crate::agreement::Agreement;
use crate::assurance::Assurance;
use crate::date::Date;
use crate::input::{Invalid, Problem};
use crate::label::Tag;
use crate::party::PartyCode;
use crate::scheme::{LevelId, Scheme};

/// The most topics a visit names.
pub const MAX_TOPICS: usize = 32;

/// What a visit request asks for, or an authorisation allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Visit {
    /// The party visited.
    pub host: PartyCode,
    /// The visitor's name.
    pub visitor: String,
    /// The visitor's clearance, as the id of the assurance (S1) the visitor's party gave the
    /// host for the visitor.
    pub assurance: String,
    /// The facility visited.
    pub facility: String,
    /// The first day of the visit.
    pub from: Date,
    /// The last day of the visit.
    pub until: Date,
    /// The highest level, in the host's scheme, the visitor may read.
    pub level: LevelId,
    /// The topics the visitor may read about.
    pub topics: Vec<Tag>,
    /// An inspection by a security representative (V2): its findings are reported.
    #[serde(default)]
    pub inspection: bool,
}

impl Visit {
    /// Checks a visit alone: days in order, a visitor, a facility, an assurance and 1 to
    /// [`MAX_TOPICS`] topics named.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.from > self.until {
            let problem = Problem::DatesOutOfOrder {
                first: self.from,
                second: self.until,
            };
            return Err(Invalid::at("visit.until", problem));
        }
        let named = |place: &str, text: &str, what: &str| {
            if text.trim().is_empty() || text.len() > 256 {
                let msg = format!("a visit names {what} in 1 to 256 characters");
                Err(Invalid::at(place, Problem::Inconsistent(msg)))
            } else {
                Ok(())
            }
        };
        named("visit.visitor", &self.visitor, "its visitor")?;
        named("visit.facility", &self.facility, "the facility visited")?;
        named(
            "visit.assurance",
            &self.assurance,
            "the visitor's assurance",
        )?;
        if self.topics.is_empty() || self.topics.len() > MAX_TOPICS {
            let msg = format!("a visit names 1 to {MAX_TOPICS} topics");
            return Err(Invalid::at("visit.topics", Problem::Inconsistent(msg)));
        }
        Ok(())
    }

    /// Whether this authorisation allows at most what `asked` asks for: the same visitor,
    /// host, facility, assurance and kind, days within the asked ones, a level no higher in the
    /// host's `scheme`, topics among the asked ones. `Err` says what goes beyond.
    pub fn within(&self, asked: &Visit, scheme: &Scheme) -> Result<(), String> {
        let same = self.host == asked.host
            && self.visitor == asked.visitor
            && self.facility == asked.facility
            && self.assurance == asked.assurance
            && self.inspection == asked.inspection;
        if !same {
            return Err(
                "an authorisation names the visitor, host, facility, assurance and kind of \
                 visit asked for"
                    .to_owned(),
            );
        }
        if self.from < asked.from || self.until > asked.until {
            return Err(format!(
                "the visit was asked for {} to {}: an authorisation allows no other days",
                asked.from, asked.until
            ));
        }
        let rank = |l: &LevelId| scheme.rank(l.as_str());
        match (rank(&self.level), rank(&asked.level)) {
            (Some(given), Some(wanted)) if given <= wanted => {}
            _ => {
                return Err(format!(
                    "level `{}` is above the `{}` asked for",
                    self.level, asked.level
                ));
            }
        }
        if let Some(t) = self.topics.iter().find(|t| !asked.topics.contains(t)) {
            return Err(format!("topic `{t}` was not asked for"));
        }
        Ok(())
    }
}

impl Visit {
    /// Whether `assurance` vouches for this visit by `requester`'s visitor (S1): given by the
    /// requester to the host, under `agreement`, for the visitor, standing on every day of the
    /// visit, at a level whose equivalent in the host's `scheme` (by the terms in force on the
    /// first day) is at least the visit's. `Err` says what it lacks.
    pub fn assured_by(
        &self,
        assurance: &Assurance,
        agreement: &Agreement,
        requester: PartyCode,
        scheme: &Scheme,
    ) -> Result<(), String> {
        let id = &assurance.id;
        if assurance.by != requester || assurance.to != self.host {
            return Err(format!(
                "assurance `{id}` is not {requester}'s to {}",
                self.host
            ));
        }
        if &assurance.agreement != agreement.id() || assurance.recipient != self.visitor {
            return Err(format!(
                "assurance `{id}` is not given under `{}` for {}",
                agreement.id(),
                self.visitor
            ));
        }
        if assurance.given > self.from || assurance.until < self.until {
            return Err(format!(
                "assurance `{id}` stands from {} to {}, not on every day of the visit",
                assurance.given, assurance.until
            ));
        }
        let equivalent = agreement.equivalence_at(self.from).remark(
            requester,
            assurance.level.as_str(),
            self.host,
        );
        let rank = |l: &LevelId| scheme.rank(l.as_str());
        match equivalent.and_then(rank) {
            Some(cleared) if rank(&self.level).is_some_and(|r| r <= cleared) => Ok(()),
            _ => Err(format!(
                "assurance `{id}` clears {} to `{}`, below the visit's `{}`",
                self.visitor, assurance.level, self.level
            )),
        }
    }
}
