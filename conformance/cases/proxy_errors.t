# proxy_pass failures: 502/504, nginx's error-log lines, timeouts, proxy_next_upstream and the
# $upstream_* variables across tries.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: connection refused: 502 and the log line
--- config
    location /p { proxy_pass http://127.0.0.1:1/x; }
--- request
GET /p?a=1
--- error_code: 502
--- error_log eval
qr/\[error\] .*connect\(\) failed \(111: Connection refused\) while connecting to upstream, client: 127\.0\.0\.1, server: localhost, request: "GET \/p\?a=1 HTTP\/1\.1", upstream: "http:\/\/127\.0\.0\.1:1\/x\?a=1", host: "localhost"/



=== TEST 2: a missing unix socket
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/none.sock:/y; }
--- request
GET /p
--- error_code: 502
--- error_log eval
qr/connect\(\) to unix:\S+\/none\.sock failed \(2: No such file or directory\) while connecting to upstream, client: 127\.0\.0\.1, server: localhost, request: "GET \/p HTTP\/1\.1", upstream: "http:\/\/unix:\S+\/none\.sock:\/y", host: "localhost"/



=== TEST 3: the 502 page
--- config
    location /p { proxy_pass http://127.0.0.1:1; }
--- request
GET /p
--- error_code: 502
--- response_body_like chomp
<title>502 Bad Gateway</title>



=== TEST 4: read timeout: 504 and the log line
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo_sleep 1; echo late; } }
--- config
    location /p {
        proxy_read_timeout 200ms;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- error_code: 504
--- error_log eval
qr/upstream timed out \(110: Connection timed out\) while reading response header from upstream, client: 127\.0\.0\.1, server: localhost, request: "GET \/p HTTP\/1\.1", upstream: "http:\/\/unix:\S+\/b\.sock\/p", host: "localhost"/



=== TEST 5: an upstream that closes before answering
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 444; } }
--- config
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /p
--- error_code: 502
--- error_log
upstream prematurely closed connection while reading response header from upstream



