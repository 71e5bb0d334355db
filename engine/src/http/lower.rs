//! The lowering pass: the checked directive tree -> the frozen http configuration workers run.
//!
//! The parse pass (the directive table, nginx's `ngx_conf_parse`) has already refused every bad
//! configuration with nginx's texts; this pass walks the same tree once more and builds typed,
//! merged values (nginx: the `merge_*_conf` steps and the location trees of `ngx_http_block`).
//! A directive this pass does not know yet keeps nginx's default.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parser::{Body, Directive};

use crate::conf::values::{atoi, parse_offset, parse_time};
use crate::cycle::{full_name, ListenAddr};
use crate::http::variables::{ComplexValue, Part};
use crate::regex::Regex;

/// The frozen `http {}` (nginx: the merged `ngx_http_conf_ctx_t` tree and `cmcf->ports`).
#[derive(Debug)]
pub(crate) struct Http {
    /// nginx's prefix: relative `root`s resolve against it.
    pub(crate) prefix: PathBuf,
    /// Listening addresses, each with its servers (nginx: ngx_http_conf_addr_t).
    pub(crate) addrs: Vec<Addr>,
    pub(crate) servers: Vec<Arc<Server>>,
}

/// One listening address and the servers on it.
#[derive(Debug)]
pub(crate) struct Addr {
    pub(crate) addr: ListenAddr,
    pub(crate) text: String,
    pub(crate) backlog: i32,
    /// Index of the default server in [`Http::servers`].
    pub(crate) default_server: usize,
    /// Every server listening here, in configuration order.
    pub(crate) servers: Vec<usize>,
}

/// A server name (nginx: ngx_http_server_name_t).
#[derive(Debug)]
pub(crate) enum ServerName {
    Exact(Vec<u8>),
    /// `*.example.com` (stored `.example.com`) or `.example.com` (also matches `example.com`).
    Head {
        suffix: Vec<u8>,
        dot: bool,
    },
    /// `www.example.*` (stored `www.example.`).
    Tail(Vec<u8>),
    Regex(Regex),
}

/// One `server {}` (nginx: ngx_http_core_srv_conf_t with its locations).
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) names: Vec<ServerName>,
    /// The first name: `$server_name`.
    pub(crate) name: Vec<u8>,
    /// The server level's merged location conf (used when no location matches).
    pub(crate) conf: Arc<LocConf>,
    /// The rewrite module's server-level script (server-rewrite phase).
    pub(crate) script: Arc<Script>,
    pub(crate) locations: Locations,
    pub(crate) named: HashMap<Vec<u8>, Arc<Location>>,
}

/// The locations of one level (nginx: `static_locations` and `regex_locations`).
#[derive(Debug, Default)]
pub(crate) struct Locations {
    /// Exact and prefix locations.
    pub(crate) statics: Vec<Arc<Location>>,
    /// Regex locations, in configuration order.
    pub(crate) regexes: Vec<Arc<Location>>,
}

#[derive(Debug)]
pub(crate) enum LocKind {
    Exact,
    /// `^~` sets `noregex`.
    Prefix {
        noregex: bool,
    },
    Regex(Regex),
    Named,
}

/// One `location {}` (nginx: ngx_http_core_loc_conf_t).
#[derive(Debug)]
pub(crate) struct Location {
    pub(crate) name: Vec<u8>,
    pub(crate) kind: LocKind,
    pub(crate) conf: Arc<LocConf>,
    pub(crate) script: Arc<Script>,
    pub(crate) locations: Locations,
}

/// `root` or `alias` (nginx: `clcf->root`, `clcf->alias`).
#[derive(Debug, Clone)]
pub(crate) struct Root {
    pub(crate) value: ComplexValue,
    pub(crate) alias: bool,
}

/// `error_page codes [=[code]] uri` (nginx: ngx_http_err_page_t).
#[derive(Debug, Clone)]
pub(crate) struct ErrorPage {
    pub(crate) status: u16,
    /// `=code` (Some(Some)), `=` alone (Some(None): the target's status).
    pub(crate) overwrite: Option<Option<u16>>,
    pub(crate) uri: ComplexValue,
}

