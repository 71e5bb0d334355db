//! One request through nginx's phases (nginx: ngx_http_request.c, ngx_http_core_module.c's
//! phase checkers): server selection, server rewrite, find config, rewrite, post-rewrite,
//! access, try_files, content, error pages, headers, log.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use hyper::{Method, Version};

use super::lower::{
    Code, Cond, FileTest, Http, LocConf, LocKind, Location, Locations, RewriteFlag, Script, Server,
    ServerName,
};
use super::req_headers::ReqHeaders;
use super::response::Reply;
use super::variables::{ComplexValue, Part};
use crate::regex::Regex;

/// What a connection knows (nginx: ngx_connection_t).
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    pub(crate) id: u64,
    pub(crate) remote: Option<SocketAddr>,
    pub(crate) local: Option<SocketAddr>,
    /// Requests served on this connection so far, this one included.
    pub(crate) requests: u64,
    /// Index of the listening address in [`Http::addrs`].
    pub(crate) addr: usize,
    /// What the connection's PROXY protocol header said (`listen ... proxy_protocol`).
    pub(crate) proxy: Option<Arc<crate::http::proxy_protocol::ProxyProtocol>>,
}

/// A request being processed (nginx: ngx_http_request_t, the parts used so far).
pub(crate) struct Request {
    pub(crate) http: Arc<Http>,
    pub(crate) conn: Conn,
    pub(crate) method: Method,
    pub(crate) version: Version,
    /// The request line's target, as sent.
    pub(crate) request_uri: bytes::Bytes,
    /// The normalized, decoded path (nginx: `r->uri`).
    pub(crate) uri: Vec<u8>,
    /// The query string (nginx: `r->args`).
    pub(crate) args: Vec<u8>,
    /// The header lines as received, and hyper's map of them once something needs it or
    /// changes them (`ReqHeaders::lines` keeps the lines as received).
    pub(crate) headers: ReqHeaders,
    pub(crate) server: Arc<Server>,
    pub(crate) loc: Arc<LocConf>,
    /// The matched location (for alias).
    pub(crate) location: Option<Arc<Location>>,
    /// `set` variables and named captures (nginx: `r->variables` for changeable ones).
    pub(crate) vars: HashMap<Vec<u8>, Vec<u8>>,
    /// The last regex match (nginx: `r->captures`; a `map` evaluated while a value is
    /// expanded sets it too).
    pub(crate) captures: RefCell<Option<Captures>>,
    pub(crate) internal: bool,
    /// Internal redirects and rewrites left (nginx: `r->uri_changes`).
    uri_changes: u8,
    pub(crate) start: SystemTime,
    /// An error page was already used (nginx: `r->error_page`).
    error_page: bool,
    pub(crate) status: u16,
    pub(crate) body_bytes_sent: u64,
    /// The request line or head was refused (nginx answers before any phase).
    bad: Option<u16>,
    /// Lazy variables (`map`, `geo`, `split_clients`, `$request_id`) already evaluated, and
    /// named captures of their regexes (nginx: `r->variables` of cacheable variables).
    pub(crate) lazy: RefCell<HashMap<Vec<u8>, Option<Vec<u8>>>>,
    /// Nested variable evaluations left (nginx: ngx_http_variable_depth).
    depth: Cell<u8>,
    /// A rewrite changed the URI (nginx: `r->uri_changed`).
    uri_changed: bool,
    /// The request's path had `%` or `+` (nginx: `r->quoted_uri`, `r->plus_in_uri`).
    pub(crate) quoted_uri: bool,
    /// The validated host of the absolute request URI or of `Host` (nginx:
    /// `r->headers_in.server`).
    host_in: Option<Vec<u8>>,
    /// The error being answered (nginx: `r->err_status`): `$status` and the final status.
    pub(crate) err_status: u16,
    /// The status Lua set (`ngx.status`, `ngx.exit`, `ngx.redirect`; nginx:
    /// `r->headers_out.status`), which an internal redirect keeps.
    pub(crate) out_status: u16,
    /// The request head's bytes as received (HTTP/1.x, when Lua is in use).
    pub(crate) raw_head: Option<bytes::Bytes>,
    /// limit_req / limit_conn state of this request (engine/src/http/limit_req.rs).
    pub(crate) limits: crate::http::limit_req::RequestLimits,
    /// The response head once sent (`$sent_http_*`, `$bytes_sent`).
    pub(crate) sent: Option<crate::http::log_phase::Sent>,
    /// The connection's address before realip replaced `conn.remote` (`$realip_remote_addr`).
    pub(crate) realip: Option<Option<std::net::SocketAddr>>,
    /// The request line as sent (nginx: `r->request_line`, `$request`).
    pub(crate) raw_line: Option<bytes::Bytes>,
    /// The request body was discarded (nginx: ngx_http_discard_request_body, which a
    /// `return` with text runs first): a chunked body's `$content_length` reads "0" after.
    pub(crate) discarded: bool,
    /// nginx: `r->valid_unparsed_uri` (cleared by rewrites and internal redirects).
    pub(crate) valid_unparsed_uri: bool,
    /// nginx: `r->valid_location` (cleared by `rewrite ... break`).
    pub(crate) valid_location: bool,
    /// The request asked for a protocol `Upgrade` (a 101 may tunnel the connection).
    pub(crate) upgrade: bool,
    /// 0 for a main request; a subrequest's own number otherwise (nginx: `r != r->main`).
    pub(crate) sub: u64,
    /// The `$upstream_*` figures still counted while a proxied body is read (proxy_run.rs).
    pub(crate) upstream_tail: Option<Box<crate::http::proxy_run::Tail>>,
    /// Header names as `ngx.req.set_header` wrote them (nginx keeps a set header's name as
    /// given; the proxy forwards it so).
    pub(crate) set_names: Vec<Vec<u8>>,
}

/// The error's headers go out with its error page's response, unless the page set them too.
fn keep_headers(mut r: Reply, kept: hyper::HeaderMap) -> Reply {
    let own: Vec<hyper::header::HeaderName> = r.headers.keys().cloned().collect();
    let mut last = None;
    for (name, value) in kept {
        if let Some(n) = name {
            last = Some(n);
        }
        if let Some(n) = last.as_ref().filter(|n| !own.contains(n)) {
            r.headers.append(n.clone(), value);
        }
    }
    r
}

/// A regex match's subject and capture offsets.
pub(crate) type Captures = (Vec<u8>, Vec<Option<(usize, usize)>>);

