//! ngx_http_random_index_module: `random_index`, a random file of the directory for a URI
//! ending with a slash.

use std::os::unix::ffi::OsStrExt;

use hyper::Method;
use parser::Directive;

use crate::conf::{cmd, Args, Ctx, Module, Set, Slot};
use crate::http::lower::LocConf;
use crate::http::request::Request;
use crate::http::response::Reply;
use crate::log::{errno_text, Level};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_random_index_module",
    commands: &[cmd(
        "random_index",
        Ctx::HTTP_LOC,
        Args::FLAG,
        Set::Slot(Slot::Flag),
    )],
};

/// Folds `random_index on|off` into a level.
pub(crate) fn lower(c: &mut LocConf, d: &Directive) {
    c.random_index = d.args.first().map(|a| a.eq_ignore_ascii_case(b"on"));
}

/// nginx: ngx_http_random_index_handler: an internal redirect to one of the directory's
/// regular files (not hidden; links followed), or `None` (declined).
pub(crate) async fn handler(r: &mut Request) -> Option<Reply> {
    if !r.uri.ends_with(b"/")
        || !matches!(r.method, Method::GET | Method::HEAD | Method::POST)
        || r.loc.random_index != Some(true)
    {
        return None;
    }
    let mut dir = crate::http::static_file::map_uri_to_path(r, &r.uri.clone());
    if dir.len() > 1 {
        dir.pop();
    }
    let path = crate::http::static_file::path_of(&dir);
    let entries = match std::fs::read_dir(path) {
        Ok(e) => e,
        Err(e) => {
            let (level, status) = match e.raw_os_error().unwrap_or(0) {
                libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG => (Level::Error, 404),
                libc::EACCES => (Level::Error, 403),
                _ => (Level::Crit, 500),
            };
            crate::http::errlog::log(
                r,
                level,
                &format!(
                    "opendir() \"{}\" failed ({})",
                    path.display(),
                    errno_text(&e)
                ),
            );
            return Some(Reply::status(status));
        }
    };
    let names: Vec<Vec<u8>> = entries
        .flatten()
        .filter(|e| !e.file_name().as_bytes().starts_with(b"."))
        .filter(|e| std::fs::metadata(e.path()).is_ok_and(|m| m.is_file()))
        .map(|e| e.file_name().as_bytes().to_vec())
        .collect();
    if names.is_empty() {
        return None;
    }
    let pick = (crate::http::upstream_rr::rand() % names.len() as u64) as usize;
    let mut uri = r.uri.clone();
    uri.extend_from_slice(&names[pick]);
    let args = r.args.clone();
    Some(Box::pin(r.internal_redirect(uri, Some(args))).await)
}
