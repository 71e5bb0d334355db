//! One request through nginx's phases (nginx: ngx_http_request.c, ngx_http_core_module.c's
//! phase checkers): server selection, server rewrite, find config, rewrite, post-rewrite,
//! access, try_files, content, error pages, headers, log.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Version};

use super::lower::{
    Code, Cond, FileTest, Http, LocConf, LocKind, Location, Locations, RewriteFlag, Script, Server,
    ServerName,
};
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
}

/// A request being processed (nginx: ngx_http_request_t, the parts used so far).
pub(crate) struct Request {
    pub(crate) http: Arc<Http>,
    pub(crate) conn: Conn,
    pub(crate) method: Method,
    pub(crate) version: Version,
    /// The request line's target, as sent.
    pub(crate) request_uri: Vec<u8>,
    /// The normalized, decoded path (nginx: `r->uri`).
    pub(crate) uri: Vec<u8>,
    /// The query string (nginx: `r->args`).
    pub(crate) args: Vec<u8>,
    pub(crate) headers: HeaderMap,
    pub(crate) server: Arc<Server>,
    pub(crate) loc: Arc<LocConf>,
    /// The matched location (for alias).
    pub(crate) location: Option<Arc<Location>>,
    /// `set` variables and named captures (nginx: `r->variables` for changeable ones).
    pub(crate) vars: HashMap<Vec<u8>, Vec<u8>>,
    /// The last regex match (nginx: `r->captures`).
    pub(crate) captures: Option<Captures>,
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
    /// The request as received; `None` when the configuration has no server for it.
    pub(crate) fn new(
        http: Arc<Http>,
        conn: Conn,
        req: &hyper::Request<hyper::body::Incoming>,
    ) -> Option<Request> {
        let request_uri = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().as_bytes().to_vec())
            .unwrap_or_else(|| b"/".to_vec());
        let (path, args) = match request_uri.iter().position(|&c| c == b'?') {
            Some(i) => (&request_uri[..i], request_uri[i + 1..].to_vec()),
            None => (&request_uri[..], Vec::new()),
        };
        let (uri, bad) = match normalize_uri(path) {
            Some(u) => (u, None),
            None => (path.to_vec(), Some(400)),
        };
        let addr = http.addrs.get(conn.addr);
        let default = addr.map_or(0, |a| a.default_server);
        let host = host_of(req);
        let server = addr
            .and_then(|a| find_server(&http, &a.servers, host.as_deref()))
            .or_else(|| http.servers.get(default).cloned())?;
        let loc = server.conf.clone();
        Some(Request {
            http,
            bad,
            conn,
            method: req.method().clone(),
            version: req.version(),
            request_uri,
            uri,
            args,
            headers: req.headers().clone(),
            server,
            loc,
            location: None,
            vars: HashMap::new(),
            captures: None,
            internal: false,
            uri_changes: 11,
            start: SystemTime::now(),
            error_page: false,
            status: 0,
            body_bytes_sent: 0,
        })
    }

    /// nginx: ngx_http_core_run_phases, then the error pages of ngx_http_finalize_request.
    pub(crate) async fn run(&mut self) -> Reply {
        if let Some(status) = self.bad {
            let mut r = Reply::status(status);
            r.close = true;
            return r;
        }
        let reply = self.phases(true).await;
        self.finalize(reply).await
    }

    /// From server rewrite to content (nginx: ngx_http_core_run_phases from `phase`).
    async fn phases(&mut self, server_rewrite: bool) -> Reply {
        if server_rewrite {
            let script = self.server.script.clone();
            if let Next::Done(r) = self.script(&script) {
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
            // content
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
        None
    }

    /// Runs a level's rewrite instructions (nginx: ngx_http_rewrite_handler).
    fn script(&mut self, script: &Script) -> Next {
        for code in script {
            match code {
                Code::Return { status, text } => {
                    let text = text.as_ref().map(|t| self.eval(t));
                    return Next::Done(Reply::ret(*status, text));
                }
                Code::Set { name, value } => {
                    let v = self.eval(value);
                    self.vars.insert(name.to_ascii_lowercase(), v);
                }
                Code::Break => return Next::Continue,
                Code::Rewrite {
                    regex,
                    replacement,
                    flag,
                } => {
                    if !self.capture(regex, &self.uri.clone()) {
                        continue;
                    }
                    let mut target = self.eval(replacement);
                    let external = target.starts_with(b"http://")
                        || target.starts_with(b"https://")
                        || target.starts_with(b"$scheme");
                    let redirect =
                        matches!(flag, RewriteFlag::Redirect | RewriteFlag::Permanent) || external;
                    if redirect {
                        if !self.args.is_empty() && !target.contains(&b'?') {
                            target.push(b'?');
                            target.extend_from_slice(&self.args);
                        }
                        let status = if *flag == RewriteFlag::Permanent {
                            301
                        } else {
                            302
                        };
                        return Next::Done(Reply::ret(status, Some(target)));
                    }
                    let (path, args) = match target.iter().position(|&c| c == b'?') {
                        Some(i) => (target[..i].to_vec(), Some(target[i + 1..].to_vec())),
                        None => (target, None),
                    };
                    self.uri = path;
                    if let Some(a) = args {
                        self.args = a;
                    }
                    match flag {
                        RewriteFlag::Last => return Next::Relocate,
                        RewriteFlag::Break => return Next::Continue,
                        _ => {}
                    }
                }
                Code::If { cond, conf, script } => {
                    if self.test(cond) {
                        self.loc = conf.clone();
                        return self.script(script);
                    }
                }
            }
        }
        Next::Continue
    }

    /// nginx: the `if` condition codes.
    fn test(&mut self, cond: &Cond) -> bool {
        match cond {
            Cond::Var(v) => {
                let v = self.eval(v);
                !(v.is_empty() || v == b"0")
            }
            Cond::Eq { value, to, negate } => (self.eval(value) == self.eval(to)) != *negate,
            Cond::Match {
                value,
                regex,
                negate,
            } => {
                let v = self.eval(value);
                self.capture(regex, &v) != *negate
            }
            Cond::File { path, test, negate } => {
                let p = crate::http::static_file::os_path(&self.eval(path));
                let m = std::fs::metadata(&p);
                let ok = match test {
                    FileTest::File => m.map(|m| m.is_file()).unwrap_or(false),
                    FileTest::Dir => m.map(|m| m.is_dir()).unwrap_or(false),
                    FileTest::Exists => m.is_ok(),
                    FileTest::Exec => {
                        use std::os::unix::fs::PermissionsExt;
                        m.map(|m| m.permissions().mode() & 0o111 != 0)
                            .unwrap_or(false)
                    }
                };
                ok != *negate
            }
        }
    }

    /// Matches `re` on `subject`, keeping the captures (nginx: ngx_http_regex_exec).
    pub(crate) fn capture(&mut self, re: &Regex, subject: &[u8]) -> bool {
        let Ok(Some(caps)) = re.re.captures(subject) else {
            return false;
        };
        let offsets: Vec<Option<(usize, usize)>> = (0..caps.len())
            .map(|i| caps.get(i).map(|m| (m.start(), m.end())))
            .collect();
        for name in &re.names {
            if let Some(m) = caps.name(name) {
                self.vars.insert(
                    name.to_ascii_lowercase().into_bytes(),
                    m.as_bytes().to_vec(),
                );
            }
        }
        self.captures = Some((subject.to_vec(), offsets));
        true
    }

    /// Evaluates a complex value (nginx: ngx_http_complex_value).
    pub(crate) fn eval(&self, v: &ComplexValue) -> Vec<u8> {
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
                    if let Some((subject, caps)) = &self.captures {
                        if let Some(Some((s, e))) = caps.get(usize::from(*n)) {
                            out.extend_from_slice(&subject[*s..*e]);
                        }
                    }
                }
            }
        }
        out
    }

    /// A variable's value (nginx: ngx_http_get_variable); `None` is "not found".
    pub(crate) fn variable(&self, name: &[u8]) -> Option<Vec<u8>> {
        let name = name.to_ascii_lowercase();
        if let Some(v) = self.vars.get(&name) {
            return Some(v.clone());
        }
        crate::http::vars_runtime::get(self, &name)
    }

    /// nginx: ngx_http_internal_redirect.
    pub(crate) async fn internal_redirect(&mut self, uri: Vec<u8>, args: Option<Vec<u8>>) -> Reply {
        self.uri = uri;
        if let Some(a) = args {
            self.args = a;
        }
        self.internal = true;
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
            Next::Continue => crate::http::static_file::content(self).await,
        }
    }

    /// nginx: ngx_http_finalize_request's special responses and error pages
    /// (ngx_http_special_response_handler).
    async fn finalize(&mut self, reply: Reply) -> Reply {
        let status = reply.status;
        if reply.body.is_some() || status < 300 || status == 304 {
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
                let uri = self.eval(&page.uri);
                let overwrite = page.overwrite;
                if uri.starts_with(b"@") {
                    let r = Box::pin(self.named_location(&uri)).await;
                    return Box::pin(self.finalize_page(r, status, overwrite)).await;
                }
                if uri.starts_with(b"/") {
                    let (path, args) = match uri.iter().position(|&c| c == b'?') {
                        Some(i) => (uri[..i].to_vec(), Some(uri[i + 1..].to_vec())),
                        None => (uri, None),
                    };
                    if self.method != Method::HEAD {
                        self.method = Method::GET;
                    }
                    let r = self.internal_redirect(path, args).await;
                    return Box::pin(self.finalize_page(r, status, overwrite)).await;
                }
                let code = match overwrite {
                    Some(Some(c)) if matches!(c, 301 | 302 | 303 | 307 | 308) => c,
                    _ => 302,
                };
                return Reply::ret(code, Some(uri));
            }
        }
        reply
    }

    /// The status an error page answers with (`=code`, `=`, or the original error).
    async fn finalize_page(
        &mut self,
        mut r: Reply,
        status: u16,
        overwrite: Option<Option<u16>>,
    ) -> Reply {
        match overwrite {
            Some(Some(code)) => r.status = code,
            Some(None) => {}
            None => {
                if r.status < 300 {
                    r.status = status;
                }
            }
        }
        if r.body.is_none() && r.status >= 300 {
            return Box::pin(self.finalize(r)).await;
        }
        r
    }

    /// The `Host` without port (nginx: `r->headers_in.server`), or the server name.
    pub(crate) fn host(&self) -> Vec<u8> {
        self.headers
            .get(hyper::header::HOST)
            .and_then(|h| validate_host(h.as_bytes()))
            .unwrap_or_else(|| self.server.name.clone())
    }

    /// Response headers every reply gets from this request (nginx: the header filter's
    /// `Server`, the headers module's `add_header`).
    pub(crate) fn response_headers(&self, status: u16, headers: &mut HeaderMap) {
        let add = self.loc.add_headers.clone().unwrap_or_default();
        let applies = matches!(
            status,
            200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
        );
        for h in add.iter().filter(|h| h.always || applies) {
            let value = self.eval(&h.value);
            if value.is_empty() {
                continue;
            }
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(&h.name),
                HeaderValue::from_bytes(&value),
            ) {
                headers.append(n, v);
            }
        }
    }
}

