//! Sealing a node's backup. A random file key encrypts the archive in chunks with
//! ChaCha20-Poly1305 in the STREAM construction (each chunk is authenticated with its position
//! and with whether it is the last, so a truncated, reordered or spliced file does not open);
//! the file key itself is sealed either to a passphrase (Argon2id) or to a recipient's X25519
//! key (HPKE, RFC 9180). The header, which says which, is authenticated with every chunk.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hpke::{Deserializable, Kem as _, Serializable};
use serde::{Deserialize, Serialize};

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type HpkeAead = hpke::aead::ChaCha20Poly1305;

/// The HPKE `info` of a backup's file key.
const INFO: &[u8] = b"gsomia backup v1";

/// The plaintext size of every chunk but the last.
pub const CHUNK: usize = 1 << 20;

/// Argon2id's cost for a passphrase: 64 MiB, 3 passes, one lane (RFC 9106's second
/// recommended setting, with more passes).
const M_KIB: u32 = 64 * 1024;
const T: u32 = 3;
const P: u32 = 1;

/// What opens the file key: the second line of a backup file, in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "sealed_to", rename_all = "snake_case", deny_unknown_fields)]
pub enum Header {
    /// A passphrase: Argon2id of it wraps the file key.
    Passphrase {
        /// Argon2id salt (16 bytes, base64).
        salt: String,
        /// Memory, KiB.
        m_kib: u32,
        /// Passes.
        t: u32,
        /// Lanes.
        p: u32,
        /// The wrapped file key (nonce ‖ ciphertext, base64).
        wrapped: String,
        /// The STREAM nonce prefix (7 bytes, base64).
        stream: String,
    },
    /// A recipient's X25519 public key: HPKE seals the file key to it.
    Recipient {
        /// The recipient's public key (base64), to name it when another key is offered.
        public: String,
        /// HPKE's encapsulated key (base64).
        enc: String,
        /// The sealed file key (base64).
        wrapped: String,
        /// The STREAM nonce prefix (7 bytes, base64).
        stream: String,
    },
}

