//! gsomia-node: a party's node. [`data`] lays out and opens a node's data directory (config,
//! keys, database); [`Node`] holds its state; [`api::app`] is the HTTP API (axum) and
//! [`serve`] runs it. The treaty rules come from `gsomia-core`; this crate adds who is asking
//! (bearer tokens), what is stored, and the audit entry of every decision (P7).

pub mod api;
pub mod client;
pub mod data;
pub mod error;
pub mod federation;
pub mod node;
pub mod protocol;
pub mod service;
pub mod transparency;

pub use data::{Config, InitOptions, init};
pub use node::{Clock, Node};

/// Runs the API on `listener`, and the delivery of the outbox to partners, until `shutdown`
/// resolves; then finishes the requests in flight, stops delivery and closes the store.
pub async fn serve(
    node: std::sync::Arc<Node>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = api::app(node.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let delivery = tokio::spawn(federation::run_delivery(node.clone(), stopped.clone()));
    let checkpoints = tokio::spawn(transparency::run_checkpoints(node.clone(), stopped));
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop.send(true);
    let _ = delivery.await;
    let _ = checkpoints.await;
    node.close();
    served
}
