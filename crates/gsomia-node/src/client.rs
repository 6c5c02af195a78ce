//! The HTTP client a node reaches its partners with (and `gsomia demo`, the tests and the
//! benchmarks reach nodes with): hyper-util's pooled client over rustls, trusting one pinned
//! certificate key ([`crate::tls`]). Plain `http://` is refused unless the host is a loopback
//! address.
//!
//! Every call is bounded (H4): [`CONNECT_TIMEOUT`] to connect, [`REQUEST_TIMEOUT`] for the
//! whole exchange, and at most [`MAX_RESPONSE_BYTES`] of answer. A partner that accepts a
//! connection and never answers costs its own delivery task that long, and nothing else.
//! Connections are kept alive and reused ([`POOL_IDLE`]).

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::tls::Pin;

/// The longest wait for a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest wait for a whole request and its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read.
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;
/// How long an idle connection is kept for the next request.
pub const POOL_IDLE: Duration = Duration::from_secs(60);

type Inner =
    hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A pooled client that trusts one server key. Cheap to clone: clones share the pool.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Inner,
    pin: Option<Pin>,
}

impl Client {
    /// A client for `https://` servers whose certificate key is `pin`; with no pin, only
    /// `http://` on loopback.
    pub fn new(pin: Option<Pin>) -> Result<Client, String> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(std::sync::Arc::unwrap_or_clone(crate::tls::client_config(
                pin,
            )?))
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(https);
        Ok(Client { inner, pin })
    }

    /// The pinned key.
    pub fn pin(&self) -> Option<Pin> {
        self.pin
    }

    /// Sends `body` to `url` with the `headers`; the status and the answer.
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), String> {
        let (status, _, body) = self.send_full(method, url, headers, body).await?;
        Ok((status, body))
    }

    /// [`Client::send`], with the answer's headers (a console session's `Set-Cookie`).
    pub async fn send_full(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, hyper::HeaderMap, Vec<u8>), String> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(method, url, headers, body))
            .await
            .map_err(|_| format!("{url}: no answer within {} s", REQUEST_TIMEOUT.as_secs()))?
    }

    /// Opens `url` with `GET` and returns the answer as it arrives (a stream of Server-Sent
    /// Events), for the caller to read: only the wait for the answer's head is bounded.
    pub async fn open(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<hyper::Response<hyper::body::Incoming>, String> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.request("GET", url, headers, vec![]))
            .await
            .map_err(|_| format!("{url}: no answer within {} s", REQUEST_TIMEOUT.as_secs()))?
    }

    async fn exchange(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, hyper::HeaderMap, Vec<u8>), String> {
        let resp = self.request(method, url, headers, body).await?;
        let status = resp.status().as_u16();
        let answer_headers = resp.headers().clone();
        let bytes = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| format!("{url}: {e} (answers are read up to {MAX_RESPONSE_BYTES} bytes)"))?
            .to_bytes();
        Ok((status, answer_headers, bytes.to_vec()))
    }

    async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("`{url}`: {e}"))?;
        let host = uri.host().unwrap_or_default();
        match uri.scheme_str() {
            Some("https") if self.pin.is_some() => {}
            Some("https") => return Err(format!("{url}: no TLS key is pinned for this server")),
            Some("http") if is_loopback(host) => {}
            Some("http") => {
                return Err(format!(
                    "{url}: plain http:// is refused except on a loopback address (H7); \
                     use https:// with a pinned key"
                ));
            }
            _ => return Err(format!("`{url}` is not an https:// URL")),
        }
        let mut req = hyper::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        self.inner
            .request(req)
            .await
            .map_err(|e| format!("{url}: {}", chain(&e)))
    }

    /// A JSON request with an optional bearer token; the status and the answer as JSON
    /// (`null` if it is not JSON).
    pub async fn json(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), String> {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a));
        }
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let (status, bytes) = self.send(method, url, &headers, body).await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        ))
    }
}

/// An error and its causes, innermost last: hyper-util's connection errors say what failed
/// only in their sources (a refused TLS key, a refused connection).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let cause = s.to_string();
        if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
        source = s.source();
    }
    text
}

/// Whether `host` (from a URL) names this machine: `localhost`, 127.0.0.0/8 or ::1.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The Server-Sent Events of an answer opened with [`Client::open`], one at a time.
pub struct Events {
    body: hyper::body::Incoming,
    text: String,
}

impl Events {
    /// The events of `resp`'s body.
    pub fn of(resp: hyper::Response<hyper::body::Incoming>) -> Events {
        Events {
            body: resp.into_body(),
            text: String::new(),
        }
    }

    /// The next event's text (its lines, up to the blank line that ends it), or `None` once
    /// the stream has ended or failed.
    pub async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.text.find("\n\n") {
                return Some(self.text.drain(..end + 2).collect());
            }
            let frame = self.body.frame().await?.ok()?;
            if let Ok(data) = frame.into_data() {
                self.text.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }
}
