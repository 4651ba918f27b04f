//! Recursive-descent parser from policy text to [`Policy`].
//!
//! Recursion depth is bounded by [`MAX_DEPTH`]: the depth is checked before
//! descending into an operator, so hostile input such as 10,000 nested `AND(`
//! fails after 32 levels instead of exhausting the stack.

use crate::ast::{Implicit, Policy};
use crate::error::ParseError;
use crate::lexer::{Lexer, Tok};
use crate::principal::{Principal, parse_principal_text};
use crate::role::PrincipalRole;
use crate::{MAX_DEPTH, MAX_POLICY_BYTES};

const EXPECTED_POLICY: &str =
    "AND(…), OR(…), OutOf(n, …), MAJORITY, ANY, ALL or a principal such as 'Org.peer'";

pub(crate) fn parse(src: &str) -> Result<Policy, ParseError> {
    if src.len() > MAX_POLICY_BYTES {
        return Err(ParseError::new(
            MAX_POLICY_BYTES,
            format!(
                "the policy is {} bytes long; at most {MAX_POLICY_BYTES} bytes are allowed",
                src.len()
            ),
        ));
    }
    let mut parser = Parser {
        lexer: Lexer::new(src),
    };
    let first = parser.lexer.peek()?;
    if first.tok == Tok::End {
        return Err(ParseError::new(
            first.pos,
            format!("empty policy: expected {EXPECTED_POLICY}"),
        ));
    }
    let policy = parser.policy(0)?;
    let after = parser.lexer.next_token()?;
    match after.tok {
        Tok::End => Ok(policy),
        Tok::RParen => Err(ParseError::new(
            after.pos,
            "unbalanced parentheses: this ')' closes nothing",
        )),
        _ => Err(ParseError::new(
            after.pos,
            format!(
                "trailing input {} after the end of the policy; combine policies with AND(…), \
                 OR(…) or OutOf(n, …)",
                after.describe()
            ),
        )),
    }
}

#[derive(Clone, Copy)]
enum Op {
    And,
    Or,
    OutOf,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::And => "AND",
            Op::Or => "OR",
            Op::OutOf => "OutOf",
        }
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
}

