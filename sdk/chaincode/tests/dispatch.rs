//! What `#[contract]` generates: argument parsing, results as JSON, errors
//! for unknown functions and bad arguments; and `Context` features that need
//! a host (paging, composite ranges, private data, invoking other chaincode).
#![allow(clippy::unwrap_used)]

use weft_chaincode::mock::MockContext;
use weft_chaincode::{Context, Error, Result, contract};

/// A contract exercising every kind of parameter and result.
pub struct Kitchen;

#[contract]
impl Kitchen {
    /// Echoes a borrowed string, a list and an optional number.
    #[query]
    pub fn echo(_ctx: &mut Context, text: &str, list: Vec<u32>, n: Option<i64>) -> Result<String> {
        Ok(format!("{text}|{list:?}|{n:?}"))
    }

    /// Stores `n` JSON values `k000`… and returns nothing.
    #[tx]
    pub fn fill(ctx: &mut Context, n: u32) -> Result<()> {
        for i in 0..n {
            ctx.put_json(&format!("k{i:03}"), &i)?;
        }
        Ok(())
    }

    /// One page of the keys.
    #[query]
    pub fn page(ctx: &mut Context, size: u32, bookmark: String) -> Result<(Vec<String>, String)> {
        let page = ctx.range_paged("", "", size, &bookmark)?;
        Ok((
            page.items.into_iter().map(|(k, _)| k).collect(),
            page.bookmark,
        ))
    }

    /// Writes and reads a private value.
    #[tx]
    pub fn secret(ctx: &mut Context, value: String) -> Result<String> {
        ctx.private_put("vault", "s", value.as_bytes())?;
        let back = ctx.private_get("vault", "s")?.unwrap_or_default();
        let hash = ctx.private_get_hash("vault", "s")?;
        if hash != Some(ctx.sha3_256(value.as_bytes())) {
            return Err(Error::new("hash mismatch"));
        }
        Ok(String::from_utf8(back).unwrap_or_default())
    }

    /// Calls `Kitchen.fill` installed as chaincode `other`.
    #[tx]
    pub fn call_other(ctx: &mut Context, n: String) -> Result<u16> {
        Ok(ctx.invoke_chaincode("other", "fill", &[n])?.status)
    }

    /// Reads the transient input and the creator.
    #[query]
    pub fn whoami(ctx: &mut Context) -> Result<String> {
        let t = ctx.transient("t")?.unwrap_or_default();
        Ok(format!(
            "{}.{}:{}@{}",
            ctx.creator().org,
            ctx.creator().name,
            String::from_utf8_lossy(&t),
            ctx.timestamp_ms()
        ))
    }
}

fn mock() -> MockContext {
    MockContext::new("kitchen")
}

#[test]
fn arguments_are_raw_strings_or_json() {
    let mut m = mock();
    let r = m.query::<Kitchen>("echo", &["a\"b", "[1,2]", "null"]);
    assert_eq!(r.json::<String>().unwrap(), "a\"b|[1, 2]|None");
    let r = m.query::<Kitchen>("echo", &["x", "[1,", "3"]);
    assert!(
        r.error()
            .unwrap()
            .starts_with("echo: argument `list` is not valid"),
        "{r:?}"
    );
    let r = m.query::<Kitchen>("echo", &["x"]);
    assert_eq!(
        r.error(),
        Some("echo takes 3 argument(s) (text, list, n), got 1")
    );
    let r = m.query::<Kitchen>("fill", &["-1"]);
    assert!(r.error().unwrap().contains("argument `n`"));
    let r = m.invoke::<Kitchen>("fill", &["2"]);
    assert_eq!(r.payload_str(), Some("null"), "() is null");
    let r = m.invoke::<Kitchen>("nope", &[]);
    assert!(
        r.error()
            .unwrap()
            .contains("echo, fill, page, secret, call_other, whoami")
    );
}

#[test]
fn pages_follow_bookmarks_in_queries_only() {
    let mut m = mock();
    m.invoke::<Kitchen>("fill", &["5"]);
    let (keys, next) = m
        .query::<Kitchen>("page", &["2", ""])
        .json::<(Vec<String>, String)>()
        .unwrap();
    assert_eq!(
        (keys, next.as_str()),
        (vec!["k000".to_string(), "k001".to_string()], "k002")
    );
    let (keys, next) = m
        .query::<Kitchen>("page", &["3", "k002"])
        .json::<(Vec<String>, String)>()
        .unwrap();
    assert_eq!((keys.len(), next.as_str()), (3, ""));
    assert!(
        m.invoke::<Kitchen>("page", &["2", ""])
            .error()
            .unwrap()
            .contains("only in queries")
    );
    assert!(
        m.query::<Kitchen>("page", &["0", ""])
            .error()
            .unwrap()
            .contains("page size")
    );
}

#[test]
fn private_data_transient_creator_and_invoke() {
    let mut m = mock()
        .collection("vault")
        .creator("Bank", "alice", "client")
        .transient("t", b"tv")
        .timestamp_ms(42)
        .with_chaincode::<Kitchen>("other");
    let r = m.invoke::<Kitchen>("secret", &["hush"]);
    assert_eq!(r.json::<String>().unwrap(), "hush");
    assert_eq!(m.private_state("vault", "s"), Some(b"hush".to_vec()));
    assert!(r.rwset.namespaces[0].writes.is_empty());
    assert_eq!(
        m.query::<Kitchen>("whoami", &[]).json::<String>().unwrap(),
        "Bank.alice:tv@42"
    );

    let r = m.invoke::<Kitchen>("call_other", &["3"]);
    assert_eq!(r.json::<u16>().unwrap(), 200);
    let names: Vec<&str> = r
        .rwset
        .namespaces
        .iter()
        .map(|n| n.namespace.as_str())
        .collect();
    assert_eq!(names, vec!["kitchen", "other"]);
    assert_eq!(
        m.ledger().value("other", "k002").map(|(v, _)| v.as_slice()),
        Some(&b"2"[..])
    );
    let r = m.invoke::<Kitchen>("call_other", &["x"]);
    assert_eq!(
        r.json::<u16>().unwrap(),
        400,
        "the callee's refusal is a response"
    );
}
