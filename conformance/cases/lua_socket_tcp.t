# lua-nginx-module's TCP cosockets (ngx.socket.tcp/stream/connect): connect, send, receive with
# every pattern, receiveany, receiveuntil, close, errors and their log lines, against a mock
# TCP backend (--- tcp_listen).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: connect, send, receive lines, then closed with the partial line
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            local ok, err = sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1)
            ngx.say("connect: ", ok, " ", err)
            local bytes, err = sock:send("hello\n")
            ngx.say("sent: ", bytes, " ", err)
            for i = 1, 3 do
                local line, err, part = sock:receive()
                ngx.say("line: ", line, " ", err, " ", part)
            end
            ngx.say("close: ", sock:close())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query_len: 6
--- tcp_query eval
"hello\n"
--- tcp_reply eval
"first\r\nsec\rond\nthird"
--- request
GET /t
--- response_body
connect: 1 nil
sent: 6 nil
line: first nil nil
line: second nil nil
line: nil closed third
close: 1
--- no_error_log
[error]



=== TEST 2: receive('*a') reads until the peer closes
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            local data, err, part = sock:receive("*a")
            ngx.say("all: [", data, "] ", err, " ", part)
            data, err, part = sock:receive("*a")
            ngx.say("again: [", data, "] ", err, " ", part)
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"line 1\nline 2\r\n\0binary"
--- request
GET /t
--- response_body eval
"all: [line 1\nline 2\r\n\0binary] nil nil\nagain: [] nil nil\n"
--- no_error_log
[error]



=== TEST 3: receive(n) reads exactly n bytes; 0 gives ""; the rest is partial on close
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(sock:receive(3))
            ngx.say("[", sock:receive(0), "]")
            ngx.say(sock:receive("4"))
            ngx.say(sock:receive(10))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply: abcdefghijk
--- request
GET /t
--- response_body
abc
[]
defg
nilclosedhijk



=== TEST 4: receive patterns mixed on one stream
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(sock:receive("*l"))
            ngx.say(sock:receive(2))
            ngx.say(sock:receive())
            ngx.say(sock:receive("*a"))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"one\nXYtwo\r\n\nrest of it"
--- request
GET /t
--- response_body eval
"one\nXY\ntwo\n\nrest of it\n"



=== TEST 5: send strings, numbers, booleans, nil and nested tables
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(sock:send("a"))
            ngx.say(sock:send(12.5))
            ngx.say(sock:send(true))
            ngx.say(sock:send(false))
            ngx.say(sock:send(nil))
            ngx.say(sock:send({"x", {"y", 3, {"z"}}, 4.25}))
            ngx.say(sock:send(""))
            ngx.say(sock:send({}))
            ngx.say(sock:send("\n"))
            ngx.say(sock:receive())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query_len: 26
--- tcp_query eval
"a12.5truefalsenilxy3z4.25\n"
--- tcp_reply eval
"ok\n"
--- request
GET /t
--- response_body
1
4
4
5
3
8
0
0
1
ok



=== TEST 6: send with bad arguments
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(pcall(sock.send, sock, {true}))
            ngx.say(pcall(sock.send, sock, {a = 1}))
            ngx.say(pcall(sock.send, sock, function() end))
            ngx.say(pcall(sock.send, sock, {ngx.null}))
            ngx.say(pcall(sock.send, sock))
            ngx.say(pcall(sock.send, sock, "a", "b"))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- request
GET /t
--- response_body
falsebad argument #2 to '?' (bad data type boolean found)
falsebad argument #2 to '?' (non-array table found)
falsebad argument #2 to '?' (string, number, boolean, nil, or array table expected, got function)
falsebad argument #2 to '?' (bad data type userdata found)
falseexpecting 2 arguments (including the object), but got 1
falseexpecting 2 arguments (including the object), but got 3



=== TEST 7: connection refused, and its log line
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            local ok, err = sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1)
            ngx.say("connect: ", ok, " ", err)
            ngx.say("send: ", sock:send("x"))
            ngx.say("receive: ", sock:receive())
            ngx.say("close: ", sock:close())
        }
    }
--- request
GET /t
--- response_body
connect: nil connection refused
send: nilclosed
receive: nilclosed
close: nilclosed
--- error_log eval
[qr/\[error\] .*? connect\(\) failed \(111: Connection refused\), client: 127\.0\.0\.1, server: localhost, request: "GET \/t HTTP\/1\.1"/,
qr/attempt to send data on a closed socket: u:[0-9A-F]+, c:0+, ft:\d+ eof:0/,
qr/attempt to receive data on a closed socket: u:[0-9A-F]+, c:0+, ft:\d+ eof:0/]



