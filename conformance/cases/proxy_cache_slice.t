# slice: a response assembled from range requests of `slice` bytes ($slice_range), each
# cached on its own (nginx: ngx_http_slice_filter_module.c with proxy_cache).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: the whole file from 10-byte slices, then from the cache
--- http_config
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    log_format up "$uri $http_range $status";
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; root $TEST_NGINX_SERVER_ROOT/html; access_log $TEST_NGINX_SERVER_ROOT/up.log up; }
--- config
    location /f.txt {
        slice 10;
        proxy_cache z;
        proxy_cache_key $uri$slice_range;
        proxy_set_header Range $slice_range;
        proxy_cache_valid 200 206 1h;
        add_header X-Cache $upstream_cache_status;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    location = /up { alias $TEST_NGINX_SERVER_ROOT/up.log; }
--- user_files
>>> f.txt
abcdefghijklmnopqrstuvwx
--- request eval
["GET /f.txt", "GET /f.txt", "GET /up"]
--- response_headers eval
["X-Cache: MISS\nContent-Length: 25\nAccept-Ranges: bytes\n!Content-Range", "X-Cache: HIT\nContent-Length: 25", ""]
--- response_body eval
["abcdefghijklmnopqrstuvwx\n", "abcdefghijklmnopqrstuvwx\n", "/f.txt bytes=0-9 206\n/f.txt bytes=10-19 206\n/f.txt bytes=20-29 206\n"]



=== TEST 2: a client range asks only the slices it covers
--- http_config
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=z:1m;
    log_format up "$http_range";
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; root $TEST_NGINX_SERVER_ROOT/html; access_log $TEST_NGINX_SERVER_ROOT/up.log up; }
--- config
    location /f.txt {
        slice 10;
        proxy_cache z;
        proxy_cache_key $uri$slice_range;
        proxy_set_header Range $slice_range;
        proxy_cache_valid 200 206 1h;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
    location = /up { alias $TEST_NGINX_SERVER_ROOT/up.log; }
--- user_files
>>> f.txt
abcdefghijklmnopqrstuvwx
--- request eval
["GET /f.txt", "GET /f.txt", "GET /f.txt", "GET /f.txt", "GET /up"]
--- more_headers eval
["Range: bytes=12-17", "Range: bytes=5-22", "Range: bytes=-3", "Range: bytes=3-4", ""]
--- error_code eval
[206, 206, 206, 206, 200]
--- response_headers eval
["Content-Range: bytes 12-17/25\nContent-Length: 6", "Content-Range: bytes 5-22/25", "Content-Range: bytes 22-24/25", "Content-Range: bytes 3-4/25", ""]
--- response_body eval
["mnopqr", "fghijklmnopqrstuvw", "wx\n", "de", "bytes=10-19\nbytes=0-9\nbytes=20-29\n"]



=== TEST 3: without $slice_range the slice filter stays out; an upstream ignoring ranges passes
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "whole\n"; } }
--- config
    location /a { slice 10; proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
    location /b { slice 10; proxy_set_header Range $slice_range; proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request eval
["GET /a", "GET /b"]
--- response_body eval
["whole\n", "whole\n"]



=== TEST 4: an upstream answering another range: unexpected range in slice response
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.status = 206 ngx.header["Content-Range"] = "bytes 0-4/25" ngx.print("abcde") } } }
--- config
    location /a { slice 10; proxy_set_header Range $slice_range; proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /a
--- error_code:
--- response_body:
--- error_log
unexpected range in slice response: 0-5



=== TEST 5: no complete length / invalid range
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block { ngx.status = 206 ngx.header["Content-Range"] = ngx.unescape_uri(ngx.var.arg_cr) ngx.print("abcdefghij") } } }
--- config
    location /a { slice 10; proxy_set_header Range $slice_range; proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request eval
["GET /a?cr=bytes%200-9/*", "GET /a?cr=bytes%200-9"]
--- error_code eval
["", ""]
--- error_log
no complete length in slice response
invalid range in slice response



=== TEST 6: a later slice with another ETag: the response is cut short
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { content_by_lua_block {
        local r = ngx.var.http_range
        ngx.status = 206
        if r == "bytes=0-9" then
            ngx.header["ETag"] = '"a"' ngx.header["Content-Range"] = "bytes 0-9/15" ngx.print("0123456789")
        else
            ngx.header["ETag"] = '"b"' ngx.header["Content-Range"] = "bytes 10-14/15" ngx.print("abcde")
        end } } }
--- config
    location /a { slice 10; proxy_set_header Range $slice_range; proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /a
--- error_code:
--- response_body:
--- error_log
etag mismatch in slice response
