//! ngx_http_memcached_module: `memcached_pass` and the `memcached_*` directives.

use parser::Directive;

use super::upstream::{self};
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_memcached_module",
    commands: COMMANDS,
};

/// nginx's module tag for shared zones.
#[allow(dead_code)]
const TAG: &str = "ngx_http_memcached_module";

static COMMANDS: &[Command] = &[
    cmd(
        "memcached_pass",
        Ctx::HTTP_LOC.or(Ctx::HTTP_LIF),
        Args::TAKE1,
        Set::Handler(memcached_pass),
    ),
    cmd(
        "memcached_bind",
        Ctx::HTTP_MSL,
        Args::TAKE12,
        Set::Handler(super::upstream::bind_slot),
    ),
    cmd(
        "memcached_socket_keepalive",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "memcached_connect_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "memcached_send_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "memcached_buffer_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "memcached_read_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "memcached_next_upstream",
        Ctx::HTTP_MSL,
        Args::ONEMORE,
        Set::Slot(Slot::Bitmask(&[
            "error",
            "timeout",
            "invalid_response",
            "not_found",
            "off",
        ])),
    ),
    cmd(
        "memcached_next_upstream_tries",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "memcached_next_upstream_timeout",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "memcached_gzip_flag",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
];

/// nginx: ngx_http_memcached_pass (no variables in the URL; `$memcached_key` must exist).
fn memcached_pass(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let st = cf
        .frame()
        .get::<upstream::PassState<{ upstream::MEMCACHED }>>();
    if st.pass {
        return Err(Some("is duplicate".into()));
    }
    st.pass = true;
    let o = upstream::UrlOpts {
        default_port: 0,
        uri_part: false,
        no_resolve: true,
        listen: false,
    };
    upstream::upstream_add_url(cf, d, &d.args[0], o)?;
    crate::http::variables::get_variable_index(cf, b"memcached_key")?;
    Ok(())
}