=== TEST 8: lua_socket_log_errors off silences the socket errors
--- config
    lua_socket_log_errors off;
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            local ok, err = sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1)
            ngx.say("connect: ", ok, " ", err)
            ngx.say("send: ", sock:send("x"))
        }
    }
--- request
GET /t
--- response_body
connect: nil connection refused
send: nilclosed
--- no_error_log
[error]



=== TEST 9: a unix socket path that does not exist
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            local ok, err = sock:connect("unix:$TEST_NGINX_HTML_DIR/nosuch.sock")
            ngx.say("connect: ", ok, " ", err)
        }
    }
--- request
GET /t
--- response_body
connect: nil no such file or directory
--- error_log eval
qr/\[crit\] .*? connect\(\) to unix:.*?nosuch\.sock failed \(2: No such file or directory\)/



=== TEST 10: connect to a unix socket
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            local ok, err = sock:connect("unix:$TEST_NGINX_HTML_DIR/be.sock")
            ngx.say("connect: ", ok, " ", err)
            ngx.say(sock:send("ping\n"))
            ngx.say(sock:receive())
            ngx.say(sock[3]:sub(-13))
        }
    }
--- tcp_listen: $TEST_NGINX_HTML_DIR/be.sock
--- tcp_query_len: 5
--- tcp_query eval
"ping\n"
--- tcp_reply eval
"pong\n"
--- request
GET /t
--- response_body eval
"connect: 1 nil\n5\npong\n/html/be.sock\n"



=== TEST 11: host names need a resolver
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            local ok, err = sock:connect("localhost", $TEST_NGINX_RAND_PORT_1)
            ngx.say("connect: ", ok, " ", err)
        }
    }
--- request
GET /t
--- response_body
connect: nil no resolver defined to resolve "localhost"
--- no_error_log
[error]



=== TEST 12: connect argument errors
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            ngx.say(sock:connect("127.0.0.1"))
            ngx.say(sock:connect("127.0.0.1", nil))
            ngx.say(sock:connect("127.0.0.1", 65536))
            ngx.say(sock:connect("127.0.0.1", -1))
            ngx.say(pcall(sock.connect, sock))
            ngx.say(pcall(sock.connect, sock, "a", 1, {}, 5))
            ngx.say(pcall(sock.connect, sock, "127.0.0.1", 1, {pool_size = 0}))
            ngx.say(pcall(sock.connect, sock, "127.0.0.1", 1, {pool_size = "x"}))
            ngx.say(pcall(sock.connect, sock, "127.0.0.1", 1, {backlog = -1}))
            ngx.say(pcall(sock.connect, sock, "127.0.0.1", 1, {pool = {}}))
        }
    }
--- request
GET /t
--- response_body
nilmissing the port number
nilmissing the port number
nilbad port number: 65536
nilbad port number: -1
falsengx.socket connect: expecting 2, 3, or 4 arguments (including the object), but seen 1
falsengx.socket connect: expecting 2, 3, or 4 arguments (including the object), but seen 5
falsebad argument #4 to '?' (bad "pool_size" option value: 0)
falsebad argument #4 to '?' (bad "pool_size" option type: string)
falsebad argument #4 to '?' (bad "backlog" option value: -1)
falsebad argument #4 to '?' (bad "pool" option type: table)



