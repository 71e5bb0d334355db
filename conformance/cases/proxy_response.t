# proxy_pass: the upstream's response back to the client (nginx: ngx_http_upstream_process_headers,
# hidden headers, proxy_redirect, proxy_intercept_errors, X-Accel-Redirect, bodies).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: status, headers and body pass through
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header X-Up yes; add_header Cache-Control no-store; return 201 "made\n"; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /p
--- error_code: 201
--- response_headers
X-Up: yes
Cache-Control: no-store
Content-Length: 5
Content-Type: text/plain
--- response_body
made



=== TEST 2: the upstream's Server, Date, X-Pad and X-Accel-* are hidden
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; server_tokens off; location / { add_header X-Pad p; add_header X-Accel-Buffering no; add_header X-Accel-Expires 10; add_header X-Accel-Charset utf-8; add_header X-Accel-Limit-Rate 100; return 200 "ok\n"; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /p
--- response_headers
Server: nginx/1.22.1
!X-Pad
!X-Accel-Buffering
!X-Accel-Expires
!X-Accel-Charset
!X-Accel-Limit-Rate
--- response_body
ok



=== TEST 3: proxy_pass_header X-Pad and Server
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; server_tokens off; location / { add_header X-Pad p; add_header X-Accel-Foo f; return 200 "ok\n"; } }
--- config
    location /p {
        proxy_pass_header X-Pad;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- response_headers
X-Pad: p
X-Accel-Foo: f



=== TEST 4: proxy_hide_header
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header X-Secret s; add_header X-Public p; return 200 "ok\n"; } }
--- config
    location /p {
        proxy_hide_header X-Secret;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- response_headers
!X-Secret
X-Public: p



=== TEST 5: proxy_hide_header is inherited
--- http_config
    proxy_hide_header X-Secret;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header X-Secret s; return 200 "ok\n"; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /p
--- response_headers
!X-Secret



=== TEST 6: an upstream error passes with its body when not intercepted
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 503 "busy upstream\n"; } }
--- config
    location /p { error_page 503 /err; proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
    location /err { return 200 "error page\n"; }
--- request
GET /p
--- error_code: 503
--- response_body
busy upstream



=== TEST 7: proxy_intercept_errors with an error_page
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 503 "busy upstream\n"; } }
--- config
    location /p {
        proxy_intercept_errors on;
        error_page 503 /err;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    location /err { return 200 "error page\n"; }
--- request
GET /p
--- error_code: 503
--- response_body
error page



=== TEST 8: proxy_intercept_errors without a matching error_page passes the response
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 404 "upstream 404\n"; } }
--- config
    location /p {
        proxy_intercept_errors on;
        error_page 500 /err;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- error_code: 404
--- response_body
upstream 404



=== TEST 9: intercepted error answered with nginx's own page
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 500 "upstream 500\n"; } }
--- config
    location /p {
        proxy_intercept_errors on;
        error_page 500 = @fallback;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    location @fallback { return 200 "fallback\n"; }
--- request
GET /p
--- response_body
fallback



=== TEST 10: proxy_redirect default rewrites the upstream's Location
--- config
    location /p/ { proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back/; }
    location /back/ { return 302 http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back/there; }
--- request
GET /p/x
--- error_code: 302
--- response_headers eval
"Location: http://localhost:$::ServerPort/p/there"



=== TEST 11: proxy_redirect default without a URI part
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 301 http://localhost/moved; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /p
--- error_code: 301
--- response_headers
Location: http://localhost/moved



=== TEST 12: an explicit proxy_redirect
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 302 http://internal.example/app/page; } }
--- config
    location /p {
        proxy_redirect http://internal.example/app/ /public/;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- error_code: 302
--- response_headers eval
"Location: http://localhost:$::ServerPort/public/page"



=== TEST 13: proxy_redirect off
--- config
    location /p/ {
        proxy_redirect off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back/;
    }
    location /back/ { return 302 http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back/there; }
--- request
GET /p/x
--- error_code: 302
--- response_headers eval
"Location: http://127.0.0.1:$::ServerPort/back/there"



=== TEST 14: proxy_redirect with a regex and captures
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 302 http://app7.internal/x/y; } }
--- config
    location /p {
        proxy_redirect ~^http://app(\d+)\.internal/(.*)$ http://public.example/$1/$2;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- error_code: 302
--- response_headers
Location: http://public.example/7/x/y



=== TEST 15: the first matching proxy_redirect wins
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 302 http://a.example/one; } }
--- config
    location /p {
        proxy_redirect http://b.example/ http://no/;
        proxy_redirect http://a.example/ http://yes/;
        proxy_redirect http://a.example/one http://late/;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- error_code: 302
--- response_headers
Location: http://yes/one



=== TEST 16: a relative Location from upstream is not made absolute
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { absolute_redirect off; return 302 /rel; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /p
--- error_code: 302
--- response_headers
Location: /rel



=== TEST 17: X-Accel-Redirect makes an internal redirect
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header X-Accel-Redirect /protected/file; return 200 "ignored\n"; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
    location /protected/ { internal; return 200 "protected $uri $args\n"; }
--- request
GET /p?a=1
--- response_body
protected /protected/file 



=== TEST 18: X-Accel-Redirect with arguments
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header X-Accel-Redirect "/protected/f?k=v"; return 200 "ignored\n"; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
    location /protected/ { internal; return 200 "protected $uri $args\n"; }
--- request
GET /p
--- response_body
protected /protected/f k=v



=== TEST 19: X-Accel-Redirect to a named location
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header X-Accel-Redirect @named; return 200 "ignored\n"; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
    location @named { return 200 "named\n"; }
--- request
GET /p
--- response_body
named



=== TEST 20: proxy_ignore_headers X-Accel-Redirect
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header X-Accel-Redirect /protected/file; return 200 "upstream body\n"; } }
--- config
    location /p {
        proxy_ignore_headers X-Accel-Redirect;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- response_headers
!X-Accel-Redirect
--- response_body
upstream body



=== TEST 21: a chunked upstream body
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo hello; echo_flush; echo world; } }
--- config
    location /p {
        proxy_http_version 1.1;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- response_body
hello
world



=== TEST 22: a close-delimited upstream body (HTTP/1.0)
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo hello; echo world; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /p
--- response_headers
!Content-Length
--- response_body
hello
world



=== TEST 23: a large body with Content-Length streams whole
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { root html; } }
--- user_files eval
">>> big.txt\n" . ("0123456789abcdef" x 20000)
--- config
    location /p/ {
        proxy_buffer_size 1k;
        proxy_buffers 4 1k;
        proxy_busy_buffers_size 2k;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/;
    }
--- request
GET /p/big.txt
--- response_headers
Content-Length: 320000
--- response_body eval
"0123456789abcdef" x 20000



=== TEST 24: proxy_buffering off
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo a; echo_flush; echo b; } }
--- config
    location /p {
        proxy_buffering off;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- response_body
a
b



=== TEST 25: HEAD is proxied as HEAD, the length kept
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request_method body\n"; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
HEAD /p
--- response_headers
Content-Length: 10
--- response_body



=== TEST 26: a 204 from upstream
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 204; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /p
--- error_code: 204
--- response_body



=== TEST 27: a 304 from upstream
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 304; } }
--- config
    location /p/ { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/; }