/// `add_header name value [always]`.
#[derive(Debug, Clone)]
pub(crate) struct AddHeader {
    pub(crate) name: Vec<u8>,
    pub(crate) value: ComplexValue,
    pub(crate) always: bool,
}

/// `try_files file ... uri|=code`.
#[derive(Debug, Clone)]
pub(crate) struct TryFiles {
    pub(crate) files: Vec<ComplexValue>,
    pub(crate) last: ComplexValue,
}

/// What a location's directives say, merged with the enclosing levels (nginx: the location
/// confs of every module after `merge_loc_conf`). `None` means "not set here" until merged.
#[derive(Debug, Clone, Default)]
pub(crate) struct LocConf {
    pub(crate) root: Option<Root>,
    pub(crate) index: Option<Vec<ComplexValue>>,
    pub(crate) default_type: Option<Vec<u8>>,
    pub(crate) types: Option<Arc<HashMap<Vec<u8>, Vec<u8>>>>,
    pub(crate) error_pages: Option<Vec<ErrorPage>>,
    pub(crate) recursive_error_pages: Option<bool>,
    pub(crate) keepalive_timeout: Option<Duration>,
    pub(crate) keepalive_requests: Option<u64>,
    pub(crate) server_tokens: Option<ServerTokens>,
    pub(crate) try_files: Option<TryFiles>,
    pub(crate) add_headers: Option<Vec<AddHeader>>,
    pub(crate) etag: Option<bool>,
    pub(crate) absolute_redirect: Option<bool>,
    pub(crate) port_in_redirect: Option<bool>,
    pub(crate) server_name_in_redirect: Option<bool>,
    pub(crate) log_not_found: Option<bool>,
    pub(crate) autoindex: Option<bool>,
    pub(crate) client_max_body_size: Option<u64>,
    pub(crate) access_log: Option<Vec<AccessLog>>,
    /// `internal` (not inherited).
    pub(crate) internal: bool,
}

/// `server_tokens on|off|build`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerTokens {
    On,
    Off,
    Build,
}

/// `access_log path [format]` (`off` is an empty list).
#[derive(Debug, Clone)]
pub(crate) struct AccessLog {
    pub(crate) path: PathBuf,
    pub(crate) format: Arc<LogFormat>,
}

