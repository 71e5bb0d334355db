//! ngx_http_ssl_module: TLS for http servers. Directive-time checks here; the certificate
//! checks nginx does when it merges server configurations ([`merge_srv_conf`]) and after
//! (`listen ... ssl` without a certificate: [`postconfiguration`]).

use parser::Directive;

use super::upstream;
use crate::conf::dispatch::Failed;
use crate::conf::values::{atoi, parse_size};
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_ssl_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[
    cmd(
        "ssl",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::FLAG,
        Set::Handler(ssl_enable),
    ),
    cmd(
        "ssl_certificate",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Handler(certificate),
    ),
    cmd(
        "ssl_certificate_key",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Handler(certificate_key),
    ),
    cmd(
        "ssl_password_file",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Handler(ssl_password_file),
    ),
    cmd(
        "ssl_dhparam",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "ssl_ecdh_curve",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "ssl_protocols",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::ONEMORE,
        Set::Slot(Slot::Bitmask(&[
            "SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3",
        ])),
    ),
    cmd(
        "ssl_ciphers",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "ssl_buffer_size",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Size),
    ),
    cmd(
        "ssl_verify_client",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Handler(verify_client),
    ),
    cmd(
        "ssl_verify_depth",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Num),
    ),
    cmd(
        "ssl_client_certificate",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Handler(client_certificate),
    ),
    cmd(
        "ssl_trusted_certificate",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Handler(trusted_certificate),
    ),
    cmd(
        "ssl_prefer_server_ciphers",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "ssl_session_cache",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE12,
        Set::Handler(ssl_session_cache),
    ),
    cmd(
        "ssl_session_tickets",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "ssl_session_ticket_key",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Handler(session_ticket_key),
    ),
    cmd(
        "ssl_session_timeout",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Sec),
    ),
    cmd(
        "ssl_crl",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "ssl_ocsp",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::FLAG,
        Set::Slot(Slot::Enum(&["off", "on", "leaf"])),
    ),
    cmd(
        "ssl_ocsp_responder",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "ssl_ocsp_cache",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Handler(ssl_ocsp_cache),
    ),
    cmd(
        "ssl_stapling",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::FLAG,
        Set::Handler(stapling),
    ),
    cmd(
        "ssl_stapling_file",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Handler(stapling_file),
    ),
    cmd(
        "ssl_stapling_responder",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE1,
        Set::Slot(Slot::Str),
    ),
    cmd(
        "ssl_stapling_verify",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "ssl_early_data",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::FLAG,
        Set::Slot(Slot::Flag),
    ),
    cmd(
        "ssl_conf_command",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TAKE2,
        Set::Slot(Slot::KeyVal),
    ),
    cmd(
        "ssl_reject_handshake",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::FLAG,
        Set::Handler(reject_handshake),
    ),
];

/// Variables ngx_http_ssl_module defines (nginx: ngx_http_ssl_vars).
pub(crate) const VARIABLES: &[&str] = &[
    "ssl_protocol",
    "ssl_cipher",
    "ssl_ciphers",
    "ssl_curve",
    "ssl_curves",
    "ssl_session_id",
    "ssl_session_reused",
    "ssl_early_data",
    "ssl_server_name",
    "ssl_alpn_protocol",
    "ssl_client_cert",
    "ssl_client_raw_cert",
    "ssl_client_escaped_cert",
    "ssl_client_s_dn",
    "ssl_client_i_dn",
    "ssl_client_s_dn_legacy",
    "ssl_client_i_dn_legacy",
    "ssl_client_serial",
    "ssl_client_fingerprint",
    "ssl_client_verify",
    "ssl_client_v_start",
    "ssl_client_v_end",
    "ssl_client_v_remain",
];

/// One level's ssl settings that the merge-time checks need (nginx: part of
/// ngx_http_ssl_srv_conf_t). Kept in the `http` and each `server` level.
#[derive(Default, Debug, Clone)]
pub(crate) struct SslConf {
    /// `ssl on|off` and where (nginx: `enable`, `file`, `line`).
    pub(crate) enable: Option<(bool, usize, usize)>,
    pub(crate) certificates: Option<Vec<Vec<u8>>>,
    pub(crate) certificate_keys: Option<Vec<Vec<u8>>>,
    pub(crate) reject_handshake: Option<bool>,
    /// `ssl_verify_client`: 0 off, 1 on, 2 optional, 3 optional_no_ca.
    pub(crate) verify: Option<usize>,
    pub(crate) client_certificate: Option<Vec<u8>>,
    pub(crate) trusted_certificate: Option<Vec<u8>>,
    pub(crate) stapling: Option<bool>,
    /// `ssl_stapling_file`.
    pub(crate) stapling_file: Option<Vec<u8>>,
    /// `ssl_session_ticket_key` files, in order (the first encrypts).
    pub(crate) session_ticket_keys: Option<Vec<Vec<u8>>>,
}

impl SslConf {
    /// After the merge, whether nginx made the server an SSL context (`ssl on`, a
    /// certificate, or `ssl_reject_handshake on`).
    pub(crate) fn has_ctx(&self) -> bool {
        matches!(self.enable, Some((true, _, _)))
            || self.certificates.as_ref().is_some_and(|c| !c.is_empty())
            || self.reject_handshake == Some(true)
    }
}

/// Runs the generic slot of this module's row `d.name`.
fn slot(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let Some(row) = COMMANDS
        .iter()
        .find(|c| c.name.as_bytes() == d.name.as_slice())
    else {
        return Ok(());
    };
    match row.set {
        Set::Slot(s) => crate::conf::slot::set(cf, row, s, d),
        _ => Ok(()),
    }
}

fn conf<'c>(cf: &'c mut Cf<'_>) -> &'c mut SslConf {
    cf.frame().get::<SslConf>()
}

/// nginx: ngx_http_ssl_enable with ngx_http_ssl_deprecated.
fn ssl_enable(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if upstream::seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    let v = &d.args[0];
    let on = if v.eq_ignore_ascii_case(b"on") {
        true
    } else if v.eq_ignore_ascii_case(b"off") {
        false
    } else {
        let text = format!(
            "invalid value \"{}\" in \"ssl\" directive, it must be \"on\" or \"off\"",
            String::from_utf8_lossy(v)
        );
        return Err(cf.emerg(text).into());
    };
    conf(cf).enable = Some((on, d.file, d.line));
    cf.conf_log(
        Level::Warn,
        "the \"ssl\" directive is deprecated, use the \"listen ... ssl\" directive instead",
    );
    Ok(())
}

/// `ssl_certificate` (nginx: ngx_conf_set_str_array_slot).
fn certificate(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let v = d.args[0].clone();
    conf(cf).certificates.get_or_insert_with(Vec::new).push(v);
    Ok(())
}

/// `ssl_certificate_key` (nginx: ngx_conf_set_str_array_slot).
fn certificate_key(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let v = d.args[0].clone();
    conf(cf)
        .certificate_keys
        .get_or_insert_with(Vec::new)
        .push(v);
    Ok(())
}

/// `ssl_session_ticket_key` (nginx: ngx_conf_set_str_array_slot).
fn session_ticket_key(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    slot(cf, d)?;
    let v = d.args[0].clone();
    conf(cf)
        .session_ticket_keys
        .get_or_insert_with(Vec::new)
        .push(v);
    Ok(())
}

/// `ssl_verify_client` (nginx: ngx_conf_set_enum_slot).
fn verify_client(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    slot(cf, d)?;
    let words: &[&[u8]] = &[b"off", b"on", b"optional", b"optional_no_ca"];
    let v = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case(&d.args[0]));
    conf(cf).verify = v;
    Ok(())
}

/// `ssl_client_certificate` (nginx: ngx_conf_set_str_slot).
fn client_certificate(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    slot(cf, d)?;
    conf(cf).client_certificate = Some(d.args[0].clone());
    Ok(())
}

/// `ssl_trusted_certificate` (nginx: ngx_conf_set_str_slot).
fn trusted_certificate(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    slot(cf, d)?;
    conf(cf).trusted_certificate = Some(d.args[0].clone());
    Ok(())
}

/// `ssl_stapling_file` (nginx: ngx_conf_set_str_slot).
fn stapling_file(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    slot(cf, d)?;
    conf(cf).stapling_file = d.args.first().cloned();
    Ok(())
}

/// `ssl_stapling` (nginx: ngx_conf_set_flag_slot).
fn stapling(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    slot(cf, d)?;
    conf(cf).stapling = Some(d.args[0].eq_ignore_ascii_case(b"on"));
    Ok(())
}

/// `ssl_reject_handshake` (nginx: ngx_conf_set_flag_slot).
fn reject_handshake(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    slot(cf, d)?;
    conf(cf).reject_handshake = Some(d.args[0].eq_ignore_ascii_case(b"on"));
    Ok(())
}

/// nginx: ngx_http_ssl_password_file.
fn ssl_password_file(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    upstream::ssl_password_file(cf, d)
}

/// `shared:name:size` (nginx: the shared cache syntax of ssl_session_cache and
/// ssl_ocsp_cache): `Err(true)` = invalid, `Err(false)` = too small.
fn shared_cache(v: &[u8]) -> Result<(Vec<u8>, u64), bool> {
    let rest = v
        .strip_prefix(b"shared:")
        .filter(|r| !r.is_empty())
        .ok_or(true)?;
    let len = rest.iter().position(|&c| c == b':').unwrap_or(rest.len());
    if len == 0 {
        return Err(true);
    }
    let size = rest.get(len + 1..).unwrap_or_default();
    let n = parse_size(size).ok_or(true)?;
    if n < 8 * 4096 {
        return Err(false);
    }
    Ok((rest[..len].to_vec(), n))
}

/// nginx: ngx_http_ssl_session_cache.
fn ssl_session_cache(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    session_cache(cf, d, "ngx_http_ssl_module")
}

/// nginx: ngx_http_ssl_session_cache / ngx_stream_ssl_session_cache.
pub(crate) fn session_cache(cf: &mut Cf<'_>, d: &Directive, tag: &'static str) -> SetResult {
    for v in &d.args {
        let show = String::from_utf8_lossy(v).into_owned();
        match v.as_slice() {
            b"off" | b"none" | b"builtin" => continue,
            _ => {}
        }
        if v.len() > 8 && v.starts_with(b"builtin:") {
            if atoi(&v[8..]).is_none() {
                return Err(cf.emerg(format!("invalid session cache \"{show}\"")).into());
            }
            continue;
        }
        if v.len() > 7 && v.starts_with(b"shared:") {
            match shared_cache(v) {
                Ok((name, size)) => {
                    upstream::shared_memory_add(cf, &name, size, tag)?;
                    continue;
                }
                Err(false) => {
                    return Err(cf
                        .emerg(format!("session cache \"{show}\" is too small"))
                        .into())
                }
                Err(true) => {}
            }
        }
        return Err(cf.emerg(format!("invalid session cache \"{show}\"")).into());
    }
    Ok(())
}

/// nginx: ngx_http_ssl_ocsp_cache.
fn ssl_ocsp_cache(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if upstream::seen(cf, d) {
        return Err(Some("is duplicate".into()));
    }
    let v = &d.args[0];
    if v.as_slice() == b"off" {
        return Ok(());
    }
    let show = String::from_utf8_lossy(v).into_owned();
    match shared_cache(v) {
        Ok((name, size)) => {
            upstream::shared_memory_add(cf, &name, size, "ngx_http_ssl_module_ctx")?;
            Ok(())
        }
        Err(false) => Err(cf
            .emerg(format!("OCSP cache \"{show}\" is too small"))
            .into()),
        Err(true) => Err(cf.emerg(format!("invalid OCSP cache \"{show}\"")).into()),
    }
}

