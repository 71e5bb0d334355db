//! ngx_http_log_module: `log_format`, `access_log`, `open_log_file_cache`.

use std::collections::HashMap;
use std::path::PathBuf;

use parser::Directive;

use crate::conf::dispatch::{Failed, Frame};
use crate::conf::values::{atoi, parse_size, parse_time};
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult};
use crate::cycle::{full_name, CycleConf};
use crate::http::variables;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_log_module",
    commands: &[
        cmd(
            "log_format",
            Ctx::HTTP_MAIN,
            Args::TWOMORE,
            Set::Handler(log_set_format),
        ),
        cmd(
            "access_log",
            Ctx::HTTP_MSL.or(Ctx::HTTP_LIF).or(Ctx::HTTP_LMT),
            Args::ONEMORE,
            Set::Handler(log_set_log),
        ),
        cmd(
            "open_log_file_cache",
            Ctx::HTTP_MSL,
            Args::TAKE1234,
            Set::Handler(log_open_file_cache),
        ),
    ],
};

/// The access log nginx opens where no level says `access_log` (Debian's `--http-log-path`).
pub(crate) const DEFAULT_ACCESS_LOG: &str = "logs/access.log";

/// nginx: the built-in `$name`s of log formats (ngx_http_log_vars), which are not variables.
const LOG_VARS: &[&str] = &[
    "pipe",
    "time_local",
    "time_iso8601",
    "msec",
    "request_time",
    "status",
    "bytes_sent",
    "body_bytes_sent",
    "request_length",
];

/// The `http` level's log state (nginx: ngx_http_log_main_conf_t).
#[derive(Debug)]
pub(crate) struct LogMain {
    /// Format names in definition order; `combined` is predefined.
    formats: Vec<Vec<u8>>,
    /// A server level has no `access_log` of its own or inherited: the default log is opened.
    default_used: bool,
}

impl Default for LogMain {
    fn default() -> Self {
        LogMain {
            formats: vec![b"combined".to_vec()],
            default_used: false,
        }
    }
}

/// One level's log state (nginx: ngx_http_log_loc_conf_t).
#[derive(Default, Debug)]
pub(crate) struct LogLoc {
    /// `access_log` (a log or `off`) was given at this level.
    set: bool,
    /// `open_log_file_cache` was given at this level.
    cache_set: bool,
}

/// Buffers of buffered log files, by full path (nginx: `ngx_open_file_t.data`, shared by the
/// whole cycle).
#[derive(Default, Debug)]
struct LogBuffers {
    by_file: HashMap<PathBuf, (u64, i64, i64)>,
}

fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

/// nginx: ngx_conf_open_file: the file joins the cycle's list once.
pub(crate) fn open_file(cf: &mut Cf<'_>, name: &[u8]) -> PathBuf {
    let path = full_name(&cf.prefix, name);
    let files = &mut cf.main().get::<CycleConf>().open_files;
    if !files.contains(&path) {
        files.push(path.clone());
    }
    path
}

fn main_conf<'c>(cf: &'c mut Cf<'_>) -> Option<&'c mut LogMain> {
    cf.enclosing(Ctx::HTTP_MAIN).map(Frame::get::<LogMain>)
}

