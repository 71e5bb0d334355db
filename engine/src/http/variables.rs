//! http variables at configuration time: which exist, which directives use, and complex values
//! (nginx: ngx_http_variables.c and ngx_http_script.c).
//!
//! Modules define variables (`set`, `map`, named captures...) and use them (`$var` in complex
//! values); at the end of `http` every used name must exist (`unknown "x" variable`).

use std::collections::HashMap;

use crate::conf::dispatch::Failed;
use crate::conf::{Cf, Ctx};
use crate::log::Level;

/// Built-in variables of the modules oxresty builds (nginx: each module's `preconfiguration`).
const BUILTIN: &[&str] = &[
    // ngx_http_core_module
    "http_host",
    "http_user_agent",
    "http_referer",
    "http_via",
    "http_x_forwarded_for",
    "http_cookie",
    "content_length",
    "content_type",
    "host",
    "binary_remote_addr",
    "remote_addr",
    "remote_port",
    "proxy_protocol_addr",
    "proxy_protocol_port",
    "proxy_protocol_server_addr",
    "proxy_protocol_server_port",
    "server_addr",
    "server_port",
    "server_protocol",
    "scheme",
    "https",
    "request_uri",
    "uri",
    "document_uri",
    "request",
    "document_root",
    "realpath_root",
    "query_string",
    "args",
    "is_args",
    "request_filename",
    "server_name",
    "request_method",
    "remote_user",
    "bytes_sent",
    "body_bytes_sent",
    "pipe",
    "request_completion",
    "request_body",
    "request_body_file",
    "request_length",
    "request_time",
    "request_id",
    "status",
    "sent_http_content_type",
    "sent_http_content_length",
    "sent_http_location",
    "sent_http_last_modified",
    "sent_http_connection",
    "sent_http_keep_alive",
    "sent_http_transfer_encoding",
    "sent_http_cache_control",
    "sent_http_link",
    "limit_rate",
    "connection",
    "connection_requests",
    "connection_time",
    "nginx_version",
    "hostname",
    "pid",
    "msec",
    "time_iso8601",
    "time_local",
    "tcpinfo_rtt",
    "tcpinfo_rttvar",
    "tcpinfo_snd_cwnd",
    "tcpinfo_rcv_space",
    // ngx_http_upstream_module
    "upstream_addr",
    "upstream_status",
    "upstream_connect_time",
    "upstream_header_time",
    "upstream_response_time",
    "upstream_response_length",
    "upstream_bytes_received",
    "upstream_bytes_sent",
    "upstream_cache_status",
    "upstream_cache_last_modified",
    "upstream_cache_etag",
    // ngx_http_browser_module
    "msie",
    "modern_browser",
    "ancient_browser",
    // ngx_http_fastcgi_module
    "fastcgi_script_name",
    "fastcgi_path_info",
    // ngx_http_grpc_module
    "grpc_internal_trailers",
    // ngx_http_limit_conn_module, ngx_http_limit_req_module
    "limit_conn_status",
    "limit_req_status",
    // ngx_http_proxy_module
    "proxy_host",
    "proxy_port",
    "proxy_add_x_forwarded_for",
    "proxy_add_via",
    "proxy_internal_body_length",
    "proxy_internal_chunked",
    // ngx_http_realip_module
    "realip_remote_addr",
    "realip_remote_port",
    // ngx_http_ssi_filter_module
    "date_local",
    "date_gmt",
    // ngx_http_ssl_module
    "ssl_protocol",
    "ssl_cipher",
    "ssl_ciphers",
    "ssl_curve",
    "ssl_curves",
    "ssl_session_id",
    "ssl_session_reused",
    "ssl_early_data",
    "ssl_server_name",
    "ssl_alpn_protocol",
    "ssl_client_cert",
    "ssl_client_raw_cert",
    "ssl_client_escaped_cert",
    "ssl_client_s_dn",
    "ssl_client_i_dn",
    "ssl_client_s_dn_legacy",
    "ssl_client_i_dn_legacy",
    "ssl_client_serial",
    "ssl_client_fingerprint",
    "ssl_client_verify",
    "ssl_client_v_start",
    "ssl_client_v_end",
    "ssl_client_v_remain",
    // ngx_http_stub_status_module
    "connections_active",
    "connections_reading",
    "connections_writing",
    "connections_waiting",
    // ngx_http_v2_module
    "http2",
    // ngx_http_gzip_filter_module, ngx_http_secure_link_module, ngx_http_userid_filter_module
    "gzip_ratio",
    "secure_link",
    "secure_link_expires",
    "uid_got",
    "uid_set",
    "uid_reset",
    // ngx_http_referer_module (added by valid_referers), ngx_http_slice_filter_module
    "invalid_referer",
    "slice_range",
    // ngx_http_echo_module
    "echo_timer_elapsed",
    "echo_request_body",
    "echo_client_request_headers",
    "echo_cacheable_request_uri",
    "echo_request_uri",
    "echo_client_request_method",
    "echo_request_method",
    "echo_response_status",
    "echo_it",
    "echo_incr",
];

