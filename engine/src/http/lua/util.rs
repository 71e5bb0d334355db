//! Encodings, hashes and times of the `ngx.*` API (nginx: ngx_escape_uri, ngx_unescape_uri,
//! ngx_encode_base64, ngx_crc32_*, ngx_http_time, ngx_http_cookie_time, ngx_parse_http_time;
//! lua-nginx-module: ngx_http_lua_escape_uri, ngx_http_lua_escape_sql_str).

/// nginx: ngx_escape_uri's `uri_component` table (NGX_ESCAPE_URI_COMPONENT): everything but
/// letters, digits and `-._~` is escaped.
pub(crate) fn escape_uri(s: &[u8]) -> Vec<u8> {
    escape_uri_type(s, 2)
}

/// nginx: ngx_http_lua_escape_uri's tables by `type`: 0 uri, 1 args, 2 uri component,
/// 3 html, 4 refresh, 5 and 6 memcached.
const ESCAPE: [[u32; 8]; 6] = [
    [0xffff_ffff, 0x8000_0029, 0, 0x8000_0000, !0, !0, !0, !0],
    [0xffff_ffff, 0x8000_0829, 0, 0x8000_0000, !0, !0, !0, !0],
    [
        0xffff_ffff,
        0xfc00_987d,
        0x7800_0001,
        0xb800_0001,
        !0,
        !0,
        !0,
        !0,
    ],
    [0xffff_ffff, 0x0000_00ad, 0, 0x8000_0000, !0, !0, !0, !0],
    [0xffff_ffff, 0x0000_0085, 0, 0x8000_0000, !0, !0, !0, !0],
    [0xffff_ffff, 0x0000_0021, 0, 0, 0, 0, 0, 0],
];

/// `ngx.escape_uri(s, type)` (type 0..=6, checked by the caller).
pub(crate) fn escape_uri_type(s: &[u8], kind: usize) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let table = &ESCAPE[kind.min(6).min(5)];
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if table[usize::from(c >> 5)] & (1 << (c & 0x1f)) != 0 {
            out.push(b'%');
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 15)]);
        } else {
            out.push(c);
        }
    }
    out
}

