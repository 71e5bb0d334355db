# ngx_http_gunzip_filter_module: gzip responses decompressed for clients that can't take
# them. The gzip bytes are written by Lua (case files hold text only).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: gzip_static always + gunzip: a client without Accept-Encoding gets the plain body
--- http_config
    init_by_lua_block {
        os.execute("mkdir -p " .. ngx.config.prefix() .. "html/s")
        local f = assert(io.open(ngx.config.prefix() .. "html/s/a.txt.gz", "wb"))
        f:write("\031\139\008\000\000\000\000\000\002\255\203\072\205\201\201\087\072\047\205\171\202\044\080\040\207\047\202\073\225\202\032\074\008\000\136\119\099\006\057\000\000\000")
        f:close()
    }
--- config
    location /s/ {
        gzip_static always;
        gunzip on;
    }
--- request
GET /s/a.txt
--- response_headers
!Content-Encoding
!Content-Length
Content-Type: text/plain
--- response_headers_like
ETag: W/"[0-9a-f]+-2a"
--- response_body
hello gunzip world
hello gunzip world
hello gunzip world



=== TEST 2: a client that accepts gzip gets the file as it is
--- http_config
    init_by_lua_block {
        os.execute("mkdir -p " .. ngx.config.prefix() .. "html/s")
        local f = assert(io.open(ngx.config.prefix() .. "html/s/a.txt.gz", "wb"))
        f:write("\031\139\008\000\000\000\000\000\002\255\203\072\205\201\201\087\072\047\205\171\202\044\080\040\207\047\202\073\225\202\032\074\008\000\136\119\099\006\057\000\000\000")
        f:close()
    }
--- config
    location /s/ {
        gzip_static always;
        gunzip on;
    }
--- request
GET /s/a.txt
--- more_headers
Accept-Encoding: gzip
--- response_headers
Content-Encoding: gzip
Content-Length: 42
!Vary
--- response_headers_like
ETag: "[0-9a-f]+-2a"
--- response_body_like: ^\x1f\x8b



=== TEST 3: gzip_vary: Vary on both answers
--- http_config
    init_by_lua_block {
        os.execute("mkdir -p " .. ngx.config.prefix() .. "html/s")
        local f = assert(io.open(ngx.config.prefix() .. "html/s/a.txt.gz", "wb"))
        f:write("\031\139\008\000\000\000\000\000\002\255\203\072\205\201\201\087\072\047\205\171\202\044\080\040\207\047\202\073\225\202\032\074\008\000\136\119\099\006\057\000\000\000")
        f:close()
    }
--- config
    location /s/ {
        gzip_static always;
        gunzip on;
        gzip_vary on;
    }
--- request eval
["GET /s/a.txt", "GET /s/a.txt"]
--- more_headers eval
["", "Accept-Encoding: gzip"]
--- response_headers eval
["Vary: Accept-Encoding\n!Content-Encoding", "Vary: Accept-Encoding\nContent-Encoding: gzip"]



=== TEST 4: gunzip off (the default) passes the gzip body to any client
--- http_config
    init_by_lua_block {
        os.execute("mkdir -p " .. ngx.config.prefix() .. "html/s")
        local f = assert(io.open(ngx.config.prefix() .. "html/s/a.txt.gz", "wb"))
        f:write("\031\139\008\000\000\000\000\000\002\255\203\072\205\201\201\087\072\047\205\171\202\044\080\040\207\047\202\073\225\202\032\074\008\000\136\119\099\006\057\000\000\000")
        f:close()
    }
--- config
    location /s/ {
        gzip_static always;
    }
--- request
GET /s/a.txt
--- response_headers
Content-Encoding: gzip
Content-Length: 42



=== TEST 5: a proxied gzip response is decompressed
--- config
    location /src/ {
        gzip on;
        gzip_types text/plain;
        gzip_min_length 1;
        gzip_http_version 1.0;
        alias html/;
    }
    location /p/ {
        gunzip on;
        proxy_set_header Accept-Encoding gzip;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/src/;
    }
--- user_files eval
[["big.txt", "plain text line\n" x 200]]
--- request
GET /p/big.txt
--- response_headers
!Content-Encoding
!Content-Length
--- response_body eval
"plain text line\n" x 200



=== TEST 6: a request with Via: gzip_proxied off means decompress, even for a gzip client
--- http_config
    init_by_lua_block {
        os.execute("mkdir -p " .. ngx.config.prefix() .. "html/s")
        local f = assert(io.open(ngx.config.prefix() .. "html/s/a.txt.gz", "wb"))
        f:write("\031\139\008\000\000\000\000\000\002\255\203\072\205\201\201\087\072\047\205\171\202\044\080\040\207\047\202\073\225\202\032\074\008\000\136\119\099\006\057\000\000\000")
        f:close()
    }
