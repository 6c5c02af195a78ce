//! gsomia-log: the verifiable audit log (SPEC §8), with no I/O.
//!
//! - [`tree`]: the RFC 9162 Merkle tree over audit entries, kept as the "stored hashes" of
//!   every complete subtree (the layout of Go's `tlog` and C2SP `tlog-tiles`), so that an append
//!   writes about two hashes and a proof reads O(log n) of them, never recomputing the tree.
//! - [`proof`]: inclusion and consistency proofs, made from stored hashes and checked against a
//!   root.
//! - [`note`]: C2SP `tlog-checkpoint`s as `signed-note`s signed with the node's Ed25519 key, and
//!   the `tlog-cosignature`s with which partners witness them.
//!
//! The hashing, proof algorithms and note format are Cloudflare's `tlog_tiles` and `signed_note`
//! (ports of Go's `golang.org/x/mod/sumdb`); this crate fixes how gsomia uses them: what a leaf
//! is, how inputs from outside are checked before they reach those crates, and how keys are named.
//! Where the audit entries live is the store's business: this crate reads hashes through
//! [`HashReader`].

pub mod note;
pub mod proof;
pub mod tree;

pub use note::{Cosigner, LogError, LogKey, LogVerifier, SignedCheckpoint, WitnessVerifier};
pub use proof::{ConsistencyProof, InclusionProof};
pub use tlog_tiles::{EMPTY_HASH, Hash, HashReader};
pub use tree::{Frontier, MemTree, ReaderError, leaf_hash};
