//! Agreements and their lifecycle (SPEC §3, A1–A8).
//!
//! An agreement's history is a list of signed events (`signed`, `notice`, `suspend`, `resume`,
//! `withdraw`). [`Agreement::new`] checks the history once (A7) and compiles it into phases, so
//! that [`Agreement::state_at`] is a pure, infallible function of the instant (A8): a binary
//! search and a little calendar arithmetic.
//!
//! Choices where SPEC is silent, all enforced here:
//! - Events must be listed in date order; several may share a day and apply in list order.
//! - Only one notice stands at a time; only the party that gave it suspends, resumes or
//!   withdraws it.
//! - A resumed notice with `next_anniversary` effect terminates at the first anniversary of entry
//!   into force strictly after the day of resumption (for an agreement with no fixed term too).
//! - A state with a termination date, `terminated` included, reports it in `terminates_on`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::date::Date;
use crate::equivalence::{Equivalence, Row};
pub use crate::history::HistoryError;
use crate::input::{Invalid, Problem};
use crate::party::PartyCode;

/// A checked agreement id: 1 to 128 ASCII letters, digits, `.`, `_` or `-`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgreementId(Box<str>);

/// Why a string is not an agreement id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an agreement id (1 to 128 ASCII letters, digits, `.`, `_` or `-`)")]
pub struct BadAgreementId(pub String);

impl AgreementId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AgreementId {
    type Err = BadAgreementId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=128).contains(&s.len())
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
        if ok {
            Ok(AgreementId(s.into()))
        } else {
            Err(BadAgreementId(s.to_owned()))
        }
    }
}

impl fmt::Display for AgreementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AgreementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for AgreementId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AgreementId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a resumed notice does (A5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResumeEffect {
    /// The agreement terminates on the day the notice is resumed.
    #[default]
    Immediate,
    /// The agreement terminates at the next anniversary of entry into force.
    NextAnniversary,
}

/// The terms of an agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    /// Years of the first term; `null` for no fixed term (A3b). Absent means 1.
    #[serde(default = "one", deserialize_with = "nullable")]
    pub initial_years: Option<u32>,
    /// Years each renewal adds (A2). Absent means 1.
    #[serde(default = "one_u32")]
    pub renewal_years: u32,
    /// Days of notice of termination (A3). Absent means 90.
    #[serde(default = "ninety")]
    pub notice_days: u32,
    /// What a resumed notice does (A5). Absent means `immediate`.
    #[serde(default)]
    pub resume_effect: ResumeEffect,
    /// Whether destruction is reported to the originator (P5).
    #[serde(default)]
    pub report_destruction: bool,
    /// Whether release needs the recipient party's signed assurance first (S1). Written only
    /// when true, so that agreements signed before it existed keep their signed form.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requires_assurance: bool,
    /// The most days since a contractor facility's last inspection for its contractors to read
    /// the partner's items (C1); no limit if absent. Written only when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inspection_days: Option<u32>,
    /// The purposes the agreement allows, if it limits them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purposes: Option<Vec<String>>,
}

fn one() -> Option<u32> {
    Some(1)
}
fn one_u32() -> u32 {
    1
}
fn ninety() -> u32 {
    90
}
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Option::<u32>::deserialize(d)
}

/// The kind of an agreement event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A party signs; the last signature brings the agreement into force (A1).
    Signed,
    /// A party gives written notice of termination (A3).
    Notice,
    /// The party that gave notice suspends it (A5).
    Suspend,
    /// The party that suspended its notice resumes it (A5).
    Resume,
    /// The party that gave notice withdraws it (A5).
    Withdraw,
}

impl EventKind {
    fn noun(self) -> &'static str {
        match self {
            EventKind::Signed => "signature",
            EventKind::Notice => "notice",
            EventKind::Suspend => "suspension",
            EventKind::Resume => "resumption",
            EventKind::Withdraw => "withdrawal",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventKind::Signed => "signed",
            EventKind::Notice => "notice",
            EventKind::Suspend => "suspend",
            EventKind::Resume => "resume",
            EventKind::Withdraw => "withdraw",
        })
    }
}

