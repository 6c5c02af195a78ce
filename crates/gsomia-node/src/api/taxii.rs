//! TAXII 2.1 (OASIS) under `/taxii2/`: discovery, one API root (`/taxii2/api/`), collections,
//! objects (GET with filters and paging, POST answered by a status resource, DELETE), object by
//! id, versions, manifest and status. Media type exactly `application/taxii+json;version=2.1`;
//! errors are TAXII error messages; HTTP Basic (user id and token) or a bearer token.
//!
//! What TAXII servers do not do and this one does: every object a caller sees has passed the
//! read decision (M2, P1, P2) for that caller, and every request that reads or writes is
//! audited (P7). Objects the caller may not read are left out, so a collection of them looks
//! empty; asking for one by id answers 404, as for an object that does not exist.
//!
//! **Collections** are tags of items (see `gsomia_store::item_tags`): one per topic of this
//! party's own items (`<party>/<topic>`: writable by publishers; the topics of its agreements'
//! scopes and of `taxii_topics` in `gsomia.toml` are offered before any item exists), and one
//! per partner for what it sent (`from/<party>`, read-only). Collection ids are UUIDs made from
//! the party and the tag, so they are stable.
//!
//! **Markings.** gsomia's classification travels as a `marking-definition` carrying the
//! property-extension [`EXTENSION`], whose properties are the gsomia label (originator, level in
//! the originator's scheme, topics, purpose, releasability, caveats, grading, created) and, on
//! a holder's copy, `holder` (party and level in its scheme). A POSTed object must name such a
//! marking in `object_marking_refs` (in the same envelope or posted before); TLP 2.0 and
//! statement markings are kept as posted. Objects are served exactly as the originator posted
//! them; a received item's object also names the holder's marking, served by id.
//!
//! **Time.** `date_added` is when the node stored the item, in microseconds; objects are
//! listed in that order, and `next` is the position (`<µs>.<item number>`) after the last one
//! returned, exact across items added in the same microsecond.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gsomia_core::{Action, Decision, Label, User};
use gsomia_store::{Listed, StoredItem, added_micros, item_tags};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::AppState;
use crate::error::ApiError;
use crate::node::Node;
use crate::service::internal;
use crate::service::items::unseal_text;
use crate::service::marking::{self, EXTENSION, marking_id, uuid_from};

/// The TAXII media type, byte for byte (clients compare it strictly).
pub const MEDIA: &str = "application/taxii+json;version=2.1";
/// The STIX media type of the objects.
const STIX_MEDIA: &str = "application/stix+json;version=2.1";
/// The most objects a page holds.
const MAX_PAGE: usize = 1000;

// ---------------------------------------------------------------------------------------------
// Errors, media types, authentication.

/// A TAXII error message (TAXII 2.1 §3.6.1).
#[derive(Debug)]
pub(super) struct TaxiiError {
    status: StatusCode,
    title: String,
    description: String,
}

impl TaxiiError {
    fn new(status: StatusCode, title: &str, description: impl Into<String>) -> Self {
        TaxiiError {
            status,
            title: title.to_owned(),
            description: description.into(),
        }
    }
    fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", description)
    }
    fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", description)
    }
}

impl From<ApiError> for TaxiiError {
    fn from(e: ApiError) -> Self {
        let description = match e.rule {
            Some(rule) => format!("{} (rule {rule})", e.message),
            None => e.message,
        };
        TaxiiError::new(e.status, e.code, description)
    }
}

impl From<gsomia_store::StoreError> for TaxiiError {
    fn from(e: gsomia_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(error = %self.description, "taxii");
        }
        let description = if self.status.is_server_error() {
            "internal error".to_owned()
        } else {
            self.description
        };
        let body = json!({
            "title": self.title, "description": description,
            "http_status": self.status.as_str(),
        });
        let mut resp = (self.status, taxii_json(&body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"gsomia\", Bearer"),
            );
        }
        resp
    }
}

/// A JSON body with the TAXII media type.
fn taxii_json(body: &Value) -> Response {
    taxii_body(body.to_string().into_bytes())
}

/// A body of JSON text with the TAXII media type.
fn taxii_body(body: Vec<u8>) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA))],
        body,
    )
        .into_response()
}

