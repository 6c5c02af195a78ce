//! Statements that carry their signer's signature in a field of their own: letters between
//! authorities (N1, D1) and assurances (S1). Each is signed over its JSON without the signature
//! ([`sign`]) and used only as a [`Verified`] value, which only [`verify`] makes.

use ed25519_dalek::{SigningKey, VerifyingKey};
use gsomia_core::{Assurance, Letter};
use serde::Serialize;
use serde_json::Value;

use crate::Verified;

/// A statement signed in its own `signature` field.
pub trait SelfSigned: Clone + Serialize {
    /// The statement kind its signature is made under (see [`crate::statement`]).
    const KIND: &'static str;
    /// Its signature, if it has one.
    fn signature(&self) -> Option<&str>;
    /// It with `signature` in place of its own.
    fn with_signature(self, signature: Option<String>) -> Self;
    /// Its id, for messages.
    fn id(&self) -> &str;
}

impl SelfSigned for Letter {
    const KIND: &'static str = "letter";
    fn signature(&self) -> Option<&str> {
        self.signature.as_deref()
    }
    fn with_signature(self, signature: Option<String>) -> Self {
        Letter { signature, ..self }
    }
    fn id(&self) -> &str {
        &self.id
    }
}

impl SelfSigned for Assurance {
    const KIND: &'static str = "assurance";
    fn signature(&self) -> Option<&str> {
        self.signature.as_deref()
    }
    fn with_signature(self, signature: Option<String>) -> Self {
        Assurance { signature, ..self }
    }
    fn id(&self) -> &str {
        &self.id
    }
}

/// The JSON a signer signs: the statement without its signature.
fn body<T: SelfSigned>(t: &T) -> Value {
    // INVARIANT: these statements are plain data (strings, dates, codes): they serialise.
    serde_json::to_value(t.clone().with_signature(None)).unwrap_or_default()
}

/// Signs `t` with `key`.
pub fn sign<T: SelfSigned>(key: &SigningKey, t: T) -> T {
    let signature = crate::statement::sign(key, T::KIND, &body(&t));
    t.with_signature(Some(signature))
}

/// Checks `t`'s signature with its signer's key (`key`, which the caller looked up); `Err`
/// names the statement.
pub fn verify<T: SelfSigned>(key: &VerifyingKey, t: T) -> Result<Verified<T>, String> {
    let signed = t
        .signature()
        .is_some_and(|s| crate::statement::verify(key, T::KIND, &body(&t), s));
    match signed {
        true => Ok(Verified::new(t)),
        false => Err(format!(
            "{} `{}` does not verify with its signer's key",
            T::KIND,
            t.id()
        )),
    }
}
