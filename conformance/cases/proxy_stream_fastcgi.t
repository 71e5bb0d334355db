# fastcgi_request_buffering off: BEGIN_REQUEST, PARAMS and what came of the body (as STDIN
# records; chunked bodies too: FastCGI frames them) go at once, the rest as it arrives;
# client_max_body_size on a streamed chunked body.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: a chunked body still arriving: PARAMS and what came go at once
The body never ends: the answer to what the application got so far comes back at once.
--- config
    lingering_close off;
    location /t {
        fastcgi_param A b;
        fastcgi_pass_request_headers off;
        fastcgi_request_buffering off;
        fastcgi_pass 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"\x01\x01\x00\x01\x00\x08\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01\x04\x00\x01\x00\x04\x04\x00\x01\x01Ab\x00\x00\x00\x00\x01\x04\x00\x01\x00\x00\x00\x00\x01\x05\x00\x01\x00\x05\x03\x00hello\x00\x00\x00"
--- tcp_reply eval
"\x01\x06\x00\x01\x00\"\x00\x00Content-Type: text/plain\r\n\r\nhello\n\x01\x06\x00\x01\x00\x00\x00\x00\x01\x03\x00\x01\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n"
--- response_body
hello
--- no_error_log
[error]



=== TEST 2: a Content-Length body still arriving
--- config
    lingering_close off;
    location /t {
        fastcgi_param A b;
        fastcgi_pass_request_headers off;
        fastcgi_request_buffering off;
        fastcgi_pass 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"\x01\x01\x00\x01\x00\x08\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01\x04\x00\x01\x00\x04\x04\x00\x01\x01Ab\x00\x00\x00\x00\x01\x04\x00\x01\x00\x00\x00\x00\x01\x05\x00\x01\x00\x05\x03\x00hello\x00\x00\x00"
--- tcp_reply eval
"\x01\x06\x00\x01\x00\"\x00\x00Content-Type: text/plain\r\n\r\nhello\n\x01\x06\x00\x01\x00\x00\x00\x00\x01\x03\x00\x01\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\nConnection: close\r\n\r\nhello"
--- response_body
hello



=== TEST 3: a chunk over client_max_body_size ends the request with 413
--- config
    location /t {
        client_max_body_size 10;
        fastcgi_param A b;
        fastcgi_pass_request_headers off;
        fastcgi_request_buffering off;
        fastcgi_pass 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply_delay: 500ms
--- tcp_reply eval
"\x01\x06\x00\x01\x00\"\x00\x00Content-Type: text/plain\r\n\r\nhello\n\x01\x06\x00\x01\x00\x00\x00\x00\x01\x03\x00\x01\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
--- raw_request eval
["POST /t HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", "5\r\nhello\r\n", "10\r\n0123456789abcdef\r\n", "0\r\n\r\n"]
--- error_code: 413
--- error_log eval
qr/\[error\] .*client intended to send too large chunked body: 5\+16 bytes( while sending request to upstream)?, client: 127\.0\.0\.1, server: localhost, request: "POST \/t HTTP\/1\.1", (upstream: "fastcgi:\/\/127\.0\.0\.1:\d+", )?host: "localhost"/
