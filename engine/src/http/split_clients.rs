//! ngx_http_split_clients_module: `split_clients $source $variable { N% value; ... }`.

use parser::{Body, Directive};

use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult};
use crate::http::map::data_lines;
use crate::http::variables;

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_split_clients_module",
    commands: &[cmd(
        "split_clients",
        Ctx::HTTP_MAIN,
        Args::BLOCK.or(Args::TAKE2),
        Set::Handler(split_clients_block),
    )],
};

fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

/// nginx: ngx_atofp (a fixed-point number with at most `point` decimals, scaled).
pub(crate) fn atofp(line: &[u8], point: u32) -> Option<i64> {
    if line.is_empty() {
        return None;
    }
    let mut point = point;
    let (mut value, mut dot) = (0i64, false);
    for &c in line {
        if point == 0 {
            return None;
        }
        if c == b'.' {
            if dot {
                return None;
            }
            dot = true;
            continue;
        }
        if !c.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
        if dot {
            point -= 1;
        }
    }
    for _ in 0..point {
        value = value.checked_mul(10)?;
    }
    Some(value)
}

/// nginx: ngx_conf_split_clients_block
fn split_clients_block<'a>(cf: &mut Cf<'a>, d: &'a Directive) -> SetResult {
    let (Some(source), Some(name)) = (d.args.first(), d.args.get(1)) else {
        return Ok(());
    };
    variables::compile_complex_value(cf, source)?;
    let Some(var) = name.strip_prefix(b"$") else {
        return Err(cf
            .emerg(format!("invalid variable name \"{}\"", lossy(name)))
            .into());
    };
    variables::add_variable(cf, var, true)?;
    let Body::Block(block) = &d.body else {
        return Ok(());
    };
    let mut parts: Vec<u32> = Vec::new();
    // nginx: ngx_http_split_clients
    data_lines(cf, block, |cf, value| {
        let pct = value[0];
        if pct == b"*" {
            parts.push(0);
            return Ok(());
        }
        let n = match pct.split_last() {
            Some((b'%', num)) => atofp(num, 2).filter(|&n| n != 0),
            _ => None,
        };
        match n {
            Some(n) => {
                parts.push(n as u32);
                Ok(())
            }
            None => Err(cf.emerg(format!("invalid percent value \"{}\"", lossy(pct)))),
        }
    })?;
    // nginx reports the total at the end of the block.
    let end = crate::conf::dispatch::block_end_line(d);
    cf.set_at(d.file, end);
    let mut sum: u32 = 0;
    for p in parts {
        sum = if p != 0 { sum.wrapping_add(p) } else { 10000 };
        if sum > 10000 {
            return Err(cf.emerg("percent total is greater than 100%").into());
        }
    }
    Ok(())
}

// ---- Run time (issue 3): the split_clients variable, evaluated lazily per request. ----

/// A `split_clients` block at run time (nginx: ngx_http_split_clients_ctx_t).
#[derive(Debug)]
pub(crate) struct SplitRt {
    source: variables::ComplexValue,
    /// Cumulative hash bounds (0: `*`) and values.
    parts: Vec<(u32, Vec<u8>)>,
}

/// The split of a (checked) `split_clients $source $name { ... }`: its variable's name and
/// runtime form (nginx: the bounds ngx_conf_split_clients_block computes).
pub(crate) fn lower(d: &Directive) -> Option<(Vec<u8>, SplitRt)> {
    let source = variables::parse_complex_value(d.args.first()?).unwrap_or_default();
    let name = d.args.get(1)?.strip_prefix(b"$")?.to_vec();
    let Body::Block(block) = &d.body else {
        return None;
    };
    let mut parts = Vec::new();
    let mut last: u32 = 0;
    for line in &block.directives {
        let value = line.args.first().cloned().unwrap_or_default();
        let pct = line.name.as_slice();
        let percent = if pct == b"*" {
            0
        } else {
            let n = pct
                .strip_suffix(b"%")
                .and_then(|n| atofp(n, 2))
                .unwrap_or(0);
            let n = u64::try_from(n).unwrap_or(0);
            last = last.wrapping_add((n * 0xffff_ffff / 10000) as u32);
            last
        };
        parts.push((percent, value));
    }
    Some((name, SplitRt { source, parts }))
}

impl SplitRt {
    /// nginx: ngx_http_split_clients_variable: murmurhash2 of the source picks the part.
    pub(crate) fn value(&self, r: &crate::http::request::Request) -> Vec<u8> {
        let hash = crate::http::vars_runtime::murmur_hash2(&r.eval(&self.source));
        self.pick(hash)
    }

    /// The value with the source expanded by `eval` (a stream session's variables).
    pub(crate) fn value_with(&self, eval: impl Fn(&variables::ComplexValue) -> Vec<u8>) -> Vec<u8> {
        self.pick(crate::http::vars_runtime::murmur_hash2(&eval(&self.source)))
    }

    fn pick(&self, hash: u32) -> Vec<u8> {
        self.parts
            .iter()
            .find(|(p, _)| hash < *p || *p == 0)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod rt_tests {
    use super::lower;

    /// The first directive of `text`, parsed as a configuration file.
    fn directive(text: &str) -> parser::Directive {
        let path = std::env::temp_dir().join(format!(
            "oxresty-rt-{}-{:?}.conf",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::write(&path, text);
        let opts = parser::Options {
            conf_prefix: "/".into(),
        };
        let conf = parser::parse_file(&path, &opts);
        let _ = std::fs::remove_file(&path);
        conf.directives
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{text}"))
    }

    #[test]
    fn bounds_and_picks() {
        let d = directive("split_clients $k $s { 10% a; 20.5% b; * c; }");
        let (name, s) = lower(&d).unwrap_or_else(|| panic!());
        assert_eq!(name, b"s");
        let b1 = (1000u64 * 0xffff_ffff / 10000) as u32;
        let b2 = b1.wrapping_add((2050u64 * 0xffff_ffff / 10000) as u32);
        assert_eq!(
            s.parts,
            vec![(b1, b"a".to_vec()), (b2, b"b".to_vec()), (0, b"c".to_vec())]
        );
        assert_eq!(s.pick(0), b"a");
        assert_eq!(s.pick(b1), b"b");
        assert_eq!(s.pick(b2), b"c");
        assert_eq!(s.pick(u32::MAX), b"c");
        // Without `*`, hashes past the last bound get the empty value.
        let d = directive("split_clients $k $s { 50% x; }");
        let (_, s) = lower(&d).unwrap_or_else(|| panic!());
        assert_eq!(s.pick(u32::MAX), b"");
        assert_eq!(s.pick(1), b"x");
    }
}

#[cfg(test)]
mod tests {
    use super::atofp;

    #[test]
    fn fixed_point() {
        assert_eq!(atofp(b"10", 2), Some(1000));
        assert_eq!(atofp(b"0.5", 2), Some(50));
        assert_eq!(atofp(b"0.25", 2), Some(25));
        assert_eq!(atofp(b"0.255", 2), None);
        assert_eq!(atofp(b"1.2.3", 2), None);
        assert_eq!(atofp(b"", 2), None);
        assert_eq!(atofp(b"x", 2), None);
    }
}
