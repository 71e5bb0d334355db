//! How nginx looks from outside: the command line, `-v`/`-V`, `-t`/`-T`, the error log format,
//! the pid file and signals.
//!
//! [`main`] follows nginx's `main()` (nginx.c) step by step; the texts, streams and exit codes
//! are nginx's (measured against the reference binary), except where [`version`] says otherwise.

pub mod errlog;
mod master;
pub mod options;
pub mod signal;
pub mod version;

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use engine::Level;

use errlog::{log_stderr, ErrorLog};
use options::Options;

/// Runs the `oxresty` command line (nginx: `main` in nginx.c); returns the exit code.
pub fn main() -> i32 {
    let args: Vec<Vec<u8>> = std::env::args_os().map(|a| a.into_vec()).collect();
    run(&args)
}

/// [`main`] for a given argv (`args[0]` is the program name).
pub fn run(args: &[Vec<u8>]) -> i32 {
    let o = match options::get_options(args) {
        Ok(o) => o,
        Err(msg) => {
            log_stderr(&msg);
            return 1;
        }
    };

    if o.show_version {
        let text = version::show_version_info(o.show_help, o.show_configure);
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
        if !o.test_config {
            return 0;
        }
    }

    let mut log = ErrorLog::init(o.prefix.as_deref(), o.error_log.as_deref());
    let paths = Paths::new(&o);
    if o.test_config {
        log.set_level(Level::Info);
    }
    let conf_file = paths.conf_file.as_slice();
    let test_failed = || {
        if o.test_config {
            log_stderr(&[b"configuration file ", conf_file, b" test failed"].concat());
        }
        1
    };

    // nginx: ngx_init_cycle, the parsing part.
    let load = engine::LoadOptions {
        prefix: os_path(&paths.prefix),
        conf_file: os_path(&paths.conf_file),
        params: o.conf_params.clone(),
        error_log: log.path.as_deref().map(os_path),
    };
    let mut msgs = Vec::new();
    let parsed = engine::parse(&load, &mut msgs);
    log.msgs(&msgs);
    let Ok(parsed) = parsed else {
        return test_failed();
    };
    if o.test_config && !o.quiet {
        log_stderr(&[b"the configuration file ", conf_file, b" syntax is ok"].concat());
    }

    if let Some(sig) = o.signal {
        // nginx: ngx_init_cycle stops after the core modules' init_conf in the signaller
        // (even under -t: then nothing is opened or bound).
        msgs.clear();
        let init = engine::init_conf(&parsed, &mut msgs);
        log.msgs(&msgs);
        if init.is_err() {
            return test_failed();
        }
        if o.test_config {
            return test_successful(&o, conf_file, &parsed);
        }
        let pid = parsed.pid_path();
        return signal::signal_process(&log, pid.as_os_str().as_bytes(), sig);
    }

    // nginx: the rest of ngx_init_cycle.
    msgs.clear();
    let init = engine::init(&parsed, &mut msgs);
    log.msgs(&msgs);
    if init.is_err() {
        return test_failed();
    }
    if o.test_config {
        return test_successful(&o, conf_file, &parsed);
    }
    if let Err(e) = engine::init_lua(&parsed, true) {
        if e.bare {
            log_stderr(format!("[error] {}", e.text).as_bytes());
        } else {
            log.error(engine::Level::Error, e.text.as_bytes());
        }
        return 1;
    }
    master::serve(&log, parsed, &load)
}

/// `-t`/`-T` succeeded: say so (unless `-q`), and under `-T` dump every configuration file.
fn test_successful(o: &Options, conf_file: &[u8], parsed: &engine::Parsed) -> i32 {
    if !o.quiet {
        log_stderr(&[b"configuration file ", conf_file, b" test is successful"].concat());
    }
    if o.dump_config {
        let _ = std::io::stdout()
            .lock()
            .write_all(&config_dump(&parsed.conf));
    }
    0
}

/// What `-T` writes to stdout: each file once, in the order first read, `-g` excluded.
///
/// nginx: the ngx_dump_config loop in main() over `cycle->config_dump` (filled by
/// ngx_conf_add_dump, which skips a file name already dumped)
pub fn config_dump(conf: &parser::Conf) -> Vec<u8> {
    let mut out = Vec::new();
    let mut seen: Vec<&std::path::Path> = Vec::new();
    for f in conf.files.iter().filter(|f| !f.command_line) {
        if seen.contains(&f.path.as_path()) {
            continue;
        }
        seen.push(&f.path);
        out.extend_from_slice(b"# configuration file ");
        out.extend_from_slice(f.path.as_os_str().as_bytes());
        out.extend_from_slice(b":\n");
        out.extend_from_slice(&f.bytes);
        out.push(b'\n');
    }
    out
}

/// The prefix and main file after ngx_process_options.
struct Paths {
    /// `-p` with a `/` appended, or the compiled-in prefix (`-p ""` stays empty).
    prefix: Vec<u8>,
    /// `-c` or the default, made absolute against the prefix (nginx: ngx_conf_full_name).
    conf_file: Vec<u8>,
}

impl Paths {
    /// nginx: ngx_process_options
    fn new(o: &Options) -> Paths {
        let prefix = match &o.prefix {
            Some(p) => {
                let mut p = p.clone();
                if !p.is_empty() && !p.ends_with(b"/") {
                    p.push(b'/');
                }
                p
            }
            None => version::DEFAULT_PREFIX.as_bytes().to_vec(),
        };
        let conf = o
            .conf_file
            .as_deref()
            .unwrap_or(version::DEFAULT_CONF_PATH.as_bytes());
        let conf_file = full_name(&prefix, conf);
        Paths { prefix, conf_file }
    }
}

/// nginx: ngx_get_full_name: `name` if absolute, else `prefix` + `name`.
fn full_name(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    if name.first() == Some(&b'/') {
        name.to_vec()
    } else {
        [prefix, name].concat()
    }
}

/// Bytes as a path, unchanged.
pub(crate) fn os_path(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(bytes))
}
