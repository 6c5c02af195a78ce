//! gsomia-node: a party's node. [`data`] lays out and opens a node's data directory (config,
//! keys, database); [`Node`] holds its state; [`api::app`] is the HTTP API (axum) and
//! [`serve`] runs it. The treaty rules come from `gsomia-core`; this crate adds who is asking
//! (bearer tokens), what is stored, and the audit entry of every decision (P7).

pub mod api;
pub mod backup;
pub mod client;
pub mod console;
pub mod data;
pub mod error;
pub mod federation;
pub mod metrics;
pub mod node;
pub mod protocol;
pub mod rotation;
pub mod search;
pub mod service;
pub mod tls;
pub mod transparency;

pub use data::{Config, InitOptions, init};
pub use node::{Clock, Network, Node};

/// How long a client has to finish its TLS handshake, and to send a request's headers.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long requests in flight are given to finish once shutdown starts.
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs the API on `listener` (HTTPS with the node's certificate; plain HTTP only when the
/// configuration says `insecure_http` and the address is loopback), and the delivery of the
/// outbox to partners, until `shutdown` resolves; then finishes the requests in flight (at
/// most [`DRAIN_TIMEOUT`]), stops delivery and closes the store.
pub async fn serve(
    node: std::sync::Arc<Node>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    node.start_index();
    let addr = listener.local_addr()?;
    let tls = match node.tls() {
        Some(identity) => Some(tokio_rustls::TlsAcceptor::from(
            identity.server_config().map_err(std::io::Error::other)?,
        )),
        None if addr.ip().is_loopback() => None,
        None => {
            return Err(std::io::Error::other(format!(
                "insecure_http = true serves plain HTTP, which is allowed only on a loopback \
                 address; {addr} is not one (H7): remove insecure_http to serve HTTPS"
            )));
        }
    };
    let app = api::app(node.clone());
    node.set_draining(false);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let delivery = tokio::spawn(federation::run_delivery(node.clone(), stopped.clone()));
    let checkpoints = tokio::spawn(transparency::run_checkpoints(node.clone(), stopped));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        let http = http.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let Some(acceptor) = tls else {
                let conn = http.serve_connection(hyper_util::rt::TokioIo::new(tcp), service);
                let _ = watcher.watch(conn).await;
                return;
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    let _ = watcher.watch(conn).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                Err(_) => tracing::debug!(%peer, "TLS handshake not finished in time"),
            }
        });
    }
    drop(listener);
    node.set_draining(true);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?} were dropped");
    }
    let _ = stop.send(true);
    let _ = delivery.await;
    let _ = checkpoints.await;
    node.close();
    Ok(())
}
