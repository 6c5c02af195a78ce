//! The audit log as a hash chain (P7). Each entry's body is RFC 8785 canonical JSON that names
//! the previous entry's hash, and the entry's hash is SHA-256 of its body, so changing, removing
//! or reordering any entry breaks every hash after it. (The Merkle log of issue 5 is built over
//! these same bodies.)

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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
    /// `allow`, `deny` or `record`.
    pub decision: String,
    /// The SPEC rule that decided, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Anything else worth keeping (never a secret).
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// A numbered, chained entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its number, from 1.
    pub seq: u64,
    /// The canonical JSON body, which includes `seq` and `prev`.
    pub body: String,
    /// Hex SHA-256 of the body.
    pub hash: String,
}

#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    prev: &'a str,
    #[serde(flatten)]
    draft: &'a AuditDraft,
}

impl AuditEntry {
    /// Chains a draft after the entry numbered `seq - 1` whose hash is `prev`.
    pub fn chain(seq: u64, prev: &str, draft: &AuditDraft) -> AuditEntry {
        let value = serde_json::to_value(Body { seq, prev, draft }).unwrap_or_default();
        let body = String::from_utf8(gsomia_crypto::canonical::to_vec(&value)).unwrap_or_default();
        let hash = gsomia_crypto::hex(&Sha256::digest(body.as_bytes()));
        AuditEntry { seq, body, hash }
    }

    /// The draft and the previous hash, read back from the body.
    pub fn parse(&self) -> Option<(String, AuditDraft)> {
        let mut v: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        let prev = v.get("prev")?.as_str()?.to_owned();
        let obj = v.as_object_mut()?;
        obj.remove("seq");
        obj.remove("prev");
        Some((prev, serde_json::from_value(v).ok()?))
    }
}

/// Checks a chain from its first entry: numbering, links and hashes. Returns the number of the
/// first bad entry.
pub fn verify_chain<'a>(entries: impl IntoIterator<Item = &'a AuditEntry>) -> Result<u64, u64> {
    let mut prev = GENESIS.to_owned();
    let mut expected = 1;
    for e in entries {
        let Some((linked, draft)) = e.parse() else {
            return Err(e.seq);
        };
        if e.seq != expected || linked != prev || AuditEntry::chain(e.seq, &prev, &draft) != *e {
            return Err(expected);
        }
        prev = e.hash.clone();
        expected += 1;
    }
    Ok(expected - 1)
}