/// 406 unless the client accepts TAXII 2.1 (or anything).
async fn accept(req: Request, next: Next) -> Response {
    let ok = req
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase().replace(' ', ""))
        .all(|v| false_if_other(&v));
    if ok {
        next.run(req).await
    } else {
        TaxiiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "Not acceptable",
            format!("this server answers `{MEDIA}` only"),
        )
        .into_response()
    }
}

/// Whether one Accept value admits the TAXII media type.
fn false_if_other(v: &str) -> bool {
    let media = v.split(";q=").next().unwrap_or_default();
    media.starts_with("application/taxii+json") || media == "*/*" || media == "application/*"
}

/// The caller: `Authorization: Basic base64(user id:token)` or `Bearer <token>`.
pub(super) struct TaxiiUser(User);

impl FromRequestParts<AppState> for TaxiiUser {
    type Rejection = TaxiiError;

    async fn from_request_parts(parts: &mut Parts, node: &AppState) -> Result<Self, TaxiiError> {
        let unauthorized = |m: &str| TaxiiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", m);
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                unauthorized("credentials required: HTTP Basic (user id, token) or a bearer token")
            })?;
        let (id, token) = if let Some(b) = header.strip_prefix("Basic ") {
            let decoded = STANDARD
                .decode(b.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| unauthorized("malformed Basic credentials"))?;
            let (id, token) = decoded
                .split_once(':')
                .ok_or_else(|| unauthorized("malformed Basic credentials"))?;
            (Some(id.to_owned()), token.to_owned())
        } else if let Some(t) = header.strip_prefix("Bearer ") {
            (None, t.trim().to_owned())
        } else {
            return Err(unauthorized("use HTTP Basic or a bearer token"));
        };
        match node.user_by_token(&token)? {
            Some(u) if id.as_ref().is_none_or(|id| *id == u.id) => Ok(TaxiiUser(u)),
            _ => {
                tracing::info!("taxii: refused unknown credentials");
                Err(unauthorized("unknown user or token"))
            }
        }
    }
}

/// The TAXII routes, for `api::app`.
pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/taxii2/", get(discovery))
        .route("/taxii2/api/", get(api_root))
        .route("/taxii2/api/collections/", get(list_collections))
        .route("/taxii2/api/collections/{cid}/", get(get_collection))
        .route(
            "/taxii2/api/collections/{cid}/objects/",
            get(get_objects).post(add_objects),
        )
        .route(
            "/taxii2/api/collections/{cid}/objects/{oid}/",
            get(get_object).delete(delete_object),
        )
        .route(
            "/taxii2/api/collections/{cid}/objects/{oid}/versions/",
            get(get_versions),
        )
        .route("/taxii2/api/collections/{cid}/manifest/", get(get_manifest))
        .route("/taxii2/api/status/{sid}/", get(get_status))
        .layer(axum::middleware::from_fn(accept))
}

// ---------------------------------------------------------------------------------------------
// Discovery, API root, collections.

fn base(headers: &HeaderMap, node: &Node) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or(&node.config.listen);
    let scheme = if node.tls().is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

async fn discovery(State(node): State<AppState>, _: TaxiiUser, headers: HeaderMap) -> Response {
    let root = format!("{}/taxii2/api/", base(&headers, &node));
    taxii_json(&json!({
        "title": format!("gsomia node of {}", node.party()),
        "description": "Classified information shared under security-of-information agreements; \
                        every object is read-checked for the caller.",
        "default": root, "api_roots": [root],
    }))
}

async fn api_root(State(node): State<AppState>, _: TaxiiUser) -> Response {
    taxii_json(&json!({
        "title": format!("{} items", node.party()),
        "versions": [MEDIA],
        "max_content_length": node.config.max_body_bytes,
    }))
}

/// A collection: a tag of items.
struct Collection {
    id: String,
    tag: String,
    title: String,
    /// For this party's own items on a topic: the topic (writable).
    topic: Option<String>,
}

