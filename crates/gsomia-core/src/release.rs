//! Release to another party (SPEC §4, R1–R5).
//!
//! [`release`] is a pure function of the world, the item as its holder keeps it, the recipient
//! and the day. The node adds what needs its state: the binding check and destruction (R6), the
//! person or standing rule that released (R7), and the envelope (R8).
//!
//! Every agreement naming both parties is tried, bilateral ones before hub arrangements; the
//! first that allows wins. When none does, the refusal is that of the agreement that passed the
//! most rules (in the order R1…R5), the earlier one on a tie.
//!
//! Choices where SPEC is silent: an item goes back to its originator without consent (that is
//! not a third-party release, and neither `releasable_to` nor `NOFORN` limits it) and is then
//! marked with the originator's own level; an item
//! under an agreement with a scope needs every one of its topics inside it.

use crate::agreement::{Agreement, State, Status};
use crate::consent::{Covered, Grantee, Onward};
use crate::date::Date;
use crate::decision::{Decision, Rule};
use crate::item::Item;
use crate::label::{Marking, Tag};
use crate::party::PartyCode;
use crate::scheme::LevelId;
use crate::world::World;

/// An allowed release: under which agreement, and how the recipient marks the item (M2).
#[derive(Debug, Clone)]
pub struct Release<'w> {
    /// The agreement that allows it.
    pub agreement: &'w Agreement,
    /// The recipient's marking.
    pub marking: Marking,
}

/// Why one agreement does not allow a release; rendered only for the one reported.
enum Failure<'i> {
    NotInForce(Status),
    ThroughHub(PartyCode),
    NoRow,
    OutOfScope(&'i Tag),
    NoConsent(PartyCode),
    Noforn,
    NotReleasableTo,
    NoAssurance(LevelId),
}

impl Failure<'_> {
    /// How many rules passed before this one failed.
    fn passed(&self) -> u8 {
        match self {
            Failure::NotInForce(_) | Failure::ThroughHub(_) => 0,
            Failure::NoRow => 1,
            Failure::OutOfScope(_) => 2,
            Failure::NoConsent(_) => 3,
            Failure::Noforn | Failure::NotReleasableTo => 4,
            Failure::NoAssurance(_) => 5,
        }
    }

    fn rule(&self) -> Rule {
        [Rule::R1, Rule::R2, Rule::R3, Rule::R4, Rule::R5, Rule::S1][self.passed() as usize]
    }
}

/// May the holder of `item` release it to `to` on `day`? R1–R5.
pub fn release<'w>(
    world: &'w World,
    item: &Item,
    to: PartyCode,
    day: Date,
) -> Decision<Release<'w>> {
    let holder = item.holder();
    if holder == to {
        return Decision::deny(Rule::R1, format!("{to} already holds the item"));
    }
    let mut best: Option<(&Agreement, Failure)> = None;
    for agreement in world.agreements_between(holder, to) {
        match evaluate(world, agreement, item, holder, to, day) {
            Ok(marking) => return Decision::Allow(Release { agreement, marking }),
            Err(f) => {
                if best.as_ref().is_none_or(|(_, b)| f.passed() > b.passed()) {
                    best = Some((agreement, f));
                }
            }
        }
    }
    let Some((agreement, failure)) = best else {
        return Decision::deny(
            Rule::R1,
            format!("no agreement names both {holder} and {to}"),
        );
    };
    let message = explain(world, agreement, &failure, item, holder, to, day);
    Decision::deny(failure.rule(), message)
}

