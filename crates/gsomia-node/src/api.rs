//! The HTTP API, `/api/v1`: JSON in and out, bearer tokens, one error shape
//! (`{"error": {"code", "message", "rule"?}}`). Every decision a handler takes, allowed or
//! refused, is written to the audit log with the change it allows, in one batch (P7). Requests
//! refused before any decision (malformed JSON, wrong types, oversized bodies, unknown tokens)
//! change nothing and are not audited.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use gsomia_core::{Decision, EventKind, Item, ItemFile, Label, Rule, User};
use gsomia_crypto::seal::{SealRandom, open, seal};
use gsomia_store::{AuditDraft, Batch, Store, StoredItem, Write};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::data::random32;
use crate::error::ApiError;
use crate::node::Node;

type AppState = Arc<Node>;

/// The router, without a socket: tests call it directly.
pub fn app(node: Arc<Node>) -> Router {
    let limit = node.config.max_body_bytes;
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/node", get(descriptor))
        .route("/api/v1/parties", get(parties))
        .route("/api/v1/agreements", get(agreements))
        .route("/api/v1/agreements/{id}", get(agreement))
        .route("/api/v1/agreements/{id}/events", post(agreement_event))
        .route("/api/v1/items", post(publish).get(list_items))
        .route("/api/v1/items/{id}", get(get_item))
        .route("/api/v1/items/{id}/release", post(release_item))
        .route("/api/v1/audit", get(audit))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(node)
}

// ---------------------------------------------------------------------------------------------
// Extractors.

/// A JSON body whose rejections answer in the API's error shape: 415 without a JSON content
/// type, 400 for malformed JSON, 422 for the wrong shape (naming the field), 413 over the limit.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "the body must be JSON, sent with `Content-Type: application/json`",
                ),
                JsonRejection::JsonSyntaxError(e) => {
                    ApiError::new(StatusCode::BAD_REQUEST, "bad_json", e.body_text())
                }
                JsonRejection::JsonDataError(e) => ApiError::unprocessable(e.body_text()),
                other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "the body is larger than this node accepts (max_body_bytes)",
                ),
                other => ApiError::bad_request(other.body_text()),
            }),
        }
    }
}

/// Query parameters, with rejections in the API's error shape (400).
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|e: QueryRejection| ApiError::bad_request(e.body_text()))
    }
}

/// The authenticated caller: `Authorization: Bearer <token>`, an enabled user of this node.
pub struct Caller(pub User);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, node: &AppState) -> Result<Self, ApiError> {
        let unauthenticated =
            |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", m);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unauthenticated("missing `Authorization: Bearer <token>`"))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| unauthenticated("the Authorization header must be `Bearer <token>`"))?;
        match node
            .store()
            .user_by_token(&gsomia_crypto::token_hash(token.trim()))?
        {
            Some(record) => Ok(Caller(record.user)),
            None => {
                tracing::info!("refused an unknown or disabled token");
                Err(unauthenticated("unknown or disabled token"))
            }
        }
    }
}

fn has_role(user: &User, roles: &[gsomia_core::Role]) -> bool {
    user.roles.iter().any(|r| roles.contains(r))
}

fn entry(
    node: &Node,
    user: &User,
    action: &str,
    subject: &str,
    decision: &str,
    rule: Option<Rule>,
    detail: Value,
) -> AuditDraft {
    AuditDraft {
        at: node.now_text(),
        actor: user.id.clone(),
        action: action.into(),
        subject: subject.into(),
        decision: decision.into(),
        rule: rule.map(|r| r.id().to_owned()),
        detail,
    }
}

/// Records a refusal and answers it.
async fn refuse(
    node: &Node,
    user: &User,
    action: &str,
    subject: &str,
    error: ApiError,
) -> ApiError {
    let rule = error.rule.and_then(rule_by_id);
    let draft = entry(
        node,
        user,
        action,
        subject,
        "deny",
        rule,
        json!({ "message": error.message }),
    );
    match node
        .write(Batch {
            writes: vec![],
            audit: vec![draft],
        })
        .await
    {
        Ok(_) => error,
        Err(e) => e,
    }
}

fn rule_by_id(id: &str) -> Option<Rule> {
    use Rule::*;
    [A7, R1, R2, R3, R4, R5, R6, R7, M2, P1, P2, P5]
        .into_iter()
        .find(|r| r.id() == id)
}

// ---------------------------------------------------------------------------------------------
// Node, parties, agreements.

async fn descriptor(State(node): State<AppState>) -> Result<Json<Value>, ApiError> {
    let d = node
        .descriptor()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok(Json(json!(d)))
}

async fn parties(State(node): State<AppState>, _: Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "parties": node.store().parties()? })))
}

