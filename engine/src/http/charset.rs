//! ngx_http_charset_filter_module: `charset`, `source_charset`, `override_charset`,
//! `charset_types`, `charset_map`.

use parser::{Body, Directive};

use crate::conf::dispatch::Failed;
use crate::conf::{cmd, Args, Cf, Ctx, Module, Set, SetResult, Slot};
use crate::http::gzip::types_slot;
use crate::http::map::data_lines;
use crate::http::variables;

const CTX: Ctx = Ctx::HTTP_MSL.or(Ctx::HTTP_LIF);

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_charset_filter_module",
    commands: &[
        cmd("charset", CTX, Args::TAKE1, Set::Handler(set_charset)),
        cmd(
            "source_charset",
            CTX,
            Args::TAKE1,
            Set::Handler(set_source_charset),
        ),
        cmd("override_charset", CTX, Args::FLAG, Set::Slot(Slot::Flag)),
        cmd(
            "charset_types",
            Ctx::HTTP_MSL,
            Args::ONEMORE,
            Set::Handler(charset_types),
        ),
        cmd(
            "charset_map",
            Ctx::HTTP_MAIN,
            Args::BLOCK.or(Args::TAKE2),
            Set::Handler(charset_map_block),
        ),
    ],
};

fn lossy(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

/// The `http` level's charsets and tables (nginx: ngx_http_charset_main_conf_t).
#[derive(Default)]
struct CharsetMain {
    charsets: Vec<Vec<u8>>,
    /// `(src, dst)` indexes of the `charset_map` tables.
    tables: Vec<(usize, usize)>,
}

/// nginx: ngx_http_add_charset (case-insensitive names).
fn add_charset(cf: &mut Cf<'_>, name: &[u8]) -> usize {
    let Some(http) = cf.enclosing(Ctx::HTTP_MAIN) else {
        return 0;
    };
    let m = http.get::<CharsetMain>();
    if let Some(i) = m.charsets.iter().position(|c| c.eq_ignore_ascii_case(name)) {
        return i;
    }
    m.charsets.push(name.to_vec());
    m.charsets.len() - 1
}

fn set_charset(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    set_charset_slot(cf, d, "charset", true)
}

fn set_source_charset(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    set_charset_slot(cf, d, "source_charset", false)
}

/// nginx: ngx_http_set_charset_slot
fn set_charset_slot(cf: &mut Cf<'_>, d: &Directive, name: &'static str, off: bool) -> SetResult {
    if cf.seen(name) {
        return Err(Some("is duplicate".into()));
    }
    let Some(v) = d.args.first() else {
        return Ok(());
    };
    if off && v == b"off" {
        return Ok(());
    }
    if let Some(var) = v.strip_prefix(b"$") {
        variables::get_variable_index(cf, var)?;
        return Ok(());
    }
    add_charset(cf, v);
    Ok(())
}

fn charset_types(cf: &mut Cf<'_>, d: &Directive) -> SetResult {
    types_slot(cf, d, "charset_types")
}

/// nginx: ngx_http_charset_map_block
fn charset_map_block<'a>(cf: &mut Cf<'a>, d: &'a Directive) -> SetResult {
    let (Some(a), Some(b)) = (d.args.first(), d.args.get(1)) else {
        return Ok(());
    };
    let src = add_charset(cf, a);
    let dst = add_charset(cf, b);
    if src == dst {
        return Err(cf
            .emerg(format!(
                "\"charset_map\" between the same charsets \"{}\" and \"{}\"",
                lossy(a),
                lossy(b)
            ))
            .into());
    }
    if let Some(http) = cf.enclosing(Ctx::HTTP_MAIN) {
        let m = http.get::<CharsetMain>();
        // nginx compares every table with the first one only.
        let dup = !m.tables.is_empty()
            && m.tables.iter().any(|_| {
                let t = m.tables[0];
                (src == t.0 && dst == t.1) || (src == t.1 && dst == t.0)
            });
        if dup {
            return Err(cf
                .emerg(format!(
                    "duplicate \"charset_map\" between \"{}\" and \"{}\"",
                    lossy(a),
                    lossy(b)
                ))
                .into());
        }
        m.tables.push((src, dst));
    }
    let utf8 = b.eq_ignore_ascii_case(b"utf-8");
    let Body::Block(block) = &d.body else {
        return Ok(());
    };
    data_lines(cf, block, |cf, value| charset_map(cf, value, utf8))?;
    Ok(())
}

/// nginx: ngx_hextoi
fn hextoi(s: &[u8]) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in s {
        if v > i64::MAX / 16 {
            return None;
        }
        let d = match c {
            b'0'..=b'9' => c - b'0',
            _ => match c | 0x20 {
                x @ b'a'..=b'f' => x - b'a' + 10,
                _ => return None,
            },
        };
        v = v * 16 + i64::from(d);
    }
    Some(v)
}