/// A `log_format`: literal and variable pieces.
#[derive(Debug)]
pub(crate) struct LogFormat {
    pub(crate) parts: Vec<Part>,
    pub(crate) escape: Escape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escape {
    Default,
    Json,
    None,
}

/// One instruction of the rewrite module (nginx: the `ngx_http_script_*_code` sequence).
#[derive(Debug)]
pub(crate) enum Code {
    Return {
        status: u16,
        text: Option<ComplexValue>,
    },
    Rewrite {
        regex: Regex,
        replacement: ComplexValue,
        flag: RewriteFlag,
    },
    Set {
        name: Vec<u8>,
        value: ComplexValue,
    },
    If {
        cond: Cond,
        conf: Arc<LocConf>,
        script: Arc<Script>,
    },
    Break,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RewriteFlag {
    None,
    Last,
    Break,
    Redirect,
    Permanent,
}

/// An `if` condition (nginx: ngx_http_rewrite_if_condition).
#[derive(Debug)]
pub(crate) enum Cond {
    /// `($var)`: true unless empty or "0".
    Var(ComplexValue),
    Eq {
        value: ComplexValue,
        to: ComplexValue,
        negate: bool,
    },
    Match {
        value: ComplexValue,
        regex: Regex,
        negate: bool,
    },
    File {
        path: ComplexValue,
        test: FileTest,
        negate: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileTest {
    File,
    Dir,
    Exists,
    Exec,
}

/// A level's rewrite instructions.
pub(crate) type Script = Vec<Code>;

impl LocConf {
    /// nginx: the modules' `merge_loc_conf`: what this level did not set comes from `parent`.
    fn merge(&mut self, parent: &LocConf) {
        macro_rules! inherit {
            ($($f:ident),*) => {$(
                if self.$f.is_none() {
                    self.$f = parent.$f.clone();
                }
            )*};
        }
        inherit!(
            root,
            index,
            default_type,
            types,
            error_pages,
            recursive_error_pages,
            keepalive_timeout,
            keepalive_requests,
            server_tokens,
            add_headers,
            etag,
            absolute_redirect,
            port_in_redirect,
            server_name_in_redirect,
            log_not_found,
            autoindex,
            client_max_body_size,
            access_log
        );
    }
}

/// What the lowering pass needs from outside the tree.
pub(crate) struct Lowering<'c> {
    pub(crate) prefix: &'c std::path::Path,
    pub(crate) formats: HashMap<Vec<u8>, Arc<LogFormat>>,
}

fn arg(d: &Directive, i: usize) -> &[u8] {
    d.args.get(i).map(Vec::as_slice).unwrap_or_default()
}

fn children(d: &Directive) -> &[Directive] {
    match &d.body {
        Body::Block(b) => &b.directives,
        _ => &[],
    }
}

/// A complex value from a directive argument (already checked by the parse pass).
fn cv(s: &[u8]) -> ComplexValue {
    crate::http::variables::parse_complex_value(s).unwrap_or_default()
}

fn flag(d: &Directive) -> bool {
    arg(d, 0).eq_ignore_ascii_case(b"on")
}

/// nginx: the default `combined` log format.
const COMBINED: &[u8] = b"$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

/// nginx: ngx_http_block's end, for the runtime: builds the frozen http configuration.
pub(crate) fn lower(http: &Directive, prefix: &std::path::Path) -> Http {
    let mut lw = Lowering {
        prefix,
        formats: HashMap::new(),
    };
    lw.formats.insert(
        b"combined".to_vec(),
        Arc::new(LogFormat {
            parts: cv(COMBINED).parts,
            escape: Escape::Default,
        }),
    );
    let mut conf = LocConf::default();
    for d in children(http) {
        if d.name == b"log_format" {
            lw.log_format(d);
        }
    }
    for d in children(http) {
        lw.apply(&mut conf, d);
    }
    // nginx's defaults at the http level (ngx_http_core_merge_loc_conf's NGX_CONF_UNSET).
    let defaults = LocConf {
        root: Some(Root {
            value: cv(b"html"),
            alias: false,
        }),
        index: Some(vec![cv(b"index.html")]),
        default_type: Some(b"text/plain".to_vec()),
        types: Some(Arc::new(default_types())),
        keepalive_timeout: Some(Duration::from_secs(75)),
        keepalive_requests: Some(1000),
        server_tokens: Some(ServerTokens::On),
        etag: Some(true),
        absolute_redirect: Some(true),
        port_in_redirect: Some(true),
        server_name_in_redirect: Some(false),
        log_not_found: Some(true),
        autoindex: Some(false),
        recursive_error_pages: Some(false),
        client_max_body_size: Some(1 << 20),
        access_log: Some(vec![AccessLog {
            path: full_name(prefix, b"logs/access.log"),
            format: lw.formats[b"combined".as_slice()].clone(),
        }]),
        ..LocConf::default()
    };
    conf.merge(&defaults);
    let conf = Arc::new(conf);

    let mut servers = Vec::new();
    let mut listens: Vec<(Listen, usize)> = Vec::new();
    for d in children(http).iter().filter(|d| d.name == b"server") {
        let idx = servers.len();
        let (server, ls) = lw.server(d, &conf);
        servers.push(Arc::new(server));
        for l in ls {
            listens.push((l, idx));
        }
        if !children(d).iter().any(|c| c.name == b"listen") {
            // nginx: a server without listen listens on *:80 (8000 when not root).
            let port = if unsafe { libc::geteuid() } == 0 {
                80
            } else {
                8000
            };
            listens.push((
                Listen {
                    addr: ListenAddr::Inet(SocketAddr::new(
                        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                        port,
                    )),
                    text: format!("0.0.0.0:{port}"),
                    default_server: false,
                    backlog: 511,
                },
                idx,
            ));
        }
    }
    let mut addrs: Vec<Addr> = Vec::new();
    for (l, idx) in listens {
        match addrs.iter_mut().find(|a| a.addr == l.addr) {
            Some(a) => {
                if !a.servers.contains(&idx) {
                    a.servers.push(idx);
                }
                if l.default_server {
                    a.default_server = idx;
                }
            }
            None => addrs.push(Addr {
                addr: l.addr,
                text: l.text,
                backlog: l.backlog,
                default_server: idx,
                servers: vec![idx],
            }),
        }
    }
    Http {
        prefix: prefix.to_path_buf(),
        addrs,
        servers,
    }
}

/// No `http` block: nothing to serve.
pub(crate) fn empty(prefix: &std::path::Path) -> Http {
    Http {
        prefix: prefix.to_path_buf(),
        addrs: Vec::new(),
        servers: Vec::new(),
    }
}

/// One `listen` of a server.
struct Listen {
    addr: ListenAddr,
    text: String,
    default_server: bool,
    backlog: i32,
}

/// nginx: ngx_http_core_listen's address forms (already validated by the parse pass).
fn listen(d: &Directive) -> Vec<Listen> {
    let a = arg(d, 0);
    let mut default_server = false;
    let mut backlog = 511;
    for p in d.args.iter().skip(1) {
        if p == b"default_server" || p == b"default" {
            default_server = true;
        } else if let Some(v) = p.strip_prefix(b"backlog=") {
            backlog = atoi(v).and_then(|n| i32::try_from(n).ok()).unwrap_or(511);
        }
    }
    let mk = |addr: ListenAddr, text: String| Listen {
        addr,
        text,
        default_server,
        backlog,
    };
    if let Some(path) = a.strip_prefix(b"unix:") {
        let p = PathBuf::from(String::from_utf8_lossy(path).into_owned());
        return vec![mk(
            ListenAddr::Unix(p),
            String::from_utf8_lossy(a).into_owned(),
        )];
    }
    if let Some(rest) = a.strip_prefix(b"[") {
        let Some(end) = rest.iter().position(|&c| c == b']') else {
            return Vec::new();
        };
        let ip: Option<Ipv6Addr> = std::str::from_utf8(&rest[..end])
            .ok()
            .and_then(|s| s.parse().ok());
        let port = rest
            .get(end + 1..)
            .and_then(|p| p.strip_prefix(b":"))
            .and_then(atoi)
            .unwrap_or(80);
        let (Some(ip), Ok(port)) = (ip, u16::try_from(port)) else {
            return Vec::new();
        };
        let sa = SocketAddr::new(IpAddr::V6(ip), port);
        return vec![mk(ListenAddr::Inet(sa), format!("[{ip}]:{port}"))];
    }
    let (host, port) = match a.iter().rposition(|&c| c == b':') {
        Some(i) => (&a[..i], atoi(&a[i + 1..])),
        None if atoi(a).is_some() => (&b""[..], atoi(a)),
        None => (a, Some(80)),
    };
    let Some(port) = port.and_then(|p| u16::try_from(p).ok()) else {
        return Vec::new();
    };
    let ips: Vec<IpAddr> = if host.is_empty() || host == b"*" {
        vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)]
    } else {
        crate::http::core::resolve_host(host).unwrap_or_default()
    };
    ips.into_iter()
        .map(|ip| {
            let sa = SocketAddr::new(ip, port);
            mk(ListenAddr::Inet(sa), sa.to_string())
        })
        .collect()
}

impl Lowering<'_> {
    fn log_format(&mut self, d: &Directive) {
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
        self.formats.insert(
            arg(d, 0).to_vec(),
            Arc::new(LogFormat {
                parts: cv(&text).parts,
                escape,
            }),
        );
    }

