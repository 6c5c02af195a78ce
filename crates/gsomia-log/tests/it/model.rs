//! The log against an obviously correct model: a `Vec` of entries and RFC 9162's recursive
//! definition of the tree hash, computed from scratch every time.

use gsomia_log::{
    ConsistencyProof, Frontier, Hash, HashReader, InclusionProof, LogError, MemTree, ReaderError,
    leaf_hash,
};
use proptest::prelude::*;
use sha2_model::mth;

/// A log whose stored hashes live in a `Vec`, indexed by stored hash index.
#[derive(Default)]
pub struct MemLog {
    pub frontier: Frontier,
    pub stored: Vec<Hash>,
}

impl MemLog {
    pub fn append(&mut self, entry: &[u8]) {
        for (at, h) in self.frontier.append(leaf_hash(entry)) {
            assert_eq!(
                at,
                self.stored.len() as u64,
                "stored hashes are consecutive"
            );
            self.stored.push(h);
        }
    }
}

impl HashReader for MemLog {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, ReaderError> {
        indexes
            .iter()
            .map(|&i| {
                self.stored
                    .get(i as usize)
                    .copied()
                    .ok_or(ReaderError::IndexesNotInTree)
            })
            .collect()
    }
}

/// RFC 9162 §2.1.1, literally.
mod sha2_model {
    use gsomia_log::Hash;

    fn node(l: &Hash, r: &Hash) -> Hash {
        gsomia_log::tree::node_hash(*l, *r)
    }

    pub fn mth(entries: &[Vec<u8>]) -> Hash {
        match entries.len() {
            0 => gsomia_log::EMPTY_HASH,
            1 => gsomia_log::leaf_hash(&entries[0]),
            n => {
                let k = n.next_power_of_two() / 2;
                let k = if k == n { n / 2 } else { k };
                node(&mth(&entries[..k]), &mth(&entries[k..]))
            }
        }
    }
}

fn entries(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("entry {i}").into_bytes()).collect()
}

#[test]
fn a_tree_held_in_memory_has_the_model_root_and_proves_each_leaf_only() {
    for n in 1..=70usize {
        let all = entries(n);
        let tree = MemTree::of(all.iter().map(|e| leaf_hash(e)));
        assert_eq!(tree.size(), n as u64);
        assert_eq!(tree.root(), mth(&all), "root of size {n}");
        for (i, e) in all.iter().enumerate() {
            let proof = tree.prove(i as u64).unwrap();
            proof.verify(&mth(&all), &leaf_hash(e)).unwrap();
            // Not another leaf at this place, nor this leaf at another.
            assert!(proof.verify(&mth(&all), &leaf_hash(b"other")).is_err());
            if n > 1 {
                let moved = InclusionProof {
                    index: (proof.index + 1) % n as u64,
                    ..proof.clone()
                };
                assert!(moved.verify(&mth(&all), &leaf_hash(e)).is_err(), "{n} {i}");
            }
        }
        assert!(tree.prove(n as u64).is_err());
    }
}

#[test]
fn every_inclusion_and_consistency_proof_up_to_size_300_verifies() {
    let all = entries(300);
    let mut log = MemLog::default();
    let mut roots = vec![gsomia_log::EMPTY_HASH];
    for e in &all {
        log.append(e);
        roots.push(log.frontier.root());
    }
    for n in 1..=300u64 {
        assert_eq!(
            roots[n as usize],
            mth(&all[..n as usize]),
            "root of size {n}"
        );
        for i in 0..n {
            let p = InclusionProof::make(i, n, &log).unwrap();
            p.verify(&roots[n as usize], &leaf_hash(&all[i as usize]))
                .unwrap();
            // The same proof does not prove another entry or another position.
            let other = leaf_hash(b"not an entry");
            assert_eq!(
                p.verify(&roots[n as usize], &other),
                Err(LogError::BadProof)
            );
        }
        for m in 0..=n {
            let p = ConsistencyProof::make(m, n, &log).unwrap();
            p.verify(&roots[m as usize], &roots[n as usize]).unwrap();
        }
    }
}

