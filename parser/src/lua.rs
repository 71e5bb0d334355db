//! `*_by_lua_block { ... }` bodies, lexed as lua-nginx-module v0.10.23 does: it only looks for
//! `{`, `}`, long brackets, comments and strings, so braces inside them don't count.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_while};
use nom::character::complete::char;
use nom::combinator::{map, recognize, value};
use nom::sequence::{delimited, pair, preceded};
use nom::IResult;

use crate::lexer::{LexError, Reader, CONF_BUFFER};

/// One of the 8 token patterns of `ngx_http_lua_lex` (util/gen-lexer-c), in its priority order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LuaToken {
    /// `{`
    LeftCurly,
    /// `}`
    RightCurly,
    /// `[=*[`, with the number of `=`.
    LongString(usize),
    /// `--[=*[`, with the number of `=`.
    LongComment(usize),
    /// `]=*]`
    RightBracket,
    /// `--[^\n]*`
    CommentLine,
    /// `"(?:\\[^\n]|[^"\n\\])*"`
    DoubleQuoted,
    /// `'(?:\\[^\n]|[^'\n\\])*'`
    SingleQuoted,
}

/// `[=*[`, giving the number of `=`.
fn long_open(i: &[u8]) -> IResult<&[u8], usize> {
    map(
        delimited(char('['), take_while(|c| c == b'='), char('[')),
        |eq: &[u8]| eq.len(),
    )(i)
}

/// A quoted string that can't span lines; `\` escapes any byte but a newline.
fn quoted(q: u8) -> impl Fn(&[u8]) -> IResult<&[u8], &[u8]> {
    move |i: &[u8]| {
        let (mut rest, _) = char(q as char)(i)?;
        loop {
            match rest {
                [c, ..] if *c == q => return Ok((&rest[1..], &i[..i.len() - rest.len() + 1])),
                [b'\\', c, ..] if *c != b'\n' => rest = &rest[2..],
                [c, ..] if *c != b'\n' && *c != b'\\' => rest = &rest[1..],
                _ => {
                    return Err(nom::Err::Error(nom::error::Error::new(
                        rest,
                        nom::error::ErrorKind::Char,
                    )))
                }
            }
        }
    }
}

/// The token starting exactly at `i`, if any, with its length; the first pattern wins.
fn token_at(i: &[u8]) -> Option<(LuaToken, usize)> {
    let one = alt((
        value(LuaToken::LeftCurly, tag("{")),
        value(LuaToken::RightCurly, tag("}")),
        map(long_open, LuaToken::LongString),
        map(preceded(tag("--"), long_open), LuaToken::LongComment),
        value(
            LuaToken::RightBracket,
            recognize(delimited(char(']'), take_while(|c| c == b'='), char(']'))),
        ),
        value(
            LuaToken::CommentLine,
            recognize(pair(tag("--"), take_till(|c| c == b'\n'))),
        ),
        value(LuaToken::DoubleQuoted, quoted(b'"')),
        value(LuaToken::SingleQuoted, quoted(b'\'')),
    ));
    let mut one = recognize_len(one);
    one(i).ok().map(|(_, t)| t)
}

/// Pairs a parser's output with the number of bytes it consumed.
fn recognize_len<'a, O>(
    mut p: impl FnMut(&'a [u8]) -> IResult<&'a [u8], O>,
) -> impl FnMut(&'a [u8]) -> IResult<&'a [u8], (O, usize)> {
    move |i: &'a [u8]| {
        let (rest, o) = p(i)?;
        Ok((rest, (o, i.len() - rest.len())))
    }
}

/// The leftmost token in `s`: its kind and `[start, end)` (nginx: `ngx_http_lua_lex`).
pub(crate) fn lex(s: &[u8]) -> Option<(LuaToken, usize, usize)> {
    // A string that fails to close from one quote also fails from any quote it escaped: skip
    // those so a line full of `\"` stays linear.
    let mut dq_fail = 0;
    let mut sq_fail = 0;
    for at in 0..s.len() {
        let c = s[at];
        if !matches!(c, b'{' | b'}' | b'[' | b']' | b'-' | b'"' | b'\'') {
            continue;
        }
        if (c == b'"' && at < dq_fail) || (c == b'\'' && at < sq_fail) {
            continue;
        }
        match token_at(&s[at..]) {
            Some((t, len)) => return Some((t, at, at + len)),
            None if c == b'"' || c == b'\'' => {
                let end = fail_end(&s[at..], c) + at;
                if c == b'"' {
                    dq_fail = end;
                } else {
                    sq_fail = end;
                }
            }
            None => {}
        }
    }
    None
}

/// Where a string that doesn't close stops being scanned (a newline or the end).
fn fail_end(s: &[u8], q: u8) -> usize {
    let mut i = 1;
    while let Some(&c) = s.get(i) {
        match c {
            b'\n' => return i,
            b'\\' if s.get(i + 1).is_some_and(|&n| n != b'\n') => i += 2,
            b'\\' => return i,
            _ if c == q => return i,
            _ => i += 1,
        }
    }
    i
}

/// Why a Lua block could not be read, with what was read of it.
pub(crate) struct LuaError {
    pub(crate) error: LexError,
    /// The code up to the end of what nginx had read when it stopped.
    pub(crate) code: Vec<u8>,
}

