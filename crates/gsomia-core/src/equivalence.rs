//! Equivalence tables: which level of one party matches which level of another (SPEC §2, R2, M2).
//!
//! Each row has a common name and, per party, the equivalent levels; the first level of a cell
//! is the one a receiver marks with. A level without a row can not be exchanged under the
//! agreement: nothing is ever rounded up or down.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use serde::{Deserialize, Serialize};

use crate::input::{Invalid, Problem};
use crate::party::PartyCode;
use crate::scheme::LevelId;

/// One row as written: `{"common": "SECRET", "levels": {"JPN": ["GOKUHI", …], "KOR": ["II"]}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// The common name of the row (`SECRET`).
    pub common: String,
    /// Per party, the equivalent levels; the first is used when re-marking.
    pub levels: BTreeMap<PartyCode, Vec<LevelId>>,
}

/// A checked table: every row has a non-empty cell for every party of the agreement, and no
/// level of a party is in two rows.
#[derive(Debug, Clone)]
pub struct Equivalence {
    rows: Vec<Row>,
    index: FxHashMap<PartyCode, FxHashMap<LevelId, usize>>,
}

impl Equivalence {
    /// Checks `rows` against the agreement's `parties`. Places are relative to the agreement
    /// file (`equivalence[0].levels.JPN[1]`).
    pub fn new(rows: Vec<Row>, parties: &[PartyCode]) -> Result<Equivalence, Invalid> {
        let mut index: FxHashMap<PartyCode, FxHashMap<LevelId, usize>> = FxHashMap::default();
        for (r, row) in rows.iter().enumerate() {
            for party in row.levels.keys() {
                if !parties.contains(party) {
                    let place = format!("equivalence[{r}].levels.{party}");
                    return Err(Invalid::at(place, Problem::NotAParty(*party)));
                }
            }
            for party in parties {
                let Some(cell) = row.levels.get(party) else {
                    let place = format!("equivalence[{r}].levels");
                    return Err(Invalid::at(place, Problem::MissingCell(*party)));
                };
                if cell.is_empty() {
                    let place = format!("equivalence[{r}].levels.{party}");
                    return Err(Invalid::at(place, Problem::EmptyCell));
                }
                for (l, level) in cell.iter().enumerate() {
                    if index
                        .entry(*party)
                        .or_default()
                        .insert(level.clone(), r)
                        .is_some()
                    {
                        let place = format!("equivalence[{r}].levels.{party}[{l}]");
                        let problem = Problem::LevelInTwoRows {
                            party: *party,
                            level: level.to_string(),
                        };
                        return Err(Invalid::at(place, problem));
                    }
                }
            }
        }
        Ok(Equivalence { rows, index })
    }

    /// The rows, as written.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The row that holds `party`'s `level`, if any.
    pub fn row_of(&self, party: PartyCode, level: &str) -> Option<&Row> {
        let r = *self.index.get(&party)?.get(level)?;
        Some(&self.rows[r])
    }

    /// The level `to` marks an item with when `from` holds it at `level`: the first level of
    /// `to`'s cell in the row of `level`. `None` when `level` has no row (R2).
    pub fn remark(&self, from: PartyCode, level: &str, to: PartyCode) -> Option<&LevelId> {
        self.row_of(from, level)?.levels.get(&to)?.first()
    }
}
