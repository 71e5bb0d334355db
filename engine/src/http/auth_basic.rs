//! ngx_http_auth_basic_module: `auth_basic`, `auth_basic_user_file`.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult};
use crate::http::gzip::complex_value_slot;

const CTX: Ctx = Ctx::HTTP_MSL.or(Ctx::HTTP_LMT);

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_auth_basic_module",
    commands: &[
        cmd("auth_basic", CTX, Args::TAKE1, Set::Handler(auth_basic)),
        cmd(
            "auth_basic_user_file",
            CTX,
            Args::TAKE1,
            Set::Handler(auth_basic_user_file),
        ),
    ],
};

fn auth_basic(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    complex_value_slot(cf, d, "auth_basic")
}

/// nginx: ngx_http_auth_basic_user_file (a complex value, resolved against the conf prefix).
fn auth_basic_user_file(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    complex_value_slot(cf, d, "auth_basic_user_file")
}

// ---- runtime: lowering, the access handler and nginx's password schemes ----

use crate::http::access::Verdict;
use crate::http::request::Request;
use crate::log::Level;

/// Folds `auth_basic`, `auth_basic_user_file` and the core module's `satisfy` into a level.
pub(crate) fn lower(c: &mut crate::http::lower::LocConf, d: &Directive) {
    let a = d.args.first().map(Vec::as_slice).unwrap_or_default();
    let cv = || crate::http::variables::parse_complex_value(a).unwrap_or_default();
    match d.name.as_slice() {
        b"auth_basic" => c.auth_basic = Some((a != b"off").then(cv)),
        b"auth_basic_user_file" => c.auth_basic_user_file = Some(cv()),
        b"satisfy" => c.satisfy_any = Some(a == b"any"),
        _ => {}
    }
}

/// nginx: ngx_http_auth_basic_user: the user and password of `Authorization: Basic`.
pub(crate) fn basic_credentials(r: &Request) -> Option<(Vec<u8>, Vec<u8>)> {
    let h = r.headers.get(hyper::header::AUTHORIZATION)?.as_bytes();
    if h.len() < 6 || !h[..6].eq_ignore_ascii_case(b"Basic ") {
        return None;
    }
    let mut enc = &h[6..];
    while let Some(rest) = enc.strip_prefix(b" ") {
        enc = rest;
    }
    if enc.is_empty() {
        return None;
    }
    let auth = decode_base64(enc)?;
    let colon = auth.iter().position(|&c| c == b':')?;
    if colon == 0 {
        return None;
    }
    Some((auth[..colon].to_vec(), auth[colon + 1..].to_vec()))
}

/// The `$remote_user` value (nginx: r->headers_in.user).
pub(crate) fn remote_user(r: &Request) -> Option<Vec<u8>> {
    basic_credentials(r).map(|(u, _)| u)
}

/// nginx: ngx_http_auth_basic_handler: the verdict, and the `WWW-Authenticate` value for 401.
pub(crate) async fn handler(r: &Request) -> (Verdict, Option<Vec<u8>>) {
    let (Some(Some(realm)), Some(file)) = (&r.loc.auth_basic, &r.loc.auth_basic_user_file) else {
        return (Verdict::Declined, None);
    };
    let realm = r.eval(realm);
    if realm == b"off" {
        return (Verdict::Declined, None);
    }
    let challenge = || {
        let mut v = b"Basic realm=\"".to_vec();
        v.extend_from_slice(&realm);
        v.push(b'"');
        (Verdict::Status(401), Some(v))
    };
    let Some((user, passwd)) = basic_credentials(r) else {
        crate::http::errlog::log(
            r,
            Level::Info,
            "no user/password was provided for basic authentication",
        );
        return challenge();
    };
    // nginx resolves the file against the configuration's directory (`cycle->conf_prefix`).
    let path = crate::cycle::full_name(&r.http.conf_prefix, &r.eval(file));
    let shown = path.display().to_string();
    let data = match tokio::fs::read(&path).await {
        Ok(d) => d,
        Err(e) => {
            let (level, status) = if e.kind() == std::io::ErrorKind::NotFound {
                (Level::Error, 403)
            } else {
                (Level::Crit, 500)
            };
            crate::http::errlog::log(
                r,
                level,
                &format!("open() \"{shown}\" failed ({})", crate::log::errno_text(&e)),
            );
            return (Verdict::Status(status), None);
        }
    };
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let Some(pwd) = find_user(&data, &user) else {
        crate::http::errlog::request_error(
            r,
            &format!("user \"{}\" was not found in \"{shown}\"", lossy(&user)),
        );
        return challenge();
    };
    match crypt(&passwd, &pwd) {
        Some(enc) if enc == pwd => (Verdict::Ok, None),
        Some(_) => {
            crate::http::errlog::request_error(
                r,
                &format!("user \"{}\": password mismatch", lossy(&user)),
            );
            challenge()
        }
        None => (Verdict::Status(500), None),
    }
}

