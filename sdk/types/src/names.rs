//! The one rule for names of orgs, members, channels, chaincodes and collections.

/// The longest name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// A name that breaks the naming rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} name {name:?}: {reason}")]
pub struct NameError {
    /// What was being named (`organisation`, `member`, `chaincode`, …).
    pub kind: &'static str,
    /// The rejected name.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Names are 1 to 64 ASCII letters, digits, `_` or `-`, starting with a letter
/// or digit. No dots: `Org.role` in policies splits on the dot, and names
/// become file names and URL path segments.
pub fn check_name(kind: &'static str, name: &str) -> Result<(), NameError> {
    let fail = |reason| {
        Err(NameError {
            kind,
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return fail("it is empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return fail("it is longer than 64 bytes");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return fail("it must start with a letter or a digit");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return fail("only letters, digits, '_' and '-' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn accepts_and_rejects() {
        for ok in ["Bank", "peer0", "asset-transfer", "org_1", "9lives"] {
            check_name("x", ok).unwrap();
        }
        for bad in ["", "-x", "a.b", "a b", "ünï", &"a".repeat(65)] {
            assert!(check_name("x", bad).is_err(), "{bad:?}");
        }
    }
}
