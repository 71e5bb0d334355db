# proxy_cache: what is stored, when it is served, and $upstream_cache_status (nginx:
# ngx_http_file_cache.c, ngx_http_upstream.c's cache parts). The upstream counts its requests
# in a shared dict, so a body's number says whether it came from the cache.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: MISS, then HIT from the cache
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache levels=1:2 keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.header["X-Up"] = "u"; ngx.say("n=", (ngx.shared.c:incr("n", 1, 0))) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 200 1m;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p", "GET /p", "GET /p"]
--- response_headers eval
["X-Cache: MISS\nX-Up: u", "X-Cache: HIT\nX-Up: u\nContent-Length: 4", "X-Cache: HIT"]
--- response_body eval
["n=1\n", "n=1\n", "n=1\n"]



=== TEST 2: without proxy_cache_valid nor caching headers nothing is stored
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.say("n=", (ngx.shared.c:incr("n", 1, 0))) } } }
--- config
    location /p {
        proxy_cache z;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p", "GET /p"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: MISS"]
--- response_body eval
["n=1\n", "n=2\n"]



=== TEST 3: proxy_cache_valid with no codes is 200 301 302; 404 is not stored
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { local n = (ngx.shared.c:incr(ngx.var.uri, 1, 0)) if ngx.var.uri == "/t/nf" then ngx.status = 404 end ngx.say("n=", n) } } }
--- config
    location /t/ {
        proxy_cache z;
        proxy_cache_valid 10m;
        add_header X-Cache $upstream_cache_status always;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /t/ok", "GET /t/ok", "GET /t/nf", "GET /t/nf"]
--- error_code eval
[200, 200, 404, 404]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT", "X-Cache: MISS", "X-Cache: MISS"]
--- response_body eval
["n=1\n", "n=1\n", "n=1\n", "n=2\n"]



=== TEST 4: proxy_cache_valid by code and any
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { local n = (ngx.shared.c:incr(ngx.var.uri, 1, 0)) if ngx.var.uri == "/t/nf" then ngx.status = 404 elseif ngx.var.uri == "/t/gone" then ngx.status = 410 end ngx.say("n=", n) } } }
--- config
    location /t/ {
        proxy_cache z;
        proxy_cache_valid 404 1m;
        proxy_cache_valid any 2m;
        add_header X-Cache $upstream_cache_status always;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /t/nf", "GET /t/nf", "GET /t/gone", "GET /t/gone", "GET /t/ok", "GET /t/ok"]
--- error_code eval
[404, 404, 410, 410, 200, 200]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT", "X-Cache: MISS", "X-Cache: HIT", "X-Cache: MISS", "X-Cache: HIT"]
--- response_body eval
["n=1\n", "n=1\n", "n=1\n", "n=1\n", "n=1\n", "n=1\n"]



=== TEST 5: Cache-Control no-cache, no-store and private are not stored
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.header["Cache-Control"] = ngx.var.arg_cc; ngx.say("n=", (ngx.shared.c:incr(ngx.var.arg_cc, 1, 0))) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 1m;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p?cc=no-cache", "GET /p?cc=no-cache", "GET /p?cc=No-Store", "GET /p?cc=No-Store", "GET /p?cc=public,private", "GET /p?cc=public,private", "GET /p?cc=public", "GET /p?cc=public"]
--- response_body eval
["n=1\n", "n=2\n", "n=1\n", "n=2\n", "n=1\n", "n=2\n", "n=1\n", "n=1\n"]



=== TEST 6: Cache-Control max-age and s-maxage give the validity; max-age=0 is not stored
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.header["Cache-Control"] = ngx.var.arg_cc; ngx.say("n=", (ngx.shared.c:incr(ngx.var.arg_cc, 1, 0))) } } }
--- config
    location /p {
        proxy_cache z;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p?cc=max-age=60", "GET /p?cc=max-age=60", "GET /p?cc=max-age=0", "GET /p?cc=max-age=0", "GET /p?cc=s-maxage=30,max-age=0", "GET /p?cc=s-maxage=30,max-age=0", "GET /p?cc=max-age=6x", "GET /p?cc=max-age=6x"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT", "X-Cache: MISS", "X-Cache: MISS", "X-Cache: MISS", "X-Cache: HIT", "X-Cache: MISS", "X-Cache: MISS"]
--- response_body eval
["n=1\n", "n=1\n", "n=1\n", "n=2\n", "n=1\n", "n=1\n", "n=1\n", "n=2\n"]



=== TEST 7: Expires in the future is stored, in the past is not
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { if ngx.var.arg_e == "past" then ngx.header["Expires"] = "Thu, 01 Jan 1970 00:00:01 GMT" else ngx.header["Expires"] = ngx.http_time(ngx.time() + 100) end ngx.say("n=", (ngx.shared.c:incr(ngx.var.arg_e, 1, 0))) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 1m;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p?e=past", "GET /p?e=past", "GET /p?e=future", "GET /p?e=future"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: MISS", "X-Cache: MISS", "X-Cache: HIT"]
--- response_body eval
["n=1\n", "n=2\n", "n=1\n", "n=1\n"]



