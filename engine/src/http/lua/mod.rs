//! lua-nginx-module: OpenResty's Lua programming model.
//!
//! `directives` holds the directive table and config-time checks; the rest is the run time:
//! `vm` (one LuaJIT VM per worker thread, code cache, coroutines), `api` (the `ngx.*` API in
//! Rust), `phases` (the hooks the request phases call), `shdict` (`ngx.shared.DICT`),
//! `util` (encodings and hashes), `regex` (`ngx.re.*` on PCRE2), `ssl` (the TLS hooks and
//! `ngx.ssl`), `socket`/`udp`/`tls` (the cosockets and their pools), `thread`
//! (`ngx.thread.*`), `timer` (`ngx.timer.*`, `ngx.semaphore`), `cjson` (the built-in
//! `cjson` / `cjson.safe` modules).

pub(crate) mod api;
pub(crate) mod balancer;
pub(crate) mod body;
pub(crate) mod cexports;
pub(crate) mod cjson;
pub(crate) mod directives;
pub(crate) mod phases;
pub(crate) mod regex;
pub(crate) mod shdict;
mod slab;
pub(crate) mod socket;
pub(crate) mod ssl;
pub(crate) mod stream;
pub(crate) mod subrequest;
pub(crate) mod thread;
pub(crate) mod timer;
pub(crate) mod tls;
pub(crate) mod udp;
pub(crate) mod util;
pub(crate) mod vm;
pub(crate) mod worker_thread;

use std::sync::{Arc, RwLock};

use parser::{Body, Directive};

use crate::http::lower::LocConf;
use directives::{handler, Form, LuaHandler};

pub(crate) use phases::{
    access, content, exit_worker, header_filter, init_in_master, init_worker, log, rewrite,
    run_set, server_rewrite, stash_body,
};

/// `set_by_lua* $var code [args...]`: the variable, the handler, its argument values.
#[derive(Debug)]
pub(crate) struct SetByLua {
    pub(crate) var: Vec<u8>,
    pub(crate) handler: Arc<LuaHandler>,
    pub(crate) args: Vec<crate::http::variables::ComplexValue>,
}

/// Lowers a `set_by_lua*` directive into its script step.
pub(crate) fn set_by_lua(d: &Directive) -> Option<Arc<SetByLua>> {
    let form = match d.name.as_slice() {
        b"set_by_lua_block" => Form::Block,
        b"set_by_lua_file" => Form::File,
        _ => Form::Inline,
    };
    let var = d.args.first()?.strip_prefix(b"$")?.to_ascii_lowercase();
    let (code, rest) = match form {
        Form::Block => match &d.body {
            Body::Lua(lb) => (lb.code.clone(), &d.args[1..]),
            _ => return None,
        },
        _ => (d.args.get(1)?.clone(), d.args.get(2..).unwrap_or_default()),
    };
    mark_used();
    Some(Arc::new(SetByLua {
        var,
        handler: Arc::new(handler(d, "set_by_lua", form, &code)),
        args: rest
            .iter()
            .map(|a| crate::http::variables::parse_complex_value(a).unwrap_or_default())
            .collect(),
    }))
}

/// The `http`-level values the VM needs (nginx: ngx_http_lua_main_conf_t at run time).
#[derive(Debug, Clone, Default)]
pub(crate) struct LuaConf {
    pub(crate) init: Option<Arc<LuaHandler>>,
    pub(crate) init_worker: Option<Arc<LuaHandler>>,
    pub(crate) exit_worker: Option<Arc<LuaHandler>>,
    pub(crate) package_path: Vec<u8>,
    pub(crate) package_cpath: Vec<u8>,
    /// `lua_shared_dict name size`.
    pub(crate) dicts: Vec<(Vec<u8>, u64)>,
    /// `lua_max_pending_timers`, `lua_max_running_timers` (timer.rs).
    pub(crate) max_pending_timers: Option<usize>,
    pub(crate) max_running_timers: Option<usize>,
    /// `lua_regex_match_limit` (regex.rs; 0: PCRE's default).
    pub(crate) regex_match_limit: u64,
    /// `lua_worker_thread_vm_pool_size` (worker_thread.rs; unset: 100).
    pub(crate) worker_thread_vm_pool_size: Option<usize>,
}

