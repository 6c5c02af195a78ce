//! Access to what is held: who may read an item (SPEC §6, P1–P3).
//!
//! A user reads an item at their own party. An item from another party is read at the level
//! that party marks it with (M2): the holder's marking where the item carries one, otherwise the
//! level the agreement between originator and reader gives, whatever that agreement's state
//! today (P3: protection survives termination).

use crate::consent::{Covered, Grantee, Onward};
use crate::date::Date;
use crate::decision::{Decision, Rule};
use crate::item::Item;
use crate::label::{Label, Marking};
use crate::scheme::LevelId;
use crate::user::{User, UserKind};
use crate::world::World;

/// C1: a contractor reads a partner's item at a registered facility of the reader's party whose
/// clearance covers `level` and whose last inspection is recent enough for every agreement
/// between the reader's party and the item's originators that limits it.
fn facility_covers(
    world: &World,
    label: &Label,
    level: &LevelId,
    user: &User,
    day: Date,
) -> Result<(), String> {
    let party = user.party;
    let Some(f) = user.facility.as_deref().and_then(|id| world.facility(id)) else {
        return Err(format!(
            "{} is a contractor of no facility registered at {party}",
            user.id
        ));
    };
    let rank = |l: &LevelId| world.scheme(party).and_then(|s| s.rank(l.as_str()));
    if f.party != party || rank(&f.clearance) < rank(level) {
        return Err(format!(
            "facility `{}` is cleared to `{}`, below the item's level `{level}`",
            f.id, f.clearance
        ));
    }
    let limit = label
        .originators()
        .filter(|o| *o != party)
        .flat_map(|o| world.agreements_between(o, party))
        .filter_map(|a| a.terms().inspection_days)
        .min();
    if let Some(days) = limit {
        let recent = f
            .inspected_by(day)
            .is_some_and(|last| last.add_days(i64::from(days)) >= day);
        if !recent {
            let last = f
                .inspected_by(day)
                .map_or("never".to_owned(), |d| format!("last on {d}"));
            return Err(format!(
                "facility `{}` was inspected {last}: the agreement allows at most {days} days",
                f.id
            ));
        }
    }
    Ok(())
}

/// V1: a visitor reads, on a day of the visit, the host's own items (the third-party rule: no
/// other originator's) at a level at most the authorised one and on one of its topics.
fn visit_allows(
    world: &World,
    label: &Label,
    level: &LevelId,
    user: &User,
    id: &str,
    day: Date,
) -> Result<(), String> {
    let party = user.party;
    let Some(v) = world.visit(id).filter(|v| v.host == party) else {
        return Err(format!(
            "{} visits under `{id}`, which {party} has not authorised",
            user.id
        ));
    };
    if day < v.from || day > v.until {
        return Err(format!(
            "{}'s visit is authorised from {} to {}, not on {day}",
            user.id, v.from, v.until
        ));
    }
    if let Some(o) = label.originators().find(|o| *o != party) {
        return Err(format!(
            "a visitor to {party} reads {party}'s own items: {o}'s are not {party}'s to show"
        ));
    }
    let rank = |l: &LevelId| world.scheme(party).and_then(|s| s.rank(l.as_str()));
    if rank(level) > rank(&v.level) || rank(level).is_none() {
        return Err(format!(
            "{}'s visit is authorised up to `{}`, below the item's level",
            user.id, v.level
        ));
    }
    let on_topic = v
        .topics
        .iter()
        .any(|t| *t == label.purpose || label.topics.contains(t));
    if !on_topic {
        return Err(format!(
            "none of the topics of {}'s visit covers the item's purpose or topics",
            user.id
        ));
    }
    Ok(())
}

/// An allowed read, with the marking the item is read under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The reader's party's marking of the item.
    pub marking: Marking,
}

/// May `user` read `item` on `day`? M2 (marking at the reader's party), P1, P2.
pub fn read(world: &World, item: &Item, user: &User, day: Date) -> Decision<Access> {
    read_label(world, item.id(), item.label(), item.marking(), user, day)
}

/// [`read`] from what a holder keeps in clear (the item's id, the originator's label and the
/// holder's marking), so that a node decides before it decrypts anything: the content plays no
/// part in the decision.
pub fn read_label(
    world: &World,
    id: &str,
    label: &Label,
    marking: Option<&Marking>,
    user: &User,
    day: Date,
) -> Decision<Access> {
    let party = user.party;
    let level: &LevelId = if let Some(m) = marking {
        if m.party != party {
            let msg = format!(
                "this copy is held by {}; a user of {party} reads only {party}'s copies",
                m.party
            );
            return Decision::deny(Rule::M2, msg);
        }
        &m.level
    } else if label.originator == party {
        &label.level
    } else {
        let remark = world
            .agreements_between(label.originator, party)
            .find_map(|a| {
                a.equivalence()
                    .remark(label.originator, label.level.as_str(), party)
            });
        match remark {
            Some(level) => level,
            None => {
                let msg = format!(
                    "no agreement between {} and {party} has an equivalent for the item's \
                     level: {party} can not hold the item",
                    label.originator
                );
                return Decision::deny(Rule::M2, msg);
            }
        }
    };
    if let Some(visit) = &user.visit
        && let Err(msg) = visit_allows(world, label, level, user, visit, day)
    {
        return Decision::deny(Rule::V1, msg);
    }
    // P1: clearance rank at least the item's rank, and a duty covering its purpose or a topic.
    let scheme = world.scheme(party);
    let rank = |l: &str| scheme.and_then(|s| s.rank(l));
    match (rank(user.clearance.as_str()), rank(level.as_str())) {
        (Some(have), Some(need)) if have >= need => {}
        _ => {
            // H8: the refusal names the rule, never the item's level, topics or purpose.
            let msg = format!(
                "{}'s clearance `{}` is below the item's level",
                user.id, user.clearance
            );
            return Decision::deny(Rule::P1, msg);
        }
    }
    let need_to_know = user
        .duties
        .iter()
        .any(|d| *d == label.purpose || label.topics.contains(d));
    if !need_to_know {
        let msg = format!(
            "none of {}'s duties covers the item's purpose or topics: clearance alone is not \
             enough",
            user.id
        );
        return Decision::deny(Rule::P1, msg);
    }
    // P2: another party's information goes to contractors only with that party's consent.
    if user.kind == UserKind::Contractor {
        for originator in label.originators().filter(|o| *o != party) {
            let covered = Covered {
                id,
                topics: &label.topics,
                purpose: &label.purpose,
            };
            let onward = Onward {
                holder: party,
                to: Grantee::Contractors,
                day,
            };
            let consented = world
                .consents_for(id)
                .any(|c| c.covers(originator, covered, onward));
            if !consented {
                let msg = format!(
                    "{} is a contractor and {originator} has not consented to release `{}` to \
                     {party}'s contractors",
                    user.id, id
                );
                return Decision::deny(Rule::P2, msg);
            }
        }
        if label.originators().any(|o| o != party)
            && let Err(msg) = facility_covers(world, label, level, user, day)
        {
            return Decision::deny(Rule::C1, msg);
        }
    }
    Decision::Allow(Access {
        marking: Marking {
            party,
            level: level.clone(),
            originator: label.originator,
        },
    })
}
