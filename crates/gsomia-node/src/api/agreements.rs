//! Node descriptor, parties and agreements (A1–A8).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gsomia_core::{Action, Agreement, Date, EventKind, Rule};
use gsomia_store::{Batch, Store, Verdict, Write};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, Body, Caller, Params, entry, internal, refuse};
use crate::error::{ApiError, ErrorBody};

#[utoipa::path(get, path = "/api/v1/node", tag = "node", responses((status = 200, description = "This node's descriptor: code, name, scheme, public keys, endpoint", body = Object)))]
pub(super) async fn descriptor(State(node): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(node.descriptor().map_err(internal)?)))
}

#[utoipa::path(get, path = "/api/v1/parties", tag = "node", security(("bearer" = [])), responses((status = 200, description = "The parties this node knows", body = Object), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn parties(
    State(node): State<AppState>,
    _: Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "parties": node.store().parties()? })))
}

/// The state of an agreement on a day, as `gsomia agreement state` prints it.
pub(super) fn status(a: &Agreement, at: Date) -> Value {
    let s = a.state_at(at);
    json!({
        "at": at, "state": s.state, "in_force": s.state.in_force(),
        "entered_into_force": s.entered_into_force, "term_ends": s.term_ends, "terminates_on": s.terminates_on,
    })
}

#[utoipa::path(get, path = "/api/v1/agreements", tag = "agreements", security(("bearer" = [])), responses((status = 200, description = "Agreements with their state today", body = Object), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn list(State(node): State<AppState>, _: Caller) -> Result<Json<Value>, ApiError> {
    let world = node.world();
    let today = node.today();
    let list: Vec<Value> = world
        .agreements()
        .iter()
        .map(|a| json!({ "id": a.id(), "title": a.title(), "parties": a.parties(), "status": status(a, today) }))
        .collect();
    Ok(Json(json!({ "agreements": list })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct AtQuery {
    #[param(value_type = Option<String>)]
    at: Option<Date>,
}

#[utoipa::path(get, path = "/api/v1/agreements/{id}", tag = "agreements", security(("bearer" = [])), params(("id" = String, Path, description = "Agreement id"), AtQuery), responses((status = 200, description = "The agreement and its state on `at` (A8)", body = Object), (status = 404, description = "No such agreement", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn get(
    State(node): State<AppState>,
    _: Caller,
    Path(id): Path<String>,
    Params(q): Params<AtQuery>,
) -> Result<Json<Value>, ApiError> {
    let world = node.world();
    let a = world
        .agreement(&id)
        .ok_or_else(|| ApiError::not_found(format!("no agreement `{id}`")))?;
    let at = q.at.unwrap_or_else(|| node.today());
    Ok(Json(
        json!({ "agreement": a.file(), "status": status(a, at) }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct EventRequest {
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    kind: EventKind,
    #[schema(value_type = Option<String>)]
    on: Option<Date>,
    note: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/agreements/{id}/events", tag = "agreements", security(("bearer" = [])), params(("id" = String, Path, description = "Agreement id")), request_body = EventRequest, responses((status = 201, description = "Recorded and queued for the other parties", body = Object), (status = 403, description = "Not an authority", body = ErrorBody), (status = 409, description = "Contradicts the history (A7)", body = ErrorBody), (status = 422, description = "Wrong shape", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// This party's event on an agreement, by its authority; refused per A7. The event is queued
/// for every other party.
pub(super) async fn event(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<EventRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let action = "agreement.event";
    crate::service::permit(&node, &user, Action::AgreementEvent, action, &id).await?;
    // Held from reading the agreement to reloading the world: no concurrent event is lost (A7).
    let _gate = node.agreements_gate.lock().await;
    let world = node.world();
    let a = world
        .agreement(&id)
        .ok_or_else(|| ApiError::not_found(format!("no agreement `{id}`")))?;
    let on = req.on.unwrap_or_else(|| node.today());
    let event = gsomia_core::Event {
        kind: req.kind,
        by: node.party(),
        on,
        note: req.note,
    };
    let updated = match a.with_event(event.clone()) {
        Ok(u) => u,
        Err(invalid) => {
            let e = ApiError {
                status: StatusCode::CONFLICT,
                code: "contradiction",
                message: invalid.problem.to_string(),
                rule: Some("A7"),
            };
            return Err(refuse(&node, &user, action, &id, e).await);
        }
    };
    let mut writes = vec![Write::PutAgreement(Box::new(updated.file().clone()))];
    for p in updated.parties().iter().filter(|p| **p != node.party()) {
        writes.push(Write::Enqueue {
            peer: p.to_string(),
            kind: "agreement_event".into(),
            payload: json!({ "agreement": id, "event": event }),
            at: node.now_text(),
        });
    }
    let draft = entry(
        &node,
        &user.id,
        action,
        &id,
        Verdict::Allow,
        Some(Rule::A7),
        json!({ "event": event }),
    );
    node.write(Batch {
        writes,
        audit: vec![draft],
    })
    .await?;
    node.reload_world().map_err(internal)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "event": event, "status": status(&updated, node.today()) })),
    ))
}

/// An authority proposes a new agreement: stored here (pending until every party has signed,
/// A1) and sent to every other party, whose authority signs it through `…/events`.
#[utoipa::path(post, path = "/api/v1/agreements", tag = "agreements", security(("bearer" = [])),
    request_body(content = Object, description = "An agreement file (as in examples/model-case/agreements/); its events, if any, are this party's signature"),
    responses((status = 201, description = "Stored and sent to the other parties", body = Object), (status = 403, description = "Not an authority", body = ErrorBody),
              (status = 409, description = "An agreement with that id exists", body = ErrorBody), (status = 422, description = "Invalid, not naming this party, unknown parties, or events by others", body = ErrorBody)))]
pub(super) async fn propose(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(file): Body<gsomia_core::AgreementFile>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let action = "agreement.propose";
    let id = file.id.to_string();
    crate::service::permit(&node, &user, Action::AgreementEvent, action, &id).await?;
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
            peer: p.to_string(),
            kind: "agreement_proposal".into(),
            payload: json!(file),
            at: node.now_text(),
        });
    }
    let draft = entry(
        &node,
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
    node.reload_world().map_err(internal)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "agreement": file, "status": status(&a, node.today()) })),
    ))
}
