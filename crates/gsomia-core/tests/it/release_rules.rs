//! Release to another party, R1–R5, each allowed and refused, on the model case (SPEC §9).

use gsomia_core::{Decision, Item, Rule, World, release};

use crate::fixtures::*;

/// "allow AGREEMENT PARTY:LEVEL(ORIGINATOR)" or "deny RULE: message".
fn decide(world: &World, item: &Item, to: &str, on: &str) -> String {
    match release(world, item, to.parse().unwrap(), day(on)) {
        Decision::Allow(r) => format!(
            "allow {} {}:{}({})",
            r.agreement.id(),
            r.marking.party,
            r.marking.level,
            r.marking.originator
        ),
        Decision::Deny(r) => format!("deny {}: {}", r.rule, r.message),
    }
}

fn rule(world: &World, item: &Item, to: &str, on: &str) -> Option<Rule> {
    release(world, item, to.parse().unwrap(), day(on))
        .refusal()
        .map(|r| r.rule)
}

#[test]
fn r1_allow_under_the_gsomia_in_force_and_mark_with_the_first_level_of_the_cell() {
    assert_eq!(
        decide(&world(), &missile_report(), "JPN", "2019-07-25"),
        "allow kor-jpn-gsomia JPN:GOKUHI(KOR)"
    );
}

#[test]
fn r1_allow_while_notice_given_and_while_suspended() {
    let w = world();
    for d in ["2019-08-23", "2019-11-22", "2020-06-01", "2023-03-21"] {
        assert!(
            release(&w, &missile_report(), "JPN".parse().unwrap(), day(d)).is_allow(),
            "{d}"
        );
    }
}

#[test]
fn r1_deny_before_entry_into_force_names_the_hub_route() {
    assert_eq!(
        decide(&world(), &missile_report(), "JPN", "2016-01-01"),
        "deny R1: `kor-jpn-gsomia` is not in force on 2016-01-01: it is pending: not every \
         party has signed; KOR and JPN still share `tisa` through its hub USA"
    );
}

#[test]
fn r1_deny_from_2019_11_23_in_the_counterfactual() {
    let w = counterfactual();
    assert!(
        release(
            &w,
            &missile_report(),
            "JPN".parse().unwrap(),
            day("2019-11-22")
        )
        .is_allow()
    );
    assert_eq!(
        decide(&w, &missile_report(), "JPN", "2019-11-23"),
        "deny R1: `kor-jpn-gsomia` is not in force on 2019-11-23: it terminated on 2019-11-23; \
         KOR and JPN still share `tisa` through its hub USA"
    );
}

#[test]
fn r1_deny_direct_release_between_members_of_a_hub_arrangement() {
    // Only TISA links KOR and JPN: drop the bilateral GSOMIA.
    let w = World::new(
        schemes(),
        vec![agreement(TISA), agreement(USA_JPN), agreement(USA_KOR)],
        vec![],
    )
    .unwrap();
    assert_eq!(
        decide(&w, &missile_report(), "JPN", "2019-12-01"),
        "deny R1: KOR and JPN share `tisa` only through its hub USA: release to USA, which may \
         pass the item on to JPN with KOR's consent (R4)"
    );
}

#[test]
fn r1_deny_with_no_agreement_and_to_oneself() {
    let w = World::new(schemes(), vec![agreement(USA_JPN)], vec![]).unwrap();
    assert_eq!(
        decide(&w, &missile_report(), "JPN", "2019-12-01"),
        "deny R1: no agreement names both KOR and JPN"
    );
    assert_eq!(
        rule(&world(), &missile_report(), "KOR", "2019-12-01"),
        Some(Rule::R1)
    );
}

