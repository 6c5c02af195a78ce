//! Content at rest (P5): each item's content is encrypted under its own key, and that key is
//! wrapped by the node's master key. Destroying an item destroys its wrapped key
//! (crypto-shredding): the ciphertext, and any copy of it in a backup, is then unreadable.
//!
//! ChaCha20-Poly1305 throughout; each sealed value is the 12-byte nonce followed by the
//! ciphertext and tag. The associated data binds the content to the item (id and version) so a
//! ciphertext can not be moved to another row.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// An item's content sealed for storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The item key, wrapped by the master key: nonce ‖ ciphertext ‖ tag.
    pub wrapped_key: Vec<u8>,
    /// The content under the item key: nonce ‖ ciphertext ‖ tag.
    pub content: Vec<u8>,
}

/// Why sealed content can not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The key or content was changed, belongs to another item, or another master key made it.
    #[error("sealed content does not open: changed, moved or under another master key")]
    Open,
}

/// Fresh randomness for one seal, drawn by the caller.
pub struct SealRandom {
    /// The item key.
    pub item_key: [u8; 32],
    /// The nonce for the content.
    pub content_nonce: [u8; 12],
    /// The nonce for the wrapped key.
    pub wrap_nonce: [u8; 12],
}

/// Seals `content` for the item named by `aad`.
pub fn seal(master: &[u8; 32], random: &SealRandom, aad: &[u8], content: &[u8]) -> Sealed {
    Sealed {
        wrapped_key: encrypt(master, &random.wrap_nonce, aad, &random.item_key),
        content: encrypt(&random.item_key, &random.content_nonce, aad, content),
    }
}

/// Opens sealed content.
pub fn open(
    master: &[u8; 32],
    aad: &[u8],
    wrapped_key: &[u8],
    content: &[u8],
) -> Result<Vec<u8>, SealError> {
    let key = decrypt(master, aad, wrapped_key)?;
    let key: [u8; 32] = key.try_into().map_err(|_| SealError::Open)?;
    decrypt(&key, aad, content)
}

fn encrypt(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], msg: &[u8]) -> Vec<u8> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let mut out = nonce.to_vec();
    // INVARIANT: ChaCha20-Poly1305 fails to encrypt only past 256 GiB per message.
    let ct = cipher
        .encrypt(Nonce::from_slice(nonce), Payload { msg, aad })
        .unwrap_or_default();
    out.extend_from_slice(&ct);
    out
}

fn decrypt(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    if sealed.len() < 12 {
        return Err(SealError::Open);
    }
    let (nonce, ct) = sealed.split_at(12);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| SealError::Open)
}