/// Prefix variables (`$http_x_foo`...): any name starting with one of these exists.
const PREFIXES: &[&str] = &[
    "http_",
    "sent_http_",
    "sent_trailer_",
    "cookie_",
    "arg_",
    "upstream_http_",
    "upstream_trailer_",
    "upstream_cookie_",
];

/// The variables of one `http` block while it is parsed (nginx: `cmcf->variables_keys` and
/// `cmcf->variables`).
#[derive(Default, Debug)]
pub(crate) struct HttpVariables {
    /// Variables modules defined, by lower-case name: changeable or not.
    defined: HashMap<Vec<u8>, bool>,
    /// Names directives use, in index order.
    used: Vec<Vec<u8>>,
}

/// One piece of a complex value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Lit(Vec<u8>),
    Var(Vec<u8>),
    /// `$1`..`$9`.
    Capture(u8),
}

/// A value with variables, compiled once (nginx: ngx_http_complex_value_t).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ComplexValue {
    pub(crate) parts: Vec<Part>,
}

impl ComplexValue {
    /// The value has no variables and no captures.
    pub(crate) fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }
}

fn vars<'c>(cf: &'c mut Cf<'_>) -> Option<&'c mut HttpVariables> {
    cf.enclosing(Ctx::HTTP_MAIN)
        .map(|f| f.get::<HttpVariables>())
}

/// Built-in variables a configuration may redefine (`NGX_HTTP_VAR_CHANGEABLE`).
const BUILTIN_CHANGEABLE: &[&str] = &[
    "args",
    "limit_rate",
    "msie",
    "modern_browser",
    "ancient_browser",
    "proxy_internal_body_length",
    "proxy_internal_chunked",
];

/// nginx: ngx_http_add_variable: redefining a variable is an error unless it is changeable.
pub(crate) fn add_variable(cf: &mut Cf<'_>, name: &[u8], changeable: bool) -> Result<(), Failed> {
    if name.is_empty() {
        return Err(cf.emerg("invalid variable name \"$\""));
    }
    let key = name.to_ascii_lowercase();
    let Some(v) = vars(cf) else { return Ok(()) };
    let existing = match v.defined.get(&key) {
        Some(&c) => Some(c),
        None if is_builtin(&key) => Some(BUILTIN_CHANGEABLE.iter().any(|b| b.as_bytes() == key)),
        None => None,
    };
    match existing {
        Some(true) => Ok(()),
        None => {
            v.defined.insert(key, changeable);
            Ok(())
        }
        Some(false) => Err(cf.emerg(format!(
            "the duplicate \"{}\" variable",
            String::from_utf8_lossy(name)
        ))),
    }
}

fn is_builtin(key: &[u8]) -> bool {
    BUILTIN.iter().any(|b| b.as_bytes() == key)
}

/// nginx: ngx_http_get_variable_index.
pub(crate) fn get_variable_index(cf: &mut Cf<'_>, name: &[u8]) -> Result<(), Failed> {
    if name.is_empty() {
        return Err(cf.emerg("invalid variable name \"$\""));
    }
    let key = name.to_ascii_lowercase();
    if let Some(v) = vars(cf) {
        if !v.used.contains(&key) {
            v.used.push(key);
        }
    }
    Ok(())
}

