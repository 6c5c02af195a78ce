//! The offline commands (SPEC §10): questions answered from files, with no node running.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};
use gsomia_core::{
    Agreement, Consent, Date, Decision, Invalid, Item, PartyCode, Scheme, Status, User, World,
    WorldError,
};
use gsomia_core::{Marking, Rule};
use serde::Serialize;

/// `gsomia agreement …`
#[derive(Subcommand)]
pub enum AgreementCommand {
    /// Print the state of an agreement on a day, as one JSON object.
    ///
    /// The state on day D is the state after every event dated on or before D and every
    /// termination that takes effect on or before D (A8).
    ///
    /// Example:
    ///   gsomia agreement state examples/model-case/agreements/kor-jpn-gsomia.json --at 2019-09-01
    #[command(verbatim_doc_comment)]
    State {
        /// The agreement file (JSON, as in examples/model-case/agreements/).
        file: PathBuf,
        /// The day (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        at: Date,
    },
    /// Print what giving notice of termination on a day would do, as one JSON object.
    ///
    /// Takes the history up to and including DATE, adds a notice by PARTY that day, and prints
    /// the state on DATE, with the day the agreement would terminate (A3, A3b). A notice that
    /// contradicts the history (one already stands, the agreement has terminated) is refused
    /// with exit code 2.
    ///
    /// Example: what if Japan gave notice on 2024-09-01, a week after that term's deadline?
    ///   gsomia agreement notice examples/model-case/agreements/kor-jpn-gsomia.json --by JPN --on 2024-09-01
    #[command(verbatim_doc_comment)]
    Notice {
        /// The agreement file.
        file: PathBuf,
        /// The party giving notice.
        #[arg(long, value_name = "PARTY")]
        by: PartyCode,
        /// The day of the notice (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        on: Date,
    },
    /// Print, for a person, every change of an agreement's state with its date and cause.
    ///
    /// Example:
    ///   gsomia agreement timeline examples/model-case/agreements/kor-jpn-gsomia.json --until 2024-01-01
    #[command(verbatim_doc_comment)]
    Timeline {
        /// The agreement file.
        file: PathBuf,
        /// The last day to show (YYYY-MM-DD); today if absent.
        #[arg(long, value_name = "DATE")]
        until: Option<Date>,
    },
    /// Import an agreement file into a node (replacing one with the same id).
    ///
    /// The parties it names must be known to the node (`gsomia party import`).
    ///
    /// Example:
    ///   gsomia agreement import --data kor examples/model-case/agreements/kor-jpn-gsomia.json
    #[command(verbatim_doc_comment)]
    Import {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The agreement file.
        file: PathBuf,
    },
}

/// `gsomia check …`
#[derive(Subcommand)]
pub enum CheckCommand {
    /// May the holder of an item release it to a party on a day? (R1–R5)
    ///
    /// The holder is the party of the item's `marking`, or its originator if it has none.
    /// Prints {"decision": "allow", "agreement", "marking": {"party", "level", "originator"}}
    /// and exits 0, or {"decision": "deny", "rule", "message"} and exits 1.
    ///
    /// Example: Korea's missile report to Japan, before and after the 2019 notice would have
    /// taken effect without the suspension:
    ///   gsomia check release --world examples/model-case \
    ///     --item examples/model-case/items/kor-missile-report.json --to JPN --at 2019-08-01
    #[command(verbatim_doc_comment)]
    Release(ReleaseArgs),
    /// May a person read an item on a day? (M2, P1, P2)
    ///
    /// The item is read at the user's party: an item from another party is first marked as
    /// that party would mark it under the agreement between the two, whether or not that
    /// agreement is still in force (P3). Prints {"decision": "allow"} and exits 0, or
    /// {"decision": "deny", "rule", "message"} and exits 1.
    ///
    /// Example:
    ///   gsomia check read --world examples/model-case \
    ///     --item examples/model-case/items/kor-missile-report.json \
    ///     --user examples/model-case/users/jpn-analyst.json --at 2024-01-01
    #[command(verbatim_doc_comment)]
    Read(ReadArgs),
}

/// Arguments of `gsomia check release`.
#[derive(Args)]
pub struct ReleaseArgs {
    /// The world: a folder with schemes/*.json, agreements/*.json and optionally consents/*.json.
    #[arg(long, value_name = "DIR")]
    world: PathBuf,
    /// The item file (label, object, and optionally the holder's marking and custody).
    #[arg(long, value_name = "FILE")]
    item: PathBuf,
    /// The recipient party.
    #[arg(long, value_name = "PARTY")]
    to: PartyCode,
    /// The day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    at: Date,
}

