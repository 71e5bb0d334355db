# Lua errors: runtime errors per phase (status, error log text), pcall, error objects,
# API disabled in phases, ngx.log and print lines.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: runtime error in content
--- config
    location = /t {
        content_by_lua_block {
            error("boom")
        }
    }
--- request
GET /t
--- error_code: 500
--- response_body_like chomp
500\ Internal\ Server\ Error
--- error_log
lua entry thread aborted: runtime error: content_by_lua(nginx.conf:
:2: boom


=== TEST 2: runtime error in rewrite
--- config
    location = /t {
        content_by_lua_block { ngx.say("no") }
        rewrite_by_lua_block {
            local x = nil
            x.y = 1
        }
    }
--- request
GET /t
--- error_code: 500
--- response_body_like chomp
500\ Internal\ Server\ Error
--- error_log
attempt to index local 'x' (a nil value)


=== TEST 3: error with level 0
--- config
    location = /t {
        content_by_lua_block {
            error("plain", 0)
        }
    }
--- request
GET /t
--- error_code: 500
--- response_body_like chomp
500\ Internal\ Server\ Error
--- error_log
runtime error: plain


=== TEST 4: pcall catches an error
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(error, "caught")
            ngx.say(ok, " ", err)
        }
    }
--- request
GET /t
--- response_body
false caught


=== TEST 5: pcall of an API error
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(ngx.say, {print})
            ngx.say(ok)
        }
    }
--- request
GET /t
--- response_body
false


=== TEST 6: syntax error in inline code
--- config
    location = /t {
        content_by_lua_block {
            local = 1
        }
    }
--- request
GET /t
--- error_code: 500
--- response_body_like chomp
500\ Internal\ Server\ Error
--- error_log
failed to load inlined Lua code: content_by_lua(nginx.conf:


=== TEST 7: API disabled in header_filter
--- config
    location = /t {
        header_filter_by_lua_block { local ok, err = pcall(ngx.say, "y") ngx.header["X-Err"] = err }
        content_by_lua_block {
            ngx.say("x")
        }
    }
--- request
GET /t
--- response_headers
X-Err: API disabled in the context of header_filter_by_lua*
--- response_body
x


=== TEST 8: ngx.sleep disabled in log_by_lua
--- config
    location = /t {
        log_by_lua_block { local ok, err = pcall(ngx.sleep, 0.1) ngx.log(ngx.ERR, "sleep: ", err) }
        content_by_lua_block {
            ngx.say("x")
        }
    }
--- request
GET /t
--- response_body
x
--- error_log
sleep: API disabled in the context of log_by_lua*


=== TEST 9: ngx.exec disabled in header_filter
--- config
    location = /t {
        header_filter_by_lua_block { local ok, err = pcall(ngx.exec, "/x") ngx.header["X-E"] = err }
        content_by_lua_block {
            ngx.say("x")
        }
    }
--- request
GET /t
--- response_headers
X-E: API disabled in the context of header_filter_by_lua*
--- response_body
x


=== TEST 10: ngx.log at ERR
--- config
    location = /t {
        content_by_lua_block {
            ngx.log(ngx.ERR, "an error ", 1, " ", true)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- error_log
[error]
[lua] content_by_lua(nginx.conf:
:2: an error 1 true, client: 127.0.0.1, server: localhost, request: "GET /t HTTP/1.1"


=== TEST 11: ngx.log at WARN
--- config
    location = /t {
        content_by_lua_block {
            ngx.log(ngx.WARN, "a warning")
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- error_log
[warn]
a warning


=== TEST 12: ngx.log of nil and a table
--- config
    location = /t {
        content_by_lua_block {
            ngx.log(ngx.ERR, nil, " ", "x")
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- error_log
nil x


=== TEST 13: print logs at notice
--- config
    location = /t {
        content_by_lua_block {
            print("printed ", 7)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- error_log
[notice]
[lua] content_by_lua(nginx.conf:
:2: printed 7


=== TEST 14: ngx.log in a function
--- config
    location = /t {
        content_by_lua_block {
            local function f() ngx.log(ngx.ERR, "in f") end
            f()
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- error_log
f(): in f


=== TEST 15: ngx.log with a bad level
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(ngx.log, 100, "x")
            ngx.say(ok, " ", err)
        }
    }
--- request
GET /t
--- response_body
false bad argument #1 to '?' (bad log level: 100)


=== TEST 16: log level constants
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.STDERR, ngx.EMERG, ngx.ALERT, ngx.CRIT, ngx.ERR, ngx.WARN, ngx.NOTICE, ngx.INFO, ngx.DEBUG)
        }
    }
--- request
GET /t
--- response_body
012345678


=== TEST 17: error in a coroutine
--- config
    location = /t {
        content_by_lua_block {
            local co = coroutine.create(function() error("in co") end)
            local ok, err = coroutine.resume(co)
            ngx.say(ok, " ", err)
        }
    }
--- request
GET /t
--- response_body_like chomp
^\Qfalse content_by_lua(\Enginx\.conf:\d+\Q):2: in co\E


=== TEST 18: set_by_lua error
--- config
    location = /t {
        set_by_lua_block $x { error("set fails") }
        content_by_lua_block {
            ngx.say(ngx.var.x)
        }
    }
--- request
GET /t
--- error_code: 500
--- response_body_like chomp
500\ Internal\ Server\ Error
--- error_log
failed to run set_by_lua*: set_by_lua(nginx.conf:


=== TEST 20: log_by_lua error
--- config
    location = /t {
        log_by_lua_block { error("log fails") }
        content_by_lua_block {
            ngx.say("x")
        }
    }
--- request
GET /t
--- response_body
x
--- error_log
failed to run log_by_lua*: log_by_lua(nginx.conf:
log fails
while logging request


=== TEST 21: a missing Lua file
--- config
    location = /t {
        content_by_lua_file html/missing.lua;
    }
--- request
GET /t
--- error_code: 404
--- response_body_like chomp
404\ Not\ Found
--- error_log
failed to load external Lua file "
missing.lua": cannot open 
