//! The stream run time (nginx: ngx_stream_handler.c with the stream modules' phase
//! handlers): a session accepted on a `stream` listen runs `set`, `limit_conn`,
//! `allow`/`deny`, `ssl_preread`, then its content handler (`return`, or `proxy_pass` in
//! stream/proxy.rs), then the log phase; its error-log lines are nginx's (`*N client ...
//! connected to ...`, `proxy ... connected to ...`, `... disconnected, bytes from/to ...`).
//!
//! Not served yet, and named in an `[error]` line at start instead of being dropped
//! silently: `ssl` listens.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parser::Directive;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::cycle::ListenAddr;
use crate::http::access::Rule;
use crate::http::lower::{Escape, LogFormat};
use crate::http::map::MapRt;
use crate::http::upstream_rr::{children, Upstream};
use crate::http::variables::{parse_complex_value, ComplexValue, Part};
use crate::log::Level;

/// The `stream` block at run time.
#[derive(Default)]
pub(crate) struct StreamConf {
    pub(crate) listens: Vec<Listen>,
    pub(super) servers: Vec<Server>,
    /// `map`, `geo` and `split_clients` variables, by name.
    pub(super) lazies: HashMap<Vec<u8>, Lazy>,
    pub(super) upstreams: HashMap<Vec<u8>, Arc<Upstream>>,
    /// `limit_conn_zone`s, by name.
    pub(super) zones: HashMap<Vec<u8>, crate::http::limit_req::Zone>,
    /// Every access log file the block writes (opened with http's).
    pub(crate) log_paths: Vec<PathBuf>,
}

/// A variable computed when first read.
pub(super) enum Lazy {
    Map(MapRt),
    Geo(crate::http::geo::GeoRt),
    Split(crate::http::split_clients::SplitRt),
}

/// One served `listen` (nginx: ngx_stream_listen_t).
pub(crate) struct Listen {
    pub(crate) addr: ListenAddr,
    /// As nginx prints it (`0.0.0.0:1234`, `unix:/run/x.sock`).
    pub(crate) text: String,
    pub(crate) backlog: i32,
    server: usize,
    /// `proxy_protocol`: a PROXY header comes first.
    proxy_protocol: bool,
    pub(crate) udp: bool,
}

/// A `server {}` of the stream block, merged with the block's values.
pub(super) struct Server {
    pub(super) content: Content,
    /// A `resolver` is configured (names in `proxy_pass` values need one).
    pub(super) resolver: bool,
    /// `ssl_preread on`, `preread_timeout`, `preread_buffer_size`.
    pub(super) preread: Option<(Duration, usize)>,
    pub(super) limit_conn: LimitConn,
    pub(super) proxy_protocol_timeout: Duration,
    /// `set_real_ip_from` (nginx: ngx_stream_realip_srv_conf_t).
    pub(super) real_ip_from: Vec<RealIpFrom>,
    pub(super) access: Vec<Rule>,
    pub(super) sets: Vec<(Vec<u8>, ComplexValue)>,
    pub(super) proxy: ProxyConf,
    /// `access_log` (empty: off, nginx's stream default).
    pub(super) logs: Vec<(PathBuf, Arc<LogFormat>)>,
}

/// The content handler (nginx: `cscf->handler`).
pub(super) enum Content {
    None,
    Return(ComplexValue),
    Proxy(Pass),
}

/// Where `proxy_pass` goes.
pub(super) enum Pass {
    /// An `upstream` block or the implicit upstream of a literal address.
    Upstream(Arc<Upstream>),
    /// A value with variables, looked up at run time (nginx: `pscf->upstream_value`).
    Value(ComplexValue),
}

/// The `proxy_*` values the run time uses (nginx: ngx_stream_proxy_srv_conf_t).
#[derive(Clone)]
pub(super) struct ProxyConf {
    pub(super) connect_timeout: Duration,
    pub(super) timeout: Duration,
    pub(super) next_upstream: bool,
    pub(super) next_upstream_tries: usize,
    pub(super) next_upstream_timeout: Duration,
    pub(super) proxy_protocol: bool,
    pub(super) half_close: bool,
    pub(super) buffer_size: usize,
    /// `proxy_responses` (`None`: unset, the session ends on its timeout).
    pub(super) responses: Option<u64>,
    /// `proxy_requests` (0: unset).
    pub(super) requests: u64,
    /// `proxy_bind address [transparent]` (`None`: off).
    pub(super) bind: Option<(ComplexValue, bool)>,
    /// `proxy_upload_rate`, `proxy_download_rate` (bytes per second; 0: no limit).
    pub(super) upload_rate: Option<ComplexValue>,
    pub(super) download_rate: Option<ComplexValue>,
    pub(super) socket_keepalive: bool,
}

