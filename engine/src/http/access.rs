//! ngx_http_access_module: `allow`, `deny`.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult};
use crate::http::geo::ptocidr;
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_access_module",
    commands: &[
        cmd(
            "allow",
            Ctx::HTTP_MSL.or(Ctx::HTTP_LMT),
            Args::TAKE1,
            Set::Handler(access_rule),
        ),
        cmd(
            "deny",
            Ctx::HTTP_MSL.or(Ctx::HTTP_LMT),
            Args::TAKE1,
            Set::Handler(access_rule),
        ),
    ],
};

/// nginx: ngx_http_access_rule
fn access_rule(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let Some(v) = d.args.first() else {
        return Ok(());
    };
    if v == b"all" || v == b"unix:" {
        return Ok(());
    }
    let shown = String::from_utf8_lossy(v);
    match ptocidr(v) {
        Err(()) => Err(cf.emerg(format!("invalid parameter \"{shown}\"")).into()),
        Ok((_, true)) => {
            cf.conf_log(
                Level::Warn,
                format!("low address bits of {shown} are meaningless"),
            );
            Ok(())
        }
        Ok(_) => Ok(()),
    }
}

// ---- runtime: lowering and the access phase ----

use crate::http::geo::Cidr;
use crate::http::request::Request;
use crate::http::response::Reply;

/// One `allow`/`deny` rule (nginx: ngx_http_access_rule_t and its inet6/unix forms).
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) what: RuleAddr,
    pub(crate) deny: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum RuleAddr {
    Cidr(Cidr),
    Unix,
}

/// Folds `allow`/`deny` into a level (`all` is the three rules nginx adds).
pub(crate) fn lower(c: &mut crate::http::lower::LocConf, d: &Directive) {
    lower_rule(c.access_rules.get_or_insert_with(Vec::new), d);
}

/// One `allow`/`deny` directive's rules (http's and stream's).
pub(crate) fn lower_rule(rules: &mut Vec<Rule>, d: &Directive) {
    let deny = d.name == b"deny";
    let v = d.args.first().map(Vec::as_slice).unwrap_or_default();
    let mut push = |what| rules.push(Rule { what, deny });
    match v {
        b"all" => {
            push(RuleAddr::Cidr(Cidr::V4 { addr: 0, mask: 0 }));
            push(RuleAddr::Cidr(Cidr::V6 {
                addr: [0; 16],
                mask: [0; 16],
            }));
            push(RuleAddr::Unix);
        }
        b"unix:" => push(RuleAddr::Unix),
        _ => {
            if let Ok((cidr, _)) = ptocidr(v) {
                push(RuleAddr::Cidr(cidr));
            }
        }
    }
}

/// What an access handler answered (nginx: NGX_DECLINED, NGX_OK or a status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Declined,
    Ok,
    Status(u16),
}

/// nginx: ngx_http_access_handler.
fn access_handler(r: &Request, satisfy_all: bool) -> Verdict {
    let Some(rules) = r.loc.access_rules.as_ref() else {
        return Verdict::Declined;
    };
    match first_match(rules, r.conn.remote.map(|a| a.ip())) {
        Some(true) => {
            if satisfy_all {
                crate::http::errlog::request_error(r, "access forbidden by rule");
            }
            Verdict::Status(403)
        }
        Some(false) => Verdict::Ok,
        None => Verdict::Declined,
    }
}

/// The first rule matching `remote` (`None`: a unix-domain client): `Some(true)` denies,
/// `Some(false)` allows (nginx: the inet/inet6/unix loops of the access handlers, http's
/// and stream's).
pub(crate) fn first_match(rules: &[Rule], remote: Option<std::net::IpAddr>) -> Option<bool> {
    // An IPv4-mapped IPv6 address is checked against the IPv4 rules.
    let remote = match remote {
        Some(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => Some(std::net::IpAddr::V4(v4)),
            None => Some(std::net::IpAddr::V6(v6)),
        },
        other => other,
    };
    rules.iter().find_map(|rule| {
        let hit = match (&rule.what, remote) {
            (RuleAddr::Cidr(Cidr::V4 { addr, mask }), Some(std::net::IpAddr::V4(ip))) => {
                u32::from(ip) & mask == *addr
            }
            (RuleAddr::Cidr(Cidr::V6 { addr, mask }), Some(std::net::IpAddr::V6(ip))) => ip
                .octets()
                .iter()
                .zip(mask.iter().zip(addr.iter()))
                .all(|(b, (m, a))| b & m == *a),
            (RuleAddr::Unix, None) => true,
            _ => false,
        };
        hit.then_some(rule.deny)
    })
}

/// The access phase (nginx: ngx_http_core_access_phase over the access handlers, access
/// then auth_basic, then auth_request, and ngx_http_core_post_access_phase). `Some` answers
/// the request.
pub(crate) async fn phase(r: &mut Request) -> Option<Reply> {
    let satisfy_all = r.loc.satisfy_any != Some(true);
    let mut access_code = 0u16;
    let mut www_authenticate = None;
    for handler in 0..4 {
        let (v, realm) = match handler {
            0 => (access_handler(r, satisfy_all), None),
            1 => crate::http::auth_basic::handler(r).await,
            2 => crate::http::auth_request::handler(r).await,
            // access_by_lua* is the access phase's last handler; with `satisfy all` it runs
            // after this function (request.rs), with `satisfy any` its verdict counts here.
            _ if satisfy_all || r.loc.lua_access.is_none() => continue,
            _ => match crate::http::lua::access_any(r).await {
                Ok(true) => (Verdict::Ok, None),
                Ok(false) => (Verdict::Declined, None),
                Err(reply)
                    if reply.body.is_none()
                        && reply.file.is_none()
                        && matches!(reply.status, 401 | 403) =>
                {
                    (Verdict::Status(reply.status), None)
                }
                Err(reply) => return Some(reply),
            },
        };
        match v {
            Verdict::Declined => continue,
            Verdict::Ok if satisfy_all => continue,
            Verdict::Ok => return None,
            Verdict::Status(s) if !satisfy_all && (s == 403 || s == 401) => {
                if access_code != 401 {
                    access_code = s;
                }
                if realm.is_some() {
                    www_authenticate = realm;
                }
            }
            Verdict::Status(s) => return Some(denied(s, realm)),
        }
    }
    match access_code {
        0 => None,
        403 => {
            crate::http::errlog::request_error(r, "access forbidden by rule");
            Some(Reply::status(403))
        }
        s => Some(denied(s, www_authenticate)),
    }
}

/// A 401 carries `WWW-Authenticate` (nginx: ngx_http_auth_basic_set_realm).
fn denied(status: u16, realm: Option<Vec<u8>>) -> Reply {
    let mut reply = Reply::status(status);
    if let Some(v) = realm.and_then(|v| hyper::header::HeaderValue::from_bytes(&v).ok()) {
        reply.headers.insert(hyper::header::WWW_AUTHENTICATE, v);
    }
    reply
}
