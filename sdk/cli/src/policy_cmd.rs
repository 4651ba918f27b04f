//! `weft policy eval`: evaluates a policy against a set of signers.

use weft_policy::{Evaluation, Policy, Signers, parse_signer};

/// The outcome of `weft policy eval`, with the exit code it maps to.
#[derive(Debug, PartialEq, Eq)]
pub enum EvalOutcome {
    /// The signers satisfy the policy: prints `satisfied`, exits 0.
    Satisfied,
    /// They do not: prints `not satisfied: <what is missing>`, exits 1.
    NotSatisfied(String),
    /// The input is wrong (syntax, unknown org, bad signer): exits 2.
    Invalid(String),
}

impl EvalOutcome {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            EvalOutcome::Satisfied => 0,
            EvalOutcome::NotSatisfied(_) => 1,
            EvalOutcome::Invalid(_) => 2,
        }
    }
}

/// Parses `policy`, resolves it against `orgs`, and evaluates it against `signers`
/// (each `Org.role`).
pub fn eval(policy: &str, orgs: &[String], signers: &[String]) -> EvalOutcome {
    let parsed = match Policy::parse(policy) {
        Ok(p) => p,
        Err(e) => {
            return EvalOutcome::Invalid(format!(
                "invalid policy (at position {}):\n{}",
                e.position(),
                e.render(policy)
            ));
        }
    };
    let resolved = match parsed.resolve(orgs) {
        Ok(r) => r,
        Err(e) => return EvalOutcome::Invalid(format!("invalid policy: {e}")),
    };
    let mut set = Signers::new();
    for s in signers {
        match parse_signer(s) {
            Ok((org, role)) if orgs.contains(&org) => set.insert(&org, role),
            Ok((org, _)) => {
                return EvalOutcome::Invalid(format!(
                    "signer {s}: unknown organisation {org} (the channel's organisations are {})",
                    orgs.join(", ")
                ));
            }
            Err(e) => return EvalOutcome::Invalid(format!("invalid signer {s:?} {e}")),
        }
    }
    match resolved.evaluate(&set) {
        Evaluation::Satisfied => EvalOutcome::Satisfied,
        Evaluation::NotSatisfied(missing) => EvalOutcome::NotSatisfied(missing.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> Vec<String> {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect()
    }

    #[test]
    fn outcomes_map_to_exit_codes() {
        let orgs = list("A,B,C");
        assert_eq!(
            eval("MAJORITY", &orgs, &list("A.peer,B.client")),
            EvalOutcome::Satisfied
        );
        let out = eval("AND('A.peer','C.peer')", &orgs, &list("A.peer"));
        assert_eq!(out.exit_code(), 1, "{out:?}");
        assert_eq!(eval("AND('A.peer'", &orgs, &[]).exit_code(), 2);
        assert_eq!(eval("'Z.peer'", &orgs, &[]).exit_code(), 2);
        assert_eq!(eval("'A.peer'", &orgs, &list("Z.peer")).exit_code(), 2);
        assert_eq!(eval("'A.peer'", &orgs, &list("A.boss")).exit_code(), 2);
    }
}
