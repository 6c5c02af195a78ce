//! gsomia-store's tests: the store conformance suite, run against every backend on real
//! databases (a SQLite file; a PostgreSQL database created for the test, at
//! `GSOMIA_TEST_POSTGRES`, by default the machine's `postgres://root@127.0.0.1:5432/test`,
//! required under CI), and SQLite's own.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // Tests fail loudly.

use std::path::PathBuf;
use std::sync::Arc;

use gsomia_core::Item;
use gsomia_store::{
    AuditDraft, AuditEntry, Batch, PostgresStore, SqliteStore, Store, StoreError, StoredItem,
    Write, verify_chain,
};
use proptest::prelude::*;

mod merkle;

const REPORT: &str = include_str!("../../../../examples/model-case/items/kor-missile-report.json");

fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gsomia-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("gsomia.db")
}

/// Where a test's store lives.
#[derive(Clone, Debug)]
enum Place {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Place {
    /// A store on this place (opened again on the same data each time).
    fn open(&self) -> Arc<dyn Store> {
        match self {
            Place::Sqlite(p) => Arc::new(SqliteStore::open(p).unwrap()),
            Place::Postgres(url) => Arc::new(PostgresStore::open(url).unwrap()),
        }
    }
}

/// The PostgreSQL server the tests use, if it answers (it must under CI).
fn postgres_admin() -> Option<String> {
    let url = std::env::var("GSOMIA_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
    match postgres::Client::connect(&url, postgres::NoTls) {
        Ok(_) => Some(url),
        Err(e) => {
            assert!(
                std::env::var("CI").is_err(),
                "PostgreSQL at {url} does not answer under CI (.ci/run starts one): {e}"
            );
            eprintln!(
                "PostgreSQL at {url} does not answer ({e}): its half of the suite is skipped"
            );
            None
        }
    }
}

/// A new, empty PostgreSQL database for test `name`; its URL.
fn postgres_db(name: &str) -> Option<String> {
    let admin = postgres_admin()?;
    Some(gsomia_store::scratch_database(&admin, name).unwrap())
}

/// A fresh place of every backend for test `name`.
fn places(name: &str) -> Vec<Place> {
    let mut out = vec![Place::Sqlite(temp_db(name))];
    out.extend(postgres_db(name).map(Place::Postgres));
    out
}

fn draft(action: &str, subject: &str) -> AuditDraft {
    AuditDraft {
        at: "2019-07-25T00:30:00Z".into(),
        actor: "kim".into(),
        action: action.into(),
        subject: subject.into(),
        decision: gsomia_store::Verdict::Allow,
        rule: None,
        detail: serde_json::json!({}),
    }
}

fn item(n: usize) -> StoredItem {
    let item = Item::from_json(REPORT).unwrap();
    StoredItem {
        seq: 0,
        id: format!("report--00000000-0000-4000-8000-{n:012}")
            .parse()
            .unwrap(),
        modified: "2019-07-25T00:30:00.000Z".into(),
        stix_type: "report".into(),
        label: item.label().clone(),
        marking: None,
        custody: vec![],
        binding: "sig".into(),
        wrapped_key: Some(vec![1, 2, 3]),
        content: Some(vec![4, 5, 6]),
        added: "2019-07-25T00:30:00Z".into(),
        destroyed: None,
    }
}

fn publish(n: usize) -> Batch {
    Batch {
        writes: vec![Write::PutItem(Box::new(item(n)))],
        audit: vec![draft("item.publish", &item(n).id)],
    }
}

#[test]
fn p7_a_write_and_its_audit_entry_commit_together_and_read_back() {
    for place in places("roundtrip") {
        roundtrip(&place.open());
    }
}

fn roundtrip(store: &Arc<dyn Store>) {
    assert_eq!(store.last_item().unwrap(), 0);
    let c = store.write(publish(1)).unwrap();
    assert_eq!(c.audit, vec![1]);
    assert_eq!(c.items.len(), 1);
    let got = store.item(&item(1).id, None).unwrap().unwrap();
    assert_eq!(
        StoredItem {
            seq: 0,
            ..got.clone()
        },
        item(1)
    );
    assert_eq!(store.items_after(0, 10).unwrap().len(), 1);
    assert_eq!(store.last_item().unwrap(), got.seq);
    let audit = store.audit_after(0, 10).unwrap();
    assert_eq!(verify_chain(&audit), Ok(1));
    let parsed = audit[0].parse().unwrap();
    assert_eq!(parsed, draft("item.publish", &item(1).id));
}

#[test]
fn a_refused_batch_leaves_nothing_and_others_in_its_group_commit() {
    for place in places("refused") {
        refused(place.open());
    }
}

fn refused(store: Arc<dyn Store>) {
    store.write(publish(1)).unwrap();
    let before = store.counts().unwrap();
    // The same version again, with a second write and an audit entry in the batch: all refused.
    let mut dup = publish(1);
    dup.writes.push(Write::PutItem(Box::new(item(2))));
    let err = store.write(dup).unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref m) if m.contains("already stored")),
        "{err}"
    );
    assert_eq!(store.counts().unwrap(), before);
    // A later write refused after an earlier one was done: the earlier one is undone too.
    let late = |n: usize| {
        let mut b = publish(n);
        b.writes.push(Write::DisableUser("nobody".into()));
        b
    };
    let err = store.write(late(3)).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(ref m) if m.contains("nobody")),
        "{err}"
    );
    assert_eq!(store.counts().unwrap(), before);
    assert!(store.item(&item(3).id, None).unwrap().is_none());
    // Many batches at once, every third one a duplicate and every seventh refused late: the
    // others all land.
    let (tx, rx) = std::sync::mpsc::channel();
    for n in 10..40 {
        let tx = tx.clone();
        let batch = match n {
            _ if n % 3 == 0 => publish(1),
            _ if n % 7 == 0 => late(n),
            _ => publish(n),
        };
        store.submit(batch, Box::new(move |r| tx.send((n, r.is_ok())).unwrap()));
    }
    drop(tx);
    let results: Vec<_> = rx.iter().collect();
    assert_eq!(results.len(), 30);
    assert!(
        results
            .iter()
            .all(|(n, ok)| *ok == (n % 3 != 0 && n % 7 != 0))
    );
    let after = store.counts().unwrap();
    assert_eq!(after.items, before.items + 17);
    for n in [14, 28, 35] {
        assert!(store.item(&item(n).id, None).unwrap().is_none());
    }
    assert_eq!(
        verify_chain(&store.audit_after(0, 1000).unwrap()),
        Ok(after.audit)
    );
}

