# Lua: ngx.req.* (method, URI args, post args, headers, body, raw header, HTTP version,
# set_uri, set_uri_args, set_method).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: get_method
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.req.get_method())
        }
    }
--- request
DELETE /t
--- response_body
DELETE


=== TEST 2: get_uri_args
--- config
    location = /t {
        content_by_lua_block {
            local args = ngx.req.get_uri_args()
            local keys = {}
            for k in pairs(args) do keys[#keys + 1] = k end
            table.sort(keys)
            for _, k in ipairs(keys) do
                local v = args[k]
                if type(v) == "table" then v = table.concat(v, ",") end
                ngx.say(k, "=", tostring(v))
            end
        }
    }
--- request
GET /t?a=1&b=2&b=3&c&d=&e=%20x
--- response_body
a=1
b=2,3
c=true
d=
e= x


=== TEST 3: get_uri_args with a limit
--- config
    location = /t {
        content_by_lua_block {
            local args, err = ngx.req.get_uri_args(2)
            ngx.say(err)
            local keys = {}
            for k in pairs(args) do keys[#keys + 1] = k end
            table.sort(keys)
            for _, k in ipairs(keys) do
                local v = args[k]
                if type(v) == "table" then v = table.concat(v, ",") end
                ngx.say(k, "=", tostring(v))
            end
        }
    }
--- request
GET /t?a=1&b=2&c=3
--- response_body
truncated
a=1
b=2


=== TEST 4: get_uri_args with no limit
--- config
    location = /t {
        content_by_lua_block {
            local args = ngx.req.get_uri_args(0)
            local keys = {}
            for k in pairs(args) do keys[#keys + 1] = k end
            table.sort(keys)
            for _, k in ipairs(keys) do
                local v = args[k]
                if type(v) == "table" then v = table.concat(v, ",") end
                ngx.say(k, "=", tostring(v))
            end
        }
    }
--- request
GET /t?a=1&b=2&c=3
--- response_body
a=1
b=2
c=3


=== TEST 5: get_uri_args drops empty keys
--- config
    location = /t {
        content_by_lua_block {
            local args = ngx.req.get_uri_args()
            local keys = {}
            for k in pairs(args) do keys[#keys + 1] = k end
            table.sort(keys)
            for _, k in ipairs(keys) do
                local v = args[k]
                if type(v) == "table" then v = table.concat(v, ",") end
                ngx.say(k, "=", tostring(v))
            end
        }
    }
--- request
GET /t?=1&a=2&&b
--- response_body
a=2
b=true


=== TEST 6: get_uri_args decodes plus
--- config
    location = /t {
        content_by_lua_block {
            local args = ngx.req.get_uri_args()
            local keys = {}
            for k in pairs(args) do keys[#keys + 1] = k end
            table.sort(keys)
            for _, k in ipairs(keys) do
                local v = args[k]
                if type(v) == "table" then v = table.concat(v, ",") end
                ngx.say(k, "=", tostring(v))
            end
        }
    }
--- request
GET /t?q=a+b%2Bc
--- response_body
q=a b+c


=== TEST 7: set_uri_args with a string
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.set_uri_args("x=1&y=2")
            ngx.say(ngx.var.args)
        }
    }
--- request
GET /t
--- response_body
x=1&y=2


=== TEST 8: set_uri_args with a table
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.set_uri_args({a = "b c"})
            ngx.say(ngx.var.args)
        }
    }
--- request
GET /t
--- response_body
a=b%20c


=== TEST 9: set_uri_args with a boolean fails
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(ngx.req.set_uri_args, true)
            ngx.say(ok)
        }
    }
--- request
GET /t
--- response_body
false


=== TEST 10: get_post_args
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            local args = ngx.req.get_post_args()
            local keys = {}
            for k in pairs(args) do keys[#keys + 1] = k end
            table.sort(keys)
            for _, k in ipairs(keys) do
                local v = args[k]
                if type(v) == "table" then v = table.concat(v, ",") end
                ngx.say(k, "=", tostring(v))
            end
        }
    }
--- request
POST /t
a=1&b=hello+world&b=2
--- response_body
a=1
b=hello world,2


