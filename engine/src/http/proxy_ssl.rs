//! TLS to upstreams for `proxy_pass https://` (nginx: ngx_http_proxy_set_ssl, and
//! ngx_http_upstream.c's ngx_http_upstream_ssl_init_connection, ngx_http_upstream_ssl_name,
//! ngx_http_upstream_ssl_handshake, ngx_http_upstream_ssl_certificate; the per-peer sessions
//! of ngx_http_upstream_round_robin.c), on rustls.
//!
//! As nginx with OpenSSL:
//! - the certificate chain is always checked, and the result only counts with
//!   `proxy_ssl_verify on` (against `proxy_ssl_trusted_certificate`, which is only loaded
//!   then); the host check is against the `proxy_ssl_name` (default: the upstream's host)
//!   with its port stripped;
//! - SNI only with `proxy_ssl_server_name on`, never for an IPv4 literal or `[...]`;
//! - one saved session per peer (an upstream's server, or a `proxy_pass` address), shared by
//!   every location that proxies to it, whatever their TLS settings; a resumed session keeps
//!   the verification result of the handshake that made it (OpenSSL keeps it in the session);
//!   `balancer_by_lua*` peers get no session (lua-nginx-module's set_session is a TODO);
//! - failures are logged with OpenSSL's texts for the common cases.
//!
//! - `proxy_ssl_verify_depth N` lets N intermediates stand between the certificate and a
//!   trusted one (beyond: code 20, as the reference);
//! - a URL with variables shares the session of the configured peer it names (an upstream's
//!   server or another `proxy_pass` address), and keeps none for other addresses;
//! - sessions belong to a configuration: a reload starts without any.
//!
//! Differences (rustls): TLSv1.2 and TLSv1.3 only (the default is nginx 1.22's: TLSv1.3 only
//! when `proxy_ssl_protocols` names it); `proxy_ssl_ciphers` maps onto rustls's suites as
//! `ssl_ciphers` does (http/ssl.rs), with the same startup warnings; handshake errors other
//! than a received alert, a non-TLS answer or a closed connection are logged at `crit` with
//! rustls's text; `proxy_ssl_password_file` (encrypted keys) and `proxy_ssl_conf_command`
//! are not applied; sessions are shared by the worker threads (nginx: per worker process).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use parser::Directive;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionStore, ResolvesClientCert, Resumption};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, SignatureScheme};

use super::request::Request;
use super::upstream_rr::{PeerAddr, Stream};
use super::variables::ComplexValue;
use crate::log::Level;

// ---------------------------------------------------------------------------------------------
// Configuration

/// One level's `proxy_ssl_*` settings (`None`: not set at this level; nginx's defaults apply
/// after the merge).
#[derive(Debug, Clone, Default)]
pub(crate) struct SslLevel {
    session_reuse: Option<bool>,
    /// `proxy_ssl_protocols`: (TLSv1.2, TLSv1.3).
    protocols: Option<(bool, bool)>,
    ciphers: Option<String>,
    name: Option<ComplexValue>,
    server_name: Option<bool>,
    verify: Option<bool>,
    verify_depth: Option<usize>,
    trusted: Option<Vec<u8>>,
    crl: Option<Vec<u8>>,
    certificate: Option<ComplexValue>,
    certificate_key: Option<ComplexValue>,
    /// The rustls side of the merged level, built on first use.
    built: Arc<OnceLock<Arc<Built>>>,
}

fn arg(d: &Directive, i: usize) -> &[u8] {
    d.args.get(i).map(Vec::as_slice).unwrap_or_default()
}

fn cv(s: &[u8]) -> ComplexValue {
    crate::http::variables::parse_complex_value(s).unwrap_or_default()
}

