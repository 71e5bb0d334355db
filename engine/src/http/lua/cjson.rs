//! `require "cjson"` / `require "cjson.safe"` built into every worker VM: OpenResty's
//! lua-cjson 2.1.0.10 (the version OpenResty 1.21.4 bundles) written from its documented and
//! observed behaviour: the same number formatting (`%.14g` by default), string escaping,
//! sparse-array and depth rules, configuration functions and error texts, plus OpenResty's
//! extensions (`empty_array`, `array_mt`, `empty_array_mt`, `decode_array_with_array_mt`,
//! `encode_escape_forward_slash`).
//!
//! Registered in `package.preload`, so it wins over any `cjson.so` on `package.cpath`.
//! The Rust functions return `(true, values...)` or `(false, message)`; a small Lua wrapper
//! raises the message as a plain string (as `luaL_error` from a C function does), or, for
//! `cjson.safe`, returns `nil, message`.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::rc::Rc;

use mlua::{Function, LightUserData, Lua, MultiValue, Table, Value};

const VERSION: &str = "2.1.0.10";
const ARRAY_MT_KEY: &str = "oxresty.cjson.array_mt";
const EMPTY_ARRAY_MT_KEY: &str = "oxresty.cjson.empty_array_mt";
const EXACT_KEY: &str = "oxresty.cjson.exact";

/// mlua turns any number within f64::EPSILON of an integer into `Value::Integer`, so -0 and
/// tiny numbers such as 1e-300 arrive as `Integer(0)`: this reads such a table entry again,
/// exactly, as text.
const EXACT: &str = "local fmt, rawget = string.format, rawget\n\
    return function(t, k) return fmt('%.17g', rawget(t, k)) end";

/// The address `cjson.empty_array` points to (any unique non-NULL address).
static EMPTY_ARRAY: u8 = 0;

fn empty_array_ptr() -> *mut c_void {
    &EMPTY_ARRAY as *const u8 as *mut c_void
}

/// One instance's settings (`cjson.new()` makes another).
#[derive(Clone, Debug)]
struct Config {
    sparse_convert: usize,
    sparse_ratio: i64,
    sparse_safe: i64,
    encode_max_depth: i64,
    decode_max_depth: i64,
    encode_invalid_numbers: usize,
    decode_invalid_numbers: usize,
    encode_keep_buffer: usize,
    precision: i64,
    empty_table_as_object: usize,
    decode_array_with_array_mt: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            sparse_convert: 0,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: 1,
            encode_keep_buffer: 1,
            precision: 14,
            empty_table_as_object: 1,
            decode_array_with_array_mt: 0,
        }
    }
}

/// State shared by all instances of one VM. In lua-cjson 2.1.0.10 the forward-slash escape
/// lives in a process-wide table, so `encode_escape_forward_slash` affects every instance.
#[derive(Clone)]
struct Shared {
    escape_slash: Rc<Cell<bool>>,
}

/// Nesting deeper than this fails as `lua_checkstack` would (and keeps the Rust stack safe).
const STACK_DEPTH_CAP: i64 = 2600;

/// Installs `package.preload["cjson"]` and `["cjson.safe"]`.
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    lua.set_named_registry_value(ARRAY_MT_KEY, lua.create_table()?)?;
    lua.set_named_registry_value(EMPTY_ARRAY_MT_KEY, lua.create_table()?)?;
    let exact: Function = lua.load(EXACT).set_name("=cjson").call(())?;
    lua.set_named_registry_value(EXACT_KEY, exact)?;
    let shared = Shared {
        escape_slash: Rc::new(Cell::new(true)),
    };
    let package: Table = lua.globals().get("package")?;
    let preload: Table = package.get("preload")?;
    let sh = shared.clone();
    preload.set(
        "cjson",
        lua.create_function(move |lua, _: MultiValue| new_instance(lua, &sh, false))?,
    )?;
    let sh = shared;
    preload.set(
        "cjson.safe",
        lua.create_function(move |lua, _: MultiValue| new_instance(lua, &sh, true))?,
    )?;
    Ok(())
}

const BUILDER: &str = r#"
local raw, safe, fields = ...
local error, select, type, tonumber, fmt = error, select, type, tonumber, string.format
local getinfo = debug and debug.getinfo
local M = {}
-- Every error gets luaL_error's "chunk:line: " of a calling Lua function. LuaJIT's
-- luaL_argerror also names the function as its caller sees it ('?' after a tail call or
-- from pcall), "calling 'f' on bad self" for a method's self, and prefixes the calling Lua
-- line. `level` is the wrapper's stack level as seen from here.
local function named(m, level)
  if type(m) ~= "string" or not getinfo then return m end
  local narg, text = m:match("^bad argument #(%d+) to '%?' %((.*)%)$")
  if narg then
    narg = tonumber(narg)
    local info = getinfo(level, "n")
    local fname = info and info.name or "?"
    if info and info.namewhat == "method" then narg = narg - 1 end
    if narg == 0 then
      m = "calling '" .. fname .. "' on bad self (" .. text .. ")"
    else
      m = "bad argument #" .. narg .. " to '" .. fname .. "' (" .. text .. ")"
    end
  end
  -- luaL_where(L, 1): the calling Lua line, if any
  local caller = getinfo(level + 1, "Sl")
  if caller and caller.what ~= "C" and caller.currentline and caller.currentline > 0 then
    m = caller.short_src .. ":" .. caller.currentline .. ": " .. m
  end
  return m
end
local function argc(...)
  if select('#', ...) ~= 1 then
    error(named("bad argument #1 to '?' (expected 1 argument)", 3), 0)
  end
end
for name, f in pairs(raw) do
  if name == "encode" or name == "decode" then
    if safe then
      M[name] = function(...)
        if select('#', ...) ~= 1 then argc(...) end
        local ok, v
        local x = ...
        if name == "encode" and type(x) == "number" and x >= -1 and x <= 1 then
          ok, v = f(x, fmt("%.17g", x))
        else
          ok, v = f(x)
        end
        if ok then return v end
        return nil, v
      end
    else
      M[name] = function(...)
        if select('#', ...) ~= 1 then argc(...) end
        local ok, v
        local x = ...
        if name == "encode" and type(x) == "number" and x >= -1 and x <= 1 then
          ok, v = f(x, fmt("%.17g", x))
        else
          ok, v = f(x)
        end
        if ok then return v end
        error(named(v, 2), 0)
      end
    end
  else
    M[name] = function(...)
      local ok, a, b, c = f(...)
      if ok then
        if b == nil then return a end
        return a, b, c
      end
      error(named(a, 2), 0)
    end
  end