/// nginx: ngx_http_ssl_merge_srv_conf's checks and certificate loading, for one server
/// (`parent`: the `http` level's [`SslConf`]). Fills `conf` with the merged values.
pub(crate) fn merge_srv_conf(
    cf: &mut Cf<'_>,
    parent: &SslConf,
    conf: &mut SslConf,
) -> Result<(), Failed> {
    if conf.enable.is_none() {
        conf.enable = parent.enable;
    }
    if conf.certificates.is_none() {
        conf.certificates = parent.certificates.clone();
    }
    if conf.certificate_keys.is_none() {
        conf.certificate_keys = parent.certificate_keys.clone();
    }
    for f in [
        |c: &mut SslConf, p: &SslConf| {
            if c.reject_handshake.is_none() {
                c.reject_handshake = p.reject_handshake;
            }
        },
        |c: &mut SslConf, p: &SslConf| {
            if c.verify.is_none() {
                c.verify = p.verify;
            }
        },
        |c: &mut SslConf, p: &SslConf| {
            if c.client_certificate.is_none() {
                c.client_certificate = p.client_certificate.clone();
            }
        },
        |c: &mut SslConf, p: &SslConf| {
            if c.trusted_certificate.is_none() {
                c.trusted_certificate = p.trusted_certificate.clone();
            }
        },
        |c: &mut SslConf, p: &SslConf| {
            if c.stapling.is_none() {
                c.stapling = p.stapling;
            }
            if c.stapling_file.is_none() {
                c.stapling_file = p.stapling_file.clone();
            }
        },
        |c: &mut SslConf, p: &SslConf| {
            if c.session_ticket_keys.is_none() {
                c.session_ticket_keys = p.session_ticket_keys.clone();
            }
        },
    ] {
        f(conf, parent);
    }
    let reject = conf.reject_handshake.unwrap_or(false);
    let fail = |cf: &mut Cf<'_>, text: String| {
        cf.log(Level::Emerg, text);
        Err(Failed)
    };
    let ncerts = conf.certificates.as_ref().map_or(0, Vec::len);
    let nkeys = conf.certificate_keys.as_ref().map_or(0, Vec::len);
    let last_cert = conf
        .certificates
        .as_ref()
        .and_then(|c| c.last())
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .unwrap_or_default();
    match conf.enable {
        Some((true, file, line)) => {
            let at = upstream::file_line(cf, file, line);
            if ncerts > 0 {
                if conf.certificate_keys.is_none() {
                    return fail(
                        cf,
                        format!("no \"ssl_certificate_key\" is defined for the \"ssl\" directive in {at}"),
                    );
                }
                if nkeys < ncerts {
                    return fail(
                        cf,
                        format!(
                            "no \"ssl_certificate_key\" is defined for certificate \"{last_cert}\" and the \"ssl\" directive in {at}"
                        ),
                    );
                }
            } else if !reject {
                return fail(
                    cf,
                    format!("no \"ssl_certificate\" is defined for the \"ssl\" directive in {at}"),
                );
            }
        }
        _ if ncerts > 0 && nkeys < ncerts => {
            return fail(
                cf,
                format!("no \"ssl_certificate_key\" is defined for certificate \"{last_cert}\""),
            );
        }
        _ if ncerts > 0 => {}
        _ if !reject => return Ok(()),
        _ => {}
    }
    // nginx: ngx_ssl_certificates, unless the names have variables (loaded per handshake).
    let certs = conf.certificates.clone().unwrap_or_default();
    let keys = conf.certificate_keys.clone().unwrap_or_default();
    let has_vars = certs
        .iter()
        .chain(keys.iter())
        .any(|c| crate::http::variables::script_variables_count(c) > 0);
    if !has_vars {
        for (cert, key) in certs.iter().zip(keys.iter()) {
            if let Err(text) = load_certificate(cf, cert) {
                return fail(cf, text);
            }
            if let Err(text) = load_key(cf, key) {
                return fail(cf, text);
            }
            let so_far: Vec<&[u8]> = certs
                .iter()
                .take_while(|c| !std::ptr::eq(*c, cert))
                .chain(std::iter::once(cert))
                .map(Vec::as_slice)
                .collect();
            if let Err(text) = keys_match(cf, &so_far, key) {
                return fail(cf, text);
            }
        }
    }
    if let Some(v) = conf.verify.filter(|&v| v != 0) {
        if conf.client_certificate.as_ref().is_none_or(Vec::is_empty) && v != 3 {
            return fail(cf, "no ssl_client_certificate for ssl_verify_client".into());
        }
    }
    // nginx: ngx_ssl_session_ticket_keys, after the session cache and before stapling.
    if let Some(files) = &conf.session_ticket_keys {
        for f in files {
            let path = cert_path(cf, f);
            if let Err(e) = read_ticket_key(&path) {
                let (level, text) = match e {
                    TicketKeyError::Open(e) => (
                        Level::Emerg,
                        format!(
                            "open() \"{}\" failed ({})",
                            path.display(),
                            crate::log::errno_text(&e)
                        ),
                    ),
                    TicketKeyError::Size => (
                        Level::Emerg,
                        format!("\"{}\" must be 48 or 80 bytes", path.display()),
                    ),
                    TicketKeyError::Read(e) => (
                        Level::Crit,
                        format!(
                            "read() \"{}\" failed ({})",
                            path.display(),
                            crate::log::errno_text(&e)
                        ),
                    ),
                };
                cf.conf_log(level, text);
                return Err(Failed);
            }
        }
    }
    if conf.stapling == Some(true) && !has_vars {
        for cert in &certs {
            match &conf.stapling_file {
                // nginx: ngx_ssl_stapling_file: the response comes from the file, no
                // issuer is looked for; an unreadable file fails the configuration.
                Some(f) => {
                    let path = cert_path(cf, f);
                    if let Err(e) = std::fs::read(&path) {
                        let text = bio_error(&path, &e)
                            .replacen(
                                "BIO_new_file()",
                                &format!("BIO_new_file(\"{}\")", path.display()),
                                1,
                            )
                            .replacen(", r)", ", rb)", 1);
                        return fail(cf, text);
                    }
                }
                None => stapling_check(cf, conf, cert),
            }
        }
    }
    Ok(())
}

/// Why an `ssl_session_ticket_key` file is unusable (nginx: ngx_ssl_session_ticket_keys).
#[derive(Debug)]
pub(crate) enum TicketKeyError {
    Open(std::io::Error),
    /// Not 48 or 80 bytes long.
    Size,
    Read(std::io::Error),
}

/// Reads one `ssl_session_ticket_key` file: 48 or 80 bytes (nginx:
/// ngx_ssl_session_ticket_keys opens it, checks its size, then reads it).
pub(crate) fn read_ticket_key(path: &std::path::Path) -> Result<Vec<u8>, TicketKeyError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(TicketKeyError::Open)?;
    let size = f.metadata().map_err(TicketKeyError::Read)?.len();
    if size != 48 && size != 80 {
        return Err(TicketKeyError::Size);
    }
    let mut buf = Vec::with_capacity(80);
    f.by_ref()
        .take(size)
        .read_to_end(&mut buf)
        .map_err(TicketKeyError::Read)?;
    if buf.len() as u64 != size {
        return Err(TicketKeyError::Size);
    }
    Ok(buf)
}

/// The full name of a certificate file (nginx: ngx_get_full_name with the conf prefix).
fn cert_path(cf: &Cf<'_>, name: &[u8]) -> std::path::PathBuf {
    crate::cycle::full_name(&cf.conf_prefix, name)
}

/// OpenSSL's text for a failed BIO_new_file() (OpenSSL 3 as the reference links it).
pub(crate) fn bio_error(path: &std::path::Path, e: &std::io::Error) -> String {
    let code = e.raw_os_error().unwrap_or(0);
    let text = crate::log::errno_text(e);
    let strerror = text.split_once(": ").map_or(text.as_str(), |(_, s)| s);
    let (reason_code, reason) = if code == 2 {
        (0x80, "no such file")
    } else {
        (0x02, "system lib")
    };
    format!(
        "BIO_new_file() failed (SSL: error:{:08X}:system library::{strerror}:calling fopen({}, r) error:{:08X}:BIO routines::{reason})",
        0x8000_0000u32 | (code as u32 & 0x7fff_ffff),
        path.display(),
        0x1000_0000u32 | reason_code
    )
}

/// Reads a PEM file for a certificate or key: `Err` is nginx's message for a file OpenSSL
/// can't open.
fn read_pem(path: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| bio_error(path, &e))
}

fn has_pem_block(pem: &[u8], label_ok: impl Fn(&[u8]) -> bool) -> bool {
    let mut rest = pem;
    while let Some(i) = find(rest, b"-----BEGIN ") {
        let after = &rest[i + 11..];
        if let Some(end) = find(after, b"-----") {
            if label_ok(&after[..end]) {
                return true;
            }
        }
        rest = after;
    }
    false
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn count_certs(pem: &[u8]) -> usize {
    pem.windows(27)
        .filter(|w| *w == b"-----BEGIN CERTIFICATE-----")
        .count()
}

/// nginx: ngx_ssl_certificate's loading of the certificate (PEM_read_bio_X509_AUX).
pub(crate) fn load_certificate(cf: &mut Cf<'_>, name: &[u8]) -> Result<(), String> {
    if name.starts_with(b"data:") {
        return Ok(());
    }
    let path = cert_path(cf, name);
    let shown = path.display().to_string();
    let pem = read_pem(&path).map_err(|e| format!("cannot load certificate \"{shown}\": {e}"))?;
    let ok = has_pem_block(&pem, |l| {
        l == b"CERTIFICATE" || l == b"TRUSTED CERTIFICATE" || l == b"X509 CERTIFICATE"
    });
    if !ok {
        return Err(format!(
            "cannot load certificate \"{shown}\": PEM_read_bio_X509_AUX() failed (SSL: error:0480006C:PEM routines::no start line:Expecting: TRUSTED CERTIFICATE)"
        ));
    }
    Ok(())
}

/// nginx: ngx_ssl_load_certificate_key (PEM_read_bio_PrivateKey).
pub(crate) fn load_key(cf: &mut Cf<'_>, name: &[u8]) -> Result<(), String> {
    if name.starts_with(b"data:") || name.starts_with(b"engine:") {
        return Ok(());
    }
    let path = cert_path(cf, name);
    let shown = path.display().to_string();
    let pem =
        read_pem(&path).map_err(|e| format!("cannot load certificate key \"{shown}\": {e}"))?;
    if !has_pem_block(&pem, |l| l.ends_with(b"PRIVATE KEY")) {
        return Err(format!(
            "cannot load certificate key \"{shown}\": PEM_read_bio_PrivateKey() failed (SSL: error:1E08010C:DECODER routines::unsupported:No supported data to decode. Input type: PEM)"
        ));
    }
    Ok(())
}

/// nginx: ngx_ssl_certificate's SSL_CTX_use_PrivateKey: OpenSSL checks a key against the
/// certificate of the key's type loaded last (`certs`: the certificates so far, in order);
/// a key with no certificate of its type passes. Checked with rustls; what rustls cannot
/// parse is left to run time.
pub(crate) fn keys_match(cf: &mut Cf<'_>, certs: &[&[u8]], key: &[u8]) -> Result<(), String> {
    if key.starts_with(b"data:") || key.starts_with(b"engine:") {
        return Ok(());
    }
    let kpath = cert_path(cf, key);
    let Ok(kpem) = std::fs::read(&kpath) else {
        return Ok(());
    };
    let Ok(Some(k)) = rustls_pemfile::private_key(&mut &kpem[..]) else {
        return Ok(());
    };
    let provider = rustls::crypto::ring::default_provider();
    let Ok(signer) = provider.key_provider.load_private_key(k) else {
        return Ok(());
    };
    let is_type = |der: &[u8]| match signer.algorithm() {
        rustls::SignatureAlgorithm::RSA => {
            find(der, &[6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 1]).is_some()
        }
        rustls::SignatureAlgorithm::ECDSA => {
            find(der, &[6, 7, 0x2a, 0x86, 0x48, 0xce, 0x3d, 2, 1]).is_some()
        }
        _ => true,
    };
    let mut chain = None;
    for c in certs.iter().rev() {
        if c.starts_with(b"data:") {
            continue;
        }
        let Ok(pem) = std::fs::read(cert_path(cf, c)) else {
            continue;
        };
        let ders: Vec<rustls::pki_types::CertificateDer<'static>> =
            rustls_pemfile::certs(&mut &pem[..])
                .filter_map(Result::ok)
                .collect();
        if ders.first().is_some_and(|d| is_type(d)) {
            chain = Some(ders);
            break;
        }
    }
    let Some(chain) = chain else {
        return Ok(());
    };
    match rustls::sign::CertifiedKey::new(chain, signer).keys_match() {
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => Err(format!(
            "SSL_CTX_use_PrivateKey(\"{}\") failed (SSL: error:05800074:x509 certificate routines::key values mismatch)",
            kpath.display()
        )),
        _ => Ok(()),
    }
}

/// nginx: ngx_ssl_stapling's first-order outcome: a lone certificate without
/// `ssl_trusted_certificate` has no issuer.
fn stapling_check(cf: &mut Cf<'_>, conf: &SslConf, name: &[u8]) {
    let path = cert_path(cf, name);
    let Ok(pem) = std::fs::read(&path) else {
        return;
    };
    if count_certs(&pem) <= 1 && conf.trusted_certificate.is_none() {
        cf.log(
            Level::Warn,
            format!(
                "\"ssl_stapling\" ignored, issuer certificate not found for certificate \"{}\"",
                path.display()
            ),
        );
    }
}

/// One `listen ... ssl` address for [`postconfiguration`]: its default server first, then
/// every server on it; each with its merged [`SslConf`] and where the server block is.
pub(crate) struct SslAddr<'s> {
    pub(crate) servers: Vec<(&'s SslConf, &'s str, usize)>,
}

