# upstream keepalive: idle connections to peers are reused (nginx: ngx_http_upstream_keepalive_module),
# seen by the backend's $connection_requests.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: without keepalive every request opens a connection
--- http_config
    upstream u { server unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$connection_requests\n"; } }
--- config
    location /p { proxy_pass http://u; }
--- request eval
["GET /p", "GET /p", "GET /p"]
--- response_body eval
["1\n", "1\n", "1\n"]



=== TEST 2: keepalive with HTTP/1.1 and no Connection header reuses the connection
--- http_config
    upstream u { server unix:$TEST_NGINX_SERVER_ROOT/b.sock; keepalive 4; }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$connection_requests\n"; } }
--- config
    location /p {
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://u;
    }
--- request eval
["GET /p", "GET /p", "GET /p"]
--- response_body eval
["1\n", "2\n", "3\n"]



=== TEST 3: keepalive with the default Connection: close does not reuse
--- http_config
    upstream u { server unix:$TEST_NGINX_SERVER_ROOT/b.sock; keepalive 4; }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$connection_requests\n"; } }
--- config
    location /p { proxy_http_version 1.1; proxy_pass http://u; }
--- request eval
["GET /p", "GET /p", "GET /p"]
--- response_body eval
["1\n", "1\n", "1\n"]



=== TEST 4: HTTP/1.0 to the upstream does not reuse
--- http_config
    upstream u { server unix:$TEST_NGINX_SERVER_ROOT/b.sock; keepalive 4; }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$connection_requests\n"; } }
--- config
    location /p { proxy_set_header Connection ""; proxy_pass http://u; }
--- request eval
["GET /p", "GET /p"]
--- response_body eval
["1\n", "1\n"]



=== TEST 5: keepalive_requests closes after that many requests
--- http_config
    upstream u { server unix:$TEST_NGINX_SERVER_ROOT/b.sock; keepalive 4; keepalive_requests 2; }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$connection_requests\n"; } }
--- config
    location /p {
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://u;
    }
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p"]
--- response_body eval
["1\n", "2\n", "1\n", "2\n"]



=== TEST 6: the backend's own keepalive_requests closes it; the next request reconnects
--- http_config
    upstream u { server unix:$TEST_NGINX_SERVER_ROOT/b.sock; keepalive 4; }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; keepalive_requests 2; location / { return 200 "$connection_requests\n"; } }
--- config
    location /p {
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://u;
    }
--- request eval
["GET /p", "GET /p", "GET /p"]
--- response_body eval
["1\n", "2\n", "1\n"]



=== TEST 7: a chunked response is read to its end, then reused
--- http_config
    upstream u { server unix:$TEST_NGINX_SERVER_ROOT/b.sock; keepalive 4; }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo "n=$connection_requests"; echo_flush; echo end; } }
--- config
    location /p {
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://u;
    }
--- request eval
["GET /p", "GET /p"]
--- response_body eval
["n=1\nend\n", "n=2\nend\n"]



=== TEST 8: keepalive with a POST body
--- http_config
    upstream u { server unix:$TEST_NGINX_SERVER_ROOT/b.sock; keepalive 4; }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo_read_request_body; echo "$connection_requests $echo_request_body"; } }
--- config
    location /p {
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://u;
    }
--- request eval
["POST /p\nfirst", "POST /p\nsecond"]
--- response_body eval
["1 first\n", "2 second\n"]



=== TEST 9: a HEAD response leaves the connection reusable
--- http_config
    upstream u { server unix:$TEST_NGINX_SERVER_ROOT/b.sock; keepalive 4; }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header X-N $connection_requests; return 200 "body\n"; } }
--- config
    location /p {
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://u;
    }
--- request eval
["HEAD /p", "HEAD /p"]
--- response_headers eval
["X-N: 1", "X-N: 2"]