end
for k, v in pairs(fields) do M[k] = v end
return M
"#;

type Out = mlua::Result<MultiValue>;

fn ok_vals(vals: Vec<Value>) -> Out {
    let mut v = vec![Value::Boolean(true)];
    v.extend(vals);
    Ok(MultiValue::from_vec(v))
}

fn fail(lua: &Lua, msg: &str) -> Out {
    Ok(MultiValue::from_vec(vec![
        Value::Boolean(false),
        Value::String(lua.create_string(msg)?),
    ]))
}

fn new_instance(lua: &Lua, shared: &Shared, safe: bool) -> mlua::Result<Table> {
    let cfg = Rc::new(RefCell::new(Config::default()));
    let raw = lua.create_table()?;

    let (c, sh) = (cfg.clone(), shared.clone());
    raw.set(
        "encode",
        lua.create_function(move |lua, args: MultiValue| {
            let mut args = args.into_iter();
            let mut v = args.next().unwrap_or(Value::Nil);
            // the wrapper passes a number in [-1, 1] again as "%.17g" text (see EXACT)
            if let Some(Value::String(x)) = args.next() {
                if let Some(n) = x.to_str().ok().and_then(|x| x.parse::<f64>().ok()) {
                    v = Value::Number(n);
                }
            }
            let conf = c.borrow().clone();
            let mut enc = Encoder {
                exact: lua.named_registry_value(EXACT_KEY)?,
                cfg: &conf,
                slash: sh.escape_slash.get(),
                out: Vec::new(),
                array_mt: lua
                    .named_registry_value::<Value>(ARRAY_MT_KEY)?
                    .to_pointer(),
                empty_array_mt: lua
                    .named_registry_value::<Value>(EMPTY_ARRAY_MT_KEY)?
                    .to_pointer(),
            };
            match enc.encode(v) {
                Ok(()) => ok_vals(vec![Value::String(lua.create_string(&enc.out)?)]),
                Err(EncErr::Msg(m)) => fail(lua, &m),
                Err(EncErr::Lua(e)) => Err(e),
            }
        })?,
    )?;

    let c = cfg.clone();
    raw.set(
        "decode",
        lua.create_function(move |lua, args: MultiValue| {
            let v = args.into_iter().next().unwrap_or(Value::Nil);
            let text: Vec<u8> = match &v {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Integer(i) => fmt_g(*i as f64, 14).into_bytes(),
                Value::Number(n) => lua_num_str(*n).into_bytes(),
                other => {
                    let got = if other.is_nil() {
                        "nil"
                    } else {
                        other.type_name()
                    };
                    return fail(
                        lua,
                        &format!("bad argument #1 to '?' (string expected, got {got})"),
                    );
                }
            };
            let conf = c.borrow().clone();
            let array_mt: Option<Table> = if conf.decode_array_with_array_mt != 0 {
                lua.named_registry_value(ARRAY_MT_KEY)?
            } else {
                None
            };
            let mut d = Decoder {
                lua,
                cfg: &conf,
                data: &text,
                pos: 0,
                depth: 0,
                array_mt,
            };
            match d.run() {
                Ok(v) => ok_vals(vec![v]),
                Err(EncErr::Msg(m)) => fail(lua, &m),
                Err(EncErr::Lua(e)) => Err(e),
            }
        })?,
    )?;

    cfg_fn(lua, &raw, &cfg, "encode_sparse_array", 3, |c, a, n| {
        let mut out = vec![enum_opt(n, a, 1, &mut c.sparse_convert, BOOL_OPTS)?];
        out.push(int_opt(n, a, 2, &mut c.sparse_ratio, 0, i32::MAX as i64)?);
        out.push(int_opt(n, a, 3, &mut c.sparse_safe, 0, i32::MAX as i64)?);
        Ok(out)
    })?;
    cfg_fn(lua, &raw, &cfg, "encode_max_depth", 1, |c, a, n| {
        Ok(vec![int_opt(
            n,
            a,
            1,
            &mut c.encode_max_depth,
            1,
            i32::MAX as i64,
        )?])
    })?;
    cfg_fn(lua, &raw, &cfg, "decode_max_depth", 1, |c, a, n| {
        Ok(vec![int_opt(
            n,
            a,
            1,
            &mut c.decode_max_depth,
            1,
            i32::MAX as i64,
        )?])
    })?;
    cfg_fn(lua, &raw, &cfg, "encode_number_precision", 1, |c, a, n| {
        Ok(vec![int_opt(n, a, 1, &mut c.precision, 1, 16)?])
    })?;
    cfg_fn(
        lua,
        &raw,
        &cfg,
        "encode_empty_table_as_object",
        1,
        |c, a, n| {
            Ok(vec![enum_opt(
                n,
                a,
                1,
                &mut c.empty_table_as_object,
                BOOL_OPTS,
            )?])
        },
    )?;
    cfg_fn(
        lua,
        &raw,
        &cfg,
        "decode_array_with_array_mt",
        1,
        |c, a, n| {
            Ok(vec![enum_opt(
                n,
                a,
                1,
                &mut c.decode_array_with_array_mt,
                BOOL_OPTS,
            )?])
        },
    )?;
    cfg_fn(lua, &raw, &cfg, "encode_keep_buffer", 1, |c, a, n| {
        Ok(vec![enum_opt(
            n,
            a,
            1,
            &mut c.encode_keep_buffer,
            BOOL_OPTS,
        )?])
    })?;
    cfg_fn(lua, &raw, &cfg, "encode_invalid_numbers", 1, |c, a, n| {
        Ok(vec![enum_opt(
            n,
            a,
            1,
            &mut c.encode_invalid_numbers,
            &["off", "on", "null"],
        )?])
    })?;
    cfg_fn(lua, &raw, &cfg, "decode_invalid_numbers", 1, |c, a, n| {
        Ok(vec![enum_opt(
            n,
            a,
            1,
            &mut c.decode_invalid_numbers,
            BOOL_OPTS,
        )?])
    })?;
    let sh = shared.clone();
    raw.set(
        "encode_escape_forward_slash",
        lua.create_function(move |lua, args: MultiValue| {
            let a: Vec<Value> = args.into_iter().collect();
            let name = "encode_escape_forward_slash";
            if a.len() > 1 {
                return fail(lua, "bad argument #2 to '?' (found too many arguments)");
            }
            let mut s = sh.escape_slash.get() as usize;
            match enum_opt(name, &a, 1, &mut s, BOOL_OPTS) {
                Ok(v) => {
                    sh.escape_slash.set(s != 0);
                    option_value(lua, v).and_then(|v| ok_vals(vec![v]))
                }
                Err(m) => fail(lua, &m),
            }
        })?,
    )?;

    let fields = lua.create_table()?;
    fields.set(
        "null",
        Value::LightUserData(LightUserData(std::ptr::null_mut())),
    )?;
    fields.set(
        "empty_array",
        Value::LightUserData(LightUserData(empty_array_ptr())),
    )?;
    fields.set("array_mt", lua.named_registry_value::<Table>(ARRAY_MT_KEY)?)?;
    fields.set(
        "empty_array_mt",
        lua.named_registry_value::<Table>(EMPTY_ARRAY_MT_KEY)?,
    )?;
    fields.set("_NAME", "cjson")?;
    fields.set("_VERSION", VERSION)?;
    let sh = shared.clone();
    fields.set(
        "new",
        lua.create_function(move |lua, _: MultiValue| new_instance(lua, &sh, safe))?,
    )?;

    let builder: Function = lua.load(BUILDER).set_name("=cjson").into_function()?;
    builder.call((raw, safe, fields))
}

