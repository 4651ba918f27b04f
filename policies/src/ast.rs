//! The parsed, unresolved policy tree and its canonical text form.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::error::ParseError;
use crate::principal::Principal;
use crate::role::PrincipalRole;

/// A policy over the channel's organisations that does not name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Implicit {
    /// More than half of the channel's organisations (`floor(n/2) + 1` of `n`).
    Majority,
    /// At least one of the channel's organisations.
    Any,
    /// Every one of the channel's organisations.
    All,
}

impl Implicit {
    /// The keyword as written in canonical policy text.
    pub fn keyword(self) -> &'static str {
        match self {
            Implicit::Majority => "MAJORITY",
            Implicit::Any => "ANY",
            Implicit::All => "ALL",
        }
    }

    /// How many of `orgs` organisations must sign.
    pub fn threshold(self, orgs: usize) -> usize {
        match self {
            Implicit::Majority => orgs / 2 + 1,
            Implicit::Any => 1,
            Implicit::All => orgs,
        }
    }
}

/// A parsed endorsement policy, before implicit policies are expanded.
///
/// Build one with [`Policy::parse`] (or [`str::parse`]), then call
/// [`Policy::resolve`] with the channel's organisations to get something you
/// can evaluate. `Display` gives the canonical text, which parses back to an
/// equal policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Satisfied by a signer matching the principal.
    Principal(Principal),
    /// Satisfied when every sub-policy is.
    And(Vec<Policy>),
    /// Satisfied when at least one sub-policy is.
    Or(Vec<Policy>),
    /// Satisfied when at least `n` of the sub-policies are.
    OutOf {
        /// How many sub-policies must be satisfied.
        n: usize,
        /// The sub-policies.
        of: Vec<Policy>,
    },
    /// `MAJORITY`, `ANY` or `ALL` of the channel's organisations, each with `role`.
    Implicit {
        /// Which implicit policy.
        kind: Implicit,
        /// The role asked of each organisation ([`PrincipalRole::Member`] when not written).
        role: PrincipalRole,
    },
}

impl Policy {
    /// Parses policy text such as `AND('A.peer', OR('B.peer', 'C.peer'))`.
    ///
    /// Fails with a [`ParseError`] that names the byte offset of the problem.
    pub fn parse(src: &str) -> Result<Policy, ParseError> {
        crate::parser::parse(src)
    }

    /// The organisations named explicitly by principals (not those implied by
    /// `MAJORITY`, `ANY` or `ALL`).
    pub fn orgs(&self) -> BTreeSet<&str> {
        let mut out = BTreeSet::new();
        self.collect_orgs(&mut out);
        out
    }

    /// Whether the policy uses `MAJORITY`, `ANY` or `ALL` somewhere, and so
    /// involves every organisation of the channel.
    pub fn names_every_org(&self) -> bool {
        match self {
            Policy::Principal(_) => false,
            Policy::And(of) | Policy::Or(of) | Policy::OutOf { of, .. } => {
                of.iter().any(Policy::names_every_org)
            }
            Policy::Implicit { .. } => true,
        }
    }

    fn collect_orgs<'a>(&'a self, out: &mut BTreeSet<&'a str>) {
        match self {
            Policy::Principal(p) => {
                out.insert(p.org.as_str());
            }
            Policy::And(of) | Policy::Or(of) | Policy::OutOf { of, .. } => {
                for sub in of {
                    sub.collect_orgs(out);
                }
            }
            Policy::Implicit { .. } => {}
        }
    }
}

impl FromStr for Policy {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Policy::parse(s)
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Principal(p) => write!(f, "{p}"),
            Policy::And(of) => write_call(f, "AND", None, of),
            Policy::Or(of) => write_call(f, "OR", None, of),
            Policy::OutOf { n, of } => write_call(f, "OutOf", Some(*n), of),
            Policy::Implicit { kind, role } => {
                f.write_str(kind.keyword())?;
                if *role != PrincipalRole::Member {
                    write!(f, "({role})")?;
                }
                Ok(())
            }
        }
    }
}

fn write_call(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    n: Option<usize>,
    of: &[Policy],
) -> fmt::Result {
    write!(f, "{name}(")?;
    let mut sep = "";
    if let Some(n) = n {
        write!(f, "{n}")?;
        sep = ", ";
    }
    for sub in of {
        write!(f, "{sep}{sub}")?;
        sep = ", ";
    }
    f.write_str(")")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(org: &str, role: PrincipalRole) -> Policy {
        Policy::Principal(Principal::new(org, role))
    }

    #[test]
    fn canonical_text() {
        let policy = Policy::And(vec![
            p("A", PrincipalRole::Peer),
            Policy::Or(vec![
                p("B", PrincipalRole::Peer),
                p("C", PrincipalRole::Member),
            ]),
            Policy::OutOf {
                n: 2,
                of: vec![
                    p("D", PrincipalRole::Peer),
                    Policy::Implicit {
                        kind: Implicit::Majority,
                        role: PrincipalRole::Admin,
                    },
                    Policy::Implicit {
                        kind: Implicit::Any,
                        role: PrincipalRole::Member,
                    },
                ],
            },
        ]);
        assert_eq!(
            policy.to_string(),
            "AND('A.peer', OR('B.peer', 'C.member'), OutOf(2, 'D.peer', MAJORITY(admin), ANY))"
        );
        assert_eq!(
            policy.orgs().into_iter().collect::<Vec<_>>(),
            ["A", "B", "C", "D"]
        );
    }

    #[test]
    fn thresholds() {
        let majority: Vec<usize> = (1..=5).map(|n| Implicit::Majority.threshold(n)).collect();
        assert_eq!(majority, [1, 2, 2, 3, 3]);
        assert_eq!(Implicit::Any.threshold(4), 1);
        assert_eq!(Implicit::All.threshold(4), 4);
    }
}
