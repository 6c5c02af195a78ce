//! Classification schemes: each party's own levels and their ranks.
//!
//! A level has an id (`GOKUHI`), a native name (`極秘`), an English name and a rank (higher =
//! more sensitive; two levels may share a rank, as Japan's `GOKUHI` and `TOKUTEI_HIMITSU` do).
//! Ranks compare levels of one scheme only: between schemes, only an agreement's equivalence
//! table says what matches what.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::input::{Invalid, Problem};
use crate::party::PartyCode;

/// A checked level id: 1 to 64 ASCII letters, digits, `_` or `-`. Shared, so that a
/// decision copies it without allocating.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LevelId(Arc<str>);

/// Why a string is not a level id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a level id (1 to 64 ASCII letters, digits, `_` or `-`)")]
pub struct BadLevelId(pub String);

impl LevelId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for LevelId {
    type Err = BadLevelId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        if ok {
            Ok(LevelId(s.into()))
        } else {
            Err(BadLevelId(s.to_owned()))
        }
    }
}

impl Borrow<str> for LevelId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LevelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for LevelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for LevelId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for LevelId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One level of a scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    /// The id used in files and labels.
    pub id: LevelId,
    /// The native name (`군사II급비밀`, `極秘`).
    pub name: String,
    /// A romanised or English name.
    #[serde(default)]
    pub english: String,
    /// Sensitivity within the scheme, from 1 (lowest).
    pub rank: u16,
}

/// A scheme file as written (see `model-case/schemes/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemeFile {
    /// The party whose scheme this is.
    pub party: PartyCode,
    /// The party's name.
    pub name: String,
    /// Its levels, in any order.
    pub levels: Vec<Level>,
}

/// A checked scheme: unique level ids, ranks ≥ 1.
#[derive(Debug, Clone)]
pub struct Scheme {
    file: SchemeFile,
    index: FxHashMap<LevelId, usize>,
}

impl Scheme {
    /// Checks a scheme file.
    pub fn new(file: SchemeFile) -> Result<Scheme, Invalid> {
        if file.levels.is_empty() {
            return Err(Invalid::at("levels", Problem::NoLevels));
        }
        let mut index = FxHashMap::with_capacity_and_hasher(file.levels.len(), Default::default());
        for (i, level) in file.levels.iter().enumerate() {
            if level.rank == 0 {
                return Err(Invalid::at(
                    format!("levels[{i}].rank"),
                    Problem::OutOfRange {
                        what: "a rank",
                        min: 1,
                        max: u16::MAX as u32,
                        got: 0,
                    },
                ));
            }
            if index.insert(level.id.clone(), i).is_some() {
                return Err(Invalid::at(
                    format!("levels[{i}].id"),
                    Problem::DuplicateLevel(level.id.to_string()),
                ));
            }
        }
        Ok(Scheme { file, index })
    }

    /// Parses and checks a scheme from JSON text.
    pub fn from_json(text: &str) -> Result<Scheme, Invalid> {
        Scheme::new(crate::input::parse(text)?)
    }

    /// The party whose scheme this is.
    pub fn party(&self) -> PartyCode {
        self.file.party
    }

    /// The party's name.
    pub fn name(&self) -> &str {
        &self.file.name
    }

    /// The levels, as written.
    pub fn levels(&self) -> &[Level] {
        &self.file.levels
    }

    /// The level with this id.
    pub fn level(&self, id: &str) -> Option<&Level> {
        self.index.get(id).map(|&i| &self.file.levels[i])
    }

    /// The rank of the level with this id.
    pub fn rank(&self, id: &str) -> Option<u16> {
        self.level(id).map(|l| l.rank)
    }

    /// Checks that `id` is a level of this scheme.
    pub fn check(&self, id: &LevelId, place: impl Into<String>) -> Result<(), Invalid> {
        match self.index.contains_key(id.as_str()) {
            true => Ok(()),
            false => Err(Invalid::at(
                place.into(),
                Problem::UnknownLevel {
                    party: self.file.party,
                    level: id.to_string(),
                },
            )),
        }
    }

    /// The scheme as a file.
    pub fn file(&self) -> &SchemeFile {
        &self.file
    }
}