const BOOL_OPTS: &[&str] = &["off", "on"];

/// A configuration value before it becomes a Lua value.
enum Opt {
    Bool(bool),
    Str(&'static str),
    Int(i64),
}

fn option_value(lua: &Lua, o: Opt) -> mlua::Result<Value> {
    Ok(match o {
        Opt::Bool(b) => Value::Boolean(b),
        Opt::Str(s) => Value::String(lua.create_string(s)?),
        Opt::Int(i) => Value::Number(i as f64),
    })
}

fn cfg_fn<F>(
    lua: &Lua,
    raw: &Table,
    cfg: &Rc<RefCell<Config>>,
    name: &'static str,
    nargs: usize,
    f: F,
) -> mlua::Result<()>
where
    F: Fn(&mut Config, &[Value], &str) -> Result<Vec<Opt>, String> + 'static,
{
    let cfg = cfg.clone();
    raw.set(
        name,
        lua.create_function(move |lua, args: MultiValue| {
            let a: Vec<Value> = args.into_iter().collect();
            if a.len() > nargs {
                return fail(
                    lua,
                    &format!(
                        "bad argument #{} to '?' (found too many arguments)",
                        nargs + 1
                    ),
                );
            }
            let mut c = cfg.borrow_mut();
            match f(&mut c, &a, name) {
                Ok(vals) => {
                    let mut out = Vec::new();
                    for v in vals {
                        out.push(option_value(lua, v)?);
                    }
                    ok_vals(out)
                }
                Err(m) => fail(lua, &m),
            }
        })?,
    )
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::LightUserData(_) => "userdata",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        Value::UserData(_) => "userdata",
        _ => "cdata",
    }
}

/// lua-cjson's json_integer_option (luaL_checkinteger, then a range check reported as
/// argument #1 whatever the position, as the C code does).
fn int_opt(
    _name: &str,
    a: &[Value],
    idx: usize,
    setting: &mut i64,
    min: i64,
    max: i64,
) -> Result<Opt, String> {
    let v = a.get(idx - 1).cloned().unwrap_or(Value::Nil);
    let n = match &v {
        Value::Nil => return Ok(Opt::Int(*setting)),
        Value::Integer(i) => *i as f64,
        Value::Number(n) => *n,
        Value::String(s) => match s.to_str().ok().and_then(|s| parse_lua_number(&s)) {
            Some(n) => n,
            None => {
                return Err(format!(
                    "bad argument #{idx} to '?' (number expected, got string)"
                ))
            }
        },
        other => {
            return Err(format!(
                "bad argument #{idx} to '?' (number expected, got {})",
                type_name(other)
            ))
        }
    };
    let value = if n.is_finite() { n.trunc() as i64 } else { 0 };
    if value < min || value > max {
        return Err(format!(
            "bad argument #1 to '?' (expected integer between {min} and {max})"
        ));
    }
    *setting = value;
    Ok(Opt::Int(value))
}

fn parse_lua_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if let Some(h) = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .filter(|h| !h.is_empty())
    {
        return u64::from_str_radix(h, 16).ok().map(|v| v as f64);
    }
    t.parse::<f64>().ok()
}

/// lua-cjson's json_enum_option with bool_true = 1.
fn enum_opt(
    _name: &str,
    a: &[Value],
    idx: usize,
    setting: &mut usize,
    options: &'static [&'static str],
) -> Result<Opt, String> {
    match a.get(idx - 1) {
        None | Some(Value::Nil) => {}
        Some(Value::Boolean(b)) => *setting = *b as usize,
        Some(Value::String(s)) => {
            let s = s.to_string_lossy();
            match options.iter().position(|o| *o == s) {
                Some(i) => *setting = i,
                None => return Err(format!("bad argument #{idx} to '?' (invalid option '{s}')")),
            }
        }
        Some(Value::Integer(i)) => {
            return Err(format!("bad argument #{idx} to '?' (invalid option '{i}')"))
        }
        Some(Value::Number(n)) => {
            return Err(format!(
                "bad argument #{idx} to '?' (invalid option '{}')",
                lua_num_str(*n)
            ))
        }
        Some(other) => {
            return Err(format!(
                "bad argument #{idx} to '?' (string expected, got {})",
                type_name(other)
            ))
        }
    }
    Ok(if *setting <= 1 {
        Opt::Bool(*setting == 1)
    } else {
        Opt::Str(options.get(*setting).copied().unwrap_or("off"))
    })
}