impl SslLevel {
    /// Folds one `proxy_ssl_*` directive into the level; false for other directives.
    pub(crate) fn lower(&mut self, d: &Directive) -> bool {
        let on = arg(d, 0).eq_ignore_ascii_case(b"on");
        match d.name.as_slice() {
            b"proxy_ssl_session_reuse" => self.session_reuse = Some(on),
            b"proxy_ssl_protocols" => {
                let has = |w: &[u8]| d.args.iter().any(|a| a.as_slice() == w);
                self.protocols = Some((has(b"TLSv1.2"), has(b"TLSv1.3")));
            }
            b"proxy_ssl_ciphers" => {
                let spec = String::from_utf8_lossy(arg(d, 0)).into_owned();
                // what rustls cannot do is reported at startup, as for `ssl_ciphers`
                let mut warns = Vec::new();
                let _ = crate::http::ssl::tls12_suites(&spec, &mut warns);
                warns.dedup();
                for w in warns {
                    use std::io::Write;
                    let w = w.replacen("ssl_ciphers:", "proxy_ssl_ciphers:", 1);
                    let _ = writeln!(std::io::stderr(), "nginx: [warn] {w}");
                    crate::http::errlog::write(Level::Warn, &w);
                }
                self.ciphers = Some(spec)
            }
            b"proxy_ssl_name" => self.name = Some(cv(arg(d, 0))),
            b"proxy_ssl_server_name" => self.server_name = Some(on),
            b"proxy_ssl_verify" => self.verify = Some(on),
            b"proxy_ssl_verify_depth" => {
                self.verify_depth =
                    crate::conf::values::atoi(arg(d, 0)).and_then(|n| usize::try_from(n).ok())
            }
            b"proxy_ssl_trusted_certificate" => self.trusted = Some(arg(d, 0).to_vec()),
            b"proxy_ssl_crl" => self.crl = Some(arg(d, 0).to_vec()),
            b"proxy_ssl_certificate" => self.certificate = Some(cv(arg(d, 0))),
            b"proxy_ssl_certificate_key" => self.certificate_key = Some(cv(arg(d, 0))),
            b"proxy_ssl_password_file" | b"proxy_ssl_conf_command" => {}
            _ => return false,
        }
        self.built = Arc::default();
        true
    }

    /// nginx: the `proxy_ssl_*` part of ngx_http_proxy_merge_loc_conf.
    pub(crate) fn inherit(&mut self, parent: &SslLevel) {
        macro_rules! inherit {
            ($($f:ident),*) => {$(
                if self.$f.is_none() {
                    self.$f = parent.$f.clone();
                }
            )*};
        }
        inherit!(
            session_reuse,
            protocols,
            ciphers,
            name,
            server_name,
            verify,
            verify_depth,
            trusted,
            crl,
            certificate,
            certificate_key
        );
        // the merged level builds its own rustls configuration
        self.built = Arc::default();
    }

    fn verify(&self) -> bool {
        self.verify == Some(true)
    }

    fn server_name(&self) -> bool {
        self.server_name == Some(true)
    }

    fn session_reuse(&self) -> bool {
        self.session_reuse != Some(false)
    }
}

/// The rustls pieces of a merged level.
#[derive(Debug)]
struct Built {
    /// Versions, suites and the static client certificate; the verifier and the session
    /// store are set per handshake.
    config: Option<rustls::ClientConfig>,
    /// The chain check against `proxy_ssl_trusted_certificate` (with `proxy_ssl_crl`), when
    /// verifying with some trusted certificate.
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    /// Subjects of the trusted certificates (DER), for `proxy_ssl_verify_depth`.
    anchors: Vec<Vec<u8>>,
    depth: usize,
    provider: Arc<CryptoProvider>,
    /// The trusted certificates themselves (DER): a server certificate that is one of them
    /// is trusted as it is (OpenSSL accepts a trusted self-signed leaf, webpki does not).
    trusted: Vec<Vec<u8>>,
    /// The client certificate without variables.
    client: Option<Arc<CertifiedKey>>,
}

/// Where relative certificate paths resolve (nginx: the configuration's directory).
fn conf_dir(r: &Request) -> std::path::PathBuf {
    r.http.conf_prefix.clone()
}

fn certs_of(path: &std::path::Path) -> Vec<CertificateDer<'static>> {
    std::fs::read(path)
        .map(|pem| {
            rustls_pemfile::certs(&mut pem.as_slice())
                .filter_map(Result::ok)
                .collect()
        })
        .unwrap_or_default()
}

/// A certificate and key pair from files (nginx: ngx_ssl_certificate /
/// ngx_ssl_connection_certificate); `Err` is nginx's log text.
fn load_pair(
    provider: &CryptoProvider,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<CertifiedKey>, String> {
    let pem = std::fs::read(cert).map_err(|e| {
        format!(
            "cannot load certificate \"{}\": {}",
            cert.display(),
            crate::http::ssl::bio_error(cert, &e)
        )
    })?;
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pem.as_slice())
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(format!(
            "cannot load certificate \"{}\": PEM_read_bio_X509_AUX() failed (SSL: error:0480006C:PEM routines::no start line:Expecting: TRUSTED CERTIFICATE)",
            cert.display()
        ));
    }
    let kpem = std::fs::read(key).map_err(|e| {
        format!(
            "cannot load certificate key \"{}\": {}",
            key.display(),
            crate::http::ssl::bio_error(key, &e)
        )
    })?;
    let der = match rustls_pemfile::private_key(&mut kpem.as_slice()) {
        Ok(Some(k)) => k,
        _ => return Err(format!(
            "cannot load certificate key \"{}\": PEM_read_bio_PrivateKey() failed (SSL: error:1E08010C:DECODER routines::unsupported:No supported data to decode. Input type: PEM)",
            key.display()
        )),
    };
    let signer = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| format!("cannot load certificate key \"{}\": {e}", key.display()))?;
    Ok(Arc::new(CertifiedKey::new(chain, signer)))
}

