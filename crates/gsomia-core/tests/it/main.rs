//! gsomia-core's tests: one binary, one module per area. Tests are named after the SPEC rule
//! they prove.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // Tests and benchmarks fail loudly.

mod access_rules;
mod bad_input;
mod fixtures;
mod labels;
mod lifecycle;
mod policy;
mod reference;
mod release_rules;
mod tidy;