--- request
GET /p/f.txt
--- error_code: 304
--- response_body



=== TEST 28: Last-Modified and ETag pass through
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { root html; } }
--- user_files
>>> f.txt
content
--- config
    location /p/ { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/; }
--- request
GET /p/f.txt
--- response_headers_like
Last-Modified: .+ GMT
ETag: "[0-9a-f]+-8"
--- response_body
content



=== TEST 29: add_header with $upstream_status and $upstream_http_*
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header X-Ver 42; return 200 "ok\n"; } }
--- config
    location /p {
        add_header X-Status $upstream_status;
        add_header X-Got $upstream_http_x_ver;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- response_headers
X-Status: 200
X-Got: 42



=== TEST 30: $upstream_addr of a unix socket
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "ok\n"; } }
--- config
    location /p {
        add_header X-Addr $upstream_addr;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- response_headers_like
X-Addr: unix:.*/b\.sock



=== TEST 31: multiple Set-Cookie headers all pass
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header Set-Cookie a=1; add_header Set-Cookie b=2; return 200 "ok\n"; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /p
--- raw_response_headers_like eval
qr/Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n/



=== TEST 32: the client's keep-alive connection serves proxied requests in turn
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$uri\n"; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- pipelined_requests eval
["GET /p1", "GET /p2", "GET /p3"]
--- response_body eval
["/p1\n", "/p2\n", "/p3\n"]



=== TEST 33: a Content-Length set by a Lua backend passes
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.header["Content-Length"] = 3; ngx.print("old") } } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /p
--- response_headers
Content-Length: 3
--- response_body chomp
old



