//! Contractor facilities (C1, Art. 16): a facility is registered with its facility clearance,
//! its responsible person and its inspections (the initial one, then periodic ones). A
//! contractor reads a partner's item only with that partner's consent (P2), at a registered
//! facility whose clearance covers the item's level and whose last inspection is not older than
//! the agreements with the originator allow ([`crate::read`] refuses naming C1).

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::input::{Invalid, Problem};
use crate::party::PartyCode;
use crate::scheme::LevelId;

/// A contractor facility, as the party that registered it keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facility {
    /// Its id at the node.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The party that registered it.
    pub party: PartyCode,
    /// Its facility clearance: a level of the party's scheme.
    pub clearance: LevelId,
    /// The person responsible for its security.
    pub responsible: String,
    /// The days it was inspected, the initial inspection first.
    #[serde(default)]
    pub inspections: Vec<Date>,
}

impl Facility {
    /// Checks a facility alone: an id, a responsible person, inspections in date order.
    pub fn check(self) -> Result<Facility, Invalid> {
        let inconsistent =
            |place: &str, msg: &str| Err(Invalid::at(place, Problem::Inconsistent(msg.to_owned())));
        if self.id.trim().is_empty() || self.id.len() > 128 {
            return inconsistent("id", "a facility has an id of 1 to 128 characters");
        }
        if self.responsible.trim().is_empty() {
            return inconsistent("responsible", "a facility names the person responsible");
        }
        if let Some(w) = self.inspections.windows(2).find(|w| w[0] > w[1]) {
            let problem = Problem::DatesOutOfOrder {
                first: w[0],
                second: w[1],
            };
            return Err(Invalid::at("inspections", problem));
        }
        Ok(self)
    }

    /// The last inspection on or before `day`.
    pub fn inspected_by(&self, day: Date) -> Option<Date> {
        self.inspections.iter().rev().find(|d| **d <= day).copied()
    }
}
