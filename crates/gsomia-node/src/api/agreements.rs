//! Node descriptor, parties and agreements (A1–A8), and the letters between authorities under
//! an agreement (N1, D1).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gsomia_core::{Date, EventKind, LetterKind, LevelId, PartyCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::shapes;
use super::{AppState, Body, Caller, Params, internal};
use crate::error::{ApiError, ErrorBody};
use crate::service::{agreements, assurances, correspondence, facilities};

#[utoipa::path(get, path = "/api/v1/node", tag = "node", responses((status = 200, description = "This node's descriptor: code, name, scheme, public keys, endpoint", body = shapes::Party)))]
pub(super) async fn descriptor(State(node): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(node.descriptor().map_err(internal)?)))
}

#[utoipa::path(get, path = "/api/v1/parties", tag = "node", security(("bearer" = [])), responses((status = 200, description = "The parties this node knows", body = shapes::Parties), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn parties(
    State(node): State<AppState>,
    _: Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "parties": node.store().parties()? })))
}

#[utoipa::path(get, path = "/api/v1/agreements", tag = "agreements", security(("bearer" = [])), responses((status = 200, description = "Agreements with their state today", body = shapes::Agreements), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn list(State(node): State<AppState>, _: Caller) -> Result<Json<Value>, ApiError> {
    let world = node.world();
    let today = node.today();
    let list: Vec<Value> = world
        .agreements()
        .iter()
        .map(|a| json!({ "id": a.id(), "title": a.title(), "parties": a.parties(), "status": agreements::status(a, today) }))
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

#[utoipa::path(get, path = "/api/v1/agreements/{id}", tag = "agreements", security(("bearer" = [])), params(("id" = String, Path, description = "Agreement id", example = "kor-jpn-gsomia"), AtQuery), responses((status = 200, description = "The agreement and its state on `at` (A8)", body = shapes::AgreementState), (status = 404, description = "No such agreement", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
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
        json!({ "agreement": a.file(), "status": agreements::status(a, at) }),
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

#[utoipa::path(post, path = "/api/v1/agreements/{id}/events", tag = "agreements", security(("bearer" = [])), params(("id" = String, Path, description = "Agreement id")), request_body = EventRequest, responses((status = 201, description = "Recorded and queued for the other parties", body = shapes::EventRecorded), (status = 403, description = "Not an authority", body = ErrorBody), (status = 409, description = "Contradicts the history (A7)", body = ErrorBody), (status = 422, description = "Wrong shape", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// This party's event on an agreement, by its authority; refused per A7. The event is queued
/// for every other party.
pub(super) async fn event(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<EventRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let done = agreements::event(&node, &user, &id, req.kind, req.on, req.note).await?;
    Ok((StatusCode::CREATED, Json(done)))
}

/// An authority proposes a new agreement: stored here (pending until every party has signed,
/// A1) and sent to every other party, whose authority signs it through `…/events`.
#[utoipa::path(post, path = "/api/v1/agreements", tag = "agreements", security(("bearer" = [])),
    request_body(content = Object, description = "An agreement file (as in examples/model-case/agreements/); its events, if any, are this party's signature"),
    responses((status = 201, description = "Stored and sent to the other parties", body = shapes::AgreementState), (status = 403, description = "Not an authority", body = ErrorBody),
              (status = 409, description = "An agreement with that id exists", body = ErrorBody), (status = 422, description = "Invalid, not naming this party, unknown parties, or events by others", body = ErrorBody)))]
