//! Inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4), made from stored hashes and
//! checked against roots. Proofs travel as JSON with base64 hashes, as in C2SP and CT APIs.
//!
//! Everything that arrives from outside is checked here before it reaches `tlog_tiles`, whose
//! proof code asserts its preconditions: an index inside the tree, sizes in order, and a proof no
//! longer than a tree of 2⁶⁴ leaves needs.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use tlog_tiles::{Hash, HashReader};

use crate::note::LogError;

/// The longest proof a tree of at most 2⁶⁴ leaves can need.
const MAX_PROOF: usize = 128;

/// A proof that the entry at `index` is in the tree of `size` entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// The entry's position, from 0 (audit entry number `index + 1`).
    pub index: u64,
    /// The size of the tree the proof is against.
    pub size: u64,
    /// The hashes, base64.
    #[serde(with = "hashes")]
    pub hashes: Vec<Hash>,
}

/// A proof that the tree of `old` entries is a prefix of the tree of `new` entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// The smaller size.
    pub old: u64,
    /// The larger size.
    pub new: u64,
    /// The hashes, base64.
    #[serde(with = "hashes")]
    pub hashes: Vec<Hash>,
}

impl InclusionProof {
    /// Makes the proof for entry `index` in the tree of `size` entries.
    pub fn make(index: u64, size: u64, stored: &impl HashReader) -> Result<Self, LogError> {
        if index >= size {
            return Err(LogError::Range(format!(
                "entry index {index} is not in a tree of {size} entries"
            )));
        }
        let hashes = tlog_tiles::prove_record(size, index, stored).map_err(LogError::tree)?;
        Ok(InclusionProof {
            index,
            size,
            hashes,
        })
    }

    /// Checks that the entry whose leaf hash is `leaf` is at `index` in the tree whose root is
    /// `root`.
    pub fn verify(&self, root: &Hash, leaf: &Hash) -> Result<(), LogError> {
        if self.index >= self.size || self.hashes.len() > MAX_PROOF {
            return Err(LogError::BadProof);
        }
        tlog_tiles::check_record(&self.hashes, self.size, *root, self.index, *leaf)
            .map_err(|_| LogError::BadProof)
    }
}

impl ConsistencyProof {
    /// Makes the proof that the tree of `old` entries is a prefix of the tree of `new`.
    pub fn make(old: u64, new: u64, stored: &impl HashReader) -> Result<Self, LogError> {
        if old > new {
            return Err(LogError::Range(format!(
                "sizes out of order: old {old} is larger than new {new}"
            )));
        }
        let hashes = if old == 0 || old == new {
            Vec::new()
        } else {
            tlog_tiles::prove_tree(new, old, stored).map_err(LogError::tree)?
        };
        Ok(ConsistencyProof { old, new, hashes })
    }

    /// Checks that the tree of `old` entries with root `old_root` is a prefix of the tree of
    /// `new` entries with root `new_root`.
    pub fn verify(&self, old_root: &Hash, new_root: &Hash) -> Result<(), LogError> {
        if self.old > self.new || self.hashes.len() > MAX_PROOF {
            return Err(LogError::BadProof);
        }
        if self.old == 0 {
            // Every tree extends the empty one.
            return if self.hashes.is_empty() && *old_root == tlog_tiles::EMPTY_HASH {
                Ok(())
            } else {
                Err(LogError::BadProof)
            };
        }
        if self.old == self.new {
            return if self.hashes.is_empty() && old_root == new_root {
                Ok(())
            } else {
                Err(LogError::BadProof)
            };
        }
        tlog_tiles::check_tree(&self.hashes, self.new, *new_root, self.old, *old_root)
            .map_err(|_| LogError::BadProof)
    }
}

/// A hash as base64, the encoding checkpoints use.
pub fn encode_hash(h: &Hash) -> String {
    STANDARD.encode(h.0)
}

/// Reads a base64 hash.
pub fn decode_hash(text: &str) -> Option<Hash> {
    let bytes = STANDARD.decode(text).ok()?;
    Some(Hash(bytes.try_into().ok()?))
}

mod hashes {
    use super::*;

    pub fn serialize<S: serde::Serializer>(v: &[Hash], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(encode_hash))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
        let texts: Vec<String> = Vec::deserialize(d)?;
        if texts.len() > MAX_PROOF {
            return Err(serde::de::Error::custom(format!(
                "a proof has at most {MAX_PROOF} hashes"
            )));
        }
        texts
            .iter()
            .map(|t| {
                decode_hash(t).ok_or_else(|| {
                    serde::de::Error::custom(format!("`{t}` is not a base64 SHA-256 hash"))
                })
            })
            .collect()
    }
}
