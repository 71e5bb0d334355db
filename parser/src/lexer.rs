//! nginx's configuration tokenizer, byte for byte, including its 4096-byte read buffer (which
//! decides when a word is "too long") and its line counting.

/// nginx: `NGX_CONF_BUFFER`, the size of the buffer a configuration file is read through.
pub(crate) const CONF_BUFFER: usize = 4096;

/// A syntax error found while reading: nginx's words and the line it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError {
    pub(crate) message: Vec<u8>,
    pub(crate) line: usize,
}

/// What a token read ends with (nginx: the return codes of `ngx_conf_read_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    /// `NGX_OK`: the words were terminated by `;`.
    Semicolon,
    /// `NGX_CONF_BLOCK_START`: the words were terminated by `{`.
    BlockStart,
    /// `NGX_CONF_BLOCK_DONE`: a `}` with no words before it.
    BlockDone,
    /// `NGX_CONF_FILE_DONE`: the end of the file (or of the `-g` text) between directives.
    FileDone,
}

/// The reading position in one file (nginx: `ngx_conf_file_t` with its buffer).
///
/// Positions are offsets into the whole file; `buf_lo..buf_hi` is the part of the file nginx's
/// buffer holds at this point, which only matters for the "too long" checks.
#[derive(Debug, Clone)]
pub(crate) struct Reader {
    pub(crate) pos: usize,
    pub(crate) line: usize,
    pub(crate) buf_lo: usize,
    pub(crate) buf_hi: usize,
    /// The file size nginx took from `fstat()`; for `-g` the whole text is the buffer.
    pub(crate) size: usize,
    /// `-g` text (nginx: `file.fd == NGX_INVALID_FILE`).
    pub(crate) param: bool,
}

impl Reader {
    /// A file, read from its start through an empty buffer (nginx: line 1).
    pub(crate) fn file(size: usize) -> Reader {
        Reader {
            pos: 0,
            line: 1,
            buf_lo: 0,
            buf_hi: 0,
            size,
            param: false,
        }
    }

    /// The `-g` text: the buffer holds it all, nothing is ever read (nginx: line 0).
    pub(crate) fn param(size: usize) -> Reader {
        Reader {
            pos: 0,
            line: 0,
            buf_lo: 0,
            buf_hi: size,
            size,
            param: true,
        }
    }

    /// Whether nginx has read the whole file (nginx: `file.offset >= file_size`).
    pub(crate) fn at_eof(&self) -> bool {
        self.buf_hi >= self.size
    }

    /// Refills the buffer keeping `keep..` (nginx: `ngx_memmove` + `ngx_read_file`).
    pub(crate) fn refill(&mut self, keep: usize) {
        self.buf_lo = keep;
        self.buf_hi = self.size.min(keep.saturating_add(CONF_BUFFER));
    }

    fn error(&self, message: Vec<u8>) -> LexError {
        LexError {
            message,
            line: self.line,
        }
    }

