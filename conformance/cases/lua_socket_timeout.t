# lua-nginx-module's cosocket timeouts: settimeout, settimeouts, lua_socket_read_timeout /
# send_timeout / connect_timeout, partial data on timeout, the log lines.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: settimeout: a read times out, with its log line; the socket stays usable
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            sock:settimeout(100)
            local data, err, part = sock:receive()
            ngx.say(data, " ", err, " [", part, "]")
            sock:settimeout(1000)
            ngx.say(sock:receive())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply_delay: 300ms
--- tcp_reply eval
"late\n"
--- request
GET /t
--- response_body
nil timeout []
late
--- error_log
lua tcp socket read timed out



=== TEST 2: lua_socket_read_timeout
--- config
    lua_socket_read_timeout 100ms;
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(sock:receive(10))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply: abc
--- tcp_no_close
--- request
GET /t
--- response_body
niltimeoutabc
--- error_log eval
qr/\[error\] .*? lua tcp socket read timed out, client: 127\.0\.0\.1, server: localhost, request: "GET \/t HTTP\/1\.1"/



=== TEST 3: settimeouts sets the read timeout alone
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeouts(1000, 1000, 100)
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            local t = ngx.now()
            ngx.say(sock:receive("*a"))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"part\nial"
--- tcp_no_close
--- request
GET /t
--- response_body eval
"niltimeoutpart\nial\n"



=== TEST 4: the partial line on a read timeout
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(100)
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(sock:receive())
            ngx.say(sock:receive())
            ngx.say(sock:receive())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"full\r\npar\rtial"
--- tcp_no_close
--- request
GET /t
--- response_body
full
niltimeoutpartial
niltimeout



=== TEST 5: receiveuntil times out with its partial data
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(100)
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            local it = sock:receiveuntil("--end")
            ngx.say(it())
            ngx.say(it())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"abc--en"
--- tcp_no_close
--- request
GET /t
--- response_body
niltimeoutabc
niltimeout



=== TEST 6: receiveany times out
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(100)
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(sock:receiveany(10))
            ngx.say(sock:receiveany(10))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply: xyz
--- tcp_no_close
--- request
GET /t
--- response_body
xyz
niltimeout



=== TEST 7: settimeout(0) goes back to the configured timeout
--- config
    lua_socket_read_timeout 150ms;
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            sock:settimeout(5000)
            sock:settimeout(0)
            local t0 = ngx.now()
            ngx.say(sock:receive())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_no_close
--- request
GET /t
--- response_body
niltimeout



=== TEST 8: lua_socket_log_errors off: no read timeout line
--- config
    lua_socket_log_errors off;
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(100)
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(sock:receive())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_no_close
--- request
GET /t
--- response_body
niltimeout
--- no_error_log
[error]



=== TEST 9: the timeout set before connect is kept by connect
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(100)
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            local a = ngx.now()
            local d, e = sock:receive()
            ngx.say(d, " ", e, " ", ngx.now() - a < 2)
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_no_close
--- request
GET /t
--- response_body
nil timeout true



=== TEST 10: ngx.sleep and a cosocket read timeout in one handler
--- config
    location = /t {
        content_by_lua_block {
            ngx.sleep(0.05)
            local sock = ngx.socket.tcp()
            sock:settimeout(50)
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(sock:receive())
            ngx.sleep(0.05)
            ngx.say("done")
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_no_close
--- request
GET /t
--- response_body
niltimeout
done
