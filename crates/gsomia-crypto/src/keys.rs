//! A node's keys: Ed25519 for signing, X25519 for encryption to it, and the master key that
//! wraps the per-item keys of data at rest (P5). Made from seeds the caller draws; stored by the
//! node in files only it can read.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

/// The secret keys of a node.
pub struct NodeKeys {
    /// Signs bindings, envelopes, receipts, events, checkpoints.
    pub signing: SigningKey,
    /// Opens what partners encrypt to this node.
    pub encryption: StaticSecret,
    /// Wraps the per-item keys of content at rest.
    pub master: [u8; 32],
}

/// The public half, as a node's descriptor publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeys {
    /// Ed25519 verifying key, base64.
    pub signing: String,
    /// X25519 public key, base64.
    pub encryption: String,
}

/// A public key that is not 32 bytes of base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a 32-byte key in base64")]
pub struct BadKey(pub String);

impl NodeKeys {
    /// Keys from three 32-byte seeds.
    pub fn from_seeds(signing: [u8; 32], encryption: [u8; 32], master: [u8; 32]) -> NodeKeys {
        NodeKeys {
            signing: SigningKey::from_bytes(&signing),
            encryption: StaticSecret::from(encryption),
            master,
        }
    }

    /// The public keys.
    pub fn public(&self) -> PublicKeys {
        PublicKeys {
            signing: STANDARD.encode(self.signing.verifying_key().as_bytes()),
            encryption: STANDARD.encode(PublicKey::from(&self.encryption).as_bytes()),
        }
    }
}

impl PublicKeys {
    /// The Ed25519 verifying key.
    pub fn verifying_key(&self) -> Result<VerifyingKey, BadKey> {
        verifying_key(&self.signing)
    }
    /// A fingerprint of the keys, for two officers to read to each other over the phone before
    /// one imports the other's descriptor: the first 16 bytes of SHA-256 over both keys, in hex
    /// groups of four.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!(
            "gsomia-keys-v1\n{}\n{}",
            self.signing, self.encryption
        ));
        let hex = crate::hex(&digest[..16]);
        hex.as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Checks both keys.
    pub fn check(&self) -> Result<(), BadKey> {
        self.verifying_key()?;
        decode32(&self.encryption)?;
        Ok(())
    }
}

/// An Ed25519 verifying key from its base64 form, as descriptors carry it.
pub fn verifying_key(base64: &str) -> Result<VerifyingKey, BadKey> {
    let bytes = decode32(base64)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| BadKey(base64.to_owned()))
}

fn decode32(text: &str) -> Result<[u8; 32], BadKey> {
    STANDARD
        .decode(text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| BadKey(text.to_owned()))
}

/// The hash under which a bearer token is stored: hex SHA-256. Tokens carry 256 bits drawn at
/// random, so a fast hash is enough; the token itself is never stored.
pub fn token_hash(token: &str) -> String {
    crate::hex(&Sha256::digest(token.as_bytes()))
}
