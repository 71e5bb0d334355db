//! oxresty's engine: nginx.conf AST -> typed, merged, frozen Config -> running workers.
//!
//! Configuration loading mirrors nginx's `ngx_init_cycle`: [`parse`] reads `-g` and the main
//! file through the directive table (everything nginx checks before "syntax is ok"), then
//! [`init`] does what follows it (core module init, pid file, log files, listening sockets).

mod conf;
mod core;
mod cycle;
mod event;
mod http;
mod log;
mod modules;
mod process;
mod regex;
mod stream;
mod worker;

pub use log::{log_time, pid_tid, Level, LogMsg};
pub use process::{reopen_logs, start, MainConf};
pub use worker::{Listeners, Stop, Workers};

/// Loading stopped; why is in the messages logged (nginx: `ngx_init_cycle` returned NULL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed;

/// Every module built in, in nginx's order, with its number of directive rows.
pub fn modules() -> Vec<(&'static str, usize)> {
    modules::MODULES
        .iter()
        .map(|m| (m.name, m.commands.len()))
        .collect()
}

use std::path::PathBuf;

/// What the command line says about where the configuration is.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// nginx's prefix (`-p`), ending in `/`.
    pub prefix: PathBuf,
    /// The main configuration file, absolute.
    pub conf_file: PathBuf,
    /// `-g` directives.
    pub params: Option<Vec<u8>>,
    /// The `-e` error log, absolute (`None`: stderr); used when the configuration sets no
    /// main-level `error_log`.
    pub error_log: Option<PathBuf>,
}

/// A configuration that parsed: the tree (kept for `-T`) and what the modules made of it.
pub struct Parsed {
    pub conf: parser::Conf,
    /// The `-g` directives' tree.
    params: Option<parser::Conf>,
    state: cycle::CycleConf,
}

/// nginx: the parsing part of ngx_init_cycle (`ngx_conf_param` + `ngx_conf_parse`).
///
/// Every message logged is appended to `log`, in nginx's order.
pub fn parse(opts: &LoadOptions, log: &mut Vec<LogMsg>) -> Result<Parsed, Failed> {
    cycle::parse(opts, log).map_err(|()| Failed)
}

impl Parsed {
    /// The pid file (`pid`, or `logs/nginx.pid` under the prefix).
    pub fn pid_path(&self) -> PathBuf {
        cycle::pid_path(&self.state)
    }

    /// The main context's values the process model needs.
    pub fn main_conf(&self) -> MainConf {
        process::main_conf(self)
    }
}

/// Writes a message to the running configuration's error logs (nginx: ngx_log_error on the
/// cycle's log).
pub fn error_log(level: Level, text: &str) {
    http::errlog::write(level, text);
}

/// nginx: the core modules' init_conf, all that `-s` runs before signalling.
pub fn init_conf(parsed: &Parsed, log: &mut Vec<LogMsg>) -> Result<(), Failed> {
    cycle::init_conf(parsed, log).map_err(|()| Failed)
}

/// `init_by_lua*` failed, which stops the cycle: lua-nginx-module's `[error]` text, and
/// whether nginx writes it bare (`nginx: [error] ...`), as it does at start-up when
/// `lua_shared_dict`s defer the code to shared-memory init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuaInitFailed {
    pub text: String,
    pub bare: bool,
}

/// nginx: ngx_http_lua_init: runs `init_by_lua*` once for this cycle, in the calling thread
/// (the master), before any worker starts; each worker's VM runs it again for its own state
/// without logging. `first`: the first cycle, whose log is still stderr.
pub fn init_lua(parsed: &Parsed, first: bool) -> Result<(), LuaInitFailed> {
    process::init_lua(parsed, first).map_err(|(text, bare)| LuaInitFailed { text, bare })
}

/// nginx: the rest of ngx_init_cycle under `-t`: module init, pid file, files, sockets.
pub fn init(parsed: &Parsed, log: &mut Vec<LogMsg>) -> Result<(), Failed> {
    cycle::init(parsed, log).map_err(|()| Failed)
}
