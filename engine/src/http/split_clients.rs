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
