//! ngx_http_rewrite_module: `rewrite`, `return`, `break`, `if`, `set`.

use parser::{Body, Directive};

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::variables;

/// server, `if` in server, location, `if` in location.
const SIF_LIF: Ctx = Ctx::HTTP_SRV
    .or(Ctx::HTTP_SIF)
    .or(Ctx::HTTP_LOC)
    .or(Ctx::HTTP_LIF);

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_rewrite_module",
    commands: &[
        cmd("rewrite", SIF_LIF, Args::TAKE23, Set::Handler(rewrite)),
        cmd(
            "return",
            SIF_LIF,
            Args::TAKE12,
            Set::Handler(rewrite_return),
        ),
        cmd("break", SIF_LIF, Args::NOARGS, Set::Handler(rewrite_break)),
        cmd(
            "if",
            Ctx::HTTP_SRV.or(Ctx::HTTP_LOC),
            Args::BLOCK.or(Args::ONEMORE),
            Set::Handler(rewrite_if),
        ),
        cmd("set", SIF_LIF, Args::TAKE2, Set::Handler(rewrite_set)),
        cmd(
            "rewrite_log",
            Ctx::HTTP_MAIN.or(SIF_LIF),
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "uninitialized_variable_warn",
            Ctx::HTTP_MAIN.or(SIF_LIF),
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
    ],
};

fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

/// nginx: ngx_http_rewrite
fn rewrite(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let (Some(pattern), Some(replacement)) = (d.args.first(), d.args.get(1)) else {
        return Ok(());
    };
    if replacement.is_empty() {
        return Err(cf.emerg("empty replacement").into());
    }
    crate::regex::compile(cf, pattern, false)?;
    // the last "?" drops the original arguments
    let value = replacement.strip_suffix(b"?").unwrap_or(replacement);
    if let Some(flag) = d.args.get(2) {
        if !matches!(
            flag.as_slice(),
            b"last" | b"break" | b"redirect" | b"permanent"
        ) {
            return Err(cf
                .emerg(format!("invalid parameter \"{}\"", lossy(flag)))
                .into());
        }
    }
    variables::compile_complex_value(cf, value)?;
    Ok(())
}

/// nginx: ngx_http_rewrite_return
fn rewrite_return(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let Some(code) = d.args.first() else {
        return Ok(());
    };
    let text = match crate::conf::values::atoi(code) {
        None => {
            let url = code.starts_with(b"http://")
                || code.starts_with(b"https://")
                || code.starts_with(b"$scheme");
            if d.args.len() == 1 && url {
                code
            } else {
                return Err(cf
                    .emerg(format!("invalid return code \"{}\"", lossy(code)))
                    .into());
            }
        }
        Some(n) if n > 999 => {
            return Err(cf
                .emerg(format!("invalid return code \"{}\"", lossy(code)))
                .into());
        }
        Some(_) => match d.args.get(1) {
            None => return Ok(()),
            Some(t) => t,
        },
    };
    variables::compile_complex_value(cf, text)?;
    Ok(())
}

/// nginx: ngx_http_rewrite_break
fn rewrite_break(_cf: &mut Cf<'_>, _d: &Directive) -> SetResult {
    Ok(())
}

/// What an `if` condition asks for, once parsed (nginx: the codes
/// ngx_http_rewrite_if_condition emits).
#[derive(Debug, PartialEq, Eq)]
enum Condition<'a> {
    /// `($var)`
    Var(&'a [u8]),
    /// `($var = value)` / `($var != value)`
    Compare(&'a [u8], &'a [u8]),
    /// `($var ~ re)` and friends.
    Match {
        var: &'a [u8],
        re: &'a [u8],
        caseless: bool,
    },
    /// `(-f value)` and friends.
    File(&'a [u8]),
}

/// nginx: ngx_http_rewrite_if_condition (the parsing part): the error text on failure.
fn parse_condition(args: &[Vec<u8>]) -> Result<Condition<'_>, String> {
    // Arguments as nginx sees them after stripping the parentheses.
    let mut value: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let invalid = |v: &[u8]| Err(format!("invalid condition \"{}\"", lossy(v)));
    let Some(&first) = value.first() else {
        return invalid(b"");
    };
    if first.first() != Some(&b'(') {
        return invalid(first);
    }
    let cur: usize = if first.len() == 1 {
        1
    } else {
        value[0] = &first[1..];
        0
    };
    let mut last = value.len() - 1;
    let lv = value[last];
    if lv.last() != Some(&b')') {
        return invalid(lv);
    }
    // An index one below the first argument stands for nginx's `last` of 0 (`if ()`).
    let mut last_gone = false;
    if lv.len() == 1 {
        if last == 0 {
            last_gone = true;
        } else {
            last -= 1;
        }
    } else {
        value[last] = &lv[..lv.len() - 1];
    }
    let at = |i: usize| value.get(i).copied().unwrap_or_default();
    let p = at(cur);
    if p.len() > 1 && p[0] == b'$' {
        if last_gone || (cur != last && cur + 2 != last) {
            return invalid(p);
        }
        let var = &p[1..];
        if cur == last {
            return Ok(Condition::Var(var));
        }
        let op = at(cur + 1);
        let arg = at(last);
        return match op {
            b"=" | b"!=" => Ok(Condition::Compare(var, arg)),
            b"~" | b"~*" | b"!~" | b"!~*" => Ok(Condition::Match {
                var,
                re: arg,
                caseless: op.ends_with(b"*"),
            }),
            _ => Err(format!("unexpected \"{}\" in condition", lossy(op))),
        };
    }
    if (p.len() == 2 && p[0] == b'-') || (p.len() == 3 && p[0] == b'!' && p[1] == b'-') {
        if last_gone || cur + 1 != last {
            return invalid(p);
        }
        let op = p[p.len() - 1];
        if matches!(op, b'f' | b'd' | b'e' | b'x') {
            return Ok(Condition::File(at(last)));
        }
        return invalid(p);
    }
    invalid(p)
}

