//! Weft's endorsement-policy language: parse, resolve, evaluate and explain
//! Fabric-style signature policies such as
//! `AND('Org1.peer', OR('Org2.peer', 'Org3.peer'))` or `MAJORITY(admin)`.
//!
//! Main types: [`Policy`] (the parsed text; [`Policy::parse`]),
//! [`ResolvedPolicy`] (a policy bound to a channel's organisations with
//! [`Policy::resolve`]), [`Signers`] (who signed), and [`Evaluation`] /
//! [`Missing`] (whether the signers suffice and, if not, what is missing).
//!
//! # Semantics
//!
//! A principal `'Org.role'` is satisfied when some signer belongs to `Org`
//! and has a role it admits; `member` admits every role. `AND`, `OR` and
//! `OutOf(n, …)` combine sub-policies as booleans. `MAJORITY`, `ANY` and `ALL`
//! (optionally with a role, e.g. `ANY(peer)`) stand for a threshold over
//! every organisation of the channel.
//!
//! Unlike Fabric, which consumes each signature at most once, one signer here
//! may satisfy several principals: a peer of `A` satisfies both `'A.peer'`
//! and `'A.member'` in `AND('A.peer', 'A.member')`.
//!
//! Inputs are bounded ([`MAX_POLICY_BYTES`], [`MAX_DEPTH`], [`MAX_PRINCIPALS`])
//! so hostile text is rejected with an error rather than exhausting memory or
//! the stack. The crate performs no I/O.
//!
//! # Example
//!
//! ```
//! use weft_policy::{Evaluation, Policy, Role, Signers};
//!
//! let policy: Policy = "AND('A.peer', MAJORITY)".parse()?;
//! let resolved = policy.resolve(&["A", "B", "C"])?;
//!
//! let mut signers = Signers::new();
//! signers.insert("A", Role::Peer);
//! match resolved.evaluate(&signers) {
//!     Evaluation::Satisfied => unreachable!("only one of three organisations signed"),
//!     Evaluation::NotSatisfied(missing) => assert_eq!(
//!         missing.to_string(),
//!         "one of (a member of B (any role), a member of C (any role))"
//!     ),
//! }
//!
//! signers.insert("C", Role::Client);
//! assert!(resolved.is_satisfied(&signers));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod ast;
mod error;
mod evaluate;
mod explain;
mod lexer;
mod parser;
mod principal;
mod resolve;
mod role;
#[cfg(feature = "serde")]
mod serde_impl;
mod signers;

pub use ast::{Implicit, Policy};
pub use error::{ParseError, ResolveError};
pub use evaluate::Evaluation;
pub use explain::Missing;
pub use principal::{Principal, parse_signer};
pub use resolve::ResolvedPolicy;
pub use role::{PrincipalRole, Role};
pub use signers::Signers;

/// The longest policy text [`Policy::parse`] accepts, in bytes.
pub const MAX_POLICY_BYTES: usize = 65_536;

/// How deeply `AND`, `OR` and `OutOf` may nest.
pub const MAX_DEPTH: usize = 32;

/// The most principals a [`ResolvedPolicy`] may hold once `MAJORITY`, `ANY`
/// and `ALL` are expanded.
pub const MAX_PRINCIPALS: usize = 1024;
