//! Agreements (A1–A8): this party's events on an agreement and its proposals, each by an
//! authority, recorded and sent to the other parties. Whoever changes agreements holds
//! `Node::agreements_gate` from reading to reloading the world, the inbox included, so that no
//! concurrent event is lost (A7).

use axum::http::StatusCode;
use gsomia_core::{Action, Agreement, Date, EventKind, Rule, User};
use gsomia_store::{Batch, Verdict, Write};
use serde_json::{Value, json};

use super::{permit, refuse};
use crate::error::ApiError;
use crate::node::{Node, entry};

/// The state of an agreement on a day, as `gsomia agreement state` prints it.
pub fn status(a: &Agreement, at: Date) -> Value {
    let s = a.state_at(at);
    json!({
        "at": at, "state": s.state, "in_force": s.state.in_force(),
        "entered_into_force": s.entered_into_force, "term_ends": s.term_ends, "terminates_on": s.terminates_on,
    })
}

/// This party's event on agreement `id`, by its authority; refused per A7. The event is queued
/// for every other party.
pub async fn event(
    node: &Node,
    user: &User,
    id: &str,
    kind: EventKind,
    on: Option<Date>,
    note: Option<String>,
) -> Result<Value, ApiError> {
    let action = "agreement.event";
    permit(node, user, Action::AgreementEvent, action, id).await?;
    // Held from reading the agreement to reloading the world: no concurrent event is lost (A7).
    let _gate = node.agreements_gate.lock().await;
    let world = node.world();
    let a = world
        .agreement(id)
        .ok_or_else(|| ApiError::not_found(format!("no agreement `{id}`")))?;
    let on = on.unwrap_or_else(|| node.today());
    let event = gsomia_core::Event {
        kind,
        by: node.party(),
        on,
        note,
    };
    let updated = match a.with_event(event.clone()) {
        Ok(u) => u,
        Err(invalid) => {
            let e = ApiError {
                status: StatusCode::CONFLICT,
                code: "contradiction",
                message: invalid.problem.to_string(),
                rule: Some(gsomia_core::Rule::A7),
            };
            return Err(refuse(node, user, action, id, e).await);
        }
    };
    let mut writes = vec![Write::PutAgreement(Box::new(updated.file().clone()))];
    for p in updated.parties().iter().filter(|p| **p != node.party()) {
        writes.push(Write::Enqueue {
            peer: *p,
            kind: "agreement_event".into(),
            payload: json!({ "agreement": id, "event": event }),
            at: node.now_text(),
        });
    }
    let draft = entry(
        node,
        &user.id,
        action,
        id,
        Verdict::Allow,
        Some(Rule::A7),
        json!({ "event": event }),
    );
    node.write(Batch {
        writes,
        audit: vec![draft],
    })
    .await?;
    Ok(json!({ "event": event, "status": status(&updated, node.today()) }))
}

/// An authority proposes a new agreement: stored here (pending until every party has signed,
/// A1) and sent to every other party, whose authority signs it through its events.
pub async fn propose(
    node: &Node,
    user: &User,
    file: gsomia_core::AgreementFile,
) -> Result<Value, ApiError> {
    let action = "agreement.propose";
    let id = file.id.to_string();
    permit(node, user, Action::AgreementEvent, action, &id).await?;
    let _gate = node.agreements_gate.lock().await;
    let a = Agreement::new(file.clone())
        .map_err(|e| ApiError::unprocessable(format!("{}: {}", e.place, e.problem)))?;
    if !a.names(node.party()) {
        return Err(ApiError::unprocessable(format!(
            "parties: the agreement does not name {}",
            node.party()
        )));
    }
    if let Some(e) = file
        .events
        .iter()
        .find(|e| e.by != node.party() || e.kind != EventKind::Signed)
    {
        return Err(ApiError::unprocessable(format!(
            "events: a proposal carries only this party's signature, not a {} by {}",
            e.kind, e.by
        )));
    }
    if node.world().agreement(&id).is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("agreement `{id}` exists: a new agreement is a new agreement (A6)"),
        ));
    }
    let mut all = node.store().agreements()?;
    all.push(file.clone());
    let parties = node.store().parties()?;
    crate::node::build_world(parties, all, vec![])
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let mut writes = vec![Write::PutAgreement(Box::new(file.clone()))];
    for p in a.parties().iter().filter(|p| **p != node.party()) {
        writes.push(Write::Enqueue {
            peer: *p,
            kind: "agreement_proposal".into(),
            payload: json!(file),
            at: node.now_text(),
        });
    }
    let draft = entry(
        node,
        &user.id,
        action,
        &id,
        Verdict::Allow,
        Some(Rule::A1),
        json!({ "parties": a.parties() }),
    );
    node.write(Batch {
        writes,
        audit: vec![draft],
    })
    .await?;
    Ok(json!({ "agreement": file, "status": status(&a, node.today()) }))
}

