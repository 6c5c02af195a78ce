//! Reclassification (M4): only the originator changes an item's classification, and every
//! holder applies it to every copy, onward recipients included. A holder's new level is found
//! the way it was first marked: along the custody chain, hop by hop, each under the agreement it
//! crossed. Nobody downgrades on their own; and a new level without a row in some hop's table
//! can not be applied there (never rounded).

use crate::decision::{Refusal, Rule};
use crate::label::Hop;
use crate::party::PartyCode;
use crate::scheme::LevelId;
use crate::world::World;

/// The custody chain with every hop's level re-marked from the originator's new `level`.
pub fn remark_custody(
    world: &World,
    originator: PartyCode,
    level: &LevelId,
    custody: &[Hop],
) -> Result<Vec<Hop>, Refusal> {
    let refuse = |message: String| Refusal {
        rule: Rule::M4,
        message,
    };
    let mut holder = originator;
    let mut held = level.clone();
    let mut out = Vec::with_capacity(custody.len());
    for hop in custody {
        if hop.from != holder {
            return Err(refuse(format!(
                "the custody chain breaks: a hop from {} follows {holder}",
                hop.from
            )));
        }
        let Some(agreement) = world.agreement(hop.agreement.as_str()) else {
            return Err(refuse(format!(
                "agreement `{}` of the custody chain is unknown here",
                hop.agreement
            )));
        };
        let Some(next) = agreement
            .equivalence()
            .remark(hop.from, held.as_str(), hop.to)
        else {
            return Err(refuse(format!(
                "`{}` has no equivalent for {} level `{held}`: the new classification can not be applied at {}",
                hop.agreement, hop.from, hop.to
            )));
        };
        holder = hop.to;
        held = next.clone();
        out.push(Hop {
            level: held.clone(),
            ..hop.clone()
        });
    }
    Ok(out)
}
