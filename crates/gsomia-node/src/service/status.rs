//! How the node stands with each partner, for its officers (`GET /api/v1/status`) and the
//! shell (`gsomia status`): what is queued and since when, what was delivered and when, the
//! last delivery failure, and the checkpoints exchanged.

use gsomia_core::{Action, User};
use serde_json::{Value, json};

use super::permit;
use crate::error::ApiError;
use crate::node::Node;

/// The delivery and witnessing state of every known partner, and the node's own log size.
pub fn report(node: &Node) -> Result<Value, ApiError> {
    let store = node.store();
    let delivery = store.delivery()?;
    let mut partners = vec![];
    for p in store.parties()? {
        if p.code == node.party() {
            continue;
        }
        let code = p.code.to_string();
        let d = delivery.iter().find(|d| d.peer == p.code);
        let error = node.delivery_error(&code);
        let witness_error = node.witness_error(&code);
        partners.push(json!({
            "party": code,
            "endpoint": p.endpoint,
            "queued": d.map_or(0, |d| d.queued),
            "oldest_queued": d.and_then(|d| d.oldest_queued.clone()),
            "delivered": d.map_or(0, |d| d.delivered),
            "last_delivered": d.and_then(|d| d.last_delivered.clone()),
            "last_error": error.map(|(at, message)| json!({ "at": at, "message": message })),
            "cosigned_our_checkpoint_of_size": store.last_cosigned(p.code)?,
            "last_witness_error": witness_error.map(|(at, message)| json!({ "at": at, "message": message })),
            "witnessed_their_checkpoint_of_size": store.witnessed_latest(p.code)?.map(|(s, _)| s),
        }));
    }
    Ok(json!({
        "party": node.party(),
        "log_size": store.log_size()?,
        "partners": partners,
    }))
}

/// [`report`], for officers and administrators (P7).
pub async fn for_user(node: &Node, user: &User) -> Result<Value, ApiError> {
    permit(node, user, Action::Status, "status", "partners").await?;
    report(node)
}

/// The Prometheus exposition, for the node's administrators (P7; a refusal is audited, a scrape
/// is not: it changes nothing and would fill the log every few seconds). The outbox gauges
/// are read from the store first.
pub async fn metrics(node: &Node, user: &User) -> Result<String, ApiError> {
    permit(node, user, Action::Metrics, "metrics", "node").await?;
    let now = time::OffsetDateTime::now_utc();
    let m = node.metrics();
    for d in node.store().delivery()? {
        let partner = crate::metrics::PartnerLabels {
            partner: d.peer.to_string(),
        };
        m.outbox_depth
            .get_or_create(&partner)
            .set(i64::try_from(d.queued).unwrap_or(i64::MAX));
        let age = d
            .oldest_queued
            .as_deref()
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .map_or(0.0, |t| (now - t).as_seconds_f64().max(0.0));
        m.outbox_oldest_seconds.get_or_create(&partner).set(age);
    }
    m.encode().map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
        )
    })
}