/// nginx: ngx_http_ssl_init's `listen ... ssl` check, after the http block is merged.
pub(crate) fn postconfiguration(cf: &mut Cf<'_>, addrs: &[SslAddr<'_>]) -> Result<(), Failed> {
    for a in addrs {
        let Some(&(default, file, line)) = a.servers.first() else {
            continue;
        };
        if default.certificates.is_some() {
            continue;
        }
        let missing = |cf: &mut Cf<'_>, file: &str, line| {
            let at = format!("{file}:{line}");
            cf.log(
                Level::Emerg,
                format!("no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive in {at}"),
            );
            Err(Failed)
        };
        if !default.reject_handshake.unwrap_or(false) {
            return missing(cf, file, line);
        }
        for &(s, file, line) in &a.servers[1..] {
            if s.certificates.is_some() || s.reject_handshake.unwrap_or(false) {
                continue;
            }
            return missing(cf, file, line);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Run time: TLS through rustls (`ring` provider).
//
// What nginx does with OpenSSL and what oxresty does instead:
// - Protocol versions, cipher suites, their order, curves and the session cache/tickets
//   come from the address's default server (OpenSSL has chosen them before nginx's SNI
//   callback switches the SSL_CTX); the certificate and client verification come from the
//   server the SNI name selects (nginx: ngx_http_ssl_servername), else the default server.
// - `ssl_protocols`: TLSv1.2 and TLSv1.3 only; SSLv2/SSLv3/TLSv1/TLSv1.1 are accepted and
//   not offered (rustls has none of them). Without the directive both are on (nginx
//   >= 1.23.4's default, the project's choice; the reference 1.22 leaves TLSv1.3 off).
// - `ssl_ciphers`: see [`tls12_suites`]; TLS 1.3 suites are OpenSSL's defaults in its order.
// - `ssl_stapling` with `ssl_stapling_file`: the file's OCSP response is stapled; without a
//   file nothing is (no responder queries).
// - `ssl_verify_depth`: checked after the chain (intermediates between the client's
//   certificate and a trusted one).
// - Sessions: tickets ([`TicketKeys`]: the `ssl_session_ticket_key` files, else a random
//   key per configuration, so tickets survive a reload only with key files, as in nginx)
//   and the `builtin`/`shared` cache (rustls's memory cache per address; `shared` is not
//   shared between processes), both ending after `ssl_session_timeout`. TLS 1.2 resumes
//   by ticket or session id; TLS 1.3 by ticket (PSK), or with `ssl_session_tickets off`
//   by the cached session's id as PSK identity (OpenSSL's stateful TLS 1.3 tickets).
// - `ssl_dhparam`, `ssl_stapling_responder`/`_verify`, `ssl_early_data`,
//   `ssl_buffer_size`, `ssl_conf_command`: accepted, no rustls equivalent.
// - Client certificates: rustls asks for one (never requires it) and accepts any with a
//   valid signature; the chain is verified after the handshake against
//   `ssl_client_certificate` + `ssl_trusted_certificate`, and nginx's 400 pages answer
//   from the request (nginx: ngx_http_process_request), as OpenSSL's verify callback
//   in nginx always lets the handshake go on.
// ---------------------------------------------------------------------------------------

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use rustls::crypto::ring as rring;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig};
use rustls::sign::CertifiedKey;
use rustls::{CipherSuite, DistinguishedName, SignatureScheme, SupportedCipherSuite};

/// One `ssl` or `http2` listening address at run time.
#[derive(Debug)]
pub(crate) struct TlsAddr {
    /// `listen ... ssl` (else the address is plain `http2`: h2c with prior knowledge).
    pub(crate) ssl: bool,
    /// Each server's handshake configuration, by index in `Http::servers`.
    configs: HashMap<usize, Arc<ServerConfig>>,
    /// Servers with `ssl_reject_handshake on`.
    reject: Vec<usize>,
    /// Each server's client verification (absent: `ssl_verify_client off`).
    verify: HashMap<usize, Arc<Verify>>,
    default: usize,
    servers: Vec<usize>,
    /// The address's HTTP/2 limits (from its default server).
    pub(crate) h2: H2Settings,
    /// What the Lua TLS hooks need to build a server's configuration again
    /// (engine/src/http/lua/ssl.rs: `set_protocols`, a certificate Lua set).
    parts: HashMap<usize, LuaParts>,
    /// `ssl_session_cache off` in the default server (OpenSSL: SSL_SESS_CACHE_OFF, no
    /// session ids, no new-session callback; `none`, the default, pretends to cache).
    cache_off: bool,
}

/// A server's handshake ingredients rustls keeps private in its `ServerConfig`.
#[derive(Debug)]
struct LuaParts {
    provider: Arc<CryptoProvider>,
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
}

/// The `http2_*` values hyper's HTTP/2 server has knobs for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct H2Settings {
    /// `http2_max_concurrent_streams` (128).
    pub(crate) max_concurrent_streams: u32,
    /// `http2_max_header_size` (16k): SETTINGS_MAX_HEADER_LIST_SIZE; also bounds what a
    /// run of CONTINUATION frames may accumulate.
    pub(crate) max_header_list_size: u32,
    /// `http2_body_preread_size` (64k): the initial stream window nginx advertises.
    pub(crate) initial_stream_window: u32,
    /// `http2_recv_buffer_size` (256k): the connection window and read buffer.
    pub(crate) recv_buffer: u32,
    /// `http2_chunk_size` (8k): what may be buffered per stream before the sender waits.
    pub(crate) chunk_size: u32,
}

impl Default for H2Settings {
    fn default() -> Self {
        H2Settings {
            max_concurrent_streams: 128,
            max_header_list_size: 16 * 1024,
            initial_stream_window: 65536,
            recv_buffer: 256 * 1024,
            chunk_size: 8 * 1024,
        }
    }
}

/// `ssl_verify_client` of one server, with what the post-handshake check needs.
#[derive(Debug)]
pub(crate) struct Verify {
    /// 1 on, 2 optional, 3 optional_no_ca.
    mode: usize,
    /// Verifies chains against `ssl_client_certificate` + `ssl_trusted_certificate`.
    chain: Option<Arc<dyn ClientCertVerifier>>,
    /// The CA names sent in the CertificateRequest (`ssl_client_certificate`).
    hints: Vec<DistinguishedName>,
    /// Subjects (RFC 2253) of the trusted certificates, for `ssl_verify_depth`.
    anchors: Vec<Vec<u8>>,
    /// The trusted certificates themselves, for X.509 v1 client certificates (webpki
    /// refuses them; OpenSSL, hence nginx, accepts them): [`v1_leaf`].
    roots: Vec<CertificateDer<'static>>,
    /// `ssl_verify_depth` (1 by default).
    depth: usize,
}

/// What a TLS connection negotiated, for the `$ssl_*` variables and the request checks.
#[derive(Debug, Default)]
pub(crate) struct TlsInfo {
    /// Plain HTTP arrived on an `ssl` port (nginx answers 497).
    pub(crate) plain: bool,
    protocol: &'static str,
    cipher: &'static str,
    curve: Option<&'static str>,
    server_name: Option<String>,
    /// The SNI name matched a server (nginx: `hc->ssl_servername`), validated.
    sni_host: Option<Vec<u8>>,
    reused: bool,
    alpn: Option<Vec<u8>>,
    /// The client's certificate chain (leaf first).
    certs: Vec<Vec<u8>>,
    /// The verification result: `None` = OK, else OpenSSL's code and text.
    verify_error: Option<(u32, &'static str)>,
    /// The `ngx.ctx` of the Lua TLS hooks (engine/src/http/lua/ssl.rs).
    pub(crate) lua_ctx: Option<mlua::Table>,
}

thread_local! {
    /// The worker's TLS connections by connection number.
    static CONNS: RefCell<HashMap<u64, Rc<TlsInfo>>> = RefCell::new(HashMap::new());
}

/// Records a connection's TLS state for its requests.
pub(crate) fn register(id: u64, info: Rc<TlsInfo>) {
    CONNS.with(|c| c.borrow_mut().insert(id, info));
}

/// Forgets a closed connection.
pub(crate) fn unregister(id: u64) {
    CONNS.with(|c| c.borrow_mut().remove(&id));
}

fn info(id: u64) -> Option<Rc<TlsInfo>> {
    CONNS.with(|c| c.borrow().get(&id).cloned())
}

/// The `ngx.ctx` the connection's Lua TLS hooks left.
pub(crate) fn lua_ctx(r: &super::request::Request) -> Option<mlua::Table> {
    info(r.conn.id).and_then(|i| i.lua_ctx.clone())
}

/// The request came over TLS (`$https`, `$scheme`, absolute redirects).
pub(crate) fn is_tls(r: &super::request::Request) -> bool {
    info(r.conn.id).is_some_and(|i| !i.plain)
}

/// nginx: ngx_http_process_request's TLS checks and ngx_http_set_virtual_server's
/// misdirected-request check: the status to finalize the request with before any phase.
pub(crate) fn check(r: &super::request::Request) -> Option<u16> {
    let i = info(r.conn.id)?;
    let log = |m: &str| {
        super::errlog::log(
            r,
            crate::log::Level::Info,
            &format!("{m} while reading client request headers"),
        )
    };
    if i.plain {
        log("client sent plain HTTP request to HTTPS port");
        return Some(497);
    }
    let tls = r.http.addrs.get(r.conn.addr)?.tls.as_ref()?;
    let idx = r
        .http
        .servers
        .iter()
        .position(|s| Arc::ptr_eq(s, &r.server))?;
    if let Some(sni) = &i.sni_host {
        let host = r.host();
        if host != *sni && tls.verify.contains_key(&idx) {
            log("client attempted to request the server name different from the one that was negotiated");
            return Some(421);
        }
    }
    let mode = tls.verify.get(&idx).map_or(0, |v| v.mode);
    if mode == 0 {
        return None;
    }
    if let Some((code, text)) = i.verify_error {
        if mode != 3 || !matches!(code, 18 | 19 | 20 | 21 | 27) {
            log(&format!(
                "client SSL certificate verify error: ({code}:{text})"
            ));
            return Some(495);
        }
    }
    if mode == 1 && i.certs.is_empty() {
        log("client sent no required SSL certificate");
        return Some(496);
    }
    None
}

/// The `$ssl_*` variables (nginx: ngx_http_ssl_variable and the ngx_ssl_get_* functions);
/// `None` (not found) on a connection without TLS.
pub(crate) fn variable(r: &super::request::Request, name: &[u8]) -> Option<Vec<u8>> {
    let i = info(r.conn.id).filter(|i| !i.plain)?;
    let s = |v: &str| Some(v.as_bytes().to_vec());
    let leaf = i.certs.first();
    match name {
        b"ssl_protocol" => s(i.protocol),
        b"ssl_cipher" => s(i.cipher),
        b"ssl_curve" => s(i.curve.unwrap_or("")),
        b"ssl_server_name" => i.server_name.as_ref().map(|n| n.as_bytes().to_vec()),
        b"ssl_session_reused" => s(if i.reused { "r" } else { "." }),
        b"ssl_alpn_protocol" => Some(i.alpn.clone().unwrap_or_default()),
        b"ssl_client_verify" => {
            if leaf.is_none() {
                return s("NONE");
            }
            match i.verify_error {
                None => s("SUCCESS"),
                Some((_, t)) => Some(format!("FAILED:{t}").into_bytes()),
            }
        }
        b"ssl_client_s_dn" => Some(
            leaf.and_then(|c| x509::names(c).map(|n| n.1))
                .unwrap_or_default(),
        ),
        b"ssl_client_i_dn" => Some(
            leaf.and_then(|c| x509::names(c).map(|n| n.0))
                .unwrap_or_default(),
        ),
        b"ssl_client_serial" => Some(leaf.and_then(|c| x509::serial(c)).unwrap_or_default()),
        b"ssl_client_fingerprint" => Some(
            leaf.map(|c| {
                use sha1::Digest;
                let d = sha1::Sha1::digest(c);
                d.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
                    .into_bytes()
            })
            .unwrap_or_default(),
        ),
        b"ssl_client_raw_cert" => Some(leaf.map(|c| pem(c)).unwrap_or_default()),
        b"ssl_client_escaped_cert" => Some(
            leaf.map(|c| {
                let mut out = Vec::new();
                for &b in &pem(c) {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        out.push(b);
                    } else {
                        out.extend_from_slice(format!("%{b:02X}").as_bytes());
                    }
                }
                out
            })
            .unwrap_or_default(),
        ),
        _ => Some(Vec::new()),
    }
}

/// A DER certificate as PEM (nginx: `$ssl_client_raw_cert`, PEM_write_bio_X509).
fn pem(der: &[u8]) -> Vec<u8> {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut enc = Vec::new();
    for ch in der.chunks(3) {
        let n = (u32::from(ch[0]) << 16)
            | (u32::from(*ch.get(1).unwrap_or(&0)) << 8)
            | u32::from(*ch.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= ch.len() {
                enc.push(B64[((n >> (18 - 6 * k)) & 63) as usize]);
            } else {
                enc.push(b'=');
            }
        }
    }
    let mut out = b"-----BEGIN CERTIFICATE-----\n".to_vec();
    for line in enc.chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(b"-----END CERTIFICATE-----\n");
    out
}

