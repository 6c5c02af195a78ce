//! A minimal HTTP/1.1 client over plain TCP: what the delivery task posts envelopes with, and
//! what `gsomia demo` drives nodes with. (TLS, with rustls, is to come with real deployments.)
//!
//! Every call is bounded (H4): [`CONNECT_TIMEOUT`] to connect, [`REQUEST_TIMEOUT`] for the
//! whole exchange, and at most [`MAX_RESPONSE_BYTES`] of answer. A partner that accepts a
//! connection and never answers costs its own delivery task that long, and nothing else.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// Sends one request to `url` (`http://host:port/path`), with a bearer token and a JSON body if
/// given; the status and the response body.
pub async fn request(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> Result<(u16, Vec<u8>), String> {
    send(method, url, token, "application/json", body).await
}

/// Sends `body` with the content type `content_type` and the extra `headers`; the status and
/// the response body.
pub async fn request_typed(
    method: &str,
    url: &str,
    content_type: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<(u16, Vec<u8>), String> {
    tokio::time::timeout(
        REQUEST_TIMEOUT,
        exchange(method, url, None, content_type, headers, Some(body)),
    )
    .await
    .map_err(|_| format!("{url}: no answer within {} s", REQUEST_TIMEOUT.as_secs()))?
}

/// The longest wait for a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest wait for a whole request and its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read.
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

async fn send(
    method: &str,
    url: &str,
    token: Option<&str>,
    content_type: &str,
    body: Option<Vec<u8>>,
) -> Result<(u16, Vec<u8>), String> {
    tokio::time::timeout(
        REQUEST_TIMEOUT,
        exchange(method, url, token, content_type, &[], body),
    )
    .await
    .map_err(|_| format!("{url}: no answer within {} s", REQUEST_TIMEOUT.as_secs()))?
}

async fn exchange(
    method: &str,
    url: &str,
    token: Option<&str>,
    content_type: &str,
    headers: &[(&str, String)],
    body: Option<Vec<u8>>,
) -> Result<(u16, Vec<u8>), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}` is not an http:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(authority))
        .await
        .map_err(|_| {
            format!(
                "{authority}: no connection within {} s",
                CONNECT_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("{authority}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority)
        .header("content-type", content_type);
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let bytes = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| {
            format!("{authority}: {e} (answers are read up to {MAX_RESPONSE_BYTES} bytes)")
        })?
        .to_bytes();
    Ok((status, bytes.to_vec()))
}

/// [`request`] with JSON in and out.
pub async fn json(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> Result<(u16, serde_json::Value), String> {
    let body = body.map(|b| b.to_string().into_bytes());
    let (status, bytes) = request(method, url, token, body).await?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    ))
}