=== TEST 11: get_post_args without reading the body
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(ngx.req.get_post_args)
            ngx.say(ok)
        }
    }
--- request
GET /t
--- response_body
false


=== TEST 12: get_headers
--- config
    location = /t {
        content_by_lua_block {
            local h = ngx.req.get_headers()
            ngx.say(h["x-foo"], " ", h.x_foo, " ", h["X-Foo"])
        }
    }
--- request
GET /t
--- more_headers
X-Foo: bar
--- response_body
bar bar bar


=== TEST 13: get_headers multi-value
--- config
    location = /t {
        content_by_lua_block {
            local h = ngx.req.get_headers()
            local v = h["x-m"]
            ngx.say(type(v), " ", table.concat(v, ","))
        }
    }
--- request
GET /t
--- more_headers
X-M: 1
X-M: 2
--- response_body
table 1,2


=== TEST 14: get_headers with a limit
--- config
    location = /t {
        content_by_lua_block {
            local h, err = ngx.req.get_headers(1)
            ngx.say(err)
        }
    }
--- request
GET /t
--- response_body
truncated


=== TEST 15: set_header then read
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.set_header("X-New", "v")
            ngx.say(ngx.var.http_x_new, " ", ngx.req.get_headers()["x-new"])
        }
    }
--- request
GET /t
--- response_body
v v


=== TEST 16: set_header with a table
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.set_header("X-L", {"a", "b"})
            ngx.say(table.concat(ngx.req.get_headers()["x-l"], ","))
        }
    }
--- request
GET /t
--- response_body
a,b


=== TEST 17: clear_header
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.clear_header("X-Foo")
            ngx.say(ngx.var.http_x_foo)
        }
    }
--- request
GET /t
--- more_headers
X-Foo: bar
--- response_body
nil


=== TEST 18: set_header to nil clears
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.set_header("X-Foo", nil)
            ngx.say(ngx.req.get_headers()["x-foo"])
        }
    }
--- request
GET /t
--- more_headers
X-Foo: bar
--- response_body
nil


=== TEST 19: set_header escapes a newline
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.set_header("X-E", "a\nb")
            ngx.say(ngx.var.http_x_e)
        }
    }
--- request
GET /t
--- response_body
a%0Ab


=== TEST 20: read_body and get_body_data
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say(ngx.req.get_body_data())
        }
    }
--- request
POST /t
the body
--- response_body
the body


=== TEST 21: get_body_data before read_body
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.req.get_body_data())
        }
    }
--- request
POST /t
the body
--- response_body
nil


=== TEST 22: get_body_data with no body
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say(ngx.req.get_body_data())
        }
    }
--- request
GET /t
--- response_body
nil


=== TEST 23: set_body_data
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.req.set_body_data("new")
            ngx.say(ngx.req.get_body_data(), " ", ngx.var.http_content_length)
        }
    }
--- request
POST /t
old body
--- response_body
new 3


=== TEST 24: set_body_data before read_body fails
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(ngx.req.set_body_data, "x")
            ngx.say(ok)
        }
    }
--- request
POST /t
old
--- response_body
false


=== TEST 25: init_body, append_body, finish_body
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.req.init_body()
            ngx.req.append_body("ab")
            ngx.req.append_body("cd")
            ngx.req.finish_body()
            ngx.say(ngx.req.get_body_data())
        }
    }
--- request
POST /t
x
--- response_body
abcd


=== TEST 26: append_body without init_body
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            local ok = pcall(ngx.req.append_body, "x")
            ngx.say(ok)
        }
    }
--- request
POST /t
x
--- response_body
false


=== TEST 27: body in a file with client_body_in_file_only
--- config
    location = /t {
        client_body_in_file_only clean;
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say(ngx.req.get_body_data())
            local f = ngx.req.get_body_file()
            ngx.say(f ~= nil)
            local fh = io.open(f)
            ngx.say(fh:read("*a"))
            fh:close()
        }
    }
--- request
POST /t
in a file
--- response_body
nil
true
in a file


=== TEST 28: lua_need_request_body
--- config
    location = /t {
        lua_need_request_body on;
        content_by_lua_block {
            ngx.say(ngx.req.get_body_data())
        }
    }
