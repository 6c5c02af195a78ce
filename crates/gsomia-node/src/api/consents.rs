//! Consents (R4, SPEC §4): a holder asks an item's originator for written consent to release it
//! to a third party; the originator's authority approves (a consent signed by the originator's
//! key, sent back to the holder) or refuses. A consent travels with the item to the third party,
//! which checks the signature itself.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gsomia_core::{Action, Consent, Date, Grantee, PartyCode, Rule};
use gsomia_store::{Batch, Store, Verdict, Write};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, Body, Caller, entry};
use crate::error::{ApiError, ErrorBody};

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
    responses((status = 202, description = "Queued for the originator", body = Object), (status = 403, description = "Not an officer", body = ErrorBody),
              (status = 404, description = "No such item", body = ErrorBody), (status = 422, description = "The item is this node's own, or an unknown party", body = ErrorBody)))]
pub(super) async fn ask(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(req): Body<ConsentAsk>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    crate::service::permit(&node, &user, Action::AskConsent, "consent.ask", &req.item).await?;
    let Some(item) = node.store().item(&req.item, None)? else {
        return Err(ApiError::not_found(format!("no item `{}`", req.item)));
    };
    let originator = item.label.originator;
    if originator == node.party() {
        return Err(ApiError::unprocessable(
            "item: this node is its originator and needs no consent",
        ));
    }
    if node.world().scheme(req.to).is_none() {
        return Err(ApiError::unprocessable(format!(
            "to: unknown party `{}`",
            req.to
        )));
    }
    let request = json!({
        "item": req.item, "originator": originator, "holder": node.party(), "to": req.to,
        "purpose": item.label.purpose, "until": req.until, "asked_by": user.id, "asked": node.now_text(),
    });
    let writes = vec![Write::Enqueue {
        peer: originator.to_string(),
        kind: "consent_request".into(),
        payload: request.clone(),
        at: node.now_text(),
    }];
    let draft = entry(
        &node,
        &user.id,
        "consent.ask",
        &req.item,
        Verdict::Record,
        Some(Rule::R4),
        request.clone(),
    );
    node.write(Batch {
        writes,
        audit: vec![draft],
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "request": request }))))
}

/// Consent requests from partners about this party's items, with their answers.
#[utoipa::path(get, path = "/api/v1/consents/requests", tag = "consents", security(("bearer" = [])),
    responses((status = 200, description = "Requests and answers", body = Object), (status = 403, description = "Not an authority", body = ErrorBody)))]
pub(super) async fn requests(
    State(node): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    let (action, subject) = ("consent.requests", "requests");
    crate::service::permit(&node, &user, Action::ConsentRequests, action, subject).await?;
    let list: Vec<Value> = node
        .store()
        .consent_requests()?
        .into_iter()
        .map(|r| json!({ "id": r.id, "request": r.request, "answer": r.answer }))
        .collect();
    Ok(Json(json!({ "requests": list })))
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
    responses((status = 200, description = "The signed consent or the refusal, queued for the holder", body = Object),
              (status = 403, description = "Not an authority", body = ErrorBody), (status = 404, description = "No open request", body = ErrorBody)))]
pub(super) async fn answer(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<i64>,
    Body(req): Body<Answer>,
) -> Result<Json<Value>, ApiError> {
    let subject = format!("request {id}");
    crate::service::permit(
        &node,
        &user,
        Action::AnswerConsent,
        "consent.answer",
        &subject,
    )
    .await?;
    let open = node
        .store()
        .consent_requests()?
        .into_iter()
        .find(|r| r.id == id && r.answer.is_none());
    let Some(open) = open else {
        return Err(ApiError::not_found(format!("no open consent request {id}")));
    };
    let r = &open.request;
    let item = r["item"].as_str().unwrap_or_default().to_owned();
    let holder: PartyCode = serde_json::from_value(r["holder"].clone())
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let answer = if req.approve {
        let consent = Consent {
            id: format!("{}-consent-{id}", node.party()),
            originator: node.party(),
            item: item.clone(),
            holder,
            to: Grantee::Party(
                serde_json::from_value(r["to"].clone())
                    .map_err(|e| ApiError::unprocessable(e.to_string()))?,
            ),
            purpose: serde_json::from_value(r["purpose"].clone())
                .map_err(|e| ApiError::unprocessable(e.to_string()))?,
            given: node.today(),
            until: serde_json::from_value(r["until"].clone())
                .map_err(|e| ApiError::unprocessable(e.to_string()))?,
            signature: None,
        };
        let consent = consent
            .check()
            .map_err(|e| ApiError::unprocessable(format!("{}: {}", e.place, e.problem)))?;
        let signed = gsomia_crypto::consent::sign_consent(&node.keys().signing, consent);
        json!({ "approved": true, "consent": signed })
    } else {
        json!({ "approved": false, "request": r })
    };
    let kind = if req.approve {
        "consent"
    } else {
        "consent_refused"
    };
    let writes = vec![
        Write::AnswerConsentRequest {
            id,
            answer: answer.clone(),
        },
        Write::Enqueue {
            peer: holder.to_string(),
            kind: kind.into(),
            payload: answer.clone(),
            at: node.now_text(),
        },
    ];
    let decision = if req.approve {
        Verdict::Allow
    } else {
        Verdict::Deny
    };
    let draft = entry(
        &node,
        &user.id,
        "consent.answer",
        &item,
        decision,
        Some(Rule::R4),
        answer.clone(),
    );
    node.write(Batch {
        writes,
        audit: vec![draft],
    })
    .await?;
    Ok(Json(answer))
}

/// The consents this node holds, each verified by its originator's signature when it arrived.
#[utoipa::path(get, path = "/api/v1/consents", tag = "consents", security(("bearer" = [])),
    responses((status = 200, description = "Consents held", body = Object)))]
pub(super) async fn list(State(node): State<AppState>, _: Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "consents": node.store().consents()? })))
}
