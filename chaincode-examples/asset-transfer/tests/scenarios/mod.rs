//! Asset-transfer scenarios written against a bare call function, so the
//! same checks run natively (`native.rs`, through `MockContext`) and against
//! the built `.wasm` on a node runtime: a runner only has to provide `call`.
//! Each scenario expects an empty ledger of its own. Another test crate
//! reuses them with `#[path = "scenarios/mod.rs"] mod scenarios;`.

use serde_json::{Value, json};

/// Whether a call is submitted (and committed on success) or evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Submitted: writes are committed when it succeeds.
    Tx,
    /// Evaluated: writes are refused.
    Query,
}

/// One call of the contract.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// The creator's member name (org `Bank`, role `client`).
    pub(crate) caller: &'a str,
    /// The function.
    pub(crate) function: &'a str,
    /// Its arguments.
    pub(crate) args: &'a [&'a str],
    /// Submit or evaluate.
    pub(crate) kind: Kind,
}

/// The chaincode's answer: the JSON payload as text, or the error message.
pub(crate) type Reply = Result<String, String>;

/// What a runner provides.
pub(crate) type Runner<'r> = dyn FnMut(&Call<'_>) -> Reply + 'r;

/// A scenario: calls through the runner and asserts on the replies.
pub(crate) type Scenario = fn(&mut Runner<'_>);

/// Every scenario, by name.
pub(crate) const SCENARIOS: &[(&str, Scenario)] = &[
    ("create_read_exists", create_read_exists),
    ("update", update),
    ("delete", delete),
    ("transfer", transfer),
    ("list_by_owner", list_by_owner),
    ("history", history),
    ("queries_cannot_write", queries_cannot_write),
    ("bad_calls", bad_calls),
];

fn call(run: &mut Runner<'_>, caller: &str, kind: Kind, function: &str, args: &[&str]) -> Reply {
    run(&Call {
        caller,
        function,
        args,
        kind,
    })
}

fn tx(run: &mut Runner<'_>, caller: &str, function: &str, args: &[&str]) -> Value {
    let reply = call(run, caller, Kind::Tx, function, args);
    let text = reply.unwrap_or_else(|e| panic!("{function}{args:?} by {caller} failed: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{function} returned {text:?}: {e}"))
}

fn query(run: &mut Runner<'_>, function: &str, args: &[&str]) -> Value {
    let reply = call(run, "alice", Kind::Query, function, args);
    let text = reply.unwrap_or_else(|e| panic!("{function}{args:?} failed: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{function} returned {text:?}: {e}"))
}

fn fails(
    run: &mut Runner<'_>,
    caller: &str,
    kind: Kind,
    function: &str,
    args: &[&str],
    expected: &str,
) {
    match call(run, caller, kind, function, args) {
        Ok(payload) => panic!(
            "{function}{args:?} by {caller} should fail with {expected:?}, returned {payload}"
        ),
        Err(message) => assert!(
            message.contains(expected),
            "{function}{args:?}: error {message:?} does not contain {expected:?}"
        ),
    }
}

fn asset(id: &str, owner: &str, value: u64) -> Value {
    json!({"id": id, "owner": owner, "value": value})
}

fn create_read_exists(run: &mut Runner<'_>) {
    assert_eq!(
        tx(run, "alice", "create", &["a1", "alice", "100"]),
        asset("a1", "alice", 100)
    );
    assert_eq!(query(run, "read", &["a1"]), asset("a1", "alice", 100));
    assert_eq!(query(run, "exists", &["a1"]), json!(true));
    assert_eq!(query(run, "exists", &["a2"]), json!(false));
    fails(
        run,
        "bob",
        Kind::Tx,
        "create",
        &["a1", "bob", "5"],
        "asset ID a1 already exists",
    );
    assert_eq!(
        query(run, "read", &["a1"]),
        asset("a1", "alice", 100),
        "unchanged"
    );
    fails(
        run,
        "alice",
        Kind::Query,
        "read",
        &["nope"],
        "asset ID nope does not exist",
    );
    fails(
        run,
        "alice",
        Kind::Tx,
        "create",
        &["", "alice", "1"],
        "must not be empty",
    );
}

fn update(run: &mut Runner<'_>) {
    fails(
        run,
        "alice",
        Kind::Tx,
        "update",
        &["u1", "5"],
        "asset ID u1 does not exist",
    );
    tx(run, "alice", "create", &["u1", "alice", "100"]);
    assert_eq!(
        tx(run, "bob", "update", &["u1", "250"]),
        asset("u1", "alice", 250)
    );
    assert_eq!(query(run, "read", &["u1"]), asset("u1", "alice", 250));
}

fn delete(run: &mut Runner<'_>) {
    fails(
        run,
        "alice",
        Kind::Tx,
        "delete",
        &["d1"],
        "asset ID d1 does not exist",
    );
    tx(run, "alice", "create", &["d1", "alice", "1"]);
    assert_eq!(tx(run, "alice", "delete", &["d1"]), Value::Null);
    fails(
        run,
        "alice",
        Kind::Query,
        "read",
        &["d1"],
        "asset ID d1 does not exist",
    );
    fails(
        run,
        "alice",
        Kind::Tx,
        "delete",
        &["d1"],
        "asset ID d1 does not exist",
    );
    assert_eq!(
        query(run, "list_by_owner", &["alice"]),
        json!([]),
        "index entry removed"
    );
    tx(run, "bob", "create", &["d1", "bob", "2"]);
    assert_eq!(
        query(run, "read", &["d1"]),
        asset("d1", "bob", 2),
        "an id can be reused"
    );
}

fn transfer(run: &mut Runner<'_>) {
    fails(
        run,
        "alice",
        Kind::Tx,
        "transfer",
        &["t1", "bob"],
        "asset ID t1 does not exist",
    );
    tx(run, "alice", "create", &["t1", "alice", "10"]);
    fails(
        run,
        "bob",
        Kind::Tx,
        "transfer",
        &["t1", "bob"],
        "bob is not the owner of asset ID t1",
    );
    assert_eq!(
        tx(run, "alice", "transfer", &["t1", "bob"]),
        asset("t1", "bob", 10)
    );
    assert_eq!(query(run, "read", &["t1"]), asset("t1", "bob", 10));
    fails(
        run,
        "alice",
        Kind::Tx,
        "transfer",
        &["t1", "alice"],
        "alice is not the owner of asset ID t1",
    );
    assert_eq!(query(run, "list_by_owner", &["alice"]), json!([]));
    assert_eq!(
        query(run, "list_by_owner", &["bob"]),
        json!([asset("t1", "bob", 10)])
    );
    fails(
        run,
        "bob",
        Kind::Tx,
        "transfer",
        &["t1", ""],
        "must not be empty",
    );
}

fn list_by_owner(run: &mut Runner<'_>) {
    for (id, owner) in [
        ("c2", "carol"),
        ("d1", "dave"),
        ("c1", "carol"),
        ("c3", "carolyn"),
    ] {
        tx(run, owner, "create", &[id, owner, "7"]);
    }
    assert_eq!(
        query(run, "list_by_owner", &["carol"]),
        json!([asset("c1", "carol", 7), asset("c2", "carol", 7)]),
        "in id order, and carolyn's are not carol's"
    );
    assert_eq!(
        query(run, "list_by_owner", &["dave"]),
        json!([asset("d1", "dave", 7)])
    );
    assert_eq!(query(run, "list_by_owner", &["nobody"]), json!([]));
}

fn history(run: &mut Runner<'_>) {
    fails(
        run,
        "alice",
        Kind::Query,
        "history",
        &["h1"],
        "asset ID h1 does not exist",
    );
    tx(run, "alice", "create", &["h1", "alice", "1"]);
    tx(run, "alice", "update", &["h1", "2"]);
    tx(run, "alice", "transfer", &["h1", "bob"]);
    tx(run, "bob", "delete", &["h1"]);
    let changes = query(run, "history", &["h1"]);
    let assets: Vec<&Value> = changes
        .as_array()
        .expect("history is a list")
        .iter()
        .map(|c| &c["asset"])
        .collect();
    assert_eq!(
        assets,
        vec![
            &asset("h1", "alice", 1),
            &asset("h1", "alice", 2),
            &asset("h1", "bob", 2),
            &Value::Null
        ]
    );
    let ids: Vec<&str> = changes
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["tx_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 4, "every change names its transaction");
    fails(run, "alice", Kind::Tx, "history", &["h1"], "not allowed");
}

fn queries_cannot_write(run: &mut Runner<'_>) {
    fails(
        run,
        "alice",
        Kind::Query,
        "create",
        &["q1", "alice", "1"],
        "not allowed",
    );
    fails(
        run,
        "alice",
        Kind::Query,
        "read",
        &["q1"],
        "asset ID q1 does not exist",
    );
}

fn bad_calls(run: &mut Runner<'_>) {
    fails(
        run,
        "alice",
        Kind::Tx,
        "mint",
        &[],
        "unknown function \"mint\"",
    );
    fails(
        run,
        "alice",
        Kind::Tx,
        "mint",
        &[],
        "create, read, exists, update, delete, transfer",
    );
    fails(
        run,
        "alice",
        Kind::Tx,
        "create",
        &["a1", "alice"],
        "create takes 3 argument(s) (id, owner, value), got 2",
    );
    fails(
        run,
        "alice",
        Kind::Tx,
        "create",
        &["a1", "alice", "lots"],
        "create: argument `value` is not valid",
    );
    fails(
        run,
        "alice",
        Kind::Tx,
        "update",
        &["a1", "-1"],
        "update: argument `value`",
    );
}
