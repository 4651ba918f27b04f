//! The Weft ordering service: a Raft cluster (raft-rs) with a durable log,
//! block cutting, and the broadcast and deliver APIs.
//!
//! Not yet filled; it is built on the protocol types re-exported here.

pub use weft_types as types;
