//! Parsing of Test::Nginx `.t` files into blocks, the way Test::Base does it: the data part
//! follows `__DATA__`; blocks start at `=== name`; sections start at `--- name [filters]` or
//! `--- name: inline value`; every section gets Test::Base's default `norm` and `trim` filters.

use std::path::{Path, PathBuf};

/// A parsed case file.
#[derive(Debug, Clone)]
pub struct CaseFile {
    /// Where the file was read from.
    pub path: PathBuf,
    /// File name (e.g. `static.t`): the key used in reports and the known-failures list.
    pub name: String,
    /// Settings from the Perl part before `__DATA__`.
    pub header: Header,
    /// The blocks in file order (including `--- SKIP` ones; the runner reports those).
    pub blocks: Vec<Block>,
}

/// The harness settings that a file's Perl preamble can make and that we understand.
#[derive(Debug, Clone, Default)]
pub struct Header {
    /// `log_level('warn')`.
    pub log_level: Option<String>,
    /// `no_root_location()`.
    pub no_root_location: bool,
    /// `master_on()`.
    pub master_on: bool,
    /// `workers(N)`.
    pub workers: Option<u32>,
    /// `worker_connections(N)`.
    pub worker_connections: Option<u32>,
    /// `$ENV{TEST_NGINX_X} ||= 'value';` assignments.
    pub env: Vec<(String, String)>,
    /// Preamble Perl that changes every block and that we cannot emulate (blocks get skipped).
    pub unsupported: Option<String>,
}

/// One `=== TEST N: ...` block.
#[derive(Debug, Clone)]
pub struct Block {
    /// 1-based position in the file.
    pub seq: usize,
    /// The text after `===`.
    pub name: String,
    /// `N` of `TEST N`, or `seq` when the name has no number.
    pub number: usize,
    /// 1-based line of the `===` line.
    pub line: usize,
    /// Sections in order.
    pub sections: Vec<Section>,
}

/// One `--- name` section.
#[derive(Debug, Clone)]
pub struct Section {
    /// Section name (`config`, `response_body`, ...).
    pub name: String,
    /// Filters after the name (`eval`, `chomp`, ...), in order.
    pub filters: Vec<String>,
    /// The text after `norm` and `trim`.
    pub text: String,
}

impl Block {
    /// The section called `name`, if present (the last one wins, as in Test::Base).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().rev().find(|s| s.name == name)
    }

    /// Whether the block has a section called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.section(name).is_some()
    }
}

/// Reads and parses a case file.
pub fn parse_file(path: &Path) -> Result<CaseFile, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut cf = parse_str(&text);
    cf.path = path.to_path_buf();
    cf.name = name;
    Ok(cf)
}

/// Parses the text of a case file (see [`parse_file`]).
pub fn parse_str(text: &str) -> CaseFile {
    let (preamble, data, data_line) = match find_data_marker(text) {
        Some((pre, data, line)) => (pre, data, line),
        None => ("", text, 0),
    };
    let header = parse_header(preamble);
    let data = norm(data);
    let mut blocks = Vec::new();
    let mut current: Option<(usize, Vec<&str>)> = None;
    for (idx, line) in data.split_inclusive('\n').enumerate() {
        if line.starts_with("===") {
            if let Some((l, lines)) = current.take() {
                blocks.push(make_block(blocks.len() + 1, l, &lines));
            }
            current = Some((data_line + idx + 1, vec![line]));
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line);
        }
    }
    if let Some((l, lines)) = current.take() {
        blocks.push(make_block(blocks.len() + 1, l, &lines));
    }
    CaseFile {
        path: PathBuf::new(),
        name: String::new(),
        header,
        blocks,
    }
}

/// Splits at the `__DATA__` line: (preamble, data, line number of the marker).
fn find_data_marker(text: &str) -> Option<(&str, &str, usize)> {
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_end() == "__DATA__" {
            return Some((&text[..offset], &text[offset + line.len()..], n + 1));
        }
        offset += line.len();
    }
    None
}