/// LuaJIT's tostring of a number.
fn lua_num_str(n: f64) -> String {
    if n.is_nan() {
        "nan".into()
    } else if n.is_infinite() {
        if n < 0.0 { "-inf" } else { "inf" }.into()
    } else {
        fmt_g(n, 14)
    }
}

/// C's `printf("%.*g", prec, x)` for finite `x`.
pub(crate) fn fmt_g(x: f64, prec: usize) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let p = prec.max(1);
    let e = format!("{:.*e}", p - 1, x);
    let (mant, exp) = match e.split_once('e') {
        Some((m, ex)) => (m.to_string(), ex.parse::<i32>().unwrap_or(0)),
        None => return e,
    };
    fn trim(s: &str) -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    }
    if exp < -4 || exp >= p as i32 {
        format!(
            "{}e{}{:02}",
            trim(&mant),
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim(&format!("{:.*}", decimals, x))
    }
}

enum EncErr {
    Msg(String),
    Lua(mlua::Error),
}

impl From<mlua::Error> for EncErr {
    fn from(e: mlua::Error) -> EncErr {
        EncErr::Lua(e)
    }
}

fn msg<T>(m: String) -> Result<T, EncErr> {
    Err(EncErr::Msg(m))
}

struct Encoder<'a> {
    cfg: &'a Config,
    slash: bool,
    out: Vec<u8>,
    array_mt: *const c_void,
    empty_array_mt: *const c_void,
    exact: Function,
}

impl Encoder<'_> {
    fn string(&mut self, s: &[u8]) {
        self.out.push(b'"');
        for &b in s {
            match b {
                b'"' => self.out.extend_from_slice(b"\\\""),
                b'\\' => self.out.extend_from_slice(b"\\\\"),
                b'/' if self.slash => self.out.extend_from_slice(b"\\/"),
                0x08 => self.out.extend_from_slice(b"\\b"),
                b'\t' => self.out.extend_from_slice(b"\\t"),
                b'\n' => self.out.extend_from_slice(b"\\n"),
                0x0c => self.out.extend_from_slice(b"\\f"),
                b'\r' => self.out.extend_from_slice(b"\\r"),
                0..=0x1f | 0x7f => {
                    self.out
                        .extend_from_slice(format!("\\u{:04x}", b).as_bytes());
                }
                _ => self.out.push(b),
            }
        }
        self.out.push(b'"');
    }

    fn number(&mut self, n: f64) -> Result<(), EncErr> {
        if !n.is_finite() {
            match self.cfg.encode_invalid_numbers {
                0 => return msg("Cannot serialise number: must not be NaN or Infinity".into()),
                1 => {
                    let s: &[u8] = if n.is_nan() {
                        b"NaN"
                    } else if n < 0.0 {
                        b"-Infinity"
                    } else {
                        b"Infinity"
                    };
                    self.out.extend_from_slice(s);
                    return Ok(());
                }
                _ => {
                    self.out.extend_from_slice(b"null");
                    return Ok(());
                }
            }
        }
        let p = self.cfg.precision.clamp(1, 16) as usize;
        self.out.extend_from_slice(fmt_g(n, p).as_bytes());
        Ok(())
    }

    /// Encodes `v` without recursion (deep nesting must not overflow a worker's stack).
    /// `t[k]` as its exact number when mlua may have rounded it to an Integer (see EXACT).
    fn exact_zero(&self, t: &Table, k: &Value, v: Value) -> Result<Value, EncErr> {
        // within EPSILON of ±1 only shows at precision 16 (0.9999999999999999)
        let suspect = match v {
            Value::Integer(0) => true,
            Value::Integer(1 | -1) => self.cfg.precision >= 16,
            _ => false,
        };
        if !suspect || matches!(k, Value::Integer(0)) {
            return Ok(v);
        }
        let text: mlua::String = self.exact.call((t, k))?;
        Ok(
            match text.to_str().ok().and_then(|x| x.parse::<f64>().ok()) {
                Some(n) => Value::Number(n),
                None => v,
            },
        )
    }

    fn encode(&mut self, v: Value) -> Result<(), EncErr> {
        let mut stack: Vec<Frame> = Vec::new();
        self.value(v, &mut stack)?;
        while let Some(top) = stack.last_mut() {
            let Some((key, v)) = top.items.next() else {
                let close = top.close;
                stack.pop();
                self.out.push(close);
                continue;
            };
            if top.first {
                top.first = false;
            } else {
                self.out.push(b',');
            }
            if let Some(k) = key {
                self.key(&k)?;
            }
            self.value(v, &mut stack)?;
        }
        Ok(())
    }

    fn key(&mut self, k: &Value) -> Result<(), EncErr> {
        match k {
            Value::Integer(i) => {
                self.out.push(b'"');
                self.number(*i as f64)?;
                self.out.extend_from_slice(b"\":");
            }
            Value::Number(n) => {
                self.out.push(b'"');
                self.number(*n)?;
                self.out.extend_from_slice(b"\":");
            }
            Value::String(s) => {
                self.string(&s.as_bytes());
                self.out.push(b':');
            }
            other => {
                return msg(format!(
                    "Cannot serialise {}: table key must be a number or string",
                    type_name(other)
                ))
            }
        }
        Ok(())
    }

    /// Appends a scalar, or opens a table: pushes a frame with its entries.
    fn value(&mut self, v: Value, stack: &mut Vec<Frame>) -> Result<(), EncErr> {
        match v {
            Value::String(s) => self.string(&s.as_bytes()),
            Value::Integer(i) => self.number(i as f64)?,
            Value::Number(n) => self.number(n)?,
            Value::Boolean(b) => self
                .out
                .extend_from_slice(if b { b"true" } else { b"false" }),
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::LightUserData(u) => {
                if u.0.is_null() {
                    self.out.extend_from_slice(b"null");
                } else if u.0 == empty_array_ptr() {
                    self.out.extend_from_slice(b"[]");
                }
                // any other light userdata: lua-cjson appends nothing
            }
            Value::Table(t) => {
                let depth = stack.len() as i64 + 1;
                if let Some(f) = self.table(&t, depth)? {
                    stack.push(f);
                }
            }
            other => {
                return msg(format!(
                    "Cannot serialise {}: type not supported",
                    type_name(&other)
                ))
            }
        }
        Ok(())
    }

    fn table(&mut self, t: &Table, depth: i64) -> Result<Option<Frame>, EncErr> {
        if depth > self.cfg.encode_max_depth || depth > STACK_DEPTH_CAP {
            return msg(format!("Cannot serialise, excessive nesting ({depth})"));
        }
        let mt = t.metatable().map(|m| m.to_pointer());
        if mt == Some(self.array_mt) {
            let len = t.raw_len() as i64;
            return self.array(t, len).map(Some);
        }
        let len = self.array_length(t)?;
        if len > 0 || (len == 0 && self.cfg.empty_table_as_object == 0) {
            return self.array(t, len).map(Some);
        }
        if mt == Some(self.empty_array_mt) {
            self.out.extend_from_slice(b"[]");
            return Ok(None);
        }
        self.out.push(b'{');
        let mut items = Vec::new();
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            let v = self.exact_zero(t, &k, v)?;
            items.push((Some(k), v));
        }
        Ok(Some(Frame {
            items: items.into_iter(),
            close: b'}',
            first: true,
        }))
    }

    /// lua-cjson's lua_array_length: the largest key when all keys are positive integers
    /// (-1 otherwise, or when an excessively sparse array is converted). Keys past INT_MAX
    /// wrap to INT_MIN as the C conversion does on x86-64, which makes the table an object.
    fn array_length(&mut self, t: &Table) -> Result<i64, EncErr> {
        let mut max: i64 = 0;
        let mut items: i64 = 0;
        for pair in t.pairs::<Value, Value>() {
            let (k, _) = pair?;
            let k = match k {
                Value::Integer(i) => i as f64,
                Value::Number(n) => n,
                _ => return Ok(-1),
            };
            if k != 0.0 && k.floor() == k && k >= 1.0 {
                if k > max as f64 {
                    max = if k < 2147483648.0 {
                        k as i64
                    } else {
                        i32::MIN as i64
                    };
                }
                items += 1;
                continue;
            }
            return Ok(-1);
        }
        let ratio = self.cfg.sparse_ratio;
        if ratio > 0 && max > items.saturating_mul(ratio) && max > self.cfg.sparse_safe {
            if self.cfg.sparse_convert == 0 {
                return msg("Cannot serialise table: excessively sparse array".into());
            }
            return Ok(-1);
        }
        Ok(max)
    }

    fn array(&mut self, t: &Table, len: i64) -> Result<Frame, EncErr> {
        self.out.push(b'[');
        let mut items = Vec::with_capacity(len.clamp(0, 1 << 20) as usize);
        for i in 1..=len {
            let v = self.exact_zero(t, &Value::Integer(i), t.raw_get::<Value>(i)?)?;
            items.push((None, v));
        }
        Ok(Frame {
            items: items.into_iter(),
            close: b']',
            first: true,
        })
    }
}

