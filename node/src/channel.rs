//! [`ConfigHandle`]: the channel configuration in force, shared by the
//! committer (which replaces it when a configuration transaction commits)
//! and everything that reads it (endorser, gateway).

use std::sync::Arc;

use parking_lot::RwLock;
use weft_types::ChannelConfig;

/// A shared, cheaply cloned handle on the channel configuration in force.
/// Readers take an `Arc` of the current configuration and keep using it
/// for the whole request, so one request never mixes two configurations.
#[derive(Debug, Clone)]
pub struct ConfigHandle(Arc<RwLock<Arc<ChannelConfig>>>);

impl ConfigHandle {
    /// A handle holding `config`.
    pub fn new(config: ChannelConfig) -> Self {
        ConfigHandle(Arc::new(RwLock::new(Arc::new(config))))
    }

    /// The configuration in force now.
    pub fn current(&self) -> Arc<ChannelConfig> {
        self.0.read().clone()
    }

    /// Replaces the configuration (the committer does, after the block that
    /// changes it is committed).
    pub fn replace(&self, config: ChannelConfig) {
        *self.0.write() = Arc::new(config);
    }
}
