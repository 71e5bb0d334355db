//! ngx_http_echo_module 0.63: `echo` and friends, content handler and body filter commands.
//!
//! Every command's arguments are compiled as scripts when they hold variables; the commands are
//! kept per location in order for the runtime.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};
use crate::http::variables;

/// location, `if` in location.
const LOC_LIF: Ctx = Ctx::HTTP_LOC.or(Ctx::HTTP_LIF);

const fn echo_cmd(name: &'static str, args: Args) -> Command {
    cmd(name, LOC_LIF, args, Set::Handler(echo))
}

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_echo_module",
    commands: &[
        echo_cmd("echo", Args::ANY),
        echo_cmd("echo_request_body", Args::NOARGS),
        echo_cmd("echo_sleep", Args::TAKE1),
        echo_cmd("echo_flush", Args::NOARGS),
        echo_cmd("echo_blocking_sleep", Args::TAKE1),
        echo_cmd("echo_reset_timer", Args::NOARGS),
        echo_cmd("echo_before_body", Args::ANY),
        echo_cmd("echo_after_body", Args::ANY),
        echo_cmd("echo_location_async", Args::TAKE12),
        echo_cmd("echo_location", Args::TAKE12),
        echo_cmd("echo_subrequest_async", Args::TWOMORE),
        echo_cmd("echo_subrequest", Args::TWOMORE),
        echo_cmd("echo_duplicate", Args::TWOMORE),
        echo_cmd("echo_read_request_body", Args::NOARGS),
        echo_cmd("echo_foreach_split", Args::TWOMORE),
        echo_cmd("echo_end", Args::NOARGS),
        echo_cmd("echo_abort_parent", Args::NOARGS),
        echo_cmd("echo_exec", Args::TAKE12),
        cmd("echo_status", LOC_LIF, Args::TAKE1, Set::Slot(Slot::Num)),
    ],
};

/// Variables the module defines (nginx: ngx_http_echo_variables).
#[allow(dead_code)] // to be wired into crate::http::variables
pub(crate) const VARIABLES: &[&str] = &[
    "echo_timer_elapsed",
    "echo_request_method",
    "echo_cacheable_request_uri",
    "echo_request_uri",
    "echo_client_request_method",
    "echo_request_body",
    "echo_client_request_headers",
    "echo_it",
    "echo_incr",
    "echo_response_status",
];

/// One echo command: its name and raw arguments, in configuration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EchoCmd {
    pub(crate) name: Vec<u8>,
    pub(crate) args: Vec<Vec<u8>>,
}

/// A location's echo commands (nginx: ngx_http_echo_loc_conf_t).
#[derive(Default, Debug)]
pub(crate) struct EchoLoc {
    /// Content handler commands (`echo`, `echo_location`...).
    pub(crate) handler_cmds: Vec<EchoCmd>,
    /// `echo_before_body`.
    pub(crate) before_body_cmds: Vec<EchoCmd>,
    /// `echo_after_body`.
    pub(crate) after_body_cmds: Vec<EchoCmd>,
}

/// nginx: ngx_http_echo_helper (every command's setter goes through it).
fn echo(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    for arg in &d.args {
        if variables::script_variables_count(arg) > 0 {
            variables::compile_complex_value(cf, arg)?;
        }
    }
    let c = EchoCmd {
        name: d.name.clone(),
        args: d.args.clone(),
    };
    let conf = cf.frame().get::<EchoLoc>();
    match d.name.as_slice() {
        b"echo_before_body" => conf.before_body_cmds.push(c),
        b"echo_after_body" => conf.after_body_cmds.push(c),
        _ => conf.handler_cmds.push(c),
    }
    Ok(())
}