fn hexval(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// lua-nginx-module: ngx_http_lua_unescape_uri (type 0 with `+` as a space): `%XX` decoded,
/// a bad escape kept as is.
pub(crate) fn unescape_uri(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'%' {
            if let (Some(h), Some(l)) = (
                s.get(i + 1).copied().and_then(hexval),
                s.get(i + 2).copied().and_then(hexval),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(if c == b'+' { b' ' } else { c });
        i += 1;
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// nginx: ngx_encode_base64 (padded unless `no_padding`).
pub(crate) fn encode_base64(s: &[u8], no_padding: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len().div_ceil(3) * 4);
    for chunk in s.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        let idx = |sh: u32| B64[((n >> sh) & 63) as usize];
        out.push(idx(18));
        out.push(idx(12));
        if chunk.len() > 1 {
            out.push(idx(6));
        } else if !no_padding {
            out.push(b'=');
        }
        if chunk.len() > 2 {
            out.push(idx(0));
        } else if !no_padding {
            out.push(b'=');
        }
    }
    out
}

/// nginx: ngx_decode_base64: `None` on a bad character or length.
pub(crate) fn decode_base64(s: &[u8]) -> Option<Vec<u8>> {
    let val = |c: u8| B64.iter().position(|&b| b == c).map(|p| p as u32);
    let mut len = 0;
    while len < s.len() && s[len] != b'=' {
        val(s[len])?;
        len += 1;
    }
    if len % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(len * 3 / 4);
    let data = &s[..len];
    for chunk in data.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i as u32);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    Some(out)
}

/// nginx: ngx_crc32_long (CRC-32, IEEE).
pub(crate) fn crc32(s: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in s {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    crc ^ 0xffff_ffff
}

/// HMAC-SHA1 (nginx: ngx_hmac_sha1 through OpenSSL's HMAC).
pub(crate) fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
    use sha1::{Digest, Sha1};
    let mut k = if key.len() > 64 {
        Sha1::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(64, 0);
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let mut h = Sha1::new();
    h.update(&ipad);
    h.update(data);
    let inner = h.finalize();
    let mut h = Sha1::new();
    h.update(&opad);
    h.update(inner);
    h.finalize().to_vec()
}

/// lua-nginx-module: ngx_http_lua_escape_sql_str, quoted.
pub(crate) fn quote_sql_str(s: &[u8]) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &c in s {
        match c {
            0 => out.extend_from_slice(b"\\0"),
            8 => out.extend_from_slice(b"\\b"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            26 => out.extend_from_slice(b"\\Z"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\'' => out.extend_from_slice(b"\\'"),
            b'"' => out.extend_from_slice(b"\\\""),
            _ => out.push(c),
        }
    }
    out.push(b'\'');
    out
}

pub(crate) fn hex(s: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(s.len() * 2);
    for &c in s {
        out.push(HEX[usize::from(c >> 4)]);
        out.push(HEX[usize::from(c & 15)]);
    }
    out
}

const WEEK: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// nginx: ngx_http_time: `Thu, 01 Jan 1970 00:00:00 GMT`.
pub(crate) fn http_time(t: i64) -> String {
    let (y, mon, d, h, mi, s) = crate::http::static_file::gmtime(t);
    let wday = WEEK[t.div_euclid(86400).rem_euclid(7) as usize];
    format!(
        "{wday}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT",
        MONTHS.get(mon.saturating_sub(1)).copied().unwrap_or("Jan")
    )
}

/// nginx: ngx_http_cookie_time: `Thu, 01-Jan-70 00:00:00 GMT` (4-digit years from 2070).
pub(crate) fn cookie_time(t: i64) -> String {
    let (y, mon, d, h, mi, s) = crate::http::static_file::gmtime(t);
    let wday = WEEK[t.div_euclid(86400).rem_euclid(7) as usize];
    let year = if y < 2070 {
        format!("{:02}", y % 100)
    } else {
        format!("{y}")
    };
    format!(
        "{wday}, {d:02}-{}-{year} {h:02}:{mi:02}:{s:02} GMT",
        MONTHS.get(mon.saturating_sub(1)).copied().unwrap_or("Jan")
    )
}

/// Local time parts: (year, month 1-12, day, hour, min, sec).
pub(crate) fn localtime(t: i64) -> (i64, i64, i64, i64, i64, i64) {
    // SAFETY: localtime_r writes into the zeroed struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let tt = t as libc::time_t;
    unsafe {
        libc::localtime_r(&tt, &mut tm);
    }
    (
        i64::from(tm.tm_year) + 1900,
        i64::from(tm.tm_mon) + 1,
        i64::from(tm.tm_mday),
        i64::from(tm.tm_hour),
        i64::from(tm.tm_min),
        i64::from(tm.tm_sec),
    )
}

/// nginx: ngx_parse_http_time (RFC 1123, RFC 850 and asctime forms).
pub(crate) fn parse_http_time(s: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(s).ok()?;
    httpdate::parse_http_date(s)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
}

/// Arguments `a=1&b&c=` to (key, value) pairs; `None` value for a bare key (nginx:
/// ngx_http_lua_parse_args). Keys and values are unescaped; empty keys are skipped.
pub(crate) fn parse_args(s: &[u8]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    for part in s.split(|&c| c == b'&') {
        match part.iter().position(|&c| c == b'=') {
            Some(0) => {}
            Some(i) => out.push((unescape_uri(&part[..i]), Some(unescape_uri(&part[i + 1..])))),
            None if part.is_empty() => {}
            None => out.push((unescape_uri(part), None)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(escape_uri(b"a b/c~"), b"a%20b%2Fc~");
        assert_eq!(unescape_uri(b"a%20b+c%zz"), b"a b c%zz");
        assert_eq!(encode_base64(b"hello", false), b"aGVsbG8=");
        assert_eq!(decode_base64(b"aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64(b"a"), None);
        assert_eq!(crc32(b"hello"), 907_060_870);
        assert_eq!(http_time(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(cookie_time(1_290_079_655), "Thu, 18-Nov-10 11:27:35 GMT");
        assert_eq!(
            parse_http_time(b"Thu, 18 Nov 2010 11:27:35 GMT"),
            Some(1_290_079_655)
        );
        assert_eq!(quote_sql_str(b"a'\n"), b"'a\\'\\n'");
    }
}