#[test]
fn r2_deny_a_level_without_a_row_never_rounded() {
    let top_secret = report(|v| v["label"]["level"] = "I".into());
    // The Japan–ROK table has no TOP SECRET row; TISA has none either.
    assert_eq!(
        decide(&world(), &top_secret, "JPN", "2019-07-25"),
        "deny R2: `kor-jpn-gsomia` has no equivalent for KOR level `I`: a level without a row \
         is not exchanged, never rounded"
    );
    // The US–ROK table has one.
    assert_eq!(
        decide(&world(), &top_secret, "USA", "2019-07-25"),
        "allow usa-kor-gsomia USA:TOP_SECRET(KOR)"
    );
}

#[test]
fn r2_allow_the_second_level_of_a_cell_and_mark_with_the_first() {
    let jpn_item = report(|v| {
        v["label"]["originator"] = "JPN".into();
        v["label"]["level"] = "TOKUTEI_HIMITSU".into();
        v["label"]["releasable_to"] = serde_json::json!(["KOR"]);
    });
    assert_eq!(
        decide(&world(), &jpn_item, "KOR", "2019-07-25"),
        "allow kor-jpn-gsomia KOR:II(JPN)"
    );
}

#[test]
fn r3_allow_in_scope_and_deny_out_of_scope_through_the_hub() {
    let w = World::new(schemes(), vec![agreement(TISA)], vec![]).unwrap();
    assert_eq!(
        decide(&w, &missile_report(), "USA", "2019-07-25"),
        "allow tisa USA:SECRET(KOR)"
    );
    let cyber = report(|v| v["label"]["topics"] = serde_json::json!(["dprk-missile", "cyber"]));
    assert_eq!(
        decide(&w, &cyber, "USA", "2019-07-25"),
        "deny R3: topic `cyber` is outside the scope of `tisa` (dprk-nuclear, dprk-missile)"
    );
}

#[test]
fn r4_the_hub_passes_an_item_on_only_with_the_originators_consent() {
    let held = held_by("USA", "SECRET");
    let w = World::new(schemes(), vec![agreement(TISA)], vec![]).unwrap();
    assert_eq!(
        decide(&w, &held, "JPN", "2019-12-01"),
        "deny R4: USA is not the originator and holds no consent from KOR to release \
         `report--6b1c2f5e-3f0a-4d7e-9a1b-2c3d4e5f6a7b` to JPN for `missile-warning` on \
         2019-12-01, for the item or standing for one of its topics (third-party rule)"
    );
    let consent = consent("USA", "JPN", "2019-11-30", "2020-11-30");
    let w = World::new(schemes(), vec![agreement(TISA)], vec![consent]).unwrap();
    assert_eq!(
        decide(&w, &held, "JPN", "2019-12-01"),
        "allow tisa JPN:GOKUHI(KOR)"
    );
    // Expired, not yet given, for another recipient: refused.
    assert_eq!(rule(&w, &held, "JPN", "2020-12-01"), Some(Rule::R4));
    assert_eq!(rule(&w, &held, "JPN", "2019-11-29"), Some(Rule::R4));
}

#[test]
fn r4_counterfactual_dprk_missile_items_still_reach_jpn_through_usa() {
    let consent = consent("USA", "JPN", "2019-11-23", "2020-11-22");
    let w = world_with(kor_jpn_without_suspension(), vec![consent]);
    // KOR → USA under the bilateral US–ROK GSOMIA; USA → JPN with KOR's consent. The US–Japan
    // GSOMIA comes before the hub arrangement (SPEC §4).
    assert_eq!(
        decide(&w, &missile_report(), "USA", "2019-12-01"),
        "allow usa-kor-gsomia USA:SECRET(KOR)"
    );
    let held = held_by("USA", "SECRET");
    assert_eq!(
        decide(&w, &held, "JPN", "2019-12-01"),
        "allow usa-jpn-gsomia JPN:GOKUHI(KOR)"
    );
    // Without the consent, the closest agreement refuses under R4.
    assert_eq!(
        rule(&counterfactual(), &held, "JPN", "2019-12-01"),
        Some(Rule::R4)
    );
}

