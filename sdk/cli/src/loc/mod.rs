//! `weft loc`: the LoC loan-management system (`chaincode-examples/loc`)
//! played end to end by its five roles — Customer, Bank, Civil Affairs
//! Department, Financial Department and Regulator, one org each — through
//! the SDK, each step told in plain words. The same parties and flows drive
//! the `loc-mix` workload of `weft bench`.

pub mod demo;
pub mod flows;
pub mod parties;

use crate::up::Orgs;

/// The chaincode's name on the channel.
pub const CHAINCODE: &str = "loc";

/// The org of each role, in the order customer, bank, CAD, FD, regulator.
pub const ROLES: [&str; 5] = ["Customer", "Bank", "CAD", "FD", "Regulator"];

/// The orgs of a LoC network: one per role.
pub fn role_orgs() -> Orgs {
    Orgs::from_iter(ROLES)
}
