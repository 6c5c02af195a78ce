//! Incidents (P6): loss, compromise or possible compromise of an item is reported at once to
//! its originator and to every party in its custody chain; the investigation's result follows
//! as a second report linked to the first. Any user of the node may report (everyone holds the
//! duty); results come from an authority or security officer.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gsomia_core::{Action, PartyCode, Rule};
use gsomia_store::{Batch, Incident, Store, StoredItem, Verdict, Write};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, Body, Caller, entry};
use crate::error::{ApiError, ErrorBody};
use crate::node::Node;

const KINDS: [&str; 3] = ["loss", "compromise", "possible_compromise"];

/// The parties a report about `item` goes to: its originator and every hop of its custody
/// chain, this node excepted.
fn recipients(node: &Node, item: &StoredItem) -> Vec<PartyCode> {
    let mut to = BTreeSet::new();
    to.insert(item.label.originator);
    for hop in &item.custody {
        to.insert(hop.from);
        to.insert(hop.to);
    }
    to.remove(&node.party());
    to.into_iter().collect()
}

fn writes(node: &Node, incident: &Incident, to: &[PartyCode]) -> Vec<Write> {
    let mut writes = vec![Write::AddIncident(incident.clone())];
    for p in to {
        writes.push(Write::Enqueue {
            peer: p.to_string(),
            kind: "incident".into(),
            payload: json!({ "incident": incident, "holder": node.party() }),
            at: node.now_text(),
        });
    }
    writes
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReportRequest {
    item: String,
    kind: String,
    description: String,
}

#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", security(("bearer" = [])), request_body = ReportRequest, responses((status = 201, description = "Recorded and queued for the originator and the custody chain (P6)", body = Object), (status = 404, description = "No such item", body = ErrorBody), (status = 422, description = "Unknown kind", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Reports an incident.
pub(super) async fn report(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(req): Body<ReportRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !KINDS.contains(&req.kind.as_str()) {
        return Err(ApiError::unprocessable(format!(
            "kind: `{}` is not one of {}",
            req.kind,
            KINDS.join(", ")
        )));
    }
    // Reporting is every holder's duty (P6), for items the reporter may read: an item they may
    // not read is answered as if it did not exist (H8).
    let (item, _) =
        crate::service::readable(&node, &user, "incident.report", &req.item, None).await?;
    let incident = Incident {
        id: 0,
        item: req.item.clone(),
        kind: req.kind,
        description: req.description,
        reported_by: user.id.clone(),
        at: node.now_text(),
        follows: None,
    };
    let to = recipients(&node, &item);
    let draft = entry(
        &node,
        &user.id,
        "incident.report",
        &req.item,
        Verdict::Allow,
        Some(Rule::P6),
        json!({ "kind": incident.kind, "reported_to": to }),
    );
    let committed = node
        .write(Batch {
            writes: writes(&node, &incident, &to),
            audit: vec![draft],
        })
        .await?;
    let id = committed.ids.first().copied().unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(json!({ "incident": Incident { id, ..incident }, "reported_to": to })),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ResultRequest {
    result: String,
    measures: String,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/result", tag = "incidents", security(("bearer" = [])), params(("id" = i64, Path, description = "The first report")), request_body = ResultRequest, responses((status = 201, description = "The follow-up, linked to the first report (P6)", body = Object), (status = 403, description = "Not an officer", body = ErrorBody), (status = 404, description = "No such report", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Reports the investigation's result and the corrective measures, linked to the first report.
pub(super) async fn result(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
    Body(req): Body<ResultRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let subject = format!("incident {id}");
    crate::service::permit(
        &node,
        &user,
        Action::ManageIncidents,
        "incident.result",
        &subject,
    )
    .await?;
    let first = node
        .store()
        .incidents()?
        .into_iter()
        .find(|i| i.id == id && i.follows.is_none())
        .ok_or_else(|| ApiError::not_found(format!("no incident report {id}")))?;
    let Some(item) = node.store().item(&first.item, None)? else {
        return Err(ApiError::not_found(format!("no item `{}`", first.item)));
    };
    let follow_up = Incident {
        id: 0,
        item: first.item.clone(),
        kind: "result".into(),
        description: format!("result: {}\nmeasures: {}", req.result, req.measures),
        reported_by: user.id.clone(),
        at: node.now_text(),
        follows: Some(id),
    };
    let to = recipients(&node, &item);
    let draft = entry(
        &node,
        &user.id,
        "incident.result",
        &first.item,
        Verdict::Allow,
        Some(Rule::P6),
        json!({ "follows": id, "reported_to": to }),
    );
    let committed = node
        .write(Batch {
            writes: writes(&node, &follow_up, &to),
            audit: vec![draft],
        })
        .await?;
    let new_id = committed.ids.first().copied().unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(json!({ "incident": Incident { id: new_id, ..follow_up }, "reported_to": to })),
    ))
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", security(("bearer" = [])), responses((status = 200, description = "Every report", body = Object), (status = 403, description = "Not an officer", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Every report, for authorities and security officers.
pub(super) async fn list(
    State(node): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    crate::service::permit(
        &node,
        &user,
        Action::ManageIncidents,
        "incident.list",
        "incidents",
    )
    .await?;
    Ok(Json(json!({ "incidents": node.store().incidents()? })))
}
