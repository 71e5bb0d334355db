//! ngx_http_set_misc_module 0.33: `set_xxx $var [value]` directives built on ngx_devel_kit's
//! set_var helpers (each defines its target variable as changeable).

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult};
use crate::http::ndk;
use crate::http::variables;
use crate::log::Level;

/// http main, server, `if` in server, location, `if` in location.
const ANY_HTTP: Ctx = Ctx::HTTP_MSL.or(Ctx::HTTP_SIF).or(Ctx::HTTP_LIF);

const fn value(name: &'static str) -> Command {
    cmd(
        name,
        ANY_HTTP,
        Args::TAKE12,
        Set::Handler(ndk::set_var_value),
    )
}

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_set_misc_module",
    commands: &[
        value("set_encode_base64"),
        value("set_decode_base64"),
        value("set_encode_base64url"),
        value("set_decode_base64url"),
        value("set_decode_hex"),
        value("set_encode_hex"),
        cmd(
            "set_hmac_sha1",
            ANY_HTTP,
            Args::TAKE3,
            Set::Handler(ndk::set_var_multi_value),
        ),
        cmd(
            "set_hmac_sha256",
            ANY_HTTP,
            Args::TAKE3,
            Set::Handler(ndk::set_var_multi_value),
        ),
        value("set_md5"),
        value("set_sha1"),
        value("set_unescape_uri"),
        value("set_escape_uri"),
        value("set_quote_sql_str"),
        value("set_quote_pgsql_str"),
        value("set_quote_json_str"),
        cmd(
            "set_if_empty",
            ANY_HTTP,
            Args::TAKE2,
            Set::Handler(set_if_empty),
        ),
        cmd(
            "set_hashed_upstream",
            ANY_HTTP,
            Args::TAKE3,
            Set::Handler(set_hashed_upstream),
        ),
        cmd(
            "set_misc_base32_padding",
            ANY_HTTP,
            Args::FLAG,
            Set::Handler(base32_padding_deprecated),
        ),
        cmd(
            "set_base32_padding",
            ANY_HTTP,
            Args::FLAG,
            Set::Handler(base32_padding),
        ),
        cmd(
            "set_base32_alphabet",
            ANY_HTTP,
            Args::TAKE1,
            Set::Handler(base32_alphabet),
        ),
        value("set_encode_base32"),
        value("set_decode_base32"),
        cmd(
            "set_local_today",
            ANY_HTTP,
            Args::TAKE1,
            Set::Handler(ndk::set_var_value),
        ),
        cmd(
            "set_formatted_gmt_time",
            ANY_HTTP,
            Args::TAKE2,
            Set::Handler(ndk::set_var_value),
        ),
        cmd(
            "set_formatted_local_time",
            ANY_HTTP,
            Args::TAKE2,
            Set::Handler(ndk::set_var_value),
        ),
        cmd(
            "set_random",
            ANY_HTTP,
            Args::TAKE3,
            Set::Handler(ndk::set_var_multi_value),
        ),
        value("set_secure_random_alphanum"),
        value("set_secure_random_lcalpha"),
        cmd(
            "set_rotate",
            ANY_HTTP,
            Args::TAKE3,
            Set::Handler(set_rotate),
        ),
    ],
};

/// nginx: BASE32_ALPHABET_LEN
const BASE32_ALPHABET_LEN: usize = 32;

/// The per-level settings of the module (nginx: ngx_http_set_misc_loc_conf_t).
#[derive(Default, Debug)]
pub(crate) struct SetMiscLoc {
    /// `set_base32_padding` / `set_misc_base32_padding` (one field for both).
    pub(crate) base32_padding: Option<bool>,
    pub(crate) base32_alphabet: Option<Vec<u8>>,
}

/// nginx: ngx_http_set_if_empty: `$var` and the value are both operands.
fn set_if_empty(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    match d.args.first() {
        Some(var) => ndk::set_var_values(cf, var, &d.args),
        None => Ok(()),
    }
}

/// nginx: ngx_http_set_rotate: `$var from to`, `$var` being an operand too.
fn set_rotate(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    set_if_empty(cf, d)
}

/// nginx: ngx_http_set_hashed_upstream: `$var list key`; a static list name must name an
/// `upstream_list` defined before.
fn set_hashed_upstream(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let [var, list, key] = d.args.as_slice() else {
        return Ok(());
    };
    if variables::script_variables_count(list) > 0 {
        return ndk::set_var_values(cf, var, &d.args[1..]);
    }
    if ndk::upstream_lists(cf).is_none_or(|l| l.get(list).is_none()) {
        cf.log(
            Level::Error,
            format!(
                "set_hashed_upstream: upstream list \"{}\" not defined yet",
                String::from_utf8_lossy(list)
            ),
        );
        return Err(None);
    }
    ndk::set_var_values(cf, var, std::slice::from_ref(key))
}

