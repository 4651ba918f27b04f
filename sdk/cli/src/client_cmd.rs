//! The commands that talk to a running network through a connection profile
//! (`weft up` writes `.weft/profile.json`), with `weft-client`:
//!
//! - `weft invoke CC FN [ARGS…]`: endorse, order and wait for the commit;
//!   prints `tx`, `block`, `code` and `result` lines.
//! - `weft query CC FN [ARGS…]`: evaluate on one peer; prints the result.
//! - `weft tx ID`: where a transaction was committed, its verdict and what it did.
//! - `weft blocks [--from N] [--follow]`: `block N txs COUNT hash HASH` per block.
//! - `weft events [--chaincode NAME] [--from N]`: one JSON line per chaincode event.
//!
//! Results print as text when they are UTF-8, else as base64. Errors print
//! the message, then the `stage` and `code` the gateway gave, and exit 1.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use futures::StreamExt as _;
use serde::Serialize;
use weft_client::{
    BlockEvent, ClientError, ContractEvent, Gateway, TransactionRecord, TransientMap,
};
use weft_types::{Bytes, TxBody, TxId};

use crate::signals::Signals;

/// The profile used when none is given: the one `weft up` writes by default.
pub const DEFAULT_PROFILE: &str = ".weft/profile.json";

/// `weft invoke` and `weft query`.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// The chaincode.
    pub chaincode: String,
    /// The function.
    pub function: String,
    /// Its arguments, one string each (JSON for typed parameters, e.g. 100).
    /// Put `--` before arguments that start with '-'.
    pub args: Vec<String>,
    /// A private input, `KEY=VALUE` (repeatable): sent in the transient
    /// map, so it reaches the chaincode but never the transaction or the
    /// block (e.g. the value of a private data write).
    #[arg(long = "transient", value_name = "KEY=VALUE", value_parser = transient_entry)]
    pub transient: Vec<(String, String)>,
    /// Connection profile.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_PROFILE)]
    pub profile: PathBuf,
}

/// One `--transient KEY=VALUE`.
fn transient_entry(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// The transient map of `--transient` entries; a key given twice is refused.
fn transient_map(entries: &[(String, String)]) -> Result<TransientMap, String> {
    let mut map = TransientMap::new();
    for (key, value) in entries {
        if map
            .insert(key.clone(), Bytes(value.clone().into_bytes()))
            .is_some()
        {
            return Err(format!("--transient {key} is given twice"));
        }
    }
    Ok(map)
}

/// `weft tx`.
#[derive(Debug, Args)]
pub struct TxArgs {
    /// The transaction id (64 hex characters).
    pub tx_id: String,
    /// Connection profile.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_PROFILE)]
    pub profile: PathBuf,
}

/// `weft blocks`.
#[derive(Debug, Args)]
pub struct BlocksArgs {
    /// The first block to list.
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// Keep listing blocks as they are committed, until Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// Connection profile.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_PROFILE)]
    pub profile: PathBuf,
}

/// `weft events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this chaincode's events (default: every chaincode's).
    #[arg(long)]
    pub chaincode: Option<String>,
    /// Replay from this block (default: from the next block committed).
    #[arg(long)]
    pub from: Option<u64>,
    /// Connection profile.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_PROFILE)]
    pub profile: PathBuf,
}

/// Runs `future` on a runtime of its own; exit 1 if the runtime cannot start.
pub fn block_on(future: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(future),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Where and why a call failed: the gateway's stage and code where it gave
/// them, else this client's names for local failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorParts {
    /// `request`, `auth`, `endorsement`, `ordering`, `validation`,
    /// `commit_wait`, or for failures the gateway never saw: `connect`,
    /// `response`, `local`.
    pub stage: String,
    /// The gateway's code (`chaincode_error`, `endorsement_failed`, …), the
    /// validation code for a transaction committed invalid
    /// (`MVCC_READ_CONFLICT`), or this client's (`transport`, `protocol`, …).
    pub code: String,
    /// The org whose peers failed, when known.
    pub org: Option<String>,
    /// The transaction, when known.
    pub tx_id: Option<TxId>,
}

