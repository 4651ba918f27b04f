#![allow(clippy::unwrap_used)]
//! The Wasm runtime, driven through hand-written modules (`tests/fixtures`)
//! and an in-memory host.

mod execution;
mod hostile;
mod support;
mod validation;