/// An open table while encoding: its remaining entries (with keys for objects).
struct Frame {
    items: std::vec::IntoIter<(Option<Value>, Value)>,
    close: u8,
    first: bool,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    Error,
}

fn tok_name(t: Tok) -> &'static str {
    match t {
        Tok::ObjBegin => "T_OBJ_BEGIN",
        Tok::ObjEnd => "T_OBJ_END",
        Tok::ArrBegin => "T_ARR_BEGIN",
        Tok::ArrEnd => "T_ARR_END",
        Tok::Str => "T_STRING",
        Tok::Number => "T_NUMBER",
        Tok::Boolean => "T_BOOLEAN",
        Tok::Null => "T_NULL",
        Tok::Colon => "T_COLON",
        Tok::Comma => "T_COMMA",
        Tok::End => "T_END",
        Tok::Error => "T_ERROR",
    }
}

struct Token {
    kind: Tok,
    index: usize,
    err: &'static str,
    string: Vec<u8>,
    number: f64,
    boolean: bool,
}

struct Decoder<'a> {
    lua: &'a Lua,
    cfg: &'a Config,
    data: &'a [u8],
    pos: usize,
    depth: i64,
    array_mt: Option<Table>,
}

fn hex4(s: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for i in 0..4 {
        let d = (*s.get(i)? as char).to_digit(16)?;
        v = v * 16 + d;
    }
    Some(v)
}

