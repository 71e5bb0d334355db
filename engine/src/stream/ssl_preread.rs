//! ngx_stream_ssl_preread_module: `ssl_preread`.

#[allow(unused_imports)]
use crate::conf::{cmd, Args, Cf, Command, Ctx, Module, Set, SetResult, Slot};

pub(crate) static MODULE: Module = Module {
    name: "ngx_stream_ssl_preread_module",
    commands: COMMANDS,
};

static COMMANDS: &[Command] = &[cmd(
    "ssl_preread",
    Ctx::STREAM_MAIN.or(Ctx::STREAM_SRV),
    Args::FLAG,
    Set::Slot(Slot::Flag),
)];

/// Variables ngx_stream_ssl_preread_module defines.
pub(crate) const VARIABLES: &[&str] = &[
    "ssl_preread_protocol",
    "ssl_preread_server_name",
    "ssl_preread_alpn_protocols",
];

// ---- Run time: the ClientHello read ahead of the content handler. ----

/// What the ClientHello told (nginx: ngx_stream_ssl_preread_ctx_t).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Hello {
    /// `client_version`, or 3.4 once a supported_versions extension was seen.
    pub(crate) version: [u8; 2],
    pub(crate) host: Vec<u8>,
    /// The ALPN protocols, joined by `,`.
    pub(crate) alpn: Vec<u8>,
}

/// The outcome of reading what arrived so far.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Preread {
    /// More bytes are needed; what was parsed so far.
    Again(Hello),
    /// Not a TLS ClientHello: the variables are not found.
    Declined,
    Done(Hello),
}

/// nginx: ngx_stream_ssl_preread_handler: walks the TLS records in `buf` and the handshake
/// message their payloads make up.
pub(crate) fn parse(buf: &[u8]) -> Preread {
    let mut payload = Vec::new();
    let mut p = buf;
    let mut hello = Hello::default();
    while p.len() >= 5 {
        if p[0] & 0x80 != 0 && p[2] == 1 && (p[3] == 0 || p[3] == 3) {
            // An SSLv2-style ClientHello: only its version is known.
            hello.version = [p[3], p[4]];
            return Preread::Done(hello);
        }
        if p[0] != 0x16 || p[1] != 3 {
            return Preread::Declined;
        }
        let len = usize::from(p[3]) << 8 | usize::from(p[4]);
        if p.len() < len + 5 {
            break;
        }
        payload.extend_from_slice(&p[5..5 + len]);
        p = &p[5 + len..];
        match client_hello(&payload) {
            Step::Again(h) => hello = h,
            Step::Declined => return Preread::Declined,
            Step::Done(h) => return Preread::Done(h),
        }
    }
    Preread::Again(hello)
}

enum Step {
    Again(Hello),
    Declined,
    Done(Hello),
}

/// The handshake message read so far: a field longer than what the message has left ends
/// the parse (nginx: "failed to parse handshake"), a field not arrived yet waits.
struct Msg<'a> {
    b: &'a [u8],
    left: usize,
}

enum Need {
    Again,
    Declined,
}

impl<'a> Msg<'a> {
    fn field(&mut self, n: usize) -> Result<&'a [u8], Need> {
        if n > self.left {
            return Err(Need::Declined);
        }
        if self.b.len() < n {
            return Err(Need::Again);
        }
        let (f, rest) = self.b.split_at(n);
        self.b = rest;
        self.left -= n;
        Ok(f)
    }
}

/// nginx: ngx_stream_ssl_preread_parse_record, on the whole payload so far.
fn client_hello(hs: &[u8]) -> Step {
    let mut hello = Hello::default();
    let r = walk(hs, &mut hello);
    match r {
        Ok(()) => Step::Done(hello),
        Err(Need::Again) => Step::Again(hello),
        Err(Need::Declined) => Step::Declined,
    }
}

fn u16_of(f: &[u8]) -> usize {
    usize::from(f[0]) << 8 | usize::from(f[1])
}

