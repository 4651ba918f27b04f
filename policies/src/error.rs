//! Errors from parsing policy text and from resolving a policy against a channel.

use std::fmt::Write as _;

/// Policy text (or a signer, or a role) could not be parsed.
///
/// Carries the byte offset of the offending token so tools can point at it;
/// [`ParseError::render`] draws that pointer under the source.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct ParseError {
    position: usize,
    message: String,
}

/// How many characters of source to show either side of the caret, so an
/// error in a 64 KiB policy still renders as one readable line.
const RENDER_CONTEXT: usize = 40;

impl ParseError {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> Self {
        ParseError {
            position,
            message: message.into(),
        }
    }

    /// Byte offset (0-based) into the parsed text of the offending token.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What went wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Shifts the position, for errors found while parsing a slice of a larger text.
    pub(crate) fn offset_by(mut self, offset: usize) -> Self {
        self.position += offset;
        self
    }

    /// Renders `src` (the text that was parsed) on one line, a caret under the
    /// error position on the next, and the message on the third.
    ///
    /// Line breaks and tabs in `src` are shown as spaces so the caret lines up;
    /// long sources are cut to a window around the position, marked with `…`.
    ///
    /// ```
    /// let src = "AND('A.peer' 'B.peer')";
    /// let err = weft_policy::Policy::parse(src).unwrap_err();
    /// let shown = err.render(src);
    /// let lines: Vec<&str> = shown.lines().collect();
    /// assert_eq!(lines[0], src);
    /// assert_eq!(lines[1], "             ^");
    /// assert_eq!(lines[2], err.message());
    /// ```
    pub fn render(&self, src: &str) -> String {
        let mut pos = self.position.min(src.len());
        while !src.is_char_boundary(pos) {
            pos -= 1;
        }
        let before: Vec<char> = src[..pos].chars().collect();
        let skip = before.len().saturating_sub(RENDER_CONTEXT);
        let mut line = String::new();
        if skip > 0 {
            line.push('…');
        }
        line.extend(before[skip..].iter().map(|&c| printable(c)));
        let caret_column = line.chars().count();
        let mut after = src[pos..].chars();
        line.extend(after.by_ref().take(RENDER_CONTEXT).map(printable));
        if after.next().is_some() {
            line.push('…');
        }
        let mut out = line.trim_end().to_owned();
        out.push('\n');
        let _ = writeln!(out, "{:caret_column$}^", "");
        out.push_str(&self.message);
        out
    }
}

fn printable(c: char) -> char {
    if c.is_control() { ' ' } else { c }
}

/// A parsed policy could not be resolved against a channel's organisations.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The policy names an organisation that is not on the channel.
    #[error("{}", unknown_org_message(org, known))]
    UnknownOrg {
        /// The organisation named by the policy.
        org: String,
        /// The channel's organisations, in the order given to `resolve`.
        known: Vec<String>,
    },
    /// `MAJORITY`, `ANY` or `ALL` was used on a channel with no organisations.
    #[error(
        "MAJORITY, ANY and ALL are taken over the channel's organisations, \
         but the channel has none"
    )]
    NoOrgs,
    /// Expanding `MAJORITY`, `ANY` and `ALL` gives too many principals.
    #[error(
        "the policy has more than {max} principals once MAJORITY, ANY and ALL are \
         expanded over the channel's organisations"
    )]
    TooManyPrincipals {
        /// The limit, [`crate::MAX_PRINCIPALS`].
        max: usize,
    },
    /// The policy nests operators deeper than the limit.
    #[error("the policy nests AND/OR/OutOf deeper than {max} levels")]
    TooDeep {
        /// The limit, [`crate::MAX_DEPTH`].
        max: usize,
    },
    /// A hand-built policy breaks a rule the parser enforces (for example `AND()`).
    #[error("invalid policy: {reason}")]
    Invalid {
        /// Which rule is broken.
        reason: String,
    },
}

fn unknown_org_message(org: &str, known: &[String]) -> String {
    if known.is_empty() {
        format!("unknown organisation '{org}': the channel has no organisations")
    } else {
        format!(
            "unknown organisation '{org}': the channel's organisations are {}",
            known.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_puts_caret_under_position() {
        let err = ParseError::new(4, "bad");
        assert_eq!(err.render("AND(x)"), "AND(x)\n    ^\nbad");
    }

    #[test]
    fn render_at_end_of_input_and_on_one_line() {
        let err = ParseError::new(9, "ended");
        assert_eq!(err.render("AND(\n'A.p"), "AND( 'A.p\n         ^\nended");
    }

    #[test]
    fn render_clamps_bad_positions() {
        let err = ParseError::new(2, "m");
        // Position 2 is inside the two-byte 'é'; the caret goes to its start.
        assert_eq!(err.render("aé"), "aé\n ^\nm");
        assert_eq!(ParseError::new(99, "m").render("ab"), "ab\n  ^\nm");
    }

    #[test]
    fn render_windows_long_input() {
        let src = format!("{}X{}", "a".repeat(100), "b".repeat(100));
        let shown = ParseError::new(100, "here").render(&src);
        let lines: Vec<&str> = shown.lines().collect();
        assert!(
            lines[0].starts_with('…') && lines[0].ends_with('…'),
            "{}",
            lines[0]
        );
        let caret = lines[1].chars().count() - 1;
        assert_eq!(lines[0].chars().nth(caret), Some('X'));
    }

    #[test]
    fn display_names_position() {
        assert_eq!(
            ParseError::new(3, "oops").to_string(),
            "at position 3: oops"
        );
    }

    #[test]
    fn unknown_org_lists_channel() {
        let e = ResolveError::UnknownOrg {
            org: "Z".into(),
            known: vec!["A".into(), "B".into()],
        };
        assert_eq!(
            e.to_string(),
            "unknown organisation 'Z': the channel's organisations are A, B"
        );
    }
}
