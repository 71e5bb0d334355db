# proxy_cache, continued: background updates, stale-while-revalidate / stale-if-error,
# header order, conditionals served from the cache, fastcgi_cache on the same machinery.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: proxy_cache_background_update: the stale response now, the fresh one next time
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { local n = (ngx.shared.c:incr("n", 1, 0)) if n == 1 then ngx.header["X-Accel-Expires"] = "@1" end ngx.say("n=", n) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 1m;
        proxy_cache_use_stale updating;
        proxy_cache_background_update on;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p", "GET /p", "GET /p"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: STALE", "X-Cache: HIT"]
--- response_body eval
["n=1\n", "n=1\n", "n=2\n"]



=== TEST 2: Cache-Control stale-while-revalidate allows the stale response without use_stale
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { local n = (ngx.shared.c:incr("n", 1, 0)) if n == 1 then ngx.header["Cache-Control"] = "stale-while-revalidate=4000000000" ngx.header["X-Accel-Expires"] = "@1" end ngx.say("n=", n) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 1m;
        proxy_cache_background_update on;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p", "GET /p", "GET /p"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: STALE", "X-Cache: HIT"]
--- response_body eval
["n=1\n", "n=1\n", "n=2\n"]



=== TEST 3: Cache-Control stale-if-error: the stale response when the upstream fails
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.header["Cache-Control"] = "stale-if-error=4000000000" ngx.header["X-Accel-Expires"] = "@1" ngx.say("n=", (ngx.shared.c:incr("n", 1, 0))) } } }
--- config
    proxy_cache z;
    proxy_cache_key k;
    add_header X-Cache $upstream_cache_status always;
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
    location /s { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/none.sock; }
--- request eval
["GET /p", "GET /s"]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Cache: MISS", "X-Cache: STALE"]
--- response_body eval
["n=1\n", "n=1\n"]
--- error_log
none.sock failed



=== TEST 4: Cache-Control after X-Accel-Expires is not looked at; before it, X-Accel-Expires still wins
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block {
        if ngx.var.uri == "/t/a" then
            ngx.header["X-Accel-Expires"] = "100"
            ngx.header["Cache-Control"] = "no-store"
        else
            ngx.header["Cache-Control"] = "max-age=0"
            ngx.header["X-Accel-Expires"] = "100"
        end
        ngx.say("n=", (ngx.shared.c:incr(ngx.var.uri, 1, 0))) } } }
