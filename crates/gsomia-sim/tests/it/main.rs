//! A few seeds of the simulation, as CI runs them (`cargo xtask simulate` runs more and longer):
//! every invariant holds, and the run exercised what it claims to (items crossed, faults were
//! injected, nodes restarted).

#![allow(clippy::unwrap_used, missing_docs)]

#[test]
fn three_seeds_keep_every_invariant() {
    let mut refused = 0;
    for seed in [1, 2, 3] {
        let report = gsomia_sim::run(gsomia_sim::World::ModelCase, seed, 400)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(report.steps, 400);
        assert!(report.published > 50, "seed {seed}: {report:?}");
        assert!(
            report.received > 10,
            "seed {seed}: items crossed: {report:?}"
        );
        assert!(
            report.faults > 10 && report.restarts > 3,
            "seed {seed}: {report:?}"
        );
        assert!(
            report.checkpoints > 2 && report.cosigned > 0,
            "seed {seed}: checkpoints were witnessed through the faulty network: {report:?}"
        );
        assert!(
            report.reclassified > 0,
            "seed {seed}: notices crossed: {report:?}"
        );
        refused += report.refused;
    }
    assert!(
        refused > 0,
        "the KOR–JPN GSOMIA ended within a run and releases under it stopped"
    );
}

#[test]
fn five_parties_with_a_hostile_member_keep_every_invariant() {
    let mut tampered = 0;
    for seed in [4, 5] {
        let report = gsomia_sim::run(gsomia_sim::World::Five, seed, 4000)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(
            report.published > 50 && report.received > 10,
            "seed {seed}: {report:?}"
        );
        tampered += report.tampered;
        assert!(
            report.refused > 0,
            "seed {seed}: releases between GBR and KOR, which have no agreement, were refused: \
             {report:?}"
        );
    }
    assert!(tampered > 5, "GBR rewrote what it sent {tampered} times");
}

#[test]
fn the_same_seed_runs_the_same_way() {
    let a = gsomia_sim::run(gsomia_sim::World::ModelCase, 7, 150).unwrap();
    let b = gsomia_sim::run(gsomia_sim::World::ModelCase, 7, 150).unwrap();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}
