//! The HTTP API, `/api/v1`: JSON in and out, bearer tokens, one error shape
//! (`{"error": {"code", "message", "rule"?}}`). Every decision a handler takes, allowed or
//! refused, is written to the audit log with the change it allows, in one batch (P7). Requests
//! refused before any decision (malformed JSON, wrong types, oversized bodies, unknown tokens)
//! change nothing and are not audited.

mod agreements;
mod audit;
mod consents;
mod incidents;
mod items;
mod log;
mod openapi;
mod reclassification;
mod registers;
mod shapes;
mod stream;
mod taxii;
mod visits;

/// The record numbered `id` in a path: a path that is no number names no record (404, as
/// JSON like every error here, not the router's plain text).
fn number(id: &str, what: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no {what} `{id}`: its id is a number")))
}

pub use crate::service::marking::EXTENSION;

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use gsomia_core::User;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::node::Node;

type AppState = Arc<Node>;

/// One request to `node`'s router in process, without a socket: the status and the body. For
/// the harnesses that drive a node as its clients and partners would (the fuzz targets, the
/// simulation), so that HTTP stays in this crate.
pub async fn call(
    node: Arc<Node>,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(u16, Vec<u8>), String> {
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(axum::body::Body::from(body))
        .map_err(|e| e.to_string())?;
    let resp = app(node).oneshot(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .map_err(|e| e.to_string())?;
    Ok((status, bytes.to_vec()))
}

/// The router, without a socket: tests call it directly.
pub fn app(node: Arc<Node>) -> Router {
    let limit = node.config.max_body_bytes;
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/node", get(agreements::descriptor))
        .route("/api/v1/parties", get(agreements::parties))
        .route(
            "/api/v1/agreements",
            get(agreements::list).post(agreements::propose),
        )
        .route("/api/v1/agreements/{id}", get(agreements::get))
        .route("/api/v1/agreements/{id}/events", post(agreements::event))
        .route(
            "/api/v1/agreements/{id}/amendments",
            post(agreements::amend),
        )
        .route(
            "/api/v1/agreements/{id}/amendments/{amendment}/sign",
            post(agreements::sign_amendment),
        )
        .route(
            "/api/v1/agreements/{id}/letters",
            post(agreements::write_letter).get(agreements::letters),
        )
        .route("/api/v1/items", post(items::publish).get(items::list))
        .route("/api/v1/items/derive", post(items::derive))
        .route("/api/v1/items/batch", post(items::publish_batch))
        .route("/api/v1/stream", get(stream::stream))
        .route("/api/v1/items/{id}", get(items::get))
        .route("/api/v1/items/{id}/related", get(items::related))
        .route("/api/v1/search", get(items::search))
        .route("/api/v1/items/{id}/release", post(items::release))
        .route("/api/v1/items/{id}/destroy", post(items::destroy))
        .route("/api/v1/items/{id}/return", post(items::return_item))
        .route(
            "/api/v1/items/{id}/reclassify",
            post(reclassification::reclassify),
        )
        .route(
            "/api/v1/release-rules",
            post(items::add_rule).get(items::rules),
        )
        .route(
            "/api/v1/incidents",
            post(incidents::report).get(incidents::list),
        )
        .route("/api/v1/incidents/{id}/result", post(incidents::result))
        .route("/api/v1/consents", get(consents::list))
        .route("/api/v1/consents/standing", post(consents::give_standing))
        .route("/api/v1/consents/{id}/revoke", post(consents::revoke))
        .route(
            "/api/v1/consents/requests",
            post(consents::ask).get(consents::requests),
        )
        .route(
            "/api/v1/consents/requests/{id}/answer",
            post(consents::answer),
        )
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/registers/{which}", get(registers::get))
        .route(
            "/api/v1/facilities",
            post(agreements::register_facility).get(agreements::facilities_held),
        )
        .route(
            "/api/v1/facilities/{id}/inspections",
            post(agreements::inspect_facility),
        )
        .route(
            "/api/v1/assurances",
            post(agreements::give_assurance).get(agreements::assurances_held),
        )
        .route("/api/v1/visits", post(visits::ask).get(visits::list))
        .route("/api/v1/visits/{id}/authorise", post(visits::authorise))
        .route("/api/v1/visits/{id}/refuse", post(visits::refuse))
        .route("/api/v1/visits/{id}/findings", post(visits::findings))
        .route("/api/v1/status", get(audit::status))
        .route(
            "/api/v1/log/checkpoint",
            get(log::checkpoint).post(log::issue),
        )
        .route("/api/v1/log/proof/inclusion", get(log::inclusion))
        .route("/api/v1/log/proof/consistency", get(log::consistency))
        .route("/api/v1/log/entries", get(log::entries))
        .route("/api/v1/log/witnessed", get(log::witnessed))
        .route("/api/v1/log/evidence", get(log::evidence))
        .route("/api/v1/items/{id}/custody", get(log::custody))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/federation/v1/inbox", post(inbox))
        .route(
            "/federation/v1/add-checkpoint",
            post(add_checkpoint).layer(DefaultBodyLimit::max(64 << 10)),
        )
        .route("/federation/v1/custody", post(custody_query))
        .merge(taxii::routes())
        .merge(crate::console::routes())
        .route(
            "/console",
            get(|| async { axum::response::Redirect::permanent("/console/") }),
        )
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(close_unread))
        .layer(axum::middleware::from_fn_with_state(
            node.clone(),
            access_log,
        ))
        .with_state(node)
}

/// Answers `Connection: close` to a request whose body was not read to its end: a refusal
/// made before reading it (401, 403, 413, 415, …) leaves its bytes on the connection, which
/// the server then closes; said so, a client does not send its next request on a connection
/// about to close (where it would meet "connection closed without response").
async fn close_unread(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::body::HttpBody;
    let (parts, body) = req.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let read = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let body = axum::body::Body::new(Tracked {
        inner: body,
        read: read.clone(),
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if !read.load(std::sync::atomic::Ordering::Relaxed) {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

/// A request body that notes when it was read to its end.
struct Tracked {
    inner: axum::body::Body,
    read: Arc<std::sync::atomic::AtomicBool>,
}

impl axum::body::HttpBody for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let frame = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(frame, std::task::Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

// ---------------------------------------------------------------------------------------------
// Extractors.

/// A JSON body whose rejections answer in the API's error shape: 415 without a JSON content
/// type, 400 for malformed JSON, 422 for the wrong shape (naming the field), 413 over the limit.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "the body must be JSON, sent with `Content-Type: application/json`",
                ),
                JsonRejection::JsonSyntaxError(e) => {
                    ApiError::new(StatusCode::BAD_REQUEST, "bad_json", e.body_text())
                }
                JsonRejection::JsonDataError(e) => ApiError::unprocessable(e.body_text()),
                other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "the body is larger than this node accepts (max_body_bytes)",
                ),
                other => ApiError::bad_request(other.body_text()),
            }),
        }
    }
}