impl Default for ProxyConf {
    /// nginx: ngx_stream_proxy_merge_srv_conf's defaults.
    fn default() -> Self {
        ProxyConf {
            connect_timeout: Duration::from_secs(60),
            timeout: Duration::from_secs(600),
            next_upstream: true,
            next_upstream_tries: 0,
            next_upstream_timeout: Duration::ZERO,
            proxy_protocol: false,
            half_close: false,
            buffer_size: 16384,
            responses: None,
            requests: 0,
            bind: None,
            upload_rate: None,
            download_rate: None,
            socket_keepalive: false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lowering: the checked `stream` block to its run time.

fn arg(d: &Directive, i: usize) -> &[u8] {
    d.args.get(i).map(Vec::as_slice).unwrap_or_default()
}

fn msec(v: &[u8]) -> Option<Duration> {
    crate::conf::values::parse_time(v, false)
        .and_then(|n| u64::try_from(n).ok())
        .map(Duration::from_millis)
}

/// The values a level sets; a server's are merged over the block's.
#[derive(Default, Clone)]
struct Level0 {
    connect_timeout: Option<Duration>,
    timeout: Option<Duration>,
    next_upstream: Option<bool>,
    next_upstream_tries: Option<usize>,
    next_upstream_timeout: Option<Duration>,
    proxy_protocol: Option<bool>,
    half_close: Option<bool>,
    buffer_size: Option<usize>,
    responses: Option<u64>,
    requests: Option<u64>,
    bind: Option<Option<(ComplexValue, bool)>>,
    upload_rate: Option<ComplexValue>,
    download_rate: Option<ComplexValue>,
    socket_keepalive: Option<bool>,
    access: Option<Vec<Rule>>,
    logs: Option<Vec<(PathBuf, Arc<LogFormat>)>>,
    resolver: Option<bool>,
    ssl_preread: Option<bool>,
    preread_timeout: Option<Duration>,
    preread_buffer_size: Option<usize>,
    limit_conns: Option<Vec<(Vec<u8>, u64)>>,
    limit_conn_log_level: Option<Level>,
    limit_conn_dry_run: Option<bool>,
    proxy_protocol_timeout: Option<Duration>,
    real_ip_from: Option<Vec<RealIpFrom>>,
}

/// A trusted source of PROXY headers.
#[derive(Clone)]
pub(super) enum RealIpFrom {
    Net(crate::http::geo::Cidr),
    Unix,
}

/// `limit_conn` and its companions (nginx: ngx_stream_limit_conn_conf_t).
#[derive(Default)]
pub(super) struct LimitConn {
    limits: Vec<(Vec<u8>, u64)>,
    log_level: Option<Level>,
    dry_run: bool,
}

impl Level0 {
    fn apply(
        &mut self,
        d: &Directive,
        prefix: &std::path::Path,
        formats: &HashMap<Vec<u8>, Arc<LogFormat>>,
    ) {
        let flag = |d: &Directive| arg(d, 0) == b"on";
        match d.name.as_slice() {
            b"proxy_connect_timeout" => self.connect_timeout = msec(arg(d, 0)),
            b"proxy_timeout" => self.timeout = msec(arg(d, 0)),
            b"proxy_next_upstream" => self.next_upstream = Some(flag(d)),
            b"proxy_next_upstream_tries" => {
                self.next_upstream_tries =
                    crate::conf::values::atoi(arg(d, 0)).and_then(|n| usize::try_from(n).ok())
            }
            b"proxy_next_upstream_timeout" => self.next_upstream_timeout = msec(arg(d, 0)),
            b"proxy_protocol" => self.proxy_protocol = Some(flag(d)),
            b"proxy_half_close" => self.half_close = Some(flag(d)),
            b"proxy_bind" => {
                self.bind = Some(
                    (arg(d, 0) != b"off").then(|| (cv(arg(d, 0)), arg(d, 1) == b"transparent")),
                )
            }
            b"proxy_upload_rate" => self.upload_rate = Some(cv(arg(d, 0))),
            b"proxy_download_rate" => self.download_rate = Some(cv(arg(d, 0))),
            b"proxy_socket_keepalive" => self.socket_keepalive = Some(flag(d)),
            b"proxy_responses" => {
                self.responses =
                    crate::conf::values::atoi(arg(d, 0)).and_then(|n| u64::try_from(n).ok())
            }
            b"proxy_requests" => {
                self.requests =
                    crate::conf::values::atoi(arg(d, 0)).and_then(|n| u64::try_from(n).ok())
            }
            b"proxy_buffer_size" => {
                self.buffer_size =
                    crate::conf::values::parse_size(arg(d, 0)).and_then(|n| usize::try_from(n).ok())
            }
            b"resolver" => self.resolver = Some(true),
            b"ssl_preread" => self.ssl_preread = Some(flag(d)),
            b"limit_conn" => {
                let n = crate::conf::values::atoi(arg(d, 1))
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(1);
                self.limit_conns
                    .get_or_insert_with(Vec::new)
                    .push((arg(d, 0).to_vec(), n));
            }
            b"limit_conn_log_level" => {
                self.limit_conn_log_level = Some(crate::http::limit_req::log_level(arg(d, 0)))
            }
            b"limit_conn_dry_run" => self.limit_conn_dry_run = Some(flag(d)),
            b"proxy_protocol_timeout" => self.proxy_protocol_timeout = msec(arg(d, 0)),
            b"set_real_ip_from" => {
                let from = if arg(d, 0) == b"unix:" {
                    Some(RealIpFrom::Unix)
                } else {
                    crate::http::geo::ptocidr(arg(d, 0))
                        .ok()
                        .map(|(c, _)| RealIpFrom::Net(c))
                };
                if let Some(f) = from {
                    self.real_ip_from.get_or_insert_with(Vec::new).push(f);
                }
            }
            b"preread_timeout" => self.preread_timeout = msec(arg(d, 0)),
            b"preread_buffer_size" => {
                self.preread_buffer_size =
                    crate::conf::values::parse_size(arg(d, 0)).and_then(|n| usize::try_from(n).ok())
            }
            b"allow" | b"deny" => {
                crate::http::access::lower_rule(self.access.get_or_insert_with(Vec::new), d)
            }
            b"access_log" => {
                let logs = self.logs.get_or_insert_with(Vec::new);
                let path = arg(d, 0);
                if path != b"off" && !path.starts_with(b"syslog:") {
                    if let Some(f) = formats.get(arg(d, 1)) {
                        logs.push((crate::cycle::full_name(prefix, path), f.clone()));
                    }
                }
            }
            _ => {}
        }
    }

    /// nginx: the stream modules' merge_srv_conf: unset takes the block's value.
    fn merge(mut self, parent: &Level0) -> Level0 {
        macro_rules! inherit {
            ($($f:ident),*) => { $( if self.$f.is_none() { self.$f = parent.$f.clone(); } )* };
        }
        inherit!(
            connect_timeout,
            timeout,
            next_upstream,
            next_upstream_tries,
            next_upstream_timeout,
            proxy_protocol,
            half_close,
            buffer_size,
            responses,
            requests,
            bind,
            upload_rate,
            download_rate,
            socket_keepalive,
            access,
            logs,
            resolver,
            ssl_preread,
            preread_timeout,
            preread_buffer_size,
            limit_conns,
            limit_conn_log_level,
            limit_conn_dry_run,
            proxy_protocol_timeout,
            real_ip_from
        );
        self
    }

    fn proxy(&self) -> ProxyConf {
        let d = ProxyConf::default();
        ProxyConf {
            connect_timeout: self.connect_timeout.unwrap_or(d.connect_timeout),
            timeout: self.timeout.unwrap_or(d.timeout),
            next_upstream: self.next_upstream.unwrap_or(d.next_upstream),
            next_upstream_tries: self.next_upstream_tries.unwrap_or(d.next_upstream_tries),
            next_upstream_timeout: self
                .next_upstream_timeout
                .unwrap_or(d.next_upstream_timeout),
            proxy_protocol: self.proxy_protocol.unwrap_or(d.proxy_protocol),
            half_close: self.half_close.unwrap_or(d.half_close),
            buffer_size: self.buffer_size.unwrap_or(d.buffer_size).max(1),
            responses: self.responses,
            requests: self.requests.unwrap_or(0),
            bind: self.bind.clone().flatten(),
            upload_rate: self.upload_rate.clone(),
            download_rate: self.download_rate.clone(),
            socket_keepalive: self.socket_keepalive.unwrap_or(false),
        }
    }
}

/// A `log_format` of the stream block (the http syntax; no default `combined`).
fn log_format(d: &Directive) -> (Vec<u8>, Arc<LogFormat>) {
    let mut escape = Escape::Default;
    let mut rest = d.args.iter().skip(1).peekable();
    if let Some(e) = rest.peek().and_then(|a| a.strip_prefix(b"escape=")) {
        escape = match e {
            b"json" => Escape::Json,
            b"none" => Escape::None,
            _ => Escape::Default,
        };
        rest.next();
    }
    let text: Vec<u8> = rest.flat_map(|a| a.iter().copied()).collect();
    let parts = parse_complex_value(&text).unwrap_or_default().parts;
    (arg(d, 0).to_vec(), Arc::new(LogFormat { parts, escape }))
}

/// The stream block of a checked configuration at run time; `unserved` gets an error text
/// for each part oxresty has no run time for yet (`ssl` listens;
/// the stream Lua handlers).
pub(crate) fn lower(
    stream: &Directive,
    prefix: &std::path::Path,
    files: &[parser::SourceFile],
    unserved: &mut Vec<String>,
) -> StreamConf {
    lua_handlers(stream, files, unserved);
    let mut conf = StreamConf::default();
    let mut formats = HashMap::new();
    let mut main = Level0::default();
    for d in children(stream) {
        match d.name.as_slice() {
            b"log_format" => {
                let (name, f) = log_format(d);
                formats.entry(name).or_insert(f);
            }
            b"limit_conn_zone" => {
                let tag = crate::http::limit_conn::TAG;
                if let Some(z) = crate::http::limit_req::zone_of(d, tag, false) {
                    conf.zones.insert(z.name.clone(), z);
                }
            }
            b"upstream" => {
                let up = crate::http::upstream_rr::lower_block(d);
                conf.upstreams.insert(arg(d, 0).to_vec(), Arc::new(up));
            }
            b"map" => {
                if let Some((name, m)) = crate::http::map::lower(d) {
                    conf.lazies.insert(name.to_ascii_lowercase(), Lazy::Map(m));
                }
            }
            b"geo" => {
                if let Some((name, g)) = crate::http::geo::lower(d) {
                    conf.lazies.insert(name.to_ascii_lowercase(), Lazy::Geo(g));
                }
            }
            b"split_clients" => {
                if let Some((name, sc)) = crate::http::split_clients::lower(d) {
                    conf.lazies
                        .insert(name.to_ascii_lowercase(), Lazy::Split(sc));
                }
            }
            _ => {}
        }
    }
    for d in children(stream) {
        main.apply(d, prefix, &formats);
    }
    for s in children(stream).iter().filter(|d| d.name == b"server") {
        let mut lv = Level0::default();
        let mut content = Content::None;
        let mut sets = Vec::new();
        let index = conf.servers.len();
        for d in children(s) {
            lv.apply(d, prefix, &formats);
            match d.name.as_slice() {
                b"return" => content = Content::Return(cv(arg(d, 0))),
                b"proxy_pass" => content = Content::Proxy(pass(&conf, arg(d, 0))),
                b"set" => {
                    if let Some(name) = arg(d, 0).strip_prefix(b"$") {
                        sets.push((name.to_ascii_lowercase(), cv(arg(d, 1))));
                    }
                }
                b"listen" => listen(&mut conf, d, index, unserved),
                _ => {}
            }
        }
        let lv = lv.merge(&main);
        for (p, _) in lv.logs.iter().flatten() {
            if !conf.log_paths.contains(p) {
                conf.log_paths.push(p.clone());
            }
        }
        conf.servers.push(Server {
            content,
            resolver: lv.resolver.unwrap_or(false),
            proxy_protocol_timeout: lv.proxy_protocol_timeout.unwrap_or(Duration::from_secs(30)),
            real_ip_from: lv.real_ip_from.clone().unwrap_or_default(),
            limit_conn: LimitConn {
                limits: lv.limit_conns.clone().unwrap_or_default(),
                log_level: lv.limit_conn_log_level,
                dry_run: lv.limit_conn_dry_run.unwrap_or(false),
            },
            preread: lv.ssl_preread.unwrap_or(false).then(|| {
                (
                    lv.preread_timeout.unwrap_or(Duration::from_secs(30)),
                    lv.preread_buffer_size.unwrap_or(16384).max(1),
                )
            }),
            access: lv.access.clone().unwrap_or_default(),
            sets,
            proxy: lv.proxy(),
            logs: lv.logs.clone().unwrap_or_default(),
        });
    }
    conf
}

/// The stream Lua module's handlers, which have no run time yet: each is named.
/// `proxy_ssl on` (TLS to stream upstreams) has none either.
fn lua_handlers(d: &Directive, files: &[parser::SourceFile], out: &mut Vec<String>) {
    for c in children(d) {
        let at = || {
            files
                .get(c.file)
                .map(|f| format!("{}:{}", f.path.display(), c.line))
                .unwrap_or_default()
        };
        if c.name.windows(7).any(|w| w == b"_by_lua") {
            out.push(format!(
                "stream \"{}\" in {} is not run: oxresty has no stream Lua run time yet",
                String::from_utf8_lossy(&c.name),
                at()
            ));
        }
        if c.name == b"proxy_ssl" && arg(c, 0) == b"on" {
            out.push(format!(
                "stream \"proxy_ssl on\" in {} is not run: oxresty has no TLS to stream upstreams yet",
                at()
            ));
        }
        lua_handlers(c, files, out);
    }
}

fn cv(s: &[u8]) -> ComplexValue {
    parse_complex_value(s).unwrap_or_default()
}

/// nginx: ngx_stream_proxy_pass: an upstream name, an address, or a value with variables.
fn pass(conf: &StreamConf, v: &[u8]) -> Pass {
    let value = cv(v);
    if !value.is_static() {
        return Pass::Value(value);
    }
    if let Some(up) = conf.upstreams.get(v) {
        return Pass::Upstream(up.clone());
    }
    Pass::Upstream(Arc::new(crate::http::upstream_rr::implicit(v, v, 0)))
}

/// The addresses of a checked `listen`.
fn listen(conf: &mut StreamConf, d: &Directive, server: usize, unserved: &mut Vec<String>) {
    let opts = crate::http::upstream::UrlOpts {
        listen: true,
        ..Default::default()
    };
    let Ok(u) = crate::http::upstream::parse_url(arg(d, 0), opts) else {
        return;
    };
    let params = &d.args[1..];
    let proxy_protocol = params.iter().any(|p| p == b"proxy_protocol");
    let udp = params.iter().any(|p| p == b"udp");
    if params.iter().any(|p| p == b"ssl") {
        unserved.push(format!(
            "stream server \"listen {}\" is not served: oxresty has no run time for its ssl listens yet",
            String::from_utf8_lossy(arg(d, 0))
        ));
        return;
    }
    let backlog = params
        .iter()
        .find_map(|p| p.strip_prefix(b"backlog="))
        .and_then(crate::conf::values::atoi)
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(511);
    for a in &u.addrs {
        conf.listens.push(Listen {
            addr: ListenAddr::Inet(*a),
            text: a.to_string(),
            backlog,
            server,
            proxy_protocol,
            udp,
        });
    }
    if let Some(p) = &u.unix {
        use std::os::unix::ffi::OsStrExt;
        conf.listens.push(Listen {
            addr: ListenAddr::Unix(PathBuf::from(std::ffi::OsStr::from_bytes(p))),
            text: format!("unix:{}", String::from_utf8_lossy(p)),
            backlog,
            server,
            proxy_protocol,
            udp,
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions

/// Sessions of one worker, for a graceful stop (nginx keeps proxied sessions running).
#[derive(Default)]
pub(crate) struct Sessions {
    live: Cell<usize>,
    idle: tokio::sync::Notify,
}

impl Sessions {
    /// Waits until no session of this worker is left.
    pub(crate) async fn drain(&self) {
        while self.live.get() > 0 {
            self.idle.notified().await;
        }
    }
}

struct SessionGuard(Rc<Sessions>);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.live.set(self.0.live.get().saturating_sub(1));
        if self.0.live.get() == 0 {
            self.0.idle.notify_waiters();
        }
    }
}

/// The subject of the last regex match and its capture offsets.
pub(super) type Captures = crate::http::request::Captures;

/// One client connection (nginx: ngx_stream_session_t).
pub(super) struct Session<'a> {
    pub(super) conf: &'a StreamConf,
    pub(super) server: &'a Server,
    pub(super) listen: &'a Listen,
    pub(super) id: u64,
    pub(super) remote: Option<SocketAddr>,
    pub(super) local: Option<SocketAddr>,
    /// A `udp` listen's session.
    pub(super) udp: bool,
    pub(super) start: Instant,
    pub(super) status: Cell<u16>,
    /// Bytes from and to the client (nginx: `s->received`, `c->sent`).
    pub(super) received: Cell<u64>,
    pub(super) sent: Cell<u64>,
    pub(super) vars: RefCell<HashMap<Vec<u8>, Vec<u8>>>,
    pub(super) captures: RefCell<Option<Captures>>,
    pub(super) upstream: RefCell<UpstreamState>,
    /// The PROXY header's addresses.
    pub(super) proxy: Option<crate::http::proxy_protocol::ProxyProtocol>,
    /// The connection's own client address when realip replaced `remote`.
    pub(super) realip: Option<Option<SocketAddr>>,
    /// `$limit_conn_status`.
    pub(super) limit_status: Cell<Option<&'static str>>,
    /// `ssl_preread`'s findings (`None`: not run, or not a ClientHello).
    pub(super) hello: RefCell<Option<super::ssl_preread::Hello>>,
}

/// What `$upstream_*` read, one entry per peer tried.
#[derive(Default)]
pub(super) struct UpstreamState {
    pub(super) tries: Vec<Tried>,
}

pub(super) struct Tried {
    pub(super) addr: String,
    pub(super) connect: Option<Duration>,
    pub(super) first_byte: Option<Duration>,
    pub(super) session: Option<Duration>,
    pub(super) sent: u64,
    pub(super) received: u64,
}

impl<'a> Session<'a> {
    /// A session just accepted (nginx: ngx_stream_init_connection's session fields).
    fn new(
        conf: &'a StreamConf,
        server: &'a Server,
        listen: &'a Listen,
        id: u64,
        remote: Option<SocketAddr>,
        local: Option<SocketAddr>,
        udp: bool,
    ) -> Session<'a> {
        Session {
            conf,
            server,
            listen,
            id,
            remote,
            local,
            udp,
            proxy: None,
            realip: None,
            start: Instant::now(),
            status: Cell::new(200),
            received: Cell::new(0),
            sent: Cell::new(0),
            vars: RefCell::new(HashMap::new()),
            captures: RefCell::new(None),
            upstream: RefCell::new(UpstreamState::default()),
            hello: RefCell::new(None),
            limit_status: Cell::new(None),
        }
    }

    /// `*N msg while ACTION, client: A, server: L` (nginx: ngx_stream_log_error).
    pub(super) fn context(&self, msg: &str, action: Option<&str>) -> String {
        let mut s = format!("*{} {msg}", self.id);
        if let Some(a) = action {
            s.push_str(" while ");
            s.push_str(a);
        }
        let client = self
            .remote
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| "unix:".into());
        let udp = if self.udp { "udp " } else { "" };
        s.push_str(&format!(
            ", {udp}client: {client}, server: {}",
            self.listen.text
        ));
        s
    }

    pub(super) fn eval(&self, v: &ComplexValue) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &v.parts {
            match p {
                Part::Lit(l) => out.extend_from_slice(l),
                Part::Var(name) => {
                    if let Some(val) = self.variable(name) {
                        out.extend_from_slice(&val);
                    }
                }
                Part::Capture(n) => {
                    let caps = self.captures.borrow();
                    if let Some((subject, offsets)) = caps.as_ref() {
                        if let Some(Some((s, e))) = offsets.get(usize::from(*n)) {
                            out.extend_from_slice(subject.get(*s..*e).unwrap_or_default());
                        }
                    }
                }
            }
        }
        out
    }

    /// nginx: ngx_stream_get_variable: `set` values, maps, then the built-ins.
    fn variable(&self, name: &[u8]) -> Option<Vec<u8>> {
        let key = name.to_ascii_lowercase();
        if let Some(v) = self.vars.borrow().get(&key) {
            return Some(v.clone());
        }
        if let Some(lazy) = self.conf.lazies.get(&key) {
            let (v, keep) = match lazy {
                Lazy::Map(m) => (m.value(self), !m.volatile),
                Lazy::Geo(g) => (
                    g.value_stream(self.remote.map(|a| a.ip()), |n| self.variable(n)),
                    true,
                ),
                Lazy::Split(sc) => (sc.value_with(|cv| self.eval(cv)), true),
            };
            if keep {
                self.vars.borrow_mut().insert(key, v.clone());
            }
            return Some(v);
        }
        self.builtin(&key)
    }

    /// nginx: ngx_stream_core_variables and ngx_stream_upstream_vars.
    fn builtin(&self, name: &[u8]) -> Option<Vec<u8>> {
        let s = |v: String| Some(v.into_bytes());
        let ms = |d: Duration| format!("{}.{:03}", d.as_secs(), d.subsec_millis());
        match name {
            b"remote_addr" => s(self
                .remote
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|| "unix:".into())),
            b"remote_port" => s(self
                .remote
                .map(|a| a.port().to_string())
                .unwrap_or_default()),
            b"binary_remote_addr" => Some(match self.remote.map(|a| a.ip()) {
                Some(std::net::IpAddr::V4(v4)) => v4.octets().to_vec(),
                Some(std::net::IpAddr::V6(v6)) => v6.octets().to_vec(),
                None => Vec::new(),
            }),
            b"server_addr" => s(self
                .local
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|| "unix:".into())),
            b"server_port" => s(self.local.map(|a| a.port().to_string()).unwrap_or_default()),
            b"bytes_sent" => s(self.sent.get().to_string()),
            b"bytes_received" => s(self.received.get().to_string()),
            b"session_time" => s(ms(self.start.elapsed())),
            b"status" => s(format!("{:03}", self.status.get())),
            b"connection" => s(self.id.to_string()),
            b"nginx_version" => s("1.22.1".to_string()),
            b"hostname" => Some(crate::http::vars_runtime::hostname()),
            b"pid" => s(std::process::id().to_string()),
            b"msec" => s(crate::log::msec()),
            b"time_iso8601" => s(crate::log::time_iso8601()),
            b"time_local" => s(crate::log::time_local()),
            b"protocol" => s(if self.udp { "UDP" } else { "TCP" }.into()),
            b"proxy_protocol_addr" => self.proxy.as_ref().map(|p| p.src_addr.clone().into_bytes()),
            b"proxy_protocol_port" => self
                .proxy
                .as_ref()
                .map(|p| p.src_port.to_string().into_bytes()),
            b"proxy_protocol_server_addr" => {
                self.proxy.as_ref().map(|p| p.dst_addr.clone().into_bytes())
            }
            b"proxy_protocol_server_port" => self
                .proxy
                .as_ref()
                .map(|p| p.dst_port.to_string().into_bytes()),
            b"realip_remote_addr" => s(self
                .realip
                .unwrap_or(self.remote)
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|| "unix:".into())),
            b"realip_remote_port" => s(self
                .realip
                .unwrap_or(self.remote)
                .map(|a| a.port().to_string())
                .unwrap_or_default()),
            b"limit_conn_status" => self.limit_status.get().map(|v| v.as_bytes().to_vec()),
            b"ssl_preread_protocol" => self
                .hello
                .borrow()
                .as_ref()
                .map(|h| super::ssl_preread::protocol(h).as_bytes().to_vec()),
            b"ssl_preread_server_name" => self.hello.borrow().as_ref().map(|h| h.host.clone()),
            b"ssl_preread_alpn_protocols" => self.hello.borrow().as_ref().map(|h| h.alpn.clone()),
            b"upstream_addr" => self.upstream_list(|t| Some(t.addr.clone())),
            b"upstream_bytes_sent" => self.upstream_list(|t| Some(t.sent.to_string())),
            b"upstream_bytes_received" => self.upstream_list(|t| Some(t.received.to_string())),
            b"upstream_connect_time" => self.upstream_list(|t| t.connect.map(ms)),
            b"upstream_first_byte_time" => self.upstream_list(|t| t.first_byte.map(ms)),
            b"upstream_session_time" => self.upstream_list(|t| t.session.map(ms)),
            _ => None,
        }
    }

    /// nginx: ngx_stream_upstream_addr_variable and friends: one value per peer tried,
    /// `-` where a value is unknown, joined by `, `.
    fn upstream_list(&self, f: impl Fn(&Tried) -> Option<String>) -> Option<Vec<u8>> {
        let u = self.upstream.borrow();
        if u.tries.is_empty() {
            return None;
        }
        let parts: Vec<String> = u
            .tries
            .iter()
            .map(|t| f(t).unwrap_or_else(|| "-".into()))
            .collect();
        Some(parts.join(", ").into_bytes())
    }
}

