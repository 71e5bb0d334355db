# Lua output from rewrite_by_lua* and access_by_lua*: the head and body go out from the phase
# handler and the request ends with it (the content phase is skipped); ngx.exit after the
# head; ngx.eof then more work; ngx.header values carried to other handlers' answers;
# access_by_lua* under `satisfy any`. (Timing, cut bodies and send_timeout on the wire:
# tests/lua_phase_output.rs.)
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: rewrite_by_lua output ends the request: the content handler does not run
--- config
    location = /t {
        rewrite_by_lua_block { ngx.say("hello") ngx.say("world") }
        content_by_lua_block { ngx.say("content") }
    }
--- request
GET /t
--- response_headers
Transfer-Encoding: chunked
--- response_body
hello
world



=== TEST 2: rewrite_by_lua flush, sleep, more output
--- config
    location = /t {
        rewrite_by_lua_block {
            ngx.say("one")
            local ok, err = ngx.flush(true)
            ngx.sleep(0.1)
            ngx.say("two: ", tostring(ok), " ", tostring(err))
        }
        content_by_lua_block { ngx.say("content") }
    }
--- request
GET /t
--- response_body
one
two: 1 nil



=== TEST 3: access_by_lua ngx.exit(403) after the head: the status stays, the body ends
--- config
    location = /t {
        access_by_lua_block {
            ngx.say("one")
            ngx.flush(true)
            ngx.exit(403)
        }
        content_by_lua_block { ngx.say("content") }
    }
--- request
GET /t
--- error_code: 200
--- response_body
one
--- error_log
attempt to set status 403 via ngx.exit after sending out the response status 200



=== TEST 4: rewrite_by_lua ngx.eof, then the handler goes on
--- config
    location = /t {
        rewrite_by_lua_block {
            ngx.say("one")
            ngx.eof()
            ngx.sleep(0.2)
            ngx.log(ngx.WARN, "after eof: ", ngx.status)
        }
        content_by_lua_block { ngx.say("content") }
    }
--- request
GET /t
--- response_body
one
--- wait: 0.5
--- error_log
after eof: 200



=== TEST 5: after ngx.eof and a sleep, the pipelined next request is answered
--- config
    location = /t {
        access_by_lua_block {
            ngx.say("first")
            ngx.eof()
            ngx.sleep(0.2)
        }
    }
    location = /n { return 200 "next\n"; }
--- pipelined_requests eval
["GET /t", "GET /n"]
--- response_body eval
["first\n", "next\n"]



=== TEST 6: ngx.send_headers in rewrite_by_lua, then ngx.exit(ngx.OK): an empty body
--- config
    location = /t {
        rewrite_by_lua_block {
            ngx.header["X-Foo"] = "bar"
            ngx.send_headers()
            ngx.exit(ngx.OK)
        }
        content_by_lua_block { ngx.say("content") }
    }
--- request
GET /t
--- response_headers
X-Foo: bar
--- response_body



=== TEST 7: output in rewrite_by_lua, then ngx.exit(200)
--- config
    location = /t {
        rewrite_by_lua_block { ngx.print("a") ngx.print("b") ngx.exit(200) }
        content_by_lua_block { ngx.say("content") }
    }
--- request
GET /t
--- response_body chomp
ab



=== TEST 8: HTTP/1.0: rewrite_by_lua output is held (no head sent), so the content phase runs and adds to it
--- config
    location = /t {
        rewrite_by_lua_block {
            ngx.say("one")
            local ok, err = ngx.flush(true)
            ngx.say("flush: ", tostring(ok), " ", tostring(err))
        }
        content_by_lua_block { ngx.say("content") }
    }
--- request
GET /t HTTP/1.0
--- response_headers
Content-Length: 33
--- response_body
one
flush: nil buffering
content



=== TEST 9: ngx.header set in rewrite_by_lua goes on a static file's answer
--- config
    location /s {
        rewrite_by_lua_block { ngx.header["X-Foo"] = "bar" }
        alias html/;
    }
--- user_files
>>> a.txt
static
--- request
GET /s/a.txt
--- response_headers
X-Foo: bar
Content-Type: text/plain
--- response_body
static



=== TEST 10: ngx.header set in access_by_lua goes on an error page
--- config
    location = /missing {
        access_by_lua_block { ngx.header["X-Bar"] = "qux" }
    }
--- request
GET /missing
--- error_code: 404
--- response_headers
X-Bar: qux



=== TEST 11: ngx.exit(ngx.DECLINED) in access_by_lua goes on to the content phase
--- config
    location = /t {
        access_by_lua_block { ngx.exit(ngx.DECLINED) }
        content_by_lua_block { ngx.say("content") }
    }
--- request
GET /t
--- response_body
content



=== TEST 12: satisfy any: a granting allow skips access_by_lua
--- config
    location = /t {
        satisfy any;
        allow all;
        access_by_lua_block { ngx.exit(403) }
        content_by_lua_block { ngx.say("granted") }
    }
--- request
GET /t
--- response_body
granted
--- no_error_log
[error]



=== TEST 13: satisfy any: access_by_lua's end grants what deny refused
--- config
    location = /t {
        satisfy any;
        deny all;
        access_by_lua_block { return }
        content_by_lua_block { ngx.say("granted") }
    }
--- request
GET /t
--- response_body
granted
--- no_error_log
[error]



=== TEST 14: satisfy any: ngx.exit(ngx.DECLINED) and ngx.exit(403) leave the denial
--- config
    location = /d {
        satisfy any;
        deny all;
        access_by_lua_block { ngx.exit(ngx.DECLINED) }
        content_by_lua_block { ngx.say("granted") }
    }
    location = /f {
        satisfy any;
        deny all;
        access_by_lua_block { ngx.exit(403) }
        content_by_lua_block { ngx.say("granted") }
    }
--- pipelined_requests eval
["GET /d", "GET /f"]
--- error_code eval
[403, 403]
--- error_log
access forbidden by rule



=== TEST 15: ngx.exit in a new user thread: the parent does not run on after spawn
--- config
    location = /t {
        rewrite_by_lua_block {
            local function f()
                ngx.say("in thread")
                ngx.exit(0)
            end
            ngx.say("before")
            ngx.thread.spawn(f)
            ngx.say("after")
        }
    }
--- request
GET /t
--- response_body
before
in thread



=== TEST 16: ngx.exit and ngx.exec in a user thread fail while a capture is pending
--- config
    location = /t {
        access_by_lua_block {
            local function f()
                ngx.sleep(0.05)
                local ok, err = pcall(ngx.exit, 0)
                ngx.log(ngx.WARN, "exit: ", tostring(ok), " ", err)
                ok, err = pcall(ngx.exec, "/other")
                ngx.log(ngx.WARN, "exec: ", tostring(ok), " ", err)
            end
            ngx.thread.spawn(f)
            local res = ngx.location.capture("/slow")
            ngx.say("end: ", res.body)
        }
    }
    location = /slow {
        content_by_lua_block { ngx.sleep(0.2) ngx.print("slow") }
    }
    location = /other {
        return 200 "other\n";
    }
--- request
GET /t
--- response_body
end: slow
--- error_log
exit: false attempt to abort with pending subrequests
exec: false attempt to abort with pending subrequests