    /// Folds one directive of a level into that level's conf (nginx: the setters, for the
    /// values the runtime uses).
    fn apply(&self, c: &mut LocConf, d: &Directive) {
        match d.name.as_slice() {
            b"root" | b"alias" => {
                c.root = Some(Root {
                    value: cv(arg(d, 0)),
                    alias: d.name == b"alias",
                })
            }
            b"index" => c.index = Some(d.args.iter().map(|a| cv(a)).collect()),
            b"default_type" => c.default_type = Some(arg(d, 0).to_vec()),
            b"types" => {
                let mut map = HashMap::new();
                for t in children(d) {
                    for ext in &t.args {
                        map.insert(ext.to_ascii_lowercase(), t.name.clone());
                    }
                }
                c.types = Some(Arc::new(map));
            }
            b"error_page" => {
                let pages = c.error_pages.get_or_insert_with(Vec::new);
                let uri = cv(d.args.last().map(Vec::as_slice).unwrap_or_default());
                let mut overwrite = None;
                for a in &d.args[..d.args.len().saturating_sub(1)] {
                    if let Some(o) = a.strip_prefix(b"=") {
                        overwrite = Some(atoi(o).and_then(|n| u16::try_from(n).ok()));
                        continue;
                    }
                    if let Some(status) = atoi(a).and_then(|n| u16::try_from(n).ok()) {
                        pages.push(ErrorPage {
                            status,
                            overwrite: None,
                            uri: uri.clone(),
                        });
                    }
                }
                if overwrite.is_some() {
                    for p in pages.iter_mut().filter(|p| p.overwrite.is_none()) {
                        p.overwrite = overwrite;
                    }
                }
            }
            b"recursive_error_pages" => c.recursive_error_pages = Some(flag(d)),
            b"keepalive_timeout" => {
                c.keepalive_timeout = parse_time(arg(d, 0), true)
                    .and_then(|s| u64::try_from(s).ok())
                    .map(Duration::from_secs)
            }
            b"keepalive_requests" => {
                c.keepalive_requests = atoi(arg(d, 0)).and_then(|n| u64::try_from(n).ok())
            }
            b"server_tokens" => {
                c.server_tokens = Some(match arg(d, 0) {
                    b"off" => ServerTokens::Off,
                    b"build" => ServerTokens::Build,
                    _ => ServerTokens::On,
                })
            }
            b"try_files" => {
                let mut files: Vec<ComplexValue> = d.args.iter().map(|a| cv(a)).collect();
                if let Some(last) = files.pop() {
                    c.try_files = Some(TryFiles { files, last });
                }
            }
            b"add_header" => c.add_headers.get_or_insert_with(Vec::new).push(AddHeader {
                name: arg(d, 0).to_vec(),
                value: cv(arg(d, 1)),
                always: arg(d, 2) == b"always",
            }),
            b"etag" => c.etag = Some(flag(d)),
            b"absolute_redirect" => c.absolute_redirect = Some(flag(d)),
            b"port_in_redirect" => c.port_in_redirect = Some(flag(d)),
            b"server_name_in_redirect" => c.server_name_in_redirect = Some(flag(d)),
            b"log_not_found" => c.log_not_found = Some(flag(d)),
            b"autoindex" => c.autoindex = Some(flag(d)),
            b"client_max_body_size" => c.client_max_body_size = parse_offset(arg(d, 0)),
            b"internal" => c.internal = true,
            b"access_log" => {
                let logs = c.access_log.get_or_insert_with(Vec::new);
                let path = arg(d, 0);
                if path != b"off" && !path.starts_with(b"syslog:") {
                    let name = if d.args.len() > 1 {
                        arg(d, 1)
                    } else {
                        b"combined"
                    };
                    if let Some(format) = self.formats.get(name) {
                        logs.push(AccessLog {
                            path: full_name(self.prefix, path),
                            format: format.clone(),
                        });
                    }
                }
            }
            _ => {}
        }
    }

