//! H7: TLS between nodes and to users. A partner whose certificate key is not the pinned one is
//! refused before any request; expired, malformed and mismatched certificates are named; plain
//! HTTP is served and spoken only on loopback.

use std::sync::Arc;

use gsomia_node::Node;
use gsomia_node::client::Client;
use gsomia_node::tls::{CertInfo, Pin};
use serde_json::json;

use super::federation::{
    counts, descriptor, halt, http, http_text, pair, publish_and_queue, start, until, user,
};
use super::{clock, init, item_id, temp_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h7_a_partner_presenting_another_tls_key_is_refused_before_any_request() {
    let (_root, kor, k, jpn, j, kim) = pair("tls-pin").await;
    // An impostor's pin for JPN: what KOR would hold if the descriptor had been swapped.
    let impostor: Pin = format!("sha256//{}", "A".repeat(43) + "=").parse().unwrap();
    let real = descriptor(&jpn, &j.addr);
    let refused = kor
        .import_party(gsomia_store::PartyRecord {
            tls_pin: Some(impostor.to_string()),
            ..real.clone()
        })
        .unwrap_err();
    assert!(
        refused.to_string().contains("another TLS key") && refused.to_string().contains("--force"),
        "{refused}"
    );
    kor.replace_party_keys(gsomia_store::PartyRecord {
        tls_pin: Some(impostor.to_string()),
        ..real.clone()
    })
    .unwrap();
    let before = counts(&jpn);
    let id = "report--00000000-0000-4000-8000-00000000b001";
    publish_and_queue(&k.addr, &kim, id, "JPN").await;
    until("the refusal of JPN's key", || {
        kor.delivery_error("JPN").is_some()
    })
    .await;
    let (_, error) = kor.delivery_error("JPN").unwrap();
    assert!(
        error.contains(&format!("the descriptor pins {impostor}"))
            && error.contains(&jpn.tls().unwrap().info.pin.to_string())
            && error.contains("(H7)"),
        "{error}"
    );
    // Nothing reached JPN: no request was sent over the refused connection.
    assert_eq!(counts(&jpn), before);
    assert!(jpn.store().item(&item_id(id), None).unwrap().is_none());
    // The status names it for the officer; the metrics count it for the operator.
    let (s, status) = http(&k.addr, "GET", "/api/v1/status", Some(&kim), None).await;
    assert_eq!(s, 200);
    let text = status.to_string();
    assert!(text.contains("the descriptor pins"), "{text}");
    let root = user(&kor, "root", json!(["admin"]), "III");
    assert!(
        metric(
            &k.addr,
            &root,
            "gsomia_deliveries_total{partner=\"JPN\",outcome=\"failed\"}"
        )
        .await
            >= 1.0
    );
    assert_eq!(
        metric(&k.addr, &root, "gsomia_outbox_depth{partner=\"JPN\"}").await,
        1.0
    );
    // With the real pin, the queued release goes through.
    kor.replace_party_keys(real).unwrap();
    until("the item at JPN", || {
        jpn.store().item(&item_id(id), None).unwrap().is_some()
    })
    .await;
    until("the delivery's end at KOR", || {
        kor.delivery_error("JPN").is_none()
    })
    .await;
    assert_eq!(
        metric(&k.addr, &root, "gsomia_outbox_depth{partner=\"JPN\"}").await,
        0.0
    );
    assert!(
        metric(
            &k.addr,
            &root,
            "gsomia_deliveries_total{partner=\"JPN\",outcome=\"delivered\"}"
        )
        .await
            >= 1.0
    );
    assert!(
        metric(
            &k.addr,
            &root,
            "gsomia_delivery_seconds_count{partner=\"JPN\"}"
        )
        .await
            >= 1.0
    );
    halt(k).await;
    halt(j).await;
}

/// A certificate for `names` valid from `from` to `to` (days from now), and its key; PEM.
fn certificate(from: i64, to: i64) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from);
    params.not_after = now + time::Duration::days(to);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn h7_expired_malformed_and_mismatched_certificates_are_named_and_nothing_starts() {
    let root = temp_dir("tls-certs");
    let dir = root.join("KOR");
    init(&dir, "KOR");
    let cert = dir.join("tls.crt");
    let key = dir.join("keys/tls.key");
    let (good_cert, good_key) = (
        std::fs::read_to_string(&cert).unwrap(),
        std::fs::read_to_string(&key).unwrap(),
    );
    let opened = |what: &str| match Node::open(&dir, clock("2019-07-25").0) {
        Ok(_) => panic!("{what}: the node opened"),
        Err(e) => e.to_string(),
    };
    std::fs::write(&cert, "not a certificate").unwrap();
    let e = opened("garbage");
    assert!(
        e.contains("tls.crt") && e.contains("holds no certificate"),
        "{e}"
    );
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let e = opened("malformed");
    assert!(
        e.contains("tls.crt") && e.contains("not an X.509 certificate"),
        "{e}"
    );
    let (expired, expired_key) = certificate(-30, -1);
    std::fs::write(&cert, &expired).unwrap();
    std::fs::write(&key, &expired_key).unwrap();
    let e = opened("expired");
    assert!(e.contains("tls.crt") && e.contains("expired on"), "{e}");
    let (future, future_key) = certificate(1, 30);
    std::fs::write(&cert, &future).unwrap();
    std::fs::write(&key, &future_key).unwrap();
    let e = opened("not yet valid");
    assert!(e.contains("not valid before"), "{e}");
    std::fs::write(&cert, &good_cert).unwrap();
    std::fs::write(&key, &expired_key).unwrap();
    let e = opened("another key");
    assert!(e.contains("do not go together"), "{e}");
    std::fs::write(&key, &good_key).unwrap();
    Node::open(&dir, clock("2019-07-25").0).unwrap().close();

    // A server presenting an expired certificate is refused by a client pinning its very key.
    let (expired_pem, key_pem) = certificate(-30, -1);
    let der = rustls_pki_types::CertificateDer::from_pem_slice(expired_pem.as_bytes()).unwrap();
    let pin = CertInfo::of(&der).unwrap().pin;
    use rustls_pki_types::pem::PemObject;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![der],
        rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        acceptor.accept(tcp).await.is_err()
    });
    let e = Client::new(Some(pin))
        .unwrap()
        .send("GET", &format!("https://{addr}/healthz"), &[], vec![])
        .await
        .unwrap_err();
    assert!(e.contains("expired on"), "{e}");
    assert!(server.await.unwrap(), "the handshake was not refused");
}

