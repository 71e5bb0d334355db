# proxy_pass: the request headers and body sent upstream, byte for byte
# (nginx: ngx_http_proxy_create_request, ngx_http_proxy_headers, proxy_set_header inheritance).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: the default headers, the client's after them
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x; }
--- request
GET /p
--- more_headers
X-One: 1
User-Agent: test
--- response_body eval
"GET /x HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\nX-One: 1\r\nUser-Agent: test\r\n\r\n"



=== TEST 2: header names keep their case and order, repeated headers stay
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x; }
--- request
GET /p
--- more_headers
x-lower: a
X-UPPER: b
x-lower: c
Cookie: k=v
--- response_body eval
"GET /x HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\nx-lower: a\r\nX-UPPER: b\r\nx-lower: c\r\nCookie: k=v\r\n\r\n"



=== TEST 3: the Host of a host:port upstream
--- config
    location /p { proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back; }
    location /back { echo -n $echo_client_request_headers; }
--- request
GET /p
--- response_body eval
"GET /back HTTP/1.0\r\nHost: 127.0.0.1:$::ServerPort\r\nConnection: close\r\n\r\n"



=== TEST 4: the Host of an upstream{} is its name
--- http_config
    upstream backend { server unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    location /p { proxy_pass http://backend/y; }
--- request
GET /p
--- response_body eval
"GET /y HTTP/1.0\r\nHost: backend\r\nConnection: close\r\n\r\n"



=== TEST 5: proxy_set_header replaces a default, in its own place
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    location /p {
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header Host $host;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x;
    }
--- request
GET /p
--- more_headers
X-A: a
--- response_body eval
"GET /x HTTP/1.0\r\nX-Real-IP: 127.0.0.1\r\nHost: localhost\r\nConnection: close\r\nX-A: a\r\n\r\n"



=== TEST 6: a configured header hides the client's of that name
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    location /p {
        proxy_set_header x-a "from conf";
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x;
    }
--- request
GET /p
--- more_headers
X-A: client
X-B: b
--- response_body eval
"GET /x HTTP/1.0\r\nx-a: from conf\r\nHost: localhost\r\nConnection: close\r\nX-B: b\r\n\r\n"



=== TEST 7: an empty value removes the header
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    location /p {
        proxy_set_header Connection "";
        proxy_set_header Accept-Encoding "";
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x;
    }
--- request
GET /p
--- more_headers
Accept-Encoding: gzip
X-B: b
--- response_body eval
"GET /x HTTP/1.0\r\nHost: localhost\r\nX-B: b\r\n\r\n"



=== TEST 8: proxy_set_header is inherited from the server level
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    proxy_set_header X-Server s;
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x; }
--- request
GET /p
--- response_body eval
"GET /x HTTP/1.0\r\nX-Server: s\r\nHost: localhost\r\nConnection: close\r\n\r\n"



=== TEST 9: a location's proxy_set_header replaces all inherited ones
--- http_config
    proxy_set_header X-Http h;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    proxy_set_header X-Server s;
    location /p {
        proxy_set_header X-Loc l;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x;
    }
--- request
GET /p
--- response_body eval
"GET /x HTTP/1.0\r\nX-Loc: l\r\nHost: localhost\r\nConnection: close\r\n\r\n"



=== TEST 10: the http level's headers reach every server
--- http_config
    proxy_set_header X-Http h;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x; }
--- request
GET /p
--- response_body eval
"GET /x HTTP/1.0\r\nX-Http: h\r\nHost: localhost\r\nConnection: close\r\n\r\n"



=== TEST 11: proxy_http_version 1.1
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    location /p {
        proxy_http_version 1.1;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x;
    }
--- request
GET /p
--- response_body eval
"GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"



=== TEST 12: TE, Keep-Alive, Expect and Upgrade are not passed
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x; }
--- request
GET /p
--- more_headers
TE: trailers
Keep-Alive: 300
Upgrade: websocket
X-Z: z
--- response_body eval
"GET /x HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\nX-Z: z\r\n\r\n"



