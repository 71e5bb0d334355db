//! ngx_http_userid_filter_module.

use parser::Directive;

use crate::conf::values::parse_time;
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::request::Request;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_userid_filter_module",
    commands: &[
        cmd(
            "userid",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Enum(&["off", "log", "v1", "on"])),
        ),
        cmd(
            "userid_service",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "userid_name",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
        // The post handlers of domain, path and p3p only rewrite the value.
        cmd(
            "userid_domain",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
        cmd(
            "userid_path",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
        cmd(
            "userid_expires",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(userid_expires),
        ),
        cmd(
            "userid_flags",
            Ctx::HTTP_MSL,
            Args::TAKE123,
            Set::Slot(Slot::Bitmask(&[
                "off",
                "secure",
                "httponly",
                "samesite=strict",
                "samesite=lax",
                "samesite=none",
            ])),
        ),
        cmd(
            "userid_p3p",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Str),
        ),
        cmd(
            "userid_mark",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Handler(userid_mark),
        ),
    ],
};

/// Variables this module defines.
pub(crate) const VARIABLES: &[&str] = &["uid_got", "uid_set", "uid_reset"];

/// nginx: ngx_http_userid_expires
fn userid_expires(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if cf.seen("userid_expires") {
        return Err(Some("is duplicate".into()));
    }
    let v = d.args.first().map(Vec::as_slice).unwrap_or_default();
    if v == b"max" || v == b"off" || parse_time(v, true).is_some() {
        Ok(())
    } else {
        Err(Some("invalid value".into()))
    }
}

/// nginx: ngx_http_userid_mark
fn userid_mark(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    if cf.seen("userid_mark") {
        return Err(Some("is duplicate".into()));
    }
    let v = d.args.first().map(Vec::as_slice).unwrap_or_default();
    let ok = v == b"off" || matches!(v, [c] if c.is_ascii_alphanumeric() || *c == b'=');
    if ok {
        Ok(())
    } else {
        Err(Some(
            "value must be \"off\" or a single letter, digit or \"=\"".into(),
        ))
    }
}

// ---- runtime: lowering, the header filter and the variables ----

/// `userid` states (nginx: NGX_HTTP_USERID_OFF..ON).
const OFF: u8 = 0;
const LOG: u8 = 1;
const V1: u8 = 2;

/// `userid_flags` bits (nginx: NGX_HTTP_USERID_COOKIE_*).
const F_OFF: u32 = 0x0002;
const F_SECURE: u32 = 0x0004;
const F_HTTPONLY: u32 = 0x0008;
const F_STRICT: u32 = 0x0020;
const F_LAX: u32 = 0x0040;
const F_NONE: u32 = 0x0080;

/// `userid_expires max` (nginx: NGX_HTTP_USERID_MAX_EXPIRES, 31 Dec 2037 23:55:55 GMT).
const MAX_EXPIRES: i64 = 2_145_916_555;

/// A level's userid directives (`None`: not set here; nginx's defaults at use).
#[derive(Debug, Clone, Default)]
pub(crate) struct UidConf {
    enable: Option<u8>,
    flags: Option<u32>,
    service: Option<i64>,
    name: Option<Vec<u8>>,
    /// `; domain=x` (empty for `none`).
    domain: Option<Vec<u8>>,
    /// `; path=x`.
    path: Option<Vec<u8>>,
    p3p: Option<Vec<u8>>,
    expires: Option<i64>,
    /// 0 is `off`.
    mark: Option<u8>,
}

impl UidConf {
    fn enable(&self) -> u8 {
        self.enable.unwrap_or(OFF)
    }
    fn name(&self) -> &[u8] {
        self.name.as_deref().unwrap_or(b"uid")
    }
    fn mark(&self) -> u8 {
        self.mark.unwrap_or(0)
    }
}

/// nginx: ngx_http_userid_merge_conf.
pub(crate) fn merge(c: &mut UidConf, p: &UidConf) {
    macro_rules! inherit {
        ($($f:ident),*) => {$(
            if c.$f.is_none() {
                c.$f = p.$f.clone();
            }
        )*};
    }
    inherit!(enable, flags, service, name, domain, path, p3p, expires, mark);
}

