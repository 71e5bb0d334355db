//! A tiny evaluator for the Perl expressions that occur in ` eval` sections of Test::Nginx
//! files: string literals (`"..."`, `'...'`, `qq{}`, `q{}`), numbers, `x` repetition, `.`
//! concatenation, parentheses, `[ ... ]` lists, `qr/.../flags`, `undef` and `join(SEP, LIST)`.
//!
//! Anything else is *unsupported*: evaluation returns `Err(reason)` and the caller reports the
//! block as skipped, so an expression we cannot evaluate never turns into a silent pass.

use std::fmt;

/// The value of an evaluated expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A Perl scalar string (numbers are kept in their decimal text form).
    Str(Vec<u8>),
    /// A `qr//` object.
    Regex(PerlRegex),
    /// An array reference (`[ ... ]`).
    List(Vec<Value>),
    /// `undef`.
    Undef,
}

impl Value {
    /// The string form of a scalar (`None` for lists and regexes).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Str(s) => Some(s),
            Value::Undef => Some(b""),
            _ => None,
        }
    }

    /// The text form of a scalar, lossily decoded.
    pub fn as_text(&self) -> Option<String> {
        self.as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

/// A Perl regex literal: the pattern text as written (after interpolation) and its flags.
#[derive(Debug, Clone, PartialEq)]
pub struct PerlRegex {
    /// Pattern source, passed to PCRE2 unchanged (PCRE2 follows Perl's syntax).
    pub pattern: String,
    /// Modifier letters, e.g. `"is"`. Only `i m s x n` have an effect.
    pub flags: String,
}

impl PerlRegex {
    /// A regex from a plain pattern string with the given flags.
    pub fn new(pattern: &str, flags: &str) -> Self {
        PerlRegex {
            pattern: pattern.to_string(),
            flags: flags.to_string(),
        }
    }

    /// Compiles the regex with PCRE2 (byte mode, so it can match any response body).
    pub fn compile(&self) -> Result<pcre2::bytes::Regex, String> {
        let mut b = pcre2::bytes::RegexBuilder::new();
        for f in self.flags.chars() {
            match f {
                'i' => {
                    b.caseless(true);
                }
                'm' => {
                    b.multi_line(true);
                }
                's' => {
                    b.dotall(true);
                }
                'x' => {
                    b.extended(true);
                }
                _ => {}
            }
        }
        b.build(&self.pattern)
            .map_err(|e| format!("bad regex /{}/: {e}", self.pattern))
    }
}

impl fmt::Display for PerlRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "qr/{}/{}", self.pattern, self.flags)
    }
}