impl<'a> Parser<'a> {
    /// Parses one policy; `depth` is the number of operators enclosing it.
    fn policy(&mut self, depth: usize) -> Result<Policy, ParseError> {
        let token = self.lexer.next_token()?;
        let word = match token.tok {
            Tok::Quoted(text) => {
                let (org, role) =
                    parse_principal_text(text).map_err(|e| e.offset_by(token.pos + 1))?;
                return Ok(Policy::Principal(Principal { org, role }));
            }
            Tok::Word(word) => word,
            _ => {
                return Err(ParseError::new(
                    token.pos,
                    format!("expected {EXPECTED_POLICY}, found {}", token.describe()),
                ));
            }
        };
        let op = match word.to_ascii_lowercase().as_str() {
            "and" => Op::And,
            "or" => Op::Or,
            "outof" => Op::OutOf,
            "majority" => return self.implicit(Implicit::Majority),
            "any" => return self.implicit(Implicit::Any),
            "all" => return self.implicit(Implicit::All),
            _ => return Err(unknown_keyword(word, token.pos)),
        };
        if depth >= MAX_DEPTH {
            return Err(ParseError::new(
                token.pos,
                format!("the policy nests AND/OR/OutOf deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.call(op, token.pos, depth + 1)
    }

    /// Parses `(args…)` after an operator keyword at `open`.
    fn call(&mut self, op: Op, open: usize, depth: usize) -> Result<Policy, ParseError> {
        let name = op.name();
        self.expect_lparen(name)?;
        let threshold = match op {
            Op::OutOf => Some(self.threshold()?),
            Op::And | Op::Or => None,
        };
        let first = self.lexer.peek()?;
        if first.tok == Tok::RParen {
            let what = if threshold.is_some() { " after n" } else { "" };
            return Err(ParseError::new(
                first.pos,
                format!("{name}(…) needs at least one sub-policy{what}"),
            ));
        }
        let mut of = Vec::new();
        loop {
            of.push(self.policy(depth)?);
            let token = self.lexer.next_token()?;
            match token.tok {
                Tok::Comma => {}
                Tok::RParen => break,
                Tok::End => {
                    return Err(ParseError::new(
                        token.pos,
                        format!(
                            "unbalanced parentheses: the input ended before the ')' that closes \
                             {name}( at position {open}"
                        ),
                    ));
                }
                _ => {
                    return Err(ParseError::new(
                        token.pos,
                        format!(
                            "expected ',' or ')' after a sub-policy of {name}(…), found {} \
                             (missing comma?)",
                            token.describe()
                        ),
                    ));
                }
            }
        }
        Ok(match threshold {
            None if matches!(op, Op::And) => Policy::And(of),
            None => Policy::Or(of),
            Some((n, pos, text)) => {
                if n > of.len() {
                    let noun = if of.len() == 1 {
                        "sub-policy"
                    } else {
                        "sub-policies"
                    };
                    return Err(ParseError::new(
                        pos,
                        format!(
                            "OutOf({text}, …) asks for {text} of {} {noun}; it can never be satisfied",
                            of.len()
                        ),
                    ));
                }
                Policy::OutOf { n, of }
            }
        })
    }

    /// Parses `n,` at the start of `OutOf(`; returns n and its position.
    fn threshold(&mut self) -> Result<(usize, usize, &'a str), ParseError> {
        let token = self.lexer.next_token()?;
        let (n, text) = match token.tok {
            Tok::Word(word) if word.bytes().all(|b| b.is_ascii_digit()) => {
                // Too many digits for usize is still a number, just one no policy can reach.
                (word.parse::<usize>().unwrap_or(usize::MAX), word)
            }
            _ => {
                return Err(ParseError::new(
                    token.pos,
                    format!(
                        "expected a whole number n in OutOf(n, …), found {}",
                        token.describe()
                    ),
                ));
            }
        };
        if n == 0 {
            return Err(ParseError::new(
                token.pos,
                "n must be at least 1 in OutOf(n, …)",
            ));
        }
        let comma = self.lexer.next_token()?;
        match comma.tok {
            Tok::Comma => Ok((n, token.pos, text)),
            Tok::RParen => Err(ParseError::new(
                comma.pos,
                "OutOf(n, …) needs at least one sub-policy after n",
            )),
            _ => Err(ParseError::new(
                comma.pos,
                format!(
                    "expected ',' after n in OutOf(n, …), found {}",
                    comma.describe()
                ),
            )),
        }
    }

    /// Parses the optional `(role)` after `MAJORITY`, `ANY` or `ALL`.
    fn implicit(&mut self, kind: Implicit) -> Result<Policy, ParseError> {
        let keyword = kind.keyword();
        if self.lexer.peek()?.tok != Tok::LParen {
            return Ok(Policy::Implicit {
                kind,
                role: PrincipalRole::Member,
            });
        }
        self.expect_lparen(keyword)?;
        let token = self.lexer.next_token()?;
        let Tok::Word(word) = token.tok else {
            return Err(ParseError::new(
                token.pos,
                format!(
                    "expected a role such as admin in {keyword}(…), found {}",
                    token.describe()
                ),
            ));
        };
        let role = word.parse::<PrincipalRole>().map_err(|_| {
            ParseError::new(
                token.pos,
                format!(
                    "unknown role '{word}' in {keyword}({word}): expected member, peer, client, \
                     admin or orderer"
                ),
            )
        })?;
        let close = self.lexer.next_token()?;
        if close.tok != Tok::RParen {
            return Err(ParseError::new(
                close.pos,
                format!(
                    "expected ')' after {keyword}({word}, found {}",
                    close.describe()
                ),
            ));
        }
        Ok(Policy::Implicit { kind, role })
    }

    fn expect_lparen(&mut self, name: &str) -> Result<(), ParseError> {
        let token = self.lexer.next_token()?;
        if token.tok == Tok::LParen {
            return Ok(());
        }
        Err(ParseError::new(
            token.pos,
            format!("expected '(' after {name}, found {}", token.describe()),
        ))
    }
}

fn unknown_keyword(word: &str, pos: usize) -> ParseError {
    let hint = if word.contains('.') {
        format!("; principals must be quoted, as in '{word}'")
    } else {
        String::new()
    };
    ParseError::new(
        pos,
        format!("unknown keyword '{word}': expected AND, OR, OutOf, MAJORITY, ANY or ALL{hint}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> ParseError {
        parse(src).unwrap_err()
    }

    #[test]
    fn keywords_are_case_insensitive_and_whitespace_is_free() {
        let a = parse("AND('A.peer', OR('B.peer', \"C.peer\"), OutOf(1, 'D.peer'))").unwrap();
        let b = parse(" and ( 'A.peer' ,Or('B.peer','C.peer') ,\n\toutof(1,'D.peer') ) ").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn implicit_roles() {
        assert_eq!(
            parse("majority(admin)").unwrap(),
            Policy::Implicit {
                kind: Implicit::Majority,
                role: PrincipalRole::Admin
            }
        );
        assert_eq!(parse("ALL(member)").unwrap(), parse("ALL").unwrap());
        assert_eq!(err("ANY(boss)").position(), 4);
        assert_eq!(err("ANY()").position(), 4);
        assert_eq!(err("ANY(peer").position(), 8);
    }

    #[test]
    fn error_positions_point_at_the_token() {
        assert_eq!(err("AND()").position(), 4);
        assert_eq!(err("OutOf(0, 'A.peer')").position(), 6);
        assert_eq!(err("OutOf(5, 'A.peer')").position(), 6);
        assert_eq!(err("OutOf(x, 'A.peer')").position(), 6);
        assert_eq!(err("AND('A.peer' 'B.peer')").position(), 13);
        assert_eq!(err("AND('A.boss')").position(), 7);
        assert_eq!(err("'A.peer')").position(), 8);
        assert_eq!(err("AND('A.peer'").position(), 12);
        assert_eq!(err("  ").position(), 2);
        assert_eq!(err("NAND('A.peer')").position(), 0);
    }

    #[test]
    fn deep_nesting_is_rejected_before_recursing() {
        let ok = format!(
            "{}'A.peer'{}",
            "AND(".repeat(MAX_DEPTH),
            ")".repeat(MAX_DEPTH)
        );
        assert!(parse(&ok).is_ok());
        let deep = format!(
            "{}'A.peer'{}",
            "AND(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(err(&deep).position(), 4 * MAX_DEPTH);
    }

    #[test]
    fn huge_n_is_unsatisfiable_not_a_panic() {
        let e = err("OutOf(99999999999999999999999, 'A.peer')");
        assert!(e.message().contains("can never be satisfied"), "{e}");
    }
}