/// One event of an agreement's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The party that did it.
    pub by: PartyCode,
    /// The day it took effect.
    pub on: Date,
    /// Free text for people (`conditionally suspended`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An agreement file as written (see `model-case/agreements/`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementFile {
    /// The agreement's id.
    pub id: AgreementId,
    /// Its title.
    pub title: String,
    /// Its parties, two or more.
    pub parties: Vec<PartyCode>,
    /// The hub of a hub arrangement (TISA): members other than the hub share only through it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<PartyCode>,
    /// The topics the agreement is limited to (R3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    /// The equivalence table.
    pub equivalence: Vec<Row>,
    /// The terms.
    pub terms: Terms,
    /// The history, in date order.
    #[serde(default)]
    pub events: Vec<Event>,
    /// Amendments of the terms (A9), each in force from its last party's signature. Written
    /// only when there are some, so that agreements signed before they existed keep their form.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amendments: Vec<Amendment>,
}

/// An amendment (A9, Art. 21(2)): new terms agreed in writing by every party, in force from
/// the last signature; the terms before it stay in the history, and a decision on a day uses
/// the terms in force that day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Amendment {
    /// Its id.
    pub id: String,
    /// A new equivalence table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equivalence: Option<Vec<Row>>,
    /// A new scope (R3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    /// The parties' signatures: who signed on which day; one per party.
    pub signed: Vec<Signature>,
}

/// A party's signature of an amendment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// The party.
    pub by: PartyCode,
    /// The day.
    pub on: Date,
}

/// The terms an agreement decides by from a day on: its own, or an amendment's.
#[derive(Debug, Clone)]
struct Version {
    from: Date,
    equivalence: Equivalence,
    scope: Option<Vec<String>>,
}

/// The state of an agreement at an instant (A1–A6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not every party has signed.
    Pending,
    /// In force, no notice standing.
    InForce,
    /// In force, a notice of termination stands.
    NoticeGiven,
    /// In force, the notice is suspended.
    NoticeSuspended,
    /// Terminated; nothing changes it.
    Terminated,
}

impl State {
    /// Whether items may be exchanged under the agreement in this state (R1).
    pub fn in_force(self) -> bool {
        matches!(
            self,
            State::InForce | State::NoticeGiven | State::NoticeSuspended
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Pending => "pending",
            State::InForce => "in force",
            State::NoticeGiven => "notice given",
            State::NoticeSuspended => "notice suspended",
            State::Terminated => "terminated",
        })
    }
}

/// What [`Agreement::state_at`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// The state.
    pub state: State,
    /// The day of entry into force, once it has happened.
    pub entered_into_force: Option<Date>,
    /// The last day of the term running, for an agreement with a fixed term that is in force.
    pub term_ends: Option<Date>,
    /// The day the agreement terminates (or terminated), once that is fixed.
    pub terminates_on: Option<Date>,
}

/// A stretch of history from a day on: state and termination date.
#[derive(Debug, Clone, Copy)]
struct Phase {
    from: Date,
    state: State,
    terminates_on: Option<Date>,
}

/// A checked agreement with its compiled history.
#[derive(Debug, Clone)]
pub struct Agreement {
    file: AgreementFile,
    equivalence: Equivalence,
    /// The amendments in force, by the day they took effect (A9).
    versions: Vec<Version>,
    /// Every amendment's table, in force or not yet, for the world to check.
    amended_tables: Vec<Equivalence>,
    entered_into_force: Option<Date>,
    /// Phases from entry into force on, in order; several may start on one day.
    phases: Vec<Phase>,
    /// The state and termination date after each event, for the timeline.
    after_event: Vec<(State, Option<Date>)>,
}

/// Where an agreement history currently stands, while it is checked.
struct Cursor {
    state: State,
    notice: Option<(PartyCode, Date)>,
    terminates_on: Option<Date>,
}

