//! The Weft ordering service: a Raft cluster (raft-rs) with a durable log,
//! block cutting, and the broadcast and deliver APIs.
//!
//! Filled so far:
//! - [`consensus`]: [`consensus::RaftNode`], raft-rs's `RawNode` and the
//!   chain it orders as a deterministic core (no I/O, no clock): entries
//!   carry blocks, every node applies the same block at each height, and
//!   snapshots name the last block. `tests/raft_sim.rs` runs it on a
//!   simulated network with loss, delay, partitions and crashes.
//! - [`log`]: [`log::DurableLog`], what the Ready loop persists;
//!   [`memory_log::MemoryLog`] (tests, with crash semantics) and
//!   [`sled_log`] (on disk: entries in an append-only file, the rest in sled).
//! - [`cutter`]: the leader's batching of envelopes into blocks.
//! - [`blockstore`]: the orderer's chain in a synced append-only file.
//! - [`transport`]: Raft messages between orderers over TCP, with a signed
//!   handshake.
//! - [`api`]: broadcast and deliver over HTTP, behind the [`api::Consensus`]
//!   trait.
//! - [`service`]: [`service::RaftService`], one orderer: the `RaftNode` on
//!   its own thread with the transport, the cutter's timer and the block
//!   store, implementing `Consensus`.
//! - [`daemon`]: one orderer process wired together (`weft-orderer
//!   --config FILE`, or `weft orderer --config FILE`); stops cleanly on
//!   SIGTERM.

pub mod api;
pub mod blockstore;
pub mod consensus;
pub mod cutter;
pub mod daemon;
mod entry_file;
pub mod log;
pub mod memory_log;
pub mod service;
pub mod sled_log;
pub mod transport;

pub use weft_types as types;