/// nginx: ngx_conf_set_flag_slot on the shared `base32_padding` field.
fn padding_flag(cf: &mut Cf<'_>, d: &Directive, name: &'static str) -> SetResult {
    if cf.frame().get::<SetMiscLoc>().base32_padding.is_some() {
        return Err(Some("is duplicate".into()));
    }
    let arg = d.args.first().map(Vec::as_slice).unwrap_or_default();
    if !(arg.eq_ignore_ascii_case(b"on") || arg.eq_ignore_ascii_case(b"off")) {
        return Err(cf
            .emerg(format!(
                "invalid value \"{}\" in \"{name}\" directive, it must be \"on\" or \"off\"",
                String::from_utf8_lossy(arg)
            ))
            .into());
    }
    let on = d
        .args
        .first()
        .is_some_and(|a| a.eq_ignore_ascii_case(b"on"));
    cf.frame().get::<SetMiscLoc>().base32_padding = Some(on);
    Ok(())
}

/// nginx: ngx_conf_set_flag_slot + ngx_conf_deprecated
fn base32_padding_deprecated(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    padding_flag(cf, d, "set_misc_base32_padding")?;
    cf.conf_log(
        Level::Warn,
        "the \"set_misc_base32_padding\" directive is deprecated, use the \
         \"set_base32_padding\" directive instead",
    );
    Ok(())
}

/// nginx: ngx_conf_set_flag_slot
fn base32_padding(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    padding_flag(cf, d, "set_base32_padding")
}

/// nginx: ngx_http_set_misc_base32_alphabet
fn base32_alphabet(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let Some(alphabet) = d.args.first() else {
        return Ok(());
    };
    if alphabet.len() != BASE32_ALPHABET_LEN {
        return Err(cf
            .emerg(format!(
                "\"set_base32_alphabet\" directive takes an alphabet of {} bytes but {} expected",
                alphabet.len(),
                BASE32_ALPHABET_LEN
            ))
            .into());
    }
    let conf = cf.frame().get::<SetMiscLoc>();
    if conf.base32_alphabet.is_some() {
        return Err(Some("is duplicate".into()));
    }
    conf.base32_alphabet = Some(alphabet.clone());
    Ok(())
}

// ---- run time -----------------------------------------------------------------------------
//
// Each directive is one rewrite-script code (lower.rs `Code::SetMisc`), run in configuration
// order with `set`, `rewrite`, `if` and `set_by_lua*` (nginx: ngx_devel_kit's set_var codes:
// the operands are evaluated, the filter function computes the value, the variable is set).
// The per-level settings (`set_base32_padding`, `set_base32_alphabet`) and `set_rotate`'s
// counter are read from the request's current location conf at run time, as the module's
// functions do with ngx_http_get_module_loc_conf(r, ...).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::http::lower::LocConf;
use crate::http::ndk::UpstreamList;
use crate::http::request::Request;
use crate::http::response::Reply;
use crate::http::variables::ComplexValue;

/// The module's default `set_base32_alphabet`.
const BASE32_DEFAULT: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// nginx: NGX_CONF_UNSET, the "no value yet" of `set_rotate`'s counter.
const UNSET: i64 = -1;

/// `set_rotate`'s counter of one configuration level (nginx: the module's loc conf
/// `current`; each level has its own, shared by the level's `set_rotate`s).
#[derive(Debug)]
pub(crate) struct Rotate(AtomicI64);

impl Default for Rotate {
    fn default() -> Self {
        Rotate(AtomicI64::new(UNSET))
    }
}

/// A `set_base32_alphabet` with its decoding table (nginx: the merged loc conf's
/// `base32_alphabet` and `basis32`).
#[derive(Debug)]
pub(crate) struct Base32Alphabet {
    encode: [u8; 32],
    /// Byte -> digit value; bytes outside the alphabet decode as 0 (nginx leaves them
    /// uninitialized in a fresh pool allocation, which the reference shows as zeros).
    decode: [u8; 256],
}

impl Base32Alphabet {
    fn new(alphabet: &[u8]) -> Self {
        let mut encode = *BASE32_DEFAULT;
        let mut decode = [0u8; 256];
        for (i, &c) in alphabet.iter().take(32).enumerate() {
            encode[i] = c;
            decode[usize::from(c)] = i as u8;
        }
        Base32Alphabet { encode, decode }
    }
}

