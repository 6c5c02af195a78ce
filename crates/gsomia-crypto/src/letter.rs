//! Letters between authorities under an agreement (N1, D1): signed by the sender's key, used
//! only as a [`Verified<Letter>`], which only [`verify_letter`] makes.

use ed25519_dalek::{SigningKey, VerifyingKey};
use gsomia_core::Letter;
use serde_json::Value;

use crate::Verified;

/// The JSON a sender signs: the letter without its signature.
fn body(letter: &Letter) -> Value {
    let unsigned = Letter {
        signature: None,
        ..letter.clone()
    };
    // INVARIANT: a `Letter` is plain data (strings, dates, codes): it always serialises.
    serde_json::to_value(unsigned).unwrap_or_default()
}

/// Signs `letter` as its sender.
pub fn sign_letter(key: &SigningKey, letter: Letter) -> Letter {
    let signature = crate::statement::sign(key, "letter", &body(&letter));
    Letter {
        signature: Some(signature),
        ..letter
    }
}

/// Checks a letter's signature with its sender's key (`key`, which the caller looked up by
/// `letter.from`); `Err` names the letter.
pub fn verify_letter(key: &VerifyingKey, letter: Letter) -> Result<Verified<Letter>, String> {
    let signed = letter
        .signature
        .as_ref()
        .is_some_and(|s| crate::statement::verify(key, "letter", &body(&letter), s));
    match signed {
        true => Ok(Verified::new(letter)),
        false => Err(format!(
            "letter `{}` does not verify with {}'s key",
            letter.id, letter.from
        )),
    }
}
