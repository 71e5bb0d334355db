# Lua phases: set_by_lua, rewrite/access/content/header_filter/log_by_lua in block, inline
# and file forms, their order, ngx.get_phase, inheritance, no_postpone.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: content_by_lua inline string
--- config
    location = /t {
        content_by_lua 'ngx.say("inline")';
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- response_body
inline


=== TEST 2: content_by_lua_file
--- config
    location = /t {
        content_by_lua_file html/hello.lua;
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- response_body
from file /t


=== TEST 3: content_by_lua_file with a variable path
--- config
    location ~ ^/t/(\w+)$ {
        content_by_lua_file html/$1.lua;
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t/hello
--- response_body
from file /t/hello


=== TEST 4: set_by_lua inline
--- config
    location = /t {
        set_by_lua $x 'return 1 + 2';
        echo $x;
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- response_body
3


=== TEST 5: set_by_lua_block with arguments
--- config
    location = /t {
        set $a 5;
        set_by_lua_block $x { return ngx.arg[1] * 2 }
        echo $x;
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- error_code: 500
--- response_body_like chomp
500\ Internal\ Server\ Error


=== TEST 6: set_by_lua with arguments
--- config
    location = /t {
        set $a 5;
        set_by_lua $x 'return ngx.arg[1] + ngx.arg[2]' $a 10;
        echo $x;
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- response_body
15


=== TEST 7: set_by_lua_file
--- config
    location = /t {
        set $a hey;
        set_by_lua_file $x html/set.lua $a;
        echo $x;
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- response_body
hey!


=== TEST 8: set_by_lua returning nil
--- config
    location = /t {
        set_by_lua $x 'return nil';
        echo "[$x]";
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- response_body
[]


=== TEST 9: rewrite then access then content
--- config
    location = /t {
        rewrite_by_lua_block { ngx.ctx.log = "rewrite" }
        access_by_lua_block { ngx.ctx.log = ngx.ctx.log .. ",access" }
        content_by_lua_block { ngx.say(ngx.ctx.log, ",content") }
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- response_body
rewrite,access,content


=== TEST 10: rewrite_by_lua_file
--- config
    location = /t {
        rewrite_by_lua_file html/rw.lua;
        content_by_lua_block { ngx.say(ngx.ctx.rw) }
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- response_body
file


=== TEST 11: ngx.get_phase in each phase
--- config
    location = /t {
        set_by_lua_block $p { return ngx.get_phase() }
        rewrite_by_lua_block { ngx.ctx.p = ngx.var.p .. " " .. ngx.get_phase() }
        access_by_lua_block { ngx.ctx.p = ngx.ctx.p .. " " .. ngx.get_phase() }
        content_by_lua_block { ngx.say(ngx.ctx.p, " ", ngx.get_phase()) }
        header_filter_by_lua_block { ngx.header["X-Phase"] = ngx.get_phase() }
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- response_headers
X-Phase: header_filter
--- response_body
set rewrite access content


=== TEST 12: rewrite module runs before rewrite_by_lua
--- config
    location = /t {
        set $v rewrite-module;
        rewrite_by_lua_block { ngx.var.v = ngx.var.v .. "+lua" }
        content_by_lua_block { ngx.say(ngx.var.v) }
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- response_body
rewrite-module+lua


=== TEST 13: access_by_lua after allow
--- config
    location = /t {
        allow all;
        access_by_lua_block { ngx.ctx.a = "ok" }
        content_by_lua_block { ngx.say(ngx.ctx.a) }
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- response_body
ok


=== TEST 14: deny wins over access_by_lua
--- config
    location = /t {
        deny all;
        access_by_lua_block { ngx.log(ngx.ERR, "should not run") }
        content_by_lua_block { ngx.say("no") }
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- error_code: 403
--- response_body_like chomp
403\ Forbidden


=== TEST 15: log_by_lua runs
--- config
    location = /t {
        content_by_lua_block { ngx.say("x") }
        log_by_lua_block { ngx.log(ngx.WARN, "logged status ", ngx.status) }
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- response_body
x
--- error_log
logged status 200
while logging request


=== TEST 16: log_by_lua sees ngx.var
--- config
    location = /t {
        set $who me;
        content_by_lua_block { ngx.say("x") }
        log_by_lua_block { ngx.log(ngx.WARN, "who=", ngx.var.who) }
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- response_body
x
--- error_log
who=me


=== TEST 17: header_filter_by_lua inline
--- config
    location = /t {
        content_by_lua_block { ngx.say("x") }
        header_filter_by_lua 'ngx.header.x_inline = "1"';
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- response_headers
X-Inline: 1
--- response_body
x


=== TEST 18: content_by_lua is not inherited but rewrite is
--- config
    location /t {
        rewrite_by_lua_block { ngx.ctx.r = "outer" }
        location /t/in {
            content_by_lua_block { ngx.say(ngx.ctx.r) }
        }
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t/in
--- response_body
outer


=== TEST 19: handler in an if block
--- config
    location = /t {
        if ($arg_x) {
            content_by_lua_block { ngx.say("in if") }
        }
        content_by_lua_block { ngx.say("outside") }
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t?x=1
--- response_body
in if


=== TEST 20: ngx.sleep in content
--- config
    location = /t {
        content_by_lua_block { ngx.sleep(0.01) ngx.say("slept") }
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- response_body
slept


=== TEST 21: ngx.sleep in rewrite
--- config
    location = /t {
        rewrite_by_lua_block { ngx.sleep(0.01) }
        content_by_lua_block { ngx.say("after sleep") }
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- response_body
after sleep


=== TEST 22: coroutines inside a handler
--- config
    location = /t {
        content_by_lua_block {
            local co = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
            ngx.say(co(), co(), co())
        }
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t
--- response_body
123


=== TEST 23: lua_need_request_body in rewrite
--- config
    location = /t {
        lua_need_request_body on;
        rewrite_by_lua_block { ngx.ctx.b = ngx.var.request_body }
        content_by_lua_block { ngx.say(ngx.ctx.b) }
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
POST /t
needed body
--- response_body
needed body


=== TEST 24: content_by_lua with a static fallback location
--- config
    location = /t {
        content_by_lua_block { ngx.say(ngx.var.request_uri) }
    }
--- user_files
>>> hello.lua
ngx.say("from file ", ngx.var.uri)
>>> set.lua
return ngx.arg[1] .. "!"
>>> rw.lua
ngx.ctx.rw = "file"
--- request
GET /t?q=1
--- response_body
/t?q=1