/// The operation of one directive.
#[derive(Debug)]
enum Op {
    EncodeBase64,
    DecodeBase64,
    EncodeBase64Url,
    DecodeBase64Url,
    EncodeHex,
    DecodeHex,
    HmacSha1,
    HmacSha256,
    Md5,
    Sha1,
    UnescapeUri,
    EscapeUri,
    QuoteSql,
    QuotePgsql,
    QuoteJson,
    IfEmpty,
    /// `set_hashed_upstream`: the list when its name is static (operand: the key), `None`
    /// when the name has variables (operands: the name, the key), looked up among `lists`.
    HashedUpstream {
        list: Option<UpstreamList>,
        lists: Arc<Vec<UpstreamList>>,
    },
    EncodeBase32,
    DecodeBase32,
    LocalToday,
    FormattedGmtTime,
    FormattedLocalTime,
    Random,
    SecureRandomAlphanum,
    SecureRandomLcalpha,
    Rotate,
}

/// One lowered set_misc directive: `$var` (lower-cased, without `$`), its operation and the
/// operands ngx_devel_kit pushes (the value, or `$var` itself when there is none).
#[derive(Debug)]
pub(crate) struct SetMisc {
    var: Vec<u8>,
    op: Op,
    args: Vec<ComplexValue>,
}

fn cv(s: &[u8]) -> ComplexValue {
    crate::http::variables::parse_complex_value(s).unwrap_or_default()
}

/// Folds the module's per-level settings and the http block's `upstream_list`s into a
/// level's conf; `false` for other directives.
pub(crate) fn apply(c: &mut LocConf, d: &Directive) -> bool {
    let arg = d.args.first().map(Vec::as_slice).unwrap_or_default();
    match d.name.as_slice() {
        b"set_base32_padding" | b"set_misc_base32_padding" => {
            c.base32_padding = Some(arg.eq_ignore_ascii_case(b"on"))
        }
        b"set_base32_alphabet" => c.base32_alphabet = Some(Arc::new(Base32Alphabet::new(arg))),
        _ => return false,
    }
    true
}

/// The `upstream_list`s of an `http` block (its own and its servers'), for
/// `set_hashed_upstream` (nginx: ndk_http_main_conf_t.upstreams; checked by the parse pass).
pub(crate) fn lower_http(c: &mut LocConf, http: &[Directive]) {
    let mut lists = Vec::new();
    let mut add = |d: &Directive| {
        let Some((name, ups)) = d.args.split_first() else {
            return;
        };
        let mut buckets = Vec::new();
        for u in ups {
            let digits = u.iter().take_while(|c| c.is_ascii_digit()).count();
            let (weight, us) = match u.get(digits) {
                Some(b':') if digits > 0 => (
                    crate::conf::values::atoi(&u[..digits]).unwrap_or(0),
                    &u[digits + 1..],
                ),
                _ => (1, u.as_slice()),
            };
            for _ in 0..weight.clamp(0, 1 << 20) {
                buckets.push(us.to_vec());
            }
        }
        lists.push(UpstreamList {
            name: name.clone(),
            buckets,
        });
    };
    for d in http {
        if d.name == b"upstream_list" {
            add(d);
        } else if d.name == b"server" {
            if let parser::Body::Block(b) = &d.body {
                b.directives
                    .iter()
                    .filter(|s| s.name == b"upstream_list")
                    .for_each(&mut add);
            }
        }
    }
    if !lists.is_empty() {
        c.upstream_lists = Some(Arc::new(lists));
    }
}

/// Lowers one directive of a rewrite script; `None` when it is not one of the module's
/// value-setting directives. `conf`: the level's merged conf (for the upstream lists).
pub(crate) fn lower(d: &Directive, conf: &LocConf) -> Option<Arc<SetMisc>> {
    let op = match d.name.as_slice() {
        b"set_hmac_sha1" => Op::HmacSha1,
        b"set_hmac_sha256" => Op::HmacSha256,
        b"set_if_empty" => Op::IfEmpty,
        b"set_hashed_upstream" => Op::HashedUpstream {
            list: None,
            lists: conf.upstream_lists.clone().unwrap_or_default(),
        },
        b"set_random" => Op::Random,
        b"set_rotate" => Op::Rotate,
        name => value_op(name)?,
    };
    lower_args(d, op)
}

/// ngx_lua's `ndk.set_var.DIRECTIVE(arg)` (resty.core.ndk over
/// ngx_http_lua_ffi_ndk_set_var_get): the filter of a directive whose setter is
/// ndk_set_var_value, run on one value. `None`: no such directive; `Some(None)`: the
/// filter failed (NGX_ERROR, logged as the directive logs it).
pub(crate) fn ndk_set_var(r: &Request, name: &[u8], arg: &[u8]) -> Option<Option<Vec<u8>>> {
    let op = value_op(name)?;
    Some(filter(r, &op, &[arg.to_vec()]))
}