/// nginx: ngx_utf8_decode (values above 0xffff are errors for charset_map).
fn utf8_decode(p: &[u8]) -> u32 {
    let Some(&first) = p.first() else {
        return 0xffff_ffff;
    };
    let (mut u, valid, len) = match first {
        0xf0..=0xff => (u32::from(first & 0x07), 0xffff, 3),
        0xe0..=0xef => (u32::from(first & 0x0f), 0x7ff, 2),
        0xc2..=0xdf => (u32::from(first & 0x1f), 0x7f, 1),
        _ => return 0xffff_ffff,
    };
    if p.len() - 1 < len {
        return 0xffff_fffe;
    }
    for &i in &p[1..=len] {
        if i < 0x80 {
            return 0xffff_ffff;
        }
        u = (u << 6) | u32::from(i & 0x3f);
    }
    if u > valid {
        u
    } else {
        0xffff_ffff
    }
}

/// nginx: ngx_http_charset_map
fn charset_map(cf: &mut Cf<'_>, value: &[&[u8]], utf8: bool) -> Result<(), Failed> {
    if value.len() != 2 {
        return Err(cf.emerg("invalid parameters number"));
    }
    let invalid = |cf: &mut Cf<'_>, v: &[u8]| cf.emerg(format!("invalid value \"{}\"", lossy(v)));
    if !matches!(hextoi(value[0]), Some(n) if n <= 255) {
        return Err(invalid(cf, value[0]));
    }
    let v = value[1];
    if utf8 {
        let mut bytes = Vec::new();
        for pair in v.chunks(2) {
            match hextoi(pair) {
                Some(n) if n <= 255 && pair.len() == 2 => bytes.push(n as u8),
                _ => return Err(invalid(cf, v)),
            }
        }
        if utf8_decode(&bytes) > 0xffff {
            return Err(invalid(cf, v));
        }
    } else if !matches!(hextoi(v), Some(n) if n <= 255) {
        return Err(invalid(cf, v));
    }
    Ok(())
}

// ---- runtime: lowering and the header filter's charset ----

/// nginx's default `charset_types`.
pub(crate) const DEFAULT_TYPES: &[&str] = &[
    "text/html",
    "text/xml",
    "text/plain",
    "text/vnd.wap.wml",
    "application/javascript",
    "application/rss+xml",
];

/// Folds the charset directives into a level.
pub(crate) fn lower(c: &mut crate::http::lower::LocConf, d: &Directive) {
    let a = d.args.first().map(Vec::as_slice).unwrap_or_default();
    match d.name.as_slice() {
        b"charset" => {
            c.charset = Some(if a == b"off" {
                None
            } else {
                Some(variables::parse_complex_value(a).unwrap_or_default())
            })
        }
        b"source_charset" => c.source_charset = Some(a.to_vec()),
        b"override_charset" => c.override_charset = Some(a.eq_ignore_ascii_case(b"on")),
        b"charset_types" => {
            c.charset_types = Some(std::sync::Arc::new(crate::http::gzip::TypeList::from_args(
                &d.args,
            )))
        }
        _ => {}
    }
}

/// nginx: ngx_http_charset_header_filter, without recoding: the charset to announce for a
/// response of `content_type` (which may already carry one), or `None`.
pub(crate) fn destination(
    r: &crate::http::request::Request,
    content_type: &[u8],
) -> Option<Vec<u8>> {
    if content_type.is_empty() {
        return None;
    }
    let cv = r.loc.charset.clone().flatten()?;
    let has = content_type
        .to_ascii_lowercase()
        .windows(8)
        .any(|w| w == b"charset=");
    if has {
        if r.loc.override_charset != Some(true) {
            return None;
        }
    } else {
        let ok = match &r.loc.charset_types {
            Some(t) => t.matches(content_type),
            None => crate::http::gzip::TypeList::of(DEFAULT_TYPES).matches(content_type),
        };
        if !ok {
            return None;
        }
    }
    let dst = r.eval(&cv);
    if let Some(src) = &r.loc.source_charset {
        if !src.eq_ignore_ascii_case(&dst) {
            crate::http::errlog::request_error(
                r,
                &format!(
                    "no \"charset_map\" between the charsets \"{}\" and \"{}\"",
                    lossy(src),
                    lossy(&dst)
                ),
            );
            return None;
        }
    }
    Some(dst)
}

#[cfg(test)]
mod tests {
    use super::{hextoi, utf8_decode};

    #[test]
    fn hex_and_utf8() {
        assert_eq!(hextoi(b"fF"), Some(255));
        assert_eq!(hextoi(b"g"), None);
        assert_eq!(utf8_decode(&[0xd0, 0x90]), 0x410);
        assert_eq!(utf8_decode(&[0x41]), 0xffff_ffff);
        assert_eq!(utf8_decode(&[0xe2, 0x80, 0x94]), 0x2014);
        assert!(utf8_decode(&[0xe2, 0x80]) > 0xffff);
    }
}