/// How a phase ended.
pub(crate) enum Next {
    /// Go on with the next phase.
    Continue,
    /// The URI changed: find the location again (nginx: post-rewrite).
    Relocate,
    /// The request is answered.
    Done(Reply),
}

impl Request {
    /// The request as received (nginx: ngx_http_process_request_uri and the head's parts);
    /// `None` when the configuration has no server for it. The head's request line, target,
    /// header lines and raw bytes move into the request (the head keeps what the connection
    /// still needs: version, framing, error and notes). Boxed: a streaming Lua content handler
    /// keeps the request's address (lua/stream.rs).
    pub(crate) fn new(
        http: Arc<Http>,
        conn: Conn,
        h: &mut crate::http::head::Head,
    ) -> Option<Box<Request>> {
        let parsed = h.uri.take();
        let (pq, line_host) = target_of(h);
        let path = match pq.iter().position(|&c| c == b'?') {
            Some(i) => &pq[..i],
            None => &pq[..],
        };
        let quoted_uri = path.iter().any(|&c| c == b'%' || c == b'+');
        let addr = http.addrs.get(conn.addr);
        let default = addr.map_or(0, |a| a.default_server);
        // The HTTP/1.x head's parser made the URI and arguments already (head::parse_uri,
        // nginx: ngx_http_process_request_uri); an HTTP/2 head's are made here.
        let (uri, bad, parsed_args) = match parsed {
            Some((u, a)) => (u, None, Some(a)),
            None => {
                // nginx parses the URI before the Host is known: the default server's
                // setting counts.
                let merge = http
                    .servers
                    .get(default)
                    .and_then(|s| s.conf.merge_slashes)
                    .unwrap_or(true);
                match normalize_uri(path, merge) {
                    Some(u) => (u, None, None),
                    None => (path.to_vec(), Some(400), None),
                }
            }
        };
        // nginx: the absolute URI's host, else `Host` (ngx_http_validate_host).
        let uri_host = line_host.map(validate_host);
        drop(pq);
        // (The parse validated an accepted `Host` already.)
        let host = match uri_host {
            Some(host) => host,
            None => h.host.take().or_else(|| {
                h.headers
                    .get(hyper::header::HOST)
                    .and_then(|v| validate_host(v.as_bytes()))
            }),
        };
        // nginx: without a host the virtual server is looked up by the empty name.
        let found =
            addr.and_then(|a| find_server(&http, &a.servers, host.as_deref().unwrap_or_default()));
        let (server, captures) = match found {
            Some((s, c)) => (s, c),
            None => (http.servers.get(default).cloned()?, None),
        };
        let loc = server.conf.clone();
        let mut vars = HashMap::new();
        let captures = captures.map(|(caps, named)| {
            vars.extend(named);
            caps
        });
        let version = match h.version {
            9 => Version::HTTP_09,
            0..=1000 => Version::HTTP_10,
            2000 => Version::HTTP_2,
            _ => Version::HTTP_11,
        };
        let method = Method::from_bytes(&h.method).unwrap_or(Method::GET);
        let q = h.target.iter().position(|&c| c == b'?');
        let hash = h.target.iter().position(|&c| c == b'#');
        let args = match (parsed_args, q, hash) {
            (Some(a), _, _) => a,
            (None, Some(q), Some(x)) if x < q => Vec::new(),
            (None, Some(q), _) => h.target[q + 1..].to_vec(),
            _ => Vec::new(),
        };
        let raw_line = (!h.line.is_empty()).then(|| std::mem::take(&mut h.line));
        let headers = std::mem::take(&mut h.headers);
        let upgrade = headers.contains_key(hyper::header::UPGRADE);
        Some(Box::new(Request {
            http,
            bad,
            conn,
            method,
            version,
            request_uri: std::mem::take(&mut h.target),
            uri,
            args,
            headers,
            server,
            loc,
            location: None,
            vars,
            captures: RefCell::new(captures),
            internal: false,
            // nginx: NGX_HTTP_MAX_URI_CHANGES + 1; the first location lookup is free.
            uri_changes: 12,
            start: SystemTime::now(),
            error_page: false,
            status: 0,
            body_bytes_sent: 0,
            lazy: RefCell::new(HashMap::new()),
            depth: Cell::new(crate::http::vars_runtime::MAX_DEPTH),
            uri_changed: false,
            quoted_uri,
            host_in: host,
            err_status: 0,
            out_status: 0,
            raw_head: h.raw.take(),
            limits: Default::default(),
            sent: None,
            realip: None,
            raw_line,
            discarded: false,
            valid_unparsed_uri: true,
            valid_location: true,
            upgrade,
            sub: 0,
            upstream_tail: None,
            set_names: Vec::new(),
        }))
    }

    /// nginx: ngx_http_subrequest: a request of its own (`sub`, a number unique on this
    /// thread) for `uri?args` with the parent's connection, server, headers and variables
    /// (`vars`), internal; run it with [`Request::run_subrequest`].
    pub(crate) fn subrequest(
        &self,
        sub: u64,
        uri: Vec<u8>,
        args: Vec<u8>,
        method: Method,
        vars: HashMap<Vec<u8>, Vec<u8>>,
    ) -> Request {
        Request {
            http: self.http.clone(),
            conn: self.conn.clone(),
            method,
            version: self.version,
            request_uri: self.request_uri.clone(),
            uri,
            args,
            headers: self.headers.clone(),
            server: self.server.clone(),
            loc: self.server.conf.clone(),
            location: None,
            vars,
            captures: RefCell::new(None),
            internal: true,
            uri_changes: 12,
            start: self.start,
            error_page: false,
            status: 0,
            body_bytes_sent: 0,
            bad: None,
            lazy: RefCell::new(HashMap::new()),
            depth: Cell::new(crate::http::vars_runtime::MAX_DEPTH),
            uri_changed: false,
            quoted_uri: false,
            host_in: self.host_in.clone(),
            err_status: 0,
            out_status: 0,
            raw_head: None,
            limits: Default::default(),
            sub,
            upstream_tail: None,
            set_names: Vec::new(),
            sent: None,
            realip: self.realip,
            raw_line: self.raw_line.clone(),
            discarded: false,
            // nginx: ngx_http_subrequest leaves `valid_unparsed_uri` clear; ngx_http_handler
            // sets `valid_location` for every request it runs.
            valid_unparsed_uri: false,
            valid_location: true,
            upgrade: false,
        }
    }