/// Minimal DER reading for the `$ssl_client_*` variables.
mod x509 {
    /// One TLV: (tag, content, rest).
    fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let tag = *d.first()?;
        let l0 = *d.get(1)?;
        let (len, hdr) = if l0 < 0x80 {
            (usize::from(l0), 2)
        } else {
            let n = usize::from(l0 & 0x7f);
            if n == 0 || n > 4 {
                return None;
            }
            let mut len = 0usize;
            for k in 0..n {
                len = (len << 8) | usize::from(*d.get(2 + k)?);
            }
            (len, 2 + n)
        };
        let body = d.get(hdr..hdr.checked_add(len)?)?;
        Some((tag, body, &d[hdr + len..]))
    }

    /// The TBSCertificate's fields from the serial on.
    fn tbs(cert: &[u8]) -> Option<&[u8]> {
        let (_, c, _) = tlv(cert)?;
        let (_, t, _) = tlv(c)?;
        match t.first() {
            Some(0xa0) => tlv(t).map(|x| x.2),
            _ => Some(t),
        }
    }

    /// An X.509 v1 certificate: its TBSCertificate has no `[0] version`.
    pub(super) fn is_v1(cert: &[u8]) -> bool {
        let Some((_, c, _)) = tlv(cert) else {
            return false;
        };
        let Some((_, t, _)) = tlv(c) else {
            return false;
        };
        t.first() != Some(&0xa0)
    }

    /// The pieces of a certificate a signature check needs.
    pub(super) struct Parts<'a> {
        /// The whole TBSCertificate (what the issuer signed).
        pub(super) tbs: &'a [u8],
        /// The signatureAlgorithm's contents (OID and parameters).
        pub(super) sig_alg: &'a [u8],
        /// The signature's bits.
        pub(super) signature: &'a [u8],
        pub(super) issuer: &'a [u8],
        pub(super) subject: &'a [u8],
        /// notBefore / notAfter, seconds since the epoch.
        pub(super) not_before: Option<i64>,
        pub(super) not_after: Option<i64>,
        /// The subjectPublicKeyInfo's algorithm contents and key bits.
        pub(super) spki_alg: &'a [u8],
        pub(super) spki_key: &'a [u8],
    }

    pub(super) fn parts(cert: &[u8]) -> Option<Parts<'_>> {
        let (_, c, _) = tlv(cert)?;
        let (_, tbs_body, after_tbs) = tlv(c)?;
        let tbs = &c[..c.len() - after_tbs.len()];
        let (_, sig_alg, rest) = tlv(after_tbs)?;
        let (_, sig_bits, _) = tlv(rest)?;
        let signature = sig_bits.get(1..)?;
        let mut t = tbs_body;
        if t.first() == Some(&0xa0) {
            t = tlv(t)?.2;
        }
        let (_, _, t) = tlv(t)?; // serial
        let (_, _, t) = tlv(t)?; // signature algorithm
        let (_, issuer, t) = tlv(t)?;
        let (_, validity, t) = tlv(t)?;
        let (_, subject, t) = tlv(t)?;
        let (_, spki, _) = tlv(t)?;
        let (_, spki_alg, rest) = tlv(spki)?;
        let (_, key_bits, _) = tlv(rest)?;
        let (nb_tag, nb, rest) = tlv(validity)?;
        let (na_tag, na, _) = tlv(rest)?;
        Some(Parts {
            tbs,
            sig_alg,
            signature,
            issuer,
            subject,
            not_before: asn1_time(nb_tag, nb),
            not_after: asn1_time(na_tag, na),
            spki_alg,
            spki_key: key_bits.get(1..)?,
        })
    }

    /// UTCTime (`YYMMDDHHMMSSZ`, 1950-2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
    fn asn1_time(tag: u8, v: &[u8]) -> Option<i64> {
        let s = std::str::from_utf8(v).ok()?.strip_suffix('Z')?;
        let (year, rest) = match tag {
            0x17 => {
                let y: i64 = s.get(..2)?.parse().ok()?;
                (if y < 50 { 2000 + y } else { 1900 + y }, s.get(2..)?)
            }
            0x18 => (s.get(..4)?.parse().ok()?, s.get(4..)?),
            _ => return None,
        };
        let n = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
        let (mo, d, h, mi, se) = (n(0)?, n(2)?, n(4)?, n(6)?, n(8)?);
        // days from civil (Howard Hinnant's algorithm)
        let y = if mo <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (mo + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        Some(days * 86400 + h * 3600 + mi * 60 + se)
    }

    #[cfg(test)]
    pub(super) fn asn1_time_for_test(tag: u8, v: &[u8]) -> Option<i64> {
        asn1_time(tag, v)
    }

    /// nginx: ngx_ssl_get_serial_number (i2a_ASN1_INTEGER: upper-case hex).
    pub(super) fn serial(cert: &[u8]) -> Option<Vec<u8>> {
        let (_, mut v, _) = tlv(tbs(cert)?)?;
        if v.len() > 1 && v[0] == 0 {
            v = &v[1..];
        }
        Some(
            v.iter()
                .map(|b| format!("{b:02X}"))
                .collect::<String>()
                .into_bytes(),
        )
    }

    /// (issuer, subject) in RFC 2253 form (nginx: ngx_ssl_get_subject_dn, XN_FLAG_RFC2253).
    pub(super) fn names(cert: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let (_, _, rest) = tlv(tbs(cert)?)?; // serial
        let (_, _, rest) = tlv(rest)?; // signature algorithm
        let (_, issuer, rest) = tlv(rest)?;
        let (_, _, rest) = tlv(rest)?; // validity
        let (_, subject, _) = tlv(rest)?;
        Some((rfc2253(issuer)?, rfc2253(subject)?))
    }

    fn oid_text(oid: &[u8]) -> String {
        let known: &[(&[u8], &str)] = &[
            (&[0x55, 4, 3], "CN"),
            (&[0x55, 4, 6], "C"),
            (&[0x55, 4, 7], "L"),
            (&[0x55, 4, 8], "ST"),
            (&[0x55, 4, 9], "street"),
            (&[0x55, 4, 10], "O"),
            (&[0x55, 4, 11], "OU"),
            (&[0x55, 4, 5], "serialNumber"),
            (&[0x55, 4, 4], "SN"),
            (&[0x55, 4, 42], "GN"),
            (&[0x55, 4, 12], "title"),
            (
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 9, 1],
                "emailAddress",
            ),
            (
                &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 1, 25],
                "DC",
            ),
            (
                &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 1, 1],
                "UID",
            ),
        ];
        if let Some((_, t)) = known.iter().find(|(o, _)| *o == oid) {
            return (*t).to_string();
        }
        let mut parts = Vec::new();
        if let Some(&f) = oid.first() {
            parts.push((u64::from(f) / 40).min(2));
            parts.push(u64::from(f) - parts[0] * 40);
        }
        let mut v = 0u64;
        for &b in oid.iter().skip(1) {
            v = (v << 7) | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                parts.push(v);
                v = 0;
            }
        }
        parts
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".")
    }

    fn rfc2253(name: &[u8]) -> Option<Vec<u8>> {
        let mut rdns = Vec::new();
        let mut rest = name;
        while !rest.is_empty() {
            let (_, set, r) = tlv(rest)?;
            rest = r;
            let mut avas = Vec::new();
            let mut s = set;
            while !s.is_empty() {
                let (_, ava, r) = tlv(s)?;
                s = r;
                let (_, oid, r2) = tlv(ava)?;
                let (tag, val, _) = tlv(r2)?;
                let mut out = oid_text(oid).into_bytes();
                out.push(b'=');
                escape(&mut out, tag, val);
                avas.push(out);
            }
            rdns.push(avas.join(&b'+'));
        }
        rdns.reverse();
        Some(rdns.join(&b','))
    }

    #[cfg(test)]
    pub(super) fn escape_for_test(out: &mut Vec<u8>, val: &[u8]) {
        escape(out, 0x0c, val)
    }

    /// OpenSSL's RFC 2253 escaping (ESC_2253 | ESC_CTRL | ESC_MSB; BMP strings as UTF-8).
    fn escape(out: &mut Vec<u8>, tag: u8, val: &[u8]) {
        let bytes: Vec<u8> = if tag == 0x1e {
            let units: Vec<u16> = val
                .chunks(2)
                .map(|c| (u16::from(c[0]) << 8) | u16::from(*c.get(1).unwrap_or(&0)))
                .collect();
            String::from_utf16_lossy(&units).into_bytes()
        } else {
            val.to_vec()
        };
        let n = bytes.len();
        for (k, &c) in bytes.iter().enumerate() {
            let special = b",+\"\\<>;".contains(&c)
                || (k == 0 && (c == b'#' || c == b' '))
                || (k + 1 == n && c == b' ');
            if special {
                out.push(b'\\');
                out.push(c);
            } else if !(0x20..0x7f).contains(&c) {
                out.extend_from_slice(format!("\\{c:02X}").as_bytes());
            } else {
                out.push(c);
            }
        }
    }
}

/// OpenSSL's name of a suite (`$ssl_cipher`).
fn openssl_name(s: CipherSuite) -> &'static str {
    match s {
        CipherSuite::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        CipherSuite::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => {
            "ECDHE-ECDSA-CHACHA20-POLY1305"
        }
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        _ => "",
    }
}

/// rustls's TLS 1.2 suites in OpenSSL's default order ("HIGH" sorted by strength), each
/// with the OpenSSL cipher-string words that select it.
fn tls12_table() -> Vec<(SupportedCipherSuite, &'static str, &'static [&'static str])> {
    use rring::cipher_suite as cs;
    vec![
        (
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            &["ECDSA", "aECDSA", "AES", "AES256", "AESGCM", "SHA384"][..],
        ),
        (
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            "ECDHE-RSA-AES256-GCM-SHA384",
            &["aRSA", "AES", "AES256", "AESGCM", "SHA384"][..],
        ),
        (
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            &["ECDSA", "aECDSA", "CHACHA20", "SHA256"][..],
        ),
        (
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            "ECDHE-RSA-CHACHA20-POLY1305",
            &["aRSA", "CHACHA20", "SHA256"][..],
        ),
        (
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            &["ECDSA", "aECDSA", "AES", "AES128", "AESGCM", "SHA256"][..],
        ),
        (
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            "ECDHE-RSA-AES128-GCM-SHA256",
            &["aRSA", "AES", "AES128", "AESGCM", "SHA256"][..],
        ),
    ]
}

/// OpenSSL cipher-string words that are valid but select none of rustls's suites.
const OPENSSL_ONLY: &[&str] = &[
    "aNULL",
    "eNULL",
    "NULL",
    "MD5",
    "RC4",
    "3DES",
    "DES",
    "EXP",
    "EXPORT",
    "LOW",
    "MEDIUM",
    "PSK",
    "kPSK",
    "aPSK",
    "ECDHEPSK",
    "DHEPSK",
    "RSAPSK",
    "SRP",
    "kSRP",
    "aSRP",
    "DSS",
    "aDSS",
    "CAMELLIA",
    "CAMELLIA128",
    "CAMELLIA256",
    "ARIA",
    "ARIA128",
    "ARIA256",
    "SEED",
    "IDEA",
    "DHE",
    "EDH",
    "kDHE",
    "kEDH",
    "DH",
    "kDH",
    "ADH",
    "AECDH",
    "SHA1",
    "SHA",
    "kRSA",
    "RSA",
    "CCM",
    "CCM8",
    "AESCCM",
    "AESCCM8",
    "SSLv3",
    "TLSv1",
    "TLSv1.0",
    "GOST89MAC",
    "GOST94",
    "kGOST",
    "aGOST",
    "COMPLEMENTOFDEFAULT",
    "COMPLEMENTOFALL",
    "aECDH",
    "kECDHEPSK",
];

/// `ssl_ciphers` mapped onto rustls's TLS 1.2 suites (nginx hands the string to OpenSSL's
/// SSL_CTX_set_cipher_list; TLS 1.3 suites are not affected, as in OpenSSL).
///
/// The mapping follows OpenSSL's cipher-string rules over the six ECDHE AEAD suites rustls
/// has: `WORD` appends what is not in the list yet, `-WORD` removes, `!WORD` removes for
/// good, `+WORD` moves to the end, `A+B` intersects, `@STRENGTH`/`@SECLEVEL=n` are ignored.
/// Words: `ALL`, `DEFAULT`, `HIGH`, `TLSv1.2`, `ECDHE`/`EECDH`/`kECDHE`/`kEECDH`/`ECDH`,
/// `AEAD`, `ECDSA`/`aECDSA`, `aRSA`, `AES`, `AES128`, `AES256`, `AESGCM`, `CHACHA20`,
/// `SHA256`, `SHA384` and the OpenSSL names of the six suites. OpenSSL words that select no
/// rustls suite (`aNULL`, `MD5`, `RC4`, `3DES`, `DHE`, `kRSA`/`RSA`, `CAMELLIA`, `PSK`,
/// ...) select nothing; a positive entry that selects nothing is reported in `warns`.
pub(crate) fn tls12_suites(spec: &str, warns: &mut Vec<String>) -> Vec<SupportedCipherSuite> {
    let table = tls12_table();
    const ANY_EC: &[&str] = &[
        "ALL", "DEFAULT", "HIGH", "TLSv1.2", "ECDHE", "EECDH", "kECDHE", "kEECDH", "ECDH", "kECDH",
        "AEAD",
    ];
    let matches = |word: &str, i: usize| -> Option<bool> {
        let (_, name, words) = &table[i];
        if ANY_EC.contains(&word) || words.contains(&word) || *name == word {
            return Some(true);
        }
        if OPENSSL_ONLY.contains(&word)
            || table.iter().any(|t| t.2.contains(&word))
            || word.starts_with("TLS_")
        {
            return Some(false);
        }
        None
    };
    let mut list: Vec<usize> = Vec::new();
    let mut killed = [false; 6];
    for entry in spec.split([':', ',', ' ', ';']).filter(|e| !e.is_empty()) {
        if entry.starts_with('@') {
            continue;
        }
        let (op, body) = match entry.as_bytes()[0] {
            b'!' | b'-' | b'+' => (entry.as_bytes()[0], &entry[1..]),
            _ => (b' ', entry),
        };
        let parts: Vec<&str> = body.split('+').filter(|p| !p.is_empty()).collect();
        let mut known = true;
        let sel: Vec<usize> = (0..table.len())
            .filter(|&i| {
                parts.iter().all(|p| match matches(p, i) {
                    Some(m) => m,
                    None => {
                        known = false;
                        false
                    }
                })
            })
            .collect();
        if op == b' ' && sel.is_empty() {
            warns.push(if known {
                format!("ssl_ciphers: \"{entry}\" selects no cipher suite rustls has, ignored")
            } else {
                format!("ssl_ciphers: \"{entry}\" is not supported by rustls, ignored")
            });
        }
        match op {
            b'!' => {
                for &i in &sel {
                    killed[i] = true;
                }
                list.retain(|i| !sel.contains(i));
            }
            b'-' => list.retain(|i| !sel.contains(i)),
            b'+' => {
                let moved: Vec<usize> = list.iter().copied().filter(|i| sel.contains(i)).collect();
                list.retain(|i| !sel.contains(i));
                list.extend(moved);
            }
            _ => {
                for i in sel {
                    if !killed[i] && !list.contains(&i) {
                        list.push(i);
                    }
                }
            }
        }
    }
    list.into_iter().map(|i| table[i].0).collect()
}

/// `ssl_ecdh_curve` onto rustls's key exchange groups (`auto`: X25519, P-256, P-384).
fn kx_groups(
    spec: &str,
    warns: &mut Vec<String>,
) -> Vec<&'static dyn rustls::crypto::SupportedKxGroup> {
    use rring::kx_group;
    let all = vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1];
    if spec.eq_ignore_ascii_case("auto") {
        return all;
    }
    let mut out = Vec::new();
    for name in spec.split(':').filter(|n| !n.is_empty()) {
        let g = match name {
            "X25519" | "x25519" => kx_group::X25519,
            "prime256v1" | "secp256r1" | "P-256" => kx_group::SECP256R1,
            "secp384r1" | "P-384" => kx_group::SECP384R1,
            _ => {
                warns.push(format!(
                    "ssl_ecdh_curve: \"{name}\" is not supported by rustls, ignored"
                ));
                continue;
            }
        };
        out.push(g);
    }
    if out.is_empty() {
        all
    } else {
        out
    }
}