    /// Folds a level's directives, then inherits from `parent`.
    fn level(&self, ds: &[Directive], parent: &LocConf) -> LocConf {
        let mut c = LocConf::default();
        for d in ds {
            self.apply(&mut c, d);
        }
        c.merge(parent);
        c
    }

    fn server(&self, d: &Directive, http: &Arc<LocConf>) -> (Server, Vec<Listen>) {
        let ds = children(d);
        let conf = Arc::new(self.level(ds, http));
        let mut names = Vec::new();
        let mut first = None;
        let mut listens = Vec::new();
        for c in ds {
            match c.name.as_slice() {
                b"listen" => listens.extend(listen(c)),
                b"server_name" => {
                    for n in &c.args {
                        if first.is_none() {
                            first = Some(n.clone());
                        }
                        if let Some(name) = server_name(n) {
                            names.push(name);
                        }
                    }
                }
                _ => {}
            }
        }
        let script = Arc::new(self.script(ds, &conf));
        let mut named = HashMap::new();
        let locations = self.locations(ds, &conf, &mut named);
        let server = Server {
            names,
            name: first.unwrap_or_default(),
            conf,
            script,
            locations,
            named,
        };
        (server, listens)
    }

    fn locations(
        &self,
        ds: &[Directive],
        parent: &Arc<LocConf>,
        named: &mut HashMap<Vec<u8>, Arc<Location>>,
    ) -> Locations {
        let mut out = Locations::default();
        for d in ds.iter().filter(|d| d.name == b"location") {
            let (kind, name) = match (d.args.len(), arg(d, 0)) {
                (2, b"=") => (LocKind::Exact, arg(d, 1)),
                (2, b"^~") => (LocKind::Prefix { noregex: true }, arg(d, 1)),
                (2, m @ (b"~" | b"~*")) => match crate::regex::build(arg(d, 1), m == b"~*") {
                    Ok(re) => (LocKind::Regex(re), arg(d, 1)),
                    Err(_) => continue,
                },
                (1, n) if n.starts_with(b"@") => (LocKind::Named, n),
                (1, n) if n.starts_with(b"=") => (LocKind::Exact, &n[1..]),
                (1, n) if n.starts_with(b"^~") => (LocKind::Prefix { noregex: true }, &n[2..]),
                (1, n) if n.starts_with(b"~*") => match crate::regex::build(&n[2..], true) {
                    Ok(re) => (LocKind::Regex(re), &n[2..]),
                    Err(_) => continue,
                },
                (1, n) if n.starts_with(b"~") => match crate::regex::build(&n[1..], false) {
                    Ok(re) => (LocKind::Regex(re), &n[1..]),
                    Err(_) => continue,
                },
                (_, n) => (LocKind::Prefix { noregex: false }, n),
            };
            let inner = children(d);
            let mut conf = self.level(inner, parent);
            conf.internal = inner.iter().any(|c| c.name == b"internal");
            let conf = Arc::new(conf);
            let script = Arc::new(self.script(inner, &conf));
            let locations = self.locations(inner, &conf, named);
            let loc = Arc::new(Location {
                name: name.to_vec(),
                kind,
                conf,
                script,
                locations,
            });
            match loc.kind {
                LocKind::Named => {
                    named.entry(loc.name.clone()).or_insert(loc);
                }
                LocKind::Regex(_) => out.regexes.push(loc),
                _ => out.statics.push(loc),
            }
        }
        out
    }

