//! Items: publish, derive (P4), read and list (P1, P2, H8), release (R1–R7), destroy (P5), and
//! the standing release rules (R7). Content is sealed at rest under a per-item key.

use std::collections::BTreeSet;

use gsomia_core::{
    Action, Decision, Grantee, Item, ItemFile, ItemId, Label, LevelId, Marking, PartyCode, Rule,
    Tag, User, World,
};
use gsomia_crypto::seal::{SealRandom, open, seal};
use gsomia_store::{AuditDraft, Batch, ReleaseRule, StoredItem, Verdict, Write};
use serde_json::{Value, json};

use super::{audited, internal, permit, refuse};
use crate::data::random32;
use crate::error::ApiError;
use crate::node::{Node, entry};

fn aad(id: &str, modified: &str) -> Vec<u8> {
    format!("{id}\n{modified}").into_bytes()
}

fn invalid(e: gsomia_core::Invalid) -> ApiError {
    ApiError::unprocessable(format!("{}: {}", e.place, e.problem))
}

/// Signs the binding of a new item of this node's and seals its content.
/// Returns the item as stored and the item with its binding.
fn sign_and_seal(node: &Node, item: &Item) -> Result<(StoredItem, Item), ApiError> {
    // The binding signs the hash of the bytes that are sealed: made once.
    let content = gsomia_crypto::canonical::to_vec(item.object());
    let binding = gsomia_crypto::binding::sign_binding_canonical(
        &node.keys().signing,
        item.label(),
        &content,
    )
    .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let mut file = item.file().clone();
    file.binding = Some(binding.to_base64());
    let bound = Item::new(file).map_err(internal)?;
    Ok((seal_item(node, &bound, item.version(), &content)?, bound))
}

/// A partner's item as stored: only one whose originator's binding was verified here can be
/// (H2, R6); see [`seal_item`]. `content` is the object's canonical form that the verification
/// hashed ([`crate::node::verify_binding_with`]).
pub fn seal_received<I: std::borrow::Borrow<Item>>(
    node: &Node,
    item: gsomia_crypto::Verified<I>,
    version: &str,
    content: &[u8],
) -> Result<StoredItem, ApiError> {
    seal_item(node, item.into_inner().borrow(), version, content)
}