/// Why a backup does not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BackupError {
    /// The passphrase is not the one it was sealed with (or the header was altered).
    #[error("the passphrase does not open this backup (or its header was altered)")]
    WrongPassphrase,
    /// Sealed to another recipient.
    #[error("this backup is sealed to another key ({0}), not to the one given")]
    OtherRecipient(String),
    /// Sealed to a passphrase, opened with a key, or the other way round.
    #[error("this backup is sealed to {0}, and that was not given")]
    Mismatch(&'static str),
    /// A chunk does not authenticate.
    #[error("chunk {0} does not authenticate: the backup was altered or cut")]
    Chunk(u64),
    /// Bad input.
    #[error("{0}")]
    Malformed(String),
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn unb64(text: &str, what: &str) -> Result<Vec<u8>, BackupError> {
    STANDARD
        .decode(text)
        .map_err(|e| BackupError::Malformed(format!("{what}: {e}")))
}

fn argon2(passphrase: &[u8], salt: &[u8], m_kib: u32, t: u32, p: u32) -> Result<Key, BackupError> {
    let params = argon2::Params::new(m_kib, t, p, Some(32))
        .map_err(|e| BackupError::Malformed(format!("Argon2id parameters: {e}")))?;
    let mut key = [0u8; 32];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(passphrase, salt, &mut key)
        .map_err(|e| BackupError::Malformed(format!("Argon2id: {e}")))?;
    Ok(Key::from(key))
}

/// Seals chunks of a backup.
pub struct Sealer {
    stream: EncryptorBE32<ChaCha20Poly1305>,
    aad: Vec<u8>,
}

impl Sealer {
    /// A new file key (from `random`, 32 + 7 + more bytes of OS randomness), sealed to
    /// `passphrase`: the header and the sealer.
    pub fn to_passphrase(
        passphrase: &[u8],
        random: &BackupRandom,
    ) -> Result<(Header, Sealer), BackupError> {
        let kek = argon2(passphrase, &random.salt, M_KIB, T, P)?;
        let wrapped = ChaCha20Poly1305::new(&kek)
            .encrypt(Nonce::from_slice(&random.wrap_nonce), &random.file_key[..])
            .map_err(|_| BackupError::Malformed("wrapping the file key".into()))?;
        let header = Header::Passphrase {
            salt: b64(&random.salt),
            m_kib: M_KIB,
            t: T,
            p: P,
            wrapped: b64(&[&random.wrap_nonce[..], &wrapped].concat()),
            stream: b64(&random.stream),
        };
        Ok(Sealer::new(header, &random.file_key, &random.stream))
    }

    /// A new file key sealed to the recipient's X25519 `public` key: the header and the
    /// sealer.
    pub fn to_recipient(
        public: &[u8; 32],
        random: &BackupRandom,
        rng: &mut impl hpke::rand_core::CryptoRng,
    ) -> Result<(Header, Sealer), BackupError> {
        let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(public)
            .map_err(|e| BackupError::Malformed(format!("recipient key: {e}")))?;
        let (enc, wrapped) = hpke::single_shot_seal::<HpkeAead, Kdf, Kem, _>(
            &hpke::OpModeS::Base,
            &pk,
            INFO,
            &random.file_key,
            &[],
            rng,
        )
        .map_err(|e| BackupError::Malformed(format!("sealing the file key: {e}")))?;
        let header = Header::Recipient {
            public: b64(public),
            enc: b64(&enc.to_bytes()),
            wrapped: b64(&wrapped),
            stream: b64(&random.stream),
        };
        Ok(Sealer::new(header, &random.file_key, &random.stream))
    }

    fn new(header: Header, file_key: &[u8; 32], stream: &[u8; 7]) -> (Header, Sealer) {
        let aad = header_line(&header);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(file_key));
        let stream = EncryptorBE32::from_aead(cipher, stream.into());
        (header, Sealer { stream, aad })
    }

    /// Seals a chunk that is not the last ([`CHUNK`] bytes).
    pub fn chunk(&mut self, plain: &[u8]) -> Result<Vec<u8>, BackupError> {
        self.stream
            .encrypt_next(chacha20poly1305::aead::Payload {
                msg: plain,
                aad: &self.aad,
            })
            .map_err(|_| BackupError::Malformed("too many chunks".into()))
    }

    /// Seals the last chunk (at most [`CHUNK`] bytes).
    pub fn last(self, plain: &[u8]) -> Result<Vec<u8>, BackupError> {
        self.stream
            .encrypt_last(chacha20poly1305::aead::Payload {
                msg: plain,
                aad: &self.aad,
            })
            .map_err(|_| BackupError::Malformed("sealing the last chunk".into()))
    }
}

/// The header as the file's second line carries it (JSON, no newline).
pub fn header_line(header: &Header) -> Vec<u8> {
    serde_json::to_vec(header).unwrap_or_default()
}

/// Fresh randomness for one backup.
pub struct BackupRandom {
    /// The file key.
    pub file_key: [u8; 32],
    /// The STREAM nonce prefix.
    pub stream: [u8; 7],
    /// The Argon2id salt.
    pub salt: [u8; 16],
    /// The nonce the file key is wrapped with.
    pub wrap_nonce: [u8; 12],
}