#[test]
fn out_of_range_requests_are_errors_not_panics() {
    let mut log = MemLog::default();
    for e in entries(10) {
        log.append(&e);
    }
    assert!(matches!(
        InclusionProof::make(10, 10, &log),
        Err(LogError::Range(_))
    ));
    assert!(matches!(
        ConsistencyProof::make(7, 3, &log),
        Err(LogError::Range(_))
    ));
    // Asking for a tree larger than what is stored reads hashes that are not there.
    assert!(matches!(
        InclusionProof::make(3, 64, &log),
        Err(LogError::Tree(_))
    ));
    // A proof claiming an impossible position is refused before the proof code runs.
    let bad = InclusionProof {
        index: 12,
        size: 10,
        hashes: vec![],
    };
    assert_eq!(
        bad.verify(&log.frontier.root(), &leaf_hash(b"x")),
        Err(LogError::BadProof)
    );
    let bad = ConsistencyProof {
        old: 9,
        new: 4,
        hashes: vec![],
    };
    assert_eq!(
        bad.verify(&log.frontier.root(), &log.frontier.root()),
        Err(LogError::BadProof)
    );
}

#[test]
fn proofs_round_trip_through_json_and_reject_bad_hashes() {
    let mut log = MemLog::default();
    for e in entries(13) {
        log.append(&e);
    }
    let p = InclusionProof::make(4, 13, &log).unwrap();
    let text = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<InclusionProof>(&text).unwrap(), p);
    let err = serde_json::from_str::<InclusionProof>(r#"{"index":1,"size":2,"hashes":["AAAA"]}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`AAAA` is not a base64 SHA-256 hash"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::model::cases(256)))]

    /// Appends random entries; after every append the root equals the model's, a random
    /// entry's proof verifies, a proof with one bit flipped does not, and the tree is
    /// consistent with every earlier size and not with a wrong earlier root.
    #[test]
    fn the_log_behaves_like_a_vec(
        batch in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..120),
        picks in proptest::collection::vec((any::<u64>(), any::<u64>(), any::<u8>()), 120),
    ) {
        let mut log = MemLog::default();
        let mut model: Vec<Vec<u8>> = Vec::new();
        let mut roots = vec![gsomia_log::EMPTY_HASH];
        for (e, (a, b, bit)) in batch.iter().zip(picks) {
            log.append(e);
            model.push(e.clone());
            let n = model.len() as u64;
            let root = log.frontier.root();
            prop_assert_eq!(root, mth(&model));
            roots.push(root);

            let i = a % n;
            let mut p = InclusionProof::make(i, n, &log).unwrap();
            prop_assert!(p.verify(&root, &leaf_hash(&model[i as usize])).is_ok());
            if let Some(h) = p.hashes.first_mut() {
                h.0[(bit % 32) as usize] ^= 1 << (bit % 8);
                prop_assert!(p.verify(&root, &leaf_hash(&model[i as usize])).is_err());
            }

            let m = b % (n + 1);
            let c = ConsistencyProof::make(m, n, &log).unwrap();
            prop_assert!(c.verify(&roots[m as usize], &root).is_ok());
            if m > 0 && m < n {
                let wrong = leaf_hash(b"rewritten history");
                prop_assert!(c.verify(&wrong, &root).is_err());
            }
        }
    }
}

/// Property-test cases, scaled by `GSOMIA_PROPTEST_SCALE`.
pub fn cases(base: u32) -> u32 {
    let scale = std::env::var("GSOMIA_PROPTEST_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1u32);
    base * scale
}

#[test]
fn appends_store_exactly_what_tlog_tiles_would() {
    let mut log = MemLog::default();
    for n in 0..1100u64 {
        let entry = format!("entry {n}").into_bytes();
        let expected = tlog_tiles::stored_hashes(n, &entry, &log).unwrap();
        let first = tlog_tiles::stored_hash_index(0, n);
        let got = log.frontier.append(leaf_hash(&entry));
        assert_eq!(got, (first..).zip(expected).collect::<Vec<_>>(), "leaf {n}");
        for (_, h) in got {
            log.stored.push(h);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::model::cases(32)))]

    /// Trees of random sizes up to 20,000: proofs for random positions and earlier sizes
    /// verify against the model's roots.
    #[test]
    fn proofs_verify_in_trees_of_random_larger_sizes(
        size in 300u64..20_000,
        picks in proptest::collection::vec((any::<u64>(), any::<u64>()), 20),
    ) {
        let all = entries(size as usize);
        let mut log = MemLog::default();
        for e in &all {
            log.append(e);
        }
        let root = log.frontier.root();
        prop_assert_eq!(root, mth(&all));
        for (a, b) in picks {
            let i = a % size;
            let p = InclusionProof::make(i, size, &log).unwrap();
            prop_assert!(p.verify(&root, &leaf_hash(&all[i as usize])).is_ok());
            let m = b % size + 1;
            let c = ConsistencyProof::make(m, size, &log).unwrap();
            prop_assert!(c.verify(&mth(&all[..m as usize]), &root).is_ok());
        }
    }
}
