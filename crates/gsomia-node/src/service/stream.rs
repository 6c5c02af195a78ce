//! Streams (T1): the items a user may read, as they arrive. A stream is a cursor over the order
//! items were added (their sequence numbers, which follow commit order on both stores): each
//! step reads what was added after it, keeps what the filter asks for and the read decision
//! allows today (decided on the label, before anything is decrypted), and records the reads
//! before they are answered, as a listing does (P7: `items::record_reads`). An event's id is
//! its item's number, so a client that reconnects with the last id it saw goes on without a
//! gap or a duplicate.

use gsomia_core::{Decision, PartyCode, Tag, User};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::node::Node;

/// What a stream asks for: items with one of `topics` (any when empty), from one of
/// `originators` (any when empty).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Topics, any of them.
    pub topics: Vec<Tag>,
    /// Originators, any of them.
    pub originators: Vec<PartyCode>,
}

/// Rows looked at in one step at most, read or not: a step's cost is bounded (H4).
const SCAN: usize = 1000;

/// Events a step answers at most.
const EVENTS: usize = 100;

/// One step of `user`'s stream after item `after`: the items it may read, each with its
/// number and as it is read (the holder's marking), and the number scanned to (where the next
/// step starts, past the items it may not have).
pub async fn step(
    node: &Node,
    user: &User,
    filter: &Filter,
    after: i64,
) -> Result<(Vec<(i64, Value)>, i64), ApiError> {
    let world = node.world();
    let today = node.today();
    let mut cursor = after;
    let mut events = vec![];
    let mut returned = vec![];
    for s in node.store().items_after(after, SCAN)? {
        cursor = s.seq;
        let wanted = (filter.topics.is_empty()
            || s.label.topics.iter().any(|t| filter.topics.contains(t)))
            && (filter.originators.is_empty() || filter.originators.contains(&s.label.originator));
        if wanted
            && let Decision::Allow(access) =
                gsomia_core::read_label(&world, &s.id, &s.label, s.marking.as_ref(), user, today)
            && let Some(item) = super::items::unseal(node, &s)?
        {
            events.push((s.seq, super::items::item_json(&s, &item, &access.marking)));
            returned.push(s);
        }
        if events.len() == EVENTS {
            break;
        }
    }
    if !returned.is_empty() {
        // As a listing's: one entry naming what was sent, and an `item.read` for each partner's
        // item, which its originator finds in the custody record it asks for.
        let read: Vec<&gsomia_store::StoredItem> = returned.iter().collect();
        super::items::record_reads(node, user, "item.stream", "items", json!({}), &read).await?;
    }
    Ok((events, cursor))
}

/// Where a new stream starts when the client names no item: after the newest, so that it
/// gets what arrives from now on.
pub fn start(node: &Node) -> Result<i64, ApiError> {
    Ok(node.store().last_item()?)
}
