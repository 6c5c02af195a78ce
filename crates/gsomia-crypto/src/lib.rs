//! gsomia-crypto: the cryptography of the treaty, with no I/O.
//!
//! - [`binding`]: the originator's Ed25519 signature that binds a label to its content.
//! - [`canonical`]: RFC 8785 canonical JSON, which everything signed as JSON is signed over.
//! - [`envelope`]: what nodes send each other: HPKE to the recipient, signed by the sender (R8).
//! - [`keys`]: a node's keys and the hash under which bearer tokens are stored.
//! - [`seal`]: content at rest under per-item keys wrapped by a master key (P5).
//! - [`signed`]: statements signed in a field of their own: letters (N1, D1), assurances (S1).
//! - [`statement`]: signed statements (destruction certificates, receipts, events).
//!
//! Randomness is the caller's: keys are made from seeds the caller draws.

pub mod backup;
pub mod binding;
pub mod canonical;
pub mod consent;
pub mod envelope;
pub mod keys;
pub mod passphrase;
pub mod seal;
pub mod signed;
pub mod statement;

pub use binding::{
    Binding, BindingError, Verified, hex, sign_binding, verify_binding, verify_binding_any,
};
pub use consent::{ConsentError, verify_consent};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use keys::{NodeKeys, PublicKeys, token_hash};