=== TEST 8: X-Accel-Expires 0 is not stored; X-Accel-Expires wins over Cache-Control; it is hidden
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.header["X-Accel-Expires"] = ngx.var.arg_x; ngx.header["Cache-Control"] = "no-cache"; ngx.say("n=", (ngx.shared.c:incr(ngx.var.arg_x, 1, 0))) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 1m;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p?x=0", "GET /p?x=0", "GET /p?x=100", "GET /p?x=100"]
--- response_headers eval
["X-Cache: MISS\n!X-Accel-Expires", "X-Cache: MISS", "X-Cache: MISS\nCache-Control: no-cache", "X-Cache: HIT\n!X-Accel-Expires\nCache-Control: no-cache"]
--- response_body eval
["n=1\n", "n=2\n", "n=1\n", "n=1\n"]



=== TEST 9: X-Accel-Expires @time in the past is stored already expired: EXPIRED
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.header["X-Accel-Expires"] = "@1"; ngx.say("n=", (ngx.shared.c:incr("n", 1, 0))) } } }
--- config
    location /p {
        proxy_cache z;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p", "GET /p", "GET /p"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: EXPIRED", "X-Cache: EXPIRED"]
--- response_body eval
["n=1\n", "n=2\n", "n=3\n"]



=== TEST 10: Set-Cookie is not stored, unless proxy_ignore_headers Set-Cookie (then it is replayed)
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.header["Set-Cookie"] = "a=b"; ngx.say("n=", (ngx.shared.c:incr(ngx.var.uri, 1, 0))) } } }
--- config
    proxy_cache z;
    proxy_cache_valid 1m;
    add_header X-Cache $upstream_cache_status;
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
    location /i { proxy_ignore_headers Set-Cookie; proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request eval
["GET /p", "GET /p", "GET /i", "GET /i"]
--- response_headers eval
["X-Cache: MISS\nSet-Cookie: a=b", "X-Cache: MISS", "X-Cache: MISS", "X-Cache: HIT\nSet-Cookie: a=b"]
--- response_body eval
["n=1\n", "n=2\n", "n=1\n", "n=1\n"]



=== TEST 11: Vary: * is not stored; proxy_ignore_headers Cache-Control / X-Accel-Expires / Expires
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block {
        local u = ngx.var.uri
        if u == "/v" then ngx.header["Vary"] = "*" end
        if u == "/cc" then ngx.header["Cache-Control"] = "no-store" end
        if u == "/xa" then ngx.header["X-Accel-Expires"] = "0" end
        if u == "/ex" then ngx.header["Expires"] = "Thu, 01 Jan 1970 00:00:01 GMT" end
        ngx.say("n=", (ngx.shared.c:incr(u, 1, 0))) } } }
--- config
    proxy_cache z;
    proxy_cache_valid 1m;
    add_header X-Cache $upstream_cache_status;
    location /v { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
    location /cc { proxy_ignore_headers Cache-Control; proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
    location /xa { proxy_ignore_headers X-Accel-Expires; proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
    location /ex { proxy_ignore_headers Expires; proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request eval
["GET /v", "GET /v", "GET /cc", "GET /cc", "GET /xa", "GET /xa", "GET /ex", "GET /ex"]
--- response_body eval
["n=1\n", "n=2\n", "n=1\n", "n=1\n", "n=1\n", "n=1\n", "n=1\n", "n=1\n"]



=== TEST 12: POST is not cached (no status); proxy_cache_methods POST caches it
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.say("n=", (ngx.shared.c:incr(ngx.var.uri, 1, 0))) } } }
--- config
    proxy_cache z;
    proxy_cache_valid 1m;
    add_header X-Cache "[$upstream_cache_status]";
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
    location /m { proxy_cache_methods POST; proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request eval
["POST /p\nx", "POST /p\nx", "POST /m\nx", "POST /m\ny"]
--- response_headers eval
["X-Cache: []", "X-Cache: []", "X-Cache: [MISS]", "X-Cache: [HIT]"]
--- response_body eval
["n=1\n", "n=2\n", "n=1\n", "n=1\n"]



=== TEST 13: HEAD goes upstream as GET and fills the cache for GET
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.header["X-M"] = ngx.req.get_method(); ngx.say("n=", (ngx.shared.c:incr("n", 1, 0))) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 1m;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["HEAD /p", "GET /p", "HEAD /p"]
--- response_headers eval
["X-Cache: MISS\nX-M: GET", "X-Cache: HIT\nX-M: GET", "X-Cache: HIT\nContent-Length: 4"]
--- response_body eval
["", "n=1\n", ""]



=== TEST 14: proxy_cache_convert_head off: HEAD goes as HEAD (and the key should say so)
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.header["X-M"] = ngx.req.get_method(); ngx.say("n=", (ngx.shared.c:incr("n", 1, 0))) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 1m;
        proxy_cache_convert_head off;
        proxy_cache_key $request_method$uri;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["HEAD /p", "HEAD /p", "GET /p", "GET /p"]
--- response_headers eval
["X-Cache: MISS\nX-M: HEAD", "X-Cache: HIT\nX-M: HEAD", "X-Cache: MISS\nX-M: GET", "X-Cache: HIT"]
--- response_body eval
["", "", "n=2\n", "n=2\n"]



=== TEST 15: proxy_cache_bypass: BYPASS, and the fresh response replaces the stored one
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.say("n=", (ngx.shared.c:incr("n", 1, 0))) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 1m;
        proxy_cache_key $uri;
        proxy_cache_bypass $arg_nocache;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p", "GET /p?nocache=0", "GET /p?nocache=1", "GET /p"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT", "X-Cache: BYPASS", "X-Cache: HIT"]
--- response_body eval
["n=1\n", "n=1\n", "n=2\n", "n=2\n"]



=== TEST 16: proxy_no_cache: fetched, not stored
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.say("n=", (ngx.shared.c:incr("n", 1, 0))) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 1m;
        proxy_cache_key $uri;
        proxy_no_cache $arg_no;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p?no=1", "GET /p?no=1", "GET /p", "GET /p?no=1"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: MISS", "X-Cache: MISS", "X-Cache: HIT"]