/// An item as stored: its content sealed under a fresh key (P5), its label, marking, custody
/// and the originator's binding as the item carries them; `content` is its object's canonical
/// form, which the binding hashed. Used for this node's own items, which it has just bound
/// itself, and through [`seal_received`] for partners' items.
fn seal_item(
    node: &Node,
    item: &Item,
    version: &str,
    content: &[u8],
) -> Result<StoredItem, ApiError> {
    let nonces = random32().map_err(internal)?;
    let mut random = SealRandom {
        item_key: random32().map_err(internal)?,
        content_nonce: [0; 12],
        wrap_nonce: [0; 12],
    };
    random.content_nonce.copy_from_slice(&nonces[..12]);
    random.wrap_nonce.copy_from_slice(&nonces[12..24]);
    let sealed = seal(
        &node.keys().master,
        &random,
        &aad(item.id(), version),
        content,
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
pub fn unseal_object(node: &Node, s: &StoredItem) -> Result<Option<Value>, ApiError> {
    let Some(plain) = unseal_text(node, s)? else {
        return Ok(None);
    };
    serde_json::from_slice(&plain).map(Some).map_err(internal)
}

/// The decrypted STIX object of a stored item as the canonical JSON text it was sealed as, or
/// `None` if it was destroyed. The text was checked (M1) before it was sealed, and the seal's
/// authentication (bound to the item's id and version) makes sure it is that text: a reader
/// that only passes the object on need not parse or check it again.
pub fn unseal_text(node: &Node, s: &StoredItem) -> Result<Option<Vec<u8>>, ApiError> {
    let (Some(key), Some(content)) = (&s.wrapped_key, &s.content) else {
        return Ok(None);
    };
    open(&node.keys().master, &aad(&s.id, &s.modified), key, content)
        .map(Some)
        .map_err(internal)
}

/// Opens a stored item (content decrypted), or `None` if it was destroyed.
pub fn unseal(node: &Node, s: &StoredItem) -> Result<Option<Item>, ApiError> {
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

/// An item as the API shows it to a reader: version, label, the reader's party's marking,
/// custody chain, binding and content.
pub fn item_json(s: &StoredItem, item: &Item, marking: &Marking) -> Value {
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
    let record = node
        .store()
        .parties()?
        .into_iter()
        .find(|p| p.code == item.label().originator);
    let checked = match record {
        Some(r) => crate::node::verify_binding_by(&r, item).map(|_| ()),
        None => Err(format!(
            "the public key of originator {} is unknown",
            item.label().originator
        )),
    };
    checked.map_err(|m| ApiError::forbidden(gsomia_core::Rule::R6, m))?;
    match gsomia_core::release(world, item, to, node.today()) {
        Decision::Allow(r) => Ok((r.agreement.id().to_string(), r.marking)),
        Decision::Deny(r) => Err(ApiError::refused(&r)),
    }
}

fn outbox_item(node: &Node, s: &StoredItem, agreement: &str, marking: &Marking) -> Write {
    Write::Enqueue {
        peer: marking.party,
        kind: "item".into(),
        payload: json!({ "id": s.id, "version": s.modified, "agreement": agreement, "marking": marking }),
        at: node.now_text(),
    }
}

/// The standing release rules (R7) that cover `held` (one of its topics, and its level as this
/// party marks it at most the rule's), each decided as a release by the rule's author and
/// audited; the allowed ones are queued to `writes`. They apply to what this node publishes and
/// to what it receives: a hub passes on a partner's item under the originator's consent, for
/// the item or standing for its topic (R4b), which the audit entry names and the item carries.
/// Answers what was released.
pub fn apply_release_rules(
    node: &Node,
    world: &World,
    stored: &StoredItem,
    held: &Item,
    writes: &mut Vec<Write>,
    audit: &mut Vec<AuditDraft>,
) -> Vec<Value> {
    let party = node.party();
    let mut released = vec![];
    for rule in node.release_rules().iter() {
        let covered = held.label().topics.iter().any(|t| rule.topics.contains(t))
            && rank(world, party, held.holder_level().as_str())
                <= rank(world, party, rule.max_level.as_str());
        if !covered {
            continue;
        }
        let (verdict, rule_id, detail) = match decide_release(node, world, held, rule.to) {
            Ok((agreement, marking)) => {
                writes.push(outbox_item(node, stored, &agreement, &marking));
                let used =
                    consents_used(world, held.id(), held.label(), party, rule.to, node.today());
                let consents: Vec<&str> = used.into_iter().map(|c| c.id.as_str()).collect();
                released.push(
                    json!({ "to": rule.to, "agreement": agreement, "release_rule": rule.id }),
                );
                let mut detail = json!({ "to": rule.to, "agreement": agreement, "marking": marking, "release_rule": rule.id });
                if !consents.is_empty() {
                    detail["consents"] = json!(consents);
                }
                (Verdict::Allow, None, detail)
            }
            Err(e) => (
                Verdict::Deny,
                e.rule,
                json!({ "to": rule.to, "release_rule": rule.id, "message": e.message }),
            ),
        };
        audit.push(entry(
            node,
            &rule.created_by,
            "item.release",
            held.id(),
            verdict,
            rule_id,
            detail,
        ));
    }
    released
}

/// The consents by which `holder` releases item `id` (labelled `label`) to `to` on `day` (R4,
/// R4b): those of its originators, for the item or standing for one of its topics, that cover
/// the release.
pub fn consents_used<'w>(
    world: &'w World,
    id: &str,
    label: &Label,
    holder: PartyCode,
    to: PartyCode,
    day: gsomia_core::Date,
) -> Vec<&'w gsomia_core::Consent> {
    let covered = gsomia_core::Covered {
        id,
        topics: &label.topics,
        purpose: &label.purpose,
    };
    let onward = gsomia_core::Onward {
        holder,
        to: Grantee::Party(to),
        day,
    };
    world
        .consents_for(id)
        .filter(|c| label.originators().any(|o| c.covers(o, covered, onward)))
        .collect()
}

/// A publication decided: what to commit together, and what to answer.
pub struct PublishPlan {
    /// The item, then the outbox messages of standing release rules.
    pub writes: Vec<Write>,
    /// The publication's audit entry and the release rules' decisions.
    pub audit: Vec<AuditDraft>,
    /// The item's id.
    pub id: ItemId,
    /// Its version.
    pub version: String,
    /// The binding signed for it.
    pub binding: String,
    /// The standing release rules that released it (R7).
    pub released: Vec<Value>,
    /// Its search document, made from the object in clear ([`Node::write_indexed`]).
    pub document: crate::search::Prepared,
}

/// Decides the publication of an item of this node's (the label's originator is this party;
/// the publisher has a publishing role and a clearance at least the item's level, P1), signs
/// its binding, seals its content and applies the standing release rules (R7). A refusal comes
/// with the audit entry that records it when it was a decision; malformed input comes without.
pub fn plan_publish(
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
            e.rule,
            json!({ "message": e.message }),
        );
        (e, Some(Box::new(draft)))
    };
    if let Err(r) = gsomia_core::permit(user, gsomia_core::Action::Publish) {
        return Err(deny(ApiError::refused(&r)));
    }
    // H1: an item id belongs to its originator; this node publishes none under another's.
    if let Some(e) = owned_by_another(node, item.id()).map_err(|e| (e, None))? {
        return Err(deny(e));
    }
    let party = node.party();
    if rank(world, party, user.clearance.as_str()) < rank(world, party, item.label().level.as_str())
    {
        return Err(deny(ApiError::forbidden(
            gsomia_core::Rule::P1,
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
    let released = apply_release_rules(node, world, &stored, &bound, &mut writes, &mut audit);
    let plan = PublishPlan {
        id: item.id().to_owned(),
        version: stored.modified.clone(),
        binding: stored.binding.clone(),
        released,
        audit,
        writes: vec![],
        document: super::search::document(&stored, bound.object()),
    };
    // The node's marking is kept for serving by id when the object names it (published through
    // the JSON API); an object posted through TAXII names the marking it came with.
    let ours = super::marking::marking_id(&stored);
    let named = bound.object()["object_marking_refs"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| *r == ours.as_str()));
    if named {
        writes.insert(0, super::marking::write_as(&stored, &ours));
    }
    writes.insert(0, Write::PutItem(Box::new(stored)));
    Ok(PublishPlan { writes, ..plan })
}

/// Publishes one item of this node's (the JSON API): the object names the node's marking
/// ([`super::marking::name_own`]). Answers the item's id and version, its number, the binding
/// signed for it, and the standing rules that released it.
pub async fn publish(
    node: &Node,
    user: &User,
    label: Label,
    mut object: Value,
) -> Result<Value, ApiError> {
    super::marking::name_own(node, &mut object);
    let world = node.world();
    let plan = match plan_publish(node, &world, user, label, object) {
        Ok(plan) => plan,
        Err((e, Some(draft))) => return Err(audited(node, e, *draft).await),
        Err((e, None)) => return Err(e),
    };
    let batch = Batch {
        writes: plan.writes,
        audit: plan.audit,
    };
    let committed = node.write_indexed(batch, vec![plan.document]).await?;
    Ok(json!({
        "id": plan.id, "version": plan.version, "seq": committed.items.first(),
        "binding": plan.binding, "released": plan.released,
    }))
}

/// Items a batch publication takes at most.
pub const BATCH_MAX: usize = 1000;

/// Publishes many items of this node's in one commit (`POST /api/v1/items/batch`): the
/// publishing role asked once, before anything (refused and audited as one decision); then
/// each item decided, bound, sealed and audited as [`publish`] does it, the refusals of some
/// not keeping the others out. What became of each, in order: `{"id", "created": true}` or
/// `{"id", "created": false, "error"}`.
pub async fn publish_batch(
    node: &Node,
    user: &User,
    items: Vec<(Label, Value)>,
) -> Result<Value, ApiError> {
    permit(
        node,
        user,
        gsomia_core::Action::Publish,
        "item.publish_batch",
        "items",
    )
    .await?;
    if items.is_empty() || items.len() > BATCH_MAX {
        return Err(ApiError::unprocessable(format!(
            "items: a batch holds 1 to {BATCH_MAX} items, not {}",
            items.len()
        )));
    }
    let items: Vec<(Label, Value)> = items
        .into_iter()
        .map(|(label, mut object)| {
            super::marking::name_own(node, &mut object);
            (label, object)
        })
        .collect();
    let ids: Vec<Value> = items.iter().map(|(_, o)| o["id"].clone()).collect();
    let (_, outcomes) = publish_many(node, user, &[], items).await?;
    let created = outcomes.iter().filter(|o| o.is_ok()).count();
    let results: Vec<Value> = ids
        .into_iter()
        .zip(outcomes)
        .map(|(id, o)| match o {
            Ok(()) => json!({ "id": id, "created": true }),
            Err(e) => json!({ "id": id, "created": false, "error": e }),
        })
        .collect();
    Ok(json!({ "created": created, "refused": results.len() - created, "items": results }))
}

/// Derives a new item (a copy, translation or extract) from items `user` may read (P4): it
/// takes the highest level, every caveat and every originator of its sources. A source the
/// caller may not read is answered as one that does not exist (H8).
pub async fn derive(
    node: &Node,
    user: &User,
    sources: &[(String, Option<String>)],
    mut object: Value,
    purpose: Tag,
) -> Result<Value, ApiError> {
    let action = "item.derive";
    super::marking::name_own(node, &mut object);
    if sources.is_empty() {
        return Err(ApiError::unprocessable(
            "sources: a derived item needs at least one source",
        ));
    }
    let subject = object
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("-")
        .to_owned();
    permit(node, user, Action::Derive, action, &subject).await?;
    let world = node.world();
    let mut read = Vec::new();
    for (id, version) in sources {
        let (stored, _) = readable(node, user, action, id, version.as_deref()).await?;
        let Some(item) = unseal(node, &stored)? else {
            let e = ApiError::forbidden(
                gsomia_core::Rule::P5,
                format!("source `{id}` was destroyed"),
            );
            return Err(refuse(node, user, action, &subject, e).await);
        };
        read.push(item);
    }
    let scheme = world
        .scheme(node.party())
        .ok_or_else(|| internal("the node's own scheme is missing"))?;
    let created = node.now_text().parse().map_err(internal)?;
    let refs: Vec<&Item> = read.iter().collect();
    let label = gsomia_core::derive(scheme, &refs, purpose, created)
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let file = ItemFile {
        label,
        object,
        marking: None,
        custody: vec![],
        binding: None,
    };
    let item = Item::new(file).map_err(invalid)?;
    if read.iter().any(|s| s.id() == item.id()) {
        return Err(ApiError::unprocessable(
            "object.id: a derived item needs an id of its own",
        ));
    }
    if let Some(e) = owned_by_another(node, item.id())? {
        return Err(refuse(node, user, action, item.id(), e).await);
    }
    let (stored, _) = sign_and_seal(node, &item)?;
    let ids: Vec<&ItemId> = read.iter().map(Item::id).collect();
    let detail = json!({ "version": stored.modified, "level": item.label().level, "sources": ids });
    let draft = entry(
        node,
        &user.id,
        action,
        item.id(),
        Verdict::Allow,
        Some(Rule::P4),
        detail,
    );
    let label = item.label().clone();
    let modified = stored.modified.clone();
    node.write(Batch {
        writes: vec![
            super::marking::write(&stored),
            Write::PutItem(Box::new(stored)),
        ],
        audit: vec![draft],
    })
    .await?;
    Ok(json!({ "id": item.id(), "version": modified, "label": label }))
}

/// H1: the refusal of a new item of this node's under an id held from another originator.
fn owned_by_another(node: &Node, id: &ItemId) -> Result<Option<ApiError>, ApiError> {
    Ok(node
        .store()
        .item(id, None)?
        .filter(|held| held.label.originator != node.party())
        .map(|held| ApiError {
            status: axum::http::StatusCode::CONFLICT,
            code: "conflict",
            message: format!(
                "`{id}` is held here as an item of {}: an item id belongs to its originator",
                held.label.originator
            ),
            rule: Some(gsomia_core::Rule::H1),
        }))
}

/// An item version `user` may read, with the marking it is read under, decided on the label
/// before anything is decrypted. A missing item and one the caller may not read get the same
/// answer (404), after the same work (one audit entry each), so that neither the answer nor
/// its time tells them apart (H8); the audit entry names the real rule for the officers.
pub async fn readable(
    node: &Node,
    user: &User,
    action: &str,
    id: &str,
    version: Option<&str>,
) -> Result<(StoredItem, Marking), ApiError> {
    let missing = || ApiError::not_found(format!("no item `{id}`"));
    let stored = stored(node, id, version)?;
    let decision = stored.as_ref().map(|s| read_decision(node, user, s));
    let refusal = match (stored, decision) {
        (Some(s), Some(Decision::Allow(access))) => return Ok((s, access.marking)),
        (_, Some(Decision::Deny(r))) => Some(r),
        _ => None,
    };
    Err(audited(node, missing(), unseen(node, user, action, id, refusal)).await)
}

/// Whether `user` may read a stored version today, decided on its clear label and this node's
/// marking (nothing decrypted).
pub fn read_decision(node: &Node, user: &User, s: &StoredItem) -> Decision<gsomia_core::Access> {
    gsomia_core::read_label(
        &node.world(),
        &s.id,
        &s.label,
        s.marking.as_ref(),
        user,
        node.today(),
    )
}

/// The audit entry of a read that showed nothing: refused under `refusal`'s rule, or asked for
/// an item that does not exist.
fn unseen(
    node: &Node,
    user: &User,
    action: &str,
    id: &str,
    refusal: Option<gsomia_core::Refusal>,
) -> AuditDraft {
    let (rule, message) = match refusal {
        Some(r) => (Some(r.rule), r.message),
        None => (None, "no such item".to_owned()),
    };
    let detail = json!({ "message": message });
    entry(node, &user.id, action, id, Verdict::Deny, rule, detail)
}

/// Reads one item for `user` (P1, P2, M2, H8): the stored version, the item decrypted, and the
/// marking it is read under; the read is audited, naming the interface it came through.
pub async fn read(
    node: &Node,
    user: &User,
    id: &str,
    version: Option<&str>,
    via: &str,
) -> Result<(StoredItem, Item, Marking), ApiError> {
    let action = "item.read";
    let (stored, marking) = readable(node, user, action, id, version).await?;
    let Some(item) = unseal(node, &stored)? else {
        let e = ApiError {
            status: axum::http::StatusCode::GONE,
            code: "destroyed",
            message: format!(
                "item `{id}` was destroyed on {}",
                stored.destroyed.clone().unwrap_or_default()
            ),
            rule: Some(gsomia_core::Rule::P5),
        };
        return Err(refuse(node, user, action, id, e).await);
    };
    let draft = entry(
        node,
        &user.id,
        action,
        id,
        Verdict::Allow,
        None,
        json!({ "version": stored.modified, "via": via }),
    );
    node.write(Batch {
        writes: vec![],
        audit: vec![draft],
    })
    .await?;
    Ok((stored, item, marking))
}

/// What to list: after which item number, how many, and which type, topic and originator.
#[derive(Debug, Default)]
pub struct ListFilter {
    /// The item number to go on after.
    pub after: Option<i64>,
    /// At most this many (1 to 1,000; 100 when absent).
    pub limit: Option<usize>,
    /// STIX type.
    pub stix_type: Option<String>,
    /// A topic of the label.
    pub topic: Option<String>,
    /// The originator.
    pub originator: Option<String>,
    /// The level (in this node's scheme) the user reads it at.
    pub level: Option<String>,
    /// Added on or after this day.
    pub since: Option<gsomia_core::Date>,
    /// Added on or before this day.
    pub until: Option<gsomia_core::Date>,
}

/// What `user` may read, in the order it was added, and the cursor to go on from. Items the
/// caller may not read are left out (default deny), decided on their labels before anything
/// is decrypted; at most ten pages of rows are looked at per request. The reads are recorded
/// as [`record_reads`] records them.
pub async fn list(node: &Node, user: &User, q: &ListFilter) -> Result<Value, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let world = node.world();
    let today = node.today();
    let mut cursor = q.after.unwrap_or(0);
    let mut out = Vec::new();
    let mut returned = Vec::new();
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
                    .is_none_or(|o| s.label.originator.as_str() == o)
                && added_within(&s.added, q.since, q.until);
            if !wanted {
                continue;
            }
            let decision =
                gsomia_core::read_label(&world, &s.id, &s.label, s.marking.as_ref(), user, today);
            let Decision::Allow(access) = decision else {
                continue;
            };
            if q.level
                .as_ref()
                .is_some_and(|l| access.marking.level.as_str() != l)
            {
                continue;
            }
            if let Some(item) = unseal(node, &s)? {
                out.push(item_json(&s, &item, &access.marking));
                returned.push(s);
                if out.len() == limit {
                    break 'scan;
                }
            }
        }
    }
    let read: Vec<&StoredItem> = returned.iter().collect();
    record_reads(node, user, "item.list", "items", json!({}), &read).await?;
    Ok(json!({ "items": out, "next": cursor }))
}

