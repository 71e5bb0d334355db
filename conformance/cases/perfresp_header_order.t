# The response head's lines in nginx's order (ngx_http_header_filter): the filter's own
# lines first, then the headers list in the order entries were added, a name added twice
# not grouped with its first line.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: add_header Content-Type goes after the list's earlier entries, not beside Content-Type
--- config
    location /t {
        add_header X-A a;
        add_header Content-Type text/x-added;
        add_header X-B b;
        return 200 "ok\n";
    }
--- request
GET /t
--- raw_response_headers_like: \r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\nX-A: a\r\nContent-Type: text/x-added\r\nX-B: b\r\n
--- response_body
ok



=== TEST 2: expires' Cache-Control and a later add_header Cache-Control keep the list's order
--- config
    location /t {
        expires 1h;
        add_header X-A a;
        add_header Cache-Control no-transform;
        return 200 "ok\n";
    }
--- request
GET /t
--- raw_response_headers_like: \r\nConnection: close\r\nExpires: [^\r]+\r\nCache-Control: max-age=3600\r\nX-A: a\r\nCache-Control: no-transform\r\n
--- response_body
ok



=== TEST 3: Keep-Alive right after Connection: keep-alive (keepalive_timeout's header time)
--- config
    keepalive_timeout 75s 60s;
    location /t {
        add_header X-A a;
        return 200 "ok\n";
    }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\n\r\nGET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- raw_response_headers_like: \r\nConnection: keep-alive\r\nKeep-Alive: timeout=60\r\nX-A: a\r\n
--- response_body
ok
