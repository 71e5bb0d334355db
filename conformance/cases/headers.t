# Response headers: add_header (always, inheritance), expires, types/default_type,
# server_tokens, charset.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: add_header on a 200
--- config
    location = /t {
        add_header X-One 1;
        add_header X-Two "two words";
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
X-One: 1
X-Two: two words



=== TEST 2: add_header is not applied to a 404 without always
--- config
    location = /t {
        add_header X-One 1;
        return 404;
    }
--- request
GET /t
--- error_code: 404
--- response_headers
!X-One



=== TEST 3: add_header always applies to errors
--- config
    location = /t {
        add_header X-One 1 always;
        return 404;
    }
--- request
GET /t
--- error_code: 404
--- response_headers
X-One: 1



=== TEST 4: add_header is inherited from the server level
--- config
    add_header X-Server s;
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_headers
X-Server: s



=== TEST 5: add_header in a location replaces the inherited ones
--- config
    add_header X-Server s;
    location = /t {
        add_header X-Loc l;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
X-Loc: l
!X-Server



=== TEST 6: add_header with variables
--- config
    location = /t {
        add_header X-Uri $uri;
        add_header X-Arg "a=$arg_a";
        return 200 "ok\n";
    }
--- request
GET /t?a=5
--- response_headers
X-Uri: /t
X-Arg: a=5



=== TEST 7: add_header with an empty value is not sent
--- config
    location = /t {
        add_header X-Empty $arg_none;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
!X-Empty



=== TEST 8: add_header applies to 301, 302, 304 but not to 500 without always
--- config
    location = /r {
        add_header X-R r;
        return 302 /x;
    }
    location = /e {
        add_header X-E e;
        return 500;
    }
--- request eval
["GET /r", "GET /e"]
--- error_code eval
[302, 500]
--- response_headers eval
["X-R: r", "!X-E"]



=== TEST 9: the same header added twice
--- config
    location = /t {
        add_header X-Dup a;
        add_header X-Dup b;
        return 200 "ok\n";
    }
--- request
GET /t
--- raw_response_headers_like chomp
X-Dup: a\r\nX-Dup: b\r\n



=== TEST 10: expires with a time
--- config
    location = /t {
        expires 1h;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
Cache-Control: max-age=3600
--- response_headers_like
Expires: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT



=== TEST 11: expires epoch
--- config
    location = /t {
        expires epoch;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
Expires: Thu, 01 Jan 1970 00:00:01 GMT
Cache-Control: no-cache



=== TEST 12: expires max
--- config
    location = /t {
        expires max;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
Expires: Thu, 31 Dec 2037 23:55:55 GMT
Cache-Control: max-age=315360000



=== TEST 13: negative expires
--- config
    location = /t {
        expires -1;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
Cache-Control: no-cache



=== TEST 14: expires off sends nothing
--- config
    location = /t {
        expires off;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
!Expires
!Cache-Control



=== TEST 15: expires is not applied to errors
--- config
    location = /t {
        expires 1h;
        return 404;
    }
--- request
GET /t
--- error_code: 404
--- response_headers
!Cache-Control



=== TEST 16: types block maps extensions
--- config
    location /ty/ {
        types {
            application/x-custom cst;
            text/css css;
        }
    }
--- user_files
>>> ty/a.cst
a
>>> ty/b.css
b
--- request eval
["GET /ty/a.cst", "GET /ty/b.css"]
--- response_headers eval
["Content-Type: application/x-custom", "Content-Type: text/css"]



=== TEST 17: default_type for unknown extensions
--- config
    location /ty/ {
        types { }
        default_type application/octet-stream;
    }
--- user_files
>>> ty/a.unknown
a
--- request
GET /ty/a.unknown
--- response_headers
Content-Type: application/octet-stream



=== TEST 18: extension matching is case-insensitive
--- config
    location /ty/ {
        types { image/png png; }
    }
--- user_files
>>> ty/pic.PNG
p
--- request
GET /ty/pic.PNG
--- response_headers
Content-Type: image/png



=== TEST 19: default_type applies to return text
--- config
    location = /t {
        default_type application/json;
        return 200 '{}';
    }
--- request
GET /t
--- response_headers
Content-Type: application/json



=== TEST 20: server_tokens off
--- config
    server_tokens off;
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_headers
Server: nginx



=== TEST 21: server_tokens on shows the version
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_headers
Server: nginx/1.22.1
--- response_headers_like
Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT



=== TEST 22: charset adds a parameter to text types
--- config
    location = /t {
        charset utf-8;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
Content-Type: text/plain; charset=utf-8



=== TEST 23: charset is not added to non-text types by default
--- config
    location = /t {
        charset utf-8;
        default_type application/octet-stream;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
Content-Type: application/octet-stream



=== TEST 24: charset_types extends the list
--- config
    location = /t {
        charset koi8-r;
        charset_types application/json;
        default_type application/json;
        return 200 "{}";
    }
--- request
GET /t
--- response_headers
Content-Type: application/json; charset=koi8-r



=== TEST 25: charset off in a location disables the inherited charset
--- config
    charset utf-8;
    location = /t {
        charset off;
        return 200 "abc\n";
    }
--- request
GET /t
--- response_headers
Content-Type: text/plain
--- response_body
abc
