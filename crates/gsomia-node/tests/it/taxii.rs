//! TAXII 2.1 through the router: who sees what (P1, P2 through every endpoint and filter),
//! what is refused and how, and that reads and writes are audited. The conformance suite with
//! real Python clients runs in gsomia-cli's tests.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{Fixture, REPORT_ID, item_id, kor_node, publish};

const MEDIA: &str = "application/taxii+json;version=2.1";
const MARKING: &str = include_str!("../../../../docs/stix/gsomia-marking.json");

/// A TAXII request as `user` (a fixture user, or a raw Authorization value after `raw:`).
async fn taxii(
    f: &Fixture,
    method: &str,
    uri: &str,
    user: &str,
    body: Option<Value>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let auth = match user.strip_prefix("raw:") {
        Some(raw) => raw.to_owned(),
        None => format!("Bearer {}", f.tokens[user]),
    };
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("accept", MEDIA);
    if !auth.is_empty() {
        req = req.header("authorization", auth);
    }
    let req = match body {
        Some(b) => req
            .header("content-type", MEDIA)
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = gsomia_node::api::app(f.node.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    if !bytes.is_empty() {
        assert_eq!(
            headers["content-type"], MEDIA,
            "{method} {uri}: every TAXII answer has the TAXII media type"
        );
    }
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The `dprk-missile` collection's objects URL.
async fn collection(f: &Fixture) -> String {
    let (s, _, b) = taxii(f, "GET", "/taxii2/api/collections/", "kim", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let c = b["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["title"] == "KOR: dprk-missile")
        .unwrap();
    assert_eq!(c["can_write"], true);
    format!("/taxii2/api/collections/{}/", c["id"].as_str().unwrap())
}

#[tokio::test]
async fn p1_p2_readers_without_clearance_or_need_to_know_see_nothing_through_any_endpoint() {
    let f = kor_node("taxii-access", "2019-07-25");
    publish(&f).await;
    let c = collection(&f).await;
    let object = format!("{c}objects/{REPORT_ID}/");
    // Kim (II, missile-warning) sees the report as published through the API, which added the
    // node's marking to it: every object served carries its classification.
    let report: Value =
        serde_json::from_str(&super::read("items/kor-missile-report.json")).unwrap();
    let (s, h, b) = taxii(&f, "GET", &format!("{c}objects/"), "kim", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let served = b["objects"][0].clone();
    let refs = served["object_marking_refs"].as_array().unwrap().clone();
    assert_eq!(refs.len(), 1, "{served}");
    let mut as_published = served.clone();
    as_published
        .as_object_mut()
        .unwrap()
        .remove("object_marking_refs");
    assert_eq!(as_published, report["object"]);
    assert!(h.contains_key("x-taxii-date-added-first"));
    // The marking is served by id to who may read under it (its label), and to nobody else:
    // its id is computable, and it tells the item's level, topics and purpose (H8).
    let marking = format!("{c}objects/{}/", refs[0].as_str().unwrap());
    let (s, _, b) = taxii(&f, "GET", &marking, "kim", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let label = &b["objects"][0]["extensions"][gsomia_node::api::EXTENSION];
    assert_eq!(
        (label["originator"].as_str(), label["level"].as_str()),
        (Some("KOR"), Some("II"))
    );
    for reader in ["choi", "jung"] {
        let (s, _, b) = taxii(&f, "GET", &marking, reader, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{reader}: {b}");
    }
    let (s, _, b) = taxii(&f, "GET", &object, "kim", None).await;
    assert_eq!(
        (s, b["objects"][0]["id"].as_str()),
        (StatusCode::OK, Some(REPORT_ID))
    );

    // Choi (cleared III only) and Jung (cleared I, but no duty on the topic) see none of it,
    // through any endpoint or filter.
    for reader in ["choi", "jung"] {
        let before = f.node.store().log_size().unwrap();
        let empty = [
            format!("{c}objects/"),
            format!("{c}objects/?match[id]={REPORT_ID}"),
            format!("{c}objects/?match[type]=report&match[version]=all"),
            format!("{c}manifest/"),
            format!("{c}manifest/?match[id]={REPORT_ID}"),
        ];
        for uri in empty {
            let (s, h, b) = taxii(&f, "GET", &uri, reader, None).await;
            assert_eq!(s, StatusCode::OK, "{reader} {uri}: {b}");
            assert_eq!(b, json!({ "more": false }), "{reader} {uri}");
            assert!(!h.contains_key("x-taxii-date-added-first"));
        }
        for uri in [
            object.clone(),
            format!("{object}versions/"),
            format!("{object}?match[version]=all"),
        ] {
            let (s, _, b) = taxii(&f, "GET", &uri, reader, None).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{reader} {uri}: {b}");
            assert_eq!(b["http_status"], "404");
            assert!(!b.to_string().contains("Wonsan"), "{b}");
        }
        // Every request was audited; the ones by id as refusals with the rule.
        let entries = f.node.store().audit_after(before, 100).unwrap();
        assert!(entries.len() >= 8, "{reader}: {} entries", entries.len());
        let refusal = entries
            .iter()
            .map(|e| e.parse().unwrap())
            .find(|d| d.decision == "deny")
            .unwrap();
        assert_eq!(refusal.subject, REPORT_ID);
        assert!(refusal.rule.is_some(), "{refusal:?}");
    }
}

#[tokio::test]
async fn posting_needs_a_gsomia_marking_and_a_cleared_publisher_and_refusals_are_named() {
    let f = kor_node("taxii-post", "2019-07-25");
    publish(&f).await;
    let c = collection(&f).await;
    let marking: Value = serde_json::from_str(MARKING).unwrap();
    let indicator = |n: u32, refs: Value| {
        json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--00000000-0000-4000-8000-00000000000{n}"),
            "created": "2019-07-25T01:00:00.000Z", "modified": "2019-07-25T01:00:00.000Z",
            "name": "launch site activity", "pattern": "[ipv4-addr:value = '198.51.100.7']",
            "pattern_type": "stix", "valid_from": "2019-07-25T01:00:00Z",
            "object_marking_refs": refs,
        })
    };
    let tlp_green = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
    let envelope = json!({ "objects": [
        marking,
        indicator(1, json!([marking["id"], tlp_green])),
        indicator(2, json!([tlp_green])),
    ]});
    let before = f.node.store().counts().unwrap();
    let (s, _, status) = taxii(
        &f,
        "POST",
        &format!("{c}objects/"),
        "kim",
        Some(envelope.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{status}");
    assert_eq!(
        (
            status["total_count"].as_u64(),
            status["success_count"].as_u64(),
            status["failure_count"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    let failure = &status["failures"][0];
    assert_eq!(
        failure["id"],
        "indicator--00000000-0000-4000-8000-000000000002"
    );
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("no gsomia classification"),
        "{failure}"
    );
    assert_eq!(f.node.store().counts().unwrap().items, before.items + 1);
    // The stored object keeps the TLP marking it came with, as posted.
    let (_, _, b) = taxii(
        &f,
        "GET",
        &format!("{c}objects/indicator--00000000-0000-4000-8000-000000000001/"),
        "kim",
        None,
    )
    .await;
    assert_eq!(b["objects"][0], envelope["objects"][1]);
    // The status is the poster's only.
    let uri = format!("/taxii2/api/status/{}/", status["id"].as_str().unwrap());
    assert_eq!(taxii(&f, "GET", &uri, "kim", None).await.0, StatusCode::OK);
    assert_eq!(
        taxii(&f, "GET", &uri, "choi", None).await.0,
        StatusCode::NOT_FOUND
    );

    // Choi, cleared III, may not classify at II (P1): refused per object, audited.
    let envelope = json!({ "objects": [marking, indicator(3, json!([marking["id"]]))] });
    let (s, _, status) = taxii(&f, "POST", &format!("{c}objects/"), "choi", Some(envelope)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{status}");
    let message = status["failures"][0]["message"].as_str().unwrap();
    assert!(message.contains("(rule P1)"), "{message}");
    let last = f
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
            last.action.as_str(),
            last.decision.as_str(),
            last.rule.map(gsomia_core::Rule::id)
        ),
        ("item.publish", "deny", Some("P1"))
    );

    // Wrong media types, no or bad credentials: the TAXII answers.
    let (s, _, b) = taxii(&f, "GET", "/taxii2/", "raw:", None).await;
    assert_eq!(
        (s, b["http_status"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("401"))
    );
    let wrong = format!(
        "Basic {}",
        base64_encode(&format!("choi:{}", f.tokens["kim"]))
    );
    let (s, _, _) = taxii(&f, "GET", "/taxii2/", &format!("raw:{wrong}"), None).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a token works only with its own user id"
    );
    let right = format!(
        "Basic {}",
        base64_encode(&format!("kim:{}", f.tokens["kim"]))
    );
    let (s, _, b) = taxii(&f, "GET", "/taxii2/", &format!("raw:{right}"), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let req = Request::builder()
        .method("POST")
        .uri(format!("{c}objects/"))
        .header("authorization", format!("Bearer {}", f.tokens["kim"]))
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let resp = gsomia_node::api::app(f.node.clone())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Refused before the body was read: `Connection: close`, so that a kept-alive client does
    // not send its next request on a connection the server closes.
    assert_eq!(resp.headers()["connection"], "close");
    let req = Request::builder()
        .uri("/taxii2/")
        .header("authorization", format!("Bearer {}", f.tokens["kim"]))
        .header("accept", "application/xml")
        .body(Body::empty())
        .unwrap();
    let resp = gsomia_node::api::app(f.node.clone())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_ACCEPTABLE);
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn malformed_envelopes_and_read_only_collections_are_refused_and_change_nothing() {
    let f = kor_node("taxii-bad", "2019-07-25");
    publish(&f).await;
    let c = collection(&f).await;
    // A partner's collection is read-only.
    let (_, _, b) = taxii(&f, "GET", "/taxii2/api/collections/", "kim", None).await;
    let from_jpn = b["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["title"] == "from JPN")
        .unwrap()
        .clone();
    assert_eq!(from_jpn["can_write"], false);
    let before = f.node.store().counts().unwrap();
    let send = |uri: String, body: &'static str| {
        let req = Request::builder()
            .method("POST")
            .uri(uri)
            .header("authorization", format!("Bearer {}", f.tokens["kim"]))
            .header("content-type", MEDIA)
            .body(Body::from(body))
            .unwrap();
        gsomia_node::api::app(f.node.clone()).oneshot(req)
    };
    let cases = [
        (
            format!("{c}objects/"),
            "{\"objects\": [",
            StatusCode::BAD_REQUEST,
            "not JSON",
        ),
        (
            format!("{c}objects/"),
            "{\"things\": []}",
            StatusCode::UNPROCESSABLE_ENTITY,
            "`objects` list",
        ),
        (
            format!(
                "/taxii2/api/collections/{}/objects/",
                from_jpn["id"].as_str().unwrap()
            ),
            "{\"objects\": []}",
            StatusCode::FORBIDDEN,
            "may not add objects",
        ),
        (
            "/taxii2/api/collections/nope/objects/".into(),
            "{\"objects\": []}",
            StatusCode::NOT_FOUND,
            "no collection",
        ),
    ];
    for (uri, body, status, says) in cases {
        let resp = send(uri.clone(), body).await.unwrap();
        assert_eq!(resp.status(), status, "{uri} {body}");
        assert_eq!(resp.headers()["content-type"], MEDIA);
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let b: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(b["http_status"], status.as_str());
        assert!(
            b["description"].as_str().unwrap().contains(says),
            "{uri}: {b}"
        );
    }
    let after = f.node.store().counts().unwrap();
    assert_eq!((after.items, after.outbox), (before.items, before.outbox));
    // Only the refusal to write to the read-only collection was a decision, and it is audited.
    assert_eq!(after.audit, before.audit + 1);
    let last = f
        .node
        .store()
        .audit_after(0, 10_000)
        .unwrap()
        .pop()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        (last.action.as_str(), last.decision.as_str()),
        ("taxii.add", "deny")
    );
}

/// Finding 9: an envelope with a refused object and a duplicated one still records the refusal.
#[tokio::test]
async fn p7_every_posted_object_decision_is_audited_even_beside_a_duplicate() {
    let f = kor_node("taxii-dup", "2019-07-25");
    let c = collection(&f).await;
    let marking: Value = serde_json::from_str(MARKING).unwrap();
    let mut above = marking.clone();
    above["id"] = "marking-definition--00000000-0000-4000-8000-0000000000a1".into();
    above["extensions"][gsomia_node::api::EXTENSION]["level"] = "I".into();
    let indicator = |n: u32, refs: Value| {
        json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--00000000-0000-4000-8000-00000000010{n}"),
            "created": "2019-07-25T01:00:00.000Z", "modified": "2019-07-25T01:00:00.000Z",
            "name": "x", "pattern": "[ipv4-addr:value = '198.51.100.7']",
            "pattern_type": "stix", "valid_from": "2019-07-25T01:00:00Z",
            "object_marking_refs": refs,
        })
    };
    let envelope = json!({ "objects": [
        marking, above,
        indicator(1, json!([above["id"]])),          // level I: above kim's II (P1)
        indicator(2, json!([marking["id"]])),
        indicator(2, json!([marking["id"]])),        // the same object again
    ]});
    let before = f.node.store().counts().unwrap();
    let (s, _, status) = taxii(&f, "POST", &format!("{c}objects/"), "kim", Some(envelope)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{status}");
    assert_eq!(status["failure_count"], 2, "{status}");
    assert_eq!(f.node.store().counts().unwrap().items, before.items + 1);
    let decisions: Vec<(String, String, Option<String>)> = f
        .node
        .store()
        .audit_after(before.audit, 100)
        .unwrap()
        .iter()
        .map(|e| e.parse().unwrap())
        .filter(|d: &gsomia_store::AuditDraft| d.action == "item.publish")
        .map(|d| {
            let rule = d.rule.map(|r| r.id().to_owned());
            (d.subject, d.decision.as_str().to_owned(), rule)
        })
        .collect();
    assert_eq!(
        decisions,
        [
            (
                "indicator--00000000-0000-4000-8000-000000000101".to_owned(),
                "deny".to_owned(),
                Some("P1".to_owned())
            ),
            (
                "indicator--00000000-0000-4000-8000-000000000102".to_owned(),
                "allow".to_owned(),
                None
            ),
        ]
    );
}

/// Finding 10: a topic known only from items (a codename) is not a collection title for users
/// whose duties do not name it.
#[tokio::test]
async fn h8_collection_titles_tell_no_topic_a_user_has_no_duty_for() {
    let f = kor_node("taxii-titles", "2019-07-25");
    let mut r: Value = super::report();
    r["label"]["topics"] = json!(["dprk-missile", "op-nightfall"]);
    let (s, b) = super::call(
        &f,
        "POST",
        "/api/v1/items",
        Some("kim"),
        Some(r.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let titles = |b: Value| -> Vec<String> {
        b["collections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, _, b) = taxii(&f, "GET", "/taxii2/api/collections/", "kim", None).await;
    let seen = titles(b);
    assert!(seen.contains(&"KOR: dprk-missile".to_owned()), "{seen:?}");
    assert!(!seen.iter().any(|t| t.contains("nightfall")), "{seen:?}");
    let (_, _, b) = taxii(&f, "GET", "/taxii2/api/collections/", "kang", None).await;
    assert!(!titles(b).iter().any(|t| t.contains("nightfall")));
}

/// Finding 15: a page for a user who may read nothing looks at a bounded number of rows and
/// says where to go on.
#[tokio::test]
async fn h4_a_page_scans_a_bounded_number_of_rows() {
    let f = kor_node("taxii-bound", "2019-07-25");
    let c = collection(&f).await;
    let marking: Value = serde_json::from_str(MARKING).unwrap();
    let objects: Vec<Value> = std::iter::once(marking.clone())
        .chain((0..2_050).map(|n| {
            json!({
                "type": "indicator", "spec_version": "2.1",
                "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
                "created": "2019-07-25T01:00:00.000Z", "modified": "2019-07-25T01:00:00.000Z",
                "name": "x", "pattern": "[ipv4-addr:value = '198.51.100.7']",
                "pattern_type": "stix", "valid_from": "2019-07-25T01:00:00Z",
                "object_marking_refs": [marking["id"]],
            })
        }))
        .collect();
    let (s, _, status) = taxii(
        &f,
        "POST",
        &format!("{c}objects/"),
        "kim",
        Some(json!({ "objects": objects })),
    )
    .await;
    assert_eq!(
        (s, status["success_count"].as_u64()),
        (StatusCode::ACCEPTED, Some(2_051))
    );
    // Choi (III) may read none of them: the first page stops after 2,000 rows, with `next`.
    let (s, _, b) = taxii(&f, "GET", &format!("{c}objects/"), "choi", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["more"].as_bool(), b.get("objects")),
        (Some(true), None),
        "{b}"
    );
    let next = b["next"].as_str().unwrap().to_owned();
    let (_, _, b) = taxii(&f, "GET", &format!("{c}objects/?next={next}"), "choi", None).await;
    assert_eq!(
        (b["more"].as_bool(), b.get("objects")),
        (Some(false), None),
        "{b}"
    );
    // Kim reads all of them, page by page, as before.
    let mut seen = 0;
    let mut uri = format!("{c}objects/");
    loop {
        let (_, _, b) = taxii(&f, "GET", &uri, "kim", None).await;
        seen += b["objects"].as_array().map_or(0, Vec::len);
        match b["next"].as_str() {
            Some(n) => uri = format!("{c}objects/?next={n}"),
            None => break,
        }
    }
    assert_eq!(seen, 2_050);
}

/// The gsomia label a marking-definition carries.
fn taxii_label(marking: &Value) -> Value {
    let mut label = marking["extensions"][gsomia_node::api::EXTENSION].clone();
    label.as_object_mut().unwrap().remove("extension_type");
    label
}

/// The entries the last request wrote: (action, subject, decision, rule, detail).
fn written(f: &Fixture, after: u64) -> Vec<(String, String, String, Option<String>, Value)> {
    f.node
        .store()
        .audit_after(after, 1_000)
        .unwrap()
        .iter()
        .map(|e| {
            let d: gsomia_store::AuditDraft = e.parse().unwrap();
            let rule = d.rule.map(|r| r.id().to_owned());
            (
                d.action,
                d.subject,
                d.decision.as_str().to_owned(),
                rule,
                d.detail,
            )
        })
        .collect()
}

/// REST and TAXII are two doors to one service: the same action gets the same decision, the
/// same audit entry (but for the interface it names) and the same effects.
#[tokio::test]
async fn rest_and_taxii_decide_record_and_change_the_same() {
    let f = kor_node("parity", "2019-07-25");
    let c = collection(&f).await;
    let marking: Value = serde_json::from_str(MARKING).unwrap();
    let object = |n: u32| {
        json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--00000000-0000-4000-8000-00000000020{n}"),
            "created": "2019-07-25T01:00:00.000Z", "modified": "2019-07-25T01:00:00.000Z",
            "name": "x", "pattern": "[ipv4-addr:value = '198.51.100.7']",
            "pattern_type": "stix", "valid_from": "2019-07-25T01:00:00Z",
            "object_marking_refs": [marking["id"]],
        })
    };
    let label = taxii_label(&marking);
    // What differs by nature: the interface, the binding's randomness, the request's id.
    let strip = |mut d: Value| {
        if let Some(o) = d.as_object_mut() {
            o.remove("via");
            o.remove("binding");
            assert!(o.remove("request").is_some(), "no request id in {o:?}");
        }
        d
    };
    // Publish, allowed and refused (choi, III, may not classify at II: P1).
    let mut decided = vec![];
    for (who, n) in [("kim", 1), ("choi", 3)] {
        let before = f.node.store().counts().unwrap();
        let (s, b) = super::call(
            &f,
            "POST",
            "/api/v1/items",
            Some(who),
            Some(json!({"label": label, "object": object(n)}).to_string()),
        )
        .await;
        let rest = written(&f, before.audit);
        let rest_items = f.node.store().counts().unwrap().items - before.items;
        let before = f.node.store().counts().unwrap();
        let envelope = json!({ "objects": [marking, object(n + 1)] });
        let (_, _, status) = taxii(&f, "POST", &format!("{c}objects/"), who, Some(envelope)).await;
        let taxii_entries = written(&f, before.audit);
        let taxii_items = f.node.store().counts().unwrap().items - before.items;
        assert_eq!(rest_items, taxii_items, "{who}: {b} {status}");
        let shape = |w: &[(String, String, String, Option<String>, Value)]| {
            w.iter()
                .map(|(a, _, d, r, _)| (a.clone(), d.clone(), r.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(shape(&rest), shape(&taxii_entries), "{who}");
        decided.push((s, status["failure_count"].as_u64()));
    }
    assert_eq!(
        decided,
        [
            (StatusCode::CREATED, Some(0)),
            (StatusCode::FORBIDDEN, Some(1))
        ]
    );
    // Read by id, allowed and refused: one `item.read` entry each, the same but for `via`.
    let id = "indicator--00000000-0000-4000-8000-000000000201";
    for who in ["kim", "choi"] {
        let before = f.node.store().counts().unwrap().audit;
        let (s, _) = super::call(&f, "GET", &format!("/api/v1/items/{id}"), Some(who), None).await;
        let rest = written(&f, before);
        let before = f.node.store().counts().unwrap().audit;
        let (t, _, _) = taxii(&f, "GET", &format!("{c}objects/{id}/"), who, None).await;
        let through_taxii = written(&f, before);
        assert_eq!(s, t, "{who}: the same answer");
        assert_eq!(rest.len(), 1);
        assert_eq!(through_taxii.len(), 1);
        let (a, b) = (&rest[0], &through_taxii[0]);
        assert_eq!((&a.0, &a.1, &a.2, &a.3), (&b.0, &b.1, &b.2, &b.3), "{who}");
        assert_eq!(strip(a.4.clone()), strip(b.4.clone()), "{who}");
    }
    // List: the same items returned.
    let before = f.node.store().counts().unwrap().audit;
    super::call(&f, "GET", "/api/v1/items", Some("kim"), None).await;
    let rest = written(&f, before);
    let before = f.node.store().counts().unwrap().audit;
    taxii(&f, "GET", &format!("{c}objects/"), "kim", None).await;
    let through_taxii = written(&f, before);
    assert_eq!(rest[0].4["returned"], through_taxii[0].4["returned"]);
    // Destroy: refused for an analyst (P5) and allowed for an officer, with a signed
    // certificate either way; the same effect.
    let ids = [
        "indicator--00000000-0000-4000-8000-000000000201",
        "indicator--00000000-0000-4000-8000-000000000202",
    ];
    for who in ["kim", "park"] {
        let before = f.node.store().counts().unwrap().audit;
        let (s, _) = super::call(
            &f,
            "POST",
            &format!("/api/v1/items/{}/destroy", ids[0]),
            Some(who),
            Some("{}".into()),
        )
        .await;
        let rest = written(&f, before);
        let before = f.node.store().counts().unwrap().audit;
        let (t, _, _) = taxii(&f, "DELETE", &format!("{c}objects/{}/", ids[1]), who, None).await;
        let through_taxii = written(&f, before);
        assert_eq!(
            (s.is_success(), t.is_success()),
            (who == "park", who == "park"),
            "{who}"
        );
        assert_eq!(rest.len(), 1, "{who}: {rest:?}");
        assert_eq!(through_taxii.len(), 1, "{who}: {through_taxii:?}");
        let (a, b) = (&rest[0], &through_taxii[0]);
        assert_eq!((&a.0, &a.2, &a.3), (&b.0, &b.2, &b.3), "{who}");
        if who == "park" {
            for (entry, id) in [(a, ids[0]), (b, ids[1])] {
                let certificate = &entry.4["certificate"];
                assert_eq!(certificate["item"], id);
                assert!(gsomia_crypto::statement::verify(
                    &f.node.keys().signing.verifying_key(),
                    "destruction",
                    certificate,
                    entry.4["signature"].as_str().unwrap()
                ));
                assert!(
                    f.node
                        .store()
                        .item(&item_id(id), None)
                        .unwrap()
                        .unwrap()
                        .destroyed
                        .is_some()
                );
            }
        }
    }
}
