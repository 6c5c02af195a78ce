//! Items: publish, derive (P4), list and read (P1, P2), release (R1–R7), destroy (P5), and the
//! standing release rules (R7).

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gsomia_core::{
    Action, Decision, Item, ItemFile, Label, LevelId, Marking, PartyCode, Tag, User, World,
};
use gsomia_crypto::seal::{SealRandom, open, seal};
use gsomia_store::{AuditDraft, Batch, ReleaseRule, Store, StoredItem, Verdict, Write};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, Body, Caller, Params, audited, entry, internal, refuse};
use crate::data::random32;
use crate::error::{ApiError, ErrorBody};
use crate::node::Node;

fn aad(id: &str, modified: &str) -> Vec<u8> {
    format!("{id}\n{modified}").into_bytes()
}

fn invalid(e: gsomia_core::Invalid) -> ApiError {
    ApiError::unprocessable(format!("{}: {}", e.place, e.problem))
}

/// Signs the binding of a new item of this node's and seals its content.
/// Returns the item as stored and the item with its binding.
fn sign_and_seal(node: &Node, item: &Item) -> Result<(StoredItem, Item), ApiError> {
    let binding = gsomia_crypto::sign_binding(&node.keys().signing, item.label(), item.object())
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let mut file = item.file().clone();
    file.binding = Some(binding.to_base64());
    let bound = Item::new(file).map_err(internal)?;
    Ok((seal_item(node, &bound, item.version())?, bound))
}

/// An item as stored: its content sealed under a fresh key (P5), its label, marking, custody
/// and the originator's binding as the item carries them.
pub(crate) fn seal_item(node: &Node, item: &Item, version: &str) -> Result<StoredItem, ApiError> {
    let nonces = random32().map_err(internal)?;
    let mut random = SealRandom {
        item_key: random32().map_err(internal)?,
        content_nonce: [0; 12],
        wrap_nonce: [0; 12],
    };
    random.content_nonce.copy_from_slice(&nonces[..12]);
    random.wrap_nonce.copy_from_slice(&nonces[12..24]);
    let content = gsomia_crypto::canonical::to_vec(item.object());
    let sealed = seal(
        &node.keys().master,
        &random,
        &aad(item.id(), version),
        &content,
    );
    Ok(StoredItem {
        seq: 0,
        id: item.id().to_owned(),
        modified: version.to_owned(),
        stix_type: item.object()["type"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        label: item.label().clone(),
        marking: item.marking().cloned(),
        custody: item.custody().to_vec(),
        binding: item.file().binding.clone().unwrap_or_default(),
        wrapped_key: Some(sealed.wrapped_key),
        content: Some(sealed.content),
        added: node.now_text(),
        destroyed: None,
    })
}

/// The decrypted STIX object of a stored item, or `None` if it was destroyed.
pub(crate) fn unseal_object(node: &Node, s: &StoredItem) -> Result<Option<Value>, ApiError> {
    let (Some(key), Some(content)) = (&s.wrapped_key, &s.content) else {
        return Ok(None);
    };
    let plain =
        open(&node.keys().master, &aad(&s.id, &s.modified), key, content).map_err(internal)?;
    serde_json::from_slice(&plain).map(Some).map_err(internal)
}

/// Opens a stored item (content decrypted), or `None` if it was destroyed.
pub(crate) fn unseal(node: &Node, s: &StoredItem) -> Result<Option<Item>, ApiError> {
    let Some(object) = unseal_object(node, s)? else {
        return Ok(None);
    };
    let file = ItemFile {
        label: s.label.clone(),
        object,
        marking: s.marking.clone(),
        custody: s.custody.clone(),
        binding: Some(s.binding.clone()),
    };
    Item::new(file).map(Some).map_err(internal)
}

fn item_json(s: &StoredItem, item: &Item, marking: &Marking) -> Value {
    json!({
        "id": s.id, "version": s.modified, "seq": s.seq, "added": s.added,
        "label": s.label, "marking": marking, "custody": s.custody, "binding": s.binding,
        "object": item.object(),
    })
}

fn rank(world: &World, party: PartyCode, level: &str) -> u16 {
    world.scheme(party).and_then(|s| s.rank(level)).unwrap_or(0)
}

/// R6 (the originator's binding verifies) and R1–R5 for a release of `item` to `to`: the
/// agreement and marking, or the refusal.
fn decide_release(
    node: &Node,
    world: &World,
    item: &Item,
    to: PartyCode,
) -> Result<(String, Marking), ApiError> {
    let key = node
        .store()
        .parties()?
        .into_iter()
        .find(|p| p.code == item.label().originator)
        .and_then(|p| p.keys.verifying_key().ok());
    let checked = match key {
        Some(k) => gsomia_crypto::verify_binding(&k, item)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        None => Err(format!(
            "the public key of originator {} is unknown",
            item.label().originator
        )),
    };
    checked.map_err(|m| ApiError::forbidden("R6", m))?;
    match gsomia_core::release(world, item, to, node.today()) {
        Decision::Allow(r) => Ok((r.agreement.id().to_string(), r.marking)),
        Decision::Deny(r) => Err(ApiError::refused(&r)),
    }
}

fn outbox_item(node: &Node, s: &StoredItem, agreement: &str, marking: &Marking) -> Write {
    Write::Enqueue {
        peer: marking.party.to_string(),
        kind: "item".into(),
        payload: json!({ "id": s.id, "version": s.modified, "agreement": agreement, "marking": marking }),
        at: node.now_text(),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PublishRequest {
    #[schema(value_type = Object)]
    label: Label,
    #[schema(value_type = Object)]
    object: Value,
}

#[utoipa::path(post, path = "/api/v1/items", tag = "items", security(("bearer" = [])), request_body = PublishRequest, responses((status = 201, description = "Stored, bound and sealed; standing rules applied (R7)", body = Object), (status = 403, description = "Above the publisher's clearance (P1) or no publishing role", body = ErrorBody), (status = 409, description = "That version is already stored", body = ErrorBody), (status = 413, description = "Body over max_body_bytes", body = ErrorBody), (status = 415, description = "Not JSON", body = ErrorBody), (status = 422, description = "Wrong types, unknown level or party, not a STIX 2.1 object, another originator", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Publishes an item of this node's: the label's originator is this party, the level at most
/// the publisher's clearance. Standing release rules that cover it release it in the same
/// commit (R7).
pub(super) async fn publish(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(req): Body<PublishRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let world = node.world();
    // Published through this API, the object names the node's marking of it, so that it carries
    // its classification on every interface (TAXII clients post their own).
    let mut object = req.object;
    if let Some(id) = object["id"].as_str() {
        let marking =
            super::taxii::marking_id_of(id, gsomia_core::version_of(&object), node.party());
        super::taxii::add_ref(&mut object, &marking);
    }
    let plan = match plan_publish(&node, &world, &user, req.label, object) {
        Ok(plan) => plan,
        Err((e, Some(draft))) => return Err(audited(&node, e, *draft).await),
        Err((e, None)) => return Err(e),
    };
    let committed = node
        .write(Batch {
            writes: plan.writes,
            audit: plan.audit,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": plan.id, "version": plan.version, "seq": committed.items.first(),
            "binding": plan.binding, "released": plan.released,
        })),
    ))
}

