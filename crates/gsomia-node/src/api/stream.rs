//! `GET /api/v1/stream`: Server-Sent Events of the items the caller may read as they arrive
//! (T1), through `service::stream`.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;

use super::{AppState, Caller, Params};
use crate::error::{ApiError, ErrorBody};
use crate::service::stream::{Filter, start, step};

/// How long a stream waits for an item stored here before it looks again (items stored by
/// another process sharing the store wake nobody here).
const LOOK_AGAIN: Duration = Duration::from_millis(250);

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamQuery {
    /// Topics, comma-separated: items with any of them (all when absent).
    topics: Option<String>,
    /// Originators, comma-separated party codes (all when absent).
    originators: Option<String>,
    /// Start after this item number (the `id` of an event); `Last-Event-ID` does the same and
    /// wins. Absent: from the items that arrive from now on.
    after: Option<i64>,
}

fn list<T: std::str::FromStr>(field: &str, text: Option<&str>) -> Result<Vec<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    text.into_iter()
        .flat_map(|t| t.split(','))
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse()
                .map_err(|e| ApiError::bad_request(format!("{field}: {e}")))
        })
        .collect()
}

#[utoipa::path(get, path = "/api/v1/stream", tag = "items", security(("bearer" = [])), params(StreamQuery), responses((status = 200, description = "`text/event-stream`: an `item` event for each item the caller may read as it arrives, its `id` the item's number (resume with `Last-Event-ID`), its data the item as `GET /api/v1/items/{id}` shows it, with the holder's marking", body = String, content_type = "text/event-stream"), (status = 400, description = "A malformed topic, party code or `Last-Event-ID`", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
/// Streams the items the caller may read as they arrive (T1): each decided as a read is, each
/// read recorded before it is sent; resumed after `Last-Event-ID` without gap or duplicate.
pub(super) async fn stream(
    State(node): State<AppState>,
    Caller(user): Caller,
    headers: HeaderMap,
    Params(q): Params<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let filter = Filter {
        topics: list("topics", q.topics.as_deref())?,
        originators: list("originators", q.originators.as_deref())?,
    };
    let resume = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|t| t.trim().parse::<i64>().ok())
                .ok_or_else(|| ApiError::bad_request("Last-Event-ID: not an item number"))?,
        ),
        None => q.after,
    };
    let after = match resume {
        Some(n) => n,
        None => start(&node)?,
    };
    let pending: std::collections::VecDeque<(i64, serde_json::Value)> = Default::default();
    let state = (node, user, filter, after, pending);
    let events = futures_util::stream::unfold(state, |mut state| async move {
        let (node, user, filter, cursor, pending) = &mut state;
        loop {
            if let Some((seq, item)) = pending.pop_front() {
                let event = Event::default()
                    .event("item")
                    .id(seq.to_string())
                    .json_data(&item)
                    .unwrap_or_else(|_| Event::default().comment("unserialisable"));
                return Some((Ok(event), state));
            }
            if node.stopping() {
                // The client resumes, at this process or another, from its last event.
                return None;
            }
            // Registered before looking, so that an item stored meanwhile wakes this stream.
            let added = node.items_added().notified();
            tokio::pin!(added);
            added.as_mut().enable();
            match step(node, user, filter, *cursor).await {
                Ok((found, scanned)) => {
                    *cursor = scanned;
                    if !found.is_empty() {
                        pending.extend(found);
                        continue;
                    }
                }
                Err(e) => {
                    // The client resumes from the last event it received.
                    tracing::warn!(error = %e.message, "a stream ended");
                    return None;
                }
            }
            tokio::select! {
                _ = added => {}
                _ = tokio::time::sleep(LOOK_AGAIN) => {}
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
