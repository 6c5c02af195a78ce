//! Visits (V1) and inspection visits (V2): asked for, authorised or refused, and reported on by
//! the parties' authorities.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gsomia_core::{Date, LevelId, PartyCode, Tag, Visit};
use serde::Deserialize;
use serde_json::Value;

use super::shapes;
use super::{AppState, Body, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::service::visits;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct VisitRequest {
    /// The agreement it is asked under.
    agreement: String,
    /// The party to visit.
    #[schema(value_type = String)]
    host: PartyCode,
    /// The visitor's name.
    visitor: String,
    /// The id of the assurance (S1) this party gave the host for the visitor.
    assurance: String,
    /// The facility to visit.
    facility: String,
    /// The first day.
    #[schema(value_type = String)]
    from: Date,
    /// The last day.
    #[schema(value_type = String)]
    until: Date,
    /// The highest level, in the host's scheme, the visitor asks to read.
    #[schema(value_type = String)]
    level: LevelId,
    /// The topics the visitor asks to read about.
    #[schema(value_type = Vec<String>)]
    topics: Vec<Tag>,
    /// The visit's purpose.
    purpose: String,
    /// An inspection by a security representative (V2).
    #[serde(default)]
    inspection: bool,
}

/// This party's authority asks to visit a partner (V1): a signed letter to the host only,
/// naming the assurance (S1) this party gave the host for the visitor.
#[utoipa::path(post, path = "/api/v1/visits", tag = "agreements", security(("bearer" = [])), request_body = VisitRequest,
    responses((status = 201, description = "The signed request, queued for the host", body = shapes::LetterSent), (status = 403, description = "Not an authority", body = ErrorBody),
              (status = 404, description = "No agreement of this party's", body = ErrorBody), (status = 422, description = "Days out of order, a level not of the host's scheme, or no assurance covering the visit (S1)", body = ErrorBody),
              (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn ask(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(req): Body<VisitRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let asking = visits::Asking {
        agreement: req.agreement,
        purpose: req.purpose,
        visit: Visit {
            host: req.host,
            visitor: req.visitor,
            assurance: req.assurance,
            facility: req.facility,
            from: req.from,
            until: req.until,
            level: req.level,
            topics: req.topics,
            inspection: req.inspection,
        },
    };
    Ok((
        StatusCode::CREATED,
        Json(visits::request(&node, &user, asking).await?),
    ))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthoriseRequest {
    /// A later first day than asked.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    from: Option<Date>,
    /// An earlier last day than asked.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    until: Option<Date>,
    /// A lower level than asked.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    level: Option<LevelId>,
    /// Fewer topics than asked.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    topics: Option<Vec<Tag>>,
}

/// The host's authority authorises a visit asked for (V1), as asked or narrower: a signed
/// letter back to the visitor's party, and the visitor's account at this node, whose token the
/// answer shows once (`visitor.token`).
#[utoipa::path(post, path = "/api/v1/visits/{id}/authorise", tag = "agreements", security(("bearer" = [])),
    params(("id" = String, Path, description = "The visit request's letter id")), request_body = AuthoriseRequest,
    responses((status = 201, description = "The signed authorisation, queued for the visitor's party, and the visitor's account", body = shapes::VisitAuthorised), (status = 403, description = "Not an authority", body = ErrorBody),
              (status = 404, description = "No visit request with that id", body = ErrorBody), (status = 422, description = "More than asked, answered already, or no assurance held covering the visit (S1)", body = ErrorBody),
              (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn authorise(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<AuthoriseRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let allowing = visits::Allowing {
        from: req.from,
        until: req.until,
        level: req.level,
        topics: req.topics,
    };
    let answer = visits::authorise(&node, &user, &id, allowing).await?;
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TextRequest {
    /// What the letter says: a refusal's reason, an inspection's findings.
    text: String,
}

/// The host's authority refuses a visit asked for (V1), saying why: a signed letter back.
#[utoipa::path(post, path = "/api/v1/visits/{id}/refuse", tag = "agreements", security(("bearer" = [])),
    params(("id" = String, Path, description = "The visit request's letter id")), request_body = TextRequest,
    responses((status = 201, description = "The signed refusal, queued for the visitor's party", body = shapes::LetterSent), (status = 403, description = "Not an authority", body = ErrorBody),
              (status = 404, description = "No visit request with that id", body = ErrorBody), (status = 422, description = "No reason, or answered already", body = ErrorBody),
              (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn refuse(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<TextRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let answer = visits::deny(&node, &user, &id, req.text).await?;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// The inspecting party's authority reports an inspection's findings (V2): a signed letter to
/// the host, kept by both.
#[utoipa::path(post, path = "/api/v1/visits/{id}/findings", tag = "agreements", security(("bearer" = [])),
    params(("id" = String, Path, description = "The host's authorisation's letter id")), request_body = TextRequest,
    responses((status = 201, description = "The signed report, queued for the host", body = shapes::LetterSent), (status = 403, description = "Not an authority", body = ErrorBody),
              (status = 404, description = "No visit authorisation with that id", body = ErrorBody), (status = 422, description = "Not an inspection, not this party's visit, or reported already", body = ErrorBody),
              (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn findings(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<TextRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let report = visits::findings(&node, &user, &id, req.text).await?;
    Ok((StatusCode::CREATED, Json(report)))
}

/// The visits this node keeps letters of (V1, V2): each request with its answer and findings.
#[utoipa::path(get, path = "/api/v1/visits", tag = "agreements", security(("bearer" = [])),
    responses((status = 200, description = "Visits, in the order they were asked for", body = shapes::Visits), (status = 403, description = "Not an officer", body = ErrorBody),
              (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn list(
    State(node): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(visits::list(&node, &user).await?))
}