fn state_json(a: &gsomia_core::Agreement, at: gsomia_core::Date) -> Value {
    let s = a.state_at(at);
    json!({
        "at": at, "state": s.state, "in_force": s.state.in_force(),
        "entered_into_force": s.entered_into_force, "term_ends": s.term_ends, "terminates_on": s.terminates_on,
    })
}

async fn agreements(State(node): State<AppState>, _: Caller) -> Result<Json<Value>, ApiError> {
    let world = node.world();
    let today = node.today();
    let list: Vec<Value> = world
        .agreements()
        .iter()
        .map(|a| json!({ "id": a.id(), "title": a.title(), "parties": a.parties(), "status": state_json(a, today) }))
        .collect();
    Ok(Json(json!({ "agreements": list })))
}

#[derive(Deserialize)]
struct AtQuery {
    at: Option<gsomia_core::Date>,
}

async fn agreement(
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
        json!({ "agreement": a.file(), "status": state_json(a, at) }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventRequest {
    #[serde(rename = "type")]
    kind: EventKind,
    on: Option<gsomia_core::Date>,
    note: Option<String>,
}

async fn agreement_event(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<EventRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let action = "agreement.event";
    if !has_role(&user, &[gsomia_core::Role::Authority]) {
        let e = ApiError::forbidden(
            "A7",
            "only a user with the `authority` role makes agreement events",
        );
        return Err(refuse(&node, &user, action, &id, e).await);
    }
    let world = node.world();
    let a = world
        .agreement(&id)
        .ok_or_else(|| ApiError::not_found(format!("no agreement `{id}`")))?;
    let event = gsomia_core::Event {
        kind: req.kind,
        by: node.party(),
        on: req.on.unwrap_or_else(|| node.today()),
        note: req.note,
    };
    let updated = match a.with_event(event.clone()) {
        Ok(u) => u,
        Err(invalid) => {
            let e = ApiError {
                status: StatusCode::CONFLICT,
                code: "contradiction",
                message: invalid.problem.to_string(),
                rule: Some("A7"),
            };
            return Err(refuse(&node, &user, action, &id, e).await);
        }
    };
    let mut writes = vec![Write::PutAgreement(Box::new(updated.file().clone()))];
    for p in updated.parties().iter().filter(|p| **p != node.party()) {
        writes.push(Write::Enqueue {
            peer: p.to_string(),
            kind: "agreement_event".into(),
            payload: json!({ "agreement": id, "event": event }),
            at: node.now_text(),
        });
    }
    let draft = entry(
        &node,
        &user,
        action,
        &id,
        "allow",
        Some(Rule::A7),
        json!({ "event": event }),
    );
    node.write(Batch {
        writes,
        audit: vec![draft],
    })
    .await?;
    node.reload_world()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "event": event, "status": state_json(&updated, node.today()) })),
    ))
}

// ---------------------------------------------------------------------------------------------
// Items.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishRequest {
    label: Label,
    object: Value,
}

fn version_of(object: &Value) -> String {
    ["modified", "created"]
        .iter()
        .find_map(|k| object.get(*k).and_then(Value::as_str))
        .unwrap_or("-")
        .to_owned()
}

fn aad(id: &str, modified: &str) -> Vec<u8> {
    format!("{id}\n{modified}").into_bytes()
}

fn seal_random() -> Result<SealRandom, ApiError> {
    let r = |_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    };
    let nonces = random32().map_err(r)?;
    let mut content_nonce = [0u8; 12];
    let mut wrap_nonce = [0u8; 12];
    content_nonce.copy_from_slice(&nonces[..12]);
    wrap_nonce.copy_from_slice(&nonces[12..24]);
    Ok(SealRandom {
        item_key: random32().map_err(r)?,
        content_nonce,
        wrap_nonce,
    })
}

