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

/// Letters of a JPN visit to KOR under the KOR–JPN GSOMIA: `kind`, written by `from`, with
/// `visit` (the visit's JSON) and answering `answers`.
fn visit_letter(
    id: &str,
    kind: &str,
    from: &str,
    answers: Option<&str>,
    visit: Option<serde_json::Value>,
) -> Result<gsomia_core::Letter, gsomia_core::Invalid> {
    let mut v = serde_json::json!({
        "id": id, "agreement": "kor-jpn-gsomia", "kind": kind, "from": from,
        "text": "liaison on missile warning", "sent": "2019-08-01T00:00:00Z",
    });
    if let Some(a) = answers {
        v["answers"] = a.into();
    }
    if let Some(visit) = visit {
        v["visit"] = visit;
    }
    serde_json::from_value::<gsomia_core::Letter>(v)
        .unwrap()
        .check()
}

/// Sato's visit to KOR's Seoul facility: `edit` changes the JSON.
fn visit(edit: impl FnOnce(&mut serde_json::Value)) -> serde_json::Value {
    let mut v = serde_json::json!({
        "host": "KOR", "visitor": "Sato Hanako", "assurance": "JPN-assurance-1",
        "facility": "MND Seoul", "from": "2019-08-05", "until": "2019-08-09",
        "level": "II", "topics": ["dprk-missile"],
    });
    edit(&mut v);
    v
}

#[test]
fn v1_a_visit_authorisation_allows_at_most_what_was_asked_for() {
    use gsomia_core::Letter;
    let w = world();
    let request = visit_letter(
        "JPN-letter-1",
        "visit_request",
        "JPN",
        None,
        Some(visit(|_| {})),
    )
    .unwrap();
    let held = vec![request.clone()];
    let authorise = |edit: fn(&mut serde_json::Value)| {
        visit_letter(
            "KOR-letter-2",
            "visit_authorisation",
            "KOR",
            Some("JPN-letter-1"),
            Some(visit(edit)),
        )
        .unwrap()
    };
    assert_eq!(Letter::may_answer(&request, &[], &w), Ok(()));
    assert_eq!(Letter::may_answer(&authorise(|_| {}), &held, &w), Ok(()));
    // Less than asked is fine: fewer days, a lower level.
    let less = authorise(|v| {
        v["until"] = "2019-08-06".into();
        v["level"] = "III".into();
    });
    assert_eq!(Letter::may_answer(&less, &held, &w), Ok(()));
    for (edit, why) in [
        (
            (|v: &mut serde_json::Value| v["level"] = "I".into()) as fn(&mut serde_json::Value),
            "level `I` is above the `II` asked for",
        ),
        (
            |v| v["until"] = "2019-08-10".into(),
            "the visit was asked for 2019-08-05 to 2019-08-09: an authorisation allows no other \
             days",
        ),
        (
            |v| v["topics"] = serde_json::json!(["dprk-nuclear"]),
            "topic `dprk-nuclear` was not asked for",
        ),
        (
            |v| v["visitor"] = "Someone Else".into(),
            "an authorisation names the visitor, host, facility, assurance and kind of visit \
             asked for",
        ),
    ] {
        assert_eq!(
            Letter::may_answer(&authorise(edit), &held, &w),
            Err(why.into())
        );
    }
    // The visitor's party does not authorise its own request; a level must be the host's.
    let own = visit_letter(
        "JPN-letter-3",
        "visit_authorisation",
        "JPN",
        Some("JPN-letter-1"),
        Some(visit(|v| {
            v["host"] = "JPN".into();
            v["level"] = "GOKUHI".into();
        })),
    )
    .unwrap();
    assert_eq!(
        Letter::may_answer(&own, &held, &w),
        Err("JPN answers its partners' visit requests, not its own".into())
    );
    let foreign = visit_letter(
        "JPN-letter-4",
        "visit_request",
        "JPN",
        None,
        Some(visit(|v| v["level"] = "GOKUHI".into())),
    )
    .unwrap();
    assert_eq!(
        Letter::may_answer(&foreign, &[], &w),
        Err("`GOKUHI` is not a level of KOR's scheme".into())
    );
    // Answered once: a refusal after an authorisation is refused.
    let refusal = visit_letter(
        "KOR-letter-5",
        "visit_refusal",
        "KOR",
        Some("JPN-letter-1"),
        None,
    )
    .unwrap();
    let answered = vec![request, authorise(|_| {})];
    assert_eq!(
        Letter::may_answer(&refusal, &answered, &w),
        Err("`JPN-letter-1` is answered already".into())
    );
}