/// The TLS 1.3 suites in OpenSSL's default order (as http/ssl.rs).
fn tls13_suites() -> Vec<rustls::SupportedCipherSuite> {
    use rustls::crypto::ring::cipher_suite as cs;
    vec![
        cs::TLS13_AES_256_GCM_SHA384,
        cs::TLS13_CHACHA20_POLY1305_SHA256,
        cs::TLS13_AES_128_GCM_SHA256,
    ]
}

/// nginx: ngx_http_proxy_set_ssl, for the run time (the parse pass reported bad files).
fn build(r: &Request, s: &SslLevel) -> Built {
    let dir = conf_dir(r);
    // nginx 1.22's default `TLSv1 TLSv1.1 TLSv1.2`: TLSv1.3 only when asked for
    let (tls12, tls13) = s.protocols.unwrap_or((true, false));
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if tls12 || !tls13 {
        // rustls has nothing older: a list of only older protocols gets TLSv1.2
        versions.push(&rustls::version::TLS12);
    }
    if tls13 {
        versions.push(&rustls::version::TLS13);
    }
    let mut warns = Vec::new();
    let spec = s.ciphers.clone().unwrap_or_else(|| "DEFAULT".into());
    let mut suites = tls13_suites();
    suites.extend(crate::http::ssl::tls12_suites(&spec, &mut warns));
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites,
        ..rustls::crypto::ring::default_provider()
    });
    // the static client certificate (with variables: loaded per request)
    let mut client: Option<Arc<CertifiedKey>> = None;
    if let (Some(c), Some(k)) = (&s.certificate, &s.certificate_key) {
        if c.is_static() && k.is_static() {
            let cp = crate::cycle::full_name(&dir, &r.eval(c));
            let kp = crate::cycle::full_name(&dir, &r.eval(k));
            match load_pair(&provider, &cp, &kp) {
                Ok(ck) => client = Some(ck),
                Err(e) => crate::http::errlog::write(Level::Error, &e),
            }
        }
    }
    let mut chain = None;
    let mut anchors = Vec::new();
    let mut trusted = Vec::new();
    if s.verify() {
        if let Some(t) = &s.trusted {
            let mut store = rustls::RootCertStore::empty();
            for c in certs_of(&crate::cycle::full_name(&dir, t)) {
                if let Some((_, subject)) = x509::names(c.as_ref()) {
                    anchors.push(subject);
                }
                trusted.push(c.as_ref().to_vec());
                let _ = store.add(c);
            }
            let crls: Vec<rustls::pki_types::CertificateRevocationListDer<'static>> = s
                .crl
                .as_ref()
                .filter(|c| !c.is_empty())
                .and_then(|c| std::fs::read(crate::cycle::full_name(&dir, c)).ok())
                .map(|pem| {
                    rustls_pemfile::crls(&mut pem.as_slice())
                        .filter_map(Result::ok)
                        .collect()
                })
                .unwrap_or_default();
            if !store.is_empty() {
                chain = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(store),
                    provider.clone(),
                )
                .with_crls(crls)
                .build()
                .ok();
            }
        }
    }
    let (verifier, resolver) = shared();
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map(|b| {
            let b = b.dangerous().with_custom_certificate_verifier(verifier);
            let mut c = b.with_no_client_auth();
            c.client_auth_cert_resolver = resolver;
            c
        });
    let config = match config {
        Ok(c) => Some(c),
        Err(e) => {
            crate::http::errlog::write(
                Level::Error,
                &format!("proxy_ssl: no usable protocol or cipher suite: {e}"),
            );
            None
        }
    };
    Built {
        config,
        chain,
        anchors,
        depth: s.verify_depth.unwrap_or(1),
        provider,
        client,
        trusted,
    }
}

/// What one handshake's verifier and certificate resolver use. rustls resumes a session
/// only with the very verifier and resolver that made it, so every configuration shares one
/// of each ([`shared`]), and they find the handshake's settings here, set by [`WithCtx`]
/// around each poll of the handshake (a worker thread polls one task at a time).
#[derive(Debug)]
struct HsCtx {
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    anchors: Vec<Vec<u8>>,
    depth: usize,
    outcome: Arc<Mutex<Outcome>>,
    /// The client certificate (OpenSSL sends the configured one whatever CAs the server
    /// names).
    client: Option<Arc<CertifiedKey>>,
    trusted: Vec<Vec<u8>>,
}

