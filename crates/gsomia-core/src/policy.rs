//! Who may take which action at a node: one table, asked by every interface (REST, TAXII,
//! federation, the console) and never re-implemented by them.
//!
//! Roles say what a user may *do*; they never let anyone *read* (P1 decides that, in
//! [`crate::read`]). Reading and listing need no role. Every other action is in the table of
//! [`permit`], with the rule a refusal names.

use crate::decision::{Refusal, Rule};
use crate::user::{Role, User};

/// Something a user asks a node to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read one item (P1 decides; no role needed).
    Read,
    /// List what one may read (P1 decides per item; no role needed).
    List,
    /// Publish an item of this party's.
    Publish,
    /// Derive an item from items one may read (P4).
    Derive,
    /// Release an item to a party (R7: no duty to share).
    Release,
    /// Make or see standing release rules (R7).
    ReleaseRules,
    /// Destroy an item (P5).
    Destroy,
    /// Change the classification of an item this party originated (M4).
    Reclassify,
    /// Record an event of an agreement (notice, suspension, signature…) or propose one (A7).
    AgreementEvent,
    /// Ask an originator for consent to release onward (R4).
    AskConsent,
    /// See the consent requests partners sent (R4).
    ConsentRequests,
    /// Answer a consent request: sign a consent or refuse (R4).
    AnswerConsent,
    /// Write to the partners under an agreement: law notices and their acknowledgements (N1),
    /// disputes and their settlements (D1).
    Correspond,
    /// Read that correspondence (N1, D1).
    Correspondence,
    /// Make the registers of cleared people and of holdings (G1).
    Registers,
    /// Give a partner an assurance for this party's recipient (S1).
    Assure,
    /// Register and inspect contractor facilities (C1).
    Facilities,
    /// Report loss or compromise of an item one may read (P6: every holder's duty; no role).
    ReportIncident,
    /// Record the investigation's result of an incident, or list incidents (P6).
    ManageIncidents,
    /// Read the audit log and its evidence (P7).
    Audit,
    /// Issue a checkpoint of the audit log, or ask a holder for an item's custody record (P7).
    Log,
    /// See how the node stands with its partners: queues, deliveries, failures (P7).
    Status,
    /// Read the node's operating metrics (`/metrics`): the node's administrator (P7).
    Metrics,
}

use Action::*;

const OFFICERS: &[Role] = &[Role::Authority, Role::SecurityOfficer];
const PUBLISHERS: &[Role] = &[Role::Analyst, Role::SecurityOfficer, Role::Authority];
const AUTHORITY: &[Role] = &[Role::Authority];
const AUDITORS: &[Role] = &[Role::Authority, Role::SecurityOfficer, Role::Admin];

/// The roles that may take `action` (empty: anyone authenticated), and the rule a refusal
/// names.
pub fn roles(action: Action) -> (&'static [Role], Rule) {
    match action {
        Read | List => (&[], Rule::P1),
        Publish | Derive => (PUBLISHERS, Rule::P1),
        ReportIncident => (&[], Rule::P6),
        Release | ReleaseRules => (OFFICERS, Rule::R7),
        Destroy => (OFFICERS, Rule::P5),
        Reclassify => (AUTHORITY, Rule::M4),
        AgreementEvent => (AUTHORITY, Rule::A7),
        AskConsent | ConsentRequests => (OFFICERS, Rule::R4),
        AnswerConsent => (AUTHORITY, Rule::R4),
        Correspond => (AUTHORITY, Rule::N1),
        Correspondence => (OFFICERS, Rule::N1),
        Registers => (OFFICERS, Rule::G1),
        Assure => (AUTHORITY, Rule::S1),
        Facilities => (OFFICERS, Rule::C1),
        ManageIncidents => (OFFICERS, Rule::P6),
        Audit | Log | Status => (AUDITORS, Rule::P7),
        Metrics => (&[Role::Admin], Rule::P7),
    }
}

/// May `user` take `action`? The refusal names the rule and the roles that may.
pub fn permit(user: &User, action: Action) -> Result<(), Refusal> {
    let (needed, rule) = roles(action);
    if needed.is_empty() || user.roles.iter().any(|r| needed.contains(r)) {
        return Ok(());
    }
    let names: Vec<&str> = needed.iter().map(|r| role_name(*r)).collect();
    Err(Refusal {
        rule,
        message: format!(
            "{} may not {}: that needs the role {}",
            user.id,
            verb(action),
            names.join(" or ")
        ),
    })
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Analyst => "analyst",
        Role::SecurityOfficer => "security_officer",
        Role::Authority => "authority",
        Role::Admin => "admin",
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Read => "read items",
        List => "list items",
        Publish => "publish",
        Derive => "derive items",
        Release => "release items (no duty to share)",
        ReleaseRules => "make or see standing release rules",
        Destroy => "destroy items",
        Reclassify => "change a classification",
        AgreementEvent => "record agreement events",
        AskConsent => "ask for consent",
        ConsentRequests => "see consent requests",
        AnswerConsent => "consent on the originator's behalf",
        Correspond => "write to partners on the party's behalf",
        Correspondence => "read the correspondence with partners",
        Registers => "make the registers of people and holdings",
        Assure => "give assurances on the party's behalf",
        Facilities => "register or inspect contractor facilities",
        ReportIncident => "report incidents",
        ManageIncidents => "manage incidents",
        Audit => "read the audit log",
        Log => "act on the audit log",
        Status => "see the node's delivery status",
        Metrics => "read the node's metrics",
    }
}