/// Whether `name` is a directive `ndk.set_var` can run (set with ndk_set_var_value).
pub(crate) fn is_ndk_value_directive(name: &[u8]) -> bool {
    value_op(name).is_some()
}

/// The directives set with ndk_set_var_value (one operand: the value, or `$var`).
fn value_op(name: &[u8]) -> Option<Op> {
    Some(match name {
        b"set_encode_base64" => Op::EncodeBase64,
        b"set_decode_base64" => Op::DecodeBase64,
        b"set_encode_base64url" => Op::EncodeBase64Url,
        b"set_decode_base64url" => Op::DecodeBase64Url,
        b"set_encode_hex" => Op::EncodeHex,
        b"set_decode_hex" => Op::DecodeHex,
        b"set_md5" => Op::Md5,
        b"set_sha1" => Op::Sha1,
        b"set_unescape_uri" => Op::UnescapeUri,
        b"set_escape_uri" => Op::EscapeUri,
        b"set_quote_sql_str" => Op::QuoteSql,
        b"set_quote_pgsql_str" => Op::QuotePgsql,
        b"set_quote_json_str" => Op::QuoteJson,
        b"set_encode_base32" => Op::EncodeBase32,
        b"set_decode_base32" => Op::DecodeBase32,
        b"set_local_today" => Op::LocalToday,
        b"set_formatted_gmt_time" => Op::FormattedGmtTime,
        b"set_formatted_local_time" => Op::FormattedLocalTime,
        b"set_secure_random_alphanum" => Op::SecureRandomAlphanum,
        b"set_secure_random_lcalpha" => Op::SecureRandomLcalpha,
        _ => return None,
    })
}

/// The rest of [`lower`]: the target variable and the operands ngx_devel_kit pushes.
fn lower_args(d: &Directive, mut op: Op) -> Option<Arc<SetMisc>> {
    let var = d.args.first()?;
    let name = var.strip_prefix(b"$").unwrap_or(var).to_ascii_lowercase();
    let args: Vec<ComplexValue> = match &mut op {
        // ndk_set_var_multi_value with `$var` as the first operand.
        Op::IfEmpty | Op::Rotate => d.args.iter().map(|a| cv(a)).collect(),
        Op::HmacSha1 | Op::HmacSha256 | Op::Random => d.args[1..].iter().map(|a| cv(a)).collect(),
        Op::HashedUpstream { list, lists } => {
            let ul = d.args.get(1).map(Vec::as_slice).unwrap_or_default();
            if variables::script_variables_count(ul) > 0 {
                d.args[1..].iter().map(|a| cv(a)).collect()
            } else {
                *list = lists
                    .iter()
                    .find(|l| l.name.eq_ignore_ascii_case(ul))
                    .cloned();
                d.args[2..].iter().map(|a| cv(a)).collect()
            }
        }
        // ndk_set_var_value: the value, or `$var` itself when there is none.
        _ => vec![cv(d.args.get(1).unwrap_or(var))],
    };
    Some(Arc::new(SetMisc {
        var: name,
        op,
        args,
    }))
}

/// Whether directive `name` sets a variable (ngx_devel_kit's set_var: the variable reads
/// as "uninitialized", with the rewrite module's warning, until a directive sets it).
pub(crate) fn sets_variable(name: &[u8]) -> bool {
    !matches!(
        name,
        b"set_base32_padding" | b"set_misc_base32_padding" | b"set_base32_alphabet"
    ) && MODULE.commands.iter().any(|c| c.name.as_bytes() == name)
}

/// Runs one lowered directive: `Some(500)` when its filter failed (nginx: NGX_ERROR ends
/// the script with 500 and the variable keeps its value).
pub(crate) fn run(r: &mut Request, x: &SetMisc) -> Option<Reply> {
    // the rewrite engine's operands: captures escaped when the URI was (nginx: e->quote)
    let vals: Vec<Vec<u8>> = x.args.iter().map(|a| r.expand(a, r.quoted_uri)).collect();
    match filter(r, &x.op, &vals) {
        Some(v) => {
            // as the rewrite module's `set` (Code::Set)
            if x.var == b"args" {
                r.args = v;
            } else {
                r.vars.insert(x.var.clone(), v);
            }
            None
        }
        None => Some(Reply::status(500)),
    }
}

