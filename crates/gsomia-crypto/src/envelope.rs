//! Envelopes (SPEC §7, R8): what one node sends another. The payload is encrypted to the
//! recipient's X25519 key with HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256, ChaCha20-Poly1305), with the header as associated data, and the whole is signed
//! by the sender's Ed25519 key. Nobody but the addressee can read it, a hub included; nobody
//! can change the header or the ciphertext without breaking the signature.
//!
//! [`open`] checks the signature before it decrypts anything, and returns a [`Verified`]
//! payload: the only way to get one.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use gsomia_core::PartyCode;
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
pub use hpke::rand_core::{CryptoRng, RngCore};
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use serde::{Deserialize, Serialize};

use crate::Verified;

const INFO: &[u8] = b"gsomia-envelope-v1";

/// The version of the federation protocol this build speaks; a receiver refuses any other
/// before it opens the envelope. 2: envelopes in flight, each naming the one before; 3: a
/// reply's receipts signed once, each with its place in the batch.
pub const PROTOCOL: u16 = 3;

/// Who sends what to whom: covered by the signature and bound to the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The federation protocol's version ([`PROTOCOL`]).
    pub protocol: u16,
    /// The sender.
    pub from: PartyCode,
    /// The addressee.
    pub to: PartyCode,
    /// Unique per sender: a resent envelope keeps its id, so the receiver answers it again
    /// instead of applying it twice.
    pub id: String,
    /// The first and last outbox sequence numbers it carries, in order per sender.
    pub seq: (u64, u64),
    /// When it was sealed (RFC 3339).
    pub sent: String,
}

/// A sealed, signed envelope, as it travels (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The header.
    pub header: Header,
    /// The HPKE encapsulated key, base64.
    pub enc: String,
    /// The ciphertext, base64.
    pub ct: String,
    /// The sender's Ed25519 signature over the canonical JSON of header, enc and ct, base64.
    pub sig: String,
}

/// Why an envelope is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The signature does not verify with the sender's key: forged, altered, or another key.
    #[error("the envelope's signature does not verify with {0}'s key (M1)")]
    Signature(PartyCode),
    /// The envelope is addressed to another party.
    #[error("the envelope is addressed to {0}, not to this node (R8)")]
    NotForUs(PartyCode),
    /// A field is not base64 or not a key.
    #[error("the envelope is malformed: {0}")]
    Malformed(&'static str),
    /// The ciphertext does not open with this node's key.
    #[error("the envelope does not decrypt with this node's key (R8)")]
    Decrypt,
    /// Sealing failed (the recipient's key is not a valid X25519 point).
    #[error("can not seal to {0}'s key")]
    Seal(PartyCode),
}

fn signed_bytes(header: &Header, enc: &str, ct: &str) -> serde_json::Value {
    serde_json::json!({ "header": header, "enc": enc, "ct": ct })
}

fn aad(header: &Header) -> Vec<u8> {
    let value = serde_json::to_value(header).unwrap_or_default();
    crate::canonical::to_vec(&value)
}

/// Seals `payload` to the recipient's X25519 public key (32 bytes) and signs it.
pub fn seal<R: CryptoRng + RngCore>(
    sender: &SigningKey,
    recipient: &[u8; 32],
    header: Header,
    payload: &[u8],
    rng: &mut R,
) -> Result<Envelope, EnvelopeError> {
    let to = header.to;
    let pk = <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(recipient)
        .map_err(|_| EnvelopeError::Seal(to))?;
    let (encapped, ct) =
        hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256, R>(
            &OpModeS::Base,
            &pk,
            INFO,
            payload,
            &aad(&header),
            rng,
        )
        .map_err(|_| EnvelopeError::Seal(to))?;
    let enc = STANDARD.encode(encapped.to_bytes());
    let ct = STANDARD.encode(ct);
    let sig = crate::statement::sign(sender, "envelope", &signed_bytes(&header, &enc, &ct));
    Ok(Envelope {
        header,
        enc,
        ct,
        sig,
    })
}

/// Checks the signature with the sender's key, then that the envelope is addressed to `me`,
/// then decrypts with this node's X25519 secret (32 bytes).
pub fn open(
    envelope: &Envelope,
    sender: &VerifyingKey,
    me: PartyCode,
    secret: &[u8; 32],
) -> Result<Verified<Vec<u8>>, EnvelopeError> {
    let h = &envelope.header;
    let signed = signed_bytes(h, &envelope.enc, &envelope.ct);
    if !crate::statement::verify(sender, "envelope", &signed, &envelope.sig) {
        return Err(EnvelopeError::Signature(h.from));
    }
    if h.to != me {
        return Err(EnvelopeError::NotForUs(h.to));
    }
    let enc = STANDARD
        .decode(&envelope.enc)
        .map_err(|_| EnvelopeError::Malformed("enc is not base64"))?;
    let ct = STANDARD
        .decode(&envelope.ct)
        .map_err(|_| EnvelopeError::Malformed("ct is not base64"))?;
    let encapped = <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(&enc)
        .map_err(|_| EnvelopeError::Malformed("enc is not an X25519 key"))?;
    let sk = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(secret)
        .map_err(|_| EnvelopeError::Malformed("this node's key"))?;
    let plain = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
        &OpModeR::Base,
        &sk,
        &encapped,
        INFO,
        &ct,
        &aad(h),
    )
    .map_err(|_| EnvelopeError::Decrypt)?;
    Ok(Verified::new(plain))
}
