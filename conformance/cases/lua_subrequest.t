# Lua: ngx.location.capture and capture_multi (methods, args, body, vars, ctx, headers,
# status), ngx.is_subrequest.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: capture a location
--- config
    location = /t_sub {
        content_by_lua_block {
            ngx.header["X-Sub"] = "yes"
            ngx.say(ngx.req.get_method(), " ", ngx.var.args, " ", ngx.is_subrequest)
        }
    }
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/t_sub")
            ngx.say(res.status, " ", res.body, res.header["X-Sub"], " ", tostring(res.truncated))
        }
    }
--- request
GET /t
--- response_body
200 GET nil true
yes false


=== TEST 2: capture with args in the uri
--- config
    location = /t_sub {
        content_by_lua_block {
            ngx.header["X-Sub"] = "yes"
            ngx.say(ngx.req.get_method(), " ", ngx.var.args, " ", ngx.is_subrequest)
        }
    }
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/t_sub?a=1")
            ngx.print(res.body)
        }
    }
--- request
GET /t
--- response_body
GET a=1 true


=== TEST 3: capture with an args table
--- config
    location = /t_sub {
        content_by_lua_block {
            ngx.header["X-Sub"] = "yes"
            ngx.say(ngx.req.get_method(), " ", ngx.var.args, " ", ngx.is_subrequest)
        }
    }
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/t_sub", {args = {b = 2}})
            ngx.print(res.body)
        }
    }
--- request
GET /t
--- response_body
GET b=2 true


=== TEST 4: capture with an args string
--- config
    location = /t_sub {
        content_by_lua_block {
            ngx.header["X-Sub"] = "yes"
            ngx.say(ngx.req.get_method(), " ", ngx.var.args, " ", ngx.is_subrequest)
        }
    }
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/t_sub?a=1", {args = "c=3"})
            ngx.print(res.body)
        }
    }
--- request
GET /t
--- response_body
GET a=1&c=3 true


=== TEST 5: capture with a method
--- config
    location = /t_sub {
        content_by_lua_block {
            ngx.header["X-Sub"] = "yes"
            ngx.say(ngx.req.get_method(), " ", ngx.var.args, " ", ngx.is_subrequest)
        }
    }
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/t_sub", {method = ngx.HTTP_PUT})
            ngx.print(res.body)
        }
    }
--- request
GET /t
--- response_body
PUT nil true


=== TEST 6: capture with HEAD
--- config
    location = /t_sub {
        content_by_lua_block {
            ngx.header["X-Sub"] = "yes"
            ngx.say(ngx.req.get_method(), " ", ngx.var.args, " ", ngx.is_subrequest)
        }
    }
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/t_sub", {method = ngx.HTTP_HEAD})
            ngx.say(res.status, " [", res.body, "]")
        }
    }
--- request
GET /t
--- response_body
200 []


=== TEST 7: capture a missing location
--- config
    location = /t_sub {
        content_by_lua_block {
            ngx.header["X-Sub"] = "yes"
            ngx.say(ngx.req.get_method(), " ", ngx.var.args, " ", ngx.is_subrequest)
        }
    }
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/t_none")
            ngx.say(res.status)
        }
    }
--- request
GET /t
--- response_body
404


=== TEST 8: capture with a body
--- config
    location = /t_body {
        content_by_lua_block { ngx.req.read_body() ngx.say("got ", ngx.req.get_body_data()) }
    }
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/t_body", {method = ngx.HTTP_POST, body = "hello"})
            ngx.print(res.body)
        }
    }
--- request
GET /t
--- response_body
got hello


=== TEST 9: capture an exit status
--- config
    location = /t_st {
        content_by_lua_block { ngx.exit(403) }
    }
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/t_st")
            ngx.say(res.status)
        }
    }
--- request
GET /t
--- response_body
403


=== TEST 10: capture a status set by Lua
--- config
    location = /t_st {
        content_by_lua_block { ngx.status = 202 ngx.print("acc") }
    }
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/t_st")
            ngx.say(res.status, " ", res.body)
        }
    }
--- request
GET /t
--- response_body
202 acc


=== TEST 11: capture the content type
--- config
    location = /t_ct {
        default_type text/x-sub;
        content_by_lua_block { ngx.print("x") }
    }
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/t_ct")
            ngx.say(res.header["Content-Type"])
        }
    }
--- request
GET /t
--- response_body
text/x-sub


=== TEST 12: capture multi-value headers
--- config
    location = /t_mh {
        content_by_lua_block { ngx.header["X-M"] = {"a", "b"} ngx.print("x") }
    }
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/t_mh")
            ngx.say(table.concat(res.header["X-M"], ","))
        }
    }
--- request
GET /t
--- response_body
a,b


=== TEST 13: capture an echo location
--- config
    location = /t_e {
        echo "from echo";
    }
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/t_e")
            ngx.print(res.body)
        }
    }
--- request
GET /t
--- response_body
from echo


=== TEST 14: capture a return
--- config
    location = /t_r {
        return 200 "returned";
    }
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/t_r")
            ngx.say(res.status, " ", res.body)
        }
    }
--- request
GET /t
--- response_body
200 returned