impl Agreement {
    /// Checks an agreement file: parties, hub, scope, terms, equivalence table (against the
    /// parties; levels are checked against schemes by the world) and history (A7).
    pub fn new(file: AgreementFile) -> Result<Agreement, Invalid> {
        if file.parties.len() < 2 {
            return Err(Invalid::at("parties", Problem::TooFewParties));
        }
        for (i, p) in file.parties.iter().enumerate() {
            if file.parties[..i].contains(p) {
                return Err(Invalid::at(
                    format!("parties[{i}]"),
                    Problem::DuplicateParty(*p),
                ));
            }
        }
        if let Some(hub) = file.hub
            && !file.parties.contains(&hub)
        {
            return Err(Invalid::at("hub", Problem::NotAParty(hub)));
        }
        if let Some(scope) = &file.scope
            && scope.is_empty()
        {
            return Err(Invalid::at("scope", Problem::EmptyList));
        }
        check_terms(&file.terms)?;
        let equivalence = Equivalence::new(file.equivalence.clone(), &file.parties)?;
        let (versions, amended_tables) = versions(&file, &equivalence)?;
        let mut agreement = Agreement {
            file,
            equivalence,
            versions,
            amended_tables,
            entered_into_force: None,
            phases: Vec::new(),
            after_event: Vec::new(),
        };
        agreement.compile()?;
        Ok(agreement)
    }

    /// Parses and checks an agreement from JSON text.
    pub fn from_json(text: &str) -> Result<Agreement, Invalid> {
        Agreement::new(crate::input::parse(text)?)
    }

    /// The agreement with `amendment` as party `by` signs it (A9): a new amendment carrying
    /// `by`'s signature only, or one held here with `by`'s signature added and nothing else
    /// changed. Checked as a whole.
    pub fn with_amendment(
        &self,
        amendment: Amendment,
        by: PartyCode,
    ) -> Result<Agreement, Invalid> {
        let inconsistent = |msg: String| Invalid::at("amendment", Problem::Inconsistent(msg));
        if !self.names(by) {
            return Err(Invalid::at("amendment", Problem::NotAParty(by)));
        }
        let id = amendment.id.clone();
        let mut file = self.file.clone();
        match file.amendments.iter().position(|a| a.id == id) {
            None => {
                if !matches!(amendment.signed.as_slice(), [s] if s.by == by) {
                    return Err(inconsistent(format!(
                        "a new amendment carries its proposer's signature only, {by}'s"
                    )));
                }
                file.amendments.push(amendment);
            }
            Some(i) => {
                let held = &file.amendments[i];
                if held.equivalence != amendment.equivalence || held.scope != amendment.scope {
                    return Err(inconsistent(format!(
                        "amendment `{id}` is held with other terms: terms change only by a new \
                         amendment"
                    )));
                }
                let added: Vec<&Signature> = amendment
                    .signed
                    .iter()
                    .filter(|s| !held.signed.contains(s))
                    .collect();
                let keeps = held.signed.iter().all(|s| amendment.signed.contains(s));
                let only_by = matches!(added.as_slice(), [s] if s.by == by)
                    && !held.signed.iter().any(|s| s.by == by);
                if !keeps || !only_by {
                    return Err(inconsistent(format!(
                        "amendment `{id}` may come again only with {by}'s signature added"
                    )));
                }
                // It takes effect on its last signature: a signature dated before one already
                // given would move that day into the past.
                let latest = held.signed.iter().map(|s| s.on).max();
                if let (Some(latest), [s]) = (latest, added.as_slice())
                    && s.on < latest
                {
                    return Err(inconsistent(format!(
                        "{by}'s signature of `{id}` is dated {}, before the signature before it \
                         ({latest}): an amendment takes effect on its last signature",
                        s.on
                    )));
                }
                file.amendments[i] = amendment;
            }
        }
        Agreement::new(file)
    }

    /// The agreement with `event` appended, checked as a whole (A7).
    pub fn with_event(&self, event: Event) -> Result<Agreement, Invalid> {
        let mut file = self.file.clone();
        file.events.push(event);
        Agreement::new(file)
    }

