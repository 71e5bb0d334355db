//! ngx_http_ssi_filter_module.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::gzip::types_slot;
use crate::http::request::Request;
use crate::http::response::Reply;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_ssi_filter_module",
    commands: &[
        cmd(
            "ssi",
            Ctx::HTTP_MSL.or(Ctx::HTTP_LIF),
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "ssi_silent_errors",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "ssi_ignore_recycled_buffers",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "ssi_min_file_chunk",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Size),
        ),
        cmd(
            "ssi_value_length",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Size),
        ),
        cmd(
            "ssi_types",
            Ctx::HTTP_MSL,
            Args::ONEMORE,
            Set::Handler(ssi_types),
        ),
        cmd(
            "ssi_last_modified",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
    ],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &["date_local", "date_gmt"];

fn ssi_types(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    types_slot(cf, d, "ssi_types")
}

// ---- runtime: lowering and the filter ----

/// Folds the ssi directives into a level.
pub(crate) fn lower(c: &mut crate::http::lower::LocConf, d: &Directive) {
    let a = |i: usize| d.args.get(i).map(Vec::as_slice).unwrap_or_default();
    let on = || Some(a(0).eq_ignore_ascii_case(b"on"));
    match d.name.as_slice() {
        b"ssi" => c.ssi = on(),
        b"ssi_silent_errors" => c.ssi_silent_errors = on(),
        b"ssi_last_modified" => c.ssi_last_modified = on(),
        b"ssi_value_length" => {
            c.ssi_value_length =
                crate::conf::values::parse_size(a(0)).and_then(|n| usize::try_from(n).ok())
        }
        b"ssi_types" => {
            c.ssi_types = Some(std::sync::Arc::new(crate::http::gzip::TypeList::from_args(
                &d.args,
            )))
        }
        _ => {}
    }
}

/// nginx: ngx_http_ssi_header_filter's test: `ssi on`, a body that is not known to be
/// empty, and a type of `ssi_types` (text/html by default).
pub(crate) fn applies(r: &Request, length: Option<u64>, content_type: Option<&[u8]>) -> bool {
    if r.loc.ssi != Some(true) || length == Some(0) {
        return false;
    }
    let Some(ct) = content_type else {
        return false;
    };
    match &r.loc.ssi_types {
        Some(t) => t.matches(ct),
        None => crate::http::gzip::TypeList::of(&["text/html"]).matches(ct),
    }
}

/// The Content-Type an answer will have (the header filter's view of it).
fn content_type_of(r: &Request, reply: &Reply) -> Option<Vec<u8>> {
    if let Some(ct) = reply.headers.get(hyper::header::CONTENT_TYPE) {
        return Some(ct.as_bytes().to_vec());
    }
    reply.default_type.then(|| {
        r.loc
            .default_type
            .clone()
            .unwrap_or_else(|| b"text/plain".to_vec())
    })
}

/// Reads an answer's whole body (a file's or a stream's).
async fn read_body(reply: &mut Reply) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(f) = reply.file.take() {
        use std::io::Read;
        let mut file = f.file;
        let _ = file.read_to_end(&mut body);
        reply.body = None;
    } else if let Some(b) = reply.body.take() {
        use http_body_util::BodyExt;
        let mut b = b;
        while let Some(frame) = b.frame().await {
            match frame {
                Ok(f) => {
                    if let Ok(data) = f.into_data() {
                        body.extend_from_slice(&data);
                    }
                }
                Err(_) => break,
            }
        }
    }
    body
}

/// nginx: ngx_http_ssi_body_filter on the main request's answer: the whole body is read,
/// its SSI commands run (`include` subrequests in document order) and the result replaces
/// it. nginx streams the body through the parser; here it is buffered first. The header
/// side (Content-Length, Accept-Ranges, Last-Modified, ETag) is response.rs's
/// `ssi_filter`, in the header filters' order.
pub(crate) async fn filter(r: &mut Request, mut reply: Reply) -> Reply {
    if r.loc.ssi != Some(true)
        || r.method == hyper::Method::HEAD
        || (reply.body.is_none() && reply.file.is_none())
    {
        return reply;
    }
    let ct = content_type_of(r, &reply);
    if !applies(r, reply.length, ct.as_deref()) {
        return reply;
    }
    let body = read_body(&mut reply).await;
    // `$status` while the body is processed
    r.status = reply.status;
    let body = sub_first(r, ct.as_deref(), body);
    // response.rs's sub filter then leaves the body alone (its header changes stay).
    r.vars.insert(SUB_DONE.to_vec(), Vec::new());
    let mut shared = Shared::default();
    let out = process(r, &body, ct.as_deref(), MAX_SUBREQUESTS + 1, &mut shared).await;
    reply.body = Some(crate::http::response::full(out));
    // nginx: a subrequest's Content-Length stays as its handler set it.
    if r.sub == 0 {
        reply.length = None;
    }
    reply.allow_ranges = false;
    reply
}

/// The request-side marker of a body the sub filter already ran on (a name no configuration
/// can use).
pub(crate) const SUB_DONE: &[u8] = b" ssi_sub_done";

