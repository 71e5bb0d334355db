//! The log phase: `access_log` lines in their `log_format` (nginx: ngx_http_log_module's
//! handler), with the files shared by every worker and reopened on USR1.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use super::lower::{Escape, Http, LocConf, Locations};
use super::request::Request;
use super::variables::Part;

type LogFile = Arc<Mutex<Option<std::fs::File>>>;

static FILES: RwLock<Option<HashMap<PathBuf, LogFile>>> = RwLock::new(None);

fn open(path: &std::path::Path) -> Option<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()
}

fn collect(conf: &LocConf, out: &mut Vec<PathBuf>) {
    for l in conf.access_log.iter().flatten() {
        if !out.contains(&l.path) {
            out.push(l.path.clone());
        }
    }
}

fn collect_locations(locs: &Locations, out: &mut Vec<PathBuf>) {
    for l in locs.statics.iter().chain(&locs.regexes) {
        collect(&l.conf, out);
        collect_locations(&l.locations, out);
    }
}

/// Opens every access log the configuration names, http's and `extra` (the stream
/// block's) (nginx: `cycle->open_files`).
pub(crate) fn open_all(http: &Http, extra: &[PathBuf]) {
    let mut paths = extra.to_vec();
    for s in &http.servers {
        collect(&s.conf, &mut paths);
        collect_locations(&s.locations, &mut paths);
        for l in s.named.values() {
            collect(&l.conf, &mut paths);
        }
    }
    let files = paths
        .into_iter()
        .map(|p| {
            let f = open(&p);
            (p, Arc::new(Mutex::new(f)))
        })
        .collect();
    if let Ok(mut g) = FILES.write() {
        *g = Some(files);
    }
}

/// nginx: the USR1 reopen of `cycle->open_files`.
pub(crate) fn reopen() {
    if let Ok(g) = FILES.read() {
        for (p, f) in g.iter().flatten() {
            if let Ok(mut f) = f.lock() {
                *f = open(p);
            }
        }
    }
}

/// nginx: ngx_http_log_handler.
pub(crate) fn log(r: &Request) {
    let Some(logs) = r.loc.access_log.as_ref() else {
        return;
    };
    for l in logs {
        let mut line = Vec::with_capacity(256);
        for p in &l.format.parts {
            match p {
                Part::Lit(s) => line.extend_from_slice(s),
                Part::Var(name) => {
                    let v = r.variable(name).unwrap_or_default();
                    escape(&mut line, &v, l.format.escape);
                }
                Part::Capture(_) => {}
            }
        }
        line.push(b'\n');
        write_line(&l.path, &line);
    }
}

/// Appends one finished line to the access log opened for `path`.
pub(crate) fn write_line(path: &std::path::Path, line: &[u8]) {
    let file = FILES
        .read()
        .ok()
        .and_then(|g| g.as_ref().and_then(|m| m.get(path).cloned()));
    if let Some(f) = file {
        if let Ok(mut f) = f.lock() {
            if let Some(f) = f.as_mut() {
                let _ = f.write_all(line);
            }
        }
    }
}

/// nginx: ngx_http_log_escape / ngx_http_log_json_variable; an empty value is `-` by default.
pub(crate) fn escape(out: &mut Vec<u8>, v: &[u8], how: Escape) {
    match how {
        Escape::None => out.extend_from_slice(v),
        Escape::Default => {
            if v.is_empty() {
                out.push(b'-');
                return;
            }
            for &c in v {
                if c < 0x20 || c == b'"' || c == b'\\' || c >= 0x7f {
                    out.extend_from_slice(format!("\\x{c:02X}").as_bytes());
                } else {
                    out.push(c);
                }
            }
        }
        Escape::Json => {
            for &c in v {
                match c {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    0x08 => out.extend_from_slice(b"\\b"),
                    0x0c => out.extend_from_slice(b"\\f"),
                    c if c < 0x20 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
                    c => out.push(c),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{escape, Escape};

    #[test]
    fn escapes() {
        let run = |v: &[u8], e| {
            let mut o = Vec::new();
            escape(&mut o, v, e);
            String::from_utf8_lossy(&o).into_owned()
        };
        assert_eq!(run(b"", Escape::Default), "-");
        assert_eq!(run(b"a\"b", Escape::Default), "a\\x22b");
        assert_eq!(run(b"a\"b\n", Escape::Json), "a\\\"b\\n");
        assert_eq!(run(b"", Escape::Json), "");
    }
}
