# Each ngx.say/ngx.print is its own buffer, as in lua-nginx-module: its own body filter
# call, and its own chunk on the wire.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: the body filter sees each print, then the end
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("one")
            ngx.print("")
            ngx.print("two", "+", 2)
            ngx.say()
        }
        body_filter_by_lua_block {
            local n = (ngx.ctx.n or 0) + 1
            ngx.ctx.n = n
            ngx.arg[1] = "<" .. n .. ":" .. ngx.arg[1] .. ">"
        }
    }
--- request
GET /t
--- response_body eval
"<1:one\n><2:two+2><3:\n><4:>"



=== TEST 2: $body_bytes_sent counts each chunk's framing
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("a")
            ngx.say("b")
        }
        log_by_lua_block { ngx.log(ngx.WARN, "sent: ", ngx.var.body_bytes_sent) }
    }
--- request
GET /t
--- response_body
a
b
--- error_log
sent: 19