/// Chooses among a server's certificates (RSA, ECDSA, Ed25519) as OpenSSL does: for
/// TLS 1.3 by the client's signature algorithms in its order (tls_choose_sigalg); for
/// TLS 1.2 by the cipher suite chosen first (client's order, or the server's with
/// `ssl_prefer_server_ciphers on`), whose authentication names the key type.
#[derive(Debug)]
struct Certs {
    keys: Vec<Arc<CertifiedKey>>,
    /// Pairs with variables, loaded per handshake.
    dynamic: Vec<(Vec<u8>, Vec<u8>)>,
    prefix: std::path::PathBuf,
    provider: Arc<CryptoProvider>,
    tls13: bool,
    /// The enabled TLS 1.2 suites in the server's order.
    tls12: Vec<CipherSuite>,
    prefer_server: bool,
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let k = self.pick(&hello)?;
        // The signature scheme in the client's order (OpenSSL), not rustls's.
        let key: Arc<dyn rustls::sign::SigningKey> = Arc::new(ClientOrder {
            inner: k.key.clone(),
            order: hello.signature_schemes().to_vec(),
        });
        let mut ck = CertifiedKey::new(k.cert.clone(), key);
        ck.ocsp = k.ocsp.clone();
        Some(Arc::new(ck))
    }
}

impl Certs {
    fn pick(&self, hello: &ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut loaded;
        let keys: &[Arc<CertifiedKey>] = if self.dynamic.is_empty() {
            &self.keys
        } else {
            loaded = self.keys.clone();
            let sni = hello.server_name().unwrap_or("");
            let mut errors = Vec::new();
            for (c, k) in &self.dynamic {
                let (c, k) = (expand_name(c, sni), expand_name(k, sni));
                if let Some(ck) = load_pair(&self.prefix, &self.provider, &c, &k, &mut errors) {
                    loaded.push(ck);
                }
            }
            for e in errors {
                super::errlog::write(crate::log::Level::Error, &e);
            }
            &loaded
        };
        let with_alg =
            |alg: rustls::SignatureAlgorithm| keys.iter().find(|k| k.key.algorithm() == alg);
        let offered = hello.cipher_suites();
        let tls13 = self.tls13
            && offered.iter().any(|s| {
                matches!(
                    s,
                    CipherSuite::TLS13_AES_256_GCM_SHA384
                        | CipherSuite::TLS13_AES_128_GCM_SHA256
                        | CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
                )
            });
        if !tls13 {
            let order: Vec<CipherSuite> = if self.prefer_server {
                self.tls12
                    .iter()
                    .copied()
                    .filter(|s| offered.contains(s))
                    .collect()
            } else {
                offered
                    .iter()
                    .copied()
                    .filter(|s| self.tls12.contains(s))
                    .collect()
            };
            for s in order {
                let alg = if openssl_name(s).starts_with("ECDHE-ECDSA") {
                    rustls::SignatureAlgorithm::ECDSA
                } else {
                    rustls::SignatureAlgorithm::RSA
                };
                if let Some(k) = with_alg(alg) {
                    return Some(k.clone());
                }
            }
        }
        let schemes: &[SignatureScheme] = hello.signature_schemes();
        for s in schemes {
            if let Some(c) = keys
                .iter()
                .find(|c| c.key.choose_scheme(std::slice::from_ref(s)).is_some())
            {
                return Some(c.clone());
            }
        }
        keys.first().cloned()
    }
}

/// The certificate `ssl_certificate_by_lua*` set for one handshake.
#[derive(Debug)]
struct LuaCert(Arc<CertifiedKey>);

impl ResolvesServerCert for LuaCert {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let key: Arc<dyn rustls::sign::SigningKey> = Arc::new(ClientOrder {
            inner: self.0.key.clone(),
            order: hello.signature_schemes().to_vec(),
        });
        Some(Arc::new(CertifiedKey::new(self.0.cert.clone(), key)))
    }
}

/// A signing key that takes the client's first acceptable signature scheme (OpenSSL's
/// order) instead of rustls's own preference (which puts SHA-512 first for RSA-PSS).
#[derive(Debug)]
struct ClientOrder {
    inner: Arc<dyn rustls::sign::SigningKey>,
    /// The client's signature_algorithms, in its order.
    order: Vec<SignatureScheme>,
}

impl rustls::sign::SigningKey for ClientOrder {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
        self.order
            .iter()
            .filter(|s| offered.contains(s))
            .find_map(|s| self.inner.choose_scheme(std::slice::from_ref(s)))
            .or_else(|| self.inner.choose_scheme(offered))
    }

    fn public_key(&self) -> Option<rustls::pki_types::SubjectPublicKeyInfoDer<'_>> {
        self.inner.public_key()
    }

    fn algorithm(&self) -> rustls::SignatureAlgorithm {
        self.inner.algorithm()
    }
}

/// Asks for a client certificate, never requires one, and accepts any chain whose
/// signatures check; the chain itself is verified after the handshake ([`verify_chain`]).
#[derive(Debug)]
struct AskClient {
    hints: Vec<DistinguishedName>,
    algs: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AskClient {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
            .or_else(|e| v1_signature(message, cert, dss, &self.algs).ok_or(e))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
            .or_else(|e| v1_signature(message, cert, dss, &self.algs).ok_or(e))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// The client's chain against the server's CAs: `None` = OK, else OpenSSL's
/// X509_V_ERR code and X509_verify_cert_error_string text.
fn verify_chain(v: &Verify, certs: &[Vec<u8>]) -> Option<(u32, &'static str)> {
    let leaf = certs.first()?;
    let self_issued = x509::names(leaf).is_some_and(|(i, s)| i == s);
    let unknown = if self_issued {
        (18, "self-signed certificate")
    } else if certs.len() > 1 {
        (20, "unable to get local issuer certificate")
    } else {
        (21, "unable to verify the first certificate")
    };
    let Some(chain) = &v.chain else {
        return Some(unknown);
    };
    let end = CertificateDer::from(leaf.clone());
    let inter: Vec<CertificateDer<'static>> = certs[1..]
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    use rustls::CertificateError as E;
    if x509::is_v1(leaf) {
        return v1_leaf(v, certs, unknown);
    }
    match chain.verify_client_cert(&end, &inter, UnixTime::now()) {
        Ok(_) => depth_check(v, certs),
        Err(rustls::Error::InvalidCertificate(e)) => Some(match e {
            E::Expired | E::ExpiredContext { .. } => (10, "certificate has expired"),
            E::NotValidYet | E::NotValidYetContext { .. } => (9, "certificate is not yet valid"),
            E::BadSignature => (7, "certificate signature failure"),
            E::Revoked => (23, "certificate revoked"),
            E::UnknownRevocationStatus => (3, "unable to get certificate CRL"),
            E::ExpiredRevocationList | E::ExpiredRevocationListContext { .. } => {
                (12, "CRL has expired")
            }
            E::InvalidPurpose | E::InvalidPurposeContext { .. } => {
                (26, "unsupported certificate purpose")
            }
            _ => unknown,
        }),
        Err(_) => Some(unknown),
    }
}

/// The handshake signature of an X.509 v1 client certificate, which rustls (webpki) does
/// not parse: checked with the certificate's public key directly.
fn v1_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &rustls::DigitallySignedStruct,
    algs: &rustls::crypto::WebPkiSupportedAlgorithms,
) -> Option<rustls::client::danger::HandshakeSignatureValid> {
    if !x509::is_v1(cert.as_ref()) {
        return None;
    }
    let c = x509::parts(cert.as_ref())?;
    let (_, candidates) = algs.mapping.iter().find(|(s, _)| *s == dss.scheme)?;
    candidates
        .iter()
        .filter(|a| a.public_key_alg_id().as_ref() == c.spki_alg)
        .any(|a| {
            a.verify_signature(c.spki_key, message, dss.signature())
                .is_ok()
        })
        .then(rustls::client::danger::HandshakeSignatureValid::assertion)
}

/// nginx (OpenSSL's X509_verify_cert) for an X.509 v1 client certificate, which webpki
/// refuses: issued by one of the trusted certificates, signed by it, within its validity
/// period (CRLs are not checked for it). `unknown`: the error when no issuer is trusted.
fn v1_leaf(
    v: &Verify,
    certs: &[Vec<u8>],
    unknown: (u32, &'static str),
) -> Option<(u32, &'static str)> {
    let leaf = certs.first()?;
    let Some(c) = x509::parts(leaf) else {
        return Some(unknown);
    };
    let Some(ca) = v
        .roots
        .iter()
        .filter_map(|r| x509::parts(r.as_ref()))
        .find(|r| r.subject == c.issuer)
    else {
        return Some(unknown);
    };
    let algs = rring::default_provider().signature_verification_algorithms;
    let signed = algs.all.iter().any(|a| {
        a.signature_alg_id().as_ref() == c.sig_alg
            && a.public_key_alg_id().as_ref() == ca.spki_alg
            && a.verify_signature(ca.spki_key, c.tbs, c.signature).is_ok()
    });
    if !signed {
        return Some((7, "certificate signature failure"));
    }
    let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
    match (c.not_before, c.not_after) {
        (Some(nb), _) if now < nb => return Some((9, "certificate is not yet valid")),
        (_, Some(na)) if now > na => return Some((10, "certificate has expired")),
        (None, _) | (_, None) => return Some(unknown),
        _ => {}
    }
    depth_check(v, certs)
}

/// One server's TLS directives, each from the server block or else the `http` block.
struct SrvDirectives<'a> {
    http: &'a [Directive],
    srv: &'a [Directive],
}

impl<'a> SrvDirectives<'a> {
    fn all(&self, name: &[u8]) -> Vec<&'a Directive> {
        let here: Vec<&Directive> = self.srv.iter().filter(|d| d.name == name).collect();
        if !here.is_empty() {
            return here;
        }
        self.http.iter().filter(|d| d.name == name).collect()
    }

    fn last(&self, name: &[u8]) -> Option<&'a Directive> {
        self.all(name).pop()
    }

    fn arg(&self, name: &[u8]) -> Option<String> {
        self.last(name)
            .and_then(|d| d.args.first())
            .map(|a| String::from_utf8_lossy(a).into_owned())
    }

    fn flag(&self, name: &[u8]) -> Option<bool> {
        self.arg(name).map(|a| a.eq_ignore_ascii_case("on"))
    }
}