/// The collections `user` sees. Topics the officer configured and agreement scopes are listed
/// to everyone; a topic known only from the items published on it (a codename is a topic) only
/// to users whose duties name it (H8).
fn collections(node: &Node, user: &User) -> Result<Vec<Collection>, TaxiiError> {
    let party = node.party();
    let world = node.world();
    let mut topics: BTreeSet<String> = node.config.taxii_topics.iter().cloned().collect();
    for a in world.agreements() {
        if a.parties().contains(&party) {
            topics.extend(a.scope().into_iter().flatten().cloned());
        }
    }
    let own = format!("{party}/");
    for tag in node.store().tags(&own)? {
        let topic = &tag[own.len()..];
        if user.duties.iter().any(|d| d.as_str() == topic) {
            topics.insert(topic.to_owned());
        }
    }
    let mut out: Vec<Collection> = topics
        .into_iter()
        .map(|t| Collection {
            id: uuid_from(&format!("gsomia-taxii-collection\n{party}\n{party}/{t}")),
            tag: format!("{party}/{t}"),
            title: format!("{party}: {t}"),
            topic: Some(t),
        })
        .collect();
    for p in world.parties() {
        if p != party {
            out.push(Collection {
                id: uuid_from(&format!("gsomia-taxii-collection\n{party}\nfrom/{p}")),
                tag: format!("from/{p}"),
                title: format!("from {p}"),
                topic: None,
            });
        }
    }
    Ok(out)
}

fn collection(node: &Node, user: &User, id: &str) -> Result<Collection, TaxiiError> {
    collections(node, user)?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| TaxiiError::not_found(format!("no collection `{id}`")))
}

fn collection_json(c: &Collection, user: &User) -> Value {
    let description = match &c.topic {
        Some(t) => format!("this party's items on `{t}`; publishers may add to it"),
        None => format!("what {} released to this party", &c.tag[5..]),
    };
    json!({
        "id": c.id, "title": c.title, "description": description,
        "can_read": true,
        "can_write": c.topic.is_some() && gsomia_core::permit(user, Action::Publish).is_ok(),
        "media_types": [STIX_MEDIA],
    })
}

async fn list_collections(
    State(node): State<AppState>,
    TaxiiUser(user): TaxiiUser,
) -> Result<Response, TaxiiError> {
    let list: Vec<Value> = collections(&node, &user)?
        .iter()
        .map(|c| collection_json(c, &user))
        .collect();
    Ok(taxii_json(&if list.is_empty() {
        json!({})
    } else {
        json!({ "collections": list })
    }))
}

async fn get_collection(
    State(node): State<AppState>,
    TaxiiUser(user): TaxiiUser,
    Path(cid): Path<String>,
) -> Result<Response, TaxiiError> {
    Ok(taxii_json(&collection_json(
        &collection(&node, &user, &cid)?,
        &user,
    )))
}

// ---------------------------------------------------------------------------------------------
// Filters and selection.

/// A TAXII timestamp: `YYYY-MM-DDTHH:MM:SS.ssssssZ`.
fn taxii_time(micros: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

fn parse_time(what: &str, text: &str) -> Result<i64, TaxiiError> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1000) as i64)
        .map_err(|_| TaxiiError::bad_request(format!("{what}: `{text}` is not a timestamp")))
}

/// `match[version]`: any of these.
#[derive(Default)]
struct Versions {
    first: bool,
    last: bool,
    all: bool,
    at: Vec<i64>,
}

