//! The console's pages. Each asks the service layer, as the API does, and renders what it
//! answered; a refusal is shown with its rule.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use gsomia_core::{Action, Marking, PartyCode, permit};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::i18n::{Lang, t};
use super::{AppState, SESSION, SIGNIN, Signed, cookie, random_text, set_cookie};
use crate::error::ApiError;
use crate::node::Node;
use crate::service;

/// The highest marking on a page, for its banners.
struct Banner {
    rank: u16,
    text: String,
}

/// The banner of the highest of `markings` in this node's scheme (`極秘 GOKUHI — originator
/// KOR`); none if the page shows nothing classified.
fn banner<'a>(
    node: &Node,
    l: Lang,
    markings: impl IntoIterator<Item = &'a Marking>,
) -> Option<Banner> {
    let world = node.world();
    let scheme = world.scheme(node.party())?;
    markings
        .into_iter()
        .filter_map(|m| {
            let level = scheme.level(m.level.as_str())?;
            Some(Banner {
                rank: level.rank,
                text: format!(
                    "{} {} — {} {}",
                    level.name,
                    level.id,
                    t(l, "originator"),
                    m.originator
                ),
            })
        })
        .max_by_key(|b| b.rank)
}

/// The page frame: the banner at top and bottom, the navigation, the body.
fn page(
    node: &Node,
    l: Lang,
    title: &str,
    who: Option<&Signed>,
    banner: Option<Banner>,
    body: Markup,
) -> Markup {
    let (class, text) = match &banner {
        Some(b) => (format!("banner rank-{}", b.rank.min(3)), b.text.clone()),
        None => (
            "banner rank-0".to_owned(),
            t(l, "NO CLASSIFIED CONTENT ON THIS PAGE").to_owned(),
        ),
    };
    html! {
        (DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — gsomia " (node.party()) }
                link rel="stylesheet" href="/console/console.css";
            }
            body {
                div class=(class) role="banner" { (text) }
                @if let Some(w) = who {
                    nav aria-label="main" {
                        span.node { "gsomia · " (node.party()) }
                        a href="/console/" { (t(l, "Home")) }
                        a href="/console/items" { (t(l, "Items")) }
                        a href="/console/publish" { (t(l, "Publish")) }
                        a href="/console/consents" { (t(l, "Consents")) }
                        @if permit(&w.user, Action::Correspondence).is_ok() {
                            a href="/console/treaty" { (t(l, "Treaty")) }
                        }
                        @if permit(&w.user, Action::Audit).is_ok() {
                            a href="/console/incidents" { (t(l, "Incidents")) }
                            a href="/console/audit" { (t(l, "Audit")) }
                        }
                        form.search method="get" action="/console/search" role="search" {
                            input name="q" type="search" aria-label=(t(l, "Search")) placeholder=(t(l, "Search"));
                        }
                        form.lang method="post" action="/console/lang" {
                            input type="hidden" name="csrf" value=(w.csrf);
                            select name="lang" aria-label=(t(l, "Language")) {
                                @for x in Lang::ALL { option value=(x.code()) selected[x == l] { (x.name()) } }
                            }
                            button type="submit" { (t(l, "Set")) }
                        }
                        form.signout method="post" action="/console/signout" {
                            input type="hidden" name="csrf" value=(w.csrf);
                            span.user { (w.user.id) }
                            button type="submit" { (t(l, "Sign out")) }
                        }
                    }
                }
                main { h1 { (title) } (body) }
                div class=(class) role="contentinfo" { (text) }
            }
        }
    }
}

fn html_response(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// A refusal or an error as a page: its status, its message and, for a refusal, its rule.
fn refused(node: &Node, who: &Signed, e: &ApiError) -> Response {
    let l = who.lang;
    let body = html! {
        p.refusal {
            @if let Some(rule) = e.rule {
                (t(l, "Refused")) ", " strong { (rule.id()) } " (docs/RULES.md): "
            }
            (e.message)
        }
    };
    html_response(
        e.status,
        page(
            node,
            who.lang,
            t(who.lang, "Not done"),
            Some(who),
            None,
            body,
        ),
    )
}

/// A level as its scheme writes it: native name and id (`極秘 GOKUHI`).
fn level_text(node: &Node, party: PartyCode, level: &str) -> String {
    node.world()
        .scheme(party)
        .and_then(|s| s.level(level))
        .map_or_else(|| level.to_owned(), |l| format!("{} {}", l.name, l.id))
}

fn marking_of(v: &Value) -> Option<Marking> {
    serde_json::from_value(v["marking"].clone()).ok()
}

// ---------------------------------------------------------------------------------------------
// Sign-in.

pub(super) async fn signin_page(
    State(node): State<AppState>,
    parts: axum::http::request::Parts,
) -> Response {
    signin_form(&node, Lang::of_request(&parts), StatusCode::OK, None)
}

fn signin_form(node: &Node, l: Lang, status: StatusCode, error: Option<&str>) -> Response {
    let csrf = random_text();
    let body = html! {
        @if let Some(e) = error { p.refusal role="alert" { (e) } }
        form method="post" action="/console/signin" {
            input type="hidden" name="csrf" value=(csrf);
            label { (t(l, "User id")) " " input name="user" autocomplete="username" required; }
            label { (t(l, "Token or passphrase")) " " input name="token" type="password" autocomplete="current-password" required; }
            button type="submit" { (t(l, "Sign in")) }
        }
    };
    let mut resp = html_response(status, page(node, l, t(l, "Sign in"), None, None, body));
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(node, SIGNIN, &csrf, Some(600)),
    );
    resp
}

#[derive(Deserialize)]
pub(super) struct SigninForm {
    user: String,
    token: String,
    csrf: String,
}

pub(super) async fn signin(
    State(node): State<AppState>,
    parts: axum::http::request::Parts,
    Form(form): Form<SigninForm>,
) -> Response {
    if cookie(&parts, SIGNIN) != Some(form.csrf.as_str()) || form.csrf.is_empty() {
        return (
            StatusCode::FORBIDDEN,
            "this sign-in form is not from this browser (CSRF): nothing was done",
        )
            .into_response();
    }
    // A token, or else the user's passphrase.
    let signed = node.user_by_token(form.token.trim()).map(|u| {
        u.filter(|u| u.id == form.user.trim()).map(|u| {
            let hash = gsomia_crypto::token_hash(form.token.trim());
            (u, super::Credential::Token(hash))
        })
    });
    let signed = match signed {
        Ok(None) => {
            // Argon2id takes tens of milliseconds: off the runtime's threads.
            let (n, id, pass) = (
                node.clone(),
                form.user.trim().to_owned(),
                form.token.clone(),
            );
            match tokio::task::spawn_blocking(move || n.user_by_passphrase(&id, &pass)).await {
                Ok(found) => found.map(|u| {
                    u.map(|(u, phc)| {
                        let user = u.id.clone();
                        (u, super::Credential::Passphrase { user, phc })
                    })
                }),
                Err(e) => {
                    return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
                }
            }
        }
        other => other,
    };
    let (user, credential) = match signed {
        Ok(Some(found)) => found,
        Ok(None) => {
            crate::node::log_unauthenticated("console", "a sign-in with an unknown id or token");
            return signin_form(
                &node,
                Lang::of_request(&parts),
                StatusCode::UNAUTHORIZED,
                Some("Unknown user id, token or passphrase, or it is disabled or expired."),
            );
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let idle = std::time::Duration::from_secs(node.config.console_idle_secs);
    let Some((id, _)) = node.sessions.open(credential, idle) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no randomness").into_response();
    };
    tracing::info!(user = %user.id, "console: signed in");
    let mut resp = Redirect::to("/console/").into_response();
    let h = resp.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(&node, SESSION, &id, None));
    h.append(header::SET_COOKIE, set_cookie(&node, SIGNIN, "", Some(0)));
    resp
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    csrf: String,
}

pub(super) async fn signout(
    State(node): State<AppState>,
    who: Signed,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = who.forged(&form.csrf) {
        return refused;
    }
    node.sessions.close(&who.session);
    let mut resp = Redirect::to("/console/signin").into_response();
    resp.headers_mut()
        .append(header::SET_COOKIE, set_cookie(&node, SESSION, "", Some(0)));
    resp
}

