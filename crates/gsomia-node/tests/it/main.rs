//! gsomia-node's tests: the HTTP API through the router (no socket) on real SQLite files, and
//! one real server on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // Tests fail loudly.

mod backup;
mod console;
mod federation;
mod hostile;
mod log;
mod taxii;
mod tls;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use gsomia_core::{Scheme, User};
use gsomia_node::{Clock, InitOptions, Node};
use gsomia_store::Counts;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tower::ServiceExt;

const M: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/model-case");
const REPORT_ID: &str = "report--6b1c2f5e-3f0a-4d7e-9a1b-2c3d4e5f6a7b";

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{M}/{path}")).unwrap()
}

/// A STIX id, for the store's calls.
fn item_id(text: &str) -> gsomia_core::ItemId {
    text.parse().unwrap()
}

/// A party code of the model case.
fn code(text: &str) -> gsomia_core::PartyCode {
    text.parse().unwrap()
}

/// A settable clock.
fn clock(day: &str) -> (Clock, Arc<Mutex<OffsetDateTime>>) {
    let date = time::Date::parse(
        day,
        &time::macros::format_description!("[year]-[month]-[day]"),
    )
    .unwrap();
    let now = Arc::new(Mutex::new(date.midnight().assume_utc()));
    let c = now.clone();
    (Arc::new(move || *c.lock().unwrap()), now)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gsomia-node-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// With `GSOMIA_TEST_STORE=postgres`, every node of these tests keeps its state in a
/// PostgreSQL database of its own (at `GSOMIA_TEST_POSTGRES`, by default the machine's
/// `postgres://root@127.0.0.1:5432/test`): `.ci/run` runs the suite that way too.
fn test_database(dir: &Path) -> Option<String> {
    if std::env::var("GSOMIA_TEST_STORE").as_deref() != Ok("postgres") {
        return None;
    }
    use std::hash::{Hash, Hasher};
    let admin = std::env::var("GSOMIA_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut h);
    Some(gsomia_store::scratch_database(&admin, &format!("node_{:x}", h.finish())).unwrap())
}

/// Whether a test about the SQLite file itself (its mode, a snapshot, a byte changed in it)
/// is to be left out: under `GSOMIA_TEST_STORE=postgres` there is no such file.
fn sqlite_only(test: &str) -> bool {
    let skip = std::env::var("GSOMIA_TEST_STORE").as_deref() == Ok("postgres");
    if skip {
        eprintln!("{test}: about the SQLite file; left out on PostgreSQL");
    }
    skip
}

fn init(dir: &Path, party: &str) {
    let scheme = Scheme::from_json(&read(&format!("schemes/{party}.json"))).unwrap();
    let opts = InitOptions {
        party: party.parse().unwrap(),
        scheme,
        name: None,
        listen: "127.0.0.1:0".into(),
        endpoint: None,
        database_url: test_database(dir),
    };
    gsomia_node::init(dir, opts, "2019-01-01T00:00:00Z").unwrap();
}

struct Fixture {
    node: Arc<Node>,
    tokens: std::collections::HashMap<&'static str, String>,
}

/// A KOR node that knows JPN and USA and the three agreements naming KOR, with users.
fn kor_node(name: &str, day: &str) -> Fixture {
    let root = temp_dir(name);
    for p in ["KOR", "JPN", "USA"] {
        init(&root.join(p), p);
    }
    let (clock, _) = clock(day);
    let node = Node::open(&root.join("KOR"), clock).unwrap();
    for p in ["JPN", "USA"] {
        let other = Node::open(&root.join(p), gsomia_node::node::system_clock()).unwrap();
        node.import_party(other.descriptor().unwrap()).unwrap();
        other.close();
    }
    for a in ["kor-jpn-gsomia", "tisa", "usa-kor-gsomia"] {
        node.import_agreement(
            serde_json::from_str(&read(&format!("agreements/{a}.json"))).unwrap(),
        )
        .unwrap();
    }
    let mut tokens = std::collections::HashMap::new();
    let users = [
        (
            "kim",
            json!(["analyst"]),
            "II",
            json!(["missile-warning"]),
            "official",
        ),
        (
            "park",
            json!(["security_officer"]),
            "I",
            json!(["missile-warning"]),
            "official",
        ),
        (
            "choi",
            json!(["analyst"]),
            "III",
            json!(["missile-warning"]),
            "official",
        ),
        (
            "jung",
            json!(["analyst", "authority", "admin"]),
            "I",
            json!(["logistics"]),
            "official",
        ),
        (
            "kang",
            json!(["authority"]),
            "I",
            json!(["dprk-missile"]),
            "contractor",
        ),
    ];
    for (id, roles, clearance, duties, kind) in users {
        let u: User = serde_json::from_value(json!({"id": id, "party": "KOR", "roles": roles, "clearance": clearance, "duties": duties, "kind": kind})).unwrap();
        tokens.insert(id, node.add_user(u).unwrap());
    }
    Fixture { node, tokens }
}

/// Sends a request through the router; returns status and JSON body.
async fn call(
    f: &Fixture,
    method: &str,
    uri: &str,
    user: Option<&str>,
    body: Option<String>,
) -> (StatusCode, Value) {
    let (status, bytes) = call_text(f, method, uri, user, body).await;
    (status, serde_json::from_str(&bytes).unwrap_or(Value::Null))
}

/// [`call`], the body as text.
async fn call_text(
    f: &Fixture,
    method: &str,
    uri: &str,
    user: Option<&str>,
    body: Option<String>,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(u) = user {
        req = req.header(
            "authorization",
            format!(
                "Bearer {}",
                f.tokens.get(u).map(String::as_str).unwrap_or(u)
            ),
        );
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = gsomia_node::api::app(f.node.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

fn report() -> Value {
    let v: Value = serde_json::from_str(&read("items/kor-missile-report.json")).unwrap();
    json!({"label": v["label"], "object": v["object"]})
}

async fn publish(f: &Fixture) {
    let (s, body) = call(
        f,
        "POST",
        "/api/v1/items",
        Some("kim"),
        Some(report().to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
}

fn counts(f: &Fixture) -> Counts {
    f.node.store().counts().unwrap()
}

/// (what, user, body, release target?, status, error code)
type Case<'a> = (
    &'a str,
    Option<&'a str>,
    Option<String>,
    Option<&'a str>,
    StatusCode,
    &'a str,
);

#[tokio::test]
async fn bad_input_gets_the_documented_status_and_changes_nothing() {
    let f = kor_node("bad-input", "2019-07-25");
    publish(&f).await;
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut v = report();
        v["object"]["id"] = "report--00000000-0000-4000-8000-000000000001".into();
        edit(&mut v);
        v.to_string()
    };
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            Some("kim"),
            Some("{\"label\":".into()),
            None,
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
        (
            "wrong type",
            Some("kim"),
            Some(with(&|v| v["label"]["topics"] = json!("dprk-missile"))),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "missing field",
            Some("kim"),
            Some(with(&|v| {
                v["label"].as_object_mut().unwrap().remove("purpose");
            })),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "unknown level",
            Some("kim"),
            Some(with(&|v| v["label"]["level"] = "IV".into())),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "unknown party",
            Some("kim"),
            Some(with(&|v| v["label"]["releasable_to"] = json!(["prk"]))),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "foreign originator",
            Some("kim"),
            Some(with(&|v| v["label"]["originator"] = "JPN".into())),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "STIX without id",
            Some("kim"),
            Some(with(&|v| {
                v["object"].as_object_mut().unwrap().remove("id");
            })),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "STIX without spec_version",
            Some("kim"),
            Some(with(&|v| {
                v["object"].as_object_mut().unwrap().remove("spec_version");
            })),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "missile warning with its track out of order",
            Some("kim"),
            Some({
                let mut w = missile_warning();
                w["object"]["track"][1]["time"] = "2023-12-17T23:30:00Z".into();
                w.to_string()
            }),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "oversized",
            Some("kim"),
            Some(with(&|v| {
                v["object"]["description"] = "x".repeat(2 << 20).into()
            })),
            None,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            "missing token",
            None,
            Some(with(&|_| {})),
            None,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
        (
            "wrong token",
            Some("gsomia_forged"),
            Some(with(&|_| {})),
            None,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
        (
            "duplicate version",
            Some("kim"),
            Some(report().to_string()),
            None,
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            "unknown recipient",
            Some("park"),
            Some(json!({"to": "CHN"}).to_string()),
            Some("release"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "bad recipient code",
            Some("park"),
            Some(json!({"to": "jpn"}).to_string()),
            Some("release"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
    ];
    for (what, user, body, target, status, code) in cases {
        let before = counts(&f);
        let uri = match target {
            Some(_) => format!("/api/v1/items/{REPORT_ID}/release"),
            None => "/api/v1/items".to_owned(),
        };
        let (s, b) = call(&f, "POST", &uri, user, body).await;
        assert_eq!(
            (s, b["error"]["code"].as_str().unwrap_or("")),
            (status, code),
            "{what}: {b}"
        );
        assert!(
            !b["error"]["message"].as_str().unwrap().is_empty(),
            "{what}"
        );
        assert_eq!(counts(&f), before, "{what}: the store changed");
    }
    // Wrong content type: 415, nothing changed.
    let post = |content_type: &str| {
        let req = Request::post("/api/v1/items")
            .header("authorization", format!("Bearer {}", f.tokens["kim"]))
            .header("content-type", content_type)
            .body(Body::from(report().to_string()))
            .unwrap();
        gsomia_node::api::app(f.node.clone()).oneshot(req)
    };
    let before = counts(&f);
    let resp = post("text/plain").await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(counts(&f), before);
    // Refused before its body was read: the client is told the connection closes. A body
    // read to its end (the same object, refused after reading or not) keeps it open.
    assert_eq!(resp.headers()["connection"], "close");
    let resp = post("application/json").await.unwrap();
    assert!(resp.status().is_success() || resp.status().is_client_error());
    assert!(resp.headers().get("connection").is_none());
}

/// The model case's missile warning (SPEC §8c).
fn missile_warning() -> Value {
    serde_json::from_str(include_str!(
        "../../../../examples/model-case/items/kor-missile-warning.json"
    ))
    .unwrap()
}

/// A missile warning is an item like any other: published, audited, read back as published;
/// one whose predicted impact comes before its track is refused naming the place.
#[tokio::test]
async fn t1_a_missile_warning_is_published_and_one_out_of_order_is_refused() {
    let f = kor_node("warning", "2023-12-18");
    let w = missile_warning();
    let id = w["object"]["id"].as_str().unwrap().to_owned();
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/items",
        Some("kim"),
        Some(w.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = call(&f, "GET", &format!("/api/v1/items/{id}"), Some("kim"), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // As published (numbers in canonical form: 6000.0 is 6000), with the node's marking.
    let (got, sent) = (&b["object"], &w["object"]);
    for key in [
        "id",
        "launched",
        "launch_point",
        "impact_point",
        "impact_time",
    ] {
        assert_eq!(got[key], sent[key], "{key}");
    }
    let altitudes = |o: &Value| -> Vec<f64> {
        o["track"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["altitude_km"].as_f64().unwrap())
            .collect()
    };
    assert_eq!(altitudes(got), vec![4200.0, 6000.0]);
    assert!(got["object_marking_refs"].is_array(), "{got}");
    let before = counts(&f);
    let mut late = w.clone();
    late["object"]["id"] = "x-gsomia-missile-warning--00000000-0000-4000-8000-000000000002".into();
    late["object"]["impact_time"] = "2023-12-17T23:59:00Z".into();
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/items",
        Some("kim"),
        Some(late.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let message = b["error"]["message"].as_str().unwrap();
    assert!(message.contains("object.impact_time"), "{message}");
    assert_eq!(counts(&f), before);
}

#[tokio::test]
async fn p1_p2_default_deny_through_the_api_and_every_decision_is_audited() {
    let f = kor_node("read", "2019-07-25");
    publish(&f).await;
    let uri = format!("/api/v1/items/{REPORT_ID}");
    // (user, expected status, expected rule)
    let table = [
        ("kim", StatusCode::OK, None),               // II, duty: allowed
        ("park", StatusCode::OK, None),              // I, duty: allowed
        ("choi", StatusCode::NOT_FOUND, Some("P1")), // III < II
        ("jung", StatusCode::NOT_FOUND, Some("P1")), // cleared, every role, no duty
        ("kang", StatusCode::OK, None),              // own party's contractor, duty by topic
    ];
    for (user, status, rule) in table {
        let before = counts(&f).audit;
        let (s, b) = call(&f, "GET", &uri, Some(user), None).await;
        assert_eq!(s, status, "{user}: {b}");
        if s == StatusCode::NOT_FOUND {
            // H8: answered as if the item did not exist; the rule is in the audit entry only.
            assert_eq!(
                b,
                json!({"error": {"code": "not_found", "message": format!("no item `{REPORT_ID}`")}}),
                "{user}"
            );
        }
        if s == StatusCode::OK {
            assert_eq!(
                b["object"]["name"],
                "Two short-range ballistic missiles launched near Wonsan"
            );
            assert_eq!(b["marking"]["level"], "II");
        }
        let audit = f.node.store().audit_after(before, 10).unwrap();
        assert_eq!(audit.len(), 1, "{user}: one audit entry per decision");
        let entry = audit[0].parse().unwrap();
        assert_eq!(
            (entry.actor.as_str(), entry.action.as_str()),
            (user, "item.read")
        );
        assert_eq!(
            entry.decision,
            if rule.is_some() { "deny" } else { "allow" }
        );
        assert_eq!(entry.rule.map(gsomia_core::Rule::id), rule);
    }
    // Listing shows only what the caller may read.
    let (_, b) = call(&f, "GET", "/api/v1/items", Some("choi"), None).await;
    assert_eq!(b["items"].as_array().unwrap().len(), 0);
    let (_, b) = call(
        &f,
        "GET",
        "/api/v1/items?topic=dprk-missile",
        Some("kim"),
        None,
    )
    .await;
    assert_eq!(b["items"].as_array().unwrap().len(), 1);
    let (_, b) = call(&f, "GET", "/api/v1/items?type=indicator", Some("kim"), None).await;
    assert_eq!(b["items"].as_array().unwrap().len(), 0);
    let audit = f.node.store().audit_after(0, 10_000).unwrap();
    assert_eq!(gsomia_store::verify_chain(&audit), Ok(audit.len() as u64));
}

#[tokio::test]
async fn p1_nobody_classifies_above_their_own_clearance() {
    let f = kor_node("classify", "2019-07-25");
    let mut top = report();
    top["label"]["level"] = "I".into();
    let before = counts(&f);
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/items",
        Some("kim"),
        Some(top.to_string()),
    )
    .await;
    assert_eq!(
        (s, b["error"]["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("P1")),
        "{b}"
    );
    let after = counts(&f);
    assert_eq!((after.items, after.audit), (before.items, before.audit + 1));
}

#[tokio::test]
async fn r1_r7_release_goes_to_the_outbox_only_when_allowed_and_released_by_an_officer() {
    let f = kor_node("release", "2019-07-25");
    publish(&f).await;
    let uri = format!("/api/v1/items/{REPORT_ID}/release");
    let to = |p: &str| Some(json!({ "to": p }).to_string());
    // An analyst can not release (R7, no duty to share).
    let (s, b) = call(&f, "POST", &uri, Some("kim"), to("JPN")).await;
    assert_eq!(
        (s, b["error"]["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("R7")),
        "{b}"
    );
    assert_eq!(counts(&f).outbox, 0);
    // A security officer can, under the GSOMIA, marked GOKUHI at Japan.
    let (s, b) = call(&f, "POST", &uri, Some("park"), to("JPN")).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(
        (b["agreement"].as_str(), b["marking"]["level"].as_str()),
        (Some("kor-jpn-gsomia"), Some("GOKUHI"))
    );
    assert_eq!(counts(&f).outbox, 1);
    // NOFORN items go nowhere (R5).
    let mut noforn = report();
    noforn["object"]["id"] = "report--00000000-0000-4000-8000-000000000002".into();
    noforn["label"]["caveats"] = json!(["NOFORN"]);
    assert_eq!(
        call(
            &f,
            "POST",
            "/api/v1/items",
            Some("kim"),
            Some(noforn.to_string())
        )
        .await
        .0,
        StatusCode::CREATED
    );
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/items/report--00000000-0000-4000-8000-000000000002/release",
        Some("park"),
        to("JPN"),
    )
    .await;
    assert_eq!(
        (s, b["error"]["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("R5")),
        "{b}"
    );
    assert_eq!(counts(&f).outbox, 1);
}

#[tokio::test]
async fn r1_before_the_gsomia_release_to_japan_is_refused() {
    let f = kor_node("release-2015", "2015-06-01");
    publish(&f).await;
    let (s, b) = call(
        &f,
        "POST",
        &format!("/api/v1/items/{REPORT_ID}/release"),
        Some("park"),
        Some(json!({"to": "JPN"}).to_string()),
    )
    .await;
    assert_eq!(
        (s, b["error"]["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("R1")),
        "{b}"
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("through its hub USA"),
        "{b}"
    );
}

#[tokio::test]
async fn a_batch_publication_decides_each_item_as_one_publication_would() {
    let f = kor_node("batch", "2019-07-25");
    let item = |n: u32, level: &str, originator: &str| {
        let mut r = report();
        r["object"]["id"] = format!("report--00000000-0000-4000-8000-{n:012}").into();
        r["label"]["level"] = level.into();
        r["label"]["originator"] = originator.into();
        r
    };
    let uri = "/api/v1/items/batch";
    let before = counts(&f);
    // Not a publisher (an administrator only): the whole batch refused, as one publication
    // is, and nothing stored.
    let admin = f
        .node
        .add_user(
            serde_json::from_value(json!({"id": "root", "party": "KOR", "roles": ["admin"],
                "clearance": "III", "duties": [], "kind": "official"}))
            .unwrap(),
        )
        .unwrap();
    let body = json!({ "items": [item(1, "II", "KOR")] }).to_string();
    let (s, b) = call(&f, "POST", uri, Some(&admin), Some(body)).await;
    let (one, b1) = call(
        &f,
        "POST",
        "/api/v1/items",
        Some(&admin),
        Some(item(1, "II", "KOR").to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert_eq!((s, &b["error"]["rule"]), (one, &b1["error"]["rule"]));
    assert_eq!(counts(&f).items, before.items);
    // Each decided: one stored, the same version again refused, another originator's refused,
    // a lower level stored; one commit.
    let body = json!({ "items": [
        item(1, "II", "KOR"), item(1, "II", "KOR"), item(2, "II", "JPN"), item(3, "III", "KOR"),
    ] });
    let (s, b) = call(&f, "POST", uri, Some("kim"), Some(body.to_string())).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["created"].as_u64(), b["refused"].as_u64()),
        (Some(2), Some(2)),
        "{b}"
    );
    let created: Vec<bool> = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["created"] == true)
        .collect();
    assert_eq!(created, [true, false, false, true]);
    assert!(
        b["items"][1]["error"]
            .as_str()
            .unwrap()
            .contains("already stored"),
        "{b}"
    );
    assert!(
        b["items"][2]["error"].as_str().unwrap().contains("JPN"),
        "{b}"
    );
    assert_eq!(counts(&f).items, before.items + 2);
    // Above the publisher's clearance: refused with its rule and audited, as alone.
    let body = json!({ "items": [item(4, "II", "KOR")] }).to_string();
    let (s, b) = call(&f, "POST", uri, Some("choi"), Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(
        b["items"][0]["error"].as_str().unwrap().contains("rule P1"),
        "{b}"
    );
    let refused = f.node.store().audit_after(0, 10_000).unwrap();
    assert!(refused.iter().any(|e| {
        let d = e.parse().unwrap();
        d.subject == "report--00000000-0000-4000-8000-000000000004"
            && d.decision == gsomia_store::Verdict::Deny
            && d.rule.map(|r| r.id()) == Some("P1")
    }));
    // Bad input: no items, or more than a batch holds.
    for n in [0, 1001] {
        let small = json!({ "label": report()["label"], "object": {} });
        let body = json!({ "items": vec![small; n] }).to_string();
        let (s, b) = call(&f, "POST", uri, Some("kim"), Some(body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .contains("1 to 1000"),
            "{b}"
        );
    }
    assert_eq!(counts(&f).items, before.items + 2);
}

/// Reads a stream's body until its text holds `until` (at most 10 s); the text read.
async fn events_until(body: &mut Body, until: &str) -> String {
    use http_body_util::BodyExt;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !text.contains(until) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("no `{until}` in the stream: {text}"))
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t1_a_stream_sends_what_the_caller_may_read_as_it_arrives_and_resumes_without_gaps() {
    let f = kor_node("stream", "2019-07-25");
    let open = |user: &str, last: Option<&str>, query: &str| {
        let mut req = Request::builder()
            .uri(format!("/api/v1/stream?{query}"))
            .header("authorization", format!("Bearer {}", f.tokens[user]));
        if let Some(id) = last {
            req = req.header("last-event-id", id);
        }
        gsomia_node::api::app(f.node.clone()).oneshot(req.body(Body::empty()).unwrap())
    };
    let mut kim = open("kim", None, "topics=dprk-missile,nuclear")
        .await
        .unwrap();
    assert_eq!(kim.status(), StatusCode::OK);
    assert_eq!(kim.headers()["content-type"], "text/event-stream");
    let mut choi = open("choi", None, "originators=KOR").await.unwrap();
    // Korea's report at II, then one at III.
    publish(&f).await;
    let second = "report--00000000-0000-4000-8000-000000000002";
    let mut low = report();
    low["object"]["id"] = second.into();
    low["label"]["level"] = "III".into();
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/items",
        Some("kim"),
        Some(low.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // kim, cleared II, gets both as they arrive, each once, with the holder's marking.
    let text = events_until(kim.body_mut(), second).await;
    assert_eq!(text.matches("event: item").count(), 2, "{text}");
    assert!(
        text.contains(REPORT_ID) && text.contains("\"marking\":{"),
        "{text}"
    );
    let first: String = text
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .unwrap()
        .to_owned();
    // choi, cleared III, only the second (P1): the first is decided away, not sent.
    let text = events_until(choi.body_mut(), second).await;
    assert!(!text.contains(REPORT_ID), "{text}");
    // Resumed after the first event: the second, and not the first again.
    let mut again = open("kim", Some(&first), "topics=dprk-missile")
        .await
        .unwrap();
    let text = events_until(again.body_mut(), second).await;
    assert!(!text.contains(REPORT_ID), "{text}");
    assert_eq!(text.matches("event: item").count(), 1, "{text}");
    // Each read is recorded as kim's and choi's, before it was sent.
    let streamed: Vec<String> = f
        .node
        .store()
        .audit_after(0, 10_000)
        .unwrap()
        .iter()
        .map(|e| e.parse().unwrap())
        .filter(|d: &gsomia_store::AuditDraft| d.action == "item.stream")
        .map(|d| format!("{} {}", d.actor, d.detail["returned"]))
        .collect();
    assert!(
        streamed
            .iter()
            .any(|e| e.starts_with("kim ") && e.contains(REPORT_ID))
    );
    assert!(
        streamed
            .iter()
            .any(|e| e.starts_with("choi ") && !e.contains(REPORT_ID))
    );
    // Bad input: a clear 400.
    for (query, last) in [
        ("originators=kor", None),
        ("topics=a%20b", None),
        ("", Some("x")),
    ] {
        let resp = open("kim", last, query).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{query} {last:?}");
    }
    // A node that stops ends its streams (their clients resume elsewhere or later).
    f.node.set_draining(true);
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        use http_body_util::BodyExt;
        while let Some(frame) = kim.body_mut().frame().await {
            frame.unwrap();
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream did not end when the node stopped"
    );
}

#[tokio::test]
async fn a7_agreement_events_by_the_authority_and_contradictions_refused() {
    let f = kor_node("events", "2024-09-01");
    let uri = "/api/v1/agreements/kor-jpn-gsomia/events";
    let (s, b) = call(
        &f,
        "POST",
        uri,
        Some("kim"),
        Some(json!({"type": "notice"}).to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, b) = call(
        &f,
        "POST",
        uri,
        Some("jung"),
        Some(json!({"type": "notice"}).to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(
        (
            b["status"]["state"].as_str(),
            b["status"]["terminates_on"].as_str()
        ),
        (Some("notice_given"), Some("2025-11-23"))
    );
    let before = counts(&f);
    let (s, b) = call(
        &f,
        "POST",
        uri,
        Some("jung"),
        Some(json!({"type": "notice"}).to_string()),
    )
    .await;
    assert_eq!(
        (s, b["error"]["rule"].as_str()),
        (StatusCode::CONFLICT, Some("A7")),
        "{b}"
    );
    assert_eq!(counts(&f).agreements, before.agreements);
    let (_, b) = call(
        &f,
        "GET",
        "/api/v1/agreements/kor-jpn-gsomia?at=2025-11-23",
        Some("kim"),
        None,
    )
    .await;
    assert_eq!(b["status"]["state"], "terminated");
    // The event waits in the outbox for Japan.
    assert_eq!(before.outbox, 1);
}

#[tokio::test]
async fn audit_is_for_officers_and_pages() {
    let f = kor_node("audit", "2019-07-25");
    publish(&f).await;
    let (s, _) = call(&f, "GET", "/api/v1/audit", Some("kim"), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = call(&f, "GET", "/api/v1/audit?limit=2", Some("park"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["entries"].as_array().unwrap().len(), 2);
    let (_, b2) = call(
        &f,
        "GET",
        &format!("/api/v1/audit?after={}", b["next"]),
        Some("park"),
        None,
    )
    .await;
    assert!(b2["entries"][0]["seq"].as_u64().unwrap() == 3);
    let (s, b) = call(&f, "GET", "/api/v1/audit?limit=many", Some("park"), None).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
}

#[tokio::test]
async fn init_refuses_to_overwrite_and_keys_are_private() {
    if sqlite_only("init") {
        return;
    }
    let dir = temp_dir("init");
    init(&dir, "KOR");
    // The keys, and the database with its write-ahead log once a node has written to it.
    let node = Node::open(&dir, gsomia_node::node::system_clock()).unwrap();
    node.add_user(
        serde_json::from_value(json!({"id": "kim", "party": "KOR", "clearance": "II"})).unwrap(),
    )
    .unwrap();
    let files = [
        "keys/signing.key",
        "keys/encryption.key",
        "keys/master.key",
        "gsomia.db",
        "gsomia.db-wal",
    ];
    for f in files {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.join(f)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    node.close();
    let scheme = Scheme::from_json(&read("schemes/KOR.json")).unwrap();
    let opts = InitOptions {
        party: "KOR".parse().unwrap(),
        scheme,
        name: None,
        listen: "x".into(),
        endpoint: None,
        database_url: None,
    };
    let err = gsomia_node::init(&dir, opts, "2019-01-01T00:00:00Z").unwrap_err();
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");
}

#[tokio::test]
async fn a_real_server_answers_on_loopback_and_stops_gracefully() {
    let f = kor_node("serve", "2019-07-25");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gsomia_node::serve(f.node.clone(), listener, async {
        let _ = stopped.await;
    }));
    let pin = f.node.tls().unwrap().info.pin;
    let client = gsomia_node::client::Client::new(Some(pin)).unwrap();
    let (status, body) = client
        .send("GET", &format!("https://{addr}/healthz"), &[], vec![])
        .await
        .unwrap();
    assert_eq!((status, &body[..]), (200, &b"ok"[..]));
    // Plain HTTP to the HTTPS port gets no HTTP answer.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = vec![];
    let _ = s.read_to_end(&mut out).await;
    assert!(!out.starts_with(b"HTTP/1.1 200"), "{out:?}");
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(
        f.node.store().write(Default::default()),
        Err(gsomia_store::StoreError::Closed)
    ));
}

/// A JPN node that holds Korea's report as received under the GSOMIA (what federation will
/// deliver), with Japanese users.
fn jpn_node(name: &str, day: &str) -> Fixture {
    let root = temp_dir(name);
    for p in ["KOR", "JPN", "USA"] {
        init(&root.join(p), p);
    }
    let (clock, _) = clock(day);
    let node = Node::open(&root.join("JPN"), clock).unwrap();
    let kor = Node::open(&root.join("KOR"), gsomia_node::node::system_clock()).unwrap();
    node.import_party(kor.descriptor().unwrap()).unwrap();
    let usa = Node::open(&root.join("USA"), gsomia_node::node::system_clock()).unwrap();
    node.import_party(usa.descriptor().unwrap()).unwrap();
    usa.close();
    for a in ["kor-jpn-gsomia", "tisa", "usa-jpn-gsomia"] {
        node.import_agreement(
            serde_json::from_str(&read(&format!("agreements/{a}.json"))).unwrap(),
        )
        .unwrap();
    }
    // Korea's report, bound by Korea's key, sealed under Japan's master key.
    let r = report();
    let label: gsomia_core::Label = serde_json::from_value(r["label"].clone()).unwrap();
    let binding = gsomia_crypto::sign_binding(&kor.keys().signing, &label, &r["object"]).unwrap();
    kor.close();
    let version = "2019-07-25T00:30:00.000Z";
    let random = gsomia_crypto::seal::SealRandom {
        item_key: [5; 32],
        content_nonce: [6; 12],
        wrap_nonce: [7; 12],
    };
    let content = gsomia_crypto::canonical::to_vec(&r["object"]);
    let sealed = gsomia_crypto::seal::seal(
        &node.keys().master,
        &random,
        format!("{REPORT_ID}\n{version}").as_bytes(),
        &content,
    );
    let stored = gsomia_store::StoredItem {
        seq: 0,
        id: item_id(REPORT_ID),
        modified: version.into(),
        stix_type: "report".into(),
        label,
        marking: Some(serde_json::from_value(json!({"party": "JPN", "level": "GOKUHI", "originator": "KOR"})).unwrap()),
        custody: vec![serde_json::from_value(json!({"from": "KOR", "to": "JPN", "agreement": "kor-jpn-gsomia", "level": "GOKUHI", "at": "2019-07-25T01:00:00Z"})).unwrap()],
        binding: binding.to_base64(),
        wrapped_key: Some(sealed.wrapped_key),
        content: Some(sealed.content),
        added: "2019-07-25T01:00:00Z".into(),
        destroyed: None,
    };
    node.store()
        .write(gsomia_store::Batch {
            writes: vec![gsomia_store::Write::PutItem(Box::new(stored))],
            audit: vec![],
        })
        .unwrap();
    let mut tokens = std::collections::HashMap::new();
    let users = [
        ("sato", json!(["analyst"]), "GOKUHI", "official"),
        ("suzuki", json!(["security_officer"]), "KIMITSU", "official"),
        ("tanaka", json!(["analyst"]), "KIMITSU", "contractor"),
    ];
    for (id, roles, clearance, kind) in users {
        let u: User = serde_json::from_value(json!({"id": id, "party": "JPN", "roles": roles, "clearance": clearance, "duties": ["missile-warning"], "kind": kind})).unwrap();
        tokens.insert(id, node.add_user(u).unwrap());
    }
    Fixture { node, tokens }
}

#[tokio::test]
async fn p2_received_items_are_read_by_officials_not_contractors() {
    let f = jpn_node("received", "2024-01-01");
    let uri = format!("/api/v1/items/{REPORT_ID}");
    let (s, b) = call(&f, "GET", &uri, Some("sato"), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (
            b["marking"]["level"].as_str(),
            b["label"]["originator"].as_str()
        ),
        (Some("GOKUHI"), Some("KOR"))
    );
    let before = counts(&f).audit;
    let (s, b) = call(&f, "GET", &uri, Some("tanaka"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let entry = f.node.store().audit_after(before, 1).unwrap()[0]
        .parse()
        .unwrap();
    assert_eq!(
        (
            entry.decision.as_str(),
            entry.rule.map(gsomia_core::Rule::id)
        ),
        ("deny", Some("P2"))
    );
}

#[tokio::test]
async fn r4_r6_onward_release_needs_the_originators_consent_and_a_sound_binding() {
    let f = jpn_node("onward", "2019-08-01");
    let (s, b) = call(
        &f,
        "POST",
        &format!("/api/v1/items/{REPORT_ID}/release"),
        Some("suzuki"),
        Some(json!({"to": "USA"}).to_string()),
    )
    .await;
    assert_eq!(
        (s, b["error"]["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("R4")),
        "{b}"
    );
    // A stored label changed behind the node's back no longer matches Korea's binding (R6).
    let mut tampered = f
        .node
        .store()
        .item(&item_id(REPORT_ID), None)
        .unwrap()
        .unwrap();
    tampered.label.releasable_to = None;
    tampered.modified = "2019-07-26T00:00:00.000Z".into();
    let aad = format!("{REPORT_ID}\n{}", tampered.modified);
    let random = gsomia_crypto::seal::SealRandom {
        item_key: [5; 32],
        content_nonce: [8; 12],
        wrap_nonce: [9; 12],
    };
    let sealed = gsomia_crypto::seal::seal(
        &f.node.keys().master,
        &random,
        aad.as_bytes(),
        &gsomia_crypto::canonical::to_vec(&report()["object"]),
    );
    tampered.wrapped_key = Some(sealed.wrapped_key);
    tampered.content = Some(sealed.content);
    f.node
        .store()
        .write(gsomia_store::Batch {
            writes: vec![gsomia_store::Write::PutItem(Box::new(tampered))],
            audit: vec![],
        })
        .unwrap();
    let (s, b) = call(
        &f,
        "POST",
        &format!("/api/v1/items/{REPORT_ID}/release"),
        Some("suzuki"),
        Some(json!({"to": "KOR"}).to_string()),
    )
    .await;
    assert_eq!(
        (s, b["error"]["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("R6")),
        "{b}"
    );
}

#[tokio::test]
async fn p4_a_derived_item_keeps_the_highest_level_and_every_originator() {
    let f = jpn_node("derive", "2019-08-01");
    let body = json!({
        "sources": [{"id": REPORT_ID}],
        "purpose": "missile-warning",
        "object": {"type": "note", "spec_version": "2.1", "id": "note--00000000-0000-4000-8000-000000000009",
                   "created": "2019-08-01T00:00:00.000Z", "modified": "2019-08-01T00:00:00.000Z",
                   "content": "要約: 2発の短距離弾道ミサイル", "object_refs": [REPORT_ID]},
    });
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/items/derive",
        Some("tanaka"),
        Some(body.to_string()),
    )
    .await;
    // A contractor can not read the source: it is answered as if it did not exist (H8), and
    // the audit entry names the rule.
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let refusal = f
        .node
        .store()
        .audit_after(0, 10_000)
        .unwrap()
        .pop()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        (
            refusal.action.as_str(),
            refusal.rule.map(gsomia_core::Rule::id)
        ),
        ("item.derive", Some("P2"))
    );
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/items/derive",
        Some("sato"),
        Some(body.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["label"]["originator"], "JPN");
    assert_eq!(b["label"]["level"], "GOKUHI");
    assert_eq!(
        b["label"]["derived_from"],
        json!([{"originator": "KOR", "item": REPORT_ID}])
    );
    // Releasing the extract to the US still needs Korea's consent (R4).
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/items/note--00000000-0000-4000-8000-000000000009/release",
        Some("suzuki"),
        Some(json!({"to": "USA"}).to_string()),
    )
    .await;
    assert_eq!(
        (s, b["error"]["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("R4")),
        "{b}"
    );
}

#[tokio::test]
async fn p5_destruction_shreds_the_key_certifies_and_reports_to_the_originator() {
    let f = jpn_node("destroy", "2020-01-01");
    let uri = format!("/api/v1/items/{REPORT_ID}/destroy");
    let (s, _) = call(
        &f,
        "POST",
        &uri,
        Some("sato"),
        Some(json!({"reason": "no longer needed"}).to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let before = counts(&f);
    let (s, b) = call(
        &f,
        "POST",
        &uri,
        Some("suzuki"),
        Some(json!({"reason": "no longer needed"}).to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["reported_to_originator"], true,
        "the Japan–ROK GSOMIA asks for destruction reports"
    );
    let key = f.node.keys().signing.verifying_key();
    assert!(gsomia_crypto::statement::verify(
        &key,
        "destruction",
        &b["certificate"],
        b["signature"].as_str().unwrap()
    ));
    assert_eq!(counts(&f).outbox, before.outbox + 1);
    let stored = f
        .node
        .store()
        .item(&item_id(REPORT_ID), None)
        .unwrap()
        .unwrap();
    assert_eq!((stored.wrapped_key, stored.content), (None, None));
    let (s, b) = call(
        &f,
        "GET",
        &format!("/api/v1/items/{REPORT_ID}"),
        Some("sato"),
        None,
    )
    .await;
    assert_eq!(
        (s, b["error"]["rule"].as_str()),
        (StatusCode::GONE, Some("P5")),
        "{b}"
    );
    let (s, _) = call(&f, "POST", &uri, Some("suzuki"), Some("{}".into())).await;
    assert_eq!(s, StatusCode::GONE);
}

#[tokio::test]
async fn p6_incidents_reach_the_originator_and_the_result_follows() {
    let f = jpn_node("incident", "2020-01-01");
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/incidents",
        Some("sato"),
        Some(json!({"item": REPORT_ID, "kind": "stolen", "description": "x"}).to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, b) = call(&f, "POST", "/api/v1/incidents", Some("sato"), Some(json!({"item": "report--00000000-0000-4000-8000-00000000dead", "kind": "loss", "description": "x"}).to_string())).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let before = counts(&f).outbox;
    let (s, b) = call(&f, "POST", "/api/v1/incidents", Some("sato"), Some(json!({"item": REPORT_ID, "kind": "possible_compromise", "description": "laptop left on a train"}).to_string())).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["reported_to"], json!(["KOR"]));
    let id = b["incident"]["id"].as_i64().unwrap();
    assert_eq!(counts(&f).outbox, before + 1);
    let result =
        json!({"result": "recovered unopened", "measures": "encrypted laptops only"}).to_string();
    let (s, _) = call(
        &f,
        "POST",
        &format!("/api/v1/incidents/{id}/result"),
        Some("sato"),
        Some(result.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = call(
        &f,
        "POST",
        &format!("/api/v1/incidents/{id}/result"),
        Some("suzuki"),
        Some(result),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["incident"]["follows"], id);
    let (_, b) = call(&f, "GET", "/api/v1/incidents", Some("suzuki"), None).await;
    assert_eq!(b["incidents"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn r7_a_standing_release_rule_releases_what_it_covers_on_publication() {
    let f = kor_node("standing", "2019-07-25");
    let rule = json!({"to": "JPN", "topics": ["dprk-missile"], "max_level": "II"}).to_string();
    let (s, _) = call(
        &f,
        "POST",
        "/api/v1/release-rules",
        Some("kim"),
        Some(rule.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/release-rules",
        Some("park"),
        Some(rule),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = call(
        &f,
        "POST",
        "/api/v1/items",
        Some("kim"),
        Some(report().to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["released"][0]["agreement"], "kor-jpn-gsomia");
    assert_eq!(counts(&f).outbox, 1);
    let audit = f.node.store().audit_after(0, 1000).unwrap();
    let last = audit.last().unwrap().parse().unwrap();
    assert_eq!(
        (
            last.actor.as_str(),
            last.action.as_str(),
            last.decision.as_str()
        ),
        ("park", "item.release", "allow")
    );
    // An item on another topic is not covered.
    let mut other = report();
    other["object"]["id"] = "report--00000000-0000-4000-8000-000000000003".into();
    other["label"]["topics"] = json!(["dprk-nuclear"]);
    let (_, b) = call(
        &f,
        "POST",
        "/api/v1/items",
        Some("kim"),
        Some(other.to_string()),
    )
    .await;
    assert_eq!(b["released"], json!([]));
    assert_eq!(counts(&f).outbox, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_clients_publishing_and_reading_at_once_lose_nothing() {
    let f = Arc::new(kor_node("concurrent", "2019-07-25"));
    let tasks: Vec<_> = (0..16)
        .map(|c| {
            let f = f.clone();
            tokio::spawn(async move {
                for k in 0..40 {
                    let mut r = report();
                    let id = format!("report--00000000-0000-4000-8000-{:012}", c * 1000 + k);
                    r["object"]["id"] = id.clone().into();
                    let (s, b) = call(
                        &f,
                        "POST",
                        "/api/v1/items",
                        Some("kim"),
                        Some(r.to_string()),
                    )
                    .await;
                    assert_eq!(s, StatusCode::CREATED, "{b}");
                    let (s, b) = call(
                        &f,
                        "GET",
                        &format!("/api/v1/items/{id}"),
                        Some("park"),
                        None,
                    )
                    .await;
                    assert_eq!(s, StatusCode::OK, "{b}");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let c = counts(&f);
    assert_eq!(c.items, 640);
    let audit = f.node.store().audit_after(0, 100_000).unwrap();
    assert_eq!(gsomia_store::verify_chain(&audit), Ok(audit.len() as u64));
    let (_, b) = call(&f, "GET", "/api/v1/items?limit=1000", Some("park"), None).await;
    assert_eq!(b["items"].as_array().unwrap().len(), 640);
}

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint() {
    let f = kor_node("openapi", "2019-07-25");
    let (s, doc) = call(&f, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut paths: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{m} {p}"))
        })
        .collect();
    paths.sort();
    let expected = [
        "get /api/v1/agreements",
        "get /api/v1/agreements/{id}",
        "get /api/v1/agreements/{id}/letters",
        "get /api/v1/assurances",
        "get /api/v1/audit",
        "get /api/v1/consents",
        "get /api/v1/consents/requests",
        "get /api/v1/facilities",
        "get /api/v1/incidents",
        "get /api/v1/items",
        "get /api/v1/items/{id}",
        "get /api/v1/items/{id}/custody",
        "get /api/v1/items/{id}/related",
        "get /api/v1/log/checkpoint",
        "get /api/v1/log/entries",
        "get /api/v1/log/evidence",
        "get /api/v1/log/proof/consistency",
        "get /api/v1/log/proof/inclusion",
        "get /api/v1/log/witnessed",
        "get /api/v1/node",
        "get /api/v1/parties",
        "get /api/v1/registers/{which}",
        "get /api/v1/release-rules",
        "get /api/v1/search",
        "get /api/v1/status",
        "get /api/v1/stream",
        "get /api/v1/visits",
        "post /api/v1/agreements",
        "post /api/v1/agreements/{id}/amendments",
        "post /api/v1/agreements/{id}/amendments/{amendment}/sign",
        "post /api/v1/agreements/{id}/events",
        "post /api/v1/agreements/{id}/letters",
        "post /api/v1/assurances",
        "post /api/v1/consents/requests",
        "post /api/v1/consents/requests/{id}/answer",
        "post /api/v1/consents/standing",
        "post /api/v1/consents/{id}/revoke",
        "post /api/v1/facilities",
        "post /api/v1/facilities/{id}/inspections",
        "post /api/v1/incidents",
        "post /api/v1/incidents/{id}/result",
        "post /api/v1/items",
        "post /api/v1/items/batch",
        "post /api/v1/items/derive",
        "post /api/v1/items/{id}/destroy",
        "post /api/v1/items/{id}/reclassify",
        "post /api/v1/items/{id}/release",
        "post /api/v1/items/{id}/return",
        "post /api/v1/log/checkpoint",
        "post /api/v1/release-rules",
        "post /api/v1/visits",
        "post /api/v1/visits/{id}/authorise",
        "post /api/v1/visits/{id}/findings",
        "post /api/v1/visits/{id}/refuse",
    ];
    assert_eq!(paths, expected);
    // Each documented route answers (with something other than the router's 404). The stream
    // answers and never ends: `t1_a_stream_…` reads it.
    for p in paths.iter().filter(|p| *p != "get /api/v1/stream") {
        let (method, path) = p.split_once(' ').unwrap();
        let path = path.replace("{id}", "1");
        let (s, b) = call(
            &f,
            &method.to_uppercase(),
            &path,
            Some("park"),
            Some("{}".into()),
        )
        .await;
        assert!(
            !(s == StatusCode::NOT_FOUND && b["error"]["message"] == "no such endpoint"),
            "{p}"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let publish = &doc["paths"]["/api/v1/items"]["post"];
    assert!(publish["requestBody"].is_object());
    assert!(publish["responses"]["403"].is_object());
}

/// Finding 10: role refusals come before any look-up, so they say nothing of whether an item
/// exists; a report on an item one may not read is answered as for one that does not exist.
#[tokio::test]
async fn h8_refusals_say_nothing_of_what_exists() {
    let f = kor_node("h8-exists", "2019-07-25");
    publish(&f).await;
    let missing = "report--00000000-0000-4000-8000-0000000000ee";
    for (path, body, rule) in [
        ("release", json!({"to": "JPN"}), "R7"),
        ("destroy", json!({}), "P5"),
        ("reclassify", json!({"level": "III"}), "M4"),
    ] {
        let mut answers = vec![];
        for id in [REPORT_ID, missing] {
            let before = counts(&f).audit;
            let (s, b) = call(
                &f,
                "POST",
                &format!("/api/v1/items/{id}/{path}"),
                Some("kim"),
                Some(body.to_string()),
            )
            .await;
            assert_eq!(
                (s, b["error"]["rule"].as_str()),
                (StatusCode::FORBIDDEN, Some(rule))
            );
            assert_eq!(counts(&f).audit, before + 1, "{path}: audited");
            answers.push(b);
        }
        assert_eq!(answers[0], answers[1], "{path}");
    }
    let (a, b) = (
        call(
            &f,
            "POST",
            "/api/v1/incidents/1/result",
            Some("kim"),
            Some(json!({"result": "r", "measures": "m"}).to_string()),
        )
        .await,
        call(
            &f,
            "POST",
            "/api/v1/incidents/999/result",
            Some("kim"),
            Some(json!({"result": "r", "measures": "m"}).to_string()),
        )
        .await,
    );
    assert_eq!((a.0, &a.1), (StatusCode::FORBIDDEN, &b.1));
    // Choi (III) reports on the level-II report and on nothing: the same answer.
    let report_on =
        |id: &str| json!({"item": id, "kind": "loss", "description": "lost"}).to_string();
    let (s1, b1) = call(
        &f,
        "POST",
        "/api/v1/incidents",
        Some("choi"),
        Some(report_on(REPORT_ID)),
    )
    .await;
    let (s2, b2) = call(
        &f,
        "POST",
        "/api/v1/incidents",
        Some("choi"),
        Some(report_on(missing)),
    )
    .await;
    assert_eq!((s1, s2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(
        b1.to_string().replace(REPORT_ID, "ID"),
        b2.to_string().replace(missing, "ID")
    );
    // Standing release rules are for officers only (R7).
    let (s, b) = call(&f, "GET", "/api/v1/release-rules", Some("kim"), None).await;
    assert_eq!(
        (s, b["error"]["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("R7"))
    );
    let (s, _) = call(&f, "GET", "/api/v1/release-rules", Some("park"), None).await;
    assert_eq!(s, StatusCode::OK);
}

/// Tokens: one that expired is refused (401) on every interface; a reissued token replaces the
/// old one at once; a disabled user's token works again once the user is enabled.
#[tokio::test]
async fn tokens_expire_are_reissued_and_users_re_enabled() {
    let f = kor_node("tokens", "2019-07-25");
    let me = |token: &str| {
        let node = f.node.clone();
        let token = token.to_owned();
        async move {
            let req = Request::builder()
                .uri("/api/v1/agreements")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            let resp = gsomia_node::api::app(node).oneshot(req).await.unwrap();
            resp.status()
        }
    };
    let user = |id: &str| -> User {
        serde_json::from_value(json!({"id": id, "party": "KOR", "roles": ["analyst"],
            "clearance": "II", "duties": ["missile-warning"]}))
        .unwrap()
    };
    let day = |d: &str| -> gsomia_core::Date { d.parse().unwrap() };
    let old = f
        .node
        .add_user_until(user("yun"), Some(day("2019-07-24")))
        .unwrap();
    assert_eq!(
        me(&old).await,
        StatusCode::UNAUTHORIZED,
        "expired yesterday"
    );
    let today = f
        .node
        .reissue_token("yun", Some(day("2019-07-25")))
        .unwrap();
    assert_eq!(
        me(&today).await,
        StatusCode::OK,
        "valid through its last day"
    );
    let fresh = f.node.reissue_token("yun", None).unwrap();
    assert_eq!(me(&today).await, StatusCode::UNAUTHORIZED, "replaced");
    assert_eq!(me(&fresh).await, StatusCode::OK);
    f.node.disable_user("yun").unwrap();
    assert_eq!(me(&fresh).await, StatusCode::UNAUTHORIZED);
    f.node.enable_user("yun").unwrap();
    assert_eq!(me(&fresh).await, StatusCode::OK);
    // TAXII authenticates through the same door.
    let req = Request::builder()
        .uri("/taxii2/")
        .header("accept", "application/taxii+json;version=2.1")
        .header("authorization", format!("Bearer {today}"))
        .body(Body::empty())
        .unwrap();
    let resp = gsomia_node::api::app(f.node.clone())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(f.node.reissue_token("nobody", None).is_err());
}

#[tokio::test]
async fn metrics_for_admins_readiness_and_request_ids_in_logs_and_audit() {
    let f = kor_node("metrics", "2019-07-25");
    publish(&f).await;
    // Not for anonymous callers, nor for officers: the node's administrator's (P7); a refusal
    // is audited.
    let (s, _) = call_text(&f, "GET", "/metrics", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let before = counts(&f).audit;
    let (s, body) = call(&f, "GET", "/metrics", Some("park"), None).await;
    assert_eq!(
        (s, body["error"]["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("P7"))
    );
    assert_eq!(counts(&f).audit, before + 1);
    let (s, text) = call_text(&f, "GET", "/metrics", Some("jung"), None).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    for line in [
        "gsomia_http_requests_total{route=\"/api/v1/items\",status=\"201\"} 1",
        "gsomia_http_requests_total{route=\"/metrics\",status=\"403\"} 1",
        "gsomia_decisions_total{action=\"item.publish\",outcome=\"allow\",rule=\"\"} 1",
        "gsomia_decisions_total{action=\"metrics\",outcome=\"deny\",rule=\"P7\"} 1",
        "gsomia_http_request_seconds_count{route=\"/api/v1/items\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
    let commits = text
        .lines()
        .find_map(|l| l.strip_prefix("gsomia_store_commits_total "))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no store commits in:\n{text}"));
    assert!(commits >= 2.0, "{text}");
    // The path a caller asks for never becomes a label: one `unmatched` route.
    call_text(&f, "GET", "/no/such/thing-1", None, None).await;
    call_text(&f, "GET", "/no/such/thing-2", None, None).await;
    let (_, text) = call_text(&f, "GET", "/metrics", Some("jung"), None).await;
    assert!(
        text.contains("gsomia_http_requests_total{route=\"unmatched\",status=\"404\"} 2")
            && !text.contains("thing-1"),
        "{text}"
    );

    // Each answer names its request; the audit entry it made carries the same id.
    let resp = gsomia_node::api::app(f.node.clone())
        .oneshot(
            Request::builder()
                .uri(format!("/api/v1/items/{REPORT_ID}"))
                .header("authorization", format!("Bearer {}", f.tokens["kim"]))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let entries = f.node.store().audit_after(0, 10_000).unwrap();
    let read: Value = entries
        .iter()
        .rev()
        .map(|e| serde_json::from_str::<Value>(&e.body).unwrap())
        .find(|e| e["action"] == "item.read")
        .unwrap();
    assert_eq!(read["detail"]["request"], id.as_str(), "{read}");

    // Ready while the store answers; not once it is closed.
    let (s, text) = call_text(&f, "GET", "/readyz", None, None).await;
    assert_eq!((s, text.as_str()), (StatusCode::OK, "ready"));
    f.node.close();
    let (s, text) = call_text(&f, "GET", "/readyz", None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    let (s, _) = call_text(&f, "GET", "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);
}

/// Two `gsomia serve` processes on one PostgreSQL database (issue 13): a write answered by one
/// is read at the other at once, both append to one audit chain and tree, and only one holds
/// the delivery and checkpoint leases. Runs in the suite's PostgreSQL pass.
#[tokio::test]
async fn two_processes_on_one_database_share_one_log_and_one_delivers() {
    if std::env::var("GSOMIA_TEST_STORE").as_deref() != Ok("postgres") {
        return;
    }
    let a = kor_node("two-processes", "2019-07-25");
    let dir = std::env::temp_dir()
        .join(format!("gsomia-node-{}-two-processes", std::process::id()))
        .join("KOR");
    let b = Node::open(&dir, clock("2019-07-25").0).unwrap();
    b.start_index();
    // A publishes; B reads it at once.
    publish(&a).await;
    assert!(b.store().item(&item_id(REPORT_ID), None).unwrap().is_some());
    // Both write (reads are audited); one chain, one tree.
    let kim = b.user_by_token(&a.tokens["kim"]).unwrap().unwrap();
    for _ in 0..5 {
        gsomia_node::service::items::read(&b, &kim, REPORT_ID, None, "api")
            .await
            .unwrap();
        let (s, _) = call(
            &a,
            "GET",
            &format!("/api/v1/items/{REPORT_ID}"),
            Some("kim"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }
    assert!(a.node.holds("delivery") && a.node.holds("checkpoints"));
    assert!(!b.holds("delivery") && !b.holds("checkpoints"));
    let key = a.node.keys().signing.verifying_key();
    let verifier =
        gsomia_log::LogVerifier::new(&gsomia_node::transparency::origin(a.node.party()), key);
    gsomia_node::transparency::issue(&b).await.unwrap();
    let verified = gsomia_store::verify::verify_store(
        a.node.store(),
        |note| {
            let c =
                gsomia_log::SignedCheckpoint::open(note, &verifier).map_err(|e| e.to_string())?;
            Ok((c.size, c.root))
        },
        |_, _| {},
    )
    .unwrap();
    assert_eq!(verified.entries, a.node.store().log_size().unwrap());
    assert_eq!(verified.checkpoints, 1);
    // What A changes in the world decides B's next request at once: a standing release rule
    // added at A is B's, and an agreement A's administrator replaces with one terminated in 2018
    // refuses B's release under it (R1), though B read the agreement when it opened.
    let b = Fixture {
        node: b,
        tokens: a.tokens.clone(),
    };
    let rule = json!({"to": "USA", "topics": ["dprk-missile"], "max_level": "II"});
    let (s, body) = call(
        &a,
        "POST",
        "/api/v1/release-rules",
        Some("park"),
        Some(rule.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (_, body) = call(&b, "GET", "/api/v1/release-rules", Some("park"), None).await;
    assert_eq!(body["rules"][0]["to"], "USA", "{body}");
    let mut ended: Value = serde_json::from_str(&read("agreements/kor-jpn-gsomia.json")).unwrap();
    ended["events"] = json!([
        { "type": "signed", "by": "JPN", "on": "2016-11-23" },
        { "type": "signed", "by": "KOR", "on": "2016-11-23" },
        { "type": "notice", "by": "KOR", "on": "2018-08-01" }
    ]);
    a.node
        .import_agreement(serde_json::from_value(ended).unwrap())
        .unwrap();
    let (s, body) = call(
        &b,
        "POST",
        &format!("/api/v1/items/{REPORT_ID}/release"),
        Some("park"),
        Some(json!({"to": "JPN"}).to_string()),
    )
    .await;
    assert_eq!(
        (s, body["error"]["rule"].as_str()),
        (StatusCode::FORBIDDEN, Some("R1")),
        "{body}"
    );
    let b = b.node;

    // B's search index follows what A publishes and destroys (P5 in every process).
    let waits = |what: &str, check: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !check() {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    waits("B indexes A's item", &|| b.index.knows("wonsan"));
    let (s, body) = call(
        &a,
        "POST",
        &format!("/api/v1/items/{REPORT_ID}/destroy"),
        Some("park"),
        Some(json!({"reason": "superseded"}).to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    waits("B forgets the destroyed item's words", &|| {
        !b.index.knows("wonsan")
    });

    b.close();
}

/// Found by schemathesis (issue 16): a record number in a path that is no number was answered
/// by the router's plain text; it is a JSON 404 like every other error.
#[tokio::test]
async fn a_path_id_that_is_no_number_is_a_json_404() {
    let f = kor_node("path-number", "2019-07-25");
    for (uri, body) in [
        (
            "/api/v1/incidents/true/result",
            json!({ "result": "x", "measures": "y" }),
        ),
        (
            "/api/v1/consents/requests/2.5e-51/answer",
            json!({ "approve": true }),
        ),
    ] {
        let (status, b) = call(&f, "POST", uri, Some("park"), Some(body.to_string())).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {b}");
        assert_eq!(b["error"]["code"], "not_found", "{uri}: {b}");
    }
}
