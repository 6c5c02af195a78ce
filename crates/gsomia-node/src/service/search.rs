//! Search (the index is `crate::search`): what a user may read that matches a query, and the
//! items related to one (the same observable value, from any originator). The index says what
//! matches; the read decision on each item's label says what the user sees (P1, P2, M2), as for
//! a listing, and the items shown are recorded as read in one audit entry.

use std::sync::Weak;

use axum::http::StatusCode;
use gsomia_core::{Decision, User, UserKind};
use gsomia_store::{Batch, StoredItem, Verdict, Write};
use serde_json::{Value, json};

use super::items::{read_decision, unseal_object};
use crate::error::ApiError;
use crate::node::{Node, entry};
use crate::search::{Found, Prepared, Query, field, observables, prepare};

/// At most this many results in one answer.
pub const MAX_LIMIT: usize = 200;

/// A stored version made ready for the index, if its content is still held.
fn prepared(node: &Node, s: &StoredItem) -> Option<Prepared> {
    let object = unseal_object(node, s).ok()??;
    Some(document(s, &object))
}

/// The index's document of a version about to be stored, made from its object in clear by
/// the code that sealed it ([`crate::node::Node::submit_indexed`]), so that it is not
/// decrypted again to be indexed.
pub fn document(s: &StoredItem, object: &Value) -> Prepared {
    prepare(
        &s.id,
        &s.modified,
        &s.label,
        s.marking.as_ref(),
        &s.stix_type,
        object,
    )
}

/// What a batch will change in the index, prepared before it is committed (the costly part,
/// outside the index's lock).
pub struct Pending {
    put: Vec<Prepared>,
    relabel: Vec<(
        String,
        Box<gsomia_core::Label>,
        Option<gsomia_core::Marking>,
    )>,
    refresh: Vec<String>,
}

/// [`Pending`] for a batch's writes; `known` are documents the caller made from the objects in
/// clear ([`document`]), used in place of decrypting those versions.
pub fn before_commit(node: &Node, writes: &[Write], known: Vec<Prepared>) -> Pending {
    let mut p = Pending {
        put: vec![],
        relabel: vec![],
        refresh: vec![],
    };
    let puts: Vec<&StoredItem> = writes
        .iter()
        .filter_map(|w| match w {
            Write::PutItem(s) => Some(&**s),
            _ => None,
        })
        .collect();
    // The documents of the others are made on their own (unsealed, their terms found): spread
    // over the cores for a batch of many.
    let mut known = std::collections::VecDeque::from(known);
    let missing: Vec<&StoredItem> = puts
        .iter()
        .filter(|s| !known.iter().any(|d| d.is_of(&s.id, &s.modified)))
        .copied()
        .collect();
    let mut unsealed = crate::node::par_map(&missing, |s| prepared(node, s)).into_iter();
    // In the batch's order: a later version of an item replaces an earlier one in the index.
    for s in puts {
        let doc = match known.iter().position(|d| d.is_of(&s.id, &s.modified)) {
            Some(at) => known.remove(at),
            None => unsealed.next().flatten(),
        };
        p.put.extend(doc);
    }
    for w in writes {
        match w {
            Write::Reclassify {
                id, label, marking, ..
            } => p
                .relabel
                .push((id.to_string(), label.clone(), marking.clone())),
            Write::DestroyItem { id, .. } => p.refresh.push(id.to_string()),
            _ => {}
        }
    }
    p
}

/// Applies a committed batch's [`Pending`] changes to the index. A destroyed version's item is
/// read again from the store: its newest version still held becomes its document, and what the
/// destroyed one had is swept out now (P5).
pub fn after_commit(node: &Node, pending: Pending) {
    for p in pending.put {
        node.index.put(p);
    }
    for (id, label, marking) in pending.relabel {
        node.index.relabel(&id, &label, marking.as_ref());
    }
    if !pending.refresh.is_empty() {
        let items = pending
            .refresh
            .into_iter()
            .map(|id| {
                let latest = newest(node, &id);
                (id, latest)
            })
            .collect();
        node.index.refresh(items);
    }
}

/// The newest version of `id` still held, prepared for the index.
fn newest(node: &Node, id: &str) -> Option<Prepared> {
    match super::items::versions(node, id) {
        Ok(versions) => versions.iter().rev().find_map(|s| prepared(node, s)),
        Err(e) => {
            tracing::warn!(%id, "search index: the item's versions could not be read: {e}");
            None
        }
    }
}

