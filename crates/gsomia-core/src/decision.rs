//! Decisions: allow, or deny naming the SPEC rule that failed.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A rule of SPEC.md, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)] // Each variant is the rule of SPEC.md with that id.
pub enum Rule {
    A1,
    A2,
    A3,
    A4,
    A5,
    A6,
    A7,
    A8,
    /// An amendment (SPEC A9).
    A9,
    R1,
    R2,
    R3,
    R4,
    /// A standing consent (SPEC R4b): an originator's consent for a topic, in advance.
    R4b,
    R5,
    R6,
    R7,
    R8,
    /// An assurance before release (SPEC S1).
    S1,
    M1,
    M2,
    M3,
    M4,
    P1,
    P2,
    P3,
    P4,
    P5,
    P6,
    P7,
    /// Return of an item to its originator (SPEC P8).
    P8,
    /// Visits (SPEC V1).
    V1,
    /// Security representatives' inspection visits (SPEC V2).
    V2,
    /// Contractor facilities (SPEC C1).
    C1,
    H1,
    H2,
    H3,
    H4,
    H5,
    H6,
    H7,
    H8,
    /// Registers of people and holdings (SPEC G1).
    G1,
    /// National-law notices (SPEC N1).
    N1,
    /// Disputes (SPEC D1).
    D1,
    /// gsomia's own rule (not SPEC's): how a party's keys change (docs/RULES.md).
    K1,
}

impl Rule {
    /// The rule id as SPEC.md writes it (`R4`).
    pub fn id(self) -> &'static str {
        use Rule::*;
        match self {
            A1 => "A1",
            A2 => "A2",
            A3 => "A3",
            A4 => "A4",
            A5 => "A5",
            A6 => "A6",
            A7 => "A7",
            A8 => "A8",
            A9 => "A9",
            R1 => "R1",
            R2 => "R2",
            R3 => "R3",
            R4 => "R4",
            R4b => "R4b",
            R5 => "R5",
            R6 => "R6",
            R7 => "R7",
            R8 => "R8",
            S1 => "S1",
            M1 => "M1",
            M2 => "M2",
            M3 => "M3",
            M4 => "M4",
            P1 => "P1",
            P2 => "P2",
            P3 => "P3",
            P4 => "P4",
            P5 => "P5",
            P6 => "P6",
            P7 => "P7",
            P8 => "P8",
            V1 => "V1",
            V2 => "V2",
            C1 => "C1",
            H1 => "H1",
            H2 => "H2",
            H3 => "H3",
            H4 => "H4",
            H5 => "H5",
            H6 => "H6",
            H7 => "H7",
            H8 => "H8",
            G1 => "G1",
            N1 => "N1",
            D1 => "D1",
            K1 => "K1",
        }
    }
}

impl Rule {
    /// Every rule, in SPEC order.
    pub const ALL: [Rule; 46] = {
        use Rule::*;
        [
            A1, A2, A3, A4, A5, A6, A7, A8, A9, R1, R2, R3, R4, R4b, R5, R6, R7, R8, S1, M1, M2,
            M3, M4, P1, P2, P3, P4, P5, P6, P7, P8, V1, V2, C1, H1, H2, H3, H4, H5, H6, H7, H8, G1,
            N1, D1, K1,
        ]
    };

    /// The rule with this id (`"R4"`), if there is one.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A refusal: the first rule that failed and why, for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The rule.
    pub rule: Rule,
    /// What failed, naming the parties, levels and agreements involved.
    pub message: String,
}

/// The answer to "may this happen?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<T> {
    /// Allowed, with what the allowance carries (agreement, marking).
    Allow(T),
    /// Refused.
    Deny(Refusal),
}

impl<T> Decision<T> {
    /// Whether it is an allow.
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The refusal, if it is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Decision::Allow(_) => None,
            Decision::Deny(r) => Some(r),
        }
    }

    pub(crate) fn deny(rule: Rule, message: String) -> Self {
        Decision::Deny(Refusal { rule, message })
    }
}
