//! What the store keeps, in gsomia's types.

use gsomia_core::{Hop, ItemId, Label, LevelId, Marking, PartyCode, SchemeFile, Tag, User};
use gsomia_crypto::PublicKeys;
use serde::{Deserialize, Serialize};

/// A party's descriptor: who it is, its scheme, its public keys, where to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyRecord {
    /// The party code.
    pub code: PartyCode,
    /// Its name.
    pub name: String,
    /// Its classification scheme.
    pub scheme: SchemeFile,
    /// Its public keys.
    pub keys: PublicKeys,
    /// Its federation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The SHA-256 of its TLS certificate's public key, `sha256//BASE64`: the only key its
    /// partners accept from its endpoint (H7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_pin: Option<String>,
    /// The keys it used before its last rotations, oldest first: what they signed before stays
    /// valid (bindings, consents, receipts, checkpoints), nothing new is taken under them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_keys: Vec<PublicKeys>,
}

impl PartyRecord {
    /// Its signing keys, the current one first, then the previous ones, newest first.
    pub fn signing_keys(&self) -> impl Iterator<Item = &PublicKeys> {
        std::iter::once(&self.keys).chain(self.previous_keys.iter().rev())
    }
}

/// A user and the hash of their token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user.
    pub user: User,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// Whether the user is disabled.
    pub disabled: bool,
    /// The last day (`YYYY-MM-DD`) the token works; none: until it is reissued or disabled.
    pub expires: Option<String>,
}

/// One item version as stored: the label in clear for decisions and queries, the content
/// sealed (P5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    /// Order of addition, the cursor of listings (0 before it is stored).
    pub seq: i64,
    /// STIX id.
    pub id: ItemId,
    /// STIX `modified` (or `created` for objects without it).
    pub modified: String,
    /// STIX type.
    pub stix_type: String,
    /// The originator's label.
    pub label: Label,
    /// This node's marking, when another party originated it.
    pub marking: Option<Marking>,
    /// The custody chain.
    pub custody: Vec<Hop>,
    /// The originator's binding, base64.
    pub binding: String,
    /// The item key, wrapped; `None` once destroyed.
    pub wrapped_key: Option<Vec<u8>>,
    /// The sealed content; `None` once destroyed.
    pub content: Option<Vec<u8>>,
    /// When it was added (RFC 3339).
    pub added: String,
    /// When it was destroyed, if it was.
    pub destroyed: Option<String>,
}

/// Row counts and the audit head.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counts {
    /// Parties.
    pub parties: u64,
    /// Agreements.
    pub agreements: u64,
    /// Users.
    pub users: u64,
    /// Item versions.
    pub items: u64,
    /// Outbox messages.
    pub outbox: u64,
    /// Audit entries.
    pub audit: u64,
    /// The hash of the last audit entry.
    pub audit_head: String,
}

/// A standing release rule (R7): items of this node's own origin on these topics, up to this
/// level, are released to the party when they are published, if R1–R6 allow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRule {
    /// Its id (0 before it is stored).
    #[serde(default)]
    pub id: i64,
    /// The recipient.
    pub to: PartyCode,
    /// The item must have at least one of these topics.
    pub topics: Vec<Tag>,
    /// The highest level (of this node's scheme) it covers.
    pub max_level: LevelId,
    /// The authority or security officer who made it.
    #[serde(default)]
    pub created_by: String,
    /// When.
    #[serde(default)]
    pub created: String,
}

/// An incident report (P6): loss, compromise or possible compromise of an item, or the
/// follow-up with the investigation's result and corrective measures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Its id (0 before it is stored).
    #[serde(default)]
    pub id: i64,
    /// The item's STIX id.
    pub item: ItemId,
    /// `loss`, `compromise`, `possible_compromise`, or `result` for a follow-up.
    pub kind: String,
    /// What happened, or the result and measures.
    pub description: String,
    /// Who reported it.
    pub reported_by: String,
    /// When.
    pub at: String,
    /// The report a follow-up follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follows: Option<i64>,
}

/// Evidence that a partner's audit log was rewritten (H6): the checkpoint of its log this node
/// witnessed, the one it was shown, the consistency proof between them that fails (signed by
/// the partner, so not anyone's replay), and what failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// The partner.
    pub party: PartyCode,
    /// The checkpoint witnessed before (its signed note).
    pub held: String,
    /// The checkpoint shown now.
    pub shown: String,
    /// The proof that fails.
    pub proof: gsomia_log::ConsistencyProof,
    /// When it was found (RFC 3339).
    pub found: String,
    /// What failed, for the officer.
    pub message: String,
}
