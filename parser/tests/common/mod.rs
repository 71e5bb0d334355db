//! Helpers shared by the integration tests: a readable rendering of a [`Conf`] and scratch
//! configuration directories.
#![allow(dead_code)]

use std::fmt::Write;
use std::path::{Path, PathBuf};

use parser::{Body, Conf, Directive, Options};

/// Bytes as a string literal body: printable ASCII as is, `"` `\` and the rest escaped.
pub fn esc(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &c in bytes {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s
}

/// A file's name for output: relative to `base` when under it (no machine paths).
pub fn file_name(conf: &Conf, id: usize, base: &Path) -> String {
    match conf.files.get(id) {
        Some(f) if f.command_line => "(command line)".into(),
        Some(f) => f
            .path
            .strip_prefix(base)
            .unwrap_or(&f.path)
            .display()
            .to_string(),
        None => format!("(file #{id}?)"),
    }
}

/// The whole tree, one directive a line, for snapshots.
pub fn render(conf: &Conf, base: &Path) -> String {
    let mut out = String::from("files:\n");
    for (i, f) in conf.files.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {i}: {} ({} bytes)",
            file_name(conf, i, base),
            f.bytes.len()
        );
    }
    out.push_str("directives:\n");
    for d in &conf.directives {
        render_directive(&mut out, conf, base, d, 1);
    }
    match &conf.error {
        None => out.push_str("error: none\n"),
        Some(e) => {
            let at = match e.file {
                Some(f) => format!("{}:{}", file_name(conf, f, base), e.line),
                None => "(no location)".into(),
            };
            // Messages quote full paths: cut the machine part.
            let base = format!("{}/", base.display());
            let _ = writeln!(out, "error: {at}: {}", e.message.replace(&base, "<conf>/"));
        }
    }
    out
}

fn render_directive(out: &mut String, conf: &Conf, base: &Path, d: &Directive, depth: usize) {
    let pad = "  ".repeat(depth);
    let _ = write!(
        out,
        "{pad}{}:{} {}",
        file_name(conf, d.file, base),
        d.line,
        esc(&d.name)
    );
    for a in &d.args {
        let _ = write!(out, " \"{}\"", esc(a));
    }
    match &d.body {
        Body::None => out.push_str(";\n"),
        Body::Block(b) => {
            out.push_str(" {\n");
            for c in &b.directives {
                render_directive(out, conf, base, c, depth + 1);
            }
            let _ = writeln!(
                out,
                "{pad}}}{}",
                if b.complete { "" } else { " (incomplete)" }
            );
        }
        Body::Lua(l) => {
            let _ = writeln!(out, " {{ (lua, lines {}..{})", l.start_line, l.end_line);
            for line in l.code.split(|&c| c == b'\n') {
                let _ = writeln!(out, "{pad}  | {}", esc(line));
            }
            let _ = writeln!(
                out,
                "{pad}}}{}",
                if l.complete { "" } else { " (incomplete)" }
            );
        }
    }
}

/// The tree on one line: `LINE:name "arg" { ... }`, for tables.
pub fn compact(conf: &Conf) -> String {
    fn go(out: &mut Vec<String>, ds: &[Directive]) {
        for d in ds {
            let mut s = format!("{}:{}", d.line, esc(&d.name));
            for a in &d.args {
                let _ = write!(s, " \"{}\"", esc(a));
            }
            match &d.body {
                Body::None => out.push(s + ";"),
                Body::Block(b) => {
                    out.push(s + " {");
                    go(out, &b.directives);
                    out.push(if b.complete { "}".into() } else { "}?".into() });
                }
                Body::Lua(l) => {
                    let _ = write!(
                        s,
                        " lua({}..{}) \"{}\"",
                        l.start_line,
                        l.end_line,
                        esc(&l.code)
                    );
                    out.push(if l.complete { s } else { s + "?" });
                }
            }
        }
    }
    let mut out = Vec::new();
    go(&mut out, &conf.directives);
    out.join(" ")
}

/// A fresh `conf/` directory under the system temp dir, removed on drop.
pub struct Scratch {
    pub root: PathBuf,
}

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let root =
            std::env::temp_dir().join(format!("oxresty-parser-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("conf")).expect("scratch dir");
        Scratch { root }
    }

    pub fn conf(&self) -> PathBuf {
        self.root.join("conf")
    }

    /// Writes `conf/REL`; a name ending in `/` makes a directory.
    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let p = self.conf().join(rel);
        if rel.ends_with('/') {
            std::fs::create_dir_all(&p).expect("dir");
            return;
        }
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("dir");
        }
        std::fs::write(&p, bytes).expect("write");
    }

    pub fn options(&self) -> Options {
        Options {
            conf_prefix: self.conf(),
        }
    }

    /// Parses `conf/nginx.conf`.
    pub fn parse(&self) -> Conf {
        parser::parse_file(&self.conf().join("nginx.conf"), &self.options())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
