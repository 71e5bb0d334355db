//! `ssl_client_hello_by_lua*`, `ssl_certificate_by_lua*` and the `ngx.ssl`,
//! `ngx.ssl.clienthello` modules (nginx: lua-nginx-module's ngx_http_lua_ssl_certby.c,
//! ngx_http_lua_ssl_client_helloby.c; lua-resty-core's ngx/ssl.lua, ngx/ssl/clienthello.lua).
//!
//! OpenSSL calls these hooks in the middle of its handshake; here the worker reads the
//! ClientHello first (rustls's Acceptor), runs the hooks as ordinary yieldable Lua
//! coroutines on a request-less "fake request" (as lua-nginx-module does), and only then
//! gives rustls the configuration: the server's own, or one with the certificate Lua set, or
//! with the protocols `set_protocols` chose. A failed hook ends the handshake with the alert
//! OpenSSL sends (internal_error; handshake_failure when no certificate is left).
//!
//! The session hooks and `ngx.ssl.session` (ngx_http_lua_ssl_session_fetchby.c,
//! ngx_http_lua_ssl_session_storeby.c; lua-resty-core's ngx/ssl/session.lua), TLS 1.2 only
//! (ngx_lua skips both for TLS 1.3): `ssl_session_fetch_by_lua*` runs before the handshake
//! when the ClientHello offers a session id to resume (and no ticket), as OpenSSL's session
//! get callback does; the session it sets is what rustls's session store
//! ([`LuaSessions`]) answers for that id. It may yield (cosockets, ngx.sleep), as with
//! OpenResty's OpenSSL; the reference's stock OpenSSL cannot ("cannot yield in sess get cb",
//! no resumption). `ssl_session_store_by_lua*` runs once the handshake made a new session
//! with an id (rustls's `put`), before the first request; it cannot yield. The serialized
//! session is rustls's encoding of it (not OpenSSL's DER), opaque to Lua as in nginx.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use mlua::{Lua, MultiValue, UserData, Value};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ServerConfig;
use rustls::sign::CertifiedKey;

use super::directives::LuaHandler;
use super::vm::{self, ApiResult, Fail, Phase, Vm};
use crate::http::lower::Http;
use crate::http::request::{Conn, Request};
use crate::http::ssl::TlsAddr;

/// The hidden variable that marks a fake request of a TLS hook; its value is the context
/// name error-log lines carry (`ssl_certificate_by_lua*`).
pub(crate) const CONTEXT: &[u8] = b"\0lua_ssl_context";