    /// What giving notice on `on` would do: the history up to and including `on`, plus a notice
    /// by `by` that day (A8). Refused like any event that contradicts the history.
    pub fn with_notice(&self, by: PartyCode, on: Date) -> Result<Agreement, Invalid> {
        let mut file = self.file.clone();
        file.events.retain(|e| e.on <= on);
        file.events.push(Event {
            kind: EventKind::Notice,
            by,
            on,
            note: None,
        });
        Agreement::new(file)
    }

    fn compile(&mut self) -> Result<(), Invalid> {
        let f = &self.file;
        let mut signed: Vec<PartyCode> = Vec::new();
        let mut cur = Cursor {
            state: State::Pending,
            notice: None,
            terminates_on: None,
        };
        for (i, ev) in f.events.iter().enumerate() {
            let place = || format!("events[{i}] ({} by {} on {})", ev.kind, ev.by, ev.on);
            let fail = |e: HistoryError| Invalid::at(place(), Problem::History(e));
            if i > 0 && ev.on < f.events[i - 1].on {
                return Err(fail(HistoryError::OutOfOrder {
                    previous: f.events[i - 1].on,
                }));
            }
            if !f.parties.contains(&ev.by) {
                return Err(fail(HistoryError::NotAParty(ev.by)));
            }
            if let Some(t) = cur.terminates_on
                && ev.on >= t
            {
                return Err(fail(HistoryError::AfterTermination(t)));
            }
            if ev.kind != EventKind::Signed && self.entered_into_force.is_none() {
                return Err(fail(HistoryError::BeforeEntryIntoForce(ev.kind.noun())));
            }
            let giver = |cur: &Cursor| -> Result<PartyCode, HistoryError> {
                let (g, _) = cur.notice.ok_or(HistoryError::NoNotice(ev.kind.noun()))?;
                if g != ev.by {
                    return Err(HistoryError::NotTheGiver {
                        giver: g,
                        kind: ev.kind.noun(),
                    });
                }
                Ok(g)
            };
            match ev.kind {
                EventKind::Signed => {
                    if signed.contains(&ev.by) {
                        return Err(fail(HistoryError::SignedTwice(ev.by)));
                    }
                    signed.push(ev.by);
                    if signed.len() == f.parties.len() {
                        self.entered_into_force = Some(ev.on);
                        cur.state = State::InForce;
                    }
                }
                EventKind::Notice => {
                    if let Some((by, on)) = cur.notice {
                        return Err(fail(HistoryError::NoticeStands { by, on }));
                    }
                    cur.notice = Some((ev.by, ev.on));
                    cur.state = State::NoticeGiven;
                    cur.terminates_on = Some(self.termination_for_notice(ev.on));
                }
                EventKind::Suspend => {
                    giver(&cur).map_err(fail)?;
                    if cur.state == State::NoticeSuspended {
                        return Err(fail(HistoryError::AlreadySuspended));
                    }
                    cur.state = State::NoticeSuspended;
                    cur.terminates_on = None;
                }
                EventKind::Resume => {
                    giver(&cur).map_err(fail)?;
                    if cur.state != State::NoticeSuspended {
                        return Err(fail(HistoryError::NotSuspended));
                    }
                    match f.terms.resume_effect {
                        ResumeEffect::Immediate => {
                            cur.state = State::Terminated;
                            cur.terminates_on = Some(ev.on);
                        }
                        ResumeEffect::NextAnniversary => {
                            cur.state = State::NoticeGiven;
                            cur.terminates_on = Some(self.next_anniversary_after(ev.on));
                        }
                    }
                }
                EventKind::Withdraw => {
                    giver(&cur).map_err(fail)?;
                    cur.state = State::InForce;
                    cur.notice = None;
                    cur.terminates_on = None;
                }
            }
            if self.entered_into_force.is_some() {
                self.phases.push(Phase {
                    from: ev.on,
                    state: cur.state,
                    terminates_on: cur.terminates_on,
                });
            }
            self.after_event.push((cur.state, cur.terminates_on));
        }
        if let (State::NoticeGiven, Some(t)) = (cur.state, cur.terminates_on) {
            self.phases.push(Phase {
                from: t,
                state: State::Terminated,
                terminates_on: Some(t),
            });
        }
        Ok(())
    }