/// Test::Base's `norm` filter: CRLF and lone CR become LF.
fn norm(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// Test::Base's `trim` filter: drop leading blank lines and trailing whitespace after the last
/// newline.
pub fn trim(s: &str) -> String {
    let mut start = 0;
    // s/\A([ \t]*\n)+//
    loop {
        let rest = &s[start..];
        let ws = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        if rest[ws..].starts_with('\n') {
            start += ws + 1;
        } else {
            break;
        }
    }
    let mut out = s[start..].to_string();
    // s/(?<=\n)\s*\z//
    let trimmed_len = out.trim_end().len();
    if let Some(nl) = out[..].rfind('\n') {
        if nl >= trimmed_len {
            // everything after the first newline following the last non-space is whitespace
            let first_nl_after = out[trimmed_len..].find('\n').map(|p| p + trimmed_len);
            if let Some(p) = first_nl_after {
                out.truncate(p + 1);
            }
        }
    }
    out
}

fn make_block(seq: usize, line: usize, lines: &[&str]) -> Block {
    let head = lines.first().copied().unwrap_or("");
    let name = head.trim_start_matches('=').trim().to_string();
    let number = name
        .strip_prefix("TEST ")
        .and_then(|r| {
            let digits: String = r.chars().take_while(|c| c.is_ascii_digit()).collect();
            digits.parse().ok()
        })
        .unwrap_or(seq);
    let mut sections: Vec<Section> = Vec::new();
    let mut cur: Option<(String, String, String)> = None; // name, filters, text
    let finish = |cur: Option<(String, String, String)>, sections: &mut Vec<Section>| {
        if let Some((name, filters, text)) = cur {
            sections.push(make_section(name, &filters, text));
        }
    };
    for l in lines.iter().skip(1) {
        if let Some((sname, rest)) = section_header(l) {
            finish(cur.take(), &mut sections);
            cur = Some((sname, rest, String::new()));
        } else if let Some((_, _, text)) = cur.as_mut() {
            text.push_str(l);
        }
    }
    finish(cur.take(), &mut sections);
    Block {
        seq,
        name,
        number,
        line,
        sections,
    }
}

/// Matches `^--- +\(?(\w+)\)? *(.*)?\n`.
fn section_header(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("---")?;
    if !rest.starts_with(' ') {
        return None;
    }
    let rest = rest.trim_start_matches(' ');
    let rest = rest.strip_prefix('(').unwrap_or(rest);
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if name.is_empty() {
        return None;
    }
    let after = &rest[name.len()..];
    let after = after.strip_prefix(')').unwrap_or(after);
    let after = after.trim_start_matches(' ').trim_end_matches('\n');
    Some((name, after.to_string()))
}

fn make_section(name: String, filters: &str, text: String) -> Section {
    // `--- name: value` / `--- name filters: value` put the value inline.
    let (filters, text) = match inline_value(filters) {
        Some((f, v)) => (f, v),
        None => (filters.to_string(), text),
    };
    let filters: Vec<String> = filters.split_whitespace().map(str::to_string).collect();
    Section {
        name,
        filters,
        text: trim(&text),
    }
}

/// Splits `filters: value` (a `:` followed by whitespace or the end).
fn inline_value(s: &str) -> Option<(String, String)> {
    let b = s.as_bytes();
    for i in 0..b.len() {
        if b[i] == b':' && (i + 1 == b.len() || b[i + 1].is_ascii_whitespace()) {
            let f = s[..i].trim_end().to_string();
            let v = s[i + 1..].trim().to_string();
            return Some((f, v));
        }
    }
    None
}

/// Extracts the harness calls we understand from the Perl preamble.
fn parse_header(pre: &str) -> Header {
    let mut h = Header::default();
    let arg = |line: &str, f: &str| -> Option<String> {
        let i = line.find(&format!("{f}("))?;
        let rest = &line[i + f.len() + 1..];
        let end = rest.find(')')?;
        Some(
            rest[..end]
                .trim()
                .trim_matches(|c| c == '\'' || c == '"')
                .to_string(),
        )
    };
    for line in pre.lines() {
        let l = line.trim();
        if l.starts_with('#') {
            continue;
        }
        if let Some(v) = arg(l, "log_level") {
            h.log_level = Some(v);
        }
        if l.starts_with("no_root_location(") {
            h.no_root_location = true;
        }
        if l.starts_with("master_on(") {
            h.master_on = true;
        }
        if l.starts_with("workers(") {
            h.workers = arg(l, "workers").and_then(|v| v.parse().ok());
        }
        if l.starts_with("worker_connections(") {
            h.worker_connections = arg(l, "worker_connections").and_then(|v| v.parse().ok());
        }
        if l.contains("add_block_preprocessor") || l.contains("set_http_config_filter") {
            h.unsupported = Some("the file's Perl preamble rewrites blocks".into());
        }
        if let Some(rest) = l.strip_prefix("$ENV{") {
            if let Some(end) = rest.find('}') {
                let key = rest[..end]
                    .trim_matches(|c| c == '\'' || c == '"')
                    .to_string();
                let after = rest[end + 1..].trim_start();
                let after = after
                    .strip_prefix("||=")
                    .or_else(|| after.strip_prefix('='))
                    .map(str::trim);
                if let Some(v) = after {
                    let v = v.trim_end_matches(';').trim();
                    let quoted = (v.starts_with('\'') && v.ends_with('\''))
                        || (v.starts_with('"') && v.ends_with('"'));
                    if quoted && v.len() >= 2 {
                        h.env.push((key, v[1..v.len() - 1].to_string()));
                    } else if v.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
                        h.env.push((key, v.to_string()));
                    }
                }
            }
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_matches_test_base() {
        assert_eq!(trim("\n  \nfoo\nbar\n\n  \n"), "foo\nbar\n");
        assert_eq!(trim("foo"), "foo");
        assert_eq!(trim("  foo  \n"), "  foo  \n");
        assert_eq!(trim("foo\n  "), "foo\n");
    }

    #[test]
    fn blocks_and_sections() {
        let f = parse_str(
            "use Test::Nginx::Socket;\nlog_level('warn');\n$ENV{TEST_NGINX_FOO} ||= 'bar';\nrun_tests();\n__DATA__\n\n=== TEST 3: a\n--- config\n  location /t {}\n--- request\nGET /t\n--- error_code: 404\n--- response_body eval\n\"x\"\n\n\n\n=== TEST 4: b\n--- ONLY\n",
        );
        assert_eq!(f.header.log_level.as_deref(), Some("warn"));
        assert_eq!(f.header.env, vec![("TEST_NGINX_FOO".into(), "bar".into())]);
        assert_eq!(f.blocks.len(), 2);
        let b = &f.blocks[0];
        assert_eq!(b.number, 3);
        assert_eq!(b.line, 7);
        assert_eq!(
            b.section("config").map(|s| s.text.as_str()),
            Some("  location /t {}\n")
        );
        assert_eq!(
            b.section("error_code").map(|s| s.text.as_str()),
            Some("404")
        );
        let rb = b.section("response_body").expect("section");
        assert_eq!(rb.filters, vec!["eval".to_string()]);
        assert_eq!(rb.text, "\"x\"\n");
        assert!(f.blocks[1].has("ONLY"));
    }
}
