# Lua: response headers (ngx.header with underscores, tables, built-ins, escaping) and
# ngx.resp.get_headers.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: set a header
--- config
    location = /t {
        content_by_lua_block {
            ngx.header["X-One"] = "1"
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_headers
X-One: 1
--- response_body
ok


=== TEST 2: underscores become dashes
--- config
    location = /t {
        content_by_lua_block {
            ngx.header.x_two = "2"
            ngx.say(ngx.header["X-Two"])
        }
    }
--- request
GET /t
--- response_headers
X-Two: 2
--- response_body
2


=== TEST 3: a multi-value header
--- config
    location = /t {
        content_by_lua_block {
            ngx.header["X-M"] = {"a", "b"}
            local v = ngx.header["X-M"]
            ngx.say(type(v), " ", table.concat(v, ","))
        }
    }
--- request
GET /t
--- response_body
table a,b


=== TEST 4: clear a header with nil
--- config
    location = /t {
        content_by_lua_block {
            ngx.header["X-C"] = "1"
            ngx.header["X-C"] = nil
            ngx.say(ngx.header["X-C"])
        }
    }
--- request
GET /t
--- response_headers
!X-C
--- response_body
nil


=== TEST 5: content_type
--- config
    location = /t {
        content_by_lua_block {
            ngx.header.content_type = "text/x-lua"
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_headers
Content-Type: text/x-lua
--- response_body
ok


=== TEST 6: content type of a table keeps the last
--- config
    location = /t {
        content_by_lua_block {
            ngx.header.content_type = {"a/b", "c/d"}
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_headers
Content-Type: c/d
--- response_body
ok


=== TEST 7: content_length cuts the body
--- config
    location = /t {
        content_by_lua_block {
            ngx.header.content_length = 3
            ngx.say("hello")
        }
    }
--- request
GET /t
--- response_headers
Content-Length: 3
--- response_body chop
hel


=== TEST 8: read a header not set
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.header["X-None"])
        }
    }
--- request
GET /t
--- response_body
nil


=== TEST 9: read content type before output
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.header.content_type)
        }
    }
--- request
GET /t
--- response_body
nil


=== TEST 10: a number value
--- config
    location = /t {
        content_by_lua_block {
            ngx.header["X-N"] = 42
            ngx.say(ngx.header["X-N"])
        }
    }
--- request
GET /t
--- response_headers
X-N: 42
--- response_body
42


=== TEST 11: a boolean value
--- config
    location = /t {
        content_by_lua_block {
            ngx.header["X-B"] = true
            ngx.say(ngx.header["X-B"])
        }
    }
--- request
GET /t
--- response_body
true


=== TEST 12: header escaping of a newline
--- config
    location = /t {
        content_by_lua_block {
            ngx.header["X-E"] = "a\nb"
            ngx.say(ngx.header["X-E"])
        }
    }
--- request
GET /t
--- response_headers
X-E: a%0Ab
--- response_body
a%0Ab


=== TEST 13: cache_control multi value
--- config
    location = /t {
        content_by_lua_block {
            ngx.header.cache_control = {"private", "no-store"}
            ngx.say(ngx.var.sent_http_cache_control)
        }
    }
--- request
GET /t
--- response_body
private, no-store


=== TEST 14: set a header after output
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("x")
            ngx.header["X-Late"] = "1"
            ngx.say(ngx.header["X-Late"])
        }
    }
--- request
GET /t
--- response_headers
!X-Late
--- response_body
x
nil


=== TEST 15: resp.get_headers
--- config
    location = /t {
        content_by_lua_block {
            ngx.header["X-A"] = "1"
            ngx.header["X-B"] = {"2", "3"}
            local h = ngx.resp.get_headers()
            ngx.say(h["x-a"], " ", table.concat(h.x_b, ","), " ", h.connection)
        }
    }
--- request
GET /t
--- response_body
1 2,3 close


=== TEST 16: resp.get_headers raw
--- config
    location = /t {
        content_by_lua_block {
            ngx.header["X-Raw"] = "1"
            local h = ngx.resp.get_headers(0, true)
            ngx.say(h["X-Raw"], " ", h["x-raw"])
        }
    }
--- request
GET /t
--- response_body
1 nil


=== TEST 17: resp.get_headers limit
--- config
    location = /t {
        content_by_lua_block {
            for i = 1, 5 do ngx.header["X-" .. i] = i end
            local h, err = ngx.resp.get_headers(3)
            local n = 0
            for _ in pairs(h) do n = n + 1 end
            ngx.say(n, " ", err)
        }
    }
--- request
GET /t
--- response_body
3 truncated


=== TEST 18: Location of a 302
--- config
    location = /t {
        content_by_lua_block {
            ngx.header.location = "http://example.com/x"
            ngx.exit(302)
        }
    }
--- request
GET /t
--- error_code: 302
--- response_headers
Location: http://example.com/x


=== TEST 19: header_filter_by_lua sets a header
--- config
    location = /t {
        content_by_lua_block { ngx.say("body") }
        header_filter_by_lua_block { ngx.header["X-HF"] = "yes" }
    }
--- request
GET /t
--- response_headers
X-HF: yes
--- response_body
body


=== TEST 20: header_filter_by_lua changes the status
--- config
    location = /t {
        content_by_lua_block { ngx.say("body") }
        header_filter_by_lua_block { ngx.status = 201 }
    }
--- request
GET /t
--- error_code: 201
--- response_body
body


=== TEST 21: header_filter_by_lua sees a static file's type
--- config
    location = /t {
        default_type text/x-foo;
        content_by_lua_block { ngx.say("b") }
        header_filter_by_lua_block { ngx.header["X-T"] = ngx.header.content_type }
    }
--- request
GET /t
--- response_headers
X-T: text/x-foo
--- response_body
b


=== TEST 22: header_filter_by_lua clears a header
--- config
    location = /t {
        content_by_lua_block { ngx.header["X-Gone"] = "1" ngx.say("b") }
        header_filter_by_lua_block { ngx.header["X-Gone"] = nil }
    }
--- request
GET /t
--- response_headers
!X-Gone
--- response_body
b


=== TEST 23: header_filter_by_lua on an echo response
--- config
    location = /t {
        echo hello;
        header_filter_by_lua_block { ngx.header["X-E"] = "echo" }
    }
--- request
GET /t
--- response_headers
X-E: echo
--- response_body
hello


=== TEST 24: header_filter_by_lua on return
--- config
    location = /t {
        return 200 "text\n";
        header_filter_by_lua_block { ngx.header["X-R"] = ngx.status }
    }
--- request
GET /t
--- response_headers
X-R: 200
--- response_body
text


=== TEST 25: lua_use_default_type off
--- config
    location = /t {
        lua_use_default_type off;
        content_by_lua_block { ngx.say("x") }
    }
--- request
GET /t
--- response_headers
!Content-Type
--- response_body
x


=== TEST 26: default_type of the location
--- config
    location = /t {
        default_type application/x-custom;
        content_by_lua_block { ngx.say("x") }
    }
--- request
GET /t
--- response_headers
Content-Type: application/x-custom
--- response_body
x