/// The filters of a request (TAXII 2.1 §3.4).
struct Filters {
    added_after: Option<i64>,
    ids: Option<Vec<String>>,
    types: Option<Vec<String>>,
    versions: Versions,
    spec_ok: bool,
    limit: usize,
    next: Option<Cursor>,
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Filters {
    fn parse(params: &[(String, String)], default_all: bool) -> Result<Filters, TaxiiError> {
        let mut f = Filters {
            added_after: None,
            ids: None,
            types: None,
            versions: Versions::default(),
            spec_ok: true,
            limit: MAX_PAGE,
            next: None,
        };
        let mut versions = None;
        for (k, v) in params {
            match k.as_str() {
                "added_after" => f.added_after = Some(parse_time("added_after", v)?),
                "match[id]" => f.ids = Some(list(v)),
                "match[type]" => f.types = Some(list(v)),
                "match[version]" => versions = Some(v.clone()),
                "match[spec_version]" => f.spec_ok = list(v).iter().any(|s| s == "2.1"),
                "limit" => {
                    f.limit = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            TaxiiError::bad_request(format!(
                                "limit: `{v}` is not a positive number"
                            ))
                        })?
                        .min(MAX_PAGE)
                }
                "next" => {
                    f.next = v
                        .split_once('.')
                        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
                    if f.next.is_none() {
                        return Err(TaxiiError::bad_request(format!(
                            "next: `{v}` is not a cursor this server gave"
                        )));
                    }
                }
                _ => {}
            }
        }
        match versions {
            None if default_all => f.versions.all = true,
            None => f.versions.last = true,
            Some(v) => {
                for s in list(&v) {
                    match s.as_str() {
                        "first" => f.versions.first = true,
                        "last" => f.versions.last = true,
                        "all" => f.versions.all = true,
                        other => f.versions.at.push(parse_time("match[version]", other)?),
                    }
                }
            }
        }
        Ok(f)
    }

    fn wants(&self, l: &Listed) -> bool {
        let s = &l.item;
        self.added_after.is_none_or(|a| l.added > a)
            && self.types.as_ref().is_none_or(|t| t.contains(&s.stix_type))
            && self
                .ids
                .as_ref()
                .is_none_or(|ids| ids.iter().any(|i| s.id == i.as_str()))
            && self.spec_ok
            && (self.versions.all
                || (self.versions.last && l.latest)
                || (self.versions.first && l.first)
                || (!self.versions.at.is_empty()
                    && self.versions.at.contains(&added_micros(&s.modified))))
    }
}

/// An object the caller may read, ready to serve.
struct Visible {
    added: i64,
    item: StoredItem,
    /// The object's JSON text, once [`unsealed`]; empty before.
    object: Vec<u8>,
}

/// Decrypts the objects of `seen` into place, spread over the cores ([`served`]). Done while
/// the read's audit entry is committed; the answer waits for both (P7).
fn unsealed(node: &Node, seen: &mut [Visible]) -> Result<(), TaxiiError> {
    let objects = crate::node::par_map(seen, |v| served(node, &v.item));
    for (v, object) in seen.iter_mut().zip(objects) {
        v.object = object?;
    }
    Ok(())
}

/// The object of `s` as served: the JSON text it was sealed as, passed on without parsing it
/// again (see [`unseal_text`]). A received item is served as its originator published it,
/// naming this holder's marking as well: only the object's top level is parsed for that, its
/// values are kept as text. A destroyed item is not selected ([`select`]).
fn served(node: &Node, s: &StoredItem) -> Result<Vec<u8>, TaxiiError> {
    let Some(text) = unseal_text(node, s)? else {
        return Err(internal(format!("`{}` has no content to serve", s.id)).into());
    };
    if s.label.originator == node.party() {
        return Ok(text);
    }
    let mut top: BTreeMap<String, &RawValue> = serde_json::from_slice(&text).map_err(internal)?;
    let mut refs: Vec<&str> = match top.get("object_marking_refs") {
        Some(r) => serde_json::from_str(r.get()).map_err(internal)?,
        None => vec![],
    };
    let ours = marking_id(s);
    if !refs.contains(&ours.as_str()) {
        refs.push(&ours);
    }
    let refs = serde_json::value::to_raw_value(&refs).map_err(internal)?;
    top.insert("object_marking_refs".into(), &refs);
    serde_json::to_vec(&top).map_err(|e| internal(e).into())
}

/// The versions of the ids asked for that are in the collection, as listed.
fn listed_by_id(node: &Node, c: &Collection, ids: &[String]) -> Result<Vec<Listed>, TaxiiError> {
    let mut out = vec![];
    for id in ids {
        let versions: Vec<StoredItem> = crate::service::items::versions(node, id)?
            .into_iter()
            .filter(|s| item_tags(s).contains(&c.tag))
            .collect();
        let n = versions.len();
        for (i, s) in versions.into_iter().enumerate() {
            out.push(Listed {
                added: added_micros(&s.added),
                latest: i + 1 == n,
                first: i == 0,
                item: s,
            });
        }
    }
    out.sort_by_key(|l| (l.added, l.item.seq));
    Ok(out)
}

/// A position in a collection: when the row was added (µs), and its item number.
type Cursor = (i64, i64);

/// The most rows one request looks at, whatever it finds: a caller who may read little can
/// not make the node scan a whole collection per request (H4); `next` goes on from there.
const MAX_SCAN: usize = 2 * MAX_PAGE;