/// nginx: ngx_http_lua_log_ssl_cert_error / ngx_http_lua_log_ssl_client_hello_error:
/// `*N msg, context: ssl_certificate_by_lua*, client: ADDR, server: LISTEN`.
pub(crate) fn log_context(r: &Request, ctx: &[u8], msg: &str) -> String {
    let mut s = format!(
        "*{} {msg}, context: {}",
        r.conn.id,
        String::from_utf8_lossy(ctx)
    );
    if let Some(a) = r.conn.remote {
        s.push_str(&format!(", client: {}", a.ip()));
    }
    if let Some(a) = r.http.addrs.get(r.conn.addr) {
        s.push_str(&format!(", server: {}", a.text));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// The ClientHello as the hooks see it.

/// What the client offered, parsed from the handshake records as received.
#[derive(Debug, Default, Clone)]
pub(crate) struct Hello {
    /// The `server_name` extension's host name.
    pub(crate) sni: Option<Vec<u8>>,
    /// Every extension, in the client's order: type and body.
    pub(crate) exts: Vec<(u16, Vec<u8>)>,
    /// `legacy_version` of the ClientHello.
    pub(crate) legacy_version: u16,
    /// `legacy_session_id` (a TLS 1.2 session to resume).
    pub(crate) session_id: Vec<u8>,
}

impl Hello {
    fn ext(&self, t: u16) -> Option<&[u8]> {
        self.exts
            .iter()
            .find(|(k, _)| *k == t)
            .map(|(_, v)| v.as_slice())
    }

    /// The versions the client supports: the `supported_versions` extension (GREASE
    /// values skipped), else its legacy version.
    /// What the client offers to resume: TLS 1.3 PSK identities (pre_shared_key), a TLS
    /// 1.2 session ticket, or a TLS 1.2 session id.
    fn resumption(&self) -> (Vec<Vec<u8>>, Option<&[u8]>, &[u8]) {
        let mut psks = Vec::new();
        if let Some(b) = self.ext(41) {
            let total = u16_at(b, 0).map_or(0, usize::from);
            let ids = b.get(2..2 + total).unwrap_or_default();
            let mut i = 0;
            while let Some(n) = u16_at(ids, i).map(usize::from) {
                match ids.get(i + 2..i + 2 + n) {
                    Some(id) => psks.push(id.to_vec()),
                    None => break,
                }
                i += 2 + n + 4;
            }
        }
        let ticket = self.ext(35).filter(|t| !t.is_empty());
        (psks, ticket, &self.session_id)
    }

    fn versions(&self) -> Vec<u16> {
        match self.ext(43) {
            Some(b) if !b.is_empty() => b[1..]
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .filter(|v| v & 0x0f0f != 0x0a0a)
                .collect(),
            _ => vec![self.legacy_version.min(0x0303)],
        }
    }
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

/// Reads a ClientHello out of the TLS records that carried it (`raw`: the bytes read from
/// the client before rustls had a complete ClientHello).
pub(crate) fn parse_hello(raw: &[u8]) -> Option<Hello> {
    let mut hs = Vec::new();
    let mut i = 0;
    while i + 5 <= raw.len() && raw[i] == 22 {
        let len = usize::from(u16_at(raw, i + 3)?);
        let frag = raw.get(i + 5..i + 5 + len)?;
        hs.extend_from_slice(frag);
        i += 5 + len;
    }
    if hs.first() != Some(&1) || hs.len() < 4 {
        return None;
    }
    let len = (usize::from(hs[1]) << 16) | (usize::from(hs[2]) << 8) | usize::from(hs[3]);
    let b = hs.get(4..4 + len)?;
    let legacy_version = u16_at(b, 0)?;
    let mut p = 2 + 32;
    let sid_len = usize::from(*b.get(p)?);
    let session_id = b.get(p + 1..p + 1 + sid_len)?.to_vec();
    p += 1 + sid_len;
    p += 2 + usize::from(u16_at(b, p)?);
    p += 1 + usize::from(*b.get(p)?);
    let mut hello = Hello {
        legacy_version,
        session_id,
        ..Hello::default()
    };
    let Some(total) = u16_at(b, p) else {
        return Some(hello);
    };
    let exts = b.get(p + 2..p + 2 + usize::from(total))?;
    let mut q = 0;
    while q + 4 <= exts.len() {
        let t = u16_at(exts, q)?;
        let l = usize::from(u16_at(exts, q + 2)?);
        let body = exts.get(q + 4..q + 4 + l)?;
        if t == 0 {
            // server_name_list: type 0 (host_name), then the name.
            if body.get(2) == Some(&0) {
                if let Some(n) = u16_at(body, 3) {
                    hello.sni = body.get(5..5 + usize::from(n)).map(<[u8]>::to_vec);
                }
            }
        }
        hello.exts.push((t, body.to_vec()));
        q += 4 + l;
    }
    Some(hello)
}

// ---------------------------------------------------------------------------------------------
// One handshake's hook state.

/// What the hooks of one handshake read and set (nginx: the SSL object they work on).
#[derive(Debug)]
struct State {
    hello: Hello,
    remote: SocketAddr,
    local: Option<SocketAddr>,
    /// The version the handshake will use (0 while it is not chosen yet).
    version: u16,
    /// `set_protocols`: the versions allowed, as wire values.
    protocols: Option<Vec<u16>>,
    /// `clear_certs` was called: the configured certificates are gone.
    cleared: bool,
    chain: Option<Vec<CertificateDer<'static>>>,
    key: Option<Arc<dyn rustls::sign::SigningKey>>,
    /// The hooks' `ngx.ctx` (lua-resty-core: the SSL connection's ctx, shared by both hooks
    /// and the `__index` of every later request's `ngx.ctx`).
    ctx: Option<mlua::Table>,
    /// The session id the session hooks work on (nginx: the ssl ctx's `session_id`).
    session_id: Option<Vec<u8>>,
    /// The session being stored, or the one `set_serialized_session` gave (rustls's
    /// encoding).
    session: Option<Vec<u8>>,
    /// `verify_client(ca_certs, depth)` was called: the CAs (nil: the server's) and depth.
    verify: Option<(Option<Vec<CertificateDer<'static>>>, i64)>,
}

thread_local! {
    /// The hook states by the fake request's connection number.
    static STATES: RefCell<HashMap<u64, Rc<RefCell<State>>>> = RefCell::new(HashMap::new());
}

/// The current request's hook state; `None` for an ordinary request.
fn state() -> Result<Option<Rc<RefCell<State>>>, Fail> {
    let id = vm::with_req(|r, _| Ok(r.conn.id))?;
    Ok(STATES.with(|s| s.borrow().get(&id).cloned()))
}

// ---------------------------------------------------------------------------------------------
// DER and PEM.

/// Splits concatenated DER certificates (nginx: d2i_X509_bio in a loop).
fn der_chain(mut b: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let n = der_len(b)?;
        out.push(CertificateDer::from(b.get(..n)?.to_vec()));
        b = &b[n..];
    }
    (!out.is_empty()).then_some(out)
}

/// The length of the DER SEQUENCE at the start of `b`, header included.
fn der_len(b: &[u8]) -> Option<usize> {
    if *b.first()? != 0x30 {
        return None;
    }
    let l0 = *b.get(1)?;
    let (len, head) = if l0 < 0x80 {
        (usize::from(l0), 2)
    } else {
        let k = usize::from(l0 & 0x7f);
        if k == 0 || k > 4 {
            return None;
        }
        let mut n = 0usize;
        for j in 0..k {
            n = (n << 8) | usize::from(*b.get(2 + j)?);
        }
        (n, 2 + k)
    };
    let total = head.checked_add(len)?;
    (total <= b.len()).then_some(total)
}

fn pem_chain(pem: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
    let c: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &pem[..])
        .filter_map(Result::ok)
        .collect();
    (!c.is_empty()).then_some(c)
}

fn pem_key(pem: &[u8]) -> Option<PrivateKeyDer<'static>> {
    rustls_pemfile::private_key(&mut &pem[..]).ok().flatten()
}

/// A private key in DER of any of the forms d2i_AutoPrivateKey reads.
fn der_key(der: &[u8]) -> Option<Arc<dyn rustls::sign::SigningKey>> {
    let p = rustls::crypto::ring::default_provider();
    let tries = [
        PrivateKeyDer::Pkcs8(der.to_vec().into()),
        PrivateKeyDer::Pkcs1(der.to_vec().into()),
        PrivateKeyDer::Sec1(der.to_vec().into()),
    ];
    tries
        .into_iter()
        .find_map(|k| p.key_provider.load_private_key(k).ok())
}

/// nginx: i2d_PrivateKey: an RSA key in PKCS#1, an EC key in SEC1 with its curve (the
/// PKCS#8 wrapping taken off), other keys as they came.
fn key_der(k: &PrivateKeyDer<'_>) -> Vec<u8> {
    match k {
        PrivateKeyDer::Pkcs8(p) => {
            pkcs8_inner(p.secret_pkcs8_der()).unwrap_or_else(|| p.secret_pkcs8_der().to_vec())
        }
        other => other.secret_der().to_vec(),
    }
}

/// PrivateKeyInfo { version, AlgorithmIdentifier { algorithm, parameters }, OCTET STRING }:
/// for RSA the OCTET STRING's content (RSAPrivateKey); for EC its ECPrivateKey with the
/// curve (`[0] parameters`) put in, as OpenSSL writes it.
fn pkcs8_inner(d: &[u8]) -> Option<Vec<u8>> {
    const RSA_OID: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
    ];
    const EC_OID: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    let (body, _) = tlv(d, 0x30)?;
    let (_, rest) = tlv(body, 0x02)?;
    let (alg, rest) = tlv(rest, 0x30)?;
    let (inner, _) = tlv(rest, 0x04)?;
    if alg.starts_with(RSA_OID) {
        return Some(inner.to_vec());
    }
    let curve = alg.strip_prefix(EC_OID)?;
    if curve.first() != Some(&0x06) {
        return None;
    }
    // ECPrivateKey { version, privateKey, [0] parameters OPTIONAL, [1] publicKey OPTIONAL }
    let (ec, _) = tlv(inner, 0x30)?;
    let (_, after_version) = tlv(ec, 0x02)?;
    let (_, after_key) = tlv(after_version, 0x04)?;
    if after_key.first() == Some(&0xa0) {
        return Some(inner.to_vec());
    }
    let head_len = ec.len() - after_key.len();
    let mut content = ec[..head_len].to_vec();
    content.extend(der_wrap(0xa0, curve));
    content.extend_from_slice(after_key);
    Some(der_wrap(0x30, &content))
}