#[test]
fn r4_returning_an_item_to_its_originator_needs_no_consent() {
    let held = held_by("USA", "SECRET");
    assert_eq!(
        decide(&world(), &held, "KOR", "2019-12-01"),
        "allow usa-kor-gsomia KOR:II(KOR)"
    );
}

#[test]
fn r4_a_derived_item_needs_the_consent_of_every_originator_of_its_sources() {
    let usa = gsomia_core::Scheme::from_json(SCHEMES[2]).unwrap();
    let held = held_by("USA", "SECRET");
    let label = gsomia_core::derive(
        &usa,
        &[&held],
        "missile-warning".parse().unwrap(),
        "2019-12-01T00:00:00Z".parse().unwrap(),
    )
    .unwrap();
    let mut file = held.file().clone();
    file.label = label;
    file.marking = None;
    let derived = Item::new(file).unwrap();
    assert_eq!(
        rule(
            &World::new(schemes(), vec![agreement(USA_JPN)], vec![]).unwrap(),
            &derived,
            "JPN",
            "2019-12-01"
        ),
        Some(Rule::R4)
    );
    let w = World::new(
        schemes(),
        vec![agreement(USA_JPN)],
        vec![consent("USA", "JPN", "2019-01-01", "2020-01-01")],
    )
    .unwrap();
    assert_eq!(
        decide(&w, &derived, "JPN", "2019-12-01"),
        "allow usa-jpn-gsomia JPN:GOKUHI(USA)"
    );
}

#[test]
fn r5_deny_noforn_and_outside_releasable_to() {
    let noforn = report(|v| v["label"]["caveats"] = serde_json::json!(["NOFORN"]));
    assert_eq!(
        decide(&world(), &noforn, "USA", "2019-07-25"),
        "deny R5: the item is NOFORN: releasable to no foreign party"
    );
    let only_usa = report(|v| v["label"]["releasable_to"] = serde_json::json!(["USA"]));
    assert_eq!(
        decide(&world(), &only_usa, "JPN", "2019-07-25"),
        "deny R5: the item is releasable only to USA, not to JPN"
    );
    assert!(
        release(
            &world(),
            &only_usa,
            "USA".parse().unwrap(),
            day("2019-07-25")
        )
        .is_allow()
    );
    let free = report(|v| {
        v["label"].as_object_mut().unwrap().remove("releasable_to");
        v["label"]["caveats"] = serde_json::json!(["ORCON", "REL TO JPN, KOR, USA"]);
    });
    assert!(release(&world(), &free, "JPN".parse().unwrap(), day("2019-07-25")).is_allow());
}

#[test]
fn the_refusal_names_the_agreement_that_came_closest() {
    // KOR's TOP SECRET item to JPN in the counterfactual after termination: the GSOMIA fails R1,
    // TISA fails R1 (hub route). Both pass nothing; the bilateral is reported.
    let top_secret = report(|v| v["label"]["level"] = "I".into());
    assert_eq!(
        rule(&counterfactual(), &top_secret, "JPN", "2020-01-01"),
        Some(Rule::R1)
    );
    // USA's copy to JPN: the US–Japan GSOMIA passes R1–R3 and fails R4; TISA too. R4 is reported.
    assert_eq!(
        rule(&world(), &held_by("USA", "SECRET"), "JPN", "2020-01-01"),
        Some(Rule::R4)
    );
}

/// KOR's standing consent for USA to pass its `dprk-missile` items on to JPN, edited.
fn standing(edit: impl FnOnce(&mut serde_json::Value)) -> gsomia_core::Consent {
    let mut v = serde_json::json!({
        "id": "kor-standing", "originator": "KOR", "topic": "dprk-missile", "holder": "USA",
        "to": "JPN", "purpose": "missile-warning", "given": "2019-11-30", "until": "2020-11-30",
    });
    edit(&mut v);
    gsomia_core::Consent::from_json(&v.to_string()).unwrap()
}

