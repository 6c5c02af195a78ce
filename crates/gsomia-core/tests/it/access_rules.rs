//! Reading what is held: M2 marking at the reader's party, P1 (clearance and need-to-know),
//! P2 (contractors), P3 (protection survives termination).

use gsomia_core::{Consent, Decision, Item, Rule, User, World, read};

use crate::fixtures::*;

fn decide(world: &World, item: &Item, user: &User, on: &str) -> String {
    match read(world, item, user, day(on)) {
        Decision::Allow(a) => format!(
            "allow {}:{}({})",
            a.marking.party, a.marking.level, a.marking.originator
        ),
        Decision::Deny(r) => format!("deny {}: {}", r.rule, r.message),
    }
}

#[test]
fn p1_allow_a_cleared_official_with_the_duty() {
    let sato = analyst(|_| {});
    assert_eq!(
        decide(&world(), &missile_report(), &sato, "2019-07-25"),
        "allow JPN:GOKUHI(KOR)"
    );
}

#[test]
fn p1_deny_clearance_below_the_local_level() {
    let low = analyst(|u| u["clearance"] = "HI".into());
    assert_eq!(
        decide(&world(), &missile_report(), &low, "2019-07-25"),
        "deny P1: sato's clearance `HI` is below the item's level"
    );
    // Equal rank through the other level of the cell is enough.
    let tokutei = analyst(|u| u["clearance"] = "TOKUTEI_HIMITSU".into());
    assert!(read(&world(), &missile_report(), &tokutei, day("2019-07-25")).is_allow());
}

#[test]
fn p1_deny_without_need_to_know_whatever_the_clearance_or_role() {
    let chief = analyst(|u| {
        u["clearance"] = "KIMITSU".into();
        u["roles"] = serde_json::json!(["authority", "security_officer", "admin"]);
        u["duties"] = serde_json::json!(["logistics"]);
    });
    assert_eq!(
        decide(&world(), &missile_report(), &chief, "2019-07-25"),
        "deny P1: none of sato's duties covers the item's purpose or topics: clearance alone \
         is not enough"
    );
    let by_topic = analyst(|u| u["duties"] = serde_json::json!(["dprk-missile"]));
    assert!(read(&world(), &missile_report(), &by_topic, day("2019-07-25")).is_allow());
}

#[test]
fn p2_contractors_need_the_originators_consent() {
    let contractor = analyst(|u| {
        u["kind"] = "contractor".into();
        u["facility"] = "mhi-kobe".into();
    });
    assert_eq!(
        decide(&world(), &missile_report(), &contractor, "2019-07-25"),
        "deny P2: sato is a contractor and KOR has not consented to release \
         `report--6b1c2f5e-3f0a-4d7e-9a1b-2c3d4e5f6a7b` to JPN's contractors"
    );
    let consent = Consent::from_json(
        r#"{"id": "c", "originator": "KOR", "item": "report--6b1c2f5e-3f0a-4d7e-9a1b-2c3d4e5f6a7b",
            "holder": "JPN", "to": "contractors", "purpose": "missile-warning",
            "given": "2019-07-25", "until": "2019-12-31"}"#,
    )
    .unwrap();
    let w = world_with(agreement(KOR_JPN), vec![consent]).with_facilities(vec![facility(&[])]);
    assert!(read(&w, &missile_report(), &contractor, day("2019-07-25")).is_allow());
    assert_eq!(
        read(&w, &missile_report(), &contractor, day("2020-01-01"))
            .refusal()
            .unwrap()
            .rule,
        Rule::P2
    );
    // A party's own contractors read its own items without consent.
    let kor_contractor = analyst(|u| {
        u["party"] = "KOR".into();
        u["clearance"] = "II".into();
        u["kind"] = "contractor".into();
    });
    assert!(
        read(
            &world(),
            &missile_report(),
            &kor_contractor,
            day("2019-07-25")
        )
        .is_allow()
    );
}

#[test]
fn p3_received_items_stay_readable_by_cleared_officials_after_termination() {
    let w = counterfactual();
    let held = held_by("JPN", "GOKUHI");
    let sato = analyst(|_| {});
    assert_eq!(
        decide(&w, &held, &sato, "2024-01-01"),
        "allow JPN:GOKUHI(KOR)"
    );
    // And still protected: no clearance, no read.
    let low = analyst(|u| u["clearance"] = "HI".into());
    assert_eq!(
        read(&w, &held, &low, day("2024-01-01"))
            .refusal()
            .unwrap()
            .rule,
        Rule::P1
    );
    // Without a marking, the item is marked under the terminated agreement all the same.
    assert_eq!(
        decide(&w, &missile_report(), &sato, "2024-01-01"),
        "allow JPN:GOKUHI(KOR)"
    );
}