/// What the caller sees of the collection under the filters: up to `limit` objects in
/// `date_added` order, and the cursor to go on from when more may follow. Each row is decided
/// on its label before anything is decrypted, and at most [`MAX_SCAN`] rows are looked at.
fn select(
    node: &Node,
    user: &User,
    c: &Collection,
    f: &Filters,
) -> Result<(Vec<Visible>, Option<Cursor>), TaxiiError> {
    let world = node.world();
    let today = node.today();
    let mut out = vec![];
    let mut cursor = f.next.unwrap_or((i64::MIN, i64::MIN));
    let mut next = None;
    let mut scanned = 0;
    let by_id = match &f.ids {
        Some(ids) if ids.len() <= 100 => Some(listed_by_id(node, c, ids)?),
        _ => None,
    };
    let mut by_id = by_id.map(|v| v.into_iter());
    'scan: loop {
        let batch: Vec<Listed> = match &mut by_id {
            Some(it) => it.by_ref().take(f.limit + 1).collect(),
            None => node.store().tagged(&c.tag, cursor, (f.limit + 1).max(64))?,
        };
        if batch.is_empty() {
            break;
        }
        for l in batch {
            if (l.added, l.item.seq) <= cursor {
                continue;
            }
            if scanned == MAX_SCAN {
                next = Some(cursor);
                break 'scan;
            }
            scanned += 1;
            let before = cursor;
            cursor = (l.added, l.item.seq);
            if !f.wants(&l) {
                continue;
            }
            let s = &l.item;
            let decision =
                gsomia_core::read_label(&world, &s.id, &s.label, s.marking.as_ref(), user, today);
            let Decision::Allow(_) = decision else {
                continue;
            };
            // Destroyed (P5): its key is gone, nothing to serve.
            if s.wrapped_key.is_none() || s.content.is_none() {
                continue;
            }
            if out.len() == f.limit {
                next = Some(before);
                break 'scan;
            }
            out.push(Visible {
                added: l.added,
                item: l.item,
                object: vec![],
            });
        }
    }
    Ok((out, next))
}

/// Adds the date headers of a non-empty answer (TAXII 2.1 §3.2).
fn with_dates(mut resp: Response, first: Option<i64>, last: Option<i64>) -> Response {
    if let (Some(f), Some(l)) = (first, last) {
        for (name, v) in [
            ("x-taxii-date-added-first", f),
            ("x-taxii-date-added-last", l),
        ] {
            if let Ok(value) = HeaderValue::from_str(&taxii_time(v)) {
                resp.headers_mut().insert(name, value);
            }
        }
    }
    resp
}

/// The envelope (or manifest) body: `more`, `next` when there is more, and the list under
/// `key` when not empty, each element the JSON text `show` gives. Written as text, so that
/// objects are passed on as they were stored, not parsed and written again.
fn page<'a, T: AsRef<[u8]>>(
    key: &str,
    seen: &'a [Visible],
    next: Option<Cursor>,
    show: impl Fn(&'a Visible) -> T,
) -> Vec<u8> {
    use std::io::Write;
    let mut body = Vec::with_capacity(64 + seen.iter().map(|v| v.object.len() + 1).sum::<usize>());
    let _ = write!(body, "{{\"more\":{}", next.is_some());
    if let Some((added, seq)) = next {
        let _ = write!(body, ",\"next\":\"{added}.{seq}\"");
    }
    if !seen.is_empty() {
        let _ = write!(body, ",\"{key}\":[");
        for (i, v) in seen.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(show(v).as_ref());
        }
        body.push(b']');
    }
    body.push(b'}');
    body
}

/// Records what a request returns (P7), through the service: handed to the writer, to be
/// awaited before the answer.
fn audit_read<'a>(
    node: &'a Node,
    user: &User,
    action: &str,
    c: &Collection,
    seen: &[Visible],
) -> crate::node::Submitted<'a> {
    let returned: Vec<&StoredItem> = seen.iter().map(|v| &v.item).collect();
    let detail = json!({ "collection": c.tag });
    crate::service::items::submit_reads(node, user, action, &c.id, detail, &returned)
}

type Params = Query<Vec<(String, String)>>;

