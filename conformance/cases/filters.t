# Output filters and small modules: gzip, sub_filter, stub_status, limit_req.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: gzip compresses when the client accepts it
--- config
    location /g/ {
        gzip on;
        gzip_min_length 1;
        gzip_types text/plain;
    }
--- user_files eval
[["g/big.txt", "hello gzip world\n" x 50]]
--- request
GET /g/big.txt
--- more_headers
Accept-Encoding: gzip
--- response_headers
Content-Encoding: gzip
!Content-Length
--- response_body_like: ^\x1f\x8b



=== TEST 2: gzip_vary adds Vary
--- config
    location /g/ {
        gzip on;
        gzip_vary on;
        gzip_min_length 1;
        gzip_types text/plain;
    }
--- user_files eval
[["g/big.txt", "hello gzip world\n" x 50]]
--- request
GET /g/big.txt
--- more_headers
Accept-Encoding: gzip, deflate
--- response_headers
Content-Encoding: gzip
Vary: Accept-Encoding



=== TEST 3: no gzip without Accept-Encoding
--- config
    location /g/ {
        gzip on;
        gzip_vary on;
        gzip_min_length 1;
        gzip_types text/plain;
    }
--- user_files eval
[["g/big.txt", "hello gzip world\n" x 50]]
--- request
GET /g/big.txt
--- response_headers
!Content-Encoding
Vary: Accept-Encoding
Content-Length: 850



=== TEST 4: gzip_min_length skips small responses
--- config
    location /g/ {
        gzip on;
        gzip_min_length 1000;
    }
--- user_files
>>> g/small.txt
small
--- request
GET /g/small.txt
--- more_headers
Accept-Encoding: gzip
--- response_headers
!Content-Encoding
--- response_body
small



=== TEST 5: gzip_types excludes other types
--- config
    location /g/ {
        gzip on;
        gzip_min_length 1;
        default_type application/octet-stream;
    }
--- user_files eval
[["g/data.bin", "x" x 500]]
--- request
GET /g/data.bin
--- more_headers
Accept-Encoding: gzip
--- response_headers
!Content-Encoding



=== TEST 6: gzip on return text is chunked
--- config
    location = /t {
        gzip on;
        gzip_min_length 1;
        gzip_types text/plain;
        return 200 "compress me please, compress me please, compress me please\n";
    }
--- request
GET /t
--- more_headers
Accept-Encoding: gzip
--- response_headers
Content-Encoding: gzip
Transfer-Encoding: chunked



=== TEST 7: sub_filter replaces the first occurrence
--- config
    location /s/ {
        sub_filter 'foo' 'bar';
    }
--- user_files
>>> s/page.html
foo and foo
--- request
GET /s/page.html
--- response_body
bar and foo



=== TEST 8: sub_filter_once off replaces all
--- config
    location /s/ {
        sub_filter 'foo' 'bar';
        sub_filter_once off;
    }
--- user_files
>>> s/page.html
foo and foo and FOO
--- request
GET /s/page.html
--- response_body
bar and bar and bar



=== TEST 9: sub_filter only applies to text/html by default
--- config
    location /s/ {
        sub_filter 'foo' 'bar';
    }
--- user_files
>>> s/page.txt
foo
--- request
GET /s/page.txt
--- response_body
foo



=== TEST 10: sub_filter with variables and sub_filter_types
--- config
    location /s/ {
        sub_filter 'HOST' '$host';
        sub_filter_types text/plain;
    }
--- user_files
>>> s/page.txt
served by HOST
--- request
GET /s/page.txt
--- response_body
served by localhost



=== TEST 11: sub_filter drops Content-Length and Last-Modified
--- config
    location /s/ {
        sub_filter 'a' 'bbb';
    }
--- user_files
>>> s/page.html
a
--- request
GET /s/page.html
--- response_headers
!Content-Length
!Last-Modified
--- response_body
bbb



=== TEST 12: stub_status format
--- config
    location = /status {
        stub_status;
    }
--- request
GET /status
--- response_headers
Content-Type: text/plain
--- response_body_like eval
qr/\AActive connections: \d+ \nserver accepts handled requests\n \d+ \d+ \d+ \nReading: \d+ Writing: \d+ Waiting: \d+ \n\z/



=== TEST 13: stub_status variables
--- config
    location = /t {
        return 200 "$connections_active $connections_writing\n";
    }
--- request
GET /t
--- response_body_like: ^\d+ \d+$



=== TEST 14: limit_req allows the first request
--- http_config
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
--- config
    location = /t {
        limit_req zone=one;
        return 200 "first\n";
    }
--- request
GET /t
--- response_body
first



=== TEST 15: limit_req rejects the burst with 503
--- http_config
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
--- config
    location /l/ {
        limit_req zone=one;
    }
--- user_files
>>> l/f.txt
limited
--- request eval
["GET /l/f.txt", "GET /l/f.txt"]
--- error_code eval
[200, 503]
--- error_log
limiting requests, excess: 



=== TEST 16: limit_req_status changes the code
--- http_config
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
--- config
    location /l/ {
        limit_req zone=one;
        limit_req_status 429;
    }
--- user_files
>>> l/f.txt
limited
--- request eval
["GET /l/f.txt", "GET /l/f.txt"]
--- error_code eval
[200, 429]



=== TEST 17: limit_req with burst and nodelay
--- http_config
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
--- config
    location /l/ {
        limit_req zone=one burst=1 nodelay;
    }
--- user_files
>>> l/f.txt
limited
--- request eval
["GET /l/f.txt", "GET /l/f.txt", "GET /l/f.txt"]
--- error_code eval
[200, 200, 503]



=== TEST 18: limit_req_dry_run lets everything through
--- http_config
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
--- config
    location /l/ {
        limit_req zone=one;
        limit_req_dry_run on;
    }
--- user_files
>>> l/f.txt
limited
--- request eval
["GET /l/f.txt", "GET /l/f.txt"]
--- error_code eval
[200, 200]