thread_local! {
    static CURRENT: std::cell::RefCell<Option<Arc<HsCtx>>> =
        const { std::cell::RefCell::new(None) };
}

fn current() -> Option<Arc<HsCtx>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// A handshake future polled with its context set.
struct WithCtx<F> {
    ctx: Arc<HsCtx>,
    inner: F,
}

impl<F: std::future::Future + Unpin> std::future::Future for WithCtx<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let ctx = self.ctx.clone();
        in_ctx(&ctx, || std::pin::Pin::new(&mut self.inner).poll(cx))
    }
}

/// Runs `f` with the handshake context set.
fn in_ctx<T>(ctx: &Arc<HsCtx>, f: impl FnOnce() -> T) -> T {
    let prev = CURRENT.with(|c| c.replace(Some(ctx.clone())));
    let out = f();
    CURRENT.with(|c| *c.borrow_mut() = prev);
    out
}

/// The verifier and client certificate resolver of every upstream configuration.
fn shared() -> (Arc<dyn ServerCertVerifier>, Arc<dyn ResolvesClientCert>) {
    static SHARED: OnceLock<(Arc<Recorder>, Arc<ClientCert>)> = OnceLock::new();
    let (v, c) = SHARED.get_or_init(|| {
        (
            Arc::new(Recorder {
                algs: rustls::crypto::ring::default_provider().signature_verification_algorithms,
            }),
            Arc::new(ClientCert),
        )
    });
    (v.clone(), c.clone())
}

/// The handshake's client certificate.
#[derive(Debug)]
struct ClientCert;

impl ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        current().and_then(|c| c.client.clone())
    }

    fn has_certs(&self) -> bool {
        current().is_some_and(|c| c.client.is_some())
    }
}

// ---------------------------------------------------------------------------------------------
// Verification

