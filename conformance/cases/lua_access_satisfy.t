# access_by_lua* runs last in the access phase and takes part in `satisfy any`; headers set
# with ngx.header in rewrite/access stay on the answer of a non-Lua content handler.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: satisfy any: allow grants before access_by_lua runs
--- config
    location /t {
        satisfy any;
        allow all;
        access_by_lua_block { ngx.log(ngx.ERR, "lua access ran") ngx.exit(403) }
        echo in;
    }
--- request
GET /t
--- response_body
in
--- no_error_log
lua access ran



=== TEST 2: satisfy any: deny, then access_by_lua returns: granted, nothing logged
--- config
    location /t {
        satisfy any;
        deny all;
        access_by_lua_block { local x = 1 }
        echo in;
    }
--- request
GET /t
--- response_body
in
--- no_error_log
[error]



=== TEST 3: satisfy any: deny, then ngx.exit(ngx.OK): granted
--- config
    location /t {
        satisfy any;
        deny all;
        access_by_lua_block { ngx.exit(ngx.OK) }
        echo in;
    }
--- request
GET /t
--- response_body
in
--- no_error_log
[error]



=== TEST 4: satisfy any: deny, then ngx.exit(ngx.DECLINED): 403 and the core's log line
--- config
    location /t {
        satisfy any;
        deny all;
        access_by_lua_block { ngx.exit(ngx.DECLINED) }
        echo in;
    }
--- request
GET /t
--- error_code: 403
--- error_log
access forbidden by rule



=== TEST 5: satisfy any: deny, then ngx.exit(403) after I/O: 403 and the log line
--- config
    location /t {
        satisfy any;
        deny all;
        access_by_lua_block {
            ngx.location.capture("/sub")
            ngx.exit(403)
        }
        echo in;
    }
    location /sub {
        return 200 "sub";
    }
--- request
GET /t
--- error_code: 403
--- error_log
access forbidden by rule



=== TEST 6: satisfy any: only access_by_lua, exit(401)
--- config
    location /t {
        satisfy any;
        access_by_lua_block { ngx.exit(401) }
        echo in;
    }
--- request
GET /t
--- error_code: 401



=== TEST 7: satisfy all: access_by_lua's 403 logs no access rule
--- config
    location /t {
        access_by_lua_block { ngx.exit(403) }
        echo in;
    }
--- request
GET /t
--- error_code: 403
--- no_error_log
access forbidden by rule



=== TEST 8: satisfy any: access_by_lua answers with another status
--- config
    location /t {
        satisfy any;
        deny all;
        access_by_lua_block { ngx.exit(503) }
        echo in;
    }
--- request
GET /t
--- error_code: 503



=== TEST 9: a header set in access_by_lua stays on a static file's answer
--- config
    location /t {
        access_by_lua_block { ngx.header["X-Foo"] = "bar" }
        alias html/a.txt;
    }
--- user_files
>>> a.txt
static
--- request
GET /t
--- response_headers
X-Foo: bar
Content-Type: text/plain
--- response_body
static



=== TEST 10: headers from rewrite_by_lua and access_by_lua on a 404, content type kept
--- config
    location /t {
        rewrite_by_lua_block { ngx.header["X-R"] = "r" }
        access_by_lua_block { ngx.header["X-A"] = {"a1", "a2"} }
    }
--- request
GET /t/missing
--- error_code: 404
--- raw_response_headers_like
X-R: r\r
X-A: a1\r
X-A: a2\r



=== TEST 11: a Content-Type set in access_by_lua wins over the file's
--- config
    location /t {
        access_by_lua_block {
            ngx.header.content_type = "application/x-mine"
        }
        alias html/a.txt;
    }
--- user_files
>>> a.txt
static
--- request
GET /t
--- response_headers
Content-Type: application/x-mine
Content-Length: 7
--- response_body
static



=== TEST 12: a header from access_by_lua joins a proxied answer
--- config
    location /t {
        access_by_lua_block { ngx.header["X-Foo"] = "from-lua" }
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        add_header X-Back yes;
        return 200 "back\n";
    }
--- request
GET /t
--- response_headers
X-Foo: from-lua
X-Back: yes
--- response_body
back