impl crate::http::map::MapScope for Session<'_> {
    fn eval(&self, v: &ComplexValue) -> Vec<u8> {
        Session::eval(self, v)
    }
    fn regex_match(&self, re: &crate::regex::Regex, subject: &[u8]) -> bool {
        let Some(caps) = crate::http::request::regex_exec(re, subject) else {
            return false;
        };
        *self.captures.borrow_mut() = Some(caps);
        true
    }
}

pub(super) fn info(text: &str) {
    crate::http::errlog::write(Level::Info, text);
}

/// Serves one accepted connection on `conf.listens[li]` (nginx: ngx_stream_init_connection,
/// then the phases, then ngx_stream_finalize_session).
pub(crate) async fn session<S>(
    conf: Arc<StreamConf>,
    li: usize,
    mut io: S,
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,
    sessions: Rc<Sessions>,
) where
    S: AsyncRead + AsyncWrite + Unpin + crate::http::proxy_protocol::Peek,
{
    sessions.live.set(sessions.live.get() + 1);
    let _guard = SessionGuard(sessions);
    let (Some(listen), id) = (conf.listens.get(li), crate::worker::next_conn_id()) else {
        return;
    };
    let Some(server) = conf.servers.get(listen.server) else {
        return;
    };
    let client = remote.map_or_else(|| "unix:".to_string(), |a| a.to_string());
    info(&format!(
        "*{id} client {client} connected to {}",
        listen.text
    ));
    // nginx: ngx_stream_proxy_protocol_handler, then the post-accept phase's realip
    let mut pp_read = None;
    let mut early_status = None;
    if listen.proxy_protocol {
        use crate::http::proxy_protocol::{read, Outcome};
        match read(&mut io, true, 0, server.proxy_protocol_timeout).await {
            Outcome::Read(pp) => pp_read = pp,
            Outcome::Close(line) => {
                let client = remote.map_or_else(|| "unix:".into(), |a| a.ip().to_string());
                let status = match &line {
                    Some((Level::Error, _)) | None => 400,
                    Some(_) => 200,
                };
                if let Some((level, msg)) = line {
                    crate::http::errlog::write(
                        level,
                        &format!(
                            "*{id} {msg} while reading PROXY protocol, client: {client}, server: {}",
                            listen.text
                        ),
                    );
                }
                early_status = Some(status);
            }
        }
    }
    let mut realip = None;
    let mut remote = remote;
    if let Some(pp) = &pp_read {
        let trusted = server.real_ip_from.iter().any(|f| match (f, remote) {
            (RealIpFrom::Unix, None) => true,
            (RealIpFrom::Net(c), Some(a)) => crate::http::geo::cidr_match(&a.ip(), c),
            _ => false,
        });
        if let (true, Ok(ip)) = (trusted, pp.src_addr.parse::<std::net::IpAddr>()) {
            realip = Some(remote);
            remote = Some(SocketAddr::new(ip, pp.src_port));
        }
    }
    let s = Session {
        proxy: pp_read,
        realip,
        ..Session::new(&conf, server, listen, id, remote, local, false)
    };
    if let Some(status) = early_status {
        s.status.set(status);
        log_phase(&s);
        return;
    }
    let mut counted = Vec::new();
    if !before_content(&s, &mut counted) {
        log_phase(&s);
        return;
    }
    {
        let mut io = io;
        // nginx: the preread phase (ngx_stream_core_preread_phase with ssl_preread's handler)
        let mut prebuf = Vec::new();
        if let Some((timeout, size)) = server.preread {
            if !preread(&s, &mut io, &mut prebuf, timeout, size).await {
                log_phase(&s);
                return;
            }
        }
        match &server.content {
            Content::None => s.status.set(500),
            Content::Return(v) => {
                // nginx: ngx_stream_return_handler
                let text = s.eval(v);
                if !text.is_empty() {
                    match io.write_all(&text).await {
                        Ok(()) => s.sent.set(text.len() as u64),
                        Err(_) => s.status.set(500),
                    }
                }
                let _ = io.shutdown().await;
            }
            Content::Proxy(p) => super::proxy::proxy(&s, p, io, prebuf).await,
        }
    }
    log_phase(&s);
}