#[test]
fn r4b_a_standing_consent_covers_each_item_of_its_topic_and_purpose_until_revoked() {
    let held = held_by("USA", "SECRET");
    let world = |c| World::new(schemes(), vec![agreement(TISA)], vec![c]).unwrap();
    let w = world(standing(|_| {}));
    assert_eq!(
        decide(&w, &held, "JPN", "2019-12-01"),
        "allow tisa JPN:GOKUHI(KOR)"
    );
    // Outside its days: refused.
    assert_eq!(rule(&w, &held, "JPN", "2019-11-29"), Some(Rule::R4));
    assert_eq!(rule(&w, &held, "JPN", "2020-12-01"), Some(Rule::R4));
    // Another topic, another purpose, another holder: it covers nothing here.
    for edit in [
        |v: &mut serde_json::Value| v["topic"] = "dprk-nuclear".into(),
        |v: &mut serde_json::Value| v["purpose"] = "training".into(),
        |v: &mut serde_json::Value| v["holder"] = "JPN".into(),
    ] {
        let c = standing(|v| {
            edit(v);
            if v["holder"] == "JPN" {
                v["to"] = "USA".into();
            }
        });
        assert_eq!(rule(&world(c), &held, "JPN", "2019-12-01"), Some(Rule::R4));
    }
    // Revoked from a day on: it stands the day before, not from that day.
    let w = world(standing(|v| {
        v["revoked"] = serde_json::json!({ "from": "2019-12-02" })
    }));
    assert!(release(&w, &held, "JPN".parse().unwrap(), day("2019-12-01")).is_allow());
    assert_eq!(rule(&w, &held, "JPN", "2019-12-02"), Some(Rule::R4));
}

#[test]
fn s1_where_the_agreement_asks_release_needs_the_recipients_assurance_for_the_level() {
    let mut file: serde_json::Value = serde_json::from_str(KOR_JPN).unwrap();
    file["terms"]["requires_assurance"] = true.into();
    let world = |assurances: Vec<gsomia_core::Assurance>| {
        World::new(schemes(), vec![agreement(&file.to_string())], vec![])
            .unwrap()
            .with_assurances(assurances)
    };
    let assurance = |level: &str, until: &str| {
        let v = serde_json::json!({
            "id": "JPN-assurance-1", "by": "JPN", "to": "KOR", "agreement": "kor-jpn-gsomia",
            "recipient": "JPN node, Ministry of Defense, Ichigaya", "level": level,
            "purpose": "missile warning", "given": "2019-07-01", "until": until,
        });
        serde_json::from_value::<gsomia_core::Assurance>(v)
            .unwrap()
            .check()
            .unwrap()
    };
    let report = missile_report();
    assert_eq!(
        decide(&world(vec![]), &report, "JPN", "2019-07-25"),
        "deny S1: `kor-jpn-gsomia` asks for JPN's signed assurance before release, and KOR \
         holds none from JPN covering `GOKUHI` on 2019-07-25"
    );
    let w = world(vec![assurance("GOKUHI", "2020-06-30")]);
    assert_eq!(
        decide(&w, &report, "JPN", "2019-07-25"),
        "allow kor-jpn-gsomia JPN:GOKUHI(KOR)"
    );
    // Expired, or for a lower level than the item's at JPN: refused.
    assert_eq!(rule(&w, &report, "JPN", "2020-07-01"), Some(Rule::S1));
    let w = world(vec![assurance("HI", "2020-06-30")]);
    assert_eq!(rule(&w, &report, "JPN", "2019-07-25"), Some(Rule::S1));
    // Agreements that do not ask (the model case's) need none, and their signed form is as
    // before: the term is written only when true.
    assert!(
        release(
            &world_without_terms(),
            &report,
            "JPN".parse().unwrap(),
            day("2019-07-25")
        )
        .is_allow()
    );
    let plain = agreement(KOR_JPN);
    assert!(
        !serde_json::to_string(plain.terms())
            .unwrap()
            .contains("requires_assurance")
    );
}