    /// The `k`-th anniversary that ends a term (k ≥ 1): entry into force plus the initial term
    /// plus `k - 1` renewals. Counted from entry into force each time so that 29 February does
    /// not drift.
    fn term_anniversary(&self, entry: Date, k: i32) -> Date {
        let t = &self.file.terms;
        let years = t.initial_years.unwrap_or(1) as i32 + (k - 1) * t.renewal_years as i32;
        entry.add_years(years)
    }

    /// The first anniversary ending a term strictly after `day` (which is on or after entry into
    /// force), with its index `k`.
    fn term_end_after(&self, entry: Date, day: Date) -> (i32, Date) {
        let t = &self.file.terms;
        let iy = t.initial_years.unwrap_or(1) as i32;
        let ry = t.renewal_years as i32;
        let elapsed = day.year() - entry.year();
        // A lower bound: the k whose anniversary year is at most `elapsed - 1`, hence ≤ `day`.
        let mut k = if elapsed - 1 - iy >= 0 {
            1 + (elapsed - 1 - iy) / ry
        } else {
            1
        };
        loop {
            let a = self.term_anniversary(entry, k);
            if a > day {
                return (k, a);
            }
            k += 1;
        }
    }

    /// The first anniversary of entry into force strictly after `day` (A5, `next_anniversary`).
    fn next_anniversary_after(&self, day: Date) -> Date {
        // INVARIANT: only called for events after entry into force.
        let entry = self.entered_into_force.unwrap_or(day);
        match self.file.terms.initial_years {
            Some(_) => self.term_end_after(entry, day).1,
            None => {
                let mut n = (day.year() - entry.year()).max(1);
                while entry.add_years(n) <= day {
                    n += 1;
                }
                // The year before may also be after `day` when `n` started high.
                while n > 1 && entry.add_years(n - 1) > day {
                    n -= 1;
                }
                entry.add_years(n)
            }
        }
    }

    /// The day a notice given on `on` terminates the agreement (A3, A3b).
    fn termination_for_notice(&self, on: Date) -> Date {
        let days = self.file.terms.notice_days as i64;
        let earliest = on.add_days(days);
        let Some(entry) = self.entered_into_force else {
            return earliest;
        };
        if self.file.terms.initial_years.is_none() {
            return earliest;
        }
        // The first term whose last day L satisfies on + notice_days ≤ L.
        let (mut k, mut end) = self.term_end_after(entry, on);
        while earliest > end.previous() {
            k += 1;
            end = self.term_anniversary(entry, k);
        }
        end
    }

    /// The state at `day` (A8): after every event dated on or before `day` and every
    /// termination that takes effect on or before it.
    pub fn state_at(&self, day: Date) -> Status {
        let pending = Status {
            state: State::Pending,
            entered_into_force: None,
            term_ends: None,
            terminates_on: None,
        };
        let Some(entry) = self.entered_into_force else {
            return pending;
        };
        if day < entry {
            return pending;
        }
        let n = self.phases.partition_point(|p| p.from <= day);
        // INVARIANT: the first phase starts at entry into force, which is ≤ `day`.
        let Some(phase) = n.checked_sub(1).map(|i| self.phases[i]) else {
            return pending;
        };
        let term_ends = match (phase.state.in_force(), self.file.terms.initial_years) {
            (true, Some(_)) => Some(self.term_end_after(entry, day).1.previous()),
            _ => None,
        };
        Status {
            state: phase.state,
            entered_into_force: Some(entry),
            term_ends,
            terminates_on: phase.terminates_on,
        }
    }

    /// The agreement's id.
    pub fn id(&self) -> &AgreementId {
        &self.file.id
    }

    /// Its title.
    pub fn title(&self) -> &str {
        &self.file.title
    }

    /// Its parties.
    pub fn parties(&self) -> &[PartyCode] {
        &self.file.parties
    }

    /// Whether `party` is a party to it.
    pub fn names(&self, party: PartyCode) -> bool {
        self.file.parties.contains(&party)
    }

