//! Composite keys: an object type and attributes packed into one key, so a
//! prefix of the attributes selects a range (like Fabric's).
//!
//! Layout: `U+0000 object_type U+0000 attr1 U+0000 attr2 U+0000 …`. Composite
//! keys sort before every plain key (which never start with `U+0000`), and
//! plain ranges skip them.

use crate::error::{Error, Result};

/// The first character of every composite key.
pub const COMPOSITE_KEY_NAMESPACE: char = '\u{0}';

/// The largest `char`: appended to a composite-key prefix it bounds the range
/// of all keys with that prefix, so attributes may not contain it.
pub(crate) const MAX_CHAR: char = char::MAX;

fn check_part(what: &str, part: &str) -> Result<()> {
    if part.contains(COMPOSITE_KEY_NAMESPACE) || part.contains(MAX_CHAR) {
        return Err(Error::new(format!(
            "composite key {what} {part:?} contains U+0000 or U+10FFFF, which are reserved"
        )));
    }
    Ok(())
}

/// The composite key of `object_type` and `attrs`. The object type must be
/// non-empty; neither it nor any attribute may contain `U+0000` or `U+10FFFF`.
pub fn composite_key<S: AsRef<str>>(object_type: &str, attrs: &[S]) -> Result<String> {
    if object_type.is_empty() {
        return Err(Error::new("composite key object type is empty"));
    }
    check_part("object type", object_type)?;
    let mut key = String::with_capacity(
        2 + object_type.len() + attrs.iter().map(|a| a.as_ref().len() + 1).sum::<usize>(),
    );
    key.push(COMPOSITE_KEY_NAMESPACE);
    key.push_str(object_type);
    key.push(COMPOSITE_KEY_NAMESPACE);
    for attr in attrs {
        let attr = attr.as_ref();
        check_part("attribute", attr)?;
        key.push_str(attr);
        key.push(COMPOSITE_KEY_NAMESPACE);
    }
    Ok(key)
}

/// Splits a composite key into its object type and attributes.
pub fn split_composite_key(key: &str) -> Result<(String, Vec<String>)> {
    let not_composite = || Error::new(format!("{key:?} is not a composite key"));
    let body = key
        .strip_prefix(COMPOSITE_KEY_NAMESPACE)
        .and_then(|k| k.strip_suffix(COMPOSITE_KEY_NAMESPACE))
        .ok_or_else(not_composite)?;
    let mut parts = body.split(COMPOSITE_KEY_NAMESPACE);
    let object_type = parts.next().unwrap_or_default();
    if object_type.is_empty() {
        return Err(not_composite());
    }
    Ok((object_type.to_string(), parts.map(str::to_string).collect()))
}

/// The range `[start, end)` of every composite key of `object_type` whose
/// attributes begin with `attrs`.
pub(crate) fn partial_key_range<S: AsRef<str>>(
    object_type: &str,
    attrs: &[S],
) -> Result<(String, String)> {
    let start = composite_key(object_type, attrs)?;
    let mut end = start.clone();
    end.push(MAX_CHAR);
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let key = composite_key("owner~id", &["alice", "a1"]).unwrap();
        assert_eq!(key, "\u{0}owner~id\u{0}alice\u{0}a1\u{0}");
        assert_eq!(
            split_composite_key(&key).unwrap(),
            (
                "owner~id".to_string(),
                vec!["alice".to_string(), "a1".to_string()]
            )
        );
        let bare = composite_key::<&str>("t", &[]).unwrap();
        assert_eq!(
            split_composite_key(&bare).unwrap(),
            ("t".to_string(), vec![])
        );
        let empty_attr = composite_key("t", &[""]).unwrap();
        assert_eq!(
            split_composite_key(&empty_attr).unwrap().1,
            vec![String::new()]
        );
    }

    #[test]
    fn bad_inputs_are_refused() {
        assert!(composite_key::<&str>("", &[]).is_err());
        assert!(composite_key::<&str>("a\u{0}b", &[]).is_err());
        assert!(composite_key("t", &["x\u{0}"]).is_err());
        assert!(composite_key("t", &["\u{10FFFF}"]).is_err());
        for bad in ["", "plain", "\u{0}", "\u{0}\u{0}", "\u{0}t", "t\u{0}"] {
            assert!(split_composite_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn partial_range_covers_exactly_the_prefix() {
        let (start, end) = partial_key_range("o", &["alice"]).unwrap();
        let inside = composite_key("o", &["alice", "zzz"]).unwrap();
        let other = composite_key("o", &["alicex", "a"]).unwrap();
        assert!(start <= inside && inside < end);
        assert!(!(start <= other && other < end));
    }
}
