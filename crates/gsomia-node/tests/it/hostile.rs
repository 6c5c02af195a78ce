//! A hostile partner (SPEC H1–H8). The partner holds real keys and signs whatever it likes; the
//! victim is a real node served on 127.0.0.1. One test per way a partner could corrupt a node,
//! each asserting what the victim's users see, what its store holds, that it restarts, and that
//! its audit log verifies.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gsomia_core::Label;
use gsomia_crypto::envelope::{Envelope, Header, PROTOCOL};
use gsomia_node::Node;
use serde_json::{Value, json};

use super::federation::{
    OsRngForTest, Running, counts, descriptor, halt, http, log_verifier, pair, publish_and_queue,
    publish_and_release, start, until, user,
};
use super::{REPORT_ID, clock, init, item_id, read, report};

/// The public X25519 key of a node, from its descriptor.
fn encryption_key(node: &Node) -> [u8; 32] {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(node.descriptor().unwrap().keys.encryption)
        .unwrap()
        .try_into()
        .unwrap()
}

/// A partner that signs anything with `from`'s real keys (or with `signing`, one it had).
struct Hostile {
    from: Arc<Node>,
    signing: gsomia_crypto::SigningKey,
    sent: u64,
}

impl Hostile {
    fn new(from: &Arc<Node>) -> Hostile {
        Hostile::with_key(from, from.keys().signing.clone())
    }

    fn with_key(from: &Arc<Node>, signing: gsomia_crypto::SigningKey) -> Hostile {
        Hostile {
            from: from.clone(),
            signing,
            sent: 0,
        }
    }

    /// An envelope to `victim` carrying `messages`, numbered after what the victim applied.
    fn envelope(&mut self, victim: &Node, messages: Vec<Value>) -> Envelope {
        let first = victim.store().inbox_mark(self.from.party()).unwrap() + 1;
        self.numbered(victim, messages, first, None)
    }

    /// An envelope to `victim` carrying `messages` numbered from `first`, following message
    /// `after` when given (as a sender with several envelopes in flight numbers them).
    fn numbered(
        &mut self,
        victim: &Node,
        messages: Vec<Value>,
        first: u64,
        after: Option<u64>,
    ) -> Envelope {
        let from = self.from.party();
        let messages: Vec<Value> = messages
            .into_iter()
            .enumerate()
            .map(|(i, mut m)| {
                m["seq"] = json!(first + i as u64);
                m
            })
            .collect();
        let last = first + messages.len() as u64 - 1;
        self.sent += 1;
        let header = Header {
            protocol: PROTOCOL,
            from,
            to: victim.party(),
            id: format!("hostile-{from}-{}-{first}", self.sent),
            seq: (first, last),
            sent: "2019-07-25T00:00:00Z".into(),
        };
        let mut payload = json!({ "messages": messages });
        if let Some(after) = after {
            payload["after"] = after.into();
        }
        let payload = payload.to_string();
        gsomia_crypto::envelope::seal(
            &self.signing,
            &encryption_key(victim),
            header,
            payload.as_bytes(),
            &mut OsRngForTest,
        )
        .unwrap()
    }

    /// Sends `messages` to the victim's inbox at `addr`; the status and the body.
    async fn send(&mut self, victim: &Node, addr: &str, messages: Vec<Value>) -> (u16, Value) {
        let env = self.envelope(victim, messages);
        post(addr, &env).await
    }
}

async fn post(addr: &str, env: &Envelope) -> (u16, Value) {
    let body = serde_json::to_string(env).unwrap();
    http(addr, "POST", "/federation/v1/inbox", None, Some(body)).await
}

