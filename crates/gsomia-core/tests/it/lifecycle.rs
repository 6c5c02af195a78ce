//! The agreement lifecycle, A1–A8, on the model case and on edge cases.

use expect_test::{Expect, expect};
use gsomia_core::{Agreement, EventKind, PartyCode, Problem};

use crate::fixtures::*;

/// One line per day: state, entry into force, term end, termination.
fn check(a: &Agreement, days: &[&str], expect: Expect) {
    let mut out = String::new();
    for d in days {
        let s = a.state_at(day(d));
        let show = |d: Option<gsomia_core::Date>| d.map_or("-".to_owned(), |d| d.to_string());
        out += &format!(
            "{d} {:?} in_force={} entered={} term_ends={} terminates_on={}\n",
            s.state,
            s.state.in_force(),
            show(s.entered_into_force),
            show(s.term_ends),
            show(s.terminates_on)
        );
    }
    expect.assert_eq(&out);
}

fn with_terms(terms: &str, events: &str) -> Result<Agreement, gsomia_core::Invalid> {
    Agreement::from_json(&format!(
        r#"{{"id": "x", "title": "X", "parties": ["AAA", "BBB"],
            "equivalence": [{{"common": "S", "levels": {{"AAA": ["S"], "BBB": ["S"]}}}}],
            "terms": {terms}, "events": {events}}}"#
    ))
}

