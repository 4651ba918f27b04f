//! Data-driven cases: policy text, channel orgs and signers in, outcome text out.

use weft_policy::{Evaluation, MAX_POLICY_BYTES, Policy, Signers, parse_signer};

/// Parses `policy`, resolves it against `orgs` ("A,B,C"), evaluates it
/// against `signers` ("A.peer,B.client") and compares with `expected`:
/// "satisfied", "not satisfied: <Missing display>" or
/// "error: <substring of the parse or resolve error's display>".
fn check(policy: &str, orgs: &str, signers: &str, expected: &str) {
    let orgs: Vec<&str> = orgs.split(',').filter(|o| !o.is_empty()).collect();
    let actual = match Policy::parse(policy) {
        Err(e) => format!("error: {e}"),
        Ok(parsed) => {
            let canonical = parsed.to_string();
            assert_eq!(
                Policy::parse(&canonical).as_ref(),
                Ok(&parsed),
                "canonical text {canonical:?} of {policy:?} does not parse back"
            );
            match parsed.resolve(&orgs) {
                Err(e) => format!("error: {e}"),
                Ok(resolved) => {
                    let signers: Signers = signers
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| parse_signer(s).expect("test signer is valid"))
                        .collect();
                    let evaluation = resolved.evaluate(&signers);
                    assert_eq!(evaluation.is_satisfied(), resolved.is_satisfied(&signers));
                    match evaluation {
                        Evaluation::Satisfied => "satisfied".to_owned(),
                        Evaluation::NotSatisfied(missing) => format!("not satisfied: {missing}"),
                    }
                }
            }
        }
    };
    match expected.strip_prefix("error: ") {
        Some(part) => assert!(
            actual.starts_with("error: ") && actual.contains(part),
            "policy {policy:?}: expected an error containing {part:?}, got {actual:?}"
        ),
        None => assert_eq!(
            actual, expected,
            "policy {policy:?}, orgs {orgs:?}, signers {signers:?}"
        ),
    }
}

#[test]
fn principals_and_roles() {
    check("'A.peer'", "A", "A.peer", "satisfied");
    check("'A.peer'", "A", "A.client", "not satisfied: a peer of A");
    check("'A.peer'", "A,B", "B.peer", "not satisfied: a peer of A");
    check("\"A.client\"", "A", "A.client", "satisfied");
    check("'A.admin'", "A", "A.peer", "not satisfied: an admin of A");
    check(
        "'A.orderer'",
        "A",
        "A.admin",
        "not satisfied: an orderer of A",
    );
    check("'A.member'", "A", "A.orderer", "satisfied");
    check(
        "'A.member'",
        "A,B",
        "B.peer",
        "not satisfied: a member of A (any role)",
    );
    check(
        "'org1.example.com.peer'",
        "org1.example.com",
        "org1.example.com.peer",
        "satisfied",
    );
}

#[test]
fn and_or_outof() {
    check(
        "AND('A.peer', 'B.peer')",
        "A,B",
        "A.peer,B.peer",
        "satisfied",
    );
    check(
        "AND('A.peer', 'B.peer')",
        "A,B",
        "A.peer",
        "not satisfied: a peer of B",
    );
    check(
        "AND('A.peer', 'B.peer')",
        "A,B",
        "",
        "not satisfied: a peer of A and a peer of B",
    );
    // One signer may satisfy several principals.
    check("AND('A.peer', 'A.member')", "A", "A.peer", "satisfied");
    check("OR('A.peer', 'B.peer')", "A,B", "B.peer", "satisfied");
    check(
        "OR('A.peer', 'B.admin')",
        "A,B",
        "B.peer",
        "not satisfied: one of (a peer of A, an admin of B)",
    );
    check(
        "OutOf(1, 'A.peer')",
        "A",
        "A.client",
        "not satisfied: a peer of A",
    );
    check(
        "OutOf(2, 'A.peer', 'B.peer', 'C.peer')",
        "A,B,C",
        "A.peer,C.peer",
        "satisfied",
    );
    check(
        "OutOf(2, 'A.peer', 'B.peer', 'C.peer')",
        "A,B,C",
        "A.peer",
        "not satisfied: one of (a peer of B, a peer of C)",
    );
    check(
        "OutOf(2, 'A.peer', 'B.peer', 'C.peer')",
        "A,B,C",
        "",
        "not satisfied: 2 more of (a peer of A, a peer of B, a peer of C)",
    );
    check(
        "OutOf(3, 'A.peer', 'B.peer', 'C.peer', 'D.peer')",
        "A,B,C,D",
        "A.peer",
        "not satisfied: 2 more of (a peer of B, a peer of C, a peer of D)",
    );
    check(
        "OutOf(3, 'A.peer', 'B.peer', 'C.peer')",
        "A,B,C",
        "A.peer",
        "not satisfied: a peer of B and a peer of C",
    );
    check(
        "and('A.peer', Or('B.peer', 'C.peer'), OUTOF(1, 'A.admin'))",
        "A,B,C",
        "A.peer,A.admin,C.peer",
        "satisfied",
    );
    check(
        "  AND (\n 'A.peer' ,\t\"B.peer\" ) ",
        "A,B",
        "A.peer,B.peer",
        "satisfied",
    );
}

