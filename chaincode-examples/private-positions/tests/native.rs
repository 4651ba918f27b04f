#![allow(clippy::unwrap_used)]
//! private-positions run natively through `MockContext`.

use private_positions::{POSITION, Position, PrivatePositions};
use weft_chaincode::mock::MockContext;

const COLL: &str = "FundClientA";

fn position() -> Position {
    Position {
        instrument: "XS0000000001".into(),
        quantity: 1_500,
        cost_cents: 10_250,
    }
}

#[test]
fn a_recorded_position_is_private_and_its_hash_is_what_was_stored() {
    let bytes = serde_json::to_vec(&position()).unwrap();
    let mut ctx = MockContext::new("private-positions")
        .collection(COLL)
        .transient(POSITION, &bytes);
    let hash = ctx.invoke::<PrivatePositions>("record", &[COLL, "p1"]);
    assert!(hash.is_ok(), "{:?}", hash.error());
    let stored = ctx.private_state(COLL, "p1").unwrap();
    assert_eq!(stored, bytes);
    // Nothing public: the position is in the collection only.
    assert_eq!(ctx.state("p1"), None);
    let expected: String = weft_types::sha3_256(&bytes)
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hash.json::<String>().unwrap(), expected);
    let read = ctx.query::<PrivatePositions>("read", &[COLL, "p1"]);
    assert_eq!(read.json::<Position>().unwrap(), position());
    let committed = ctx.query::<PrivatePositions>("hash", &[COLL, "p1"]);
    assert_eq!(committed.json::<String>().unwrap(), expected);
}

#[test]
fn a_position_in_the_arguments_or_malformed_is_refused() {
    let mut ctx = MockContext::new("private-positions").collection(COLL);
    let missing = ctx.invoke::<PrivatePositions>("record", &[COLL, "p1"]);
    assert!(
        missing.error().unwrap().contains("transient"),
        "{missing:?}"
    );
    let mut ctx = MockContext::new("private-positions")
        .collection(COLL)
        .transient(
            POSITION,
            br#"{"instrument":"X","quantity":1,"cost_cents":1,"extra":1}"#,
        );
    let malformed = ctx.invoke::<PrivatePositions>("record", &[COLL, "p1"]);
    assert!(
        malformed.error().unwrap().contains("not a position"),
        "{malformed:?}"
    );
    assert_eq!(ctx.private_state(COLL, "p1"), None);
}

#[test]
fn closing_deletes_and_an_unknown_collection_is_refused() {
    let bytes = serde_json::to_vec(&position()).unwrap();
    let mut ctx = MockContext::new("private-positions")
        .collection(COLL)
        .transient(POSITION, &bytes);
    assert!(
        ctx.invoke::<PrivatePositions>("record", &[COLL, "p1"])
            .is_ok()
    );
    assert!(
        ctx.invoke::<PrivatePositions>("close", &[COLL, "p1"])
            .is_ok()
    );
    assert_eq!(ctx.private_state(COLL, "p1"), None);
    let again = ctx.invoke::<PrivatePositions>("close", &[COLL, "p1"]);
    assert!(again.error().unwrap().contains("no position"), "{again:?}");
    let unknown = ctx.invoke::<PrivatePositions>("record", &["Other", "p2"]);
    assert!(unknown.error().unwrap().contains("Other"), "{unknown:?}");
}