/// The stage and code of `e`.
pub fn error_parts(e: &ClientError) -> ErrorParts {
    let parts = |stage: &str, code: &str| ErrorParts {
        stage: stage.to_string(),
        code: code.to_string(),
        org: None,
        tx_id: None,
    };
    match e {
        ClientError::Auth { .. } => parts("auth", "unauthorized"),
        ClientError::Forbidden { .. } => parts("request", "forbidden"),
        ClientError::Rejected { code, .. } => parts("request", code),
        ClientError::NotFound { .. } => parts("request", "not_found"),
        ClientError::ChaincodeError { .. } => parts("endorsement", "chaincode_error"),
        ClientError::Endorsement { org, .. } => ErrorParts {
            org: org.clone(),
            ..parts("endorsement", "endorsement_failed")
        },
        ClientError::Ordering { .. } => parts("ordering", "ordering_failed"),
        ClientError::Validation { code, tx_id } => ErrorParts {
            tx_id: *tx_id,
            ..parts("validation", code.name())
        },
        ClientError::Overloaded { .. } => parts("request", "overloaded"),
        ClientError::Timeout { stage, .. } => parts(stage.as_str(), "timeout"),
        ClientError::Transport { .. } => parts("connect", "transport"),
        ClientError::Protocol { .. } => parts("response", "protocol"),
        ClientError::Gateway { code, stage, .. } => parts(
            stage.as_ref().map_or("unknown", |s| s.as_str()),
            code.as_str(),
        ),
        ClientError::InvalidInput { .. } => parts("request", "invalid_input"),
        ClientError::Signer { .. } => parts("local", "signer"),
        ClientError::Wallet { .. } => parts("local", "wallet"),
        ClientError::Profile { .. } => parts("local", "profile"),
        ClientError::Checkpoint { .. } => parts("local", "checkpoint"),
    }
}

/// Prints `e` to stderr — `error: MESSAGE`, then `stage:`, `code:` and,
/// when known, `org:` and `tx:` lines — and returns exit code 1.
pub fn report_error(e: &ClientError) -> ExitCode {
    let parts = error_parts(e);
    eprintln!("error: {e}");
    eprintln!("stage: {}", parts.stage);
    eprintln!("code: {}", parts.code);
    if let Some(org) = parts.org {
        eprintln!("org: {org}");
    }
    if let Some(tx) = parts.tx_id {
        eprintln!("tx: {tx}");
    }
    ExitCode::FAILURE
}

fn finish(result: Result<(), ClientError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report_error(&e),
    }
}

fn signal_error(e: std::io::Error) -> ClientError {
    ClientError::InvalidInput {
        message: format!("cannot listen for Ctrl-C: {e}"),
    }
}

/// `bytes` as text when they are UTF-8, else as base64; and whether base64.
pub fn printable(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (weft_types::to_base64(bytes), true),
    }
}

/// `weft invoke`: submits and waits; exit 0 once committed valid.
pub fn invoke(args: CallArgs) -> ExitCode {
    block_on(async move {
        let result = async {
            let transient = transient_map(&args.transient)
                .map_err(|message| ClientError::InvalidInput { message })?;
            let gateway = Gateway::connect_profile(&args.profile).await?;
            let call: Vec<&str> = args.args.iter().map(String::as_str).collect();
            let committed = gateway
                .contract(&args.chaincode)
                .submit_with_transient(&args.function, &call, transient)
                .await?;
            println!("tx {}", committed.tx_id);
            println!("block {}", committed.block);
            println!("code {}", committed.code);
            match printable(&committed.result) {
                (text, false) => println!("result {text}"),
                (b64, true) => println!("result (base64) {b64}"),
            }
            Ok(())
        };
        finish(result.await)
    })
}

/// `weft query`: evaluates on one peer and prints what it returned.
pub fn query(args: CallArgs) -> ExitCode {
    block_on(async move {
        let result = async {
            let transient = transient_map(&args.transient)
                .map_err(|message| ClientError::InvalidInput { message })?;
            let gateway = Gateway::connect_profile(&args.profile).await?;
            let call: Vec<&str> = args.args.iter().map(String::as_str).collect();
            let bytes = gateway
                .contract(&args.chaincode)
                .evaluate_with_transient(&args.function, &call, transient)
                .await?;
            let (text, base64) = printable(&bytes);
            if base64 {
                eprintln!("(the result is not UTF-8: printed as base64)");
            }
            println!("{text}");
            Ok(())
        };
        finish(result.await)
    })
}

/// `weft tx`: prints a committed transaction.
pub fn tx(args: TxArgs) -> ExitCode {
    let tx_id: TxId = match args.tx_id.parse() {
        Ok(id) => id,
        Err(e) => {
            eprintln!("error: {:?} is not a transaction id: {e}", args.tx_id);
            return ExitCode::from(2);
        }
    };
    block_on(async move {
        let result = async {
            let gateway = Gateway::connect_profile(&args.profile).await?;
            let record = gateway.transaction(tx_id).await?;
            print!("{}", describe_tx(&record));
            Ok(())
        };
        finish(result.await)
    })
}

