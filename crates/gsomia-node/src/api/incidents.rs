//! Incidents (P6) over the API; the decisions and writes are `crate::service::incidents`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::shapes;
use super::{AppState, Body, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::service::incidents;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReportRequest {
    item: String,
    kind: String,
    description: String,
}

#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", security(("bearer" = [])), request_body = ReportRequest, responses((status = 201, description = "Recorded and queued for the originator and the custody chain (P6)", body = shapes::IncidentReported), (status = 404, description = "No such item", body = ErrorBody), (status = 422, description = "Unknown kind", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Reports an incident.
pub(super) async fn report(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(req): Body<ReportRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let reported = incidents::report(&node, &user, &req.item, req.kind, req.description).await?;
    Ok((StatusCode::CREATED, Json(reported)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ResultRequest {
    result: String,
    measures: String,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/result", tag = "incidents", security(("bearer" = [])), params(("id" = i64, Path, description = "The first report")), request_body = ResultRequest, responses((status = 201, description = "The follow-up, linked to the first report (P6)", body = shapes::IncidentReported), (status = 403, description = "Not an officer", body = ErrorBody), (status = 404, description = "No such report", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Reports the investigation's result and the corrective measures, linked to the first report.
pub(super) async fn result(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<ResultRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = super::number(&id, "incident report")?;
    let followed = incidents::result(&node, &user, id, &req.result, &req.measures).await?;
    Ok((StatusCode::CREATED, Json(followed)))
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", security(("bearer" = [])), responses((status = 200, description = "Every report", body = shapes::Incidents), (status = 403, description = "Not an officer", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Every report, for authorities and security officers.
pub(super) async fn list(
    State(node): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(incidents::list(&node, &user).await?))
}