fn params(
    q: Result<Params, axum::extract::rejection::QueryRejection>,
) -> Result<Vec<(String, String)>, TaxiiError> {
    q.map(|Query(v)| v)
        .map_err(|e| TaxiiError::bad_request(e.body_text()))
}

async fn get_objects(
    State(node): State<AppState>,
    TaxiiUser(user): TaxiiUser,
    Path(cid): Path<String>,
    q: Result<Params, axum::extract::rejection::QueryRejection>,
) -> Result<Response, TaxiiError> {
    let c = collection(&node, &user, &cid)?;
    let f = Filters::parse(&params(q)?, false)?;
    let (mut seen, more) = select(&node, &user, &c, &f)?;
    let recorded = audit_read(&node, &user, "taxii.objects", &c, &seen);
    unsealed(&node, &mut seen)?;
    recorded.committed().await?;
    Ok(answer("objects", &seen, more, |v| v.object.as_slice()))
}

/// A page of `seen` under `key`, each shown by `show` (see [`page`]), with the date headers.
fn answer<'a, T: AsRef<[u8]>>(
    key: &str,
    seen: &'a [Visible],
    next: Option<Cursor>,
    show: impl Fn(&'a Visible) -> T,
) -> Response {
    let (first, last) = (seen.first().map(|v| v.added), seen.last().map(|v| v.added));
    with_dates(taxii_body(page(key, seen, next, show)), first, last)
}

async fn get_manifest(
    State(node): State<AppState>,
    TaxiiUser(user): TaxiiUser,
    Path(cid): Path<String>,
    q: Result<Params, axum::extract::rejection::QueryRejection>,
) -> Result<Response, TaxiiError> {
    let c = collection(&node, &user, &cid)?;
    let f = Filters::parse(&params(q)?, false)?;
    let (seen, more) = select(&node, &user, &c, &f)?;
    audit_read(&node, &user, "taxii.manifest", &c, &seen)
        .committed()
        .await?;
    Ok(answer("objects", &seen, more, |v| {
        json!({ "id": v.item.id, "date_added": taxii_time(v.added),
                "version": v.item.modified, "media_type": STIX_MEDIA })
        .to_string()
    }))
}

/// The object's versions the caller may see, or 404. A missing object and one the caller may
/// not read get the same answer after the same work, one audit entry each (the refusal's names
/// its rule), so that neither the answer nor its time tells them apart (H8).
async fn object_versions(
    node: &Node,
    user: &User,
    c: &Collection,
    oid: &str,
    params: Vec<(String, String)>,
    default_all: bool,
    action: &str,
) -> Result<(Vec<Visible>, Option<Cursor>), TaxiiError> {
    let mut params = params;
    params.retain(|(k, _)| k != "match[id]");
    params.push(("match[id]".into(), oid.to_owned()));
    let f = Filters::parse(&params, default_all)?;
    let (seen, next) = select(node, user, c, &f)?;
    if seen.is_empty() {
        let held: Vec<StoredItem> = crate::service::items::versions(node, oid)?
            .into_iter()
            .filter(|s| item_tags(s).contains(&c.tag))
            .collect();
        crate::service::items::record_unseen(node, user, action, oid, &held).await?;
        return Err(TaxiiError::not_found(format!(
            "no object `{oid}` in this collection"
        )));
    }
    Ok((seen, next))
}

async fn get_object(
    State(node): State<AppState>,
    TaxiiUser(user): TaxiiUser,
    Path((cid, oid)): Path<(String, String)>,
    q: Result<Params, axum::extract::rejection::QueryRejection>,
) -> Result<Response, TaxiiError> {
    let c = collection(&node, &user, &cid)?;
    if oid.starts_with("marking-definition--")
        && let Some(marking) = marking::readable(&node, &user, &oid)?
    {
        return Ok(taxii_json(&json!({ "more": false, "objects": [marking] })));
    }
    let (mut seen, next) =
        object_versions(&node, &user, &c, &oid, params(q)?, false, "item.read").await?;
    // A read by id is an item read, recorded as the API records one (P7).
    let read: Vec<&StoredItem> = seen.iter().map(|v| &v.item).collect();
    let recorded = crate::service::items::submit_item_reads(&node, &user, &read, "taxii");
    unsealed(&node, &mut seen)?;
    recorded.committed().await?;
    Ok(answer("objects", &seen, next, |v| v.object.as_slice()))
}

