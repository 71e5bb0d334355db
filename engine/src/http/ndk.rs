//! ndk_http_module: ngx_devel_kit 0.3.2 as Debian builds it.
//!
//! Its only directive is `upstream_list` (NDK_UPSTREAM_LIST); the rest of the kit is library
//! code other modules call at configuration time: the `set_var` helpers that `set_by_lua*` and
//! set-misc's directives use to define their target variable and compile their arguments.

use parser::Directive;

use crate::conf::dispatch::Failed;
use crate::conf::values::atoi;
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult};
use crate::http::variables;
use crate::log::Level;

pub(crate) static MODULE: Module = Module {
    name: "ndk_http_module",
    commands: &[cmd(
        "upstream_list",
        Ctx::HTTP_MAIN.or(Ctx::HTTP_SRV),
        Args::TWOMORE,
        Set::Handler(upstream_list),
    )],
};

/// One `upstream_list name [weight:]upstream...` (nginx: ndk_upstream_list_t).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpstreamList {
    pub(crate) name: Vec<u8>,
    /// Every upstream name, repeated `weight` times (nginx's buckets).
    pub(crate) buckets: Vec<Vec<u8>>,
}

/// The `http` block's upstream lists (nginx: ndk_http_main_conf_t.upstreams).
#[derive(Default, Debug)]
pub(crate) struct UpstreamLists {
    pub(crate) lists: Vec<UpstreamList>,
}

impl UpstreamLists {
    /// nginx: ndk_get_upstream_list (case-insensitive).
    pub(crate) fn get(&self, name: &[u8]) -> Option<&UpstreamList> {
        self.lists
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name))
    }
}

fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

/// The upstream lists of the enclosing `http` block.
pub(crate) fn upstream_lists<'c>(cf: &'c mut Cf<'_>) -> Option<&'c mut UpstreamLists> {
    cf.enclosing(Ctx::HTTP_MAIN)
        .map(|f| f.get::<UpstreamLists>())
}

/// nginx: ndk_upstream_list_parse_weight: `[digits:]name` -> (weight, name). A weight that
/// overflows is nginx's NGX_ERROR cast to unsigned.
fn parse_weight(cf: &mut Cf<'_>, s: &[u8]) -> Result<(u64, Vec<u8>), Failed> {
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return Ok((1, s.to_vec()));
    }
    if digits == s.len() {
        return Err(cf.emerg(format!(
            "upstream list just consists of number \"{}\"",
            lossy(s)
        )));
    }
    if s[digits] != b':' {
        return Err(cf.emerg(format!("upstream list not correct format \"{}\"", lossy(s))));
    }
    let weight = atoi(&s[..digits]).map_or(u64::MAX, |w| w as u64);
    Ok((weight, s[digits + 1..].to_vec()))
}

/// nginx: ndk_upstream_list
fn upstream_list(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let Some((name, upstreams)) = d.args.split_first() else {
        return Ok(());
    };
    if upstream_lists(cf).is_some_and(|l| l.get(name).is_some()) {
        return Err(cf
            .emerg(format!("duplicate upstream list name \"{}\"", lossy(name)))
            .into());
    }
    let mut parsed = Vec::with_capacity(upstreams.len());
    let mut buckets: u64 = 0;
    for u in upstreams {
        let (weight, us) = parse_weight(cf, u)?;
        buckets = buckets.wrapping_add(weight);
        parsed.push((weight, us));
    }
    // nginx allocates one pointer per bucket: an absurd weight fails the allocation.
    let bytes = buckets.wrapping_mul(8);
    if bytes > 1 << 46 {
        cf.log(
            Level::Emerg,
            format!("malloc({bytes}) failed (12: Cannot allocate memory)"),
        );
        return Err(None);
    }
    let mut list = UpstreamList {
        name: name.clone(),
        buckets: Vec::new(),
    };
    for (weight, us) in parsed {
        for _ in 0..weight {
            list.buckets.push(us.clone());
        }
    }
    if let Some(l) = upstream_lists(cf) {
        l.lists.push(list);
    }
    Ok(())
}

/// nginx: ndk_set_var_name: `$name` becomes a changeable variable the directive sets.
pub(crate) fn set_var_name(cf: &mut Cf<'_>, var: &[u8]) -> Result<(), Failed> {
    let Some(name) = var.strip_prefix(b"$") else {
        return Err(cf.emerg(format!("invalid variable name \"{}\"", lossy(var))));
    };
    if name.is_empty() {
        // nginx: ngx_http_add_variable's own check
        return Err(cf.emerg("invalid variable name \"$\""));
    }
    variables::add_variable(cf, name, true)?;
    variables::get_variable_index(cf, name)
}

/// nginx: ndk_http_rewrite_value: a value with variables is compiled as a script.
pub(crate) fn rewrite_value(cf: &mut Cf<'_>, value: &[u8]) -> Result<(), Failed> {
    if variables::script_variables_count(value) == 0 {
        return Ok(());
    }
    variables::compile_complex_value(cf, value).map(|_| ())
}

/// nginx: ndk_set_var_value_core / ndk_set_var_multi_value_core: the target variable, then
/// each value argument.
pub(crate) fn set_var_values(cf: &mut Cf<'_>, var: &[u8], values: &[Vec<u8>]) -> SetResult {
    set_var_name(cf, var)?;
    for v in values {
        rewrite_value(cf, v)?;
    }
    Ok(())
}

/// nginx: ndk_set_var_value, the setter of `set_xxx $var [value]` rows: with one argument the
/// variable is its own value.
pub(crate) fn set_var_value(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    match d.args.as_slice() {
        [var] => set_var_values(cf, var, std::slice::from_ref(var)),
        [var, value, ..] => set_var_values(cf, var, std::slice::from_ref(value)),
        [] => Ok(()),
    }
}

/// nginx: ndk_set_var_multi_value, the setter of `set_xxx $var value...` rows.
pub(crate) fn set_var_multi_value(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    match d.args.split_first() {
        Some((var, values)) => set_var_values(cf, var, values),
        None => Ok(()),
    }
}
