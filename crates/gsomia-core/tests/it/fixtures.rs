//! The model case (SPEC §9), compiled into the test binary, and ways to vary it.

use gsomia_core::{Agreement, AgreementFile, Consent, Date, Item, Scheme, User, World};

pub const KOR_JPN: &str =
    include_str!("../../../../examples/model-case/agreements/kor-jpn-gsomia.json");
pub const TISA: &str = include_str!("../../../../examples/model-case/agreements/tisa.json");
pub const USA_JPN: &str =
    include_str!("../../../../examples/model-case/agreements/usa-jpn-gsomia.json");
pub const USA_KOR: &str =
    include_str!("../../../../examples/model-case/agreements/usa-kor-gsomia.json");
pub const SCHEMES: [&str; 3] = [
    include_str!("../../../../examples/model-case/schemes/JPN.json"),
    include_str!("../../../../examples/model-case/schemes/KOR.json"),
    include_str!("../../../../examples/model-case/schemes/USA.json"),
];
pub const MISSILE_REPORT: &str =
    include_str!("../../../../examples/model-case/items/kor-missile-report.json");
pub const MISSILE_WARNING: &str =
    include_str!("../../../../examples/model-case/items/kor-missile-warning.json");
pub const JPN_ANALYST: &str =
    include_str!("../../../../examples/model-case/users/jpn-analyst.json");

pub fn day(s: &str) -> Date {
    s.parse().unwrap()
}

pub fn agreement(text: &str) -> Agreement {
    Agreement::from_json(text).unwrap()
}

/// The Japan–ROK GSOMIA without the 2019-11-22 suspension and the 2023 withdrawal: the
/// counterfactual of SPEC §9.
pub fn kor_jpn_without_suspension() -> Agreement {
    let mut file: AgreementFile = serde_json::from_str(KOR_JPN).unwrap();
    file.events.truncate(3);
    Agreement::new(file).unwrap()
}

pub fn schemes() -> Vec<Scheme> {
    SCHEMES
        .iter()
        .map(|s| Scheme::from_json(s).unwrap())
        .collect()
}

/// The model-case world, with the Japan–ROK agreement given and extra consents.
pub fn world_with(kor_jpn: Agreement, consents: Vec<Consent>) -> World {
    let agreements = vec![
        kor_jpn,
        agreement(TISA),
        agreement(USA_JPN),
        agreement(USA_KOR),
    ];
    World::new(schemes(), agreements, consents).unwrap()
}

pub fn world() -> World {
    world_with(agreement(KOR_JPN), vec![])
}

pub fn counterfactual() -> World {
    world_with(kor_jpn_without_suspension(), vec![])
}

/// Korea's missile report, with its JSON changed by `edit`.
pub fn report(edit: impl FnOnce(&mut serde_json::Value)) -> Item {
    let mut v: serde_json::Value = serde_json::from_str(MISSILE_REPORT).unwrap();
    edit(&mut v);
    Item::new(serde_json::from_value(v).unwrap()).unwrap()
}

/// The model-case item as Korea holds it.
pub fn missile_report() -> Item {
    report(|_| {})
}

/// The missile report as `party` holds it, marked `level`.
pub fn held_by(party: &str, level: &str) -> Item {
    report(|v| {
        v["marking"] = serde_json::json!({"party": party, "level": level, "originator": "KOR"});
    })
}

/// Japan's analyst, with the JSON changed by `edit`.
pub fn analyst(edit: impl FnOnce(&mut serde_json::Value)) -> User {
    let mut v: serde_json::Value = serde_json::from_str(JPN_ANALYST).unwrap();
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

/// A consent from KOR for `holder` to release the missile report to `to`.
pub fn consent(holder: &str, to: &str, given: &str, until: &str) -> Consent {
    let v = serde_json::json!({
        "id": format!("kor-consent-{holder}-{to}"),
        "originator": "KOR",
        "item": "report--6b1c2f5e-3f0a-4d7e-9a1b-2c3d4e5f6a7b",
        "holder": holder,
        "to": to,
        "purpose": "missile-warning",
        "given": given,
        "until": until,
    });
    Consent::from_json(&v.to_string()).unwrap()
}