// ---------------------------------------------------------------------------------------------
// Home.

pub(super) async fn home(State(node): State<AppState>, who: Signed) -> Response {
    let today = node.today();
    let world = node.world();
    let ours: Vec<_> = world
        .agreements()
        .iter()
        .filter(|a| a.names(node.party()))
        .collect();
    // Each part is shown to whoever the service lets see it; asked only then, so that a
    // page view is not a refusal in the log.
    let status = match permit(&who.user, Action::Status) {
        Ok(()) => service::status::report(&node).ok(),
        Err(_) => None,
    };
    let requests = match permit(&who.user, Action::AnswerConsent) {
        Ok(()) => service::consents::requests(&node, &who.user).await.ok(),
        Err(_) => None,
    };
    let incidents = match permit(&who.user, Action::ManageIncidents) {
        Ok(()) => service::incidents::list(&node, &who.user).await.ok(),
        Err(_) => None,
    };
    let l = who.lang;
    let body = html! {
        section {
            h2 { (t(l, "Agreements on")) " " (today) }
            table {
                thead { tr { th { (t(l, "Agreement")) } th { (t(l, "State")) } th { (t(l, "In force since")) } th { (t(l, "Notice deadline")) } th { (t(l, "Ends")) } } }
                tbody {
                    @for a in &ours {
                        @let s = a.state_at(today);
                        tr {
                            td { a href=(format!("/console/agreements/{}", a.id().as_str())) { (a.title()) } br; small { (a.id().as_str()) } }
                            td { (s.state) }
                            td { (s.entered_into_force.map(|d| d.to_string()).unwrap_or_default()) }
                            td {
                                @match (s.state.in_force() && s.terminates_on.is_none(), s.term_ends) {
                                    (true, Some(end)) => {
                                        (t(l, "notice must be received by")) " "
                                        (end.add_days(-i64::from(a.terms().notice_days)))
                                    }
                                    _ => { "—" }
                                }
                            }
                            td { (s.terminates_on.map(|d| d.to_string()).unwrap_or_else(|| "—".into())) }
                        }
                    }
                }
            }
        }
        @if let Some(status) = &status {
            section {
                h2 { (t(l, "Partners")) }
                table {
                    thead { tr { th { (t(l, "Partner")) } th { (t(l, "Queued")) } th { (t(l, "Last delivered")) } th { (t(l, "Last failure")) } th { (t(l, "Our checkpoint cosigned at")) } th { (t(l, "Their checkpoint witnessed")) } } }
                    tbody {
                        @for p in status["partners"].as_array().into_iter().flatten() {
                            tr {
                                td { (p["party"].as_str().unwrap_or_default()) }
                                td { (p["queued"]) }
                                td { (p["last_delivered"].as_str().unwrap_or("—")) }
                                td { (p["last_error"]["message"].as_str().unwrap_or("—")) }
                                td { (p["cosigned_our_checkpoint_of_size"].as_u64().map_or("—".into(), |s| s.to_string())) }
                                td { (p["witnessed_their_checkpoint_of_size"].as_u64().map_or("—".into(), |s| s.to_string())) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(r) = &requests {
            section {
                h2 { (t(l, "Consent requests")) }
                p { a href="/console/consents" { (pending(r)) " " (t(l, "waiting for an answer")) } }
            }
        }
        @if let Some(i) = &incidents {
            section {
                h2 { (t(l, "Incidents")) }
                p { a href="/console/incidents" { (i["incidents"].as_array().map_or(0, Vec::len)) " " (t(l, "recorded")) } }
            }
        }
    };
    html_response(
        StatusCode::OK,
        page(&node, who.lang, t(who.lang, "Home"), Some(&who), None, body),
    )
}

fn pending(requests: &Value) -> usize {
    requests["requests"]
        .as_array()
        .map_or(0, |r| r.iter().filter(|q| q["answer"].is_null()).count())
}

// ---------------------------------------------------------------------------------------------
// Items.

#[derive(Deserialize, Default)]
pub(super) struct ItemsQuery {
    topic: Option<String>,
    originator: Option<String>,
    level: Option<String>,
    since: Option<String>,
    until: Option<String>,
    after: Option<i64>,
}

/// A form's text field: `None` when empty.
fn given(field: Option<&String>) -> Option<String> {
    field.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

pub(super) async fn items(
    State(node): State<AppState>,
    who: Signed,
    Query(q): Query<ItemsQuery>,
) -> Response {
    let day = |d: Option<&String>| -> Result<Option<gsomia_core::Date>, ApiError> {
        given(d)
            .map(|d| {
                d.parse()
                    .map_err(|e| ApiError::bad_request(format!("date `{d}`: {e}")))
            })
            .transpose()
    };
    let filter = match (day(q.since.as_ref()), day(q.until.as_ref())) {
        (Ok(since), Ok(until)) => service::items::ListFilter {
            topic: given(q.topic.as_ref()),
            originator: given(q.originator.as_ref()),
            level: given(q.level.as_ref()),
            since,
            until,
            after: q.after,
            limit: Some(50),
            ..Default::default()
        },
        (Err(e), _) | (_, Err(e)) => return refused(&node, &who, &e),
    };
    let listed = match service::items::list(&node, &who.user, &filter).await {
        Ok(v) => v,
        Err(e) => return refused(&node, &who, &e),
    };
    let items: Vec<Value> = listed["items"].as_array().cloned().unwrap_or_default();
    let markings: Vec<Marking> = items.iter().filter_map(marking_of).collect();
    let levels = own_levels(&node);
    let next = listed["next"]
        .as_i64()
        .filter(|n| Some(*n) != q.after && !items.is_empty());
    let text = |f: &Option<String>| f.clone().unwrap_or_default();
    let l = who.lang;
    let body = html! {
        form method="get" action="/console/items" class="filters" {
            label { (t(l, "Topic")) " " input name="topic" value=(text(&q.topic)); }
            label { (t(l, "Originator")) " " input name="originator" size="4" value=(text(&q.originator)); }
            label { (t(l, "Level")) " " select name="level" {
                option value="" { (t(l, "any")) }
                @for (id, name) in &levels { option value=(id) selected[Some(id) == q.level.as_ref()] { (name) } }
            } }
            label { (t(l, "Since")) " " input name="since" type="date" value=(text(&q.since)); }
            label { (t(l, "Until")) " " input name="until" type="date" value=(text(&q.until)); }
            button type="submit" { (t(l, "Filter")) }
        }
        @if items.is_empty() {
            p { (t(l, "Nothing you may read here.")) }
        } @else {
            table {
                thead { tr { th { (t(l, "Marking")) } th { (t(l, "Name")) } th { (t(l, "Type")) } th { (t(l, "Topics")) } th { (t(l, "Added")) } } }
                tbody {
                    @for i in &items {
                        @let m = marking_of(i);
                        tr {
                            td {
                                @if let Some(m) = &m {
                                    (level_text(&node, m.party, m.level.as_str())) " · " (m.originator)
                                }
                            }
                            td { a href=(format!("/console/items/{}", i["id"].as_str().unwrap_or_default())) {
                                (i["object"]["name"].as_str().unwrap_or(i["id"].as_str().unwrap_or_default()))
                            } }
                            td { (i["object"]["type"].as_str().unwrap_or_default()) }
                            td { (joined(&i["label"]["topics"])) }
                            td { (i["added"].as_str().unwrap_or_default().get(..10).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
        @if let Some(n) = next {
            p { a href=(format!("/console/items?{}", next_query(&q, n))) { (t(l, "Next page")) " →" } }
        }
    };
    html_response(
        StatusCode::OK,
        page(
            &node,
            l,
            t(l, "Items"),
            Some(&who),
            banner(&node, l, &markings),
            body,
        ),
    )
}

/// The items page's query for the page after item number `after`, the filters kept.
fn next_query(q: &ItemsQuery, after: i64) -> String {
    let mut out = url_pairs(&[
        ("topic", &q.topic),
        ("originator", &q.originator),
        ("level", &q.level),
        ("since", &q.since),
        ("until", &q.until),
    ]);
    out.push_str(&format!("after={after}"));
    out
}

/// `k=v&` for each given value, percent-encoded.
fn url_pairs(pairs: &[(&str, &Option<String>)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            out.push_str(k);
            out.push('=');
            for b in v.bytes() {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            out.push('&');
        }
    }
    out
}

/// This node's levels: id and the name as the scheme writes it.
fn own_levels(node: &Node) -> Vec<(String, String)> {
    node.world()
        .scheme(node.party())
        .map(|s| {
            s.levels()
                .iter()
                .map(|l| (l.id.as_str().to_owned(), format!("{} {}", l.name, l.id)))
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Search.

#[derive(Deserialize)]
pub(super) struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// Full text and STIX fields over what the user may read (`service::search`), with each hit's
/// related items.
pub(super) async fn search(
    State(node): State<AppState>,
    who: Signed,
    Query(q): Query<SearchQuery>,
) -> Response {
    let l = who.lang;
    let found = if q.q.trim().is_empty() {
        None
    } else {
        match service::search::search(&node, &who.user, &q.q, Some(50)).await {
            Ok(v) => Some(v),
            Err(e) => return refused(&node, &who, &e),
        }
    };
    let items: Vec<Value> = found
        .as_ref()
        .and_then(|f| f["items"].as_array().cloned())
        .unwrap_or_default();
    let markings: Vec<Marking> = items.iter().filter_map(marking_of).collect();
    let body = html! {
        form method="get" action="/console/search" class="filters" role="search" {
            label { (t(l, "Words to find")) " " input name="q" type="search" size="40" value=(q.q); }
            button type="submit" { (t(l, "Search")) }
        }
        p { small { "name:  description:  pattern:  value:  type:" } }
        @if let Some(f) = &found {
            @if items.is_empty() { p { (t(l, "No match you may read.")) } }
            @else {
                table {
                    thead { tr { th { (t(l, "Marking")) } th { (t(l, "Name")) } th { (t(l, "Type")) } th { (t(l, "Matched in")) } th { (t(l, "Related")) } } }
                    tbody {
                        @for i in &items {
                            tr {
                                td { @if let Some(m) = marking_of(i) { (level_text(&node, m.party, m.level.as_str())) " · " (m.originator) } }
                                td { a href=(format!("/console/items/{}", i["id"].as_str().unwrap_or_default())) {
                                    (i["name"].as_str().or(i["value"].as_str()).unwrap_or(i["id"].as_str().unwrap_or_default()))
                                } }
                                td { (i["type"].as_str().unwrap_or_default()) }
                                td { (joined(&i["matched"])) }
                                td {
                                    @for r in i["related"].as_array().into_iter().flatten() {
                                        a href=(format!("/console/items/{}", r["id"].as_str().unwrap_or_default())) {
                                            (r["originator"].as_str().unwrap_or_default()) ": " (joined(&r["values"]))
                                        } " "
                                    }
                                }
                            }
                        }
                    }
                }
                @if f["more"] == true { p { (t(l, "More results exist: narrow the search.")) } }
            }
        }
    };
    html_response(
        StatusCode::OK,
        page(
            &node,
            l,
            t(l, "Search"),
            Some(&who),
            banner(&node, l, &markings),
            body,
        ),
    )
}

/// A JSON array of strings, comma-separated (empty if it is not one).
fn joined(list: &Value) -> String {
    list.as_array()
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// The publish form: a STIX 2.1 object (as the analyst's tools export it) and the label this
/// party gives it.
pub(super) async fn publish_page(State(node): State<AppState>, who: Signed) -> Response {
    publish_form(&node, &who, StatusCode::OK, None, &PublishForm::default())
}

#[derive(Deserialize, Default)]
pub(super) struct PublishForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    object: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    topics: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    releasable_to: String,
    #[serde(default)]
    grading: String,
}

fn publish_form(
    node: &Node,
    who: &Signed,
    status: StatusCode,
    error: Option<&ApiError>,
    form: &PublishForm,
) -> Response {
    let levels = own_levels(node);
    let l = who.lang;
    let body = html! {
        @if let Some(e) = error {
            p.refusal role="alert" {
                @if let Some(rule) = e.rule { "Refused, " strong { (rule.id()) } ": " }
                (e.message)
            }
        }
        form method="post" action="/console/publish" class="publish" {
            input type="hidden" name="csrf" value=(who.csrf);
            label { (t(l, "STIX 2.1 object (JSON)")) textarea name="object" rows="12" cols="80" required { (form.object) } }
            label { (t(l, "Level")) " " select name="level" {
                @for (id, text) in &levels { option value=(id) selected[*id == form.level] { (text) } }
            } }
            label { (t(l, "Topics (comma-separated)")) " " input name="topics" value=(form.topics) required; }
            label { (t(l, "Purpose")) " " input name="purpose" value=(form.purpose) required; }
            label { (t(l, "Releasable to (party codes, comma-separated)")) " " input name="releasable_to" value=(form.releasable_to); }
            label { (t(l, "Grading (e.g. B2)")) " " input name="grading" value=(form.grading); }
            button type="submit" { (t(l, "Publish")) }
        }
    };
    html_response(
        status,
        page(
            node,
            who.lang,
            t(who.lang, "Publish"),
            Some(who),
            None,
            body,
        ),
    )
}

/// Publishes what the form describes: the label is built from its fields (this party the
/// originator, now the time), and the service decides as for `POST /api/v1/items`.
pub(super) async fn publish(
    State(node): State<AppState>,
    who: Signed,
    Form(form): Form<PublishForm>,
) -> Response {
    if let Some(refused) = who.forged(&form.csrf) {
        return refused;
    }
    let list = |text: &str| -> Vec<String> {
        text.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let mut label = serde_json::json!({
        "originator": node.party(),
        "level": form.level,
        "topics": list(&form.topics),
        "purpose": form.purpose.trim(),
        "caveats": [],
        "created": now,
    });
    if !form.releasable_to.trim().is_empty() {
        label["releasable_to"] = list(&form.releasable_to).into();
    }
    if !form.grading.trim().is_empty() {
        label["grading"] = form.grading.trim().into();
    }
    let parsed = serde_json::from_str::<Value>(&form.object)
        .map_err(|e| ApiError::bad_request(format!("the object is not JSON: {e}")))
        .and_then(|object| {
            serde_json::from_value::<gsomia_core::Label>(label)
                .map(|label| (label, object))
                .map_err(|e| ApiError::unprocessable(format!("label: {e}")))
        });
    let result = match parsed {
        Ok((label, object)) => service::items::publish(&node, &who.user, label, object).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => Redirect::to(&format!(
            "/console/items/{}",
            v["id"].as_str().unwrap_or_default()
        ))
        .into_response(),
        Err(e) => publish_form(&node, &who, e.status, Some(&e), &form),
    }
}

pub(super) async fn item(
    State(node): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
) -> Response {
    let (stored, item, marking) =
        match service::items::read(&node, &who.user, &id, None, "console").await {
            Ok(r) => r,
            Err(e) => return refused(&node, &who, &e),
        };
    let v = service::items::item_json(&stored, &item, &marking);
    let o = &v["object"];
    let may_release = permit(&who.user, Action::Release).is_ok();
    let may_derive = permit(&who.user, Action::Derive).is_ok();
    let may_destroy = permit(&who.user, Action::Destroy).is_ok();
    let own = marking.originator == node.party();
    let may_reclassify = own && permit(&who.user, Action::Reclassify).is_ok();
    let may_custody = own && permit(&who.user, Action::Log).is_ok();
    node.start_index();
    let related = if node.index.ready().is_ok() {
        service::search::related_to(&node, &who.user, &id, o)
    } else {
        vec![]
    };
    let levels = own_levels(&node);
    let distribution = if may_release {
        service::items::distribution(&node, &who.user, &id)
            .await
            .ok()
    } else {
        None
    };
    let may_ask = permit(&who.user, Action::AskConsent).is_ok();
    let partners: Vec<PartyCode> = node
        .world()
        .agreements()
        .iter()
        .flat_map(|a| a.parties().iter().copied())
        .filter(|p| *p != node.party())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let l = who.lang;
    let body = html! {
        p.marking { strong { (level_text(&node, marking.party, marking.level.as_str())) } " · " (t(l, "originator")) " " (marking.originator) }
        dl {
            dt { (t(l, "Name")) } dd { (o["name"].as_str().unwrap_or_default()) }
            dt { (t(l, "Type")) } dd { (o["type"].as_str().unwrap_or_default()) }
            @if let Some(d) = o["description"].as_str() { dt { (t(l, "Description")) } dd { (d) } }
            @if let Some(p) = o["pattern"].as_str() { dt { (t(l, "Pattern")) } dd { code { (p) } } }
            dt { (t(l, "Topics")) } dd { (joined(&v["label"]["topics"])) }
            dt { (t(l, "Purpose")) } dd { (v["label"]["purpose"].as_str().unwrap_or_default()) }
            dt { (t(l, "Grading")) } dd { (v["label"]["grading"].as_str().unwrap_or("—")) }
            dt { (t(l, "Originator's level")) } dd { (level_text(&node, marking.originator, v["label"]["level"].as_str().unwrap_or_default())) }
            dt { (t(l, "Releasable to")) } dd { (joined(&v["label"]["releasable_to"])) }
            dt { (t(l, "Version")) } dd { (v["version"].as_str().unwrap_or_default()) }
        }
        h2 { (t(l, "Custody")) }
        @if v["custody"].as_array().is_none_or(Vec::is_empty) {
            p { (t(l, "Published here.")) }
        } @else {
            ol {
                @for hop in v["custody"].as_array().into_iter().flatten() {
                    li { (hop["from"].as_str().unwrap_or_default()) " → " (hop["to"].as_str().unwrap_or_default())
                        " under " (hop["agreement"].as_str().unwrap_or_default()) ", " (hop["at"].as_str().unwrap_or_default()) }
                }
            }
        }
        @if let Some(d) = &distribution {
            h2 { (t(l, "Receipts")) }
            @if d["receipts"].as_array().is_none_or(Vec::is_empty) { p { (t(l, "None.")) } } @else {
                table {
                    thead { tr { th { (t(l, "Partner")) } th { (t(l, "Marking")) } th { (t(l, "Agreement")) } th { (t(l, "When")) } } }
                    tbody {
                        @for r in d["receipts"].as_array().into_iter().flatten() {
                            @let x = &r["receipt"];
                            tr {
                                td { (x["party"].as_str().unwrap_or_default()) }
                                td { (level_text(&node, x["marking"]["party"].as_str().and_then(|p| p.parse().ok()).unwrap_or(node.party()), x["marking"]["level"].as_str().unwrap_or_default())) }
                                td { (x["agreement"].as_str().unwrap_or_default()) }
                                td { (x["received"].as_str().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
            h2 { (t(l, "Consents")) }
            @if d["consents"].as_array().is_none_or(Vec::is_empty) { p { (t(l, "None.")) } } @else {
                ul {
                    @for c in d["consents"].as_array().into_iter().flatten() {
                        li { (c["originator"].as_str().unwrap_or_default()) " → " (c["holder"].as_str().unwrap_or_default())
                            ": " (c["to"].to_string()) ", " (t(l, "Until")) " " (c["until"].as_str().unwrap_or_default()) }
                    }
                }
            }
        }
        h2 { (t(l, "Related items")) }
        @if related.is_empty() { p { (t(l, "None.")) } } @else {
            p { (t(l, "Items you may read that hold the same observable value:")) }
            ul {
                @for r in &related {
                    li { a href=(format!("/console/items/{}", r["id"].as_str().unwrap_or_default())) { code { (r["id"].as_str().unwrap_or_default()) } }
                        " · " (r["originator"].as_str().unwrap_or_default()) " · " code { (joined(&r["values"])) } }
                }
            }
        }
        h2 { (t(l, "Report loss or compromise")) }
        form method="post" action=(format!("/console/items/{id}/incident")) {
            input type="hidden" name="csrf" value=(who.csrf);
            label { (t(l, "What")) " " select name="kind" {
                option value="possible_compromise" { (t(l, "possible compromise")) }
                option value="compromise" { (t(l, "compromise")) }
                option value="loss" { (t(l, "loss")) }
            } }
            label { (t(l, "Description")) " " input name="description" required; }
            button type="submit" { (t(l, "Report to the originator")) }
        }
        @if may_ask && marking.originator != node.party() {
            h2 { (t(l, "Ask the originator's consent to release onward")) }
            form method="post" action=(format!("/console/items/{id}/consent")) {
                input type="hidden" name="csrf" value=(who.csrf);
                label { (t(l, "To")) " " select name="to" { @for p in &partners { option value=(p) { (p) } } } }
                label { (t(l, "Until")) " " input name="until" type="date" required; }
                button type="submit" { (t(l, "Ask")) " → " (marking.originator) }
            }
        }
        @if may_derive {
            h2 { (t(l, "Derive or translate")) }
            form.publish method="post" action=(format!("/console/items/{id}/derive")) {
                input type="hidden" name="csrf" value=(who.csrf);
                label { (t(l, "STIX 2.1 object of the new item (JSON)")) textarea name="object" rows="6" required {} }
                label { (t(l, "Purpose")) " " input name="purpose" value=(v["label"]["purpose"].as_str().unwrap_or_default()) required; }
                button type="submit" { (t(l, "Derive")) }
            }
        }
        @if may_reclassify {
            h2 { (t(l, "Reclassify")) }
            form method="post" action=(format!("/console/items/{id}/reclassify")) {
                input type="hidden" name="csrf" value=(who.csrf);
                label { (t(l, "New level")) " " select name="level" {
                    @for (lid, name) in &levels { option value=(lid) selected[Some(lid.as_str()) == v["label"]["level"].as_str()] { (name) } }
                } }
                button type="submit" { (t(l, "Reclassify")) }
            }
        }
        @if may_custody {
            h2 { (t(l, "Custody at a partner")) }
            form method="get" action=(format!("/console/items/{id}/custody")) {
                label { (t(l, "Holder")) " " select name="holder" { @for p in &partners { option value=(p) { (p) } } } }
                button type="submit" { (t(l, "Ask for the proofs")) }
            }
        }
        @if may_destroy {
            h2 { (t(l, "Destroy")) }
            form method="post" action=(format!("/console/items/{id}/destroy")) {
                input type="hidden" name="csrf" value=(who.csrf);
                label { (t(l, "Reason")) " " input name="reason" required; }
                button.danger type="submit" { (t(l, "Destroy this version (the content and its key are erased)")) }
            }
        }
        @if may_release {
            h2 { (t(l, "Release")) }
            form method="get" action=(format!("/console/items/{id}/release")) {
                label { (t(l, "To")) " " select name="to" { @for p in &partners { option value=(p) { (p) } } } }
                button type="submit" { (t(l, "Preview the decision")) }
            }
        }
    };
    html_response(
        StatusCode::OK,
        page(
            &node,
            who.lang,
            t(who.lang, "Item"),
            Some(&who),
            banner(&node, who.lang, [&marking]),
            body,
        ),
    )
}

#[derive(Deserialize)]
pub(super) struct ToQuery {
    to: PartyCode,
}

/// What releasing would decide, before anything is sent; the confirmation form if allowed.
pub(super) async fn release_preview(
    State(node): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
    Query(q): Query<ToQuery>,
) -> Response {
    let decided = service::items::release_preview(&node, &who.user, &id, q.to).await;
    let l = who.lang;
    let body = match &decided {
        Ok(d) => html! {
            p.allowed {
                (t(l, "Allowed under")) " " strong { (d["agreement"].as_str().unwrap_or_default()) } "; "
                (q.to) " " (t(l, "will mark it")) " " strong { (level_text(&node, q.to, d["marking"]["level"].as_str().unwrap_or_default())) } "."
            }
            form method="post" action=(format!("/console/items/{id}/release")) {
                input type="hidden" name="csrf" value=(who.csrf);
                input type="hidden" name="to" value=(q.to);
                button type="submit" { (t(l, "Release")) " → " (q.to) }
            }
        },
        Err(e) => html! {
            p.refusal {
                (t(l, "Refused"))
                @if let Some(rule) = e.rule { ", " strong { (rule.id()) } }
                ": " (e.message)
            }
        },
    };
    let status = decided.as_ref().err().map_or(StatusCode::OK, |e| e.status);
    html_response(
        status,
        page(&node, l, t(l, "Release"), Some(&who), None, body),
    )
}

#[derive(Deserialize)]
pub(super) struct ReleaseForm {
    csrf: String,
    to: PartyCode,
}

pub(super) async fn release(
    State(node): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
    Form(form): Form<ReleaseForm>,
) -> Response {
    if let Some(refused) = who.forged(&form.csrf) {
        return refused;
    }
    let l = who.lang;
    match service::items::release(&node, &who.user, &id, form.to).await {
        Ok(d) => done(
            &node,
            &who,
            "Released",
            &id,
            html! {
                (t(l, "Released: queued for")) " " (form.to) " · " (t(l, "under")) " "
                (d["agreement"].as_str().unwrap_or_default()) ". "
                (t(l, "The delivery status is on the home page."))
            },
        ),
        Err(e) => refused(&node, &who, &e),
    }
}

/// What an action on item `id` did, and the way back to it.
fn done(node: &Node, who: &Signed, title: &'static str, id: &str, said: Markup) -> Response {
    let l = who.lang;
    let body = html! {
        p.allowed { (said) }
        p { a href=(format!("/console/items/{id}")) { (t(l, "Back to the item")) } }
    };
    html_response(
        StatusCode::OK,
        page(node, l, t(l, title), Some(who), None, body),
    )
}

#[derive(Deserialize)]
pub(super) struct DeriveForm {
    csrf: String,
    object: String,
    purpose: String,
}

/// P4: a new item (a copy, translation or extract) from this one, labelled by the service.
pub(super) async fn derive(
    State(node): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
    Form(form): Form<DeriveForm>,
) -> Response {
    if let Some(refused) = who.forged(&form.csrf) {
        return refused;
    }
    let parsed = serde_json::from_str::<Value>(&form.object)
        .map_err(|e| ApiError::bad_request(format!("object: not JSON: {e}")))
        .and_then(|o| {
            form.purpose
                .trim()
                .parse::<gsomia_core::Tag>()
                .map(|p| (o, p))
                .map_err(|e| ApiError::unprocessable(format!("purpose: {e}")))
        });
    let result = match parsed {
        Ok((object, purpose)) => {
            service::items::derive(&node, &who.user, &[(id, None)], object, purpose).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => Redirect::to(&format!(
            "/console/items/{}",
            v["id"].as_str().unwrap_or_default()
        ))
        .into_response(),
        Err(e) => refused(&node, &who, &e),
    }
}

#[derive(Deserialize)]
pub(super) struct ReclassifyForm {
    csrf: String,
    level: String,
}

/// M4: the originator's new level, signed and sent to every holder.
pub(super) async fn reclassify(
    State(node): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
    Form(form): Form<ReclassifyForm>,
) -> Response {
    if let Some(refused) = who.forged(&form.csrf) {
        return refused;
    }
    let level = match form.level.trim().parse::<gsomia_core::LevelId>() {
        Ok(level) => level,
        Err(e) => return refused(&node, &who, &ApiError::unprocessable(format!("level: {e}"))),
    };
    match service::reclassification::reclassify(&node, &who.user, &id, level).await {
        Ok(_) => Redirect::to(&format!("/console/items/{id}")).into_response(),
        Err(e) => refused(&node, &who, &e),
    }
}

#[derive(Deserialize)]
pub(super) struct DestroyForm {
    csrf: String,
    reason: String,
}

/// P5: the newest version destroyed (content and key erased), with its signed certificate.
pub(super) async fn destroy(
    State(node): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
    Form(form): Form<DestroyForm>,
) -> Response {
    if let Some(refused) = who.forged(&form.csrf) {
        return refused;
    }
    let l = who.lang;
    match service::items::destroy_one(&node, &who.user, &id, None, form.reason.trim(), "console")
        .await
    {
        Ok(c) => {
            let body = html! {
                p.allowed { (t(l, "Destroy")) ": " code { (id) } " (" (c["certificate"]["version"].as_str().unwrap_or_default()) ")" }
                pre { (serde_json::to_string_pretty(&c).unwrap_or_default()) }
            };
            html_response(
                StatusCode::OK,
                page(&node, l, t(l, "Destroy"), Some(&who), None, body),
            )
        }
        Err(e) => refused(&node, &who, &e),
    }
}

#[derive(Deserialize)]
pub(super) struct HolderQuery {
    holder: String,
}

/// P7 across nodes: a holder's audit entries about this node's item, each proven included in a
/// checkpoint of the holder's log this node witnessed; verified by the server before it is
/// shown.
pub(super) async fn custody(
    State(node): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
    Query(q): Query<HolderQuery>,
) -> Response {
    let l = who.lang;
    let report = match service::audit::custody(&node, &who.user, &id, &q.holder).await {
        Ok(r) => r,
        Err(e) => return refused(&node, &who, &e),
    };
    let body = html! {
        p.allowed { "✓ " (t(l, "verified")) ": " (report["entries"].as_array().map_or(0, Vec::len)) " · " (t(l, "Holder")) " " (q.holder) }
        table {
            thead { tr { th { "#" } th { (t(l, "When")) } th { (t(l, "Who")) } th { (t(l, "Action")) } th { (t(l, "Decision")) } th { (t(l, "Rule")) } } }
            tbody {
                @for e in report["entries"].as_array().into_iter().flatten() {
                    @let x = &e["entry"];
                    tr {
                        td { (e["seq"]) }
                        td { (x["at"].as_str().unwrap_or_default()) }
                        td { (x["actor"].as_str().unwrap_or_default()) }
                        td { (x["action"].as_str().unwrap_or_default()) }
                        td { (x["decision"].as_str().unwrap_or_default()) }
                        td { (x["rule"].as_str().unwrap_or_default()) }
                    }
                }
            }
        }
        h2 { (t(l, "Latest checkpoint")) }
        pre { (report["checkpoint"].as_str().unwrap_or_default()) }
        p { a href=(format!("/console/items/{id}")) { (t(l, "Back to the item")) } }
    };
    html_response(
        StatusCode::OK,
        page(
            &node,
            l,
            t(l, "Custody at a partner"),
            Some(&who),
            None,
            body,
        ),
    )
}

#[derive(Deserialize)]
pub(super) struct LangForm {
    csrf: String,
    lang: String,
}

/// The user's language setting: a cookie for a year.
pub(super) async fn set_lang(
    State(node): State<AppState>,
    who: Signed,
    Form(form): Form<LangForm>,
) -> Response {
    if let Some(refused) = who.forged(&form.csrf) {
        return refused;
    }
    let lang = Lang::of(&form.lang).unwrap_or(Lang::En);
    let mut resp = Redirect::to("/console/").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&node, super::i18n::COOKIE, lang.code(), Some(365 * 86_400)),
    );
    resp
}

#[derive(Deserialize)]
pub(super) struct IncidentForm {
    csrf: String,
    kind: String,
    description: String,
}

/// P6: a report of loss or compromise, to the originator and every hop of the custody chain.
pub(super) async fn incident(
    State(node): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
    Form(form): Form<IncidentForm>,
) -> Response {
    if let Some(refused) = who.forged(&form.csrf) {
        return refused;
    }
    let l = who.lang;
    match service::incidents::report(&node, &who.user, &id, form.kind, form.description).await {
        Ok(r) => done(
            &node,
            &who,
            "Incident reported",
            &id,
            html! {
                (t(l, "Reported; it goes to")) " "
                (joined(&r["reported_to"]))
                "."
            },
        ),
        Err(e) => refused(&node, &who, &e),
    }
}

#[derive(Deserialize)]
pub(super) struct ResultForm {
    csrf: String,
    result: String,
    measures: String,
}

/// P6: the follow-up of an incident (its result and the measures taken), linked to the report
/// and sent where the report went.
pub(super) async fn incident_result(
    State(node): State<AppState>,
    who: Signed,
    Path(id): Path<i64>,
    Form(form): Form<ResultForm>,
) -> Response {
    if let Some(refused) = who.forged(&form.csrf) {
        return refused;
    }
    match service::incidents::result(&node, &who.user, id, &form.result, &form.measures).await {
        Ok(_) => Redirect::to("/console/incidents").into_response(),
        Err(e) => refused(&node, &who, &e),
    }
}

#[derive(Deserialize)]
pub(super) struct ConsentAskForm {
    csrf: String,
    to: PartyCode,
    until: gsomia_core::Date,
}

/// R4: a holder asks the originator's consent to release onward.
pub(super) async fn ask_consent(
    State(node): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
    Form(form): Form<ConsentAskForm>,
) -> Response {
    if let Some(refused) = who.forged(&form.csrf) {
        return refused;
    }
    let l = who.lang;
    match service::consents::ask(&node, &who.user, &id, form.to, form.until).await {
        Ok(_) => done(
            &node,
            &who,
            "Consent asked",
            &id,
            html! {
                (t(l, "Asked; the originator's answer will show under Consents."))
            },
        ),
        Err(e) => refused(&node, &who, &e),
    }
}

/// P6: the incidents this node recorded, its own and those its partners reported, for its
/// officers.
pub(super) async fn incidents(State(node): State<AppState>, who: Signed) -> Response {
    let listed = match service::incidents::list(&node, &who.user).await {
        Ok(v) => v,
        Err(e) => return refused(&node, &who, &e),
    };
    let l = who.lang;
    let body = html! {
        @let list = listed["incidents"].as_array().cloned().unwrap_or_default();
        @if list.is_empty() { p { (t(l, "None.")) } }
        table {
            thead { tr { th { "#" } th { (t(l, "When")) } th { (t(l, "What")) } th { (t(l, "Item")) } th { (t(l, "Reported by")) } th { (t(l, "Description")) } th { (t(l, "Follow-up")) } } }
            tbody {
                @for i in list.iter().rev() {
                    @let followed = list.iter().any(|f| f["follows"] == i["id"]);
                    tr {
                        td { (i["id"]) }
                        td { (i["at"].as_str().unwrap_or_default()) }
                        td { (i["kind"].as_str().unwrap_or_default().replace('_', " "))
                            @if let Some(n) = i["follows"].as_i64() { " (#" (n) ")" } }
                        td { code { (i["item"].as_str().unwrap_or_default()) } }
                        td { (i["reported_by"].as_str().unwrap_or_default()) }
                        td { (i["description"].as_str().unwrap_or_default()) }
                        td {
                            @if i["kind"] != "result" && !followed {
                                form method="post" action=(format!("/console/incidents/{}/result", i["id"])) {
                                    input type="hidden" name="csrf" value=(who.csrf);
                                    label { (t(l, "Result")) " " input name="result" required; }
                                    label { (t(l, "Measures")) " " input name="measures" required; }
                                    button type="submit" { (t(l, "Report the result")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    html_response(
        StatusCode::OK,
        page(
            &node,
            who.lang,
            t(who.lang, "Incidents"),
            Some(&who),
            None,
            body,
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Agreements.

#[derive(Deserialize)]
pub(super) struct AgreementQuery {
    /// What if this party gave notice on this day?
    notice: Option<gsomia_core::Date>,
}

/// An agreement: its state today, the timeline as a story, the terms and equivalence, the
/// what-if of a notice, and (for an authority) this party's events, confirmed before recorded.
pub(super) async fn agreement(
    State(node): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
    Query(q): Query<AgreementQuery>,
) -> Response {
    let world = node.world();
    let Some(a) = world.agreement(&id) else {
        return refused(
            &node,
            &who,
            &ApiError::not_found(format!("no agreement `{id}`")),
        );
    };
    let today = node.today();
    let now = a.state_at(today);
    let terms = a.terms();
    let what_if = q.notice.map(|on| a.with_notice(node.party(), on));
    let authority = permit(&who.user, Action::AgreementEvent).is_ok();
    let l = who.lang;
    let body = html! {
        p { (a.title()) }
        p { (t(l, "Today")) " (" (today) "): " strong { (now.state) }
            @if let Some(d) = now.terminates_on { ", terminates on " (d) }
            @if let (true, None, Some(end)) = (now.state.in_force(), now.terminates_on, now.term_ends) {
                "; notice must be received by " (end.add_days(-i64::from(terms.notice_days)))
            }
        }
        h2 { (t(l, "Timeline")) }
        ol.timeline {
            @for c in a.timeline(today) {
                li { time { (c.on) } " " (c.sentence(terms))
                    @if let Some(n) = &c.note { " “" (n) "”" } }
            }
        }
        h2 { (t(l, "Terms")) }
        dl {
            dt { (t(l, "Parties")) } dd { (a.parties().iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")) }
            dt { (t(l, "Term")) } dd {
                @if let Some(y) = terms.initial_years { (y) " years, then " }
                "renewed for " (terms.renewal_years) " year(s) at a time" }
            dt { (t(l, "Notice")) } dd { (terms.notice_days) " " (t(l, "days")) }
            @if let Some(scope) = a.scope() { dt { (t(l, "Scope")) } dd { (scope.join(", ")) } }
        }
        h2 { (t(l, "Equivalent levels")) }
        table {
            thead { tr { th { (t(l, "Common")) } @for p in a.parties() { th { (p) } } } }
            tbody {
                @for row in a.equivalence_at(today).rows() {
                    tr { td { (row.common) }
                        @for p in a.parties() {
                            td { (row.levels.get(p).map(|l| l.iter().map(|x| level_text(&node, *p, x.as_str())).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
        @let amendments: Vec<_> = a.amendments().collect();
        @if !amendments.is_empty() {
            h2 { (t(l, "Amendments")) }
            ul {
                @for (m, from) in &amendments {
                    li { code { (m.id) } ": "
                        @if m.equivalence.is_some() { (t(l, "equivalent levels")) " " }
                        @if let Some(scope) = &m.scope { (t(l, "scope")) " " (scope.join(", ")) " " }
                        "· " (t(l, "signed by")) " "
                        (m.signed.iter().map(|s| format!("{} ({})", s.by, s.on)).collect::<Vec<_>>().join(", "))
                        " · " @match from {
                            Some(d) => { (t(l, "in force from")) " " (d) }
                            None => { (t(l, "awaiting signature")) }
                        } }
                }
            }
        }
        h2 { (t(l, "What if we gave notice?")) " (" (node.party()) ")" }
        form method="get" action=(format!("/console/agreements/{id}")) {
            label { (t(l, "On")) " " input name="notice" type="date" value=(q.notice.map(|d| d.to_string()).unwrap_or_default()) required; }
            button type="submit" { (t(l, "Show")) }
        }
        @match &what_if {
            Some(Ok(after)) => {
                @let s = after.state_at(q.notice.unwrap_or(today));
                p.allowed { "Notice given on " (q.notice.map(|d| d.to_string()).unwrap_or_default()) ": "
                    @match (s.term_ends, s.terminates_on) {
                        (Some(end), Some(t)) => { "the term ends " (end) ", the agreement terminates on " (t) "." }
                        (_, Some(t)) => { "the agreement terminates on " (t) "." }
                        _ => { "it would not terminate the agreement." }
                    }
                }
            }
            Some(Err(e)) => { p.refusal { (e.problem) } }
            None => {}
        }
        @if authority {
            h2 { (t(l, "Record an event")) " (" (node.party()) ")" }
            form method="get" action=(format!("/console/agreements/{id}/event")) {
                label { (t(l, "Event")) " " select name="type" {
                    option value="notice" { (t(l, "notice of termination")) }
                    option value="suspend" { (t(l, "suspend our notice")) }
                    option value="resume" { (t(l, "resume our notice")) }
                    option value="withdraw" { (t(l, "withdraw our notice")) }
                    option value="signed" { (t(l, "signature")) }
                } }
                label { (t(l, "On")) " " input name="on" type="date" value=(today) required; }
                button type="submit" { (t(l, "Review")) }
            }
        }
    };
    html_response(
        StatusCode::OK,
        page(&node, who.lang, a.id().as_str(), Some(&who), None, body),
    )
}

#[derive(Deserialize)]
pub(super) struct EventQuery {
    #[serde(rename = "type")]
    kind: gsomia_core::EventKind,
    on: gsomia_core::Date,
}

/// What recording an event would do, to confirm before it is recorded and sent (A7).
pub(super) async fn event_review(
    State(node): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
    Query(q): Query<EventQuery>,
) -> Response {
    let l = who.lang;
    let world = node.world();
    let Some(a) = world.agreement(&id) else {
        return refused(
            &node,
            &who,
            &ApiError::not_found(format!("no agreement `{id}`")),
        );
    };
    let event = gsomia_core::Event {
        kind: q.kind,
        by: node.party(),
        on: q.on,
        note: None,
    };
    let body = match a.with_event(event) {
        Ok(after) => {
            let s = after.state_at(q.on);
            html! {
                p.allowed { "After it, on " (q.on) ": " strong { (s.state) }
                    @if let Some(end) = s.terminates_on { "; terminates on " (end) } "." }
                p { "It is recorded here and sent to every other party of the agreement." }
                form method="post" action=(format!("/console/agreements/{id}/event")) {
                    input type="hidden" name="csrf" value=(who.csrf);
                    input type="hidden" name="type" value=(serde_json::to_value(q.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default());
                    input type="hidden" name="on" value=(q.on);
                    button type="submit" { (t(l, "Record it")) }
                }
            }
        }
        Err(e) => html! { p.refusal { "Refused, " strong { "A7" } ": " (e.problem) } },
    };
    html_response(
        StatusCode::OK,
        page(
            &node,
            who.lang,
            t(who.lang, "Review the event"),
            Some(&who),
            None,
            body,
        ),
    )
}

#[derive(Deserialize)]
pub(super) struct EventForm {
    csrf: String,
    #[serde(rename = "type")]
    kind: gsomia_core::EventKind,
    on: gsomia_core::Date,
}

pub(super) async fn event(
    State(node): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
    Form(form): Form<EventForm>,
) -> Response {
    if let Some(refused) = who.forged(&form.csrf) {
        return refused;
    }
    match service::agreements::event(&node, &who.user, &id, form.kind, Some(form.on), None).await {
        Ok(_) => Redirect::to(&format!("/console/agreements/{id}")).into_response(),
        Err(e) => refused(&node, &who, &e),
    }
}

// ---------------------------------------------------------------------------------------------
// The audit log.

#[derive(Deserialize)]
pub(super) struct AuditQuery {
    /// Entries after this number; the newest 100 when absent.
    after: Option<u64>,
    /// Only entries whose action, actor, subject or rule contains this.
    q: Option<String>,
    /// Only `allow`, `deny` or `record`.
    decision: Option<String>,
}

/// P7: the audit log for officers and administrators, filtered, with the latest checkpoint and
/// the partners' cosignatures of it.
pub(super) async fn audit(
    State(node): State<AppState>,
    who: Signed,
    Query(q): Query<AuditQuery>,
) -> Response {
    let size = gsomia_store::Store::log_size(node.store()).unwrap_or(0);
    let after = q.after.unwrap_or(size.saturating_sub(100));
    let listed = match service::audit::list(&node, &who.user, after, 100).await {
        Ok(v) => v,
        Err(e) => return refused(&node, &who, &e),
    };
    let needle = q.q.clone().unwrap_or_default();
    let decision = q.decision.clone().unwrap_or_default();
    let entries: Vec<&Value> = listed["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            let x = &e["entry"];
            let text = |k: &str| x[k].as_str().unwrap_or_default();
            (needle.is_empty()
                || ["action", "actor", "subject", "rule"]
                    .iter()
                    .any(|k| text(k).contains(needle.as_str())))
                && (decision.is_empty() || text("decision") == decision)
        })
        .collect();
    let checkpoint = crate::transparency::latest_cosigned(&node).ok().flatten();
    let l = who.lang;
    let body = html! {
        form method="get" action="/console/audit" class="filters" {
            label { (t(l, "Contains")) " " input name="q" value=(needle); }
            label { (t(l, "Decision")) " " select name="decision" {
                @for d in ["", "allow", "deny", "record"] {
                    option value=(d) selected[d == decision] { (if d.is_empty() { t(l, "any") } else { d }) }
                }
            } }
            input type="hidden" name="after" value=(after);
            button type="submit" { (t(l, "Filter")) }
        }
        p { "Entries " (after + 1) " to " (listed["next"].as_u64().unwrap_or(after)) " of " (size) "." }
        table {
            thead { tr { th { "#" } th { (t(l, "When")) } th { (t(l, "Who")) } th { (t(l, "Action")) } th { (t(l, "Subject")) } th { (t(l, "Decision")) } th { (t(l, "Rule")) } } }
            tbody {
                @for e in entries.iter().rev() {
                    @let x = &e["entry"];
                    tr {
                        td { (e["seq"]) }
                        td { (x["at"].as_str().unwrap_or_default()) }
                        td { (x["actor"].as_str().unwrap_or_default()) }
                        td { (x["action"].as_str().unwrap_or_default()) }
                        td { code { (x["subject"].as_str().unwrap_or_default()) } }
                        td { (x["decision"].as_str().unwrap_or_default()) }
                        td { (x["rule"].as_str().unwrap_or_default()) }
                    }
                }
            }
        }
        h2 { (t(l, "Latest checkpoint")) }
        @match &checkpoint {
            Some((size, note)) => {
                p { "Size " (size) ", signed by this node; the lines after it are the partners' cosignatures (C2SP tlog-checkpoint)." }
                pre { (note) }
            }
            None => { p { (t(l, "None yet.")) } }
        }
    };
    html_response(
        StatusCode::OK,
        page(
            &node,
            who.lang,
            t(who.lang, "Audit log"),
            Some(&who),
            None,
            body,
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Consents.

pub(super) async fn consents(State(node): State<AppState>, who: Signed) -> Response {
    let requests = match permit(&who.user, Action::AnswerConsent) {
        Ok(()) => match service::consents::requests(&node, &who.user).await {
            Ok(r) => Some(r),
            Err(e) => return refused(&node, &who, &e),
        },
        Err(_) => None,
    };
    let held = match permit(&who.user, Action::AskConsent) {
        Ok(()) => service::consents::held(&node, &who.user).await.ok(),
        Err(_) => None,
    };
    let l = who.lang;
    let body = html! {
        @if let Some(r) = &requests {
            h2 { (t(l, "Requests from holders")) }
            @let list = r["requests"].as_array().cloned().unwrap_or_default();
            @if list.is_empty() { p { (t(l, "None.")) } }
            @for q in &list {
                article.request {
                    p { (t(l, "Holder")) " " strong { (q["request"]["holder"].as_str().unwrap_or_default()) }
                        " · " (t(l, "asks to release")) " " code { (q["request"]["item"].as_str().unwrap_or_default()) }
                        " → " strong { (q["request"]["to"].as_str().unwrap_or_default()) }
                        " · " (t(l, "Until")) " " (q["request"]["until"].as_str().unwrap_or_default()) }
                    @if q["answer"].is_null() {
                        form method="post" action=(format!("/console/consents/{}/answer", q["id"])) {
                            input type="hidden" name="csrf" value=(who.csrf);
                            button type="submit" name="approve" value="yes" { (t(l, "Consent (signed)")) }
                            button type="submit" name="approve" value="no" { (t(l, "Refuse")) }
                        }
                    } @else {
                        p { (t(l, "Answered")) ": " (if q["answer"]["approved"].as_bool() == Some(true) { t(l, "consented") } else { t(l, "refused") }) }
                    }
                }
            }
        }
        @if let Some(h) = &held {
            h2 { (t(l, "Consents held")) }
            ul {
                @for c in h["consents"].as_array().into_iter().flatten() {
                    li { code { (c["item"].as_str().unwrap_or_default()) } " to " (c["to"].to_string()) " by " (c["originator"].as_str().unwrap_or_default()) }
                }
            }
        }
        @if requests.is_none() && held.is_none() {
            p { (t(l, "Consents are for authorities and security officers.")) }
        }
    };
    html_response(
        StatusCode::OK,
        page(
            &node,
            who.lang,
            t(who.lang, "Consents"),
            Some(&who),
            None,
            body,
        ),
    )
}

#[derive(Deserialize)]
pub(super) struct AnswerForm {
    csrf: String,
    approve: String,
}

pub(super) async fn answer(
    State(node): State<AppState>,
    who: Signed,
    Path(id): Path<i64>,
    Form(form): Form<AnswerForm>,
) -> Response {
    if let Some(refused) = who.forged(&form.csrf) {
        return refused;
    }
    match service::consents::answer(&node, &who.user, id, form.approve == "yes").await {
        Ok(_) => Redirect::to("/console/consents").into_response(),
        Err(e) => refused(&node, &who, &e),
    }
}

// ---------------------------------------------------------------------------------------------
// The rest of the treaty: visits, letters, assurances, facilities, standing consents.

/// A field of a JSON object as text.
fn text_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_default()
}

/// The records the treaty keeps beside items (officers): visits (V1, V2) with the forms an
/// authority answers them by, letters under each agreement (N1, D1), assurances (S1),
/// contractor facilities (C1) and standing consents (R4b).
pub(super) async fn treaty(State(node): State<AppState>, who: Signed) -> Response {
    let visits = match service::visits::list(&node, &who.user).await {
        Ok(v) => v,
        Err(e) => return refused(&node, &who, &e),
    };
    let mut letters = vec![];
    for a in node
        .world()
        .agreements()
        .iter()
        .filter(|a| a.names(node.party()))
    {
        match service::correspondence::list(&node, &who.user, a.id().as_str()).await {
            Ok(v) => letters.push(v),
            Err(e) => return refused(&node, &who, &e),
        }
    }
    // The list is the service's (permitted and audited); typed from the world it read.
    let assurances = service::assurances::list(&node, &who.user)
        .await
        .map(|_| node.world().assurances().to_vec());
    let facilities = service::facilities::list(&node, &who.user).await;
    let authority = permit(&who.user, Action::Correspond).is_ok();
    let (me, l) = (node.party(), who.lang);
    let standing: Vec<_> = node
        .world()
        .consents()
        .iter()
        .filter(|c| c.topic.is_some())
        .cloned()
        .collect();
    let body = html! {
        h2 { (t(l, "Visits")) }
        @let list = visits["visits"].as_array().cloned().unwrap_or_default();
        @if list.is_empty() { p { (t(l, "None yet.")) } }
        @for v in &list {
            @let (r, visit) = (&v["request"], &v["request"]["visit"]);
            article.request {
                p { strong { (text_of(visit, "visitor")) } " (" (text_of(r, "from")) ") → "
                    strong { (text_of(visit, "host")) } " · " (text_of(visit, "facility"))
                    " · " (text_of(visit, "from")) " – " (text_of(visit, "until"))
                    " · " (level_text(&node, me, text_of(visit, "level")))
                    @if visit["inspection"].as_bool() == Some(true) { " · " (t(l, "inspection")) } }
                p { (text_of(r, "text")) }
                @match v["answer"]["kind"].as_str() {
                    Some("visit_authorisation") => {
                        @let given = &v["answer"]["visit"];
                        p.allowed { (t(l, "Authorised")) ": " (text_of(given, "from")) " – " (text_of(given, "until"))
                            " · " (level_text(&node, me, text_of(given, "level"))) }
                    }
                    Some(_) => { p.refusal { (t(l, "Refused")) ": " (text_of(&v["answer"], "text")) } }
                    None if authority && text_of(visit, "host") == me.as_str() => {
                        form method="post" action=(format!("/console/visits/{}/answer", text_of(r, "id"))) {
                            input type="hidden" name="csrf" value=(who.csrf);
                            label { (t(l, "Reason, if refused")) " " input name="reason" type="text"; }
                            button type="submit" name="authorise" value="yes" { (t(l, "Authorise (signed)")) }
                            button type="submit" name="authorise" value="no" { (t(l, "Refuse")) }
                        }
                    }
                    None => { p { (t(l, "Not answered yet.")) } }
                }
                @if !v["findings"].is_null() {
                    p { (t(l, "Findings")) ": " (text_of(&v["findings"], "text")) }
                }
            }
        }
        h2 { (t(l, "Letters")) }
        @for a in &letters {
            h3 { (text_of(a, "agreement")) }
            @let kept = a["letters"].as_array().cloned().unwrap_or_default();
            @if kept.is_empty() { p { (t(l, "None yet.")) } }
            ul {
                @for k in &kept {
                    li { time { (text_of(&k["letter"], "sent")) } " " strong { (text_of(&k["letter"], "from")) }
                        " · " code { (text_of(&k["letter"], "kind")) } ": " (text_of(&k["letter"], "text"))
                        @if k["answered_by"].as_array().is_some_and(|x| !x.is_empty()) { " (" (t(l, "answered")) ")" } }
                }
            }
        }
        h2 { (t(l, "Assurances")) }
        @match &assurances {
            Ok(a) => {
                ul { @for x in a {
                    li { strong { (x.by) } " → " (x.to) " · " (x.recipient)
                        " · " (level_text(&node, x.by, x.level.as_str()))
                        " · " (x.given) " – " (x.until) }
                } }
            }
            Err(e) => { p.refusal { (e.message) } }
        }
        h2 { (t(l, "Contractor facilities")) }
        @match &facilities {
            Ok(f) => {
                ul { @for x in f["facilities"].as_array().into_iter().flatten() {
                    li { strong { (text_of(x, "name")) } " (" code { (text_of(x, "id")) } ") · "
                        (level_text(&node, me, text_of(x, "clearance"))) " · " (text_of(x, "responsible"))
                        " · " (t(l, "last inspected")) " "
                        (x["inspections"].as_array().and_then(|i| i.last()).and_then(Value::as_str).unwrap_or("—")) }
                } }
            }
            Err(e) => { p.refusal { (e.message) } }
        }
        h2 { (t(l, "Standing consents")) }
        @if standing.is_empty() { p { (t(l, "None yet.")) } }
        ul {
            @for c in &standing {
                li { strong { (c.originator) } " → " (c.holder) " · " (t(l, "topic")) " "
                    code { (c.topic.as_ref().map(ToString::to_string).unwrap_or_default()) }
                    " · " (c.given) " – " (c.until)
                    @if c.revoked.is_some() { " · " strong { (t(l, "revoked")) } } }
            }
        }
    };
    html_response(
        StatusCode::OK,
        page(&node, l, t(l, "Treaty"), Some(&who), None, body),
    )
}

#[derive(Deserialize)]
pub(super) struct VisitAnswerForm {
    csrf: String,
    authorise: String,
    #[serde(default)]
    reason: String,
}

/// The host's authority authorises a visit as asked (V1), or refuses it with the reason; an
/// authorisation's page shows the visitor's token once.
pub(super) async fn answer_visit(
    State(node): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
    Form(form): Form<VisitAnswerForm>,
) -> Response {
    if let Some(refused) = who.forged(&form.csrf) {
        return refused;
    }
    let l = who.lang;
    if form.authorise != "yes" {
        return match service::visits::deny(&node, &who.user, &id, form.reason).await {
            Ok(_) => Redirect::to("/console/treaty").into_response(),
            Err(e) => refused(&node, &who, &e),
        };
    }
    let allowing = service::visits::Allowing::default();
    match service::visits::authorise(&node, &who.user, &id, allowing).await {
        Ok(v) => {
            let body = html! {
                p.allowed { (t(l, "Authorised")) ": " (text_of(&v["visitor"], "user")) }
                p { (t(l, "The visitor's token, shown once")) ": " code { (text_of(&v["visitor"], "token")) } }
                p { a href="/console/treaty" { (t(l, "Treaty")) } }
            };
            html_response(
                StatusCode::OK,
                page(&node, l, t(l, "Visits"), Some(&who), None, body),
            )
        }
        Err(e) => refused(&node, &who, &e),
    }
}

// ---------------------------------------------------------------------------------------------

pub(super) async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("console.css"),
    )
        .into_response()
}
