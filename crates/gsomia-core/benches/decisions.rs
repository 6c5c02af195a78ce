//! Decision benchmarks (issue targets: read ≤ 100 ns; release ≤ 1 µs in a world of 50 parties
//! and 500 agreements; `state_at` ≤ 200 ns with 20 events).
//!
//! cargo bench -p gsomia-core --bench decisions

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // Tests and benchmarks fail loudly.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gsomia_core::{Agreement, Date, Item, Scheme, User, World, read, release};
use serde_json::json;

const M: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/model-case");

fn file(path: &str) -> String {
    std::fs::read_to_string(format!("{M}/{path}")).unwrap()
}

fn day(s: &str) -> Date {
    s.parse().unwrap()
}

fn party(i: usize) -> String {
    format!("P{i:02}")
}

/// An agreement between `a` and `b` whose history has 20 events: two signatures, then six
/// rounds of notice, suspension and withdrawal.
fn agreement(id: usize, a: &str, b: &str) -> Agreement {
    let mut events = vec![
        json!({"type": "signed", "by": a, "on": "2000-01-10"}),
        json!({"type": "signed", "by": b, "on": "2000-01-15"}),
    ];
    let mut on = day("2001-02-01");
    for _ in 0..6 {
        for kind in ["notice", "suspend", "withdraw"] {
            events.push(json!({"type": kind, "by": a, "on": on}));
            on = on.add_days(30);
        }
        on = on.add_days(200);
    }
    let rows: Vec<_> = (0..3)
        .map(|l| json!({"common": format!("C{l}"), "levels": {a: [format!("L{l}")], b: [format!("L{l}")]}}))
        .collect();
    let a = json!({"id": format!("a{id:03}"), "title": "t", "parties": [a, b], "equivalence": rows,
                   "terms": {"initial_years": 1, "notice_days": 90}, "events": events});
    Agreement::from_json(&a.to_string()).unwrap()
}

fn big_world() -> World {
    let schemes = (0..50)
        .map(|i| {
            let levels: Vec<_> = (0..3)
                .map(|l| json!({"id": format!("L{l}"), "name": "n", "rank": l + 1}))
                .collect();
            Scheme::from_json(
                &json!({"party": party(i), "name": "p", "levels": levels}).to_string(),
            )
            .unwrap()
        })
        .collect();
    // 500 agreements: each party with ten partners, and pair (P00, P01) with two agreements.
    let mut agreements = Vec::new();
    for i in 0..50 {
        for k in 1..=10 {
            let j = (i + k * 3) % 50;
            if agreements.len() < 500 && i != j {
                agreements.push(agreement(agreements.len(), &party(i), &party(j)));
            }
        }
    }
    World::new(schemes, agreements, vec![]).unwrap()
}

fn item(originator: &str, level: &str) -> Item {
    let v = json!({
        "label": {"originator": originator, "level": level, "topics": ["t"], "purpose": "p",
                  "caveats": [], "created": "2020-01-01T00:00:00Z"},
        "object": {"type": "report", "spec_version": "2.1", "id": "report--00000000-0000-4000-8000-000000000000"},
    });
    Item::from_json(&v.to_string()).unwrap()
}

fn benches(c: &mut Criterion) {
    // read: the model case, Japan's analyst and the missile report as Japan holds it.
    let schemes = ["JPN", "KOR", "USA"]
        .map(|p| Scheme::from_json(&file(&format!("schemes/{p}.json"))).unwrap());
    let agreements = ["kor-jpn-gsomia", "tisa", "usa-jpn-gsomia", "usa-kor-gsomia"]
        .map(|a| Agreement::from_json(&file(&format!("agreements/{a}.json"))).unwrap());
    let model = World::new(schemes.to_vec(), agreements.to_vec(), vec![]).unwrap();
    let mut report: serde_json::Value =
        serde_json::from_str(&file("items/kor-missile-report.json")).unwrap();
    report["marking"] = json!({"party": "JPN", "level": "GOKUHI", "originator": "KOR"});
    let held = Item::from_json(&report.to_string()).unwrap();
    let sato = User::from_json(&file("users/jpn-analyst.json")).unwrap();
    let at = day("2020-06-01");
    assert!(read(&model, &held, &sato, at).is_allow());
    c.bench_function("read (model case, allow)", |b| {
        b.iter(|| {
            read(
                black_box(&model),
                black_box(&held),
                black_box(&sato),
                black_box(at),
            )
        })
    });

    // release: 50 parties, 500 agreements of 20 events each.
    let world = big_world();
    let from_p00 = item("P00", "L1");
    let to = "P03".parse().unwrap();
    let during = day("2003-06-01");
    assert!(release(&world, &from_p00, to, during).is_allow());
    c.bench_function("release (50 parties, 500 agreements, allow)", |b| {
        b.iter(|| {
            release(
                black_box(&world),
                black_box(&from_p00),
                black_box(to),
                black_box(during),
            )
        })
    });
    let no_agreement = "P01".parse().unwrap();
    c.bench_function("release (50 parties, 500 agreements, deny R1)", |b| {
        b.iter(|| {
            release(
                black_box(&world),
                black_box(&from_p00),
                black_box(no_agreement),
                black_box(during),
            )
        })
    });

    // state_at with 20 events.
    let a = &world.agreements()[0];
    assert_eq!(a.events().len(), 20);
    c.bench_function("state_at (20 events)", |b| {
        b.iter(|| a.state_at(black_box(during)))
    });
}

criterion_group!(decisions, benches);
criterion_main!(decisions);
