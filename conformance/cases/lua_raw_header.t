# ngx.req.raw_header() gives the head's bytes as the client sent them.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: LF-only lines, header case and spacing as sent
--- config
    location = /t {
        content_by_lua_block {
            ngx.print(ngx.req.raw_header())
        }
    }
--- raw_request eval
"GET /t HTTP/1.1\nhost: localhost\nX-odd-CASE:   spaced\nConnection: close\n\n"
--- response_body eval
"GET /t HTTP/1.1\nhost: localhost\nX-odd-CASE:   spaced\nConnection: close\n\n"



=== TEST 2: without the request line; empty lines before the request are not part of it
--- config
    location = /t {
        content_by_lua_block {
            ngx.print(ngx.req.raw_header(true))
        }
    }
--- raw_request eval
"\r\n\r\nGET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- response_body eval
"Host: localhost\r\nConnection: close\r\n\r\n"



=== TEST 3: set_header does not change the raw header
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.set_header("X-New", "1")
            ngx.req.clear_header("X-Old")
            ngx.print(ngx.req.raw_header())
        }
    }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nX-Old: 0\r\nConnection: close\r\n\r\n"
--- response_body eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nX-Old: 0\r\nConnection: close\r\n\r\n"



=== TEST 4: a body after the head is not part of it
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.print(ngx.req.raw_header())
        }
    }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
--- response_body eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
