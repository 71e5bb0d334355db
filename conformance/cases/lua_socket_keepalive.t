# lua-nginx-module's cosocket connection pools: setkeepalive, getreusedtimes, pool keys and
# the pool/pool_size options, lua_socket_pool_size and lua_socket_keepalive_timeout.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: a kept-alive connection is reused within the request
--- config
    location = /back { return 200 "back"; }
    location = /t {
        content_by_lua_block {
            local function get(sock)
                assert(sock:send("GET /back HTTP/1.1\r\nHost: x\r\n\r\n"))
                local reader = sock:receiveuntil("\r\n\r\n")
                local head = assert(reader())
                local len = tonumber(head:match("Content%-Length: (%d+)"))
                return assert(sock:receive(len))
            end
            for i = 1, 3 do
                local sock = ngx.socket.tcp()
                assert(sock:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT))
                ngx.say(i, ": reused ", sock:getreusedtimes(), " body ", get(sock))
                ngx.say("setkeepalive: ", sock:setkeepalive())
                ngx.say("after: ", sock:getreusedtimes())
            end
        }
    }
--- request
GET /t
--- response_body
1: reused 0 body back
setkeepalive: 1
after: nilclosed
2: reused 1 body back
setkeepalive: 1
after: nilclosed
3: reused 2 body back
setkeepalive: 1
after: nilclosed



=== TEST 2: the pool outlives the request
--- config
    location = /back { return 200 "back"; }
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT))
            ngx.say("reused: ", sock:getreusedtimes())
            assert(sock:send("GET /back HTTP/1.1\r\nHost: x\r\n\r\n"))
            local reader = sock:receiveuntil("\r\n\r\nback")
            assert(reader())
            ngx.say(sock:setkeepalive(10000, 10))
        }
    }
--- pipelined_requests eval
["GET /t", "GET /t", "GET /t"]
--- response_body eval
["reused: 0\n1\n", "reused: 1\n1\n", "reused: 2\n1\n"]



=== TEST 3: unread data keeps a connection out of the pool
--- config
    location = /back { return 200 "back"; }
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT))
            assert(sock:send("GET /back HTTP/1.1\r\nHost: x\r\n\r\n"))
            ngx.say(sock:receive())
            ngx.say(sock:setkeepalive())
            ngx.say(sock:receive())
        }
    }
--- request
GET /t
--- response_body
HTTP/1.1 200 OK
nilunread data in buffer
Server: nginx/1.22.1



=== TEST 4: custom pool names are separate pools
--- config
    location = /back { return 200 "back"; }
    location = /t {
        content_by_lua_block {
            local function cycle(opts)
                local sock = ngx.socket.tcp()
                assert(sock:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, opts))
                local n = sock:getreusedtimes()
                assert(sock:send("GET /back HTTP/1.1\r\nHost: x\r\n\r\n"))
                assert(sock:receiveuntil("\r\n\r\nback")())
                assert(sock:setkeepalive())
                return tostring(sock[3]) .. " " .. n
            end
            ngx.say(cycle({pool = "mine"}))
            ngx.say(cycle({pool = "mine"}))
            ngx.say(cycle({pool = "other"}))
            ngx.say(cycle({pool = 42}))
            ngx.say(cycle({pool = 42}))
            ngx.say(cycle({pool = "mine", pool_size = 5}))
        }
    }
--- request
GET /t
--- response_body
mine 0
mine 1
other 0
42 0
42 1
mine 2



=== TEST 5: a pool of one keeps the most recent connection
--- config
    location = /back { return 200 "back"; }
    location = /t {
        content_by_lua_block {
            local socks = {}
            for i = 1, 2 do
                local sock = ngx.socket.tcp()
                assert(sock:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, {pool = "p1"}))
                assert(sock:send("GET /back HTTP/1.1\r\nHost: x\r\n\r\n"))
                assert(sock:receiveuntil("\r\n\r\nback")())
                socks[i] = sock
            end
            ngx.say(socks[1]:setkeepalive(0, 1))
            ngx.say(socks[2]:setkeepalive(0, 1))
            for i = 1, 2 do
                local sock = ngx.socket.tcp()
                assert(sock:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, {pool = "p1"}))
                ngx.say("reused: ", sock:getreusedtimes())
            end
        }
    }
--- request
GET /t
--- response_body
1
1
reused: 1
reused: 0



=== TEST 6: setkeepalive argument errors
--- config
    location = /back { return 200 "back"; }
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, {pool = "args"}))
            ngx.say(pcall(sock.setkeepalive, sock, 0, 0))
            ngx.say(pcall(sock.setkeepalive, sock, 0, -3))
            ngx.say(pcall(sock.setkeepalive, sock, 1, 2, 3))
            ngx.say(pcall(sock.setkeepalive))
        }
    }
--- request
GET /t
--- response_body
falsebad argument #3 to '?' (bad "pool_size" option value: 0)
falsebad argument #3 to '?' (bad "pool_size" option value: -3)
falseexpecting 1 to 3 arguments (including the object), but got 4
falseexpecting 1 to 3 arguments (including the object), but got 0



=== TEST 7: the keepalive timeout closes idle connections
--- config
    location = /back { return 200 "back"; }
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, {pool = "t8"}))
            assert(sock:send("GET /back HTTP/1.1\r\nHost: x\r\n\r\n"))
            assert(sock:receiveuntil("\r\n\r\nback")())
            ngx.say(sock:setkeepalive(100))
            ngx.sleep(0.3)
            assert(sock:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, {pool = "t8"}))
            ngx.say("reused: ", sock:getreusedtimes())
        }
    }
