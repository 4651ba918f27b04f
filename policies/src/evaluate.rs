//! Checking a [`ResolvedPolicy`] against a set of [`Signers`].

use crate::explain::Missing;
use crate::principal::Principal;
use crate::resolve::{Node, ResolvedPolicy};
use crate::signers::Signers;

/// The outcome of [`ResolvedPolicy::evaluate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evaluation {
    /// The signers satisfy the policy.
    Satisfied,
    /// The signers do not satisfy the policy; says what is still needed.
    NotSatisfied(Missing),
}

impl Evaluation {
    /// Whether the policy was satisfied.
    pub fn is_satisfied(&self) -> bool {
        matches!(self, Evaluation::Satisfied)
    }
}

impl ResolvedPolicy {
    /// Whether `signers` satisfy the policy.
    ///
    /// A principal is satisfied when some signer has its organisation and a
    /// role it admits. One signer may satisfy several principals.
    /// Does not allocate.
    pub fn is_satisfied(&self, signers: &Signers) -> bool {
        self.holds(self.root(), signers)
    }

    /// Like [`ResolvedPolicy::is_satisfied`], but when the policy is not
    /// satisfied also says what is missing. Allocates only in that case.
    pub fn evaluate(&self, signers: &Signers) -> Evaluation {
        if self.is_satisfied(signers) {
            return Evaluation::Satisfied;
        }
        match self.missing(self.root(), signers) {
            Some(missing) => Evaluation::NotSatisfied(missing),
            // Unreachable: `missing` agrees with `holds`. Answering Satisfied
            // here would be wrong, so fall back to an empty requirement.
            None => Evaluation::NotSatisfied(Missing::All(Vec::new())),
        }
    }

    fn holds(&self, index: u32, signers: &Signers) -> bool {
        match self.nodes[index as usize] {
            Node::Leaf { org, mask, .. } => signers.roles_of(self.org(org)) & mask != 0,
            Node::Gate { n, first, len, .. } => {
                let mut satisfied = 0;
                let mut left = len;
                for &kid in self.kids(first, len) {
                    left -= 1;
                    if self.holds(kid, signers) {
                        satisfied += 1;
                        if satisfied >= n {
                            return true;
                        }
                    } else if satisfied + left < n {
                        return false;
                    }
                }
                false
            }
        }
    }

    /// What node `index` still needs, or `None` if it is satisfied.
    fn missing(&self, index: u32, signers: &Signers) -> Option<Missing> {
        match self.nodes[index as usize] {
            Node::Leaf { org, role, mask } => {
                let org = self.org(org);
                (signers.roles_of(org) & mask == 0)
                    .then(|| Missing::Principal(Principal::new(org, role)))
            }
            Node::Gate { n, first, len, .. } => {
                let mut satisfied = 0;
                let mut unsatisfied = Vec::new();
                for &kid in self.kids(first, len) {
                    match self.missing(kid, signers) {
                        Some(m) => unsatisfied.push(m),
                        None => satisfied += 1,
                    }
                }
                (satisfied < n).then(|| Missing::threshold((n - satisfied) as usize, unsatisfied))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Policy, Role, Signers};

    #[test]
    fn evaluation_explains_the_gap() {
        let policy = Policy::parse(
            "AND('A.peer', OR('B.peer', 'C.admin'), OutOf(2, 'D.peer', 'E.peer', 'F.member'))",
        )
        .unwrap()
        .resolve(&["A", "B", "C", "D", "E", "F"])
        .unwrap();
        let signers: Signers = [("A", Role::Peer), ("F", Role::Orderer)]
            .into_iter()
            .collect();
        let eval = policy.evaluate(&signers);
        assert!(!eval.is_satisfied());
        let crate::Evaluation::NotSatisfied(missing) = eval else {
            panic!("expected NotSatisfied");
        };
        assert_eq!(
            missing.to_string(),
            "one of (a peer of B, an admin of C) and one of (a peer of D, a peer of E)"
        );
        let all: Signers = [
            ("A", Role::Peer),
            ("C", Role::Admin),
            ("D", Role::Peer),
            ("E", Role::Peer),
        ]
        .into_iter()
        .collect();
        assert!(policy.is_satisfied(&all));
        assert!(policy.evaluate(&all).is_satisfied());
    }
}
