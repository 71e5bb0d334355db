# Lua output filters: body_filter_by_lua (ngx.arg[1], ngx.arg[2], chunks, eof), header
# filter changes of status and headers, the _G write guard warning.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: body_filter upper-cases Lua output
--- config
    location = /t {
        content_by_lua_block { ngx.say("hello") ngx.say("world") }
        body_filter_by_lua_block { ngx.arg[1] = string.upper(ngx.arg[1]) }
    }
--- user_files
>>> f.txt
static file
--- request
GET /t
--- response_body
HELLO
WORLD


=== TEST 2: body_filter on echo output
--- config
    location = /t {
        echo hello;
        body_filter_by_lua_block { ngx.arg[1] = string.upper(ngx.arg[1]) }
    }
--- user_files
>>> f.txt
static file
--- request
GET /t
--- response_body
HELLO


=== TEST 3: body_filter on return text
--- config
    location = /t {
        return 200 "text\n";
        body_filter_by_lua_block { ngx.arg[1] = ngx.arg[1]:upper() }
    }
--- user_files
>>> f.txt
static file
--- request
GET /t
--- response_body
TEXT


=== TEST 4: body_filter appends at eof
--- config
    location = /t {
        content_by_lua_block { ngx.print("body") }
        body_filter_by_lua_block { if ngx.arg[2] then ngx.arg[1] = ngx.arg[1] .. "|end" end }
    }
--- user_files
>>> f.txt
static file
--- request
GET /t
--- response_body chop
body|end


=== TEST 5: body_filter with no body output
--- config
    location = /t {
        content_by_lua_block { ngx.exit(200) }
        body_filter_by_lua_block { ngx.arg[1] = ngx.get_phase() }
    }
--- user_files
>>> f.txt
static file
--- request
GET /t
--- response_body chop
body_filter


=== TEST 6: body_filter sets a chunk to nil
--- config
    location = /t {
        content_by_lua_block { ngx.say("gone") }
        body_filter_by_lua_block { if not ngx.arg[2] then ngx.arg[1] = nil end }
    }
--- user_files
>>> f.txt
static file
--- request
GET /t
--- response_body


=== TEST 7: body_filter with a table value
--- config
    location = /t {
        content_by_lua_block { ngx.print("x") }
        body_filter_by_lua_block { if ngx.arg[2] then ngx.arg[1] = {"a", "b"} end }
    }
--- user_files
>>> f.txt
static file
--- request
GET /t
--- response_body chop
xab


=== TEST 8: body_filter sees ngx.status
--- config
    location = /t {
        content_by_lua_block { ngx.status = 201 ngx.print("x") }
        body_filter_by_lua_block { if ngx.arg[2] then ngx.arg[1] = tostring(ngx.status) end }
    }
--- user_files
>>> f.txt
static file
--- request
GET /t
--- error_code: 201
--- response_body chop
x201


=== TEST 9: body_filter sees ngx.ctx
--- config
    location = /t {
        content_by_lua_block { ngx.ctx.tag = "T" ngx.print("x") }
        body_filter_by_lua_block { ngx.arg[1] = ngx.arg[1] .. (ngx.ctx.tag or "") }
    }
--- user_files
>>> f.txt
static file
--- request
GET /t
--- response_body chop
xTT


=== TEST 10: body_filter with a header filter clearing the length
--- config
    location = /t {
        content_by_lua_block { ngx.header.content_length = 5 ngx.print("hello") }
        header_filter_by_lua_block { ngx.header.content_length = nil }
        body_filter_by_lua_block { ngx.arg[1] = ngx.arg[1]:upper() }
    }
--- user_files
>>> f.txt
static file
--- request
GET /t
--- response_body chop
HELLO


=== TEST 11: body_filter error logs
--- config
    location = /t {
        content_by_lua_block { ngx.say("x") }
        body_filter_by_lua_block { if ngx.arg[2] then ngx.log(ngx.ERR, "bf eof ", ngx.arg[2]) end }
    }
--- user_files
>>> f.txt
static file
--- request
GET /t
--- response_body
x
--- error_log
bf eof true


=== TEST 12: body_filter on a static file
--- config
    location = /f.txt {
        root html;
        body_filter_by_lua_block { ngx.arg[1] = string.upper(ngx.arg[1]) }
    }
--- user_files
>>> f.txt
static file
--- request
GET /f.txt
--- response_body
STATIC FILE


=== TEST 13: header_filter changes a special response's status
--- config
    location = /t {
        return 502;
        header_filter_by_lua_block { ngx.status = 200 }
    }
--- user_files
>>> f.txt
static file
--- request
GET /t
--- response_body_like chomp
502\ Bad\ Gateway


=== TEST 14: header_filter exits with 403
--- config
    location = /t {
        content_by_lua_block { ngx.say("x") }
        header_filter_by_lua_block { return ngx.exit(403) }
    }
--- user_files
>>> f.txt
static file
--- request
GET /t
--- error_code: 403
--- response_body_like chomp
403\ Forbidden


=== TEST 15: writing a global warns
--- config
    location = /t {
        content_by_lua_block { some_global_x = 1 ngx.say("ok") }
    }
--- user_files
>>> f.txt
static file
--- request
GET /t
--- response_body
ok
--- error_log
writing a global Lua variable ('some_global_x')


=== TEST 16: subrequest output through header_filter
--- config
    location = /t_sub {
        content_by_lua_block { ngx.say("s") }
        header_filter_by_lua_block { ngx.header["X-Sub"] = "filtered" }
    }
    location = /t {
        content_by_lua_block { local res = ngx.location.capture("/t_sub") ngx.say(res.header["X-Sub"]) }
    }
--- user_files
>>> f.txt
static file
--- request
GET /t
--- response_body
filtered


=== TEST 17: raw_header in a subrequest is the main request's
--- config
    location = /t_sub {
        content_by_lua_block { ngx.print(ngx.req.raw_header()) }
    }
    location = /t {
        content_by_lua_block { local res = ngx.location.capture("/t_sub") ngx.say(res.body:match("^[^\r]+"), " ", res.body:match("Content%-Length: %d+")) }
    }
--- user_files
>>> f.txt
static file
--- request
POST /t
hey
--- response_body
POST /t HTTP/1.1 Content-Length: 3


=== TEST 18: ngx.exit in header_filter_by_lua goes through error_page, whose location filters too
--- config
    error_page 582 = /bar;
    location = /t {
        echo ok;
        header_filter_by_lua_block { return ngx.exit(582) }
    }
    location = /bar {
        echo hi;
        header_filter_by_lua_block { return ngx.exit(302) }
    }
    location = /plain {
        echo ok;
        header_filter_by_lua_block { return ngx.exit(404) }
    }
--- request eval
["GET /t", "GET /plain"]
--- error_code eval
[302, 404]
--- response_body_like eval
["302 Found", "404 Not Found"]
--- no_error_log
[error]