/// Whether an item added at `added` (RFC 3339) falls within the days `since` and `until`.
fn added_within(
    added: &str,
    since: Option<gsomia_core::Date>,
    until: Option<gsomia_core::Date>,
) -> bool {
    let day = added.get(..10).unwrap_or(added);
    since.is_none_or(|d| day >= d.to_string().as_str())
        && until.is_none_or(|d| day <= d.to_string().as_str())
}

/// Where an item went, for those who decide its releases (R7: authorities and security
/// officers): the signed receipts partners returned for it, and the originator's consents about
/// it held here. The caller has read the item (audited) before it is shown this.
pub async fn distribution(node: &Node, user: &User, id: &str) -> Result<Value, ApiError> {
    permit(node, user, Action::Release, "item.distribution", id).await?;
    let receipts = node.store().receipts(&super::item_id(id)?)?;
    let world = node.world();
    let consents: Vec<&gsomia_core::Consent> = world
        .consents()
        .iter()
        .filter(|c| c.item.as_ref().is_some_and(|i| i == id))
        .collect();
    Ok(json!({ "receipts": receipts, "consents": consents }))
}

/// Releases an item to a party: an authority or security officer (R7, asked before anything
/// is looked up, H8), a binding that verifies (R6), R1–R5 today; then the durable outbox.
pub async fn release(node: &Node, user: &User, id: &str, to: PartyCode) -> Result<Value, ApiError> {
    decide_release_for(node, user, id, to, true).await
}

