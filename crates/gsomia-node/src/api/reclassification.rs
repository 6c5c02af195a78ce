//! Reclassification (M4) over the API; the decision and writes are
//! `crate::service::reclassification`.

use axum::Json;
use axum::extract::{Path, State};
use gsomia_core::LevelId;
use serde::Deserialize;
use serde_json::Value;

use super::shapes;
use super::{AppState, Body, Caller};
use crate::error::{ApiError, ErrorBody};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReclassifyRequest {
    /// The new level, in this node's scheme.
    #[schema(value_type = String)]
    level: LevelId,
}

/// The originator reclassifies one of its items.
#[utoipa::path(post, path = "/api/v1/items/{id}/reclassify", tag = "items", security(("bearer" = [])),
    params(("id" = String, Path, description = "STIX id")), request_body = ReclassifyRequest,
    responses((status = 200, description = "Applied here and queued for every holder", body = shapes::Reclassified),
              (status = 403, description = "Not the originator, or not an authority (M4)", body = ErrorBody),
              (status = 404, description = "No such item", body = ErrorBody), (status = 422, description = "Unknown level", body = ErrorBody)))]
pub(super) async fn reclassify(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<ReclassifyRequest>,
) -> Result<Json<Value>, ApiError> {
    let done = crate::service::reclassification::reclassify(&node, &user, &id, req.level).await?;
    Ok(Json(done))
}