async fn publish(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(req): Body<PublishRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    use gsomia_core::Role::*;
    let action = "item.publish";
    let invalid =
        |e: gsomia_core::Invalid| ApiError::unprocessable(format!("{}: {}", e.place, e.problem));
    if req.label.originator != node.party() {
        return Err(ApiError::unprocessable(format!(
            "label.originator: this node publishes as {}, not {}",
            node.party(),
            req.label.originator
        )));
    }
    let item = Item::new(ItemFile {
        label: req.label,
        object: req.object,
        marking: None,
        custody: vec![],
        binding: None,
    })
    .map_err(invalid)?;
    let world = node.world();
    world.check_item(&item).map_err(invalid)?;
    if !has_role(&user, &[Analyst, SecurityOfficer, Authority]) {
        let e = ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "publishing needs the analyst, security_officer or authority role",
        );
        return Err(refuse(&node, &user, action, item.id(), e).await);
    }
    // The publisher may not classify above their own clearance.
    let scheme = world.scheme(node.party());
    let rank = |l: &str| scheme.and_then(|s| s.rank(l)).unwrap_or(0);
    if rank(user.clearance.as_str()) < rank(item.label().level.as_str()) {
        let e = ApiError::forbidden(
            "P1",
            format!(
                "{}'s clearance `{}` is below `{}`: nobody classifies above their own clearance",
                user.id,
                user.clearance,
                item.label().level
            ),
        );
        return Err(refuse(&node, &user, action, item.id(), e).await);
    }
    let binding = gsomia_crypto::sign_binding(&node.keys().signing, item.label(), item.object())
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let modified = version_of(item.object());
    let content = gsomia_crypto::canonical::to_vec(item.object());
    let sealed = seal(
        &node.keys().master,
        &seal_random()?,
        &aad(item.id(), &modified),
        &content,
    );
    let stored = StoredItem {
        seq: 0,
        id: item.id().to_owned(),
        modified: modified.clone(),
        stix_type: item.object()["type"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        label: item.label().clone(),
        marking: None,
        custody: vec![],
        binding: binding.to_base64(),
        wrapped_key: Some(sealed.wrapped_key),
        content: Some(sealed.content),
        added: node.now_text(),
        destroyed: None,
    };
    let draft = entry(
        &node,
        &user,
        action,
        item.id(),
        "allow",
        None,
        json!({ "version": modified, "level": item.label().level }),
    );
    let committed = node
        .write(Batch {
            writes: vec![Write::PutItem(Box::new(stored))],
            audit: vec![draft],
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "id": item.id(), "version": modified, "seq": committed.items.first(), "binding": binding.to_base64() }),
        ),
    ))
}