/// nginx: ngx_http_rewrite_if
fn rewrite_if<'a>(cf: &mut Cf<'a>, d: &'a Directive) -> SetResult {
    // nginx: ngx_http_rewrite_if_condition
    match parse_condition(&d.args) {
        Err(text) => return Err(cf.emerg(text).into()),
        Ok(Condition::Var(var)) => variables::get_variable_index(cf, var)?,
        Ok(Condition::Compare(var, value)) => {
            variables::get_variable_index(cf, var)?;
            rewrite_value(cf, value)?;
        }
        Ok(Condition::Match { var, re, caseless }) => {
            variables::get_variable_index(cf, var)?;
            crate::regex::compile(cf, re, caseless)?;
        }
        Ok(Condition::File(value)) => rewrite_value(cf, value)?,
    }
    let Body::Block(block) = &d.body else {
        return Ok(());
    };
    let ctx = if cf.ctx() == Ctx::HTTP_SRV {
        Ctx::HTTP_SIF
    } else {
        Ctx::HTTP_LIF
    };
    cf.block(block, ctx)?;
    Ok(())
}

/// nginx: ngx_http_rewrite_set
fn rewrite_set(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    let (Some(name), Some(value)) = (d.args.first(), d.args.get(1)) else {
        return Ok(());
    };
    let Some(var) = name.strip_prefix(b"$") else {
        return Err(cf
            .emerg(format!("invalid variable name \"{}\"", lossy(name)))
            .into());
    };
    variables::add_variable(cf, var, true)?;
    variables::get_variable_index(cf, var)?;
    rewrite_value(cf, value)?;
    Ok(())
}

/// nginx: ngx_http_rewrite_value
fn rewrite_value(cf: &mut Cf<'_>, value: &[u8]) -> Result<(), crate::conf::dispatch::Failed> {
    if variables::script_variables_count(value) == 0 {
        return Ok(());
    }
    variables::compile_complex_value(cf, value).map(drop)
}

#[cfg(test)]
mod tests {
    use super::{parse_condition, Condition};

    fn parse(s: &str) -> Result<Condition<'static>, String> {
        let args: Vec<Vec<u8>> = s.split(' ').map(|a| a.as_bytes().to_vec()).collect();
        let args: &'static [Vec<u8>] = Box::leak(args.into_boxed_slice());
        parse_condition(args)
    }

    #[test]
    fn conditions() {
        assert_eq!(parse("($a)"), Ok(Condition::Var(b"a")));
        assert_eq!(parse("( $a )"), Ok(Condition::Var(b"a")));
        assert_eq!(parse("($a = b)"), Ok(Condition::Compare(b"a", b"b")));
        assert_eq!(parse("($a != )"), Err("invalid condition \"$a\"".into()));
        assert!(parse("($a != \"\")").is_ok());
        assert_eq!(
            parse("($a ~* x)"),
            Ok(Condition::Match {
                var: b"a",
                re: b"x",
                caseless: true
            })
        );
        assert_eq!(parse("(-f $x)"), Ok(Condition::File(b"$x")));
        assert_eq!(parse("(!-x /a)"), Ok(Condition::File(b"/a")));
        assert_eq!(parse("$a"), Err("invalid condition \"$a\"".into()));
        assert_eq!(parse("($a"), Err("invalid condition \"$a\"".into()));
        assert_eq!(parse("($a b)"), Err("invalid condition \"$a\"".into()));
        assert_eq!(
            parse("($a == b)"),
            Err("unexpected \"==\" in condition".into())
        );
        assert_eq!(parse("(-g x)"), Err("invalid condition \"-g\"".into()));
        assert_eq!(parse("(!-g x)"), Err("invalid condition \"!-g\"".into()));
        assert_eq!(parse("(-f)"), Err("invalid condition \"-f\"".into()));
        assert_eq!(parse("()"), Err("invalid condition \")\"".into()));
        assert_eq!(parse("( )"), Err("invalid condition \")\"".into()));
        assert_eq!(parse("(a)"), Err("invalid condition \"a\"".into()));
        assert_eq!(parse("($)"), Err("invalid condition \"$\"".into()));
    }
}