/// nginx: ngx_http_script_variables_count.
pub(crate) fn script_variables_count(value: &[u8]) -> usize {
    value.iter().filter(|&&c| c == b'$').count()
}

/// nginx: ngx_http_compile_complex_value (ngx_http_script_compile's variable syntax).
pub(crate) fn compile_complex_value(cf: &mut Cf<'_>, value: &[u8]) -> Result<ComplexValue, Failed> {
    let parts = split(value).map_err(|text| cf.emerg(text))?;
    for p in &parts {
        if let Part::Var(name) = p {
            get_variable_index(cf, name)?;
        }
    }
    Ok(ComplexValue { parts })
}

/// Splits a value into literals, variables and captures, with nginx's errors.
fn split(s: &[u8]) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'$' {
            let start = i;
            while i < s.len() && s[i] != b'$' {
                i += 1;
            }
            parts.push(Part::Lit(s[start..i].to_vec()));
            continue;
        }
        i += 1;
        let Some(&c) = s.get(i) else {
            return Err("invalid variable name".into());
        };
        if (b'1'..=b'9').contains(&c) {
            parts.push(Part::Capture(c - b'0'));
            i += 1;
            continue;
        }
        let bracket = c == b'{';
        if bracket {
            i += 1;
            if i == s.len() {
                return Err("invalid variable name".into());
            }
        }
        let start = i;
        let mut closed = !bracket;
        while i < s.len() {
            let ch = s[i];
            if ch == b'}' && bracket {
                closed = true;
                break;
            }
            if ch.is_ascii_alphanumeric() || ch == b'_' {
                i += 1;
                continue;
            }
            break;
        }
        let name = &s[start..i];
        if !closed {
            return Err(format!(
                "the closing bracket in \"{}\" variable is missing",
                String::from_utf8_lossy(name)
            ));
        }
        if bracket {
            i += 1;
        }
        if name.is_empty() {
            return Err("invalid variable name".into());
        }
        parts.push(Part::Var(name.to_vec()));
    }
    Ok(parts)
}

/// A `name value` directive whose value nginx compiles as a script when it merges the level
/// (`proxy_set_header`, `grpc_set_header`): the value's variables are used.
pub(crate) fn keyval_complex(cf: &mut Cf<'_>, d: &parser::Directive) -> crate::conf::SetResult {
    if let Some(value) = d.args.get(1) {
        compile_complex_value(cf, value)?;
    }
    Ok(())
}

/// nginx: ngx_http_variables_init_vars, at the end of `http`: every used name must exist.
pub(crate) fn init_vars(cf: &mut Cf<'_>, vars: &HttpVariables) -> Result<(), Failed> {
    for name in &vars.used {
        let known = vars.defined.contains_key(name)
            || is_builtin(name)
            || PREFIXES.iter().any(|p| name.starts_with(p.as_bytes()));
        if !known {
            cf.log(
                Level::Emerg,
                format!("unknown \"{}\" variable", String::from_utf8_lossy(name)),
            );
            return Err(Failed);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{split, Part};

    #[test]
    fn complex_value_syntax() {
        let lit = |s: &str| Part::Lit(s.as_bytes().to_vec());
        let var = |s: &str| Part::Var(s.as_bytes().to_vec());
        assert_eq!(
            split(b"$scheme://${host}x$1/$uri"),
            Ok(vec![
                var("scheme"),
                lit("://"),
                var("host"),
                lit("x"),
                Part::Capture(1),
                lit("/"),
                var("uri")
            ])
        );
        assert_eq!(split(b"a$"), Err("invalid variable name".into()));
        assert_eq!(split(b"$-"), Err("invalid variable name".into()));
        assert_eq!(split(b"${}"), Err("invalid variable name".into()));
        assert_eq!(
            split(b"${host"),
            Err("the closing bracket in \"host\" variable is missing".into())
        );
        assert_eq!(split(b"$0"), Ok(vec![var("0")]));
    }
}