/// The filter functions: the new value, `None` for NGX_ERROR (logged where nginx logs).
fn filter(r: &Request, op: &Op, vals: &[Vec<u8>]) -> Option<Vec<u8>> {
    let v = |i: usize| vals.get(i).map(Vec::as_slice).unwrap_or_default();
    let fail = |msg: String| {
        crate::http::errlog::request_error(r, &msg);
        None
    };
    let lossy = |s: &[u8]| String::from_utf8_lossy(s).into_owned();
    Some(match op {
        Op::EncodeBase64 => base64_encode(v(0), B64, true),
        Op::DecodeBase64 => match base64_decode(v(0), B64) {
            Some(d) => d,
            None => return fail("set_decode_base64: invalid value".into()),
        },
        Op::EncodeBase64Url => base64_encode(v(0), B64URL, false),
        Op::DecodeBase64Url => match base64_decode(v(0), B64URL) {
            Some(d) => d,
            None => return fail("set_decode_base64url: invalid value".into()),
        },
        Op::EncodeHex => crate::http::lua::util::hex(v(0)),
        Op::DecodeHex => match decode_hex(v(0)) {
            Some(d) => d,
            None => return fail("set_decode_hex: invalid value".into()),
        },
        Op::HmacSha1 => crate::http::lua::util::hmac_sha1(v(0), v(1)),
        Op::HmacSha256 => {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, v(0));
            ring::hmac::sign(&key, v(1)).as_ref().to_vec()
        }
        Op::Md5 => {
            use md5::Digest;
            crate::http::lua::util::hex(&md5::Md5::digest(v(0)))
        }
        Op::Sha1 => {
            use sha1::Digest;
            crate::http::lua::util::hex(&sha1::Sha1::digest(v(0)))
        }
        Op::UnescapeUri => unescape_uri(v(0)),
        Op::EscapeUri => escape_uri(v(0)),
        Op::QuoteSql => quote_sql(v(0)),
        Op::QuotePgsql => quote_pgsql(v(0)),
        Op::QuoteJson => quote_json(v(0)),
        Op::IfEmpty => {
            // nginx: ngx_http_set_misc_set_if_empty
            if v(0).is_empty() {
                v(1).to_vec()
            } else {
                v(0).to_vec()
            }
        }
        Op::HashedUpstream { list, lists } => {
            // nginx: ngx_http_set_misc_set_hashed_upstream
            let (ul, key) = match list {
                Some(l) => (Some(l), v(0)),
                None => (
                    lists.iter().find(|l| l.name.eq_ignore_ascii_case(v(0))),
                    v(1),
                ),
            };
            let Some(ul) = ul else {
                return fail(format!(
                    "set_hashed_upstream: upstream list \"{}\" not defined yet",
                    lossy(v(0))
                ));
            };
            match ul.buckets.len() {
                0 => Vec::new(),
                1 => ul.buckets[0].clone(),
                n => {
                    let i = (hash_key_lc(key) as u32) % (n as u32);
                    ul.buckets.get(i as usize).cloned().unwrap_or_default()
                }
            }
        }
        Op::EncodeBase32 => {
            let padding = r.loc.base32_padding.unwrap_or(true);
            match &r.loc.base32_alphabet {
                Some(a) => base32_encode(v(0), &a.encode, padding),
                None => base32_encode(v(0), BASE32_DEFAULT, padding),
            }
        }
        Op::DecodeBase32 => {
            static DEFAULT: std::sync::OnceLock<Base32Alphabet> = std::sync::OnceLock::new();
            let alphabet = match &r.loc.base32_alphabet {
                Some(a) => a,
                None => DEFAULT.get_or_init(|| Base32Alphabet::new(BASE32_DEFAULT)),
            };
            let decoded = base32_decode(v(0), &alphabet.decode);
            // nginx: a bad length sets the empty value, without an error
            decoded.unwrap_or_default()
        }
        Op::LocalToday => {
            let (y, m, d, ..) = crate::http::lua::util::localtime(now());
            format!("{y:04}-{m:02}-{d:02}").into_bytes()
        }
        Op::FormattedGmtTime | Op::FormattedLocalTime => {
            // nginx: ngx_http_set_formatted_gmt_time / _local_time
            if v(0).is_empty() {
                return Some(Vec::new());
            }
            strftime(v(0), matches!(op, Op::FormattedLocalTime))?
        }
        Op::Random => {
            // nginx: ngx_http_set_misc_set_random
            let Some(from) = crate::conf::values::atoi(v(0)) else {
                return fail(format!(
                    "set_random: bad \"from\" argument: {}",
                    lossy(v(0))
                ));
            };
            let Some(to) = crate::conf::values::atoi(v(1)) else {
                return fail(format!("set_random: bad \"to\" argument: {}", lossy(v(1))));
            };
            let (from, to) = if from > to { (to, from) } else { (from, to) };
            // libc's rand(): 31 bits
            let rnd = (crate::http::upstream_rr::rand() >> 33) as i64;
            let span = to.wrapping_sub(from).wrapping_add(1);
            rnd.wrapping_rem(span)
                .wrapping_add(from)
                .to_string()
                .into_bytes()
        }
        Op::SecureRandomAlphanum | Op::SecureRandomLcalpha => {
            // nginx: ngx_http_set_misc_set_secure_random_common
            let len = match crate::conf::values::atoi(v(0)) {
                Some(n @ 1..=64) => n as usize,
                _ => {
                    return fail(format!(
                        "set_random: bad \"length\" argument: {}",
                        lossy(v(0))
                    ))
                }
            };
            let mut entropy = vec![0u8; len];
            if urandom(&mut entropy).is_err() {
                return fail("set_secure_random: could not open /dev/urandom".into());
            }
            const ALPHA: &[u8; 62] =
                b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
            entropy
                .iter()
                .map(|&e| match op {
                    Op::SecureRandomLcalpha => b'a' + e % 26,
                    _ => ALPHA[usize::from(e) % ALPHA.len()],
                })
                .collect()
        }
        Op::Rotate => return rotate(r, vals),
    })
}

