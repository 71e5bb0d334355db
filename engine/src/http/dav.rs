//! ngx_http_dav_module: PUT, DELETE, MKCOL, COPY and MOVE on the files a location maps to,
//! with nginx's statuses, error-log lines and file rights.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};

use hyper::header::{HeaderName, HeaderValue};
use parser::Directive;

use crate::conf::{cmd, Args, Ctx, Module, Set, Slot};
use crate::http::errlog;
use crate::http::lower::LocConf;
use crate::http::request::Request;
use crate::http::response::Reply;
use crate::http::static_file::{self, lossy, path_of};
use crate::log::{errno_text, Level};

pub(crate) static MODULE: Module = Module {
    name: "ngx_http_dav_module",
    commands: &[
        cmd(
            "dav_methods",
            Ctx::HTTP_MSL,
            Args::ONEMORE,
            Set::Slot(Slot::Bitmask(&[
                "off", "put", "delete", "mkcol", "copy", "move",
            ])),
        ),
        cmd(
            "create_full_put_path",
            Ctx::HTTP_MSL,
            Args::FLAG,
            Set::Slot(Slot::Flag),
        ),
        cmd(
            "min_delete_depth",
            Ctx::HTTP_MSL,
            Args::TAKE1,
            Set::Slot(Slot::Num),
        ),
        cmd(
            "dav_access",
            Ctx::HTTP_MSL,
            Args::TAKE123,
            Set::Slot(Slot::Access),
        ),
    ],
};

// --- configuration -------------------------------------------------------------------------

const PUT: u8 = 1;
const DELETE: u8 = 2;
const MKCOL: u8 = 4;
const COPY: u8 = 8;
const MOVE: u8 = 16;

/// Some level allows a dav method: request bodies are kept for PUT.
static USED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn used() -> bool {
    USED.load(std::sync::atomic::Ordering::Relaxed)
}

/// nginx's default `dav_access` (ngx_http_dav_merge_loc_conf).
const DEFAULT_ACCESS: u32 = 0o600;