--- request
POST /t
needed
--- response_body
needed


=== TEST 29: http_version
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.req.http_version())
        }
    }
--- request
GET /t
--- response_body
1.1


=== TEST 30: raw_header
--- config
    location = /t {
        content_by_lua_block {
            local h = ngx.req.raw_header()
            ngx.say(h:sub(1, #"GET /t HTTP/1.1"))
        }
    }
--- request
GET /t
--- response_body
GET /t HTTP/1.1


=== TEST 31: raw_header without the request line
--- config
    location = /t {
        content_by_lua_block {
            local h = ngx.req.raw_header(true)
            ngx.say(h:find("^Host: ") ~= nil)
        }
    }
--- request
GET /t
--- response_body
true


=== TEST 32: is_internal in a main request
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.req.is_internal())
        }
    }
--- request
GET /t
--- response_body
false


=== TEST 33: is_internal after exec
--- config
    location = /t {
        rewrite_by_lua_block { ngx.exec("/t_2") }
    }
    location = /t_2 {
        content_by_lua_block { ngx.say(ngx.req.is_internal()) }
    }
--- request
GET /t
--- response_body
true


=== TEST 34: start_time is a number
--- config
    location = /t {
        content_by_lua_block {
            local t = ngx.req.start_time()
            ngx.say(type(t), " ", t <= ngx.now())
        }
    }
--- request
GET /t
--- response_body
number true


=== TEST 35: set_method
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.set_method(ngx.HTTP_POST)
            ngx.say(ngx.req.get_method(), " ", ngx.var.request_method)
        }
    }
--- request
GET /t
--- response_body
POST POST


=== TEST 36: set_method with a bad number
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(ngx.req.set_method, 3)
            ngx.say(ok)
        }
    }
--- request
GET /t
--- response_body
false


=== TEST 37: set_uri without jump
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.set_uri("/a/b")
            ngx.say(ngx.var.uri)
        }
    }
--- request
GET /t
--- response_body
/a/b


=== TEST 38: set_uri with jump in content fails
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(ngx.req.set_uri, "/x", true)
            ngx.say(ok, " ", err)
        }
    }
--- request
GET /t
--- response_body
false API disabled in the context of content_by_lua*


=== TEST 39: set_uri with jump in rewrite
--- config
    location = /t {
        rewrite_by_lua_block { ngx.req.set_uri("/t_j", true) }
        content_by_lua_block { ngx.say("not here") }
    }
    location = /t_j {
        content_by_lua_block { ngx.say("jumped ", ngx.var.uri) }
    }
--- request
GET /t
--- response_body
jumped /t_j


=== TEST 40: set_uri with an empty string
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(ngx.req.set_uri, "")
            ngx.say(ok)
        }
    }
--- request
GET /t
--- response_body
false


=== TEST 41: discard_body
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.discard_body()
            ngx.say("ok")
        }
    }
--- request
POST /t
ignored
--- response_body
ok


=== TEST 42: ngx.req.set_header does nothing on an HTTP/0.9 request
--- config
    location /foo {
        content_by_lua_block {
            ngx.req.set_header("X-Foo", "howdy")
            ngx.req.clear_header("Host")
            local h = ngx.req.get_headers()
            ngx.say("X-Foo: ", h["X-Foo"], ", version: ", ngx.req.http_version())
        }
    }
--- raw_request eval
"GET /foo\r\n"
--- http09
--- response_body
X-Foo: nil, version: 0.9
--- no_error_log
[error]


=== TEST 43: set_header names go upstream as written; the backend's echo shows the head as received
--- config
    location /req-header {
        rewrite_by_lua_block {
            ngx.req.set_header("foo_bar", "some value")
            ngx.req.set_header("X-MiXed", "m")
        }
        proxy_pass http://127.0.0.1:$server_port/back;
    }
    location = /back {
        echo -n $echo_client_request_headers;
    }
--- request
GET /req-header
--- response_body_like eval
qr{^GET /back HTTP/1.0\r
Host: 127.0.0.1:\d+\r
Connection: close\r
foo_bar: some value\r
X-MiXed: m\r
\r
$}
