//! The Weft ordering service: a Raft cluster (raft-rs) with a durable log,
//! block cutting, and the broadcast and deliver APIs.
//!
//! Filled so far:
//! - [`cutter`]: the leader's batching of envelopes into blocks, a pure core.
//! - [`log`]: [`log::DurableLog`], what the Raft Ready loop persists.
//!
//! The consensus loop, the transport between orderers, the block store,
//! broadcast and deliver, and the `weft-orderer` binary come next.

pub mod api;
pub mod blockstore;
pub mod consensus;
pub mod cutter;
pub mod log;
pub mod memory_log;
pub mod sled_log;
pub mod transport;

pub use weft_types as types;