/// Reads a Lua block body after its `{` up to its `}`; returns the code between them.
///
/// The code is what nginx hands the handler: the bytes of every token read, which is the text
/// as written except in the rare case nginx's buffer handling drops some (see `read_token`).
///
/// nginx: ngx_http_lua_conf_lua_block_parse
pub(crate) fn read_block(r: &mut Reader, bytes: &[u8]) -> Result<Vec<u8>, LuaError> {
    let mut level = 1usize;
    let mut code = Vec::new();
    // The line of the last `{` seen: where "unexpected end of file" is reported.
    let mut ctx_start_line = r.line;
    loop {
        let from = r.pos;
        let (tok, word) = match read_token(r, bytes, ctx_start_line) {
            Ok(t) => t,
            Err(error) => {
                // What nginx had read of it.
                code.extend_from_slice(bytes.get(from..r.buf_hi).unwrap_or_default());
                return Err(LuaError { error, code });
            }
        };
        code.extend_from_slice(bytes.get(word..r.pos).unwrap_or_default());
        match tok {
            LuaToken::LeftCurly => {
                ctx_start_line = r.line;
                level += 1;
            }
            LuaToken::RightCurly => {
                level -= 1;
                if level == 0 {
                    // Without the closing `}`.
                    code.pop();
                    return Ok(code);
                }
            }
            _ => {}
        }
    }
}

/// Reads up to the end of the next Lua token, through nginx's buffer; returns the token and
/// where the text nginx keeps for it starts.
///
/// The lexer only sees the buffer: nginx keeps half a buffer ahead, and when no token is in
/// view it reads on but resumes lexing at the new bytes: the skipped ones stay in the code but
/// their newlines are not counted, and a second such miss in one token drops them.
///
/// nginx: ngx_http_lua_conf_read_lua_token
fn read_token(
    r: &mut Reader,
    bytes: &[u8],
    ctx_start_line: usize,
) -> Result<(LuaToken, usize), LexError> {
    let mut start = r.pos;
    let start_line = r.line;
    let eof_error = |r: &mut Reader| {
        r.line = ctx_start_line;
        LexError {
            message: b"unexpected end of file, expecting terminating characters for lua code block"
                .to_vec(),
            line: r.line,
        }
    };
    let too_long = |r: &mut Reader| {
        r.line = start_line;
        LexError {
            message: b"too long lua code block, probably missing terminating characters".to_vec(),
            line: r.line,
        }
    };

    loop {
        if r.pos >= r.buf_hi || (r.buf_hi - r.pos < CONF_BUFFER / 2 && !r.at_eof()) {
            if r.at_eof() {
                return Err(eof_error(r));
            }
            if r.buf_hi.saturating_sub(start) >= CONF_BUFFER {
                return Err(too_long(r));
            }
            r.refill(start);
        }

        let window = bytes.get(r.pos..r.buf_hi).unwrap_or_default();
        let Some((tok, s, mut e)) = lex(window) else {
            if r.at_eof() {
                return Err(eof_error(r));
            }
            if r.buf_hi - r.pos >= CONF_BUFFER {
                return Err(too_long(r));
            }
            // nginx keeps the unmatched bytes but lexes on from the newly read ones.
            let resume = r.buf_hi;
            start = r.pos;
            r.refill(start);
            r.pos = resume;
            continue;
        };

        if let LuaToken::LongString(eq) | LuaToken::LongComment(eq) = tok {
            // Lines up to the opening bracket count, for the error below.
            r.line += count_lf(&window[..s]);
            r.pos += s;
            e -= s;
            let closing = closing_bracket(eq);
            let after = bytes.get(r.pos + e..r.buf_hi).unwrap_or_default();
            let Some(q) = after
                .windows(closing.len())
                .position(|w| w == closing.as_slice())
            else {
                let mut m = b"Lua code block missing the closing long bracket \"".to_vec();
                m.extend_from_slice(&closing);
                m.extend_from_slice(b"\", the inlined Lua code may be too long");
                return Err(LexError {
                    message: m,
                    line: r.line,
                });
            };
            e += q + closing.len();
        }

        r.line += count_lf(bytes.get(r.pos..r.pos + e).unwrap_or_default());
        r.pos += e;
        return Ok((tok, start));
    }
}
/// `]=...=]` with `eq` signs.
fn closing_bracket(eq: usize) -> Vec<u8> {
    let mut c = vec![b']'];
    c.resize(eq + 1, b'=');
    c.push(b']');
    c
}

fn count_lf(s: &[u8]) -> usize {
    s.iter().filter(|&&c| c == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use LuaToken::*;

    type Found = Option<(LuaToken, usize, usize)>;

    /// Checked against lua-nginx-module's generated lexer (`ngx_http_lua_lex`).
    #[test]
    fn lex_table() {
        let table: &[(&[u8], Found)] = &[
            (b"--[[ x", Some((LongComment(0), 0, 4))),
            (b"--[=[", Some((LongComment(1), 0, 5))),
            (b"--[=x", Some((CommentLine, 0, 5))),
            (b"-- }\nx", Some((CommentLine, 0, 4))),
            (b"x [=[ ", Some((LongString(1), 2, 5))),
            (b"  ]=]", Some((RightBracket, 2, 5))),
            (br"'a\'b'", Some((SingleQuoted, 0, 6))),
            (b"\"a\nb\" }", Some((RightCurly, 6, 7))),
            (b"\"a\\\nb\" {", Some((LeftCurly, 7, 8))),
            (br#""\"\"\" x"#, None),
            (b"\"ab", None),
            (b"[=", None),
            (b"a - b", None),
        ];
        for (s, want) in table {
            assert_eq!(lex(s), *want, "{:?}", String::from_utf8_lossy(s));
        }
    }
}
