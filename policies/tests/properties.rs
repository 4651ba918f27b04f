//! Property tests: evaluation against a brute-force reference, monotonicity,
//! text round-trips and parser robustness.

use proptest::prelude::*;
use weft_policy::{Evaluation, Implicit, Missing, Policy, Principal, PrincipalRole, Role, Signers};

const ORGS: [&str; 4] = ["A", "B", "C", "D"];
const PRINCIPAL_ROLES: [PrincipalRole; 5] = [
    PrincipalRole::Member,
    PrincipalRole::Client,
    PrincipalRole::Peer,
    PrincipalRole::Admin,
    PrincipalRole::Orderer,
];

fn principal_role() -> impl Strategy<Value = PrincipalRole> {
    proptest::sample::select(PRINCIPAL_ROLES.to_vec())
}

fn role() -> impl Strategy<Value = Role> {
    proptest::sample::select(Role::ALL.to_vec())
}

fn implicit() -> impl Strategy<Value = Policy> {
    let kind = proptest::sample::select(vec![Implicit::Majority, Implicit::Any, Implicit::All]);
    (kind, principal_role()).prop_map(|(kind, role)| Policy::Implicit { kind, role })
}

/// Random policy trees whose leaves come from `leaf`.
fn tree(leaf: BoxedStrategy<Policy>) -> impl Strategy<Value = Policy> {
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..5).prop_map(Policy::And),
            prop::collection::vec(inner.clone(), 1..5).prop_map(Policy::Or),
            prop::collection::vec(inner, 1..6)
                .prop_flat_map(|of| (1..=of.len(), Just(of)))
                .prop_map(|(n, of)| Policy::OutOf { n, of }),
        ]
    })
}

/// Trees over the small universe A..D × every principal role, plus implicit policies.
fn small_policy() -> impl Strategy<Value = Policy> {
    let principal = (proptest::sample::select(ORGS.to_vec()), principal_role())
        .prop_map(|(org, role)| Policy::Principal(Principal::new(org, role)));
    tree(prop_oneof![3 => principal, 1 => implicit()].boxed())
}

/// Trees with arbitrary valid org names, for text round-trips.
fn any_policy() -> impl Strategy<Value = Policy> {
    let principal = ("[A-Za-z0-9_.-]{1,8}", principal_role())
        .prop_map(|(org, role)| Policy::Principal(Principal::new(org, role)));
    tree(prop_oneof![3 => principal, 1 => implicit()].boxed())
}

fn signer_list() -> impl Strategy<Value = Vec<(&'static str, Role)>> {
    prop::collection::vec((proptest::sample::select(ORGS.to_vec()), role()), 0..8)
}

/// Reference semantics, written independently of the crate's evaluator:
/// a threshold holds iff some n-element subset of its children is all true.
fn reference(policy: &Policy, signers: &[(&str, Role)]) -> bool {
    match policy {
        Policy::Principal(p) => signers.iter().any(|(org, role)| {
            *org == p.org
                && (p.role == PrincipalRole::Member || p.role.to_string() == role.to_string())
        }),
        Policy::And(of) => some_subset_all_true(of.len(), &truths(of, signers)),
        Policy::Or(of) => some_subset_all_true(1, &truths(of, signers)),
        Policy::OutOf { n, of } => some_subset_all_true(*n, &truths(of, signers)),
        Policy::Implicit { kind, role } => {
            let expanded: Vec<Policy> = ORGS
                .iter()
                .map(|org| Policy::Principal(Principal::new(*org, *role)))
                .collect();
            let n = match kind {
                Implicit::Majority => ORGS.len() / 2 + 1,
                Implicit::Any => 1,
                Implicit::All => ORGS.len(),
            };
            some_subset_all_true(n, &truths(&expanded, signers))
        }
    }
}

fn truths(of: &[Policy], signers: &[(&str, Role)]) -> Vec<bool> {
    of.iter().map(|p| reference(p, signers)).collect()
}

/// Enumerates every subset of `values` of size `n`; true if one is all true.
fn some_subset_all_true(n: usize, values: &[bool]) -> bool {
    if n == 0 {
        return true;
    }
    (0..values.len())
        .any(|first| values[first] && some_subset_all_true(n - 1, &values[first + 1..]))
}

fn principals_in(missing: &Missing, out: &mut Vec<Principal>) {
    match missing {
        Missing::Principal(p) => out.push(p.clone()),
        Missing::All(items) | Missing::OneOf(items) | Missing::MoreOf { of: items, .. } => {
            for item in items {
                principals_in(item, out);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn matches_brute_force_reference(policy in small_policy(), signers in signer_list()) {
        let resolved = policy.resolve(&ORGS).expect("small policies resolve");
        let set: Signers = signers.iter().copied().collect();
        let expected = reference(&policy, &signers);
        prop_assert_eq!(resolved.is_satisfied(&set), expected, "policy {}", policy);
        prop_assert_eq!(resolved.evaluate(&set).is_satisfied(), expected, "policy {}", policy);
    }

    #[test]
    fn evaluate_agrees_with_is_satisfied(policy in small_policy(), signers in signer_list()) {
        let resolved = policy.resolve(&ORGS).expect("small policies resolve");
        let set: Signers = signers.iter().copied().collect();
        match resolved.evaluate(&set) {
            Evaluation::Satisfied => prop_assert!(resolved.is_satisfied(&set)),
            Evaluation::NotSatisfied(missing) => {
                prop_assert!(!resolved.is_satisfied(&set));
                // Only unsatisfied principals are reported as missing.
                let mut listed = Vec::new();
                principals_in(&missing, &mut listed);
                prop_assert!(!listed.is_empty(), "nothing listed as missing for {}", policy);
                for p in listed {
                    let satisfied = Role::ALL.iter().any(|r| p.role.admits(*r) && set.contains(&p.org, *r));
                    prop_assert!(!satisfied, "{} listed as missing but satisfied", p);
                }
            }
        }
    }

    #[test]
    fn adding_a_signer_never_breaks_satisfaction(
        policy in small_policy(),
        signers in signer_list(),
        extra in (proptest::sample::select(ORGS.to_vec()), role()),
    ) {
        let resolved = policy.resolve(&ORGS).expect("small policies resolve");
        let mut set: Signers = signers.iter().copied().collect();
        let before = resolved.is_satisfied(&set);
        set.insert(extra.0, extra.1);
        if before {
            prop_assert!(resolved.is_satisfied(&set), "adding {:?} broke {}", extra, policy);
        }
    }

    #[test]
    fn canonical_text_round_trips(policy in any_policy()) {
        let text = policy.to_string();
        prop_assert_eq!(Policy::parse(&text), Ok(policy), "text {}", text);
    }

    #[test]
    fn arbitrary_strings_never_panic(src in any::<String>()) {
        if let Ok(policy) = Policy::parse(&src) {
            prop_assert_eq!(Policy::parse(&policy.to_string()), Ok(policy));
        }
    }

    #[test]
    fn policy_like_strings_never_panic(src in r#"[ ANDORoutfMAJRITYLand(),'".ABpeerlmbadmin0-9]{0,60}"#) {
        match Policy::parse(&src) {
            Ok(policy) => prop_assert_eq!(Policy::parse(&policy.to_string()), Ok(policy)),
            Err(e) => prop_assert!(e.position() <= src.len(), "position {} past end", e.position()),
        }
    }
}