=== TEST 13: ngx.socket.connect and ngx.socket.stream
--- config
    location = /t {
        content_by_lua_block {
            local sock, err = ngx.socket.connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1)
            ngx.say(type(sock), " ", err)
            ngx.say(sock:receive())
            local s2 = ngx.socket.stream()
            ngx.say(getmetatable(s2) == getmetatable(sock))
            local bad, err = ngx.socket.connect("127.0.0.1", $TEST_NGINX_RAND_PORT_2)
            ngx.say(bad, " ", err)
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"hi\n"
--- request
GET /t
--- response_body
table nil
hi
true
nil connection refused



=== TEST 14: the socket object is a table with the state at [1] and the pool key at [3]
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            ngx.say(type(sock), " ", type(sock[1]), " ", sock[3])
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(type(sock[1]), " ", sock[3] == "127.0.0.1:$TEST_NGINX_RAND_PORT_1")
            ngx.say(pcall(ngx.socket.tcp, 1))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- request
GET /t
--- response_body
table nil nil
userdata true
falseexpecting zero arguments, but got 1



=== TEST 15: receive argument errors
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(pcall(sock.receive, sock, "*x"))
            ngx.say(pcall(sock.receive, sock, "abc"))
            ngx.say(pcall(sock.receive, sock, -1))
            ngx.say(pcall(sock.receive, sock, {}))
            ngx.say(pcall(sock.receive, sock, 1, 2))
            ngx.say(pcall(sock.receive))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- request
GET /t
--- response_body
falsebad argument #2 to '?' (bad pattern argument)
falsebad argument #2 to '?' (bad pattern argument: abc)
falsebad argument #2 to '?' (bad pattern argument)
falsebad argument #2 to '?' (bad pattern argument)
falseexpecting 1 or 2 arguments (including the object), but got 3
falseexpecting 1 or 2 arguments (including the object), but got 0



=== TEST 16: receiveany returns what is there, at most max bytes
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(sock:receive(2))
            ngx.say(sock:receiveany(3))
            ngx.say(sock:receiveany(100))
            ngx.say(sock:receiveany(100))
            ngx.say(pcall(sock.receiveany, sock, 0))
            ngx.say(pcall(sock.receiveany, sock, "x"))
            ngx.say(pcall(sock.receiveany, sock))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply: abcdefgh
--- request
GET /t
--- response_body
ab
cde
fgh
nilclosed
truenilclosed
truenilclosed
falseexpecting 2 arguments (including the object), but got 1



=== TEST 17: receiveany argument errors while connected
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(pcall(sock.receiveany, sock, 0))
            ngx.say(pcall(sock.receiveany, sock, -5))
            ngx.say(pcall(sock.receiveany, sock, "x"))
            ngx.say(pcall(sock.receiveany, sock))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- request
GET /t
--- response_body
falsebad argument #2 to '?' (bad max argument)
falsebad argument #2 to '?' (bad max argument)
falsebad argument #2 to '?' (bad max argument)
falseexpecting 2 arguments (including the object), but got 1



=== TEST 18: receiveuntil finds a boundary split across reads
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            local it = sock:receiveuntil("--abc")
            for i = 1, 3 do
                local data, err, part = it()
                ngx.say(data, " ", err, " ", part)
            end
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
["hello--a", "bc world --ab--abc", "tail -"]
--- request
GET /t
--- response_body
hello nil nil
 world --ab nil nil
nil closed tail 



=== TEST 19: receiveuntil with inclusive
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            local it = sock:receiveuntil("\r\n", {inclusive = true})
            ngx.print(it())
            ngx.print(it())
            local it2 = sock:receiveuntil("\r\n", {inclusive = false})
            ngx.say(it2())
            ngx.say(pcall(sock.receiveuntil, sock, "x", {inclusive = 1}))
            ngx.say(sock:receiveuntil(""))
            ngx.say(pcall(sock.receiveuntil, sock))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"a\r\nb\r\nc\r\n"
--- request
GET /t
--- response_body eval
"a\r\nb\r\nc\nfalsebad \"inclusive\" option value type: number\nnilpattern is empty\nfalseexpecting 2 or 3 arguments (including the object), but got 1\n"



=== TEST 20: receiveuntil with a size reads chunks, then nil at the boundary
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            local reader = sock:receiveuntil("\r\n--abcedhb")
            while true do
                local data, err, partial = reader(4)
                if not data then
                    if err then
                        ngx.say("failed: ", err)
                        break
                    end
                    ngx.say("read done")
                    break
                end
                ngx.say("chunk: [", data, "]")
            end
            ngx.say(sock:receive())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"hello, world\r\n--abcedhb\nafter\n"
--- request
GET /t
--- response_body eval
"chunk: [hell]\nchunk: [o, w]\nchunk: [orld]\nchunk: []\nread done\n\n"



=== TEST 21: receiveuntil with overlapping pattern prefixes
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            local it = sock:receiveuntil("aab")
            ngx.say(it())
            local it2 = sock:receiveuntil("abab")
            ngx.say(it2())
            ngx.say(it2())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"xaaaabyabababzabab"
--- request
GET /t
--- response_body
xaa
y
abz



=== TEST 22: close twice, and operations after close
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(sock:close())
            ngx.say(sock:close())
            ngx.say(sock:receive())
            ngx.say(sock:send("x"))
            ngx.say(sock:getreusedtimes())
            ngx.say(sock:setkeepalive())
            ngx.say(pcall(sock.close))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- request
GET /t
--- response_body
1
nilclosed
nilclosed
nilclosed
nilclosed
nilclosed
falseexpecting 1 argument (including the object) but seen 0



=== TEST 23: methods on a socket never connected
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            ngx.say(sock:close())
            ngx.say(sock:getreusedtimes())
            ngx.say(sock:setkeepalive())
            ngx.say(sock:settimeout(100))
            ngx.say(sock[2], " ", sock[4], " ", sock[5])
            ngx.say(sock:settimeouts(1, 2, 3))
            ngx.say(sock[2], " ", sock[4], " ", sock[5])
        }
    }
