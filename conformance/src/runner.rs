//! Running one block against one binary: a fresh prefix, the generated config, the server in
//! the foreground, the requests over raw sockets, every expectation checked, the server stopped
//! (SIGQUIT, then SIGKILL) and the prefix removed. Every wait is bounded.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::conf::{render, ConfParams};
use crate::http::{exchange, parse_response, Response};
use crate::parse::{Block, CaseFile, Header};
use crate::perl::{self, PerlRegex, Value};

/// The nginx version both binaries present (used by `--- skip_nginx`).
const NGINX_VERSION: (u32, u32, u32) = (1, 22, 1);

/// How to run blocks.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The server binary (the reference nginx or oxresty).
    pub binary: PathBuf,
    /// Emit `load_module` lines for the reference's dynamic modules.
    pub load_modules: bool,
    /// Keep each block's prefix directory (for debugging) instead of removing it.
    pub keep_prefix: bool,
    /// Where prefixes are created.
    pub work_dir: PathBuf,
    /// How long the server may take to start listening.
    pub startup_timeout: Duration,
}

impl RunOptions {
    /// Defaults for `binary`: modules loaded, prefixes under the system temp dir, removed.
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        let binary: PathBuf = binary.into();
        // The server runs inside its prefix: a relative binary path must not depend on that.
        let binary = std::fs::canonicalize(&binary).unwrap_or(binary);
        RunOptions {
            binary,
            load_modules: true,
            keep_prefix: std::env::var_os("CONFORMANCE_KEEP").is_some(),
            work_dir: std::env::temp_dir(),
            startup_timeout: Duration::from_secs(5),
        }
    }
}

/// How a block ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every check passed.
    Passed,
    /// At least one check failed (see [`BlockResult::checks`]).
    Failed,
    /// Not run, with the reason (unsupported format feature, `--- SKIP`, ...).
    Skipped(String),
}

/// One checked expectation.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked, e.g. `status code (req 0)`.
    pub name: String,
    /// Whether it held.
    pub ok: bool,
    /// Expected versus got, for failures.
    pub detail: String,
}

/// The result of one block.
#[derive(Debug, Clone)]
pub struct BlockResult {
    /// Case file name.
    pub file: String,
    /// `N` of `TEST N`.
    pub number: usize,
    /// The block name.
    pub name: String,
    /// The verdict.
    pub outcome: Outcome,
    /// Every check made, in order.
    pub checks: Vec<Check>,
}

impl BlockResult {
    /// `file.t TEST N`: the key of the known-failures list.
    pub fn key(&self) -> String {
        format!("{} TEST {}", self.file, self.number)
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.ok)
    }
}