/// nginx: ngx_http_set_misc_set_rotate: the next value of `from..=to` after the current
/// one (`$var`, or the level's counter when `$var` is empty or not a number).
fn rotate(r: &Request, vals: &[Vec<u8>]) -> Option<Vec<u8>> {
    let v = |i: usize| vals.get(i).map(Vec::as_slice).unwrap_or_default();
    let lossy = |s: &[u8]| String::from_utf8_lossy(s).into_owned();
    let Some(from) = crate::conf::values::atoi(v(1)) else {
        crate::http::errlog::request_error(
            r,
            &format!(
                "set_rotate: bad \"from\" argument value: \"{}\"",
                lossy(v(1))
            ),
        );
        return None;
    };
    let Some(to) = crate::conf::values::atoi(v(2)) else {
        crate::http::errlog::request_error(
            r,
            &format!("set_rotate: bad \"to\" argument value: \"{}\"", lossy(v(2))),
        );
        return None;
    };
    let (from, to) = if from > to { (to, from) } else { (from, to) };
    let counter = &r.loc.set_rotate.0;
    let saved = || match counter.load(Ordering::Relaxed) {
        UNSET => from.wrapping_sub(1),
        c => c,
    };
    let current = if v(0).is_empty() {
        saved()
    } else {
        match crate::conf::values::atoi(v(0)) {
            Some(n) => n,
            None => {
                crate::http::errlog::request_error(
                    r,
                    &format!("set_rotate: bad current value: \"{}\"", lossy(v(0))),
                );
                saved()
            }
        }
    };
    let mut next = current.wrapping_add(1);
    if next > to || next < from {
        next = from;
    }
    counter.store(next, Ordering::Relaxed);
    Some(next.to_string().into_bytes())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// strftime(3) of the current time into nginx's 256-byte buffer; `None` when it produced
/// nothing (nginx: NGX_ERROR). The format ends at a NUL, as C reads it.
fn strftime(fmt: &[u8], local: bool) -> Option<Vec<u8>> {
    let fmt = fmt.split(|&c| c == 0).next().unwrap_or_default();
    let fmt = std::ffi::CString::new(fmt).ok()?;
    let t = now() as libc::time_t;
    // SAFETY: gmtime_r/localtime_r write only the zeroed tm we own; strftime writes at most
    // `buf.len()` bytes into `buf` and reads the NUL-terminated format and the tm.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let mut buf = [0u8; 256];
    let n = unsafe {
        let ok = if local {
            libc::localtime_r(&t, &mut tm)
        } else {
            libc::gmtime_r(&t, &mut tm)
        };
        if ok.is_null() {
            return None;
        }
        libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), &tm)
    };
    (n > 0).then(|| buf[..n].to_vec())
}

/// Fills `buf` from the OS CSPRNG (nginx reads /dev/urandom).
fn urandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// nginx: ngx_hash_key_lc (ngx_hash: key * 31 + c, on the lower-cased bytes).
fn hash_key_lc(key: &[u8]) -> u64 {
    key.iter().fold(0u64, |h, &c| {
        h.wrapping_mul(31)
            .wrapping_add(u64::from(c.to_ascii_lowercase()))
    })
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// nginx: ngx_encode_base64 / ngx_encode_base64url (the latter without padding).
fn base64_encode(s: &[u8], basis: &[u8; 64], padding: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len().div_ceil(3) * 4);
    for chunk in s.chunks(3) {
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = u32::from(chunk[0]) << 16 | u32::from(b1) << 8 | u32::from(b2);
        let at = |sh: u32| basis[((n >> sh) & 63) as usize];
        out.push(at(18));
        out.push(at(12));
        match chunk.len() {
            1 if padding => out.extend_from_slice(b"=="),
            1 => {}
            2 => {
                out.push(at(6));
                if padding {
                    out.push(b'=');
                }
            }
            _ => {
                out.push(at(6));
                out.push(at(0));
            }
        }
    }
    out
}