    /// nginx: ngx_http_lua_create_fake_request: the request-less context of a Lua TLS hook
    /// (ssl_client_hello_by_lua*, ssl_certificate_by_lua*) on `server`'s configuration;
    /// no method, URI or headers (engine/src/http/lua/ssl.rs).
    pub(crate) fn fake(http: Arc<Http>, conn: Conn, server: Arc<Server>) -> Request {
        Request {
            http,
            conn,
            method: Method::GET,
            version: Version::HTTP_11,
            request_uri: bytes::Bytes::new(),
            uri: Vec::new(),
            args: Vec::new(),
            headers: ReqHeaders::default(),
            loc: server.conf.clone(),
            server,
            location: None,
            vars: HashMap::new(),
            captures: RefCell::new(None),
            internal: true,
            uri_changes: 12,
            start: SystemTime::now(),
            error_page: false,
            status: 0,
            body_bytes_sent: 0,
            bad: None,
            lazy: RefCell::new(HashMap::new()),
            depth: Cell::new(crate::http::vars_runtime::MAX_DEPTH),
            uri_changed: false,
            quoted_uri: false,
            host_in: None,
            err_status: 0,
            out_status: 0,
            raw_head: None,
            limits: Default::default(),
            sub: 0,
            upstream_tail: None,
            set_names: Vec::new(),
            sent: None,
            realip: None,
            raw_line: None,
            discarded: false,
            valid_unparsed_uri: false,
            valid_location: false,
            upgrade: false,
        }
    }

    /// A subrequest's phases and error pages (nginx: ngx_http_run_posted_requests for it).
    pub(crate) async fn run_subrequest(&mut self) -> Reply {
        let reply = Box::pin(self.phases(true)).await;
        Box::pin(self.finalize(reply)).await
    }

    /// A Lua capture's phases: an error status is the capture's answer, without its page
    /// or `error_page` (nginx: the post-subrequest handler runs first in
    /// ngx_http_finalize_request).
    pub(crate) async fn run_capture(&mut self) -> Reply {
        Box::pin(self.phases(true)).await
    }

    /// A request refused before its phases (a bad request line or head, an unreadable
    /// body): its error page applies, and the connection closes after it (nginx:
    /// ngx_http_finalize_request with r->keepalive 0).
    pub(crate) async fn refused(&mut self, status: u16) -> Reply {
        let mut r = Box::pin(self.finalize(Reply::status(status))).await;
        r.close = true;
        r
    }

    /// nginx: ngx_http_core_run_phases, then the error pages of ngx_http_finalize_request.
    pub(crate) async fn run(&mut self) -> Reply {
        if let Some(status) = self.bad {
            // nginx: ngx_http_process_request_uri, before any header was looked at.
            crate::http::errlog::write_for(
                self,
                crate::log::Level::Info,
                &crate::http::errlog::line_context(
                    self,
                    "client sent invalid request while reading client request line",
                ),
            );
            return self.refused(status).await;
        }
        // nginx: ngx_http_process_request's TLS checks (497, 495, 496) and 421.
        if let Some(status) = crate::http::ssl::check(self) {
            // nginx closes after these (r->keepalive is 0), error_page or not.
            let mut r = self.finalize(Reply::status(status)).await;
            r.close = true;
            return r;
        }
        // post-read: realip with the server's settings
        crate::http::realip::handler(self);
        let reply = self.phases(true).await;
        self.finalize(reply).await
    }

    /// From server rewrite to content (nginx: ngx_http_core_run_phases from `phase`).
    async fn phases(&mut self, server_rewrite: bool) -> Reply {
        if server_rewrite {
            if !self.server.script.is_empty() {
                let script = self.server.script.clone();
                if let Next::Done(r) = self.script(&script) {
                    return r;
                }
            }
            // server_rewrite_by_lua* (at the end of the server rewrite phase)
            if let Next::Done(r) = crate::http::lua::server_rewrite(self).await {
                return r;
            }
        }
        loop {
            // find config
            self.uri_changes = self.uri_changes.saturating_sub(1);
            if self.uri_changes == 0 {
                crate::http::errlog::request_error(
                    self,
                    &format!(
                        "rewrite or internal redirection cycle while processing \"{}\"",
                        String::from_utf8_lossy(&self.uri)
                    ),
                );
                return Reply::status(500);
            }
            if let Some(r) = self.find_config() {
                return r;
            }
            // rewrite
            let script = self
                .location
                .as_ref()
                .map(|l| l.script.clone())
                .unwrap_or_default();
            match self.script(&script) {
                Next::Continue => {}
                Next::Relocate => continue,
                Next::Done(r) => return r,
            }
            // more_set_input_headers / more_clear_input_headers (rewrite tail, before Lua)
            crate::http::headers_more::input_rewrite(self);
            // rewrite_by_lua* (at the end of the rewrite phase)
            match crate::http::lua::rewrite(self).await {
                Next::Continue => {}
                Next::Relocate => continue,
                Next::Done(r) => return r,
            }
            // preaccess: realip with the location's settings, limit_req, limit_conn
            crate::http::realip::handler(self);
            if let Some(r) = crate::http::limit_req::preaccess(self).await {
                return r;
            }
            // access (allow/deny, auth_basic, auth_request, access_by_lua*, satisfy)
            match crate::http::access::phase(self).await {
                Next::Continue => {}
                Next::Relocate => continue,
                Next::Done(r) => return r,
            }
            // precontent: try_files
            if let Some(tf) = self.loc.try_files.clone() {
                match crate::http::static_file::try_files(self, &tf).await {
                    Next::Continue => {}
                    Next::Relocate => {
                        self.internal = true;
                        continue;
                    }
                    Next::Done(r) => return r,
                }
            }
            // precontent: mirror (after try_files, as nginx's handler order has it)
            if let Some(r) = crate::http::mirror::handler(self).await {
                return r;
            }
            // content
            if let Some(name) = self.loc.unsupported_handler {
                crate::http::errlog::request_error(
                    self,
                    &format!("\"{name}\" is not supported by oxresty yet"),
                );
                return Reply::status(502);
            }
            if let Some(r) = crate::http::fastcgi_run::content(self).await {
                return r;
            }
            if let Some(r) = crate::http::proxy_run::content(self).await {
                return r;
            }
            if let Some(r) = crate::http::lua::content(self).await {
                return r;
            }
            if let Some(r) = crate::http::echo::content(self).await {
                return r;
            }
            return crate::http::static_file::content(self).await;
        }
    }

