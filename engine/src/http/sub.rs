//! ngx_http_sub_filter_module: `sub_filter` and friends.

use parser::Directive;

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::gzip::types_slot;
use crate::http::variables;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_sub_filter_module",
    commands: &[
        cmd(
            "sub_filter",
            Ctx::HTTP_MSL,
            Args::TAKE2,
            Set::Handler(sub_filter),
        ),
        cmd(
            "sub_filter_types",
            Ctx::HTTP_MSL,
            Args::ONEMORE,
            Set::Handler(sub_filter_types),
        ),
        cmd(
            "sub_filter_once",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "sub_filter_last_modified",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
    ],
};

/// One level's `sub_filter` pairs (nginx: `slcf->pairs`).
#[derive(Default)]
struct Pairs(usize);

/// nginx: ngx_http_sub_filter
fn sub_filter(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let (Some(search), Some(replace)) = (d.args.first(), d.args.get(1)) else {
        return Ok(());
    };
    if search.is_empty() {
        return Err(cf.emerg("empty search pattern").into());
    }
    let pairs = cf.frame().get::<Pairs>();
    if pairs.0 == 255 {
        return Err(cf.emerg("number of search patterns exceeds 255").into());
    }
    pairs.0 += 1;
    // nginx lower-cases the pattern before compiling it.
    variables::compile_complex_value(cf, &search.to_ascii_lowercase())?;
    variables::compile_complex_value(cf, replace)?;
    Ok(())
}

fn sub_filter_types(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    types_slot(cf, d, "sub_filter_types")
}

// ---- runtime: lowering and the body filter ----

/// One `sub_filter search replace` (the search is matched case-insensitively).
#[derive(Debug, Clone)]
pub(crate) struct Pair {
    pub(crate) search: variables::ComplexValue,
    pub(crate) replace: variables::ComplexValue,
}

/// Folds the sub_filter directives into a level.
pub(crate) fn lower(c: &mut crate::http::lower::LocConf, d: &Directive) {
    let a = |i: usize| d.args.get(i).map(Vec::as_slice).unwrap_or_default();
    let cv = |v: &[u8]| variables::parse_complex_value(v).unwrap_or_default();
    match d.name.as_slice() {
        b"sub_filter" => c.sub_filters.get_or_insert_with(Vec::new).push(Pair {
            search: cv(&a(0).to_ascii_lowercase()),
            replace: cv(a(1)),
        }),
        b"sub_filter_once" => c.sub_filter_once = Some(a(0).eq_ignore_ascii_case(b"on")),
        b"sub_filter_last_modified" => {
            c.sub_filter_last_modified = Some(a(0).eq_ignore_ascii_case(b"on"))
        }
        b"sub_filter_types" => {
            c.sub_filter_types = Some(std::sync::Arc::new(crate::http::gzip::TypeList::from_args(
                &d.args,
            )))
        }
        _ => {}
    }
}

/// nginx: ngx_http_sub_body_filter over a whole body: at each position the first pair (in
/// configuration order) whose search matches case-insensitively is replaced; with `once`
/// each pair is used at most once.
pub(crate) fn substitute(body: &[u8], pairs: &[(Vec<u8>, Vec<u8>)], once: bool) -> Vec<u8> {
    let mut used = vec![false; pairs.len()];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    'outer: while i < body.len() {
        for (k, (search, replace)) in pairs.iter().enumerate() {
            if search.is_empty() || (once && used[k]) {
                continue;
            }
            if body.len() - i >= search.len()
                && body[i..i + search.len()].eq_ignore_ascii_case(search)
            {
                out.extend_from_slice(replace);
                i += search.len();
                used[k] = true;
                continue 'outer;
            }
        }
        out.push(body[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::substitute;

    #[test]
    fn substitutions() {
        let p = vec![(b"foo".to_vec(), b"bar".to_vec())];
        assert_eq!(substitute(b"a FOO foo", &p, true), b"a bar foo".to_vec());
        assert_eq!(substitute(b"a FOO foo", &p, false), b"a bar bar".to_vec());
        let p = vec![
            (b"ab".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec()),
        ];
        assert_eq!(substitute(b"abb", &p, false), b"12".to_vec());
    }
}
