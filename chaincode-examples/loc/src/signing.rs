//! The canonical bytes LoC hashes and signs, and the checks over them.
//!
//! Every LoC signature (a customer's event, an oracle's statement, a bank's
//! issuance) is an ed25519 signature over
//! `CHAINCODE_SIGNING_TAG || sha3_256(signing_bytes)` — what
//! `weft_types::Domain::Chaincode.message(&sha3_256(bytes))` builds — so a
//! member key never signs raw application bytes. Ids are lowercase hex
//! sha3-256 of their preimage.
//!
//! This crate links no hash function (clients link it natively and should
//! not pay for a second sha3): the chaincode hashes with its host's
//! `sha3_256`, a client with `weft_types::sha3_256` (or any sha3-256). The
//! `*_with` helpers take that function, and [`Crypto`] bundles it with
//! ed25519 verification for the checks.

use crate::model::{EventBody, Lock, OracleStatement, SignedEvent};

/// The domain tag of every LoC signature: `weft_types::Domain::Chaincode`'s.
pub const CHAINCODE_SIGNING_TAG: &[u8] = b"weft/v1/chaincode\0";

const ISSUANCE_PREFIX: &[u8] = b"weft-loc/issuance/v1\n";
const EVENT_PREFIX: &[u8] = b"weft-loc/event/v1\n";
const LOCK_PREFIX: &[u8] = b"weft-loc/lock/v1\n";
const STATEMENT_PREFIX: &[u8] = b"weft-loc/statement/v1\n";

/// The message an ed25519 key signs for signing bytes whose sha3-256 is
/// `digest`: `CHAINCODE_SIGNING_TAG || digest`.
pub fn signed_message(digest: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(CHAINCODE_SIGNING_TAG.len() + 32);
    m.extend_from_slice(CHAINCODE_SIGNING_TAG);
    m.extend_from_slice(digest);
    m
}

/// [`signed_message`] of `signing_bytes`, hashed with `sha3_256`.
pub fn message_to_sign_with(
    signing_bytes: &[u8],
    sha3_256: impl FnOnce(&[u8]) -> [u8; 32],
) -> Vec<u8> {
    signed_message(&sha3_256(signing_bytes))
}

fn prefixed_json<T: serde::Serialize>(prefix: &[u8], value: &T) -> Vec<u8> {
    let mut bytes = prefix.to_vec();
    // Serializing these plain structs to a Vec cannot fail (string keys,
    // no custom serializers); an empty body would still be domain-separated.
    if let Ok(json) = serde_json::to_vec(value) {
        bytes.extend_from_slice(&json);
    }
    bytes
}

/// What a bank member signs to issue `amount` to account `to` under
/// `serial`: a domain prefix and the JSON array `[to, amount, serial]`.
pub fn issuance_signing_bytes(to: &str, amount: u64, serial: &str) -> Vec<u8> {
    prefixed_json(ISSUANCE_PREFIX, &(to, amount, serial))
}

/// What a customer signs for an event: `b"weft-loc/event/v1\n"` and the
/// body's JSON. Its sha3-256 is the event id.
pub fn event_signing_bytes(body: &EventBody) -> Vec<u8> {
    prefixed_json(EVENT_PREFIX, body)
}

/// The bytes whose sha3-256 is the event id (the same as
/// [`event_signing_bytes`]).
pub fn event_id_preimage(body: &EventBody) -> Vec<u8> {
    event_signing_bytes(body)
}

/// The bytes whose sha3-256 is the lock id: `b"weft-loc/lock/v1\n"` and the
/// whole lock's JSON, so an oracle signing the lock id covers its
/// operations and keys too.
pub fn lock_id_preimage(lock: &Lock) -> Vec<u8> {
    prefixed_json(LOCK_PREFIX, lock)
}

/// What an oracle signs: `b"weft-loc/statement/v1\n"` and the statement's JSON.
pub fn statement_signing_bytes(statement: &OracleStatement) -> Vec<u8> {
    prefixed_json(STATEMENT_PREFIX, statement)
}

/// The event id: lowercase hex sha3-256 of [`event_id_preimage`].
pub fn event_id_with(body: &EventBody, sha3_256: impl FnOnce(&[u8]) -> [u8; 32]) -> String {
    hex_encode(&sha3_256(&event_id_preimage(body)))
}

/// The lock id: lowercase hex sha3-256 of [`lock_id_preimage`].
pub fn lock_id_with(lock: &Lock, sha3_256: impl FnOnce(&[u8]) -> [u8; 32]) -> String {
    hex_encode(&sha3_256(&lock_id_preimage(lock)))
}

