//! The Merkle log as the store keeps it: every committed audit entry is a leaf, refused
//! batches leave no hashes behind, a database without the tree gets one on opening, and what
//! the log module proves from stored hashes verifies.

use std::sync::Arc;

use gsomia_log::{ConsistencyProof, Frontier, InclusionProof, leaf_hash};
use gsomia_store::{LogHashes, SqliteStore, Store, Write};

use crate::{publish, temp_db};

/// The root of the tree over the stored audit bodies, computed from scratch.
fn fresh_root(store: &SqliteStore) -> (u64, gsomia_log::Hash) {
    let mut tree = Frontier::new();
    for e in store.audit_after(0, 1_000_000).unwrap() {
        tree.append(leaf_hash(e.body.as_bytes()));
    }
    (tree.size(), tree.root())
}

/// The root of the tree of `size` leaves, from the stored hashes.
fn stored_root(store: &SqliteStore, size: u64) -> gsomia_log::Hash {
    Frontier::load(size, &LogHashes(store)).unwrap().root()
}

#[test]
fn every_committed_entry_is_a_leaf_and_refused_batches_leave_no_hashes() {
    let store = Arc::new(SqliteStore::open(temp_db("merkle-refused")).unwrap());
    store.write(publish(1)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for n in 10..70 {
        let tx = tx.clone();
        let batch = if n % 4 == 0 { publish(1) } else { publish(n) };
        store.submit(batch, Box::new(move |r| tx.send(r.is_ok()).unwrap()));
    }
    drop(tx);
    assert_eq!(rx.iter().filter(|ok| *ok).count(), 45);
    let size = store.log_size().unwrap();
    assert_eq!(size, 46);
    let (fresh_size, root) = fresh_root(&store);
    assert_eq!(fresh_size, size);
    assert_eq!(stored_root(&store, size), root);
    let entries = store.audit_after(0, 100).unwrap();
    for e in &entries {
        let p = InclusionProof::make(e.seq - 1, size, &LogHashes(&*store)).unwrap();
        p.verify(&root, &leaf_hash(e.body.as_bytes())).unwrap();
    }
    for old in 1..size {
        let p = ConsistencyProof::make(old, size, &LogHashes(&*store)).unwrap();
        p.verify(&stored_root(&store, old), &root).unwrap();
    }
}

#[test]
fn a_database_without_the_tree_gets_it_on_opening() {
    let path = temp_db("merkle-catch-up");
    let root = {
        let store = SqliteStore::open(&path).unwrap();
        for n in 0..37 {
            store.write(publish(n)).unwrap();
        }
        fresh_root(&store).1
    };
    // As a database from before the Merkle log: no stored hashes.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("DELETE FROM merkle WHERE idx >= 20", [])
        .unwrap();
    drop(conn);
    // 20 stored hashes are not the hashes of any tree: the store says so, it does not guess.
    let err = SqliteStore::open(&path).err().unwrap().to_string();
    assert!(
        err.contains("20 stored Merkle hashes make no tree"),
        "{err}"
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("DELETE FROM merkle", []).unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(stored_root(&store, 37), root);
    store.write(publish(37)).unwrap();
    assert_eq!(stored_root(&store, 38), fresh_root(&store).1);
}

#[test]
fn entries_are_found_by_subject_up_to_a_size() {
    let store = SqliteStore::open(temp_db("merkle-subject")).unwrap();
    for n in 0..5 {
        store.write(publish(n)).unwrap();
    }
    store.write(publish(1)).unwrap_err();
    let id = crate::item(2).id;
    let found = store.audit_about(&id, 5).unwrap();
    assert_eq!(found.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3]);
    assert!(store.audit_about(&id, 2).unwrap().is_empty());
    assert!(store.audit_about("nothing", 5).unwrap().is_empty());
}

#[test]
fn checkpoints_witnesses_cosignatures_and_evidence_are_kept() {
    let store = SqliteStore::open(temp_db("merkle-checkpoints")).unwrap();
    let at = "2026-11-29T00:00:00Z".to_owned();
    let jpn: gsomia_core::PartyCode = "JPN".parse().unwrap();
    let evidence = gsomia_store::Evidence {
        party: "USA".parse().unwrap(),
        held: "u4".into(),
        shown: "u9".into(),
        proof: gsomia_log::ConsistencyProof {
            old: 4,
            new: 9,
            hashes: vec![],
        },
        found: at.clone(),
        message: "fork".into(),
    };
    let writes = vec![
        Write::PutCheckpoint {
            size: 3,
            note: "three".into(),
            at: at.clone(),
        },
        Write::PutCheckpoint {
            size: 9,
            note: "nine".into(),
            at: at.clone(),
        },
        Write::PutCosignature {
            size: 9,
            witness: jpn,
            line: "— JPN x\n".into(),
        },
        Write::PutWitnessed {
            party: jpn,
            size: 4,
            note: "j4".into(),
            at: at.clone(),
        },
        Write::PutWitnessed {
            party: jpn,
            size: 8,
            note: "j8".into(),
            at: at.clone(),
        },
        Write::AddEvidence(Box::new(evidence.clone())),
    ];
    store
        .write(gsomia_store::Batch {
            writes,
            audit: vec![],
        })
        .unwrap();
    assert_eq!(store.checkpoint_latest().unwrap(), Some((9, "nine".into())));
    assert_eq!(store.checkpoint(3).unwrap().as_deref(), Some("three"));
    assert_eq!(store.checkpoint(4).unwrap(), None);
    assert_eq!(
        store.cosignatures(9).unwrap(),
        vec![(jpn, "— JPN x\n".to_owned())]
    );
    assert_eq!(store.witnessed_latest(jpn).unwrap(), Some((8, "j8".into())));
    assert_eq!(
        store.witnessed_latest("USA".parse().unwrap()).unwrap(),
        None
    );
    assert_eq!(store.evidence().unwrap(), vec![evidence]);
}

mod tampering {
    //! `verify` on logs changed behind the node's back: each change is found, and the first
    //! entry it touches is named.

    use std::path::{Path, PathBuf};

    use ed25519_dalek::SigningKey;
    use gsomia_log::{Frontier, LogKey, SignedCheckpoint};
    use gsomia_store::verify::{LogFile, Tampered};
    use gsomia_store::{LogHashes, SqliteStore, Store, Write};

    use crate::{publish, temp_db};

    fn key() -> LogKey {
        LogKey::new("gsomia/KOR", SigningKey::from_bytes(&[5; 32]))
    }

    /// A log of 30 entries with a checkpoint at 20 and one at 30.
    fn log(name: &str) -> PathBuf {
        let path = temp_db(name);
        let store = SqliteStore::open(&path).unwrap();
        for n in 0..30 {
            store.write(publish(n)).unwrap();
            if n == 19 || n == 29 {
                let size = store.log_size().unwrap();
                let root = Frontier::load(size, &LogHashes(&store)).unwrap().root();
                let note = SignedCheckpoint::sign(&key(), size, root).note(&[]);
                let at = String::new();
                store
                    .write(gsomia_store::Batch {
                        writes: vec![Write::PutCheckpoint { size, note, at }],
                        audit: vec![],
                    })
                    .unwrap();
            }
        }
        path
    }

    fn verify(path: &Path) -> Result<(u64, u64), Tampered> {
        let verifier = key().verifier();
        let open = |note: &str| {
            SignedCheckpoint::open(note, &verifier)
                .map(|c| (c.size, c.root))
                .map_err(|e| e.to_string())
        };
        let mut calls = 0;
        let v = LogFile::open(path)?.verify(open, |_, _| calls += 1)?;
        assert!(calls >= 1, "progress is reported");
        Ok((v.entries, v.checkpoints))
    }

    fn sql(path: &Path, statements: &str) {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch(statements).unwrap();
    }

    /// Rewrites entry `seq`'s body and re-chains every entry after it, as a careful forger would.
    fn rewrite_and_rechain(path: &Path, seq: i64) {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute(
            "UPDATE audit SET body = replace(body, '\"kim\"', '\"lee\"') WHERE seq = ?1",
            [seq],
        )
        .unwrap();
        let mut prev: String = conn
            .query_row("SELECT hash FROM audit WHERE seq = ?1", [seq - 1], |r| {
                r.get(0)
            })
            .unwrap();
        let rows: Vec<(i64, String)> = conn
            .prepare("SELECT seq, body FROM audit WHERE seq >= ?1 ORDER BY seq")
            .unwrap()
            .query_map([seq], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (s, body) in rows {
            let hash = gsomia_store::audit::link(s as u64, &prev, &body);
            conn.execute(
                "UPDATE audit SET hash = ?1 WHERE seq = ?2",
                rusqlite::params![hash, s],
            )
            .unwrap();
            prev = hash;
        }
    }

    #[test]
    fn an_untouched_log_verifies() {
        let path = log("verify-ok");
        assert_eq!(verify(&path), Ok((30, 2)));
    }

    #[test]
    fn a_changed_byte_a_deleted_entry_and_two_swapped_entries_are_named() {
        let path = log("verify-byte");
        sql(
            &path,
            "UPDATE audit SET body = replace(body, '\"kim\"', '\"kin\"') WHERE seq = 7",
        );
        assert_eq!(verify(&path), Err(Tampered::Chain(7)));

        let path = log("verify-delete");
        sql(&path, "DELETE FROM audit WHERE seq = 12");
        assert_eq!(
            verify(&path),
            Err(Tampered::Missing {
                expected: 12,
                found: 13
            })
        );

        let path = log("verify-swap");
        sql(
            &path,
            "UPDATE audit SET seq = -5 WHERE seq = 5; UPDATE audit SET seq = 5 WHERE seq = 6;
             UPDATE audit SET seq = 6 WHERE seq = -5;",
        );
        assert_eq!(verify(&path), Err(Tampered::Chain(5)));

        let path = log("verify-tail");
        sql(&path, "DELETE FROM audit WHERE seq > 27");
        assert_eq!(verify(&path), Err(Tampered::Truncated(27)));
    }

    #[test]
    fn a_forger_who_rechains_is_caught_by_the_tree_and_one_who_rebuilds_the_tree_by_the_checkpoints()
     {
        let path = log("verify-rechain");
        rewrite_and_rechain(&path, 9);
        assert_eq!(verify(&path), Err(Tampered::Tree(9)));

        // Rebuilding the tree too (the store rebuilds a missing tree on opening): the signed
        // checkpoints no longer match.
        sql(&path, "DELETE FROM merkle");
        drop(SqliteStore::open(&path).unwrap());
        assert_eq!(verify(&path), Err(Tampered::Checkpoint(20)));

        // Cutting off the end and its tree: the last checkpoint covers entries that are gone.
        let path = log("verify-cut");
        sql(
            &path,
            "DELETE FROM audit WHERE seq > 25; DELETE FROM merkle",
        );
        drop(SqliteStore::open(&path).unwrap());
        assert_eq!(
            verify(&path),
            Err(Tampered::Shortened {
                checkpoint: 30,
                entries: 25
            })
        );
        // A checkpoint that is not the node's own signature is named too.
        let path = log("verify-forged-checkpoint");
        sql(
            &path,
            "UPDATE checkpoints SET note = replace(note, 'gsomia/KOR\n', 'gsomia/KOR\n\n') WHERE size = 20",
        );
        assert!(matches!(
            verify(&path),
            Err(Tampered::BadCheckpoint { size: 20, .. })
        ));
    }
}
