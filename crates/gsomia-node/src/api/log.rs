//! The verifiable audit log (SPEC §8): checkpoints, proofs, entries by range, what this node
//! witnessed of its partners' logs, evidence of rewritten logs, and an originator's custody
//! record of an item at a holder. See `crate::transparency`.
//!
//! Checkpoints and proofs are hashes only and are served to every authenticated user; entries,
//! witnessed checkpoints, evidence and custody records are for security officers, authorities
//! and administrators.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gsomia_core::User;
use gsomia_log::{ConsistencyProof, InclusionProof};
use gsomia_store::LogHashes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::shapes;
use super::{AppState, Caller, Params};
use crate::error::{ApiError, ErrorBody};
use crate::node::Node;
use crate::transparency;

/// The log's officers only (P7), refusals audited.
async fn officers_only(node: &Node, user: &User, what: &str) -> Result<(), ApiError> {
    crate::service::permit(node, user, gsomia_core::Action::Log, "log", what).await
}

fn note(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

#[utoipa::path(get, path = "/api/v1/log/checkpoint", tag = "log", security(("bearer" = [])), responses((status = 200, description = "The latest checkpoint (C2SP tlog-checkpoint signed note, with partners' cosignatures)", body = String, content_type = "text/plain"), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn checkpoint(
    State(node): State<AppState>,
    Caller(_): Caller,
) -> Result<Response, ApiError> {
    let latest = match transparency::latest_cosigned(&node)? {
        Some((_, note)) => note,
        None => transparency::issue(&node).await?.1,
    };
    Ok(note(latest))
}

#[utoipa::path(post, path = "/api/v1/log/checkpoint", tag = "log", security(("bearer" = [])), responses((status = 200, description = "A checkpoint of the log as committed now", body = String, content_type = "text/plain"), (status = 403, description = "Not an officer", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn issue(
    State(node): State<AppState>,
    Caller(user): Caller,
) -> Result<Response, ApiError> {
    officers_only(&node, &user, "issuing a checkpoint").await?;
    Ok(note(transparency::issue(&node).await?.1))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct InclusionQuery {
    /// The entry's position from 0 (its number minus one).
    index: u64,
    /// The tree size (a checkpoint's size); the current size if absent.
    size: Option<u64>,
}

/// The tree size asked for, which must not exceed what is committed.
fn size_or_current(node: &AppState, size: Option<u64>) -> Result<u64, ApiError> {
    let current = node.store().log_size()?;
    match size {
        None => Ok(current),
        Some(s) if s <= current => Ok(s),
        Some(s) => Err(ApiError::unprocessable(format!(
            "size: the log has {current} entries, not {s}"
        ))),
    }
}

fn range(e: gsomia_log::LogError) -> ApiError {
    match e {
        gsomia_log::LogError::Range(m) => ApiError::unprocessable(m),
        other => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            other.to_string(),
        ),
    }
}

#[utoipa::path(get, path = "/api/v1/log/proof/inclusion", tag = "log", security(("bearer" = [])), params(InclusionQuery), responses((status = 200, description = "RFC 9162 inclusion proof, hashes in base64", body = shapes::InclusionProof), (status = 422, description = "Index or size outside the log", body = ErrorBody), (status = 400, description = "Malformed query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn inclusion(
    State(node): State<AppState>,
    Caller(_): Caller,
    Params(q): Params<InclusionQuery>,
) -> Result<Json<InclusionProof>, ApiError> {
    let size = size_or_current(&node, q.size)?;
    InclusionProof::make(q.index, size, &LogHashes(node.store()))
        .map(Json)
        .map_err(range)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ConsistencyQuery {
    /// The smaller tree size.
    old: u64,
    /// The larger tree size; the current size if absent.
    new: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/log/proof/consistency", tag = "log", security(("bearer" = [])), params(ConsistencyQuery), responses((status = 200, description = "RFC 9162 consistency proof, hashes in base64", body = shapes::ConsistencyProof), (status = 422, description = "Sizes out of order or outside the log", body = ErrorBody), (status = 400, description = "Malformed query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn consistency(
    State(node): State<AppState>,
    Caller(_): Caller,
    Params(q): Params<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    let new = size_or_current(&node, q.new)?;
    ConsistencyProof::make(q.old, new, &LogHashes(node.store()))
        .map(Json)
        .map_err(range)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct EntriesQuery {
    /// The first entry's number (from 1).
    start: u64,
    /// One past the last entry's number; at most 1,000 entries at once.
    end: u64,
}

#[utoipa::path(get, path = "/api/v1/log/entries", tag = "log", security(("bearer" = [])), params(EntriesQuery), responses((status = 200, description = "Entries `start` ≤ seq < `end`, each with its body exactly as hashed into the tree", body = shapes::LogEntries), (status = 422, description = "Range out of order or too long", body = ErrorBody), (status = 403, description = "Not an officer", body = ErrorBody), (status = 400, description = "Malformed query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn entries(
    State(node): State<AppState>,
    Caller(user): Caller,
    Params(q): Params<EntriesQuery>,
) -> Result<Json<Value>, ApiError> {
    officers_only(&node, &user, "the audit log").await?;
    if q.start == 0 || q.end < q.start || q.end - q.start > 1000 {
        return Err(ApiError::unprocessable(format!(
            "start..end: {}..{} is not a range of at most 1,000 entries numbered from 1",
            q.start, q.end
        )));
    }
    let list: Vec<Value> = node
        .store()
        .audit_after(q.start - 1, (q.end - q.start) as usize)?
        .into_iter()
        .map(|e| json!({ "seq": e.seq, "hash": e.hash, "body": e.body }))
        .collect();
    Ok(Json(json!({ "entries": list })))
}

#[utoipa::path(get, path = "/api/v1/log/witnessed", tag = "log", security(("bearer" = [])), responses((status = 200, description = "The latest checkpoint of each partner's log that this node checked and cosigned", body = shapes::WitnessedLogs), (status = 403, description = "Not an officer", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn witnessed(
    State(node): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    officers_only(&node, &user, "witnessed checkpoints").await?;
    let mut list = vec![];
    for p in node.store().parties()? {
        if let Some((size, note)) = node.store().witnessed_latest(p.code)? {
            list.push(json!({ "party": p.code, "size": size, "checkpoint": note }));
        }
    }
    Ok(Json(json!({ "witnessed": list })))
}

#[utoipa::path(get, path = "/api/v1/log/evidence", tag = "log", security(("bearer" = [])), responses((status = 200, description = "Evidence of partners' rewritten logs: both signed checkpoints and the proof that failed", body = shapes::EvidenceList), (status = 403, description = "Not an officer", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn evidence(
    State(node): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    officers_only(&node, &user, "evidence").await?;
    Ok(Json(json!({ "evidence": node.store().evidence()? })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct CustodyQuery {
    /// The holder asked (a party code).
    holder: String,
}

#[utoipa::path(get, path = "/api/v1/items/{id}/custody", tag = "log", security(("bearer" = [])), params(("id" = String, Path, description = "The item's STIX id"), CustodyQuery), responses((status = 200, description = "The holder's audit entries about this node's item, each with an inclusion proof checked against a checkpoint of the holder's log this node witnessed", body = shapes::CustodyRecord), (status = 409, description = "No checkpoint of the holder's log witnessed yet", body = ErrorBody), (status = 502, description = "The holder refused, or its answer did not verify", body = ErrorBody), (status = 404, description = "Unknown holder", body = ErrorBody), (status = 403, description = "Not an officer", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn custody(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Params(q): Params<CustodyQuery>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        crate::service::audit::custody(&node, &user, &id, &q.holder).await?,
    ))
}
