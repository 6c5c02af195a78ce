//! What makes an agreement's history contradict itself (A7) or change a terminated agreement
//! (A6). Its own module, so that `input` (which reports it) and `agreement` (which finds it)
//! do not depend on each other.

use crate::date::Date;
use crate::party::PartyCode;

/// A history that contradicts itself (A7) or changes a terminated agreement (A6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// An event dated before the one listed before it.
    #[error(
        "dated before the event before it ({previous}): events are append-only, in date order (A7)"
    )]
    OutOfOrder {
        /// The date of the event before.
        previous: Date,
    },
    /// An event by a party that is not a party to the agreement.
    #[error("{0} is not a party to this agreement (A7)")]
    NotAParty(PartyCode),
    /// A second signature by the same party.
    #[error("{0} has already signed (A7)")]
    SignedTwice(PartyCode),
    /// An event other than a signature before every party has signed.
    #[error("a {0} before the agreement entered into force: not every party has signed (A1, A7)")]
    BeforeEntryIntoForce(&'static str),
    /// An event on or after the day of termination.
    #[error("the agreement terminated on {0}; no event changes it (A6)")]
    AfterTermination(Date),
    /// A notice while another stands.
    #[error("a notice by {by} of {on} already stands (A7)")]
    NoticeStands {
        /// Who gave the standing notice.
        by: PartyCode,
        /// When.
        on: Date,
    },
    /// A suspension, resumption or withdrawal with no notice standing.
    #[error("a {0} needs a standing notice, and none stands (A7)")]
    NoNotice(&'static str),
    /// A suspension, resumption or withdrawal by a party that did not give the notice.
    #[error("only {giver}, who gave the notice, can make its {kind} (A7)")]
    NotTheGiver {
        /// Who gave the notice.
        giver: PartyCode,
        /// The event attempted.
        kind: &'static str,
    },
    /// A resumption of a notice that is not suspended.
    #[error("a resumption needs a suspended notice; the notice stands unsuspended (A7)")]
    NotSuspended,
    /// A suspension of a notice that is already suspended.
    #[error("the notice is already suspended (A7)")]
    AlreadySuspended,
}