/// The preaccess and access phases: `set`, `limit_conn` (its counts, held until the session
/// ends, go to `counted`), `allow`/`deny`; false ends the session with its status.
fn before_content(s: &Session<'_>, counted: &mut Vec<crate::http::limit_conn::Counted>) -> bool {
    // nginx: the preaccess phase's `set` (ngx_stream_set_module)
    for (name, value) in &s.server.sets {
        let v = s.eval(value);
        s.vars.borrow_mut().insert(name.clone(), v);
    }
    // nginx: ngx_stream_limit_conn_handler
    if !limit_conn(s, counted) {
        s.status.set(503);
        return false;
    }
    // nginx: ngx_stream_access_handler
    let deny = crate::http::access::first_match(&s.server.access, s.remote.map(|a| a.ip()));
    if deny == Some(true) {
        crate::http::errlog::write(
            Level::Error,
            &s.context("access forbidden by rule", Some("initializing session")),
        );
        s.status.set(403);
        return false;
    }
    true
}

/// Reads the client's first bytes until `ssl_preread` has the ClientHello, the client
/// stops sending, or `preread_timeout` passes; false ends the session (a full buffer: 400).
async fn preread<S: AsyncRead + Unpin>(
    s: &Session<'_>,
    io: &mut S,
    buf: &mut Vec<u8>,
    timeout: Duration,
    size: usize,
) -> bool {
    use super::ssl_preread::{parse, Preread};
    let deadline = tokio::time::Instant::now() + timeout;
    let mut chunk = vec![0u8; size];
    loop {
        let seen = match parse(buf) {
            Preread::Done(h) => {
                *s.hello.borrow_mut() = Some(h);
                return true;
            }
            Preread::Declined => {
                *s.hello.borrow_mut() = None;
                return true;
            }
            Preread::Again(h) => h,
        };
        // Whatever was parsed stays readable if the wait ends here.
        *s.hello.borrow_mut() = Some(seen);
        if buf.len() >= size {
            crate::http::errlog::write(
                Level::Error,
                &s.context("preread buffer full", Some("prereading client data")),
            );
            s.status.set(400);
            return false;
        }
        let room = size - buf.len();
        match tokio::time::timeout_at(deadline, io.read(&mut chunk[..room])).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            // EOF, an error or the timeout: on to the content handler.
            _ => return true,
        }
    }
}

