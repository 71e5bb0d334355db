# lua-nginx-module's light threads: ngx.thread.spawn, wait, kill, with sleeps and cosockets.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: a spawned thread runs first, until it yields
--- config
    location = /t {
        content_by_lua_block {
            local function f()
                ngx.say("in thread 1")
                ngx.sleep(0.05)
                ngx.say("in thread 2")
            end
            ngx.say("before")
            local t = ngx.thread.spawn(f)
            ngx.say("after: ", type(t))
        }
    }
--- request
GET /t
--- response_body
before
in thread 1
after: thread
in thread 2



=== TEST 2: wait returns the thread's results
--- config
    location = /t {
        content_by_lua_block {
            local function f(a, b)
                ngx.sleep(0.01)
                return a + b, "sum"
            end
            local t = ngx.thread.spawn(f, 1, 2)
            ngx.say(ngx.thread.wait(t))
            ngx.say(ngx.thread.wait(t))
        }
    }
--- request
GET /t
--- response_body
true3sum
nilalready waited or killed



=== TEST 3: wait on a thread that already finished
--- config
    location = /t {
        content_by_lua_block {
            local t = ngx.thread.spawn(function() return "quick" end)
            ngx.say(ngx.thread.wait(t))
        }
    }
--- request
GET /t
--- response_body
truequick



=== TEST 4: wait on several threads returns the first to finish
--- config
    location = /t {
        content_by_lua_block {
            local slow = ngx.thread.spawn(function() ngx.sleep(0.2) return "slow" end)
            local fast = ngx.thread.spawn(function() ngx.sleep(0.02) return "fast" end)
            ngx.say(ngx.thread.wait(slow, fast))
            ngx.say(ngx.thread.wait(slow, fast))
        }
    }
--- request
GET /t
--- response_body
truefast
nilalready waited or killed



=== TEST 5: a thread error: logged, and wait returns false
--- config
    location = /t {
        content_by_lua_block {
            local t = ngx.thread.spawn(function() ngx.sleep(0.01) error("boom") end)
            local ok, err = ngx.thread.wait(t)
            ngx.say(ok, " ", err)
            ngx.say("still here")
        }
    }
--- request
GET /t
--- response_body
false boom
still here
--- error_log eval
qr/lua user thread aborted: runtime error: content_by_lua\(nginx\.conf:\d+\):2: boom/



=== TEST 6: kill a sleeping thread
--- config
    location = /t {
        content_by_lua_block {
            local t = ngx.thread.spawn(function()
                ngx.sleep(0.1)
                ngx.say("never")
            end)
            ngx.say(ngx.thread.kill(t))
            ngx.say(ngx.thread.kill(t))
            ngx.say(ngx.thread.wait(t))
            ngx.sleep(0.2)
            ngx.say("end")
        }
    }
--- request
GET /t
--- response_body
1
nilalready waited or killed
nilalready waited or killed
end



=== TEST 7: kill a thread that already ended
--- config
    location = /t {
        content_by_lua_block {
            local t = ngx.thread.spawn(function() return 1 end)
            ngx.say(ngx.thread.kill(t))
        }
    }
--- request
GET /t
--- response_body
nilalready terminated



=== TEST 8: the request waits for the threads after the entry thread returns
--- config
    location = /t {
        content_by_lua_block {
            ngx.thread.spawn(function()
                ngx.sleep(0.05)
                ngx.say("late thread")
            end)
            ngx.say("entry done")
        }
    }
--- request
GET /t
--- response_body
entry done
late thread



=== TEST 9: ngx.exit in a thread ends the request
--- config
    location = /t {
        content_by_lua_block {
            ngx.thread.spawn(function()
                ngx.sleep(0.02)
                ngx.say("thread exits")
                ngx.exit(200)
            end)
            ngx.sleep(0.2)
            ngx.say("not reached")
        }
    }
--- request
GET /t
--- response_body
thread exits



=== TEST 10: two threads talking to two backends concurrently
--- config
    location = /t {
        content_by_lua_block {
            local function fetch(port)
                local sock = ngx.socket.tcp()
                assert(sock:connect("127.0.0.1", port))
                return sock:receive()
            end
            local a = ngx.thread.spawn(fetch, $TEST_NGINX_RAND_PORT_1)
            local b = ngx.thread.spawn(fetch, $TEST_NGINX_SERVER_PORT + 0 == 0 and 1 or $TEST_NGINX_RAND_PORT_1)
            ngx.say(ngx.thread.wait(a))
            ngx.say(ngx.thread.wait(b))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"hi\n"
--- request
GET /t
--- response_body
truehi
truehi



=== TEST 11: wait argument errors
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(pcall(ngx.thread.wait))
            local co = coroutine.create(function() end)
            ngx.say(pcall(ngx.thread.wait, co))
        }
    }
--- request
GET /t
--- response_body
falseat least one coroutine should be specified
falseattempt to wait on a coroutine that is not a user thread



=== TEST 12: only the parent may wait or kill
--- config
    location = /t {
        content_by_lua_block {
            local t1 = ngx.thread.spawn(function() ngx.sleep(0.05) return "one" end)
            local t2 = ngx.thread.spawn(function()
                ngx.say(pcall(ngx.thread.wait, t1))
                ngx.say(ngx.thread.kill(t1))
            end)
            ngx.say(ngx.thread.wait(t1))
        }
    }
--- request
GET /t
--- response_body
falseonly the parent coroutine can wait on the thread
nilkiller not parent
trueone



=== TEST 13: threads in rewrite_by_lua and access_by_lua
--- config
    location = /t {
        rewrite_by_lua_block {
            local t = ngx.thread.spawn(function() ngx.sleep(0.01) return "rw" end)
            local ok, v = ngx.thread.wait(t)
            ngx.ctx.rw = v
        }
        access_by_lua_block {
            local t = ngx.thread.spawn(function() return "ac" end)
            local ok, v = ngx.thread.wait(t)
            ngx.ctx.ac = v
        }
        content_by_lua_block { ngx.say(ngx.ctx.rw, " ", ngx.ctx.ac) }
    }
--- request
GET /t
--- response_body
rw ac



=== TEST 14: spawn is disabled in header_filter_by_lua
--- config
    location = /t {
        content_by_lua_block { ngx.say("ok") }
        header_filter_by_lua_block {
            local ok, err = pcall(ngx.thread.spawn, function() end)
            ngx.header["X-Err"] = err
        }
    }
--- request
GET /t
--- response_body
ok
--- response_headers
X-Err: API disabled in the context of header_filter_by_lua*



=== TEST 15: nested threads
--- config
    location = /t {
        content_by_lua_block {
            local t = ngx.thread.spawn(function()
                local inner = ngx.thread.spawn(function() ngx.sleep(0.01) return "inner" end)
                local ok, v = ngx.thread.wait(inner)
                return "outer+" .. v
            end)
            ngx.say(ngx.thread.wait(t))
        }
    }
--- request
GET /t
--- response_body
trueouter+inner
