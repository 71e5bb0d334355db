//! `ngx.re.*` on PCRE2 (nginx: ngx_http_lua_regex.c's compile/exec, and resty.core.regex for
//! the Lua side, mirrored in [`NGX_RE`]: match, find, gmatch, sub, gsub with lua-nginx-module's
//! options and return values).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use mlua::{Lua, MultiValue, Table, Value};
use parser::Directive;

use super::vm::{ApiResult, Vm};

mod pcre;

/// Compiled regexes by (pattern, options), per worker (nginx: the `o` option's cache,
/// `lua_regex_cache_max_entries` 1024).
type Cache = HashMap<(Vec<u8>, String), Rc<pcre::Code>>;

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(HashMap::new());
}

const CACHE_MAX: usize = 1024;

/// nginx: ngx_conf_set_num_slot for `lua_regex_match_limit` (validated by the parse pass):
/// the limit, 0 for PCRE's default.
pub(crate) fn match_limit(d: &Directive) -> u64 {
    d.args
        .first()
        .and_then(|a| std::str::from_utf8(a).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The `J` option (PCRE_JAVASCRIPT_COMPAT): `\uHHHH` is a code point, written here as
/// PCRE2's `\x{HHHH}`.
fn javascript_escapes(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let hex = b.get(i + 2..i + 6);
            if b[i + 1] == b'u' && hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                out.push_str("\\x{");
                out.push_str(&src[i + 2..i + 6]);
                out.push('}');
                i += 6;
                continue;
            }
            out.push_str(&src[i..i + 2]);
            i += 2;
            continue;
        }
        let ch = src[i..].chars().next().unwrap_or('\0');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

/// PCRE2's compile error text in PCRE1's words (the reference links libpcre 8.39), for the
/// errors both report for the same patterns (texts compared code by code).
fn pcre1_message(msg: &str) -> &str {
    if msg.starts_with("UTF-8 error:") {
        return "invalid UTF-8 string";
    }
    match msg {
        "missing closing parenthesis" => "missing )",
        "quantifier does not follow a repeatable item" => "nothing to repeat",
        "unmatched closing parenthesis" => "unmatched parentheses",
        "escape sequence is invalid in character class" => {
            "invalid escape sequence in character class"
        }
        "missing ) after (?# comment" => "missing ) after comment",
        "failed to allocate heap memory" => "failed to get memory",
        "conditional subpattern contains more than two branches" => {
            "conditional group contains more than two branches"
        }
        "digit expected after (?+ or (?-" => "digit expected after (?+",
        "character code point value in \\x{} or \\o{} is too large" => {
            "character value in \\x{} or \\o{} is too large"
        }
        "\\C is not allowed in a lookbehind assertion in UTF-8 mode" => {
            "\\C not allowed in lookbehind assertion"
        }
        "PCRE2 does not support \\F, \\L, \\l, \\N{name}, \\U, or \\u" => {
            "PCRE does not support \\L, \\l, \\N{name}, \\U, or \\u"
        }
        "number after (?C is greater than 255" => "number after (?C is > 255",
        "closing parenthesis for (?C expected" => "closing ) for (?C expected",
        "syntax error in subpattern name (missing terminator?)" => {
            "syntax error in subpattern name (missing terminator)"
        }
        "two named subpatterns have the same name (PCRE2_DUPNAMES not set)" => {
            "two named subpatterns have the same name"
        }
        "subpattern name must start with a non-digit" => "group name must start with a non-digit",
        "unknown property after \\P or \\p" => "unknown property name after \\P or \\p",
        "subpattern name is too long (maximum 32 code units)" => {
            "subpattern name is too long (maximum 32 characters)"
        }
        "DEFINE subpattern contains more than one branch" => {
            "DEFINE group contains more than one branch"
        }
        "subpattern number is too big" => "number is too big",
        "\\c must be followed by a printable ASCII character" => {
            "\\c must be followed by an ASCII character"
        }
        "digits missing in \\x{} or \\o{} or \\N{U+}" => "digits missing in \\x{} or \\o{}",
        "character code point value in \\u.... sequence is too large" => {
            "character value in \\u.... sequence is too large"
        }
        "(?R (recursive pattern call) must be followed by a closing parenthesis" => {
            "(?R or (?[+-]digits must be followed by )"
        }
        m => m,
    }
}

/// nginx: ngx_http_lua_ffi_compile_regex's debug line for the `j` option (on the cycle's log).
fn jit_debug(c: &pcre::Code, opts: &str) {
    if opts.contains('j') && crate::http::errlog::wants(crate::log::Level::Debug) {
        crate::http::errlog::write(
            crate::log::Level::Debug,
            &format!("pcre JIT compiling result: {}", u8::from(c.jitted())),
        );
    }
}

/// nginx: ngx_http_lua_ffi_compile_regex (`a` is PCRE_ANCHORED, `D` PCRE_DUPNAMES, `j`
/// JIT compiling).
fn compile(pattern: &[u8], opts: &str, again: bool) -> Result<Rc<pcre::Code>, Vec<u8>> {
    let key = (pattern.to_vec(), opts.to_string());
    if let Some(c) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        // without `o` the reference compiles (and logs) again on each call
        if !opts.contains('o') && !again {
            jit_debug(&c, opts);
        }
        return Ok(c);
    }
    // the pattern's bytes as given (PCRE takes any byte outside UTF mode)
    let src = if opts.contains('J') {
        javascript_escapes(&String::from_utf8_lossy(pattern)).into_bytes()
    } else {
        pattern.to_vec()
    };
    let mut options = 0;
    for (flag, bit) in [
        ('i', pcre::PCRE2_CASELESS),
        ('s', pcre::PCRE2_DOTALL),
        ('m', pcre::PCRE2_MULTILINE),
        ('x', pcre::PCRE2_EXTENDED),
        ('u', pcre::PCRE2_UTF),
        ('U', pcre::PCRE2_UTF),
        ('a', pcre::PCRE2_ANCHORED),
        ('D', pcre::PCRE2_DUPNAMES),
    ] {
        if opts.contains(flag) {
            options |= bit;
        }
    }
    let code = pcre::Code::new(&src, options, opts.contains('j')).map_err(|e| {
        // nginx: ngx_http_lua_regex_compile's text, the pattern's bytes as given, cut to
        // the 127 bytes of resty.core's error buffer (MAX_ERR_MSG_LEN 128 with its NUL)
        let mut msg = b"pcre_compile() failed: ".to_vec();
        msg.extend_from_slice(pcre1_message(&e.message).as_bytes());
        msg.extend_from_slice(b" in \"");
        msg.extend_from_slice(pattern);
        msg.push(b'"');
        if let Some(rest) = pattern.get(e.offset..).filter(|r| !r.is_empty()) {
            msg.extend_from_slice(b" at \"");
            msg.extend_from_slice(rest);
            msg.push(b'"');
        }
        msg.truncate(127);
        msg
    })?;
    let c = Rc::new(code);
    jit_debug(&c, opts);
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, c.clone());
    });
    Ok(c)
}