/// OpenSSL's verify result: `None` is X509_V_OK, else the code and its text.
type Verdict = Option<(i32, &'static str)>;

/// What the handshake's certificate check found.
#[derive(Debug, Default)]
struct Outcome {
    /// The server's certificate was checked (a full handshake, not a resumption).
    checked: bool,
    verdict: Verdict,
}

/// Checks the chain as OpenSSL does during every handshake, records the result, and lets
/// the handshake go on (SSL_VERIFY_NONE; nginx reads the result afterwards).
#[derive(Debug)]
struct Recorder {
    algs: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl HsCtx {
    fn verdict(&self, end: &CertificateDer<'_>, inter: &[CertificateDer<'_>]) -> Verdict {
        use crate::http::lua::tls::{is_self_signed, openssl_code};
        let self_signed = inter.is_empty() && is_self_signed(end);
        let unknown = if self_signed {
            (18, "self-signed certificate")
        } else {
            (20, "unable to get local issuer certificate")
        };
        let Some(v) = &self.chain else {
            return Some(unknown);
        };
        // a certificate that is itself trusted (a self-signed one, typically)
        if self.trusted.iter().any(|t| t.as_slice() == end.as_ref()) {
            return None;
        }
        // with trusted certificates, a lone certificate of an unknown issuer is OpenSSL's
        // "unable to verify the first certificate"
        let unknown = if !self_signed && inter.is_empty() {
            (21, "unable to verify the first certificate")
        } else {
            unknown
        };
        // any name: the host is checked apart (nginx: ngx_ssl_check_host)
        let name = ServerName::IpAddress(std::net::Ipv4Addr::UNSPECIFIED.into());
        match v.verify_server_cert(end, inter, &name, &[], UnixTime::now()) {
            Ok(_)
            | Err(TlsError::InvalidCertificate(CertificateError::NotValidForName))
            | Err(TlsError::InvalidCertificate(CertificateError::NotValidForNameContext {
                ..
            })) => self.depth_check(end, inter),
            Err(TlsError::InvalidCertificate(CertificateError::UnknownIssuer)) => Some(unknown),
            // OpenSSL finds no issuer for a self-signed certificate it does not trust
            Err(_) if self_signed => Some(unknown),
            Err(e) => Some(openssl_code(&e, 1 + inter.len())),
        }
    }

    /// nginx: `proxy_ssl_verify_depth` (SSL_CTX_set_verify_depth): how many intermediates
    /// may stand between the certificate and a trusted one (the reference: depth 0 takes a
    /// certificate the trusted CA signed, and refuses one more level with code 20).
    fn depth_check(&self, end: &CertificateDer<'_>, inter: &[CertificateDer<'_>]) -> Verdict {
        use x509::names as x509_names;
        let mut issuer = x509_names(end.as_ref())?.0;
        let mut n = 0;
        while !self.anchors.contains(&issuer) {
            let next = inter
                .iter()
                .filter_map(|c| x509_names(c.as_ref()))
                .find(|(_, subject)| *subject == issuer)?;
            n += 1;
            if n > inter.len() {
                return None;
            }
            issuer = next.0;
        }
        // OpenSSL stops building the chain there: no issuer found
        if n > self.depth {
            return Some((20, "unable to get local issuer certificate"));
        }
        None
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        if let Some(ctx) = current() {
            let verdict = ctx.verdict(end_entity, intermediates);
            if let Ok(mut o) = ctx.outcome.lock() {
                o.checked = true;
                o.verdict = verdict;
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// nginx: ngx_ssl_check_host (X509_check_host: the DNS names of the certificate, or its
/// common name when it has none).
fn host_matches(cert: &CertificateDer<'_>, name: &str) -> bool {
    let Ok(dns) = rustls::pki_types::DnsName::try_from(name.to_string()) else {
        return false;
    };
    let sn = ServerName::DnsName(dns);
    let Ok(parsed) = rustls::server::ParsedCertificate::try_from(cert) else {
        return false;
    };
    if rustls::client::verify_server_name(&parsed, &sn).is_ok() {
        return true;
    }
    // no subjectAltName at all: the common name (OpenSSL's fallback)
    if x509::has_dns_san(cert.as_ref()) {
        return false;
    }
    x509::common_names(cert.as_ref())
        .iter()
        .any(|cn| wildcard_match(&String::from_utf8_lossy(cn), name))
}

/// A certificate name against a host name (`*.x` matches one leftmost label).
fn wildcard_match(pattern: &str, host: &str) -> bool {
    let (p, h) = (pattern.to_ascii_lowercase(), host.to_ascii_lowercase());
    match p.strip_prefix("*.") {
        Some(rest) => h
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => p == h,
    }
}

/// Just enough DER to read a certificate's names (issuer and subject as whole encoded
/// Names, common names, and whether it has DNS subjectAltNames).
mod x509 {
    /// One TLV: (tag, the whole TLV, its body, what follows).
    type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

    /// A certificate's issuer and subject (whole TLVs) and extensions body.
    type Fields<'a> = (&'a [u8], &'a [u8], Option<&'a [u8]>);

    fn tlv(b: &[u8]) -> Option<Tlv<'_>> {
        let tag = *b.first()?;
        let l0 = *b.get(1)? as usize;
        let (len, hdr) = if l0 < 0x80 {
            (l0, 2)
        } else {
            let n = l0 & 0x7f;
            if n == 0 || n > 4 {
                return None;
            }
            let mut len = 0usize;
            for i in 0..n {
                len = (len << 8) | *b.get(2 + i)? as usize;
            }
            (len, 2 + n)
        };
        let end = hdr.checked_add(len)?;
        Some((tag, b.get(..end)?, b.get(hdr..end)?, b.get(end..)?))
    }

    /// (issuer, subject, extensions body) of a certificate.
    fn fields(cert: &[u8]) -> Option<Fields<'_>> {
        let (_, _, body, _) = tlv(cert)?;
        let (_, _, tbs, _) = tlv(body)?;
        let (tag, _, _, mut rest) = tlv(tbs)?;
        if tag == 0xa0 {
            rest = tlv(rest)?.3; // the serial after the version
        }
        let rest = tlv(rest)?.3; // signature algorithm
        let (_, issuer, _, rest) = tlv(rest)?;
        let rest = tlv(rest)?.3; // validity
        let (_, subject, _, mut rest) = tlv(rest)?;
        let mut ext = None;
        while let Some((tag, _, body, r)) = tlv(rest) {
            if tag == 0xa3 {
                ext = tlv(body).map(|t| t.2);
            }
            rest = r;
        }
        Some((issuer, subject, ext))
    }

    /// (issuer, subject) as encoded.
    pub(super) fn names(cert: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let (i, s, _) = fields(cert)?;
        Some((i.to_vec(), s.to_vec()))
    }

    /// The subject's common names.
    pub(super) fn common_names(cert: &[u8]) -> Vec<Vec<u8>> {
        const CN: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x03];
        let mut out = Vec::new();
        let Some((_, subject, _)) = fields(cert) else {
            return out;
        };
        let Some((_, _, mut rdns, _)) = tlv(subject) else {
            return out;
        };
        while let Some((_, _, set, rest)) = tlv(rdns) {
            let mut atvs = set;
            while let Some((_, _, atv, r)) = tlv(atvs) {
                if let Some((_, oid, _, value)) = tlv(atv) {
                    if oid == CN {
                        if let Some((_, _, v, _)) = tlv(value) {
                            out.push(v.to_vec());
                        }
                    }
                }
                atvs = r;
            }
            rdns = rest;
        }
        out
    }

    /// The certificate names some DNS name in a subjectAltName.
    pub(super) fn has_dns_san(cert: &[u8]) -> bool {
        const SAN: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x11];
        let Some((_, _, Some(mut exts))) = fields(cert) else {
            return false;
        };
        while let Some((_, _, ext, rest)) = tlv(exts) {
            if let Some((_, oid, _, mut r)) = tlv(ext) {
                if oid == SAN {
                    // an optional `critical` BOOLEAN, then the OCTET STRING
                    if let Some((0x01, _, _, after)) = tlv(r) {
                        r = after;
                    }
                    if let Some((_, _, octets, _)) = tlv(r) {
                        if let Some((_, _, mut names, _)) = tlv(octets) {
                            while let Some((tag, _, _, nr)) = tlv(names) {
                                if tag == 0x82 {
                                    return true;
                                }
                                names = nr;
                            }
                        }
                    }
                }
            }
            exts = rest;
        }
        false
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions: one per peer (nginx: ngx_http_upstream_save_round_robin_peer_session)

/// The peer a session belongs to: its upstream's name (nginx shares the implicit upstream
/// of a `proxy_pass` address between locations) and its address.
pub(crate) type PeerKey = (Vec<u8>, PeerAddr);

#[derive(Default)]
struct PeerSession {
    tls12: Option<(rustls::client::Tls12ClientSessionValue, Verdict)>,
    tls13: VecDeque<(rustls::client::Tls13ClientSessionValue, Verdict)>,
    kx: Option<rustls::NamedGroup>,
}

/// Every peer's saved session, shared by the worker threads (nginx keeps them in the
/// upstream's zone, or per worker without one).
static SESSIONS: Mutex<Option<HashMap<PeerKey, PeerSession>>> = Mutex::new(None);

fn with_sessions<T>(key: &PeerKey, f: impl FnOnce(&mut PeerSession) -> T) -> Option<T> {
    let mut g = SESSIONS.lock().ok()?;
    Some(f(g
        .get_or_insert_with(HashMap::new)
        .entry(key.clone())
        .or_default()))
}

/// Forgets every saved session (a new configuration is being made).
pub(crate) fn reset_sessions() {
    if let Ok(mut g) = SESSIONS.lock() {
        *g = None;
    }
}

/// Session slots for the peers of a configured upstream (an `upstream {}` block or the
/// address of a `proxy_pass` without variables), which a URL with variables naming the same
/// host and port shares (nginx: ngx_http_upstream_init_request's lookup).
pub(crate) fn register_peers(up: &super::upstream_rr::Upstream) {
    for p in up.primary.iter().chain(up.backup.iter()) {
        with_sessions(&(up.name.clone(), p.addr.clone()), |_| ());
    }
}

/// `key` is the peer of a configured upstream.
pub(crate) fn known_peer(key: &PeerKey) -> bool {
    SESSIONS
        .lock()
        .ok()
        .is_some_and(|g| g.as_ref().is_some_and(|m| m.contains_key(key)))
}

/// One handshake's view of its peer's session slot.
#[derive(Debug)]
struct PeerStore {
    key: PeerKey,
    /// This handshake's certificate check.
    outcome: Arc<Mutex<Outcome>>,
    /// The verification result of the session offered for resumption.
    offered: Mutex<Option<Verdict>>,
}

impl std::fmt::Debug for PeerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerSession")
    }
}

