//! The PROXY protocol header (v1 text, v2 binary) that load balancers put before the first
//! request on `listen ... proxy_protocol` addresses (nginx: ngx_proxy_protocol.c, read by
//! ngx_http_wait_request_handler and ngx_http_ssl_handshake), and what it tells: the
//! `$proxy_protocol_*` variables and `real_ip_header proxy_protocol`.

use std::os::fd::AsRawFd;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// The addresses a PROXY header carried (nginx: ngx_proxy_protocol_t). Addresses are text:
/// v1's as sent (only their characters are checked), v2's printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProxyProtocol {
    pub(crate) src_addr: String,
    pub(crate) src_port: u16,
    pub(crate) dst_addr: String,
    pub(crate) dst_port: u16,
}

/// nginx: NGX_PROXY_PROTOCOL_MAX_HEADER; TLS connections peek one more byte than that.
const MAX_HEADER: usize = 107;

const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// What a read buffer's PROXY header gave: its length and the addresses, if any (`UNKNOWN`,
/// v2 `LOCAL` and unsupported families carry none), or the error line that closes the
/// connection (`None`: closed without a line, as nginx for a short v2 address block).
type Parsed = Result<(usize, Option<ProxyProtocol>), Option<String>>;

/// nginx: ngx_proxy_protocol_read
pub(crate) fn parse(buf: &[u8]) -> Parsed {
    if buf.len() >= 16 && buf.starts_with(V2_SIGNATURE) {
        return parse_v2(buf);
    }
    let broken = || {
        Err(Some(format!(
            "broken header: \"{}\"",
            String::from_utf8_lossy(buf)
        )))
    };
    if buf.len() < 8 || !buf.starts_with(b"PROXY ") {
        return broken();
    }
    let rest = &buf[6..];
    if rest.starts_with(b"UNKNOWN") {
        let from = 6 + 7;
        return match buf[from..].windows(2).position(|w| w == b"\r\n") {
            Some(i) => Ok((from + i + 2, None)),
            None => broken(),
        };
    }
    if rest.len() < 5
        || !rest.starts_with(b"TCP")
        || !matches!(rest[3], b'4' | b'6')
        || rest[4] != b' '
    {
        return broken();
    }
    let mut p = 6 + 5;
    let Some(src_addr) = read_addr(buf, &mut p) else {
        return broken();
    };
    let Some(dst_addr) = read_addr(buf, &mut p) else {
        return broken();
    };
    let Some(src_port) = read_port(buf, &mut p, b' ') else {
        return broken();
    };
    let Some(dst_port) = read_port(buf, &mut p, b'\r') else {
        return broken();
    };
    if buf.get(p) != Some(&b'\n') {
        return broken();
    }
    let pp = ProxyProtocol {
        src_addr,
        src_port,
        dst_addr,
        dst_port,
    };
    Ok((p + 1, Some(pp)))
}

/// nginx: ngx_proxy_protocol_read_addr: address characters up to a space.
fn read_addr(buf: &[u8], p: &mut usize) -> Option<String> {
    let start = *p;
    loop {
        let c = *buf.get(*p)?;
        *p += 1;
        if c == b' ' {
            break;
        }
        if !(c == b':' || c == b'.' || c.is_ascii_hexdigit()) {
            return None;
        }
    }
    Some(String::from_utf8_lossy(&buf[start..*p - 1]).into_owned())
}

/// nginx: ngx_proxy_protocol_read_port: a decimal port up to `sep`.
fn read_port(buf: &[u8], p: &mut usize, sep: u8) -> Option<u16> {
    let start = *p;
    loop {
        let c = *buf.get(*p)?;
        *p += 1;
        if c == sep {
            break;
        }
    }
    let digits = &buf[start..*p - 1];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse::<u16>().ok()
}

/// nginx: ngx_proxy_protocol_v2_read
fn parse_v2(buf: &[u8]) -> Parsed {
    let version = buf[12] >> 4;
    if version != 2 {
        return Err(Some(format!("unknown PROXY protocol version: {version}")));
    }
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let body = &buf[16..];
    if body.len() < len {
        return Err(Some("header is too large".into()));
    }
    let end = 16 + len;
    let body = &body[..len];
    // Only the PROXY command over a stream transport names addresses.
    if buf[12] & 0x0f != 1 || buf[13] & 0x0f != 1 {
        return Ok((end, None));
    }
    let port = |b: &[u8], at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    let pp = match buf[13] >> 4 {
        1 => {
            if body.len() < 12 {
                return Err(None);
            }
            let ip = |at: usize| {
                std::net::Ipv4Addr::new(body[at], body[at + 1], body[at + 2], body[at + 3])
            };
            ProxyProtocol {
                src_addr: ip(0).to_string(),
                dst_addr: ip(4).to_string(),
                src_port: port(body, 8),
                dst_port: port(body, 10),
            }
        }
        2 => {
            if body.len() < 36 {
                return Err(None);
            }
            let ip = |at: usize| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&body[at..at + 16]);
                std::net::Ipv6Addr::from(o).to_string()
            };
            ProxyProtocol {
                src_addr: ip(0),
                dst_addr: ip(16),
                src_port: port(body, 32),
                dst_port: port(body, 34),
            }
        }
        _ => return Ok((end, None)),
    };
    Ok((end, Some(pp)))
}

