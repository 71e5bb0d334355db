//! Files: reading one as nginx does, `include` names and glob patterns, errno texts.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// nginx: `NGX_MAX_CONF_ERRSTR`, the room for a configuration error message.
const MAX_CONF_ERRSTR: usize = 1024;

/// A message with nginx's ` (errno: text)` suffix, cut as nginx cuts it.
///
/// nginx: ngx_conf_log_error + ngx_log_errno
pub(crate) fn with_errno(mut msg: Vec<u8>, err: &std::io::Error) -> Vec<u8> {
    msg.truncate(MAX_CONF_ERRSTR);
    if msg.len() > MAX_CONF_ERRSTR - 50 {
        // Leaves room for the error code.
        msg.truncate(MAX_CONF_ERRSTR - 50);
        msg.extend_from_slice(b"...");
    }
    let code = err.raw_os_error().unwrap_or(0);
    msg.extend_from_slice(format!(" ({code}: {})", strerror(err)).as_bytes());
    msg.truncate(MAX_CONF_ERRSTR);
    msg
}

/// The C library's text for an error (std appends ` (os error N)`, which nginx doesn't).
fn strerror(err: &std::io::Error) -> String {
    let text = match err.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code).to_string(),
        None => err.to_string(),
    };
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// `FUNC() "path" failed (errno: text)`.
pub(crate) fn failed(func: &str, path: &[u8], err: &std::io::Error) -> Vec<u8> {
    let mut m = format!("{func} \"").into_bytes();
    m.extend_from_slice(path);
    m.extend_from_slice(b"\" failed");
    with_errno(m, err)
}

/// Why a file could not be read, and whether nginx says where (`open()` is reported at the
/// `include`; a failed read is logged without a location).
pub(crate) enum ReadError {
    Open(Vec<u8>),
    Read(Vec<u8>),
}

/// Reads a configuration file the way nginx sees it: `fstat()`'s size bytes (a directory opens
/// but fails to read unless its size is 0).
///
/// nginx: the file part of ngx_conf_parse
pub(crate) fn read_conf_file(path: &Path) -> Result<Vec<u8>, ReadError> {
    let name = path.as_os_str().as_bytes();
    let mut f =
        std::fs::File::open(path).map_err(|e| ReadError::Open(failed("open()", name, &e)))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut bytes = Vec::new();
    if size > 0 {
        (&mut f)
            .take(size)
            .read_to_end(&mut bytes)
            .map_err(|e| ReadError::Read(failed("pread()", name, &e)))?;
    }
    Ok(bytes)
}

/// The file name of an `include`: cut at a NUL byte (nginx uses C strings) and made absolute
/// against the conf prefix.
///
/// nginx: ngx_conf_full_name
pub(crate) fn full_name(prefix: &Path, name: &[u8]) -> PathBuf {
    let name = match name.iter().position(|&c| c == 0) {
        Some(nul) => &name[..nul],
        None => name,
    };
    if name.first() == Some(&b'/') {
        return PathBuf::from(OsStr::from_bytes(name));
    }
    let mut full = prefix.as_os_str().as_bytes().to_vec();
    if !full.is_empty() && full.last() != Some(&b'/') {
        full.push(b'/');
    }
    full.extend_from_slice(name);
    PathBuf::from(OsStr::from_bytes(&full))
}

/// Whether nginx treats the name as a glob pattern (nginx: `strpbrk(file, "*?[")`).
pub(crate) fn is_glob(path: &Path) -> bool {
    path.as_os_str()
        .as_bytes()
        .iter()
        .any(|c| matches!(c, b'*' | b'?' | b'['))
}

/// The files a pattern matches, sorted bytewise as glibc's `glob()` does in the C locale; no
/// match is no file (nginx passes `GLOB_NOMATCH` as success).
///
/// nginx: ngx_open_glob + ngx_read_glob
pub(crate) fn glob_files(pattern: &Path) -> Vec<PathBuf> {
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let Some(pat) = pattern.to_str() else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = match glob::glob_with(pat, opts) {
        Ok(paths) => paths.filter_map(Result::ok).collect(),
        // glibc takes an unbalanced `[` literally.
        Err(_) if pattern.exists() => vec![pattern.to_path_buf()],
        Err(_) => Vec::new(),
    };
    found.sort_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_names() {
        let table: &[(&str, &[u8], &str)] = &[
            ("/etc/nginx", b"a.conf", "/etc/nginx/a.conf"),
            ("/etc/nginx/", b"a.conf", "/etc/nginx/a.conf"),
            ("/etc/nginx", b"/abs/b.conf", "/abs/b.conf"),
            ("/etc/nginx", b"", "/etc/nginx/"),
            ("/etc/nginx", b"a\0b", "/etc/nginx/a"),
        ];
        for (prefix, name, want) in table {
            assert_eq!(full_name(Path::new(prefix), name), Path::new(want));
        }
    }

    #[test]
    fn errno_texts() {
        let e = |code| std::io::Error::from_raw_os_error(code);
        assert_eq!(
            failed("open()", b"/x", &e(2)),
            b"open() \"/x\" failed (2: No such file or directory)"
        );
        assert_eq!(
            failed("open()", b"/x", &e(13)),
            b"open() \"/x\" failed (13: Permission denied)"
        );
        // nginx cuts long messages to leave room for the error code.
        let long = failed("open()", &[b'a'; 2000], &e(2));
        assert!(long.len() <= MAX_CONF_ERRSTR);
        assert!(long.ends_with(b"aaa... (2: No such file or directory)"));
    }
}
