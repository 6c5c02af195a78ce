//! Bad input: where in a file something is wrong, and what.
//!
//! Every file gsomia reads (schemes, agreements, consents, items, users) is parsed once into
//! checked types; anything wrong is an [`Invalid`] that names the place (a JSON path such as
//! `events[3]`) and the problem. The CLI adds the file name and exits with code 2.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::date::Date;
use crate::history::HistoryError;
use crate::party::PartyCode;

/// A problem in one input file, at one place in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {problem}")]
pub struct Invalid {
    /// Where in the file: a JSON path such as `events[3]` or `levels[1].rank`, or `(file)`.
    pub place: Place,
    /// What is wrong there.
    pub problem: Problem,
}

impl Invalid {
    /// A problem at `place`.
    pub fn at(place: impl Into<Place>, problem: Problem) -> Self {
        Invalid {
            place: place.into(),
            problem,
        }
    }
}

/// A JSON path into an input file; empty for the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Place(pub String);

impl From<&str> for Place {
    fn from(s: &str) -> Self {
        Place(s.to_owned())
    }
}

impl From<String> for Place {
    fn from(s: String) -> Self {
        Place(s)
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("(file)")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// What is wrong with an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The text is not JSON, or a value has the wrong type or shape (serde's message).
    #[error("{0}")]
    Json(String),
    /// A party code that no scheme in the world defines.
    #[error("unknown party `{0}`")]
    UnknownParty(PartyCode),
    /// A level id that the party's scheme does not define.
    #[error("unknown level `{level}` in the scheme of {party}")]
    UnknownLevel {
        /// The party whose scheme was searched.
        party: PartyCode,
        /// The level that is not in it.
        level: String,
    },
    /// Two levels of one scheme with the same id.
    #[error("duplicate level id `{0}`")]
    DuplicateLevel(String),
    /// Two schemes for one party.
    #[error("a second scheme for {0}")]
    DuplicateScheme(PartyCode),
    /// Two agreements with the same id.
    #[error("a second agreement with id `{0}`")]
    DuplicateAgreement(String),
    /// A scheme with no levels.
    #[error("a scheme needs at least one level")]
    NoLevels,
    /// A party named twice in one list.
    #[error("{0} is named twice")]
    DuplicateParty(PartyCode),
    /// An agreement with fewer than two parties.
    #[error("an agreement needs at least two parties")]
    TooFewParties,
    /// A party used by an agreement (hub, row, event) that is not one of its parties.
    #[error("{0} is not a party to this agreement")]
    NotAParty(PartyCode),
    /// An equivalence row without a cell for one of the agreement's parties.
    #[error("the row has no levels for {0}")]
    MissingCell(PartyCode),
    /// An empty equivalence cell.
    #[error("a cell needs at least one level")]
    EmptyCell,
    /// A party's level that appears in two rows of one table, so that re-marking is ambiguous.
    #[error("{party} level `{level}` is in two rows")]
    LevelInTwoRows {
        /// The party.
        party: PartyCode,
        /// Its level.
        level: String,
    },
    /// An empty list where at least one entry is needed (scope, topics, duties).
    #[error("the list is empty")]
    EmptyList,
    /// A term of years or days outside what the format allows.
    #[error("{what} must be between {min} and {max}, not {got}")]
    OutOfRange {
        /// Which number.
        what: &'static str,
        /// Smallest allowed.
        min: u32,
        /// Largest allowed.
        max: u32,
        /// What was given.
        got: u32,
    },
    /// Dates that are out of order (`given` after `until`).
    #[error("`{first}` is after `{second}`")]
    DatesOutOfOrder {
        /// The date that should come first.
        first: Date,
        /// The date that should come second.
        second: Date,
    },
    /// A STIX object that is not usable as an item.
    #[error("{0}")]
    Stix(String),
    /// Fields of one file that contradict each other (a marking and its label, a consent and
    /// its holder).
    #[error("{0}")]
    Inconsistent(String),
    /// An agreement history that contradicts itself (A7).
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// Parses JSON text into `T`, naming the place of the first problem.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, Invalid> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let place = if path == "." || path == "?" {
            String::new()
        } else {
            path
        };
        Invalid::at(place, Problem::Json(e.into_inner().to_string()))
    })?;
    de.end()
        .map_err(|e| Invalid::at("", Problem::Json(e.to_string())))?;
    Ok(value)
}