/// nginx: ngx_decode_base64_internal: digits up to the first `=`; `None` on a byte outside
/// the alphabet or a length of 4n+1.
fn base64_decode(s: &[u8], basis: &[u8; 64]) -> Option<Vec<u8>> {
    let digit = |c: u8| basis.iter().position(|&b| b == c).map(|p| p as u32);
    let len = s.iter().position(|&c| c == b'=').unwrap_or(s.len());
    let digits: Vec<u32> = s[..len].iter().map(|&c| digit(c)).collect::<Option<_>>()?;
    if len % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(len * 3 / 4);
    for q in digits.chunks(4) {
        let n = q
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | d << (18 - 6 * i as u32));
        out.push((n >> 16) as u8);
        if q.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if q.len() > 3 {
            out.push(n as u8);
        }
    }
    Some(out)
}

/// nginx: ngx_http_set_misc_set_decode_hex (ngx_hextoi on each pair).
fn decode_hex(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

/// nginx: encode_base32 of set-misc (5 bytes -> 8 digits, `=` padding when on).
fn base32_encode(s: &[u8], alphabet: &[u8; 32], padding: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len().div_ceil(5) * 8);
    for chunk in s.chunks(5) {
        let mut b = [0u8; 5];
        b[..chunk.len()].copy_from_slice(chunk);
        let n = b.iter().fold(0u64, |n, &c| n << 8 | u64::from(c));
        // digits carrying input bits: 1 byte -> 2, 2 -> 4, 3 -> 5, 4 -> 7, 5 -> 8
        let digits = [0, 2, 4, 5, 7, 8][chunk.len()];
        for i in 0..digits {
            out.push(alphabet[((n >> (35 - 5 * i)) & 31) as usize]);
        }
        if padding {
            out.resize(out.len() + 8 - digits, b'=');
        }
    }
    out
}

