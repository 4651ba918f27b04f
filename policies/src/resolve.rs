//! Expanding a [`Policy`] against a channel's organisations into a flat,
//! index-based [`ResolvedPolicy`] that is cheap to evaluate.

use std::collections::BTreeMap;
use std::fmt;

use crate::ast::{Implicit, Policy};
use crate::error::ResolveError;
use crate::principal::Principal;
use crate::role::PrincipalRole;
use crate::{MAX_DEPTH, MAX_PRINCIPALS};

/// A policy checked against a channel and ready to evaluate.
///
/// `MAJORITY`, `ANY` and `ALL` are expanded into thresholds over the
/// channel's organisations, and every principal's organisation is known to be
/// on the channel. `Display` prints the expanded policy in policy syntax.
#[derive(Clone, Debug)]
pub struct ResolvedPolicy {
    /// The channel's organisations, deduplicated, in the order given.
    pub(crate) orgs: Vec<Box<str>>,
    /// Every node; children come before their parent, the root is last.
    pub(crate) nodes: Vec<Node>,
    /// Child node indices; a gate's children are one contiguous run.
    pub(crate) children: Vec<u32>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Node {
    /// A principal: `org` indexes `orgs`, `mask` holds the admitted role bits.
    Leaf {
        org: u32,
        role: PrincipalRole,
        mask: u8,
    },
    /// At least `n` of `children[first..first + len]` must hold.
    Gate {
        op: Gate,
        n: u32,
        first: u32,
        len: u32,
    },
}

/// Which operator a gate came from; only affects how it is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    And,
    Or,
    OutOf,
}

impl Policy {
    /// Resolves the policy against the channel's organisations.
    ///
    /// Fails if a principal names an organisation not in `channel_orgs`, if
    /// `MAJORITY`/`ANY`/`ALL` is used with no organisations, or if expansion
    /// gives more than [`MAX_PRINCIPALS`] principals. Duplicate channel
    /// organisations are counted once.
    pub fn resolve<S: AsRef<str>>(
        &self,
        channel_orgs: &[S],
    ) -> Result<ResolvedPolicy, ResolveError> {
        let mut orgs: Vec<Box<str>> = Vec::with_capacity(channel_orgs.len());
        let mut index = BTreeMap::new();
        for org in channel_orgs {
            let org = org.as_ref();
            if !index.contains_key(org) {
                index.insert(org, orgs.len() as u32);
                orgs.push(org.into());
            }
        }
        let mut builder = Builder {
            index,
            resolved: ResolvedPolicy {
                orgs: Vec::new(),
                nodes: Vec::new(),
                children: Vec::new(),
            },
            principals: 0,
        };
        builder.node(self, 0)?;
        let mut resolved = builder.resolved;
        resolved.orgs = orgs;
        Ok(resolved)
    }
}

struct Builder<'a> {
    index: BTreeMap<&'a str, u32>,
    resolved: ResolvedPolicy,
    principals: usize,
}

impl Builder<'_> {
    /// Appends `policy`'s nodes and returns the index of its root.
    fn node(&mut self, policy: &Policy, depth: usize) -> Result<u32, ResolveError> {
        let (op, n, of) = match policy {
            Policy::Principal(p) => return self.principal(p),
            Policy::Implicit { kind, role } => return self.implicit(*kind, *role),
            Policy::And(of) => (Gate::And, of.len(), of),
            Policy::Or(of) => (Gate::Or, 1, of),
            Policy::OutOf { n, of } => (Gate::OutOf, *n, of),
        };
        if of.is_empty() {
            return Err(invalid("an AND, OR or OutOf has no sub-policies"));
        }
        if n == 0 || n > of.len() {
            return Err(invalid(format!(
                "OutOf({n}, …) has {} sub-policies; n must be between 1 and that",
                of.len()
            )));
        }
        // Checked before descending so a hand-built, absurdly deep tree cannot
        // exhaust the stack here or later in evaluation.
        if depth >= MAX_DEPTH {
            return Err(ResolveError::TooDeep { max: MAX_DEPTH });
        }
        let mut kids = Vec::with_capacity(of.len());
        for sub in of {
            kids.push(self.node(sub, depth + 1)?);
        }
        Ok(self.gate(op, n, kids))
    }

    fn principal(&mut self, p: &Principal) -> Result<u32, ResolveError> {
        let Some(&org) = self.index.get(p.org.as_str()) else {
            let mut known: Vec<(&str, u32)> = self.index.iter().map(|(k, v)| (*k, *v)).collect();
            known.sort_by_key(|&(_, i)| i);
            return Err(ResolveError::UnknownOrg {
                org: p.org.clone(),
                known: known.into_iter().map(|(k, _)| k.to_owned()).collect(),
            });
        };
        self.count_principals(1)?;
        Ok(self.push(Node::Leaf {
            org,
            role: p.role,
            mask: p.role.mask(),
        }))
    }

    fn implicit(&mut self, kind: Implicit, role: PrincipalRole) -> Result<u32, ResolveError> {
        let count = self.index.len();
        if count == 0 {
            return Err(ResolveError::NoOrgs);
        }
        self.count_principals(count)?;
        let mut orgs: Vec<u32> = self.index.values().copied().collect();
        orgs.sort_unstable();
        let kids = orgs
            .into_iter()
            .map(|org| {
                self.push(Node::Leaf {
                    org,
                    role,
                    mask: role.mask(),
                })
            })
            .collect();
        Ok(self.gate(Gate::OutOf, kind.threshold(count), kids))
    }

    fn count_principals(&mut self, more: usize) -> Result<(), ResolveError> {
        self.principals += more;
        if self.principals > MAX_PRINCIPALS {
            return Err(ResolveError::TooManyPrincipals {
                max: MAX_PRINCIPALS,
            });
        }
        Ok(())
    }

    fn gate(&mut self, op: Gate, n: usize, kids: Vec<u32>) -> u32 {
        let first = self.resolved.children.len() as u32;
        let len = kids.len() as u32;
        self.resolved.children.extend(kids);
        self.push(Node::Gate {
            op,
            n: n as u32,
            first,
            len,
        })
    }

    fn push(&mut self, node: Node) -> u32 {
        self.resolved.nodes.push(node);
        (self.resolved.nodes.len() - 1) as u32
    }
}