/// nginx's filter order (ngx_modules: sub runs before ssi): the `sub_filter` substitutions of
/// `r` on the body SSI is about to process.
fn sub_first(r: &Request, content_type: Option<&[u8]>, body: Vec<u8>) -> Vec<u8> {
    let Some(pairs) = r.loc.sub_filters.as_ref().filter(|p| !p.is_empty()) else {
        return body;
    };
    let Some(ct) = content_type else {
        return body;
    };
    let ok = match &r.loc.sub_filter_types {
        Some(t) => t.matches(ct),
        None => crate::http::gzip::TypeList::of(&["text/html"]).matches(ct),
    };
    if !ok || body.is_empty() {
        return body;
    }
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = pairs
        .iter()
        .map(|p| (r.eval(&p.search).to_ascii_lowercase(), r.eval(&p.replace)))
        .collect();
    crate::http::sub::substitute(&body, &pairs, r.loc.sub_filter_once != Some(false))
}

/// SSI commands, parameters and the parser's limits (nginx: ngx_http_ssi_filter_module.h).
const COMMAND_LEN: usize = 32;
const PARAM_LEN: usize = 32;
const MAX_PARAMS: usize = 16;
/// nginx: NGX_HTTP_MAX_SUBREQUESTS, the nesting depth of subrequests.
const MAX_SUBREQUESTS: u8 = 50;
const COND_IF: u8 = 1;
const COND_ELSE: u8 = 2;

const DEFAULT_TIMEFMT: &[u8] = b"%A, %d-%b-%Y %H:%M:%S %Z";
const DEFAULT_ERRMSG: &[u8] = b"[an error occurred while processing the directive]";

/// `echo`'s encodings (nginx: NGX_HTTP_SSI_*_ENCODING).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    None,
    Url,
    Entity,
}

/// nginx: ngx_http_ssi_command_t.
struct Command {
    name: &'static [u8],
    params: &'static [(&'static [u8], bool)],
    conditional: u8,
    block: bool,
}

const COMMANDS: &[Command] = &[
    Command {
        name: b"include",
        params: &[
            (b"virtual", false),
            (b"file", false),
            (b"wait", false),
            (b"set", false),
            (b"stub", false),
        ],
        conditional: 0,
        block: false,
    },
    Command {
        name: b"echo",
        params: &[(b"var", true), (b"default", false), (b"encoding", false)],
        conditional: 0,
        block: false,
    },
    Command {
        name: b"config",
        params: &[(b"errmsg", false), (b"timefmt", false)],
        conditional: 0,
        block: false,
    },
    Command {
        name: b"set",
        params: &[(b"var", true), (b"value", true)],
        conditional: 0,
        block: false,
    },
    Command {
        name: b"if",
        params: &[(b"expr", true)],
        conditional: 0,
        block: false,
    },
    Command {
        name: b"elif",
        params: &[(b"expr", true)],
        conditional: COND_IF,
        block: false,
    },
    Command {
        name: b"else",
        params: &[],
        conditional: COND_IF,
        block: false,
    },
    Command {
        name: b"endif",
        params: &[],
        conditional: COND_ELSE,
        block: false,
    },
    Command {
        name: b"block",
        params: &[(b"name", true)],
        conditional: 0,
        block: false,
    },
    Command {
        name: b"endblock",
        params: &[],
        conditional: 0,
        block: true,
    },
];

/// What the main request's SSI context holds for all its subrequests (nginx: the `r->main`
/// ctx's variables, blocks and regex captures).
#[derive(Default)]
struct Shared {
    vars: Vec<(Vec<u8>, Vec<u8>)>,
    blocks: Vec<(Vec<u8>, Vec<u8>)>,
    /// The last `if` regex match: its subject and the groups up to the last one matched.
    captures: Option<crate::http::request::Captures>,
}

impl Shared {
    /// nginx: ngx_http_ssi_get_variable: `$0`..`$9` of the last match, then `set` names.
    fn get(&self, name: &[u8]) -> Option<Vec<u8>> {
        if let [d @ b'0'..=b'9'] = name {
            if let Some((subject, groups)) = &self.captures {
                if let Some(g) = groups.get(usize::from(d - b'0')) {
                    let v = g.and_then(|(s, e)| subject.get(s..e)).unwrap_or_default();
                    return Some(v.to_vec());
                }
            }
        }
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn set(&mut self, name: Vec<u8>, value: Vec<u8>) {
        match self.vars.iter_mut().find(|(n, _)| *n == name) {
            Some(v) => v.1 = value,
            None => self.vars.push((name, value)),
        }
    }
}

/// The parser's states (nginx: ngx_http_ssi_state_e).
#[derive(Clone, Copy, PartialEq, Eq)]
enum St {
    Start,
    Tag,
    Comment0,
    Comment1,
    Sharp,
    Precommand,
    Command,
    Preparam,
    Param,
    Preequal,
    Prevalue,
    DoubleQuoted,
    Quoted,
    QuotedSymbol,
    Postparam,
    CommentEnd0,
    CommentEnd1,
    Error,
    ErrorEnd0,
    ErrorEnd1,
}

/// One request's SSI processing (nginx: ngx_http_ssi_ctx_t).
struct SsiCtx<'a> {
    r: &'a Request,
    shared: &'a mut Shared,
    /// The document's type (a stub's subrequest answers with it).
    content_type: Option<&'a [u8]>,
    /// Subrequest levels left below this request (nginx: `r->subrequests`).
    depth: u8,
    /// Included subrequests not waited for: where their output goes, URI, arguments, stub.
    pending: Vec<Pending>,
    out: Vec<u8>,
    value_len: usize,
    silent: bool,
    encoding: Encoding,
    output: bool,
    output_chosen: bool,
    block: bool,
    conditional: u8,
    timefmt: Vec<u8>,
    errmsg: Vec<u8>,
    command: Vec<u8>,
    params: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A posted `include`: the output position, the URI, its arguments and the stub block.
type Pending = (usize, Vec<u8>, Vec<u8>, Option<Vec<u8>>);

/// What a command's handler says (nginx: NGX_OK, NGX_HTTP_SSI_ERROR).
type Handled = Result<(), ()>;

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\r' | b'\n' | b'\t')
}