/// What releasing an item to `to` would decide today, without releasing it: the same checks
/// as [`release`], recorded as `item.release_preview` (the preview is a decision too). `Ok`
/// with the agreement and the marking `to` would give it, or the refusal naming its rule.
pub async fn release_preview(
    node: &Node,
    user: &User,
    id: &str,
    to: PartyCode,
) -> Result<Value, ApiError> {
    decide_release_for(node, user, id, to, false).await
}

/// [`release`] when `send`, else [`release_preview`].
async fn decide_release_for(
    node: &Node,
    user: &User,
    id: &str,
    to: PartyCode,
    send: bool,
) -> Result<Value, ApiError> {
    let action = if send {
        "item.release"
    } else {
        "item.release_preview"
    };
    permit(node, user, Action::Release, action, id).await?;
    let world = node.world();
    if world.scheme(to).is_none() {
        return Err(ApiError::unprocessable(format!("to: unknown party `{to}`")));
    }
    let Some(stored) = node.store().item(&super::item_id(id)?, None)? else {
        return Err(ApiError::not_found(format!("no item `{id}`")));
    };
    let Some(item) = unseal(node, &stored)? else {
        let e = ApiError::forbidden(gsomia_core::Rule::P5, format!("item `{id}` was destroyed"));
        return Err(refuse(node, user, action, id, e).await);
    };
    match decide_release(node, &world, &item, to) {
        Ok((agreement, marking)) => {
            let detail = json!({ "to": to, "agreement": agreement, "marking": marking });
            let draft = entry(node, &user.id, action, id, Verdict::Allow, None, detail);
            let writes = if send {
                vec![outbox_item(node, &stored, &agreement, &marking)]
            } else {
                vec![]
            };
            node.write(Batch {
                writes,
                audit: vec![draft],
            })
            .await?;
            Ok(json!({ "decision": "allow", "agreement": agreement, "marking": marking }))
        }
        Err(e) => Err(refuse(node, user, action, id, e).await),
    }
}

