//! gsomia-core: the treaty as code.
//!
//! Schemes, agreements and their lifecycle, equivalence, labels, consents, and the two
//! questions everything else asks: may this item be released to that party ([`release`]), and
//! may this person read it ([`read`])? Pure functions: no I/O, no clock, no randomness. The
//! caller passes the day and loads the world.

pub mod access;
pub mod agreement;
pub mod assurance;
pub mod consent;
pub mod correspondence;
pub mod date;
pub mod decision;
pub mod equivalence;
pub mod facility;
pub mod history;
pub mod input;
pub mod item;
pub mod label;
pub mod party;
pub mod policy;
pub mod receipt;
pub mod reclassification;
pub mod release;
pub mod scheme;
pub mod user;
pub mod visit;
pub mod warning;
pub mod world;

pub use access::{Access, read, read_label};
pub use agreement::{Agreement, AgreementFile, AgreementId, Event, EventKind, State, Status};
pub use assurance::Assurance;
pub use consent::{Consent, ConsentRequest, Covered, Grantee, Onward, Revocation};
pub use correspondence::{Letter, LetterKind};
pub use date::Date;
pub use decision::{Decision, Refusal, Rule};
pub use facility::Facility;
pub use input::{Invalid, Place, Problem};
pub use item::{BadItemId, Item, ItemFile, ItemId, derive, version_of};
pub use label::{Caveat, Grading, Hop, Label, Marking, Tag, Timestamp};
pub use party::PartyCode;
pub use policy::{Action, permit};
pub use receipt::{Receipt, SignedReceipt};
pub use release::{Release, release};
pub use scheme::{LevelId, Scheme, SchemeFile};
pub use user::{Role, User, UserKind};
pub use visit::Visit;
pub use world::{World, WorldError};
