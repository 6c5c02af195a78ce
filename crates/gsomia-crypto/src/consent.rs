//! Consents (R4, R4b, P2): the originator's signed, written approval. A consent is used only as
//! a [`Verified<Consent>`], which only [`verify_consent`] makes: a consent is trusted because its
//! originator's signature verifies, never because it is stored or carried. A revocation (R4b)
//! is the originator's second signature, over the consent's id and the day it ends from.

use ed25519_dalek::{SigningKey, VerifyingKey};
use gsomia_core::{Consent, Date, Revocation};
use serde_json::{Value, json};

use crate::Verified;

/// The JSON an originator signs for a consent: the consent without its signature and
/// revocation.
pub fn consent_body(consent: &Consent) -> Value {
    let unsigned = Consent {
        signature: None,
        revoked: None,
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

/// The JSON an originator signs to revoke consent `id` from day `from` on.
fn revocation_body(id: &str, from: Date) -> Value {
    json!({ "consent": id, "from": from })
}

/// Revokes `consent` from day `from` on, as its originator (R4b).
pub fn sign_revocation(key: &SigningKey, consent: Consent, from: Date) -> Consent {
    let body = revocation_body(&consent.id, from);
    let signature = crate::statement::sign(key, "consent-revocation", &body);
    Consent {
        revoked: Some(Revocation {
            from,
            signature: Some(signature),
        }),
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
    /// It carries a revocation whose signature is not its originator's.
    #[error("the revocation of consent `{0}` does not verify with its originator's key")]
    ForgedRevocation(String),
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
    if !crate::statement::verify(
        originator_key,
        "consent",
        &consent_body(&consent),
        signature,
    ) {
        return Err(ConsentError::Forged(consent.id));
    }
    if let Some(r) = &consent.revoked {
        let body = revocation_body(&consent.id, r.from);
        let signed = r.signature.as_ref().is_some_and(|s| {
            crate::statement::verify(originator_key, "consent-revocation", &body, s)
        });
        if !signed {
            return Err(ConsentError::ForgedRevocation(consent.id));
        }
    }
    Ok(Verified::new(consent))
}
