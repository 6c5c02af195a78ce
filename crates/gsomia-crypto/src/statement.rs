//! Signed statements: a node's Ed25519 signature over the RFC 8785 canonical JSON of a statement
//! (a destruction certificate, a receipt, a consent, an agreement event), prefixed with a context
//! naming its kind, so that a signature made for one kind is never valid for another.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::Value;

/// The bytes a statement of `kind` is signed over: the context line, then the statement's
/// canonical JSON. (Also the leaf of a batch of statements signed once, under a Merkle root.)
pub fn message(kind: &str, statement: &Value) -> Vec<u8> {
    let mut msg = format!("gsomia-{kind}-v1\n").into_bytes();
    crate::canonical::write(&mut msg, statement);
    msg
}

/// Signs `statement` as a statement of `kind`; the signature in base64.
pub fn sign(key: &SigningKey, kind: &str, statement: &Value) -> String {
    STANDARD.encode(key.sign(&message(kind, statement)).to_bytes())
}

/// Checks a signature made by [`sign`].
pub fn verify(key: &VerifyingKey, kind: &str, statement: &Value, signature: &str) -> bool {
    let Some(bytes) = STANDARD
        .decode(signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
    else {
        return false;
    };
    key.verify_strict(&message(kind, statement), &Signature::from_bytes(&bytes))
        .is_ok()
}