async fn get_versions(
    State(node): State<AppState>,
    TaxiiUser(user): TaxiiUser,
    Path((cid, oid)): Path<(String, String)>,
    q: Result<Params, axum::extract::rejection::QueryRejection>,
) -> Result<Response, TaxiiError> {
    let c = collection(&node, &user, &cid)?;
    let (seen, more) =
        object_versions(&node, &user, &c, &oid, params(q)?, true, "item.read").await?;
    let read: Vec<&StoredItem> = seen.iter().map(|v| &v.item).collect();
    crate::service::items::record_item_reads(&node, &user, &read, "taxii").await?;
    Ok(answer("versions", &seen, more, |v| {
        Value::from(v.item.modified.as_str()).to_string()
    }))
}

// ---------------------------------------------------------------------------------------------
// Adding, deleting, status.

fn detail(object: &Value, message: Option<String>) -> Value {
    let version = gsomia_core::version_of(object);
    let mut d = json!({ "id": object["id"].as_str().unwrap_or(""), "version": version });
    if let Some(m) = message {
        d["message"] = m.into();
    }
    d
}

async fn add_objects(
    State(node): State<AppState>,
    TaxiiUser(user): TaxiiUser,
    Path(cid): Path<String>,
    req: Request,
) -> Result<Response, TaxiiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .replace(' ', "")
        .to_ascii_lowercase();
    if content_type != MEDIA {
        return Err(TaxiiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            format!("POST an envelope as `{MEDIA}`"),
        ));
    }
    let limit = node.config.max_body_bytes;
    let bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| {
            TaxiiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload too large",
                format!("the body is over max_content_length ({limit} bytes)"),
            )
        })?;
    let envelope: Value = serde_json::from_slice(&bytes)
        .map_err(|e| TaxiiError::bad_request(format!("the body is not JSON: {e}")))?;
    let objects = envelope
        .get("objects")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            TaxiiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Unprocessable",
                "an envelope has an `objects` list",
            )
        })?;
    let c = collection(&node, &user, &cid)?;
    let may = gsomia_core::permit(&user, Action::Publish).is_ok();
    let Some(topic) = c.topic.clone().filter(|_| may) else {
        let e = ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} may not add objects to `{}`: only publishers, and only to this party's topic collections",
                user.id, c.title
            ),
        );
        return Err(crate::service::refuse(&node, &user, "taxii.add", &c.id, e)
            .await
            .into());
    };
    let mut labels: HashMap<String, Result<Label, String>> = HashMap::new();
    let mut successes = vec![];
    let mut failures = vec![];
    // Markings first: objects may name a marking that comes later in the envelope.
    let mut markings = vec![];
    for o in objects.iter().filter(|o| o["type"] == "marking-definition") {
        let Some(id) = o["id"]
            .as_str()
            .filter(|i| i.starts_with("marking-definition--"))
        else {
            failures.push(detail(o, Some("a marking-definition needs an id".into())));
            continue;
        };
        if let Some(label) = marking::label_of(o) {
            labels.insert(id.to_owned(), label);
        }
        markings.push(o.clone());
    }
    let mut to_publish = vec![];
    for o in objects.iter().filter(|o| o["type"] != "marking-definition") {
        let refs: Vec<&str> = o["object_marking_refs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut label = None;
        for r in refs {
            if !labels.contains_key(r)
                && let Some(v) = marking::posted(&node, r)?
                && let Some(l) = marking::label_of(&v)
            {
                labels.insert(r.to_owned(), l);
            }
            if let Some(l) = labels.get(r) {
                label = Some(l.clone());
                break;
            }
        }
        let label = match label {
            None => {
                failures.push(detail(o, Some(format!(
                    "no gsomia classification: `object_marking_refs` must name a marking-definition with the extension `{EXTENSION}` (this collection declares no default)"
                ))));
                continue;
            }
            Some(Err(m)) => {
                failures.push(detail(o, Some(m)));
                continue;
            }
            Some(Ok(l)) => l,
        };
        if !label.topics.iter().any(|t| t.as_str() == topic) {
            failures.push(detail(
                o,
                Some(format!(
                    "the label's topics do not include this collection's topic `{topic}`"
                )),
            ));
            continue;
        }
        to_publish.push((label, o.clone()));
    }
    let shown: Vec<Value> = to_publish.iter().map(|(_, o)| o.clone()).collect();
    let (kept, published) =
        crate::service::items::publish_many(&node, &user, &markings, to_publish).await?;
    for (o, outcome) in markings.iter().zip(kept).chain(shown.iter().zip(published)) {
        match outcome {
            Ok(()) => successes.push(detail(o, None)),
            Err(m) => failures.push(detail(o, Some(m))),
        }
    }
    let status_id = uuid_from(&format!(
        "gsomia-taxii-status\n{}\n{}",
        user.id,
        crate::data::random32()
            .map(|r| gsomia_crypto::hex(&r))
            .unwrap_or_default()
    ));
    let count = |v: &Vec<Value>| v.len();
    let total = objects.len();
    let mut status = Map::new();
    status.insert("id".into(), status_id.clone().into());
    status.insert("status".into(), "complete".into());
    status.insert(
        "request_timestamp".into(),
        taxii_time(added_micros(&node.now_text())).into(),
    );
    status.insert("total_count".into(), total.into());
    status.insert("success_count".into(), count(&successes).into());
    status.insert("failure_count".into(), count(&failures).into());
    status.insert("pending_count".into(), 0.into());
    if !successes.is_empty() {
        status.insert("successes".into(), successes.into());
    }
    if !failures.is_empty() {
        status.insert("failures".into(), failures.into());
    }
    let status = Value::Object(status);
    keep_status(&node, &status_id, &user.id, &status);
    let mut resp = taxii_json(&status);
    *resp.status_mut() = StatusCode::ACCEPTED;
    Ok(resp)
}

