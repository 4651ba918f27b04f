//! Principals (`'Org.role'`) and signers (`Org.role` with a concrete role).

use std::fmt;
use std::str::FromStr;

use crate::error::ParseError;
use crate::role::{PrincipalRole, Role};

/// One organisation and role named by a policy, e.g. `'Org1.peer'`.
///
/// Displays in policy syntax, single-quoted: `'Org1.peer'`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Principal {
    /// The organisation (MSP) name.
    pub org: String,
    /// The role a signer of `org` must have.
    pub role: PrincipalRole,
}

impl Principal {
    /// A principal for `org` and `role`.
    pub fn new(org: impl Into<String>, role: PrincipalRole) -> Self {
        Principal {
            org: org.into(),
            role,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}.{}'", self.org, self.role)
    }
}

/// Parses `'Org.role'`, `"Org.role"` or unquoted `Org.role`.
impl FromStr for Principal {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unquoted = ['\'', '"'].iter().find_map(|&q| {
            s.strip_prefix(q)
                .and_then(|rest| rest.strip_suffix(q))
                .map(|inner| (inner, 1))
        });
        let (text, offset) = unquoted.unwrap_or((s, 0));
        parse_principal_text(text)
            .map(|(org, role)| Principal::new(org, role))
            .map_err(|e| e.offset_by(offset))
    }
}

/// Parses the text between a principal's quotes. Positions are relative to `text`.
pub(crate) fn parse_principal_text(text: &str) -> Result<(String, PrincipalRole), ParseError> {
    let (org, role, role_pos) = split_org_role(text, "principal")?;
    let role = role.parse::<PrincipalRole>().map_err(|_| {
        ParseError::new(
            role_pos,
            format!(
                "unknown role '{role}' in '{text}': expected member, peer, client, admin or orderer"
            ),
        )
    })?;
    Ok((org.to_owned(), role))
}

/// Parses a signer such as `A.peer` (no quotes), as given to a CLI flag like
/// `--signers A.peer,B.client`. Surrounding whitespace is ignored.
///
/// Unlike a principal, a signer has a concrete certificate role, so
/// `A.member` is rejected.
///
/// ```
/// use weft_policy::{parse_signer, Role};
/// assert_eq!(parse_signer("Org1.peer").unwrap(), ("Org1".to_string(), Role::Peer));
/// assert!(parse_signer("Org1.member").is_err());
/// ```
pub fn parse_signer(s: &str) -> Result<(String, Role), ParseError> {
    let start = s.len() - s.trim_start().len();
    let text = s.trim();
    let (org, role, role_pos) = split_org_role(text, "signer").map_err(|e| e.offset_by(start))?;
    let role = match role.parse::<Role>() {
        Ok(role) => role,
        Err(_) if role == "member" => {
            return Err(ParseError::new(
                start + role_pos,
                format!(
                    "'member' is not a certificate role in '{text}': a signer has a concrete \
                     role (client, peer, admin or orderer)"
                ),
            ));
        }
        Err(_) => {
            return Err(ParseError::new(
                start + role_pos,
                format!(
                    "unknown role '{role}' in '{text}': expected client, peer, admin or orderer"
                ),
            ));
        }
    };
    Ok((org.to_owned(), role))
}

/// Splits `Org.role` on its last '.', checking the organisation's characters.
/// Returns the org, the role text and the role's byte offset in `text`.
fn split_org_role<'a>(text: &'a str, what: &str) -> Result<(&'a str, &'a str, usize), ParseError> {
    if text.is_empty() {
        return Err(ParseError::new(
            0,
            format!("empty {what}: expected Org.role, e.g. Org1.peer"),
        ));
    }
    let Some(dot) = text.rfind('.') else {
        return Err(ParseError::new(
            0,
            format!("{what} '{text}' has no role: expected Org.role, e.g. {text}.peer"),
        ));
    };
    let (org, role) = (&text[..dot], &text[dot + 1..]);
    if org.is_empty() {
        return Err(ParseError::new(
            0,
            format!("empty organisation name in {what} '{text}'"),
        ));
    }
    if let Some((i, c)) = org.char_indices().find(|&(_, c)| !is_org_char(c)) {
        return Err(ParseError::new(
            i,
            format!(
                "invalid character {c:?} in the organisation name of '{text}': \
                 allowed are letters, digits, '_', '.' and '-'"
            ),
        ));
    }
    if role.is_empty() {
        return Err(ParseError::new(
            dot + 1,
            format!("missing role after '.' in '{text}'"),
        ));
    }
    Ok((org, role, dot + 1))
}

/// Characters allowed in an organisation name.
pub(crate) fn is_org_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signer_splits_on_last_dot() {
        assert_eq!(parse_signer("A.peer").unwrap(), ("A".into(), Role::Peer));
        assert_eq!(
            parse_signer(" x.y-1.client ").unwrap(),
            ("x.y-1".into(), Role::Client)
        );
    }

    #[test]
    fn signer_errors_point_at_the_problem() {
        let e = parse_signer("A.member").unwrap_err();
        assert_eq!(e.position(), 2);
        assert!(e.message().contains("a signer has a concrete role"), "{e}");
        let e = parse_signer("  A.boss").unwrap_err();
        assert_eq!(e.position(), 4);
        assert!(e.message().contains("unknown role 'boss'"), "{e}");
        let e = parse_signer("A B.peer").unwrap_err();
        assert_eq!(e.position(), 1);
        assert!(
            parse_signer("")
                .unwrap_err()
                .message()
                .contains("empty signer")
        );
        assert!(
            parse_signer("Apeer")
                .unwrap_err()
                .message()
                .contains("has no role")
        );
        assert!(
            parse_signer(".peer")
                .unwrap_err()
                .message()
                .contains("empty organisation")
        );
        assert_eq!(parse_signer("A.").unwrap_err().position(), 2);
    }

    #[test]
    fn principal_text_round_trips() {
        for text in ["'A.peer'", "'Org-1_x.y.member'", "'B.orderer'"] {
            let p: Principal = text.parse().unwrap();
            assert_eq!(p.to_string(), text);
        }
        let p: Principal = "\"A.admin\"".parse().unwrap();
        assert_eq!(p, Principal::new("A", PrincipalRole::Admin));
        let e = "'A.boss'".parse::<Principal>().unwrap_err();
        assert_eq!(e.position(), 3);
    }
}
