//! The audit log (P7), for security officers, authorities and administrators: its entries as
//! the API and the console show them.

use gsomia_core::{Action, User};
use gsomia_store::Store;
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
