//! Consents (R4) and standing consents (R4b) over the API; the decisions and writes are
//! `crate::service::consents`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gsomia_core::{Date, PartyCode, Tag};
use serde::Deserialize;
use serde_json::Value;

use super::shapes;
use super::{AppState, Body, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::service::consents;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsentAsk {
    /// The item (STIX id) this node holds from another originator.
    item: String,
    /// The third party to release it to.
    #[schema(value_type = String)]
    to: PartyCode,
    /// The last day the consent would stand.
    #[schema(value_type = String)]
    until: Date,
}

/// Asks the originator of an item this node holds for consent to release it to a third party.
#[utoipa::path(post, path = "/api/v1/consents/requests", tag = "consents", security(("bearer" = [])), request_body = ConsentAsk,
    responses((status = 202, description = "Queued for the originator", body = shapes::ConsentAsked), (status = 403, description = "Not an officer", body = ErrorBody),
              (status = 404, description = "No such item", body = ErrorBody), (status = 422, description = "The item is this node's own, or an unknown party", body = ErrorBody)))]
pub(super) async fn ask(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(req): Body<ConsentAsk>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let asked = consents::ask(&node, &user, &req.item, req.to, req.until).await?;
    Ok((StatusCode::ACCEPTED, Json(asked)))
}

/// Consent requests from partners about this party's items, with their answers.
#[utoipa::path(get, path = "/api/v1/consents/requests", tag = "consents", security(("bearer" = [])),
    responses((status = 200, description = "Requests and answers", body = shapes::ConsentRequests), (status = 403, description = "Not an authority", body = ErrorBody)))]
pub(super) async fn requests(
    State(node): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(consents::requests(&node, &user).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Answer {
    /// Approve or refuse.
    approve: bool,
}

/// The originator's authority answers a consent request: a consent signed by this node's key,
/// or a refusal; either goes back to the holder.
#[utoipa::path(post, path = "/api/v1/consents/requests/{id}/answer", tag = "consents", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The request")), request_body = Answer,
    responses((status = 200, description = "The signed consent or the refusal, queued for the holder", body = shapes::ConsentAnswer),
              (status = 403, description = "Not an authority", body = ErrorBody), (status = 404, description = "No open request", body = ErrorBody)))]
pub(super) async fn answer(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<Answer>,
) -> Result<Json<Value>, ApiError> {
    let id = super::number(&id, "consent request")?;
    Ok(Json(consents::answer(&node, &user, id, req.approve).await?))
}

/// The consents this node holds, each verified by its originator's signature, for authorities
/// and security officers.
#[utoipa::path(get, path = "/api/v1/consents", tag = "consents", security(("bearer" = [])),
    responses((status = 200, description = "Consents held", body = shapes::Consents)))]
pub(super) async fn list(
    State(node): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(consents::held(&node, &user).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct StandingRequest {
    /// The holder that may pass items on (a hub).
    #[schema(value_type = String)]
    holder: PartyCode,
    /// To whom.
    #[schema(value_type = String)]
    to: PartyCode,
    /// Every item of this party's whose topics include this one.
    #[schema(value_type = String)]
    topic: Tag,
    /// The items' purpose.
    #[schema(value_type = String)]
    purpose: Tag,
    /// The last day it stands (it stands from today).
    #[schema(value_type = String)]
    until: Date,
}

/// The originator's authority gives a standing consent (R4b): for a holder to pass on every
/// item of this party's with a topic and purpose to a recipient, until a day. Signed by this
/// node's key, kept and sent to the holder.
#[utoipa::path(post, path = "/api/v1/consents/standing", tag = "consents", security(("bearer" = [])), request_body = StandingRequest,
    responses((status = 201, description = "The signed standing consent, queued for the holder", body = shapes::ConsentGiven), (status = 403, description = "Not an authority", body = ErrorBody),
              (status = 422, description = "An unknown party, days out of order, or the holder or recipient is this party", body = ErrorBody)))]
pub(super) async fn give_standing(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(req): Body<StandingRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let standing = consents::Standing {
        holder: req.holder,
        to: req.to,
        topic: req.topic,
        purpose: req.purpose,
        until: req.until,
    };
    let given = consents::give_standing(&node, &user, standing).await?;
    Ok((StatusCode::CREATED, Json(given)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RevokeRequest {
    /// The first day the consent no longer stands: today or later; today if absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    from: Option<Date>,
}

/// The originator's authority revokes a consent it gave (R4b): the signed revocation is kept
/// and sent to the holder, and for a standing consent to the recipient too.
#[utoipa::path(post, path = "/api/v1/consents/{id}/revoke", tag = "consents", security(("bearer" = [])),
    params(("id" = String, Path, description = "The consent")), request_body = RevokeRequest,
    responses((status = 200, description = "The revoked consent, queued for the holder and recipient", body = shapes::ConsentGiven),
              (status = 403, description = "Not an authority", body = ErrorBody), (status = 404, description = "No consent of this party's with that id", body = ErrorBody),
              (status = 409, description = "Revoked already", body = ErrorBody), (status = 422, description = "A day past, or before the consent's first day", body = ErrorBody)))]
pub(super) async fn revoke(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<RevokeRequest>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(consents::revoke(&node, &user, &id, req.from).await?))
}