fn world_without_terms() -> World {
    World::new(schemes(), vec![agreement(KOR_JPN)], vec![]).unwrap()
}

#[test]
fn s1_assurances_have_days_in_order_a_recipient_and_another_party() {
    let check = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = serde_json::json!({
            "id": "a", "by": "JPN", "to": "KOR", "agreement": "kor-jpn-gsomia",
            "recipient": "JPN node", "level": "GOKUHI", "purpose": "missile warning",
            "given": "2019-07-01", "until": "2020-06-30",
        });
        edit(&mut v);
        serde_json::from_value::<gsomia_core::Assurance>(v)
            .map_err(|e| e.to_string())
            .and_then(|a| a.check().map_err(|e| e.to_string()))
            .err()
    };
    assert_eq!(check(&|_| {}), None);
    assert_eq!(
        check(&|v| v["until"] = "2019-06-30".into()).as_deref(),
        Some("until: `2019-07-01` is after `2019-06-30`")
    );
    assert_eq!(
        check(&|v| v["to"] = "JPN".into()).as_deref(),
        Some("to: an assurance is given to another party")
    );
    assert_eq!(
        check(&|v| v["recipient"] = " ".into()).as_deref(),
        Some("recipient: an assurance names its recipient")
    );
    assert!(
        check(&|v| v["seal"] = "x".into())
            .unwrap()
            .contains("unknown field")
    );
}

/// The Korea–Japan GSOMIA with one amendment (A9), edited: from 2020-01-15 (the later
/// signature) Japan marks Korea's II as TOKUTEI_HIMITSU and the agreement covers
/// `dprk-missile` only.
fn amended(edit: impl FnOnce(&mut serde_json::Value)) -> Result<gsomia_core::Agreement, String> {
    let mut file: serde_json::Value = serde_json::from_str(KOR_JPN).unwrap();
    file["amendments"] = serde_json::json!([{
        "id": "kor-jpn-2020-1",
        "equivalence": [
            { "common": "SECRET", "levels": { "JPN": ["TOKUTEI_HIMITSU", "GOKUHI"], "KOR": ["II"] } },
            { "common": "CONFIDENTIAL", "levels": { "JPN": ["HI"], "KOR": ["III"] } }
        ],
        "scope": ["dprk-missile"],
        "signed": [{ "by": "KOR", "on": "2020-01-10" }, { "by": "JPN", "on": "2020-01-15" }]
    }]);
    edit(&mut file);
    gsomia_core::Agreement::from_json(&file.to_string()).map_err(|e| e.to_string())
}

#[test]
fn a9_a_decision_on_a_day_uses_the_terms_in_force_that_day() {
    let world = |a: gsomia_core::Agreement| World::new(schemes(), vec![a], vec![]).unwrap();
    let w = world(amended(|_| {}).unwrap());
    let report = missile_report();
    assert_eq!(
        decide(&w, &report, "JPN", "2020-01-14"),
        "allow kor-jpn-gsomia JPN:GOKUHI(KOR)"
    );
    assert_eq!(
        decide(&w, &report, "JPN", "2020-01-15"),
        "allow kor-jpn-gsomia JPN:TOKUTEI_HIMITSU(KOR)"
    );
    let cyber = report_with_topic("cyber");
    assert!(release(&w, &cyber, "JPN".parse().unwrap(), day("2020-01-14")).is_allow());
    assert_eq!(rule(&w, &cyber, "JPN", "2020-01-15"), Some(Rule::R3));
    // Signed by Korea alone, it changes nothing.
    let w = world(
        amended(|f| {
            f["amendments"][0]["signed"].as_array_mut().unwrap().pop();
        })
        .unwrap(),
    );
    assert_eq!(
        decide(&w, &report, "JPN", "2021-01-01"),
        "allow kor-jpn-gsomia JPN:GOKUHI(KOR)"
    );
    // The timeline says when it took effect and what it changed.
    let a = amended(|_| {}).unwrap();
    let line = a
        .timeline(day("2023-12-31"))
        .into_iter()
        .find(|c| c.what == gsomia_core::agreement::What::Amended)
        .unwrap();
    assert_eq!(line.on, day("2020-01-15"));
    assert_eq!(
        line.note.as_deref(),
        Some("kor-jpn-2020-1: equivalence table SECRET, CONFIDENTIAL; scope dprk-missile")
    );
}

