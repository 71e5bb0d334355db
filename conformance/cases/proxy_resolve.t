# proxy_pass with variables naming a host: the resolver at request time. Failures answer 502
# with nginx's lines (no resolver, a resolver that never answers within resolver_timeout);
# a literal address needs no resolver. (tests/proxy_resolver.rs runs a real DNS server.)
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: no resolver: 502 and the log line; no upstream state
--- config
    location /t {
        add_header X-A "[$upstream_addr]" always;
        proxy_pass http://$arg_h:80/;
    }
--- request
GET /t?h=svc.example.test
--- error_code: 502
--- response_headers
X-A: []
--- error_log eval
qr/\[error\] .*no resolver defined to resolve svc\.example\.test, client: 127\.0\.0\.1, server: localhost, request: "GET \/t\?h=svc\.example\.test HTTP\/1\.1", host: "localhost"/



=== TEST 2: a resolver that never answers: 502 after resolver_timeout
--- config
    location /t {
        resolver 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ipv6=off;
        resolver_timeout 500ms;
        add_header X-A "[$upstream_addr]" always;
        proxy_pass http://$arg_h:80/;
    }
--- udp_listen: $TEST_NGINX_RAND_PORT_1
--- request
GET /t?h=slow.example.test
--- error_code: 502
--- response_headers
X-A: []
--- error_log eval
qr/\[error\] .*slow\.example\.test could not be resolved \(110: Operation timed out\), client: 127\.0\.0\.1, server: localhost, request: "GET \/t\?h=slow\.example\.test HTTP\/1\.1", host: "localhost"/



=== TEST 3: a literal address in the variable needs no resolver
--- config
    location /t {
        proxy_set_header Host backend;
        proxy_pass http://$arg_h:$TEST_NGINX_RAND_PORT_1/x;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"GET /x HTTP/1.0\r\nHost: backend\r\nConnection: close\r\n\r\n"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
--- request
GET /t?h=127.0.0.1
--- response_body
ok
--- no_error_log
[error]