#[test]
fn implicit_policies() {
    check("MAJORITY", "A", "A.client", "satisfied");
    check(
        "MAJORITY",
        "A",
        "",
        "not satisfied: a member of A (any role)",
    );
    check(
        "MAJORITY",
        "A,B",
        "A.peer",
        "not satisfied: a member of B (any role)",
    );
    check("MAJORITY", "A,B", "A.peer,B.orderer", "satisfied");
    check("MAJORITY", "A,B,C", "A.peer,B.admin", "satisfied");
    check(
        "MAJORITY",
        "A,B,C",
        "A.peer",
        "not satisfied: one of (a member of B (any role), a member of C (any role))",
    );
    check(
        "MAJORITY",
        "A,B,C,D",
        "A.peer,B.peer",
        "not satisfied: one of (a member of C (any role), a member of D (any role))",
    );
    check("MAJORITY", "A,B,C,D", "A.peer,B.peer,D.client", "satisfied");
    check(
        "MAJORITY",
        "A,B,C,D,E",
        "A.peer",
        "not satisfied: 2 more of (a member of B (any role), a member of C (any role), a member of D (any role), a member of E (any role))",
    );
    check("MAJORITY", "A,B,C,D,E", "A.peer,C.peer,E.peer", "satisfied");
    check("ANY", "A", "", "not satisfied: a member of A (any role)");
    check("ANY", "A,B,C", "C.orderer", "satisfied");
    check(
        "ANY(peer)",
        "A,B",
        "A.client",
        "not satisfied: one of (a peer of A, a peer of B)",
    );
    check(
        "ALL",
        "A,B",
        "A.peer",
        "not satisfied: a member of B (any role)",
    );
    check(
        "ALL",
        "A,B,C,D",
        "",
        "not satisfied: a member of A (any role) and a member of B (any role) and a member of C (any role) and a member of D (any role)",
    );
    check(
        "ALL(client)",
        "A,B,C",
        "A.client,B.client,C.client",
        "satisfied",
    );
    check(
        "MAJORITY(admin)",
        "A,B,C",
        "A.admin,B.peer",
        "not satisfied: one of (an admin of B, an admin of C)",
    );
    check("MAJORITY(admin)", "A,B,C", "A.admin,C.admin", "satisfied");
    check("majority(member)", "A,B,C", "A.peer,B.peer", "satisfied");
}

#[test]
fn nested_policies() {
    check(
        "AND(MAJORITY, 'Regulator.peer')",
        "A,B,C,Regulator",
        "A.peer,B.peer,Regulator.peer",
        "satisfied",
    );
    check(
        "AND(MAJORITY, 'Regulator.peer')",
        "A,B,C,Regulator",
        "A.peer,B.peer",
        "not satisfied: one of (a member of C (any role), a member of Regulator (any role)) and a peer of Regulator",
    );
    check(
        "OR(AND('A.peer', 'B.peer'), 'C.admin')",
        "A,B,C",
        "",
        "not satisfied: one of ((a peer of A and a peer of B), an admin of C)",
    );
    check(
        "OR(AND('A.peer', 'B.peer'), 'C.admin')",
        "A,B,C",
        "A.peer",
        "not satisfied: one of (a peer of B, an admin of C)",
    );
    check(
        "AND('A.peer', AND('B.peer', 'C.peer'))",
        "A,B,C",
        "",
        "not satisfied: a peer of A and a peer of B and a peer of C",
    );
    check(
        "OutOf(2, AND('A.peer', 'B.peer'), 'C.peer', 'D.peer')",
        "A,B,C,D",
        "",
        "not satisfied: 2 more of ((a peer of A and a peer of B), a peer of C, a peer of D)",
    );
    check(
        "AND('A.peer', OR('B.peer','C.peer'), OutOf(2,'D.peer','E.peer','F.peer'))",
        "A,B,C,D,E,F",
        "A.peer,D.peer",
        "not satisfied: one of (a peer of B, a peer of C) and one of (a peer of E, a peer of F)",
    );
}