/// Looks up `$name` / `$::name` for interpolation into double-quoted strings and regexes
/// (e.g. `HtmlDir`, `ServerPort`). `None` means the variable is unknown: unsupported.
pub type VarLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Evaluates `code` as Perl. A top-level comma list yields its first element (that is what a
/// Test::Base section accessor returns in scalar context).
pub fn eval(code: &str, vars: VarLookup<'_>) -> Result<Value, String> {
    let mut p = Parser {
        s: code.chars().collect(),
        i: 0,
        vars,
    };
    let items = p.list(None)?;
    p.skip_ws();
    if p.i < p.s.len() {
        return Err(format!("unsupported Perl near `{}`", p.rest_snippet()));
    }
    Ok(items.into_iter().next().unwrap_or(Value::Undef))
}

struct Parser<'a> {
    s: Vec<char>,
    i: usize,
    vars: VarLookup<'a>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.s.get(self.i + n).copied()
    }

    fn rest_snippet(&self) -> String {
        self.s[self.i.min(self.s.len())..].iter().take(40).collect()
    }

    fn starts_with(&self, w: &str) -> bool {
        let want: Vec<char> = w.chars().collect();
        self.s.get(self.i..self.i + want.len()) == Some(&want[..])
    }

    /// Skips whitespace, `#` comments and statement-ending semicolons.
    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() || c == ';' {
                self.i += 1;
            } else if c == '#' {
                while let Some(c) = self.peek() {
                    self.i += 1;
                    if c == '\n' {
                        break;
                    }
                }
            } else {
                break;
            }
        }
    }

    /// A comma (or `=>`) separated list up to `end` (or the end of input), flattened.
    fn list(&mut self, end: Option<char>) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            match (self.peek(), end) {
                (None, None) => return Ok(out),
                (None, Some(e)) => return Err(format!("missing `{e}`")),
                (Some(c), Some(e)) if c == e => {
                    self.i += 1;
                    return Ok(out);
                }
                _ => {}
            }
            let v = self.expr()?;
            match v {
                Flat::One(v) => out.push(v),
                Flat::Many(vs) => out.extend(vs),
            }
            self.skip_ws();
            if self.peek() == Some(',') {
                self.i += 1;
            } else if self.starts_with("=>") {
                self.i += 2;
            } else {
                match (self.peek(), end) {
                    (None, None) => return Ok(out),
                    (Some(c), Some(e)) if c == e => {
                        self.i += 1;
                        return Ok(out);
                    }
                    _ => return Err(format!("unsupported Perl near `{}`", self.rest_snippet())),
                }
            }
        }
    }

    /// `.` concatenation of `x` repetitions.
    fn expr(&mut self) -> Result<Flat, String> {
        let mut left = self.repeat()?;
        loop {
            self.skip_ws();
            if self.peek() == Some('.') && self.peek_at(1) != Some('.') {
                self.i += 1;
                let right = self.repeat()?;
                let mut s = left.scalar()?;
                s.extend_from_slice(&right.scalar()?);
                left = Flat::One(Value::Str(s));
            } else {
                return Ok(left);
            }
        }
    }

    fn repeat(&mut self) -> Result<Flat, String> {
        let mut left = self.primary()?;
        loop {
            self.skip_ws();
            let is_x = self.peek() == Some('x')
                && self
                    .peek_at(1)
                    .is_some_and(|c| c.is_whitespace() || c.is_ascii_digit() || c == '(');
            if !is_x {
                return Ok(left);
            }
            self.i += 1;
            let n = self.primary()?.scalar()?;
            let n: usize = String::from_utf8_lossy(&n)
                .trim()
                .parse::<f64>()
                .map_err(|_| "non-numeric repetition count".to_string())?
                .max(0.0) as usize;
            left = match left {
                Flat::Many(vs) => {
                    let mut out = Vec::new();
                    for _ in 0..n {
                        out.extend(vs.iter().cloned());
                    }
                    Flat::Many(out)
                }
                Flat::One(v) => {
                    let s = Flat::One(v).scalar()?;
                    Flat::One(Value::Str(s.repeat(n)))
                }
            };
        }
    }

    fn primary(&mut self) -> Result<Flat, String> {
        self.skip_ws();
        let c = self
            .peek()
            .ok_or_else(|| "unexpected end of Perl expression".to_string())?;
        match c {
            '"' => {
                self.i += 1;
                let raw = self.delimited('"')?;
                Ok(Flat::One(Value::Str(self.interpolate(&raw)?)))
            }
            '\'' => {
                self.i += 1;
                let raw = self.delimited('\'')?;
                Ok(Flat::One(Value::Str(single_quoted(&raw).into_bytes())))
            }
            '[' => {
                self.i += 1;
                Ok(Flat::One(Value::List(self.list(Some(']'))?)))
            }
            '(' => {
                self.i += 1;
                let items = self.list(Some(')'))?;
                if items.len() == 1 {
                    Ok(Flat::One(items.into_iter().next().unwrap_or(Value::Undef)))
                } else {
                    Ok(Flat::Many(items))
                }
            }
            '0'..='9' => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_digit() || c == '_' || c == '.')
                {
                    if self.peek() == Some('.') && self.peek_at(1) == Some('.') {
                        break;
                    }
                    self.i += 1;
                }
                let t: String = self.s[start..self.i]
                    .iter()
                    .filter(|c| **c != '_')
                    .collect();
                Ok(Flat::One(Value::Str(t.into_bytes())))
            }
            _ => self.word(),
        }
    }

    fn word(&mut self) -> Result<Flat, String> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            self.i += 1;
        }
        let w: String = self.s[start..self.i].iter().collect();
        let save = self.i;
        self.skip_ws();
        let delim = self.peek();
        let quote_delim = delim.is_some_and(|d| {
            !d.is_alphanumeric() && !d.is_whitespace() && d != ',' && d != ';' && d != '='
        });
        match w.as_str() {
            "qq" | "q" | "qr" if quote_delim => {
                let open = delim.unwrap_or('/');
                self.i += 1;
                let close = match open {
                    '{' => '}',
                    '(' => ')',
                    '[' => ']',
                    '<' => '>',
                    o => o,
                };
                let raw = if open == close {
                    self.delimited(close)?
                } else {
                    self.nested(open, close)?
                };
                match w.as_str() {
                    "qq" => Ok(Flat::One(Value::Str(self.interpolate(&raw)?))),
                    "q" => Ok(Flat::One(Value::Str(single_quoted(&raw).into_bytes()))),
                    _ => {
                        let mut flags = String::new();
                        while let Some(c) = self.peek() {
                            if "msixpodualngc".contains(c) {
                                flags.push(c);
                                self.i += 1;
                            } else {
                                break;
                            }
                        }
                        let pattern = self.interpolate_regex(&raw)?;
                        Ok(Flat::One(Value::Regex(PerlRegex { pattern, flags })))
                    }
                }
            }
            "undef" => {
                self.i = save;
                Ok(Flat::One(Value::Undef))
            }
            "join" | "CORE::join" if delim == Some('(') => {
                self.i += 1;
                let args = self.list(Some(')'))?;
                let mut it = args.into_iter();
                let sep = it
                    .next()
                    .and_then(|v| v.as_bytes().map(<[u8]>::to_vec))
                    .ok_or_else(|| "join without a separator".to_string())?;
                let mut out = Vec::new();
                for (n, v) in it.enumerate() {
                    if n > 0 {
                        out.extend_from_slice(&sep);
                    }
                    out.extend_from_slice(
                        v.as_bytes()
                            .ok_or_else(|| "join of a non-scalar".to_string())?,
                    );
                }
                Ok(Flat::One(Value::Str(out)))
            }
            _ => {
                self.i = start;
                Err(format!("unsupported Perl near `{}`", self.rest_snippet()))
            }
        }
    }

    /// Raw text up to an unescaped `close` (backslash escapes are kept for later processing).
    fn delimited(&mut self, close: char) -> Result<String, String> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            if c == '\\' {
                if let Some(n) = self.peek() {
                    self.i += 1;
                    out.push('\\');
                    out.push(n);
                    continue;
                }
            }
            if c == close {
                return Ok(out);
            }
            out.push(c);
        }
        Err(format!("unterminated string (missing `{close}`)"))
    }

    /// Raw text up to the `close` that balances `open`.
    fn nested(&mut self, open: char, close: char) -> Result<String, String> {
        let mut depth = 1;
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            if c == '\\' {
                if let Some(n) = self.peek() {
                    self.i += 1;
                    out.push('\\');
                    out.push(n);
                    continue;
                }
            }
            if c == open {
                depth += 1;
            } else if c == close {
                depth -= 1;
                if depth == 0 {
                    return Ok(out);
                }
            }
            out.push(c);
        }
        Err(format!("unterminated quote (missing `{close}`)"))
    }

    fn lookup(&self, name: &str) -> Result<String, String> {
        let key = name.trim_start_matches("::").trim_start_matches("main::");
        (self.vars)(key).ok_or_else(|| format!("unsupported Perl variable `${name}`"))
    }

    /// Reads a variable name after `$` at `chars[j]`; returns (name, next index).
    fn var_name(chars: &[char], mut j: usize) -> (String, usize) {
        let mut name = String::new();
        if chars.get(j) == Some(&'{') {
            j += 1;
            while let Some(&c) = chars.get(j) {
                j += 1;
                if c == '}' {
                    break;
                }
                name.push(c);
            }
            return (name, j);
        }
        while let Some(&c) = chars.get(j) {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                name.push(c);
                j += 1;
            } else {
                break;
            }
        }
        (name, j)
    }

    /// Processes a double-quoted string body: escapes and `$var` interpolation.
    fn interpolate(&self, raw: &str) -> Result<Vec<u8>, String> {
        let chars: Vec<char> = raw.chars().collect();
        let mut out: Vec<u8> = Vec::new();
        let mut j = 0;
        let push = |out: &mut Vec<u8>, c: char| {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        };
        while j < chars.len() {
            let c = chars[j];
            j += 1;
            match c {
                '\\' => {
                    let Some(&e) = chars.get(j) else {
                        out.push(b'\\');
                        break;
                    };
                    j += 1;
                    match e {
                        'n' => out.push(b'\n'),
                        'r' => out.push(b'\r'),
                        't' => out.push(b'\t'),
                        'f' => out.push(0x0c),
                        'a' => out.push(0x07),
                        'e' => out.push(0x1b),
                        '0'..='7' => {
                            let mut v = e.to_digit(8).unwrap_or(0);
                            let mut k = 0;
                            while k < 2 {
                                match chars.get(j).and_then(|c| c.to_digit(8)) {
                                    Some(d) => {
                                        v = v * 8 + d;
                                        j += 1;
                                        k += 1;
                                    }
                                    None => break,
                                }
                            }
                            out.push((v & 0xff) as u8);
                        }
                        'x' => {
                            if chars.get(j) == Some(&'{') {
                                let end = chars[j..]
                                    .iter()
                                    .position(|c| *c == '}')
                                    .ok_or("bad \\x{} escape")?;
                                let hex: String = chars[j + 1..j + end].iter().collect();
                                j += end + 1;
                                let v = u32::from_str_radix(hex.trim(), 16)
                                    .map_err(|_| "bad \\x{} escape".to_string())?;
                                if v < 0x100 {
                                    out.push(v as u8);
                                } else {
                                    push(&mut out, char::from_u32(v).ok_or("bad \\x{}")?);
                                }
                            } else {
                                let mut v = 0u32;
                                let mut k = 0;
                                while k < 2 {
                                    match chars.get(j).and_then(|c| c.to_digit(16)) {
                                        Some(d) => {
                                            v = v * 16 + d;
                                            j += 1;
                                            k += 1;
                                        }
                                        None => break,
                                    }
                                }
                                out.push(v as u8);
                            }
                        }
                        c if c.is_ascii_alphanumeric() => {
                            return Err(format!("unsupported escape `\\{c}` in a Perl string"))
                        }
                        c => push(&mut out, c),
                    }
                }
                '$' if chars.get(j).is_some_and(|c| {
                    c.is_ascii_alphabetic() || *c == '_' || *c == ':' || *c == '{'
                }) =>
                {
                    let (name, next) = Self::var_name(&chars, j);
                    j = next;
                    out.extend_from_slice(self.lookup(&name)?.as_bytes());
                }
                '@' if chars
                    .get(j)
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_' || *c == '{') =>
                {
                    return Err("unsupported array interpolation in a Perl string".into());
                }
                c => push(&mut out, c),
            }
        }
        Ok(out)
    }

    /// Processes a `qr` body: only variable interpolation (escapes are PCRE2's business).
    fn interpolate_regex(&self, raw: &str) -> Result<String, String> {
        let chars: Vec<char> = raw.chars().collect();
        let mut out = String::new();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            j += 1;
            match c {
                '\\' => {
                    out.push('\\');
                    if let Some(&n) = chars.get(j) {
                        out.push(n);
                        j += 1;
                    }
                }
                '$' if chars.get(j).is_some_and(|c| {
                    c.is_ascii_alphabetic() || *c == '_' || *c == ':' || *c == '{'
                }) =>
                {
                    let (name, next) = Self::var_name(&chars, j);
                    j = next;
                    out.push_str(&self.lookup(&name)?);
                }
                '@' if chars
                    .get(j)
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_') =>
                {
                    return Err("unsupported array interpolation in a Perl regex".into());
                }
                c => out.push(c),
            }
        }
        Ok(out)
    }
}

