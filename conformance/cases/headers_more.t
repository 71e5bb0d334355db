# headers-more: more_set_headers / more_clear_headers on the response head (Date and Server
# are replaceable and clearable, Connection and Transfer-Encoding are not), -s and -t
# filters, wildcards; more_set_input_headers / more_clear_input_headers.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__


=== TEST 1: more_clear_headers Date on a Lua reply and on return
--- config
    location = /lua {
        content_by_lua_block { ngx.say("foo") }
        more_clear_headers Date;
    }
    location = /ret {
        return 200 "bar\n";
        more_clear_headers Date;
    }
--- request eval
["GET /lua", "GET /ret"]
--- response_headers eval
["!Date", "!Date"]
--- response_body eval
["foo\n", "bar\n"]


=== TEST 2: more_set_headers replaces Date and Server
--- config
    location = /t {
        return 200 "x\n";
        more_set_headers "Date: yesterday" "Server: mine";
    }
--- request
GET /t
--- raw_response_headers_like: ^HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\nDate: yesterday\r\nServer: mine\r\n$


=== TEST 3: Connection and Transfer-Encoding stay
--- config
    location = /t {
        content_by_lua_block { ngx.say("x") }
        more_clear_headers Connection Transfer-Encoding Keep-Alive;
    }
--- request
GET /t
--- response_headers
Transfer-Encoding: chunked
Connection: close


=== TEST 4: -s and -t filters
--- config
    location = /ok {
        default_type text/html;
        return 200 "x\n";
        more_set_headers -s 404 "X-Only-404: 1";
        more_set_headers -t text/html "X-Html: 1";
        more_set_headers -t text/plain "X-Plain: 1";
    }
    location = /missing {
        more_set_headers -s 404 "X-Only-404: 1";
    }
--- request eval
["GET /ok", "GET /missing"]
--- response_headers eval
["X-Only-404: \nX-Html: 1\nX-Plain: ", "X-Only-404: 1"]
--- error_code eval
[200, 404]


=== TEST 5: wildcard clear and a variable value
--- config
    location = /t {
        return 200 "x\n";
        more_set_headers "X-Foo-A: a" "X-Foo-B: b" "X-Bar: c";
        more_clear_headers "X-Foo-*";
        more_set_headers "X-Uri: $uri";
    }
--- request
GET /t
--- response_headers
X-Foo-A:
X-Foo-B:
X-Bar: c
X-Uri: /t


=== TEST 6: input headers set and cleared before Lua sees them
--- config
    location = /t {
        more_set_input_headers "X-In: set" "User-Agent: robot";
        more_clear_input_headers "X-Gone";
        content_by_lua_block {
            local h = ngx.req.get_headers()
            ngx.say(h["x-in"], " ", h["user-agent"], " ", h["x-gone"])
            ngx.say(ngx.var.http_user_agent)
        }
    }
--- request
GET /t
--- more_headers
X-Gone: 1
User-Agent: curl
--- response_body
set robot nil
robot


=== TEST 7: headers-more runs before add_header: it neither clears nor replaces its lines
--- config
    location = /t {
        add_header X-Foo bar;
        more_clear_headers X-Foo;
        more_set_headers "X-Bar: a";
        add_header X-Bar b;
        return 200 "x\n";
    }
--- request
GET /t
--- raw_response_headers_like: ^HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: [^\r]+\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\nX-Bar: a\r\nX-Foo: bar\r\nX-Bar: b\r\n$


=== TEST 8: gzip's Content-Encoding and Vary come after headers-more
--- config
    location = /t {
        gzip on;
        gzip_min_length 1;
        gzip_types text/plain;
        gzip_vary on;
        more_clear_headers Content-Encoding Vary;
        return 200 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n";
    }
--- request
GET /t
--- more_headers
Accept-Encoding: gzip
--- raw_response_headers_like: ^HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: [^\r]+\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nVary: Accept-Encoding\r\nContent-Encoding: gzip\r\n$