--- config
    location /s/ {
        gzip_static always;
        gunzip on;
    }
--- request
GET /s/a.txt
--- more_headers
Accept-Encoding: gzip
Via: 1.1 cache
--- response_headers
!Content-Encoding
--- response_body
hello gunzip world
hello gunzip world
hello gunzip world



=== TEST 7: gzip_proxied any lets the proxy have gzip
--- http_config
    init_by_lua_block {
        os.execute("mkdir -p " .. ngx.config.prefix() .. "html/s")
        local f = assert(io.open(ngx.config.prefix() .. "html/s/a.txt.gz", "wb"))
        f:write("\031\139\008\000\000\000\000\000\002\255\203\072\205\201\201\087\072\047\205\171\202\044\080\040\207\047\202\073\225\202\032\074\008\000\136\119\099\006\057\000\000\000")
        f:close()
    }
--- config
    location /s/ {
        gzip_static always;
        gunzip on;
        gzip_proxied any;
    }
--- request
GET /s/a.txt
--- more_headers
Accept-Encoding: gzip
Via: 1.1 cache
--- response_headers
Content-Encoding: gzip
Content-Length: 42



=== TEST 8: an HTTP/1.0 client (gzip_http_version 1.1) gets the plain body
--- http_config
    init_by_lua_block {
        os.execute("mkdir -p " .. ngx.config.prefix() .. "html/s")
        local f = assert(io.open(ngx.config.prefix() .. "html/s/a.txt.gz", "wb"))
        f:write("\031\139\008\000\000\000\000\000\002\255\203\072\205\201\201\087\072\047\205\171\202\044\080\040\207\047\202\073\225\202\032\074\008\000\136\119\099\006\057\000\000\000")
        f:close()
    }
--- config
    location /s/ {
        gzip_static always;
        gunzip on;
    }
--- request
GET /s/a.txt HTTP/1.0
--- more_headers
Accept-Encoding: gzip
--- response_headers
!Content-Encoding
!Content-Length
--- response_body
hello gunzip world
hello gunzip world
hello gunzip world



=== TEST 9: concatenated gzip members are all decompressed
--- config
    location /t {
        gunzip on;
        content_by_lua_block {
            ngx.header["Content-Encoding"] = "gzip"
            ngx.print("\031\139\008\000\000\000\000\000\002\255\075\203\044\042\046\081\200\077\205\077\074\045\226\002\000\167\244\133\010\013\000\000\000\031\139\008\000\000\000\000\000\002\255\043\078\077\206\207\075\081\200\077\205\077\074\045\226\002\000\054\024\075\014\014\000\000\000")
        }
    }
--- request
GET /t
--- response_headers
!Content-Encoding
--- response_body
first member
second member



=== TEST 10: a truncated gzip stream: nginx's error line
--- config
    location /t {
        gunzip on;
        content_by_lua_block {
            ngx.header["Content-Encoding"] = "gzip"
            ngx.print("\031\139\008\000\000\000\000\000\002\255\043\041\042\205\075\078\044\073\077\081\040\046\041\074\077\204\085\200\072\045\074\229\042\161\145\040\000\044\176")
        }
    }
--- request
GET /t
--- ignore_response
--- error_log
inflate() returned -5 on response end



=== TEST 11: HEAD: the headers as for GET
--- http_config
    init_by_lua_block {
        os.execute("mkdir -p " .. ngx.config.prefix() .. "html/s")
        local f = assert(io.open(ngx.config.prefix() .. "html/s/a.txt.gz", "wb"))
        f:write("\031\139\008\000\000\000\000\000\002\255\203\072\205\201\201\087\072\047\205\171\202\044\080\040\207\047\202\073\225\202\032\074\008\000\136\119\099\006\057\000\000\000")
        f:close()
    }
--- config
    location /s/ {
        gzip_static always;
        gunzip on;
    }
--- request
HEAD /s/a.txt
--- response_headers
!Content-Encoding
!Content-Length
!Accept-Ranges
--- response_body



=== TEST 12: garbage after a member: nginx's error line, the response cut
--- config
    location /t {
        gunzip on;
        content_by_lua_block {
            ngx.header["Content-Encoding"] = "gzip"
            ngx.print("\031\139\008\000\000\000\000\000\002\255\203\207\086\040\072\044\042\225\002\000\044\233\079\100\008\000\000\000\103\097\114\098\097\103\101\033")
        }
    }
--- request
GET /t
--- ignore_response
--- error_log
inflate() failed: 0, -3
