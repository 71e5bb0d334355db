# The request URI as nginx checks and normalizes it right after the request line
# (ngx_http_process_request_uri, ngx_http_parse_complex_uri): before any header line is
# looked at, with the default server's merge_slashes; `#` ends the path and the arguments.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: a bad URI wins over an unknown Transfer-Encoding (501)
--- config
    location ~ . { return 200 "ok\n"; }
--- raw_request eval
"GET /../x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n"
--- error_code: 400
--- error_log
client sent invalid request while reading client request line
--- no_error_log
Transfer-Encoding



=== TEST 2: a bad URI wins over a bad Host
--- config
    location ~ . { return 200 "ok\n"; }
--- raw_request eval
"GET /a/%2e%2e/..%2Fx HTTP/1.1\r\nHost: a/b\r\n\r\n"
--- error_code: 400
--- error_log
client sent invalid request while reading client request line
--- no_error_log
invalid host header



=== TEST 3: a bad escape wins over a bad Content-Length; error_page serves its page
--- config
    error_page 400 /bad.html;
--- user_files
>>> bad.html
bad uri page
--- raw_request eval
"GET /a%zz HTTP/1.1\r\nHost: localhost\r\nContent-Length: x\r\n\r\n"
--- error_code: 400
--- response_body
bad uri page
--- error_log
client sent invalid request while reading client request line



=== TEST 4: `#` ends the path and the arguments
--- config
    location ~ . { return 200 "uri=$uri args=$args\n"; }
--- raw_request eval
"GET /a/./b?c=1#d HTTP/1.0\r\n\r\n"
--- response_body
uri=/a/b args=c=1



=== TEST 5: `#` before `?`: no arguments
--- config
    location ~ . { return 200 "uri=$uri args=$args\n"; }
--- raw_request eval
"GET /a#x?y HTTP/1.0\r\n\r\n"
--- response_body
uri=/a args=



=== TEST 6: an absolute URI's empty path with arguments
--- config
    location ~ . { return 200 "uri=$uri args=$args request_uri=$request_uri\n"; }
--- raw_request eval
"GET http://localhost?x=1 HTTP/1.0\r\n\r\n"
--- response_body
uri=/ args=x=1 request_uri=?x=1



=== TEST 7: merge_slashes off: `//..` leaves the root, `#` ends the path
--- config
    merge_slashes off;
    location ~ . { return 200 "uri=$uri\n"; }
--- raw_request eval
"GET /a%2F%2F..//b#c?d HTTP/1.0\r\n\r\n"
--- response_body
uri=/a//b



=== TEST 8: merge_slashes off: `..` above the root, before Transfer-Encoding on HTTP/1.0
--- config
    merge_slashes off;
    location ~ . { return 200 "uri=$uri\n"; }
--- raw_request eval
"GET /%2F../.. HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
--- error_code: 400
--- error_log
client sent invalid request while reading client request line



=== TEST 9: `..` in the arguments is data, a `#` ends them
--- config
    location ~ . { return 200 "uri=$uri args=$args\n"; }
--- raw_request eval
"GET /a/b/..?x=/../..#/../.. HTTP/1.0\r\n\r\n"
--- response_body
uri=/a/ args=x=/../..