/// Runs every block of `files` with at most `jobs` blocks at a time; results keep file order.
pub fn run_files(files: &[CaseFile], opts: &RunOptions, jobs: usize) -> Vec<BlockResult> {
    let work: Vec<(&CaseFile, &Block)> = files
        .iter()
        .flat_map(|f| f.blocks.iter().map(move |b| (f, b)))
        .collect();
    let results: Mutex<Vec<Option<BlockResult>>> = Mutex::new(vec![None; work.len()]);
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((f, b)) = work.get(i) else { break };
                let r = run_block(f, b, opts);
                if let Ok(mut v) = results.lock() {
                    v[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// Sections whose meaning we implement.
const KNOWN: &[&str] = &[
    "config",
    "http_config",
    "main_config",
    "post_main_config",
    "server_name",
    "user_files",
    "request",
    "request_eval",
    "raw_request",
    "pipelined_requests",
    "more_headers",
    "req_headers",
    "error_code",
    "error_code_like",
    "response_body",
    "response_body_eval",
    "response_body_like",
    "response_body_unlike",
    "response_headers",
    "response_headers_like",
    "raw_response_headers_like",
    "raw_response_headers_unlike",
    "error_log",
    "no_error_log",
    "grep_error_log",
    "grep_error_log_out",
    "shutdown_error_log",
    "timeout",
    "wait",
    "abort",
    "ignore_response",
    "http09",
    "must_die",
    "log_level",
    "ONLY",
    "SKIP",
    "LAST",
    "skip_nginx",
    "skip_nginx2",
    // Test::Nginx::Socket's mock backends (see backend.rs).
    "tcp_listen",
    "tcp_query",
    "tcp_query_len",
    "tcp_reply",
    "tcp_reply_delay",
    "tcp_no_close",
    "tcp_shutdown",
    "udp_listen",
    "udp_query",
    "udp_reply",
    "udp_reply_delay",
];

/// Sections that only matter to harness modes we do not have (systemtap, leak checks,
/// valgrind): ignored, as Test::Nginx ignores them in its default mode.
const IGNORED: &[&str] = &[
    "stap",
    "stap2",
    "stap_out",
    "stap_out2",
    "stap_out_like",
    "stap_out_unlike",
    "no_check_leak",
    "check_leak",
    "no_shuffle",
    "no_valgrind",
];

/// Runs one block (see the module docs).
pub fn run_block(file: &CaseFile, block: &Block, opts: &RunOptions) -> BlockResult {
    let mut res = BlockResult {
        file: file.name.clone(),
        number: block.number,
        name: block.name.clone(),
        outcome: Outcome::Passed,
        checks: Vec::new(),
    };
    if let Some(reason) = skip_reason(file, block) {
        res.outcome = Outcome::Skipped(reason);
        return res;
    }
    let mut last_err = None;
    for _attempt in 0..3 {
        match Run::new(file, block, opts) {
            Err(Prep::Skip(reason)) => {
                res.outcome = Outcome::Skipped(reason);
                return res;
            }
            Err(Prep::Error(e)) => {
                last_err = Some(e);
                break;
            }
            Ok(mut run) => {
                let r = run.execute(&mut res.checks);
                run.cleanup();
                match r {
                    Err(Attempt::PortInUse) => {
                        res.checks.clear();
                        last_err = Some("a port stayed in use after 3 attempts".into());
                        continue;
                    }
                    Err(Attempt::Error(e)) => {
                        last_err = Some(e);
                        break;
                    }
                    Err(Attempt::Skip(reason)) => {
                        res.checks.clear();
                        res.outcome = Outcome::Skipped(reason);
                        return res;
                    }
                    Ok(()) => {
                        last_err = None;
                        break;
                    }
                }
            }
        }
    }
    if let Some(e) = last_err {
        res.checks.push(Check {
            name: "harness".into(),
            ok: false,
            detail: e,
        });
    }
    res.outcome = if res.checks.iter().all(|c| c.ok) {
        Outcome::Passed
    } else {
        Outcome::Failed
    };
    res
}

fn skip_reason(file: &CaseFile, block: &Block) -> Option<String> {
    if block.has("SKIP") {
        return Some("--- SKIP".into());
    }
    if let Some(only) = file.blocks.iter().find(|b| b.has("ONLY")) {
        if only.seq != block.seq {
            return Some(format!("TEST {} has --- ONLY", only.number));
        }
    }
    if let Some(last) = file.blocks.iter().find(|b| b.has("LAST")) {
        if block.seq > last.seq {
            return Some(format!("after TEST {} which has --- LAST", last.number));
        }
    }
    if let Some(u) = &file.header.unsupported {
        return Some(u.clone());
    }
    for s in &block.sections {
        if !KNOWN.contains(&s.name.as_str()) && !IGNORED.contains(&s.name.as_str()) {
            return Some(format!("unsupported section --- {}", s.name));
        }
        for f in &s.filters {
            if !matches!(f.as_str(), "eval" | "chomp" | "chop") {
                return Some(format!("unsupported filter `{f}` on --- {}", s.name));
            }
        }
    }
    for name in ["skip_nginx", "skip_nginx2"] {
        if let Some(s) = block.section(name) {
            match skip_nginx(&s.text) {
                Ok(true) => return Some(format!("--- {name}: {}", s.text.trim())),
                Ok(false) => {}
                Err(e) => return Some(e),
            }
        }
    }
    None
}

/// `N: < 1.2.3` (or `>`, `>=`, `<=`, `==`): true when the version condition holds.
fn skip_nginx(text: &str) -> Result<bool, String> {
    let cond = text.split_once(':').map(|x| x.1).unwrap_or(text).trim();
    let ops = ["<=", ">=", "==", "<", ">"];
    let op = ops
        .iter()
        .find(|o| cond.starts_with(**o))
        .ok_or_else(|| format!("unsupported skip_nginx condition `{cond}`"))?;
    let v: Vec<u32> = cond[op.len()..]
        .trim()
        .split('.')
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let want = (
        v.first().copied().unwrap_or(0),
        v.get(1).copied().unwrap_or(0),
        v.get(2).copied().unwrap_or(0),
    );
    let have = NGINX_VERSION;
    Ok(match *op {
        "<=" => have <= want,
        ">=" => have >= want,
        "==" => have == want,
        "<" => have < want,
        _ => have > want,
    })
}

enum Prep {
    Skip(String),
    Error(String),
}

enum Attempt {
    PortInUse,
    Skip(String),
    Error(String),
}

/// Ports handed out by this process (parallel and successive blocks must not collide).
static PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
static SEQ: AtomicUsize = AtomicUsize::new(0);
static SEQ_PORT: AtomicUsize = AtomicUsize::new(0);

/// A port below the kernel's ephemeral range (32768 and up by default), so that outgoing
/// connections cannot take it between this check and the server's bind; the system's
/// choice as a fallback.
fn free_port() -> Result<u16, String> {
    let base = (std::process::id() % 600) * 20;
    for _ in 0..4000 {
        let n = SEQ_PORT.fetch_add(1, Ordering::Relaxed) as u32;
        let Ok(port) = u16::try_from(20000 + (base + n) % 12000) else {
            continue;
        };
        if TcpListener::bind(("0.0.0.0", port)).is_err()
            || std::net::UdpSocket::bind(("0.0.0.0", port)).is_err()
        {
            continue;
        }
        if let Ok(mut g) = PORTS.lock() {
            if g.get_or_insert_with(HashSet::new).insert(port) {
                return Ok(port);
            }
        }
    }
    for _ in 0..50 {
        let l = TcpListener::bind("0.0.0.0:0").map_err(|e| format!("bind: {e}"))?;
        let port = l.local_addr().map_err(|e| e.to_string())?.port();
        drop(l);
        if let Ok(mut g) = PORTS.lock() {
            if g.get_or_insert_with(HashSet::new).insert(port) {
                return Ok(port);
            }
        }
    }
    Err("no free port".into())
}

/// A child server, killed (whole process group) if dropped while running.
struct Server {
    child: Child,
}

impl Server {
    fn signal(&self, sig: i32, group: bool) {
        let pid = self.child.id() as i32;
        let target = if group { -pid } else { pid };
        // SAFETY: kill(2) on our own child (or its process group) has no memory effects.
        unsafe {
            libc::kill(target, sig);
        }
    }

    /// SIGQUIT, wait up to `grace`, then SIGKILL the process group.
    fn stop(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            self.signal(libc::SIGKILL, true);
            return;
        }
        self.signal(libc::SIGQUIT, false);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                // Reap stray workers of a master, if any.
                self.signal(libc::SIGKILL, true);
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.signal(libc::SIGKILL, true);
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            self.signal(libc::SIGKILL, true);
            let _ = self.child.wait();
        }
    }
}

/// The evaluated block and its prefix.
struct Run<'a> {
    block: &'a Block,
    header: &'a Header,
    opts: &'a RunOptions,
    root: PathBuf,
    port: u16,
    env: BTreeMap<String, String>,
    timeout: Duration,
}