/// Rebuilds the index from every stored version (`Node::start_index`: when the node serves, or
/// at the first search; run on a thread of its own). Pages of 1,024 versions are decrypted and split into terms on two threads; it stops
/// when the node is gone.
pub fn rebuild(node: &Weak<Node>) {
    let started = std::time::Instant::now();
    let counts = node.upgrade().and_then(|n| n.store().counts().ok());
    let total = counts.as_ref().map_or(0, |c| c.items);
    if let (Some(n), Some(c)) = (node.upgrade(), &counts) {
        // What other processes change after this is followed through the audit log.
        n.index.set_followed(c.audit);
    }
    if let Some(n) = node.upgrade() {
        n.index.rebuild_started(total);
    }
    let mut cursor = 0;
    let mut read = 0;
    loop {
        let Some(n) = node.upgrade() else { return };
        let page = match n.store().items_after(cursor, 1024) {
            Ok(p) => p,
            Err(e) => {
                // A closed store (the node stopping) or a broken one: the index stays not
                // ready, and search says so.
                tracing::warn!("search index: the rebuild stopped: {e}");
                return;
            }
        };
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        read += page.len() as u64;
        let (a, b) = page.split_at(page.len() / 2);
        let docs = std::thread::scope(|s| {
            let other = s.spawn(|| a.iter().filter_map(|x| prepared(&n, x)).collect::<Vec<_>>());
            let mut mine: Vec<_> = b.iter().filter_map(|x| prepared(&n, x)).collect();
            let mut docs = other.join().unwrap_or_default();
            docs.append(&mut mine);
            docs
        });
        n.index.rebuilt(docs, read);
    }
    let Some(n) = node.upgrade() else { return };
    let touched = n
        .index
        .rebuild_done()
        .into_iter()
        .map(|id| {
            let latest = newest(&n, &id);
            (id, latest)
        })
        .collect();
    n.index.refresh(touched);
    let (items, terms) = n.index.size();
    tracing::info!(
        items,
        terms,
        versions = read,
        "search index built in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let shared = crate::data::database_url(&n.config).is_some();
    drop(n);
    // Several processes may share a PostgreSQL store: each follows the others' changes.
    if !shared {
        return;
    }
    loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let Some(n) = node.upgrade() else { return };
        if !n.store().is_open() {
            return;
        }
        if let Err(e) = follow(&n) {
            tracing::warn!("search index: following the log: {e}");
        }
    }
}

/// Actions whose audit entry means an item's stored versions changed.
const ITEM_CHANGES: [&str; 6] = [
    "item.publish",
    "item.derive",
    "item.receive",
    "item.destroy",
    "item.reclassify",
    "item.reclassify.received",
];

/// Brings the index up to date with what any process sharing the store changed since the
/// audit entry last followed: the items those entries name are read again (a change and its
/// entry commit together, so the log names every change). A destroyed version's words are swept
/// out here too (P5), in every process.
pub fn follow(node: &Node) -> Result<(), gsomia_store::StoreError> {
    loop {
        let after = node.index.followed();
        let entries = node.store().audit_after(after, 1024)?;
        let Some(last) = entries.last().map(|e| e.seq) else {
            return Ok(());
        };
        let mut changed = std::collections::BTreeSet::<String>::new();
        let mut destroyed = std::collections::BTreeSet::<String>::new();
        for e in &entries {
            let Some(d) = e.parse() else { continue };
            if d.decision == Verdict::Deny || !ITEM_CHANGES.contains(&d.action.as_str()) {
                continue;
            }
            if d.action == "item.destroy" {
                destroyed.insert(d.subject);
            } else {
                changed.insert(d.subject);
            }
        }
        for id in changed.difference(&destroyed) {
            let held = super::items::versions(node, id)?;
            let Some(latest) = held.iter().rev().find(|s| s.content.is_some()) else {
                continue;
            };
            if node.index.version_of(id).as_deref() == Some(latest.modified.as_str()) {
                // Indexed already (this process's own write, or a relabelling): the label only.
                node.index
                    .relabel(id, &latest.label, latest.marking.as_ref());
            } else if let Some(p) = prepared(node, latest) {
                node.index.put(p);
            }
        }
        if !destroyed.is_empty() {
            let items = destroyed
                .into_iter()
                .map(|id| {
                    let latest = newest(node, &id);
                    (id, latest)
                })
                .collect();
            node.index.refresh(items);
        }
        node.index.set_followed(last);
    }
}

/// The 503 of a search while the index is being built.
fn not_ready(done: u64, total: u64) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "indexing",
        format!(
            "the search index is being built ({done} of {total} item versions read since the \
             node started); try again shortly"
        ),
    )
}

/// Items `user` may read that match `text` (see `crate::search::Query::parse`), newest first,
/// at most `limit` (1 to 200, 50 when absent), each with the fields that matched and its
/// related items. One audit entry records the query and what it returned.
pub async fn search(
    node: &Node,
    user: &User,
    text: &str,
    limit: Option<usize>,
) -> Result<Value, ApiError> {
    let limit = limit.unwrap_or(50).clamp(1, MAX_LIMIT);
    node.start_index();
    node.index.ready().map_err(|(d, t)| not_ready(d, t))?;
    if text.len() > 1024 {
        return Err(ApiError::bad_request("q: longer than 1,024 bytes"));
    }
    let query = Query::parse(text, |t| node.index.knows(t))
        .map_err(|e| ApiError::bad_request(format!("q: {e}")))?;
    let found = find(node, user, &query, limit);
    let mut items = Vec::with_capacity(found.hits.len());
    let mut returned = Vec::with_capacity(found.hits.len());
    for hit in &found.hits {
        let Some((s, object, marking)) = shown(node, user, &hit.id, &hit.version)? else {
            continue;
        };
        let mut v = summary(&s, &object, &marking);
        v["matched"] = field_names(hit.fields).into();
        v["related"] = related_to(node, user, &s.id, &object).into();
        returned.push(json!([s.id, s.modified]));
        items.push(v);
    }
    record(node, user, json!({ "query": text, "returned": returned })).await?;
    Ok(json!({ "items": items, "more": found.more, "checked": found.checked }))
}

