# nginx's not-modified filter and proxied answers: off unless the cache may keep the answer
# (ngx_http_upstream_process_headers: r->disable_not_modified = !u->cacheable).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: a proxied 200 not cached is passed whole: no 304 or 412 of nginx's own
--- config
    location = /b {
        more_clear_input_headers If-Modified-Since If-None-Match If-Match;
        add_header Last-Modified "Thu, 01 Jan 1970 00:16:40 GMT";
        add_header ETag '"abc"';
        return 200 "body\n";
    }
    location = /p {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/b;
    }
--- request eval
["GET /p", "GET /p"]
--- more_headers eval
["If-Modified-Since: Thu, 01 Jan 1970 00:16:40 GMT", "If-None-Match: \"abc\""]
--- error_code eval
[200, 200]
--- response_body eval
["body\n", "body\n"]

=== TEST 2: a proxied answer the cache may keep gets nginx's 304, MISS and HIT alike
--- http_config
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache levels=1:2 keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { more_clear_input_headers If-None-Match; add_header ETag '"abc"'; return 200 "body\n"; } }
--- config
    location = /p {
        proxy_cache z;
        proxy_cache_valid 200 1m;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    location = /n {
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p", "GET /p", "GET /n"]
--- more_headers eval
["If-None-Match: \"abc\"", "If-None-Match: \"abc\"", "If-None-Match: \"abc\""]
--- error_code eval
[304, 304, 200]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT", "ETag: \"abc\""]