    /// Reads one directive's words into `args`.
    ///
    /// nginx: ngx_conf_read_token
    pub(crate) fn read_token(
        &mut self,
        bytes: &[u8],
        args: &mut Vec<Vec<u8>>,
    ) -> Result<Token, LexError> {
        let mut need_space = false;
        let mut last_space = true;
        let mut sharp_comment = false;
        let mut variable = false;
        let mut quoted = false;
        let mut s_quoted = false;
        let mut d_quoted = false;

        args.clear();
        let mut start = self.pos;
        let mut start_line = self.line;

        loop {
            if self.pos >= self.buf_hi {
                if self.at_eof() {
                    if !args.is_empty() || !last_space {
                        return Err(self.error(if self.param {
                            b"unexpected end of parameter, expecting \";\"".to_vec()
                        } else {
                            b"unexpected end of file, expecting \";\" or \"}\"".to_vec()
                        }));
                    }
                    return Ok(Token::FileDone);
                }

                if self.pos.saturating_sub(start) >= CONF_BUFFER {
                    self.line = start_line;
                    let ch = if d_quoted {
                        b'"'
                    } else if s_quoted {
                        b'\''
                    } else {
                        let head = bytes.get(start..start + 10).unwrap_or_default();
                        let mut m = b"too long parameter \"".to_vec();
                        m.extend_from_slice(head);
                        m.extend_from_slice(b"...\" started");
                        return Err(self.error(m));
                    };
                    let mut m = b"too long parameter, probably missing terminating \"".to_vec();
                    m.push(ch);
                    m.extend_from_slice(b"\" character");
                    return Err(self.error(m));
                }

                self.refill(start);
            }

            let Some(&ch) = bytes.get(self.pos) else {
                // The file is shorter than its size said: nothing more to read.
                self.size = self.pos;
                self.buf_hi = self.pos;
                continue;
            };
            self.pos += 1;

            if ch == b'\n' {
                self.line += 1;
                sharp_comment = false;
            }

            if sharp_comment {
                continue;
            }

            if quoted {
                quoted = false;
                continue;
            }

            if need_space {
                if is_space(ch) {
                    last_space = true;
                    need_space = false;
                    continue;
                }
                match ch {
                    b';' => return Ok(Token::Semicolon),
                    b'{' => return Ok(Token::BlockStart),
                    // A `)` after a closing quote (`if ($a = "b")`) starts a new word.
                    b')' => {
                        last_space = true;
                        need_space = false;
                    }
                    _ => return Err(self.error(unexpected(ch))),
                }
            }

            if last_space {
                start = self.pos - 1;
                start_line = self.line;

                if is_space(ch) {
                    continue;
                }

                match ch {
                    b';' | b'{' => {
                        if args.is_empty() {
                            return Err(self.error(unexpected(ch)));
                        }
                        return Ok(if ch == b'{' {
                            Token::BlockStart
                        } else {
                            Token::Semicolon
                        });
                    }
                    b'}' => {
                        if !args.is_empty() {
                            return Err(self.error(unexpected(b'}')));
                        }
                        return Ok(Token::BlockDone);
                    }
                    b'#' => sharp_comment = true,
                    b'\\' => {
                        quoted = true;
                        last_space = false;
                    }
                    b'"' => {
                        start += 1;
                        d_quoted = true;
                        last_space = false;
                    }
                    b'\'' => {
                        start += 1;
                        s_quoted = true;
                        last_space = false;
                    }
                    b'$' => {
                        variable = true;
                        last_space = false;
                    }
                    _ => last_space = false,
                }
                continue;
            }

            // Inside a word: `${` keeps its brace.
            if ch == b'{' && variable {
                continue;
            }
            variable = false;

            if ch == b'\\' {
                quoted = true;
                continue;
            }
            if ch == b'$' {
                variable = true;
                continue;
            }

            let found = if d_quoted {
                if ch == b'"' {
                    d_quoted = false;
                    need_space = true;
                }
                need_space
            } else if s_quoted {
                if ch == b'\'' {
                    s_quoted = false;
                    need_space = true;
                }
                need_space
            } else if is_space(ch) || ch == b';' || ch == b'{' {
                last_space = true;
                true
            } else {
                false
            };

            if found {
                let raw = bytes.get(start..self.pos - 1).unwrap_or_default();
                args.push(unescape(raw));
                match ch {
                    b';' => return Ok(Token::Semicolon),
                    b'{' => return Ok(Token::BlockStart),
                    _ => {}
                }
            }
        }
    }
}

/// nginx's whitespace between words.
fn is_space(ch: u8) -> bool {
    matches!(ch, b' ' | b'\t' | b'\r' | b'\n')
}

/// `unexpected "X"` with the raw byte, as nginx's `%c` prints it.
pub(crate) fn unexpected(ch: u8) -> Vec<u8> {
    let mut m = b"unexpected \"".to_vec();
    m.push(ch);
    m.push(b'"');
    m
}

/// A word's escapes: `\"` `\'` `\\` lose the backslash, `\t` `\r` `\n` become the control
/// character, any other `\x` stays as it is.
///
/// nginx: the copy loop at the end of ngx_conf_read_token
pub(crate) fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        if c == b'\\' {
            match raw.get(i + 1) {
                Some(&q @ (b'"' | b'\'' | b'\\')) => {
                    out.push(q);
                    i += 2;
                    continue;
                }
                Some(b't') => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                Some(b'r') => {
                    out.push(b'\r');
                    i += 2;
                    continue;
                }
                Some(b'n') => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_table() {
        let table: &[(&[u8], &[u8])] = &[
            (b"abc", b"abc"),
            (br#"\"\'\\"#, br#""'\"#),
            (br"\t\r\n", b"\t\r\n"),
            (br"\x\$\{", br"\x\$\{"),
            (br"a\\n", br"a\n"),
            (b"\\", b"\\"),
        ];
        for (raw, want) in table {
            assert_eq!(unescape(raw), *want, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn buffer_limit_follows_the_word_start() {
        // A word of exactly 4096 bytes fits only when it starts the buffer.
        let mut args = Vec::new();
        for (lead, len, ok) in [
            (0, 4095, true),
            (0, 4096, false),
            (100, 4095, true),
            (100, 4096, false),
        ] {
            let mut text = b" ".repeat(lead);
            text.extend_from_slice(&b"a".repeat(len));
            text.extend_from_slice(b";");
            let mut r = Reader::file(text.len());
            assert_eq!(
                r.read_token(&text, &mut args).is_ok(),
                ok,
                "lead {lead} len {len}"
            );
        }
    }
}