impl Decoder<'_> {
    /// The byte at `i`, 0 past the end (the C code reads a NUL-terminated buffer).
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn starts(&self, lit: &[u8]) -> bool {
        self.data.get(self.pos..self.pos + lit.len()) == Some(lit)
    }

    fn starts_ci(&self, p: usize, lit: &[u8]) -> bool {
        match self.data.get(p..p + lit.len()) {
            Some(s) => s.eq_ignore_ascii_case(lit),
            None => false,
        }
    }

    fn run(&mut self) -> Result<Value, EncErr> {
        if self.data.len() >= 2 && (self.data[0] == 0 || self.data[1] == 0) {
            return msg("JSON parser does not support UTF-16 or UTF-32".into());
        }
        let t = self.next_token();
        let v = self.value(t)?;
        let t = self.next_token();
        if t.kind != Tok::End {
            return self.parse_error("the end", &t);
        }
        Ok(v)
    }

    fn parse_error<T>(&self, exp: &str, t: &Token) -> Result<T, EncErr> {
        let found = if t.kind == Tok::Error {
            t.err
        } else {
            tok_name(t.kind)
        };
        msg(format!(
            "Expected {exp} but found {found} at character {}",
            t.index + 1
        ))
    }

    fn token(&self, kind: Tok, index: usize) -> Token {
        Token {
            kind,
            index,
            err: "",
            string: Vec::new(),
            number: 0.0,
            boolean: false,
        }
    }

    fn error_token(&self, err: &'static str) -> Token {
        let mut t = self.token(Tok::Error, self.pos);
        t.err = err;
        t
    }

    fn next_token(&mut self) -> Token {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let index = self.pos;
        let ch = self.at(self.pos);
        let simple = match ch {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b',' => Some(Tok::Comma),
            b':' => Some(Tok::Colon),
            0 => return self.token(Tok::End, index),
            _ => None,
        };
        if let Some(k) = simple {
            self.pos += 1;
            return self.token(k, index);
        }
        let unknown = matches!(
            ch,
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'"' | b'+' | b'-' | b'0'..=b'9'
        );
        if !unknown {
            return self.error_token("invalid token");
        }
        if ch == b'"' {
            return self.string_token();
        }
        if ch == b'-' || ch.is_ascii_digit() {
            if self.cfg.decode_invalid_numbers == 0 && self.is_invalid_number() {
                return self.error_token("invalid number");
            }
            return self.number_token();
        }
        if self.starts(b"true") {
            self.pos += 4;
            let mut t = self.token(Tok::Boolean, index);
            t.boolean = true;
            return t;
        }
        if self.starts(b"false") {
            self.pos += 5;
            return self.token(Tok::Boolean, index);
        }
        if self.starts(b"null") {
            self.pos += 4;
            return self.token(Tok::Null, index);
        }
        if self.cfg.decode_invalid_numbers != 0 && self.is_invalid_number() {
            return self.number_token();
        }
        self.error_token("invalid token")
    }

    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return (c2 | 0x20) == b'x' || c2.is_ascii_digit();
        } else if c <= b'9' {
            return false;
        }
        self.starts_ci(p, b"inf") || self.starts_ci(p, b"nan")
    }

    fn number_token(&mut self) -> Token {
        let index = self.pos;
        match strtod(&self.data[self.pos.min(self.data.len())..]) {
            Some((n, used)) => {
                self.pos += used;
                let mut t = self.token(Tok::Number, index);
                t.number = n;
                t
            }
            None => self.error_token("invalid number"),
        }
    }

    fn string_token(&mut self) -> Token {
        let index = self.pos;
        self.pos += 1;
        let mut s = Vec::new();
        loop {
            let ch = self.at(self.pos);
            if ch == b'"' {
                break;
            }
            if ch == 0 {
                return self.error_token("unexpected end of string");
            }
            if ch == b'\\' {
                let e = match self.at(self.pos + 1) {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 0x08,
                    b't' => b'\t',
                    b'n' => b'\n',
                    b'f' => 0x0c,
                    b'r' => b'\r',
                    b'u' => {
                        if self.unicode_escape(&mut s) {
                            continue;
                        }
                        return self.error_token("invalid unicode escape code");
                    }
                    _ => return self.error_token("invalid escape code"),
                };
                s.push(e);
                self.pos += 2;
                continue;
            }
            s.push(ch);
            self.pos += 1;
        }
        self.pos += 1;
        let mut t = self.token(Tok::Str, index);
        t.string = s;
        t
    }

    fn unicode_escape(&mut self, out: &mut Vec<u8>) -> bool {
        let rest = &self.data[self.pos.min(self.data.len())..];
        let Some(mut cp) = rest.get(2..).and_then(hex4) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return false;
            }
            if rest.get(6) != Some(&b'\\') || rest.get(7) != Some(&b'u') {
                return false;
            }
            let Some(low) = rest.get(8..).and_then(hex4) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        // codepoint_to_utf8 (no surrogate check beyond the above).
        if cp < 0x80 {
            out.push(cp as u8);
        } else if cp < 0x800 {
            out.push(0xC0 | (cp >> 6) as u8);
            out.push(0x80 | (cp & 0x3F) as u8);
        } else if cp < 0x10000 {
            out.push(0xE0 | (cp >> 12) as u8);
            out.push(0x80 | ((cp >> 6) & 0x3F) as u8);
            out.push(0x80 | (cp & 0x3F) as u8);
        } else {
            out.push(0xF0 | (cp >> 18) as u8);
            out.push(0x80 | ((cp >> 12) & 0x3F) as u8);
            out.push(0x80 | ((cp >> 6) & 0x3F) as u8);
            out.push(0x80 | (cp & 0x3F) as u8);
        }
        self.pos += len;
        true
    }

    fn descend(&mut self) -> Result<(), EncErr> {
        self.depth += 1;
        if self.depth <= self.cfg.decode_max_depth && self.depth <= STACK_DEPTH_CAP {
            return Ok(());
        }
        msg(format!(
            "Found too many nested data structures ({}) at character {}",
            self.depth, self.pos
        ))
    }

    /// Parses the value starting with `tok` without recursion (deep nesting must not
    /// overflow a worker's stack), in lua-cjson's order of checks.
    fn value(&mut self, first: Token) -> Result<Value, EncErr> {
        let mut stack: Vec<Ctx> = Vec::new();
        let mut tok = first;
        loop {
            let mut val = match tok.kind {
                Tok::Str => Value::String(self.lua.create_string(&tok.string)?),
                Tok::Number => Value::Number(tok.number),
                Tok::Boolean => Value::Boolean(tok.boolean),
                Tok::Null => Value::LightUserData(LightUserData(std::ptr::null_mut())),
                Tok::ObjBegin => {
                    self.descend()?;
                    let tbl = self.lua.create_table()?;
                    let t = self.next_token();
                    if t.kind == Tok::ObjEnd {
                        self.depth -= 1;
                        Value::Table(tbl)
                    } else {
                        let key = self.object_key(t)?;
                        stack.push(Ctx::Obj(tbl, key));
                        tok = self.next_token();
                        continue;
                    }
                }
                Tok::ArrBegin => {
                    self.descend()?;
                    let tbl = self.lua.create_table()?;
                    if let Some(mt) = &self.array_mt {
                        tbl.set_metatable(Some(mt.clone()));
                    }
                    let t = self.next_token();
                    if t.kind == Tok::ArrEnd {
                        self.depth -= 1;
                        Value::Table(tbl)
                    } else {
                        stack.push(Ctx::Arr(tbl, 1));
                        tok = t;
                        continue;
                    }
                }
                _ => return self.parse_error("value", &tok),
            };
            // attach the finished value to its containers, closing those that end
            loop {
                match stack.last_mut() {
                    None => return Ok(val),
                    Some(Ctx::Arr(tbl, i)) => {
                        tbl.raw_set(*i, val)?;
                        *i += 1;
                        let t = self.next_token();
                        if t.kind == Tok::ArrEnd {
                            self.depth -= 1;
                            val = match stack.pop() {
                                Some(Ctx::Arr(tbl, _)) | Some(Ctx::Obj(tbl, _)) => {
                                    Value::Table(tbl)
                                }
                                None => Value::Nil,
                            };
                            continue;
                        }
                        if t.kind != Tok::Comma {
                            return self.parse_error("comma or array end", &t);
                        }
                        tok = self.next_token();
                        break;
                    }
                    Some(Ctx::Obj(tbl, key)) => {
                        tbl.raw_set(key.clone(), val)?;
                        let t = self.next_token();
                        if t.kind == Tok::ObjEnd {
                            self.depth -= 1;
                            val = match stack.pop() {
                                Some(Ctx::Arr(tbl, _)) | Some(Ctx::Obj(tbl, _)) => {
                                    Value::Table(tbl)
                                }
                                None => Value::Nil,
                            };
                            continue;
                        }
                        if t.kind != Tok::Comma {
                            return self.parse_error("comma or object end", &t);
                        }
                        let t = self.next_token();
                        *key = self.object_key(t)?;
                        tok = self.next_token();
                        break;
                    }
                }
            }
        }
    }

    /// An object's key and the colon after it.
    fn object_key(&mut self, t: Token) -> Result<mlua::String, EncErr> {
        if t.kind != Tok::Str {
            return self.parse_error("object key string", &t);
        }
        let key = self.lua.create_string(&t.string)?;
        let c = self.next_token();
        if c.kind != Tok::Colon {
            return self.parse_error("colon", &c);
        }
        Ok(key)
    }
}

