//! Choosing the ports of a new network: a base port from which the whole
//! consecutive range `weft network init` lays out is free on 127.0.0.1.

use std::net::{Ipv4Addr, TcpListener};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::bail;

/// The base port tried first: Fabric's orderer port, easy to remember.
pub(crate) const DEFAULT_BASE_PORT: u16 = 7050;

/// Other bases are drawn from here. The range stays below Linux's
/// ephemeral ports (32768 and up), which the kernel hands to outgoing
/// connections and could take between our check and the nodes' bind.
const RANDOM_BASES: std::ops::Range<u32> = 20_000..32_000;

/// Random bases tried before giving up.
const ATTEMPTS: u32 = 200;

/// Ports a network needs: two per orderer (API, Raft), two per peer
/// (gateway, peer to peer), as `network::generate` hands them out.
pub(crate) fn ports_needed(orderers: usize, peers: usize) -> usize {
    2 * (orderers + peers)
}

/// Whether every port of `base .. base + count` can be bound on 127.0.0.1 now.
pub(crate) fn range_is_free(base: u16, count: usize) -> bool {
    let mut held = Vec::with_capacity(count);
    for offset in 0..count {
        let Some(port) = u16::try_from(offset).ok().and_then(|o| base.checked_add(o)) else {
            return false;
        };
        match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            // Held until every port is checked, so none is counted twice.
            Ok(listener) => held.push(listener),
            Err(_) => return false,
        }
    }
    true
}

/// A base port whose `count` consecutive ports are free: `wanted` if given
/// (an error if its range is busy), else [`DEFAULT_BASE_PORT`] if its range
/// is free, else a random one.
pub(crate) fn pick_base_port(wanted: Option<u16>, count: usize) -> anyhow::Result<u16> {
    if let Some(base) = wanted {
        if base < 1024 {
            bail!("--base-port must be at least 1024: lower ports need root to bind");
        }
        if !range_is_free(base, count) {
            bail!(
                "ports {base} to {} are not all free on 127.0.0.1: choose another --base-port",
                u32::from(base) + count as u32 - 1
            );
        }
        return Ok(base);
    }
    if range_is_free(DEFAULT_BASE_PORT, count) {
        return Ok(DEFAULT_BASE_PORT);
    }
    let mut state = seed();
    for _ in 0..ATTEMPTS {
        state = xorshift(state);
        let span = u64::from(RANDOM_BASES.end - RANDOM_BASES.start);
        let base = RANDOM_BASES.start as u64 + state % span;
        // Within u16: RANDOM_BASES ends below 32768.
        let base = u16::try_from(base).unwrap_or(DEFAULT_BASE_PORT);
        if range_is_free(base, count) {
            return Ok(base);
        }
    }
    bail!(
        "found no {count} consecutive free ports on 127.0.0.1 after {ATTEMPTS} tries: \
         pass --base-port"
    )
}

/// A seed that differs between processes started at the same moment.
fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ (u64::from(std::process::id()) << 32)) | 1
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_port_makes_its_range_busy() {
        let busy = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = busy.local_addr().unwrap().port();
        assert!(!range_is_free(port, 1));
        assert!(!range_is_free(port.saturating_sub(2), 4));
        assert!(
            !range_is_free(u16::MAX, 2),
            "a range past 65535 is never free"
        );
        drop(busy);
    }

    #[test]
    fn a_picked_range_is_free_and_a_wanted_busy_one_is_refused() {
        let count = ports_needed(3, 2);
        assert_eq!(count, 10);
        let base = pick_base_port(None, count).unwrap();
        assert!(range_is_free(base, count));
        let busy = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = busy.local_addr().unwrap().port();
        let err = pick_base_port(Some(port), 1).unwrap_err().to_string();
        assert!(err.contains("not all free"), "{err}");
        assert!(pick_base_port(Some(80), 1).is_err());
    }
}
