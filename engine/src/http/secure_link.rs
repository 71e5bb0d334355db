//! ngx_http_secure_link_module.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::gzip::complex_value_slot;
use crate::http::request::Request;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_secure_link_module",
    commands: &[
        cmd(
            "secure_link",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(secure_link),
        ),
        cmd(
            "secure_link_md5",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(secure_link_md5),
        ),
        cmd(
            "secure_link_secret",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
    ],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &["secure_link", "secure_link_expires"];

fn secure_link(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    complex_value_slot(cf, d, "secure_link")
}

fn secure_link_md5(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    complex_value_slot(cf, d, "secure_link_md5")
}

/// nginx: ngx_http_secure_link_variable: "1" when the link's hash is the MD5 of
/// `secure_link_md5` (and it has not expired), "0" when it expired, not found otherwise;
/// with `secure_link_secret`, the old form.
pub(crate) fn variable(r: &Request) -> Option<Vec<u8>> {
    if let Some(secret) = &r.loc.secure_link_secret {
        return old_variable(r, secret);
    }
    let (Some(link), Some(md5)) = (&r.loc.secure_link, &r.loc.secure_link_md5) else {
        return None;
    };
    let val = r.eval(link);
    let (hash, expires) = match val.iter().position(|&c| c == b',') {
        Some(i) => {
            let e = crate::conf::values::atoi(&val[i + 1..]).filter(|&e| e > 0)?;
            (&val[..i], e)
        }
        None => (&val[..], 0),
    };
    if hash.len() > 24 {
        return None;
    }
    let hash = crate::http::auth_basic::decode_base64url(hash)?;
    if hash.len() != 16 {
        return None;
    }
    let digest = {
        use md5::Digest;
        md5::Md5::digest(r.eval(md5))
    };
    if hash[..] != digest[..] {
        return None;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Some(if expires != 0 && expires < now {
        b"0".to_vec()
    } else {
        b"1".to_vec()
    })
}

/// `$secure_link_expires`: the link's expiry time as written (nginx sets it while
/// `$secure_link` is evaluated).
pub(crate) fn expires(r: &Request) -> Option<Vec<u8>> {
    if r.loc.secure_link_secret.is_some() {
        return None;
    }
    let val = r.eval(r.loc.secure_link.as_ref()?);
    let i = val.iter().position(|&c| c == b',')?;
    crate::conf::values::atoi(&val[i + 1..]).filter(|&e| e > 0)?;
    Some(val[i + 1..].to_vec())
}

/// nginx: ngx_http_secure_link_old_variable: `/prefix/<md5 hex of link+secret>/link`; the
/// value is the link.
fn old_variable(r: &Request, secret: &[u8]) -> Option<Vec<u8>> {
    let uri = r.request_uri.get(1..)?;
    let start = uri.iter().position(|&c| c == b'/')? + 1;
    let len = uri[start..].iter().position(|&c| c == b'/')?;
    let (hex, link) = (&uri[start..start + len], &uri[start + len + 1..]);
    if hex.len() != 32 || link.is_empty() || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let digest = {
        use md5::Digest;
        let mut h = md5::Md5::new();
        h.update(link);
        h.update(secret);
        h.finalize()
    };
    for (i, b) in digest.iter().enumerate() {
        let s = std::str::from_utf8(&hex[2 * i..2 * i + 2]).ok()?;
        if u8::from_str_radix(s, 16).ok()? != *b {
            return None;
        }
    }
    Some(link.to_vec())
}
