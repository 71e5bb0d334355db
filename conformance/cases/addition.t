# ngx_http_addition_filter_module: add_before_body / add_after_body subrequests around a
# response's body.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: before and after a static text/html file; no length, a weak ETag
--- config
    location /t/ {
        alias html/;
        add_before_body /before.txt;
        add_after_body /after.txt;
    }
--- user_files
>>> page.html
main body
>>> before.txt
BEFORE
>>> after.txt
AFTER
--- request
GET /t/page.html
--- response_headers
!Content-Length
!Accept-Ranges
Transfer-Encoding: chunked
Content-Type: text/html
--- response_headers_like
ETag: W/"[0-9a-f]+-a"
--- response_body
BEFORE
main body
AFTER



=== TEST 2: other types are left alone unless addition_types lists them
--- config
    location /plain/ {
        alias html/;
        add_before_body /before.txt;
    }
    location /listed/ {
        alias html/;
        add_before_body /before.txt;
        addition_types text/plain;
    }
    location /any/ {
        alias html/;
        add_after_body /before.txt;
        addition_types *;
    }
--- user_files
>>> a.txt
text file
>>> before.txt
BEFORE
--- request eval
["GET /plain/a.txt", "GET /listed/a.txt", "GET /any/a.txt"]
--- response_body eval
["text file\n", "BEFORE\ntext file\n", "text file\nBEFORE\n"]



=== TEST 3: only a 200 gets the additions
--- config
    location /t/ {
        alias html/;
        add_before_body /before.txt;
        add_after_body /after.txt;
    }
    location = /r { return 302 /page.html; }
--- user_files
>>> before.txt
BEFORE
>>> after.txt
AFTER
--- request eval
["GET /t/missing.html", "GET /r"]
--- error_code eval
[404, 302]
--- response_body_unlike eval
[qr/BEFORE|AFTER/, qr/BEFORE|AFTER/]



=== TEST 4: HEAD: the header changes, no body
--- config
    location /t/ {
        alias html/;
        add_before_body /before.txt;
    }
--- user_files
>>> page.html
main body
>>> before.txt
BEFORE
--- request
HEAD /t/page.html
--- response_headers
!Content-Length
!Accept-Ranges
--- response_body



=== TEST 5: a subrequest's error page goes into the body
--- config
    location /t/ {
        alias html/;
        add_after_body /nothing-here;
    }
--- user_files
>>> page.html
main body
--- request
GET /t/page.html
--- response_body_like: ^main body\n<html>\r\n<head><title>404 Not Found</title></head>



=== TEST 6: subrequests to other handlers (return, a default_type body)
--- config
    location = /page {
        default_type text/html;
        add_before_body /b;
        add_after_body /a;
        return 200 "main\n";
    }
    location = /b { return 200 "from b\n"; }
    location = /a { return 200 "from a\n"; }
--- request
GET /page
--- response_body
from b
main
from a



=== TEST 7: a proxied response
--- config
    location /src/ {
        alias html/;
    }
    location /p/ {
        add_before_body /before.txt;
        add_after_body /after.txt;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/src/;
    }
--- user_files
>>> page.html
proxied body
>>> before.txt
BEFORE
>>> after.txt
AFTER
--- request
GET /p/page.html
--- response_headers
!Content-Length
--- response_body
BEFORE
proxied body
AFTER



=== TEST 8: server-level values are inherited, a location's replace them
--- config
    add_before_body /before.txt;
    location /own/ {
        alias html/;
        add_before_body /after.txt;
    }
--- user_files
>>> page.html
main body
>>> before.txt
BEFORE
>>> after.txt
AFTER
--- request eval
["GET /page.html", "GET /own/page.html"]
--- response_body eval
["BEFORE\nmain body\n", "AFTER\nmain body\n"]



=== TEST 9: an HTTP/1.0 client: the body ends with the connection
--- config
    location /t/ {
        alias html/;
        add_after_body /after.txt;
    }
--- user_files
>>> page.html
main body
>>> after.txt
AFTER
--- request
GET /t/page.html HTTP/1.0
--- response_headers
!Content-Length
Connection: close
--- response_body
main body
AFTER



=== TEST 10: the main body's sub_filter does not see the added bodies; gzip compresses all
--- config
    location /t/ {
        alias html/;
        add_before_body /before.txt;
        add_after_body /after.txt;
        sub_filter_types *;
        sub_filter A x;
        sub_filter_once off;
    }
    location /z/ {
        alias html/;
        add_before_body /before.txt;
        gzip on;
        gzip_min_length 1;
    }
--- user_files
>>> page.html
MAIN BODY AGAIN
>>> before.txt
BEFORE
>>> after.txt
AFTER
--- request eval
["GET /t/page.html", "GET /z/page.html"]
--- more_headers eval
["", "Accept-Encoding: gzip"]
--- response_headers eval
["!Content-Encoding", "Content-Encoding: gzip"]
--- response_body_like eval
[qr/^BEFORE\nMxIN BODY xGxIN\nAFTER\n$/, qr/^\x1f\x8b/]
