//! Assurances (S1, Art. 7(5)): before a party first provides items at a level to a partner's
//! representative or facility, it holds the partner's signed assurance that the recipient holds
//! the clearance, needs the items for an official purpose, and will protect them as the
//! agreement says. An agreement whose terms say `requires_assurance` releases nothing without
//! one ([`crate::release`] refuses naming S1). A node keeps only assurances whose signature it
//! verified (`gsomia-crypto`).

use serde::{Deserialize, Serialize};

use crate::agreement::AgreementId;
use crate::date::Date;
use crate::input::{Invalid, Problem};
use crate::party::PartyCode;
use crate::scheme::LevelId;

/// An assurance as written and signed by the recipient's party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assurance {
    /// Its id (the giver's: `<party>-assurance-<hex>`).
    pub id: String,
    /// The party that gives it: the recipient's.
    pub by: PartyCode,
    /// The party it is given to: the one that will provide items.
    pub to: PartyCode,
    /// The agreement it is given under.
    pub agreement: AgreementId,
    /// The representative or facility that will receive (for node-to-node release, the node).
    pub recipient: String,
    /// The highest level, in the giver's scheme, the recipient is cleared for.
    pub level: LevelId,
    /// The official purpose the recipient needs the items for.
    pub purpose: String,
    /// The first day it stands.
    pub given: Date,
    /// The last day it stands.
    pub until: Date,
    /// The giver's signature (base64) over the assurance without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Assurance {
    /// Checks an assurance alone: days in order, given to another party, a recipient and a
    /// purpose named.
    pub fn check(self) -> Result<Assurance, Invalid> {
        if self.given > self.until {
            let problem = Problem::DatesOutOfOrder {
                first: self.given,
                second: self.until,
            };
            return Err(Invalid::at("until", problem));
        }
        let inconsistent =
            |place: &str, msg: &str| Err(Invalid::at(place, Problem::Inconsistent(msg.to_owned())));
        if self.by == self.to {
            return inconsistent("to", "an assurance is given to another party");
        }
        if self.recipient.trim().is_empty() {
            return inconsistent("recipient", "an assurance names its recipient");
        }
        if self.purpose.trim().is_empty() {
            return inconsistent("purpose", "an assurance names the official purpose");
        }
        Ok(self)
    }
}