/// nginx: ngx_stream_limit_conn_handler; false refuses the session (503).
fn limit_conn(s: &Session<'_>, counted: &mut Vec<crate::http::limit_conn::Counted>) -> bool {
    use crate::http::limit_conn::{over_text, take, Take};
    let lc = &s.server.limit_conn;
    for (zone, n) in &lc.limits {
        let Some(z) = s.conf.zones.get(zone) else {
            continue;
        };
        let key = s.eval(&z.key);
        if key.is_empty() {
            continue;
        }
        if key.len() > 255 {
            let text = format!(
                "the value of the \"{}\" key is more than 255 bytes: \"{}\"",
                String::from_utf8_lossy(&z.key_text),
                String::from_utf8_lossy(&key)
            );
            crate::http::errlog::write(
                Level::Error,
                &s.context(&text, Some("initializing session")),
            );
            continue;
        }
        s.limit_status.set(Some("PASSED"));
        match take(z, key, *n) {
            Take::Counted(c) => counted.push(c),
            over => {
                if matches!(over, Take::Over) {
                    let level = lc.log_level.unwrap_or(Level::Error);
                    let text = over_text(z, lc.dry_run);
                    crate::http::errlog::write(
                        level,
                        &s.context(&text, Some("initializing session")),
                    );
                }
                counted.clear();
                if lc.dry_run {
                    s.limit_status.set(Some("REJECTED_DRY_RUN"));
                    return true;
                }
                s.limit_status.set(Some("REJECTED"));
                return false;
            }
        }
    }
    true
}