/// Folds the userid directives into a level (their values were checked by the parse pass).
pub(crate) fn lower(c: &mut crate::http::lower::LocConf, d: &Directive) -> bool {
    let a = d.args.first().map(Vec::as_slice).unwrap_or_default();
    let u = &mut c.userid;
    match d.name.as_slice() {
        b"userid" => {
            u.enable = Some(match a {
                b"log" => LOG,
                b"v1" => V1,
                b"on" => 3,
                _ => OFF,
            })
        }
        b"userid_service" => u.service = crate::conf::values::atoi(a),
        b"userid_name" => u.name = Some(a.to_vec()),
        // nginx: ngx_http_userid_domain / _path / _p3p (the post handlers).
        b"userid_domain" => {
            u.domain = Some(match a {
                b"none" => Vec::new(),
                _ => [b"; domain=".as_slice(), a].concat(),
            })
        }
        b"userid_path" => u.path = Some([b"; path=".as_slice(), a].concat()),
        b"userid_p3p" => u.p3p = Some(if a == b"none" { Vec::new() } else { a.to_vec() }),
        b"userid_expires" => {
            u.expires = Some(match a {
                b"max" => MAX_EXPIRES,
                b"off" => 0,
                _ => parse_time(a, true).unwrap_or(0),
            })
        }
        b"userid_mark" => {
            u.mark = Some(if a == b"off" {
                0
            } else {
                a.first().copied().unwrap_or(0)
            })
        }
        b"userid_flags" => {
            let mut bits = 0;
            for v in &d.args {
                bits |= match v.as_slice() {
                    b"off" => F_OFF,
                    b"secure" => F_SECURE,
                    b"httponly" => F_HTTPONLY,
                    b"samesite=strict" => F_STRICT,
                    b"samesite=lax" => F_LAX,
                    b"samesite=none" => F_NONE,
                    _ => 0,
                };
            }
            u.flags = Some(bits);
        }
        _ => return false,
    }
    true
}

/// A request's uids (nginx: ngx_http_userid_ctx_t), as the bytes nginx keeps in memory:
/// four 32-bit words in the host's (little-endian) order.
#[derive(Clone, Default)]
struct UidCtx {
    got: [u8; 16],
    set: [u8; 16],
    /// The cookie's value as sent.
    cookie: Vec<u8>,
    reset: bool,
}

/// Where a request's context is kept between the filter and the variables.
const CTX_KEY: &[u8] = b" userid ctx";

impl UidCtx {
    fn save(&self, r: &Request) {
        let mut v = Vec::with_capacity(33 + self.cookie.len());
        v.extend_from_slice(&self.got);
        v.extend_from_slice(&self.set);
        v.push(u8::from(self.reset));
        v.extend_from_slice(&self.cookie);
        r.lazy.borrow_mut().insert(CTX_KEY.to_vec(), Some(v));
    }

    fn load(r: &Request) -> Option<UidCtx> {
        let lazy = r.lazy.borrow();
        let v = lazy.get(CTX_KEY)?.as_ref()?;
        let mut c = UidCtx::default();
        c.got.copy_from_slice(v.get(..16)?);
        c.set.copy_from_slice(v.get(16..32)?);
        c.reset = *v.get(32)? != 0;
        c.cookie = v.get(33..)?.to_vec();
        Some(c)
    }
}

/// The 32-bit word `i` of a uid as nginx prints it (`%08XD` of the word in memory).
fn word(uid: &[u8; 16], i: usize) -> u32 {
    u32::from_le_bytes([uid[4 * i], uid[4 * i + 1], uid[4 * i + 2], uid[4 * i + 3]])
}

fn hex(uid: &[u8; 16]) -> String {
    (0..4).map(|i| format!("{:08X}", word(uid, i))).collect()
}

/// nginx: ngx_http_parse_multi_header_lines: the value of cookie `name` in the Cookie lines,
/// and the index of its line.
fn find_cookie<'a>(lines: &[&'a [u8]], name: &[u8]) -> Option<(usize, &'a [u8])> {
    for (i, line) in lines.iter().enumerate() {
        if name.len() > line.len() {
            continue;
        }
        let mut s = 0;
        while s < line.len() {
            let matches = line
                .get(s..s + name.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(name));
            if matches {
                let mut p = s + name.len();
                while p < line.len() && line[p] == b' ' {
                    p += 1;
                }
                if p < line.len() && line[p] == b'=' {
                    p += 1;
                    while p < line.len() && line[p] == b' ' {
                        p += 1;
                    }
                    let end = line[p..]
                        .iter()
                        .position(|&c| c == b';')
                        .map_or(line.len(), |e| p + e);
                    return Some((i, &line[p..end]));
                }
                s = p;
            }
            // skip to the next cookie
            while s < line.len() {
                let c = line[s];
                s += 1;
                if c == b';' || c == b',' {
                    break;
                }
            }
            while s < line.len() && line[s] == b' ' {
                s += 1;
            }
        }
    }
    None
}

