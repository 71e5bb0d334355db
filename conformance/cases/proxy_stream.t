# proxy_request_buffering off: the request head goes upstream at once and the body as it
# arrives (chunked to an HTTP/1.1 upstream when the client's is chunked), buffered anyway for
# HTTP/1.0 upstreams and bodies already read whole; client_max_body_size on chunked bodies;
# $upstream_* byte counts at header time.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: buffering off, HTTP/1.1: a chunked body still arriving goes chunked, head first
The body never ends: the upstream's answer to what it got so far comes back at once (a
buffered body would wait for client_body_timeout).
--- config
    lingering_close off;
    location /t {
        proxy_request_buffering off;
        proxy_http_version 1.1;
        proxy_set_header Host backend;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /t HTTP/1.1\r\nHost: backend\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n"
--- response_body
ok
--- no_error_log
[error]



=== TEST 2: buffering on (the default): a chunked body goes with Content-Length
--- config
    location /t {
        proxy_http_version 1.1;
        proxy_set_header Host backend;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /t HTTP/1.1\r\nHost: backend\r\nConnection: close\r\nContent-Length: 11\r\n\r\nhello world"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- raw_request eval
["POST /t HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", "5\r\nhello\r\n", "6\r\n world\r\n", "0\r\n\r\n"]
--- response_body
ok



=== TEST 3: buffering off, HTTP/1.0 upstream: a chunked body is buffered
--- config
    location /t {
        proxy_request_buffering off;
        proxy_set_header Host backend;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /t HTTP/1.0\r\nHost: backend\r\nConnection: close\r\nContent-Length: 11\r\n\r\nhello world"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- raw_request eval
["POST /t HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", "5\r\nhello\r\n", "6\r\n world\r\n", "0\r\n\r\n"]
--- response_body
ok



=== TEST 4: buffering off, the whole chunked body came with the head: Content-Length
--- config
    location /t {
        proxy_request_buffering off;
        proxy_http_version 1.1;
        proxy_set_header Host backend;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /t HTTP/1.1\r\nHost: backend\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
--- response_body
ok



=== TEST 5: buffering off, a Content-Length body still arriving goes as it is, head first
--- config
    lingering_close off;
    location /t {
        proxy_request_buffering off;
        proxy_set_header Host backend;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /t HTTP/1.0\r\nHost: backend\r\nConnection: close\r\nContent-Length: 100\r\n\r\nhello"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\nConnection: close\r\n\r\nhello"
--- response_body
ok



=== TEST 6: buffering off: a chunk over client_max_body_size ends the request with 413
(While sending upstream when the head went first; before, when the client's packets came
together.)
--- config
    location /t {
        client_max_body_size 10;
        proxy_request_buffering off;
        proxy_http_version 1.1;
        proxy_set_header Host backend;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply_delay: 500ms
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- raw_request eval
["POST /t HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", "5\r\nhello\r\n", "10\r\n0123456789abcdef\r\n", "0\r\n\r\n"]
--- error_code: 413
--- error_log eval
qr/\[error\] .*client intended to send too large chunked body: 5\+16 bytes( while sending request to upstream)?, client: 127\.0\.0\.1, server: localhost, request: "POST \/t HTTP\/1\.1", (upstream: "http:\/\/127\.0\.0\.1:\d+\/t", )?host: "localhost"/



=== TEST 7: buffered: a chunk over client_max_body_size is 413 before anything goes
--- config
    location /t {
        client_max_body_size 10;
        proxy_pass http://127.0.0.1:1;
    }
--- raw_request eval
["POST /t HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", "5\r\nhello\r\n", "10\r\n0123456789abcdef\r\n", "0\r\n\r\n"]
--- error_code: 413
--- error_log eval
qr/\[error\] .*client intended to send too large chunked body: 5\+16 bytes, client: 127\.0\.0\.1, server: localhost, request: "POST \/t HTTP\/1\.1", host: "localhost"/



=== TEST 8: buffering off: a refused connection is still retried (nothing was sent)
--- http_config
    upstream u {
        server 127.0.0.1:1;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- config
    location /t {
        proxy_request_buffering off;
        proxy_set_header Host backend;
        add_header X-Status $upstream_status;
        proxy_pass http://u;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"POST /t HTTP/1.0\r\nHost: backend\r\nConnection: close\r\nContent-Length: 11\r\n\r\nhello world"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- raw_request eval
["POST /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\nConnection: close\r\n\r\n", "hello", " world"]
--- response_headers
X-Status: 502, 200
--- response_body
ok



=== TEST 9: buffering off: no next upstream once the body went (a PUT's 404 is answered)
--- http_config
    upstream u {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- config
    location /t {
        proxy_request_buffering off;
        proxy_next_upstream http_404;
        proxy_set_header Host backend;
        add_header X-Status $upstream_status always;
        proxy_pass http://u;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n"
--- raw_request eval
["PUT /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\nConnection: close\r\n\r\n", "hello", " world"]
--- error_code: 404
--- response_headers
X-Status: 404
--- response_body
no



=== TEST 10: buffered, the same PUT's 404 goes to the next server
--- http_config
    upstream u {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- config
    location /t {
        proxy_next_upstream http_404;
        proxy_set_header Host backend;
        add_header X-Status $upstream_status always;
        proxy_pass http://u;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n"
--- raw_request eval
["PUT /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\nConnection: close\r\n\r\n", "hello", " world"]
--- error_code: 404
--- response_headers
X-Status: 404, 404



=== TEST 11: $upstream_* byte counts at header time, across tries
--- http_config
    upstream u {
        server 127.0.0.1:1;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- config
    location /t {
        proxy_set_header Host backend;
        add_header X-Len $upstream_response_length;
        add_header X-Sent $upstream_bytes_sent;
        add_header X-Recv $upstream_bytes_received;
        add_header X-Cache "[$upstream_cache_status]";
        proxy_pass http://u;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- request
GET /t
--- response_headers
X-Len: 0, 0
X-Sent: 0, 0
X-Recv: 0, 41
X-Cache: []
--- response_body
ok
