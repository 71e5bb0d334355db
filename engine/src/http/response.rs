//! Building the response: status lines with nginx's reason phrases, the header filter's
//! headers, and the default error pages byte for byte (nginx: ngx_http_header_filter_module.c,
//! ngx_http_special_response.c).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue};

use super::lower::ServerTokens;
use super::request::Request;

/// The body type every response uses.
pub(crate) type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

pub(crate) fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

pub(crate) fn empty() -> Body {
    full(Bytes::new())
}

/// What a phase answered: a status, headers and maybe a body (`None`: nginx's special
/// response for the status, unless an error page takes over).
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Body>,
    /// `Content-Length` when the body's length is known.
    pub(crate) length: Option<u64>,
    /// The connection must close after this reply.
    pub(crate) close: bool,
    /// nginx's `return 444`: close without answering.
    pub(crate) drop: bool,
    /// The body is text whose type is the location's `default_type` (`return code text`).
    pub(crate) default_type: bool,
}

impl Reply {
    pub(crate) fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: HeaderMap::new(),
            body: None,
            length: None,
            close: false,
            drop: false,
            default_type: false,
        }
    }

    /// nginx: ngx_http_rewrite_return / ngx_http_send_response: redirects take the text as
    /// `Location`, other codes as the body.
    pub(crate) fn ret(status: u16, text: Option<Vec<u8>>) -> Reply {
        let mut r = Reply::status(status);
        if status == 444 {
            r.drop = true;
            return r;
        }
        let Some(text) = text else { return r };
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            if let Ok(v) = HeaderValue::from_bytes(&text) {
                r.headers.insert(hyper::header::LOCATION, v);
            }
            return r;
        }
        r.length = Some(text.len() as u64);
        r.body = Some(full(text));
        r.default_type = true;
        r
    }
}

/// nginx: ngx_http_status_lines' reason phrases.
pub(crate) fn reason(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => return None,
    })
}

/// The error page's title where it differs from the status line (nginx's page texts).
fn page_title(status: u16) -> Option<&'static str> {
    match status {
        302 => Some("Found"),
        401 => Some("Authorization Required"),
        _ => reason(status),
    }
}

/// nginx: ngx_http_special_response_handler's body for `status` (`None`: no body).
pub(crate) fn special_page(status: u16, tokens: ServerTokens) -> Option<Vec<u8>> {
    let tail: &[u8] = match tokens {
        ServerTokens::On | ServerTokens::Build => {
            b"<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
        }
        ServerTokens::Off => b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
    };
    let extra = match status {
        494 => Some("Request Header Or Cookie Too Large"),
        495 => Some("The SSL certificate error"),
        496 => Some("No required SSL certificate was sent"),
        497 => Some("The plain HTTP request was sent to HTTPS port"),
        _ => None,
    };
    let mut page = Vec::new();
    if let Some(e) = extra {
        page.extend_from_slice(
            format!(
                "<html>\r\n<head><title>400 {e}</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>{e}</center>\r\n"
            )
            .as_bytes(),
        );
    } else {
        let title = page_title(status)?;
        if status < 301 || status == 304 {
            return None;
        }
        page.extend_from_slice(
            format!(
                "<html>\r\n<head><title>{status} {title}</title></head>\r\n<body>\r\n<center><h1>{status} {title}</h1></center>\r\n"
            )
            .as_bytes(),
        );
    }
    page.extend_from_slice(tail);
    Some(page)
}

/// nginx's `Server` header value.
pub(crate) fn server_header(tokens: ServerTokens) -> &'static str {
    match tokens {
        ServerTokens::Off => "nginx",
        _ => "nginx/1.22.1",
    }
}

