//! Letters between the parties' authorities under an agreement (N1, D1): law notices and their
//! acknowledgements, disputes and their settlements. A letter is signed by its sender's key,
//! kept by the sender and sent to every other party of the agreement (a visit's letters: to the
//! other party of the visit only, V1), which keeps it once its signature verifies and it answers
//! what it says it answers (`Letter::may_answer`). Letters change no decision (an open dispute
//! leaves releases and reads as they were, D1) except a visit authorisation, which lets its
//! visitor read at the host ([`super::visits`]).

use gsomia_core::{Action, Date, Letter, LetterKind, PartyCode, User, Visit};
use gsomia_store::{Batch, Verdict, Write};
use serde_json::{Value, json};

use super::permit;
use crate::error::ApiError;
use crate::node::{Node, entry};

/// A letter as an authority asks for it.
pub struct Draft {
    /// What it is.
    pub kind: LetterKind,
    /// What it says.
    pub text: String,
    /// The letter it answers.
    pub answers: Option<String>,
    /// A law notice's day of effect.
    pub effective: Option<Date>,
    /// A visit request's or authorisation's visit.
    pub visit: Option<Visit>,
}

/// This party's authority writes under agreement `agreement`: the letter, checked, signed,
/// kept and queued for every other party of the agreement.
pub async fn write(
    node: &Node,
    user: &User,
    agreement: &str,
    draft: Draft,
) -> Result<Value, ApiError> {
    write_with(node, user, agreement, draft, |_| Ok(vec![])).await
}

/// [`write`], with what `also` makes of the letter, once checked and before it is signed,
/// written in the same commit.
pub(super) async fn write_with(
    node: &Node,
    user: &User,
    agreement: &str,
    draft: Draft,
    also: impl FnOnce(&Letter) -> Result<Vec<Write>, ApiError>,
) -> Result<Value, ApiError> {
    let action = "letter.send";
    permit(node, user, Action::Correspond, action, agreement).await?;
    let world = node.world();
    let a = world
        .agreement(agreement)
        .filter(|a| a.names(node.party()))
        .ok_or_else(|| {
            ApiError::not_found(format!("no agreement `{agreement}` of this party's"))
        })?;
    let letter = Letter {
        id: super::fresh_id(node, "letter")?,
        agreement: a.id().clone(),
        kind: draft.kind,
        from: node.party(),
        answers: draft.answers,
        text: draft.text,
        effective: draft.effective,
        visit: draft.visit,
        sent: node.now_text(),
        signature: None,
    }
    .check()
    .map_err(|e| ApiError::unprocessable(format!("{}: {}", e.place, e.problem)))?;
    let held = node.store().letters(agreement)?;
    if let Err(m) = Letter::may_answer(&letter, &held, &world) {
        let e = ApiError::against(letter.kind.rule(), format!("answers: {m}"));
        return Err(super::refuse(node, user, action, agreement, e).await);
    }
    let to: Vec<_> = if letter.kind.of_a_visit() {
        vec![other_party(&letter, &held)]
    } else {
        a.parties()
            .iter()
            .copied()
            .filter(|p| *p != node.party())
            .collect()
    };
    let extra = also(&letter)?;
    let verified = super::sign_own(node, letter)?;
    let payload = json!({ "letter": *verified });
    let mut writes: Vec<Write> = to
        .iter()
        .map(|&peer| Write::Enqueue {
            peer,
            kind: "letter".into(),
            payload: payload.clone(),
            at: node.now_text(),
        })
        .collect();
    let draft = entry(
        node,
        &user.id,
        action,
        &verified.id,
        Verdict::Allow,
        Some(verified.kind.rule()),
        json!({ "letter": *verified, "sent_to": to }),
    );
    writes.insert(0, Write::PutLetter(verified));
    writes.extend(extra);
    node.write(Batch {
        writes,
        audit: vec![draft],
    })
    .await?;
    Ok(payload)
}

/// The letters kept under agreement `agreement`, for authorities and security officers, each
/// with whether it is answered (a notice acknowledged by every partner, a dispute settled).
pub async fn list(node: &Node, user: &User, agreement: &str) -> Result<Value, ApiError> {
    permit(node, user, Action::Correspondence, "letter.list", agreement).await?;
    let held = node.store().letters(agreement)?;
    let list: Vec<Value> = held
        .iter()
        .map(|l| {
            let answered_by: Vec<&str> = held
                .iter()
                .filter(|a| a.answers.as_ref() == Some(&l.id))
                .map(|a| a.id.as_str())
                .collect();
            json!({ "letter": l, "answered_by": answered_by })
        })
        .collect();
    Ok(json!({ "agreement": agreement, "letters": list }))
}

/// The party a visit's letter goes to: a request to its host, an answer to the writer of the
/// letter it answers.
fn other_party(letter: &Letter, held: &[Letter]) -> PartyCode {
    let answered = letter
        .answers
        .as_ref()
        .and_then(|id| held.iter().find(|l| &l.id == id));
    match (answered, &letter.visit) {
        (Some(asked), _) => asked.from,
        (None, Some(v)) => v.host,
        (None, None) => letter.from,
    }
}
