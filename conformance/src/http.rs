//! A tiny HTTP/1.x client over a raw TCP socket, and a response parser that follows
//! Test::Nginx's `parse_response` (HTTP::Response semantics plus chunked decoding and the
//! Content-Length split used for pipelined responses).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// What one connection exchanged.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// Every byte received until the peer closed (or the deadline).
    pub raw: Vec<u8>,
    /// True when the deadline expired before the peer closed the connection.
    pub timed_out: bool,
    /// A connect error, if the connection could not be made.
    pub connect_error: Option<String>,
}

/// Sends `packets` (written one after another, `gap` apart) to `addr` and reads until the
/// server closes the connection or `timeout` passes. Connection refusals are retried until
/// `connect_deadline` (the server may still be starting).
pub fn exchange(
    addr: SocketAddr,
    packets: &[Vec<u8>],
    gap: Duration,
    timeout: Duration,
    connect_deadline: Instant,
) -> Exchange {
    let mut ex = Exchange::default();
    let mut stream = loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => break s,
            Err(e) => {
                if Instant::now() >= connect_deadline {
                    ex.connect_error = Some(format!("connect to {addr}: {e}"));
                    return ex;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    let deadline = Instant::now() + timeout;
    let _ = stream.set_nodelay(true);
    for (i, p) in packets.iter().enumerate() {
        if i > 0 && !gap.is_zero() {
            std::thread::sleep(gap);
        }
        let _ = stream.set_write_timeout(Some(timeout));
        // The server may answer and close before it has read everything (413, 400...): a
        // failed write is not an error; whatever it sent back is still read below.
        if stream.write_all(p).is_err() {
            break;
        }
    }
    let mut buf = [0u8; 16384];
    loop {
        let now = Instant::now();
        if now >= deadline {
            ex.timed_out = true;
            break;
        }
        let _ = stream.set_read_timeout(Some(deadline - now));
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => ex.raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                ex.timed_out = true;
                break;
            }
            // ECONNRESET and friends: the server is done with us.
            Err(_) => break,
        }
    }
    ex
}

/// A parsed response.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// Status code text (empty when the status line had none).
    pub code: String,
    /// Header fields in order, as received.
    pub headers: Vec<(String, String)>,
    /// The head up to and including the last header line's CRLF (without the blank line),
    /// as Test::Nginx extracts it for raw header checks; empty when there was no blank line.
    pub raw_headers: Vec<u8>,
    /// The body after chunked decoding / Content-Length truncation.
    pub body: Vec<u8>,
    /// Problems in the framing (bad chunked data): reported as failures.
    pub errors: Vec<String>,
}

