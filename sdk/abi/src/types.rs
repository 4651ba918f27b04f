//! Structured values that cross the boundary, with their encodings.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::codec::{DecodeError, Reader, Writer};

/// Whether a call may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxKind {
    /// An endorsed transaction: reads and writes are recorded in the rw-set.
    Transaction,
    /// A query (evaluate): writes are refused with [`crate::ErrorCode::NotAllowed`].
    Query,
}

/// Who created the transaction, from its verified certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creator {
    /// Organisation.
    pub org: String,
    /// Member name.
    pub name: String,
    /// Role: `client`, `peer`, `admin` or `orderer`.
    pub role: String,
    /// The creator's ed25519 public key.
    pub public_key: [u8; 32],
}

/// What the chaincode may know about the call. The only clock a chaincode
/// has is `timestamp_ms`, chosen by the creator and identical on every endorser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxInfo {
    /// Hex transaction id.
    pub tx_id: String,
    /// Channel name.
    pub channel: String,
    /// The creator's timestamp, unix milliseconds.
    pub timestamp_ms: u64,
    /// Who submitted it.
    pub creator: Creator,
    /// Whether writes are allowed.
    pub kind: TxKind,
}

impl TxInfo {
    /// Encodes for the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.str(&self.tx_id)
            .str(&self.channel)
            .u64(self.timestamp_ms)
            .str(&self.creator.org)
            .str(&self.creator.name)
            .str(&self.creator.role)
            .bytes(&self.creator.public_key)
            .u8(match self.kind {
                TxKind::Transaction => 0,
                TxKind::Query => 1,
            });
        w.finish()
    }

    /// Decodes [`TxInfo::encode`].
    pub fn decode(input: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(input);
        let tx_id = r.str("tx id")?.to_string();
        let channel = r.str("channel")?.to_string();
        let timestamp_ms = r.u64("timestamp")?;
        let org = r.str("creator org")?.to_string();
        let name = r.str("creator name")?.to_string();
        let role = r.str("creator role")?.to_string();
        let public_key = r
            .bytes("creator public key")?
            .try_into()
            .map_err(|_| DecodeError {
                what: "creator public key",
            })?;
        let kind = match r.u8("kind")? {
            0 => TxKind::Transaction,
            1 => TxKind::Query,
            _ => return Err(DecodeError { what: "kind" }),
        };
        r.finish("tx info")?;
        Ok(TxInfo {
            tx_id,
            channel,
            timestamp_ms,
            creator: Creator {
                org,
                name,
                role,
                public_key,
            },
            kind,
        })
    }
}

/// What the host asks the guest to run: passed to [`crate::exports::INVOKE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The transaction (method) name.
    pub function: String,
    /// Its arguments, one string each (JSON for typed arguments).
    pub args: Vec<String>,
}

impl Invocation {
    /// Encodes for the wire.
    pub fn encode(&self) -> Vec<u8> {
        encode_call(&self.function, &self.args)
    }

    /// Decodes [`Invocation::encode`].
    pub fn decode(input: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(input);
        let function = r.str("function")?.to_string();
        let n = r.count("argument count", 4)?;
        let mut args = Vec::with_capacity(n);
        for _ in 0..n {
            args.push(r.str("argument")?.to_string());
        }
        r.finish("invocation")?;
        Ok(Invocation { function, args })
    }
}

/// Encodes a function name and arguments (an [`Invocation`] without building one).
pub(crate) fn encode_call<S: AsRef<str>>(function: &str, args: &[S]) -> Vec<u8> {
    let mut w = Writer::new();
    w.str(function);
    w.u32(u32::try_from(args.len()).expect("fewer than 4 billion arguments"));
    for a in args {
        w.str(a.as_ref());
    }
    w.finish()
}

/// What the guest's [`crate::exports::INVOKE`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Success, with the result bytes (JSON for the SDK's contracts).
    Ok(Vec<u8>),
    /// The chaincode refused, with a message for the caller (status 400).
    Err(String),
}

impl Outcome {
    /// Encodes for the wire: a status byte (0 ok, 1 error), then the bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            Outcome::Ok(payload) => w.u8(0).bytes(payload),
            Outcome::Err(message) => w.u8(1).str(message),
        };
        w.finish()
    }

    /// Decodes [`Outcome::encode`].
    pub fn decode(input: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(input);
        let outcome = match r.u8("outcome status")? {
            0 => Outcome::Ok(r.bytes("result")?.to_vec()),
            1 => Outcome::Err(r.str("error message")?.to_string()),
            _ => {
                return Err(DecodeError {
                    what: "outcome status",
                });
            }
        };
        r.finish("outcome")?;
        Ok(outcome)
    }
}

/// The response of a chaincode invoked from another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeResponse {
    /// 200 on success, 400 when the callee returned an error, 500 when it trapped.
    pub status: u16,
    /// The callee's error message, empty on success.
    pub message: String,
    /// The callee's result bytes.
    pub payload: Vec<u8>,
}

