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