/// Destroys a version of an item (the newest when `version` is absent), for an authority or
/// security officer (P5, asked before anything is looked up, H8). The signed certificate.
pub async fn destroy_one(
    node: &Node,
    user: &User,
    id: &str,
    version: Option<&str>,
    reason: &str,
    via: &str,
) -> Result<Value, ApiError> {
    end_one(node, user, id, version, reason, via, Ending::Destroyed).await
}

/// Returns an item version this node holds to its originator (P8): the holder's copy ends as
/// by destruction, and the signed return certificate always goes to the originator, who
/// records it.
pub async fn return_one(
    node: &Node,
    user: &User,
    id: &str,
    version: Option<&str>,
    reason: &str,
) -> Result<Value, ApiError> {
    end_one(node, user, id, version, reason, "api", Ending::Returned).await
}

async fn end_one(
    node: &Node,
    user: &User,
    id: &str,
    version: Option<&str>,
    reason: &str,
    via: &str,
    ending: Ending,
) -> Result<Value, ApiError> {
    permit(node, user, Action::Destroy, ending.action(), id).await?;
    let Some(stored) = node.store().item(&super::item_id(id)?, version)? else {
        return Err(ApiError::not_found(format!("no item `{id}`")));
    };
    if stored.destroyed.is_some() {
        return Err(ApiError::new(
            axum::http::StatusCode::GONE,
            "destroyed",
            format!("item `{id}` is already destroyed or returned"),
        ));
    }
    if ending == Ending::Returned && stored.label.originator == node.party() {
        return Err(ApiError::unprocessable(format!(
            "item `{id}` is {}'s own: an originator destroys its items, it does not return them",
            node.party()
        )));
    }
    let mut certificates = end(node, user, &[stored], reason, via, ending).await?;
    certificates
        .pop()
        .ok_or_else(|| internal("a destruction without a certificate"))
}