/// nginx: decode_base32 of set-misc: digits up to the first `=`; `None` (the empty value)
/// for a digit count of 8n+1, 8n+3 or 8n+6.
fn base32_decode(s: &[u8], basis: &[u8; 256]) -> Option<Vec<u8>> {
    let len = s.iter().position(|&c| c == b'=').unwrap_or(s.len());
    if matches!(len % 8, 1 | 3 | 6) {
        return None;
    }
    let mut out = Vec::with_capacity(len * 5 / 8);
    for q in s[..len].chunks(8) {
        let mut n = 0u64;
        for (i, &c) in q.iter().enumerate() {
            n |= u64::from(basis[usize::from(c)] & 31) << (35 - 5 * i);
        }
        // bytes carried by 2, 4, 5, 7, 8 digits: 1, 2, 3, 4, 5
        let bytes = match q.len() {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            _ => 1,
        };
        for i in 0..bytes {
            out.push((n >> (32 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// nginx: ngx_escape_uri_patched with NGX_ESCAPE_URI: space, `"#%&+/:;<=>?[\]^{}`,
/// controls, DEL and non-ASCII bytes become `%XX`.
fn escape_uri(s: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        let escape = c <= b' ' || c >= 0x7f || b"\"#%&+/:;<=>?[\\]^{}".contains(&c);
        if escape {
            out.extend_from_slice(&[b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
        } else {
            out.push(c);
        }
    }
    out
}

/// nginx: ngx_unescape_uri_patched as a URI component: `+` is a space, `%XX` its byte; a
/// `%` before a non-hex byte is dropped (the byte kept), `%X` before a non-hex byte is
/// dropped with it.
fn unescape_uri(s: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                let Some(&c1) = s.get(i) else { break };
                i += 1;
                let Some(hi) = hex(c1) else {
                    out.push(c1);
                    continue;
                };
                let Some(&c2) = s.get(i) else { break };
                i += 1;
                if let Some(lo) = hex(c2) {
                    out.push(hi << 4 | lo);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// nginx: ngx_http_set_misc_quote_sql_str: `''` for the empty value, else quoted with
/// MySQL's escapes of `\0 \b \n \r \t \\ ' " $ \Z`.
fn quote_sql(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'\'');
    for &c in s {
        let esc = match c {
            0 => b'0',
            8 => b'b',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            26 => b'Z',
            b'\\' | b'\'' | b'"' | b'$' => c,
            _ => {
                out.push(c);
                continue;
            }
        };
        out.extend_from_slice(&[b'\\', esc]);
    }
    out.push(b'\'');
    out
}

/// nginx: ngx_http_set_misc_quote_pgsql_str: `E` + the SQL quoting; when that is not
/// UTF-8 by the module's check, every byte >= 0x80 becomes `\\ooo`.
fn quote_pgsql(s: &[u8]) -> Vec<u8> {
    if s.is_empty() {
        return b"''".to_vec();
    }
    let mut q = vec![b'E'];
    q.extend_from_slice(&quote_sql(s));
    if pg_utf_islegal(&q) {
        return q;
    }
    let mut out = Vec::with_capacity(q.len() * 2);
    for &c in &q {
        if c & 0x80 != 0 {
            out.extend_from_slice(&[b'\\', b'\\', b'0' + (c >> 6), b'0' + ((c >> 3) & 7)]);
            out.push(b'0' + (c & 7));
        } else {
            out.push(c);
        }
    }
    out
}

/// nginx: ngx_http_pg_utf_islegal (PostgreSQL's check as the module has it: a 3- or 4-byte
/// sequence only checks its last byte).
fn pg_utf_islegal(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let len = match c {
            _ if c & 0x80 == 0 => 1,
            _ if c & 0xe0 == 0xc0 => 2,
            _ if c & 0xf0 == 0xe0 => 3,
            _ if c & 0xf8 == 0xf0 => 4,
            _ => 1,
        };
        if s.len() - i < len {
            return false;
        }
        let last = s[i + len - 1];
        let ok = match len {
            2..=4 => (0x80..=0xbf).contains(&last),
            _ => !((0x80..0xc2).contains(&c) || c > 0xf4),
        };
        if !ok {
            return false;
        }
        i += len;
    }
    true
}

/// nginx: ngx_http_set_misc_quote_json_str: `null` for the empty value, else `"..."` with
/// `\r \n \\ \" \f \b \t` and other control bytes as `\u00xx`.
fn quote_json(s: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if s.is_empty() {
        return b"null".to_vec();
    }
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'"');
    for &c in s {
        match c {
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            0x0c => out.extend_from_slice(b"\\f"),
            8 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=31 => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 15)]);
            }
            _ => out.push(c),
        }
    }
    out.push(b'"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trip_and_padding() {
        let dec = Base32Alphabet::new(BASE32_DEFAULT).decode;
        for (plain, padded) in [
            (&b"a"[..], &b"c4======"[..]),
            (b"ab", b"c5h0===="),
            (b"abc", b"c5h66==="),
            (b"abcd", b"c5h66p0="),
            (b"abcde", b"c5h66p35"),
        ] {
            assert_eq!(base32_encode(plain, BASE32_DEFAULT, true), padded);
            let bare: Vec<u8> = padded.iter().copied().filter(|&c| c != b'=').collect();
            assert_eq!(base32_encode(plain, BASE32_DEFAULT, false), bare);
            assert_eq!(base32_decode(padded, &dec).as_deref(), Some(plain));
            assert_eq!(base32_decode(&bare, &dec).as_deref(), Some(plain));
        }
        // 8n+1, 8n+3, 8n+6 digits: the empty value
        assert_eq!(base32_decode(b"c5h", &dec), None);
    }

    #[test]
    fn base64_variants() {
        assert_eq!(base64_encode(b"\xfb\xff", B64, true), b"+/8=");
        assert_eq!(base64_encode(b"\xfb\xff", B64URL, false), b"-_8");
        assert_eq!(
            base64_decode(b"-_8", B64URL).as_deref(),
            Some(&b"\xfb\xff"[..])
        );
        assert_eq!(base64_decode(b"+/8=", B64URL), None);
        assert_eq!(base64_decode(b"YWJjZ", B64), None);
        assert_eq!(base64_decode(b"YWI=x!", B64).as_deref(), Some(&b"ab"[..]));
    }

    #[test]
    fn uri_escapes_and_quotes() {
        assert_eq!(escape_uri(b"a b/+~|"), b"a%20b%2F%2B~|");
        assert_eq!(unescape_uri(b"a+b%41%zz%4zq%"), b"a bAzzq");
        assert_eq!(quote_sql(b"a'$\0"), b"'a\\'\\$\\0'");
        assert_eq!(quote_pgsql(b"x\xffy"), b"E'x\\\\377y'");
        assert_eq!(quote_pgsql(b"\xe4A\xad"), b"E'\xe4A\xad'");
        assert_eq!(quote_json(b""), b"null");
        assert_eq!(quote_json(b"\x01\"\n"), b"\"\\u0001\\\"\\n\"");
        assert_eq!(decode_hex(b"6A6b").as_deref(), Some(&b"jk"[..]));
        assert_eq!(decode_hex(b"6"), None);
    }

    #[test]
    fn hashed_upstream_key() {
        // nginx: ngx_hash_key_lc
        assert_eq!(hash_key_lc(b"FOO"), hash_key_lc(b"foo"));
        assert_eq!(hash_key_lc(b"bar") % 4, 3);
    }
}
