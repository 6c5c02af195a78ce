//! The binding (SPEC §2): the originator's Ed25519 signature over the RFC 8785 canonical JSON of
//! the label and the SHA-256 of the canonical STIX object.
//!
//! The signed message is the ASCII context `gsomia-binding-v1` and a newline, then
//! `JCS({"label": <label>, "object_sha256": <lower-case hex>})`, where the object's hash is taken
//! over `JCS(object)`. The context keeps a binding from ever being valid as any other gsomia
//! signature. Any node can verify a binding with the originator's public key; nobody can change
//! a label or an object without breaking it. Verification uses `verify_strict`, which refuses
//! the malleable and small-order encodings that plain Ed25519 verification lets through.

use std::borrow::Borrow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use gsomia_core::{Item, Label};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::canonical;

/// The context that starts every binding message.
pub const CONTEXT: &[u8] = b"gsomia-binding-v1\n";

/// A binding signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding(Signature);

impl Binding {
    /// The signature in standard base64, as item files carry it.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.to_bytes())
    }

    /// Reads a signature from base64.
    pub fn from_base64(text: &str) -> Result<Binding, BindingError> {
        let bytes = STANDARD
            .decode(text)
            .map_err(|_| BindingError::Malformed("not base64".into()))?;
        let bytes: [u8; 64] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| BindingError::Malformed(format!("{} bytes, not 64", b.len())))?;
        Ok(Binding(Signature::from_bytes(&bytes)))
    }
}

/// Why a binding does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// The item carries no binding.
    #[error("the item carries no binding (R6)")]
    Missing,
    /// The binding is not a well-formed signature.
    #[error("the binding is malformed: {0} (R6)")]
    Malformed(String),
    /// The signature does not verify: the label or the object changed, or another key signed.
    #[error(
        "the binding does not verify: the label or the object was changed, or the originator did not sign it (R6)"
    )]
    Mismatch,
    /// The label could not be turned into JSON.
    #[error("the label can not be canonicalised: {0}")]
    Canonical(String),
}

/// Proof that a signature was checked: code that needs a verified item or envelope asks for this
/// type, and only this crate's checks ([`verify_binding`], `envelope::open`) make one.
#[derive(Debug, Clone, Copy)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    /// Marks a value as verified; only this crate's checks call it.
    pub(crate) fn new(value: T) -> Self {
        Verified(value)
    }

    /// The verified value.
    pub fn into_inner(self) -> T {
        self.0
    }

    /// The verified value, borrowed: what was checked stays checked.
    pub fn as_ref(&self) -> Verified<&T> {
        Verified(&self.0)
    }
}

impl<T> std::ops::Deref for Verified<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

#[derive(Serialize)]
struct Bound<'a> {
    label: &'a Label,
    object_sha256: String,
}

/// The exact bytes a binding signs.
pub fn message(label: &Label, object: &Value) -> Result<Vec<u8>, BindingError> {
    message_of_canonical(label, &canonical::to_vec(object))
}

/// [`message`] of an object given as its canonical form (`canonical::to_vec(object)`), for a
/// caller that needs that form anyway (to seal it).
pub fn message_of_canonical(label: &Label, object: &[u8]) -> Result<Vec<u8>, BindingError> {
    let object_sha256 = hex(&Sha256::digest(object));
    let bound = serde_json::to_value(Bound {
        label,
        object_sha256,
    })
    .map_err(|e| BindingError::Canonical(e.to_string()))?;
    let mut msg = Vec::with_capacity(CONTEXT.len() + 512);
    msg.extend_from_slice(CONTEXT);
    canonical::write(&mut msg, &bound);
    Ok(msg)
}

/// Signs the binding of `label` to `object` with the originator's key.
pub fn sign_binding(
    key: &SigningKey,
    label: &Label,
    object: &Value,
) -> Result<Binding, BindingError> {
    Ok(Binding(key.sign(&message(label, object)?)))
}

/// [`sign_binding`] of an object given as its canonical form (`canonical::to_vec(object)`):
/// the node signs and seals the same bytes, made once.
pub fn sign_binding_canonical(
    key: &SigningKey,
    label: &Label,
    object: &[u8],
) -> Result<Binding, BindingError> {
    Ok(Binding(key.sign(&message_of_canonical(label, object)?)))
}

/// Checks the binding an item carries against its originator's public key.
pub fn verify_binding<I: Borrow<Item>>(
    key: &VerifyingKey,
    item: I,
) -> Result<Verified<I>, BindingError> {
    verify_binding_any(std::slice::from_ref(key), item)
}

/// Checks the binding an item carries against any of `keys` (an originator's current key and
/// those its rotations replaced); the error of the first key if none verifies.
pub fn verify_binding_any<I: Borrow<Item>>(
    keys: &[VerifyingKey],
    item: I,
) -> Result<Verified<I>, BindingError> {
    verify_binding_canonical(keys, item).map(|(verified, _)| verified)
}

/// [`verify_binding_any`], answering also the object's canonical form it hashed
/// (`canonical::to_vec(object)`): a receiving node seals those same bytes.
pub fn verify_binding_canonical<I: Borrow<Item>>(
    keys: &[VerifyingKey],
    item: I,
) -> Result<(Verified<I>, Vec<u8>), BindingError> {
    let it = item.borrow();
    let text = it.file().binding.as_deref().ok_or(BindingError::Missing)?;
    let binding = Binding::from_base64(text)?;
    let object = canonical::to_vec(it.object());
    let msg = message_of_canonical(it.label(), &object)?;
    match keys
        .iter()
        .any(|k| k.verify_strict(&msg, &binding.0).is_ok())
    {
        true => Ok((Verified(item), object)),
        false => Err(BindingError::Mismatch),
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}
