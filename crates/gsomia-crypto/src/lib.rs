//! gsomia-crypto: the cryptography of the treaty, with no I/O.
//!
//! - [`binding`]: the originator's Ed25519 signature that binds a label to its content.
//! - [`canonical`]: RFC 8785 canonical JSON, which everything signed as JSON is signed over.
//!
//! Randomness is the caller's: keys are made from seeds the caller draws.

pub mod binding;
pub mod canonical;

pub use binding::{Binding, BindingError, Verified, sign_binding, verify_binding};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