    /// The hub of a hub arrangement.
    pub fn hub(&self) -> Option<PartyCode> {
        self.file.hub
    }

    /// The topics it is limited to, if any (R3).
    pub fn scope(&self) -> Option<&[String]> {
        self.file.scope.as_deref()
    }

    /// Its terms.
    pub fn terms(&self) -> &Terms {
        &self.file.terms
    }

    /// Its equivalence table as signed (see [`Agreement::equivalence_at`] for a day's).
    pub fn equivalence(&self) -> &Equivalence {
        &self.equivalence
    }

    /// The equivalence table in force on `day`: the last amendment's in force by then that
    /// changed it, or the one signed (A9).
    pub fn equivalence_at(&self, day: Date) -> &Equivalence {
        self.version_at(day)
            .map_or(&self.equivalence, |v| &v.equivalence)
    }

    /// The scope in force on `day` (R3, A9).
    pub fn scope_at(&self, day: Date) -> Option<&[String]> {
        match self.version_at(day) {
            Some(v) => v.scope.as_deref(),
            None => self.scope(),
        }
    }

    /// Every equivalence table it has or may have: as signed, then each amendment's, in force
    /// or not yet.
    pub fn equivalences(&self) -> impl Iterator<Item = &Equivalence> {
        std::iter::once(&self.equivalence).chain(&self.amended_tables)
    }

    /// The amendments, with the day each took effect (`None`: not every party signed yet).
    pub fn amendments(&self) -> impl Iterator<Item = (&Amendment, Option<Date>)> {
        self.file
            .amendments
            .iter()
            .map(|a| (a, in_force_from(a, &self.file.parties)))
    }

    fn version_at(&self, day: Date) -> Option<&Version> {
        let n = self.versions.partition_point(|v| v.from <= day);
        n.checked_sub(1).map(|i| &self.versions[i])
    }

    /// Its history.
    pub fn events(&self) -> &[Event] {
        &self.file.events
    }

    /// The day of entry into force, if every party has signed (A1).
    pub fn entered_into_force(&self) -> Option<Date> {
        self.entered_into_force
    }

    /// The agreement as a file.
    pub fn file(&self) -> &AgreementFile {
        &self.file
    }

    /// Every change of state from the first event up to `until`, with its cause, for people.
    pub fn timeline(&self, until: Date) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut renewals = self.renewals(until).into_iter().peekable();
        for (i, ev) in self.file.events.iter().enumerate() {
            if ev.on > until {
                break;
            }
            while let Some(r) = renewals.next_if(|r| r.on <= ev.on) {
                changes.push(r);
            }
            let (state, terminates_on) = self.after_event[i];
            let status = self.status_with(ev.on, state, terminates_on);
            let what = match ev.kind {
                EventKind::Signed => What::Signed {
                    enters_into_force: state != State::Pending
                        && (i == 0 || self.after_event[i - 1].0 == State::Pending),
                },
                EventKind::Notice => What::Notice {
                    term_ends: self.status_with(ev.on, State::InForce, None).term_ends,
                },
                EventKind::Suspend => What::Suspended,
                EventKind::Resume => What::Resumed,
                EventKind::Withdraw => What::Withdrawn,
            };
            changes.push(Change {
                on: ev.on,
                by: Some(ev.by),
                what,
                note: ev.note.clone(),
                status,
            });
        }
        changes.extend(renewals);
        // Amendments, on the day each took effect (A9); the note says what changed.
        for (a, from) in self.amendments() {
            let Some(from) = from.filter(|d| *d <= until) else {
                continue;
            };
            let mut what = vec![];
            if let Some(rows) = &a.equivalence {
                let names: Vec<&str> = rows.iter().map(|r| r.common.as_str()).collect();
                what.push(format!("equivalence table {}", names.join(", ")));
            }
            if let Some(scope) = &a.scope {
                what.push(format!("scope {}", scope.join(", ")));
            }
            changes.push(Change {
                on: from,
                by: None,
                what: What::Amended,
                note: Some(format!("{}: {}", a.id, what.join("; "))),
                status: self.state_at(from),
            });
        }
        changes.sort_by_key(|c| c.on);
        if let Some(last) = self.phases.last()
            && last.state == State::Terminated
            && last.from <= until
            && !matches!(changes.last(), Some(c) if c.status.state == State::Terminated)
        {
            changes.push(Change {
                on: last.from,
                by: None,
                what: What::Terminated,
                note: None,
                status: self.state_at(last.from),
            });
        }
        changes
    }

    fn status_with(&self, day: Date, state: State, terminates_on: Option<Date>) -> Status {
        let entry = self.entered_into_force.filter(|e| *e <= day);
        let term_ends = match (entry, state.in_force(), self.file.terms.initial_years) {
            (Some(e), true, Some(_)) => Some(self.term_end_after(e, day).1.previous()),
            _ => None,
        };
        Status {
            state,
            entered_into_force: entry,
            term_ends,
            terminates_on,
        }
    }

    /// The renewals (A2) that happened up to `until`: anniversaries at which the agreement was
    /// still in force.
    fn renewals(&self, until: Date) -> Vec<Change> {
        let mut out = Vec::new();
        let (Some(entry), Some(_)) = (self.entered_into_force, self.file.terms.initial_years)
        else {
            return out;
        };
        let mut k = 1;
        loop {
            let a = self.term_anniversary(entry, k);
            if a > until {
                break;
            }
            let status = self.state_at(a);
            if !status.state.in_force() {
                break;
            }
            out.push(Change {
                on: a,
                by: None,
                what: What::Renewed,
                note: None,
                status,
            });
            k += 1;
        }
        out
    }
}