impl<'a> Run<'a> {
    fn new(file: &'a CaseFile, block: &'a Block, opts: &'a RunOptions) -> Result<Self, Prep> {
        let port = free_port().map_err(Prep::Error)?;
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let root = opts
            .work_dir
            .join(format!("oxresty-conformance-{}-{n}", std::process::id()))
            // Named like Test::Nginx's server root: some blocks match `/servroot/` in paths.
            .join("servroot");
        let mut env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("TEST_NGINX_"))
            .collect();
        for (k, v) in &file.header.env {
            env.entry(k.clone()).or_insert_with(|| v.clone());
        }
        // `$TEST_NGINX_RAND_PORT_N`: one port per name for the whole block.
        for sec in &block.sections {
            let mut rest = sec.text.as_str();
            while let Some(i) = rest.find("TEST_NGINX_RAND_PORT_") {
                let tail = &rest[i..];
                let len = tail
                    .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                    .unwrap_or(tail.len());
                let name = tail[..len].to_string();
                if let std::collections::btree_map::Entry::Vacant(e) = env.entry(name) {
                    e.insert(free_port().map_err(Prep::Error)?.to_string());
                }
                rest = &tail[len..];
            }
        }
        env.insert("TEST_NGINX_SERVER_PORT".into(), port.to_string());
        env.insert("TEST_NGINX_CLIENT_PORT".into(), port.to_string());
        env.insert("TEST_NGINX_SERVER_ROOT".into(), root.display().to_string());
        env.insert(
            "TEST_NGINX_HTML_DIR".into(),
            root.join("html").display().to_string(),
        );
        let timeout = match block.section("timeout") {
            Some(s) => parse_time(&s.text).ok_or_else(|| {
                Prep::Skip(format!("unsupported --- timeout value `{}`", s.text.trim()))
            })?,
            None => Duration::from_secs(3),
        };
        let run = Run {
            block,
            header: &file.header,
            opts,
            root,
            port,
            env,
            timeout,
        };
        Ok(run)
    }

    fn vars(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |name: &str| match name {
            "HtmlDir" => Some(self.root.join("html").display().to_string()),
            "ServRoot" => Some(self.root.display().to_string()),
            "LogDir" => Some(self.root.join("logs").display().to_string()),
            "ServerPort" | "ServerPortForClient" => Some(self.port.to_string()),
            "ServerAddr" => Some("127.0.0.1".into()),
            "ServerName" => Some("localhost".into()),
            _ => None,
        }
    }

    /// The value of a section after its filters; `Ok(None)` when absent.
    fn value(&self, name: &str) -> Result<Option<Value>, String> {
        let Some(sec) = self.block.section(name) else {
            return Ok(None);
        };
        let mut v = Value::Str(sec.text.clone().into_bytes());
        let mut eval_sec = name.ends_with("_eval");
        let vars = self.vars();
        for f in &sec.filters {
            match f.as_str() {
                "eval" => eval_sec = true,
                "chomp" | "chop" => {}
                _ => return Err(format!("unsupported filter `{f}`")),
            }
        }
        // Filters run in order; eval is the only one that changes the type.
        for f in &sec.filters {
            v = match f.as_str() {
                "eval" => {
                    let code = v.as_text().unwrap_or_default();
                    perl::eval(&code, &vars).map_err(|e| format!("--- {name} eval: {e}"))?
                }
                "chomp" => map_str(v, &|s: &mut Vec<u8>| {
                    if s.last() == Some(&b'\n') {
                        s.pop();
                    }
                }),
                _ => map_str(v, &|s: &mut Vec<u8>| {
                    // chop removes the last character (UTF-8 aware enough for our files).
                    while let Some(b) = s.pop() {
                        if b & 0xC0 != 0x80 {
                            break;
                        }
                    }
                }),
            };
        }
        if eval_sec && !sec.filters.iter().any(|f| f == "eval") {
            let code = v.as_text().unwrap_or_default();
            v = perl::eval(&code, &vars).map_err(|e| format!("--- {name}: {e}"))?;
        }
        Ok(Some(v))
    }

    fn text(&self, name: &str) -> Result<String, String> {
        match self.value(name)? {
            None => Ok(String::new()),
            Some(v) => v
                .as_text()
                .ok_or_else(|| format!("--- {name} must be a string")),
        }
    }

    /// `$TEST_NGINX_*` expansion; an undefined variable makes the block unsupported here.
    fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("$TEST_NGINX_") {
            out.push_str(&rest[..i]);
            let tail = &rest[i + 1..];
            let len = tail
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(tail.len());
            let name = &tail[..len];
            let val = match self.env.get(name) {
                Some(v) => v.clone(),
                None if name.starts_with("TEST_NGINX_RAND_PORT_") => free_port()?.to_string(),
                None => return Err(format!("environment ${name} is not defined")),
            };
            out.push_str(&val);
            rest = &tail[len..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn execute(&mut self, checks: &mut Vec<Check>) -> Result<(), Attempt> {
        let spec = self.prepare().map_err(|e| match e {
            Prep::Skip(s) => Attempt::Skip(s),
            Prep::Error(s) => Attempt::Error(s),
        })?;
        fs::create_dir_all(self.root.join("conf")).map_err(|e| Attempt::Error(e.to_string()))?;
        fs::create_dir_all(self.root.join("html")).map_err(|e| Attempt::Error(e.to_string()))?;
        fs::create_dir_all(self.root.join("logs")).map_err(|e| Attempt::Error(e.to_string()))?;
        // Test::Nginx always writes this index page before the block's own files.
        fs::write(
            self.root.join("html/index.html"),
            "<html><head><title>It works!</title></head><body>It works!</body></html>",
        )
        .map_err(|e| Attempt::Error(e.to_string()))?;
        fs::write(self.root.join("conf/nginx.conf"), &spec.conf)
            .map_err(|e| Attempt::Error(e.to_string()))?;
        for (name, body, date) in &spec.user_files {
            let path = if name.starts_with('/') {
                PathBuf::from(name)
            } else {
                self.root.join("html").join(name)
            };
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(|e| Attempt::Error(e.to_string()))?;
            }
            fs::write(&path, body)
                .map_err(|e| Attempt::Error(format!("{}: {e}", path.display())))?;
            if let Some(d) = date {
                set_mtime(&path, d).map_err(Attempt::Error)?;
            }
        }
        // A mock backend's port can be taken after free_port checked it (by a process this
        // run does not control): try again with fresh ports, as for the server's listen.
        let backends = crate::backend::start(spec.tcp.clone(), spec.udp.clone()).map_err(|e| {
            if e.contains("Address already in use") {
                Attempt::PortInUse
            } else {
                Attempt::Error(e)
            }
        })?;
        let stderr_path = self.root.join("stderr.log");
        let stderr = fs::File::create(&stderr_path).map_err(|e| Attempt::Error(e.to_string()))?;
        let stdout = stderr
            .try_clone()
            .map_err(|e| Attempt::Error(e.to_string()))?;
        let mut prefix = self.root.display().to_string();
        prefix.push('/');
        let child = Command::new(&self.opts.binary)
            .args(["-p", &prefix, "-c", "conf/nginx.conf"])
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .map_err(|e| Attempt::Error(format!("spawn {}: {e}", self.opts.binary.display())))?;
        let mut server = Server { child };
        let backends = backends;
        let started = self.wait_ready(&mut server);
        let startup_output = fs::read_to_string(&stderr_path).unwrap_or_default();
        if spec.must_die {
            let died = !started;
            server.stop(Duration::from_secs(3));
            checks.push(Check {
                name: "server must die".into(),
                ok: died,
                detail: if died {
                    String::new()
                } else {
                    "the server started".into()
                },
            });
            let mut lines: Vec<String> = startup_output
                .split_inclusive('\n')
                .map(String::from)
                .collect();
            lines.extend(self.error_log_lines());
            self.check_error_log(&spec, &lines, checks);
            return Ok(());
        }
        if !started {
            server.stop(Duration::from_secs(1));
            if startup_output.contains("Address already in use") {
                return Err(Attempt::PortInUse);
            }
            let tail: String = startup_output
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ");
            return Err(Attempt::Error(format!("server did not start: {tail}")));
        }
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        let need_array = spec.pipelined || spec.requests.len() > 1;
        let mut idx = 0;
        for req in &spec.requests {
            let ex = exchange(
                addr,
                &req.packets,
                Duration::from_millis(20),
                self.timeout,
                Instant::now() + Duration::from_secs(3),
            );
            if let Some(e) = ex.connect_error {
                checks.push(fail("connect", e));
                break;
            }
            if ex.timed_out && !spec.abort {
                checks.push(fail(
                    &format!("request {idx}"),
                    format!("client socket timed out after {:?}", self.timeout),
                ));
            }
            let mut raw = ex.raw;
            for _ in 0..req.responses {
                let (resp, left) = parse_response(&raw, spec.http09);
                if !spec.ignore_response {
                    self.check_response(&spec, &resp, idx, need_array, checks);
                }
                raw = left;
                idx += 1;
            }
        }
        if let Some(w) = spec.wait {
            std::thread::sleep(w);
        }
        // Log lines of a request may be written just after its response (log phase): give a
        // positive pattern a little time to show up.
        let deadline = Instant::now() + Duration::from_millis(1000);
        std::thread::sleep(Duration::from_millis(20));
        let mut lines = self.error_log_lines();
        while !self.error_log_patterns_found(&spec, &lines) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            lines = self.error_log_lines();
        }
        self.check_error_log(&spec, &lines, checks);
        server.stop(Duration::from_secs(3));
        let (tcp_seen, udp_seen) = backends.finish();
        for (name, want, seen) in [
            ("tcp_query", &spec.tcp_query, &tcp_seen),
            ("udp_query", &spec.udp_query, &udp_seen),
        ] {
            if let Some(want) = want {
                let got = seen.first().cloned().unwrap_or_default();
                checks.push(compare_body(name, want, &got));
            }
        }
        if let Some(pats) = &spec.shutdown_error_log {
            let lines = self.error_log_lines();
            check_patterns("shutdown_error_log", pats, &lines, true, checks);
        }
        Ok(())
    }

    fn wait_ready(&self, server: &mut Server) -> bool {
        let deadline = Instant::now() + self.opts.startup_timeout;
        while Instant::now() < deadline {
            if matches!(server.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            if listening_by(server.child.id(), self.port) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    fn error_log_lines(&self) -> Vec<String> {
        let bytes = fs::read(self.root.join("logs/error.log")).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .split_inclusive('\n')
            .map(String::from)
            .collect()
    }

    fn error_log_patterns_found(&self, spec: &Spec, lines: &[String]) -> bool {
        let Some(pats) = &spec.error_log else {
            return true;
        };
        pats.iter()
            .all(|p| lines.iter().any(|l| p.matches(l.as_bytes())))
    }

    fn check_error_log(&self, spec: &Spec, lines: &[String], checks: &mut Vec<Check>) {
        if let Some(pats) = &spec.error_log {
            check_patterns("error_log", pats, lines, true, checks);
        }
        if let Some(pats) = &spec.no_error_log {
            check_patterns("no_error_log", pats, lines, false, checks);
        }
        if let Some((pat, expected)) = &spec.grep {
            let mut got = Vec::new();
            for l in lines {
                if let Some(m) = pat.find(l.as_bytes()) {
                    if !m.contains(&b'\n') {
                        got.extend_from_slice(&m);
                        got.push(b'\n');
                    }
                }
            }
            checks.push(compare_body("grep_error_log_out", expected, &got));
        }
    }

    fn check_response(
        &self,
        spec: &Spec,
        resp: &Response,
        idx: usize,
        need_array: bool,
        checks: &mut Vec<Check>,
    ) {
        let sp = |s: &str| {
            s.replace("$ServerPortForClient", &self.port.to_string())
                .replace("$ServerPort", &self.port.to_string())
        };
        for e in &resp.errors {
            checks.push(fail(&format!("response framing (req {idx})"), e.clone()));
        }
        // status
        let cname = format!("status code (req {idx})");
        if let Some(v) = &spec.error_code_like {
            match indexed(v, idx, need_array) {
                Ok(Value::Regex(r)) => {
                    checks.push(regex_check(&cname, r, resp.code.as_bytes(), true))
                }
                Ok(v) => {
                    let pat = PerlRegex::new(&v.as_text().unwrap_or_default(), "sm");
                    checks.push(regex_check(&cname, &pat, resp.code.as_bytes(), true));
                }
                Err(e) => checks.push(fail(&cname, e)),
            }
        } else {
            let expected = match &spec.error_code {
                Some(v) => indexed(v, idx, need_array)
                    .map(|v| v.as_text().unwrap_or_default().trim().to_string()),
                None => Ok("200".to_string()),
            };
            match expected {
                Ok(e) => checks.push(Check {
                    name: cname,
                    ok: e == resp.code,
                    detail: format!("expected {e:?}, got {:?}", resp.code),
                }),
                Err(e) => checks.push(fail(&cname, e)),
            }
        }
        // raw headers
        for (sec, v, want) in [
            ("raw_response_headers_like", &spec.raw_headers_like, true),
            (
                "raw_response_headers_unlike",
                &spec.raw_headers_unlike,
                false,
            ),
        ] {
            if let Some(v) = v {
                let name = format!("{sec} (req {idx})");
                match indexed(v, idx, need_array) {
                    Ok(Value::Regex(r)) => {
                        checks.push(regex_check(&name, r, &resp.raw_headers, want))
                    }
                    Ok(v) => {
                        let r = PerlRegex::new(&v.as_text().unwrap_or_default(), "s");
                        checks.push(regex_check(&name, &r, &resp.raw_headers, want));
                    }
                    Err(e) => checks.push(fail(&name, e)),
                }
            }
        }
        // headers
        if let Some(v) = &spec.response_headers {
            match indexed(v, idx, need_array) {
                Ok(v) => {
                    for (key, val) in parse_headers(&v.as_text().unwrap_or_default()) {
                        let name = format!("header {key} (req {idx})");
                        match val {
                            None => {
                                let pat = PerlRegex::new(
                                    &format!(
                                        "^\\s*\\Q{}\\E\\s*:",
                                        key.replace("\\E", "\\E\\\\E\\Q")
                                    ),
                                    "m",
                                );
                                checks.push(regex_check(&name, &pat, &resp.raw_headers, false));
                            }
                            Some(val) => {
                                let want = sp(&val);
                                let got = resp.header(&key).unwrap_or_default();
                                checks.push(Check {
                                    ok: got == want,
                                    detail: format!("expected {want:?}, got {got:?}"),
                                    name,
                                });
                            }
                        }
                    }
                }
                Err(e) => checks.push(fail("response_headers", e)),
            }
        } else if let Some(v) = &spec.response_headers_like {
            match indexed(v, idx, need_array) {
                Ok(v) => {
                    for (key, val) in parse_headers(&v.as_text().unwrap_or_default()) {
                        let name = format!("header {key} like (req {idx})");
                        let got = resp.header(&key).unwrap_or_default();
                        let pat = PerlRegex::new(&format!("^{}$", val.unwrap_or_default()), "");
                        checks.push(regex_check(&name, &pat, got.as_bytes(), true));
                    }
                }
                Err(e) => checks.push(fail("response_headers_like", e)),
            }
        }
        // body
        let bname = format!("response_body (req {idx})");
        if let Some(v) = &spec.response_body {
            match indexed(v, idx, need_array) {
                Ok(Value::Regex(r)) => checks.push(regex_check(&bname, r, &resp.body, true)),
                Ok(Value::List(_)) => checks.push(fail(&bname, "expected value is a list".into())),
                Ok(v) => {
                    let raw = v.as_bytes().unwrap_or_default();
                    let expected = match String::from_utf8(raw.to_vec()) {
                        Ok(s) => self.expand(&sp(&s)).map(String::into_bytes),
                        Err(_) => Ok(raw.to_vec()),
                    };
                    match expected {
                        Ok(e) => checks.push(compare_body(&bname, &Expect::Bytes(e), &resp.body)),
                        Err(e) => checks.push(fail(&bname, e)),
                    }
                }
                Err(e) => checks.push(fail(&bname, e)),
            }
        } else {
            for (sec, v, want) in [
                ("response_body_like", &spec.body_like, true),
                ("response_body_unlike", &spec.body_unlike, false),
            ] {
                if let Some(v) = v {
                    let name = format!("{sec} (req {idx})");
                    match indexed(v, idx, need_array) {
                        Ok(Value::Regex(r)) => checks.push(regex_check(&name, r, &resp.body, want)),
                        Ok(v) => {
                            let r = PerlRegex::new(&sp(&v.as_text().unwrap_or_default()), "s");
                            checks.push(regex_check(&name, &r, &resp.body, want));
                        }
                        Err(e) => checks.push(fail(&name, e)),
                    }
                }
            }
        }
    }

    /// Evaluates every section into a [`Spec`].
    fn prepare(&self) -> Result<Spec, Prep> {
        let b = self.block;
        let skip = Prep::Skip;
        let level = match b.section("log_level") {
            Some(s) => s.text.trim().to_string(),
            None => self
                .block_file_log_level()
                .unwrap_or_else(|| "debug".to_string()),
        };
        let ex = |name: &str| -> Result<String, Prep> {
            let t = self.text(name).map_err(skip)?;
            self.expand(&t).map_err(Prep::Skip)
        };
        let config = ex("config")?;
        let http_config = ex("http_config")?;
        let main_config = ex("main_config")?;
        let post_main_config = ex("post_main_config")?;
        let server_name = match b.section("server_name") {
            Some(s) => s.text.trim().to_string(),
            None => "localhost".to_string(),
        };
        let h = &self.header;
        let conf = render(&ConfParams {
            root: &self.root,
            port: self.port,
            log_level: &level,
            master: h.master_on,
            workers: h.workers.unwrap_or(1),
            worker_connections: h.worker_connections.unwrap_or(64),
            root_location: !h.no_root_location,
            load_modules: self.opts.load_modules,
            server_name: &server_name,
            main_config: &main_config,
            http_config: &http_config,
            config: &config,
            post_main_config: &post_main_config,
        });
        let user_files = self.user_files()?;
        let requests = self.requests()?;
        let pipelined = b.has("pipelined_requests") && !b.has("raw_request");
        let v = |name: &str| self.value(name).map_err(Prep::Skip);
        let wait = match b.section("wait") {
            Some(s) => Some(parse_time(&s.text).ok_or_else(|| Prep::Skip("bad --- wait".into()))?),
            None => None,
        };
        let grep = match (v("grep_error_log")?, v("grep_error_log_out")?) {
            (None, None) => None,
            (Some(p), Some(out)) => {
                let p = match first(p) {
                    Value::Regex(r) => Pattern::Regex(compile(&r).map_err(Prep::Skip)?),
                    v => Pattern::Sub(v.as_bytes().unwrap_or_default().to_vec()),
                };
                let out = match first(out) {
                    Value::Regex(r) => Expect::Regex(r),
                    v => Expect::Bytes(
                        self.expand(&v.as_text().unwrap_or_default())
                            .map_err(Prep::Skip)?
                            .into_bytes(),
                    ),
                };
                Some((p, out))
            }
            _ => return Err(Prep::Skip("grep_error_log needs grep_error_log_out".into())),
        };
        Ok(Spec {
            conf,
            user_files,
            requests,
            pipelined,
            error_code: v("error_code")?,
            error_code_like: v("error_code_like")?,
            response_body: match v("response_body")? {
                Some(x) => Some(x),
                None => v("response_body_eval")?,
            },
            body_like: v("response_body_like")?,
            body_unlike: v("response_body_unlike")?,
            response_headers: v("response_headers")?,
            response_headers_like: v("response_headers_like")?,
            raw_headers_like: v("raw_response_headers_like")?,
            raw_headers_unlike: v("raw_response_headers_unlike")?,
            error_log: self.patterns("error_log")?,
            no_error_log: self.patterns("no_error_log")?,
            shutdown_error_log: self.patterns("shutdown_error_log")?,
            grep,
            must_die: b.has("must_die"),
            abort: b.has("abort"),
            ignore_response: b.has("ignore_response"),
            http09: b.has("http09"),
            wait,
            tcp: self.tcp_spec()?,
            udp: self.udp_spec()?,
            tcp_query: self.expect_of("tcp_query")?,
            udp_query: self.expect_of("udp_query")?,
        })
    }

    /// A section's strings: a scalar, or each element of a list.
    fn parts(&self, name: &str) -> Result<Vec<Vec<u8>>, Prep> {
        let v = self.value(name).map_err(Prep::Skip)?;
        let one = |v: &Value| -> Result<Vec<u8>, Prep> {
            let t = v
                .as_bytes()
                .ok_or_else(|| Prep::Skip(format!("--- {name} must be strings")))?;
            Ok(t.to_vec())
        };
        match v {
            None => Ok(Vec::new()),
            Some(Value::List(l)) => l.iter().map(one).collect(),
            Some(v) => Ok(vec![one(&v)?]),
        }
    }

    fn expect_of(&self, name: &str) -> Result<Option<Expect>, Prep> {
        Ok(match self.value(name).map_err(Prep::Skip)? {
            None => None,
            Some(Value::Regex(r)) => Some(Expect::Regex(r)),
            Some(v) => Some(Expect::Bytes(v.as_bytes().unwrap_or_default().to_vec())),
        })
    }

    fn delay(&self, name: &str) -> Result<Option<Duration>, Prep> {
        match self.block.section(name) {
            Some(s) => Ok(Some(
                parse_time(&s.text).ok_or_else(|| Prep::Skip(format!("bad --- {name}")))?,
            )),
            None => Ok(None),
        }
    }

    /// `--- tcp_listen` and its companions (see backend.rs).
    fn tcp_spec(&self) -> Result<Option<crate::backend::TcpSpec>, Prep> {
        let Some(sec) = self.block.section("tcp_listen") else {
            return Ok(None);
        };
        let listen = self.expand(sec.text.trim()).map_err(Prep::Skip)?;
        let query = match self.value("tcp_query").map_err(Prep::Skip)? {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        };
        let query_len = match self.block.section("tcp_query_len") {
            Some(s) => Some(
                s.text
                    .trim()
                    .parse()
                    .map_err(|_| Prep::Skip("bad --- tcp_query_len".into()))?,
            ),
            None => None,
        };
        Ok(Some(crate::backend::TcpSpec {
            listen,
            query,
            query_len,
            reply: self.parts("tcp_reply")?,
            reply_delay: self.delay("tcp_reply_delay")?,
            no_close: self.block.has("tcp_no_close"),
            shutdown: self.block.has("tcp_shutdown"),
        }))
    }

    /// `--- udp_listen` and its companions.
    fn udp_spec(&self) -> Result<Option<crate::backend::UdpSpec>, Prep> {
        let Some(sec) = self.block.section("udp_listen") else {
            return Ok(None);
        };
        Ok(Some(crate::backend::UdpSpec {
            listen: self.expand(sec.text.trim()).map_err(Prep::Skip)?,
            reply: self.parts("udp_reply")?,
            reply_delay: self.delay("udp_reply_delay")?,
        }))
    }

    fn block_file_log_level(&self) -> Option<String> {
        self.header.log_level.clone()
    }

    fn patterns(&self, name: &str) -> Result<Option<Vec<Pattern>>, Prep> {
        let Some(v) = self.value(name).map_err(Prep::Skip)? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        let items = match v {
            Value::Str(s) => {
                let mut s = String::from_utf8_lossy(&s).into_owned();
                if s.ends_with('\n') {
                    s.pop();
                }
                for l in s.split('\n').filter(|l| !l.is_empty()) {
                    out.push(Pattern::Sub(l.as_bytes().to_vec()));
                }
                Vec::new()
            }
            Value::List(items) => items,
            other => vec![other],
        };
        for it in items {
            match it {
                Value::Regex(r) => out.push(Pattern::Regex(compile(&r).map_err(Prep::Skip)?)),
                Value::Str(s) => out.push(Pattern::Sub(s)),
                Value::Undef => {}
                Value::List(_) => return Err(Prep::Skip(format!("nested list in --- {name}"))),
            }
        }
        Ok(Some(out))
    }

    fn user_files(&self) -> Result<Vec<UserFile>, Prep> {
        let mut files = Vec::new();
        match self.value("user_files").map_err(Prep::Skip)? {
            None => {}
            Some(Value::Str(s)) => {
                let text = String::from_utf8_lossy(&s).into_owned();
                let mut cur: Option<(String, String, Option<String>)> = None;
                for line in text.split_inclusive('\n') {
                    if let Some(i) = line.find(">>> ") {
                        let rest = line[i + 4..].trim_end_matches('\n');
                        let mut parts = rest.splitn(2, char::is_whitespace);
                        let name = parts.next().unwrap_or("").to_string();
                        if !name.is_empty() {
                            if let Some(f) = cur.take() {
                                files.push(f);
                            }
                            let date = parts
                                .next()
                                .map(|d| d.trim().to_string())
                                .filter(|d| !d.is_empty());
                            cur = Some((name, String::new(), date));
                            continue;
                        }
                    }
                    if let Some(f) = cur.as_mut() {
                        f.1.push_str(line);
                    }
                }
                if let Some(f) = cur.take() {
                    files.push(f);
                }
            }
            Some(Value::List(items)) => {
                for it in items {
                    let Value::List(parts) = it else {
                        return Err(Prep::Skip(
                            "--- user_files eval items must be [name, body]".into(),
                        ));
                    };
                    let name = parts.first().and_then(Value::as_text).unwrap_or_default();
                    let body = parts.get(1).and_then(Value::as_text).unwrap_or_default();
                    let date = parts.get(2).and_then(Value::as_text);
                    files.push((name, body, date));
                }
            }
            Some(_) => return Err(Prep::Skip("bad --- user_files".into())),
        }
        files
            .into_iter()
            .map(|(n, b, d)| {
                let b = self.expand(&b).map_err(Prep::Skip)?;
                Ok((n, b.into_bytes(), d))
            })
            .collect()
    }

    fn requests(&self) -> Result<Vec<Req>, Prep> {
        let b = self.block;
        let skip = |s: String| Prep::Skip(s);
        // A server that must not start is never asked anything (Test::Nginx: `--- must_die`).
        if b.has("must_die") {
            return Ok(Vec::new());
        }
        if b.has("raw_request") {
            let v = self
                .value("raw_request")
                .map_err(skip)?
                .unwrap_or(Value::Undef);
            let packets = match v {
                Value::List(items) => items
                    .iter()
                    .map(|i| i.as_bytes().map(<[u8]>::to_vec))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| Prep::Skip("raw_request packets must be strings".into()))?,
                v => vec![v
                    .as_bytes()
                    .ok_or_else(|| Prep::Skip("bad --- raw_request".into()))?
                    .to_vec()],
            };
            return Ok(vec![Req {
                packets,
                responses: 1,
            }]);
        }
        let more = self.value("more_headers").map_err(skip)?;
        let more = match more {
            Some(m) => Some(m),
            None => self.value("req_headers").map_err(skip)?,
        };
        let hdr_for = |i: usize| -> Result<String, Prep> {
            match &more {
                None => Ok(String::new()),
                Some(Value::List(items)) => items
                    .get(i)
                    .and_then(Value::as_bytes)
                    .map(latin1)
                    .ok_or_else(|| {
                        Prep::Skip(format!("--- more_headers lacks data for request {i}"))
                    }),
                Some(v) => Ok(v.as_bytes().map(latin1).unwrap_or_default()),
            }
        };
        if b.has("pipelined_requests") {
            let Some(Value::List(reqs)) = self.value("pipelined_requests").map_err(skip)? else {
                return Err(Prep::Skip("--- pipelined_requests must be a list".into()));
            };
            let mut all = Vec::new();
            let n = reqs.len();
            for (i, r) in reqs.iter().enumerate() {
                let text = r
                    .as_bytes()
                    .map(latin1)
                    .ok_or_else(|| Prep::Skip("pipelined request must be a string".into()))?;
                let text = self.expand(&text).map_err(Prep::Skip)?;
                let conn = if i + 1 == n { "close" } else { "keep-alive" };
                all.extend(build_request(&text, &hdr_for(i)?, conn).map_err(Prep::Skip)?);
            }
            return Ok(vec![Req {
                packets: vec![all],
                responses: n,
            }]);
        }
        let req = match self.value("request").map_err(skip)? {
            Some(v) => v,
            None => self
                .value("request_eval")
                .map_err(skip)?
                .ok_or_else(|| Prep::Skip("no --- request".into()))?,
        };
        match req {
            Value::List(items) => {
                let mut out = Vec::new();
                for (i, it) in items.iter().enumerate() {
                    let text = it.as_bytes().map(latin1).ok_or_else(|| {
                        Prep::Skip("packet arrays in --- request eval are unsupported".into())
                    })?;
                    out.push(Req {
                        packets: vec![
                            build_request(&text, &hdr_for(i)?, "close").map_err(Prep::Skip)?
                        ],
                        responses: 1,
                    });
                }
                Ok(out)
            }
            v => {
                let text = v
                    .as_bytes()
                    .map(latin1)
                    .ok_or_else(|| Prep::Skip("bad --- request".into()))?;
                Ok(vec![Req {
                    packets: vec![build_request(&text, &hdr_for(0)?, "close").map_err(Prep::Skip)?],
                    responses: 1,
                }])
            }
        }
    }

    fn cleanup(&mut self) {
        // The port is not handed out again in this run: a block's server may still be
        // closing its socket when the next block starts.
        if !self.opts.keep_prefix {
            let _ = fs::remove_dir_all(self.root.parent().unwrap_or(&self.root));
        }
    }
}

/// A `--- user_files` entry: name (relative to html/ or absolute), body, `touch -t` date.
type UserFile = (String, Vec<u8>, Option<String>);

struct Req {
    packets: Vec<Vec<u8>>,
    responses: usize,
}

struct Spec {
    conf: String,
    user_files: Vec<UserFile>,
    requests: Vec<Req>,
    pipelined: bool,
    error_code: Option<Value>,
    error_code_like: Option<Value>,
    response_body: Option<Value>,
    body_like: Option<Value>,
    body_unlike: Option<Value>,
    response_headers: Option<Value>,
    response_headers_like: Option<Value>,
    raw_headers_like: Option<Value>,
    raw_headers_unlike: Option<Value>,
    error_log: Option<Vec<Pattern>>,
    no_error_log: Option<Vec<Pattern>>,
    shutdown_error_log: Option<Vec<Pattern>>,
    grep: Option<(Pattern, Expect)>,
    must_die: bool,
    abort: bool,
    ignore_response: bool,
    http09: bool,
    wait: Option<Duration>,
    tcp: Option<crate::backend::TcpSpec>,
    udp: Option<crate::backend::UdpSpec>,
    tcp_query: Option<Expect>,
    udp_query: Option<Expect>,
}

/// An error-log pattern: a literal substring (`\Q...\E`) or a regex.
enum Pattern {
    Sub(Vec<u8>),
    Regex(pcre2::bytes::Regex),
}

impl Pattern {
    fn matches(&self, line: &[u8]) -> bool {
        self.find(line).is_some()
    }

    fn find(&self, line: &[u8]) -> Option<Vec<u8>> {
        match self {
            Pattern::Sub(s) => {
                if s.is_empty() || line.windows(s.len()).any(|w| w == s.as_slice()) {
                    Some(s.clone())
                } else {
                    None
                }
            }
            Pattern::Regex(r) => r.find(line).ok().flatten().map(|m| m.as_bytes().to_vec()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Pattern::Sub(s) => format!("{:?}", String::from_utf8_lossy(s)),
            Pattern::Regex(r) => format!("qr/{}/", r.as_str()),
        }
    }
}

enum Expect {
    Bytes(Vec<u8>),
    Regex(PerlRegex),
}

fn compile(r: &PerlRegex) -> Result<pcre2::bytes::Regex, String> {
    r.compile()
}

fn first(v: Value) -> Value {
    match v {
        Value::List(items) => items.into_iter().next().unwrap_or(Value::Undef),
        v => v,
    }
}

fn map_str(v: Value, f: &dyn Fn(&mut Vec<u8>)) -> Value {
    match v {
        Value::Str(mut s) => {
            f(&mut s);
            Value::Str(s)
        }
        Value::List(items) => Value::List(items.into_iter().map(|i| map_str(i, f)).collect()),
        v => v,
    }
}

/// Test::Nginx's `get_indexed_value`.
fn indexed(v: &Value, idx: usize, need_array: bool) -> Result<&Value, String> {
    match (v, need_array) {
        (Value::List(items), _) => items
            .get(if need_array { idx } else { 0 })
            .ok_or_else(|| format!("no expected value for request {idx}")),
        (v, false) => Ok(v),
        (_, true) => {
            Err("many requests were sent: the expected results should be arrays as well".into())
        }
    }
}

fn fail(name: &str, detail: String) -> Check {
    Check {
        name: name.to_string(),
        ok: false,
        detail,
    }
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let mut out = format!("{s:?}");
    if out.len() > 600 {
        let mut cut = 600;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("...");
    }
    out
}

fn regex_check(name: &str, r: &PerlRegex, hay: &[u8], want: bool) -> Check {
    match r.compile() {
        Err(e) => fail(name, e),
        Ok(re) => {
            let m = re.is_match(hay).unwrap_or(false);
            Check {
                name: name.to_string(),
                ok: m == want,
                detail: format!(
                    "{} {} {}",
                    show(hay),
                    if want { "does not match" } else { "matches" },
                    r
                ),
            }
        }
    }
}

fn compare_body(name: &str, expected: &Expect, got: &[u8]) -> Check {
    match expected {
        Expect::Bytes(e) => Check {
            name: name.to_string(),
            ok: e.as_slice() == got,
            detail: format!("expected {}\n           got {}", show(e), show(got)),
        },
        Expect::Regex(r) => regex_check(name, r, got, true),
    }
}

fn check_patterns(
    sec: &str,
    pats: &[Pattern],
    lines: &[String],
    want: bool,
    checks: &mut Vec<Check>,
) {
    for p in pats {
        let hit = lines.iter().find(|l| p.matches(l.as_bytes()));
        let ok = hit.is_some() == want;
        checks.push(Check {
            name: format!("{sec} {}", p.describe()),
            ok,
            detail: match hit {
                Some(l) => format!("matched line {:?}", l.trim_end()),
                None => "no line in error.log matched".into(),
            },
        });
    }
}

/// Test::Nginx's `parse_headers`: `Name: value` lines, `!Name` for absence.
fn parse_headers(text: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        let (key, val) = if let Some(neg) = l.strip_prefix('!') {
            (neg.trim().to_string(), None)
        } else {
            match l.split_once(':') {
                Some((k, v)) => (k.trim_end().to_string(), Some(v.trim_start().to_string())),
                None => (l.to_string(), Some(String::new())),
            }
        };
        // A Perl hash: a repeated key keeps the last value.
        out.retain(|(k, _)| *k != key);
        out.push((key, val));
    }
    out
}

/// Test::Nginx's `parse_more_headers` + `build_request_from_packets` for one request.
fn build_request(text: &str, more_headers: &str, conn: &str) -> Result<Vec<u8>, String> {
    // Leading comment lines and whitespace are dropped.
    let mut t = text;
    loop {
        let trimmed = t.trim_start();
        if trimmed.starts_with('#') {
            match trimmed.find('\n') {
                Some(i) => t = &trimmed[i + 1..],
                None => t = "",
            }
        } else {
            t = trimmed;
            break;
        }
    }
    let (first, content) = match t.find('\n') {
        Some(i) => (&t[..i], &t[i + 1..]),
        None => (t, ""),
    };
    let parts: Vec<&str> = first.split(' ').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() || parts.len() > 3 || first.trim_start().contains('\t') {
        return Err(format!("request line is not valid: {first:?}"));
    }
    let method = parts[0];
    let url = parts.get(1).copied().unwrap_or("/");
    let ver = parts.get(2).copied().unwrap_or("HTTP/1.1");
    let mut hdr = String::new();
    let mut chunked = false;
    for h in more_headers.split('\n').filter(|l| !l.is_empty()) {
        if h.trim_start().starts_with('#') {
            continue;
        }
        let (k, v) = match h.split_once(':') {
            Some((k, v)) => (k, v.trim_start()),
            None => (h, ""),
        };
        if k.eq_ignore_ascii_case("transfer-encoding") && v == "chunked" {
            chunked = true;
        }
        hdr.push_str(&format!("{k}: {v}\r\n"));
    }
    let has_line = |name: &str, ci: bool| {
        hdr.split("\r\n").any(|l| {
            if ci {
                l.len() >= name.len() && l[..name.len()].eq_ignore_ascii_case(name)
            } else {
                l.starts_with(name)
            }
        })
    };
    let mut content = content.to_string();
    let mut len_header = String::new();
    if !chunked && !content.is_empty() && !has_line("Content-Length:", false) {
        // Perl's `s/^\s+|\s+$//gs` on a byte string: ASCII whitespace only.
        content = content
            .trim_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c'])
            .to_string();
        // One char per byte (see `latin1`).
        len_header = format!("Content-Length: {}\r\n", content.chars().count());
    }
    let mut headers = String::new();
    if !has_line("Host:", true) {
        headers.push_str("Host: localhost\r\n");
    }
    if !has_line("Connection", true) {
        headers.push_str(&format!("Connection: {conn}\r\n"));
    }
    headers.push_str(&hdr);
    headers.push_str(&len_header);
    headers.push_str("\r\n");
    Ok(unlatin1(&format!(
        "{method} {url} {ver}\r\n{headers}{content}"
    )))
}

/// Bytes as a string of U+0000..U+00FF chars, so text processing keeps every byte.
fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

/// The inverse of [`latin1`].
fn unlatin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

/// `10`, `10s`, `1.5`, `100ms` → a duration.
fn parse_time(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.trim().parse().ok()?;
    (v >= 0.0).then(|| Duration::from_secs_f64(v * mult))
}

/// Whether something listens on TCP `port` (any address), from /proc/net/tcp{,6}: no probe
/// connection is made, so the server's log stays clean.
/// The socket inodes listening on TCP `port` (any address).
fn listening_inodes(port: u16) -> Vec<String> {
    let want = format!(":{port:04X}");
    let mut out = Vec::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(f) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() > 9 && cols[1].ends_with(&want) && cols[3] == "0A" {
                out.push(cols[9].to_string());
            }
        }
    }
    out
}