/// A publication decided: what to commit together, and what to answer.
pub(crate) struct PublishPlan {
    /// The item, then the outbox messages of standing release rules.
    pub writes: Vec<Write>,
    /// The publication's audit entry and the release rules' decisions.
    pub audit: Vec<AuditDraft>,
    /// The item's id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// The binding signed for it.
    pub binding: String,
    /// The standing release rules that released it (R7).
    pub released: Vec<Value>,
}

/// Decides the publication of an item of this node's (the label's originator is this party;
/// the publisher has a publishing role and a clearance at least the item's level, P1), signs
/// its binding, seals its content and applies the standing release rules (R7). A refusal comes
/// with the audit entry that records it when it was a decision; malformed input comes without.
pub(crate) fn plan_publish(
    node: &Node,
    world: &World,
    user: &User,
    label: Label,
    object: Value,
) -> Result<PublishPlan, (ApiError, Option<Box<AuditDraft>>)> {
    let action = "item.publish";
    if label.originator != node.party() {
        return Err((
            ApiError::unprocessable(format!(
                "label.originator: this node publishes as {}, not {}",
                node.party(),
                label.originator
            )),
            None,
        ));
    }
    let file = ItemFile {
        label,
        object,
        marking: None,
        custody: vec![],
        binding: None,
    };
    let item = Item::new(file).map_err(|e| (invalid(e), None))?;
    world.check_item(&item).map_err(|e| (invalid(e), None))?;
    let deny = |e: ApiError| {
        let draft = entry(
            node,
            &user.id,
            action,
            item.id(),
            Verdict::Deny,
            e.rule.and_then(gsomia_core::Rule::from_id),
            json!({ "message": e.message }),
        );
        (e, Some(Box::new(draft)))
    };
    if let Err(r) = gsomia_core::permit(user, gsomia_core::Action::Publish) {
        return Err(deny(ApiError::refused(&r)));
    }
    // H1: an item id belongs to its originator; this node publishes none under another's.
    let held = node
        .store()
        .item(item.id(), None)
        .map_err(|e| (e.into(), None))?;
    if let Some(held) = held
        && held.label.originator != node.party()
    {
        return Err(deny(ApiError {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message: format!(
                "`{}` is held here as an item of {}: an item id belongs to its originator",
                item.id(),
                held.label.originator
            ),
            rule: Some("H1"),
        }));
    }
    let party = node.party();
    if rank(world, party, user.clearance.as_str()) < rank(world, party, item.label().level.as_str())
    {
        return Err(deny(ApiError::forbidden(
            "P1",
            format!(
                "{}'s clearance `{}` is below `{}`: nobody classifies above their own clearance",
                user.id,
                user.clearance,
                item.label().level
            ),
        )));
    }
    let (stored, bound) = sign_and_seal(node, &item).map_err(|e| (e, None))?;
    let detail = json!({ "version": stored.modified, "level": item.label().level });
    let mut audit = vec![entry(
        node,
        &user.id,
        action,
        item.id(),
        Verdict::Allow,
        None,
        detail,
    )];
    let mut writes = vec![];
    let mut released = vec![];
    let rules = node.release_rules();
    for rule in rules.iter() {
        let covered = bound.label().topics.iter().any(|t| rule.topics.contains(t))
            && rank(world, party, bound.label().level.as_str())
                <= rank(world, party, rule.max_level.as_str());
        if !covered {
            continue;
        }
        match decide_release(node, world, &bound, rule.to) {
            Ok((agreement, marking)) => {
                writes.push(outbox_item(node, &stored, &agreement, &marking));
                let detail = json!({ "to": rule.to, "agreement": agreement, "marking": marking, "release_rule": rule.id });
                audit.push(entry(
                    node,
                    &rule.created_by,
                    "item.release",
                    item.id(),
                    Verdict::Allow,
                    None,
                    detail,
                ));
                released.push(
                    json!({ "to": rule.to, "agreement": agreement, "release_rule": rule.id }),
                );
            }
            Err(e) => {
                let detail =
                    json!({ "to": rule.to, "release_rule": rule.id, "message": e.message });
                let rule_id = e.rule.and_then(gsomia_core::Rule::from_id);
                audit.push(entry(
                    node,
                    &rule.created_by,
                    "item.release",
                    item.id(),
                    Verdict::Deny,
                    rule_id,
                    detail,
                ));
            }
        }
    }
    let plan = PublishPlan {
        id: item.id().to_owned(),
        version: stored.modified.clone(),
        binding: stored.binding.clone(),
        released,
        audit,
        writes: vec![],
    };
    writes.insert(0, super::taxii::marking_write(&stored));
    writes.insert(0, Write::PutItem(Box::new(stored)));
    Ok(PublishPlan { writes, ..plan })
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

#[utoipa::path(post, path = "/api/v1/items/derive", tag = "items", security(("bearer" = [])), request_body = DeriveRequest, responses((status = 201, description = "The derived item and its label (P4)", body = Object), (status = 403, description = "A source the caller may not read", body = ErrorBody), (status = 404, description = "No such source", body = ErrorBody), (status = 422, description = "Wrong shape", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Derives a new item (a copy, translation or extract) from items the caller may read (P4): it
/// takes the highest level, every caveat and every originator of its sources.
pub(super) async fn derive(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(req): Body<DeriveRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let action = "item.derive";
    if req.sources.is_empty() {
        return Err(ApiError::unprocessable(
            "sources: a derived item needs at least one source",
        ));
    }
    let subject = req
        .object
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("-")
        .to_owned();
    crate::service::permit(&node, &user, Action::Derive, action, &subject).await?;
    let world = node.world();
    let mut sources = Vec::new();
    for s in &req.sources {
        let Some(stored) = node.store().item(&s.id, s.version.as_deref())? else {
            return Err(ApiError::not_found(format!("no item `{}`", s.id)));
        };
        let Some(item) = unseal(&node, &stored)? else {
            let e = ApiError::forbidden("P5", format!("source `{}` was destroyed", s.id));
            return Err(refuse(&node, &user, action, &subject, e).await);
        };
        if let Decision::Deny(r) = gsomia_core::read(&world, &item, &user, node.today()) {
            return Err(refuse(&node, &user, action, &subject, ApiError::refused(&r)).await);
        }
        sources.push(item);
    }
    let scheme = world
        .scheme(node.party())
        .ok_or_else(|| internal("the node's own scheme is missing"))?;
    let created = node.now_text().parse().map_err(internal)?;
    let refs: Vec<&Item> = sources.iter().collect();
    let label = gsomia_core::derive(scheme, &refs, req.purpose, created)
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let file = ItemFile {
        label,
        object: req.object,
        marking: None,
        custody: vec![],
        binding: None,
    };
    let item = Item::new(file).map_err(invalid)?;
    if sources.iter().any(|s| s.id() == item.id()) {
        return Err(ApiError::unprocessable(
            "object.id: a derived item needs an id of its own",
        ));
    }
    let (stored, _) = sign_and_seal(&node, &item)?;
    let ids: Vec<&str> = sources.iter().map(Item::id).collect();
    let detail = json!({ "version": stored.modified, "level": item.label().level, "sources": ids });
    let draft = entry(
        &node,
        &user.id,
        action,
        item.id(),
        Verdict::Allow,
        Some(gsomia_core::Rule::P4),
        detail,
    );
    let label = item.label().clone();
    let modified = stored.modified.clone();
    node.write(Batch {
        writes: vec![Write::PutItem(Box::new(stored))],
        audit: vec![draft],
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": item.id(), "version": modified, "label": label })),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ItemQuery {
    version: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/items/{id}", tag = "items", security(("bearer" = [])), params(("id" = String, Path, description = "STIX id"), ItemQuery), responses((status = 200, description = "Content, label, local marking, custody", body = Object), (status = 403, description = "Refused, with the rule (M2, P1, P2)", body = ErrorBody), (status = 404, description = "No such item", body = ErrorBody), (status = 410, description = "Destroyed (P5)", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// One item, if the caller may read it (P1, P2); audited either way.
pub(super) async fn get(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Params(q): Params<ItemQuery>,
) -> Result<Json<Value>, ApiError> {
    let (stored, item, marking) =
        crate::service::read(&node, &user, &id, q.version.as_deref(), "api").await?;
    Ok(Json(item_json(&stored, &item, &marking)))
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
}

#[utoipa::path(get, path = "/api/v1/items", tag = "items", security(("bearer" = [])), params(ListQuery), responses((status = 200, description = "What the caller may read, and the cursor `next`", body = Object), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// What the caller may read, in the order it was added; `next` is the cursor for the next page.
/// Items the caller may not read are left out, not refused (default deny).
pub(super) async fn list(
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
    // At most ten pages of rows are scanned per request; `next` lets the caller go on.
    let mut scanned = 0;
    'scan: while scanned < limit * 10 {
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
            // Decided on the label before anything is decrypted.
            let decision =
                gsomia_core::read_label(&world, &s.id, &s.label, s.marking.as_ref(), &user, today);
            let Decision::Allow(access) = decision else {
                continue;
            };
            if let Some(item) = unseal(&node, &s)? {
                ids.push(json!([s.id, s.modified]));
                out.push(item_json(&s, &item, &access.marking));
                if out.len() == limit {
                    break 'scan;
                }
            }
        }
    }
    let draft = entry(
        &node,
        &user.id,
        "item.list",
        "items",
        Verdict::Allow,
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReleaseRequest {
    #[schema(value_type = String)]
    to: PartyCode,
}

#[utoipa::path(post, path = "/api/v1/items/{id}/release", tag = "items", security(("bearer" = [])), params(("id" = String, Path, description = "STIX id")), request_body = ReleaseRequest, responses((status = 202, description = "Allowed and queued in the outbox, with the agreement and the recipient's marking", body = Object), (status = 403, description = "Refused, with the rule (R1-R7)", body = ErrorBody), (status = 404, description = "No such item", body = ErrorBody), (status = 422, description = "Unknown party", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Releases an item to a party: an authority or security officer (R7), a binding that verifies
/// (R6), R1–R5 today; then the durable outbox.
pub(super) async fn release(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<ReleaseRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let action = "item.release";
    // The role first: a refusal says nothing about whether the item exists (H8).
    crate::service::permit(&node, &user, Action::Release, action, &id).await?;
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
    let Some(item) = unseal(&node, &stored)? else {
        let e = ApiError::forbidden("P5", format!("item `{id}` was destroyed"));
        return Err(refuse(&node, &user, action, &id, e).await);
    };
    match decide_release(&node, &world, &item, req.to) {
        Ok((agreement, marking)) => {
            let detail = json!({ "to": req.to, "agreement": agreement, "marking": marking });
            let draft = entry(&node, &user.id, action, &id, Verdict::Allow, None, detail);
            let writes = vec![outbox_item(&node, &stored, &agreement, &marking)];
            node.write(Batch {
                writes,
                audit: vec![draft],
            })
            .await?;
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "decision": "allow", "agreement": agreement, "marking": marking })),
            ))
        }
        Err(e) => Err(refuse(&node, &user, action, &id, e).await),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DestroyRequest {
    version: Option<String>,
    #[serde(default)]
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/items/{id}/destroy", tag = "items", security(("bearer" = [])), params(("id" = String, Path, description = "STIX id")), request_body = DestroyRequest, responses((status = 200, description = "The signed destruction certificate (P5)", body = Object), (status = 403, description = "Not an officer", body = ErrorBody), (status = 404, description = "No such item", body = ErrorBody), (status = 410, description = "Already destroyed", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Destroys an item version (P5): its key and content are deleted (crypto-shredding), a signed
/// destruction certificate is kept in the audit log and, where the agreement it came under says
/// so, sent to the originator.
pub(super) async fn destroy(
    State(node): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Body(req): Body<DestroyRequest>,
) -> Result<Json<Value>, ApiError> {
    let action = "item.destroy";
    // The role first: a refusal says nothing about whether the item exists (H8).
    crate::service::permit(&node, &user, Action::Destroy, action, &id).await?;
    let Some(stored) = node.store().item(&id, req.version.as_deref())? else {
        return Err(ApiError::not_found(format!("no item `{id}`")));
    };
    if stored.destroyed.is_some() {
        return Err(ApiError::new(
            StatusCode::GONE,
            "destroyed",
            format!("item `{id}` is already destroyed"),
        ));
    }
    let mut certificates =
        crate::service::destroy(&node, &user, &[stored], &req.reason, "api").await?;
    Ok(Json(certificates.pop().unwrap_or_default()))
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

#[utoipa::path(post, path = "/api/v1/release-rules", tag = "items", security(("bearer" = [])), request_body = RuleRequest, responses((status = 201, description = "The standing release rule (R7)", body = Object), (status = 403, description = "Not an officer", body = ErrorBody), (status = 422, description = "Unknown party or level", body = ErrorBody), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Adds a standing release rule (R7), by an authority or security officer.
pub(super) async fn add_rule(
    State(node): State<AppState>,
    Caller(user): Caller,
    Body(req): Body<RuleRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let action = "release_rule.add";
    crate::service::permit(&node, &user, Action::ReleaseRules, action, req.to.as_str()).await?;
    let world = node.world();
    if world.scheme(req.to).is_none() || req.to == node.party() {
        return Err(ApiError::unprocessable(format!(
            "to: `{}` is not a partner of this node",
            req.to
        )));
    }
    if req.topics.is_empty() {
        return Err(ApiError::unprocessable(
            "topics: a standing rule names at least one topic",
        ));
    }
    if world
        .scheme(node.party())
        .and_then(|s| s.level(req.max_level.as_str()))
        .is_none()
    {
        return Err(ApiError::unprocessable(format!(
            "max_level: unknown level `{}` in the scheme of {}",
            req.max_level,
            node.party()
        )));
    }
    let topics: BTreeSet<Tag> = req.topics.into_iter().collect();
    let rule = ReleaseRule {
        id: 0,
        to: req.to,
        topics: topics.into_iter().collect(),
        max_level: req.max_level,
        created_by: user.id.clone(),
        created: node.now_text(),
    };
    let draft = entry(
        &node,
        &user.id,
        action,
        req.to.as_str(),
        Verdict::Allow,
        Some(gsomia_core::Rule::R7),
        json!({ "rule": rule }),
    );
    let committed = node
        .write(Batch {
            writes: vec![Write::AddReleaseRule(rule.clone())],
            audit: vec![draft],
        })
        .await?;
    node.reload_release_rules().map_err(internal)?;
    let id = committed.ids.first().copied().unwrap_or_default();
    Ok((StatusCode::CREATED, Json(json!(ReleaseRule { id, ..rule }))))
}

#[utoipa::path(get, path = "/api/v1/release-rules", tag = "items", security(("bearer" = [])), responses((status = 200, description = "The standing release rules", body = Object), (status = 400, description = "Malformed JSON or query", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// The standing release rules, for authorities and security officers (R7).
pub(super) async fn rules(
    State(node): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    crate::service::permit(
        &node,
        &user,
        Action::ReleaseRules,
        "release_rule.list",
        "rules",
    )
    .await?;
    Ok(Json(json!({ "rules": *node.release_rules() })))
}