/// How a holder's copy ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Destroyed (P5).
    Destroyed,
    /// Returned to its originator (P8).
    Returned,
}

impl Ending {
    fn action(self) -> &'static str {
        match self {
            Ending::Destroyed => "item.destroy",
            Ending::Returned => "item.return",
        }
    }
}

/// Destroys item versions (P5) for a user already permitted to: their keys and content are
/// deleted (crypto-shredding), a signed destruction certificate for each is kept in the audit
/// log and, where the agreement it came under says so, sent to the originator. REST and TAXII
/// DELETE both come here. The certificates, in order.
pub async fn destroy(
    node: &Node,
    user: &User,
    versions: &[StoredItem],
    reason: &str,
    via: &str,
) -> Result<Vec<Value>, ApiError> {
    end(node, user, versions, reason, via, Ending::Destroyed).await
}

/// Ends this node's copies of item versions, destroyed (P5) or returned (P8: as destruction
/// here, and the certificate, of kind `return`, always goes to the originator).
async fn end(
    node: &Node,
    user: &User,
    versions: &[StoredItem],
    reason: &str,
    via: &str,
    ending: Ending,
) -> Result<Vec<Value>, ApiError> {
    let action = ending.action();
    let (when, kind, rule) = match ending {
        Ending::Destroyed => ("destroyed", "destruction", Rule::P5),
        Ending::Returned => ("returned", "return", Rule::P8),
    };
    let world = node.world();
    let mut writes = vec![];
    let mut audit = vec![];
    let mut out = vec![];
    for stored in versions {
        let id = &stored.id;
        let at = node.now_text();
        let mut certificate = json!({
            "item": id, "version": stored.modified, "originator": stored.label.originator,
            "holder": node.party(), "by": user.id, "reason": reason,
        });
        certificate[when] = at.clone().into();
        let signature = gsomia_crypto::statement::sign(&node.keys().signing, kind, &certificate);
        writes.push(Write::DestroyItem {
            id: id.clone(),
            modified: stored.modified.clone(),
            at,
        });
        let report = stored.label.originator != node.party()
            && (ending == Ending::Returned
                || stored
                    .custody
                    .last()
                    .and_then(|hop| world.agreement(hop.agreement.as_str()))
                    .is_some_and(|a| a.terms().report_destruction));
        if report {
            writes.push(Write::Enqueue {
                peer: stored.label.originator,
                kind: kind.into(),
                payload: json!({ "certificate": certificate, "signature": signature }),
                at: node.now_text(),
            });
        }
        let detail = json!({ "certificate": certificate, "signature": signature, "reported": report, "via": via });
        audit.push(entry(
            node,
            &user.id,
            action,
            id,
            Verdict::Allow,
            Some(rule),
            detail,
        ));
        out.push(json!({ "certificate": certificate, "signature": signature, "reported_to_originator": report }));
    }
    node.write(Batch { writes, audit }).await?;
    Ok(out)
}