/// nginx: ngx_http_userid_get_uid: the context, parsing the cookie the first time.
fn get_uid(r: &Request, conf: &UidConf) -> UidCtx {
    if let Some(c) = UidCtx::load(r) {
        return c;
    }
    let mut ctx = UidCtx::default();
    let lines: Vec<&[u8]> = r
        .headers
        .values(&hyper::header::COOKIE)
        .map(|v| v.as_bytes())
        .collect();
    if let Some((n, value)) = find_cookie(&lines, conf.name()) {
        ctx.cookie = value.to_vec();
        let line = String::from_utf8_lossy(lines[n]).into_owned();
        if value.len() < 22 {
            crate::http::errlog::request_error(
                r,
                &format!("client sent too short userid cookie \"{line}\""),
            );
        } else {
            // nginx decodes the first 22 characters only (a mark or a broken "==" tail
            // may follow).
            match crate::http::lua::util::decode_base64(&value[..22]) {
                Some(d) => {
                    let n = d.len().min(16);
                    ctx.got[..n].copy_from_slice(&d[..n]);
                }
                None => crate::http::errlog::request_error(
                    r,
                    &format!("client sent invalid userid cookie \"{line}\""),
                ),
            }
        }
    }
    ctx.save(r);
    ctx
}

/// The worker's start value (nginx: ngx_http_userid_init_worker: the microseconds / 20 in
/// the high half, the pid in the low half).
fn start_value() -> u32 {
    static START: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *START.get_or_init(|| {
        let usec = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_micros());
        ((usec / 20) << 16) | (std::process::id() & 0xffff)
    })
}

static SEQ_V1: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
static SEQ_V2: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0x0303_0302);

/// nginx: ngx_http_userid_create_uid: keeps the uid sent, marks it, or makes a new one.
fn create_uid(r: &Request, ctx: &mut UidCtx, conf: &UidConf) {
    use std::sync::atomic::Ordering;
    if word(&ctx.set, 3) != 0 {
        return;
    }
    if word(&ctx.got, 3) != 0 {
        let reset = r.variable(b"uid_reset").unwrap_or_default();
        if reset.is_empty() || reset == b"0" {
            let mark = conf.mark();
            let marked = ctx.cookie.len() > 23 && ctx.cookie[22] == mark && ctx.cookie[23] == b'=';
            if mark != 0 && !marked {
                ctx.set = ctx.got;
            }
            return;
        }
        ctx.reset = true;
        if reset == b"log" {
            crate::http::errlog::log(
                r,
                crate::log::Level::Notice,
                &format!(
                    "userid cookie \"{}={}\" was reset",
                    String::from_utf8_lossy(conf.name()),
                    hex(&ctx.got)
                ),
            );
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32);
    let words: [[u8; 4]; 4] = if conf.enable() == V1 {
        let seq = SEQ_V1.fetch_add(0x100, Ordering::Relaxed);
        [
            (conf.service.unwrap_or(0) as u32).to_le_bytes(),
            now.to_le_bytes(),
            start_value().to_le_bytes(),
            seq.to_le_bytes(),
        ]
    } else {
        // nginx: the words in network order; the first is the local IPv4 address (the
        // last four bytes of an IPv6 one, 0 for a unix socket) unless userid_service.
        let first = match conf.service {
            Some(s) => (s as u32).to_be_bytes(),
            None => match r.conn.local.map(|a| a.ip()) {
                Some(std::net::IpAddr::V4(ip)) => ip.octets(),
                Some(std::net::IpAddr::V6(ip)) => {
                    let o = ip.octets();
                    [o[12], o[13], o[14], o[15]]
                }
                None => [0; 4],
            },
        };
        let seq = loop {
            let seq = SEQ_V2.fetch_add(0x100, Ordering::Relaxed);
            // nginx: the sequencer starts again at 0x03030302 when it wraps.
            if seq >= 0x0303_0302 {
                break seq;
            }
            let _ = SEQ_V2.compare_exchange(
                seq.wrapping_add(0x100),
                0x0303_0302,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        };
        [
            first,
            now.to_be_bytes(),
            start_value().to_be_bytes(),
            seq.to_be_bytes(),
        ]
    };
    for (i, w) in words.iter().enumerate() {
        ctx.set[4 * i..4 * i + 4].copy_from_slice(w);
    }
}

/// nginx: ngx_http_cookie_time (4-digit years after 2037).
fn cookie_time(t: i64) -> String {
    const WEEK: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mon, d, h, mi, s) = crate::http::static_file::gmtime(t);
    let wday = WEEK[t.div_euclid(86400).rem_euclid(7) as usize];
    let year = if y > 2037 {
        y.to_string()
    } else {
        format!("{:02}", y % 100)
    };
    let month = MONTHS.get(mon.saturating_sub(1)).copied().unwrap_or("Jan");
    format!("{wday}, {d:02}-{month}-{year} {h:02}:{mi:02}:{s:02} GMT")
}

/// nginx: ngx_http_userid_filter + ngx_http_userid_set_uid: the `Set-Cookie` (and `P3P`)
/// lines to add to a main request's response.
pub(crate) fn filter(r: &Request) -> Vec<(&'static str, Vec<u8>)> {
    let conf = &r.loc.userid;
    if r.sub != 0 || conf.enable() < V1 {
        return Vec::new();
    }
    let mut ctx = get_uid(r, conf);
    create_uid(r, &mut ctx, conf);
    ctx.save(r);
    if word(&ctx.set, 3) == 0 {
        return Vec::new();
    }
    let mut c = conf.name().to_vec();
    c.push(b'=');
    if word(&ctx.got, 3) == 0 || ctx.reset {
        let mut enc = crate::http::lua::util::encode_base64(&ctx.set, false);
        if conf.mark() != 0 {
            let n = enc.len();
            enc[n - 2] = conf.mark();
        }
        c.extend_from_slice(&enc);
    } else {
        c.extend_from_slice(ctx.cookie.get(..22).unwrap_or_default());
        c.push(conf.mark());
        c.push(b'=');
    }
    match conf.expires.unwrap_or(0) {
        0 => {}
        MAX_EXPIRES => c.extend_from_slice(b"; expires=Thu, 31-Dec-37 23:55:55 GMT"),
        e => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            c.extend_from_slice(b"; expires=");
            c.extend_from_slice(cookie_time(now + e).as_bytes());
        }
    }
    c.extend_from_slice(conf.domain.as_deref().unwrap_or_default());
    c.extend_from_slice(conf.path.as_deref().unwrap_or(b"; path=/"));
    let flags = conf.flags.unwrap_or(0);
    for (bit, text) in [
        (F_SECURE, "; secure"),
        (F_HTTPONLY, "; httponly"),
        (F_STRICT, "; samesite=strict"),
        (F_LAX, "; samesite=lax"),
        (F_NONE, "; samesite=none"),
    ] {
        if flags & bit != 0 {
            c.extend_from_slice(text.as_bytes());
        }
    }
    let mut out = vec![("Set-Cookie", c)];
    if let Some(p3p) = conf.p3p.as_ref().filter(|p| !p.is_empty()) {
        out.push(("P3P", p3p.clone()));
    }
    out
}

