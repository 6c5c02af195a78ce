//! A node restored from an old backup: its log verifies, and its partners, which witnessed more
//! of it, see a shorter log and say so.

use gsomia_crypto::backup::Secret;
use gsomia_node::Node;
use gsomia_node::backup::SealTo;
use gsomia_store::verify_chain;

use super::federation::{halt, http, pair, publish_and_release, start};
use super::{REPORT_ID, clock, item_id};

const PASS: &[u8] = b"the backup passphrase, long enough";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restored_from_an_old_backup_is_seen_by_its_partner_as_a_shorter_log() {
    if super::sqlite_only("backup") {
        return;
    }
    let (root, kor, k, jpn, j, kim) = pair("restore-old").await;
    publish_and_release(&kor, &k, &kim, REPORT_ID).await;
    gsomia_node::transparency::tick(&kor).await.unwrap();
    // Backed up while serving.
    let file = root.join("kor.gsomia-backup");
    let summary = gsomia_node::backup::backup(
        &root.join("KOR"),
        &file,
        SealTo::Passphrase(PASS),
        &mut |_, _| {},
    )
    .unwrap();
    assert!(summary.files.iter().any(|(n, _)| n == "keys/master.key"));
    let at_backup = kor.store().log_size().unwrap();
    // KOR goes on; JPN witnesses the longer log.
    publish_and_release(
        &kor,
        &k,
        &kim,
        "report--00000000-0000-4000-8000-00000000c001",
    )
    .await;
    gsomia_node::transparency::tick(&kor).await.unwrap();
    let (witnessed, _) = jpn
        .store()
        .witnessed_latest(crate::code("KOR"))
        .unwrap()
        .unwrap();
    assert!(witnessed > at_backup);
    let addr = k.addr.clone();
    halt(k).await;
    drop(kor);

    // The restore: a new folder whose log verifies, as it was when the backup began.
    let restored = root.join("KOR-restored");
    gsomia_node::backup::restore(&file, &restored, Secret::Passphrase(PASS), &mut |_, _| {})
        .unwrap();
    let kor = Node::open(&restored, clock("2019-07-25").0).unwrap();
    let entries = kor.store().audit_after(0, usize::MAX).unwrap();
    assert_eq!(verify_chain(&entries), Ok(entries.len() as u64));
    assert!(entries.len() as u64 >= at_backup && (entries.len() as u64) < witnessed);
    assert!(
        kor.store()
            .item(&item_id(REPORT_ID), None)
            .unwrap()
            .is_some()
    );
    // Its partner holds a larger checkpoint than this log: witnessing fails, named, and the
    // officer sees it in the status (README: "Restoring from an old backup").
    let k = start(kor.clone(), &addr).await;
    // The next entry it makes is checkpointed and sent to be witnessed.
    let mut r = super::report();
    r["object"]["id"] = "report--00000000-0000-4000-8000-00000000c002".into();
    let (s, b) = http(
        &k.addr,
        "POST",
        "/api/v1/items",
        Some(&kim),
        Some(r.to_string()),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert!(kor.store().log_size().unwrap() < witnessed);
    gsomia_node::transparency::tick(&kor).await.unwrap();
    let (_, error) = kor.witness_error("JPN").expect("no witness error");
    assert!(
        error.contains(&format!("JPN holds a checkpoint of size {witnessed}"))
            && error.contains("larger than this log"),
        "{error}"
    );
    let officer =
        super::federation::user(&kor, "park", serde_json::json!(["security_officer"]), "II");
    let (s, status) = http(&k.addr, "GET", "/api/v1/status", Some(&officer), None).await;
    assert_eq!(s, 200);
    assert!(
        status["partners"][0]["last_witness_error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("larger than this log")),
        "{status}"
    );
    halt(k).await;
    halt(j).await;
}
