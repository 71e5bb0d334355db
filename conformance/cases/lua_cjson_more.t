# The built-in cjson / cjson.safe: number formats, escaping, key types, sparse arrays,
# depth limits, unsupported types, decode errors and numbers, safe mode, new().
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: number formats (%.14g)
--- config
    location = /t {
        content_by_lua_block {
            local cjson = require "cjson"
            ngx.say(cjson.encode({0.1, 1/3, 1e20, 123456789012345, 2^53, -0.5, 1e-5, 0.0001, 100, 3.0, 1e300, 255/256, -0.0, 1e-20, -1e-300, 2^-60}))
            ngx.say(cjson.encode(-0.0), " ", cjson.encode(1e-20), " ", cjson.encode({a = -1e-200}), " ", cjson.encode(0))
        }
    }
--- request
GET /t
--- response_body
[0.1,0.33333333333333,1e+20,1.2345678901234e+14,9.007199254741e+15,-0.5,1e-05,0.0001,100,3,1e+300,0.99609375,-0,1e-20,-1e-300,8.673617379884e-19]
-0 1e-20 {"a":-1e-200} 0



=== TEST 2: encode_number_precision
--- config
    location = /t {
        content_by_lua_block {
            local cjson = require "cjson"
            ngx.say(cjson.encode_number_precision())
            ngx.say(cjson.encode_number_precision(3))
            ngx.say(cjson.encode({3.14159, 1234.5, 0.000123456}))
            local ok = pcall(function() return cjson.encode_number_precision(0) end)
            ngx.say(ok)
            local ok, err = pcall(function() return cjson.encode_number_precision("x") end)
            ngx.say(err)
        }
    }
--- request
GET /t
--- response_body
14
3
[3.14,1.23e+03,0.000123]
false
bad argument #1 to '?' (number expected, got string)



=== TEST 3: string escaping
--- config
    location = /t {
        content_by_lua_block {
            local cjson = require "cjson"
            ngx.say(cjson.encode("\"\\/\b\f\n\r\t\1\31\127 é €"))
            ngx.say(cjson.encode({["a/b"] = "c\0d"}))
        }
    }
--- request
GET /t
--- response_body
"\"\\\/\b\f\n\r\t\u0001\u001f\u007f é €"
{"a\/b":"c\u0000d"}



=== TEST 4: key types
--- config
    location = /t {
        content_by_lua_block {
            local cjson = require "cjson"
            ngx.say(cjson.encode({[1.5] = "a"}))
            ngx.say(cjson.encode({[0] = 1}))
            ngx.say(cjson.encode({[-1] = 1}))
            ngx.say(cjson.encode({[1e20] = 1}))
            ngx.say(select(2, pcall(cjson.encode, {[true] = 1})))
            ngx.say(select(2, pcall(cjson.encode, {[{}] = 1})))
        }
    }
--- request
GET /t
--- response_body
{"1.5":"a"}
{"0":1}
{"-1":1}
{"1e+20":1}
Cannot serialise boolean: table key must be a number or string
Cannot serialise table: table key must be a number or string