=== TEST 6: proxy_next_upstream error: the next server answers
--- http_config
    upstream u {
        server 127.0.0.1:1;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
--- config
    location /p {
        add_header X-Status $upstream_status;
        proxy_pass http://u;
    }
--- request
GET /p
--- response_headers
X-Status: 502, 200
--- response_body
b
--- error_log
connect() failed (111: Connection refused) while connecting to upstream



=== TEST 7: $upstream_addr across tries
--- http_config
    upstream u {
        server 127.0.0.1:1;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
--- config
    location /p {
        add_header X-Addr $upstream_addr;
        proxy_pass http://u;
    }
--- request
GET /p
--- response_headers_like
X-Addr: 127\.0\.0\.1:1, unix:\S+/b\.sock



=== TEST 8: proxy_next_upstream off
--- http_config
    upstream u {
        server 127.0.0.1:1;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
--- config
    location /p {
        proxy_next_upstream off;
        proxy_pass http://u;
    }
--- request
GET /p
--- error_code: 502



=== TEST 9: proxy_next_upstream http_503
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 503 "a busy\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
--- config
    location /p {
        proxy_next_upstream error http_503;
        add_header X-Status $upstream_status always;
        proxy_pass http://u;
    }
--- request
GET /p
--- response_headers
X-Status: 503, 200
--- response_body
b



=== TEST 10: without http_503 the 503 is the answer
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 503 "a busy\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
--- config
    location /p { proxy_pass http://u; }
--- request
GET /p
--- error_code: 503
--- response_body
a busy



=== TEST 11: the last try's error response is passed when no tries are left
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 500 "a broke\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 500 "b broke\n"; } }
--- config
    location /p {
        proxy_next_upstream http_500;
        add_header X-Status $upstream_status always;
        proxy_pass http://u;
    }
--- request
GET /p
--- error_code: 500
--- response_headers
X-Status: 500, 500
--- response_body
b broke



=== TEST 12: proxy_next_upstream_tries 1
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 500 "a broke\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
--- config
    location /p {
        proxy_next_upstream http_500;
        proxy_next_upstream_tries 1;
        proxy_pass http://u;
    }
--- request
GET /p
--- error_code: 500
--- response_body
a broke



=== TEST 13: POST is not retried after it was sent
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 502 "a bad\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
--- config
    location /p {
        proxy_next_upstream http_502;
        proxy_pass http://u;
    }
--- request
POST /p
data
--- error_code: 502
--- response_body
a bad



=== TEST 14: non_idempotent allows retrying POST
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { return 502 "a bad\n"; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
--- config
    location /p {
        proxy_next_upstream http_502 non_idempotent;
        proxy_pass http://u;
    }
--- request
POST /p
data
--- response_body
b



=== TEST 15: all servers failed: no live upstreams on the next request
--- http_config
    upstream u {
        server 127.0.0.1:1;
        server 127.0.0.1:2;
    }
--- config
    location /p { proxy_pass http://u; }
--- request eval
["GET /p", "GET /p"]
--- error_code eval
[502, 502]
--- error_log
no live upstreams while connecting to upstream



=== TEST 16: $upstream_status of a failed connect
--- config
    location /p {
        add_header X-Status $upstream_status always;
        proxy_pass http://127.0.0.1:1;
    }
--- request
GET /p
--- error_code: 502
--- response_headers
X-Status: 502



=== TEST 17: $upstream_status of a timeout
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { echo_sleep 1; echo late; } }
--- config
    location /p {
        proxy_read_timeout 100ms;
        add_header X-Status $upstream_status always;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- error_code: 504
--- response_headers
X-Status: 504



=== TEST 18: a timeout tries the next server
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { echo_sleep 1; echo late; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
--- config
    location /p {
        proxy_read_timeout 100ms;
        add_header X-Status $upstream_status always;
        proxy_pass http://u;
    }
--- request
GET /p
--- response_headers
X-Status: 504, 200
--- response_body
b
--- error_log
upstream timed out (110: Connection timed out) while reading response header from upstream



=== TEST 19: error_page for a 502 of a dead upstream
--- config
    location /p {
        error_page 502 = /fallback;
        proxy_pass http://127.0.0.1:1;
    }
    location /fallback { return 200 "fallback\n"; }
--- request
GET /p
--- response_body
fallback



=== TEST 20: proxy_pass with variables and no resolver
--- config
    location /p {
        set $h unknown.invalid;
        proxy_pass http://$h;
    }
--- request
GET /p
--- error_code: 502
--- error_log
no resolver defined to resolve unknown.invalid



=== TEST 21: proxy_pass with variables naming an upstream{}
--- http_config
    upstream dyn { server unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "dyn $uri\n"; } }
--- config
    location /p {
        set $name dyn;
        proxy_pass http://$name;
    }
--- request
GET /p/x
--- response_body
dyn /p/x



=== TEST 22: upstream server marked temporarily disabled
--- http_config
    upstream u {
        server 127.0.0.1:1;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
--- config
    location /p { proxy_pass http://u; }
--- request
GET /p
--- response_body
b
--- error_log
upstream server temporarily disabled while connecting to upstream



=== TEST 23: proxy_next_upstream_timeout stops retrying
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { echo_sleep 1; echo late; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "b\n"; } }
--- config
    location /p {
        proxy_read_timeout 200ms;
        proxy_next_upstream_timeout 100ms;
        add_header X-Status $upstream_status always;
        proxy_pass http://u;
    }
--- request
GET /p
--- error_code: 504
--- response_headers
X-Status: 504



=== TEST 24: $upstream_http_* is the first header of that name
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header X-V one; add_header X-V two; return 200 "ok\n"; } }
--- config
    location /p {
        add_header X-Got $upstream_http_x_v;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p
--- response_headers
X-Got: one



=== TEST 25: $upstream_http_* of the last try only
--- http_config
    upstream u {
        server unix:$TEST_NGINX_SERVER_ROOT/a.sock;
        server unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/a.sock; location / { add_header X-From a always; return 503; } }
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { add_header X-From b; return 200 "b\n"; } }
--- config
    location /p {
        proxy_next_upstream http_503;
        add_header X-Got $upstream_http_x_from;
        proxy_pass http://u;
    }
--- request
GET /p
--- response_headers
X-Got: b