/// Arguments of `gsomia check read`.
#[derive(Args)]
pub struct ReadArgs {
    /// The world folder.
    #[arg(long, value_name = "DIR")]
    world: PathBuf,
    /// The item file.
    #[arg(long, value_name = "FILE")]
    item: PathBuf,
    /// The user file.
    #[arg(long, value_name = "FILE")]
    user: PathBuf,
    /// The day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    at: Date,
}

pub fn agreement(command: AgreementCommand) -> Result<ExitCode> {
    match command {
        AgreementCommand::State { file, at } => {
            let a = load(&file, Agreement::from_json)?;
            print_json(&state_json(&a, at, a.state_at(at)));
        }
        AgreementCommand::Notice { file, by, on } => {
            let a = load(&file, Agreement::from_json)?;
            let after = a.with_notice(by, on).map_err(|e| {
                anyhow!(
                    "{}: a notice by {by} on {on}: {}",
                    file.display(),
                    e.problem
                )
            })?;
            print_json(&state_json(&after, on, after.state_at(on)));
        }
        AgreementCommand::Timeline { file, until } => {
            let a = load(&file, Agreement::from_json)?;
            print!("{}", timeline(&a, until.unwrap_or_else(today)));
        }
        AgreementCommand::Import { data, file } => {
            return crate::admin::import_agreement(&data, &file);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn check(command: CheckCommand) -> Result<ExitCode> {
    let (world_dir, item_path) = match &command {
        CheckCommand::Release(a) => (&a.world, &a.item),
        CheckCommand::Read(a) => (&a.world, &a.item),
    };
    let world = load_world(world_dir)?;
    let item = load(item_path, Item::from_json)?;
    world.check_item(&item).map_err(|e| at(item_path, e))?;
    let verdict = match command {
        CheckCommand::Release(a) => {
            world
                .check_party(a.to)
                .map_err(|e| anyhow!("--to: {}", e.problem))?;
            match gsomia_core::release(&world, &item, a.to, a.at) {
                Decision::Allow(r) => Verdict::Allow {
                    agreement: Some(r.agreement.id().as_str()),
                    marking: Some(r.marking),
                },
                Decision::Deny(r) => Verdict::Deny {
                    rule: r.rule,
                    message: r.message,
                },
            }
        }
        CheckCommand::Read(a) => {
            let user = load(&a.user, User::from_json)?;
            world.check_user(&user).map_err(|e| at(&a.user, e))?;
            match gsomia_core::read(&world, &item, &user, a.at) {
                Decision::Allow(_) => Verdict::Allow {
                    agreement: None,
                    marking: None,
                },
                Decision::Deny(r) => Verdict::Deny {
                    rule: r.rule,
                    message: r.message,
                },
            }
        }
    };
    print_json(&verdict);
    Ok(match verdict {
        Verdict::Allow { .. } => ExitCode::SUCCESS,
        Verdict::Deny { .. } => ExitCode::from(1),
    })
}

/// The output of `check release` and `check read` (SPEC §10), in that key order.
#[derive(Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
enum Verdict<'a> {
    Allow {
        #[serde(skip_serializing_if = "Option::is_none")]
        agreement: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        marking: Option<Marking>,
    },
    Deny {
        rule: Rule,
        message: String,
    },
}

/// The output of `agreement state` and `agreement notice` (SPEC §10), in that key order.
#[derive(Serialize)]
struct StateJson<'a> {
    agreement: &'a str,
    at: Date,
    state: gsomia_core::State,
    in_force: bool,
    entered_into_force: Option<Date>,
    term_ends: Option<Date>,
    terminates_on: Option<Date>,
    /// The amendments in force that day (A9), when there are any, and the terms they give.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    amendments_in_force: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    terms_in_force: Option<serde_json::Value>,
}

fn state_json(a: &Agreement, at: Date, s: Status) -> StateJson<'_> {
    StateJson {
        agreement: a.id().as_str(),
        at,
        state: s.state,
        in_force: s.state.in_force(),
        entered_into_force: s.entered_into_force,
        term_ends: s.term_ends,
        terminates_on: s.terminates_on,
        amendments_in_force: a
            .amendments()
            .filter(|(_, from)| from.is_some_and(|d| d <= at))
            .map(|(am, _)| am.id.as_str())
            .collect(),
        terms_in_force: a
            .amendments()
            .any(|(_, from)| from.is_some_and(|d| d <= at))
            .then(|| {
                serde_json::json!({
                    "equivalence": a.equivalence_at(at).rows(),
                    "scope": a.scope_at(at),
                })
            }),
    }
}