    /// nginx: ngx_http_core_find_location with the internal check of the find-config phase.
    fn find_config(&mut self) -> Option<Reply> {
        let server = self.server.clone();
        self.location = None;
        self.loc = server.conf.clone();
        let mut auto_redirect = false;
        find_location(self, &server.locations, &mut auto_redirect);
        if let Some(l) = &self.location {
            if l.conf.internal && !self.internal {
                return Some(Reply::status(404));
            }
        }
        if let Some(r) = self.auto_redirect(&server.locations) {
            return Some(r);
        }
        crate::http::head::body_too_large(self)
    }

    /// nginx: the NGX_DONE of ngx_http_core_find_static_location: `/dir` asked of a
    /// `location /dir/` whose handler redirects (proxy_pass) and no exact location matched:
    /// 301 to `/dir/` (the static search ends there: regex locations are not tried).
    /// The redirect is answered in that location's context (its filters and add_header
    /// apply), as nginx's `r->loc_conf` is the location found.
    fn auto_redirect(&mut self, locs: &Locations) -> Option<Reply> {
        if matches!(
            self.location.as_ref().map(|l| &l.kind),
            Some(LocKind::Exact)
        ) {
            return None;
        }
        // A location named the URI with a `/` after it.
        let uri = &self.uri;
        let hit = locs.statics.iter().find(|l| {
            l.name.len() == uri.len() + 1
                && l.name.starts_with(uri)
                && l.name.last() == Some(&b'/')
                && !matches!(l.kind, LocKind::Named)
                && (crate::http::proxy_run::auto_redirect(&l.conf)
                    || crate::http::fastcgi_run::auto_redirect(&l.conf))
        })?;
        self.loc = hit.conf.clone();
        self.location = Some(hit.clone());
        let mut want = self.uri.clone();
        want.push(b'/');
        if !self.args.is_empty() {
            want.push(b'?');
            want.extend_from_slice(&self.args);
        }
        let mut reply = Reply::status(301);
        if let Ok(v) = hyper::header::HeaderValue::from_bytes(&want) {
            reply.headers.insert(hyper::header::LOCATION, v);
        }
        Some(reply)
    }

    /// Runs a level's rewrite instructions (nginx: ngx_http_rewrite_handler; the post-rewrite
    /// phase relocates when the URI changed and no `break` ended the script).
    fn script(&mut self, script: &Script) -> Next {
        self.uri_changed = false;
        let log = self.loc.rewrite_log == Some(true);
        match self.codes(script, log) {
            Some(Some(reply)) => Next::Done(reply),
            _ if self.uri_changed => Next::Relocate,
            _ => Next::Continue,
        }
    }

    /// Notice lines of `rewrite_log on`.
    fn rewrite_notice(&self, msg: &str) {
        crate::http::errlog::log(self, crate::log::Level::Notice, msg);
    }

    /// The script codes in order (nginx: the engine loop): `None` when they ran to the end,
    /// `Some(None)` when one stopped the script, `Some(Some(reply))` when it answered.
    fn codes(&mut self, script: &Script, log: bool) -> Option<Option<Reply>> {
        let lossy = |s: &[u8]| String::from_utf8_lossy(s).into_owned();
        for code in script {
            match code {
                Code::Return { status, text, lit } => {
                    // nginx: ngx_http_script_return_code.
                    let text = text.as_ref().filter(|t| !t.parts.is_empty());
                    if self.sub != 0 && text.is_none() && *status < 300 {
                        // nginx: ngx_http_send_response sends only the header of an empty
                        // text in a subrequest (no last buffer: a Lua capture is truncated).
                        self.status = *status;
                        self.discarded = true;
                        let mut r = Reply::status(*status);
                        r.length = Some(0);
                        r.default_type = true;
                        return Some(Some(r));
                    }
                    if *status < 400 || text.is_some() || *status == 444 {
                        // nginx: ngx_http_send_response sets the status before the text
                        // is evaluated (`$status` in it is the answer's).
                        self.status = *status;
                        self.discarded = true;
                        let body = match lit {
                            Some(l) => l.clone(),
                            None => text.map(|t| self.eval(t)).unwrap_or_default().into(),
                        };
                        return Some(Some(Reply::ret(*status, Some(body))));
                    }
                    return Some(Some(Reply::status(*status)));
                }
                Code::Set { name, value } => {
                    let v = self.expand(value, self.quoted_uri);
                    let name = name.to_ascii_lowercase();
                    if name == b"args" {
                        self.args = v;
                        // nginx: ngx_http_variable_set_args: a proxy rebuilds the URI
                        self.valid_unparsed_uri = false;
                    } else {
                        self.vars.insert(name, v);
                    }
                }
                Code::Break => {
                    self.uri_changed = false;
                    return Some(None);
                }
                Code::SetByLua(x) => {
                    if let Some(reply) = crate::http::lua::run_set(self, x) {
                        return Some(Some(reply));
                    }
                }
                Code::SetMisc(x) => {
                    if let Some(reply) = crate::http::set_misc::run(self, x) {
                        return Some(Some(reply));
                    }
                }
                Code::Rewrite(rw) => {
                    let uri = self.uri.clone();
                    if !self.capture(&rw.regex, &uri) {
                        if log {
                            self.rewrite_notice(&format!(
                                "\"{}\" does not match \"{}\"",
                                lossy(&rw.pattern),
                                lossy(&uri)
                            ));
                        }
                        *self.captures.borrow_mut() = None;
                        continue;
                    }
                    if log {
                        self.rewrite_notice(&format!(
                            "\"{}\" matches \"{}\"",
                            lossy(&rw.pattern),
                            lossy(&uri)
                        ));
                    }
                    if let Some(status) = rw.redirect {
                        // nginx: ngx_http_script_regex_end_code's redirect branch.
                        let buf = self.expand(&rw.uri, self.quoted_uri);
                        let mut buf = crate::http::vars_runtime::unescape_redirect(&buf);
                        if rw.add_args && !self.args.is_empty() {
                            buf.push(if rw.question { b'&' } else { b'?' });
                            buf.extend_from_slice(&self.args);
                        }
                        if log {
                            self.rewrite_notice(&format!(
                                "rewritten redirect: \"{}\"",
                                lossy(&buf)
                            ));
                        }
                        return Some(Some(Reply::ret(status, Some(buf))));
                    }
                    let new_uri = self.expand(&rw.uri, false);
                    match &rw.args {
                        Some(a) => {
                            let mut args = self.expand(a, self.quoted_uri);
                            if rw.add_args && !self.args.is_empty() {
                                args.push(b'&');
                                args.extend_from_slice(&self.args);
                            }
                            self.args = args;
                        }
                        None if !rw.add_args => self.args.clear(),
                        None => {}
                    }
                    if log {
                        self.rewrite_notice(&format!(
                            "rewritten data: \"{}\", args: \"{}\"",
                            lossy(&new_uri),
                            lossy(&self.args)
                        ));
                    }
                    if new_uri.is_empty() {
                        crate::http::errlog::request_error(
                            self,
                            "the rewritten URI has a zero length",
                        );
                        return Some(Some(Reply::status(500)));
                    }
                    self.uri = new_uri;
                    self.internal = true;
                    self.valid_unparsed_uri = false;
                    match rw.flag {
                        RewriteFlag::Break => {
                            self.valid_location = false;
                            self.uri_changed = false;
                            return Some(None);
                        }
                        RewriteFlag::Last => {
                            self.uri_changed = true;
                            return Some(None);
                        }
                        _ => self.uri_changed = true,
                    }
                }
                Code::If { cond, conf, script } => {
                    if self.test(cond, log) {
                        if let Some(c) = conf {
                            self.loc = c.clone();
                        }
                        if let Some(end) = self.codes(script, log) {
                            return Some(end);
                        }
                    }
                }
            }
        }
        None
    }

