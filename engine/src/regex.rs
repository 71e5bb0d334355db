//! Regular expressions with PCRE semantics (the `pcre2` crate), compiled where nginx compiles
//! them and failing with nginx's texts (nginx: ngx_regex.c).

use crate::conf::dispatch::Failed;
use crate::conf::{Cf, Ctx};

/// A compiled regex and what nginx records about it.
#[derive(Debug, Clone)]
pub(crate) struct Regex {
    /// Matched by the runtime (issue 3); at configuration time only its shape matters.
    #[allow(dead_code)]
    pub(crate) re: pcre2::bytes::Regex,
    /// Number of capture groups.
    pub(crate) captures: usize,
    /// Named capture groups, which become variables.
    pub(crate) names: Vec<String>,
}

/// nginx: ngx_regex_compile's error text for `pattern`.
fn compile_error(pattern: &[u8], e: &pcre2::Error) -> String {
    let shown = e.to_string();
    // The crate words it "PCRE2: error compiling pattern[ at offset N]: MESSAGE".
    let msg = shown.split_once(": ").map_or(shown.as_str(), |(_, m)| m);
    let msg = msg.split_once(": ").map_or(msg, |(_, m)| m);
    let pat = String::from_utf8_lossy(pattern);
    match e.offset() {
        Some(off) if off < pattern.len() => format!(
            "pcre2_compile() failed: {msg} in \"{pat}\" at \"{}\"",
            String::from_utf8_lossy(&pattern[off..])
        ),
        _ => format!("pcre2_compile() failed: {msg} in \"{pat}\""),
    }
}

/// Compiles `pattern` without a configuration (for tests and runtime use).
pub(crate) fn build(pattern: &[u8], caseless: bool) -> Result<Regex, String> {
    let pat = std::str::from_utf8(pattern).map_err(|_| {
        format!(
            "pcre2_compile() failed: UTF-8 error in \"{}\"",
            String::from_utf8_lossy(pattern)
        )
    })?;
    let mut b = pcre2::bytes::RegexBuilder::new();
    b.caseless(caseless);
    // JIT when available; nginx's --with-pcre-jit.
    b.jit_if_available(true);
    let re = b.build(pat).map_err(|e| compile_error(pattern, &e))?;
    let names = re.capture_names().iter().flatten().cloned().collect();
    let captures = re.captures_len().saturating_sub(1);
    Ok(Regex {
        re,
        captures,
        names,
    })
}

/// nginx: ngx_http_regex_compile (inside `http`) / ngx_regex_compile: logs the error at the
/// current directive; named captures become changeable variables.
pub(crate) fn compile(cf: &mut Cf<'_>, pattern: &[u8], caseless: bool) -> Result<Regex, Failed> {
    let re = build(pattern, caseless).map_err(|text| cf.emerg(text))?;
    if cf.ctx().has(
        Ctx::HTTP_MAIN
            .or(Ctx::HTTP_SRV)
            .or(Ctx::HTTP_LOC)
            .or(Ctx::HTTP_UPS),
    ) || cf
        .ctx()
        .has(Ctx::HTTP_SIF.or(Ctx::HTTP_LIF).or(Ctx::HTTP_LMT))
    {
        for name in &re.names {
            crate::http::variables::add_variable(cf, name.as_bytes(), true)?;
        }
    }
    Ok(re)
}

#[cfg(test)]
mod tests {
    use super::build;

    #[test]
    fn nginx_error_texts() {
        let e = build(b"^/(foo", false).err();
        assert_eq!(
            e.as_deref(),
            Some("pcre2_compile() failed: missing closing parenthesis in \"^/(foo\"")
        );
        let e = build(b"^/[a-", false).err();
        assert!(e.is_some_and(|e| e.starts_with("pcre2_compile() failed: ")));
        let re = build(b"^/(?<user>\\w+)/(\\d+)$", true).ok();
        assert_eq!(re.as_ref().map(|r| r.captures), Some(2));
        assert_eq!(re.map(|r| r.names), Some(vec!["user".to_string()]));
    }
}