/// Whether process `pid` holds a socket listening on `port`: a port another process took
/// between the free-port check and the server's bind must not count as the server's.
fn listening_by(pid: u32, port: u16) -> bool {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        // no /proc view of the process: the port alone decides
        return true;
    };
    fds.flatten().any(|fd| {
        fs::read_link(fd.path()).is_ok_and(|target| {
            let t = target.to_string_lossy();
            t.strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .is_some_and(|ino| inodes.iter().any(|i| i == ino))
        })
    })
}

/// `touch -t [[CC]YY]MMDDhhmm[.ss]` in GMT.
fn set_mtime(path: &Path, date: &str) -> Result<(), String> {
    let (main, secs) = match date.split_once('.') {
        Some((m, s)) => (m, s.parse::<i64>().map_err(|_| format!("bad date {date}"))?),
        None => (date, 0),
    };
    if !main.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad date {date}"));
    }
    let num = |r: std::ops::Range<usize>| main[r].parse::<i64>().unwrap_or(0);
    let (year, rest) = match main.len() {
        12 => (num(0..4), &main[4..]),
        10 => {
            let yy = num(0..2);
            (if yy >= 69 { 1900 + yy } else { 2000 + yy }, &main[2..])
        }
        8 => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            (civil_from_days(now / 86400).0, main)
        }
        _ => return Err(format!("bad date {date}")),
    };
    let n = |r: std::ops::Range<usize>| rest[r].parse::<i64>().unwrap_or(0);
    let (mo, d, h, mi) = (n(0..2), n(2..4), n(4..6), n(6..8));
    let t = days_from_civil(year, mo, d) * 86400 + h * 3600 + mi * 60 + secs;
    let when = UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
    let f = fs::File::options()
        .write(true)
        .open(path)
        .map_err(|e| e.to_string())?;
    f.set_modified(when).map_err(|e| e.to_string())
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_belongs_to_its_process_only() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        assert!(listening_by(std::process::id(), port));
        // another process (a child that holds no socket) does not own it
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep");
        assert!(!listening_by(child.id(), port));
        let _ = child.kill();
        let _ = child.wait();
        drop(l);
        assert!(!listening_by(std::process::id(), port));
    }

    #[test]
    fn request_building() {
        let r = build_request("GET /t?a=1\n", "X-Foo: bar\n", "close").expect("req");
        assert_eq!(
            String::from_utf8_lossy(&r),
            "GET /t?a=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Foo: bar\r\n\r\n"
        );
        let r = build_request("POST /p\nhello \n", "", "keep-alive").expect("req");
        assert!(String::from_utf8_lossy(&r).ends_with("Content-Length: 5\r\n\r\nhello"));
    }

    #[test]
    fn dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn header_expectations() {
        let h = parse_headers("Content-Type: text/plain\n!Foo\nX-Empty:\n");
        assert_eq!(h[0], ("Content-Type".into(), Some("text/plain".into())));
        assert_eq!(h[1], ("Foo".into(), None));
        assert_eq!(h[2], ("X-Empty".into(), Some(String::new())));
    }
}
