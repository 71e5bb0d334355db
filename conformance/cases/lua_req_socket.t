# ngx.req.socket(): the request body read as a stream (what lua-resty-upload uses).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: fixed-size reads end with "closed" and the partial data
--- config
    location = /t {
        content_by_lua_block {
            local sock, err = ngx.req.socket()
            if not sock then
                ngx.say("no socket: ", err)
                return
            end
            for i = 1, 4 do
                local data, err, part = sock:receive(4)
                ngx.say(i, ": ", data, " ", err, " [", part, "]")
            end
        }
    }
--- request
POST /t
abcdefghij
--- response_body
1: abcd nil [nil]
2: efgh nil [nil]
3: nil closed [ij]
4: nil closed [nil]
--- error_log
attempt to receive data on a closed socket



=== TEST 2: lines, then the rest with *a
--- config
    location = /t {
        content_by_lua_block {
            local sock = assert(ngx.req.socket())
            local l1 = sock:receive()
            local l2 = sock:receive("*l")
            local rest, err = sock:receive("*a")
            ngx.say("[", l1, "] [", l2, "] [", rest, "] ", err)
            ngx.say(select(2, sock:receive(1)))
        }
    }
--- request eval
"POST /t\none\r\ntwo\nthree\nfour"
--- response_body
[one] [two] [three
four] nil
closed



=== TEST 3: receiveuntil over a multipart body
--- config
    location = /t {
        content_by_lua_block {
            local sock = assert(ngx.req.socket())
            local boundary = ngx.var.http_content_type:match("boundary=(%S+)")
            local to_boundary = sock:receiveuntil("\r\n--" .. boundary)
            local line = sock:receiveuntil("\r\n")
            ngx.say("preamble [", to_boundary(), "]")
            while true do
                local l, err, part = line()
                if not l then ngx.say("end: ", err, " [", part, "]") break end
                while true do
                    local h = line()
                    if not h or h == "" then break end
                    ngx.say("header [", h, "]")
                end
                ngx.say("body [", to_boundary(), "]")
            end
        }
    }
--- more_headers
Content-Type: multipart/form-data; boundary=XyZ
--- request eval
"POST /t
pre\r
--XyZ\r
Content-Disposition: form-data; name=\"a\"\r
\r
value a\r
--XyZ\r
Content-Disposition: form-data; name=\"f\"; filename=\"f.txt\"\r
Content-Type: text/plain\r
\r
line 1
line 2\r
--XyZ--\r
"
--- response_body
preamble [pre]
header [Content-Disposition: form-data; name="a"]
body [value a]
header [Content-Disposition: form-data; name="f"; filename="f.txt"]
header [Content-Type: text/plain]
body [line 1
line 2]
end: closed [--]



=== TEST 4: receiveuntil with a size limit, inclusive
--- config
    location = /t {
        content_by_lua_block {
            local sock = assert(ngx.req.socket())
            local it = sock:receiveuntil("--", { inclusive = true })
            for i = 1, 4 do
                local data, err, part = it(3)
                ngx.say(i, ": ", data, " ", err, " ", part)
            end
            ngx.say(sock:receive("*a"))
        }
    }
--- request
POST /t
abcdef--tail
--- response_body
1: abc nil nil
2: def nil nil
3: -- nil nil
4: nil nil nil
tail



=== TEST 5: no body on a GET, and on an empty POST
--- config
    location = /t {
        content_by_lua_block {
            local sock, err = ngx.req.socket()
            ngx.say(type(sock), " ", err)
        }
    }
--- pipelined_requests eval
["GET /t", "POST /t"]
--- response_body eval
["nil no body\n", "nil no body\n"]



=== TEST 6: the body already read
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            local sock, err = ngx.req.socket()
            ngx.say(type(sock), " ", err)
            ngx.say(ngx.req.get_body_data())
        }
    }
--- request
POST /t
hello
--- response_body
nil request body already exists
hello



=== TEST 7: read_body and get_body_data after the socket took the body
--- config
    location = /t {
        content_by_lua_block {
            local sock = assert(ngx.req.socket())
            ngx.say(sock:receive(2))
            ngx.req.read_body()
            ngx.say(ngx.req.get_body_data())
        }
    }
