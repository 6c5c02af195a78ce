//! The Merkle tree of the audit log (RFC 9162 §2.1): leaf hash `SHA-256(0x00 ‖ entry)`, node hash
//! `SHA-256(0x01 ‖ left ‖ right)`, an odd node promoted, not duplicated.
//!
//! Every complete subtree's hash is stored once, at its "stored hash index" (level and position
//! packed into one number: `tlog_tiles::stored_hash_index`). Appending leaf `n` stores its leaf
//! hash and the hash of every subtree it completes: fewer than two hashes on average. The
//! [`Frontier`] is the right edge of the tree (the roots of the perfect subtrees whose sizes add
//! up to the tree's size); it is all an appender needs in memory, and the root is made from it.

use tlog_tiles::{Hash, HashReader, stored_hash_index};

/// What a [`HashReader`] returns when it cannot read a hash.
pub use tlog_tiles::Error as ReaderError;
/// RFC 9162's interior node hash, `SHA-256(0x01 ‖ left ‖ right)`.
pub use tlog_tiles::node_hash;

/// The leaf hash of an audit entry: RFC 9162's `SHA-256(0x00 ‖ entry)` over the entry's body.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    tlog_tiles::record_hash(entry)
}

/// The perfect subtrees that make up a tree of `size` leaves, largest first, as (level, index
/// at that level).
pub fn decomposition(size: u64) -> impl Iterator<Item = (u8, u64)> {
    let mut start = 0u64;
    (0..64u8).rev().filter_map(move |level| {
        if size >> level & 1 == 1 {
            let at = (level, start >> level);
            start += 1 << level;
            Some(at)
        } else {
            None
        }
    })
}

/// The right edge of a tree: what an appender keeps to add leaves and compute the root.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frontier {
    size: u64,
    /// The roots of [`decomposition`]`(size)`, by stored hash index.
    roots: Vec<(u64, Hash)>,
}

impl HashReader for Frontier {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|i| {
                self.roots
                    .iter()
                    .find(|(at, _)| at == i)
                    .map(|(_, h)| *h)
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Reads the frontier of a stored tree of `size` leaves.
    pub fn load(size: u64, stored: &impl HashReader) -> Result<Frontier, tlog_tiles::Error> {
        let indexes: Vec<u64> = decomposition(size)
            .map(|(l, i)| stored_hash_index(l, i))
            .collect();
        let hashes = stored.read_hashes(&indexes)?;
        if hashes.len() != indexes.len() {
            return Err(tlog_tiles::Error::IndexesNotInTree);
        }
        Ok(Frontier {
            size,
            roots: indexes.into_iter().zip(hashes).collect(),
        })
    }

    /// How many leaves the tree has.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash (RFC 9162's MTH) of the tree.
    pub fn root(&self) -> Hash {
        // INVARIANT: the roots are exactly the hashes `tree_hash` reads for this size.
        tlog_tiles::tree_hash(self.size, self).unwrap_or(tlog_tiles::EMPTY_HASH)
    }

    /// Appends the leaf whose hash is `leaf`, and returns the hashes to store with their stored
    /// hash indexes (consecutive, from `stored_hash_index(0, size)`): the leaf's, then one per
    /// perfect subtree it completes, each `node_hash(left neighbour, the one below)`. This is
    /// `tlog_tiles::stored_hashes` without its allocations and reads (the left neighbours are
    /// the frontier's last roots); the tests check the two agree.
    pub fn append(&mut self, leaf: Hash) -> Vec<(u64, Hash)> {
        let n = self.size;
        let completes = (n + 1).trailing_zeros() as usize;
        let first = stored_hash_index(0, n);
        let mut stored = Vec::with_capacity(completes + 1);
        stored.push((first, leaf));
        let mut h = leaf;
        for level in 1..=completes {
            // INVARIANT: the frontier of size n ends in one root per trailing 1 bit of n, the
            // smallest last, so it holds at least `completes` roots.
            let (_, left) = self.roots.pop().unwrap_or((0, tlog_tiles::EMPTY_HASH));
            h = node_hash(left, h);
            stored.push((first + level as u64, h));
        }
        self.roots.push((first + completes as u64, h));
        self.size = n + 1;
        stored
    }
}

/// A small tree held whole in memory: every stored hash, for proofs over a batch built at once
/// (a reply's receipts), where the audit log's trees live in a store.
#[derive(Debug, Clone, Default)]
pub struct MemTree {
    frontier: Frontier,
    /// By stored hash index, which [`Frontier::append`] hands out consecutively from 0.
    hashes: Vec<Hash>,
}

impl HashReader for MemTree {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.hashes.get(i).copied())
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

impl MemTree {
    /// The tree of these leaf hashes, in order.
    pub fn of(leaves: impl IntoIterator<Item = Hash>) -> MemTree {
        let mut tree = MemTree::default();
        for leaf in leaves {
            let stored = tree.frontier.append(leaf);
            tree.hashes.extend(stored.into_iter().map(|(_, h)| h));
        }
        tree
    }

    /// How many leaves it has.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Its root (RFC 9162's MTH).
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The inclusion proof of leaf `index`.
    pub fn prove(&self, index: u64) -> Result<crate::InclusionProof, crate::LogError> {
        crate::InclusionProof::make(index, self.size(), self)
    }
}

/// The size of the tree whose stored hashes number `count`, if `count` is such a number.
pub fn size_for_stored_count(count: u64) -> Option<u64> {
    // `stored_hash_count` grows by at least one per leaf, so the size is at most `count`.
    let (mut lo, mut hi) = (0u64, count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if tlog_tiles::stored_hash_count(mid) < count {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    (tlog_tiles::stored_hash_count(lo) == count).then_some(lo)
}

/// The level of the node stored at stored hash index `index` (0 for leaves).
pub fn level_of(index: u64) -> u8 {
    tlog_tiles::split_stored_hash_index(index).0
}
