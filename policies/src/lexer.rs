//! Splits policy text into tokens, on demand, so errors come out in source order.

use crate::error::ParseError;
use crate::principal::is_org_char;

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok<'a> {
    LParen,
    RParen,
    Comma,
    /// A quoted principal; holds the text between the quotes.
    Quoted(&'a str),
    /// A keyword, number or role: a run of letters, digits, '_', '.' and '-'.
    Word(&'a str),
    End,
}

/// A token and the byte offset where it starts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Token<'a> {
    pub(crate) tok: Tok<'a>,
    pub(crate) pos: usize,
}

impl Token<'_> {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self.tok {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Comma => "','".into(),
            Tok::Quoted(text) => format!("'{text}'"),
            Tok::Word(word) => format!("'{word}'"),
            Tok::End => "the end of the input".into(),
        }
    }
}

pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    peeked: Option<Token<'a>>,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer {
            src,
            pos: 0,
            peeked: None,
        }
    }

    pub(crate) fn peek(&mut self) -> Result<Token<'a>, ParseError> {
        match self.peeked {
            Some(token) => Ok(token),
            None => {
                let token = self.lex()?;
                self.peeked = Some(token);
                Ok(token)
            }
        }
    }

    pub(crate) fn next_token(&mut self) -> Result<Token<'a>, ParseError> {
        match self.peeked.take() {
            Some(token) => Ok(token),
            None => self.lex(),
        }
    }

    fn lex(&mut self) -> Result<Token<'a>, ParseError> {
        let rest = &self.src[self.pos..];
        let trimmed = rest.trim_start();
        let start = self.pos + (rest.len() - trimmed.len());
        let Some(c) = trimmed.chars().next() else {
            self.pos = start;
            return Ok(Token {
                tok: Tok::End,
                pos: start,
            });
        };
        let (tok, len) = match c {
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            ',' => (Tok::Comma, 1),
            '\'' | '"' => {
                let body = &trimmed[1..];
                let Some(close) = body.find(c) else {
                    return Err(ParseError::new(
                        start,
                        format!(
                            "unterminated quote: no closing {c} for the principal starting here"
                        ),
                    ));
                };
                (Tok::Quoted(&body[..close]), close + 2)
            }
            c if is_org_char(c) => {
                let len = trimmed
                    .find(|c: char| !is_org_char(c))
                    .unwrap_or(trimmed.len());
                (Tok::Word(&trimmed[..len]), len)
            }
            other => {
                return Err(ParseError::new(
                    start,
                    format!("unexpected character {other:?}"),
                ));
            }
        };
        self.pos = start + len;
        Ok(Token { tok, pos: start })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(src: &str) -> Result<Vec<(Tok<'_>, usize)>, ParseError> {
        let mut lexer = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let t = lexer.next_token()?;
            out.push((t.tok, t.pos));
            if t.tok == Tok::End {
                return Ok(out);
            }
        }
    }

    #[test]
    fn positions_are_byte_offsets() {
        assert_eq!(
            tokens(" or ( \"A.peer\",'B.x' )").unwrap(),
            [
                (Tok::Word("or"), 1),
                (Tok::LParen, 4),
                (Tok::Quoted("A.peer"), 6),
                (Tok::Comma, 14),
                (Tok::Quoted("B.x"), 15),
                (Tok::RParen, 21),
                (Tok::End, 22),
            ]
        );
    }

    #[test]
    fn bad_characters_and_quotes() {
        assert_eq!(tokens("AND(;").unwrap_err().position(), 4);
        let err = tokens("OR(\"A.peer', 'B.peer").unwrap_err();
        assert_eq!(err.position(), 3);
        assert!(err.message().contains("unterminated quote"), "{err}");
    }
}
