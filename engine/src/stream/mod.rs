//! ngx_stream_module: the `stream` block, and the stream modules, one file each.

pub(crate) mod access;
pub(crate) mod core;
pub(crate) mod geo;
pub(crate) mod limit_conn;
pub(crate) mod log;
pub(crate) mod lua;
pub(crate) mod map;
pub(crate) mod proxy;
pub(crate) mod realip;
pub(crate) mod r#return;
pub(crate) mod run;
pub(crate) mod set;
pub(crate) mod split_clients;
pub(crate) mod ssl;
pub(crate) mod ssl_preread;
pub(crate) mod upstream;
pub(crate) mod upstream_hash;
pub(crate) mod upstream_least_conn;
pub(crate) mod upstream_random;
pub(crate) mod upstream_zone;

use parser::{Body, Directive};

use crate::conf::dispatch::Failed;
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult};
use crate::http::variables::{ComplexValue, Part};
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[cmd(
    "stream",
    Ctx::MAIN,
    Args::BLOCK.or(Args::NOARGS),
    Set::Handler(block),
)];

/// nginx: ngx_stream_block. Walks `stream {}` (oxresty has the stream modules built in; the
/// reference loads them with `load_module .../ngx_stream_module.so`), then does what nginx
/// does when the block ends: upstream init, the variables check.
fn block(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if crate::http::upstream::seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    let Body::Block(b) = &d.body else {
        return Ok(());
    };
    let conf = cf.conf;
    let Some(b) = crate::http::upstream::find_block(&conf.directives, b) else {
        return Ok(());
    };
    let mut frame = cf.block(b, Ctx::STREAM_MAIN)?;
    // nginx: the core module's server merge, ngx_stream_upstream_init_main_conf, then
    // ngx_stream_variables_init_vars
    core::merge_servers(cf, &mut frame)?;
    upstream::init_main_conf(cf, &mut frame)?;
    let vars = frame.take::<StreamVariables>();
    init_vars(cf, &vars)?;
    Ok(())
}

/// Built-in stream variables, each module's own list (nginx: each module's preconfiguration).
const BUILTIN: &[&[&str]] = &[
    VARIABLES,
    upstream::VARIABLES,
    ssl::VARIABLES,
    ssl_preread::VARIABLES,
    realip::VARIABLES,
    limit_conn::VARIABLES,
];

/// Variables ngx_stream_core_module defines (nginx: ngx_stream_core_variables).
pub(crate) const VARIABLES: &[&str] = &[
    "binary_remote_addr",
    "remote_addr",
    "remote_port",
    "proxy_protocol_addr",
    "proxy_protocol_port",
    "proxy_protocol_server_addr",
    "proxy_protocol_server_port",
    "server_addr",
    "server_port",
    "bytes_sent",
    "bytes_received",
    "session_time",
    "status",
    "connection",
    "nginx_version",
    "hostname",
    "pid",
    "msec",
    "time_iso8601",
    "time_local",
    "protocol",
];

/// The variables of one `stream` block (nginx: `cmcf->variables_keys`, `cmcf->variables`).
#[derive(Default, Debug)]
pub(crate) struct StreamVariables {
    defined: std::collections::HashMap<Vec<u8>, bool>,
    used: Vec<Vec<u8>>,
}

fn vars<'c>(cf: &'c mut Cf<'_>) -> Option<&'c mut StreamVariables> {
    cf.enclosing(Ctx::STREAM_MAIN)
        .map(|f| f.get::<StreamVariables>())
}

fn is_builtin(key: &[u8]) -> bool {
    BUILTIN
        .iter()
        .flat_map(|m| m.iter())
        .any(|b| b.as_bytes() == key)
}

/// nginx: ngx_stream_add_variable.
pub(crate) fn add_variable(cf: &mut Cf<'_>, name: &[u8], changeable: bool) -> Result<(), Failed> {
    let key = name.to_ascii_lowercase();
    let Some(v) = vars(cf) else { return Ok(()) };
    let existing = match v.defined.get(&key) {
        Some(&c) => Some(c),
        None if is_builtin(&key) => Some(false),
        None => None,
    };
    match existing {
        Some(true) => Ok(()),
        None => {
            v.defined.insert(key, changeable);
            Ok(())
        }
        Some(false) => Err(cf.emerg(format!(
            "the duplicate \"{}\" variable",
            String::from_utf8_lossy(name)
        ))),
    }
}

/// nginx: ngx_stream_get_variable_index.
pub(crate) fn get_variable_index(cf: &mut Cf<'_>, name: &[u8]) -> Result<(), Failed> {
    if name.is_empty() {
        return Err(cf.emerg("invalid variable name"));
    }
    let key = name.to_ascii_lowercase();
    if let Some(v) = vars(cf) {
        if !v.used.contains(&key) {
            v.used.push(key);
        }
    }
    Ok(())
}

/// nginx: ngx_stream_compile_complex_value (the http syntax, stream's variables).
pub(crate) fn compile_complex_value(cf: &mut Cf<'_>, value: &[u8]) -> Result<ComplexValue, Failed> {
    let cv = crate::http::variables::parse_complex_value(value).map_err(|t| cf.emerg(t))?;
    for p in &cv.parts {
        if let Part::Var(name) = p {
            get_variable_index(cf, name)?;
        }
    }
    Ok(cv)
}

/// nginx: ngx_stream_variables_init_vars.
fn init_vars(cf: &mut Cf<'_>, v: &StreamVariables) -> Result<(), Failed> {
    for name in &v.used {
        if !v.defined.contains_key(name) && !is_builtin(name) {
            cf.log(
                Level::Emerg,
                format!("unknown \"{}\" variable", String::from_utf8_lossy(name)),
            );
            return Err(Failed);
        }
    }
    Ok(())
}

/// nginx: ngx_stream_set_complex_value_slot.
pub(crate) fn complex_value_slot(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if crate::http::upstream::seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    compile_complex_value(cf, &d.args[0])?;
    Ok(())
}

/// nginx: ngx_stream_set_complex_value_zero_slot.
pub(crate) fn complex_value_zero_slot(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    complex_value_slot(cf, d)
}

/// nginx: ngx_stream_set_complex_value_size_slot (a constant must be a size).
pub(crate) fn complex_value_size_slot(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if crate::http::upstream::seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    let cv = compile_complex_value(cf, &d.args[0])?;
    if cv.is_static() && crate::conf::values::parse_size(&d.args[0]).is_none() {
        return Err(Some("invalid value".into()));
    }
    Ok(())
}