/// A DER TLV of `tag` around `content`.
fn der_wrap(tag: u8, content: &[u8]) -> Vec<u8> {
    let n = content.len();
    let mut out = vec![tag];
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// One DER TLV of tag `tag` at the start of `b`: its content and what follows.
fn tlv(b: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *b.first()? != tag {
        return None;
    }
    let l0 = *b.get(1)?;
    let (len, head) = if l0 < 0x80 {
        (usize::from(l0), 2)
    } else {
        let k = usize::from(l0 & 0x7f);
        if k == 0 || k > 4 {
            return None;
        }
        let mut n = 0usize;
        for j in 0..k {
            n = (n << 8) | usize::from(*b.get(2 + j)?);
        }
        (n, 2 + k)
    };
    let end = head.checked_add(len)?;
    Some((b.get(head..end)?, b.get(end..)?))
}

/// `ngx.ssl.parse_pem_cert`'s value (lua-resty-core: a cdata STACK_OF(X509)).
pub(crate) struct ParsedChain(pub(crate) Vec<CertificateDer<'static>>);
impl UserData for ParsedChain {}

/// `ngx.ssl.parse_pem_priv_key`'s value (lua-resty-core: a cdata EVP_PKEY).
pub(crate) struct ParsedKey(pub(crate) Arc<dyn rustls::sign::SigningKey>);
impl UserData for ParsedKey {}

// ---------------------------------------------------------------------------------------------
// The API.

fn arg(args: &MultiValue, i: usize) -> Value {
    args.get(i).cloned().unwrap_or(Value::Nil)
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        Value::Number(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

fn ret(vals: Vec<Value>) -> ApiResult {
    Ok(MultiValue::from_vec(vals))
}

fn nil_err(lua: &Lua, msg: &str) -> ApiResult {
    ret(vec![Value::Nil, Value::String(lua.create_string(msg)?)])
}

fn text(lua: &Lua, b: impl AsRef<[u8]>) -> mlua::Result<Value> {
    Ok(Value::String(lua.create_string(b)?))
}

/// lua-resty-core's `get_request()` check, then the handshake the request belongs to:
/// a hook's state, or the TLS state of an ordinary HTTPS request.
enum Conn2 {
    Hook(Rc<RefCell<State>>),
    Https,
}

fn conn(_lua: &Lua) -> Result<Option<Conn2>, Fail> {
    if let Some(st) = state()? {
        return Ok(Some(Conn2::Hook(st)));
    }
    let tls = vm::with_req(|r, _| Ok(crate::http::ssl::is_tls(r)))?;
    Ok(tls.then_some(Conn2::Https))
}

/// `clear_certs()`: the configured certificates are not used (nginx: SSL_certs_clear).
fn clear_certs(lua: &Lua, _args: MultiValue) -> ApiResult {
    match conn(lua)? {
        Some(Conn2::Hook(st)) => {
            let mut st = st.borrow_mut();
            st.cleared = true;
            st.chain = None;
            st.key = None;
            ret(vec![Value::Boolean(true)])
        }
        Some(Conn2::Https) => ret(vec![Value::Boolean(true)]),
        None => nil_err(lua, "bad request"),
    }
}

fn set_chain(lua: &Lua, chain: Vec<CertificateDer<'static>>) -> ApiResult {
    match conn(lua)? {
        Some(Conn2::Hook(st)) => {
            let mut st = st.borrow_mut();
            // nginx: SSL_use_certificate drops a private key that does not match.
            if let Some(k) = &st.key {
                let ck = CertifiedKey::new(chain.clone(), k.clone());
                if ck.keys_match().is_err() {
                    st.key = None;
                }
            }
            st.chain = Some(chain);
            ret(vec![Value::Boolean(true)])
        }
        Some(Conn2::Https) => ret(vec![Value::Boolean(true)]),
        None => nil_err(lua, "bad request"),
    }
}

fn set_key(lua: &Lua, key: Arc<dyn rustls::sign::SigningKey>) -> ApiResult {
    match conn(lua)? {
        Some(Conn2::Hook(st)) => {
            let mut st = st.borrow_mut();
            if let Some(c) = &st.chain {
                // nginx: SSL_use_PrivateKey checks the key against the certificate.
                let ck = CertifiedKey::new(c.clone(), key.clone());
                if ck.keys_match().is_err() {
                    return nil_err(lua, "SSL_use_PrivateKey() failed");
                }
            }
            st.key = Some(key);
            ret(vec![Value::Boolean(true)])
        }
        Some(Conn2::Https) => ret(vec![Value::Boolean(true)]),
        None => nil_err(lua, "bad request"),
    }
}

/// `set_der_cert(der)`: the certificate and its chain, DER concatenated.
fn set_der_cert(lua: &Lua, args: MultiValue) -> ApiResult {
    let data = bytes(&arg(&args, 0)).unwrap_or_default();
    if conn(lua)?.is_none() {
        return nil_err(lua, "bad request");
    }
    match der_chain(&data) {
        Some(c) => set_chain(lua, c),
        None => nil_err(lua, "d2i_X509_bio() failed"),
    }
}

/// `set_der_priv_key(der)`.
fn set_der_priv_key(lua: &Lua, args: MultiValue) -> ApiResult {
    let data = bytes(&arg(&args, 0)).unwrap_or_default();
    if conn(lua)?.is_none() {
        return nil_err(lua, "bad request");
    }
    match der_key(&data) {
        Some(k) => set_key(lua, k),
        None => nil_err(lua, "d2i_PrivateKey_bio() failed"),
    }
}

/// `set_cert(parsed)`: a chain from `parse_pem_cert`.
fn set_cert(lua: &Lua, args: MultiValue) -> ApiResult {
    let chain = match arg(&args, 0) {
        Value::UserData(u) => u.borrow::<ParsedChain>().ok().map(|c| c.0.clone()),
        _ => None,
    };
    if conn(lua)?.is_none() {
        return nil_err(lua, "bad request");
    }
    match chain {
        Some(c) => set_chain(lua, c),
        None => nil_err(lua, "invalid certificate chain"),
    }
}

/// `set_priv_key(parsed)`: a key from `parse_pem_priv_key`.
fn set_priv_key(lua: &Lua, args: MultiValue) -> ApiResult {
    let key = match arg(&args, 0) {
        Value::UserData(u) => u.borrow::<ParsedKey>().ok().map(|k| k.0.clone()),
        _ => None,
    };
    if conn(lua)?.is_none() {
        return nil_err(lua, "bad request");
    }
    match key {
        Some(k) => set_key(lua, k),
        None => nil_err(lua, "invalid private key failed"),
    }
}

fn cert_pem_to_der(lua: &Lua, args: MultiValue) -> ApiResult {
    let pem = bytes(&arg(&args, 0)).unwrap_or_default();
    match pem_chain(&pem) {
        Some(c) => {
            let der: Vec<u8> = c.iter().flat_map(|c| c.as_ref().to_vec()).collect();
            ret(vec![text(lua, der)?])
        }
        None => nil_err(lua, "PEM_read_bio_X509_AUX() failed"),
    }
}

fn priv_key_pem_to_der(lua: &Lua, args: MultiValue) -> ApiResult {
    let pem = bytes(&arg(&args, 0)).unwrap_or_default();
    match pem_key(&pem) {
        Some(k) => ret(vec![text(lua, key_der(&k))?]),
        None => nil_err(lua, "PEM_read_bio_PrivateKey() failed"),
    }
}

fn parse_pem_cert(lua: &Lua, args: MultiValue) -> ApiResult {
    let pem = bytes(&arg(&args, 0)).unwrap_or_default();
    match pem_chain(&pem) {
        Some(c) => ret(vec![Value::UserData(lua.create_userdata(ParsedChain(c))?)]),
        None => nil_err(lua, "PEM_read_bio_X509_AUX() failed"),
    }
}

fn parse_pem_priv_key(lua: &Lua, args: MultiValue) -> ApiResult {
    let pem = bytes(&arg(&args, 0)).unwrap_or_default();
    let key = pem_key(&pem).and_then(|k| {
        rustls::crypto::ring::default_provider()
            .key_provider
            .load_private_key(k)
            .ok()
    });
    match key {
        Some(k) => ret(vec![Value::UserData(lua.create_userdata(ParsedKey(k))?)]),
        None => nil_err(lua, "PEM_read_bio_PrivateKey() failed"),
    }
}

/// The connection's addresses: the hook's, or the request's.
fn addrs() -> Result<(Option<SocketAddr>, Option<SocketAddr>), Fail> {
    if let Some(st) = state()? {
        let st = st.borrow();
        return Ok((Some(st.remote), st.local));
    }
    vm::with_req(|r, _| Ok((r.realip.flatten().or(r.conn.remote), r.conn.local)))
}

/// The address as `raw_*_addr` returns it: the raw bytes and their type.
fn raw_addr(lua: &Lua, a: Option<SocketAddr>) -> ApiResult {
    match a {
        Some(SocketAddr::V4(v4)) => ret(vec![text(lua, v4.ip().octets())?, text(lua, "inet")?]),
        Some(SocketAddr::V6(v6)) => ret(vec![text(lua, v6.ip().octets())?, text(lua, "inet6")?]),
        None => ret(vec![text(lua, "")?, text(lua, "unix")?]),
    }
}

fn raw_server_addr(lua: &Lua, _args: MultiValue) -> ApiResult {
    if conn(lua)?.is_none() {
        return ret(vec![Value::Nil, Value::Nil, text(lua, "bad request")?]);
    }
    raw_addr(lua, addrs()?.1)
}

fn raw_client_addr(lua: &Lua, _args: MultiValue) -> ApiResult {
    if conn(lua)?.is_none() {
        return ret(vec![Value::Nil, Value::Nil, text(lua, "bad request")?]);
    }
    raw_addr(lua, addrs()?.0)
}

fn server_port(lua: &Lua, _args: MultiValue) -> ApiResult {
    if conn(lua)?.is_none() {
        return nil_err(lua, "bad request");
    }
    match addrs()?.1 {
        Some(a) => ret(vec![Value::Integer(i64::from(a.port()))]),
        None => nil_err(lua, "unix domain has no port"),
    }
}

/// `server_name()`: the SNI name (nginx: SSL_get_servername), nil without one.
fn server_name(lua: &Lua, _args: MultiValue) -> ApiResult {
    let name = match conn(lua)? {
        // nginx: SSL_get_servername knows nothing before the servername callback.
        Some(Conn2::Hook(_)) if vm::current_phase() == Some(Phase::SslClientHello) => None,
        Some(Conn2::Hook(st)) => st.borrow().hello.sni.clone(),
        Some(Conn2::Https) => vm::with_req(|r, _| {
            Ok(crate::http::ssl::variable(r, b"ssl_server_name").filter(|v| !v.is_empty()))
        })?,
        None => return nil_err(lua, "bad request"),
    };
    match name {
        Some(n) => ret(vec![text(lua, n)?]),
        None => ret(vec![Value::Nil]),
    }
}

/// `get_tls1_version()`: the protocol's wire number (nginx: SSL_version).
fn get_tls1_version(lua: &Lua, _args: MultiValue) -> ApiResult {
    let v = match conn(lua)? {
        Some(Conn2::Hook(st)) => st.borrow().version,
        Some(Conn2::Https) => {
            let p = vm::with_req(|r, _| Ok(crate::http::ssl::variable(r, b"ssl_protocol")))?;
            match p.as_deref() {
                Some(b"TLSv1.3") => 0x0304,
                _ => 0x0303,
            }
        }
        None => return nil_err(lua, "bad request"),
    };
    ret(vec![Value::Integer(i64::from(v))])
}

/// `verify_client(ca_certs, depth)` (nginx: ngx_http_lua_ffi_ssl_verify_client): the
/// handshake asks for a client certificate (naming `ca_certs`, a `parse_pem_cert` chain)
/// and checks it against them (nil: the server's CAs) to `depth` (< 0: the server's
/// `ssl_verify_depth`); the result is `$ssl_client_verify`, the handshake goes on either way.
fn verify_client(lua: &Lua, args: MultiValue) -> ApiResult {
    if vm::current_phase() != Some(Phase::SslCert) {
        return nil_err(lua, "API disabled in the current context");
    }
    let Some(Conn2::Hook(st)) = conn(lua)? else {
        return nil_err(lua, "bad request");
    };
    let cas = match arg(&args, 0) {
        Value::UserData(u) => u.borrow::<ParsedChain>().ok().map(|c| c.0.clone()),
        _ => None,
    };
    let depth = match arg(&args, 1) {
        Value::Integer(i) => i,
        Value::Number(n) => n as i64,
        _ => -1,
    };
    st.borrow_mut().verify = Some((cas, depth));
    ret(vec![Value::Boolean(true)])
}

/// The clienthello functions work in ssl_client_hello_by_lua* only (lua-resty-core checks
/// `ngx.get_phase()`).
fn in_client_hello() -> Result<Rc<RefCell<State>>, Fail> {
    let st = state()?;
    match (vm::current_phase(), st) {
        (Some(Phase::SslClientHello), Some(st)) => Ok(st),
        _ => Err(Fail("API disabled in the current context".into())),
    }
}

fn get_client_hello_server_name(lua: &Lua, _args: MultiValue) -> ApiResult {
    let st = in_client_hello()?;
    let name = st.borrow().hello.sni.clone();
    match name {
        Some(n) => ret(vec![text(lua, n)?]),
        None => ret(vec![Value::Nil]),
    }
}

fn get_client_hello_ext(lua: &Lua, args: MultiValue) -> ApiResult {
    let st = in_client_hello()?;
    let t = match arg(&args, 0) {
        Value::Integer(i) => i,
        Value::Number(n) => n as i64,
        _ => -1,
    };
    let st = st.borrow();
    let ext = u16::try_from(t).ok().and_then(|t| st.hello.ext(t));
    match ext {
        Some(e) => ret(vec![text(lua, e)?]),
        None => ret(vec![Value::Nil]),
    }
}

/// `set_protocols{...}` (the names were checked in Lua): the handshake's versions.
fn set_protocols(_lua: &Lua, args: MultiValue) -> ApiResult {
    let st = in_client_hello()?;
    let mask = match arg(&args, 0) {
        Value::Integer(i) => i,
        Value::Number(n) => n as i64,
        _ => 0,
    };
    let mut v = Vec::new();
    if mask & 0x20 != 0 {
        v.push(0x0303);
    }
    if mask & 0x40 != 0 {
        v.push(0x0304);
    }
    st.borrow_mut().protocols = Some(v);
    ret(vec![Value::Boolean(true)])
}

/// What marks a serialized session as oxresty's (rustls's session encoding follows):
/// `set_serialized_session` refuses anything else, as d2i_SSL_SESSION does.
const SESSION_MAGIC: &[u8] = b"oxresty-tls-session:1:";

/// The hook state of the session functions, or their error for an ordinary request
/// (nginx: "bad request" without TLS, "bad lua context" without a hook's ssl ctx).
fn session_state(lua: &Lua) -> Result<Result<Rc<RefCell<State>>, &'static str>, Fail> {
    Ok(match conn(lua)? {
        Some(Conn2::Hook(st)) => Ok(st),
        Some(Conn2::Https) => Err("bad lua context"),
        None => Err("bad request"),
    })
}

/// nginx: ngx_http_lua_ffi_ssl_get_session_id: the id in lower-case hex.
fn get_session_id(lua: &Lua, _args: MultiValue) -> ApiResult {
    let st = match session_state(lua)? {
        Ok(st) => st,
        Err(e) => return nil_err(lua, e),
    };
    let id = st.borrow().session_id.clone().unwrap_or_default();
    if id.is_empty() {
        return nil_err(lua, "uninitialized session id len in lua context");
    }
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    ret(vec![text(lua, hex)?])
}

/// nginx: ngx_http_lua_ffi_ssl_get_serialized_session.
fn get_serialized_session(lua: &Lua, _args: MultiValue) -> ApiResult {
    let st = match session_state(lua)? {
        Ok(st) => st,
        Err(e) => return nil_err(lua, e),
    };
    let sess = st.borrow().session.clone();
    match sess {
        Some(s) => {
            let mut out = SESSION_MAGIC.to_vec();
            out.extend_from_slice(&s);
            ret(vec![text(lua, out)?])
        }
        None => nil_err(lua, "bad session in lua context"),
    }
}

/// nginx: ngx_http_lua_ffi_ssl_set_serialized_session.
fn set_serialized_session(lua: &Lua, args: MultiValue) -> ApiResult {
    let data = bytes(&arg(&args, 0)).unwrap_or_default();
    let st = session_state(lua)?;
    if matches!(st, Err("bad request")) {
        return nil_err(lua, "bad request");
    }
    let sess = match data.strip_prefix(SESSION_MAGIC) {
        Some(s) if !s.is_empty() => s.to_vec(),
        _ => return nil_err(lua, "failed to de-serialize session"),
    };
    match st {
        Ok(st) => {
            st.borrow_mut().session = Some(sess);
            ret(vec![Value::Boolean(true)])
        }
        Err(e) => nil_err(lua, e),
    }
}

/// The Lua side of the modules: lua-resty-core's argument handling, version names and
/// supported_versions parsing over the functions above.
const MODULES: &str = r#"
local raw, rawch, rawsess = ...
local ssl = {
  version = 10023,
  SSL3_VERSION = 0x0300, TLS1_VERSION = 0x0301, TLS1_1_VERSION = 0x0302,
  TLS1_2_VERSION = 0x0303, TLS1_3_VERSION = 0x0304,
}
for k, f in pairs(raw) do ssl[k] = f end
local map = { [0x0300] = "SSLv3", [0x0301] = "TLSv1", [0x0302] = "TLSv1.1",
  [0x0303] = "TLSv1.2", [0x0304] = "TLSv1.3" }
function ssl.get_tls1_version_str()
  local ver, err = raw.get_tls1_version()
  if not ver then return nil, err end
  local s = map[ver]
  if not s then return nil, "unknown version" end
  return s
end
local ch = { version = 10023 }
local get_phase, error = ngx.get_phase, error
local function check()
  if get_phase() ~= "ssl_client_hello" then
    error("API disabled in the current context")
  end
end
function ch.get_client_hello_server_name()
  check()
  return rawch.get_client_hello_server_name()
end
function ch.get_client_hello_ext(ext_type)
  check()
  return rawch.get_client_hello_ext(ext_type)
end
local versions_map = { [0x002] = "SSLv2", [0x300] = "SSLv3", [0x301] = "TLSv1",
  [0x302] = "TLSv1.1", [0x303] = "TLSv1.2", [0x304] = "TLSv1.3" }
function ch.get_supported_versions()
  check()
  local s, err = rawch.get_client_hello_ext(43)
  if not s then return nil, err end
  local remain = #s
  if remain == 0 then return nil end
  local n = string.byte(s, 1)
  remain = remain - 1
  if remain ~= n then return nil end
  local types = {}
  while remain >= 2 do
    local v = string.byte(s, remain) * 256 + string.byte(s, remain + 1)
    if versions_map[v] ~= nil then types[#types + 1] = versions_map[v] end
    remain = remain - 2
  end
  return types
end
local prot_map = { ["SSLv2"] = 0x0002, ["SSLv3"] = 0x0004, ["TLSv1"] = 0x0008,
  ["TLSv1.1"] = 0x0010, ["TLSv1.2"] = 0x0020, ["TLSv1.3"] = 0x0040 }
function ch.set_protocols(protocols)
  check()
  local prots = 0
  for _, v in ipairs(protocols) do
    if not prot_map[v] then return nil, "invalid protocols failed" end
    prots = require("bit").bor(prots, prot_map[v])
  end
  return rawch.set_protocols(prots)
end
local session = { version = 10023 }
function session.get_session_id()
  return rawsess.get_session_id()
end
function session.get_serialized_session()
  local s, err = rawsess.get_serialized_session()
  if not s then return nil, err end
  if #s > 4096 then return nil, "session too big to serialize" end
  return s
end
function session.set_serialized_session(sess)
  local _ = #sess
  return rawsess.set_serialized_session(sess)
end
package.loaded["ngx.ssl"] = nil
package.loaded["ngx.ssl.clienthello"] = nil
package.loaded["ngx.ssl.session"] = nil
package.preload["ngx.ssl.session"] = function() return session end
package.preload["ngx.ssl"] = function() return ssl end
package.preload["ngx.ssl.clienthello"] = function() return ch end
"#;

/// Installs `require "ngx.ssl"` and `require "ngx.ssl.clienthello"`.
pub(crate) fn install(vm: &Rc<Vm>) -> mlua::Result<()> {
    type F = fn(&Lua, MultiValue) -> ApiResult;
    let lua = &vm.lua;
    let raw = lua.create_table()?;
    let fns: [(&str, F); 15] = [
        ("clear_certs", clear_certs),
        ("set_der_cert", set_der_cert),
        ("set_der_priv_key", set_der_priv_key),
        ("set_cert", set_cert),
        ("set_priv_key", set_priv_key),
        ("cert_pem_to_der", cert_pem_to_der),
        ("priv_key_pem_to_der", priv_key_pem_to_der),
        ("parse_pem_cert", parse_pem_cert),
        ("parse_pem_priv_key", parse_pem_priv_key),
        ("raw_server_addr", raw_server_addr),
        ("raw_client_addr", raw_client_addr),
        ("server_port", server_port),
        ("server_name", server_name),
        ("get_tls1_version", get_tls1_version),
        ("verify_client", verify_client),
    ];
    for (name, f) in fns {
        raw.set(name, vm.api_fn(f)?)?;
    }
    let rawch = lua.create_table()?;
    let chfns: [(&str, F); 3] = [
        ("get_client_hello_server_name", get_client_hello_server_name),
        ("get_client_hello_ext", get_client_hello_ext),
        ("set_protocols", set_protocols),
    ];
    for (name, f) in chfns {
        rawch.set(name, vm.api_fn(f)?)?;
    }
    let rawsess = lua.create_table()?;
    let sessfns: [(&str, F); 3] = [
        ("get_session_id", get_session_id),
        ("get_serialized_session", get_serialized_session),
        ("set_serialized_session", set_serialized_session),
    ];
    for (name, f) in sessfns {
        rawsess.set(name, vm.api_fn(f)?)?;
    }
    lua.load(MODULES)
        .set_name("=ngx.ssl")
        .call::<()>((raw, rawch, rawsess))
}

/// lua-resty-core's get_ctx_table for a new `ngx.ctx` table: in a hook, its own
/// `__index` (it becomes the connection's ctx); in a request on a connection whose hooks
/// made one, a table inheriting from it.
pub(crate) fn init_ctx(lua: &Lua, t: &mlua::Table) -> Result<(), Fail> {
    if matches!(
        vm::current_phase(),
        Some(Phase::SslCert | Phase::SslClientHello | Phase::SslSessFetch | Phase::SslSessStore)
    ) {
        t.raw_set("__index", t.clone())?;
        return Ok(());
    }
    let _ = lua;
    let parent = vm::with_req(|r, _| Ok(crate::http::ssl::lua_ctx(r)))?;
    if let Some(p) = parent {
        t.set_metatable(Some(p));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Running the hooks.

/// What the hooks decided about a handshake.
pub(crate) enum Decision {
    /// Go on with this configuration; the SNI name's server host (as `TlsAddr::choose`);
    /// the hooks' `ngx.ctx`, for the connection's requests; what is left to do once the
    /// handshake is over ([`after_handshake`]).
    Accept(
        Arc<ServerConfig>,
        Option<Vec<u8>>,
        Option<mlua::Table>,
        Option<After>,
    ),
    /// End the handshake with this alert record.
    Alert(&'static [u8]),
    /// Close the connection (the handshake timed out in a hook).
    Close,
}

/// A fatal `internal_error` alert (OpenSSL's answer to a failed callback).
const INTERNAL_ERROR: &[u8] = &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50];
/// A fatal `handshake_failure` alert (OpenSSL: no certificate left, "no shared cipher").
const HANDSHAKE_FAILURE: &[u8] = &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];
/// A fatal `protocol_version` alert (no version left after `set_protocols`).
const PROTOCOL_VERSION: &[u8] = &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46];

/// The connection a handshake's hooks run for.
pub(crate) struct Peer {
    pub(crate) addr: usize,
    pub(crate) remote: SocketAddr,
    pub(crate) local: Option<SocketAddr>,
    /// The connection's PROXY protocol header, if it had one.
    pub(crate) proxy: Option<Arc<crate::http::proxy_protocol::ProxyProtocol>>,
}

/// nginx: the `SSL_do_handshake() failed` line of a handshake a hook ended (info level).
fn handshake_failed(http: &Http, p: &Peer, reason: &str) {
    connection_info(
        http,
        p,
        &format!("SSL_do_handshake() failed (SSL: {reason}) while SSL handshaking"),
    );
}

/// An info line about the connection: `*N msg, client: ADDR, server: LISTEN`.
fn connection_info(http: &Http, p: &Peer, msg: &str) {
    if !crate::http::errlog::wants(crate::log::Level::Info) {
        return;
    }
    let mut s = format!(
        "*{} {msg}, client: {}",
        crate::worker::next_conn_id(),
        p.remote.ip()
    );
    if let Some(a) = http.addrs.get(p.addr) {
        s.push_str(&format!(", server: {}", a.text));
    }
    crate::http::errlog::write(crate::log::Level::Info, &s);
}

/// Runs `ssl_client_hello_by_lua*` (the address's default server's) and
/// `ssl_certificate_by_lua*` (the SNI server's) for a handshake, as OpenSSL calls them:
/// `None` when neither is configured (the caller goes on as without Lua).
pub(crate) async fn hooks(
    http: &Arc<Http>,
    t: &TlsAddr,
    p: &Peer,
    raw: &[u8],
    sni: Option<&str>,
    deadline: tokio::time::Instant,
) -> Option<Decision> {
    let default = http.servers.get(t.default_server())?.clone();
    let hello_h = default.conf.lua_ssl_client_hello.clone();
    // the server the SNI name selects, and whether it has a certificate hook
    let (server_i, sni_host) = t.server_of(http, sni);
    let server = http.servers.get(server_i)?.clone();
    let cert_h = server.conf.lua_ssl_cert.clone();
    // http-level directives: every server has the same ones
    let fetch_h = default.conf.lua_ssl_sess_fetch.clone();
    // `ssl_session_cache off`: sessions get no id, so nothing to store
    let store_h = server
        .conf
        .lua_ssl_sess_store
        .clone()
        .filter(|_| !t.session_cache_off());
    if hello_h.is_none() && cert_h.is_none() && fetch_h.is_none() && store_h.is_none() {
        return None;
    }
    let mut hello = parse_hello(raw).unwrap_or_default();
    if hello.sni.is_none() {
        hello.sni = sni.map(|s| s.as_bytes().to_vec());
    }
    let st = Rc::new(RefCell::new(State {
        hello,
        remote: p.remote,
        local: p.local,
        // OpenSSL's SSL_version before it chose one: the highest it has.
        version: 0x0304,
        protocols: None,
        cleared: false,
        chain: None,
        key: None,
        ctx: None,
        session_id: None,
        session: None,
        verify: None,
    }));
    if let Some(h) = hello_h {
        let run = run_hook(http, &default, &h, Phase::SslClientHello, &st, p);
        let Ok(ok) = tokio::time::timeout_at(deadline, run).await else {
            connection_info(
                http,
                p,
                "client timed out (110: Connection timed out) while loading SSL client hello by lua",
            );
            return Some(Decision::Close);
        };
        if !ok {
            handshake_failed(http, p, "error:0A0000EA:SSL routines::callback failed");
            return Some(Decision::Alert(INTERNAL_ERROR));
        }
    }
    if t.rejects(server_i) {
        return Some(Decision::Alert(crate::http::ssl::REJECT_ALERT));
    }
    let protocols = st.borrow().protocols.clone();
    let versions = t.versions_of(server_i, protocols.as_deref());
    let client = st.borrow().hello.versions();
    let version = versions
        .iter()
        .copied()
        .filter(|v| client.contains(v))
        .max()
        .unwrap_or(0);
    if version == 0 && protocols.is_some() {
        handshake_failed(http, p, "error:0A000102:SSL routines::unsupported protocol");
        return Some(Decision::Alert(PROTOCOL_VERSION));
    }
    st.borrow_mut().version = version;
    // nginx: ngx_http_lua_ssl_sess_fetch_handler, as OpenSSL's session get callback
    // (ssl_get_prev_session): TLS 1.2, a session id offered, no ticket to decrypt instead,
    // not in the server's own cache; in the default server (before the SNI callback).
    let mut fetched = None;
    if let (Some(h), Some(cfg)) = (&fetch_h, t.base_config(server_i)) {
        let hello = st.borrow().hello.clone();
        let (_, ticket, sid) = hello.resumption();
        let by_ticket = ticket.is_some() && cfg.ticketer.enabled();
        if version == 0x0303
            && !sid.is_empty()
            && !by_ticket
            && cfg.session_storage.get(sid).is_none()
        {
            {
                let mut s = st.borrow_mut();
                s.session_id = Some(sid.to_vec());
                s.session = None;
            }
            let run = run_hook(http, &default, h, Phase::SslSessFetch, &st, p);
            if tokio::time::timeout_at(deadline, run).await.is_err() {
                connection_info(
                    http,
                    p,
                    "client timed out (110: Connection timed out) while fetching SSL session by lua",
                );
                return Some(Decision::Close);
            }
            // nginx: whatever the hook's outcome, the session it set (if any) is used.
            let mut s = st.borrow_mut();
            fetched = s.session.take().map(|v| (sid.to_vec(), v));
            s.session_id = None;
        }
    }
    // OpenSSL does not ask for a certificate when it resumes a session.
    let resumed = fetched.is_some()
        || t.base_config(server_i)
            .is_some_and(|cfg| resumable(&cfg, &st.borrow().hello, version));
    let cert_h = cert_h.filter(|_| !resumed);
    if let Some(h) = cert_h {
        let run = run_hook(http, &server, &h, Phase::SslCert, &st, p);
        let Ok(ok) = tokio::time::timeout_at(deadline, run).await else {
            connection_info(
                http,
                p,
                "client timed out (110: Connection timed out) while loading SSL certificate by lua",
            );
            return Some(Decision::Close);
        };
        if !ok {
            handshake_failed(http, p, "error:0A000179:SSL routines::cert cb error");
            return Some(Decision::Alert(INTERNAL_ERROR));
        }
    }
    let st_rc = st.clone();
    let st = st.borrow();
    let key = match (&st.chain, &st.key) {
        (Some(c), Some(k)) => Some(Arc::new(CertifiedKey::new(c.clone(), k.clone()))),
        _ if st.cleared || st.chain.is_some() || st.key.is_some() => {
            // OpenSSL with no certificate and key pair left.
            let reason = if st.version == 0x0304 {
                "error:0A000076:SSL routines::no suitable signature algorithm"
            } else {
                "error:0A0000C1:SSL routines::no shared cipher"
            };
            handshake_failed(http, p, reason);
            return Some(Decision::Alert(HANDSHAKE_FAILURE));
        }
        _ => None,
    };
    let verify = st
        .verify
        .clone()
        .map(|(cas, depth)| t.lua_verify(server_i, cas, depth));
    let Some(mut cfg) = t.lua_config(server_i, protocols.as_deref(), key, verify.as_ref()) else {
        return Some(Decision::Alert(HANDSHAKE_FAILURE));
    };
    let mut store = None;
    if fetch_h.is_some() || store_h.is_some() {
        // OpenSSL gives a TLS 1.2 session no id when it sends a ticket instead (so no store
        // hook runs), nor with `ssl_session_cache off`; else an id even without a server
        // cache (nginx's default `ssl_session_cache none` pretends to cache).
        let ticket = version == 0x0303 && st.hello.ext(35).is_some() && cfg.ticketer.enabled();
        let sessions = Arc::new(LuaSessions {
            inner: cfg.session_storage.clone(),
            fetched,
            ids: !ticket && !t.session_cache_off(),
            stored: std::sync::Mutex::new(None),
        });
        let mut c = (*cfg).clone();
        c.session_storage = sessions.clone();
        cfg = Arc::new(c);
        store = store_h.map(|handler| SessionStore {
            sessions,
            handler,
            server,
            st: st_rc.clone(),
        });
    }
    let after = (store.is_some() || verify.is_some()).then_some(After { store, verify });
    Some(Decision::Accept(cfg, sni_host, st.ctx.clone(), after))
}

/// What the Lua hooks left for the end of the handshake.
pub(crate) struct After {
    store: Option<SessionStore>,
    /// `ngx.ssl.verify_client`'s check.
    verify: Option<crate::http::ssl::Verify>,
}

/// The end of a handshake the Lua hooks took part in: `ngx.ssl.verify_client`'s result
/// and `ssl_session_store_by_lua*` ([`store`]), before the first request.
pub(crate) async fn after_handshake(
    http: &Arc<Http>,
    p: &Peer,
    a: After,
    conn: &rustls::ServerConnection,
    info: &mut crate::http::ssl::TlsInfo,
) {
    if let Some(v) = &a.verify {
        info.lua_verify(v);
    }
    if let Some(s) = a.store {
        if let Some(ctx) = store(http, p, s, conn).await {
            info.lua_ctx = Some(ctx);
        }
    }
}

/// rustls's session store for one handshake with Lua session hooks: the server's own
/// store, plus the session `ssl_session_fetch_by_lua*` set; what rustls stores is kept for
/// `ssl_session_store_by_lua*`.
#[derive(Debug)]
struct LuaSessions {
    inner: Arc<dyn rustls::server::StoresServerSessions>,
    /// (session id, session) from the fetch hook.
    fetched: Option<(Vec<u8>, Vec<u8>)>,
    /// Whether new sessions get an id (rustls: `can_cache`).
    ids: bool,
    /// The new session rustls stored: (id, session).
    stored: std::sync::Mutex<Option<(Vec<u8>, Vec<u8>)>>,
}

impl rustls::server::StoresServerSessions for LuaSessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        if self.inner.can_cache() {
            let _ = self.inner.put(key.clone(), value.clone());
        }
        if let Ok(mut s) = self.stored.lock() {
            *s = Some((key, value));
        }
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.get(key).or_else(|| {
            self.fetched
                .as_ref()
                .filter(|(id, _)| id == key)
                .map(|(_, v)| v.clone())
        })
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.take(key)
    }

    fn can_cache(&self) -> bool {
        self.ids
    }
}

/// A handshake's pending `ssl_session_store_by_lua*`.
struct SessionStore {
    sessions: Arc<LuaSessions>,
    handler: Arc<LuaHandler>,
    /// The server the SNI name chose (nginx: the connection's conf after the SNI callback).
    server: Arc<crate::http::lower::Server>,
    st: Rc<RefCell<State>>,
}

/// nginx: ngx_http_lua_ssl_sess_store_handler, as OpenSSL's new session callback at the
/// end of a handshake that made a TLS 1.2 session with an id: runs the hook (it cannot
/// yield; its errors are logged and eaten). Returns the hooks' `ngx.ctx` afterwards.
async fn store(
    http: &Arc<Http>,
    p: &Peer,
    s: SessionStore,
    conn: &rustls::ServerConnection,
) -> Option<mlua::Table> {
    let stored = s.sessions.stored.lock().ok().and_then(|mut x| x.take());
    let tls12 = conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_2);
    if let (Some((id, value)), true) = (stored, tls12) {
        {
            let mut st = s.st.borrow_mut();
            st.session_id = Some(id);
            st.session = Some(value);
        }
        run_hook(http, &s.server, &s.handler, Phase::SslSessStore, &s.st, p).await;
    }
    let ctx = s.st.borrow().ctx.clone();
    ctx
}

/// Forgets a hook's fake request when the hook ends, also when the handshake's deadline
/// drops it half-way (nginx: ngx_http_lua_ssl_cert_aborted).
struct Forget(vm::CtxKey);

impl Drop for Forget {
    fn drop(&mut self) {
        let id = self.0 .0;
        let _ = STATES.try_with(|s| s.borrow_mut().remove(&id));
        vm::drop_key(self.0);
    }
}

/// Whether rustls will resume a session the client offers (the ticket decrypts, or the
/// session is in the cache), so that no certificate is needed.
fn resumable(cfg: &ServerConfig, hello: &Hello, version: u16) -> bool {
    let (psks, ticket, sid) = hello.resumption();
    let known = |id: &[u8]| {
        (cfg.ticketer.enabled() && cfg.ticketer.decrypt(id).is_some())
            || cfg.session_storage.get(id).is_some()
    };
    if version == 0x0304 {
        return psks.iter().any(|id| known(id));
    }
    match ticket {
        Some(t) => cfg.ticketer.enabled() && cfg.ticketer.decrypt(t).is_some(),
        None => !sid.is_empty() && cfg.session_storage.get(sid).is_some(),
    }
}

/// One hook in a fake request of `server` (nginx: ngx_http_lua_ssl_cert_handler /
/// ngx_http_lua_ssl_client_hello_handler): true when the handshake may go on.
async fn run_hook(
    http: &Arc<Http>,
    server: &Arc<crate::http::lower::Server>,
    h: &Arc<LuaHandler>,
    phase: Phase,
    st: &Rc<RefCell<State>>,
    p: &Peer,
) -> bool {
    let vm = match vm::get() {
        Some(vm) => vm,
        None => match vm::create(
            server.conf.lua_main.clone().unwrap_or_default(),
            &http.prefix,
        ) {
            Some(vm) => vm,
            None => return false,
        },
    };
    // nginx: the fake connection has a number of its own.
    let id = crate::worker::next_conn_id();
    let conn = Conn {
        id,
        remote: Some(p.remote),
        local: p.local,
        requests: 0,
        addr: p.addr,
        proxy: p.proxy.clone(),
    };
    let mut r = Request::fake(http.clone(), conn, server.clone());
    r.vars
        .insert(CONTEXT.to_vec(), phase.tag().as_bytes().to_vec());
    STATES.with(|s| s.borrow_mut().insert(id, st.clone()));
    let _forget = Forget(vm::key_of(&r));
    vm::ctx_of(&r).borrow_mut().ctx = st.borrow().ctx.clone();
    let out = vm::run(&vm, &mut r, h, phase, MultiValue::new()).await;
    let exit = vm::ctx_of(&r).borrow().exit;
    st.borrow_mut().ctx = vm::ctx_of(&r).borrow().ctx.clone();
    match out {
        vm::Outcome::Returned => true,
        // nginx: ngx.exit(ngx.ERROR) or a status >= 300 fails the handshake
        // (ngx_http_lua_finalize_fake_request).
        vm::Outcome::Exited => exit.is_some_and(|c| c != -1 && c < 300),
        vm::Outcome::Failed => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths() {
        assert_eq!(der_len(&[0x30, 0x03, 1, 2, 3, 9]), Some(5));
        assert_eq!(der_len(&[0x30, 0x81, 0x01, 7]), Some(4));
        assert_eq!(der_len(&[0x30, 0x05, 1]), None);
        assert_eq!(der_len(&[0x31, 0x00]), None);
        assert!(der_chain(b"garbage").is_none());
        assert_eq!(
            der_chain(&[0x30, 0x00, 0x30, 0x01, 5]).map(|c| c.len()),
            Some(2)
        );
    }

    #[test]
    fn client_hello() {
        // record header, handshake header, version, random, empty session id, one suite,
        // one compression method, extensions: server_name "a.b", supported_versions.
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[0u8; 32]);
        body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
        let sni = [0u8, 6, 0, 0, 3, b'a', b'.', b'b'];
        let sv = [4u8, 0x03, 0x04, 0x03, 0x03];
        let mut exts = vec![0, 0, 0, sni.len() as u8];
        exts.extend_from_slice(&sni);
        exts.extend_from_slice(&[0, 43, 0, sv.len() as u8]);
        exts.extend_from_slice(&sv);
        body.extend_from_slice(&[0, exts.len() as u8]);
        body.extend_from_slice(&exts);
        let mut hs = vec![1, 0, 0, body.len() as u8];
        hs.extend_from_slice(&body);
        let mut rec = vec![22, 3, 1, 0, hs.len() as u8];
        rec.extend_from_slice(&hs);
        let h = parse_hello(&rec).unwrap_or_default();
        assert_eq!(h.sni.as_deref(), Some(&b"a.b"[..]));
        assert_eq!(h.exts.len(), 2);
        assert_eq!(h.versions(), vec![0x0304, 0x0303]);
    }
}