/// nginx's user file scan: the password of the first `user:` line (comments start with `#`;
/// the password ends at a line end or `:`).
pub(crate) fn find_user(data: &[u8], user: &[u8]) -> Option<Vec<u8>> {
    for line in data.split(|&c| c == b'\n') {
        if line.first().is_some_and(|&c| c == b'#' || c == b'\r') {
            continue;
        }
        let Some(rest) = line.strip_prefix(user).and_then(|l| l.strip_prefix(b":")) else {
            continue;
        };
        let end = rest
            .iter()
            .position(|&c| c == b'\r' || c == b':')
            .unwrap_or(rest.len());
        return Some(rest[..end].to_vec());
    }
    None
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// nginx: ngx_decode_base64 (stops at `=`; a bad character or a dangling sextet fails).
pub(crate) fn decode_base64(src: &[u8]) -> Option<Vec<u8>> {
    decode_with(src, B64)
}

/// nginx: ngx_decode_base64url (`-` and `_` for `+` and `/`).
pub(crate) fn decode_base64url(src: &[u8]) -> Option<Vec<u8>> {
    decode_with(
        src,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    )
}

fn decode_with(src: &[u8], alphabet: &[u8; 64]) -> Option<Vec<u8>> {
    let end = src.iter().position(|&c| c == b'=').unwrap_or(src.len());
    let src = &src[..end];
    let val = |c: u8| alphabet.iter().position(|&b| b == c).map(|v| v as u32);
    let vals: Vec<u32> = src.iter().map(|&c| val(c)).collect::<Option<_>>()?;
    if vals.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(vals.len() * 3 / 4);
    for chunk in vals.chunks(4) {
        let mut n = 0u32;
        for (i, v) in chunk.iter().enumerate() {
            n |= v << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    Some(out)
}

/// nginx: ngx_encode_base64 (padded).
pub(crate) fn encode_base64(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len().div_ceil(3) * 4);
    for chunk in src.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 0x3f) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

/// nginx: ngx_crypt: `key` encrypted with the scheme and salt of `salt` (`None`: failure).
pub(crate) fn crypt(key: &[u8], salt: &[u8]) -> Option<Vec<u8>> {
    use sha1::{Digest, Sha1};
    if salt.starts_with(b"$apr1$") {
        return Some(apr1(key, salt));
    }
    if let Some(rest) = salt.strip_prefix(b"{PLAIN}") {
        let _ = rest;
        let mut v = b"{PLAIN}".to_vec();
        v.extend_from_slice(key);
        return Some(v);
    }
    if let Some(rest) = salt.strip_prefix(b"{SSHA}") {
        let mut decoded = decode_base64(rest).unwrap_or_default();
        if decoded.len() < 20 {
            decoded.resize(20, 0);
        }
        let mut h = Sha1::new();
        h.update(key);
        h.update(&decoded[20..]);
        decoded[..20].copy_from_slice(&h.finalize());
        let mut v = b"{SSHA}".to_vec();
        v.extend_from_slice(&encode_base64(&decoded));
        return Some(v);
    }
    if salt.starts_with(b"{SHA}") {
        let mut v = b"{SHA}".to_vec();
        v.extend_from_slice(&encode_base64(&Sha1::digest(key)));
        return Some(v);
    }
    libc_crypt(key, salt)
}

/// nginx: ngx_crypt_apr1 (Apache's MD5 crypt).
fn apr1(key: &[u8], salt: &[u8]) -> Vec<u8> {
    use md5::{Digest, Md5};
    const MAGIC: &[u8] = b"$apr1$";
    let s = &salt[MAGIC.len()..];
    let s = &s[..s
        .iter()
        .take(8)
        .position(|&c| c == b'$')
        .unwrap_or(s.len().min(8))];
    let mut ctx = Md5::new();
    ctx.update(key);
    ctx.update(MAGIC);
    ctx.update(s);
    let mut alt = Md5::new();
    alt.update(key);
    alt.update(s);
    alt.update(key);
    let alt = alt.finalize();
    let mut n = key.len();
    while n > 0 {
        ctx.update(&alt[..n.min(16)]);
        n = n.saturating_sub(16);
    }
    let mut i = key.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&key[..1]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();
    for i in 0..1000 {
        let mut c = Md5::new();
        if i & 1 == 1 {
            c.update(key);
        } else {
            c.update(fin);
        }
        if i % 3 != 0 {
            c.update(s);
        }
        if i % 7 != 0 {
            c.update(key);
        }
        if i & 1 == 1 {
            c.update(fin);
        } else {
            c.update(key);
        }
        fin = c.finalize();
    }
    const ITOA64: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(s);
    out.push(b'$');
    let mut to64 = |mut v: u32, n: usize| {
        for _ in 0..n {
            out.push(ITOA64[(v & 0x3f) as usize]);
            v >>= 6;
        }
    };
    let f = |i: usize| u32::from(fin[i]);
    to64((f(0) << 16) | (f(6) << 8) | f(12), 4);
    to64((f(1) << 16) | (f(7) << 8) | f(13), 4);
    to64((f(2) << 16) | (f(8) << 8) | f(14), 4);
    to64((f(3) << 16) | (f(9) << 8) | f(15), 4);
    to64((f(4) << 16) | (f(10) << 8) | f(5), 4);
    to64(f(11), 2);
    out
}

/// nginx: ngx_libc_crypt: crypt(3) from libcrypt (DES, MD5, SHA-256/512, yescrypt...),
/// loaded at run time so no development package is needed to build.
fn libc_crypt(key: &[u8], salt: &[u8]) -> Option<Vec<u8>> {
    type CryptFn =
        unsafe extern "C" fn(*const libc::c_char, *const libc::c_char) -> *mut libc::c_char;
    static CRYPT: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let f = (*CRYPT.get_or_init(|| {
        // SAFETY: dlopen/dlsym with NUL-terminated names; the handle is never closed.
        unsafe {
            let h = libc::dlopen(c"libcrypt.so.1".as_ptr(), libc::RTLD_NOW);
            if h.is_null() {
                return None;
            }
            let f = libc::dlsym(h, c"crypt".as_ptr());
            (!f.is_null()).then_some(f as usize)
        }
    }))?;
    let key = std::ffi::CString::new(key).ok()?;
    let salt = std::ffi::CString::new(salt).ok()?;
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: `f` is libcrypt's crypt(); its static result is copied under the lock.
    unsafe {
        let f: CryptFn = std::mem::transmute::<usize, CryptFn>(f);
        let p = f(key.as_ptr(), salt.as_ptr());
        if p.is_null() {
            return None;
        }
        let out = std::ffi::CStr::from_ptr(p).to_bytes().to_vec();
        // libxcrypt answers a failure with a string starting with '*'.
        if out.starts_with(b"*") {
            return None;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::{crypt, decode_base64, encode_base64, find_user};

    #[test]
    fn base64_as_nginx() {
        assert_eq!(decode_base64(b"dXNlcjpwYXNz"), Some(b"user:pass".to_vec()));
        assert_eq!(decode_base64(b"dXNlcjpwYXM="), Some(b"user:pas".to_vec()));
        assert_eq!(decode_base64(b"dXNlcjpwYXM"), Some(b"user:pas".to_vec()));
        assert_eq!(decode_base64(b"d"), None);
        assert_eq!(decode_base64(b"d!"), None);
        assert_eq!(encode_base64(b"user:pas"), b"dXNlcjpwYXM=".to_vec());
    }

    #[test]
    fn htpasswd_schemes() {
        // Produced by `openssl passwd` and `htpasswd`.
        let ok = |pw: &[u8], hash: &[u8]| crypt(pw, hash).as_deref() == Some(hash);
        assert!(ok(b"secret", b"{PLAIN}secret"));
        assert!(!ok(b"wrong", b"{PLAIN}secret"));
        assert!(ok(b"secret", b"{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="));
        assert!(ok(b"password", b"$apr1$abcdefgh$FBwExRW4dCc8aL.OvjpIE1"));
        assert!(!ok(b"passwore", b"$apr1$abcdefgh$FBwExRW4dCc8aL.OvjpIE1"));
        // crypt(3): MD5 and SHA-512.
        assert!(ok(b"secret", b"$1$xyz$Qia9Wq6FxQkYcwNWMk/RM0"));
        assert!(ok(
            b"secret",
            b"$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
        ));
        assert!(!ok(b"secreT", b"$1$xyz$Qia9Wq6FxQkYcwNWMk/RM0"));
    }

    #[test]
    fn user_file_lines() {
        let f = b"# comment\nalice:{PLAIN}a\nbob:{PLAIN}b:extra\r\ncarol:{PLAIN}c\r\n";
        assert_eq!(find_user(f, b"bob"), Some(b"{PLAIN}b".to_vec()));
        assert_eq!(find_user(f, b"carol"), Some(b"{PLAIN}c".to_vec()));
        assert_eq!(find_user(f, b"ali"), None);
        assert_eq!(find_user(f, b"# comment"), None);
    }
}