/// Query parameters, with rejections in the API's error shape (400).
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|e: QueryRejection| ApiError::bad_request(e.body_text()))
    }
}

/// The authenticated caller: `Authorization: Bearer <token>`, an enabled user of this node.
pub struct Caller(pub User);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, node: &AppState) -> Result<Self, ApiError> {
        let unauthenticated =
            |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", m);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unauthenticated("missing `Authorization: Bearer <token>`"))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| unauthenticated("the Authorization header must be `Bearer <token>`"))?;
        match node.user_by_token(token.trim())? {
            Some(user) => Ok(Caller(user)),
            None => {
                tracing::info!("refused an unknown, disabled or expired token");
                Err(unauthenticated("unknown, disabled or expired token"))
            }
        }
    }
}

tokio::task_local! {
    /// The id of the request being answered, for its log lines and audit entries.
    pub static REQUEST_ID: String;
}

/// A request id: this process's random prefix and a counter, unique without coordination.
fn next_request_id() -> String {
    static PREFIX: std::sync::LazyLock<u32> = std::sync::LazyLock::new(|| {
        let mut b = [0u8; 4];
        let _ = getrandom::fill(&mut b);
        u32::from_be_bytes(b)
    });
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:08x}-{n}", *PREFIX)
}

/// Gives each request an id (its log lines carry it in their span, its audit entries in
/// `detail.request`, its answer in `x-request-id`), counts it by route and status, and writes
/// one line per request at info level: method, path (never the query or headers, which may
/// carry tokens), status, time taken.
async fn access_log(
    axum::extract::State(node): axum::extract::State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let id = next_request_id();
    let span = tracing::info_span!("request", id = %id);
    let started = std::time::Instant::now();
    // Decided by the world as the store has it now: another process sharing the store may
    // have changed it (an agreement terminated, a consent received) a moment ago. Not for the
    // probes, which decide nothing: `/healthz` answers while the process runs, the database
    // down or not.
    let probe = matches!(path.as_str(), "/healthz" | "/readyz");
    let refreshed = if probe { Ok(()) } else { node.refresh_world() };
    let mut resp = match refreshed {
        Ok(()) => {
            REQUEST_ID
                .scope(id.clone(), next.run(req).instrument(span.clone()))
                .await
        }
        Err(e) => {
            use axum::response::IntoResponse;
            match e {
                crate::error::NodeError::Store(e) => ApiError::from(e),
                e => crate::service::internal(e),
            }
            .into_response()
        }
    };
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    span.in_scope(|| {
        tracing::info!(%method, path, status, micros = elapsed.as_micros() as u64, "request");
    });
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", value);
    }
    let m = node.metrics();
    m.requests
        .get_or_create(&crate::metrics::RequestLabels {
            route: route.clone(),
            status,
        })
        .inc();
    m.request_seconds
        .get_or_create(&crate::metrics::RouteLabels { route })
        .observe(elapsed.as_secs_f64());
    resp
}