--- config
    location /t/ {
        proxy_cache z;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /t/a", "GET /t/a", "GET /t/b", "GET /t/b"]
--- response_body eval
["n=1\n", "n=1\n", "n=1\n", "n=2\n"]



=== TEST 5: a revalidation whose 304 gives no validity leaves the response expired
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block {
        local n = (ngx.shared.c:incr("n", 1, 0))
        if ngx.var.http_if_modified_since then return ngx.exit(304) end
        ngx.header["X-Accel-Expires"] = "@1"
        ngx.header["Last-Modified"] = "Thu, 01 Jan 2015 00:00:00 GMT"
        ngx.say("n=", n) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 1m;
        proxy_cache_revalidate on;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p", "GET /p", "GET /p"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: REVALIDATED", "X-Cache: REVALIDATED"]
--- response_body eval
["n=1\n", "n=1\n", "n=1\n"]



=== TEST 6: a 304 with X-Accel-Expires renews the validity: HIT after REVALIDATED
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block {
        local n = (ngx.shared.c:incr("n", 1, 0))
        if ngx.var.http_if_none_match == '"v1"' then ngx.header["X-Accel-Expires"] = "100" return ngx.exit(304) end
        ngx.header["X-Accel-Expires"] = "@1"
        ngx.header["ETag"] = '"v1"'
        ngx.say("n=", n) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_revalidate on;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p", "GET /p", "GET /p"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: REVALIDATED", "X-Cache: HIT"]
--- response_body eval
["n=1\n", "n=1\n", "n=1\n"]



=== TEST 7: the client's If-None-Match against a stored ETag: 304 from the cache
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.header["ETag"] = '"e1"' ngx.say("n=", (ngx.shared.c:incr("n", 1, 0))) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 1m;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p", "GET /p", "GET /p"]
--- more_headers eval
["If-None-Match: \"e1\"", "If-None-Match: \"e1\"", "If-None-Match: \"zz\""]
--- error_code eval
[304, 304, 200]
--- response_headers eval
["X-Cache: MISS\nETag: \"e1\"", "X-Cache: HIT", "X-Cache: HIT"]



=== TEST 8: redirects are stored with their Location (proxy_cache_valid 301)
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.header["X-N"] = (ngx.shared.c:incr("n", 1, 0)) ngx.redirect("http://example.com/there", 301) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 301 1m;
        add_header X-Cache $upstream_cache_status always;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p", "GET /p"]
--- error_code eval
[301, 301]
--- response_headers eval
["X-Cache: MISS\nLocation: http://example.com/there\nX-N: 1", "X-Cache: HIT\nLocation: http://example.com/there\nX-N: 1"]



=== TEST 9: fastcgi_cache: MISS, then HIT without asking the backend again
--- http_config
    fastcgi_cache_path $TEST_NGINX_SERVER_ROOT/fcache levels=2 keys_zone=f:1m;
--- config
    location /t {
        fastcgi_cache f;
        fastcgi_cache_key $uri;
        fastcgi_cache_valid 1m;
        add_header X-Cache $upstream_cache_status;
        fastcgi_param A b;
        fastcgi_pass_request_headers off;
        fastcgi_pass 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query_len: 48
--- tcp_reply eval
"\x01\x06\x00\x01\x00\"\x00\x00Content-Type: text/plain\r\n\r\nhello\n\x01\x06\x00\x01\x00\x00\x00\x00\x01\x03\x00\x01\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
--- request eval
["GET /t", "GET /t", "HEAD /t"]
--- response_headers eval
["X-Cache: MISS\nContent-Type: text/plain", "X-Cache: HIT\nContent-Type: text/plain\n!Content-Length", "X-Cache: HIT"]
--- response_body eval
["hello\n", "hello\n", ""]



=== TEST 10: proxy_cache_max_range_offset: a range starting further is not cached, and goes upstream
--- http_config
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; root $TEST_NGINX_SERVER_ROOT/html; }
--- config
    location /f.txt {
        proxy_cache z;
        proxy_cache_valid 1m;
        proxy_cache_max_range_offset 4;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- user_files
>>> f.txt
0123456789
--- request eval
["GET /f.txt", "GET /f.txt", "GET /f.txt"]
--- more_headers eval
["Range: bytes=6-7", "Range: bytes=6-7", "Range: bytes=1-2"]
--- error_code eval
[206, 206, 206]
--- response_headers eval
["X-Cache: MISS", "X-Cache: MISS", "X-Cache: MISS"]
--- response_body eval
["67", "67", "12"]



=== TEST 11: HEAD goes upstream as GET even when it is not cached yet (min_uses) or bypassed
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.header["X-M"] = ngx.req.get_method(); ngx.say("n=", (ngx.shared.c:incr("n", 1, 0))) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 1m;
        proxy_cache_min_uses 2;
        proxy_cache_bypass $arg_b;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["HEAD /p", "HEAD /p?b=1", "GET /p"]
--- response_headers eval
["X-Cache: MISS\nX-M: GET", "X-Cache: BYPASS\nX-M: GET", "X-Cache: MISS\nX-M: GET"]
--- response_body eval
["", "", "n=3\n"]



=== TEST 12: the default key is the URL's start and the URI sent (not $scheme$proxy_host$request_uri)
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1; location / { content_by_lua_block { ngx.say(ngx.var.request_uri, " n=", (ngx.shared.c:incr("n", 1, 0))) } } }
--- config
    proxy_cache z;
    proxy_cache_valid 1m;
    add_header X-Cache $upstream_cache_status;
    location /p { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
    location /q { proxy_cache_key http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/p?a=1; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
    location /r { proxy_cache_key $scheme$proxy_host$request_uri; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
    location /s/ { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/p/; }
    location /t { proxy_cache_key http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/p/x; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
--- request eval
["GET /p?a=1", "GET /q", "GET /r?a=1", "GET /s/x", "GET /t"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT", "X-Cache: MISS", "X-Cache: MISS", "X-Cache: HIT"]
--- response_body eval
["/p?a=1 n=1\n", "/p?a=1 n=1\n", "/r?a=1 n=2\n", "/p/x n=3\n", "/p/x n=3\n"]
