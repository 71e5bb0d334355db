# lua-nginx-module's UDP cosockets: setpeername, send, receive, settimeout, close, errors.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: a query and its reply
--- config
    location = /t {
        content_by_lua_block {
            local udp = ngx.socket.udp()
            ngx.say(udp:setpeername("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(udp:send("ping"))
            ngx.say(udp:receive())
            ngx.say(udp:close())
            ngx.say(udp:close())
        }
    }
--- udp_listen: $TEST_NGINX_RAND_PORT_1
--- udp_query: ping
--- udp_reply: pong
--- request
GET /t
--- response_body
1
1
pong
1
nilclosed



=== TEST 2: receive with a size truncates the datagram
--- config
    location = /t {
        content_by_lua_block {
            local udp = ngx.socket.udp()
            assert(udp:setpeername("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            assert(udp:send({"a", {"b", 1}, 2.5}))
            ngx.say(udp:receive(4))
        }
    }
--- udp_listen: $TEST_NGINX_RAND_PORT_1
--- udp_query: ab12.5
--- udp_reply: 0123456789
--- request
GET /t
--- response_body
0123



=== TEST 3: a receive timeout and its log line
--- config
    location = /t {
        content_by_lua_block {
            local udp = ngx.socket.udp()
            udp:settimeout(100)
            assert(udp:setpeername("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            assert(udp:send("x"))
            ngx.say(udp:receive())
        }
    }
--- udp_listen: $TEST_NGINX_RAND_PORT_1
--- request
GET /t
--- response_body
niltimeout
--- error_log
lua udp socket read timed out



=== TEST 4: operations before setpeername
--- config
    location = /t {
        content_by_lua_block {
            local udp = ngx.socket.udp()
            ngx.say(udp:send("x"))
            ngx.say(udp:receive())
            ngx.say(udp:close())
        }
    }
--- request
GET /t
--- response_body
nilclosed
nilclosed
nilclosed
--- error_log
attempt to send data on a closed socket
attempt to receive data on a closed socket



=== TEST 5: setpeername argument errors
--- config
    location = /t {
        content_by_lua_block {
            local udp = ngx.socket.udp()
            ngx.say(udp:setpeername("127.0.0.1", 70000))
            ngx.say(pcall(udp.setpeername, udp))
            ngx.say(pcall(udp.setpeername, udp, "a", 1, 2))
            ngx.say(udp:setpeername("example.com", 53))
            ngx.say(pcall(ngx.socket.udp, 1))
            ngx.say(pcall(udp.settimeout, udp))
        }
    }
--- request
GET /t
--- response_body
nilbad port number: 70000
falsengx.socket.udp setpeername: expecting 2 or 3 arguments (including the object), but seen 1
falsengx.socket.udp setpeername: expecting 2 or 3 arguments (including the object), but seen 4
nilno resolver defined to resolve "example.com"
falseexpecting zero arguments, but got 1
falsengx.socket settimeout: expecting at least 2 arguments (including the object) but seen 1



=== TEST 6: several datagrams, one receive each
--- config
    location = /t {
        content_by_lua_block {
            local udp = ngx.socket.udp()
            assert(udp:setpeername("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            assert(udp:send("q"))
            ngx.say(udp:receive())
            ngx.say(udp:receive())
        }
    }
--- udp_listen: $TEST_NGINX_RAND_PORT_1
--- udp_reply eval
["one", "two"]
--- request
GET /t
--- response_body
one
two



=== TEST 7: send with a bad argument
--- config
    location = /t {
        content_by_lua_block {
            local udp = ngx.socket.udp()
            assert(udp:setpeername("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(pcall(udp.send, udp, function() end))
            ngx.say(pcall(udp.send, udp))
            ngx.say(pcall(udp.receive, udp, 1, 2))
        }
    }
--- udp_listen: $TEST_NGINX_RAND_PORT_1
--- request
GET /t
--- response_body
falsebad argument #2 to '?' (string, number, boolean, nil, or array table expected, got function)
falseexpecting 2 arguments (including the object), but got 1
falseexpecting 1 or 2 arguments (including the object), but got 3



=== TEST 8: setpeername again switches the peer
--- config
    location = /t {
        content_by_lua_block {
            local udp = ngx.socket.udp()
            udp:settimeout(200)
            assert(udp:setpeername("127.0.0.1", $TEST_NGINX_RAND_PORT_2))
            assert(udp:setpeername("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            assert(udp:send("hello"))
            ngx.say(udp:receive())
        }
    }
--- udp_listen: $TEST_NGINX_RAND_PORT_1
--- udp_reply: world
--- request
GET /t
--- response_body
world



=== TEST 9: UDP is disabled in header_filter_by_lua
--- config
    location = /t {
        content_by_lua_block { ngx.say("ok") }
        header_filter_by_lua_block {
            local ok, err = pcall(ngx.socket.udp)
            ngx.header["X-Err"] = err
        }
    }
--- request
GET /t
--- response_body
ok
--- response_headers
X-Err: API disabled in the context of header_filter_by_lua*
