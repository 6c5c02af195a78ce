//! What the parties' authorities write each other under an agreement, signed and kept by both:
//! notices of changes in national rules that affect protection and their acknowledgements (N1),
//! disputes and their settlements (D1), visit requests, their authorisations or refusals, and
//! inspection findings (V1, V2). Only a visit authorisation changes a decision: the host's node
//! lets the visitor read what it allows ([`crate::visit`]); a dispute, open or settled, leaves
//! every release and read as it was.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::agreement::AgreementId;
use crate::date::Date;
use crate::decision::Rule;
use crate::input::{Invalid, Problem};
use crate::party::PartyCode;
use crate::visit::Visit;
use crate::world::World;

/// What a letter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LetterKind {
    /// A change of the sender's national rules that affects protection (N1).
    LawNotice,
    /// The partner's acknowledgement of a law notice (N1).
    Acknowledgement,
    /// A dispute about the agreement's interpretation or application (D1).
    Dispute,
    /// A dispute settled by consultation (D1).
    Settlement,
    /// A visit asked for by the visitor's party (V1).
    VisitRequest,
    /// The host's authorisation of a visit (V1).
    VisitAuthorisation,
    /// The host's refusal of a visit (V1).
    VisitRefusal,
    /// The findings of an inspection visit, by the inspecting party (V2).
    Findings,
}

impl LetterKind {
    /// The rule the letter is kept under.
    pub fn rule(self) -> Rule {
        match self {
            LetterKind::LawNotice | LetterKind::Acknowledgement => Rule::N1,
            LetterKind::Dispute | LetterKind::Settlement => Rule::D1,
            LetterKind::VisitRequest
            | LetterKind::VisitAuthorisation
            | LetterKind::VisitRefusal => Rule::V1,
            LetterKind::Findings => Rule::V2,
        }
    }

    /// The kind a letter of this kind answers, if it answers one.
    pub fn answers(self) -> Option<LetterKind> {
        match self {
            LetterKind::Acknowledgement => Some(LetterKind::LawNotice),
            LetterKind::Settlement => Some(LetterKind::Dispute),
            LetterKind::VisitAuthorisation | LetterKind::VisitRefusal => {
                Some(LetterKind::VisitRequest)
            }
            LetterKind::Findings => Some(LetterKind::VisitAuthorisation),
            LetterKind::LawNotice | LetterKind::Dispute | LetterKind::VisitRequest => None,
        }
    }

    /// Whether a letter of this kind carries a [`Visit`].
    pub fn has_visit(self) -> bool {
        matches!(
            self,
            LetterKind::VisitRequest | LetterKind::VisitAuthorisation
        )
    }

    /// Whether a letter of this kind goes only to the other party of a visit, not to every
    /// party of the agreement.
    pub fn of_a_visit(self) -> bool {
        self.rule() != Rule::N1 && self.rule() != Rule::D1
    }
}

impl fmt::Display for LetterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LetterKind::LawNotice => "law notice",
            LetterKind::Acknowledgement => "acknowledgement",
            LetterKind::Dispute => "dispute",
            LetterKind::Settlement => "settlement",
            LetterKind::VisitRequest => "visit request",
            LetterKind::VisitAuthorisation => "visit authorisation",
            LetterKind::VisitRefusal => "visit refusal",
            LetterKind::Findings => "findings report",
        })
    }
}

/// The longest text of a letter, in characters.
pub const MAX_TEXT: usize = 8000;