--- response_body eval
["n=1\n", "n=2\n", "n=3\n", "n=3\n"]



=== TEST 17: proxy_cache_min_uses 3
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.say("n=", (ngx.shared.c:incr("n", 1, 0))) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 1m;
        proxy_cache_min_uses 3;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: MISS", "X-Cache: MISS", "X-Cache: HIT"]
--- response_body eval
["n=1\n", "n=2\n", "n=3\n", "n=3\n"]



=== TEST 18: proxy_cache_use_stale http_500: the expired response instead of the upstream's 500
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { local n = (ngx.shared.c:incr(ngx.var.uri, 1, 0)) ngx.header["X-Accel-Expires"] = "@1" if n > 1 then ngx.status = 500 end ngx.say("n=", n) } } }
--- config
    add_header X-Cache $upstream_cache_status always;
    location /p {
        proxy_cache z;
        proxy_cache_use_stale http_500;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    location /q {
        proxy_cache z;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p", "GET /p", "GET /q", "GET /q"]
--- error_code eval
[200, 200, 200, 500]
--- response_headers eval
["X-Cache: MISS", "X-Cache: STALE", "X-Cache: MISS", "X-Cache: EXPIRED"]
--- response_body eval
["n=1\n", "n=1\n", "n=1\n", "n=2\n"]



=== TEST 19: proxy_cache_use_stale error: the expired response when the upstream fails
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.header["X-Accel-Expires"] = "@1" ngx.say("n=", (ngx.shared.c:incr("n", 1, 0))) } } }
--- config
    proxy_cache z;
    proxy_cache_key k;
    add_header X-Cache $upstream_cache_status always;
    location /p { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
    location /s {
        proxy_cache_use_stale error timeout;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/none.sock;
    }
    location /e { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/none.sock; }
--- request eval
["GET /p", "GET /s", "GET /e"]
--- error_code eval
[200, 200, 502]
--- response_headers eval
["X-Cache: MISS", "X-Cache: STALE", "X-Cache: EXPIRED"]
--- response_body_like eval
["^n=1\n\\z", "^n=1\n\\z", "502 Bad Gateway"]
--- error_log
none.sock failed (2: No such file or directory) while connecting to upstream



=== TEST 20: proxy_cache_revalidate: a 304 from the upstream renews the stored response
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block {
        local n = (ngx.shared.c:incr("n", 1, 0))
        local ims, inm = ngx.var.http_if_modified_since, ngx.var.http_if_none_match
        ngx.header["X-Accel-Expires"] = "@1"
        ngx.header["X-Cond"] = (ims or "-") .. "|" .. (inm or "-")
        if ims or inm then return ngx.exit(304) end
        ngx.header["Last-Modified"] = "Thu, 01 Jan 2015 00:00:00 GMT"
        ngx.header["ETag"] = '"abc"'
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
["X-Cache: MISS\nX-Cond: -|-\nETag: \"abc\"", "X-Cache: REVALIDATED\nX-Cond: -|-\nETag: \"abc\"", "X-Cache: REVALIDATED"]
--- response_body eval
["n=1\n", "n=1\n", "n=1\n"]



=== TEST 21: without proxy_cache_revalidate the client's conditionals do not go upstream
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block {
        ngx.header["X-Cond"] = (ngx.var.http_if_none_match or "-") .. "|" .. (ngx.var.http_range or "-")
        ngx.say("n=", (ngx.shared.c:incr("n", 1, 0))) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 1m;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    location /n {
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p", "GET /n"]
--- more_headers
If-None-Match: "zz"
Range: bytes=0-1
--- response_headers eval
["X-Cache: MISS\nX-Cond: -|-", "X-Cond: \"zz\"|bytes=0-1"]



=== TEST 22: proxy_cache_key with variables: the arguments do not count
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.say(ngx.var.args, " n=", (ngx.shared.c:incr("n", 1, 0))) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 1m;
        proxy_cache_key $host$uri;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request eval
["GET /p?a=1", "GET /p?a=2", "GET /p/x?a=3"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT", "X-Cache: MISS"]
--- response_body eval
["a=1 n=1\n", "a=1 n=1\n", "a=3 n=2\n"]



=== TEST 23: a stored response with Accept-Ranges answers ranges (206) and conditionals (304)
--- http_config
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; root $TEST_NGINX_SERVER_ROOT/html; etag off; }
--- config
    location /f.txt {
        proxy_cache z;
        proxy_cache_valid 1m;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- user_files
>>> f.txt 201501010000
0123456789
--- request eval
["GET /f.txt", "GET /f.txt", "GET /f.txt", "GET /f.txt"]
--- more_headers eval
["", "Range: bytes=2-4", "If-Modified-Since: Thu, 01 Jan 2015 00:00:00 GMT", "Range: bytes=0-0,3-3"]
--- error_code eval
[200, 206, 304, 206]
--- response_headers eval
["X-Cache: MISS\nAccept-Ranges: bytes\nContent-Length: 11", "X-Cache: HIT\nContent-Range: bytes 2-4/11\nContent-Length: 3", "X-Cache: HIT", "X-Cache: HIT"]
--- response_body_like eval
["^0123456789\n\\z", "^234\\z", "^\\z", "0\r\n.*3\r\n"]



=== TEST 24: a Range on a MISS is cut from the whole response (not sent upstream)
--- http_config
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; root $TEST_NGINX_SERVER_ROOT/html; }
--- config
    location /f.txt {
        proxy_cache z;
        proxy_cache_valid 1m;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- user_files
>>> f.txt
0123456789
--- request eval
["GET /f.txt", "GET /f.txt"]
--- more_headers eval
["Range: bytes=1-2", ""]
--- error_code eval
[206, 200]
--- response_headers eval
["X-Cache: MISS\nContent-Range: bytes 1-2/11", "X-Cache: HIT"]
--- response_body eval
["12", "0123456789\n"]



=== TEST 25: proxy_cache off in a nested location; a variable zone; an unknown zone is a 500
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.say("n=", (ngx.shared.c:incr(ngx.var.uri, 1, 0))) } } }
--- config
    proxy_cache_valid 1m;
    add_header X-Cache "[$upstream_cache_status]" always;
    location /a {
        proxy_cache z;
        location /a/off { proxy_cache off; proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    location /v { proxy_cache $arg_zone; proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request eval
["GET /a/off", "GET /a/off", "GET /a/on", "GET /a/on", "GET /v?zone=z", "GET /v?zone=z", "GET /v?zone=off", "GET /v?zone=nope"]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200, 500]
--- response_headers eval
["X-Cache: []", "X-Cache: []", "X-Cache: [MISS]", "X-Cache: [HIT]", "X-Cache: [MISS]", "X-Cache: [HIT]", "X-Cache: []", "X-Cache: []"]
--- error_log
cache "nope" not found



=== TEST 26: a failed upstream's 502 is remembered with proxy_cache_valid any (HIT, no new try)
--- http_config
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid any 1m;
        add_header X-Cache "[$upstream_cache_status]" always;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/none.sock;
    }
--- request eval
["GET /p", "GET /p"]
--- error_code eval
[502, 502]
--- response_headers eval
["X-Cache: [MISS]", "X-Cache: [HIT]"]



=== TEST 27: the file is at nginx's path: md5 of the key, levels from its end
--- http_config
    lua_shared_dict c 1m;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache levels=1:2 keys_zone=z:1m;
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.say("n=", (ngx.shared.c:incr("n", 1, 0))) } } }
--- config
    location /p {
        proxy_cache z;
        proxy_cache_valid 1m;
        proxy_cache_key k1;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    location /c/ { alias $TEST_NGINX_SERVER_ROOT/cache/; }
--- request eval
["GET /p", "HEAD /c/a/5d/b637b17af08aced8850c18cccde915da", "HEAD /c/a/5d/nope"]
--- error_code eval
[200, 200, 404]
