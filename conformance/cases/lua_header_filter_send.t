# header_filter_by_lua runs when the handler sends its head (ngx.send_headers, the first
# ngx.say/print/eof), inside that call, as nginx's ngx_http_send_header runs the header
# filters: what it sets is seen by the rest of the handler.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: ngx.send_headers runs the header filter before the handler goes on
--- config
    location = /t {
        set $foo '';
        content_by_lua_block {
            ngx.send_headers()
            ngx.say("foo: ", ngx.var.foo)
        }
        header_filter_by_lua_block { ngx.var.foo = "from the filter" }
    }
--- request
GET /t
--- response_body
foo: from the filter


=== TEST 2: the first ngx.say runs it
--- config
    location = /t {
        set $foo 'unset';
        content_by_lua_block {
            ngx.say("before: ", ngx.var.foo)
            ngx.say("after: ", ngx.var.foo)
        }
        header_filter_by_lua_block { ngx.var.foo = "filtered" }
    }
--- request
GET /t
--- response_body
before: unset
after: filtered


=== TEST 3: the filter sees the handler's headers and status and changes them
--- config
    location = /t {
        set $seen '';
        content_by_lua_block {
            ngx.status = 201
            ngx.header["X-A"] = "content"
            ngx.send_headers()
            ngx.say("seen: ", ngx.var.seen, ", sent: ", tostring(ngx.headers_sent))
        }
        header_filter_by_lua_block {
            ngx.var.seen = ngx.status .. " " .. tostring(ngx.header["X-A"])
            ngx.header["X-B"] = "filter"
        }
    }
--- request
GET /t
--- error_code: 201
--- response_headers
X-A: content
X-B: filter
--- response_body
seen: 201 content, sent: true


=== TEST 4: it runs once; ngx.eof runs it too
--- config
    location = /t {
        set $n 0;
        content_by_lua_block {
            ngx.print("a")
            ngx.print("b")
            ngx.eof()
            ngx.log(ngx.WARN, "filter runs: ", ngx.var.n)
        }
        header_filter_by_lua_block { ngx.var.n = ngx.var.n + 1 }
    }
--- request
GET /t
--- response_body: ab
--- error_log
filter runs: 1


=== TEST 5: ngx.req.set_uri in the filter is seen by the handler
--- config
    location /lua {
        header_filter_by_lua_block { ngx.req.set_uri("/blah") }
        content_by_lua_block {
            ngx.send_headers()
            ngx.say("uri: ", ngx.var.uri)
        }
    }
--- request
GET /lua
--- response_body
uri: /blah


=== TEST 6: a rewrite handler's output runs it too
--- config
    location = /t {
        set $foo 'unset';
        rewrite_by_lua_block {
            ngx.send_headers()
            ngx.say("rewrite: ", ngx.var.foo)
            ngx.exit(200)
        }
        header_filter_by_lua_block { ngx.var.foo = "filtered" }
    }
--- request
GET /t
--- response_body
rewrite: filtered


=== TEST 7: an HTTP/1.0 answer held for its length runs the filter when it ends
--- config
    location = /t {
        set $foo 'unset';
        content_by_lua_block {
            ngx.say("a")
            ngx.say("foo: ", ngx.var.foo)
        }
        header_filter_by_lua_block { ngx.var.foo = "filtered" }
    }
--- request
GET /t HTTP/1.0
--- response_body
a
foo: unset
