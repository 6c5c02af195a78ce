//! gsomia-log's tests: published vectors, every proof of small trees, the log against a `Vec`
//! model, and checkpoints, notes and cosignatures.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod model;
mod notes;
mod vectors;
