//! What an unsatisfied policy still needs, in plain words.

use std::fmt;

use crate::principal::Principal;
use crate::role::PrincipalRole;

/// The part of a policy that is not yet satisfied. Only unsatisfied parts
/// are listed.
///
/// Built by [`crate::ResolvedPolicy::evaluate`] in a normalised form: a
/// threshold needing all of its missing parts becomes [`Missing::All`], one
/// needing just one becomes [`Missing::OneOf`], a list of a single item is
/// that item, and nested `All`s (or nested `OneOf`s) are merged.
///
/// `Display` reads as plain English, e.g. `a peer of A and one of (a peer of
/// B, an admin of C)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Missing {
    /// A signature matching this principal.
    Principal(Principal),
    /// Every one of these.
    All(Vec<Missing>),
    /// Any one of these.
    OneOf(Vec<Missing>),
    /// `needed` more of these.
    MoreOf {
        /// How many more of `of` must be satisfied.
        needed: usize,
        /// The unsatisfied candidates.
        of: Vec<Missing>,
    },
}

impl Missing {
    /// What a threshold still needs: `needed` more of the unsatisfied `of`.
    pub(crate) fn threshold(needed: usize, mut of: Vec<Missing>) -> Missing {
        if of.len() == 1
            && let Some(only) = of.pop()
        {
            return only;
        }
        if needed >= of.len() {
            Missing::All(flatten(of, |m| match m {
                Missing::All(inner) => Ok(inner),
                other => Err(other),
            }))
        } else if needed == 1 {
            Missing::OneOf(flatten(of, |m| match m {
                Missing::OneOf(inner) => Ok(inner),
                other => Err(other),
            }))
        } else {
            Missing::MoreOf { needed, of }
        }
    }
}

/// Splices into the list the items of children that `split` opens up, since
/// "X and (Y and Z)" says no more than "X and Y and Z".
fn flatten(
    of: Vec<Missing>,
    split: impl Fn(Missing) -> Result<Vec<Missing>, Missing>,
) -> Vec<Missing> {
    let mut out = Vec::with_capacity(of.len());
    for item in of {
        match split(item) {
            Ok(inner) => out.extend(inner),
            Err(item) => out.push(item),
        }
    }
    out
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Principal(p) => write_principal(f, p),
            Missing::All(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" and ")?;
                    }
                    // "one of (…)" and "2 more of (…)" are self-delimiting;
                    // only a nested "and" list needs brackets.
                    if matches!(item, Missing::All(_)) {
                        write!(f, "({item})")?;
                    } else {
                        write!(f, "{item}")?;
                    }
                }
                Ok(())
            }
            Missing::OneOf(items) => {
                f.write_str("one of ")?;
                write_list(f, items)
            }
            Missing::MoreOf { needed, of } => {
                write!(f, "{needed} more of ")?;
                write_list(f, of)
            }
        }
    }
}

fn write_principal(f: &mut fmt::Formatter<'_>, p: &Principal) -> fmt::Result {
    match p.role {
        PrincipalRole::Member => write!(f, "a member of {} (any role)", p.org),
        PrincipalRole::Admin => write!(f, "an admin of {}", p.org),
        PrincipalRole::Orderer => write!(f, "an orderer of {}", p.org),
        role => write!(f, "a {role} of {}", p.org),
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, items: &[Missing]) -> fmt::Result {
    f.write_str("(")?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        // An "and" list inside a comma list would blur where items end.
        if matches!(item, Missing::All(_)) {
            write!(f, "({item})")?;
        } else {
            write!(f, "{item}")?;
        }
    }
    f.write_str(")")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(org: &str, role: PrincipalRole) -> Missing {
        Missing::Principal(Principal::new(org, role))
    }

    #[test]
    fn principal_wording() {
        assert_eq!(p("A", PrincipalRole::Peer).to_string(), "a peer of A");
        assert_eq!(p("A", PrincipalRole::Client).to_string(), "a client of A");
        assert_eq!(p("A", PrincipalRole::Admin).to_string(), "an admin of A");
        assert_eq!(
            p("A", PrincipalRole::Orderer).to_string(),
            "an orderer of A"
        );
        assert_eq!(
            p("A", PrincipalRole::Member).to_string(),
            "a member of A (any role)"
        );
    }

    #[test]
    fn thresholds_normalise() {
        let a = || p("A", PrincipalRole::Peer);
        let b = || p("B", PrincipalRole::Peer);
        let c = || p("C", PrincipalRole::Peer);
        assert_eq!(Missing::threshold(1, vec![a()]), a());
        assert_eq!(
            Missing::threshold(2, vec![a(), b()]),
            Missing::All(vec![a(), b()])
        );
        let nested = Missing::threshold(2, vec![a(), Missing::All(vec![b(), c()])]);
        assert_eq!(nested, Missing::All(vec![a(), b(), c()]));
        let more = Missing::threshold(2, vec![a(), b(), c()]);
        assert_eq!(
            more.to_string(),
            "2 more of (a peer of A, a peer of B, a peer of C)"
        );
    }

    #[test]
    fn nested_parts_are_bracketed() {
        let a = p("A", PrincipalRole::Peer);
        let bc = Missing::All(vec![
            p("B", PrincipalRole::Peer),
            p("C", PrincipalRole::Admin),
        ]);
        let m = Missing::OneOf(vec![a.clone(), bc.clone()]);
        assert_eq!(
            m.to_string(),
            "one of (a peer of A, (a peer of B and an admin of C))"
        );
        let m = Missing::All(vec![a, bc, m]);
        assert_eq!(
            m.to_string(),
            "a peer of A and (a peer of B and an admin of C) and \
             one of (a peer of A, (a peer of B and an admin of C))"
        );
    }
}
