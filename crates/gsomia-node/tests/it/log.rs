//! The audit log's HTTP API through the router: checkpoints, proofs, entries, and who may see
//! what.

use axum::http::StatusCode;
use gsomia_log::{ConsistencyProof, InclusionProof, LogVerifier, SignedCheckpoint, leaf_hash};
use gsomia_store::Counts;

use super::{Fixture, call, call_text, kor_node, publish};

fn verifier(f: &Fixture) -> LogVerifier {
    LogVerifier::new("gsomia/KOR", f.node.keys().signing.verifying_key())
}

async fn checkpoint(f: &Fixture, method: &str) -> SignedCheckpoint {
    let (s, note) = call_text(f, method, "/api/v1/log/checkpoint", Some("park"), None).await;
    assert_eq!(s, StatusCode::OK, "{note}");
    SignedCheckpoint::open(&note, &verifier(f)).unwrap()
}

#[tokio::test]
async fn p7_every_entry_is_proven_in_a_signed_checkpoint_and_checkpoints_are_consistent() {
    let f = kor_node("log-proofs", "2019-07-25");
    publish(&f).await;
    let (s, _) = call(
        &f,
        "GET",
        &format!("/api/v1/items/{}", super::REPORT_ID),
        Some("choi"),
        None,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "choi is not cleared: a refusal, audited, answered as if the item did not exist (H8)"
    );
    let first = checkpoint(&f, "GET").await;
    assert_eq!(first.size, f.node.store().log_size().unwrap());
    // Nothing new: the same checkpoint.
    assert_eq!(checkpoint(&f, "POST").await, first);

    let (s, b) = call(
        &f,
        "GET",
        &format!("/api/v1/log/entries?start=1&end={}", first.size + 1),
        Some("park"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let entries = b["entries"].as_array().unwrap();
    assert_eq!(entries.len() as u64, first.size);
    for e in entries {
        let seq = e["seq"].as_u64().unwrap();
        let uri = format!(
            "/api/v1/log/proof/inclusion?index={}&size={}",
            seq - 1,
            first.size
        );
        let (s, p) = call(&f, "GET", &uri, Some("kim"), None).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        let proof: InclusionProof = serde_json::from_value(p).unwrap();
        let body = e["body"].as_str().unwrap();
        proof
            .verify(&first.root, &leaf_hash(body.as_bytes()))
            .unwrap();
        // An entry changed by one character is not in the log.
        let changed = body.replacen('"', "'", 1);
        assert!(
            proof
                .verify(&first.root, &leaf_hash(changed.as_bytes()))
                .is_err()
        );
    }

    publish_more(&f).await;
    let second = checkpoint(&f, "POST").await;
    assert!(second.size > first.size);
    let uri = format!(
        "/api/v1/log/proof/consistency?old={}&new={}",
        first.size, second.size
    );
    let (s, p) = call(&f, "GET", &uri, Some("kim"), None).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let proof: ConsistencyProof = serde_json::from_value(p).unwrap();
    proof.verify(&first.root, &second.root).unwrap();
}

async fn publish_more(f: &Fixture) {
    let mut r = super::report();
    r["object"]["id"] = "report--00000000-0000-4000-8000-000000000009".into();
    let (s, b) = call(f, "POST", "/api/v1/items", Some("kim"), Some(r.to_string())).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

#[tokio::test]
async fn bad_log_queries_are_named_and_entries_are_for_officers() {
    let f = kor_node("log-bad", "2019-07-25");
    publish(&f).await;
    let size = f.node.store().log_size().unwrap();
    let cases: Vec<(&str, &str, StatusCode, &str)> = vec![
        (
            "kim",
            "/api/v1/log/proof/inclusion?index=99",
            StatusCode::UNPROCESSABLE_ENTITY,
            "not in a tree",
        ),
        (
            "kim",
            "/api/v1/log/proof/inclusion?index=0&size=999",
            StatusCode::UNPROCESSABLE_ENTITY,
            "the log has",
        ),
        (
            "kim",
            "/api/v1/log/proof/inclusion?index=minus",
            StatusCode::BAD_REQUEST,
            "index",
        ),
        (
            "kim",
            "/api/v1/log/proof/inclusion?index=0&sise=1",
            StatusCode::BAD_REQUEST,
            "sise",
        ),
        (
            "kim",
            "/api/v1/log/proof/consistency?old=2&new=1",
            StatusCode::UNPROCESSABLE_ENTITY,
            "out of order",
        ),
        (
            "park",
            "/api/v1/log/entries?start=0&end=5",
            StatusCode::UNPROCESSABLE_ENTITY,
            "numbered from 1",
        ),
        (
            "park",
            "/api/v1/log/entries?start=1&end=5000",
            StatusCode::UNPROCESSABLE_ENTITY,
            "at most 1,000",
        ),
        (
            "kim",
            "/api/v1/log/entries?start=1&end=2",
            StatusCode::FORBIDDEN,
            "security_officer",
        ),
        (
            "kim",
            "/api/v1/log/evidence",
            StatusCode::FORBIDDEN,
            "security_officer",
        ),
        (
            "kim",
            "/api/v1/log/witnessed",
            StatusCode::FORBIDDEN,
            "security_officer",
        ),
        (
            "nobody",
            "/api/v1/log/checkpoint",
            StatusCode::UNAUTHORIZED,
            "unknown",
        ),
        (
            "park",
            "/api/v1/items/x/custody?holder=JPN",
            StatusCode::CONFLICT,
            "not witnessed a checkpoint of JPN",
        ),
        (
            "park",
            "/api/v1/items/x/custody?holder=ZZZ",
            StatusCode::NOT_FOUND,
            "ZZZ",
        ),
    ];
    let before = f.node.store().counts().unwrap();
    for (user, uri, status, says) in cases {
        let (s, b) = call(&f, "GET", uri, Some(user), None).await;
        assert_eq!(s, status, "{uri}: {b}");
        let message = b["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{uri}: {message}");
    }
    // Asking changes nothing but the audit log, which records the three refusals (P7); a
    // checkpoint is not an audit entry.
    assert_eq!(f.node.store().log_size().unwrap(), size + 3);
    let after = f.node.store().counts().unwrap();
    assert_eq!(
        Counts {
            audit: before.audit,
            audit_head: before.audit_head.clone(),
            ..after
        },
        before
    );
}