=== TEST 15: capture_multi
--- config
    location = /t_sub {
        content_by_lua_block {
            ngx.header["X-Sub"] = "yes"
            ngx.say(ngx.req.get_method(), " ", ngx.var.args, " ", ngx.is_subrequest)
        }
    }
    location = /t {
        content_by_lua_block {
            local r1, r2 = ngx.location.capture_multi({{"/t_sub?n=1"}, {"/t_sub?n=2", {method = ngx.HTTP_POST}}})
            ngx.print(r1.body, r2.body)
        }
    }
--- request
GET /t
--- response_body
GET n=1 true
POST n=2 true


=== TEST 16: capture_multi with no queries
--- config
    location = /t_sub {
        content_by_lua_block {
            ngx.header["X-Sub"] = "yes"
            ngx.say(ngx.req.get_method(), " ", ngx.var.args, " ", ngx.is_subrequest)
        }
    }
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(ngx.location.capture_multi, {})
            ngx.say(ok)
        }
    }
--- request
GET /t
--- response_body
false


=== TEST 17: a subrequest has its own ctx
--- config
    location = /t_c {
        content_by_lua_block { ngx.print(tostring(ngx.ctx.v), " ") }
    }
    location = /t {
        content_by_lua_block {
            ngx.ctx.v = "main"
            local res = ngx.location.capture("/t_c")
            ngx.say(res.body, ngx.ctx.v)
        }
    }
--- request
GET /t
--- response_body
nil main


=== TEST 18: the ctx option
--- config
    location = /t_c {
        content_by_lua_block { ngx.ctx.set_by_sub = "yes" }
    }
    location = /t {
        content_by_lua_block {
            local ctx = {}
            local res = ngx.location.capture("/t_c", {ctx = ctx})
            ngx.say(ctx.set_by_sub)
        }
    }
--- request
GET /t
--- response_body
yes


=== TEST 19: the vars option
--- config
    location = /t_v {
        content_by_lua_block { ngx.say(ngx.var.dog) }
    }
    location = /t {
        set $dog '';
        content_by_lua_block {
            local res = ngx.location.capture("/t_v", {vars = {dog = "hello"}})
            ngx.print(res.body)
        }
    }
--- request
GET /t
--- response_body
hello


=== TEST 20: variables are not shared by default
--- config
    location = /t_v {
        content_by_lua_block { ngx.say("[", ngx.var.dog, "]") }
    }
    location = /t {
        set $dog '';
        content_by_lua_block {
            ngx.var.dog = "main"
            local res = ngx.location.capture("/t_v")
            ngx.print(res.body)
        }
    }
--- request
GET /t
--- response_body
[]


=== TEST 21: copy_all_vars
--- config
    location = /t_v {
        content_by_lua_block { ngx.say(ngx.var.dog) ngx.var.dog = "sub" }
    }
    location = /t {
        set $dog '';
        content_by_lua_block {
            ngx.var.dog = "main"
            local res = ngx.location.capture("/t_v", {copy_all_vars = true})
            ngx.print(res.body, ngx.var.dog, "\n")
        }
    }
--- request
GET /t
--- response_body
main
main


=== TEST 22: share_all_vars
--- config
    location = /t_v {
        content_by_lua_block { ngx.say(ngx.var.dog) ngx.var.dog = "sub" }
    }
    location = /t {
        set $dog '';
        content_by_lua_block {
            ngx.var.dog = "main"
            local res = ngx.location.capture("/t_v", {share_all_vars = true})
            ngx.print(res.body, ngx.var.dog, "\n")
        }
    }
--- request
GET /t
--- response_body
main
sub


=== TEST 23: ngx.is_subrequest in the main request
--- config
    location = /t_sub {
        content_by_lua_block {
            ngx.header["X-Sub"] = "yes"
            ngx.say(ngx.req.get_method(), " ", ngx.var.args, " ", ngx.is_subrequest)
        }
    }
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.is_subrequest)
        }
    }
--- request
GET /t
--- response_body
false


=== TEST 24: a bad method option
--- config
    location = /t_sub {
        content_by_lua_block {
            ngx.header["X-Sub"] = "yes"
            ngx.say(ngx.req.get_method(), " ", ngx.var.args, " ", ngx.is_subrequest)
        }
    }
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(ngx.location.capture, "/t_sub", {method = 12345})
            ngx.say(ok)
        }
    }
--- request
GET /t
--- response_body
false


=== TEST 25: capture in rewrite_by_lua
--- config
    location = /t_sub {
        content_by_lua_block {
            ngx.header["X-Sub"] = "yes"
            ngx.say(ngx.req.get_method(), " ", ngx.var.args, " ", ngx.is_subrequest)
        }
    }
    location = /t {
        set $from_sub '';
        rewrite_by_lua_block { local res = ngx.location.capture("/t_sub") ngx.var.from_sub = res.body }
        content_by_lua_block {
            ngx.print(ngx.var.from_sub)
        }
    }
--- request
GET /t
--- response_body
GET nil true


=== TEST 26: a subrequest skips the access phase
--- config
    location = /t_d {
        deny all;
        content_by_lua_block { ngx.say("allowed") }
    }
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/t_d")
            ngx.print(res.status, " ", res.body)
        }
    }
--- request
GET /t
--- response_body
200 allowed


=== TEST 27: echo_location
--- config
    location = /t_a {
        echo -n a;
    }
    location = /t {
        echo_location /t_a;
        echo_location /t_a;
        echo;
    }
--- request
GET /t
--- response_body
aa