/// The configuration files' base names (chunk names say `nginx.conf:12`).
static CONF_FILES: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Records the configuration's file names (called before lowering): as
/// ngx_http_lua_gen_chunk_name shows them, `nginx.conf`, a path relative to the main file's
/// directory, or the full path.
pub(crate) fn set_conf_files(files: &[parser::SourceFile]) {
    let prefix = files
        .iter()
        .find(|f| !f.command_line)
        .and_then(|f| f.path.parent())
        .map(|p| format!("{}/", p.to_string_lossy()))
        .unwrap_or_default();
    if let Ok(mut f) = CONF_FILES.write() {
        *f = files
            .iter()
            .map(|s| {
                let full = s.path.to_string_lossy().into_owned();
                if full.ends_with("/nginx.conf") {
                    return "nginx.conf".to_string();
                }
                match full.strip_prefix(&prefix) {
                    Some(rel) if !prefix.is_empty() && !rel.is_empty() => rel.to_string(),
                    _ => full,
                }
            })
            .collect();
    }
}

/// nginx: ngx_http_lua_gen_chunk_name: `=tag(file:line)`, the file's name cut to LuaJIT's
/// chunk name size with a leading `...`.
pub(crate) fn chunk_name(tag: &str, file: usize, line: usize) -> String {
    if tag == "ssl_client_hello_by_lua" {
        // lua-nginx-module 0.10.23 gives this tag one byte too many (the length of
        // "ssl_client_helloo_by_lua"): the NUL it copies ends the chunk name there.
        return "=ssl_client_hello_by_lua".into();
    }
    const MAX: usize = 56;
    let name = conf_file_name(file);
    let line_s = line.to_string();
    let reserve = tag.len() + line_s.len();
    let shown = if name != "nginx.conf" && name.len() + reserve > MAX {
        let keep = MAX.saturating_sub(reserve + 3);
        let cut = name.len().saturating_sub(keep);
        format!("...{}", name.get(cut..).unwrap_or(&name))
    } else {
        name
    };
    format!("={tag}({shown}:{line_s})")
}

/// The configuration file's name as chunk names show it.
pub(crate) fn conf_file_name(i: usize) -> String {
    CONF_FILES
        .read()
        .ok()
        .and_then(|f| f.get(i).cloned())
        .unwrap_or_else(|| "nginx.conf".into())
}

/// Number of workers (ngx.worker.count).
pub(crate) static WORKER_COUNT: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(1);