/// A single-quoted string body: only `\\` and `\'` are escapes.
fn single_quoted(raw: &str) -> String {
    let mut out = String::new();
    let mut it = raw.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.peek() {
                Some('\\') | Some('\'') => {
                    out.push(it.next().unwrap_or('\\'));
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

/// An expression result: a scalar-ish value, or a flattened paren list.
enum Flat {
    One(Value),
    Many(Vec<Value>),
}

impl Flat {
    fn scalar(self) -> Result<Vec<u8>, String> {
        let v = match self {
            Flat::One(v) => v,
            Flat::Many(vs) => vs.into_iter().last().unwrap_or(Value::Undef),
        };
        match v {
            Value::Str(s) => Ok(s),
            Value::Undef => Ok(Vec::new()),
            Value::Regex(_) => Err("string operation on a qr// object".into()),
            Value::List(_) => Err("string operation on an array reference".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: &str) -> Result<Value, String> {
        eval(code, &|n| (n == "HtmlDir").then(|| "/h".to_string()))
    }

    #[test]
    fn strings_and_operators() {
        assert_eq!(ev(r#""a" x 3 . "b""#), Ok(Value::Str(b"aaab".to_vec())));
        assert_eq!(
            ev(r#"("ab" x 2) . 'c\n'"#),
            Ok(Value::Str(b"ababc\\n".to_vec()))
        );
        assert_eq!(
            ev(r#""\x41\t\r\n\$x""#),
            Ok(Value::Str(b"A\t\r\n$x".to_vec()))
        );
        assert_eq!(
            ev(r#"qq{a{b}c $::HtmlDir}"#),
            Ok(Value::Str(b"a{b}c /h".to_vec()))
        );
        assert_eq!(ev("join(\",\", 1, 2)"), Ok(Value::Str(b"1,2".to_vec())));
    }

    #[test]
    fn lists_and_regexes() {
        let v = ev("[qr/a\\/b$/i, \"x\",\n 404,]").expect("list");
        assert_eq!(
            v,
            Value::List(vec![
                Value::Regex(PerlRegex::new("a\\/b$", "i")),
                Value::Str(b"x".to_vec()),
                Value::Str(b"404".to_vec()),
            ])
        );
        assert!(ev("qr{\\d{3}}").is_ok());
    }

    #[test]
    fn unsupported_is_an_error() {
        assert!(ev("map { $_ } 1..3").is_err());
        assert!(ev("\"$foo\"").is_err());
        assert!(ev("my $x = 1;").is_err());
    }
}