/// Runs a body through the SSI parser and commands of `r` (boxed: includes recurse).
fn process<'a>(
    r: &'a Request,
    body: &'a [u8],
    content_type: Option<&'a [u8]>,
    depth: u8,
    shared: &'a mut Shared,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<u8>> + 'a>> {
    Box::pin(async move {
        let mut ctx = SsiCtx {
            r,
            shared,
            content_type,
            depth,
            pending: Vec::new(),
            out: Vec::with_capacity(body.len()),
            value_len: r.loc.ssi_value_length.unwrap_or(255),
            silent: r.loc.ssi_silent_errors == Some(true),
            encoding: Encoding::Entity,
            output: true,
            output_chosen: false,
            block: false,
            conditional: 0,
            timefmt: DEFAULT_TIMEFMT.to_vec(),
            errmsg: DEFAULT_ERRMSG.to_vec(),
            command: Vec::new(),
            params: Vec::new(),
        };
        ctx.run(body).await;
        ctx.out
    })
}

impl SsiCtx<'_> {
    /// An error line of the body filter (nginx's log action then: sending the response).
    fn error(&self, msg: &str) {
        crate::http::errlog::request_error(
            self.r,
            &format!("{msg} while sending response to client"),
        );
    }

    /// Text of the document: output, kept in the block being defined, or dropped.
    fn text(&mut self, t: &[u8]) {
        if t.is_empty() {
            return;
        }
        if self.output {
            self.out.extend_from_slice(t);
        } else if self.block {
            if let Some(b) = self.shared.blocks.last_mut() {
                b.1.extend_from_slice(t);
            }
        }
    }

    /// nginx: ngx_http_ssi_parse and the command dispatch of ngx_http_ssi_body_filter, over
    /// the whole body.
    async fn run(&mut self, body: &[u8]) {
        let mut state = St::Start;
        let mut saved_state = St::DoubleQuoted;
        let mut copy_start = 0;
        // The `<` a possible command starts at.
        let mut tag = 0;
        let mut p = 0;
        while p < body.len() {
            let ch = body[p];
            let at = p;
            p += 1;
            match state {
                St::Start => {
                    if ch == b'<' {
                        tag = at;
                        state = St::Tag;
                    }
                }
                St::Tag => match ch {
                    b'!' => state = St::Comment0,
                    b'<' => tag = at,
                    _ => state = St::Start,
                },
                St::Comment0 | St::Comment1 => match ch {
                    b'-' => {
                        state = if state == St::Comment0 {
                            St::Comment1
                        } else {
                            St::Sharp
                        }
                    }
                    b'<' => {
                        tag = at;
                        state = St::Tag;
                    }
                    _ => state = St::Start,
                },
                St::Sharp => match ch {
                    b'#' => state = St::Precommand,
                    b'<' => {
                        tag = at;
                        state = St::Tag;
                    }
                    _ => state = St::Start,
                },
                St::Precommand => {
                    if !is_space(ch) {
                        self.command = vec![ch];
                        self.params.clear();
                        state = St::Command;
                    }
                }
                St::Command => match ch {
                    c if is_space(c) => state = St::Preparam,
                    b'-' => state = St::CommentEnd0,
                    _ => {
                        if self.command.len() == COMMAND_LEN {
                            self.error(&format!(
                                "the \"{}{}...\" SSI command is too long",
                                lossy(&self.command),
                                ch as char
                            ));
                            state = St::Error;
                        } else {
                            self.command.push(ch);
                        }
                    }
                },
                St::Preparam => match ch {
                    c if is_space(c) => {}
                    b'-' => state = St::CommentEnd0,
                    _ => {
                        self.params.push((vec![ch], Vec::new()));
                        state = St::Param;
                    }
                },
                St::Param => {
                    let key = self.params.last().map(|p| p.0.clone()).unwrap_or_default();
                    match ch {
                        c if is_space(c) => state = St::Preequal,
                        b'=' => state = St::Prevalue,
                        b'-' => {
                            state = St::ErrorEnd0;
                            self.error(&format!(
                                "unexpected \"-\" symbol after \"{}\" parameter in \"{}\" SSI command",
                                lossy(&key),
                                lossy(&self.command)
                            ));
                        }
                        _ => {
                            if key.len() == PARAM_LEN {
                                state = St::Error;
                                self.error(&format!(
                                    "too long \"{}{}...\" parameter in \"{}\" SSI command",
                                    lossy(&key),
                                    ch as char,
                                    lossy(&self.command)
                                ));
                            } else if let Some(prm) = self.params.last_mut() {
                                prm.0.push(ch);
                            }
                        }
                    }
                }
                St::Preequal | St::Prevalue => match ch {
                    c if is_space(c) => {}
                    b'=' if state == St::Preequal => state = St::Prevalue,
                    b'"' if state == St::Prevalue => state = St::DoubleQuoted,
                    b'\'' if state == St::Prevalue => state = St::Quoted,
                    _ => {
                        let key = self.params.last().map(|p| p.0.clone()).unwrap_or_default();
                        let place = if state == St::Preequal {
                            "after"
                        } else {
                            "before value of"
                        };
                        state = if ch == b'-' { St::ErrorEnd0 } else { St::Error };
                        self.error(&format!(
                            "unexpected \"{}\" symbol {place} \"{}\" parameter in \"{}\" SSI command",
                            ch as char,
                            lossy(&key),
                            lossy(&self.command)
                        ));
                    }
                },
                St::DoubleQuoted | St::Quoted | St::QuotedSymbol => {
                    let close = if state == St::DoubleQuoted {
                        b'"'
                    } else {
                        b'\''
                    };
                    if state != St::QuotedSymbol && ch == close {
                        state = St::Postparam;
                        continue;
                    }
                    if state == St::QuotedSymbol {
                        state = saved_state;
                    } else if ch == b'\\' {
                        saved_state = state;
                        state = St::QuotedSymbol;
                    }
                    let full = self
                        .params
                        .last()
                        .is_some_and(|p| p.1.len() >= self.value_len);
                    if full {
                        let (key, value) = self.params.last().cloned().unwrap_or_default();
                        self.error(&format!(
                            "too long \"{}{}...\" value of \"{}\" parameter in \"{}\" SSI command",
                            lossy(&value),
                            ch as char,
                            lossy(&key),
                            lossy(&self.command)
                        ));
                        state = St::Error;
                    } else if let Some(prm) = self.params.last_mut() {
                        prm.1.push(ch);
                    }
                }
                St::Postparam => match ch {
                    c if is_space(c) => state = St::Preparam,
                    b'-' => state = St::CommentEnd0,
                    _ => {
                        let (key, value) = self.params.last().cloned().unwrap_or_default();
                        self.error(&format!(
                            "unexpected \"{}\" symbol after \"{}\" value of \"{}\" parameter in \"{}\" SSI command",
                            ch as char,
                            lossy(&value),
                            lossy(&key),
                            lossy(&self.command)
                        ));
                        state = St::Error;
                    }
                },
                St::CommentEnd0 | St::CommentEnd1 => {
                    let next = if state == St::CommentEnd0 { b'-' } else { b'>' };
                    if ch == next && state == St::CommentEnd0 {
                        state = St::CommentEnd1;
                    } else if ch == next {
                        state = St::Start;
                        self.text(body.get(copy_start..tag).unwrap_or_default());
                        copy_start = p;
                        self.command_done().await;
                    } else {
                        self.error(&format!(
                            "unexpected \"{}\" symbol in \"{}\" SSI command",
                            ch as char,
                            lossy(&self.command)
                        ));
                        state = St::Error;
                    }
                }
                St::Error => {
                    if ch == b'-' {
                        state = St::ErrorEnd0;
                    }
                }
                St::ErrorEnd0 => {
                    state = if ch == b'-' { St::ErrorEnd1 } else { St::Error };
                }
                St::ErrorEnd1 => {
                    if ch == b'>' {
                        state = St::Start;
                        self.text(body.get(copy_start..tag).unwrap_or_default());
                        copy_start = p;
                        self.ssi_error();
                    } else {
                        state = St::Error;
                    }
                }
            }
        }
        // nginx: a command (or what may begin one) the body ends in is never output.
        let end = if state == St::Start { body.len() } else { tag };
        self.text(body.get(copy_start..end).unwrap_or_default());
        self.run_pending().await;
    }

    /// nginx: the `ssi_error` label: the error message unless `ssi_silent_errors`.
    fn ssi_error(&mut self) {
        if !self.silent {
            self.out.extend_from_slice(&self.errmsg);
        }
    }

    /// nginx: ngx_http_ssi_body_filter after ngx_http_ssi_parse returned NGX_OK.
    async fn command_done(&mut self) {
        let Some(cmd) = COMMANDS.iter().find(|c| c.name == self.command.as_slice()) else {
            if self.output {
                self.error(&format!(
                    "invalid SSI command: \"{}\"",
                    lossy(&self.command)
                ));
                self.ssi_error();
            }
            return;
        };
        if !self.output && !cmd.block {
            if self.block {
                // the command's text, rebuilt, goes in the block
                let mut t = b"<!--#".to_vec();
                t.extend_from_slice(&self.command);
                for (k, v) in &self.params {
                    t.push(b' ');
                    t.extend_from_slice(k);
                    t.extend_from_slice(b"=\"");
                    t.extend_from_slice(v);
                    t.push(b'"');
                }
                t.extend_from_slice(b" -->");
                if let Some(b) = self.shared.blocks.last_mut() {
                    b.1.extend_from_slice(&t);
                }
                return;
            }
            if cmd.conditional == 0 {
                return;
            }
        }
        if cmd.conditional != 0 && (self.conditional == 0 || self.conditional > cmd.conditional) {
            self.error(&format!(
                "invalid context of SSI command: \"{}\"",
                lossy(&self.command)
            ));
            return self.ssi_error();
        }
        if self.params.len() > MAX_PARAMS {
            self.error(&format!(
                "too many SSI command parameters: \"{}\"",
                lossy(&self.command)
            ));
            return self.ssi_error();
        }
        let mut values: Vec<Option<Vec<u8>>> = vec![None; cmd.params.len()];
        for (k, v) in &self.params {
            let Some(i) = cmd.params.iter().position(|(n, _)| *n == k.as_slice()) else {
                self.error(&format!(
                    "invalid parameter name: \"{}\" in \"{}\" SSI command",
                    lossy(k),
                    lossy(&self.command)
                ));
                return self.ssi_error();
            };
            if values[i].is_some() {
                self.error(&format!(
                    "duplicate \"{}\" parameter in \"{}\" SSI command",
                    lossy(k),
                    lossy(&self.command)
                ));
                return self.ssi_error();
            }
            values[i] = Some(v.clone());
        }
        for (i, (name, mandatory)) in cmd.params.iter().enumerate() {
            if *mandatory && values[i].is_none() {
                self.error(&format!(
                    "mandatory \"{}\" parameter is absent in \"{}\" SSI command",
                    lossy(name),
                    lossy(&self.command)
                ));
                return self.ssi_error();
            }
        }
        let rc = match cmd.name {
            b"include" => self.include(values).await,
            b"echo" => self.echo(values),
            b"config" => {
                if let Some(Some(t)) = values.get(1) {
                    self.timefmt = t.clone();
                }
                if let Some(Some(e)) = values.first() {
                    self.errmsg = e.clone();
                }
                Ok(())
            }
            b"set" => self.set(values),
            b"if" | b"elif" => self.cond(values),
            b"else" => {
                self.output = !self.output_chosen;
                self.conditional = COND_ELSE;
                Ok(())
            }
            b"endif" => {
                self.output = true;
                self.output_chosen = false;
                self.conditional = 0;
                Ok(())
            }
            b"block" => {
                let name = values.into_iter().next().flatten().unwrap_or_default();
                self.shared.blocks.push((name, Vec::new()));
                self.output = false;
                self.block = true;
                Ok(())
            }
            _ => {
                // endblock
                self.output = true;
                self.block = false;
                Ok(())
            }
        };
        if rc.is_err() {
            self.ssi_error();
        }
    }

    /// A variable for SSI: `set` ones and captures, then the request's (nginx:
    /// ngx_http_ssi_get_variable, then ngx_http_get_variable). `Err`: the variable failed
    /// (an empty `timefmt`).
    fn var(&self, name: &[u8]) -> Result<Option<Vec<u8>>, ()> {
        if let Some(v) = self.shared.get(name) {
            return Ok(Some(v));
        }
        match name {
            b"date_local" => date(false, &self.timefmt).map(Some),
            b"date_gmt" => date(true, &self.timefmt).map(Some),
            // nginx: empty arguments are not found (echo's "(none)").
            b"args" | b"query_string" if self.r.args.is_empty() => Ok(None),
            _ => Ok(self.r.variable(name)),
        }
    }

    /// nginx: ngx_http_ssi_echo.
    fn echo(&mut self, params: Vec<Option<Vec<u8>>>) -> Handled {
        let mut it = params.into_iter();
        let var = it.next().flatten().unwrap_or_default().to_ascii_lowercase();
        let default = it.next().flatten();
        let enc = it.next().flatten();
        let value = match self.var(&var)? {
            Some(v) => v,
            None => match default {
                Some(d) => d,
                None => b"(none)".to_vec(),
            },
        };
        if value.is_empty() {
            return Ok(());
        }
        if let Some(enc) = enc {
            match enc.as_slice() {
                b"none" => self.encoding = Encoding::None,
                b"url" => self.encoding = Encoding::Url,
                b"entity" => self.encoding = Encoding::Entity,
                _ => self.error(&format!(
                    "unknown encoding \"{}\" in the \"echo\" command",
                    lossy(&enc)
                )),
            }
        }
        let out = match self.encoding {
            Encoding::None => value,
            Encoding::Url => escape_uri_html(&value),
            Encoding::Entity => escape_html(&value),
        };
        self.out.extend_from_slice(&out);
        Ok(())
    }

    /// nginx: ngx_http_ssi_set.
    fn set(&mut self, params: Vec<Option<Vec<u8>>>) -> Handled {
        let mut it = params.into_iter();
        let name = it.next().flatten().unwrap_or_default().to_ascii_lowercase();
        let value = it.next().flatten().unwrap_or_default();
        let value = self.evaluate(&value, false)?;
        self.shared.set(name, value);
        Ok(())
    }

    /// nginx: ngx_http_ssi_if (also `elif`).
    fn cond(&mut self, params: Vec<Option<Vec<u8>>>) -> Handled {
        if self.command.len() == 2 && self.conditional != 0 {
            self.error("the \"if\" command inside the \"if\" command");
            return Err(());
        }
        if self.output_chosen {
            self.output = false;
            return Ok(());
        }
        let mut expr = params.into_iter().next().flatten().unwrap_or_default();
        let mut p = 0;
        while p < expr.len() {
            let c = expr[p];
            if c.is_ascii_uppercase() {
                expr[p] = c | 0x20;
            } else if !(c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, b'$' | b'{' | b'}' | b'_' | b'"' | b'\''))
            {
                break;
            }
            p += 1;
        }
        let left = self.evaluate(&expr[..p], false)?;
        while p < expr.len() && expr[p] == b' ' {
            p += 1;
        }
        if p == expr.len() {
            if left.is_empty() {
                self.output = false;
            } else {
                self.output = true;
                self.output_chosen = true;
            }
            self.conditional = COND_IF;
            return Ok(());
        }
        let invalid = |s: &Self| {
            s.error(&format!("invalid expression in \"{}\"", lossy(&expr)));
            Err(())
        };
        let negative = if expr[p] == b'=' {
            p += 1;
            false
        } else if p + 1 < expr.len() && expr[p] == b'!' && expr[p + 1] == b'=' {
            p += 2;
            true
        } else {
            return invalid(self);
        };
        while p < expr.len() && expr[p] == b' ' {
            p += 1;
        }
        let mut last = expr.len();
        let regex = p + 1 < last && expr[p] == b'/';
        if regex {
            if expr[last - 1] != b'/' {
                return invalid(self);
            }
            last -= 1;
            p += 1;
        } else if p + 1 < last && expr[p] == b'\\' && expr[p + 1] == b'/' {
            p += 1;
        }
        let right = self.evaluate(&expr[p..last], false)?;
        let matched = if regex {
            self.regex_match(&right, &left)?
        } else {
            left == right
        };
        if matched != negative {
            self.output = true;
            self.output_chosen = true;
        } else {
            self.output = false;
        }
        self.conditional = COND_IF;
        Ok(())
    }

    /// nginx: ngx_http_ssi_regex_match: the captures (and named ones, as SSI variables)
    /// stay for later commands.
    fn regex_match(&mut self, pattern: &[u8], subject: &[u8]) -> Result<bool, ()> {
        let re = match crate::regex::build(pattern, false) {
            Ok(re) => re,
            Err(text) => {
                self.error(&text);
                return Err(());
            }
        };
        let Ok(Some(m)) = re.re.captures(subject) else {
            return Ok(false);
        };
        // pcre's count: up to the last group that matched
        let n = (0..m.len())
            .rev()
            .find(|&i| m.get(i).is_some())
            .map_or(1, |i| i + 1);
        let groups = (0..n)
            .map(|i| m.get(i).map(|g| (g.start(), g.end())))
            .collect();
        for name in &re.names {
            let v = m
                .name(name)
                .map(|c| c.as_bytes().to_vec())
                .unwrap_or_default();
            self.shared.set(name.to_ascii_lowercase().into_bytes(), v);
        }
        self.shared.captures = Some((subject.to_vec(), groups));
        Ok(true)
    }

    /// nginx: ngx_http_ssi_evaluate_string: `$name` / `${name}` replaced, `\` escapes of
    /// `\ ' " $` removed; `prefix`: a relative result gets the directory of the URI.
    fn evaluate(&self, text: &[u8], prefix: bool) -> Result<Vec<u8>, ()> {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let has_vars = text.contains(&b'$');
        let mut i = 0;
        while i < text.len() {
            if text[i] == b'$' {
                i += 1;
                if i == text.len() {
                    return self.invalid_variable(text);
                }
                let bracket = text[i] == b'{';
                if bracket {
                    i += 1;
                    if i == text.len() {
                        return self.invalid_variable(text);
                    }
                }
                let start = i;
                let mut closed = !bracket;
                while i < text.len() {
                    let c = text[i];
                    if c == b'}' && bracket {
                        closed = true;
                        break;
                    }
                    if c.is_ascii_alphanumeric() || c == b'_' {
                        i += 1;
                        continue;
                    }
                    break;
                }
                let name = &text[start..i];
                if bracket && closed {
                    i += 1;
                }
                if !closed {
                    self.error(&format!(
                        "the closing bracket in \"{}\" variable is missing",
                        lossy(name)
                    ));
                    return Err(());
                }
                if name.is_empty() {
                    return self.invalid_variable(text);
                }
                if let Some(v) = self.var(&name.to_ascii_lowercase())? {
                    parts.push(v);
                }
            } else {
                let mut part = Vec::new();
                let mut quoted = false;
                while i < text.len() {
                    let c = text[i];
                    if !quoted {
                        if c == b'\\' {
                            quoted = true;
                            i += 1;
                            continue;
                        }
                        if c == b'$' {
                            break;
                        }
                    } else {
                        quoted = false;
                        if !matches!(c, b'\\' | b'\'' | b'"' | b'$') {
                            part.push(b'\\');
                        }
                    }
                    part.push(c);
                    i += 1;
                }
                parts.push(part);
            }
        }
        let mut out = Vec::new();
        if prefix {
            let relative = if has_vars {
                parts
                    .iter()
                    .find(|p| !p.is_empty())
                    .is_some_and(|p| p[0] != b'/')
            } else {
                text.first() != Some(&b'/')
            };
            if relative {
                if let Some(slash) = self.r.uri.iter().rposition(|&c| c == b'/') {
                    out.extend_from_slice(&self.r.uri[..=slash]);
                }
            }
        }
        for p in parts {
            out.extend_from_slice(&p);
        }
        Ok(out)
    }

    fn invalid_variable(&self, text: &[u8]) -> Result<Vec<u8>, ()> {
        self.error(&format!("invalid variable name in \"{}\"", lossy(text)));
        Err(())
    }

    /// nginx: ngx_http_ssi_include: `virtual` and `file` are subrequests (`file` is waited
    /// for), `set` keeps the body in a variable, `stub` answers for an empty one. Here each
    /// subrequest runs where its command is, before the text after it.
    async fn include(&mut self, params: Vec<Option<Vec<u8>>>) -> Handled {
        let mut it = params.into_iter();
        let (uri, file, wait, set, stub) = (
            it.next().flatten(),
            it.next().flatten(),
            it.next().flatten(),
            it.next().flatten(),
            it.next().flatten(),
        );
        if let (Some(u), Some(f)) = (&uri, &file) {
            self.error(&format!(
                "inclusion may be either virtual=\"{}\" or file=\"{}\"",
                lossy(u),
                lossy(f)
            ));
            return Err(());
        }
        let Some(target) = uri.clone().or_else(|| file.clone()) else {
            self.error("no parameter in \"include\" SSI command");
            return Err(());
        };
        if set.is_some() && stub.is_some() {
            self.error("\"set\" and \"stub\" cannot be used together in \"include\" SSI command");
            return Err(());
        }
        if let Some(w) = &wait {
            if uri.is_none() {
                self.error(&format!(
                    "\"wait\" cannot be used with file=\"{}\"",
                    lossy(file.as_deref().unwrap_or_default())
                ));
                return Err(());
            }
            if !w.eq_ignore_ascii_case(b"no") && !w.eq_ignore_ascii_case(b"yes") {
                self.error(&format!(
                    "invalid value \"{}\" in the \"wait\" parameter",
                    lossy(w)
                ));
                return Err(());
            }
        }
        let target = self.evaluate(&target, true)?;
        let Some((path, args)) = parse_unsafe_uri(&target) else {
            self.error(&format!("unsafe URI \"{}\" was detected", lossy(&target)));
            return Err(());
        };
        let stub_block = match &stub {
            Some(name) => match self.shared.blocks.iter().find(|(n, _)| n == name) {
                Some((_, b)) => Some(b.clone()),
                None => {
                    self.error(&format!(
                        "\"stub\"=\"{}\" for \"include\" not found",
                        lossy(name)
                    ));
                    return Err(());
                }
            },
            None => None,
        };
        let set = set.map(|s| s.to_ascii_lowercase());
        if let Some(name) = &set {
            if self.shared.get(name).is_none() {
                self.shared.set(name.clone(), Vec::new());
            }
        }
        if self.depth == 0 {
            // nginx: ngx_http_subrequest
            self.error(&format!(
                "subrequests cycle while processing \"{}\"",
                lossy(&path)
            ));
            return Err(());
        }
        // nginx: `file`, `set` and `wait="yes"` subrequests are waited for: the SSI parser
        // stops until they are done; the others are posted and run when it stops (here: at
        // the next waited one, or at the end of the document), their output in place.
        let waited = set.is_some()
            || uri.is_none()
            || wait
                .as_ref()
                .is_some_and(|w| w.eq_ignore_ascii_case(b"yes"));
        if !waited {
            self.pending.push((self.out.len(), path, args, stub_block));
            return Ok(());
        }
        self.run_pending().await;
        if let Some(name) = set {
            let (status, body) = self.subrequest(path, args).await;
            if status < 300 {
                self.shared.set(name, body);
            }
            return Ok(());
        }
        let b = self.output_of(path, args, stub_block).await;
        self.out.extend_from_slice(&b);
        Ok(())
    }

    /// Runs the posted subrequests, their output where their commands were.
    async fn run_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let mut offset = 0;
        for (at, path, args, stub) in pending {
            let b = self.output_of(path, args, stub).await;
            let at = (at + offset).min(self.out.len());
            self.out.splice(at..at, b.iter().copied());
            offset += b.len();
        }
    }

    /// What an included subrequest outputs: its body, or the stub block (nginx:
    /// ngx_http_ssi_stub_output runs when the subrequest finalizes without having output
    /// anything: an empty body, or an error, whose page or error_page is then not sent).
    async fn output_of(&mut self, path: Vec<u8>, args: Vec<u8>, stub: Option<Vec<u8>>) -> Vec<u8> {
        let (sr, status, body) = self.run_sub(path, args).await;
        let Some(b) = stub.filter(|_| body.is_empty() || status >= 300) else {
            return body;
        };
        // The block goes through the subrequest's filters with the document's type.
        if applies(&sr, None, self.content_type) {
            process(
                &sr,
                &b,
                self.content_type,
                self.depth.saturating_sub(1),
                self.shared,
            )
            .await
        } else {
            b
        }
    }

    /// A subrequest's status and body (for `set`).
    async fn subrequest(&mut self, path: Vec<u8>, args: Vec<u8>) -> (u16, Vec<u8>) {
        let (_, status, body) = self.run_sub(path, args).await;
        (status, body)
    }

    /// Runs an included subrequest and its own output filters: its location's sub_filter,
    /// then SSI.
    async fn run_sub(&mut self, path: Vec<u8>, args: Vec<u8>) -> (Request, u16, Vec<u8>) {
        let (mut sr, status, ct, body) =
            crate::http::lua::subrequest::ssi_sub(self.r, path, args).await;
        sr.status = status;
        let mut body = sub_first(&sr, ct.as_deref(), body);
        if !body.is_empty() && applies(&sr, None, ct.as_deref()) {
            body = process(
                &sr,
                &body,
                ct.as_deref(),
                self.depth.saturating_sub(1),
                self.shared,
            )
            .await;
        }
        (sr, status, body)
    }
}