/// Folds one lua-nginx-module directive into a level's LocConf; false when `d` is not one.
pub(crate) fn lower(c: &mut LocConf, d: &Directive) -> bool {
    let name = d.name.as_slice();
    let Ok(name_str) = std::str::from_utf8(name) else {
        return false;
    };
    let (base, form) = if let Some(b) = name_str.strip_suffix("_block") {
        (b, Form::Block)
    } else if let Some(b) = name_str.strip_suffix("_file") {
        (b, Form::File)
    } else {
        (name_str, Form::Inline)
    };
    let code = match form {
        Form::Block => match &d.body {
            Body::Lua(lb) => lb.code.clone(),
            _ => Vec::new(),
        },
        _ => d.args.last().cloned().unwrap_or_default(),
    };
    let tag: &'static str = match base {
        "rewrite_by_lua" => "rewrite_by_lua",
        "server_rewrite_by_lua" => "server_rewrite_by_lua",
        "access_by_lua" => "access_by_lua",
        "content_by_lua" => "content_by_lua",
        "log_by_lua" => "log_by_lua",
        "header_filter_by_lua" => "header_filter_by_lua",
        "body_filter_by_lua" => "body_filter_by_lua",
        "init_by_lua" => "init_by_lua",
        "init_worker_by_lua" => "init_worker_by_lua",
        "exit_worker_by_lua" => "exit_worker_by_lua",
        "ssl_certificate_by_lua" => "ssl_certificate_by_lua",
        "ssl_client_hello_by_lua" => "ssl_client_hello_by_lua",
        "ssl_session_fetch_by_lua" => "ssl_session_fetch_by_lua",
        "ssl_session_store_by_lua" => "ssl_session_store_by_lua",
        _ => {
            return match name_str {
                "lua_package_path" => {
                    main(c).package_path = d.args.first().cloned().unwrap_or_default();
                    true
                }
                "lua_package_cpath" => {
                    main(c).package_cpath = d.args.first().cloned().unwrap_or_default();
                    true
                }
                "lua_need_request_body" => {
                    c.lua_need_request_body = Some(
                        d.args
                            .first()
                            .is_some_and(|a| a.eq_ignore_ascii_case(b"on")),
                    );
                    true
                }
                "client_body_in_file_only" => {
                    c.client_body_in_file_only = Some(match d.args.first().map(Vec::as_slice) {
                        Some(b"on") => 1,
                        Some(b"clean") => 2,
                        _ => 0,
                    });
                    true
                }
                "client_body_buffer_size" => {
                    c.client_body_buffer_size = d
                        .args
                        .first()
                        .and_then(|s| crate::conf::values::parse_size(s));
                    true
                }
                "lua_transform_underscores_in_response_headers" => {
                    c.lua_transform_underscores = Some(
                        d.args
                            .first()
                            .is_some_and(|a| a.eq_ignore_ascii_case(b"on")),
                    );
                    true
                }
                "lua_check_client_abort" => {
                    c.lua_check_client_abort = Some(
                        d.args
                            .first()
                            .is_some_and(|a| a.eq_ignore_ascii_case(b"on")),
                    );
                    true
                }
                "lua_http10_buffering" => {
                    c.lua_http10_buffering = Some(
                        d.args
                            .first()
                            .is_some_and(|a| a.eq_ignore_ascii_case(b"on")),
                    );
                    true
                }
                "lua_use_default_type" => {
                    c.lua_use_default_type = Some(
                        d.args
                            .first()
                            .is_some_and(|a| a.eq_ignore_ascii_case(b"on")),
                    );
                    true
                }
                "lua_shared_dict" => {
                    let size = d
                        .args
                        .get(1)
                        .and_then(|s| crate::conf::values::parse_size(s))
                        .unwrap_or(0);
                    main(c)
                        .dicts
                        .push((d.args.first().cloned().unwrap_or_default(), size));
                    true
                }
                "lua_worker_thread_vm_pool_size" => {
                    Arc::make_mut(c.lua_main.get_or_insert_with(Default::default))
                        .worker_thread_vm_pool_size = d
                        .args
                        .first()
                        .and_then(|a| std::str::from_utf8(a).ok()?.parse().ok());
                    true
                }
                "lua_regex_match_limit" => {
                    Arc::make_mut(c.lua_main.get_or_insert_with(Default::default))
                        .regex_match_limit = regex::match_limit(d);
                    true
                }
                _ => socket::lower(c, d),
            }
        }
    };
    let h = Some(Arc::new(handler(d, tag, form, &code)));
    match tag {
        "rewrite_by_lua" => c.lua_rewrite = h,
        "server_rewrite_by_lua" => c.lua_server_rewrite = h,
        "access_by_lua" => c.lua_access = h,
        "content_by_lua" => c.lua_content = h,
        "log_by_lua" => c.lua_log = h,
        "header_filter_by_lua" => c.lua_header_filter = h,
        "body_filter_by_lua" => c.lua_body_filter = h,
        "init_by_lua" => main(c).init = h,
        "exit_worker_by_lua" => main(c).exit_worker = h,
        "ssl_certificate_by_lua" => c.lua_ssl_cert = h,
        "ssl_client_hello_by_lua" => c.lua_ssl_client_hello = h,
        "ssl_session_fetch_by_lua" => c.lua_ssl_sess_fetch = h,
        "ssl_session_store_by_lua" => c.lua_ssl_sess_store = h,
        _ => main(c).init_worker = h,
    }
    if !matches!(
        tag,
        "init_by_lua" | "init_worker_by_lua" | "exit_worker_by_lua"
    ) {
        mark_used();
    }
    true
}

/// Some location has a Lua handler: workers make their VM.
static USED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn mark_used() {
    USED.store(true, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) fn used() -> bool {
    USED.load(std::sync::atomic::Ordering::Relaxed)
}

fn main(c: &mut LocConf) -> &mut LuaConf {
    mark_used();
    Arc::make_mut(c.lua_main.get_or_insert_with(Default::default))
}
