# lua-nginx-module's cosockets: buffer sizes, large transfers, sockets across phases and
# requests, busy sockets shared by light threads, the init phases, numeric-string ports.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: a tiny lua_socket_buffer_size still reads lines and boundaries
--- config
    lua_socket_buffer_size 3;
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(sock:receive())
            ngx.say(sock:receiveuntil("--sep--")())
            ngx.say(sock:receive(7))
            ngx.say(sock:receive("*a"))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"a long first line\nbefore the--sep--0123456789rest"
--- request
GET /t
--- response_body
a long first line
before the
0123456
789rest



=== TEST 2: large replies: receive(n) and *a
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            local a = sock:receive(100000)
            local b = sock:receive("*a")
            ngx.say(#a, " ", a:sub(1, 3), " ", #b, " ", b:sub(-3))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"x" x 100000 . "y" x 50000
--- request
GET /t
--- response_body
100000 xxx 50000 yyy



=== TEST 3: a large send
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            local t = {}
            for i = 1, 1000 do t[i] = string.rep("z", 99) .. "\n" end
            ngx.say(sock:send(t))
            ngx.say(sock:receive())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query_len: 100000
--- tcp_reply eval
"got it\n"
--- request
GET /t
--- response_body
100000
got it



=== TEST 4: a socket connected in rewrite_by_lua is read in content_by_lua
--- config
    location = /t {
        rewrite_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.ctx.sock = sock
        }
        content_by_lua_block {
            ngx.say(ngx.ctx.sock:receive())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"across phases\n"
--- request
GET /t
--- response_body
across phases



=== TEST 5: a socket left open by a request is closed when the request ends
--- config
    location = /t {
        content_by_lua_block {
            if not held then
                held = ngx.socket.tcp()
                assert(held:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
                ngx.say("first: ", held:receive())
            else
                ngx.say("second: ", held:receive())
            end
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"one\ntwo\n"
--- tcp_no_close
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body eval
["first: one\n", "second: nilclosed\n"]



=== TEST 6: two light threads reading one socket: the second is busy
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(200)
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            local t1 = ngx.thread.spawn(function() return sock:receive() end)
            local t2 = ngx.thread.spawn(function() return sock:receive() end)
            ngx.say(ngx.thread.wait(t2))
            ngx.say("close: ", sock:close())
            ngx.say(ngx.thread.wait(t1))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply_delay: 100ms
--- tcp_reply eval
"late line\n"
--- request
GET /t
--- response_body
truenilsocket busy reading
close: nilsocket busy reading
truelate line



=== TEST 7: reading and writing from two threads at once
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            local reader = ngx.thread.spawn(function() return sock:receive() end)
            ngx.say("sent: ", sock:send("hello\n"))
            ngx.say(ngx.thread.wait(reader))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query_len: 6
--- tcp_reply eval
"world\n"
--- request
GET /t
--- response_body
sent: 6
trueworld



=== TEST 8: cosockets in init_by_lua and init_worker_by_lua
--- http_config
    init_by_lua_block {
        local ok, err = pcall(ngx.socket.tcp)
        init_err = err
    }
    init_worker_by_lua_block {
        local ok, err = pcall(ngx.socket.tcp)
        ngx.log(ngx.WARN, "init_worker: ", err)
    }
--- config
    location = /t {
        content_by_lua_block { ngx.say("init: ", init_err) }
    }
--- request
GET /t
--- response_body
init: no request found
--- error_log
init_worker: API disabled in the context of init_worker_by_lua*



=== TEST 9: a numeric string port
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            ngx.say(sock:connect("127.0.0.1", "$TEST_NGINX_RAND_PORT_1"))
            ngx.say(sock:receive())
            ngx.say(sock[3] == "127.0.0.1:$TEST_NGINX_RAND_PORT_1")
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"ok\n"
--- request
GET /t
--- response_body
1
ok
true



=== TEST 10: receiveuntil with a size and inclusive
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            local it = sock:receiveuntil("END", {inclusive = true})
            while true do
                local d, err, p = it(3)
                if not d then
                    ngx.say("done: ", err, " ", p)
                    break
                end
                ngx.say("[", d, "]")
            end
            ngx.say(sock:receive("*a"))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"abcdefgENDtail"
--- request
GET /t
--- response_body
[abc]
[def]
[gEND]
done: nil nil
tail



=== TEST 11: a UDP socket in a timer
--- config
    location = /t {
        content_by_lua_block {
            ngx.timer.at(0, function()
                local udp = ngx.socket.udp()
                assert(udp:setpeername("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
                assert(udp:send("from timer"))
                ngx.log(ngx.WARN, "timer udp: ", udp:receive())
            end)
            ngx.sleep(0.1)
            ngx.say("ok")
        }
    }
--- udp_listen: $TEST_NGINX_RAND_PORT_1
--- udp_query: from timer
--- udp_reply: pong
--- request
GET /t
--- response_body
ok
--- error_log
timer udp: pong



=== TEST 12: receive on a socket whose peer closed after partial data, then send
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(sock:receive("*l"))
            ngx.say(sock:receive("*l"))
            ngx.say(sock:send("still writable?\n"))
            ngx.say(sock:close())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"only\npart"
--- request
GET /t
--- response_body
only
nilclosedpart
16
1



=== TEST 13: ngx.socket.connect with a unix socket
--- config
    location = /t {
        content_by_lua_block {
            local sock, err = ngx.socket.connect("unix:$TEST_NGINX_HTML_DIR/u.sock")
            ngx.say(type(sock), " ", err)
            ngx.say(sock:receive())
        }
    }
--- tcp_listen: $TEST_NGINX_HTML_DIR/u.sock
--- tcp_reply eval
"unix hello\n"
--- request
GET /t
--- response_body
table nil
unix hello



=== TEST 14: the pool key of a unix socket with a port argument
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            ngx.say(sock:connect("unix:$TEST_NGINX_HTML_DIR/u.sock", nil, {pool = "u"}))
            ngx.say(sock[3])
            ngx.say(sock:setkeepalive())
            local s2 = ngx.socket.tcp()
            ngx.say(s2:connect("unix:$TEST_NGINX_HTML_DIR/u.sock", {pool = "u"}))
            ngx.say(s2:getreusedtimes())
        }
    }
--- tcp_listen: $TEST_NGINX_HTML_DIR/u.sock
--- tcp_no_close
--- request
GET /t
--- response_body
1
u
1
1
1