/// Folds the module's directives into a level (the parse pass validated them).
pub(crate) fn lower(c: &mut LocConf, d: &Directive) {
    match d.name.as_slice() {
        b"dav_methods" => {
            let mut m = 0;
            for a in &d.args {
                m |= match a.to_ascii_lowercase().as_slice() {
                    b"put" => PUT,
                    b"delete" => DELETE,
                    b"mkcol" => MKCOL,
                    b"copy" => COPY,
                    b"move" => MOVE,
                    _ => 0,
                };
            }
            if m != 0 {
                USED.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            c.dav_methods = Some(m);
        }
        b"dav_access" => c.dav_access = Some(access(&d.args)),
        b"create_full_put_path" => {
            c.create_full_put_path = d.args.first().map(|a| a.eq_ignore_ascii_case(b"on"))
        }
        b"min_delete_depth" => {
            c.min_delete_depth = d
                .args
                .first()
                .and_then(|a| std::str::from_utf8(a).ok()?.parse().ok())
        }
        _ => {}
    }
}

/// nginx: ngx_conf_set_access_slot: `user:rw group:r all:r` as a mode; the user may read and
/// write unless `user:` says otherwise.
fn access(args: &[Vec<u8>]) -> u32 {
    let mut mode = 0;
    let mut user = 0o600;
    for a in args {
        let (shift, right) = if let Some(r) = a.strip_prefix(b"user:") {
            user = 0;
            (6, r)
        } else if let Some(r) = a.strip_prefix(b"group:") {
            (3, r)
        } else if let Some(r) = a.strip_prefix(b"all:") {
            (0, r)
        } else {
            continue;
        };
        mode |= if right == b"rw" { 6 } else { 4 } << shift;
    }
    mode | user
}

/// nginx: ngx_dir_access: directories get search rights wherever files may be read.
fn dir_access(a: u32) -> u32 {
    a | (a & 0o444) >> 2
}

// --- handlers ------------------------------------------------------------------------------

/// nginx: ngx_http_dav_handler (a content phase handler): `None` when the method is not one
/// the location's `dav_methods` allows.
pub(crate) async fn content(r: &mut Request) -> Option<Reply> {
    let methods = r.loc.dav_methods.unwrap_or(0);
    if methods == 0 {
        return None;
    }
    let m = match r.method.as_str() {
        "PUT" => PUT,
        "DELETE" => DELETE,
        "MKCOL" => MKCOL,
        "COPY" => COPY,
        "MOVE" => MOVE,
        _ => return None,
    };
    if methods & m == 0 {
        return None;
    }
    Some(match m {
        PUT => put(r).await,
        DELETE => delete(r),
        MKCOL => mkcol(r),
        _ => copy_move(r, m == MOVE),
    })
}

fn err(r: &Request, msg: &str) {
    errlog::log(r, Level::Error, msg);
}

/// The request has a body (nginx: `content_length_n > 0 || chunked`).
fn has_body(r: &Request) -> bool {
    let len = r
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .unwrap_or(0);
    len > 0 || r.headers.contains_key(hyper::header::TRANSFER_ENCODING)
}

/// nginx: ngx_http_dav_error: the status and log line for a failed file operation.
fn dav_error(r: &Request, e: &std::io::Error, not_found: u16, failed: &str, path: &[u8]) -> u16 {
    let (level, status) = match e.raw_os_error().unwrap_or(0) {
        libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG => (Level::Error, not_found),
        libc::EACCES | libc::EPERM => (Level::Error, 403),
        libc::EEXIST => (Level::Error, 405),
        libc::ENOSPC => (Level::Crit, 507),
        _ => (Level::Crit, 500),
    };
    errlog::log(
        r,
        level,
        &format!("{failed} \"{}\" failed ({})", lossy(path), errno_text(e)),
    );
    status
}

/// `201 Created` with no body; `Location` names the new resource (nginx: ngx_http_dav_location).
fn created(r: &Request, location: bool) -> Reply {
    let mut reply = Reply::status(201);
    reply.length = Some(0);
    reply.body = Some(crate::http::response::empty());
    if location {
        let uri = crate::http::proxy_run::escape_uri(&r.uri);
        if let Ok(v) = HeaderValue::from_bytes(&uri) {
            reply.headers.insert(hyper::header::LOCATION, v);
        }
    }
    reply
}

fn no_content() -> Reply {
    let mut reply = Reply::status(204);
    reply.body = Some(crate::http::response::empty());
    reply
}

/// nginx: ngx_http_dav_depth (`None`: an invalid header, already logged).
fn depth(r: &Request, dflt: Depth) -> Option<Depth> {
    let Some(v) = r.headers.get(HeaderName::from_static("depth")) else {
        return Some(dflt);
    };
    match v.as_bytes() {
        b"0" => Some(Depth::Zero),
        b"1" => Some(Depth::One),
        b"infinity" => Some(Depth::Infinity),
        other => {
            err(
                r,
                &format!("client sent invalid \"Depth\" header: \"{}\"", lossy(other)),
            );
            None
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Depth {
    Zero,
    One,
    Infinity,
}

/// The file the URI maps to, without a trailing slash.
fn file_path(r: &Request, uri: &[u8]) -> Vec<u8> {
    let mut p = static_file::map_uri_to_path(r, uri);
    if p.len() > 1 && p.ends_with(b"/") {
        p.pop();
    }
    p
}

/// nginx: ngx_http_dav_put_handler after the body was read into a temporary file.
async fn put(r: &mut Request) -> Reply {
    if r.uri.ends_with(b"/") {
        err(r, "cannot PUT to a collection");
        return Reply::status(409);
    }
    if r.headers.contains_key(hyper::header::CONTENT_RANGE) {
        err(r, "PUT with range is unsupported");
        return Reply::status(501);
    }
    let body = match crate::http::proxy_run::request_body_checked(r).await {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let path = file_path(r, &r.uri.clone());
    let exists = match std::fs::metadata(path_of(&path)) {
        Err(_) => false,
        Ok(m) if m.is_dir() => {
            err(
                r,
                &format!(
                    "\"{}\" could not be created (21: Is a directory)",
                    lossy(&path)
                ),
            );
            return Reply::status(409);
        }
        Ok(_) => true,
    };
    let Some(temp) = temp_file(r, &body) else {
        return Reply::status(500);
    };
    let access = r.loc.dav_access.unwrap_or(DEFAULT_ACCESS);
    let date = r
        .headers
        .get(hyper::header::DATE)
        .and_then(|v| crate::http::response::parse_http_time(v.as_bytes()));
    let ok = rename(
        r,
        &temp,
        &path,
        Some(access),
        access,
        date,
        r.loc.create_full_put_path == Some(true),
    );
    if !ok {
        let _ = std::fs::remove_file(path_of(&temp));
        return Reply::status(500);
    }
    if exists {
        no_content()
    } else {
        created(r, true)
    }
}

/// The body in a new file under `client_body_temp` (nginx: the request body's temp file).
fn temp_file(r: &Request, body: &[u8]) -> Option<Vec<u8>> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let dir = r.http.prefix.join("client_body_temp");
    let _ = std::fs::create_dir_all(&dir);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("dav{:010}.{}", n, std::process::id()));
    match std::fs::write(&path, body) {
        Ok(()) => Some(path.as_os_str().as_bytes().to_vec()),
        Err(e) => {
            errlog::log(
                r,
                Level::Crit,
                &format!("open() \"{}\" failed ({})", path.display(), errno_text(&e)),
            );
            None
        }
    }
}

/// nginx: ngx_ext_rename_file: the file's rights and time, then the rename (creating the
/// missing directories when asked; copying across file systems).
fn rename(
    r: &Request,
    from: &[u8],
    to: &[u8],
    access: Option<u32>,
    path_access: u32,
    time: Option<i64>,
    create_path: bool,
) -> bool {
    let crit = |msg: String| errlog::log(r, Level::Crit, &msg);
    if let Some(a) = access {
        if let Err(e) = std::fs::set_permissions(path_of(from), std::fs::Permissions::from_mode(a))
        {
            crit(format!(
                "chmod() \"{}\" failed ({})",
                lossy(from),
                errno_text(&e)
            ));
            return false;
        }
    }
    if let Some(t) = time {
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
        let set = std::fs::File::options()
            .write(true)
            .open(path_of(from))
            .and_then(|f| f.set_modified(when));
        if let Err(e) = set {
            crit(format!(
                "utimes() \"{}\" failed ({})",
                lossy(from),
                errno_text(&e)
            ));
            return false;
        }
    }
    let mut res = std::fs::rename(path_of(from), path_of(to));
    if create_path && res.as_ref().err().and_then(|e| e.raw_os_error()) == Some(libc::ENOENT) {
        if let Err(e) = create_full_path(to, dir_access(path_access)) {
            crit(format!(
                "mkdir() \"{}\" failed ({})",
                lossy(to),
                errno_text(&e)
            ));
            return false;
        }
        res = std::fs::rename(path_of(from), path_of(to));
    }
    let e = match res {
        Ok(()) => return true,
        Err(e) => e,
    };
    if e.raw_os_error() == Some(libc::EXDEV) && std::fs::copy(path_of(from), path_of(to)).is_ok() {
        let _ = std::fs::remove_file(path_of(from));
        return true;
    }
    crit(format!(
        "rename() \"{}\" to \"{}\" failed ({})",
        lossy(from),
        lossy(to),
        errno_text(&e)
    ));
    false
}

/// nginx: ngx_create_full_path: every missing directory above `file`.
fn create_full_path(file: &[u8], mode: u32) -> std::io::Result<()> {
    let mut i = 1;
    while let Some(p) = file[i..].iter().position(|&c| c == b'/') {
        let dir = &file[..i + p];
        if let Err(e) = std::fs::DirBuilder::new().mode(mode).create(path_of(dir)) {
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(e);
            }
        }
        i += p + 1;
    }
    Ok(())
}

/// nginx: ngx_http_dav_delete_handler.
fn delete(r: &mut Request) -> Reply {
    if has_body(r) {
        err(r, "DELETE with body is unsupported");
        return Reply::status(415);
    }
    let min = r.loc.min_delete_depth.unwrap_or(0);
    if min > 0 {
        let uri = &r.uri;
        let mut d = 0;
        let mut deep = false;
        for (i, &c) in uri.iter().enumerate() {
            if c == b'/' {
                d += 1;
                if d >= min && i + 1 < uri.len() {
                    deep = true;
                    break;
                }
            }
        }
        if !deep {
            err(r, &format!("insufficient URI depth:{d} to DELETE"));
            return Reply::status(409);
        }
    }
    let path = file_path(r, &r.uri.clone());
    let meta = match std::fs::symlink_metadata(path_of(&path)) {
        Ok(m) => m,
        Err(e) => {
            let nf = if e.raw_os_error() == Some(libc::ENOTDIR) {
                409
            } else {
                404
            };
            return Reply::status(dav_error(r, &e, nf, "lstat()", &path));
        }
    };
    if meta.is_dir() {
        if !r.uri.ends_with(b"/") {
            err(
                r,
                &format!("DELETE \"{}\" failed (21: Is a directory)", lossy(&path)),
            );
            return Reply::status(409);
        }
        if depth(r, Depth::Infinity) != Some(Depth::Infinity) {
            err(r, "\"Depth\" header must be infinity");
            return Reply::status(400);
        }
    } else if !matches!(depth(r, Depth::Zero), Some(Depth::Zero | Depth::Infinity)) {
        err(r, "\"Depth\" header must be 0 or infinity");
        return Reply::status(400);
    }
    match delete_path(r, &path, meta.is_dir()) {
        Ok(()) => no_content(),
        Err(status) => Reply::status(status),
    }
}

/// nginx: ngx_http_dav_delete_path: a file, or a tree (files first, then directories).
fn delete_path(r: &Request, path: &[u8], dir: bool) -> Result<(), u16> {
    if !dir {
        return std::fs::remove_file(path_of(path))
            .map_err(|e| dav_error(r, &e, 404, "unlink()", path));
    }
    let entries =
        std::fs::read_dir(path_of(path)).map_err(|e| dav_error(r, &e, 404, "opendir()", path))?;
    for entry in entries.flatten() {
        let mut p = path.to_vec();
        p.push(b'/');
        p.extend_from_slice(entry.file_name().as_bytes());
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        delete_path(r, &p, is_dir)?;
    }
    std::fs::remove_dir(path_of(path)).map_err(|e| dav_error(r, &e, 404, "rmdir()", path))
}

/// nginx: ngx_http_dav_mkcol_handler.
fn mkcol(r: &mut Request) -> Reply {
    if has_body(r) {
        err(r, "MKCOL with body is unsupported");
        return Reply::status(415);
    }
    if !r.uri.ends_with(b"/") {
        err(r, "MKCOL can create a collection only");
        return Reply::status(409);
    }
    let path = file_path(r, &r.uri.clone());
    let mode = dir_access(r.loc.dav_access.unwrap_or(DEFAULT_ACCESS));
    match std::fs::DirBuilder::new().mode(mode).create(path_of(&path)) {
        Ok(()) => created(r, true),
        Err(e) => Reply::status(dav_error(r, &e, 409, "mkdir()", &path)),
    }
}

/// nginx: ngx_http_dav_copy_move_handler.
fn copy_move(r: &mut Request, is_move: bool) -> Reply {
    if has_body(r) {
        err(r, "COPY and MOVE with body are unsupported");
        return Reply::status(415);
    }
    let Some(dest) = r
        .headers
        .get(HeaderName::from_static("destination"))
        .map(|v| v.as_bytes().to_vec())
    else {
        err(r, "client sent no \"Destination\" header");
        return Reply::status(400);
    };
    let invalid = |r: &Request| {
        err(
            r,
            &format!(
                "client sent invalid \"Destination\" header: \"{}\"",
                lossy(&dest)
            ),
        );
        Reply::status(400)
    };
    let duri: Vec<u8> = if dest.starts_with(b"/") {
        dest.clone()
    } else {
        let host = r.host();
        if host.is_empty() {
            err(r, "client sent no \"Host\" header");
            return Reply::status(400);
        }
        let scheme: &[u8] = if crate::http::ssl::is_tls(r) {
            b"https://"
        } else {
            b"http://"
        };
        let Some(rest) = dest.strip_prefix(scheme) else {
            return invalid(r);
        };
        if !rest.starts_with(&host) {
            err(
                r,
                &format!(
                    "\"Destination\" URI \"{}\" is handled by different repository than the source URI",
                    lossy(&dest)
                ),
            );
            return Reply::status(400);
        }
        match rest[host.len()..].iter().position(|&c| c == b'/') {
            Some(i) => rest[host.len() + i..].to_vec(),
            None => return invalid(r),
        }
    };
    // nginx: ngx_http_parse_unsafe_uri (the arguments are not part of the path)
    let duri = match duri.iter().position(|&c| c == b'?') {
        Some(i) => duri[..i].to_vec(),
        None => duri,
    };
    if duri.contains(&0) || duri.split(|&c| c == b'/').any(|s| s == b"..") {
        return invalid(r);
    }
    if r.uri.ends_with(b"/") != dest.ends_with(b"/") {
        err(
            r,
            &format!(
                "both URI \"{}\" and \"Destination\" URI \"{}\" should be either collections or non-collections",
                lossy(&r.uri),
                lossy(&dest)
            ),
        );
        return Reply::status(409);
    }
    match depth(r, Depth::Infinity) {
        Some(Depth::Infinity) => {}
        Some(Depth::Zero) if !is_move => {}
        _ if !is_move => {
            err(r, "\"Depth\" header must be 0 or infinity");
            return Reply::status(400);
        }
        _ => {
            err(r, "\"Depth\" header must be infinity");
            return Reply::status(400);
        }
    }
    let mut overwrite = match r
        .headers
        .get(HeaderName::from_static("overwrite"))
        .map(|v| v.as_bytes())
    {
        None => true,
        Some(b"T" | b"t") => true,
        Some(b"F" | b"f") => false,
        Some(other) => {
            err(
                r,
                &format!(
                    "client sent invalid \"Overwrite\" header: \"{}\"",
                    lossy(other)
                ),
            );
            return Reply::status(400);
        }
    };
    let path = file_path(r, &r.uri.clone());
    let to = file_path(r, &duri);
    let mut dest_dir = false;
    match std::fs::symlink_metadata(path_of(&to)) {
        Err(e) if e.raw_os_error() != Some(libc::ENOENT) => {
            return Reply::status(dav_error(r, &e, 404, "lstat()", &to));
        }
        Err(_) => overwrite = false,
        Ok(m) => {
            if m.is_dir() && !duri.ends_with(b"/") {
                err(
                    r,
                    &format!(
                        "\"{}\" could not be {}d to collection \"{}\"",
                        lossy(&r.uri),
                        r.method.as_str(),
                        lossy(&dest)
                    ),
                );
                return Reply::status(409);
            }
            if !overwrite {
                err(
                    r,
                    &format!("\"{}\" could not be created (17: File exists)", lossy(&to)),
                );
                return Reply::status(412);
            }
            dest_dir = m.is_dir();
        }
    }
    let meta = match std::fs::symlink_metadata(path_of(&path)) {
        Ok(m) => m,
        Err(e) => return Reply::status(dav_error(r, &e, 404, "lstat()", &path)),
    };
    if meta.is_dir() {
        if !r.uri.ends_with(b"/") {
            err(r, &format!("\"{}\" is collection", lossy(&r.uri)));
            return Reply::status(400);
        }
        if overwrite {
            if let Err(status) = delete_path(r, &to, dest_dir) {
                return Reply::status(status);
            }
        }
        if is_move && std::fs::rename(path_of(&path), path_of(&to)).is_ok() {
            return created(r, false);
        }
        if let Err(e) = copy_tree(&path, &to, meta.permissions().mode()) {
            return Reply::status(dav_error(r, &e, 404, "mkdir()", &to));
        }
        if is_move {
            if let Err(status) = delete_path(r, &path, true) {
                return Reply::status(status);
            }
        }
        return created(r, false);
    }
    if is_move {
        let access = r.loc.dav_access.unwrap_or(DEFAULT_ACCESS);
        return if rename(r, &path, &to, None, access, None, true) {
            no_content()
        } else {
            Reply::status(500)
        };
    }
    match copy_file(&path, &to, &meta) {
        Ok(()) => no_content(),
        Err(e) => {
            errlog::log(
                r,
                Level::Crit,
                &format!("copy \"{}\" failed ({})", lossy(&to), errno_text(&e)),
            );
            Reply::status(500)
        }
    }
}

/// nginx: ngx_copy_file: contents, rights and modification time.
fn copy_file(from: &[u8], to: &[u8], meta: &std::fs::Metadata) -> std::io::Result<()> {
    std::fs::copy(path_of(from), path_of(to))?;
    std::fs::set_permissions(
        path_of(to),
        std::fs::Permissions::from_mode(meta.mode() & 0o7777),
    )?;
    if let Ok(t) = meta.modified() {
        std::fs::File::options()
            .write(true)
            .open(path_of(to))?
            .set_modified(t)?;
    }
    Ok(())
}

/// nginx: ngx_walk_tree with the dav module's copy handlers: directories with their rights,
/// files with theirs.
fn copy_tree(from: &[u8], to: &[u8], mode: u32) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .mode(mode & 0o7777)
        .create(path_of(to))?;
    for entry in std::fs::read_dir(path_of(from))?.flatten() {
        let name = entry.file_name();
        let mut f = from.to_vec();
        f.push(b'/');
        f.extend_from_slice(name.as_bytes());
        let mut t = to.to_vec();
        t.push(b'/');
        t.extend_from_slice(name.as_bytes());
        let meta = std::fs::symlink_metadata(path_of(&f))?;
        if meta.is_dir() {
            copy_tree(&f, &t, meta.mode())?;
        } else if meta.is_file() {
            copy_file(&f, &t, &meta)?;
        }
    }
    Ok(())
}
