//! Checkpoints (C2SP `tlog-checkpoint`) as signed notes (C2SP `signed-note`), and the
//! cosignatures (C2SP `tlog-cosignature`) with which partners witness them.
//!
//! A checkpoint names the log (its origin, `gsomia/<party>`), its size and its root hash; the
//! node signs it with its Ed25519 key under the origin's name (signature type 0x01). A witness
//! countersigns the same text with a timestamp (type 0x04): "I have checked that this tree
//! extends every earlier one I saw from this log". Keys are named the same way for both, so a
//! node's verifier key (`name+id+base64`, what `gsomia audit check-proof --key` takes) is the
//! standard one that C2SP tools read.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature as EdSignature, Signer as _, SigningKey, VerifyingKey};
use signed_note::{Note, Signature, Signer, Verifier, VerifierList};
use tlog_tiles::{Hash, checkpoint::Checkpoint};

/// Signature type of an Ed25519 note signature (C2SP signed-note).
const TYPE_ED25519: u8 = 0x01;
/// Signature type of a timestamped Ed25519 cosignature (C2SP tlog-cosignature).
const TYPE_COSIGNATURE: u8 = 0x04;

/// Why a log operation or check failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LogError {
    /// A size or index outside the tree, or sizes out of order.
    #[error("{0}")]
    Range(String),
    /// A proof that does not prove what it claims.
    #[error("the proof does not verify")]
    BadProof,
    /// The stored hashes could not be read or are inconsistent.
    #[error("stored tree: {0}")]
    Tree(String),
    /// A note or checkpoint that is malformed, or whose signature does not verify.
    #[error("checkpoint: {0}")]
    Note(String),
    /// A checkpoint of another log than the one expected.
    #[error("checkpoint is for log `{found}`, expected `{expected}`")]
    WrongOrigin {
        /// The origin the caller expected.
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },
}

impl LogError {
    pub(crate) fn tree(e: tlog_tiles::Error) -> LogError {
        LogError::Tree(e.to_string())
    }
}

fn key_id(name: &str, kind: u8, key: &VerifyingKey) -> u32 {
    signed_note::key_id(name, &[&[kind][..], key.as_bytes()].concat())
}

/// A log's signing key under its origin's name.
pub struct LogKey {
    origin: String,
    key: SigningKey,
}

impl LogKey {
    /// The key that signs the checkpoints of the log named `origin`.
    pub fn new(origin: &str, key: SigningKey) -> LogKey {
        LogKey {
            origin: origin.to_owned(),
            key,
        }
    }

    /// The matching verifier.
    pub fn verifier(&self) -> LogVerifier {
        LogVerifier::new(&self.origin, self.key.verifying_key())
    }
}

impl Signer for LogKey {
    fn name(&self) -> &str {
        &self.origin
    }
    fn key_id(&self) -> u32 {
        key_id(&self.origin, TYPE_ED25519, &self.key.verifying_key())
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

/// Checks a log's checkpoint signatures.
#[derive(Debug, Clone)]
pub struct LogVerifier {
    origin: String,
    key: VerifyingKey,
}

impl LogVerifier {
    /// The verifier of the log named `origin` whose public key is `key`.
    pub fn new(origin: &str, key: VerifyingKey) -> LogVerifier {
        LogVerifier {
            origin: origin.to_owned(),
            key,
        }
    }

    /// Reads a verifier key in the signed-note text form `name+id+base64(0x01 ‖ key)`.
    pub fn from_vkey(vkey: &str) -> Result<LogVerifier, LogError> {
        let bad = || LogError::Note(format!("`{vkey}` is not an Ed25519 verifier key"));
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let bytes = STANDARD.decode(key).map_err(|_| bad())?;
        let (&kind, key) = bytes.split_first().ok_or_else(bad)?;
        let key: [u8; 32] = key.try_into().map_err(|_| bad())?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| bad())?;
        let verifier = LogVerifier::new(name, key);
        let id = u32::from_str_radix(id, 16).map_err(|_| bad())?;
        if kind != TYPE_ED25519 || id != verifier.key_id() {
            return Err(bad());
        }
        Ok(verifier)
    }

    /// This verifier as a signed-note verifier key.
    pub fn vkey(&self) -> String {
        let key = [&[TYPE_ED25519][..], self.key.as_bytes()].concat();
        format!(
            "{}+{:08x}+{}",
            self.origin,
            self.key_id(),
            STANDARD.encode(key)
        )
    }

    /// The log's name.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl Verifier for LogVerifier {
    fn name(&self) -> &str {
        &self.origin
    }
    fn key_id(&self) -> u32 {
        key_id(&self.origin, TYPE_ED25519, &self.key)
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        EdSignature::from_slice(sig).is_ok_and(|s| self.key.verify_strict(msg, &s).is_ok())
    }
}

/// The message a cosignature signs: C2SP tlog-cosignature's header, then the checkpoint.
fn cosigned_message(time: u64, checkpoint: &[u8]) -> Vec<u8> {
    [
        format!("cosignature/v1\ntime {time}\n").as_bytes(),
        checkpoint,
    ]
    .concat()
}

/// A witness's key, with the time (seconds since the Unix epoch) it cosigns at.
pub struct Cosigner {
    name: String,
    key: SigningKey,
    time: u64,
}

impl Cosigner {
    /// The witness named `name` cosigning at `time`.
    pub fn new(name: &str, key: SigningKey, time: u64) -> Cosigner {
        Cosigner {
            name: name.to_owned(),
            key,
            time,
        }
    }
}

impl Signer for Cosigner {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        key_id(&self.name, TYPE_COSIGNATURE, &self.key.verifying_key())
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let sig = self.key.sign(&cosigned_message(self.time, msg));
        Ok([&self.time.to_be_bytes()[..], &sig.to_bytes()].concat())
    }
}