/// PCRE2's pcre2_match error `rc` as PCRE1's pcre_exec would have returned it (the
/// reference's ngx_lua links libpcre; resty.core shows the number).
fn pcre1_code(rc: i32) -> i32 {
    match rc {
        // PCRE2_ERROR_UTF8_ERR1..21 -> PCRE_ERROR_BADUTF8
        -23..=-3 => -10,
        // PCRE2_ERROR_BADOFFSET -> PCRE_ERROR_BADOFFSET
        -33 => -24,
        // PCRE2_ERROR_BADOPTION -> PCRE_ERROR_BADOPTION
        -34 => -3,
        // PCRE2_ERROR_BADUTFOFFSET -> PCRE_ERROR_BADUTF8_OFFSET
        -36 => -11,
        // PCRE2_ERROR_INTERNAL -> PCRE_ERROR_INTERNAL
        -44 => -14,
        // PCRE2_ERROR_JIT_STACKLIMIT -> PCRE_ERROR_JIT_STACKLIMIT
        -46 => -27,
        // PCRE2_ERROR_MATCHLIMIT -> PCRE_ERROR_MATCHLIMIT
        -47 => -8,
        // PCRE2_ERROR_NOMEMORY, PCRE2_ERROR_HEAPLIMIT -> PCRE_ERROR_NOMEMORY
        -48 | -63 => -6,
        // PCRE2_ERROR_NULL -> PCRE_ERROR_NULL
        -51 => -2,
        // PCRE2_ERROR_RECURSELOOP -> PCRE_ERROR_RECURSELOOP
        -52 => -26,
        // PCRE2_ERROR_DEPTHLIMIT -> PCRE_ERROR_RECURSIONLIMIT
        -53 => -21,
        // PCRE2_ERROR_DFA_RECURSE, _UCOND, _UITEM, _WSSIZE -> PCRE_ERROR_DFA_*
        -39 => -20,
        -40 => -17,
        -42 => -16,
        -43 => -19,
        other => other,
    }
}