impl InvokeResponse {
    /// Encodes for the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(u32::from(self.status))
            .str(&self.message)
            .bytes(&self.payload);
        w.finish()
    }

    /// Decodes [`InvokeResponse::encode`].
    pub fn decode(input: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(input);
        let status = u16::try_from(r.u32("status")?).map_err(|_| DecodeError { what: "status" })?;
        let message = r.str("message")?.to_string();
        let payload = r.bytes("payload")?.to_vec();
        r.finish("invoke response")?;
        Ok(InvokeResponse {
            status,
            message,
            payload,
        })
    }
}

/// Severity of a chaincode log line. Logging never affects the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Something failed.
    Error = 1,
    /// Something looks wrong.
    Warn = 2,
    /// Progress.
    Info = 3,
    /// Detail.
    Debug = 4,
}

impl LogLevel {
    /// The level for a wire number; unknown numbers are `Debug`.
    pub fn from_i32(n: i32) -> LogLevel {
        match n {
            1 => LogLevel::Error,
            2 => LogLevel::Warn,
            3 => LogLevel::Info,
            _ => LogLevel::Debug,
        }
    }
}

/// One committed change of a key, as `state_history` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The transaction that made the change.
    pub tx_id: String,
    /// Its block.
    pub block: u64,
    /// Its index in the block.
    pub tx: u32,
    /// Its creator's timestamp, unix milliseconds.
    pub timestamp_ms: u64,
    /// The new value; `None` when the key was deleted.
    pub value: Option<Vec<u8>>,
}

/// Encodes a key's history.
pub fn encode_history(entries: &[HistoryEntry]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u32(u32::try_from(entries.len()).expect("fewer than 4 billion entries"));
    for e in entries {
        w.str(&e.tx_id)
            .u64(e.block)
            .u32(e.tx)
            .u64(e.timestamp_ms)
            .opt_bytes(e.value.as_deref());
    }
    w.finish()
}

/// Decodes [`encode_history`].
pub fn decode_history(input: &[u8]) -> Result<Vec<HistoryEntry>, DecodeError> {
    let mut r = Reader::new(input);
    let n = r.count("history length", 25)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(HistoryEntry {
            tx_id: r.str("history tx id")?.to_string(),
            block: r.u64("history block")?,
            tx: r.u32("history tx index")?,
            timestamp_ms: r.u64("history timestamp")?,
            value: r.opt_bytes("history value")?.map(<[u8]>::to_vec),
        });
    }
    r.finish("history")?;
    Ok(out)
}

/// Encodes a batch of `(key, value)` pairs returned by `range_next`.
pub fn encode_kv_batch<K: AsRef<str>, V: AsRef<[u8]>>(items: &[(K, V)]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u32(u32::try_from(items.len()).expect("fewer than 4 billion items"));
    for (k, v) in items {
        w.str(k.as_ref()).bytes(v.as_ref());
    }
    w.finish()
}

/// Decodes [`encode_kv_batch`].
pub fn decode_kv_batch(input: &[u8]) -> Result<Vec<(String, Vec<u8>)>, DecodeError> {
    let mut r = Reader::new(input);
    let n = r.count("batch size", 8)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let k = r.str("key")?.to_string();
        let v = r.bytes("value")?.to_vec();
        out.push((k, v));
    }
    r.finish("batch")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn values_round_trip() {
        let info = TxInfo {
            tx_id: "ab".into(),
            channel: "weft".into(),
            timestamp_ms: 5,
            creator: Creator {
                org: "Bank".into(),
                name: "alice".into(),
                role: "client".into(),
                public_key: [9; 32],
            },
            kind: TxKind::Query,
        };
        assert_eq!(TxInfo::decode(&info.encode()).unwrap(), info);
        let inv = Invocation {
            function: "create".into(),
            args: vec!["a".into(), "{\"x\":1}".into()],
        };
        assert_eq!(Invocation::decode(&inv.encode()).unwrap(), inv);
        for o in [Outcome::Ok(vec![1, 2]), Outcome::Err("not found".into())] {
            assert_eq!(Outcome::decode(&o.encode()).unwrap(), o);
        }
        let r = InvokeResponse {
            status: 400,
            message: "no".into(),
            payload: vec![],
        };
        assert_eq!(InvokeResponse::decode(&r.encode()).unwrap(), r);
        let batch = vec![("k1".to_string(), vec![1u8]), ("k2".to_string(), vec![])];
        assert_eq!(decode_kv_batch(&encode_kv_batch(&batch)).unwrap(), batch);
        let history = vec![
            HistoryEntry {
                tx_id: "t1".into(),
                block: 3,
                tx: 0,
                timestamp_ms: 10,
                value: Some(vec![1]),
            },
            HistoryEntry {
                tx_id: "t2".into(),
                block: 4,
                tx: 2,
                timestamp_ms: 11,
                value: None,
            },
        ];
        assert_eq!(decode_history(&encode_history(&history)).unwrap(), history);
    }

    #[test]
    fn garbage_does_not_decode() {
        assert!(Outcome::decode(&[7]).is_err());
        assert!(Invocation::decode(&[1, 0, 0, 0]).is_err());
        assert!(decode_kv_batch(&[0xff, 0xff, 0xff, 0x0f]).is_err());
        let mut bad = Outcome::Ok(vec![1]).encode();
        bad.push(0);
        assert!(Outcome::decode(&bad).is_err(), "trailing bytes");
    }
}