fn block(d: &Directive) -> &[Directive] {
    match &d.body {
        parser::Body::Block(b) => &b.directives,
        _ => &[],
    }
}

/// One certificate and key from PEM (a file name or `data:`).
fn load_pair(
    prefix: &std::path::Path,
    provider: &CryptoProvider,
    c: &[u8],
    k: &[u8],
    warns: &mut Vec<String>,
) -> Option<Arc<CertifiedKey>> {
    let read = |n: &[u8]| -> Option<Vec<u8>> {
        if let Some(data) = n.strip_prefix(b"data:") {
            return Some(data.to_vec());
        }
        std::fs::read(crate::cycle::full_name(prefix, n)).ok()
    };
    let Some(cpem) = read(c) else {
        warns.push(format!(
            "cannot load certificate \"{}\"",
            crate::cycle::full_name(prefix, c).display()
        ));
        return None;
    };
    let Some(kpem) = read(k) else {
        warns.push(format!(
            "cannot load certificate key \"{}\"",
            crate::cycle::full_name(prefix, k).display()
        ));
        return None;
    };
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &cpem[..])
        .filter_map(Result::ok)
        .collect();
    let key = rustls_pemfile::private_key(&mut &kpem[..]).ok().flatten();
    let Some(key) = key else {
        warns.push(format!(
            "cannot load certificate key \"{}\": no private key rustls can read",
            String::from_utf8_lossy(k)
        ));
        return None;
    };
    match provider.key_provider.load_private_key(key) {
        Ok(signer) if !chain.is_empty() => Some(Arc::new(CertifiedKey::new(chain, signer))),
        Ok(_) => None,
        Err(e) => {
            warns.push(format!(
                "cannot load certificate key \"{}\": {e}",
                String::from_utf8_lossy(k)
            ));
            None
        }
    }
}

/// A certificate name with variables, for the handshake (nginx: the names are complex
/// values evaluated per connection). `$ssl_server_name` is the SNI name; other variables
/// have no value at handshake time here.
fn expand_name(name: &[u8], sni: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < name.len() {
        if name[i] != b'$' {
            out.push(name[i]);
            i += 1;
            continue;
        }
        let (var, next) = if name.get(i + 1) == Some(&b'{') {
            let end = name[i..]
                .iter()
                .position(|&c| c == b'}')
                .map_or(name.len(), |e| i + e);
            (&name[(i + 2).min(end)..end], end + 1)
        } else {
            let start = i + 1;
            let end = name[start..]
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                .map_or(name.len(), |e| start + e);
            (&name[start..end], end)
        };
        if var == b"ssl_server_name" {
            out.extend_from_slice(sni.as_bytes());
        }
        i = next;
    }
    out
}

/// Loads PEM certificates and keys into rustls (nginx: ngx_ssl_certificates); pairs with
/// variables in their names are returned apart, to be loaded at each handshake.
#[allow(clippy::type_complexity)]
fn load_keys(
    d: &SrvDirectives<'_>,
    prefix: &std::path::Path,
    provider: &CryptoProvider,
    warns: &mut Vec<String>,
) -> (Vec<Arc<CertifiedKey>>, Vec<(Vec<u8>, Vec<u8>)>) {
    let certs = d.all(b"ssl_certificate");
    let keys = d.all(b"ssl_certificate_key");
    let mut out = Vec::new();
    let mut dynamic = Vec::new();
    for (c, k) in certs.iter().zip(keys.iter()) {
        let (Some(c), Some(k)) = (c.args.first(), k.args.first()) else {
            continue;
        };
        if c.contains(&b'$') || k.contains(&b'$') {
            dynamic.push((c.clone(), k.clone()));
            continue;
        }
        if let Some(ck) = load_pair(prefix, provider, c, k, warns) {
            out.push(ck);
        }
    }
    // nginx: ngx_ssl_stapling_file: with `ssl_stapling on`, the DER OCSP response of
    // `ssl_stapling_file` is stapled to every certificate of the server (no responder query).
    if d.flag(b"ssl_stapling") == Some(true) {
        if let Some(file) = d.arg(b"ssl_stapling_file") {
            match std::fs::read(crate::cycle::full_name(prefix, file.as_bytes())) {
                Ok(der) => {
                    out = out
                        .into_iter()
                        .map(|ck| {
                            let mut ck = ck.as_ref().clone();
                            ck.ocsp = Some(der.clone());
                            Arc::new(ck)
                        })
                        .collect();
                }
                Err(e) => warns.push(format!(
                    "cannot read OCSP response \"{}\"{}",
                    crate::cycle::full_name(prefix, file.as_bytes()).display(),
                    crate::log::errno_text(&e)
                )),
            }
        }
    }
    (out, dynamic)
}

/// The CA certificates of a PEM file.
fn load_roots(prefix: &std::path::Path, name: &str) -> Vec<CertificateDer<'static>> {
    let Ok(pem) = std::fs::read(crate::cycle::full_name(prefix, name.as_bytes())) else {
        return Vec::new();
    };
    rustls_pemfile::certs(&mut &pem[..])
        .filter_map(Result::ok)
        .collect()
}

/// The base of an address's handshakes, from its default server.
struct Base {
    provider: Arc<CryptoProvider>,
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
    prefer_server: bool,
    storage: Arc<dyn rustls::server::StoresServerSessions>,
    ticketer: Arc<dyn rustls::server::ProducesTickets>,
    alpn: Vec<Vec<u8>>,
}

fn base(
    d: &SrvDirectives<'_>,
    prefix: &std::path::Path,
    http2: bool,
    warns: &mut Vec<String>,
) -> Base {
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    match d.last(b"ssl_protocols") {
        Some(p) => {
            for a in &p.args {
                match a.as_slice() {
                    b"TLSv1.2" => versions.push(&rustls::version::TLS12),
                    b"TLSv1.3" => versions.push(&rustls::version::TLS13),
                    _ => {}
                }
            }
        }
        // The project emulates the newer default users expect (nginx >= 1.23.4:
        // `TLSv1.2 TLSv1.3`); the reference 1.22 leaves TLSv1.3 off without ssl_protocols.
        None => versions = vec![&rustls::version::TLS12, &rustls::version::TLS13],
    }
    if versions.is_empty() {
        warns.push(
            "ssl_protocols: neither TLSv1.2 nor TLSv1.3 is enabled; rustls has no older protocol, TLSv1.2 is used".into(),
        );
        versions.push(&rustls::version::TLS12);
    }
    let ciphers = d
        .arg(b"ssl_ciphers")
        .unwrap_or_else(|| "HIGH:!aNULL:!MD5".into());
    let mut suites = vec![
        rring::cipher_suite::TLS13_AES_256_GCM_SHA384,
        rring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        rring::cipher_suite::TLS13_AES_128_GCM_SHA256,
    ];
    suites.extend(tls12_suites(&ciphers, warns));
    let curves = d.arg(b"ssl_ecdh_curve").unwrap_or_else(|| "auto".into());
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites,
        kx_groups: kx_groups(&curves, warns),
        ..rring::default_provider()
    });
    // nginx's default `ssl_session_cache none`: no server-side store.
    let cache = d
        .last(b"ssl_session_cache")
        .map(|c| c.args.clone())
        .unwrap_or_default();
    let mut size = 0usize;
    for a in &cache {
        if a == b"builtin" {
            size = size.max(20480);
        } else if let Some(n) = a.strip_prefix(b"builtin:") {
            size = size.max(atoi(n).and_then(|n| usize::try_from(n).ok()).unwrap_or(0));
        } else if a.starts_with(b"shared:") {
            // nginx: about 4000 sessions per megabyte.
            let n = shared_cache(a).map_or(0, |(_, b)| b);
            size = size.max(usize::try_from(n / 256).unwrap_or(usize::MAX).max(1));
        }
    }
    // nginx: ssl_session_timeout (5m): how long cached sessions and tickets resume.
    let timeout = d
        .arg(b"ssl_session_timeout")
        .and_then(|v| crate::conf::values::parse_time(v.as_bytes(), true))
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(300);
    let storage: Arc<dyn rustls::server::StoresServerSessions> = if size > 0 {
        Arc::new(TimedCache {
            inner: rustls::server::ServerSessionMemoryCache::new(size),
            timeout: u64::from(timeout),
        })
    } else {
        Arc::new(rustls::server::NoServerSessionStorage {})
    };
    let tickets = d.flag(b"ssl_session_tickets").unwrap_or(true);
    let ticketer: Arc<dyn rustls::server::ProducesTickets> = if tickets {
        // nginx: ngx_ssl_session_ticket_keys (checked when the configuration was read).
        let mut files = Vec::new();
        for k in d.all(b"ssl_session_ticket_key") {
            let Some(name) = k.args.first() else {
                continue;
            };
            let path = crate::cycle::full_name(prefix, name);
            match read_ticket_key(&path) {
                Ok(raw) => files.push(raw),
                Err(e) => warns.push(format!(
                    "ssl_session_ticket_key \"{}\" unusable ({e:?}), random keys used",
                    path.display()
                )),
            }
        }
        let keys = match files.is_empty() {
            true => TicketKeys::random(timeout),
            false => TicketKeys::new(&files, timeout),
        };
        match keys {
            Some(k) => Arc::new(k),
            None => Arc::new(NoTickets),
        }
    } else {
        Arc::new(NoTickets)
    };
    Base {
        provider,
        versions,
        prefer_server: d.flag(b"ssl_prefer_server_ciphers").unwrap_or(false),
        storage,
        ticketer,
        // nginx: NGX_HTTP_ALPN_PROTOS, after NGX_HTTP_V2_ALPN_PROTO on http2 addresses.
        alpn: [&b"h2"[..], b"http/1.1", b"http/1.0", b"http/0.9"]
            .iter()
            .filter(|p| http2 || **p != b"h2")
            .map(|p| p.to_vec())
            .collect(),
    }
}

/// Seconds since the epoch, for session and ticket ages.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Session tickets under fixed keys (nginx: ngx_ssl_session_ticket_key_callback with the
/// `ssl_session_ticket_key` files; without them OpenSSL's own keys, random per
/// configuration). The first key encrypts, every key decrypts, found by its 16-byte name.
/// A ticket is `name | nonce | AES-256-GCM(created | session)`, its key derived (HKDF-SHA256)
/// from the file's AES and HMAC keys; nginx uses AES-CBC + HMAC-SHA256 instead, but the
/// sessions inside are rustls's, so tickets never cross between nginx and oxresty anyway.
/// A ticket older than `ssl_session_timeout` does not resume (OpenSSL: SSL_CTX_set_timeout).
#[derive(Debug)]
pub(crate) struct TicketKeys {
    keys: Vec<TicketKey>,
    lifetime: u32,
    rng: ring::rand::SystemRandom,
}

struct TicketKey {
    name: [u8; 16],
    key: ring::aead::LessSafeKey,
}

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name: String = self.name.iter().map(|b| format!("{b:02x}")).collect();
        write!(f, "TicketKey({name})")
    }
}

const TICKET_NONCE: usize = 12;

impl TicketKeys {
    /// Keys from `ssl_session_ticket_key` files' contents (48 or 80 bytes each: name, then
    /// AES and HMAC keys).
    pub(crate) fn new(files: &[Vec<u8>], lifetime: u32) -> Option<TicketKeys> {
        let mut keys = Vec::new();
        for f in files {
            if f.len() != 48 && f.len() != 80 {
                return None;
            }
            let mut name = [0u8; 16];
            name.copy_from_slice(&f[..16]);
            keys.push(TicketKey {
                name,
                key: Self::derive(&name, &f[16..])?,
            });
        }
        (!keys.is_empty()).then(|| TicketKeys {
            keys,
            lifetime,
            rng: ring::rand::SystemRandom::new(),
        })
    }

    /// One random key (nginx without `ssl_session_ticket_key`: OpenSSL's keys, made with
    /// the SSL_CTX, so valid until the next reload).
    fn random(lifetime: u32) -> Option<TicketKeys> {
        use ring::rand::SecureRandom;
        let mut raw = vec![0u8; 80];
        ring::rand::SystemRandom::new().fill(&mut raw).ok()?;
        Self::new(&[raw], lifetime)
    }

    fn derive(name: &[u8; 16], material: &[u8]) -> Option<ring::aead::LessSafeKey> {
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"oxresty session ticket");
        let prk = salt.extract(material);
        let info = [&name[..]];
        let okm = prk.expand(&info, &ring::aead::AES_256_GCM).ok()?;
        Some(ring::aead::LessSafeKey::new(ring::aead::UnboundKey::from(
            okm,
        )))
    }
}

