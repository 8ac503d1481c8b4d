//! The advanced rule expression language.
//!
//! ```text
//! expr    := or
//! or      := and ("OR" and)*
//! and     := unary ("AND" unary)*            -- "AND NOT x" is AND of a negation
//! unary   := "NOT" unary | near
//! near    := primary ("NEAR/" n primary)*    -- both within n characters, either order
//! primary := [("title:" | "body:")] (TERM | "PHRASE" | "(" expr ")")
//! ```
//! Operators are upper case. A term is any run of characters other than spaces, parentheses and
//! quotes; a trailing `*` makes it a prefix matched at a word start. Two terms in a row without an
//! operator are an error, so that a missing `AND`/`OR` is never guessed.

use std::fmt;

use yuqing_domain::Field;

/// A parsed expression. Term leaves hold the text as written (without the `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Term { text: String, prefix: bool, scope: Option<Field> },
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Near { left: Box<Expr>, right: Box<Expr>, within: u32 },
}

/// A syntax error with its 1-based character column in the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub column: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Near(u32),
    Scope(Field),
    Term(String, bool),
    Phrase(String),
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::And => "AND".into(),
            Tok::Or => "OR".into(),
            Tok::Not => "NOT".into(),
            Tok::Near(n) => format!("NEAR/{n}"),
            Tok::Scope(Field::Title) => "title:".into(),
            Tok::Scope(Field::Body) => "body:".into(),
            Tok::Term(t, p) => format!("term {:?}", if *p { format!("{t}*") } else { t.clone() }),
            Tok::Phrase(t) => format!("phrase \"{t}\""),
        }
    }
}