=== TEST 5: arrays and sparse arrays
--- config
    location = /t {
        content_by_lua_block {
            local cjson = require "cjson"
            ngx.say(cjson.encode({[3] = 1}))
            ngx.say(cjson.encode({1, 2, [4] = 4}))
            ngx.say(cjson.encode({[10] = 1}))
            ngx.say(select(2, pcall(cjson.encode, {[11] = 1})))
            ngx.say(select(2, pcall(cjson.encode, {a = {[1000] = true}})))
            ngx.say(cjson.encode_sparse_array())
            local c2 = cjson.new()
            ngx.say(c2.encode_sparse_array(true))
            ngx.say(c2.encode({[11] = 1}))
            ngx.say(c2.encode_sparse_array(false, 0))
            ngx.say(#c2.encode({[100] = 1}))
            ngx.say(c2.encode_sparse_array(nil, 1, 2))
            ngx.say(select(2, pcall(c2.encode, {1, 2, [4] = 4})))
            ngx.say(select(2, pcall(function() return c2.encode_sparse_array(1) end)))
            ngx.say(select(2, pcall(function() return c2.encode_sparse_array("maybe") end)))
            ngx.say(select(2, pcall(function() return c2.encode_sparse_array(true, -1) end)))
            ngx.say(select(2, pcall(function() return c2.encode_sparse_array(true, 1, 1, 1) end)))
            ngx.say(cjson.encode({[2] = 1}))
        }
    }
--- request
GET /t
--- response_body
[null,null,1]
[1,2,null,4]
[null,null,null,null,null,null,null,null,null,1]
Cannot serialise table: excessively sparse array
Cannot serialise table: excessively sparse array
false210
true210
{"11":1}
false010
498
false12
Cannot serialise table: excessively sparse array
bad argument #1 to '?' (invalid option '1')
bad argument #1 to '?' (invalid option 'maybe')
bad argument #1 to '?' (expected integer between 0 and 2147483647)
bad argument #4 to '?' (found too many arguments)
[null,1]



=== TEST 6: encode depth limits
--- config
    location = /t {
        content_by_lua_block {
            local cjson = require "cjson"
            local t = {}
            local cur = t
            for i = 1, 1000 do cur[1] = {} cur = cur[1] end
            ngx.say(select(2, pcall(cjson.encode, t)))
            t = {}
            cur = t
            for i = 1, 999 do cur[1] = {} cur = cur[1] end
            ngx.say(#cjson.encode(t))
            local c = cjson.new()
            ngx.say(c.encode_max_depth(2))
            ngx.say(c.encode({{1}}))
            ngx.say(select(2, pcall(c.encode, {{{}}})))
            ngx.say(select(2, pcall(c.encode, {a = {b = {}}})))
            local r = {}
            r[1] = r
            ngx.say(select(2, pcall(cjson.encode, r)))
        }
    }
--- request
GET /t
--- response_body
Cannot serialise, excessive nesting (1001)
2000
2
[[1]]
Cannot serialise, excessive nesting (3)
Cannot serialise, excessive nesting (3)
Cannot serialise, excessive nesting (1001)



=== TEST 7: unsupported types and invalid numbers
--- config
    location = /t {
        content_by_lua_block {
            local cjson = require "cjson"
            ngx.say(select(2, pcall(cjson.encode, function() end)))
            ngx.say(select(2, pcall(cjson.encode, {coroutine.create(function() end)})))
            ngx.say(select(2, pcall(cjson.encode, {a = print})))
            local c = cjson.new()
            ngx.say(c.encode_invalid_numbers())
            ngx.say(c.encode_invalid_numbers("null"))
            ngx.say(c.encode({1/0, -1/0, 0/0, 1}))
            ngx.say(c.encode_invalid_numbers(false))
            ngx.say(cjson.encode(nil), " ", cjson.encode(true), " ", cjson.encode(ngx.null))
            ngx.say(tostring(cjson.null == ngx.null), " ", type(cjson.null))
            ngx.say(select(2, pcall(function() return cjson.encode() end)))
            ngx.say(select(2, pcall(function() return cjson.encode(1, 2) end)))
        }
    }
--- request
GET /t
--- response_body
Cannot serialise function: type not supported
Cannot serialise thread: type not supported
Cannot serialise function: type not supported
false
null
[null,null,null,1]
false
null true null
true userdata
bad argument #1 to '?' (expected 1 argument)
bad argument #1 to '?' (expected 1 argument)



=== TEST 8: decode errors
--- config
    location = /t {
        content_by_lua_block {
            local safe = require "cjson.safe"
            local inputs = {"", "   ", "[1,]", '{"a":1,}', '{"a" 1}', "[1 2]", "{1:2}",
                "tru", '"abc', [["\q"]], [["\u12"]], [["\ud800"]], [["\udc00\u0041"]],
                [["\ud800\u0041"]], "[1]x", "nul", "-", "1e", "[", "{", '{"a":}', "]",
                "{}}", "[1,2", "  @", '{"a":1 "b":2}', "[true false]", "--1", "1.5.5"}
            for i, j in ipairs(inputs) do
                local v, err = safe.decode(j)
                ngx.say(i, ": ", tostring(v), " ", err)
            end
        }
    }
--- request
GET /t
--- response_body
1: nil Expected value but found T_END at character 1
2: nil Expected value but found T_END at character 4
3: nil Expected value but found T_ARR_END at character 4
4: nil Expected object key string but found T_OBJ_END at character 8
5: nil Expected colon but found T_NUMBER at character 6
6: nil Expected comma or array end but found T_NUMBER at character 4
7: nil Expected object key string but found T_NUMBER at character 2
8: nil Expected value but found invalid token at character 1
9: nil Expected value but found unexpected end of string at character 5
10: nil Expected value but found invalid escape code at character 2
11: nil Expected value but found invalid unicode escape code at character 2
12: nil Expected value but found invalid unicode escape code at character 2
13: nil Expected value but found invalid unicode escape code at character 2
14: nil Expected value but found invalid unicode escape code at character 2
15: nil Expected the end but found invalid token at character 4
16: nil Expected value but found invalid token at character 1
17: nil Expected value but found invalid number at character 1
18: nil Expected the end but found invalid token at character 2
19: nil Expected value but found T_END at character 2
20: nil Expected object key string but found T_END at character 2
21: nil Expected value but found T_OBJ_END at character 6
22: nil Expected value but found T_ARR_END at character 1
23: nil Expected the end but found T_OBJ_END at character 3
24: nil Expected comma or array end but found T_END at character 5
25: nil Expected value but found invalid token at character 3
26: nil Expected comma or object end but found T_STRING at character 8
27: nil Expected comma or array end but found T_BOOLEAN at character 7
28: nil Expected value but found invalid number at character 1
29: nil Expected the end but found invalid token at character 4



=== TEST 9: decode numbers and invalid numbers
--- config
    location = /t {
        content_by_lua_block {
            local cjson = require "cjson"
            local v = cjson.decode('[1, -2.5, 1e3, 1E-2, 0.1, 12345678901234567890, -0, 1.0]')
            for i = 1, #v do ngx.say(v[i]) end
            for _, j in ipairs{"0x10", "007", "-Infinity", "inf", "NaN", "+1", "1.", ".5", "-0x1p4"} do
                local ok, r = pcall(cjson.decode, j)
                ngx.say(j, " ", ok, " ", tostring(r))
            end
            local c = cjson.new()
            ngx.say(c.decode_invalid_numbers())
            ngx.say(c.decode_invalid_numbers(false))
            for _, j in ipairs{"0x10", "007", "-Infinity", "inf", "NaN", "+1", "[0, -0, 10]", "0.5"} do
                local ok, r = pcall(c.decode, j)
                ngx.say(j, " ", ok, " ", type(r) == "table" and #r or tostring(r))
            end
            ngx.say(cjson.decode(123), " ", cjson.decode(" 5 "))
        }
    }
--- request
GET /t
--- response_body
1
-2.5
1000
0.01
0.1
1.2345678901235e+19
0
1
0x10 true 16
007 true 7
-Infinity true -inf
inf true inf
NaN true nan
+1 true 1
1. true 1
.5 false Expected value but found invalid token at character 1
-0x1p4 true -16
true
false
0x10 false Expected value but found invalid number at character 1
007 false Expected value but found invalid number at character 1
-Infinity false Expected value but found invalid number at character 1
inf false Expected value but found invalid token at character 1
NaN false Expected value but found invalid token at character 1
+1 false Expected value but found invalid token at character 1
[0, -0, 10] true 3
0.5 true 0.5
123 5



=== TEST 10: decode strings and scalars
--- config
    location = /t {
        content_by_lua_block {
            local cjson = require "cjson"
            local s = cjson.decode([["a\u00e9\u20ac\ud83d\ude00\/\t\"\\\b\f\n\r\u0000z"]])
            ngx.say(#s, " ", ngx.encode_base64(s))
            ngx.say(cjson.decode('"x"'), " ", cjson.decode("true"), " ", cjson.decode("false"))
            ngx.say(tostring(cjson.decode("null") == ngx.null))
            local t = cjson.decode('{"a":{"b":[1,{"c":null}]},"":"e"}')
            ngx.say(t.a.b[1], " ", tostring(t.a.b[2].c == cjson.null), " ", t[""])
            local arr = cjson.decode("[null, null, 3]")
            ngx.say(#arr, " ", arr[3])
            ngx.say(select(2, pcall(cjson.decode, string.char(0) .. "a")))
            ngx.say(select(2, pcall(cjson.decode, "a" .. string.char(0))))
            ngx.say(select(2, pcall(cjson.decode, "[1]" .. string.char(0) .. "junk")))
            ngx.say(select(2, pcall(cjson.decode, {})))
            ngx.say(cjson.encode(cjson.decode([["\u00e9 ctl \u0001"]])))
        }
    }
--- request
GET /t
--- response_body
20 YcOp4oKs8J+YgC8JIlwIDAoNAHo=
x true false
true
1 true e
3 3
JSON parser does not support UTF-16 or UTF-32
JSON parser does not support UTF-16 or UTF-32
1
bad argument #1 to '?' (string expected, got table)
"é ctl \u0001"



=== TEST 11: decode depth limits
--- config
    location = /t {
        content_by_lua_block {
            local cjson = require "cjson"
            ngx.say(select(2, pcall(cjson.decode, string.rep("[", 1001) .. string.rep("]", 1001))))
            ngx.say(#cjson.encode(cjson.decode(string.rep("[", 1000) .. string.rep("]", 1000))))
            local c = cjson.new()
            ngx.say(c.decode_max_depth(2))
            ngx.say(c.encode(c.decode('[[1]]')))
            ngx.say(select(2, pcall(c.decode, '[[[1]]]')))
            ngx.say(select(2, pcall(c.decode, '  {"a":{"b":{}}}')))
            ngx.say(select(2, pcall(function() return c.decode_max_depth(0) end)))
        }
    }
--- request
GET /t
--- response_body
Found too many nested data structures (1001) at character 1001
2000
2
[[1]]
Found too many nested data structures (3) at character 3
Found too many nested data structures (3) at character 13
bad argument #1 to '?' (expected integer between 1 and 2147483647)



=== TEST 12: cjson.safe and new() instances
--- config
    location = /t {
        content_by_lua_block {
            local cjson = require "cjson"
            local safe = require "cjson.safe"
            ngx.say(safe.encode(function() end))
            ngx.say(safe.decode("{"))
            ngx.say(safe.encode({1, "x"}), " ", safe.decode("[7]")[1])
            local ok, err = pcall(function() return safe.decode() end)
            ngx.say(ok, " ", err)
            local s2 = safe.new()
            s2.encode_max_depth(1)
            ngx.say(s2.encode({{}}))
            ngx.say(safe.encode({{}}))
            local c2 = cjson.new()
            c2.encode_number_precision(2)
            ngx.say(c2.encode(1.234), " ", cjson.encode(1.234))
            ngx.say(cjson._NAME, " ", type(cjson._VERSION), " ", type(cjson.new), " ", type(safe.new))
            ngx.say(tostring(require("cjson") == cjson), " ", tostring(require("cjson.safe") == safe))
            ngx.say(cjson.encode_keep_buffer(), " ", cjson.encode_keep_buffer(false), " ", cjson.encode({1}))
            ngx.say(cjson.encode_max_depth(), " ", cjson.decode_max_depth())
        }
    }
--- request
GET /t
--- response_body
nilCannot serialise function: type not supported
nilExpected object key string but found T_END at character 2
[1,"x"] 7
false bad argument #1 to '?' (expected 1 argument)
nilCannot serialise, excessive nesting (2)
[{}]
1.2 1.234
cjson string function function
true true
true false [1]
1000 1000



=== TEST 13: argument errors name the function as the caller sees it
--- config
    location = /t {
        content_by_lua_block {
            local cjson = require "cjson"
            local safe = require "cjson.safe"
            local function e(f) local ok, err = pcall(f) return err end
            ngx.say(e(function() local r = cjson.encode() return r end))
            ngx.say(e(function() local r = cjson.decode({}) return r end))
            ngx.say(e(function() local r = cjson.encode_sparse_array(1) return r end))
            ngx.say(e(function() local r = cjson.decode_max_depth(1, 2) return r end))
            ngx.say(e(function() local r = safe.decode() return r end))
            ngx.say(select(2, safe.decode({})))
            ngx.say(select(2, pcall(cjson.decode)))
            ngx.say(e(function() local r = cjson:encode() return r end))
            ngx.say(e(function() local r = cjson:encode_max_depth(1) return r end))
        }
    }
--- request
GET /t
--- response_body
content_by_lua(nginx.conf:40):5: bad argument #1 to 'encode' (expected 1 argument)
content_by_lua(nginx.conf:40):6: bad argument #1 to 'decode' (string expected, got table)
content_by_lua(nginx.conf:40):7: bad argument #1 to 'encode_sparse_array' (invalid option '1')
content_by_lua(nginx.conf:40):8: bad argument #2 to 'decode_max_depth' (found too many arguments)
content_by_lua(nginx.conf:40):9: bad argument #1 to 'decode' (expected 1 argument)
bad argument #1 to '?' (string expected, got table)
bad argument #1 to '?' (expected 1 argument)
content_by_lua(nginx.conf:40):12: Cannot serialise function: type not supported
content_by_lua(nginx.conf:40):13: bad argument #1 to 'encode_max_depth' (found too many arguments)
