//! Serde support (feature `serde`): everything travels as its policy text.

use std::fmt::Display;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::{ParseError, Policy, Principal, PrincipalRole, Role};

fn parse_text<'de, D, T>(deserializer: D, describe: fn(ParseError) -> String) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = ParseError>,
{
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(|e| de::Error::custom(describe(e)))
}

fn serialize_text<S: Serializer>(value: &impl Display, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Serializes as canonical policy text, e.g. `"AND('A.peer', MAJORITY)"`.
impl Serialize for Policy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_text(self, serializer)
    }
}

/// Deserializes by parsing policy text; a parse error names its position.
impl<'de> Deserialize<'de> for Policy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_text(deserializer, |e| format!("invalid policy {e}"))
    }
}

/// Serializes as the principal's text, e.g. `"'A.peer'"`.
impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_text(self, serializer)
    }
}

/// Deserializes `'Org.role'`, `"Org.role"` or unquoted `Org.role`.
impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_text(deserializer, |e| format!("invalid principal {e}"))
    }
}

/// Serializes as the lowercase role name, e.g. `"peer"`.
impl Serialize for Role {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Deserializes a lowercase role name; `"member"` is rejected.
impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_text(deserializer, |e| e.message().to_owned())
    }
}

/// Serializes as the lowercase role name, e.g. `"member"`.
impl Serialize for PrincipalRole {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Deserializes a lowercase role name.
impl<'de> Deserialize<'de> for PrincipalRole {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse_text(deserializer, |e| e.message().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_travels_as_canonical_text() {
        let policy = Policy::parse("and('A.peer', majority(admin))").unwrap();
        let json = serde_json::to_string(&policy).unwrap();
        assert_eq!(json, r#""AND('A.peer', MAJORITY(admin))""#);
        assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), policy);
        let err = serde_json::from_str::<Policy>(r#""AND()""#).unwrap_err();
        assert!(err.to_string().contains("at position 4"), "{err}");
    }

    #[test]
    fn roles_and_principals() {
        assert_eq!(serde_json::to_string(&Role::Peer).unwrap(), r#""peer""#);
        assert_eq!(
            serde_json::from_str::<Role>(r#""admin""#).unwrap(),
            Role::Admin
        );
        let err = serde_json::from_str::<Role>(r#""member""#).unwrap_err();
        assert!(err.to_string().contains("concrete role"), "{err}");
        let member = serde_json::to_string(&PrincipalRole::Member).unwrap();
        assert_eq!(member, r#""member""#);
        assert_eq!(
            serde_json::from_str::<PrincipalRole>(&member).unwrap(),
            PrincipalRole::Member
        );
        let p = Principal::new("Org1", PrincipalRole::Client);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#""'Org1.client'""#);
        assert_eq!(serde_json::from_str::<Principal>(&json).unwrap(), p);
    }
}