/// `exec(regex, opts, subj, pos)`: `false, err` on a compile or match error, `nil` when no
/// match, else the offsets table `{s0, e0, s1, e1, ...}` (-1 for unset groups), the names
/// table (`name -> index`, or `name -> {indexes}` with `D`) and the number of groups.
/// A true fifth argument marks a later step of one gmatch/sub/gsub call.
/// `exec(regex, opts)` only compiles: `true` or `false, err`. `limit` is
/// `lua_regex_match_limit` (0: PCRE's default).
fn exec(lua: &Lua, args: MultiValue, limit: u32) -> ApiResult {
    let get = |i: usize| args.get(i).cloned().unwrap_or(Value::Nil);
    let pattern = match get(0) {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Nil => Vec::new(),
        other => lua
            .coerce_string(other)
            .ok()
            .flatten()
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default(),
    };
    let opts = match get(1) {
        Value::String(s) => s.to_string_lossy(),
        _ => String::new(),
    };
    let err = |msg: &[u8]| -> ApiResult {
        Ok(MultiValue::from_vec(vec![
            Value::Boolean(false),
            Value::String(lua.create_string(msg)?),
        ]))
    };
    // a later step of gmatch/sub/gsub: the reference compiled the regex only once
    let again = matches!(get(4), Value::Boolean(true));
    let c = match compile(&pattern, &opts, again) {
        Ok(c) => c,
        Err(e) => return err(&e),
    };
    let Value::String(subj) = get(2) else {
        return Ok(MultiValue::from_vec(vec![Value::Boolean(true)]));
    };
    let subj = subj.as_bytes();
    let pos = match get(3) {
        Value::Integer(i) => i.max(0) as usize,
        Value::Number(n) => n.max(0.0) as usize,
        _ => 0,
    };
    if pos > subj.len() {
        return Ok(MultiValue::new());
    }
    // nginx: ngx_http_lua_ffi_exec_regex; the DFA mode (`d`) reports the whole match only
    // and takes no match limit.
    let dfa = opts.contains('d');
    let mut groups = Vec::with_capacity(c.captures() + 1);
    let res = if dfa {
        c.exec_dfa(&subj, pos, &mut groups)
    } else {
        c.exec(&subj, pos, limit, &mut groups)
    };
    match res {
        Ok(true) => {}
        Ok(false) => return Ok(MultiValue::new()),
        Err(rc) => return err(format!("pcre_exec() failed: {}", pcre1_code(rc)).as_bytes()),
    }
    let offs = lua.create_table()?;
    for (i, g) in groups.iter().enumerate() {
        let (s, e) = g.map_or((-1, -1), |(s, e)| (s as i64, e as i64));
        offs.raw_set(2 * i + 1, s)?;
        offs.raw_set(2 * i + 2, e)?;
    }
    let names: Value = if c.names().is_empty() {
        Value::Nil
    } else {
        let t: Table = lua.create_table()?;
        let dup = opts.contains('D');
        for (name, idx) in c.names() {
            if dup {
                let list: Table = match t.raw_get::<Value>(name.as_str())? {
                    Value::Table(l) => l,
                    _ => {
                        let l = lua.create_table()?;
                        t.raw_set(name.as_str(), l.clone())?;
                        l
                    }
                };
                list.raw_push(*idx as i64)?;
            } else {
                t.raw_set(name.as_str(), *idx as i64)?;
            }
        }
        Value::Table(t)
    };
    let ncap = if dfa { 0 } else { c.captures() };
    Ok(MultiValue::from_vec(vec![
        Value::Table(offs),
        names,
        Value::Integer(ncap as i64),
    ]))
}