#[test]
fn a1_a2_a3_a5_model_case_2016_to_2024() {
    check(
        &agreement(KOR_JPN),
        &[
            "2016-11-22",
            "2016-11-23",
            "2017-11-22",
            "2017-11-23",
            "2019-08-22",
            "2019-08-23",
            "2019-11-21",
            "2019-11-22",
            "2019-11-23",
            "2020-11-23",
            "2023-03-20",
            "2023-03-21",
            "2024-11-22",
            "2024-11-23",
        ],
        expect![[r#"
            2016-11-22 Pending in_force=false entered=- term_ends=- terminates_on=-
            2016-11-23 InForce in_force=true entered=2016-11-23 term_ends=2017-11-22 terminates_on=-
            2017-11-22 InForce in_force=true entered=2016-11-23 term_ends=2017-11-22 terminates_on=-
            2017-11-23 InForce in_force=true entered=2016-11-23 term_ends=2018-11-22 terminates_on=-
            2019-08-22 InForce in_force=true entered=2016-11-23 term_ends=2019-11-22 terminates_on=-
            2019-08-23 NoticeGiven in_force=true entered=2016-11-23 term_ends=2019-11-22 terminates_on=2019-11-23
            2019-11-21 NoticeGiven in_force=true entered=2016-11-23 term_ends=2019-11-22 terminates_on=2019-11-23
            2019-11-22 NoticeSuspended in_force=true entered=2016-11-23 term_ends=2019-11-22 terminates_on=-
            2019-11-23 NoticeSuspended in_force=true entered=2016-11-23 term_ends=2020-11-22 terminates_on=-
            2020-11-23 NoticeSuspended in_force=true entered=2016-11-23 term_ends=2021-11-22 terminates_on=-
            2023-03-20 NoticeSuspended in_force=true entered=2016-11-23 term_ends=2023-11-22 terminates_on=-
            2023-03-21 InForce in_force=true entered=2016-11-23 term_ends=2023-11-22 terminates_on=-
            2024-11-22 InForce in_force=true entered=2016-11-23 term_ends=2024-11-22 terminates_on=-
            2024-11-23 InForce in_force=true entered=2016-11-23 term_ends=2025-11-22 terminates_on=-
        "#]],
    );
}

#[test]
fn a3_a4_a6_counterfactual_without_suspension_terminates_2019_11_23() {
    check(
        &kor_jpn_without_suspension(),
        &[
            "2019-08-23",
            "2019-11-22",
            "2019-11-23",
            "2023-03-21",
            "2024-01-01",
        ],
        expect![[r#"
            2019-08-23 NoticeGiven in_force=true entered=2016-11-23 term_ends=2019-11-22 terminates_on=2019-11-23
            2019-11-22 NoticeGiven in_force=true entered=2016-11-23 term_ends=2019-11-22 terminates_on=2019-11-23
            2019-11-23 Terminated in_force=false entered=2016-11-23 term_ends=- terminates_on=2019-11-23
            2023-03-21 Terminated in_force=false entered=2016-11-23 term_ends=- terminates_on=2019-11-23
            2024-01-01 Terminated in_force=false entered=2016-11-23 term_ends=- terminates_on=2019-11-23
        "#]],
    );
}

#[test]
fn a3_notice_deadline_is_2019_08_24_for_the_term_ending_2019_11_22() {
    let base = kor_jpn_without_suspension();
    let kor = "KOR".parse::<PartyCode>().unwrap();
    let mut file = base.file().clone();
    file.events.truncate(2);
    let in_force = Agreement::new(file).unwrap();
    // On the deadline: terminates at the anniversary. A day late: a year later.
    let on_deadline = in_force.with_notice(kor, day("2019-08-24")).unwrap();
    assert_eq!(
        on_deadline.state_at(day("2019-08-24")).terminates_on,
        Some(day("2019-11-23"))
    );
    let late = in_force.with_notice(kor, day("2019-08-25")).unwrap();
    assert_eq!(
        late.state_at(day("2019-08-25")).terminates_on,
        Some(day("2020-11-23"))
    );
    assert!(late.state_at(day("2019-11-23")).state.in_force());
}

#[test]
fn a3b_no_fixed_term_terminates_notice_days_after_the_notice() {
    let a = with_terms(
        r#"{"initial_years": null, "notice_days": 90}"#,
        r#"[{"type": "signed", "by": "AAA", "on": "2014-12-29"},
            {"type": "signed", "by": "BBB", "on": "2014-12-29"},
            {"type": "notice", "by": "BBB", "on": "2020-01-01"}]"#,
    )
    .unwrap();
    check(
        &a,
        &["2019-12-31", "2020-01-01", "2020-03-30", "2020-03-31"],
        expect![[r#"
            2019-12-31 InForce in_force=true entered=2014-12-29 term_ends=- terminates_on=-
            2020-01-01 NoticeGiven in_force=true entered=2014-12-29 term_ends=- terminates_on=2020-03-31
            2020-03-30 NoticeGiven in_force=true entered=2014-12-29 term_ends=- terminates_on=2020-03-31
            2020-03-31 Terminated in_force=false entered=2014-12-29 term_ends=- terminates_on=2020-03-31
        "#]],
    );
}

#[test]
fn a1_multilateral_enters_into_force_on_the_last_signature() {
    let a = Agreement::from_json(&TISA.replace(
        r#""by": "JPN", "on": "2014-12-29""#,
        r#""by": "JPN", "on": "2015-02-01""#,
    ))
    .unwrap();
    check(
        &a,
        &["2014-12-29", "2015-01-31", "2015-02-01"],
        expect![[r#"
            2014-12-29 Pending in_force=false entered=- term_ends=- terminates_on=-
            2015-01-31 Pending in_force=false entered=- term_ends=- terminates_on=-
            2015-02-01 InForce in_force=true entered=2015-02-01 term_ends=- terminates_on=-
        "#]],
    );
}

#[test]
fn a5_resume_immediate_terminates_that_day() {
    let a = with_terms(
        r#"{"resume_effect": "immediate"}"#,
        r#"[{"type": "signed", "by": "AAA", "on": "2016-11-23"},
            {"type": "signed", "by": "BBB", "on": "2016-11-23"},
            {"type": "notice", "by": "AAA", "on": "2019-08-23"},
            {"type": "suspend", "by": "AAA", "on": "2019-11-22"},
            {"type": "resume", "by": "AAA", "on": "2020-06-02"}]"#,
    )
    .unwrap();
    check(
        &a,
        &["2020-06-01", "2020-06-02"],
        expect![[r#"
            2020-06-01 NoticeSuspended in_force=true entered=2016-11-23 term_ends=2020-11-22 terminates_on=-
            2020-06-02 Terminated in_force=false entered=2016-11-23 term_ends=- terminates_on=2020-06-02
        "#]],
    );
}

#[test]
fn a5_resume_next_anniversary_terminates_at_the_next_anniversary() {
    let a = with_terms(
        r#"{"resume_effect": "next_anniversary"}"#,
        r#"[{"type": "signed", "by": "AAA", "on": "2016-11-23"},
            {"type": "signed", "by": "BBB", "on": "2016-11-23"},
            {"type": "notice", "by": "AAA", "on": "2019-08-23"},
            {"type": "suspend", "by": "AAA", "on": "2019-11-22"},
            {"type": "resume", "by": "AAA", "on": "2020-11-22"}]"#,
    )
    .unwrap();
    check(
        &a,
        &["2020-11-22", "2020-11-23"],
        expect![[r#"
            2020-11-22 NoticeGiven in_force=true entered=2016-11-23 term_ends=2020-11-22 terminates_on=2020-11-23
            2020-11-23 Terminated in_force=false entered=2016-11-23 term_ends=- terminates_on=2020-11-23
        "#]],
    );
}

#[test]
fn a2_renewal_years_and_initial_years() {
    let a = with_terms(
        r#"{"initial_years": 3, "renewal_years": 2, "notice_days": 30}"#,
        r#"[{"type": "signed", "by": "AAA", "on": "2010-01-15"},
            {"type": "signed", "by": "BBB", "on": "2010-01-15"}]"#,
    )
    .unwrap();
    check(
        &a,
        &["2013-01-14", "2013-01-15", "2015-01-14", "2015-01-15"],
        expect![[r#"
            2013-01-14 InForce in_force=true entered=2010-01-15 term_ends=2013-01-14 terminates_on=-
            2013-01-15 InForce in_force=true entered=2010-01-15 term_ends=2015-01-14 terminates_on=-
            2015-01-14 InForce in_force=true entered=2010-01-15 term_ends=2015-01-14 terminates_on=-
            2015-01-15 InForce in_force=true entered=2010-01-15 term_ends=2017-01-14 terminates_on=-
        "#]],
    );
}

/// An agreement in force on 29 February: in a common year its anniversary is 1 March, so the
/// term's last day is 28 February (see `gsomia_core::date`).
#[test]
fn a2_anniversary_of_29_february_is_1_march_in_a_common_year() {
    let a = with_terms(
        r#"{"notice_days": 90}"#,
        r#"[{"type": "signed", "by": "AAA", "on": "2016-02-29"},
            {"type": "signed", "by": "BBB", "on": "2016-02-29"},
            {"type": "notice", "by": "AAA", "on": "2018-11-30"}]"#,
    )
    .unwrap();
    check(
        &a,
        &[
            "2016-02-29",
            "2017-02-28",
            "2017-03-01",
            "2018-11-30",
            "2019-02-28",
            "2019-03-01",
            "2020-02-29",
        ],
        expect![[r#"
            2016-02-29 InForce in_force=true entered=2016-02-29 term_ends=2017-02-28 terminates_on=-
            2017-02-28 InForce in_force=true entered=2016-02-29 term_ends=2017-02-28 terminates_on=-
            2017-03-01 InForce in_force=true entered=2016-02-29 term_ends=2018-02-28 terminates_on=-
            2018-11-30 NoticeGiven in_force=true entered=2016-02-29 term_ends=2019-02-28 terminates_on=2019-03-01
            2019-02-28 NoticeGiven in_force=true entered=2016-02-29 term_ends=2019-02-28 terminates_on=2019-03-01
            2019-03-01 Terminated in_force=false entered=2016-02-29 term_ends=- terminates_on=2019-03-01
            2020-02-29 Terminated in_force=false entered=2016-02-29 term_ends=- terminates_on=2019-03-01
        "#]],
    );
    // Leap years keep 29 February: a term that began then ends on 28 February 2021, then the
    // anniversary falls on 29 February 2024 again.
    let a = with_terms(
        "{}",
        r#"[{"type": "signed", "by": "AAA", "on": "2016-02-29"},
                                 {"type": "signed", "by": "BBB", "on": "2016-02-29"}]"#,
    )
    .unwrap();
    check(
        &a,
        &["2020-02-29", "2024-02-28", "2024-02-29"],
        expect![[r#"
            2020-02-29 InForce in_force=true entered=2016-02-29 term_ends=2021-02-28 terminates_on=-
            2024-02-28 InForce in_force=true entered=2016-02-29 term_ends=2024-02-28 terminates_on=-
            2024-02-29 InForce in_force=true entered=2016-02-29 term_ends=2025-02-28 terminates_on=-
        "#]],
    );
}

fn history_error(events: &str) -> String {
    let err = with_terms("{}", events).unwrap_err();
    assert!(matches!(err.problem, Problem::History(_)), "{err}");
    err.to_string()
}

const SIGNED: &str = r#"{"type": "signed", "by": "AAA", "on": "2016-11-23"},
                        {"type": "signed", "by": "BBB", "on": "2016-11-23"}"#;

#[test]
fn a7_refuses_contradictory_histories_naming_the_event() {
    let cases = [
        format!(r#"[{SIGNED}, {{"type": "withdraw", "by": "AAA", "on": "2017-01-01"}}]"#),
        format!(r#"[{SIGNED}, {{"type": "signed", "by": "AAA", "on": "2017-01-01"}}]"#),
        r#"[{"type": "signed", "by": "AAA", "on": "2016-11-23"},
            {"type": "notice", "by": "AAA", "on": "2016-12-01"}]"#
            .to_owned(),
        format!(r#"[{SIGNED}, {{"type": "notice", "by": "AAA", "on": "2016-11-22"}}]"#),
        format!(
            r#"[{SIGNED}, {{"type": "notice", "by": "AAA", "on": "2017-01-01"}},
                {{"type": "suspend", "by": "BBB", "on": "2017-02-01"}}]"#
        ),
        format!(
            r#"[{SIGNED}, {{"type": "notice", "by": "AAA", "on": "2017-01-01"}},
                {{"type": "notice", "by": "BBB", "on": "2017-02-01"}}]"#
        ),
        format!(
            r#"[{SIGNED}, {{"type": "notice", "by": "AAA", "on": "2017-01-01"}},
                {{"type": "resume", "by": "AAA", "on": "2017-02-01"}}]"#
        ),
        format!(
            r#"[{SIGNED}, {{"type": "notice", "by": "AAA", "on": "2017-01-01"}},
                {{"type": "suspend", "by": "AAA", "on": "2017-02-01"}},
                {{"type": "suspend", "by": "AAA", "on": "2017-02-02"}}]"#
        ),
        format!(
            r#"[{SIGNED}, {{"type": "notice", "by": "AAA", "on": "2017-01-01"}},
                {{"type": "withdraw", "by": "AAA", "on": "2017-11-23"}}]"#
        ),
        format!(r#"[{SIGNED}, {{"type": "notice", "by": "CCC", "on": "2017-01-01"}}]"#),
    ];
    let out: String = cases.iter().map(|c| history_error(c) + "\n").collect();
    expect![[r#"
        events[2] (withdraw by AAA on 2017-01-01): a withdrawal needs a standing notice, and none stands (A7)
        events[2] (signed by AAA on 2017-01-01): AAA has already signed (A7)
        events[1] (notice by AAA on 2016-12-01): a notice before the agreement entered into force: not every party has signed (A1, A7)
        events[2] (notice by AAA on 2016-11-22): dated before the event before it (2016-11-23): events are append-only, in date order (A7)
        events[3] (suspend by BBB on 2017-02-01): only AAA, who gave the notice, can make its suspension (A7)
        events[3] (notice by BBB on 2017-02-01): a notice by AAA of 2017-01-01 already stands (A7)
        events[3] (resume by AAA on 2017-02-01): a resumption needs a suspended notice; the notice stands unsuspended (A7)
        events[4] (suspend by AAA on 2017-02-02): the notice is already suspended (A7)
        events[3] (withdraw by AAA on 2017-11-23): the agreement terminated on 2017-11-23; no event changes it (A6)
        events[2] (notice by CCC on 2017-01-01): CCC is not a party to this agreement (A7)
    "#]]
    .assert_eq(&out);
}

#[test]
fn a6_no_event_after_termination_and_a_new_notice_is_refused_then() {
    let a = kor_jpn_without_suspension();
    let jpn = "JPN".parse::<PartyCode>().unwrap();
    let err = a.with_notice(jpn, day("2024-01-01")).unwrap_err();
    assert_eq!(
        err.problem.to_string(),
        "the agreement terminated on 2019-11-23; no event changes it (A6)"
    );
    let event = gsomia_core::Event {
        kind: EventKind::Withdraw,
        by: "KOR".parse().unwrap(),
        on: day("2019-11-23"),
        note: None,
    };
    assert!(a.with_event(event).is_err());
}

#[test]
fn a8_notice_what_if_leaves_the_agreement_unchanged() {
    let a = agreement(KOR_JPN);
    let jpn = "JPN".parse::<PartyCode>().unwrap();
    let what_if = a.with_notice(jpn, day("2024-09-01")).unwrap();
    assert_eq!(
        what_if.state_at(day("2024-09-01")).terminates_on,
        Some(day("2025-11-23"))
    );
    assert_eq!(a.state_at(day("2024-09-01")).terminates_on, None);
    assert_eq!(a.events().len(), 5);
}

#[test]
fn timeline_of_the_model_case_reads_in_order() {
    let changes = agreement(KOR_JPN).timeline(day("2024-01-01"));
    let lines: Vec<String> = changes
        .iter()
        .map(|c| format!("{} {:?} {:?}", c.on, c.what, c.status.state))
        .collect();
    expect![[r#"
        2016-11-23 Signed { enters_into_force: false } Pending
        2016-11-23 Signed { enters_into_force: true } InForce
        2017-11-23 Renewed InForce
        2018-11-23 Renewed InForce
        2019-08-23 Notice { term_ends: Some(2019-11-22) } NoticeGiven
        2019-11-22 Suspended NoticeSuspended
        2019-11-23 Renewed NoticeSuspended
        2020-11-23 Renewed NoticeSuspended
        2021-11-23 Renewed NoticeSuspended
        2022-11-23 Renewed NoticeSuspended
        2023-03-21 Withdrawn InForce
        2023-11-23 Renewed InForce
    "#]]
    .assert_eq(&(lines.join("\n") + "\n"));
    let counterfactual = kor_jpn_without_suspension().timeline(day("2024-01-01"));
    let last = counterfactual.last().unwrap();
    assert_eq!(
        (last.on, last.what),
        (day("2019-11-23"), gsomia_core::agreement::What::Terminated)
    );
}
