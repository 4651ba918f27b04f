//! The set of (organisation, role) pairs that signed something.

use crate::role::Role;

/// A set of signers, each an organisation and a concrete certificate [`Role`].
///
/// Stored as one role bitmask per organisation, sorted by organisation name,
/// so a policy check is a binary search and a bit test with no allocation.
///
/// ```
/// use weft_policy::{Role, Signers};
/// let signers: Signers = [("A", Role::Peer), ("B", Role::Client)].into_iter().collect();
/// assert!(signers.contains("A", Role::Peer));
/// assert!(!signers.contains("A", Role::Admin));
/// assert_eq!(signers.len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Signers {
    by_org: Vec<(Box<str>, u8)>,
}

impl Signers {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a signer of `org` with `role`; adding one already present does nothing.
    pub fn insert(&mut self, org: &str, role: Role) {
        match self.search(org) {
            Ok(i) => self.by_org[i].1 |= role.bit(),
            Err(i) => self.by_org.insert(i, (org.into(), role.bit())),
        }
    }

    /// Whether a signer of `org` with `role` is in the set.
    pub fn contains(&self, org: &str, role: Role) -> bool {
        self.roles_of(org) & role.bit() != 0
    }

    /// The number of distinct (organisation, role) pairs.
    pub fn len(&self) -> usize {
        self.by_org
            .iter()
            .map(|(_, mask)| mask.count_ones() as usize)
            .sum()
    }

    /// Whether the set has no signers.
    pub fn is_empty(&self) -> bool {
        self.by_org.is_empty()
    }

    /// The signers, ordered by organisation and then role.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Role)> + '_ {
        self.by_org.iter().flat_map(|(org, mask)| {
            Role::ALL
                .into_iter()
                .filter(move |r| mask & r.bit() != 0)
                .map(move |r| (&**org, r))
        })
    }

    /// The roles `org` signed with, as a bitmask of [`Role`] bits.
    pub(crate) fn roles_of(&self, org: &str) -> u8 {
        match self.search(org) {
            Ok(i) => self.by_org[i].1,
            Err(_) => 0,
        }
    }

    fn search(&self, org: &str) -> Result<usize, usize> {
        self.by_org.binary_search_by(|(o, _)| (**o).cmp(org))
    }
}

impl<S: AsRef<str>> FromIterator<(S, Role)> for Signers {
    fn from_iter<I: IntoIterator<Item = (S, Role)>>(iter: I) -> Self {
        let mut signers = Signers::new();
        signers.extend(iter);
        signers
    }
}

impl<S: AsRef<str>> Extend<(S, Role)> for Signers {
    fn extend<I: IntoIterator<Item = (S, Role)>>(&mut self, iter: I) {
        for (org, role) in iter {
            self.insert(org.as_ref(), role);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_semantics() {
        let mut s = Signers::new();
        assert!(s.is_empty());
        s.insert("B", Role::Peer);
        s.insert("A", Role::Admin);
        s.insert("B", Role::Peer);
        s.insert("B", Role::Client);
        assert_eq!(s.len(), 3);
        assert!(s.contains("B", Role::Client));
        assert!(!s.contains("C", Role::Client));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [("A", Role::Admin), ("B", Role::Client), ("B", Role::Peer)]
        );
    }
}