pub(super) async fn propose(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(file): Body<gsomia_core::AgreementFile>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(agreements::propose(&node, &user, file).await?),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LetterRequest {
    /// `law_notice`, `acknowledgement` (of a partner's law notice), `dispute` or `settlement`
    /// (of a dispute).
    #[schema(value_type = String)]
    kind: LetterKind,
    /// What it says.
    text: String,
    /// The letter it answers: an acknowledgement's notice, a settlement's dispute.
    #[serde(default)]
    answers: Option<String>,
    /// A law notice: the day the change takes effect.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    effective: Option<Date>,
}

/// This party's authority writes to its partners under the agreement (N1, D1): signed, kept,
/// and sent to every other party of the agreement, which keeps it.
#[utoipa::path(post, path = "/api/v1/agreements/{id}/letters", tag = "agreements", security(("bearer" = [])),
    params(("id" = String, Path, description = "Agreement id")), request_body = LetterRequest,
    responses((status = 201, description = "The signed letter, queued for the partners", body = shapes::LetterSent), (status = 403, description = "Not an authority", body = ErrorBody),
              (status = 404, description = "No agreement of this party's", body = ErrorBody), (status = 422, description = "No text, an answer to nothing, or to a letter answered already", body = ErrorBody),
              (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn write_letter(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<LetterRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if req.kind.of_a_visit() {
        return Err(ApiError::unprocessable(format!(
            "kind: a {} is written at /api/v1/visits",
            req.kind
        )));
    }
    let draft = correspondence::Draft {
        kind: req.kind,
        text: req.text,
        answers: req.answers,
        effective: req.effective,
        visit: None,
    };
    let letter = correspondence::write(&node, &user, &id, draft).await?;
    Ok((StatusCode::CREATED, Json(letter)))
}

/// The letters kept under the agreement (N1, D1), each with the letters that answer it.
#[utoipa::path(get, path = "/api/v1/agreements/{id}/letters", tag = "agreements", security(("bearer" = [])),
    params(("id" = String, Path, description = "Agreement id", example = "kor-jpn-gsomia")),
    responses((status = 200, description = "Letters in the order they were kept", body = shapes::Letters), (status = 403, description = "Not an officer", body = ErrorBody),
              (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn letters(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(correspondence::list(&node, &user, &id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AssuranceRequest {
    /// The partner that will provide items.
    #[schema(value_type = String)]
    to: PartyCode,
    /// The agreement.
    agreement: String,
    /// The representative or facility that will receive; this node if absent.
    #[serde(default)]
    recipient: Option<String>,
    /// The highest level, in this party's scheme, the recipient is cleared for.
    #[schema(value_type = String)]
    level: LevelId,
    /// The official purpose the items are needed for.
    purpose: String,
    /// The last day it stands (it stands from today).
    #[schema(value_type = String)]
    until: Date,
}

/// This party's authority gives a partner an assurance (S1): its recipient holds the clearance
/// for the level, needs the items for an official purpose and will protect them as the
/// agreement says. Signed, kept and sent; where the agreement asks, the partner releases
/// nothing to this party without one.
#[utoipa::path(post, path = "/api/v1/assurances", tag = "agreements", security(("bearer" = [])), request_body = AssuranceRequest,
    responses((status = 201, description = "The signed assurance, queued for the partner", body = shapes::AssuranceGiven), (status = 403, description = "Not an authority", body = ErrorBody),
              (status = 404, description = "No agreement between this party and the partner", body = ErrorBody), (status = 422, description = "Days out of order, an unknown level, no purpose", body = ErrorBody),
              (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn give_assurance(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(req): Body<AssuranceRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let giving = assurances::Giving {
        to: req.to,
        agreement: req.agreement,
        recipient: req.recipient,
        level: req.level,
        purpose: req.purpose,
        until: req.until,
    };
    let given = assurances::give(&node, &user, giving).await?;
    Ok((StatusCode::CREATED, Json(given)))
}

/// The assurances this node holds, given and received, each verified (S1).
#[utoipa::path(get, path = "/api/v1/assurances", tag = "agreements", security(("bearer" = [])),
    responses((status = 200, description = "Assurances held", body = shapes::Assurances), (status = 403, description = "Not an officer", body = ErrorBody),
              (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn assurances_held(
    State(node): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(assurances::list(&node, &user).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AmendmentRequest {
    /// Its id; one is made if absent.
    #[serde(default)]
    id: Option<String>,
    /// A new equivalence table (rows as in an agreement file).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    equivalence: Option<Vec<gsomia_core::equivalence::Row>>,
    /// A new scope (topics).
    #[serde(default)]
    scope: Option<Vec<String>>,
}

/// This party's authority proposes an amendment of the agreement (A9), signed by this party
/// today and sent to the other parties; it takes effect on the last party's signature.
#[utoipa::path(post, path = "/api/v1/agreements/{id}/amendments", tag = "agreements", security(("bearer" = [])),
    params(("id" = String, Path, description = "Agreement id")), request_body = AmendmentRequest,
    responses((status = 201, description = "The amendment with this party's signature, queued for the other parties", body = shapes::Amended), (status = 403, description = "Not an authority", body = ErrorBody),
              (status = 404, description = "No agreement of this party's", body = ErrorBody), (status = 409, description = "An amendment with that id exists", body = ErrorBody),
              (status = 422, description = "Nothing changed, an invalid table, or a level a scheme does not have", body = ErrorBody),
              (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn amend(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<AmendmentRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let proposed = agreements::Proposed {
        id: req.id,
        equivalence: req.equivalence,
        scope: req.scope,
    };
    let amended = agreements::amend(&node, &user, &id, proposed).await?;
    Ok((StatusCode::CREATED, Json(amended)))
}

/// This party's authority signs a partner's amendment of the agreement (A9); with the last
/// signature it takes effect, that day.
#[utoipa::path(post, path = "/api/v1/agreements/{id}/amendments/{amendment}/sign", tag = "agreements", security(("bearer" = [])),
    params(("id" = String, Path, description = "Agreement id"), ("amendment" = String, Path, description = "Amendment id")),
    responses((status = 200, description = "The amendment with this party's signature and the day it takes effect, if every party has signed", body = shapes::Amended),
              (status = 403, description = "Not an authority", body = ErrorBody), (status = 404, description = "No such agreement or amendment", body = ErrorBody),
              (status = 409, description = "Signed by this party already", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn sign_amendment(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path((id, amendment)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        agreements::sign_amendment(&node, &user, &id, &amendment).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct FacilityRequest {
    /// The facility's id at the node.
    id: String,
    /// Its name.
    name: String,
    /// Its facility clearance: a level of this party's scheme.
    #[schema(value_type = String)]
    clearance: LevelId,
    /// The person responsible for its security.
    responsible: String,
}

/// Registers a contractor facility (C1), or changes its name, clearance or responsible person.
#[utoipa::path(post, path = "/api/v1/facilities", tag = "agreements", security(("bearer" = [])), request_body = FacilityRequest,
    responses((status = 201, description = "The facility as kept", body = shapes::FacilityKept), (status = 403, description = "Not an officer", body = ErrorBody),
              (status = 422, description = "An unknown level, no responsible person", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn register_facility(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(req): Body<FacilityRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let f = facilities::register(
        &node,
        &user,
        req.id,
        req.name,
        req.clearance,
        req.responsible,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(f)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct InspectionRequest {
    /// The day it took place; today if absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    on: Option<Date>,
}

/// Records an inspection of a contractor facility (C1).
#[utoipa::path(post, path = "/api/v1/facilities/{id}/inspections", tag = "agreements", security(("bearer" = [])),
    params(("id" = String, Path, description = "Facility id")), request_body = InspectionRequest,
    responses((status = 200, description = "The facility with the inspection", body = shapes::FacilityKept), (status = 403, description = "Not an officer", body = ErrorBody),
              (status = 404, description = "No such facility", body = ErrorBody), (status = 422, description = "A day to come, or before the last inspection", body = ErrorBody),
              (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn inspect_facility(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<InspectionRequest>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(facilities::inspect(&node, &user, &id, req.on).await?))
}

/// The node's contractor facilities (C1).
#[utoipa::path(get, path = "/api/v1/facilities", tag = "agreements", security(("bearer" = [])),
    responses((status = 200, description = "Facilities", body = shapes::Facilities), (status = 403, description = "Not an officer", body = ErrorBody),
              (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub(super) async fn facilities_held(
    State(node): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(facilities::list(&node, &user).await?))
}
