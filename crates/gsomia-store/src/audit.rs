//! The audit log as a hash chain (P7). Each entry's body is the RFC 8785 canonical JSON of what
//! was decided; its hash is SHA-256 over a context, its number, the previous entry's hash and
//! the body, so changing, removing or reordering any entry breaks every hash after it. (The
//! Merkle log of issue 5 is built over these same entries.)
//!
//! The body is made where the batch is submitted, so the single writer only hashes ~300 bytes
//! per entry to chain it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an audit entry records: a decision, allowed or refused, or a fact (a user added, a
/// partner's report received). Written `allow`, `deny`, `record`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// A decision that allowed what was asked.
    Allow,
    /// A decision that refused it.
    Deny,
    /// A fact recorded, not a decision.
    Record,
}

impl Verdict {
    /// As written in the entry.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Record => "record",
        }
    }
}

impl PartialEq<&str> for Verdict {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// An audit entry before it is numbered and chained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditDraft {
    /// When (RFC 3339).
    pub at: String,
    /// Who: a user id, `node` or `admin` (the shell).
    pub actor: String,
    /// What was asked or done (`item.publish`, `item.read`, `item.release`, `user.add`, …).
    pub action: String,
    /// What it was about (an item id, a user id, an agreement id).
    pub subject: String,
    /// Allowed, refused, or recorded.
    pub decision: Verdict,
    /// The rule that decided, if any (docs/RULES.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<gsomia_core::Rule>,
    /// Anything else worth keeping (never a secret).
    #[serde(default)]
    pub detail: serde_json::Value,
}

impl AuditDraft {
    /// The canonical body of this draft.
    pub fn body(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or_default();
        String::from_utf8(gsomia_crypto::canonical::to_vec(&value)).unwrap_or_default()
    }
}

/// A numbered, chained entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its number, from 1.
    pub seq: u64,
    /// The canonical JSON of the draft.
    pub body: String,
    /// `link(seq, previous hash, body)`, hex.
    pub hash: String,
}

/// The hash that chains entry `seq` with `body` after the entry whose hash is `prev`.
pub fn link(seq: u64, prev: &str, body: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!("gsomia-audit-v1\n{seq}\n{prev}\n").as_bytes());
    h.update(body.as_bytes());
    gsomia_crypto::hex(&h.finalize())
}

impl AuditEntry {
    /// Chains a body after the entry numbered `seq - 1` whose hash is `prev`.
    pub fn chain(seq: u64, prev: &str, body: String) -> AuditEntry {
        let hash = link(seq, prev, &body);
        AuditEntry { seq, body, hash }
    }

    /// The draft, read back from the body.
    pub fn parse(&self) -> Option<AuditDraft> {
        serde_json::from_str(&self.body).ok()
    }
}

/// Checks a chain from its first entry: numbering and hashes. Returns the number of entries, or
/// the number of the first bad one.
pub fn verify_chain<'a>(entries: impl IntoIterator<Item = &'a AuditEntry>) -> Result<u64, u64> {
    let mut prev = GENESIS.to_owned();
    let mut expected = 1;
    for e in entries {
        if e.seq != expected || link(e.seq, &prev, &e.body) != e.hash {
            return Err(expected);
        }
        prev = e.hash.clone();
        expected += 1;
    }
    Ok(expected - 1)
}

/// Where the next audit entry goes: the last entry's number and hash, and the right edge of the
/// Merkle tree over the entries. Backend-neutral: a store loads it from what it stored, asks
/// [`Head::append`] for each entry, and stores the entry and the hashes returned in the same
/// transaction; a refused batch restores the clone taken before it.
#[derive(Debug, Clone)]
pub struct Head {
    /// The last entry's number (0 before the first).
    pub seq: u64,
    /// The last entry's hash ([`GENESIS`] before the first).
    pub hash: String,
    #[cfg_attr(feature = "benchmark-without-merkle-log", allow(dead_code))]
    tree: gsomia_log::Frontier,
}

impl Head {
    /// The head after entry `seq` of hash `hash`, with the tree's right edge.
    pub fn new(seq: u64, hash: String, tree: gsomia_log::Frontier) -> Head {
        Head { seq, hash, tree }
    }

    /// Numbers and chains the next entry of `body`: the entry, and the Merkle tree's stored
    /// hashes it completes (stored-hash index, hash), to store with it.
    pub fn append(&mut self, body: String) -> (AuditEntry, Vec<(u64, gsomia_log::Hash)>) {
        let entry = AuditEntry::chain(self.seq + 1, &self.hash, body);
        #[cfg(not(feature = "benchmark-without-merkle-log"))]
        let hashes = self
            .tree
            .append(gsomia_log::leaf_hash(entry.body.as_bytes()));
        #[cfg(feature = "benchmark-without-merkle-log")]
        let hashes = Vec::new();
        self.seq = entry.seq;
        self.hash.clone_from(&entry.hash);
        (entry, hashes)
    }
}
