//! [`Contract`], implemented by `#[contract]`, and the helpers its code calls.

use serde::Serialize;
use serde::de::DeserializeOwned;
use weft_abi::{Outcome, TxKind};

use crate::context::Context;
use crate::error::Result;

/// One function a contract exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxSpec {
    /// The name clients call.
    pub name: &'static str,
    /// `Query` for `#[query]` functions, `Transaction` for `#[tx]`.
    pub kind: TxKind,
}

/// A chaincode: implemented by [`crate::contract`] on the type whose impl
/// block it marks.
pub trait Contract {
    /// Runs `function` with `args`. An unknown function, a wrong number of
    /// arguments or an argument that does not parse is an [`Outcome::Err`]
    /// naming what was wrong. Panics are not caught.
    fn dispatch(ctx: &mut Context, function: &str, args: &[String]) -> Outcome;

    /// The exported functions, in declaration order.
    fn transactions() -> &'static [TxSpec];
}

/// Parses argument `param` of `function` as JSON.
pub fn parse_arg<T: DeserializeOwned>(
    function: &str,
    param: &str,
    arg: &str,
) -> Result<T, Outcome> {
    serde_json::from_str(arg).map_err(|e| {
        Outcome::Err(format!(
            "{function}: argument `{param}` is not valid ({e}); typed arguments are JSON"
        ))
    })
}

/// The error for a call with the wrong number of arguments.
pub fn arity_error(function: &str, params: &[&str], got: usize) -> Outcome {
    Outcome::Err(format!(
        "{function} takes {} argument(s) ({}), got {got}",
        params.len(),
        params.join(", ")
    ))
}

/// The error for a function the contract does not export.
pub fn unknown_function(function: &str, known: &[TxSpec]) -> Outcome {
    let names: Vec<&str> = known.iter().map(|t| t.name).collect();
    Outcome::Err(format!(
        "unknown function {function:?}; this contract exports: {}",
        names.join(", ")
    ))
}

/// A function's result as an [`Outcome`]: the value as JSON, or the error's message.
pub fn into_outcome<R: Serialize>(result: Result<R>) -> Outcome {
    match result {
        Ok(value) => match serde_json::to_vec(&value) {
            Ok(bytes) => Outcome::Ok(bytes),
            Err(e) => Outcome::Err(format!("the result does not serialize to JSON: {e}")),
        },
        Err(e) => Outcome::Err(e.message().to_string()),
    }
}