impl PeerStore {
    /// The verification result a session saved now carries: this handshake's check, or
    /// for a resumption the resumed session's.
    fn current(&self) -> Verdict {
        if let Ok(o) = self.outcome.lock() {
            if o.checked {
                return o.verdict;
            }
        }
        self.offered.lock().ok().and_then(|o| *o).flatten()
    }

    fn offer(&self, v: Verdict) {
        if let Ok(mut o) = self.offered.lock() {
            *o = Some(v);
        }
    }
}

impl ClientSessionStore for PeerStore {
    fn set_kx_hint(&self, _: ServerName<'static>, group: rustls::NamedGroup) {
        with_sessions(&self.key, |s| s.kx = Some(group));
    }

    fn kx_hint(&self, _: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        with_sessions(&self.key, |s| s.kx).flatten()
    }

    fn set_tls12_session(
        &self,
        _: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        let v = self.current();
        with_sessions(&self.key, |s| {
            s.tls12 = Some((value, v));
            s.tls13.clear();
        });
    }

    fn tls12_session(&self, _: &ServerName<'_>) -> Option<rustls::client::Tls12ClientSessionValue> {
        let (value, v) = with_sessions(&self.key, |s| s.tls12.clone()).flatten()?;
        self.offer(v);
        Some(value)
    }