    /// nginx: the `if` condition codes (var, equal, regex test, file).
    fn test(&mut self, cond: &Cond, log: bool) -> bool {
        let truthy = |v: &[u8]| !(v.is_empty() || v == b"0");
        match cond {
            Cond::Var(name) => truthy(&self.variable(name).unwrap_or_default()),
            Cond::Eq { var, to, negate } => {
                let v = self.variable(var).unwrap_or_default();
                (v == self.eval(to)) != *negate
            }
            Cond::Match {
                var,
                regex,
                pattern,
                negate,
            } => {
                let v = self.variable(var).unwrap_or_default();
                let matched = self.capture(regex, &v);
                if log {
                    let what = if matched { "matches" } else { "does not match" };
                    self.rewrite_notice(&format!(
                        "\"{}\" {what} \"{}\"",
                        String::from_utf8_lossy(pattern),
                        String::from_utf8_lossy(&v)
                    ));
                }
                if !matched {
                    *self.captures.borrow_mut() = None;
                }
                matched != *negate
            }
            Cond::File { path, test, negate } => {
                let p = crate::http::static_file::os_path(&self.eval(path));
                let m = std::fs::metadata(&p);
                let ok = match test {
                    FileTest::File => m.map(|m| m.is_file()).unwrap_or(false),
                    FileTest::Dir => m.map(|m| m.is_dir()).unwrap_or(false),
                    FileTest::Exists => m.is_ok(),
                    FileTest::Exec => {
                        // nginx: ngx_is_exec: the owner's execute bit.
                        use std::os::unix::fs::PermissionsExt;
                        m.map(|m| m.permissions().mode() & 0o100 != 0)
                            .unwrap_or(false)
                    }
                };
                ok != *negate
            }
        }
    }

    /// Matches `re` on `subject`, keeping the captures (nginx: ngx_http_regex_exec).
    pub(crate) fn capture(&mut self, re: &Regex, subject: &[u8]) -> bool {
        let Some(caps) = regex_exec(re, subject) else {
            return false;
        };
        for (name, v) in named_captures(re, &caps) {
            self.vars.insert(name, v);
        }
        *self.captures.borrow_mut() = Some(caps);
        true
    }

    /// A regex match while a variable is evaluated (a `map`): its captures become the
    /// request's, its named captures variables (nginx: ngx_http_regex_exec).
    pub(crate) fn regex_match(&self, re: &Regex, subject: &[u8]) -> bool {
        let Some(caps) = regex_exec(re, subject) else {
            return false;
        };
        let mut lazy = self.lazy.borrow_mut();
        for (name, v) in named_captures(re, &caps) {
            lazy.insert(name, Some(v));
        }
        *self.captures.borrow_mut() = Some(caps);
        true
    }

    /// Evaluates a complex value (nginx: ngx_http_complex_value).
    pub(crate) fn eval(&self, v: &ComplexValue) -> Vec<u8> {
        self.expand(v, false)
    }