/// nginx: ngx_http_log_set_log
fn log_set_log(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let value = &d.args;
    let Some(target) = value.first() else {
        return Ok(());
    };
    cf.frame().get::<LogLoc>().set = true;
    if target == b"off" {
        return match value.get(1) {
            None => Ok(()),
            Some(v) => Err(cf
                .emerg(format!("invalid parameter \"{}\"", lossy(v)))
                .into()),
        };
    }

    let mut file = None;
    let mut script = false;
    let syslog = target.starts_with(b"syslog:");
    if syslog {
        crate::core::syslog_process_conf(cf, &target[7..])?;
    } else if variables::script_variables_count(target) == 0 {
        file = Some(open_file(cf, target));
    } else {
        script = true;
        variables::compile_complex_value(cf, target)?;
    }

    let name: &[u8] = value.get(1).map_or(b"combined", Vec::as_slice);
    let known =
        main_conf(cf).is_none_or(|m| m.formats.iter().any(|f| f.eq_ignore_ascii_case(name)));
    if !known {
        return Err(cf
            .emerg(format!("unknown log format \"{}\"", lossy(name)))
            .into());
    }

    let (mut size, mut flush, mut gzip) = (0u64, 0i64, 0i64);
    for v in value.iter().skip(2) {
        if let Some(s) = v.strip_prefix(b"buffer=") {
            size = match parse_size(s) {
                Some(n) if n > 0 => n,
                _ => {
                    return Err(cf
                        .emerg(format!("invalid buffer size \"{}\"", lossy(s)))
                        .into())
                }
            };
            continue;
        }
        if let Some(s) = v.strip_prefix(b"flush=") {
            flush = match parse_time(s, false) {
                Some(n) if n > 0 => n,
                _ => {
                    return Err(cf
                        .emerg(format!("invalid flush time \"{}\"", lossy(s)))
                        .into())
                }
            };
            continue;
        }
        if v.starts_with(b"gzip") && (v.len() == 4 || v[4] == b'=') {
            if size == 0 {
                size = 64 * 1024;
            }
            if v.len() == 4 {
                gzip = 1;
                continue;
            }
            let s = &v[5..];
            gzip = match atoi(s) {
                Some(n) if (1..=9).contains(&n) => n,
                _ => {
                    return Err(cf
                        .emerg(format!("invalid compression level \"{}\"", lossy(s)))
                        .into())
                }
            };
            continue;
        }
        if let Some(s) = v.strip_prefix(b"if=") {
            variables::compile_complex_value(cf, s)?;
            continue;
        }
        return Err(cf
            .emerg(format!("invalid parameter \"{}\"", lossy(v)))
            .into());
    }

    if flush != 0 && size == 0 {
        return Err(cf
            .emerg(format!(
                "no buffer is defined for access_log \"{}\"",
                lossy(target)
            ))
            .into());
    }
    if size != 0 {
        if script {
            return Err(cf
                .emerg("buffered logs cannot have variables in name")
                .into());
        }
        if syslog {
            return Err(cf.emerg("logs to syslog cannot be buffered").into());
        }
        if let Some(path) = file {
            let buffers = &mut cf.main().get::<LogBuffers>().by_file;
            match buffers.get(&path) {
                Some(&b) if b != (size, flush, gzip) => {
                    return Err(cf
                        .emerg(format!(
                            "access_log \"{}\" already defined with conflicting parameters",
                            lossy(target)
                        ))
                        .into());
                }
                Some(_) => {}
                None => {
                    buffers.insert(path, (size, flush, gzip));
                }
            }
        }
    }
    Ok(())
}

/// nginx: ngx_http_log_set_format
fn log_set_format(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let Some(name) = d.args.first() else {
        return Ok(());
    };
    if let Some(m) = main_conf(cf) {
        if m.formats.iter().any(|f| f == name) {
            return Err(cf
                .emerg(format!("duplicate \"log_format\" name \"{}\"", lossy(name)))
                .into());
        }
        m.formats.push(name.clone());
    }
    log_compile_format(cf, &d.args[1..])?;
    Ok(())
}

