# headers-more's header filter runs before header_filter_by_lua* (Debian's module order):
# Lua sees what more_set_headers set (also Server, Date, Content-Type, Location, Connection),
# Lua's values win, more_clear_headers does not remove what Lua adds, and -s / -t look at the
# status and type before Lua changes them.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: Lua sees more_set_headers' header, its own value wins, a cleared name Lua sets stays
--- config
    location = /t {
        more_set_input_headers "X-In: set";
        more_set_headers "X-Bar: more" "X-Foo: more";
        more_clear_headers X-Baz;
        content_by_lua_block { ngx.say("x") }
        header_filter_by_lua_block {
            ngx.header["X-Seen-Bar"] = tostring(ngx.header["X-Bar"])
            ngx.header["X-Foo"] = "lua"
            ngx.header["X-Baz"] = "lua"
            ngx.header["X-Seen-In"] = tostring(ngx.req.get_headers()["x-in"])
        }
    }
--- request
GET /t
--- response_headers
X-Bar: more
X-Seen-Bar: more
X-Foo: lua
X-Baz: lua
X-Seen-In: set
--- response_body
x


=== TEST 2: Lua sees the header filter's own headers as more_set_headers set them
--- config
    location = /t {
        more_set_headers "Server: ms" "Date: md" "Content-Type: text/more" "Location: /mloc" "Connection: mconn";
        return 200 "x\n";
        header_filter_by_lua_block {
            local s = ""
            for _, k in ipairs{"Server", "Date", "Content-Type", "Location", "Connection"} do
                s = s .. k .. "=" .. tostring(ngx.header[k]) .. ";"
            end
            ngx.header["X-Seen"] = s
        }
    }
--- request
GET /t
--- raw_response_headers_like: ^HTTP/1.1 200 OK\r\nContent-Type: text/more\r\nContent-Length: 2\r\nLocation: http://localhost:\d+/mloc\r\nConnection: close\r\nServer: ms\r\nDate: md\r\nConnection: mconn\r\nX-Seen: Server=ms;Date=md;Content-Type=text/more;Location=/mloc;Connection=mconn;\r\n$


=== TEST 3: Lua sees none of the headers more_clear_headers cleared
--- config
    location = /t {
        more_clear_headers Server Date Content-Length Content-Type Last-Modified Location Connection;
        return 200 "x\n";
        header_filter_by_lua_block {
            local s = ""
            for _, k in ipairs{"Server", "Date", "Content-Length", "Content-Type", "Location", "Connection"} do
                s = s .. k .. "=" .. tostring(ngx.header[k]) .. ";"
            end
            ngx.header["X-Seen"] = s
        }
    }
--- request
GET /t
--- raw_response_headers_like: ^HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nX-Seen: Server=nil;Date=nil;Content-Length=nil;Content-Type=nil;Location=nil;Connection=nil;\r\n$


=== TEST 4: Lua's Server, Date and Content-Type win over more_set_headers'
--- config
    location = /t {
        more_set_headers "Server: ms" "Date: md" "Content-Type: text/more";
        return 200 "x\n";
        header_filter_by_lua_block {
            ngx.header["Server"] = "ls"
            ngx.header["Date"] = "ld"
            ngx.header["Content-Type"] = "text/lua"
        }
    }
--- request
GET /t
--- raw_response_headers_like: ^HTTP/1.1 200 OK\r\nContent-Type: text/lua\r\nContent-Length: 2\r\nConnection: close\r\nServer: ls\r\nDate: ld\r\n$


=== TEST 5: Lua sets Server, Date and Content-Type that more_clear_headers cleared
--- config
    location = /t {
        more_clear_headers Server Date Content-Type;
        return 200 "x\n";
        header_filter_by_lua_block {
            ngx.header["Server"] = "ls"
            ngx.header["Date"] = "ld"
            ngx.header["Content-Type"] = "text/lua"
        }
    }
--- request
GET /t
--- response_headers
Server: ls
Date: ld
Content-Type: text/lua
Content-Length: 2


=== TEST 6: -s and -t see the status and type before Lua changes them
--- config
    location = /t {
        default_type text/html;
        more_set_headers -s 404 "X-S404: 1";
        more_set_headers -s 200 "X-S200: 1";
        more_set_headers -t text/html "X-Html: 1";
        more_set_headers -t text/plain "X-Plain: 1";
        return 200 "x\n";
        header_filter_by_lua_block {
            ngx.status = 404
            ngx.header.content_type = "text/plain"
        }
    }
--- request
GET /t
--- error_code: 404
--- response_headers
X-S404:
X-S200: 1
X-Html: 1
X-Plain:
Content-Type: text/plain


=== TEST 7: a redirect's Location from more_set_headers: Lua sees it, it is made absolute
--- config
    location = /t {
        more_set_headers "Location: /other";
        return 302 /x;
        header_filter_by_lua_block {
            ngx.header["X-Seen"] = tostring(ngx.header["Location"])
        }
    }
--- request
GET /t
--- error_code: 302
--- raw_response_headers_like: ^HTTP/1.1 302 Moved Temporarily\r\nServer: nginx/1.22.1\r\nDate: [^\r]+\r\nContent-Type: text/html\r\nContent-Length: 145\r\nLocation: http://localhost:\d+/other\r\nConnection: close\r\nX-Seen: /other\r\n$


=== TEST 8: a cleared Location: Lua sees none
--- config
    location = /t {
        more_clear_headers Location;
        more_set_headers "X-B: more";
        return 302 /x;
        header_filter_by_lua_block {
            ngx.header["X-Seen"] = tostring(ngx.header["Location"])
        }
    }
--- request
GET /t
--- error_code: 302
--- response_headers
Location:
X-B: more
X-Seen: nil


=== TEST 9: a streamed Lua head: headers-more runs before Lua's filter there too
--- config
    location = /t {
        default_type text/html;
        more_set_headers "X-Foo: more" "X-Bar: more";
        more_set_headers -t text/html "X-Html: 1";
        more_clear_headers Server Date X-Baz;
        content_by_lua_block { ngx.say("x") ngx.say("y") }
        header_filter_by_lua_block {
            ngx.header["X-Seen"] = tostring(ngx.header["X-Bar"]) .. " " .. tostring(ngx.header["X-Html"])
            ngx.header["X-Foo"] = "lua"
            ngx.header["X-Baz"] = "lua"
        }
    }
--- request
GET /t
--- response_headers
Server:
Date:
X-Foo: lua
X-Bar: more
X-Html: 1
X-Baz: lua
X-Seen: more 1
Content-Type: text/html
--- response_body
x
y
