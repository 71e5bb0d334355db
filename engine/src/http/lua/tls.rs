//! `sock:sslhandshake` on rustls (nginx: ngx_http_lua_ffi_socket_tcp_sslhandshake and
//! resty.core's wrapper in resty/core/socket.lua): SNI from `server_name`, certificate
//! verification against `lua_ssl_trusted_certificate` when `ssl_verify` is true (with
//! OpenSSL's error codes and texts for the common failures), the host check, and session
//! reuse (rustls resumes sessions through the per-worker client configuration).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mlua::{Lua, MultiValue, Value};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, SignatureScheme};

use super::socket::{arg, check_str, fail, log, nil_err, ret, state_of, BoxIo, Tcp};
use super::vm::ApiResult;
use crate::log::Level;

/// What verification found (the handshake itself always goes on, as OpenSSL's
/// SSL_VERIFY_NONE with the result read afterwards).
#[derive(Debug, Default)]
struct Outcome {
    /// OpenSSL's X509 verify code and text of the first failure.
    verify_error: Option<(i32, &'static str)>,
    /// The certificate does not match the server name.
    host_mismatch: bool,
}

/// Verifies with webpki when asked, records the outcome, and accepts the handshake.
#[derive(Debug)]
struct Recorder {
    inner: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    check_host: bool,
    outcome: Arc<Mutex<Outcome>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    /// Verification was asked for with no trusted certificate: every chain fails, with the
    /// code OpenSSL gives for the chain the server sent.
    no_roots: bool,
    /// The trusted certificates as given: a server certificate that is one of them is
    /// trusted as it is (OpenSSL accepts a trusted self-signed leaf, webpki does not).
    trusted: Vec<CertificateDer<'static>>,
}

/// OpenSSL's X509_V_ERR_* code and X509_verify_cert_error_string for a rustls failure.
pub(crate) fn openssl_code(e: &TlsError, chain_len: usize) -> (i32, &'static str) {
    match e {
        TlsError::InvalidCertificate(CertificateError::Expired) => (10, "certificate has expired"),
        TlsError::InvalidCertificate(CertificateError::NotValidYet) => {
            (9, "certificate is not yet valid")
        }
        TlsError::InvalidCertificate(CertificateError::Revoked) => (23, "certificate revoked"),
        TlsError::InvalidCertificate(CertificateError::UnknownIssuer) if chain_len <= 1 => {
            (20, "unable to get local issuer certificate")
        }
        TlsError::InvalidCertificate(CertificateError::UnknownIssuer) => {
            (20, "unable to get local issuer certificate")
        }
        TlsError::InvalidCertificate(CertificateError::BadSignature) => {
            (7, "certificate signature failure")
        }
        _ => (1, "unspecified certificate verification error"),
    }
}

/// OpenSSL's code when no trusted certificate issued the chain the server sent: 18 for a
/// lone self-signed certificate, 19 when the chain ends in a self-signed one, else 20.
pub(crate) fn untrusted_chain_code(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> (i32, &'static str) {
    match intermediates.last() {
        None if is_self_signed(end_entity) => (18, "self-signed certificate"),
        Some(top) if is_self_signed(top) => (19, "self-signed certificate in certificate chain"),
        _ => (20, "unable to get local issuer certificate"),
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        if self.inner.is_some()
            && self
                .trusted
                .iter()
                .any(|c| c.as_ref() == end_entity.as_ref())
        {
            // trusted as it is: only the host check remains
            if !name_matches(end_entity, server_name) {
                if let Ok(mut o) = self.outcome.lock() {
                    o.host_mismatch = self.check_host;
                }
            }
        } else if let Some(v) = &self.inner {
            let res =
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
            if let Err(e) = res {
                if let Ok(mut o) = self.outcome.lock() {
                    match e {
                        TlsError::InvalidCertificate(CertificateError::NotValidForName)
                        | TlsError::InvalidCertificate(
                            CertificateError::NotValidForNameContext { .. },
                        ) => {
                            // webpki reads subjectAltName only; OpenSSL falls back to the CN
                            o.host_mismatch =
                                self.check_host && !cn_matches(end_entity, server_name);
                        }
                        other => {
                            // a self-signed leaf: OpenSSL's code 18
                            let self_signed =
                                intermediates.is_empty() && is_self_signed(end_entity);
                            o.verify_error = Some(if self_signed {
                                (18, "self-signed certificate")
                            } else if matches!(
                                other,
                                TlsError::InvalidCertificate(CertificateError::UnknownIssuer)
                            ) {
                                untrusted_chain_code(end_entity, intermediates)
                            } else {
                                openssl_code(&other, 1 + intermediates.len())
                            });
                        }
                    }
                }
            }
        } else if self.no_roots {
            if let Ok(mut o) = self.outcome.lock() {
                o.verify_error = Some(untrusted_chain_code(end_entity, intermediates));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Whether the certificate is valid for the name (nginx: ngx_ssl_check_host, OpenSSL's
/// X509_check_host): its subjectAltName entries, or without any, its subject's CN.
fn name_matches(cert: &CertificateDer<'_>, name: &ServerName<'_>) -> bool {
    rustls::server::ParsedCertificate::try_from(cert)
        .and_then(|p| rustls::client::verify_server_name(&p, name))
        .is_ok()
        || cn_matches(cert, name)
}

/// OpenSSL's fallback of X509_check_host: a certificate with no subjectAltName extension
/// matches a DNS name equal to its subject's CN (a leading `*.` matching one label).
fn cn_matches(cert: &CertificateDer<'_>, name: &ServerName<'_>) -> bool {
    // the subjectAltName extension's OID, 2.5.29.17
    const SAN_OID: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x11];
    let ServerName::DnsName(dns) = name else {
        return false;
    };
    if cert.as_ref().windows(SAN_OID.len()).any(|w| w == SAN_OID) {
        return false;
    }
    let Some(cn) = subject_cn(cert) else {
        return false;
    };
    let (host, cn) = (dns.as_ref().to_ascii_lowercase(), cn.to_ascii_lowercase());
    match cn.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => host == cn,
    }
}

/// One DER TLV: tag, contents, what follows.
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let l0 = *b.get(1)? as usize;
    let (len, hdr) = if l0 < 0x80 {
        (l0, 2)
    } else {
        let n = l0 & 0x7f;
        if n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let body = b.get(hdr..hdr.checked_add(len)?)?;
    Some((tag, body, b.get(hdr + len..)?))
}

/// The issuer and subject Names of a certificate (their DER contents).
fn issuer_subject<'a>(cert: &'a CertificateDer<'_>) -> Option<(&'a [u8], &'a [u8])> {
    // tbsCertificate: version?, serial, signature alg, issuer, validity, subject
    let (_, cert, _) = tlv(cert.as_ref())?;
    let (_, tbs, _) = tlv(cert)?;
    let (tag, _, mut rest) = tlv(tbs)?;
    if tag == 0xa0 {
        let (_, _, r) = tlv(rest)?; // serial
        rest = r;
    }
    let (_, _, r) = tlv(rest)?; // signature algorithm
    let (_, issuer, r) = tlv(r)?;
    let (_, _, r) = tlv(r)?; // validity
    let (_, subject, _) = tlv(r)?;
    Some((issuer, subject))
}

/// The (last) commonName of a certificate's subject.
fn subject_cn(cert: &CertificateDer<'_>) -> Option<String> {
    const CN_OID: &[u8] = &[0x55, 0x04, 0x03];
    let (_, mut rdns) = issuer_subject(cert)?;
    let mut cn = None;
    while !rdns.is_empty() {
        let (_, set, rest) = tlv(rdns)?;
        rdns = rest;
        let mut atvs = set;
        while !atvs.is_empty() {
            let (_, atv, rest) = tlv(atvs)?;
            atvs = rest;
            let (_, oid, value) = tlv(atv)?;
            if oid == CN_OID {
                let (_, v, _) = tlv(value)?;
                cn = Some(String::from_utf8_lossy(v).into_owned());
            }
        }
    }
    cn
}

/// Whether a certificate's issuer equals its subject (compared as DER bytes).
pub(crate) fn is_self_signed(cert: &CertificateDer<'_>) -> bool {
    issuer_subject(cert).is_some_and(|(issuer, subject)| issuer == subject)
}

thread_local! {
    /// Client configurations by (verify, trusted certificate file): rustls keeps its session
    /// cache in them, so sessions resume across handshakes of this worker.
    static CONFIGS: RefCell<HashMap<(bool, String), Arc<rustls::ClientConfig>>> =
        RefCell::new(HashMap::new());
}

/// The `lua_ssl_trusted_certificate` roots.
fn roots(path: &str) -> Result<(rustls::RootCertStore, Vec<CertificateDer<'static>>), String> {
    let mut store = rustls::RootCertStore::empty();
    let mut certs = Vec::new();
    if path.is_empty() {
        return Ok((store, certs));
    }
    let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    for c in rustls_pemfile::certs(&mut data.as_slice()).flatten() {
        certs.push(c.clone());
        let _ = store.add(c);
    }
    Ok((store, certs))
}

/// Where the socket table keeps `setclientcert`'s chain and key (nginx:
/// SOCKET_CLIENT_CERT_INDEX, SOCKET_CLIENT_PKEY_INDEX).
const CLIENT_CERT_INDEX: i64 = 6;
const CLIENT_PKEY_INDEX: i64 = 7;

/// lua-resty-core's `tcpsock:setclientcert(cert, pkey)`: the chain of
/// `ngx.ssl.parse_pem_cert` and the key of `ngx.ssl.parse_pem_priv_key` the next
/// `sslhandshake` offers when the server asks for a client certificate; no arguments
/// forget them.
pub(crate) fn setclientcert(lua: &Lua, args: MultiValue) -> ApiResult {
    let Value::Table(obj) = arg(&args, 0) else {
        return Err(fail(
            lua,
            "bad argument #1 to 'setclientcert' (table expected)",
        ));
    };
    let (cert, pkey) = (arg(&args, 1), arg(&args, 2));
    let absent = |v: &Value| matches!(v, Value::Nil | Value::Boolean(false));
    if absent(&cert) && absent(&pkey) {
        obj.raw_set(CLIENT_CERT_INDEX, Value::Nil)?;
        obj.raw_set(CLIENT_PKEY_INDEX, Value::Nil)?;
        return ret(vec![Value::Boolean(true)]);
    }
    if absent(&cert) || absent(&pkey) {
        return nil_err(
            lua,
            "client certificate must be supplied with corresponding private key",
        );
    }
    // (resty.core checks for a cdata; the parsed values are userdata here)
    let is = |v: &Value, chain: bool| match v {
        Value::UserData(u) if chain => u.is::<super::ssl::ParsedChain>(),
        Value::UserData(u) => u.is::<super::ssl::ParsedKey>(),
        _ => false,
    };
    if !is(&cert, true) {
        return nil_err(
            lua,
            format!(
                "bad cert arg: cdata expected, got {}",
                super::api::type_name(&cert)
            ),
        );
    }
    if !is(&pkey, false) {
        return nil_err(
            lua,
            format!(
                "bad pkey arg: cdata expected, got {}",
                super::api::type_name(&pkey)
            ),
        );
    }
    obj.raw_set(CLIENT_CERT_INDEX, cert)?;
    obj.raw_set(CLIENT_PKEY_INDEX, pkey)?;
    ret(vec![Value::Boolean(true)])
}

/// The client certificate `setclientcert` set on the socket table.
fn client_cert(obj: &mlua::Table) -> Option<Arc<rustls::sign::CertifiedKey>> {
    let Ok(Value::UserData(c)) = obj.raw_get::<Value>(CLIENT_CERT_INDEX) else {
        return None;
    };
    let Ok(Value::UserData(k)) = obj.raw_get::<Value>(CLIENT_PKEY_INDEX) else {
        return None;
    };
    let chain = c.borrow::<super::ssl::ParsedChain>().ok()?.0.clone();
    let key = k.borrow::<super::ssl::ParsedKey>().ok()?.0.clone();
    Some(Arc::new(rustls::sign::CertifiedKey::new(chain, key)))
}

/// Offers one client certificate whatever the server asks for (nginx: SSL_use_certificate
/// and SSL_use_PrivateKey on the connection).
#[derive(Debug)]
struct OneClientCert(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for OneClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The client configuration for one handshake, with its outcome recorder.
fn config(
    verify: bool,
    trusted: &str,
    check_host: bool,
    client: Option<Arc<rustls::sign::CertifiedKey>>,
) -> Result<(Arc<rustls::ClientConfig>, Arc<Mutex<Outcome>>), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let mut trusted_certs = Vec::new();
    let inner = if verify {
        let (store, certs) = roots(trusted)?;
        trusted_certs = certs;
        if store.is_empty() {
            None
        } else {
            rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(store),
                provider.clone(),
            )
            .build()
            .ok()
        }
    } else {
        None
    };
    let no_roots = verify && inner.is_none();
    let rec = Arc::new(Recorder {
        inner,
        check_host,
        outcome: outcome.clone(),
        provider: provider.clone(),
        no_roots,
        trusted: trusted_certs,
    });
    // (a resumed session skips verification: it keeps this code)
    if no_roots {
        if let Ok(mut o) = outcome.lock() {
            o.verify_error = Some((20, "unable to get local issuer certificate"));
        }
    }
    // one base configuration per worker and trust setting: its session store is shared
    let key = (verify, trusted.to_string());
    let base = CONFIGS.with(|c| c.borrow().get(&key).cloned());
    let mut cfg = match base {
        Some(b) => (*b).clone(),
        None => {
            let b = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(rec.clone())
                .with_no_client_auth();
            let b = Arc::new(b);
            CONFIGS.with(|c| c.borrow_mut().insert(key, b.clone()));
            (*b).clone()
        }
    };
    cfg.dangerous().set_certificate_verifier(rec);
    if let Some(ck) = client {
        cfg.client_auth_cert_resolver = Arc::new(OneClientCert(ck));
    }
    Ok((Arc::new(cfg), outcome))
}

/// resty.core's `sslhandshake(reused_session, server_name, ssl_verify, send_status_req)`.
pub(crate) async fn sslhandshake(lua: Lua, args: MultiValue) -> ApiResult {
    let n = args.len();
    if n == 0 || n > 5 {
        let seen = if n == 0 { 0 } else { n };
        return Err(fail(
            &lua,
            format!(
                "ngx.socket sslhandshake: expecting 1 ~ 5 arguments (including the object), but seen {seen}"
            ),
        ));
    }
    super::socket::check_yieldable(&lua)?;
    let Value::Table(obj) = arg(&args, 0) else {
        return Err(Fail2::never());
    };
    let Some(st) = state_of(&obj) else {
        return Err(Fail2::never());
    };
    let reused = arg(&args, 1);
    let name = match arg(&args, 2) {
        Value::Nil | Value::Boolean(false) => None,
        v => check_str(&lua, &v).map(|b| String::from_utf8_lossy(&b).into_owned()),
    };
    let verify = !matches!(arg(&args, 3), Value::Nil | Value::Boolean(false));
    let loc = super::socket::current_loc();
    let trusted = loc
        .as_ref()
        .and_then(|l| l.lua_ssl_trusted_certificate.clone())
        .unwrap_or_default();
    let (io, timeout, log_errors, peer) = {
        let mut t: std::cell::RefMut<'_, Tcp> = st.borrow_mut();
        if !t.is_connected() {
            return nil_err(&lua, "closed");
        }
        let Some(io) = t.take_io() else {
            return nil_err(&lua, "socket busy");
        };
        (io, t.connect_timeout(), t.log_errors(), t.peer_ip())
    };
    let (cfg, outcome) = match config(verify, &trusted, name.is_some(), client_cert(&obj)) {
        Ok(c) => c,
        Err(e) => {
            log(Level::Error, &format!("lua ssl: {e}"));
            st.borrow_mut().give_back(Some(io));
            return nil_err(&lua, "failed to create ssl connection");
        }
    };
    let server_name: ServerName<'static> = match name
        .as_deref()
        .and_then(|n| ServerName::try_from(n.to_string()).ok())
    {
        Some(sn) => sn,
        None => ServerName::IpAddress(peer.into()),
    };
    let connector = tokio_rustls::TlsConnector::from(cfg);
    let res = tokio::time::timeout(timeout, connector.connect(server_name, io)).await;
    let tls: BoxIo = match res {
        Ok(Ok(s)) => Box::new(s),
        Ok(Err(_)) => {
            st.borrow_mut().give_back(None);
            return nil_err(&lua, "handshake failed");
        }
        Err(_) => {
            st.borrow_mut().give_back(None);
            return nil_err(&lua, "timeout");
        }
    };
    let (verify_error, host_mismatch) = outcome
        .lock()
        .map(|o| (o.verify_error, o.host_mismatch))
        .unwrap_or((None, false));
    if verify {
        if let Some((code, text)) = verify_error {
            if log_errors {
                log(
                    Level::Error,
                    &format!("lua ssl certificate verify error: ({code}: {text})"),
                );
            }
            st.borrow_mut().give_back(None);
            return nil_err(&lua, format!("{code}: {text}"));
        }
        if host_mismatch {
            if log_errors {
                log(
                    Level::Error,
                    &format!(
                        "lua ssl certificate does not match host \"{}\"",
                        name.as_deref().unwrap_or("")
                    ),
                );
            }
            st.borrow_mut().give_back(None);
            return nil_err(&lua, "certificate host mismatch");
        }
    }
    st.borrow_mut().give_back(Some(tls));
    st.borrow_mut().set_tls();
    if matches!(reused, Value::Boolean(false)) {
        return ret(vec![Value::Boolean(true)]);
    }
    ret(vec![session(&lua)?])
}

/// A session object: a cdata, as lua-nginx-module's SSL_SESSION pointer (rustls keeps the
/// real session in the worker's client configuration).
fn session(lua: &Lua) -> mlua::Result<Value> {
    const KEY: &str = "__oxresty_ssl_session_new";
    let f = match lua.named_registry_value::<mlua::Function>(KEY) {
        Ok(f) => f,
        Err(_) => {
            let f: mlua::Function = lua
                .load(
                    "local ok, ffi = pcall(require, 'ffi') \
                     return function() if ok then return ffi.new('char[1]') end return true end",
                )
                .set_name("=ssl_session")
                .call(())?;
            lua.set_named_registry_value(KEY, f.clone())?;
            f
        }
    };
    f.call(())
}

/// resty.core's "socket is never created nor connected" (raised at its line 81).
struct Fail2;

impl Fail2 {
    fn never() -> super::vm::Fail {
        super::vm::Fail(
            "/usr/share/lua/5.1/resty/core/socket.lua:81: socket is never created nor connected"
                .into(),
        )
    }
}
