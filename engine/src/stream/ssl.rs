//! ngx_stream_ssl_module: TLS for stream servers.

use parser::Directive;

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_ssl_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[
    cmd(
        "ssl_handshake_timeout",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Msec),
    ),
    cmd(
        "ssl_certificate",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::StrArray),
    ),
    cmd(
        "ssl_certificate_key",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::StrArray),
    ),
    cmd(
        "ssl_password_file",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Handler(ssl_password_file),
    ),
    cmd(
        "ssl_dhparam",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "ssl_ecdh_curve",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "ssl_protocols",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::ONEMORE,
        Set::Slot(Slot::Bitmask(&[
            "SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3",
        ])),
    ),
    cmd(
        "ssl_ciphers",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "ssl_verify_client",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Enum(&["off", "on", "optional", "optional_no_ca"])),
    ),
    cmd(
        "ssl_verify_depth",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "ssl_client_certificate",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "ssl_trusted_certificate",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "ssl_prefer_server_ciphers",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "ssl_session_cache",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE12,
        Set::Handler(ssl_session_cache),
    ),
    cmd(
        "ssl_session_tickets",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "ssl_session_ticket_key",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::StrArray),
    ),
    cmd(
        "ssl_session_timeout",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Sec),
    ),
    cmd(
        "ssl_crl",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "ssl_conf_command",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::TAKE2,
        Set::Slot(Slot::KeyVal),
    ),
    cmd(
        "ssl_alpn",
        Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
        Args::ONEMORE,
        Set::Handler(ssl_alpn),
    ),
];

/// One stream server's `listen ... ssl` (nginx: `sslcf->listen`, `file`, `line`).
#[derive(Default)]
pub(crate) struct StreamSslConf {
    pub(crate) listen: Option<(usize, usize)>,
}

/// nginx: ngx_stream_ssl_password_file.
fn ssl_password_file(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    crate::http::upstream::ssl_password_file(cf, d)
}

/// nginx: ngx_stream_ssl_session_cache.
fn ssl_session_cache(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    crate::http::ssl::session_cache(cf, d, "ngx_stream_ssl_module")
}

/// nginx: ngx_stream_ssl_alpn (each protocol at most 255 bytes).
fn ssl_alpn(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if crate::http::upstream::seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    for a in &d.args {
        if a.len() > 255 {
            return Err(Some("protocol too long".into()));
        }
    }
    Ok(())
}

/// Variables ngx_stream_ssl_module defines.
pub(crate) const VARIABLES: &[&str] = &[
    "ssl_protocol",
    "ssl_cipher",
    "ssl_ciphers",
    "ssl_curve",
    "ssl_curves",
    "ssl_session_id",
    "ssl_session_reused",
    "ssl_server_name",
    "ssl_alpn_protocol",
    "ssl_client_cert",
    "ssl_client_raw_cert",
    "ssl_client_escaped_cert",
    "ssl_client_s_dn",
    "ssl_client_i_dn",
    "ssl_client_serial",
    "ssl_client_fingerprint",
    "ssl_client_verify",
    "ssl_client_v_start",
    "ssl_client_v_end",
    "ssl_client_v_remain",
];