    /// nginx: the script value codes; `escape`: captures are escaped as arguments
    /// (ngx_http_script_copy_capture_code when the request URI was quoted).
    pub(crate) fn expand(&self, v: &ComplexValue, escape: bool) -> Vec<u8> {
        if let [Part::Lit(l)] = &v.parts[..] {
            return l.to_vec();
        }
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
                    let Some((subject, offsets)) = caps.as_ref() else {
                        continue;
                    };
                    if let Some(Some((s, e))) = offsets.get(usize::from(*n)) {
                        let c = subject.get(*s..*e).unwrap_or_default();
                        if escape {
                            out.extend_from_slice(&crate::http::vars_runtime::escape_args(c));
                        } else {
                            out.extend_from_slice(c);
                        }
                    }
                }
            }
        }
        out
    }

    /// A variable's value (nginx: ngx_http_get_variable); `None` is "not found". `set`
    /// values first, then the per-request cache of lazy variables, then the built-ins.
    pub(crate) fn variable(&self, name: &[u8]) -> Option<Vec<u8>> {
        let name = name.to_ascii_lowercase();
        if let Some(v) = self.vars.get(&name) {
            return Some(v.clone());
        }
        if let Some(v) = self.lazy.borrow().get(&name) {
            return v.clone();
        }
        if let Some(src) = self.http.lazy_vars.get(&name).cloned() {
            let depth = self.depth.get();
            if depth == 0 {
                crate::http::errlog::request_error(
                    self,
                    &format!(
                        "cycle while evaluating variable \"{}\"",
                        String::from_utf8_lossy(&name)
                    ),
                );
                return None;
            }
            self.depth.set(depth - 1);
            let v = crate::http::vars_runtime::evaluate(self, &src);
            self.depth.set(depth);
            if src.cacheable() {
                self.lazy.borrow_mut().insert(name, v.clone());
            }
            return v;
        }
        if name == b"request_id" {
            let id = crate::http::vars_runtime::request_id(self);
            self.lazy.borrow_mut().insert(name, Some(id.clone()));
            return Some(id);
        }
        if name.starts_with(b"echo_") {
            if let Some(v) = crate::http::echo::variable(self, &name) {
                return Some(v);
            }
        }
        if let Some(v) = crate::http::vars_runtime::get(self, &name) {
            return Some(v);
        }
        if self.http.set_vars.contains(&name) && self.loc.uninitialized_variable_warn != Some(false)
        {
            // nginx: ngx_http_rewrite_var.
            crate::http::errlog::log(
                self,
                crate::log::Level::Warn,
                &format!(
                    "using uninitialized \"{}\" variable",
                    String::from_utf8_lossy(&name)
                ),
            );
        }
        None
    }

    /// nginx: ngx_http_internal_redirect.
    pub(crate) async fn internal_redirect(&mut self, uri: Vec<u8>, args: Option<Vec<u8>>) -> Reply {
        self.uri = uri;
        if let Some(a) = args {
            self.args = a;
        }
        self.internal = true;
        self.valid_unparsed_uri = false;
        self.valid_location = true;
        Box::pin(self.phases(true)).await
    }

    /// nginx: ngx_http_named_location.
    pub(crate) async fn named_location(&mut self, name: &[u8]) -> Reply {
        let Some(loc) = self.server.named.get(name).cloned() else {
            crate::http::errlog::request_error(
                self,
                &format!(
                    "could not find named location \"{}\"",
                    String::from_utf8_lossy(name)
                ),
            );
            return Reply::status(500);
        };
        self.internal = true;
        self.loc = loc.conf.clone();
        self.location = Some(loc.clone());
        match self.script(&loc.script) {
            Next::Done(r) => r,
            Next::Relocate => Box::pin(self.phases(false)).await,
            Next::Continue => match Box::pin(crate::http::fastcgi_run::content(self)).await {
                Some(r) => r,
                None => match Box::pin(crate::http::proxy_run::content(self)).await {
                    Some(r) => r,
                    None => match Box::pin(crate::http::lua::content(self)).await {
                        Some(r) => r,
                        None => match Box::pin(crate::http::echo::content(self)).await {
                            Some(r) => r,
                            None => crate::http::static_file::content(self).await,
                        },
                    },
                },
            },
        }
    }

    /// nginx: ngx_http_filter_finalize_request: a header filter ends the request with a
    /// status; its special response or error page answers instead.
    pub(crate) async fn filter_finalize(&mut self, reply: Reply) -> Reply {
        Box::pin(self.finalize(reply)).await
    }

    /// nginx: ngx_http_finalize_request's special responses and error pages
    /// (ngx_http_special_response_handler).
    async fn finalize(&mut self, mut reply: Reply) -> Reply {
        let status = reply.status;
        if reply.body.is_some() || status < 300 || status == 304 {
            return reply;
        }
        if matches!(status, 408 | 499) {
            // nginx: ngx_http_finalize_request terminates the request: no response at all
            // (the log still shows the status).
            reply.drop = true;
            return reply;
        }
        self.err_status = status;
        // nginx: ngx_http_special_response_handler: `r->headers_out.status` is the error's
        // while an error page runs (Lua's ngx.status reads it).
        self.status = status;
        // nginx: a terminated request (the client went away, 444) gets no error page
        if reply.drop {
            return reply;
        }
        if !self.error_page || self.loc.recursive_error_pages == Some(true) {
            let page = self
                .loc
                .error_pages
                .as_ref()
                .and_then(|p| p.iter().find(|p| p.status == status).cloned());
            if let Some(page) = page {
                self.error_page = true;
                // nginx: ngx_http_send_error_page: `=code` answers with code, `=` with the
                // page's own status, no `=` with the error's.
                let overwrite = page.overwrite;
                match overwrite {
                    Some(c) => self.err_status = c.unwrap_or(0),
                    None => self.err_status = status,
                }
                let uri = self.eval(&page.uri);
                // nginx: an internal redirect keeps r->headers_out, so the headers the error
                // already set (WWW-Authenticate of auth_basic or an intercepted 401) stay.
                let kept = std::mem::take(&mut reply.headers);
                if uri.starts_with(b"@") {
                    let r = Box::pin(self.named_location(&uri)).await;
                    return keep_headers(Box::pin(self.finalize_page(r)).await, kept);
                }
                if uri.starts_with(b"/") {
                    let (path, args) = match uri.iter().position(|&c| c == b'?') {
                        Some(i) => (uri[..i].to_vec(), Some(uri[i + 1..].to_vec())),
                        // nginx: ngx_http_send_error_page: no `?`, no arguments.
                        None => (uri, Some(Vec::new())),
                    };
                    if self.method != Method::HEAD {
                        self.method = Method::GET;
                    }
                    let r = self.internal_redirect(path, args).await;
                    return keep_headers(Box::pin(self.finalize_page(r)).await, kept);
                }
                let code = match overwrite {
                    Some(Some(c)) if matches!(c, 301 | 302 | 303 | 307 | 308) => c,
                    _ => 302,
                };
                self.err_status = code;
                return Reply::ret(code, Some(uri));
            }
        }
        reply
    }

    /// The status an error page answers with: a special response of the page is an error of
    /// its own; otherwise nginx's ngx_http_send_header puts `r->err_status` (`=code`, the
    /// original error, or zero for `=`) in place of the page's status.
    async fn finalize_page(&mut self, mut r: Reply) -> Reply {
        if r.body.is_none() && r.status >= 300 && r.status != 304 {
            return Box::pin(self.finalize(r)).await;
        }
        if self.err_status != 0 {
            r.status = self.err_status;
        }
        r
    }

    /// The absolute URI's host or the `Host` without port (nginx: `r->headers_in.server`),
    /// or the server name.
    pub(crate) fn host(&self) -> Vec<u8> {
        self.host_in
            .clone()
            .unwrap_or_else(|| self.server.name.clone())
    }

    /// The `Host` request header was set or cleared after the head was read (lua-nginx-module:
    /// ngx_http_lua_set_host_header): `$host` follows it.
    pub(crate) fn reset_host(&mut self, h: Option<&[u8]>) {
        self.host_in = h.and_then(validate_host);
    }

    /// `$status` (nginx: ngx_http_variable_status): the error being answered, else the
    /// response's status.
    pub(crate) fn status_var(&self) -> u16 {
        if self.err_status != 0 {
            self.err_status
        } else {
            self.status
        }
    }
}