fn print_json<T: Serialize>(value: &T) {
    // INVARIANT: these values hold only strings, booleans and maps, which always serialise.
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    println!("{text}");
}

fn today() -> Date {
    let now = time::OffsetDateTime::now_utc();
    Date::new(now.year(), now.month() as u8, now.day()).unwrap_or_else(|| {
        // INVARIANT: the clock is between years 1000 and 8999.
        "2000-01-01".parse().unwrap_or_else(|_| unreachable!())
    })
}

fn at(path: &Path, invalid: Invalid) -> anyhow::Error {
    anyhow!("{}: {invalid}", path.display())
}

fn load<T>(path: &Path, parse: impl FnOnce(&str) -> Result<T, Invalid>) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: can not read", path.display()))?;
    parse(&text).map_err(|e| at(path, e))
}

/// Reads every `*.json` of `dir/sub`, sorted by name; a missing optional folder is empty.
fn load_all<T>(
    dir: &Path,
    sub: &str,
    required: bool,
    parse: impl Fn(&str) -> Result<T, Invalid>,
) -> Result<(Vec<PathBuf>, Vec<T>)> {
    let folder = dir.join(sub);
    if !folder.is_dir() {
        if required {
            return Err(anyhow!(
                "{}: not a folder (a world needs {sub}/)",
                folder.display()
            ));
        }
        return Ok((vec![], vec![]));
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&folder)
        .with_context(|| format!("{}: can not read", folder.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let values = paths
        .iter()
        .map(|p| load(p, &parse))
        .collect::<Result<Vec<_>>>()?;
    Ok((paths, values))
}

fn load_world(dir: &Path) -> Result<World> {
    let (scheme_paths, schemes) = load_all(dir, "schemes", true, Scheme::from_json)?;
    let (agreement_paths, agreements) = load_all(dir, "agreements", true, Agreement::from_json)?;
    let (consent_paths, consents) = load_all(dir, "consents", false, Consent::from_json)?;
    World::new(schemes, agreements, consents).map_err(|e| match e {
        WorldError::Scheme { index, invalid } => at(&scheme_paths[index], invalid),
        WorldError::Agreement { index, invalid } => at(&agreement_paths[index], invalid),
        WorldError::Consent { index, invalid } => at(&consent_paths[index], invalid),
    })
}

/// The timeline of an agreement, for a person.
fn timeline(a: &Agreement, until: Date) -> String {
    let t = a.terms();
    let mut out = String::new();
    let years = |n: u32| {
        if n == 1 {
            "1 year".to_owned()
        } else {
            format!("{n} years")
        }
    };
    let _ = writeln!(out, "{}: {}", a.id(), a.title());
    let parties: Vec<_> = a.parties().iter().map(|p| p.as_str()).collect();
    let _ = write!(out, "Parties {}", parties.join(", "));
    if let Some(hub) = a.hub() {
        let _ = write!(out, ", through the hub {hub}");
    }
    let _ = write!(out, ". ");
    match t.initial_years {
        Some(y) => {
            let _ = write!(
                out,
                "First term {}, renewed by {}; ",
                years(y),
                years(t.renewal_years)
            );
        }
        None => {
            let _ = write!(out, "No fixed term; ");
        }
    }
    let _ = writeln!(out, "{} days' notice of termination.", t.notice_days);
    if let Some(scope) = a.scope() {
        let _ = writeln!(out, "Limited to: {}.", scope.join(", "));
    }
    let _ = writeln!(out);
    for c in a.timeline(until) {
        let what = c.sentence(t);
        let note = c.note.map(|n| format!(" \"{n}\"")).unwrap_or_default();
        let _ = writeln!(out, "{}  {what}{note}", c.on);
        let mut status = format!("{}", c.status.state);
        if let Some(d) = c.status.term_ends {
            let _ = write!(status, "; term ends {d}");
        }
        if let Some(d) = c.status.terminates_on {
            let verb = if c.status.state == gsomia_core::State::Terminated {
                "terminated on"
            } else {
                "terminates on"
            };
            let _ = write!(status, "; {verb} {d}");
        }
        let _ = writeln!(out, "            → {status}");
    }
    out
}
