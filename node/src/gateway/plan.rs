//! Which orgs to ask for endorsements: pure, no I/O.
//!
//! The validator counts each endorsement as a signer `(org, peer)`
//! ([`Signers`]), so a set of orgs satisfies a policy when one peer of each
//! does. The gateway asks its own org first when that helps, then adds
//! orgs in channel order until the policy is satisfied, and finally drops
//! every org the policy does not need (latest added first, its own org
//! last), so no org is asked for nothing.

use weft_policy::{ResolvedPolicy, Role, Signers};

/// The orgs to ask, this peer's org first when it is among them, the
/// others in channel order; `None` when even every eligible org together
/// cannot satisfy the policy. `eligible` says which orgs have a peer to
/// ask (this peer's org always has: itself).
pub(crate) fn choose_orgs<'a>(
    policy: &ResolvedPolicy,
    channel_orgs: &[&'a str],
    own: &str,
    eligible: impl Fn(&str) -> bool,
) -> Option<Vec<&'a str>> {
    let own_org = channel_orgs.iter().copied().find(|o| *o == own);
    let candidates: Vec<&'a str> = own_org
        .into_iter()
        .chain(
            channel_orgs
                .iter()
                .copied()
                .filter(|o| *o != own && eligible(o)),
        )
        .collect();
    let satisfied = |orgs: &[&str]| {
        let signers: Signers = orgs.iter().map(|o| (*o, Role::Peer)).collect();
        policy.is_satisfied(&signers)
    };
    let mut chosen: Vec<&'a str> = Vec::new();
    for org in candidates {
        if satisfied(&chosen) {
            break;
        }
        chosen.push(org);
    }
    if !satisfied(&chosen) {
        return None;
    }
    if chosen.is_empty() {
        // A transaction needs one endorsement even when the policy asks for
        // none (the parser refuses such policies; a hand-made one may not).
        chosen.extend(own_org.or_else(|| channel_orgs.iter().copied().find(|o| eligible(o))));
        return (!chosen.is_empty()).then_some(chosen);
    }
    // Drop what is not needed: the others from the last added, then this
    // peer's own org (kept when the policy needs it).
    let own_first = own_org.is_some() && chosen.first().copied() == own_org;
    let others_from = usize::from(own_first);
    let mut i = chosen.len();
    while i > others_from {
        i -= 1;
        let mut without = chosen.clone();
        without.remove(i);
        if satisfied(&without) {
            chosen = without;
        }
    }
    if own_first && chosen.len() > 1 {
        let without = chosen[1..].to_vec();
        if satisfied(&without) {
            chosen = without;
        }
    }
    Some(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_policy::Policy;

    const ORGS: [&str; 3] = ["Org1", "Org2", "Org3"];

    /// The orgs chosen for `policy` when this peer is of `own` and only
    /// the orgs in `without_peers` have no peers.
    fn check(policy: &str, own: &str, without_peers: &[&str], expected: Option<&[&str]>) {
        let resolved = Policy::parse(policy).unwrap().resolve(&ORGS).unwrap();
        let chosen = choose_orgs(&resolved, &ORGS, own, |o| !without_peers.contains(&o));
        assert_eq!(chosen.as_deref(), expected, "{policy} from {own}");
    }

    #[test]
    fn own_org_first_when_it_helps() {
        check("MAJORITY", "Org2", &[], Some(&["Org2", "Org1"]));
        check(
            "AND('Org1.peer', 'Org2.peer')",
            "Org2",
            &[],
            Some(&["Org2", "Org1"]),
        );
        check("OR('Org1.peer', 'Org2.peer')", "Org2", &[], Some(&["Org2"]));
        check("ANY", "Org3", &[], Some(&["Org3"]));
        check("ALL", "Org3", &[], Some(&["Org3", "Org1", "Org2"]));
    }

    #[test]
    fn orgs_not_needed_are_not_asked() {
        check("'Org3.peer'", "Org1", &[], Some(&["Org3"]));
        check("OR('Org2.peer', 'Org3.peer')", "Org1", &[], Some(&["Org2"]));
        check(
            "AND('Org1.member', 'Org3.peer')",
            "Org2",
            &[],
            Some(&["Org1", "Org3"]),
        );
    }

    #[test]
    fn orgs_without_peers_are_skipped() {
        check(
            "OR('Org2.peer', 'Org3.peer')",
            "Org1",
            &["Org2"],
            Some(&["Org3"]),
        );
        check("'Org2.peer'", "Org1", &["Org2"], None);
    }

    #[test]
    fn policies_no_peer_can_satisfy() {
        check("'Org1.admin'", "Org1", &[], None);
        check("AND('Org1.client', 'Org2.peer')", "Org1", &[], None);
    }
}