/// The day `a` takes effect: its last signature, once every party has signed.
fn in_force_from(a: &Amendment, parties: &[PartyCode]) -> Option<Date> {
    let all = parties.iter().all(|p| a.signed.iter().any(|s| s.by == *p));
    all.then(|| a.signed.iter().map(|s| s.on).max()).flatten()
}

/// Checks the amendments of `file` (each changes something, is signed by parties only, once
/// each, under an id of its own; a new table is checked as the signed one is) and compiles
/// those in force, in the order they took effect, each on top of the terms before it; with
/// every amendment's table.
fn versions(
    file: &AgreementFile,
    signed: &Equivalence,
) -> Result<(Vec<Version>, Vec<Equivalence>), Invalid> {
    let mut in_force = vec![];
    let mut tables = vec![];
    for (i, a) in file.amendments.iter().enumerate() {
        let place = |field: &str| format!("amendments[{i}]{field}");
        if file.amendments[..i].iter().any(|b| b.id == a.id) {
            let msg = format!("amendment `{}` is there twice", a.id);
            return Err(Invalid::at(place(".id"), Problem::Inconsistent(msg)));
        }
        if a.equivalence.is_none() && a.scope.is_none() {
            let msg = "an amendment changes the equivalence table or the scope".to_owned();
            return Err(Invalid::at(place(""), Problem::Inconsistent(msg)));
        }
        if a.scope.as_ref().is_some_and(Vec::is_empty) {
            return Err(Invalid::at(place(".scope"), Problem::EmptyList));
        }
        for (k, s) in a.signed.iter().enumerate() {
            let at = place(&format!(".signed[{k}].by"));
            if !file.parties.contains(&s.by) {
                return Err(Invalid::at(at, Problem::NotAParty(s.by)));
            }
            if a.signed[..k].iter().any(|t| t.by == s.by) {
                return Err(Invalid::at(at, Problem::DuplicateParty(s.by)));
            }
        }
        let table = match &a.equivalence {
            Some(rows) => Some(
                Equivalence::new(rows.clone(), &file.parties)
                    .map_err(|e| Invalid::at(format!("{}.{}", place(""), e.place), e.problem))?,
            ),
            None => None,
        };
        tables.extend(table.clone());
        if let Some(from) = in_force_from(a, &file.parties) {
            in_force.push((from, i, table));
        }
    }
    in_force.sort_by_key(|(from, i, _)| (*from, *i));
    let mut versions: Vec<Version> = vec![];
    for (from, i, table) in in_force {
        let (before_table, before_scope) = match versions.last() {
            Some(v) => (v.equivalence.clone(), v.scope.clone()),
            None => (signed.clone(), file.scope.clone()),
        };
        let a = &file.amendments[i];
        versions.push(Version {
            from,
            equivalence: table.unwrap_or(before_table),
            scope: a.scope.clone().or(before_scope),
        });
    }
    Ok((versions, tables))
}