/// A stream whose first bytes can be looked at without taking them (nginx reads the
/// header with `recv(MSG_PEEK)` before a TLS handshake; a plain connection's request
/// bytes after the header must stay for the request reader too).
pub(crate) trait Peek: AsRawFd + tokio::io::AsyncRead + Unpin {
    fn readable(&self) -> impl std::future::Future<Output = std::io::Result<()>>;
    fn try_peek(&self, buf: &mut [u8]) -> std::io::Result<usize>;
}

macro_rules! peek_impl {
    ($t:ty) => {
        impl Peek for $t {
            fn readable(&self) -> impl std::future::Future<Output = std::io::Result<()>> {
                <$t>::readable(self)
            }
            fn try_peek(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                let fd = self.as_raw_fd();
                self.try_io(tokio::io::Interest::READABLE, || {
                    // SAFETY: `buf` is valid for `buf.len()` bytes; `fd` is this stream's.
                    let n = unsafe {
                        libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_PEEK)
                    };
                    if n < 0 {
                        Err(std::io::Error::last_os_error())
                    } else {
                        Ok(n as usize)
                    }
                })
            }
        }
    };
}
peek_impl!(tokio::net::TcpStream);
peek_impl!(tokio::net::UnixStream);

/// How a connection's PROXY header read ended.
pub(crate) enum Outcome {
    /// The header was taken off the stream.
    Read(Option<ProxyProtocol>),
    /// The connection is to be closed; the line to log (at `error`, or `info` for a client
    /// that closed or timed out), without its context.
    Close(Option<(crate::log::Level, String)>),
}

/// nginx: the PROXY part of ngx_http_wait_request_handler (`tls`: of
/// ngx_http_ssl_handshake): one read of what arrived (up to the client header buffer, or
/// 108 bytes before TLS), the header parsed from it and consumed.
pub(crate) async fn read<S: Peek>(
    stream: &mut S,
    tls: bool,
    buffer: usize,
    timeout: Duration,
) -> Outcome {
    let size = if tls {
        MAX_HEADER + 1
    } else {
        buffer.max(MAX_HEADER + 1)
    };
    let mut buf = vec![0u8; size];
    let peeked = tokio::time::timeout(timeout, async {
        loop {
            stream.readable().await?;
            match stream.try_peek(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                r => return r,
            }
        }
    })
    .await;
    let n = match peeked {
        Err(_) => {
            let line = "client timed out (110: Connection timed out)".to_string();
            return Outcome::Close(Some((crate::log::Level::Info, line)));
        }
        Ok(Err(e)) => {
            let line = format!("recv() failed ({})", crate::log::errno_text(&e));
            return Outcome::Close(Some((crate::log::Level::Info, line)));
        }
        Ok(Ok(0)) => {
            let line = "client closed connection".to_string();
            return Outcome::Close(Some((crate::log::Level::Info, line)));
        }
        Ok(Ok(n)) => n,
    };
    match parse(&buf[..n]) {
        Err(line) => {
            // A plain connection's bytes nginx had read: closing leaves nothing unread (a
            // FIN, not a reset); before TLS it had only peeked.
            if !tls {
                let _ = stream.read_exact(&mut buf[..n]).await;
            }
            Outcome::Close(line.map(|l| (crate::log::Level::Error, l)))
        }
        Ok((len, pp)) => {
            let mut taken = vec![0u8; len];
            match stream.read_exact(&mut taken).await {
                Ok(_) => Outcome::Read(pp),
                Err(_) => Outcome::Close(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pp(src: &str, sp: u16, dst: &str, dp: u16) -> Option<ProxyProtocol> {
        Some(ProxyProtocol {
            src_addr: src.into(),
            src_port: sp,
            dst_addr: dst.into(),
            dst_port: dp,
        })
    }

    #[test]
    fn v1() {
        let h = b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\nGET / HTTP/1.0\r\n\r\n";
        assert_eq!(parse(h), Ok((38, pp("1.2.3.4", 1111, "5.6.7.8", 2222))));
        assert_eq!(
            parse(b"PROXY TCP6 ::1 ::2 1 65535\r\n"),
            Ok((28, pp("::1", 1, "::2", 65535)))
        );
        // Only the characters of an address are checked, as nginx does.
        assert_eq!(
            parse(b"PROXY TCP4 abc 5.6.7.8 1 2\r\n"),
            Ok((28, pp("abc", 1, "5.6.7.8", 2)))
        );
        assert_eq!(parse(b"PROXY UNKNOWN foo\r\nGET"), Ok((19, None)));
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2222\r\n"[..],
            b"PROXY TCP4 1.2.3.x 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r",
            b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY UNKNOWN",
            b"GET / HTTP/1.0\r\n\r\n",
        ] {
            let want = format!("broken header: \"{}\"", String::from_utf8_lossy(bad));
            assert_eq!(parse(bad), Err(Some(want)));
        }
    }

    #[test]
    fn v2() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[
            0x21, 0x11, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 0x04, 0x57, 0x08, 0xae,
        ]);
        assert_eq!(parse(&h), Ok((28, pp("1.2.3.4", 1111, "5.6.7.8", 2222))));
        h[12] = 0x20;
        assert_eq!(parse(&h), Ok((28, None)));
        h[12] = 0x31;
        assert_eq!(
            parse(&h),
            Err(Some("unknown PROXY protocol version: 3".into()))
        );
        h[12] = 0x21;
        h[15] = 64;
        assert_eq!(parse(&h), Err(Some("header is too large".into())));
        h[15] = 4;
        assert_eq!(parse(&h), Err(None));
    }
}