/// Checks a witness's cosignatures.
#[derive(Debug, Clone)]
pub struct WitnessVerifier {
    name: String,
    key: VerifyingKey,
}

impl WitnessVerifier {
    /// The verifier of the witness named `name` whose public key is `key`.
    pub fn new(name: &str, key: VerifyingKey) -> WitnessVerifier {
        WitnessVerifier {
            name: name.to_owned(),
            key,
        }
    }
}

impl Verifier for WitnessVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        key_id(&self.name, TYPE_COSIGNATURE, &self.key)
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Some((time, sig)) = sig.split_first_chunk::<8>() else {
            return false;
        };
        let time = u64::from_be_bytes(*time);
        EdSignature::from_slice(sig).is_ok_and(|s| {
            self.key
                .verify_strict(&cosigned_message(time, msg), &s)
                .is_ok()
        })
    }
}

/// A checkpoint whose log signature has been made or checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedCheckpoint {
    /// The log's name.
    pub origin: String,
    /// How many entries the tree has.
    pub size: u64,
    /// Its root hash.
    pub root: Hash,
    /// The checkpoint text (what is signed).
    text: String,
    /// The log's signature line.
    signature: String,
}

impl SignedCheckpoint {
    /// Signs the checkpoint of a tree of `size` entries with root `root`.
    pub fn sign(key: &LogKey, size: u64, root: Hash) -> SignedCheckpoint {
        // INVARIANT: origin names come from party codes (no spaces, no '+'), so the
        // checkpoint and the note are well formed.
        let text = match Checkpoint::new(&key.origin, size, root, "") {
            Ok(c) => String::from_utf8_lossy(&c.to_bytes()).into_owned(),
            Err(_) => String::new(),
        };
        let sig = key.sign(text.as_bytes()).unwrap_or_default();
        let signature = Signature::new(key.origin.clone(), key.key_id(), sig)
            .map(|s| String::from_utf8_lossy(&s.to_bytes()).into_owned())
            .unwrap_or_default();
        SignedCheckpoint {
            origin: key.origin.clone(),
            size,
            root,
            text,
            signature,
        }
    }

    /// Reads a signed note and checks that `log` signed it. Other signatures (cosignatures) are
    /// ignored here; see [`SignedCheckpoint::verify_cosignature`].
    pub fn open(note: &str, log: &LogVerifier) -> Result<SignedCheckpoint, LogError> {
        let bad = |e: &dyn std::fmt::Display| LogError::Note(e.to_string());
        let parsed = Note::from_bytes(note.as_bytes()).map_err(|e| bad(&e))?;
        let known = VerifierList::new(vec![Box::new(log.clone())]);
        let (verified, _) = parsed.verify(&known).map_err(|e| bad(&e))?;
        let checkpoint = Checkpoint::from_bytes(parsed.text()).map_err(|e| bad(&e))?;
        if checkpoint.origin() != log.origin {
            return Err(LogError::WrongOrigin {
                expected: log.origin.clone(),
                found: checkpoint.origin().to_owned(),
            });
        }
        let signature = verified
            .first()
            .map(|s| String::from_utf8_lossy(&s.to_bytes()).into_owned())
            .unwrap_or_default();
        Ok(SignedCheckpoint {
            origin: checkpoint.origin().to_owned(),
            size: checkpoint.size(),
            root: *checkpoint.hash(),
            text: String::from_utf8_lossy(parsed.text()).into_owned(),
            signature,
        })
    }

    /// The checkpoint text, without signatures.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signed note: the text, a blank line, the log's signature and then `cosignatures`
    /// (signature lines, each ending in a newline).
    pub fn note(&self, cosignatures: &[String]) -> String {
        let mut note = format!("{}\n{}", self.text, self.signature);
        for c in cosignatures {
            note.push_str(c);
        }
        note
    }

    /// The witness's cosignature of this checkpoint, as a signature line.
    pub fn cosign(&self, witness: &Cosigner) -> String {
        let sig = witness.sign(self.text.as_bytes()).unwrap_or_default();
        Signature::new(witness.name.clone(), witness.key_id(), sig)
            .map(|s| String::from_utf8_lossy(&s.to_bytes()).into_owned())
            .unwrap_or_default()
    }

    /// Checks a cosignature line by `witness`; returns the time it was made.
    pub fn verify_cosignature(
        &self,
        line: &str,
        witness: &WitnessVerifier,
    ) -> Result<u64, LogError> {
        let bad = |e: &dyn std::fmt::Display| LogError::Note(format!("cosignature: {e}"));
        let sig =
            Signature::from_bytes(line.trim_end_matches('\n').as_bytes()).map_err(|e| bad(&e))?;
        let note =
            Note::new(self.text.as_bytes(), std::slice::from_ref(&sig)).map_err(|e| bad(&e))?;
        let known = VerifierList::new(vec![Box::new(witness.clone())]);
        note.verify(&known).map_err(|e| bad(&e))?;
        let time = sig
            .signature()
            .first_chunk::<8>()
            .map(|t| u64::from_be_bytes(*t))
            .unwrap_or_default();
        Ok(time)
    }
}