/// nginx: ngx_regex_exec: the subject and capture offsets of a match.
pub(crate) fn regex_exec(re: &Regex, subject: &[u8]) -> Option<Captures> {
    let caps = re.re.captures(subject).ok()??;
    let offsets = (0..caps.len())
        .map(|i| caps.get(i).map(|m| (m.start(), m.end())))
        .collect();
    Some((subject.to_vec(), offsets))
}

/// The named captures of a match, as variables (lower-case names).
fn named_captures(re: &Regex, caps: &Captures) -> Vec<(Vec<u8>, Vec<u8>)> {
    let Ok(Some(m)) = re.re.captures(&caps.0) else {
        return Vec::new();
    };
    re.names
        .iter()
        .map(|n| {
            let v = m.name(n).map(|c| c.as_bytes().to_vec()).unwrap_or_default();
            (n.to_ascii_lowercase().into_bytes(), v)
        })
        .collect()
}

/// The path and query a head's target gives the URI (`%XX` for bytes outside RFC 3986's
/// set: the decoded path is the same), and the absolute URI's host. A refused head's
/// target is "/"; a target of 64 KiB or more is "/" too (the limit of the `Uri` type the
/// request line went through before).
fn target_of(h: &crate::http::head::Head) -> (std::borrow::Cow<'_, [u8]>, Option<&[u8]>) {
    use crate::http::head::{push_target, target_len};
    use std::borrow::Cow;
    let root = (Cow::Borrowed(&b"/"[..]), None);
    if h.error.is_some() {
        return root;
    }
    if h.version == 2000 {
        // HTTP/2: hyper's URI already (`:path`, `:authority`).
        return (Cow::Borrowed(&h.target[..]), h.line_host.as_deref());
    }
    let host = h.line_host.as_deref().filter(|_| h.version != 9);
    let len = target_len(&h.target);
    if host.map_or(0, |x| x.len() + 7) + len > 65534 {
        return root;
    }
    if len == h.target.len() {
        return (Cow::Borrowed(&h.target[..]), host);
    }
    let mut t = Vec::with_capacity(len);
    push_target(&mut t, &h.target);
    (Cow::Owned(t), host)
}

/// nginx: ngx_http_validate_host: lower-cased, port and trailing dot removed.
pub(crate) fn validate_host(h: &[u8]) -> Option<Vec<u8>> {
    // (The part kept is found first, in one pass over a name: one copy, lower-cased, of
    // only that.)
    let mut end = h.len();
    if h.first() == Some(&b'[') {
        end = h.iter().position(|&c| c == b']')? + 1;
        if h[..end].contains(&b'/') {
            return None;
        }
    } else {
        for (i, &c) in h.iter().enumerate() {
            match c {
                b':' => {
                    end = i;
                    break;
                }
                b'/' => return None,
                _ => {}
            }
        }
    }
    host_part(h, end)
}

