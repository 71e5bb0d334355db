# Lua: ngx.var (read, write, captures, errors) and ngx.ctx (per request, across phases,
# own per subrequest).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: read built-in variables
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.var.uri, " ", ngx.var.args, " ", ngx.var.request_method)
        }
    }
--- request
GET /t?a=1&b=2
--- response_body
/t a=1&b=2 GET


=== TEST 2: read an argument variable
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.var.arg_a, " ", ngx.var.arg_missing)
        }
    }
--- request
GET /t?a=hello
--- response_body
hello nil


=== TEST 3: read a request header variable
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.var.http_x_foo)
        }
    }
--- request
GET /t
--- more_headers
X-Foo: bar
--- response_body
bar


=== TEST 4: read a set variable
--- config
    location = /t {
        set $foo hello;
        content_by_lua_block {
            ngx.say(ngx.var.foo)
        }
    }
--- request
GET /t
--- response_body
hello


=== TEST 5: write a set variable
--- config
    location = /t {
        set $foo old;
        content_by_lua_block {
            ngx.var.foo = "new"
            ngx.say(ngx.var.foo)
        }
    }
--- request
GET /t
--- response_body
new


=== TEST 6: write a number into a variable
--- config
    location = /t {
        set $foo old;
        content_by_lua_block {
            ngx.var.foo = 42
            ngx.say(ngx.var.foo)
        }
    }
--- request
GET /t
--- response_body
42


=== TEST 7: undefined variable reads nil
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.var.no_such_var_here)
        }
    }
--- request
GET /t
--- response_body
nil


=== TEST 8: writing an undefined variable fails
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(function() ngx.var.nope = 1 end)
            ngx.say(ok)
            ngx.say(err)
        }
    }
--- request
GET /t
--- response_body_like chomp
^\Qfalse\E\n\Qcontent_by_lua(\Enginx\.conf:\d+\Q):2: variable "nope" not found for writing; maybe it is a built-in variable that is not changeable or you forgot to use "set \E\$\Qnope '';" in the config file to define it first\E


=== TEST 9: writing a built-in variable fails
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(function() ngx.var.uri = "/x" end)
            ngx.say(ok)
            ngx.say(err)
        }
    }
--- request
GET /t
--- response_body_like chomp
^\Qfalse\E\n\Qcontent_by_lua(\Enginx\.conf:\d+\Q):2: variable "uri" not changeable\E


=== TEST 10: write $args
--- config
    location = /t {
        content_by_lua_block {
            ngx.var.args = "x=1"
            ngx.say(ngx.var.args, " ", ngx.var.arg_x)
        }
    }
--- request
GET /t?a=1
--- response_body
x=1 1


=== TEST 11: regex captures through ngx.var[N]
--- config
    location ~ ^/t(\d+)/(\w+)$ {
        content_by_lua_block {
            ngx.say(ngx.var[1], " ", ngx.var[2], " ", ngx.var[3])
        }
    }
--- request
GET /t42/abc
--- response_body
42 abc nil


=== TEST 12: variable names are case-insensitive
--- config
    location = /t {
        set $foo bar;
        content_by_lua_block {
            ngx.say(ngx.var.FOO)
        }
    }
--- request
GET /t
--- response_body
bar


=== TEST 13: a bad variable name
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(function() return ngx.var[true] end)
            ngx.say(ok, " ", err)
        }
    }
--- request
GET /t
--- response_body_like chomp
^\Qfalse content_by_lua(\Enginx\.conf:\d+\Q):2: bad variable name\E


=== TEST 14: set a variable to nil
--- config
    location = /t {
        set $foo old;
        content_by_lua_block {
            ngx.var.foo = nil
            ngx.say(ngx.var.foo)
        }
    }
--- request
GET /t
--- response_body
nil


=== TEST 15: ngx.ctx starts empty
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(type(ngx.ctx), " ", next(ngx.ctx))
        }
    }
--- request
GET /t
--- response_body
table nil


=== TEST 16: ngx.ctx keeps values within the phase
--- config
    location = /t {
        content_by_lua_block {
            ngx.ctx.a = 1
            ngx.ctx.b = {2}
            ngx.say(ngx.ctx.a, " ", ngx.ctx.b[1])
        }
    }
--- request
GET /t
--- response_body
1 2


=== TEST 17: ngx.ctx carries over from rewrite to content
--- config
    location = /t {
        rewrite_by_lua_block { ngx.ctx.from = "rewrite" }
        content_by_lua_block {
            ngx.say(ngx.ctx.from)
        }
    }
--- request
GET /t
--- response_body
rewrite


=== TEST 18: ngx.ctx carries over from access to content
--- config
    location = /t {
        access_by_lua_block { ngx.ctx.n = 41 }
        content_by_lua_block {
            ngx.say(ngx.ctx.n + 1)
        }
    }
--- request
GET /t
--- response_body
42


=== TEST 19: ngx.ctx can be replaced by a table
--- config
    location = /t {
        content_by_lua_block {
            ngx.ctx = {x = "y"}
            ngx.say(ngx.ctx.x)
        }
    }
--- request
GET /t
--- response_body
y


=== TEST 20: ngx.ctx can not be set to a string
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(function() ngx.ctx = "s" end)
            ngx.say(ok)
        }
    }
--- request
GET /t
--- response_body
false


=== TEST 21: ngx.ctx is not shared with the next request
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.ctx.seen)
            ngx.ctx.seen = true
        }
    }
--- request
GET /t
--- response_body
nil


=== TEST 22: ngx.ctx in header_filter_by_lua
--- config
    location = /t {
        content_by_lua_block { ngx.ctx.v = "c" ngx.say("ok") }
        header_filter_by_lua_block { ngx.header["X-Ctx"] = ngx.ctx.v }
    }
--- request
GET /t
--- response_headers
X-Ctx: c
--- response_body
ok


=== TEST 23: ngx.ctx of an internal redirect is fresh
--- config
    location = /t {
        rewrite_by_lua_block { ngx.ctx.a = 1 return ngx.exec("/t_next") }
    }
    location = /t_next {
        content_by_lua_block { ngx.say(ngx.ctx.a) }
    }
--- request
GET /t
--- response_body
nil


=== TEST 24: ngx.var.request_body after read_body
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say(ngx.var.request_body)
        }
    }
--- request
POST /t
hello body
--- response_body
hello body


=== TEST 25: read $host and $server_port type
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.var.host, " ", type(ngx.var.server_port))
        }
    }
--- request
GET /t
--- response_body
localhost string


=== TEST 26: ngx.var.uri after ngx.req.set_uri
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.set_uri("/other")
            ngx.say(ngx.var.uri)
        }
    }
--- request
GET /t
--- response_body
/other
