//! Items over the API: the wire shapes of publish, derive (P4), read and list (P1, P2), release
//! (R1–R7), destroy (P5) and the standing release rules (R7). The decisions and writes are the
//! service's (`crate::service::items`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gsomia_core::{Label, LevelId, PartyCode, Tag};
use serde::Deserialize;
use serde_json::{Value, json};

use super::shapes;
use super::{AppState, Body, Caller, Params};
use crate::error::{ApiError, ErrorBody};
use crate::service::items::{self, ListFilter};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PublishRequest {
    #[schema(value_type = Object)]
    label: Label,
    #[schema(value_type = Object)]
    object: Value,
}

#[utoipa::path(post, path = "/api/v1/items", tag = "items", security(("bearer" = [])), request_body = PublishRequest, responses((status = 201, description = "Stored, bound and sealed; standing rules applied (R7)", body = shapes::Published), (status = 403, description = "Above the publisher's clearance (P1) or no publishing role", body = ErrorBody), (status = 409, description = "That version is already stored", body = ErrorBody), (status = 413, description = "Body over max_body_bytes", body = ErrorBody), (status = 415, description = "Not JSON", body = ErrorBody), (status = 422, description = "Wrong types, unknown level or party, not a STIX 2.1 object, another originator", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Publishes an item of this node's: the label's originator is this party, the level at most
/// the publisher's clearance. Standing release rules that cover it release it in the same
/// commit (R7).
pub(super) async fn publish(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(req): Body<PublishRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let published = items::publish(&node, &user, req.label, req.object).await?;
    Ok((StatusCode::CREATED, Json(published)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BatchRequest {
    /// Up to 1,000 items, each as `POST /api/v1/items` takes one.
    items: Vec<PublishRequest>,
}

#[utoipa::path(post, path = "/api/v1/items/batch", tag = "items", security(("bearer" = [])), request_body = BatchRequest, responses((status = 200, description = "What became of each item, in order: created, or refused with the reason and rule; all in one commit", body = shapes::BatchOutcome), (status = 403, description = "No publishing role", body = ErrorBody), (status = 413, description = "Body over max_body_bytes", body = ErrorBody), (status = 415, description = "Not JSON", body = ErrorBody), (status = 422, description = "No items, or more than 1,000; wrong types", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Publishes up to 1,000 items in one request and one commit: each decided as `POST
/// /api/v1/items` decides it (and audited), a refused one not keeping the others out.
pub(super) async fn publish_batch(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(req): Body<BatchRequest>,
) -> Result<Json<Value>, ApiError> {
    let items = req.items.into_iter().map(|i| (i.label, i.object)).collect();
    Ok(Json(items::publish_batch(&node, &user, items).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Source {
    id: String,
    version: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DeriveRequest {
    sources: Vec<Source>,
    #[schema(value_type = Object)]
    object: Value,
    #[schema(value_type = String)]
    purpose: Tag,
}

#[utoipa::path(post, path = "/api/v1/items/derive", tag = "items", security(("bearer" = [])), request_body = DeriveRequest, responses((status = 201, description = "The derived item and its label (P4)", body = shapes::Derived), (status = 403, description = "A source the caller may not read", body = ErrorBody), (status = 404, description = "No such source", body = ErrorBody), (status = 422, description = "Wrong shape", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Derives a new item (a copy, translation or extract) from items the caller may read (P4): it
/// takes the highest level, every caveat and every originator of its sources.
pub(super) async fn derive(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(req): Body<DeriveRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let sources: Vec<(String, Option<String>)> =
        req.sources.into_iter().map(|s| (s.id, s.version)).collect();
    let derived = items::derive(&node, &user, &sources, req.object, req.purpose).await?;
    Ok((StatusCode::CREATED, Json(derived)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ItemQuery {
    version: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/items/{id}", tag = "items", security(("bearer" = [])), params(("id" = String, Path, description = "STIX id", example = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"), ItemQuery), responses((status = 200, description = "Content, label, local marking, custody", body = shapes::ItemView), (status = 403, description = "Refused, with the rule (M2, P1, P2)", body = ErrorBody), (status = 404, description = "No such item", body = ErrorBody), (status = 410, description = "Destroyed (P5)", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// One item, if the caller may read it (P1, P2); audited either way.
pub(super) async fn get(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Params(q): Params<ItemQuery>,
) -> Result<Json<Value>, ApiError> {
    let (stored, item, marking) =
        items::read(&node, &user, &id, q.version.as_deref(), "api").await?;
    Ok(Json(items::item_json(&stored, &item, &marking)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    after: Option<i64>,
    limit: Option<usize>,
    #[serde(rename = "type")]
    stix_type: Option<String>,
    topic: Option<String>,
    originator: Option<String>,
    /// The level in this node's scheme the caller reads it at.
    level: Option<String>,
    /// Added on or after this day.
    #[param(value_type = Option<String>)]
    since: Option<gsomia_core::Date>,
    /// Added on or before this day.
    #[param(value_type = Option<String>)]
    until: Option<gsomia_core::Date>,
}

#[utoipa::path(get, path = "/api/v1/items", tag = "items", security(("bearer" = [])), params(ListQuery), responses((status = 200, description = "What the caller may read, and the cursor `next`", body = shapes::ItemPage), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// What the caller may read, in the order it was added; `next` is the cursor for the next page.
/// Items the caller may not read are left out, not refused (default deny).
pub(super) async fn list(
    State(node): State<AppState>,
    Caller(user): Caller,
    Params(q): Params<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = ListFilter {
        after: q.after,
        limit: q.limit,
        stix_type: q.stix_type,
        topic: q.topic,
        originator: q.originator,
        level: q.level,
        since: q.since,
        until: q.until,
    };
    Ok(Json(items::list(&node, &user, &filter).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct SearchQuery {
    /// Words, each optionally `name:`, `description:`, `pattern:`, `value:` or `type:`; every
    /// one must match.
    #[param(example = "missile")]
    q: String,
    /// At most this many (1 to 200; 50 when absent).
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/search", tag = "items", security(("bearer" = [])), params(SearchQuery), responses((status = 200, description = "What the caller may read that matches, newest first, each with the fields that matched and its related items; `more` if there is more", body = shapes::SearchResults), (status = 400, description = "Malformed query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody), (status = 503, description = "The index is being built (the node just started)", body = ErrorBody)))]
/// Full-text and STIX-field search over what the caller may read (never anything else).
pub(super) async fn search(
    State(node): State<AppState>,
    Caller(user): Caller,
    Params(q): Params<SearchQuery>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        crate::service::search::search(&node, &user, &q.q, q.limit).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/items/{id}/related", tag = "items", security(("bearer" = [])), params(("id" = String, Path, description = "STIX id", example = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")), responses((status = 200, description = "Items the caller may read that hold one of this item's observable values", body = shapes::RelatedItems), (status = 404, description = "No such item, or not readable", body = ErrorBody), (status = 410, description = "Destroyed (P5)", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody), (status = 503, description = "The index is being built", body = ErrorBody)))]
/// The correlations of an item: the same observable value in other items, from any originator.
pub(super) async fn related(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        crate::service::search::related(&node, &user, &id).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReleaseRequest {
    #[schema(value_type = String)]
    to: PartyCode,
}

#[utoipa::path(post, path = "/api/v1/items/{id}/release", tag = "items", security(("bearer" = [])), params(("id" = String, Path, description = "STIX id")), request_body = ReleaseRequest, responses((status = 202, description = "Allowed and queued in the outbox, with the agreement and the recipient's marking", body = shapes::Released), (status = 403, description = "Refused, with the rule (R1-R7)", body = ErrorBody), (status = 404, description = "No such item", body = ErrorBody), (status = 422, description = "Unknown party", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Releases an item to a party: an authority or security officer (R7), a binding that verifies
/// (R6), R1–R5 today; then the durable outbox.
pub(super) async fn release(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<ReleaseRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let released = items::release(&node, &user, &id, req.to).await?;
    Ok((StatusCode::ACCEPTED, Json(released)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DestroyRequest {
    version: Option<String>,
    #[serde(default)]
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/items/{id}/destroy", tag = "items", security(("bearer" = [])), params(("id" = String, Path, description = "STIX id")), request_body = DestroyRequest, responses((status = 200, description = "The signed destruction certificate (P5)", body = shapes::Destroyed), (status = 403, description = "Not an officer", body = ErrorBody), (status = 404, description = "No such item", body = ErrorBody), (status = 410, description = "Already destroyed", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Destroys an item version (P5): its key and content are deleted (crypto-shredding), a signed
/// destruction certificate is kept in the audit log and, where the agreement it came under says
/// so, sent to the originator.
pub(super) async fn destroy(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<DestroyRequest>,
) -> Result<Json<Value>, ApiError> {
    let version = req.version.as_deref();
    let certificate = items::destroy_one(&node, &user, &id, version, &req.reason, "api").await?;
    Ok(Json(certificate))
}

/// Returns an item version this node holds to its originator (P8): the copy here ends as by
/// destruction, and the signed certificate of return goes to the originator.
#[utoipa::path(post, path = "/api/v1/items/{id}/return", tag = "items", security(("bearer" = [])), params(("id" = String, Path, description = "STIX id")), request_body = DestroyRequest, responses((status = 200, description = "The signed certificate of return (P8), queued for the originator", body = shapes::Returned), (status = 403, description = "Not an officer", body = ErrorBody), (status = 404, description = "No such item", body = ErrorBody), (status = 410, description = "Already destroyed or returned", body = ErrorBody), (status = 422, description = "An item of this node's own", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn return_item(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<DestroyRequest>,
) -> Result<Json<Value>, ApiError> {
    let version = req.version.as_deref();
    Ok(Json(
        items::return_one(&node, &user, &id, version, &req.reason).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleRequest {
    #[schema(value_type = String)]
    to: PartyCode,
    #[schema(value_type = Vec<String>)]
    topics: Vec<Tag>,
    #[schema(value_type = String)]
    max_level: LevelId,
}

#[utoipa::path(post, path = "/api/v1/release-rules", tag = "items", security(("bearer" = [])), request_body = RuleRequest, responses((status = 201, description = "The standing release rule (R7)", body = shapes::ReleaseRule), (status = 403, description = "Not an officer", body = ErrorBody), (status = 422, description = "Unknown party or level", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Adds a standing release rule (R7), by an authority or security officer.
pub(super) async fn add_rule(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(req): Body<RuleRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let rule = items::add_release_rule(&node, &user, req.to, req.topics, req.max_level).await?;
    Ok((StatusCode::CREATED, Json(json!(rule))))
}

#[utoipa::path(get, path = "/api/v1/release-rules", tag = "items", security(("bearer" = [])), responses((status = 200, description = "The standing release rules", body = shapes::ReleaseRules), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// The standing release rules, for authorities and security officers (R7).
pub(super) async fn rules(
    State(node): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "rules": items::release_rules(&node, &user).await? }),
    ))
}
