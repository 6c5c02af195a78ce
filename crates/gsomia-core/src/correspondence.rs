//! What the parties' authorities write each other under an agreement, signed and kept by both:
//! notices of changes in national rules that affect protection and their acknowledgements (N1),
//! disputes and their settlements (D1). None of it changes a decision: a dispute, open or
//! settled, leaves every release and read as it was.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::agreement::AgreementId;
use crate::date::Date;
use crate::decision::Rule;
use crate::input::{Invalid, Problem};
use crate::party::PartyCode;

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
}

impl LetterKind {
    /// The rule the letter is kept under.
    pub fn rule(self) -> Rule {
        match self {
            LetterKind::LawNotice | LetterKind::Acknowledgement => Rule::N1,
            LetterKind::Dispute | LetterKind::Settlement => Rule::D1,
        }
    }

    /// The kind a letter of this kind answers, if it answers one.
    pub fn answers(self) -> Option<LetterKind> {
        match self {
            LetterKind::Acknowledgement => Some(LetterKind::LawNotice),
            LetterKind::Settlement => Some(LetterKind::Dispute),
            LetterKind::LawNotice | LetterKind::Dispute => None,
        }
    }
}

impl fmt::Display for LetterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LetterKind::LawNotice => "law notice",
            LetterKind::Acknowledgement => "acknowledgement",
            LetterKind::Dispute => "dispute",
            LetterKind::Settlement => "settlement",
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
    /// When it was written (RFC 3339).
    pub sent: String,
    /// The sender's signature (base64) over the letter without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Letter {
    /// Checks a letter alone: some text, not too long; `answers` exactly on the kinds that
    /// answer; `effective` only on a law notice.
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
        Ok(self)
    }

    /// Whether `answer` may be written, given the letters `held` under the same agreement:
    /// it answers a letter of the kind it answers, written by another party (an
    /// acknowledgement, N1), or by either (a settlement, D1: settled by consultation), and
    /// answered by nobody yet. `Err` says why not.
    pub fn may_answer(answer: &Letter, held: &[Letter]) -> Result<(), String> {
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
        if kind == LetterKind::LawNotice && asked.from == answer.from {
            return Err(format!(
                "{} acknowledges its partners' law notices, not its own",
                answer.from
            ));
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