    fn remove_tls12_session(&self, _: &ServerName<'static>) {
        with_sessions(&self.key, |s| s.tls12 = None);
    }

    fn insert_tls13_ticket(
        &self,
        _: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        let v = self.current();
        with_sessions(&self.key, |s| {
            s.tls12 = None;
            if s.tls13.len() >= 4 {
                s.tls13.pop_front();
            }
            s.tls13.push_back((value, v));
        });
    }

    fn take_tls13_ticket(
        &self,
        _: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        let (value, v) = with_sessions(&self.key, |s| s.tls13.pop_back()).flatten()?;
        self.offer(v);
        Some(value)
    }
}

// ---------------------------------------------------------------------------------------------
// The handshake

/// Why a handshake failed: the message to log (without the action) and its level, and
/// whether it was a timeout.
pub(crate) enum HsFail {
    Timeout,
    Error(Level, String),
    /// nginx finalizes the request with 500 (no next upstream), logging this (with the
    /// action "connecting to upstream").
    Internal(Option<String>),
}

/// nginx: ngx_http_upstream_ssl_name: the name (port stripped) and whether it goes out as
/// SNI.
fn ssl_name(r: &Request, s: &SslLevel, default_name: &[u8]) -> (String, bool) {
    let raw = match &s.name {
        Some(v) => r.eval(v),
        None => default_name.to_vec(),
    };
    let mut name = raw.as_slice();
    let from = if name.first() == Some(&b'[') {
        name.iter().position(|&c| c == b']').unwrap_or(0)
    } else {
        0
    };
    if let Some(i) = name[from..].iter().position(|&c| c == b':') {
        name = &name[..from + i];
    }
    let text = String::from_utf8_lossy(name).into_owned();
    let sni = s.server_name()
        && !text.is_empty()
        && !text.starts_with('[')
        && text.parse::<std::net::Ipv4Addr>().is_err();
    (text, sni)
}

/// OpenSSL's reason text of a TLS alert (ssl_err.c's SSL_R_SSLV3_ALERT_* / TLSV1_ALERT_*).
fn alert_text(a: rustls::AlertDescription) -> (u8, &'static str) {
    use rustls::AlertDescription as A;
    match a {
        A::CloseNotify => (0, "sslv3 alert close notify"),
        A::UnexpectedMessage => (10, "sslv3 alert unexpected message"),
        A::BadRecordMac => (20, "sslv3 alert bad record mac"),
        A::RecordOverflow => (22, "tlsv1 alert record overflow"),
        A::HandshakeFailure => (40, "sslv3 alert handshake failure"),
        A::BadCertificate => (42, "sslv3 alert bad certificate"),
        A::UnsupportedCertificate => (43, "sslv3 alert unsupported certificate"),
        A::CertificateRevoked => (44, "sslv3 alert certificate revoked"),
        A::CertificateExpired => (45, "sslv3 alert certificate expired"),
        A::CertificateUnknown => (46, "sslv3 alert certificate unknown"),
        A::IllegalParameter => (47, "sslv3 alert illegal parameter"),
        A::UnknownCA => (48, "tlsv1 alert unknown ca"),
        A::AccessDenied => (49, "tlsv1 alert access denied"),
        A::DecodeError => (50, "tlsv1 alert decode error"),
        A::DecryptError => (51, "tlsv1 alert decrypt error"),
        A::ProtocolVersion => (70, "tlsv1 alert protocol version"),
        A::InsufficientSecurity => (71, "tlsv1 alert insufficient security"),
        A::InternalError => (80, "tlsv1 alert internal error"),
        A::InappropriateFallback => (86, "tlsv1 alert inappropriate fallback"),
        A::UserCanceled => (90, "tlsv1 alert user cancelled"),
        A::MissingExtension => (109, "tlsv13 alert missing extension"),
        A::UnsupportedExtension => (110, "tlsv1 alert unsupported extension"),
        A::UnrecognisedName => (112, "tlsv1 unrecognized name"),
        A::CertificateRequired => (116, "tlsv13 alert certificate required"),
        A::NoApplicationProtocol => (120, "tlsv1 alert no application protocol"),
        other => (u8::from(other), "unknown alert type"),
    }
}

