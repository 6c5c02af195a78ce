//! Bad input: every malformed kind of file gets a message naming the place and the problem.
//! (The CLI's tests check that it adds the file name and exits 2.)

use expect_test::expect;
use gsomia_core::{Agreement, Consent, Item, Scheme, User, World};

use crate::fixtures::*;

fn edit(text: &str, f: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
    f(&mut v);
    v.to_string()
}

fn agreement_error(f: impl FnOnce(&mut serde_json::Value)) -> String {
    Agreement::from_json(&edit(KOR_JPN, f))
        .unwrap_err()
        .to_string()
}

fn world_error(f: impl FnOnce(&mut serde_json::Value)) -> String {
    let a = Agreement::from_json(&edit(KOR_JPN, f)).unwrap();
    World::new(schemes(), vec![a], vec![])
        .unwrap_err()
        .to_string()
}

#[test]
fn agreements() {
    let out = [
        Agreement::from_json("{ not json").unwrap_err().to_string(),
        Agreement::from_json(&format!("{KOR_JPN} trailing"))
            .unwrap_err()
            .to_string(),
        agreement_error(|v| v["parties"] = serde_json::json!(["JPN", "kor"])),
        agreement_error(|v| v["parties"] = serde_json::json!(["JPN", "JPN"])),
        agreement_error(|v| v["parties"] = serde_json::json!(["JPN"])),
        agreement_error(|v| v["hub"] = "USA".into()),
        agreement_error(|v| v["equivalence"][0]["levels"]["USA"] = serde_json::json!(["SECRET"])),
        agreement_error(|v| v["equivalence"][1]["levels"]["JPN"] = serde_json::json!(["GOKUHI"])),
        agreement_error(|v| v["equivalence"][1]["levels"]["KOR"] = serde_json::json!([])),
        agreement_error(|v| {
            v["equivalence"][1]["levels"]
                .as_object_mut()
                .unwrap()
                .remove("KOR");
        }),
        agreement_error(|v| v["events"][2]["on"] = "2019-02-30".into()),
        agreement_error(|v| v["events"][2]["on"] = "23/08/2019".into()),
        agreement_error(|v| v["events"][2]["type"] = "terminate".into()),
        agreement_error(|v| v["events"][3]["on"] = "2019-08-01".into()),
        agreement_error(|v| v["terms"]["notice_days"] = "ninety".into()),
        agreement_error(|v| v["terms"]["initial_years"] = 0.into()),
        agreement_error(|v| v["terms"]["notice_period"] = 90.into()),
        agreement_error(|v| v["scope"] = serde_json::json!([])),
        agreement_error(|v| v["id"] = "kor jpn".into()),
        world_error(|v| v["equivalence"][0]["levels"]["KOR"] = serde_json::json!(["2"])),
        world_error(|v| {
            v["parties"] = serde_json::json!(["JPN", "PRK"]);
            for row in v["equivalence"].as_array_mut().unwrap() {
                let kor = row["levels"]["KOR"].take();
                row["levels"].as_object_mut().unwrap().remove("KOR");
                row["levels"]["PRK"] = kor;
            }
            v["events"] = serde_json::json!([]);
        }),
    ]
    .join("\n");
    expect![[r#"
        (file): key must be a string at line 1 column 3
        (file): trailing characters at line 24 column 2
        parties[1]: `kor` is not a party code (2 to 15 upper-case letters or digits, starting with a letter) at line 1 column 454
        parties[1]: JPN is named twice
        parties: an agreement needs at least two parties
        hub: USA is not a party to this agreement
        equivalence[0].levels.USA: USA is not a party to this agreement
        equivalence[1].levels.JPN[0]: JPN level `GOKUHI` is in two rows
        equivalence[1].levels.KOR: a cell needs at least one level
        equivalence[1].levels: the row has no levels for KOR
        events[2].on: `2019-02-30` is not a date (YYYY-MM-DD, from 1000-01-01 to 8999-12-31) at line 1 column 293
        events[2].on: `23/08/2019` is not a date (YYYY-MM-DD, from 1000-01-01 to 8999-12-31) at line 1 column 293
        events[2].type: unknown variant `terminate`, expected one of `signed`, `notice`, `suspend`, `resume`, `withdraw` at line 1 column 312
        events[3] (suspend by KOR on 2019-08-01): dated before the event before it (2019-08-23): events are append-only, in date order (A7)
        terms.notice_days: invalid type: string "ninety", expected u32 at line 1 column 504
        terms.initial_years: initial_years must be between 1 and 100, not 0
        terms.notice_period: unknown field `notice_period`, expected one of `initial_years`, `renewal_years`, `notice_days`, `resume_effect`, `report_destruction`, `requires_assurance`, `inspection_days`, `purposes` at line 1 column 514
        scope: the list is empty
        id: `kor jpn` is not an agreement id (1 to 128 ASCII letters, digits, `.`, `_` or `-`) at line 1 column 423
        agreement #0: equivalence[0].levels.KOR[0]: unknown level `2` in the scheme of KOR
        agreement #0: parties[1]: unknown party `PRK`"#]]
    .assert_eq(&out);
}

#[test]
fn schemes_items_users_consents() {
    let scheme = |f: fn(&mut serde_json::Value)| {
        Scheme::from_json(&edit(SCHEMES[1], f))
            .unwrap_err()
            .to_string()
    };
    let item = |f: fn(&mut serde_json::Value)| {
        Item::from_json(&edit(MISSILE_REPORT, f))
            .unwrap_err()
            .to_string()
    };
    let user_level = {
        let user: User =
            User::from_json(&edit(JPN_ANALYST, |v| v["clearance"] = "SECRET".into())).unwrap();
        world().check_user(&user).unwrap_err().to_string()
    };
    let item_level = {
        let i = Item::from_json(&edit(MISSILE_REPORT, |v| {
            v["label"]["level"] = "GOKUHI".into()
        }))
        .unwrap();
        world().check_item(&i).unwrap_err().to_string()
    };
    let out = [
        scheme(|v| v["levels"][1]["id"] = "III".into()),
        scheme(|v| v["levels"][1]["rank"] = 0.into()),
        scheme(|v| v["levels"][1]["rank"] = "two".into()),
        scheme(|v| v["levels"] = serde_json::json!([])),
        item(|v| v["label"]["grading"] = "G7".into()),
        item(|v| v["label"]["created"] = "yesterday".into()),
        item(|v| v["label"]["topics"] = serde_json::json!([])),
        item(|v| v["label"]["purpose"] = "missile warning".into()),
        item(|v| {
            v["object"].as_object_mut().unwrap().remove("id");
        }),
        item(|v| v["object"]["spec_version"] = "2.0".into()),
        item(|v| v["object"]["id"] = "indicator--6b1c2f5e-3f0a-4d7e-9a1b-2c3d4e5f6a7b".into()),
        item(|v| {
            v["marking"] =
                serde_json::json!({"party": "JPN", "level": "GOKUHI", "originator": "USA"})
        }),
        item_level,
        user_level,
        Consent::from_json(
            r#"{"id": "c", "originator": "KOR", "item": "x", "holder": "USA", "to": "JPN",
                "purpose": "p", "given": "2020-01-01", "until": "2020-01-02"}"#,
        )
        .unwrap_err()
        .to_string(),
        Consent::from_json(
            r#"{"id": "c", "originator": "KOR", "holder": "USA", "to": "JPN",
                "item": "report--6b1c2f5e-3f0a-4d7e-9a1b-2c3d4e5f6a7b",
                "purpose": "p", "given": "2020-01-02", "until": "2020-01-01"}"#,
        )
        .unwrap_err()
        .to_string(),
    ]
    .join("\n");
    expect![[r#"
        levels[1].id: duplicate level id `III`
        levels[1].rank: a rank must be between 1 and 65535, not 0
        levels[1].rank: invalid type: string "two", expected u16 at line 1 column 186
        levels: a scheme needs at least one level
        label.grading: `G7` is not a STANAG 2511 grade (a letter A-F then a digit 1-6, as in `B2`) at line 1 column 70
        label.created: `yesterday` is not an RFC 3339 timestamp (such as `2019-07-25T00:30:00Z`) at line 1 column 44
        label.topics: the list is empty
        label.purpose: `missile warning` is not a topic or purpose (1 to 128 characters, no spaces) at line 1 column 130
        object.id: a STIX object needs a string `id`
        object.spec_version: `2.0` is not STIX `2.1`
        object.id: `indicator--6b1c2f5e-3f0a-4d7e-9a1b-2c3d4e5f6a7b` is not `report--` followed by a UUID
        marking.originator: the marking names USA as originator, the label KOR
        label.level: unknown level `GOKUHI` in the scheme of KOR
        clearance: unknown level `SECRET` in the scheme of JPN
        item: `x` is not a STIX id (a type name, `--`, a UUID) at line 1 column 44
        until: `2020-01-02` is after `2020-01-01`"#]]
    .assert_eq(&out);
}

#[test]
fn item_ids_are_a_stix_type_two_hyphens_and_a_uuid() {
    let uuid = "6b1c2f5e-3f0a-4d7e-9a1b-2c3d4e5f6a7b";
    for good in [
        format!("report--{uuid}"),
        format!("x-mod-kor-note--{uuid}"),
        format!("ipv4-addr--{}", uuid.to_uppercase()),
    ] {
        let id: gsomia_core::ItemId = good.parse().unwrap();
        assert_eq!(id.as_str(), good);
        assert_eq!(Some(id.stix_type()), good.split("--").next());
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(
            serde_json::from_str::<gsomia_core::ItemId>(&json).unwrap(),
            id
        );
    }
    for bad in [
        String::new(),
        uuid.to_owned(),
        format!("--{uuid}"),
        format!("ab--{uuid}"),
        format!("Report--{uuid}"),
        format!("-report--{uuid}"),
        format!("report-{uuid}"),
        format!("report--{uuid}0"),
        format!("report--{}", &uuid[1..]),
        format!("report--{}", uuid.replace('-', "_")),
        format!("répört--{uuid}"),
        format!("report—{uuid}"),
        "report--é".repeat(8),
    ] {
        let e = bad.parse::<gsomia_core::ItemId>().unwrap_err();
        assert_eq!(e.0, bad);
        assert!(serde_json::from_value::<gsomia_core::ItemId>(bad.clone().into()).is_err());
    }
}

/// The missile warning (SPEC §8c): the model case's warning is an item; a warning without its
/// launch point, track or impact point, with a position off the globe or times out of order, is
/// refused naming the place, and so is a missing timestamp.
#[test]
fn missile_warnings() {
    let good = Item::from_json(MISSILE_WARNING).unwrap();
    assert_eq!(good.object()["type"], gsomia_core::warning::TYPE);
    let warning = |f: fn(&mut serde_json::Value)| {
        Item::from_json(&edit(MISSILE_WARNING, f))
            .unwrap_err()
            .to_string()
    };
    let out = [
        warning(|v| {
            v["object"].as_object_mut().unwrap().remove("launch_point");
        }),
        warning(|v| v["object"]["launch_point"]["latitude"] = 91.0.into()),
        warning(|v| v["object"]["impact_point"]["longitude"] = "east".into()),
        warning(|v| v["object"]["track"] = serde_json::json!([])),
        warning(|v| v["object"]["track"][1]["time"] = "2023-12-17T23:30:00Z".into()),
        warning(|v| v["object"]["track"][0]["time"] = "2023-12-17T23:00:00Z".into()),
        warning(|v| v["object"]["track"][0]["altitude_km"] = (-1.0).into()),
        warning(|v| v["object"]["impact_time"] = "2023-12-17T23:59:00Z".into()),
        warning(|v| v["object"]["launched"] = "about 08:24 KST".into()),
        warning(|v| {
            v["object"].as_object_mut().unwrap().remove("impact_time");
        }),
    ];
    expect![[r#"
        object.launch_point: a position is an object with `latitude` and `longitude`
        object.launch_point.latitude: 91 is outside [-90, 90]
        object.impact_point.longitude: a position needs a number `longitude`
        object.track: a warning's track has at least one point
        object.track[1].time: the track is in time order: this point is earlier than point 0
        object.track[0].time: the track is in time order: this point is earlier than the launch
        object.track[0].altitude_km: -1 is outside [0, 100000]
        object.impact_time: the predicted impact is no earlier than the launch and the last point of the track
        object.launched: `about 08:24 KST` is not an RFC 3339 timestamp
        object.impact_time: a warning needs `impact_time`, an RFC 3339 timestamp"#]].assert_eq(&out.join("\n"));
}

#[test]
fn r4b_a_consent_names_an_item_or_a_topic_and_is_revoked_on_or_after_its_first_day() {
    let check = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = serde_json::json!({
            "id": "s", "originator": "KOR", "holder": "USA", "to": "JPN",
            "purpose": "missile-warning", "given": "2023-12-19", "until": "2024-12-31",
        });
        edit(&mut v);
        Consent::from_json(&v.to_string())
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let report = "report--6b1c2f5e-3f0a-4d7e-9a1b-2c3d4e5f6a7b";
    let out = [
        check(&|_| {}),
        check(&|v| {
            v["item"] = report.into();
            v["topic"] = "dprk-missile".into();
        }),
        check(&|v| {
            v["topic"] = "dprk-missile".into();
            v["revoked"] = serde_json::json!({ "from": "2023-12-18" });
        }),
        check(&|v| {
            v["topic"] = "dprk-missile".into();
            v["revoked"] = serde_json::json!({ "from": "2024-01-01", "reason": "x" });
        }),
        check(&|v| v["topic"] = "dprk missile".into()),
    ]
    .map(|r| r.err().unwrap_or_else(|| "accepted".into()))
    .join("\n");
    expect![[r#"
        item: a consent names one item, or (standing, R4b) one topic: exactly one
        item: a consent names one item, or (standing, R4b) one topic: exactly one
        revoked.from: `2023-12-19` is after `2023-12-18`
        revoked.reason: unknown field `reason`, expected `from` or `signature` at line 1 column 132
        topic: `dprk missile` is not a topic or purpose (1 to 128 characters, no spaces) at line 1 column 126"#]].assert_eq(&out);
    assert_eq!(check(&|v| v["topic"] = "dprk-missile".into()), Ok(()));
    assert_eq!(check(&|v| v["item"] = report.into()), Ok(()));
}