/// A letter as written and signed by its sender's authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Letter {
    /// Its id (the sender's: `<party>-letter-<hex>`).
    pub id: String,
    /// The agreement it is written under.
    pub agreement: AgreementId,
    /// What it is.
    pub kind: LetterKind,
    /// The party whose authority wrote it.
    pub from: PartyCode,
    /// The letter it answers (an acknowledgement's notice, a settlement's dispute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers: Option<String>,
    /// What it says.
    pub text: String,
    /// A law notice: the day the change takes effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective: Option<Date>,
    /// A visit request's or authorisation's visit (V1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit: Option<Visit>,
    /// When it was written (RFC 3339).
    pub sent: String,
    /// The sender's signature (base64) over the letter without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Letter {
    /// Checks a letter alone: some text, not too long; `answers` exactly on the kinds that
    /// answer; `effective` only on a law notice; a visit exactly on a visit request (to another
    /// party) and an authorisation (by the host).
    pub fn check(self) -> Result<Letter, Invalid> {
        let inconsistent =
            |place: &str, msg: String| Invalid::at(place, Problem::Inconsistent(msg));
        let chars = self.text.chars().count();
        if self.text.trim().is_empty() || chars > MAX_TEXT {
            let msg = format!("a letter says something, in at most {MAX_TEXT} characters");
            return Err(inconsistent("text", msg));
        }
        match (self.kind.answers(), &self.answers) {
            (Some(k), None) => {
                return Err(inconsistent(
                    "answers",
                    format!("a {} answers a {k}", self.kind),
                ));
            }
            (None, Some(_)) => {
                let msg = format!("a {} answers no letter", self.kind);
                return Err(inconsistent("answers", msg));
            }
            _ => {}
        }
        if self.effective.is_some() && self.kind != LetterKind::LawNotice {
            let msg = "only a law notice has a day it takes effect".to_owned();
            return Err(inconsistent("effective", msg));
        }
        match (self.kind.has_visit(), &self.visit) {
            (true, None) => {
                let msg = format!("a {} names its visit", self.kind);
                return Err(inconsistent("visit", msg));
            }
            (false, Some(_)) => {
                let msg = format!("a {} names no visit", self.kind);
                return Err(inconsistent("visit", msg));
            }
            (true, Some(v)) => {
                v.check()?;
                let by_host = self.kind == LetterKind::VisitAuthorisation;
                if (v.host == self.from) != by_host {
                    let msg = if by_host {
                        "a visit is authorised by its host"
                    } else {
                        "a visit is asked for by the visitor's party, of another party"
                    };
                    return Err(inconsistent("visit.host", msg.to_owned()));
                }
            }
            (false, None) => {}
        }
        Ok(self)
    }

    /// Whether `answer` may be written, given the letters `held` under the same agreement and
    /// the `world`: it answers a letter of the kind it answers, written by another party (an
    /// acknowledgement, N1; a visit's authorisation, refusal or findings, V1, V2), or by either
    /// (a settlement, D1: settled by consultation), and answered by nobody yet. A visit names a
    /// level of the host's scheme and a host that is a party of the agreement; an
    /// authorisation allows no more than was asked for; findings report on an inspection.
    /// `Err` says why not.
    pub fn may_answer(answer: &Letter, held: &[Letter], world: &World) -> Result<(), String> {
        if let Some(v) = &answer.visit {
            let scheme = world.scheme(v.host).filter(|_| {
                world
                    .agreement(answer.agreement.as_str())
                    .is_some_and(|a| a.names(v.host) && a.names(answer.from))
            });
            let Some(scheme) = scheme else {
                return Err(format!(
                    "{} is not a party of `{}`",
                    v.host, answer.agreement
                ));
            };
            if scheme.rank(v.level.as_str()).is_none() {
                return Err(format!(
                    "`{}` is not a level of {}'s scheme",
                    v.level, v.host
                ));
            }
        }
        let (Some(kind), Some(id)) = (answer.kind.answers(), &answer.answers) else {
            return Ok(());
        };
        let Some(asked) = held
            .iter()
            .find(|l| &l.id == id && l.agreement == answer.agreement)
        else {
            return Err(format!(
                "no {kind} `{id}` under `{}` is held here",
                answer.agreement
            ));
        };
        if asked.kind != kind {
            return Err(format!("`{id}` is a {}, not a {kind}", asked.kind));
        }
        if answer.kind != LetterKind::Settlement && asked.from == answer.from {
            return Err(format!(
                "{} answers its partners' {kind}s, not its own",
                answer.from
            ));
        }
        match (answer.kind, &asked.visit, &answer.visit) {
            (LetterKind::VisitAuthorisation, Some(wanted), Some(given)) => {
                let scheme = world.scheme(given.host).ok_or("no scheme of the host's")?;
                given.within(wanted, scheme)?;
            }
            (LetterKind::VisitRefusal, Some(wanted), _) if wanted.host != answer.from => {
                return Err(format!("{} refuses visits to itself only", answer.from));
            }
            (LetterKind::Findings, Some(v), _) if !v.inspection => {
                return Err(format!(
                    "`{id}` authorises a visit, not an inspection: findings report on \
                     inspections (V2)"
                ));
            }
            _ => {}
        }
        if answer.kind == LetterKind::Findings {
            let inspector = held
                .iter()
                .find(|l| asked.answers.as_ref() == Some(&l.id))
                .map(|l| l.from);
            if inspector != Some(answer.from) {
                return Err(format!(
                    "{} did not ask for the visit `{id}` authorises: its findings are not {}'s \
                     to report",
                    answer.from, answer.from
                ));
            }
        }
        let done = held.iter().any(|l| {
            l.answers.as_ref() == Some(id)
                && (l.kind == LetterKind::Settlement || l.from == answer.from)
        });
        if done {
            return Err(format!("`{id}` is answered already"));
        }
        Ok(())
    }
}