--- request
POST /t
hello
--- response_body
he
nil



=== TEST 8: chunked bodies are refused
--- config
    location = /t {
        content_by_lua_block {
            local sock, err = ngx.req.socket()
            ngx.say(type(sock), " ", err)
        }
    }
--- raw_request eval
"POST /t HTTP/1.1\r
Host: localhost\r
Transfer-Encoding: chunked\r
Connection: close\r
\r
5\r
hello\r
0\r
\r
"
--- response_body
nil chunked request bodies not supported yet



=== TEST 9: too many arguments
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(ngx.req.socket, true, 1)
            ngx.say(ok, " ", err)
        }
    }
--- request
POST /t
x
--- response_body
false expecting zero arguments, but got 2



=== TEST 10: not in a subrequest
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            local res = ngx.location.capture("/sub", { method = ngx.HTTP_POST, body = "abc" })
            ngx.print(res.body)
        }
    }
    location = /sub {
        content_by_lua_block {
            local ok, err = pcall(ngx.req.socket)
            ngx.say(ok, " ", err)
        }
    }
--- request
POST /t
x
--- response_body
false attempt to read the request body in a subrequest



=== TEST 11: read timeouts keep the socket usable
--- config
    location = /t {
        content_by_lua_block {
            local sock = assert(ngx.req.socket())
            sock:settimeout(100)
            local data, err, part = sock:receive(10)
            ngx.say(data, " ", err, " [", part, "]")
            data, err, part = sock:receive(2)
            ngx.say(data, " ", err, " [", part, "]")
        }
    }
--- raw_request eval
"POST /t HTTP/1.0\r\nContent-Length: 6\r\n\r\nabc"
--- response_body
nil timeout [abc]
nil timeout []
--- error_log
lua tcp socket read timed out



=== TEST 12: receiveany
--- config
    location = /t {
        content_by_lua_block {
            local sock = assert(ngx.req.socket())
            local got = {}
            while true do
                local data, err = sock:receiveany(4)
                if not data then
                    ngx.say(table.concat(got, "|"), " ", err)
                    break
                end
                got[#got + 1] = data
            end
        }
    }
--- request
POST /t
0123456789
--- response_body
0123|4567|89 closed



=== TEST 13: API disabled in the log phase
--- config
    location = /t {
        content_by_lua_block { ngx.say("ok") }
        log_by_lua_block {
            local ok, err = pcall(ngx.req.socket)
            ngx.log(ngx.WARN, "req.socket: ", err)
        }
    }
--- request
POST /t
x
--- response_body
ok
--- error_log
req.socket: API disabled in the context of log_by_lua*



=== TEST 14: a collected socket is finalized
--- config
    location = /t {
        content_by_lua_block {
            do
                local sock = assert(ngx.req.socket())
            end
            collectgarbage()
            ngx.log(ngx.WARN, "collected")
            ngx.say("done")
        }
    }
--- request
POST /t
hello
--- response_body
done
--- grep_error_log eval: qr/lua finalize socket|collected/
--- grep_error_log_out
lua finalize socket
collected


=== TEST 15: the body read through ngx.req.socket() rebuilt with init/append/finish_body
--- config
    location = /t {
        client_body_buffer_size 1;
        lua_socket_buffer_size 1;
        content_by_lua_block {
            local sock = ngx.req.socket()
            ngx.say("before: ", ngx.req.get_body_data())
            ngx.req.init_body(100)
            while true do
                local data, err = sock:receive(1)
                if not data then
                    ngx.say("receive: ", err)
                    break
                end
                ngx.req.append_body(data)
            end
            ngx.req.finish_body()
            ngx.say("body: ", ngx.req.get_body_data())
            local s, err = ngx.req.socket()
            ngx.say("again: ", s, " ", err)
        }
    }
--- request
POST /t
hello, my dear friend!
--- response_body
before: nil
receive: closed
body: hello, my dear friend!
again: nil request body already exists
--- no_error_log
[error]
