# User coroutines (coroutine.create/resume/wrap/yield) around cosockets and ngx.sleep inside
# Lua handlers, as lua-nginx-module's coroutine API allows (lua-resty-http's body reader).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: coroutine.wrap yields lines read from a cosocket
--- config
    location = /t {
        content_by_lua_block {
            local reader = coroutine.wrap(function()
                local sock = ngx.socket.tcp()
                assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
                while true do
                    local line, err = sock:receive()
                    if not line then
                        coroutine.yield(nil, err)
                        return
                    end
                    coroutine.yield(line)
                end
            end)
            for i = 1, 4 do
                ngx.say(i, ": ", reader())
            end
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
["first\n", "second\n", "third\n"]
--- request
GET /t
--- response_body
1: first
2: second
3: third
4: nilclosed



=== TEST 2: ngx.sleep inside coroutine.resume
--- config
    location = /t {
        content_by_lua_block {
            local co = coroutine.create(function(a)
                ngx.sleep(0.02)
                local b = coroutine.yield(a + 1)
                ngx.sleep(0.01)
                return b * 2
            end)
            ngx.say(coroutine.resume(co, 1))
            ngx.say(coroutine.status(co))
            ngx.say(coroutine.resume(co, 10))
            ngx.say(coroutine.status(co))
            ngx.say(coroutine.resume(co))
        }
    }
--- request
GET /t
--- response_body
true2
suspended
true20
dead
falsecannot resume dead coroutine



=== TEST 3: errors inside coroutines
--- config
    location = /t {
        content_by_lua_block {
            local co = coroutine.create(function()
                ngx.sleep(0.01)
                error("inside")
            end)
            local ok, err = coroutine.resume(co)
            ngx.say(ok, " ", err)
            ngx.say(coroutine.status(co))
        }
    }
--- request
GET /t
--- response_body
false content_by_lua(nginx.conf:40):4: inside
dead



=== TEST 4: nested coroutines around a cosocket
--- config
    location = /t {
        content_by_lua_block {
            local outer = coroutine.wrap(function()
                local inner = coroutine.wrap(function()
                    local sock = ngx.socket.tcp()
                    assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
                    coroutine.yield(sock:receive())
                end)
                coroutine.yield("outer got " .. inner())
            end)
            ngx.say(outer())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply_delay: 50ms
--- tcp_reply eval
"deep\n"
--- request
GET /t
--- response_body
outer got deep



=== TEST 5: a coroutine in a light thread
--- config
    location = /t {
        content_by_lua_block {
            local t = ngx.thread.spawn(function()
                local gen = coroutine.wrap(function()
                    for i = 1, 3 do
                        ngx.sleep(0.01)
                        coroutine.yield(i)
                    end
                end)
                return gen() + gen() + gen()
            end)
            ngx.say(ngx.thread.wait(t))
        }
    }
--- request
GET /t
--- response_body
true6



=== TEST 6: coroutine.wrap in a timer
--- config
    location = /t {
        content_by_lua_block {
            ngx.timer.at(0, function()
                local gen = coroutine.wrap(function()
                    ngx.sleep(0.01)
                    coroutine.yield("from timer coroutine")
                end)
                ngx.log(ngx.WARN, gen())
            end)
            ngx.sleep(0.1)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- error_log
from timer coroutine
