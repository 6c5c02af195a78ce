//! Incidents (P6): loss, compromise or possible compromise of an item is reported at once to
//! its originator and to every party in its custody chain; the investigation's result follows
//! as a second report linked to the first. Every holder's user may report on what they may read
//! (an item they may not read is answered as one that does not exist, H8); results come from an
//! authority or security officer.

use std::collections::BTreeSet;

use gsomia_core::{Action, PartyCode, Rule, User};
use gsomia_store::{Batch, Incident, StoredItem, Verdict, Write};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::node::{Node, entry};

const KINDS: [&str; 3] = ["loss", "compromise", "possible_compromise"];

/// The parties a report about `item` goes to: its originator and every hop of its custody
/// chain, this node excepted.
fn recipients(node: &Node, item: &StoredItem) -> Vec<PartyCode> {
    let mut to = BTreeSet::new();
    to.insert(item.label.originator);
    for hop in &item.custody {
        to.insert(hop.from);
        to.insert(hop.to);
    }
    to.remove(&node.party());
    to.into_iter().collect()
}

fn writes(node: &Node, incident: &Incident, to: &[PartyCode]) -> Vec<Write> {
    let mut writes = vec![Write::AddIncident(incident.clone())];
    for p in to {
        writes.push(Write::Enqueue {
            peer: *p,
            kind: "incident".into(),
            payload: json!({ "incident": incident, "holder": node.party() }),
            at: node.now_text(),
        });
    }
    writes
}

/// Reports loss, compromise or possible compromise of an item.
pub async fn report(
    node: &Node,
    user: &User,
    item: &str,
    kind: String,
    description: String,
) -> Result<Value, ApiError> {
    if !KINDS.contains(&kind.as_str()) {
        return Err(ApiError::unprocessable(format!(
            "kind: `{}` is not one of {}",
            kind,
            KINDS.join(", ")
        )));
    }
    // Reporting is every holder's duty (P6), for items the reporter may read: an item they may
    // not read is answered as if it did not exist (H8).
    let (held, _) = super::items::readable(node, user, "incident.report", item, None).await?;
    let incident = Incident {
        id: 0,
        item: held.id.clone(),
        kind,
        description,
        reported_by: user.id.clone(),
        at: node.now_text(),
        follows: None,
    };
    let to = recipients(node, &held);
    let draft = entry(
        node,
        &user.id,
        "incident.report",
        item,
        Verdict::Allow,
        Some(Rule::P6),
        json!({ "kind": incident.kind, "reported_to": to }),
    );
    let committed = node
        .write(Batch {
            writes: writes(node, &incident, &to),
            audit: vec![draft],
        })
        .await?;
    let id = committed.ids.first().copied().unwrap_or_default();
    Ok(json!({ "incident": Incident { id, ..incident }, "reported_to": to }))
}

/// The investigation's result and the corrective measures, linked to report `id`.
pub async fn result(
    node: &Node,
    user: &User,
    id: i64,
    result: &str,
    measures: &str,
) -> Result<Value, ApiError> {
    let subject = format!("incident {id}");
    super::permit(
        node,
        user,
        Action::ManageIncidents,
        "incident.result",
        &subject,
    )
    .await?;
    let first = node
        .store()
        .incidents()?
        .into_iter()
        .find(|i| i.id == id && i.follows.is_none())
        .ok_or_else(|| ApiError::not_found(format!("no incident report {id}")))?;
    let Some(item) = node.store().item(&first.item, None)? else {
        return Err(ApiError::not_found(format!("no item `{}`", first.item)));
    };
    let follow_up = Incident {
        id: 0,
        item: first.item.clone(),
        kind: "result".into(),
        description: format!("result: {}\nmeasures: {}", result, measures),
        reported_by: user.id.clone(),
        at: node.now_text(),
        follows: Some(id),
    };
    let to = recipients(node, &item);
    let draft = entry(
        node,
        &user.id,
        "incident.result",
        &first.item,
        Verdict::Allow,
        Some(Rule::P6),
        json!({ "follows": id, "reported_to": to }),
    );
    let committed = node
        .write(Batch {
            writes: writes(node, &follow_up, &to),
            audit: vec![draft],
        })
        .await?;
    let new_id = committed.ids.first().copied().unwrap_or_default();
    Ok(json!({ "incident": Incident { id: new_id, ..follow_up }, "reported_to": to }))
}

/// Every report, for authorities and security officers.
pub async fn list(node: &Node, user: &User) -> Result<Value, ApiError> {
    super::permit(
        node,
        user,
        Action::ManageIncidents,
        "incident.list",
        "incidents",
    )
    .await?;
    Ok(json!({ "incidents": node.store().incidents()? }))
}