    /// The rewrite module's instructions of one level, in order.
    fn script(&self, ds: &[Directive], conf: &Arc<LocConf>) -> Script {
        let mut s = Vec::new();
        for d in ds {
            match d.name.as_slice() {
                b"return" => {
                    let (status, text) = match atoi(arg(d, 0)) {
                        Some(code) => (
                            u16::try_from(code).unwrap_or(500),
                            (d.args.len() > 1).then(|| cv(arg(d, 1))),
                        ),
                        None => (302, Some(cv(arg(d, 0)))),
                    };
                    s.push(Code::Return { status, text });
                }
                b"rewrite" => {
                    let Ok(regex) = crate::regex::build(arg(d, 0), false) else {
                        continue;
                    };
                    let flag = match arg(d, 2) {
                        b"last" => RewriteFlag::Last,
                        b"break" => RewriteFlag::Break,
                        b"redirect" => RewriteFlag::Redirect,
                        b"permanent" => RewriteFlag::Permanent,
                        _ => RewriteFlag::None,
                    };
                    s.push(Code::Rewrite {
                        regex,
                        replacement: cv(arg(d, 1)),
                        flag,
                    });
                }
                b"set" => s.push(Code::Set {
                    name: arg(d, 0).strip_prefix(b"$").unwrap_or_default().to_vec(),
                    value: cv(arg(d, 1)),
                }),
                b"break" => s.push(Code::Break),
                b"if" => {
                    let Some(cond) = condition(&d.args) else {
                        continue;
                    };
                    let inner = children(d);
                    let mut c = self.level(inner, conf);
                    c.internal = false;
                    let c = Arc::new(c);
                    let script = Arc::new(self.script(inner, &c));
                    s.push(Code::If {
                        cond,
                        conf: c,
                        script,
                    });
                }
                _ => {}
            }
        }
        s
    }
}