/// nginx: the end of ngx_http_validate_host: `h[..end]` without its trailing dots,
/// lower-cased; `None` when that is empty or starts with a dot.
pub(crate) fn host_part(h: &[u8], mut end: usize) -> Option<Vec<u8>> {
    while end > 0 && h[end - 1] == b'.' {
        end -= 1;
    }
    let host = &h[..end];
    if host.first().is_none_or(|&c| c == b'.') {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

/// A selected server and, when a `server_name` regex chose it, that match's captures and named
/// captures (nginx: ngx_http_regex_exec on the request sets `$1` and `$name`).
type Found = (Arc<Server>, Option<(Captures, Vec<(Vec<u8>, Vec<u8>)>)>);

/// nginx: ngx_http_find_virtual_server: exact (a server without `server_name` has the name
/// ""), leading wildcard, trailing wildcard, then regexes in order (not for an empty host).
/// The index in [`Http::servers`] of the server `host` names among `servers` (the TLS
/// handshake's SNI lookup, nginx: ngx_http_ssl_servername).
pub(crate) fn find_server_index(http: &Http, servers: &[usize], host: &[u8]) -> Option<usize> {
    let (s, _) = find_server(http, servers, host)?;
    http.servers.iter().position(|x| Arc::ptr_eq(x, &s))
}

fn find_server(http: &Http, servers: &[usize], host: &[u8]) -> Option<Found> {
    let candidates = || servers.iter().filter_map(|&i| http.servers.get(i));
    for s in candidates() {
        let exact = |n: &ServerName| matches!(n, ServerName::Exact(e) if e == host);
        if s.names.iter().any(exact) || (host.is_empty() && s.names.is_empty()) {
            return Some((s.clone(), None));
        }
    }
    let mut best: Option<(usize, &Arc<Server>)> = None;
    for s in candidates() {
        for n in &s.names {
            if let ServerName::Head { suffix, dot } = n {
                let hit = host.ends_with(suffix) || (*dot && host == &suffix[1..]);
                if hit && best.is_none_or(|(len, _)| suffix.len() > len) {
                    best = Some((suffix.len(), s));
                }
            }
        }
    }
    if let Some((_, s)) = best {
        return Some((s.clone(), None));
    }
    for s in candidates() {
        for n in &s.names {
            if let ServerName::Tail(head) = n {
                if host.starts_with(head) {
                    return Some((s.clone(), None));
                }
            }
        }
    }
    if host.is_empty() {
        return None;
    }
    for s in candidates() {
        for n in &s.names {
            if let ServerName::Regex(re) = n {
                if let Some(caps) = regex_exec(re, host) {
                    let named = named_captures(re, &caps);
                    return Some((s.clone(), Some((caps, named))));
                }
            }
        }
    }
    None
}

/// nginx: ngx_http_core_find_location (static locations, then regexes unless `^~` or `=`).
fn find_location(r: &mut Request, locs: &Locations, auto_redirect: &mut bool) -> bool {
    let uri = &r.uri;
    let mut exact = None;
    let mut prefix: Option<&Arc<Location>> = None;
    for l in &locs.statics {
        match l.kind {
            LocKind::Exact if l.name == *uri => exact = Some(l),
            LocKind::Prefix { .. }
                if uri.starts_with(&l.name)
                    && prefix.is_none_or(|p| l.name.len() > p.name.len()) =>
            {
                prefix = Some(l);
            }
            _ => {}
        }
    }
    let _ = auto_redirect;
    if let Some(l) = exact {
        r.loc = l.conf.clone();
        r.location = Some(l.clone());
        return true;
    }
    let mut noregex = false;
    if let Some(l) = prefix {
        r.loc = l.conf.clone();
        r.location = Some(l.clone());
        noregex = matches!(l.kind, LocKind::Prefix { noregex: true });
        let l = l.clone();
        if find_location(r, &l.locations, auto_redirect) {
            return true;
        }
    }
    if !noregex && !locs.regexes.is_empty() {
        // (The captures go into the request: the subject is a copy.)
        let uri = r.uri.clone();
        for l in &locs.regexes {
            if let LocKind::Regex(re) = &l.kind {
                if r.capture(re, &uri) {
                    r.loc = l.conf.clone();
                    r.location = Some(l.clone());
                    let l = l.clone();
                    find_location(r, &l.locations, auto_redirect);
                    return true;
                }
            }
        }
    }
    false
}

/// A path `normalize_uri` leaves as it is: no `%`, no empty segment but a trailing one
/// (no `//`), no `.` or `..` segment.
fn plain_path(path: &[u8]) -> bool {
    if path.contains(&b'%') {
        return false;
    }
    let mut segs = path[1..].split(|&c| c == b'/').peekable();
    while let Some(seg) = segs.next() {
        let last = segs.peek().is_none();
        if (seg.is_empty() && !last) || seg == b"." || seg == b".." {
            return false;
        }
    }
    true
}

/// nginx: ngx_http_parse_complex_uri: `%XX` decoded, `//` merged (with `merge_slashes`),
/// `.` and `..` resolved; `None` where nginx answers 400.
pub(crate) fn normalize_uri(path: &[u8], merge_slashes: bool) -> Option<Vec<u8>> {
    if !path.starts_with(b"/") {
        return None;
    }
    if plain_path(path) {
        // Nothing to decode, merge or resolve: the path is its own normal form.
        return Some(path.to_vec());
    }
    let mut decoded = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let c = path[i];
        if c == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let (Some(h), Some(l)) = (
                path.get(i + 1).and_then(|&c| hex(c)),
                path.get(i + 2).and_then(|&c| hex(c)),
            ) else {
                return None;
            };
            let b = (h * 16 + l) as u8;
            if b == 0 {
                return None;
            }
            decoded.push(b);
            i += 3;
            continue;
        }
        decoded.push(c);
        i += 1;
    }
    let mut out: Vec<u8> = Vec::with_capacity(decoded.len());
    if !merge_slashes {
        // Every `/` starts a segment, empty ones included.
        let mut segs: Vec<&[u8]> = Vec::new();
        for seg in decoded.split(|&c| c == b'/').skip(1) {
            match seg {
                b"." => {}
                b".." => {
                    segs.pop()?;
                }
                s => segs.push(s),
            }
        }
        for s in segs {
            out.push(b'/');
            out.extend_from_slice(s);
        }
    }
    for seg in decoded
        .split(|&c| c == b'/')
        .skip(1)
        .filter(|_| merge_slashes)
    {
        match seg {
            b"" | b"." => {
                if out.last() != Some(&b'/') {
                    out.push(b'/');
                }
            }
            b".." => {
                if out.is_empty() {
                    return None;
                }
                if out.last() == Some(&b'/') {
                    out.pop();
                }
                let cut = out.iter().rposition(|&c| c == b'/')?;
                out.truncate(cut + 1);
            }
            s => {
                if out.last() != Some(&b'/') {
                    out.push(b'/');
                }
                out.extend_from_slice(s);
            }
        }
    }
    if out.is_empty() {
        out.push(b'/');
    }
    if (decoded.ends_with(b"/.") || decoded.ends_with(b"/..")) && out.last() != Some(&b'/') {
        out.push(b'/');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{normalize_uri, validate_host};

    #[test]
    fn plain_paths_are_their_own_normal_form() {
        // The fast path (`plain_path`) must agree with the full algorithm.
        let slow = |p: &[u8], m: bool| {
            let mut q = p.to_vec();
            // A `%2F`-free encoding of the first byte after `/` forces the full path.
            q.splice(1..1, b"%41".iter().copied());
            normalize_uri(&q, m).map(|mut v| {
                v.remove(1);
                v
            })
        };
        for p in [
            "/", "/a", "/a/", "/a/b", "/a/b/", "/a.b/c", "/.a/b", "/a../", "/...", "/a/...",
        ] {
            for m in [true, false] {
                assert!(super::plain_path(p.as_bytes()), "{p}");
                assert_eq!(
                    normalize_uri(p.as_bytes(), m),
                    slow(p.as_bytes(), m),
                    "{p} {m}"
                );
            }
        }
        for p in ["//", "/a//b", "/./", "/a/.", "/a/..", "/%41", "/a/../b"] {
            assert!(!super::plain_path(p.as_bytes()), "{p}");
        }
    }

    #[test]
    fn uri_normalisation() {
        for (i, o) in [
            ("/", Some("/")),
            ("/a//b", Some("/a/b")),
            ("/a/./b", Some("/a/b")),
            ("/a/../b", Some("/b")),
            ("/a/b/..", Some("/a/")),
            ("/..", None),
            ("/%2e%2e/x", None),
            ("/a%20b", Some("/a b")),
            ("/a%zz", None),
            ("x", None),
        ] {
            assert_eq!(
                normalize_uri(i.as_bytes(), true).map(|v| String::from_utf8_lossy(&v).into_owned()),
                o.map(String::from),
                "{i}"
            );
        }
        for (i, o) in [
            ("/x//y", Some("/x//y")),
            ("/x/.//y/", Some("/x//y/")),
            ("//a/../b", Some("//b")),
            ("/a//..", Some("/a/")),
            ("/x//./y", Some("/x//y")),
            ("/x/.", Some("/x/")),
            ("/a/../..", None),
        ] {
            assert_eq!(
                normalize_uri(i.as_bytes(), false)
                    .map(|v| String::from_utf8_lossy(&v).into_owned()),
                o.map(String::from),
                "{i} (merge_slashes off)"
            );
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(
            validate_host(b"Example.COM:8080"),
            Some(b"example.com".to_vec())
        );
        assert_eq!(
            validate_host(b"example.com."),
            Some(b"example.com".to_vec())
        );
        assert_eq!(validate_host(b"[::1]:80"), Some(b"[::1]".to_vec()));
        assert_eq!(validate_host(b"a/b"), None);
        // The port part is not looked at; the name's dots and brackets are.
        assert_eq!(validate_host(b"a:80/x"), Some(b"a".to_vec()));
        assert_eq!(validate_host(b"A.b..:1"), Some(b"a.b".to_vec()));
        for bad in [&b""[..], b".a", b"...", b":80", b"[::1", b"[a/b]:80"] {
            assert_eq!(validate_host(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