/// Installs `ngx.re` (and `require "ngx.re"`-free use) into `ngx`.
pub(crate) fn install(vm: &Rc<Vm>, ngx: &Table) -> mlua::Result<()> {
    // PCRE2 takes a 32-bit limit; more is as good as none
    let limit = u32::try_from(vm.conf.regex_match_limit).unwrap_or(u32::MAX);
    let f = vm.lua.create_function(move |lua, args: MultiValue| {
        exec(lua, args, limit).map_err(|e| mlua::Error::RuntimeError(e.0))
    })?;
    // errors logged without a request context (nginx logs them on the cycle's log)
    let log = vm.lua.create_function(|_, msg: mlua::String| {
        crate::http::errlog::write(crate::log::Level::Error, &msg.to_string_lossy());
        Ok(())
    })?;
    let build: mlua::Function = vm.lua.load(NGX_RE).set_name("=ngx.re").into_function()?;
    let re: Table = build.call((f, log))?;
    ngx.set("re", re)
}

/// The Lua side (resty.core.regex's logic over `exec`).
const NGX_RE: &str = r#"
local exec, rawlog = ...
local sub, byte, find, fmt, concat = string.sub, string.byte, string.find, string.format, table.concat
local tostring, type, error, setmetatable = tostring, type, error, setmetatable
local re = {}

local function parse(opts)
  if opts == nil then return "" end
  for i = 1, #opts do
    local c = sub(opts, i, i)
    if not find("ojimsuUxdaDJ", c, 1, true) then
      error(fmt('unknown flag "%s" (flags "%s")', c, opts), 3)
    end
  end
  return opts
end