/// The rules of the refusals in a signed reply, in order.
fn refused(reply: &Value) -> Vec<String> {
    reply["reply"]["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap().to_owned())
        .collect()
}

/// An item of `originator`'s own, bound with its real key: the model report's shape under
/// `id`, version `modified`, at `level`, with `name` as its text.
fn own_item(originator: &Node, id: &str, modified: &str, level: &str, name: &str) -> Value {
    let mut r = report();
    r["object"]["id"] = id.into();
    r["object"]["modified"] = modified.into();
    r["object"]["name"] = name.into();
    r["label"]["originator"] = originator.party().as_str().into();
    r["label"]["level"] = level.into();
    r["label"]["releasable_to"] = json!(["JPN", "KOR", "USA"]);
    let label: Label = serde_json::from_value(r["label"].clone()).unwrap();
    let binding = gsomia_crypto::sign_binding(&originator.keys().signing, &label, &r["object"])
        .unwrap()
        .to_base64();
    json!({ "label": r["label"], "object": r["object"], "binding": binding })
}

/// A reclassification notice signed by the originator: `item` (as [`own_item`] made it) at
/// `level`, revision `revision`.
fn notice(originator: &Node, item: &Value, level: &str, revision: u32) -> Value {
    let mut label = item["label"].clone();
    label["level"] = level.into();
    if revision > 0 {
        label["revision"] = revision.into();
    }
    let parsed: Label = serde_json::from_value(label.clone()).unwrap();
    let binding = gsomia_crypto::sign_binding(&originator.keys().signing, &parsed, &item["object"])
        .unwrap()
        .to_base64();
    json!({ "kind": "reclassification", "payload": {
        "id": item["object"]["id"], "label": label, "binding": binding } })
}

/// The victim, stopped, opens again, its users are listed, and its audit log verifies, every
/// checkpoint included.
async fn restarts_and_verifies(dir: &Path, running: Running, node: Arc<Node>) {
    halt(running).await;
    let verifier = log_verifier(&node);
    drop(node);
    let again = Node::open(dir, gsomia_node::node::system_clock()).unwrap();
    assert!(!again.store().users().unwrap().is_empty());
    let open = |note: &str| {
        let c = gsomia_log::SignedCheckpoint::open(note, &verifier).map_err(|e| e.to_string())?;
        Ok((c.size, c.root))
    };
    if again.config.database_url.is_some() {
        gsomia_store::verify::verify_store(again.store(), open, |_, _| {}).unwrap();
        again.close();
    } else {
        again.close();
        let log = gsomia_store::verify::LogFile::open(&dir.join("gsomia.db")).unwrap();
        log.verify(open, |_, _| {}).unwrap();
    }
}

fn audit_actions(node: &Node) -> Vec<(String, String, Option<String>)> {
    node.store()
        .audit_after(0, 1_000_000)
        .unwrap()
        .iter()
        .map(|e| {
            let d = e.parse().unwrap();
            let rule = d.rule.map(|r| r.id().to_owned());
            (d.action, d.decision.as_str().to_owned(), rule)
        })
        .collect()
}

/// Holds the write lock of `node`'s store from another connection, as another process would,
/// until dropped: the node's writer waits at its next commit (SQLite gives up after its 5 s
/// busy timeout; PostgreSQL waits).
struct WritesHeld {
    release: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WritesHeld {
    fn on(node: &Node, dir: &Path) -> WritesHeld {
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (held, holding) = std::sync::mpsc::channel::<()>();
        let url = node.config.database_url.clone();
        let file = dir.join("gsomia.db");
        let thread = std::thread::spawn(move || match url {
            Some(url) => {
                let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                let mut tx = db.transaction().unwrap();
                tx.batch_execute("LOCK TABLE inbox, audit IN EXCLUSIVE MODE")
                    .unwrap();
                held.send(()).unwrap();
                let _ = released.recv();
                tx.rollback().unwrap();
            }
            // Another process, as `gsomia user add` beside `gsomia serve` would be: Python's
            // sqlite3 (the machine's Python; SQL stays out of this crate's dependencies).
            None => {
                use std::io::{BufRead, Write};
                let script = "import sqlite3, sys\n\
                    db = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
                    db.execute('BEGIN IMMEDIATE')\n\
                    print('held', flush=True)\n\
                    sys.stdin.readline()\n\
                    db.execute('ROLLBACK')\n";
                let mut child = std::process::Command::new("python3")
                    .args(["-c", script])
                    .arg(&file)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut line = String::new();
                std::io::BufReader::new(child.stdout.take().unwrap())
                    .read_line(&mut line)
                    .unwrap();
                assert_eq!(line.trim(), "held");
                held.send(()).unwrap();
                let _ = released.recv();
                let mut stdin = child.stdin.take().unwrap();
                stdin.write_all(b"\n").unwrap();
                drop(stdin);
                assert!(child.wait().unwrap().success());
            }
        });
        holding.recv().unwrap();
        WritesHeld {
            release,
            thread: Some(thread),
        }
    }
}

impl Drop for WritesHeld {
    fn drop(&mut self) {
        let _ = self.release.send(());
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

fn count_actions(node: &Node, action: &str, decision: &str) -> usize {
    let actions = audit_actions(node);
    (actions.iter())
        .filter(|(a, d, _)| a == action && d == decision)
        .count()
}

/// The partner's next envelope is applied while the one before it is committed (the store's
/// writer held here by another connection): it must see what that one stores. Its shadow of an
/// item the one before stored is refused (H1), and a version the one before stored is received
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h1_an_envelope_applied_before_the_one_before_is_committed_sees_it() {
    let (root, kor, k, jpn, j, kim) = pair("hostile-pipelined").await;
    let mut hostile = Hostile::new(&jpn);
    let id = "report--0e8f4a52-7c1d-4b3e-9f60-1a2b3c4d5e6f";
    let own = own_item(&jpn, id, "2019-07-25T00:00:00.000Z", "HI", "JPN's text");
    // KOR's object under the id JPN's item has, bound with KOR's real key: what a partner
    // could only slip past H1 if the envelope before were not seen.
    let mut shadow = own_item(&kor, id, "2019-07-26T00:00:00.000Z", "II", "KOR's text");
    shadow["marking"] = json!({ "originator": "KOR", "party": "JPN", "level": "GOKUHI" });
    let first = 1 + kor.store().inbox_mark(jpn.party()).unwrap();
    let item = |v: &Value| json!({ "kind": "item", "item": v });
    let a = hostile.numbered(&kor, vec![item(&own)], first, None);
    let b = hostile.numbered(
        &kor,
        vec![item(&own), item(&shadow)],
        first + 1,
        Some(first),
    );
    let held = WritesHeld::on(&kor, &root.join("KOR"));
    let addr = k.addr.clone();
    let sent_a = tokio::spawn(async move { post(&addr, &a).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let addr = k.addr.clone();
    let sent_b = tokio::spawn(async move { post(&addr, &b).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Neither is answered before its commit (P7 for the receipts).
    assert!(!sent_a.is_finished() && !sent_b.is_finished());
    drop(held);
    let (s, ra) = sent_a.await.unwrap();
    assert_eq!((s, refused(&ra).len()), (200, 0), "{ra}");
    let (s, rb) = sent_b.await.unwrap();
    assert_eq!((s, refused(&rb)), (200, vec!["H1".to_owned()]), "{rb}");
    let receipts = |r: &Value| r["reply"]["receipts"].as_array().unwrap().len();
    assert_eq!((receipts(&ra), receipts(&rb)), (1, 1), "{rb}");
    assert_eq!(rb["reply"]["through"], json!(first + 2), "{rb}");
    // JPN's item is held once, as JPN's; the shadow is not.
    let held = kor.store().versions(&item_id(id)).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].label.originator, jpn.party());
    assert_eq!(count_actions(&kor, "item.receive", "allow"), 1);
    assert_eq!(count_actions(&kor, "item.receive", "deny"), 1);
    let (s, b) = http(
        &k.addr,
        "GET",
        &format!("/api/v1/items/{id}"),
        Some(&kim),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["object"]["name"], "JPN's text", "{b}");
    halt(j).await;
    restarts_and_verifies(&root.join("KOR"), k, kor).await;
}

/// When the envelope before fails to commit (the store's write lock held past SQLite's busy
/// timeout), the one applied behind it is not stored either, so that no message is skipped:
/// the partner sends both again and both are applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_behind_one_that_failed_to_commit_is_not_stored_either() {
    if super::sqlite_only("an_envelope_behind_one_that_failed_to_commit") {
        return;
    }
    let (root, kor, k, jpn, j, _kim) = pair("hostile-pipelined-fail").await;
    let mut hostile = Hostile::new(&jpn);
    let ids = [
        "report--1e8f4a52-7c1d-4b3e-9f60-1a2b3c4d5e6f",
        "report--2e8f4a52-7c1d-4b3e-9f60-1a2b3c4d5e6f",
    ];
    let item = |id: &str| {
        let v = own_item(&jpn, id, "2019-07-25T00:00:00.000Z", "HI", "JPN's text");
        json!({ "kind": "item", "item": v })
    };
    let first = 1 + kor.store().inbox_mark(jpn.party()).unwrap();
    let a = hostile.numbered(&kor, vec![item(ids[0])], first, None);
    let b = hostile.numbered(&kor, vec![item(ids[1])], first + 1, Some(first));
    let before = counts(&kor);
    let held = WritesHeld::on(&kor, &root.join("KOR"));
    let addr = k.addr.clone();
    let (a2, b2) = (a.clone(), b.clone());
    let sent_a = tokio::spawn(async move { post(&addr, &a2).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let addr = k.addr.clone();
    let sent_b = tokio::spawn(async move { post(&addr, &b2).await });
    // SQLite's writer gives up after 5 s.
    let (s, ra) = sent_a.await.unwrap();
    assert!(s >= 500, "{s} {ra}");
    let (s, rb) = sent_b.await.unwrap();
    assert_eq!((s, rb["error"]["code"].as_str()), (503, Some("not_stored")));
    drop(held);
    assert_eq!(counts(&kor), before);
    assert_eq!(kor.store().inbox_mark(jpn.party()).unwrap(), first - 1);
    // Sent again, in order: both applied.
    for env in [&a, &b] {
        let (s, r) = post(&k.addr, env).await;
        assert_eq!((s, refused(&r).len()), (200, 0), "{r}");
    }
    for id in ids {
        assert_eq!(kor.store().versions(&item_id(id)).unwrap().len(), 1);
    }
    assert_eq!(kor.store().inbox_mark(jpn.party()).unwrap(), first + 1);
    halt(j).await;
    restarts_and_verifies(&root.join("KOR"), k, kor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h1_a_partner_can_not_shadow_or_reclassify_another_originators_item() {
    let (root, kor, k, jpn, j, kim) = pair("hostile-shadow").await;
    let (s, b) = http(
        &k.addr,
        "POST",
        "/api/v1/items",
        Some(&kim),
        Some(report().to_string()),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let held = kor
        .store()
        .item(&item_id(REPORT_ID), None)
        .unwrap()
        .unwrap();
    let mut hostile = Hostile::new(&jpn);
    // JPN's own object under KOR's id, a later version, bound with JPN's real key.
    let shadow = own_item(
        &jpn,
        REPORT_ID,
        "2019-07-26T00:00:00.000Z",
        "GOKUHI",
        "JPN's text",
    );
    let (s, b) = hostile
        .send(
            &kor,
            &k.addr,
            vec![json!({ "kind": "item", "item": shadow })],
        )
        .await;
    assert_eq!((s, refused(&b)), (200, vec!["H1".to_owned()]), "{b}");
    // JPN's reclassification of that id, to the lowest level.
    let (_, b) = hostile
        .send(&kor, &k.addr, vec![notice(&jpn, &shadow, "HI", 1)])
        .await;
    assert_eq!(refused(&b), vec!["H1"], "{b}");
    // KOR's users read KOR's text at KOR's level; the store holds KOR's version only.
    let (s, b) = http(
        &k.addr,
        "GET",
        &format!("/api/v1/items/{REPORT_ID}"),
        Some(&kim),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["object"]["name"],
        "Two short-range ballistic missiles launched near Wonsan"
    );
    let versions = kor.store().versions(&item_id(REPORT_ID)).unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].label, held.label);
    // A user cleared only for III still reads nothing of it.
    let choi = user(&kor, "choi", json!(["analyst"]), "III");
    let (s, _) = http(
        &k.addr,
        "GET",
        &format!("/api/v1/items/{REPORT_ID}"),
        Some(&choi),
        None,
    )
    .await;
    assert_eq!(s, 404);
    // Nor can JPN pull KOR's custody record for that id: it is KOR's item.
    until("JPN witnessed KOR's log", || {
        jpn.store()
            .witnessed_latest(crate::code("KOR"))
            .unwrap()
            .is_some()
    })
    .await;
    let refused = gsomia_node::transparency::custody(&jpn, &descriptor(&kor, &k.addr), REPORT_ID)
        .await
        .unwrap_err();
    assert!(
        refused.message.contains("originator"),
        "{}",
        refused.message
    );
    halt(j).await;
    restarts_and_verifies(&root.join("KOR"), k, kor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m4_an_old_reclassification_replayed_is_refused_and_nothing_changes() {
    let (root, kor, k, jpn, j, _) = pair("hostile-replay").await;
    let mut hostile = Hostile::new(&jpn);
    let id = "report--00000000-0000-4000-8000-00000000a002";
    let item = own_item(
        &jpn,
        id,
        "2019-07-25T00:00:00.000Z",
        "GOKUHI",
        "JPN's report",
    );
    let (_, b) = hostile
        .send(&kor, &k.addr, vec![json!({ "kind": "item", "item": item })])
        .await;
    assert_eq!(refused(&b), Vec::<String>::new(), "{b}");
    let level = || {
        let s = kor.store().item(&item_id(id), None).unwrap().unwrap();
        (s.marking.unwrap().level.to_string(), s.label.revision)
    };
    assert_eq!(level(), ("II".to_owned(), 0));
    // The originator lowers it (revision 1), then raises it again (revision 2).
    let lowered = notice(&jpn, &item, "HI", 1);
    let raised = notice(&jpn, &item, "GOKUHI", 2);
    for (n, expect) in [(&lowered, ("III", 1)), (&raised, ("II", 2))] {
        let (_, b) = hostile.send(&kor, &k.addr, vec![n.clone()]).await;
        assert_eq!(refused(&b), Vec::<String>::new(), "{b}");
        assert_eq!(level(), (expect.0.to_owned(), expect.1));
    }
    // The old downgrade, genuinely signed once, replayed; and the current one, again.
    let before = counts(&kor);
    for n in [&lowered, &raised] {
        let (_, b) = hostile.send(&kor, &k.addr, vec![n.clone()]).await;
        assert_eq!(refused(&b), vec!["M4"], "{b}");
        assert!(
            b["reply"]["refusals"][0]["message"]
                .as_str()
                .unwrap()
                .contains("not newer")
        );
    }
    assert_eq!(level(), ("II".to_owned(), 2));
    assert_eq!(counts(&kor).items, before.items);
    assert_eq!(counts(&kor).outbox, before.outbox, "nothing passed on");
    halt(j).await;
    restarts_and_verifies(&root.join("KOR"), k, kor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m4_h4_a_reclassification_is_never_passed_back_so_notices_can_not_loop() {
    let (root, kor, k, jpn, j, kim) = pair("hostile-loop").await;
    let id = "report--00000000-0000-4000-8000-00000000a003";
    publish_and_release(&kor, &k, &kim, id).await;
    // JPN gives it back to its originator.
    let sato = user(&jpn, "sato", json!(["security_officer"]), "GOKUHI");
    let (s, b) = http(
        &j.addr,
        "POST",
        &format!("/api/v1/items/{id}/release"),
        Some(&sato),
        Some(json!({"to": "KOR"}).to_string()),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    until("KOR's receipt at JPN", || {
        !jpn.store().receipts(&item_id(id)).unwrap().is_empty()
    })
    .await;
    // KOR reclassifies: the notice goes to JPN, which passes it to nobody (not back).
    let lee = user(&kor, "lee", json!(["authority"]), "I");
    let (s, b) = http(
        &k.addr,
        "POST",
        &format!("/api/v1/items/{id}/reclassify"),
        Some(&lee),
        Some(json!({"level": "III"}).to_string()),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    until("the notice applied at JPN", || {
        jpn.store()
            .item(&item_id(id), None)
            .unwrap()
            .unwrap()
            .label
            .revision
            == 1
    })
    .await;
    until("both outboxes empty", || {
        kor.store().peers_pending().unwrap().is_empty()
            && jpn.store().peers_pending().unwrap().is_empty()
    })
    .await;
    let applied = jpn
        .store()
        .audit_after(0, 100_000)
        .unwrap()
        .iter()
        .map(|e| e.parse().unwrap())
        .find(|d: &gsomia_store::AuditDraft| d.action == "item.reclassify.received")
        .unwrap();
    assert_eq!(applied.decision, "allow");
    assert_eq!(
        applied.detail["sent_to"],
        json!([]),
        "never back to the sender"
    );
    assert!(
        !audit_actions(&kor)
            .iter()
            .any(|(a, d, _)| a == "item.reclassify.received" && d == "allow"),
        "KOR never applies a notice about its own item"
    );
    // Nothing more moves: a second look finds the same logs.
    let (ka, ja) = (counts(&kor).audit, counts(&jpn).audit);
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(kor.store().peers_pending().unwrap().is_empty());
        assert!(jpn.store().peers_pending().unwrap().is_empty());
    }
    // Checkpoints are not audit entries; deliveries would be.
    assert_eq!((counts(&kor).audit, counts(&jpn).audit), (ka, ja));
    halt(j).await;
    restarts_and_verifies(&root.join("KOR"), k, kor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_a_poisoned_consent_is_refused_whole_and_the_node_still_starts() {
    let (root, kor, k, jpn, j, _) = pair("hostile-consent").await;
    // USA: a known party whose proposal is pending at KOR; that does not make it a partner.
    init(&root.join("USA"), "USA");
    let usa = Node::open(&root.join("USA"), clock("2019-07-25").0).unwrap();
    kor.import_party(usa.descriptor().unwrap()).unwrap();
    let mut hostile = Hostile::new(&jpn);
    let id = "report--00000000-0000-4000-8000-00000000a004";
    let item = own_item(
        &jpn,
        id,
        "2019-07-25T00:00:00.000Z",
        "GOKUHI",
        "JPN's report",
    );
    let consent = |holder: &str, to: &str, about: &str| {
        let c: gsomia_core::Consent = serde_json::from_value(json!({
            "id": "poison", "originator": "JPN", "item": about, "holder": holder, "to": to,
            "purpose": "missile-warning", "given": "2019-07-01", "until": "2030-01-01",
        }))
        .unwrap();
        gsomia_crypto::consent::sign_consent(&jpn.keys().signing, c)
    };
    let before = counts(&kor);
    for c in [
        consent("CHN", "KOR", id), // a holder nobody knows
        consent("JPN", "USA", id), // not for this node
        consent("JPN", "KOR", "report--00000000-0000-4000-8000-0000000000ff"), // another item
    ] {
        let (_, b) = hostile
            .send(
                &kor,
                &k.addr,
                vec![json!({ "kind": "item", "item": item, "consents": [c] })],
            )
            .await;
        assert_eq!(refused(&b), vec!["H2"], "{b}");
    }
    assert!(kor.store().consents().unwrap().is_empty());
    assert_eq!(counts(&kor).items, before.items, "refused whole");
    // An unknown message kind is refused on its own, before any effect.
    let (_, b) = hostile
        .send(
            &kor,
            &k.addr,
            vec![json!({ "kind": "takeover", "payload": {} })],
        )
        .await;
    assert_eq!(refused(&b), vec!["M1"], "{b}");
    // USA proposes an agreement naming KOR; pending, it does not make USA a partner (R1).
    let mut proposal: Value =
        serde_json::from_str(&read("agreements/usa-kor-gsomia.json")).unwrap();
    proposal["id"] = "usa-kor-proposed".into();
    proposal["events"] = json!([{ "type": "signed", "by": "USA", "on": "2019-07-01" }]);
    let mut stranger = Hostile::new(&usa);
    let (_, b) = stranger
        .send(
            &kor,
            &k.addr,
            vec![json!({ "kind": "agreement_proposal", "payload": proposal })],
        )
        .await;
    assert_eq!(refused(&b), Vec::<String>::new(), "{b}");
    let usa_item = own_item(
        &usa,
        "report--00000000-0000-4000-8000-00000000a005",
        "2019-07-25T00:00:00.000Z",
        "SECRET",
        "x",
    );
    let (_, b) = stranger
        .send(
            &kor,
            &k.addr,
            vec![json!({ "kind": "item", "item": usa_item })],
        )
        .await;
    assert_eq!(refused(&b), vec!["R1"], "{b}");
    usa.close();
    halt(j).await;
    restarts_and_verifies(&root.join("KOR"), k, kor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h1_a_consent_id_belongs_to_its_originator() {
    let (root, kor, k, jpn, j, _) = pair("hostile-consent-id").await;
    init(&root.join("USA"), "USA");
    let usa = Node::open(&root.join("USA"), clock("2019-07-25").0).unwrap();
    kor.import_party(usa.descriptor().unwrap()).unwrap();
    kor.import_agreement(serde_json::from_str(&read("agreements/usa-kor-gsomia.json")).unwrap())
        .unwrap();
    let (mut from_jpn, mut from_usa) = (Hostile::new(&jpn), Hostile::new(&usa));
    let y = "report--00000000-0000-4000-8000-00000000a006";
    let z = "report--00000000-0000-4000-8000-00000000a007";
    let jpn_item = own_item(&jpn, y, "2019-07-25T00:00:00.000Z", "GOKUHI", "JPN's");
    let usa_item = own_item(&usa, z, "2019-07-25T00:00:00.000Z", "SECRET", "USA's");
    let consent = |by: &Node, item: &str, to: &str| {
        let c: gsomia_core::Consent = serde_json::from_value(json!({
            "id": "c-1", "originator": by.party(), "item": item, "holder": "KOR", "to": to,
            "purpose": "missile-warning", "given": "2019-07-01", "until": "2030-01-01",
        }))
        .unwrap();
        json!({ "kind": "consent", "payload": { "approved": true,
            "consent": gsomia_crypto::consent::sign_consent(&by.keys().signing, c) } })
    };
    let (_, b) = from_jpn
        .send(
            &kor,
            &k.addr,
            vec![
                json!({"kind": "item", "item": jpn_item}),
                consent(&jpn, y, "USA"),
            ],
        )
        .await;
    assert_eq!(refused(&b), Vec::<String>::new(), "{b}");
    let (_, b) = from_usa
        .send(
            &kor,
            &k.addr,
            vec![
                json!({"kind": "item", "item": usa_item}),
                consent(&usa, z, "JPN"),
            ],
        )
        .await;
    assert_eq!(refused(&b), vec!["H1"], "{b}");
    let held = kor.store().consents().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(
        (held[0].originator.as_str(), held[0].subject().as_str()),
        ("JPN", y)
    );
    usa.close();
    halt(j).await;
    restarts_and_verifies(&root.join("KOR"), k, kor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m4_nobody_reclassifies_above_their_clearance() {
    let (root, kor, k, _jpn, j, _) = pair("hostile-clearance").await;
    let park = user(&kor, "park", json!(["analyst"]), "I");
    let lee = user(&kor, "lee", json!(["authority"]), "III");
    let mut r = report();
    r["label"]["level"] = "I".into();
    let (s, b) = http(
        &k.addr,
        "POST",
        "/api/v1/items",
        Some(&park),
        Some(r.to_string()),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = http(
        &k.addr,
        "POST",
        &format!("/api/v1/items/{REPORT_ID}/reclassify"),
        Some(&lee),
        Some(json!({"level": "III"}).to_string()),
    )
    .await;
    assert_eq!((s, b["error"]["rule"].as_str()), (403, Some("M4")), "{b}");
    let held = kor
        .store()
        .item(&item_id(REPORT_ID), None)
        .unwrap()
        .unwrap();
    assert_eq!((held.label.level.as_str(), held.label.revision), ("I", 0));
    let (s, _) = http(
        &k.addr,
        "GET",
        &format!("/api/v1/items/{REPORT_ID}"),
        Some(&lee),
        None,
    )
    .await;
    assert_eq!(s, 404, "lee still may not read it");
    halt(j).await;
    restarts_and_verifies(&root.join("KOR"), k, kor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h5_nothing_is_answered_before_the_sender_is_authenticated() {
    let (root, kor, k, jpn, j, _) = pair("hostile-replies").await;
    let mut hostile = Hostile::new(&jpn);
    let id = "report--00000000-0000-4000-8000-00000000a008";
    let item = own_item(&jpn, id, "2019-07-25T00:00:00.000Z", "GOKUHI", "JPN's");
    let env = hostile.envelope(&kor, vec![json!({ "kind": "item", "item": item })]);
    let (s, b) = post(&k.addr, &env).await;
    assert_eq!(s, 200, "{b}");
    // The same envelope id with a junk signature: no stored reply, no detail, no audit entry.
    let before = counts(&kor);
    let mut guessed = env.clone();
    guessed.sig = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([7u8; 64])
    };
    let (s, b) = post(&k.addr, &guessed).await;
    assert_eq!(s, 403, "{b}");
    assert!(b.get("reply").is_none(), "{b}");
    assert!(!b.to_string().contains(id), "{b}");
    assert_eq!(counts(&kor), before);
    // A sender nobody imported learns nothing either.
    let mut stranger = env.clone();
    stranger.header.from = "CHN".parse().unwrap();
    let (s, b) = post(&k.addr, &stranger).await;
    assert_eq!(s, 403);
    assert!(!b.to_string().contains("KOR"), "{b}");
    assert_eq!(counts(&kor), before);
    halt(j).await;
    restarts_and_verifies(&root.join("KOR"), k, kor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h5_h6_checkpoints_from_strangers_or_replayed_are_not_evidence() {
    let (root, kor, k, jpn, j, _) = pair("hostile-checkpoints").await;
    let add = |body: String| {
        let addr = k.addr.clone();
        async move {
            http(
                &addr,
                "POST",
                "/federation/v1/add-checkpoint",
                None,
                Some(body),
            )
            .await
        }
    };
    let before = counts(&kor);
    // Unknown log names with text the caller chose: refused, nothing audited.
    for _ in 0..20 {
        let (s, _) = add(format!("old 0\n\ngsomia/ZZZ\n{}\n", "x".repeat(30_000))).await;
        assert_eq!(s, 403);
    }
    let (s, _) = add(format!("old 0\n\ngsomia/ZZZ\n{}\n", "x".repeat(100_000))).await;
    assert_eq!(s, 413, "over the size a checkpoint needs");
    assert_eq!(counts(&kor), before);
    // Two genuine checkpoints of JPN's log, the older replayed after the newer.
    let older = gsomia_node::transparency::issue(&jpn).await.unwrap();
    user(&jpn, "grow", json!(["analyst"]), "HI");
    let newer = gsomia_node::transparency::issue(&jpn).await.unwrap();
    assert!(newer.0 > older.0);
    let (s, _) = add(format!("old 0\n\n{}", newer.1)).await;
    assert!(s == 200 || s == 409, "{s}");
    // 409 when JPN's own checkpoint worker had KOR witness an earlier one first: the worker
    // brings KOR to `newer` (or a later one) on its next round either way.
    let held_now = || {
        kor.store()
            .witnessed_latest(crate::code("JPN"))
            .unwrap()
            .map_or(0, |c| c.0)
    };
    until("KOR to hold JPN's newer checkpoint", || {
        held_now() >= newer.0
    })
    .await;
    let held = held_now();
    let (s, b) = http_text_status(&k.addr, format!("old {held}\n\n{}", older.1)).await;
    assert_eq!(
        (s, b.trim().to_owned()),
        (409, held.to_string()),
        "stale, not evidence"
    );
    // A newer genuine checkpoint with a proof that fails, not signed by JPN: not evidence.
    user(&jpn, "grow2", json!(["analyst"]), "HI");
    let newest = gsomia_node::transparency::issue(&jpn).await.unwrap();
    let held = kor
        .store()
        .witnessed_latest(crate::code("JPN"))
        .unwrap()
        .unwrap()
        .0;
    let junk = gsomia_log::proof::encode_hash(&gsomia_log::Hash([9; 32]));
    let (s, _) = add(format!("old {held}\n{junk}\n\n{}", newest.1)).await;
    assert!(s == 422 || s == 409, "{s}");
    assert!(
        kor.store().evidence().unwrap().is_empty(),
        "no false accusation"
    );
    assert!(
        !audit_actions(&kor)
            .iter()
            .any(|(a, _, _)| a == "checkpoint.witness"),
        "no audit entry with text a stranger chose"
    );
    halt(j).await;
    restarts_and_verifies(&root.join("KOR"), k, kor).await;
}

async fn http_text_status(addr: &str, body: String) -> (u16, String) {
    super::federation::http_text(
        addr,
        "POST",
        "/federation/v1/add-checkpoint",
        None,
        Some(body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h4_a_partner_that_never_answers_delays_only_itself() {
    let (root, kor, k, jpn, j, kim) = pair("hostile-hung").await;
    // USA accepts connections and never answers.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung_addr = hung.local_addr().unwrap().to_string();
    let holder = tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((socket, _)) = hung.accept().await {
            held.push(socket);
        }
    });
    init(&root.join("USA"), "USA");
    let usa = Node::open(&root.join("USA"), clock("2019-07-25").0).unwrap();
    kor.import_party(descriptor(&usa, &hung_addr)).unwrap();
    kor.import_agreement(serde_json::from_str(&read("agreements/usa-kor-gsomia.json")).unwrap())
        .unwrap();
    usa.close();
    // An item for the hung partner first, then one for JPN.
    let first = "report--00000000-0000-4000-8000-00000000a009";
    publish_and_queue(&k.addr, &kim, first, "USA").await;
    let second = "report--00000000-0000-4000-8000-00000000a00a";
    let cosigned = kor.store().last_cosigned(crate::code("JPN")).unwrap();
    let started = Instant::now();
    publish_and_release(&kor, &k, &kim, second).await;
    assert!(jpn.store().item(&item_id(second), None).unwrap().is_some());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "JPN waited {:?} behind the hung partner",
        started.elapsed()
    );
    assert!(
        !kor.store().peers_pending().unwrap().is_empty(),
        "USA's is still queued"
    );
    // Witnessing goes on too: JPN cosigns KOR's newer checkpoints while USA hangs.
    until("JPN cosigns a newer checkpoint", || {
        kor.store().last_cosigned(crate::code("JPN")).unwrap() > cosigned
    })
    .await;
    // The officer sees it: USA's queue and its oldest message, JPN's deliveries.
    let (s, report) = http(&k.addr, "GET", "/api/v1/status", Some(&kim), None).await;
    assert_eq!(s, 200, "{report}");
    let partner = |code: &str| {
        report["partners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["party"] == code)
            .unwrap()
            .clone()
    };
    let (usa_row, jpn_row) = (partner("USA"), partner("JPN"));
    assert_eq!(usa_row["queued"], 1, "{report}");
    assert!(usa_row["oldest_queued"].is_string(), "{report}");
    assert_eq!(jpn_row["queued"], 0, "{report}");
    assert!(jpn_row["delivered"].as_u64().unwrap() >= 1, "{report}");
    assert!(jpn_row["last_delivered"].is_string(), "{report}");
    assert!(jpn_row["cosigned_our_checkpoint_of_size"].as_u64().unwrap() > 0);
    let analyst = user(&kor, "han", json!(["analyst"]), "II");
    let (s, b) = http(&k.addr, "GET", "/api/v1/status", Some(&analyst), None).await;
    assert_eq!((s, b["error"]["rule"].as_str()), (403, Some("P7")), "{b}");
    // Stopping does not wait for the hung partner either.
    let stopping = Instant::now();
    halt(j).await;
    restarts_and_verifies(&root.join("KOR"), k, kor).await;
    assert!(stopping.elapsed() < Duration::from_secs(10));
    holder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h3_a_hub_can_not_lower_the_level_the_originator_signed() {
    let root = super::temp_dir("hostile-hub");
    for p in ["KOR", "JPN", "USA"] {
        init(&root.join(p), p);
    }
    let day = clock("2019-12-01").0;
    let kor = Node::open(&root.join("KOR"), day.clone()).unwrap();
    let usa = Node::open(&root.join("USA"), day.clone()).unwrap();
    let jpn = Node::open(&root.join("JPN"), day).unwrap();
    let j = start(jpn.clone(), "127.0.0.1:0").await;
    jpn.import_party(kor.descriptor().unwrap()).unwrap();
    jpn.import_party(usa.descriptor().unwrap()).unwrap();
    for a in ["tisa", "usa-jpn-gsomia"] {
        jpn.import_agreement(serde_json::from_str(&read(&format!("agreements/{a}.json"))).unwrap())
            .unwrap();
    }
    let sato = user(&jpn, "sato", json!(["analyst"]), "HI");
    // KOR's level-II report as the US holds it, with KOR's consent to pass it to JPN.
    let carried = |id: &str, level: &str| {
        let mut item = own_item(&kor, id, "2019-11-30T00:00:00.000Z", "II", "KOR's report");
        item["marking"] = json!({"party": "USA", "level": level, "originator": "KOR"});
        item["custody"] = json!([{ "from": "KOR", "to": "USA", "agreement": "usa-kor-gsomia",
            "level": "SECRET", "at": "2019-11-30T01:00:00Z" }]);
        let c: gsomia_core::Consent = serde_json::from_value(json!({
            "id": format!("kor-consent-{id}"), "originator": "KOR", "item": id, "holder": "USA",
            "to": "JPN", "purpose": "missile-warning", "given": "2019-11-30", "until": "2020-11-30",
        }))
        .unwrap();
        let c = gsomia_crypto::consent::sign_consent(&kor.keys().signing, c);
        json!({ "kind": "item", "item": item, "consents": [c] })
    };
    let mut hub = Hostile::new(&usa);
    let lowered = "report--00000000-0000-4000-8000-00000000a00b";
    let (_, b) = hub
        .send(&jpn, &j.addr, vec![carried(lowered, "CONFIDENTIAL")])
        .await;
    assert_eq!(refused(&b), vec!["H3"], "{b}");
    assert!(jpn.store().item(&item_id(lowered), None).unwrap().is_none());
    assert!(
        jpn.store().consents().unwrap().is_empty(),
        "nothing of a refused item is kept"
    );
    // The honest hub: marked GOKUHI at JPN, out of reach of a user cleared for HI.
    let honest = "report--00000000-0000-4000-8000-00000000a00c";
    let (_, b) = hub
        .send(&jpn, &j.addr, vec![carried(honest, "SECRET")])
        .await;
    assert_eq!(refused(&b), Vec::<String>::new(), "{b}");
    let held = jpn.store().item(&item_id(honest), None).unwrap().unwrap();
    assert_eq!(held.marking.unwrap().level.as_str(), "GOKUHI");
    assert_eq!(jpn.store().consents().unwrap().len(), 1);
    let (s, _) = http(
        &j.addr,
        "GET",
        &format!("/api/v1/items/{honest}"),
        Some(&sato),
        None,
    )
    .await;
    assert_eq!(s, 404);
    kor.close();
    usa.close();
    restarts_and_verifies(&root.join("JPN"), j, jpn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a7_concurrent_events_are_never_lost() {
    let (root, kor, k, jpn, j, _) = pair("hostile-events").await;
    let lee = user(&kor, "lee", json!(["authority"]), "I");
    let agreement = |id: &str, signed: bool| {
        let mut a: Value = serde_json::from_str(&read("agreements/kor-jpn-gsomia.json")).unwrap();
        a["id"] = id.into();
        a["events"] = match signed {
            true => json!([{ "type": "signed", "by": "JPN", "on": "2016-11-23" },
                           { "type": "signed", "by": "KOR", "on": "2016-11-23" }]),
            false => json!([]),
        };
        a
    };
    // Two notices by one authority at once: one stands, the other is refused (A7).
    kor.import_agreement(serde_json::from_value(agreement("kor-jpn-twice", true)).unwrap())
        .unwrap();
    let notice = || {
        http(
            &k.addr,
            "POST",
            "/api/v1/agreements/kor-jpn-twice/events",
            Some(&lee),
            Some(json!({"type": "notice"}).to_string()),
        )
    };
    let (a, b) = tokio::join!(notice(), notice());
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{a:?} {b:?}");
    let kept = kor
        .world()
        .agreement("kor-jpn-twice")
        .unwrap()
        .file()
        .events
        .len();
    assert_eq!(kept, 3);
    // KOR's signature and JPN's, racing through the API and the inbox: both kept, every time.
    let mut hostile = Hostile::new(&jpn);
    for n in 0..10 {
        let id = format!("kor-jpn-race-{n}");
        kor.import_agreement(serde_json::from_value(agreement(&id, false)).unwrap())
            .unwrap();
        let theirs = hostile.envelope(
            &kor,
            vec![
                json!({ "kind": "agreement_event", "payload": { "agreement": id,
                "event": { "type": "signed", "by": "JPN", "on": "2019-07-25" } } }),
            ],
        );
        let path = format!("/api/v1/agreements/{id}/events");
        let body = json!({"type": "signed"}).to_string();
        let (ours, theirs) = tokio::join!(
            http(&k.addr, "POST", &path, Some(&lee), Some(body)),
            post(&k.addr, &theirs)
        );
        assert_eq!((ours.0, theirs.0), (201, 200), "{ours:?} {theirs:?}");
        let events = kor.world().agreement(&id).unwrap().file().events.clone();
        assert_eq!(events.len(), 2, "{id}: {events:?}");
        assert!(
            kor.world()
                .agreement(&id)
                .unwrap()
                .state_at(gsomia_core::Date::new(2019, 7, 25).unwrap())
                .state
                .in_force()
        );
    }
    halt(j).await;
    restarts_and_verifies(&root.join("KOR"), k, kor).await;
}

// ---------------------------------------------------------------------------------------------
// The property: whatever partners send, in any order.

/// One thing a hostile partner does. Ids come from a small pool so that partners collide with
/// each other's and with the victim's own items: 0 and 1 are KOR's own.
#[derive(Debug, Clone)]
enum Op {
    /// The sender's own item under id `id`, version `version`, at the higher or lower level.
    Item {
        from: usize,
        id: usize,
        version: u8,
        high: bool,
    },
    /// A reclassification of `id` signed by the sender or by the other partner, at a revision.
    Reclass {
        from: usize,
        id: usize,
        by_other: bool,
        high: bool,
        revision: u32,
    },
    /// The sender's consent `consent` about item `id`, for the victim.
    Consent {
        from: usize,
        consent: usize,
        id: usize,
    },
    /// An envelope claiming to be from the sender, signed with the other partner's key.
    Forged { from: usize, id: usize },
    /// The last envelope again.
    Replay,
    /// A message of a kind nobody knows.
    Unknown { from: usize },
    /// A request for KOR's consent to release an item onward, well-formed or not.
    Ask {
        from: usize,
        id: usize,
        malformed: bool,
    },
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        (0..2usize, 0..4usize, 0..2u8, any::<bool>()).prop_map(|(from, id, version, high)| {
            Op::Item {
                from,
                id,
                version,
                high,
            }
        }),
        (0..2usize, 0..4usize, any::<bool>(), any::<bool>(), 0..3u32).prop_map(
            |(from, id, by_other, high, revision)| Op::Reclass {
                from,
                id,
                by_other,
                high,
                revision
            }
        ),
        (0..2usize, 0..2usize, 0..4usize).prop_map(|(from, consent, id)| Op::Consent {
            from,
            consent,
            id
        }),
        (0..2usize, 0..4usize).prop_map(|(from, id)| Op::Forged { from, id }),
        Just(Op::Replay),
        (0..2usize).prop_map(|from| Op::Unknown { from }),
        (0..2usize, 0..4usize, any::<bool>()).prop_map(|(from, id, malformed)| Op::Ask {
            from,
            id,
            malformed
        }),
    ]
}

const POOL: [&str; 4] = [
    "report--00000000-0000-4000-8000-0000000000f0",
    "report--00000000-0000-4000-8000-0000000000f1",
    "report--00000000-0000-4000-8000-0000000000f2",
    "report--00000000-0000-4000-8000-0000000000f3",
];

/// What the victim must never lose, whatever it is sent: its own items as published, the
/// first originator of every id and consent id, levels at least what the originators' labels
/// map to, an audit log untouched by what does not authenticate, and a node that restarts.
struct Victim {
    dir: std::path::PathBuf,
    node: Arc<Node>,
    partners: [Arc<Node>; 2],
    own: Vec<gsomia_store::StoredItem>,
    originators: std::collections::HashMap<String, gsomia_core::PartyCode>,
    consents: std::collections::HashMap<String, gsomia_core::PartyCode>,
}

impl Victim {
    async fn apply(&mut self, ops: &[Op]) {
        let mut last: Option<(Envelope, bool)> = None;
        for op in ops {
            let high_of = |p: &Node, high: bool| match (p.party().as_str(), high) {
                ("JPN", true) => "GOKUHI",
                ("JPN", false) => "HI",
                (_, true) => "SECRET",
                (_, false) => "CONFIDENTIAL",
            };
            let mut forged = false;
            let env = match op {
                Op::Item {
                    from,
                    id,
                    version,
                    high,
                } => {
                    let p = &self.partners[*from];
                    let v = format!("2019-07-2{version}T00:00:00.000Z");
                    let item = own_item(p, POOL[*id], &v, high_of(p, *high), "x");
                    Hostile::new(p)
                        .envelope(&self.node, vec![json!({"kind": "item", "item": item})])
                }
                Op::Reclass {
                    from,
                    id,
                    by_other,
                    high,
                    revision,
                } => {
                    let (p, signer) = (
                        &self.partners[*from],
                        &self.partners[(*from + *by_other as usize) % 2],
                    );
                    // As an originator does: the notice is over the version the holder holds.
                    let held = self.node.store().item(&item_id(POOL[*id]), None).unwrap();
                    let version = held.map_or("2019-07-20T00:00:00.000Z".into(), |s| s.modified);
                    let item = own_item(signer, POOL[*id], &version, "x", "x");
                    let n = notice(signer, &item, high_of(signer, *high), *revision);
                    Hostile::new(p).envelope(&self.node, vec![n])
                }
                Op::Consent { from, consent, id } => {
                    let p = &self.partners[*from];
                    let other = self.partners[(*from + 1) % 2].party();
                    let c: gsomia_core::Consent = serde_json::from_value(json!({
                        "id": format!("c-{consent}"), "originator": p.party(), "item": POOL[*id],
                        "holder": "KOR", "to": other, "purpose": "missile-warning",
                        "given": "2019-07-01", "until": "2030-01-01",
                    }))
                    .unwrap();
                    let c = gsomia_crypto::consent::sign_consent(&p.keys().signing, c);
                    Hostile::new(p).envelope(
                        &self.node,
                        vec![
                            json!({"kind": "consent", "payload": {"approved": true, "consent": c}}),
                        ],
                    )
                }
                Op::Forged { from, id } => {
                    forged = true;
                    let p = &self.partners[*from];
                    let item = own_item(
                        p,
                        POOL[*id],
                        "2019-07-29T00:00:00.000Z",
                        high_of(p, true),
                        "x",
                    );
                    let mut liar = Hostile::new(&self.partners[(*from + 1) % 2]);
                    let mut env =
                        liar.envelope(&self.node, vec![json!({"kind": "item", "item": item})]);
                    env.header.from = p.party();
                    env
                }
                Op::Replay => match last.clone() {
                    Some((env, was_forged)) => {
                        forged = was_forged;
                        env
                    }
                    None => continue,
                },
                Op::Unknown { from } => Hostile::new(&self.partners[*from])
                    .envelope(&self.node, vec![json!({"kind": "takeover", "payload": {}})]),
                Op::Ask {
                    from,
                    id,
                    malformed,
                } => {
                    let p = &self.partners[*from];
                    let mut ask = json!({
                        "item": POOL[*id], "originator": "KOR", "holder": p.party(),
                        "to": self.partners[(*from + 1) % 2].party(), "purpose": "missile-warning",
                        "until": "2030-01-01", "asked_by": "tanaka", "asked": "2019-07-30T00:00:00Z",
                    });
                    if *malformed {
                        ask["until"] = "soon".into();
                        ask["note"] = "and one field more".into();
                    }
                    Hostile::new(p).envelope(
                        &self.node,
                        vec![json!({"kind": "consent_request", "payload": ask})],
                    )
                }
            };
            let before = counts(&self.node);
            let answer = gsomia_node::federation::receive(&self.node, env.clone()).await;
            if forged {
                assert!(answer.is_err(), "{op:?}");
                assert_eq!(
                    counts(&self.node),
                    before,
                    "{op:?}: nothing of a forgery is kept"
                );
            } else {
                answer.unwrap_or_else(|e| panic!("{op:?}: {}", e.message));
            }
            last = Some((env, forged));
            self.check(op);
        }
    }

    fn check(&mut self, op: &Op) {
        let store = self.node.store();
        for own in &self.own {
            let versions = store.versions(&own.id).unwrap();
            assert_eq!(versions.len(), 1, "{op:?}: {} has another version", own.id);
            assert_eq!(
                (
                    &versions[0].label,
                    &versions[0].binding,
                    &versions[0].content
                ),
                (&own.label, &own.binding, &own.content),
                "{op:?}: KOR's own item changed"
            );
        }
        let world = self.node.world();
        for id in POOL {
            for s in store.versions(&item_id(id)).unwrap() {
                let first = *self
                    .originators
                    .entry(id.to_owned())
                    .or_insert(s.label.originator);
                assert_eq!(s.label.originator, first, "{op:?}: {id} changed hands");
                if s.label.originator != self.node.party() {
                    let item = gsomia_node::service::items::unseal(&self.node, &s)
                        .unwrap()
                        .unwrap();
                    let level = &s.marking.as_ref().unwrap().level;
                    gsomia_core::reclassification::check_claimed_level(
                        &world,
                        &item,
                        self.node.party(),
                        level,
                    )
                    .unwrap_or_else(|r| panic!("{op:?}: {id} below its floor: {}", r.message));
                }
            }
        }
        // A request for consent is kept only well-formed, for an item of KOR's own, from the
        // holder it names.
        for r in store.consent_requests().unwrap() {
            let held = store.item(&r.request.item, None).unwrap();
            assert_eq!(
                held.map(|s| s.label.originator),
                Some(self.node.party()),
                "{op:?}: {:?}",
                r.request
            );
            assert!(
                self.partners.iter().any(|p| p.party() == r.request.holder),
                "{op:?}"
            );
        }
        for c in store.consents().unwrap() {
            let first = *self.consents.entry(c.id.clone()).or_insert(c.originator);
            assert_eq!(
                c.originator, first,
                "{op:?}: consent {} changed hands",
                c.id
            );
        }
    }

    /// Closes the victim and opens it again; its log verifies.
    fn restart(&mut self) {
        self.node.close();
        let verifier = log_verifier(&self.node);
        let open = |note: &str| {
            let c =
                gsomia_log::SignedCheckpoint::open(note, &verifier).map_err(|e| e.to_string())?;
            Ok((c.size, c.root))
        };
        if self.node.config.database_url.is_none() {
            let log = gsomia_store::verify::LogFile::open(&self.dir.join("gsomia.db")).unwrap();
            log.verify(open, |_, _| {}).unwrap();
        }
        self.node = Node::open(&self.dir, clock("2019-07-30").0).unwrap();
        if self.node.config.database_url.is_some() {
            gsomia_store::verify::verify_store(self.node.store(), open, |_, _| {}).unwrap();
        }
        assert!(!self.node.store().users().unwrap().is_empty());
    }
}

#[test]
fn h1_h2_h3_h5_random_partner_messages_never_corrupt_the_node() {
    use proptest::strategy::Strategy;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let root = super::temp_dir("hostile-property");
    for p in ["KOR", "JPN", "USA"] {
        init(&root.join(p), p);
    }
    let day = clock("2019-07-30").0;
    let node = Node::open(&root.join("KOR"), day.clone()).unwrap();
    let jpn = Node::open(&root.join("JPN"), day.clone()).unwrap();
    let usa = Node::open(&root.join("USA"), day).unwrap();
    for p in [&jpn, &usa] {
        node.import_party(p.descriptor().unwrap()).unwrap();
    }
    for a in ["kor-jpn-gsomia", "usa-kor-gsomia"] {
        node.import_agreement(
            serde_json::from_str(&read(&format!("agreements/{a}.json"))).unwrap(),
        )
        .unwrap();
    }
    user(&node, "kim", json!(["analyst"]), "II");
    let kim: gsomia_core::User = serde_json::from_value(json!({"id": "kim", "party": "KOR",
        "roles": ["analyst"], "clearance": "II", "duties": ["missile-warning"]}))
    .unwrap();
    let own = rt.block_on(async {
        let mut own = vec![];
        for id in &POOL[..2] {
            let mut r = report();
            r["object"]["id"] = (*id).into();
            let label = serde_json::from_value(r["label"].clone()).unwrap();
            gsomia_node::service::items::publish(&node, &kim, label, r["object"].clone())
                .await
                .unwrap();
            own.push(node.store().item(&item_id(id), None).unwrap().unwrap());
        }
        own
    });
    let victim = Victim {
        dir: root.join("KOR"),
        node,
        partners: [jpn, usa],
        own,
        originators: Default::default(),
        consents: Default::default(),
    };
    let scale: u32 = std::env::var("GSOMIA_PROPTEST_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let config = proptest::test_runner::Config {
        cases: 48 * scale,
        failure_persistence: None,
        ..Default::default()
    };
    // A fixed seed: the same sequences in every run, so a failure replays exactly (and the
    // checks below that the run was not vacuous hold in every run).
    let rng = proptest::test_runner::TestRng::deterministic_rng(
        proptest::test_runner::RngAlgorithm::ChaCha,
    );
    let mut runner = proptest::test_runner::TestRunner::new_with_rng(config, rng);
    let victim = std::cell::RefCell::new(victim);
    let result = runner.run(&proptest::collection::vec(op(), 1..8).boxed(), |ops| {
        let mut v = victim.borrow_mut();
        rt.block_on(v.apply(&ops));
        v.restart();
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // Not vacuous: partners' items, reclassifications and consents were accepted on the way.
    let v = victim.into_inner();
    assert!(v.originators.values().any(|o| o.as_str() != "KOR"));
    assert!(!v.consents.is_empty());
    let applied = audit_actions(&v.node)
        .iter()
        .filter(|(a, d, _)| a == "item.reclassify.received" && d == "allow")
        .count();
    assert!(applied > 0, "no reclassification was ever applied");
    let asked = v.node.store().consent_requests().unwrap().len();
    let refused = audit_actions(&v.node)
        .iter()
        .filter(|(a, d, _)| a == "consent.request.received" && d == "deny")
        .count();
    assert!(asked > 0 && refused > 0, "asked {asked}, refused {refused}");
}

/// The same item twice in one envelope, and an item with its reclassification in the same
/// envelope: received once, notice applied, one answer (M3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m3_m4_an_envelope_carrying_an_item_twice_and_its_notice_is_applied_once() {
    let (root, kor, k, jpn, j, _) = pair("hostile-twice").await;
    let mut hostile = Hostile::new(&jpn);
    let id = "report--00000000-0000-4000-8000-00000000a0d0";
    let item = own_item(
        &jpn,
        id,
        "2019-07-25T00:00:00.000Z",
        "GOKUHI",
        "JPN's report",
    );
    let message = json!({ "kind": "item", "item": item });
    let before = counts(&kor);
    let (s, b) = hostile
        .send(
            &kor,
            &k.addr,
            vec![message.clone(), message, notice(&jpn, &item, "HI", 1)],
        )
        .await;
    assert_eq!((s, refused(&b)), (200, Vec::<String>::new()), "{b}");
    assert_eq!(b["reply"]["receipts"].as_array().unwrap().len(), 2, "{b}");
    assert_eq!(counts(&kor).items, before.items + 1);
    let held = kor.store().item(&item_id(id), None).unwrap().unwrap();
    assert_eq!(
        (held.marking.unwrap().level.as_str(), held.label.revision),
        ("III", 1)
    );
    halt(j).await;
    restarts_and_verifies(&root.join("KOR"), k, kor).await;
}

/// KOR's held record at `node`.
fn record_of(node: &Node, party: &str) -> gsomia_store::PartyRecord {
    node.store()
        .parties()
        .unwrap()
        .into_iter()
        .find(|p| p.code.as_str() == party)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k1_kor_rotates_its_keys_mid_case_and_what_it_signed_before_still_verifies_at_jpn() {
    let (root, kor, k, jpn, j, kim) = pair("rotate").await;
    // Before: a release bound and enveloped with KOR's first keys, a checkpoint JPN witnessed.
    publish_and_release(&kor, &k, &kim, REPORT_ID).await;
    gsomia_node::transparency::tick(&kor).await.unwrap();
    let (witnessed_before, _) = jpn
        .store()
        .witnessed_latest(crate::code("KOR"))
        .unwrap()
        .unwrap();
    let old_signing = kor.keys().signing.clone();
    let old_public = kor.keys().public();
    let old_pin = kor.descriptor().unwrap().tls_pin;
    // Something queued for JPN while it is down, before the rotation: it must go under the old
    // key, since that is what JPN holds when it arrives.
    let addr = k.addr.clone();
    let (j_addr, jpn_dir) = (j.addr.clone(), root.join("JPN"));
    halt(j).await;
    drop(jpn);
    let queued = "report--00000000-0000-4000-8000-00000000d001";
    publish_and_queue(&k.addr, &kim, queued, "JPN").await;
    halt(k).await;
    drop(kor);

    // The rotation, with KOR stopped.
    let rotated = gsomia_node::rotation::rotate(&root.join("KOR"), clock("2019-07-25").0).unwrap();
    assert_ne!(rotated.descriptor.keys, old_public);
    assert_ne!(rotated.descriptor.tls_pin, old_pin);
    assert_eq!(rotated.descriptor.previous_keys, vec![old_public.clone()]);
    assert_eq!(rotated.partners, vec!["JPN".to_owned()]);
    let kor = Node::open(&root.join("KOR"), clock("2019-07-25").0).unwrap();
    assert_eq!(kor.keys().public(), rotated.descriptor.keys);
    assert_eq!(kor.previous_keys().len(), 1);
    let k = start(kor.clone(), &addr).await;
    let jpn = Node::open(&jpn_dir, clock("2019-07-25").0).unwrap();
    let j = start(jpn.clone(), &j_addr).await;

    // The queued release, then the notice, reach JPN under the old key; JPN holds the new
    // keys and pin, and keeps the old keys.
    until("JPN holds KOR's new keys", || {
        record_of(&jpn, "KOR").keys == rotated.descriptor.keys
    })
    .await;
    assert!(jpn.store().item(&item_id(queued), None).unwrap().is_some());
    let held = record_of(&jpn, "KOR");
    assert_eq!(held.previous_keys, vec![old_public.clone()]);
    assert_eq!(held.tls_pin, rotated.descriptor.tls_pin);
    // New envelopes use the new keys, and arrive.
    publish_and_release(
        &kor,
        &k,
        &kim,
        "report--00000000-0000-4000-8000-00000000d002",
    )
    .await;
    // Every binding KOR's old key made still verifies at JPN.
    for id in [REPORT_ID, queued] {
        let stored = jpn.store().item(&item_id(id), None).unwrap().unwrap();
        let label = stored.label.clone();
        let object = gsomia_node::service::items::unseal_object(&jpn, &stored)
            .unwrap()
            .unwrap();
        let item = gsomia_core::Item::new(gsomia_core::ItemFile {
            label,
            object,
            marking: None,
            custody: vec![],
            binding: Some(stored.binding.clone()),
        })
        .unwrap();
        gsomia_node::node::verify_binding_by(&held, &item).unwrap_or_else(|e| panic!("{id}: {e}"));
        // ... by the old key, not the new one.
        assert!(gsomia_crypto::verify_binding(&held.keys.verifying_key().unwrap(), &item).is_err());
    }
    // The checkpoints go on: JPN witnesses KOR's first checkpoint under the new key, consistent
    // with the one it cosigned under the old (the handover), and holds no evidence against it.
    gsomia_node::transparency::tick(&kor).await.unwrap();
    let (witnessed_after, note) = jpn
        .store()
        .witnessed_latest(crate::code("KOR"))
        .unwrap()
        .unwrap();
    assert!(witnessed_after > witnessed_before);
    assert!(jpn.store().evidence().unwrap().is_empty());
    assert!(
        gsomia_node::transparency::log_verifier(&held)
            .ok()
            .and_then(|v| gsomia_log::SignedCheckpoint::open(&note, &v).ok())
            .is_some(),
        "the new checkpoint is signed by the new key"
    );
    // KOR's own checkpoints from before the rotation still open with its key history.
    let own = kor.descriptor().unwrap();
    for size in [witnessed_before, witnessed_after] {
        let note = kor.store().checkpoint(size).unwrap().unwrap();
        gsomia_node::transparency::open_stored(&note, &own)
            .unwrap_or_else(|e| panic!("KOR's checkpoint of size {size}: {e}"));
    }

    // An envelope signed with the old key after the rotation is refused, and changes nothing.
    let before = counts(&jpn);
    let mut stale = Hostile::with_key(&kor, old_signing.clone());
    let (s, b) = stale
        .send(
            &jpn,
            &j.addr,
            vec![json!({ "kind": "withdrawn", "payload": { "id": REPORT_ID } })],
        )
        .await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(b["error"]["rule"], "M1", "{b}");
    assert_eq!(counts(&jpn), before);
    // A rotation notice not signed by the key JPN holds, in an envelope KOR really signed: refused
    // (K1), the record unchanged. So is the genuine notice replayed.
    let stranger = gsomia_crypto::NodeKeys::from_seeds([41; 32], [42; 32], [43; 32]);
    let forged = gsomia_node::rotation::Notice::sign(
        &stranger,
        gsomia_store::PartyRecord {
            keys: stranger.public(),
            previous_keys: vec![],
            ..held.clone()
        },
    );
    let mut forged = serde_json::to_value(forged).unwrap();
    forged["previous"] = serde_json::to_value(&held.keys).unwrap();
    let genuine = kor
        .store()
        .outbox_first(crate::code("JPN"), "rotation")
        .unwrap()
        .map(|m| m.payload);
    assert!(genuine.is_none(), "the notice was delivered");
    let genuine = serde_json::to_value(gsomia_node::rotation::Notice::sign(
        &gsomia_crypto::NodeKeys::from_seeds(old_signing.to_bytes(), [0; 32], [0; 32]),
        gsomia_store::PartyRecord {
            previous_keys: vec![],
            ..rotated.descriptor.clone()
        },
    ))
    .unwrap();
    let mut hostile = Hostile::new(&kor);
    for notice in [forged, genuine] {
        let (s, b) = hostile
            .send(
                &jpn,
                &j.addr,
                vec![json!({ "kind": "rotation", "payload": notice })],
            )
            .await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(refused(&b), ["K1"], "{b}");
        assert_eq!(record_of(&jpn, "KOR"), held);
    }
    halt(k).await;
    halt(j).await;
    drop(jpn);
    // JPN starts again with KOR's key history, and its log verifies.
    let again = Node::open(&jpn_dir, clock("2019-07-25").0).unwrap();
    assert_eq!(record_of(&again, "KOR"), held);
    let entries = again.store().audit_after(0, usize::MAX).unwrap();
    assert_eq!(
        gsomia_store::verify_chain(&entries),
        Ok(entries.len() as u64)
    );
    assert!(
        entries
            .iter()
            .any(|e| e.body.contains("\"party.rotate\"") && e.body.contains("\"allow\"")),
        "the rotation is audited at JPN"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p6_a_partners_incident_reports_are_kept_only_for_items_held_here_in_its_own_name() {
    let (_root, kor, k, jpn, j, kim) = pair("hostile-incident").await;
    publish_and_release(&kor, &k, &kim, REPORT_ID).await;
    let report = |item: &str, holder: &str| {
        json!({ "kind": "incident", "payload": {
            "incident": { "item": item, "kind": "possible_compromise",
                          "description": "left on a train", "reported_by": "sato",
                          "at": "2019-07-26T00:00:00Z" },
            "holder": holder } })
    };
    let mut hostile = Hostile::new(&jpn);
    let (s, b) = hostile
        .send(
            &kor,
            &k.addr,
            vec![
                report("report--00000000-0000-4000-8000-00000000e404", "JPN"),
                report(REPORT_ID, "USA"),
                report(REPORT_ID, "JPN"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(refused(&b), ["P6", "M1"], "{b}");
    let kept = kor.store().incidents().unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].item, REPORT_ID);
    assert_eq!(kept[0].reported_by, "JPN: sato");
    halt(k).await;
    halt(j).await;
}

/// The audit entries of `node` with this action about `subject`.
fn audited(node: &Node, action: &str, subject: &str) -> Vec<Value> {
    let entries = node.store().audit_after(0, usize::MAX).unwrap();
    entries
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.body).unwrap())
        .filter(|b| b["action"] == action && b["subject"] == subject)
        .collect()
}

/// Missile warning number `n` of the model case's, published at `addr` by `token`; its id.
async fn publish_warning(addr: &str, token: &str, n: u32) -> String {
    let mut w = super::missile_warning();
    let id = format!("x-gsomia-missile-warning--8d2e7a4c-1f3b-4c5d-9e6f-{n:012}");
    w["object"]["id"] = id.clone().into();
    let body = json!({ "label": w["label"], "object": w["object"] }).to_string();
    let (s, b) = http(addr, "POST", "/api/v1/items", Some(token), Some(body)).await;
    assert_eq!(s, 201, "{b}");
    id
}

/// R4b, the 2023 trilateral mechanism: Korea's standing consent lets the US hub pass each of
/// its `dprk-missile` warnings on to Japan under the hub's release rule, without a consent per
/// item; each carries the consent, which Japan verifies and keeps. Before the consent the hub
/// refuses (R4); once Korea revokes it, the hub refuses again, and a hostile hub that carries
/// its old, unrevoked copy to Japan is refused there, Japan holding the revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4b_a_standing_consent_lets_the_hub_pass_warnings_on_until_revoked_and_a_stale_copy_is_refused()
 {
    let (nodes, running) = super::federation::trilateral("standing", "2023-12-19").await;
    let (kor, jpn, usa) = (nodes[0].clone(), nodes[1].clone(), nodes[2].clone());
    let (ka, ja, ua) = (&running[0].addr, &running[1].addr, &running[2].addr);
    let kim = user(&kor, "kim", json!(["analyst", "security_officer"]), "II");
    let moon = user(&kor, "moon", json!(["authority"]), "I");
    let smith = user(&usa, "smith", json!(["security_officer"]), "SECRET");
    for (addr, token, to, max) in [(ka, &kim, "USA", "II"), (ua, &smith, "JPN", "SECRET")] {
        let rule = json!({ "to": to, "topics": ["dprk-missile"], "max_level": max });
        let (s, b) = http(
            addr,
            "POST",
            "/api/v1/release-rules",
            Some(token),
            Some(rule.to_string()),
        )
        .await;
        assert_eq!(s, 201, "{b}");
    }
    let at = |node: &Arc<Node>, id: &str| node.store().item(&item_id(id), None).unwrap().is_some();
    // Without a consent the hub's rule refuses to pass Korea's warning on (R4).
    let first = publish_warning(ka, &kim, 1).await;
    until("the first warning at USA", || at(&usa, &first)).await;
    let denied = audited(&usa, "item.release", &first);
    assert_eq!(
        (
            denied.len(),
            denied[0]["decision"].as_str(),
            denied[0]["rule"].as_str()
        ),
        (1, Some("deny"), Some("R4")),
        "{denied:?}"
    );
    // Korea's authority gives the standing consent; an analyst may not, nor for a stranger.
    let standing = json!({ "holder": "USA", "to": "JPN", "topic": "dprk-missile",
                           "purpose": "missile-warning", "until": "2024-12-31" });
    let give = |token: String, body: Value| async move {
        http(
            ka,
            "POST",
            "/api/v1/consents/standing",
            Some(&token),
            Some(body.to_string()),
        )
        .await
    };
    let (s, b) = give(kim.clone(), standing.clone()).await;
    assert_eq!((s, b["error"]["rule"].as_str()), (403, Some("R4")), "{b}");
    let mut bad = standing.clone();
    bad["to"] = "CHN".into();
    assert_eq!(give(moon.clone(), bad).await.0, 422);
    let mut bad = standing.clone();
    bad["until"] = "2023-01-01".into();
    let (s, b) = give(moon.clone(), bad).await;
    assert_eq!(s, 422, "{b}");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("until"),
        "{b}"
    );
    let (s, b) = give(moon.clone(), standing).await;
    assert_eq!(s, 201, "{b}");
    let consent_id = b["consent"]["id"].as_str().unwrap().to_owned();
    until("the standing consent at USA", || {
        usa.world().consent(&consent_id).is_some()
    })
    .await;
    // Now each warning goes on to Japan through the hub, carrying the consent.
    let second = publish_warning(ka, &kim, 2).await;
    until("the second warning at JPN", || at(&jpn, &second)).await;
    let passed = audited(&usa, "item.release", &second);
    assert_eq!(passed[0]["decision"], "allow", "{passed:?}");
    assert_eq!(passed[0]["detail"]["consents"], json!([consent_id]));
    let held = jpn.store().item(&item_id(&second), None).unwrap().unwrap();
    let chain: Vec<String> = held
        .custody
        .iter()
        .map(|h| format!("{}>{}", h.from, h.to))
        .collect();
    assert_eq!(chain, ["KOR>USA", "USA>JPN"]);
    // Kept with the item (the world is read again just after the commit that stored both).
    until("the consent in JPN's world", || {
        jpn.world().consent(&consent_id).is_some()
    })
    .await;
    // The hub keeps what it would carry: the consent as it holds it now, unrevoked.
    let stale = usa.world().consent(&consent_id).unwrap().clone();
    // Korea revokes it from today: the hub and Japan both hold the revocation.
    let revoke = format!("/api/v1/consents/{consent_id}/revoke");
    let (s, _) = http(ka, "POST", &revoke, Some(&kim), Some("{}".into())).await;
    assert_eq!(s, 403, "an analyst does not revoke for Korea");
    let past = json!({ "from": "2023-12-18" }).to_string();
    let (s, b) = http(ka, "POST", &revoke, Some(&moon), Some(past)).await;
    assert_eq!(s, 422, "{b}");
    let (s, b) = http(ka, "POST", &revoke, Some(&moon), Some("{}".into())).await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = http(ka, "POST", &revoke, Some(&moon), Some("{}".into())).await;
    assert_eq!(s, 409, "revoked once");
    for (name, node) in [("USA", &usa), ("JPN", &jpn)] {
        until(&format!("the revocation at {name}"), || {
            node.world()
                .consent(&consent_id)
                .is_some_and(|c| c.revoked.is_some())
        })
        .await;
    }
    // The hub refuses the next warning (R4)...
    let third = publish_warning(ka, &kim, 3).await;
    until("the third warning at USA", || at(&usa, &third)).await;
    let denied = audited(&usa, "item.release", &third);
    assert_eq!(denied[0]["rule"], "R4", "{denied:?}");
    // ...and a hostile hub that sends it anyway, with its old copy of the consent, is refused
    // at Japan: the copy verifies, but Japan holds Korea's revocation (R4), and keeps it.
    let s = usa.store().item(&item_id(&third), None).unwrap().unwrap();
    let object = gsomia_node::service::items::unseal_object(&usa, &s)
        .unwrap()
        .unwrap();
    let item = json!({ "label": s.label, "object": object, "binding": s.binding,
                       "marking": s.marking, "custody": s.custody });
    let before = counts(&jpn);
    let (_, b) = Hostile::new(&usa)
        .send(
            &jpn,
            ja,
            vec![json!({ "kind": "item", "item": item, "consents": [stale] })],
        )
        .await;
    assert_eq!(refused(&b), vec!["R4"], "{b}");
    assert_eq!(counts(&jpn).items, before.items);
    assert!(!at(&jpn, &third));
    // Nor does the consent as it was given, sent to the hub again, undo the revocation (H1).
    let (_, b) = Hostile::new(&kor)
        .send(
            &usa,
            ua,
            vec![json!({ "kind": "consent", "payload": { "approved": true, "consent": stale } })],
        )
        .await;
    assert_eq!(refused(&b), vec!["H1"], "{b}");
    assert!(
        usa.world()
            .consent(&consent_id)
            .is_some_and(|c| c.revoked.is_some())
    );
    for r in running {
        halt(r).await;
    }
}

/// P8: Japan's officer returns Korea's report; Japan's copy ends as by destruction and Korea
/// records the signed certificate of return. An analyst may not return, Korea does not return
/// its own item, and a certificate of return a partner forges (signed with another key, or
/// naming another holder) is refused at Korea, naming P8.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p8_a_holder_returns_an_item_to_its_originator_who_records_only_a_signed_return() {
    let (_root, kor, k, jpn, j, kim) = pair("return").await;
    publish_and_release(&kor, &k, &kim, REPORT_ID).await;
    let (kato, sato) = (
        user(&jpn, "kato", json!(["security_officer"]), "GOKUHI"),
        user(&jpn, "sato", json!(["analyst"]), "GOKUHI"),
    );
    let path = format!("/api/v1/items/{REPORT_ID}/return");
    let why = Some(json!({ "reason": "no longer needed" }).to_string());
    let (s, b) = http(&j.addr, "POST", &path, Some(&sato), why.clone()).await;
    assert_eq!((s, b["error"]["rule"].as_str()), (403, Some("P5")), "{b}");
    let (s, b) = http(&k.addr, "POST", &path, Some(&kim), why.clone()).await;
    assert_eq!(s, 422, "Korea's own item: {b}");
    let (s, b) = http(&j.addr, "POST", &path, Some(&kato), why.clone()).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["certificate"]["holder"], "JPN");
    assert_eq!(b["reported_to_originator"], true);
    let held = jpn
        .store()
        .item(&item_id(REPORT_ID), None)
        .unwrap()
        .unwrap();
    assert!(
        held.destroyed.is_some() && held.content.is_none(),
        "the copy ends"
    );
    let (s, _) = http(&j.addr, "POST", &path, Some(&kato), why.clone()).await;
    assert_eq!(s, 410, "returned once");
    let returned = |node: &Node| audited(node, "item.returned", REPORT_ID);
    until("the return at KOR", || !returned(&kor).is_empty()).await;
    let recorded = &returned(&kor)[0];
    assert_eq!(
        (recorded["decision"].as_str(), recorded["rule"].as_str()),
        (Some("allow"), Some("P8"))
    );
    assert_eq!(recorded["detail"]["certificate"], b["certificate"]);
    // Forged: signed with a key that is not JPN's, or naming USA as the holder.
    let mut certificate = b["certificate"].clone();
    let other = gsomia_crypto::SigningKey::from_bytes(&[9; 32]);
    let forged = gsomia_crypto::statement::sign(&other, "return", &certificate);
    certificate["holder"] = "USA".into();
    let elsewhere = gsomia_crypto::statement::sign(&jpn.keys().signing, "return", &certificate);
    let mut hostile = Hostile::new(&jpn);
    for (certificate, signature) in [(b["certificate"].clone(), forged), (certificate, elsewhere)] {
        let payload = json!({ "certificate": certificate, "signature": signature });
        let (_, reply) = hostile
            .send(
                &kor,
                &k.addr,
                vec![json!({ "kind": "return", "payload": payload })],
            )
            .await;
        assert_eq!(refused(&reply), vec!["P8"], "{reply}");
    }
    assert_eq!(returned(&kor).len(), 3, "one allowed, two refused");
    halt(k).await;
    halt(j).await;
}

/// N1 and D1: Korea's authority notifies a change in its national rules, Japan's acknowledges
/// it; Japan raises a dispute, which changes no release, and Korea settles it. Both keep every
/// letter. Only authorities write; answers answer something held and unanswered; a letter a
/// partner forges, or sends in another's name, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n1_d1_law_notices_are_acknowledged_and_disputes_settled_and_both_keep_the_letters() {
    let (_root, kor, k, jpn, j, kim) = pair("letters").await;
    let park = user(&kor, "park", json!(["authority"]), "I");
    let abe = user(&jpn, "abe", json!(["authority"]), "TOKUTEI_HIMITSU");
    let path = "/api/v1/agreements/kor-jpn-gsomia/letters";
    let write = |addr: String, token: String, body: Value| async move {
        http(&addr, "POST", path, Some(&token), Some(body.to_string())).await
    };
    let (ka, ja) = (k.addr.clone(), j.addr.clone());
    let notice = json!({ "kind": "law_notice", "effective": "2020-01-01",
                         "text": "The Military Secrets Protection Act is amended (Art. 13)." });
    let (s, b) = write(ka.clone(), kim.clone(), notice.clone()).await;
    assert_eq!((s, b["error"]["rule"].as_str()), (403, Some("N1")), "{b}");
    // Malformed or answering nothing: refused, nothing kept.
    for (body, status) in [
        (json!({ "kind": "law_notice", "text": " " }), 422),
        (
            json!({ "kind": "law_notice", "text": "x", "answers": "KOR-letter-00" }),
            422,
        ),
        (
            json!({ "kind": "dispute", "text": "x", "effective": "2020-01-01" }),
            422,
        ),
        (
            json!({ "kind": "acknowledgement", "text": "x", "answers": "KOR-letter-00" }),
            422,
        ),
        (json!({ "kind": "treaty", "text": "x" }), 422),
    ] {
        let (s, b) = write(ka.clone(), park.clone(), body.clone()).await;
        assert_eq!(s, status, "{body}: {b}");
    }
    let (s, _) = http(
        &ka,
        "POST",
        "/api/v1/agreements/nope/letters",
        Some(&park),
        Some(notice.to_string()),
    )
    .await;
    assert_eq!(s, 404);
    assert!(kor.store().letters("kor-jpn-gsomia").unwrap().is_empty());
    let (s, b) = write(ka.clone(), park.clone(), notice).await;
    assert_eq!(s, 201, "{b}");
    let notice_id = b["letter"]["id"].as_str().unwrap().to_owned();
    let holds = |node: &Arc<Node>, id: &str| {
        node.store()
            .letters("kor-jpn-gsomia")
            .unwrap()
            .iter()
            .any(|l| l.id == id)
    };
    until("the notice at JPN", || holds(&jpn, &notice_id)).await;
    // Korea does not acknowledge its own notice; Japan does, once.
    let ack = json!({ "kind": "acknowledgement", "answers": notice_id, "text": "Noted." });
    let (s, b) = write(ka.clone(), park.clone(), ack.clone()).await;
    assert_eq!(s, 422, "{b}");
    let (s, b) = write(ja.clone(), abe.clone(), ack.clone()).await;
    assert_eq!(s, 201, "{b}");
    let ack_id = b["letter"]["id"].as_str().unwrap().to_owned();
    let (s, _) = write(ja.clone(), abe.clone(), ack).await;
    assert_eq!(s, 422, "acknowledged once");
    until("the acknowledgement at KOR", || holds(&kor, &ack_id)).await;
    // A dispute changes no protection: Korea still releases to Japan.
    let dispute = json!({ "kind": "dispute", "text": "Whether Art. 6(c) covers derived items." });
    let (s, b) = write(ja.clone(), abe.clone(), dispute).await;
    assert_eq!(s, 201, "{b}");
    let dispute_id = b["letter"]["id"].as_str().unwrap().to_owned();
    until("the dispute at KOR", || holds(&kor, &dispute_id)).await;
    publish_and_queue(
        &ka,
        &kim,
        "report--00000000-0000-4000-8000-00000000d001",
        "JPN",
    )
    .await;
    let settle = json!({ "kind": "settlement", "answers": dispute_id,
                         "text": "Settled by consultation on 2019-08-01." });
    let (s, b) = write(ka.clone(), park.clone(), settle.clone()).await;
    assert_eq!(s, 201, "{b}");
    let settled_id = b["letter"]["id"].as_str().unwrap().to_owned();
    until("the settlement at JPN", || holds(&jpn, &settled_id)).await;
    let (s, _) = write(ja.clone(), abe.clone(), settle).await;
    assert_eq!(s, 422, "settled once");
    // Both keep the four letters, each answered as it was.
    let (s, b) = http(&ja, "GET", path, Some(&abe), None).await;
    assert_eq!(s, 200, "{b}");
    let answered: Vec<(String, usize)> = b["letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["letter"]["kind"].as_str().unwrap().to_owned(),
                l["answered_by"].as_array().unwrap().len(),
            )
        })
        .collect();
    let expected = [
        ("law_notice", 1),
        ("acknowledgement", 0),
        ("dispute", 1),
        ("settlement", 0),
    ];
    assert_eq!(answered, expected.map(|(k, n)| (k.to_owned(), n)).to_vec());
    assert_eq!(kor.store().letters("kor-jpn-gsomia").unwrap().len(), 4);
    // At Korea: a letter "from JPN" signed with another key, and a letter of KOR's own that JPN
    // sends in KOR's name.
    let letter = |from: &str, key: &gsomia_crypto::SigningKey| {
        let l: gsomia_core::Letter = serde_json::from_value(json!({
            "id": format!("{from}-letter-forged"), "agreement": "kor-jpn-gsomia",
            "kind": "dispute", "from": from, "text": "x", "sent": "2019-07-25T00:00:00Z",
        }))
        .unwrap();
        gsomia_crypto::signed::sign(key, l)
    };
    let other = gsomia_crypto::SigningKey::from_bytes(&[7; 32]);
    let mut hostile = Hostile::new(&jpn);
    for l in [letter("JPN", &other), letter("KOR", &kor.keys().signing)] {
        let (_, reply) = hostile
            .send(
                &kor,
                &k.addr,
                vec![json!({ "kind": "letter", "payload": { "letter": l } })],
            )
            .await;
        assert_eq!(refused(&reply), vec!["D1"], "{reply}");
    }
    assert_eq!(kor.store().letters("kor-jpn-gsomia").unwrap().len(), 4);
    halt(k).await;
    halt(j).await;
}

/// S1: under a GSOMIA whose terms ask for assurances, Korea releases nothing to Japan until
/// Japan's authority has given one for the item's level; Japan's own copy of it lets Japan
/// accept the item. Only an authority gives one, for a level of its scheme, under an agreement
/// with the partner; an assurance forged or given in another's name is refused at Korea.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s1_release_waits_for_the_recipients_signed_assurance_where_the_agreement_asks() {
    let (_root, kor, k, jpn, j, kim) = pair("assurance").await;
    let mut file: Value = serde_json::from_str(&read("agreements/kor-jpn-gsomia.json")).unwrap();
    file["terms"]["requires_assurance"] = true.into();
    for n in [&kor, &jpn] {
        n.import_agreement(serde_json::from_value(file.clone()).unwrap())
            .unwrap();
    }
    let abe = user(&jpn, "abe", json!(["authority"]), "TOKUTEI_HIMITSU");
    let kato = user(&jpn, "kato", json!(["security_officer"]), "GOKUHI");
    let mut r = report();
    r["object"]["id"] = REPORT_ID.into();
    let (s, b) = http(
        &k.addr,
        "POST",
        "/api/v1/items",
        Some(&kim),
        Some(r.to_string()),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let release = || {
        let (addr, kim) = (k.addr.clone(), kim.clone());
        async move {
            let path = format!("/api/v1/items/{REPORT_ID}/release");
            let body = Some(json!({ "to": "JPN" }).to_string());
            http(&addr, "POST", &path, Some(&kim), body).await
        }
    };
    let (s, b) = release().await;
    assert_eq!((s, b["error"]["rule"].as_str()), (403, Some("S1")), "{b}");
    let give = |token: String, body: Value| {
        let addr = j.addr.clone();
        async move {
            http(
                &addr,
                "POST",
                "/api/v1/assurances",
                Some(&token),
                Some(body.to_string()),
            )
            .await
        }
    };
    let assurance = json!({ "to": "KOR", "agreement": "kor-jpn-gsomia", "level": "GOKUHI",
                            "purpose": "missile warning", "until": "2020-07-24" });
    let (s, b) = give(kato.clone(), assurance.clone()).await;
    assert_eq!((s, b["error"]["rule"].as_str()), (403, Some("S1")), "{b}");
    for (field, value, status) in [
        ("until", json!("2019-07-01"), 422),
        ("level", json!("SECRET"), 422),
        ("agreement", json!("tisa"), 404),
        ("purpose", json!(" "), 422),
    ] {
        let mut bad = assurance.clone();
        bad[field] = value;
        let (s, b) = give(abe.clone(), bad).await;
        assert_eq!(s, status, "{field}: {b}");
    }
    assert!(kor.world().assurances().is_empty() && jpn.world().assurances().is_empty());
    let (s, b) = give(abe.clone(), assurance).await;
    assert_eq!(s, 201, "{b}");
    let id = b["assurance"]["id"].as_str().unwrap().to_owned();
    until("the assurance at KOR", || {
        kor.world().assurances().iter().any(|a| a.id == id)
    })
    .await;
    let (s, b) = release().await;
    assert_eq!(s, 202, "{b}");
    until("the report at JPN", || {
        jpn.store()
            .item(&item_id(REPORT_ID), None)
            .unwrap()
            .is_some()
    })
    .await;
    // Forged at Korea: "JPN's" assurance signed with another key, and one in USA's name.
    let forged = |by: &str, key: &gsomia_crypto::SigningKey| {
        let a: gsomia_core::Assurance = serde_json::from_value(json!({
            "id": format!("{by}-assurance-forged"), "by": by, "to": "KOR",
            "agreement": "kor-jpn-gsomia", "recipient": "x", "level": "GOKUHI",
            "purpose": "x", "given": "2019-07-01", "until": "2030-01-01",
        }))
        .unwrap();
        gsomia_crypto::signed::sign(key, a)
    };
    let other = gsomia_crypto::SigningKey::from_bytes(&[5; 32]);
    let mut hostile = Hostile::new(&jpn);
    for a in [forged("JPN", &other), forged("USA", &jpn.keys().signing)] {
        let payload = json!({ "assurance": a });
        let (_, reply) = hostile
            .send(
                &kor,
                &k.addr,
                vec![json!({ "kind": "assurance", "payload": payload })],
            )
            .await;
        assert_eq!(refused(&reply), vec!["S1"], "{reply}");
    }
    assert_eq!(kor.world().assurances().len(), 1);
    halt(k).await;
    halt(j).await;
}

/// A9 between nodes: Korea's authority proposes an amendment of the GSOMIA's table; until
/// Japan's authority signs it, Japan marks Korea's II as before; from the day of Japan's
/// signature, by the new table, and what was marked before keeps its marking. A partner may
/// not change a held amendment's terms, nor sign for another party.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a9_an_amendment_proposed_at_one_node_and_signed_at_the_other_decides_from_that_day() {
    let (_root, kor, k, jpn, j, kim) = pair("amend").await;
    let park = user(&kor, "park", json!(["authority"]), "I");
    let abe = user(&jpn, "abe", json!(["authority"]), "TOKUTEI_HIMITSU");
    let table = |jpn_secret: Value, kor_conf: &str| {
        json!([
            { "common": "SECRET", "levels": { "JPN": jpn_secret, "KOR": ["II"] } },
            { "common": "CONFIDENTIAL", "levels": { "JPN": ["HI"], "KOR": [kor_conf] } }
        ])
    };
    let path = "/api/v1/agreements/kor-jpn-gsomia/amendments";
    let propose = |token: String, body: Value| {
        let addr = k.addr.clone();
        async move { http(&addr, "POST", path, Some(&token), Some(body.to_string())).await }
    };
    let good = json!({ "id": "kor-jpn-2019-1",
                       "equivalence": table(json!(["TOKUTEI_HIMITSU", "GOKUHI"]), "III") });
    let (s, _) = propose(kim.clone(), good.clone()).await;
    assert_eq!(s, 403);
    for bad in [
        json!({ "id": "x" }),
        json!({ "equivalence": table(json!(["HI"]), "III") }),
        json!({ "equivalence": table(json!(["GOKUHI"]), "IV") }),
    ] {
        let (s, b) = propose(park.clone(), bad.clone()).await;
        assert_eq!(s, 422, "{bad}: {b}");
    }
    let (s, b) = propose(park.clone(), good.clone()).await;
    assert_eq!((s, &b["in_force_from"]), (201, &Value::Null), "{b}");
    let (s, _) = propose(park.clone(), good).await;
    assert_eq!(s, 409, "an amendment id is used once");
    let held = |node: &Arc<Node>| {
        node.world().agreement("kor-jpn-gsomia").and_then(|a| {
            a.amendments()
                .next()
                .map(|(m, from)| (m.signed.len(), from))
        })
    };
    until("the amendment at JPN", || held(&jpn).is_some()).await;
    // Not in force: Japan marks as before.
    publish_and_release(&kor, &k, &kim, REPORT_ID).await;
    let marked = |id: &str| {
        jpn.store()
            .item(&item_id(id), None)
            .unwrap()
            .and_then(|s| s.marking)
            .map(|m| m.level.to_string())
    };
    assert_eq!(marked(REPORT_ID).as_deref(), Some("GOKUHI"));
    let sign = |aid: &str| {
        let (addr, abe) = (j.addr.clone(), abe.clone());
        let path = format!("/api/v1/agreements/kor-jpn-gsomia/amendments/{aid}/sign");
        async move { http(&addr, "POST", &path, Some(&abe), None).await }
    };
    let (s, b) = sign("kor-jpn-2019-1").await;
    assert_eq!(
        (s, b["in_force_from"].as_str()),
        (200, Some("2019-07-25")),
        "{b}"
    );
    assert_eq!(sign("kor-jpn-2019-1").await.0, 409);
    assert_eq!(sign("nope").await.0, 404);
    until("the signature at KOR", || {
        held(&kor).is_some_and(|(n, f)| n == 2 && f.is_some())
    })
    .await;
    let second = "report--00000000-0000-4000-8000-00000000a901";
    publish_and_queue(&k.addr, &kim, second, "JPN").await;
    until("the second report at JPN", || marked(second).is_some()).await;
    assert_eq!(marked(second).as_deref(), Some("TOKUTEI_HIMITSU"));
    assert_eq!(
        marked(REPORT_ID).as_deref(),
        Some("GOKUHI"),
        "kept as marked"
    );
    // A partner changes a held amendment's terms, or signs for Korea: refused, nothing kept.
    let signed = |by: &str| json!([{ "by": by, "on": "2019-07-25" }]);
    let mut hostile = Hostile::new(&jpn);
    for amendment in [
        json!({ "id": "kor-jpn-2019-1", "scope": ["cyber"],
                "equivalence": table(json!(["TOKUTEI_HIMITSU", "GOKUHI"]), "III"),
                "signed": [{ "by": "KOR", "on": "2019-07-25" }, { "by": "JPN", "on": "2019-07-25" }] }),
        json!({ "id": "kor-jpn-2019-2", "scope": ["cyber"], "signed": signed("KOR") }),
    ] {
        let payload = json!({ "agreement": "kor-jpn-gsomia", "amendment": amendment });
        let (_, reply) = hostile
            .send(
                &kor,
                &k.addr,
                vec![json!({ "kind": "amendment", "payload": payload })],
            )
            .await;
        assert_eq!(refused(&reply), vec!["A9"], "{reply}");
    }
    let a = kor.world().agreement("kor-jpn-gsomia").unwrap().clone();
    assert_eq!(a.amendments().count(), 1);
    assert_eq!(a.scope_at("2019-07-25".parse().unwrap()), None);
    halt(k).await;
    halt(j).await;
}

/// C1: a contractor at Japan reads Korea's report only with Korea's consent to Japan's
/// contractors (P2) and at a contractor facility Japan registered, cleared for the report's
/// level and inspected; officers register and inspect, nobody records an inspection to come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c1_a_contractor_reads_a_partners_item_only_at_a_registered_cleared_inspected_facility() {
    let (_root, kor, k, jpn, j, kim) = pair("facility").await;
    publish_and_release(&kor, &k, &kim, REPORT_ID).await;
    let kato = user(&jpn, "kato", json!(["security_officer"]), "GOKUHI");
    let sato = user(&jpn, "sato", json!(["analyst"]), "GOKUHI");
    let contractor: gsomia_core::User = serde_json::from_value(json!({
        "id": "ito", "party": "JPN", "clearance": "GOKUHI", "duties": ["missile-warning"],
        "kind": "contractor", "facility": "mhi-kobe",
    }))
    .unwrap();
    let ito = jpn.add_user(contractor).unwrap();
    let read = || {
        let (addr, ito) = (j.addr.clone(), ito.clone());
        async move {
            let path = format!("/api/v1/items/{REPORT_ID}");
            http(&addr, "GET", &path, Some(&ito), None).await.0
        }
    };
    let last_refusal = || {
        audited(&jpn, "item.read", REPORT_ID)
            .last()
            .and_then(|e| e["rule"].as_str().map(str::to_owned))
    };
    assert_eq!(read().await, 404);
    assert_eq!(last_refusal().as_deref(), Some("P2"));
    // Korea consents to Japan's contractors.
    let consent: gsomia_core::Consent = serde_json::from_value(json!({
        "id": "kor-contractors-1", "originator": "KOR", "item": REPORT_ID, "holder": "JPN",
        "to": "contractors", "purpose": "missile-warning", "given": "2019-07-25",
        "until": "2019-12-31",
    }))
    .unwrap();
    let consent = gsomia_crypto::consent::sign_consent(&kor.keys().signing, consent);
    let payload = json!({ "approved": true, "consent": consent });
    let (_, reply) = Hostile::new(&kor)
        .send(
            &jpn,
            &j.addr,
            vec![json!({ "kind": "consent", "payload": payload })],
        )
        .await;
    assert!(refused(&reply).is_empty(), "{reply}");
    until("the consent at JPN", || {
        jpn.world().consent("kor-contractors-1").is_some()
    })
    .await;
    assert_eq!(read().await, 404);
    assert_eq!(last_refusal().as_deref(), Some("C1"));
    // Japan's officer registers the facility; an analyst may not; nor at a level JPN lacks.
    let facility = json!({ "id": "mhi-kobe", "name": "Kobe shipyard", "clearance": "GOKUHI",
                           "responsible": "Tanaka" });
    let post = |token: String, path: String, body: Value| {
        let addr = j.addr.clone();
        async move { http(&addr, "POST", &path, Some(&token), Some(body.to_string())).await }
    };
    let (s, b) = post(sato.clone(), "/api/v1/facilities".into(), facility.clone()).await;
    assert_eq!((s, b["error"]["rule"].as_str()), (403, Some("C1")), "{b}");
    let mut bad = facility.clone();
    bad["clearance"] = "SECRET".into();
    assert_eq!(
        post(kato.clone(), "/api/v1/facilities".into(), bad).await.0,
        422
    );
    let (s, b) = post(kato.clone(), "/api/v1/facilities".into(), facility).await;
    assert_eq!(s, 201, "{b}");
    until("the facility in JPN's world", || {
        jpn.world().facility("mhi-kobe").is_some()
    })
    .await;
    // The agreement sets no inspection limit: registered and cleared is enough here.
    assert_eq!(read().await, 200);
    let inspect = "/api/v1/facilities/mhi-kobe/inspections".to_owned();
    let (s, b) = post(kato.clone(), inspect.clone(), json!({ "on": "2019-07-26" })).await;
    assert_eq!(s, 422, "an inspection to come: {b}");
    let (s, b) = post(kato.clone(), inspect, json!({})).await;
    assert_eq!(
        (s, b["facility"]["inspections"].clone()),
        (200, json!(["2019-07-25"])),
        "{b}"
    );
    let (s, _) = post(
        kato.clone(),
        "/api/v1/facilities/nope/inspections".into(),
        json!({}),
    )
    .await;
    assert_eq!(s, 404);
    halt(k).await;
    halt(j).await;
}

/// V1 and V2 between nodes: Japan's authority asks to inspect Korea's MND on the assurance it
/// gave Korea for its visitor; Korea's authority authorises it (never more than asked, never
/// without that assurance), which makes the visitor's account at Korea; the visitor reads
/// Korea's report there, recorded as the visitor's, but nothing on a day outside a visit; Japan
/// reports its findings, which both keep; a refusal is kept by both and ends the request. A
/// partner's letter addressed elsewhere or signed by another key is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_v2_a_visit_asked_authorised_and_read_within_its_bounds_and_its_findings_kept() {
    let (_root, kor, k, jpn, j, kim) = pair("visits").await;
    let park = user(&kor, "park", json!(["authority"]), "I");
    let abe = user(&jpn, "abe", json!(["authority"]), "TOKUTEI_HIMITSU");
    let (ka, ja) = (k.addr.clone(), j.addr.clone());
    let post = |addr: &str, token: &str, path: &str, body: Value| {
        let (addr, token, path) = (addr.to_owned(), token.to_owned(), path.to_owned());
        async move { http(&addr, "POST", &path, Some(&token), Some(body.to_string())).await }
    };
    let mut r = report();
    r["object"]["id"] = REPORT_ID.into();
    let (s, b) = post(&ka, &kim, "/api/v1/items", r).await;
    assert_eq!(s, 201, "{b}");
    let visit = |assurance: &str, from: &str, inspection: bool| {
        json!({ "agreement": "kor-jpn-gsomia", "host": "KOR", "visitor": "Sato Hanako",
                "assurance": assurance, "facility": "MND Seoul", "from": from,
                "until": "2019-07-31", "level": "II", "topics": ["dprk-missile"],
                "purpose": "inspection of the missile-warning link", "inspection": inspection })
    };
    // No assurance for the visitor yet: refused naming S1, audited, nothing kept.
    let (s, b) = post(
        &ja,
        &abe,
        "/api/v1/visits",
        visit("JPN-assurance-0", "2019-07-25", true),
    )
    .await;
    assert_eq!((s, b["error"]["rule"].as_str()), (422, Some("S1")), "{b}");
    assert_eq!(
        audited(&jpn, "visit.request", "kor-jpn-gsomia")[0]["decision"],
        "deny"
    );
    let assurance = json!({ "to": "KOR", "agreement": "kor-jpn-gsomia", "level": "GOKUHI",
                            "recipient": "Sato Hanako", "purpose": "inspection",
                            "until": "2019-12-31" });
    let (s, b) = post(&ja, &abe, "/api/v1/assurances", assurance).await;
    assert_eq!(s, 201, "{b}");
    let sure = b["assurance"]["id"].as_str().unwrap().to_owned();
    until("the assurance at KOR", || {
        kor.world().assurances().iter().any(|a| a.id == sure)
    })
    .await;
    // Bad requests: an officer who is no authority, a level of the visitor's own scheme, days
    // out of order, an unknown field, an agreement of nobody's.
    let (s, b) = post(
        &ja,
        &kim_at(&jpn),
        "/api/v1/visits",
        visit(&sure, "2019-07-25", true),
    )
    .await;
    assert_eq!((s, b["error"]["rule"].as_str()), (403, Some("N1")), "{b}");
    for (field, value, status, rule) in [
        ("level", json!("GOKUHI"), 422, Some("S1")),
        ("until", json!("2019-07-01"), 422, None),
        ("badge", json!(1), 422, None),
        ("agreement", json!("nope"), 404, None),
    ] {
        let mut bad = visit(&sure, "2019-07-25", true);
        bad[field] = value;
        let (s, b) = post(&ja, &abe, "/api/v1/visits", bad).await;
        assert_eq!(
            (s, b["error"]["rule"].as_str()),
            (status, rule),
            "{field}: {b}"
        );
    }
    let letters = |n: &Node| n.store().letters("kor-jpn-gsomia").unwrap();
    assert!(letters(&jpn).is_empty() && letters(&kor).is_empty());
    let request = ask_visit(&ja, &abe, visit(&sure, "2019-07-25", true), &kor).await;
    // Korea's authority allows no more than asked.
    let path = format!("/api/v1/visits/{request}/authorise");
    let (s, b) = post(&ka, &park, &path, json!({ "level": "I" })).await;
    assert_eq!((s, b["error"]["rule"].as_str()), (422, Some("V1")), "{b}");
    let (s, b) = post(&ka, &park, &path, json!({ "until": "2019-08-02" })).await;
    assert_eq!((s, b["error"]["rule"].as_str()), (422, Some("V1")), "{b}");
    let (s, b) = post(&ka, &kim, &path, json!({})).await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(letters(&kor).len(), 1);
    let (s, b) = post(&ka, &park, &path, json!({})).await;
    assert_eq!(s, 201, "{b}");
    let authorisation = b["letter"]["id"].as_str().unwrap().to_owned();
    let (visitor, token) = (
        b["visitor"]["user"].as_str().unwrap().to_owned(),
        b["visitor"]["token"].as_str().unwrap().to_owned(),
    );
    assert_eq!(b["visitor"]["expires"], "2019-07-31");
    let (s, _) = post(&ka, &park, &path, json!({})).await;
    assert_eq!(s, 422, "answered once");
    // The visitor reads Korea's report at Korea, recorded as the visitor's; writes nothing.
    let (s, b) = http(
        &ka,
        "GET",
        &format!("/api/v1/items/{REPORT_ID}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let read = audited(&kor, "item.read", REPORT_ID);
    assert!(
        read.iter()
            .any(|e| e["actor"] == visitor.as_str() && e["decision"] == "allow"),
        "{read:?}"
    );
    let mut other = report();
    other["object"]["id"] = "report--00000000-0000-4000-8000-00000000f001".into();
    let (s, _) = post(&ka, &token, "/api/v1/items", other).await;
    assert_eq!(s, 403, "a visitor publishes nothing");
    // Japan keeps the authorisation and reports its findings; Korea does not report on its own
    // authorisation; both keep the report.
    until("the authorisation at JPN", || {
        letters(&jpn).iter().any(|l| l.id == authorisation)
    })
    .await;
    let findings = format!("/api/v1/visits/{authorisation}/findings");
    let (s, b) = post(&ka, &park, &findings, json!({ "text": "x" })).await;
    assert_eq!((s, b["error"]["rule"].as_str()), (422, Some("V2")), "{b}");
    let (s, b) = post(
        &ja,
        &abe,
        &findings,
        json!({ "text": "Link protected as agreed." }),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let report_id = b["letter"]["id"].as_str().unwrap().to_owned();
    until("the findings at KOR", || {
        letters(&kor).iter().any(|l| l.id == report_id)
    })
    .await;
    // A second visit, from tomorrow, is not an inspection: no findings; no reads today.
    let second = ask_visit(&ja, &abe, visit(&sure, "2019-07-26", false), &kor).await;
    let (s, b) = post(
        &ka,
        &park,
        &format!("/api/v1/visits/{second}/authorise"),
        json!({}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (second_visitor, tomorrow) = (
        b["visitor"]["user"].as_str().unwrap().to_owned(),
        b["visitor"]["token"].as_str().unwrap().to_owned(),
    );
    let second_auth = b["letter"]["id"].as_str().unwrap().to_owned();
    let (s, _) = http(
        &ka,
        "GET",
        &format!("/api/v1/items/{REPORT_ID}"),
        Some(&tomorrow),
        None,
    )
    .await;
    assert_eq!(s, 404, "not on a day of the visit");
    let denied = audited(&kor, "item.read", REPORT_ID);
    assert!(
        denied.iter().any(|e| e["actor"] == second_visitor.as_str()
            && e["decision"] == "deny"
            && e["rule"] == "V1"),
        "{denied:?}"
    );
    until("the second authorisation at JPN", || {
        letters(&jpn).iter().any(|l| l.id == second_auth)
    })
    .await;
    let (s, b) = post(
        &ja,
        &abe,
        &format!("/api/v1/visits/{second_auth}/findings"),
        json!({ "text": "x" }),
    )
    .await;
    assert_eq!((s, b["error"]["rule"].as_str()), (422, Some("V2")), "{b}");
    // A third is refused, which ends it.
    let third = ask_visit(&ja, &abe, visit(&sure, "2019-07-27", false), &kor).await;
    let (s, b) = post(
        &ka,
        &park,
        &format!("/api/v1/visits/{third}/refuse"),
        json!({ "text": "The facility is closed that week." }),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, _) = post(
        &ka,
        &park,
        &format!("/api/v1/visits/{third}/authorise"),
        json!({}),
    )
    .await;
    assert_eq!(s, 422, "refused already");
    let refusal = b["letter"]["id"].as_str().unwrap().to_owned();
    until("the refusal at JPN", || {
        letters(&jpn).iter().any(|l| l.id == refusal)
    })
    .await;
    // Both list the three visits alike.
    for (addr, token) in [(&ka, &park), (&ja, &abe)] {
        let (s, b) = http(addr, "GET", "/api/v1/visits", Some(token), None).await;
        assert_eq!(s, 200, "{b}");
        let kinds: Vec<(Value, Value)> = b["visits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["answer"]["kind"].clone(), v["findings"]["kind"].clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (json!("visit_authorisation"), json!("findings")),
                (json!("visit_authorisation"), Value::Null),
                (json!("visit_refusal"), Value::Null),
            ]
        );
    }
    // A hostile Japan: a request to visit USA sent to Korea, one signed by another key, and an
    // "authorisation" of its own request in Korea's name.
    let held = letters(&kor).len();
    let letter = |id: &str, kind: &str, from: &str, answers: Option<&str>, host: &str| {
        let mut v = json!({ "id": id, "agreement": "kor-jpn-gsomia", "kind": kind, "from": from,
            "text": "x", "sent": "2019-07-25T00:00:00Z",
            "visit": { "host": host, "visitor": "Sato Hanako", "assurance": sure,
                       "facility": "MND Seoul", "from": "2019-07-25", "until": "2019-07-31",
                       "level": "II", "topics": ["dprk-missile"] } });
        if let Some(a) = answers {
            v["answers"] = a.into();
        }
        serde_json::from_value::<gsomia_core::Letter>(v).unwrap()
    };
    let other = gsomia_crypto::SigningKey::from_bytes(&[9; 32]);
    let own = &jpn.keys().signing;
    let mut hostile = Hostile::new(&jpn);
    for l in [
        gsomia_crypto::signed::sign(
            own,
            letter("JPN-letter-h1", "visit_request", "JPN", None, "USA"),
        ),
        gsomia_crypto::signed::sign(
            &other,
            letter("JPN-letter-h2", "visit_request", "JPN", None, "KOR"),
        ),
        gsomia_crypto::signed::sign(
            own,
            letter(
                "KOR-letter-h3",
                "visit_authorisation",
                "KOR",
                Some(&third),
                "KOR",
            ),
        ),
    ] {
        let (_, reply) = hostile
            .send(
                &kor,
                &k.addr,
                vec![json!({ "kind": "letter", "payload": { "letter": l } })],
            )
            .await;
        assert_eq!(refused(&reply), vec!["V1"], "{reply}");
    }
    assert_eq!(letters(&kor).len(), held);
    halt(k).await;
    halt(j).await;
}

/// A security officer of `node`'s who is no authority.
fn kim_at(node: &Node) -> String {
    user(node, "kato", json!(["security_officer"]), "GOKUHI")
}

/// Japan's authority asks at `addr` for `visit`; the request's id, once Korea holds it.
async fn ask_visit(addr: &str, token: &str, visit: Value, kor: &Node) -> String {
    let (s, b) = http(
        addr,
        "POST",
        "/api/v1/visits",
        Some(token),
        Some(visit.to_string()),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let id = b["letter"]["id"].as_str().unwrap().to_owned();
    until("the visit request at KOR", || {
        kor.store()
            .letters("kor-jpn-gsomia")
            .unwrap()
            .iter()
            .any(|l| l.id == id)
    })
    .await;
    id
}
