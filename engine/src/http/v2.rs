//! ngx_http_v2_module: HTTP/2 settings, with nginx 1.22.1's checks; plus the `http2 on|off`
//! directive of nginx >= 1.25.1, which oxresty accepts too.

use parser::Directive;

use super::upstream;
use crate::conf::values::{atoi, parse_size};
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_v2_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[
    // nginx >= 1.25.1 syntax (`listen ... http2` is the 1.22 one); oxresty accepts both.
    cmd(
        "http2",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "http2_recv_buffer_size",
        Ctx::HTTP_MAIN,
        Args::TAKE1,
        Set::Handler(recv_buffer_size),
    ),
    cmd(
        "http2_pool_size",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Handler(pool_size),
    ),
    cmd(
        "http2_max_concurrent_streams",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "http2_max_concurrent_pushes",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "http2_max_requests",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Handler(obsolete),
    ),
    cmd(
        "http2_max_field_size",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Handler(obsolete),
    ),
    cmd(
        "http2_max_header_size",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Handler(obsolete),
    ),
    cmd(
        "http2_body_preread_size",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Handler(preread_size),
    ),
    cmd(
        "http2_streams_index_size",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Handler(streams_index_mask),
    ),
    cmd(
        "http2_recv_timeout",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Handler(obsolete),
    ),
    cmd(
        "http2_idle_timeout",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Handler(obsolete),
    ),
    cmd(
        "http2_chunk_size",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(chunk_size),
    ),
    cmd(
        "http2_push_preload",
        Ctx::HTTP_MSL,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "http2_push",
        Ctx::HTTP_MSL,
        Args::TAKE1,
        Set::Handler(v2_push),
    ),
];

/// Variables ngx_http_v2_module defines.
pub(crate) const VARIABLES: &[&str] = &["http2"];

/// The size slot's checks (nginx: ngx_conf_set_size_slot), then the value.
fn size(cf: &mut Cf<'_>, d: &Directive) -> Result<u64, Option<String>> {
    if upstream::seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    parse_size(&d.args[0]).ok_or_else(|| Some("invalid value".to_string()))
}

/// nginx: ngx_http_v2_recv_buffer_size.
fn recv_buffer_size(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    // 2 * NGX_HTTP_V2_STATE_BUFFER_SIZE
    if size(cf, d)? <= 2 * 16 {
        return Err(Some("value is too small".into()));
    }
    Ok(())
}

/// nginx: ngx_http_v2_pool_size.
fn pool_size(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let n = size(cf, d)?;
    // NGX_MIN_POOL_SIZE and NGX_POOL_ALIGNMENT on 64-bit Linux
    if n < 112 {
        return Err(cf.emerg("the pool size must be no less than 112").into());
    }
    if n % 16 != 0 {
        return Err(cf.emerg("the pool size must be a multiple of 16").into());
    }
    Ok(())
}

/// nginx: ngx_http_v2_preread_size.
fn preread_size(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    // NGX_HTTP_V2_MAX_WINDOW
    if size(cf, d)? > (1 << 31) - 1 {
        return Err(cf
            .emerg("the maximum body preread buffer size is 2147483647")
            .into());
    }
    Ok(())
}

/// nginx: ngx_http_v2_streams_index_mask (after ngx_conf_set_num_slot).
fn streams_index_mask(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if upstream::seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    let Some(n) = atoi(&d.args[0]) else {
        return Err(Some("invalid number".into()));
    };
    if n == 0 || n & (n - 1) != 0 {
        return Err(Some("must be a power of two".into()));
    }
    Ok(())
}

/// nginx: ngx_http_v2_chunk_size.
fn chunk_size(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if size(cf, d)? == 0 {
        return Err(cf.emerg("the http2 chunk size cannot be zero").into());
    }
    Ok(())
}

/// nginx: ngx_http_v2_obsolete.
fn obsolete(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let new = match d.name.as_slice() {
        b"http2_recv_timeout" => "client_header_timeout",
        b"http2_idle_timeout" => "keepalive_timeout",
        b"http2_max_requests" => "keepalive_requests",
        _ => "large_client_header_buffers",
    };
    let text = format!(
        "the \"{}\" directive is obsolete, use the \"{new}\" directive instead",
        String::from_utf8_lossy(&d.name)
    );
    cf.conf_log(Level::Warn, text);
    Ok(())
}

/// One level's `http2_push` state (nginx: `h2lcf->push`, `h2lcf->pushes`).
#[derive(Default)]
struct Push {
    off: bool,
    uris: bool,
}

/// nginx: ngx_http_v2_push.
fn v2_push(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let v = &d.args[0];
    let st = cf.frame().get::<Push>();
    if v.as_slice() == b"off" {
        if st.uris {
            return Err(Some("\"off\" parameter cannot be used with URI".into()));
        }
        if st.off {
            return Err(Some("is duplicate".into()));
        }
        st.off = true;
        return Ok(());
    }
    if st.off {
        return Err(Some("URI cannot be used with \"off\" parameter".into()));
    }
    st.uris = true;
    crate::http::variables::compile_complex_value(cf, v)?;
    Ok(())
}
