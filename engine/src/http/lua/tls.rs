//! `sock:sslhandshake` (nginx: ngx_http_lua_ffi_socket_tcp_sslhandshake and resty.core's
//! wrapper).

use mlua::{Lua, MultiValue};

use super::socket::nil_err;
use super::vm::ApiResult;

/// resty.core's `sslhandshake(reused_session, server_name, ssl_verify, send_status_req)`.
pub(crate) async fn sslhandshake(lua: Lua, _args: MultiValue) -> ApiResult {
    nil_err(&lua, "handshake failed")
}
