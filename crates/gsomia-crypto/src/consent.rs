//! Consents (R4, P2): the originator's signed, written approval. A consent is used only as a
//! [`Verified<Consent>`], which only [`verify_consent`] makes: a consent is trusted because its
//! originator's signature verifies, never because it is stored or carried.

use ed25519_dalek::{SigningKey, VerifyingKey};
use gsomia_core::Consent;
use serde_json::Value;

use crate::Verified;

/// The JSON an originator signs for a consent: the consent without its signature.
pub fn consent_body(consent: &Consent) -> Value {
    let unsigned = Consent {
        signature: None,
        ..consent.clone()
    };
    // INVARIANT: a `Consent` is plain data (strings, dates, codes): it always serialises.
    serde_json::to_value(unsigned).unwrap_or_default()
}

/// Signs `consent` as its originator.
pub fn sign_consent(key: &SigningKey, consent: Consent) -> Consent {
    let signature = crate::statement::sign(key, "consent", &consent_body(&consent));
    Consent {
        signature: Some(signature),
        ..consent
    }
}

/// Why a consent is not verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentError {
    /// It carries no signature.
    #[error("consent `{0}` is not signed")]
    Unsigned(String),
    /// Its signature is not its originator's.
    #[error("consent `{0}` does not verify with its originator's key")]
    Forged(String),
}

/// Checks a consent's signature with its originator's key (`originator_key`, which the caller
/// looked up by `consent.originator`).
pub fn verify_consent(
    originator_key: &VerifyingKey,
    consent: Consent,
) -> Result<Verified<Consent>, ConsentError> {
    let Some(signature) = &consent.signature else {
        return Err(ConsentError::Unsigned(consent.id));
    };
    if crate::statement::verify(
        originator_key,
        "consent",
        &consent_body(&consent),
        signature,
    ) {
        Ok(Verified::new(consent))
    } else {
        Err(ConsentError::Forged(consent.id))
    }
}
