//! Who may take which action (`gsomia_core::policy`), as a table; reclassification's clearance
//! rule (M4) and the hub's floor (H3).

use gsomia_core::reclassification::{check_claimed_level, may_reclassify};
use gsomia_core::{Action, PartyCode, User, permit};

use crate::fixtures::*;

fn user(roles: &[&str], clearance: &str) -> User {
    serde_json::from_value(serde_json::json!({
        "id": "u", "party": "KOR", "roles": roles, "clearance": clearance,
        "duties": ["missile-warning"],
    }))
    .unwrap()
}

/// Each action against each single role: `+` allowed, else the rule a refusal names.
#[test]
fn policy_table_every_action_and_role() {
    use Action::*;
    let roles = ["analyst", "security_officer", "authority", "admin"];
    #[rustfmt::skip]
    let table: &[(Action, [&str; 5])] = &[
        //                       none  analyst officer authority admin
        (Read,            ["+",  "+",  "+",  "+",  "+"]),
        (List,            ["+",  "+",  "+",  "+",  "+"]),
        (Publish,         ["P1", "+",  "+",  "+",  "P1"]),
        (Derive,          ["P1", "+",  "+",  "+",  "P1"]),
        (ReportIncident,  ["+",  "+",  "+",  "+",  "+"]),
        (Release,         ["R7", "R7", "+",  "+",  "R7"]),
        (ReleaseRules,    ["R7", "R7", "+",  "+",  "R7"]),
        (Destroy,         ["P5", "P5", "+",  "+",  "P5"]),
        (Reclassify,      ["M4", "M4", "M4", "+",  "M4"]),
        (AgreementEvent,  ["A7", "A7", "A7", "+",  "A7"]),
        (AskConsent,      ["R4", "R4", "+",  "+",  "R4"]),
        (ConsentRequests, ["R4", "R4", "+",  "+",  "R4"]),
        (AnswerConsent,   ["R4", "R4", "R4", "+",  "R4"]),
        (ManageIncidents, ["P6", "P6", "+",  "+",  "P6"]),
        (Audit,           ["P7", "P7", "+",  "+",  "+"]),
        (Log,             ["P7", "P7", "+",  "+",  "+"]),
        (Status,          ["P7", "P7", "+",  "+",  "+"]),
        (Metrics,         ["P7", "P7", "P7", "P7", "+"]),
    ];
    for (action, expected) in table {
        let mut got = vec![];
        let none: [&str; 0] = [];
        got.push(permit(&user(&none, "III"), *action));
        for r in roles {
            got.push(permit(&user(&[r], "III"), *action));
        }
        let got: Vec<String> = got
            .into_iter()
            .map(|d| d.map_or_else(|r| r.rule.id().to_owned(), |()| "+".to_owned()))
            .collect();
        assert_eq!(got, expected, "{action:?}");
    }
    // A refusal names what is needed, for a person.
    let refusal = permit(&user(&["analyst"], "III"), Release).unwrap_err();
    assert_eq!(
        refusal.message,
        "u may not release items (no duty to share): that needs the role authority or \
         security_officer"
    );
}

#[test]
fn m4_the_officer_who_reclassifies_is_cleared_for_both_levels() {
    let w = world();
    let level = |l: &str| l.parse().unwrap();
    let cleared_iii = user(&["authority"], "III");
    // Finding 5: an authority cleared for III may not take a level-I item to III (and read it).
    let refusal = may_reclassify(&w, &cleared_iii, &level("I"), &level("III")).unwrap_err();
    assert_eq!(refusal.rule.id(), "M4");
    assert!(may_reclassify(&w, &cleared_iii, &level("III"), &level("I")).is_err());
    assert!(may_reclassify(&w, &cleared_iii, &level("III"), &level("III")).is_ok());
    let cleared_i = user(&["authority"], "I");
    assert!(may_reclassify(&w, &cleared_i, &level("I"), &level("III")).is_ok());
    // Clearance without the role is not enough.
    let officer = user(&["security_officer"], "I");
    assert_eq!(
        may_reclassify(&w, &officer, &level("I"), &level("II"))
            .unwrap_err()
            .rule
            .id(),
        "M4"
    );
}

/// KOR's level-II report as the US holds it, marked `level`, then sent on to JPN under TISA.
fn through_the_hub(level: &str) -> gsomia_core::Item {
    report(|v| {
        v["marking"] = serde_json::json!({"party": "USA", "level": level, "originator": "KOR"});
        v["custody"] = serde_json::json!([{
            "from": "KOR", "to": "USA", "agreement": "usa-kor-gsomia", "level": "SECRET",
            "at": "2019-11-23T00:00:00Z"
        }]);
    })
}

#[test]
fn h3_a_hub_can_not_lower_a_level() {
    let w = world();
    let jpn: PartyCode = "JPN".parse().unwrap();
    let level = |l: &str| l.parse().unwrap();
    // Honest: the US marks KOR's II as SECRET; JPN would mark it GOKUHI.
    assert!(check_claimed_level(&w, &through_the_hub("SECRET"), jpn, &level("GOKUHI")).is_ok());
    // Finding 13: the hub claims CONFIDENTIAL; the custody chain says SECRET.
    let lowered =
        check_claimed_level(&w, &through_the_hub("CONFIDENTIAL"), jpn, &level("HI")).unwrap_err();
    assert_eq!(lowered.rule.id(), "H3");
    assert!(
        lowered.message.contains("CONFIDENTIAL"),
        "{}",
        lowered.message
    );
    // Without a custody chain to follow, the direct table between originator and receiver
    // still sets the floor.
    let no_chain = report(|v| {
        v["marking"] =
            serde_json::json!({"party": "USA", "level": "CONFIDENTIAL", "originator": "KOR"});
    });
    let floor = check_claimed_level(&w, &no_chain, jpn, &level("HI")).unwrap_err();
    assert_eq!(floor.rule.id(), "H3");
    // A higher level than the floor is not refused.
    assert!(check_claimed_level(&w, &no_chain, jpn, &level("KIMITSU")).is_ok());
}
