//! The audit log (P7), for security officers, authorities and administrators.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;

use super::shapes;
use super::{AppState, Caller, Params};
use crate::error::{ApiError, ErrorBody};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])), params(AuditQuery), responses((status = 200, description = "Hash-chained audit entries and the cursor `next` (P7)", body = shapes::AuditPage), (status = 403, description = "Not an officer", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn list(
    State(node): State<AppState>,
    Caller(user): Caller,
    Params(q): Params<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    Ok(Json(
        crate::service::audit::list(&node, &user, q.after.unwrap_or(0), limit).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/status", tag = "node", security(("bearer" = [])), responses((status = 200, description = "Per partner: queued messages and the oldest, deliveries and the last, the last delivery failure, checkpoints exchanged", body = shapes::Status), (status = 403, description = "Not an officer or administrator (P7)", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// How the node stands with each partner (officers and administrators).
pub(super) async fn status(
    State(node): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(crate::service::status::for_user(&node, &user).await?))
}