=== TEST 13: proxy_pass_request_headers off
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    location /p {
        proxy_pass_request_headers off;
        proxy_set_header X-Kept k;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x;
    }
--- request
GET /p
--- more_headers
X-Dropped: d
--- response_body eval
"GET /x HTTP/1.0\r\nX-Kept: k\r\nHost: localhost\r\nConnection: close\r\n\r\n"



=== TEST 14: X-Forwarded-For without a previous one
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    location /p {
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x;
    }
--- request
GET /p
--- response_body eval
"GET /x HTTP/1.0\r\nX-Forwarded-For: 127.0.0.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"



=== TEST 15: X-Forwarded-For appended to the client's
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    location /p {
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x;
    }
--- request
GET /p
--- more_headers
X-Forwarded-For: 10.0.0.1
--- response_body eval
"GET /x HTTP/1.0\r\nX-Forwarded-For: 10.0.0.1, 127.0.0.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"



=== TEST 16: $proxy_host and $proxy_port
--- config
    location /p {
        proxy_set_header X-PH $proxy_host;
        proxy_set_header X-PP $proxy_port;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back { echo -n $echo_client_request_headers; }
--- request
GET /p
--- response_body eval
"GET /back HTTP/1.0\r\nX-PH: 127.0.0.1:$::ServerPort\r\nX-PP: $::ServerPort\r\nHost: 127.0.0.1:$::ServerPort\r\nConnection: close\r\n\r\n"



=== TEST 17: $proxy_host of a unix socket is localhost, $proxy_port empty
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    location /p {
        proxy_set_header X-PH "[$proxy_host]";
        proxy_set_header X-PP "[$proxy_port]";
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x;
    }
--- request
GET /p
--- response_body eval
"GET /x HTTP/1.0\r\nX-PH: [localhost]\r\nX-PP: []\r\nHost: localhost\r\nConnection: close\r\n\r\n"



=== TEST 18: proxy_method
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    location /p {
        proxy_method PURGE;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x;
    }
--- request
GET /p
--- response_body eval
"PURGE /x HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n"



=== TEST 19: the request body and its length
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo_read_request_body; echo -n $echo_client_request_headers; echo_request_body; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x; }
--- request
POST /p
hello body
--- response_body eval
"POST /x HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 10\r\n\r\nhello body"



=== TEST 20: proxy_pass_request_body off keeps the Content-Length
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    location /p {
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x;
    }
--- request
POST /p
hello body
--- response_body eval
"POST /x HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n"



=== TEST 21: proxy_set_body with variables
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo_read_request_body; echo -n $echo_client_request_headers; echo_request_body; } }
--- config
    location /p {
        proxy_set_body "uri=$uri&arg=$arg_a";
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x;
    }
--- request
POST /p?a=7
original
--- response_body eval
"POST /x?a=7 HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 12\r\n\r\nuri=/p&arg=7"



=== TEST 22: a chunked request body goes with a Content-Length
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo_read_request_body; echo -n $echo_client_request_headers; echo_request_body; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x; }
--- raw_request eval
"POST /p HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
--- response_body eval
"POST /x HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 11\r\n\r\nhello world"



=== TEST 23: more_set_input_headers changes what is passed
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo -n $echo_client_request_headers; } }
--- config
    location /p {
        more_set_input_headers "X-A: changed";
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x;
    }
--- request
GET /p
--- more_headers
X-A: orig
X-B: b
--- response_body eval
"GET /x HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\nX-A: changed\r\nX-B: b\r\n\r\n"



=== TEST 24: the upstream sees the configured Host as $host
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; server_name up.example; location / { return 200 "$host $http_host\n"; } }
--- config
    location /p {
        proxy_set_header Host up.example;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/x;
    }
--- request
GET /p
--- response_body
up.example up.example