impl rustls::server::ProducesTickets for TicketKeys {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        self.lifetime
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        use ring::rand::SecureRandom;
        let k = self.keys.first()?;
        let mut nonce = [0u8; TICKET_NONCE];
        self.rng.fill(&mut nonce).ok()?;
        let mut body = unix_now().to_be_bytes().to_vec();
        body.extend_from_slice(plain);
        k.key
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(&k.name[..]),
                &mut body,
            )
            .ok()?;
        let mut out = Vec::with_capacity(16 + TICKET_NONCE + body.len());
        out.extend_from_slice(&k.name);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Some(out)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let name = cipher.get(..16)?;
        let nonce: [u8; TICKET_NONCE] = cipher.get(16..16 + TICKET_NONCE)?.try_into().ok()?;
        let k = self.keys.iter().find(|k| k.name[..] == *name)?;
        let mut body = cipher.get(16 + TICKET_NONCE..)?.to_vec();
        let plain = k
            .key
            .open_in_place(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(name),
                &mut body,
            )
            .ok()?;
        let created = u64::from_be_bytes(plain.get(..8)?.try_into().ok()?);
        if unix_now().saturating_sub(created) > u64::from(self.lifetime) {
            return None;
        }
        Some(plain[8..].to_vec())
    }
}

/// nginx's `builtin` / `shared` session caches: rustls's memory cache, each session stamped
/// with its creation time so that it ends after `ssl_session_timeout` (OpenSSL:
/// SSL_CTX_set_timeout).
#[derive(Debug)]
struct TimedCache {
    inner: Arc<rustls::server::ServerSessionMemoryCache>,
    timeout: u64,
}

impl TimedCache {
    fn fresh(&self, v: Vec<u8>) -> Option<Vec<u8>> {
        let created = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
        (unix_now().saturating_sub(created) <= self.timeout).then(|| v[8..].to_vec())
    }
}

impl rustls::server::StoresServerSessions for TimedCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let mut v = unix_now().to_be_bytes().to_vec();
        v.extend_from_slice(&value);
        self.inner.put(key, v)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.get(key).and_then(|v| self.fresh(v))
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.take(key).and_then(|v| self.fresh(v))
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// `ssl_session_tickets off`.
#[derive(Debug)]
struct NoTickets;

impl rustls::server::ProducesTickets for NoTickets {
    fn enabled(&self) -> bool {
        false
    }
    fn lifetime(&self) -> u32 {
        0
    }
    fn encrypt(&self, _plain: &[u8]) -> Option<Vec<u8>> {
        None
    }
    fn decrypt(&self, _cipher: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

/// A server's client verification (nginx: ngx_ssl_client_certificate).
fn verify_of(
    d: &SrvDirectives<'_>,
    prefix: &std::path::Path,
    provider: &Arc<CryptoProvider>,
) -> Option<Verify> {
    let mode = match d.arg(b"ssl_verify_client")?.as_str() {
        "on" => 1,
        "optional" => 2,
        "optional_no_ca" => 3,
        _ => return None,
    };
    let client = d
        .arg(b"ssl_client_certificate")
        .map(|n| load_roots(prefix, &n))
        .unwrap_or_default();
    let trusted = d
        .arg(b"ssl_trusted_certificate")
        .map(|n| load_roots(prefix, &n))
        .unwrap_or_default();
    let mut store = rustls::RootCertStore::empty();
    let mut hints = Vec::new();
    for c in &client {
        if store.add(c.clone()).is_ok() {
            if let Ok(ta) = webpki_subject(c) {
                hints.push(ta);
            }
        }
    }
    for c in &trusted {
        let _ = store.add(c.clone());
    }
    // `ssl_crl`: nginx checks every certificate of the chain (X509_V_FLAG_CRL_CHECK_ALL).
    let crls: Vec<rustls::pki_types::CertificateRevocationListDer<'static>> = d
        .arg(b"ssl_crl")
        .and_then(|n| std::fs::read(crate::cycle::full_name(prefix, n.as_bytes())).ok())
        .map(|pem| {
            rustls_pemfile::crls(&mut &pem[..])
                .filter_map(Result::ok)
                .collect()
        })
        .unwrap_or_default();
    let chain = if store.is_empty() {
        None
    } else {
        rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(store),
            provider.clone(),
        )
        .with_crls(crls)
        .build()
        .ok()
    };
    let anchors = client
        .iter()
        .chain(trusted.iter())
        .filter_map(|c| x509::names(c.as_ref()).map(|(_, subject)| subject))
        .collect();
    let roots = client.iter().chain(trusted.iter()).cloned().collect();
    let depth = d
        .arg(b"ssl_verify_depth")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    Some(Verify {
        mode,
        chain,
        hints,
        anchors,
        roots,
        depth,
    })
}

/// nginx: `ssl_verify_depth N` lets N intermediates stand between the client's certificate
/// and a trusted one; OpenSSL stops building the chain there (measured: code 20).
fn depth_check(v: &Verify, certs: &[Vec<u8>]) -> Option<(u32, &'static str)> {
    let mut issuer = x509::names(certs.first()?)?.0;
    let mut n = 0;
    while !v.anchors.contains(&issuer) {
        let next = certs[1..]
            .iter()
            .filter_map(|c| x509::names(c))
            .find(|(_, subject)| *subject == issuer)?;
        n += 1;
        if n >= certs.len() {
            return None;
        }
        issuer = next.0;
    }
    (n > v.depth).then_some((20, "unable to get local issuer certificate"))
}

/// A CA certificate's subject, as a CertificateRequest names it.
fn webpki_subject(c: &CertificateDer<'_>) -> Result<DistinguishedName, ()> {
    let mut store = rustls::RootCertStore::empty();
    store.add(c.clone()).map_err(|_| ())?;
    let ta = store.roots.first().ok_or(())?;
    Ok(DistinguishedName::in_sequence(ta.subject.as_ref()))
}

/// The `http2_*` settings of a server.
fn h2_settings(d: &SrvDirectives<'_>) -> H2Settings {
    let mut h = H2Settings::default();
    let size = |n: &[u8]| d.arg(n).and_then(|v| parse_size(v.as_bytes()));
    let num = |n: &[u8]| {
        d.arg(n)
            .and_then(|v| atoi(v.as_bytes()))
            .and_then(|v| u32::try_from(v).ok())
    };
    if let Some(v) = num(b"http2_max_concurrent_streams") {
        h.max_concurrent_streams = v;
    }
    let to32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    if let Some(v) = size(b"http2_max_header_size") {
        h.max_header_list_size = to32(v);
    }
    if let Some(v) = size(b"http2_body_preread_size") {
        h.initial_stream_window = to32(v);
    }
    if let Some(v) = size(b"http2_recv_buffer_size") {
        h.recv_buffer = to32(v);
    }
    if let Some(v) = size(b"http2_chunk_size") {
        h.chunk_size = to32(v);
    }
    h
}

/// The lowering pass's TLS step: fills `tls` of every `ssl` or `http2` address, and logs
/// (as `[warn]`) what rustls cannot do.
pub(crate) fn lower(http: &Directive, prefix: &std::path::Path, addrs: &mut [super::lower::Addr]) {
    // `prefix` is the configuration's directory (cycle->conf_prefix): nginx resolves
    // certificate, CA and CRL names against it.
    let http_ds = block(http);
    let srv_ds: Vec<&[Directive]> = http_ds
        .iter()
        .filter(|d| d.name == b"server")
        .map(block)
        .collect();
    let dirs = |i: usize| SrvDirectives {
        http: http_ds,
        srv: srv_ds.get(i).copied().unwrap_or_default(),
    };
    // `ssl on` (deprecated) and `http2 on` (nginx >= 1.25.1) make their servers'
    // addresses ssl / http2.
    for a in addrs.iter_mut() {
        for &s in &a.servers {
            let d = dirs(s);
            if d.flag(b"ssl") == Some(true) && s == a.default_server {
                a.ssl = true;
            }
            if d.flag(b"http2") == Some(true) {
                a.http2 = true;
            }
        }
    }
    let mut warns = Vec::new();
    for a in addrs.iter_mut() {
        if !a.ssl && !a.http2 {
            continue;
        }
        let def = dirs(a.default_server);
        let h2 = h2_settings(&def);
        let mut t = TlsAddr {
            ssl: a.ssl,
            configs: HashMap::new(),
            reject: Vec::new(),
            verify: HashMap::new(),
            default: a.default_server,
            servers: a.servers.clone(),
            h2,
            parts: HashMap::new(),
            cache_off: def
                .last(b"ssl_session_cache")
                .is_some_and(|c| c.args.iter().any(|a| a == b"off")),
        };
        if a.ssl {
            let b = base(&def, prefix, a.http2, &mut warns);
            for &s in &a.servers {
                let d = dirs(s);
                if d.flag(b"ssl_reject_handshake") == Some(true) {
                    t.reject.push(s);
                }
                let (keys, dynamic) = load_keys(&d, prefix, &b.provider, &mut warns);
                let verify = verify_of(&d, prefix, &b.provider);
                if keys.is_empty() && dynamic.is_empty() {
                    if let Some(v) = verify {
                        t.verify.insert(s, Arc::new(v));
                    }
                    continue;
                }
                let builder = match ServerConfig::builder_with_provider(b.provider.clone())
                    .with_protocol_versions(&b.versions)
                {
                    Ok(x) => x,
                    Err(e) => {
                        warns.push(format!("ssl: {e}"));
                        continue;
                    }
                };
                let asker = verify.as_ref().map(|v| -> Arc<dyn ClientCertVerifier> {
                    Arc::new(AskClient {
                        hints: v.hints.clone(),
                        algs: b.provider.signature_verification_algorithms,
                    })
                });
                let builder = match &asker {
                    Some(a) => builder.with_client_cert_verifier(a.clone()),
                    None => builder.with_no_client_auth(),
                };
                t.parts.insert(
                    s,
                    LuaParts {
                        provider: b.provider.clone(),
                        versions: b.versions.clone(),
                        verifier: asker,
                    },
                );
                let certs = Certs {
                    keys,
                    dynamic,
                    prefix: prefix.to_path_buf(),
                    provider: b.provider.clone(),
                    tls13: b.versions.contains(&&rustls::version::TLS13),
                    tls12: b
                        .provider
                        .cipher_suites
                        .iter()
                        .map(|s| s.suite())
                        .filter(|s| !openssl_name(*s).starts_with("TLS_"))
                        .collect(),
                    prefer_server: b.prefer_server,
                };
                let mut cfg = builder.with_cert_resolver(Arc::new(certs));
                cfg.ignore_client_order = b.prefer_server;
                cfg.session_storage = b.storage.clone();
                cfg.ticketer = b.ticketer.clone();
                cfg.alpn_protocols = b.alpn.clone();
                if let Some(v) = verify {
                    t.verify.insert(s, Arc::new(v));
                }
                t.configs.insert(s, Arc::new(cfg));
            }
        }
        a.tls = Some(Arc::new(t));
    }
    warns.dedup();
    for w in warns {
        // As nginx's configuration warnings: on stderr and in the error log (if its level
        // lets warnings through).
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "nginx: [warn] {w}");
        super::errlog::write(crate::log::Level::Warn, &w);
    }
}

/// What the handshake of a new connection on a TLS address decided.
pub(crate) enum Handshake {
    /// Go on with this configuration (the SNI server's, else the default server's).
    Accept(Arc<ServerConfig>, Option<Vec<u8>>),
    /// `ssl_reject_handshake on`: an `unrecognized_name` alert, then close.
    Reject,
}

impl TlsAddr {
    /// nginx: ngx_http_ssl_servername: the server the SNI name selects, its configuration.
    pub(crate) fn choose(&self, http: &super::lower::Http, sni: Option<&str>) -> Handshake {
        let host = sni
            .filter(|s| !s.is_empty())
            .and_then(|s| super::request::validate_host(s.as_bytes()));
        let found = host.as_ref().and_then(|h| {
            let s = super::request::find_server_index(http, &self.servers, h)?;
            Some((s, h.clone()))
        });
        let (server, sni_host) = match found {
            Some((s, h)) => (s, Some(h)),
            None => (self.default, None),
        };
        if self.reject.contains(&server) {
            return Handshake::Reject;
        }
        match self
            .configs
            .get(&server)
            .or_else(|| self.configs.get(&self.default))
            .or_else(|| self.configs.values().next())
        {
            Some(c) => Handshake::Accept(c.clone(), sni_host),
            None => Handshake::Reject,
        }
    }

    /// `ssl_session_cache off` (no session ids are given out).
    pub(crate) fn session_cache_off(&self) -> bool {
        self.cache_off
    }

    /// The address's default server.
    pub(crate) fn default_server(&self) -> usize {
        self.default
    }

    /// The server an SNI name selects (as [`TlsAddr::choose`]) and the validated host.
    pub(crate) fn server_of(
        &self,
        http: &super::lower::Http,
        sni: Option<&str>,
    ) -> (usize, Option<Vec<u8>>) {
        let host = sni
            .filter(|s| !s.is_empty())
            .and_then(|s| super::request::validate_host(s.as_bytes()));
        let found = host.as_ref().and_then(|h| {
            let s = super::request::find_server_index(http, &self.servers, h)?;
            Some((s, h.clone()))
        });
        match found {
            Some((s, h)) => (s, Some(h)),
            None => (self.default, None),
        }
    }