/// A committed transaction, one `key value` line each: `tx`, `block`,
/// `index`, `code`, `type`, `creator`, `timestamp_ms`, then what it did.
pub fn describe_tx(record: &TransactionRecord) -> String {
    let mut out = format!(
        "tx {}\nblock {}\nindex {}\ncode {}\n",
        record.tx_id, record.block, record.index, record.code
    );
    let member = |cert: &weft_types::Certificate| match cert.decode() {
        Ok(body) => format!("{}@{}", body.name, body.org),
        Err(_) => "(unreadable certificate)".to_string(),
    };
    let tx = match record.envelope.decode() {
        Ok(tx) => tx,
        Err(e) => {
            out.push_str(&format!("type (unreadable: {e})\n"));
            return out;
        }
    };
    let kind = match &tx.body {
        TxBody::Invoke(_) => "invoke",
        TxBody::Lifecycle(_) => "lifecycle",
        TxBody::Config(_) => "config",
    };
    out.push_str(&format!(
        "type {kind}\ncreator {}\ntimestamp_ms {}\n",
        member(&record.envelope.signer),
        tx.header.timestamp_ms
    ));
    match &tx.body {
        TxBody::Invoke(endorsed) => {
            if let Ok(p) = endorsed.proposal.decode() {
                let args = serde_json::to_string(&p.args).unwrap_or_default();
                out.push_str(&format!(
                    "chaincode {}\nfunction {}\nargs {args}\n",
                    p.chaincode, p.function
                ));
            }
            let endorsers: Vec<String> = endorsed
                .endorsements
                .iter()
                .map(|e| member(&e.endorser))
                .collect();
            out.push_str(&format!("endorsed by {}\n", endorsers.join(", ")));
        }
        TxBody::Lifecycle(lifecycle) => {
            if let Ok(d) =
                serde_json::from_slice::<weft_types::ChaincodeDefinition>(&lifecycle.definition)
            {
                out.push_str(&format!(
                    "chaincode {}\nversion {}\nsequence {}\n",
                    d.name, d.version, d.sequence
                ));
            }
            let approvers: Vec<String> = lifecycle
                .approvals
                .iter()
                .map(|a| member(&a.endorser))
                .collect();
            out.push_str(&format!("approved by {}\n", approvers.join(", ")));
        }
        TxBody::Config(config) => {
            if let Ok(c) = config.decode() {
                out.push_str(&format!("sequence {}\n", c.sequence));
            }
        }
    }
    out
}

/// One line per block: `block N txs COUNT hash HASH`.
pub fn block_line(event: &BlockEvent) -> String {
    format!(
        "block {} txs {} hash {}",
        event.number,
        event.txs.len(),
        event.block_hash
    )
}

/// `weft blocks`: lists committed blocks from `--from`, then (with
/// `--follow`) new ones as they come, until Ctrl-C.
pub fn blocks(args: BlocksArgs) -> ExitCode {
    block_on(async move {
        let result = async {
            let gateway = Gateway::connect_profile(&args.profile).await?;
            let height = gateway.health().await?.height;
            if !args.follow && args.from >= height {
                return Ok(());
            }
            let mut stream = gateway.block_events(Some(args.from));
            let mut signals = Signals::install().map_err(signal_error)?;
            loop {
                let next = tokio::select! {
                    next = stream.next() => next,
                    _ = signals.recv() => return Ok(()),
                };
                let Some(event) = next else { return Ok(()) };
                let event = event?;
                println!("{}", block_line(&event));
                if !args.follow && event.number + 1 >= height {
                    return Ok(());
                }
            }
        };
        finish(result.await)
    })
}

/// A chaincode event as `weft events` prints it.
#[derive(Debug, Serialize)]
struct EventLine<'a> {
    block: u64,
    tx_id: TxId,
    chaincode: &'a str,
    name: &'a str,
    /// Base64.
    payload: &'a Bytes,
    /// The payload as text, when it is UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_text: Option<&'a str>,
}

/// One JSON line for a chaincode event: `block`, `tx_id`, `chaincode`,
/// `name`, `payload` (base64) and, when it is UTF-8, `payload_text`.
pub fn event_line(event: &ContractEvent) -> String {
    let line = EventLine {
        block: event.block,
        tx_id: event.tx_id,
        chaincode: &event.chaincode,
        name: &event.name,
        payload: &event.payload,
        payload_text: std::str::from_utf8(event.payload.as_slice()).ok(),
    };
    serde_json::to_string(&line).unwrap_or_default()
}

