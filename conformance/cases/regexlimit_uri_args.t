# Lua: ngx.req.set_uri_args with a string escapes control bytes, space and DEL
# (ngx_http_lua_escape_args) and leaves everything else as given; numbers and tables as
# before.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: control bytes, space and DEL become %XX; & = % + and 8-bit bytes stay
--- config
    location = /t {
        rewrite_by_lua_block {
            ngx.req.set_uri_args("a\r\n\t\0b c\127d&e=%41+é")
        }
        content_by_lua_block {
            ngx.say(ngx.var.args)
            ngx.say(ngx.var.arg_e)
        }
    }
--- request
GET /t?x=1
--- response_body
a%0D%0A%09%00b%20c%7Fd&e=%41+é
%41+é



=== TEST 2: the escaped args reach the upstream (proxy_pass without a URI)
--- config
    location = /t {
        rewrite_by_lua_block {
            ngx.req.set_uri_args("q=a b\n")
        }
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo {
        content_by_lua_block {
            ngx.say(ngx.var.request_uri)
            ngx.say(ngx.var.arg_q)
        }
    }
--- request
GET /t
--- response_body
/echo?q=a%20b%0A
a%20b%0A



=== TEST 3: a number is taken as is
--- config
    location = /t {
        rewrite_by_lua_block {
            ngx.req.set_uri_args(12.5)
        }
        content_by_lua_block {
            ngx.say(ngx.var.args)
        }
    }
--- request
GET /t?n=1
--- response_body
12.5
