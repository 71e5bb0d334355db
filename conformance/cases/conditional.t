# Conditional and range requests on static files: ETag, Last-Modified, If-Modified-Since,
# If-None-Match, If-Unmodified-Since, If-Match, If-Range, byte ranges and 416.
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: ETag and Last-Modified from the file
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- response_headers
Last-Modified: Sat, 02 Jan 2010 15:30:00 GMT
ETag: "4b3f6678-b"



=== TEST 2: If-Modified-Since equal gives 304
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
If-Modified-Since: Sat, 02 Jan 2010 15:30:00 GMT
--- error_code: 304
--- response_headers
ETag: "4b3f6678-b"
!Content-Length
--- response_body chomp



=== TEST 3: If-Modified-Since older gives 200
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
If-Modified-Since: Fri, 01 Jan 2010 00:00:00 GMT
--- response_body
0123456789



=== TEST 4: if_modified_since exact: a newer date is not a match
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
If-Modified-Since: Sun, 03 Jan 2010 00:00:00 GMT
--- error_code: 200



=== TEST 5: if_modified_since before: a newer date matches
--- config
    if_modified_since before;
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
If-Modified-Since: Sun, 03 Jan 2010 00:00:00 GMT
--- error_code: 304



=== TEST 6: if_modified_since off ignores the header
--- config
    if_modified_since off;
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
If-Modified-Since: Sat, 02 Jan 2010 15:30:00 GMT
--- error_code: 200



=== TEST 7: If-None-Match with the ETag gives 304
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
If-None-Match: "4b3f6678-b"
--- error_code: 304



=== TEST 8: If-None-Match with another ETag gives 200
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
If-None-Match: "other"
--- error_code: 200



=== TEST 9: If-None-Match star
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
If-None-Match: *
--- error_code: 304



=== TEST 10: If-None-Match list and weak comparison
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
If-None-Match: "a", W/"4b3f6678-b"
--- error_code: 304



=== TEST 11: If-Match mismatch gives 412
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
If-Match: "nope"
--- error_code: 412



=== TEST 12: If-Match match gives 200
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
If-Match: "4b3f6678-b"
--- error_code: 200



=== TEST 13: If-Unmodified-Since in the past gives 412
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
If-Unmodified-Since: Fri, 01 Jan 2010 00:00:00 GMT
--- error_code: 412



=== TEST 14: etag off
--- config
    etag off;
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- response_headers
!ETag



=== TEST 15: simple range
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
Range: bytes=2-5
--- error_code: 206
--- response_headers
Content-Range: bytes 2-5/11
Content-Length: 4
--- response_body chomp
2345



=== TEST 16: suffix range
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
Range: bytes=-3
--- error_code: 206
--- response_headers
Content-Range: bytes 8-10/11
--- response_body
89



=== TEST 17: open-ended range
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
Range: bytes=7-
--- error_code: 206
--- response_headers
Content-Range: bytes 7-10/11
--- response_body
789



=== TEST 18: range past the end is clamped
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
Range: bytes=5-100
--- error_code: 206
--- response_headers
Content-Range: bytes 5-10/11



=== TEST 19: unsatisfiable range is 416
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
Range: bytes=20-30
--- error_code: 416
--- response_headers
Content-Range: bytes */11
--- response_body_like: 416 Requested Range Not Satisfiable



=== TEST 20: multipart ranges
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
Range: bytes=0-1,4-5
--- error_code: 206
--- response_headers_like
Content-Type: multipart/byteranges; boundary=\d+
--- response_body_like eval
qr/\A\r\n--(\d+)\r\nContent-Type: text\/plain\r\nContent-Range: bytes 0-1\/11\r\n\r\n01\r\n--\1\r\nContent-Type: text\/plain\r\nContent-Range: bytes 4-5\/11\r\n\r\n45\r\n--\1--\r\n\z/



=== TEST 21: invalid range syntax is ignored
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
Range: items=1-2
--- error_code: 200
--- response_body
0123456789



=== TEST 22: If-Range with the matching date allows the range
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
Range: bytes=0-2
If-Range: Sat, 02 Jan 2010 15:30:00 GMT
--- error_code: 206
--- response_body chomp
012



=== TEST 23: If-Range with another ETag gives the full file
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
Range: bytes=0-2
If-Range: "different"
--- error_code: 200
--- response_body
0123456789



=== TEST 24: If-Range with the ETag allows the range
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
Range: bytes=0-2
If-Range: "4b3f6678-b"
--- error_code: 206



=== TEST 25: max_ranges 0 disables ranges
--- config
    max_ranges 0;
--- user_files
>>> f.txt 201001021530
0123456789
--- request
GET /f.txt
--- more_headers
Range: bytes=0-2
--- error_code: 200
--- response_headers
!Accept-Ranges



=== TEST 26: HEAD with a range
--- user_files
>>> f.txt 201001021530
0123456789
--- request
HEAD /f.txt
--- more_headers
Range: bytes=0-2
--- error_code: 206
--- response_headers
Content-Length: 3
--- response_body chomp