/// Adds a standing release rule (R7), by an authority or security officer.
pub async fn add_release_rule(
    node: &Node,
    user: &User,
    to: PartyCode,
    topics: Vec<Tag>,
    max_level: LevelId,
) -> Result<ReleaseRule, ApiError> {
    let action = "release_rule.add";
    permit(node, user, Action::ReleaseRules, action, to.as_str()).await?;
    let world = node.world();
    if world.scheme(to).is_none() || to == node.party() {
        return Err(ApiError::unprocessable(format!(
            "to: `{to}` is not a partner of this node"
        )));
    }
    if topics.is_empty() {
        return Err(ApiError::unprocessable(
            "topics: a standing rule names at least one topic",
        ));
    }
    super::own_level(node, "max_level", &max_level)?;
    let topics: BTreeSet<Tag> = topics.into_iter().collect();
    let rule = ReleaseRule {
        id: 0,
        to,
        topics: topics.into_iter().collect(),
        max_level,
        created_by: user.id.clone(),
        created: node.now_text(),
    };
    let draft = entry(
        node,
        &user.id,
        action,
        to.as_str(),
        Verdict::Allow,
        Some(Rule::R7),
        json!({ "rule": rule }),
    );
    let committed = node
        .write(Batch {
            writes: vec![Write::AddReleaseRule(rule.clone())],
            audit: vec![draft],
        })
        .await?;
    let id = committed.ids.first().copied().unwrap_or_default();
    Ok(ReleaseRule { id, ..rule })
}

/// The standing release rules, for authorities and security officers (R7).
pub async fn release_rules(node: &Node, user: &User) -> Result<Vec<ReleaseRule>, ApiError> {
    permit(
        node,
        user,
        Action::ReleaseRules,
        "release_rule.list",
        "rules",
    )
    .await?;
    Ok(node.release_rules().to_vec())
}

/// What became of one object of [`publish_many`]: stored, or why not.
pub type Outcome = Result<(), String>;

/// Publishes many objects for `user` in one commit (TAXII POST): each is decided as
/// [`publish`] decides it, a version already stored or given twice is refused, and
/// `markings` (marking-definitions that came with them) are kept; a marking-definition is
/// never versioned, so another under a stored id is refused. Every decision is audited, the
/// refusals too. If the commit fails as a whole (a version stored meanwhile), each item is
/// committed alone, so that the others still land. The outcome of each marking, then of each
/// object, in order.
pub async fn publish_many(
    node: &Node,
    user: &User,
    markings: &[Value],
    objects: Vec<(Label, Value)>,
) -> Result<(Vec<Outcome>, Vec<Outcome>), ApiError> {
    let world = node.world();
    let mut writes = vec![];
    let mut audit: Vec<AuditDraft> = vec![];
    let mut kept = vec![];
    for m in markings {
        let id = m["id"].as_str().unwrap_or_default();
        kept.push(match super::marking::posted(node, id)? {
            Some(known) if known != *m => Err(format!(
                "another marking-definition `{id}` is stored; marking definitions are not versioned"
            )),
            Some(_) => Ok(()),
            None => {
                writes.push(super::marking::keep_posted(id, m));
                Ok(())
            }
        });
    }
    let mut outcomes: Vec<(String, Outcome)> = vec![];
    let mut documents = vec![];
    let mut in_envelope = std::collections::HashSet::new();
    for (label, object) in objects {
        let id = object["id"].as_str().unwrap_or_default().to_owned();
        let version = gsomia_core::version_of(&object).to_owned();
        // What is not a STIX id is refused by `plan_publish`, naming the field.
        if stored(node, &id, Some(&version))?.is_some()
            || !in_envelope.insert((id.clone(), version.clone()))
        {
            let refused = Err(format!("`{id}` version `{version}` is already stored"));
            outcomes.push((id, refused));
            continue;
        }
        match plan_publish(node, &world, user, label, object) {
            Ok(plan) => {
                outcomes.push((id, Ok(())));
                writes.extend(plan.writes);
                audit.extend(plan.audit);
                documents.push(plan.document);
            }
            Err((e, draft)) => {
                let message = match e.rule {
                    Some(r) => format!("{} (rule {r})", e.message),
                    None => e.message,
                };
                outcomes.push((id, Err(message)));
                audit.extend(draft.map(|d| *d));
            }
        }
    }
    let batch = Batch {
        writes: writes.clone(),
        audit: audit.clone(),
    };
    if node.write_indexed(batch, documents).await.is_ok() {
        return Ok((kept, outcomes.into_iter().map(|(_, o)| o).collect()));
    }
    // One by one: the markings, the refusals' entries, then each item with what follows it.
    let (mut items, mut others) = (vec![], vec![]);
    for w in writes {
        match w {
            Write::SetMeta { .. } if items.is_empty() => others.push(w),
            w => items.push(w),
        }
    }
    let mut groups: Vec<Vec<Write>> = vec![];
    for w in items {
        if matches!(w, Write::PutItem(_)) || groups.is_empty() {
            groups.push(vec![]);
        }
        if let Some(g) = groups.last_mut() {
            g.push(w);
        }
    }
    let stored: std::collections::HashSet<ItemId> = groups
        .iter()
        .filter_map(|g| match g.first() {
            Some(Write::PutItem(item)) => Some(item.id.clone()),
            _ => None,
        })
        .collect();
    let refusals: Vec<AuditDraft> = audit
        .iter()
        .filter(|d| !stored.contains(d.subject.as_str()))
        .cloned()
        .collect();
    node.write(Batch {
        writes: others,
        audit: refusals,
    })
    .await?;
    let mut failed = std::collections::HashMap::new();
    for g in groups {
        let Some(Write::PutItem(item)) = g.first() else {
            continue;
        };
        let id = item.id.clone();
        let mine: Vec<AuditDraft> = audit
            .iter()
            .filter(|d| id == d.subject.as_str())
            .cloned()
            .collect();
        if let Err(e) = node
            .write(Batch {
                writes: g,
                audit: mine,
            })
            .await
        {
            failed.insert(id, e.message);
        }
    }
    let outcomes = outcomes
        .into_iter()
        .map(|(id, o)| match failed.remove(id.as_str()) {
            Some(message) if o.is_ok() => Err(message),
            _ => o,
        })
        .collect();
    Ok((kept, outcomes))
}

