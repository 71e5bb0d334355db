# Connections and request heads: keepalive, pipelining, HEAD, HTTP/1.0 and 0.9, and the
# request-head errors (400, 414, 494, 413, 501, 505).
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: pipelined requests on one connection
--- config
    location = /a { return 200 "a\n"; }
    location = /b { return 200 "b\n"; }
--- pipelined_requests eval
["GET /a", "GET /b", "GET /a"]
--- response_body eval
["a\n", "b\n", "a\n"]



=== TEST 2: keep-alive and close Connection headers
--- config
    location = /t { return 200 "t\n"; }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_headers eval
["Connection: keep-alive", "Connection: close"]



=== TEST 3: keepalive_requests 1 closes after the first response
--- config
    keepalive_requests 1;
    location = /t { return 200 "t$arg_n\n"; }
--- raw_request eval
"GET /t?n=1 HTTP/1.1\r\nHost: localhost\r\n\r\nGET /t?n=2 HTTP/1.1\r\nHost: localhost\r\n\r\n"
--- response_headers
Connection: close
--- response_body
t1



=== TEST 4: keepalive_timeout 0 disables keep-alive
--- config
    keepalive_timeout 0;
    location = /t { return 200 "t\n"; }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\n\r\n"
--- response_headers
Connection: close



=== TEST 5: HTTP/1.0 closes by default
--- config
    location = /t { return 200 "$server_protocol\n"; }
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- raw_response_headers_like: ^HTTP/1.1 200 OK\r\n
--- response_headers
Connection: close
--- response_body
HTTP/1.0



=== TEST 6: HTTP/0.9 simple request gets a bare body
--- config
    location = /t { return 200 "nine\n"; }
--- raw_request eval
"GET /t\r\n"
--- http09
--- response_body
nine



=== TEST 7: HEAD on a static file
--- user_files
>>> h.txt
head test
--- request
HEAD /h.txt
--- response_headers
Content-Length: 10
Content-Type: text/plain
--- response_body chomp



=== TEST 8: HEAD on return text
--- config
    location = /t { return 200 "some text\n"; }
--- request
HEAD /t
--- response_headers
Content-Length: 10
--- response_body chomp



=== TEST 9: chunked request body is accepted
--- config
    location = /t { return 200 "len=$content_length te=$http_transfer_encoding\n"; }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
--- response_body
len=0 te=chunked



=== TEST 10: missing Host in HTTP/1.1 is 400
--- raw_request eval
"GET /t HTTP/1.1\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- error_log
client sent HTTP/1.1 request without "Host" header



=== TEST 11: garbage request line is 400
--- raw_request eval
"G\@T /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- error_log
client sent invalid method



=== TEST 12: invalid HTTP version syntax is 400
--- raw_request eval
"GET /t HTTP/x.y\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body eval
"<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 13: HTTP/2.0 on a plain HTTP/1 port is 505
--- raw_request eval
"GET /t HTTP/2.0\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 505
--- error_log
client sent invalid version



=== TEST 14: request line too long is 414
--- config
    large_client_header_buffers 2 1k;
--- raw_request eval
"GET /" . ("a" x 2000) . " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 414
--- response_body eval
"<html>\r\n<head><title>414 Request-URI Too Large</title></head>\r\n<body>\r\n<center><h1>414 Request-URI Too Large</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"



=== TEST 15: header too long is 400 with the 494 page
--- config
    large_client_header_buffers 2 1k;
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nX-Big: " . ("b" x 2000) . "\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body eval
"<html>\r\n<head><title>400 Request Header Or Cookie Too Large</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>Request Header Or Cookie Too Large</center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
--- error_log
client sent too long header line



=== TEST 16: body over client_max_body_size is 413
--- config
    location = /t {
        client_max_body_size 10;
        return 200 "ok\n";
    }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 20\r\n\r\n" . ("x" x 20)
--- error_code: 413
--- error_log
client intended to send too large body: 20 bytes



=== TEST 17: unknown Transfer-Encoding is 501
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: gzip\r\n\r\n"
--- error_code: 501
--- error_log
client sent unknown "Transfer-Encoding": "gzip"



=== TEST 18: invalid Content-Length is 400
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: abc\r\n\r\n"
--- error_code: 400
--- error_log
client sent invalid "Content-Length" header



=== TEST 19: duplicate Host is 400
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nHost: other\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- error_log
client sent duplicate host header



=== TEST 20: Content-Length together with Transfer-Encoding is 400
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
--- error_code: 400
--- error_log
client sent "Content-Length" and "Transfer-Encoding" headers at the same time



=== TEST 21: URI going above the root is 400
--- raw_request eval
"GET /../etc/passwd HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- error_log
client sent invalid request



=== TEST 22: invalid header names are ignored by default
--- config
    location = /t { return 200 "[$http_x_ok]\n"; }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nX\@Bad: 1\r\nX-Ok: fine\r\nConnection: close\r\n\r\n"
--- response_body
[fine]
--- error_log
client sent invalid header line



=== TEST 23: bare LF line endings are accepted
--- config
    location = /t { return 200 "lf $http_x_a\n"; }
--- raw_request eval
"GET /t HTTP/1.1\nHost: localhost\nX-A: b\nConnection: close\n\n"
--- response_body
lf b



=== TEST 24: invalid Host header is 400
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: bad/host\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- error_log
client sent invalid host header



=== TEST 25: leading empty lines before the request line are skipped
--- config
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"\r\n\r\nGET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- response_body
ok



=== TEST 26: lowercase method is invalid
--- raw_request eval
"get /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 400



=== TEST 27: unknown method reaches a location that returns
--- config
    location = /t { return 200 "$request_method\n"; }
--- request
PURGE /t
--- response_body
PURGE



=== TEST 28: request body read with a known Content-Length
--- config
    location = /t { return 200 "cl=$content_length\n"; }
--- request
POST /t
hello world
--- response_body
cl=11