#[test]
fn syntax_errors() {
    check(
        "",
        "A",
        "",
        "error: at position 0: empty policy: expected AND(…), OR(…), OutOf(n, …), MAJORITY, ANY, ALL or a principal such as 'Org.peer'",
    );
    check(" \n\t ", "A", "", "error: at position 4: empty policy");
    check(
        "AND('A.peer'",
        "A",
        "",
        "error: at position 12: unbalanced parentheses: the input ended before the ')' that closes AND( at position 0",
    );
    check(
        "AND('A.peer'))",
        "A",
        "",
        "error: at position 13: unbalanced parentheses: this ')' closes nothing",
    );
    check(
        "AND('A.peer' 'B.peer')",
        "A,B",
        "",
        "error: at position 13: expected ',' or ')' after a sub-policy of AND(…), found 'B.peer' (missing comma?)",
    );
    check(
        "'A.peer' 'B.peer'",
        "A,B",
        "",
        "error: at position 9: trailing input 'B.peer' after the end of the policy",
    );
    check(
        "OR('A.peer', 'B.peer",
        "A,B",
        "",
        "error: at position 13: unterminated quote",
    );
    check(
        "AND()",
        "A",
        "",
        "error: at position 4: AND(…) needs at least one sub-policy",
    );
    check(
        "or( )",
        "A",
        "",
        "error: at position 4: OR(…) needs at least one sub-policy",
    );
    check(
        "AND('A.peer',)",
        "A",
        "",
        "error: at position 13: expected AND(…), OR(…), OutOf(n, …), MAJORITY, ANY, ALL or a principal such as 'Org.peer', found ')'",
    );
    check(
        "AND 'A.peer'",
        "A",
        "",
        "error: at position 4: expected '(' after AND, found 'A.peer'",
    );
    check(
        "AND('A.peer'; 'B.peer')",
        "A,B",
        "",
        "error: at position 12: unexpected character ';'",
    );
}

#[test]
fn outof_errors() {
    check(
        "OutOf(0, 'A.peer')",
        "A",
        "",
        "error: at position 6: n must be at least 1",
    );
    check(
        "OutOf(5, 'A.peer')",
        "A",
        "",
        "error: at position 6: OutOf(5, …) asks for 5 of 1 sub-policy; it can never be satisfied",
    );
    check(
        "OutOf(3, 'A.peer', 'B.peer')",
        "A,B",
        "",
        "error: asks for 3 of 2 sub-policies",
    );
    check(
        "OutOf(two, 'A.peer')",
        "A",
        "",
        "error: at position 6: expected a whole number n in OutOf(n, …), found 'two'",
    );
    check(
        "OutOf(1.5, 'A.peer')",
        "A",
        "",
        "error: at position 6: expected a whole number n",
    );
    check(
        "OutOf(-1, 'A.peer')",
        "A",
        "",
        "error: at position 6: expected a whole number n",
    );
    check(
        "OutOf(2)",
        "A",
        "",
        "error: at position 7: OutOf(n, …) needs at least one sub-policy after n",
    );
}

#[test]
fn principal_and_keyword_errors() {
    check(
        "'A.boss'",
        "A",
        "",
        "error: at position 3: unknown role 'boss' in 'A.boss': expected member, peer, client, admin or orderer",
    );
    check(
        "AND('A.peer', 'B.Peer')",
        "A,B",
        "",
        "error: at position 17: unknown role 'Peer' in 'B.Peer'",
    );
    check(
        "'.peer'",
        "A",
        "",
        "error: at position 1: empty organisation name",
    );
    check(
        "'Apeer'",
        "A",
        "",
        "error: at position 1: principal 'Apeer' has no role",
    );
    check(
        "'A B.peer'",
        "A",
        "",
        "error: at position 2: invalid character ' ' in the organisation name",
    );
    check(
        "NAND('A.peer')",
        "A",
        "",
        "error: at position 0: unknown keyword 'NAND': expected AND, OR, OutOf, MAJORITY, ANY or ALL",
    );
    check(
        "OR(A.peer, 'B.peer')",
        "A,B",
        "",
        "error: at position 3: unknown keyword 'A.peer': expected AND, OR, OutOf, MAJORITY, ANY or ALL; principals must be quoted, as in 'A.peer'",
    );
    check(
        "MAJORITY(boss)",
        "A",
        "",
        "error: at position 9: unknown role 'boss' in MAJORITY(boss)",
    );
}

#[test]
fn limits() {
    let long = format!("'A.peer'{}", " ".repeat(MAX_POLICY_BYTES));
    check(
        &long,
        "A",
        "",
        "error: at position 65536: the policy is 65544 bytes long; at most 65536 bytes are allowed",
    );
    let at_limit = format!("'A.peer'{}", " ".repeat(MAX_POLICY_BYTES - 8));
    check(&at_limit, "A", "A.peer", "satisfied");

    let started = std::time::Instant::now();
    let deep = format!("{}'A.peer'{}", "AND(".repeat(10_000), ")".repeat(10_000));
    check(
        &deep,
        "A",
        "",
        "error: at position 128: the policy nests AND/OR/OutOf deeper than 32 levels",
    );
    assert!(
        started.elapsed().as_secs() < 2,
        "deep nesting took {:?}",
        started.elapsed()
    );

    let orgs: Vec<String> = (0..1025).map(|i| format!("O{i}")).collect();
    check(
        "ALL",
        &orgs.join(","),
        "",
        "error: more than 1024 principals",
    );
}

#[test]
fn resolve_errors() {
    check(
        "AND('A.peer', 'Z.peer')",
        "A,B",
        "",
        "error: unknown organisation 'Z': the channel's organisations are A, B",
    );
    check(
        "'A.peer'",
        "",
        "",
        "error: unknown organisation 'A': the channel has no organisations",
    );
    check(
        "MAJORITY",
        "",
        "",
        "error: MAJORITY, ANY and ALL are taken over the channel's organisations, but the channel has none",
    );
}
