//! The request body API (nginx: ngx_http_lua_req_body.c): `ngx.req.read_body`,
//! `get_body_data`, `get_body_file`, `set_body_data`, `set_body_file`, `init_body`,
//! `append_body`, `finish_body`. The body is kept in memory, and also in a file under
//! `client_body_temp` when `client_body_in_file_only` asks for it or it is larger than
//! `client_body_buffer_size` (as nginx's request body reader does).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use mlua::{Lua, MultiValue, Value};

use super::api::{arg, fail, to_bytes, type_name};
use super::vm::{with_req, ApiResult, ReqCtx};
use crate::http::request::Request;

/// nginx's default `client_body_buffer_size` on 64-bit systems.
const DEFAULT_BUFFER: u64 = 16384;

/// Temp file numbers (nginx: ngx_create_temp_file's sequence).
static TEMP_SEQ: AtomicU64 = AtomicU64::new(1);

/// A body file: its path and whether the request's end removes it.
#[derive(Debug, Clone)]
pub(crate) struct BodyFile {
    pub(crate) path: PathBuf,
    pub(crate) clean: bool,
}

impl Drop for BodyFile {
    fn drop(&mut self) {
        if self.clean {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// nginx: ngx_create_temp_file under `client_body_temp`: a ten-digit name.
fn temp_file(r: &Request, data: &[u8]) -> Option<PathBuf> {
    let dir = r.http.prefix.join("client_body_temp");
    let _ = std::fs::create_dir_all(&dir);
    let n = TEMP_SEQ.fetch_add(1, Ordering::Relaxed) + u64::from(std::process::id()) * 1000;
    let path = dir.join(format!("{:010}", n % 10_000_000_000));
    std::fs::write(&path, data).ok()?;
    // nginx: ngx_write_chain_to_temp_file's warning for a request body.
    // nginx: request_body_file_log_level is info under client_body_in_file_only.
    let level = if r.loc.client_body_in_file_only.unwrap_or(0) != 0 {
        crate::log::Level::Info
    } else {
        crate::log::Level::Warn
    };
    crate::http::errlog::log(
        r,
        level,
        &format!(
            "a client request body is buffered to a temporary file {}",
            path.display()
        ),
    );
    Some(path)
}

fn buffer_size(r: &Request) -> u64 {
    r.loc.client_body_buffer_size.unwrap_or(DEFAULT_BUFFER)
}

/// Stores a body just read: in memory, and in a file when nginx would write one.
pub(crate) fn store(r: &Request, c: &mut ReqCtx, data: Vec<u8>) {
    let mode = r.loc.client_body_in_file_only.unwrap_or(0);
    c.body_file = None;
    if mode != 0 || data.len() as u64 > buffer_size(r) {
        if let Some(path) = temp_file(r, &data) {
            c.body_file = Some(BodyFile {
                path,
                clean: mode != 1,
            });
        }
    }
    c.body = Some(data);
}

/// The `Content-Length` request header after the body changed.
fn set_length(r: &mut Request, n: usize) {
    if let Ok(v) = hyper::header::HeaderValue::from_str(&n.to_string()) {
        r.headers.insert(hyper::header::CONTENT_LENGTH, v);
    }
}

fn nargs(lua: &Lua, args: &MultiValue, want: &str, ok: &[usize]) -> Result<(), super::vm::Fail> {
    if ok.contains(&args.len()) {
        return Ok(());
    }
    Err(fail(
        lua,
        format!("expecting {want} but seen {}", args.len()),
    ))
}

/// nginx: ngx_http_lua_ngx_req_get_body_data.
pub(crate) fn get_body_data(lua: &Lua, args: MultiValue) -> ApiResult {
    nargs(lua, &args, "0 arguments", &[0])?;
    let body = with_req(|_, c| {
        Ok(if c.body_file.is_some() {
            None
        } else {
            c.body.clone()
        })
    })?;
    Ok(MultiValue::from_vec(vec![match body {
        Some(b) if !b.is_empty() => Value::String(lua.create_string(b)?),
        _ => Value::Nil,
    }]))
}

/// nginx: ngx_http_lua_ngx_req_get_body_file.
pub(crate) fn get_body_file(lua: &Lua, args: MultiValue) -> ApiResult {
    nargs(lua, &args, "0 arguments", &[0])?;
    let p = with_req(|_, c| Ok(c.body_file.as_ref().map(|f| f.path.clone())))?;
    Ok(MultiValue::from_vec(vec![match p {
        Some(p) => Value::String(lua.create_string(p.to_string_lossy().as_bytes())?),
        None => Value::Nil,
    }]))
}

/// nginx: ngx_http_lua_ngx_req_set_body_data.
pub(crate) fn set_body_data(lua: &Lua, args: MultiValue) -> ApiResult {
    nargs(lua, &args, "1 arguments", &[1])?;
    let v = arg(&args, 0);
    let Some(data) = to_bytes(lua, &v) else {
        return Err(fail(
            lua,
            format!(
                "bad argument #1 to 'set_body_data' (string expected, got {})",
                type_name(&v)
            ),
        ));
    };
    let read = with_req(|_, c| Ok(c.body.is_some() || c.body_socket))?;
    if !read {
        return Err(fail(lua, "request body not read yet"));
    }
    with_req(|r, c| {
        c.body_file = None;
        set_length(r, data.len());
        c.body = Some(data);
        Ok(())
    })?;
    Ok(MultiValue::new())
}

/// nginx: ngx_http_lua_ngx_req_set_body_file.
pub(crate) fn set_body_file(lua: &Lua, args: MultiValue) -> ApiResult {
    nargs(lua, &args, "1 or 2 arguments", &[1, 2])?;
    let v = arg(&args, 0);
    let Some(name) = to_bytes(lua, &v) else {
        return Err(fail(
            lua,
            format!(
                "bad argument #1 to 'set_body_file' (string expected, got {})",
                type_name(&v)
            ),
        ));
    };
    let clean = arg(&args, 1).as_boolean().unwrap_or(false);
    let read = with_req(|_, c| Ok(c.body.is_some() || c.body_socket))?;
    if !read {
        return Err(fail(lua, "request body not read yet"));
    }
    let path = PathBuf::from(String::from_utf8_lossy(&name).into_owned());
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => {
            return Err(fail(
                lua,
                format!(
                    "failed to open file {}: {}",
                    path.display(),
                    crate::log::errno_text(&e)
                ),
            ))
        }
    };
    with_req(|r, c| {
        set_length(r, data.len());
        c.body_file = Some(BodyFile { path, clean });
        c.body = Some(data);
        Ok(())
    })?;
    Ok(MultiValue::new())
}

/// nginx: ngx_http_lua_ngx_req_init_body.
pub(crate) fn init_body(lua: &Lua, args: MultiValue) -> ApiResult {
    nargs(lua, &args, "0 or 1 argument", &[0, 1])?;
    let size = match arg(&args, 0) {
        Value::Nil => None,
        v => {
            let n = match v {
                Value::Integer(i) => i as f64,
                Value::Number(n) => n,
                _ => -1.0,
            };
            if n < 0.0 {
                return Err(fail(lua, format!("bad size argument: {}", n as i64)));
            }
            Some(n as u64)
        }
    };
    let read = with_req(|_, c| Ok(c.body.is_some() || c.body_socket))?;
    if !read {
        return Err(fail(lua, "request body not read yet"));
    }
    with_req(|r, c| {
        // init_body(0): the body always goes to a file.
        let limit = size.unwrap_or_else(|| buffer_size(r));
        c.new_body = Some((Vec::new(), limit));
        Ok(())
    })?;
    Ok(MultiValue::new())
}

/// nginx: ngx_http_lua_ngx_req_append_body.
pub(crate) fn append_body(lua: &Lua, args: MultiValue) -> ApiResult {
    nargs(lua, &args, "1 arguments", &[1])?;
    let v = arg(&args, 0);
    let Some(data) = to_bytes(lua, &v) else {
        return Err(fail(
            lua,
            format!(
                "bad argument #1 to 'append_body' (string expected, got {})",
                type_name(&v)
            ),
        ));
    };
    let ok = with_req(|_, c| {
        Ok(match &mut c.new_body {
            Some((b, _)) => {
                b.extend_from_slice(&data);
                true
            }
            None => false,
        })
    })?;
    if !ok {
        return Err(fail(lua, "request_body not initialized"));
    }
    Ok(MultiValue::new())
}

/// nginx: ngx_http_lua_ngx_req_body_finish.
pub(crate) fn finish_body(lua: &Lua, args: MultiValue) -> ApiResult {
    nargs(lua, &args, "0 argument", &[0])?;
    let ok = with_req(|r, c| {
        let Some((data, limit)) = c.new_body.take() else {
            return Ok(false);
        };
        c.body_file = None;
        if data.len() as u64 > limit {
            if let Some(path) = temp_file(r, &data) {
                c.body_file = Some(BodyFile { path, clean: true });
            }
        }
        set_length(r, data.len());
        c.body = Some(data);
        Ok(true)
    })?;
    if !ok {
        return Err(fail(lua, "request_body not initialized"));
    }
    Ok(MultiValue::new())
}