fn walk(hs: &[u8], hello: &mut Hello) -> Result<(), Need> {
    let Some(head) = hs.get(..4) else {
        return Err(Need::Again);
    };
    if head[0] != 1 {
        return Err(Need::Declined);
    }
    let left = usize::from(head[1]) << 16 | usize::from(head[2]) << 8 | usize::from(head[3]);
    let mut m = Msg { b: &hs[4..], left };
    let v = m.field(2)?;
    hello.version = [v[0], v[1]];
    m.field(32)?;
    let n = usize::from(m.field(1)?[0]);
    m.field(n)?;
    let n = u16_of(m.field(2)?);
    m.field(n)?;
    let n = usize::from(m.field(1)?[0]);
    m.field(n)?;
    if m.left == 0 {
        return Ok(());
    }
    // The extensions' total length, not checked (as nginx).
    m.field(2)?;
    let (mut sni_seen, mut alpn_seen) = (false, false);
    while m.left > 0 {
        let eh = m.field(4)?;
        let kind = u16_of(eh);
        if kind == 0 && !sni_seen {
            sni_seen = true;
            let mut ext = u16_of(m.field(2)?);
            let h = m.field(3)?;
            if h[0] != 0 {
                return Err(Need::Declined);
            }
            let size = u16_of(&h[1..]);
            if ext < 3 + size {
                return Err(Need::Declined);
            }
            ext -= 3 + size;
            hello.host = m.field(size)?.to_vec();
            m.field(ext)?;
        } else if kind == 16 && !alpn_seen {
            alpn_seen = true;
            let mut ext = u16_of(m.field(2)?);
            loop {
                let size = usize::from(m.field(1)?[0]);
                if size == 0 || ext < 1 + size {
                    return Err(Need::Declined);
                }
                ext -= 1 + size;
                hello.alpn.extend_from_slice(m.field(size)?);
                if ext == 0 {
                    break;
                }
                hello.alpn.push(b',');
            }
        } else if kind == 43 {
            let n = usize::from(m.field(1)?[0]);
            hello.version = [3, 4];
            m.field(n)?;
        } else {
            m.field(u16_of(&eh[2..]))?;
        }
    }
    Ok(())
}

/// `$ssl_preread_protocol` (nginx: SSL_get_version()'s names).
pub(crate) fn protocol(h: &Hello) -> &'static str {
    match h.version {
        [0, 2] => "SSLv2",
        [3, 0] => "SSLv3",
        [3, 1] => "TLSv1",
        [3, 2] => "TLSv1.1",
        [3, 3] => "TLSv1.2",
        [3, 4] => "TLSv1.3",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello record with `exts` (type, data) after the fixed fields.
    fn hello(exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one suite
        body.extend_from_slice(&[1, 0]); // null compression
        let mut e = Vec::new();
        for (t, d) in exts {
            e.extend_from_slice(&t.to_be_bytes());
            e.extend_from_slice(&(d.len() as u16).to_be_bytes());
            e.extend_from_slice(d);
        }
        body.extend_from_slice(&(e.len() as u16).to_be_bytes());
        body.extend_from_slice(&e);
        let mut hs = vec![1, 0];
        hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    fn sni(name: &str) -> (u16, Vec<u8>) {
        let mut d = ((name.len() + 3) as u16).to_be_bytes().to_vec();
        d.push(0);
        d.extend_from_slice(&(name.len() as u16).to_be_bytes());
        d.extend_from_slice(name.as_bytes());
        (0, d)
    }

    fn alpn(protos: &[&str]) -> (u16, Vec<u8>) {
        let mut l = Vec::new();
        for p in protos {
            l.push(p.len() as u8);
            l.extend_from_slice(p.as_bytes());
        }
        let mut d = (l.len() as u16).to_be_bytes().to_vec();
        d.extend_from_slice(&l);
        (16, d)
    }

    #[test]
    fn names_alpn_and_version() {
        let rec = hello(&[
            sni("a.example"),
            alpn(&["h2", "http/1.1"]),
            (43, vec![2, 3, 4]),
        ]);
        let Preread::Done(h) = parse(&rec) else {
            panic!("{:?}", parse(&rec));
        };
        assert_eq!(h.host, b"a.example");
        assert_eq!(h.alpn, b"h2,http/1.1");
        assert_eq!(protocol(&h), "TLSv1.3");
        // Without supported_versions: the client_version.
        let Preread::Done(h) = parse(&hello(&[sni("b")])) else {
            panic!()
        };
        assert_eq!((protocol(&h), h.alpn.as_slice()), ("TLSv1.2", &b""[..]));
    }

    #[test]
    fn partial_records_wait_and_garbage_declines() {
        let rec = hello(&[sni("a.example")]);
        for cut in [0, 3, 5, 20, rec.len() - 1] {
            assert!(matches!(parse(&rec[..cut]), Preread::Again(_)), "{cut}");
        }
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Preread::Declined);
        // An empty ALPN protocol, an SNI name type other than DNS.
        assert_eq!(parse(&hello(&[alpn(&[""])])), Preread::Declined);
        let (t, mut d) = sni("x");
        d[2] = 1;
        assert_eq!(parse(&hello(&[(t, d)])), Preread::Declined);
    }
}