/// What opens a backup.
pub enum Secret<'a> {
    /// The passphrase it was sealed to.
    Passphrase(&'a [u8]),
    /// The recipient's X25519 secret key.
    Identity(&'a [u8; 32]),
}

/// Opens chunks of a backup.
pub struct Opener {
    stream: DecryptorBE32<ChaCha20Poly1305>,
    aad: Vec<u8>,
    index: u64,
}

impl Opener {
    /// Opens the file key that `header` (the file's second line, as read) seals, with `secret`.
    pub fn new(line: &[u8], secret: Secret<'_>) -> Result<Opener, BackupError> {
        let header: Header = serde_json::from_slice(line)
            .map_err(|e| BackupError::Malformed(format!("the backup's header: {e}")))?;
        let (file_key, stream) = match (&header, secret) {
            (
                Header::Passphrase {
                    salt,
                    m_kib,
                    t,
                    p,
                    wrapped,
                    stream,
                },
                Secret::Passphrase(pass),
            ) => {
                // Bounded, so a crafted header can not make the restore allocate without end.
                if *m_kib > 4 * 1024 * 1024 || *t > 64 || *p > 64 {
                    return Err(BackupError::Malformed(
                        "the header's Argon2id cost is out of bounds".into(),
                    ));
                }
                let kek = argon2(pass, &unb64(salt, "salt")?, *m_kib, *t, *p)?;
                let wrapped = unb64(wrapped, "wrapped key")?;
                if wrapped.len() < 12 {
                    return Err(BackupError::Malformed("wrapped key too short".into()));
                }
                let key = ChaCha20Poly1305::new(&kek)
                    .decrypt(Nonce::from_slice(&wrapped[..12]), &wrapped[12..])
                    .map_err(|_| BackupError::WrongPassphrase)?;
                (key, stream)
            }
            (
                Header::Recipient {
                    public,
                    enc,
                    wrapped,
                    stream,
                },
                Secret::Identity(secret),
            ) => {
                let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(secret)
                    .map_err(|e| BackupError::Malformed(format!("identity: {e}")))?;
                let mine = b64(&Kem::sk_to_pk(&sk).to_bytes());
                if &mine != public {
                    return Err(BackupError::OtherRecipient(public.clone()));
                }
                let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&unb64(enc, "enc")?)
                    .map_err(|e| BackupError::Malformed(format!("enc: {e}")))?;
                let key = hpke::single_shot_open::<HpkeAead, Kdf, Kem>(
                    &hpke::OpModeR::Base,
                    &sk,
                    &enc,
                    INFO,
                    &unb64(wrapped, "wrapped key")?,
                    &[],
                )
                .map_err(|_| BackupError::OtherRecipient(public.clone()))?;
                (key, stream)
            }
            (Header::Passphrase { .. }, Secret::Identity(_)) => {
                return Err(BackupError::Mismatch("a passphrase"));
            }
            (Header::Recipient { .. }, Secret::Passphrase(_)) => {
                return Err(BackupError::Mismatch("a recipient key (--identity)"));
            }
        };
        let file_key = <[u8; 32]>::try_from(file_key)
            .map_err(|_| BackupError::Malformed("the file key is not 32 bytes".into()))?;
        let stream = <[u8; 7]>::try_from(unb64(stream, "stream nonce")?)
            .map_err(|_| BackupError::Malformed("the stream nonce is not 7 bytes".into()))?;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&file_key));
        Ok(Opener {
            stream: DecryptorBE32::from_aead(cipher, (&stream).into()),
            aad: line.to_vec(),
            index: 0,
        })
    }

    /// Opens the next chunk, which is not the last.
    pub fn chunk(&mut self, sealed: &[u8]) -> Result<Vec<u8>, BackupError> {
        self.index += 1;
        self.stream
            .decrypt_next(chacha20poly1305::aead::Payload {
                msg: sealed,
                aad: &self.aad,
            })
            .map_err(|_| BackupError::Chunk(self.index))
    }

    /// Opens the last chunk.
    pub fn last(self, sealed: &[u8]) -> Result<Vec<u8>, BackupError> {
        let index = self.index + 1;
        self.stream
            .decrypt_last(chacha20poly1305::aead::Payload {
                msg: sealed,
                aad: &self.aad,
            })
            .map_err(|_| BackupError::Chunk(index))
    }
}

/// An X25519 key pair for a backup recipient: (secret, public).
pub fn recipient_keys(seed: [u8; 32]) -> ([u8; 32], [u8; 32]) {
    let (sk, pk) = Kem::derive_keypair(&seed);
    let mut secret = [0u8; 32];
    secret.copy_from_slice(&sk.to_bytes());
    let mut public = [0u8; 32];
    public.copy_from_slice(&pk.to_bytes());
    (secret, public)
}