--- request
GET /t
--- response_body
1
reused: 0



=== TEST 8: lua_socket_keepalive_timeout
--- config
    lua_socket_keepalive_timeout 100ms;
    location = /back { return 200 "back"; }
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, {pool = "t9"}))
            assert(sock:send("GET /back HTTP/1.1\r\nHost: x\r\n\r\n"))
            assert(sock:receiveuntil("\r\n\r\nback")())
            ngx.say(sock:setkeepalive())
            ngx.sleep(0.3)
            assert(sock:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, {pool = "t9"}))
            ngx.say("reused: ", sock:getreusedtimes())
        }
    }
--- request
GET /t
--- response_body
1
reused: 0



=== TEST 9: a connection the peer closed while idle is not reused
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(sock:receive(5))
            -- let the mock backend's close arrive first (it closes right after replying)
            ngx.sleep(0.1)
            ngx.say(sock:setkeepalive())
            ngx.sleep(0.2)
            local ok, err = sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1)
            ngx.say(ok, " ", err, " reused: ", sock:getreusedtimes())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply: hello
--- request
GET /t
--- response_body
hello
nilclosed
1 nil reused: 0



=== TEST 10: lua_socket_pool_size
--- config
    lua_socket_pool_size 1;
    location = /back { return 200 "back"; }
    location = /t {
        content_by_lua_block {
            local socks = {}
            for i = 1, 2 do
                local sock = ngx.socket.tcp()
                assert(sock:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, {pool = "t11"}))
                assert(sock:send("GET /back HTTP/1.1\r\nHost: x\r\n\r\n"))
                assert(sock:receiveuntil("\r\n\r\nback")())
                socks[i] = sock
            end
            ngx.say(socks[1]:setkeepalive())
            ngx.say(socks[2]:setkeepalive())
            for i = 1, 2 do
                local sock = ngx.socket.tcp()
                assert(sock:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, {pool = "t11"}))
                ngx.say("reused: ", sock:getreusedtimes())
            end
        }
    }
--- request
GET /t
--- response_body
1
1
reused: 1
reused: 0



=== TEST 11: setoption and getoption
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            ngx.say(pcall(sock.setoption, sock, "keepalive", 1))
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(sock:setoption("keepalive", 1))
            ngx.say(sock:getoption("keepalive"))
            ngx.say(sock:setoption("tcp-nodelay", 1))
            ngx.say(sock:getoption("tcp-nodelay"))
            ngx.say(sock:setoption("reuseaddr", 0))
            ngx.say(sock:setoption("foo", 1))
            ngx.say(sock:setoption("keepalive"))
            ngx.say(sock:setoption())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- request
GET /t
--- response_body
false/usr/share/lua/5.1/resty/core/socket.lua:81: socket is never created nor connected
true
1
true
1
true
nilunsupported option foo
nilmissing the "value" argument
nilmissing the "option" argument



=== TEST 12: backlog 0: no connect beyond the pool size
--- config
    location = /t {
        content_by_lua_block {
            local opts = {pool = "bl0", pool_size = 1, backlog = 0}
            local s1 = ngx.socket.tcp()
            ngx.say(s1:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, opts))
            local s2 = ngx.socket.tcp()
            ngx.say(s2:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, opts))
            ngx.say(s1:close())
            ngx.say(s2:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, opts))
        }
    }
--- request
GET /t
--- response_body
1
niltoo many waiting connect operations
1
1



=== TEST 13: a queued connect takes the connection put back into the pool
--- config
    location = /back { return 200 "back"; }
    location = /t {
        content_by_lua_block {
            local opts = {pool = "bl1", pool_size = 1, backlog = 1}
            local s1 = ngx.socket.tcp()
            assert(s1:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, opts))
            local t = ngx.thread.spawn(function()
                local s2 = ngx.socket.tcp()
                local ok, err = s2:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, opts)
                return ok, err, s2:getreusedtimes()
            end)
            local s3 = ngx.socket.tcp()
            ngx.say("third: ", s3:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, opts))
            ngx.sleep(0.05)
            assert(s1:send("GET /back HTTP/1.1\r\nHost: x\r\n\r\n"))
            assert(s1:receiveuntil("\r\n\r\nback")())
            ngx.say("keepalive: ", s1:setkeepalive())
            ngx.say(ngx.thread.wait(t))
        }
    }
--- request
GET /t
--- response_body
third: niltoo many waiting connect operations
keepalive: 1
true1nil1



=== TEST 14: a queued connect times out
--- config
    location = /t {
        content_by_lua_block {
            local opts = {pool = "bl2", pool_size = 1, backlog = 5}
            local s1 = ngx.socket.tcp()
            assert(s1:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, opts))
            local s2 = ngx.socket.tcp()
            s2:settimeout(100)
            ngx.say(s2:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, opts))
        }
    }
--- request
GET /t
--- response_body
niltimeout
--- error_log eval
qr/lua tcp socket queued connect timed out, when trying to connect to 127\.0\.0\.1:\d+/



=== TEST 15: a closed connection lets a queued connect go on
--- config
    location = /t {
        content_by_lua_block {
            local opts = {pool = "bl3", pool_size = 1, backlog = 1}
            local s1 = ngx.socket.tcp()
            assert(s1:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, opts))
            local t = ngx.thread.spawn(function()
                local s2 = ngx.socket.tcp()
                local ok, err = s2:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT, opts)
                return ok, err, s2:getreusedtimes()
            end)
            ngx.sleep(0.02)
            ngx.say(s1:close())
            ngx.say(ngx.thread.wait(t))
        }
    }
--- request
GET /t
--- response_body
1
true1nil0
