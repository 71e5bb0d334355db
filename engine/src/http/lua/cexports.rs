//! What Lua's FFI finds through `ffi.C` in the nginx binary, offered by oxresty too.
//!
//! `ffi.C` looks names up in the process's global symbol scope. nginx links OpenSSL's
//! libcrypto and libssl and zlib, and is linked with its own functions exported (dynamic
//! modules need them), so unmodified libraries call them directly: lua-resty-string
//! (Debian's lua-nginx-string) uses `C.SHA1_Init`, `C.EVP_md5`, `C.RAND_bytes`... and
//! nginx's `C.ngx_hex_dump` / `C.ngx_atoi`. oxresty does not link those libraries (rustls,
//! miniz), so [`load_libraries`] opens them into the global scope when the Lua VM starts,
//! and the nginx functions such libraries call are defined here (the binary is linked with
//! `--export-dynamic`, see the top-level build.rs).

use std::sync::Once;

/// The shared libraries the nginx binary is linked with that Lua libraries reach by FFI,
/// each with the names to try (Debian's soname first).
const LIBRARIES: &[&[&std::ffi::CStr]] = &[
    &[c"libcrypto.so.3", c"libcrypto.so"],
    &[c"libssl.so.3", c"libssl.so"],
    &[c"libz.so.1", c"libz.so"],
];

/// Opens [`LIBRARIES`] into the global symbol scope (once per process); a library that is
/// not installed is skipped (its functions then stay unresolved, as on a system without it).
pub(crate) fn load_libraries() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Keep the exported functions below in the link: nothing else refers to them.
        std::hint::black_box((ngx_hex_dump as *const (), ngx_atoi as *const ()));
        for names in LIBRARIES {
            for name in *names {
                // SAFETY: dlopen with a valid NUL-terminated name; the handle is kept for
                // the life of the process (never closed), as a linked library would be.
                let h = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
                if !h.is_null() {
                    break;
                }
            }
        }
    });
}

/// nginx: ngx_hex_dump: `len` bytes of `src` as lower-case hex at `dst`; returns the end.
///
/// # Safety
/// `src` must be readable for `len` bytes and `dst` writable for `2 * len` bytes (the
/// caller's FFI contract, as with nginx's function).
#[no_mangle]
pub unsafe extern "C" fn ngx_hex_dump(dst: *mut u8, src: *const u8, len: usize) -> *mut u8 {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if len == 0 || dst.is_null() || src.is_null() {
        return dst;
    }
    // SAFETY: the caller's contract above.
    let (src, out) = unsafe {
        (
            std::slice::from_raw_parts(src, len),
            std::slice::from_raw_parts_mut(dst, 2 * len),
        )
    };
    for (b, o) in src.iter().zip(out.chunks_exact_mut(2)) {
        o[0] = HEX[usize::from(b >> 4)];
        o[1] = HEX[usize::from(b & 0xf)];
    }
    // SAFETY: one past the written bytes, inside or at the end of the caller's buffer.
    unsafe { dst.add(2 * len) }
}

/// nginx: ngx_atoi: the decimal number in `n` bytes at `line`, or -1 (NGX_ERROR) for an
/// empty string, a non-digit or an overflow.
///
/// # Safety
/// `line` must be readable for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn ngx_atoi(line: *const u8, n: usize) -> isize {
    if n == 0 || line.is_null() {
        return -1;
    }
    // SAFETY: the caller's contract above.
    let s = unsafe { std::slice::from_raw_parts(line, n) };
    atoi(s)
}

/// The body of [`ngx_atoi`] on a slice.
fn atoi(s: &[u8]) -> isize {
    if s.is_empty() {
        return -1;
    }
    let mut value: isize = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return -1;
        }
        match value
            .checked_mul(10)
            .and_then(|v| v.checked_add(isize::from(c - b'0')))
        {
            Some(v) => value = v,
            None => return -1,
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_dump_and_atoi() {
        let src = [0u8, 1, 0xab, 0xff];
        let mut dst = [0u8; 8];
        // SAFETY: buffers of the sizes the function needs.
        let end = unsafe { ngx_hex_dump(dst.as_mut_ptr(), src.as_ptr(), src.len()) };
        assert_eq!(&dst, b"0001abff");
        assert_eq!(end as usize - dst.as_ptr() as usize, 8);
        assert_eq!(atoi(b"12345"), 12345);
        assert_eq!(atoi(b""), -1);
        assert_eq!(atoi(b"12a"), -1);
        assert_eq!(atoi(b"-1"), -1);
        assert_eq!(atoi(b"9223372036854775807"), isize::MAX);
        assert_eq!(atoi(b"9223372036854775808"), -1);
    }
}
