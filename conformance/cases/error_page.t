# error_page (codes, =code, @named, redirects) and nginx's built-in error pages, byte for byte.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: default page for 400
--- config
    location = /t { return 400; }
--- request
GET /t
--- error_code: 400
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 2: default page for 401
--- config
    location = /t { return 401; }
--- request
GET /t
--- error_code: 401
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 3: default page for 402
--- config
    location = /t { return 402; }
--- request
GET /t
--- error_code: 402
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>402 Payment Required</title></head>\r\n<body>\r\n<center><h1>402 Payment Required</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 4: default page for 403
--- config
    location = /t { return 403; }
--- request
GET /t
--- error_code: 403
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n<center><h1>403 Forbidden</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 5: default page for 405
--- config
    location = /t { return 405; }
--- request
GET /t
--- error_code: 405
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>405 Not Allowed</title></head>\r\n<body>\r\n<center><h1>405 Not Allowed</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 6: default page for 406
--- config
    location = /t { return 406; }
--- request
GET /t
--- error_code: 406
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>406 Not Acceptable</title></head>\r\n<body>\r\n<center><h1>406 Not Acceptable</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 7: return 408 closes the connection without a response
--- config
    location = /t { return 408; }
--- request
GET /t
--- error_code_like: ^$
--- response_body chomp



=== TEST 8: default page for 409
--- config
    location = /t { return 409; }
--- request
GET /t
--- error_code: 409
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>409 Conflict</title></head>\r\n<body>\r\n<center><h1>409 Conflict</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 9: default page for 410
--- config
    location = /t { return 410; }
--- request
GET /t
--- error_code: 410
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>410 Gone</title></head>\r\n<body>\r\n<center><h1>410 Gone</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 10: default page for 411
--- config
    location = /t { return 411; }
--- request
GET /t
--- error_code: 411
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>411 Length Required</title></head>\r\n<body>\r\n<center><h1>411 Length Required</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 11: default page for 412
--- config
    location = /t { return 412; }
--- request
GET /t
--- error_code: 412
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>412 Precondition Failed</title></head>\r\n<body>\r\n<center><h1>412 Precondition Failed</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 12: default page for 413
--- config
    location = /t { return 413; }
--- request
GET /t
--- error_code: 413
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 13: default page for 414
--- config
    location = /t { return 414; }
--- request
GET /t
--- error_code: 414
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>414 Request-URI Too Large</title></head>\r\n<body>\r\n<center><h1>414 Request-URI Too Large</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 14: default page for 415
--- config
    location = /t { return 415; }
--- request
GET /t
--- error_code: 415
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>415 Unsupported Media Type</title></head>\r\n<body>\r\n<center><h1>415 Unsupported Media Type</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 15: default page for 416
--- config
    location = /t { return 416; }
--- request
GET /t
--- error_code: 416
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>416 Requested Range Not Satisfiable</title></head>\r\n<body>\r\n<center><h1>416 Requested Range Not Satisfiable</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 16: default page for 421
--- config
    location = /t { return 421; }
--- request
GET /t
--- error_code: 421
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>421 Misdirected Request</title></head>\r\n<body>\r\n<center><h1>421 Misdirected Request</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 17: default page for 429
--- config
    location = /t { return 429; }
--- request
GET /t
--- error_code: 429
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 18: default page for 500
--- config
    location = /t { return 500; }
--- request
GET /t
--- error_code: 500
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n<center><h1>500 Internal Server Error</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 19: default page for 501
--- config
    location = /t { return 501; }
--- request
GET /t
--- error_code: 501
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>501 Not Implemented</title></head>\r\n<body>\r\n<center><h1>501 Not Implemented</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 20: default page for 502
--- config
    location = /t { return 502; }
--- request
GET /t
--- error_code: 502
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 21: default page for 503
--- config
    location = /t { return 503; }
--- request
GET /t
--- error_code: 503
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 22: default page for 504
--- config
    location = /t { return 504; }
--- request
GET /t
--- error_code: 504
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 23: default page for 505
--- config
    location = /t { return 505; }
--- request
GET /t
--- error_code: 505
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>505 HTTP Version Not Supported</title></head>\r\n<body>\r\n<center><h1>505 HTTP Version Not Supported</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 24: default page for 507
--- config
    location = /t { return 507; }
--- request
GET /t
--- error_code: 507
--- response_headers
Content-Type: text/html
Server: nginx/1.22.1
--- response_body eval
"<html>\r\n<head><title>507 Insufficient Storage</title></head>\r\n<body>\r\n<center><h1>507 Insufficient Storage</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 25: default page for 303
--- config
    location = /t { return 303 /elsewhere; }