/// 200 while the node takes requests (its store answers, it is not stopping); 503 otherwise.
async fn readyz(
    axum::extract::State(node): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match node.ready() {
        Ok(()) => "ready".into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")).into_response(),
    }
}

/// The Prometheus text exposition, for the node's administrators (`admin` role).
async fn metrics(
    axum::extract::State(node): axum::extract::State<AppState>,
    Caller(user): Caller,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let text = crate::service::status::metrics(&node, &user).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// The federation inbox: a partner node's envelope (authenticated by its signature, not a
/// token). See `crate::federation`.
async fn inbox(
    axum::extract::State(node): axum::extract::State<AppState>,
    Body(envelope): Body<gsomia_crypto::envelope::Envelope>,
) -> Result<Json<Value>, ApiError> {
    crate::federation::receive(&node, envelope).await.map(Json)
}

/// C2SP tlog-witness `add-checkpoint`: a partner's checkpoint to witness (see
/// `crate::transparency`). 200 with the cosignature line, 409 with the size held.
async fn add_checkpoint(
    axum::extract::State(node): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
    body: String,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let signature = headers
        .get(crate::transparency::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    Ok(
        match crate::transparency::add_checkpoint(&node, &body, signature).await? {
            crate::transparency::Witnessed::Cosigned(line) => (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; charset=utf-8",
                )],
                line,
            )
                .into_response(),
            crate::transparency::Witnessed::Conflict(size) => (
                StatusCode::CONFLICT,
                [(axum::http::header::CONTENT_TYPE, "text/x.tlog.size")],
                format!("{size}\n"),
            )
                .into_response(),
        },
    )
}

/// An originator's sealed question about one of its items; the answer, sealed to it.
async fn custody_query(
    axum::extract::State(node): axum::extract::State<AppState>,
    Body(envelope): Body<gsomia_crypto::envelope::Envelope>,
) -> Result<Json<gsomia_crypto::envelope::Envelope>, ApiError> {
    crate::transparency::answer_custody(&node, envelope)
        .await
        .map(Json)
}

pub(crate) use crate::service::internal;
