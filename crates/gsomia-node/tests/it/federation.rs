//! Two real nodes on 127.0.0.1 in one process: release, delivery, marking, receipts; forged,
//! replayed and unknown envelopes; a peer that is down catches up, in order, exactly once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gsomia_core::User;
use gsomia_node::Node;
use gsomia_store::{Counts, PartyRecord};
use serde_json::{Value, json};

use super::{REPORT_ID, clock, init, item_id, read, report, temp_dir};

pub(super) struct Running {
    pub(super) addr: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub(super) async fn start(node: Arc<Node>, addr: &str) -> Running {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let pin = node.tls().map(|t| t.info.pin);
    CLIENTS
        .lock()
        .unwrap()
        .insert(addr.clone(), gsomia_node::client::Client::new(pin).unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(gsomia_node::serve(node, listener, async {
        let _ = stopped.await;
    }));
    Running { addr, stop, task }
}

pub(super) async fn halt(r: Running) {
    r.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), r.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// Waits (bounded) until `check` holds.
/// Waits for `check`, at most 60 s (a thousand deliveries on PostgreSQL under CI's load take
/// most of 20).
pub(super) async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub(super) fn descriptor(node: &Node, addr: &str) -> PartyRecord {
    PartyRecord {
        endpoint: Some(format!("https://{addr}")),
        ..node.descriptor().unwrap()
    }
}

pub(super) fn counts(node: &Node) -> Counts {
    node.store().counts().unwrap()
}

pub(super) async fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> (u16, Value) {
    let (status, body) = http_text(addr, method, path, token, body).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// [`http`], the body as text.
pub(super) async fn http_text(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> (u16, String) {
    let client = CLIENTS
        .lock()
        .unwrap()
        .get(addr)
        .cloned()
        .unwrap_or_else(|| panic!("no node was started at {addr}"));
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a));
    }
    let url = format!("https://{addr}{path}");
    let (status, body) = client
        .send(
            method,
            &url,
            &headers,
            body.unwrap_or_default().into_bytes(),
        )
        .await
        .unwrap();
    (status, String::from_utf8(body).unwrap())
}

/// A client for each node started, pinned to its certificate key, by address.
static CLIENTS: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<String, gsomia_node::client::Client>>,
> = std::sync::LazyLock::new(Default::default);

pub(super) fn user(node: &Node, id: &str, roles: Value, clearance: &str) -> String {
    let party = node.party();
    let u: User = serde_json::from_value(json!({"id": id, "party": party, "roles": roles, "clearance": clearance, "duties": ["missile-warning"]})).unwrap();
    node.add_user(u).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m1_m2_m3_an_item_crosses_is_re_marked_and_acknowledged_and_bad_envelopes_are_refused() {
    let root = temp_dir("federation");
    init(&root.join("KOR"), "KOR");
    init(&root.join("JPN"), "JPN");
    init(&root.join("USA"), "USA");
    let kor = Node::open(&root.join("KOR"), clock("2019-07-25").0).unwrap();
    let jpn = Node::open(&root.join("JPN"), clock("2019-07-25").0).unwrap();
    let usa = Node::open(&root.join("USA"), clock("2019-07-25").0).unwrap();
    let k = start(kor.clone(), "127.0.0.1:0").await;
    let j = start(jpn.clone(), "127.0.0.1:0").await;
    kor.import_party(descriptor(&jpn, &j.addr)).unwrap();
    jpn.import_party(descriptor(&kor, &k.addr)).unwrap();
    jpn.import_party(usa.descriptor().unwrap()).unwrap();
    let gsomia = serde_json::from_str(&read("agreements/kor-jpn-gsomia.json")).unwrap();
    kor.import_agreement(
        serde_json::from_value::<Value>(gsomia)
            .map(|v| serde_json::from_value(v).unwrap())
            .unwrap(),
    )
    .unwrap();
    jpn.import_agreement(serde_json::from_str(&read("agreements/kor-jpn-gsomia.json")).unwrap())
        .unwrap();
    let kim = user(&kor, "kim", json!(["analyst", "security_officer"]), "II");
    let sato = user(&jpn, "sato", json!(["analyst"]), "GOKUHI");

    // KOR publishes and releases; the delivery task takes it to JPN.
    let (s, b) = http(
        &k.addr,
        "POST",
        "/api/v1/items",
        Some(&kim),
        Some(report().to_string()),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = http(
        &k.addr,
        "POST",
        &format!("/api/v1/items/{REPORT_ID}/release"),
        Some(&kim),
        Some(json!({"to": "JPN"}).to_string()),
    )
    .await;
    assert_eq!(s, 202, "{b}");

    until("the item at JPN", || {
        jpn.store()
            .item(&item_id(REPORT_ID), None)
            .unwrap()
            .is_some()
    })
    .await;
    until("the receipt at KOR", || {
        !kor.store()
            .receipts(&item_id(REPORT_ID))
            .unwrap()
            .is_empty()
    })
    .await;

    // M2: Japan's marking, Korea as originator, the label unchanged, one custody hop.
    let held = jpn
        .store()
        .item(&item_id(REPORT_ID), None)
        .unwrap()
        .unwrap();
    let marking = held.marking.clone().unwrap();
    assert_eq!(
        (
            marking.party.as_str(),
            marking.level.as_str(),
            marking.originator.as_str()
        ),
        ("JPN", "GOKUHI", "KOR")
    );
    assert_eq!(
        held.label,
        kor.store()
            .item(&item_id(REPORT_ID), None)
            .unwrap()
            .unwrap()
            .label
    );
    assert_eq!(held.custody.len(), 1);
    assert_eq!(
        (
            held.custody[0].from.as_str(),
            held.custody[0].to.as_str(),
            held.custody[0].agreement.as_str()
        ),
        ("KOR", "JPN", "kor-jpn-gsomia")
    );
    // M3: a receipt signed by JPN, naming the item, version and marking; signed with the
    // envelope's other receipts under one Merkle root, it verifies alone.
    let receipt = &kor.store().receipts(&item_id(REPORT_ID)).unwrap()[0];
    let jpn_key = jpn.keys().signing.verifying_key();
    assert!(gsomia_node::protocol::receipt_verifies(receipt, &jpn_key));
    assert!(receipt.batch.is_some());
    assert_eq!(receipt.receipt.marking.level.as_str(), "GOKUHI");
    // Not with another marking, nor under KOR's key.
    let mut lowered = receipt.clone();
    lowered.receipt.marking.level = "HI".parse().unwrap();
    assert!(!gsomia_node::protocol::receipt_verifies(&lowered, &jpn_key));
    assert!(!gsomia_node::protocol::receipt_verifies(
        receipt,
        &kor.keys().signing.verifying_key()
    ));
    // A cleared Japanese official reads it; the content crossed intact.
    let (s, b) = http(
        &j.addr,
        "GET",
        &format!("/api/v1/items/{REPORT_ID}"),
        Some(&sato),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["object"]["name"],
        "Two short-range ballistic missiles launched near Wonsan"
    );
    // And finds it by search, under Japan's marking: the index's document is made from the
    // object the binding verified, in clear, when it is stored (with a document made from no
    // object, this search found nothing: tried).
    let mut found = Value::Null;
    for _ in 0..500 {
        let (s, b) = http(&j.addr, "GET", "/api/v1/search?q=wonsan", Some(&sato), None).await;
        if s == 200 && b["items"].as_array().is_some_and(|a| !a.is_empty()) {
            found = b;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(found["items"][0]["id"], REPORT_ID, "{found}");
    assert_eq!(found["items"][0]["marking"]["level"], "GOKUHI", "{found}");
    assert_eq!(found["items"][0]["matched"], json!(["name"]), "{found}");

    // Forged: an envelope claiming to be from KOR, signed with USA's key.
    let before = counts(&jpn);
    let jpn_key: [u8; 32] = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(jpn.descriptor().unwrap().keys.encryption)
            .unwrap()
            .try_into()
            .unwrap()
    };
    let header = |id: &str, seq: u64| gsomia_crypto::envelope::Header {
        protocol: gsomia_crypto::envelope::PROTOCOL,
        from: "KOR".parse().unwrap(),
        to: "JPN".parse().unwrap(),
        id: id.into(),
        seq: (seq, seq),
        sent: "2019-07-25T00:00:00Z".into(),
    };
    let mut r2 = report();
    r2["object"]["id"] = "report--00000000-0000-4000-8000-000000000777".into();
    let label: gsomia_core::Label = serde_json::from_value(r2["label"].clone()).unwrap();
    let binding = gsomia_crypto::sign_binding(&kor.keys().signing, &label, &r2["object"])
        .unwrap()
        .to_base64();
    let payload = json!({"messages": [{"seq": 1_000_000, "kind": "item", "item": {"label": r2["label"], "object": r2["object"], "binding": binding}}]}).to_string();
    let mut rng = OsRngForTest;
    let forged = gsomia_crypto::envelope::seal(
        &usa.keys().signing,
        &jpn_key,
        header("forged", 1_000_000),
        payload.as_bytes(),
        &mut rng,
    )
    .unwrap();
    let (s, b) = http(
        &j.addr,
        "POST",
        "/federation/v1/inbox",
        None,
        Some(serde_json::to_string(&forged).unwrap()),
    )
    .await;
    assert_eq!((s, b["error"]["rule"].as_str()), (403, Some("M1")), "{b}");
    assert_eq!(counts(&jpn), before);
    // A known party that no agreement with JPN names (USA, in JPN's world): its item is
    // refused (R1) and nothing is stored.
    let usa_header = gsomia_crypto::envelope::Header {
        protocol: gsomia_crypto::envelope::PROTOCOL,
        from: "USA".parse().unwrap(),
        ..header("usa", 1)
    };
    let from_usa = gsomia_crypto::envelope::seal(
        &usa.keys().signing,
        &jpn_key,
        usa_header.clone(),
        payload.as_bytes(),
        &mut rng,
    )
    .unwrap();
    let (s, b) = http(
        &j.addr,
        "POST",
        "/federation/v1/inbox",
        None,
        Some(serde_json::to_string(&from_usa).unwrap()),
    )
    .await;
    assert_eq!(
        (s, b["reply"]["refusals"][0]["rule"].as_str()),
        (200, Some("R1")),
        "{b}"
    );
    assert_eq!(counts(&jpn).items, before.items);
    // An unknown sender (no descriptor here) is refused before the envelope is opened.
    let mut from_chn = from_usa.clone();
    from_chn.header.from = "CHN".parse().unwrap();
    let (s, b) = http(
        &j.addr,
        "POST",
        "/federation/v1/inbox",
        None,
        Some(serde_json::to_string(&from_chn).unwrap()),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (403, Some("unknown_sender")),
        "{b}"
    );
    let before = counts(&jpn);
    // A genuine envelope applied once; the same envelope again gets the same reply, nothing more.
    let genuine = gsomia_crypto::envelope::seal(
        &kor.keys().signing,
        &jpn_key,
        header("replay", 1_000_000),
        payload.as_bytes(),
        &mut rng,
    )
    .unwrap();
    let (s, first) = http(
        &j.addr,
        "POST",
        "/federation/v1/inbox",
        None,
        Some(serde_json::to_string(&genuine).unwrap()),
    )
    .await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["reply"]["receipts"].as_array().unwrap().len(), 1);
    let after = counts(&jpn);
    assert_eq!(after.items, before.items + 1);
    let (s, again) = http(
        &j.addr,
        "POST",
        "/federation/v1/inbox",
        None,
        Some(serde_json::to_string(&genuine).unwrap()),
    )
    .await;
    assert_eq!((s, &again), (200, &first));
    assert_eq!(counts(&jpn), after);
    // A tampered binding is refused (R6) and nothing stored.
    let mut bad = json!({"messages": [{"seq": 1_000_001, "kind": "item", "item": {"label": r2["label"], "object": r2["object"], "binding": binding}}]});
    bad["messages"][0]["item"]["object"]["id"] =
        "report--00000000-0000-4000-8000-000000000778".into();
    let tampered = gsomia_crypto::envelope::seal(
        &kor.keys().signing,
        &jpn_key,
        header("tampered", 1_000_001),
        bad.to_string().as_bytes(),
        &mut rng,
    )
    .unwrap();
    let (s, b) = http(
        &j.addr,
        "POST",
        "/federation/v1/inbox",
        None,
        Some(serde_json::to_string(&tampered).unwrap()),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["reply"]["refusals"][0]["rule"], "R6", "{b}");
    assert_eq!(counts(&jpn).items, after.items);

    // In order per sender with several envelopes in flight: an envelope that follows a message
    // not applied here waits for it, and is refused (409, nothing stored) if it never comes.
    let one = |n: u64, seq: u64, after: Option<u64>| {
        let mut r = report();
        r["object"]["id"] = format!("report--00000000-0000-4000-8000-{n:012}").into();
        let label: gsomia_core::Label = serde_json::from_value(r["label"].clone()).unwrap();
        let binding = gsomia_crypto::sign_binding(&kor.keys().signing, &label, &r["object"])
            .unwrap()
            .to_base64();
        let mut payload = json!({"messages": [{"seq": seq, "kind": "item", "item": {"label": r["label"], "object": r["object"], "binding": binding}}]});
        if let Some(a) = after {
            payload["after"] = a.into();
        }
        let env = gsomia_crypto::envelope::seal(
            &kor.keys().signing,
            &jpn_key,
            header(&format!("ordered-{seq}"), seq),
            payload.to_string().as_bytes(),
            &mut OsRngForTest,
        )
        .unwrap();
        serde_json::to_string(&env).unwrap()
    };
    let before = counts(&jpn);
    let orphan = one(901, 2_000_002, Some(2_000_001));
    let (s, b) = http(&j.addr, "POST", "/federation/v1/inbox", None, Some(orphan)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("out_of_order")),
        "{b}"
    );
    assert_eq!(counts(&jpn), before);
    // The follower sent first waits; its predecessor, sent after it, is applied first.
    let follower = tokio::spawn({
        let (addr, body) = (j.addr.clone(), one(903, 2_000_004, Some(2_000_003)));
        async move { http(&addr, "POST", "/federation/v1/inbox", None, Some(body)).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !follower.is_finished(),
        "the follower did not wait for its predecessor"
    );
    let (s, b) = http(
        &j.addr,
        "POST",
        "/federation/v1/inbox",
        None,
        Some(one(902, 2_000_003, None)),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = follower.await.unwrap();
    assert_eq!(
        (s, b["reply"]["through"].as_u64()),
        (200, Some(2_000_004)),
        "{b}"
    );
    assert_eq!(
        b["reply"]["receipts"].as_array().map(Vec::len),
        Some(1),
        "{b}"
    );
    assert_eq!(counts(&jpn).items, before.items + 2);
    halt(k).await;
    halt(j).await;
    usa.close();
}

/// Test randomness from the OS, through the traits the envelope asks for.
pub(super) struct OsRngForTest;

impl gsomia_crypto::envelope::RngCore for OsRngForTest {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        getrandom::fill(dst).unwrap();
    }
}

impl gsomia_crypto::envelope::CryptoRng for OsRngForTest {}

/// M3 against a hostile receiver: its reply is its own to sign, but each receipt in it is kept
/// by the originator as proof of custody and must verify alone later. A reply whose receipts
/// were signed once as a batch verifies; one where a receipt's proof, root or batch signature
/// does not hold is refused, though the receiver signed the reply around it.
#[test]
fn m3_receipts_signed_as_one_batch_each_verify_alone_and_a_reply_with_one_that_does_not_is_refused()
{
    use gsomia_node::protocol::{Receipt, Reply, SignedReply, receipt_verifies, sign_receipts};
    let jpn = gsomia_crypto::SigningKey::from_bytes(&[3; 32]);
    let other = gsomia_crypto::SigningKey::from_bytes(&[4; 32]);
    let receipt = |n: usize| -> Receipt {
        serde_json::from_value(json!({
            "item": format!("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd{n:02}"),
            "version": "2016-11-23T00:00:00.000Z",
            "party": "JPN",
            "marking": { "party": "JPN", "level": "HI", "originator": "KOR" },
            "agreement": "kor-jpn-gsomia",
            "received": "2016-11-24T00:00:00Z",
        }))
        .unwrap()
    };
    let signed = sign_receipts(&jpn, (0..5).map(receipt).collect());
    assert_eq!(signed.len(), 5);
    for r in &signed {
        assert!(receipt_verifies(r, &jpn.verifying_key()));
        assert!(!receipt_verifies(r, &other.verifying_key()));
        assert_eq!(
            r.signature, signed[0].signature,
            "one signature for the batch"
        );
    }
    let reply = |receipts: Vec<gsomia_core::SignedReceipt>| {
        SignedReply::sign(
            &jpn,
            Reply {
                envelope: "e1".into(),
                from: "JPN".parse().unwrap(),
                through: 5,
                receipts,
                refusals: vec![],
            },
        )
    };
    assert!(reply(signed.clone()).verifies(&jpn.verifying_key()));
    // Each way a receipt can fail to stand alone, in a reply the receiver signed.
    let mut moved = signed.clone();
    moved[1].batch.as_mut().unwrap().index = 2;
    let mut swapped = signed.clone();
    swapped[3].receipt = receipt(9);
    let mut rooted = signed.clone();
    rooted[0].batch.as_mut().unwrap().root = signed[0].batch.as_ref().unwrap().path[0].clone();
    let mut resigned = signed.clone();
    resigned[4] = sign_receipts(&other, vec![receipt(4)]).remove(0);
    let mut bare = signed.clone();
    bare[2].batch = None;
    for (what, receipts) in [
        ("moved", moved),
        ("swapped", swapped),
        ("another root", rooted),
        ("another key", resigned),
        ("no batch", bare),
    ] {
        assert!(
            !reply(receipts).verifies(&jpn.verifying_key()),
            "a receipt {what} passed"
        );
    }
    assert!(sign_receipts(&jpn, vec![]).is_empty());
}

/// A peer that comes back is heard from (here: it delivers to this node), and delivery to it
/// resumes at once instead of after the rest of a backoff grown while it was down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_heard_from_again_gets_its_backlog_without_waiting_out_the_backoff() {
    let (root, _kor, k, jpn, j, kim) = pair("heard").await;
    let sato = user(
        &jpn,
        "sato",
        json!(["analyst", "security_officer"]),
        "GOKUHI",
    );
    let j_addr = j.addr.clone();
    halt(j).await;
    publish_and_queue(&k.addr, &kim, REPORT_ID, "JPN").await;
    // KOR fails for 7 s: its backoff (100 ms doubling) is then in a 6.4 s wait, to about 12.7 s.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let jpn = Node::open(&root.join("JPN"), clock("2019-07-25").0).unwrap();
    let j = start(jpn.clone(), &j_addr).await;
    let back = Instant::now();
    // JPN releases one of its own items to KOR: KOR hears from it.
    let mut own = report();
    own["label"]["originator"] = "JPN".into();
    own["label"]["level"] = "HI".into();
    own["label"]["releasable_to"] = json!(["KOR"]);
    own["object"]["id"] = "report--00000000-0000-4000-8000-00000000d0a1".into();
    let (s, b) = http(
        &j.addr,
        "POST",
        "/api/v1/items",
        Some(&sato),
        Some(own.to_string()),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let path = "/api/v1/items/report--00000000-0000-4000-8000-00000000d0a1/release";
    let to_kor = json!({"to": "KOR"}).to_string();
    let (s, b) = http(&j.addr, "POST", path, Some(&sato), Some(to_kor)).await;
    assert_eq!(s, 202, "{b}");
    until("KOR's item at JPN", || {
        jpn.store()
            .item(&item_id(REPORT_ID), None)
            .unwrap()
            .is_some()
    })
    .await;
    assert!(
        back.elapsed() < Duration::from_secs(3),
        "KOR waited out its backoff: {:?} after JPN was back",
        back.elapsed()
    );
    halt(k).await;
    halt(j).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_was_down_catches_up_in_order_exactly_once() {
    let root = temp_dir("catch-up");
    init(&root.join("KOR"), "KOR");
    init(&root.join("JPN"), "JPN");
    let kor = Node::open(&root.join("KOR"), clock("2019-07-25").0).unwrap();
    let jpn = Node::open(&root.join("JPN"), clock("2019-07-25").0).unwrap();
    let k = start(kor.clone(), "127.0.0.1:0").await;
    let j = start(jpn.clone(), "127.0.0.1:0").await;
    let j_addr = j.addr.clone();
    kor.import_party(descriptor(&jpn, &j_addr)).unwrap();
    jpn.import_party(descriptor(&kor, &k.addr)).unwrap();
    for n in [&kor, &jpn] {
        n.import_agreement(serde_json::from_str(&read("agreements/kor-jpn-gsomia.json")).unwrap())
            .unwrap();
    }
    let kim = user(&kor, "kim", json!(["analyst", "security_officer"]), "II");
    // JPN goes down.
    halt(j).await;
    let total = 1000;
    for n in 0..total {
        let mut r = report();
        let id = format!("report--00000000-0000-4000-8000-{n:012}");
        r["object"]["id"] = id.clone().into();
        assert_eq!(
            http(
                &k.addr,
                "POST",
                "/api/v1/items",
                Some(&kim),
                Some(r.to_string())
            )
            .await
            .0,
            201
        );
        let (s, b) = http(
            &k.addr,
            "POST",
            &format!("/api/v1/items/{id}/release"),
            Some(&kim),
            Some(json!({"to": "JPN"}).to_string()),
        )
        .await;
        assert_eq!(s, 202, "{b}");
    }
    assert_eq!(
        kor.store()
            .outbox_pending(crate::code("JPN"), 1000)
            .unwrap()
            .len(),
        total
    );
    // JPN comes back on the same address, from its data directory.
    let jpn = Node::open(&root.join("JPN"), clock("2019-07-25").0).unwrap();
    let j = start(jpn.clone(), &j_addr).await;
    until("every item at JPN", || {
        jpn.store().counts().unwrap().items == total as u64
    })
    .await;
    until("the outbox drained", || {
        kor.store()
            .outbox_pending(crate::code("JPN"), 1000)
            .unwrap()
            .is_empty()
    })
    .await;
    // In order: JPN stored them in the order KOR released them.
    let held = jpn.store().items_after(0, 1000).unwrap();
    let ids: Vec<String> = held.iter().map(|i| i.id.to_string()).collect();
    let expected: Vec<String> = (0..total)
        .map(|n| format!("report--00000000-0000-4000-8000-{n:012}"))
        .collect();
    assert_eq!(ids, expected);
    // Exactly once: one receive entry per item in JPN's audit log.
    let audit = jpn.store().audit_after(0, 100_000).unwrap();
    let receives = audit
        .iter()
        .filter(|e| e.parse().unwrap().action == "item.receive")
        .count();
    assert_eq!(receives, total);
    // With a signed receipt for each at KOR, which verifies alone (five envelopes, five
    // batches: the fifth sent when the first was answered).
    until("every receipt at KOR", || {
        kor.store().counts().unwrap().items == total as u64
    })
    .await;
    let jpn_key = jpn.keys().signing.verifying_key();
    let receipts: Vec<_> = (0..total)
        .flat_map(|n| {
            kor.store()
                .receipts(&item_id(&format!(
                    "report--00000000-0000-4000-8000-{n:012}"
                )))
                .unwrap()
        })
        .collect();
    assert_eq!(receipts.len(), total);
    assert!(
        receipts
            .iter()
            .all(|r| gsomia_node::protocol::receipt_verifies(r, &jpn_key))
    );
    let mut roots: Vec<_> = receipts
        .iter()
        .map(|r| r.batch.as_ref().unwrap().root.clone())
        .collect();
    roots.dedup();
    assert_eq!(roots.len(), total / gsomia_node::federation::BATCH);
    halt(k).await;
    halt(j).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a7_an_event_made_at_one_node_reaches_the_other_and_both_compute_the_same_state() {
    let root = temp_dir("events-federated");
    init(&root.join("KOR"), "KOR");
    init(&root.join("JPN"), "JPN");
    let kor = Node::open(&root.join("KOR"), clock("2019-08-23").0).unwrap();
    let jpn = Node::open(&root.join("JPN"), clock("2019-08-23").0).unwrap();
    let k = start(kor.clone(), "127.0.0.1:0").await;
    let j = start(jpn.clone(), "127.0.0.1:0").await;
    kor.import_party(descriptor(&jpn, &j.addr)).unwrap();
    jpn.import_party(descriptor(&kor, &k.addr)).unwrap();
    // Both hold the agreement as signed in 2016, before the 2019 events.
    let mut file: gsomia_core::AgreementFile =
        serde_json::from_str(&read("agreements/kor-jpn-gsomia.json")).unwrap();
    file.events.truncate(2);
    kor.import_agreement(file.clone()).unwrap();
    jpn.import_agreement(file).unwrap();
    let moon = user(&kor, "moon", json!(["authority"]), "I");
    let (s, b) = http(
        &k.addr,
        "POST",
        "/api/v1/agreements/kor-jpn-gsomia/events",
        Some(&moon),
        Some(json!({"type": "notice"}).to_string()),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    until("the notice at JPN", || {
        let w = jpn.world();
        w.agreement("kor-jpn-gsomia")
            .is_some_and(|a| a.events().len() == 3)
    })
    .await;
    for d in ["2019-08-23", "2019-11-22", "2019-11-23"] {
        let day: gsomia_core::Date = d.parse().unwrap();
        let at_kor = kor
            .world()
            .agreement("kor-jpn-gsomia")
            .unwrap()
            .state_at(day);
        let at_jpn = jpn
            .world()
            .agreement("kor-jpn-gsomia")
            .unwrap()
            .state_at(day);
        assert_eq!(at_kor, at_jpn, "{d}");
    }
    assert_eq!(
        jpn.world()
            .agreement("kor-jpn-gsomia")
            .unwrap()
            .state_at("2019-11-23".parse().unwrap())
            .state,
        gsomia_core::State::Terminated
    );
    halt(k).await;
    halt(j).await;
}

/// KOR, JPN and USA served on 127.0.0.1 on `day`, each knowing the others, under TISA (the
/// USA the hub): the nodes and their servers, in that order.
pub(super) async fn trilateral(name: &str, day: &str) -> (Vec<Arc<Node>>, Vec<Running>) {
    let root = temp_dir(name);
    let mut nodes = vec![];
    let mut running = vec![];
    for p in ["KOR", "JPN", "USA"] {
        init(&root.join(p), p);
        let n = Node::open(&root.join(p), clock(day).0).unwrap();
        running.push(start(n.clone(), "127.0.0.1:0").await);
        nodes.push(n);
    }
    for (i, n) in nodes.iter().enumerate() {
        for (k, other) in nodes.iter().enumerate() {
            if i != k {
                n.import_party(descriptor(other, &running[k].addr)).unwrap();
            }
        }
        n.import_agreement(serde_json::from_str(&read("agreements/tisa.json")).unwrap())
            .unwrap();
    }
    (nodes, running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_r4_m4_tisa_korea_to_japan_through_the_us_hub_with_consent_then_reclassified() {
    let (nodes, running) = trilateral("tisa", "2019-12-01").await;
    let (kor, jpn, usa) = (nodes[0].clone(), nodes[1].clone(), nodes[2].clone());
    let (ka, ja, ua) = (
        running[0].addr.clone(),
        running[1].addr.clone(),
        running[2].addr.clone(),
    );
    let kim = user(&kor, "kim", json!(["analyst", "security_officer"]), "II");
    let moon = user(&kor, "moon", json!(["authority"]), "I");
    let smith = user(&usa, "smith", json!(["security_officer"]), "SECRET");
    let sato = user(&jpn, "sato", json!(["analyst"]), "GOKUHI");
    assert_eq!(
        http(
            &ka,
            "POST",
            "/api/v1/items",
            Some(&kim),
            Some(report().to_string())
        )
        .await
        .0,
        201
    );
    let release = |to: &str| Some(json!({ "to": to }).to_string());
    // Korea and Japan share only through the hub: direct release is refused (R1).
    let (s, b) = http(
        &ka,
        "POST",
        &format!("/api/v1/items/{REPORT_ID}/release"),
        Some(&kim),
        release("JPN"),
    )
    .await;
    assert_eq!((s, b["error"]["rule"].as_str()), (403, Some("R1")), "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only through its hub USA"),
        "{b}"
    );
    // To the hub it goes.
    let (s, b) = http(
        &ka,
        "POST",
        &format!("/api/v1/items/{REPORT_ID}/release"),
        Some(&kim),
        release("USA"),
    )
    .await;
    assert_eq!(
        (s, b["agreement"].as_str(), b["marking"]["level"].as_str()),
        (202, Some("tisa"), Some("SECRET")),
        "{b}"
    );
    until("the item at USA", || {
        usa.store()
            .item(&item_id(REPORT_ID), None)
            .unwrap()
            .is_some()
    })
    .await;
    // The hub may not pass it on without Korea's consent (R4).
    let (s, b) = http(
        &ua,
        "POST",
        &format!("/api/v1/items/{REPORT_ID}/release"),
        Some(&smith),
        release("JPN"),
    )
    .await;
    assert_eq!((s, b["error"]["rule"].as_str()), (403, Some("R4")), "{b}");
    // It asks; Korea's authority consents.
    let ask = json!({ "item": REPORT_ID, "to": "JPN", "until": "2020-11-30" }).to_string();
    assert_eq!(
        http(
            &ua,
            "POST",
            "/api/v1/consents/requests",
            Some(&smith),
            Some(ask)
        )
        .await
        .0,
        202
    );
    until("the request at KOR", || {
        !kor.store().consent_requests().unwrap().is_empty()
    })
    .await;
    let id = kor.store().consent_requests().unwrap()[0].id;
    let (s, _) = http(
        &ka,
        "POST",
        &format!("/api/v1/consents/requests/{id}/answer"),
        Some(&kim),
        Some(json!({"approve": true}).to_string()),
    )
    .await;
    assert_eq!(s, 403, "an analyst does not consent for Korea");
    let (s, b) = http(
        &ka,
        "POST",
        &format!("/api/v1/consents/requests/{id}/answer"),
        Some(&moon),
        Some(json!({"approve": true}).to_string()),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // In USA's world, which decisions read (it is rebuilt just after the consent commits).
    until("the consent at USA", || !usa.world().consents().is_empty()).await;
    // Now the hub passes it on; Japan marks it with its level and Korea stays originator.
    let (s, b) = http(
        &ua,
        "POST",
        &format!("/api/v1/items/{REPORT_ID}/release"),
        Some(&smith),
        release("JPN"),
    )
    .await;
    assert_eq!(
        (s, b["agreement"].as_str(), b["marking"]["level"].as_str()),
        (202, Some("tisa"), Some("GOKUHI")),
        "{b}"
    );
    until("the item at JPN", || {
        jpn.store()
            .item(&item_id(REPORT_ID), None)
            .unwrap()
            .is_some()
    })
    .await;
    let held = jpn
        .store()
        .item(&item_id(REPORT_ID), None)
        .unwrap()
        .unwrap();
    let m = held.marking.unwrap();
    assert_eq!(
        (m.party.as_str(), m.level.as_str(), m.originator.as_str()),
        ("JPN", "GOKUHI", "KOR")
    );
    let chain: Vec<String> = held
        .custody
        .iter()
        .map(|h| format!("{}>{} {} {}", h.from, h.to, h.agreement, h.level))
        .collect();
    assert_eq!(chain, ["KOR>USA tisa SECRET", "USA>JPN tisa GOKUHI"]);
    assert_eq!(
        jpn.store().consents().unwrap().len(),
        1,
        "the consent travelled with the item"
    );
    let (s, b) = http(
        &ja,
        "GET",
        &format!("/api/v1/items/{REPORT_ID}"),
        Some(&sato),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");

    // M4: the hub may not reclassify; Korea's authority does, and every copy follows.
    let reclassify = |level: &str| Some(json!({ "level": level }).to_string());
    let (s, b) = http(
        &ua,
        "POST",
        &format!("/api/v1/items/{REPORT_ID}/reclassify"),
        Some(&smith),
        reclassify("CONFIDENTIAL"),
    )
    .await;
    assert_eq!((s, b["error"]["rule"].as_str()), (403, Some("M4")), "{b}");
    let (s, b) = http(
        &ka,
        "POST",
        &format!("/api/v1/items/{REPORT_ID}/reclassify"),
        Some(&moon),
        reclassify("III"),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["sent_to"], json!(["USA"]));
    let level_at = |n: &Node| {
        n.store()
            .item(&item_id(REPORT_ID), None)
            .unwrap()
            .unwrap()
            .marking
            .map(|m| m.level.to_string())
    };
    until("the reclassification at JPN", || {
        level_at(&jpn).as_deref() == Some("HI")
    })
    .await;
    assert_eq!(level_at(&usa).as_deref(), Some("CONFIDENTIAL"));
    let at_jpn = jpn
        .store()
        .item(&item_id(REPORT_ID), None)
        .unwrap()
        .unwrap();
    assert_eq!(at_jpn.label.level.as_str(), "III");
    let levels: Vec<String> = at_jpn.custody.iter().map(|h| h.level.to_string()).collect();
    assert_eq!(levels, ["CONFIDENTIAL", "HI"]);
    // The new label is bound by Korea: the copy still reads, at the new level.
    let (s, b) = http(
        &ja,
        "GET",
        &format!("/api/v1/items/{REPORT_ID}"),
        Some(&sato),
        None,
    )
    .await;
    assert_eq!(
        (s, b["marking"]["level"].as_str()),
        (200, Some("HI")),
        "{b}"
    );
    for r in running {
        halt(r).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_r4_r8_misaddressed_envelopes_wrong_consents_and_releases_after_termination_are_refused()
{
    let root = temp_dir("refusals");
    init(&root.join("KOR"), "KOR");
    init(&root.join("JPN"), "JPN");
    init(&root.join("USA"), "USA");
    let kor = Node::open(&root.join("KOR"), clock("2020-01-01").0).unwrap();
    // JPN's world: the GSOMIA as it would have been without the suspension, terminated.
    let jpn = Node::open(&root.join("JPN"), clock("2020-01-01").0).unwrap();
    let usa = Node::open(&root.join("USA"), clock("2020-01-01").0).unwrap();
    let j = start(jpn.clone(), "127.0.0.1:0").await;
    jpn.import_party(kor.descriptor().unwrap()).unwrap();
    jpn.import_party(usa.descriptor().unwrap()).unwrap();
    let mut file: gsomia_core::AgreementFile =
        serde_json::from_str(&read("agreements/kor-jpn-gsomia.json")).unwrap();
    file.events.truncate(3);
    jpn.import_agreement(file).unwrap();
    let jpn_key: [u8; 32] = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(jpn.descriptor().unwrap().keys.encryption)
            .unwrap()
            .try_into()
            .unwrap()
    };
    let header = |to: &str, id: &str, seq: u64| gsomia_crypto::envelope::Header {
        protocol: gsomia_crypto::envelope::PROTOCOL,
        from: "KOR".parse().unwrap(),
        to: to.parse().unwrap(),
        id: id.into(),
        seq: (seq, seq),
        sent: "2020-01-01T00:00:00Z".into(),
    };
    let send = |env: gsomia_crypto::envelope::Envelope| {
        let addr = j.addr.clone();
        async move {
            http(
                &addr,
                "POST",
                "/federation/v1/inbox",
                None,
                Some(serde_json::to_string(&env).unwrap()),
            )
            .await
        }
    };
    let before = counts(&jpn);
    // An envelope addressed to another party (R8).
    let env = gsomia_crypto::envelope::seal(
        &kor.keys().signing,
        &jpn_key,
        header("USA", "misaddressed", 1),
        b"{}",
        &mut OsRngForTest,
    )
    .unwrap();
    let (s, b) = send(env).await;
    assert_eq!((s, b["error"]["rule"].as_str()), (403, Some("R8")), "{b}");
    // An item after the agreement terminated, seen from JPN's side (R1): refused, nothing stored.
    let r = report();
    let label: gsomia_core::Label = serde_json::from_value(r["label"].clone()).unwrap();
    let binding = gsomia_crypto::sign_binding(&kor.keys().signing, &label, &r["object"])
        .unwrap()
        .to_base64();
    let payload = json!({"messages": [{"seq": 1, "kind": "item", "item": {"label": r["label"], "object": r["object"], "binding": binding}}]});
    let env = gsomia_crypto::envelope::seal(
        &kor.keys().signing,
        &jpn_key,
        header("JPN", "late", 1),
        payload.to_string().as_bytes(),
        &mut OsRngForTest,
    )
    .unwrap();
    let (s, b) = send(env).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["reply"]["refusals"][0]["rule"], "R1", "{b}");
    // A consent "from KOR" signed with USA's key (R4): refused, not kept.
    let consent = json!({"id": "forged", "originator": "KOR", "item": REPORT_ID, "holder": "JPN", "to": "USA",
                         "purpose": "missile-warning", "given": "2020-01-01", "until": "2020-12-31"});
    let signature = gsomia_crypto::statement::sign(&usa.keys().signing, "consent", &consent);
    let mut signed = consent.clone();
    signed["signature"] = signature.into();
    let payload = json!({"messages": [{"seq": 2, "kind": "consent", "payload": {"approved": true, "consent": signed}}]});
    let env = gsomia_crypto::envelope::seal(
        &kor.keys().signing,
        &jpn_key,
        header("JPN", "consent", 2),
        payload.to_string().as_bytes(),
        &mut OsRngForTest,
    )
    .unwrap();
    let (s, b) = send(env).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["reply"]["refusals"][0]["rule"], "R4", "{b}");
    assert!(jpn.store().consents().unwrap().is_empty());
    let after = counts(&jpn);
    assert_eq!(
        (after.items, after.agreements),
        (before.items, before.agreements)
    );
    halt(j).await;
    kor.close();
    usa.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a1_an_agreement_proposed_at_one_node_enters_into_force_when_the_other_countersigns() {
    let root = temp_dir("proposal");
    init(&root.join("KOR"), "KOR");
    init(&root.join("JPN"), "JPN");
    let kor = Node::open(&root.join("KOR"), clock("2026-11-01").0).unwrap();
    let jpn = Node::open(&root.join("JPN"), clock("2026-11-01").0).unwrap();
    let k = start(kor.clone(), "127.0.0.1:0").await;
    let j = start(jpn.clone(), "127.0.0.1:0").await;
    kor.import_party(descriptor(&jpn, &j.addr)).unwrap();
    jpn.import_party(descriptor(&kor, &k.addr)).unwrap();
    let moon = user(&kor, "moon", json!(["authority"]), "I");
    let abe = user(&jpn, "abe", json!(["authority"]), "KIMITSU");
    let mut proposal: Value =
        serde_json::from_str(&read("agreements/kor-jpn-gsomia.json")).unwrap();
    proposal["id"] = "kor-jpn-gsomia-2026".into();
    proposal["events"] = json!([{"type": "signed", "by": "KOR", "on": "2026-11-01"}]);
    // A proposal may not carry the other party's signature.
    let mut forged = proposal.clone();
    forged["events"] = json!([{"type": "signed", "by": "JPN", "on": "2026-11-01"}]);
    let (s, b) = http(
        &k.addr,
        "POST",
        "/api/v1/agreements",
        Some(&moon),
        Some(forged.to_string()),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    let (s, b) = http(
        &k.addr,
        "POST",
        "/api/v1/agreements",
        Some(&moon),
        Some(proposal.to_string()),
    )
    .await;
    assert_eq!(
        (s, b["status"]["state"].as_str()),
        (201, Some("pending")),
        "{b}"
    );
    until("the proposal at JPN", || {
        jpn.world().agreement("kor-jpn-gsomia-2026").is_some()
    })
    .await;
    let (s, b) = http(
        &j.addr,
        "POST",
        "/api/v1/agreements/kor-jpn-gsomia-2026/events",
        Some(&abe),
        Some(json!({"type": "signed", "on": "2026-11-05"}).to_string()),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    until("the countersignature at KOR", || {
        kor.world()
            .agreement("kor-jpn-gsomia-2026")
            .is_some_and(|a| a.events().len() == 2)
    })
    .await;
    for n in [&kor, &jpn] {
        let world = n.world();
        let a = world.agreement("kor-jpn-gsomia-2026").unwrap();
        assert_eq!(
            a.state_at("2026-11-04".parse().unwrap()).state,
            gsomia_core::State::Pending
        );
        let s = a.state_at("2026-11-05".parse().unwrap());
        assert_eq!(
            (s.state, s.entered_into_force),
            (
                gsomia_core::State::InForce,
                Some("2026-11-05".parse().unwrap())
            )
        );
    }
    halt(k).await;
    halt(j).await;
}

/// KOR and JPN with the GSOMIA, servers running; KOR's officer-analyst's token.
pub(super) async fn pair(
    name: &str,
) -> (
    std::path::PathBuf,
    Arc<Node>,
    Running,
    Arc<Node>,
    Running,
    String,
) {
    let root = temp_dir(name);
    init(&root.join("KOR"), "KOR");
    init(&root.join("JPN"), "JPN");
    let kor = Node::open(&root.join("KOR"), clock("2019-07-25").0).unwrap();
    let jpn = Node::open(&root.join("JPN"), clock("2019-07-25").0).unwrap();
    let k = start(kor.clone(), "127.0.0.1:0").await;
    let j = start(jpn.clone(), "127.0.0.1:0").await;
    kor.import_party(descriptor(&jpn, &j.addr)).unwrap();
    jpn.import_party(descriptor(&kor, &k.addr)).unwrap();
    for n in [&kor, &jpn] {
        n.import_agreement(serde_json::from_str(&read("agreements/kor-jpn-gsomia.json")).unwrap())
            .unwrap();
    }
    let kim = user(&kor, "kim", json!(["analyst", "security_officer"]), "II");
    (root, kor, k, jpn, j, kim)
}

/// Publishes the report at the node at `addr` (under `id`) and releases it to `to`: queued.
pub(super) async fn publish_and_queue(addr: &str, kim: &str, id: &str, to: &str) {
    let mut r = report();
    r["object"]["id"] = id.into();
    let (s, b) = http(
        addr,
        "POST",
        "/api/v1/items",
        Some(kim),
        Some(r.to_string()),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = http(
        addr,
        "POST",
        &format!("/api/v1/items/{id}/release"),
        Some(kim),
        Some(json!({ "to": to }).to_string()),
    )
    .await;
    assert_eq!(s, 202, "{b}");
}

/// Publishes the report at KOR (under `id`) and releases it to JPN; waits for the receipt.
pub(super) async fn publish_and_release(kor: &Node, k: &Running, kim: &str, id: &str) {
    publish_and_queue(&k.addr, kim, id, "JPN").await;
    until("the receipt at KOR", || {
        !kor.store().receipts(&item_id(id)).unwrap().is_empty()
    })
    .await;
}

pub(super) fn log_verifier(node: &Node) -> gsomia_log::LogVerifier {
    gsomia_log::LogVerifier::new(
        &format!("gsomia/{}", node.party()),
        node.keys().signing.verifying_key(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p7_partners_witness_each_others_logs_and_an_originator_verifies_its_items_custody() {
    let (_root, kor, k, jpn, j, kim) = pair("witness").await;
    let sato = user(
        &jpn,
        "sato",
        json!(["analyst", "security_officer"]),
        "GOKUHI",
    );
    publish_and_release(&kor, &k, &kim, REPORT_ID).await;
    // JPN's analyst reads it: an entry about KOR's item in JPN's log.
    let (s, b) = http(
        &j.addr,
        "GET",
        &format!("/api/v1/items/{REPORT_ID}"),
        Some(&sato),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let published = b["object"].clone();
    // Through TAXII at JPN: the report is in the collection of what KOR sent, exactly as KOR
    // published it plus JPN's marking, which says GOKUHI at JPN for KOR's II.
    let (s, b) = http(
        &j.addr,
        "GET",
        "/taxii2/api/collections/",
        Some(&sato),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let from_kor = b["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["title"] == "from KOR")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let objects = format!("/taxii2/api/collections/{from_kor}/objects/");
    let (s, b) = http(&j.addr, "GET", &objects, Some(&sato), None).await;
    assert_eq!(s, 200, "{b}");
    let served = &b["objects"][0];
    assert_eq!(served["id"], REPORT_ID);
    let refs = served["object_marking_refs"].as_array().unwrap();
    let holder = refs.last().unwrap().as_str().unwrap();
    let mut as_published = served.clone();
    as_published["object_marking_refs"]
        .as_array_mut()
        .unwrap()
        .pop();
    assert_eq!(as_published, published);
    assert!(
        !published["object_marking_refs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == holder)
    );
    let (s, b) = http(
        &j.addr,
        "GET",
        &format!("{objects}{holder}/"),
        Some(&sato),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let ext = &b["objects"][0]["extensions"]["extension-definition--420947b7-41ca-42a7-ba55-53cdc95fd69f"];
    assert_eq!(
        (
            ext["originator"].as_str(),
            ext["level"].as_str(),
            ext["holder"]["party"].as_str(),
            ext["holder"]["level"].as_str()
        ),
        (Some("KOR"), Some("II"), Some("JPN"), Some("GOKUHI")),
        "{b}"
    );

    // And through the REST listing at JPN.
    let (s, b) = http(&j.addr, "GET", "/api/v1/items", Some(&sato), None).await;
    assert_eq!(
        (s, b["items"][0]["id"].as_str()),
        (200, Some(REPORT_ID)),
        "{b}"
    );

    // Each node checkpoints its log and has the other witness it.
    gsomia_node::transparency::tick(&kor).await.unwrap();
    gsomia_node::transparency::tick(&jpn).await.unwrap();
    let (kor_size, kor_note) = kor.store().checkpoint_latest().unwrap().unwrap();
    assert_eq!(kor_size, kor.store().log_size().unwrap());
    assert_eq!(
        jpn.store().witnessed_latest(crate::code("KOR")).unwrap(),
        Some((kor_size, kor_note.clone()))
    );
    let (s, served) = http_text(&k.addr, "GET", "/api/v1/log/checkpoint", Some(&kim), None).await;
    assert_eq!(s, 200);
    let checkpoint = gsomia_log::SignedCheckpoint::open(&served, &log_verifier(&kor)).unwrap();
    assert_eq!(checkpoint.size, kor_size);
    let cosignature = served
        .lines()
        .find(|l| l.starts_with("— gsomia/JPN "))
        .unwrap();
    let witness =
        gsomia_log::WitnessVerifier::new("gsomia/JPN", jpn.keys().signing.verifying_key());
    checkpoint
        .verify_cosignature(cosignature, &witness)
        .unwrap();

    // KOR, the originator, asks JPN what it did with the report; every entry is proven in
    // the checkpoint of JPN's log that KOR witnessed.
    let (s, b) = http(
        &k.addr,
        "GET",
        &format!("/api/v1/items/{REPORT_ID}/custody?holder=JPN"),
        Some(&kim),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let actions: Vec<&str> = b["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"]["action"].as_str().unwrap())
        .collect();
    // The read through the API, the two through TAXII (the listing and the marking), the one
    // through the REST listing.
    assert_eq!(
        actions,
        ["item.receive", "item.read", "item.read", "item.read"]
    );
    let (_, jpn_note) = kor
        .store()
        .witnessed_latest(crate::code("JPN"))
        .unwrap()
        .unwrap();
    assert_eq!(b["checkpoint"], jpn_note.as_str());
    let jpn_checkpoint =
        gsomia_log::SignedCheckpoint::open(&jpn_note, &log_verifier(&jpn)).unwrap();
    for e in b["entries"].as_array().unwrap() {
        let proof: gsomia_log::InclusionProof = serde_json::from_value(e["proof"].clone()).unwrap();
        let body = e["body"].as_str().unwrap();
        proof
            .verify(
                &jpn_checkpoint.root,
                &gsomia_log::leaf_hash(body.as_bytes()),
            )
            .unwrap();
    }
    // KOR's own audit log records that it verified them.
    let last = kor
        .store()
        .audit_after(0, 100_000)
        .unwrap()
        .pop()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        (last.action.as_str(), last.decision.as_str()),
        ("custody.verify", "allow")
    );

    // JPN is not the originator: KOR tells it nothing about the item, and records the refusal.
    gsomia_node::transparency::tick(&kor).await.unwrap();
    let (s, b) = http(
        &j.addr,
        "GET",
        &format!("/api/v1/items/{REPORT_ID}/custody?holder=KOR"),
        Some(&sato),
        None,
    )
    .await;
    assert_eq!(s, 502, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only an item's originator"),
        "{b}"
    );
    let refused = kor
        .store()
        .audit_after(0, 100_000)
        .unwrap()
        .pop()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        (
            refused.action.as_str(),
            refused.decision.as_str(),
            refused.rule.map(gsomia_core::Rule::id)
        ),
        ("custody.query", "deny", Some("P7"))
    );

    // A checkpoint signed by a key that is not KOR's is refused (M1), and so is one of a log
    // no agreement names (R1); both refusals are audited and nothing is witnessed.
    let forger = gsomia_log::LogKey::new(
        "gsomia/KOR",
        gsomia_crypto::SigningKey::from_bytes(&[7; 32]),
    );
    let forged =
        gsomia_log::SignedCheckpoint::sign(&forger, kor_size + 5, checkpoint.root).note(&[]);
    let body = format!("old {kor_size}\n\n{forged}");
    let (s, b) = http(
        &j.addr,
        "POST",
        "/federation/v1/add-checkpoint",
        None,
        Some(body),
    )
    .await;
    assert_eq!((s, b["error"]["rule"].as_str()), (403, Some("M1")), "{b}");
    let stranger = gsomia_log::LogKey::new(
        "gsomia/USA",
        gsomia_crypto::SigningKey::from_bytes(&[8; 32]),
    );
    let note = gsomia_log::SignedCheckpoint::sign(&stranger, 1, checkpoint.root).note(&[]);
    let (s, b) = http(
        &j.addr,
        "POST",
        "/federation/v1/add-checkpoint",
        None,
        Some(format!("old 0\n\n{note}")),
    )
    .await;
    assert_eq!((s, b["error"]["rule"].as_str()), (403, Some("H5")), "{b}");
    let (s, b) = http(
        &j.addr,
        "POST",
        "/federation/v1/add-checkpoint",
        None,
        Some("old x\n\nnonsense".into()),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let latest = kor.store().checkpoint_latest().unwrap().unwrap().0;
    assert_eq!(
        jpn.store()
            .witnessed_latest(crate::code("KOR"))
            .unwrap()
            .unwrap()
            .0,
        latest
    );
    assert!(jpn.store().evidence().unwrap().is_empty());
    halt(k).await;
    halt(j).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p7_a_node_that_rewrites_its_log_after_a_partner_witnessed_it_is_caught() {
    if super::sqlite_only("rewrite") {
        return;
    }
    let (root, kor, k, jpn, j, kim) = pair("rewrite").await;
    let sato = user(&jpn, "sato", json!(["security_officer"]), "GOKUHI");
    publish_and_release(&kor, &k, &kim, REPORT_ID).await;
    // KOR's log as it stands now, copied aside: the "backup" it will later restore.
    let k_addr = k.addr.clone();
    halt(k).await;
    drop(kor);
    let backup = root.join("KOR-backup");
    std::fs::create_dir_all(&backup).unwrap();
    for f in std::fs::read_dir(root.join("KOR")).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() {
            std::fs::copy(&f, backup.join(f.file_name().unwrap())).unwrap();
        }
    }
    // KOR goes on: another release, and JPN witnesses the log that records it.
    let kor = Node::open(&root.join("KOR"), clock("2019-07-25").0).unwrap();
    let k = start(kor.clone(), &k_addr).await;
    publish_and_release(
        &kor,
        &k,
        &kim,
        "report--00000000-0000-4000-8000-000000000001",
    )
    .await;
    gsomia_node::transparency::tick(&kor).await.unwrap();
    let (witnessed, held) = jpn
        .store()
        .witnessed_latest(crate::code("KOR"))
        .unwrap()
        .unwrap();
    assert_eq!(witnessed, kor.store().log_size().unwrap());
    // KOR restores its backup, erasing that release, and carries on with other entries.
    halt(k).await;
    drop(kor);
    for f in std::fs::read_dir(&backup).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, root.join("KOR").join(f.file_name().unwrap())).unwrap();
    }
    let _ = std::fs::remove_file(root.join("KOR").join("gsomia.db-wal"));
    let kor = Node::open(&root.join("KOR"), clock("2019-07-25").0).unwrap();
    let k = start(kor.clone(), &k_addr).await;
    // (Only publications: its partner already applied the outbox numbers the backup reuses.)
    for n in 2..6 {
        let mut r = report();
        r["object"]["id"] = format!("report--00000000-0000-4000-8000-00000000000{n}").into();
        let (s, b) = http(
            &k.addr,
            "POST",
            "/api/v1/items",
            Some(&kim),
            Some(r.to_string()),
        )
        .await;
        assert_eq!(s, 201, "{b}");
    }
    assert!(kor.store().log_size().unwrap() > witnessed);
    gsomia_node::transparency::tick(&kor).await.unwrap();

    // JPN refuses to cosign, keeps both signed checkpoints as evidence, and tells its officer.
    assert_eq!(
        jpn.store()
            .witnessed_latest(crate::code("KOR"))
            .unwrap()
            .unwrap()
            .0,
        witnessed
    );
    let (s, b) = http(&j.addr, "GET", "/api/v1/log/evidence", Some(&sato), None).await;
    assert_eq!(s, 200);
    let evidence = &b["evidence"].as_array().unwrap()[0];
    assert_eq!(evidence["party"], "KOR");
    assert_eq!(evidence["held"], held.as_str());
    let verifier = log_verifier(&kor);
    let old =
        gsomia_log::SignedCheckpoint::open(evidence["held"].as_str().unwrap(), &verifier).unwrap();
    let new =
        gsomia_log::SignedCheckpoint::open(evidence["shown"].as_str().unwrap(), &verifier).unwrap();
    assert!(new.size > old.size);
    let proof: gsomia_log::ConsistencyProof =
        serde_json::from_value(evidence["proof"].clone()).unwrap();
    assert_eq!((proof.old, proof.new), (old.size, new.size));
    assert!(
        proof.verify(&old.root, &new.root).is_err(),
        "both signed by KOR, and inconsistent"
    );
    let refusal = jpn
        .store()
        .audit_after(0, 100_000)
        .unwrap()
        .iter()
        .map(|e| e.parse().unwrap())
        .find(|d| d.action == "checkpoint.witness")
        .unwrap();
    assert_eq!(
        (
            refusal.decision.as_str(),
            refusal.rule.map(gsomia_core::Rule::id)
        ),
        ("deny", Some("H6"))
    );
    // KOR got no cosignature for its rewritten log.
    assert!(kor.store().cosignatures(new.size).unwrap().is_empty());
    halt(k).await;
    halt(j).await;
}

/// G1: Japan's registers on a day: the people cleared and authorised, and what it holds from
/// Korea (the report, marked GOKUHI, received under the GSOMIA), signed by Japan's key, as
/// JSON and as CSV; nothing held the day before; officers only; bad days, formats and names
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g1_registers_of_people_and_holdings_on_a_day_are_signed_as_json_and_csv() {
    let (_root, kor, k, jpn, j, kim) = pair("registers").await;
    publish_and_release(&kor, &k, &kim, REPORT_ID).await;
    let kato = user(&jpn, "kato", json!(["security_officer"]), "GOKUHI");
    let sato = user(&jpn, "sato", json!(["analyst"]), "GOKUHI");
    let get = |token: String, query: &str| {
        let path = format!("/api/v1/registers/{query}");
        let addr = j.addr.clone();
        async move { http(&addr, "GET", &path, Some(&token), None).await }
    };
    let (s, b) = get(sato.clone(), "holdings").await;
    assert_eq!((s, b["error"]["rule"].as_str()), (403, Some("G1")), "{b}");
    let key = jpn.keys().signing.verifying_key();
    let signed = |doc: &Value| {
        let mut unsigned = doc.clone();
        let signature = unsigned["signature"].take();
        unsigned.as_object_mut().unwrap().remove("signature");
        gsomia_crypto::statement::verify(&key, "register", &unsigned, signature.as_str().unwrap())
    };
    let (s, b) = get(kato.clone(), "holdings?at=2019-07-25").await;
    assert_eq!(s, 200, "{b}");
    assert!(signed(&b), "{b}");
    let rows = b["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{b}");
    let row: Vec<&str> = rows[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        (
            row[0], row[1], row[3], row[4], row[5], row[6], row[8], row[9]
        ),
        (
            "KOR",
            REPORT_ID,
            "II",
            "GOKUHI",
            "kor-jpn-gsomia",
            "KOR",
            "1",
            ""
        )
    );
    let (s, b) = get(kato.clone(), "holdings?at=2019-07-24").await;
    assert_eq!(
        (s, b["rows"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{b}"
    );
    let (s, b) = get(kato.clone(), "people").await;
    assert_eq!(s, 200, "{b}");
    assert!(signed(&b));
    let ids: Vec<&str> = b["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[1].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["kato", "sato"]);
    // As CSV: the same table, signed over its text.
    let client = CLIENTS.lock().unwrap().get(&j.addr).cloned().unwrap();
    let auth = format!("Bearer {kato}");
    let url = format!("https://{}/api/v1/registers/people?format=csv", j.addr);
    let (s, headers, body) = client
        .send_full("GET", &url, &[("authorization", &auth)], vec![])
        .await
        .unwrap();
    assert_eq!(s, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.starts_with("facility,id,name,kind,roles,clearance,duties,token_expires\r\nJPN,kato,"),
        "{text}"
    );
    let signature = headers["x-gsomia-signature"].to_str().unwrap();
    assert!(gsomia_crypto::statement::verify(
        &key,
        "register-csv",
        &text.clone().into(),
        signature
    ));
    for (query, status) in [
        ("people?at=yesterday", 400),
        ("people?format=xml", 400),
        ("visits", 404),
    ] {
        assert_eq!(get(kato.clone(), query).await.0, status, "{query}");
    }
    halt(k).await;
    halt(j).await;
}