fn invalid(reason: impl Into<String>) -> ResolveError {
    ResolveError::Invalid {
        reason: reason.into(),
    }
}

impl ResolvedPolicy {
    /// Index of the root node; `resolve` always pushes the root last.
    pub(crate) fn root(&self) -> u32 {
        (self.nodes.len() - 1) as u32
    }

    /// The child indices of the gate whose children start at `first`.
    pub(crate) fn kids(&self, first: u32, len: u32) -> &[u32] {
        &self.children[first as usize..(first + len) as usize]
    }

    pub(crate) fn org(&self, index: u32) -> &str {
        &self.orgs[index as usize]
    }

    fn fmt_node(&self, f: &mut fmt::Formatter<'_>, index: u32) -> fmt::Result {
        match self.nodes[index as usize] {
            Node::Leaf { org, role, .. } => write!(f, "'{}.{role}'", self.org(org)),
            Node::Gate { op, n, first, len } => {
                match op {
                    Gate::And => f.write_str("AND(")?,
                    Gate::Or => f.write_str("OR(")?,
                    Gate::OutOf => write!(f, "OutOf({n}, ")?,
                }
                for (i, &kid) in self.kids(first, len).iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    self.fmt_node(f, kid)?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for ResolvedPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_node(f, self.root())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ResolveError;

    fn resolve(src: &str, orgs: &[&str]) -> Result<ResolvedPolicy, ResolveError> {
        Policy::parse(src).unwrap().resolve(orgs)
    }

    #[test]
    fn implicit_policies_expand_over_channel_orgs() {
        let r = resolve("AND(MAJORITY(admin), 'B.peer')", &["C", "A", "B", "A"]).unwrap();
        assert_eq!(
            r.to_string(),
            "AND(OutOf(2, 'C.admin', 'A.admin', 'B.admin'), 'B.peer')"
        );
    }

    #[test]
    fn unknown_org_lists_channel_orgs_in_order() {
        let err = resolve("OR('A.peer', 'Z.peer')", &["B", "A"]).unwrap_err();
        assert_eq!(
            err,
            ResolveError::UnknownOrg {
                org: "Z".into(),
                known: vec!["B".into(), "A".into()]
            }
        );
    }

    #[test]
    fn limits_are_enforced() {
        let none: [&str; 0] = [];
        assert_eq!(resolve("ANY", &none).unwrap_err(), ResolveError::NoOrgs);
        let many: Vec<String> = (0..600).map(|i| format!("O{i}")).collect();
        let err = Policy::parse("AND(ALL, ANY)")
            .unwrap()
            .resolve(&many)
            .unwrap_err();
        assert_eq!(
            err,
            ResolveError::TooManyPrincipals {
                max: MAX_PRINCIPALS
            }
        );
        let mut deep = Policy::parse("'A.peer'").unwrap();
        for _ in 0..10_000 {
            deep = Policy::And(vec![deep]);
        }
        assert_eq!(
            deep.resolve(&["A"]).unwrap_err(),
            ResolveError::TooDeep { max: MAX_DEPTH }
        );
        // The hand-built tree is dismantled iteratively so the test itself
        // does not overflow the stack in Drop.
        while let Policy::And(mut of) = deep {
            deep = of.pop().unwrap();
        }
        let bad = Policy::OutOf {
            n: 0,
            of: vec![deep],
        };
        assert!(matches!(
            bad.resolve(&["A"]),
            Err(ResolveError::Invalid { .. })
        ));
        assert!(matches!(
            Policy::Or(vec![]).resolve(&["A"]),
            Err(ResolveError::Invalid { .. })
        ));
    }
}