fn evaluate<'i>(
    world: &World,
    agreement: &Agreement,
    item: &'i Item,
    holder: PartyCode,
    to: PartyCode,
    day: Date,
) -> Result<Marking, Failure<'i>> {
    let label = item.label();
    // R1: in force, and directly between the two unless one of them is the hub.
    let status = agreement.state_at(day);
    if !status.state.in_force() {
        return Err(Failure::NotInForce(status));
    }
    if let Some(hub) = agreement.hub()
        && hub != holder
        && hub != to
    {
        return Err(Failure::ThroughHub(hub));
    }
    // R2: the holder's level has a row; the recipient's level is the first of its cell.
    // The terms in force that day (A9).
    let table = agreement.equivalence_at(day);
    let level = table
        .remark(holder, item.holder_level().as_str(), to)
        .ok_or(Failure::NoRow)?;
    // R3: every topic within the scope.
    if let Some(scope) = agreement.scope_at(day)
        && let Some(t) = label
            .topics
            .iter()
            .find(|t| !scope.iter().any(|s| s == t.as_str()))
    {
        return Err(Failure::OutOfScope(t));
    }
    // R4: the holder is the originator, or holds each originator's consent (the third-party
    // rule, P4 for derived items). Returning an item to its originator needs no consent.
    for originator in label.originators() {
        if originator == holder || originator == to {
            continue;
        }
        let covered = Covered {
            id: item.id(),
            topics: &label.topics,
            purpose: &label.purpose,
        };
        let onward = Onward {
            holder,
            to: Grantee::Party(to),
            day,
        };
        let consented = world
            .consents_for(item.id())
            .any(|c| c.covers(originator, covered, onward));
        if !consented {
            return Err(Failure::NoConsent(originator));
        }
    }
    // R5: releasability, which limits release to foreign parties only.
    if to == label.originator {
        return Ok(Marking {
            party: to,
            level: label.level.clone(),
            originator: label.originator,
        });
    }
    if label.noforn() {
        return Err(Failure::Noforn);
    }
    if let Some(list) = &label.releasable_to
        && !list.contains(&to)
    {
        return Err(Failure::NotReleasableTo);
    }
    // S1: where the agreement asks, the recipient's assurance for at least this level.
    if agreement.terms().requires_assurance {
        let rank = |l: &LevelId| world.scheme(to).and_then(|s| s.rank(l.as_str()));
        let needed = rank(level);
        let assured = world.assurances().iter().any(|a| {
            a.by == to
                && a.to == holder
                && a.agreement == *agreement.id()
                && a.given <= day
                && day <= a.until
                && rank(&a.level) >= needed
        });
        if !assured {
            return Err(Failure::NoAssurance(level.clone()));
        }
    }
    Ok(Marking {
        party: to,
        level: level.clone(),
        originator: label.originator,
    })
}

fn explain(
    world: &World,
    agreement: &Agreement,
    failure: &Failure,
    item: &Item,
    holder: PartyCode,
    to: PartyCode,
    day: Date,
) -> String {
    let id = agreement.id();
    let label = item.label();
    match failure {
        Failure::NotInForce(status) => {
            let why = match (status.state, status.terminates_on) {
                (State::Terminated, Some(t)) => format!("it terminated on {t}"),
                (State::Pending, _) => "it is pending: not every party has signed".to_owned(),
                (state, _) => format!("it is {state}"),
            };
            let mut msg = format!("`{id}` is not in force on {day}: {why}");
            let route = world.agreements_between(holder, to).find(|a| {
                a.hub().is_some_and(|h| h != holder && h != to) && a.state_at(day).state.in_force()
            });
            if let Some(a) = route
                && let Some(hub) = a.hub()
            {
                msg += &format!(
                    "; {holder} and {to} still share `{}` through its hub {hub}",
                    a.id()
                );
            }
            msg
        }
        Failure::ThroughHub(hub) => format!(
            "{holder} and {to} share `{id}` only through its hub {hub}: release to {hub}, \
             which may pass the item on to {to} with {}'s consent (R4)",
            label.originator
        ),
        Failure::NoRow => format!(
            "`{id}` has no equivalent for {holder} level `{}`: a level without a row is not \
             exchanged, never rounded",
            item.holder_level()
        ),
        Failure::OutOfScope(topic) => format!(
            "topic `{topic}` is outside the scope of `{id}` ({})",
            agreement.scope_at(day).unwrap_or_default().join(", ")
        ),
        Failure::NoConsent(originator) => format!(
            "{holder} is not the originator and holds no consent from {originator} to release \
             `{}` to {to} for `{}` on {day}, for the item or standing for one of its topics \
             (third-party rule)",
            item.id(),
            label.purpose
        ),
        Failure::Noforn => "the item is NOFORN: releasable to no foreign party".to_owned(),
        Failure::NoAssurance(level) => format!(
            "`{id}` asks for {to}'s signed assurance before release, and {holder} holds none \
             from {to} covering `{level}` on {day}"
        ),
        Failure::NotReleasableTo => {
            let list = label.releasable_to.as_deref().unwrap_or_default();
            let names: Vec<_> = list.iter().map(|p| p.as_str()).collect();
            format!(
                "the item is releasable only to {}, not to {to}",
                names.join(", ")
            )
        }
    }
}