/// The `Host` header or the absolute URI's host, validated (nginx: ngx_http_validate_host).
fn host_of(req: &hyper::Request<hyper::body::Incoming>) -> Option<Vec<u8>> {
    if let Some(h) = req.uri().host() {
        return validate_host(h.as_bytes());
    }
    req.headers()
        .get(hyper::header::HOST)
        .and_then(|h| validate_host(h.as_bytes()))
}

/// nginx: ngx_http_validate_host: lower-cased, port and trailing dot removed.
pub(crate) fn validate_host(h: &[u8]) -> Option<Vec<u8>> {
    let mut host = h.to_ascii_lowercase();
    if host.starts_with(b"[") {
        let end = host.iter().position(|&c| c == b']')?;
        host.truncate(end + 1);
    } else if let Some(i) = host.iter().position(|&c| c == b':') {
        host.truncate(i);
    }
    while host.last() == Some(&b'.') {
        host.pop();
    }
    if host.is_empty() || host.contains(&b'/') || host.starts_with(b".") {
        return None;
    }
    Some(host)
}

/// nginx: ngx_http_find_virtual_server: exact, leading wildcard, trailing wildcard, regex.
fn find_server(http: &Http, servers: &[usize], host: Option<&[u8]>) -> Option<Arc<Server>> {
    let host = host?;
    let candidates = || servers.iter().filter_map(|&i| http.servers.get(i));
    for s in candidates() {
        if s.names
            .iter()
            .any(|n| matches!(n, ServerName::Exact(e) if e == host))
        {
            return Some(s.clone());
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
        return Some(s.clone());
    }
    for s in candidates() {
        for n in &s.names {
            if let ServerName::Tail(head) = n {
                if host.starts_with(head) {
                    return Some(s.clone());
                }
            }
        }
    }
    for s in candidates() {
        for n in &s.names {
            if let ServerName::Regex(re) = n {
                if matches!(re.re.is_match(host), Ok(true)) {
                    return Some(s.clone());
                }
            }
        }
    }
    None
}

/// nginx: ngx_http_core_find_location (static locations, then regexes unless `^~` or `=`).
fn find_location(r: &mut Request, locs: &Locations, auto_redirect: &mut bool) -> bool {
    let uri = r.uri.clone();
    let mut exact = None;
    let mut prefix: Option<&Arc<Location>> = None;
    for l in &locs.statics {
        match l.kind {
            LocKind::Exact if l.name == uri => exact = Some(l),
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
    if !noregex {
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

/// nginx: ngx_http_parse_complex_uri: `%XX` decoded, `//` merged, `.` and `..` resolved;
/// `None` where nginx answers 400.
pub(crate) fn normalize_uri(path: &[u8]) -> Option<Vec<u8>> {
    if !path.starts_with(b"/") {
        return None;
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
    for seg in decoded.split(|&c| c == b'/').skip(1) {
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
                normalize_uri(i.as_bytes()).map(|v| String::from_utf8_lossy(&v).into_owned()),
                o.map(String::from),
                "{i}"
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
    }
}
