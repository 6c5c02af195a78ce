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

/// May `user` (of the originator's node) change an item's level from `old` to `new` (M4)? An
/// authority, cleared for both levels: nobody classifies above, or sees past, their clearance.
pub fn may_reclassify(
    world: &World,
    user: &crate::User,
    old: &LevelId,
    new: &LevelId,
) -> Result<(), Refusal> {
    crate::policy::permit(user, crate::Action::Reclassify)?;
    let scheme = world.scheme(user.party);
    let rank = |l: &str| scheme.and_then(|s| s.rank(l));
    let have = rank(user.clearance.as_str());
    for level in [old, new] {
        if have.is_none() || have < rank(level.as_str()) {
            return Err(Refusal {
                rule: Rule::M4,
                message: format!(
                    "{} is cleared for `{}`: the officer who reclassifies is cleared for both \
                     the old and the new level",
                    user.id, user.clearance
                ),
            });
        }
    }
    Ok(())
}

/// H3: the level a holder claims for an item it passes on (its marking) must be at least the
/// level the originator's signed label maps to along the custody chain, where this node knows
/// the chain's tables; and the level `assigned` here must be at least the level the
/// originator's label maps to directly under any agreement between the originator and `me`.
/// A hub can not lower a level.
pub fn check_claimed_level(
    world: &World,
    item: &crate::Item,
    me: PartyCode,
    assigned: &LevelId,
) -> Result<(), Refusal> {
    let label = item.label();
    let refuse = |message: String| Refusal {
        rule: Rule::H3,
        message,
    };
    let rank = |party: PartyCode, level: &str| world.scheme(party).and_then(|s| s.rank(level));
    let holder = item.holder();
    if let Ok(chain) = remark_custody(world, label.originator, &label.level, item.custody())
        && let Some(hop) = chain.last()
    {
        let claimed = item.holder_level();
        if rank(holder, claimed.as_str()) < rank(holder, hop.level.as_str()) {
            return Err(refuse(format!(
                "{holder} marks the item `{claimed}`, below `{}`, the level {}'s signed label \
                 maps to along its custody chain",
                hop.level, label.originator
            )));
        }
    }
    let floor = world
        .agreements_between(label.originator, me)
        .filter_map(|a| {
            a.equivalence()
                .remark(label.originator, label.level.as_str(), me)
        })
        .max_by_key(|l| rank(me, l.as_str()));
    if let Some(floor) = floor
        && rank(me, assigned.as_str()) < rank(me, floor.as_str())
    {
        return Err(refuse(format!(
            "the item would be marked `{assigned}` here, below `{floor}`, the level {}'s signed \
             label maps to",
            label.originator
        )));
    }
    Ok(())
}