#[tokio::test]
async fn h7_plain_http_only_on_loopback_and_https_only_with_a_pinned_key() {
    let root = temp_dir("tls-plain");
    let dir = root.join("KOR");
    init(&dir, "KOR");
    let config = dir.join("gsomia.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}insecure_http = true\n")).unwrap();
    let node = Node::open(&dir, clock("2019-07-25").0).unwrap();
    assert!(node.tls().is_none());
    assert!(node.descriptor().unwrap().tls_pin.is_none());
    // Not on an address others reach.
    let wide = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let e = gsomia_node::serve(node.clone(), wide, async {})
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("loopback") && e.contains("H7"), "{e}");
    let node = Node::open(&dir, clock("2019-07-25").0).unwrap();
    // On loopback, plain HTTP answers, to a client that pins nothing.
    let running = start(node.clone(), "127.0.0.1:0").await;
    let plain = Client::new(None).unwrap();
    let (s, body) = plain
        .send(
            "GET",
            &format!("http://{}/healthz", running.addr),
            &[],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!((s, &body[..]), (200, &b"ok"[..]));
    // Kept-alive requests with bodies, on one pooled connection.
    for _ in 0..3 {
        let (s, body) = plain
            .send(
                "POST",
                &format!("http://{}/api/v1/items", running.addr),
                &[("content-type", "application/json")],
                b"{}".to_vec(),
            )
            .await
            .unwrap();
        assert_eq!(s, 401, "{}", String::from_utf8_lossy(&body));
    }
    // A client never speaks plain HTTP to another host, nor HTTPS without a pin.
    let e = plain
        .send("GET", "http://192.0.2.1:7443/healthz", &[], vec![])
        .await
        .unwrap_err();
    assert!(e.contains("loopback") && e.contains("H7"), "{e}");
    let e = plain
        .send("GET", "https://192.0.2.1:7443/healthz", &[], vec![])
        .await
        .unwrap_err();
    assert!(e.contains("no TLS key is pinned"), "{e}");
    halt(running).await;
}

/// The value of the sample `name` (with its labels) in `/metrics`, as `token`'s user sees it.
async fn metric(addr: &str, token: &str, name: &str) -> f64 {
    let (s, text) = http_text(addr, "GET", "/metrics", Some(token), None).await;
    assert_eq!(s, 200, "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no `{name}` in:\n{text}"))
}