    /// The configuration a server's handshakes start from.
    pub(crate) fn base_config(&self, server: usize) -> Option<Arc<ServerConfig>> {
        self.config_of(server).map(|(_, c)| c.clone())
    }

    /// `ssl_reject_handshake on` in this server.
    pub(crate) fn rejects(&self, server: usize) -> bool {
        self.reject.contains(&server)
    }

    fn config_of(&self, server: usize) -> Option<(usize, &Arc<ServerConfig>)> {
        [server, self.default]
            .into_iter()
            .find_map(|s| self.configs.get(&s).map(|c| (s, c)))
            .or_else(|| self.configs.iter().next().map(|(s, c)| (*s, c)))
    }

    /// The TLS versions (wire numbers) a server's handshake may use: `protocols` (Lua's
    /// `set_protocols`, which replaces `ssl_protocols`) among those rustls has, else the
    /// configured ones.
    pub(crate) fn versions_of(&self, server: usize, protocols: Option<&[u16]>) -> Vec<u16> {
        if let Some(p) = protocols {
            return p.to_vec();
        }
        let Some(parts) = self.config_of(server).and_then(|(s, _)| self.parts.get(&s)) else {
            return Vec::new();
        };
        parts
            .versions
            .iter()
            .map(|v| u16::from(v.version))
            .collect()
    }

    /// A server's configuration as the Lua hooks changed it: other `protocols`, or the
    /// certificate `key` in place of the configured ones (chosen in the client's
    /// signature-scheme order, as [`Certs`] does).
    pub(crate) fn lua_config(
        &self,
        server: usize,
        protocols: Option<&[u16]>,
        key: Option<Arc<CertifiedKey>>,
        verify: Option<&Verify>,
    ) -> Option<Arc<ServerConfig>> {
        let (s, base) = self.config_of(server)?;
        if key.is_none() && protocols.is_none() && verify.is_none() {
            return Some(base.clone());
        }
        let resolver: Arc<dyn ResolvesServerCert> = match key {
            Some(k) => Arc::new(LuaCert(k)),
            None => base.cert_resolver.clone(),
        };
        if protocols.is_none() && verify.is_none() {
            let mut cfg = (**base).clone();
            cfg.cert_resolver = resolver;
            return Some(Arc::new(cfg));
        }
        let parts = self.parts.get(&s)?;
        let versions: Vec<&'static rustls::SupportedProtocolVersion> = match protocols {
            Some(protocols) => [&rustls::version::TLS12, &rustls::version::TLS13]
                .into_iter()
                .filter(|v| protocols.contains(&u16::from(v.version)))
                .collect(),
            None => parts.versions.clone(),
        };
        let builder = ServerConfig::builder_with_provider(parts.provider.clone())
            .with_protocol_versions(&versions)
            .ok()?;
        // ngx.ssl.verify_client: ask for a certificate, naming the Lua CAs
        let asker = verify.map(|v| -> Arc<dyn ClientCertVerifier> {
            Arc::new(AskClient {
                hints: v.hints.clone(),
                algs: parts.provider.signature_verification_algorithms,
            })
        });
        let builder = match asker.as_ref().or(parts.verifier.as_ref()) {
            Some(v) => builder.with_client_cert_verifier(v.clone()),
            None => builder.with_no_client_auth(),
        };
        let mut cfg = builder.with_cert_resolver(resolver);
        cfg.ignore_client_order = base.ignore_client_order;
        cfg.session_storage = base.session_storage.clone();
        cfg.ticketer = base.ticketer.clone();
        cfg.alpn_protocols = base.alpn_protocols.clone();
        Some(Arc::new(cfg))
    }

    /// The connection's negotiated state after the handshake.
    pub(crate) fn info(
        &self,
        http: &super::lower::Http,
        conn: &rustls::ServerConnection,
        sni_host: Option<Vec<u8>>,
    ) -> TlsInfo {
        let certs: Vec<Vec<u8>> = conn
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.as_ref().to_vec()).collect())
            .unwrap_or_default();
        let server = sni_host
            .as_ref()
            .and_then(|h| super::request::find_server_index(http, &self.servers, h))
            .unwrap_or(self.default);
        let verify = self.verify.get(&server);
        let verify_error = match verify {
            Some(v) if !certs.is_empty() => verify_chain(v, &certs),
            _ => None,
        };
        TlsInfo {
            plain: false,
            protocol: match conn.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
                Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
                _ => "",
            },
            cipher: conn
                .negotiated_cipher_suite()
                .map_or("", |s| openssl_name(s.suite())),
            curve: conn
                .negotiated_key_exchange_group()
                .map(|g| match g.name() {
                    rustls::NamedGroup::X25519 => "X25519",
                    rustls::NamedGroup::secp256r1 => "prime256v1",
                    rustls::NamedGroup::secp384r1 => "secp384r1",
                    _ => "",
                }),
            server_name: conn.server_name().map(str::to_string),
            sni_host,
            reused: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            certs,
            verify_error,
            lua_ctx: None,
        }
    }
}

impl TlsInfo {
    /// ngx.ssl.verify_client: the client's chain checked against the Lua hook's CAs
    /// (`$ssl_client_verify`; the request is not refused for it, as in nginx without
    /// `ssl_verify_client`).
    pub(crate) fn lua_verify(&mut self, v: &Verify) {
        self.verify_error = match self.certs.is_empty() {
            true => None,
            false => verify_chain(v, &self.certs),
        };
    }
}

impl TlsAddr {
    /// The client verification `ngx.ssl.verify_client(ca_certs, depth)` asks for in
    /// `server`'s handshake: `ca_certs` (DER), else the server's own CAs
    /// (`ssl_client_certificate` + `ssl_trusted_certificate`, when it verifies clients);
    /// `depth` < 0: the server's `ssl_verify_depth` (1).
    pub(crate) fn lua_verify(
        &self,
        server: usize,
        ca_certs: Option<Vec<CertificateDer<'static>>>,
        depth: i64,
    ) -> Verify {
        let own = self.verify.get(&server);
        let depth = usize::try_from(depth)
            .ok()
            .or_else(|| own.map(|v| v.depth))
            .unwrap_or(1);
        let Some(cas) = ca_certs else {
            return match own {
                Some(v) => Verify {
                    mode: 2,
                    chain: v.chain.clone(),
                    hints: v.hints.clone(),
                    anchors: v.anchors.clone(),
                    roots: v.roots.clone(),
                    depth,
                },
                None => Verify {
                    mode: 2,
                    chain: None,
                    hints: Vec::new(),
                    anchors: Vec::new(),
                    roots: Vec::new(),
                    depth,
                },
            };
        };
        let provider = self
            .config_of(server)
            .and_then(|(s, _)| self.parts.get(&s))
            .map(|p| p.provider.clone())
            .unwrap_or_else(|| Arc::new(rring::default_provider()));
        let mut store = rustls::RootCertStore::empty();
        let mut hints = Vec::new();
        for c in &cas {
            if store.add(c.clone()).is_ok() {
                if let Ok(ta) = webpki_subject(c) {
                    hints.push(ta);
                }
            }
        }
        let chain = if store.is_empty() {
            None
        } else {
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider)
                .build()
                .ok()
        };
        Verify {
            mode: 2,
            chain,
            hints,
            anchors: cas
                .iter()
                .filter_map(|c| x509::names(c.as_ref()).map(|(_, subject)| subject))
                .collect(),
            roots: cas,
            depth,
        }
    }
}

/// A plain connection on an `ssl` address.
pub(crate) fn plain_info() -> TlsInfo {
    TlsInfo {
        plain: true,
        ..TlsInfo::default()
    }
}

/// The TLS alert nginx's rejected handshake ends with: fatal `unrecognized_name`.
pub(crate) const REJECT_ALERT: &[u8] = &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70];

#[cfg(test)]
mod tests {
    use super::*;

    fn names(spec: &str) -> (Vec<&'static str>, Vec<String>) {
        let mut w = Vec::new();
        let v = tls12_suites(spec, &mut w)
            .into_iter()
            .map(|s| openssl_name(s.suite()))
            .collect();
        (v, w)
    }

    #[test]
    fn cipher_strings() {
        let (v, w) = names("HIGH:!aNULL:!MD5");
        assert_eq!(v.len(), 6);
        assert_eq!(v[0], "ECDHE-ECDSA-AES256-GCM-SHA384");
        assert!(w.is_empty());
        let (v, _) = names("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384");
        assert_eq!(
            v,
            ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"]
        );
        let (v, _) = names("HIGH:!ECDSA:-CHACHA20");
        assert_eq!(
            v,
            ["ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256"]
        );
        let (v, _) = names("AESGCM+aRSA:+AES256");
        assert_eq!(
            v,
            ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"]
        );
        let (v, w) = names("DHE-RSA-AES256-SHA:CAMELLIA:EECDH+CHACHA20:@STRENGTH");
        assert_eq!(
            v,
            [
                "ECDHE-ECDSA-CHACHA20-POLY1305",
                "ECDHE-RSA-CHACHA20-POLY1305"
            ]
        );
        assert_eq!(w.len(), 2, "{w:?}");
        let (_, w) = names("NOSUCHWORD");
        assert!(w[0].contains("is not supported by rustls"), "{w:?}");
    }

    #[test]
    fn curves() {
        let mut w = Vec::new();
        assert_eq!(kx_groups("auto", &mut w).len(), 3);
        assert_eq!(kx_groups("secp384r1:X448", &mut w).len(), 1);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn pem_and_escapes() {
        let p = String::from_utf8(pem(b"abc")).unwrap_or_default();
        assert_eq!(
            p,
            "-----BEGIN CERTIFICATE-----\nYWJj\n-----END CERTIFICATE-----\n"
        );
        let mut out = Vec::new();
        x509::escape_for_test(&mut out, b"a,b+ c ");
        assert_eq!(out, b"a\\,b\\+ c\\ ");
    }

    #[test]
    fn shared_caches() {
        assert_eq!(
            shared_cache(b"shared:SSL:10m"),
            Ok((b"SSL".to_vec(), 10 << 20))
        );
        assert_eq!(shared_cache(b"shared:SSL:1k"), Err(false));
        assert_eq!(shared_cache(b"shared::10m"), Err(true));
        assert_eq!(shared_cache(b"shared:SSL"), Err(true));
    }

    #[test]
    fn ticket_keys() {
        use rustls::server::ProducesTickets;
        let k1: Vec<u8> = (0u8..80).collect();
        let k2: Vec<u8> = (100u8..148).collect();
        let a = TicketKeys::new(std::slice::from_ref(&k1), 300).unwrap_or_else(|| panic!("keys"));
        let b = TicketKeys::new(&[k2.clone(), k1.clone()], 300).unwrap_or_else(|| panic!("keys"));
        let t = a.encrypt(b"session").unwrap_or_default();
        assert_eq!(&t[..16], &k1[..16]);
        assert_eq!(a.decrypt(&t).as_deref(), Some(&b"session"[..]));
        // a second key decrypts, the first one encrypts
        assert_eq!(b.decrypt(&t).as_deref(), Some(&b"session"[..]));
        assert_eq!(&b.encrypt(b"x").unwrap_or_default()[..16], &k2[..16]);
        let mut bad = t.clone();
        let n = bad.len() - 1;
        bad[n] ^= 1;
        assert!(a.decrypt(&bad).is_none());
        assert!(a.decrypt(&t[..20]).is_none());
        let other = TicketKeys::new(&[k2], 300).unwrap_or_else(|| panic!("keys"));
        assert!(other.decrypt(&t).is_none());
        assert!(TicketKeys::new(&[vec![0; 50]], 300).is_none());
        // expired: created "long ago"
        let zero = TicketKeys::new(&[k1], 0).unwrap_or_else(|| panic!("keys"));
        let mut old = unix_now().saturating_sub(10).to_be_bytes().to_vec();
        old.extend_from_slice(b"s");
        let k = &zero.keys[0];
        let nonce = [1u8; TICKET_NONCE];
        let _ = k.key.seal_in_place_append_tag(
            ring::aead::Nonce::assume_unique_for_key(nonce),
            ring::aead::Aad::from(&k.name[..]),
            &mut old,
        );
        let mut ticket = k.name.to_vec();
        ticket.extend_from_slice(&nonce);
        ticket.extend_from_slice(&old);
        assert!(zero.decrypt(&ticket).is_none());
    }

    #[test]
    fn asn1_times() {
        assert_eq!(x509::asn1_time_for_test(0x17, b"700101000000Z"), Some(0));
        assert_eq!(
            x509::asn1_time_for_test(0x17, b"240229120000Z"),
            Some(1_709_208_000)
        );
        assert_eq!(
            x509::asn1_time_for_test(0x18, b"20500101000000Z"),
            Some(2_524_608_000)
        );
        assert_eq!(x509::asn1_time_for_test(0x17, b"2402"), None);
    }

    #[test]
    fn bio_text() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(
            bio_error(std::path::Path::new("/x.pem"), &e),
            "BIO_new_file() failed (SSL: error:80000002:system library::No such file or directory:calling fopen(/x.pem, r) error:10000080:BIO routines::no such file)"
        );
    }
}