/// The chaincode events of a block's valid transactions.
fn events_of_block(block: BlockEvent) -> Vec<ContractEvent> {
    block
        .txs
        .into_iter()
        .filter(|tx| tx.code.is_valid())
        .filter_map(|tx| {
            let (tx_id, chaincode, event) = (tx.tx_id?, tx.chaincode?, tx.event?);
            Some(ContractEvent {
                block: block.number,
                tx_id,
                chaincode,
                name: event.name,
                payload: event.payload,
            })
        })
        .collect()
}

/// `weft events`: streams chaincode events until Ctrl-C.
pub fn events(args: EventsArgs) -> ExitCode {
    block_on(async move {
        let result = async {
            let gateway = Gateway::connect_profile(&args.profile).await?;
            match &args.chaincode {
                Some(name) => {
                    let stream = gateway.chaincode_events(name, args.from);
                    print_until_ctrl_c(stream.map(|e| e.map(|e| vec![e]))).await
                }
                None => {
                    let stream = gateway.block_events(args.from);
                    print_until_ctrl_c(stream.map(|b| b.map(events_of_block))).await
                }
            }
        };
        finish(result.await)
    })
}

async fn print_until_ctrl_c(
    stream: impl futures::Stream<Item = Result<Vec<ContractEvent>, ClientError>>,
) -> Result<(), ClientError> {
    let mut stream = std::pin::pin!(stream);
    let mut signals = Signals::install().map_err(signal_error)?;
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            _ = signals.recv() => return Ok(()),
        };
        let Some(events) = next else { return Ok(()) };
        for event in events? {
            println!("{}", event_line(&event));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_types::{ValidationCode, sha3_256};

    #[test]
    fn transient_entries_split_at_the_first_equals_sign() {
        assert_eq!(
            transient_entry(r#"position={"a":"b=c"}"#).unwrap(),
            ("position".to_string(), r#"{"a":"b=c"}"#.to_string())
        );
        assert_eq!(transient_entry("k=").unwrap(), ("k".into(), String::new()));
        assert!(transient_entry("novalue").is_err());
        assert!(transient_entry("=v").is_err());
        let map = transient_map(&[("a".into(), "1".into()), ("b".into(), "2".into())]).unwrap();
        assert_eq!(map["a"], Bytes(b"1".to_vec()));
        let twice = transient_map(&[("a".into(), "1".into()), ("a".into(), "2".into())]);
        assert!(twice.unwrap_err().contains("twice"));
    }

    #[test]
    fn errors_name_their_stage_and_code() {
        let check = |e: ClientError, stage: &str, code: &str| {
            let parts = error_parts(&e);
            assert_eq!(
                (parts.stage.as_str(), parts.code.as_str()),
                (stage, code),
                "{e}"
            );
        };
        let body = |json: &str, status| ClientError::from_response(status, json.as_bytes(), None);
        check(
            body(
                r#"{"code":"chaincode_error","message":"no","stage":"endorsement"}"#,
                422,
            ),
            "endorsement",
            "chaincode_error",
        );
        check(
            body(
                r#"{"code":"invalid_transaction","message":"","stage":"validation","validation_code":"MVCC_READ_CONFLICT"}"#,
                409,
            ),
            "validation",
            "MVCC_READ_CONFLICT",
        );
        check(
            body(
                r#"{"code":"internal","message":"oops","stage":"commit_wait"}"#,
                500,
            ),
            "commit_wait",
            "internal",
        );
        check(
            ClientError::Transport {
                message: "refused".into(),
            },
            "connect",
            "transport",
        );
        let e = ClientError::Validation {
            code: ValidationCode::DuplicateTxid,
            tx_id: Some(TxId(sha3_256(b"t"))),
        };
        assert_eq!(error_parts(&e).tx_id, Some(TxId(sha3_256(b"t"))));
    }

    #[test]
    fn results_print_as_text_or_base64() {
        assert_eq!(printable(b"{\"id\":1}"), ("{\"id\":1}".to_string(), false));
        assert_eq!(printable(&[0xff, 0]), ("/wA=".to_string(), true));
    }

    #[test]
    fn event_lines_are_json_with_text_when_utf8() {
        let event = ContractEvent {
            block: 4,
            tx_id: TxId(sha3_256(b"t")),
            chaincode: "cc".into(),
            name: "Created".into(),
            payload: Bytes::from("{\"id\":\"a\"}"),
        };
        let line: serde_json::Value = serde_json::from_str(&event_line(&event)).unwrap();
        assert_eq!(line["block"], 4);
        assert_eq!(line["name"], "Created");
        assert_eq!(line["payload_text"], "{\"id\":\"a\"}");
        assert_eq!(line["payload"], weft_types::to_base64(b"{\"id\":\"a\"}"));
    }
}