/// nginx: ngx_stream_log_handler.
fn log_phase(s: &Session<'_>) {
    for (path, format) in &s.server.logs {
        let mut line = Vec::with_capacity(128);
        for p in &format.parts {
            match p {
                Part::Lit(t) => line.extend_from_slice(t),
                Part::Var(name) => {
                    let v = s.variable(name).unwrap_or_default();
                    crate::http::access_log::escape(&mut line, &v, format.escape);
                }
                Part::Capture(_) => {}
            }
        }
        line.push(b'\n');
        crate::http::access_log::write_line(path, &line);
    }
}

// ---------------------------------------------------------------------------------------------
// UDP

/// A `udp` listen's live sessions in this worker, by client address (nginx: the listening's
/// tree of udp connections): a client's next datagrams go to its session.
type UdpClients = Rc<RefCell<HashMap<SocketAddr, tokio::sync::mpsc::UnboundedSender<Vec<u8>>>>>;

/// Takes the session's client out of the table (its next datagram starts a new session),
/// once: at `proxy_requests` or at the end.
pub(super) struct UdpClient {
    pub(super) clients: UdpClients,
    pub(super) addr: SocketAddr,
    pub(super) tx: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
}

impl UdpClient {
    pub(super) fn release(&self) {
        let mut c = self.clients.borrow_mut();
        if c.get(&self.addr).is_some_and(|t| t.same_channel(&self.tx)) {
            c.remove(&self.addr);
        }
    }
}