/// The items `user` may read that hold one of the observable values of item `id` (which they
/// must be able to read), from any originator: what MISP calls correlations. Recorded as a
/// search.
pub async fn related(node: &Node, user: &User, id: &str) -> Result<Value, ApiError> {
    node.start_index();
    node.index.ready().map_err(|(d, t)| not_ready(d, t))?;
    let (stored, item, _) = super::items::read(node, user, id, None, "related").await?;
    let list = related_to(node, user, &stored.id, item.object());
    let returned: Vec<Value> = list.iter().map(|r| r["id"].clone()).collect();
    record(
        node,
        user,
        json!({ "related_to": id, "returned": returned }),
    )
    .await?;
    Ok(json!({ "item": id, "related": list }))
}

/// The related items of an object (at most 20 per value): id, originator, this node's marking
/// and the value they share; no content beyond that value, which the reader already holds.
pub fn related_to(node: &Node, user: &User, id: &str, object: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for value in observables(object) {
        let found = find(node, user, &Query::observable(&value), 21);
        for hit in found.hits.into_iter().filter(|h| h.id != id).take(20) {
            if let Some(r) = out.iter_mut().find(|r| r["id"] == hit.id.as_str()) {
                if let Some(values) = r["values"].as_array_mut() {
                    values.push(value.clone().into());
                }
                continue;
            }
            let Ok(Some(s)) = super::items::stored(node, &hit.id, Some(&hit.version)) else {
                continue;
            };
            if let Decision::Allow(access) = read_decision(node, user, &s) {
                out.push(json!({
                    "id": hit.id, "originator": s.label.originator,
                    "marking": access.marking, "values": [value],
                }));
            }
        }
    }
    out
}

/// The index's matches that `user` may read (decided on each label class, or on each item for
/// a contractor, whose reads depend on per-item consents).
fn find(node: &Node, user: &User, query: &Query, limit: usize) -> Found {
    let world = node.world();
    let today = node.today();
    let per_item = user.kind == UserKind::Contractor;
    node.index.search(query, limit, per_item, |id, class| {
        let d = gsomia_core::read_label(
            &world,
            id,
            &class.label,
            class.marking.as_ref(),
            user,
            today,
        );
        matches!(d, Decision::Allow(_))
    })
}

/// A hit as shown: decided again on the stored label (the last word, should the label have
/// changed since the index looked), then decrypted; `None` if it may not be shown now.
fn shown(
    node: &Node,
    user: &User,
    id: &str,
    version: &str,
) -> Result<Option<(StoredItem, Value, gsomia_core::Marking)>, ApiError> {
    let Some(s) = super::items::stored(node, id, Some(version))? else {
        return Ok(None);
    };
    let Decision::Allow(access) = read_decision(node, user, &s) else {
        return Ok(None);
    };
    Ok(unseal_object(node, &s)?.map(|o| (s, o, access.marking)))
}

/// The names of a posting's field bits.
fn field_names(bits: u8) -> Vec<&'static str> {
    [
        (field::NAME, "name"),
        (field::DESCRIPTION, "description"),
        (field::PATTERN, "pattern"),
        (field::OBSERVABLE, "value"),
        (field::OTHER, "other"),
    ]
    .into_iter()
    .filter(|(b, _)| bits & b != 0)
    .map(|(_, n)| n)
    .collect()
}

async fn record(node: &Node, user: &User, detail: Value) -> Result<(), ApiError> {
    let draft = entry(
        node,
        &user.id,
        "item.search",
        "items",
        Verdict::Allow,
        None,
        detail,
    );
    node.write(Batch {
        writes: vec![],
        audit: vec![draft],
    })
    .await
    .map(|_| ())
}

/// A hit as a search answers it: what identifies and describes it, its label and the marking it
/// is read under (the whole object is one `GET /api/v1/items/{id}` away, a read of its own).
fn summary(s: &StoredItem, object: &Value, marking: &gsomia_core::Marking) -> Value {
    json!({
        "id": s.id, "version": s.modified, "type": s.stix_type, "added": s.added,
        "name": object["name"], "description": object["description"],
        "pattern": object["pattern"], "value": object["value"],
        "label": s.label, "marking": marking,
    })
}