impl Response {
    /// `HTTP::Response->header($name)`: all values of the field joined with `, `, or `None`.
    pub fn header(&self, name: &str) -> Option<String> {
        let vals: Vec<&str> = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        if vals.is_empty() {
            None
        } else {
            Some(vals.join(", "))
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses one response from `raw`; returns it and the bytes left over after it (the next
/// pipelined response), like Test::Nginx's `parse_response`. `http09` takes the whole input as
/// the body of a 200.
pub fn parse_response(raw: &[u8], http09: bool) -> (Response, Vec<u8>) {
    let mut res = Response::default();
    if http09 {
        res.code = "200".into();
        res.body = raw.to_vec();
        return (res, Vec::new());
    }
    if let Some(p) = find(raw, b"\r\n\r\n") {
        res.raw_headers = raw[..p + 2].to_vec();
    }
    // HTTP::Message->parse: status line, then `Name: value` lines until a blank line.
    let mut pos = 0;
    let next_line = |pos: &mut usize| -> Option<Vec<u8>> {
        if *pos >= raw.len() {
            return None;
        }
        let rest = &raw[*pos..];
        let (line, adv) = match rest.iter().position(|b| *b == b'\n') {
            Some(n) => (&rest[..n], n + 1),
            None => (rest, rest.len()),
        };
        *pos += adv;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Some(line.to_vec())
    };
    let status = next_line(&mut pos).unwrap_or_default();
    let status = String::from_utf8_lossy(&status).into_owned();
    let mut parts = status.split_whitespace();
    let first = parts.next().unwrap_or("");
    let code = if first.len() == 3 && first.bytes().all(|b| b.is_ascii_digit()) {
        first.to_string()
    } else {
        parts.next().unwrap_or("").to_string()
    };
    res.code = if code.bytes().all(|b| b.is_ascii_digit()) {
        code
    } else {
        String::new()
    };
    loop {
        let save = pos;
        let Some(line) = next_line(&mut pos) else {
            break;
        };
        if line.is_empty() {
            break;
        }
        if (line[0] == b' ' || line[0] == b'\t') && !res.headers.is_empty() {
            if let Some(last) = res.headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(String::from_utf8_lossy(&line).trim());
            }
            continue;
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        match text.split_once(':') {
            Some((k, v)) if !k.is_empty() && !k.contains(char::is_whitespace) => {
                let v = v.strip_prefix(' ').unwrap_or(v);
                res.headers.push((k.trim_end().to_string(), v.to_string()));
            }
            _ => {
                pos = save;
                break;
            }
        }
    }
    let content = &raw[pos.min(raw.len())..];
    if res.code == "304" || res.code == "101" {
        res.body = content.to_vec();
        return (res, Vec::new());
    }
    let te = res.header("Transfer-Encoding");
    let len = res.header("Content-Length");
    if te.as_deref() == Some("chunked") {
        let (body, left, err) = dechunk(content);
        res.body = body;
        if let Some(e) = err {
            res.errors.push(e);
        }
        return (res, left);
    }
    if let Some(len) = len.and_then(|l| l.trim().parse::<usize>().ok()) {
        if content.len() > len {
            res.body = content[..len].to_vec();
            return (res, content[len..].to_vec());
        }
    }
    res.body = content.to_vec();
    (res, Vec::new())
}

/// Decodes a chunked body: (body, bytes after the last chunk, framing error).
fn dechunk(raw: &[u8]) -> (Vec<u8>, Vec<u8>, Option<String>) {
    let mut out = Vec::new();
    let mut p = 0;
    loop {
        let Some(nl) = raw[p..].windows(2).position(|w| w == b"\r\n") else {
            return (out, Vec::new(), Some("no last chunk found".into()));
        };
        let line = String::from_utf8_lossy(&raw[p..p + nl]).into_owned();
        let size_txt = line.trim_matches([' ', '\t']);
        let Ok(size) = usize::from_str_radix(size_txt, 16) else {
            return (
                out,
                Vec::new(),
                Some(format!("invalid chunked body received: {line:?}")),
            );
        };
        p += nl + 2;
        if size == 0 {
            // Trailers (ignored) up to the blank line.
            match find(&raw[p..], b"\r\n") {
                Some(0) => {
                    p += 2;
                }
                _ => match find(&raw[p..], b"\r\n\r\n") {
                    Some(q) => p += q + 4,
                    None => {
                        return (
                            out,
                            Vec::new(),
                            Some("invalid chunked data (expected CRLF)".into()),
                        )
                    }
                },
            }
            return (out, raw[p..].to_vec(), None);
        }
        if raw.len() < p + size {
            return (
                out,
                Vec::new(),
                Some(
                    "invalid chunked data received (not enough octets for the data section)".into(),
                ),
            );
        }
        out.extend_from_slice(&raw[p..p + size]);
        p += size;
        if !raw[p..].starts_with(b"\r\n") {
            return (
                out,
                Vec::new(),
                Some("invalid chunked data received (expected CRLF)".into()),
            );
        }
        p += 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelined_content_length_and_chunked() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\nx-a: 2\r\n\r\nhiHTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let (r, left) = parse_response(raw, false);
        assert_eq!(r.code, "200");
        assert_eq!(r.body, b"hi");
        assert_eq!(r.header("x-A").as_deref(), Some("1, 2"));
        assert!(r.raw_headers.ends_with(b"x-a: 2\r\n"));
        let (r2, left2) = parse_response(&left, false);
        assert_eq!(r2.code, "404");
        assert_eq!(r2.body, b"abc");
        assert!(left2.is_empty());
        assert!(r2.errors.is_empty());
    }
}