--- request
GET /t
--- error_code: 303
--- response_headers
Location: http://localhost:$ServerPort/elsewhere
Content-Type: text/html
--- response_body eval
"<html>\r\n<head><title>303 See Other</title></head>\r\n<body>\r\n<center><h1>303 See Other</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 26: error_page to a static page keeps the status
--- config
    error_page 404 /custom404.html;
--- user_files
>>> custom404.html
custom not found
--- request
GET /nothing
--- error_code: 404
--- response_body
custom not found



=== TEST 27: error_page with =200 changes the status
--- config
    location = /t {
        error_page 404 =200 /ok.txt;
        return 404;
    }
--- user_files
>>> ok.txt
fine
--- request
GET /t
--- response_body
fine



=== TEST 28: error_page = takes the status of the target
--- config
    location = /t {
        error_page 404 = @fallback;
        return 404;
    }
    location @fallback {
        return 202 "fallback\n";
    }
--- request
GET /t
--- error_code: 202
--- response_body
fallback



=== TEST 29: error_page to a named location keeps the original status
--- config
    location = /t {
        error_page 403 @named;
        return 403;
    }
    location @named {
        return 200 "named page for $status\n";
    }
--- request
GET /t
--- error_code: 403
--- response_body
named page for 403



=== TEST 30: error_page to an absolute URL is a 302 redirect
--- config
    location = /t {
        error_page 404 http://example.com/notfound;
        return 404;
    }
--- request
GET /t
--- error_code: 302
--- response_headers
Location: http://example.com/notfound



=== TEST 31: error_page =301 with a URL
--- config
    location = /t {
        error_page 404 =301 http://example.com/moved;
        return 404;
    }
--- request
GET /t
--- error_code: 301
--- response_headers
Location: http://example.com/moved



=== TEST 32: error_page for several codes
--- config
    error_page 500 502 503 504 /50x.html;
    location = /a { return 502; }
    location = /b { return 503; }
--- user_files
>>> 50x.html
server trouble
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[502, 503]
--- response_body eval
["server trouble\n", "server trouble\n"]



=== TEST 33: error_page target missing falls back to the built-in page
--- config
    location = /t {
        error_page 404 /also-missing.html;
        return 404;
    }
--- request
GET /t
--- error_code: 404
--- response_body_like: <center><h1>404 Not Found</h1></center>



=== TEST 34: error_page inherited from the server level
--- config
    error_page 403 /denied.txt;
    location = /t { return 403; }
--- user_files
>>> denied.txt
no way
--- request
GET /t
--- error_code: 403
--- response_body
no way



=== TEST 35: error_page is not applied to return with a text
--- config
    location = /t {
        error_page 404 /x.txt;
        return 404 "my own text\n";
    }
--- user_files
>>> x.txt
error page
--- request
GET /t
--- error_code: 404
--- response_body
my own text



=== TEST 36: error_page target gets the original URI in a variable
--- config
    location = /t {
        error_page 404 /handler;
        return 404;
    }
    location = /handler {
        return 200 "uri=$uri request_uri=$request_uri\n";
    }
--- request
GET /t?q=1
--- error_code: 404
--- response_body
uri=/handler request_uri=/t?q=1



=== TEST 37: MSIE gets the friendly-page padding
--- config
    location = /t { return 404; }
--- request
GET /t
--- more_headers
User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)
--- error_code: 404
--- response_body eval
"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
. "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n" x 6



=== TEST 38: msie_padding off
--- config
    msie_padding off;
    location = /t { return 404; }
--- request
GET /t
--- more_headers
User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)
--- error_code: 404
--- response_body_unlike: padding



=== TEST 39: server_tokens off in the error page and Server header
--- config
    server_tokens off;
    location = /t { return 404; }
--- request
GET /t
--- error_code: 404
--- response_headers
Server: nginx
--- response_body eval
"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"



=== TEST 40: HEAD on an error gives headers only
--- config
    location = /t { return 404; }
--- request
HEAD /t
--- error_code: 404
--- response_headers
Content-Type: text/html
Content-Length: 153
--- response_body chomp



=== TEST 41: error page Content-Length matches the body
--- config
    location = /t { return 500; }
--- request
GET /t
--- error_code: 500
--- response_headers
Content-Length: 177
Connection: close





=== TEST 42: auth_basic's WWW-Authenticate stays on its error page
--- config
    location /secret {
        auth_basic "Restricted";
        auth_basic_user_file htpasswd;
        error_page 401 /login;
    }
    location = /login { return 200 "please log in\n"; }
--- user_files
>>> htpasswd
u:{PLAIN}p
--- request
GET /secret
--- error_code: 401
--- response_headers
WWW-Authenticate: Basic realm="Restricted"
--- response_body
please log in
