//! gsomia's read decision (P1, M2, P2) against Cedar's evaluation of the same rule, in one run.
//!
//! The case is the model case's read benchmark (`cargo bench -p gsomia-core --bench
//! decisions`): Japan's analyst reads Korea's missile report as Japan holds it (allow); and the
//! same analyst with a clearance below the item's level (deny). The Cedar policy is the rule as
//! a Cedar user would write it, with what Cedar can not look up itself (the ranks of the
//! clearance and of the level in Japan's scheme, whether the originator consented to
//! contractors) computed by the caller into the entities, as Cedar expects its caller to load
//! them: that is work gsomia's decision does and Cedar's is spared, so the comparison favours
//! Cedar. Three Cedar figures: `is_authorized` alone with the request and entities built once
//! (Cedar at its best), and with the request and the two entities built for each decision (as a
//! node would, its user and item coming with the request).

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::str::FromStr;
use std::time::Instant;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, RestrictedExpression,
};
use gsomia_core::{Agreement, Item, Scheme, User, World, read};
use serde_json::json;

const M: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/model-case");

/// The read rule (docs/RULES.md P1, M2, P2) as a Cedar policy.
const POLICY: &str = r#"
permit (principal, action == Action::"read", resource)
when {
    principal.party == resource.holder &&
    principal.clearance_rank >= resource.level_rank &&
    (principal.duties.contains(resource.purpose) || principal.duties.containsAny(resource.topics)) &&
    (principal.kind != "contractor" || resource.contractors_consented)
};
"#;

fn file(path: &str) -> String {
    std::fs::read_to_string(format!("{M}/{path}")).expect("a model-case file")
}

fn uid(kind: &str, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(
        EntityTypeName::from_str(kind).expect("a type name"),
        EntityId::new(id),
    )
}

fn strings<'a>(values: impl IntoIterator<Item = &'a str>) -> RestrictedExpression {
    RestrictedExpression::new_set(
        values
            .into_iter()
            .map(|s| RestrictedExpression::new_string(s.to_owned())),
    )
}

/// The request and the entities of a read by `user` (clearance of rank `clearance_rank`) of
/// `item` as `holder` holds it at rank `level_rank`.
fn cedar_request(
    user: &User,
    clearance_rank: i64,
    item: &Item,
    holder: &str,
    level_rank: i64,
) -> (Request, Entities) {
    let principal = uid("User", &user.id);
    let resource = uid("Copy", &format!("{}@{holder}", item.id()));
    let label = item.label();
    let user_attrs = HashMap::from([
        (
            "party".to_owned(),
            RestrictedExpression::new_string(user.party.to_string()),
        ),
        (
            "clearance_rank".to_owned(),
            RestrictedExpression::new_long(clearance_rank),
        ),
        (
            "duties".to_owned(),
            strings(user.duties.iter().map(|d| d.as_str())),
        ),
        (
            "kind".to_owned(),
            RestrictedExpression::new_string("official".to_owned()),
        ),
    ]);
    let copy_attrs = HashMap::from([
        (
            "holder".to_owned(),
            RestrictedExpression::new_string(holder.to_owned()),
        ),
        (
            "level_rank".to_owned(),
            RestrictedExpression::new_long(level_rank),
        ),
        (
            "purpose".to_owned(),
            RestrictedExpression::new_string(label.purpose.to_string()),
        ),
        (
            "topics".to_owned(),
            strings(label.topics.iter().map(|t| t.as_str())),
        ),
        (
            "contractors_consented".to_owned(),
            RestrictedExpression::new_bool(false),
        ),
    ]);
    let entities = Entities::from_entities(
        [
            Entity::new(principal.clone(), user_attrs, HashSet::new()).expect("the user"),
            Entity::new(resource.clone(), copy_attrs, HashSet::new()).expect("the copy"),
        ],
        None,
    )
    .expect("the entities");
    let request = Request::new(
        principal,
        uid("Action", "read"),
        resource,
        Context::empty(),
        None,
    )
    .expect("the request");
    (request, entities)
}

/// Nanoseconds per call of `f`: the median of 15 rounds of `n` calls.
fn time(n: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..n {
        f();
    }
    let mut rounds: Vec<f64> = (0..15)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..n {
                f();
            }
            started.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[7]
}

fn main() {
    let schemes = ["JPN", "KOR", "USA"]
        .map(|p| Scheme::from_json(&file(&format!("schemes/{p}.json"))).expect("a scheme"));
    let agreements = ["kor-jpn-gsomia", "tisa", "usa-jpn-gsomia", "usa-kor-gsomia"].map(|a| {
        Agreement::from_json(&file(&format!("agreements/{a}.json"))).expect("an agreement")
    });
    let world = World::new(schemes.to_vec(), agreements.to_vec(), vec![]).expect("the world");
    let mut report: serde_json::Value =
        serde_json::from_str(&file("items/kor-missile-report.json")).expect("the report");
    report["marking"] = json!({"party": "JPN", "level": "GOKUHI", "originator": "KOR"});
    let held = Item::from_json(&report.to_string()).expect("the item");
    let sato = User::from_json(&file("users/jpn-analyst.json")).expect("the analyst");
    let mut low: serde_json::Value =
        serde_json::from_str(&file("users/jpn-analyst.json")).expect("the analyst");
    low["clearance"] = "HI".into();
    let low = User::from_json(&low.to_string()).expect("the analyst");
    let day = "2020-06-01".parse().expect("a day");
    let jpn = world
        .scheme("JPN".parse().expect("JPN"))
        .expect("Japan's scheme");
    let rank = |l: &str| i64::from(jpn.rank(l).expect("a level of Japan's"));

    let policies: PolicySet = POLICY.parse().expect("the policy");
    let authorizer = Authorizer::new();
    println!(
        "| case | gsomia `read` ns | Cedar `is_authorized` ns | ratio | Cedar, request and entities built each time, ns | ratio |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (case, user, allow) in [
        (
            "allow: Japan's analyst, Korea's report as Japan holds it",
            &sato,
            true,
        ),
        ("deny: the same analyst cleared HI (P1)", &low, false),
    ] {
        assert_eq!(read(&world, &held, user, day).is_allow(), allow);
        let clearance = rank(user.clearance.as_str());
        let (request, entities) = cedar_request(user, clearance, &held, "JPN", rank("GOKUHI"));
        let expected = if allow {
            Decision::Allow
        } else {
            Decision::Deny
        };
        let answer = authorizer.is_authorized(&request, &policies, &entities);
        assert_eq!(answer.decision(), expected);
        assert!(answer.diagnostics().errors().next().is_none());

        let ours = time(1_000_000, || {
            black_box(read(
                black_box(&world),
                black_box(&held),
                black_box(user),
                black_box(day),
            ));
        });
        let cedar = time(20_000, || {
            black_box(authorizer.is_authorized(
                black_box(&request),
                black_box(&policies),
                black_box(&entities),
            ));
        });
        let cedar_built = time(20_000, || {
            let clearance = rank(black_box(user).clearance.as_str());
            let (request, entities) =
                cedar_request(user, clearance, black_box(&held), "JPN", rank("GOKUHI"));
            black_box(authorizer.is_authorized(&request, &policies, &entities));
        });
        println!(
            "| {case} | {ours:.1} | {cedar:.0} | {:.0}× | {cedar_built:.0} | {:.0}× |",
            cedar / ours,
            cedar_built / ours
        );
    }
}
