//! `weft policy eval` run as a process: output and exit codes.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::process::Command;

fn eval(policy: &str, orgs: &str, signers: &str) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weft"));
    cmd.args(["policy", "eval", policy, "--orgs", orgs]);
    if !signers.is_empty() {
        cmd.args(["--signers", signers]);
    }
    let out = cmd.output().expect("run weft");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn satisfied_exits_zero() {
    let (code, out, _) = eval(
        "AND('A.peer', OR('B.peer','C.peer'))",
        "A,B,C",
        "A.peer,C.peer",
    );
    assert_eq!((code, out.as_str()), (0, "satisfied\n"));
}

#[test]
fn not_satisfied_exits_one_and_names_what_is_missing() {
    let (code, out, _) = eval(
        "AND('A.peer', OR('B.peer','C.peer'))",
        "A,B,C",
        "A.peer,B.client",
    );
    assert_eq!(code, 1);
    assert!(out.starts_with("not satisfied: "), "{out}");
    assert!(
        out.contains("a peer of B") && out.contains("a peer of C"),
        "{out}"
    );
    let (code, out, _) = eval("MAJORITY", "A,B,C", "");
    assert_eq!(code, 1, "{out}");
}

#[test]
fn syntax_error_exits_two_with_the_position() {
    let (code, out, err) = eval("AND('A.peer', OR('B.peer')", "A,B", "A.peer");
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("position"), "{err}");
    assert!(err.contains('^'), "the error points at the position: {err}");
}

#[test]
fn unknown_org_exits_two() {
    let (code, _, err) = eval("'Z.peer'", "A,B", "A.peer");
    assert_eq!(code, 2);
    assert!(err.contains("Z"), "{err}");
}
