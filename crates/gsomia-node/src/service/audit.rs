//! The audit log (P7), for security officers, authorities and administrators: its entries as
//! the API and the console show them.

use gsomia_core::{Action, User};
use serde_json::{Value, json};

use super::permit;
use crate::error::ApiError;
use crate::node::Node;

/// Up to `limit` (1 to 1,000) entries after number `after`, each with its number and hash,
/// and the cursor to go on from.
pub async fn list(node: &Node, user: &User, after: u64, limit: usize) -> Result<Value, ApiError> {
    permit(node, user, Action::Audit, "audit.list", "audit").await?;
    let entries = node.store().audit_after(after, limit.clamp(1, 1000))?;
    let next = entries.last().map(|e| e.seq);
    let list: Vec<Value> = entries
        .iter()
        .map(|e| {
            let body = serde_json::from_str::<Value>(&e.body).unwrap_or(Value::Null);
            json!({ "seq": e.seq, "hash": e.hash, "entry": body })
        })
        .collect();
    Ok(json!({ "entries": list, "next": next }))
}

/// The custody record of this node's item `id` at partner `holder` (officers): the holder's
/// audit entries about it, each proven included in a checkpoint of the holder's log this node
/// witnessed; verified here before it is answered (`crate::transparency::custody`).
pub async fn custody(node: &Node, user: &User, id: &str, holder: &str) -> Result<Value, ApiError> {
    permit(node, user, Action::Log, "log", "a custody record").await?;
    let holder = node
        .store()
        .parties()?
        .into_iter()
        .find(|p| p.code.as_str() == holder && p.code != node.party())
        .ok_or_else(|| ApiError::not_found(format!("holder: no partner `{holder}`")))?;
    let report = crate::transparency::custody(node, &holder, id).await?;
    let entries: Vec<Value> = report
        .entries
        .iter()
        .map(|e| {
            json!({
                "seq": e.seq,
                "entry": serde_json::from_str::<Value>(&e.body).unwrap_or(Value::Null),
                "body": e.body,
                "proof": e.proof,
            })
        })
        .collect();
    Ok(json!({
        "item": id, "holder": report.holder, "checkpoint": report.checkpoint,
        "verified": true, "entries": entries,
    }))
}