#[test]
fn acknowledged_writes_survive_reopening_and_the_chain_continues() {
    for place in places("reopen") {
        {
            let store = place.open();
            for n in 0..5 {
                store.write(publish(n)).unwrap();
            }
            store.close();
        }
        let store = place.open();
        store.write(publish(5)).unwrap();
        let audit = store.audit_after(0, 100).unwrap();
        assert_eq!(verify_chain(&audit), Ok(6), "{place:?}");
        assert_eq!(store.counts().unwrap().items, 6);
        store.close();
    }
}

#[test]
fn concurrent_writers_lose_nothing() {
    for place in places("concurrent") {
        concurrent(place.open());
    }
}

fn concurrent(store: Arc<dyn Store>) {
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for k in 0..50 {
                    store.write(publish(t * 1000 + k)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let counts = store.counts().unwrap();
    assert_eq!((counts.items, counts.audit), (400, 400));
    assert_eq!(verify_chain(&store.audit_after(0, 1000).unwrap()), Ok(400));
}

#[test]
fn the_world_version_moves_with_each_committed_world_change_only() {
    for place in places("world-version") {
        world_version(place.open());
    }
}

fn world_version(store: Arc<dyn Store>) {
    let rule = |to: &str| gsomia_store::ReleaseRule {
        id: 0,
        to: to.parse().unwrap(),
        topics: vec!["dprk-missile".parse().unwrap()],
        max_level: "II".parse().unwrap(),
        created_by: "park".into(),
        created: "2019-07-25T00:30:00Z".into(),
    };
    let add = |to: &str| Batch {
        writes: vec![Write::AddReleaseRule(rule(to))],
        audit: vec![draft("rule.add", to)],
    };
    assert_eq!(store.world_version().unwrap(), 0);
    store.write(add("JPN")).unwrap();
    assert_eq!(store.world_version().unwrap(), 1);
    // Not for what decides nothing: an item.
    store.write(publish(1)).unwrap();
    assert_eq!(store.world_version().unwrap(), 1);
    // Not for a refused batch: its change is undone, and so is the count.
    let mut refused = add("USA");
    refused.writes.push(Write::DisableUser("nobody".into()));
    store.write(refused).unwrap_err();
    assert_eq!(store.world_version().unwrap(), 1);
    assert_eq!(store.release_rules().unwrap().len(), 1);
    store.write(add("USA")).unwrap();
    assert_eq!(store.world_version().unwrap(), 2);
}

#[test]
fn p5_destroying_an_item_removes_its_key_and_content_once() {
    for place in places("destroy") {
        destroy(place.open());
    }
}

fn destroy(store: Arc<dyn Store>) {
    store.write(publish(1)).unwrap();
    let destroy = || Batch {
        writes: vec![Write::DestroyItem {
            id: item(1).id,
            modified: item(1).modified,
            at: "2020-01-01T00:00:00Z".into(),
        }],
        audit: vec![draft("item.destroy", &item(1).id)],
    };
    store.write(destroy()).unwrap();
    let got = store.item(&item(1).id, None).unwrap().unwrap();
    assert_eq!(
        (got.wrapped_key, got.content, got.destroyed.as_deref()),
        (None, None, Some("2020-01-01T00:00:00Z"))
    );
    assert!(matches!(
        store.write(destroy()),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn a_newer_schema_is_refused() {
    let path = temp_db("schema");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).err().unwrap();
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// The chain against a `Vec` of drafts: it verifies, reads back the same drafts, and any
    /// change to one entry's body is found at that entry.
    #[test]
    fn p7_audit_chain_matches_a_vec_and_finds_tampering(
        subjects in prop::collection::vec("[a-z]{1,6}", 1..40),
        victim in any::<prop::sample::Index>(),
    ) {
        let mut prev = gsomia_store::audit::GENESIS.to_owned();
        let mut chain = Vec::new();
        for (i, s) in subjects.iter().enumerate() {
            let e = AuditEntry::chain(i as u64 + 1, &prev, draft("x", s).body());
            prev = e.hash.clone();
            chain.push(e);
        }
        prop_assert_eq!(verify_chain(&chain), Ok(subjects.len() as u64));
        let read_back: Vec<String> = chain.iter().map(|e| e.parse().unwrap().subject).collect();
        prop_assert_eq!(&read_back, &subjects);
        let v = victim.index(chain.len());
        let mut tampered = chain.clone();
        tampered[v].body = tampered[v].body.replace("\"subject\":\"", "\"subject\":\"Z");
        prop_assert_eq!(verify_chain(&tampered), Err(v as u64 + 1));
        // Removing any entry but the last breaks the chain. (Cutting the tail is found by
        // signed checkpoints, which are issue 5's.)
        if v + 1 < chain.len() {
            let mut removed = chain.clone();
            removed.remove(v);
            prop_assert!(verify_chain(&removed).is_err());
        }
    }
}

/// Two stores on one database, each with its own writer (for SQLite: the shell's `gsomia user
/// add` beside a running `gsomia serve`; for PostgreSQL: two `gsomia serve` processes): one
/// writer at a time (SQLite's lock; PostgreSQL's advisory lock, the sequencer), each going on
/// from the stored head, so the chain and the tree stay one, gap-free, and every write lands.
#[test]
fn two_writers_on_one_database_keep_one_chain() {
    for place in places("two-writers") {
        let (a, b) = (place.open(), place.open());
        let threads: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .enumerate()
            .map(|(k, s)| {
                std::thread::spawn(move || {
                    for n in 0..60 {
                        s.write(publish(k * 1000 + n)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let entries = a.audit_after(0, 1_000).unwrap();
        assert_eq!(entries.len(), 120, "{place:?}");
        assert_eq!(verify_chain(&entries), Ok(120));
        assert_eq!(b.counts().unwrap().items, 120);
        // Both writers' Merkle hashes make one tree: its root over the stored hashes equals
        // the root recomputed from the entries.
        let mut tree = gsomia_log::Frontier::default();
        for e in &entries {
            tree.append(gsomia_log::leaf_hash(e.body.as_bytes()));
        }
        let stored = gsomia_log::Frontier::load(120, &gsomia_store::LogHashes(&*a)).unwrap();
        assert_eq!(stored.root(), tree.root(), "{place:?}");
        a.close();
        b.close();
        if let Place::Sqlite(path) = &place {
            let log = gsomia_store::verify::LogFile::open(path).unwrap();
            log.verify(|_| Err("no checkpoints here".into()), |_, _| {})
                .unwrap();
        }
    }
}

#[test]
fn a_newer_postgres_schema_is_refused() {
    let Some(url) = postgres_db("pg-schema") else {
        return;
    };
    drop(PostgresStore::open(&url).unwrap());
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute("UPDATE gsomia_schema SET version = 99")
        .unwrap();
    let err = PostgresStore::open(&url).err().unwrap();
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

/// Leases (issue 13): of the processes sharing a store, one delivers and checkpoints. On
/// PostgreSQL a lease held and not expired is refused to another holder, renewed by its own,
/// and moves once it expires; on SQLite (one server per file) every ask is granted.
#[test]
fn a_lease_has_one_holder_until_it_expires() {
    for place in places("lease") {
        let store = place.open();
        assert!(store.lease("delivery", "a", 60_000).unwrap());
        assert!(
            store.lease("delivery", "a", 300).unwrap(),
            "renewed by its holder"
        );
        match place {
            Place::Sqlite(_) => assert!(store.lease("delivery", "b", 300).unwrap()),
            Place::Postgres(_) => {
                assert!(!store.lease("delivery", "b", 60_000).unwrap(), "held by a");
                assert!(
                    store.lease("checkpoints", "b", 60_000).unwrap(),
                    "another lease"
                );
                std::thread::sleep(std::time::Duration::from_millis(400));
                assert!(
                    store.lease("delivery", "b", 60_000).unwrap(),
                    "expired: moves"
                );
                assert!(!store.lease("delivery", "a", 60_000).unwrap(), "a lost it");
                // Let go (a stopping process: 0 ms): another takes it at once; one who does not
                // hold it can not end it for its holder.
                store.lease("checkpoints", "a", 0).unwrap();
                assert!(
                    !store.lease("checkpoints", "a", 60_000).unwrap(),
                    "held by b"
                );
                store.lease("checkpoints", "b", 0).unwrap();
                assert!(
                    store.lease("checkpoints", "a", 60_000).unwrap(),
                    "let go: moves at once"
                );
            }
        }
        store.close();
    }
}

/// The WAL is copied into the database file while the store is open, by the checkpoint thread,
/// not by the writer's commits (whose own threshold, 256 MiB, is far above what this writes):
/// the file grows within a bounded wait, before any close.
#[test]
fn the_wal_is_checkpointed_beside_the_writer_while_the_store_is_open() {
    let path = temp_db("checkpointer");
    let store = gsomia_store::SqliteStore::open(&path).unwrap();
    let size = || std::fs::metadata(&path).unwrap().len();
    // Whatever opening checkpointed settles first.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let before = size();
    for n in 0..200 {
        store.write(publish(n)).unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while size() <= before && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        size() > before,
        "the database file stayed at {before} bytes: nothing was checkpointed while open"
    );
    store.close();
}