/// nginx: ngx_http_header_filter: turns a reply into the response hyper writes, headers in
/// nginx's order.
pub(crate) fn build(r: &Request, mut reply: Reply, keepalive: bool) -> hyper::Response<Body> {
    let tokens = r.loc.server_tokens.unwrap_or(ServerTokens::On);
    let mut status = reply.status;
    // nginx's codes without a wire form (494-497) answer 400.
    let special = reply.body.is_none() && status >= 300 && status != 304;
    if special {
        if let Some(page) = special_page(status, tokens) {
            reply.length = Some(page.len() as u64);
            reply.body = Some(full(page));
            reply.headers.insert(
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_static("text/html"),
            );
        } else {
            reply.length = Some(0);
        }
        if matches!(status, 400 | 413 | 414 | 494 | 495 | 496 | 497 | 500 | 501) {
            reply.close = true;
        }
    }
    if (494..=497).contains(&status) {
        status = 400;
    }
    let default_type = reply.default_type;
    let mut headers = HeaderMap::new();
    headers.insert(
        hyper::header::SERVER,
        HeaderValue::from_static(server_header(tokens)),
    );
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(std::time::SystemTime::now())) {
        headers.insert(hyper::header::DATE, v);
    }
    if default_type {
        let t = r
            .loc
            .default_type
            .clone()
            .unwrap_or_else(|| b"text/plain".to_vec());
        if let Ok(v) = HeaderValue::from_bytes(&t) {
            headers.insert(hyper::header::CONTENT_TYPE, v);
        }
    }
    if let Some(ct) = reply.headers.get(hyper::header::CONTENT_TYPE) {
        headers.insert(hyper::header::CONTENT_TYPE, ct.clone());
    }
    if let Some(len) = reply.length {
        if status != 304 && status != 204 {
            headers.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    if let Some(lm) = reply.headers.get(hyper::header::LAST_MODIFIED) {
        headers.insert(hyper::header::LAST_MODIFIED, lm.clone());
    }
    if let Some(loc) = reply.headers.get(hyper::header::LOCATION) {
        headers.insert(hyper::header::LOCATION, absolute_location(r, loc.clone()));
    }
    let close = reply.close || !keepalive;
    headers.insert(
        hyper::header::CONNECTION,
        HeaderValue::from_static(if close { "close" } else { "keep-alive" }),
    );
    // The rest in the order the handler set them (nginx: the headers_out list).
    let placed = [
        hyper::header::CONTENT_TYPE,
        hyper::header::LAST_MODIFIED,
        hyper::header::LOCATION,
    ];
    for (name, value) in reply.headers.iter() {
        if !placed.contains(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    r.response_headers(status, &mut headers);
    let body = if r.method == hyper::Method::HEAD {
        empty()
    } else {
        reply.body.unwrap_or_else(empty)
    };
    let mut resp = hyper::Response::new(body);
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(text) = reason(status) {
        resp.extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(text.as_bytes()));
    }
    *resp.headers_mut() = headers;
    resp
}

/// nginx: the header filter makes a relative `Location` absolute (`absolute_redirect on`).
fn absolute_location(r: &Request, loc: HeaderValue) -> HeaderValue {
    let bytes = loc.as_bytes();
    if !bytes.starts_with(b"/") || r.loc.absolute_redirect == Some(false) {
        return loc;
    }
    let host = if r.loc.server_name_in_redirect == Some(true) {
        r.server.name.clone()
    } else {
        r.host()
    };
    let port = r.conn.local.map_or(80, |a| a.port());
    let mut s = b"http://".to_vec();
    s.extend_from_slice(&host);
    if port != 80 && r.loc.port_in_redirect != Some(false) {
        s.extend_from_slice(format!(":{port}").as_bytes());
    }
    s.extend_from_slice(bytes);
    HeaderValue::from_bytes(&s).unwrap_or(loc)
}

#[cfg(test)]
mod tests {
    use super::{special_page, ServerTokens};

    #[test]
    fn error_pages_as_nginx() {
        let p = special_page(404, ServerTokens::On).unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&p),
            "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
        );
        let p = special_page(302, ServerTokens::Off).unwrap_or_default();
        assert!(String::from_utf8_lossy(&p).contains("<title>302 Found</title>"));
        assert!(special_page(200, ServerTokens::On).is_none());
        let p = special_page(494, ServerTokens::On).unwrap_or_default();
        assert!(String::from_utf8_lossy(&p)
            .contains("<center>Request Header Or Cookie Too Large</center>"));
    }
}
