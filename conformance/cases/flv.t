# ngx_http_flv_module: `flv` serves the file, or with ?start=N the FLV header and the file
# from byte N.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: the whole file
--- config
    location /v/ {
        flv;
    }
--- user_files
>>> v/a.flv
0123456789abcdefghij
--- request
GET /v/a.flv
--- response_headers
Content-Length: 21
Accept-Ranges: bytes
--- response_headers_like
ETag: "[0-9a-f]+-15"
--- response_body
0123456789abcdefghij



=== TEST 2: ?start=N: the FLV header, then the file from N; the ETag has the new length
--- config
    location /v/ {
        flv;
    }
--- user_files
>>> v/a.flv
0123456789abcdefghij
--- request
GET /v/a.flv?x=1&start=10
--- response_headers
Content-Length: 24
--- response_headers_like
ETag: "[0-9a-f]+-18"
--- response_body eval
"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00abcdefghij\n"



=== TEST 3: a bad, zero or too large start sends the whole file
--- config
    location /v/ {
        flv;
    }
--- user_files
>>> v/a.flv
0123456789abcdefghij
--- request eval
["GET /v/a.flv?start=abc", "GET /v/a.flv?start=0", "GET /v/a.flv?start=21", "GET /v/a.flv?start=", "GET /v/a.flv?start=-5", "GET /v/a.flv?START=20"]
--- response_body eval
["0123456789abcdefghij\n", "0123456789abcdefghij\n", "0123456789abcdefghij\n", "0123456789abcdefghij\n", "0123456789abcdefghij\n", "FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00\n"]



=== TEST 4: HEAD with start: the headers only
--- config
    location /v/ {
        flv;
    }
--- user_files
>>> v/a.flv
0123456789abcdefghij
--- request
HEAD /v/a.flv?start=3
--- response_headers
Content-Length: 31
--- response_body



=== TEST 5: other methods are not allowed
--- config
    location /v/ {
        flv;
    }
--- user_files
>>> v/a.flv
0123456789abcdefghij
--- request
POST /v/a.flv
--- error_code: 405



=== TEST 6: a missing file: 404 and nginx's log line
--- config
    location /v/ {
        flv;
    }
--- request
GET /v/none.flv
--- error_code: 404
--- error_log eval
qr{open\(\) ".*/html/v/none.flv" failed \(2: No such file or directory\)}



=== TEST 7: a directory: declined, the static module redirects; a slash: the index module
--- config
    location /v/ {
        flv;
    }
--- user_files
>>> v/d/index.html
index page
--- request eval
["GET /v/d", "GET /v/d/"]
--- error_code eval
[301, 200]
--- response_body_like eval
[qr/301 Moved Permanently/, qr/^index page$/]



=== TEST 8: ranges of the whole file
--- config
    location /v/ {
        flv;
    }
--- user_files
>>> v/a.flv
0123456789abcdefghij
--- request
GET /v/a.flv
--- more_headers
Range: bytes=2-5
--- error_code: 206
--- response_headers
Content-Range: bytes 2-5/21
--- response_body chomp
2345
