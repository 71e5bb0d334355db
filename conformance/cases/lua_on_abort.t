# ngx.on_abort and lua_check_client_abort: the client's side of the connection watched while
# a Lua handler runs.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: no callback: the request ends when the client goes away
--- config
    location = /t {
        lua_check_client_abort on;
        content_by_lua_block {
            ngx.sleep(0.5)
            ngx.log(ngx.WARN, "main handler done")
        }
    }
--- request
GET /t
--- timeout: 0.2
--- abort
--- wait: 0.5
--- ignore_response
--- error_log
client prematurely closed connection
--- no_error_log
main handler done
[error]



=== TEST 2: lua_check_client_abort off: nothing watches, the handler goes on
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = ngx.on_abort(function () ngx.log(ngx.WARN, "on abort called") end)
            ngx.log(ngx.WARN, "on_abort: ", ok, " ", err)
            ngx.sleep(0.4)
            ngx.log(ngx.WARN, "main handler done")
        }
    }
--- request
GET /t
--- timeout: 0.2
--- abort
--- wait: 0.4
--- ignore_response
--- error_log
on_abort: nil lua_check_client_abort is off
main handler done
--- no_error_log
on abort called
client prematurely closed connection



=== TEST 3: the callback in rewrite_by_lua ends the request with ngx.exit(444)
--- config
    location = /t {
        lua_check_client_abort on;
        rewrite_by_lua_block {
            ngx.on_abort(function ()
                ngx.log(ngx.WARN, "on abort called in ", ngx.get_phase())
                ngx.exit(444)
            end)
            ngx.sleep(0.5)
            ngx.log(ngx.WARN, "rewrite done")
        }
        content_by_lua_block {
            ngx.log(ngx.WARN, "content ran")
        }
    }
--- request
GET /t
--- timeout: 0.2
--- abort
--- wait: 0.5
--- ignore_response
--- error_log
client prematurely closed connection
on abort called in rewrite
--- no_error_log
rewrite done
content ran
[error]



=== TEST 4: the body read first, then the client watched (access_by_lua)
--- config
    location = /t {
        lua_check_client_abort on;
        access_by_lua_block {
            ngx.req.read_body()
            ngx.on_abort(function ()
                ngx.log(ngx.WARN, "on abort: body was ", ngx.req.get_body_data())
            end)
            ngx.sleep(0.4)
            ngx.log(ngx.WARN, "access done")
        }
        content_by_lua_block {
            ngx.say("content")
        }
    }
--- request
POST /t
hello body
--- timeout: 0.2
--- abort
--- wait: 0.5
--- ignore_response
--- error_log
on abort: body was hello body
access done
--- no_error_log
[error]



=== TEST 5: a pipelined request while the handler runs is no abort
--- config
    location = /t {
        lua_check_client_abort on;
        content_by_lua_block {
            ngx.on_abort(function () ngx.log(ngx.WARN, "on abort called") end)
            ngx.sleep(0.1)
            ngx.say("done ", ngx.var.arg_n)
        }
    }
--- pipelined_requests eval
["GET /t?n=1", "GET /t?n=2"]
--- response_body eval
["done 1\n", "done 2\n"]
--- no_error_log
on abort called
client prematurely closed connection
[error]



=== TEST 6: the callback runs once, as a user thread, while the handler still runs
--- config
    location = /t {
        lua_check_client_abort on;
        content_by_lua_block {
            local n = 0
            local ok, err = ngx.on_abort(function ()
                n = n + 1
                ngx.log(ngx.WARN, "on abort called: ", n, " ", coroutine.running() ~= nil)
                ngx.sleep(0.1)
                ngx.log(ngx.WARN, "callback done")
            end)
            ngx.log(ngx.WARN, "second on_abort: ", select(2, ngx.on_abort(function () end)))
            ngx.sleep(0.6)
            ngx.log(ngx.WARN, "main handler done: ", n)
        }
    }
--- request
GET /t
--- timeout: 0.2
--- abort
--- wait: 0.6
--- ignore_response
--- error_log
second on_abort: duplicate call
on abort called: 1 true
callback done
main handler done: 1
--- no_error_log
[error]



=== TEST 7: ngx.exit(0) in the callback while a subrequest is pending is refused
--- config
    location = /t {
        lua_check_client_abort on;
        content_by_lua_block {
            ngx.on_abort(function ()
                ngx.log(ngx.WARN, "on abort called")
                ngx.exit(0)
            end)
            local res = ngx.location.capture("/sleep")
            ngx.log(ngx.WARN, "main handler done: ", res.status)
        }
    }
    location = /sleep {
        content_by_lua_block {
            ngx.sleep(0.5)
            ngx.say("slept")
        }
    }
--- request
GET /t
--- timeout: 0.2
--- abort
--- wait: 0.6
--- ignore_response
--- error_log eval
[
'client prematurely closed connection',
'on abort called',
qr/lua user thread aborted: runtime error: content_by_lua\(nginx\.conf:\d+\):4: attempt to abort with pending subrequests/,
'main handler done: 200',
]



=== TEST 8: ngx.exit(444) in the callback while a subrequest is pending ends the request
--- config
    location = /t {
        lua_check_client_abort on;
        content_by_lua_block {
            ngx.on_abort(function ()
                ngx.log(ngx.WARN, "on abort called")
                ngx.exit(444)
            end)
            ngx.location.capture("/sleep")
            ngx.log(ngx.WARN, "main handler done")
        }
    }
    location = /sleep {
        content_by_lua_block {
            ngx.sleep(0.5)
            ngx.say("slept")
        }
    }
--- request
GET /t
--- timeout: 0.2
--- abort
--- wait: 0.6
--- ignore_response
--- error_log
client prematurely closed connection
on abort called
--- no_error_log
main handler done
[error]



=== TEST 9: the body not read: the client's close is still seen
--- config
    location = /t {
        lua_check_client_abort on;
        content_by_lua_block {
            ngx.on_abort(function () ngx.log(ngx.WARN, "on abort called") end)
            ngx.sleep(0.4)
            ngx.req.read_body()
            ngx.log(ngx.WARN, "body: ", ngx.req.get_body_data())
        }
    }
--- request
POST /t
unread body
--- timeout: 0.2
--- abort
--- wait: 0.4
--- ignore_response
--- error_log
client prematurely closed connection
on abort called
--- no_error_log
[error]