/// Records what a listing returned (P7): one entry for the request, naming what it returned,
/// and one `item.read` entry per partner's item, so that its originator finds the read in the
/// custody record it asks this node for.
pub async fn record_reads(
    node: &Node,
    user: &User,
    action: &str,
    subject: &str,
    detail: Value,
    returned: &[&StoredItem],
) -> Result<(), ApiError> {
    submit_reads(node, user, action, subject, detail, returned)
        .committed()
        .await?;
    Ok(())
}

/// [`record_reads`], handed to the writer: the caller prepares its answer while the entry is
/// committed, and answers only once [`crate::node::Submitted::committed`] says it is (P7).
pub fn submit_reads<'a>(
    node: &'a Node,
    user: &User,
    action: &str,
    subject: &str,
    mut detail: Value,
    returned: &[&StoredItem],
) -> crate::node::Submitted<'a> {
    detail["returned"] = returned.iter().map(|s| json!([s.id, s.modified])).collect();
    let mut audit = vec![entry(
        node,
        &user.id,
        action,
        subject,
        Verdict::Allow,
        None,
        detail,
    )];
    for s in returned
        .iter()
        .filter(|s| s.label.originator != node.party())
    {
        audit.push(entry(
            node,
            &user.id,
            "item.read",
            &s.id,
            Verdict::Allow,
            None,
            json!({ "version": s.modified, "via": action }),
        ));
    }
    node.submit(Batch {
        writes: vec![],
        audit,
    })
}

/// Records reads of item versions by id (P7): one `item.read` entry each, as [`read`] makes,
/// naming the interface.
pub async fn record_item_reads(
    node: &Node,
    user: &User,
    read: &[&StoredItem],
    via: &str,
) -> Result<(), ApiError> {
    submit_item_reads(node, user, read, via).committed().await?;
    Ok(())
}

/// [`record_item_reads`], handed to the writer (see [`submit_reads`]).
pub fn submit_item_reads<'a>(
    node: &'a Node,
    user: &User,
    read: &[&StoredItem],
    via: &str,
) -> crate::node::Submitted<'a> {
    let audit = read
        .iter()
        .map(|s| {
            let detail = json!({ "version": s.modified, "via": via });
            entry(
                node,
                &user.id,
                "item.read",
                &s.id,
                Verdict::Allow,
                None,
                detail,
            )
        })
        .collect();
    node.submit(Batch {
        writes: vec![],
        audit,
    })
}

/// Records that `user` asked for item `id` and saw nothing: refused under the rule of the first
/// of `held` (its versions) they may not read, or because there is none. Either way one entry,
/// so that a missing item and an unreadable one cost the same (H8).
pub async fn record_unseen(
    node: &Node,
    user: &User,
    action: &str,
    id: &str,
    held: &[StoredItem],
) -> Result<(), ApiError> {
    let world = node.world();
    let refusal = held.iter().find_map(|s| {
        gsomia_core::read_label(
            &world,
            &s.id,
            &s.label,
            s.marking.as_ref(),
            user,
            node.today(),
        )
        .refusal()
        .cloned()
    });
    let draft = unseen(node, user, action, id, refusal);
    node.write(Batch {
        writes: vec![],
        audit: vec![draft],
    })
    .await?;
    Ok(())
}

/// The stored version `version` of `id` (the newest when `None`); none when `id` is not a
/// STIX id: text from a caller or a partner that names no item is answered as one this node
/// does not hold.
pub fn stored(
    node: &Node,
    id: &str,
    version: Option<&str>,
) -> Result<Option<StoredItem>, gsomia_store::StoreError> {
    match id.parse::<ItemId>() {
        Ok(id) => node.store().item(&id, version),
        Err(_) => Ok(None),
    }
}

/// Every stored version of `id`; none when it is not a STIX id (it names no item).
pub fn versions(node: &Node, id: &str) -> Result<Vec<StoredItem>, gsomia_store::StoreError> {
    match id.parse::<ItemId>() {
        Ok(id) => node.store().versions(&id),
        Err(_) => Ok(vec![]),
    }
}

/// The parties this node released an item to: those whose receipts it holds.
pub fn released_to(node: &Node, id: &ItemId) -> Result<Vec<PartyCode>, gsomia_store::StoreError> {
    let mut parties: Vec<PartyCode> = node
        .store()
        .receipts(id)?
        .iter()
        .map(|r| r.receipt.party)
        .collect();
    parties.sort();
    parties.dedup();
    Ok(parties)
}
