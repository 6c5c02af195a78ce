//! Passphrases for the console (Argon2id, RFC 9106, with the argon2 crate's defaults: 19 MiB,
//! two passes, one lane), kept as PHC strings (`$argon2id$v=19$…`): the passphrase itself is
//! never stored.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// The PHC string of `passphrase` with a 16-byte `salt` the caller drew.
pub fn hash(passphrase: &str, salt: &[u8; 16]) -> Result<String, String> {
    let salt = SaltString::encode_b64(salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(passphrase.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `passphrase` is the one `phc` was made from.
pub fn verify(passphrase: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(passphrase.as_bytes(), &h)
            .is_ok()
    })
}
