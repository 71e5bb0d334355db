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
        Set::Slot(Slot::StrArray),
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
        Set::Slot(Slot::Str),
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
            if conf.stapling == Some(true) {
                stapling_check(cf, conf, cert);
            }
        }
    }
    if let Some(v) = conf.verify.filter(|&v| v != 0) {
        if conf.client_certificate.as_ref().is_none_or(Vec::is_empty) && v != 3 {
            return fail(cf, "no ssl_client_certificate for ssl_verify_client".into());
        }
    }
    Ok(())
}

/// The full name of a certificate file (nginx: ngx_get_full_name with the conf prefix).
fn cert_path(cf: &Cf<'_>, name: &[u8]) -> std::path::PathBuf {
    crate::cycle::full_name(&cf.conf_prefix, name)
}

/// OpenSSL's text for a failed BIO_new_file() (OpenSSL 3 as the reference links it).
fn bio_error(path: &std::path::Path, e: &std::io::Error) -> String {
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
fn load_certificate(cf: &mut Cf<'_>, name: &[u8]) -> Result<(), String> {
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
fn load_key(cf: &mut Cf<'_>, name: &[u8]) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn bio_text() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(
            bio_error(std::path::Path::new("/x.pem"), &e),
            "BIO_new_file() failed (SSL: error:80000002:system library::No such file or directory:calling fopen(/x.pem, r) error:10000080:BIO routines::no such file)"
        );
    }
}
