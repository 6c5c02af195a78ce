//! The console (`/console/`): server-rendered HTML for the officers and analysts, served by
//! `gsomia serve` itself. Every page is a decision of the service layer (the same as the API's,
//! audited the same way: an item shown is an `item.read` with `via: console`), rendered with
//! maud, which escapes everything it is given. No JavaScript; one stylesheet served by the node;
//! `Content-Security-Policy: default-src 'none'`, no framing, no caching.
//!
//! Sign-in is by user id and token, or passphrase (`gsomia user passwd`, Argon2id). The session
//! lives in memory (a node restart signs everyone out): the cookie (`HttpOnly`,
//! `SameSite=Strict`, `Secure` under TLS) holds a random id, the node keeps its hash, what it
//! was opened with (the token's hash or the passphrase's PHC string, so a disabled user, a
//! reissued token or a changed passphrase ends the session at once) and a CSRF token every
//! form carries. A session idle for `console_idle_secs` ends.

mod i18n;
mod pages;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gsomia_core::User;

use crate::node::Node;

type AppState = Arc<Node>;

/// The session cookie's name.
const SESSION: &str = "gsomia_session";
/// The sign-in form's CSRF cookie (double submit: the form carries the same value).
const SIGNIN: &str = "gsomia_signin";

/// The console's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/", get(pages::home))
        .route(
            "/console/signin",
            get(pages::signin_page).post(pages::signin),
        )
        .route("/console/signout", post(pages::signout))
        .route("/console/items", get(pages::items))
        .route(
            "/console/publish",
            get(pages::publish_page).post(pages::publish),
        )
        .route("/console/items/{id}", get(pages::item))
        .route(
            "/console/items/{id}/release",
            get(pages::release_preview).post(pages::release),
        )
        .route("/console/items/{id}/incident", post(pages::incident))
        .route("/console/items/{id}/derive", post(pages::derive))
        .route("/console/items/{id}/reclassify", post(pages::reclassify))
        .route("/console/items/{id}/destroy", post(pages::destroy))
        .route("/console/items/{id}/custody", get(pages::custody))
        .route("/console/search", get(pages::search))
        .route("/console/lang", post(pages::set_lang))
        .route("/console/items/{id}/consent", post(pages::ask_consent))
        .route("/console/agreements/{id}", get(pages::agreement))
        .route(
            "/console/agreements/{id}/event",
            get(pages::event_review).post(pages::event),
        )
        .route("/console/incidents", get(pages::incidents))
        .route(
            "/console/incidents/{id}/result",
            post(pages::incident_result),
        )
        .route("/console/audit", get(pages::audit))
        .route("/console/consents", get(pages::consents))
        .route("/console/consents/{id}/answer", post(pages::answer))
        .route("/console/treaty", get(pages::treaty))
        .route("/console/visits/{id}/answer", post(pages::answer_visit))
        .route("/console/console.css", get(pages::css))
        .layer(axum::middleware::from_fn(headers))
}

/// What every console answer carries: no script, no framing, no caching of classified pages.
async fn headers(req: Request, next: axum::middleware::Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

/// What a session was opened with, checked again at each request: a disabled user, a reissued
/// token or a changed passphrase ends it.
#[derive(Clone)]
enum Credential {
    /// The hash of the token.
    Token(String),
    /// The user and the PHC string of their passphrase.
    Passphrase { user: String, phc: String },
}

/// A signed-in session.
struct Session {
    credential: Credential,
    /// The token every form of this session carries.
    csrf: String,
    /// When it was last used.
    last: Instant,
}

/// The console's sessions, by the hash of their cookie.
#[derive(Default)]
pub struct Sessions {
    map: std::sync::Mutex<HashMap<String, Session>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions")
    }
}

fn random_text() -> String {
    let mut b = [0u8; 32];
    // The OS generator; without it no session can be made safely, and none is.
    if getrandom::fill(&mut b).is_err() {
        return String::new();
    }
    URL_SAFE_NO_PAD.encode(b)
}

fn hash(text: &str) -> String {
    gsomia_crypto::token_hash(text)
}

impl Sessions {
    /// Opens a session for a credential: the cookie value and the CSRF token. Sessions idle
    /// longer than `idle` are dropped first, so the map holds only live ones.
    fn open(&self, credential: Credential, idle: Duration) -> Option<(String, String)> {
        let (id, csrf) = (random_text(), random_text());
        if id.is_empty() || csrf.is_empty() {
            return None;
        }
        let mut map = crate::node::lock(&self.map);
        map.retain(|_, s| s.last.elapsed() <= idle);
        map.insert(
            hash(&id),
            Session {
                credential,
                csrf: csrf.clone(),
                last: Instant::now(),
            },
        );
        Some((id, csrf))
    }

    /// The session of cookie `id` if it was used within `idle` (and now it is used again): its
    /// credential and CSRF token. An idle one is ended.
    fn touch(&self, id: &str, idle: Duration) -> Option<(Credential, String)> {
        let mut map = crate::node::lock(&self.map);
        let key = hash(id);
        let fresh = map.get(&key).is_some_and(|s| s.last.elapsed() <= idle);
        if !fresh {
            map.remove(&key);
            return None;
        }
        let s = map.get_mut(&key)?;
        s.last = Instant::now();
        Some((s.credential.clone(), s.csrf.clone()))
    }

    fn close(&self, id: &str) {
        crate::node::lock(&self.map).remove(&hash(id));
    }
}

/// The value of cookie `name` in the request.
fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A cookie for the console's path: `HttpOnly`, `SameSite=Strict`, `Secure` under TLS.
fn set_cookie(node: &Node, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let secure = if node.tls().is_some() { "; Secure" } else { "" };
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict{secure}{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The signed-in user of a console request, and the CSRF token its forms carry. Without a live
/// session, the answer is the sign-in page.
pub struct Signed {
    user: User,
    csrf: String,
    session: String,
    /// The language of the pages (`i18n`).
    lang: i18n::Lang,
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, node: &AppState) -> Result<Self, Response> {
        let to_signin = || Redirect::to("/console/signin").into_response();
        let Some(id) = cookie(parts, SESSION) else {
            return Err(to_signin());
        };
        let idle = Duration::from_secs(node.config.console_idle_secs);
        let Some((credential, csrf)) = node.sessions.touch(id, idle) else {
            return Err(to_signin());
        };
        let user = match &credential {
            Credential::Token(hash) => node.user_by_token_hash(hash),
            Credential::Passphrase { user, phc } => node.user_by_passphrase_hash(user, phc),
        };
        match user {
            Ok(Some(user)) => Ok(Signed {
                user,
                csrf,
                session: id.to_owned(),
                lang: i18n::Lang::of_request(parts),
            }),
            Ok(None) => {
                // Disabled, reissued, changed or expired since: the session ends with it.
                node.sessions.close(id);
                Err(to_signin())
            }
            Err(e) => Err(crate::error::ApiError::from(e).into_response()),
        }
    }
}

impl Signed {
    /// The refusal of a form whose CSRF token is not this session's (403, nothing done); none
    /// if it is.
    fn forged(&self, csrf: &str) -> Option<Response> {
        if csrf.len() == self.csrf.len()
            && csrf
                .bytes()
                .zip(self.csrf.bytes())
                .fold(0u8, |d, (a, b)| d | (a ^ b))
                == 0
        {
            None
        } else {
            tracing::warn!(user = %self.user.id, "console: a form without this session's CSRF token");
            Some(
                (
                    StatusCode::FORBIDDEN,
                    "this form is not from this session (CSRF): nothing was done; reload the page",
                )
                    .into_response(),
            )
        }
    }
}