=== TEST 34: Refresh is rewritten by proxy_redirect
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header Refresh "5; url=http://internal/app/x"; return 200 "ok\n"; } }
--- config
    location /p {
        proxy_redirect http://internal/app/ /pub/;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- response_headers
Refresh: 5; url=/pub/x



=== TEST 35: Content-Type and charset from the upstream pass unchanged
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; default_type text/html; charset utf-8; location / { return 200 "{}\n"; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /p
--- response_headers
Content-Type: text/html; charset=utf-8



=== TEST 36: an upstream without Content-Type gives none
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.header["Content-Type"] = nil; ngx.print("raw") } } }
--- config
    location /p { default_type text/x-own; proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /p
--- response_headers
!Content-Type
--- response_body chomp
raw



=== TEST 37: add_header applies to proxied responses
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "ok\n"; } }
--- config
    location /p {
        add_header X-Proxy yes;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- response_headers
X-Proxy: yes



=== TEST 38: gzip compresses a proxied body
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"; } }
--- config
    location /p {
        gzip on;
        gzip_min_length 1;
        gzip_proxied any;
        gzip_types text/plain;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- more_headers
Accept-Encoding: gzip
--- response_headers
Content-Encoding: gzip



=== TEST 39: an upstream's 404 with error_page and intercept, the page's own status
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 404; } }
--- config
    location /p {
        proxy_intercept_errors on;
        error_page 404 =200 /fallback;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    location /fallback { return 200 "fell back\n"; }
--- request
GET /p
--- error_code: 200
--- response_body
fell back



=== TEST 40: an intercepted 401 keeps WWW-Authenticate
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header WWW-Authenticate 'Basic realm="up"' always; return 401; } }
--- config
    location /p {
        proxy_intercept_errors on;
        error_page 401 /e401;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    location /e401 { return 200 "login please\n"; }
--- request
GET /p
--- error_code: 401
--- response_headers
WWW-Authenticate: Basic realm="up"
--- response_body
login please



=== TEST 41: proxy_pass_header Server and Date replace nginx's own
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { more_set_headers "Server: upstream-srv"; return 200 "ok\n"; } }
--- config
    location /p {
        proxy_pass_header Server;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- raw_response_headers_like eval
qr/\r\nServer: upstream-srv\r\n/
--- raw_response_headers_unlike eval
qr/nginx\/1\.22\.1/



=== TEST 42: proxy_cookie_domain
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header Set-Cookie "sid=1;Path=/app;  Domain=.Internal.Example; HttpOnly"; return 200 "ok\n"; } }
--- config
    location /p {
        proxy_cookie_domain internal.example public.example;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- response_headers
Set-Cookie: sid=1; Path=/app; Domain=.public.example; HttpOnly



=== TEST 43: proxy_cookie_path prefix and regex
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header Set-Cookie "a=1; path=/app/x"; add_header Set-Cookie "b=2; path=/v2/y"; return 200 "ok\n"; } }
--- config
    location /p {
        proxy_cookie_path /app/ /;
        proxy_cookie_path ~^/v(\d+)/(.*)$ /version$1/$2;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- raw_response_headers_like eval
qr/Set-Cookie: a=1; path=\/x\r\nSet-Cookie: b=2; path=\/version2\/y\r\n/



=== TEST 44: a cookie no rule matches is passed as sent
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header Set-Cookie "c=3;path=/other;  secure"; return 200 "ok\n"; } }
--- config
    location /p {
        proxy_cookie_path /app/ /;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- response_headers
Set-Cookie: c=3;path=/other;  secure