/// nginx: ngx_http_parse_unsafe_uri: the path (unescaped) and the arguments, `None` for a
/// URI with a NUL byte or a `..` segment.
fn parse_unsafe_uri(uri: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if uri.is_empty() || uri[0] == b'?' {
        return None;
    }
    let (path, args) = match uri.iter().position(|&c| c == b'?') {
        Some(i) => (&uri[..i], uri[i + 1..].to_vec()),
        None => (uri, Vec::new()),
    };
    let unsafe_path = |p: &[u8]| p.contains(&0) || p.split(|&c| c == b'/').any(|seg| seg == b"..");
    if unsafe_path(path) {
        return None;
    }
    if !path.contains(&b'%') {
        return Some((path.to_vec(), args));
    }
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    while i < path.len() {
        if path[i] == b'%' && i + 2 < path.len() + 1 {
            if let (Some(h), Some(l)) = (
                path.get(i + 1).and_then(|&c| hex(c)),
                path.get(i + 2).and_then(|&c| hex(c)),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(path[i]);
        i += 1;
    }
    if unsafe_path(&out) {
        return None;
    }
    Some((out, args))
}

/// nginx: ngx_escape_uri with NGX_ESCAPE_HTML (`echo encoding="url"`).
fn escape_uri_html(s: &[u8]) -> Vec<u8> {
    const HTML: [u32; 8] = [
        0xffff_ffff,
        0x5000_00ad,
        0x5000_0000,
        0xb800_0001,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
    ];
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if HTML[usize::from(c >> 5)] & (1 << (c & 0x1f)) != 0 {
            out.extend_from_slice(&[b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
        } else {
            out.push(c);
        }
    }
    out
}

/// nginx: ngx_escape_html.
fn escape_html(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        match c {
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// nginx: ngx_http_ssi_date_gmt_local_variable: now by `timefmt` (strftime, `%s` alone is
/// the epoch seconds); `Err` when it formats to nothing.
fn date(gmt: bool, timefmt: &[u8]) -> Result<Vec<u8>, ()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if timefmt == b"%s" {
        return Ok(now.to_string().into_bytes());
    }
    let Ok(fmt) = std::ffi::CString::new(timefmt.to_vec()) else {
        return Err(());
    };
    let t = libc::time_t::try_from(now).unwrap_or(0);
    // SAFETY: `tm` is plain data filled by gmtime_r/localtime_r; strftime writes at most
    // `buf.len()` bytes into `buf` and reads the NUL-terminated `fmt`.
    let len = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if gmt {
            libc::gmtime_r(&t, &mut tm);
        } else {
            libc::localtime_r(&t, &mut tm);
        }
        let mut buf = [0u8; 2048];
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), &tm);
        buf[..n].to_vec()
    };
    if len.is_empty() {
        return Err(());
    }
    Ok(len)
}

/// `$date_local` / `$date_gmt` outside SSI processing: the default `timefmt`.
pub(crate) fn date_variable(name: &[u8]) -> Option<Vec<u8>> {
    match name {
        b"date_local" => date(false, DEFAULT_TIMEFMT).ok(),
        b"date_gmt" => date(true, DEFAULT_TIMEFMT).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{escape_html, escape_uri_html, parse_unsafe_uri};

    #[test]
    fn unsafe_uris() {
        assert_eq!(
            parse_unsafe_uri(b"/a/b%2ec?x=1"),
            Some((b"/a/b.c".to_vec(), b"x=1".to_vec()))
        );
        assert_eq!(parse_unsafe_uri(b"/a"), Some((b"/a".to_vec(), Vec::new())));
        assert_eq!(parse_unsafe_uri(b""), None);
        assert_eq!(parse_unsafe_uri(b"?a"), None);
        assert_eq!(parse_unsafe_uri(b"/a/../b"), None);
        assert_eq!(parse_unsafe_uri(b"/a/%2e%2e/b"), None);
        assert_eq!(parse_unsafe_uri(b"/a/.."), None);
        assert_eq!(
            parse_unsafe_uri(b"/a/..b"),
            Some((b"/a/..b".to_vec(), Vec::new()))
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(
            escape_html(b"<a href=\"x\">&</a>"),
            b"&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;".to_vec()
        );
        assert_eq!(
            escape_uri_html(b"<a href=\"x\">&amp; \xc3\xa9/?</a>"),
            b"%3Ca%20href=%22x%22%3E&amp;%20%C3%A9/?%3C/a%3E".to_vec()
        );
    }
}