/// nginx: ngx_http_log_compile_format: checks the `$var`s of a format and registers them.
pub(crate) fn log_compile_format(cf: &mut Cf<'_>, args: &[Vec<u8>]) -> Result<(), Failed> {
    let mut args = args;
    if let Some(first) = args.first() {
        if let Some(data) = first.strip_prefix(b"escape=") {
            if !matches!(data, b"json" | b"none" | b"default") {
                return Err(cf.emerg(format!(
                    "unknown log format escaping \"{}\"",
                    lossy(c_str(data))
                )));
            }
            args = &args[1..];
        }
    }
    for v in args {
        let mut i = 0;
        while i < v.len() {
            let data = &v[i..];
            if v[i] != b'$' {
                i += 1;
                while i < v.len() && v[i] != b'$' {
                    i += 1;
                }
                continue;
            }
            let invalid =
                |cf: &mut Cf<'_>| cf.emerg(format!("invalid parameter \"{}\"", lossy(c_str(data))));
            i += 1;
            if i == v.len() {
                return Err(invalid(cf));
            }
            let mut bracket = false;
            if v[i] == b'{' {
                bracket = true;
                i += 1;
                if i == v.len() {
                    return Err(invalid(cf));
                }
            }
            let start = i;
            let mut end = i;
            while i < v.len() {
                let ch = v[i];
                if ch == b'}' && bracket {
                    end = i;
                    i += 1;
                    bracket = false;
                    break;
                }
                if ch.is_ascii_alphanumeric() || ch == b'_' {
                    i += 1;
                    end = i;
                    continue;
                }
                end = i;
                break;
            }
            let var = &v[start..end.max(start)];
            if bracket {
                return Err(cf.emerg(format!(
                    "the closing bracket in \"{}\" variable is missing",
                    lossy(var)
                )));
            }
            if var.is_empty() {
                return Err(invalid(cf));
            }
            if LOG_VARS.iter().any(|l| l.as_bytes() == var) {
                continue;
            }
            variables::get_variable_index(cf, var)?;
        }
    }
    Ok(())
}

/// A C string view: what `%s` prints of a configuration argument (up to a NUL byte).
fn c_str(s: &[u8]) -> &[u8] {
    s.split(|&c| c == 0).next().unwrap_or_default()
}

/// nginx: ngx_http_log_open_file_cache
fn log_open_file_cache(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let state = cf.frame().get::<LogLoc>();
    if state.cache_set {
        return Err(Some("is duplicate".into()));
    }
    state.cache_set = true;
    let (mut max, mut off) = (0i64, false);
    for v in &d.args {
        let ok = if let Some(s) = v.strip_prefix(b"max=") {
            atoi(s).map(|n| max = n).is_some()
        } else if let Some(s) = v.strip_prefix(b"inactive=") {
            parse_time(s, true).is_some()
        } else if let Some(s) = v.strip_prefix(b"min_uses=") {
            atoi(s).is_some()
        } else if let Some(s) = v.strip_prefix(b"valid=") {
            parse_time(s, true).is_some()
        } else if v == b"off" {
            off = true;
            true
        } else {
            false
        };
        if !ok {
            return Err(cf
                .emerg(format!(
                    "invalid \"open_log_file_cache\" parameter \"{}\"",
                    lossy(v)
                ))
                .into());
        }
    }
    if off {
        return Ok(());
    }
    if max == 0 {
        return Err(cf
            .emerg("\"open_log_file_cache\" must have \"max\" parameter")
            .into());
    }
    Ok(())
}

/// nginx: ngx_http_log_merge_loc_conf for a `server` level: with no `access_log` in the server
/// nor in `http`, the server logs to the default access log. Call with the finished server
/// level while the `http` level is the current one.
pub(crate) fn merge_server(cf: &mut Cf<'_>, server: &mut Frame) {
    if server.get::<LogLoc>().set {
        return;
    }
    let Some(http) = cf.enclosing(Ctx::HTTP_MAIN) else {
        return;
    };
    if http.get::<LogLoc>().set {
        return;
    }
    http.get::<LogMain>().default_used = true;
}

/// nginx: the end of ngx_http_block's merges: the default access log, if a server uses it,
/// joins the cycle's files. Call with the `http` level once every server was merged.
pub(crate) fn merge_http(cf: &mut Cf<'_>, http: &mut Frame) {
    if http.get::<LogMain>().default_used {
        open_file(cf, DEFAULT_ACCESS_LOG.as_bytes());
    }
}
