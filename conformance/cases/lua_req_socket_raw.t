# ngx.req.socket(true): the raw request socket (the whole connection, full duplex; the
# handler writes the response itself, and the connection closes after the request).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: the bytes after the head are the raw socket's; the handler writes the response
--- config
    location = /t {
        content_by_lua_block {
            local sock, err = ngx.req.socket(true)
            if not sock then
                ngx.log(ngx.ERR, "no raw socket: ", err)
                return
            end
            local line, err = sock:receive()
            local body = "got: " .. tostring(line) .. "\n"
            local ok, err = sock:send("HTTP/1.1 200 OK\r\nContent-Length: " .. #body .. "\r\nX-Raw: yes\r\n\r\n" .. body)
            if not ok then
                ngx.log(ngx.ERR, "failed to send: ", err)
            end
        }
    }
--- raw_request eval
"GET /t HTTP/1.1\r
Host: localhost\r
\r
ping\r
"
--- response_headers
X-Raw: yes
--- response_body
got: ping
--- no_error_log
[error]



=== TEST 2: an unread Content-Length body is read raw, in pieces
--- config
    location = /t {
        content_by_lua_block {
            local sock = assert(ngx.req.socket(true))
            local a = sock:receive(3)
            local b = sock:receiveany(100)
            local body = "a=" .. a .. " b=" .. b .. "\n"
            sock:send({"HTTP/1.1 200 OK\r\n", "Content-Length: ", #body, "\r\n\r\n", body})
        }
    }
--- raw_request eval
"POST /t HTTP/1.1\r
Host: localhost\r
Content-Length: 8\r
\r
12345678"
--- response_body
a=123 b=45678
--- no_error_log
[error]



=== TEST 3: the head sent and flushed first, then the body written raw
--- config
    location = /t {
        content_by_lua_block {
            ngx.header["Content-Length"] = 6
            ngx.header["X-Before"] = "head"
            ngx.send_headers()
            local ok, err = ngx.flush(true)
            if not ok then
                ngx.log(ngx.ERR, "failed to flush: ", err)
                return
            end
            local sock, err = ngx.req.socket(true)
            if not sock then
                ngx.log(ngx.ERR, "no raw socket: ", err)
                return
            end
            sock:send("raw!\r\n")
        }
    }
--- request
GET /t
--- response_headers
X-Before: head
Content-Length: 6
--- response_body eval
"raw!\r\n"
--- no_error_log
[error]



=== TEST 4: output still held (postpone_output) is never sent once the raw socket is taken
--- config
    location = /t {
        content_by_lua_block {
            ngx.header["X-Held"] = "yes"
            ngx.say("hello")
            local sock, err = ngx.req.socket(true)
            if not sock then
                ngx.log(ngx.ERR, "no raw socket: ", err)
                return
            end
            sock:send("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nraw\n")
        }
    }
--- request
GET /t
--- response_body
raw
--- raw_response_headers_unlike
X-Held
--- no_error_log
[error]



=== TEST 5: the raw socket's methods (no close, no setkeepalive) and its errors
--- config
    location = /t {
        content_by_lua_block {
            local sock = assert(ngx.req.socket(true))
            ngx.log(ngx.WARN, "methods: ", type(sock.send), " ", type(sock.receive), " ",
                    type(sock.receiveuntil), " ", type(sock.receiveany), " ",
                    type(sock.settimeouts), " ", type(sock.close), " ",
                    type(sock.setkeepalive), " ", type(sock.connect))
            ngx.log(ngx.WARN, "send_headers: ", ngx.send_headers())
            local ok, err = ngx.say("x")
            ngx.log(ngx.WARN, "say: ", ok, " ", err)
            sock:send("HTTP/1.1 204 No Content\r\n\r\n")
        }
    }
--- request
GET /t
--- error_code: 204
--- response_body
--- error_log
methods: function function function function function nil nil nil
say: nil raw request socket acquired
--- no_error_log
[error]



=== TEST 6: receiveuntil over the raw stream, then a read timeout
--- config
    location = /t {
        content_by_lua_block {
            local sock = assert(ngx.req.socket(true))
            sock:settimeouts(1000, 1000, 100)
            local reader = sock:receiveuntil("--END--")
            local part1 = reader()
            local data, err, partial = sock:receive(10)
            ngx.log(ngx.WARN, "after: ", data, " ", err, " [", partial, "]")
            local body = "part1: " .. tostring(part1) .. "\n"
            sock:send("HTTP/1.1 200 OK\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body)
        }
    }
--- raw_request eval
"GET /t HTTP/1.1\r
Host: localhost\r
\r
alpha beta--END--tail"
--- response_body
part1: alpha beta
--- error_log
lua tcp socket read timed out
after: nil timeout [tail]



=== TEST 7: a pipelined request after a raw socket request: the first answer is the raw one
--- config
    location = /t {
        content_by_lua_block {
            local sock = assert(ngx.req.socket(true))
            sock:send("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        }
    }
--- raw_request eval
"GET /t HTTP/1.1\r
Host: localhost\r
\r
GET /t HTTP/1.1\r
Host: localhost\r
\r
"
--- response_body
ok
--- no_error_log
[error]



=== TEST 8: the client closes: the raw read ends with "closed" and what came before
--- config
    location = /t {
        content_by_lua_block {
            local sock = assert(ngx.req.socket(true))
            local data, err, partial = sock:receive(100)
            ngx.log(ngx.WARN, "receive: ", data, " ", err, " [", partial, "]")
        }
    }
--- raw_request eval
"GET /t HTTP/1.1\r
Host: localhost\r
\r
some bytes"
--- ignore_response
--- timeout: 0.3
--- abort
--- wait: 0.1
--- error_log
receive: nil closed [some bytes]
--- no_error_log
[error]
