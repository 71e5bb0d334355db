# The API tables hold what lua-nginx-module 0.10.23 (with Debian's resty.core) puts in them:
# ngx.arg always there (a proxy table), the raw phase helpers, the coroutine originals, and
# none of the later versions' additions.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: keys present and absent
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("arg: ", type(rawget(ngx, "arg")))
            ngx.say("phase helpers: ", type(rawget(ngx, "_phase_ctx")), " ", type(ngx.get_raw_phase))
            ngx.say("get_query_args: ", type(ngx.req.get_query_args))
            ngx.say("is_console: ", type(ngx.config.is_console))
            ngx.say("re.opt: ", type(ngx.re.opt))
            ngx.say("isyieldable: ", type(coroutine.isyieldable))
            ngx.say("originals: ", type(coroutine._yield), " ", type(coroutine.__resume))
            local n = 0
            for _ in pairs(coroutine) do n = n + 1 end
            ngx.say("coroutine entries: ", n)
            ngx.say("arg length: ", #ngx.arg)
            local ok, err = pcall(function() return ngx.arg[1] end)
            ngx.say(ok, " ", err:match("API disabled in the current context"))
        }
    }
--- request
GET /t
--- response_body
arg: table
phase helpers: function function
get_query_args: nil
is_console: nil
re.opt: nil
isyieldable: nil
originals: function function
coroutine entries: 16
arg length: 0
false API disabled in the current context


=== TEST 2: set_by_lua's ngx.arg: an empty argument is nil
--- config
    location = /t {
        set_by_lua $res 'return tostring(ngx.arg[1]) .. "," .. tostring(ngx.arg[2]) .. "," .. tostring(ngx.arg[3])' "a" "" "c";
        return 200 "$res\n";
    }
--- request
GET /t
--- response_body
a,nil,c


=== TEST 3: body_filter_by_lua reads and sets ngx.arg through the table
--- config
    location = /t {
        content_by_lua_block { ngx.print("hello") }
        body_filter_by_lua_block {
            local t = ngx.arg
            if t[2] then return end
            t[1] = t[1]:upper() .. "|" .. tostring(#t)
        }
    }
--- request
GET /t
--- response_body: HELLO|0
