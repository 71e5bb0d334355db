# ngx_http_mirror_module: background subrequests of the precontent phase (mirror,
# mirror_request_body, inheritance, log_subrequest), the bytes the mirror backend gets,
# and a main request that does not depend on its mirrors.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: a GET is mirrored with its method, URI, arguments and headers
--- config
    location /t { mirror /m; echo main; }
    location = /m { internal; proxy_set_header Host backend; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1$request_uri; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"GET /t?a=1&b=2 HTTP/1.0\r\nHost: backend\r\nConnection: close\r\nX-Foo: bar\r\nUser-Agent: mirror-test\r\n\r\n"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbad"
--- request
GET /t?a=1&b=2
--- more_headers
X-Foo: bar
User-Agent: mirror-test
--- response_body
main
--- no_error_log
[error]



=== TEST 2: a POST body is read first and mirrored byte for byte
--- config
    location /t { mirror /m; echo main; }
    location = /m { internal; proxy_set_header Host backend; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/copy$request_uri; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /copy/t HTTP/1.0\r\nHost: backend\r\nConnection: close\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
--- request
POST /t
hello world
--- more_headers
Content-Type: text/plain
--- response_body
main



=== TEST 3: a chunked body reaches the mirror with its length
--- config
    location /t { mirror /m; echo main; }
    location = /m { internal; proxy_set_header Host backend; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1$request_uri; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /t HTTP/1.0\r\nHost: backend\r\nConnection: close\r\nContent-Length: 5\r\n\r\nabcde"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
--- response_body
main



=== TEST 4: the mirror and the main request's proxy both get the body
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        location / { content_by_lua_block { ngx.req.read_body() ngx.say("main got ", ngx.req.get_body_data()) } }
    }
--- config
    location /t { mirror /m; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_2; }
    location = /m { internal; proxy_set_header Host backend; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/m$request_uri; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"PUT /m/t?x HTTP/1.0\r\nHost: backend\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbody"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
--- request
PUT /t?x
body
--- response_body
main got body



=== TEST 5: mirror_request_body off: a GET mirrored as is
--- config
    location /t { mirror /m; mirror_request_body off; echo main; }
    location = /m { internal; proxy_set_header Host backend; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1$request_uri; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"GET /t HTTP/1.0\r\nHost: backend\r\nConnection: close\r\n\r\n"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
--- request
GET /t
--- response_body
main



=== TEST 6: mirror_request_body off with a POST: the length stays, no body follows
--- config
    location /t { mirror /m; mirror_request_body off; echo main; }
    location = /m { internal; proxy_set_header Host backend; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1$request_uri; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /t HTTP/1.0\r\nHost: backend\r\nConnection: close\r\nContent-Length: 5\r\n\r\n"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
--- request
POST /t
hello
--- response_body
main



=== TEST 7: mirror_request_body off, the documented way: no body, no length
--- config
    location /t { mirror /m; mirror_request_body off; echo main; }
    location = /m {
        internal;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header Host backend;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1$request_uri;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /t HTTP/1.0\r\nHost: backend\r\nConnection: close\r\n\r\n"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
--- request
POST /t
hello
--- response_body
main



=== TEST 8: HEAD is mirrored as HEAD
--- config
    location /t { mirror /m; return 200; }
    location /h { mirror /m; echo main; }
    location = /m { internal; proxy_set_header Host backend; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1$request_uri; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"HEAD /h HTTP/1.0\r\nHost: backend\r\nConnection: close\r\n\r\n"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
--- request
HEAD /h
--- response_body



=== TEST 9: a mirror that cannot connect does not change the response
--- config
    location /t { mirror /m; echo main; }
    location = /m { internal; proxy_pass http://127.0.0.1:1/; }
--- request
GET /t
--- response_body
main
--- error_log
connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: localhost, request: "GET /t HTTP/1.1", subrequest: "/m", upstream: "http://127.0.0.1:1/", host: "localhost"



=== TEST 10: error answers of the mirror are discarded
--- config
    location /t { mirror /m404; mirror /m500; echo main; }
    location = /m500 { internal; return 500; }
    location = /m404 { internal; root html; }
--- request
GET /t
--- response_body
main
--- error_log
m404" failed (2: No such file or directory), client: 127.0.0.1, server: localhost, request: "GET /t HTTP/1.1", subrequest: "/m404", host: "localhost"



=== TEST 11: several mirrors run in order, with log_subrequest on
--- http_config
    log_format sub 'SUB $uri $status "$request" $args';
--- config
    location /t { mirror /m1; mirror /m2; echo main; }
    location ~ ^/m\d$ { internal; access_log logs/error.log sub; log_subrequest on; return 204; }
--- request
GET /t?k=v
--- response_body
main
--- grep_error_log eval
qr/SUB .*/
--- grep_error_log_out
SUB /m1 204 "GET /t?k=v HTTP/1.1" k=v
SUB /m2 204 "GET /t?k=v HTTP/1.1" k=v



=== TEST 12: without log_subrequest, mirrors are not logged; the request is
--- http_config
    log_format sub 'SUB $uri $status';
--- config
    access_log logs/error.log sub;
    location /t { mirror /m; echo main; }
    location = /m { internal; return 204; }
--- request
GET /t
--- response_body
main
--- grep_error_log eval
qr/SUB .*/
--- grep_error_log_out
SUB /t 200



=== TEST 13: the main request is logged after its mirror
--- http_config
    log_format sub 'SUB $uri $status';
--- config
    access_log logs/error.log sub;
    log_subrequest on;
    location /t { mirror /m; echo main; }
    location = /m { internal; proxy_set_header Host backend; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply_delay: 200ms
--- tcp_reply eval
"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
--- request
GET /t
--- response_body
main
--- wait: 500ms
--- grep_error_log eval
qr/SUB .*/
--- grep_error_log_out
SUB /m 202
SUB /t 200



=== TEST 14: a server-level mirror is inherited; a location's own list replaces it; off
--- http_config
    log_format sub 'SUB $uri';
--- config
    mirror /m1;
    location /a { echo a; }
    location /b { mirror /m2; mirror /m3; echo b; }
    location /c { mirror off; echo c; }
    location ~ ^/m\d$ { internal; access_log logs/error.log sub; log_subrequest on; return 204; }
--- request eval
["GET /a", "GET /b", "GET /c"]
--- response_body eval
["a\n", "b\n", "c\n"]
--- grep_error_log eval
qr/SUB .*/
--- grep_error_log_out
SUB /m1
SUB /m2
SUB /m3



=== TEST 15: an index redirect runs the location's mirror again
--- http_config
    log_format sub 'SUB $uri $request_uri';
--- config
    location /dir/ { mirror /m; root html; }
    location = /m { internal; access_log logs/error.log sub; log_subrequest on; return 204; }
--- user_files
>>> dir/index.html
idx
--- request
GET /dir/
--- response_body
idx
--- grep_error_log eval
qr/SUB .*/
--- grep_error_log_out
SUB /m /dir/
SUB /m /dir/



=== TEST 16: a rewrite-phase answer ends the request before precontent: no mirror
--- http_config
    log_format sub 'SUB $uri';
--- config
    location /t { mirror /m; return 200 "early\n"; }
    location = /m { internal; access_log logs/error.log sub; log_subrequest on; return 204; }
--- request
GET /t
--- response_body
early
--- no_error_log
SUB



=== TEST 17: the mirror shares the request's variables
--- config
    location /t { set $who main-set; mirror /m; echo main; }
    location = /m {
        internal;
        proxy_set_header Host backend;
        proxy_set_header X-Who $who;
        proxy_set_header X-Method $request_method;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/seen;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"DELETE /seen HTTP/1.0\r\nHost: backend\r\nX-Who: main-set\r\nX-Method: DELETE\r\nConnection: close\r\n\r\n"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
--- request
DELETE /t
--- response_body
main



=== TEST 18: Lua content reads the body the mirror module already read
--- config
    location /t {
        mirror /m;
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say("lua got ", ngx.req.get_body_data())
        }
    }
    location = /m { internal; proxy_set_header Host backend; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1$request_uri; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /t HTTP/1.0\r\nHost: backend\r\nConnection: close\r\nContent-Length: 6\r\n\r\nlua-me"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
--- request
POST /t
lua-me
--- response_body
lua got lua-me



=== TEST 19: a mirror that never answers does not delay the response
--- config
    location /t { mirror /m; echo main; }
    location = /m { internal; proxy_read_timeout 300ms; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_no_close
--- request
GET /t
--- response_body
main
--- error_log
upstream timed out (110: Connection timed out) while reading response header from upstream



=== TEST 20: log_subrequest logs other subrequests too (ngx.location.capture)
--- http_config
    log_format sub 'SUB $uri $status $args "$request"';
--- config
    access_log logs/error.log sub;
    location /t {
        content_by_lua_block {
            local r = ngx.location.capture("/p?a=1")
            local r2 = ngx.location.capture("/none")
            ngx.say(r.status, " ", r2.status)
        }
    }
    location /p { log_subrequest on; echo protected; }
    location /none { log_subrequest on; root html; }
--- request
GET /t
--- response_body
200 404
--- grep_error_log eval
qr/SUB .*/
--- grep_error_log_out
SUB /p 200 a=1 "GET /t HTTP/1.1"
SUB /none 404 - "GET /t HTTP/1.1"
SUB /t 200 - "GET /t HTTP/1.1"



=== TEST 21: big mirror and auth responses are dropped without reading them, quietly
--- http_config
    server { listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2; location / { root html; } }
--- config
    location /t { mirror /m; auth_request /a; echo main; }
    location = /m { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_2/big.txt; }
    location = /a { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_2/big.txt; }
--- user_files eval
">>> big.txt\n" . ("x" x 2000000)
--- request
GET /t
--- response_body
main
--- wait: 300ms
--- no_error_log
[error]
[warn]
[crit]



=== TEST 22: a subrequest to a proxy_pass with a URI replaces the location's prefix
--- config
    location /t { mirror /mirror/x/y; echo main; }
    location /mirror/ { internal; proxy_set_header Host backend; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/shadow/; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"GET /shadow/x/y?q=1 HTTP/1.0\r\nHost: backend\r\nConnection: close\r\n\r\n"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
--- request
GET /t?q=1
--- response_body
main