--- request
GET /t
--- response_body
nilclosed
nilclosed
nilclosed

100 100 100

1 2 3



=== TEST 24: settimeout argument errors
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            ngx.say(pcall(sock.settimeout, sock))
            ngx.say(pcall(sock.settimeout, sock, 2^31))
            ngx.say(pcall(sock.settimeouts, sock, 1, 2))
            ngx.say(pcall(sock.settimeouts, sock, 1, 2^32, 3))
        }
    }
--- request
GET /t
--- response_body
falsengx.socket settimeout: expecting 2 arguments (including the object) but seen 1
falsebad timeout value
falsengx.socket settimeout: expecting 4 arguments (including the object) but seen 3
falsebad timeout value



=== TEST 25: cosockets are disabled in header_filter_by_lua
--- config
    location = /t {
        content_by_lua_block { ngx.say("ok") }
        header_filter_by_lua_block {
            local ok, err = pcall(ngx.socket.tcp)
            ngx.header["X-Err"] = err
        }
    }
--- request
GET /t
--- response_headers
X-Err: API disabled in the context of header_filter_by_lua*
--- response_body
ok



=== TEST 26: cosockets are disabled in log_by_lua and set_by_lua
--- config
    location = /t {
        set_by_lua_block $x {
            local ok, err = pcall(ngx.socket.udp)
            return err
        }
        content_by_lua_block { ngx.say(ngx.var.x) }
        log_by_lua_block {
            local ok, err = pcall(ngx.socket.tcp)
            ngx.log(ngx.WARN, "log: ", err)
        }
    }
--- request
GET /t
--- response_body
API disabled in the context of set_by_lua*
--- error_log
log: API disabled in the context of log_by_lua*



=== TEST 27: cosockets work in rewrite_by_lua and access_by_lua
--- config
    location = /t {
        rewrite_by_lua_block {
            local sock = ngx.socket.tcp()
            local ok, err = sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1)
            ngx.ctx.r = tostring(ok) .. " " .. sock:receive()
        }
        access_by_lua_block {
            local sock = ngx.socket.tcp()
            local ok, err = sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1)
            ngx.ctx.a = tostring(ok) .. " " .. sock:receive()
        }
        content_by_lua_block { ngx.say(ngx.ctx.r, ", ", ngx.ctx.a) }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"hey\n"
--- request
GET /t
--- response_body
1 hey, 1 hey



=== TEST 28: talking HTTP to the server under test itself
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT))
            assert(sock:send("GET /back HTTP/1.0\r\nHost: x\r\n\r\n"))
            local status = sock:receive()
            ngx.say(status)
            local it = sock:receiveuntil("\r\n\r\n")
            local head = it()
            ngx.say(head:match("Content%-Length: %d+"))
            ngx.say(sock:receive("*a"))
        }
    }
    location = /back { return 200 "from back"; }
--- request
GET /t
--- response_body
HTTP/1.1 200 OK
Content-Length: 9
from back



=== TEST 29: the peer resets: the error text
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            local data, err, part = sock:receive(100)
            ngx.say(data, " ", err, " [", part, "]")
            ngx.say(sock:receive())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply: short
--- request
GET /t
--- response_body
nil closed [short]
nilclosed



=== TEST 30: connect again on a connected socket drops the old connection
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(sock:receive())
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(sock:receive())
            ngx.say(sock:getreusedtimes())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"one\n"
--- request
GET /t
--- response_body
one
one
0



=== TEST 31: a resolver that does not answer
--- config
    resolver 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    resolver_timeout 300ms;
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            local ok, err = sock:connect("silent.example.test", 80)
            ngx.say(ok, " ", err)
            local udp = ngx.socket.udp()
            ok, err = udp:setpeername("silent.example.test", 53)
            ngx.say(ok, " ", err)
        }
    }
--- udp_listen: $TEST_NGINX_RAND_PORT_1
--- request
GET /t
--- response_body
nil silent.example.test could not be resolved (110: Operation timed out)
nil silent.example.test could not be resolved (110: Operation timed out)
