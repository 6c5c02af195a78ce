//! Labels (SPEC §2): caveats verbatim, STANAG 2511 grades, and derivation (P4).

use gsomia_core::{Grading, Item, Label, Scheme, derive};

use crate::fixtures::*;

#[test]
fn grading_accepts_a_to_f_by_1_to_6_only() {
    for ok in ["A1", "B2", "F6", "E5"] {
        assert_eq!(ok.parse::<Grading>().unwrap().to_string(), ok);
    }
    for bad in ["G1", "A0", "A7", "b2", "B", "B22", ""] {
        let err = bad.parse::<Grading>().unwrap_err().to_string();
        assert!(err.contains("STANAG 2511"), "{bad}: {err}");
    }
}

#[test]
fn caveats_are_kept_verbatim_through_a_round_trip() {
    let item = report(|v| {
        v["label"]["caveats"] = serde_json::json!(["ORCON", "REL TO JPN, USA", "Eyes Only 秘"])
    });
    let text = serde_json::to_string(item.label()).unwrap();
    let back: Label = serde_json::from_str(&text).unwrap();
    assert_eq!(&back, item.label());
    assert!(
        text.contains(r#""caveats":["ORCON","REL TO JPN, USA","Eyes Only 秘"]"#),
        "{text}"
    );
}

#[test]
fn p4_derived_items_take_the_highest_level_and_every_caveat_and_originator() {
    let jpn = Scheme::from_json(SCHEMES[0]).unwrap();
    let kor_report = report(|v| {
        v["marking"] = serde_json::json!({"party": "JPN", "level": "HI", "originator": "KOR"});
        v["label"]["level"] = "III".into();
        v["label"]["caveats"] = serde_json::json!(["ORCON"]);
        v["label"]["releasable_to"] = serde_json::json!(["JPN", "USA"]);
    });
    let usa_report = report(|v| {
        v["object"]["id"] = "report--00000000-0000-4000-8000-000000000001".into();
        v["label"]["originator"] = "USA".into();
        v["label"]["level"] = "SECRET".into();
        v["label"]["topics"] = serde_json::json!(["dprk-nuclear"]);
        v["label"]["caveats"] = serde_json::json!(["REL TO JPN"]);
        v["label"]["releasable_to"] = serde_json::json!(["JPN"]);
        v["marking"] =
            serde_json::json!({"party": "JPN", "level": "TOKUTEI_HIMITSU", "originator": "USA"});
    });
    let label = derive(
        &jpn,
        &[&kor_report, &usa_report],
        "missile-warning".parse().unwrap(),
        "2020-01-01T00:00:00Z".parse().unwrap(),
    )
    .unwrap();
    assert_eq!(label.originator.as_str(), "JPN");
    assert_eq!(label.level.as_str(), "TOKUTEI_HIMITSU");
    let caveats: Vec<_> = label.caveats.iter().map(|c| c.as_str()).collect();
    assert_eq!(caveats, ["ORCON", "REL TO JPN"]);
    let topics: Vec<_> = label.topics.iter().map(|t| t.as_str()).collect();
    assert_eq!(topics, ["dprk-missile", "dprk-nuclear"]);
    assert_eq!(
        label.releasable_to.as_deref().unwrap(),
        &["JPN".parse().unwrap()]
    );
    let originators: Vec<_> = label.originators().map(|p| p.to_string()).collect();
    assert_eq!(originators, ["JPN", "KOR", "USA"]);
    assert_eq!(label.grading, None);
    // Derivation refuses a source held elsewhere.
    let err = derive(
        &jpn,
        &[&missile_report()],
        "x".parse().unwrap(),
        "2020-01-01T00:00:00Z".parse().unwrap(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "source `report--6b1c2f5e-3f0a-4d7e-9a1b-2c3d4e5f6a7b` is held by KOR, not by JPN"
    );
}

#[test]
fn items_name_their_version_and_holder() {
    let item: Item = held_by("JPN", "GOKUHI");
    assert_eq!(item.id(), "report--6b1c2f5e-3f0a-4d7e-9a1b-2c3d4e5f6a7b");
    assert_eq!(item.modified(), Some("2019-07-25T00:30:00.000Z"));
    assert_eq!(item.holder().as_str(), "JPN");
    assert_eq!(item.holder_level().as_str(), "GOKUHI");
}

#[test]
fn m4_reclassification_remarks_every_hop_of_the_custody_chain() {
    use gsomia_core::reclassification::remark_custody;
    let w = world();
    let hop = |from: &str, to: &str, agreement: &str, level: &str| -> gsomia_core::Hop {
        serde_json::from_value(serde_json::json!({"from": from, "to": to, "agreement": agreement, "level": level, "at": "2019-12-01T00:00:00Z"})).unwrap()
    };
    let chain = [
        hop("KOR", "USA", "tisa", "SECRET"),
        hop("USA", "JPN", "tisa", "GOKUHI"),
    ];
    let down = remark_custody(&w, "KOR".parse().unwrap(), &"III".parse().unwrap(), &chain).unwrap();
    let levels: Vec<_> = down.iter().map(|h| h.level.as_str()).collect();
    assert_eq!(levels, ["CONFIDENTIAL", "HI"]);
    // Up to TOP SECRET: TISA has no such row, so it can not be applied (never rounded).
    let err =
        remark_custody(&w, "KOR".parse().unwrap(), &"I".parse().unwrap(), &chain).unwrap_err();
    assert_eq!(err.rule, gsomia_core::Rule::M4);
    assert!(
        err.message.contains("no equivalent for KOR level `I`"),
        "{}",
        err.message
    );
    // A chain that does not start at the originator is refused.
    let err =
        remark_custody(&w, "JPN".parse().unwrap(), &"HI".parse().unwrap(), &chain).unwrap_err();
    assert!(err.message.contains("breaks"), "{}", err.message);
}