/// Opens a stored item into the core's `Item` (content decrypted), or `None` if destroyed.
fn unseal(node: &Node, s: &StoredItem) -> Result<Option<Item>, ApiError> {
    let (Some(key), Some(content)) = (&s.wrapped_key, &s.content) else {
        return Ok(None);
    };
    let internal = |m: String| {
        tracing::error!(item = %s.id, "{m}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    };
    let plain = open(&node.keys().master, &aad(&s.id, &s.modified), key, content)
        .map_err(|e| internal(e.to_string()))?;
    let object: Value = serde_json::from_slice(&plain).map_err(|e| internal(e.to_string()))?;
    let file = ItemFile {
        label: s.label.clone(),
        object,
        marking: s.marking.clone(),
        custody: s.custody.clone(),
        binding: Some(s.binding.clone()),
    };
    Item::new(file)
        .map(Some)
        .map_err(|e| internal(e.to_string()))
}

fn item_json(s: &StoredItem, item: &Item, marking: &gsomia_core::Marking) -> Value {
    json!({
        "id": s.id, "version": s.modified, "seq": s.seq, "added": s.added,
        "label": s.label, "marking": marking, "custody": s.custody, "binding": s.binding,
        "object": item.object(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemQuery {
    version: Option<String>,
}

async fn get_item(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Params(q): Params<ItemQuery>,
) -> Result<Json<Value>, ApiError> {
    let action = "item.read";
    let Some(stored) = node.store().item(&id, q.version.as_deref())? else {
        return Err(ApiError::not_found(format!("no item `{id}`")));
    };
    let Some(item) = unseal(&node, &stored)? else {
        let e = ApiError {
            status: StatusCode::GONE,
            code: "destroyed",
            message: format!(
                "item `{id}` was destroyed on {}",
                stored.destroyed.unwrap_or_default()
            ),
            rule: Some("P5"),
        };
        return Err(refuse(&node, &user, action, &id, e).await);
    };
    match gsomia_core::read(&node.world(), &item, &user, node.today()) {
        Decision::Allow(access) => {
            let draft = entry(
                &node,
                &user,
                action,
                &id,
                "allow",
                None,
                json!({ "version": stored.modified }),
            );
            node.write(Batch {
                writes: vec![],
                audit: vec![draft],
            })
            .await?;
            Ok(Json(item_json(&stored, &item, &access.marking)))
        }
        Decision::Deny(r) => Err(refuse(&node, &user, action, &id, ApiError::refused(&r)).await),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    after: Option<i64>,
    limit: Option<usize>,
    #[serde(rename = "type")]
    stix_type: Option<String>,
    topic: Option<String>,
    originator: Option<String>,
}

async fn list_items(
    State(node): State<AppState>,
    Caller(user): Caller,
    Params(q): Params<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let world = node.world();
    let today = node.today();
    let mut cursor = q.after.unwrap_or(0);
    let mut out = Vec::new();
    let mut ids = Vec::new();
    // Scan at most ten pages of rows per request; `next` lets the caller go on.
    let mut scanned = 0;
    while out.len() < limit && scanned < limit * 10 {
        let rows = node.store().items_after(cursor, limit)?;
        if rows.is_empty() {
            break;
        }
        for s in rows {
            cursor = s.seq;
            scanned += 1;
            let wanted = q.stix_type.as_ref().is_none_or(|t| *t == s.stix_type)
                && q.topic
                    .as_ref()
                    .is_none_or(|t| s.label.topics.iter().any(|x| x.as_str() == t))
                && q.originator
                    .as_ref()
                    .is_none_or(|o| s.label.originator.as_str() == o);
            if !wanted {
                continue;
            }
            let Some(item) = unseal(&node, &s)? else {
                continue;
            };
            if let Decision::Allow(access) = gsomia_core::read(&world, &item, &user, today) {
                ids.push(json!([s.id, s.modified]));
                out.push(item_json(&s, &item, &access.marking));
                if out.len() == limit {
                    break;
                }
            }
        }
    }
    let draft = entry(
        &node,
        &user,
        "item.list",
        "items",
        "allow",
        None,
        json!({ "returned": ids }),
    );
    node.write(Batch {
        writes: vec![],
        audit: vec![draft],
    })
    .await?;
    Ok(Json(json!({ "items": out, "next": cursor })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseRequest {
    to: gsomia_core::PartyCode,
}

async fn release_item(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<ReleaseRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    use gsomia_core::Role::*;
    let action = "item.release";
    let world = node.world();
    if world.scheme(req.to).is_none() {
        return Err(ApiError::unprocessable(format!(
            "to: unknown party `{}`",
            req.to
        )));
    }
    let Some(stored) = node.store().item(&id, None)? else {
        return Err(ApiError::not_found(format!("no item `{id}`")));
    };
    // R7: a person with the authority or security officer role releases.
    if !has_role(&user, &[Authority, SecurityOfficer]) {
        let e = ApiError::forbidden(
            "R7",
            format!(
                "{} may not release: only an authority or a security officer releases (no duty to share)",
                user.id
            ),
        );
        return Err(refuse(&node, &user, action, &id, e).await);
    }
    // R6: not destroyed, and the originator's binding verifies.
    let Some(item) = unseal(&node, &stored)? else {
        let e = ApiError::forbidden("R6", format!("item `{id}` was destroyed"));
        return Err(refuse(&node, &user, action, &id, e).await);
    };
    let key = node
        .store()
        .parties()?
        .into_iter()
        .find(|p| p.code == item.label().originator)
        .and_then(|p| p.keys.verifying_key().ok());
    let checked = match key {
        Some(k) => gsomia_crypto::verify_binding(&k, &item)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        None => Err(format!(
            "the public key of originator {} is unknown",
            item.label().originator
        )),
    };
    if let Err(message) = checked {
        let e = ApiError::forbidden("R6", message);
        return Err(refuse(&node, &user, action, &id, e).await);
    }
    match gsomia_core::release(&world, &item, req.to, node.today()) {
        Decision::Allow(r) => {
            let payload = json!({ "id": stored.id, "version": stored.modified, "agreement": r.agreement.id(), "marking": r.marking });
            let draft = entry(
                &node,
                &user,
                action,
                &id,
                "allow",
                None,
                json!({ "to": req.to, "agreement": r.agreement.id(), "marking": r.marking }),
            );
            let writes = vec![Write::Enqueue {
                peer: req.to.to_string(),
                kind: "item".into(),
                payload: payload.clone(),
                at: node.now_text(),
            }];
            node.write(Batch {
                writes,
                audit: vec![draft],
            })
            .await?;
            Ok((
                StatusCode::ACCEPTED,
                Json(
                    json!({ "decision": "allow", "agreement": r.agreement.id(), "marking": r.marking }),
                ),
            ))
        }
        Decision::Deny(r) => Err(refuse(&node, &user, action, &id, ApiError::refused(&r)).await),
    }
}

// ---------------------------------------------------------------------------------------------
// Audit.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

async fn audit(
    State(node): State<AppState>,
    Caller(user): Caller,
    Params(q): Params<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    use gsomia_core::Role::*;
    if !has_role(&user, &[SecurityOfficer, Authority, Admin]) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the audit log is for security officers, authorities and administrators",
        ));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let entries = node.store().audit_after(q.after.unwrap_or(0), limit)?;
    let next = entries.last().map(|e| e.seq);
    let list: Vec<Value> = entries
        .iter()
        .map(|e| json!({ "seq": e.seq, "hash": e.hash, "entry": serde_json::from_str::<Value>(&e.body).unwrap_or(Value::Null) }))
        .collect();
    Ok(Json(json!({ "entries": list, "next": next })))
}