fn report_with_topic(topic: &str) -> Item {
    report(|v| v["label"]["topics"] = serde_json::json!([topic]))
}

#[test]
fn a9_amendments_are_signed_by_the_parties_once_and_change_something_valid() {
    let err = |edit: fn(&mut serde_json::Value)| amended(edit).err().unwrap_or_default();
    assert_eq!(
        err(|f| f["amendments"][0]["signed"][1]["by"] = "USA".into()),
        "amendments[0].signed[1].by: USA is not a party to this agreement"
    );
    assert_eq!(
        err(|f| f["amendments"][0]["signed"][1]["by"] = "KOR".into()),
        "amendments[0].signed[1].by: KOR is named twice"
    );
    assert_eq!(
        err(|f| {
            let a = f["amendments"][0].as_object_mut().unwrap();
            a.remove("equivalence");
            a.remove("scope");
        }),
        "amendments[0]: an amendment changes the equivalence table or the scope"
    );
    assert!(
        err(|f| f["amendments"][0]["equivalence"][1]["levels"]["JPN"] =
            serde_json::json!(["GOKUHI"]))
        .starts_with("amendments[0].equivalence[1].levels.JPN[0]"),
    );
    assert_eq!(
        err(|f| {
            let copy = f["amendments"][0].clone();
            f["amendments"].as_array_mut().unwrap().push(copy);
        }),
        "amendments[1].id: amendment `kor-jpn-2020-1` is there twice"
    );
    // A level the scheme does not have, in an amended table: the world refuses it.
    let a = amended(|f| {
        f["amendments"][0]["equivalence"][1]["levels"]["KOR"] = serde_json::json!(["IV"])
    })
    .unwrap();
    let e = World::new(schemes(), vec![a], vec![])
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("amended table 1: equivalence[1].levels.KOR[0]"),
        "{e}"
    );
}

#[test]
fn a9_a_party_adds_only_its_own_signature_and_never_backdates_it() {
    let proposed = amended(|f| {
        f["amendments"][0]["signed"].as_array_mut().unwrap().pop();
    })
    .unwrap();
    let held = proposed.file().amendments[0].clone();
    let signed = |by: &str, on: &str| {
        let mut a = held.clone();
        a.signed.push(gsomia_core::agreement::Signature {
            by: by.parse().unwrap(),
            on: day(on),
        });
        a
    };
    let jpn = "JPN".parse().unwrap();
    let after = proposed
        .with_amendment(signed("JPN", "2020-01-15"), jpn)
        .unwrap();
    assert_eq!(
        after.amendments().next().unwrap().1,
        Some(day("2020-01-15"))
    );
    let err =
        |r: Result<gsomia_core::Agreement, gsomia_core::Invalid>| r.err().unwrap().to_string();
    assert_eq!(
        err(proposed.with_amendment(signed("JPN", "2019-12-31"), jpn)),
        "amendment: JPN's signature of `kor-jpn-2020-1` is dated 2019-12-31, before the \
         signature before it (2020-01-10): an amendment takes effect on its last signature"
    );
    assert_eq!(
        err(proposed.with_amendment(signed("KOR", "2020-01-15"), jpn)),
        "amendment: amendment `kor-jpn-2020-1` may come again only with JPN's signature added"
    );
    let mut changed = signed("JPN", "2020-01-15");
    changed.scope = Some(vec!["cyber".into()]);
    assert!(err(proposed.with_amendment(changed, jpn)).contains("is held with other terms"));
}
