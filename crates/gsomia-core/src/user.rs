//! Users of a node: who may read what (P1, P2).

use serde::{Deserialize, Serialize};

use crate::label::Tag;
use crate::party::PartyCode;
use crate::scheme::LevelId;

/// A role. Roles say what a user may do at a node; they never let anyone read (P1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Publishes and reads items.
    Analyst,
    /// Runs the node; releases items and creates standing release rules (R7).
    SecurityOfficer,
    /// Signs and terminates agreements; releases items; answers consent requests.
    Authority,
    /// Administers users.
    Admin,
}

/// Whether a user is a government official or a contractor (P2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserKind {
    /// A government official.
    #[default]
    Official,
    /// A contractor: reads another party's items only with that party's consent (P2).
    Contractor,
}

/// A user as written (see `model-case/users/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The user's id at the node.
    pub id: String,
    /// The user's name.
    #[serde(default)]
    pub name: String,
    /// The party (node) the user belongs to.
    pub party: PartyCode,
    /// What the user may do.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// The user's clearance: a level of the party's scheme.
    pub clearance: LevelId,
    /// The purposes and topics of the user's official work (need-to-know, P1).
    #[serde(default)]
    pub duties: Vec<Tag>,
    /// Official or contractor.
    #[serde(default)]
    pub kind: UserKind,
    /// A contractor's facility (C1), registered at the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facility: Option<String>,
    /// A visitor's (V1): the id of the host's authorisation letter, which bounds what they
    /// read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit: Option<String>,
}

impl User {
    /// Parses a user from JSON text; the world checks the clearance against the scheme.
    pub fn from_json(text: &str) -> Result<User, crate::Invalid> {
        crate::input::parse(text)
    }
}