/// An amendment as an authority proposes it (A9).
pub struct Proposed {
    /// Its id; one is made if absent.
    pub id: Option<String>,
    /// A new equivalence table.
    pub equivalence: Option<Vec<gsomia_core::equivalence::Row>>,
    /// A new scope.
    pub scope: Option<Vec<String>>,
}

/// This party's authority proposes an amendment of agreement `id` (A9), signed by this party
/// today; it takes effect when every party has signed it.
pub async fn amend(node: &Node, user: &User, id: &str, p: Proposed) -> Result<Value, ApiError> {
    let amendment = gsomia_core::agreement::Amendment {
        id: match p.id {
            Some(i) => i,
            None => super::fresh_id(node, "amendment")?,
        },
        equivalence: p.equivalence,
        scope: p.scope,
        signed: vec![],
    };
    sign_amendment_as(node, user, id, "agreement.amend", Err(amendment)).await
}

/// This party's authority signs amendment `amendment` of agreement `id`, proposed by a partner
/// (A9); with the last signature it takes effect.
pub async fn sign_amendment(
    node: &Node,
    user: &User,
    id: &str,
    amendment: &str,
) -> Result<Value, ApiError> {
    sign_amendment_as(node, user, id, "agreement.amendment.sign", Ok(amendment)).await
}

/// Adds this party's signature, today, to a held amendment (`Ok(id)`) or a new one (`Err`),
/// checks the agreement as a whole, keeps it and sends the amendment to the other parties.
async fn sign_amendment_as(
    node: &Node,
    user: &User,
    id: &str,
    action: &str,
    which: Result<&str, gsomia_core::agreement::Amendment>,
) -> Result<Value, ApiError> {
    permit(node, user, Action::AgreementEvent, action, id).await?;
    let _gate = node.agreements_gate.lock().await;
    let world = node.world();
    let a = world
        .agreement(id)
        .filter(|a| a.names(node.party()))
        .ok_or_else(|| ApiError::not_found(format!("no agreement `{id}` of this party's")))?;
    let mut amendment = match which {
        Err(new) => {
            if a.file().amendments.iter().any(|m| m.id == new.id) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!("amendment `{}` exists: a change is a new amendment", new.id),
                ));
            }
            new
        }
        Ok(aid) => {
            let held = a.file().amendments.iter().find(|m| m.id == aid);
            let held =
                held.ok_or_else(|| ApiError::not_found(format!("no amendment `{aid}` of `{id}`")))?;
            if held.signed.iter().any(|s| s.by == node.party()) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!("{} has signed amendment `{aid}` already", node.party()),
                ));
            }
            held.clone()
        }
    };
    amendment.signed.push(gsomia_core::agreement::Signature {
        by: node.party(),
        on: node.today(),
    });
    let updated = a
        .with_amendment(amendment.clone(), node.party())
        .map_err(|e| ApiError::unprocessable(format!("{}: {}", e.place, e.problem)))?;
    let mut all = node.store().agreements()?;
    all.retain(|f| f.id.as_str() != id);
    all.push(updated.file().clone());
    crate::node::build_world(node.store().parties()?, all, vec![])
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let payload = json!({ "agreement": id, "amendment": amendment });
    let mut writes = vec![Write::PutAgreement(Box::new(updated.file().clone()))];
    for p in updated.parties().iter().filter(|p| **p != node.party()) {
        writes.push(Write::Enqueue {
            peer: *p,
            kind: "amendment".into(),
            payload: payload.clone(),
            at: node.now_text(),
        });
    }
    let in_force = updated
        .amendments()
        .find(|(m, _)| m.id == amendment.id)
        .and_then(|(_, from)| from);
    let draft = entry(
        node,
        &user.id,
        action,
        id,
        Verdict::Allow,
        Some(Rule::A9),
        json!({ "amendment": amendment, "in_force_from": in_force }),
    );
    node.write(Batch {
        writes,
        audit: vec![draft],
    })
    .await?;
    Ok(json!({ "agreement": id, "amendment": amendment, "in_force_from": in_force }))
}