#[test]
fn v1_bad_visit_letters_are_refused_alone() {
    let err = |r: Result<gsomia_core::Letter, gsomia_core::Invalid>| {
        let e = r.unwrap_err();
        format!("{}: {}", e.place, e.problem)
    };
    let out_of_order = visit(|v| v["until"] = "2019-08-01".into());
    assert!(
        err(visit_letter(
            "a",
            "visit_request",
            "JPN",
            None,
            Some(out_of_order)
        ))
        .starts_with("visit.until: ")
    );
    assert_eq!(
        err(visit_letter("a", "visit_request", "JPN", None, None)),
        "visit: a visit request names its visit"
    );
    assert_eq!(
        err(visit_letter(
            "a",
            "visit_request",
            "KOR",
            None,
            Some(visit(|_| {}))
        )),
        "visit.host: a visit is asked for by the visitor's party, of another party"
    );
    assert_eq!(
        err(visit_letter(
            "a",
            "visit_authorisation",
            "JPN",
            Some("b"),
            Some(visit(|_| {}))
        )),
        "visit.host: a visit is authorised by its host"
    );
    assert_eq!(
        err(visit_letter(
            "a",
            "visit_refusal",
            "KOR",
            Some("b"),
            Some(visit(|_| {}))
        )),
        "visit: a visit refusal names no visit"
    );
    assert_eq!(
        err(visit_letter(
            "a",
            "visit_request",
            "JPN",
            None,
            Some(visit(|v| v["topics"] = serde_json::json!([])))
        )),
        "visit.topics: a visit names 1 to 32 topics"
    );
    let unknown = serde_json::from_value::<gsomia_core::Visit>(visit(|v| v["badge"] = 1.into()));
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("unknown field `badge`")
    );
}

#[test]
fn v2_findings_report_on_an_inspection_by_the_inspecting_party() {
    use gsomia_core::Letter;
    let w = world();
    let held = |inspection: bool| {
        let v = visit(|v| v["inspection"] = inspection.into());
        vec![
            visit_letter(
                "JPN-letter-1",
                "visit_request",
                "JPN",
                None,
                Some(v.clone()),
            )
            .unwrap(),
            visit_letter(
                "KOR-letter-2",
                "visit_authorisation",
                "KOR",
                Some("JPN-letter-1"),
                Some(v),
            )
            .unwrap(),
        ]
    };
    let findings = |from: &str| {
        visit_letter("x-letter-3", "findings", from, Some("KOR-letter-2"), None).unwrap()
    };
    assert_eq!(
        Letter::may_answer(&findings("JPN"), &held(true), &w),
        Ok(())
    );
    assert_eq!(
        Letter::may_answer(&findings("JPN"), &held(false), &w),
        Err(
            "`KOR-letter-2` authorises a visit, not an inspection: findings report on \
             inspections (V2)"
                .into()
        )
    );
    assert_eq!(
        Letter::may_answer(&findings("KOR"), &held(true), &w),
        Err("KOR answers its partners' visit authorisations, not its own".into())
    );
    assert_eq!(gsomia_core::LetterKind::Findings.rule(), Rule::V2);
}

#[test]
fn v1_a_visitor_reads_the_hosts_items_within_the_authorisation() {
    let authorised = |edit: fn(&mut serde_json::Value)| {
        let v = visit(edit);
        world().with_visits(vec![
            visit_letter(
                "KOR-letter-2",
                "visit_authorisation",
                "KOR",
                Some("JPN-letter-1"),
                Some(v),
            )
            .unwrap(),
        ])
    };
    let visitor = |visit: &str| {
        serde_json::from_value::<User>(serde_json::json!({
            "id": "visitor-2", "name": "Sato Hanako", "party": "KOR", "clearance": "I",
            "duties": ["dprk-missile", "missile-warning"], "visit": visit,
        }))
        .unwrap()
    };
    let report = missile_report();
    let w = authorised(|_| {});
    assert_eq!(
        decide(&w, &report, &visitor("KOR-letter-2"), "2019-08-05"),
        "allow KOR:II(KOR)"
    );
    assert_eq!(
        decide(&w, &report, &visitor("KOR-letter-2"), "2019-08-10"),
        "deny V1: visitor-2's visit is authorised from 2019-08-05 to 2019-08-09, not on 2019-08-10"
    );
    assert_eq!(
        decide(&w, &report, &visitor("KOR-letter-9"), "2019-08-05"),
        "deny V1: visitor-2 visits under `KOR-letter-9`, which KOR has not authorised"
    );
    // The user's own clearance and duties do not widen the authorisation.
    assert_eq!(
        decide(
            &authorised(|v| v["level"] = "III".into()),
            &report,
            &visitor("KOR-letter-2"),
            "2019-08-05"
        ),
        "deny V1: visitor-2's visit is authorised up to `III`, below the item's level"
    );
    assert_eq!(
        decide(
            &authorised(|v| v["topics"] = serde_json::json!(["dprk-nuclear"])),
            &report,
            &visitor("KOR-letter-2"),
            "2019-08-05"
        ),
        "deny V1: none of the topics of visitor-2's visit covers the item's purpose or topics"
    );
    // Third-party rule: a partner's item held by the host is not shown to the visitor.
    let usa = crate::fixtures::report(|v| {
        v["label"]["originator"] = "USA".into();
        v["label"]["level"] = "SECRET".into();
        v["label"]["releasable_to"] = serde_json::json!(["KOR"]);
        v["marking"] = serde_json::json!({"party": "KOR", "level": "II", "originator": "USA"});
    });
    assert_eq!(
        decide(&w, &usa, &visitor("KOR-letter-2"), "2019-08-05"),
        "deny V1: a visitor to KOR reads KOR's own items: USA's are not KOR's to show"
    );
}