/// nginx: ngx_ssl_handshake's log line for a failed handshake.
fn failure_text(e: &std::io::Error) -> (Level, String) {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<TlsError>());
    match inner {
        Some(TlsError::AlertReceived(a)) => {
            let (n, text) = alert_text(*a);
            (
                Level::Error,
                format!(
                    "SSL_do_handshake() failed (SSL: error:0A{:06X}:SSL routines::{text}:SSL alert number {n})",
                    1000 + u32::from(n)
                ),
            )
        }
        Some(TlsError::InvalidMessage(_)) | Some(TlsError::InappropriateMessage { .. }) => (
            Level::Error,
            "SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number)"
                .into(),
        ),
        Some(other) => (
            Level::Crit,
            format!("SSL_do_handshake() failed (SSL: {other})"),
        ),
        None => match e.raw_os_error() {
            Some(code) => (
                Level::Error,
                format!(
                    "peer closed connection in SSL handshake ({code}: {})",
                    crate::log::errno_text(&std::io::Error::from_raw_os_error(code))
                        .split_once(": ")
                        .map_or(String::new(), |(_, t)| t.to_string())
                ),
            ),
            None => (
                Level::Error,
                "peer closed connection in SSL handshake".into(),
            ),
        },
    }
}

/// nginx: ngx_http_upstream_ssl_init_connection + ngx_http_upstream_ssl_handshake: TLS over
/// a new connection to a peer, then the checks `proxy_ssl_verify` asks for. `session`: the
/// peer whose saved session is offered and replaced (`None`: no session reuse).
pub(crate) async fn handshake(
    r: &Request,
    s: &SslLevel,
    stream: Stream,
    default_name: &[u8],
    peer: &PeerAddr,
    session: Option<PeerKey>,
    timeout: Duration,
) -> Result<Stream, HsFail> {
    let built = s.built.get_or_init(|| Arc::new(build(r, s))).clone();
    let Some(base) = &built.config else {
        return Err(HsFail::Internal(None));
    };
    let mut config = base.clone();
    let (name, sni) = if s.server_name() || s.verify() {
        ssl_name(r, s, default_name)
    } else {
        (String::new(), false)
    };
    let server_name: ServerName<'static> = match sni
        .then(|| rustls::pki_types::DnsName::try_from(name.clone()).ok())
        .flatten()
    {
        Some(dns) => ServerName::DnsName(dns),
        None => {
            config.enable_sni = false;
            let ip = match peer {
                PeerAddr::Inet(a) => a.ip(),
                PeerAddr::Unix(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            };
            ServerName::IpAddress(ip.into())
        }
    };
    // a client certificate with variables (nginx: ngx_http_upstream_ssl_certificate)
    let mut client = built.client.clone();
    if let (Some(c), Some(k)) = (&s.certificate, &s.certificate_key) {
        if !c.is_static() || !k.is_static() {
            let dir = conf_dir(r);
            let cp = crate::cycle::full_name(&dir, &r.eval(c));
            let kp = crate::cycle::full_name(&dir, &r.eval(k));
            match load_pair(&built.provider, &cp, &kp) {
                Ok(ck) => client = Some(ck),
                Err(e) => return Err(HsFail::Internal(Some(e))),
            }
        }
    }
    let outcome: Arc<Mutex<Outcome>> = Arc::default();
    let ctx = Arc::new(HsCtx {
        chain: built.chain.clone(),
        anchors: built.anchors.clone(),
        depth: built.depth,
        outcome: outcome.clone(),
        client,
        trusted: built.trusted.clone(),
    });
    let store = match session.filter(|_| s.session_reuse()) {
        Some(key) => {
            let st = Arc::new(PeerStore {
                key,
                outcome: outcome.clone(),
                offered: Mutex::new(None),
            });
            config.resumption = Resumption::store(st.clone());
            Some(st)
        }
        None => {
            config.resumption = Resumption::disabled();
            None
        }
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    // rustls asks the resolver already when it makes the ClientHello
    let inner = in_ctx(&ctx, || connector.connect(server_name, stream));
    let connect = WithCtx { ctx, inner };
    let tls = match tokio::time::timeout(timeout, connect).await {
        Err(_) => return Err(HsFail::Timeout),
        Ok(Err(e)) => {
            let (level, text) = failure_text(&e);
            return Err(HsFail::Error(level, text));
        }
        Ok(Ok(t)) => t,
    };
    if s.verify() {
        let checked = outcome.lock().map(|o| (o.checked, o.verdict)).ok();
        let verdict = match checked {
            Some((true, v)) => v,
            _ => store
                .as_ref()
                .and_then(|st| st.offered.lock().ok().and_then(|o| *o))
                .flatten(),
        };
        if let Some((code, text)) = verdict {
            return Err(HsFail::Error(
                Level::Error,
                format!("upstream SSL certificate verify error: ({code}:{text})"),
            ));
        }
        let leaf = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
        if !leaf.is_some_and(|c| host_matches(c, &name)) {
            return Err(HsFail::Error(
                Level::Error,
                format!("upstream SSL certificate does not match \"{name}\""),
            ));
        }
    }
    Ok(Stream::Tls(Box::new(tls)))
}
