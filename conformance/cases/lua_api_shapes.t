# Shapes of lua-nginx-module's API seen from Lua: capture numbers of ngx.var, the "vars"
# option of captures, the metatables of cosockets and shared dicts, ngx.arg in body filters.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: ngx.var[n] counts captures from 1
--- config
    location ~ ^/cap/(.*)/(.*) {
        content_by_lua_block {
            for _, i in ipairs{-1, 0, 1, 2, 3} do
                ngx.say(i, ": ", ngx.var[i] or "nil")
            end
        }
    }
--- request
GET /cap/hello/world
--- response_body
-1: nil
0: nil
1: hello
2: world
3: nil


=== TEST 2: the vars option sets declared variables and args
--- config
    location = /other {
        set $dog '';
        content_by_lua_block { ngx.say("dog = ", ngx.var.dog, ", args = ", ngx.var.args) }
    }
    location = /main {
        set $dog '';
        content_by_lua_block {
            local res = ngx.location.capture("/other", { vars = { dog = "hello", args = "a=1" } })
            ngx.print(res.body)
        }
    }
--- request
GET /main
--- response_body
dog = , args = a=1


=== TEST 3: the vars option refuses undeclared variables
--- config
    location = /other { return 200 "x"; }
    location = /main {
        content_by_lua_block {
            local res = ngx.location.capture("/other", { vars = { cat = 32 } })
            ngx.print(res.body)
        }
    }
--- request
GET /main
--- error_code: 500
--- error_log
variable "cat" cannot be assigned a value (maybe you forgot to define it first?)
failed to adjust the subrequest: -1


=== TEST 4: the vars option refuses built-ins that can't change
--- config
    location = /other { return 200 "x"; }
    location = /main {
        content_by_lua_block {
            local res = ngx.location.capture("/other", { vars = { query_string = "hello" } })
            ngx.print(res.body)
        }
    }
--- request
GET /main
--- error_code: 500
--- error_log
variable "query_string" not changeable


=== TEST 5: cosocket and shared dict metatables hold their methods
--- http_config
    lua_shared_dict dogs 1m;
--- config
    location = /t {
        content_by_lua_block {
            local function keys(t)
                local ks = {}
                for k in pairs(t) do ks[#ks + 1] = k end
                table.sort(ks)
                return table.concat(ks, " ")
            end
            local tcp = getmetatable(ngx.socket.tcp())
            ngx.say(tcp.__index == tcp, " ", type(tcp.connect), " ", type(tcp.setkeepalive))
            local udp = getmetatable(ngx.socket.udp())
            ngx.say(keys(udp))
            local mt = ngx.shared.dogs.__index
            ngx.say(type(mt), " ", type(mt.get), " ", type(mt.incr), " ", mt.__index == mt)
        }
    }
--- request
GET /t
--- response_body
true function function
__index close receive send setpeername settimeout
table function function true


=== TEST 6: ngx.arg[1] in a body filter: cleared reads empty, nested tables are joined
--- config
    location = /t {
        echo -n hello;
        body_filter_by_lua_block {
            if ngx.arg[1] ~= "" then
                local chunk = ngx.arg[1]
                ngx.arg[1] = nil
                local cleared = ngx.arg[1]
                ngx.arg[1] = {{chunk}, {"[", cleared, "]"}, "!", "\n"}
            end
        }
    }
--- request
GET /t
--- response_body
hello[]!
