# The HTTP/1.x connection as nginx writes and reads it: header names as nginx spells them
# or as they were written (add_header, ngx.header, an upstream's head), chunked request
# bodies, Expect: 100-continue, pipelined requests with bodies, HTTP/1.0 keep-alive.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: ETag and Last-Modified of a static file as nginx spells them
--- user_files
>>> f.txt
file
--- config
    location /t/ { alias html/; }
--- request
GET /t/f.txt
--- raw_response_headers_like: \r\nLast-Modified: [^\r]+\r\nConnection: close\r\nETag: "[0-9a-f]+-5"\r\nAccept-Ranges: bytes\r\n
--- response_body
file



=== TEST 2: WWW-Authenticate of auth_basic
--- user_files
>>> htpasswd
u:{PLAIN}p
--- config
    location /t {
        auth_basic "zone";
        auth_basic_user_file ../html/htpasswd;
    }
--- request
GET /t
--- error_code: 401
--- raw_response_headers_like: \r\nWWW-Authenticate: Basic realm="zone"\r\n



=== TEST 3: add_header names as written
--- config
    location /t {
        add_header X-WordPress yes;
        add_header x-lower-case low;
        add_header X-UPPER up;
        return 200 "ok\n";
    }
--- request
GET /t
--- raw_response_headers_like: \r\nX-WordPress: yes\r\nx-lower-case: low\r\nX-UPPER: up\r\n
--- response_body
ok



=== TEST 4: ngx.header names as written
--- config
    location /t {
        content_by_lua_block {
            ngx.header["X-MiXed"] = "1"
            ngx.header["x-lower"] = "2"
            ngx.say("ok")
        }
    }
--- request
GET /t
--- raw_response_headers_like: \r\nX-MiXed: 1\r\nx-lower: 2\r\n
--- response_body
ok



=== TEST 5: an upstream's header names pass through as sent
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header x-up-MiXed m; add_header X-WordPress w; return 200 "up\n"; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /p
--- raw_response_headers_like: \r\nx-up-MiXed: m\r\nX-WordPress: w\r\n
--- response_body
up



=== TEST 6: a chunked request body, read by Lua
--- config
    location /t {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say("[", ngx.req.get_body_data(), "]")
        }
    }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext=1\r\n,\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
--- response_body
[hello,0123456789]



=== TEST 7: a chunked request body passed to an upstream
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.req.read_body() ngx.say(ngx.var.http_content_length, " ", ngx.req.get_body_data()) } } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- raw_request eval
"POST /p HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
--- response_body
5 abcde



=== TEST 8: Expect: 100-continue is answered when the body is read
--- config
    location /t {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.print(ngx.req.get_body_data())
        }
    }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"
--- error_code: 100
--- raw_response_headers_like: ^HTTP/1.1 100 Continue\r\n$
--- response_body_like: ^HTTP/1.1 200 OK\r\n.*\r\n\r\n5\r\nhello\r\n0\r\n\r\n$



=== TEST 9: Expect: 100-continue with a body discarded by return
--- config
    location /t { return 200 "r\n"; }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"
--- error_code: 100
--- response_body_like: ^HTTP/1.1 200 OK\r\n.*Content-Length: 2\r\n.*\r\n\r\nr\n$



=== TEST 10: no 100 Continue before a special response
--- config
    location /t { return 404; }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"
--- error_code: 404
--- raw_response_headers_like: ^HTTP/1.1 404 Not Found\r\n



=== TEST 11: pipelined requests with bodies, an unread body skipped
--- config
    location /echo {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say(ngx.req.get_body_data())
        }
    }
    location /skip { return 200 "skip\n"; }
--- pipelined_requests eval
["POST /echo\nabc", "POST /skip\nlonger body here", "GET /skip", "POST /echo\nxyz"]
--- response_body eval
["abc\n", "skip\n", "skip\n", "xyz\n"]



=== TEST 12: pipelined chunked bodies, read and skipped
--- config
    location /echo {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say(ngx.req.get_body_data())
        }
    }
    location /skip { return 200 "skip\n"; }
--- pipelined_requests eval
["POST /skip\n3\r\nabc\r\n0\r\n\r\n", "POST /echo\n2\r\nzz\r\n0\r\n\r\n", "POST /skip\na\r\nlonger one\r\n0\r\n\r\n"]
--- more_headers eval
["Transfer-Encoding: chunked\n", "Transfer-Encoding: chunked\n", "Transfer-Encoding: chunked\n"]
--- response_body eval
["skip\n", "zz\n", "skip\n"]



=== TEST 13: HTTP/1.0 keep-alive: the connection stays, lengths are given
--- config
    location /t { return 200 "ten\n"; }
--- pipelined_requests eval
["GET /t HTTP/1.0", "GET /t HTTP/1.0"]
--- raw_response_headers_like eval
["^HTTP/1.1 200 OK\r\n.*Content-Length: 4\r\nConnection: keep-alive\r\n", "^HTTP/1.1 200 OK\r\n.*Content-Length: 4\r\nConnection: close\r\n"]
--- response_body eval
["ten\n", "ten\n"]



=== TEST 14: HTTP/1.0 with a body of unknown length: no chunks, the close ends it
--- config
    location /t {
        lua_http10_buffering off;
        content_by_lua_block {
            ngx.print("a")
            ngx.flush(true)
            ngx.print("b")
        }
    }
--- raw_request eval
"GET /t HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
--- raw_response_headers_unlike: Transfer-Encoding|Content-Length
--- response_headers
Connection: close
--- response_body: ab



=== TEST 15: a bad chunk size answers 400
--- config
    location /t {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say("read")
        }
    }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
--- error_code: 400
--- response_headers
Connection: close
--- error_log
client sent invalid chunked body