impl Drop for UdpClient {
    fn drop(&mut self) {
        self.release();
    }
}

/// Receives the datagrams of `conf.listens[li]` (nginx: ngx_event_recvmsg): a new client
/// address starts a session, a known one feeds its session.
pub(crate) async fn serve_udp(
    conf: Arc<StreamConf>,
    li: usize,
    sock: tokio::net::UdpSocket,
    sessions: Rc<Sessions>,
) {
    let sock = Rc::new(sock);
    let clients: UdpClients = Rc::default();
    let local = sock.local_addr().ok();
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let data = buf[..n].to_vec();
        let known = clients.borrow().get(&from).cloned();
        let data = match known {
            Some(tx) => match tx.send(data) {
                Ok(()) => continue,
                Err(e) => e.0,
            },
            None => data,
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        clients.borrow_mut().insert(from, tx.clone());
        let client = UdpClient {
            clients: clients.clone(),
            addr: from,
            tx,
        };
        let f = udp_session(
            conf.clone(),
            li,
            sock.clone(),
            local,
            data,
            rx,
            client,
            sessions.clone(),
        );
        tokio::task::spawn_local(f);
    }
}

/// One client's datagrams on a `udp` listen (nginx: ngx_stream_init_connection for a udp
/// connection, the phases, and ngx_stream_proxy_process for datagrams).
#[allow(clippy::too_many_arguments)]
async fn udp_session(
    conf: Arc<StreamConf>,
    li: usize,
    sock: Rc<tokio::net::UdpSocket>,
    local: Option<SocketAddr>,
    first: Vec<u8>,
    rx: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    client: UdpClient,
    sessions: Rc<Sessions>,
) {
    sessions.live.set(sessions.live.get() + 1);
    let _guard = SessionGuard(sessions);
    let (Some(listen), id) = (conf.listens.get(li), crate::worker::next_conn_id()) else {
        return;
    };
    let Some(server) = conf.servers.get(listen.server) else {
        return;
    };
    info(&format!(
        "*{id} udp client {} connected to {}",
        client.addr, listen.text
    ));
    let s = Session::new(&conf, server, listen, id, Some(client.addr), local, true);
    s.received.set(first.len() as u64);
    let mut counted = Vec::new();
    if before_content(&s, &mut counted) {
        match &server.content {
            Content::None => s.status.set(500),
            Content::Return(v) => {
                let text = s.eval(v);
                if !text.is_empty() {
                    match sock.send_to(&text, client.addr).await {
                        Ok(n) => s.sent.set(n as u64),
                        Err(_) => s.status.set(500),
                    }
                }
            }
            Content::Proxy(p) => super::proxy::udp_proxy(&s, p, &sock, first, rx, &client).await,
        }
    }
    client.release();
    log_phase(&s);
}