local function collect(subj, caps, names, ncap, opts, res)
  res = res or {}
  for i = 0, ncap do
    local s, e = caps[2 * i + 1], caps[2 * i + 2]
    if s and s >= 0 then res[i] = sub(subj, s + 1, e) else res[i] = false end
  end
  if names then
    local dup = find(opts, "D", 1, true)
    for name, idx in pairs(names) do
      if dup then
        local list
        for _, j in ipairs(idx) do
          local v = res[j]
          if v then list = list or {} list[#list + 1] = v end
        end
        res[name] = list
      else
        res[name] = res[idx]
      end
    end
  end
  return res
end

local function start_pos(ctx)
  if not ctx then return 0 end
  local pos = ctx.pos
  if not pos or pos <= 0 then return 0 end
  return pos - 1
end

function re.match(subj, regex, opts, ctx, res)
  subj = tostring(subj)
  opts = parse(opts)
  local caps, names, ncap = exec(regex, opts, subj, start_pos(ctx))
  if caps == false then return nil, names end
  if caps == nil then return nil end
  if ctx then ctx.pos = caps[2] + 1 end
  return collect(subj, caps, names, ncap, opts, res)
end

function re.find(subj, regex, opts, ctx, nth)
  subj = tostring(subj)
  opts = parse(opts)
  local caps, names, ncap = exec(regex, opts, subj, start_pos(ctx))
  if caps == false then return nil, nil, names end
  if caps == nil then return nil end
  if ctx then ctx.pos = caps[2] + 1 end
  if not nth or nth < 0 then nth = 0 end
  if nth > ncap then return nil, nil, "nth out of bound" end
  local s, e = caps[2 * nth + 1], caps[2 * nth + 2]
  if not s or s < 0 or e < 0 then return nil, nil end
  return s + 1, e
end

local gmatch_mt = {
  __call = function(self)
    local pos = self._pos
    if not pos then return nil end
    local subj = self._subj
    local caps, names, ncap = exec(self._regex, self._opts, subj, pos, true)
    if caps == false then self._pos = nil return nil, names end
    if caps == nil then self._pos = nil return nil end
    local cp = caps[2]
    if cp == caps[1] then
      cp = cp + 1
      if cp > #subj then
        self._pos = nil
        return collect(subj, caps, names, ncap, self._opts)
      end
    end
    self._pos = cp
    return collect(subj, caps, names, ncap, self._opts)
  end
}

function re.gmatch(subj, regex, opts)
  subj = tostring(subj)
  opts = parse(opts)
  local ok, err = exec(regex, opts)
  if not ok then return nil, err end
  return setmetatable({ _subj = subj, _regex = regex, _opts = opts, _pos = 0 }, gmatch_mt)
end

-- nginx: ngx_http_lua_compile_complex_value for the replacement: $N, ${N}, $$.
local function compile_tpl(s)
  local parts, i, n = {}, 1, #s
  local function invalid()
    rawlog('lua script: invalid capturing variable name found in "' .. s .. '"')
  end
  while i <= n do
    if sub(s, i, i) == "$" then
      i = i + 1
      if i > n then invalid() return nil end
      local c = sub(s, i, i)
      if c == "$" then
        parts[#parts + 1] = "$"
        i = i + 1
      else
        local num_var = find(c, "^%d") ~= nil
        local bracket = false
        if c == "{" then
          bracket = true
          i = i + 1
          if i > n then invalid() return nil end
          num_var = find(sub(s, i, i), "^%d") ~= nil
        end
        local start, len, num = i, 0, 0
        while i <= n do
          local ch = sub(s, i, i)
          if ch == "}" and bracket then
            i = i + 1
            bracket = false
            break
          end
          if num_var then
            if not find(ch, "^%d") then break end
            num = num * 10 + tonumber(ch)
          elseif not find(ch, "^[%w_]") then
            break
          end
          i = i + 1
          len = len + 1
        end
        local name = sub(s, start, start + len - 1)
        if bracket then
          rawlog('the closing bracket in "' .. name .. '" variable is missing')
          return nil
        end
        if len == 0 then invalid() return nil end
        if not num_var then
          rawlog('attempt to use named capturing variable "' .. name .. '" (named captures not supported yet)')
          return nil
        end
        parts[#parts + 1] = num
      end
    else
      local j = find(s, "$", i, true) or n + 1
      parts[#parts + 1] = sub(s, i, j - 1)
      i = j
    end
  end
  return parts
end

local function subst(subj, regex, replace, opts, global)
  local rtype = type(replace)
  local tpl
  opts = parse(opts)
  if rtype == "string" or rtype == "number" or rtype == "function" then
    local ok, err = exec(regex, opts)
    if not ok then return nil, nil, err end
  end
  if rtype == "string" or rtype == "number" then
    tpl = compile_tpl(tostring(replace))
    if not tpl then
      return nil, nil, "failed to compile the replacement template"
    end
  elseif rtype ~= "function" then
    error("bad argument #3 to '" .. (global and "gsub" or "sub") .. "' (string, number, or function expected, got " .. rtype .. ")", 3)
  end
  subj = tostring(subj)
  local len = #subj
  local out, count, pos, cp = {}, 0, 0, 0
  while true do
    local caps, names, ncap = exec(regex, opts, subj, pos, true)
    if caps == false then return nil, nil, names end
    if caps == nil then break end
    count = count + 1
    out[#out + 1] = sub(subj, cp + 1, caps[1])
    if tpl then
      for _, p in ipairs(tpl) do
        if type(p) == "number" then
          local s, e = caps[2 * p + 1], caps[2 * p + 2]
          if s and s >= 0 then out[#out + 1] = sub(subj, s + 1, e) end
        else
          out[#out + 1] = p
        end
      end
    else
      out[#out + 1] = tostring(replace(collect(subj, caps, names, ncap, opts)))
    end
    cp = caps[2]
    pos = cp
    if pos == caps[1] then
      pos = pos + 1
      if pos > len then break end
    end
    if not global then break end
  end
  if count == 0 then return subj, 0 end
  out[#out + 1] = sub(subj, cp + 1)
  return concat(out), count
end

function re.sub(subj, regex, replace, opts) return subst(subj, regex, replace, opts, false) end
function re.gsub(subj, regex, replace, opts) return subst(subj, regex, replace, opts, true) end

return re
"#;

#[cfg(test)]
mod tests {
    use super::{compile, pcre1_code};

    fn run(pattern: &str, opts: &str, subj: &str, limit: u32) -> Result<Option<String>, i32> {
        let c = compile(pattern.as_bytes(), opts, false).map_err(|_| 0)?;
        let mut groups = Vec::new();
        match c.exec(subj.as_bytes(), 0, limit, &mut groups) {
            Ok(true) => Ok(groups
                .first()
                .copied()
                .flatten()
                .map(|(s, e)| subj[s..e].to_string())),
            Ok(false) => Ok(None),
            Err(rc) => Err(pcre1_code(rc)),
        }
    }

    #[test]
    fn match_limit() {
        let s = format!("{}b", "a".repeat(25));
        // ~1M steps: under PCRE's default, over 1000, with and without the JIT
        assert_eq!(run("^(a|aa)+$", "", &s, 0), Ok(None));
        assert_eq!(run("^(a|aa)+$", "", &s, 1000), Err(-8));
        assert_eq!(run("^(a|aa)+$", "j", &s, 1000), Err(-8));
        assert_eq!(run("(\\d+)", "", "abc123", 1000), Ok(Some("123".into())));
        // no limit for patterns PCRE1's study finds nothing for (may match empty, anchored)
        assert_eq!(run("^(a|a)*$", "", "aaaa", 1), Ok(Some("aaaa".into())));
        assert_eq!(run("b+", "", "aaab", 1), Err(-8));
    }

    #[test]
    fn names_groups_and_errors() {
        let c = compile(b"(?<y>\\d+)-(x)?(?<m>\\d+)", "", false).ok();
        let names = c.as_ref().map(|c| c.names().to_vec());
        assert_eq!(
            names,
            Some(vec![("m".to_string(), 3), ("y".to_string(), 1)])
        );
        let mut groups = Vec::new();
        let hit = c.map(|c| c.exec(b"12-34", 0, 0, &mut groups));
        assert_eq!(hit, Some(Ok(true)));
        assert_eq!(groups, vec![Some((0, 5)), Some((0, 2)), None, Some((3, 5))]);
        assert_eq!(
            compile(b"(abc", "", false).err().as_deref(),
            Some(&b"pcre_compile() failed: missing ) in \"(abc\""[..])
        );
        // a bad UTF-8 subject with `u`: PCRE_ERROR_BADUTF8
        let c = compile(b"a", "u", false).ok();
        let rc = c.map(|c| c.exec(b"\xffa", 0, 0, &mut groups).map_err(pcre1_code));
        assert_eq!(rc, Some(Err(-10)));
    }
}