fn check_terms(t: &Terms) -> Result<(), Invalid> {
    let range = |place: &str, what, got: u32, min, max| {
        if (min..=max).contains(&got) {
            Ok(())
        } else {
            let problem = Problem::OutOfRange {
                what,
                min,
                max,
                got,
            };
            Err(Invalid::at(place, problem))
        }
    };
    if let Some(y) = t.initial_years {
        range("terms.initial_years", "initial_years", y, 1, 100)?;
    }
    range(
        "terms.renewal_years",
        "renewal_years",
        t.renewal_years,
        1,
        100,
    )?;
    range("terms.notice_days", "notice_days", t.notice_days, 0, 3650)
}

/// One line of an agreement's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The day.
    pub on: Date,
    /// The party whose event it was; `None` for renewals and terminations by lapse of time.
    pub by: Option<PartyCode>,
    /// What happened.
    pub what: What,
    /// The event's note, if any.
    pub note: Option<String>,
    /// The status right after it.
    pub status: Status,
}

impl Change {
    /// The change as a sentence for people, under the agreement's `terms` (what `gsomia
    /// agreement timeline` prints and the console shows).
    pub fn sentence(&self, terms: &Terms) -> String {
        let by = self.by.map(|p| p.to_string()).unwrap_or_default();
        let years = |n: u32| {
            if n == 1 {
                "1 year".to_owned()
            } else {
                format!("{n} years")
            }
        };
        match self.what {
            What::Signed {
                enters_into_force: false,
            } => format!("{by} signs."),
            What::Signed {
                enters_into_force: true,
            } => format!("{by} signs: the agreement enters into force (A1)."),
            What::Renewed => format!(
                "The term ends; the agreement renews for {} (A2).",
                years(terms.renewal_years)
            ),
            What::Notice { term_ends } => match (term_ends, self.status.terminates_on) {
                (Some(last), Some(ends)) => {
                    let deadline = last.add_days(-i64::from(terms.notice_days));
                    if ends == last.add_days(1) {
                        format!(
                            "{by} gives notice of termination, in time for the term ending \
                             {last} (deadline {deadline}) (A3)."
                        )
                    } else {
                        format!(
                            "{by} gives notice of termination, too late for the term ending \
                             {last} (deadline {deadline}): it takes effect at a later \
                             anniversary (A3)."
                        )
                    }
                }
                _ => format!(
                    "{by} gives {} days' notice of termination (A3b).",
                    terms.notice_days
                ),
            },
            What::Suspended => {
                format!("{by} suspends its notice; the agreement stays in force (A5).")
            }
            What::Resumed => format!("{by} resumes its notice (A5)."),
            What::Withdrawn => format!("{by} withdraws its notice (A5)."),
            What::Terminated => {
                "The agreement terminates. What was received stays protected (A6, P3).".to_owned()
            }
            What::Amended => "Every party has signed an amendment: from today its terms \
                              decide, and what was marked before keeps its marking (A9)."
                .to_owned(),
        }
    }
}

/// What caused a change in an agreement's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// A party signed; the last signature brings the agreement into force.
    Signed {
        /// Whether this signature brought it into force.
        enters_into_force: bool,
    },
    /// A term ended and the next began (A2).
    Renewed,
    /// A party gave notice (A3).
    Notice {
        /// The last day of the term running when the notice was given, if the term is fixed.
        term_ends: Option<Date>,
    },
    /// The notice was suspended (A5).
    Suspended,
    /// The notice was resumed (A5).
    Resumed,
    /// An amendment took effect (A9); the change's note names it and what it changed.
    Amended,
    /// The notice was withdrawn (A5).
    Withdrawn,
    /// The agreement terminated (A3, A6).
    Terminated,
}
