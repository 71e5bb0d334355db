# Location matching: exact, ^~, longest prefix, regex order, case-insensitive regex, nested,
# named and internal locations.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: exact match wins over prefix
--- config
    location = /a { return 200 "exact\n"; }
    location /a { return 200 "prefix\n"; }
--- request
GET /a
--- response_body
exact



=== TEST 2: exact does not match a longer URI
--- config
    location = /a { return 200 "exact\n"; }
    location /a { return 200 "prefix\n"; }
--- request
GET /ab
--- response_body
prefix



=== TEST 3: longest prefix wins
--- config
    location /a/ { return 200 "short\n"; }
    location /a/b/ { return 200 "long\n"; }
--- request
GET /a/b/c
--- response_body
long



=== TEST 4: regex beats a plain prefix
--- config
    location /doc/ { return 200 "prefix\n"; }
    location ~ \.txt$ { return 200 "regex\n"; }
--- request
GET /doc/x.txt
--- response_body
regex



=== TEST 5: ^~ prefix stops the regex search
--- config
    location ^~ /doc/ { return 200 "caret\n"; }
    location ~ \.txt$ { return 200 "regex\n"; }
--- request
GET /doc/x.txt
--- response_body
caret



=== TEST 6: first matching regex in config order wins
--- config
    location ~ /r/ { return 200 "first\n"; }
    location ~ /r/x { return 200 "second\n"; }
--- request
GET /r/x
--- response_body
first



=== TEST 7: ~ is case-sensitive
--- config
    location ~ \.TXT$ { return 200 "upper\n"; }
    location /c/ { return 200 "prefix\n"; }
--- request
GET /c/a.txt
--- response_body
prefix



=== TEST 8: ~* is case-insensitive
--- config
    location ~* \.TXT$ { return 200 "ci\n"; }
    location /c/ { return 200 "prefix\n"; }
--- request
GET /c/a.txt
--- response_body
ci



=== TEST 9: regex captures in return
--- config
    location ~ ^/user/(\d+)/(\w+)$ { return 200 "id=$1 action=$2\n"; }
--- request
GET /user/42/edit
--- response_body
id=42 action=edit



=== TEST 10: named captures
--- config
    location ~ ^/n/(?<first>[a-z]+)-(?<second>[0-9]+)$ { return 200 "$first $second\n"; }
--- request
GET /n/abc-123
--- response_body
abc 123



=== TEST 11: nested regex inside a prefix location
--- config
    location /outer/ {
        location ~ \.php$ { return 200 "nested regex\n"; }
        return 200 "outer\n";
    }
--- request
GET /outer/x.php
--- response_body
nested regex



=== TEST 12: nested prefix location
--- config
    location /outer/ {
        location /outer/inner/ { return 200 "inner\n"; }
        return 200 "outer\n";
    }
--- request
GET /outer/inner/z
--- response_body
inner



=== TEST 13: nested location not matching falls back to the parent
--- config
    location /outer/ {
        location /outer/inner/ { return 200 "inner\n"; }
        return 200 "outer\n";
    }
--- request
GET /outer/other
--- response_body
outer



=== TEST 14: exact match for the root
--- config
    location = / { return 200 "root exact\n"; }
--- request
GET /
--- response_body
root exact



=== TEST 15: internal location is 404 from outside
--- config
    location /private/ {
        internal;
        return 200 "secret\n";
    }
--- request
GET /private/x
--- error_code: 404



=== TEST 16: internal location reachable through error_page
--- config
    location /private/ {
        internal;
        return 200 "secret $uri\n";
    }
    location = /t {
        error_page 404 /private/page;
        return 404;
    }
--- request
GET /t
--- error_code: 404
--- response_body
secret /private/page



=== TEST 17: named location is not reachable by URI
--- config
    location @named { return 200 "named\n"; }
--- request
GET /@named
--- error_code: 404



=== TEST 18: regex location with the query string ignored
--- config
    location ~ ^/q$ { return 200 "q args=$args\n"; }
--- request
GET /q?x=y
--- response_body
q args=x=y



=== TEST 19: prefix match is done on the decoded URI
--- config
    location /dec/ab { return 200 "decoded\n"; }
--- request
GET /dec/%61%62
--- response_body
decoded



=== TEST 20: location with a trailing slash and proxy-style redirect for the bare name
--- config
    location /slash/ { return 200 "slash\n"; }
--- request
GET /slash
--- error_code: 404



=== TEST 21: regex order: later longer prefix does not beat an earlier regex
--- config
    location ~ ^/p { return 200 "regex\n"; }
    location /p/q/r { return 200 "prefix\n"; }
--- request
GET /p/q/r
--- response_body
regex



=== TEST 22: exact location with arguments
--- config
    location = /e { return 200 "e:$arg_k\n"; }
--- request
GET /e?k=v
--- response_body
e:v


=== TEST 23: the proxy_pass auto-redirect is answered in that location's context
--- config
    location /p/ {
        add_header X-Loc p;
        header_filter_by_lua_block { ngx.header["X-Seen"] = ngx.header.location }
        proxy_pass http://127.0.0.1:1;
    }
--- request
GET /p?a=1
--- error_code: 301
--- response_headers
X-Loc: p
X-Seen: /p/?a=1
