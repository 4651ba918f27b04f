//! Certificate roles (what a signer has) and principal roles (what a policy asks for).

use std::fmt;
use std::str::FromStr;

use crate::error::ParseError;

/// The role carried by a signer's certificate.
///
/// A signer always has exactly one concrete role; `member` is not a role a
/// certificate can have, only one a policy can ask for (see [`PrincipalRole`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// An application client.
    Client,
    /// An endorsing or committing peer.
    Peer,
    /// An organisation administrator.
    Admin,
    /// An ordering-service node.
    Orderer,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 4] = [Role::Client, Role::Peer, Role::Admin, Role::Orderer];

    /// The lowercase name used in policies and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Peer => "peer",
            Role::Admin => "admin",
            Role::Orderer => "orderer",
        }
    }

    /// One bit per role, so a signer set can store an org's roles in one byte.
    pub(crate) fn bit(self) -> u8 {
        match self {
            Role::Client => 1,
            Role::Peer => 2,
            Role::Admin => 4,
            Role::Orderer => 8,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "client" => Ok(Role::Client),
            "peer" => Ok(Role::Peer),
            "admin" => Ok(Role::Admin),
            "orderer" => Ok(Role::Orderer),
            "member" => Err(ParseError::new(
                0,
                "'member' is not a certificate role: a signer has a concrete role \
                 (client, peer, admin or orderer)",
            )),
            other => Err(ParseError::new(
                0,
                format!("unknown role '{other}': expected client, peer, admin or orderer"),
            )),
        }
    }
}

/// The role a policy principal asks for.
///
/// [`PrincipalRole::Member`] admits a signer of any role of the organisation;
/// the other variants admit only the matching [`Role`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrincipalRole {
    /// Any signer of the organisation, whatever its role.
    Member,
    /// A signer with the client role.
    Client,
    /// A signer with the peer role.
    Peer,
    /// A signer with the admin role.
    Admin,
    /// A signer with the orderer role.
    Orderer,
}

impl PrincipalRole {
    /// The lowercase name used in policy text.
    pub fn as_str(self) -> &'static str {
        match self.concrete() {
            Some(role) => role.as_str(),
            None => "member",
        }
    }

    /// Whether a signer whose certificate has `role` satisfies this principal role.
    pub fn admits(self, role: Role) -> bool {
        self.mask() & role.bit() != 0
    }

    /// The certificate roles this principal role admits, as [`Role::bit`]s.
    pub(crate) fn mask(self) -> u8 {
        match self.concrete() {
            Some(role) => role.bit(),
            None => Role::ALL.iter().fold(0, |m, r| m | r.bit()),
        }
    }

    fn concrete(self) -> Option<Role> {
        match self {
            PrincipalRole::Member => None,
            PrincipalRole::Client => Some(Role::Client),
            PrincipalRole::Peer => Some(Role::Peer),
            PrincipalRole::Admin => Some(Role::Admin),
            PrincipalRole::Orderer => Some(Role::Orderer),
        }
    }
}

impl From<Role> for PrincipalRole {
    fn from(role: Role) -> Self {
        match role {
            Role::Client => PrincipalRole::Client,
            Role::Peer => PrincipalRole::Peer,
            Role::Admin => PrincipalRole::Admin,
            Role::Orderer => PrincipalRole::Orderer,
        }
    }
}

impl fmt::Display for PrincipalRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PrincipalRole {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "member" {
            return Ok(PrincipalRole::Member);
        }
        s.parse::<Role>().map(PrincipalRole::from).map_err(|_| {
            ParseError::new(
                0,
                format!("unknown role '{s}': expected member, peer, client, admin or orderer"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_admits_every_role_and_others_only_their_own() {
        for role in Role::ALL {
            assert!(PrincipalRole::Member.admits(role));
            assert!(PrincipalRole::from(role).admits(role));
            for other in Role::ALL.into_iter().filter(|r| *r != role) {
                assert!(
                    !PrincipalRole::from(role).admits(other),
                    "{role} admits {other}"
                );
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.to_string().parse::<Role>().unwrap(), role);
            let p = PrincipalRole::from(role);
            assert_eq!(p.to_string().parse::<PrincipalRole>().unwrap(), p);
        }
        assert_eq!(
            "member".parse::<PrincipalRole>().unwrap(),
            PrincipalRole::Member
        );
    }

    #[test]
    fn member_is_not_a_certificate_role() {
        let err = "member".parse::<Role>().unwrap_err();
        assert!(
            err.message().contains("a signer has a concrete role"),
            "{err}"
        );
        let err = "Peer".parse::<PrincipalRole>().unwrap_err();
        assert!(err.message().contains("unknown role 'Peer'"), "{err}");
    }
}