/// `$uid_got`, `$uid_set`, `$uid_reset` (nginx: ngx_http_userid_got_variable, _set_variable,
/// _reset_variable); `None` is "not found", for other names too.
pub(crate) fn variable(r: &Request, name: &[u8]) -> Option<Vec<u8>> {
    let conf = &r.loc.userid;
    let show = |uid: &[u8; 16]| {
        let mut v = conf.name().to_vec();
        v.push(b'=');
        v.extend_from_slice(hex(uid).as_bytes());
        v
    };
    match name {
        b"uid_reset" => Some(Vec::new()),
        b"uid_got" => {
            if conf.enable() == OFF {
                return None;
            }
            let ctx = get_uid(r, conf);
            (word(&ctx.got, 3) != 0).then(|| show(&ctx.got))
        }
        b"uid_set" => {
            if conf.enable() < V1 {
                return None;
            }
            let mut ctx = get_uid(r, conf);
            create_uid(r, &mut ctx, conf);
            ctx.save(r);
            (word(&ctx.set, 3) != 0).then(|| show(&ctx.set))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_found_as_nginx() {
        let lines: Vec<&[u8]> = vec![b"a=1; uidx=2", b"x=1, UID = abc; y=2"];
        assert_eq!(find_cookie(&lines, b"uid"), Some((1, b"abc".as_slice())));
        assert_eq!(find_cookie(&lines, b"uidx"), Some((0, b"2".as_slice())));
        assert_eq!(find_cookie(&lines, b"zz"), None);
    }

    #[test]
    fn words_and_times() {
        let mut uid = [0u8; 16];
        uid[..4].copy_from_slice(&[0x7f, 0, 0, 1]);
        assert_eq!(&hex(&uid)[..8], "0100007F");
        assert_eq!(cookie_time(MAX_EXPIRES), "Thu, 31-Dec-37 23:55:55 GMT");
        assert_eq!(cookie_time(4_102_444_800), "Fri, 01-Jan-2100 00:00:00 GMT");
    }
}