/// The most status resources kept in memory (the oldest goes first): about 10 MiB with
/// envelopes of 100 objects, kept as text.
const STATUSES: usize = 1024;

/// Keeps a status resource for its poster to read soon after posting. Statuses live in memory,
/// the newest [`STATUSES`]: they are a convenience for the client, not the record, which is the
/// audit log (every object's decision is there).
fn keep_status(node: &Node, id: &str, user: &str, status: &Value) {
    let mut kept = crate::node::lock(&node.taxii_statuses);
    if kept.len() == STATUSES {
        kept.pop_front();
    }
    // Kept as text: a few kilobytes each, where the parsed value would take several times that.
    kept.push_back((id.to_owned(), user.to_owned(), status.to_string()));
}

async fn get_status(
    State(node): State<AppState>,
    TaxiiUser(user): TaxiiUser,
    Path(sid): Path<String>,
) -> Result<Response, TaxiiError> {
    let found = {
        let kept = crate::node::lock(&node.taxii_statuses);
        kept.iter()
            .find(|(id, u, _)| *id == sid && *u == user.id)
            .and_then(|(_, _, status)| serde_json::from_str::<Value>(status).ok())
    };
    match found {
        Some(status) => Ok(taxii_json(&status)),
        None => Err(TaxiiError::not_found(format!("no status `{sid}` of yours"))),
    }
}

async fn delete_object(
    State(node): State<AppState>,
    TaxiiUser(user): TaxiiUser,
    Path((cid, oid)): Path<(String, String)>,
    q: Result<Params, axum::extract::rejection::QueryRejection>,
) -> Result<Response, TaxiiError> {
    let action = "item.destroy";
    // The role first: a refusal says nothing about whether the object exists (H8).
    crate::service::permit(&node, &user, Action::Destroy, action, &oid).await?;
    let c = collection(&node, &user, &cid)?;
    if c.topic.is_none() {
        let e = ApiError::forbidden(
            gsomia_core::Rule::P5,
            "a partner's collection is read-only here: destroy its items through the API",
        );
        return Err(crate::service::refuse(&node, &user, action, &oid, e)
            .await
            .into());
    }
    let (seen, _) = object_versions(&node, &user, &c, &oid, params(q)?, true, action).await?;
    let versions: Vec<StoredItem> = seen.into_iter().map(|v| v.item).collect();
    crate::service::items::destroy(&node, &user, &versions, "", "taxii").await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA))],
        "{}",
    )
        .into_response())
}