/// Lowercase hex.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Decodes hex (either case); `None` if it is not.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// Decodes exactly `N` bytes of hex.
pub fn hex_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    hex_decode(s)?.try_into().ok()
}

/// The two primitives LoC's checks need. The chaincode implements it over
/// its host; a client over `weft_types` (or sha3 and ed25519-dalek).
pub trait Crypto {
    /// sha3-256 of `data`.
    fn sha3_256(&self, data: &[u8]) -> [u8; 32];

    /// Whether `signature` is a valid (strict) ed25519 signature of `message`.
    fn ed25519_verify(&self, public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool;

    /// Whether hex `signature` by hex `public_key` covers `signing_bytes`
    /// (through [`signed_message`]). Malformed hex is a bad signature.
    fn verify_hex(&self, public_key: &str, signing_bytes: &[u8], signature: &str) -> bool {
        self.verify_digest_hex(public_key, &self.sha3_256(signing_bytes), signature)
    }

    /// [`Crypto::verify_hex`] given the sha3-256 of the signing bytes.
    fn verify_digest_hex(&self, public_key: &str, digest: &[u8; 32], signature: &str) -> bool {
        let (Some(pk), Some(sig)) = (hex_array::<32>(public_key), hex_array::<64>(signature))
        else {
            return false;
        };
        self.ed25519_verify(&pk, &signed_message(digest), &sig)
    }

    /// RO1: the event carries exactly one signature, by its customer's key,
    /// and it verifies. The error says which part failed.
    fn check_event(&self, event: &SignedEvent) -> Result<(), String> {
        self.check_event_digest(event, &self.event_digest(&event.body))
    }

    /// [`Crypto::check_event`] given [`Crypto::event_digest`] of its body,
    /// for a caller that needs the digest (the event id) too.
    fn check_event_digest(&self, event: &SignedEvent, digest: &[u8; 32]) -> Result<(), String> {
        let customer = event.body.customer();
        let [signature] = event.signatures.as_slice() else {
            return Err(format!(
                "the event must carry exactly one signature, its customer's; it has {}",
                event.signatures.len()
            ));
        };
        if signature.public_key != customer {
            return Err(format!(
                "the event is signed by {}, not by its customer {customer}",
                signature.public_key
            ));
        }
        if !self.verify_digest_hex(customer, digest, &signature.signature) {
            return Err("the customer's signature over the event does not verify".into());
        }
        Ok(())
    }

    /// Whether hex `signature` by oracle key `public_key` covers `statement`.
    fn verify_statement(
        &self,
        public_key: &str,
        statement: &OracleStatement,
        signature: &str,
    ) -> bool {
        self.verify_hex(public_key, &statement_signing_bytes(statement), signature)
    }

    /// The event id of `body`.
    fn event_id(&self, body: &EventBody) -> String {
        hex_encode(&self.event_digest(body))
    }

    /// The sha3-256 of `body`'s signing bytes: what its customer signs, and
    /// (in hex) its event id.
    fn event_digest(&self, body: &EventBody) -> [u8; 32] {
        self.sha3_256(&event_signing_bytes(body))
    }

    /// The lock id of `lock`.
    fn lock_id(&self, lock: &Lock) -> String {
        lock_id_with(lock, |b| self.sha3_256(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex_encode(&bytes), "0001abff");
        assert_eq!(hex_decode("0001ABff"), Some(bytes.to_vec()));
        assert_eq!(hex_decode("abc"), None, "odd length");
        assert_eq!(hex_decode("zz"), None);
        assert_eq!(hex_array::<2>("0001"), Some([0, 1]));
        assert_eq!(hex_array::<3>("0001"), None);
    }

    #[test]
    fn signing_bytes_are_domain_separated() {
        let body = EventBody::RefundApplication {
            customer: "c".into(),
            loan: "l".into(),
            amount: 1,
            nonce: "n".into(),
        };
        let event = event_signing_bytes(&body);
        assert!(event.starts_with(b"weft-loc/event/v1\n"));
        assert_eq!(
            &event[EVENT_PREFIX.len()..],
            br#"{"kind":"refund_application","customer":"c","loan":"l","amount":1,"nonce":"n"}"#
        );
        assert_eq!(
            issuance_signing_bytes("to", 5, "s1"),
            b"weft-loc/issuance/v1\n[\"to\",5,\"s1\"]".to_vec()
        );
        let m = signed_message(&[7; 32]);
        assert_eq!(&m[..CHAINCODE_SIGNING_TAG.len()], CHAINCODE_SIGNING_TAG);
        assert_eq!(m.len(), CHAINCODE_SIGNING_TAG.len() + 32);
    }
}