/// nginx: ngx_http_server_names' forms.
fn server_name(n: &[u8]) -> Option<ServerName> {
    if let Some(re) = n.strip_prefix(b"~") {
        return crate::regex::build(re, false).ok().map(ServerName::Regex);
    }
    let n = n.to_ascii_lowercase();
    if let Some(rest) = n.strip_prefix(b"*.") {
        let mut suffix = b".".to_vec();
        suffix.extend_from_slice(rest);
        return Some(ServerName::Head { suffix, dot: false });
    }
    if n.starts_with(b".") {
        return Some(ServerName::Head {
            suffix: n,
            dot: true,
        });
    }
    if let Some(head) = n.strip_suffix(b"*") {
        return Some(ServerName::Tail(head.to_vec()));
    }
    Some(ServerName::Exact(n))
}

/// nginx: ngx_http_rewrite_if_condition, for the runtime (already validated).
fn condition(args: &[Vec<u8>]) -> Option<Cond> {
    let strip = |a: &[u8]| -> Vec<u8> {
        let a = a.strip_prefix(b"(").unwrap_or(a);
        a.strip_suffix(b")").unwrap_or(a).to_vec()
    };
    match args.len() {
        1 => {
            let a = strip(&args[0]);
            Some(Cond::Var(cv(&a)))
        }
        2 => {
            let op = strip(&args[0]);
            let path = cv(&strip(&args[1]));
            let (negate, op) = match op.strip_prefix(b"!") {
                Some(o) => (true, o.to_vec()),
                None => (false, op),
            };
            let test = match op.as_slice() {
                b"-f" => FileTest::File,
                b"-d" => FileTest::Dir,
                b"-e" => FileTest::Exists,
                b"-x" => FileTest::Exec,
                _ => return None,
            };
            Some(Cond::File { path, test, negate })
        }
        _ => {
            let value = cv(&strip(&args[0]));
            let op = args[1].as_slice();
            let rhs = strip(&args[2..].concat());
            match op {
                b"=" | b"!=" => Some(Cond::Eq {
                    value,
                    to: cv(&rhs),
                    negate: op == b"!=",
                }),
                b"~" | b"~*" | b"!~" | b"!~*" => {
                    let caseless = op.ends_with(b"*");
                    let regex = crate::regex::build(&rhs, caseless).ok()?;
                    Some(Cond::Match {
                        value,
                        regex,
                        negate: op.starts_with(b"!"),
                    })
                }
                _ => None,
            }
        }
    }
}

/// nginx's built-in types when no `types` block is configured (ngx_http_core_default_types).
fn default_types() -> HashMap<Vec<u8>, Vec<u8>> {
    [
        ("html", "text/html"),
        ("gif", "image/gif"),
        ("jpg", "image/jpeg"),
    ]
    .into_iter()
    .map(|(e, t)| (e.as_bytes().to_vec(), t.as_bytes().to_vec()))
    .collect()
}
