//! Error codes returned by host functions.

use alloc::string::String;
use core::fmt;

/// Why a host function refused a call. On the wire a host function returns
/// the negated code (see [`crate::imports`]); the message is in the result buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorCode {
    /// An argument is malformed: a key that is not UTF-8, empty, or contains
    /// a reserved character; an unknown iterator handle.
    InvalidArgument = 1,
    /// The call is not allowed here: a write during a read-only call, private
    /// data read by a non-member when the collection is member-only.
    NotAllowed = 2,
    /// A limit was hit: key or value too large, too many writes or open iterators.
    LimitExceeded = 3,
    /// The collection is not defined for this chaincode.
    UnknownCollection = 4,
    /// The chaincode invoked by [`crate::Host::invoke_chaincode`] does not
    /// exist or failed to run (its own errors come back as a response, not this).
    InvokeFailed = 5,
    /// The host failed (ledger I/O). The transaction cannot be endorsed.
    Internal = 6,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 6] = [
        ErrorCode::InvalidArgument,
        ErrorCode::NotAllowed,
        ErrorCode::LimitExceeded,
        ErrorCode::UnknownCollection,
        ErrorCode::InvokeFailed,
        ErrorCode::Internal,
    ];

    /// The positive number of the code.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The code with this positive number; unknown numbers map to `Internal`.
    pub fn from_i32(n: i32) -> ErrorCode {
        Self::ALL
            .into_iter()
            .find(|c| c.as_i32() == n)
            .unwrap_or(ErrorCode::Internal)
    }

    /// A short name, as in logs and error messages.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid argument",
            ErrorCode::NotAllowed => "not allowed",
            ErrorCode::LimitExceeded => "limit exceeded",
            ErrorCode::UnknownCollection => "unknown collection",
            ErrorCode::InvokeFailed => "invoke failed",
            ErrorCode::Internal => "internal error",
        }
    }
}

/// An error from a host function: a code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError {
    /// What kind of error.
    pub code: ErrorCode,
    /// What went wrong, in words.
    pub message: String,
}

impl HostError {
    /// An error with a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        HostError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

impl core::error::Error for HostError {}
