# proxy_pass: the URI sent upstream (nginx: ngx_http_proxy_create_request's URI rules).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: with a URI part, the location's prefix is replaced
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /p/ { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/back/; }
--- request
GET /p/a/b?x=1&y=2
--- response_body
GET /back/a/b?x=1&y=2 HTTP/1.0



=== TEST 2: without a URI part, the request URI goes as sent
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /p/ { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /p/a%41//b/../c?x=%20
--- response_body
GET /p/a%41//b/../c?x=%20 HTTP/1.0



=== TEST 3: with a URI part, the normalized URI is sent, escaped
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /p/ { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/q/; }
--- request
GET /p/a%41//b/../c%20d?x=%20
--- response_body
GET /q/aA/c%20d?x=%20 HTTP/1.0



=== TEST 4: a URI part of "/" strips the prefix
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /api/ { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/; }
--- request
GET /api/users/1
--- response_body
GET /users/1 HTTP/1.0



=== TEST 5: a prefix without a trailing slash
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /api { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/v2; }
--- request
GET /apix/y
--- response_body
GET /v2x/y HTTP/1.0



=== TEST 6: an exact location with a URI part
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location = /e { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/exact; }
--- request
GET /e?q=1
--- response_body
GET /exact?q=1 HTTP/1.0



=== TEST 7: a regex location passes the request URI
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location ~ ^/r(\d+)$ { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /r42?z
--- response_body
GET /r42?z HTTP/1.0



=== TEST 8: rewrite ... break with a URI part: the rewritten URI goes whole
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /p/ {
        rewrite ^/p/(.*)$ /new/$1 break;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/ignored/;
    }
--- request
GET /p/x?a=b
--- response_body
GET /new/x?a=b HTTP/1.0



=== TEST 9: rewrite ... break without a URI part
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /p/ {
        rewrite ^/p/(.*)$ /n/$1 break;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p/x%20y?a=b
--- response_body
GET /n/x%20y?a=b HTTP/1.0



=== TEST 10: rewrite last into a proxied location
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /old/ { rewrite ^/old/(.*)$ /p/$1 last; }
    location /p/ { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/b/; }
--- request
GET /old/z?k=v
--- response_body
GET /b/z?k=v HTTP/1.0



=== TEST 11: rewrite with new arguments
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /p/ {
        rewrite ^/p/(.*)$ /q?name=$1? break;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
    }
--- request
GET /p/abc?old=1
--- response_body
GET /q?name=abc HTTP/1.0



=== TEST 12: variables with a URI part: the URI goes as evaluated, no arguments added
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /p/ { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/v$uri; }
--- request
GET /p/x?a=1
--- response_body
GET /v/p/x HTTP/1.0



=== TEST 13: variables with the request URI
--- config
    location /p/ {
        set $backend 127.0.0.1:$TEST_NGINX_SERVER_PORT;
        proxy_pass http://$backend/back$request_uri;
    }
    location /back/ { return 200 "$request\n"; }
--- request
GET /p/x?a=1
--- response_body
GET /back/p/x?a=1 HTTP/1.0



=== TEST 14: variables without a URI part
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /p/ {
        set $backend unix:$TEST_NGINX_SERVER_ROOT/b.sock;
        proxy_pass http://$backend;
    }
--- request
GET /p/x%20y?q=2
--- response_body
GET /p/x%20y?q=2 HTTP/1.0



=== TEST 15: a named location passes the current URI
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /t { try_files /nonexistent @up; }
    location @up { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
--- request
GET /t?a=1
--- response_body
GET /t?a=1 HTTP/1.0



=== TEST 16: proxy_pass inside if uses the location's URI part
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /p/ {
        if ($arg_x) { add_header X-If yes; }
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/in/;
    }
--- request
GET /p/a?x=1
--- response_body
GET /in/a?x=1 HTTP/1.0



=== TEST 17: proxy_pass without URI inside if
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /p/ {
        if ($arg_x) { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock; }
        return 200 "no\n";
    }
--- request
GET /p/a?x=1
--- response_body
no



=== TEST 18: an error_page redirect to a proxied location escapes the URI
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /t { error_page 404 = /p/err; return 404; }
    location /p/ { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/e/; }
--- request
GET /t?a=b
--- response_body
GET /e/err HTTP/1.0



=== TEST 19: the args of an internal redirect
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /t { error_page 404 = /p/err?from=t; return 404; }
    location /p/ { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/e/; }
--- request
GET /t
--- response_body
GET /e/err?from=t HTTP/1.0



=== TEST 20: a proxied prefix location nested in another
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /a/ {
        location /a/b/ { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/nested/; }
        return 200 "outer\n";
    }
--- request
GET /a/b/c
--- response_body
GET /nested/c HTTP/1.0



=== TEST 21: a location nested in a proxied one does not inherit proxy_pass
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /a/ {
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock;
        location /a/own/ { return 200 "own\n"; }
    }
--- request eval
["GET /a/x", "GET /a/own/y"]
--- response_body eval
["GET /a/x HTTP/1.0\n", "own\n"]



=== TEST 22: host:port with a URI part and the proxied method
--- config
    location /p/ { proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back/; }
    location /back/ { return 200 "$request\n"; }
--- request
DELETE /p/item/7
--- response_body
DELETE /back/item/7 HTTP/1.0



=== TEST 23: proxy_pass http://host?args sends /?args
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /p {
        set $u unix:$TEST_NGINX_SERVER_ROOT/b.sock;
        proxy_pass http://$u:?fixed=1;
    }
--- request
GET /p?a=1
--- response_body
GET /?fixed=1 HTTP/1.0



=== TEST 24: /dir asked of a proxied location /dir/ redirects to /dir/
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /app/ { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/; }
--- request
GET /app?x=1
--- error_code: 301
--- response_headers eval
"Location: http://localhost:$::ServerPort/app/?x=1"



=== TEST 25: the redirect wins over a matching regex location
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /app/ { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/; }
    location ~ ^/ap { return 200 "regex\n"; }
--- request
GET /app
--- error_code: 301



=== TEST 26: no redirect for a location without proxy_pass
--- config
    location /dir/ { return 200 "dir\n"; }
--- request
GET /dir
--- error_code: 404



=== TEST 27: the URI escaping of a changed URI (nginx's uri table)
--- http_config
    server { listen unix:$TEST_NGINX_SERVER_ROOT/b.sock; location / { return 200 "$request\n"; } }
--- config
    location /p/ { proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/b.sock:/q/; }
--- request
GET /p/a%20b%22c%23d%25e%3Ff%C3%A9g<h>%5C%5E%60%7B%7C%7D~!$&'()*+,;=:@
--- response_body
GET /q/a%20b%22c%23d%25e%3Ff%C3%A9g%3Ch%3E%5C%5E%60%7B%7C%7D~!$&'()*+,;=:@ HTTP/1.0
