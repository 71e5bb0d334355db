# gzip_disable: User-Agent regexes (caseless) and msie6, inherited as nginx merges them.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: a matching User-Agent gets no gzip
--- config
    location /g/ {
        gzip on; gzip_min_length 1; gzip_types text/plain;
        gzip_disable "curl/\d";
    }
--- user_files eval
[["g/big.txt", "hello gzip world\n" x 50]]
--- request
GET /g/big.txt
--- more_headers
Accept-Encoding: gzip
User-Agent: curl/8.1
--- response_headers
!Content-Encoding
Content-Length: 850



=== TEST 2: the regex is caseless
--- config
    location /g/ {
        gzip on; gzip_min_length 1; gzip_types text/plain;
        gzip_disable "CURL";
    }
--- user_files eval
[["g/big.txt", "hello gzip world\n" x 50]]
--- request
GET /g/big.txt
--- more_headers
Accept-Encoding: gzip
User-Agent: curl/8.1
--- response_headers
!Content-Encoding



=== TEST 3: another User-Agent still gets gzip
--- config
    location /g/ {
        gzip on; gzip_min_length 1; gzip_types text/plain;
        gzip_disable "curl/\d";
    }
--- user_files eval
[["g/big.txt", "hello gzip world\n" x 50]]
--- request
GET /g/big.txt
--- more_headers
Accept-Encoding: gzip
User-Agent: Mozilla/5.0
--- response_headers
Content-Encoding: gzip



=== TEST 4: no User-Agent, no match
--- config
    location /g/ {
        gzip on; gzip_min_length 1; gzip_types text/plain;
        gzip_disable ".";
    }
--- user_files eval
[["g/big.txt", "hello gzip world\n" x 50]]
--- request
GET /g/big.txt
--- more_headers
Accept-Encoding: gzip
--- response_headers
Content-Encoding: gzip



=== TEST 5: msie6 disables MSIE 6 without SV1
--- config
    location /g/ {
        gzip on; gzip_min_length 1; gzip_types text/plain;
        gzip_disable msie6;
    }
--- user_files eval
[["g/big.txt", "hello gzip world\n" x 50]]
--- request
GET /g/big.txt
--- more_headers
Accept-Encoding: gzip
User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)
--- response_headers
!Content-Encoding



=== TEST 6: msie6 lets MSIE 6 with SV1 have gzip
--- config
    location /g/ {
        gzip on; gzip_min_length 1; gzip_types text/plain;
        gzip_disable msie6;
    }
--- user_files eval
[["g/big.txt", "hello gzip world\n" x 50]]
--- request
GET /g/big.txt
--- more_headers
Accept-Encoding: gzip
User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)
--- response_headers
Content-Encoding: gzip



=== TEST 7: msie6 lets MSIE 7 have gzip
--- config
    location /g/ {
        gzip on; gzip_min_length 1; gzip_types text/plain;
        gzip_disable msie6;
    }
--- user_files eval
[["g/big.txt", "hello gzip world\n" x 50]]
--- request
GET /g/big.txt
--- more_headers
Accept-Encoding: gzip
User-Agent: Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)
--- response_headers
Content-Encoding: gzip



=== TEST 8: Opera claiming MSIE 6 is not msie6
--- config
    location /g/ {
        gzip on; gzip_min_length 1; gzip_types text/plain;
        gzip_disable msie6;
    }
--- user_files eval
[["g/big.txt", "hello gzip world\n" x 50]]
--- request
GET /g/big.txt
--- more_headers
Accept-Encoding: gzip
User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1) Opera 8.5
--- response_headers
Content-Encoding: gzip



=== TEST 9: inherited from the server level
--- config
    gzip_disable "bot";
    location /g/ {
        gzip on; gzip_min_length 1; gzip_types text/plain;
    }
--- user_files eval
[["g/big.txt", "hello gzip world\n" x 50]]
--- request
GET /g/big.txt
--- more_headers
Accept-Encoding: gzip
User-Agent: Googlebot/2.1
--- response_headers
!Content-Encoding



=== TEST 10: a location's msie6 alone drops the inherited regexes
--- config
    gzip_disable "bot";
    location /g/ {
        gzip on; gzip_min_length 1; gzip_types text/plain;
        gzip_disable msie6;
    }
--- user_files eval
[["g/big.txt", "hello gzip world\n" x 50]]
--- request
GET /g/big.txt
--- more_headers
Accept-Encoding: gzip
User-Agent: Googlebot/2.1
--- response_headers
Content-Encoding: gzip



=== TEST 11: a location's own regexes replace the inherited ones
--- config
    gzip_disable "bot";
    location /g/ {
        gzip on; gzip_min_length 1; gzip_types text/plain;
        gzip_disable "spider";
    }
--- user_files eval
[["g/big.txt", "hello gzip world\n" x 50]]
--- request
GET /g/big.txt
--- more_headers
Accept-Encoding: gzip
User-Agent: Googlebot/2.1
--- response_headers
Content-Encoding: gzip



=== TEST 12: return text is gzipped unless disabled
--- config
    location /t {
        gzip on; gzip_min_length 1; gzip_types text/plain;
        gzip_disable "curl";
        default_type text/plain;
        return 200 "hello hello hello hello hello hello\n";
    }
--- request
GET /t
--- more_headers
Accept-Encoding: gzip
User-Agent: curl/8
--- response_body
hello hello hello hello hello hello