#[test]
fn m2_deny_an_item_no_agreement_lets_the_readers_party_hold() {
    let top_secret = report(|v| v["label"]["level"] = "I".into());
    let chief = analyst(|u| u["clearance"] = "KIMITSU".into());
    assert_eq!(
        decide(&world(), &top_secret, &chief, "2019-07-25"),
        "deny M2: no agreement between KOR and JPN has an equivalent for the item's level: JPN \
         can not hold the item"
    );
    let usa_copy = held_by("USA", "SECRET");
    assert_eq!(
        read(&world(), &usa_copy, &analyst(|_| {}), day("2019-07-25"))
            .refusal()
            .unwrap()
            .rule,
        Rule::M2
    );
}

/// H8: a read refusal names the rule, never the item's level, topics or purpose (a codename
/// is a topic), for every reason a read is refused.
#[test]
fn h8_read_refusals_name_no_level_topic_or_purpose() {
    let item = missile_report();
    let readers = [
        analyst(|u| u["clearance"] = "HI".into()),
        analyst(|u| u["duties"] = serde_json::json!(["logistics"])),
        analyst(|u| u["kind"] = "contractor".into()),
    ];
    let label = item.label();
    for reader in &readers {
        let refusal = read(&world(), &item, reader, day("2019-07-25"))
            .refusal()
            .cloned()
            .unwrap();
        let said = &refusal.message;
        for secret in label.topics.iter().map(|t| t.as_str()).chain([
            label.purpose.as_str(),
            "GOKUHI",
            "`II`",
        ]) {
            assert!(!said.contains(secret), "{said} names `{secret}`");
        }
    }
}

/// JPN's contractor facility `mhi-kobe`, cleared GOKUHI, inspected on `inspections`.
fn facility(inspections: &[&str]) -> gsomia_core::Facility {
    let v = serde_json::json!({
        "id": "mhi-kobe", "name": "Kobe shipyard", "party": "JPN", "clearance": "GOKUHI",
        "responsible": "Tanaka", "inspections": inspections,
    });
    serde_json::from_value::<gsomia_core::Facility>(v)
        .unwrap()
        .check()
        .unwrap()
}

#[test]
fn c1_a_contractor_reads_a_partners_item_at_a_cleared_and_recently_inspected_facility() {
    let consent = Consent::from_json(
        r#"{"id": "c", "originator": "KOR", "item": "report--6b1c2f5e-3f0a-4d7e-9a1b-2c3d4e5f6a7b",
            "holder": "JPN", "to": "contractors", "purpose": "missile-warning",
            "given": "2019-07-25", "until": "2019-12-31"}"#,
    )
    .unwrap();
    let mut file: serde_json::Value = serde_json::from_str(KOR_JPN).unwrap();
    file["terms"]["inspection_days"] = 365.into();
    let w = |f: gsomia_core::Facility| {
        world_with(agreement(&file.to_string()), vec![consent.clone()]).with_facilities(vec![f])
    };
    let at = |facility: &str| {
        analyst(|u| {
            u["kind"] = "contractor".into();
            u["facility"] = facility.into();
        })
    };
    let report = missile_report();
    let ok = w(facility(&["2019-01-10"]));
    assert_eq!(
        decide(&ok, &report, &at("mhi-kobe"), "2019-07-25"),
        "allow JPN:GOKUHI(KOR)"
    );
    assert_eq!(
        decide(&ok, &report, &at("elsewhere"), "2019-07-25"),
        "deny C1: sato is a contractor of no facility registered at JPN"
    );
    assert_eq!(
        decide(&w(facility(&[])), &report, &at("mhi-kobe"), "2019-07-25"),
        "deny C1: facility `mhi-kobe` was inspected never: the agreement allows at most 365 days"
    );
    assert_eq!(
        decide(
            &w(facility(&["2018-06-01"])),
            &report,
            &at("mhi-kobe"),
            "2019-07-25"
        ),
        "deny C1: facility `mhi-kobe` was inspected last on 2018-06-01: the agreement allows at \
         most 365 days"
    );
    let low = serde_json::from_value::<gsomia_core::Facility>(serde_json::json!({
        "id": "mhi-kobe", "name": "Kobe", "party": "JPN", "clearance": "HI",
        "responsible": "Tanaka", "inspections": ["2019-01-10"],
    }))
    .unwrap();
    assert_eq!(
        decide(&w(low), &report, &at("mhi-kobe"), "2019-07-25"),
        "deny C1: facility `mhi-kobe` is cleared to `HI`, below the item's level `GOKUHI`"
    );
    // Inspections out of order, or no responsible person: the facility is refused.
    let bad = |edit: fn(&mut serde_json::Value)| {
        let mut v = serde_json::json!({
            "id": "f", "name": "n", "party": "JPN", "clearance": "HI", "responsible": "r",
            "inspections": ["2019-01-10", "2018-01-10"],
        });
        edit(&mut v);
        serde_json::from_value::<gsomia_core::Facility>(v)
            .unwrap()
            .check()
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        bad(|_| {}),
        "inspections: `2019-01-10` is after `2018-01-10`"
    );
    assert_eq!(
        bad(|v| {
            v["inspections"] = serde_json::json!([]);
            v["responsible"] = " ".into();
        }),
        "responsible: a facility names the person responsible"
    );
}
