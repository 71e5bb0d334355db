# ngx.run_worker_thread: a module's function on a thread_pool thread, in a VM of its own;
# arguments and results are copied; the errors lua-nginx-module answers with.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: a function's results, tables and several values
--- main_config
    thread_pool testpool threads=4;
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            local ok, a, b = ngx.run_worker_thread("testpool", "calc", "sum", {1, 2, 3}, "x")
            ngx.say(ok, " ", a, " ", b)
            local ok, t = ngx.run_worker_thread("testpool", "calc", "tab")
            ngx.say(ok, " ", t.name, " ", t.list[2], " ", t.nested.deep)
            ngx.say(ngx.run_worker_thread("testpool", "calc", "md5", "hello"))
        }
    }
--- user_files
>>> calc.lua
local _M = {}
function _M.sum(t, s)
    local n = 0
    for _, v in ipairs(t) do n = n + v end
    return n, s .. s
end
function _M.tab()
    return { name = "t", list = { "a", "b" }, nested = { deep = true } }
end
function _M.md5(s)
    return ngx.md5(s), ngx.encode_base64(s)
end
return _M
--- request
GET /t
--- response_body
true 6 xx
true t b true
true5d41402abc4b2a76b9719d911017c592aGVsbG8=


=== TEST 2: the errors
--- main_config
    thread_pool testpool threads=2;
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.run_worker_thread("testpool", "calc"))
            ngx.say(ngx.run_worker_thread("nopool", "calc", "f"))
            ngx.say(ngx.run_worker_thread({}, "calc", "f"))
            ngx.say(ngx.run_worker_thread("testpool", {}, "f"))
            ngx.say(ngx.run_worker_thread("testpool", "calc", {}))
            ngx.say(ngx.run_worker_thread("testpool", "calc", "f", function() end))
            ngx.say(ngx.run_worker_thread("testpool", "calc", "f", { f = print }))
            ngx.say(ngx.run_worker_thread("testpool", "calc", "nofunc"))
            ngx.say(ngx.run_worker_thread("testpool", "calc", "ret_func"))
            ngx.say(ngx.run_worker_thread("testpool", "calc", "boom"))
            ngx.say(ngx.run_worker_thread("testpool", "notamodule", "f"))
            local ok, err = ngx.run_worker_thread("testpool", "nosuchmodule", "f")
            ngx.say(ok, " ", err:match("^module 'nosuchmodule' not found"))
        }
    }
--- user_files
>>> calc.lua
local _M = {}
function _M.f() return 1 end
function _M.ret_func() return function() end end
function _M.boom() error("boom", 0) end
return _M
>>> notamodule.lua
return 42
--- request
GET /t
--- response_body
falseexpecting at least 3 arguments
falsethread pool nopool not found
falsethreadpool should be a string
falsemodule name should be a string
falsefunction name should be a string
falseunsupported Lua type: LUA_TFUNCTION in the argument
falseunsupported Lua type: LUA_TFUNCTION in the argument
falseinvalid function
falseunsupported Lua type: LUA_TFUNCTION in the return value
falseboom
falseinvalid lua module
false module 'nosuchmodule' not found