fn err<T>(column: usize, message: impl Into<String>) -> Result<T, SyntaxError> {
    Err(SyntaxError { column, message: message.into() })
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, SyntaxError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '(' | '（' => {
                out.push((Tok::LParen, col));
                i += 1;
            }
            ')' | '）' => {
                out.push((Tok::RParen, col));
                i += 1;
            }
            '"' | '“' | '”' => {
                let mut j = i + 1;
                while j < chars.len() && !matches!(chars[j], '"' | '“' | '”') {
                    j += 1;
                }
                if j == chars.len() {
                    return err(col, "unterminated phrase: missing closing '\"'");
                }
                let phrase: String = chars[i + 1..j].iter().collect();
                if phrase.trim().is_empty() {
                    return err(col, "empty phrase \"\"");
                }
                out.push((Tok::Phrase(phrase), col));
                i = j + 1;
            }
            _ => {
                let mut j = i;
                while j < chars.len()
                    && !chars[j].is_whitespace()
                    && !matches!(chars[j], '(' | ')' | '（' | '）' | '"' | '“' | '”')
                {
                    j += 1;
                    // `title:` / `body:` end the word right after the colon.
                    let w: String = chars[i..j].iter().collect();
                    if w == "title:" || w == "body:" {
                        break;
                    }
                }
                let word: String = chars[i..j].iter().collect();
                let tok = match word.as_str() {
                    "AND" => Tok::And,
                    "OR" => Tok::Or,
                    "NOT" => Tok::Not,
                    "title:" => Tok::Scope(Field::Title),
                    "body:" => Tok::Scope(Field::Body),
                    w if w.starts_with("NEAR/") => {
                        let n = &w[5..];
                        match n.parse::<u32>() {
                            Ok(n) if (1..=1000).contains(&n) => Tok::Near(n),
                            _ => {
                                return err(
                                    col,
                                    format!("NEAR needs a distance from 1 to 1000, as in NEAR/10; got {w:?}"),
                                );
                            }
                        }
                    }
                    w if w.eq_ignore_ascii_case("near") || w.starts_with("NEAR") => {
                        return err(col, format!("{w:?}: write NEAR/n with a distance, as in NEAR/10"));
                    }
                    w if w.split_once(':').is_some_and(|(s, _)| {
                        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphabetic())
                    }) =>
                    {
                        let scope = w.split_once(':').map_or(w, |(s, _)| s);
                        return err(col, format!("unknown scope {scope:?}: use title: or body:"));
                    }
                    w => {
                        let (text, prefix) = match w.strip_suffix('*') {
                            Some(t) => (t, true),
                            None => (w, false),
                        };
                        if text.is_empty() {
                            return err(col, "a lone '*' is not a term: write it after a word, as in سۇ*");
                        }
                        if text.contains('*') {
                            return err(col, format!("'*' is only allowed at the end of a term: {w:?}"));
                        }
                        Tok::Term(text.to_owned(), prefix)
                    }
                };
                out.push((tok, col));
                i = j;
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end_col: usize,
    depth: usize,
}

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn col(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end_col, |t| t.1)
    }
    fn bump(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|t| t.0.clone());
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, SyntaxError> {
        let mut items = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.bump();
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::Or(items) })
    }

    fn and(&mut self) -> Result<Expr, SyntaxError> {
        let mut items = vec![self.unary()?];
        loop {
            match self.peek() {
                Some(Tok::And) => {
                    self.bump();
                    items.push(self.unary()?);
                }
                Some(Tok::Term(..) | Tok::Phrase(_) | Tok::LParen | Tok::Scope(_) | Tok::Not) => {
                    let t = self.peek().map(Tok::describe).unwrap_or_default();
                    return err(self.col(), format!("expected AND, OR or NEAR/n before {t}"));
                }
                _ => break,
            }
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::And(items) })
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        if self.peek() == Some(&Tok::Not) {
            let col = self.col();
            self.bump();
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return err(col, format!("nesting deeper than {MAX_DEPTH} levels"));
            }
            let inner = self.unary();
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner?)));
        }
        self.near()
    }

    fn near(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.primary()?;
        while let Some(Tok::Near(n)) = self.peek().cloned() {
            let col = self.col();
            self.bump();
            let right = self.primary()?;
            for side in [&left, &right] {
                if !positional(side) {
                    return err(
                        col,
                        format!(
                            "NEAR/{n} needs words or phrases on both sides (or a parenthesised OR of them), not AND/NOT"
                        ),
                    );
                }
            }
            left = Expr::Near { left: Box::new(left), right: Box::new(right), within: n };
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        let col = self.col();
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(col, format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        let result = self.primary_inner(col);
        self.depth -= 1;
        result
    }

    fn primary_inner(&mut self, col: usize) -> Result<Expr, SyntaxError> {
        match self.bump() {
            Some(Tok::Scope(f)) => {
                let inner_col = self.col();
                let inner = self.primary()?;
                scoped(inner, f).map_err(|m| SyntaxError { column: inner_col, message: m })
            }
            Some(Tok::Term(text, prefix)) => Ok(Expr::Term { text, prefix, scope: None }),
            Some(Tok::Phrase(text)) => Ok(Expr::Term { text, prefix: false, scope: None }),
            Some(Tok::LParen) => {
                if self.peek() == Some(&Tok::RParen) {
                    return err(col, "empty parentheses");
                }
                let e = self.or()?;
                match self.bump() {
                    Some(Tok::RParen) => Ok(e),
                    Some(t) => err(
                        self.toks[self.pos - 1].1,
                        format!("expected ')' to close the '(' at column {col}, found {}", t.describe()),
                    ),
                    None => err(self.end_col, format!("missing ')' to close the '(' at column {col}")),
                }
            }
            Some(Tok::RParen) => err(col, "unexpected ')' with no matching '('"),
            Some(t) => err(col, format!("expected a word, a phrase or '(' but found {}", t.describe())),
            None => err(col, "expected a word, a phrase or '(' but the expression ended"),
        }
    }
}

fn positional(e: &Expr) -> bool {
    match e {
        Expr::Term { .. } | Expr::Near { .. } => true,
        Expr::Or(items) => items.iter().all(positional),
        _ => false,
    }
}

fn scoped(e: Expr, f: Field) -> Result<Expr, String> {
    Ok(match e {
        Expr::Term { scope: Some(s), .. } if s != f => {
            return Err("conflicting scopes: a term cannot be both in title: and body:".into());
        }
        Expr::Term { text, prefix, .. } => Expr::Term { text, prefix, scope: Some(f) },
        Expr::And(v) => Expr::And(v.into_iter().map(|x| scoped(x, f)).collect::<Result<_, _>>()?),
        Expr::Or(v) => Expr::Or(v.into_iter().map(|x| scoped(x, f)).collect::<Result<_, _>>()?),
        Expr::Not(x) => Expr::Not(Box::new(scoped(*x, f)?)),
        Expr::Near { left, right, within } => {
            Expr::Near { left: Box::new(scoped(*left, f)?), right: Box::new(scoped(*right, f)?), within }
        }
    })
}

/// Parses an expression.
pub fn parse(src: &str) -> Result<Expr, SyntaxError> {
    let toks = lex(src)?;
    let end_col = src.chars().count() + 1;
    if toks.is_empty() {
        return err(1, "empty expression");
    }
    let mut p = Parser { toks, pos: 0, end_col, depth: 0 };
    let e = p.or()?;
    if let Some(t) = p.peek() {
        let msg = match t {
            Tok::RParen => "unexpected ')' with no matching '('".to_owned(),
            t => format!("unexpected {}", t.describe()),
        };
        return err(p.col(), msg);
    }
    Ok(e)
}

/// True when every match of `e` needs at least one positive word occurrence.
pub fn requires_a_word(e: &Expr) -> bool {
    match e {
        Expr::Term { .. } | Expr::Near { .. } => true,
        Expr::And(items) => items.iter().any(requires_a_word),
        Expr::Or(items) => items.iter().all(requires_a_word),
        Expr::Not(_) => false,
    }
}

/// Every term leaf of an expression, in order.
pub fn terms(e: &Expr) -> Vec<&Expr> {
    fn walk<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
        match e {
            Expr::Term { .. } => out.push(e),
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|x| walk(x, out)),
            Expr::Not(x) => walk(x, out),
            Expr::Near { left, right, .. } => {
                walk(left, out);
                walk(right, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(e, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_scopes() {
        let e = parse("title:(停水 OR 断水) AND 小区 NEAR/5 物业 AND NOT \"演 练\"").unwrap();
        let Expr::And(items) = e else { panic!("{e:?}") };
        assert_eq!(items.len(), 3);
        assert!(
            matches!(&items[0], Expr::Or(v) if v.iter().all(|t| matches!(t, Expr::Term { scope: Some(Field::Title), .. })))
        );
        assert!(matches!(&items[1], Expr::Near { within: 5, .. }));
        assert!(
            matches!(&items[2], Expr::Not(t) if matches!(&**t, Expr::Term { text, .. } if text == "演 练"))
        );
        assert!(matches!(parse("سۇ*").unwrap(), Expr::Term { prefix: true, .. }));
    }

    #[test]
    fn every_error_message() {
        let (deep, nots) = ("(".repeat(100), "NOT ".repeat(100));
        let cases = [
            "",
            "停水 小区",
            "(停水 OR 断水",
            "停水)",
            "()",
            "停水 AND",
            "NOT",
            "\"停水",
            "\"\"",
            "停水 NEAR 小区",
            "停水 NEAR/0 小区",
            "(a AND b) NEAR/3 c",
            "head:停水",
            "*",
            "停*水",
            "title:body:停水",
            "a OR OR b",
            "(a OR b c)",
            deep.as_str(),
            nots.as_str(),
        ];
        let mut out = String::new();
        for c in cases {
            let r = parse(c);
            out.push_str(&format!(
                "{c:?} => {}\n",
                r.map(|e| format!("ok {e:?}")).unwrap_or_else(|e| e.to_string())
            ));
            assert!(parse(c).is_err(), "{c:?} parsed");
        }
        insta::assert_snapshot!(out);
    }

    #[test]
    fn requires_a_word_detects_pure_negations() {
        assert!(!requires_a_word(&parse("NOT a").unwrap()));
        assert!(!requires_a_word(&parse("a OR NOT b").unwrap()));
        assert!(requires_a_word(&parse("a AND NOT b").unwrap()));
    }
}