/// An open container while decoding: an array and its next index, or an object and the key
/// of the value being read.
enum Ctx {
    Arr(Table, i64),
    Obj(Table, mlua::String),
}

/// C's strtod on a NUL-terminated buffer: the value and the bytes used, or None when no
/// number could be read.
fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let ci = |i: usize, lit: &[u8]| {
        s.get(i..i + lit.len())
            .map(|x| x.eq_ignore_ascii_case(lit))
            .unwrap_or(false)
    };
    let mut i = 0;
    let neg = match at(0) {
        b'-' => {
            i = 1;
            true
        }
        b'+' => {
            i = 1;
            false
        }
        _ => false,
    };
    let sign = if neg { -1.0 } else { 1.0 };
    if ci(i, b"inf") {
        let used = if ci(i, b"infinity") { i + 8 } else { i + 3 };
        return Some((sign * f64::INFINITY, used));
    }
    if ci(i, b"nan") {
        let mut used = i + 3;
        if at(used) == b'(' {
            let mut j = used + 1;
            while at(j).is_ascii_alphanumeric() || at(j) == b'_' {
                j += 1;
            }
            if at(j) == b')' {
                used = j + 1;
            }
        }
        return Some((f64::NAN, used));
    }
    if at(i) == b'0' && (at(i + 1) | 0x20) == b'x' {
        let mut j = i + 2;
        let mut mant: f64 = 0.0;
        let mut digits = 0;
        let mut exp: i32 = 0;
        while let Some(d) = (at(j) as char).to_digit(16) {
            mant = mant * 16.0 + d as f64;
            digits += 1;
            j += 1;
        }
        if at(j) == b'.' {
            let mut k = j + 1;
            let mut frac = 0;
            while let Some(d) = (at(k) as char).to_digit(16) {
                mant = mant * 16.0 + d as f64;
                frac += 1;
                k += 1;
            }
            if digits + frac > 0 {
                digits += frac;
                exp -= 4 * frac;
                j = k;
            }
        }
        if digits == 0 {
            // "0x" with no hex digit: only the "0" is a number
            return Some((sign * 0.0, i + 1));
        }
        if (at(j) | 0x20) == b'p' {
            let mut k = j + 1;
            let eneg = match at(k) {
                b'-' => {
                    k += 1;
                    true
                }
                b'+' => {
                    k += 1;
                    false
                }
                _ => false,
            };
            let start = k;
            let mut e: i32 = 0;
            while at(k).is_ascii_digit() {
                e = e.saturating_mul(10).saturating_add((at(k) - b'0') as i32);
                k += 1;
            }
            if k > start {
                exp = exp.saturating_add(if eneg { -e } else { e });
                j = k;
            }
        }
        return Some((sign * mant * 2f64.powi(exp), j));
    }
    let start = i;
    let mut j = i;
    let mut digits = 0;
    while at(j).is_ascii_digit() {
        j += 1;
        digits += 1;
    }
    if at(j) == b'.' {
        let mut k = j + 1;
        while at(k).is_ascii_digit() {
            k += 1;
            digits += 1;
        }
        j = k;
    }
    if digits == 0 {
        return None;
    }
    if (at(j) | 0x20) == b'e' {
        let mut k = j + 1;
        if matches!(at(k), b'+' | b'-') {
            k += 1;
        }
        if at(k).is_ascii_digit() {
            while at(k).is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    let text = std::str::from_utf8(&s[start..j]).ok()?;
    // Rust wants a digit on each side of '.'
    let mut norm = String::with_capacity(text.len() + 2);
    if text.starts_with('.') {
        norm.push('0');
    }
    for (n, c) in text.char_indices() {
        norm.push(c);
        if c == '.' {
            let next = text.as_bytes().get(n + 1).copied().unwrap_or(b'e');
            if !next.is_ascii_digit() {
                norm.push('0');
            }
        }
    }
    let v: f64 = norm.parse().ok()?;
    Some((sign * v, j))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(code: &str) -> String {
        // as the worker VMs are made (with the debug library)
        let lua = unsafe { Lua::unsafe_new_with(mlua::StdLib::ALL, mlua::LuaOptions::default()) };
        install(&lua).expect("install");
        lua.load(code)
            .set_name("=t")
            .eval::<String>()
            .expect("eval")
    }

    #[test]
    fn g_format() {
        assert_eq!(fmt_g(0.1, 14), "0.1");
        assert_eq!(fmt_g(1.0 / 3.0, 14), "0.33333333333333");
        assert_eq!(fmt_g(1e20, 14), "1e+20");
        assert_eq!(fmt_g(123456789012345.0, 14), "1.2345678901234e+14");
        assert_eq!(fmt_g(0.0001, 14), "0.0001");
        assert_eq!(fmt_g(0.00001, 14), "1e-05");
        assert_eq!(fmt_g(3.0, 14), "3");
        assert_eq!(fmt_g(-0.0, 14), "-0");
        assert_eq!(fmt_g(1.23456, 3), "1.23");
        assert_eq!(fmt_g(2.0f64.powi(53), 14), "9.007199254741e+15");
    }

    #[test]
    fn encode_basics() {
        assert_eq!(
            run(r#"local c = require "cjson"
                return c.encode({1, 2, "a/b\n", true, c.null})"#),
            r#"[1,2,"a\/b\n",true,null]"#
        );
        assert_eq!(
            run(r#"local c = require "cjson" return c.encode({[3] = 1})"#),
            "[null,null,1]"
        );
        assert_eq!(
            run(r#"local c = require "cjson"
                local ok, e = pcall(c.encode, {[20] = 1}) return e"#),
            "Cannot serialise table: excessively sparse array"
        );
        assert_eq!(
            run(r#"local c = require "cjson.safe"
                local v, e = c.encode(function() end) return tostring(v) .. " " .. e"#),
            "nil Cannot serialise function: type not supported"
        );
    }

    #[test]
    fn openresty_extensions() {
        assert_eq!(
            run(r#"local c = require "cjson"
                return c.encode({a = c.empty_array, b = setmetatable({}, c.empty_array_mt),
                    c = setmetatable({1, 2}, c.array_mt)}):len() .. ""
            "#),
            "25"
        );
        assert_eq!(
            run(r#"local c = require "cjson"
                return c.encode(c.empty_array) .. c.encode(setmetatable({}, c.empty_array_mt))
                  .. c.encode(setmetatable({}, c.array_mt)) .. c.encode({})"#),
            "[][][]{}"
        );
        // array_mt uses the length operator, so holes after #t are dropped and string keys
        // are ignored
        assert_eq!(
            run(r#"local c = require "cjson"
                local t = setmetatable({1, 2, 3}, c.array_mt) t.x = 1
                return c.encode(t)"#),
            "[1,2,3]"
        );
        assert_eq!(
            run(r#"local c = require "cjson"
                c.decode_array_with_array_mt(true)
                local t = c.decode('[]')
                return tostring(getmetatable(t) == c.array_mt) .. c.encode(t)
                  .. c.encode(c.decode('{"a":[]}'))"#),
            r#"true[]{"a":[]}"#
        );
        assert_eq!(
            run(r#"local c = require "cjson"
                local r = tostring(c.encode_escape_forward_slash(false))
                return r .. c.encode("a/b") .. tostring(c.encode_escape_forward_slash(true))
                  .. c.encode("a/b")"#),
            r#"false"a/b"true"a\/b""#
        );
        assert_eq!(
            run(r#"local c = require "cjson"
                c.encode_empty_table_as_object(false)
                return c.encode({a = {}}):sub(1) .. c.encode({})"#),
            r#"{"a":[]}[]"#
        );
        assert_eq!(
            run(r#"local c = require "cjson"
                return c._NAME .. " " .. c._VERSION .. " "
                  .. tostring(c.encode_number_precision(16)) .. " " .. c.encode(1 / 3)"#),
            "cjson 2.1.0.10 16 0.3333333333333333"
        );
    }

    #[test]
    fn deep_nesting_and_names() {
        // non-recursive: a depth far beyond a small stack's reach fails cleanly
        assert_eq!(
            run(r#"local c = require "cjson"
                c.encode_max_depth(100000) c.decode_max_depth(100000)
                local t = {} local cur = t
                for i = 1, 5000 do cur[1] = {} cur = cur[1] end
                local _, e1 = pcall(c.encode, t)
                local _, e2 = pcall(c.decode, string.rep("[", 5000))
                return e1 .. "|" .. e2"#),
            "Cannot serialise, excessive nesting (2601)|Found too many nested data \
             structures (2601) at character 2601"
        );
        assert_eq!(
            run(r#"local c = require "cjson"
                local t = {} local cur = t
                for i = 1, 999 do cur[1] = {} cur = cur[1] end
                return #c.encode(t) .. " " .. #c.encode(c.decode(c.encode(t)))"#),
            "2000 2000"
        );
        // luaL_argerror's naming: the field name for a plain call, '?' after a tail call
        assert_eq!(
            run(r#"local c = require "cjson"
                local _, e1 = pcall(function() local r = c.encode() return r end)
                local _, e2 = pcall(function() return c.encode() end)
                local _, e3 = pcall(function() local r = c.encode_max_depth(0) return r end)
                return e1 .. "|" .. e2 .. "|" .. e3"#),
            "t:2: bad argument #1 to 'encode' (expected 1 argument)|bad argument #1 to '?' \
             (expected 1 argument)|t:4: bad argument #1 to 'encode_max_depth' (expected integer \
             between 1 and 2147483647)"
        );
        // empty_array_mt makes any non-array table "[]"; -0 and tiny numbers survive
        assert_eq!(
            run(r#"local c = require "cjson"
                return c.encode(setmetatable({x = 1}, c.empty_array_mt)) .. " "
                  .. c.encode({-0.0, 1e-300}) .. " " .. c.encode(-0.0) .. " "
                  .. tostring(c.encode_number_precision(16)) .. " "
                  .. c.encode({1 - 2^-53, 1, 0}) .. " " .. c.encode(1 - 2^-53)"#),
            "[] [-0,1e-300] -0 16 [0.9999999999999999,1,0] 0.9999999999999999"
        );
    }

    #[test]
    fn decode_basics() {
        assert_eq!(
            run(r#"local c = require "cjson"
                local v = c.decode([[{"a":[1,2.5,"x\u00e9\ud83d\ude00"],"b":null}]])
                return v.a[1] .. " " .. v.a[2] .. " " .. v.a[3] .. " "
                  .. tostring(v.b == c.null)"#),
            "1 2.5 x\u{e9}\u{1F600} true"
        );
        assert_eq!(
            run(r#"local c = require "cjson.safe"
                local a, e = c.decode('[1,') local _, e2 = c.decode('{"a" 1}')
                local _, e3 = c.decode('"\\q"') local _, e4 = c.decode('')
                return e .. "|" .. e2 .. "|" .. e3 .. "|" .. e4"#),
            "Expected value but found T_END at character 4|Expected colon but found \
             T_NUMBER at character 6|Expected value but found invalid escape code at \
             character 2|Expected value but found T_END at character 1"
        );
        assert_eq!(
            run(r#"local c = require "cjson.safe"
                c.decode_max_depth(2)
                local _, e = c.decode('[[[1]]]') return e"#),
            "Found too many nested data structures (3) at character 3"
        );
    }
}
