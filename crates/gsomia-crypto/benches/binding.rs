//! Binding sign and verify against raw Ed25519 over a message of the same length, in one run.
//! The figure to report is the ratio binding / raw (issue target ≥ 0.8 for small items).
//!
//! cargo bench -p gsomia-crypto --bench binding

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // Tests and benchmarks fail loudly.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey};
use gsomia_core::Item;
use gsomia_crypto::{sign_binding, verify_binding};

const REPORT: &str = include_str!("../../../examples/model-case/items/kor-missile-report.json");

fn benches(c: &mut Criterion) {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let public = key.verifying_key();
    let item = Item::from_json(REPORT).unwrap();
    let binding = sign_binding(&key, item.label(), item.object()).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(REPORT).unwrap();
    v["binding"] = binding.to_base64().into();
    let bound = Item::from_json(&v.to_string()).unwrap();
    let msg = gsomia_crypto::binding::message(item.label(), item.object()).unwrap();
    let raw = key.sign(&msg);

    let mut g = c.benchmark_group(format!(
        "ed25519 ({}-byte message, model-case item)",
        msg.len()
    ));
    g.bench_function("raw sign", |b| b.iter(|| key.sign(black_box(&msg))));
    g.bench_function("binding sign", |b| {
        b.iter(|| sign_binding(&key, black_box(item.label()), black_box(item.object())).unwrap())
    });
    g.bench_function("raw verify_strict", |b| {
        b.iter(|| {
            public
                .verify_strict(black_box(&msg), black_box(&raw))
                .unwrap()
        })
    });
    g.bench_function("binding verify", |b| {
        b.iter(|| verify_binding(&public, black_box(&bound)).unwrap())
    });
    g.bench_function("canonical message only", |b| {
        b.iter(|| {
            gsomia_crypto::binding::message(black_box(item.label()), black_box(item.object()))
                .unwrap()
        })
    });
    g.bench_function("canonical object (gsomia)", |b| {
        b.iter(|| gsomia_crypto::canonical::to_vec(black_box(item.object())))
    });
    g.bench_function("canonical object (serde_jcs)", |b| {
        b.iter(|| serde_jcs::to_vec(black_box(item.object())).unwrap())
    });
    g.finish();
}

criterion_group!(binding, benches);
criterion_main!(binding);
