//! The Merkle log's own costs: appends, and proof generation and checking in a tree of
//! 10,000,000 entries (issue 5's target: ≤ 20 µs median per proof). The stored hashes are in a
//! `Vec` here, so this measures the proof code; the store's figure is in BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use gsomia_log::{
    ConsistencyProof, Frontier, Hash, HashReader, InclusionProof, ReaderError, leaf_hash,
};
use std::hint::black_box;

struct MemLog {
    frontier: Frontier,
    stored: Vec<Hash>,
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

fn entry(i: u64) -> Vec<u8> {
    format!(
        r#"{{"action":"item.read","actor":"analyst-{}","seq":{i}}}"#,
        i % 97
    )
    .into_bytes()
}

fn build(n: u64) -> MemLog {
    let mut log = MemLog {
        frontier: Frontier::new(),
        stored: Vec::with_capacity(2 * n as usize),
    };
    for i in 0..n {
        for (_, h) in log.frontier.append(leaf_hash(&entry(i))) {
            log.stored.push(h);
        }
    }
    log
}

fn size() -> u64 {
    std::env::var("GSOMIA_LOG_BENCH_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000)
}

fn benches(c: &mut Criterion) {
    let n = size();
    let log = build(n);
    let root = log.frontier.root();
    let mut g = c.benchmark_group(format!("log of {n} entries"));
    let mut i = 0u64;
    g.bench_function("inclusion proof", |b| {
        b.iter(|| {
            i = (i + 7_919_993) % n;
            black_box(InclusionProof::make(i, n, &log).unwrap())
        })
    });
    let mut m = 0u64;
    g.bench_function("consistency proof", |b| {
        b.iter(|| {
            m = (m + 7_919_993) % (n - 1) + 1;
            black_box(ConsistencyProof::make(m, n, &log).unwrap())
        })
    });
    let proof = InclusionProof::make(n / 3, n, &log).unwrap();
    let leaf = leaf_hash(&entry(n / 3));
    g.bench_function("inclusion proof check", |b| {
        b.iter(|| proof.verify(black_box(&root), &leaf).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("append");
    let leaf = leaf_hash(&entry(1));
    let mut frontier = Frontier::new();
    for _ in 0..1_000_003 {
        frontier.append(leaf);
    }
    g.bench_function("append one leaf hash (frontier of ~1M)", |b| {
        b.iter(|| black_box(frontier.append(black_box(leaf))))
    });
    let body = entry(123);
    g.bench_function("leaf hash of a 60-byte entry", |b| {
        b.iter(|| black_box(leaf_hash(black_box(&body))))
    });
    g.finish();
}

criterion_group!(log, benches);
criterion_main!(log);
