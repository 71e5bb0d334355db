# ngx.location.capture of a subrequest that ends with an error status: lua-nginx-module's
# post-subrequest handler takes it before nginx makes the error page (no page, no error_page,
# truncated); HEAD subrequests have no body; args tables take string keys only.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: error statuses: no page, truncated, the headers set so far
--- config
    location = /s404 { return 404; }
    location = /s302 { return 302 /foo; }
    location = /ep { error_page 404 /page; return 404; }
    location = /page { return 200 "page\n"; }
    location = /lua404 { content_by_lua_block { ngx.header["X-A"] = "a" ngx.exit(404) } }
    location = /nofile { root /nonexistent; }
    location = /main {
        content_by_lua_block {
            for _, u in ipairs{"/s404", "/s302", "/ep", "/lua404", "/nofile"} do
                local res = ngx.location.capture(u)
                local hs = {}
                for k, v in pairs(res.header) do hs[#hs + 1] = k .. "=" .. tostring(v) end
                table.sort(hs)
                ngx.say(u, ": ", res.status, " [", res.body, "] ", tostring(res.truncated), " ",
                        table.concat(hs, ","))
            end
        }
    }
--- request
GET /main
--- response_body
/s404: 404 [] true Content-Type=text/plain
/s302: 302 [] true Content-Type=text/plain,Location=/foo
/ep: 404 [] true Content-Type=text/plain
/lua404: 404 [] true Content-Type=text/plain,X-A=a
/nofile: 404 [] true Content-Type=text/plain


=== TEST 2: answers without a last buffer are truncated
--- config
    location = /r201 { return 201; }
    location = /r204 { return 204; }
    location = /r201t { return 201 "x"; }
    location = /lua204 { content_by_lua_block { ngx.exit(204) } }
    location = /luas204 { content_by_lua_block { ngx.status = 204 } }
    location = /luaerr { content_by_lua_block { ngx.say("hi") ngx.exit(ngx.ERROR) } }
    location = /luaeof { content_by_lua_block { ngx.say("hi") ngx.eof() ngx.exit(ngx.ERROR) } }
    location = /main {
        content_by_lua_block {
            for _, u in ipairs{"/r201", "/r204", "/r201t", "/lua204", "/luas204", "/luaerr", "/luaeof"} do
                local res = ngx.location.capture(u)
                local hs = {}
                for k, v in pairs(res.header) do hs[#hs + 1] = k .. "=" .. tostring(v) end
                table.sort(hs)
                ngx.say(u, ": ", res.status, " [", #res.body, "] ", tostring(res.truncated), " ",
                        table.concat(hs, ","))
            end
        }
    }
--- request
GET /main
--- response_body
/r201: 201 [0] true Content-Length=0,Content-Type=text/plain
/r204: 204 [0] true Content-Length=0,Content-Type=text/plain
/r201t: 201 [1] false Content-Length=1,Content-Type=text/plain
/lua204: 204 [0] true Content-Type=text/plain
/luas204: 204 [0] false Content-Type=text/plain
/luaerr: 200 [3] true Content-Type=text/plain
/luaeof: 200 [3] false Content-Type=text/plain


=== TEST 3: a HEAD subrequest has headers and no body
--- config
    location = /main {
        content_by_lua_block {
            local res = ngx.location.capture("/index.html", { method = ngx.HTTP_HEAD })
            ngx.say("length: ", res.header["Content-Length"], ", etag: ", res.header["ETag"] ~= nil)
            ngx.say("body: [", res.body, "]")
        }
    }
--- user_files
>>> index.html
hello
--- request
GET /main
--- response_body
length: 6, etag: true
body: []


=== TEST 4: args tables take string keys only
--- config
    location = /main {
        content_by_lua_block {
            ngx.say(pcall(ngx.encode_args, {[57] = "hi"}))
            ngx.say(pcall(ngx.encode_args, {"a"}))
            ngx.say(pcall(ngx.req.set_uri_args, {[1] = "hi"}))
            ngx.say(pcall(ngx.location.capture, "/x", {args = {[true] = "hi"}}))
            ngx.say(ngx.encode_args({a = 1}))
        }
    }
--- request
GET /main
--- response_body
falseattempt to use a non-string key in the "args" option table
falseattempt to use a non-string key in the "args" option table
falseattempt to use a non-string key in the "args" option table
falseattempt to use a non-string key in the "args" option table
a=1


=== TEST 5: a subrequest's non-string args key fails the request
--- config
    location = /foo { return 200 "$args"; }
    location = /main {
        content_by_lua_block {
            local res = ngx.location.capture("/foo", { args = { [57] = "hi" } })
            ngx.print(res.body)
        }
    }
--- request
GET /main
--- error_code: 500
--- error_log
attempt to use a non-string key in the "args" option table
